"""The `wattmesh tournament` command: strategies trading on a scenario's community, printed with Rich."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def tournament(
    scenario: Path = typer.Argument(None, help="Scenario TOML file; the packaged default when omitted."),
    days: int = typer.Option(
        None, "--days", help="Days from the scenario's start (default: its whole span)."
    ),
    mix: str = typer.Option(
        None,
        "--mix",
        help="Shares of the strategies: truthful, ramp, zic, zip, learning (e.g. learning=0.5,zip=0.5); "
        "default: the scenario's agents.mix.",
    ),
    mechanism: str = typer.Option(
        None,
        "--mechanism",
        help="pay_as_clear (one sealed round), pay_as_bid or order_book (several rounds); default: the "
        "scenario's agents.mechanism.",
    ),
    rounds: int = typer.Option(
        None,
        "--rounds",
        help="Bidding rounds per interval for pay_as_bid and order_book; default: the scenario's agents.rounds.",
    ),
    rotations: int = typer.Option(
        None,
        "--rotations",
        help="Runs with the strategies rearranged over the homes (default: every permutation of up to 3 strategies, else one cyclic shift per strategy).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the strategies' draws and the assignments."),
    repeats: int = typer.Option(
        1, "--repeats", help="Splits of the homes into strategy groups, pooled (each with all its runs)."
    ),
) -> None:
    """Trade a scenario's community with a mix of strategies: profit per kWh, efficiency, convergence."""
    import pandas as pd

    from wattmesh.agents.tournament import TOURNAMENT_MECHANISMS, community_tournament, parse_mix
    from wattmesh.community.build import build_community
    from wattmesh.community.scenario import ScenarioError, load_scenario

    if mix is not None:
        try:
            parse_mix(mix)
        except ValueError as exc:
            console.print(f"[red]--mix {mix!r}: {exc}[/red]")
            raise typer.Exit(2) from None
    if mechanism is not None and mechanism not in TOURNAMENT_MECHANISMS:
        console.print(
            f"[red]--mechanism {mechanism!r} is not one of {', '.join(TOURNAMENT_MECHANISMS)}[/red]"
        )
        raise typer.Exit(2)
    if repeats < 1:
        console.print(f"[red]--repeats {repeats} is not a positive number of splits[/red]")
        raise typer.Exit(2)
    if days is not None and days < 1:
        console.print(f"[red]--days {days} is not a positive number of days[/red]")
        raise typer.Exit(2)
    try:
        scenario_values = load_scenario(scenario)
        end = None
        if days is not None:
            end = (scenario_values["time.start"] + pd.Timedelta(days=days)).isoformat()
        scenario_values = load_scenario(scenario, overrides={"time.end": end})
    except ScenarioError as exc:
        console.print(f"[red]{exc.args[0].splitlines()[0]}[/red]")
        raise typer.Exit(2) from None
    mix = scenario_values["agents.mix"] if mix is None else mix
    mechanism = scenario_values["agents.mechanism"] if mechanism is None else mechanism
    rounds = scenario_values["agents.rounds"] if rounds is None else rounds
    with console.status("building the community"):
        community = build_community(scenario_values)
    plan = None
    if scenario_values["energy.dispatch"] == "planner":
        from wattmesh.energy.members import plan_scenario_dispatch

        with console.status("planning the homes' batteries and EVs (energy.dispatch = planner)"):
            plan = plan_scenario_dispatch(community, scenario_values)
    with console.status("trading"):
        table, summary, results = community_tournament(
            community, mix, mechanism, rounds, seed, plan, rotations, repeats
        )
    currency = community.currency
    out = Table(
        title=f"{scenario_values['name']}: {len(community.index)} intervals, {mechanism}"
        f" ({results[0].n_rounds} round(s)), {len(results)} run(s), positions from the "
        f"{'energy plan' if plan is not None else 'self-consumption rule'}"
    )
    for column in (
        "strategy",
        "homes",
        "offered kWh",
        "traded kWh",
        f"profit {currency}",
        f"profit {currency}/kWh offered",
        f"profit {currency}/kWh traded",
    ):
        out.add_column(column, justify="left" if column == "strategy" else "right")
    for row in table.itertuples():
        out.add_row(
            row.strategy,
            f"{row.members:.0f}",
            f"{row.offered_kwh:,.0f}",
            f"{row.traded_kwh:,.0f}",
            f"{row.profit:,.2f}",
            f"{row.profit_per_kwh:.4f}",
            f"{row.profit_per_traded_kwh:.4f}",
        )
    console.print(out)
    console.print(
        f"allocative efficiency (realised welfare / LP optimum of the true values): "
        f"[bold]{summary['efficiency']:.2%}[/bold]"
    )
    console.print(
        "price convergence, Smith's alpha (RMS deviation from the competitive price, relative): "
        f"first day {summary['alpha_first_day']:.3f}, last day {summary['alpha_last_day']:.3f}, "
        f"mean {summary['alpha_mean']:.3f}"
    )
