"""Attacks on a stored ledger: byte flips everywhere, forged party signatures, replays, gaps, truncation
and rewritten history are all reported by the audit, with the place and the reason."""

from __future__ import annotations

import random
import sqlite3

import pytest

from wattmesh.ledger.audit import verify
from wattmesh.ledger.keys import Keyring, ensure_keys
from wattmesh.ledger.local import LocalLedger

# table -> (row key columns, kind of problem the audit must report first)
TABLES = {
    "meta": (("key",), "log"),
    "keys": (("member_id",), "key"),
    "entries": (("seq",), "entry"),
    "tree_heads": (("head_index",), "tree_head"),
    "nodes": (("level", "idx"), "node"),
}
INTEGER_COLUMNS = {"seq", "head_index", "tree_size", "first_seq", "level", "idx"}


def build(path, keyring, make_trades, interval_end, sizes, seed=0):
    with LocalLedger(path, keyring) as ledger:
        return [ledger.append_interval(make_trades(k, n, seed), interval_end(k)) for k, n in enumerate(sizes)]


def flip_cases(conn: sqlite3.Connection):
    """Every (table, key, column, position) of the stored values; integers get three byte positions."""
    for table, (key_columns, _) in TABLES.items():
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        for row in conn.execute(f"SELECT {', '.join(key_columns + tuple(columns))} FROM {table}").fetchall():
            key = row[: len(key_columns)]
            for column, value in zip(columns, row[len(key_columns) :], strict=True):
                if column in INTEGER_COLUMNS:
                    for byte in (0, 1, 7):
                        yield table, key, column, value, byte
                else:
                    size = len(value if isinstance(value, bytes) else value.encode())
                    for position in range(size):
                        yield table, key, column, value, position


def flipped(column: str, value, position: int, mask: int = 0x01):
    if column in INTEGER_COLUMNS:
        return value ^ (mask << (8 * position))
    raw = bytearray(value if isinstance(value, bytes) else value.encode())
    raw[position] ^= mask
    if isinstance(value, str):
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return bytes(raw)
    return bytes(raw)


def check_flip(conn, path, case, mask=0x01) -> bool:
    """Apply one flip, audit, undo; asserts the audit reports it. False when SQLite refuses the flip."""
    table, key, column, value, position = case
    key_columns, kind = TABLES[table]
    where = " AND ".join(f"{c} = ?" for c in key_columns)
    new = flipped(column, value, position, mask)
    new_key = tuple(new if c == column else k for c, k in zip(key_columns, key, strict=True))
    try:
        with conn:
            changed = conn.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (new, *key)).rowcount
    except (sqlite3.IntegrityError, OverflowError):
        return False  # the flip would duplicate a primary key: not a storable tampering
    assert changed == 1, f"the flip {case} changed {changed} rows, expected 1"
    try:
        report = verify(path, workers=1)
        assert not report.ok, f"undetected: {case} -> {new!r}"
        first = report.first_problem
        assert first.reason
        if table != "keys":  # a flipped key makes the first bad key row's registration fail
            assert first.kind == kind, (case, str(first))
        if table == "entries" and column != "seq":
            assert str(first.where).split()[0] == str(key[0]), (case, str(first))
        if table == "tree_heads" and column != "head_index":
            assert first.where in (key[0], new_key[0]), (case, str(first))
    finally:
        new_where = " AND ".join(f"{c} = ?" for c in key_columns)
        with conn:
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {new_where}", (value, *new_key))
    return True


@pytest.mark.slow
def test_every_single_byte_flip_in_a_small_log_is_reported(tmp_path, make_trades, interval_end):
    path = tmp_path / "small.sqlite"
    keyring = ensure_keys(tmp_path / "keys", ["a", "b"])
    with LocalLedger(path, keyring) as ledger:
        for k in range(2):
            ledger.append_interval(make_trades(k, 1, members=["a", "b"]), interval_end(k))
    conn = sqlite3.connect(path)
    cases = list(flip_cases(conn))
    assert len(cases) > 1000
    checked = sum(check_flip(conn, path, case) for case in cases)
    conn.close()
    assert checked > 0.99 * len(cases)
    assert verify(path).ok  # every flip was undone


