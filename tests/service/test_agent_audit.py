"""A home agent against a real exchange (a server process on 127.0.0.1): it notices a rewritten trade, and
after SIGKILL and a restart it carries on without a rejected or a duplicated order."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pandas as pd
import pytest

from wattmesh.service.agent import HomeAgent, Meter, write_meter_csv
from wattmesh.service.client import ExchangeClient
from wattmesh.service.live import start_server, stop_server

from .helpers import START, free_port, make_coop, secret_of

STEP = pd.Timedelta(minutes=15)
GATE = pd.Timedelta(seconds=300)


def sunny_meter(load_kwh: float = 0.1, generation_kwh: float = 0.5) -> Meter:
    """Two days around the co-op's start, a home that makes more than it uses (it sells every interval)."""
    index = pd.date_range(pd.Timestamp(START) - pd.Timedelta(days=1), periods=192, freq=STEP)
    return Meter(index, np.full(192, load_kwh), np.full(192, generation_kwh))


@pytest.fixture
def exchange(tmp_path):
    """A co-op of 4 homes on the manual clock, served by `python -m wattmesh.service` (stopped by PID)."""
    coop = make_coop(tmp_path / "coop")
    port = free_port()
    server = start_server(coop.folder, port, tmp_path / "exchange.log")
    url = f"http://127.0.0.1:{port}"
    try:
        yield coop, url
    finally:
        stop_server(server)


