"""Limit checks, hours over limit, voltage envelope and most loaded lines on hand-worked feeders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.grid import (
    GridLimits,
    feeder_model,
    hours_over_limit,
    limit_violations,
    most_loaded_lines,
    power_flow_series,
    voltage_envelope,
)

INDEX = pd.date_range("2016-06-01 10:00", periods=4, freq="15min", tz="UTC")


def test_violations_and_hours_on_the_two_bus_feeder(two_bus, analytic_vm):
    injection_kw = np.array([0.0, 30.0, 60.0, -60.0])
    vm = np.array([analytic_vm(p / 1000, 0.0) for p in injection_kw])
    limits = GridLimits(vm_min_pu=0.97, vm_max_pu=1.03, line_max_percent=50.0)
    result = power_flow_series(feeder_model(two_bus()), pd.DataFrame({1: injection_kw}, index=INDEX))
    table = limit_violations(result, limits)
    np.testing.assert_array_equal(table["overvoltage"], vm > 1.03)
    np.testing.assert_array_equal(table["undervoltage"], vm < 0.97)
    np.testing.assert_array_equal(table["line_overload"], [False, False, False, False])
    # no shunt admittance: the same current at both ends, |S| / |V| at bus 1 (60 kW: about 87 A, 43 %)
    current_ka = np.abs(injection_kw) / 1000 / (np.sqrt(3) * 0.4 * vm)
    np.testing.assert_allclose(table["line_loading_max_percent"], current_ka / 0.2 * 100, rtol=1e-9)
    hours = hours_over_limit(result, limits)
    assert hours["overvoltage"] == pytest.approx(0.25 * (vm > 1.03).sum())
    assert hours["any_violation"] == pytest.approx(0.25 * ((vm > 1.03) | (vm < 0.97)).sum())
    assert hours["trafo_overload"] == 0.0


def test_envelope_leaves_out_the_slack(radial):
    frame = pd.DataFrame({5: [-30.0, 40.0, 0.0, 10.0], 6: [0.0, 0.0, 5.0, 0.0]}, index=INDEX)
    result = power_flow_series(feeder_model(radial()), frame)
    envelope = voltage_envelope(result)
    lv = result.vm_pu.drop(columns=[0])
    np.testing.assert_allclose(envelope["vm_min_pu"], lv.min(axis=1))
    np.testing.assert_allclose(envelope["vm_max_pu"], lv.max(axis=1))
    hourly = voltage_envelope(result, "1h")
    assert len(hourly) == 1 and hourly["vm_max_pu"].iloc[0] == pytest.approx(lv.max().max())


def test_most_loaded_lines_are_the_ones_nearest_the_transformer(radial):
    loads = {bus: [-20.0, -10.0, 0.0, 0.0] for bus in (2, 3, 4, 5)}
    result = power_flow_series(feeder_model(radial()), pd.DataFrame(loads, index=INDEX))
    table = most_loaded_lines(result, n=3, limits=GridLimits(line_max_percent=25.0))
    # lines 0-3 carry the loads beyond them: 80, 60, 40, 20 kW in the first interval (about 44, 33, 22,
    # 11 % of 0.27 kA); only that interval puts lines 0 and 1 over 25 %
    assert list(table.index) == [0, 1, 2]
    np.testing.assert_allclose(table["hours_over_limit"], [0.25, 0.25, 0.0])
    assert (np.diff(table["max_loading_percent"]) <= 0).all()


def test_limits_must_be_a_band():
    with pytest.raises(ValueError, match="vm_min_pu 1.1 and vm_max_pu 0.9"):
        GridLimits(vm_min_pu=1.1, vm_max_pu=0.9)


def test_the_slack_buses_set_point_is_not_checked_against_the_band(two_bus):
    net = two_bus()
    net.ext_grid.loc[0, "vm_pu"] = 1.05
    result = power_flow_series(feeder_model(net), pd.DataFrame({1: [-60.0]}, index=INDEX[:1]))
    assert result.vm_pu[1].iloc[0] < 1.04 < result.vm_pu[0].iloc[0]
    table = limit_violations(result, GridLimits(vm_max_pu=1.04))
    assert not table["overvoltage"].iloc[0]
    assert table["vm_max_pu"].iloc[0] == pytest.approx(result.vm_pu[1].iloc[0])
