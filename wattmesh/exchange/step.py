"""Clearing, the same step for both drivers: an order table for one interval, or position arrays for many."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wattmesh.market.batch import MECHANISMS, clear_batch
from wattmesh.market.community import COMMUNITY_RULES
from wattmesh.market.orders import MarketOutcome, clear_orders
from wattmesh.market.result import BatchClearing

#: Mechanisms whose prices come from the utility's tariffs rather than from the orders' limits.
_TARIFF_PRICED = (*COMMUNITY_RULES, "utility_only")


def _tariff_options(mechanism: str, retail_per_kwh, feed_in_per_kwh) -> dict:
    if mechanism not in _TARIFF_PRICED:
        return {}
    if retail_per_kwh is None or feed_in_per_kwh is None:
        raise ValueError(f"mechanism {mechanism!r} needs retail_per_kwh and feed_in_per_kwh (utility prices)")
    return {"retail_per_kwh": retail_per_kwh, "feed_in_per_kwh": feed_in_per_kwh}


def clear_interval(
    orders: pd.DataFrame,
    mechanism: str = "pay_as_clear",
    *,
    delivery_start: pd.Timestamp | str,
    fee_per_kwh: float = 0.0,
    retail_per_kwh: float | None = None,
    feed_in_per_kwh: float | None = None,
    scope: str = "",
    seed: int | np.random.Generator = 0,
    **options,
) -> MarketOutcome:
    """Clear one delivery interval's order table: the live exchange's step at gate closure.

    Parameters
    ----------
    orders : one row per order (:data:`wattmesh.market.orders.ORDERS`); orders for another interval, of
        unknown members or with bad values are rejected with a reason, not cleared
    mechanism : a name of :data:`wattmesh.market.MECHANISMS`
    delivery_start : the interval being cleared (UTC)
    fee_per_kwh : the local grid fee the buyer pays on top of the price [currency/kWh]
    retail_per_kwh, feed_in_per_kwh : the utility's prices in the interval, needed by the tariff-priced
        mechanisms (sdr, mmr, bill_sharing, utility_only) [currency/kWh]
    scope : names the market, for the transaction ids (:func:`wattmesh.tables.transaction_ids`): a
        community clearing the same orders with the same scope and seed gets the same trades and ids
    seed : seeds the documented tie-break (the pairing order of the fills)
    **options : ``member_ids``, ``timestamp``, ``member_bus``, ``distance``, the p2p premiums, ``price_rule``
        and the other options of :func:`wattmesh.market.orders.clear_orders`

    Returns
    -------
    MarketOutcome
        ``trades`` (:data:`wattmesh.tables.TRADES`), ``rejected`` (with a ``reason``), ``report`` (counts,
        volume, mean price, welfare) and the raw ``clearing``.
    """
    options |= _tariff_options(mechanism, retail_per_kwh, feed_in_per_kwh)
    return clear_orders(
        orders,
        mechanism,
        delivery_start=delivery_start,
        scope=scope,
        seed=seed,
        fee_per_kwh=fee_per_kwh,
        **options,
    )


def clear_positions(
    deficit_kwh: np.ndarray,
    bid_price_per_kwh: np.ndarray,
    surplus_kwh: np.ndarray,
    ask_price_per_kwh: np.ndarray,
    *,
    mechanism: str = "pay_as_clear",
    fee_per_kwh: float | np.ndarray = 0.0,
    retail_per_kwh: np.ndarray | None = None,
    feed_in_per_kwh: np.ndarray | None = None,
    rng: np.random.Generator,
    price_rule: str = "midpoint",
    with_trades: bool = True,
) -> BatchClearing:
    """Clear T intervals of member positions at once: the simulator's step, vectorised over members.

    Slot m of both sides is member m: its deficit is a bid and its surplus an ask (zero = no order).

    Parameters
    ----------
    deficit_kwh, surplus_kwh : (T, M) energy each member wants to buy and to sell [kWh]
    bid_price_per_kwh, ask_price_per_kwh : (T, M) or broadcastable limit prices [currency/kWh]
    mechanism : a name of :data:`wattmesh.market.MECHANISMS`
    fee_per_kwh : the local grid fee paid by the buyer, a number or (T,) [currency/kWh]
    retail_per_kwh, feed_in_per_kwh : (T,) the utility's prices, for the tariff-priced mechanisms
    rng : one generator for a whole run, passed to each successive call (the seeded tie-break)
    price_rule : pay-as-clear's price rule
    with_trades : pair the fills into bilateral trades; pay-as-clear without them draws nothing from
        ``rng`` and is cheaper (the simulator's case without trade records)

    Notes
    -----
    Pay-as-clear on common limits (every bid of an interval at one price, every ask at another: the
    simulator's homes bidding retail and asking feed-in) takes the market's closed-form fast path.
    """
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism {mechanism!r} is not one of {', '.join(MECHANISMS)}")
    options = {"seed": rng, "fee_per_kwh": fee_per_kwh}
    if mechanism == "pay_as_clear":
        options |= {"price_rule": price_rule, "pair": with_trades}
    options |= _tariff_options(mechanism, retail_per_kwh, feed_in_per_kwh)
    return clear_batch(
        mechanism,
        deficit_kwh,
        np.broadcast_to(bid_price_per_kwh, deficit_kwh.shape),
        surplus_kwh,
        np.broadcast_to(ask_price_per_kwh, surplus_kwh.shape),
        **options,
    )
