"""The home and community energy planner: one batched linear programme (HiGHS) for many homes at once.

Every home's battery and EV chargers are scheduled over a horizon to minimise the energy bill, a peak-import
charge and a small battery-wear cost, under demand-response import caps. All homes go into one sparse LP
(the homes' blocks are independent unless a community term couples them), so a whole community is planned
with one solver call. ``plan_homes`` is the entry point: it checks its inputs and dispatches to the exact
dynamic programme of ``wattmesh.energy.fast`` where it applies, to blocks of independent homes, or to one
LP built by the constraint builders of ``wattmesh.energy.constraints`` (layout and solve in
``wattmesh.energy.lp``). ``ev_slots`` (``wattmesh.energy.ev_sessions``) turns an EV-sessions table into the
arrays the LP needs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wattmesh.energy.battery import validate_batteries
from wattmesh.energy.common import per_home
from wattmesh.energy.constraints import (
    add_battery,
    add_community,
    add_ev_energy,
    add_import_caps,
    add_meter_balance,
    add_peak_import,
)
from wattmesh.energy.ev_sessions import EvSlots, ev_columns, ev_slots, ev_subset
from wattmesh.energy.fast import plan_batteries_fast
from wattmesh.energy.lp import HomeLp, WarmStart, home_lp, solve_home_lp, solve_home_lps

__all__ = ["EvSlots", "HomePlan", "PlanWarning", "ev_slots", "plan_homes"]


class PlanWarning(UserWarning):
    """A request could not be met in full; the message names the constraint and by how much it was relaxed."""


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
    warm: WarmStart | None = None,
    _deferred: bool = False,
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
        0 <= sell <= buy), ``"auto"`` (fast where it applies to every home, else the LP) or ``"mixed"``
        (when nothing couples the homes, those without EVs and peak price by the fast method and the
        others by the LP; else as ``"auto"``). The optimum is the same; where it is not unique (no peak
        price: when to store is often a tie), the methods may reach different optimal dispatches
    warm : HiGHS solvers kept from the last call (:class:`wattmesh.energy.lp.WarmStart`): an LP whose
        matrix is that of the last one of its block of homes starts from its optimal basis (a model-predictive
        controller re-plans the same homes every interval); the same optimum
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
    load_kw, pv_kw = _checked_profiles(load_kw, pv_kw, len(batteries), interval_h)
    n_t, n_m = load_kw.shape
    names = [str(m) for m in (member_ids if member_ids is not None else range(n_m))]
    bat = validate_batteries(batteries)
    buy = per_home(buy_price_per_kwh, n_t, n_m, "buy_price_per_kwh")
    sell = per_home(sell_price_per_kwh, n_t, n_m, "sell_price_per_kwh")
    if market_price_per_kwh is not None and market_share > 0:
        market = per_home(market_price_per_kwh, n_t, n_m, "market_price_per_kwh")
        buy = buy - market_share * (buy - market)
        sell = sell + market_share * (market - sell)
    if ev is None:
        ev = ev_slots(pd.DataFrame(columns=["asset_id"]), pd.date_range("2000", periods=n_t, freq="h"), names)
    n_k = len(ev.member)
    if ev.max_kw.shape != (n_t, n_k):
        raise ValueError(f"ev arrays have shape {ev.max_kw.shape}, expected {(n_t, n_k)}")
    window = n_t if peak_window_intervals is None else int(peak_window_intervals)
    peak_price = np.broadcast_to(np.asarray(peak_price_per_kw, dtype=float), (n_m,))
    terminal = np.broadcast_to(np.asarray(terminal_value_per_kwh, dtype=float), (n_m,))
    cap = None if import_cap_kw is None else np.asarray(import_cap_kw, dtype=float)
    ccap = None if community_import_cap_kw is None else np.asarray(community_import_cap_kw, dtype=float)
    coupled = community_peak_price_per_kw > 0 or (ccap is not None and bool(np.isfinite(ccap).any()))
    if homes_per_lp is None:
        homes_per_lp = max(8, 800 // n_t)
    fast_applies = (
        not coupled and n_k == 0 and not (peak_price > 0).any() and bool(((sell >= 0) & (sell <= buy)).all())
    )
    if method not in ("auto", "lp", "fast", "mixed"):
        raise ValueError(f"method {method!r} is not one of auto, lp, fast, mixed")
    if method == "fast" and not fast_applies:
        raise ValueError(
            "method 'fast' needs no EVs, no peak price, no community terms and 0 <= sell <= buy; use 'lp'"
        )
    if method != "lp" and fast_applies:
        return _plan_fast(
            load_kw, pv_kw, buy, sell, bat, interval_h, cap, names, warn, wear_per_kwh, terminal
        )
    options = dict(
        peak_window_intervals=peak_window_intervals,
        wear_per_kwh=wear_per_kwh,
        member_ids=names,
        homes_per_lp=homes_per_lp,
    )
    if method == "mixed" and not coupled:
        # Homes are independent: those the exact fast method covers need no LP.
        is_fast = (
            ~np.isin(np.arange(n_m), ev.member) & ~(peak_price > 0) & ((sell >= 0) & (sell <= buy)).all(0)
        )
        if is_fast.any():
            return _plan_split(
                load_kw,
                pv_kw,
                buy,
                sell,
                bat,
                interval_h,
                ev,
                peak_price,
                terminal,
                cap,
                is_fast,
                options,
                warn,
                warm,
            )
    if not coupled and n_m > homes_per_lp:
        return _plan_blocks(
            load_kw,
            pv_kw,
            buy,
            sell,
            bat,
            interval_h,
            ev=ev,
            peak_price_per_kw=peak_price,
            peak_window_intervals=peak_window_intervals,
            wear_per_kwh=wear_per_kwh,
            terminal_value_per_kwh=terminal,
            import_cap_kw=cap,
            member_ids=names,
            warn=warn,
            homes_per_lp=homes_per_lp,
            warm=warm,
        )
    lp = home_lp(
        n_t,
        n_m,
        n_k,
        interval_h,
        n_windows=-(-n_t // window),
        n_capped=0 if cap is None else int(np.isfinite(cap).sum()),
        coupled=coupled,
        community_peak=community_peak_price_per_kw > 0,
        n_community_capped=0 if ccap is None else int(np.isfinite(ccap).sum()),
    )
    add_meter_balance(lp, load_kw - pv_kw, buy, sell, ev.member)
    add_battery(lp, bat, wear_per_kwh, terminal)
    add_ev_energy(lp, ev)
    add_peak_import(lp, peak_price, window)
    capped_cells = add_import_caps(lp, cap)
    add_community(lp, community_peak_price_per_kw, ccap, window)

    def finish(x: np.ndarray, objective: float) -> HomePlan:
        return _read_plan(lp, x, objective, ev, capped_cells, buy, sell, names)

    if _deferred:  # the caller solves this block's LP with others' (see _plan_blocks)
        return lp, finish
    x, objective = solve_home_lp(lp, warm, key=("homes", n_m))
    plan = finish(x, objective)
    if warn:
        for message in plan.warnings:
            warnings.warn(message, PlanWarning, stacklevel=2)
    return plan


def _plan_blocks(
    load_kw: np.ndarray,
    pv_kw: np.ndarray,
    buy: np.ndarray,
    sell: np.ndarray,
    bat: pd.DataFrame,
    interval_h: float,
    *,
    ev: EvSlots,
    peak_price_per_kw: np.ndarray,
    peak_window_intervals: int | None,
    wear_per_kwh: float,
    terminal_value_per_kwh: np.ndarray,
    import_cap_kw: np.ndarray | None,
    member_ids: list[str],
    warn: bool,
    homes_per_lp: int,
    warm: WarmStart | None = None,
) -> HomePlan:
    """``plan_homes`` for homes that nothing couples, one LP per block of ``homes_per_lp`` homes (the same
    optimum as one LP over all of them, faster); prices are the effective (T, M) ones."""
    n_m = load_kw.shape[1]
    prepared = []
    for lo in range(0, n_m, homes_per_lp):
        hi = min(lo + homes_per_lp, n_m)
        prepared.append(
            plan_homes(
                load_kw[:, lo:hi],
                pv_kw[:, lo:hi],
                buy[:, lo:hi],
                sell[:, lo:hi],
                bat.iloc[lo:hi],
                interval_h,
                ev=ev_subset(ev, lo, hi),
                peak_price_per_kw=peak_price_per_kw[lo:hi],
                peak_window_intervals=peak_window_intervals,
                wear_per_kwh=wear_per_kwh,
                terminal_value_per_kwh=terminal_value_per_kwh[lo:hi],
                import_cap_kw=None if import_cap_kw is None else import_cap_kw[:, lo:hi],
                member_ids=member_ids[lo:hi],
                warn=False,
                homes_per_lp=homes_per_lp,
                method="lp",
                _deferred=True,
            )
        )
    # Every block's LP first, then all solves at once (on worker processes where ``parallel_solves``
    # provides them), each block under its own key for the warm start.
    keys = [("block", lo) for lo in range(0, n_m, homes_per_lp)]
    solved = solve_home_lps([lp for lp, _ in prepared], warm, keys)
    parts = [finish(x, objective) for (_, finish), (x, objective) in zip(prepared, solved, strict=True)]
    return _joined(parts, ev, warn)


def _plan_split(
    load_kw, pv_kw, buy, sell, bat, interval_h, ev, peak_price, terminal, cap, is_fast, options, warn, warm
) -> HomePlan:
    """``plan_homes`` for independent homes: those of ``is_fast`` (M,) by the exact fast method, the others
    (with EVs or a peak price) by the LP; one plan in the homes' order."""
    n_t, n_m = load_kw.shape
    names = options["member_ids"]
    parts = []
    for columns, method in ((np.flatnonzero(~is_fast), "lp"), (np.flatnonzero(is_fast), "fast")):
        if not len(columns):
            continue
        plan = plan_homes(
            load_kw[:, columns],
            pv_kw[:, columns],
            buy[:, columns],
            sell[:, columns],
            bat.iloc[columns],
            interval_h,
            ev=ev_columns(ev, columns) if method == "lp" else None,
            peak_price_per_kw=peak_price[columns],
            terminal_value_per_kwh=terminal[columns],
            import_cap_kw=None if cap is None else cap[:, columns],
            warn=False,
            method=method,
            warm=warm if method == "lp" else None,
            **dict(options, member_ids=[names[c] for c in columns]),
        )
        parts.append((columns, plan))

    def placed(name: str) -> np.ndarray:
        out = np.zeros((n_t, n_m))
        for columns, plan in parts:
            out[:, columns] = getattr(plan, name)
        return out

    cost = np.zeros(n_m)
    for columns, plan in parts:
        cost[columns] = plan.cost
    messages = list(ev.messages) + [w for _, plan in parts for w in plan.warnings]
    if warn:
        for message in messages:
            warnings.warn(message, PlanWarning, stacklevel=3)
    lp_parts = [plan for _, plan in parts if plan.ev_slot_kw.shape[1]]
    return HomePlan(
        charge_kw=placed("charge_kw"),
        discharge_kw=placed("discharge_kw"),
        soc_kwh=placed("soc_kwh"),
        import_kw=placed("import_kw"),
        export_kw=placed("export_kw"),
        ev_kw=placed("ev_kw"),
        ev_slot_kw=lp_parts[0].ev_slot_kw if lp_parts else np.zeros((n_t, len(ev.member))),
        relaxed_cap_kw=placed("relaxed_cap_kw"),
        community_import_kw=None,
        cost=cost,
        objective=float(sum(plan.objective for _, plan in parts)),
        warnings=messages,
    )


