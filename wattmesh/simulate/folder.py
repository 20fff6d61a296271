"""The run's output folder, written as a whole or not at all: a lock, a staging sibling, a manifest last.

A run writes into a hidden sibling ``.<name>.partial-<pid>`` while it holds an exclusive lock
``.<name>.lock`` (a second run into the same folder fails at once), writes ``manifest.json`` last (scenario
hash, versions, files with their sizes and SHA-256, row counts, the ledger's entries and root, a completion
mark) and then swaps the staging folder into place. A reader trusts a folder only when its manifest says
``"complete": true`` and the files match it (:func:`manifest_problems`): an interrupted run leaves the
previous complete folder (or none) where it was, never a half-written one under the folder's name.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

MANIFEST = "manifest.json"
FORMAT = "wattmesh-run/1"


class OutputError(RuntimeError):
    """The output folder cannot be used (busy, a file, not writable); the message says which and why."""


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    if ctypes.get_errno() in (errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.ENOTSUP):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(a))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class OutputFolder:
    """Context manager: ``with OutputFolder(out) as folder:`` write into ``folder.staging``, then
    ``folder.commit(manifest)``.

    Leaving the block without :meth:`commit` (an error, Ctrl-C) removes the staging folder and leaves
    ``out`` as it was.

    Raises
    ------
    OutputError
        at once, before any work: ``out`` is a regular file, its parent cannot be created or written, or
        another run holds the lock.
    """

    def __init__(self, final: Path):
        self.final = Path(final).absolute()
        self.parent = self.final.parent
        self.lock_path = self.parent / f".{self.final.name}.lock"
        self.staging = self.parent / f".{self.final.name}.partial-{os.getpid()}"
        self._lock = None
        self._committed = False

    def __enter__(self) -> OutputFolder:
        if self.final.exists() and not self.final.is_dir():
            raise OutputError(
                f"--out {self.final} is a file; expected a folder (or a path that does not exist)"
            )
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.lock_path, "a")
        except OSError as exc:
            raise OutputError(f"--out {self.final}: cannot write in {self.parent} ({exc.strerror})") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise OutputError(
                f"--out {self.final} is being written by another wattmesh run (lock {self.lock_path}); "
                "wait for it or choose another folder"
            ) from None
        self._recover()
        self.staging.mkdir()
        return self

    def _recover(self) -> None:
        """Under the lock: put back a complete folder a crash left aside, remove stale staging folders."""
        old = sorted(self.parent.glob(f".{self.final.name}.old-*"))
        if not self.final.exists() and old:
            old[-1].rename(self.final)
            old = old[:-1]
        for stale in [*old, *self.parent.glob(f".{self.final.name}.partial-*")]:
            shutil.rmtree(stale, ignore_errors=True)

    def commit(self, manifest: dict) -> Path:
        """Write ``manifest.json`` last (with the completion mark) and swap the staging folder into place."""
        files = {}
        for path in sorted(self.staging.rglob("*")):
            if path.is_file() and path.name != MANIFEST:
                files[str(path.relative_to(self.staging))] = {
                    "bytes": path.stat().st_size,
                    "sha256": file_digest(path),
                }
        body = {
            "format": FORMAT,
            **manifest,
            "files": files,
            "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "complete": True,
        }
        target = self.staging / MANIFEST
        with open(target, "w") as handle:
            json.dump(body, handle, indent=2, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_dir(self.staging)
        if not self.final.exists():
            self.staging.rename(self.final)
        elif _exchange(self.staging, self.final):
            shutil.rmtree(self.staging)
        else:
            aside = self.parent / f".{self.final.name}.old-{os.getpid()}"
            self.final.rename(aside)
            self.staging.rename(self.final)
            shutil.rmtree(aside)
        _fsync_dir(self.parent)
        self._committed = True
        return self.final

    def __exit__(self, *exc) -> None:
        if not self._committed:
            shutil.rmtree(self.staging, ignore_errors=True)
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()


def manifest_problems(folder: Path) -> list[str]:
    """Why ``folder`` is not a complete run's output (empty when it is): no manifest, not complete, or a
    file missing, of another size or another SHA-256 than the manifest records."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return [f"{folder}: no {MANIFEST}: the run that wrote it did not finish"]
    except (OSError, ValueError) as exc:
        return [f"{folder}/{MANIFEST}: unreadable ({exc})"]
    if manifest.get("format") != FORMAT or manifest.get("complete") is not True:
        return [f"{folder}/{MANIFEST}: not a complete {FORMAT} manifest"]
    problems = []
    for name, info in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{folder}: {name} is missing")
        elif path.stat().st_size != info["bytes"] or file_digest(path) != info["sha256"]:
            problems.append(f"{folder}: {name} differs from the manifest (changed or truncated)")
    return problems
