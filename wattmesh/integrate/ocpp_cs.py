"""OCPP central system: EV chargers' meter values in, charging profiles from the home's plan out.

Speaks OCPP 2.0.1 and 1.6J (the ``ocpp`` package over ``websockets``); the version is the WebSocket
subprotocol the charger asks for. Accepts BootNotification, Heartbeat, StatusNotification, Authorize,
TransactionEvent (2.0.1) or Start/StopTransaction (1.6) and MeterValues; every sampled value becomes a
:class:`~wattmesh.integrate.readings.Reading` on channel ``"ev"``, deduplicated by (device, timestamp), so a
charger that resends after reconnecting is counted once. :func:`charging_profile_from_plan` turns an EV
plan in kW per interval into a charging profile and :meth:`CentralSystem.send_plan` sends it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
import websockets
from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201

from wattmesh.integrate.readings import Deduplicator, Reading, quality_problems, utc_time

logger = logging.getLogger(__name__)

SUBPROTOCOLS = ("ocpp2.0.1", "ocpp1.6")
_UNIT_TO_KWH = {"Wh": 1e-3, "kWh": 1.0}
_UNIT_TO_W = {"W": 1.0, "kW": 1e3}


def charging_profile_from_plan(
    ev_kw: np.ndarray,
    start: pd.Timestamp,
    interval_s: int,
    profile_id: int,
    version: str = "ocpp2.0.1",
    stack_level: int = 0,
) -> dict:
    """A TxDefaultProfile whose periods are the plan's EV charging power.

    Parameters
    ----------
    ev_kw : (intervals,) planned charging power of one charger [kW], >= 0
    start : start of the first interval (tz-aware)
    interval_s : length of one interval [s]
    profile_id : the profile's id at the charger
    version : "ocpp2.0.1" or "ocpp1.6"
    stack_level : the profile's stack level

    Returns
    -------
    dict
        the ``chargingProfile`` (2.0.1) or ``csChargingProfiles`` (1.6) object in snake_case, limits in W,
        one period per change of power (equal neighbouring intervals merge).
    """
    ev_kw = np.asarray(ev_kw, dtype=float)
    if ev_kw.ndim != 1 or ev_kw.size == 0:
        raise ValueError(f"ev_kw: shape {ev_kw.shape}; expected one plan of >= 1 intervals")
    if not np.all(np.isfinite(ev_kw)) or np.any(ev_kw < 0):
        raise ValueError(f"ev_kw: {ev_kw.tolist()} has a negative or non-finite power; expected >= 0 kW")
    if version not in SUBPROTOCOLS:
        raise ValueError(f"version: {version!r}; expected one of {SUBPROTOCOLS}")
    limit_w = np.round(ev_kw * 1000.0, 1)
    changes = np.flatnonzero(np.r_[True, limit_w[1:] != limit_w[:-1]])
    periods = [{"start_period": int(i * interval_s), "limit": float(limit_w[i])} for i in changes]
    schedule = {
        "start_schedule": utc_time(start, "start").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration": int(ev_kw.size * interval_s),
        "charging_rate_unit": "W",
        "charging_schedule_period": periods,
    }
    profile = {
        "id": int(profile_id),
        "stack_level": int(stack_level),
        "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Absolute",
    }
    if version == "ocpp1.6":
        return {
            "charging_profile_id": profile.pop("id"),
            **profile,
            "charging_schedule": schedule,
        }
    return {**profile, "charging_schedule": [{"id": int(profile_id), **schedule}]}


def plan_from_charging_profile(profile: dict, interval_s: int) -> np.ndarray:
    """The plan [kW per interval] a charging profile (snake_case or camelCase, 2.0.1 or 1.6) stands for.

    The inverse of :func:`charging_profile_from_plan`, used to check what a charger received.
    """
    schedule = profile.get("charging_schedule", profile.get("chargingSchedule"))
    if isinstance(schedule, list):
        schedule = schedule[0]
    periods = schedule.get("charging_schedule_period", schedule.get("chargingSchedulePeriod"))
    unit = schedule.get("charging_rate_unit", schedule.get("chargingRateUnit"))
    if unit != "W":
        raise ValueError(f"chargingRateUnit: {unit!r}; expected 'W'")
    n = int(schedule["duration"]) // int(interval_s)
    out = np.zeros(n)
    starts = [int(p.get("start_period", p.get("startPeriod"))) // interval_s for p in periods] + [n]
    for p, a, b in zip(periods, starts[:-1], starts[1:], strict=True):
        out[a:b] = float(p["limit"]) / 1000.0
    return out


def readings_from_meter_values(
    member_id: str, device_id: str, meter_value: list[dict], version: str
) -> list[Reading]:
    """Readings from an OCPP ``meterValue`` list (snake_case keys as the ``ocpp`` package gives them).

    Energy.Active.Import.Register -> ``import_kwh``, Power.Active.Import -> ``power_w``, SoC -> ``soc_pct``;
    other measurands are ignored. A 1.6 value is text, a 2.0.1 value a number with ``unit_of_measure``.
    """
    out = []
    for mv in meter_value:
        stamp = utc_time(mv["timestamp"], "meterValue.timestamp")
        values: dict[str, float] = {}
        for sv in mv.get("sampled_value", []):
            measurand = sv.get("measurand", "Energy.Active.Import.Register")
            if sv.get("phase"):
                continue
            value = float(sv["value"])
            if version == "ocpp1.6":
                unit = sv.get("unit")
                multiplier = 0
            else:
                uom = sv.get("unit_of_measure") or {}
                unit, multiplier = uom.get("unit"), int(uom.get("multiplier", 0))
            value *= 10.0**multiplier
            if measurand == "Energy.Active.Import.Register":
                unit = unit or "Wh"
                if unit not in _UNIT_TO_KWH:
                    raise ValueError(f"charger {device_id!r}: energy unit {unit!r}; expected Wh or kWh")
                values["import_kwh"] = value * _UNIT_TO_KWH[unit]
            elif measurand == "Power.Active.Import":
                unit = unit or "W"
                if unit not in _UNIT_TO_W:
                    raise ValueError(f"charger {device_id!r}: power unit {unit!r}; expected W or kW")
                values["power_w"] = value * _UNIT_TO_W[unit]
            elif measurand == "SoC":
                values["soc_pct"] = value
        if values:
            out.append(Reading(member_id, "ev", device_id, stamp, values))
    return out


class CentralSystem:
    """The exchange's OCPP central system: one WebSocket server, one session per charger.

    Parameters
    ----------
    sink : called with each batch of fresh, clean readings
    member_of : charger id -> member id (unknown chargers are refused at connection)
    heartbeat_s : heartbeat interval told to chargers at boot [s]
    """

    def __init__(
        self,
        sink: Callable[[list[Reading]], None],
        member_of: dict[str, str],
        heartbeat_s: int = 300,
    ) -> None:
        self.sink = sink
        self.member_of = dict(member_of)
        self.heartbeat_s = int(heartbeat_s)
        self.dedup = Deduplicator()
        self.sessions: dict[str, ChargePoint16 | ChargePoint201] = {}
        self.status: dict[str, str] = {}
        self.rejected = 0
        self._server = None
        self._seen_chargers: set[str] = set()
        self._tx_ids = itertools.count(1)
        self._profile_ids = itertools.count(1)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0: a free port); returns the port."""
        self._server = await websockets.serve(self._on_connect, host, port, subprotocols=list(SUBPROTOCOLS))
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close every session and the server."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def receive(self, readings: list[Reading]) -> None:
        """Deduplicate, check and hand readings to the sink; a failing sink lets a redelivery pass."""
        fresh = self.dedup.fresh(readings)
        problems = quality_problems(fresh)
        for message in problems.values():
            logger.warning("ocpp: reading dropped: %s", message)
        clean = [r for r in fresh if r.key not in problems]
        self.rejected += len(fresh) - len(clean)
        if not clean:
            return
        try:
            self.sink(clean)
        except Exception:
            self.dedup.forget(clean)
            raise

    async def _on_connect(self, ws) -> None:
        charger_id = ws.request.path.strip("/").rsplit("/", 1)[-1]
        if charger_id not in self.member_of:
            logger.warning("ocpp: charger %r is not known; closing", charger_id)
            await ws.close(1008, "unknown charger")
            return
        if ws.subprotocol not in SUBPROTOCOLS:
            logger.warning("ocpp: charger %r offered no supported subprotocol; closing", charger_id)
            await ws.close(1002, "expected ocpp2.0.1 or ocpp1.6")
            return
        cls = _Session201 if ws.subprotocol == "ocpp2.0.1" else _Session16
        session = cls(charger_id, ws)
        session.cs = self
        if charger_id in self._seen_chargers:
            logger.info("ocpp: charger %r reconnected (%s)", charger_id, ws.subprotocol)
        self.sessions[charger_id] = session
        self._seen_chargers.add(charger_id)
        try:
            await session.start()
        except websockets.ConnectionClosed:
            logger.info("ocpp: charger %r disconnected", charger_id)
        finally:
            if self.sessions.get(charger_id) is session:
                del self.sessions[charger_id]

    async def send_plan(
        self,
        charger_id: str,
        ev_kw: np.ndarray,
        start: pd.Timestamp,
        interval_s: int,
        evse_id: int = 1,
        timeout_s: float = 10.0,
    ) -> str | None:
        """Send SetChargingProfile built from ``ev_kw`` [kW per interval]; returns the charger's status.

        Returns None (and logs which charger refused and why) when the charger answers with a CALLERROR.
        """
        session = self.sessions.get(charger_id)
        if session is None:
            raise KeyError(f"charger_id: {charger_id!r} is not connected; connected: {sorted(self.sessions)}")
        version = "ocpp1.6" if isinstance(session, _Session16) else "ocpp2.0.1"
        profile = charging_profile_from_plan(ev_kw, start, interval_s, next(self._profile_ids), version)
        if version == "ocpp1.6":
            request = call16.SetChargingProfile(connector_id=evse_id, cs_charging_profiles=profile)
        else:
            request = call201.SetChargingProfile(evse_id=evse_id, charging_profile=profile)
        try:
            response = await asyncio.wait_for(session.call(request, suppress=False), timeout_s)
        except OCPPError as exc:
            logger.error(
                "ocpp: charger %r answered SetChargingProfile with CALLERROR %s: %s",
                charger_id,
                type(exc).__name__,
                exc.description,
            )
            return None
        return response.status


