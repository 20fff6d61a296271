"""Benchmark: AC power flow for a whole SimBench year (35,136 intervals at 15 min) on LV feeders.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/grid.py`` (``--survey`` first counts the buses of
every SimBench LV feeder to confirm which is the largest; that loads all 36 and takes minutes).

Goal (issue 8): <= 5 s per feeder-year. The injections are the SimBench feeder's own load and PV
profiles summed per bus. Timed: ``power_flow_series`` end to end (lightsim2grid set-up, the time-series
solve, branch results, loadings and the result tables), after the feeder model is built; wall and CPU
seconds are printed (on a busy machine the wall time includes waiting for a core).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
warnings.filterwarnings("ignore")

DEFAULT_FEEDER = "1-LV-rural3--2-sw"
# The largest SimBench LV topology by buses is rural3 (129 buses, 127 lines; --survey re-measures), so
# the default feeder is also the largest; scenario 2 carries the most loads and PV of its variants.
# The next largest topologies are benchmarked too, for scale.
LARGEST_FEEDER = "1-LV-rural3--2-sw"
OTHERS = ("1-LV-semiurb5--2-sw", "1-LV-urban6--2-sw")


def survey() -> str:
    import simbench

    from wattmesh.community.simbench_source import simbench_lv_codes

    sizes = {}
    for code in simbench_lv_codes():
        net = simbench.get_simbench_net(code)
        sizes[code] = (len(net.bus), len(net.line), len(net.load) + len(net.sgen))
        print(
            f"{code:24s} buses {sizes[code][0]:4d} lines {sizes[code][1]:4d} injections {sizes[code][2]:4d}"
        )
    return max(sizes, key=lambda c: (sizes[c][0], sizes[c][2]))


def bench(code: str, label: str) -> dict:
    from wattmesh.community.simbench_source import load_feeder
    from wattmesh.grid import (
        feeder_model,
        hours_over_limit,
        load_network,
        power_flow_series,
        simbench_bus_injection_kw,
    )

    feeder = load_feeder(code)
    injection = simbench_bus_injection_kw(feeder)
    start = time.perf_counter()
    model = feeder_model(load_network(feeder.net_path))
    model_s = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    result = power_flow_series(model, injection)
    solve_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    hours = hours_over_limit(result)
    print(
        f"{label:8s} {code:22s} buses {model.n_buses:4d}  intervals {len(injection):6d}  "
        f"power flow {solve_s:6.2f} s wall, {cpu_s:5.2f} s CPU  (model build {model_s:.2f} s)  converged {result.converged.mean():.1%}  "
        f"solver {result.solver}  vm {result.vm_pu.min().min():.3f}-{result.vm_pu.max().max():.3f} pu  "
        f"trafo max {result.trafo_loading_percent.max().max():.0f} %  hours over limit {hours['any_violation']:.1f}"
    )
    return {"code": code, "seconds": solve_s, "cpu_seconds": cpu_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survey", action="store_true", help="count buses of every SimBench LV feeder first")
    parser.add_argument("--all", action="store_true", help="also the next largest topologies")
    args = parser.parse_args()
    largest = survey() if args.survey else LARGEST_FEEDER
    # Wall time on a shared machine includes waiting for a core; CPU time is what an idle one would take.
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    bench(DEFAULT_FEEDER, "default")
    bench(largest, "largest")
    if args.all:
        for code in OTHERS:
            bench(code, "other")


if __name__ == "__main__":
    main()
