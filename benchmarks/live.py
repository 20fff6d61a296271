"""Benchmark of `wattmesh live`: many home agents against one exchange on loopback, and the market page.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/live.py [--members 120] [--intervals 96] [--speed 60]
        [--screenshot docs/exchange-market.png]

The exchange runs as its own process (``python -m wattmesh.service``); the agents (one
:class:`~wattmesh.service.agent.HomeAgent` thread each, LightGBM forecasts retrained on their meters, the
energy planner, truthful orders, proofs and tree heads checked) share this process. The market clock runs
free at ``speed`` (60: a 15-minute interval in 15 s), so an agent that is slow misses its gate. Printed:

- the share of intervals in which every agent's decision was in before gate closure (goal 100 %),
- CPU per agent per interval (the agents' thread time), the exchange's CPU, wall and CPU seconds of the
  whole run and the load average (the machine may be shared),
- the market page's load time in Debian's Chromium (Playwright, ``/usr/bin/chromium``) with the run's
  data: navigation until the clearing table is drawn (goal < 1 s), median of five loads,
- a screenshot of the market page (``--screenshot``), the README's picture.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd  # noqa: E402

from wattmesh.service.live import run_live, stop_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def page_load_s(url: str, screenshot: Path | None, loads: int = 5) -> list[float]:
    """Seconds from navigation to the drawn clearing table of the market page, ``loads`` times."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1500})
            for _ in range(loads):
                began = time.perf_counter()
                page.goto(url + "/", wait_until="domcontentloaded")
                page.wait_for_selector("#clearings-body tr", timeout=30_000)
                page.wait_for_function(
                    "document.querySelector('#prices-chart .main-svg') !== null", timeout=30_000
                )
                times.append(time.perf_counter() - began)
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.wait_for_timeout(500)
                page.screenshot(path=screenshot, full_page=True)
        finally:
            browser.close()
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--members", type=int, default=120, help="agents (the default scenario has 119 members)"
    )
    parser.add_argument("--intervals", type=int, default=96, help="intervals traded (96: a day)")
    parser.add_argument("--speed", type=float, default=60.0, help="market seconds per real second")
    parser.add_argument("--day", default="2016-06-15T00:00", help="first interval (UTC)")
    parser.add_argument("--forecaster", default="auto", help="the agents' forecaster: auto, lightgbm, naive")
    parser.add_argument("--screenshot", type=Path, default=None, help="save the market page here")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="wattmesh-live-bench-"))
    wall = time.perf_counter()
    cpu = time.process_time()
    try:
        result = run_live(folder / "out", members=args.members, day=args.day, intervals=args.intervals,
                          speed=args.speed, forecaster=args.forecaster, keep_serving=True)  # fmt: skip
        run_wall, run_cpu = time.perf_counter() - wall, time.process_time() - cpu
        try:
            loads = page_load_s(result.url, args.screenshot)
        finally:
            stop_server(result.server)
        server_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        with sqlite3.connect(f"file:{result.folder / 'exchange.db'}?mode=ro", uri=True) as db:
            cleared = [
                r[0] for r in db.execute("SELECT recorded_at FROM journal WHERE kind = 'clear' ORDER BY id")
            ]
        real_s = pd.Series(pd.to_datetime(cleared)).diff().dt.total_seconds().median()
        n_agents = len(result.agent_cpu_s)
        per_agent_interval_ms = 1000 * sum(result.agent_cpu_s.values()) / n_agents / len(result.intervals)
        slowest_ms = 1000 * max(result.agent_cpu_s.values()) / len(result.intervals)
        trades = sum(1 for _ in result.paths["trades"].open())
        load1, load5, load15 = os.getloadavg()
        rows = [
            ("agents", f"{n_agents}", ""),
            ("intervals", f"{len(result.intervals)} at {args.speed:g}x ({900 / args.speed:g} s each)", ""),
            ("real seconds between clearings (median)", f"{real_s:.1f} s", f"{900 / args.speed:g} s"),
            ("trades", f"{trades}", ""),
            ("intervals with every decision before the gate", f"{100 * result.on_time_share:.1f} %", "100 %"),
            ("late (member, interval) pairs", f"{len(result.late)}", "0"),
            (
                "agent CPU per agent per interval",
                f"{per_agent_interval_ms:.1f} ms (slowest {slowest_ms:.1f} ms)",
                "",
            ),
            ("exchange process CPU", f"{server_cpu.ru_utime + server_cpu.ru_stime:.1f} s", ""),
            ("run: wall / CPU of the agents' process", f"{run_wall:.1f} s / {run_cpu:.1f} s", ""),
            (
                "market page load (median of 5, max)",
                f"{statistics.median(loads):.3f} s, {max(loads):.3f} s",
                "< 1 s",
            ),
            ("alarms / balance problems", f"{len(result.alarms)} / {len(result.problems)}", "0 / 0"),
            ("load average (1, 5, 15 min)", f"{load1:.1f}, {load5:.1f}, {load15:.1f}", ""),
            ("cores", f"{os.cpu_count()}", ""),
        ]
        width = max(len(r[0]) for r in rows)
        print(f"{'measure':<{width}}  {'value':<44} goal")
        for name, value, goal in rows:
            print(f"{name:<{width}}  {value:<44} {goal}")
        if args.screenshot is not None:
            print(f"screenshot: {args.screenshot}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
