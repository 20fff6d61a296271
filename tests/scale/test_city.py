"""A city of feeders: serial and process-pool runs are bitwise equal; the substation market; sweeps."""

from __future__ import annotations

import copy
import tomllib

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from wattmesh.market.result import BatchTrades
from wattmesh.scale.city import record_substation, run_city
from wattmesh.scale.executors import ProcessExecutor
from wattmesh.scale.substation import binned_curves, clear_substation
from wattmesh.scale.sweep import SweepError, parse_vary, run_sweep, with_value
from wattmesh.scale.tasks import FeederOutcome, feeder_seed, feeder_tasks

#: 3 SimBench feeders x 2 weeks at hourly intervals: the cheapest settings that still run every stage.
BASE_TOML = """
name = "test city"
seed = 7
[time]
start = "2016-06-01T00:00:00Z"
end = "2016-06-15T00:00:00Z"
interval_minutes = 60
[feeder]
source = "simbench"
[tariff]
retail_per_kwh = 0.30
feed_in_per_kwh = 0.08
local_fee_per_kwh = 0.02
[community_battery]
capacity_kwh = 50.0
power_kw = 20.0
[grid]
power_flow = false
[ledger]
backend = "none"
[agents]
tournament = false
[energy]
dispatch = "rule"
[[fleet]]
kind = "battery"
count = 3
power_kw = 5.0
capacity_kwh = 10.0
"""
FEEDERS_TOML = """
[[feeders]]
code = "1-LV-rural1--2-sw"
[[feeders]]
code = "1-LV-rural3--2-sw"
name = "north"
"""
CITY = tomllib.loads(BASE_TOML + FEEDERS_TOML + '[[feeders]]\ncode = "1-LV-semiurb4--2-sw"\n')


def assert_bitwise_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f")]
    assert different == []


@pytest.fixture(scope="module")
def serial():
    return run_city(CITY, detail=True)


def test_process_pool_equals_serial_bitwise(serial):
    executor = ProcessExecutor(2)
    try:
        pooled = run_city(CITY, executor=executor, detail=True)
    finally:
        executor.close()
    assert [o.feeder_name for o in pooled.feeders] == [
        "1-LV-rural1--2-sw#0",
        "north#1",
        "1-LV-semiurb4--2-sw#2",
    ]
    assert_bitwise_equal(serial.arrays(), pooled.arrays())
    # it really ran elsewhere: in worker processes, not the driver
    import os

    assert all(not o.where.endswith(f":{os.getpid()}") for o in pooled.feeders)


def test_a_feeder_returns_its_totals_and_net_position_unless_asked_for_detail(serial):
    """The default outcome is the detailed one without the per-interval series and trades: every array
    it keeps is bitwise the detailed run's, its net position is the detailed import minus export, the
    city's table and substation are the same, and what it sends is a small part of the detail."""
    import pickle

    reduced = run_city(CITY)
    kept = reduced.arrays()
    full = serial.arrays()
    assert set(kept) < set(full) and not any(".by_interval." in k or k.startswith("trades") for k in kept)
    assert_bitwise_equal(kept, {k: full[k] for k in kept})
    for small, big in zip(reduced.feeders, serial.feeders, strict=True):
        assert np.array_equal(small.net_import_kwh, big.unmatched_import_kwh - big.unmatched_export_kwh)
        assert small.trades is None and small.by_interval is None
        with pytest.raises(ValueError, match="detail=True"):
            small.unmatched_import_kwh  # noqa: B018
    pd.testing.assert_frame_equal(
        reduced.table().drop(columns="task_seconds"), serial.table().drop(columns="task_seconds")
    )
    sizes = [
        (len(pickle.dumps(a)), len(pickle.dumps(b)))
        for a, b in zip(reduced.feeders, serial.feeders, strict=True)
    ]
    assert all(a < b / 4 for a, b in sizes), sizes
    # arriving from a worker, the feeders' equal index and prices are one object in the driver
    arrived = [pickle.loads(pickle.dumps(o)) for o in reduced.feeders]  # one message per task
    assert len({id(o.index) for o in arrived}) == 1 and len({id(o.retail_per_kwh) for o in arrived}) == 1
    assert arrived[0].index.equals(reduced.feeders[0].index)