class _Session16(ChargePoint16):
    cs: CentralSystem

    def _now(self) -> str:
        return pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")

    @on(Action16.boot_notification)
    def on_boot(self, charge_point_vendor, charge_point_model, **_):
        logger.info("ocpp: charger %r booted (1.6, %s %s)", self.id, charge_point_vendor, charge_point_model)
        return result16.BootNotification(current_time=self._now(), interval=self.cs.heartbeat_s,
                                         status="Accepted")  # fmt: skip

    @on(Action16.heartbeat)
    def on_heartbeat(self, **_):
        return result16.Heartbeat(current_time=self._now())

    @on(Action16.status_notification)
    def on_status(self, connector_id, error_code, status, **_):
        self.cs.status[f"{self.id}:{connector_id}"] = status
        return result16.StatusNotification()

    @on(Action16.authorize)
    def on_authorize(self, id_tag, **_):
        return result16.Authorize(id_tag_info={"status": "Accepted"})

    @on(Action16.start_transaction)
    def on_start(self, connector_id, id_tag, meter_start, timestamp, **_):
        return result16.StartTransaction(
            transaction_id=next(self.cs._tx_ids), id_tag_info={"status": "Accepted"}
        )

    @on(Action16.stop_transaction)
    def on_stop(self, meter_stop, timestamp, transaction_id, transaction_data=None, **_):
        if transaction_data:
            self.cs.receive(self._readings(1, transaction_data))
        return result16.StopTransaction()

    @on(Action16.meter_values)
    def on_meter_values(self, connector_id, meter_value, **_):
        self.cs.receive(self._readings(connector_id, meter_value))
        return result16.MeterValues()

    def _readings(self, connector_id, meter_value):
        member = self.cs.member_of[self.id]
        return readings_from_meter_values(member, f"{self.id}:{connector_id}", meter_value, "ocpp1.6")


