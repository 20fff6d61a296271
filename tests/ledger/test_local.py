"""The local ledger: append, export, proofs, tree heads, and what it refuses."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest
from pymerkle import InmemoryTree

from wattmesh.ledger import merkle
from wattmesh.ledger.audit import verify
from wattmesh.ledger.keys import ensure_keys
from wattmesh.ledger.local import (
    LedgerError,
    LocalLedger,
    entry_leaf,
    export,
    prove,
    trade_message,
    verify_proof,
)
from wattmesh.ledger.records import canonical_records


@pytest.fixture
def filled(tmp_path, keyring, make_trades, interval_end):
    """A ledger of 4 intervals (5, 0, 7 and 1 trades)."""
    path = tmp_path / "ledger.sqlite"
    tables = [make_trades(k, n) for k, n in enumerate([5, 0, 7, 1])]
    with LocalLedger(path, keyring) as ledger:
        heads = [ledger.append_interval(t, interval_end(k), t["interval"].iloc[0] if len(t) else None)
                 for k, t in enumerate(tables)]  # fmt: skip
    return path, tables, heads


def test_export_gives_back_every_trade_as_given(filled):
    path, tables, _ = filled
    given = pd.concat(tables, ignore_index=True)
    lines = [json.loads(line) for line in export(path)]
    assert len(lines) == len(given) == 13
    for row, line in zip(given.itertuples(), lines, strict=True):
        assert line["transaction_id"] == row.transaction_id
        assert (line["seller"], line["buyer"]) == (row.seller, row.buyer)
        assert line["energy_amount_kwh"] == row.energy_amount_kwh
        assert line["price_per_kwh"] == row.price_per_kwh
        assert pd.Timestamp(line["timestamp"]) == row.timestamp
        assert line["interval"] == row.interval and line["mechanism"] == "pay_as_clear"
    seed = [json.loads(line) for line in export(path, seed_only=True)]
    assert list(seed[0]) == [
        "transaction_id", "seller", "buyer", "energy_amount_kwh", "price_per_kwh", "timestamp", "status"
    ]  # fmt: skip


def test_tree_heads_carry_pymerkle_roots_of_the_entries(filled, keyring):
    path, _, heads = filled
    with LocalLedger(path, keyring) as ledger:
        rows = ledger.conn.execute(
            "SELECT seq, record, seller_sig, buyer_sig, operator_sig FROM entries ORDER BY seq"
        ).fetchall()
    leaves = [entry_leaf(s, bytes(r), bytes(a), bytes(b), bytes(o)) for s, r, a, b, o in rows]
    tree = InmemoryTree(algorithm="sha256")
    for leaf in leaves:
        tree.append_entry(leaf)
    assert [h.tree_size for h in heads] == [5, 5, 12, 13]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for head in heads:
            assert head.root_hash == tree.get_state(head.tree_size)
            part = InmemoryTree(algorithm="sha256")
            for leaf in leaves[head.first_seq : head.tree_size]:
                part.append_entry(leaf)
            expected = part.get_state() if head.tree_size > head.first_seq else merkle.EMPTY_ROOT
            assert head.interval_root == expected
            assert head.is_signed_by(keyring.operator_public)
    assert heads[1].interval_root.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_every_trade_has_a_proof_that_verifies_and_a_changed_one_does_not(filled, keyring):
    path, tables, _ = filled
    for tid in pd.concat(tables)["transaction_id"]:
        proof = prove(path, tid)
        assert verify_proof(proof, keyring.operator_public) == [], tid
    proof = prove(path, "tx_0_2_3")
    record = json.loads(proof["record"])
    record["price_per_kwh"] += 0.01
    forged = {**proof, "record": json.dumps(record, separators=(",", ":"))}
    problems = verify_proof(forged, keyring.operator_public)
    assert any("seller signature does not verify" in p for p in problems)
    assert any("operator signature over the entry does not verify" in p for p in problems)
    other = ensure_keys(path.parent / "other", [])
    assert any("differs from the pinned one" in p for p in verify_proof(proof, other.operator_public))


def test_consistency_proofs_link_every_pair_of_tree_heads(filled, keyring):
    path, _, heads = filled
    with LocalLedger(path, keyring) as ledger:
        for old in heads:
            for new in heads:
                if 0 < old.tree_size <= new.tree_size:
                    proof = ledger.consistency_path(old.tree_size, new.tree_size)
                    assert merkle.verify_consistency(
                        old.tree_size, new.tree_size, old.root_hash, new.root_hash, proof
                    )


def test_a_replayed_trade_id_is_refused_and_the_log_is_unchanged(filled, keyring, make_trades, interval_end):
    path, tables, _ = filled
    replay = make_trades(9, 3)
    replay.loc[1, "transaction_id"] = tables[2]["transaction_id"].iloc[4]
    with LocalLedger(path, keyring) as ledger:
        with pytest.raises(
            LedgerError, match=r"trade 'tx_0_2_4': transaction_id is already in the log \(entry 9\)"
        ):
            ledger.append_interval(replay, interval_end(9))
        assert ledger.size == 13 and ledger.latest_head().head_index == 3
    assert verify(path).ok


def test_a_trade_signed_with_a_key_that_is_not_the_members_is_refused(tmp_path, make_trades, interval_end):
    keyring = ensure_keys(tmp_path / "keys", [])  # the members sign on their own devices
    members = ensure_keys(tmp_path / "member_keys", ["alpha", "beta", "gamma", "delta"])
    with LocalLedger(tmp_path / "ledger.sqlite", keyring) as ledger:
        for member, public in members.member_public().items():
            ledger.register_member(member, public)
        trades = make_trades(0, 4)
        for side in ("seller", "buyer"):
            trades[f"{side}_signature"] = [None] * 4
        records, rows = canonical_records(trades.drop(columns=["seller_signature", "buyer_signature"]))
        trades["seller_signature"] = [
            members.member_keys[row["seller"]].sign(trade_message(rec))
            for rec, row in zip(records, rows, strict=True)
        ]
        good = trades.copy()
        thief = ensure_keys(tmp_path / "thief", [trades["seller"].iloc[2]])
        trades.loc[2, "seller_signature"] = thief.member_keys[trades["seller"].iloc[2]].sign(
            trade_message(records[2])
        )
        with pytest.raises(
            LedgerError,
            match=f"trade 'tx_0_0_2': seller signature refused: it does not verify under the key registered "
            f"for member '{trades['seller'].iloc[2]}'",
        ):
            ledger.append_interval(trades, interval_end(0))
        assert ledger.size == 0
        ledger.append_interval(good, interval_end(0))
    report = verify(tmp_path / "ledger.sqlite")
    assert report.ok, report.summary()


def test_intervals_must_come_in_time_order_and_the_key_must_match(
    tmp_path, keyring, make_trades, interval_end
):
    path = tmp_path / "ledger.sqlite"
    with LocalLedger(path, keyring) as ledger:
        ledger.append_interval(make_trades(3, 2), interval_end(3))
        with pytest.raises(LedgerError, match="is not after the last tree head's time 2025-07-15T10:00:00Z"):
            ledger.append_interval(make_trades(1, 2), interval_end(1))
    with pytest.raises(LedgerError, match="the operator is registered with key"):
        LocalLedger(path, ensure_keys(tmp_path / "other", []))


def test_open_ledger_gives_either_backend_with_the_same_append(tmp_path, keyring, make_trades, interval_end):
    from wattmesh.ledger import open_ledger

    for backend in ("local", "evm"):
        ledger = open_ledger(backend, tmp_path / f"{backend}.sqlite", keyring)
        ledger.append_interval(make_trades(0, 3), interval_end(0))
        head = ledger.append_interval(pd.DataFrame(), interval_end(1), "2025-07-15T09:15:00Z")
        assert (head.tree_size, head.first_seq, head.interval) == (3, 3, "2025-07-15T09:15:00Z")
        ledger.close()
        assert verify(tmp_path / f"{backend}.sqlite").ok
    with pytest.raises(ValueError, match="ledger backend 'ipfs'"):
        open_ledger("ipfs", tmp_path / "x.sqlite", keyring)


def test_without_party_signatures_only_the_operator_signs(tmp_path, keyring, make_trades, interval_end):
    path = tmp_path / "ledger.sqlite"
    with LocalLedger(path, keyring, party_signatures=False) as ledger:
        ledger.append_interval(make_trades(0, 5), interval_end(0))
        sigs = ledger.conn.execute(
            "SELECT seller_sig, buyer_sig, length(operator_sig) FROM entries"
        ).fetchall()
    assert sigs == [(b"", b"", 64)] * 5
    report = verify(path)
    assert report.ok and report.signatures == 5 + 1 + 5 + 1  # 5 key registrations, meta, 5 entries, 1 head
    assert report.notes == [
        "5 of 5 entries carry no seller or buyer signature: only the operator signed them "
        "(party signatures optional)"
    ]
    assert "5 of 5 entries carry no seller or buyer signature" in report.summary()


def test_a_whole_run_in_the_simulators_format_is_appended_interval_by_interval(tmp_path, keyring):
    from wattmesh.ledger import append_intervals

    starts = pd.date_range("2016-06-10", periods=4, freq="15min", tz="UTC")
    stamps = pd.Categorical.from_codes([3, 0, 0, 2, 3], categories=starts.strftime("%Y-%m-%dT%H:%M:%SZ"))
    members = pd.Index(["alpha", "beta", "gamma", "delta"])
    trades = pd.DataFrame(
        {
            "transaction_id": [f"tx_run{i:04d}" for i in range(5)],
            "seller": pd.Categorical.from_codes([0, 1, 2, 0, 3], categories=members),
            "buyer": pd.Categorical.from_codes([1, 2, 0, 3, 0], categories=members),
            "energy_amount_kwh": [0.5, 1.25, 0.1, 2.0, 0.75],
            "price_per_kwh": 0.12,
            "timestamp": stamps,
            "status": "completed",
            "interval": stamps,
            "mechanism": "pay_as_clear",
        }
    )
    path = tmp_path / "run.sqlite"
    with LocalLedger(path, keyring) as ledger:
        heads = append_intervals(ledger, trades, starts, "15min")
    assert [(h.first_seq, h.tree_size) for h in heads] == [(0, 2), (2, 2), (2, 3), (3, 5)]
    assert [h.timestamp for h in heads] == ["2016-06-10T00:15:00Z", "2016-06-10T00:30:00Z",
                                             "2016-06-10T00:45:00Z", "2016-06-10T01:00:00Z"]  # fmt: skip
    exported = [json.loads(line)["transaction_id"] for line in export(path)]
    assert exported == ["tx_run0001", "tx_run0002", "tx_run0003", "tx_run0000", "tx_run0004"]
    assert verify(path).ok
    with (
        LocalLedger(tmp_path / "other.sqlite", keyring) as ledger,
        pytest.raises(LedgerError, match="interval"),
    ):
        append_intervals(ledger, trades, starts[:2], "15min")


def ledger_rows(path) -> dict[str, list]:
    """Every row of the tables an append writes, read with plain sqlite3."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            for table, order in (("entries", "seq"), ("nodes", "level, idx"), ("tree_heads", "head_index"))
        }
    finally:
        conn.close()


