"""A home agent with an EV against a real exchange (a server process on 127.0.0.1): it plans the EV's
charging with the energy planner, trades and meters it, and the EV leaves with its energy although the
agent was killed (SIGKILL) and restarted in the middle of the session."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pandas as pd
import pytest

from wattmesh.energy.planner import ev_slots, plan_homes
from wattmesh.service.agent import Meter, write_meter_csv
from wattmesh.service.client import ExchangeClient
from wattmesh.service.engine import rebuild_state
from wattmesh.service.journal import Journal
from wattmesh.service.live import start_server, stop_server

from .helpers import START, free_port, make_coop, secret_of
from .test_agent_audit import GATE, STEP, iso, requests_of, run_agent_process, wait_for

DT_H = 0.25
RETAIL, FEED_IN = 0.30, 0.08  # the agent command's default flat tariff
START_TS = pd.Timestamp(START)
#: the EV: plugged in for the four intervals 10:15 .. 11:00, needs 3 kWh, a 7 kW charger (1.75 kWh/interval)
SESSION = {"session_id": "s1", "asset_id": "ev_0", "arrival": START_TS + STEP, "departure": START_TS + 5 * STEP,
           "energy_kwh": 3.0, "charger_kw": 7.0}  # fmt: skip


def home_meter() -> Meter:
    """Two days around the co-op's start, the same each day: 0.1 kWh of load per interval and PV that makes
    1.1 kWh in 10:45 and 11:00 only (the EV can take 2 of its 3 kWh from the home's own surplus)."""
    index = pd.date_range(START_TS - pd.Timedelta(days=1), periods=192, freq=STEP)
    sunny = index.isin([START_TS + 3 * STEP, START_TS + 4 * STEP]) | index.isin(
        [START_TS + 3 * STEP - pd.Timedelta(days=1), START_TS + 4 * STEP - pd.Timedelta(days=1)]
    )
    return Meter(index, np.full(192, 0.1), np.where(sunny, 1.1, 0.0))


def reference_plan(meter: Meter):
    """What the energy planner gives, called directly, for the agent's plan at its order for 10:15: the
    horizon of a day from 10:00 (no reading delivered yet), the exact forecast (the meter repeats daily),
    no battery, the whole session still to charge."""
    first = meter.row(START_TS)
    rows = np.arange(first, first + 96)
    index = meter.index[rows]
    sessions = pd.DataFrame([SESSION | {"member_id": "home_0"}])
    no_battery = pd.DataFrame(
        {"capacity_kwh": [0.0], "power_kw": [0.0], "efficiency": [0.9], "soc_kwh": [0.0]}
    )
    plan = plan_homes(meter.load_kwh[rows, None] / DT_H, meter.generation_kwh[rows, None] / DT_H,
                      np.full(96, RETAIL), np.full(96, FEED_IN), no_battery, DT_H,
                      ev=ev_slots(sessions, index, ["home_0"]), member_ids=["home_0"], warn=False, method="lp")  # fmt: skip
    return index, plan


@pytest.fixture
def exchange(tmp_path):
    coop = make_coop(tmp_path / "coop", n_members=2)
    port = free_port()
    server = start_server(coop.folder, port, tmp_path / "exchange.log")
    try:
        yield coop, f"http://127.0.0.1:{port}"
    finally:
        stop_server(server)


def test_agent_plans_its_ev_and_delivers_the_sessions_energy_across_a_sigkill(exchange, tmp_path):
    coop, url = exchange
    operator = ExchangeClient(url, "operator", secret_of(coop, "operator"))
    meter = home_meter()
    meter_csv = write_meter_csv(meter, tmp_path / "meter.csv")
    sessions_csv = tmp_path / "ev.csv"
    pd.DataFrame([SESSION]).assign(
        arrival=iso(SESSION["arrival"]), departure=iso(SESSION["departure"])
    ).to_csv(sessions_csv, index=False)
    state_dir = tmp_path / "agent"
    log = open(tmp_path / "agent.log", "ab")  # noqa: SIM115
    extra = ["--ev-sessions", str(sessions_csv)]
    intervals = pd.date_range(START_TS, periods=8, freq=STEP)

    def state() -> dict:
        path = state_dir / "state.json"
        return json.loads(path.read_text()) if path.exists() else {"ordered": [], "next_reading": ""}

    assert operator.http.get("/market/snapshot").json()["next_interval"] == iso(intervals[0])
    agent = run_agent_process(url, "home_0", coop.key_dir / "home_0.key", meter_csv, state_dir, log, extra)
    try:
        for k, interval in enumerate(intervals):
            key = iso(interval)
            wait_for(lambda i=key: i in state()["ordered"], what=f"the agent's decision for {key}")
            if k == 3:  # killed in the middle of the session, right after its order for 10:45
                os.kill(agent.pid, signal.SIGKILL)
                agent.wait()
                agent = run_agent_process(url, "home_0", coop.key_dir / "home_0.key", meter_csv, state_dir,
                                          log, extra)  # fmt: skip
            assert operator.set_clock(iso(interval - GATE + pd.Timedelta(seconds=1))).status_code == 200
        # the market time is past 11:30: the agent uploads the readings up to 11:15
        wait_for(lambda: state()["next_reading"] >= iso(intervals[6]), what="the readings up to 11:15")
    finally:
        if agent.poll() is None:
            os.kill(agent.pid, signal.SIGKILL)
            agent.wait()
        log.close()
    sent = requests_of(state_dir)
    assert [r for r in sent if r["status"] != 200] == []
    # what the meter measured (the journal's readings): the home's net minus the EV's charging
    journal = Journal(coop.default_db_url)
    try:
        readings = rebuild_state(journal).readings
    finally:
        journal.close()
    delivered = [iso(t) for t in intervals[:6]]
    metered_kwh = np.array([readings[(t, "home_0")][0] for t in delivered]) / 1000
    rows = [meter.row(pd.Timestamp(t)) for t in delivered]
    ev_kwh = meter.generation_kwh[rows] - meter.load_kwh[rows] - metered_kwh  # what went into the EV
    # the EV got its 3 kWh by departure (Wh-rounded readings), none before arrival or after departure
    assert ev_kwh[1:5].sum() == pytest.approx(SESSION["energy_kwh"], abs=0.004)
    np.testing.assert_allclose(ev_kwh[[0, 5]], 0.0, atol=0.001)
    assert state()["ev_delivered"]["s1"] == pytest.approx(SESSION["energy_kwh"], abs=1e-9)
    # the planner's charging: the agent's planned EV energy for 10:15 is the planner's, called directly
    index, plan = reference_plan(meter)
    assert state()["ev_plan"][iso(intervals[1])]["s1"] == pytest.approx(plan.ev_kw[1, 0] * DT_H, abs=1e-6)
    assert plan.ev_kw[:, 0].sum() * DT_H == pytest.approx(3.0, abs=1e-6)
    # the order for 10:15 buys the planned position: load plus planned EV charging
    order = next(r["body"] for r in sent if r["what"].get("interval") == iso(intervals[1]))
    position_kwh = plan.export_kw[1, 0] * DT_H - plan.import_kw[1, 0] * DT_H
    assert order["side"] == "buy" and order["energy_wh"] == round(-position_kwh * 1000)
    # and the EV charged as cheaply as the planner's optimum: the home's own surplus first (2 kWh), so over
    # the session it imports only what the planner's optimum imports (on-arrival charging would import 3 kWh)
    imported_kwh = np.clip(-metered_kwh[1:5], 0, None).sum()
    assert imported_kwh == pytest.approx(plan.import_kw[1:5, 0].sum() * DT_H, abs=0.004)
    assert imported_kwh < 1.5


def test_ev_sessions_csv_errors_name_the_line_the_field_and_what_was_expected(tmp_path):
    from wattmesh.service.agent import ev_sessions_from_csv

    path = tmp_path / "ev.csv"
    path.write_text(
        "arrival,departure,energy_kwh,charger_kw\n2026-06-01T10:15:00Z,2026-06-01T11:15:00Z,3,7\n"
    )
    table = ev_sessions_from_csv(path)
    assert table["session_id"].tolist() == ["s0"] and table["asset_id"].tolist() == ["ev"]
    assert table["departure"].iloc[0] - table["arrival"].iloc[0] == pd.Timedelta(hours=1)
    path.write_text(
        "arrival,departure,energy_kwh,charger_kw\n2026-06-01T10:15:00Z,2026-06-01T10:00:00Z,3,7\n"
    )
    with pytest.raises(
        ValueError, match=r"line 2: departure '2026-06-01T10:00:00Z' is not a time after arrival"
    ):
        ev_sessions_from_csv(path)
    path.write_text(
        "arrival,departure,energy_kwh,charger_kw\n2026-06-01T10:15:00Z,2026-06-01T11:00:00Z,3,0\n"
    )
    with pytest.raises(ValueError, match=r"line 2: charger_kw '0' is not a number > 0"):
        ev_sessions_from_csv(path)
    path.write_text("arrival,departure,energy_kwh\n2026-06-01T10:15:00Z,2026-06-01T11:00:00Z,3\n")
    with pytest.raises(ValueError, match="column 'charger_kw' missing"):
        ev_sessions_from_csv(path)
