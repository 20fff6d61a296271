"""The home and community energy planner: one batched linear programme (HiGHS) for many homes at once.

Every home's battery and EV chargers are scheduled over a horizon to minimise the energy bill, a peak-import
charge and a small battery-wear cost, under demand-response import caps. All homes go into one sparse LP
(the homes' blocks are independent unless a community term couples them), so a whole community is planned
with one solver call. ``plan_homes`` is the entry point; ``ev_slots`` turns an EV-sessions table into the
arrays the LP needs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp

from wattmesh.energy.battery import validate_batteries

RELAX_PENALTY_PER_KWH = 50.0
"""Cost of each kWh by which a demand-response cap is exceeded: high enough that any feasible way of
honouring the cap is cheaper, so the cap is relaxed only where nothing can meet it."""


class PlanWarning(UserWarning):
    """A request could not be met in full; the message names the constraint and by how much it was relaxed."""


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


@dataclass
class HomePlan:
    """A plan for M homes over T intervals; every array is (T, M) unless noted.

    Attributes
    ----------
    charge_kw, discharge_kw : battery power on the meter side [kW]
    soc_kwh : battery state of charge at the end of each interval [kWh]
    import_kw, export_kw : planned exchange with the grid at each home's meter [kW]
    ev_kw : EV charging per home (sum over its EVs) [kW]; ``ev_slot_kw`` (T, K) per EV
    relaxed_cap_kw : (T, M) by how much each home's demand-response cap is exceeded [kW]
    community_import_kw : (T,) the community's net import at the transformer, when coupled [kW]
    cost : (M,) each home's energy bill over the plan [currency]
    objective : the LP's optimum (bill + peak + wear + penalties - terminal value) [currency]
    warnings : every relaxed request, as text
    """

    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    soc_kwh: np.ndarray
    import_kw: np.ndarray
    export_kw: np.ndarray
    ev_kw: np.ndarray
    ev_slot_kw: np.ndarray
    relaxed_cap_kw: np.ndarray
    community_import_kw: np.ndarray | None
    cost: np.ndarray
    objective: float
    warnings: list[str] = field(default_factory=list)

    @property
    def battery_kw(self) -> np.ndarray:
        """Net battery power, charging positive [kW]."""
        return self.charge_kw - self.discharge_kw


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
    rows = np.repeat(first_all, counts) + _ranges(counts)
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


def plan_homes(
    load_kw: np.ndarray,
    pv_kw: np.ndarray,
    buy_price_per_kwh: np.ndarray,
    sell_price_per_kwh: np.ndarray,
    batteries: pd.DataFrame,
    interval_h: float,
    *,
    ev: EvSlots | None = None,
    market_price_per_kwh: np.ndarray | None = None,
    market_share: float = 0.0,
    peak_price_per_kw: float | np.ndarray = 0.0,
    peak_window_intervals: int | None = None,
    wear_per_kwh: float = 0.002,
    terminal_value_per_kwh: float | np.ndarray = 0.0,
    import_cap_kw: np.ndarray | None = None,
    community_import_cap_kw: np.ndarray | None = None,
    community_peak_price_per_kw: float = 0.0,
    member_ids: list[str] | pd.Index | None = None,
    warn: bool = True,
    homes_per_lp: int | None = None,
    method: str = "auto",
) -> HomePlan:
    """Schedule every home's battery and EVs over the horizon with one LP (HiGHS).

    Parameters
    ----------
    load_kw, pv_kw : (T, M) forecast inflexible load and generation per home [kW]
    buy_price_per_kwh, sell_price_per_kwh : (T,) or (T, M) retail import price and feed-in tariff
        [currency/kWh]
    batteries : (M rows, home order) capacity_kwh, power_kw, efficiency (round trip), soc_kwh (now),
        optional soc_min_fraction / soc_max_fraction (see ``wattmesh.energy.battery.PLAN_BATTERIES``);
        homes without a battery have capacity and power 0
    interval_h : interval length [h]
    ev : EV requests from ``ev_slots`` (None: no EVs)
    market_price_per_kwh, market_share : expected local-market price (T,) or (T, M) and the expected share
        [0-1] of a home's imports and exports that clear on the local market at that price
    peak_price_per_kw : charge on each home's highest import in every peak window [currency/kW]
    peak_window_intervals : length of a peak window (e.g. 96 for daily peaks at 15 min); None = the horizon
    wear_per_kwh : battery wear, charged on energy through the battery (charge + discharge) [currency/kWh]
    terminal_value_per_kwh : value of energy left in the battery at the end of the horizon [currency/kWh]
    import_cap_kw : (T, M) demand-response cap on each home's import, NaN or inf where none [kW]
    community_import_cap_kw : (T,) cap on the sum of the homes' net import (transformer), NaN where none [kW]
    community_peak_price_per_kw : charge on the community's highest net import per peak window
        [currency/kW]; with it or a community cap the homes are planned jointly (coordinated)
    member_ids : names used in warnings
    warn : also issue every relaxation as a ``PlanWarning``
    method : ``"lp"`` (HiGHS), ``"fast"`` (the exact dynamic programme of ``wattmesh.energy.fast``: same
        optimum, ~1 ms per home; only without EVs, peak prices or community terms, and with
        0 <= sell <= buy) or ``"auto"`` (fast where it applies, else the LP)
    homes_per_lp : homes per LP when nothing couples them (HiGHS's time grows faster than the LP's size,
        so independent homes go in blocks of this many; the optimum is the same); None: about 800
        intervals' worth of homes (8 homes at 96 intervals, 33 at 24), which measured fastest

    Returns
    -------
    HomePlan
        the optimal dispatch; a request that cannot be met (a cap below must-run load, an EV that cannot get
        its energy in time) is relaxed as little as possible and reported in ``warnings``.

    Notes
    -----
    Per home m and interval t (dt = ``interval_h``, eta = sqrt(efficiency)):

        import - export = load - pv + charge - discharge + sum of the home's EV power
        soc_t = soc_{t-1} + (eta charge_t - discharge_t / eta) dt,   soc_min <= soc_t <= soc_max
        0 <= charge, discharge <= power_kw;   import_t <= peak_w;   import_t - relax_t <= cap_t
        need_t = need_{t-1} + arrivals_t - ev_t dt,   0 <= need_t <= may_remain_t

    minimise  sum dt (buy import - sell export + wear (charge + discharge) + penalty relax)
              + sum peak_price peak_w - terminal_value soc_T.
    The EV's ``may_remain`` bound (what the charger can still deliver before departure) makes every EV leave
    with its energy. With the effective local-market prices, buy = buy - share (buy - market) and sell =
    sell + share (market - sell). Cost-only objectives let batteries double import peaks (Ludolfinger 2025),
    hence the peak term.
    """
    load_kw = np.atleast_2d(np.asarray(load_kw, dtype=float))
    pv_kw = np.atleast_2d(np.asarray(pv_kw, dtype=float))
    n_t, n_m = load_kw.shape
    if pv_kw.shape != (n_t, n_m):
        raise ValueError(f"pv_kw has shape {pv_kw.shape}, expected {(n_t, n_m)} like load_kw")
    if len(batteries) != n_m:
        raise ValueError(f"batteries has {len(batteries)} rows, expected one per home ({n_m})")
    for name, values in (("load_kw", load_kw), ("pv_kw", pv_kw)):
        if not np.isfinite(values).all():
            t, m = np.argwhere(~np.isfinite(values))[0]
            raise ValueError(
                f"{name}[{t}, {m}] is {float(values[t, m])}, expected a finite number (fill gaps first)"
            )
    if not interval_h > 0:
        raise ValueError(f"interval_h {interval_h!r} is not positive")
    names = [str(m) for m in (member_ids if member_ids is not None else range(n_m))]
    bat = validate_batteries(batteries)
    buy = _per_home(buy_price_per_kwh, n_t, n_m, "buy_price_per_kwh")
    sell = _per_home(sell_price_per_kwh, n_t, n_m, "sell_price_per_kwh")
    if market_price_per_kwh is not None and market_share > 0:
        market = _per_home(market_price_per_kwh, n_t, n_m, "market_price_per_kwh")
        buy = buy - market_share * (buy - market)
        sell = sell + market_share * (market - sell)
    if ev is None:
        ev = ev_slots(pd.DataFrame(columns=["asset_id"]), pd.date_range("2000", periods=n_t, freq="h"), names)
    n_k = len(ev.member)
    if ev.max_kw.shape != (n_t, n_k):
        raise ValueError(f"ev arrays have shape {ev.max_kw.shape}, expected {(n_t, n_k)}")
    window = n_t if peak_window_intervals is None else int(peak_window_intervals)
    n_w = -(-n_t // window)
    peak_price = np.broadcast_to(np.asarray(peak_price_per_kw, dtype=float), (n_m,))
    has_peak = peak_price > 0
    cap = None if import_cap_kw is None else np.asarray(import_cap_kw, dtype=float)
    capped = np.zeros((n_t, n_m), bool) if cap is None else np.isfinite(cap)
    ccap = None if community_import_cap_kw is None else np.asarray(community_import_cap_kw, dtype=float)
    ccapped = np.zeros(n_t, bool) if ccap is None else np.isfinite(ccap)
    coupled = community_peak_price_per_kw > 0 or ccapped.any()
    if homes_per_lp is None:
        homes_per_lp = max(8, 800 // n_t)
    fast_applies = (
        not coupled
        and len(ev.member) == 0
        and not has_peak.any()
        and bool(((sell >= 0) & (sell <= buy)).all())
    )
    if method not in ("auto", "lp", "fast"):
        raise ValueError(f"method {method!r} is not one of auto, lp, fast")
    if method == "fast" and not fast_applies:
        raise ValueError(
            "method 'fast' needs no EVs, no peak price, no community terms and 0 <= sell <= buy; use 'lp'"
        )
    if method != "lp" and fast_applies:
        terminal = np.broadcast_to(np.asarray(terminal_value_per_kwh, dtype=float), (n_m,))
        return _plan_fast(
            load_kw, pv_kw, buy, sell, bat, interval_h, cap, names, warn, wear_per_kwh, terminal
        )
    if not coupled and n_m > homes_per_lp:
        bat_all = bat
        parts = []
        for lo in range(0, n_m, homes_per_lp):
            hi = min(lo + homes_per_lp, n_m)
            parts.append(
                plan_homes(
                    load_kw[:, lo:hi],
                    pv_kw[:, lo:hi],
                    buy[:, lo:hi],
                    sell[:, lo:hi],
                    bat_all.iloc[lo:hi],
                    interval_h,
                    ev=_ev_subset(ev, lo, hi),
                    peak_price_per_kw=peak_price[lo:hi],
                    peak_window_intervals=peak_window_intervals,
                    wear_per_kwh=wear_per_kwh,
                    terminal_value_per_kwh=np.broadcast_to(
                        np.asarray(terminal_value_per_kwh, dtype=float), (n_m,)
                    )[lo:hi],
                    import_cap_kw=None if cap is None else cap[:, lo:hi],
                    member_ids=names[lo:hi],
                    warn=False,
                    homes_per_lp=homes_per_lp,
                    method="lp",
                )
            )
        return _joined(parts, ev, warn)

    capacity = bat["capacity_kwh"].to_numpy()
    power = bat["power_kw"].to_numpy()
    eta = np.sqrt(bat["efficiency"].to_numpy())
    soc0 = bat["soc_kwh"].to_numpy()
    soc_min = capacity * bat["soc_min_fraction"].to_numpy()
    soc_max = capacity * bat["soc_max_fraction"].to_numpy()

    # Column layout: blocks of (T, M) for charge, discharge, soc, import, export; (T, K) for EV power and
    # EV energy still needed; then peaks (W, M), relaxations of capped cells, and the community's variables.
    tm = n_t * n_m
    tk = n_t * n_k
    cols = _Layout()
    c_ch = cols.add(tm)
    c_dis = cols.add(tm)
    c_soc = cols.add(tm)
    c_imp = cols.add(tm)
    c_exp = cols.add(tm)
    c_ev = cols.add(tk)
    c_need = cols.add(tk)
    c_peak = cols.add(n_w * n_m)
    n_cap = int(capped.sum())
    c_relax = cols.add(n_cap)
    c_gimp = cols.add(n_t if coupled else 0)
    c_gexp = cols.add(n_t if coupled else 0)
    c_gpeak = cols.add(n_w if coupled and community_peak_price_per_kw > 0 else 0)
    n_ccap = int(ccapped.sum()) if coupled else 0
    c_grelax = cols.add(n_ccap)
    n_col = cols.size

    lower = np.zeros(n_col)
    upper = np.full(n_col, np.inf)
    cost = np.zeros(n_col)
    upper[c_ch] = np.tile(power, n_t)
    upper[c_dis] = np.tile(power, n_t)
    lower[c_soc] = np.tile(soc_min, n_t)
    upper[c_soc] = np.tile(soc_max, n_t)
    upper[c_ev] = ev.max_kw.ravel()
    upper[c_need] = ev.may_remain_kwh.ravel()
    upper[c_peak] = np.where(np.tile(has_peak, n_w), np.inf, 0.0)
    if coupled:
        lower[c_gexp] = 0.0
    cost[c_imp] = buy.ravel() * interval_h
    cost[c_exp] = -sell.ravel() * interval_h
    cost[c_ch] = wear_per_kwh * interval_h
    cost[c_dis] = wear_per_kwh * interval_h
    terminal = np.broadcast_to(np.asarray(terminal_value_per_kwh, dtype=float), (n_m,))
    cost[c_soc.start + (n_t - 1) * n_m : c_soc.stop] = -terminal
    cost[c_peak] = np.tile(peak_price, n_w)
    cost[c_relax] = RELAX_PENALTY_PER_KWH * interval_h
    cost[c_gpeak] = community_peak_price_per_kw
    cost[c_grelax] = RELAX_PENALTY_PER_KWH * interval_h

    rows = _Rows()
    t_of = np.repeat(np.arange(n_t), n_m)
    m_of = np.tile(np.arange(n_m), n_t)
    cell = np.arange(tm)
    # Power balance at each meter.
    r = rows.add(tm)
    rows.entries(r, c_imp.start + cell, 1.0)
    rows.entries(r, c_exp.start + cell, -1.0)
    rows.entries(r, c_ch.start + cell, -1.0)
    rows.entries(r, c_dis.start + cell, 1.0)
    if n_k:
        kt = np.arange(tk)
        rows.entries(
            r.start + np.repeat(np.arange(n_t), n_k) * n_m + np.tile(ev.member, n_t), c_ev.start + kt, -1.0
        )
    rows.bounds(r, (load_kw - pv_kw).ravel(), (load_kw - pv_kw).ravel())
    # Battery state of charge.
    r = rows.add(tm)
    rows.entries(r, c_soc.start + cell, 1.0)
    later = cell[n_m:]
    rows.entries(r.start + later, c_soc.start + later - n_m, -1.0)
    rows.entries(r, c_ch.start + cell, -np.tile(eta, n_t) * interval_h)
    rows.entries(r, c_dis.start + cell, interval_h / np.tile(np.where(eta > 0, eta, 1.0), n_t))
    rhs = np.zeros(tm)
    rhs[:n_m] = soc0
    rows.bounds(r, rhs, rhs)
    # EV energy still needed.
    if n_k:
        r = rows.add(tk)
        kt = np.arange(tk)
        rows.entries(r, c_need.start + kt, 1.0)
        rows.entries(r.start + kt[n_k:], c_need.start + kt[n_k:] - n_k, -1.0)
        rows.entries(r, c_ev.start + kt, interval_h)
        need_rhs = ev.arrival_need_kwh.ravel()
        rows.bounds(r, need_rhs, need_rhs)
    # Peak import per window.
    peaked = np.flatnonzero(has_peak[m_of])
    if len(peaked):
        r = rows.add(len(peaked))
        rows.entries(r, c_imp.start + peaked, 1.0)
        rows.entries(r, c_peak.start + (t_of[peaked] // window) * n_m + m_of[peaked], -1.0)
        rows.bounds(r, np.full(len(peaked), -np.inf), np.zeros(len(peaked)))
    # Demand-response caps on each home's import.
    capped_cells = np.flatnonzero(capped.ravel())
    if n_cap:
        r = rows.add(n_cap)
        rows.entries(r, c_imp.start + capped_cells, 1.0)
        rows.entries(r, c_relax.start + np.arange(n_cap), -1.0)
        rows.bounds(r, np.full(n_cap, -np.inf), cap.ravel()[capped_cells])
    if coupled:
        r = rows.add(n_t)
        rows.entries(r.start + t_of, c_imp.start + cell, 1.0)
        rows.entries(r.start + t_of, c_exp.start + cell, -1.0)
        rows.entries(r, c_gimp.start + np.arange(n_t), -1.0)
        rows.entries(r, c_gexp.start + np.arange(n_t), 1.0)
        rows.bounds(r, np.zeros(n_t), np.zeros(n_t))
        if community_peak_price_per_kw > 0:
            r = rows.add(n_t)
            rows.entries(r, c_gimp.start + np.arange(n_t), 1.0)
            rows.entries(r, c_gpeak.start + np.arange(n_t) // window, -1.0)
            rows.bounds(r, np.full(n_t, -np.inf), np.zeros(n_t))
        if n_ccap:
            hours = np.flatnonzero(ccapped)
            r = rows.add(n_ccap)
            rows.entries(r, c_gimp.start + hours, 1.0)
            rows.entries(r, c_grelax.start + np.arange(n_ccap), -1.0)
            rows.bounds(r, np.full(n_ccap, -np.inf), ccap[hours])

    x, objective = _solve(rows, n_col, cost, lower, upper)

    def block(s: slice, width: int) -> np.ndarray:
        return x[s].reshape(n_t, width)

    x = np.where(lower >= 0, np.maximum(x, lower), x)  # drop the solver's -1e-9 round-off below bounds
    imp = block(c_imp, n_m)
    exp = block(c_exp, n_m)
    ev_slot_kw = block(c_ev, n_k) if n_k else np.zeros((n_t, 0))
    ev_kw = np.zeros((n_t, n_m))
    if n_k:
        np.add.at(ev_kw.T, ev.member, ev_slot_kw.T)
    relaxed = np.zeros(tm)
    relaxed[capped_cells] = x[c_relax]
    relaxed = relaxed.reshape(n_t, n_m)
    messages = list(ev.messages) + _cap_messages(relaxed, names, interval_h)
    community_import = None
    if coupled:
        community_import = x[c_gimp] - x[c_gexp]
        if n_ccap:
            grelax = x[c_grelax]
            if grelax.max() > 1e-6:
                messages.append(
                    f"community: demand-response import cap relaxed by {grelax.sum() * interval_h:.3f} kWh "
                    f"over {(grelax > 1e-6).sum()} interval(s), at most {grelax.max():.3f} kW"
                )
    if warn:
        for message in messages:
            warnings.warn(message, PlanWarning, stacklevel=2)
    return HomePlan(
        charge_kw=block(c_ch, n_m),
        discharge_kw=block(c_dis, n_m),
        soc_kwh=block(c_soc, n_m),
        import_kw=imp,
        export_kw=exp,
        ev_kw=ev_kw,
        ev_slot_kw=ev_slot_kw,
        relaxed_cap_kw=relaxed,
        community_import_kw=community_import,
        cost=((buy * imp - sell * exp) * interval_h).sum(axis=0),
        objective=objective,
        warnings=messages,
    )


def _cap_messages(relaxed_kw: np.ndarray, names: list[str], interval_h: float) -> list[str]:
    """One warning per home whose demand-response cap had to be exceeded, saying by how much."""
    messages = []
    for m in np.flatnonzero(relaxed_kw.max(axis=0) > 1e-6):
        over = relaxed_kw[:, m]
        messages.append(
            f"home {names[m]!r}: demand-response import cap relaxed by {over.sum() * interval_h:.3f} kWh "
            f"over {(over > 1e-6).sum()} interval(s), at most {over.max():.3f} kW (must-run load above the cap)"
        )
    return messages


def _plan_fast(
    load_kw, pv_kw, buy, sell, bat, interval_h, cap, names, warn, wear_per_kwh, terminal
) -> HomePlan:
    """``plan_homes`` by the exact dynamic programme of ``wattmesh.energy.fast`` (no EVs, no peak price)."""
    from wattmesh.energy.fast import plan_batteries_fast

    fast = plan_batteries_fast(
        load_kw,
        pv_kw,
        buy,
        sell,
        bat,
        interval_h,
        wear_per_kwh=wear_per_kwh,
        terminal_value_per_kwh=terminal,
        import_cap_kw=cap,
    )
    n_t, n_m = load_kw.shape
    limit = np.full((n_t, n_m), np.inf) if cap is None else np.where(np.isfinite(cap), cap, np.inf)
    relaxed = np.maximum(fast.import_kw - limit, 0.0)
    messages = _cap_messages(relaxed, names, interval_h)
    if warn:
        for message in messages:
            warnings.warn(message, PlanWarning, stacklevel=3)
    return HomePlan(
        charge_kw=fast.charge_kw,
        discharge_kw=fast.discharge_kw,
        soc_kwh=fast.soc_kwh,
        import_kw=fast.import_kw,
        export_kw=fast.export_kw,
        ev_kw=np.zeros((n_t, n_m)),
        ev_slot_kw=np.zeros((n_t, 0)),
        relaxed_cap_kw=relaxed,
        community_import_kw=None,
        cost=((buy * fast.import_kw - sell * fast.export_kw) * interval_h).sum(axis=0),
        objective=float(fast.objective.sum()),
        warnings=messages,
    )


def _ev_subset(ev: EvSlots, lo: int, hi: int) -> EvSlots:
    """The EVs of homes lo..hi-1, renumbered from 0 (session details and messages are left out)."""
    keep = (ev.member >= lo) & (ev.member < hi)
    none = np.zeros(0, dtype=np.int64)
    return EvSlots(
        member=ev.member[keep] - lo,
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


def _joined(parts: list[HomePlan], ev: EvSlots, warn: bool) -> HomePlan:
    """One plan from the plans of consecutive blocks of homes."""
    messages = list(ev.messages) + [w for p in parts for w in p.warnings]
    n_t = parts[0].charge_kw.shape[0]
    ev_slot_kw = np.zeros((n_t, len(ev.member)))
    offset = 0
    for p in parts:
        width = p.charge_kw.shape[1]
        keep = np.flatnonzero((ev.member >= offset) & (ev.member < offset + width))
        ev_slot_kw[:, keep] = p.ev_slot_kw
        offset += width
    if warn:
        for message in messages:
            warnings.warn(message, PlanWarning, stacklevel=3)

    def stack(name: str) -> np.ndarray:
        return np.hstack([getattr(p, name) for p in parts])

    return HomePlan(
        charge_kw=stack("charge_kw"),
        discharge_kw=stack("discharge_kw"),
        soc_kwh=stack("soc_kwh"),
        import_kw=stack("import_kw"),
        export_kw=stack("export_kw"),
        ev_kw=stack("ev_kw"),
        ev_slot_kw=ev_slot_kw,
        relaxed_cap_kw=stack("relaxed_cap_kw"),
        community_import_kw=None,
        cost=np.concatenate([p.cost for p in parts]),
        objective=float(sum(p.objective for p in parts)),
        warnings=messages,
    )


def _per_home(values: np.ndarray | float, n_t: int, n_m: int, name: str) -> np.ndarray:
    """``values`` as a (T, M) array: a scalar, (T,) or (T, M)."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    try:
        return np.broadcast_to(arr, (n_t, n_m))
    except ValueError:
        raise ValueError(f"{name} has shape {arr.shape}, expected (T,) or (T, M) = {(n_t, n_m)}") from None


