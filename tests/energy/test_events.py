"""Demand-response events from a file, turned into import caps and honoured by the planners."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.energy.events import event_caps, event_outcomes, read_events
from wattmesh.energy.planner import PlanWarning, plan_homes

INDEX = pd.date_range("2030-01-01 00:00", periods=8, freq="1h", tz="UTC")
MEMBERS = ["h1", "h2", "h3"]


def homes():
    load = np.tile(np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0])[:, None], (1, 3))
    batteries = pd.DataFrame(
        {
            "battery_id": MEMBERS,
            "capacity_kwh": [4.0] * 3,
            "power_kw": [2.0] * 3,
            "efficiency": [1.0] * 3,
            "soc_kwh": [0.0] * 3,
        }
    )
    return load, np.zeros_like(load), batteries


def test_community_cap_from_a_csv_file_is_honoured(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,start,end,limit_kw,reduction_kw,member_id\n"
        "e1,2030-01-01T03:00:00Z,2030-01-01T06:00:00Z,3.0,,\n"
    )
    events = read_events(path)
    load, pv, batteries = homes()
    home_cap, community_cap = event_caps(events, INDEX, MEMBERS, load - pv)
    assert np.isnan(home_cap).all()
    np.testing.assert_array_equal(np.isfinite(community_cap), [0, 0, 0, 1, 1, 1, 0, 0])
    plan = plan_homes(
        load,
        pv,
        0.2,
        0.0,
        batteries,
        1.0,
        community_import_cap_kw=community_cap,
        community_peak_price_per_kw=0.0,
        member_ids=MEMBERS,
    )
    # 6 kW demand against a 3 kW cap for 3 h: 9 kWh must come from the 12 kWh of batteries, charged before.
    assert plan.community_import_kw[3:6].max() <= 3.0 + 1e-6
    assert plan.discharge_kw[3:6].sum() == pytest.approx(9.0)
    assert not plan.warnings


def test_member_reduction_from_a_json_file_cuts_that_home_only(tmp_path):
    path = tmp_path / "events.json"
    path.write_text(
        '[{"event_id": "e2", "start": "2030-01-01T04:00:00Z", "end": "2030-01-01T05:00:00Z",'
        ' "reduction_kw": 1.5, "member_id": "h2"}]'
    )
    load, pv, _ = homes()
    home_cap, community_cap = event_caps(read_events(path), INDEX, MEMBERS, load - pv)
    assert np.isnan(community_cap).all()
    assert home_cap[4, 1] == pytest.approx(0.5)
    assert np.isfinite(home_cap).sum() == 1


def test_events_file_with_an_end_before_its_start_is_rejected(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("event_id,start,end,limit_kw\nbad,2030-01-01T05:00:00Z,2030-01-01T04:00:00Z,3\n")
    with pytest.raises(ValueError, match="dr event 'bad': end .* is not after start"):
        read_events(path)


def test_community_cap_below_must_run_load_warns_by_how_much():
    load, pv, batteries = homes()
    cap = np.full(8, np.nan)
    cap[4] = 0.0  # 6 kW of load, at most 3 x 2 kW from batteries... and they start empty but can charge first
    batteries = batteries.assign(power_kw=1.0)
    with pytest.warns(PlanWarning, match=r"community: demand-response import cap relaxed by 3\.000 kWh"):
        plan_homes(
            load,
            pv,
            0.2,
            0.0,
            batteries,
            1.0,
            community_import_cap_kw=cap,
            community_peak_price_per_kw=0.1,
            member_ids=MEMBERS,
        )


def test_mpc_honours_a_community_cap_known_ahead_when_forecasts_are_right():
    from wattmesh.energy.forecasts import perfect_forecast
    from wattmesh.energy.mpc import run_mpc

    load, pv, batteries = homes()
    load_frame = pd.DataFrame(load, index=INDEX, columns=MEMBERS)
    pv_frame = pd.DataFrame(pv, index=INDEX, columns=MEMBERS)
    cap = np.full(8, np.nan)
    cap[3:6] = 3.0
    dispatch = run_mpc(
        load_frame,
        pv_frame,
        0.2,
        0.0,
        batteries,
        load_forecaster=perfect_forecast(load_frame),
        pv_forecaster=perfect_forecast(pv_frame),
        horizon_intervals=8,
        community_import_cap_kw=cap,
    )
    assert dispatch.net_kw[3:6].sum(axis=1).max() <= 3.0 + 1e-6
    assert not dispatch.warnings


def test_event_outcomes_measure_each_event_against_its_own_cap_with_and_without_a_plan():
    events = pd.DataFrame(
        {
            "event_id": ["home", "all", "outside"],
            "start": pd.to_datetime(["2030-01-01 03:00", "2030-01-01 04:00", "2030-02-01 00:00"], utc=True),
            "end": pd.to_datetime(["2030-01-01 06:00", "2030-01-01 06:00", "2030-02-01 01:00"], utc=True),
            "limit_kw": [1.5, np.nan, 1.0],
            "reduction_kw": [np.nan, 1.0, np.nan],
            "member_id": ["h2", "", ""],
        }
    )
    load, pv, _ = homes()  # 2 kW per home from 03:00 to 06:00, 1 kW otherwise
    with_plan = load - pv - np.array([0.0, 0.5, 0.0])  # h2 down to 1.5 kW: on its cap
    with_plan[5, 0] = -1.0  # h1 exports 1 kW at 05:00
    table = event_outcomes(events, INDEX, MEMBERS, load - pv, with_plan, load - pv).set_index("event_id")
    home, community, outside = table.loc["home"], table.loc["all"], table.loc["outside"]
    assert home["intervals"] == 3 and home["cap_kw"] == 1.5 and home["met"]
    assert home["peak_import_plan_kw"] == 1.5 and home["over_cap_plan_kwh"] == 0.0
    assert home["peak_import_no_plan_kw"] == 2.0 and home["over_cap_no_plan_kwh"] == pytest.approx(1.5)
    # community: cap 6 - 1 = 5 kW; with the plan 5.5 kW at 04:00, 2.5 kW at 05:00 (h1's export counts)
    assert community["intervals"] == 2 and community["cap_kw"] == 5.0 and not community["met"]
    assert community["peak_import_plan_kw"] == 5.5 and community["over_cap_plan_kwh"] == pytest.approx(0.5)
    assert community["over_cap_no_plan_kwh"] == pytest.approx(2.0)
    assert outside["intervals"] == 0 and np.isnan(outside["cap_kw"]) and outside["met"]
