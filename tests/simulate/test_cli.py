"""`wattmesh simulate` and `wattmesh scenario validate` end to end, through the real command line."""

import json
import tomllib

import pandas as pd
from typer.testing import CliRunner

from wattmesh.cli import app
from wattmesh.community.scenario import DEFAULT_SCENARIO

runner = CliRunner()


def test_simulate_writes_every_output_for_a_short_span(tmp_path):
    out = tmp_path / "out"
    args = ["simulate", "--out", str(out), "--start", "2016-06-10T00:00:00Z", "--end", "2016-06-11T00:00:00Z"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("report.html", "trades.jsonl", "intervals.parquet", "members.csv", "kpis.csv"):
        assert (out / name).is_file(), name
    first = json.loads((out / "trades.jsonl").read_text().splitlines()[0])
    assert set(first) >= {
        "transaction_id",
        "seller",
        "buyer",
        "energy_amount_kwh",
        "price_per_kwh",
        "timestamp",
        "status",
    }
    assert first["timestamp"].endswith("Z")
    intervals = pd.read_parquet(out / "intervals.parquet")
    assert len(intervals) == 96
    members = pd.read_csv(out / "members.csv")
    assert {"bill_alone_eur", "bill_p2p_eur", "bill_p2p_battery_eur", "saving_p2p_battery_eur"} <= set(
        members.columns
    )
    page = (out / "report.html").read_text()
    # Self-contained: Plotly inlined, nothing loaded from the network.
    assert "<script src=" not in page
    assert "Plotly.newPlot" in page
    for section in ("Market mechanisms compared", "Battery planning against the bound", "Trading strategies"):
        assert section in page, section
    # the planner without demand-response events: no events file, no section
    assert not (out / "dr_events.csv").exists()
    assert "<h2>Demand response</h2>" not in page


def test_invalid_scenario_stops_with_exit_code_2_and_names_each_field(tmp_path):
    raw = DEFAULT_SCENARIO.read_text().replace("capacity_kwh = 200.0", "capacity_kwh = -200.0")
    raw = raw.replace('code = "1-LV-rural3--2-sw"', 'code = "no-such-feeder"')
    path = tmp_path / "bad.toml"
    path.write_text(raw)
    for command in (
        ["scenario", "validate", str(path)],
        ["simulate", str(path), "--out", str(tmp_path / "o")],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert "community_battery.capacity_kwh" in result.output
        assert "feeder.code" in result.output
    assert not (tmp_path / "o").exists()


def test_default_scenario_validates_and_prints():
    assert runner.invoke(app, ["scenario", "validate", str(DEFAULT_SCENARIO)]).exit_code == 0
    printed = runner.invoke(app, ["scenario", "default"]).output
    assert tomllib.loads(printed)["feeder"]["code"] == "1-LV-rural3--2-sw"


def test_simulate_records_every_trade_in_a_ledger_that_verifies(tmp_path):
    from wattmesh.ledger import prove, verify

    out = tmp_path / "out"
    keys = tmp_path / "keys"
    args = ["simulate", "--out", str(out), "--start", "2016-06-10T10:00:00Z", "--end", "2016-06-10T14:00:00Z"]
    result = runner.invoke(app, [*args, "--keys", str(keys)])
    assert result.exit_code == 0, result.output
    trades = pd.read_json(out / "trades.jsonl", lines=True)
    report = verify(out / "ledger.sqlite")
    assert report.ok, report.summary()
    assert report.entries == len(trades)
    proof = prove(out / "ledger.sqlite", trades["transaction_id"].iloc[-1])
    assert proof["transaction_id"] == trades["transaction_id"].iloc[-1]
    assert not (out / "keys").exists(), "private keys belong in the keystore, never in a shareable output"
    key_files = list(keys.iterdir())
    assert key_files and all(oct(p.stat().st_mode & 0o777) == "0o600" for p in key_files if p.is_file())


def test_simulate_on_the_embedded_chain_reports_no_chain_problem(tmp_path):
    out = tmp_path / "out"
    args = ["simulate", "--out", str(out), "--start", "2016-06-10T11:00:00Z", "--end", "2016-06-10T12:00:00Z"]
    result = runner.invoke(app, [*args, "--ledger", "evm"])
    assert result.exit_code == 0, result.output
    assert "Ledger (evm)" in result.output
    assert "chain:" not in result.output


def test_unknown_ledger_backend_is_a_scenario_problem(tmp_path):
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "o"), "--ledger", "paper"])
    assert result.exit_code == 2
    assert "ledger.backend" in result.output


def test_bad_strategy_mix_stops_before_anything_runs(tmp_path):
    raw = DEFAULT_SCENARIO.read_text().replace('mix = "learning=0.34,ramp=0.33,zip=0.33"', 'mix = "oracle=1"')
    path = tmp_path / "bad_mix.toml"
    path.write_text(raw)
    result = runner.invoke(app, ["simulate", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "agents.mix" in result.output and "oracle" in result.output
    assert not (tmp_path / "o").exists()
