"""Home agents plan with the exchange's demand-response events: against a real exchange (a server process
on 127.0.0.1), an event for one home and a community event posted by the operator (one before the agents
start, one while they trade: the snapshot and the stream) cap what the homes' batteries let them import,
as the exchange's own meter readings show; a home the event does not name keeps importing."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from wattmesh.service.agent import HomeAgent, Meter, member_import_cap_kw
from wattmesh.service.client import ExchangeClient
from wattmesh.service.engine import rebuild_state
from wattmesh.service.journal import Journal
from wattmesh.service.live import start_server, stop_server

from .helpers import START, free_port, make_coop, secret_of
from .test_agent_audit import GATE, STEP, iso, wait_for

START_TS = pd.Timestamp(START)
LOAD_KWH = 0.5  # 2 kW every interval, no PV
HOME_EVENT = {"event_id": "feeder-7", "start": iso(START_TS + 2 * STEP), "end": iso(START_TS + 4 * STEP),
              "limit_kw": 0.2, "member_id": "home_0"}  # fmt: skip  # 10:30 and 10:45
COMMUNITY_EVENT = {"event_id": "dso-peak", "start": iso(START_TS + 6 * STEP), "end": iso(START_TS + 7 * STEP),
                   "limit_kw": 0.6}  # fmt: skip  # 11:30, two members: 0.3 kW each


def flat_meter() -> Meter:
    """Two days around the co-op's start, 2 kW of load all the time, an empty 5 kWh / 4 kW battery: at the
    flat tariff it pays to use the battery only when an event asks for it (charging loses 10 %)."""
    index = pd.date_range(START_TS - pd.Timedelta(days=1), periods=192, freq=STEP)
    return Meter(index, np.full(192, LOAD_KWH), np.zeros(192), battery_kwh=5.0, battery_kw=4.0,
                 battery_efficiency=0.9, soc_initial_kwh=0.0)  # fmt: skip


@pytest.fixture
def exchange(tmp_path):
    coop = make_coop(tmp_path / "coop", n_members=2)
    port = free_port()
    server = start_server(coop.folder, port, tmp_path / "exchange.log")
    try:
        yield coop, f"http://127.0.0.1:{port}"
    finally:
        stop_server(server)


def test_agents_keep_their_import_under_the_exchanges_dr_caps(exchange, tmp_path):
    coop, url = exchange
    operator = ExchangeClient(url, "operator", secret_of(coop, "operator"))
    answer = operator.call("POST", "/operator/dr-events", {"events": [HOME_EVENT]})
    assert answer.status_code == 200, answer.text
    snapshot = operator.http.get("/market/snapshot").json()
    assert snapshot["members"] == 2 and [e["event_id"] for e in snapshot["dr_events"]] == ["feeder-7"]
    agents = {m: HomeAgent(url, m, secret_of(coop, m), flat_meter(), tmp_path / m, forecaster="naive")
              for m in ("home_0", "home_1")}  # fmt: skip
    stop = threading.Event()
    threads = [threading.Thread(target=a.run, args=(stop,), daemon=True) for a in agents.values()]
    for thread in threads:
        thread.start()
    intervals = pd.date_range(START_TS, periods=10, freq=STEP)  # 10:00 .. 12:15
    try:
        for k, interval in enumerate(intervals):
            key = iso(interval)
            for agent in agents.values():
                wait_for(
                    lambda a=agent, i=key: i in a.state.ordered, what=f"{agent.member_id}'s order for {key}"
                )
            if k == 0:  # while they trade: streamed to them as a dr_event message
                answer = operator.call("POST", "/operator/dr-events", {"events": [COMMUNITY_EVENT]})
                assert answer.status_code == 200, answer.text
                for agent in agents.values():
                    wait_for(lambda a=agent: "dso-peak" in a.dr_events, what="the streamed event")
            assert operator.set_clock(iso(interval - GATE + pd.Timedelta(seconds=1))).status_code == 200
        for agent in agents.values():
            wait_for(lambda a=agent: a.state.next_reading >= iso(intervals[8]), what="the readings to 11:45")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert all(not a.alarms for a in agents.values())
    journal = Journal(coop.default_db_url)
    try:
        readings = rebuild_state(journal).readings
    finally:
        journal.close()

    def import_wh(member: str, k: int) -> float:
        return -readings[(iso(intervals[k]), member)][0]  # a reading is the net export [Wh]

    dt_h = 0.25
    # home_0's own event: 0.2 kW at 10:30 and 10:45 (Wh-rounded readings), where it would draw 2 kW
    for k in (2, 3):
        assert import_wh("home_0", k) <= 0.2 * dt_h * 1000 + 1
    # the community's 0.6 kW at 11:30, an equal share for each of the two homes
    for member in ("home_0", "home_1"):
        assert import_wh(member, 6) <= 0.6 / 2 * dt_h * 1000 + 1
    # home_1 is not asked at 10:30/10:45: it draws at least its load (more if it charges then)
    for k in (2, 3):
        assert import_wh("home_1", k) >= LOAD_KWH * 1000 - 1
    # the energy went through the batteries: charged before the windows, so the homes imported more then
    assert import_wh("home_0", 0) + import_wh("home_0", 1) > 2 * LOAD_KWH * 1000 + 100
    # and after the last window, nothing left to do: the load only
    assert import_wh("home_0", 7) == pytest.approx(LOAD_KWH * 1000, abs=1)


def test_member_import_cap_shares_community_events_and_ignores_other_homes():
    index = pd.date_range("2026-06-01T10:00Z", periods=4, freq="15min")
    expected_kw = np.array([2.0, 2.0, 3.0, 3.0])
    events = [
        # the community: cut 1 kW (of 4 homes: 0.25 kW each) at 10:00-10:30
        {"event_id": "a", "start": "2026-06-01T10:00:00Z", "end": "2026-06-01T10:30:00Z",
         "limit_kw": None, "reduction_kw": 1.0, "member_id": "", "source": "operator"},
        # this home: at most 1 kW at 10:15-10:45 (overlaps a at 10:15: the lower cap holds)
        {"event_id": "b", "start": "2026-06-01T10:15:00Z", "end": "2026-06-01T10:45:00Z",
         "limit_kw": 1.0, "reduction_kw": None, "member_id": "home_1", "source": "openadr"},
        # another home's event
        {"event_id": "c", "start": "2026-06-01T10:00:00Z", "end": "2026-06-01T11:00:00Z",
         "limit_kw": 0.0, "reduction_kw": None, "member_id": "home_2", "source": "operator"},
    ]  # fmt: skip
    cap = member_import_cap_kw(events, index, "home_1", 4, expected_kw)
    np.testing.assert_allclose(cap, [1.75, 1.0, 1.0, np.nan])
    assert np.isnan(member_import_cap_kw([], index, "home_1", 4, expected_kw)).all()


def test_live_posts_the_scenarios_events_of_its_day_to_the_exchange(exchange):
    """`wattmesh live` hands the scenario's events (energy.events) to its exchange as the operator: those of
    the traded span, for members in the run; the exchange lists them as it got them."""
    from wattmesh.service.live import post_events
    from wattmesh.tables import conform_events

    coop, url = exchange
    operator = ExchangeClient(url, "operator", secret_of(coop, "operator"))
    events = conform_events(pd.DataFrame([
        {"event_id": "in", "start": START_TS + STEP, "end": START_TS + 3 * STEP, "limit_kw": 1.5},
        {"event_id": "mine", "start": START_TS, "end": START_TS + STEP, "reduction_kw": 0.5, "member_id": "home_1"},
        {"event_id": "absent", "start": START_TS, "end": START_TS + STEP, "limit_kw": 0.0, "member_id": "home_9"},
        {"event_id": "tomorrow", "start": START_TS + pd.Timedelta(days=1), "end": START_TS + pd.Timedelta(days=1, hours=1),
         "limit_kw": 1.0},
    ]))  # fmt: skip
    end = START_TS + pd.Timedelta(hours=4)
    assert post_events(operator, events, START_TS, end, ["home_0", "home_1"]) == 2
    listed = {e["event_id"]: e for e in operator.http.get("/market/dr-events").json()["events"]}
    assert listed == {
        "mine": {"event_id": "mine", "start": iso(START_TS), "end": iso(START_TS + STEP), "limit_kw": None,
                 "reduction_kw": 0.5, "member_id": "home_1", "source": "file"},
        "in": {"event_id": "in", "start": iso(START_TS + STEP), "end": iso(START_TS + 3 * STEP), "limit_kw": 1.5,
               "reduction_kw": None, "member_id": "", "source": "file"},
    }  # fmt: skip
    assert post_events(operator, events.iloc[3:], START_TS, end, ["home_0"]) == 0
