"""Reader for data sets in CityLearn's format: a ``schema.json`` naming each building's hourly files.

The format (CityLearn 1.x-3.x, ``citylearn_challenge_2022_phase_all`` and later data sets):

- ``schema.json``: ``buildings`` maps each building's name to its files and devices; a building with
  ``"include": false`` is left out. Per building: ``energy_simulation`` (the building's CSV or Parquet
  file, required), ``weather`` (required), ``pricing`` and ``carbon_intensity`` (optional), ``pv`` and
  ``electrical_storage`` (optional devices: ``autosize`` and ``attributes``). Top level:
  ``seconds_per_time_step`` (3600; the reader reads hourly data sets), ``root_directory`` (the files'
  folder; empty: the schema's own folder) and, from CityLearn 3, ``start_date`` (ISO date). A ``site``
  object (``latitude``, ``longitude``, ``tz``, ``altitude``) is wattmesh's own extension.
- A building file: ``month`` (1-12), ``hour`` (1-24: hour ``h`` is the hour starting at ``h - 1``),
  ``day_type`` (1-7 = Monday-Sunday, 8 = holiday), optionally ``daylight_savings_status``, then
  ``non_shiftable_load`` [kWh per hour] and ``solar_generation`` [W per kW of PV].

The files give no year. The calendar is the local date of the first row (``start_date``) and the site's
time zone (``tz``), taken from the arguments, else from the schema, else (only for a schema identical to
the CityLearn 2022 one) the values this module states in :data:`CITYLEARN_2022`. Every row's month, hour
and day type are checked against that calendar: a mismatch, like a missing file, field or column, is a
:class:`CityLearnDataError` whose one-line message names it (and which start dates the columns fit).

Autosized devices (``"autosize": true``) are sized by stated, deterministic rules (CityLearn samples
real systems at random instead): PV to make ``zero_net_energy_proportion`` (default 0.85, the middle of
CityLearn's 0.7-1.0) of the building's load over the data, a battery to the mean daily peak load
[kW] and ``duration`` (default 2.5 h, the middle of CityLearn's 1.5-3.5 h) times that [kWh]; both times
``safety_factor`` (default 1). :attr:`CityLearnData.autosized` says which devices were sized so.

The package ships the CityLearn 2022 homes (17 homes in Fontana, California) as Parquet in
``wattmesh/data/citylearn_2022`` (:data:`PACKAGE_FOLDER`, written from the published CSV files by
:func:`write_citylearn_parquet`, same values, float64); :func:`load_citylearn` reads that folder as well
as any folder of the published format, and :func:`load_citylearn_2022` is the 2022 data set's reader.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: The copy shipped in the package (MIT licence and source in its README and LICENSE).
PACKAGE_FOLDER = Path(__file__).resolve().parents[1] / "data" / "citylearn_2022"
#: What the CityLearn 2022 files do not state, and this module does: the first row is the last hour of
#: Sunday 31 July (1 August is a Monday), which makes the year 2016 (365 days, August 2016 to July 2017);
#: the hours are Pacific Standard Time all year (``daylight_savings_status`` is 0 throughout); Fontana.
CITYLEARN_2022 = {
    "start_date": "2016-07-31",
    "tz": "Etc/GMT+8",
    "latitude": 34.09,
    "longitude": -117.43,
    "altitude": 377.0,
}
CALENDAR = ["month", "hour", "day_type", "daylight_savings_status"]
#: Columns every building file must have.
BUILDING_COLUMNS = ("month", "hour", "day_type", "non_shiftable_load", "solar_generation")
#: The Parquet files of the package's copy: one per table the reader uses.
PARQUET_FILES = (
    "non_shiftable_load.parquet",
    "solar_generation.parquet",
    "calendar.parquet",
    "weather.parquet",
    "pricing.parquet",
    "carbon_intensity.parquet",
)
#: Autosizing rules' defaults (the middle of CityLearn's sampled ranges).
PV_ZERO_NET_ENERGY_PROPORTION = 0.85
BATTERY_DURATION_H = 2.5
BATTERY_EFFICIENCY = 0.9
#: Years searched for start dates the calendar columns fit (for the error message).
SEARCH_YEARS = range(1990, 2041)
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class CityLearnDataError(ValueError):
    """A data set the reader cannot read; the message (one line) names the file or field, the value and
    what was expected."""


@dataclass(frozen=True)
class CityLearnData:
    """A CityLearn community, as frames indexed by hour start (UTC) with one column per home.

    Attributes
    ----------
    load_kwh : measured non-shiftable load per hour [kWh]
    pv_kwh : PV output per hour, the per-kW profile scaled by each home's PV size [kWh]
    pv_kw : PV nominal power per home [kW] (0 for a home without PV)
    batteries : one row per home: capacity_kwh, power_kw, efficiency (zeros and 1 without a battery)
    weather : the weather file's columns, e.g. outdoor temperature [C], humidity [%], diffuse and direct
        irradiance [W/m2], with the data set's 6/12/24 h ahead forecasts (columns ``*_predicted_1/2/3``)
    price_per_kwh : import price [currency/kWh], None when the data set has no pricing file
    carbon_kg_per_kwh : grid carbon intensity [kg CO2/kWh], None when it has no carbon file
    calendar : month, hour (1-24), day_type (1-7, 8 = holiday), daylight_savings_status where given
    autosized : one row per home, columns ``pv`` and ``battery``: True where the schema asks for the
        device to be autosized and the reader sized it by the module's rules
    tz : the site's time zone the files' hours are read in
    start_date : local date of the first row
    latitude, longitude : site [deg north, deg east], None when neither given nor in the schema
    altitude : site [m], None when neither given nor in the schema
    source : the schema file read
    """

    load_kwh: pd.DataFrame
    pv_kwh: pd.DataFrame
    pv_kw: pd.Series
    batteries: pd.DataFrame
    weather: pd.DataFrame
    price_per_kwh: pd.Series | None
    carbon_kg_per_kwh: pd.Series | None
    calendar: pd.DataFrame
    autosized: pd.DataFrame | None = None
    tz: str = CITYLEARN_2022["tz"]
    start_date: dt.date | None = None
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None
    source: Path | None = None

    @property
    def holidays(self) -> list[dt.date]:
        """Local dates of the rows with day_type 8 (holidays)."""
        local = self.calendar.index.tz_convert(self.tz)
        return sorted(set(local[self.calendar["day_type"].to_numpy() == 8].date))


# ---------------------------------------------------------------------------------------------- schema
def _schema_file(path: str | Path) -> Path:
    path = Path(path)
    file = path / "schema.json" if path.is_dir() else path
    if not file.is_file():
        raise CityLearnDataError(f"schema: {file} not found (expected a CityLearn schema.json or its folder)")
    return file


def _read_schema(file: Path) -> dict:
    try:
        schema = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CityLearnDataError(f"schema: {file} is not JSON ({error})") from None
    if not isinstance(schema, dict):
        raise CityLearnDataError(f"schema: {file} holds a {type(schema).__name__}, expected an object")
    buildings = schema.get("buildings")
    if not isinstance(buildings, dict) or not buildings:
        raise CityLearnDataError(
            f"schema: {file.name} has no 'buildings' object (got {buildings!r}), expected building names"
        )
    return schema


def _flag(value: object, where: str) -> bool:
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise CityLearnDataError(f"{where}: {value!r} is not true or false")


def _number(value: object, where: str, *, minimum: float = 0.0, maximum: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CityLearnDataError(f"{where}: {value!r} is not a number")
    if not minimum <= value <= maximum:
        raise CityLearnDataError(f"{where}: {value} is outside [{minimum}, {maximum}]")
    return float(value)


def _range_or_number(value: object, default: float, where: str) -> float:
    """A CityLearn autosize setting: a number, or a [low, high] range CityLearn samples from (its middle)."""
    if value is None:
        return default
    if isinstance(value, list | tuple) and len(value) == 2:
        low, high = (_number(v, where) for v in value)
        return (low + high) / 2.0
    return _number(value, where)


def _included(schema: dict, file: Path) -> dict[str, dict]:
    buildings = {}
    for name, spec in schema["buildings"].items():
        where = f"{file.name}: buildings.{name}"
        if not isinstance(spec, dict):
            raise CityLearnDataError(f"{where}: {spec!r} is not an object")
        if _flag(spec.get("include", True), f"{where}.include"):
            buildings[name] = spec
    if not buildings:
        raise CityLearnDataError(f"{file.name}: buildings: every building has include false")
    return buildings


def _shared_file(buildings: dict[str, dict], key: str, file: Path, *, required: bool) -> str | None:
    """The one community-wide file of ``key`` (weather, pricing, carbon_intensity) the buildings name."""
    names = {name: spec.get(key) for name, spec in buildings.items()}
    given = {v for v in names.values() if v is not None}
    if not given:
        if required:
            first = next(iter(buildings))
            raise CityLearnDataError(f"{file.name}: buildings.{first}: field '{key}' missing")
        return None
    if len(given) > 1 or (required and None in names.values()):
        shown = ", ".join(f"{n}: {v}" for n, v in names.items())
        raise CityLearnDataError(
            f"{file.name}: buildings name different '{key}' files ({shown}); the reader takes one for all"
        )
    return given.pop()


# ------------------------------------------------------------------------------------------------ files
def _read_table(path: Path, where: str, columns: tuple[str, ...] = ()) -> pd.DataFrame:
    if not path.is_file():
        raise CityLearnDataError(f"{where}: file {path} not found")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix == ".csv":
            frame = pd.read_csv(path)
        else:
            raise CityLearnDataError(f"{where}: {path.name} is neither .csv nor .parquet")
    except (ValueError, OSError, UnicodeDecodeError) as error:
        if isinstance(error, CityLearnDataError):
            raise
        raise CityLearnDataError(f"{where}: {path} cannot be read ({str(error).splitlines()[0]})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CityLearnDataError(
            f"{path.name}: column {', '.join(repr(c) for c in missing)} missing "
            f"(has {', '.join(map(str, frame.columns[:12]))})"
        )
    if frame.empty:
        raise CityLearnDataError(f"{path.name}: no rows")
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]) and not frame[column].isna().all():
            bad = pd.to_numeric(frame[column], errors="coerce").isna() & frame[column].notna()
            value = frame[column][bad].iloc[0]
            raise CityLearnDataError(f"{path.name}: column {column!r} holds {value!r}, expected numbers")
    return frame.reset_index(drop=True)


def _same_length(frames: dict[str, pd.DataFrame], reference: str) -> None:
    n = len(frames[reference])
    for name, frame in frames.items():
        if len(frame) != n:
            raise CityLearnDataError(f"{name}: {len(frame)} rows, expected {n} as in {reference}")


@dataclass(frozen=True)
class _Tables:
    load: dict[str, np.ndarray]
    solar_w_per_kw: dict[str, np.ndarray]
    calendar: pd.DataFrame
    weather: pd.DataFrame
    pricing: pd.DataFrame | None
    carbon: pd.DataFrame | None
    calendar_file: str


def _root(schema: dict, file: Path) -> Path:
    root = schema.get("root_directory")
    if root in (None, ""):
        return file.parent
    if not isinstance(root, str):
        raise CityLearnDataError(f"{file.name}: root_directory {root!r} is not a folder name")
    return file.parent / root


def _read_files(schema: dict, file: Path, buildings: dict[str, dict]) -> _Tables:
    """The tables of a folder in CityLearn's published layout (one CSV or Parquet file per building)."""
    root = _root(schema, file)
    frames: dict[str, pd.DataFrame] = {}
    for name, spec in buildings.items():
        where = f"{file.name}: buildings.{name}"
        if "energy_simulation" not in spec:
            raise CityLearnDataError(f"{where}: field 'energy_simulation' missing")
        path = root / str(spec["energy_simulation"])
        frames[path.name] = _read_table(path, f"{where}.energy_simulation", BUILDING_COLUMNS)
    first = next(iter(frames))
    _same_length(frames, first)
    columns = [c for c in CALENDAR if c in frames[first].columns]
    calendar = frames[first][columns]
    for frame_name, frame in frames.items():
        differs = (frame[columns[:3]].to_numpy() != calendar[columns[:3]].to_numpy()).any(axis=1)
        if differs.any():
            row = int(np.flatnonzero(differs)[0])
            raise CityLearnDataError(
                f"{frame_name}: row {row} has month, hour, day_type {tuple(frame[columns[:3]].iloc[row])}, "
                f"{first} has {tuple(calendar[columns[:3]].iloc[row])} (the buildings' calendars differ)"
            )
    shared = {}
    for key, required in (("weather", True), ("pricing", False), ("carbon_intensity", False)):
        name = _shared_file(buildings, key, file, required=required)
        shared[key] = None if name is None else _read_table(root / name, f"{file.name}: {key}")
        if shared[key] is not None:
            _same_length({first: frames[first], name: shared[key]}, first)
    for key, column in (("pricing", "electricity_pricing"), ("carbon_intensity", "carbon_intensity")):
        if shared[key] is not None and column not in shared[key].columns:
            raise CityLearnDataError(f"{key} file: column {column!r} missing")
    files = dict(zip(buildings, frames.values(), strict=True))
    return _Tables(
        load={n: f["non_shiftable_load"].to_numpy(dtype=float) for n, f in files.items()},
        solar_w_per_kw={n: f["solar_generation"].to_numpy(dtype=float) for n, f in files.items()},
        calendar=calendar.reset_index(drop=True),
        weather=shared["weather"],
        pricing=shared["pricing"],
        carbon=shared["carbon_intensity"],
        calendar_file=first,
    )


