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
    "rush": "all 2,000 acknowledged and cleared",
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


async def read_response(reader) -> tuple[int, bytes]:
    status = int((await reader.readline()).split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return status, await reader.readexactly(length)


def order_maker(folder: Path, members: int, deliveries: list[str], prefix: str):
    """A function (member index, k) -> signed order request, members' keys loaded once."""
    from wattmesh.service.auth import secret_from_key_file
    from wattmesh.service.client import ExchangeClient

    clients = [ExchangeClient(f"http://{HOST}", f"m{i:04d}", secret_from_key_file(folder / "keys" / f"m{i:04d}.key"))
               for i in range(members)]  # fmt: skip
    rng = np.random.default_rng(5)

    def make(m: int, k: int, timestamp_ms: int | None = None):
        side = "buy" if m % 2 == 0 else "sell"
        price = int(rng.integers(8000, 30000))
        body = {"order_id": f"{prefix}-{m}-{k}", "side": side, "delivery_start": deliveries[k % len(deliveries)],
                "energy_wh": int(rng.integers(100, 3000)), "price_per_kwh_e5": price}  # fmt: skip
        return clients[m].sign("POST", "/orders", body, timestamp_ms=timestamp_ms)

    return make


def client_main(task: str, args: dict, results: mp.Queue) -> None:
    results.put(asyncio.run(CLIENT_TASKS[task](**args)))


async def closed_loop(folder, port, members, deliveries, seconds, connections, chunk=200):
    """As many orders as the server acknowledges: ``connections`` keep-alive connections, each sending its
    members' orders one after another, signed in chunks just before sending (timestamps stay fresh)."""
    make = order_maker(Path(folder), members, deliveries, "t")
    deadline = time.perf_counter() + seconds
    counts = {"ok": 0, "other": 0}

    async def worker(w: int):
        reader, writer = await asyncio.open_connection(HOST, port)
        mine = list(range(w, members, connections))
        k = 0
        while time.perf_counter() < deadline and k < 10**7:
            batch = [raw_request(make(mine[(k + j) % len(mine)], k + j), port) for j in range(chunk)]
            for raw in batch:
                if time.perf_counter() >= deadline:
                    break
                writer.write(raw)
                status, _ = await read_response(reader)
                counts["ok" if status == 200 else "other"] += 1
            k += chunk
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(connections)))
    return {"ok": counts["ok"], "other": counts["other"], "seconds": time.perf_counter() - started}


async def open_loop(folder, port, members, deliveries, rate, seconds, connections=32):
    """Orders at a fixed rate (pre-signed with their send times); the latency of each acknowledgement."""
    make = order_maker(Path(folder), members, deliveries, "l")
    n = int(rate * seconds)
    t0 = time.time() + 2.0
    signed = []
    for i in range(n):
        # signed with the time it will be sent at, so pre-signing minutes of orders stays within +-30 s
        signed.append(raw_request(make(i % members, i, int((t0 + i / rate) * 1000)), port))
    latencies, statuses = [], []
    pools = [await asyncio.open_connection(HOST, port) for _ in range(connections)]
    locks = [asyncio.Lock() for _ in range(connections)]

    async def send(i: int):
        # member i % members always uses the same connection, so its orders arrive in seq order
        slot = (i % members) % connections
        async with locks[slot]:
            reader, writer = pools[slot]
            begin = time.perf_counter()
            writer.write(signed[i])
            status, _ = await read_response(reader)
            latencies.append(time.perf_counter() - begin)
            statuses.append(status)

    loop_start = time.perf_counter() + (t0 - time.time())
    tasks = []
    for i in range(n):
        delay = loop_start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i)))
    await asyncio.gather(*tasks)
    ms = np.array(latencies) * 1000
    return {"n": n, "ok": statuses.count(200), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}  # fmt: skip


async def subscribers(port, count, seconds):
    """``count`` SSE subscribers reading for ``seconds``: messages each and sequence gaps."""
    results = []

    async def subscribe():
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(f"GET /market/stream HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        seqs = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            try:
                line = await asyncio.wait_for(
                    reader.readline(), timeout=max(0.01, deadline - time.perf_counter())
                )
            except TimeoutError:
                break
            if line.startswith(b"data: "):
                seqs.append(json.loads(line[6:])["seq"])
        writer.close()
        gaps = sum(1 for a, b in zip(seqs[1:], seqs[2:], strict=False) if b != a + 1)
        results.append((len(seqs), gaps))

    await asyncio.gather(*(subscribe() for _ in range(count)))
    return results


CLIENT_TASKS = {"closed_loop": closed_loop, "open_loop": open_loop, "subscribers": subscribers}


def in_client_process(task: str, **args):
    """Run a client task in a separate (spawned) process and return its result."""
    context = mp.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=client_main, args=(task, args, results))
    process.start()
    out = results.get(timeout=900)
    process.join(timeout=60)
    return out


