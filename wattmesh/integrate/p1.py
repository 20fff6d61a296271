"""DSMR P1 meter telegrams (the smart meter's P1 port) read from a TCP bridge or a serial port.

A telegram (``/XXX5...`` to ``!CRC16``) is parsed with ``dsmr-parser`` (DSMR 5 by default, CRC checked) into
one ``meter`` reading: the import and export registers [kWh] (tariffs summed), the net power [W] and, on a
telegram stamped exactly at a market-interval boundary, the net energy of the interval that just ended
[Wh] (import positive), which is what the exchange's readings upload takes. Readings are deduplicated by
(meter, timestamp) and go through :func:`wattmesh.integrate.readings.quality_problems`, as MQTT's do.

A broken telegram (bad CRC, cut short, unparsable) is refused with a log line naming the meter stream and
the reason; the telegrams around it are read as usual. When the bridge or port goes away the reader
reconnects and drops the half-received telegram; a bridge that replays telegrams after a reconnect gives
no duplicates. Needs ``dsmr-parser`` (and ``pyserial`` for serial ports), the ``integrate`` extra.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from decimal import Decimal

import pandas as pd

from wattmesh.integrate.readings import Deduplicator, Reading, Sink, quality_problems

logger = logging.getLogger(__name__)

SPECIFICATIONS = ("V2_2", "V3", "V4", "V5", "BELGIUM_FLUVIUS", "LUXEMBOURG_SMARTY", "SWEDEN", "Q3D")


def telegram_parser(specification: str = "V5"):
    """A ``dsmr_parser`` TelegramParser for ``specification`` (a name of :data:`SPECIFICATIONS`)."""
    from dsmr_parser import telegram_specifications
    from dsmr_parser.parsers import TelegramParser

    if specification not in SPECIFICATIONS or not hasattr(telegram_specifications, specification):
        raise ValueError(f"specification {specification!r}: expected one of {', '.join(SPECIFICATIONS)}")
    return TelegramParser(getattr(telegram_specifications, specification))


def _value(telegram, name: str) -> float | None:
    item = getattr(telegram, name, None)
    if item is None:
        return None
    value = item.value
    return float(value) if isinstance(value, (Decimal, int, float)) else None


def reading_from_telegram(text: str, member_id: str, parser=None) -> Reading:
    """The reading of one telegram.

    Parameters
    ----------
    text : the telegram from ``/`` to the CRC line, with its CR LF line ends
    member_id : the home the meter belongs to
    parser : from :func:`telegram_parser` (DSMR 5 if None)

    Returns
    -------
    Reading
        channel "meter", device the equipment identifier (hex text as sent), ``import_kwh`` and
        ``export_kwh`` (sums over tariffs), ``power_w`` (delivered to the home minus fed back) [W].

    Raises
    ------
    ValueError
        naming the meter (when known), the field and the reason: a CRC mismatch, a missing timestamp.
    """
    from dsmr_parser.exceptions import InvalidChecksumError, ParseError

    parser = parser or telegram_parser()
    head = text.split("\r\n", 1)[0].strip()
    try:
        telegram = parser.parse(text)
    except InvalidChecksumError as exc:
        raise ValueError(f"P1 telegram {head!r}: CRC mismatch ({exc})") from exc
    except (ParseError, ValueError, IndexError) as exc:
        raise ValueError(f"P1 telegram {head!r}: unparsable ({exc})") from exc
    stamp_item = getattr(telegram, "P1_MESSAGE_TIMESTAMP", None)
    if stamp_item is None:
        raise ValueError(f"P1 telegram {head!r}: no P1_MESSAGE_TIMESTAMP (0-0:1.0.0); expected one")
    equipment = getattr(telegram, "EQUIPMENT_IDENTIFIER", None)
    device = str(equipment.value) if equipment is not None and equipment.value else head.lstrip("/")
    values: dict = {}
    for quantity, names in (
        ("import_kwh", ("ELECTRICITY_USED_TARIFF_1", "ELECTRICITY_USED_TARIFF_2")),
        ("export_kwh", ("ELECTRICITY_DELIVERED_TARIFF_1", "ELECTRICITY_DELIVERED_TARIFF_2")),
    ):
        parts = [v for v in (_value(telegram, n) for n in names) if v is not None]
        if parts:
            values[quantity] = round(sum(parts), 6)
    used, delivered = (
        _value(telegram, "CURRENT_ELECTRICITY_USAGE"),
        _value(telegram, "CURRENT_ELECTRICITY_DELIVERY"),
    )
    if used is not None or delivered is not None:
        values["power_w"] = round(1000.0 * ((used or 0.0) - (delivered or 0.0)), 3)
    if not values:
        raise ValueError(f"P1 telegram of meter {device!r}: no energy register or power; expected 1-0:1.8.x")
    stamp = pd.Timestamp(stamp_item.value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return Reading(member_id, "meter", device, stamp, values)


class IntervalEnergy:
    """Adds the interval's net energy to readings stamped at a market-interval boundary.

    The meter's net register (import minus export) at two consecutive boundaries gives the energy of the
    interval between them; the reading at the later boundary carries it as ``energy_wh`` with ``interval``
    its start. A missed boundary telegram leaves its two intervals without energy (never guessed).

    Parameters
    ----------
    interval_minutes : the market interval [min]
    """

    def __init__(self, interval_minutes: int = 15) -> None:
        self.step = pd.Timedelta(minutes=interval_minutes)
        self._last: dict[str, tuple[pd.Timestamp, float]] = {}

    def add(self, reading: Reading) -> Reading:
        values = reading.values
        if "import_kwh" not in values or reading.timestamp != reading.timestamp.floor(self.step):
            return reading
        net_kwh = values["import_kwh"] - values.get("export_kwh", 0.0)
        last = self._last.get(reading.device_id)
        self._last[reading.device_id] = (reading.timestamp, net_kwh)
        if last is None or reading.timestamp - last[0] != self.step:
            return reading
        energy_wh = round(1000.0 * (net_kwh - last[1]), 3)
        return Reading(reading.member_id, reading.channel, reading.device_id, reading.timestamp,
                       values | {"energy_wh": energy_wh}, reading.timestamp - self.step)  # fmt: skip


class P1Reader:
    """Reads telegrams from a P1 stream, in a thread, and hands fresh, checked readings to ``sink``.

    Parameters
    ----------
    source : ``"tcp://HOST:PORT"`` for a TCP bridge (ser2net, a P1 Wi-Fi dongle), or a pyserial URL or
        device path (``"/dev/ttyUSB0"``, ``"socket://HOST:PORT"``, ``"loop://"``) for a serial port
    member_id : the home the meter belongs to
    sink : stores a list of readings; a raise means "not stored" (the readings are kept and retried)
    specification : the DSMR version (see :data:`SPECIFICATIONS`)
    baudrate : the serial port's rate [baud] (DSMR 4/5: 115200 8N1; DSMR 2.2: 9600 7E1)
    interval_minutes : the market interval [min] of the ``energy_wh`` readings
    reconnect_s : the wait before reconnecting [s]

    Attributes
    ----------
    stored, duplicates, rejected : readings sunk, dropped as repeats, refused (bad telegram or checks)
    problems : the last 1,000 refusals, as their log messages
    connections : how many times the stream was (re)opened
    """

    def __init__(
        self,
        source: str,
        member_id: str,
        sink: Sink,
        specification: str = "V5",
        baudrate: int = 115200,
        interval_minutes: int = 15,
        reconnect_s: float = 0.2,
        max_power_w: float = 100_000.0,
    ) -> None:
        self.source, self.member_id, self.sink = source, member_id, sink
        self.parser = telegram_parser(specification)
        self.baudrate, self.reconnect_s, self.max_power_w = int(baudrate), float(reconnect_s), max_power_w
        self.energy = IntervalEnergy(interval_minutes)
        self.dedup = Deduplicator()
        self.stored = self.rejected = self.connections = 0
        self.problems: list[str] = []
        self.connected = threading.Event()
        self._unsunk: list[Reading] = []
        self._previous: list[Reading] = []  # the last accepted reading, for the register checks
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream = None

    @property
    def duplicates(self) -> int:
        return self.dedup.duplicates

    def start(self) -> P1Reader:
        self._thread = threading.Thread(target=self._run, name="wattmesh-p1", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop reading; readings the sink has not taken yet are tried once more."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._unsunk:
            self._sink_pending(final=True)

    def __enter__(self) -> P1Reader:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the stream ------------------------------------------------------------------------------------
    def _open(self):
        if self.source.startswith("tcp://"):
            host, _, port = self.source.removeprefix("tcp://").rpartition(":")
            if not port.isdigit():
                raise ValueError(f"source {self.source!r}: expected tcp://HOST:PORT")
            sock = socket.create_connection((host, int(port)), timeout=2.0)
            sock.settimeout(0.2)
            return sock
        import serial

        return serial.serial_for_url(self.source, baudrate=self.baudrate, timeout=0.2)

    def _read(self, stream) -> bytes:
        if isinstance(stream, socket.socket):
            try:
                data = stream.recv(65536)
            except TimeoutError:
                return b""
            if not data:
                raise ConnectionError("the bridge closed the connection")
            return data
        return stream.read(max(1, stream.in_waiting or 1))

    def _run(self) -> None:
        from dsmr_parser.clients.telegram_buffer import TelegramBuffer

        while not self._stop.is_set():
            try:
                stream = self._open()
            except (OSError, ImportError) as exc:
                logger.warning(
                    "P1 %s: cannot open (%s); retrying in %g s", self.source, exc, self.reconnect_s
                )
                self._stop.wait(self.reconnect_s)
                continue
            self._stream = stream
            self.connections += 1
            self.connected.set()
            buffer = TelegramBuffer()  # a half-received telegram of the last connection is dropped
            try:
                while not self._stop.is_set():
                    data = self._read(stream)
                    if data:
                        buffer.append(data.decode("ascii", errors="replace"))
                        self._handle(list(buffer.get_all()))
                    elif self._unsunk:
                        self._sink_pending()
            except (OSError, ConnectionError) as exc:
                if not self._stop.is_set():
                    logger.warning("P1 %s went away (%s); reconnecting, the half-received telegram is "
                                   "dropped", self.source, exc)  # fmt: skip
            finally:
                self.connected.clear()
                stream.close()
            self._stop.wait(self.reconnect_s)

    def _handle(self, telegrams: list[str]) -> None:
        readings = []
        for text in telegrams:
            try:
                readings.append(self.energy.add(reading_from_telegram(text, self.member_id, self.parser)))
            except ValueError as exc:
                self._refuse(str(exc))
        fresh = self.dedup.fresh(readings)
        problems = quality_problems(self._previous + fresh, self.max_power_w) if fresh else {}
        for r in fresh:
            if r.key in problems:
                self._refuse(f"P1 reading of meter {r.device_id!r} at {r.timestamp}: {problems[r.key]}")
            else:
                self._unsunk.append(r)
                self._previous = [r]
        if self._unsunk:
            self._sink_pending()

    def _sink_pending(self, final: bool = False) -> None:
        try:
            self.sink(self._unsunk)
        except Exception as exc:  # the sink's own failure: keep the readings and retry
            logger.warning("P1 %s: the sink failed (%s); keeping %d readings to retry", self.source, exc,
                           len(self._unsunk))  # fmt: skip
            if not final:
                time.sleep(0.1)
            return
        self.stored += len(self._unsunk)
        self._unsunk = []

    def _refuse(self, message: str) -> None:
        self.rejected += 1
        logger.warning("P1 %s: refused: %s", self.source, message)
        self.problems.append(message)
        del self.problems[:-1000]
