"""Resilience: the community as an island while the upstream grid is down, and what it keeps powered.

Sharing rule (documented choice): during the outage every home's own generation serves its own load
first. What is left of all generation, every home battery and the community battery form one pool. The
pool serves the critical loads (``critical_fraction`` of each home's load) first and the rest of the load
after, each tier shared either pro rata to the unmet demand or by a priority list (lower rank first,
pro rata within a rank). Stored energy is kept for critical loads by default
(``storage_for_critical_only``): batteries serve only critical gaps, generation serves the rest.
Batteries discharge pro rata to what each can deliver in the interval; surplus
generation charges them pro rata to their free room; what is still left is spilled (an island cannot
export). Without sharing, each home has only its own generation and battery, and the community battery
stands idle. Network limits inside the island are not modelled.

A home "kept power" in an interval when its critical load was served in full.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SHARING_RULES = ("pro_rata", "priority", "none")
TOLERANCE_KWH = 1e-9


@dataclass(frozen=True)
class IslandResult:
    """Outcome of an outage, per interval and home.

    Attributes
    ----------
    served_kw : (T, M) load served [kW]
    critical_served_kw : (T, M) critical load served [kW]
    battery_discharge_kw, battery_charge_kw : (T, M) home batteries, at the meter [kW]
    community_discharge_kw, community_charge_kw : (T,) the community battery [kW]
    spilled_kw : (T,) generation nobody could use or store [kW]
    soc_kwh : (T + 1, M) home batteries' state of charge, before and after each interval [kWh]
    community_soc_kwh : (T + 1,) community battery's state of charge [kWh]
    kept_power : (T, M) whether the home's critical load was served in full
    """

    served_kw: np.ndarray
    critical_served_kw: np.ndarray
    battery_discharge_kw: np.ndarray
    battery_charge_kw: np.ndarray
    community_discharge_kw: np.ndarray
    community_charge_kw: np.ndarray
    spilled_kw: np.ndarray
    soc_kwh: np.ndarray
    community_soc_kwh: np.ndarray
    kept_power: np.ndarray


def allocate_pro_rata(supply: float, demand: np.ndarray) -> np.ndarray:
    """Share ``supply`` among ``demand`` in proportion to it, no one above their demand."""
    total = demand.sum()
    if total <= supply or total <= 0:
        return demand.copy()
    # supply can be a rounding error below zero (a difference of sums); nothing is then shared
    return demand * (max(supply, 0.0) / total)


def allocate_by_priority(supply: float, demand: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Serve ``demand`` rank by rank (lowest rank first), pro rata within a rank."""
    out = np.zeros_like(demand)
    left = supply
    for level in np.unique(rank):
        members = rank == level
        share = allocate_pro_rata(left, demand[members])
        out[members] = share
        left -= share.sum()
        if left <= TOLERANCE_KWH:
            break
    return out


