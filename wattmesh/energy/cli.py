"""`wattmesh energy ...`: check demand-response event files, compare dispatch strategies on CityLearn 2022."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Battery and EV planning, demand-response events.", no_args_is_help=True)

#: The CityLearn 2022 homes shipped in the package (see its README for the licence and source).
DEFAULT_CITYLEARN = Path(__file__).resolve().parents[1] / "data" / "citylearn_2022"


@app.command("events")
def events(path: Path = typer.Argument(..., help="Demand-response events, .csv or .json")) -> None:
    """Validate a demand-response events file and print its events (exit code 2 on any problem)."""
    from rich.console import Console

    from wattmesh.energy.events import read_events

    console = Console()
    try:
        table = read_events(path)
    except (ValueError, FileNotFoundError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    typer.echo(table.to_string(index=False))


@app.command("citylearn")
def citylearn(
    data: Path = typer.Option(
        DEFAULT_CITYLEARN, help="A CityLearn data set: its folder or schema.json (default CityLearn 2022)."
    ),
    start_date: str = typer.Option(
        None, help="Local date of the data's first row, YYYY-MM-DD (default: the schema's start_date)."
    ),
    tz: str = typer.Option(
        None, help="Time zone of the data's hours, e.g. Etc/GMT+8 (default: the schema's)."
    ),
    price_per_kwh: float = typer.Option(
        None, help="Flat import price \\[currency/kWh] (replaces the pricing file; needed without one)."
    ),
    days: int = typer.Option(14, help="Days from the start of the data."),
) -> None:
    """Compare no battery, the self-consumption rule, MPC and the perfect-foresight bound on CityLearn data
    (default the 2022 homes)."""
    import numpy as np
    from rich.console import Console
    from rich.markup import escape

    from wattmesh.community.citylearn import CityLearnDataError, load_citylearn
    from wattmesh.energy.compare import compare_strategies
    from wattmesh.energy.forecasts import perfect_forecast, persistence, seasonal_naive

    console = Console()
    try:
        cl = load_citylearn(data, start_date=start_date, tz=tz)
        if cl.price_per_kwh is None and price_per_kwh is None:
            raise CityLearnDataError(f"{cl.source}: no pricing file; give --price-per-kwh for a flat price")
    except CityLearnDataError as error:
        console.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    n = days * 24
    load, pv = cl.load_kwh.iloc[:n], cl.pv_kwh.iloc[:n]
    price = cl.price_per_kwh.to_numpy() if price_per_kwh is None else np.full(len(cl.load_kwh), price_per_kwh)
    carbon = None if cl.carbon_kg_per_kwh is None else cl.carbon_kg_per_kwh.to_numpy()[:n]
    batteries = cl.batteries.reset_index().rename(columns={"home": "battery_id"}).assign(soc_kwh=0.0)
    table, _ = compare_strategies(
        load,
        pv,
        price[:n],
        0.0,
        batteries,
        forecasters={
            "perfect forecasts": (perfect_forecast(load), perfect_forecast(pv)),
            "persistence": (persistence, persistence),
            "seasonal naive": (seasonal_naive("1D"), seasonal_naive("1D")),
        },
        carbon_kg_per_kwh=carbon,
        horizon_intervals=24,
    )
    typer.echo(table.round(3).to_string())
