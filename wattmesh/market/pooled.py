"""Pay-as-clear when every bid of an interval has one limit price and every ask another: a closed form.

This is the simulator's common case (homes bid the retail price less the local fee and ask the feed-in
price). It gives the same outcome as :func:`wattmesh.market.clearing.clear_pay_as_clear` on such books
(tested against it), without sorting: O(T x N) instead of O(T x N log N).
"""

from __future__ import annotations

import numpy as np

from wattmesh.market.clearing import PRICE_RULES, VOLUME_TOLERANCE_KWH, UniformClearing


def clear_common_limits(
    bid_kwh: np.ndarray,
    bid_price_per_kwh: np.ndarray,
    ask_kwh: np.ndarray,
    ask_price_per_kwh: np.ndarray,
    price_rule: str = "midpoint",
) -> UniformClearing:
    """Clear T intervals where all bids share one limit and all asks share one limit per interval.

    Parameters
    ----------
    bid_kwh : (T, Nb) buy quantities [kWh]
    bid_price_per_kwh : (T,) the interval's common bid limit [currency/kWh]
    ask_kwh : (T, Na) sell quantities [kWh]
    ask_price_per_kwh : (T,) the interval's common ask limit [currency/kWh]
    price_rule : "midpoint", "marginal_ask" or "marginal_bid"

    Notes
    -----
    With demand D and supply S, the welfare-maximising volume is V = min(D, S) when the bid limit is at
    least the ask limit, else 0; every order sits at the margin, so each side is filled pro rata:
    bid fill = q * V / D, ask fill = q * V / S. The price is the midpoint of the two limits, or one of them.
    """
    if price_rule not in PRICE_RULES:
        raise ValueError(f"price_rule {price_rule!r} is not one of {', '.join(PRICE_RULES)}")
    bid_price = np.asarray(bid_price_per_kwh, dtype=float)
    ask_price = np.asarray(ask_price_per_kwh, dtype=float)
    demand = bid_kwh.sum(axis=1)
    supply = ask_kwh.sum(axis=1)
    volume = np.where(bid_price >= ask_price, np.minimum(demand, supply), 0.0)
    traded = volume > VOLUME_TOLERANCE_KWH
    volume = np.where(traded, volume, 0.0)
    bid_share = np.divide(volume, demand, out=np.zeros_like(volume), where=traded)
    ask_share = np.divide(volume, supply, out=np.zeros_like(volume), where=traded)
    if price_rule == "midpoint":
        price = 0.5 * (bid_price + ask_price)
    elif price_rule == "marginal_ask":
        price = ask_price.copy()
    else:
        price = bid_price.copy()
    return UniformClearing(
        price_per_kwh=np.where(traded, price, np.nan),
        volume_kwh=volume,
        bid_fill_kwh=bid_kwh * bid_share[:, None],
        ask_fill_kwh=ask_kwh * ask_share[:, None],
    )
