"""Record a simulation's trades in the ledger: keys, signed entries, one tree head per interval.

Orchestration only: the exchange step records (:func:`wattmesh.exchange.record`); the log, signatures and
chain backends are :mod:`wattmesh.ledger`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wattmesh.simulate.engine import SimulationResult

BATCH_HOURS = 4.0


@dataclass(frozen=True)
class LedgerOutputs:
    """Where the ledger went and its last signed tree head."""

    path: Path
    key_dir: Path
    backend: str
    entries: int
    root_hex: str
    chain_problems: tuple[str, ...]


def record_trades(
    result: SimulationResult,
    out: Path,
    backend: str,
    mode: str = "anchor",
    party_signatures: bool = True,
    progress: Callable[[int, int], None] | None = None,
    key_dir: Path | None = None,
) -> LedgerOutputs:
    """Append the full case's trades to ``out/ledger.sqlite`` (a fresh log), interval by interval.

    Member and operator keys are created (or reused) in ``key_dir``, by default the user's keystore
    (:func:`default_key_dir`), never in the output folder that is shared with readers. With ``backend="evm"`` every
    interval is also anchored (or settled) on the embedded eth-tester chain, and the chain is checked
    against the local log before the chain goes away with the process.
    """
    from wattmesh.exchange import record
    from wattmesh.ledger import ensure_keys, open_ledger

    community = result.community
    key_dir = default_key_dir(community) if key_dir is None else Path(key_dir)
    path = out / "ledger.sqlite"
    keyring = ensure_keys(key_dir, community.member_ids.tolist())
    path.unlink(missing_ok=True)
    # a run ledger: `wattmesh ledger verify` calls it INCOMPLETE until the closing mark below is signed
    ledger = open_ledger(backend, path, keyring, mode=mode, party_signatures=party_signatures, run=True)
    trades = result.full.trades
    step = community.index[1] - community.index[0]
    # The records' interval column is categorical over the run's interval starts: its codes are the rows.
    rows = trades["interval"].cat.codes.to_numpy()
    order = np.argsort(rows, kind="stable")  # the records in interval order, then in their own order
    trades, rows = trades.iloc[order], rows[order]
    head = None
    # Four hours of intervals per batch: each batch is encoded, signed and hashed at once and written in
    # one transaction (wattmesh.ledger.append_intervals), ~5 ms of overhead a batch; the progress bar
    # advances with each, and a run killed mid-ledger leaves whole batches (verify: INCOMPLETE).
    batch = max(1, int(round(BATCH_HOURS / community.interval_h)))
    try:
        for start in range(0, len(community.index), batch):
            stop = min(start + batch, len(community.index))
            first, last = np.searchsorted(rows, [start, stop])
            chunk = trades.iloc[first:last]
            heads = record(ledger, chunk, community.index[start:stop], step)
            head = heads[-1] if heads else head
            if progress is not None:
                progress(stop, len(community.index))
        ledger.finish_run()
        problems = tuple(str(p) for p in ledger.verify_chain()) if backend == "evm" else ()
    finally:
        ledger.close()
    return LedgerOutputs(
        path, key_dir, backend, head.tree_size if head else 0, head.root_hash.hex() if head else "", problems
    )


def default_key_dir(community) -> Path:
    """The simulated community's keystore: ``<user data dir>/wattmesh/keys/<community>-<hash>``.

    In a simulation the operator holds every member's key (the members are simulated); the keys stay
    in the user's data folder (files 0600), out of the output folder, so sharing a run's outputs never
    shares its private keys. Set ``WATTMESH_KEYS`` to put keystores elsewhere.
    """
    import hashlib
    import os
    import re

    from platformdirs import user_data_dir

    root = Path(os.environ.get("WATTMESH_KEYS") or Path(user_data_dir("wattmesh")) / "keys")
    digest = hashlib.blake2b(community.name.encode(), digest_size=4).hexdigest()
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", community.name)[:40].strip("-") or "community"
    return root / f"{stem}-{digest}"
