"""Trading agents: order generation for 1,000 homes per interval, and month-long tournaments on the default scenario.

Prints the time to price one interval's orders for 1,000 homes (all five strategies mixed; goal <= 10 ms),
then, on the default scenario (a month, batteries and EVs dispatched by the energy planner as the simulator
does, orders priced from that plan), the planning time and each tournament's time (goal <= 2 min), the
strategies' profit per kWh offered (strategies rearranged over the homes), the allocative efficiency and
Smith's alpha. ``--rule`` prices the orders from the self-consumption rule instead; ``--repeats N`` pools N
splits of the homes.
Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/agents.py [--days N]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from wattmesh.agents.strategies import PriceHistoryLearner, ZipState
from wattmesh.agents.tournament import (
    community_positions,
    convergence_summary,
    order_prices,
    parse_mix,
    rotated_tournament,
)


def order_generation_ms(n_homes: int = 1000, repeats: int = 200) -> float:
    """Median milliseconds to price one interval's bids and asks for ``n_homes`` homes (all strategies)."""
    rng = np.random.default_rng(0)
    retail, feed_in = np.array([0.32]), np.array([0.08])
    bid_limit = rng.uniform(0.2, 0.4, (1, n_homes))
    ask_limit = rng.uniform(0.08, 0.2, (1, n_homes))
    names = np.array(["truthful", "ramp", "zic", "zip", "learning"], dtype=object)
    strategy = names[np.arange(n_homes) % 5]
    zip_state = ZipState(n_homes, np.random.default_rng(1))
    learner = PriceHistoryLearner(96)
    learner.observe(np.arange(96), np.full(96, 0.2))
    slot = np.array([40])
    times = []
    for i in range(repeats):
        started = time.perf_counter()
        order_prices(
            strategy, bid_limit, ask_limit, retail, feed_in, i % 5, 5, rng, zip_state, learner, slot, 0.02
        )
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=None, help="days of the default scenario (default: all)")
    parser.add_argument("--rule", action="store_true", help="positions from the self-consumption rule")
    parser.add_argument("--repeats", type=int, default=1, help="splits of the homes, pooled")
    args = parser.parse_args()
    print(f"order generation, 1,000 homes, one interval: {order_generation_ms():.3f} ms (goal <= 10 ms)")

    import pandas as pd

    from wattmesh.community.build import build_community
    from wattmesh.community.scenario import load_scenario

    scenario = load_scenario()
    if args.days:
        end = (scenario["time.start"] + pd.Timedelta(days=args.days)).isoformat()
        scenario = load_scenario(overrides={"time.end": end})
    started = time.perf_counter()
    community = build_community(scenario)
    print(
        f"default scenario: {len(community.index)} intervals x {len(community.members)} members, "
        f"built in {time.perf_counter() - started:.1f} s"
    )
    plan = None
    if not args.rule:
        from wattmesh.energy.members import plan_scenario_dispatch

        started = time.perf_counter()
        plan = plan_scenario_dispatch(community, scenario)
        print(
            f"energy plan of the homes (MPC, {scenario['energy.forecast']}): {time.perf_counter() - started:.1f} s"
        )
    positions = community_positions(community, plan)
    runs = [
        (mechanism, mix, None)
        for mechanism in ("pay_as_clear", "pay_as_bid", "order_book")
        for mix in (
            "truthful=1",
            "learning=0.5,truthful=0.5",
            "learning=0.33,ramp=0.33,zip=0.34",
            "zic=1",
            "truthful=0.2,ramp=0.2,zic=0.2,zip=0.2,learning=0.2",
        )
    ]
    runs.insert(3, ("pay_as_clear", "learning=0.33,ramp=0.33,zip=0.34", {"sealed": "replay"}))
    for mechanism, mix, options in runs:
        started = time.perf_counter()
        table, results = rotated_tournament(
            positions, parse_mix(mix), mechanism, repeats=args.repeats, learner_options=options
        )
        seconds = (time.perf_counter() - started) / len(results)
        summary = convergence_summary(results)
        per_kwh = ", ".join(f"{r.strategy} {r.profit_per_kwh:.4f}" for r in table.itertuples())
        label = mix + (" (learner: replay)" if options else "")
        print(
            f"{mechanism:12s} {label:50s} {seconds:5.2f} s/run  efficiency {summary['efficiency']:.2%}  "
            f"alpha first/last day {summary['alpha_first_day']:.3f}/{summary['alpha_last_day']:.3f}  "
            f"profit/kWh offered: {per_kwh}"
        )


if __name__ == "__main__":
    main()
