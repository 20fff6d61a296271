"""Planning time of the home planner: per home per re-plan and for 1,000 homes per interval (24 h, 15 min).

Also checks that the fast (dynamic-programming) planner returns the LP's optimum for the same 1,000 homes,
and compares EV charging against charge-on-arrival. Run:
``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/energy_planning.py [--homes 1000]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from wattmesh.energy.planner import ev_slots, plan_homes
from wattmesh.energy.rules import ev_charge_on_arrival_kw

N_T = 96  # 24 h of 15-min intervals
DT = 0.25


def community(n_homes: int, seed: int = 0):
    """Synthetic homes with load, PV, batteries and a two-level time-of-use price (seeded)."""
    rng = np.random.default_rng(seed)
    hour = np.arange(N_T) * DT
    evening = np.exp(-0.5 * ((hour - 19) / 2) ** 2)
    load = rng.uniform(0.2, 0.6, n_homes) + evening[:, None] * rng.uniform(0.5, 2.5, n_homes)
    load = load * rng.lognormal(0, 0.2, (N_T, n_homes))
    pv = np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None)[:, None] * rng.uniform(0, 6, n_homes)
    batteries = pd.DataFrame(
        {
            "capacity_kwh": rng.choice([5.0, 10.0, 13.5], n_homes),
            "power_kw": rng.choice([2.5, 5.0], n_homes),
            "efficiency": 0.9,
        }
    )
    batteries["soc_kwh"] = batteries["capacity_kwh"] * rng.uniform(0.1, 0.9, n_homes)
    price = np.where((hour >= 16) & (hour < 21), 0.40, 0.22)
    return load, pv, price, batteries


def timed(fn, repeat: int = 1):
    """The result and the best wall-clock and CPU seconds of ``repeat`` runs (CPU time is what one
    unshared core would take; wall time includes waiting for a busy machine)."""
    best_wall = best_cpu = np.inf
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return out, (best_wall, best_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--homes", type=int, default=1000)
    args = parser.parse_args()
    load, pv, price, batteries = community(args.homes)
    rows = []

    one = (load[:, :1], pv[:, :1], price, 0.05, batteries.iloc[:1], DT)
    _, t = timed(lambda: plan_homes(*one, peak_price_per_kw=0.1, method="lp"), 5)
    rows.append(("LP (HiGHS), peak price, 1 home", 1, t))
    _, t = timed(lambda: plan_homes(*one, method="lp"), 5)
    rows.append(("LP (HiGHS), no peak price, 1 home", 1, t))
    _, t = timed(lambda: plan_homes(*one, method="fast"), 5)
    rows.append(("fast DP, 1 home", 1, t))

    everyone = (load, pv, price, 0.05, batteries, DT)
    lp_peak, t = timed(lambda: plan_homes(*everyone, peak_price_per_kw=0.1, method="lp"))
    rows.append(("LP (HiGHS), peak price, blocks of 8 homes", args.homes, t))
    lp, t = timed(lambda: plan_homes(*everyone, method="lp"))
    rows.append(("LP (HiGHS), no peak price, blocks of 8 homes", args.homes, t))
    fast, t = timed(lambda: plan_homes(*everyone, method="fast"), 3)
    rows.append(("fast DP, all homes at once", args.homes, t))
    cap = np.full(load.shape, np.nan)
    cap[64:84] = 2.0  # a 2 kW cap per home over the evening: a demand-response event
    _, t = timed(lambda: plan_homes(*everyone, method="fast", import_cap_kw=cap, warn=False), 3)
    rows.append(("fast DP with a DR cap, all homes", args.homes, t))

    table = pd.DataFrame(
        [(name, homes, wall, cpu) for name, homes, (wall, cpu) in rows],
        columns=["planner", "homes", "wall s", "cpu s"],
    )
    table["cpu ms per home"] = 1000 * table["cpu s"] / table["homes"]
    print(f"Re-planning a 24 h horizon at 15 min (96 intervals); {args.homes} synthetic homes, one thread")
    print(table.round(4).to_string(index=False))
    gap = abs(fast.objective - lp.objective) / abs(lp.objective)
    print(f"fast DP objective {fast.objective:.6f} vs LP {lp.objective:.6f}: relative difference {gap:.1e}")
    print(
        f"peak term: sum of home peaks {lp_peak.import_kw.max(axis=0).sum():.1f} kW with a 0.1/kW peak price, "
        f"{lp.import_kw.max(axis=0).sum():.1f} kW without"
    )

    # EVs: 200 homes, one evening session each, planned over 24 h from noon; against charge-on-arrival.
    n_ev = min(200, args.homes)
    rng = np.random.default_rng(1)
    index = pd.date_range("2030-06-01 12:00", periods=N_T, freq="15min", tz="UTC")
    members = pd.Index([f"h{i}" for i in range(n_ev)])
    arrival = index[0] + pd.to_timedelta(rng.uniform(4, 9, n_ev), unit="h").round("15min")
    stay = pd.to_timedelta(rng.uniform(9, 14, n_ev), unit="h").round("15min")  # all leave within 24 h
    sessions = pd.DataFrame(
        {
            "session_id": [f"s{i}" for i in range(n_ev)],
            "asset_id": [f"ev{i}" for i in range(n_ev)],
            "member_id": members,
            "arrival": arrival,
            "departure": arrival + stay,
            "energy_kwh": rng.uniform(5, 40, n_ev),
            "charger_kw": rng.choice([3.7, 7.4, 11.0], n_ev),
        }
    )
    hour = index.hour + index.minute / 60
    ev_price = np.where((hour >= 16) & (hour < 21), 0.40, np.where(hour < 6, 0.12, 0.22))
    no_battery = pd.DataFrame({"capacity_kwh": np.zeros(n_ev), "power_kw": np.zeros(n_ev)})
    plan, t = timed(
        lambda: plan_homes(
            load[:, :n_ev],
            pv[:, :n_ev],
            ev_price,
            0.05,
            no_battery,
            DT,
            ev=ev_slots(sessions, index, members),
            member_ids=members,
            warn=False,
        )
    )
    on_arrival = ev_charge_on_arrival_kw(sessions, index, members)
    delivered = plan.ev_kw.sum(axis=0) * DT
    stay_h = (sessions["departure"] - sessions["arrival"]).dt.total_seconds().to_numpy() / 3600
    wanted = np.minimum(sessions["energy_kwh"].to_numpy(), sessions["charger_kw"].to_numpy() * stay_h)
    planned_cost = ((plan.ev_kw.sum(axis=1)) * ev_price).sum() * DT
    arrival_cost = (on_arrival.sum(axis=1) * ev_price).sum() * DT
    print(
        f"EVs: {n_ev} sessions planned in {t[0]:.2f} s; every EV gets its energy (or all its charger can give): "
        f"{bool(np.allclose(delivered, wanted, rtol=1e-6))} (worst shortfall {np.max(wanted - delivered):.2e} kWh); "
        f"charging cost {planned_cost:.2f} vs {arrival_cost:.2f} on arrival ({planned_cost / arrival_cost - 1:+.1%})"
    )


if __name__ == "__main__":
    main()
