"""SimBench low-voltage feeders and their 2016 15-min profiles, cached under the user's cache folder.

SimBench gives no time zone; its profiles follow German standard time (UTC+1) without daylight-saving
shifts (35,136 rows, 366 days), so the first row, 2016-01-01 00:00 local, is 2015-12-31 23:00 UTC.
Loading a feeder through simbench takes seconds; the first load writes the element table, the profiles
(parquet) and the pandapower network (JSON) to ``<user cache>/wattmesh/simbench/<code>/``, later loads
read those in a fraction of the time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import platformdirs

SIMBENCH_FIRST_INTERVAL_UTC = pd.Timestamp("2015-12-31 23:00", tz="UTC")
SIMBENCH_INTERVALS = 35_136
SIMBENCH_INTERVAL = pd.Timedelta(minutes=15)
CACHE_VERSION = "1"


@dataclass(frozen=True)
class FeederData:
    """One SimBench feeder: its elements and their absolute profiles.

    Attributes
    ----------
    code : SimBench code, e.g. ``1-LV-rural3--2-sw``
    elements : one row per load, static generator and storage: element ("load", "sgen", "storage"),
        name, bus, profile, rated_kw, capacity_kwh, efficiency, trafo_bus (the transformer's LV bus)
    load_kw, sgen_kw : (intervals x elements) active power of each load and generator [kW], columns are
        the element names
    net_path : the cached pandapower network (JSON), for power flow
    """

    code: str
    elements: pd.DataFrame
    load_kw: pd.DataFrame
    sgen_kw: pd.DataFrame
    net_path: Path

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.load_kw.index


def cache_root() -> Path:
    """Where slow-to-load data is cached (``WATTMESH_CACHE`` overrides the user cache folder)."""
    override = os.environ.get("WATTMESH_CACHE")
    return Path(override) if override else Path(platformdirs.user_cache_dir("wattmesh"))


@cache
def simbench_lv_codes() -> tuple[str, ...]:
    """Every SimBench low-voltage feeder code (the ones whose grid is a single LV feeder).

    Importing simbench (and pandapower with it) takes about 3.5 s, so the list is kept in the cache
    folder, one file per installed simbench version; a scenario's check and a worker's first task read
    that file instead.
    """
    from importlib.metadata import version

    path = cache_root() / "simbench" / f"lv_codes-{version('simbench')}.txt"
    try:
        codes = tuple(path.read_text(encoding="utf-8").split())
        if codes and codes[-1] == "#end":  # a whole file (a half-written one is never taken for it)
            return codes[:-1]
    except (OSError, UnicodeDecodeError):
        pass
    import simbench

    codes = tuple(c for c in simbench.collect_all_simbench_codes() if c.startswith("1-LV-"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.part")
        partial.write_text("\n".join(codes + ("#end",)) + "\n", encoding="utf-8")
        os.replace(partial, path)
    except OSError:
        pass  # a read-only cache: the list is made again next time
    return codes


def simbench_index() -> pd.DatetimeIndex:
    """The UTC interval starts of SimBench's profile year."""
    return pd.date_range(SIMBENCH_FIRST_INTERVAL_UTC, periods=SIMBENCH_INTERVALS, freq=SIMBENCH_INTERVAL)


def load_feeder(code: str) -> FeederData:
    """The SimBench feeder ``code`` with its profiles, from the cache when it is there.

    Raises
    ------
    ValueError
        when ``code`` is not a SimBench LV feeder code.
    """
    if code not in simbench_lv_codes():
        raise ValueError(f"feeder code {code!r} is not a SimBench LV feeder (e.g. 1-LV-rural3--2-sw)")
    folder = cache_root() / "simbench" / f"{code}-v{CACHE_VERSION}"
    paths = {
        name: folder / name for name in ("elements.csv", "load_kw.parquet", "sgen_kw.parquet", "net.json")
    }
    if not all(p.is_file() for p in paths.values()):
        _write_cache(code, folder)
    index = simbench_index()
    load_kw = pd.read_parquet(paths["load_kw.parquet"]).set_axis(index)
    sgen_kw = pd.read_parquet(paths["sgen_kw.parquet"]).set_axis(index)
    elements = pd.read_csv(paths["elements.csv"])
    elements["profile"] = elements["profile"].fillna("")
    return FeederData(code, elements, load_kw, sgen_kw, paths["net.json"])


def _write_cache(code: str, folder: Path) -> None:
    import pandapower as pp
    import simbench

    net = simbench.get_simbench_net(code)
    profiles = simbench.get_absolute_values(net, profiles_instead_of_study_cases=True)
    trafo_bus = int(net.trafo["lv_bus"].iloc[0])
    load = net.load
    sgen = net.sgen
    storage = net.storage
    elements = pd.concat(
        [
            pd.DataFrame(
                {
                    "element": "load",
                    "name": load["name"],
                    "bus": load["bus"],
                    "profile": load["profile"],
                    "rated_kw": load["p_mw"] * 1000,
                    "capacity_kwh": 0.0,
                    "efficiency": np.nan,
                }
            ),
            pd.DataFrame(
                {
                    "element": "sgen",
                    "name": sgen["name"],
                    "bus": sgen["bus"],
                    "profile": sgen["profile"],
                    "rated_kw": sgen["p_mw"] * 1000,
                    "capacity_kwh": 0.0,
                    "efficiency": np.nan,
                }
            ),
            pd.DataFrame(
                {
                    "element": "storage",
                    "name": storage["name"],
                    "bus": storage["bus"],
                    "profile": storage["profile"],
                    "rated_kw": storage["sn_mva"] * 1000,
                    "capacity_kwh": storage["max_e_mwh"] * 1000,
                    "efficiency": storage["efficiency_percent"],
                }
            ),
        ],
        ignore_index=True,
    )
    elements["trafo_bus"] = trafo_bus
    folder.mkdir(parents=True, exist_ok=True)
    # Write to temporary names first so an interrupted run never leaves a half-written cache behind.
    load_kw = profiles[("load", "p_mw")].set_axis(load["name"].tolist(), axis=1) * 1000
    sgen_kw = profiles[("sgen", "p_mw")].set_axis(sgen["name"].tolist(), axis=1) * 1000
    # Per-process temporary names: parallel test workers may fill the same cache at once.
    tag = f"{os.getpid()}.tmp"
    tmp = {
        name: folder / f".{name}.{tag}"
        for name in ("elements.csv", "load_kw.parquet", "sgen_kw.parquet", "net.json")
    }
    elements.to_csv(tmp["elements.csv"], index=False)
    load_kw.reset_index(drop=True).to_parquet(tmp["load_kw.parquet"])
    sgen_kw.reset_index(drop=True).to_parquet(tmp["sgen_kw.parquet"])
    pp.to_json(net, str(tmp["net.json"]))
    for name, path in tmp.items():
        path.replace(folder / name)
