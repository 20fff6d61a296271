"""The live exchange's step (an order table per interval) and the simulator's (position arrays) agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.exchange import clear_interval, clear_positions
from wattmesh.simulate.engine import simulate
from wattmesh.tables import TRADES


def _reference():
    """The market tests' independent LP references (tests/market/reference.py)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "reference", Path(__file__).parents[1] / "market" / "reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


uniform_welfare_lp = _reference().uniform_welfare_lp


@pytest.fixture(scope="module")
def simulated(short_community):
    return simulate(short_community, seed=0)


def _orders(community, position: np.ndarray, row: int) -> pd.DataFrame:
    """The simulator's orders of one interval as an order table: deficits bid retail, surpluses ask feed-in."""
    ids = community.member_ids.to_numpy()
    rows = []
    for m in np.flatnonzero(np.abs(position) > 0):
        side = "buy" if position[m] < 0 else "sell"
        price = community.retail_per_kwh[row] if side == "buy" else community.feed_in_per_kwh[row]
        rows.append((f"{ids[m]}-{side}", ids[m], side, abs(position[m]), price))
    table = pd.DataFrame(rows, columns=["order_id", "member_id", "side", "energy_kwh", "price_per_kwh"])
    return table.assign(delivery_start=community.index[row])


@pytest.mark.parametrize("row", [40, 48, 52, 150])
def test_an_interval_cleared_from_its_order_table_matches_the_simulator(simulated, short_community, row):
    community = short_community
    d = simulated.full.detail
    position = (d.generation_kwh - d.consumption_kwh - d.charge_kwh + d.discharge_kwh)[row]
    orders = _orders(community, position, row)
    outcome = clear_interval(
        orders,
        "pay_as_clear",
        delivery_start=community.index[row],
        fee_per_kwh=community.local_fee_per_kwh,
        scope="test",
    )
    assert outcome.rejected.empty and TRADES.problems(outcome.trades) == []
    ids = community.member_ids
    bought = outcome.trades.groupby("buyer")["energy_amount_kwh"].sum().reindex(ids, fill_value=0.0)
    sold = outcome.trades.groupby("seller")["energy_amount_kwh"].sum().reindex(ids, fill_value=0.0)
    np.testing.assert_allclose(bought, d.bought_kwh[row], atol=1e-5)
    np.testing.assert_allclose(sold, d.sold_kwh[row], atol=1e-5)
    assert outcome.report["volume_kwh"] > 0
    # The welfare of the cleared book is the LP optimum of the same orders net of the fee (independent).
    bids, asks = orders[orders["side"] == "buy"], orders[orders["side"] == "sell"]
    optimum, volume = uniform_welfare_lp(
        bids["energy_kwh"],
        bids["price_per_kwh"] - community.local_fee_per_kwh,
        asks["energy_kwh"],
        asks["price_per_kwh"],
    )
    assert outcome.report["welfare"] == pytest.approx(optimum, rel=1e-9, abs=1e-9)
    assert outcome.report["volume_kwh"] == pytest.approx(volume, rel=1e-9)


def test_same_orders_same_scope_same_seed_give_the_same_trades_and_ids(short_community):
    rng_orders = np.random.default_rng(4)
    position = rng_orders.normal(0, 1, 30)
    community = short_community
    orders = _orders(community, position, 50)
    orders["member_id"] = [f"m{k}" for k in range(len(orders))]
    first = clear_interval(orders, delivery_start=community.index[50], scope="coop", seed=3).trades
    again = clear_interval(orders, delivery_start=community.index[50], scope="coop", seed=3).trades
    other = clear_interval(orders, delivery_start=community.index[50], scope="other", seed=3).trades
    pd.testing.assert_frame_equal(first, again)
    assert set(first["transaction_id"]).isdisjoint(other["transaction_id"])
    assert (first["sell_order_id"] != "").all() and (first["buy_order_id"] != "").all()


def test_tariff_priced_mechanisms_need_the_utility_prices():
    with pytest.raises(ValueError, match="needs retail_per_kwh and feed_in_per_kwh"):
        clear_positions(
            np.ones((1, 2)), 0.3, np.ones((1, 2)), 0.1, mechanism="sdr", rng=np.random.default_rng()
        )


def test_pay_as_clear_fast_path_equals_the_general_clearing(monkeypatch):
    """Common limits take the closed form; another price on an empty bid slot forces the sorted general path."""
    rng = np.random.default_rng(7)
    deficit = rng.uniform(0, 2, (20, 9)) * (rng.random((20, 9)) < 0.5)
    deficit[:, 0] = 0.0
    surplus = rng.uniform(0, 2, (20, 9)) * (deficit == 0)
    common = np.full((20, 9), 0.30)
    nudged = common.copy()
    nudged[:, 0] = 0.50  # slot 0 bids nothing: not common any more, same book
    import wattmesh.market.periodic as periodic

    calls = []
    closed_form = periodic.clear_common_limits
    monkeypatch.setattr(
        periodic, "clear_common_limits", lambda *a, **k: calls.append(1) or closed_form(*a, **k)
    )
    fast = clear_positions(deficit, common, surplus, 0.08, fee_per_kwh=0.02, rng=np.random.default_rng(1))
    assert len(calls) == 1
    general = clear_positions(deficit, nudged, surplus, 0.08, fee_per_kwh=0.02, rng=np.random.default_rng(1))
    assert len(calls) == 1
    np.testing.assert_allclose(fast.bid_fill_kwh, general.bid_fill_kwh, atol=1e-9)
    np.testing.assert_allclose(fast.ask_fill_kwh, general.ask_fill_kwh, atol=1e-9)
    np.testing.assert_allclose(fast.price_per_kwh, general.price_per_kwh, atol=1e-9)
