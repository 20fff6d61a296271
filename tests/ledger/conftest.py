"""Shared fixtures of the ledger tests: a key directory and small random trade tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.ledger.keys import ensure_keys

START = pd.Timestamp("2025-07-15T09:00:00Z")
MEMBERS = ["alpha", "beta", "gamma", "delta"]


def interval_end(k: int) -> pd.Timestamp:
    return START + pd.Timedelta(minutes=15 * (k + 1))


def make_trades(k: int, n: int, seed: int = 0, members: list[str] = MEMBERS) -> pd.DataFrame:
    """``n`` trades among ``members`` in the k-th 15-minute market interval from START (all 12 fields)."""
    rng = np.random.default_rng(seed * 1000 + k)
    start = START + pd.Timedelta(minutes=15 * k)
    m = len(members)
    seller = rng.integers(0, m, n)
    buyer = (seller + rng.integers(1, m, n)) % m
    return pd.DataFrame(
        {
            "transaction_id": [f"tx_{seed}_{k}_{i}" for i in range(n)],
            "seller": [members[i] for i in seller],
            "buyer": [members[i] for i in buyer],
            "energy_amount_kwh": rng.uniform(0.1, 3.0, n).round(3),
            "price_per_kwh": rng.uniform(0.05, 0.30, n).round(4),
            "timestamp": start,
            "status": "completed",
            "interval": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "mechanism": "pay_as_clear",
            "grid_fee_per_kwh": rng.uniform(0.0, 0.04, n).round(4),
            "sell_order_id": [f"ask_{seed}_{k}_{i}" for i in range(n)],
            "buy_order_id": [f"bid_{seed}_{k}_{i}" for i in range(n)],
        }
    )


@pytest.fixture(name="make_trades")
def _make_trades():
    return make_trades


@pytest.fixture(name="interval_end")
def _interval_end():
    return interval_end


@pytest.fixture
def keyring(tmp_path):
    return ensure_keys(tmp_path / "keys", MEMBERS)
