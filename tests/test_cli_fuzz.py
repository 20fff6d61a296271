"""Fuzzed calls of the whole command line: every call ends with a documented exit code, never a traceback.

Each example is one ``wattmesh ...`` call, run in this process through :func:`wattmesh.cli.main` (the
console script's entry point, so its error path is the one under test): ``ledger verify / prove / export /
head / check-proof`` on sound, unfinished, damaged and wrong files, fuzzed JSON for ``--against`` and
proofs, bad keys; ``scenario validate``; ``meter check / repair`` on odd readings and options;
``simulate`` with options that fail before anything is simulated; and arguments that are no command at
all. A call passes when it exits 0, 2, 3 or 4 (or 1 from ``meter check`` reporting faults) without
printing "wattmesh: internal error" or "Traceback".

``benchmarks/fuzz_cli.py`` runs 1,000 such calls and prints the count of tracebacks and the histogram of
exit codes; this test runs a modest number per CI run.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattmesh.cli import main
from wattmesh.community.scenario import DEFAULT_SCENARIO
from wattmesh.ledger.keys import ensure_keys
from wattmesh.ledger.local import LocalLedger, latest_signed_head, prove

START = pd.Timestamp("2025-07-15T09:00:00Z")
#: exit codes the command line documents (wattmesh.cli): 0 done, 2 bad input, 3 corrupt or failed audit,
#: 4 incomplete; 1 only from `meter check` finding faults (its documented meaning there)
DOCUMENTED = {0, 2, 3, 4}
#: a file no one can create, root included (Linux's /proc)
UNWRITABLE = "/proc/wattmesh-fuzz.out"


def _trades(k: int, n: int) -> pd.DataFrame:
    start = START + pd.Timedelta(minutes=15 * k)
    return pd.DataFrame(
        {
            "transaction_id": [f"tx_0_{k}_{i}" for i in range(n)],
            "seller": ["a", "b"] * (n // 2) + ["a"] * (n % 2),
            "buyer": ["b", "a"] * (n // 2) + ["b"] * (n % 2),
            "energy_amount_kwh": [0.5 + i for i in range(n)],
            "price_per_kwh": 0.12,
            "timestamp": start,
            "interval": start,
            "mechanism": "pay_as_clear",
        }
    )


def _ledger(path: Path, keyring, run: bool = False, finish: bool = False) -> None:
    with LocalLedger(path, keyring, run=run) as ledger:
        for k in range(3):
            ledger.append_interval(_trades(k, 3), START + pd.Timedelta(minutes=15 * (k + 1)))
        if finish:
            ledger.finish_run()


@dataclass
class Files:
    """The fuzz's inputs: paths by name, the sound proof and head as dicts, and a scratch folder."""

    folder: Path
    paths: dict[str, Path]
    proof: dict
    head: dict


