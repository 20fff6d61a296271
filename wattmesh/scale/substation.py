"""The substation market: the feeders' unmatched positions as binned supply and demand curves, cleared.

After its local market a feeder still imports (a deficit it bid at the retail price) or exports (a surplus
it offered at the feed-in price). Each feeder sends, per interval, its quantities binned on a price grid;
the substation clears the bins with the market's clearing (:func:`wattmesh.exchange.clear_positions`),
one slot per (feeder, price bin). Bids are rounded down to their bin and asks up, so a binned order never
trades at a price worse than its limit. Exact while the grid above the substation is a price-taker: the
substation's trades change no feeder's own dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.exchange import clear_positions
from wattmesh.market.result import BatchTrades

#: Width of the substation's price bins [currency/kWh].
BIN_PER_KWH = 0.005


@dataclass(frozen=True)
class BinnedCurves:
    """Quantities per interval, feeder and price bin on one side of the market.

    Attributes
    ----------
    energy_kwh : (T, F, B) quantity offered or asked in each bin [kWh]
    price_per_kwh : (B,) the bins' prices [currency/kWh]
    """

    energy_kwh: np.ndarray
    price_per_kwh: np.ndarray


def binned_curves(
    energy_kwh: np.ndarray, limit_per_kwh: np.ndarray, side: str, bin_per_kwh: float = BIN_PER_KWH
) -> BinnedCurves:
    """Bin (T, F) quantities at (T, F) limit prices into the price bins they use.

    Parameters
    ----------
    energy_kwh : (T, F) each feeder's unmatched quantity [kWh]
    limit_per_kwh : (T, F) its limit price [currency/kWh]
    side : "bid" (prices rounded down to a bin) or "ask" (rounded up)
    bin_per_kwh : bin width [currency/kWh]
    """
    if side not in ("bid", "ask"):
        raise ValueError(f"side {side!r} is not one of bid, ask")
    if bin_per_kwh <= 0:
        raise ValueError(f"bin_per_kwh {bin_per_kwh} is not above 0")
    scaled = np.asarray(limit_per_kwh, float) / bin_per_kwh
    # round() first so a price that is a whole number of bins is not moved by floating-point noise
    steps = np.where(np.isclose(scaled, np.round(scaled)), np.round(scaled), scaled)
    bins = (np.floor(steps) if side == "bid" else np.ceil(steps)).astype(np.int64)
    used, inverse = np.unique(bins, return_inverse=True)
    inverse = inverse.reshape(bins.shape)
    n_t, n_f = bins.shape
    curves = np.zeros((n_t, n_f, len(used)))
    rows, cols = np.indices(bins.shape)
    np.add.at(curves, (rows, cols, inverse), np.asarray(energy_kwh, float))
    return BinnedCurves(curves, used * bin_per_kwh)


@dataclass
class SubstationResult:
    """The substation market's clearing.

    Attributes
    ----------
    feeder_names : (F,) the feeders, in task order
    index : (T,) UTC interval starts
    price_per_kwh : (T,) clearing price, NaN where nothing traded [currency/kWh]
    volume_kwh : (T,) energy traded between feeders [kWh]
    bought_kwh, sold_kwh : (F,) each feeder's purchases and sales over the span [kWh]
    saving : (F,) what the trades save each feeder against the utility's retail and feed-in prices
        over the span [currency]
    trades : the bilateral trades; ``seller`` and ``buyer`` are slots, feeder = slot // bins
    seller_slot_feeder, buyer_slot_feeder : feeder index of each ask and bid slot
    mechanism, seed : how it was cleared
    """

    feeder_names: np.ndarray
    index: pd.DatetimeIndex
    price_per_kwh: np.ndarray
    volume_kwh: np.ndarray
    bought_kwh: np.ndarray
    sold_kwh: np.ndarray
    saving: np.ndarray
    trades: BatchTrades
    seller_slot_feeder: np.ndarray
    buyer_slot_feeder: np.ndarray
    mechanism: str = "pay_as_clear"
    seed: int = 0

    def arrays(self) -> dict[str, np.ndarray]:
        """Every result array under a flat name, for comparisons (bitwise) between runs."""
        found = {"substation.trades." + k: getattr(self.trades, k) for k in BatchTrades.__dataclass_fields__}
        for name in ("price_per_kwh", "volume_kwh", "bought_kwh", "sold_kwh", "saving"):
            found[f"substation.{name}"] = getattr(self, name)
        return found

    def records(self, scope: str) -> pd.DataFrame:
        """The trades as trade records (:data:`wattmesh.tables.TRADES`); seller and buyer are feeder names."""
        from wattmesh.market.orders import trade_records

        return trade_records(
            self.trades,
            self.mechanism,
            self.feeder_names[self.seller_slot_feeder],
            self.feeder_names[self.buyer_slot_feeder],
            self.index,
            scope=scope,
        )


def clear_substation(outcomes: list, seed: int, bin_per_kwh: float = BIN_PER_KWH) -> SubstationResult:
    """Clear the feeders' unmatched positions (:class:`~wattmesh.scale.tasks.FeederOutcome`) at the substation.

    Feeder f bids its net unmatched import at its retail price and offers its net unmatched export at its
    feed-in price; pay-as-clear (midpoint) over the binned curves, ties broken by a generator seeded ``seed``.

    Raises
    ------
    ValueError
        if the feeders do not share one interval index.
    """
    index = outcomes[0].index
    for outcome in outcomes[1:]:
        if not outcome.index.equals(index):
            raise ValueError(
                f"feeder {outcome.feeder_name!r}: its intervals ({outcome.index[0]} .. {len(outcome.index)}) "
                f"differ from {outcomes[0].feeder_name!r}'s; the substation needs one span for all feeders"
            )
    names = np.array([o.feeder_name for o in outcomes], dtype=object)
    # A feeder's own import and export of one interval (slivers below the local market's smallest trade)
    # net at its transformer: it offers only its net position, and never trades with itself.
    net = np.column_stack([o.net_import_kwh for o in outcomes])
    deficit, surplus = np.maximum(net, 0.0), np.maximum(-net, 0.0)
    retail = np.column_stack([o.retail_per_kwh for o in outcomes])
    feed_in = np.column_stack([o.feed_in_per_kwh for o in outcomes])
    bids = binned_curves(deficit, retail, "bid", bin_per_kwh)
    asks = binned_curves(surplus, feed_in, "ask", bin_per_kwh)
    n_t, n_f = deficit.shape
    n_bid_bins, n_ask_bins = len(bids.price_per_kwh), len(asks.price_per_kwh)
    clearing = clear_positions(
        bids.energy_kwh.reshape(n_t, n_f * n_bid_bins),
        np.tile(bids.price_per_kwh, n_f)[None, :],
        asks.energy_kwh.reshape(n_t, n_f * n_ask_bins),
        np.tile(asks.price_per_kwh, n_f)[None, :],
        mechanism="pay_as_clear",
        rng=np.random.default_rng(seed),
        price_rule="midpoint",
        with_trades=True,
    )
    trades = clearing.trades
    buyer_feeder = np.repeat(np.arange(n_f), n_bid_bins)
    seller_feeder = np.repeat(np.arange(n_f), n_ask_bins)
    rows = np.asarray(trades.interval, np.int64)
    by_buyer = buyer_feeder[np.asarray(trades.buyer, np.int64)]
    by_seller = seller_feeder[np.asarray(trades.seller, np.int64)]
    energy = np.asarray(trades.energy_kwh, float)
    price = np.asarray(trades.price_per_kwh, float)
    bought = np.bincount(by_buyer, energy, n_f)
    sold = np.bincount(by_seller, energy, n_f)
    saving = np.bincount(by_buyer, energy * (retail[rows, by_buyer] - price), n_f) + np.bincount(
        by_seller, energy * (price - feed_in[rows, by_seller]), n_f
    )
    return SubstationResult(
        feeder_names=names,
        index=index,
        price_per_kwh=np.asarray(clearing.price_per_kwh, float),
        volume_kwh=np.asarray(clearing.volume_kwh, float),
        bought_kwh=bought,
        sold_kwh=sold,
        saving=saving,
        trades=trades,
        seller_slot_feeder=seller_feeder,
        buyer_slot_feeder=buyer_feeder,
        seed=seed,
    )
