"""Issue 15's ledger recipes, each reproduced: a damaged index, missing party keys, unsigned chain rows and
meta rows, bad inputs to every command, odd file names, and read-only audits that leave nothing behind."""

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
from wattmesh.ledger.keys import Keyring, ensure_keys
from wattmesh.ledger.local import (
    CorruptLedgerError,
    LedgerError,
    LedgerInputError,
    LocalLedger,
    export,
    latest_signed_head,
    prove,
)

runner = CliRunner()


@pytest.fixture
def ledger_path(tmp_path, keyring, make_trades, interval_end):
    path = tmp_path / "ledger.sqlite"
    with LocalLedger(path, keyring) as ledger:
        for k in range(3):
            ledger.append_interval(make_trades(k, 4), interval_end(k))
    return path


def cli(*args: str):
    """Run `wattmesh ...`; the result, after checking it ended by an exit code and not an exception."""
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args}: traceback {result.exception!r}"
    )
    return result


def index_rowid_offset(path, transaction_id: str) -> int:
    """File offset of the rowid byte after ``transaction_id`` in the transaction-id index's page."""
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_entries_1'"
    ).fetchone()[0]
    conn.close()
    data = path.read_bytes()
    page = data[(root - 1) * page_size : root * page_size]
    at = page.index(transaction_id.encode())
    return (root - 1) * page_size + at + len(transaction_id)


def flip_index_rowid(path, transaction_id: str, new_rowid: int) -> None:
    data = bytearray(path.read_bytes())
    offset = index_rowid_offset(path, transaction_id)
    data[offset] = new_rowid
    path.write_bytes(bytes(data))


# -- a damaged index ------------------------------------------------------------------------------------
def test_a_flipped_byte_in_the_transaction_id_index_is_reported_as_corrupt(ledger_path):
    assert index_rowid_offset(ledger_path, "tx_0_1_2") > 0
    flip_index_rowid(ledger_path, "tx_0_1_2", 7)  # the index now sends tx_0_1_2 to entry 7 (tx_0_1_3)
    report = verify(ledger_path)
    assert not report.ok and report.corrupt
    assert str(report.first_problem).startswith("log file: SQLite's integrity check fails")
    result = cli("ledger", "verify", str(ledger_path))
    assert result.exit_code == 3
    assert result.output.startswith(f"CORRUPT: {ledger_path}: log file: SQLite's integrity check fails")


def test_prove_refuses_to_return_another_trades_entry_from_a_damaged_index(ledger_path):
    flip_index_rowid(ledger_path, "tx_0_1_2", 7)
    with pytest.raises(
        CorruptLedgerError,
        match="gives entry 7, which is not that trade for 'tx_0_1_2', but entry 6 holds it",
    ):
        prove(ledger_path, "tx_0_1_2")
    result = cli("ledger", "prove", str(ledger_path), "tx_0_1_2")
    assert result.exit_code == 3 and "index of transaction ids" in result.output
    assert '"seq"' not in result.output


def test_prove_does_not_deny_a_trade_that_exists_when_the_index_lost_it(ledger_path):
    data = bytearray(ledger_path.read_bytes())
    offset = index_rowid_offset(ledger_path, "tx_0_2_1") - 1  # the id's last character, in the index only
    data[offset] ^= 0x01
    ledger_path.write_bytes(bytes(data))
    with pytest.raises(CorruptLedgerError, match="gives no entry for 'tx_0_2_1', but entry 9 holds it"):
        prove(ledger_path, "tx_0_2_1")
    with pytest.raises(LookupError, match="no trade with transaction_id 'tx_nope'"):
        prove(ledger_path, "tx_nope")


# -- party keys -----------------------------------------------------------------------------------------
def test_a_trade_of_a_party_without_a_key_is_refused_when_parties_hold_keys(tmp_path, keyring, make_trades,
                                                                          interval_end):  # fmt: skip
    path = tmp_path / "ledger.sqlite"
    trades = make_trades(0, 3)
    trades.loc[1, "buyer"] = "stranger"  # no key in the keyring, no signature of its own
    with LocalLedger(path, keyring) as ledger:
        with pytest.raises(
            LedgerError, match="trade 'tx_0_0_1': no buyer signature: the ledger requires party"
        ):
            ledger.append_interval(trades, interval_end(0))
        assert ledger.size == 0
        ledger.append_interval(trades.drop(index=1), interval_end(0))
    report = verify(path)
    assert report.ok and report.notes == []


