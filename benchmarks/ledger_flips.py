"""Every single-byte change of a small ledger file, one at a time: detected, reported as corrupt, or
proved harmless (issue 15's target: 100 %, and no change that verifies OK with other content).

The ledger is a finished run's (the simulator's kind: ``run=True`` then ``finish_run``) over two hours
(8 market intervals of 15 minutes, 0 to 3 trades each among 3 members, party signatures required). Each
byte is XORed with each mask (default 0x01 and 0xFF) in a copy, the copy is audited
(:func:`wattmesh.ledger.audit.verify`) and the outcome classified:

- ``FAILED``: the audit finds a bad signature, hash, root or structure (detected);
- ``CORRUPT``: the file itself is damaged (SQLite's integrity check, schema, storage classes);
- ``INCOMPLETE``: the audit says the run's closing mark is missing (detected as not whole);
- ``harmless``: the audit says OK (SQLite's integrity check included: every index agrees with its table)
  and every row of every table (``sqlite_master`` too), read without the ledger code, the export, the
  proofs of the first, a middle and the last trade (looked up through the index of transaction ids) and
  the latest head are identical to the original's;
- ``OK WITH WRONG CONTENT``: the audit says OK but something differs: a defect;
- ``traceback``: the audit raised instead of reporting: a defect.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ledger_flips.py                 # every byte, 2 masks
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ledger_flips.py --stride 7      # every 7th byte

Prints the table of outcomes per mask and per region of the file (header, page of each table or index,
free space), and exits 1 when any flip is a defect.

Speed: Ed25519 verification is a pure function of (signature, message, key), so this script memoises
libsodium's ``crypto_sign_open`` (a failure is re-raised as it was): each flip then verifies only the
signatures over bytes it changed, with the same verdicts; the copies are written to /dev/shm when it
exists.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd  # noqa: E402

from wattmesh.ledger.audit import verify  # noqa: E402
from wattmesh.ledger.keys import ensure_keys  # noqa: E402
from wattmesh.ledger.local import CorruptLedgerError, LocalLedger, export, latest_signed_head, prove  # noqa: E402

START = pd.Timestamp("2025-07-15T09:00:00Z")
MEMBERS = ["home_1", "home_2", "home_3"]
TRADES_PER_INTERVAL = [2, 0, 3, 1, 1, 0, 2, 3]  # two hours of 15-minute intervals
OUTCOMES = ["FAILED", "CORRUPT", "INCOMPLETE", "harmless", "OK WITH WRONG CONTENT", "traceback"]
DEFECTS = ("OK WITH WRONG CONTENT", "traceback")


def interval_trades(k: int, n: int) -> pd.DataFrame:
    start = START + pd.Timedelta(minutes=15 * k)
    return pd.DataFrame(
        {
            "transaction_id": [f"tx_{k:02d}{i:02d}aaaaaaaaaaaa" for i in range(n)],
            "seller": [MEMBERS[(k + i) % 3] for i in range(n)],
            "buyer": [MEMBERS[(k + i + 1) % 3] for i in range(n)],
            "energy_amount_kwh": [round(0.25 + 0.5 * i + 0.01 * k, 3) for i in range(n)],
            "price_per_kwh": 0.14,
            "timestamp": start,
            "interval": start,
            "mechanism": "pay_as_clear",
            "grid_fee_per_kwh": 0.015,
            "sell_order_id": [f"ask_{k}_{i}" for i in range(n)],
            "buy_order_id": [f"bid_{k}_{i}" for i in range(n)],
        }
    )


def write_run_ledger(path: Path, key_dir: Path) -> list[str]:
    """A finished two-hour run ledger at ``path``; its transaction ids."""
    keyring = ensure_keys(key_dir, MEMBERS)
    ids = []
    with LocalLedger(path, keyring, run=True) as ledger:
        for k, n in enumerate(TRADES_PER_INTERVAL):
            trades = interval_trades(k, n)
            ids += trades["transaction_id"].tolist()
            ledger.append_interval(
                trades, START + pd.Timedelta(minutes=15 * (k + 1)), START + pd.Timedelta(minutes=15 * k)
            )
        ledger.finish_run()
    assert not path.with_name(path.name + "-wal").exists()  # as the simulator leaves it: one file, WAL mode
    return ids


def content(path: Path) -> tuple | None:
    """Every row of every table and of sqlite_master, read without the ledger code; None if unreadable."""
    try:
        with contextlib.closing(
            sqlite3.connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
        ) as conn:
            conn.text_factory = bytes
            names = [
                r[0].decode() for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            rows = [tuple(sorted(map(repr, conn.execute("SELECT * FROM sqlite_master"))))]
            for name in sorted(names):
                typed = (
                    repr(tuple((type(v).__name__, v) for v in row))
                    for row in conn.execute(f'SELECT * FROM "{name}"')
                )
                rows.append(tuple(sorted(typed)))
            return tuple(rows)
    except (sqlite3.Error, UnicodeError):
        return None


def readings(path: Path, ids: list[str]) -> tuple:
    """What the readers give: the export, every trade's proof, the latest signed head."""
    try:
        lines = list(export(path))
    except (CorruptLedgerError, LookupError) as err:
        lines = [f"error: {err}"]
    proofs = []
    for tid in ids:
        try:
            proofs.append(json.dumps(prove(path, tid), sort_keys=True))
        except (CorruptLedgerError, LookupError) as err:
            proofs.append(f"error: {err}")
    try:
        head = latest_signed_head(path).to_dict()
    except (CorruptLedgerError, LookupError) as err:
        head = f"error: {err}"
    return lines, proofs, head


