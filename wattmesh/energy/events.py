"""Demand-response events turned into import caps (the table and its reader are declared in wattmesh.tables).

An event asks the community (or one member) to keep its import at or below a limit, or to cut it by a
target, over a window. ``event_caps`` turns events into the per-interval caps that ``plan_homes`` honours.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wattmesh.tables import DR_EVENTS, conform_events, read_events

__all__ = ["DR_EVENTS", "conform_events", "event_caps", "read_events"]


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
