"""THE exchange step, the same for every driver: clear one interval's orders into trades, settle the trades
against what the meters measured, record them in the ledger.

The live exchange calls :func:`clear_interval` on an order table at each gate closure; the simulator calls
:func:`clear_positions` on weeks of (intervals, members) arrays at once. Both go through the same
mechanism (:func:`wattmesh.market.clear_batch`), the same pairing of fills into trades and the same trade
record (:data:`wattmesh.tables.TRADES`). :func:`settle` (tables) and :func:`settle_positions` (arrays)
share one settlement rule: each member's trades at their prices and fees, and its deviation from them (the
metered energy less the traded energy) at the utility's prices. :func:`record` appends the trades to a
ledger, one signed tree head per interval.
"""

from __future__ import annotations

from wattmesh.exchange.record import record
from wattmesh.exchange.settle import (
    STATEMENT_LINES,
    Statements,
    balance_problems,
    settle,
    settle_positions,
)
from wattmesh.exchange.step import clear_interval, clear_positions

__all__ = [
    "STATEMENT_LINES",
    "Statements",
    "balance_problems",
    "clear_interval",
    "clear_positions",
    "record",
    "settle",
    "settle_positions",
]
