"""Benchmark of the live exchange on loopback: durable order throughput, latency, a gate-closure rush, restart
after SIGKILL with a day's journal, and 200 market-data subscribers.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/exchange.py [--seconds 60]

The server runs as its own process (``python -m wattmesh.service``, SQLite journal, synchronous=FULL); the
orders come pre-signed from a separate client process (an asyncio HTTP/1.1 client over keep-alive
connections; each connection owns a set of members so every member's sequence numbers arrive in order).
Every loop is bounded by a count and a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "1")

HOST = "127.0.0.1"
GOALS = {
    "throughput": ">= 1,000 orders/s",
    "latency": "p99 <= 50 ms",
    "gate rush": "all 2,000 acknowledged and cleared",
    "restart": "<= 5 s",
    "subscribers": "no sequence gap",
}


def make_coop(folder: Path, members: int, **market):
    from wattmesh.service.coop import write_coop

    frame = pd.DataFrame({"member_id": [f"m{i:04d}" for i in range(members)], "kind": "household"})
    settings = {"clock": "wall", "gate_closure_seconds": 300, "horizon_hours": 48.0} | market
    return write_coop(folder, frame, name="bench", seed=1, market=settings,
                      tariff={"retail_per_kwh": 0.32, "feed_in_per_kwh": 0.08, "local_fee_per_kwh": 0.02})  # fmt: skip


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(folder: Path, port: int) -> tuple[subprocess.Popen, float]:
    """The server process and the seconds until /health answered."""
    import httpx

    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "wattmesh.service", str(folder), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{HOST}:{port}/health", timeout=1).status_code == 200:
                return process, time.perf_counter() - started
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        time.sleep(0.02)
    process.kill()
    raise TimeoutError("server did not start")


def stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        os.kill(process.pid, sig)
        process.wait(timeout=60)


# -- the client process ------------------------------------------------------------------------------------
def raw_request(signed, port: int) -> bytes:
    head = [
        f"{signed.method} {signed.path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        f"Content-Length: {len(signed.body)}",
    ]
    head += [f"{k}: {v}" for k, v in signed.headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + signed.body


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with one request in flight: :meth:`request` sends raw bytes and
    returns the status of the answer (parsed by hand: the client must cost little beside the server)."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        del self.buffer[: end + 4 + length]
        waiter, self.waiter = self.waiter, None
        waiter.set_result(int(head[9:12]))

    def connection_lost(self, exc) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    async def request(self, raw: bytes) -> int:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


async def connect(port: int, count: int) -> list[Connection]:
    loop = asyncio.get_running_loop()
    return [(await loop.create_connection(Connection, HOST, port))[1] for _ in range(count)]


def order_maker(folder: Path, members: int, deliveries: list[str], prefix: str):
    """A function (member index, k, timestamp [ms]) -> signed order request; members' keys loaded once."""
    from wattmesh.service.auth import secret_from_key_file
    from wattmesh.service.client import ExchangeClient

    clients = [ExchangeClient(f"http://{HOST}", f"m{i:04d}", secret_from_key_file(folder / "keys" / f"m{i:04d}.key"))
               for i in range(members)]  # fmt: skip
    rng = np.random.default_rng(5)

    def make(m: int, k: int, timestamp_ms: int):
        side = "buy" if m % 2 == 0 else "sell"
        price = int(rng.integers(8000, 30000))
        body = {"order_id": f"{prefix}-{m}-{k}", "side": side, "delivery_start": deliveries[k % len(deliveries)],
                "energy_wh": int(rng.integers(100, 3000)), "price_per_kwh_e5": price}  # fmt: skip
        return clients[m].sign("POST", "/orders", body, timestamp_ms=timestamp_ms)

    return make


def client_main(task: str, args: dict, results) -> None:
    results.put(asyncio.run(CLIENT_TASKS[task](**args)))


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system


EPOCH_S = 30.0  # orders sent in one epoch carry its middle as timestamp: within +-15 s of their send time


