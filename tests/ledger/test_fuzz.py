"""Single-byte changes anywhere in a small ledger file: each one is detected (verify FAILED), reported as
corrupt, or proved harmless (the integrity check passes and the ledger's content is identical to the
original's); never OK with other content, and never a traceback from verify, prove, export or head."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from wattmesh.cli import app
from wattmesh.ledger.audit import verify
from wattmesh.ledger.keys import ensure_keys
from wattmesh.ledger.local import CorruptLedgerError, LocalLedger, export, latest_signed_head, prove

TABLES = ("meta", "keys", "entries", "tree_heads", "nodes", "chain_txs")
PROVED = "tx_0_1_1"
START = pd.Timestamp("2025-07-15T09:00:00Z")
runner = CliRunner()
# Built once: CliRunner.invoke rebuilds the click command of the whole `wattmesh` app on every call, which
# took ~85 of the ~135 ms each flip cost; the command itself is the same object either way.
COMMAND = typer.main.get_command(app)


def cli_exit_code(args: list[str]) -> tuple[int, str]:
    """Exit code and output of ``wattmesh ARGS`` run in process, as CliRunner.invoke runs it; any exception
    but SystemExit propagates (a traceback fails the test)."""
    with runner.isolation() as streams:
        try:
            COMMAND.main(args=args, prog_name="wattmesh")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        output = streams[0].getvalue().decode() + streams[1].getvalue().decode()
    return code, output


def content(path) -> tuple | None:
    """Every row of every ledger table, read independently of the ledger code; None if unreadable."""
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
        try:
            return tuple(tuple(sorted(map(repr, conn.execute(f"SELECT * FROM {t}")))) for t in TABLES)
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def small_trades(k: int, n: int) -> pd.DataFrame:
    """``n`` trades between members a and b in the k-th 15-minute interval of 2025-07-15 09:00 UTC."""
    start = START + pd.Timedelta(minutes=15 * k)
    return pd.DataFrame(
        {
            "transaction_id": [f"tx_0_{k}_{i}" for i in range(n)],
            "seller": ["a", "b"][:n] if n <= 2 else "a",
            "buyer": ["b", "a"][:n] if n <= 2 else "b",
            "energy_amount_kwh": [0.5 + i for i in range(n)],
            "price_per_kwh": 0.12,
            "timestamp": start,
            "interval": start,
            "mechanism": "pay_as_clear",
            "grid_fee_per_kwh": 0.02,
            "sell_order_id": [f"ask_{k}_{i}" for i in range(n)],
            "buy_order_id": [f"bid_{k}_{i}" for i in range(n)],
        }
    )


@pytest.fixture(scope="module", params=["live", "finished run"])
def original(tmp_path_factory, request):
    """A small ledger: one that grows for ever (no run mark) or a finished run's (closing mark in meta)."""
    folder = tmp_path_factory.mktemp("fuzz")
    keyring = ensure_keys(folder / "keys", ["a", "b"])
    path = folder / "original.sqlite"
    run = request.param == "finished run"
    with LocalLedger(path, keyring, run=run) as ledger:
        for k, n in enumerate([1, 2]):
            ledger.append_interval(small_trades(k, n), START + pd.Timedelta(minutes=15 * (k + 1)))
        if run:
            ledger.finish_run()
    data = path.read_bytes()
    assert content(path) is not None and verify(path).complete
    return {
        "folder": folder,
        "data": data,
        "content": content(path),
        "proof": prove(path, PROVED),
        "export": list(export(path)),
        "head": latest_signed_head(path),
    }


def check_flip(original: dict, position: int, mask: int) -> str:
    """Apply one flip to a copy, run every reader; what the audit made of it ("ok", "failed", "corrupt")."""
    data = bytearray(original["data"])
    data[position] ^= mask
    path = original["folder"] / "flipped.sqlite"
    path.write_bytes(bytes(data))
    report = verify(path, workers=1)  # never raises on a damaged file
    if report.ok:
        assert content(path) == original["content"], f"byte {position} ^ {mask:#04x}: OK with other content"
    exit_code, output = cli_exit_code(["ledger", "verify", str(path)])
    assert exit_code == (4 if report.incomplete else 0) if report.ok else 3, (position, mask, output)
    try:
        proof = prove(path, PROVED)
    except (LookupError, CorruptLedgerError):
        proof = None
    if proof is not None:
        assert json.loads(proof["record"])["transaction_id"] == PROVED
        if report.ok:
            assert proof == original["proof"]
    try:
        lines = list(export(path))
    except (LookupError, CorruptLedgerError):
        lines = None
    if report.ok:
        assert lines == original["export"]
        assert latest_signed_head(path) == original["head"]
    else:
        try:
            latest_signed_head(path)
        except (LookupError, CorruptLedgerError):
            pass
    if report.ok and report.incomplete:
        return "incomplete"  # the closing mark lost, and that was seen: detected (never seen so far)
    return "ok" if report.ok else ("corrupt" if report.corrupt else "failed")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_single_byte_change_is_detected_reported_as_corrupt_or_harmless(original, data):
    used = [i for i, byte in enumerate(original["data"]) if byte]  # most of a small file is empty page space
    position = data.draw(st.integers(0, len(original["data"]) - 1) | st.sampled_from(used), label="position")
    mask = data.draw(st.integers(1, 255), label="mask")
    check_flip(original, position, mask)


@pytest.mark.slow
def test_every_29th_byte_flipped_is_detected_reported_as_corrupt_or_harmless(original):
    outcomes = [check_flip(original, position, 0xFF) for position in range(0, len(original["data"]), 29)]
    assert {"ok", "failed", "corrupt"} <= set(
        outcomes
    )  # the sweep reached empty space, records and structure
