"""Measured data sets for forecasting, shaped as the forecasters want them (intervals x members, UTC).

- CityLearn data sets (the 2022 homes shipped in the package, or any data set of CityLearn's format,
  hourly, with 6/12/24 h weather forecasts) through the reader
  :func:`wattmesh.community.citylearn.load_citylearn`; this module only aligns their weather
  forecasts to the time they were issued.
- pvanalytics' measured 15-min AC power of NREL system 50 (Golden, Colorado, 2011-2013) with its
  NSRDB PSM3 weather, shipped in the pvanalytics package.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: CityLearn forecast column suffixes and their lead times.
CITYLEARN_LEADS = {
    "predicted_1": pd.Timedelta("6h"),
    "predicted_2": pd.Timedelta("12h"),
    "predicted_3": pd.Timedelta("24h"),
}
CITYLEARN_WEATHER = (
    "outdoor_dry_bulb_temperature",
    "outdoor_relative_humidity",
    "diffuse_solar_irradiance",
    "direct_solar_irradiance",
)


def citylearn_weather_forecast(weather: pd.DataFrame, horizon: str = "24h") -> pd.DataFrame:
    """CityLearn weather forecasts for each target hour, issued at least ``horizon`` before it.

    Row ``r`` of CityLearn's ``*_predicted_k`` column is the forecast made at ``r`` for ``r + lead``
    (6, 12 or 24 h). For each variable this picks the shortest lead that is at least the horizon and
    shifts it so that the value stands at its target hour. Columns are named after the variable.

    Raises
    ------
    ValueError
        when the horizon exceeds the longest lead (24 h), or naming the forecast column the weather
        frame lacks.
    """
    h = pd.Timedelta(horizon)
    usable = {s: lead for s, lead in CITYLEARN_LEADS.items() if lead >= h}
    if not usable:
        raise ValueError(f"horizon: {horizon} exceeds CityLearn's longest weather forecast lead of 24h")
    suffix, lead = min(usable.items(), key=lambda kv: kv[1])
    missing = [f"{name}_{suffix}" for name in CITYLEARN_WEATHER if f"{name}_{suffix}" not in weather.columns]
    if missing:
        raise ValueError(
            f"weather: column {missing[0]!r} missing (the {int(lead / pd.Timedelta('1h'))} h ahead forecast "
            f"for horizon {horizon})"
        )
    step = weather.index[1] - weather.index[0]
    shift = int(lead / step)
    out = pd.DataFrame(index=weather.index)
    for name in CITYLEARN_WEATHER:
        out[name] = weather[f"{name}_{suffix}"].shift(shift)
    return out


def pvanalytics_folder() -> Path:
    """The data folder inside the installed pvanalytics package."""
    import pvanalytics

    return Path(pvanalytics.__file__).parent / "data"


def load_nrel_system50() -> tuple[pd.Series, pd.DataFrame]:
    """NREL system 50's measured AC power [kW] (15 min, UTC) and its PSM3 weather (30 min, UTC).

    The power file is labelled UTC-7 (MST) all year; its daily output centroid stays at local solar noon
    through summer, so no daylight-saving shift is applied. Missing readings stay NaN.

    Raises
    ------
    FileNotFoundError
        naming the file looked for.
    """
    folder = pvanalytics_folder()
    power_path = folder / "system_50_ac_power_2_full_DST.parquet"
    weather_path = folder / "system_50_ac_power_2_full_DST_psm3.parquet"
    for path in (power_path, weather_path):
        if not path.is_file():
            raise FileNotFoundError(f"pvanalytics system 50 data not found: no {path}")
    raw = pd.read_parquet(power_path)
    power = pd.Series(
        raw["ac_power_2"].to_numpy(dtype=float) / 1000.0,
        index=pd.DatetimeIndex(raw["measured_on"]).tz_convert("UTC"),
        name="system_50",
    )
    power.index.name = "time"
    power = power.clip(lower=0.0).where(np.isfinite(power))
    wraw = pd.read_parquet(weather_path)
    weather = wraw.set_index(pd.DatetimeIndex(wraw["index"]).tz_convert("UTC"))[
        ["temp_air", "ghi", "ghi_clear"]
    ]
    return power, weather
