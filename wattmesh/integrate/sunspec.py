"""SunSpec over Modbus TCP: PV inverter readings (model 103) and battery set points (model 124).

The client is pysunspec2's (discovery of the 'SunS' marker at 40000 and the model chain, points decoded
with their scale factors); the device's common model (1) gives its serial number, the device id of its
readings. A Modbus exception or a lost connection gives a log line naming the device, the poll's time
and the error; the poll is retried (reconnecting) and, when every try fails, logged as missed: never a
reading made up, never one sunk twice (readings are deduplicated by device and poll time).

:class:`RegisterServer` runs a pymodbus TCP server in a thread holding a given register map, for tests,
benchmarks and demos. Needs ``pysunspec2`` and ``pymodbus`` (the ``integrate`` extra).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time

import pandas as pd

from wattmesh.integrate.readings import Deduplicator, Reading, Sink, quality_problems

logger = logging.getLogger(__name__)

INVERTER_MODELS = (103, 101, 102)  # three-phase, then single and split phase: same points
STORAGE_MODEL = 124


class SunSpecClient:
    """One SunSpec device (inverter with a battery) over Modbus TCP.

    Parameters
    ----------
    host, port : the device (or its Modbus TCP gateway)
    member_id : the home the device belongs to
    device_id : its id in readings (the common model's serial number if None)
    unit_id : the Modbus unit (slave) id
    timeout : the response timeout [s]
    revert_s : the battery falls back to its own control this long after a set point [s]
    """

    def __init__(self, host: str, port: int, member_id: str, device_id: str | None = None, unit_id: int = 1,
                 timeout: float = 2.0, revert_s: int = 900) -> None:  # fmt: skip
        self.host, self.port, self.member_id, self.unit_id = host, int(port), member_id, int(unit_id)
        self.timeout, self.revert_s = float(timeout), int(revert_s)
        self.device_id = device_id
        self.device = None

    def connect(self) -> SunSpecClient:
        """Connect and discover the models; raises ConnectionError naming the device."""
        from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

        self.close()
        device = SunSpecModbusClientDeviceTCP(slave_id=self.unit_id, ipaddr=self.host, ipport=self.port,
                                              timeout=self.timeout)  # fmt: skip
        try:
            device.scan()
        except Exception as exc:
            device.close()
            raise ConnectionError(
                f"SunSpec device {self.host}:{self.port}: discovery failed ({exc})"
            ) from exc
        self.device = device
        if self.device_id is None:
            common = device.models.get(1)
            serial = common[0].SN.value if common else None
            self.device_id = str(serial) if serial else f"{self.host}:{self.port}/{self.unit_id}"
        return self

    def close(self) -> None:
        if self.device is not None:
            self.device.close()
            self.device = None

    def __enter__(self) -> SunSpecClient:
        return self.connect()

    def __exit__(self, *exc) -> None:
        self.close()

    def _model(self, ids: tuple[int, ...], what: str):
        if self.device is None:
            self.connect()
        for model_id in ids:
            if model_id in self.device.models:
                return self.device.models[model_id][0]
        raise LookupError(f"SunSpec device {self.device_id!r}: no {what} model {'/'.join(map(str, ids))}")

    def read_inverter(self, at: pd.Timestamp | None = None) -> Reading:
        """PV power and energy: ``pv_power_w`` [W] (W x 10^W_SF) and ``pv_energy_wh`` [Wh] (WH x 10^WH_SF).

        ``at`` is the reading's timestamp (the poll's time; now if None). Raises the Modbus error.
        """
        inverter = self._model(INVERTER_MODELS, "inverter")
        inverter.read()
        values = {"pv_power_w": float(inverter.W.cvalue), "pv_energy_wh": float(inverter.WH.cvalue)}
        stamp = pd.Timestamp.now(tz="UTC") if at is None else pd.Timestamp(at).tz_convert("UTC")
        return Reading(self.member_id, "der", self.device_id, stamp, values)

    def read_battery(self, at: pd.Timestamp | None = None) -> Reading:
        """The battery's state of charge ``soc_pct`` [%] (model 124 ChaState)."""
        storage = self._model((STORAGE_MODEL,), "storage")
        storage.read()
        stamp = pd.Timestamp.now(tz="UTC") if at is None else pd.Timestamp(at).tz_convert("UTC")
        return Reading(self.member_id, "der", f"{self.device_id}/battery", stamp,
                       {"soc_pct": float(storage.ChaState.cvalue)})  # fmt: skip

    def write_battery_setpoint(self, power_w: float) -> dict:
        """Ask the battery for ``power_w`` [W], charging positive, as model 124 rate limits.

        Charging P: StorCtl_Mod = 3 (both limits on), InWRte = P / WChaMax [%], OutWRte = -InWRte (the
        discharge limit below zero forces charging at that rate); discharging the mirror image; 0 holds
        the battery idle. InOutWRte_RvrtTms = ``revert_s`` makes the battery fall back to its own control
        if no new set point comes.

        Returns
        -------
        dict
            the points written, in engineering units (% for the rates).

        Raises
        ------
        ValueError
            naming the field when ``power_w`` is beyond WChaMax.
        """
        storage = self._model((STORAGE_MODEL,), "storage")
        storage.read()
        max_w = float(storage.WChaMax.cvalue)
        if not abs(power_w) <= max_w:
            raise ValueError(f"battery set point power_w {power_w} W: beyond WChaMax {max_w:g} W of "
                             f"{self.device_id!r}; expected -{max_w:g}..{max_w:g}")  # fmt: skip
        rate_pct = 100.0 * power_w / max_w
        storage.StorCtl_Mod.value = 3
        storage.InWRte.cvalue = rate_pct
        storage.OutWRte.cvalue = -rate_pct
        storage.InOutWRte_RvrtTms.value = self.revert_s
        storage.write()
        return {
            "StorCtl_Mod": 3,
            "InWRte": rate_pct,
            "OutWRte": -rate_pct,
            "InOutWRte_RvrtTms": self.revert_s,
        }


