"""Periodic double auctions in batched form: pay-as-clear (uniform price) and pay-as-bid (discriminatory).

Both take (T, N) arrays (one row per market interval, one column per order slot, zero quantity = no
order), fill the same welfare-maximising volume and return a :class:`~wattmesh.market.result.BatchClearing`
with per-slot fills, per-slot money and the bilateral trades.
"""

from __future__ import annotations

import numpy as np

from wattmesh.market.clearing import (
    as_order_arrays,
    clear_pay_as_clear,
    cleared_volume,
    fills_at_volume,
    pair_fills,
    pair_in_order,
    sorted_keys,
)
from wattmesh.market.pooled import clear_common_limits
from wattmesh.market.result import (
    BatchClearing,
    BatchTrades,
    clearing_from_fills,
    clearing_from_trades,
    per_interval,
)

PAIR_PRICE_RULES = ("bid", "ask", "midpoint")


def clear_uniform_batch(
    bid_kwh: np.ndarray,
    bid_price_per_kwh: np.ndarray,
    ask_kwh: np.ndarray,
    ask_price_per_kwh: np.ndarray,
    rng: np.random.Generator,
    price_rule: str = "midpoint",
    fee_per_kwh: float | np.ndarray = 0.0,
    pair: bool = True,
) -> BatchClearing:
    """Pay-as-clear: one price per interval for every local kWh (see :func:`clear_pay_as_clear`).

    Parameters
    ----------
    bid_kwh, bid_price_per_kwh, ask_kwh, ask_price_per_kwh : (T, Nb), (T, Na) orders [kWh], [currency/kWh]
    rng : draws the seeded random order in which fills are paired into trades (:func:`pair_fills`)
    price_rule : "midpoint", "marginal_ask" or "marginal_bid"
    fee_per_kwh : grid fee per local kWh, paid by the buyer on top of the price, a number or (T,)
        [currency/kWh]
    pair : pair the fills into bilateral trades (False: fills and money only, no draw from ``rng``)

    Notes
    -----
    A flat fee f makes a trade worth doing only when bid - f >= ask, so the auction clears the bids
    shifted down by f; sellers receive the clearing price p and buyers pay p + f <= their limit.

    The fast path: where every bid of an interval has one limit and every ask another (the simulator's
    common case: homes bid retail less the fee and ask the feed-in price), the closed form of
    :func:`~wattmesh.market.pooled.clear_common_limits` gives the same outcome without sorting.
    """
    bid_kwh, bid_price, ask_kwh, ask_price = as_order_arrays(
        bid_kwh, bid_price_per_kwh, ask_kwh, ask_price_per_kwh
    )
    fee = per_interval(fee_per_kwh, bid_kwh.shape[0], "fee_per_kwh")
    net_bid = bid_price - fee[:, None]
    if _is_common(net_bid) and _is_common(ask_price):
        uniform = clear_common_limits(bid_kwh, net_bid[:, 0], ask_kwh, ask_price[:, 0], price_rule)
    else:
        uniform = clear_pay_as_clear(bid_kwh, net_bid, ask_kwh, ask_price, price_rule)
    if not pair:
        return clearing_from_fills(
            "pay_as_clear", uniform.bid_fill_kwh, uniform.ask_fill_kwh, uniform.price_per_kwh, fee
        )
    row, seller, buyer, energy = pair_fills(uniform.ask_fill_kwh, uniform.bid_fill_kwh, rng)
    trades = BatchTrades(row, seller, buyer, energy, uniform.price_per_kwh[row], fee[row])
    return clearing_from_trades("pay_as_clear", trades, bid_kwh.shape[0], bid_kwh.shape[1], ask_kwh.shape[1])


def clear_pay_as_bid(
    bid_kwh: np.ndarray,
    bid_price_per_kwh: np.ndarray,
    ask_kwh: np.ndarray,
    ask_price_per_kwh: np.ndarray,
    rng: np.random.Generator,
    pair_price: str = "bid",
    fee_per_kwh: float | np.ndarray = 0.0,
) -> BatchClearing:
    """Pay-as-bid (discriminatory) matching of a periodic book: each matched pair trades at its own price.

    Parameters
    ----------
    bid_kwh, bid_price_per_kwh, ask_kwh, ask_price_per_kwh : (T, Nb), (T, Na) orders [kWh], [currency/kWh]
    rng : draws the seeded tie-break among orders at the same price
    pair_price : "bid" (the buyer pays its own limit, the classic pay-as-bid), "ask" (the seller
        receives its own limit) or "midpoint" (the mean of the two limits)
    fee_per_kwh : grid fee per local kWh paid by the buyer, a number or (T,) [currency/kWh]

    Notes
    -----
    The volume and the fills are those of the welfare-maximising uniform auction (pro rata at the
    margin), so welfare is the same; only the money differs. Bids in descending price order are laid
    against asks in ascending price order along the volume (ties in a seeded random order drawn from
    ``rng``); every overlap is a trade between a bid priced b and an ask priced a with b - fee >= a, because
    along the traded volume the demand curve stays at or above the supply curve. The seller receives
    b - fee, a, or (b - fee + a) / 2, and the buyer that plus the fee, so both stay within their limits.
    """
    if pair_price not in PAIR_PRICE_RULES:
        raise ValueError(f"pair_price {pair_price!r} is not one of {', '.join(PAIR_PRICE_RULES)}")
    bid_kwh, bid_price, ask_kwh, ask_price = as_order_arrays(
        bid_kwh, bid_price_per_kwh, ask_kwh, ask_price_per_kwh
    )
    n_intervals, n_bids = bid_kwh.shape
    n_asks = ask_kwh.shape[1]
    fee = per_interval(fee_per_kwh, n_intervals, "fee_per_kwh")
    net_bid = bid_price - fee[:, None]
    ask_sorted = sorted_keys(ask_kwh, ask_price, ascending=True)
    volume = cleared_volume(bid_kwh, net_bid, ask_kwh, ask_price, ask_sorted)
    ask_fill, _ = fills_at_volume(ask_kwh, ask_price, volume, True, ask_sorted)
    bid_fill, _ = fills_at_volume(bid_kwh, net_bid, volume, ascending=False)
    ask_key = np.where(ask_kwh > 0, ask_price, np.inf)
    bid_key = np.where(bid_kwh > 0, -net_bid, np.inf)
    ask_order = _price_order(ask_key, rng)
    bid_order = _price_order(bid_key, rng)
    row, seller, buyer, energy = pair_in_order(ask_fill, ask_order, bid_fill, bid_order)
    ask_limit = ask_price[row, seller]
    bid_limit = net_bid[row, buyer]
    if pair_price == "bid":
        price = bid_limit
    elif pair_price == "ask":
        price = ask_limit
    else:
        price = 0.5 * (ask_limit + bid_limit)
    trades = BatchTrades(row, seller, buyer, energy, price, fee[row])
    return clearing_from_trades("pay_as_bid", trades, n_intervals, n_bids, n_asks)


def _is_common(price: np.ndarray) -> bool:
    """True when every slot of each interval has the same price (and there is at least one slot)."""
    return price.shape[1] > 0 and bool((price == price[:, :1]).all())


def _price_order(key: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(T, N) slot order by ascending ``key``, equal keys in a seeded random order.

    A random permutation of each row followed by a stable sort: twice as fast as a two-key lexsort.
    """
    shuffle = rng.permuted(np.broadcast_to(np.arange(key.shape[1]), key.shape), axis=1)
    by_key = np.argsort(np.take_along_axis(key, shuffle, axis=1), axis=1, kind="stable")
    return np.take_along_axis(shuffle, by_key, axis=1)
