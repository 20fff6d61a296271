"""A co-op's own community from its files (``feeder.source = "files"``): members and assets, meter readings.

Two CSV files, and optionally a network (``docs/own-community.md`` walks through an example):

- the **members file** (:data:`MEMBER_FILE`): one row per member with the assets behind its meter (PV
  kWp and orientation, battery kWh/kW, EV charger, small wind turbine); a row of kind ``community`` is the
  co-op's own asset (e.g. the community battery). Lines starting with ``#`` are comments; an empty cell
  takes the column's default; any other cell that does not fit its column stops the build with the file,
  the line, the column and the value;
- the **readings file**: 15-minute meter readings in the long layout of :mod:`wattmesh.quality`
  (``timestamp``, ``meter_id``, ``value`` [kWh per interval], ``kind``): meter ``<member_id>`` of kind
  ``consumption`` is a member's load (without its EV charger, whose charging the simulator dispatches),
  meter ``<member_id>:generation`` of kind ``generation`` its measured PV and wind output. The readings
  pass :func:`wattmesh.quality.check_readings` and :func:`wattmesh.quality.repair_readings` before use:
  a flagged value (missing, negative, spike, stuck, ...) is replaced by an estimate that says how it was
  made, and the count is reported; a value that is not a number, a member without a consumption meter,
  or readings still unknown after repair stop the build;
- **PV without a generation meter** is modelled (:func:`wattmesh.community.weather.pv_output_kw`): the
  scenario's weather (``feeder.weather``: the DWD test reference year, or the clear sky) on the module
  plane of the member's tilt and azimuth at the site (``feeder.latitude``, ``feeder.longitude``), times
  its kWp and a performance ratio; a **wind turbine without one** is the small-turbine model of
  :mod:`wattmesh.community.wind` on the same year's wind. Members with a generation meter take its
  readings for all their generation;
- **EV chargers**: each day the EV arrives at :data:`EV_ARRIVAL` local time, leaves at
  :data:`EV_DEPARTURE` the next morning and needs the member's ``ev_kwh_per_day``;
- the **network file** (optional): a pandapower network (JSON) whose bus indices the members' ``bus``
  column names; the report's power flow runs on it. Without one there is no grid assessment.

``wattmesh community init DIR --template files`` writes a template of the files (:func:`write_templates`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from wattmesh.community.model import ASSETS, EV_SESSIONS, MEMBERS, CommunityParts
from wattmesh.community.weather import pv_output_kw
from wattmesh.community.wind import turbine_series_kw
from wattmesh.tables import Column, TableSchema, value_problem

#: The members file, declared once: validation and the docs' table come from it.
MEMBER_FILE = TableSchema(
    "member",
    "member_id",
    (
        Column(
            "member_id", "str", "-", "unique name of the member (its meter ids start with it)", required=True
        ),
        Column(
            "kind",
            "str",
            "-",
            "household, business or community (the co-op's own assets)",
            "household",
            choices=("household", "business", "community"),
        ),
        Column("bus", "int", "-", "bus of the network file the member is connected to", 0, minimum=0),
        Column("pv_kwp", "float", "kWp", "PV nominal power", 0.0, minimum=0.0, maximum=10_000.0),
        Column(
            "pv_tilt_deg", "float", "deg", "PV module tilt from horizontal", 30.0, minimum=0.0, maximum=90.0
        ),
        Column(
            "pv_azimuth_deg",
            "float",
            "deg",
            "PV module azimuth, clockwise from north (180 = south)",
            180.0,
            minimum=0.0,
            maximum=360.0,
        ),
        Column("battery_kwh", "float", "kWh", "battery usable capacity", 0.0, minimum=0.0, maximum=100_000.0),
        Column("battery_kw", "float", "kW", "battery power limit", 0.0, minimum=0.0, maximum=100_000.0),
        Column(
            "battery_efficiency",
            "float",
            "-",
            "battery round-trip efficiency",
            0.9,
            minimum=0.01,
            maximum=1.0,
        ),
        Column(
            "ev_charger_kw", "float", "kW", "EV charger power (0: no EV)", 0.0, minimum=0.0, maximum=350.0
        ),
        Column(
            "ev_kwh_per_day", "float", "kWh", "energy the EV needs each day", 0.0, minimum=0.0, maximum=200.0
        ),
        Column("wind_kw", "float", "kW", "small wind turbine rated power", 0.0, minimum=0.0, maximum=1000.0),
        Column(
            "wind_hub_height_m", "float", "m", "wind turbine hub height", 24.0, minimum=1.0, maximum=150.0
        ),
    ),
)
EV_ARRIVAL, EV_DEPARTURE = "18:00", "07:00"
STEP = pd.Timedelta("15min")
GENERATION_SUFFIX = ":generation"


class FilesError(ValueError):
    """A co-op's files that cannot make a community; the message (one line) names the file, the line or
    member, the column and the value."""


def read_member_file(path: str | Path) -> pd.DataFrame:
    """The members file as a table of :data:`MEMBER_FILE` (defaults filled where a column or cell is empty).

    Raises
    ------
    FilesError
        for the first problem, naming the file, the line, the column and the value.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            numbered = [
                (n, line)
                for n, line in enumerate(handle, start=1)
                if line.strip() and not line.startswith("#")
            ]
    except (OSError, UnicodeDecodeError) as exc:
        raise FilesError(f"{path}: cannot be read as a members CSV ({exc})") from None
    if not numbered:
        raise FilesError(f"{path}: no header line; expected the columns {_names()}")
    rows = list(csv.reader(line for _, line in numbered))
    header = [c.strip() for c in rows[0]]
    known = {c.name for c in MEMBER_FILE.columns}
    unknown = [c for c in header if c not in known]
    if unknown:
        raise FilesError(
            f"{path}: line {numbered[0][0]}: unknown column {unknown[0]!r}; the columns are {_names()}"
        )
    if "member_id" not in header:
        raise FilesError(f"{path}: line {numbered[0][0]}: column 'member_id' is missing (required)")
    if len(rows) == 1:
        raise FilesError(f"{path}: no members (only the header line)")
    columns: dict[str, list] = {name: [] for name in header}
    for (line, _), cells in zip(numbered[1:], rows[1:], strict=True):
        if len(cells) != len(header):
            raise FilesError(
                f"{path}: line {line}: {len(cells)} cells, expected {len(header)} ({', '.join(header)})"
            )
        for name, cell in zip(header, cells, strict=True):
            columns[name].append(_cell(MEMBER_FILE.column(name), cell.strip(), path, line))
    table = pd.DataFrame(columns)
    lines = [line for line, _ in numbered[1:]]
    duplicated = table["member_id"].duplicated()
    if duplicated.any():
        i = int(np.flatnonzero(duplicated)[0])
        raise FilesError(
            f"{path}: line {lines[i]}: member_id {table['member_id'][i]!r} appears more than once"
        )
    table = MEMBER_FILE.conform(table)
    for i, row in table.iterrows():
        if row["ev_charger_kw"] > 0 and row["ev_kwh_per_day"] <= 0:
            raise FilesError(
                f"{path}: line {lines[i]}: member {row['member_id']!r}: ev_kwh_per_day {row['ev_kwh_per_day']:g}"
                " must be above 0 where ev_charger_kw is"
            )
        if (row["battery_kwh"] > 0) != (row["battery_kw"] > 0):
            raise FilesError(
                f"{path}: line {lines[i]}: member {row['member_id']!r}: battery_kwh {row['battery_kwh']:g} and "
                f"battery_kw {row['battery_kw']:g}: expected both above 0 (a battery) or both 0 (none)"
            )
    table.attrs["lines"] = lines  # each row's line in the file, for later errors
    return table