def _read_package_copy(folder: Path, buildings: dict[str, dict]) -> _Tables:
    """The tables of the package's Parquet copy (:data:`PARQUET_FILES`, one column per building)."""
    tables = {Path(f).stem: _read_table(folder / f, f"package copy {folder.name}") for f in PARQUET_FILES}
    for table in ("non_shiftable_load", "solar_generation"):
        missing = [n for n in buildings if n not in tables[table].columns]
        if missing:
            raise CityLearnDataError(f"{table}.parquet: building column {missing[0]!r} missing")
    _same_length({f"{t}.parquet": tables[t] for t in tables}, "calendar.parquet")
    return _Tables(
        load={n: tables["non_shiftable_load"][n].to_numpy(dtype=float) for n in buildings},
        solar_w_per_kw={n: tables["solar_generation"][n].to_numpy(dtype=float) for n in buildings},
        calendar=tables["calendar"],
        weather=tables["weather"],
        pricing=tables["pricing"],
        carbon=tables["carbon_intensity"],
        calendar_file="calendar.parquet",
    )


# --------------------------------------------------------------------------------------------- calendar
def _local_hours(start_date: dt.date, first_hour: int, n: int, tz: str) -> pd.DatetimeIndex:
    """``n`` hourly starts from ``first_hour - 1`` o'clock of ``start_date``, local to ``tz``."""
    first = pd.Timestamp(start_date) + pd.Timedelta(hours=first_hour - 1)
    try:
        first = first.tz_localize(tz)
    except (ValueError, TypeError) as error:  # a time that does not exist or exists twice there
        raise CityLearnDataError(f"start_date: {first} in {tz}: {error}") from None
    return pd.date_range(first, periods=n, freq="h")


