"""Scenario files (TOML): what a simulation is about, declared field by field and validated before it runs.

Every field is declared once in ``FIELDS`` (dotted name, type, unit, default, description); validation,
defaults and the field table in ``docs/scenarios.md`` all come from that declaration.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from wattmesh.tables import Column, read_events, value_problem

DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "default.toml"

# The names of wattmesh.market.MECHANISMS (a test keeps the two in step; community sits above market).
MECHANISMS = ("pay_as_clear", "pay_as_bid", "p2p", "sdr", "mmr", "bill_sharing", "utility_only")
PRICE_RULES = ("midpoint", "marginal_ask", "marginal_bid")
INTERVAL_MINUTES = (15, 30, 60)
FLEET_KINDS = ("battery", "pv", "wind")
FLEET_AMONG = ("all", "pv_owners", "without_pv")
TOU_DAYS = ("all", "weekdays", "weekends")
FAULT_KINDS = ("outage", "string_loss", "soiling")
# The strategy names of wattmesh.agents.STRATEGIES (a test keeps the two in step; community sits above agents).
STRATEGIES = ("truthful", "ramp", "zic", "zip", "learning")
#: The fewest market intervals a simulation spans (one interval has no interval length to read off).
MIN_INTERVALS = 2
#: A scenario is a short text file; anything larger is refused before it is parsed.
MAX_FILE_BYTES = 1_000_000
#: Highest price accepted anywhere in a scenario [currency/kWh]: far above any tariff, far below overflow.
MAX_PRICE_PER_KWH = 100.0


# A scenario field is declared like a table column: dotted name, type, unit, description, default, ...
Field = Column


FIELDS: tuple[Field, ...] = (
    Field(
        "name",
        "str",
        "-",
        "name of the community, shown in the report (at most 200 characters)",
        required=True,
    ),
    Field(
        "seed",
        "int",
        "-",
        "seed of every random draw (load variety, fleet placement, tie-breaks)",
        42,
        minimum=0,
        maximum=2**32 - 1,
    ),
    Field("currency", "str", "-", "currency of all prices", "EUR"),
    Field("timezone", "str", "-", "local time zone in which time-of-use windows are given", "Europe/Berlin"),
    Field("time.start", "time", "UTC", "first interval start; default: the data's first interval"),
    Field("time.end", "time", "UTC", "end of the span (exclusive); default: the data's end"),
    Field("time.interval_minutes", "int", "min", "market interval length", 15, choices=INTERVAL_MINUTES),
    Field(
        "feeder.source",
        "str",
        "-",
        "where the feeder and profiles come from: a SimBench feeder, or the co-op's own files",
        "simbench",
        choices=("simbench", "files"),
    ),
    Field(
        "feeder.code",
        "str",
        "-",
        "SimBench LV feeder code, e.g. 1-LV-rural3--2-sw (required with feeder.source = simbench)",
    ),
    Field(
        "feeder.members_file",
        "str",
        "-",
        "feeder.source = files: members and assets CSV (docs/own-community.md), relative to this file",
        "",
    ),
    Field(
        "feeder.readings_file",
        "str",
        "-",
        "feeder.source = files: 15-minute meter readings CSV (wattmesh.quality's long layout)",
        "",
    ),
    Field(
        "feeder.network_file",
        "str",
        "-",
        "feeder.source = files: pandapower network JSON for the power flow; empty: none",
        "",
    ),
    Field(
        "feeder.latitude",
        "float",
        "deg",
        "feeder.source = files: site latitude (modelled PV)",
        52.5,
        minimum=-90.0,
        maximum=90.0,
    ),
    Field(
        "feeder.longitude",
        "float",
        "deg",
        "feeder.source = files: site longitude (modelled PV)",
        13.4,
        minimum=-180.0,
        maximum=180.0,
    ),
    Field(
        "feeder.weather",
        "str",
        "-",
        "feeder.source = files: weather of modelled PV and wind: the DWD test reference year (Potsdam) or a "
        "clear sky (an upper bound, for sites outside Germany)",
        "dwd_try",
        choices=("dwd_try", "clear_sky"),
    ),
    Field(
        "members.shift_minutes_max",
        "float",
        "min",
        "largest random time shift of a member's load",
        60.0,
        minimum=0.0,
        maximum=720.0,
    ),
    Field(
        "members.scale_sigma",
        "float",
        "-",
        "spread (log-normal sigma) of members' load scale",
        0.25,
        minimum=0.0,
        maximum=2.0,
    ),
    Field(
        "members.noise_sigma",
        "float",
        "-",
        "relative noise added to each interval's load",
        0.1,
        minimum=0.0,
        maximum=1.0,
    ),
    Field("ev.capacity_kwh", "float", "kWh", "battery capacity assumed for every EV", 50.0, minimum=1.0),
    Field(
        "ev.dwell_hours",
        "float",
        "h",
        "how long an EV stays plugged in after arrival (SimBench gives only charging power)",
        8.0,
        minimum=0.0,
        maximum=48.0,
    ),
    Field(
        "community_battery.capacity_kwh",
        "float",
        "kWh",
        "community battery at the transformer (0: none)",
        0.0,
        minimum=0.0,
    ),
    Field("community_battery.power_kw", "float", "kW", "its charge/discharge power limit", 0.0, minimum=0.0),
    Field(
        "community_battery.efficiency",
        "float",
        "-",
        "its round-trip efficiency",
        0.9,
        minimum=0.01,
        maximum=1.0,
    ),
    Field(
        "tariff.retail_per_kwh",
        "float",
        "currency/kWh",
        "utility import price outside time-of-use windows",
        required=True,
        minimum=0.0,
        maximum=MAX_PRICE_PER_KWH,
    ),
    Field(
        "tariff.feed_in_per_kwh",
        "float",
        "currency/kWh",
        "utility feed-in price outside windows",
        required=True,
        minimum=0.0,
        maximum=MAX_PRICE_PER_KWH,
    ),
    Field(
        "tariff.local_fee_per_kwh",
        "float",
        "currency/kWh",
        "grid fee on each local trade, paid by the buyer",
        0.0,
        minimum=0.0,
        maximum=MAX_PRICE_PER_KWH,
    ),
    Field(
        "emissions.grid_kg_per_kwh",
        "float",
        "kg CO2/kWh",
        "carbon intensity of grid imports (unset: no CO2 KPI)",
        minimum=0.0,
    ),
    Field(
        "grid.power_flow",
        "bool",
        "-",
        "solve the feeder's power flow for every interval (report's grid section)",
        True,
    ),
    Field("grid.voltage_min_pu", "float", "pu", "lowest allowed bus voltage", 0.9, minimum=0.5, maximum=1.0),
    Field("grid.voltage_max_pu", "float", "pu", "highest allowed bus voltage", 1.1, minimum=1.0, maximum=1.5),
    Field(
        "grid.distance_fee_per_kwh_per_segment",
        "float",
        "currency/kWh",
        "network-aware fee per line segment between seller and buyer (compared with the flat fee)",
        0.002,
        minimum=0.0,
    ),
    Field("outage.start", "time", "UTC", "start of an upstream outage to study (unset: none)"),
    Field("outage.hours", "float", "h", "length of the outage", 6.0, minimum=0.25, maximum=168.0),
    Field(
        "outage.critical_fraction",
        "float",
        "-",
        "share of each home's load that is critical, served first",
        0.3,
        minimum=0.0,
        maximum=1.0,
    ),
    Field(
        "ledger.backend",
        "str",
        "-",
        "where trades are recorded: local (signed Merkle log), evm (and on chain), none",
        "local",
        choices=("local", "evm", "none"),
    ),
    Field(
        "ledger.mode",
        "str",
        "-",
        "evm: anchor each interval's root, or settle every trade on chain",
        "anchor",
        choices=("anchor", "settle"),
    ),
    Field(
        "ledger.party_signatures",
        "bool",
        "-",
        "seller and buyer sign each trade too (the operator always does)",
        True,
    ),
    Field(
        "energy.dispatch",
        "str",
        "-",
        "home batteries and EVs: rule (self-consumption, charge on arrival) or planner (MPC with forecasts)",
        "rule",
        choices=("rule", "planner"),
    ),
    Field(
        "energy.forecast",
        "str",
        "-",
        "planner's day-ahead forecasts of each home's load and PV (gbm: LightGBM, retrained on a schedule)",
        "similar_days",
        choices=("similar_days", "persistence", "perfect", "gbm"),
    ),
    Field(
        "energy.forecast_retrain_days",
        "int",
        "d",
        "gbm: the forecasters are refitted this often",
        7,
        minimum=1,
        maximum=366,
    ),
    Field(
        "energy.forecast_train_days",
        "int",
        "d",
        "gbm: days of measurements before each refit that it learns from (days before time.start included)",
        120,
        minimum=7,
        maximum=366,
    ),
    Field(
        "energy.replan_minutes",
        "int",
        "min",
        "planner re-plans this often (24 h horizon)",
        60,
        minimum=15,
        maximum=1440,
    ),
    Field(
        "energy.events",
        "str",
        "-",
        "demand-response events file (.csv or .json, see docs/energy.md) whose import caps the planner "
        "honours; a path relative to the scenario file's folder; empty: none",
        "",
    ),
    Field(
        "maintenance.scan",
        "bool",
        "-",
        "scan the members' PV for failing systems (report section; the weeks before the start are the "
        "healthy reference); on by itself when the scenario injects faults",
        False,
    ),
    Field(
        "agents.tournament",
        "bool",
        "-",
        "run a strategy tournament on the community's orders (report section)",
        True,
    ),
    Field(
        "agents.mix",
        "str",
        "-",
        "strategies and their shares, e.g. learning=0.34,ramp=0.33,zip=0.33",
        "learning=0.34,ramp=0.33,zip=0.33",
    ),
    Field(
        "agents.mechanism",
        "str",
        "-",
        "the tournament's market",
        "pay_as_bid",
        choices=("pay_as_clear", "pay_as_bid", "order_book"),
    ),
    Field(
        "agents.rounds",
        "int",
        "-",
        "bidding rounds per interval (pay-as-bid, order book)",
        5,
        minimum=1,
        maximum=50,
    ),
    Field(
        "market.mechanism",
        "str",
        "-",
        "clearing mechanism of the local market",
        "pay_as_clear",
        choices=MECHANISMS,
    ),
    Field("market.price_rule", "str", "-", "uniform price rule", "midpoint", choices=PRICE_RULES),
    Field(
        "market.min_trade_kwh",
        "float",
        "kWh",
        "smallest local trade; smaller slivers settle with the utility (0.001 = 1 Wh)",
        0.001,
        minimum=0.0,
        maximum=10.0,
    ),
    Field(
        "fairness.battery_share",
        "str",
        "-",
        "who gets the community battery's net result: the community, or every household equally",
        "community",
        choices=("community", "equal"),
    ),
    Field(
        "fairness.solidarity_percent",
        "float",
        "%",
        "share of each seller's local premium over feed-in given equally to households without PV",
        0.0,
        minimum=0.0,
        maximum=100.0,
    ),
)
FIELD_BY_NAME = {f.name: f for f in FIELDS}

# Lists of tables, each entry declared like the scalar fields.
TOU_FIELDS: tuple[Field, ...] = (
    Field("start", "str", "HH:MM", "window start, local time", required=True),
    Field(
        "end",
        "str",
        "HH:MM",
        "window end, local time (before start: the window crosses midnight)",
        required=True,
    ),
    Field(
        "price_per_kwh",
        "float",
        "currency/kWh",
        "price inside the window",
        required=True,
        minimum=0.0,
        maximum=MAX_PRICE_PER_KWH,
    ),
    Field("days", "str", "-", "all, weekdays or weekends", "all", choices=TOU_DAYS),
)
FLEET_FIELDS: tuple[Field, ...] = (
    Field("kind", "str", "-", "battery, pv or wind (small turbines)", required=True, choices=FLEET_KINDS),
    Field(
        "count",
        "int",
        "-",
        "how many to add (to households that do not have one yet)",
        required=True,
        minimum=0,
        maximum=100_000,
    ),
    Field("among", "str", "-", "all households, pv_owners or those without_pv", "all", choices=FLEET_AMONG),
    Field(
        "power_kw",
        "float",
        "kW",
        "PV peak power, battery power limit or wind turbine nameplate rating",
        required=True,
        minimum=0.0,
    ),
    Field("capacity_kwh", "float", "kWh", "battery capacity", 0.0, minimum=0.0),
    Field("efficiency", "float", "-", "battery round-trip efficiency", 0.9, minimum=0.01, maximum=1.0),
    Field("hub_height_m", "float", "m", "wind turbine hub height", 24.0, minimum=1.0, maximum=150.0),
)
FAULT_FIELDS: tuple[Field, ...] = (
    Field(
        "member", "str", "-", "member id whose PV fails (a member with PV and no wind turbine)", required=True
    ),
    Field("kind", "str", "-", "outage, string_loss or soiling", required=True, choices=FAULT_KINDS),
    Field("start", "time", "UTC", "when the fault starts (inside the simulated span)", required=True),
    Field(
        "days",
        "float",
        "days",
        "how long it lasts (cut at the span's end)",
        1.0,
        minimum=0.01,
        maximum=3660.0,
    ),
    Field(
        "size",
        "float",
        "-",
        "string_loss: fraction of output lost (0-1); soiling: fraction lost per day (up to 0.05); outage: unused",
        0.0,
        minimum=0.0,
        maximum=1.0,
    ),
)
#: ``[[feeders]]``: a city of feeders (wattmesh.scale runs one task per feeder); each entry replaces the
#: ``feeder`` section for its feeder: a SimBench code, or a co-op's own files (relative to the scenario file).
FEEDERS_FIELDS: tuple[Field, ...] = (
    Field("name", "str", "-", "the feeder's name in the city's tables and the substation's trades", ""),
    Field("code", "str", "-", "SimBench LV feeder code (empty: the feeder's own files below)", ""),
    Field("members_file", "str", "-", "own files: members and assets CSV", ""),
    Field("readings_file", "str", "-", "own files: 15-minute meter readings CSV", ""),
    Field("network_file", "str", "-", "own files: pandapower network JSON; empty: none", ""),
)
LIST_SECTIONS = {
    "tariff.retail_tou": TOU_FIELDS,
    "tariff.feed_in_tou": TOU_FIELDS,
    "fleet": FLEET_FIELDS,
    "faults": FAULT_FIELDS,
    "feeders": FEEDERS_FIELDS,
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario: the field, the value found, and what was expected."""

    field: str
    value: object
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ScenarioError(ValueError):
    """A scenario that cannot run; ``problems`` lists every reason."""

    def __init__(self, source: str, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"  {p}" for p in problems))


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: every declared field resolved (defaults filled), plus the list sections."""

    values: dict
    retail_tou: list[dict] = field(default_factory=list)
    feed_in_tou: list[dict] = field(default_factory=list)
    fleet: list[dict] = field(default_factory=list)
    faults: list[dict] = field(default_factory=list)
    source: str = "<memory>"
    feeders: list[dict] = field(default_factory=list)

    def __getitem__(self, name: str):
        return self.values[name]


def load_scenario(path: str | Path | None = None, overrides: dict | None = None) -> Scenario:
    """Read and validate a scenario file (the packaged default when ``path`` is None).

    ``overrides`` maps dotted field names to values that replace the file's (e.g. ``{"time.start": ...}``).

    Raises
    ------
    ScenarioError
        listing every problem, each with its field and value.
    """
    path = Path(path) if path is not None else DEFAULT_SCENARIO

    def refuse(message: str) -> ScenarioError:
        return ScenarioError(str(path), [Problem("file", str(path), message)])

    try:
        if path.is_dir():
            raise refuse("is a folder, expected a scenario file (.toml)")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise refuse(f"is {path.stat().st_size:,} bytes; a scenario file is at most {MAX_FILE_BYTES:,}")
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise refuse("no such file") from None
    except UnicodeDecodeError as exc:
        raise refuse(f"is not UTF-8 text (byte {exc.start}); save the scenario as UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as exc:
        raise refuse(f"is not valid TOML: {exc}") from None
    except OSError as exc:
        raise refuse(f"cannot be read ({exc.strerror or exc})") from None
    return parse_scenario(raw, source=str(path), overrides=overrides)


def parse_scenario(raw: dict, source: str = "<memory>", overrides: dict | None = None) -> Scenario:
    """Validate a scenario given as a (TOML-shaped) dict; see :func:`load_scenario`."""
    flat, lists, problems = _flatten(raw)
    for name, value in (overrides or {}).items():
        if value is not None:
            flat[name] = value
    values: dict = {}
    for spec in FIELDS:
        if spec.name in flat:
            value = flat[spec.name]
            message = value_problem(spec, value)
            if message:
                problems.append(Problem(spec.name, value, message))
                continue
            values[spec.name] = _convert(spec, value)
        elif spec.required:
            problems.append(Problem(spec.name, None, "is missing (required)"))
        else:
            values[spec.name] = spec.default
    parsed_lists = {}
    for section, specs in LIST_SECTIONS.items():
        parsed_lists[section] = _parse_list(section, lists.get(section, []), specs, problems)
    problems.extend(_events_file_problems(values, source))
    problems.extend(_feeder_files_problems(values, source))
    problems.extend(_cross_checks(values, parsed_lists))
    if problems:
        raise ScenarioError(source, problems)
    return Scenario(
        values=values,
        retail_tou=parsed_lists["tariff.retail_tou"],
        feed_in_tou=parsed_lists["tariff.feed_in_tou"],
        fleet=parsed_lists["fleet"],
        faults=parsed_lists["faults"],
        source=source,
        feeders=parsed_lists["feeders"],
    )


def _flatten(raw: dict) -> tuple[dict, dict, list[Problem]]:
    """Dotted scalar fields, the list sections, and problems for unknown names."""
    flat: dict = {}
    lists: dict = {}
    problems: list[Problem] = []

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if name in LIST_SECTIONS:
                if isinstance(value, list):
                    lists[name] = value
                else:
                    problems.append(Problem(name, value, "expected a list of tables ([[...]] in TOML)"))
            elif isinstance(value, dict) and not any(f.name == name for f in FIELDS):
                walk(value, f"{name}.")
            elif name in FIELD_BY_NAME:
                flat[name] = value
            else:
                problems.append(Problem(name, value, "is not a known field (see docs/scenarios.md)"))

    walk(raw, "")
    return flat, lists, problems


def _convert(spec: Field, value: object) -> object:
    if spec.dtype == "float":
        return float(value)
    if spec.dtype == "int":
        return int(value)
    if spec.dtype == "time":
        return pd.Timestamp(value).tz_convert("UTC")
    return value


def _parse_list(section: str, entries: list, specs: tuple[Field, ...], problems: list[Problem]) -> list[dict]:
    parsed = []
    known = {s.name for s in specs}
    for i, entry in enumerate(entries):
        where = f"{section}[{i}]"
        if not isinstance(entry, dict):
            problems.append(Problem(where, entry, "expected a table"))
            continue
        problems.extend(
            Problem(f"{where}.{key}", value, "is not a known field (see docs/scenarios.md)")
            for key, value in entry.items()
            if key not in known
        )
        item = {}
        for spec in specs:
            if spec.name in entry:
                message = value_problem(spec, entry[spec.name])
                if message:
                    problems.append(Problem(f"{where}.{spec.name}", entry[spec.name], message))
                    continue
                item[spec.name] = _convert(spec, entry[spec.name])
            elif spec.required:
                problems.append(Problem(f"{where}.{spec.name}", None, "is missing (required)"))
            else:
                item[spec.name] = spec.default
        for key in ("start", "end"):
            if isinstance(item.get(key), str) and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", item[key]):
                problems.append(Problem(f"{where}.{key}", item[key], "is not a time of day HH:MM"))
        parsed.append(item)
    return parsed


def _cross_checks(values: dict, lists: dict) -> list[Problem]:
    """Checks that need several fields or outside knowledge (the feeder list, the data's time span)."""
    from wattmesh.community.simbench_source import simbench_index, simbench_lv_codes

    problems = []
    if "timezone" in values:
        try:
            ZoneInfo(values["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                Problem(
                    "timezone",
                    values["timezone"],
                    f"{values['timezone']!r} is not a known time zone (e.g. Europe/Berlin)",
                )
            )
    code = values.get("feeder.code")
    if code is not None and code not in simbench_lv_codes():
        problems.append(
            Problem(
                "feeder.code", code, f"{code!r} is not a SimBench LV feeder code (e.g. 1-LV-rural3--2-sw)"
            )
        )
    for i, entry in enumerate(lists.get("feeders", [])):
        if entry.get("code") and entry["code"] not in simbench_lv_codes():
            problems.append(Problem(f"feeders[{i}].code", entry["code"], "is not a SimBench LV feeder code"))
        elif not entry.get("code") and not (entry.get("members_file") and entry.get("readings_file")):
            problems.append(
                Problem(f"feeders[{i}]", entry, "names neither a code nor members_file and readings_file")
            )
    files_index = values.pop("_files_index", None)
    # Files that could not be read are reported on their own; the checks against the data's span need them.
    has_span = values.get("feeder.source") != "files" or files_index is not None
    data = simbench_index() if files_index is None else files_index
    data_name = "SimBench 2016" if files_index is None else "the readings file's"
    data_start, data_end = data[0], data[-1] + (data[1] - data[0])
    start, end = values.get("time.start"), values.get("time.end")
    for name, stamp in (("time.start", start), ("time.end", end)):
        if has_span and stamp is not None and not (data_start <= stamp <= data_end):
            problems.append(
                Problem(
                    name,
                    str(stamp),
                    f"{stamp} is outside the data's span {data_start} to {data_end} ({data_name})",
                )
            )
    outage = values.get("outage.start")
    if has_span and outage is not None and not (data_start <= outage < data_end):
        problems.append(Problem("outage.start", str(outage), f"{outage} is outside the data's span"))
    step = pd.Timedelta(minutes=values.get("time.interval_minutes") or 15)
    if start is not None and end is not None and end <= start:
        problems.append(Problem("time.end", str(end), f"{end} is not after time.start {start}"))
    elif start is not None and end is not None and end - start < MIN_INTERVALS * step:
        problems.append(
            Problem(
                "time.end",
                str(end),
                f"{end} is less than {MIN_INTERVALS} market intervals ({MIN_INTERVALS * step}) after "
                f"time.start {start}",
            )
        )
    for name, stamp in (("time.start", start), ("time.end", end)):
        if has_span and stamp is not None and (stamp - data_start) % step != pd.Timedelta(0):
            problems.append(
                Problem(
                    name, str(stamp), f"{stamp} is not on a {step.seconds // 60}-minute interval boundary"
                )
            )
    name = values.get("name")
    if isinstance(name, str) and len(name) > 200:
        problems.append(Problem("name", name[:40] + "...", f"is {len(name):,} characters long; at most 200"))
    mix = values.get("agents.mix")
    if isinstance(mix, str):
        problems.extend(Problem("agents.mix", mix, message) for message in _mix_problems(mix))
    for section in ("tariff.retail_tou", "tariff.feed_in_tou"):
        for i, item in enumerate(lists[section]):
            if item.get("start") is not None and item.get("start") == item.get("end"):
                problems.append(
                    Problem(
                        f"{section}[{i}].end",
                        item["end"],
                        f"equals start {item['start']}: the window would be empty or a whole day; for a whole "
                        "day set the base price instead",
                    )
                )
    capacity = values.get("community_battery.capacity_kwh")
    power = values.get("community_battery.power_kw")
    if capacity and power == 0:
        problems.append(Problem("community_battery.power_kw", power, "0 while capacity_kwh is above 0"))
    for i, item in enumerate(lists["fleet"]):
        if item.get("kind") == "battery" and item.get("capacity_kwh") == 0:
            problems.append(Problem(f"fleet[{i}].capacity_kwh", 0.0, "missing or 0 for a battery fleet"))
    return problems


def _mix_problems(mix: str) -> list[str]:
    """Why a strategy mix ``name=share,...`` cannot be used (as wattmesh.agents.parse_mix reads it)."""
    problems = []
    total = 0.0
    for part in filter(None, (p.strip() for p in mix.split(","))):
        name, sign, share = part.partition("=")
        name = name.strip()
        if name not in STRATEGIES:
            problems.append(f"strategy {name!r} is not one of {', '.join(STRATEGIES)}")
            continue
        try:
            value = float(share) if sign else float("nan")
        except ValueError:
            value = float("nan")
        if not value >= 0 or value == float("inf"):
            problems.append(f"share {share.strip()!r} of {name} is not a number >= 0")
        else:
            total += value
    if not problems and total <= 0:
        problems.append(f"{mix!r} gives no strategy a share above 0 (e.g. learning=0.5,zip=0.5)")
    return problems


def _feeder_files_problems(values: dict, source: str) -> list[Problem]:
    """``feeder.code`` for SimBench; for ``feeder.source = files`` resolve the files against the scenario
    file's folder, read the members and readings (the readings' span is the data's span) and name each
    problem (see :mod:`wattmesh.community.files`)."""
    if values.get("feeder.source") != "files":
        if values.get("feeder.code") is None:
            return [Problem("feeder.code", None, "is missing (required with feeder.source = simbench)")]
        return []
    from wattmesh.community.files import FilesError, read_coop_files

    folder = Path(source).parent if Path(source).is_file() else Path.cwd()
    problems = []
    for name in ("feeder.members_file", "feeder.readings_file", "feeder.network_file"):
        written = values.get(name) or ""
        if not written:
            if name != "feeder.network_file":
                problems.append(Problem(name, None, "is missing (required with feeder.source = files)"))
            continue
        path = (folder / written).resolve()
        values[name] = str(path)
        if not path.is_file():
            problems.append(Problem(name, written, f"{written!r}: no such file {path}"))
    if problems:
        return problems
    try:
        files = read_coop_files(
            values["feeder.members_file"],
            values["feeder.readings_file"],
            values["feeder.network_file"],
            values.get("timezone") or "UTC",
        )
    except FilesError as exc:
        field = next(
            (n for n in ("feeder.members_file", "feeder.readings_file") if str(exc).startswith(values[n])),
            "feeder.network_file",
        )
        return [Problem(field, str(exc).split(": ")[0], str(exc))]
    values["_files_index"] = files.load_kwh.index
    return []


def _events_file_problems(values: dict, source: str) -> list[Problem]:
    """Resolve ``energy.events`` against the scenario file's folder (the working folder for a scenario not
    read from a file), store the absolute path in ``values``, and read the file's events to check them."""
    written = values.get("energy.events")
    if not written:
        return []
    folder = Path(source).parent if Path(source).is_file() else Path.cwd()
    path = (folder / written).resolve()
    values["energy.events"] = str(path)
    if not path.is_file():
        return [
            Problem(
                "energy.events",
                written,
                f"{written!r}: no such file {path} (expected a path relative to the scenario file's folder)",
            )
        ]
    try:
        read_events(path)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        lines = str(exc).splitlines() or [type(exc).__name__]
        if isinstance(exc, KeyError):
            lines = [f"column {exc.args[0]!r} is missing"]
        return [Problem("energy.events", written, f"{written!r} ({path}): {line}") for line in lines]
    return []


def fields_markdown() -> str:
    """The scenario fields as Markdown tables, for docs/scenarios.md."""

    def table(specs: tuple[Field, ...]) -> str:
        rows = ["| field | type | unit | default | description |", "|---|---|---|---|---|"]
        for spec in specs:
            default = "required" if spec.required else ("" if spec.default is None else f"`{spec.default!r}`")
            choices = f" ({', '.join(map(str, spec.choices))})" if spec.choices else ""
            rows.append(
                f"| `{spec.name}` | {spec.dtype} | {spec.unit} | {default} | {spec.description}{choices} |"
            )
        return "\n".join(rows)

    parts = [table(FIELDS)]
    parts += [f"\n`[[{name}]]` entries:\n\n{table(specs)}" for name, specs in LIST_SECTIONS.items()]
    return "\n".join(parts)
