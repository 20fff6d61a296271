"""MQTT telemetry against a real Mosquitto broker into a real live exchange: each reading once, even across a
broker restart and repeated deliveries; malformed and implausible messages refused with a log line."""

from __future__ import annotations

import json
import logging
import time

import pandas as pd
import pytest

from wattmesh.integrate.mqtt import MqttPublisher, MqttTelemetry, parse_message, topic_of
from wattmesh.integrate.readings import Reading, exchange_rows

pytestmark = pytest.mark.integration


def meter_readings(n_members: int, n_intervals: int) -> list[Reading]:
    """Distinct interval energies: home i, interval k -> 10 * k + i - 300 Wh (import positive)."""
    start = pd.Timestamp("2026-06-01T00:00:00Z")
    out = []
    for k in range(n_intervals):
        interval = start + pd.Timedelta(minutes=15 * k)
        for i in range(n_members):
            out.append(Reading(f"home_{i}", "meter", f"p1-{i}", interval + pd.Timedelta(minutes=15),
                               {"energy_wh": 10 * k + i - 300}, interval))  # fmt: skip
    return out


def journal_readings(exchange) -> list[tuple[str, str, int]]:
    """Every (interval, member, energy_wh) the journal holds, one per recorded reading."""
    out = []
    for _id, _kind, _signer, _seq, payload in exchange.journal.rows():
        event = json.loads(payload)
        if event.get("kind") == "reading":
            out += [(r["interval"], r["member_id"], r["energy_wh"]) for r in event["readings"]]
    return out


def exchange_sink(operator):
    def sink(batch):
        rows = exchange_rows(batch)
        if rows:
            response = operator.upload_readings(rows)
            assert response.status_code == 200, response.text

    return sink


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met within the timeout")
        time.sleep(0.05)


def test_topic_and_payload_round_trip():
    reading = meter_readings(1, 1)[0]
    topic = topic_of(reading.member_id, "meter")
    assert topic == "wattmesh/home_0/meter"
    from wattmesh.integrate.readings import reading_to_dict

    assert parse_message(topic, json.dumps(reading_to_dict(reading)).encode()) == [reading]
    with pytest.raises(ValueError, match="energy_wh: 'ten'"):
        parse_message(topic, b'{"device_id": "m", "timestamp": "2026-06-01T00:00:00Z", "energy_wh": "ten"}')
    with pytest.raises(ValueError, match="expected wattmesh/<member>/meter"):
        parse_message("wattmesh/home_0/gas", b"{}")


def test_readings_arrive_once_across_a_broker_restart(broker, exchange_client, caplog):
    exchange, operator = exchange_client
    readings = meter_readings(8, 150)  # 1,200 distinct readings
    caplog.set_level(logging.WARNING, logger="wattmesh.integrate.mqtt")
    with MqttTelemetry("127.0.0.1", broker.port, exchange_sink(operator), batch_size=200) as telemetry:
        device = MqttPublisher("127.0.0.1", broker.port, "meter-gateway").start()
        device.publish(readings[:400])
        wait_for(lambda: telemetry.stored >= 300)
        broker.stop()  # mid-stream: some messages in flight, some not yet sent
        wait_for(lambda: not telemetry.connected.is_set())
        device.publish(readings[400:800])  # queued by the device while the broker is away
        broker.start()
        device.publish(readings[800:])
        device.publish(readings[:100])  # a gateway that resends after its own restart
        wait_for(lambda: telemetry.stored == len(readings) and telemetry.duplicates >= 100, timeout=60)
        time.sleep(0.5)  # anything late would show up now
        device.stop()
    assert telemetry.stored == len(readings)
    assert telemetry.rejected == 0
    expected = sorted((r["interval"], r["member_id"], r["energy_wh"]) for r in exchange_rows(readings))
    assert sorted(journal_readings(exchange)) == expected
    held = {k: v for k, v in exchange.state.readings.items() if v[1] != "accepted"}
    assert held == {}
    assert any("went away" in rec.getMessage() for rec in caplog.records)


def test_malformed_and_implausible_messages_are_refused_and_logged(broker, exchange_client, caplog):
    exchange, operator = exchange_client
    good = meter_readings(2, 3)
    caplog.set_level(logging.WARNING, logger="wattmesh.integrate.mqtt")
    with MqttTelemetry("127.0.0.1", broker.port, exchange_sink(operator)) as telemetry:
        device = MqttPublisher("127.0.0.1", broker.port, "mixed-devices").start()
        device.publish(good[:3])
        device.client.publish("wattmesh/home_0/meter", b"{not json", qos=1)
        device.client.publish("wattmesh/home_1/ev", json.dumps(
            {"device_id": "ev-1", "timestamp": "2026-06-01T10:00:00Z", "soc_pct": 140}), qos=1)  # fmt: skip
        device.client.publish("wattmesh/home_1/der", json.dumps(
            {"device_id": "inv-1", "timestamp": "2026-06-01T10:00:00Z", "pv_power_w": 2.5e9}), qos=1)  # fmt: skip
        device.publish(good[3:])
        wait_for(lambda: telemetry.stored == len(good) and telemetry.rejected == 3)
        device.stop()
    messages = [rec.getMessage() for rec in caplog.records]
    assert any("wattmesh/home_0/meter" in m and "not JSON" in m for m in messages)
    assert any("soc_pct 140 is outside 0..100" in m for m in messages)
    assert any("pv_power_w 2500000000.0 W is beyond" in m for m in messages)
    assert sorted(journal_readings(exchange)) == sorted(
        (r["interval"], r["member_id"], r["energy_wh"]) for r in exchange_rows(good)
    )
