"""Demand-response events on the live exchange: the operator's (signed, journaled, checked) and the DSO's
through OpenADR (`wattmesh serve --openadr-vtn`, a real openleadr VTN on 127.0.0.1); both on the market
page's data and in `GET /market/dr-events`, and rebuilt from the journal."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
import warnings
from datetime import timedelta

import httpx
import pandas as pd
import pytest

from wattmesh.service.app import create_app
from wattmesh.service.client import ExchangeClient
from wattmesh.service.engine import Exchange, rebuild_state
from wattmesh.service.journal import Journal

from .helpers import WATTMESH, InLoopClient, free_port, make_coop, secret_of, serve

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from openleadr import OpenADRServer

EVENT = {
    "event_id": "peak-1",
    "start": "2026-06-01T10:30:00Z",
    "end": "2026-06-01T11:00:00Z",
    "limit_kw": 6.5,
}


def test_operator_events_are_journaled_checked_shown_and_rebuilt(tmp_path):
    coop = make_coop(tmp_path / "coop", n_members=3)
    exchange = Exchange(coop, synchronous="NORMAL")
    with InLoopClient(create_app(exchange)) as http:
        operator = ExchangeClient("http://testserver", "operator", secret_of(coop, "operator"), http=http)
        member = ExchangeClient("http://testserver", "home_1", secret_of(coop, "home_1"), http=http)
        home_event = {"event_id": "home-1", "start": "2026-06-01T12:00:00Z", "end": "2026-06-01T12:15:00Z",
                      "reduction_kw": 1.5, "member_id": "home_2"}  # fmt: skip
        answer = operator.call("POST", "/operator/dr-events", {"events": [EVENT, home_event]})
        assert answer.status_code == 200 and answer.json()["events"] == 2, answer.text
        journal_id = exchange.state.journal_id
        # refused, nothing stored: a member's request, an end before the start, an unknown member, both caps
        assert (
            member.call("POST", "/operator/dr-events", {"events": [EVENT | {"event_id": "x"}]}).status_code
            == 401
        )
        bad = [
            (EVENT | {"event_id": "b1", "end": "2026-06-01T10:00:00Z"}, "end"),
            (EVENT | {"event_id": "b2", "member_id": "home_9"}, "home_9"),
            (EVENT | {"event_id": "b3", "reduction_kw": 1.0}, "reduction"),
            (EVENT | {"event_id": "b4", "limit_kw": -1.0}, "limit_kw"),
        ]
        for event, named in bad:
            answer = operator.call(
                "POST", "/operator/dr-events", {"events": [EVENT | {"event_id": "ok"}, event]}
            )
            assert answer.status_code == 422 and named in answer.text, (event, answer.text)
        assert exchange.state.journal_id == journal_id and set(exchange.state.dr_events) == {
            "peak-1",
            "home-1",
        }

        listed = http.get("/market/dr-events").json()["events"]
        assert [e["event_id"] for e in listed] == ["peak-1", "home-1"]  # by start
        assert listed[0] == EVENT | {"reduction_kw": None, "member_id": "", "source": "operator"}
        assert listed[1]["member_id"] == "home_2" and listed[1]["limit_kw"] is None
        # the market page's data: coming before the window, active inside it
        page = http.get("/pages/market.json").json()["dr_events"]
        assert [e["active"] for e in page] == [False, False]
        operator.set_clock("2026-06-01T10:40:00Z")
        page = http.get("/pages/market.json").json()["dr_events"]
        assert [(e["event_id"], e["active"]) for e in page] == [("peak-1", True), ("home-1", False)]
        html = http.get("/").text
        assert 'id="dr-table"' in html and "Demand-response events" in html
        # the planner's table
        table = exchange.dr_events_table()
        assert table["start"].iloc[0] == pd.Timestamp(EVENT["start"]) and table["limit_kw"].iloc[0] == 6.5
        # a later event with the same id replaces it
        moved = EVENT | {"limit_kw": 4.0}
        assert operator.call("POST", "/operator/dr-events", {"events": [moved]}).status_code == 200
        assert exchange.state.dr_events["peak-1"]["limit_kw"] == 4.0
    rebuilt = rebuild_state(Journal(exchange.db_url))
    assert (
        rebuilt.dr_events == exchange.state.dr_events and rebuilt.state_hash() == exchange.state.state_hash()
    )


class Vtn:
    """A real OpenADR 2.0b VTN (openleadr) on 127.0.0.1 in a thread of its own, with one setpoint event."""

    def __init__(self, port: int, start: pd.Timestamp) -> None:
        self.port, self.start, self.answers = port, start, []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = OpenADRServer(vtn_id="dso", http_host="127.0.0.1", http_port=self.port,
                                    requested_poll_freq=timedelta(seconds=1), verify_message_signatures=False)  # fmt: skip

        async def on_registration(info):
            return "ven-exchange", "reg-1"

        self.server.add_handler("on_create_party_registration", on_registration)
        self.server.add_event(ven_id="ven-exchange", signal_name="LOAD_DISPATCH", signal_type="setpoint",
                              intervals=[{"dtstart": self.start.to_pydatetime(), "duration": timedelta(minutes=30),
                                          "signal_payload": 40.0}],
                              callback=lambda ven_id, event_id, opt_type: self.answers.append(opt_type),
                              event_id="dso-ev-1")  # fmt: skip
        self.loop.run_until_complete(self.server.run())
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> Vtn:
        self.thread.start()
        assert self.ready.wait(20), "the VTN did not start"
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(20)


@pytest.mark.slow
def test_the_openadr_ven_bridge_posts_the_dsos_event_to_the_exchange(tmp_path):
    coop = make_coop(tmp_path / "coop", n_members=2)
    start = pd.Timestamp.now(tz="UTC").ceil("1h")  # openleadr drops events whose window is over
    vtn_port, port = free_port(), free_port()
    server = serve(coop.folder, port)
    bridge = None
    try:
        with Vtn(vtn_port, start) as vtn:
            url = f"http://127.0.0.1:{vtn_port}/OpenADR2/Simple/2.0b"
            bridge = subprocess.Popen([WATTMESH, "openadr-ven", str(coop.folder), "--vtn", url, "--server",
                                       f"http://127.0.0.1:{port}", "--ven-name", "exchange"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
            events = []
            deadline = time.monotonic() + 90
            while not events and time.monotonic() < deadline and bridge.poll() is None:
                events = httpx.get(f"http://127.0.0.1:{port}/market/dr-events", timeout=5).json()["events"]
                time.sleep(0.3)
            page = httpx.get(f"http://127.0.0.1:{port}/pages/market.json", timeout=5).json()
            os.kill(bridge.pid, signal.SIGTERM)
            printed = bridge.communicate(timeout=30)[0]
            assert bridge.returncode == 0, printed
            assert vtn.answers == ["optIn"]
    finally:
        for process in (bridge, server):
            if process is not None and process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
    # the VTN's event as sent: a 40 kW setpoint for 30 min from `start`, one interval
    assert len(events) == 1, printed
    event = events[0]
    assert pd.Timestamp(event["start"]) == start and pd.Timestamp(event["end"]) == start + pd.Timedelta(
        "30min"
    )
    assert event["limit_kw"] == 40.0 and event["reduction_kw"] is None and event["source"] == "openadr"
    assert event["event_id"].startswith("dso-ev-1") and "journaled" in printed
    assert [e["event_id"] for e in page["dr_events"]] == [event["event_id"]]
    # journaled: a rebuild of the exchange's state from its journal holds it
    assert list(rebuild_state(Journal(Exchange(coop).db_url)).dr_events.values()) == [event]
