"""`wattmesh ledger verify|prove|export|head` on a real ledger file."""

from __future__ import annotations

import json
import socket
import sqlite3

import pytest
from typer.testing import CliRunner

from wattmesh.cli import app
from wattmesh.ledger.local import LocalLedger, verify_proof

runner = CliRunner()


@pytest.fixture
def ledger_path(tmp_path, keyring, make_trades, interval_end):
    path = tmp_path / "ledger.sqlite"
    with LocalLedger(path, keyring) as ledger:
        for k in range(3):
            ledger.append_interval(make_trades(k, 4), interval_end(k))
    return path


def test_verify_prints_ok_and_exits_0(ledger_path, keyring):
    result = runner.invoke(
        app, ["ledger", "verify", str(ledger_path), "--operator-key", str(keyring.key_dir / "operator.pub")]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: 12 entries, 3 tree heads")


def test_verify_names_the_first_bad_entry_and_exits_3(ledger_path):
    with sqlite3.connect(ledger_path) as conn:
        conn.execute("UPDATE entries SET operator_sig = zeroblob(64) WHERE seq = 5")
    result = runner.invoke(app, ["ledger", "verify", str(ledger_path)])
    assert result.exit_code == 3
    assert result.output.startswith("FAILED: entry 5 (tx_0_1_1): the stored leaf hash differs")
    assert "operator signature over the entry does not verify" in result.output


def test_prove_prints_a_proof_that_verifies(ledger_path, keyring):
    result = runner.invoke(app, ["ledger", "prove", str(ledger_path), "tx_0_1_2"])
    assert result.exit_code == 0, result.output
    assert verify_proof(json.loads(result.output), keyring.operator_public) == []
    missing = runner.invoke(app, ["ledger", "prove", str(ledger_path), "tx_nope"])
    assert missing.exit_code == 2 and "no trade with transaction_id 'tx_nope'" in missing.output


def test_export_writes_one_json_line_per_trade(ledger_path, tmp_path):
    result = runner.invoke(app, ["ledger", "export", str(ledger_path), "--seed-only"])
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert len(lines) == 12 and lines[0]["transaction_id"] == "tx_0_0_0" and len(lines[0]) == 7
    runner.invoke(app, ["ledger", "export", str(ledger_path), "--out", str(tmp_path / "t.jsonl")])
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 12


def test_a_saved_head_catches_a_later_truncation(ledger_path, tmp_path):
    head = runner.invoke(app, ["ledger", "head", str(ledger_path)])
    (tmp_path / "head.json").write_text(head.output)
    assert (
        runner.invoke(
            app, ["ledger", "verify", str(ledger_path), "--against", str(tmp_path / "head.json")]
        ).exit_code
        == 0
    )
    with sqlite3.connect(ledger_path) as conn:
        conn.execute("DELETE FROM entries WHERE seq >= 8")
        conn.execute("DELETE FROM tree_heads WHERE head_index = 2")
        conn.execute("DELETE FROM nodes WHERE (idx + 1) << level > 8")
    result = runner.invoke(
        app, ["ledger", "verify", str(ledger_path), "--against", str(tmp_path / "head.json")]
    )
    assert result.exit_code == 3
    assert "fewer than the 12 of the trusted tree head: the log was truncated" in result.output


def test_verify_chain_explains_why_it_cannot_check(ledger_path):
    result = runner.invoke(app, ["ledger", "verify", str(ledger_path), "--chain"])
    assert result.exit_code == 2 and "not made with a chain backend" in result.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    args = ["--chain", "--rpc-url", f"http://127.0.0.1:{port}", "--contract", "0x" + "11" * 20]
    result = runner.invoke(app, ["ledger", "verify", str(ledger_path), *args])
    assert result.exit_code == 2 and f"cannot reach the chain at http://127.0.0.1:{port}" in result.output


def test_verify_refuses_a_missing_file_and_a_file_that_is_not_a_ledger(tmp_path):
    result = runner.invoke(app, ["ledger", "verify", str(tmp_path / "nope.sqlite")])
    assert result.exit_code == 2 and "nope.sqlite: no such file" in result.output
    sqlite3.connect(tmp_path / "other.sqlite").execute("CREATE TABLE t (x)").connection.close()
    result = runner.invoke(app, ["ledger", "verify", str(tmp_path / "other.sqlite")])
    assert result.exit_code == 3
    assert (
        "log file: not a wattmesh ledger: table(s) meta, keys, entries, tree_heads, nodes missing"
        in result.output
    )
    (tmp_path / "text.sqlite").write_text("hello, not a database" * 100)
    result = runner.invoke(app, ["ledger", "verify", str(tmp_path / "text.sqlite")])
    assert result.exit_code == 3 and "not an SQLite database" in result.output


def test_check_proof_accepts_a_saved_proof_and_rejects_an_edited_one(ledger_path, keyring, tmp_path):
    proof = runner.invoke(app, ["ledger", "prove", str(ledger_path), "tx_0_2_3"]).output
    (tmp_path / "proof.json").write_text(proof)
    pin = ["--operator-key", str(keyring.key_dir / "operator.pub")]
    result = runner.invoke(app, ["ledger", "check-proof", str(tmp_path / "proof.json"), *pin])
    assert result.exit_code == 0 and result.output.startswith(
        "OK: trade tx_0_2_3 is entry 11 under tree head 2"
    )
    edited = json.loads(proof)
    edited["record"] = edited["record"].replace('"buyer":"', '"buyer":"x')
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    result = runner.invoke(app, ["ledger", "check-proof", str(tmp_path / "edited.json"), *pin])
    assert (
        result.exit_code == 3 and "FAILED: operator signature over the entry does not verify" in result.output
    )
