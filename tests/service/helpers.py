"""Helpers of the live exchange's tests: small co-op folders, keys, free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd

from wattmesh.service.auth import secret_from_key_file
from wattmesh.service.coop import load_coop, write_coop

START = "2026-06-01T10:00:00Z"
WATTMESH = str(Path(sys.executable).with_name("wattmesh"))  # the command a user runs
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def make_coop(folder: Path, n_members: int = 4, **market):
    """A co-op of ``n_members`` homes on the manual clock, 15-min intervals, gate 5 min before delivery."""
    members = pd.DataFrame({"member_id": [f"home_{i}" for i in range(n_members)], "kind": "household"})
    settings = {
        "clock": "manual",
        "start": START,
        "gate_closure_seconds": 300,
        "horizon_hours": 48.0,
    } | market
    write_coop(folder, members, name="test co-op", timezone="Europe/Berlin", seed=7, market=settings,
               tariff={"retail_per_kwh": 0.32, "feed_in_per_kwh": 0.08, "local_fee_per_kwh": 0.02})  # fmt: skip
    return load_coop(folder)


def secret_of(coop, signer: str) -> bytes:
    return secret_from_key_file(coop.key_dir / f"{signer}.key")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(
    folder: Path, port: int, command: list[str] | None = None, seconds: float = 120
) -> subprocess.Popen:
    """`wattmesh serve` (or ``command``, given the folder and the port) on 127.0.0.1:port, once /health
    answers within ``seconds`` (the caller stops it by its PID)."""
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([*(command or [WATTMESH, "serve"]), str(folder), "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"wattmesh serve exited with code {process.returncode}")
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    raise TimeoutError(f"wattmesh serve did not answer /health within {seconds:g} s")
