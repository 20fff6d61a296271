"""Trade records, signatures, the Merkle log, proofs, audit and the EVM backend.

The simulator and the live server use this API::

    keyring = ensure_keys(key_dir, member_ids)              # Ed25519 keys, files 0600
    ledger = open_ledger("local", "out/ledger.sqlite", keyring)   # or "evm", mode="anchor"|"settle"
    head = ledger.append_interval(trades, interval_end)     # once per market interval, or for a whole run:
    heads = append_intervals(ledger, trades, interval_starts, "15min")
    report = verify("out/ledger.sqlite")                    # full audit -> AuditReport
    proof = prove("out/ledger.sqlite", "tx_...")            # inclusion proof as a dict
    lines = export("out/ledger.sqlite")                     # JSON lines of trade records

Readers raise ``LedgerInputError`` for a path that is no readable file (the CLI exits 2) and
``CorruptLedgerError`` for a file that is no sound ledger (exit 3); ``verify`` reports a damaged file in
its ``AuditReport`` (``corrupt``) instead.

Importing this package does not import web3; the EVM backend loads it when first used.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wattmesh.ledger.evm import ChainConfig, EvmLedger
    from wattmesh.ledger.keys import Keyring
    from wattmesh.ledger.local import LocalLedger

# Loaded on first use, so that `wattmesh --help` (which imports the ledger's CLI) stays fast.
_LAZY = {
    "AuditReport": "audit",
    "Problem": "audit",
    "verify": "audit",
    "Keyring": "keys",
    "ensure_keys": "keys",
    "CorruptLedgerError": "local",
    "LedgerError": "local",
    "LedgerInputError": "local",
    "latest_signed_head": "local",
    "read_ledger": "local",
    "LocalLedger": "local",
    "TreeHead": "local",
    "append_intervals": "local",
    "export": "local",
    "prove": "local",
    "verify_proof": "local",
    "TRADES": "records",
    "ChainConfig": "evm",
    "ChainError": "evm",
    "EvmLedger": "evm",
    "verify_chain": "evm",
}

__all__ = [*_LAZY, "open_ledger"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"wattmesh.ledger.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'wattmesh.ledger' has no attribute {name!r}")


def open_ledger(
    backend: str,
    path: str | Path,
    keyring: Keyring,
    mode: str = "anchor",
    chain: ChainConfig | None = None,
    party_signatures: bool = True,
    run: bool = False,
    cosign: bool = False,
) -> LocalLedger | EvmLedger:
    """The ledger a scenario asks for: ``"local"`` (the signed Merkle log) or ``"evm"`` (the same log with
    every interval anchored or settled on chain; eth-tester unless ``chain`` names a JSON-RPC node).

    Both have ``append_interval(trades, interval_end, interval_start=None) -> TreeHead`` and ``close()``.
    ``party_signatures=False`` keeps only the operator's signature on each entry (see ``LocalLedger``).
    ``run=True`` makes a new ledger the ledger of one finite run: ``finish_run()`` writes its signed
    closing mark after the last interval, and ``verify`` reports a run ledger without one as INCOMPLETE.
    ``cosign=True`` (the live exchange): members who hold their own keys co-sign their entries afterwards.
    """
    if backend == "local":
        from wattmesh.ledger.local import LocalLedger

        return LocalLedger(path, keyring, party_signatures=party_signatures, run=run, cosign=cosign)
    if backend == "evm":
        from wattmesh.ledger.evm import EvmLedger

        return EvmLedger(
            path, keyring, mode, chain, party_signatures=party_signatures, run=run, cosign=cosign
        )
    raise ValueError(f"ledger backend {backend!r}: expected 'local' or 'evm'")
