"""Refresh docs/report.png: the default scenario's report over three June days, in Debian's Chromium.

Run: ``.venv/bin/python benchmarks/report_screenshot.py`` (or ``make screenshot``). It simulates the packaged
default scenario from 2016-06-10 to 2016-06-13 (UTC) into ``out/screenshot/`` with ``wattmesh simulate``
(a few minutes on two cores: the default scenario plans batteries and EVs with LightGBM forecasts), opens
``report.html`` with Playwright at 1,280 px wide and writes the top of the page to ``docs/report.png``.
``--report PATH`` takes an existing report instead of running the simulation.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
START, END = "2016-06-10T00:00:00Z", "2016-06-13T00:00:00Z"
WIDTH, HEIGHT = 1280, 1700


def simulate(out: Path) -> Path:
    """The default scenario over [START, END) into ``out``; the report's path."""
    wattmesh = Path(sys.executable).with_name("wattmesh")
    command = [str(wattmesh), "simulate", "--out", str(out), "--start", START, "--end", END]
    began = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    print(f"simulated {START} to {END} in {time.perf_counter() - began:.0f} s: {out / 'report.html'}")
    return out / "report.html"


def screenshot(report: Path, png: Path) -> None:
    """The top WIDTH x HEIGHT px of ``report`` in Chromium, every figure drawn, to ``png``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(report.resolve().as_uri(), wait_until="load", timeout=120_000)
            page.wait_for_function(
                "() => { const p = document.querySelectorAll('.js-plotly-plot');"
                " return p.length > 0 && [...p].every(d => d.querySelector('.main-svg')); }",
                timeout=120_000,
            )
            page.screenshot(path=str(png), full_page=False)
        finally:
            browser.close()
    print(f"wrote {png} ({png.stat().st_size:,} bytes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="an existing report.html (skip the simulation)")
    parser.add_argument("--png", type=Path, default=REPO / "docs" / "report.png")
    args = parser.parse_args()
    report = args.report or simulate(REPO / "out" / "screenshot")
    screenshot(report, args.png)


if __name__ == "__main__":
    main()
