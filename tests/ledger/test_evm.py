"""The chain backend on eth-tester (py-evm): anchor and settle, receipts, reverts, and verify --chain."""

from __future__ import annotations

import json
import sqlite3
import warnings

import pandas as pd
import pytest
from pymerkle import InmemoryTree

from wattmesh.ledger.audit import verify
from wattmesh.ledger.contract import ARTEFACT, compile_contract, load_artefact
from wattmesh.ledger.evm import Chain, ChainConfig, ChainError, EvmLedger
from wattmesh.ledger.local import entry_leaf, prove, verify_proof
from wattmesh.tables import TRADE_FIELDS


@pytest.fixture(scope="module")
def web3():
    from web3 import EthereumTesterProvider, Web3

    return Web3(EthereumTesterProvider())


def test_recompiling_the_contract_gives_the_checked_in_bytecode():
    fresh = compile_contract()
    stored = json.loads(ARTEFACT.read_text())
    assert fresh["bytecode"] == stored["bytecode"]
    assert fresh["abi"] == stored["abi"]
    assert stored["evm_version"] == "london" and stored["source_sha256"] == fresh["source_sha256"]
    assert load_artefact()["bytecode"].startswith("0x")


def interval_roots_by_pymerkle(path) -> list[bytes]:
    """Each tree head's interval root recomputed with pymerkle from the stored entries."""
    conn = sqlite3.connect(path)
    entries = conn.execute(
        "SELECT seq, record, seller_sig, buyer_sig, operator_sig FROM entries ORDER BY seq"
    ).fetchall()
    heads = conn.execute("SELECT first_seq, tree_size FROM tree_heads ORDER BY head_index").fetchall()
    conn.close()
    leaves = [entry_leaf(s, bytes(r), bytes(a), bytes(b), bytes(o)) for s, r, a, b, o in entries]
    roots = []
    for first, size in heads:
        tree = InmemoryTree(algorithm="sha256")
        for leaf in leaves[first:size]:
            tree.append_entry(leaf)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            roots.append(
                tree.get_state()
                if size > first
                else bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
            )
    return roots


def test_anchor_mode_stores_each_interval_root_on_chain(tmp_path, web3, keyring, make_trades, interval_end):
    path = tmp_path / "anchor.sqlite"
    ledger = EvmLedger(path, keyring, "anchor", Chain(web3=web3))
    for k, n in enumerate([6, 0, 3]):
        ledger.append_interval(make_trades(k, n), interval_end(k), make_trades(k, 1)["interval"].iloc[0])
    heads = ledger.local.heads()
    on_chain = [ledger.chain.root_of(h) for h in heads]
    assert on_chain == interval_roots_by_pymerkle(path)
    assert ledger.verify_chain() == []
    gas = [row[0] for row in ledger.local.conn.execute("SELECT gas_used FROM chain_txs")]
    assert len(gas) == 3 and all(21_000 < g < 100_000 for g in gas)
    proof = prove(path, "tx_0_2_1")
    assert verify_proof(proof, keyring.operator_public) == []
    assert proof["chain"][0]["mode"] == "anchor" and proof["chain"][0]["contract"] == ledger.chain.address
    assert bytes.fromhex(proof["interval_head"]["interval_root"]) == on_chain[2]
    assert verify(path).ok
    ledger.close()


def test_settle_mode_moves_credits_as_worked_out_by_hand(tmp_path, web3, keyring, make_trades, interval_end):
    path = tmp_path / "settle.sqlite"
    ledger = EvmLedger(path, keyring, "settle", Chain(ChainConfig(batch_size=4), web3=web3))
    tables = [make_trades(k, n, seed=5) for k, n in enumerate([10, 3])]
    for k, table in enumerate(tables):
        ledger.append_interval(table, interval_end(k))
    trades = pd.concat(tables)
    expected = {m: 0 for m in ("alpha", "beta", "gamma", "delta")}
    for row in trades.itertuples():
        credit = round(row.energy_amount_kwh * row.price_per_kwh * 1e6)
        expected[row.seller] += credit
        expected[row.buyer] -= credit
    assert {m: ledger.chain.credit_micro(m) for m in expected} == expected
    heads = ledger.local.heads()
    assert [ledger.chain.settled_trades(h) for h in heads] == [10, 3]
    events = ledger.chain.contract.events.TradeSettled.get_logs(from_block=0)
    assert len(events) == 13
    txs = ledger.local.conn.execute("SELECT head_index, trades FROM chain_txs ORDER BY rowid").fetchall()
    assert txs == [(0, 0), (0, 0), (0, 10), (1, 3)]  # 10 trades in batches of 4, then 3
    assert ledger.verify_chain() == [] and verify(path).ok
    ledger.close()


@pytest.mark.parametrize(
    ("mode", "reason"), [("settle", "interval already settled"), ("anchor", "interval already anchored")]
)
def test_writing_an_interval_twice_reverts_and_leaves_the_local_log_unchanged(
    tmp_path, web3, keyring, make_trades, interval_end, mode, reason
):
    chain = Chain(web3=web3)
    first = EvmLedger(tmp_path / "first.sqlite", keyring, mode, chain)
    first.append_interval(make_trades(0, 3), interval_end(0))
    second = EvmLedger(tmp_path / "second.sqlite", keyring, mode, chain)  # same contract, fresh local log
    with pytest.raises(
        ChainError, match=f"interval ending 2025-07-15T09:15:00Z: the contract refused it: {reason}"
    ):
        second.append_interval(make_trades(0, 2, seed=1), interval_end(0))
    assert second.local.size == 0 and second.local.latest_head() is None
    assert second.local.conn.execute("SELECT COUNT(*) FROM chain_txs").fetchone()[0] == 0
    second.append_interval(make_trades(1, 2, seed=1), interval_end(1))  # the next interval still works
    assert second.local.size == 2
    first.close()
    second.close()


