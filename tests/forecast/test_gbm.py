"""LightGBM forecaster: no look-ahead, skill and calibration on series with a known structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.forecast import baselines, metrics
from wattmesh.forecast.backtest import rolling_origin_forecasts
from wattmesh.forecast.gbm import GradientBoostingForecaster

NOISE_SD = 0.15


def synthetic_load(days=120, members=3, seed=1):
    """Daily shape x weekday effect x member scale, times lognormal noise with a known spread."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=24 * days, freq="h", tz="UTC")
    hour = index.hour.to_numpy()
    shape = 1.0 + 0.8 * np.exp(-((hour - 19) ** 2) / 6) + 0.4 * np.exp(-((hour - 8) ** 2) / 3)
    weekend = np.where(index.dayofweek.to_numpy() >= 5, 1.3, 1.0)
    scale = np.array([0.5, 1.0, 8.0])[:members]
    noise = np.exp(rng.normal(0, NOISE_SD, (len(index), members)))
    values = (shape * weekend)[:, None] * scale[None, :] * noise
    return (
        pd.DataFrame(values, index=index, columns=[f"h{m}" for m in range(members)]),
        shape * weekend,
        scale,
    )


def small_model(**kw):
    return GradientBoostingForecaster(n_estimators=120, learning_rate=0.08, **kw)


def test_shuffling_the_future_does_not_change_a_forecast_made_before_it():
    frame, _, _ = synthetic_load(days=60)
    origin = frame.index[24 * 45]
    targets = frame.index[(frame.index >= origin) & (frame.index < origin + pd.Timedelta("24h"))]
    model = small_model().fit(frame[frame.index < origin])
    before = model.predict(frame, targets)
    shuffled = frame.copy()
    future = shuffled.index >= origin
    rng = np.random.default_rng(7)
    shuffled.loc[future] = rng.permutation(shuffled.loc[future].to_numpy())
    after = model.predict(shuffled, targets)
    pd.testing.assert_frame_equal(before.point, after.point)
    for q in before.quantiles:
        pd.testing.assert_frame_equal(before.quantiles[q], after.quantiles[q])
    # and the forecasts are not degenerate: they depend on the past
    assert before.point.std().min() > 0


def test_rolling_backtest_ignores_data_after_each_issue_time():
    frame, _, _ = synthetic_load(days=70, members=2)
    start = frame.index[24 * 56]
    first = rolling_origin_forecasts(small_model, frame, test_start=start, retrain_every="7D")
    cut = start + pd.Timedelta("3D")
    scrambled = frame.copy()
    scrambled.loc[scrambled.index >= cut] *= 10.0
    second = rolling_origin_forecasts(small_model, scrambled, test_start=start, retrain_every="7D")
    early = first.point.index < cut + pd.Timedelta("24h")  # issued before the scrambled data begins
    pd.testing.assert_frame_equal(first.point[early], second.point[early])
    assert not np.allclose(first.point[~early], second.point[~early])


def test_global_model_beats_week_ago_naive_and_its_interval_is_calibrated():
    frame, expected, scale = synthetic_load(days=150)
    start = frame.index[24 * 110]
    forecast = rolling_origin_forecasts(lambda: small_model(), frame, test_start=start, retrain_every="20D")
    actual = frame[frame.index >= start].to_numpy()
    naive = baselines.seasonal_naive(frame, "24h", "7D")[frame.index >= start].to_numpy()
    # the oracle (true expected value) bounds what any forecaster can reach
    oracle = (expected[:, None] * scale * np.exp(NOISE_SD**2 / 2))[frame.index >= start]
    rmse_model = metrics.rmse(actual, forecast.point.to_numpy())
    assert metrics.skill(rmse_model, metrics.rmse(actual, naive)) > 20.0
    assert rmse_model < 1.15 * metrics.rmse(actual, oracle)
    coverage = metrics.interval_coverage(actual, forecast.quantiles[0.1], forecast.quantiles[0.9])
    assert 72.0 <= coverage <= 88.0
    # each member in its own scale: the 8x home's forecast mean is 16x the 0.5x home's
    ratio = forecast.point["h2"].mean() / forecast.point["h0"].mean()
    assert ratio == pytest.approx(16.0, rel=0.1)


def test_per_member_models_forecast_their_own_members_only():
    frame, _, _ = synthetic_load(days=40, members=2)
    model = small_model(pooling="member", calibrate=False).fit(frame)
    forecast = model.predict(frame)
    assert list(forecast.point.columns) == ["h0", "h1"]
    assert len(forecast.point) == 24 and forecast.point.index[0] == frame.index[-1] + pd.Timedelta("1h")
    with pytest.raises(ValueError, match="not in fit"):
        model.predict(frame.rename(columns={"h1": "new"}))


def test_targets_beyond_the_horizon_and_bad_history_are_rejected():
    frame, _, _ = synthetic_load(days=30, members=1)
    model = small_model(calibrate=False).fit(frame)
    late = pd.date_range(frame.index[-1] + pd.Timedelta("25h"), periods=1, freq="h")
    with pytest.raises(ValueError, match="more than the horizon"):
        model.predict(frame, late)
    bad = frame.copy()
    bad.iloc[3, 0] = -1.0
    with pytest.raises(ValueError, match="negative value"):
        model.fit(bad)
    with pytest.raises(ValueError, match="timezone-naive"):
        model.fit(frame.tz_localize(None))
    with pytest.raises(ValueError, match="duplicated timestamp"):
        model.fit(pd.concat([frame, frame.iloc[[5]]]).sort_index())


def test_missing_history_is_logged_and_a_member_without_any_is_rejected(caplog):
    frame, _, _ = synthetic_load(days=30, members=2)
    model = small_model(calibrate=False).fit(frame)
    gappy = frame.copy()
    gappy.iloc[-30:-20, 0] = np.nan
    with caplog.at_level("WARNING", logger="wattmesh.forecast"):
        forecast = model.predict(gappy)
    assert "10 missing value(s) in 1 member(s)" in caplog.text
    assert forecast.point.notna().all().all()
    gappy.iloc[-24 * 10 :, 1] = np.nan
    with pytest.raises(ValueError, match=r"members \['h1'\] have no value"):
        model.predict(gappy)


def test_pv_forecast_is_zero_at_night_and_its_daylight_interval_is_calibrated():
    from wattmesh.forecast.features import FONTANA, clear_sky_ghi

    rng = np.random.default_rng(3)
    index = pd.date_range("2016-03-01", periods=24 * 120, freq="h", tz="UTC")
    clear = clear_sky_ghi(index, FONTANA).to_numpy()
    cloud = np.repeat(rng.uniform(0.3, 1.0, 120), 24)  # one cloudiness per day, unknown a day ahead
    frame = pd.DataFrame({"pv": 0.004 * clear * cloud}, index=index)
    start = index[24 * 90]
    forecast = rolling_origin_forecasts(
        lambda: small_model(kind="pv", site=FONTANA), frame, test_start=start, retrain_every="30D"
    )
    day = clear[index >= start] > 0
    actual = frame["pv"].to_numpy()[index >= start]
    assert (forecast.point["pv"].to_numpy()[~day] == 0).all()
    lo, hi = forecast.quantiles[0.1]["pv"].to_numpy(), forecast.quantiles[0.9]["pv"].to_numpy()
    coverage = metrics.interval_coverage(actual[day], lo[day], hi[day])
    assert 70.0 <= coverage <= 95.0
