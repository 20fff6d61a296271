"""The simulator's output files: every column defined in docs/outputs.md, values rounded to their unit, no
trade below the minimum quantity, the community battery counted, and the report in a real browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from wattmesh.cli import app
from wattmesh.community.scenario import DEFAULT_SCENARIO
from wattmesh.simulate.engine import simulate
from wattmesh.simulate.outputs import kpi_table

DOCS = Path(__file__).resolve().parents[2] / "docs" / "outputs.md"
# The quick span: one day with the outage of the default scenario inside it.
START, END = "2016-06-15T00:00:00Z", "2016-06-16T00:00:00Z"


def quick_scenario(tmp: Path) -> Path:
    """The default scenario with the rule dispatch, no ledger or tournament, and a fair-access rule."""
    text = DEFAULT_SCENARIO.read_text()
    for old, new in (
        ('dispatch = "planner"', 'dispatch = "rule"'),
        ('backend = "local"', 'backend = "none"'),
        ("tournament = true", "tournament = false"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    text += '\n[fairness]\nbattery_share = "equal"\nsolidarity_percent = 20.0\n'
    path = tmp / "quick.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("outputs")
    out = tmp / "out"
    args = ["simulate", str(quick_scenario(tmp)), "--out", str(out), "--start", START, "--end", END]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def documented_columns() -> dict[str, set[str]]:
    """The first-column names of each file's table in docs/outputs.md, by the section's file names."""
    sections: dict[str, set[str]] = {}
    current: list[str] = []
    in_rows = False  # kpis.csv's table of rows comes after its table of columns
    for line in DOCS.read_text().splitlines():
        if line.startswith("| row |"):
            in_rows = True
        if line.startswith("## "):
            in_rows = False
            current = re.findall(r"[\w.]+\.(?:jsonl|parquet|csv)", line)
            for name in current:
                sections[name] = set()
        elif current and line.startswith("| `") and not in_rows:
            name = re.match(r"\| `([^`]+)`", line).group(1)
            for file in current:
                sections[file].add(name)
    return sections


def test_every_output_column_is_defined_in_docs_outputs_and_every_defined_one_is_written(run_folder):
    documented = documented_columns()
    trades = [json.loads(line) for line in (run_folder / "trades.jsonl").read_text().splitlines()]
    parquet = pd.read_parquet(run_folder / "intervals.parquet")
    written = {
        "trades.jsonl": set().union(*(set(t) for t in trades)),
        "intervals.parquet": {parquet.index.name, *parquet.columns},
        "intervals.csv": set(pd.read_csv(run_folder / "intervals.csv", nrows=1).columns),
        "members.csv": set(pd.read_csv(run_folder / "members.csv", nrows=1).columns),
        "kpis.csv": set(pd.read_csv(run_folder / "kpis.csv", nrows=1).columns),
        "community_assets.csv": set(pd.read_csv(run_folder / "community_assets.csv", nrows=1).columns),
    }
    # Written only when a scenario scans its PV or injects faults (checked in tests/maintenance/test_community.py)
    # or has demand-response events (tests/simulate/test_dr_events.py)
    assert set(documented) - {"pv_alarms.csv", "faults.csv", "dr_events.csv"} == set(written)
    for name, columns in written.items():
        assert columns == documented[name], (
            name,
            sorted(columns - documented[name]),
            sorted(documented[name] - columns),
        )
    page = DOCS.read_text()
    for kpi in pd.read_csv(run_folder / "kpis.csv")["kpi"]:
        assert f"`{kpi}`" in page, kpi


def test_files_are_rounded_to_their_units_and_share_one_unit_per_kpi(run_folder):
    members = pd.read_csv(run_folder / "members.csv")
    intervals = pd.read_csv(run_folder / "intervals.csv", index_col="time")
    kpis = pd.read_csv(run_folder / "kpis.csv", index_col="kpi")
    assert not kpis.columns.str.startswith("Unnamed").any()

    def decimals(series: pd.Series) -> int:
        text = series.dropna().map(repr)
        return int(text.str.split(".").str[-1].str.len().max())

    for column in members.columns:
        if column.endswith("_kwh"):
            assert decimals(members[column]) <= 3, column
        if column.endswith("_eur"):
            assert decimals(members[column]) <= 2, column
        if column.endswith("_percent"):
            assert decimals(members[column]) <= 1, column
    assert not members.map(lambda v: isinstance(v, float) and "e-" in repr(v)).any().any()
    # Self-sufficiency in % in both files: the members' own figure from their columns, the community's
    # from the interval totals (independently of the code that wrote the percentages).
    people = members[members["consumption_kwh"] > 0]
    own = 100 * (1 - people["import_kwh"] / people["consumption_kwh"])
    np.testing.assert_allclose(people["self_sufficiency_percent"], own, atol=0.1)
    community = 100 * (1 - intervals["import_kwh"].sum() / intervals["consumption_kwh"].sum())
    assert kpis.loc["self-sufficiency [%]", "P2P + batteries"] == pytest.approx(community, abs=0.06)
    # The fair-access transfers move money only.
    assert members["fair_access_transfer_eur"].sum() == pytest.approx(0.0, abs=0.01 * len(members))


def test_no_trade_is_below_the_minimum_and_each_member_still_balances(run_folder, short_community):
    energy = [json.loads(line)["energy_amount_kwh"] for line in (run_folder / "trades.jsonl").open()]
    assert min(energy) >= 0.001
    free = simulate(short_community, seed=0)
    minimum = 0.005
    bounded = simulate(short_community, seed=0, min_trade_kwh=minimum)
    kept = bounded.full.trade_arrays
    assert kept.energy_kwh.min() >= minimum
    # The same pairing, less the slivers: the trades are those of the free run at or above the minimum.
    every = free.full.trade_arrays
    np.testing.assert_array_equal(kept.energy_kwh, every.energy_kwh[every.energy_kwh >= minimum])
    assert len(kept) < len(every)
    d = bounded.full.detail
    supply = d.generation_kwh + d.discharge_kwh + d.bought_kwh + d.import_kwh
    demand = d.consumption_kwh + d.charge_kwh + d.sold_kwh + d.export_kwh
    np.testing.assert_allclose(supply, demand, atol=1e-9)
    bought = np.bincount(kept.buyer, kept.energy_kwh, minlength=len(short_community.members))
    np.testing.assert_allclose(bought, bounded.full.by_member["bought_kwh"], atol=1e-9)


def test_a_community_battery_that_loses_money_counts_among_the_members_losing_money(short_community):
    result = simulate(short_community, seed=0)
    before = kpi_table(result).loc["members losing money [%]", "P2P + batteries"]
    is_community = (short_community.members["kind"] == "community").to_numpy()
    result.full.by_member["paid_utility"][is_community] += 1000.0
    after = kpi_table(result).loc["members losing money [%]", "P2P + batteries"]
    assert after == pytest.approx(before + 100 * is_community.sum() / len(is_community))


def test_community_assets_file_adds_up_to_the_battery_row_of_members(run_folder):
    assets = pd.read_csv(run_folder / "community_assets.csv")
    members = pd.read_csv(run_folder / "members.csv").set_index("member_id")
    row = assets.iloc[0]
    assert row["net_result_eur"] == pytest.approx(row["earned_eur"] - row["paid_eur"], abs=0.011)
    assert -row["net_result_eur"] == pytest.approx(
        members.loc[row["member_id"], "bill_p2p_battery_eur"], abs=0.011
    )


def test_a_run_without_demand_response_events_writes_no_events_file_and_no_section(run_folder):
    assert not (run_folder / "dr_events.csv").exists()
    assert "Demand response" not in (run_folder / "report.html").read_text()