def test_random_byte_flips_in_a_larger_log_are_reported(tmp_path, keyring, make_trades, interval_end):
    path = tmp_path / "large.sqlite"
    build(path, keyring, make_trades, interval_end, [20] * 30, seed=1)
    conn = sqlite3.connect(path)
    cases = list(flip_cases(conn))
    rng = random.Random(11)
    applied = [check_flip(conn, path, case, mask=rng.randrange(1, 256)) for case in rng.sample(cases, 12)]
    conn.close()
    assert sum(applied) >= 10, f"only {sum(applied)} of 12 flips were applied"
    assert verify(path).ok  # every flip was undone


def test_a_trade_signed_by_a_key_that_is_not_the_members_is_reported(tmp_path, make_trades, interval_end):
    keys = ensure_keys(tmp_path / "keys", ["alpha", "beta", "gamma", "delta"])
    path = tmp_path / "ledger.sqlite"
    build(path, keys, make_trades, interval_end, [4])
    thief = ensure_keys(tmp_path / "thief", ["alpha"])
    # the operator's software, run by an insider who holds a different key for alpha
    with LocalLedger(path, Keyring(keys.key_dir, keys.operator_key)) as ledger:
        ledger._member_keys = {**keys.member_secrets, "alpha": thief.member_secrets["alpha"]}
        trades = make_trades(1, 6)
        ledger.append_interval(trades, interval_end(1))
    first_alpha = trades.index[(trades["seller"] == "alpha") | (trades["buyer"] == "alpha")][0]
    side = "seller" if trades["seller"].iloc[first_alpha] == "alpha" else "buyer"
    report = verify(path)
    assert str(report.first_problem) == (
        f"entry {4 + first_alpha} (tx_0_1_{first_alpha}): {side} signature does not verify under the key "
        "registered for member 'alpha'"
    )


def test_a_replayed_trade_id_is_reported(tmp_path, keyring, make_trades, interval_end):
    path = tmp_path / "ledger.sqlite"
    build(path, keyring, make_trades, interval_end, [3])
    conn = sqlite3.connect(path)  # an insider drops the uniqueness of transaction ids
    with conn:
        conn.executescript(
            "ALTER TABLE entries RENAME TO old; CREATE TABLE entries (seq INTEGER PRIMARY KEY, transaction_id TEXT,"
            " interval TEXT, record BLOB, seller_sig BLOB, buyer_sig BLOB, operator_sig BLOB, leaf_hash BLOB);"
            " INSERT INTO entries SELECT * FROM old; DROP TABLE old;"
        )
    conn.close()
    with LocalLedger(path, keyring) as ledger:
        ledger._refuse_replays = lambda ids: None
        again = make_trades(0, 3).iloc[[1]]  # the same trade as entry 1
        ledger.append_interval(again, interval_end(1), interval_start=again["interval"].iloc[0])
    report = verify(path)
    assert (
        str(report.first_problem)
        == "log schema: differs from format 2's: index sqlite_autoindex_entries_1, table entries"
    )
    assert "entry 3 (tx_0_0_1): transaction_id 'tx_0_0_1' replays entry 1" in map(str, report.problems)


def test_an_appended_entry_with_a_gap_in_sequence_is_reported(tmp_path, keyring, make_trades, interval_end):
    path = tmp_path / "ledger.sqlite"
    build(path, keyring, make_trades, interval_end, [3, 2])
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO entries SELECT seq + 2, transaction_id || 'x', interval, record, seller_sig, buyer_sig,"
            " operator_sig, leaf_hash FROM entries WHERE seq = 4"
        )
    report = verify(path)
    assert str(report.first_problem).startswith(
        "entry 6 (tx_0_1_1x): seq 6 is not the expected 5: seq 5 missing"
    )
    assert any("not covered by a signed tree head" in str(p) for p in report.problems)