class _Session201(ChargePoint201):
    cs: CentralSystem

    def _now(self) -> str:
        return pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")

    @on(Action201.boot_notification)
    def on_boot(self, charging_station, reason, **_):
        logger.info("ocpp: charger %r booted (2.0.1, %s)", self.id, reason)
        return result201.BootNotification(current_time=self._now(), interval=self.cs.heartbeat_s,
                                          status="Accepted")  # fmt: skip

    @on(Action201.heartbeat)
    def on_heartbeat(self, **_):
        return result201.Heartbeat(current_time=self._now())

    @on(Action201.status_notification)
    def on_status(self, timestamp, connector_status, evse_id, connector_id, **_):
        self.cs.status[f"{self.id}:{evse_id}"] = connector_status
        return result201.StatusNotification()

    @on(Action201.authorize)
    def on_authorize(self, id_token, **_):
        return result201.Authorize(id_token_info={"status": "Accepted"})

    @on(Action201.transaction_event)
    def on_transaction_event(self, event_type, timestamp, trigger_reason, seq_no, transaction_info, **kw):
        evse = kw.get("evse") or {}
        if kw.get("meter_value"):
            self.cs.receive(self._readings(evse.get("id", 1), kw["meter_value"]))
        return result201.TransactionEvent()

    @on(Action201.meter_values)
    def on_meter_values(self, evse_id, meter_value, **_):
        self.cs.receive(self._readings(evse_id, meter_value))
        return result201.MeterValues()

    def _readings(self, evse_id, meter_value):
        member = self.cs.member_of[self.id]
        return readings_from_meter_values(member, f"{self.id}:{evse_id}", meter_value, "ocpp2.0.1")