def _mismatches(calendar: pd.DataFrame, local: pd.DatetimeIndex) -> np.ndarray:
    """Per row, whether month, hour (1-24) or day_type (1-7 Monday-Sunday; 8 holiday) differ."""
    month = calendar["month"].to_numpy() != local.month
    hour = calendar["hour"].to_numpy() != local.hour + 1
    day_type = calendar["day_type"].to_numpy()
    day = (day_type != local.dayofweek + 1) & (day_type != 8)
    return np.stack([month, hour, day], axis=1)


def _fitting_start_dates(calendar: pd.DataFrame, tz: str) -> list[dt.date]:
    """Start dates in :data:`SEARCH_YEARS` that the month, hour and day_type columns fit."""
    month = calendar["month"].to_numpy()
    changes = np.flatnonzero(month[1:] != month[:-1]) + 1
    if len(changes) == 0:
        return []
    row = int(changes[0])
    fits = []
    for year in SEARCH_YEARS:
        try:
            at = pd.Timestamp(year, int(month[row]), 1, int(calendar["hour"].iloc[row]) - 1).tz_localize(tz)
        except ValueError:
            continue
        start = (at - pd.Timedelta(hours=row)).date()
        local = _local_hours(start, int(calendar["hour"].iloc[0]), len(calendar), tz)
        if not _mismatches(calendar, local).any():
            fits.append(start)
    return fits


