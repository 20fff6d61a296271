"""The simulator's grid view: the power flow sees the members' injections, and the outage is studied."""

import pandas as pd
import pytest

from wattmesh.simulate.engine import simulate
from wattmesh.simulate.grid_step import assess_grid


@pytest.fixture(scope="module")
def grid(short_community):
    result = simulate(short_community, seed=5)
    outputs = assess_grid(result, 0.9, 1.1, 0.002, pd.Timestamp("2016-06-10T18:00Z"), 4.0, 0.3)
    return result, outputs


def test_slack_power_equals_the_communitys_net_import_plus_losses(grid):
    result, outputs = grid
    summary = outputs.report.summary
    net_import_kwh = result.full.by_interval["import_kwh"].sum() - result.full.by_interval["export_kwh"].sum()
    slack_kwh = summary["import_kwh"] - summary["export_kwh"]
    assert slack_kwh == pytest.approx(net_import_kwh + summary["losses_kwh"], rel=1e-6)
    assert summary["losses_kwh"] > 0


def test_network_awareness_compares_the_same_trades(grid):
    result, outputs = grid
    table = outputs.awareness
    traded = result.full.trade_arrays.energy_kwh.sum()
    assert table.loc["flat_fee", "traded_kwh"] == pytest.approx(traded)
    assert table.loc["network_aware", "delivered_kwh"] <= table.loc["flat_fee", "delivered_kwh"] + 1e-9
    assert table.loc["flat_fee", "fee_per_kwh"] == pytest.approx(result.community.local_fee_per_kwh)


def test_sharing_in_an_outage_leaves_no_less_critical_load_served(grid):
    _, outputs = grid
    summary = outputs.outage_summary
    assert (
        summary.loc["shared", "critical_unserved_kwh"] <= summary.loc["alone", "critical_unserved_kwh"] + 1e-9
    )
    assert summary.loc["shared", "outage_hours"] == pytest.approx(4.0)
    assert len(outputs.outage_per_home) == (
        result_homes := (grid[0].community.members["kind"] != "community").sum()
    )
    assert result_homes > 0


def test_outage_outside_the_span_is_refused(short_community):
    result = simulate(short_community, seed=5)
    with pytest.raises(ValueError, match="outside the simulated span"):
        assess_grid(result, 0.9, 1.1, 0.002, pd.Timestamp("2016-09-01T00:00Z"), 4.0, 0.3)
