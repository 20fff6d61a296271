"""The report of a short run, opened in a real browser: Debian's Chromium driven by Playwright.

No console errors, nothing loaded from the network, no sideways scroll at 1,280 px, and the titles of a
two-day report name its two days. A screenshot is kept as a test artifact in ``$WATTMESH_ARTIFACTS``
(default ``out/test-artifacts/``, ignored by git).
"""

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from wattmesh.cli import app

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "own-community" / "scenario.toml"
START, END = "2016-06-02T00:00:00Z", "2016-06-04T00:00:00Z"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.is_file(), reason="Debian's chromium is not installed (.ci/run installs it)"
    ),
]


def artifacts() -> Path:
    folder = Path(os.environ.get("WATTMESH_ARTIFACTS", REPO / "out" / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_report(folder: Path):
    """The report of a two-day run of the own-community example (every section: planner, grid, outage,
    tournament, ledger), loaded in Chromium at 1,280 x 900 px: (page facts, console errors, requests,
    screenshot)."""
    from playwright.sync_api import sync_playwright

    out = folder / "out"
    keys = str(folder / "keys")
    args = ["simulate", str(EXAMPLE), "--out", str(out), "--start", START, "--end", END, "--keys", keys]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = out / "report.html"
    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri(), wait_until="load", timeout=60_000)
            # Every figure drawn: Plotly has put its SVG into each plot container.
            page.wait_for_function(
                "() => { const p = document.querySelectorAll('.js-plotly-plot');"
                " return p.length > 0 && [...p].every(d => d.querySelector('.main-svg')); }",
                timeout=60_000,
            )
            facts = page.evaluate(
                """() => ({
                    scrollWidth: document.documentElement.scrollWidth,
                    plots: document.querySelectorAll('.js-plotly-plot').length,
                    titles: [...document.querySelectorAll('.js-plotly-plot .gtitle')].map(t => t.textContent),
                    headings: [...document.querySelectorAll('h1, h2')].map(h => h.textContent),
                })"""
            )
            shot = out / "report_1280.png"
            page.screenshot(path=str(shot), full_page=False)
            shutil.copy(shot, artifacts() / "report_1280.png")
        finally:
            browser.close()
    return facts, errors, requests, shot


def test_report_in_chromium_has_no_errors_no_sideways_scroll_and_titles_that_name_its_span(tmp_path):
    """One run and one page load for every check (a module fixture would run once per xdist worker)."""
    facts, errors, requests, shot = open_report(tmp_path)
    assert facts["plots"] >= 5
    assert errors == [], "console errors"
    assert all(url.startswith(("file://", "data:", "about:")) for url in requests), requests
    assert facts["scrollWidth"] <= 1280, "the page scrolls sideways at 1,280 px"
    # The span in the report's words, from the run's own arguments: the days of [START, END).
    first = pd.Timestamp(START)
    last = pd.Timestamp(END) - pd.Timedelta("15min")
    days = (pd.Timestamp(END) - pd.Timestamp(START)) / pd.Timedelta(days=1)
    span = f"{days:.0f} days, {first:%d %b} to {last:%d %b %Y}"
    titles = facts["titles"]
    assert sum(span in title for title in titles) >= 3, titles
    assert not any("week" in title.lower() for title in titles), titles
    assert shot.stat().st_size > 10_000
    assert (artifacts() / "report_1280.png").is_file()
