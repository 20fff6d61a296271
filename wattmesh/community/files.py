"""A co-op's own community from its files (``feeder.source = "files"``): members and assets, meter readings.

Two CSV files, and optionally a network:

- the **members file** (:data:`MEMBER_FILE`): one row per member with the assets behind its meter (PV
  kWp and orientation, battery kWh/kW, EV charger, wind turbine); a row of kind ``community`` is the
  co-op's own asset (e.g. the community battery);
- the **readings file**: 15-minute meter readings in the long layout of :mod:`wattmesh.quality`
  (``timestamp``, ``meter_id``, ``value`` [kWh per interval], ``kind``): meter ``<member_id>`` of kind
  ``consumption`` is a member's load, meter ``<member_id>:generation`` of kind ``generation`` its
  measured PV or wind output. The readings pass :func:`wattmesh.quality.check_readings` and
  :func:`wattmesh.quality.repair_readings` before use (flagged values are repaired visibly, short gaps
  filled); a member without a consumption meter, or readings left unknown after repair, stop the build;
- **PV without a generation meter** is modelled: clear-sky irradiance at the community's site
  (``feeder.latitude``, ``feeder.longitude``, pvlib's Ineichen model) on the module plane of the member's
  tilt and azimuth, times its kWp and a performance ratio (:data:`PERFORMANCE_RATIO`) — an upper envelope
  on cloudy days, so measured generation is better where the co-op has it. A wind turbine needs its
  generation meter (there is no wind data to model it from);
- EV chargers: each day the EV arrives at :data:`EV_ARRIVAL` local time, leaves at :data:`EV_DEPARTURE`
  the next morning and needs the member's ``ev_kwh_per_day``;
- the **network file** (optional): a pandapower network (JSON) whose buses the members' ``bus`` column
  names, for the report's power flow (``grid.power_flow``).

``wattmesh scenario init-files DIR`` writes a working template of all of them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from wattmesh.community.model import ASSETS, EV_SESSIONS, MEMBERS, Community
from wattmesh.tables import Column, TableSchema

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
        Column(
            "wind_kw", "float", "kW", "wind turbine rated power (needs a generation meter)", 0.0, minimum=0.0
        ),
    ),
)
#: Share of the clear-sky plane-of-array energy a PV system delivers (inverter, wiring, soiling, heat).
PERFORMANCE_RATIO = 0.8
EV_ARRIVAL, EV_DEPARTURE = "18:00", "07:00"
STEP = pd.Timedelta("15min")
GENERATION_SUFFIX = ":generation"


class FilesError(ValueError):
    """A co-op's files that cannot make a community; the message names the file, the field and the value."""


