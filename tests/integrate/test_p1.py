"""DSMR P1 telegrams from a real TCP bridge and a serial-over-TCP port on 127.0.0.1 into a live exchange: each
reading once across a reconnect and a replay, broken telegrams refused with a log line, values hand-worked."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import pandas as pd
import pytest

from wattmesh.integrate.p1 import P1Reader, reading_from_telegram
from wattmesh.integrate.readings import exchange_rows

pytestmark = pytest.mark.integration

METER = "4530303434303037313331363530363138"


def crc16_arc(text: str) -> int:
    """CRC-16/ARC (poly 0x8005 reflected, init 0), as DSMR 5 section 6.2 specifies, bit by bit."""
    crc = 0
    for byte in text.encode("ascii"):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def telegram(utc: str, import_t1: float, import_t2: float, export_t1: float, export_t2: float,
             used_kw: float, delivered_kw: float, with_time: bool = True, break_crc: bool = False) -> str:  # fmt: skip
    """A DSMR 5.0.2 telegram of an ISKRA AM550 meter; times are Dutch local time with S (CEST) / W (CET)."""
    stamp = pd.Timestamp(utc).tz_convert("Europe/Amsterdam")
    flag = "S" if stamp.dst() else "W"
    lines = ["/ISK5\\2M550T-1012", "", "1-3:0.2.8(50)"]
    if with_time:
        lines.append(f"0-0:1.0.0({stamp:%y%m%d%H%M%S}{flag})")
    lines += [
        f"0-0:96.1.1({METER})",
        f"1-0:1.8.1({import_t1:010.3f}*kWh)", f"1-0:1.8.2({import_t2:010.3f}*kWh)",
        f"1-0:2.8.1({export_t1:010.3f}*kWh)", f"1-0:2.8.2({export_t2:010.3f}*kWh)",
        "0-0:96.14.0(0002)", f"1-0:1.7.0({used_kw:06.3f}*kW)", f"1-0:2.7.0({delivered_kw:06.3f}*kW)",
        "0-0:96.7.21(00010)", "1-0:32.7.0(229.0*V)", "1-0:31.7.0(002*A)", "!",
    ]  # fmt: skip
    body = "\r\n".join(lines)
    crc = crc16_arc(body) ^ (1 if break_crc else 0)
    return body + f"{crc:04X}\r\n"


def stream(n: int) -> list[tuple[pd.Timestamp, str]]:
    """Telegrams every 5 min from 2026-06-01T00:00Z; imports rise 0.05 kWh, exports 0.01 kWh per 5 min, so
    each 15-min interval's net energy is 3 * (50 - 10) = 120 Wh."""
    start = pd.Timestamp("2026-06-01T00:00:00Z")
    out = []
    for k in range(n):
        utc = start + pd.Timedelta(minutes=5 * k)
        out.append((utc, telegram(str(utc), 100 + 0.05 * k, 50.0, 10 + 0.01 * k, 5.0, 0.6, 0.0)))
    return out


class Bridge:
    """A TCP P1 bridge on 127.0.0.1: each connection is served one script (bytes, then a close)."""

    def __init__(self, scripts: list[bytes]) -> None:
        self.scripts = scripts
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.served = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.server.settimeout(20)
        for script in self.scripts:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                time.sleep(
                    0.3
                )  # a meter sends every 1-10 s; pyserial's socket:// drops what came before open
                for pos in range(0, len(script), 333):  # odd chunks: telegrams arrive in pieces
                    conn.sendall(script[pos : pos + 333])
                    time.sleep(0.001)
                time.sleep(0.1)
            self.served += 1
        self.server.close()

    def close(self) -> None:
        self.server.close()
        self.thread.join(5)


def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met within the timeout")
        time.sleep(0.02)


def test_a_telegram_is_one_hand_worked_reading():
    text = telegram("2026-06-01T10:00:00Z", 123.456, 200.0, 10.0, 20.5, 1.193, 0.0)
    assert "0-0:1.0.0(260601120000S)" in text  # 10:00 UTC is 12:00 CEST
    r = reading_from_telegram(text, "home_0")
    assert (r.member_id, r.channel, r.device_id) == ("home_0", "meter", METER)
    assert r.timestamp == pd.Timestamp("2026-06-01T10:00:00Z")
    assert r.values == {"import_kwh": 323.456, "export_kwh": 30.5, "power_w": 1193.0}
    winter = reading_from_telegram(telegram("2026-01-15T10:00:00Z", 1, 0, 0, 0, 0.0, 0.25), "home_0")
    assert winter.timestamp == pd.Timestamp("2026-01-15T10:00:00Z") and winter.values["power_w"] == -250.0
    with pytest.raises(ValueError, match="CRC mismatch"):
        reading_from_telegram(text.replace("323", "324").replace("000123.456", "000124.456"), "home_0")
    with pytest.raises(ValueError, match="no P1_MESSAGE_TIMESTAMP"):
        reading_from_telegram(telegram("2026-06-01T10:00:00Z", 1, 0, 0, 0, 0, 0, with_time=False), "home_0")


