"""Telemetry over MQTT: home devices publish readings on ``wattmesh/<member>/meter|der|ev`` at QoS 1.

The subscriber keeps a persistent session (clean_session off), so the broker queues what arrives while it
is away, and acknowledges a message only after the sink has stored its reading (paho's manual ack): a
reading is delivered at least once, and the deduplication by (device, timestamp) makes it once. Needs
``paho-mqtt`` (the ``integrate`` extra).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable

from wattmesh.integrate.readings import (
    CHANNELS,
    Deduplicator,
    Reading,
    Sink,
    quality_problems,
    reading_from_dict,
    reading_to_dict,
)

logger = logging.getLogger(__name__)

TOPIC_PREFIX = "wattmesh"
PUBLISH_WINDOW = 50  # QoS 1 messages a device keeps in flight (unacknowledged by the broker)


def topic_of(member_id: str, channel: str) -> str:
    """The topic a device of ``member_id`` publishes ``channel`` readings on."""
    if channel not in CHANNELS:
        raise ValueError(f"channel {channel!r}: expected one of {', '.join(CHANNELS)}")
    if not member_id or any(c in member_id for c in "/+#"):
        raise ValueError(f"member_id {member_id!r}: expected a non-empty id without '/', '+' or '#'")
    return f"{TOPIC_PREFIX}/{member_id}/{channel}"


def parse_message(topic: str, payload: bytes) -> list[Reading]:
    """The readings of one message: a JSON object or a list of them, on ``wattmesh/<member>/<channel>``.

    Raises
    ------
    ValueError
        naming the topic and the field at fault.
    """
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != TOPIC_PREFIX or parts[2] not in CHANNELS:
        raise ValueError(f"topic {topic!r}: expected {TOPIC_PREFIX}/<member>/{'|'.join(CHANNELS)}")
    try:
        body = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"topic {topic!r}: payload is not JSON ({exc})") from exc
    items = body if isinstance(body, list) else [body]
    try:
        return [reading_from_dict(parts[1], parts[2], item) for item in items]
    except ValueError as exc:
        raise ValueError(f"topic {topic!r}: {exc}") from exc


def _client(client_id: str, clean_session: bool, manual_ack: bool, max_inflight: int = 1000):
    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    client.reconnect_delay_set(min_delay=0.1, max_delay=2)
    client.max_inflight_messages_set(max_inflight)
    client.max_queued_messages_set(0)
    return client


class MqttTelemetry:
    """Subscribes to every member's telemetry and hands fresh, checked readings to ``sink`` in batches.

    Parameters
    ----------
    host, port : the broker
    sink : stores a batch of readings; a raise means "not stored" (the batch is retried, not acked)
    client_id : the persistent session's id (the broker keeps the subscription and queue under it)
    batch_size, flush_s : a batch goes to the sink when it holds this many readings or is this old [s]
    max_power_w : largest plausible device power [W] (see :func:`quality_problems`)

    Attributes
    ----------
    stored, duplicates, rejected : counters of readings sunk, dropped as repeats, refused by the checks
    problems : the last 1,000 refusals, ``(topic, message)``
    """

    def __init__(
        self,
        host: str,
        port: int,
        sink: Sink,
        client_id: str = "wattmesh-exchange",
        batch_size: int = 2000,
        flush_s: float = 0.05,
        max_power_w: float = 100_000.0,
    ) -> None:
        self.host, self.port, self.sink = host, int(port), sink
        self.batch_size, self.flush_s, self.max_power_w = int(batch_size), float(flush_s), max_power_w
        self.dedup = Deduplicator()
        self.stored = self.rejected = 0
        self.problems: list[tuple[str, str]] = []
        self.connected = threading.Event()
        self._pending: list[tuple[int, int, list[Reading], str]] = []
        self._pending_readings = 0  # readings (or refusals) in _pending, kept so a message costs O(1)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self.client = _client(client_id, clean_session=False, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    @property
    def duplicates(self) -> int:
        return self.dedup.duplicates

    def start(self, timeout: float = 10.0) -> MqttTelemetry:
        """Connect (retrying until ``timeout``), subscribe, and start the network and flush threads."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.client.connect(self.host, self.port, keepalive=10)
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise ConnectionError(f"MQTT broker {self.host}:{self.port}: {exc}") from exc
                time.sleep(0.1)
        self._flusher = threading.Thread(target=self._flush_loop, name="wattmesh-mqtt-flush", daemon=True)
        self._flusher.start()
        self.client.loop_start()
        if not self.connected.wait(max(0.1, deadline - time.monotonic())):
            raise ConnectionError(f"MQTT broker {self.host}:{self.port}: no CONNACK within {timeout} s")
        return self

    def stop(self) -> None:
        """Store what is pending, then disconnect."""
        self._stop.set()
        self._wake.set()
        if self._flusher is not None:
            self._flusher.join(timeout=30)
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> MqttTelemetry:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            logger.error("MQTT broker %s:%s refused the connection: %s", self.host, self.port, reason_code)
            return
        client.subscribe(f"{TOPIC_PREFIX}/+/+", qos=1)
        logger.info("MQTT connected to %s:%s, subscribed to %s/+/+", self.host, self.port, TOPIC_PREFIX)
        self.connected.set()

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            logger.warning(
                "MQTT broker %s:%s went away (%s); reconnecting, unacknowledged readings will be redelivered",
                self.host, self.port, reason_code,
            )  # fmt: skip

    def _on_message(self, _client, _userdata, message) -> None:
        try:
            readings, problem = parse_message(message.topic, message.payload), ""
        except ValueError as exc:
            readings, problem = [], str(exc)
        with self._lock:
            self._pending.append((message.mid, message.qos, readings, problem or message.topic))
            self._pending_readings += len(readings) or 1
            full = self._pending_readings >= self.batch_size
        if full:
            self._wake.set()

    def _flush_loop(self) -> None:
        while True:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            stopping = self._stop.is_set()
            with self._lock:
                batch, self._pending, self._pending_readings = self._pending, [], 0
            if batch:
                self._store(batch)
            if stopping:
                return

    def _store(self, batch: list[tuple[int, int, list[Reading], str]]) -> None:
        readings: list[Reading] = []
        for _mid, _qos, items, note in batch:
            if not items:
                self._refuse(note.split(":", 1)[0].removeprefix("topic ").strip("'"), note)
            readings.extend(items)
        fresh = self.dedup.fresh(readings)
        problems = quality_problems(fresh, self.max_power_w) if fresh else {}
        clean = [r for r in fresh if r.key not in problems]
        for r in fresh:
            if r.key in problems:
                self._refuse(f"{TOPIC_PREFIX}/{r.member_id}/{r.channel}", problems[r.key])
        for attempt in range(1_000_000):
            try:
                if clean:
                    self.sink(clean)
                break
            except Exception as exc:  # the sink's own failure: keep the batch, ack nothing, retry
                if self._stop.is_set() and attempt >= 3:
                    self.dedup.forget(clean)
                    logger.error("MQTT: sink failed %d times while stopping (%s); %d readings left unacked "
                                 "for the broker to redeliver", attempt + 1, exc, len(clean))  # fmt: skip
                    return
                logger.warning("MQTT: the sink failed (%s); retrying %d readings", exc, len(clean))
                time.sleep(min(2.0, 0.05 * 2**attempt))
        self.stored += len(clean)
        for mid, qos, _items, _note in batch:
            if qos > 0:
                self.client.ack(mid, qos)

    def _refuse(self, topic: str, message: str) -> None:
        self.rejected += 1
        logger.warning("MQTT reading refused on %s: %s", topic, message)
        self.problems.append((topic, message))
        del self.problems[:-1000]


class MqttPublisher:
    """A device side: publishes readings at QoS 1 on a persistent session, queueing while the broker is away.

    Parameters
    ----------
    host, port : the broker
    client_id : the device's session id
    """

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.host, self.port = host, int(port)
        # a small window: paho scans the in-flight messages on every PUBACK, so a window of 1,000 costs
        # a device ~1,000 steps per message it publishes (measured: 4 gateways then manage ~500 msg/s)
        self.client = _client(client_id, clean_session=False, manual_ack=False, max_inflight=PUBLISH_WINDOW)
        self.connected = threading.Event()
        self.client.on_connect = lambda *a: self.connected.set()
        self.client.on_disconnect = lambda *a: self.connected.clear()

    def start(self, timeout: float = 10.0) -> MqttPublisher:
        self.client.connect(self.host, self.port, keepalive=10)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            raise ConnectionError(f"MQTT broker {self.host}:{self.port}: no CONNACK within {timeout} s")
        return self

    def publish(self, readings: Iterable[Reading]):
        """Publish each reading as its own message; returns paho's message infos."""
        return [
            self.client.publish(topic_of(r.member_id, r.channel), json.dumps(reading_to_dict(r)), qos=1)
            for r in readings
        ]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
