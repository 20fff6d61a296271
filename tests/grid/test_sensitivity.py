"""PTDF, electrical distance and distance-based fees on hand-worked feeders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.grid import (
    bus_distance_matrix,
    feeder_model,
    grid_fee_per_kwh,
    member_fee_matrix_per_kwh,
    power_flow_series,
    ptdf_matrix,
    voltage_sensitivity_pu_per_kw,
)


def triangle_net():
    """Slack bus 0 and buses 1, 2, joined in a ring by three identical lines."""
    import pandapower as pp

    net = pp.create_empty_network()
    pp.create_buses(net, 3, vn_kv=0.4)
    pp.create_ext_grid(net, 0)
    for f, t in ((0, 1), (1, 2), (0, 2)):
        pp.create_line_from_parameters(net, f, t, 0.1, 0.2, 0.1, 0.0, 0.3)
    return net


def test_radial_ptdf_is_the_path_to_the_slack(radial):
    ptdf = ptdf_matrix(feeder_model(radial()))
    # line ids: 0 (1-2), 1 (2-3), 2 (3-4), 3 (4-5), 4 (2-6); trafo 0 (0-1)
    # 1 kW injected at bus 4 flows 4 -> 3 -> 2 -> 1 -> 0, against each branch's from -> to direction
    np.testing.assert_allclose(ptdf[4].to_numpy(), [-1, -1, -1, 0, 0, -1])
    np.testing.assert_allclose(ptdf[6].to_numpy(), [-1, 0, 0, 0, -1, -1])
    np.testing.assert_allclose(ptdf[0].to_numpy(), 0.0)


def test_meshed_ptdf_splits_by_impedance():
    ptdf = ptdf_matrix(feeder_model(triangle_net()))
    # 1 kW in at bus 1, out at bus 0: 2/3 on the direct line 1 -> 0, 1/3 around 1 -> 2 -> 0, which runs
    # against the third line's 0 -> 2 direction
    np.testing.assert_allclose(ptdf[1].to_numpy(), [-2 / 3, 1 / 3, -1 / 3], atol=1e-12)


def test_ptdf_predicts_the_ac_flow_change_on_a_radial_feeder(radial):
    model = feeder_model(radial())
    ptdf = ptdf_matrix(model)
    flows = power_flow_series(model, pd.DataFrame({5: [0.0, 10.0]}))
    change = flows.line_p_from_kw.iloc[1] - flows.line_p_from_kw.iloc[0]
    # line losses make the AC change differ from the lossless 10 kW by under a percent
    np.testing.assert_allclose(change.to_numpy(), 10 * ptdf.loc["line"][5].to_numpy(), rtol=0.01, atol=1e-9)


def test_distance_counts_segments_and_kilometres_on_the_path(radial):
    model = feeder_model(radial())
    segments = bus_distance_matrix(model, "segments")
    km = bus_distance_matrix(model, "km")
    assert segments.loc[5, 6] == pytest.approx(4, abs=1e-9)  # 5-4-3-2-6 (PTDF entries carry rounding)
    assert segments.loc[3, 3] == 0
    assert km.loc[5, 6] == pytest.approx(0.15 * 3 + 0.1)
    assert km.loc[1, 5] == pytest.approx(0.6)
    np.testing.assert_allclose(segments.to_numpy(), segments.to_numpy().T)
    ohm = bus_distance_matrix(model, "ohm")
    # NAYY 4x150 SE: r = 0.208, x = 0.08 ohm/km
    assert ohm.loc[2, 6] == pytest.approx(0.1 * np.hypot(0.208, 0.08), rel=1e-9)


def test_fee_grows_with_distance_and_is_capped(radial):
    distance = bus_distance_matrix(feeder_model(radial()), "segments")
    fee = grid_fee_per_kwh(
        np.array([5, 5, 2]), np.array([5, 6, 3]), distance, 0.01, base_per_kwh=0.005, cap_per_kwh=0.03
    )
    np.testing.assert_allclose(fee, [0.005, 0.03, 0.015])


def test_member_fee_matrix_is_seller_by_buyer(radial):
    distance = bus_distance_matrix(feeder_model(radial()), "segments")
    fees = member_fee_matrix_per_kwh(np.array([2, 4, 6]), distance, 0.01)
    np.testing.assert_allclose(fees, [[0, 0.02, 0.01], [0.02, 0, 0.03], [0.01, 0.03, 0]])


def test_fee_for_an_unknown_bus_names_it(radial):
    distance = bus_distance_matrix(feeder_model(radial()))
    with pytest.raises(ValueError, match=r"buyer_bus \[99\]"):
        grid_fee_per_kwh(np.array([2]), np.array([99]), distance, 0.01)


def test_voltage_sensitivity_matches_the_two_bus_analytic_derivative(two_bus, analytic_vm):
    sensitivity = voltage_sensitivity_pu_per_kw(feeder_model(two_bus()))
    step_mw = 1e-6
    derivative = (analytic_vm(step_mw, 0.0) - analytic_vm(-step_mw, 0.0)) / (2 * step_mw) / 1000.0
    assert sensitivity.loc[1, 1] == pytest.approx(derivative, rel=1e-4)
    assert sensitivity.loc[0, 1] == 0.0  # the slack holds its voltage
