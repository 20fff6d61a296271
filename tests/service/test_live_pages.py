"""A day of 10 home agents on a real exchange, watched in a real browser.

One live run (:func:`wattmesh.service.live.run_live`: the exchange as its own process on 127.0.0.1, one
:class:`~wattmesh.service.agent.HomeAgent` per member with LightGBM forecasts and the energy planner, the
market clock accelerated and in lock step with the agents) while Playwright drives Debian's Chromium
(``/usr/bin/chromium``, never ``playwright install``) on the market page; then the member's and the
operator's pages on the exchange the run leaves serving. Screenshots are saved under the test's folder.
"""

from __future__ import annotations

import json
import threading
import time

import pandas as pd
import pytest

from wattmesh.ledger import verify_proof
from wattmesh.service.auth import secret_from_key_file
from wattmesh.service.live import run_live, stop_server
from wattmesh.service.pages import page_token

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
INTERVALS = 24
DAY = "2016-06-15T09:00"


class Watched:
    """What the browser saw of the pages: every request's URL, console errors, the market table."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []

    def attach(self, page) -> None:
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("response", lambda r: r.status >= 400 and self.errors.append(f"{r.status} {r.url}"))


@pytest.fixture
def day(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    folder = tmp_path_factory.mktemp("day")
    box: dict = {}
    ready = threading.Event()

    def on_ready(url, coop):
        box.update(url=url, coop=coop)
        ready.set()

    def run():
        try:
            box["result"] = run_live(folder / "out", members=10, day=DAY, intervals=INTERVALS, speed=3600,
                                     forecaster="auto", lockstep=True, keep_serving=True, on_ready=on_ready)  # fmt: skip
        except BaseException as err:  # noqa: BLE001 (reported by the fixture below)
            box["error"] = err
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    watched = Watched()
    seen: list[tuple[int, str]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            assert ready.wait(300), "the live run did not start"
            if "error" in box:
                raise box["error"]
            url = box["url"]
            context = browser.new_context(viewport={"width": 1100, "height": 1400})
            page = context.new_page()
            watched.attach(page)
            page.goto(url + "/")
            deadline = time.monotonic() + 300
            while thread.is_alive() and time.monotonic() < deadline:
                rows = page.locator("#clearings-body tr")
                first = rows.first.inner_text() if rows.count() else ""
                seen.append((rows.count(), first))
                time.sleep(0.3)
            thread.join(5)
            if "error" in box:
                raise box["error"]
            page.wait_for_timeout(2500)  # the page's next refresh shows the last clearing
            page.screenshot(path=folder / "market.png", full_page=True)
            box.update(browser=browser, page=page, folder=folder, watched=watched, seen=seen)
            yield box
        finally:
            browser.close()
            if "result" in box:
                stop_server(box["result"].server)


def check_a_day_of_ten_agents_every_order_in_before_its_gate(day):
    result = day["result"]
    out = result.paths["trades"].parent
    assert len(result.agent_cpu_s) == 10
    assert result.on_time_share == 1.0 and result.late == []
    assert result.alarms == {}, result.alarms
    assert result.problems == [], result.problems
    for member in result.agent_cpu_s:
        requests = [
            json.loads(x) for x in (out / "agents" / member / "requests.jsonl").read_text().splitlines()
        ]
        assert [r for r in requests if r["status"] != 200] == [], member
        state = json.loads((out / "agents" / member / "state.json").read_text())
        assert set(result.intervals.strftime("%Y-%m-%dT%H:%M:%SZ")) <= set(state["ordered"]), member
        assert state["next_reading"] >= (result.intervals[-1] + pd.Timedelta("15min")).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    trades = [json.loads(x) for x in result.paths["trades"].read_text().splitlines()]
    assert len(trades) > INTERVALS, "a sunny day with hardly any local trade"
    # every agent checked the proof of each of its trades
    for trade in trades:
        for member in (trade["seller"], trade["buyer"]):
            state = json.loads((out / "agents" / member / "state.json").read_text())
            assert trade["interval"] in state["checked"], (member, trade["transaction_id"])
    # the community battery trades (it balances the feeder) rather than idling
    assert any("community" in (t["seller"] + t["buyer"]) for t in trades)


def check_market_page_shows_prices_that_update_as_intervals_clear(day):
    states = [s for s in day["seen"] if s[0] > 0]
    assert len({s[1] for s in states}) >= 3, day["seen"][-10:]
    prices = pd.read_csv(day["result"].paths["intervals"]).set_index("time")["local_price_per_kwh"]
    prices = prices.map(lambda x: "–" if pd.isna(x) else f"{x:.4f}")
    # the page once showed the clearing of each of the run's last intervals, at the journal's price
    shown = {}
    for _, text in day["seen"]:
        cells = text.split("\t")
        if cells and cells[0] in prices.index:
            shown[cells[0]] = cells[1]
    assert len(shown) >= 3, day["seen"][-5:]
    assert all(prices[k] == v for k, v in shown.items()), shown
    assert any(v != "–" for v in shown.values())


def check_member_page_shows_its_trades_and_a_proof_that_verifies(day):
    result, coop = day["result"], day["coop"]
    trades = [json.loads(x) for x in result.paths["trades"].read_text().splitlines()]
    member = pd.Series([t["buyer"] for t in trades]).value_counts().index[0]
    mine = [t for t in trades if member in (t["buyer"], t["seller"])]
    context = day["browser"].new_context(viewport={"width": 390, "height": 1600})  # a phone's width
    page = context.new_page()
    day["watched"].attach(page)
    token = page_token(secret_from_key_file(coop.key_dir / f"{member}.key"), member)
    page.goto(f"{day['url']}/session?token={token}&next=/member/{member}")
    page.wait_for_function(f"document.querySelectorAll('.trade-row').length === {len(mine)}", timeout=15000)
    page.screenshot(path=day["folder"] / "member.png", full_page=True)
    link = page.locator(".proof-link").first
    href = link.get_attribute("href")
    response = page.request.get(day["url"] + href)
    assert response.ok
    proof = response.json()
    operator_key = bytes.fromhex(proof["public_keys"]["operator"])
    assert operator_key == secret_from_key_file(coop.key_dir / "operator.key")[32:]
    assert verify_proof(proof, operator_key) == []
    shown = json.loads(proof["record"])
    assert shown["transaction_id"] in {t["transaction_id"] for t in mine}
    context.close()


def check_member_page_refuses_another_members_session(day):
    result, coop = day["result"], day["coop"]
    member, other = list(result.agent_cpu_s)[:2]
    context = day["browser"].new_context()  # not watched: a refused page logs its 401 on the console
    page = context.new_page()
    token = page_token(secret_from_key_file(coop.key_dir / f"{member}.key"), member)
    assert page.goto(f"{day['url']}/session?token={token}&next=/member/{other}").status == 401
    assert page.goto(f"{day['url']}/member/{member}").status == 200
    context.close()


def check_operator_page_refuses_without_the_operators_key(day):
    coop = day["coop"]
    context = day["browser"].new_context()  # not watched: a refused page logs its 401 on the console
    page = context.new_page()
    refused = page.goto(day["url"] + "/operator")
    assert refused.status == 401 and "Operator only" in page.content()
    member_token = page_token(secret_from_key_file(coop.key_dir / "home_001.key"), "home_001")
    page.goto(f"{day['url']}/session?token={member_token}&next=/operator")
    assert "Operator only" in page.content(), "a member's session opened the operator page"
    context.close()
    context = day["browser"].new_context()
    page = context.new_page()
    day["watched"].attach(page)
    token = page_token(secret_from_key_file(coop.key_dir / "operator.key"), "operator")
    page.goto(f"{day['url']}/session?token={token}&next=/operator")
    assert page.locator("#members-title").inner_text().startswith("Members (10)")
    page.screenshot(path=day["folder"] / "operator.png", full_page=True)
    context.close()


def check_pages_make_no_external_requests_and_no_console_errors(day):
    watched = day["watched"]
    assert watched.requests, "the browser made no requests"
    outside = [u for u in watched.requests if not u.startswith(day["url"] + "/")]
    assert outside == []
    assert watched.errors == []
    for name in ("market.png", "member.png", "operator.png"):
        assert (day["folder"] / name).stat().st_size > 10_000, name


def test_a_live_day_of_ten_agents_in_the_browser(day):
    """One live run checked as a whole (a module fixture would run again on every xdist worker)."""
    check_a_day_of_ten_agents_every_order_in_before_its_gate(day)
    check_market_page_shows_prices_that_update_as_intervals_clear(day)
    check_member_page_shows_its_trades_and_a_proof_that_verifies(day)
    check_member_page_refuses_another_members_session(day)
    check_operator_page_refuses_without_the_operators_key(day)
    check_pages_make_no_external_requests_and_no_console_errors(day)