def read_member_file(path: str | Path) -> pd.DataFrame:
    """The members file as a table of :data:`MEMBER_FILE` (defaults filled).

    Raises
    ------
    FilesError
        naming the file, and for each problem the member, the field and the value.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype={"member_id": str, "kind": str}, comment="#", skipinitialspace=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FilesError(f"{path}: cannot be read as a members CSV ({exc})") from None
    unknown = sorted(set(raw.columns) - {c.name for c in MEMBER_FILE.columns})
    if unknown:
        names = ", ".join(c.name for c in MEMBER_FILE.columns)
        raise FilesError(f"{path}: unknown column(s) {', '.join(unknown)}; the columns are {names}")
    try:
        table = MEMBER_FILE.conform(raw)
    except ValueError as exc:
        raise FilesError(f"{path}: " + str(exc).replace("\n", f"\n{path}: ")) from None
    if table.empty:
        raise FilesError(f"{path}: no members")
    no_energy = (table["ev_charger_kw"] > 0) & (table["ev_kwh_per_day"] <= 0)
    if no_energy.any():
        first = table.loc[no_energy, "member_id"].iloc[0]
        raise FilesError(f"{path}: member {first!r}: ev_kwh_per_day must be above 0 where ev_charger_kw is")
    return table


@lru_cache(maxsize=8)
def _readings(path: str, tz: str, modified: float):
    from wattmesh.quality import check_readings, read_meter_file, repair_readings

    data = read_meter_file(path, interval="15min", tz=tz)
    flags, report = check_readings(data, tz=tz)
    repaired = repair_readings(data, flags)
    return repaired.values, report


def read_readings(path: str | Path, timezone: str) -> tuple[pd.DataFrame, object]:
    """The readings file, checked and repaired by :mod:`wattmesh.quality`: (values [kWh per 15 min], report).

    Values are an intervals x meters frame on the regular UTC grid; ``report`` is the
    :class:`wattmesh.quality.QualityReport` of what the checks found.

    Raises
    ------
    FilesError
        for a file that is not meter readings, or not at 15 minutes.
    """
    from wattmesh.quality import ReadingsError

    path = Path(path)
    try:
        values, report = _readings(str(path.resolve()), timezone, path.stat().st_mtime)
    except (ReadingsError, OSError) as exc:
        raise FilesError(f"{path}: {exc}") from None
    if report.step != STEP:
        raise FilesError(f"{path}: readings every {report.step}, expected 15-minute readings")
    return values, report


def readings_index(path: str | Path, timezone: str) -> pd.DatetimeIndex:
    """The interval starts (UTC) the readings file covers."""
    return read_readings(path, timezone)[0].index


def clear_sky_pv_kw(
    index: pd.DatetimeIndex,
    pv_kwp: np.ndarray,
    tilt_deg: np.ndarray,
    azimuth_deg: np.ndarray,
    latitude: float,
    longitude: float,
    performance_ratio: float = PERFORMANCE_RATIO,
) -> np.ndarray:
    """(T, N) modelled PV output [kW] in each interval: clear-sky plane-of-array irradiance [W/m2] / 1000
    x kWp x performance ratio, at the interval's midpoint.

    Notes
    -----
    Ineichen clear sky (pvlib ``Location.get_clearsky``) and the isotropic sky transposition
    (``pvlib.irradiance.get_total_irradiance``); PVWatts' rating convention (1 kWp at 1000 W/m2).
    """
    import pvlib

    mid = index + (index[1] - index[0]) / 2 if len(index) > 1 else index
    site = pvlib.location.Location(latitude, longitude)
    sky = site.get_clearsky(mid)
    sun = site.get_solarposition(mid)
    out = np.zeros((len(index), len(pv_kwp)))
    for orientation in {(float(t), float(a)) for t, a in zip(tilt_deg, azimuth_deg, strict=True)}:
        columns = (np.asarray(tilt_deg) == orientation[0]) & (np.asarray(azimuth_deg) == orientation[1])
        poa = pvlib.irradiance.get_total_irradiance(
            orientation[0],
            orientation[1],
            sun["apparent_zenith"],
            sun["azimuth"],
            sky["dni"],
            sky["ghi"],
            sky["dhi"],
        )["poa_global"].to_numpy()
        out[:, columns] = (
            np.nan_to_num(poa)[:, None] / 1000.0 * np.asarray(pv_kwp)[columns] * performance_ratio
        )
    return out


def ev_sessions(members: pd.DataFrame, index: pd.DatetimeIndex, timezone: str) -> pd.DataFrame:
    """One charging session per EV and local day: arrival at :data:`EV_ARRIVAL`, departure next morning."""
    evs = members[members["ev_charger_kw"] > 0]
    local_days = pd.date_range(
        index[0].tz_convert(timezone).normalize() - pd.Timedelta(days=1),
        index[-1].tz_convert(timezone).normalize(),
        freq="D",
    )
    rows = []
    for day in local_days:
        arrival = (day + pd.Timedelta(EV_ARRIVAL + ":00")).tz_convert("UTC")
        departure = (day + pd.Timedelta(days=1) + pd.Timedelta(EV_DEPARTURE + ":00")).tz_convert("UTC")
        for member in evs.itertuples():
            rows.append(
                {
                    "session_id": f"{member.member_id}_ev_{day:%Y%m%d}",
                    "asset_id": f"{member.member_id}_ev",
                    "member_id": member.member_id,
                    "arrival": arrival,
                    "departure": departure,
                    "energy_kwh": member.ev_kwh_per_day,
                    "charger_kw": member.ev_charger_kw,
                }
            )
    return EV_SESSIONS.conform(pd.DataFrame(rows)) if rows else EV_SESSIONS.empty()


def assets_of(members: pd.DataFrame) -> pd.DataFrame:
    """The assets table (:data:`wattmesh.community.model.ASSETS`) of the members file's asset columns."""
    parts = []
    for kind, power, extra in (
        ("pv", "pv_kwp", {}),
        ("wind", "wind_kw", {}),
        ("battery", "battery_kw", {}),
        ("ev", "ev_charger_kw", {}),
    ):
        has = members[power] > 0 if kind != "battery" else members["battery_kwh"] > 0
        rows = members[has]
        if rows.empty:
            continue
        frame = pd.DataFrame(
            {
                "asset_id": rows["member_id"] + f"_{kind}",
                "member_id": rows["member_id"],
                "kind": kind,
                "power_kw": rows[power],
                **extra,
            }
        )
        if kind == "battery":
            frame["capacity_kwh"] = rows["battery_kwh"]
            frame["efficiency"] = rows["battery_efficiency"]
        parts.append(frame)
    return ASSETS.conform(pd.concat(parts, ignore_index=True)) if parts else ASSETS.empty()


