"""Demand-response events turned into import caps (the table and its reader are declared in wattmesh.tables).

An event asks the community (or one member) to keep its import at or below a limit, or to cut it by a
target, over a window. ``event_caps`` turns events into the per-interval caps that ``plan_homes`` honours;
``event_outcomes`` says, per event, how far a dispatch kept to them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wattmesh.tables import DR_EVENTS, conform_events, read_events

__all__ = ["DR_EVENTS", "capped_import_kw", "conform_events", "event_caps", "event_outcomes", "read_events"]

#: Excess over a cap [kW] below which an event counts as met (that of the planner's ``PlanWarning``).
MET_TOLERANCE_KW = 1e-6


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


def capped_import_kw(member_id: str, member_ids: list[str] | pd.Index, net_kw: np.ndarray) -> np.ndarray:
    """(T,) what an event on ``member_id`` caps [kW]: that home's import, max(net, 0); for a community-wide
    event (``member_id`` empty) the homes' summed net import (negative: they export together).

    ``net_kw`` (T, M): each of ``member_ids``' import minus export at its meter [kW].
    """
    if member_id:
        m = pd.Index([str(i) for i in member_ids]).get_indexer([member_id])[0]
        if m < 0:
            raise ValueError(f"dr event member_id {member_id!r} is not one of the homes")
        return np.maximum(net_kw[:, m], 0.0)
    return net_kw.sum(axis=1)


def event_outcomes(
    events: pd.DataFrame,
    index: pd.DatetimeIndex,
    member_ids: list[str] | pd.Index,
    expected_import_kw: np.ndarray,
    net_kw: np.ndarray,
    no_plan_net_kw: np.ndarray,
) -> pd.DataFrame:
    """One row per event: its cap, and the peak import and the energy over the cap with and without a plan.

    Parameters
    ----------
    events : a ``DR_EVENTS`` table
    index : interval starts; an interval is in an event if it overlaps the window (as in ``event_caps``)
    member_ids : the homes the caps were set on, in column order (a community event caps their sum)
    expected_import_kw : (T, M) the import expected without demand response, as for ``event_caps`` [kW]
    net_kw : (T, M) the homes' import minus export as dispatched with the plan [kW]
    no_plan_net_kw : (T, M) the same without the plan (e.g. no batteries) [kW]

    Returns
    -------
    The events' columns, then ``intervals`` (in the span), ``cap_kw`` (the lowest cap the event set),
    ``peak_import_plan_kw`` and ``peak_import_no_plan_kw`` (the highest capped import in the window, see
    :func:`capped_import_kw`), ``over_cap_plan_kwh`` and ``over_cap_no_plan_kwh`` (energy above the cap),
    and ``met``: whether the plan kept at or below the cap (within ``MET_TOLERANCE_KW``) in every interval.
    Without intervals in the span the figures are NaN, the energy 0 and the event met.

    Notes
    -----
    The event is measured against its own cap, as the planner's warning measures it; where events overlap
    the planner holds the lowest of their caps.
    """
    table = conform_events(events)
    interval_h = (index[1] - index[0]).total_seconds() / 3600 if len(index) > 1 else 0.25
    rows = []
    for i, event in enumerate(table.itertuples(index=False)):
        home_cap, community_cap = event_caps(table.iloc[[i]], index, member_ids, expected_import_kw)
        if event.member_id:
            cap = home_cap[:, pd.Index([str(m) for m in member_ids]).get_loc(event.member_id)]
        else:
            cap = community_cap
        inside = np.isfinite(cap)
        figures = {"intervals": int(inside.sum())}
        over = {}
        for name, net in (("plan", net_kw), ("no_plan", no_plan_net_kw)):
            capped = capped_import_kw(event.member_id, member_ids, net)[inside]
            excess = np.maximum(capped - cap[inside], 0.0)
            over[name] = excess
            figures[f"peak_import_{name}_kw"] = float(capped.max()) if inside.any() else np.nan
            figures[f"over_cap_{name}_kwh"] = float(excess.sum() * interval_h)
        rows.append(
            {
                **table.iloc[i].to_dict(),
                "intervals": figures["intervals"],
                "cap_kw": float(cap[inside].min()) if inside.any() else np.nan,
                "peak_import_plan_kw": figures["peak_import_plan_kw"],
                "peak_import_no_plan_kw": figures["peak_import_no_plan_kw"],
                "over_cap_plan_kwh": figures["over_cap_plan_kwh"],
                "over_cap_no_plan_kwh": figures["over_cap_no_plan_kwh"],
                "met": bool(over["plan"].max(initial=0.0) <= MET_TOLERANCE_KW),
            }
        )
    columns = ["event_id", "member_id", "source", "start", "end", "limit_kw", "reduction_kw"] + [
        "intervals",
        "cap_kw",
        "peak_import_plan_kw",
        "peak_import_no_plan_kw",
        "over_cap_plan_kwh",
        "over_cap_no_plan_kwh",
        "met",
    ]
    return pd.DataFrame(rows, columns=columns)
