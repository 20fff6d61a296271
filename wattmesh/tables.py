"""Table schemas: each column declared once (name, dtype, unit, default, description, required).

Members, assets, EV sessions and orders are pandas DataFrames with one row per item, as PyPSA keeps its
components. Their columns are declared here as data, so that validation, defaults and the documentation
tables all come from one declaration and never drift apart.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Column:
    """One declared column of a table."""

    name: str
    dtype: str  # "str", "float", "int", "bool", "time" (tz-aware UTC)
    unit: str
    description: str
    default: object = None
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TableSchema:
    """A declared table: its name (used in error messages), key column and columns."""

    name: str
    key: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name}: no column {name!r}")

    def problems(self, table: pd.DataFrame) -> list[str]:
        """Every problem with ``table`` as a message naming the row, the field and the value."""
        found: list[str] = []
        for col in self.columns:
            if col.name not in table.columns:
                if col.required:
                    found.append(f"{self.name}: required column {col.name!r} is missing")
                continue
            for key, value in zip(table[self.key], table[col.name], strict=True):
                if is_missing(value):
                    message = "is missing" if col.required else None
                else:
                    message = value_problem(col, value)
                if message:
                    found.append(f"{self.name} {key!r}: {col.name} {message}")
        if self.key in table.columns:
            duplicated = table[self.key][table[self.key].duplicated()].unique()
            found.extend(f"{self.name} {key!r}: {self.key} appears more than once" for key in duplicated)
        return found

    def conform(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with missing optional columns filled by their defaults, in declared order, validated.

        Raises
        ------
        ValueError
            listing every problem, one per line.
        """
        problems = self.problems(table)
        if problems:
            raise ValueError("\n".join(problems))
        out = table.copy()
        for col in self.columns:
            if col.name not in out.columns:
                out[col.name] = col.default
        extra = [c for c in out.columns if c not in {col.name for col in self.columns}]
        out = out[[col.name for col in self.columns] + extra]
        for col in self.columns:
            if col.dtype == "float":
                out[col.name] = out[col.name].astype(float)
            elif col.dtype == "int":
                out[col.name] = out[col.name].astype(np.int64)
            elif col.dtype == "bool":
                out[col.name] = out[col.name].astype(bool)
            elif col.dtype == "time":
                out[col.name] = pd.to_datetime(out[col.name], utc=True)
            else:
                out[col.name] = out[col.name].astype(object)
        return out.reset_index(drop=True)

    def empty(self) -> pd.DataFrame:
        return self.conform(pd.DataFrame({col.name: [] for col in self.columns if col.required}))

    def markdown(self) -> str:
        """The schema as a Markdown table, for the docs."""
        lines = [
            "| column | type | unit | default | required | description |",
            "|---|---|---|---|---|---|",
        ]
        for col in self.columns:
            default = "" if col.default is None else repr(col.default)
            lines.append(
                f"| `{col.name}` | {col.dtype} | {col.unit} | {default} | "
                f"{'yes' if col.required else 'no'} | {col.description} |"
            )
        return "\n".join(lines)