def island_dispatch(
    load_kw: np.ndarray,
    generation_kw: np.ndarray,
    interval_h: float,
    battery_capacity_kwh: np.ndarray | None = None,
    battery_power_kw: np.ndarray | None = None,
    battery_efficiency: np.ndarray | float = 0.9,
    battery_soc_kwh: np.ndarray | None = None,
    community_capacity_kwh: float = 0.0,
    community_power_kw: float = 0.0,
    community_efficiency: float = 0.9,
    community_soc_kwh: float = 0.0,
    critical_fraction: np.ndarray | float = 0.3,
    sharing: str = "pro_rata",
    priority_rank: np.ndarray | None = None,
    storage_for_critical_only: bool = True,
) -> IslandResult:
    """Run the island through an outage, interval by interval (vectorised over homes).

    Parameters
    ----------
    load_kw, generation_kw : (T, M) each home's load and its PV/wind output during the outage [kW]
    interval_h : interval length [h]
    battery_capacity_kwh, battery_power_kw : (M,) home batteries' usable capacity [kWh] and power [kW];
        None for no home batteries
    battery_efficiency : (M,) or scalar round-trip efficiency [-], split evenly between charge and discharge
    battery_soc_kwh : (M,) state of charge when the outage starts [kWh]; None for full
    community_capacity_kwh, community_power_kw, community_efficiency, community_soc_kwh : the community
        battery [kWh], [kW], [-], [kWh]; used only when sharing
    critical_fraction : (M,) or scalar share of each home's load that is critical [-]
    sharing : "pro_rata", "priority" (needs ``priority_rank``) or "none" (each home on its own)
    priority_rank : (M,) rank of each home for "priority", lower is served first
    storage_for_critical_only : batteries serve critical loads only, so they last longer into the outage

    Returns
    -------
    IslandResult

    Notes
    -----
    One-way efficiency is sqrt(round trip): a discharge of d kWh at the meter takes d / eta from storage,
    a charge of c kWh stores c * eta (as in :func:`wattmesh.energy.rules.battery_step`).
    """
    load = np.atleast_2d(np.asarray(load_kw, dtype=float))
    gen = np.atleast_2d(np.asarray(generation_kw, dtype=float))
    n_t, n_m = load.shape
    if gen.shape != load.shape:
        raise ValueError(f"generation_kw has shape {gen.shape}, expected {load.shape} like load_kw")
    if (load < 0).any() or (gen < 0).any():
        raise ValueError("load_kw and generation_kw must not be negative (loads and generation are separate)")
    if sharing not in SHARING_RULES:
        raise ValueError(f"sharing {sharing!r} is not one of {', '.join(SHARING_RULES)}")
    if sharing == "priority":
        if priority_rank is None or np.shape(priority_rank) != (n_m,):
            raise ValueError(f"priority_rank must have one rank per home ({n_m},) when sharing is 'priority'")
        rank = np.asarray(priority_rank)
    fraction = np.broadcast_to(np.asarray(critical_fraction, dtype=float), (n_m,))
    if ((fraction < 0) | (fraction > 1)).any():
        raise ValueError(f"critical_fraction {fraction[(fraction < 0) | (fraction > 1)][0]} is outside 0-1")
    capacity = np.zeros(n_m) if battery_capacity_kwh is None else np.asarray(battery_capacity_kwh, float)
    power = np.zeros(n_m) if battery_power_kw is None else np.asarray(battery_power_kw, float)
    eta = np.sqrt(np.broadcast_to(np.asarray(battery_efficiency, dtype=float), (n_m,)))
    soc = capacity.copy() if battery_soc_kwh is None else np.asarray(battery_soc_kwh, float).copy()
    if ((soc < 0) | (soc > capacity + TOLERANCE_KWH)).any():
        raise ValueError("battery_soc_kwh must lie between 0 and battery_capacity_kwh")
    shared = sharing != "none"
    c_cap = community_capacity_kwh if shared else 0.0
    c_pow = community_power_kw if shared else 0.0
    c_eta = np.sqrt(community_efficiency)
    c_soc = min(community_soc_kwh, c_cap)

    h = interval_h
    out = {name: np.zeros((n_t, n_m)) for name in ("served", "critical", "discharge", "charge")}
    c_dis = np.zeros(n_t)
    c_chg = np.zeros(n_t)
    spilled = np.zeros(n_t)
    soc_path = np.zeros((n_t + 1, n_m))
    c_soc_path = np.zeros(n_t + 1)
    soc_path[0], c_soc_path[0] = soc, c_soc
    for t in range(n_t):
        load_e = load[t] * h
        gen_e = gen[t] * h
        own = np.minimum(load_e, gen_e)
        surplus = gen_e - own
        critical_e = fraction * load_e
        critical_gap = np.maximum(critical_e - own, 0.0)
        rest_gap = load_e - own - critical_gap
        can_discharge = np.minimum(power * h, soc * eta)
        room = np.minimum(power * h, (capacity - soc) / eta)
        c_can_discharge = min(c_pow * h, c_soc * c_eta)
        c_room = min(c_pow * h, (c_cap - c_soc) / c_eta) if c_cap > 0 else 0.0
        if shared:
            pool = surplus.sum() + can_discharge.sum() + c_can_discharge
            if sharing == "pro_rata":
                to_critical = allocate_pro_rata(pool, critical_gap)
            else:
                to_critical = allocate_by_priority(pool, critical_gap, rank)
            if storage_for_critical_only:
                rest_supply = max(surplus.sum() - to_critical.sum(), 0.0)
            else:
                rest_supply = pool - to_critical.sum()
            if sharing == "pro_rata":
                to_rest = allocate_pro_rata(rest_supply, rest_gap)
            else:
                to_rest = allocate_by_priority(rest_supply, rest_gap, rank)
            used = to_critical.sum() + to_rest.sum()
            from_storage = max(used - surplus.sum(), 0.0)
            storable = np.r_[can_discharge, c_can_discharge]
            discharge_all = allocate_pro_rata(from_storage, storable) if from_storage > 0 else 0 * storable
            left = max(surplus.sum() - used, 0.0)
            rooms = np.r_[room, c_room]
            charge_all = allocate_pro_rata(left, rooms)
            spilled[t] = (left - charge_all.sum()) / h
            discharge, c_d = discharge_all[:n_m], discharge_all[n_m]
            charge, c_c = charge_all[:n_m], charge_all[n_m]
        else:
            # Alone: the home's battery covers its own gaps, critical first; its own surplus charges it.
            to_critical = np.minimum(critical_gap, can_discharge)
            to_rest = 0.0 if storage_for_critical_only else np.minimum(rest_gap, can_discharge - to_critical)
            discharge = to_critical + to_rest
            charge = np.minimum(surplus, room)
            spilled[t] = (surplus - charge).sum() / h
            c_d = c_c = 0.0
        soc = np.clip(soc + charge * eta - discharge / eta, 0.0, capacity)
        c_soc = min(max(c_soc + c_c * c_eta - c_d / c_eta, 0.0), c_cap)
        critical_served = np.minimum(critical_e, own) + to_critical
        out["served"][t] = (own + to_critical + to_rest) / h
        out["critical"][t] = critical_served / h
        out["discharge"][t] = discharge / h
        out["charge"][t] = charge / h
        c_dis[t], c_chg[t] = c_d / h, c_c / h
        soc_path[t + 1], c_soc_path[t + 1] = soc, c_soc
    kept = out["critical"] * h >= fraction * load * h - 1e-6
    return IslandResult(
        served_kw=out["served"],
        critical_served_kw=out["critical"],
        battery_discharge_kw=out["discharge"],
        battery_charge_kw=out["charge"],
        community_discharge_kw=c_dis,
        community_charge_kw=c_chg,
        spilled_kw=spilled,
        soc_kwh=soc_path,
        community_soc_kwh=c_soc_path,
        kept_power=kept,
    )


