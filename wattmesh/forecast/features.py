"""Inputs of the forecasters: the time step, lags over (intervals, members) arrays, calendar and clear sky.

Every feature for a target interval ``t`` uses only data at or before ``t - horizon`` (lags of at least
the horizon) or things known in advance (the calendar, the sun's position, weather forecasts that the
caller has aligned to their issue time), so a forecast never sees the future.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.quality.meter import check_meter_data, regular_step


@dataclass(frozen=True)
class Site:
    """Where a community is: for the clear sky and the local calendar.

    Attributes
    ----------
    latitude, longitude : degrees north and east [deg]
    tz : time zone of the local calendar (daily routines), e.g. ``"America/Los_Angeles"``
    altitude : [m] above sea level
    """

    latitude: float
    longitude: float
    tz: str = "UTC"
    altitude: float = 0.0


#: Fontana, California: the CityLearn 2022 homes (read as PST all year, as the reader does).
FONTANA = Site(latitude=34.09, longitude=-117.43, tz="Etc/GMT+8", altitude=377.0)
#: NREL, Golden, Colorado: pvanalytics' measured system 50 (times in MST all year).
GOLDEN = Site(latitude=39.7406, longitude=-105.1774, tz="Etc/GMT+7", altitude=1795.0)


def step_of(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The interval length of a regular index [time]."""
    return regular_step(index)


def steps_in(duration: str | pd.Timedelta, step: pd.Timedelta, field: str = "horizon") -> int:
    """How many intervals of length ``step`` make ``duration``; it must be a positive whole number."""
    td = pd.Timedelta(duration)
    n = td / step
    if td <= pd.Timedelta(0) or n != int(n):
        raise ValueError(f"{field}: {duration!s} is not a positive whole number of {step} intervals")
    return int(n)


def validated_history(history: pd.DataFrame, field: str, *, allow_negative: bool = False) -> pd.DataFrame:
    """``history`` as float on a regular tz-aware UTC grid, or a ValueError naming each problem."""
    if isinstance(history, pd.Series):
        history = history.to_frame()
    check_meter_data(history, field, allow_negative=allow_negative, allow_nan=True)
    out = history.astype(float)
    out.index = out.index.tz_convert("UTC")
    return out


def lagged(values: np.ndarray, lag: int) -> np.ndarray:
    """``values`` (intervals, members) shifted down by ``lag`` rows, NaN where no earlier value exists."""
    out = np.full(values.shape, np.nan)
    if lag < values.shape[0]:
        out[lag:] = values[: values.shape[0] - lag]
    return out


def lag_stack(values: np.ndarray, lags: Iterable[int]) -> np.ndarray:
    """Lagged copies of ``values`` stacked as (len(lags), intervals, members)."""
    return np.stack([lagged(values, lag) for lag in lags])


def trailing_mean(values: np.ndarray, window: int, lag: int) -> np.ndarray:
    """Mean over rows ``t - lag - window + 1 .. t - lag`` ignoring NaN (intervals, members)."""
    finite = np.isfinite(values)
    csum = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(np.where(finite, values, 0.0), 0)])
    ccnt = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(finite, 0)])
    n = values.shape[0]
    end = np.arange(n) - lag + 1  # exclusive end in cumulative coordinates
    start = end - window
    ok = end >= 1
    end_c = np.clip(end, 0, n)
    start_c = np.clip(start, 0, n)
    total = csum[end_c] - csum[start_c]
    count = ccnt[end_c] - ccnt[start_c]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where((count > 0) & ok[:, None], total / np.maximum(count, 1), np.nan)
    return out


def calendar_features(
    index: pd.DatetimeIndex, tz: str = "UTC", holidays: Iterable[object] | None = None
) -> pd.DataFrame:
    """Local calendar of each interval: hour of day, day of week, weekend or holiday, season.

    Columns: ``hour`` (fractional local hour, 0-24), ``weekday`` (0 = Monday), ``is_day_off`` (weekend or
    holiday), ``doy_sin``, ``doy_cos`` (day of year on the unit circle).
    """
    local = index.tz_convert(tz)
    hour = local.hour + local.minute / 60.0
    weekday = local.dayofweek
    off = weekday >= 5
    if holidays is not None:
        days = pd.DatetimeIndex(pd.to_datetime(list(holidays))).normalize()
        off = off | local.tz_localize(None).normalize().isin(days)
    angle = 2 * np.pi * (local.dayofyear - 1) / 365.25
    return pd.DataFrame(
        {
            "hour": np.asarray(hour, dtype=float),
            "weekday": np.asarray(weekday, dtype=float),
            "is_day_off": np.asarray(off, dtype=float),
            "doy_sin": np.sin(angle),
            "doy_cos": np.cos(angle),
        },
        index=index,
    )


def clear_sky_ghi(index: pd.DatetimeIndex, site: Site) -> pd.Series:
    """Clear-sky global horizontal irradiance at each interval's midpoint [W/m2].

    Ineichen-Perez model with Linke turbidity from pvlib's monthly climatology [1]_.

    References
    ----------
    .. [1] Ineichen, P. and Perez, R. (2002). A new airmass independent formulation for the Linke
       turbidity coefficient. Solar Energy 73(3), 151-157.
    """
    from pvlib.location import Location

    step = step_of(index) if len(index) > 1 else pd.Timedelta("1h")
    mid = index + step / 2
    location = Location(site.latitude, site.longitude, altitude=site.altitude)
    ghi = location.get_clearsky(mid, model="ineichen")["ghi"].to_numpy()
    return pd.Series(np.clip(ghi, 0.0, None), index=index, name="clear_sky_ghi")


def clear_sky_poa(
    index: pd.DatetimeIndex, site: Site, tilt_deg: float = 30.0, azimuth_deg: float | None = None
) -> pd.Series:
    """Clear-sky irradiance on a tilted plane at each interval's midpoint [W/m2].

    Ineichen-Perez clear sky (as :func:`clear_sky_ghi`) transposed to a plane of tilt ``tilt_deg``
    [deg from horizontal] facing ``azimuth_deg`` [deg east of north; default: the equator], with the
    isotropic sky model. The shape of a module's clear-sky output through the day and the year: the
    divisor of a PV clear-sky index (KPV, Engerer and Mills [1]_), where the horizontal clear sky would
    rise too much in summer for a tilted module.

    References
    ----------
    .. [1] Engerer, N. A. and Mills, F. P. (2014). KPV: a clear-sky index for photovoltaics. Solar
       Energy 105, 679-693.
    """
    from pvlib.irradiance import get_total_irradiance
    from pvlib.location import Location

    if not 0.0 <= tilt_deg <= 90.0:
        raise ValueError(f"tilt_deg: {tilt_deg!r} is not between 0 and 90")
    if azimuth_deg is None:
        azimuth_deg = 180.0 if site.latitude >= 0 else 0.0
    step = step_of(index) if len(index) > 1 else pd.Timedelta("1h")
    mid = index + step / 2
    location = Location(site.latitude, site.longitude, altitude=site.altitude)
    sky = location.get_clearsky(mid, model="ineichen")
    sun = location.get_solarposition(mid)
    poa = get_total_irradiance(
        tilt_deg, azimuth_deg, sun["apparent_zenith"], sun["azimuth"], sky["dni"], sky["ghi"], sky["dhi"]
    )["poa_global"].to_numpy()
    return pd.Series(np.clip(np.nan_to_num(poa), 0.0, None), index=index, name="clear_sky_poa")
