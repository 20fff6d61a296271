"""Utility tariffs as price series: a base price with time-of-use windows in local time."""

from __future__ import annotations

import numpy as np
import pandas as pd


def tou_price_series(
    index: pd.DatetimeIndex, base_per_kwh: float, windows: list[dict], timezone: str
) -> np.ndarray:
    """Price per interval [currency/kWh]: ``base_per_kwh``, replaced inside each time-of-use window.

    Parameters
    ----------
    index : interval starts, tz-aware
    base_per_kwh : price outside every window [currency/kWh]
    windows : dicts with ``start`` and ``end`` ("HH:MM", local time; end before start crosses midnight),
        ``price_per_kwh`` and ``days`` ("all", "weekdays", "weekends"); later windows win where they overlap
    timezone : the local time zone the windows are given in
    """
    price = np.full(len(index), float(base_per_kwh))
    local = index.tz_convert(timezone)
    minute_of_day = local.hour * 60 + local.minute
    weekend = local.dayofweek >= 5
    for window in windows:
        start = _minutes(window["start"])
        end = _minutes(window["end"])
        inside = (
            (minute_of_day >= start) & (minute_of_day < end)
            if start < end
            else ((minute_of_day >= start) | (minute_of_day < end))
        )
        if window["days"] == "weekdays":
            inside &= ~weekend
        elif window["days"] == "weekends":
            inside &= weekend
        price[inside] = window["price_per_kwh"]
    return price


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)
