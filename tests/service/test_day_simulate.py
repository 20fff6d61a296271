"""A whole day (96 intervals) of the default scenario's community through the exchange's API gives the
trades and bills that `wattmesh simulate` gives on the same orders.

The orders are the simulator's own: each member's position of the full case (generation + discharge -
consumption - charge, from `wattmesh.simulate.simulate` with its detail), bid at the retail price and
asked at the feed-in price, as the simulator's market step orders them; the meters then measure exactly
the position, as in the simulator. The API takes energy in whole Wh, so per member and interval the
orders differ from the simulator's by at most 0.5 Wh: the tolerances below are a few Wh and a few cents.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wattmesh.community.scenario import DEFAULT_SCENARIO, load_scenario
from wattmesh.service.live import make_live_coop

from .helpers import trade_day

START, END = "2016-06-10T00:00:00Z", "2016-06-11T00:00:00Z"
WATTMESH = str(Path(sys.executable).with_name("wattmesh"))


@pytest.mark.slow
def test_a_day_through_the_api_equals_wattmesh_simulate_on_the_same_orders(tmp_path):
    from wattmesh.community.build import build_community
    from wattmesh.simulate import simulate

    raw = DEFAULT_SCENARIO.read_text()
    raw = raw.replace('dispatch = "planner"', 'dispatch = "rule"').replace(
        "tournament = true", "tournament = false"
    )
    path = tmp_path / "day.toml"
    path.write_text(raw)
    out = tmp_path / "out"
    done = subprocess.run(
        [
            WATTMESH,
            "simulate",
            str(path),
            "--out",
            str(out),
            "--start",
            START,
            "--end",
            END,
            "--ledger",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sim_members = pd.read_csv(out / "members.csv").set_index("member_id")
    sim_trades = pd.read_json(out / "trades.jsonl", lines=True)

    # The same run in process, for the members' positions (the orders the simulator's market step made).
    scenario = load_scenario(path, overrides={"time.start": START, "time.end": END})
    community = build_community(scenario)
    result = simulate(
        community,
        price_rule=scenario["market.price_rule"],
        seed=scenario["seed"],
        mechanism=scenario["market.mechanism"],
        min_trade_kwh=scenario["market.min_trade_kwh"],
    )
    detail = result.full.detail
    position_kwh = detail.generation_kwh + detail.discharge_kwh - detail.consumption_kwh - detail.charge_kwh
    # The in-process run is the command's run: same bills to the cent.
    members = list(community.member_ids)
    np.testing.assert_allclose(
        result.full.bill, sim_members.loc[members, "bill_p2p_battery_eur"].to_numpy(), atol=0.006
    )

    index = community.index
    T, M = position_kwh.shape
    position_wh = np.rint(position_kwh * 1000).astype(int)
    retail, feed_in = community.retail_per_kwh, community.feed_in_per_kwh
    coop = make_live_coop(tmp_path / "coop", scenario, community, index[0])
    limit_e5 = np.rint(np.where(position_wh > 0, feed_in[:, None], retail[:, None]) * 1e5)
    exchange, bills = trade_day(coop, members, index, position_wh, limit_e5, position_wh, "2016-06")
    stamps = index.strftime("%Y-%m-%dT%H:%M:%SZ")
    api_trades = pd.DataFrame(
        [
            dict(trade, interval=stamp)
            for stamp in stamps
            for trade in exchange.state.clearings[stamp]["trades"]
        ]
    )

    def per_member(trades: pd.DataFrame, who: str) -> np.ndarray:
        at = pd.to_datetime(trades["timestamp"] if "interval" not in trades else trades["interval"], utc=True)
        rows = index.get_indexer(at.dt.floor("15min"))
        cols = pd.Index(members).get_indexer(trades[who])
        assert (rows >= 0).all() and (cols >= 0).all()
        out = np.zeros((T, M))
        np.add.at(out, (rows, cols), trades["energy_amount_kwh"].to_numpy())
        return out

    assert sim_trades["energy_amount_kwh"].sum() > 50  # the day trades: the comparison is not of zeros
    for who in ("seller", "buyer"):
        # a large fill (the community battery's) shares the whole side's Wh rounding: 5e-4 of it on top
        np.testing.assert_allclose(
            per_member(api_trades, who), per_member(sim_trades, who), atol=0.003, rtol=5e-4
        )
    assert api_trades["energy_amount_kwh"].sum() == pytest.approx(
        sim_trades["energy_amount_kwh"].sum(), abs=0.1
    )
    # Local prices: the same clearing price in every interval that traded.
    sim_price = sim_trades.groupby(pd.to_datetime(sim_trades["timestamp"], utc=True).dt.floor("15min"))[
        "price_per_kwh"
    ].mean()
    api_price = api_trades.groupby(pd.to_datetime(api_trades["interval"], utc=True))["price_per_kwh"].mean()
    np.testing.assert_allclose(api_price.reindex(sim_price.index).to_numpy(), sim_price.to_numpy(), atol=1e-5)
    # Bills: the exchange's monthly bill per member against the simulator's members.csv.
    np.testing.assert_allclose(
        bills.loc[members, "bill"].to_numpy(),
        sim_members.loc[members, "bill_p2p_battery_eur"].to_numpy(),
        atol=0.05,
    )
