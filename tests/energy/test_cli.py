"""`wattmesh energy` commands and the side-by-side comparison table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from wattmesh.cli import app
from wattmesh.energy.compare import BOUND, compare_strategies
from wattmesh.energy.forecasts import persistence


def test_events_command_prints_a_valid_file_and_rejects_a_bad_one(tmp_path):
    good = tmp_path / "events.csv"
    good.write_text("event_id,start,end,limit_kw\npeak_1,2030-01-01T17:00:00Z,2030-01-01T19:00:00Z,40\n")
    result = CliRunner().invoke(app, ["energy", "events", str(good)])
    assert result.exit_code == 0 and "peak_1" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "event_id,start,end,limit_kw,reduction_kw\nx,2030-01-01T17:00:00Z,2030-01-01T19:00:00Z,40,5\n"
    )
    result = CliRunner().invoke(app, ["energy", "events", str(bad)])
    assert result.exit_code == 2 and "expected exactly one of them" in result.output


def test_comparison_puts_the_bound_lowest_and_no_battery_at_zero_savings():
    index = pd.date_range("2030-06-01", periods=48, freq="1h", tz="UTC")
    rng = np.random.default_rng(2)
    hour = np.asarray(index.hour)
    load = pd.DataFrame(rng.uniform(0.3, 2.0, (48, 3)), index=index, columns=["a", "b", "c"])
    pv = pd.DataFrame(
        np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None)[:, None] * [3.0, 0.0, 5.0],
        index=index,
        columns=load.columns,
    )
    price = np.where((hour >= 16) & (hour < 21), 0.4, 0.2)
    batteries = pd.DataFrame({"capacity_kwh": [5.0, 5.0, 10.0], "power_kw": [2.5, 2.5, 5.0]})
    table, runs = compare_strategies(
        load,
        pv,
        price,
        0.0,
        batteries,
        horizon_intervals=24,
        forecasters={"persistence": (persistence, persistence)},
    )
    assert table["objective"].idxmin() == BOUND
    assert table.loc["no battery", "share of bound savings"] == pytest.approx(0.0)
    assert table.loc[BOUND, "objective / bound"] == pytest.approx(1.0)
    assert set(runs) == {"no battery", "self-consumption rule", BOUND, "MPC, persistence"}
