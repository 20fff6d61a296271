"""The simulator through the exchange step gives what it gave before the step moved into wattmesh.exchange.

The reference files were written by the simulator of commit 4c97294 (before the exchange step existed) on
the default scenario over 10-11 June 2016 with seed 0: its KPI table and its trades without their ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wattmesh.simulate.engine import simulate
from wattmesh.simulate.outputs import kpi_table

DATA = Path(__file__).parent / "data"
COLUMNS = [
    "seller",
    "buyer",
    "energy_amount_kwh",
    "price_per_kwh",
    "timestamp",
    "status",
    "interval",
    "mechanism",
]


@pytest.fixture(scope="module")
def result(short_community):
    return simulate(short_community, seed=0)


def test_kpi_table_equals_the_one_before_the_exchange_step_to_1e_9(result):
    before = pd.read_csv(DATA / "reference_kpis.csv", index_col=0)
    now = kpi_table(result)
    assert list(now.index) == list(before.index) and list(now.columns) == list(before.columns)
    np.testing.assert_allclose(now.to_numpy(float), before.to_numpy(float), rtol=1e-9, atol=1e-9)


def test_trades_equal_the_ones_before_apart_from_their_ids(result):
    before = pd.read_parquet(DATA / "reference_trades.parquet")
    now = result.full.trades
    now = now[COLUMNS].astype({c: str for c in ["seller", "buyer", "timestamp", "interval"]})
    assert len(now) == len(before) > 1000
    pd.testing.assert_frame_equal(now.reset_index(drop=True), before, check_dtype=False)


def test_trades_carry_the_grid_fee_and_unique_ids(result, short_community):
    trades = result.full.trades
    assert trades["transaction_id"].is_unique
    np.testing.assert_allclose(trades["grid_fee_per_kwh"], short_community.local_fee_per_kwh)
