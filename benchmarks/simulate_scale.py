"""How fast the simulator runs a year at 15 min for 100 and 1,000 households.

The default feeder's members are replicated with seeded variation (``replicate_community``) to N
households, then all three cases (no sharing, P2P, P2P + batteries) are simulated for the whole SimBench
year (35,136 intervals). Prints wall seconds per stage and household-intervals per second.
Goal (issue 2): 1,000 households x 1 year in <= 60 s on a 2-core machine.
Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/simulate_scale.py [N ...]
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from wattmesh.community.build import build_community  # noqa: E402
from wattmesh.community.scenario import load_scenario  # noqa: E402
from wattmesh.community.variety import replicate_community  # noqa: E402
from wattmesh.simulate.engine import simulate  # noqa: E402
from wattmesh.simulate.outputs import kpi_table  # noqa: E402

WHOLE_YEAR = {"time.start": "2015-12-31T23:00:00Z", "time.end": "2016-12-31T23:00:00Z"}
GOAL_SECONDS_1000 = 60.0


def main(sizes: list[int]) -> None:
    base = build_community(load_scenario(overrides=WHOLE_YEAR))
    print(f"base community: {len(base.members)} members, {len(base.index)} intervals")
    print(
        f"{'N':>6} {'build s':>8} {'simulate s':>11} {'KPIs s':>7} {'total s':>8} {'hh-intervals/s':>15} {'trades':>10}"
    )
    for n in sizes:
        t0 = time.perf_counter()
        community = replicate_community(base, n, np.random.default_rng(n))
        t1 = time.perf_counter()
        result = simulate(community, seed=1, detail=False)
        t2 = time.perf_counter()
        kpis = kpi_table(result)
        t3 = time.perf_counter()
        rate = n * len(community.index) / (t2 - t0)
        print(
            f"{n:>6} {t1 - t0:>8.2f} {t2 - t1:>11.2f} {t3 - t2:>7.2f} {t3 - t0:>8.2f} {rate:>15,.0f} "
            f"{len(result.full.trades):>10,}"
        )
        if n == 1000:
            verdict = "met" if t3 - t0 <= GOAL_SECONDS_1000 else "NOT met"
            print(f"goal 1,000 households x 1 year <= {GOAL_SECONDS_1000:.0f} s: {verdict} ({t3 - t0:.1f} s)")
        print(kpis.loc[["self-sufficiency [%]", "traded locally [kWh]"]].round(1).to_string())


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000])