def test_entries_without_party_signatures_are_reported_unsigned_never_silently(tmp_path, make_trades,
                                                                             interval_end):  # fmt: skip
    keys = ensure_keys(tmp_path / "keys", ["alpha", "beta", "gamma", "delta"])
    path = tmp_path / "ledger.sqlite"
    with LocalLedger(path, Keyring(keys.key_dir, keys.operator_key)) as ledger:  # parties hold no keys here
        ledger.append_interval(make_trades(0, 3), interval_end(0))
    report = verify(path)
    assert report.ok
    assert report.summary().endswith(
        "; 3 of 3 entries carry no seller or buyer signature: only the operator signed them "
        "(party signatures optional)"
    )
    with sqlite3.connect(path) as conn:  # an insider relaxes the policy of a ledger that requires them
        conn.execute("UPDATE meta SET value = 'required' WHERE key = 'party_signatures'")
    report = verify(path)
    assert str(report.first_problem) == (
        "log meta: the operator's signature over the meta rows does not verify (a row was added, removed or "
        "changed)"
    )
    assert any(
        "seller signature missing: the ledger requires party signatures" in str(p) for p in report.problems
    )


def test_a_signature_stripped_from_a_ledger_that_requires_them_is_reported(ledger_path):
    with sqlite3.connect(ledger_path) as conn:
        conn.execute("UPDATE entries SET buyer_sig = x'' WHERE seq = 2")
    report = verify(ledger_path)
    assert "entry 2 (tx_0_0_2): buyer signature missing: the ledger requires party signatures" in map(
        str, report.problems
    )


# -- unsigned chain rows and meta rows --------------------------------------------------------------------
def test_an_unsigned_chain_transaction_row_fails_verify_and_prove(ledger_path):
    with sqlite3.connect(ledger_path) as conn:
        conn.execute(
            "INSERT INTO chain_txs VALUES (1, 'anchor', 1, '0x' || hex(zeroblob(20)), '0xfake', 7, 58000, 0, x'00')"
        )
    report = verify(ledger_path)
    assert (
        str(report.first_problem) == "chain_tx 1 (0xfake): the operator's signature over it does not verify"
    )
    with pytest.raises(
        CorruptLedgerError, match="chain transaction 0 \\(0xfake\\): the operator's signature"
    ):
        prove(ledger_path, "tx_0_1_0")
    assert prove(ledger_path, "tx_0_0_0")["chain"] == []  # another interval's proof is unaffected


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (("note", "hello"), "key 'note' is not one a wattmesh ledger writes"),
        (
            ("chain_contract", "0x" + "11" * 20),
            "the chain record is incomplete: chain_mode, chain_id, chain_rpc",
        ),
    ],
)
def test_rows_added_to_meta_fail_verify_and_verify_chain_explains(ledger_path, row, reason):
    with sqlite3.connect(ledger_path) as conn:
        conn.execute("INSERT INTO meta VALUES (?, ?)", row)
    report = verify(ledger_path)
    assert reason in map(lambda p: p.reason, report.problems) or any(
        reason in p.reason for p in report.problems
    )
    assert any("signature over the meta rows does not verify" in p.reason for p in report.problems)
    result = cli("ledger", "verify", str(ledger_path), "--chain")
    assert result.exit_code == 3
    chain_row = cli("ledger", "verify", str(ledger_path), "--chain", "--rpc-url", "http://127.0.0.1:9")
    assert chain_row.exit_code in (2, 3)


def test_verify_chain_on_an_incomplete_chain_record_is_one_line(ledger_path):
    from wattmesh.ledger.evm import ChainError, verify_chain

    with sqlite3.connect(ledger_path) as conn:
        conn.execute(
            "INSERT INTO meta VALUES ('chain_contract', '0x1111111111111111111111111111111111111111')"
        )
    with pytest.raises(ChainError, match="its chain record is incomplete \\(chain_mode, chain_id, chain_rpc"):
        verify_chain(ledger_path)


def test_a_ledger_whose_meta_changed_is_not_appended_to(ledger_path, keyring):
    with sqlite3.connect(ledger_path) as conn:
        conn.execute("UPDATE meta SET value = 'optional' WHERE key = 'party_signatures'")
    with pytest.raises(LedgerError, match="meta rows are not the ones the operator signed"):
        LocalLedger(ledger_path, keyring)


