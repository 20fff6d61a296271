"""Speed-up of a city run on processes (and on a 2-node Ray cluster) vs serial, overhead, driver memory, and a
scale model.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scale.py --feeders 200 --days 7 --workers 2 --repeat 5
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scale.py --feeders 200 --days 7 --ray --repeat 5
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scale.py --driver-memory 1000 --days 7

N feeders (the three cached SimBench codes in turn, each with its own seed) x D days at 15-minute intervals,
run serially and on a fresh process pool (or a fresh Ray driver on a 2-node loopback cluster, one CPU per
node), interleaved ``--repeat`` times: the speed-up is the median of the paired ratios. Each parallel run
starts cold (new worker processes), as ``wattmesh simulate --workers 2`` does. With ``--ray`` each pair
starts a new cluster after the serial run and stops it after the Ray run, so that the serial reference never
shares the cores with an idle cluster; a first driver (not timed) waits for the nodes, and the Ray run's
CPU is the driver's and the whole cluster's (its workers, raylets, GCS and agents). Overhead is the share of the
workers' wall time not spent inside tasks (start-up, transfer, idle tail). ``--driver-memory N`` runs only
the pool for N feeders, in a fresh process that builds no community itself, and prints its peak RSS. Then a
scale model from the measured task costs and result sizes for 1,000 feeders x 100 homes x 1 year on 64
CPUs.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import resource
import statistics
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


def cpu_s() -> float:
    """This process's user + system CPU and that of its waited-for children [s]."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def tree_cpu_s(roots: list[int]) -> float:
    """User + system CPU of the processes under ``roots`` (Ray's nodes), with their reaped children's [s]."""
    hz = os.sysconf("SC_CLK_TCK")
    parent, ticks = {}, {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(pid)] = int(fields[1])
        ticks[int(pid)] = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    seen = set(roots)
    for pid in parent:
        up, chain = pid, []
        while up > 1 and up not in seen:
            chain.append(up)
            up = parent.get(up, 0)
        if up in seen:
            seen.update(chain)
    return sum(ticks.get(pid, 0) for pid in seen) / hz


def timed(run):
    """(result, wall s, CPU s of this process and its reaped children)."""
    cpu, began = cpu_s(), time.perf_counter()
    result = run()
    return result, time.perf_counter() - began, cpu_s() - cpu


