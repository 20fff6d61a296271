"""DSO-safe curtailment: it removes every violation it claims to, in merit order, and only where it helps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.grid import GridLimits, curtail_trades, feeder_model, member_curtailment_kwh


def within_limits_by_pandapower(net, injection_kw: pd.Series, limits: GridLimits) -> bool:
    """Whether one interval's injections keep ``limits``, by pandapower on the test's own network."""
    import pandapower as pp

    net.load.drop(net.load.index, inplace=True)
    pp.create_loads(net, injection_kw.index.to_numpy(), p_mw=-injection_kw.to_numpy() / 1000)
    pp.runpp(net, numba=False)
    return bool(
        net.res_bus["vm_pu"].between(limits.vm_min_pu, limits.vm_max_pu).all()
        and (net.res_line["loading_percent"] <= limits.line_max_percent).all()
        and (net.res_trafo["loading_percent"] <= limits.trafo_max_percent).all()
    )


def test_curtailment_removes_every_violation_it_claims_to(radial):
    rng = np.random.default_rng(11)
    n_intervals = 12
    pv_buses = np.array([3, 4, 5, 6])
    load_buses = np.array([2, 3, 4, 5, 6])
    pv_kw = rng.uniform(0, 40, size=(n_intervals, len(pv_buses)))
    load_kw = rng.uniform(0, 6, size=(n_intervals, len(load_buses)))
    injection = pd.DataFrame(0.0, index=range(n_intervals), columns=[2, 3, 4, 5, 6])
    injection[list(load_buses)] -= load_kw
    injection[list(pv_buses)] += pv_kw
    # each PV export is sold in two trades of random merit
    trade_interval = np.repeat(np.arange(n_intervals), 2 * len(pv_buses))
    trade_bus = np.tile(np.repeat(pv_buses, 2), n_intervals)
    split = rng.uniform(0.2, 0.8, size=pv_kw.shape)
    trade_kw = np.stack([pv_kw * split, pv_kw * (1 - split)], axis=2).ravel()
    merit = rng.uniform(0.0, 0.1, size=trade_kw.shape)
    limits = GridLimits(vm_max_pu=1.05, line_max_percent=40.0)
    result = curtail_trades(
        feeder_model(radial()), injection, trade_interval, trade_bus, trade_kw, merit, limits
    )

    violated_before = result.violations_before["any_violation"].to_numpy()
    clean_after = ~result.violations_after["any_violation"].to_numpy()
    assert violated_before.sum() >= 4, "the case must have violations to remove"
    assert result.resolved.sum() == violated_before.sum()  # all of them here: every one is export-driven
    net = radial()
    for row in np.flatnonzero(clean_after & violated_before):
        assert within_limits_by_pandapower(net, result.bus_injection_kw.iloc[row], limits), f"interval {row}"
    # nothing is curtailed where nothing was violated, and never more than the trade
    untouched = ~violated_before[trade_interval]
    assert (result.curtailed_kw[untouched] == 0).all()
    assert ((result.curtailed_kw >= 0) & (result.curtailed_kw <= trade_kw + 1e-12)).all()
    np.testing.assert_allclose(
        result.bus_injection_kw[list(pv_buses)].sum().sum(),
        injection[list(pv_buses)].sum().sum() - result.curtailed_kw.sum(),
    )


def test_trades_are_curtailed_in_merit_order_and_only_where_they_help(radial):
    # lines 1-3 (bus 2 -> 5) overload from bus 5's export; the spur's trade (bus 6) does not load them,
    # and a load on bus 2 keeps the first cable within its limit
    injection = pd.DataFrame({2: [-60.0], 5: [60.0], 6: [30.0]})
    trade_bus = np.array([5, 5, 6])
    trade_kw = np.array([50.0, 10.0, 30.0])
    merit = np.array([0.05, 0.01, 0.0])
    limits = GridLimits(vm_max_pu=1.2, line_max_percent=20.0)
    result = curtail_trades(
        feeder_model(radial()), injection, np.zeros(3, int), trade_bus, trade_kw, merit, limits
    )
    assert result.violations_before["line_overload"].iloc[0]
    assert not result.violations_after["any_violation"].iloc[0]
    assert result.curtailed_kw[2] == 0.0  # cheapest, but it cannot relieve line 3
    assert result.curtailed_kw[1] == pytest.approx(10.0)  # lower merit of the two: curtailed in full first
    assert 0 < result.curtailed_kw[0] < 50.0
    # only as much as needed: the line ends just inside its limit
    assert 19.0 < result.power_flow.line_loading_percent.iloc[0][3] <= 20.0


def test_load_driven_undervoltage_is_left_as_remaining(radial):
    injection = pd.DataFrame({5: [-90.0], 3: [5.0]})
    limits = GridLimits(vm_min_pu=1.0)
    result = curtail_trades(
        feeder_model(radial()),
        injection,
        np.array([0]),
        np.array([3]),
        np.array([5.0]),
        np.array([0.0]),
        limits,
    )
    assert result.violations_before["undervoltage"].iloc[0]
    assert result.curtailed_kw[0] == 0.0
    assert result.remaining.iloc[0] and not result.resolved.iloc[0]


def test_member_curtailment_adds_each_sellers_trades():
    energy = member_curtailment_kwh(
        np.array([4.0, 2.0, 8.0]), np.array(["a", "c", "a"]), pd.Index(["a", "b", "c"]), interval_h=0.25
    )
    np.testing.assert_allclose(energy.to_numpy(), [3.0, 0.0, 0.5])
    with pytest.raises(ValueError, match="'z' is not a member"):
        member_curtailment_kwh(np.array([1.0]), np.array(["z"]), pd.Index(["a"]), 0.25)
