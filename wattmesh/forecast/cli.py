"""`wattmesh forecast ...`: backtest the forecasters against the baselines on measured data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from wattmesh.forecast.features import Site

app = typer.Typer(help="Forecast load, PV and wind; backtest against baselines.", no_args_is_help=True)

COLUMNS = (
    ("mae", "MAE"),
    ("rmse", "RMSE"),
    ("nrmse", "nRMSE %cap"),
    ("mape", "MAPE %"),
    ("rmse_skill", "RMSE skill %"),
    ("mae_skill", "MAE skill %"),
    ("pinball", "pinball"),
    ("pinball_skill", "pinball skill %"),
    ("coverage", "80% cover %"),
)


#: The CityLearn 2022 homes shipped in the package (see its README for the licence and source).
CITYLEARN_FOLDER = Path(__file__).resolve().parents[1] / "data" / "citylearn_2022"


def citylearn_site(
    tz: str | None, latitude: float | None, longitude: float | None, altitude: float | None
) -> Site | None:
    """The site the options give (None: the data set's own), or a ValueError when only part is given."""
    from wattmesh.forecast.features import Site

    given = {"--tz": tz, "--latitude": latitude, "--longitude": longitude}
    if all(v is None for v in given.values()):
        if altitude is not None:
            raise ValueError("site: --altitude given without --latitude, --longitude and --tz")
        return None
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise ValueError(
            f"site: {', '.join(missing)} missing (give --latitude, --longitude and --tz together)"
        )
    return Site(latitude, longitude, tz, 0.0 if altitude is None else altitude)


@app.command("backtest")
def backtest(
    data: Path = typer.Option(
        CITYLEARN_FOLDER,
        "--data",
        help="CityLearn data set: its folder or schema.json (source citylearn; default the package's "
        "CityLearn 2022 copy).",
        show_default=False,
    ),
    start_date: str = typer.Option(
        None, help="Local date of the data's first row, YYYY-MM-DD (default: the schema's start_date)."
    ),
    tz: str = typer.Option(
        None, help="Time zone of the data's hours, e.g. Etc/GMT+8 (default: the schema's)."
    ),
    latitude: float = typer.Option(None, help="Site latitude \\[deg N] (with --longitude and --tz)."),
    longitude: float = typer.Option(None, help="Site longitude \\[deg E] (with --latitude and --tz)."),
    altitude: float = typer.Option(None, help="Site altitude \\[m]."),
    source: str = typer.Option("citylearn", help="citylearn, nrel-system50 (PV, 15 min) or dwd-wind."),
    target: str = typer.Option("load", help="CityLearn target: load (each home), community or pv."),
    horizon: list[str] = typer.Option(["24h"], "--horizon", help="Lead time; repeat for several."),
    retrain_every: str = typer.Option("30D", help="Retrain before each block of this length."),
    weather_forecasts: bool = typer.Option(False, help="Use CityLearn's 24 h weather forecasts as features."),
    members: int = typer.Option(None, help="Only the first N homes (faster)."),
    trees: int = typer.Option(None, help="Boosting rounds of each LightGBM model (fewer is faster)."),
    pooling: str = typer.Option(
        "global", help="CityLearn: global (one model for all homes) or member (one model per home)."
    ),
    plot: Path = typer.Option(
        Path("forecast_backtest.html"), help="Where to write the forecast plot (HTML)."
    ),
) -> None:
    """Rolling-origin backtest on the last third: a skill table per model and horizon, and a plot."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from wattmesh.community.citylearn import CityLearnDataError
    from wattmesh.forecast import evaluate

    console = Console(width=150)
    if pooling not in ("global", "member"):
        console.print(f"[red]pooling: {pooling!r} is not one of global, member")
        raise typer.Exit(2)
    try:
        site = citylearn_site(tz, latitude, longitude, altitude)
    except ValueError as error:
        console.print(f"[red]{escape(str(error))}", soft_wrap=True)
        raise typer.Exit(2) from None
    results = []
    for h in horizon:
        if source == "citylearn":
            if not data.exists():
                console.print(f"[red]data: {data} not found (expected a CityLearn folder or its schema.json)")
                raise typer.Exit(2)
            try:
                result = evaluate.citylearn_backtest(
                    data,
                    target,
                    h,
                    site=site,
                    start_date=start_date,
                    use_weather_forecasts=weather_forecasts,
                    retrain_every=retrain_every,
                    members=members,
                    n_estimators=trees,
                    pooling=pooling,
                )
            except CityLearnDataError as error:
                console.print(f"[red]{escape(str(error))}", soft_wrap=True)
                raise typer.Exit(2) from None
        elif source == "nrel-system50":
            result = evaluate.nrel_system50_backtest(h, retrain_every, trees)
        elif source == "dwd-wind":
            result = evaluate.dwd_wind_backtest(h, retrain_every=retrain_every, n_estimators=trees)
        else:
            console.print(f"[red]source: {source!r} is not one of citylearn, nrel-system50, dwd-wind")
            raise typer.Exit(2)
        results.append(result)
        table = Table(
            title=f"{result.name}, horizon {h}: hold-out {result.actual.index[0]:%Y-%m-%d} on, "
            f"skill vs {result.reference}"
        )
        table.add_column("model")
        shown = [(key, label) for key, label in COLUMNS if key in result.table.columns]
        for _, label in shown:
            table.add_column(label, justify="right")
        for model, row in result.table.iterrows():
            table.add_row(
                str(model), *("" if row[key] != row[key] else f"{row[key]:.3f}" for key, _ in shown)
            )
        console.print(table)
    write_plot(results, plot)
    console.print(f"plot: {plot}")


def write_plot(results: list, path: Path, days: int = 14) -> None:
    """Forecast against actual with the 10-90 % interval, first member, first ``days`` of the hold-out."""
    import pandas as pd
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=len(results), cols=1, subplot_titles=[f"{r.name}, {r.horizon}" for r in results])
    for row, result in enumerate(results, start=1):
        member = result.actual.columns[0]
        window = result.actual.index[result.actual.index < result.actual.index[0] + pd.Timedelta(days=days)]
        lo, hi = result.forecast.interval(min(result.forecast.quantiles), max(result.forecast.quantiles))
        fig.add_trace(
            go.Scatter(x=window, y=hi.loc[window, member], line={"width": 0}, showlegend=False), row, 1
        )
        fig.add_trace(
            go.Scatter(
                x=window, y=lo.loc[window, member], fill="tonexty", line={"width": 0}, name="10-90 % interval"
            ),
            row,
            1,
        )
        fig.add_trace(
            go.Scatter(x=window, y=result.actual.loc[window, member], name=f"actual {member}"), row, 1
        )
        fig.add_trace(
            go.Scatter(x=window, y=result.forecast.point.loc[window, member], name="LightGBM"), row, 1
        )
    fig.update_layout(height=350 * len(results), title="wattmesh forecast backtest")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(path, include_plotlyjs=True)
