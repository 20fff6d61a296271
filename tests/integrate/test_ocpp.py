"""OCPP central system against real charge points written with the ``ocpp`` package (2.0.1 and 1.6J)."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ocpp")
import websockets  # noqa: E402
from ocpp.routing import on  # noqa: E402
from ocpp.v16 import ChargePoint as CP16  # noqa: E402
from ocpp.v16 import call as c16  # noqa: E402
from ocpp.v16 import call_result as r16  # noqa: E402
from ocpp.v16.enums import Action as A16  # noqa: E402
from ocpp.v201 import ChargePoint as CP201  # noqa: E402
from ocpp.v201 import call as c201  # noqa: E402
from ocpp.v201 import call_result as r201  # noqa: E402
from ocpp.v201.enums import Action as A201  # noqa: E402

from wattmesh.integrate.ocpp_cs import CentralSystem, plan_from_charging_profile  # noqa: E402

START = pd.Timestamp("2026-06-01T18:00:00Z")
PLAN_KW = np.array([0.0, 0.0, 7.4, 7.4, 3.7, 11.0, 0.0, 0.0])  # an EV plan, kW per 15 min


class Station201(CP201):
    received: list

    @on(A201.set_charging_profile)
    def on_profile(self, evse_id, charging_profile, **_):
        self.received.append((evse_id, charging_profile))
        return r201.SetChargingProfile(status="Accepted")


class Station16(CP16):
    received: list

    @on(A16.set_charging_profile)
    def on_profile(self, connector_id, cs_charging_profiles, **_):
        self.received.append((connector_id, cs_charging_profiles))
        return r16.SetChargingProfile(status="Accepted")


class Station201Silent(CP201):
    """Has no SetChargingProfile handler: the ocpp package answers with a CALLERROR (NotImplemented)."""


def mv201(i: int) -> dict:
    stamp = (START + pd.Timedelta(seconds=10 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "timestamp": stamp,
        "sampled_value": [
            {"value": 1000.0 + 2.0 * i, "measurand": "Energy.Active.Import.Register",
             "unit_of_measure": {"unit": "Wh"}},
            {"value": 7.2, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "kW"}},
        ],
    }  # fmt: skip


def mv16(i: int) -> dict:
    stamp = (START + pd.Timedelta(seconds=10 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"timestamp": stamp, "sampled_value": [{"value": str(5000 + 3 * i), "unit": "Wh"}]}


async def connect(cls, port: int, name: str, subprotocol: str):
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/{name}", subprotocols=[subprotocol])
    cp = cls(name, ws)
    cp.received = []
    task = asyncio.create_task(cp.start())
    return ws, cp, task


async def close(ws, task) -> None:
    await ws.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_ocpp201_boot_meter_values_reconnect_and_profile(caplog):
    got = []
    cs = CentralSystem(got.extend, {"cp-a": "home_1"})

    async def scenario():
        port = await cs.start()
        try:
            ws, cp, task = await connect(Station201, port, "cp-a", "ocpp2.0.1")
            boot = await cp.call(c201.BootNotification(
                charging_station={"model": "Wallbox", "vendor_name": "Test"}, reason="PowerUp"))  # fmt: skip
            assert boot.status == "Accepted"
            await cp.call(c201.Heartbeat())
            await cp.call(c201.StatusNotification(timestamp=START.isoformat(), connector_status="Occupied",
                                                  evse_id=1, connector_id=1))  # fmt: skip
            await cp.call(c201.TransactionEvent(event_type="Started", timestamp=START.isoformat(),
                                                trigger_reason="CablePluggedIn", seq_no=0,
                                                transaction_info={"transaction_id": "t1"},
                                                evse={"id": 1}, meter_value=[mv201(0)]))  # fmt: skip
            for i in range(1, 5):
                await cp.call(c201.MeterValues(evse_id=1, meter_value=[mv201(i)]))
            await close(ws, task)
            # reconnects mid-stream and resends 3 and 4, as a charger that lost the confirmations would
            with caplog.at_level(logging.INFO, logger="wattmesh.integrate.ocpp_cs"):
                ws, cp, task = await connect(Station201, port, "cp-a", "ocpp2.0.1")
                for i in range(3, 10):
                    await cp.call(c201.MeterValues(evse_id=1, meter_value=[mv201(i)]))
                status = await cs.send_plan("cp-a", PLAN_KW, START, 900)
            await close(ws, task)
            return status, cp.received
        finally:
            await cs.stop()

    status, received = run(scenario())
    assert status == "Accepted"
    assert "reconnected" in caplog.text
    stamps = [r.timestamp for r in got]
    assert stamps == [START + pd.Timedelta(seconds=10 * i) for i in range(10)]
    assert [r.values["import_kwh"] for r in got] == pytest.approx([1.0 + 0.002 * i for i in range(10)])
    assert all(r.values["power_w"] == pytest.approx(7200.0) for r in got)
    assert {(r.member_id, r.channel, r.device_id) for r in got} == {("home_1", "ev", "cp-a:1")}
    (evse_id, profile), = received  # fmt: skip
    assert evse_id == 1
    np.testing.assert_allclose(plan_from_charging_profile(profile, 900), PLAN_KW)
    schedule = profile["charging_schedule"][0]
    assert schedule["start_schedule"] == "2026-06-01T18:00:00Z"
    # hand-worked periods: power changes at intervals 0, 2, 4, 5 and 6
    assert [(p["start_period"], p["limit"]) for p in schedule["charging_schedule_period"]] == [
        (0, 0.0), (1800, 7400.0), (3600, 3700.0), (4500, 11000.0), (5400, 0.0)]  # fmt: skip


def test_ocpp16_transactions_meter_values_and_profile():
    got = []
    cs = CentralSystem(got.extend, {"cp-b": "home_2"})

    async def scenario():
        port = await cs.start()
        try:
            ws, cp, task = await connect(Station16, port, "cp-b", "ocpp1.6")
            boot = await cp.call(c16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            assert boot.status == "Accepted"
            await cp.call(c16.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
            start = await cp.call(c16.StartTransaction(connector_id=1, id_tag="tag", meter_start=5000,
                                                       timestamp=START.isoformat()))  # fmt: skip
            for i in range(4):
                await cp.call(c16.MeterValues(connector_id=1, transaction_id=start.transaction_id,
                                              meter_value=[mv16(i)]))  # fmt: skip
            await cp.call(c16.StopTransaction(meter_stop=5020, timestamp=START.isoformat(),
                                              transaction_id=start.transaction_id,
                                              transaction_data=[mv16(3), mv16(4)]))  # fmt: skip
            status = await cs.send_plan("cp-b", PLAN_KW, START, 900)
            await close(ws, task)
            return status, cp.received
        finally:
            await cs.stop()

    status, received = run(scenario())
    assert status == "Accepted"
    assert cs.status == {"cp-b:1": "Charging"}
    assert [r.values["import_kwh"] for r in got] == pytest.approx([5.0, 5.003, 5.006, 5.009, 5.012])
    (connector_id, profile), = received  # fmt: skip
    assert connector_id == 1
    assert profile["charging_profile_purpose"] == "TxDefaultProfile"
    np.testing.assert_allclose(plan_from_charging_profile(profile, 900), PLAN_KW)


def test_callerror_from_charger_is_logged_and_readings_are_kept(caplog):
    got = []
    cs = CentralSystem(got.extend, {"cp-c": "home_3"})

    async def scenario():
        port = await cs.start()
        try:
            ws, cp, task = await connect(Station201Silent, port, "cp-c", "ocpp2.0.1")
            await cp.call(c201.MeterValues(evse_id=1, meter_value=[mv201(0)]))
            with caplog.at_level(logging.ERROR, logger="wattmesh.integrate.ocpp_cs"):
                status = await cs.send_plan("cp-c", PLAN_KW, START, 900)
            await cp.call(c201.MeterValues(evse_id=1, meter_value=[mv201(1), mv201(0)]))
            await close(ws, task)
            return status
        finally:
            await cs.stop()

    assert run(scenario()) is None
    assert "'cp-c' answered SetChargingProfile with CALLERROR" in caplog.text
    assert [r.timestamp for r in got] == [START, START + pd.Timedelta(seconds=10)]