def files_community(scenario) -> Community:
    """The community of the scenario's files over the readings' whole span at 15 minutes (the caller
    slices the scenario's time span and resamples), with tariffs as the scenario says.

    Raises
    ------
    FilesError
        naming the file, the member or meter, and what was expected.
    """
    from wattmesh.community.tariffs import tou_price_series

    tz = scenario["timezone"]
    members_path, readings_path = (
        Path(scenario["feeder.members_file"]),
        Path(scenario["feeder.readings_file"]),
    )
    table = read_member_file(members_path)
    values, report = read_readings(readings_path, tz)
    ids = table["member_id"].tolist()
    meters = set(values.columns)
    people = table["kind"] != "community"
    missing = [m for m in table.loc[people, "member_id"] if m not in meters]
    if missing:
        raise FilesError(
            f"{readings_path}: no consumption meter for member(s) {', '.join(missing[:5])}"
            f" (expected meter_id equal to the member_id)"
        )
    unknown = sorted(meters - set(ids) - {m + GENERATION_SUFFIX for m in ids})
    if unknown:
        raise FilesError(
            f"{readings_path}: meter(s) {', '.join(unknown[:5])} belong to no member of {members_path}"
            f" (meter ids are <member_id> and <member_id>{GENERATION_SUFFIX})"
        )
    index = values.index
    dt = STEP / pd.Timedelta(hours=1)
    load_kwh = values.reindex(columns=ids).fillna(0.0)
    gen_columns = [m + GENERATION_SUFFIX for m in ids]
    measured = values.reindex(columns=gen_columns)
    has_meter = np.asarray([c in meters for c in gen_columns])
    unknown_values = load_kwh.isna().to_numpy() | (measured.isna().to_numpy() & has_meter)
    if (values.isna().to_numpy()).any() or unknown_values.any():
        meter = values.columns[values.isna().any()].tolist()
        raise FilesError(
            f"{readings_path}: readings of {', '.join(meter[:5])} stay unknown after repair (gaps longer "
            "than the repair fills); give the missing readings or shorten time.start/time.end"
        )
    wind_without = table.loc[(table["wind_kw"] > 0) & ~has_meter, "member_id"].tolist()
    if wind_without:
        raise FilesError(
            f"{members_path}: member(s) {', '.join(wind_without)} have wind_kw but no meter "
            f"<member_id>{GENERATION_SUFFIX} in {readings_path} (wind output needs its readings)"
        )
    generation_kw = np.where(has_meter[None, :], measured.fillna(0.0).to_numpy(), 0.0) / dt
    modelled = (table["pv_kwp"].to_numpy() > 0) & ~has_meter
    if modelled.any():
        generation_kw[:, modelled] = clear_sky_pv_kw(
            index,
            table["pv_kwp"].to_numpy()[modelled],
            table["pv_tilt_deg"].to_numpy()[modelled],
            table["pv_azimuth_deg"].to_numpy()[modelled],
            scenario["feeder.latitude"],
            scenario["feeder.longitude"],
        )
    members = MEMBERS.conform(
        pd.DataFrame(
            {
                "member_id": table["member_id"],
                "kind": table["kind"],
                "bus": table["bus"],
                "load_profile": "metered",
                "annual_load_kwh": load_kwh.sum().to_numpy() * (365 * 96 / max(len(index), 1)),
            }
        )
    )
    network = scenario["feeder.network_file"]
    return Community(
        members=members,
        assets=assets_of(table),
        ev_sessions=ev_sessions(table, index, tz),
        index=index,
        load_kw=np.clip(load_kwh.to_numpy(), 0.0, None) / dt,
        generation_kw=np.clip(generation_kw, 0.0, None),
        retail_per_kwh=tou_price_series(index, scenario["tariff.retail_per_kwh"], scenario.retail_tou, tz),
        feed_in_per_kwh=tou_price_series(index, scenario["tariff.feed_in_per_kwh"], scenario.feed_in_tou, tz),
        local_fee_per_kwh=scenario["tariff.local_fee_per_kwh"],
        carbon_kg_per_kwh=None
        if scenario["emissions.grid_kg_per_kwh"] is None
        else np.full(len(index), scenario["emissions.grid_kg_per_kwh"]),
        currency=scenario["currency"],
        name=scenario["name"],
        meta={
            "feeder": f"own files ({members_path.name}, {readings_path.name})",
            "net_path": network or None,
            "seed": scenario["seed"],
            "timezone": tz,
            "readings_flagged": int(report.counts().sum()),
        },
    )
