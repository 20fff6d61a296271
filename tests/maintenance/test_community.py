"""A simulated community's PV faults: injected as the scenario asks, found again by the PV scan."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from wattmesh.cli import app
from wattmesh.community.scenario import DEFAULT_SCENARIO, load_scenario
from wattmesh.maintenance.community import FaultError, inject_faults, pv_members, scan_community, sky_groups

START, END = "2016-06-03T00:00:00Z", "2016-06-24T00:00:00Z"


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(overrides={"time.start": START, "time.end": END})


@pytest.fixture(scope="module")
def community(scenario):
    from wattmesh.community.build import build_community

    return build_community(scenario)


@pytest.fixture(scope="module")
def past(scenario):
    from wattmesh.energy.members import past_community

    return past_community(scenario, 90)


@pytest.fixture(scope="module")
def pv_ids(community):
    return list(community.member_ids[pv_members(community)])


def _faults(pv_ids):
    t = pd.Timestamp
    return [
        {"member": pv_ids[0], "kind": "outage", "start": t("2016-06-06", tz="UTC"), "days": 2.0, "size": 0.0},
        {
            "member": pv_ids[1],
            "kind": "string_loss",
            "start": t("2016-06-08", tz="UTC"),
            "days": 30,
            "size": 0.25,
        },
        {
            "member": pv_ids[2],
            "kind": "soiling",
            "start": t("2016-06-04", tz="UTC"),
            "days": 30,
            "size": 0.01,
        },
    ]


def test_injected_faults_change_only_their_member_and_window_by_their_size(community, pv_ids):
    faulted, injected = inject_faults(community, _faults(pv_ids))
    ids = list(community.member_ids)
    before, after = community.generation_kw, faulted.generation_kw
    others = [j for j, m in enumerate(ids) if m not in pv_ids[:3]]
    np.testing.assert_array_equal(after[:, others], before[:, others])
    index = community.index
    outage, loss = ids.index(pv_ids[0]), ids.index(pv_ids[1])
    window = (index >= "2016-06-06") & (index < "2016-06-08")
    assert (after[window, outage] == 0).all() and before[window, outage].sum() > 1.0
    np.testing.assert_array_equal(after[~window, outage], before[~window, outage])
    later = index >= "2016-06-08"
    np.testing.assert_allclose(after[later, loss], 0.75 * before[later, loss])
    np.testing.assert_array_equal(after[~later, loss], before[~later, loss])
    # The energy each took, computed here from the two arrays.
    dt = community.interval_h
    assert injected[0].lost_kwh == pytest.approx(before[window, outage].sum() * dt)
    assert injected[1].lost_kwh == pytest.approx(0.25 * before[later, loss].sum() * dt)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"member": "nobody"}, "faults[0].member"),
        ({"kind": "fire"}, "faults[0].kind"),
        ({"start": pd.Timestamp("2017-01-01", tz="UTC")}, "faults[0].start"),
        ({"kind": "string_loss", "size": 1.0}, "faults[0].size"),
        ({"kind": "soiling", "size": 0.2}, "faults[0].size"),
    ],
)
def test_a_fault_the_community_cannot_take_names_its_field(community, pv_ids, change, field):
    fault = dict(_faults(pv_ids)[0], **change)
    with pytest.raises(FaultError, match="^" + re.escape(field) + ": "):
        inject_faults(community, [fault])


def test_a_member_without_pv_cannot_take_a_pv_fault(community):
    no_pv = community.member_ids[~pv_members(community)][0]
    with pytest.raises(FaultError, match="faults\\[0\\].member: .* has no PV"):
        inject_faults(
            community, [{"member": no_pv, "kind": "outage", "start": community.index[5], "days": 1}]
        )


def test_sky_groups_put_together_only_series_that_move_together():
    rng = np.random.default_rng(0)
    sky_a, sky_b = rng.random(500), rng.random(500)
    per_kwp = np.column_stack([sky_a, sky_b, sky_a * 1.01, sky_b, sky_a + 0.001 * rng.random(500)])
    groups = sky_groups(per_kwp)
    assert [list(g) for g in groups] == [[0, 2, 4], [1, 3]]


def test_the_scan_finds_every_injected_fault_and_raises_no_alarm_on_clean_roofs(community, past, pv_ids):
    clean = scan_community(community, past)
    assert len(clean.alarms) == 0, clean.alarms
    assert len(clean.pv) >= 1  # the detector ran (on the groups of members under one sky)
    faulted, injected = inject_faults(community, _faults(pv_ids))
    health = scan_community(faulted, past, injected)
    outcomes = health.faults.set_index("kind")
    assert outcomes["found"].all(), outcomes
    assert outcomes.loc["outage", "delay_days"] == 0  # the same day
    assert outcomes.loc["string_loss", "delay_days"] <= 5
    assert outcomes.loc["soiling", "delay_days"] <= 21
    # The target: >= 90 % of the lost energy inside detected episodes (here per fault, the
    # episodes' estimate against the energy the injection took).
    share = outcomes["alarm_lost_kwh"] / outcomes["lost_kwh"]
    assert (share >= 0.9).all(), share
    # Every alarm is on a member that has a fault.
    assert set(health.alarms["member_id"]) <= set(pv_ids[:3])


def test_simulate_with_faults_writes_what_was_found_and_refuses_a_bad_fault(tmp_path, pv_ids):
    raw = DEFAULT_SCENARIO.read_text()
    raw = raw.replace('dispatch = "planner"', 'dispatch = "rule"').replace(
        "tournament = true", "tournament = false"
    )
    fault = (
        f'\n[[faults]]\nmember = "{pv_ids[0]}"\nkind = "outage"\nstart = "2016-06-06T00:00:00Z"\ndays = 2\n'
    )
    path = tmp_path / "faults.toml"
    path.write_text(raw + fault)
    out = tmp_path / "out"
    week = ["--start", START, "--end", "2016-06-10T00:00:00Z"]
    args = ["simulate", str(path), "--out", str(out), *week, "--ledger", "none"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    found = pd.read_csv(out / "faults.csv")
    assert list(found["member_id"]) == [pv_ids[0]] and bool(found["found"].iloc[0])
    alarms = pd.read_csv(out / "pv_alarms.csv")
    assert set(alarms["member_id"]) == {pv_ids[0]}
    # Their columns are the ones docs/outputs.md defines (its table of each file's section).
    docs = (Path(__file__).parents[2] / "docs" / "outputs.md").read_text()
    for name, frame in (("pv_alarms.csv", alarms), ("faults.csv", found)):
        section = docs.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        defined = set()
        for cells in re.findall(r"^\| (`[^|]+)\|", section, flags=re.M):
            defined |= set(re.findall(r"`([^`]+)`", cells))
        assert set(frame.columns) == defined, (name, set(frame.columns) ^ defined)
    page = (out / "report.html").read_text()
    assert "Equipment health" in page and pv_ids[0] in page
    # The member's lost output shows in what it bought: its bill is higher than without the fault.
    members = pd.read_csv(out / "members.csv").set_index("member_id")
    path.write_text(raw)
    clean_out = tmp_path / "clean"
    result = CliRunner().invoke(app, args[:1] + [str(path), "--out", str(clean_out)] + args[4:])
    assert result.exit_code == 0, result.output
    clean = pd.read_csv(clean_out / "members.csv").set_index("member_id")
    assert members.loc[pv_ids[0], "bill_p2p_battery_eur"] > clean.loc[pv_ids[0], "bill_p2p_battery_eur"]
    assert not (clean_out / "faults.csv").exists()

    bad = tmp_path / "bad.toml"
    bad.write_text(raw + fault.replace(pv_ids[0], "nobody"))
    result = CliRunner().invoke(app, args[:1] + [str(bad), "--out", str(tmp_path / "o")] + args[4:])
    assert result.exit_code == 2, result.output
    assert "faults[0].member" in result.output and "nobody" in result.output
    assert not (tmp_path / "o").exists()