async def closed_loop(folder, port, members, deliveries, seconds, connections, max_rate=2500.0):
    """As many orders as the server acknowledges over ``connections`` keep-alive connections, one request in
    flight on each. Every order is signed before the clock starts: an epoch of 30 s has its own pre-signed
    orders, all stamped with the epoch's middle (so every timestamp is within 15 s of its send time) and
    enough of them for ``max_rate`` orders/s; a connection that runs out waits for the next epoch (and the
    result says so). Each connection owns a set of members, so a member's sequence numbers arrive in order."""
    make = order_maker(Path(folder), members, deliveries, "t")
    epochs = int(np.ceil(seconds / EPOCH_S))
    per_connection = int(np.ceil(max_rate * EPOCH_S / connections))
    total = epochs * connections * per_connection
    began = time.perf_counter()
    for k in range(200):
        make(k % members, -1 - k, 0)
    t0 = time.time() + (time.perf_counter() - began) / 200 * total * 1.5 + 2.0
    signed = [[[] for _ in range(connections)] for _ in range(epochs)]
    k = 0
    for e in range(epochs):
        stamp_ms = int((t0 + EPOCH_S * (e + 0.5)) * 1000)
        for w in range(connections):
            mine = range(w, members, connections)
            for j in range(per_connection):
                signed[e][w].append(raw_request(make(mine[j % len(mine)], k, stamp_ms), port))
                k += 1
    presign_s = time.perf_counter() - began
    pool = await connect(port, connections)
    await asyncio.sleep(max(0.0, t0 - time.time()))
    cpu0, wall0 = _cpu_s(), time.perf_counter()
    deadline = time.time() + seconds
    counts = {"ok": 0, "other": 0, "ran_out": 0}

    async def worker(w: int):
        used = [0] * epochs
        while (now := time.time()) < deadline:
            e = min(int((now - t0) // EPOCH_S), epochs - 1)
            if used[e] == per_connection:
                counts["ran_out"] += 1
                await asyncio.sleep(min(deadline, t0 + EPOCH_S * (e + 1)) - now)
                continue
            status = await pool[w].request(signed[e][w][used[e]])
            used[e] += 1
            counts["ok" if status == 200 else "other"] += 1

    await asyncio.gather(*(worker(w) for w in range(connections)))
    wall = time.perf_counter() - wall0
    for conn in pool:
        conn.transport.close()
    return counts | {"seconds": wall, "client_cpu_s": _cpu_s() - cpu0, "presign_s": presign_s}


async def open_loop(folder, port, members, deliveries, rate, seconds, start_at=None, connections=64):
    """Orders at a fixed rate from ``start_at`` (Unix time; default just after signing), each signed with its
    planned send time. Latency runs from the planned send time to the acknowledgement, so a queue inside the
    client counts too. Member m always uses connection m % connections: its orders arrive in seq order."""
    make = order_maker(Path(folder), members, deliveries, "l")
    n = int(round(rate * seconds))
    t0 = start_at
    if t0 is None:  # after the signing, whose time is estimated from 100 signatures
        began = time.perf_counter()
        for k in range(100):
            make(k % members, -1 - k, 0)
        t0 = time.time() + (time.perf_counter() - began) / 100 * n * 2.0 + 1.0
    signed = [raw_request(make(i % members, i, int((t0 + i / rate) * 1000)), port) for i in range(n)]
    pool = await connect(port, connections)
    locks = [asyncio.Lock() for _ in range(connections)]
    latencies, statuses = np.full(n, np.nan), np.zeros(n, int)
    loop_t0 = time.perf_counter() + (t0 - time.time())

    async def send(i: int):
        slot = (i % members) % connections
        async with locks[slot]:
            statuses[i] = await pool[slot].request(signed[i])
        latencies[i] = time.perf_counter() - (loop_t0 + i / rate)

    cpu0 = _cpu_s()
    tasks = []
    for i in range(n):
        delay = loop_t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i)))
    await asyncio.gather(*tasks)
    for conn in pool:
        conn.transport.close()
    ms = latencies * 1000
    return {"n": n, "ok": int((statuses == 200).sum()), "refused": int((statuses != 200).sum()),
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()),
            "first_sent": t0, "last_acked": time.time(), "client_cpu_s": _cpu_s() - cpu0}  # fmt: skip


