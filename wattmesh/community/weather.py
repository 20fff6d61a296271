"""Weather for modelled generation: the DWD test reference year shipped in demandlib, and PV output on it.

The TRY 2010 "mean year" files of the Deutscher Wetterdienst hold one year of observed hours (segments of
1988-2007) of a German climate region: 10 m wind speed, air temperature, and the direct and diffuse
irradiance on the horizontal plane. Small wind turbines (:mod:`wattmesh.community.wind`) and the PV of a
co-op's own files (:mod:`wattmesh.community.files`) both take their weather from here, so a community's
wind and sun come from one and the same year. ``clear_sky`` (pvlib's Ineichen model) is the alternative
for a site outside Germany: an upper envelope, with no cloudy days.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

#: DWD climate region of the weather: 4 (Potsdam), inland northern Germany, like SimBench's rural feeders.
TRY_REGION = 4
#: Weather sources for modelled PV (the scenario field ``feeder.weather``).
WEATHER_SOURCES = ("dwd_try", "clear_sky")
#: Share of the plane-of-array energy a PV system delivers (inverter, wiring, soiling, heat).
PERFORMANCE_RATIO = 0.8


@cache
def read_dwd_try(region: int = TRY_REGION) -> pd.DataFrame:
    """The hourly DWD test reference year of ``region`` (shipped in demandlib).

    Returns
    -------
    DataFrame indexed by the hour start in UTC (the files name no year: 2010), with columns
    ``wind_speed_m_s`` (10 m above ground), ``temperature_c`` (2 m), ``direct_horizontal_w_m2`` and
    ``diffuse_horizontal_w_m2`` (means over the hour [W/m2]).

    Notes
    -----
    Hour ``HH`` (1-24, CET) of the file is the hour ending then, so row 1 starts 2010-01-01 00:00 CET.
    """
    import demandlib

    path = Path(demandlib.__file__).parent / "vdi" / "resources_weather" / f"TRY2010_{region:02d}_Jahr.dat"
    if not path.is_file():
        raise FileNotFoundError(f"DWD test reference year not found: no {path}")
    with path.open(encoding="latin-1") as lines:
        header = next(n for n, line in enumerate(lines) if line.startswith("***")) - 1
    raw = pd.read_csv(path, sep=r"\s+", skiprows=header, comment="*", encoding="latin-1")
    start = pd.Timestamp("2010-01-01 00:00", tz="Etc/GMT-1")
    index = pd.date_range(start, periods=len(raw), freq="h").tz_convert("UTC")
    index.name = "time"
    return pd.DataFrame(
        {
            "wind_speed_m_s": raw["WG"].to_numpy(float),
            "temperature_c": raw["t"].to_numpy(float),
            "direct_horizontal_w_m2": raw["B"].to_numpy(float),
            "diffuse_horizontal_w_m2": raw["D"].to_numpy(float),
        },
        index=index,
    )


def try_on_index(index: pd.DatetimeIndex, column: str, region: int = TRY_REGION) -> np.ndarray:
    """(T,) one column of the test reference year on ``index``.

    Each interval takes the reference-year hour with the same UTC month, day and hour (the year has no
    29 February: that day takes the 28th's hours); the hour's value holds for each interval in it.
    """
    series = read_dwd_try(region)[column]
    by_hour = pd.Series(
        series.to_numpy(),
        index=pd.MultiIndex.from_arrays([series.index.month, series.index.day, series.index.hour]),
    )
    utc = pd.DatetimeIndex(index).tz_convert("UTC")
    day = np.where((utc.month == 2) & (utc.day == 29), 28, utc.day)
    keys = pd.MultiIndex.from_arrays([utc.month, day, utc.hour])
    return by_hour.reindex(keys).to_numpy(dtype=float)


def horizontal_irradiance(
    index: pd.DatetimeIndex, latitude: float, longitude: float, weather: str = "dwd_try"
) -> pd.DataFrame:
    """Global, diffuse and direct-normal irradiance at the middle of each interval [W/m2], with the sun.

    Parameters
    ----------
    index : interval starts, tz-aware, regular
    latitude, longitude : the site [deg]
    weather : ``dwd_try`` (the test reference year's measured irradiance) or ``clear_sky`` (Ineichen)

    Returns
    -------
    DataFrame on ``index`` with ``ghi``, ``dhi``, ``dni`` [W/m2], ``apparent_zenith`` and ``azimuth`` [deg].

    Notes
    -----
    The reference year gives direct and diffuse irradiance on the horizontal; the direct-normal part is
    ``(ghi - dhi) / cos(zenith)`` (``pvlib.irradiance.dni``, zero for the sun within 2 deg of the horizon).
    """
    import pvlib

    if weather not in WEATHER_SOURCES:
        raise ValueError(f"weather {weather!r} is not one of {', '.join(WEATHER_SOURCES)}")
    index = pd.DatetimeIndex(index)
    mid = index + (index[1] - index[0]) / 2 if len(index) > 1 else index
    site = pvlib.location.Location(latitude, longitude)
    sun = site.get_solarposition(mid)
    if weather == "clear_sky":
        sky = site.get_clearsky(mid)
        ghi, dhi, dni = sky["ghi"].to_numpy(), sky["dhi"].to_numpy(), sky["dni"].to_numpy()
    else:
        direct = try_on_index(index, "direct_horizontal_w_m2")
        dhi = try_on_index(index, "diffuse_horizontal_w_m2")
        ghi = direct + dhi
        dni = np.nan_to_num(
            pvlib.irradiance.dni(
                pd.Series(ghi, index=mid),
                pd.Series(dhi, index=mid),
                sun["zenith"],
                zenith_threshold_for_zero_dni=88.0,
            ).to_numpy()
        )
    return pd.DataFrame(
        {
            "ghi": ghi,
            "dhi": dhi,
            "dni": dni,
            "apparent_zenith": sun["apparent_zenith"].to_numpy(),
            "azimuth": sun["azimuth"].to_numpy(),
        },
        index=index,
    )


def pv_output_kw(
    index: pd.DatetimeIndex,
    pv_kwp: np.ndarray,
    tilt_deg: np.ndarray,
    azimuth_deg: np.ndarray,
    latitude: float,
    longitude: float,
    weather: str = "dwd_try",
    performance_ratio: float = PERFORMANCE_RATIO,
) -> np.ndarray:
    """(T, N) modelled output of N PV systems [kW]: plane-of-array irradiance [W/m2] / 1000 x kWp x
    performance ratio, at each interval's midpoint.

    Parameters
    ----------
    index : interval starts, tz-aware, regular
    pv_kwp : (N,) nominal power [kWp]
    tilt_deg, azimuth_deg : (N,) module tilt from horizontal and azimuth clockwise from north [deg]
    latitude, longitude : the site [deg]
    weather : see :func:`horizontal_irradiance`
    performance_ratio : share of the plane-of-array energy delivered [-]

    Notes
    -----
    The isotropic sky transposition (``pvlib.irradiance.get_total_irradiance``) and PVWatts' rating
    convention (1 kWp at 1000 W/m2); one transposition per distinct orientation.
    """
    import pvlib

    sky = horizontal_irradiance(index, latitude, longitude, weather)
    tilt, azimuth = np.asarray(tilt_deg, dtype=float), np.asarray(azimuth_deg, dtype=float)
    kwp = np.asarray(pv_kwp, dtype=float)
    out = np.zeros((len(index), len(kwp)))
    for t, a in sorted({(float(t), float(a)) for t, a in zip(tilt, azimuth, strict=True)}):
        columns = (tilt == t) & (azimuth == a)
        poa = pvlib.irradiance.get_total_irradiance(
            t, a, sky["apparent_zenith"], sky["azimuth"], sky["dni"], sky["ghi"], sky["dhi"]
        )["poa_global"].to_numpy()
        out[:, columns] = (
            np.clip(np.nan_to_num(poa), 0.0, None)[:, None] / 1000.0 * kwp[columns] * performance_ratio
        )
    return out
