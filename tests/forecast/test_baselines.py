"""Baselines on synthetic series whose correct forecast is known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wattmesh.forecast import baselines
from wattmesh.forecast.features import FONTANA, clear_sky_ghi


def series(values, freq="h", start="2024-01-01", tz="UTC"):
    index = pd.date_range(start, periods=len(values), freq=freq, tz=tz)
    return pd.DataFrame({"a": values, "b": 2 * np.asarray(values)}, index=index)


def test_seasonal_naive_and_persistence_lags():
    frame = series(np.arange(24 * 10, dtype=float))
    week = baselines.seasonal_naive(frame, "24h", "7D")
    assert week["a"].iloc[24 * 7 + 5] == 5.0
    assert np.isnan(week["a"].iloc[24 * 7 - 1])
    # a 30 h horizon cannot use yesterday: the smallest whole number of days reaching it is 2
    assert baselines.seasonal_naive(frame, "30h", "1D")["b"].iloc[100] == 2 * 52.0
    assert baselines.persistence(frame, "6h")["a"].iloc[10] == 4.0


def test_similar_days_average_uses_only_same_kind_of_day():
    # 2024-01-01 is a Monday; weekday value = day number, weekend value = 100
    days = pd.date_range("2024-01-01", periods=35, freq="D")
    daily = np.where(days.dayofweek >= 5, 100.0, np.arange(35.0))
    frame = series(np.repeat(daily, 24))
    avg = baselines.similar_days_average(frame, "24h", n_days=3)
    monday_week5 = 28 * 24 + 12  # day 28 is a Monday: previous weekdays are days 25, 24, 23 (Fri, Thu, Wed)
    assert avg["a"].iloc[monday_week5] == np.mean([25.0, 24.0, 23.0])
    sunday = 27 * 24 + 3  # previous days off: 26 (Sat), 20 (Sun), 19 (Sat)
    assert avg["a"].iloc[sunday] == 100.0


def test_smart_persistence_is_exact_for_output_proportional_to_clear_sky():
    index = pd.date_range("2016-06-01", periods=24 * 5, freq="h", tz="UTC")
    clear = clear_sky_ghi(index, FONTANA)
    frame = pd.DataFrame({"pv": 0.004 * clear.to_numpy()}, index=index)
    forecast = baselines.smart_persistence(frame, FONTANA, "24h")
    day3 = slice(48, 72)
    np.testing.assert_allclose(forecast["pv"].iloc[day3], frame["pv"].iloc[day3], rtol=1e-9, atol=1e-9)