def _fits_text(fits: list[dt.date]) -> str:
    if not fits:
        return f"the columns fit no start date in {SEARCH_YEARS[0]}-{SEARCH_YEARS[-1]} in this time zone"
    return "the columns fit start_date " + " or ".join(d.isoformat() for d in fits)


def _check_ranges(calendar: pd.DataFrame, where: str) -> None:
    for column, low, high in (("month", 1, 12), ("hour", 1, 24), ("day_type", 1, 8)):
        values = calendar[column].to_numpy()
        bad = np.flatnonzero(~np.isin(values, np.arange(low, high + 1)))
        if len(bad):
            raise CityLearnDataError(
                f"{where}: row {bad[0]}: {column} {values[bad[0]]!r} is not a whole number {low}-{high}"
            )


def calendar_index(
    calendar: pd.DataFrame, start_date: dt.date, tz: str, where: str, stated_by: str = "given"
) -> pd.DatetimeIndex:
    """The UTC hour starts of a CityLearn calendar, checked row by row against ``start_date`` in ``tz``.

    Parameters
    ----------
    calendar : the data's ``month``, ``hour`` (1-24) and ``day_type`` (1-7 Monday-Sunday, 8 holiday)
    start_date : local date of the first row
    tz : time zone of the files' hours (IANA name, e.g. ``"Etc/GMT+8"`` for PST all year)
    where : the file named in errors
    stated_by : where the start date and time zone come from, for errors (e.g. ``"schema.json"``)

    Raises
    ------
    CityLearnDataError
        naming the first row whose month, hour or day type the calendar contradicts, and the start
        dates the columns fit.
    """
    _check_ranges(calendar, where)
    local = _local_hours(start_date, int(calendar["hour"].iloc[0]), len(calendar), tz)
    wrong = _mismatches(calendar, local)
    if wrong.any():
        row = int(np.flatnonzero(wrong.any(axis=1))[0])
        fields = [c for c, w in zip(("month", "hour", "day_type"), wrong[row], strict=True) if w]
        t = local[row]
        got = ", ".join(f"{c} {calendar[c].iloc[row]}" for c in fields)
        expected = {
            "month": f"month {t.month}",
            "hour": f"hour {t.hour + 1}",
            "day_type": f"day_type {t.dayofweek + 1} ({DAY_NAMES[t.dayofweek]})",
        }
        raise CityLearnDataError(
            f"calendar: {where} row {row} has {got}, but start_date {start_date} in {tz} ({stated_by}) "
            "makes it "
            f"{t:%Y-%m-%d %H:%M}, {', '.join(expected[c] for c in fields)}; "
            f"{_fits_text(_fitting_start_dates(calendar, tz))}"
        )
    index = local.tz_convert("UTC")
    index.name = "time"
    return index