class Subscriber(asyncio.Protocol):
    """One SSE subscriber: the seq of every message it received, in order (parsed in bulk, cheaply)."""

    def __init__(self) -> None:
        self.tail = b""
        self.seqs: list[int] = []
        self.lasted = True

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(f"GET /market/stream HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())

    def data_received(self, data: bytes) -> None:
        lines = (self.tail + data).split(b"\n")
        self.tail = lines.pop()
        self.seqs.extend(json.loads(line[6:])["seq"] for line in lines if line.startswith(b"data: "))

    def connection_lost(self, exc) -> None:
        self.lasted = False


async def subscribers(port, count, ready, target, max_seconds=600.0):
    """``count`` SSE subscribers: once all have their snapshot, ``ready`` is set; each reads until it has the
    message ``target.value`` (set by the parent once the orders are in) or ``max_seconds`` passed. Per
    subscriber: messages after the snapshot, sequence gaps (the first delta must be one above the
    snapshot's seq, each next one above the last) and whether its stream lasted."""
    loop = asyncio.get_running_loop()
    subs = [(await loop.create_connection(Subscriber, HOST, port))[1] for _ in range(count)]
    deadline = time.perf_counter() + max_seconds
    while not all(sub.seqs for sub in subs) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    ready.set()
    while time.perf_counter() < deadline:
        goal = target.value
        if goal > 0 and all(not sub.lasted or (sub.seqs and sub.seqs[-1] >= goal) for sub in subs):
            break
        await asyncio.sleep(0.1)
    results = []
    for sub in subs:
        sub.transport.close()
        seqs = [q for q in sub.seqs if q <= target.value] if target.value > 0 else sub.seqs
        gaps = sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b != a + 1)
        results.append((len(seqs) - 1, gaps, sub.lasted and bool(seqs) and seqs[-1] == target.value))
    return results


CLIENT_TASKS = {"closed_loop": closed_loop, "open_loop": open_loop, "subscribers": subscribers}


def client_process(task: str, **args):
    """Start a client task in a separate (spawned) process; (process, result queue)."""
    context = mp.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=client_main, args=(task, args, results))
    process.start()
    return process, results


def in_client_process(task: str, **args):
    """Run a client task in a separate (spawned) process and return its result."""
    process, results = client_process(task, **args)
    try:
        return results.get(timeout=900)
    finally:
        process.join(timeout=60)
        if process.is_alive():
            os.kill(process.pid, signal.SIGKILL)
            process.join(timeout=10)


def next_deliveries(coop, count: int) -> list[str]:
    step = pd.Timedelta(minutes=coop.interval_minutes)
    first = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=coop.gate_closure_s) + 2 * step).ceil(step)
    return [(first + k * step).strftime("%Y-%m-%dT%H:%M:%SZ") for k in range(count)]