def driver_memory(n_feeders: int, days: int, workers: int) -> None:
    """The pool alone for ``n_feeders``: this process's peak RSS, before and after (it builds nothing)."""
    from wattmesh.scale.city import run_city
    from wattmesh.scale.executors import ProcessExecutor

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    executor = ProcessExecutor(workers)
    try:
        result, wall, _ = timed(lambda: run_city(city(n_feeders, days), executor=executor))
    finally:
        executor.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    held = sum(len(pickle.dumps(o)) for o in result.feeders) / 1e6
    print(
        f"driver of {n_feeders} feeders x {days} days on {workers} processes: peak RSS {peak:.0f} MB "
        f"(after imports {before:.0f} MB); results as sent {held:.1f} MB; {wall:.1f} s wall"
    )


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser()
    parser.add_argument("--feeders", type=int, default=8)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="interleaved serial/parallel pairs")
    parser.add_argument("--ray", action="store_true", help="a 2-node loopback Ray cluster, not processes")
    parser.add_argument(
        "--driver-memory", type=int, default=0, metavar="N", help="only the pool's driver RSS"
    )
    args = parser.parse_args()
    if args.driver_memory:
        driver_memory(args.driver_memory, args.days, args.workers)
        return

    from wattmesh.scale.city import run_city
    from wattmesh.scale.executors import ProcessExecutor, RayExecutor, SerialExecutor

    raw = city(args.feeders, args.days)
    run_city(city(len(CODES), 1))  # warm the feeder cache on disk, so every run reads it
    cluster = None
    if args.ray:
        import secrets

        from wattmesh.scale.local_cluster import LocalCluster

        token = secrets.token_hex(32)  # one for every cluster: Ray reads the token once, on import

    cluster_cpu = [0.0]  # the cluster's CPU at the end of a Ray run, before its workers exit with the driver

    def parallel():
        executor = RayExecutor(cluster.address) if cluster else ProcessExecutor(args.workers)
        try:
            result = run_city(raw, executor=executor)
            if cluster:
                cluster_cpu[0] = tree_cpu_s([p.pid for p in cluster.processes])
            return result
        finally:
            executor.close()

    def start_cluster():
        """A fresh cluster, its nodes joined and its agents started by a first driver (not timed), so that
        the timed driver is a user's `--ray` on a running cluster and the serial run never shares the
        cores with an idle cluster (its GCS, raylets and agents slowed a serial run by up to 10 %)."""
        started = LocalCluster(nodes=args.workers, cpus_per_node=1, token=token).start()
        try:
            started.join()
        except BaseException:
            started.stop()
            raise
        return started

    kind = f"{args.workers}-node Ray" if args.ray else f"{args.workers} processes"
    load = [os.getloadavg()[0]]
    pairs = []
    try:
        for k in range(args.repeat):
            serial, serial_s, serial_cpu = timed(lambda: run_city(raw, executor=SerialExecutor()))
            if args.ray:
                cluster = start_cluster()
            before = tree_cpu_s([p.pid for p in cluster.processes]) if cluster else 0.0
            pooled, pooled_s, pooled_cpu = timed(parallel)
            if cluster:
                pooled_cpu += cluster_cpu[0] - before
                cluster.stop()
                cluster = None
            pairs.append((serial_s, serial_cpu, pooled_s, pooled_cpu, pooled))
            print(
                f"run {k + 1}: serial {serial_s:.1f} s wall / {serial_cpu:.1f} CPU s; {kind} {pooled_s:.1f} s "
                f"wall / {pooled_cpu:.1f} CPU s{' (driver + cluster)' if args.ray else ' (driver + workers)'}; "
                f"ratio {serial_s / pooled_s:.2f}x; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            load.append(os.getloadavg()[0])
    finally:
        if cluster:
            cluster.stop()
    a, b = serial.arrays(), pooled.arrays()
    equal = a.keys() == b.keys() and all(
        np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a
    )
    ratios = [s / p for s, _, p, _, _ in pairs]
    speedup = statistics.median(ratios)
    serial_s = statistics.median(s for s, _, _, _, _ in pairs)
    pooled_s = statistics.median(p for _, _, p, _, _ in pairs)

    task_s = np.array([o.seconds for o in serial.feeders])
    overheads = []
    for _, _, wall, _, run in pairs:
        overheads.append(1 - sum(o.seconds for o in run.feeders) / (wall * args.workers))
    pooled_task_s = np.array([o.seconds for o in pooled.feeders])
    members = np.array([len(o.member_ids) for o in serial.feeders])
    intervals = len(serial.feeders[0].index)
    result_bytes = np.array([len(pickle.dumps(o)) for o in serial.feeders])
    task_bytes = len(pickle.dumps(raw)) / args.feeders
    print(
        f"{args.feeders} feeders x {args.days} days x {intervals} intervals, {members.sum()} members in all; "
        f"{args.repeat} interleaved pair(s); load average {min(load):.1f}-{max(load):.1f}"
    )
    print(
        f"median: serial {serial_s:.1f} s; {kind} {pooled_s:.1f} s; speed-up {speedup:.2f}x "
        f"(pairs {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(f"bitwise equal: {equal}")
    print(f"task seconds serial: mean {task_s.mean():.2f} (min {task_s.min():.2f}, max {task_s.max():.2f})")
    print(
        f"task seconds in parallel: mean {pooled_task_s.mean():.2f}; overhead median "
        f"{100 * statistics.median(overheads):.1f} % (runs {', '.join(f'{100 * o:.1f}' for o in overheads)} %)"
    )
    print(f"task size {task_bytes:.0f} B; result size mean {result_bytes.mean() / 1e3:.1f} kB")
    print(
        f"driver peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (serial runs too)"
    )

    # Scale model: cost per member-interval and a result's bytes (a fixed part: the by-member totals; and
    # the per-interval series: the net position, the two prices and the index), measured above.
    per_member_interval_s = task_s.sum() / (members.sum() * intervals)
    series = [(o.net_import_kwh, o.retail_per_kwh, o.feed_in_per_kwh, o.index.asi8) for o in serial.feeders]
    series_bytes = np.array([sum(a.nbytes for a in arrays) for arrays in series])
    fixed_bytes = float(np.mean(result_bytes - series_bytes))
    per_interval_bytes = float(series_bytes.mean()) / intervals
    own_interval_bytes = float(np.mean([s[0].nbytes for s in series])) / intervals  # not shared
    n_f, homes, year, cpus = 1000, 100, 35040, 64
    task_year_s = per_member_interval_s * homes * year
    rounds = math.ceil(n_f / cpus)
    efficiency = n_f / (rounds * cpus)
    unshared_gb = (fixed_bytes + per_interval_bytes * year) * n_f / 1e9
    shared_gb = (fixed_bytes + own_interval_bytes * year) * n_f / 1e9
    print(
        f"model: 1,000 feeders x 100 homes x 1 year on 64 CPUs: a task ~{task_year_s:.0f} s "
        f"({per_member_interval_s * 1e6:.2f} us per member-interval), {rounds} rounds, "
        f"makespan ~{rounds * task_year_s / 60:.0f} min, efficiency <= {100 * efficiency:.1f} % before overhead; "
        f"a result {fixed_bytes / 1e3:.0f} kB + {per_interval_bytes:.0f} B per interval "
        f"({(fixed_bytes + per_interval_bytes * year) / 1e6:.2f} MB per feeder-year); results at the driver "
        f"for 1,000 feeder-years {unshared_gb:.2f} GB as sent, {shared_gb:.2f} GB once the index and prices "
        "are shared"
    )


if __name__ == "__main__":
    main()
