"""Identities: one Ed25519 key pair per member and one for the market operator, kept in a key directory.

Each private key is a PKCS#8 PEM file readable by its owner only (mode 0600), next to its raw public key
in hex (also 0600). Member ids are free text, so file names are the id when it is a plain name and
``x-<hex of the id>`` otherwise. Where a person holds a key (a member's own key, a co-op's operator key),
``ensure_keys(..., passphrase=...)`` writes it encrypted with the passphrase (PKCS#8 with the best
encryption the cryptography library offers) and :func:`load_private_key` reads it back.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl._sodium import ffi as _ffi
from nacl._sodium import lib as _lib
from nacl.bindings import sodium_init

sodium_init()  # what importing nacl.bindings does: libsodium picks its implementations once per process

OPERATOR_ID = "operator"
SIGNATURE_SIZE = 64
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")


_WORKERS = max(1, min(2, os.cpu_count() or 1))


def default_workers() -> int:
    """Threads for signing and verifying (libsodium calls release the GIL): at most 2, one per core."""
    return _WORKERS


def _file_stem(member_id: str) -> str:
    if _PLAIN_NAME.match(member_id) and member_id != OPERATOR_ID:
        return member_id
    return "x-" + member_id.encode().hex()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _check_mode(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(f"key file {path}: mode {mode:04o} lets others read it; expected 0600")


def public_bytes(key: Ed25519PublicKey) -> bytes:
    """The raw 32-byte Ed25519 public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass
class Keyring:
    """Private keys of the operator and of members who let the operator's software sign for them.

    Attributes
    ----------
    key_dir : Path
        Where the key files live.
    operator_key : Ed25519PrivateKey
        The market operator's key (signs every entry and every tree head).
    member_keys : dict
        Member id -> private key.
    """

    key_dir: Path
    operator_key: Ed25519PrivateKey
    member_keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.operator_secret = secret_bytes(self.operator_key)
        self.member_secrets = {member: secret_bytes(key) for member, key in self.member_keys.items()}

    @property
    def operator_public(self) -> bytes:
        return public_bytes(self.operator_key.public_key())

    def member_public(self) -> dict[str, bytes]:
        """Member id -> raw public key, for every member with a key."""
        return {member: public_bytes(key.public_key()) for member, key in self.member_keys.items()}


def ensure_keys(key_dir: str | Path, member_ids: Iterable[str], passphrase: bytes | None = None) -> Keyring:
    """Load the operator's and the members' keys from ``key_dir``, creating missing ones (files 0600).

    Parameters
    ----------
    key_dir : path
        Key directory; created with mode 0700 when missing.
    member_ids : iterable of str
        Members who need a key. ``"operator"`` is reserved for the market operator.
    passphrase : bytes, optional
        Encrypt new key files with it, and decrypt encrypted ones (see :func:`load_private_key`).
        Without it keys are written unencrypted, protected by their file mode only.

    Returns
    -------
    Keyring

    Raises
    ------
    ValueError
        if a member id is empty or is the reserved operator id.
    PermissionError
        if an existing key file can be read by others than its owner.
    KeyFileError
        if a key file is encrypted and no passphrase, or another one, is given, or is no Ed25519 key.
    """
    key_dir = Path(key_dir)
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    operator_key = _load_or_create(key_dir, OPERATOR_ID, passphrase)
    members: dict[str, Ed25519PrivateKey] = {}
    for member in member_ids:
        if not isinstance(member, str) or not member:
            raise ValueError(f"member id {member!r}: expected a non-empty string")
        if member == OPERATOR_ID:
            raise ValueError(f"member id {member!r} is reserved for the market operator")
        members[member] = _load_or_create(key_dir, _file_stem(member), passphrase)
    return Keyring(key_dir, operator_key, members)


class KeyFileError(ValueError):
    """A private key file that cannot be used: encrypted without (or with another) passphrase, or no
    Ed25519 key; the message names the file."""


