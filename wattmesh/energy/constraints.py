"""The planner LP's constraint families, one builder each: every builder adds its rows to a ``HomeLp`` and
sets the bounds and costs of the columns it owns.

``plan_homes`` calls them in the order of this module (meter balance, battery, EV energy, peak import,
demand-response caps, community coupling); the rows keep that order. Column blocks are laid out by
``wattmesh.energy.lp.home_lp``. Per home m and interval t (dt the interval length):

    meter:      import - export - charge + discharge - sum of the home's EV power = load - pv
    battery:    soc_t - soc_{t-1} - eta dt charge_t + dt / eta discharge_t = 0 (soc_0 at t = 0)
    EV:         need_t - need_{t-1} + dt ev_t = arrivals_t,   0 <= need_t <= may_remain_t
    peak:       import_t - peak_w(t) <= 0
    DR cap:     import_t - relax_t <= cap_t
    community:  sum_m (import - export) - grid_import + grid_export = 0,   grid_import - grid_peak_w <= 0,
                grid_import - grid_relax <= community cap
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wattmesh.energy.common import RELAX_PENALTY_PER_KWH
from wattmesh.energy.ev_sessions import EvSlots
from wattmesh.energy.lp import HomeLp


def add_meter_balance(
    lp: HomeLp,
    net_kw: np.ndarray,
    buy_price_per_kwh: np.ndarray,
    sell_price_per_kwh: np.ndarray,
    ev_member: np.ndarray,
) -> None:
    """Power balance at every home's meter, and the bill on its import and export.

    Parameters
    ----------
    net_kw : (T, M) inflexible load minus generation [kW]
    buy_price_per_kwh, sell_price_per_kwh : (T, M) effective import and export prices [currency/kWh]
    ev_member : (K,) the home column of each EV
    """
    n_t, n_m, n_k, dt = lp.n_t, lp.n_m, lp.n_k, lp.interval_h
    tm = n_t * n_m
    lp.cost[lp.imp] = buy_price_per_kwh.ravel() * dt
    lp.cost[lp.exp] = -sell_price_per_kwh.ravel() * dt
    cell = np.arange(tm)
    rows = lp.rows
    r = rows.add(tm)
    rows.entries(r, lp.imp.start + cell, 1.0)
    rows.entries(r, lp.exp.start + cell, -1.0)
    rows.entries(r, lp.charge.start + cell, -1.0)
    rows.entries(r, lp.discharge.start + cell, 1.0)
    if n_k:
        kt = np.arange(n_t * n_k)
        rows.entries(
            r.start + np.repeat(np.arange(n_t), n_k) * n_m + np.tile(ev_member, n_t), lp.ev.start + kt, -1.0
        )
    rows.bounds(r, net_kw.ravel(), net_kw.ravel())


def add_battery(
    lp: HomeLp, batteries: pd.DataFrame, wear_per_kwh: float, terminal_value_per_kwh: np.ndarray
) -> None:
    """Each battery's state of charge from its power, its power and state-of-charge limits, its wear cost
    and the value of what it holds at the end.

    Parameters
    ----------
    batteries : validated (``validate_batteries``) M rows: capacity_kwh, power_kw, efficiency (round trip),
        soc_kwh (now), soc_min_fraction, soc_max_fraction
    wear_per_kwh : cost per kWh through the battery (charge + discharge) [currency/kWh]
    terminal_value_per_kwh : (M,) value of energy left at the end of the horizon [currency/kWh]
    """
    n_t, n_m, dt = lp.n_t, lp.n_m, lp.interval_h
    tm = n_t * n_m
    capacity = batteries["capacity_kwh"].to_numpy()
    power = batteries["power_kw"].to_numpy()
    eta = np.sqrt(batteries["efficiency"].to_numpy())
    soc0 = batteries["soc_kwh"].to_numpy()
    lp.upper[lp.charge] = np.tile(power, n_t)
    lp.upper[lp.discharge] = np.tile(power, n_t)
    lp.lower[lp.soc] = np.tile(capacity * batteries["soc_min_fraction"].to_numpy(), n_t)
    lp.upper[lp.soc] = np.tile(capacity * batteries["soc_max_fraction"].to_numpy(), n_t)
    lp.cost[lp.charge] = wear_per_kwh * dt
    lp.cost[lp.discharge] = wear_per_kwh * dt
    lp.cost[lp.soc.start + (n_t - 1) * n_m : lp.soc.stop] = -terminal_value_per_kwh
    cell = np.arange(tm)
    rows = lp.rows
    r = rows.add(tm)
    rows.entries(r, lp.soc.start + cell, 1.0)
    later = cell[n_m:]
    rows.entries(r.start + later, lp.soc.start + later - n_m, -1.0)
    rows.entries(r, lp.charge.start + cell, -np.tile(eta, n_t) * dt)
    rows.entries(r, lp.discharge.start + cell, dt / np.tile(np.where(eta > 0, eta, 1.0), n_t))
    rhs = np.zeros(tm)
    rhs[:n_m] = soc0
    rows.bounds(r, rhs, rhs)


def add_ev_energy(lp: HomeLp, ev: EvSlots) -> None:
    """Each EV's energy still needed, which its charging lowers and may never exceed what the charger can
    still deliver before departure (so every EV leaves with its energy); its charging power limit."""
    n_t, n_k, dt = lp.n_t, lp.n_k, lp.interval_h
    lp.upper[lp.ev] = ev.max_kw.ravel()
    lp.upper[lp.need] = ev.may_remain_kwh.ravel()
    if not n_k:
        return
    rows = lp.rows
    r = rows.add(n_t * n_k)
    kt = np.arange(n_t * n_k)
    rows.entries(r, lp.need.start + kt, 1.0)
    rows.entries(r.start + kt[n_k:], lp.need.start + kt[n_k:] - n_k, -1.0)
    rows.entries(r, lp.ev.start + kt, dt)
    need_kwh = ev.arrival_need_kwh.ravel()
    rows.bounds(r, need_kwh, need_kwh)


def add_peak_import(lp: HomeLp, peak_price_per_kw: np.ndarray, window_intervals: int) -> None:
    """Each priced home's highest import in every peak window, and its price.

    Parameters
    ----------
    peak_price_per_kw : (M,) price on a home's peak per window [currency/kW]; 0: no peak term
    window_intervals : length of a peak window [intervals]
    """
    n_t, n_m = lp.n_t, lp.n_m
    n_w = -(-n_t // window_intervals)
    has_peak = peak_price_per_kw > 0
    lp.upper[lp.peak] = np.where(np.tile(has_peak, n_w), np.inf, 0.0)
    lp.cost[lp.peak] = np.tile(peak_price_per_kw, n_w)
    t_of = np.repeat(np.arange(n_t), n_m)
    m_of = np.tile(np.arange(n_m), n_t)
    peaked = np.flatnonzero(has_peak[m_of])
    if not len(peaked):
        return
    rows = lp.rows
    r = rows.add(len(peaked))
    rows.entries(r, lp.imp.start + peaked, 1.0)
    rows.entries(r, lp.peak.start + (t_of[peaked] // window_intervals) * n_m + m_of[peaked], -1.0)
    rows.bounds(r, np.full(len(peaked), -np.inf), np.zeros(len(peaked)))


def add_import_caps(lp: HomeLp, import_cap_kw: np.ndarray | None) -> np.ndarray:
    """Demand-response caps on each home's import, each relaxable at ``RELAX_PENALTY_PER_KWH``.

    Parameters
    ----------
    import_cap_kw : (T, M) cap, NaN or inf where none [kW]; None: no caps

    Returns
    -------
    (C,) the flat (interval * M + home) cells under a cap, in the order of the ``relax`` columns
    """
    if import_cap_kw is None:
        return np.zeros(0, dtype=np.int64)
    capped_cells = np.flatnonzero(np.isfinite(import_cap_kw).ravel())
    n_cap = len(capped_cells)
    lp.cost[lp.relax] = RELAX_PENALTY_PER_KWH * lp.interval_h
    if n_cap:
        rows = lp.rows
        r = rows.add(n_cap)
        rows.entries(r, lp.imp.start + capped_cells, 1.0)
        rows.entries(r, lp.relax.start + np.arange(n_cap), -1.0)
        rows.bounds(r, np.full(n_cap, -np.inf), import_cap_kw.ravel()[capped_cells])
    return capped_cells


def add_community(
    lp: HomeLp,
    community_peak_price_per_kw: float,
    community_import_cap_kw: np.ndarray | None,
    window_intervals: int,
) -> None:
    """The community's net import at the transformer (the sum over the homes), its priced peak per window
    and its demand-response cap, relaxable at ``RELAX_PENALTY_PER_KWH``; nothing when the LP is not coupled.

    Parameters
    ----------
    community_peak_price_per_kw : price on the community's highest net import per window [currency/kW]
    community_import_cap_kw : (T,) cap on the community's net import, NaN where none [kW]; or None
    window_intervals : length of a peak window [intervals]
    """
    n_t, n_m = lp.n_t, lp.n_m
    lp.cost[lp.grid_peak] = community_peak_price_per_kw
    lp.cost[lp.grid_relax] = RELAX_PENALTY_PER_KWH * lp.interval_h
    if lp.grid_import.stop == lp.grid_import.start:
        return
    rows = lp.rows
    t_of = np.repeat(np.arange(n_t), n_m)
    cell = np.arange(n_t * n_m)
    r = rows.add(n_t)
    rows.entries(r.start + t_of, lp.imp.start + cell, 1.0)
    rows.entries(r.start + t_of, lp.exp.start + cell, -1.0)
    rows.entries(r, lp.grid_import.start + np.arange(n_t), -1.0)
    rows.entries(r, lp.grid_export.start + np.arange(n_t), 1.0)
    rows.bounds(r, np.zeros(n_t), np.zeros(n_t))
    if community_peak_price_per_kw > 0:
        r = rows.add(n_t)
        rows.entries(r, lp.grid_import.start + np.arange(n_t), 1.0)
        rows.entries(r, lp.grid_peak.start + np.arange(n_t) // window_intervals, -1.0)
        rows.bounds(r, np.full(n_t, -np.inf), np.zeros(n_t))
    hours = np.zeros(0, dtype=np.int64)
    if community_import_cap_kw is not None:
        hours = np.flatnonzero(np.isfinite(community_import_cap_kw))
    if len(hours):
        r = rows.add(len(hours))
        rows.entries(r, lp.grid_import.start + hours, 1.0)
        rows.entries(r, lp.grid_relax.start + np.arange(len(hours)), -1.0)
        rows.bounds(r, np.full(len(hours), -np.inf), community_import_cap_kw[hours])
