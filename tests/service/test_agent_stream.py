"""A home agent whose market-data stream loses a message (a lossy relay between it and a real exchange on
127.0.0.1): it sees the gap in the sequence numbers, resubscribes from a fresh snapshot and keeps ordering
for every interval before its gate."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pandas as pd
import pytest

from wattmesh.service.agent import HomeAgent
from wattmesh.service.client import ExchangeClient
from wattmesh.service.live import start_server, stop_server

from .helpers import free_port, make_coop, secret_of
from .test_agent_audit import GATE, STEP, iso, sunny_meter, wait_for


class LossyRelay(ThreadingHTTPServer):
    """Forwards every request to the real exchange; on the first subscription to the market-data stream
    it drops the first ``clearing`` message (the one that tells the agent which interval is open next)."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        super().__init__(("127.0.0.1", 0), _RelayHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.subscriptions = 0
        self.dropped: list[dict] = []


class _RelayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")
        }
        relay = self.server
        with httpx.Client(base_url=relay.upstream, timeout=httpx.Timeout(30.0, read=None)) as client:
            with client.stream(self.command, self.path, headers=headers, content=body) as response:
                self.send_response(response.status_code)
                self.send_header("Content-Type", response.headers.get("content-type", "application/json"))
                if not self.path.startswith("/market/stream"):
                    data = response.read()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                relay.subscriptions += 1
                lossy = relay.subscriptions == 1
                self.send_header("Connection", "close")
                self.end_headers()
                for line in response.iter_lines():
                    if lossy and not relay.dropped and line.startswith("data: "):
                        message = json.loads(line[6:])
                        if message["type"] == "clearing":
                            relay.dropped.append(message)
                            continue
                    self.wfile.write(line.encode() + b"\n")
                    self.wfile.flush()

    do_GET = do_POST = _forward


@pytest.fixture
def exchange(tmp_path):
    coop = make_coop(tmp_path / "coop", n_members=2)
    port = free_port()
    server = start_server(coop.folder, port, tmp_path / "exchange.log")
    try:
        yield coop, f"http://127.0.0.1:{port}"
    finally:
        stop_server(server)


def test_agent_resubscribes_after_a_gap_in_the_market_data_and_orders_every_interval(exchange, tmp_path):
    coop, url = exchange
    operator = ExchangeClient(url, "operator", secret_of(coop, "operator"))
    relay = LossyRelay(url)
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    agent = HomeAgent(relay.url, "home_0", secret_of(coop, "home_0"), sunny_meter(), tmp_path / "agent",
                      forecaster="naive")  # fmt: skip
    stop = threading.Event()
    runner = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    runner.start()
    try:
        wait_for(lambda: agent.market.get("next_interval") is not None, what="the agent's snapshot")
        intervals = pd.date_range(agent.market["next_interval"], periods=4, freq=STEP)
        for interval in intervals:
            key = iso(interval)
            wait_for(lambda i=key: i in agent.state.ordered, what=f"the order for {key}")
            assert operator.set_clock(iso(interval - GATE + pd.Timedelta(seconds=1))).status_code == 200
        wait_for(lambda: relay.subscriptions >= 2, what="a second subscription")
    finally:
        stop.set()
        runner.join(timeout=10)
        relay.shutdown()
        relay.server_close()
    # the relay dropped the first clearing; the agent noticed the gap (the next message's seq) and
    # resubscribed, and no order was late or rejected
    assert len(relay.dropped) == 1 and relay.dropped[0]["interval"] == iso(intervals[0])
    assert agent.resyncs >= 1 and relay.subscriptions >= 2
    sent = [json.loads(x) for x in (tmp_path / "agent" / "requests.jsonl").read_text().splitlines()]
    assert [r for r in sent if r["status"] != 200] == []
    assert {iso(t) for t in intervals} <= set(agent.state.ordered)
