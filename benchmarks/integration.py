"""Device integration throughput: MQTT readings/s into the live exchange's journal, SunSpec reads/s (and OCPP).

Each section starts the real peer on 127.0.0.1 (a Mosquitto broker, a pymodbus SunSpec server, ...) and
prints its figure beside the goal of issue 20. Sections are functions in :data:`SECTIONS`; choose with
``--only``:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/integration.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/integration.py --only mqtt,sunspec

To add a section, write ``def bench_<name>(args) -> list[Row]`` and register it in :data:`SECTIONS`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from wattmesh.service.live import free_port  # noqa: E402


@dataclass
class Row:
    """One measured figure: ``name``, the value with its unit, the goal, whether it is met."""

    name: str
    measured: str
    goal: str
    ok: bool | None


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def meter_readings(n_members: int, n_intervals: int) -> list:
    """One P1 meter per home, one reading per 15-min interval of 2026-06-01 onwards (distinct energies)."""
    from wattmesh.integrate.readings import Reading

    t0 = pd.Timestamp("2026-06-01T00:00:00Z")
    return [
        Reading(f"home_{i}", "meter", f"p1-{i}", t0 + pd.Timedelta(minutes=15 * (k + 1)),
                {"energy_wh": 100 + k + i}, t0 + pd.Timedelta(minutes=15 * k))
        for k in range(n_intervals) for i in range(n_members)
    ]  # fmt: skip


def _gateways(port: int, tag: str, n_members: int, n_intervals: int, ready, go) -> None:
    """Child process: 4 gateways (the homes' devices) publish every reading at QoS 1 once ``go`` is set."""
    from wattmesh.integrate.mqtt import MqttPublisher

    readings = meter_readings(n_members, n_intervals)
    gateways = [MqttPublisher("127.0.0.1", port, f"gw-{tag}-{g}").start() for g in range(4)]
    ready.set()
    go.wait(60)
    infos = [info for g, gateway in enumerate(gateways) for info in gateway.publish(readings[g::4])]
    for info in infos:
        info.wait_for_publish(120)
    for gateway in gateways:
        gateway.stop()


def mqtt_run(port: int, n_members: int, n_intervals: int, sink, flush_s: float, tag: str):
    """Publish the readings from 4 gateways in a separate process (devices are other machines) through one
    MqttTelemetry in this process into ``sink``: (stored, wall s, CPU s of this process)."""
    import multiprocessing

    from wattmesh.integrate.mqtt import MqttTelemetry

    n = n_members * n_intervals
    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    devices = ctx.Process(target=_gateways, args=(port, tag, n_members, n_intervals, ready, go), daemon=True)
    devices.start()
    try:
        with MqttTelemetry("127.0.0.1", port, sink, client_id=f"bench-{tag}", batch_size=2000,
                           flush_s=flush_s) as telemetry:  # fmt: skip
            if not ready.wait(60):
                raise TimeoutError("the gateways did not connect within 60 s")
            cpu0, wall0 = cpu_seconds(), time.perf_counter()
            go.set()
            deadline = time.monotonic() + 600
            while telemetry.stored < n and time.monotonic() < deadline:
                time.sleep(0.005)
            wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    finally:
        devices.terminate()
        devices.join(10)
    return telemetry.stored, wall, cpu


# -- MQTT ------------------------------------------------------------------------------------------------
def _mqtt_exchange_run(port: int, folder: Path, n_members: int, n_intervals: int, flush_s: float, tag: str):
    """One run into a fresh live exchange (SQLite journal, FULL sync) through the operator's readings
    upload over its HTTP API: (stored, readings in the journal, wall s, CPU s, sink wall s)."""
    from fastapi.testclient import TestClient

    from wattmesh.integrate.readings import exchange_rows
    from wattmesh.service.app import create_app
    from wattmesh.service.auth import secret_from_key_file
    from wattmesh.service.client import ExchangeClient
    from wattmesh.service.coop import load_coop, write_coop
    from wattmesh.service.engine import Exchange

    members = pd.DataFrame({"member_id": [f"home_{i}" for i in range(n_members)], "kind": "household"})
    write_coop(folder / "coop", members, name="bench co-op", seed=3,
               market={"clock": "manual", "start": "2026-06-01T00:00:00Z", "gate_closure_seconds": 300,
                       "horizon_hours": 24.0})  # fmt: skip
    coop = load_coop(folder / "coop")
    exchange = Exchange(coop, f"sqlite:///{folder / 'journal.db'}")
    sink_s = [0.0]
    with TestClient(create_app(exchange)) as http:
        operator = ExchangeClient("http://testserver", "operator",
                                  secret_from_key_file(coop.key_dir / "operator.key"), http=http)  # fmt: skip
        assert operator.set_clock("2026-06-03T00:00:00Z").status_code == 200

        def sink(batch):
            t_sink = time.perf_counter()
            rows = exchange_rows(batch)
            if rows:
                response = operator.upload_readings(rows)
                if response.status_code != 200:
                    raise RuntimeError(response.text)
            sink_s[0] += time.perf_counter() - t_sink

        stored, wall, cpu = mqtt_run(port, n_members, n_intervals, sink, flush_s, tag)
    in_journal = 0
    for *_, payload in exchange.journal.rows():
        event = json.loads(payload)
        if event.get("kind") == "reading":
            in_journal += len(event["readings"])
    return stored, in_journal, wall, cpu, sink_s[0]


def bench_mqtt(args) -> list[Row]:
    """Readings published at QoS 1 by 4 gateways (another process), through MqttTelemetry (dedup, checks,
    ack after store) into a live exchange's SQLite journal via the operator's readings upload; runs with a
    list as the sink (the adapter alone) interleaved with runs into the exchange, medians reported."""
    import statistics

    n_members, n_intervals = args.mqtt_members, 192
    n = n_members * n_intervals
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    alone_rates, rates, complete = [], [], True
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        (folder / "mosquitto.conf").write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n"
            "max_inflight_messages 1000\nuser root\nlog_dest stderr\nlog_type error\n"
        )
        broker = subprocess.Popen([exe, "-c", str(folder / "mosquitto.conf")])
        try:
            wait_port(port)
            for rep in range(args.mqtt_repeats):
                kept: list = []
                got, wall, cpu = mqtt_run(port, n_members, n_intervals, kept.extend, args.mqtt_flush_s,
                                          f"alone{rep}")  # fmt: skip
                alone_rates.append(got / wall)
                print(f"  mqtt run {rep + 1}, adapter alone (a list as the sink): {got:,} readings in "
                      f"{wall:.2f} s wall, {cpu:.2f} s CPU: {got / wall:,.0f} readings/s", flush=True)  # fmt: skip
                run_dir = folder / f"run{rep}"
                run_dir.mkdir()
                stored, in_journal, wall, cpu, sink_s = _mqtt_exchange_run(
                    port, run_dir, n_members, n_intervals, args.mqtt_flush_s, f"exchange{rep}"
                )
                rates.append(stored / wall)
                complete &= in_journal == n and stored == n
                print(f"  mqtt run {rep + 1}, into the exchange: {stored:,} readings ({in_journal:,} in the "
                      f"journal) in {wall:.2f} s wall, {cpu:.2f} s CPU of this process, {sink_s:.2f} s in the "
                      f"sink (the readings upload): {stored / wall:,.0f} readings/s", flush=True)  # fmt: skip
        finally:
            broker.send_signal(signal.SIGTERM)
            broker.wait(10)
    alone, rate = statistics.median(alone_rates), statistics.median(rates)
    runs = f"median of {len(rates)}"
    return [
        Row(f"MQTT QoS 1 readings, adapter alone ({runs})", f"{alone:,.0f} /s", "", None),
        Row(f"MQTT QoS 1 readings into the journal ({runs})", f"{rate:,.0f} /s", ">= 5,000 /s", rate >= 5000),
        Row("  every run: all stored once", f"{n:,} each" if complete else "NO", "all", complete),
    ]