def next_deliveries(coop, count: int) -> list[str]:
    step = pd.Timedelta(minutes=coop.interval_minutes)
    first = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=coop.gate_closure_s) + 2 * step).ceil(step)
    return [(first + k * step).strftime("%Y-%m-%dT%H:%M:%SZ") for k in range(count)]


# -- the scenarios -----------------------------------------------------------------------------------------
def bench_throughput(work: Path, seconds: float) -> dict:
    coop = make_coop(work / "throughput", 256)
    port = free_port()
    server, _ = start_server(coop.folder, port)
    try:
        out = in_client_process("closed_loop", folder=str(coop.folder), port=port, members=256,
                                deliveries=next_deliveries(coop, 8), seconds=seconds, connections=64)  # fmt: skip
    finally:
        stop(server)
    from wattmesh.service.engine import rebuild_state
    from wattmesh.service.journal import Journal

    journal = Journal(coop.default_db_url)
    journaled = sum(1 for o in rebuild_state(journal).orders.values() if o["order_id"].startswith("t-"))
    journal.close()
    return out | {"journaled": journaled, "per_s": out["ok"] / out["seconds"]}


def bench_latency(work: Path, rate: float, seconds: float) -> dict:
    coop = make_coop(work / "latency", 256)
    port = free_port()
    server, _ = start_server(coop.folder, port)
    try:
        return in_client_process("open_loop", folder=str(coop.folder), port=port, members=256,
                                 deliveries=next_deliveries(coop, 8), rate=rate, seconds=seconds)  # fmt: skip
    finally:
        stop(server)


