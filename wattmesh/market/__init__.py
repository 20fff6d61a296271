"""Orders, clearing mechanisms, the utility as last resort, grid fees and trades.

Batched mechanisms over (intervals, slots) arrays for the simulator: :func:`clear_batch` by name (see
:data:`MECHANISMS`). Order tables and one-interval clearing for the live server: :func:`clear_orders`,
:func:`validate_orders`. The continuous double auction: :class:`OrderBook`.

Names are imported lazily from their modules, so ``import wattmesh.market.cli`` stays light.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "MECHANISMS": "batch",
    "clear_batch": "batch",
    "compare_mechanisms": "batch",
    "PRICE_RULES": "clearing",
    "UniformClearing": "clearing",
    "clear_pay_as_clear": "clearing",
    "pair_fills": "clearing",
    "COMMUNITY_RULES": "community",
    "community_prices": "community",
    "Fill": "orderbook",
    "OrderBook": "orderbook",
    "OrderRejected": "orderbook",
    "ORDERS": "orders",
    "TRADES": "orders",
    "MarketOutcome": "orders",
    "clear_orders": "orders",
    "fill_records": "orders",
    "trade_records": "orders",
    "validate_orders": "orders",
    "BatchClearing": "result",
    "BatchTrades": "result",
    "UtilitySettlement": "utility",
    "distance_fee_per_kwh": "utility",
    "electrical_distance": "utility",
    "feeder_distance": "utility",
    "net_cost": "utility",
    "settle_with_utility": "utility",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'wattmesh.market' has no attribute {name!r}")
    return getattr(importlib.import_module(f"wattmesh.market.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return __all__
