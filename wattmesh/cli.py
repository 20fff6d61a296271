"""The `wattmesh` command line (Typer + Rich). Each part adds its own sub-command group here."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from wattmesh.agents.cli import tournament
from wattmesh.energy.cli import app as energy_app
from wattmesh.forecast.cli import app as forecast_app
from wattmesh.grid.cli import app as grid_app
from wattmesh.ledger.cli import app as ledger_app
from wattmesh.market.cli import app as market_app
from wattmesh.quality.cli import app as meter_app
from wattmesh.service.cli import community_app, member_app, serve

app = typer.Typer(help="wattmesh: peer-to-peer community energy, simulated or live.", no_args_is_help=True)
scenario_app = typer.Typer(help="Check and inspect scenario files.", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")
app.add_typer(ledger_app, name="ledger")
app.add_typer(forecast_app, name="forecast")
app.add_typer(market_app, name="market")
app.add_typer(energy_app, name="energy")
app.add_typer(grid_app, name="grid")
app.add_typer(meter_app, name="meter")
app.command("tournament")(tournament)
app.add_typer(community_app, name="community")
app.add_typer(member_app, name="member")
app.command("serve")(serve)

console = Console()


@app.command()
def simulate(
    scenario: Path = typer.Argument(None, help="Scenario TOML file; the packaged default when omitted."),
    out: Path = typer.Option(Path("out"), "--out", help="Folder for the report, trades and tables."),
    start: str = typer.Option(None, help="Override the scenario's start (UTC, ISO 8601)."),
    end: str = typer.Option(None, help="Override the scenario's end (UTC, ISO 8601, exclusive)."),
    ledger: str = typer.Option(None, help="Override the scenario's ledger backend: local, evm or none."),
) -> None:
    """Simulate a community and write report.html, trades.jsonl, intervals.parquet and members.csv."""
    from wattmesh.simulate.cli import run_simulate

    raise typer.Exit(run_simulate(scenario, out, start, end, console, ledger))


@scenario_app.command("validate")
def scenario_validate(scenario: Path = typer.Argument(..., help="Scenario TOML file.")) -> None:
    """Report every problem in a scenario file, each with its field and value (exit code 2 if any)."""
    from wattmesh.simulate.cli import run_validate

    raise typer.Exit(run_validate(scenario, console))


@scenario_app.command("default")
def scenario_default() -> None:
    """Print the packaged default scenario, a starting point for your own."""
    from wattmesh.community.scenario import DEFAULT_SCENARIO

    typer.echo(DEFAULT_SCENARIO.read_text())
