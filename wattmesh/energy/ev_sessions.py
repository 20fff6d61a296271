"""EV charging sessions as the planner's LP sees them: one column (slot) per EV, its charging power limit and
the energy it still needs over the horizon."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.energy.common import ranges


@dataclass(frozen=True)
class EvSlots:
    """EV charging requests over a planning horizon, one column per EV (slot), as arrays for the LP.

    Attributes
    ----------
    member : (K,) column of the home whose meter each EV's charger is behind
    names : (K,) the EVs' asset ids
    max_kw : (T, K) charging power available (charger limit while plugged in, else 0) [kW]
    arrival_need_kwh : (T, K) energy an EV needs, entered at its session's first interval [kWh]
    may_remain_kwh : (T, K) most energy that may still be missing at the end of each interval: what the
        charger can still deliver before departure (0 at departure; after the horizon it is what can be
        charged beyond it) [kWh]
    session_ids : (S,) sessions in the horizon; ``session_slot``, ``session_first``, ``session_stop``:
        their EV column and first / one-past-last interval inside the horizon
    relaxed_kwh : (S,) how much of each session's need was dropped because the charger cannot deliver it
    """

    member: np.ndarray
    names: np.ndarray
    max_kw: np.ndarray
    arrival_need_kwh: np.ndarray
    may_remain_kwh: np.ndarray
    session_ids: np.ndarray
    session_slot: np.ndarray
    session_first: np.ndarray
    session_stop: np.ndarray
    relaxed_kwh: np.ndarray
    messages: tuple[str, ...] = ()


def ev_slots(sessions: pd.DataFrame, index: pd.DatetimeIndex, member_ids: pd.Index | list[str]) -> EvSlots:
    """Arrays for the LP from an EV-sessions table over the horizon ``index``.

    Parameters
    ----------
    sessions : columns session_id, asset_id, member_id, arrival, departure, energy_kwh (still needed,
        metered at the charger), charger_kw; a session already under way at ``index[0]`` counts from there
    index : the horizon's interval start times (regular)
    member_ids : the homes, in column order

    Notes
    -----
    An EV is plugged in during every interval that starts in [arrival, departure), as in
    ``wattmesh.energy.rules.ev_charge_on_arrival_kw``. A session that needs more than its charger can deliver
    in that time is planned for what it can get; the shortfall is in ``relaxed_kwh`` and ``messages``.
    """
    member_ids = pd.Index(member_ids)
    n_t = len(index)
    interval_h = (index[1] - index[0]).total_seconds() / 3600 if n_t > 1 else 0.25
    step = pd.Timedelta(hours=interval_h)
    names = np.array(sorted(sessions["asset_id"].astype(str).unique()) if len(sessions) else [], dtype=object)
    n_k = len(names)
    empty_t = np.zeros((n_t, n_k))
    if len(sessions):
        sessions = sessions.sort_values("arrival")
        arrival = pd.DatetimeIndex(pd.to_datetime(sessions["arrival"], utc=True))
        departure = pd.DatetimeIndex(pd.to_datetime(sessions["departure"], utc=True))
        first_all = np.ceil(((arrival - index[0]) / step).to_numpy(dtype=float) - 1e-9).astype(np.int64)
        stop_all = np.ceil(((departure - index[0]) / step).to_numpy(dtype=float) - 1e-9).astype(np.int64)
        first_all = np.maximum(first_all, 0)
        inside = (first_all < n_t) & (stop_all > first_all)
        sessions = sessions[inside]
        first_all, stop_all = first_all[inside], stop_all[inside]
    if not len(sessions):
        return EvSlots(
            member=member_ids.get_indexer(pd.Index([], dtype=object)),
            names=names,
            max_kw=empty_t,
            arrival_need_kwh=empty_t.copy(),
            may_remain_kwh=empty_t.copy(),
            session_ids=np.array([], dtype=object),
            session_slot=np.zeros(0, dtype=np.int64),
            session_first=np.zeros(0, dtype=np.int64),
            session_stop=np.zeros(0, dtype=np.int64),
            relaxed_kwh=np.zeros(0),
        )
    slot = pd.Index(names).get_indexer(sessions["asset_id"].astype(str))
    home_of = sessions.groupby(sessions["asset_id"].astype(str))["member_id"].first()
    member = member_ids.get_indexer(home_of.reindex(names).astype(str))
    if (member < 0).any():
        missing = sorted(set(home_of) - set(member_ids))
        raise ValueError(f"ev sessions: member_id {missing} not among the planned homes")
    order = np.lexsort((first_all, slot))
    overlaps = (np.diff(slot[order]) == 0) & (first_all[order][1:] < stop_all[order][:-1])
    if overlaps.any():
        bad = sessions["session_id"].to_numpy()[order][1:][overlaps]
        raise ValueError(f"ev sessions: {list(bad)} overlap an earlier session of the same EV")
    charger_kw = sessions["charger_kw"].to_numpy(dtype=float)
    need = sessions["energy_kwh"].to_numpy(dtype=float)
    deliverable = charger_kw * interval_h * (stop_all - first_all)
    relaxed = np.maximum(need - deliverable, 0.0)
    need = need - relaxed
    ids = sessions["session_id"].astype(str).to_numpy()
    messages = tuple(
        f"ev session {sid!r}: needs {n + r:.2f} kWh but the {c:g} kW charger can deliver at most {n:.2f} kWh "
        f"before departure; energy target relaxed by {r:.2f} kWh"
        for sid, n, r, c in zip(ids, need, relaxed, charger_kw, strict=True)
        if r > 1e-9
    )
    stop_in = np.minimum(stop_all, n_t)
    counts = stop_in - first_all
    rows = np.repeat(first_all, counts) + ranges(counts)
    cols = np.repeat(slot, counts)
    max_kw = np.zeros((n_t, n_k))
    max_kw[rows, cols] = np.repeat(charger_kw, counts)
    may_remain = np.zeros((n_t, n_k))
    may_remain[rows, cols] = np.repeat(charger_kw * interval_h, counts) * (
        np.repeat(stop_all, counts) - rows - 1
    )
    arrival_need = np.zeros((n_t, n_k))
    arrival_need[first_all, slot] = need
    return EvSlots(
        member=member,
        names=names,
        max_kw=max_kw,
        arrival_need_kwh=arrival_need,
        may_remain_kwh=may_remain,
        session_ids=ids,
        session_slot=slot,
        session_first=first_all,
        session_stop=stop_all,
        relaxed_kwh=relaxed,
        messages=messages,
    )


def ev_subset(ev: EvSlots, lo: int, hi: int) -> EvSlots:
    """The EVs of homes lo..hi-1, renumbered from 0 (session details and messages are left out)."""
    return ev_columns(ev, np.arange(lo, hi))


def ev_columns(ev: EvSlots, columns: np.ndarray) -> EvSlots:
    """The EVs of the homes ``columns`` (increasing), renumbered to their places in it (session details and
    messages are left out)."""
    place = np.full(max(int(ev.member.max(initial=-1)), int(columns.max(initial=-1))) + 1, -1)
    place[columns] = np.arange(len(columns))
    keep = place[ev.member] >= 0
    none = np.zeros(0, dtype=np.int64)
    return EvSlots(
        member=place[ev.member[keep]],
        names=ev.names[keep],
        max_kw=ev.max_kw[:, keep],
        arrival_need_kwh=ev.arrival_need_kwh[:, keep],
        may_remain_kwh=ev.may_remain_kwh[:, keep],
        session_ids=np.array([], dtype=object),
        session_slot=none,
        session_first=none,
        session_stop=none,
        relaxed_kwh=np.zeros(0),
    )
