"""Crash safety: the server is killed with SIGKILL at random moments while a client posts orders.

After each restart every acknowledged order is in the journal, no trade is lost or doubled (the ledger holds
exactly the journal's trades, once each, and re-clearing the journaled orders gives them again), the ledger
verifies, and every signed tree head published before a kill is still in the log, unchanged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pandas as pd
import pytest

from wattmesh.exchange import clear_interval
from wattmesh.ledger import export, verify
from wattmesh.service.client import ExchangeClient
from wattmesh.service.engine import Exchange, interval_seed, rebuild_state
from wattmesh.service.journal import Journal

from .helpers import START, free_port, make_coop, secret_of, serve

KILLS = 20


def start_server(folder, port: int) -> subprocess.Popen:
    """The exchange as ``python -m wattmesh.service`` (no console-script start-up), healthy within 90 s."""
    return serve(folder, port, command=[sys.executable, "-m", "wattmesh.service"], seconds=90)


def post_until_killed(url, coop, rng, acked: dict, heads: list, stop: threading.Event) -> None:
    """Post orders (and move the market clock every few orders) until the server dies or ``stop``."""
    members = [ExchangeClient(url, f"home_{i}", secret_of(coop, f"home_{i}")) for i in range(4)]
    operator = ExchangeClient(url, "operator", secret_of(coop, "operator"))
    step = pd.Timedelta(minutes=15)
    try:
        for k in range(10_000):
            if stop.is_set():
                return
            next_interval = pd.Timestamp(operator.http.get("/health").json()["next_interval"])
            if k % 12 == 11:
                gate = next_interval - pd.Timedelta(minutes=5)
                operator.set_clock(gate.strftime("%Y-%m-%dT%H:%M:%SZ"))
                heads.append(operator.sth()["tree_head"])
                continue
            member = members[int(rng.integers(4))]
            delivery = (next_interval + step * int(rng.integers(0, 3))).strftime("%Y-%m-%dT%H:%M:%SZ")
            order_id = f"c{len(acked)}-{k}-{rng.integers(1 << 30)}"
            side = "buy" if rng.random() < 0.5 else "sell"
            response = member.place_order(order_id, side, delivery, int(rng.integers(100, 3000)),
                                          int(rng.integers(5000, 40000)))  # fmt: skip
            if response.status_code == 200:
                acked[order_id] = response.json()
    except (httpx.TransportError, ValueError):
        return  # the server was killed


def check_journal_and_ledger(coop, acked: dict, heads: list) -> None:
    journal = Journal(coop.default_db_url)
    state = rebuild_state(journal)
    journal.close()
    missing = sorted(set(acked) - set(state.orders))
    assert not missing, f"acknowledged orders not in the journal: {missing[:5]}"
    journal_trades = [t["transaction_id"] for c in state.clearings.values() for t in c["trades"]]
    assert len(journal_trades) == len(set(journal_trades)), "a trade is doubled in the journal"
    ledger_trades = [line.split('"transaction_id":"')[1][:19] for line in export(coop.ledger_path)]
    assert sorted(ledger_trades) == sorted(journal_trades), "the ledger and the journal hold different trades"
    report = verify(coop.ledger_path)
    assert report.problems == [], report.problems[:3]
    recorded = {h["head_index"]: h for h in _heads(coop)}
    for head in heads:
        if head is not None:
            assert recorded.get(head["head_index"]) == head, (
                f"published tree head {head['head_index']} changed"
            )
    # re-clearing each interval's journaled orders gives the journaled trades again: none lost
    for interval, clearing in state.clearings.items():
        orders = [o for o in state.orders.values() if o["delivery_start"] == interval]
        if not orders:
            assert clearing["trades"] == []
            continue
        table = pd.DataFrame(
            {
                "order_id": [o["order_id"] for o in orders],
                "member_id": [o["member_id"] for o in orders],
                "side": [o["side"] for o in orders],
                "energy_kwh": np.array([o["energy_wh"] for o in orders], float) / 1000,
                "price_per_kwh": np.array([o["price_per_kwh_e5"] for o in orders], float) / 1e5,
                "delivery_start": pd.Timestamp(interval),
            }
        ).sort_values("order_id")
        again = clear_interval(table, coop.mechanism, delivery_start=interval, fee_per_kwh=coop.local_fee_per_kwh,
                               scope=coop.scope, seed=interval_seed(coop.scope, coop.seed, interval),
                               member_ids=clearing["members"], timestamp=pd.Timestamp(clearing["gate_at"]),
                               price_rule=coop.price_rule)  # fmt: skip
        assert again.trades["transaction_id"].tolist() == [t["transaction_id"] for t in clearing["trades"]]
        assert again.trades["energy_amount_kwh"].tolist() == [
            t["energy_amount_kwh"] for t in clearing["trades"]
        ]


def _heads(coop) -> list[dict]:
    import sqlite3

    from wattmesh.ledger.local import TreeHead

    conn = sqlite3.connect(f"file:{coop.ledger_path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT head_index, tree_size, first_seq, timestamp, interval, root_hash, interval_root, signature "
            "FROM tree_heads ORDER BY head_index"
        ).fetchall()
    finally:
        conn.close()
    return [TreeHead(*r[:5], bytes(r[5]), bytes(r[6]), bytes(r[7])).to_dict() for r in rows]


@pytest.mark.slow
@pytest.mark.integration
def test_sigkill_at_random_moments_loses_no_acknowledged_order_and_no_trade(tmp_path):
    coop = make_coop(tmp_path / "coop", n_members=4)
    rng = np.random.default_rng(13)
    acked: dict = {}
    heads: list = []
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    kills_done = 0
    for _ in range(KILLS):
        process = start_server(coop.folder, port)  # opening catches the ledger up with the journal
        try:
            check_journal_and_ledger(coop, acked, heads)
            stop = threading.Event()
            poster = threading.Thread(target=post_until_killed, args=(url, coop, rng, acked, heads, stop))
            poster.start()
            time.sleep(float(rng.uniform(0.2, 1.5)))
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            kills_done += 1
            stop.set()
            poster.join(timeout=60)
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
    process = start_server(coop.folder, port)
    try:
        check_journal_and_ledger(coop, acked, heads)
        final_heads = httpx.get(f"{url}/ledger/sth", params={"all": "true"}).json()["tree_heads"]
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    state = rebuild_state(Journal(coop.default_db_url))
    assert len(final_heads) == len(state.clearings)
    assert kills_done == KILLS and len(acked) > 50 and len(state.clearings) >= 5
    assert START <= min(state.clearings)


def test_a_clock_move_journaled_before_a_crash_closes_its_gate_before_the_exchange_is_ready(tmp_path):
    """The crash between journaling an operator's clock move and clearing the gate it passes: the reopened
    exchange clears that interval and appends it to the ledger within ``open()``, before it serves anyone
    (the first readers of a restarted exchange see it caught up, and no append runs under them)."""
    coop = make_coop(tmp_path / "coop", n_members=2)
    exchange = Exchange(coop, synchronous="OFF").open()
    interval = exchange.state.next_interval
    for seq, (member, side, price) in enumerate([("home_0", "sell", 8000), ("home_1", "buy", 20000)], 1):
        outcome = exchange.call("order", member, seq, {"order_id": f"{member}-1", "side": side,
                                                       "delivery_start": interval, "energy_wh": 1500,
                                                       "price_per_kwh_e5": price}, path="/orders")  # fmt: skip
        assert outcome.status == 200, outcome.body
    exchange._close_due_gates = lambda: None  # killed after the clock move's commit, before its clearing
    gate = (pd.Timestamp(interval) - pd.Timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert exchange.call("operator_clock", "operator", 1, {"now": gate}, path="/operator/clock").status == 200
    assert interval not in exchange.state.clearings
    exchange.close()

    reopened = Exchange(coop, synchronous="OFF").open()
    try:
        trades = reopened.state.clearings[interval]["trades"]
        assert [(t["seller"], t["buyer"], t["energy_amount_kwh"]) for t in trades] == [
            ("home_0", "home_1", 1.5)
        ]
        report = verify(coop.ledger_path)
        assert report.problems == [] and report.entries == 1 and report.tree_heads == 1
        assert reopened.heads[-1]["interval"] == interval
    finally:
        reopened.close()