def bench_rush(work: Path, orders: int = 2000) -> dict:
    """``orders`` orders in the last 10 s before a gate (1-min intervals, gate 5 s before delivery)."""
    import httpx

    coop = make_coop(work / "rush", 500, interval_minutes=1, gate_closure_seconds=5, horizon_hours=1.0)
    port = free_port()
    server, _ = start_server(coop.folder, port)
    try:
        now = pd.Timestamp.now(tz="UTC")
        delivery = (now + pd.Timedelta(seconds=5 + 20)).ceil("1min")
        gate = delivery - pd.Timedelta(seconds=5)
        time.sleep(max(0.0, (gate - pd.Timedelta(seconds=10) - pd.Timestamp.now(tz="UTC")).total_seconds()))
        begun = pd.Timestamp.now(tz="UTC")
        rate = orders / 9.0  # leave a second before the gate
        out = in_client_process("open_loop", folder=str(coop.folder), port=port, members=500,
                                deliveries=[delivery.strftime("%Y-%m-%dT%H:%M:%SZ")], rate=rate,
                                seconds=orders / rate)  # fmt: skip
        time.sleep(max(0.0, (gate - pd.Timestamp.now(tz="UTC")).total_seconds()) + 1.0)
        cleared = httpx.get(
            f"http://{HOST}:{port}/intervals/{delivery.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        ).json()
    finally:
        stop(server)
    return out | {"started_before_gate_s": (gate - begun).total_seconds(), "cleared_orders": cleared["report"].get("orders", 0),
                  "trades": len(cleared["trades"])}  # fmt: skip


def bench_restart(work: Path) -> dict:
    """A day's journal (120 members, 96 intervals, cleared, metered, settled), then SIGKILL and restart."""
    from wattmesh.service.engine import Exchange

    folder = work / "restart"
    coop = make_coop(folder, 120, clock="manual", start="2026-06-01T00:00:00Z")
    rng = np.random.default_rng(3)
    index = pd.date_range("2026-06-01", periods=96, freq="15min", tz="UTC")
    with Exchange(coop, synchronous="OFF").open() as exchange:
        seq = 0
        for t, start in enumerate(index):
            seq += 1
            stamp = start.strftime("%Y-%m-%dT%H:%M:%SZ")
            for m in range(120):
                side = "buy" if (m + t) % 2 else "sell"
                exchange.call("order", f"m{m:04d}", t + 1, {"order_id": f"d{t}-{m}", "side": side, "delivery_start": stamp,
                              "energy_wh": int(rng.integers(100, 3000)), "price_per_kwh_e5": int(rng.integers(8000, 30000))})  # fmt: skip
            exchange.call(
                "operator_clock",
                "operator",
                seq,
                {"now": (start + pd.Timedelta(minutes=11)).strftime("%Y-%m-%dT%H:%M:%SZ")},
            )
        seq += 1
        exchange.call("operator_clock", "operator", seq, {"now": "2026-06-02T00:20:00Z"})
        readings = [{"member_id": f"m{m:04d}", "interval": s.strftime("%Y-%m-%dT%H:%M:%SZ"), "energy_wh": int(v)}
                    for s in index for m, v in zip(range(120), rng.integers(-2000, 2000, 120), strict=True)]  # fmt: skip
        exchange.call("readings", "operator", seq + 1, {"readings": readings})
        events = exchange.state.journal_id
    port = free_port()
    server, first = start_server(folder, port)
    os.kill(server.pid, signal.SIGKILL)
    server.wait(timeout=30)
    server, after_kill = start_server(folder, port)
    stop(server)
    started = time.perf_counter()
    Exchange(coop).open().close()
    rebuild = time.perf_counter() - started
    return {"events": events, "first_start_s": first, "restart_s": after_kill, "open_rebuild_s": rebuild}


def bench_subscribers(work: Path, count: int = 200, seconds: float = 15.0, rate: float = 50.0) -> dict:
    coop = make_coop(work / "stream", 256)
    port = free_port()
    server, _ = start_server(coop.folder, port)
    try:
        context = mp.get_context("spawn")
        results = context.Queue()
        readers = context.Process(
            target=client_main,
            args=("subscribers", {"port": port, "count": count, "seconds": seconds}, results),
        )
        readers.start()
        time.sleep(3.0)
        orders = in_client_process("open_loop", folder=str(coop.folder), port=port, members=256,
                                   deliveries=next_deliveries(coop, 4), rate=rate, seconds=seconds - 6)  # fmt: skip
        per = results.get(timeout=300)
        readers.join(timeout=60)
    finally:
        stop(server)
    messages = [n for n, _ in per]
    return {"subscribers": len(per), "orders_ok": orders["ok"], "messages_min": min(messages),
            "messages_max": max(messages), "gaps": sum(g for _, g in per)}  # fmt: skip


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
                     f"{r['journaled']:,} in the journal, {r['other']} refused)", r["per_s"] >= 1000))  # fmt: skip
    if "latency" in only:
        r = bench_latency(work, 200.0, 30.0)
        rows.append(("latency", f"at 200 orders/s: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max "
                     f"{r['max_ms']:.0f} ms ({r['ok']}/{r['n']} acknowledged)", r["p99_ms"] <= 50))  # fmt: skip
    if "rush" in only:
        r = bench_rush(work)
        ok = r["ok"] == r["n"] and r["cleared_orders"] == r["n"]
        rows.append(("rush", f"{r['ok']}/{r['n']} acknowledged in the last {r['started_before_gate_s']:.1f} s before "
                     f"the gate, {r['cleared_orders']} cleared into {r['trades']} trades (p99 {r['p99_ms']:.0f} ms)", ok))  # fmt: skip
    if "restart" in only:
        r = bench_restart(work)
        rows.append(("restart", f"a day's journal ({r['events']:,} events): restart after SIGKILL {r['restart_s']:.2f} s to "
                     f"/health (first start {r['first_start_s']:.2f} s; opening and rebuilding alone "
                     f"{r['open_rebuild_s']:.2f} s)", r["restart_s"] <= 5))  # fmt: skip
    if "subscribers" in only:
        r = bench_subscribers(work)
        rows.append(("subscribers", f"{r['subscribers']} SSE subscribers, {r['orders_ok']} orders: {r['messages_min']}-"
                     f"{r['messages_max']} messages each, {r['gaps']} gaps", r["gaps"] == 0 and r["subscribers"] == 200))  # fmt: skip
    print(f"\nlive exchange on loopback, SQLite journal (synchronous=FULL), {os.cpu_count()} cores\n")
    print("| measure | result | goal | met |")
    print("|---|---|---|---|")
    for name, text, met in rows:
        print(f"| {name} | {text} | {GOALS[name]} | {'yes' if met else 'NO'} |")


if __name__ == "__main__":
    main()
