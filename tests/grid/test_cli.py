"""`wattmesh grid` commands on the default SimBench feeder, over short spans."""

from __future__ import annotations

from typer.testing import CliRunner

from wattmesh.cli import app

runner = CliRunner()


def test_powerflow_command_prints_the_summary():
    result = runner.invoke(
        app,
        [
            "grid",
            "powerflow",
            "--start",
            "2016-06-01T00:00Z",
            "--end",
            "2016-06-02T00:00Z",
            "--vm-max",
            "1.05",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "96 intervals" in result.output
    assert "hours_overvoltage" in result.output


def test_outage_command_compares_sharing_with_alone():
    result = runner.invoke(app, ["grid", "outage", "--start", "2016-01-15T18:00Z", "--hours", "2"])
    assert result.exit_code == 0, result.output
    assert "shared" in result.output and "alone" in result.output


def test_outage_outside_the_year_is_an_error():
    result = runner.invoke(app, ["grid", "outage", "--start", "2030-01-01T00:00Z"])
    assert result.exit_code == 2
