"""LightGBM day-ahead forecasts inside the simulator: no look-ahead, better than similar days, plannable."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from wattmesh.community.build import build_community
from wattmesh.community.scenario import ScenarioError, load_scenario
from wattmesh.energy.members import (
    GERMANY,
    _planned_homes,
    community_site,
    day_ahead_forecasts,
    past_community,
    plan_dispatch,
)
from wattmesh.forecast.baselines import similar_days_average
from wattmesh.forecast.online import retrain_times

DAY = pd.Timedelta("24h")


def scenario_between(start: str, end: str):
    return load_scenario(overrides={"time.start": start, "time.end": end})


@pytest.fixture(scope="module")
def two_days():
    """The default scenario over two June days, with the homes' last 14 days before them."""
    scenario = scenario_between("2016-06-10T00:00:00Z", "2016-06-12T00:00:00Z")
    return build_community(scenario), past_community(scenario, 14)


def gbm(community, past, **options):
    homes = _planned_homes(community)
    return day_ahead_forecasts(
        community, homes, community.index, "gbm", past, retrain_days=1, train_days=14, **options
    )


def test_retraining_times_follow_the_schedule_and_skip_times_without_history():
    t = pd.Timestamp
    origin = t("2016-05-31", tz="UTC")
    times = retrain_times(
        origin,
        t("2016-06-02 06:00", tz="UTC"),
        t("2016-06-20", tz="UTC"),
        t("2016-05-27", tz="UTC"),
        pd.Timedelta("7D"),
        pd.Timedelta("7D"),
    )
    # Grid May 31, June 7, 14; May 31 (the one issuing June 2) has only 4 days of data before it.
    assert list(times) == [t("2016-06-07", tz="UTC"), t("2016-06-14", tz="UTC")]


def test_forecasts_issued_before_a_time_ignore_every_measurement_from_it_on(two_days):
    community, past = two_days
    before = gbm(community, past)
    cut = pd.Timestamp("2016-06-10 13:00", tz="UTC")
    later = (community.index >= cut)[:, None]
    rng = np.random.default_rng(1)
    changed = replace(
        community,
        load_kw=np.where(
            later, community.load_kw * rng.uniform(0.2, 3.0, community.load_kw.shape), community.load_kw
        ),
        generation_kw=np.where(later, community.generation_kw[::-1] * 1.7, community.generation_kw),
    )
    after = gbm(changed, past)
    issued_before = community.index - DAY < cut
    assert issued_before.sum() == 96 + 52 and (~issued_before).sum() == 44
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old.to_numpy()[issued_before], new.to_numpy()[issued_before])
    # The change does reach the forecasts issued after it (the comparison above can fail).
    assert not np.allclose(before[0].to_numpy()[~issued_before], after[0].to_numpy()[~issued_before])
    assert not np.allclose(before[1].to_numpy()[~issued_before], after[1].to_numpy()[~issued_before])


def test_without_history_gbm_falls_back_to_the_similar_days_average(short_community):
    homes = _planned_homes(short_community)
    index = short_community.index
    fallback = day_ahead_forecasts(short_community, homes, index, "gbm")
    ids = short_community.members["member_id"][homes]
    load = pd.DataFrame(short_community.load_kw[:, homes], index=index, columns=ids)
    pv = pd.DataFrame(short_community.generation_kw[:, homes], index=index, columns=ids)
    pd.testing.assert_frame_equal(fallback[0], similar_days_average(load, "24h"))
    pd.testing.assert_frame_equal(fallback[1], similar_days_average(pv, "24h"))


def test_the_pv_site_is_the_feeders_location(short_community):
    site = community_site(short_community)
    # SimBench's 1-LV-rural3 buses lie near 53.65 N, 11.41 E (northern Germany).
    assert site.latitude == pytest.approx(53.65, abs=0.05)
    assert site.longitude == pytest.approx(11.41, abs=0.05)
    assert community_site(replace(short_community, meta={})) == GERMANY


def test_planner_runs_on_gbm_forecasts(two_days):
    community, past = two_days
    fits = []
    plan = plan_dispatch(
        community,
        "gbm",
        4,
        past=past,
        retrain_days=1,
        train_days=14,
        progress=lambda d, n: fits.append((d, n)),
    )
    assert fits == [(1, 4), (2, 4), (3, 4), (4, 4)]  # two retrainings (June 9, 10) for load and for PV
    storage = community.storage_by_member("battery")
    assert plan.planned.sum() == 41
    assert (plan.soc_kwh <= storage["capacity_kwh"][None, :] + 1e-6).all()
    assert (plan.soc_kwh >= -1e-6).all()
    assert (plan.charge_kw * plan.discharge_kw <= 1e-6).all()
    assert "LightGBM forecasts" in plan.label


@pytest.mark.slow
def test_gbm_beats_similar_days_on_the_planned_homes_over_two_june_weeks():
    """Measured (June 1-15, 120 days of history, retrained weekly): RMSE of the planned homes' summed
    load 2.67 kW (similar days 2.89), of their summed PV 14.13 kW (similar days 14.88)."""
    scenario = scenario_between("2016-06-01T00:00:00Z", "2016-06-15T00:00:00Z")
    community, past = build_community(scenario), past_community(scenario, 120)
    homes = _planned_homes(community)
    load_gbm, pv_gbm = day_ahead_forecasts(community, homes, community.index, "gbm", past)
    ids = community.members["member_id"][homes]
    index = past.index.append(community.index)
    span = index >= community.index[0]
    for forecast, past_kw, now_kw, margin in (
        (load_gbm, past.load_kw, community.load_kw, 0.05),
        (pv_gbm, past.generation_kw, community.generation_kw, 0.03),
    ):
        measured = pd.DataFrame(np.vstack([past_kw[:, homes], now_kw[:, homes]]), index=index, columns=ids)
        reference = similar_days_average(measured, "24h")[span]
        actual = measured[span]
        rmse_gbm = np.sqrt(np.mean((forecast.sum(axis=1) - actual.sum(axis=1)) ** 2))
        rmse_reference = np.sqrt(np.mean((reference.sum(axis=1) - actual.sum(axis=1)) ** 2))
        assert rmse_gbm < (1 - margin) * rmse_reference


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("forecast", "lightgbm", "'lightgbm' is not one of similar_days, persistence, perfect, gbm"),
        ("forecast_retrain_days", 0, "0 is below the minimum 1"),
        ("forecast_train_days", 3, "3 is below the minimum 7"),
    ],
)
def test_bad_forecast_settings_are_reported_with_field_and_value(field, value, message):
    import tomllib

    from wattmesh.community.scenario import DEFAULT_SCENARIO, parse_scenario

    raw = tomllib.loads(DEFAULT_SCENARIO.read_text())
    raw["energy"][field] = value
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(raw)
    assert {p.field: p.message for p in caught.value.problems} == {f"energy.{field}": message}


def test_gbm_is_a_valid_forecast_choice():
    import tomllib

    from wattmesh.community.scenario import DEFAULT_SCENARIO, parse_scenario

    raw = tomllib.loads(DEFAULT_SCENARIO.read_text())
    raw["energy"].update(forecast="gbm", forecast_retrain_days=14, forecast_train_days=60)
    scenario = parse_scenario(raw)
    assert (scenario["energy.forecast"], scenario["energy.forecast_retrain_days"]) == ("gbm", 14)
    assert scenario["energy.forecast_train_days"] == 60
