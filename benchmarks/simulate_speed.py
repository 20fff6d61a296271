"""How long `wattmesh simulate` takes on the default scenario, and whether its KPI table stayed put.

Runs the command line as a user does (a fresh process each time, its start-up included) for the whole
default scenario (a month, ~120 homes, every feature) and for a 3-day span, and prints per run the wall
seconds, the CPU seconds of the process and its children (user + system, from ``getrusage``: the figure
to compare on a shared machine), the load average and each stage's time from the progress bar.
With ``--reference KPIS.CSV`` (a ``kpis.csv`` of an earlier run of the month) it prints the largest
relative difference of the month's KPI table from it.
Goals (issue 18): the month in <= 90 s, the 3-day span in <= 20 s on 2 cores; KPIs within 0.5 %.
Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/simulate_speed.py [--only month|3days] [--reference F]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SPANS = {
    "month": [],
    "3days": ["--start", "2016-06-10T00:00:00Z", "--end", "2016-06-13T00:00:00Z"],
}
GOAL_SECONDS = {"month": 90.0, "3days": 20.0}
STAGE = re.compile(r"^(\S.{0,22}?)\s+━+.*?(\d+:\d\d:\d\d)", re.MULTILINE)


def run(span: str, folder: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds of one `wattmesh simulate` of ``span`` into ``folder``, and its output."""
    command = [sys.executable, "-m", "wattmesh.cli", "simulate", "--out", str(folder / "out")]
    command += ["--keys", str(folder / "keys"), *SPANS[span]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, COLUMNS="120"))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def kpi_difference(kpis: Path, reference: Path) -> float:
    """Largest relative difference of a KPI table from a reference (cells that are 0 in both count 0)."""
    now = pd.read_csv(kpis, index_col=0).astype(float)
    before = pd.read_csv(reference, index_col=0).astype(float)
    if list(now.index) != list(before.index) or list(now.columns) != list(before.columns):
        raise SystemExit(f"{kpis}: rows or columns differ from {reference}")
    a, b = now.to_numpy(), before.to_numpy()
    both = np.isfinite(a) & np.isfinite(b)
    scale = np.maximum(np.abs(b), 1e-12)
    rel = np.where(both & ~((a == 0) & (b == 0)), np.abs(a - b) / scale, 0.0)
    return float(rel.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SPANS), help="run one span only")
    parser.add_argument("--reference", type=Path, help="kpis.csv of an earlier run of the month")
    args = parser.parse_args()
    for span in [args.only] if args.only else list(SPANS):
        with tempfile.TemporaryDirectory() as tmp:
            load = os.getloadavg()[0]
            wall, cpu, output = run(span, Path(tmp))
            print(
                f"{span}: {wall:.1f} s wall (goal {GOAL_SECONDS[span]:.0f} s), {cpu:.1f} CPU s "
                f"(user + system, children included), load average {load:.2f} at the start"
            )
            for name, elapsed in STAGE.findall(output):
                print(f"  {name.strip():<24} {elapsed}")
            if args.reference is not None and span == "month":
                worst = kpi_difference(Path(tmp) / "out" / "kpis.csv", args.reference)
                print(f"  KPI table: largest relative difference from {args.reference}: {worst:.3%}")


if __name__ == "__main__":
    main()