def test_a_deleted_entry_in_the_middle_is_reported(tmp_path, keyring, make_trades, interval_end):
    path = tmp_path / "ledger.sqlite"
    build(path, keyring, make_trades, interval_end, [3, 3])
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM entries WHERE seq = 2")
    report = verify(path)
    assert (
        str(report.first_problem)
        == "entry 3 (tx_0_1_0): seq 3 is not the expected 2: seq 2 missing (a gap in the log)"
    )


def test_a_truncated_log_is_reported_with_or_without_its_tree_heads(
    tmp_path, keyring, make_trades, interval_end
):
    path = tmp_path / "ledger.sqlite"
    heads = build(path, keyring, make_trades, interval_end, [4, 3, 5])
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM entries WHERE seq >= 10")
    report = verify(path)
    assert (
        str(report.first_problem)
        == "tree_head 2: covers 12 entries but the log holds 10: the log was truncated"
    )
    with sqlite3.connect(path) as conn:  # a careful truncation also drops the last head and its nodes
        conn.execute("DELETE FROM entries WHERE seq >= 7")
        conn.execute("DELETE FROM tree_heads WHERE head_index = 2")
        conn.execute("DELETE FROM nodes WHERE (idx + 1) << level > 7")
    assert verify(path).ok  # undetectable from inside the file alone ...
    report = verify(path, trusted_head=heads[2])  # ... but not against a head a member kept
    assert str(report.first_problem) == (
        "trusted_head 2: the log holds 7 entries, fewer than the 12 of the trusted tree head: the log was truncated"
    )


def test_a_rewritten_history_fails_the_consistency_proof_against_an_older_head(
    tmp_path, keyring, make_trades, interval_end
):
    honest = build(tmp_path / "honest.sqlite", keyring, make_trades, interval_end, [4, 3, 5])
    trades = [make_trades(k, n) for k, n in enumerate([4, 3, 5, 2])]
    trades[0].loc[1, "price_per_kwh"] = 0.01  # the operator re-signs history with a lower price
    with LocalLedger(tmp_path / "rewritten.sqlite", keyring) as ledger:
        for k, table in enumerate(trades):
            ledger.append_interval(table, interval_end(k))
    assert verify(tmp_path / "rewritten.sqlite").ok  # every signature is the operator's own
    assert verify(tmp_path / "honest.sqlite", trusted_head=honest[1]).ok
    report = verify(tmp_path / "rewritten.sqlite", trusted_head=honest[1])
    assert str(report.first_problem) == (
        "trusted_head 1: consistency proof from size 7 to 14 fails against the trusted tree head: "
        "the history before it was rewritten"
    )
    stranger = ensure_keys(tmp_path / "stranger", [])
    with LocalLedger(tmp_path / "forged.sqlite", stranger) as forger:
        forged = forger.append_interval(trades[0], interval_end(0))
    report = verify(tmp_path / "honest.sqlite", trusted_head=forged)
    assert str(report.first_problem) == "trusted_head 0: its signature does not verify under the operator key"


@pytest.mark.parametrize("pin_other", [True, False])
def test_a_pinned_operator_key_must_match(tmp_path, keyring, make_trades, interval_end, pin_other):
    path = tmp_path / "ledger.sqlite"
    build(path, keyring, make_trades, interval_end, [2])
    pinned = ensure_keys(tmp_path / "other", []).operator_public if pin_other else keyring.operator_public
    report = verify(path, operator_public=pinned)
    assert report.ok is not pin_other
    if pin_other:
        assert (
            str(report.first_problem)
            == "key operator: the registered operator key differs from the pinned one"
        )