def make_files(folder: Path) -> Files:
    """Write every kind of file the fuzz hands to the commands into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    keyring = ensure_keys(folder / "keys", ["a", "b"])
    paths: dict[str, Path] = {}

    def put(name: str, data: bytes | str) -> Path:
        path = folder / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        paths[name] = path
        return path

    sound = folder / "ledger.sqlite"
    _ledger(sound, keyring)
    paths["ledger.sqlite"] = sound
    for name, finish in (("run_open.sqlite", False), ("run_done.sqlite", True)):
        _ledger(folder / name, keyring, run=True, finish=finish)
        paths[name] = folder / name
    data = sound.read_bytes()
    rng = np.random.default_rng(15)
    used = np.flatnonzero(np.frombuffer(data, dtype=np.uint8))
    for k, position in enumerate(rng.choice(used, 4, replace=False)):
        flipped = bytearray(data)
        flipped[int(position)] ^= 0xFF
        put(f"flipped_{k}.sqlite", bytes(flipped))
    put("truncated.sqlite", data[: len(data) // 2])
    put("hash#1.sqlite", data)
    put("x?mode=rw.sqlite", data)
    put("empty.sqlite", b"")
    put("text.sqlite", "hello, not a database\n" * 50)
    put("random.bin", rng.bytes(3000))
    put("utf16.txt", "name = 'x'\n".encode("utf-16"))
    other = folder / "other.sqlite"
    with contextlib.closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    paths["other.sqlite"] = other
    (folder / "a-folder").mkdir(exist_ok=True)
    paths["a-folder"] = folder / "a-folder"
    paths["missing"] = folder / "missing.sqlite"

    proof = prove(sound, "tx_0_1_1")
    head = latest_signed_head(sound).to_dict()
    put("proof.json", json.dumps(proof))
    put("head.json", json.dumps(head))
    put("bad.json", "{not json")
    put("list.json", "[1, 2]")
    put("huge_number.json", '{"head_index": 1e999, "tree_size": 99999999999999999999999}')
    paths["operator.pub"] = keyring.key_dir / "operator.pub"
    paths["operator.key"] = keyring.key_dir / "operator.key"
    put("short.pub", "abcd\n")
    put("text.pub", "not a key at all\n")

    bad_seed = DEFAULT_SCENARIO.read_text().replace("seed = 42", "seed = -1", 1)
    put("bad_seed.toml", bad_seed)
    put("not_toml.toml", "[[[ this is not toml")
    put("empty.toml", "")
    put(
        "readings.csv",
        "timestamp,meter_id,value\n"
        + "".join(
            f"2024-03-01T{h:02d}:{m:02d}:00Z,m1,{0.1 + h / 100}\n" for h in range(6) for m in (0, 15, 30, 45)
        ),
    )
    put(
        "na.csv",
        "timestamp,m1\n2024-03-01T00:00:00Z,0.1\n2024-03-01T00:15:00Z,n/a\n2024-03-01T00:30:00Z,0.2\n",
    )
    put(
        "dst.csv",
        "timestamp,m1\n"
        + "".join(f"2023-10-29 0{h}:{m:02d}:00,0.1\n" for h in (1, 2, 2, 3) for m in (0, 30)),
    )
    put("header_only.csv", "timestamp,meter_id,value\n")
    put("a-file", "keep me")
    return Files(folder, paths, proof, head)


# -- the calls -----------------------------------------------------------------------------------------------
LEDGERS = ["ledger.sqlite", "run_open.sqlite", "run_done.sqlite", "flipped_0.sqlite", "flipped_1.sqlite",
           "flipped_2.sqlite", "flipped_3.sqlite", "truncated.sqlite", "hash#1.sqlite", "x?mode=rw.sqlite",
           "empty.sqlite", "text.sqlite", "random.bin", "utf16.txt", "other.sqlite", "a-folder", "missing",
           "proof.json"]  # fmt: skip
JSONS = ["proof.json", "head.json", "bad.json", "list.json", "huge_number.json", "empty.sqlite", "random.bin",
         "a-folder", "missing", "ledger.sqlite", "utf16.txt"]  # fmt: skip
KEYS = ["operator.pub", "operator.key", "short.pub", "text.pub", "empty.sqlite", "a-folder", "missing",
        "random.bin"]  # fmt: skip
READINGS = ["readings.csv", "na.csv", "dst.csv", "header_only.csv", "empty.sqlite", "random.bin", "utf16.txt",
            "a-folder", "missing", "ledger.sqlite"]  # fmt: skip
#: scenarios `simulate` refuses before it builds anything (a sound scenario only goes with --out a-file)
BAD_SCENARIOS = ["bad_seed.toml", "not_toml.toml", "empty.toml", "random.bin", "utf16.txt", "a-folder",
                 "missing"]  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
words = st.text(max_size=20) | st.sampled_from(
    ["15min", "0min", "-15min", "1h", "Europe/Berlin", "Mars/Olympus", "kWh", "W", "net", "register", "x",
     "2016-06-01T00:00:00Z", "2016-13-01", "local", "evm", "none", "chain", "tx_0_0_0", "", "%20", "\x00"]
)  # fmt: skip


@st.composite
def json_file(draw, files: Files) -> tuple[str, dict | None]:
    """A JSON file for --against or check-proof: a prepared one, or the sound proof / head with fields
    replaced, removed or added (written by :func:`call`)."""
    choice = draw(st.sampled_from(["file", "proof", "head"]))
    if choice == "file":
        return draw(st.sampled_from(JSONS)), None
    data = json.loads(json.dumps(files.proof if choice == "proof" else files.head))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*data, "extra"]))
        if draw(st.booleans()) and key in data:
            del data[key]
        else:
            data[key] = draw(json_values)
    return "", data


def _argv(draw, files: Files) -> list:
    """One call's arguments; a path is given by its name in ``files`` (or a dict: JSON to write)."""
    command = draw(st.sampled_from(
        ["verify", "prove", "export", "head", "check-proof", "validate", "meter check", "meter repair",
         "simulate", "noise"]
    ))  # fmt: skip
    opt = draw
    if command == "verify":
        argv = ["ledger", "verify", opt(st.sampled_from(LEDGERS))]
        if opt(st.booleans()):
            argv += ["--against", opt(json_file(files))]
        if opt(st.booleans()):
            argv += ["--operator-key", opt(st.sampled_from(KEYS))]
        return argv
    if command == "prove":
        return [
            "ledger",
            "prove",
            opt(st.sampled_from(LEDGERS)),
            opt(st.sampled_from(["tx_0_1_1", "tx_0_2_0"]) | words),
        ]
    if command == "export":
        argv = ["ledger", "export", opt(st.sampled_from(LEDGERS))]
        if opt(st.booleans()):
            argv += [
                "--out",
                opt(
                    st.sampled_from(["@out.jsonl", "a-folder", "@no-folder/out.jsonl", "a-file", UNWRITABLE])
                ),
            ]
        return argv + (["--seed-only"] if opt(st.booleans()) else [])
    if command == "head":
        return ["ledger", "head", opt(st.sampled_from(LEDGERS))]
    if command == "check-proof":
        argv = ["ledger", "check-proof", opt(json_file(files))]
        if opt(st.booleans()):
            argv += ["--operator-key", opt(st.sampled_from(KEYS))]
        return argv
    if command == "validate":
        return ["scenario", "validate", opt(st.sampled_from([*BAD_SCENARIOS, "@default.toml"]))]
    if command in ("meter check", "meter repair"):
        argv = [*command.split(), opt(st.sampled_from(READINGS))]
        if command == "meter repair":
            argv += [
                "--out",
                opt(st.sampled_from(["@repaired.parquet", "a-folder", "@no-folder/r.parquet", UNWRITABLE])),
            ]
        for option in ("--interval", "--tz", "--unit", "--kind", "--skip"):
            if opt(st.booleans()):
                argv += [option, opt(words)]
        if opt(st.booleans()):
            argv += [
                "--report",
                opt(st.sampled_from(["@report.html", "a-folder", "@no-folder/r.html", UNWRITABLE])),
            ]
        return argv
    if command == "simulate":
        scenario = opt(st.sampled_from([*BAD_SCENARIOS, None, "@default.toml"]))
        argv = ["simulate"] + ([scenario] if scenario else [])
        # a sound scenario is refused only for its --out: a regular file (checked before any work)
        sound = scenario in (None, "@default.toml")
        argv += ["--out", "a-file" if sound else opt(st.sampled_from(["@sim-out", "a-file", "a-folder"]))]
        for option in ("--start", "--end", "--ledger"):
            if opt(st.booleans()):
                argv += [option, opt(words)]
        if opt(st.booleans()):
            argv += ["--keys", opt(st.sampled_from(["a-file", "@keys", "a-folder"]))]
        return argv
    return opt(st.lists(words | st.sampled_from(["ledger", "meter", "scenario", "--help", "--version", "-x"]),
                        max_size=4))  # fmt: skip


