"""One entry point for every periodic mechanism in batched form, chosen by name (e.g. from a scenario)."""

from __future__ import annotations

import numpy as np

from wattmesh.market.clearing import as_order_arrays
from wattmesh.market.community import COMMUNITY_RULES, clear_community
from wattmesh.market.p2p import clear_p2p
from wattmesh.market.periodic import clear_pay_as_bid, clear_uniform_batch
from wattmesh.market.result import BatchClearing, BatchTrades, clearing_from_trades, welfare

#: Mechanism names accepted by :func:`clear_batch`, with the options each takes.
MECHANISMS: dict[str, str] = {
    "pay_as_clear": "uniform-price double auction; options: price_rule, fee_per_kwh, seed, pair",
    "pay_as_bid": "discriminatory double auction; options: pair_price, fee_per_kwh, seed",
    "p2p": "bilateral LP with product differentiation; options: premium_per_kwh, allowed, "
    "pair_fee_per_kwh, fee_per_kwh, intervals_per_solve, pricing (dual, midpoint)",
    "sdr": "supply-demand-ratio pricing, no bid prices; options: retail_per_kwh, feed_in_per_kwh "
    "(required), fee_per_kwh, seed",
    "mmr": "mid-market-rate pricing, no bid prices; options as sdr",
    "bill_sharing": "bill sharing, no bid prices; options as sdr",
    "utility_only": "no local market: everything settles with the utility (the baseline)",
}

_OPTIONS = {
    "pay_as_clear": {"price_rule", "fee_per_kwh", "seed", "pair"},
    "pay_as_bid": {"pair_price", "fee_per_kwh", "seed"},
    "p2p": {
        "premium_per_kwh",
        "allowed",
        "pair_fee_per_kwh",
        "fee_per_kwh",
        "intervals_per_solve",
        "pricing",
        "seed",
    },
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
        seed : int or numpy Generator, seeds the documented random tie-break and the pairing of fills into
            trades (default 0); pass one Generator to successive calls that clear chunks of a run
        fee_per_kwh : flat grid fee per local kWh, paid by the buyer, a number or (T,) (default 0)
        price_rule : pay_as_clear, "midpoint" (default), "marginal_ask" or "marginal_bid"
        pair : pay_as_clear, False to skip pairing the fills into bilateral trades (default True)
        pair_price : pay_as_bid, "bid" (default), "ask" or "midpoint"
        premium_per_kwh, allowed, pair_fee_per_kwh, intervals_per_solve, pricing : p2p, see
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
        # The LP has no random choice: the seed is accepted so that every mechanism takes one.
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


def compare_mechanisms(
    bid_kwh: np.ndarray,
    bid_price_per_kwh: np.ndarray,
    ask_kwh: np.ndarray,
    ask_price_per_kwh: np.ndarray,
    retail_per_kwh: float | np.ndarray,
    feed_in_per_kwh: float | np.ndarray,
    mechanisms: tuple[str, ...] | None = None,
    seed: int = 0,
    fee_per_kwh: float | np.ndarray = 0.0,
    options: dict[str, dict] | None = None,
):
    """Clear the same orders with several mechanisms and settle the rest with the utility: one row each.

    Parameters
    ----------
    bid_kwh, bid_price_per_kwh, ask_kwh, ask_price_per_kwh : (T, Nb), (T, Na) orders [kWh], [currency/kWh]
    retail_per_kwh, feed_in_per_kwh : utility prices, numbers or (T,) [currency/kWh]
    mechanisms : names from :data:`MECHANISMS` (default all)
    seed, fee_per_kwh : passed to every mechanism
    options : extra options per mechanism name, e.g. ``{"p2p": {"premium_per_kwh": premium}}``

    Returns
    -------
    pandas.DataFrame
        one row per mechanism: ``local_volume_kwh``, ``mean_local_price_per_kwh`` (volume-weighted),
        ``welfare`` (bid limits x energy bought minus ask limits x energy sold minus grid fees, over the
        local trades) [currency], ``buyers_pay`` and ``sellers_receive`` (local plus utility) [currency],
        ``grid_fees`` [currency], ``import_kwh``, ``export_kwh`` and ``seconds`` (clearing time).
    """
    import time

    import pandas as pd

    from wattmesh.market.utility import settle_with_utility

    bid_kwh, bid_price, ask_kwh, ask_price = as_order_arrays(
        bid_kwh, bid_price_per_kwh, ask_kwh, ask_price_per_kwh
    )
    rows = []
    for name in mechanisms or tuple(MECHANISMS):
        chosen = {"seed": seed, "fee_per_kwh": fee_per_kwh}
        if name in (*COMMUNITY_RULES, "utility_only"):
            chosen.update(retail_per_kwh=retail_per_kwh, feed_in_per_kwh=feed_in_per_kwh)
        chosen = {k: v for k, v in chosen.items() if k in _OPTIONS.get(name, chosen)}
        chosen.update((options or {}).get(name, {}))
        started = time.perf_counter()
        result = clear_batch(name, bid_kwh, bid_price, ask_kwh, ask_price, **chosen)
        seconds = time.perf_counter() - started
        utility = settle_with_utility(bid_kwh, ask_kwh, result, retail_per_kwh, feed_in_per_kwh)
        volume = float(result.volume_kwh.sum())
        revenue = float(result.ask_revenue.sum())
        rows.append(
            {
                "mechanism": name,
                "local_volume_kwh": volume,
                "mean_local_price_per_kwh": revenue / volume if volume > 0 else np.nan,
                "welfare": welfare(
                    bid_price, result.bid_fill_kwh, ask_price, result.ask_fill_kwh, result.bid_fee
                ),
                "buyers_pay": float(result.bid_payment.sum() + utility.import_cost.sum()),
                "sellers_receive": revenue + float(utility.export_revenue.sum()),
                "grid_fees": float(result.bid_fee.sum()),
                "import_kwh": float(utility.import_kwh.sum()),
                "export_kwh": float(utility.export_kwh.sum()),
                "seconds": seconds,
            }
        )
    return pd.DataFrame(rows)
