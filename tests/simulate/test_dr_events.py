"""Demand-response events in the simulator's outputs: dr_events.csv checked against the simulated cases'
own arrays, its columns defined in docs/outputs.md, and the report's demand-response section."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wattmesh.community.build import build_community
from wattmesh.community.scenario import DEFAULT_SCENARIO, load_scenario
from wattmesh.energy.members import plan_scenario_dispatch
from wattmesh.energy.planner import PlanWarning
from wattmesh.simulate.engine import simulate
from wattmesh.simulate.outputs import write_outputs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "outputs.md"
START, END = "2016-06-10T00:00:00Z", "2016-06-11T00:00:00Z"
# home_003 (battery, no PV, no EV) imports up to ~1.3 kW on the evening without a plan, and its battery
# can keep it at 0.2 kW; the planned homes together import ~20 kW on the evening, which no battery plan
# brings to 0; the last event is outside the simulated day.
EVENTS_CSV = (
    "event_id,start,end,limit_kw,reduction_kw,member_id\n"
    "evening,2016-06-10T17:00:00Z,2016-06-10T21:00:00Z,0.2,,home_003\n"
    "blackout,2016-06-10T18:00:00Z,2016-06-10T20:00:00Z,0.0,,\n"
    "later,2016-06-20T18:00:00Z,2016-06-20T20:00:00Z,1.0,,\n"
)


def scenario_text() -> str:
    """The default scenario over one June day: planner with perfect forecasts, no ledger or tournament."""
    text = DEFAULT_SCENARIO.read_text()
    for old, new in (
        ('forecast = "gbm"', 'forecast = "perfect"'),
        ('backend = "local"', 'backend = "none"'),
        ("tournament = true", "tournament = false"),
        ('start = "2016-06-01T00:00:00Z"', f'start = "{START}"'),
        ('end = "2016-07-01T00:00:00Z"', f'end = "{END}"'),
    ):
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The events' scenario planned, simulated and written: (result, out folder, the PlanWarnings)."""
    tmp = tmp_path_factory.mktemp("dr_outputs")
    (tmp / "dr.csv").write_text(EVENTS_CSV)
    (tmp / "scenario.toml").write_text(scenario_text().replace('events = ""', 'events = "dr.csv"'))
    scenario = load_scenario(tmp / "scenario.toml")
    community = build_community(scenario)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = plan_scenario_dispatch(community, scenario)
    result = simulate(community, seed=scenario["seed"], home_plan=plan)
    write_outputs(result, tmp / "out")
    return result, tmp / "out", [str(w.message) for w in caught if issubclass(w.category, PlanWarning)]


