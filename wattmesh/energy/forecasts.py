"""The forecast interface of the planners, with the perfect and naive forecasts used until real ones exist.

A forecaster is any callable ``forecaster(history, target) -> frame``: ``history`` is a frame of what has
been measured so far (rows: interval start times before ``target[0]``, columns: members), ``target`` the
interval start times to forecast, and the result a frame indexed by ``target`` with the same columns. The
forecasters of ``wattmesh.forecast`` plug in by wrapping their predict call in such a function.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

Forecaster = Callable[[pd.DataFrame, pd.DatetimeIndex], pd.DataFrame]


def perfect_forecast(actual: pd.DataFrame) -> Forecaster:
    """A forecaster that knows the future: it returns ``actual`` over the target (the perfect-foresight case).

    Parameters
    ----------
    actual : the measured values over the whole span (rows: interval starts, columns: members)
    """
    values = actual.to_numpy()
    index = actual.index

    def forecast(history: pd.DataFrame, target: pd.DatetimeIndex) -> pd.DataFrame:
        first = index.searchsorted(target[0])
        rows = values[first : first + len(target)]
        if len(rows) < len(target):
            rows = np.vstack([rows, np.repeat(rows[-1:], len(target) - len(rows), axis=0)])
        return pd.DataFrame(rows, index=target, columns=actual.columns)

    return forecast


def persistence(history: pd.DataFrame, target: pd.DatetimeIndex) -> pd.DataFrame:
    """The last measured value, held over the whole target (zero when nothing has been measured)."""
    last = history.to_numpy()[-1] if len(history) else np.zeros(history.shape[1])
    return pd.DataFrame(np.repeat(last[None, :], len(target), axis=0), index=target, columns=history.columns)


def seasonal_naive(period: str | pd.Timedelta = "1D") -> Forecaster:
    """A forecaster that repeats the value measured one ``period`` before each target time (day: ``"1D"``).

    Targets further ahead than one period repeat the last measured period again; before a full period
    has been measured, the forecast falls back to persistence.
    """
    period = pd.Timedelta(period)

    def forecast(history: pd.DataFrame, target: pd.DatetimeIndex) -> pd.DataFrame:
        if len(history) < 2 or history.index[-1] - history.index[0] < period - (
            history.index[1] - history.index[0]
        ):
            return persistence(history, target)
        step = history.index[1] - history.index[0]
        per = max(int(round(period / step)), 1)
        values = history.to_numpy()
        ahead = np.arange(len(target)) + 1  # target[i] is i + 1 intervals after the last measured one
        back = per - ((ahead - 1) % per)  # rows back from the end: the same phase of the last full period
        rows = values[len(values) - back]
        return pd.DataFrame(rows, index=target, columns=history.columns)

    return forecast


def from_frame(forecasts: pd.DataFrame) -> Forecaster:
    """A forecaster that looks its values up in a frame of forecasts made in advance (e.g. day-ahead).

    Parameters
    ----------
    forecasts : forecast for each interval start (rows) and member (columns), each issued early enough to
        be known when the planner runs, e.g. ``wattmesh.forecast.baselines.similar_days_average(history,
        "24h")``; where it is NaN, persistence fills in
    """

    def forecast(history: pd.DataFrame, target: pd.DatetimeIndex) -> pd.DataFrame:
        out = forecasts.reindex(target)
        if out.isna().to_numpy().any():
            out = out.fillna(persistence(history, target))
        return out

    return forecast