def _checked_profiles(
    load_kw: np.ndarray, pv_kw: np.ndarray, n_batteries: int, interval_h: float
) -> tuple[np.ndarray, np.ndarray]:
    """``load_kw`` and ``pv_kw`` as (T, M) float arrays, checked against each other, the batteries' count
    and the interval; errors name the array, the cell and its value."""
    load_kw = np.atleast_2d(np.asarray(load_kw, dtype=float))
    pv_kw = np.atleast_2d(np.asarray(pv_kw, dtype=float))
    n_t, n_m = load_kw.shape
    if pv_kw.shape != (n_t, n_m):
        raise ValueError(f"pv_kw has shape {pv_kw.shape}, expected {(n_t, n_m)} like load_kw")
    if n_batteries != n_m:
        raise ValueError(f"batteries has {n_batteries} rows, expected one per home ({n_m})")
    for name, values in (("load_kw", load_kw), ("pv_kw", pv_kw)):
        if not np.isfinite(values).all():
            t, m = np.argwhere(~np.isfinite(values))[0]
            raise ValueError(
                f"{name}[{t}, {m}] is {float(values[t, m])}, expected a finite number (fill gaps first)"
            )
    if not interval_h > 0:
        raise ValueError(f"interval_h {interval_h!r} is not positive")
    return load_kw, pv_kw