# -------------------------------------------------------------------------------------------- the reader
def _site_value(name: str, given: object, schema: dict, known: dict, file: Path) -> object:
    if given is not None:
        return given
    site = schema.get("site")
    if site is not None and not isinstance(site, dict):
        raise CityLearnDataError(f"{file.name}: site {site!r} is not an object")
    if site and site.get(name) is not None:
        return site[name]
    return known.get(name)


def _known_defaults(schema: dict) -> dict:
    """:data:`CITYLEARN_2022` for a schema identical to the package's 2022 one, else nothing."""
    package = PACKAGE_FOLDER / "schema.json"
    if package.is_file() and schema == json.loads(package.read_text(encoding="utf-8")):
        return CITYLEARN_2022
    return {}


def _start_date(value: object, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise CityLearnDataError(f"{where}: {value!r} is not an ISO date (YYYY-MM-DD)") from None


def _time_zone(value: object, where: str) -> str:
    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CityLearnDataError(f"{where}: {value!r} is not a time zone name (e.g. 'Etc/GMT+8')") from None
    return str(value)


def _pv(name: str, spec: dict, load: np.ndarray, solar: np.ndarray, where: str) -> tuple[float, bool]:
    """(nominal power [kW], autosized) of a building's PV; 0 without one."""
    pv = spec.get("pv")
    if pv is None:
        return 0.0, False
    if not isinstance(pv, dict):
        raise CityLearnDataError(f"{where}.pv: {pv!r} is not an object")
    attributes = pv.get("attributes") or {}
    if _flag(pv.get("autosize", False), f"{where}.pv.autosize"):
        options = pv.get("autosize_attributes") or {}
        share = _range_or_number(
            options.get("zero_net_energy_proportion"),
            PV_ZERO_NET_ENERGY_PROPORTION,
            f"{where}.pv.autosize_attributes.zero_net_energy_proportion",
        )
        share *= _range_or_number(
            options.get("safety_factor"), 1.0, f"{where}.pv.autosize_attributes.safety_factor"
        )
        per_kw_kwh = float(np.nanmean(solar)) / 1000.0
        if not per_kw_kwh > 0:
            raise CityLearnDataError(f"{name}: solar_generation is never above 0, so PV cannot be autosized")
        return share * float(np.nanmean(load)) / per_kw_kwh, True
    if "nominal_power" not in attributes:
        raise CityLearnDataError(f"{where}.pv.attributes: field 'nominal_power' missing (and autosize false)")
    return _number(attributes["nominal_power"], f"{where}.pv.attributes.nominal_power"), False


def _battery(spec: dict, load: np.ndarray, day: np.ndarray, where: str) -> tuple[float, float, float, bool]:
    """(capacity [kWh], power [kW], efficiency, autosized) of a building's battery; zeros without one."""
    storage = spec.get("electrical_storage")
    if storage is None:
        return 0.0, 0.0, 1.0, False
    if not isinstance(storage, dict):
        raise CityLearnDataError(f"{where}.electrical_storage: {storage!r} is not an object")
    attributes = storage.get("attributes") or {}
    key = f"{where}.electrical_storage.attributes"
    if _flag(storage.get("autosize", False), f"{where}.electrical_storage.autosize"):
        options = storage.get("autosize_attributes") or {}
        option = f"{where}.electrical_storage.autosize_attributes"
        duration = _range_or_number(options.get("duration"), BATTERY_DURATION_H, f"{option}.duration")
        safety = _range_or_number(options.get("safety_factor"), 1.0, f"{option}.safety_factor")
        peak_kw = float(pd.Series(load).groupby(day).max().mean())  # kWh in an hour = mean kW
        efficiency = attributes.get("efficiency", BATTERY_EFFICIENCY)
        efficiency = _number(efficiency, f"{key}.efficiency", minimum=1e-9, maximum=1.0)
        return peak_kw * duration * safety, peak_kw, efficiency, True
    values = []
    for field, maximum in (("capacity", math.inf), ("nominal_power", math.inf), ("efficiency", 1.0)):
        if field not in attributes:
            raise CityLearnDataError(f"{key}: field {field!r} missing (and autosize false)")
        values.append(_number(attributes[field], f"{key}.{field}", maximum=maximum))
    if values[2] <= 0:
        raise CityLearnDataError(f"{key}.efficiency: {values[2]} is not above 0")
    return values[0], values[1], values[2], False


def load_citylearn(
    schema_path: str | Path | None = None,
    *,
    start_date: str | dt.date | None = None,
    tz: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    altitude: float | None = None,
) -> CityLearnData:
    """Read a data set in CityLearn's format: its schema.json (or the folder holding it) and its files.

    Parameters
    ----------
    schema_path : the ``schema.json`` or its folder; None: the package's CityLearn 2022 copy
    start_date : local date of the first row (ISO ``YYYY-MM-DD``); default the schema's ``start_date``
    tz : time zone the files' hours are in (IANA name); default the schema's ``site.tz``
    latitude, longitude : site [deg north, deg east]; default the schema's ``site`` values
    altitude : site [m]; default the schema's ``site.altitude``

    For a schema identical to the CityLearn 2022 one, what neither the arguments nor the schema give is
    taken from :data:`CITYLEARN_2022`. Buildings keep the schema's names and order.

    Returns
    -------
    CityLearnData
        frames on the UTC hour starts, one column per included building.

    Raises
    ------
    CityLearnDataError
        one line naming the missing or wrong file, field, column or calendar row, and the value.
    """
    file = _schema_file(PACKAGE_FOLDER if schema_path is None else schema_path)
    schema = _read_schema(file)
    buildings = _included(schema, file)
    known = _known_defaults(schema)
    step = schema.get("seconds_per_time_step", 3600)
    if step != 3600:
        raise CityLearnDataError(
            f"{file.name}: seconds_per_time_step {step!r}: the reader reads hourly data sets (3600)"
        )
    if (file.parent / PARQUET_FILES[0]).is_file():
        tables = _read_package_copy(file.parent, buildings)
    else:
        tables = _read_files(schema, file, buildings)

    zone = _site_value("tz", tz, schema, known, file)
    if zone is None:
        raise CityLearnDataError(
            f"tz: not given and {file.name} states no site.tz (the time zone of the files' hours, "
            "e.g. 'Etc/GMT+8' for PST all year)"
        )
    zone = _time_zone(zone, "tz")
    if start_date is not None:
        first_date, date_from = start_date, "given"
    elif schema.get("start_date") is not None:
        first_date, date_from = schema["start_date"], f"{file.name}'s start_date"
    else:
        first_date, date_from = known.get("start_date"), "CITYLEARN_2022"
    _check_ranges(tables.calendar, tables.calendar_file)
    if first_date is None:
        raise CityLearnDataError(
            f"start_date: not given and {file.name} states none (the local date of the first row); "
            f"{_fits_text(_fitting_start_dates(tables.calendar, zone))}"
        )
    first_date = _start_date(first_date, "start_date")
    index = calendar_index(tables.calendar, first_date, zone, tables.calendar_file, date_from)
    site = {
        name: _site_value(name, value, schema, known, file)
        for name, value in (("latitude", latitude), ("longitude", longitude), ("altitude", altitude))
    }
    for name, limit in (("latitude", 90.0), ("longitude", 180.0)):
        if site[name] is not None:
            site[name] = _number(site[name], name, minimum=-limit, maximum=limit)
    if site["altitude"] is not None:
        site["altitude"] = _number(site["altitude"], "altitude", minimum=-500.0, maximum=9000.0)

    names = list(buildings)
    local_day = index.tz_convert(zone).tz_localize(None).normalize().to_numpy()
    pv_kw, pv_auto, battery_rows = {}, {}, []
    for name in names:
        where = f"{file.name}: buildings.{name}"
        pv_kw[name], pv_auto[name] = _pv(
            name, buildings[name], tables.load[name], tables.solar_w_per_kw[name], where
        )
        battery_rows.append(_battery(buildings[name], tables.load[name], local_day, where))
    pv_kw = pd.Series(pv_kw, dtype=float)
    home = pd.Index(names, name="home")
    batteries = pd.DataFrame(
        [row[:3] for row in battery_rows], index=home, columns=["capacity_kwh", "power_kw", "efficiency"]
    )
    autosized = pd.DataFrame(
        {"pv": [pv_auto[n] for n in names], "battery": [row[3] for row in battery_rows]}, index=home
    )
    load = pd.DataFrame(tables.load, index=index)[names]
    pv = pd.DataFrame({n: tables.solar_w_per_kw[n] * pv_kw[n] / 1000.0 for n in names}, index=index)
    price = None if tables.pricing is None else tables.pricing.set_index(index)["electricity_pricing"]
    carbon = None if tables.carbon is None else tables.carbon.set_index(index)["carbon_intensity"]
    return CityLearnData(
        load_kwh=load,
        pv_kwh=pv,
        pv_kw=pv_kw,
        batteries=batteries,
        weather=tables.weather.set_index(index),
        price_per_kwh=None if price is None else price.rename("price_per_kwh"),
        carbon_kg_per_kwh=None if carbon is None else carbon.rename("carbon_kg_per_kwh"),
        calendar=tables.calendar.set_index(index),
        autosized=autosized,
        tz=zone,
        start_date=first_date,
        source=file,
        **site,
    )


def load_citylearn_2022(folder: str | Path | None = None) -> CityLearnData:
    """Read the CityLearn 2022 homes: the package's Parquet copy (default, ``folder=None``), or a folder
    of the published CSV files (``Building_N.csv``, weather, pricing, carbon, schema.json), with the
    calendar and site of :data:`CITYLEARN_2022`.

    Raises
    ------
    CityLearnDataError
        naming the path, field or row that cannot be read.
    """
    return load_citylearn(PACKAGE_FOLDER if folder is None else folder, **CITYLEARN_2022)


def write_citylearn_parquet(csv_folder: str | Path, out: str | Path) -> list[Path]:
    """Convert the published CSV folder into the Parquet folder the package ships (zstd, values unchanged).

    Writes the files of :data:`PARQUET_FILES` and copies ``schema.json``; returns the paths written.
    """
    csv_folder, out = Path(csv_folder), Path(out)
    file = _schema_file(csv_folder)
    schema = _read_schema(file)
    buildings = _included(schema, file)
    tables = _read_files(schema, file, buildings)
    frames = {
        "non_shiftable_load": pd.DataFrame(tables.load),
        "solar_generation": pd.DataFrame(tables.solar_w_per_kw),
        "calendar": tables.calendar,
        "weather": tables.weather,
        "pricing": tables.pricing,
        "carbon_intensity": tables.carbon,
    }
    missing = [name for name, frame in frames.items() if frame is None]
    if missing:
        raise CityLearnDataError(f"{file.name}: no {missing[0]} file; the package's copy needs one")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for table, frame in frames.items():
        path = out / f"{table}.parquet"
        frame.to_parquet(path, compression="zstd", compression_level=19, index=False)
        written.append(path)
    (out / "schema.json").write_text(file.read_text())
    return written + [out / "schema.json"]
