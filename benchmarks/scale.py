"""Speed-up of a city run on processes vs serial, overhead, driver memory, and a scale model.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scale.py --feeders 8 --days 7 --workers 2

N feeders (the three cached SimBench codes in turn, each with its own seed) x a week at 15-minute
intervals, run serially and on a process pool; then a scale model from the measured task costs and result
sizes for 1,000 feeders x 100 homes x 1 year on 64 CPUs.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import resource
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

CODES = ("1-LV-rural1--2-sw", "1-LV-rural3--2-sw", "1-LV-semiurb4--2-sw")


def city(n_feeders: int, days: int) -> dict:
    import pandas as pd

    end = (pd.Timestamp("2016-06-01T00:00:00Z") + pd.Timedelta(days=days)).isoformat()
    return {
        "name": f"benchmark city {n_feeders}",
        "seed": 1,
        "time": {"start": "2016-06-01T00:00:00Z", "end": end, "interval_minutes": 15},
        "feeder": {"source": "simbench"},
        "tariff": {"retail_per_kwh": 0.30, "feed_in_per_kwh": 0.08, "local_fee_per_kwh": 0.02},
        "community_battery": {"capacity_kwh": 100.0, "power_kw": 50.0},
        "grid": {"power_flow": False},
        "ledger": {"backend": "none"},
        "agents": {"tournament": False},
        "energy": {"dispatch": "rule"},
        "fleet": [{"kind": "battery", "count": 5, "power_kw": 5.0, "capacity_kwh": 10.0}],
        "feeders": [{"code": CODES[i % len(CODES)]} for i in range(n_feeders)],
    }


def main() -> None:
    import numpy as np

    from wattmesh.scale.city import run_city
    from wattmesh.scale.executors import ProcessExecutor, SerialExecutor

    parser = argparse.ArgumentParser()
    parser.add_argument("--feeders", type=int, default=8)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    raw = city(args.feeders, args.days)
    run_city(city(len(CODES), 1))  # warm the feeder cache, so both runs read it

    began = time.perf_counter()
    serial = run_city(raw, executor=SerialExecutor())
    serial_s = time.perf_counter() - began
    executor = ProcessExecutor(args.workers)
    began = time.perf_counter()
    pooled = run_city(raw, executor=executor)
    pooled_s = time.perf_counter() - began
    executor.close()
    a, b = serial.arrays(), pooled.arrays()
    equal = all(np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a)

    task_s = np.array([o.seconds for o in serial.feeders])
    pooled_task_s = np.array([o.seconds for o in pooled.feeders])
    members = np.array([len(o.member_ids) for o in serial.feeders])
    intervals = len(serial.feeders[0].index)
    result_bytes = np.array([len(pickle.dumps(o)) for o in serial.feeders])
    task_bytes = len(pickle.dumps(raw)) / args.feeders
    speedup = serial_s / pooled_s
    # overhead: the pool's wall x workers not spent inside tasks (spawn, import, pickling, idle tail)
    overhead = 1 - pooled_task_s.sum() / (pooled_s * args.workers)
    driver_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.feeders} feeders x {args.days} days x {intervals} intervals, {members.sum()} members in all"
    )
    print(f"serial {serial_s:.1f} s; {args.workers} processes {pooled_s:.1f} s; speed-up {speedup:.2f}x")
    print(f"bitwise equal: {equal}")
    print(f"task seconds serial: mean {task_s.mean():.2f} (min {task_s.min():.2f}, max {task_s.max():.2f})")
    print(f"task seconds in the pool: mean {pooled_task_s.mean():.2f}; pool overhead {100 * overhead:.1f} %")
    print(f"task size {task_bytes:.0f} B; result size mean {result_bytes.mean() / 1e6:.2f} MB")
    print(f"driver peak RSS {driver_mb:.0f} MB")

    # Scale model: cost per member-interval and bytes per interval, measured above.
    per_member_interval_s = task_s.sum() / (members.sum() * intervals)
    per_interval_bytes = result_bytes.sum() / (args.feeders * intervals)
    n_f, homes, year, cpus = 1000, 100, 35040, 64
    task_year_s = per_member_interval_s * homes * year
    rounds = math.ceil(n_f / cpus)
    efficiency = n_f / (rounds * cpus)
    driver_gb = per_interval_bytes * year * n_f / 1e9
    print(
        f"model: 1,000 feeders x 100 homes x 1 year on 64 CPUs: a task ~{task_year_s:.0f} s "
        f"({per_member_interval_s * 1e6:.2f} us per member-interval), {rounds} rounds, "
        f"makespan ~{rounds * task_year_s / 60:.0f} min, efficiency <= {100 * efficiency:.1f} % before overhead; "
        f"results ~{per_interval_bytes * year / 1e6:.0f} MB per feeder-year, {driver_gb:.1f} GB at the driver "
        "if it keeps every per-interval array"
    )


if __name__ == "__main__":
    main()
