"""The simulator-facing calls: members' injections to report figures, DSO-safe delivery per member."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.grid import GridLimits, feeder_model
from wattmesh.grid.assess import dso_safe_delivery, grid_report, grid_summary, member_power_flow

INDEX = pd.date_range("2016-06-01 10:00", periods=4, freq="15min", tz="UTC")


def test_members_on_one_bus_add_up_and_the_summary_counts_energy(radial):
    model = feeder_model(radial())
    member_bus = np.array([5, 5, 3])
    net_kw = np.array([[10.0, 10.0, -4.0], [0.0, 0.0, -8.0], [5.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    result = member_power_flow(model, member_bus, net_kw, INDEX)
    summary = grid_summary(result)
    # slack power = -(sum of injections) + losses; a quarter hour each
    expected_import = (8.0 + result.losses_kw.iloc[1] + result.losses_kw.iloc[3]) * 0.25
    expected_export = (16.0 - result.losses_kw.iloc[0] + 5.0 - result.losses_kw.iloc[2]) * 0.25
    assert summary["import_kwh"] == pytest.approx(expected_import, rel=1e-6)
    assert summary["export_kwh"] == pytest.approx(expected_export, rel=1e-6)
    assert summary["losses_kwh"] == pytest.approx(result.losses_kw.sum() * 0.25)
    assert summary["vm_max_pu"] == pytest.approx(result.vm_pu[5].max())
    assert summary["hours_any_violation"] == 0.0
    report = grid_report(result)
    assert list(report.envelope.columns) == ["vm_min_pu", "vm_mean_pu", "vm_max_pu"]
    assert report.trafo_loading_percent.shape == (4, 1)


def test_dso_safe_delivery_reports_curtailment_per_member(radial):
    member_bus = np.array([5, 5, 2])
    # members 0 and 1 export 45 kW each at the end of the cable; member 2 buys at the busbar end
    net_kw = np.array([[45.0, 45.0, -30.0]])
    trade_interval = np.array([0, 0])
    trade_seller = np.array([0, 1])
    trade_energy_kwh = np.array([7.5, 7.5])  # 30 kW each over the quarter hour
    limits = GridLimits(vm_max_pu=1.04)
    result, per_member = dso_safe_delivery(
        feeder_model(radial()),
        member_bus,
        net_kw,
        INDEX[:1],
        trade_interval,
        trade_seller,
        trade_energy_kwh,
        merit_per_kwh=np.array([0.02, 0.01]),
        limits=limits,
        member_ids=pd.Index(["a", "b", "c"]),
        interval_h=0.25,
    )
    assert result.violations_before["overvoltage"].iloc[0]
    assert result.resolved.iloc[0]
    assert result.power_flow.vm_pu.iloc[0].max() <= 1.04
    # lower merit first: b's trade is curtailed in full (about 0.75 mpu/kW: 60 kW leave about 1.059 pu),
    # then a's in part
    assert result.curtailed_kw[1] == pytest.approx(30.0)
    assert 0.0 < result.curtailed_kw[0] < 30.0
    np.testing.assert_allclose(per_member.to_numpy(), [*(result.curtailed_kw * 0.25), 0.0])


def test_network_awareness_comparison_by_hand(radial):
    from wattmesh.grid.assess import network_awareness_comparison

    member_bus = np.array([5, 5, 2, 6])
    net_kw = np.zeros((4, 4))
    net_kw[0] = [45.0, 45.0, -30.0, -20.0]
    net_kw[1] = [5.0, 0.0, -5.0, 0.0]
    # interval 0: a -> c (bus 5 -> 2, 3 segments), b -> d (bus 5 -> 6, 4 segments); interval 1: a -> c
    table = network_awareness_comparison(
        feeder_model(radial()),
        member_bus,
        net_kw,
        INDEX,
        trade_interval=np.array([0, 0, 1]),
        trade_seller=np.array([0, 1, 0]),
        trade_buyer=np.array([2, 3, 2]),
        trade_energy_kwh=np.array([7.5, 5.0, 1.25]),
        flat_fee_per_kwh=0.02,
        rate_per_kwh_per_segment=0.01,
        merit_per_kwh=np.array([0.02, 0.01, 0.0]),
        limits=GridLimits(vm_max_pu=1.06),
    )
    flat, aware = table.loc["flat_fee"], table.loc["network_aware"]
    assert flat["traded_kwh"] == pytest.approx(13.75)
    assert flat["fees"] == pytest.approx(13.75 * 0.02)
    assert flat["hours_overvoltage"] == pytest.approx(0.25)
    assert aware["hours_any_violation"] == 0.0
    # b's trade (lower merit) goes in full, then part of a's; interval 1 is within limits
    assert 5.0 < aware["curtailed_kwh"] < 12.5
    delivered_a = 7.5 - (aware["curtailed_kwh"] - 5.0)
    assert aware["fees"] == pytest.approx(delivered_a * 0.03 + 1.25 * 0.03)


def test_assess_feeder_solves_each_case_once_and_matches_the_separate_calls(radial, monkeypatch):
    import wattmesh.grid.assess as assess
    import wattmesh.grid.curtailment as curtailment
    from wattmesh.grid.powerflow import power_flow_series

    member_bus = np.array([5, 5, 2, 6])
    net_kw = np.zeros((4, 4))
    net_kw[0] = [45.0, 45.0, -30.0, -20.0]
    net_kw[1] = [5.0, 0.0, -5.0, 0.0]
    net_kw[3] = [40.0, 40.0, -30.0, -10.0]
    case = dict(
        trade_interval=np.array([0, 0, 1, 3]),
        trade_seller=np.array([0, 1, 0, 1]),
        trade_buyer=np.array([2, 3, 2, 2]),
        trade_energy_kwh=np.array([7.5, 5.0, 1.25, 7.5]),
        flat_fee_per_kwh=0.02,
        rate_per_kwh_per_segment=0.01,
        merit_per_kwh=np.array([0.02, 0.01, 0.0, 0.0]),
        limits=GridLimits(vm_max_pu=1.05),
    )
    model = feeder_model(radial())
    # the separate calls, each solving on its own, before the counting starts
    awareness = assess.network_awareness_comparison(model, member_bus, net_kw, INDEX, **case)
    alone = dso_safe_delivery(
        model,
        member_bus,
        net_kw,
        INDEX,
        case["trade_interval"],
        case["trade_seller"],
        case["trade_energy_kwh"],
        case["merit_per_kwh"],
        case["limits"],
    )[0]

    solved_rows = []

    def counted(model, injection, *args, **kwargs):
        solved_rows.append(list(injection.index))
        return power_flow_series(model, injection, *args, **kwargs)

    monkeypatch.setattr(assess, "power_flow_series", counted)
    monkeypatch.setattr(curtailment, "power_flow_series", counted)
    result = assess.assess_feeder(model, member_bus, net_kw, INDEX, **case)

    # one solve of the whole case, then one per curtailment round on the curtailed intervals only
    assert solved_rows[0] == list(INDEX)
    assert len(solved_rows) == 1 + result.curtailment.rounds
    assert result.curtailment.rounds >= 1
    curtailed_rows = set(INDEX[[0, 3]])
    assert all(set(rows) <= curtailed_rows for rows in solved_rows[1:])
    pd.testing.assert_frame_equal(result.awareness, awareness)
    np.testing.assert_allclose(result.curtailment.curtailed_kw, alone.curtailed_kw, atol=1e-9)
    assert result.curtailment.violations_after.equals(alone.violations_after)
    assert result.report.summary == grid_summary(result.power_flow, case["limits"])