def _names() -> str:
    return ", ".join(c.name for c in MEMBER_FILE.columns)


def _cell(column: Column, text: str, path: Path, line: int) -> object:
    """One cell of the members file as its column's type (empty: the default)."""
    if text == "":
        if column.required:
            raise FilesError(f"{path}: line {line}, column {column.name}: is empty (required)")
        return column.default
    value: object = text
    if column.dtype in ("float", "int"):
        try:
            value = float(text)
        except ValueError:
            raise FilesError(f"{path}: line {line}, column {column.name}: {text!r} is not a number") from None
        if column.dtype == "int" and value.is_integer():
            value = int(value)
    problem = value_problem(column, value)
    if problem:
        raise FilesError(f"{path}: line {line}, column {column.name}: {problem}")
    return value


@lru_cache(maxsize=8)
def _readings(path: str, tz: str, modified: float):
    from wattmesh.quality import check_readings, read_meter_file, repair_readings

    data = read_meter_file(path, interval="15min", tz=tz)
    flags, report = check_readings(data, tz=tz)
    repaired = repair_readings(data, flags)
    return repaired, report, data.kinds


def read_readings(path: str | Path, timezone: str):
    """The readings file, checked and repaired by :mod:`wattmesh.quality`.

    Returns
    -------
    (repaired, report, kinds)
        ``repaired``: :class:`wattmesh.quality.Repaired` (``values``: intervals x meters [kWh per 15 min]
        on the regular UTC grid, with the raw values, flags and how each estimate was made);
        ``report``: the :class:`wattmesh.quality.QualityReport`; ``kinds``: each meter's kind.

    Raises
    ------
    FilesError
        for a file that is not meter readings (naming the row, the column and the value), or not at 15 minutes.
    """
    from wattmesh.quality import ReadingsError

    path = Path(path)
    _check_readings_header(path)
    try:
        repaired, report, kinds = _readings(str(path.resolve()), timezone, path.stat().st_mtime)
    except (ReadingsError, OSError) as exc:
        message = str(exc)
        raise FilesError(
            message if message.startswith(str(path.resolve())) else f"{path}: {message}"
        ) from None
    if report.step != STEP:
        raise FilesError(f"{path}: readings every {report.step}, expected 15-minute readings")
    return repaired, report, kinds


