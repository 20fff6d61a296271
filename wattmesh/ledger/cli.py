"""`wattmesh ledger ...`: audit a ledger, prove a trade, export the trade records, print the tree head.

Every expected failure is one line on standard error and a documented exit code: 2 bad input (a missing
file, a directory, bad JSON for ``--against``, a bad ``--operator-key``, an unknown transaction id, an
unreachable chain), 3 a corrupt ledger or a failed audit or proof, 4 (``verify`` only) the ledger of a
run that did not finish: what is there verifies, but the run's signed closing mark is missing. Anything
else is an internal error (exit 1, the traceback only with ``wattmesh --debug``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

app = typer.Typer(help="Audit, prove and export the signed trade ledger.", no_args_is_help=True)

EXIT_BAD_INPUT = 2
EXIT_CORRUPT = 3
EXIT_INCOMPLETE = 4


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """Expected failures as one line and their exit code (2 bad input, 3 corrupt)."""
    from wattmesh.ledger.local import CorruptLedgerError, LedgerInputError

    try:
        yield
    except LedgerInputError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except LookupError as err:
        typer.echo(str(err.args[0]) if err.args else str(err), err=True)  # str(KeyError) adds quotes
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except CorruptLedgerError as err:
        typer.echo(f"CORRUPT: {err}", err=True)
        raise typer.Exit(EXIT_CORRUPT) from None


def _input_file(path: Path, what: str) -> Path:
    from wattmesh.ledger.local import LedgerInputError

    if not path.exists():
        raise LedgerInputError(f"{what} {path}: no such file")
    if path.is_dir():
        raise LedgerInputError(f"{what} {path}: is a directory, expected a file")
    return path


def _json_file(path: Path, what: str) -> dict:
    """The JSON object in ``path``; LedgerInputError naming the file when it is missing or not JSON."""
    from wattmesh.ledger.local import LedgerInputError

    try:
        data = json.loads(_input_file(path, what).read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LedgerInputError(f"{what} {path}: not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise LedgerInputError(f"{what} {path}: holds a JSON {type(data).__name__}, expected an object")
    return data


def _trusted_head(path: Path | None):
    from wattmesh.ledger.local import LedgerInputError, TreeHead

    if path is None:
        return None
    try:
        return TreeHead.from_dict(_json_file(path, "--against"))
    except ValueError as err:
        if isinstance(err, LedgerInputError):
            raise
        raise LedgerInputError(
            f"--against {path}: not a tree head (from `wattmesh ledger head`): {err}"
        ) from None


def _operator_key(path: Path | None) -> bytes | None:
    from wattmesh.ledger.keys import load_public_key
    from wattmesh.ledger.local import LedgerInputError

    if path is None:
        return None
    try:
        return load_public_key(_input_file(path, "--operator-key"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        if isinstance(err, LedgerInputError):
            raise
        raise LedgerInputError(
            f"--operator-key {path}: {err} (expected the operator's .pub file: 64 hex digits)"
        ) from None


def _chain_meta(ledger: Path) -> dict[str, str]:
    from wattmesh.ledger.local import read_ledger

    conn = read_ledger(ledger)
    try:
        rows = conn.execute("SELECT key, value FROM meta").fetchall()
    finally:
        conn.close()
    return {str(k): str(v) for k, v in rows}


@contextmanager
def _entries_bar() -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar of entries verified on standard error, when that is a terminal (else None)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    columns = (TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TextColumn("entries"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("verify", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


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
    """Full audit: SQLite's integrity check, every signature re-verified, every root rebuilt.

    Prints OK (with the ledger's format) and its latest signed head, INCOMPLETE for the ledger of a run
    that did not finish (what is there verifies, the signed closing mark is missing), or the first
    problem and why. Exit 0 OK, 2 bad input, 3 corrupt or failed, 4 incomplete.
    """
    from wattmesh.ledger.audit import verify as audit

    with _one_line_errors():
        trusted = _trusted_head(against)
        pinned = _operator_key(operator_key)
        with _entries_bar() as progress:
            report = audit(ledger, trusted_head=trusted, operator_public=pinned, progress=progress)
    typer.echo(report.summary())
    if report.ok and not report.incomplete:
        typer.echo(f"  {report.head_text()}")
    for note in report.notes if not report.ok else ():  # an OK summary already holds them
        typer.echo(f"  note: {note}")
    for problem in report.problems[1:20]:
        typer.echo(f"  {problem}")
    problems = list(report.problems)
    if chain and not report.corrupt:
        from wattmesh.ledger.evm import ChainConfig, ChainError, verify_chain

        try:
            config = None
            if rpc_url or contract or chain_id is not None or poa:
                with _one_line_errors():
                    meta = _chain_meta(ledger)
                config = ChainConfig(
                    rpc_url or meta.get("chain_rpc", ""),
                    contract or meta.get("chain_contract"),
                    chain_id,
                    poa=poa,
                )
            chain_problems = verify_chain(ledger, config)
        except ChainError as err:
            typer.echo(f"chain: {err}", err=True)
            raise typer.Exit(EXIT_CORRUPT if problems else EXIT_BAD_INPUT) from None
        typer.echo(
            "chain: OK, every interval root matches"
            if not chain_problems
            else f"chain: FAILED: {chain_problems[0]}"
        )
        for problem in chain_problems[1:20]:
            typer.echo(f"  {problem}")
        problems += chain_problems
    raise typer.Exit(EXIT_CORRUPT if problems else EXIT_INCOMPLETE if report.incomplete else 0)


@app.command()
def prove(
    ledger: Path = typer.Argument(..., help="Ledger file."),
    transaction_id: str = typer.Argument(..., help="The trade's transaction_id."),
    chain: bool = typer.Option(False, "--chain", help="Also check the proof against the root on chain."),
    rpc_url: str = typer.Option(
        None, help="JSON-RPC URL for --chain (default: the one recorded in the ledger)."
    ),
) -> None:
    """Inclusion proof of one trade (signatures, audit paths, signed tree heads, chain anchors) as JSON.

    The proof is checked before it is printed. Exit 0 OK, 2 bad input (no such trade), 3 corrupt.
    """
    from wattmesh.ledger.local import prove as make_proof

    with _one_line_errors():
        proof = make_proof(ledger, transaction_id)
    typer.echo(json.dumps(proof, indent=1))
    if chain:
        from wattmesh.ledger.evm import ChainConfig, ChainError, verify_proof_on_chain

        with _one_line_errors():
            meta = _chain_meta(ledger)
        try:
            config = ChainConfig(rpc_url or meta.get("chain_rpc", ""), meta.get("chain_contract"))
            problems = verify_proof_on_chain(proof, config)
        except ChainError as err:
            typer.echo(f"chain: {err}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        for problem in problems:
            typer.echo(f"proof: {problem}", err=True)
        typer.echo("proof: OK against the chain" if not problems else "proof: FAILED", err=True)
        raise typer.Exit(EXIT_CORRUPT if problems else 0)


@app.command("check-proof")
def check_proof(
    proof_file: Path = typer.Argument(..., help="A proof saved from `wattmesh ledger prove`."),
    operator_key: Path = typer.Option(None, help="The operator's .pub file, to pin its key."),
) -> None:
    """Check a saved trade proof without the ledger: signatures, leaf, audit paths and signed heads.

    Exit 0 OK, 2 bad input (not a proof), 3 the proof fails.
    """
    from wattmesh.ledger.local import LedgerInputError, verify_proof

    with _one_line_errors():
        proof = _json_file(proof_file, "proof")
        pinned = _operator_key(operator_key)
        try:
            problems = verify_proof(proof, pinned)
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as err:
            raise LedgerInputError(
                f"proof {proof_file}: not a proof from `wattmesh ledger prove` ({type(err).__name__}: {err})"
            ) from None
    for problem in problems:
        typer.echo(f"FAILED: {problem}")
    if not problems:
        typer.echo(f"OK: trade {proof['transaction_id']} is entry {proof['seq']} under tree head "
                   f"{proof['tree_head']['head_index']} (size {proof['tree_head']['tree_size']})")  # fmt: skip
    raise typer.Exit(EXIT_CORRUPT if problems else 0)


@app.command()
def export(
    ledger: Path = typer.Argument(..., help="Ledger file."),
    out: Path = typer.Option(None, help="Write here instead of standard output (only once complete)."),
    seed_only: bool = typer.Option(False, help="Only the seed's seven trade-record fields."),
) -> None:
    """Every trade record as JSON lines, in log order. Exit 0 OK, 2 bad input, 3 corrupt.

    With ``--out`` the lines go to a temporary file beside it, renamed to ``--out`` only when every
    record was read; on a failure nothing is left at ``--out``.
    """
    from wattmesh.ledger.local import LedgerInputError, read_ledger
    from wattmesh.ledger.local import export as records

    with _one_line_errors():
        read_ledger(ledger).close()  # a bad path or a file that is no ledger fails before --out is touched
        if out is not None and out.is_dir():
            raise LedgerInputError(f"--out {out}: is a directory, expected a file name")
        if out is not None and not out.parent.is_dir():
            raise LedgerInputError(f"--out {out}: folder {out.parent} does not exist")
        if out is None:
            for line in records(ledger, seed_only):
                sys.stdout.write(line + "\n")
            return
        partial = out.with_name(f".{out.name}.partial")
        try:
            with partial.open("w") as handle:
                for line in records(ledger, seed_only):
                    handle.write(line + "\n")
            os.replace(partial, out)
        except OSError as err:  # a read-only folder, a full disk
            raise LedgerInputError(f"--out {out}: cannot be written ({err.strerror or err})") from None
        finally:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)


@app.command()
def head(ledger: Path = typer.Argument(..., help="Ledger file.")) -> None:
    """The latest signed tree head as JSON; keep it to check later logs with `verify --against`.

    Exit 0 OK, 2 bad input (no tree head yet), 3 corrupt (the head's signature does not verify).
    """
    from wattmesh.ledger.local import latest_signed_head

    with _one_line_errors():
        latest = latest_signed_head(ledger)
    typer.echo(json.dumps(latest.to_dict(), indent=1))