class _Layout:
    """Consecutive blocks of LP columns."""

    def __init__(self) -> None:
        self.size = 0

    def add(self, n: int) -> slice:
        s = slice(self.size, self.size + n)
        self.size += n
        return s


class _Rows:
    """LP rows collected as COO triplets with their bounds."""

    def __init__(self) -> None:
        self.size = 0
        self.i: list[np.ndarray] = []
        self.j: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []

    def add(self, n: int) -> slice:
        s = slice(self.size, self.size + n)
        self.size += n
        return s

    def entries(self, r: slice | np.ndarray, c: np.ndarray, value: float | np.ndarray) -> None:
        i = np.arange(r.start, r.stop) if isinstance(r, slice) else np.asarray(r)
        self.i.append(i)
        self.j.append(np.asarray(c))
        self.v.append(np.broadcast_to(np.asarray(value, dtype=float), i.shape))

    def bounds(self, r: slice, lo: np.ndarray, hi: np.ndarray) -> None:
        self.lo.append(np.asarray(lo, dtype=float))
        self.hi.append(np.asarray(hi, dtype=float))


def _solve(
    rows: _Rows, n_col: int, cost: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, float]:
    """Solve min cost.x s.t. lo <= A x <= hi, lower <= x <= upper with HiGHS; the optimum x and value."""
    a = sp.csc_matrix(
        (np.concatenate(rows.v), (np.concatenate(rows.i), np.concatenate(rows.j))), shape=(rows.size, n_col)
    )
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = rows.size
    lp.col_cost_ = cost
    lp.col_lower_ = lower
    lp.col_upper_ = upper
    lp.row_lower_ = np.concatenate(rows.lo)
    lp.row_upper_ = np.concatenate(rows.hi)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"planner LP not solved: HiGHS status {h.modelStatusToString(status)}")
    return np.asarray(h.getSolution().col_value), float(h.getInfo().objective_function_value)


def _ranges(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for every c in ``counts``, concatenated."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts
