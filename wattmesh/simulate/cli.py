"""Terminal front of the simulator: progress bar, KPI table and exit codes for `wattmesh simulate`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from wattmesh.community.scenario import ScenarioError, load_scenario

EXIT_BAD_INPUT = 2


def _print_problems(console: Console, header: str, problems) -> int:
    """Print a header and one line per problem (field: message); return the bad-input exit code."""
    console.print(f"[red]{escape(header)}[/red]", soft_wrap=True)  # soft: a path is never broken in two
    for problem in problems:
        line = f"  [bold]{escape(problem.field)}[/bold]: {escape(problem.message)}"
        console.print(line, highlight=False, soft_wrap=True)
    return EXIT_BAD_INPUT


class _CountColumn(ProgressColumn):
    """'done/total unit' for a task that names its unit (e.g. '312/1,440 plans'), else nothing."""

    def render(self, task) -> Text:
        unit = task.fields.get("unit")
        if not unit or task.total is None:
            return Text("")
        return Text(f"{int(task.completed):,}/{int(task.total):,} {unit}", style="progress.download")


def _step(bar: Progress, label: str, work, *args, **kwargs):
    """Run one stage of the pipeline as a one-step task of the progress bar; return what it returns."""
    task = bar.add_task(label, total=1)
    value = work(*args, **kwargs)
    bar.update(task, completed=1)
    return value


def _print_readings_repairs(console: Console, scenario, meta: dict) -> None:
    """Say how many meter readings of a co-op's files the quality checks flagged and how they were repaired."""
    if scenario["feeder.source"] != "files":
        return
    flagged, repaired = meta.get("readings_flagged", 0), meta.get("readings_repaired", {})
    if flagged:
        methods = ", ".join(f"{method}: {count}" for method, count in repaired.items()) or "none changed"
        console.print(
            f"{escape(scenario['feeder.readings_file'])}: {flagged} reading(s) flagged by the quality checks, "
            f"repaired ({methods}); see `wattmesh meter check` for each one",
            highlight=False,
            soft_wrap=True,
        )


def _scan_health(community, scenario, faults):
    """The PV scan of the simulated meters, the 90 days before the start (SimBench's data) as reference."""
    from wattmesh.energy.members import past_community
    from wattmesh.maintenance.community import scan_community

    past = past_community(scenario, 90) if scenario["feeder.source"] == "simbench" else None
    return scan_community(community, past, faults, scenario["feeder.latitude"], scenario["feeder.longitude"])


def run_validate(path: Path, console: Console) -> int:
    """Print every problem of a scenario file; 0 when it is valid, 2 otherwise."""
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        return _print_problems(console, f"{path}: {len(exc.problems)} problem(s)", exc.problems)
    console.print(f"[green]{path}: valid[/green] ({scenario['name']})")
    return 0


