"""Demand-response events: the declared table, reading them from a file, and turning them into import caps.

An event asks the community (or one member) to keep its import at or below a limit, or to cut it by a
target, over a window. ``event_caps`` turns events into the per-interval caps that ``plan_homes`` honours.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from wattmesh.tables import Column, TableSchema

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


def event_caps(
    events: pd.DataFrame,
    index: pd.DatetimeIndex,
    member_ids: list[str] | pd.Index,
    expected_import_kw: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-interval import caps from events, for ``plan_homes``.

    Parameters
    ----------
    events : a ``DR_EVENTS`` table
    index : interval start times of the plan; an interval is in an event if it overlaps the window
    member_ids : the homes, in column order
    expected_import_kw : (T, M) import expected without demand response (e.g. forecast load - PV, >= 0)
        [kW]; a reduction target is measured from it

    Returns
    -------
    import_cap_kw : (T, M) cap on each home's import, NaN where none [kW]
    community_import_cap_kw : (T,) cap on the community's net import, NaN where none [kW]

    Notes
    -----
    Where events overlap, the lowest cap holds. A member's reduction cuts its own expected import; a
    community reduction cuts the sum of the members' expected imports.
    """
    events = conform_events(events)
    members = pd.Index([str(m) for m in member_ids])
    n_t = len(index)
    step = index[1] - index[0] if n_t > 1 else pd.Timedelta("15min")
    home_cap = np.full((n_t, len(members)), np.inf)
    community_cap = np.full(n_t, np.inf)
    for row in events.itertuples(index=False):
        inside = np.asarray((index < row.end) & (index + step > row.start))
        if row.member_id:
            m = members.get_indexer([row.member_id])[0]
            if m < 0:
                raise ValueError(
                    f"dr event {row.event_id!r}: member_id {row.member_id!r} is not a planned home"
                )
            base = expected_import_kw[:, m]
            cap = row.limit_kw if np.isfinite(row.limit_kw) else np.maximum(base - row.reduction_kw, 0.0)
            home_cap[:, m] = np.where(inside, np.minimum(home_cap[:, m], cap), home_cap[:, m])
        else:
            base = expected_import_kw.sum(axis=1)
            cap = row.limit_kw if np.isfinite(row.limit_kw) else np.maximum(base - row.reduction_kw, 0.0)
            community_cap = np.where(inside, np.minimum(community_cap, cap), community_cap)
    home_cap[np.isinf(home_cap)] = np.nan
    community_cap[np.isinf(community_cap)] = np.nan
    return home_cap, community_cap
