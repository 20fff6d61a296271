"""Orders, clearing mechanisms, the utility as last resort, grid fees and trades.

Batched mechanisms over (intervals, slots) arrays for the simulator: :func:`clear_batch` by name (see
:data:`MECHANISMS`). Order tables and one-interval clearing for the live server: :func:`clear_orders`,
:func:`validate_orders`. The continuous double auction: :class:`OrderBook`.
"""

from wattmesh.market.batch import MECHANISMS, clear_batch
from wattmesh.market.clearing import PRICE_RULES, UniformClearing, clear_pay_as_clear, pair_fills
from wattmesh.market.community import COMMUNITY_RULES, community_prices
from wattmesh.market.orderbook import Fill, OrderBook, OrderRejected
from wattmesh.market.orders import ORDERS, TRADES, MarketOutcome, clear_orders, trade_records, validate_orders
from wattmesh.market.result import BatchClearing, BatchTrades
from wattmesh.market.utility import (
    UtilitySettlement,
    distance_fee_per_kwh,
    electrical_distance,
    net_cost,
    settle_with_utility,
)

__all__ = [
    "COMMUNITY_RULES",
    "MECHANISMS",
    "ORDERS",
    "PRICE_RULES",
    "TRADES",
    "BatchClearing",
    "BatchTrades",
    "Fill",
    "MarketOutcome",
    "OrderBook",
    "OrderRejected",
    "UniformClearing",
    "UtilitySettlement",
    "clear_batch",
    "clear_orders",
    "clear_pay_as_clear",
    "community_prices",
    "distance_fee_per_kwh",
    "electrical_distance",
    "net_cost",
    "pair_fills",
    "settle_with_utility",
    "trade_records",
    "validate_orders",
]
