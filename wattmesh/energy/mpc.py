"""Model-predictive control: re-plan every home with fresh forecasts, apply the first step(s), repeat.

Also the two baselines the planner is measured against, run over the same span with the same physics:
no battery, and the self-consumption rule of ``wattmesh.energy.rules``; and the perfect-foresight LP over the
whole span (the bound).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.energy.battery import apply_battery_kw, validate_batteries
from wattmesh.energy.common import per_home
from wattmesh.energy.ev_sessions import ev_slots
from wattmesh.energy.forecasts import Forecaster
from wattmesh.energy.lp import WarmStart, parallel_solves
from wattmesh.energy.planner import plan_homes
from wattmesh.energy.rules import battery_step, ev_charge_on_arrival_kw


@dataclass
class Dispatch:
    """What happened at each meter over a span; arrays are (T, M) [kW] unless noted.

    ``soc_kwh`` is the state of charge at the end of each interval [kWh]; ``ev_kw`` the EV charging per home;
    ``ev_delivered_kwh`` (S,) the energy each EV session received, in the order of the sessions table.
    """

    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    soc_kwh: np.ndarray
    import_kw: np.ndarray
    export_kw: np.ndarray
    ev_kw: np.ndarray
    ev_delivered_kwh: np.ndarray
    warnings: list[str]

    @property
    def net_kw(self) -> np.ndarray:
        """Import minus export at each meter [kW]."""
        return self.import_kw - self.export_kw


def dispatch_objective(
    dispatch: Dispatch,
    buy_price_per_kwh: np.ndarray,
    sell_price_per_kwh: np.ndarray | float,
    interval_h: float,
    *,
    peak_price_per_kw: float = 0.0,
    peak_window_intervals: int | None = None,
    wear_per_kwh: float = 0.002,
) -> np.ndarray:
    """Each home's cost as the planner's objective counts it, for a dispatch that happened [currency].

    Bill (import at the buy price less export at the sell price) + wear on the battery's throughput + the
    peak price on each home's highest import in every peak window (None: the whole span). With the same
    options, ``plan_perfect_foresight`` gives the lowest possible value: the bound.
    """
    n_t, n_m = dispatch.import_kw.shape
    buy = per_home(buy_price_per_kwh, n_t, n_m, "buy_price_per_kwh")
    sell = per_home(sell_price_per_kwh, n_t, n_m, "sell_price_per_kwh")
    bill = ((buy * dispatch.import_kw - sell * dispatch.export_kw) * interval_h).sum(axis=0)
    wear = wear_per_kwh * interval_h * (dispatch.charge_kw + dispatch.discharge_kw).sum(axis=0)
    window = n_t if peak_window_intervals is None else peak_window_intervals
    peaks = sum(dispatch.import_kw[i : i + window].max(axis=0) for i in range(0, n_t, window))
    return bill + wear + peak_price_per_kw * peaks


def _exchange(net_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.maximum(net_kw, 0.0), np.maximum(-net_kw, 0.0)


def dispatch_no_battery(
    load_kw: np.ndarray, pv_kw: np.ndarray, ev_kw: np.ndarray | None = None, ev_delivered_kwh=None
) -> Dispatch:
    """The homes as they are without batteries (EVs charging as given, e.g. on arrival)."""
    ev_kw = np.zeros_like(load_kw) if ev_kw is None else ev_kw
    imp, exp = _exchange(load_kw - pv_kw + ev_kw)
    zeros = np.zeros_like(load_kw)
    delivered = np.zeros(0) if ev_delivered_kwh is None else ev_delivered_kwh
    return Dispatch(zeros, zeros, zeros, imp, exp, ev_kw, delivered, [])


def dispatch_self_consumption(
    load_kw: np.ndarray, pv_kw: np.ndarray, batteries: pd.DataFrame, interval_h: float, ev_kw=None
) -> Dispatch:
    """The self-consumption rule (``rules.battery_step``) over the span; EVs charge as given."""
    bat = validate_batteries(batteries)
    ev_kw = np.zeros_like(load_kw) if ev_kw is None else ev_kw
    net_kwh = (pv_kw - load_kw - ev_kw) * interval_h
    soc = bat["soc_kwh"].to_numpy().copy()
    args = (bat["capacity_kwh"].to_numpy(), bat["power_kw"].to_numpy(), bat["efficiency"].to_numpy())
    charge = np.zeros_like(load_kw)
    discharge = np.zeros_like(load_kw)
    socs = np.zeros_like(load_kw)
    for t in range(len(load_kw)):
        c, d, soc = battery_step(net_kwh[t], soc, *args, interval_h)
        charge[t], discharge[t], socs[t] = c / interval_h, d / interval_h, soc
    imp, exp = _exchange(load_kw - pv_kw + ev_kw + charge - discharge)
    return Dispatch(charge, discharge, socs, imp, exp, ev_kw, np.zeros(0), [])


def ev_on_arrival(sessions: pd.DataFrame, index: pd.DatetimeIndex, member_ids: pd.Index) -> np.ndarray:
    """EV charging power (T, M) of the charge-on-arrival rule (``rules.ev_charge_on_arrival_kw``)."""
    return ev_charge_on_arrival_kw(sessions, index, pd.Index(member_ids))


def plan_perfect_foresight(
    load_kw: pd.DataFrame,
    pv_kw: pd.DataFrame,
    buy_price_per_kwh: np.ndarray,
    sell_price_per_kwh: np.ndarray | float,
    batteries: pd.DataFrame,
    ev_sessions: pd.DataFrame | None = None,
    **plan_options,
) -> Dispatch:
    """The perfect-foresight bound: one LP over the whole span, knowing every load, PV and EV in advance.

    Homes are independent, so they are solved one LP per home (the same optimum as one joint LP, faster);
    ``plan_options`` go to ``plan_homes`` (e.g. ``peak_price_per_kw``, ``peak_window_intervals``).
    """
    index = load_kw.index
    interval_h = (index[1] - index[0]).total_seconds() / 3600
    members = list(load_kw.columns)
    parts = []
    for m, name in enumerate(members):
        sessions = None if ev_sessions is None else ev_sessions[ev_sessions["member_id"] == name]
        ev = None if sessions is None else ev_slots(sessions, index, [name])
        parts.append(
            plan_homes(
                load_kw.iloc[:, [m]].to_numpy(),
                pv_kw.iloc[:, [m]].to_numpy(),
                _column(buy_price_per_kwh, m),
                _column(sell_price_per_kwh, m),
                batteries.iloc[[m]],
                interval_h,
                ev=ev,
                member_ids=[name],
                **plan_options,
            )
        )
    stack = {k: np.hstack([getattr(p, k) for p in parts]) for k in ("charge_kw", "discharge_kw", "soc_kwh")}
    ev_kw = np.hstack([p.ev_kw for p in parts])
    imp, exp = _exchange(
        load_kw.to_numpy() - pv_kw.to_numpy() + ev_kw + stack["charge_kw"] - stack["discharge_kw"]
    )
    delivered = _delivered(ev_sessions, index, members, ev_kw, interval_h)
    return Dispatch(
        stack["charge_kw"],
        stack["discharge_kw"],
        stack["soc_kwh"],
        imp,
        exp,
        ev_kw,
        delivered,
        [w for p in parts for w in p.warnings],
    )


def _column(values: np.ndarray | float, m: int) -> np.ndarray | float:
    arr = np.asarray(values, dtype=float)
    return arr[:, m] if arr.ndim == 2 else arr


def _delivered(sessions, index, members, ev_kw, interval_h) -> np.ndarray:
    """Energy each session received, assuming one EV per home at a time (else by arrival order)."""
    if sessions is None or sessions.empty:
        return np.zeros(0)
    col = pd.Index(members).get_indexer(sessions["member_id"])
    first = index.searchsorted(pd.DatetimeIndex(pd.to_datetime(sessions["arrival"], utc=True)))
    stop = index.searchsorted(pd.DatetimeIndex(pd.to_datetime(sessions["departure"], utc=True)))
    cum = np.vstack([np.zeros((1, ev_kw.shape[1])), np.cumsum(ev_kw * interval_h, axis=0)])
    return cum[stop, col] - cum[first, col]


def run_mpc(
    load_kw: pd.DataFrame,
    pv_kw: pd.DataFrame,
    buy_price_per_kwh: np.ndarray,
    sell_price_per_kwh: np.ndarray | float,
    batteries: pd.DataFrame,
    *,
    load_forecaster: Forecaster,
    pv_forecaster: Forecaster,
    horizon_intervals: int = 96,
    replan_every: int = 1,
    ev_sessions: pd.DataFrame | None = None,
    import_cap_kw: np.ndarray | None = None,
    community_import_cap_kw: np.ndarray | None = None,
    follow: str = "hybrid",
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    warm_start: bool = False,
    **plan_options,
) -> Dispatch:
    """Run the planner as MPC over the span of ``load_kw``: plan the next horizon, apply, move on.

    Parameters
    ----------
    load_kw, pv_kw : (T, M) measured load and PV (the forecasters see only the past of them) [kW]
    buy_price_per_kwh, sell_price_per_kwh : (T,) or (T, M) prices, known ahead (time-of-use)
        [currency/kWh]
    batteries : (M rows) as for ``plan_homes``; ``soc_kwh`` is the state of charge at the start
    load_forecaster, pv_forecaster : see ``wattmesh.energy.forecasts``
    horizon_intervals : planning horizon (96 = 24 h at 15 min)
    replan_every : intervals applied from each plan before re-planning (1 = every interval)
    ev_sessions : EV sessions (``EV_SESSIONS`` columns); a session becomes known when the EV plugs in
    import_cap_kw : (T, M) demand-response caps, NaN where none, known to the planner in advance [kW]
    community_import_cap_kw : (T,) cap on the community's net import (DR event), NaN where none [kW];
        with it the homes are planned jointly
    follow : how an applied step follows the plan. ``"hybrid"`` (default): as planned, but surplus PV
        that the battery can store is never exported, the battery never discharges into export, while
        the plan discharges the battery holds the planned import, and it discharges to keep the import
        at or below the plan's peak over its horizon; ``"grid"``: the battery holds each home's grid
        exchange at the planned value as far as its limits allow, so it absorbs the forecast error of the
        step; ``"battery"``: the battery runs at its planned power and the grid takes the error.
    progress : ``progress(done, total)`` as the plans are made, counted in (re-planning steps x groups
        of homes)
    workers : processes that share the work (default: ``MPC_WORKERS``, at most the processors this
        process may use); the result does not depend on it
    warm_start : plan the homes in groups that each keep their LPs' optimal bases from one re-planning
        to the next (:class:`wattmesh.energy.lp.WarmStart`; several times faster). The optimum of every
        LP is the same, but where it is not unique the plan reached may differ from a cold start's;
        without it (the default) every LP is solved as from scratch, the independent blocks of homes of
        each re-planning side by side on the workers
    plan_options : passed to ``plan_homes`` (peak_price_per_kw, wear_per_kwh, ...)

    Notes
    -----
    EVs charge at their planned power. Peak windows are the horizon. With ``warm_start``, unless a
    community term couples them, the homes are independent and planned in ``MPC_GROUPS`` fixed groups
    (heavy homes, those with EV sessions or a peak price, spread evenly), each its own MPC with its own
    warm-started LPs, one group per worker process; the groups are the same whatever the number of
    workers, so the result is too.
    """
    if follow not in ("grid", "battery", "hybrid"):
        raise ValueError(f"follow {follow!r} is not one of grid, battery, hybrid")
    index = load_kw.index
    n_t, n_m = load_kw.shape
    bat = validate_batteries(batteries)
    sessions = None
    if ev_sessions is not None and len(ev_sessions):
        sessions = ev_sessions.reset_index(drop=True).copy()
        sessions["arrival"] = pd.to_datetime(sessions["arrival"], utc=True)
        sessions["departure"] = pd.to_datetime(sessions["departure"], utc=True)
    # The forecasts depend on the measurements only, never on the plans: made once, for every home.
    forecasts = []
    for t0 in range(0, n_t, replan_every):
        target = index[t0 : t0 + min(horizon_intervals, n_t - t0)]
        forecasts.append(
            (
                load_forecaster(load_kw.iloc[:t0], target).to_numpy(dtype=float),
                pv_forecaster(pv_kw.iloc[:t0], target).to_numpy(dtype=float),
            )
        )
    job = _MpcJob(
        load_kw=load_kw.to_numpy(dtype=float),
        pv_kw=pv_kw.to_numpy(dtype=float),
        buy=per_home(buy_price_per_kwh, n_t, n_m, "buy_price_per_kwh"),
        sell=per_home(sell_price_per_kwh, n_t, n_m, "sell_price_per_kwh"),
        batteries=bat,
        forecasts=forecasts,
        sessions=sessions,
        index=index,
        members=list(load_kw.columns),
        import_cap_kw=None if import_cap_kw is None else np.asarray(import_cap_kw, dtype=float),
        community_import_cap_kw=community_import_cap_kw,
        follow=follow,
        horizon_intervals=horizon_intervals,
        replan_every=replan_every,
        plan_options=plan_options,
    )
    coupled = plan_options.get("community_peak_price_per_kw", 0.0) > 0 or (
        community_import_cap_kw is not None and bool(np.isfinite(community_import_cap_kw).any())
    )
    peak = np.broadcast_to(np.asarray(plan_options.get("peak_price_per_kw", 0.0), dtype=float), (n_m,))
    heavy = peak > 0
    if sessions is not None:
        heavy = heavy | pd.Index(job.members).isin(sessions["member_id"])
    workers = min(MPC_WORKERS if workers is None else workers, _processors())
    if warm_start and not coupled:
        groups = home_groups(heavy, MPC_GROUPS)
        parts = _map_groups(job, groups, workers, progress)
    else:
        groups = [np.arange(n_m)]
        with parallel_solves(workers):
            parts = _map_groups(job, groups, 1, progress, warm_start)
    charge, discharge, socs, ev_kw = (np.zeros((n_t, n_m)) for _ in range(4))
    for columns, part in zip(groups, parts, strict=True):
        charge[:, columns], discharge[:, columns], socs[:, columns], ev_kw[:, columns] = part[:4]
    # the messages in time order, the groups' in group order within a re-planning step
    messages = [text for _, text in sorted((m for part in parts for m in part[4]), key=lambda m: m[0])]
    load, pv = job.load_kw, job.pv_kw
    interval_h = job.interval_h
    imp, exp = _exchange(load - pv + ev_kw + charge - discharge)
    delivered = _delivered(sessions, index, job.members, ev_kw, interval_h)
    return Dispatch(charge, discharge, socs, imp, exp, ev_kw, delivered, messages)


#: Groups of independent homes that ``run_mpc`` plans separately (the work of two processors).
MPC_GROUPS = 2
#: Worker processes of ``run_mpc`` by default (at most the processors this process may use).
MPC_WORKERS = 2


def home_groups(heavy: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """(M,) homes split into at most ``n_groups`` groups of about equal work: the ``heavy`` ones (those that
    need the LP) dealt out in turn, then the others; each group's columns in increasing order."""
    order = np.concatenate([np.flatnonzero(heavy), np.flatnonzero(~heavy)])
    groups = [np.sort(order[g::n_groups]) for g in range(n_groups)]
    return [g for g in groups if len(g)]


