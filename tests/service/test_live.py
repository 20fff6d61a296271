"""`wattmesh live` for a short day: its trades equal the simulator's clearing of the same orders, and every
member's bill balances against its trades and its metered exchange with the utility."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from wattmesh.exchange import clear_positions
from wattmesh.service.coop import load_coop

INTERVALS = 8
DAY = "2016-06-15T10:00"  # a sunny morning, one tariff window (retail 0.32, feed-in 0.08 all along)


@pytest.fixture
def live_day(tmp_path_factory):
    out = tmp_path_factory.mktemp("live") / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-c", "from wattmesh.cli import main; main()", "live", "--out", str(out),
               "--day", DAY, "--intervals", str(INTERVALS), "--members", "8", "--speed", "900",
               "--forecaster", "naive", "--port", "0"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    trades = [json.loads(x) for x in (out / "trades.jsonl").read_text().splitlines()]
    return out, load_coop(out / "coop"), pd.read_csv(out / "orders.csv"), pd.DataFrame(trades)


def check_live_trades_equal_the_simulators_clearing_of_the_same_orders(live_day):
    out, coop, orders, trades = live_day
    assert len(trades) > 0, "a sunny morning without a single local trade"
    members = sorted(set(orders["member_id"]) | set(trades["seller"]) | set(trades["buyer"]))
    index = pd.date_range(pd.Timestamp(DAY, tz="UTC"), periods=INTERVALS, freq="15min").strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    col = {m: k for k, m in enumerate(members)}
    shape = (len(index), len(members))
    deficit, surplus = np.zeros(shape), np.zeros(shape)
    bid, ask = np.zeros(shape), np.zeros(shape)
    for o in orders.itertuples():
        t, m = list(index).index(o.delivery_start), col[o.member_id]
        energy, price = o.energy_wh / 1000, o.price_per_kwh_e5 / 1e5
        if o.side == "buy":
            deficit[t, m], bid[t, m] = energy, price
        else:
            surplus[t, m], ask[t, m] = energy, price
    retail, feed_in = zip(*(coop.tariffs(pd.Timestamp(s)) for s in index), strict=True)
    simulated = clear_positions(deficit, bid, surplus, ask, mechanism=coop.mechanism,
                                fee_per_kwh=coop.local_fee_per_kwh, retail_per_kwh=np.array(retail),
                                feed_in_per_kwh=np.array(feed_in), rng=np.random.default_rng(0),
                                price_rule=coop.price_rule)  # fmt: skip
    bought = trades.pivot_table(index="interval", columns="buyer", values="energy_amount_kwh", aggfunc="sum")
    sold = trades.pivot_table(index="interval", columns="seller", values="energy_amount_kwh", aggfunc="sum")
    bought = bought.reindex(index=index, columns=members).fillna(0.0).to_numpy()
    sold = sold.reindex(index=index, columns=members).fillna(0.0).to_numpy()
    np.testing.assert_allclose(bought.sum(axis=1), simulated.volume_kwh, atol=1e-5)
    np.testing.assert_allclose(bought, simulated.bid_fill_kwh, atol=1e-5)
    np.testing.assert_allclose(sold, simulated.ask_fill_kwh, atol=1e-5)
    revenue = (trades["energy_amount_kwh"] * trades["price_per_kwh"]).groupby(trades["interval"]).sum()
    np.testing.assert_allclose(
        revenue.reindex(index).fillna(0.0), simulated.ask_revenue.sum(axis=1), atol=1e-5
    )


def check_every_members_bill_balances(live_day):
    out, coop, orders, trades = live_day
    table = pd.read_csv(out / "members.csv").set_index("member_id")
    retail, feed_in = coop.tariffs(pd.Timestamp(DAY, tz="UTC"))
    for member, row in table.iterrows():
        mine_buy = trades[trades["buyer"] == member]
        mine_sell = trades[trades["seller"] == member]
        bought, sold = mine_buy["energy_amount_kwh"].sum(), mine_sell["energy_amount_kwh"].sum()
        assert row["bought_kwh"] == pytest.approx(bought, abs=1e-6)
        assert row["sold_kwh"] == pytest.approx(sold, abs=1e-6)
        # what the meter measured is what it traded plus what it exchanged with the utility
        assert row["metered_kwh"] == pytest.approx(
            sold - bought + row["export_kwh"] - row["import_kwh"], abs=1e-6
        )
        local = (
            mine_buy["energy_amount_kwh"] * (mine_buy["price_per_kwh"] + mine_buy["grid_fee_per_kwh"])
        ).sum()
        local -= (mine_sell["energy_amount_kwh"] * mine_sell["price_per_kwh"]).sum()
        utility = row["import_kwh"] * retail - row["export_kwh"] * feed_in
        assert row["bill"] == pytest.approx(local + utility, abs=1e-6), member
    assert table["bought_kwh"].sum() == pytest.approx(table["sold_kwh"].sum(), abs=1e-6)


def test_wattmesh_live_for_a_short_day(live_day):
    """One `wattmesh live` run checked as a whole (a module fixture would run again on every xdist worker)."""
    check_live_trades_equal_the_simulators_clearing_of_the_same_orders(live_day)
    check_every_members_bill_balances(live_day)