# -- SunSpec ---------------------------------------------------------------------------------------------
def sunspec_registers() -> list[int]:
    """'SunS' at 40000, model 1 (serial 'BENCH-1'), model 103 (1234.5 W, 123,456,780 Wh), model 124, end."""
    import struct

    def text(value: str, n: int) -> list[int]:
        return list(struct.unpack(f">{n}H", value.encode().ljust(2 * n, b"\0")))

    m103 = [0] * 50
    m103[12], m103[13], m103[22], m103[23], m103[24] = 12345, 0xFFFF, 188, 24910, 1
    m124 = [0] * 24
    m124[0], m124[6], m124[20], m124[23] = 5000, 6543, 0xFFFE, 0xFFFE
    common = text("wattmesh", 16) + text("bench", 16) + text("", 8) + text("1", 8) + text("BENCH-1", 16)
    return [0x5375, 0x6E53, 1, 66, *common, 1, 0x8000, 103, 50, *m103, 124, 24, *m124, 0xFFFF, 0]


def bench_sunspec(args) -> list[Row]:
    """Model 103 reads (PV power and energy with their scale factors, pysunspec2) from a pymodbus server."""
    from wattmesh.integrate.sunspec import RegisterServer, SunSpecClient

    n = args.sunspec_reads
    server = RegisterServer(sunspec_registers())
    try:
        with SunSpecClient("127.0.0.1", server.port, member_id="home_0") as client:
            client.read_inverter()  # discovery is not part of the rate
            cpu0, wall0 = cpu_seconds(), time.perf_counter()
            for _ in range(n):
                client.read_inverter()
            wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    finally:
        server.stop()
    rate = n / wall
    print(f"  sunspec: {n:,} model 103 reads in {wall:.2f} s wall, {cpu:.2f} s CPU (client and server "
          f"in this process): {rate:,.0f} reads/s", flush=True)  # fmt: skip
    return [Row("SunSpec model 103 reads (one connection)", f"{rate:,.0f} /s", ">= 1,000 /s", rate >= 1000)]