READINGS_COLUMNS = ("timestamp", "meter_id", "kind", "value")


def _check_readings_header(path: Path) -> None:
    """Refuse a CSV readings file that is not in the long layout, before the quality reader guesses."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return  # the quality reader names what is wrong with the file
    if head.startswith(b"PAR1") or b"\n" not in head:
        return
    try:
        header = [c.strip().lower() for c in next(csv.reader([head.split(b"\n")[0].decode("utf-8")]))]
    except UnicodeDecodeError:
        return
    from wattmesh.quality.io import TIME_COLUMNS

    for column in ("timestamp", "meter_id", "value"):
        if column not in header and not (column == "timestamp" and set(TIME_COLUMNS) & set(header)):
            raise FilesError(
                f"{path}: line 1: column {column!r} is missing; expected the columns {', '.join(READINGS_COLUMNS)}"
                f" (found {', '.join(header[:6])})"
            )


def readings_index(path: str | Path, timezone: str) -> pd.DatetimeIndex:
    """The interval starts (UTC) the readings file covers."""
    return read_readings(path, timezone)[0].values.index


@dataclass(frozen=True)
class CoopFiles:
    """A co-op's files, read and checked against each other.

    Attributes
    ----------
    members : the members file (:data:`MEMBER_FILE`)
    load_kwh : (intervals x members) each member's consumption meter, repaired [kWh per 15 min]
        (0 for members of kind community)
    generation_kwh : (intervals x members) each generation meter, repaired, NaN for members without one
        [kWh per 15 min]
    repaired : the :class:`wattmesh.quality.Repaired` readings (raw values, flags, estimates)
    report : the :class:`wattmesh.quality.QualityReport`
    network_buses : the network file's bus indices, or None without a network
    battery_bus : the network's transformer LV bus (0 without a network)
    """

    members: pd.DataFrame
    load_kwh: pd.DataFrame
    generation_kwh: pd.DataFrame
    repaired: object
    report: object
    network_buses: frozenset | None
    battery_bus: int

    def repairs(self) -> pd.Series:
        """Values replaced by an estimate, per method (``interpolated_linear``, ...)."""
        return self.repaired.counts()


def read_coop_files(
    members_file: str | Path, readings_file: str | Path, network_file: str | Path | None, timezone: str
) -> CoopFiles:
    """Read the members, readings and (optional) network files and check them against each other.

    Raises
    ------
    FilesError
        naming the file, the member or meter, and what was expected.
    """
    members_path, readings_path = Path(members_file), Path(readings_file)
    table = read_member_file(members_path)
    repaired, report, kinds = read_readings(readings_path, timezone)
    values = repaired.values
    ids = table["member_id"].tolist()
    meters = set(values.columns)
    consumption = {m for m in meters if kinds.get(m) == "consumption"}
    generation = {m for m in meters if kinds.get(m) == "generation"}
    people = table.loc[table["kind"] != "community", "member_id"].tolist()
    for member in people:
        if member not in meters:
            raise FilesError(
                f"{readings_path}: no meter_id {member!r} (the consumption meter of member {member!r} of "
                f"{members_path.name}); expected one per member of kind household or business"
            )
        if member not in consumption:
            raise FilesError(
                f"{readings_path}: meter {member!r} is of kind {kinds.get(member)!r}, expected consumption (the "
                "load without PV; give PV output as its own meter "
                f"{member + GENERATION_SUFFIX!r} of kind generation)"
            )
    for meter in sorted(meters):
        owner = meter.removesuffix(GENERATION_SUFFIX)
        if owner not in ids:
            raise FilesError(
                f"{readings_path}: meter {meter!r} belongs to no member of {members_path.name} (meter ids are "
                f"<member_id> and <member_id>{GENERATION_SUFFIX})"
            )
        if meter.endswith(GENERATION_SUFFIX) and meter not in generation:
            raise FilesError(
                f"{readings_path}: meter {meter!r} is of kind {kinds.get(meter)!r}, expected generation"
            )
        if owner in table.loc[table["kind"] == "community", "member_id"].tolist() and meter == owner:
            raise FilesError(
                f"{readings_path}: meter {meter!r} is the consumption of {owner!r}, a member of kind community "
                "(the co-op's own assets have no load of their own)"
            )
    load = values.reindex(columns=ids)
    load[table.loc[table["kind"] == "community", "member_id"].tolist()] = 0.0
    gen = values.reindex(columns=[m + GENERATION_SUFFIX for m in ids]).set_axis(ids, axis=1)
    has_gen = pd.Index(ids).isin([m.removesuffix(GENERATION_SUFFIX) for m in generation])
    unknown = load.isna().any() | (gen.isna().any() & has_gen)
    if unknown.any():
        raise FilesError(
            f"{readings_path}: readings of member(s) {', '.join(load.columns[unknown][:5])} stay unknown after "
            "repair (gaps longer than a day, or at the start); give the missing readings or shorten the file"
        )
    buses, battery_bus = None, 0
    if network_file:
        buses, battery_bus = network_buses(network_file)
        for line, row in zip(table.attrs["lines"], table.to_dict("records"), strict=True):
            if row["bus"] not in buses:
                raise FilesError(
                    f"{members_path}: line {line}, column bus: member {row['member_id']!r}: {row['bus']} is not a bus of "
                    f"{Path(network_file).name} (its buses: {_span(buses)})"
                )
    return CoopFiles(table, load, gen, repaired, report, buses, battery_bus)


def _span(buses: frozenset) -> str:
    ordered = sorted(buses)
    return f"{ordered[0]} to {ordered[-1]}" if len(ordered) > 3 else ", ".join(map(str, ordered))


def network_buses(path: str | Path) -> tuple[frozenset, int]:
    """The bus indices of a pandapower network file (JSON) and its transformer's LV bus (the first
    transformer's; the bus of the external grid when there is none).

    Raises
    ------
    FilesError
        for a file that is not a pandapower network.
    """
    import pandapower as pp

    path = Path(path)
    try:
        net = pp.from_json(str(path))
        buses = frozenset(int(b) for b in net.bus.index)
        if len(net.trafo):
            lv_bus = int(net.trafo["lv_bus"].iloc[0])
        else:
            lv_bus = int(net.ext_grid["bus"].iloc[0])
    except Exception as exc:  # pandapower raises many kinds for a file that is not its JSON
        raise FilesError(
            f"{path}: is not a pandapower network JSON file ({type(exc).__name__}: {exc})"
        ) from None
    if len(net.ext_grid) != 1:
        raise FilesError(f"{path}: has {len(net.ext_grid)} external grids, expected exactly one (the slack)")
    return buses, lv_bus


def ev_sessions(members: pd.DataFrame, index: pd.DatetimeIndex, timezone: str) -> pd.DataFrame:
    """One charging session per EV and local day: arrival at :data:`EV_ARRIVAL` local time, departure at
    :data:`EV_DEPARTURE` the next morning (wall-clock times, also on daylight-saving days)."""
    evs = members[members["ev_charger_kw"] > 0]
    if evs.empty or len(index) == 0:
        return EV_SESSIONS.empty()
    local = pd.DatetimeIndex(index).tz_convert(timezone)
    days = pd.date_range(local[0].date() - pd.Timedelta(days=1), local[-1].date(), freq="D")
    arrival = (days + pd.Timedelta(EV_ARRIVAL + ":00")).tz_localize(timezone, nonexistent="shift_forward")
    departure = (days + pd.Timedelta(days=1) + pd.Timedelta(EV_DEPARTURE + ":00")).tz_localize(
        timezone, nonexistent="shift_forward"
    )
    n_days, n_evs = len(days), len(evs)
    member = np.tile(evs["member_id"].to_numpy(), n_days)
    return EV_SESSIONS.conform(
        pd.DataFrame(
            {
                "session_id": [f"{m}_ev_{d:%Y%m%d}" for d in days for m in evs["member_id"]],
                "asset_id": [f"{m}_ev" for m in member],
                "member_id": member,
                "arrival": np.repeat(arrival.tz_convert("UTC"), n_evs),
                "departure": np.repeat(departure.tz_convert("UTC"), n_evs),
                "energy_kwh": np.tile(evs["ev_kwh_per_day"].to_numpy(), n_days),
                "charger_kw": np.tile(evs["ev_charger_kw"].to_numpy(), n_days),
            }
        )
    )


def assets_of(members: pd.DataFrame, ev_capacity_kwh: float = 50.0) -> pd.DataFrame:
    """The assets table (:data:`wattmesh.community.model.ASSETS`) of the members file's asset columns;
    every EV has the battery ``ev_capacity_kwh`` [kWh]."""
    parts = []
    for kind, has in (
        ("pv", members["pv_kwp"] > 0),
        ("wind", members["wind_kw"] > 0),
        ("battery", members["battery_kwh"] > 0),
        ("ev", members["ev_charger_kw"] > 0),
    ):
        rows = members[has]
        if rows.empty:
            continue
        power = {"pv": "pv_kwp", "wind": "wind_kw", "battery": "battery_kw", "ev": "ev_charger_kw"}[kind]
        frame = pd.DataFrame(
            {"asset_id": rows["member_id"] + f"_{kind}", "member_id": rows["member_id"], "kind": kind}
        )
        frame["power_kw"] = rows[power].to_numpy()
        if kind == "battery":
            frame["capacity_kwh"] = rows["battery_kwh"].to_numpy()
            frame["efficiency"] = rows["battery_efficiency"].to_numpy()
        elif kind == "ev":
            frame["capacity_kwh"] = ev_capacity_kwh
        elif kind == "wind":
            frame["hub_height_m"] = rows["wind_hub_height_m"].to_numpy()
            frame["profile"] = "dwd_try"
        else:
            frame["profile"] = [
                f"tilt {t:g} deg, azimuth {a:g} deg"
                for t, a in zip(rows["pv_tilt_deg"], rows["pv_azimuth_deg"], strict=True)
            ]
        parts.append(frame)
    if not parts:
        return ASSETS.empty()
    table = pd.concat(parts, ignore_index=True)
    for column in ASSETS.columns:
        if column.name in table and column.default is not None:
            table[column.name] = table[column.name].fillna(column.default)
    return ASSETS.conform(table)


def generation_kw(
    files: CoopFiles, index: pd.DatetimeIndex, latitude: float, longitude: float, weather: str
) -> np.ndarray:
    """(T, M) each member's generation [kW]: its generation meter where it has one, else its PV on the
    weather (:func:`wattmesh.community.weather.pv_output_kw`) plus its wind turbine on the same year's wind."""
    table = files.members
    dt_h = STEP / pd.Timedelta(hours=1)
    measured = files.generation_kwh.to_numpy()
    has_meter = ~np.isnan(measured).all(axis=0)
    out = np.where(has_meter[None, :], np.nan_to_num(measured), 0.0) / dt_h
    pv = (table["pv_kwp"].to_numpy() > 0) & ~has_meter
    if pv.any():
        out[:, pv] += pv_output_kw(
            index,
            table["pv_kwp"].to_numpy()[pv],
            table["pv_tilt_deg"].to_numpy()[pv],
            table["pv_azimuth_deg"].to_numpy()[pv],
            latitude,
            longitude,
            weather,
        )
    for column in np.flatnonzero((table["wind_kw"].to_numpy() > 0) & ~has_meter):
        out[:, column] += turbine_series_kw(
            index, table["wind_hub_height_m"].iloc[column], table["wind_kw"].iloc[column]
        )
    return np.clip(out, 0.0, None)


