"""Fixtures of the integration tests: a real Mosquitto broker and a small live exchange, on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from wattmesh.service.live import free_port

START = "2026-06-01T00:00:00Z"


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop_pid(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


class Broker:
    """A Mosquitto broker on 127.0.0.1 with on-disk persistence, stoppable and restartable on its port."""

    def __init__(self, folder: Path) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            pytest.fail("mosquitto not found: install Debian's mosquitto package (.ci/run does)")
        self.exe, self.folder, self.port = exe, folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nmax_queued_messages 0\nmax_inflight_messages 1000\n"
            "user root\nlog_dest stderr\nlog_type error\nlog_type warning\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.config)], stderr=open(self.folder / "log", "ab")
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc)
            self.proc = None


@pytest.fixture
def broker(tmp_path):
    server = Broker(tmp_path / "mosquitto").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def exchange_client(tmp_path):
    """(exchange, operator client) of a co-op of 8 homes on the manual clock, 15-min intervals; the clock
    stands two days after the start, so readings of the first two days are delivered."""
    from fastapi.testclient import TestClient

    from wattmesh.service.app import create_app
    from wattmesh.service.auth import secret_from_key_file
    from wattmesh.service.client import ExchangeClient
    from wattmesh.service.coop import load_coop, write_coop
    from wattmesh.service.engine import Exchange

    members = pd.DataFrame({"member_id": [f"home_{i}" for i in range(8)], "kind": "household"})
    write_coop(tmp_path / "coop", members, name="integration co-op", seed=3,
               market={"clock": "manual", "start": START, "gate_closure_seconds": 300, "horizon_hours": 24.0})  # fmt: skip
    coop = load_coop(tmp_path / "coop")
    exchange = Exchange(coop, f"sqlite:///{tmp_path / 'journal.db'}")
    with TestClient(create_app(exchange)) as http:
        operator = ExchangeClient("http://testserver", "operator", secret_from_key_file(coop.key_dir / "operator.key"),
                                  http=http)  # fmt: skip
        assert operator.set_clock("2026-06-03T00:00:00Z").status_code == 200
        yield exchange, operator