@dataclass
class _MpcJob:
    """Everything a group's MPC needs, as arrays over all the homes (a worker takes its columns)."""

    load_kw: np.ndarray
    pv_kw: np.ndarray
    buy: np.ndarray
    sell: np.ndarray
    batteries: pd.DataFrame
    forecasts: list[tuple[np.ndarray, np.ndarray]]
    sessions: pd.DataFrame | None
    index: pd.DatetimeIndex
    members: list
    import_cap_kw: np.ndarray | None
    community_import_cap_kw: np.ndarray | None
    follow: str
    horizon_intervals: int
    replan_every: int
    plan_options: dict

    @property
    def interval_h(self) -> float:
        return (self.index[1] - self.index[0]).total_seconds() / 3600


_JOB: _MpcJob | None = None
_GROUPS: list[np.ndarray] = []
_DONE = None


def _worker_group(g: int):
    """A worker's group ``g`` of the job its parent set before forking."""

    def tick() -> None:
        with _DONE.get_lock():
            _DONE.value += 1

    return _mpc_group(_JOB, _GROUPS[g], tick, warm=True)


def _map_groups(job: _MpcJob, groups: list[np.ndarray], workers: int, progress, warm: bool = True) -> list:
    """Each group's MPC, in worker processes (forked: they share the job) where there are two or more
    groups and workers; in this process otherwise."""
    global _JOB, _GROUPS, _DONE
    total = len(job.forecasts) * len(groups)
    workers = min(workers, len(groups))
    fork = "fork" in mp.get_all_start_methods()
    if workers < 2 or not fork:
        done = [0]

        def tick() -> None:
            done[0] += 1
            if progress is not None:
                progress(done[0], total)

        return [_mpc_group(job, columns, tick, warm) for columns in groups]
    ctx = mp.get_context("fork")
    _JOB, _GROUPS, _DONE = job, groups, ctx.Value("i", 0)
    try:
        with ctx.Pool(workers) as pool:
            pending = pool.map_async(_worker_group, range(len(groups)))
            while not pending.ready():
                pending.wait(0.2)
                if progress is not None:
                    progress(_DONE.value, total)
            parts = pending.get()
    finally:
        _JOB, _GROUPS, _DONE = None, [], None
    if progress is not None:
        progress(total, total)
    return parts


