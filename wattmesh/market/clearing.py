"""Uniform-price (pay-as-clear) double auction, cleared for many market intervals at once.

Each row of the input arrays is one market interval and each column one order slot; a slot with zero
quantity is no order. Everything is vectorised over intervals and orders: no Python loop over either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRICE_RULES = ("midpoint", "marginal_ask", "marginal_bid")

# Volumes below this are treated as zero (kWh); it absorbs floating-point noise of sums.
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


def as_order_arrays(
    bid_kwh, bid_price_per_kwh, ask_kwh, ask_price_per_kwh
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four order arrays as 2-D floats, checked: same shape per side, no negative quantity.

    A 1-D array is one interval. Prices of zero-quantity slots are ignored (they may be NaN).

    Raises
    ------
    ValueError
        naming the array, its shape or its bad value.
    """
    arrays = [
        np.atleast_2d(np.asarray(a, dtype=float))
        for a in (bid_kwh, bid_price_per_kwh, ask_kwh, ask_price_per_kwh)
    ]
    names = ("bid_kwh", "bid_price_per_kwh", "ask_kwh", "ask_price_per_kwh")
    for qty, price, qname, pname in ((arrays[0], arrays[1], *names[:2]), (arrays[2], arrays[3], *names[2:])):
        if qty.shape != price.shape:
            raise ValueError(f"{pname} has shape {price.shape}, expected the shape of {qname} {qty.shape}")
        if qty.ndim != 2:
            raise ValueError(f"{qname} has {qty.ndim} dimensions, expected 2 (intervals, slots)")
        if not np.all(np.isfinite(qty)) or np.any(qty < 0):
            bad = float(qty[~(np.isfinite(qty) & (qty >= 0))][0])
            raise ValueError(f"{qname} holds {bad!r}, expected finite quantities >= 0 kWh")
        live_price = price[qty > 0]
        if not np.all(np.isfinite(live_price)):
            bad = float(live_price[~np.isfinite(live_price)][0])
            raise ValueError(f"{pname} holds {bad!r} for an order with quantity > 0, expected a finite price")
    if arrays[0].shape[0] != arrays[2].shape[0]:
        raise ValueError(
            f"bid_kwh has {arrays[0].shape[0]} intervals but ask_kwh has {arrays[2].shape[0]}, expected the same"
        )
    return arrays[0], arrays[1], arrays[2], arrays[3]


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

    Returns
    -------
    UniformClearing

    Notes
    -----
    With S(p) the supply of asks priced at or below p and D(p) the demand of bids priced at or above p,
    the traded volume is V = max_j min(S(a_j), D(a_j)) over the ask prices a_j: the largest volume at
    which the demand curve is not below the supply curve, which maximises the welfare
    sum(bid price x bought) - sum(ask price x sold) (among the welfare-maximising volumes it is the largest:
    a bid at exactly an ask's price trades). Because S rises and D falls with p, min(S, D) is unimodal
    over the sorted ask prices and V is found by bisection, with O(N) weighted sums per step instead of
    an indirect sort of the orders.

    The marginal ask is the cheapest ask price a with S(a) >= V, the marginal bid the dearest bid price b
    with D(b) >= V. Orders priced strictly better than the marginal price of their side are filled in
    full; orders at exactly the marginal price share the rest pro rata to their quantity, so the outcome
    does not depend on the order sequence and needs no tie-break. Every accepted bid is priced at or above
    the marginal bid, every accepted ask at or below the marginal ask, and marginal ask <= price <=
    marginal bid under all three rules: no buyer pays above its limit, no seller receives below its own.
    """
    if price_rule not in PRICE_RULES:
        raise ValueError(f"price_rule {price_rule!r} is not one of {', '.join(PRICE_RULES)}")
    bid_kwh, bid_price, ask_kwh, ask_price = as_order_arrays(
        bid_kwh, bid_price_per_kwh, ask_kwh, ask_price_per_kwh
    )
    ask_sorted = sorted_keys(ask_kwh, ask_price, ascending=True)
    volume = cleared_volume(bid_kwh, bid_price, ask_kwh, ask_price, ask_sorted)
    ask_fill, marginal_ask = fills_at_volume(ask_kwh, ask_price, volume, True, ask_sorted)
    bid_fill, marginal_bid = fills_at_volume(bid_kwh, bid_price, volume, ascending=False)
    if price_rule == "midpoint":
        price = 0.5 * (marginal_ask + marginal_bid)
    elif price_rule == "marginal_ask":
        price = marginal_ask
    else:
        price = marginal_bid
    return UniformClearing(np.where(volume > 0, price, np.nan), volume, bid_fill, ask_fill)


def _weighted_sum(weight: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row sums of ``weight`` where ``mask`` holds, (T,)."""
    if weight.shape[0] == 1:
        return np.atleast_1d(weight[0] @ mask[0])
    return (weight * mask).sum(axis=1)


def _supply_at(ask_kwh, ask_price, price) -> np.ndarray:
    return _weighted_sum(ask_kwh, ask_price <= price[:, None])


def _demand_at(bid_kwh, bid_price, price) -> np.ndarray:
    return _weighted_sum(bid_kwh, bid_price >= price[:, None])


def _first_true(n: int, predicate, n_rows: int) -> np.ndarray:
    """Per row, the first k in [0, n] with predicate(k) true, for a predicate monotone in k.

    ``predicate`` takes a (T,) int array of positions (all < n) and returns a (T,) bool array; position n
    counts as true.
    """
    lo = np.zeros(n_rows, dtype=np.int64)
    hi = np.full(n_rows, n, dtype=np.int64)
    while np.any(lo < hi):
        active = lo < hi
        mid = (lo + hi) // 2
        holds = predicate(np.minimum(mid, max(n - 1, 0)))
        hi = np.where(active & holds, mid, hi)
        lo = np.where(active & ~holds, mid + 1, lo)
    return lo


def cleared_volume(bid_kwh, bid_price, ask_kwh, ask_price, ask_sorted=None) -> np.ndarray:
    """(T,) welfare-maximising traded volume per interval [kWh] (see :func:`clear_pay_as_clear`).

    ``ask_sorted`` may pass :func:`sorted_keys` of the asks, when the caller has it already.
    """
    n_intervals, n_asks = ask_kwh.shape
    if n_asks == 0 or bid_kwh.shape[1] == 0:
        return np.zeros(n_intervals)
    ask_price = np.where(ask_kwh > 0, ask_price, np.inf)
    bid_price = np.where(bid_kwh > 0, bid_price, -np.inf)
    if ask_sorted is None:
        ask_sorted = np.sort(ask_price, axis=1)
    rows = np.arange(n_intervals)

    def supply_covers_demand(k):
        price = ask_sorted[rows, k]
        return _supply_at(ask_kwh, ask_price, price) >= _demand_at(bid_kwh, bid_price, price)

    k = _first_true(n_asks, supply_covers_demand, n_intervals)
    # Asks padded with +inf (no order) have zero demand, so the crossing is always inside the row.
    at = np.minimum(k, n_asks - 1)
    price_k = ask_sorted[rows, at]
    demand_k = np.where(k < n_asks, _demand_at(bid_kwh, bid_price, price_k), 0.0)
    before = np.maximum(k - 1, 0)
    supply_before = np.where(k > 0, _supply_at(ask_kwh, ask_price, ask_sorted[rows, before]), 0.0)
    volume = np.maximum(demand_k, supply_before)
    return np.where(volume > VOLUME_TOLERANCE_KWH, volume, 0.0)


def sorted_keys(qty: np.ndarray, price: np.ndarray, ascending: bool) -> np.ndarray:
    """(T, N) each row's price keys in ascending order: prices (asks) or negated prices (bids), +inf for
    empty slots."""
    return np.sort(np.where(qty > 0, price if ascending else -price, np.inf), axis=1)


def fills_at_volume(qty, price, volume, ascending: bool, key_sorted=None) -> tuple[np.ndarray, np.ndarray]:
    """Fill one side up to ``volume`` in price order, pro rata among orders at the marginal price.

    Parameters
    ----------
    qty, price : (T, N) order quantities [kWh] and limit prices [currency/kWh]
    volume : (T,) energy to fill [kWh], at most the side's total quantity
    ascending : True for asks (cheapest first), False for bids (dearest first)
    key_sorted : :func:`sorted_keys` of this side, when the caller has it already

    Returns
    -------
    fill : (T, N) energy filled per slot [kWh]
    marginal_price : (T,) price of the last order needed to reach the volume, NaN where volume is 0
    """
    n_intervals, n_slots = qty.shape
    if n_slots == 0:
        return np.zeros_like(qty), np.full(n_intervals, np.nan)
    key = np.where(qty > 0, price if ascending else -price, np.inf)
    if key_sorted is None:
        key_sorted = np.sort(key, axis=1)
    rows = np.arange(n_intervals)
    target = volume - VOLUME_TOLERANCE_KWH

    def reaches_volume(k):
        return _weighted_sum(qty, key <= key_sorted[rows, k][:, None]) >= target

    marginal_pos = np.minimum(_first_true(n_slots, reaches_volume, n_intervals), n_slots - 1)
    marginal_key = key_sorted[rows, marginal_pos]
    better = key < marginal_key[:, None]
    at_margin = key == marginal_key[:, None]
    filled_better = _weighted_sum(qty, better)
    at_margin_qty = _weighted_sum(qty, at_margin)
    share = np.divide(
        volume - filled_better, at_margin_qty, out=np.zeros_like(volume), where=at_margin_qty > 0
    )
    share = np.clip(share, 0.0, 1.0)
    traded = volume > 0
    fill = np.where(better, qty, 0.0) + np.where(at_margin, qty * share[:, None], 0.0)
    fill[~traded] = 0.0
    marginal_price = np.where(traded, marginal_key if ascending else -marginal_key, np.nan)
    return fill, marginal_price


def pair_in_order(
    ask_fill_kwh: np.ndarray, ask_order: np.ndarray, bid_fill_kwh: np.ndarray, bid_order: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilateral trades that deliver the fills, sellers and buyers taken in the given slot orders.

    Sellers (in ``ask_order``) and buyers (in ``bid_order``) are laid along each interval's traded volume
    and each overlap of a seller's stretch with a buyer's stretch is one trade (the north-west corner
    rule), so there are at most Na + Nb - 1 trades per interval.

    Parameters
    ----------
    ask_fill_kwh, bid_fill_kwh : (T, Na), (T, Nb) energy sold and bought per slot [kWh]
    ask_order, bid_order : (T, Na), (T, Nb) permutations of the slots, per interval

    Returns
    -------
    interval, seller, buyer : int arrays, the interval row and the ask and bid slot of each trade
    energy_kwh : float array, the energy of each trade [kWh]
    """
    n_intervals, n_asks = ask_fill_kwh.shape
    n_bids = bid_fill_kwh.shape[1]
    if n_asks == 0 or n_bids == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy(), np.zeros(0)
    sell_cum = np.cumsum(np.take_along_axis(ask_fill_kwh, ask_order, axis=1), axis=1)
    buy_cum = np.cumsum(np.take_along_axis(bid_fill_kwh, bid_order, axis=1), axis=1)
    # All breakpoints of a row, sorted by (row, position along the volume); no offsets, so no rounding.
    points = np.concatenate([sell_cum, buy_cum], axis=1)
    is_sell = np.concatenate([np.ones_like(sell_cum, bool), np.zeros_like(buy_cum, bool)], axis=1)
    order = np.argsort(points, axis=1, kind="stable")
    points = np.take_along_axis(points, order, axis=1)
    is_sell = np.take_along_axis(is_sell, order, axis=1)
    start = np.concatenate([np.zeros((n_intervals, 1)), points[:, :-1]], axis=1)
    length = points - start
    # The stretch a segment belongs to: the number of breakpoints of that side at or before its start.
    sells_before = np.cumsum(is_sell, axis=1) - is_sell
    buys_before = np.cumsum(~is_sell, axis=1) - ~is_sell
    keep = (length > VOLUME_TOLERANCE_KWH) & (sells_before < n_asks) & (buys_before < n_bids)
    row, col = np.nonzero(keep)
    seller = ask_order[row, sells_before[row, col]]
    buyer = bid_order[row, buys_before[row, col]]
    return row, seller, buyer, length[row, col]


def pair_fills(
    ask_fill_kwh: np.ndarray, bid_fill_kwh: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilateral trades that deliver the given fills, at most Na + Nb - 1 per interval: THE pairing rule.

    Sellers and buyers are laid along each interval's traded volume in one seeded random order of the
    slots per call (a permutation of the ask slots, then one of the bid slots, drawn from ``rng``), and
    each overlap of a seller's stretch with a buyer's stretch is one trade (the north-west corner rule).
    The random order is the documented tie-break: no member is always first. The live exchange calls it
    once per interval, the simulator once per chunk of intervals (a week), so each draws a new order per
    call.

    Returns
    -------
    interval, seller, buyer : int arrays, the interval row and the ask and bid slot of each trade
    energy_kwh : float array, the energy of each trade [kWh]
    """
    ask_fill_kwh = np.atleast_2d(np.asarray(ask_fill_kwh, dtype=float))
    bid_fill_kwh = np.atleast_2d(np.asarray(bid_fill_kwh, dtype=float))
    n_intervals, n_asks = ask_fill_kwh.shape
    n_bids = bid_fill_kwh.shape[1]
    seller_order = np.broadcast_to(rng.permutation(n_asks), (n_intervals, n_asks))
    buyer_order = np.broadcast_to(rng.permutation(n_bids), (n_intervals, n_bids))
    return pair_in_order(ask_fill_kwh, seller_order, bid_fill_kwh, buyer_order)