def load_private_key(path: str | Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """The Ed25519 private key in a PKCS#8 PEM file, decrypted with ``passphrase`` when it is encrypted.

    Raises
    ------
    PermissionError
        if others than its owner can read the file.
    KeyFileError
        if the file is encrypted and ``passphrase`` is None or wrong, or holds no Ed25519 private key.
    """
    path = Path(path)
    _check_mode(path)
    data = path.read_bytes()
    encrypted = data.lstrip().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    if encrypted and passphrase is None:
        raise KeyFileError(f"key file {path}: is encrypted; give its passphrase")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase if encrypted else None)
    except (ValueError, TypeError) as err:
        why = "the passphrase does not decrypt it" if encrypted else f"not a PEM private key ({err})"
        raise KeyFileError(f"key file {path}: {why}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"key file {path}: holds a {type(key).__name__}, expected an Ed25519 key")
    return key


def _load_or_create(key_dir: Path, stem: str, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    path = key_dir / f"{stem}.key"
    if path.exists():
        return load_private_key(path, passphrase)
    key = Ed25519PrivateKey.generate()
    encryption = (
        serialization.NoEncryption()
        if passphrase is None
        else serialization.BestAvailableEncryption(passphrase)
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    _write_private(path, pem)
    public_path = key_dir / f"{stem}.pub"
    if not public_path.exists():
        _write_private(public_path, public_bytes(key.public_key()).hex().encode() + b"\n")
    return key


def load_public_key(path: str | Path) -> bytes:
    """A raw Ed25519 public key from a ``.pub`` file (hex) written by :func:`ensure_keys`."""
    text = Path(path).read_text().strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError as err:
        raise ValueError(f"public key file {path}: {text[:20]!r}... is not hex") from err
    if len(raw) != 32:
        raise ValueError(f"public key file {path}: {len(raw)} bytes, expected 32")
    return raw


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """One long-lived pool per size: starting threads per interval costs more than signing 20 trades."""
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="wattmesh-ed25519")
    return _POOLS[workers]


def _chunks(n: int, parts: int) -> list[tuple[int, int]]:
    step = -(-n // parts) if n else 1
    return [(i, min(i + step, n)) for i in range(0, n, step)]


def sign_many(secrets: Sequence[bytes], messages: Sequence[bytes], workers: int | None = None) -> list[bytes]:
    """Ed25519 signatures of ``messages[i]`` by the 64-byte libsodium secret key ``secrets[i]``, on threads.

    libsodium signs in ~34 us and verifies in ~80 us of CPU on the project's machine (OpenSSL through
    cryptography: ~47 and ~160 us); Ed25519 signatures are deterministic (RFC 8032), so both give the same
    bytes. The calls go to PyNaCl's compiled libsodium module directly, into one buffer per thread (the
    ``nacl.bindings`` wrappers allocate and copy per call: ~7 us of a signature); cffi releases the GIL,
    so threads use both cores.

    Raises
    ------
    ValueError
        for a secret key that is not 64 bytes.
    """
    workers = workers or default_workers()

    def run(span: tuple[int, int]) -> list[bytes]:
        start, stop = span
        if start == stop:
            return []
        signed = _ffi.new(
            "unsigned char[]", max(len(messages[i]) for i in range(start, stop)) + SIGNATURE_SIZE
        )
        length = _ffi.new("unsigned long long *")
        sign, view = _lib.crypto_sign, _ffi.buffer(signed, SIGNATURE_SIZE)
        out = []
        for i in range(start, stop):
            secret, message = secrets[i], messages[i]
            if len(secret) != 64:
                raise ValueError(f"secret key {i}: {len(secret)} bytes, expected 64 (seed then public key)")
            if sign(signed, length, message, len(message), secret) != 0:
                raise RuntimeError(f"libsodium could not sign message {i}")
            out.append(view[:])
        return out

    spans = _chunks(len(messages), workers)
    if len(spans) <= 1 or len(messages) < 64:
        return run((0, len(messages)))
    return [sig for part in _pool(workers).map(run, spans) for sig in part]


def failed_signatures(
    public_keys: Sequence[bytes | None],
    signatures: Sequence[bytes],
    messages: Sequence[bytes],
    workers: int | None = None,
) -> list[int]:
    """Positions whose signature does not verify under the raw public key (None counts as a failure).

    libsodium's ``crypto_sign_open`` (strict RFC 8032 checks: canonical S, no small-order key or R), called
    as :func:`sign_many` calls it, into one buffer per thread.
    """
    workers = workers or default_workers()

    def run(span: tuple[int, int]) -> list[int]:
        start, stop = span
        if start == stop:
            return []
        opened = _ffi.new(
            "unsigned char[]", max(len(messages[i]) for i in range(start, stop)) + SIGNATURE_SIZE
        )
        length = _ffi.new("unsigned long long *")
        open_signed = _lib.crypto_sign_open
        bad = []
        for i in range(start, stop):
            key, sig = public_keys[i], signatures[i]
            if key is None or len(key) != 32 or len(sig) != SIGNATURE_SIZE:
                bad.append(i)
                continue
            signed = sig + messages[i]
            if open_signed(opened, length, signed, len(signed), key) != 0:
                bad.append(i)
        return bad

    spans = _chunks(len(messages), workers)
    if len(spans) <= 1 or len(messages) < 64:
        return run((0, len(messages)))
    return [i for part in _pool(workers).map(run, spans) for i in part]


def secret_bytes(key: Ed25519PrivateKey) -> bytes:
    """The 64-byte libsodium secret key (seed then public key) of a cryptography Ed25519 key."""
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return seed + public_bytes(key.public_key())


def public_key_from_bytes(raw: bytes) -> bytes | None:
    """``raw`` when it has the length of an Ed25519 public key (32 bytes), else None."""
    return bytes(raw) if raw is not None and len(raw) == 32 else None
