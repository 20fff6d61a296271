"""A structure-exploiting battery planner: exact dynamic programming on convex piecewise-linear cost-to-go
functions, vectorised over homes, to re-plan a thousand homes within an interval.

For one battery, the LP of ``plan_homes`` without EVs and without a peak price has, per interval, a convex
piecewise-linear cost in the change of stored energy (bill at buy/sell prices, wear, the penalty above an
import limit, with the efficiency's kink at zero). Its cost-to-go ``V_t(s)`` is then convex piecewise
linear in the state of charge, and the backward step ``V_{t-1}(s) = min_x g_t(x) + V_t(s - x)`` is an
infimal convolution, whose segments are the segments of both functions sorted by slope [1]_. Every home's
function is a row of (slope, length) arrays, so one ``np.argsort`` per interval does all homes. The
optimum is the LP's, not an approximation (tested against ``plan_homes``).

References
----------
.. [1] Rockafellar, R. T., Convex Analysis, Princeton, 1970, section 5 (infimal convolution); for
   piecewise-linear functions, the epigraph of the infimal convolution is the Minkowski sum of the
   epigraphs, whose edges are the edges of both, ordered by slope.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.energy.battery import validate_batteries
from wattmesh.energy.common import RELAX_PENALTY_PER_KWH, per_home

_STEEP = 1e6
#: Relative difference up to which two neighbouring pieces count as one slope: 0, only equal slopes are
#: joined, so that the ties between the cost-to-go's pieces and an interval's fall as without joining
#: (the same plan to rounding; a tolerance would pick other optimal plans where slopes differ by
#: rounding).
_SAME_SLOPE = 0.0
#: Whether neighbouring pieces of the same slope are joined; off, the cost-to-go keeps every piece (the
#: method as it was before joining, which ``benchmarks/energy_planning.py`` times against it).
JOIN_EQUAL_SLOPES = True


@dataclass
class FastPlan:
    """Battery plan of M homes over T intervals, arrays (T, M) [kW; soc in kWh at each interval's end];
    ``objective`` (M,): bill + wear + penalty above the limit - terminal value, as ``plan_homes`` counts."""

    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    soc_kwh: np.ndarray
    import_kw: np.ndarray
    export_kw: np.ndarray
    objective: np.ndarray


def plan_batteries_fast(
    load_kw: np.ndarray,
    pv_kw: np.ndarray,
    buy_price_per_kwh: np.ndarray,
    sell_price_per_kwh: np.ndarray | float,
    batteries: pd.DataFrame,
    interval_h: float,
    *,
    wear_per_kwh: float = 0.002,
    terminal_value_per_kwh: float | np.ndarray = 0.0,
    import_cap_kw: np.ndarray | None = None,
) -> FastPlan:
    """Plan every home's battery with the same optimum as ``plan_homes`` (no EVs, no peak price).

    Parameters
    ----------
    load_kw, pv_kw, buy_price_per_kwh, sell_price_per_kwh, batteries, interval_h, wear_per_kwh,
    terminal_value_per_kwh, import_cap_kw : as for ``plan_homes``; an import cap (e.g. a home's peak
        level, or a demand-response cap) costs the same relaxation penalty per kWh above it

    Raises
    ------
    ValueError
        where a sell price is negative or above the buy price (the interval cost would not be convex).
    """
    load_kw = np.atleast_2d(np.asarray(load_kw, dtype=float))
    n_t, n_m = load_kw.shape
    net = load_kw - np.asarray(pv_kw, dtype=float)
    buy = per_home(buy_price_per_kwh, n_t, n_m, "buy_price_per_kwh")
    sell = per_home(sell_price_per_kwh, n_t, n_m, "sell_price_per_kwh")
    if (sell < 0).any() or (sell > buy + 1e-12).any():
        raise ValueError(
            "sell_price_per_kwh: expected 0 <= sell <= buy in every interval for the fast planner"
        )
    bat = validate_batteries(batteries)
    cap = np.full((n_t, n_m), np.inf) if import_cap_kw is None else np.asarray(import_cap_kw, dtype=float)
    cap = np.where(np.isfinite(cap), cap, np.inf)
    terminal = np.broadcast_to(np.asarray(terminal_value_per_kwh, dtype=float), (n_m,))
    capacity = bat["capacity_kwh"].to_numpy()
    power = bat["power_kw"].to_numpy()
    eta = np.sqrt(bat["efficiency"].to_numpy())
    smin = capacity * bat["soc_min_fraction"].to_numpy()
    smax = capacity * bat["soc_max_fraction"].to_numpy()
    soc0 = np.clip(bat["soc_kwh"].to_numpy(), smin, smax)
    dt = interval_h
    x_lo = -power * eta * dt  # x = -(change of stored energy): most charging
    x_hi = power * dt / eta  # most discharging

    g_slopes, g_lengths = _stage_segments(net, buy, sell, cap, eta, x_lo, x_hi, dt, wear_per_kwh)
    # V_T: minus the terminal value, one piece over [smin, smax]
    slope = -terminal[:, None] * np.ones((n_m, 1))
    length = (smax - smin)[:, None]
    merged_store: list[tuple[np.ndarray, np.ndarray]] = []
    rows = np.arange(n_m)[:, None]
    left = smin + x_lo
    for t in range(n_t - 1, -1, -1):
        g_slope, g_len = g_slopes[t], g_lengths[t]
        # Merge two slope-sorted lists: each piece's place is its own rank plus the other list's pieces
        # with a smaller slope (ties: V's pieces first).
        n_v, n_g = slope.shape[1], g_slope.shape[1]
        g_before_v = g_slope[:, None, :] < slope[:, :, None]  # (M, n_v, n_g)
        place_v = np.arange(n_v)[None, :] + g_before_v.sum(axis=2)
        place_g = np.arange(n_g)[None, :] + (~g_before_v).sum(axis=1)
        all_slope = np.empty((n_m, n_v + n_g))
        all_len = np.empty((n_m, n_v + n_g))
        from_g = np.zeros((n_m, n_v + n_g), dtype=bool)
        all_slope[rows, place_v] = slope
        all_slope[rows, place_g] = g_slope
        all_len[rows, place_v] = length
        all_len[rows, place_g] = g_len
        from_g[rows, place_g] = True
        # W on [smin + x_lo, smax + x_hi] (only its slopes matter for the plan); keep [smin, smax]
        end = left[:, None] + np.cumsum(all_len, axis=1)
        begin = end - all_len
        merged_store.append((end - left[:, None], from_g))
        kept = np.clip(np.minimum(end, smax[:, None]) - np.maximum(begin, smin[:, None]), 0, None)
        slope, length = _compacted(all_slope, kept, n_m)
    merged_store.reverse()

    # Forward: the optimal x at s is x_lo plus the length of g's pieces met before s in W's sorted pieces.
    charge = np.zeros((n_t, n_m))
    discharge = np.zeros((n_t, n_m))
    soc_path = np.zeros((n_t, n_m))
    soc = soc0.copy()
    for t in range(n_t):
        end, from_g = merged_store[t]
        pos = soc - left
        begin = np.concatenate([np.zeros((n_m, 1)), end[:, :-1]], axis=1)
        covered = np.clip(np.minimum(end, pos[:, None]) - begin, 0, None)
        x = x_lo + (covered * from_g).sum(axis=1)
        x = np.clip(x, x_lo, x_hi)
        x = np.clip(x, soc - smax, soc - smin)
        battery_kw = np.where(x <= 0, -x / (eta * dt), -x * eta / dt)
        charge[t] = np.maximum(battery_kw, 0)
        discharge[t] = np.maximum(-battery_kw, 0)
        soc = soc - x
        soc_path[t] = soc
    grid = net + charge - discharge
    imp = np.maximum(grid, 0)
    exp = np.maximum(-grid, 0)
    objective = (
        dt * (buy * imp - sell * exp).sum(axis=0)
        + dt * wear_per_kwh * (charge + discharge).sum(axis=0)
        + dt * RELAX_PENALTY_PER_KWH * np.maximum(imp - cap, 0).sum(axis=0)
        - terminal * soc_path[-1]
    )
    return FastPlan(charge, discharge, soc_path, imp, exp, objective)


def _stage_segments(
    net: np.ndarray,
    buy: np.ndarray,
    sell: np.ndarray,
    cap: np.ndarray,
    eta: np.ndarray,
    x_lo: np.ndarray,
    x_hi: np.ndarray,
    dt: float,
    wear_per_kwh: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every interval's cost g_t as the (slope, length) (T, M, 4) of its linear pieces on [x_lo, x_hi], x being minus the change of stored energy [kWh]; all intervals at once
    (g_t does not depend on the cost-to-go)."""
    eta_x = eta[None, :, None]
    # kinks in battery power: 0 (charge/discharge), -net (import/export), cap - net (the limit)
    kinks_kw = np.stack([np.zeros_like(net), -net, cap - net], axis=2)
    kinks_kw = np.where(np.isfinite(kinks_kw), kinks_kw, 0.0)
    kinks_x = np.where(kinks_kw >= 0, -kinks_kw * eta_x * dt, -kinks_kw * dt / eta_x)
    lo, hi = np.broadcast_to(x_lo[None, :, None], net.shape + (1,)), x_hi[None, :, None]
    points = np.sort(np.concatenate([lo, np.clip(kinks_x, lo, hi), np.broadcast_to(hi, lo.shape)], axis=2))
    battery_kw = np.where(points <= 0, -points / (eta_x * dt), -points * eta_x / dt)
    grid = net[:, :, None] + battery_kw
    values = dt * (
        buy[:, :, None] * np.maximum(grid, 0)
        - sell[:, :, None] * np.maximum(-grid, 0)
        + wear_per_kwh * np.abs(battery_kw)
        + RELAX_PENALTY_PER_KWH * np.maximum(grid - cap[:, :, None], 0)
    )
    length = np.diff(points, axis=2)
    # zero-length pieces get a slope that keeps the list sorted (see the merge)
    slope = np.where(length > 1e-12, np.diff(values, axis=2) / np.where(length > 1e-12, length, 1.0), -_STEEP)
    return np.maximum.accumulate(slope, axis=2), length


def _compacted(slope: np.ndarray, length: np.ndarray, n_m: int) -> tuple[np.ndarray, np.ndarray]:
    """Slope-sorted pieces (M, K) without those of zero length and with neighbours of the same slope
    joined (the function is the same; without joining, a day's cost-to-go keeps hundreds of pieces where
    a time-of-use tariff gives a handful of slopes). Rows padded with steep pieces of zero length."""
    r, c = np.nonzero(length > 1e-12)
    s, k = slope[r, c], length[r, c]
    new = np.ones(len(r), dtype=bool)
    if JOIN_EQUAL_SLOPES:
        new[1:] = (r[1:] != r[:-1]) | (s[1:] - s[:-1] > _SAME_SLOPE * (1.0 + np.abs(s[:-1])))
    group = np.cumsum(new) - 1
    group_row = r[new]
    per_row = np.bincount(group_row, minlength=n_m)
    place = np.arange(len(group_row)) - (np.cumsum(per_row) - per_row)[group_row]
    width = max(int(per_row.max(initial=0)), 1)
    out_slope = np.full((n_m, width), _STEEP)
    out_length = np.zeros((n_m, width))
    out_slope[group_row, place] = s[new]
    out_length[group_row, place] = np.bincount(group, weights=k, minlength=len(group_row))
    return out_slope, out_length
