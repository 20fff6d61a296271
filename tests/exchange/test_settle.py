"""Settlement: trades at their prices and fees, deviations at the utility's prices, balanced to the cent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.exchange import balance_problems, settle
from wattmesh.simulate.engine import simulate

START = pd.Timestamp("2016-06-01T12:00:00Z")


def _trades(rows) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "transaction_id": f"tx_{k}",
                "seller": s,
                "buyer": b,
                "energy_amount_kwh": e,
                "price_per_kwh": p,
                "timestamp": START.isoformat(),
                "status": "completed",
                "interval": START.isoformat(),
                "mechanism": "pay_as_clear",
                "grid_fee_per_kwh": f,
                "sell_order_id": "",
                "buy_order_id": "",
            }
            for k, (s, b, e, p, f) in enumerate(rows)
        ]
    )


def test_hand_worked_interval_with_forecast_errors():
    # A sold 2 kWh to B at 0.20 plus a 0.05 fee. A's meter shows 2.5 kWh fed in (0.5 more than sold: exported
    # at 0.08); B used only 1.7 of its 2 kWh (0.3 flows back out at 0.08); C traded nothing and used 1 kWh
    # (imported at 0.30).
    trades = _trades([("A", "B", 2.0, 0.20, 0.05)])
    metered = pd.DataFrame({"A": [2.5], "B": [-1.7], "C": [-1.0]}, index=pd.DatetimeIndex([START]))
    lines = settle(trades, metered, retail_per_kwh=0.30, feed_in_per_kwh=0.08).set_index("member_id")
    assert lines.loc["A", "received_local"] == pytest.approx(0.40)
    assert lines.loc["A", "export_kwh"] == pytest.approx(0.5)
    assert lines.loc["A", "bill"] == pytest.approx(-0.44)
    assert lines.loc["B", "paid_local"] == pytest.approx(0.50)
    assert lines.loc["B", "fee_paid"] == pytest.approx(0.10)
    assert lines.loc["B", "export_kwh"] == pytest.approx(0.3)
    assert lines.loc["B", "bill"] == pytest.approx(0.50 - 0.024)
    assert lines.loc["C", "import_kwh"] == pytest.approx(1.0)
    assert lines.loc["C", "bill"] == pytest.approx(0.30)
    assert balance_problems(lines.reset_index(), trades) == []


def test_a_trade_without_a_reading_is_refused_naming_the_party():
    trades = _trades([("A", "D", 1.0, 0.2, 0.0)])
    metered = pd.DataFrame({"A": [1.0], "B": [0.0]}, index=pd.DatetimeIndex([START]))
    with pytest.raises(ValueError, match="buyer 'D' has no meter reading"):
        settle(trades, metered, 0.3, 0.08)


def test_a_missing_reading_is_refused_naming_member_and_interval():
    metered = pd.DataFrame({"A": [np.nan]}, index=pd.DatetimeIndex([START]))
    with pytest.raises(ValueError, match="no reading for member 'A' at 2016-06-01T12:00:00"):
        settle(_trades([]), metered, 0.3, 0.08)


def test_estimated_readings_are_marked_on_their_statement_line():
    metered = pd.DataFrame({"A": [1.0], "B": [-1.0]}, index=pd.DatetimeIndex([START]))
    estimated = pd.DataFrame({"A": [True], "B": [False]}, index=metered.index)
    lines = settle(_trades([]), metered, 0.3, 0.08, estimated=estimated).set_index("member_id")
    assert lines.loc["A", "metered_estimated"] and not lines.loc["B", "metered_estimated"]


@pytest.fixture(scope="module")
def simulated(short_community):
    return simulate(short_community, seed=0)


def test_trade_records_settled_against_the_meters_give_the_simulators_bills(simulated, short_community):
    """The table route (trade records + readings) and the simulator's array route agree per member."""
    full = simulated.full
    d = full.detail
    metered = pd.DataFrame(
        d.generation_kwh - d.consumption_kwh - d.charge_kwh + d.discharge_kwh,
        index=short_community.index,
        columns=short_community.member_ids,
    )
    lines = settle(
        full.trades,
        metered,
        pd.Series(short_community.retail_per_kwh, index=short_community.index),
        pd.Series(short_community.feed_in_per_kwh, index=short_community.index),
    )
    assert len(full.trades) > 1000
    per_member = lines.groupby("member_id", sort=False)[
        ["bought_kwh", "sold_kwh", "paid_local", "bill"]
    ].sum()
    per_member = per_member.reindex(short_community.member_ids)
    # Trade records round energy to 1e-6 kWh, so the routes differ by at most that per trade.
    np.testing.assert_allclose(per_member["bought_kwh"], full.by_member["bought_kwh"], atol=1e-4)
    np.testing.assert_allclose(per_member["paid_local"], full.by_member["paid_local"], atol=1e-4)
    np.testing.assert_allclose(per_member["bill"], full.bill, atol=1e-4)


def test_every_simulated_interval_balances_to_the_cent_and_a_changed_line_does_not(
    simulated, short_community
):
    full = simulated.full
    d = full.detail
    metered = pd.DataFrame(
        d.generation_kwh - d.consumption_kwh - d.charge_kwh + d.discharge_kwh,
        index=short_community.index,
        columns=short_community.member_ids,
    )
    retail = pd.Series(short_community.retail_per_kwh, index=short_community.index)
    feed_in = pd.Series(short_community.feed_in_per_kwh, index=short_community.index)
    lines = settle(full.trades, metered, retail, feed_in)
    assert balance_problems(lines, full.trades) == []
    for name, change in (("paid_local", 0.02), ("export_kwh", 0.002)):
        broken = lines.copy()
        row = int(np.flatnonzero(broken["bought_kwh"].to_numpy() > 0)[0])
        broken.loc[row, name] += change
        assert len(balance_problems(broken, full.trades)) == 1, name