class SunSpecPoller:
    """Polls inverters at given times and hands fresh, checked readings to ``sink``.

    Parameters
    ----------
    clients : the devices
    sink : stores a list of readings
    retries : tries per device and poll before the poll is logged as missed

    Attributes
    ----------
    stored, duplicates, missed, rejected : counters; ``errors`` the last 1,000 error messages
    """

    def __init__(self, clients: list[SunSpecClient], sink: Sink, retries: int = 3) -> None:
        self.clients, self.sink, self.retries = list(clients), sink, int(retries)
        self.dedup = Deduplicator()
        self.stored = self.missed = self.rejected = 0
        self.errors: list[str] = []
        self._previous: dict[str, Reading] = {}

    @property
    def duplicates(self) -> int:
        return self.dedup.duplicates

    def poll(self, at: pd.Timestamp) -> list[Reading]:
        """Read every device once for the poll at ``at`` (UTC); returns the readings sunk."""
        readings = []
        for client in self.clients:
            for attempt in range(1, self.retries + 1):
                try:
                    readings.append(client.read_inverter(at))
                    break
                except Exception as exc:
                    message = (f"SunSpec device {client.device_id or client.host!r} ({client.host}:{client.port}) "
                               f"poll {at}: try {attempt} of {self.retries} failed: {exc}")  # fmt: skip
                    logger.warning(message)
                    self.errors.append(message)
                    del self.errors[:-1000]
                    if "exception" not in str(exc).lower():  # a lost connection: reconnect
                        try:
                            client.connect()
                        except ConnectionError as again:
                            logger.warning("%s", again)
            else:
                self.missed += 1
                logger.error(
                    "SunSpec device %r poll %s: missed after %d tries", client.device_id, at, self.retries
                )
        fresh = self.dedup.fresh(readings)
        previous = [self._previous[r.device_id] for r in fresh if r.device_id in self._previous]
        problems = quality_problems(previous + fresh) if fresh else {}
        clean = []
        for r in fresh:
            if r.key in problems:
                self.rejected += 1
                logger.warning("SunSpec reading refused: %s", problems[r.key])
            else:
                clean.append(r)
                self._previous[r.device_id] = r
        if clean:
            self.sink(clean)
            self.stored += len(clean)
        return clean


class RegisterServer:
    """A pymodbus Modbus TCP server on ``host`` holding ``registers`` from ``address``, in a thread.

    Parameters
    ----------
    registers : holding register values (unsigned 16 bit) from ``address`` on
    action : pymodbus SimDevice action (``async f(function_code, start_address, address, count,
        current_registers, set_values)`` returning an ExcCodes member to answer with that exception)
    """

    def __init__(self, registers: list[int], address: int = 40000, host: str = "127.0.0.1", port: int = 0,
                 unit_id: int = 1, action=None) -> None:  # fmt: skip
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import SimData, SimDevice
        from pymodbus.simulator.simutils import DataType

        if not port:
            with socket.socket() as sock:
                sock.bind((host, 0))
                port = sock.getsockname()[1]
        self.host, self.port = host, int(port)
        device = SimDevice(id=unit_id, simdata=[SimData(address=address, values=list(registers),
                                                         datatype=DataType.REGISTERS)], action=action)  # fmt: skip
        self.loop = asyncio.new_event_loop()
        self.server = None
        ready = threading.Event()

        async def serve():
            self.server = ModbusTcpServer(device, address=(self.host, self.port))
            ready.set()
            await self.server.serve_forever()

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(serve())

        self.thread = threading.Thread(target=run, name="wattmesh-modbus-server", daemon=True)
        self.thread.start()
        ready.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex((self.host, self.port)) == 0:
                    return
            time.sleep(0.02)
        raise TimeoutError(f"Modbus server on {self.host}:{self.port} did not start")

    def stop(self) -> None:
        if self.server is not None and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(10)
        self.thread.join(10)