def files_parts(scenario) -> CommunityParts:
    """The community parts of the scenario's files, over the readings' whole span at 15 minutes.

    Members' loads are their repaired meter readings (no variety is added: they are measured); see the
    module docstring for generation and EVs.

    Raises
    ------
    FilesError
        naming the file, the member or meter, and what was expected.
    """
    tz = scenario["timezone"]
    files = read_coop_files(
        scenario["feeder.members_file"], scenario["feeder.readings_file"], scenario["feeder.network_file"], tz
    )
    table = files.members
    index = files.load_kwh.index
    dt_h = STEP / pd.Timedelta(hours=1)
    load_kwh = files.load_kwh.to_numpy()
    latitude, longitude, weather = (
        scenario["feeder.latitude"],
        scenario["feeder.longitude"],
        scenario["feeder.weather"],
    )
    members = MEMBERS.conform(
        pd.DataFrame(
            {
                "member_id": table["member_id"],
                "kind": table["kind"],
                "bus": table["bus"],
                "load_profile": np.where(table["kind"] == "community", "", "metered"),
                # The readings' span scaled to a year of 365 days.
                "annual_load_kwh": load_kwh.sum(axis=0) * (pd.Timedelta(days=365) / (len(index) * STEP)),
            }
        )
    )
    repairs = files.repairs()
    return CommunityParts(
        members=members,
        assets=assets_of(table, scenario["ev.capacity_kwh"]),
        ev_sessions=ev_sessions(table, index, tz),
        index=index,
        load_kw=np.clip(load_kwh, 0.0, None) / dt_h,
        generation_kw=generation_kw(files, index, latitude, longitude, weather),
        pv_per_kw=pv_output_kw(index, [1.0], [30.0], [180.0], latitude, longitude, weather)[:, 0],
        battery_bus=files.battery_bus,
        meta={
            "feeder": f"own files ({Path(scenario['feeder.members_file']).name}, "
            f"{Path(scenario['feeder.readings_file']).name})",
            "net_path": scenario["feeder.network_file"] or None,
            "site": {"latitude": latitude, "longitude": longitude, "weather": weather},
            "readings_flagged": int((files.repaired.flags.to_numpy() != 0).sum()),
            "readings_repaired": {str(k): int(v) for k, v in repairs.items()},
        },
    )


