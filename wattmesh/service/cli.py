"""`wattmesh serve`, `wattmesh community init` and `wattmesh member add|suspend|reinstate|rotate`."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import typer

community_app = typer.Typer(help="Make a co-op's exchange folder.", no_args_is_help=True)
member_app = typer.Typer(
    help="Onboard, suspend, reinstate members and rotate their keys.", no_args_is_help=True
)

LOCK_FILE = ".serve.lock"


def serve(
    folder: Path = typer.Argument(..., help="The co-op folder (from `wattmesh community init`)."),
    db: str = typer.Option(
        None, "--db", help="Journal URL: sqlite:///path or postgresql://user@host:port/db."
    ),
    host: str = typer.Option(None, help="Address to listen on (default exchange.toml's, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default exchange.toml's, 8000)."),
) -> None:
    """Run the co-op's live exchange: the HTTP API, clearing at every gate closure, the ledger."""
    import uvicorn

    from wattmesh.service.app import create_app
    from wattmesh.service.coop import load_coop
    from wattmesh.service.engine import Exchange

    try:
        coop = load_coop(folder)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    host = host or coop.host
    port = port or coop.port
    lock = open(folder / LOCK_FILE, "a+")  # noqa: SIM115 (held for the server's lifetime)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        typer.echo(f"error: an exchange already serves {folder} ({_lock_url(folder)})", err=True)
        raise typer.Exit(2) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"http://{host}:{port}\n{os.getpid()}\n")
    lock.flush()
    exchange = Exchange(coop, db)
    typer.echo(f"wattmesh exchange '{coop.name}' on http://{host}:{port} (journal {exchange.db_url})")
    uvicorn.run(create_app(exchange), host=host, port=port, log_level="warning", access_log=False)


def _lock_url(folder: Path) -> str | None:
    path = folder / LOCK_FILE
    if not path.exists():
        return None
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            return handle.read().split()[0]
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


@community_app.command("init")
def community_init(
    folder: Path = typer.Argument(..., help="The folder to create."),
    from_scenario: str = typer.Option(
        "default", "--from-scenario", help="A scenario TOML file, or 'default'."
    ),
    clock: str = typer.Option(
        "wall", help="wall (real time) or manual (the operator moves the market clock)."
    ),
    template: str = typer.Option(
        "exchange",
        "--template",
        help="exchange: the live exchange's folder; files: templates of a co-op's own community to "
        "simulate (members.csv, readings.csv, scenario.toml; docs/own-community.md).",
    ),
) -> None:
    """Write a co-op folder: exchange.toml, members.csv and a key pair per member and for the operator
    (--template files: the own-community templates to fill in and simulate)."""
    from wattmesh.service.coop import coop_from_scenario

    if template == "files":
        from wattmesh.community.files import FilesError, write_templates

        try:
            paths = write_templates(folder)
        except (FilesError, OSError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        names = ", ".join(p.name for p in paths)
        typer.echo(
            f"{folder}: wrote {names}; fill them in, then `wattmesh simulate {folder / 'scenario.toml'}`"
        )
        return
    if template != "exchange":
        typer.echo(f"error: --template {template!r} is not one of exchange, files", err=True)
        raise typer.Exit(2)
    try:
        coop = coop_from_scenario(folder, from_scenario, clock=clock)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"{folder}: {len(coop.members_file())} members, mechanism {coop.mechanism}; run `wattmesh serve {folder}`"
    )


def _operator(
    folder: Path, db: str | None, kind: str, body: dict, path: str, api_body: dict | None = None
) -> None:
    """Send an operator request to the running exchange, or decide it on the journal when none runs."""
    from wattmesh.service.auth import secret_from_key_file
    from wattmesh.service.coop import load_coop

    try:
        coop = load_coop(folder)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    secret = secret_from_key_file(coop.key_dir / "operator.key")
    url = _lock_url(folder)
    if url is not None:
        from wattmesh.service.client import ExchangeClient

        response = ExchangeClient(url, "operator", secret).call(
            "POST", path, body if api_body is None else api_body
        )
        status, answer = response.status_code, response.json()
    else:
        from wattmesh.service.engine import Exchange

        with Exchange(coop, db).open() as exchange:
            outcome = exchange.call(kind, "operator", int(time.time() * 1e6), body, path)
        status, answer = outcome.status, outcome.body
    typer.echo(answer)
    if status != 200:
        raise typer.Exit(1)


def _public_hex(pubkey: Path) -> str:
    from wattmesh.ledger.keys import load_public_key

    try:
        return load_public_key(pubkey).hex()
    except (OSError, ValueError) as err:
        typer.echo(f"error: --pubkey {pubkey}: {err}", err=True)
        raise typer.Exit(2) from None


DB = typer.Option(None, "--db", help="Journal URL when no exchange is running (default the folder's SQLite).")


@member_app.command("add")
def member_add(
    folder: Path = typer.Argument(...),
    member_id: str = typer.Argument(...),
    pubkey: Path = typer.Option(..., "--pubkey", help="The member's public key file (64 hex digits)."),
    kind: str = typer.Option("household", help="household, business, community or other."),
    db: str = DB,
) -> None:
    """Onboard a member who holds its own key."""
    body = {"member_id": member_id, "public_key": _public_hex(pubkey), "kind": kind}
    _operator(folder, db, "member_add", body, "/operator/members")


@member_app.command("suspend")
def member_suspend(
    folder: Path = typer.Argument(...), member_id: str = typer.Argument(...), db: str = DB
) -> None:
    """Suspend a member: its requests get 401 until reinstated."""
    _operator(
        folder, db, "member_suspend", {"member_id": member_id}, f"/operator/members/{member_id}/suspend", {}
    )


@member_app.command("reinstate")
def member_reinstate(
    folder: Path = typer.Argument(...), member_id: str = typer.Argument(...), db: str = DB
) -> None:
    """Reinstate a suspended member."""
    _operator(
        folder,
        db,
        "member_reinstate",
        {"member_id": member_id},
        f"/operator/members/{member_id}/reinstate",
        {},
    )


@member_app.command("rotate")
def member_rotate(
    folder: Path = typer.Argument(...),
    member_id: str = typer.Argument(...),
    pubkey: Path = typer.Option(..., "--pubkey", help="The member's new public key file."),
    db: str = DB,
) -> None:
    """Replace a member's request-signing key."""
    key = _public_hex(pubkey)
    body = {"member_id": member_id, "public_key": key}
    _operator(folder, db, "member_rotate", body, f"/operator/members/{member_id}/rotate", {"public_key": key})
