"""Helpers of the live exchange's tests: small co-op folders, keys, free ports."""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd

from wattmesh.service.auth import secret_from_key_file
from wattmesh.service.coop import load_coop, write_coop

START = "2026-06-01T10:00:00Z"
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