def test_a_batch_of_intervals_is_written_byte_for_byte_as_interval_by_interval(
    tmp_path, keyring, make_trades
):
    from wattmesh.ledger import append_intervals

    sizes = [3, 0, 40, 1, 0, 0, 17, 2] * 2  # empty intervals and odd sizes: partial subtrees everywhere
    tables = [make_trades(k, n) for k, n in enumerate(sizes)]
    starts = pd.date_range("2025-07-15T09:00:00Z", periods=len(sizes), freq="15min")
    ends = starts + pd.Timedelta("15min")
    batched, one_by_one = tmp_path / "batched.sqlite", tmp_path / "one_by_one.sqlite"
    with LocalLedger(batched, keyring) as ledger:  # two batches: the second extends nodes already on disk
        heads = append_intervals(ledger, pd.concat(tables[:8], ignore_index=True), starts[:8], "15min")
        heads += append_intervals(ledger, pd.concat(tables[8:], ignore_index=True), starts[8:], "15min")
    with LocalLedger(one_by_one, keyring) as ledger:
        reference = [ledger.append_interval(t, ends[k], starts[k]) for k, t in enumerate(tables)]
    assert heads == reference
    rows = ledger_rows(batched)
    assert rows == ledger_rows(one_by_one)
    assert [len(rows[t]) for t in ("entries", "tree_heads")] == [sum(sizes), len(sizes)]
    assert verify(batched).ok


def test_a_batch_with_a_bad_trade_writes_nothing(tmp_path, keyring, make_trades):
    from wattmesh.ledger import append_intervals

    tables = [make_trades(k, 3) for k in range(3)]
    tables[2].loc[1, "transaction_id"] = tables[0]["transaction_id"].iloc[0]  # a replay two intervals later
    starts = pd.date_range("2025-07-15T09:00:00Z", periods=3, freq="15min")
    with LocalLedger(tmp_path / "ledger.sqlite", keyring) as ledger:
        with pytest.raises(LedgerError, match=tables[0]["transaction_id"].iloc[0]):
            append_intervals(ledger, pd.concat(tables, ignore_index=True), starts, "15min")
        assert ledger.size == 0 and ledger.latest_head() is None


def test_the_audit_reports_entries_verified_as_it_goes(filled):
    path, tables, _ = filled
    calls = []
    assert verify(path, progress=lambda done, total: calls.append((done, total))).ok
    entries = sum(len(t) for t in tables)
    assert calls[0] == (0, entries) and calls[-1] == (entries, entries)
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:], strict=False))