# -- bad inputs to every command ----------------------------------------------------------------------------
def bad_ledgers(tmp_path, ledger_path) -> dict:
    """name -> (path, exit code): every kind of file that is not a sound ledger."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.sqlite").write_bytes(b"")
    (tmp_path / "text.sqlite").write_text("hello, not a database\n" * 200)
    (tmp_path / "utf16.sqlite").write_text("ledger", encoding="utf-16")
    other = sqlite3.connect(tmp_path / "other.sqlite")
    other.execute("CREATE TABLE t (x)")
    other.commit()
    other.close()
    truncated = tmp_path / "truncated.sqlite"
    truncated.write_bytes(ledger_path.read_bytes()[:5000])
    return {
        "missing": (tmp_path / "nope.sqlite", 2),
        "directory": (tmp_path / "folder", 2),
        "empty": (tmp_path / "empty.sqlite", 3),
        "not sqlite": (tmp_path / "text.sqlite", 3),
        "utf-16": (tmp_path / "utf16.sqlite", 3),
        "other database": (tmp_path / "other.sqlite", 3),
        "truncated ledger": (truncated, 3),
    }


COMMANDS = {
    "verify": lambda p: ["ledger", "verify", str(p)],
    "prove": lambda p: ["ledger", "prove", str(p), "tx_0_0_0"],
    "export": lambda p: ["ledger", "export", str(p)],
    "head": lambda p: ["ledger", "head", str(p)],
    "check-proof": lambda p: ["ledger", "check-proof", str(p)],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_gives_one_line_and_its_exit_code_for_every_bad_file(tmp_path, ledger_path, command):
    for name, (path, code) in bad_ledgers(tmp_path, ledger_path).items():
        result = cli(*COMMANDS[command](path))
        if command == "check-proof":
            code = 2  # a file that is no proof is bad input
        assert result.exit_code == code, (command, name, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and str(path.name) in lines[0], (command, name, result.output)


def test_bad_options_are_bad_input_with_one_line(tmp_path, ledger_path, keyring):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "wrong_head.json").write_text('{"head_index": 0}')
    (tmp_path / "short.pub").write_text("abcd\n")
    (tmp_path / "text.pub").write_text("not a key at all\n")
    cases = [
        (["--against", str(tmp_path / "bad.json")], "not readable JSON"),
        (["--against", str(tmp_path / "list.json")], "holds a JSON list, expected an object"),
        (["--against", str(tmp_path / "wrong_head.json")], "not a tree head"),
        (["--against", str(tmp_path / "nope.json")], "no such file"),
        (["--against", str(tmp_path)], "is a directory"),
        (["--operator-key", str(tmp_path / "short.pub")], "2 bytes, expected 32"),
        (["--operator-key", str(tmp_path / "text.pub")], "is not hex"),
        (["--operator-key", str(tmp_path / "nope.pub")], "no such file"),
        (["--operator-key", str(keyring.key_dir / "operator.key")], "is not hex"),
    ]
    for option, message in cases:
        result = cli("ledger", "verify", str(ledger_path), *option)
        assert result.exit_code == 2, (option, result.output)
        assert len(result.output.strip().splitlines()) == 1 and message in result.output, (
            option,
            result.output,
        )
        result = cli("ledger", "check-proof", str(tmp_path / "bad.json"), *option[:0])
        assert result.exit_code == 2 and "not readable JSON" in result.output
    (tmp_path / "proof.json").write_text(cli("ledger", "prove", str(ledger_path), "tx_0_2_3").output)
    result = cli(
        "ledger", "check-proof", str(tmp_path / "proof.json"), "--operator-key", str(tmp_path / "short.pub")
    )
    assert result.exit_code == 2 and "2 bytes, expected 32" in result.output
    (tmp_path / "not_proof.json").write_text('{"record": 5}')
    result = cli("ledger", "check-proof", str(tmp_path / "not_proof.json"))
    assert result.exit_code == 2 and "not a proof from `wattmesh ledger prove`" in result.output


def test_export_creates_no_out_file_when_it_fails(tmp_path, ledger_path):
    out = tmp_path / "trades.jsonl"
    for path, _ in bad_ledgers(tmp_path, ledger_path).values():
        result = cli("ledger", "export", str(path), "--out", str(out))
        assert result.exit_code in (2, 3) and not out.exists()
    with sqlite3.connect(ledger_path) as conn:  # damaged in the middle: the first lines were readable
        conn.execute("UPDATE entries SET record = x'7b' WHERE seq = 6")
    result = cli("ledger", "export", str(ledger_path), "--out", str(out))
    assert result.exit_code == 3 and "entry 6" in result.output
    assert sorted(p.name for p in tmp_path.iterdir() if "trades" in p.name) == []
    result = cli("ledger", "export", str(ledger_path), "--out", str(tmp_path / "missing" / "t.jsonl"))
    assert result.exit_code == 2 and "does not exist" in result.output


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no file can be made")
def test_export_into_a_folder_that_cannot_be_written_is_bad_input(ledger_path):
    result = cli("ledger", "export", str(ledger_path), "--out", "/proc/trades.jsonl")
    assert result.exit_code == 2 and result.output.startswith("--out /proc/trades.jsonl: cannot be written")


def test_head_of_a_ledger_without_tree_heads_and_with_a_forged_one(tmp_path, keyring, ledger_path):
    empty = tmp_path / "empty_ledger.sqlite"
    LocalLedger(empty, keyring).close()
    result = cli("ledger", "head", str(empty))
    assert result.exit_code == 2 and "no signed tree head yet" in result.output
    with sqlite3.connect(ledger_path) as conn:
        conn.execute("UPDATE tree_heads SET tree_size = 11 WHERE head_index = 2")
    with pytest.raises(CorruptLedgerError, match="tree head 2 is not signed by the registered operator key"):
        latest_signed_head(ledger_path)


# -- file names and read-only audits ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["hash#1.sqlite", "a%20b.sqlite", "x?mode=rw.sqlite", "sp ace.sqlite"])
def test_names_with_uri_characters_open_the_named_file_and_create_nothing(tmp_path, ledger_path, name):
    folder = tmp_path / "odd"
    folder.mkdir()
    path = folder / name
    shutil.copyfile(ledger_path, path)
    result = cli("ledger", "verify", str(path))
    assert result.exit_code == 0 and result.output.startswith("OK: 12 entries"), result.output
    assert cli("ledger", "prove", str(path), "tx_0_1_1").exit_code == 0
    assert len(list(export(path))) == 12
    assert sorted(p.name for p in folder.iterdir()) == [name]


def test_a_read_only_verify_leaves_no_wal_or_shm_files_and_changes_nothing(ledger_path):
    before = ledger_path.read_bytes()
    assert sorted(p.name for p in ledger_path.parent.iterdir() if p.name.startswith("ledger")) == [
        "ledger.sqlite"
    ]
    assert cli("ledger", "verify", str(ledger_path)).exit_code == 0
    assert cli("ledger", "prove", str(ledger_path), "tx_0_0_1").exit_code == 0
    assert cli("ledger", "head", str(ledger_path)).exit_code == 0
    assert cli("ledger", "export", str(ledger_path)).exit_code == 0
    assert sorted(p.name for p in ledger_path.parent.iterdir() if p.name.startswith("ledger")) == [
        "ledger.sqlite"
    ]
    assert ledger_path.read_bytes() == before


def test_a_ledger_being_written_is_read_with_its_committed_entries(
    tmp_path, keyring, make_trades, interval_end
):
    path = tmp_path / "live.sqlite"
    ledger = LocalLedger(path, keyring)  # stays open: its -wal file holds what it committed
    ledger.append_interval(make_trades(0, 3), interval_end(0))
    assert (tmp_path / "live.sqlite-wal").exists()
    report = verify(path)
    assert report.ok and report.entries == 3
    ledger.append_interval(make_trades(1, 2), interval_end(1))
    assert verify(path).entries == 5
    ledger.close()


# -- values of the wrong type ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE keys SET member_id = CAST(x'616c70ff6861' AS TEXT) WHERE member_id = 'alpha'",
        "UPDATE entries SET record = 123456789012 WHERE seq = 1",
        "UPDATE tree_heads SET tree_size = 'eight' WHERE head_index = 1",
        "UPDATE nodes SET level = x'01' WHERE level = 1 AND idx = 0",
        "UPDATE entries SET seller_sig = 99 WHERE seq = 0",
        "UPDATE tree_heads SET root_hash = 10000000000 WHERE head_index = 2",
    ],
)
def test_values_of_the_wrong_type_are_reported_without_a_traceback(ledger_path, statement):
    with sqlite3.connect(ledger_path) as conn:
        conn.execute(statement)
    report = verify(ledger_path)
    assert not report.ok
    result = cli("ledger", "verify", str(ledger_path))
    assert result.exit_code == 3
    for command in ("prove", "export", "head"):
        result = cli(*COMMANDS[command](ledger_path))
        assert result.exit_code in (0, 2, 3), (command, result.output)
        if result.exit_code == 0 and command == "prove":
            assert json.loads(result.output)["transaction_id"] == "tx_0_0_0"


def test_a_trades_table_reaches_the_ledger_only_whole(tmp_path, keyring, make_trades, interval_end):
    path = tmp_path / "ledger.sqlite"
    with LocalLedger(path, keyring) as ledger:
        bad = make_trades(0, 3)
        bad.loc[2, "grid_fee_per_kwh"] = -1.0
        with pytest.raises(LedgerError, match="trade 'tx_0_0_2': grid_fee_per_kwh -1.0 is below 0"):
            ledger.append_interval(bad, interval_end(0))
        assert ledger.size == 0 and ledger.latest_head() is None
        ledger.append_interval(pd.DataFrame(), interval_end(0), "2025-07-15T09:00:00Z")
    assert verify(path).ok


def test_reading_a_path_that_is_no_file_raises_bad_input(tmp_path):
    with pytest.raises(LedgerInputError, match="no such file"):
        verify(tmp_path / "nope.sqlite")
    with pytest.raises(LedgerInputError, match="is a directory"):
        prove(tmp_path, "tx_1")


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE keys RENAME COLUMN member_id TO mamber_id",
        "CREATE TRIGGER quiet BEFORE INSERT ON entries BEGIN SELECT 1; END",
        "CREATE INDEX by_interval ON entries (interval)",
    ],
)
def test_a_changed_schema_is_reported_as_corrupt(ledger_path, statement):
    with sqlite3.connect(ledger_path) as conn:
        conn.execute(statement)
    report = verify(ledger_path)
    assert report.corrupt and str(report.first_problem).startswith("log schema: differs from format 2's")
    assert cli("ledger", "verify", str(ledger_path)).exit_code == 3


@pytest.mark.parametrize(
    ("statement", "where"),
    [
        ("UPDATE keys SET member_id = CAST(member_id AS BLOB) WHERE member_id = 'alpha'", "keys.member_id"),
        ("UPDATE entries SET record = CAST(record AS TEXT) WHERE seq = 3", "entries.record"),
        ("UPDATE meta SET value = CAST(value AS BLOB) WHERE key = 'meta_signature'", "meta.value"),
    ],
)
def test_the_same_bytes_in_another_storage_class_are_reported_as_corrupt(ledger_path, statement, where):
    with sqlite3.connect(ledger_path) as conn:
        conn.execute(statement)
    report = verify(ledger_path)
    assert report.corrupt
    assert [
        str(p) for p in report.problems if str(p).startswith(f"log {where}: 1 value(s) stored as another")
    ]


# -- the ledger of a run that did not finish ------------------------------------------------------------------
def run_ledger(path, keyring, make_trades, interval_end, intervals: int = 3, finish: bool = True) -> None:
    with LocalLedger(path, keyring, run=True) as ledger:
        for k in range(intervals):
            ledger.append_interval(make_trades(k, 4), interval_end(k))
        if finish:
            assert ledger.finish_run()["tree_size"] == 4 * intervals


def test_a_run_ledger_without_its_closing_mark_is_incomplete_and_what_is_there_verifies(
    tmp_path, keyring, make_trades, interval_end
):
    path = tmp_path / "ledger.sqlite"
    run_ledger(path, keyring, make_trades, interval_end, finish=False)
    report = verify(path)
    assert report.ok and report.incomplete and not report.complete
    assert report.entries == 12 and report.latest_head.head_index == 2
    result = cli("ledger", "verify", str(path))
    assert result.exit_code == 4
    assert result.output.startswith(f"INCOMPLETE: {path}: the run that wrote this ledger did not finish")
    assert "12 entries, 3 tree heads" in result.output and "latest signed head 2: 12 entries" in result.output
    with sqlite3.connect(path) as conn:  # what is there is still audited: a changed entry fails, exit 3
        conn.execute("UPDATE entries SET record = CAST(replace(CAST(record AS TEXT), '0.', '9.') AS BLOB) "
                     "WHERE seq = 4")  # fmt: skip
    result = cli("ledger", "verify", str(path))
    assert result.exit_code == 3 and result.output.startswith("FAILED: entry 4")


def test_a_finished_run_ledger_verifies_and_refuses_more_entries(
    tmp_path, keyring, make_trades, interval_end
):
    path = tmp_path / "ledger.sqlite"
    run_ledger(path, keyring, make_trades, interval_end)
    report = verify(path)
    assert report.complete, report.summary()
    result = cli("ledger", "verify", str(path))
    assert result.exit_code == 0 and result.output.startswith("OK: 12 entries, 3 tree heads")
    with (
        LocalLedger(path, keyring) as ledger,
        pytest.raises(LedgerError, match="run that wrote it has finished"),
    ):
        ledger.append_interval(make_trades(3, 4), interval_end(3))
    with LocalLedger(path, keyring) as ledger, pytest.raises(LedgerError, match="was finished already"):
        ledger.finish_run()
    assert verify(path).complete


def test_an_unfinished_mark_cannot_be_forged_nor_a_finished_run_truncated(
    tmp_path, keyring, make_trades, interval_end
):
    path = tmp_path / "ledger.sqlite"
    run_ledger(path, keyring, make_trades, interval_end, finish=False)
    with sqlite3.connect(path) as conn:  # an insider marks the prefix complete without the operator's key
        conn.execute("UPDATE meta SET value = 'complete' WHERE key = 'run'")
    assert "signature over the meta rows does not verify" in verify(path).first_problem.reason
    with sqlite3.connect(path) as conn:  # or deletes the run row so that the prefix passes as a live ledger
        conn.execute("DELETE FROM meta WHERE key = 'run'")
    assert cli("ledger", "verify", str(path)).exit_code == 3
    finished = tmp_path / "finished.sqlite"
    run_ledger(finished, keyring, make_trades, interval_end)
    with sqlite3.connect(finished) as conn:  # the last interval cut off cleanly: entries, nodes and head
        conn.execute("DELETE FROM entries WHERE seq >= 8")
        conn.execute("DELETE FROM tree_heads WHERE head_index = 2")
        conn.execute("DELETE FROM nodes WHERE level = 2 AND idx = 2 OR level = 1 AND idx >= 4")
    report = verify(finished)
    assert [str(p) for p in report.problems] == [
        "log end: the run closed at tree head 2 (12 entries, root "
        f"{json.loads(dict(sqlite3.connect(finished).execute('SELECT * FROM meta'))['run_end'])['root_hash'][:16]}"
        "...) but the log ends at tree head 1 (8 entries, root "
        f"{report.latest_head.root_hash.hex()[:16]}...): truncated, or changed after the run finished"
    ]


def test_ledgers_that_are_not_a_runs_keep_their_behaviour_and_report_their_latest_head(ledger_path, keyring):
    report = verify(ledger_path)
    assert report.complete and not report.incomplete
    result = cli("ledger", "verify", str(ledger_path))
    assert result.exit_code == 0
    assert result.output.splitlines()[1].startswith("  latest signed head 2: 12 entries, interval ending ")
    with LocalLedger(ledger_path, keyring) as ledger, pytest.raises(LedgerError, match="not a run's ledger"):
        ledger.finish_run()
    with pytest.raises(LedgerError, match="holds entries of another writer"):
        LocalLedger(ledger_path, keyring, run=True)


# -- an audit of a ledger that is being appended to -------------------------------------------------------
def test_verify_reads_one_snapshot_while_the_exchange_appends(tmp_path, keyring, make_trades, interval_end):
    """A writer appends an interval (5 trades: new entries, nodes and a tree head) after the audit has
    read the entries and before it reads the tree heads and the node cache; the audit checks the log as it
    was when it began, whole, and reports no problem."""
    path = tmp_path / "ledger.sqlite"
    with LocalLedger(path, keyring) as ledger:
        for k in range(3):
            ledger.append_interval(make_trades(k, 3), interval_end(k))  # 9 entries: level 1 holds 4 nodes
    writer = LocalLedger(path, keyring)
    appended = []

    def append_meanwhile(done: int, total: int) -> None:
        if done and not appended:  # the entries are read
            appended.append(writer.append_interval(make_trades(3, 5), interval_end(3)))

    try:
        report = verify(path, progress=append_meanwhile)
        assert appended and appended[0].tree_size == 14  # the writer did append while the audit ran
        assert report.problems == [] and report.entries == 9 and report.tree_heads == 3
        after = verify(path)
        assert after.problems == [] and after.entries == 14 and after.tree_heads == 4
    finally:
        writer.close()
