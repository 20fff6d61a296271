"""Baseline forecasters: persistence, seasonal naive, similar-days average, smart persistence for PV.

Each takes the observed history (intervals x members) and the horizon, and returns for every interval
``t`` the forecast issued at ``t - horizon`` using only data up to then, as a frame of the same shape
(NaN where not enough history exists). A day-ahead forecast is ``horizon = 24h``.

References
----------
.. [1] Hyndman, R. J. and Athanasopoulos, G. (2021). Forecasting: principles and practice, 3rd ed.,
   section 5.2 (naive and seasonal naive methods). OTexts.
.. [2] Pedro, H. T. C. and Coimbra, C. F. M. (2012). Assessment of forecasting techniques for solar power
   production with no exogenous inputs. Solar Energy 86(7), 2017-2028 (smart persistence).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from wattmesh.forecast.features import (
    Site,
    calendar_features,
    clear_sky_ghi,
    lagged,
    step_of,
    steps_in,
)

DAY = pd.Timedelta("1D")


def _frame(values: np.ndarray, like: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(values, index=like.index, columns=like.columns)


def persistence(history: pd.DataFrame, horizon: str = "24h") -> pd.DataFrame:
    """Last value known at issue time: ``y(t - horizon)`` [1]_.

    For a 24 h horizon this is "same time yesterday", the usual day-ahead persistence for PV.
    """
    h = steps_in(horizon, step_of(history.index))
    return _frame(lagged(history.to_numpy(dtype=float), h), history)


def seasonal_naive(history: pd.DataFrame, horizon: str = "24h", period: str = "1D") -> pd.DataFrame:
    """Same time one season ago, ``y(t - k * period)`` with the smallest ``k`` reaching the horizon [1]_.

    ``period="1D"`` is same time yesterday, ``period="7D"`` same time last week.
    """
    step = step_of(history.index)
    h = steps_in(horizon, step)
    p = steps_in(period, step, "period")
    lag = int(np.ceil(h / p)) * p
    return _frame(lagged(history.to_numpy(dtype=float), lag), history)


def similar_days_stack(
    history: pd.DataFrame,
    horizon: str = "24h",
    n_days: int = 4,
    tz: str = "UTC",
    holidays: object = None,
    search_days: int = 28,
) -> np.ndarray:
    """Values at the same time on the last ``n_days`` days of the same kind (working day or day off).

    Returns an array (n_days, intervals, members); NaN where fewer similar days exist in the last
    ``search_days`` days before the issue time.
    """
    step = step_of(history.index)
    h = steps_in(horizon, step)
    d = steps_in(DAY, step, "day")
    first = int(np.ceil(h / d))
    lags = [k * d for k in range(first, first + search_days)]
    values = history.to_numpy(dtype=float)
    off = calendar_features(history.index, tz, holidays)["is_day_off"].to_numpy()
    out = np.full((n_days, values.shape[0], values.shape[1]), np.nan)
    found = np.zeros(values.shape[0], dtype=np.int64)  # similar days found so far for each interval
    for lag in lags:  # one lag at a time keeps memory at n_days copies of the data, not search_days
        same = lagged(off[:, None], lag)[:, 0] == off
        slot = np.flatnonzero(same & (found < n_days))
        if slot.size:
            out[found[slot], slot] = lagged(values, lag)[slot]
            found[slot] += 1
    return out
    return out


def similar_days_average(
    history: pd.DataFrame,
    horizon: str = "24h",
    n_days: int = 4,
    tz: str = "UTC",
    holidays: object = None,
) -> pd.DataFrame:
    """Mean of the same time of day over the last ``n_days`` similar days (working day or day off)."""
    stack = similar_days_stack(history, horizon, n_days, tz, holidays)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(stack, axis=0)
    return _frame(mean, history)


def similar_days_quantiles(
    history: pd.DataFrame,
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9),
    horizon: str = "24h",
    n_days: int = 10,
    tz: str = "UTC",
    holidays: object = None,
) -> dict[float, pd.DataFrame]:
    """Empirical quantiles over the last ``n_days`` similar days: the probabilistic similar-days baseline."""
    stack = similar_days_stack(history, horizon, n_days, tz, holidays)
    out: dict[float, pd.DataFrame] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for q in quantiles:
            out[q] = _frame(np.nanquantile(stack, q, axis=0), history)
    return out


def smart_persistence(
    history: pd.DataFrame, site: Site, horizon: str = "24h", min_clear_sky_ghi: float = 50.0
) -> pd.DataFrame:
    """PV smart persistence: the clear-sky index at ``t - horizon`` times the clear sky at ``t`` [2]_.

    The index is the ratio of PV output to clear-sky irradiance; it is held constant over the horizon.
    Where the sun is low (clear-sky GHI below ``min_clear_sky_ghi`` [W/m2]) at either time, the index
    of that hour is unreliable, so the forecast falls back to the value one day before at ``t``'s time of
    day, scaled by the clear-sky ratio.
    """
    step = step_of(history.index)
    h = steps_in(horizon, step)
    d = steps_in(DAY, step, "day")
    cs = clear_sky_ghi(history.index, site).to_numpy()[:, None]
    values = history.to_numpy(dtype=float)
    cs_then = lagged(cs, h)
    with np.errstate(invalid="ignore", divide="ignore"):
        index_then = np.where(cs_then >= min_clear_sky_ghi, lagged(values, h) / cs_then, np.nan)
        forecast = index_then * cs
        day_lag = int(np.ceil(h / d)) * d
        cs_day = lagged(cs, day_lag)
        fallback = np.where(cs_day > 0, lagged(values, day_lag) * cs / cs_day, 0.0)
    forecast = np.where(np.isfinite(forecast), forecast, fallback)
    forecast = np.where(cs > 0, forecast, 0.0)
    return _frame(np.clip(forecast, 0.0, None), history)
