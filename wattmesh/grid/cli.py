"""`wattmesh grid ...`: power flow and outage checks of a SimBench feeder from the command line."""

from __future__ import annotations

import time

import typer

app = typer.Typer(help="Power flow, limits and outage resilience of a feeder.", no_args_is_help=True)

DEFAULT_FEEDER = "1-LV-rural3--2-sw"


@app.command("powerflow")
def powerflow(
    feeder: str = typer.Argument(DEFAULT_FEEDER, help="SimBench LV code or pandapower JSON file."),
    start: str = typer.Option(None, help="First interval (UTC, ISO 8601); default: the whole year."),
    end: str = typer.Option(None, help="End (UTC, ISO 8601, exclusive)."),
    pv_scale: float = typer.Option(1.0, help="Multiply the feeder's PV by this factor (stress test)."),
    vm_min: float = typer.Option(0.9, help="Lowest allowed voltage \\[pu]."),
    vm_max: float = typer.Option(1.1, help="Highest allowed voltage \\[pu]."),
    line_max: float = typer.Option(100.0, help="Highest allowed line loading \\[%]."),
    trafo_max: float = typer.Option(100.0, help="Highest allowed transformer loading \\[%]."),
) -> None:
    """Power flow of a SimBench feeder's own profiles: voltages, loadings and hours over limit."""
    from rich.console import Console
    from rich.table import Table

    from wattmesh.community.simbench_source import load_feeder
    from wattmesh.grid.assess import grid_report
    from wattmesh.grid.limits import GridLimits
    from wattmesh.grid.network import feeder_model, load_network, simbench_bus_injection_kw
    from wattmesh.grid.powerflow import power_flow_series

    console = Console()
    limits = GridLimits(vm_min, vm_max, line_max, trafo_max)
    data = load_feeder(feeder)
    injection = simbench_bus_injection_kw(_scaled(data, pv_scale))
    injection = injection.loc[_span(injection.index, start, end)]
    if injection.empty:
        console.print(f"[red]no intervals between start {start} and end {end}[/red]")
        raise typer.Exit(2)
    model = feeder_model(load_network(data.net_path))
    began = time.perf_counter()
    result = power_flow_series(model, injection)
    seconds = time.perf_counter() - began
    report = grid_report(result, limits)
    table = Table(title=f"{feeder}: {len(injection):,} intervals in {seconds:.2f} s ({result.solver})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in report.summary.items():
        table.add_row(name, f"{value:,.4g}")
    console.print(table)
    lines = Table(title="most loaded lines")
    for column in ["line", *report.top_lines.columns]:
        lines.add_column(column, justify="right")
    for line, row in report.top_lines.head(5).iterrows():
        lines.add_row(str(line), *(f"{v:.1f}" for v in row))
    console.print(lines)


@app.command("outage")
def outage(
    feeder: str = typer.Argument(DEFAULT_FEEDER, help="SimBench LV code."),
    start: str = typer.Option("2016-01-15T16:00Z", help="Outage start (UTC, ISO 8601)."),
    hours: float = typer.Option(8.0, help="Outage length \\[h]."),
    critical_fraction: float = typer.Option(0.3, help="Share of each home's load that is critical \\[-]."),
    community_kwh: float = typer.Option(200.0, help="Community battery capacity \\[kWh] (power: half)."),
    soc: float = typer.Option(0.5, help="State of charge of every battery when the outage starts \\[-]."),
) -> None:
    """Island the feeder's loads (SimBench profiles, PV and storage) for an outage, with and without sharing."""
    from rich.console import Console
    from rich.table import Table

    from wattmesh.community.simbench_source import load_feeder
    from wattmesh.grid.islanding import outage_comparison, outage_mask
    from wattmesh.grid.limits import interval_hours

    console = Console()
    data = load_feeder(feeder)
    window = outage_mask(data.index, start, hours)
    if not window.any():
        console.print(
            f"[red]the outage from {start} for {hours} h has no interval in the feeder's year[/red]"
        )
        raise typer.Exit(2)
    homes, load_kw, gen_kw, capacity, power, efficiency = _homes(data)
    per_home, summary = outage_comparison(
        load_kw[window],
        gen_kw[window],
        interval_hours(data.index),
        homes,
        battery_capacity_kwh=capacity,
        battery_power_kw=power,
        battery_efficiency=efficiency,
        battery_soc_kwh=capacity * soc,
        community_capacity_kwh=community_kwh,
        community_power_kw=community_kwh / 2,
        community_soc_kwh=community_kwh * soc,
        critical_fraction=critical_fraction,
    )
    table = Table(title=f"{feeder}: {len(homes)} homes islanded from {start} for {hours:g} h")
    table.add_column("")
    for column in summary.columns:
        table.add_column(column, justify="right")
    for name, row in summary.iterrows():
        table.add_row(name, *(f"{v:,.1f}" for v in row))
    console.print(table)


def _scaled(data, pv_scale: float):
    from dataclasses import replace

    return replace(data, sgen_kw=data.sgen_kw * pv_scale) if pv_scale != 1.0 else data


def _span(index, start: str | None, end: str | None):
    import pandas as pd

    keep = pd.Series(True, index=index)
    if start:
        keep &= index >= pd.Timestamp(start)
    if end:
        keep &= index < pd.Timestamp(end)
    return keep.to_numpy()


def _homes(data):
    """One home per SimBench load, with the PV and storage at its bus shared evenly among its bus's homes."""
    import numpy as np
    import pandas as pd

    elements = data.elements
    loads = elements[elements["element"] == "load"].set_index("name").loc[data.load_kw.columns]
    homes = pd.Index(loads.index, name="home")
    bus = loads["bus"].to_numpy()
    share = 1.0 / pd.Series(bus).map(pd.Series(bus).value_counts()).to_numpy()
    sgens = elements[elements["element"] == "sgen"].set_index("name").loc[data.sgen_kw.columns]
    pv_by_bus = data.sgen_kw.T.groupby(sgens["bus"].to_numpy()).sum().T
    gen = pv_by_bus.reindex(columns=bus, fill_value=0.0).to_numpy() * share
    storage = elements[elements["element"] == "storage"].groupby("bus")
    capacity = storage["capacity_kwh"].sum().reindex(bus, fill_value=0.0).to_numpy() * share
    power = storage["rated_kw"].sum().reindex(bus, fill_value=0.0).to_numpy() * share
    efficiency = np.full(len(bus), 0.9)
    return (
        homes,
        np.clip(data.load_kw.to_numpy(), 0, None),
        np.clip(gen, 0, None),
        capacity,
        power,
        efficiency,
    )
