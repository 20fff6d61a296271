"""Real measured series for tests and benchmarks: SimBench profiles, CityLearn 2022 homes, NREL system 50 PV.

All are energy per interval [kWh] on a regular UTC grid, one column per meter, read from data shipped with
the package (CityLearn, ``wattmesh/data/citylearn_2022``) or with its dependencies (simbench's profiles,
pvanalytics' measured PV), so nothing is downloaded.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

NREL_SYSTEM50_LATITUDE = 39.7406
NREL_SYSTEM50_LONGITUDE = -105.1775


def _data(name: str) -> Path:
    return Path(str(resources.files("wattmesh") / "data" / name))


def citylearn_series() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(load_kwh, pv_kwh): the 17 CityLearn 2022 homes, hourly, one year [kWh per hour]."""
    folder = _data("citylearn_2022")
    load = pd.read_parquet(folder / "load_kwh.parquet").astype(float)
    pv = pd.read_parquet(folder / "pv_kwh.parquet").astype(float)
    for frame in (load, pv):
        frame.index.freq = "h"
    return load, pv


def simbench_series(
    code: str = "1-LV-semiurb4--2-sw", households_only: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(load_kwh, pv_kwh) of one SimBench feeder, 15-min, 2016 [kWh per interval].

    ``households_only`` keeps the H0 household loads (heat pumps run at constant power for hours, which is
    what a stuck meter looks like).
    """
    from wattmesh.community.simbench_source import load_feeder

    feeder = load_feeder(code)
    loads = feeder.load_kw * 0.25
    if households_only:
        profile = feeder.elements.set_index("name")["profile"]
        loads = loads[[c for c in loads.columns if str(profile.get(c, "")).startswith("H0")]]
    pv = feeder.sgen_kw * 0.25
    for frame in (loads, pv):
        frame.index.freq = "15min"
    return loads.astype(float), pv.astype(float)


def nrel_system50(relabel: bool = False) -> pd.Series:
    """NREL PVDAQ system 50's measured AC output, 15-min, 2011-04 to 2013-12 [kWh per interval].

    pvanalytics ships it raw: ``measured_on`` carries a fixed -07:00 offset, but the logger's clock kept
    Mountain daylight time in summer, so the summer values sit one hour late (a real DST logging error).
    ``relabel=False`` returns the raw labels converted to UTC (the error kept); ``relabel=True`` reads the
    clock as America/Denver wall time, which is the correct series.
    """
    path = Path(str(resources.files("pvanalytics") / "data" / "system_50_ac_power_2_full_DST.parquet"))
    raw = pd.read_parquet(path)
    times = pd.DatetimeIndex(raw["measured_on"])
    if relabel:
        wall = times.tz_localize(None)
        times = wall.tz_localize("America/Denver", ambiguous="NaT", nonexistent="NaT")
    kwh = pd.Series(raw["ac_power_2"].to_numpy(dtype=float) * 0.25 / 1000.0, index=times.tz_convert("UTC"))
    kwh = kwh[kwh.index.notna()]
    kwh = kwh[~kwh.index.duplicated()]
    grid = pd.date_range(kwh.index[0], kwh.index[-1], freq="15min")
    out = kwh.reindex(grid)
    out.name = "nrel_system50"
    return out
