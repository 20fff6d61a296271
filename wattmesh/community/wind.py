"""Small wind turbines on the feeder: a published small-turbine power curve on shipped measured-year wind.

windpowerlib's turbine database holds utility-scale turbines only, so the curve here is a small turbine's
own published curve, the Bergey Excel 10 [1]_; windpowerlib's functions carry the model: the wind profile
(:func:`windpowerlib.wind_speed.hellman`, the power law [2]_) takes the 10 m wind speed of a DWD test
reference year (shipped in demandlib) to hub height, and :func:`windpowerlib.power_output.power_curve`
interpolates the curve linearly (zero below its first and above its last point).

A turbine of another rating is taken to be the same design scaled: the Excel 10 curve times
``rated_kw / 10 kW`` (its nameplate rating).

References
----------
.. [1] Bergey WindPower Co. (2011), "BWC Excel 10 Grid Intertie", performance calculation sheet: power
   curve in 1 m/s bins per AWEA 9.1-2009 (the standard of the Small Wind Certification Council's
   certification of the Excel 10; SWCC rated power 8.9 kW at 11 m/s). Nameplate 10 kW, 7 m rotor,
   towers 18-37 m.
.. [2] Hau, E. (2008), Windkraftanlagen, 4th ed., Springer, p. 517 (as cited by windpowerlib): the
   Hellman exponent 1/7 for open terrain onshore.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from wattmesh.community.weather import TRY_REGION, read_dwd_try, try_on_index

#: Bergey Excel 10 power curve [1]_: hub-height wind speed bins [m/s] and electrical output [kW].
EXCEL10_WIND_SPEED_M_S = (
    1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0,
    11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0,
)  # fmt: skip
EXCEL10_POWER_KW = (
    0.0, 0.0, 0.10, 0.40, 0.85, 1.51, 2.40, 3.60, 5.07, 6.86,
    8.86, 10.88, 12.09, 12.39, 12.49, 12.55, 12.50, 12.44, 12.21, 11.99,
)  # fmt: skip
EXCEL10_RATED_KW = 10.0

#: The DWD test reference year's wind is measured 10 m above ground.
TRY_MEASURED_HEIGHT_M = 10.0
#: Power-law exponent of the wind profile, open terrain onshore [2]_.
HELLMAN_EXPONENT = 1 / 7


def load_dwd_try_wind(region: int = TRY_REGION) -> pd.DataFrame:
    """Hourly 10 m wind speed [m/s] and air temperature [C] of a DWD test reference year (shipped in demandlib).

    The TRY 2010 "mean year" files hold one year of observed hours (1988-2007 segments) of a German
    climate region (4 = Potsdam). Hour ``HH`` (1-24, CET) is the hour ending then; the index is the hour
    start in UTC, with the year set to 2010 (the files name none). Read by
    :func:`wattmesh.community.weather.read_dwd_try`.
    """
    return read_dwd_try(region)[["wind_speed_m_s", "temperature_c"]].copy()


def wind_speed_on_index(index: pd.DatetimeIndex, region: int = TRY_REGION) -> np.ndarray:
    """(T,) 10 m wind speed of the test reference year on ``index`` [m/s].

    Each interval takes the reference-year hour with the same UTC month, day and hour (the year has no
    29 February: that day takes the 28th's hours); the hour's value holds for each interval in it.
    """
    return try_on_index(index, "wind_speed_m_s", region)


def turbine_power_kw(
    wind_speed_m_s: npt.ArrayLike,
    hub_height_m: float,
    rated_kw: float = EXCEL10_RATED_KW,
    measured_height_m: float = TRY_MEASURED_HEIGHT_M,
    hellman_exponent: float = HELLMAN_EXPONENT,
) -> np.ndarray:
    """Output of one small turbine [kW] from wind measured at another height.

    Parameters
    ----------
    wind_speed_m_s : wind speed at ``measured_height_m``, any shape [m/s]
    hub_height_m : the turbine's hub height [m]
    rated_kw : the turbine's nameplate rating; the Excel 10 curve is scaled by ``rated_kw / 10`` [kW]
    measured_height_m : height of the wind measurement [m]
    hellman_exponent : power-law exponent of the wind profile [-]

    Returns
    -------
    numpy.ndarray, the shape of ``wind_speed_m_s`` [kW]

    Notes
    -----
    ``v_hub = v * (hub_height_m / measured_height_m) ** hellman_exponent`` [2]_, then the curve
    ``P(v_hub)`` interpolated linearly between the published points [1]_, zero outside 1-20 m/s.
    """
    from windpowerlib.power_output import power_curve
    from windpowerlib.wind_speed import hellman

    for name, value in (("hub_height_m", hub_height_m), ("measured_height_m", measured_height_m)):
        if not value > 0:
            raise ValueError(f"wind turbine: {name} {value!r} must be positive")
    if not rated_kw >= 0:
        raise ValueError(f"wind turbine: rated_kw {rated_kw!r} must be 0 or more")
    speed = np.asarray(wind_speed_m_s, dtype=float)
    hub_speed = hellman(speed, measured_height_m, hub_height_m, hellman_exponent=hellman_exponent)
    curve_kw = np.asarray(EXCEL10_POWER_KW) * (rated_kw / EXCEL10_RATED_KW)
    return np.asarray(power_curve(hub_speed, np.asarray(EXCEL10_WIND_SPEED_M_S), curve_kw), dtype=float)


def turbine_series_kw(index: pd.DatetimeIndex, hub_height_m: float, rated_kw: float) -> np.ndarray:
    """(T,) output of one small turbine on ``index`` at the reference year's wind [kW]."""
    return turbine_power_kw(wind_speed_on_index(index), hub_height_m, rated_kw)
