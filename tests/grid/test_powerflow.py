"""Power flow: analytic two-bus cases, power balance at the slack, lightsim2grid against pandapower."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.grid import (
    bus_injection_kw,
    feeder_model,
    limit_violations,
    power_flow_series,
    simbench_bus_injection_kw,
)


@pytest.mark.parametrize("solver", ["lightsim2grid", "pandapower"])
def test_voltage_rises_with_reverse_pv_flow_to_the_analytic_value(solver, two_bus, analytic_vm):
    injections_kw = np.array([0.0, 10.0, 30.0, 60.0, -40.0])
    frame = pd.DataFrame({1: injections_kw})
    result = power_flow_series(feeder_model(two_bus()), frame, solver=solver)
    expected = [analytic_vm(p / 1000.0, 0.0) for p in injections_kw]
    np.testing.assert_allclose(result.vm_pu[1].to_numpy(), expected, atol=1e-9)
    # reverse flow raises the voltage above the slack's, import lowers it
    assert (np.diff(result.vm_pu[1].to_numpy()[:4]) > 0).all()
    assert result.vm_pu[1].iloc[4] < 1.0


def test_voltage_rise_with_reactive_injection_matches_the_analytic_value(two_bus, analytic_vm):
    p = pd.DataFrame({1: [20.0]})
    q = pd.DataFrame({1: [-10.0]})  # inverter absorbing reactive power
    result = power_flow_series(feeder_model(two_bus()), p, q)
    assert result.vm_pu[1].iloc[0] == pytest.approx(analytic_vm(0.02, -0.01), abs=1e-9)


def test_power_balance_at_the_slack_two_bus(two_bus, analytic_vm, two_bus_line):
    r_ohm, x_ohm, vn_kv = two_bus_line
    injection_kw = np.array([50.0, -30.0])
    result = power_flow_series(feeder_model(two_bus()), pd.DataFrame({1: injection_kw}))
    vm = np.array([analytic_vm(p / 1000.0, 0.0) for p in injection_kw])
    # |I| = |S| / |V2| (pu), losses = R |I|^2 (pu on 1 MVA)
    r_pu = r_ohm / vn_kv**2
    losses_kw = r_pu * (injection_kw / 1000.0) ** 2 / vm**2 * 1000.0
    np.testing.assert_allclose(result.losses_kw.to_numpy(), losses_kw, rtol=1e-5)
    np.testing.assert_allclose(result.slack_p_kw.to_numpy(), -injection_kw + losses_kw, atol=1e-5)
    x_pu = x_ohm / vn_kv**2
    np.testing.assert_allclose(result.slack_q_kvar.to_numpy(), losses_kw * x_pu / r_pu, rtol=1e-7)


def test_power_balance_at_the_slack_radial_feeder(radial):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.uniform(-20, 15, size=(6, 5)), columns=[2, 3, 4, 5, 6])
    result = power_flow_series(feeder_model(radial()), frame)
    balance = result.slack_p_kw.to_numpy() + frame.sum(axis=1).to_numpy()
    # the solver stops at a mismatch of 1e-9 MVA per bus, so balance holds to about 1e-5 kW
    np.testing.assert_allclose(balance, result.losses_kw.to_numpy(), atol=1e-4)
    assert (result.losses_kw > 0).all()
    # losses of a few kW flows on 0.6 km of cable are a small share of the flow
    assert (result.losses_kw < 0.1 * frame.abs().sum(axis=1)).all()


def test_lightsim2grid_agrees_with_pandapower_on_the_default_feeder():
    from wattmesh.community.simbench_source import load_feeder

    feeder = load_feeder("1-LV-rural3--2-sw")
    model = feeder_model(feeder_net(feeder))
    injection = simbench_bus_injection_kw(feeder).iloc[13_000:15_000]  # two weeks of May-June
    fast = power_flow_series(model, injection, solver="lightsim2grid")
    assert fast.converged.all()
    rows = np.random.default_rng(0).choice(len(injection), 6, replace=False)
    reference = power_flow_series(model, injection.iloc[rows], solver="pandapower")
    np.testing.assert_allclose(fast.vm_pu.iloc[rows], reference.vm_pu, atol=1e-6)
    np.testing.assert_allclose(fast.va_degree.iloc[rows], reference.va_degree, atol=1e-4)
    np.testing.assert_allclose(
        fast.line_loading_percent.iloc[rows], reference.line_loading_percent, atol=1e-4
    )
    np.testing.assert_allclose(
        fast.trafo_loading_percent.iloc[rows], reference.trafo_loading_percent, atol=1e-4
    )
    np.testing.assert_allclose(fast.slack_p_kw.iloc[rows], reference.slack_p_kw, atol=1e-3)


def test_loadings_follow_pandapowers_own_result_tables(radial):
    import pandapower as pp

    net = radial()
    frame = pd.DataFrame({5: [-45.0], 6: [25.0], 3: [-10.0]})
    result = power_flow_series(feeder_model(net), frame)
    pp.create_load(net, 5, p_mw=0.045)
    pp.create_sgen(net, 6, p_mw=0.025)
    pp.create_load(net, 3, p_mw=0.010)
    pp.runpp(net, numba=False)
    np.testing.assert_allclose(result.vm_pu.iloc[0], net.res_bus["vm_pu"], atol=1e-6)
    np.testing.assert_allclose(
        result.line_loading_percent.iloc[0], net.res_line["loading_percent"], atol=1e-4
    )
    np.testing.assert_allclose(
        result.trafo_loading_percent.iloc[0], net.res_trafo["loading_percent"], atol=1e-4
    )
    np.testing.assert_allclose(result.trafo_p_lv_kw.iloc[0], -net.res_trafo["p_lv_mw"] * 1000, atol=1e-3)
    assert result.slack_p_kw.iloc[0] == pytest.approx(net.res_ext_grid["p_mw"].iloc[0] * 1000, abs=1e-3)


def feeder_net(feeder):
    from wattmesh.grid import load_network

    return load_network(feeder.net_path)


def test_bus_injection_sums_members_on_a_bus():
    injection = np.array([[1.0, 2.0, -4.0], [0.5, 0.0, 1.0]])
    frame = bus_injection_kw(injection, np.array([7, 3, 7]))
    assert list(frame.columns) == [3, 7]
    np.testing.assert_allclose(frame.to_numpy(), [[2.0, -3.0], [0.0, 1.5]])


def test_unknown_bus_is_named_in_the_error(two_bus):
    with pytest.raises(ValueError, match=r"bus_injection_kw: bus \[42\]"):
        power_flow_series(feeder_model(two_bus()), pd.DataFrame({42: [1.0]}))


def test_non_finite_injection_is_named_in_the_error(two_bus):
    with pytest.raises(ValueError, match="row 1, bus 1 is not finite"):
        power_flow_series(feeder_model(two_bus()), pd.DataFrame({1: [1.0, np.nan]}))


def test_time_index_is_kept(two_bus):
    index = pd.date_range("2016-06-01", periods=3, freq="15min", tz="UTC")
    result = power_flow_series(feeder_model(two_bus()), pd.DataFrame({1: [1.0, 2.0, 3.0]}, index=index))
    assert result.vm_pu.index.equals(index)
    assert result.trafo_loading_percent.shape == (3, 0)


def test_an_unsolvable_interval_is_flagged_and_the_rest_still_solved(two_bus, analytic_vm):
    # 3 MW drawn through 0.1 ohm at 0.4 kV has no power-flow solution (beyond the nose of the PV curve)
    injection_kw = np.array([10.0, -3000.0, 20.0, -10.0])
    result = power_flow_series(feeder_model(two_bus()), pd.DataFrame({1: injection_kw}))
    np.testing.assert_array_equal(result.converged, [True, False, True, True])
    assert np.isnan(result.vm_pu[1].iloc[1]) and np.isnan(result.slack_p_kw.iloc[1])
    solved = [0, 2, 3]
    expected = [analytic_vm(p / 1000.0, 0.0) for p in injection_kw[solved]]
    np.testing.assert_allclose(result.vm_pu[1].iloc[solved], expected, atol=1e-9)
    assert limit_violations(result)["any_violation"].tolist() == [False, True, False, False]