def journal_readings(exchange) -> list[tuple[str, str, int]]:
    out = []
    for _id, _kind, _signer, _seq, payload in exchange.journal.rows():
        event = json.loads(payload)
        if event.get("kind") == "reading":
            out += [(r["interval"], r["member_id"], r["energy_wh"]) for r in event["readings"]]
    return out


def test_bridge_stream_with_broken_telegrams_and_a_reconnect_gives_each_reading_once(exchange_client, caplog):
    exchange, operator = exchange_client
    telegrams = stream(60)  # 5 hours, 20 intervals
    broken_crc, no_time = 10, 22  # neither at a 15-min boundary (k % 3 == 0)
    scripts_text = [t for _u, t in telegrams]
    scripts_text[broken_crc] = telegram(str(telegrams[broken_crc][0]), 100 + 0.05 * broken_crc, 50.0,
                                        10 + 0.01 * broken_crc, 5.0, 0.6, 0.0, break_crc=True)  # fmt: skip
    scripts_text[no_time] = telegram(str(telegrams[no_time][0]), 1, 1, 1, 1, 0, 0, with_time=False)
    cut = scripts_text[30]
    first = "".join(scripts_text[:30]) + cut[: len(cut) // 2]  # the bridge dies mid-telegram
    second = "".join(scripts_text[28:])  # and replays two telegrams after it comes back
    bridge = Bridge([first.encode(), second.encode()])
    sunk = []

    def sink(batch):
        sunk.extend(batch)
        rows = exchange_rows(batch)
        if rows:
            response = operator.upload_readings(rows)
            assert response.status_code == 200, response.text

    caplog.set_level(logging.WARNING, logger="wattmesh.integrate.p1")
    good = [u for k, (u, _t) in enumerate(telegrams) if k not in (broken_crc, no_time)]
    try:
        with P1Reader(f"tcp://127.0.0.1:{bridge.port}", "home_3", sink, reconnect_s=0.05) as reader:
            wait_for(lambda: reader.stored >= len(good))
            time.sleep(0.2)  # anything late or repeated would show up now
    finally:
        bridge.close()
    assert sorted(r.timestamp for r in sunk) == good  # each good telegram once, none of the broken ones
    assert reader.rejected == 2 and reader.duplicates == 2 and reader.connections >= 2
    messages = [rec.getMessage() for rec in caplog.records]
    assert any("CRC mismatch" in m for m in messages)
    assert any("no P1_MESSAGE_TIMESTAMP" in m for m in messages)
    assert any("went away" in m for m in messages)
    # intervals k..k+1 (boundaries at telegrams 3k and 3k+3) all good: 120 Wh each (see stream)
    start = pd.Timestamp("2026-06-01T00:00:00Z")
    expected = [
        (f"{start + pd.Timedelta(minutes=15 * k):%Y-%m-%dT%H:%M:%SZ}", "home_3", 120) for k in range(19)
    ]
    assert sorted(journal_readings(exchange)) == expected
    assert {r.values["power_w"] for r in sunk} == {600.0}


def test_serial_port_url_and_a_falling_register_is_refused(caplog):
    """pyserial's socket:// port (a serial line over TCP, as a USB-serial server exposes it)."""
    telegrams = stream(9)
    texts = [t for _u, t in telegrams]
    texts[4] = telegram(str(telegrams[4][0]), 90.0, 50.0, 10.04, 5.0, 0.6, 0.0)  # import register fell
    bridge = Bridge(["".join(texts).encode()])
    sunk = []
    caplog.set_level(logging.WARNING, logger="wattmesh.integrate.p1")
    try:
        with P1Reader(f"socket://127.0.0.1:{bridge.port}", "home_1", sunk.extend) as reader:
            wait_for(lambda: reader.stored + reader.rejected >= 9)
    finally:
        bridge.close()
    assert [r.timestamp for r in sunk] == [u for k, (u, _t) in enumerate(telegrams) if k != 4]
    assert reader.rejected == 1
    assert any("register import_kwh fell to 140.0" in rec.getMessage() for rec in caplog.records)
    energy = [(r.interval, r.values["energy_wh"]) for r in sunk if "energy_wh" in r.values]
    assert energy == [
        (pd.Timestamp("2026-06-01T00:00:00Z"), 120.0),
        (pd.Timestamp("2026-06-01T00:15:00Z"), 120.0),
    ]