@st.composite
def calls(draw, files: Files) -> list:
    return [arg for arg in _argv(draw, files) if arg != "--debug"]  # --debug asks for the traceback


def resolve(argv: list, files: Files, scratch: Path) -> list[str]:
    """Concrete arguments: names in ``files`` become their paths, ``@name`` a path in ``scratch``, JSON
    dicts a file in ``scratch``."""
    out = []
    for k, arg in enumerate(argv):
        if isinstance(arg, tuple):  # from json_file: (name, None) or ("", data)
            name, data = arg
            if data is None:
                arg = name
            else:
                path = scratch / f"fuzz_{k}.json"
                path.write_text(json.dumps(data))
                out.append(str(path))
                continue
        if isinstance(arg, str) and arg in files.paths:
            out.append(str(files.paths[arg]))
        elif isinstance(arg, str) and arg == "@default.toml":
            out.append(str(DEFAULT_SCENARIO))
        elif isinstance(arg, str) and arg.startswith("@"):
            out.append(str(scratch / arg[1:]))
        else:
            out.append(arg)
    return out


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    code: int
    output: str

    @property
    def is_traceback(self) -> bool:
        """A traceback or an internal error (exit 1 outside `meter check`'s faults), or an undocumented code."""
        if "Traceback" in self.output or "wattmesh: internal error:" in self.output:
            return True
        if self.code == 1:
            return self.argv[:2] != ("meter", "check")
        return self.code not in DOCUMENTED