def _processors() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _mpc_group(job: _MpcJob, columns: np.ndarray, tick: Callable[[], None], warm: bool):
    """The MPC of the homes ``columns``: (charge, discharge, soc, ev) (T, G) [kW, kWh] and the messages as
    (step, text); with ``warm``, its LPs warm-started."""
    index = job.index
    members = [job.members[c] for c in columns]
    n_t, n_m = len(index), len(columns)
    interval_h = job.interval_h
    replan_every, horizon_intervals, follow = job.replan_every, job.horizon_intervals, job.follow
    bat = job.batteries.iloc[columns]
    capacity = bat["capacity_kwh"].to_numpy()
    power = bat["power_kw"].to_numpy()
    efficiency = bat["efficiency"].to_numpy()
    soc_min = capacity * bat["soc_min_fraction"].to_numpy()
    soc = bat["soc_kwh"].to_numpy().copy()
    buy, sell = job.buy[:, columns], job.sell[:, columns]
    load, pv = job.load_kw[:, columns], job.pv_kw[:, columns]
    charge = np.zeros((n_t, n_m))
    discharge = np.zeros((n_t, n_m))
    socs = np.zeros((n_t, n_m))
    ev_kw = np.zeros((n_t, n_m))
    sessions = None
    if job.sessions is not None:
        sessions = job.sessions[job.sessions["member_id"].isin(members)].reset_index(drop=True)
        if not len(sessions):
            sessions = None
        else:
            remaining = sessions["energy_kwh"].to_numpy(dtype=float).copy()
            arrival = pd.DatetimeIndex(sessions["arrival"])
            departure = pd.DatetimeIndex(sessions["departure"])
            asset_ids = sessions["asset_id"].astype(str).to_numpy()
    warm = WarmStart() if warm else None
    messages: list[tuple[int, str]] = []
    step = pd.Timedelta(hours=interval_h)
    for n, t0 in enumerate(range(0, n_t, replan_every)):
        horizon = min(horizon_intervals, n_t - t0)
        target = index[t0 : t0 + horizon]
        load_hat, pv_hat = (f[:, columns] for f in job.forecasts[n])
        batteries_now = bat.assign(soc_kwh=soc)
        ev = None
        if sessions is not None:
            now = index[t0]
            known = np.asarray((arrival <= now + step * 0.999) & (departure > now)) & (remaining > 1e-9)
            current = sessions[known].assign(energy_kwh=remaining[known])
            ev = ev_slots(current, target, members)
        cap = None if job.import_cap_kw is None else job.import_cap_kw[t0 : t0 + horizon, columns]
        community_cap = (
            None if job.community_import_cap_kw is None else job.community_import_cap_kw[t0 : t0 + horizon]
        )
        plan = plan_homes(
            load_hat,
            pv_hat,
            buy[t0 : t0 + horizon],
            sell[t0 : t0 + horizon],
            batteries_now,
            interval_h,
            ev=ev,
            import_cap_kw=cap,
            community_import_cap_kw=community_cap,
            member_ids=members,
            warn=False,
            warm=warm,
            **job.plan_options,
        )
        messages.extend((t0, f"{index[t0].isoformat()}: {w}") for w in plan.warnings)
        for k in range(min(replan_every, horizon)):
            t = t0 + k
            battery_kw = plan.charge_kw[k] - plan.discharge_kw[k]
            actual_net = load[t] - pv[t] + plan.ev_kw[k]
            if follow == "grid":
                battery_kw = plan.import_kw[k] - plan.export_kw[k] - actual_net
            elif follow == "hybrid":
                # Never export what the battery could store, never discharge into export, and when the
                # plan discharges, hold the planned import.
                grid_kw = plan.import_kw[k] - plan.export_kw[k] - actual_net
                discharging = np.minimum(
                    np.maximum(grid_kw, -np.maximum(actual_net, 0.0)), np.maximum(-actual_net, 0.0)
                )
                battery_kw = np.where(battery_kw < 0, discharging, np.maximum(battery_kw, -actual_net))
                # and keep the import at or below the plan's peak over its horizon where the battery can
                peak_kw = plan.import_kw.max(axis=0)
                battery_kw = np.minimum(battery_kw, peak_kw - actual_net)
                battery_kw = np.maximum(battery_kw, -np.maximum(actual_net, 0.0))
            c, d, soc = apply_battery_kw(
                np.maximum(battery_kw, 0.0),
                np.maximum(-battery_kw, 0.0),
                soc,
                capacity,
                power,
                efficiency,
                interval_h,
                soc_min,
            )
            charge[t], discharge[t], socs[t] = c, d, soc
            ev_kw[t] = plan.ev_kw[k]
            if sessions is not None and len(ev.member):
                slot_kw = plan.ev_slot_kw[k]
                for s_idx in np.flatnonzero(known):
                    slot = np.flatnonzero(ev.names == asset_ids[s_idx])
                    if len(slot) and arrival[s_idx] <= index[t] + step * 0.999:
                        remaining[s_idx] = max(remaining[s_idx] - slot_kw[slot[0]] * interval_h, 0.0)
        tick()
    return charge, discharge, socs, ev_kw, messages
