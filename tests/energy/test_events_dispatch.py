"""Demand-response events applied to the simulator's planner: the scenario field ``energy.events``, its
validation, and plan_dispatch / plan_scenario_dispatch honouring the events' import caps."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from wattmesh.community.build import build_community
from wattmesh.community.scenario import ScenarioError, load_scenario
from wattmesh.energy.events import read_events
from wattmesh.energy.members import expected_import_kw, plan_dispatch, plan_scenario_dispatch
from wattmesh.energy.planner import PlanWarning

SPAN = {"time.start": "2016-06-10T00:00:00Z", "time.end": "2016-06-12T00:00:00Z"}
# home_003 has a battery, no PV and no EV, and imports up to ~1.3 kW on the first evening without events;
# home_041 (battery, no PV) cannot live two days on its battery alone.
EVENTS_CSV = (
    "event_id,start,end,limit_kw,reduction_kw,member_id\n"
    "evening,2016-06-10T17:00:00Z,2016-06-10T21:00:00Z,0.2,,home_003\n"
    "impossible,2016-06-10T02:00:00Z,2016-06-12T00:00:00Z,0.0,,home_041\n"
)
CAP_KW = 0.2


def scenario_file(tmp_path, events: str | None) -> str:
    """The default scenario over SPAN with perfect forecasts, in tmp_path, with ``energy.events``."""
    from wattmesh.community.scenario import DEFAULT_SCENARIO

    text = DEFAULT_SCENARIO.read_text().replace('forecast = "gbm"', 'forecast = "perfect"')
    assert 'events = ""' in text
    text = text.replace('start = "2016-06-01T00:00:00Z"', f'start = "{SPAN["time.start"]}"')
    text = text.replace('end = "2016-07-01T00:00:00Z"', f'end = "{SPAN["time.end"]}"')
    if events is not None:
        text = text.replace('events = ""', f'events = "{events}"')
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return str(path)


def metered_import_kw(community, plan) -> np.ndarray:
    """Each member's import (T, M) when it follows the plan: load - generation + battery + EV, floored at 0."""
    net = community.load_kw - community.generation_kw + plan.charge_kw - plan.discharge_kw + plan.ev_kw
    return np.maximum(net, 0.0)


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dr")
    (folder / "events").mkdir()
    (folder / "events" / "dr.csv").write_text(EVENTS_CSV)
    scenario = load_scenario(scenario_file(folder, "events/dr.csv"))
    community = build_community(scenario)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with_events = plan_scenario_dispatch(community, scenario)
    without = plan_dispatch(community, "perfect", 4)
    return community, with_events, without, [w for w in caught if issubclass(w.category, PlanWarning)]


def test_scenario_events_path_is_resolved_from_the_scenario_files_folder(tmp_path):
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "dr.csv").write_text(EVENTS_CSV)
    scenario = load_scenario(scenario_file(tmp_path, "events/dr.csv"))
    assert scenario["energy.events"] == str((tmp_path / "events" / "dr.csv").resolve())
    assert load_scenario(scenario_file(tmp_path, None))["energy.events"] == ""


def test_a_missing_events_file_is_a_problem_naming_the_field_and_value(tmp_path):
    with pytest.raises(ScenarioError) as error:
        load_scenario(scenario_file(tmp_path, "nowhere.csv"))
    [problem] = error.value.problems
    assert problem.field == "energy.events" and problem.value == "nowhere.csv"
    assert "'nowhere.csv': no such file" in str(problem)


def test_an_events_file_with_bad_content_is_a_problem_naming_the_field_and_value(tmp_path):
    (tmp_path / "bad.csv").write_text(
        "event_id,start,end,limit_kw\nbackwards,2016-06-10T18:00:00Z,2016-06-10T17:00:00Z,1.0\n"
    )
    (tmp_path / "nostart.json").write_text(
        '[{"event_id": "e", "end": "2016-06-10T18:00:00Z", "limit_kw": 1}]'
    )
    with pytest.raises(ScenarioError) as error:
        load_scenario(scenario_file(tmp_path, "bad.csv"))
    [problem] = error.value.problems
    assert problem.field == "energy.events" and problem.value == "bad.csv"
    assert "dr event 'backwards': end" in problem.message
    with pytest.raises(ScenarioError, match=r"energy.events: 'nostart.json' .*column 'start' is missing"):
        load_scenario(scenario_file(tmp_path, "nostart.json"))


def test_a_capped_evening_keeps_the_planned_import_at_or_below_the_cap(planned):
    community, with_events, without, _ = planned
    home = list(community.member_ids).index("home_003")
    window = (community.index >= "2016-06-10T17:00Z") & (community.index < "2016-06-10T21:00Z")
    capped = metered_import_kw(community, with_events)[window, home]
    free = metered_import_kw(community, without)[window, home]
    assert free.max() > CAP_KW + 0.5  # without the event the home imports well above the cap
    assert capped.max() <= CAP_KW + 1e-6
    # the battery covers the evening: it was charged before and discharges in the window
    assert with_events.discharge_kw[window, home].sum() > without.discharge_kw[window, home].sum() + 1.0
    assert with_events.label.endswith("2 demand-response event(s))")


def test_an_impossible_cap_is_relaxed_with_a_warning_naming_the_event(planned):
    community, with_events, _, caught = planned
    messages = [str(w.message) for w in caught]
    assert any(
        m.startswith("dr event 'impossible': import cap on home 'home_041' exceeded by") for m in messages
    )
    assert not any("'evening'" in m for m in messages)
    home = list(community.member_ids).index("home_041")
    window = community.index >= "2016-06-10T02:00Z"
    # relaxed as little as possible: the battery empties itself into the capped span
    assert with_events.soc_kwh[-1, home] == pytest.approx(0.0, abs=1e-6)
    storage = community.storage_by_member("battery")
    imported = metered_import_kw(community, with_events)[window, home].sum() * community.interval_h
    load = (community.load_kw - community.generation_kw)[window, home].sum() * community.interval_h
    assert imported < load - 0.5 * storage["capacity_kwh"][home]


def test_a_reduction_is_cut_from_the_expected_import(short_community):
    ids = list(short_community.member_ids)
    planned = np.isin(ids, ["home_003", "home_041"])
    expected = expected_import_kw(short_community, planned, "perfect", *_perfect(short_community, planned))
    net = (short_community.load_kw - short_community.generation_kw)[:, planned]
    np.testing.assert_allclose(expected, np.maximum(net, 0.0))


def _perfect(community, homes):
    from wattmesh.energy.forecasts import perfect_forecast

    ids = community.members["member_id"][homes]
    load = pd.DataFrame(community.load_kw[:, homes], index=community.index, columns=ids)
    pv = pd.DataFrame(community.generation_kw[:, homes], index=community.index, columns=ids)
    return perfect_forecast(load), perfect_forecast(pv)


def test_the_events_file_read_by_the_scenario_is_the_one_given(tmp_path):
    (tmp_path / "dr.csv").write_text(EVENTS_CSV)
    scenario = load_scenario(scenario_file(tmp_path, "dr.csv"))
    assert list(read_events(scenario["energy.events"])["event_id"]) == ["evening", "impossible"]