def _read_plan(
    lp: HomeLp,
    x: np.ndarray,
    objective: float,
    ev: EvSlots,
    capped_cells: np.ndarray,
    buy: np.ndarray,
    sell: np.ndarray,
    names: list[str],
) -> HomePlan:
    """The ``HomePlan`` of the LP's optimum ``x``, with every relaxed request in its warnings."""
    n_t, n_m, n_k, dt = lp.n_t, lp.n_m, lp.n_k, lp.interval_h
    imp = lp.block(x, lp.imp, n_m)
    exp = lp.block(x, lp.exp, n_m)
    ev_slot_kw = lp.block(x, lp.ev, n_k) if n_k else np.zeros((n_t, 0))
    ev_kw = np.zeros((n_t, n_m))
    if n_k:
        np.add.at(ev_kw.T, ev.member, ev_slot_kw.T)
    relaxed = np.zeros(n_t * n_m)
    relaxed[capped_cells] = x[lp.relax]
    relaxed = relaxed.reshape(n_t, n_m)
    messages = list(ev.messages) + _cap_messages(relaxed, names, dt)
    community_import = None
    if lp.grid_import.stop > lp.grid_import.start:
        community_import = x[lp.grid_import] - x[lp.grid_export]
        grelax = x[lp.grid_relax]
        if len(grelax) and grelax.max() > 1e-6:
            messages.append(
                f"community: demand-response import cap relaxed by {grelax.sum() * dt:.3f} kWh "
                f"over {(grelax > 1e-6).sum()} interval(s), at most {grelax.max():.3f} kW"
            )
    return HomePlan(
        charge_kw=lp.block(x, lp.charge, n_m),
        discharge_kw=lp.block(x, lp.discharge, n_m),
        soc_kwh=lp.block(x, lp.soc, n_m),
        import_kw=imp,
        export_kw=exp,
        ev_kw=ev_kw,
        ev_slot_kw=ev_slot_kw,
        relaxed_cap_kw=relaxed,
        community_import_kw=community_import,
        cost=((buy * imp - sell * exp) * dt).sum(axis=0),
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
            warnings.warn(message, PlanWarning, stacklevel=4)

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
