"""SunSpec over Modbus TCP against a real pymodbus server on 127.0.0.1 holding models 1, 103 and 124, written
here register by register from the SunSpec model tables (independent of pysunspec2's definitions)."""

from __future__ import annotations

import logging
import struct

import pandas as pd
import pytest
from pymodbus.client import ModbusTcpClient
from pymodbus.constants import ExcCodes

from wattmesh.integrate.sunspec import RegisterServer, SunSpecClient, SunSpecPoller

pytestmark = pytest.mark.integration

BASE = 40000
M103 = BASE + 2 + 2 + 66  # the inverter model's ID register: after 'SunS' and model 1 (ID, L, 66)
M124 = M103 + 2 + 50


def text(value: str, n: int) -> list[int]:
    return list(struct.unpack(f">{n}H", value.encode().ljust(2 * n, b"\0")))


def u16(value: int) -> int:
    return value & 0xFFFF


def sunspec_map(w_raw: int = 12345, wh_raw: int = 12345678) -> list[int]:
    """'SunS', common model 1 (Mn, Md, Opt, Vr, SN, DA, Pad), model 103, model 124, the end marker."""
    regs = [0x5375, 0x6E53]
    regs += [1, 66] + text("Wattmesh Test", 16) + text("PV-5000", 16) + text("", 8) + text("1.2.3", 8)
    regs += text("INV-0042", 16) + [1, 0x8000]
    m103 = [0] * 50
    m103[12], m103[13] = w_raw, u16(-1)  # W (int16), W_SF: 1234.5 W
    m103[22], m103[23] = divmod(wh_raw, 65536)  # WH (acc32, high word first)
    m103[24] = 1  # WH_SF: x 10
    m103[36] = 4  # St: MPPT
    regs += [103, 50] + m103
    m124 = [0] * 24
    m124[0], m124[16] = 5000, 0  # WChaMax 5000 W, WChaMax_SF 0
    m124[6], m124[20] = 6543, u16(-2)  # ChaState 65.43 %, ChaState_SF -2
    m124[23] = u16(-2)  # InOutWRte_SF: rates in 0.01 %
    regs += [124, 24] + m124
    return regs + [0xFFFF, 0]


def signed(value: int) -> int:
    return value - 0x10000 if value >= 0x8000 else value


@pytest.fixture
def server():
    handle = RegisterServer(sunspec_map())
    try:
        yield handle
    finally:
        handle.stop()


def test_reads_pv_power_and_energy_with_scale_factors(server):
    with SunSpecClient("127.0.0.1", server.port, "home_2") as client:
        assert client.device_id == "INV-0042"
        r = client.read_inverter(pd.Timestamp("2026-06-01T10:00:00Z"))
        assert (r.member_id, r.channel, r.device_id) == ("home_2", "der", "INV-0042")
        assert r.values == {"pv_power_w": pytest.approx(1234.5), "pv_energy_wh": 123456780.0}
        assert client.read_battery().values == {"soc_pct": pytest.approx(65.43)}


def test_battery_set_points_land_in_model_124_registers(server):
    raw = ModbusTcpClient("127.0.0.1", port=server.port)
    raw.connect()
    try:
        with SunSpecClient("127.0.0.1", server.port, "home_2", revert_s=900) as client:
            client.write_battery_setpoint(2500.0)  # half of WChaMax: 50.00 % -> 5000 in 0.01 %
            regs = raw.read_holding_registers(M124 + 2, count=24, device_id=1).registers
            assert (regs[3], signed(regs[10]), signed(regs[11]), regs[13]) == (3, -5000, 5000, 900)
            client.write_battery_setpoint(-1250.0)
            regs = raw.read_holding_registers(M124 + 2, count=24, device_id=1).registers
            assert (signed(regs[10]), signed(regs[11])) == (2500, -2500)
            assert regs[0] == 5000 and regs[6] == 6543  # read-only points untouched
            with pytest.raises(ValueError, match="power_w 6000.0 W: beyond WChaMax 5000 W"):
                client.write_battery_setpoint(6000.0)
    finally:
        raw.close()


def test_modbus_exceptions_are_logged_and_no_reading_is_lost_or_doubled(caplog):
    state = {"failures": 0}

    async def busy(function_code, start_address, address, count, current_registers, set_values):
        if function_code == 3 and M103 <= address < M103 + 52 and state["failures"] > 0:
            state["failures"] -= 1
            return ExcCodes.DEVICE_BUSY
        return None

    server = RegisterServer(sunspec_map(), action=busy)
    sunk = []
    caplog.set_level(logging.WARNING, logger="wattmesh.integrate.sunspec")
    try:
        with SunSpecClient("127.0.0.1", server.port, "home_2") as client:
            poller = SunSpecPoller([client], sunk.extend, retries=3)
            times = pd.date_range("2026-06-01T10:00:00Z", periods=10, freq="1s")
            for k, at in enumerate(times):
                state["failures"] = {3: 2, 7: 5}.get(k, 0)  # poll 3 recovers on its 3rd try; poll 7 fails
                poller.poll(at)
            poller.poll(times[5])  # a repeated poll time is not a second reading
    finally:
        server.stop()
    assert [r.timestamp for r in sunk] == [t for k, t in enumerate(times) if k != 7]
    assert poller.missed == 1 and poller.duplicates == 1
    messages = [rec.getMessage() for rec in caplog.records]
    busy_lines = [m for m in messages if "INV-0042" in m and "exception" in m.lower()]
    assert len(busy_lines) == 2 + 3
    assert any("poll 2026-06-01 10:00:07+00:00: missed after 3 tries" in m for m in messages)
