"""`wattmesh ledger ...`: audit a ledger, prove a trade, export the trade records, print the tree head."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

app = typer.Typer(help="Audit, prove and export the signed trade ledger.", no_args_is_help=True)


@app.command()
def verify(
    ledger: Path = typer.Argument(..., help="Ledger file, e.g. out/ledger.sqlite."),
    against: Path = typer.Option(
        None, help="A tree head saved earlier (`wattmesh ledger head`): the log must extend it."
    ),
    operator_key: Path = typer.Option(None, help="The operator's .pub file, to pin its key."),
    chain: bool = typer.Option(False, "--chain", help="Also compare every interval's root with the chain."),
    rpc_url: str = typer.Option(
        None, help="JSON-RPC URL for --chain (default: the one recorded in the ledger)."
    ),
    contract: str = typer.Option(None, help="Contract address for --chain (default: the recorded one)."),
    chain_id: int = typer.Option(None, help="Expected chain id for --chain."),
    poa: bool = typer.Option(
        False, help="Proof-of-authority chain (Energy Web): inject ExtraDataToPOAMiddleware."
    ),
) -> None:
    """Full audit: re-verify every signature and rebuild every root. Prints OK, or the first bad entry and why."""
    from wattmesh.ledger.audit import verify as audit
    from wattmesh.ledger.keys import load_public_key
    from wattmesh.ledger.local import TreeHead

    trusted = TreeHead.from_dict(json.loads(against.read_text())) if against else None
    pinned = load_public_key(operator_key) if operator_key else None
    try:
        report = audit(ledger, trusted_head=trusted, operator_public=pinned)
    except FileNotFoundError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from err
    typer.echo(report.summary())
    for problem in report.problems[1:20]:
        typer.echo(f"  {problem}")
    problems = list(report.problems)
    if chain:
        from wattmesh.ledger.evm import ChainConfig, ChainError, verify_chain
        from wattmesh.ledger.local import connect

        config = None
        if rpc_url or contract or chain_id is not None or poa:
            conn = connect(ledger, readonly=True)
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            conn.close()
            config = ChainConfig(
                rpc_url or meta.get("chain_rpc", ""),
                contract or meta.get("chain_contract"),
                chain_id,
                poa=poa,
            )
        try:
            chain_problems = verify_chain(ledger, config)
        except ChainError as err:
            typer.echo(f"chain: {err}", err=True)
            raise typer.Exit(2) from err
        typer.echo(
            "chain: OK, every interval root matches"
            if not chain_problems
            else f"chain: FAILED: {chain_problems[0]}"
        )
        for problem in chain_problems[1:20]:
            typer.echo(f"  {problem}")
        problems += chain_problems
    raise typer.Exit(1 if problems else 0)


@app.command()
def prove(
    ledger: Path = typer.Argument(..., help="Ledger file."),
    transaction_id: str = typer.Argument(..., help="The trade's transaction_id."),
    chain: bool = typer.Option(False, "--chain", help="Also check the proof against the root on chain."),
    rpc_url: str = typer.Option(
        None, help="JSON-RPC URL for --chain (default: the one recorded in the ledger)."
    ),
) -> None:
    """Inclusion proof of one trade (signatures, audit paths, signed tree heads, chain anchors) as JSON."""
    from wattmesh.ledger.local import prove as make_proof

    try:
        proof = make_proof(ledger, transaction_id)
    except (LookupError, FileNotFoundError) as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(1) from err
    typer.echo(json.dumps(proof, indent=1))
    if chain:
        from wattmesh.ledger.evm import ChainConfig, ChainError, verify_proof_on_chain
        from wattmesh.ledger.local import connect

        conn = connect(ledger, readonly=True)
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        conn.close()
        try:
            config = ChainConfig(rpc_url or meta.get("chain_rpc", ""), meta.get("chain_contract"))
            problems = verify_proof_on_chain(proof, config)
        except ChainError as err:
            typer.echo(f"chain: {err}", err=True)
            raise typer.Exit(2) from err
        for problem in problems:
            typer.echo(f"proof: {problem}", err=True)
        typer.echo("proof: OK against the chain" if not problems else "proof: FAILED", err=True)
        raise typer.Exit(1 if problems else 0)


@app.command("check-proof")
def check_proof(
    proof_file: Path = typer.Argument(..., help="A proof saved from `wattmesh ledger prove`."),
    operator_key: Path = typer.Option(None, help="The operator's .pub file, to pin its key."),
) -> None:
    """Check a saved trade proof without the ledger: signatures, leaf, audit paths and signed heads."""
    from wattmesh.ledger.keys import load_public_key
    from wattmesh.ledger.local import verify_proof

    try:
        proof = json.loads(proof_file.read_text())
        problems = verify_proof(proof, load_public_key(operator_key) if operator_key else None)
    except (OSError, ValueError, KeyError, TypeError) as err:
        typer.echo(f"proof {proof_file}: unreadable ({err!r})", err=True)
        raise typer.Exit(2) from err
    for problem in problems:
        typer.echo(f"FAILED: {problem}")
    if not problems:
        typer.echo(f"OK: trade {proof['transaction_id']} is entry {proof['seq']} under tree head "
                   f"{proof['tree_head']['head_index']} (size {proof['tree_head']['tree_size']})")  # fmt: skip
    raise typer.Exit(1 if problems else 0)


@app.command()
def export(
    ledger: Path = typer.Argument(..., help="Ledger file."),
    out: Path = typer.Option(None, help="Write here instead of standard output."),
    seed_only: bool = typer.Option(False, help="Only the seed's seven trade-record fields."),
) -> None:
    """Every trade record as JSON lines, in log order."""
    from wattmesh.ledger.local import export as records

    handle = out.open("w") if out else sys.stdout
    try:
        for line in records(ledger, seed_only):
            handle.write(line + "\n")
    finally:
        if out:
            handle.close()


@app.command()
def head(ledger: Path = typer.Argument(..., help="Ledger file.")) -> None:
    """The latest signed tree head as JSON; keep it to check later logs with `verify --against`."""
    from wattmesh.ledger.local import TreeHead, connect

    conn = connect(ledger, readonly=True)
    row = conn.execute(
        "SELECT head_index, tree_size, first_seq, timestamp, interval, root_hash, interval_root, signature "
        "FROM tree_heads ORDER BY head_index DESC LIMIT 1"
    ).fetchone()
    conn.close()
    if row is None:
        typer.echo(f"ledger {ledger}: no signed tree head yet", err=True)
        raise typer.Exit(1)
    typer.echo(
        json.dumps(TreeHead(*row[:5], bytes(row[5]), bytes(row[6]), bytes(row[7])).to_dict(), indent=1)
    )