TEMPLATE_MEMBERS = """\
# Members of the co-op and the assets behind each meter; one row per member (docs/own-community.md).
# An empty cell takes the column's default. kind: household, business or community (the co-op's own assets).
member_id,kind,bus,pv_kwp,pv_tilt_deg,pv_azimuth_deg,battery_kwh,battery_kw,battery_efficiency,ev_charger_kw,ev_kwh_per_day,wind_kw,wind_hub_height_m
home_01,household,0,5.0,30,180,8.0,4.0,0.9,0,0,0,
home_02,household,0,0,,,0,0,,11.0,10.0,0,
coop_battery,community,0,0,,,20.0,10.0,0.9,0,0,0,
"""

TEMPLATE_SCENARIO = """\
# A co-op's own community (docs/own-community.md): fill in members.csv and readings.csv, then run
#   wattmesh scenario validate scenario.toml
#   wattmesh simulate scenario.toml --out results
name = "My co-op"
seed = 42
currency = "EUR"
timezone = "Europe/Berlin"

# [time]
# start = "2016-06-01T00:00:00Z"   # default: the readings' first interval
# end = "2016-06-08T00:00:00Z"     # default: the readings' end

[feeder]
source = "files"
members_file = "members.csv"
readings_file = "readings.csv"
# A pandapower network (JSON) whose bus indices members.csv names; empty: no power flow.
network_file = ""
# The site, for modelled PV (members with PV and no generation meter).
latitude = 52.5
longitude = 13.4
# dwd_try: the DWD test reference year (Potsdam); clear_sky: no clouds (an upper bound).
weather = "dwd_try"

[tariff]
retail_per_kwh = 0.32
feed_in_per_kwh = 0.08
local_fee_per_kwh = 0.02

[energy]
dispatch = "rule"

[grid]
power_flow = false

[ledger]
backend = "local"
"""