# -- the scenarios -----------------------------------------------------------------------------------------
def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (its threads included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Window:
    """Wall, server-CPU and load figures of one measurement."""

    def __init__(self, server: subprocess.Popen) -> None:
        self.server = server
        self.cpu0 = process_cpu_s(server.pid)
        self.wall0 = time.perf_counter()
        self.load0 = os.getloadavg()[0]

    def close(self) -> dict:
        return {"wall_s": time.perf_counter() - self.wall0, "server_cpu_s": process_cpu_s(self.server.pid) - self.cpu0,
                "load": (self.load0, os.getloadavg()[0])}  # fmt: skip


def bench_throughput(work: Path, seconds: float) -> dict:
    coop = make_coop(work / "throughput", 256)
    port = free_port()
    server, _ = start_server(coop.folder, port)
    try:
        process, results = client_process("closed_loop", folder=str(coop.folder), port=port, members=256,
                                          deliveries=next_deliveries(coop, 8), seconds=seconds, connections=64)  # fmt: skip
        # the server's CPU is counted from here: the client's signing (before its clock starts) costs it none
        window = Window(server)
        out = results.get(timeout=900)
        figures = window.close()
        process.join(timeout=60)
    finally:
        stop(server)
    from wattmesh.service.engine import rebuild_state
    from wattmesh.service.journal import Journal

    journal = Journal(coop.default_db_url)
    journaled = sum(1 for o in rebuild_state(journal).orders.values() if o["order_id"].startswith("t-"))
    journal.close()
    return out | figures | {"journaled": journaled, "per_s": out["ok"] / out["seconds"]}


def bench_latency(work: Path, rate: float, seconds: float) -> dict:
    coop = make_coop(work / "latency", 256)
    port = free_port()
    server, _ = start_server(coop.folder, port)
    try:
        window = Window(server)
        out = in_client_process("open_loop", folder=str(coop.folder), port=port, members=256,
                                deliveries=next_deliveries(coop, 8), rate=rate, seconds=seconds)  # fmt: skip
        return out | window.close()
    finally:
        stop(server)


def bench_rush(work: Path, orders: int = 2000, lead_s: float = 30.0) -> dict:
    """``orders`` orders in the last 10 s before a gate (1-min intervals, gate 5 s before delivery): the
    client process signs them, each with its planned send time, and starts sending 10 s before the gate."""
    import httpx

    coop = make_coop(work / "rush", 500, interval_minutes=1, gate_closure_seconds=5, horizon_hours=1.0)
    port = free_port()
    server, _ = start_server(coop.folder, port)
    try:
        now = pd.Timestamp.now(tz="UTC")
        delivery = (now + pd.Timedelta(seconds=5 + 10 + lead_s)).ceil("1min")
        gate = delivery - pd.Timedelta(seconds=5)
        first = gate.timestamp() - 10.0
        rate = orders / 9.5  # the last order is planned half a second before the gate
        window = Window(server)
        out = in_client_process("open_loop", folder=str(coop.folder), port=port, members=500,
                                deliveries=[delivery.strftime("%Y-%m-%dT%H:%M:%SZ")], rate=rate,
                                seconds=orders / rate, start_at=first)  # fmt: skip
        figures = window.close()
        cleared = None
        deadline = time.monotonic() + 30
        while cleared is None and time.monotonic() < deadline:
            answer = httpx.get(f"http://{HOST}:{port}/intervals/{delivery.strftime('%Y-%m-%dT%H:%M:%SZ')}")
            if answer.status_code == 200:
                cleared = answer.json()
            else:
                time.sleep(0.2)
    finally:
        stop(server)
    cleared = cleared or {"report": {}, "trades": []}
    return out | figures | {"started_before_gate_s": gate.timestamp() - out["first_sent"],
                            "last_ack_before_gate_s": gate.timestamp() - out["last_acked"],
                            "cleared_orders": cleared["report"].get("orders", 0), "trades": len(cleared["trades"])}  # fmt: skip


def bench_restart(work: Path) -> dict:
    """A day's journal (120 members, 96 intervals: orders, clearings, readings, settlements), then SIGKILL and
    restart: seconds from the new process's start to /health answering (interpreter start included)."""
    from wattmesh.service.engine import Exchange

    folder = work / "restart"
    coop = make_coop(folder, 120, clock="manual", start="2026-06-01T00:00:00Z")
    rng = np.random.default_rng(3)
    index = pd.date_range("2026-06-01", periods=96, freq="15min", tz="UTC")
    last = coop.step - pd.Timedelta(seconds=coop.gate_closure_s + 1)  # just before the next interval's gate
    refused = 0
    # building the day is set-up, not measured: without fsync (the server then opens it with FULL)
    with Exchange(coop, synchronous="OFF").open() as exchange:
        seq = 0
        for t, start in enumerate(index):
            seq += 1
            stamp = start.strftime("%Y-%m-%dT%H:%M:%SZ")
            for m in range(120):
                side = "buy" if (m + t) % 2 else "sell"
                answer = exchange.call("order", f"m{m:04d}", t + 1, {"order_id": f"d{t}-{m}", "side": side, "delivery_start": stamp,
                                       "energy_wh": int(rng.integers(100, 3000)), "price_per_kwh_e5": int(rng.integers(8000, 30000))})  # fmt: skip
                refused += answer.status != 200
            answer = exchange.call(
                "operator_clock", "operator", seq, {"now": (start + last).strftime("%Y-%m-%dT%H:%M:%SZ")}
            )
            refused += answer.status != 200
        seq += 1
        exchange.call("operator_clock", "operator", seq, {"now": "2026-06-02T00:20:00Z"})
        readings = [{"member_id": f"m{m:04d}", "interval": s.strftime("%Y-%m-%dT%H:%M:%SZ"), "energy_wh": int(v)}
                    for s in index for m, v in zip(range(120), rng.integers(-2000, 2000, 120), strict=True)]  # fmt: skip
        refused += exchange.call("readings", "operator", seq + 1, {"readings": readings}).status != 200
        events = exchange.state.journal_id
        counts = {"orders": len(exchange.state.orders), "cleared": len(exchange.state.clearings),
                  "settled": len(exchange.state.statements), "trades": sum(len(c["trades"]) for c in exchange.state.clearings.values())}  # fmt: skip
    port = free_port()
    server, first = start_server(folder, port)
    os.kill(server.pid, signal.SIGKILL)
    server.wait(timeout=30)
    load0 = os.getloadavg()[0]
    server, after_kill = start_server(folder, port)
    cpu = process_cpu_s(server.pid)
    stop(server)
    started, cpu0 = time.perf_counter(), _cpu_s()
    Exchange(coop).open().close()
    rebuild, rebuild_cpu = time.perf_counter() - started, _cpu_s() - cpu0
    return counts | {"events": events, "refused": refused, "first_start_s": first, "restart_s": after_kill,
                     "restart_cpu_s": cpu, "open_rebuild_s": rebuild, "open_rebuild_cpu_s": rebuild_cpu,
                     "load": (load0, os.getloadavg()[0])}  # fmt: skip


def bench_subscribers(work: Path, count: int = 200, seconds: float = 12.0, rate: float = 100.0) -> dict:
    """``count`` SSE subscribers connected (each has its snapshot), then orders at ``rate`` for ``seconds``
    from another process: every subscriber must get every message up to the last one published once the
    orders are in, without a gap."""
    coop = make_coop(work / "stream", 256)
    port = free_port()
    server, _ = start_server(coop.folder, port)
    try:
        context = mp.get_context("spawn")
        ready, target = context.Event(), context.Value("q", 0)
        readers, per_queue = client_process("subscribers", port=port, count=count, ready=ready, target=target)
        if not ready.wait(timeout=240):
            raise TimeoutError("the subscribers did not connect")
        window = Window(server)
        orders = in_client_process("open_loop", folder=str(coop.folder), port=port, members=256,
                                   deliveries=next_deliveries(coop, 4), rate=rate, seconds=seconds)  # fmt: skip
        # every subscriber must get every message up to the last one published now
        import httpx

        target.value = httpx.get(f"http://{HOST}:{port}/market/snapshot", timeout=30).json()["seq"]
        per = per_queue.get(timeout=300)
        figures = window.close()
        readers.join(timeout=60)
    finally:
        stop(server)
    messages = [n for n, _, _ in per]
    return figures | {"subscribers": len(per), "orders_ok": orders["ok"], "messages_min": min(messages),
                      "messages_max": max(messages), "gaps": sum(g for _, g, _ in per),
                      "lasted": sum(1 for _, _, alive in per if alive)}  # fmt: skip


def commit_ms(work: Path, n: int = 100) -> tuple[float, float]:
    """p50 and p99 of one small SQLite commit (WAL, synchronous=FULL) on this disk [ms]: the floor of an
    acknowledgement's latency."""
    import sqlite3

    conn = sqlite3.connect(work / "fsync.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    times = []
    for k in range(n):
        began = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (?, ?)", (k, "x" * 300))
        conn.execute("COMMIT")
        times.append((time.perf_counter() - began) * 1000)
    conn.close()
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of the throughput run [s]")
    parser.add_argument("--only", default="throughput,latency,rush,restart,subscribers")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wattmesh-bench-exchange-"))
    rows = []
    only = args.only.split(",")
    if "throughput" in only:
        r = bench_throughput(work, args.seconds)
        rows.append(("throughput", f"{r['per_s']:,.0f} orders/s durably acknowledged ({r['ok']:,} in {r['seconds']:.0f} s, "
                     f"{r['journaled']:,} in the journal, {r['other']} refused; {r['ok'] / r['server_cpu_s']:,.0f} orders per "
                     f"server CPU-second"
                     f"{', the pre-signed orders ran out' if r['ran_out'] else ''})",
                     f"{r['server_cpu_s']:.1f} s server, {r['client_cpu_s']:.1f} s client / {r['seconds']:.1f} s",
                     r["load"], r["per_s"] >= 1000 and r["journaled"] == r["ok"]))  # fmt: skip
    if "latency" in only:
        r = bench_latency(work, 200.0, 30.0)
        rows.append(("latency", f"at 200 orders/s for 30 s: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max "
                     f"{r['max_ms']:.0f} ms ({r['ok']:,}/{r['n']:,} acknowledged)",
                     f"{r['server_cpu_s']:.1f} s server, {r['client_cpu_s']:.1f} s client / {r['wall_s']:.1f} s",
                     r["load"], r["p99_ms"] <= 50 and r["ok"] == r["n"]))  # fmt: skip
    if "rush" in only:
        r = bench_rush(work)
        ok = r["ok"] == r["n"] and r["cleared_orders"] == r["n"]
        rows.append(("gate rush", f"{r['ok']:,}/{r['n']:,} acknowledged, sent from {r['started_before_gate_s']:.1f} s to "
                     f"{r['last_ack_before_gate_s']:.1f} s before the gate (p99 {r['p99_ms']:.0f} ms); "
                     f"{r['cleared_orders']:,} cleared into {r['trades']:,} trades",
                     f"{r['server_cpu_s']:.1f} s server, {r['client_cpu_s']:.1f} s client / {r['wall_s']:.1f} s",
                     r["load"], ok))  # fmt: skip
    if "restart" in only:
        r = bench_restart(work)
        rows.append(("restart", f"a day's journal ({r['events']:,} events: {r['orders']:,} orders, {r['cleared']} intervals "
                     f"cleared into {r['trades']:,} trades, {r['settled']} settled): SIGKILL, then {r['restart_s']:.2f} s "
                     f"from process start to /health (opening the journal, rebuilding, ledger catch-up alone "
                     f"{r['open_rebuild_s']:.2f} s)",
                     f"{r['restart_cpu_s']:.1f} s server / {r['restart_s']:.1f} s", r["load"],
                     r["restart_s"] <= 5 and r["refused"] == 0 and r["settled"] == 96))  # fmt: skip
    if "subscribers" in only:
        r = bench_subscribers(work)
        rows.append(("subscribers", f"{r['subscribers']} SSE subscribers while {r['orders_ok']:,} orders came in: "
                     f"{r['messages_min']:,}-{r['messages_max']:,} messages each, {r['gaps']} gaps, "
                     f"{r['lasted']} got every message to the last one",
                     f"{r['server_cpu_s']:.1f} s server / {r['wall_s']:.1f} s", r["load"],
                     r["gaps"] == 0 and r["subscribers"] == r["lasted"] == 200))  # fmt: skip
    fsync_p50, fsync_p99 = commit_ms(work)
    print(f"\nlive exchange on loopback, SQLite journal (WAL, synchronous=FULL), {os.cpu_count()} cores; one "
          f"SQLite commit on this disk: p50 {fsync_p50:.1f} ms, p99 {fsync_p99:.1f} ms; load = 1-min load "
          "average at the start and the end of each measurement\n")  # fmt: skip
    print("| measure | result | CPU / wall | load | goal | met |")
    print("|---|---|---|---|---|---|")
    for name, text, cpu, load, met in rows:
        print(
            f"| {name} | {text} | {cpu} | {load[0]:.1f} - {load[1]:.1f} | {GOALS[name]} | {'yes' if met else 'NO'} |"
        )


if __name__ == "__main__":
    main()
