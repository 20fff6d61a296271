"""One entry point for every periodic mechanism in batched form, chosen by name (e.g. from a scenario)."""

from __future__ import annotations

import numpy as np

from wattmesh.market.clearing import as_order_arrays
from wattmesh.market.community import COMMUNITY_RULES, clear_community
from wattmesh.market.p2p import clear_p2p
from wattmesh.market.periodic import clear_pay_as_bid, clear_uniform_batch
from wattmesh.market.result import BatchClearing, BatchTrades, clearing_from_trades

#: Mechanism names accepted by :func:`clear_batch`, with the options each takes.
MECHANISMS: dict[str, str] = {
    "pay_as_clear": "uniform-price double auction; options: price_rule, fee_per_kwh, seed",
    "pay_as_bid": "discriminatory double auction; options: pair_price, fee_per_kwh, seed",
    "p2p": "bilateral LP with product differentiation; options: premium_per_kwh, allowed, "
    "pair_fee_per_kwh, fee_per_kwh, intervals_per_solve",
    "sdr": "supply-demand-ratio pricing, no bid prices; options: retail_per_kwh, feed_in_per_kwh "
    "(required), fee_per_kwh, seed",
    "mmr": "mid-market-rate pricing, no bid prices; options as sdr",
    "bill_sharing": "bill sharing, no bid prices; options as sdr",
    "utility_only": "no local market: everything settles with the utility (the baseline)",
}

_OPTIONS = {
    "pay_as_clear": {"price_rule", "fee_per_kwh", "seed"},
    "pay_as_bid": {"pair_price", "fee_per_kwh", "seed"},
    "p2p": {"premium_per_kwh", "allowed", "pair_fee_per_kwh", "fee_per_kwh", "intervals_per_solve", "seed"},
    "sdr": {"retail_per_kwh", "feed_in_per_kwh", "fee_per_kwh", "seed"},
    "mmr": {"retail_per_kwh", "feed_in_per_kwh", "fee_per_kwh", "seed"},
    "bill_sharing": {"retail_per_kwh", "feed_in_per_kwh", "fee_per_kwh", "seed"},
    "utility_only": {"retail_per_kwh", "feed_in_per_kwh", "fee_per_kwh", "seed"},
}


def clear_batch(
    mechanism: str,
    bid_kwh: np.ndarray,
    bid_price_per_kwh: np.ndarray,
    ask_kwh: np.ndarray,
    ask_price_per_kwh: np.ndarray,
    **options,
) -> BatchClearing:
    """Clear T market intervals at once with the mechanism named ``mechanism``.

    Parameters
    ----------
    mechanism : one of :data:`MECHANISMS`: "pay_as_clear", "pay_as_bid", "p2p", "sdr", "mmr",
        "bill_sharing", "utility_only"
    bid_kwh, bid_price_per_kwh : (T, Nb) energy wanted [kWh] and limit prices [currency/kWh]
    ask_kwh, ask_price_per_kwh : (T, Na) energy offered [kWh] and limit prices [currency/kWh]; in the
        simulator slot m of both sides is member m, zero quantity = no order
    **options
        seed : int, seeds the documented random tie-break and the pairing of fills into trades (default 0)
        fee_per_kwh : flat grid fee per local kWh, paid by the buyer, a number or (T,) (default 0)
        price_rule : pay_as_clear, "midpoint" (default), "marginal_ask" or "marginal_bid"
        pair_price : pay_as_bid, "bid" (default), "ask" or "midpoint"
        premium_per_kwh, allowed, pair_fee_per_kwh, intervals_per_solve : p2p, see
            :func:`~wattmesh.market.p2p.clear_p2p`
        retail_per_kwh, feed_in_per_kwh : utility prices, numbers or (T,), required by sdr, mmr and
            bill_sharing (their prices are built from them; bid and ask prices are ignored)

    Returns
    -------
    BatchClearing
        per-slot fills, per-slot money (``bid_payment`` with fees, ``ask_revenue``, ``bid_fee``), the
        mean price and volume per interval, and the trades. Settle the remainder with
        :func:`~wattmesh.market.utility.settle_with_utility`.

    Raises
    ------
    ValueError
        for an unknown mechanism, an option the mechanism does not take, a missing required option or
        malformed arrays.
    """
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism {mechanism!r} is not one of {', '.join(MECHANISMS)}")
    unknown = set(options) - _OPTIONS[mechanism]
    if unknown:
        raise ValueError(
            f"mechanism {mechanism!r} takes no option {', '.join(sorted(unknown))}; "
            f"it takes {', '.join(sorted(_OPTIONS[mechanism]))}"
        )
    rng = np.random.default_rng(options.pop("seed", 0))
    bid_kwh, bid_price, ask_kwh, ask_price = as_order_arrays(
        bid_kwh, bid_price_per_kwh, ask_kwh, ask_price_per_kwh
    )
    if mechanism == "pay_as_clear":
        return clear_uniform_batch(bid_kwh, bid_price, ask_kwh, ask_price, rng, **options)
    if mechanism == "pay_as_bid":
        return clear_pay_as_bid(bid_kwh, bid_price, ask_kwh, ask_price, rng, **options)
    if mechanism == "p2p":
        return clear_p2p(bid_kwh, bid_price, ask_kwh, ask_price, **options)
    if mechanism in COMMUNITY_RULES:
        for required in ("retail_per_kwh", "feed_in_per_kwh"):
            if required not in options:
                raise ValueError(f"mechanism {mechanism!r} needs the option {required} (utility prices)")
        return clear_community(mechanism, bid_kwh, ask_kwh, rng=rng, **options)
    empty_int = np.zeros(0, np.int64)
    no_trades = BatchTrades(empty_int, empty_int, empty_int, np.zeros(0), np.zeros(0), np.zeros(0))
    return clearing_from_trades(
        "utility_only", no_trades, bid_kwh.shape[0], bid_kwh.shape[1], ask_kwh.shape[1]
    )
