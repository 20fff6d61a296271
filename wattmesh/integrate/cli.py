"""`wattmesh openadr-ven`: the co-op's exchange as a VEN of the DSO's OpenADR 2.0b VTN.

The bridge registers at the VTN (openleadr), turns each event it accepts into DR_EVENTS rows
(:func:`wattmesh.integrate.openadr.dr_events_from_openadr`) and posts them, signed with the operator's key,
to the exchange's ``POST /operator/dr-events``: the exchange journals them, shows them on its market page
and streams them to the home agents, which plan with their caps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import pandas as pd
import typer

logger = logging.getLogger(__name__)


def event_rows(events: pd.DataFrame) -> list[dict]:
    """DR_EVENTS rows as the exchange's API takes them (UTC ISO 8601 times, kW or None)."""

    def kw(value) -> float | None:
        return None if pd.isna(value) else float(value)

    return [
        {"event_id": row.event_id, "start": row.start.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
         "end": row.end.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"), "limit_kw": kw(row.limit_kw),
         "reduction_kw": kw(row.reduction_kw), "member_id": row.member_id, "source": row.source}
        for row in events.itertuples(index=False)
    ]  # fmt: skip


def post_events(server: str, secret: bytes):
    """An ``on_events`` callback that posts the rows to the exchange at ``server`` as its operator; a refusal
    is one log line naming the event (nothing is retried: the VTN resends what it still means)."""
    from wattmesh.ledger.keys import OPERATOR_ID
    from wattmesh.service.client import ExchangeClient

    def on_events(events: pd.DataFrame) -> None:
        rows = event_rows(events)
        client = ExchangeClient(server, OPERATOR_ID, secret)  # a fresh sequence number: the time now
        try:
            answer = client.call("POST", "/operator/dr-events", {"events": rows})
        except Exception as err:  # the exchange is down: say so, the bridge keeps running
            logger.warning(
                "openadr: events %s not posted to %s: %s", [r["event_id"] for r in rows], server, err
            )
            return
        finally:
            client.http.close()
        if answer.status_code == 200:
            logger.warning("openadr: events %s journaled by the exchange", [r["event_id"] for r in rows])
        else:
            logger.warning("openadr: the exchange refused events %s: %s %s", [r["event_id"] for r in rows],
                           answer.status_code, answer.text)  # fmt: skip

    return on_events


def openadr_ven(
    folder: Path = typer.Argument(..., help="The co-op folder (its operator key signs the posted events)."),
    vtn: str = typer.Option(..., "--vtn", help="The DSO's VTN, e.g. http://dso:8080/OpenADR2/Simple/2.0b."),
    server: str = typer.Option(
        None, "--server", help="The exchange (default exchange.toml's host and port)."
    ),
    ven_name: str = typer.Option(
        "wattmesh-exchange", "--ven-name", help="The exchange's VEN name at the VTN."
    ),
) -> None:
    """Register the exchange as the DSO's VEN and post every event the VTN sends to the exchange."""
    from wattmesh.integrate.openadr import ExchangeVen
    from wattmesh.service.auth import secret_from_key_file
    from wattmesh.service.coop import load_coop

    try:
        coop = load_coop(folder)
        secret = secret_from_key_file(coop.key_dir / "operator.key")
    except (ValueError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    server = server or f"http://{coop.host}:{coop.port}"
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    ven = ExchangeVen(ven_name, vtn, post_events(server, secret))
    typer.echo(f"OpenADR VEN {ven_name!r} of {vtn}, posting events to {server}")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        registering = asyncio.create_task(ven.start())  # openleadr registers, then polls in the background
        await stop.wait()
        registering.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await ven.stop()

    asyncio.run(run())
