"""Ledger formats: format 2 signs all 12 fields of the trade record; format 1 ledgers (9-field records,
written by the code before it, kept in ``data/format1.sqlite``) still verify and say which format they are."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from wattmesh.cli import app
from wattmesh.ledger.audit import verify
from wattmesh.ledger.keys import sign_many
from wattmesh.ledger.local import (
    LedgerError,
    LocalLedger,
    entry_message,
    export,
    prove,
    trade_message,
    verify_proof,
)
from wattmesh.tables import TRADE_FIELDS

DATA = Path(__file__).parent / "data"
FORMAT_1 = json.loads((DATA / "format1_trades.json").read_text())
FORMAT_1_OPERATOR = bytes.fromhex((DATA / "format1_operator.pub").read_text().strip())
NINE_FIELDS = ("transaction_id", "seller", "buyer", "energy_amount_kwh", "price_per_kwh", "timestamp",
               "status", "interval", "mechanism")  # fmt: skip


def frozen_format_1_encoding(trade: dict) -> bytes:
    """The 9-field canonical encoding of format 1, frozen here: compact ASCII JSON in field order."""
    return json.dumps({k: trade[k] for k in NINE_FIELDS}, separators=(",", ":"), ensure_ascii=True).encode()


@pytest.fixture
def format_1_ledger(tmp_path) -> Path:
    path = tmp_path / "format1.sqlite"
    shutil.copyfile(DATA / "format1.sqlite", path)
    return path


def test_a_format_1_ledger_written_by_the_old_code_still_verifies_and_says_its_format(format_1_ledger):
    report = verify(format_1_ledger, operator_public=FORMAT_1_OPERATOR)
    assert report.ok, report.summary()
    assert report.format == 1 and report.entries == len(FORMAT_1["trades"]) == 5
    assert report.tree_heads == len(FORMAT_1["intervals"]) == 3
    assert report.summary().endswith("; format 1 (9-field trade records)")
    result = CliRunner().invoke(app, ["ledger", "verify", str(format_1_ledger)])
    assert result.exit_code == 0, result.output
    assert "format 1 (9-field trade records)" in result.output.splitlines()[0]


def test_a_format_1_ledger_holds_the_old_nine_field_encoding_of_its_trades(format_1_ledger):
    with sqlite3.connect(format_1_ledger) as conn:
        stored = [bytes(r[0]) for r in conn.execute("SELECT record FROM entries ORDER BY seq")]
    assert stored == [frozen_format_1_encoding(t) for t in FORMAT_1["trades"]]
    assert [json.loads(line) for line in export(format_1_ledger)] == FORMAT_1["trades"]


def test_a_format_1_trade_has_a_proof_that_verifies(format_1_ledger):
    proof = prove(format_1_ledger, "tx_f1_2_0")
    assert proof["format"] == 1
    assert verify_proof(proof, FORMAT_1_OPERATOR) == []
    assert json.loads(proof["record"])["seller"] == "beta"


def test_a_changed_format_1_record_fails_verify(format_1_ledger):
    with sqlite3.connect(format_1_ledger) as conn:
        conn.execute(
            "UPDATE entries SET record = CAST(replace(record, '0.1375', '0.1374') AS BLOB) WHERE seq = 1"
        )
    report = verify(format_1_ledger)
    assert not report.ok and report.format == 1
    assert str(report.first_problem) == (
        "entry 1 (tx_f1_0_1): the stored leaf hash differs from the hash of the entry"
    )


def test_appending_to_a_format_1_ledger_is_refused_and_leaves_it_unchanged(format_1_ledger, keyring):
    before = format_1_ledger.read_bytes()
    with pytest.raises(
        LedgerError, match="is format 1 \\(9-field trade records.*append to a new ledger file"
    ):
        LocalLedger(format_1_ledger, keyring)
    assert format_1_ledger.read_bytes() == before


@pytest.fixture
def format_2_ledger(tmp_path, keyring, make_trades, interval_end):
    path = tmp_path / "ledger.sqlite"
    tables = [make_trades(k, 4) for k in range(2)]
    with LocalLedger(path, keyring) as ledger:
        for k, trades in enumerate(tables):
            ledger.append_interval(trades, interval_end(k))
    return path, pd.concat(tables, ignore_index=True)


def test_a_new_ledger_is_format_2_and_stores_all_twelve_fields_as_given(format_2_ledger):
    path, given = format_2_ledger
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone() == (
            "wattmesh-ledger-2",
        )
    report = verify(path)
    assert report.ok and report.format == 2
    assert report.summary().endswith("; format 2 (12-field trade records)")
    lines = [json.loads(line) for line in export(path)]
    assert all(tuple(line) == TRADE_FIELDS for line in lines)
    for name in ("grid_fee_per_kwh", "sell_order_id", "buy_order_id", "energy_amount_kwh", "price_per_kwh"):
        assert [line[name] for line in lines] == given[name].tolist()
    assert isinstance(lines[0]["grid_fee_per_kwh"], float)


@pytest.mark.parametrize(
    ("field", "edit"),
    [
        ("grid_fee_per_kwh", lambda v: round(v + 0.01, 4)),
        ("sell_order_id", lambda v: v + "x"),
        ("buy_order_id", lambda v: "ask_0_0_2"),
    ],
)
def test_a_format_2_ledger_whose_grid_fee_or_order_id_is_changed_fails_verify(format_2_ledger, field, edit):
    path, _ = format_2_ledger
    with sqlite3.connect(path) as conn:
        record = bytes(conn.execute("SELECT record FROM entries WHERE seq = 2").fetchone()[0])
        rec = json.loads(record)
        rec[field] = edit(rec[field])
        changed = json.dumps(rec, separators=(",", ":")).encode()
        assert changed != record
        conn.execute("UPDATE entries SET record = ? WHERE seq = 2", (changed,))
    report = verify(path)
    assert not report.ok
    assert str(report.first_problem) == (
        "entry 2 (tx_0_0_2): the stored leaf hash differs from the hash of the entry"
    )
    assert any("seller signature does not verify" in str(p) for p in report.problems)
    assert any("buyer signature does not verify" in str(p) for p in report.problems)


def test_the_parties_signatures_cover_the_grid_fee_even_for_an_operator_who_re_signs(
    format_2_ledger, keyring
):
    path, _ = format_2_ledger
    proof = prove(path, "tx_0_1_0")
    assert verify_proof(proof, keyring.operator_public) == []
    rec = json.loads(proof["record"])
    rec["grid_fee_per_kwh"] = 0.0
    record = json.dumps(rec, separators=(",", ":")).encode()
    sigs = [bytes.fromhex(proof[f"{side}_signature"]) for side in ("seller", "buyer")]
    operator_sig = sign_many([keyring.operator_secret], [entry_message(proof["seq"], record, *sigs)])[
        0
    ]  # the operator's own signature over the edited entry is valid ...
    edited = {**proof, "record": record.decode(), "operator_signature": operator_sig.hex()}
    problems = verify_proof(edited, keyring.operator_public)
    assert "operator signature over the entry does not verify" not in problems
    assert (
        f"seller signature does not verify under member {rec['seller']!r}'s key" in problems
    )  # ... theirs not
    assert f"buyer signature does not verify under member {rec['buyer']!r}'s key" in problems
    assert sign_many([keyring.member_secrets[rec["seller"]]], [trade_message(record)])[0] != sigs[0]
