"""Terminal front of a city run (`wattmesh simulate city.toml --workers N | --ray ADDRESS`) and of sweeps."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console
from rich.markup import escape

from wattmesh.community.scenario import ScenarioError, load_scenario

EXIT_BAD_INPUT = 2


def _raw(path: Path | None, console: Console):
    """The scenario file as a TOML-shaped dict after validation, or None (problems printed)."""
    from wattmesh.community.scenario import DEFAULT_SCENARIO
    from wattmesh.scale.tasks import validated

    path = Path(path) if path is not None else DEFAULT_SCENARIO
    try:
        raw = tomllib.loads(load_text(path))
        validated(raw, str(path))
    except ScenarioError as exc:
        console.print(f"[red]{escape(exc.args[0].splitlines()[0])}[/red]", soft_wrap=True)
        for problem in exc.problems:
            console.print(
                f"  [bold]{escape(problem.field)}[/bold]: {escape(problem.message)}", soft_wrap=True
            )
        return None, path
    return raw, path


def load_text(path: Path) -> str:
    """The scenario file's text, refused as :func:`load_scenario` refuses it (missing, not TOML, ...)."""
    load_scenario_file_checks(path)
    return path.read_text(encoding="utf-8")


def load_scenario_file_checks(path: Path) -> None:
    """Raise the file problems :func:`load_scenario` raises (a folder, too large, unreadable, not TOML)."""
    try:
        load_scenario(path)
    except ScenarioError as exc:
        if any(p.field == "file" for p in exc.problems):
            raise


def is_city(path: Path | None) -> bool:
    """Whether the scenario file names a list of feeders (``[[feeders]]``); False when it cannot be read."""
    if path is None:
        return False
    try:
        return bool(tomllib.loads(Path(path).read_text(encoding="utf-8")).get("feeders"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False  # the ordinary path reports what is wrong with the file


def run_city_command(
    path: Path | None,
    out: Path,
    workers: int | None,
    ray: str | None,
    console: Console,
    key_dir=None,
    start: str | None = None,
    end: str | None = None,
) -> int:
    """Run every feeder of the scenario as a task and the substation market; write the city's tables.

    Writes ``out/city.csv`` (a row per feeder and case), ``out/substation_trades.csv`` and the substation's
    signed ledger ``out/substation_ledger.sqlite``. Returns 0, or 2 on a bad scenario.
    """
    from wattmesh.scale.city import record_substation, run_city
    from wattmesh.scale.executors import executor_of
    from wattmesh.simulate.ledger_step import default_key_dir

    raw, path = _raw(path, console)
    if raw is None:
        return EXIT_BAD_INPUT
    raw.setdefault("time", {}).update({k: v for k, v in (("start", start), ("end", end)) if v is not None})
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    try:
        executor = executor_of(workers, ray)
    except (RuntimeError, ValueError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        return EXIT_BAD_INPUT
    try:
        result = run_city(raw, str(path), executor)
    finally:
        executor.close()
    seconds = time.perf_counter() - began
    table = result.table()
    table.to_csv(out / "city.csv", index=False)
    scope = f"substation|{raw.get('name', '')}|seed={result.substation.seed}"
    result.substation.records(scope).to_csv(out / "substation_trades.csv", index=False)
    keys = key_dir or default_key_dir(SimpleNamespace(name=f"{raw.get('name', 'city')} substation"))
    entries = record_substation(result, out / "substation_ledger.sqlite", keys, scope)
    full = table[table["case"] == "p2p_battery"]
    console.print(
        f"{len(result.feeders)} feeder(s) on {executor.name} in {seconds:.1f} s; "
        f"city self-sufficiency {100 * (1 - full['import_kwh'].sum() / full['consumption_kwh'].sum()):.1f} %, "
        f"substation traded {result.substation.volume_kwh.sum():,.1f} kWh in {entries:,} trades",
        highlight=False,
    )
    console.print(
        f"Tables: {out / 'city.csv'}, {out / 'substation_trades.csv'}; ledger {out / 'substation_ledger.sqlite'}"
    )
    return 0


def run_sweep_command(
    path: Path | None, varies: list[str], out: Path, workers: int | None, ray: str | None, console: Console
) -> int:
    """Run the grid of scenarios; write ``out/sweep.csv``, ``out/sweep.parquet`` and ``out/sweep.html``."""
    from wattmesh.scale.executors import executor_of
    from wattmesh.scale.sweep import SweepError, parse_vary, run_sweep, write_sweep_report

    try:
        parsed = [parse_vary(option) for option in varies]
    except SweepError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        return EXIT_BAD_INPUT
    raw, path = _raw(path, console)
    if raw is None:
        return EXIT_BAD_INPUT
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    try:
        executor = executor_of(workers, ray)
    except (RuntimeError, ValueError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        return EXIT_BAD_INPUT
    try:
        table, results = run_sweep(raw, parsed, str(path), executor)
    except (SweepError, ScenarioError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        return EXIT_BAD_INPUT
    finally:
        executor.close()
    table.to_csv(out / "sweep.csv", index=False)
    table.to_parquet(out / "sweep.parquet", index=False)
    report = write_sweep_report(table, [name for name, _ in parsed], out / "sweep.html")
    console.print(
        f"{len(results)} scenario(s) x {len(results[0].feeders)} feeder(s) on {executor.name} in "
        f"{time.perf_counter() - began:.1f} s; table {out / 'sweep.csv'}; report {report.resolve()}",
        highlight=False,
    )
    return 0