def template_readings(start: str = "2016-06-01T00:00:00Z", days: int = 7) -> str:
    """Example readings for the template's members (replace them with your meters'): a daily load shape
    with seeded noise [kWh per 15 min], one meter per household, in the long layout of :mod:`wattmesh.quality`."""
    index = pd.date_range(start, periods=days * 96, freq="15min")
    hour = index.hour + index.minute / 60
    shape = 0.05 + 0.04 * np.exp(-((hour - 7.5) ** 2) / 2) + 0.08 * np.exp(-((hour - 19) ** 2) / 4)
    # Seeded noise: real meters never repeat one value for hours (the quality checks flag that as stuck).
    rng = np.random.default_rng(0)
    lines = ["timestamp,meter_id,kind,value"]
    for member, scale in (("home_01", 1.0), ("home_02", 1.3)):
        values = shape * scale * rng.lognormal(0.0, 0.2, len(index))
        lines += [
            f"{t:%Y-%m-%dT%H:%M:%SZ},{member},consumption,{v:.4f}" for t, v in zip(index, values, strict=True)
        ]
    return "\n".join(lines) + "\n"


def write_templates(folder: str | Path) -> list[Path]:
    """Write ``members.csv``, ``readings.csv`` (example rows) and ``scenario.toml`` into ``folder`` for a
    co-op to fill in; the written scenario validates and runs as it is.

    Raises
    ------
    FilesError
        when one of the files exists already (nothing is overwritten).
    """
    folder = Path(folder)
    files = {
        "members.csv": TEMPLATE_MEMBERS,
        "readings.csv": template_readings(),
        "scenario.toml": TEMPLATE_SCENARIO,
    }
    existing = [name for name in files if (folder / name).exists()]
    if existing:
        raise FilesError(
            f"{folder / existing[0]}: exists already; choose an empty folder (nothing was written)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        paths.append(folder / name)
    return paths