def classify(path: Path, original: dict) -> str:
    try:
        report = verify(path, workers=1)
    except Exception:  # noqa: BLE001 - verify must report, never raise, on a damaged file
        return "traceback"
    if report.corrupt:
        return "CORRUPT"
    if report.problems:
        return "FAILED"
    if report.incomplete:
        return "INCOMPLETE"
    if content(path) == original["content"] and readings(path, original["ids"]) == original["readings"]:
        return "harmless"
    return "OK WITH WRONG CONTENT"


def regions(data: bytes) -> list[str]:
    """The name of what each page of the file holds (``header+sqlite_master`` for page 1)."""
    with tempfile.NamedTemporaryFile(suffix=".sqlite") as handle:
        handle.write(data)
        handle.flush()
        with contextlib.closing(sqlite3.connect(handle.name)) as conn:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            pages = ["free"] * (len(data) // page_size)
            pages[0] = "header+sqlite_master"
            try:
                for name, page in conn.execute("SELECT name, pageno FROM dbstat"):
                    pages[page - 1] = name
            except sqlite3.OperationalError:  # SQLite built without the dbstat table
                pass
    return [pages[i // page_size] for i in range(len(data))]


def memoise_signature_checks() -> None:
    """Memoise libsodium's signature check (pure; BadSignatureError re-raised for a cached failure)."""
    import nacl.bindings
    from nacl.exceptions import BadSignatureError

    check = nacl.bindings.crypto_sign_open
    seen: dict[tuple[bytes, bytes], bytes | None] = {}

    def crypto_sign_open(signed: bytes, public_key: bytes) -> bytes:
        key = (bytes(signed), bytes(public_key))
        if len(seen) > 50_000:  # the original's signatures come back at once; bound the memory
            seen.clear()
        if key not in seen:
            try:
                seen[key] = check(signed, public_key)
            except BadSignatureError:
                seen[key] = None
        if seen[key] is None:
            raise BadSignatureError("Signature was forged or corrupt")
        return seen[key]

    nacl.bindings.crypto_sign_open = crypto_sign_open


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stride", type=int, default=1, help="Flip every STRIDE-th byte (default: all).")
    parser.add_argument("--masks", default="0x01,0xff", help="XOR masks, comma-separated.")
    args = parser.parse_args()
    masks = [int(m, 0) for m in args.masks.split(",")]
    memoise_signature_checks()

    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="wattmesh-flips-", dir=shm) as tmp:
        tmp = Path(tmp)
        path = tmp / "run.sqlite"
        ids = write_run_ledger(path, tmp / "keys")
        data = path.read_bytes()
        report = verify(path)
        assert report.complete, report.summary()
        proved = [ids[0], ids[len(ids) // 2], ids[-1]]
        original = {"content": content(path), "ids": proved, "readings": readings(path, proved)}
        where = regions(data)
        flipped = tmp / "flipped.sqlite"
        table: dict[tuple[int, str], Counter] = {}
        defects = []
        started = time.perf_counter()
        positions = range(0, len(data), args.stride)
        for done, position in enumerate(positions):
            if done and done % 2000 == 0:
                rate = done / (time.perf_counter() - started)
                print(
                    f"  {done:,} of {len(positions):,} bytes, {rate:.0f} bytes/s", file=sys.stderr, flush=True
                )
            for mask in masks:
                copy = bytearray(data)
                copy[position] ^= mask
                flipped.write_bytes(bytes(copy))
                outcome = classify(flipped, original)
                table.setdefault((mask, where[position]), Counter())[outcome] += 1
                if outcome in DEFECTS:
                    defects.append((position, mask, where[position], outcome))
        seconds = time.perf_counter() - started

    flips = len(positions) * len(masks)
    print(
        f"ledger: finished 2-hour run, {len(ids)} trades in {len(TRADES_PER_INTERVAL)} intervals, "
        f"{len(data):,} bytes; {flips:,} flips (every {args.stride}. byte x masks {args.masks}) in {seconds:.0f} s"
    )
    print()
    header = f"{'mask':<6}{'region':<34}" + "".join(f"{o:>12}" for o in OUTCOMES[:4]) + f"{'defects':>9}"
    print(header)
    totals = Counter()
    for (mask, region), counts in sorted(table.items()):
        totals.update(counts)
        bad = sum(counts[o] for o in DEFECTS)
        print(f"{mask:#04x}  {region:<34}" + "".join(f"{counts[o]:>12}" for o in OUTCOMES[:4]) + f"{bad:>9}")
    bad = sum(totals[o] for o in DEFECTS)
    print(f"{'all':<6}{'':<34}" + "".join(f"{totals[o]:>12}" for o in OUTCOMES[:4]) + f"{bad:>9}")
    covered = flips - bad
    print()
    print(
        f"detected, corrupt, incomplete or proved harmless: {covered:,} of {flips:,} "
        f"({100 * covered / flips:.2f} %); OK with wrong content: {totals['OK WITH WRONG CONTENT']}; "
        f"tracebacks: {totals['traceback']}"
    )
    for position, mask, region, outcome in defects[:50]:
        print(f"  {outcome}: byte {position} ({region}) ^ {mask:#04x}")
    return 1 if defects else 0


if __name__ == "__main__":
    sys.exit(main())