def is_missing(value: object) -> bool:
    """True for None and NaN: a table cell with nothing in it."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def value_problem(col: Column, value: object) -> str | None:
    """Why a present ``value`` does not fit ``col`` (starting with the value, as written), or None.

    Shared by the tables and the scenario files, so a value is judged the same way wherever it is given.
    """
    if col.dtype in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            return f"{value!r} is not a number"
        if not math.isfinite(float(value)):
            return f"{value!r} is not a finite number"
        if col.dtype == "int" and not float(value).is_integer():
            return f"{value!r} is not a whole number"
        if col.minimum is not None and value < col.minimum:
            return f"{value!r} is below the minimum {col.minimum:g}"
        if col.maximum is not None and value > col.maximum:
            return f"{value!r} is above the maximum {col.maximum:g}"
    elif col.dtype == "str":
        if not isinstance(value, str):
            return f"{value!r} is not text"
    elif col.dtype == "bool":
        if not isinstance(value, bool | np.bool_):
            return f"{value!r} is not true or false"
    elif col.dtype == "time":
        try:
            stamp = pd.Timestamp(value)
        except (TypeError, ValueError):
            return f"{value!r} is not a time (expected ISO 8601, e.g. 2016-06-01T00:00:00Z)"
        if stamp.tzinfo is None:
            return f"{value!r} has no time zone (expected UTC, e.g. 2016-06-01T00:00:00Z)"
    if col.choices is not None and value not in col.choices:
        return f"{value!r} is not one of {', '.join(map(str, col.choices))}"
    return None


#: THE trade record: the seed's seven fields, then the delivery interval, the mechanism, the grid fee and the
#: two order ids. Every trade of every driver (simulator, live exchange, tournament) has these columns in this
#: order; the ledger signs every one of them (``wattmesh.ledger.records``); ``trades.jsonl`` holds one per line.
TRADES = TableSchema(
    "trade",
    "transaction_id",
    (
        Column("transaction_id", "str", "-", "unique id: tx_ + 16 hex digits (see transaction_ids)", required=True),
        Column("seller", "str", "-", "member id of the seller", required=True),
        Column("buyer", "str", "-", "member id of the buyer", required=True),
        Column("energy_amount_kwh", "float", "kWh", "energy delivered", required=True, minimum=0.0),
        Column("price_per_kwh", "float", "currency/kWh", "price the seller receives", required=True),
        Column("timestamp", "time", "UTC ISO 8601", "when the trade was made, e.g. 2025-07-15T09:45:00Z",
               required=True),
        Column("status", "str", "-", "state of the trade", default="completed"),
        Column("interval", "time", "UTC ISO 8601", "start of the delivery interval it cleared for", required=True),
        Column("mechanism", "str", "-", "the clearing mechanism that made it, e.g. pay_as_clear", required=True),
        Column("grid_fee_per_kwh", "float", "currency/kWh", "grid fee the buyer pays on top of the price",
               default=0.0, minimum=0.0),
        Column("sell_order_id", "str", "-", "the sell order it filled; empty where orders have no ids",
               default=""),
        Column("buy_order_id", "str", "-", "the buy order it filled; empty where orders have no ids", default=""),
    ),
)  # fmt: skip
TRADE_FIELDS = tuple(col.name for col in TRADES.columns)
SEED_TRADE_FIELDS = TRADE_FIELDS[:7]


def transaction_ids(scope: str, interval_iso, rank) -> list[str]:
    """THE transaction-id rule: ``"tx_"`` + the first 16 hex digits of BLAKE2b(scope|interval|rank).

    Parameters
    ----------
    scope : names the market the trades were made on (a simulation run: scenario, seed and start; a live
        exchange: its community), so that ids of different markets never meet
    interval_iso : (N,) UTC ISO 8601 start of each trade's delivery interval
    rank : (N,) int, each trade's position among the trades of its interval, in the order they were made

    Ids are deterministic (the same orders cleared on the same market give the same ids, in the simulator
    and on the live exchange alike) and unique within a market: (interval, rank) is unique, and 64-bit
    digests of a million trades collide with probability below 1e-7.
    """
    return [
        "tx_" + hashlib.blake2b(f"{scope}|{interval}|{int(k)}".encode(), digest_size=8).hexdigest()
        for interval, k in zip(interval_iso, rank, strict=True)
    ]


#: Demand-response events: a DSO's (or the co-op's) request to cap or cut import over a window; the
#: planner turns them into import caps (wattmesh.energy.events.event_caps).
DR_EVENTS = TableSchema(
    "dr event",
    "event_id",
    (
        Column("event_id", "str", "-", "unique name of the event", required=True),
        Column("start", "time", "UTC", "first moment of the event window", required=True),
        Column("end", "time", "UTC", "end of the event window (exclusive)", required=True),
        Column(
            "limit_kw",
            "float",
            "kW",
            "cap on the import over the window (NaN: none)",
            default=np.nan,
            minimum=0.0,
        ),
        Column(
            "reduction_kw",
            "float",
            "kW",
            "cut below the expected import (NaN: none)",
            default=np.nan,
            minimum=0.0,
        ),
        Column("member_id", "str", "-", "the member asked; empty for the whole community", default=""),
        Column("source", "str", "-", "where the event came from (file, openadr)", default="file"),
    ),
)


def conform_events(events: pd.DataFrame) -> pd.DataFrame:
    """``events`` validated against ``DR_EVENTS`` with defaults filled in.

    Raises
    ------
    ValueError
        naming the event and field, e.g. an end before the start or neither a limit nor a reduction.
    """
    table = DR_EVENTS.conform(events)
    # rows that leave a text column out (a column other rows have) take its default
    table["member_id"] = table["member_id"].fillna("")
    table["source"] = table["source"].fillna("file")
    problems = []
    for row in table.itertuples(index=False):
        if row.end <= row.start:
            problems.append(f"dr event {row.event_id!r}: end {row.end} is not after start {row.start}")
        if np.isnan(row.limit_kw) == np.isnan(row.reduction_kw):
            problems.append(
                f"dr event {row.event_id!r}: limit_kw {row.limit_kw!r} and reduction_kw {row.reduction_kw!r}: "
                "expected exactly one of them"
            )
    if problems:
        raise ValueError("\n".join(problems))
    return table


def read_events(path: str | Path) -> pd.DataFrame:
    """Demand-response events from a CSV file or a JSON file (a list of objects), as a ``DR_EVENTS`` table.

    Raises
    ------
    FileNotFoundError
        naming the path.
    ValueError
        for an unknown suffix or any invalid event (see ``conform_events``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"demand-response events file not found: {path}")
    if path.suffix.lower() == ".csv":
        table = pd.read_csv(path, dtype={"event_id": str, "member_id": str}, keep_default_na=True)
    elif path.suffix.lower() == ".json":
        table = pd.DataFrame(json.loads(path.read_text()))
    else:
        raise ValueError(f"demand-response events file {path}: suffix {path.suffix!r} is not .csv or .json")
    if "member_id" in table.columns:
        table["member_id"] = table["member_id"].fillna("").astype(str)
    for name in ("limit_kw", "reduction_kw"):
        if name in table.columns:
            table[name] = pd.to_numeric(table[name], errors="coerce").astype(float)
    table["start"] = pd.to_datetime(table["start"], utc=True)
    table["end"] = pd.to_datetime(table["end"], utc=True)
    return conform_events(table)