def test_each_feeder_gets_its_own_seed_and_a_city_is_its_feeders(serial):
    tasks = feeder_tasks(CITY)
    seeds = [t.seed for t in tasks]
    assert len(set(seeds)) == 3 and seeds == [feeder_seed(7, i) for i in range(3)]
    # a feeder of the city is what the ordinary simulator makes of that feeder with that seed
    from wattmesh.community.build import build_community
    from wattmesh.community.scenario import parse_scenario
    from wattmesh.simulate.engine import simulate

    alone = copy.deepcopy(CITY)
    del alone["feeders"]
    alone["feeder"]["code"] = "1-LV-rural3--2-sw"
    alone["seed"] = seeds[1]
    scenario = parse_scenario(alone)
    result = simulate(build_community(scenario), seed=seeds[1], detail=False, min_trade_kwh=0.001)
    north = serial.feeders[1]
    for case, expected in result.cases.items():
        for name, values in expected.by_member.items():
            assert np.array_equal(north.by_member[case][name], values), (case, name)
    assert np.array_equal(north.trades.energy_kwh, result.full.trade_arrays.energy_kwh)


def test_substation_trades_balance_the_feeders_unmatched_positions(serial):
    sub = serial.substation
    net = np.column_stack([o.unmatched_import_kwh - o.unmatched_export_kwh for o in serial.feeders])
    imports, exports = np.maximum(net, 0), np.maximum(-net, 0)
    # pay-as-clear over one bid and one ask price: the volume is the smaller side in every interval
    np.testing.assert_allclose(sub.volume_kwh, np.minimum(imports.sum(1), exports.sum(1)), atol=1e-9)
    assert sub.bought_kwh.sum() == pytest.approx(sub.sold_kwh.sum())
    assert np.all(sub.bought_kwh <= imports.sum(0) + 1e-9) and np.all(sub.sold_kwh <= exports.sum(0) + 1e-9)
    assert sub.volume_kwh.sum() > 0


def outcome(name: str, deficit, surplus, retail, feed_in) -> FeederOutcome:
    """A feeder's outcome given by hand: only its unmatched positions and prices matter here."""
    n = len(deficit)
    full = {"import_kwh": np.asarray(deficit, float), "export_kwh": np.asarray(surplus, float)}
    empty = BatchTrades(*[np.zeros(0, np.int64)] * 3, *[np.zeros(0)] * 3)
    return FeederOutcome(
        "", 0, name, 0, pd.date_range("2016-06-01", periods=n, freq="h", tz="UTC"), np.array([name]),
        {}, full["import_kwh"] - full["export_kwh"], np.full(n, retail), np.full(n, feed_in), 0.0,
        by_interval={"p2p_battery": full}, local_price_per_kwh={}, trades=empty,
    )  # fmt: skip


def test_substation_clears_a_hand_worked_case():
    # interval 0: A needs 3 kWh (retail 0.30), B has 2 kWh (feed-in 0.08): 2 kWh at the midpoint 0.19
    # interval 1: only A sells: nothing trades
    a = outcome("A", [3.0, 0.0], [0.0, 1.0], 0.30, 0.08)
    b = outcome("B", [0.0, 0.0], [2.0, 0.0], 0.30, 0.08)
    sub = clear_substation([a, b], seed=1)
    np.testing.assert_allclose(sub.volume_kwh, [2.0, 0.0])
    assert sub.price_per_kwh[0] == pytest.approx(0.19)
    np.testing.assert_allclose(sub.bought_kwh, [2.0, 0.0])
    np.testing.assert_allclose(sub.sold_kwh, [0.0, 2.0])
    # A saves 2 x (0.30 - 0.19), B earns 2 x (0.19 - 0.08) above feed-in
    np.testing.assert_allclose(sub.saving, [0.22, 0.22])
    records = sub.records("substation|test")
    assert records[["seller", "buyer"]].values.tolist() == [["B", "A"]]
    assert records["energy_amount_kwh"].tolist() == [2.0]


def test_substation_refuses_feeders_with_different_spans():
    with pytest.raises(ValueError, match="one span for all feeders"):
        clear_substation(
            [outcome("A", [1.0], [0.0], 0.3, 0.08), outcome("B", [1.0, 0.0], [0.0, 1.0], 0.3, 0.08)], 0
        )


