"""Issue 5's 'how far can one get': the MAPE-aware point model, once-a-day issue times, the daily oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.forecast.evaluate import daily_energy_oracle, issued_daily_forecasts
from wattmesh.forecast.features import step_of
from wattmesh.forecast.gbm import Forecast, GradientBoostingForecaster

TZ = "Etc/GMT+8"  # local days start at 08:00 UTC


def hourly_local(days: int, start: str = "2024-03-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=24 * days, freq="h", tz=TZ).tz_convert("UTC")


def test_point_objective_is_checked():
    with pytest.raises(ValueError, match="point_objective: 'mae' is not one of regression, l1, mape"):
        GradientBoostingForecaster(point_objective="mae")


def test_absolute_error_point_model_forecasts_the_median_and_mape_lower_still():
    # Lognormal noise with sigma 0.5: the mean is exp(0.125) = 1.133 times the median.
    rng = np.random.default_rng(3)
    index = hourly_local(150)
    hour = index.tz_convert(TZ).hour.to_numpy()
    shape = 1.0 + 0.8 * np.exp(-((hour - 19) ** 2) / 6)
    load = pd.DataFrame({"home": shape * np.exp(rng.normal(0, 0.5, len(index)))}, index=index)
    cut = index[24 * 120]
    means = {}
    for objective in ("regression", "l1", "mape"):
        model = GradientBoostingForecaster(
            point_objective=objective, quantiles=(0.5,), calibrate=False, n_estimators=150, seed=1
        )
        model.fit(load[index < cut])
        targets = index[index >= cut]
        point = model.predict(load, targets).point["home"].to_numpy()
        means[objective] = float(np.mean(point / shape[index >= cut]))
    # Tolerances cover the spread over noise seeds (least squares 1.15-1.21, l1 1.01-1.07).
    assert means["regression"] == pytest.approx(np.exp(0.125), abs=0.1)
    assert means["l1"] == pytest.approx(1.0, abs=0.08)
    # LightGBM's mape weighs values above the member's mean less, so it forecasts below the median.
    assert means["mape"] < means["l1"]


def test_daily_energy_oracle_is_exact_for_a_fixed_profile_and_averages_past_profiles():
    days = 60
    index = hourly_local(days)
    local_hour = index.tz_convert(TZ).hour.to_numpy()
    day = np.repeat(np.arange(days), 24)
    level = 10.0 + np.arange(days) % 7  # the daily energy varies, the shape does not (until day 40)
    p1 = 1.0 + np.sin(2 * np.pi * np.arange(24) / 24) / 2
    p2 = np.where(np.arange(24) >= 12, 2.0, 0.5)
    profile = np.where(day[:, None] < 40, p1[None, :], p2[None, :])[np.arange(24 * days), local_hour]
    history = pd.DataFrame({"a": level[day] * profile, "b": 3 * level[day] * profile}, index=index)

    oracle = daily_energy_oracle(history, TZ, days=28)

    assert oracle.iloc[: 24 * 14].isna().all().all()  # fewer than half of the 28 days before
    np.testing.assert_allclose(oracle.iloc[24 * 14 : 24 * 40], history.iloc[24 * 14 : 24 * 40], rtol=1e-12)
    # Day 41's true mean is level x mean(p2); its profile is 27 days of p1 and one of p2, each divided
    # by its own daily mean.
    expected = level[41] * p2.mean() * (27 * p1 / p1.mean() + p2 / p2.mean()) / 28
    np.testing.assert_allclose(oracle["a"].iloc[24 * 41 : 24 * 42], expected, rtol=1e-12)
    np.testing.assert_allclose(oracle["b"].iloc[24 * 41 : 24 * 42], 3 * expected, rtol=1e-12)


class PersistenceAtHorizon:
    """Stands in for a forecaster: forecasts y(t - horizon), to test which data each target sees."""

    def __init__(self, horizon: str) -> None:
        self.horizon = pd.Timedelta(horizon)

    def fit(self, history, weather=None):
        return self

    def predict(self, history, index, weather=None) -> Forecast:
        full = history.reindex(history.index.union(index))
        shifted = full.shift(freq=self.horizon).reindex(index)
        assert self.horizon >= pd.Timedelta("1h") and history.index[-1] >= index[-1] - self.horizon
        return Forecast(point=shifted)


@pytest.mark.parametrize(("last_known_hour", "first_lead_h"), [(23, 1), (11, 13)])
def test_once_a_day_forecast_knows_the_day_before_up_to_its_issue_hour(last_known_hour, first_lead_h):
    rng = np.random.default_rng(0)
    index = hourly_local(40)
    history = pd.DataFrame({"x": rng.uniform(1, 2, len(index))}, index=index)
    start = index[24 * 20]  # local midnight
    leads = []

    def make(horizon: str) -> PersistenceAtHorizon:
        leads.append(pd.Timedelta(horizon))
        return PersistenceAtHorizon(horizon)

    forecast = issued_daily_forecasts(
        make, history, test_start=start, last_known_hour=last_known_hour, tz=TZ, retrain_every="7D"
    )
    # Persistence at each hour's lead forecasts every hour of a day by the value at the issue hour.
    local = index.tz_convert(TZ)
    issue_value = history["x"][local.hour == last_known_hour]
    issue_day = issue_value.index.tz_convert(TZ).normalize() + pd.Timedelta("1D")
    expected = pd.Series(issue_value.to_numpy(), index=issue_day)
    target_day = forecast.index.tz_convert(TZ).normalize()
    np.testing.assert_array_equal(forecast["x"].to_numpy(), expected.reindex(target_day).to_numpy())
    assert min(leads) == pd.Timedelta(hours=first_lead_h)
    assert max(leads) == pd.Timedelta(hours=first_lead_h + 23)
    assert step_of(forecast.index) == pd.Timedelta("1h")


def test_once_a_day_issue_hour_is_checked():
    history = pd.DataFrame({"x": np.ones(24 * 3)}, index=hourly_local(3))
    with pytest.raises(ValueError, match="last_known_hour: 24 is not an hour between 0 and 23"):
        issued_daily_forecasts(
            PersistenceAtHorizon, history, test_start=history.index[24], last_known_hour=24, tz=TZ
        )


def test_run_backtest_builds_its_models_with_the_requested_pooling_and_trees(monkeypatch):
    from wattmesh.forecast import evaluate

    made = []

    class Recording(GradientBoostingForecaster):
        def __init__(self, **kw):
            super().__init__(**kw)
            made.append((self.pooling, self.n_estimators))

    monkeypatch.setattr(evaluate, "GradientBoostingForecaster", Recording)
    rng = np.random.default_rng(2)
    index = hourly_local(45)
    history = pd.DataFrame(rng.uniform(1, 2, (len(index), 2)), index=index, columns=["a", "b"])
    site = evaluate.Site(latitude=34.0, longitude=-117.0, tz=TZ)
    result = evaluate.run_backtest(
        "toy", history, kind="load", site=site, pooling="member", n_estimators=7, retrain_every="60D"
    )
    assert made == [("member", 7)]
    assert {"lightgbm", "similar_days", "same_time_last_week"} <= set(result.table.index)
