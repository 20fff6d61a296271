"""Uniform-price (pay-as-clear) double auction, cleared for many market intervals at once.

Each row of the input arrays is one market interval and each column one order slot; a slot with zero
quantity is no order. Everything is vectorised over intervals and orders: no Python loop over either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRICE_RULES = ("midpoint", "marginal_ask", "marginal_bid")

# Volumes below this are treated as zero (kWh); it absorbs floating-point noise of cumulative sums.
VOLUME_TOLERANCE_KWH = 1e-9


@dataclass(frozen=True)
class UniformClearing:
    """Result of :func:`clear_pay_as_clear` for T intervals.

    Attributes
    ----------
    price_per_kwh : (T,) clearing price, NaN where nothing traded [currency/kWh]
    volume_kwh : (T,) energy traded [kWh]
    bid_fill_kwh : (T, Nb) energy bought per bid slot [kWh]
    ask_fill_kwh : (T, Na) energy sold per ask slot [kWh]
    """

    price_per_kwh: np.ndarray
    volume_kwh: np.ndarray
    bid_fill_kwh: np.ndarray
    ask_fill_kwh: np.ndarray


def clear_pay_as_clear(
    bid_kwh: np.ndarray,
    bid_price_per_kwh: np.ndarray,
    ask_kwh: np.ndarray,
    ask_price_per_kwh: np.ndarray,
    price_rule: str = "midpoint",
) -> UniformClearing:
    """Clear a welfare-maximising uniform-price double auction in every interval.

    Parameters
    ----------
    bid_kwh, bid_price_per_kwh : (T, Nb) buy quantities [kWh] and limit prices [currency/kWh]
    ask_kwh, ask_price_per_kwh : (T, Na) sell quantities [kWh] and limit prices [currency/kWh]
    price_rule : "midpoint" (mean of the marginal accepted ask and bid), "marginal_ask" or "marginal_bid"

    Notes
    -----
    The traded volume is the largest V at which the demand curve is not below the supply curve: with the
    asks sorted by price, V = max_j min(S_j, D(p_j)), where S_j is the supply of the j cheapest asks and
    D(p) the demand of bids priced at p or above. Orders priced strictly better than the marginal order of
    their side are filled in full; orders at exactly the marginal price share the rest pro rata, so the
    outcome does not depend on order sequence and needs no tie-break.
    """
    if price_rule not in PRICE_RULES:
        raise ValueError(f"price_rule {price_rule!r} is not one of {', '.join(PRICE_RULES)}")
    bid_kwh, bid_price, ask_kwh, ask_price = (
        np.atleast_2d(np.asarray(a, dtype=float))
        for a in (bid_kwh, bid_price_per_kwh, ask_kwh, ask_price_per_kwh)
    )
    n_intervals = bid_kwh.shape[0]
    n_asks = ask_kwh.shape[1]
    volume = _cleared_volume(bid_kwh, bid_price, ask_kwh, ask_price)
    traded = volume > VOLUME_TOLERANCE_KWH
    volume = np.where(traded, volume, 0.0)

    ask_fill, marginal_ask = _fills_at_volume(ask_kwh, ask_price, volume, ascending=True)
    bid_fill, marginal_bid = _fills_at_volume(bid_kwh, bid_price, volume, ascending=False)
    if price_rule == "midpoint":
        price = 0.5 * (marginal_ask + marginal_bid)
    elif price_rule == "marginal_ask":
        price = marginal_ask
    else:
        price = marginal_bid
    price = np.where(traded, price, np.nan)
    assert ask_fill.shape == (n_intervals, n_asks)
    return UniformClearing(price, volume, bid_fill, ask_fill)


def _cleared_volume(bid_kwh, bid_price, ask_kwh, ask_price) -> np.ndarray:
    """(T,) welfare-maximising traded volume per interval."""
    n_intervals, n_asks = ask_kwh.shape
    prices = np.concatenate([ask_price, bid_price], axis=1)
    is_bid = np.concatenate([np.zeros_like(ask_price, bool), np.ones_like(bid_price, bool)], axis=1)
    qty = np.concatenate([ask_kwh, bid_kwh], axis=1)
    # Ascending price; at equal price asks first, so a bid at exactly the ask's price counts as demand.
    order = np.lexsort((is_bid, prices), axis=1)
    qty_sorted = np.take_along_axis(qty, order, axis=1)
    bid_sorted = np.take_along_axis(is_bid, order, axis=1)
    supply_cum = np.cumsum(np.where(bid_sorted, 0.0, qty_sorted), axis=1)
    bids_below = np.cumsum(np.where(bid_sorted, qty_sorted, 0.0), axis=1)
    demand_at_or_above = bid_kwh.sum(axis=1, keepdims=True) - bids_below
    candidates = np.where(bid_sorted, 0.0, np.minimum(supply_cum, demand_at_or_above))
    if n_asks == 0:
        return np.zeros(n_intervals)
    return candidates.max(axis=1)


def _fills_at_volume(qty, price, volume, ascending: bool) -> tuple[np.ndarray, np.ndarray]:
    """Fill one side up to ``volume`` in price order, pro rata among orders at the marginal price.

    Returns the fills (T, N) and the marginal price (T,) (NaN where the volume is zero).
    """
    key = price if ascending else -price
    order = np.argsort(np.where(qty > 0, key, np.inf), axis=1, kind="stable")
    qty_sorted = np.take_along_axis(qty, order, axis=1)
    key_sorted = np.take_along_axis(key, order, axis=1)
    cum = np.cumsum(qty_sorted, axis=1)
    # The marginal order is the first whose cumulative quantity reaches the volume.
    reach = cum >= (volume[:, None] - VOLUME_TOLERANCE_KWH)
    marginal_pos = np.argmax(reach, axis=1)
    marginal_key = np.take_along_axis(key_sorted, marginal_pos[:, None], axis=1)[:, 0]
    better = (qty > 0) & (key < marginal_key[:, None])
    at_margin = (qty > 0) & (key == marginal_key[:, None])
    filled_better = np.where(better, qty, 0.0).sum(axis=1)
    at_margin_qty = np.where(at_margin, qty, 0.0).sum(axis=1)
    share = np.divide(
        volume - filled_better,
        at_margin_qty,
        out=np.zeros_like(volume),
        where=at_margin_qty > 0,
    )
    fill = np.where(better, qty, 0.0) + np.where(at_margin, qty * share[:, None], 0.0)
    traded = volume > 0
    fill[~traded] = 0.0
    marginal_price = np.where(traded, marginal_key if ascending else -marginal_key, np.nan)
    return fill, marginal_price


def pair_fills(
    ask_fill_kwh: np.ndarray, bid_fill_kwh: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilateral trades that deliver the given fills, at most Na + Nb - 1 per interval.

    Sellers and buyers are laid along the interval's traded volume, each in a seeded random order drawn
    per interval from ``rng`` (the documented tie-break: no member is always first), and each overlap of
    a seller's stretch with a buyer's stretch is one trade (the north-west corner rule).

    Returns
    -------
    interval, seller, buyer : int arrays, the interval row and the ask and bid slot of each trade
    energy_kwh : float array, the energy of each trade [kWh]
    """
    n_intervals, n_asks = ask_fill_kwh.shape
    n_bids = bid_fill_kwh.shape[1]
    seller_order = np.argsort(rng.random((n_intervals, n_asks)), axis=1)
    buyer_order = np.argsort(rng.random((n_intervals, n_bids)), axis=1)
    sell_cum = np.cumsum(np.take_along_axis(ask_fill_kwh, seller_order, axis=1), axis=1)
    buy_cum = np.cumsum(np.take_along_axis(bid_fill_kwh, buyer_order, axis=1), axis=1)
    volume = np.minimum(sell_cum[:, -1] if n_asks else 0.0, buy_cum[:, -1] if n_bids else 0.0)
    # Lay all intervals on one axis, each in its own window of width `span`, to search them together.
    span = float(max(sell_cum.max(initial=0.0), buy_cum.max(initial=0.0))) + 1.0
    offset = np.arange(n_intervals)[:, None] * span
    sell_flat = (sell_cum + offset).ravel()
    buy_flat = (buy_cum + offset).ravel()
    points = np.unique(np.concatenate([sell_flat, buy_flat, offset.ravel()]))
    start, end = points[:-1], points[1:]
    length = end - start
    mid = start + 0.5 * length
    row = np.floor(mid / span).astype(np.int64)
    keep = (length > VOLUME_TOLERANCE_KWH) & (mid - row * span < volume[row])
    mid, row, length = mid[keep], row[keep], length[keep]
    seller_pos = np.searchsorted(sell_flat, mid, side="right") - row * n_asks
    buyer_pos = np.searchsorted(buy_flat, mid, side="right") - row * n_bids
    seller = seller_order[row, seller_pos]
    buyer = buyer_order[row, buyer_pos]
    return row, seller, buyer, length