def _ocpp_central_system(conn, stop) -> None:
    """Child process: the OCPP central system, counting readings; sends its port, then the count."""
    import asyncio

    from wattmesh.integrate.ocpp_cs import CentralSystem

    count = [0]

    async def serve():
        members = {f"cp-{i}": f"home_{i}" for i in range(100_000)}
        cs = CentralSystem(lambda batch: count.__setitem__(0, count[0] + len(batch)), members)
        conn.send(await cs.start())
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await cs.stop()

    asyncio.run(serve())
    conn.send(count[0])


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_ocpp(args) -> list[Row]:
    """N ocpp-package charge points (2.0.1) on one central system in its own process, MeterValues every 10 s."""
    import asyncio
    import multiprocessing as mp

    import websockets
    from ocpp.v201 import ChargePoint, call

    n, seconds, every_s = args.ocpp_chargers, args.ocpp_seconds, 10.0
    parent, child = mp.Pipe()
    stop = mp.Event()
    proc = mp.get_context("fork").Process(target=_ocpp_central_system, args=(child, stop), daemon=True)
    proc.start()
    port = parent.recv()
    start = pd.Timestamp("2026-06-01T00:00:00Z")

    async def charger(i: int, t0: float, sent: list) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port}/cp-{i}", subprotocols=["ocpp2.0.1"]) as ws:
            cp = ChargePoint(f"cp-{i}", ws)
            task = asyncio.create_task(cp.start())
            await cp.call(call.BootNotification(charging_station={"model": "b", "vendor_name": "b"},
                                                reason="PowerUp"))  # fmt: skip
            k = 0
            # spread the chargers over the 10 s period, as real ones are
            await asyncio.sleep(every_s * i / n)
            while time.monotonic() - t0 < seconds:
                stamp = (start + pd.Timedelta(seconds=every_s * k)).strftime("%Y-%m-%dT%H:%M:%SZ")
                sv = [
                    {
                        "value": 1000.0 + k,
                        "measurand": "Energy.Active.Import.Register",
                        "unit_of_measure": {"unit": "Wh"},
                    },
                    {"value": 7400.0, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W"}},
                ]
                await cp.call(
                    call.MeterValues(evse_id=1, meter_value=[{"timestamp": stamp, "sampled_value": sv}])
                )
                sent[0] += 1
                k += 1
                await asyncio.sleep(every_s)
            task.cancel()

    async def run() -> int:
        sent = [0]
        t0 = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(charger(i, t0, sent) for i in range(n))), seconds + 60)
        return sent[0]

    try:
        cpu0, wall0 = proc_cpu_seconds(proc.pid), time.perf_counter()
        sent = asyncio.run(run())
        wall, cpu = time.perf_counter() - wall0, proc_cpu_seconds(proc.pid) - cpu0
        stop.set()
        received = parent.recv() if parent.poll(10) else -1
    finally:
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
    share = cpu / wall
    print(f"  ocpp: {n} charge points, {sent} MeterValues sent, {received} readings kept, {wall:.1f} s wall; "
          f"central system {cpu:.2f} CPU s = {100 * share:.2f} % of one core", flush=True)  # fmt: skip
    return [
        Row(
            f"OCPP central system CPU, {n} chargers / 10 s", f"{100 * share:.2f} % of a core", "bounded", None
        ),
        Row("OCPP readings kept / MeterValues sent", f"{received} / {sent}", "equal", received == sent),
    ]


# Section registry: name -> function(args) -> rows. Other sections (ocpp) add one line here.
SECTIONS: dict[str, Callable] = {
    "mqtt": bench_mqtt,
    "sunspec": bench_sunspec,
    "ocpp": bench_ocpp,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated of {', '.join(SECTIONS)}"
    )
    parser.add_argument("--mqtt-members", type=int, default=100, help="homes (x 192 intervals of readings)")
    parser.add_argument("--mqtt-repeats", type=int, default=5, help="interleaved runs (median reported)")
    parser.add_argument("--mqtt-flush-s", type=float, default=0.05, help="MqttTelemetry's flush_s [s]")
    parser.add_argument("--sunspec-reads", type=int, default=5000)
    parser.add_argument("--ocpp-chargers", type=int, default=100)
    parser.add_argument("--ocpp-seconds", type=float, default=60.0, help="how long the chargers report [s]")
    args, _unknown = parser.parse_known_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"--only: unknown section(s) {unknown}; expected some of {', '.join(SECTIONS)}")
    rows: list[Row] = []
    for name in chosen:
        print(f"{name}:", flush=True)
        rows += SECTIONS[name](args)
    print(f"\n{'figure':45} {'measured':>24} {'goal':>14}  met")
    for row in rows:
        met = "" if row.ok is None else ("yes" if row.ok else "NO")
        print(f"{row.name:45} {row.measured:>24} {row.goal:>14}  {met}")


if __name__ == "__main__":
    main()
