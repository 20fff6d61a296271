"""PV detector on NREL system 50's measured series with neighbours and injected faults of known size."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from wattmesh.maintenance.data import SYSTEM50, load_system50
from wattmesh.maintenance.faults import (
    inject_comm_loss,
    inject_outage,
    inject_shading,
    inject_soiling,
    inject_string_loss,
    make_neighbours,
)
from wattmesh.maintenance.pv import MaintenanceInputError, assess_pv, expected_ac_power_kw


@pytest.fixture(scope="module")
def year():
    power, weather = load_system50()
    keep = slice("2011-04-15", "2012-04-14")
    power, weather = power[keep].rename(SYSTEM50.name), weather[keep]
    pv, specs = make_neighbours(power, weather, SYSTEM50, 5, seed=1)
    return pv, weather, specs


def test_model_tracks_the_measured_system_on_clear_days(year):
    pv, weather, specs = year
    expected = expected_ac_power_kw([SYSTEM50], weather).iloc[:, 0]
    clear = ((weather.ghi - weather.ghi_clear).abs() < 30) & (expected > 1.0)
    ratio = (pv[SYSTEM50.name] / expected)[clear].median()
    assert 0.85 < ratio < 1.1  # declared size and orientation fit the measurements


def test_outage_is_alarmed_the_same_day_and_its_loss_estimated(year):
    pv, weather, specs = year
    faulted = pv.copy()
    name = specs[2].name
    day = pd.Timestamp("2011-08-10", tz="UTC")
    faulted[name], _ = inject_outage(pv[name], day + pd.Timedelta(hours=15), day + pd.Timedelta(hours=21))
    true_lost = float((pv[name] - faulted[name]).sum() * 0.25)
    res = assess_pv(faulted, weather, specs, compute_degradation=False)
    outages = [a for a in res.alarms if a.asset == name and a.fault_type == "outage"]
    assert [a.start for a in outages] == [day]
    assert outages[0].lost_kwh == pytest.approx(true_lost, rel=0.25)


def test_missing_readings_are_a_communication_loss_not_an_outage(year):
    pv, weather, specs = year
    faulted = pv.copy()
    name = specs[3].name
    start = pd.Timestamp("2011-09-05", tz="UTC")
    faulted[name], _ = inject_comm_loss(
        pv[name], start, start + pd.Timedelta(days=3) - pd.Timedelta(minutes=15)
    )
    res = assess_pv(faulted, weather, specs, compute_degradation=False)
    days = pd.date_range(start, periods=3, freq="D")
    assert (res.day_status.loc[days, name] == "comm_loss").all()
    assert res.lost_kwh.loc[days, name].isna().all()
    assert not [a for a in res.alarms if a.asset == name and a.start <= days[-1] and a.end >= days[0]]


def test_string_loss_is_found_within_five_days_and_typed(year):
    pv, weather, specs = year
    faulted = pv.copy()
    name = specs[1].name
    start = pd.Timestamp("2011-09-20", tz="UTC")
    faulted[name], _ = inject_string_loss(pv[name], start, 0.2, start + pd.Timedelta(days=40))
    res = assess_pv(faulted, weather, specs, compute_degradation=False)
    hits = [a for a in res.alarms if a.asset == name and start <= a.detected <= start + pd.Timedelta(days=40)]
    assert hits and (hits[0].detected - start).days <= 5
    assert hits[0].fault_type == "string_loss"
    assert hits[0].performance_drop == pytest.approx(0.2, abs=0.05)


def test_clean_feeder_raises_at_most_one_alarm_per_system_year(year):
    pv, weather, specs = year
    res = assess_pv(pv, weather, specs, compute_degradation=False)
    assert len(res.alarms) <= len(specs)


def test_degradation_needs_two_years_and_says_so(year):
    pv, weather, specs = year
    res = assess_pv(pv[[SYSTEM50.name]], weather, [SYSTEM50])
    d = res.degradation[0]
    assert not d.computed and np.isnan(d.rate_pct_per_year) and "730" in d.reason


def test_impossible_orientation_is_refused(year):
    pv, weather, specs = year
    with pytest.raises(MaintenanceInputError, match="tilt_deg 120"):
        assess_pv(pv[[SYSTEM50.name]], weather, [replace(SYSTEM50, tilt_deg=120.0)])


def test_readings_with_missing_rows_are_refused(year):
    pv, weather, specs = year
    holed = pv.drop(pv.index[100:110])
    with pytest.raises(MaintenanceInputError, match="not regular"):
        assess_pv(holed, weather, specs)


def test_morning_shade_is_typed_shading_and_soiling_typed_soiling(year):
    pv, weather, specs = year
    faulted = pv.copy()
    shade_start = pd.Timestamp("2011-08-01", tz="UTC")
    soil_start = pd.Timestamp("2011-09-15", tz="UTC")
    faulted[specs[4].name], _ = inject_shading(
        pv[specs[4].name], shade_start, 0.5, SYSTEM50.longitude, True, shade_start + pd.Timedelta(days=40)
    )
    faulted[specs[5].name], _ = inject_soiling(
        pv[specs[5].name], soil_start, 0.004, soil_start + pd.Timedelta(days=45)
    )
    res = assess_pv(faulted, weather, specs, compute_degradation=False)
    shade = [
        a for a in res.alarms if a.asset == specs[4].name and a.start <= shade_start + pd.Timedelta(days=40)
    ]
    soil = [a for a in res.alarms if a.asset == specs[5].name and a.detected >= soil_start]
    assert shade and shade[0].fault_type == "shading"
    assert soil and soil[0].fault_type == "soiling" and (soil[0].detected - soil_start).days <= 21
