"""Device readings: the record every adapter produces, deduplication, quality checks, exchange rows.

A reading is one measurement of one device at one time: a meter's energy over an interval, an inverter's
power and energy register, a charger's power and state of charge. Adapters deduplicate by (device,
timestamp), check values with :func:`quality_problems` (vectorised over the batch, with the register rule
of :mod:`wattmesh.quality.points`) and hand the fresh, clean ones to a sink.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

CHANNELS = ("meter", "der", "ev")
QUANTITIES = {
    "energy_wh": "energy over the interval starting at ``interval`` [Wh], import positive",
    "power_w": "active power at ``timestamp`` [W], import (or charging) positive",
    "import_kwh": "meter register of imported energy [kWh]",
    "export_kwh": "meter register of exported energy [kWh]",
    "pv_power_w": "PV inverter AC output [W]",
    "pv_energy_wh": "PV inverter lifetime energy register [Wh]",
    "soc_pct": "battery or vehicle state of charge [%]",
}


@dataclass(frozen=True)
class Reading:
    """One measurement of one device.

    Attributes
    ----------
    member_id : the home the device belongs to
    channel : "meter", "der" or "ev"
    device_id : the device's own id (meter serial, charger id, inverter serial)
    timestamp : when it was measured (tz-aware, UTC)
    values : quantity name -> value, names and units as in :data:`QUANTITIES`
    interval : start of the market interval ``energy_wh`` covers (meters), else None
    """

    member_id: str
    channel: str
    device_id: str
    timestamp: pd.Timestamp
    values: dict = field(default_factory=dict)
    interval: pd.Timestamp | None = None

    @property
    def key(self) -> tuple[str, int]:
        """What makes two readings the same: the device and the timestamp (ns)."""
        return (self.device_id, self.timestamp.value)


def utc_time(value, field_name: str) -> pd.Timestamp:
    """``value`` (ISO 8601 text, epoch seconds or a Timestamp) as a tz-aware UTC Timestamp.

    Raises
    ------
    ValueError
        naming the field and value when it is not a time or has no time zone.
    """
    try:
        stamp = pd.Timestamp(value, unit="s") if isinstance(value, (int, float)) else pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{field_name}: {value!r} is not a time; expected ISO 8601 with a zone") from exc
    if stamp is pd.NaT:
        raise ValueError(f"{field_name}: {value!r} is not a time; expected ISO 8601 with a zone")
    if stamp.tzinfo is None:
        if isinstance(value, (int, float)):
            return stamp.tz_localize("UTC")
        raise ValueError(f"{field_name}: {value!r} has no time zone; expected e.g. 2026-06-01T10:00:00Z")
    return stamp.tz_convert("UTC")


def reading_from_dict(member_id: str, channel: str, body: dict) -> Reading:
    """A reading from a JSON object ``{"device_id", "timestamp", "interval"?, <quantities>}``.

    Raises
    ------
    ValueError
        naming the field, the value and what was expected.
    """
    if channel not in CHANNELS:
        raise ValueError(f"channel {channel!r}: expected one of {', '.join(CHANNELS)}")
    if not isinstance(body, dict):
        raise ValueError(f"reading: {type(body).__name__} payload, expected a JSON object")
    device = body.get("device_id")
    if not isinstance(device, str) or not device:
        raise ValueError(f"device_id: {device!r}, expected a non-empty string")
    stamp = utc_time(body.get("timestamp"), "timestamp")
    values = {}
    for name in QUANTITIES:
        if name in body:
            value = body[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name}: {value!r}, expected a finite number")
            values[name] = value
    unknown = sorted(set(body) - set(QUANTITIES) - {"device_id", "timestamp", "interval"})
    if unknown:
        raise ValueError(f"reading of {device!r}: unknown field(s) {unknown}; expected {sorted(QUANTITIES)}")
    if not values:
        raise ValueError(f"reading of {device!r}: no quantity; expected one of {sorted(QUANTITIES)}")
    interval = utc_time(body["interval"], "interval") if "interval" in body else None
    if channel == "meter" and "energy_wh" in values and interval is None:
        raise ValueError(f"reading of {device!r}: energy_wh without interval; expected the interval's start")
    return Reading(member_id, channel, device, stamp, values, interval)


def reading_to_dict(reading: Reading) -> dict:
    """The JSON object of ``reading`` (the inverse of :func:`reading_from_dict`)."""
    body = {"device_id": reading.device_id, "timestamp": reading.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    if reading.interval is not None:
        body["interval"] = reading.interval.strftime("%Y-%m-%dT%H:%M:%SZ")
    return body | dict(reading.values)


class Deduplicator:
    """Remembers the last ``capacity`` reading keys and tells which readings are new.

    QoS 1 and reconnecting chargers deliver a message at least once; this makes it exactly once.
    """

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = int(capacity)
        self._seen: OrderedDict = OrderedDict()
        self.duplicates = 0

    def fresh(self, readings: Iterable[Reading]) -> list[Reading]:
        """The readings not seen before, in order (a repeat inside ``readings`` counts once)."""
        out = []
        for reading in readings:
            key = reading.key
            if key in self._seen:
                self.duplicates += 1
                continue
            self._seen[key] = None
            out.append(reading)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return out

    def forget(self, readings: Iterable[Reading]) -> None:
        """Forget ``readings`` (their sink failed, so a redelivery must pass)."""
        for reading in readings:
            self._seen.pop(reading.key, None)


def quality_problems(readings: list[Reading], max_power_w: float = 100_000.0) -> dict[tuple, str]:
    """Problems of each reading, by key: out-of-range values and falling registers, checked over the batch.

    The checks are vectorised over the readings (one array per quantity); a register that falls is found
    per device by :func:`wattmesh.quality.points.register_drops`, the same rule the quality checks apply.

    Parameters
    ----------
    readings : one batch (they may span several devices, in any order)
    max_power_w : largest plausible power of one home's device [W]

    Returns
    -------
    dict
        reading key -> message naming the device, the field, the value and what was expected (the last
        rule that applies: a fallen register, a negative value, a state of charge, a power).
    """
    from wattmesh.quality.points import register_drops

    if not readings:
        return {}
    present = set().union(*(r.values.keys() for r in readings))
    columns = {name: np.array([r.values.get(name, np.nan) for r in readings], float) for name in present}
    nan = np.full(len(readings), np.nan)
    message = np.full(len(readings), None, dtype=object)
    for name in ("power_w", "pv_power_w"):
        for k in np.flatnonzero(np.abs(columns.get(name, nan)) > max_power_w):
            r = readings[k]
            message[k] = (
                f"device {r.device_id!r}: {name} {r.values[name]} W is beyond the plausible {max_power_w:g} W"
            )
    soc = columns.get("soc_pct", nan)
    for k in np.flatnonzero((soc < 0) | (soc > 100)):
        message[k] = (
            f"device {readings[k].device_id!r}: soc_pct {readings[k].values['soc_pct']} is outside 0..100 %"
        )
    for name in ("pv_power_w", "pv_energy_wh", "import_kwh", "export_kwh"):
        for k in np.flatnonzero(columns.get(name, nan) < 0):
            r = readings[k]
            message[k] = f"device {r.device_id!r}: {name} {r.values[name]} is negative; expected >= 0"
    registers = [name for name in ("import_kwh", "export_kwh", "pv_energy_wh") if name in present]
    if registers:
        devices = np.array([r.device_id for r in readings], dtype=object)
        times = np.array([r.timestamp.value for r in readings], dtype=np.int64)
        for name in registers:
            clean = message == None  # noqa: E711 (elementwise on an object array)
            for k in np.flatnonzero(register_drops(devices, times, np.where(clean, columns[name], np.nan))):
                r = readings[k]
                message[k] = (f"device {r.device_id!r}: register {name} fell to {r.values[name]} at "
                              f"{r.timestamp}; expected a non-decreasing register")  # fmt: skip
    return {readings[k].key: message[k] for k in np.flatnonzero(message != None)}  # noqa: E711


def exchange_rows(readings: Iterable[Reading]) -> list[dict]:
    """The meter readings that carry an interval's energy, as the exchange's readings upload rows.

    Returns
    -------
    list of dict
        ``{"member_id", "interval" (ISO, UTC), "energy_wh" (int, import positive)}``.
    """
    return [
        {"member_id": r.member_id, "interval": r.interval.strftime("%Y-%m-%dT%H:%M:%SZ"),
         "energy_wh": int(round(r.values["energy_wh"]))}
        for r in readings
        if r.channel == "meter" and r.interval is not None and "energy_wh" in r.values
    ]  # fmt: skip


Sink = Callable[[list[Reading]], None]
