"""A whole day (96 intervals) of a 120-member community through the API gives the simulator's trades
and bills: per member and interval the same energy and money as `wattmesh.exchange.clear_positions` and
`settle_positions` (the simulator's step) on the same orders, and the same day's bills."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wattmesh.exchange import clear_positions, settle_positions

from .helpers import START, make_coop, trade_day

T, M = 96, 120


@pytest.mark.slow
def test_a_day_through_the_api_equals_the_simulators_exchange_step(tmp_path):
    coop = make_coop(tmp_path / "coop", n_members=M)
    rng = np.random.default_rng(2016)
    index = pd.date_range(START, periods=T, freq="15min")
    position_wh = rng.integers(-3000, 3000, size=(T, M))  # + surplus (ask), - deficit (bid)
    price_e5 = np.stack([rng.choice(np.arange(6000, 42000), size=M, replace=False) for _ in range(T)])
    metered_wh = position_wh + rng.integers(-400, 400, size=(T, M))  # the meters differ from the plan
    members = [f"home_{m}" for m in range(M)]
    stamps = index.strftime("%Y-%m-%dT%H:%M:%SZ")
    exchange, bills = trade_day(coop, members, index, position_wh, price_e5, metered_wh, "2026-06")
    state = exchange.state
    assert len(state.statements) == T
    bought, sold, paid, received = (np.zeros((T, M)) for _ in range(4))
    column = {m: k for k, m in enumerate(members)}
    for t, stamp in enumerate(stamps):
        for trade in state.clearings[stamp]["trades"]:
            energy = trade["energy_amount_kwh"]
            bought[t, column[trade["buyer"]]] += energy
            sold[t, column[trade["seller"]]] += energy
            paid[t, column[trade["buyer"]]] += energy * (trade["price_per_kwh"] + trade["grid_fee_per_kwh"])
            received[t, column[trade["seller"]]] += energy * trade["price_per_kwh"]

    retail, feed_in = np.array([coop.tariffs(s) for s in index]).T
    deficit = np.maximum(-position_wh, 0) / 1000.0
    surplus = np.maximum(position_wh, 0) / 1000.0
    clearing = clear_positions(deficit, price_e5 / 1e5, surplus, price_e5 / 1e5, mechanism="pay_as_clear",
                               fee_per_kwh=coop.local_fee_per_kwh, retail_per_kwh=retail, feed_in_per_kwh=feed_in,
                               rng=np.random.default_rng(0), price_rule="midpoint")  # fmt: skip
    # trade records round energy and prices to 1e-6: compare to a millionth of a kWh per trade
    np.testing.assert_allclose(bought, clearing.bid_fill_kwh, atol=1e-4)
    np.testing.assert_allclose(sold, clearing.ask_fill_kwh, atol=1e-4)
    np.testing.assert_allclose(paid, clearing.bid_payment, atol=1e-4)
    np.testing.assert_allclose(received, clearing.ask_revenue, atol=1e-4)
    assert clearing.volume_kwh.sum() > 100  # the day trades: the comparison is not of zeros
    statements = settle_positions(clearing, metered_wh / 1000.0, retail, feed_in)
    np.testing.assert_allclose(bills.loc[members, "bill"].to_numpy(), statements.bill.sum(axis=0), atol=1e-3)
    np.testing.assert_allclose(bills.loc[members, "import_kwh"].to_numpy(), statements.import_kwh.sum(axis=0),
                               atol=1e-3)  # fmt: skip
    # `wattmesh ledger verify`, as a member runs it, on the exchange's ledger of the cleared day, unchanged
    done = subprocess.run([str(Path(sys.executable).with_name("wattmesh")), "ledger", "verify", str(coop.ledger_path)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    trades = sum(len(c["trades"]) for c in state.clearings.values())
    # one tree head per cleared interval: the day's and the empty one the last clock move closed too
    heads = len(state.clearings)
    assert heads >= T and done.stdout.startswith(f"OK: {trades} entries, {heads} tree heads, "), done.stdout
