"""The planner's constraint builders against a second, dense implementation of the documented LP, the
community terms, and the split's import rule (the fast planner and the LP share ``common`` only)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

import wattmesh.energy
from wattmesh.energy.common import RELAX_PENALTY_PER_KWH
from wattmesh.energy.planner import ev_slots, plan_homes

ENERGY = Path(wattmesh.energy.__file__).parent


def reference_objective(
    load, pv, buy, sell, bat, dt, ev, peak_price, window, wear, terminal, cap, ccap, cpeak
):
    """The LP of ``plan_homes``' docstring written out variable by variable as dense rows (scipy's HiGHS)."""
    n_t, n_m = load.shape
    n_k = len(ev.member)
    n_w = -(-n_t // window)
    names: list[tuple] = []

    def var(*key):
        names.append(key)
        return len(names) - 1

    ch = {(t, m): var("ch", t, m) for t in range(n_t) for m in range(n_m)}
    dis = {(t, m): var("dis", t, m) for t in range(n_t) for m in range(n_m)}
    soc = {(t, m): var("soc", t, m) for t in range(n_t) for m in range(n_m)}
    imp = {(t, m): var("imp", t, m) for t in range(n_t) for m in range(n_m)}
    exp = {(t, m): var("exp", t, m) for t in range(n_t) for m in range(n_m)}
    evp = {(t, k): var("ev", t, k) for t in range(n_t) for k in range(n_k)}
    need = {(t, k): var("need", t, k) for t in range(n_t) for k in range(n_k)}
    peak = {(w, m): var("peak", w, m) for w in range(n_w) for m in range(n_m)}
    relax = {(t, m): var("relax", t, m) for t in range(n_t) for m in range(n_m) if np.isfinite(cap[t, m])}
    gimp = {t: var("gimp", t) for t in range(n_t)}
    gexp = {t: var("gexp", t) for t in range(n_t)}
    gpeak = {w: var("gpeak", w) for w in range(n_w)}
    grelax = {t: var("grelax", t) for t in range(n_t) if np.isfinite(ccap[t])}
    n = len(names)
    c = np.zeros(n)
    bounds = [(0.0, None)] * n
    eq, eq_rhs, le, le_rhs = [], [], [], []

    def row(entries):
        r = np.zeros(n)
        for j, v in entries:
            r[j] += v
        return r

    cap_kw = bat["power_kw"].to_numpy()
    eta = np.sqrt(bat["efficiency"].to_numpy())
    size = bat["capacity_kwh"].to_numpy()
    for t in range(n_t):
        for m in range(n_m):
            c[imp[t, m]] = buy[t, m] * dt
            c[exp[t, m]] = -sell[t, m] * dt
            c[ch[t, m]] = c[dis[t, m]] = wear * dt
            bounds[ch[t, m]] = bounds[dis[t, m]] = (0.0, cap_kw[m])
            bounds[soc[t, m]] = (0.0, size[m])
            evs = [(evp[t, k], -1.0) for k in range(n_k) if ev.member[k] == m]
            eq.append(row([(imp[t, m], 1), (exp[t, m], -1), (ch[t, m], -1), (dis[t, m], 1), *evs]))
            eq_rhs.append(load[t, m] - pv[t, m])
            previous = [(soc[t - 1, m], -1.0)] if t else []
            eq.append(row([(soc[t, m], 1), *previous, (ch[t, m], -eta[m] * dt), (dis[t, m], dt / eta[m])]))
            eq_rhs.append(0.0 if t else bat["soc_kwh"].iloc[m])
            if peak_price[m] > 0:
                le.append(row([(imp[t, m], 1), (peak[t // window, m], -1)]))
                le_rhs.append(0.0)
            if (t, m) in relax:
                c[relax[t, m]] = RELAX_PENALTY_PER_KWH * dt
                le.append(row([(imp[t, m], 1), (relax[t, m], -1)]))
                le_rhs.append(cap[t, m])
        for k in range(n_k):
            bounds[evp[t, k]] = (0.0, ev.max_kw[t, k])
            bounds[need[t, k]] = (0.0, ev.may_remain_kwh[t, k])
            previous = [(need[t - 1, k], -1.0)] if t else []
            eq.append(row([(need[t, k], 1), *previous, (evp[t, k], dt)]))
            eq_rhs.append(ev.arrival_need_kwh[t, k])
        homes = [(imp[t, m], 1.0) for m in range(n_m)] + [(exp[t, m], -1.0) for m in range(n_m)]
        eq.append(row([*homes, (gimp[t], -1), (gexp[t], 1)]))
        eq_rhs.append(0.0)
        le.append(row([(gimp[t], 1), (gpeak[t // window], -1)]))
        le_rhs.append(0.0)
        if t in grelax:
            c[grelax[t]] = RELAX_PENALTY_PER_KWH * dt
            le.append(row([(gimp[t], 1), (grelax[t], -1)]))
            le_rhs.append(ccap[t])
    for w in range(n_w):
        c[gpeak[w]] = cpeak
        for m in range(n_m):
            c[peak[w, m]] = peak_price[m]
            if peak_price[m] <= 0:
                bounds[peak[w, m]] = (0.0, 0.0)
    for m in range(n_m):
        c[soc[n_t - 1, m]] -= terminal[m]
    result = linprog(c, A_ub=np.array(le), b_ub=le_rhs, A_eq=np.array(eq), b_eq=eq_rhs, bounds=bounds)
    assert result.status == 0, result.message
    return result.fun


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_constraint_family_matches_a_dense_second_implementation(seed):
    rng = np.random.default_rng(seed)
    n_t, n_m, dt, window = 10, 3, 0.5, 4
    index = pd.date_range("2030-01-01", periods=n_t, freq="30min", tz="UTC")
    load = rng.uniform(0.2, 3.0, (n_t, n_m))
    pv = rng.uniform(0.0, 2.5, (n_t, n_m))
    buy = rng.uniform(0.15, 0.45, (n_t, n_m))
    sell = rng.uniform(0.0, 0.1, (n_t, n_m))
    bat = pd.DataFrame(
        {
            "capacity_kwh": rng.uniform(2, 8, n_m),
            "power_kw": rng.uniform(1, 3, n_m),
            "efficiency": rng.uniform(0.8, 1.0, n_m),
            "soc_kwh": 1.0,
        }
    )
    names = ["a", "b", "c"]
    sessions = pd.DataFrame(
        {
            "session_id": ["s1", "s2"],
            "asset_id": ["ev1", "ev2"],
            "member_id": ["a", "c"],
            "arrival": [index[1], index[4]],
            "departure": [index[6], index[9] + pd.Timedelta("2h")],
            "energy_kwh": [6.0, 9.0],
            "charger_kw": [3.7, 7.0],
        }
    )
    ev = ev_slots(sessions, index, names)
    peak_price = np.array([0.0, 0.2, 0.05])
    terminal = rng.uniform(0.0, 0.2, n_m)
    cap = np.full((n_t, n_m), np.nan)
    cap[6:9, :] = rng.uniform(0.0, 1.0, (3, n_m))
    ccap = np.full(n_t, np.nan)
    ccap[2:5] = 2.0
    options = dict(
        ev=ev,
        peak_price_per_kw=peak_price,
        peak_window_intervals=window,
        wear_per_kwh=0.01,
        terminal_value_per_kwh=terminal,
        import_cap_kw=cap,
        community_import_cap_kw=ccap,
        community_peak_price_per_kw=0.3,
        member_ids=names,
        warn=False,
    )
    plan = plan_homes(load, pv, buy, sell, bat, dt, **options)
    expected = reference_objective(
        load, pv, buy, sell, bat, dt, ev, peak_price, window, 0.01, terminal, cap, ccap, 0.3
    )
    assert plan.objective == pytest.approx(expected, rel=1e-7, abs=1e-7)
    net = plan.import_kw - plan.export_kw
    np.testing.assert_allclose(plan.community_import_kw, net.sum(axis=1), atol=1e-7)


def test_a_community_peak_price_lowers_the_community_peak_below_the_homes_planning_alone():
    rng = np.random.default_rng(11)
    n_t, n_m = 48, 5
    load = rng.uniform(0.2, 3.0, (n_t, n_m))
    pv = np.clip(np.sin(np.linspace(-2, 10, n_t))[:, None] * 4, 0, None) * rng.uniform(0.5, 1, n_m)
    price = np.where(np.arange(n_t) % 24 >= 17, 0.4, 0.2)
    batteries = pd.DataFrame({"capacity_kwh": [6.0] * n_m, "power_kw": [3.0] * n_m, "soc_kwh": [3.0] * n_m})
    alone = plan_homes(load, pv, price, 0.05, batteries, 1.0)
    joint = plan_homes(load, pv, price, 0.05, batteries, 1.0, community_peak_price_per_kw=1.0)
    alone_peak = (alone.import_kw - alone.export_kw).sum(axis=1).max()
    assert alone.community_import_kw is None
    assert joint.community_import_kw.max() < alone_peak - 1e-3
    # optimal: no worse than the homes' own plans priced with the community peak
    assert joint.objective <= alone.objective + 1.0 * max(alone_peak, 0.0) + 1e-6
    assert joint.objective > alone.objective - 1e-6  # and the peak price cannot make the homes' bills cheaper


def imported_energy_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("wattmesh.energy"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("wattmesh.energy"))
    return found


def test_the_fast_planner_and_the_lp_share_only_the_common_module():
    fast = imported_energy_modules(ENERGY / "fast.py")
    assert "wattmesh.energy.planner" not in fast
    assert not fast & {"wattmesh.energy.lp", "wattmesh.energy.constraints"}
    for name in ("lp.py", "constraints.py", "ev_sessions.py", "common.py", "rules.py"):
        assert not imported_energy_modules(ENERGY / name) & {
            "wattmesh.energy.planner",
            "wattmesh.energy.fast",
        }