def run_simulate(
    path: Path | None,
    out: Path,
    start: str | None,
    end: str | None,
    console: Console,
    ledger_backend: str | None = None,
    key_dir: Path | None = None,
) -> int:
    """Validate, build, simulate and write the outputs; 2 on a bad scenario or output folder, before
    anything runs. The outputs appear in ``out`` as a whole, with ``manifest.json``, or not at all."""
    from wattmesh.maintenance.community import FaultError
    from wattmesh.simulate.folder import OutputError, OutputFolder

    try:
        scenario = load_scenario(
            path, overrides={"time.start": start, "time.end": end, "ledger.backend": ledger_backend}
        )
    except ScenarioError as exc:
        return _print_problems(console, exc.args[0].splitlines()[0], exc.problems)

    try:
        with OutputFolder(out) as folder:
            return _run(scenario, folder, console, key_dir)
    except (OutputError, FaultError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", highlight=False, soft_wrap=True)
        return EXIT_BAD_INPUT


def _run(scenario, folder, console: Console, key_dir: Path | None) -> int:
    """The pipeline of :func:`run_simulate`, writing into the folder's staging copy, committed at the end."""
    from wattmesh.agents.tournament import community_tournament
    from wattmesh.community.build import build_community
    from wattmesh.energy.members import compare_home_strategies, plan_scenario_dispatch
    from wattmesh.energy.members import forecast_options as forecast_options_of
    from wattmesh.kpi.report import format_kpi, typical_week
    from wattmesh.maintenance.community import inject_faults
    from wattmesh.simulate.engine import simulate
    from wattmesh.simulate.grid_step import assess_grid
    from wattmesh.simulate.ledger_step import record_trades
    from wattmesh.simulate.outputs import interval_table, kpi_table, run_manifest, write_outputs

    staging = folder.staging
    columns = (
        TextColumn("{task.description:<22}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        _CountColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        community = _step(bar, "loading the community", build_community, scenario)
        _print_readings_repairs(console, scenario, community.meta)
        # The scenario's PV faults change what the meters see before anything is planned or settled.
        faults = []
        if scenario.faults:
            community, faults = _step(bar, "injecting PV faults", inject_faults, community, scenario.faults)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(tasks[stage], completed=done, total=total)

        plan = None
        forecast_options = {}
        if scenario["energy.dispatch"] == "planner":
            # The homes' measured past: their forecasts learn from the weeks before the start.
            forecast_options = forecast_options_of(scenario)
            fits = bar.add_task("forecasters (LightGBM)", total=None, visible=False, unit="fits")
            planning = bar.add_task("planning batteries, EVs", total=None, unit="plans")
            plan = plan_scenario_dispatch(
                community,
                scenario,
                forecast_options,
                lambda done, total: bar.update(fits, completed=done, total=total, visible=True),
                lambda done, total: bar.update(planning, completed=done, total=total),
            )
            bar.update(planning, total=1, completed=1, unit=None)
        tasks = {
            "simulation": bar.add_task("simulating 3 cases", total=len(community.index), unit="intervals")
        }
        result = simulate(
            community,
            price_rule=scenario["market.price_rule"],
            seed=scenario["seed"],
            progress=progress,
            mechanism=scenario["market.mechanism"],
            home_plan=plan,
            min_trade_kwh=scenario["market.min_trade_kwh"],
        )
        grid = None
        outage = scenario["outage.start"]
        if outage is not None and not (community.index[0] <= outage <= community.index[-1]):
            console.print(f"outage.start {outage} is outside the simulated span: no outage study")
            outage = None
        power_flow = scenario["grid.power_flow"] and community.meta.get("net_path") is not None
        if scenario["grid.power_flow"] and not power_flow:
            console.print("feeder.network_file is empty: no power flow, no grid or outage study")
        if power_flow:
            grid = _step(
                bar,
                "power flow, outage",
                assess_grid,
                result,
                scenario["grid.voltage_min_pu"],
                scenario["grid.voltage_max_pu"],
                scenario["grid.distance_fee_per_kwh_per_segment"],
                outage,
                scenario["outage.hours"],
                scenario["outage.critical_fraction"],
            )
        tournament = None
        if scenario["agents.tournament"]:
            tournament = _step(
                bar,
                "strategy tournament",
                community_tournament,
                community,
                scenario["agents.mix"],
                scenario["agents.mechanism"],
                scenario["agents.rounds"],
                scenario["seed"],
                plan,
            )[:2]
        ledger = None
        backend = scenario["ledger.backend"]
        if backend != "none":
            task = bar.add_task(f"ledger ({backend})", total=len(community.index), unit="intervals")
            ledger = record_trades(
                result,
                staging,
                backend,
                scenario["ledger.mode"],
                scenario["ledger.party_signatures"],
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                key_dir=key_dir,
            )
        strategies = None
        per_day = int(round(24 / community.interval_h))
        if plan is not None and len(community.index) >= per_day:
            # Three days of the typical week: the bound is one LP over them, and the MPC runs once more on
            # them (re-planned as in the simulation, with its forecasts).
            days = typical_week(interval_table(result)).index[: per_day * 3]
            versus = bar.add_task("planner vs bound", total=None, unit="plans")
            strategies = compare_home_strategies(
                community,
                days[0],
                days[-1],
                scenario["energy.forecast"],
                progress=lambda done, total: bar.update(versus, completed=done, total=total),
                replan_every=max(1, scenario["energy.replan_minutes"] // scenario["time.interval_minutes"]),
                plan=plan,
                **forecast_options,
            )
            bar.update(versus, total=1, completed=1, unit=None)
        health = None
        if scenario["maintenance.scan"] or faults:
            health = _step(bar, "PV health scan", _scan_health, community, scenario, faults)
        fairness = (scenario["fairness.battery_share"], scenario["fairness.solidarity_percent"])
        paths = _step(
            bar,
            "writing report",
            write_outputs,
            result,
            staging,
            grid,
            strategies,
            tournament,
            fairness,
            health,
        )
        out = folder.commit(run_manifest(scenario, result, ledger))
        paths = {name: out / path.relative_to(staging) for name, path in paths.items()}

    kpis = kpi_table(result)
    table = Table(
        title=f"{scenario['name']}: {len(community.members)} members, {len(community.index)} intervals"
    )
    table.add_column("KPI", no_wrap=True)
    for case in kpis.columns:
        table.add_column(case, justify="right")
    for name, row in kpis.iterrows():
        table.add_row(escape(name), *(format_kpi(name, v) for v in row))
    console.print(table)
    console.print(f"{len(result.full.trades):,} trades in {paths['trades']}")
    if ledger is not None:
        console.print(
            f"Ledger ({ledger.backend}): {ledger.entries:,} signed entries in {out / ledger.path.name}, "
            f"root {ledger.root_hex[:16]}...; audit with `wattmesh ledger verify {out / ledger.path.name}`; "
            f"keys in {ledger.key_dir}"
        )
        for problem in ledger.chain_problems:
            console.print(f"[red]chain: {escape(problem)}[/red]")
    console.print(f"Report: [bold]{paths['report'].resolve()}[/bold]")
    return 0
