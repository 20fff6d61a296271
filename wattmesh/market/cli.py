"""`wattmesh market ...`: list the mechanisms and clear an order file for one interval."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="The local market: mechanisms and one-interval clearing of an order file.", no_args_is_help=True
)


@app.command("mechanisms")
def mechanisms() -> None:
    """List the clearing mechanisms a scenario or `market clear` can name, with their options."""
    from rich.console import Console
    from rich.table import Table

    from wattmesh.market.batch import MECHANISMS

    table = Table("mechanism", "what it does and its options")
    for name, text in MECHANISMS.items():
        table.add_row(name, text)
    Console().print(table)


@app.command("clear")
def clear(
    orders: Path = typer.Argument(..., help="Order table, CSV with the columns of docs/market.md."),
    interval: str = typer.Option(..., "--interval", help="Delivery interval start (UTC, ISO 8601)."),
    mechanism: str = typer.Option("pay_as_clear", "--mechanism", help="See `wattmesh market mechanisms`."),
    retail: float = typer.Option(None, "--retail", help="Utility retail price (sdr, mmr, bill_sharing)."),
    feed_in: float = typer.Option(None, "--feed-in", help="Utility feed-in price (sdr, mmr, bill_sharing)."),
    fee: float = typer.Option(0.0, "--fee", help="Grid fee per local kWh, paid by the buyer."),
    seed: int = typer.Option(0, "--seed", help="Seed of the documented random tie-break."),
    out: Path = typer.Option(None, "--out", help="Write the trades here (.csv or .jsonl)."),
) -> None:
    """Validate and clear one interval's orders; print the report and the rejected orders."""
    import pandas as pd
    from rich.console import Console

    from wattmesh.market.orders import clear_orders

    console = Console()
    if not orders.exists():
        console.print(f"[red]order file {orders} does not exist[/red]")
        raise typer.Exit(2)
    from wattmesh.market.community import COMMUNITY_RULES

    if mechanism in COMMUNITY_RULES and (retail is None or feed_in is None):
        console.print(
            f"[red]--mechanism {mechanism} needs --retail and --feed-in (the utility's prices)[/red]"
        )
        raise typer.Exit(2)
    options: dict = {"seed": seed}
    if fee:
        options["fee_per_kwh"] = fee
    if retail is not None:
        options["retail_per_kwh"] = retail
    if feed_in is not None:
        options["feed_in_per_kwh"] = feed_in
    try:
        outcome = clear_orders(pd.read_csv(orders), mechanism, delivery_start=interval, **options)
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    for key, value in outcome.report.items():
        console.print(f"{key:>20}: {value}")
    for reason in outcome.rejected.get("reason", []):
        console.print(f"[yellow]rejected[/yellow] {reason}")
    if out is not None:
        if out.suffix == ".jsonl":
            outcome.trades.to_json(out, orient="records", lines=True)
        else:
            outcome.trades.to_csv(out, index=False)
        console.print(f"{len(outcome.trades)} trades written to {out}")
