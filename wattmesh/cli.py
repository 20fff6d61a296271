"""The `wattmesh` command line (Typer + Rich). Each part adds its own sub-command group here.

Exit codes, the same for every command: 0 done; 1 internal error (a bug: one line, the traceback only with
``--debug``); 2 bad input (a file, a field or an option; the message names it and its value); 3 corrupt data
or a failed audit (e.g. a ledger that does not verify); 4 incomplete (`ledger verify` of a run's ledger
that has no signed closing mark: the run was interrupted, what is there verifies).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from wattmesh.agents.cli import tournament
from wattmesh.energy.cli import app as energy_app
from wattmesh.forecast.cli import app as forecast_app
from wattmesh.grid.cli import app as grid_app
from wattmesh.integrate.cli import openadr_ven
from wattmesh.ledger.cli import app as ledger_app
from wattmesh.maintenance.cli import app as maintenance_app
from wattmesh.market.cli import app as market_app
from wattmesh.quality.cli import app as meter_app
from wattmesh.service.agent import agent_command
from wattmesh.service.cli import community_app, member_app, serve
from wattmesh.service.live import live_command

EXIT_INTERNAL_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_CORRUPT = 3
EXIT_INCOMPLETE = 4

app = typer.Typer(
    help="wattmesh: peer-to-peer community energy, simulated or live. Exit codes: 0 done, 1 internal error "
    "(add --debug for the traceback), 2 bad input, 3 corrupt data or failed audit, 4 incomplete (a ledger "
    "of an interrupted run).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
scenario_app = typer.Typer(help="Check and inspect scenario files.", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")
app.add_typer(ledger_app, name="ledger")
app.add_typer(forecast_app, name="forecast")
app.add_typer(market_app, name="market")
app.add_typer(energy_app, name="energy")
app.add_typer(grid_app, name="grid")
app.add_typer(maintenance_app, name="maintenance")
app.add_typer(meter_app, name="meter")
app.command("tournament")(tournament)
app.add_typer(community_app, name="community")
app.add_typer(member_app, name="member")
app.command("serve")(serve)
app.command("openadr-ven")(openadr_ven)
app.command("agent")(agent_command)
app.command("live")(live_command)

console = Console()


def _print_version(value: bool) -> None:
    if value:
        from wattmesh import __version__

        typer.echo(f"wattmesh {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="On an internal error, print the whole traceback."),
) -> None:
    """wattmesh: peer-to-peer community energy, simulated or live."""


def main(argv: list[str] | None = None) -> None:
    """The console script: runs the command and maps every failure to its documented exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        code = app(args=args, prog_name="wattmesh", standalone_mode=False)
    except typer.Abort:
        typer.echo("wattmesh: interrupted", err=True)
        code = 130
    except typer.exceptions.TyperException as exc:  # usage errors: Typer's (vendored) click exceptions
        exc.show()
        code = getattr(exc, "exit_code", EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        typer.echo("wattmesh: interrupted", err=True)
        code = 130
    except Exception as exc:
        if debug:
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        typer.echo(
            f"wattmesh: internal error: {type(exc).__name__}: {first} (run again with --debug for the traceback)",
            err=True,
        )
        code = EXIT_INTERNAL_ERROR
    sys.exit(code or 0)


@app.command()
def simulate(
    scenario: Path = typer.Argument(None, help="Scenario TOML file; the packaged default when omitted."),
    out: Path = typer.Option(Path("out"), "--out", help="Folder for the report, trades and tables."),
    start: str = typer.Option(None, help="Override the scenario's start (UTC, ISO 8601)."),
    end: str = typer.Option(None, help="Override the scenario's end (UTC, ISO 8601, exclusive)."),
    ledger: str = typer.Option(None, help="Override the scenario's ledger backend: local, evm or none."),
    keys: Path = typer.Option(
        None,
        "--keys",
        help="Keystore folder of the members' and operator's keys (default: the user's data folder).",
    ),
    workers: int = typer.Option(None, "--workers", help="Run the feeders as tasks on N processes (a city)."),
    ray: str = typer.Option(
        None, "--ray", help="Run the feeders as tasks on a Ray cluster: auto or ADDRESS."
    ),
) -> None:
    """Simulate a community and write report.html, trades.jsonl, intervals.parquet and members.csv.

    A scenario with [[feeders]], or --workers/--ray, runs as a city: a task per feeder and a substation
    market; it writes city.csv, substation_trades.csv and the substation's ledger instead."""
    from wattmesh.scale.cli import is_city, run_city_command
    from wattmesh.simulate.cli import run_simulate

    _refuse_a_keystore_on_a_file(keys)
    if workers is not None or ray is not None or is_city(scenario):
        raise typer.Exit(run_city_command(scenario, out, workers, ray, console, keys, start, end))
    raise typer.Exit(run_simulate(scenario, out, start, end, console, ledger, keys))


@app.command()
def sweep(
    scenario: Path = typer.Argument(None, help="Base scenario TOML file; the packaged default when omitted."),
    vary: list[str] = typer.Option(..., "--vary", help="FIELD=V1,V2,... (repeat for a grid)."),
    out: Path = typer.Option(Path("out-sweep"), "--out", help="Folder for sweep.csv/.parquet/.html."),
    workers: int = typer.Option(None, "--workers", help="Run the tasks on N processes."),
    ray: str = typer.Option(None, "--ray", help="Run the tasks on a Ray cluster: auto or ADDRESS."),
) -> None:
    """Run a grid of scenarios (every combination of the --vary values); one tidy table and a report."""
    from wattmesh.scale.cli import run_sweep_command

    raise typer.Exit(run_sweep_command(scenario, vary, out, workers, ray, console))


def _refuse_a_keystore_on_a_file(keys: Path | None) -> None:
    """Exit 2 at once, before any work, when the keystore (``--keys`` or ``$WATTMESH_KEYS``) lies in or at
    a regular file, which would fail only when the ledger is written, after the whole simulation."""
    import os

    name, folder = (
        ("--keys", keys) if keys is not None else ("WATTMESH_KEYS", os.environ.get("WATTMESH_KEYS"))
    )
    if not folder:
        return
    path = Path(folder).absolute()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = "is a file" if existing == path else f"lies in {existing}, a file"
        typer.echo(
            f"{name} {folder} {where}; expected a keystore folder (or a path that does not exist)", err=True
        )
        raise typer.Exit(EXIT_BAD_INPUT)


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


if __name__ == "__main__":
    main()