def test_bins_never_move_an_order_past_its_limit():
    energy = np.array([[1.0, 2.0, 4.0]])
    bids = binned_curves(energy, np.array([[0.302, 0.30, 0.299]]), "bid", 0.01)
    asks = binned_curves(energy, np.array([[0.302, 0.30, 0.299]]), "ask", 0.01)
    np.testing.assert_allclose(bids.price_per_kwh, [0.29, 0.30])  # down
    np.testing.assert_allclose(asks.price_per_kwh, [0.30, 0.31])  # up
    np.testing.assert_allclose(bids.energy_kwh[0], [[0, 1], [0, 2], [4, 0]])
    np.testing.assert_allclose(asks.energy_kwh[0], [[0, 1], [2, 0], [4, 0]])


def test_the_substation_trades_are_signed_into_a_ledger_that_audits(serial, tmp_path):
    from wattmesh.ledger.audit import verify

    entries = record_substation(serial, tmp_path / "sub.sqlite", tmp_path / "keys", "substation|test")
    assert entries == len(serial.substation.records("substation|test")) > 0
    report = verify(tmp_path / "sub.sqlite")
    assert report.problems == [] and report.entries == entries


ONE_FEEDER = {k: v for k, v in CITY.items() if k != "feeders"} | {
    "feeder": {"source": "simbench", "code": "1-LV-rural1--2-sw"}
}


def test_a_sweep_is_the_grid_and_feed_in_moves_the_bill_by_the_export():
    table, results = run_sweep(
        ONE_FEEDER, [parse_vary("tariff.feed_in_per_kwh=0.05,0.08"), parse_vary("fleet.battery.count=0,3")]
    )
    assert len(results) == 4 and len(table) == 4 * 3
    points = table[["tariff.feed_in_per_kwh", "fleet.battery.count"]].drop_duplicates().values.tolist()
    assert points == [[0.05, 0], [0.05, 3], [0.08, 0], [0.08, 3]]
    alone = table[table["case"] == "alone"].set_index(["tariff.feed_in_per_kwh", "fleet.battery.count"])
    # no market, no batteries: the bill differs by the exported energy times the feed-in difference
    for count in (0, 3):
        low, high = alone.loc[(0.05, count)], alone.loc[(0.08, count)]
        assert low["bill"] - high["bill"] == pytest.approx(high["export_kwh"] * 0.03, rel=1e-9)
    # the fleet's batteries do not change what the homes consume
    assert alone["consumption_kwh"].nunique() == 1


def test_vary_refuses_what_is_not_a_field():
    with pytest.raises(SweepError, match="not a scenario field"):
        parse_vary("tariff.feed_in=0.05")
    with pytest.raises(SweepError, match="FIELD=VALUE"):
        parse_vary("tariff.feed_in_per_kwh")
    with pytest.raises(SweepError, match="no \\[\\[fleet\\]\\] entry of kind 'pv'"):
        with_value(ONE_FEEDER, "fleet.pv.count", 3)


def test_simulate_a_city_and_sweep_from_the_command_line(tmp_path):
    from wattmesh.cli import app

    city = tmp_path / "city.toml"
    city.write_text(BASE_TOML + FEEDERS_TOML)
    runner = CliRunner()
    done = runner.invoke(app, ["simulate", str(city), "--out", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    table = pd.read_csv(tmp_path / "out" / "city.csv")
    assert table["feeder"].unique().tolist() == ["1-LV-rural1--2-sw#0", "north#1"]
    trades = pd.read_csv(tmp_path / "out" / "substation_trades.csv")
    assert set(trades["seller"]) | set(trades["buyer"]) <= {"1-LV-rural1--2-sw#0", "north#1"}
    base = tmp_path / "base.toml"
    base.write_text(
        BASE_TOML.replace('source = "simbench"', 'source = "simbench"\ncode = "1-LV-rural1--2-sw"')
    )
    done = runner.invoke(app, ["sweep", str(base), "--vary", "seed=1,2", "--out", str(tmp_path / "sw")])
    assert done.exit_code == 0, done.output
    swept = pd.read_parquet(tmp_path / "sw" / "sweep.parquet")
    assert swept["seed"].tolist() == [1] * 3 + [2] * 3
    assert "plotly" in (tmp_path / "sw" / "sweep.html").read_text()
    bad = runner.invoke(
        app, ["sweep", str(base), "--vary", "fleet.batteries=0,40", "--out", str(tmp_path / "b")]
    )
    assert bad.exit_code == 2 and "not a scenario field" in bad.output