def documented_columns() -> set[str]:
    """The column names docs/outputs.md lists for dr_events.csv."""
    section = DOCS.read_text().split("## dr_events.csv", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)`", section, flags=re.M))


def net_kw(result, case: str) -> pd.DataFrame:
    """Each member's import minus export at its meter [kW] in ``case``, from the case's own energy arrays."""
    d = result.cases[case].detail
    net = (
        d.consumption_kwh + d.charge_kwh - d.discharge_kwh - d.generation_kwh
    ) / result.community.interval_h
    return pd.DataFrame(net, index=result.community.index, columns=result.community.member_ids)


def window(result, start: str, end: str) -> np.ndarray:
    return (result.community.index >= pd.Timestamp(start)) & (result.community.index < pd.Timestamp(end))


def test_dr_events_file_has_one_row_per_event_and_its_documented_columns(run):
    _, out, _ = run
    table = pd.read_csv(out / "dr_events.csv", keep_default_na=False, na_values=[""])
    assert list(table["event_id"]) == ["evening", "blackout", "later"]
    assert set(table.columns) == documented_columns()
    assert list(table["intervals"]) == [16, 8, 0]
    assert table.loc[2, ["cap_kw", "peak_import_plan_kw"]].isna().all() and table.loc[2, "met"]


def test_a_home_event_the_battery_can_meet_is_met_and_its_figures_are_the_homes_metered_import(run):
    result, out, messages = run
    row = pd.read_csv(out / "dr_events.csv").set_index("event_id").loc["evening"]
    rows = window(result, "2016-06-10T17:00Z", "2016-06-10T21:00Z")
    dt = result.community.interval_h
    planned = net_kw(result, "p2p_battery")["home_003"].clip(lower=0.0)[rows]
    free = net_kw(result, "p2p")["home_003"].clip(lower=0.0)[rows]
    assert row["cap_kw"] == pytest.approx(0.2)
    assert row["peak_import_plan_kw"] == pytest.approx(planned.max(), abs=1e-3)
    assert row["peak_import_no_plan_kw"] == pytest.approx(free.max(), abs=1e-3)
    assert row["over_cap_no_plan_kwh"] == pytest.approx(((free - 0.2).clip(lower=0.0) * dt).sum(), abs=1e-3)
    assert row["met"] and row["over_cap_plan_kwh"] == 0.0
    # the event changed the planner's limits: without it the home imports well above the cap
    assert row["peak_import_plan_kw"] <= 0.2 + 1e-3 < row["peak_import_no_plan_kw"] - 0.5
    assert not any("'evening'" in m for m in messages)


def test_a_community_cap_the_batteries_cannot_meet_is_not_met_by_the_warnings_kwh(run):
    result, out, messages = run
    row = pd.read_csv(out / "dr_events.csv").set_index("event_id").loc["blackout"]
    rows = window(result, "2016-06-10T18:00Z", "2016-06-10T20:00Z")
    dt = result.community.interval_h
    homes = result.community.member_ids[result.home_plan.planned]
    planned = net_kw(result, "p2p_battery")[homes].sum(axis=1)[rows]
    free = net_kw(result, "p2p")[homes].sum(axis=1)[rows]
    over = (planned.clip(lower=0.0) * dt).sum()
    assert not row["met"]
    assert row["over_cap_plan_kwh"] == pytest.approx(over, abs=1e-3) and over > 1.0
    assert row["over_cap_no_plan_kwh"] == pytest.approx((free.clip(lower=0.0) * dt).sum(), abs=1e-3)
    assert row["peak_import_plan_kw"] == pytest.approx(planned.max(), abs=1e-3)
    assert row["peak_import_plan_kw"] < row["peak_import_no_plan_kw"]
    assert row["over_cap_plan_kwh"] < row["over_cap_no_plan_kwh"]
    [message] = [m for m in messages if m.startswith("dr event 'blackout'")]
    warned = float(re.search(r"exceeded by ([\d.]+) kWh", message).group(1))
    assert row["over_cap_plan_kwh"] == pytest.approx(warned, abs=1.5e-3)


def test_the_plan_keeps_the_caps_it_planned_with(run):
    result, _, _ = run
    plan = result.home_plan
    home = list(result.community.member_ids).index("home_003")
    assert list(plan.events["event_id"]) == ["evening", "blackout", "later"]
    evening = window(result, "2016-06-10T17:00Z", "2016-06-10T21:00Z")
    np.testing.assert_array_equal(np.isfinite(plan.import_cap_kw[:, home]), evening)
    assert np.isnan(np.delete(plan.import_cap_kw, home, axis=1)).all()
    blackout = window(result, "2016-06-10T18:00Z", "2016-06-10T20:00Z")
    np.testing.assert_array_equal(plan.community_import_cap_kw[blackout], 0.0)
    assert np.isnan(plan.community_import_cap_kw[~blackout]).all()


def test_the_report_has_a_demand_response_section_with_a_figure_per_event_in_the_span(run):
    _, out, _ = run
    page = (out / "report.html").read_text()
    section = page[page.index("<h2>Demand response</h2>") :]
    assert page.index("<h2>Energy and prices over time</h2>") < page.index("<h2>Demand response</h2>")
    assert "Of the 2 in the simulated span, the plan (P2P + batteries) met 1" in section
    assert "Demand-response event evening: home home_003" in section
    assert "Demand-response event blackout: the planned homes" in section
    assert "Demand-response event later" not in section
    assert section.count("the event's cap") == 2
    # local time, as the other figures: the evening event starts at 19:00 in Berlin
    assert "10 Jun 19:00 to 10 Jun 23:00" in section