def test_verify_chain_reports_an_interval_whose_local_entries_changed(
    tmp_path, web3, keyring, make_trades, interval_end
):
    path = tmp_path / "anchor.sqlite"
    ledger = EvmLedger(path, keyring, "anchor", Chain(web3=web3))
    for k in range(3):
        ledger.append_interval(make_trades(k, 2), interval_end(k))
    with ledger.local.conn:
        ledger.local.conn.execute(
            "UPDATE entries SET record = replace(record, '\"completed\"', '\"cancelled\"') WHERE seq = 3"
        )
    problems = ledger.verify_chain()
    assert [str(p).split(":")[0] for p in problems] == ["chain 1 (interval ending 2025-07-15T09"]
    assert "differs from the local log's" in str(problems[0])
    ledger.close()


def test_bad_chain_configuration_is_refused(tmp_path, web3, keyring):
    chain = Chain(web3=web3)
    with pytest.raises(ChainError, match=r"chain id \d+ of eth-tester is not the expected 1"):
        Chain(ChainConfig(chain_id=1), web3=web3)
    with pytest.raises(ChainError, match="no contract code"):
        Chain(ChainConfig(contract_address="0x" + "11" * 20), web3=web3)
    with pytest.raises(ValueError, match="mode 'mint'"):
        EvmLedger(tmp_path / "x.sqlite", keyring, "mint", chain)
    with pytest.raises(ValueError, match="batch_size 501"):
        Chain(ChainConfig(batch_size=501), web3=web3)


def test_the_fast_settle_encoding_equals_web3s(web3):
    from wattmesh.ledger.evm import settle_calldata

    chain = Chain(web3=web3)
    trades = [(bytes([i]) * 32, b"\x01" * 32, b"\x02" * 32, 1500 + i, -7 * i) for i in range(3)]
    ours = settle_calldata(1752570900, 2, trades, True, b"\x09" * 32)
    theirs = chain.contract.functions.settle(
        1752570900, 2, trades, True, b"\x09" * 32
    )._encode_transaction_data()
    assert "0x" + ours.hex() == theirs


def test_a_trade_proof_holds_against_the_root_on_chain(tmp_path, web3, keyring, make_trades, interval_end):
    from wattmesh.ledger.evm import verify_proof_on_chain

    path = tmp_path / "anchor.sqlite"
    ledger = EvmLedger(path, keyring, "anchor", Chain(web3=web3))
    for k in range(2):
        ledger.append_interval(make_trades(k, 3), interval_end(k))
    proof = prove(path, "tx_0_1_2")
    assert verify_proof_on_chain(proof, ledger.chain, keyring.operator_public) == []
    other = EvmLedger(tmp_path / "other.sqlite", keyring, "anchor", Chain(web3=web3))  # another contract
    assert "no root on chain" in verify_proof_on_chain(proof, other.chain)[0]
    other.append_interval(make_trades(0, 1, seed=9), interval_end(0))
    other.append_interval(make_trades(1, 1, seed=9), interval_end(1))
    assert "differs from the proof's interval root" in verify_proof_on_chain(proof, other.chain)[0]
    ledger.close()
    other.close()


@pytest.mark.parametrize(
    ("field", "old", "new"),
    [
        ("grid_fee_per_kwh", '"grid_fee_per_kwh":', '"grid_fee_per_kwh":1'),
        ("buy_order_id", "bid_0_1_1", "bid_0_1_0"),
    ],
)
def test_the_settled_leaf_covers_every_field_of_the_trade_record(
    tmp_path, web3, keyring, make_trades, interval_end, field, old, new
):
    path = tmp_path / "settle.sqlite"
    ledger = EvmLedger(path, keyring, "settle", Chain(web3=web3))
    for k in range(2):
        ledger.append_interval(make_trades(k, 3), interval_end(k))
    records = [json.loads(r) for (r,) in ledger.local.conn.execute("SELECT record FROM entries ORDER BY seq")]
    assert all(tuple(r) == TRADE_FIELDS for r in records)
    assert [ledger.chain.root_of(h) for h in ledger.local.heads()] == interval_roots_by_pymerkle(path)
    with ledger.local.conn:
        changed = ledger.local.conn.execute(
            "UPDATE entries SET record = replace(record, ?, ?) WHERE seq = 4", (old, new)
        ).rowcount
    assert changed == 1 and json.loads(ledger.local.conn.execute(
        "SELECT record FROM entries WHERE seq = 4").fetchone()[0])[field] != records[4][field]  # fmt: skip
    problems = ledger.verify_chain()
    assert [str(p).split(":")[0] for p in problems] == ["chain 1 (interval ending 2025-07-15T09"]
    assert "differs from the local log's" in str(problems[0])
    ledger.close()
