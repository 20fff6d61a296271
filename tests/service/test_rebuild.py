"""A Hypothesis state machine over order sequences: the journal rebuilds the live state exactly."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from wattmesh.service.engine import Exchange, rebuild_state

from .helpers import make_coop

STEP = pd.Timedelta(minutes=15)


class OrderSequences(RuleBasedStateMachine):
    """Orders, amends, cancels, clock moves and readings in any order, decided by the single writer."""

    @initialize()
    def open_exchange(self):
        self.folder = Path(tempfile.mkdtemp(prefix="wattmesh-sm-"))
        self.exchange = Exchange(make_coop(self.folder / "coop", n_members=3), synchronous="OFF").open()
        self.seq = {"operator": 0, "home_0": 0, "home_1": 0, "home_2": 0}
        self.count = 0

    def call(self, kind, signer, body):
        self.seq[signer] += 1
        return self.exchange.call(kind, signer, self.seq[signer], body, path=f"/{kind}")

    def next_interval(self) -> pd.Timestamp:
        return pd.Timestamp(self.exchange.state.next_interval)

    @rule(member=st.integers(0, 2), side=st.sampled_from(["buy", "sell"]), ahead=st.integers(0, 2),
          energy_wh=st.integers(1, 5000), price=st.integers(-1000, 50000))  # fmt: skip
    def place(self, member, side, ahead, energy_wh, price):
        self.count += 1
        delivery = (self.next_interval() + ahead * STEP).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.call("order", f"home_{member}", {"order_id": f"o{self.count}", "side": side, "delivery_start": delivery,
                                              "energy_wh": energy_wh, "price_per_kwh_e5": price})  # fmt: skip

    @precondition(lambda self: self.exchange.state.orders)
    @rule(pick=st.integers(0, 10**6), energy_wh=st.none() | st.integers(1, 5000), price=st.integers(0, 50000))
    def amend(self, pick, energy_wh, price):
        orders = sorted(self.exchange.state.orders.values(), key=lambda o: o["order_id"])
        order = orders[pick % len(orders)]
        self.call("amend", order["member_id"], {"order_id": order["order_id"], "energy_wh": energy_wh,
                                                "price_per_kwh_e5": price})  # fmt: skip

    @precondition(lambda self: self.exchange.state.orders)
    @rule(pick=st.integers(0, 10**6))
    def cancel(self, pick):
        orders = sorted(self.exchange.state.orders.values(), key=lambda o: o["order_id"])
        order = orders[pick % len(orders)]
        self.call("cancel", order["member_id"], {"order_id": order["order_id"]})

    @rule(minutes=st.integers(1, 40))
    def move_clock(self, minutes):
        now = pd.Timestamp(self.exchange.state.now) + pd.Timedelta(minutes=minutes)
        self.call("operator_clock", "operator", {"now": now.strftime("%Y-%m-%dT%H:%M:%SZ")})

    @precondition(lambda self: self.exchange.state.clearings)
    @rule(member=st.integers(0, 2), energy_wh=st.integers(-3000, 3000))
    def reading(self, member, energy_wh):
        interval = max(self.exchange.state.clearings)
        self.call("readings", "operator", {"readings": [{"member_id": f"home_{member}", "interval": interval,
                                                         "energy_wh": energy_wh}]})  # fmt: skip

    @invariant()
    def book_levels_are_the_open_orders(self):
        if not hasattr(self, "exchange"):
            return
        levels: dict = {}
        for order in self.exchange.state.orders.values():
            if order["status"] == "open":
                key = (order["delivery_start"], order["side"], order["price_per_kwh_e5"])
                levels[key] = levels.get(key, 0) + order["energy_wh"]
        assert levels == dict(self.exchange.state.levels)

    def teardown(self):
        if hasattr(self, "exchange"):
            live = self.exchange.state.state_hash()
            rebuilt = rebuild_state(self.exchange.journal)
            assert rebuilt.state_hash() == live
            assert rebuilt.journal_id == self.exchange.state.journal_id
            self.exchange.close()
            shutil.rmtree(self.folder, ignore_errors=True)


OrderSequences.TestCase.settings = settings(
    max_examples=25, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_journal_rebuild_gives_the_live_state_hash = OrderSequences.TestCase