def call(argv: list[str]) -> Outcome:
    """Run ``wattmesh ARGV`` in this process; its exit code and everything it printed."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            main(list(argv))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else -1)
        except BaseException as exc:  # noqa: BLE001 - what escaped main() is the finding
            import traceback

            buffer.write("Traceback (escaped main): " + "".join(traceback.format_exception(exc)))
            code = -1
    return Outcome(tuple(argv), code, buffer.getvalue())


def check_scratch(scratch: Path) -> None:
    """Leave the scratch folder as a call found it: no simulation started (no output folder appeared)."""
    assert not (scratch / "sim-out").exists(), "simulate ran with a fuzzed call"


_FILES: dict[str, Files] = {}
_CALLS = itertools.count()


def shared_files(tmp_path_factory) -> Files:
    if "files" not in _FILES:
        _FILES["files"] = make_files(tmp_path_factory.mktemp("cli_fuzz"))
    return _FILES["files"]


def test_the_fixture_files_are_what_their_names_say(tmp_path_factory):
    """The fuzz's sound inputs are sound (else every call would just be refused)."""
    files = shared_files(tmp_path_factory)
    path = files.paths
    assert call(["ledger", "verify", str(path["ledger.sqlite"])]).code == 0
    assert call(["ledger", "verify", str(path["run_open.sqlite"])]).code == 4
    assert call(["ledger", "verify", str(path["run_done.sqlite"])]).code == 0
    assert call(["ledger", "check-proof", str(path["proof.json"])]).code == 0
    assert call(["ledger", "verify", str(path["ledger.sqlite"]), "--against", str(path["head.json"]),
                 "--operator-key", str(path["operator.pub"])]).code == 0  # fmt: skip
    assert call(["meter", "check", str(path["readings.csv"])]).code in (0, 1)


def test_what_the_fuzz_found_is_one_line_of_bad_input(tmp_path_factory):
    """Findings of benchmarks/fuzz_cli.py, each once an internal error (exit 1)."""
    path = shared_files(tmp_path_factory).paths
    # a tree head whose numbers are infinite or beyond 64 bits (OverflowError in TreeHead.from_dict)
    found = call(["ledger", "verify", str(path["ledger.sqlite"]), "--against", str(path["huge_number.json"])])
    assert found.code == 2 and "not a tree head" in found.output and not found.is_traceback
    # an empty --interval is NaT, whose NaN seconds passed the "positive duration" check
    found = call(["meter", "check", str(path["na.csv"]), "--interval", ""])
    assert found.code == 2 and "--interval '' is not a positive duration" in found.output
    if Path("/proc/self").is_dir():  # outputs in a folder where no file can be made (an OSError)
        for argv in (["meter", "repair", str(path["readings.csv"]), "--out", UNWRITABLE],
                     ["meter", "check", str(path["readings.csv"]), "--report", UNWRITABLE],
                     ["ledger", "export", str(path["ledger.sqlite"]), "--out", UNWRITABLE]):  # fmt: skip
            found = call(argv)
            assert found.code == 2 and f"{UNWRITABLE}: cannot be written" in found.output, found


@settings(
    max_examples=int(os.environ.get("WATTMESH_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzzed_cli_calls_never_give_a_traceback(tmp_path_factory, tmp_path, data):
    files = shared_files(tmp_path_factory)
    scratch = tmp_path / f"call_{next(_CALLS)}"
    scratch.mkdir()
    argv = resolve(data.draw(calls(files), label="argv"), files, scratch)
    outcome = call(argv)
    assert not outcome.is_traceback, (argv, outcome.code, outcome.output[-2000:])
    check_scratch(scratch)


if __name__ == "__main__":  # pragma: no cover - see benchmarks/fuzz_cli.py
    sys.exit("run benchmarks/fuzz_cli.py")