class DoctoringProxy(ThreadingHTTPServer):
    """A dishonest exchange: forwards every request to the real one on 127.0.0.1, but once ``active``
    serves inclusion proofs whose trade record has half the price the ledger holds (the rest unchanged)."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.doctored = 0
        #: doctor the proofs (False: an honest relay)
        self.active = False


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")
        }
        with httpx.Client(base_url=self.server.upstream, timeout=httpx.Timeout(30.0, read=None)) as client:
            with client.stream(self.command, self.path, headers=headers, content=body) as response:
                self.send_response(response.status_code)
                streaming = self.path.startswith("/market/stream")
                data = b"" if streaming else response.read()
                if (
                    self.server.active
                    and self.path.startswith("/ledger/proof/")
                    and response.status_code == 200
                ):
                    proof = json.loads(data)
                    record = json.loads(proof["record"])
                    record["price_per_kwh"] = record["price_per_kwh"] / 2
                    proof["record"] = json.dumps(record, separators=(",", ":"))
                    data = json.dumps(proof).encode()
                    self.server.doctored += 1
                self.send_header("Content-Type", response.headers.get("content-type", "application/json"))
                if streaming:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for chunk in response.iter_raw():
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    return
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

    do_GET = do_POST = _forward


def iso(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def wait_for(condition, timeout_s: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


@pytest.mark.parametrize("rewrite", ["ledger file", "doctored proof"])
def test_agent_detects_a_rewritten_trade(exchange, tmp_path, rewrite):
    """The exchange rewrites the agent's trade of its second interval: in the ledger file under the running
    server (which then cannot prove it), or in the proofs it serves (a dishonest server, here a proxy in
    front of the real one). The agent checks each of its trades' proofs and raises an alarm either way,
    and none for the honest first interval."""
    coop, url = exchange
    operator = ExchangeClient(url, "operator", secret_of(coop, "operator"))
    buyer = ExchangeClient(url, "home_1", secret_of(coop, "home_1"))
    proxy = None
    if rewrite == "doctored proof":
        proxy = DoctoringProxy(url)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
    agent = HomeAgent(proxy.url if proxy else url, "home_0", secret_of(coop, "home_0"), sunny_meter(),
                      tmp_path / "agent", forecaster="naive")  # fmt: skip
    stop = threading.Event()
    stream = threading.Thread(target=agent._follow_stream, args=(stop,), daemon=True)
    stream.start()
    try:
        agent.resync()
        first = pd.Timestamp(agent.market["next_interval"])
        for k, interval in enumerate(pd.date_range(first, periods=3, freq=STEP)):
            agent.turn()  # the agent's sell order for `interval`
            assert iso(interval) in agent.state.ordered
            assert (
                buyer.place_order(
                    f"b{k}", "buy", iso(interval), energy_wh=2000, price_per_kwh_e5=30000
                ).status_code
                == 200
            )
            assert operator.set_clock(iso(interval - GATE + pd.Timedelta(seconds=1))).status_code == 200
            wait_for(lambda i=interval: agent.market.get("next_interval") == iso(i + STEP) and
                     (agent.market.get("tree_head") or {}).get("interval", "") >= iso(i), what="the clearing")  # fmt: skip
            if k == 1 and proxy is not None:
                proxy.active = True
            if k == 1 and proxy is None:
                # the operator rewrites the agent's trade of this interval in the ledger: a lower price
                with sqlite3.connect(coop.ledger_path) as db:
                    rows = db.execute(
                        "SELECT seq, record FROM entries WHERE interval = ?", (iso(interval),)
                    ).fetchall()
                    assert rows, "the interval's trade is not in the ledger"
                    for seq, record in rows:
                        trade = json.loads(record)
                        trade["price_per_kwh"] = round(trade["price_per_kwh"] / 2, 6)
                        db.execute("UPDATE entries SET record = ? WHERE seq = ?",
                                   (json.dumps(trade, separators=(",", ":")).encode(), seq))  # fmt: skip
            agent.resync()
            agent.turn()  # checks the tree head and the proofs of the cleared interval's trades
            if k == 0:
                assert agent.alarms == [], "an honest exchange raised an alarm"
                assert iso(interval) in agent.state.checked
    finally:
        stop.set()
        if proxy is not None:
            proxy.shutdown()
            proxy.server_close()
    expected = "no proof in the ledger" if proxy is None else "proof fails"
    assert agent.alarms and all(expected in a for a in agent.alarms), agent.alarms
    assert (tmp_path / "agent" / "alarms.jsonl").exists()


def run_agent_process(url: str, member: str, key, meter_csv, state_dir, log, extra=()) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "wattmesh.service.agent", "--server", url, "--member", member, "--key", str(key),
         "--meter", str(meter_csv), "--state", str(state_dir), "--forecaster", "naive", *extra],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip


def requests_of(state_dir) -> list[dict]:
    path = state_dir / "requests.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_agent_killed_and_restarted_resumes_without_rejected_or_duplicated_orders(exchange, tmp_path):
    coop, url = exchange
    operator = ExchangeClient(url, "operator", secret_of(coop, "operator"))
    meter_csv = write_meter_csv(sunny_meter(), tmp_path / "meter.csv")
    state_dir = tmp_path / "agent"
    log = open(tmp_path / "agent.log", "ab")  # noqa: SIM115
    snapshot = operator.http.get("/market/snapshot").json()
    intervals = pd.date_range(snapshot["next_interval"], periods=6, freq=STEP)
    agent = run_agent_process(url, "home_0", coop.key_dir / "home_0.key", meter_csv, state_dir, log)
    try:
        for k, interval in enumerate(intervals):
            wait_for(lambda i=interval: any(r["what"].get("interval") == iso(i) for r in requests_of(state_dir)),
                     what=f"the agent's order for {iso(interval)}")  # fmt: skip
            if k == 1:
                # killed right after an acknowledged order
                os.kill(agent.pid, signal.SIGKILL)
                agent.wait()
                agent = run_agent_process(
                    url, "home_0", coop.key_dir / "home_0.key", meter_csv, state_dir, log
                )
            if k == 3:
                # killed between sending an order and saving its acknowledgement: put the state back as the
                # agent left it before the answer came (the request in flight, the interval not decided)
                os.kill(agent.pid, signal.SIGKILL)
                agent.wait()
                last = [r for r in requests_of(state_dir) if r["what"].get("kind") == "order"][-1]
                state = json.loads((state_dir / "state.json").read_text())
                if last["what"]["interval"] in state["ordered"]:  # else the kill itself landed in flight
                    state["ordered"].remove(last["what"]["interval"])
                state["pending"] = {"method": "POST", "path": last["path"], "body": last["body"],
                                    "seq": last["seq"], "what": last["what"]}  # fmt: skip
                state["seq"] = max(state["seq"], last["seq"])
                before = len(requests_of(state_dir))
                (state_dir / "state.json").write_text(json.dumps(state))
                agent = run_agent_process(
                    url, "home_0", coop.key_dir / "home_0.key", meter_csv, state_dir, log
                )
                wait_for(lambda n=before: len(requests_of(state_dir)) > n, what="the resent request")
            assert operator.set_clock(iso(interval - GATE + pd.Timedelta(seconds=1))).status_code == 200
    finally:
        if agent.poll() is None:
            os.kill(agent.pid, signal.SIGKILL)
            agent.wait()
        log.close()
    sent = requests_of(state_dir)
    rejected = [r for r in sent if r["status"] != 200]
    assert rejected == [], rejected
    order_requests = [r for r in sent if r["what"].get("kind") == "order"]
    bodies = {}
    for r in order_requests:
        bodies.setdefault(r["seq"], []).append(json.dumps(r["body"], sort_keys=True))
    assert all(len(set(b)) == 1 for b in bodies.values()), "a sequence number was reused for another request"
    assert len(order_requests) > len(bodies), "the order in flight at the crash was not resent with its seq"
    orders = operator.http.get(
        "/members/home_0/orders", headers=operator.sign("GET", "/members/home_0/orders").headers
    ).json()["orders"]
    per_interval = pd.Series([o["delivery_start"] for o in orders]).value_counts()
    assert (per_interval == 1).all(), per_interval
    assert set(per_interval.index) == {iso(t) for t in intervals}