def resilience_kpis(
    result: IslandResult, load_kw: np.ndarray, interval_h: float, critical_fraction: np.ndarray | float = 0.3
) -> pd.DataFrame:
    """Per home: unserved energy, unserved critical energy and hours with power during the outage.

    Returns
    -------
    DataFrame (M rows): ``unserved_kwh``, ``critical_unserved_kwh``, ``served_share`` [-] and
    ``hours_with_power`` [h] (intervals whose critical load was served in full, times the interval length)
    """
    load = np.atleast_2d(np.asarray(load_kw, dtype=float))
    critical = load * np.asarray(critical_fraction, dtype=float)
    load_kwh = load.sum(axis=0) * interval_h
    served_kwh = result.served_kw.sum(axis=0) * interval_h
    return pd.DataFrame(
        {
            "unserved_kwh": np.maximum(load_kwh - served_kwh, 0.0),
            "critical_unserved_kwh": np.maximum(
                (critical - result.critical_served_kw).sum(axis=0) * interval_h, 0.0
            ),
            "served_share": np.divide(served_kwh, load_kwh, out=np.ones_like(load_kwh), where=load_kwh > 0),
            "hours_with_power": result.kept_power.sum(axis=0) * interval_h,
        }
    )


def outage_comparison(
    load_kw: np.ndarray,
    generation_kw: np.ndarray,
    interval_h: float,
    member_ids: pd.Index | None = None,
    **island_options,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same outage with the chosen sharing rule and without sharing, side by side.

    Parameters
    ----------
    load_kw, generation_kw, interval_h : as for :func:`island_dispatch`, sliced to the outage window
    member_ids : labels of the homes (the rows of the per-home table)
    island_options : the other arguments of :func:`island_dispatch` (``sharing`` defaults to pro rata)

    Returns
    -------
    per_home : DataFrame (M rows), the KPIs of :func:`resilience_kpis` with suffixes ``_shared`` and
        ``_alone``
    summary : DataFrame with rows "shared" and "alone": total ``unserved_kwh``,
        ``critical_unserved_kwh``, ``mean_hours_with_power``, ``min_hours_with_power``,
        ``homes_always_powered``, ``outage_hours``
    """
    fraction = island_options.get("critical_fraction", 0.3)
    shared_opts = {"sharing": "pro_rata", **island_options}
    alone_opts = {**island_options, "sharing": "none"}
    alone_opts.pop("priority_rank", None)
    tables = {}
    for name, options in (("shared", shared_opts), ("alone", alone_opts)):
        result = island_dispatch(load_kw, generation_kw, interval_h, **options)
        tables[name] = resilience_kpis(result, load_kw, interval_h, fraction)
    n_t = np.atleast_2d(load_kw).shape[0]
    per_home = tables["shared"].add_suffix("_shared").join(tables["alone"].add_suffix("_alone"))
    if member_ids is not None:
        per_home.index = member_ids
    summary = pd.DataFrame(
        {
            name: {
                "unserved_kwh": table["unserved_kwh"].sum(),
                "critical_unserved_kwh": table["critical_unserved_kwh"].sum(),
                "mean_hours_with_power": table["hours_with_power"].mean(),
                "min_hours_with_power": table["hours_with_power"].min(),
                "homes_always_powered": int((table["hours_with_power"] >= n_t * interval_h - 1e-9).sum()),
                "outage_hours": n_t * interval_h,
            }
            for name, table in tables.items()
        }
    ).T
    return per_home, summary


def outage_mask(index: pd.DatetimeIndex, start: str | pd.Timestamp, hours: float) -> np.ndarray:
    """(T,) True for the intervals of ``index`` that start within the outage [start, start + hours)."""
    start = pd.Timestamp(start)
    if start.tzinfo is None and index.tz is not None:
        raise ValueError(f"outage start {start} has no time zone (expected UTC, e.g. 2016-06-01T12:00Z)")
    return np.asarray((index >= start) & (index < start + pd.Timedelta(hours=hours)))
