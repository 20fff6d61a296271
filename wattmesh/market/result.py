"""The common result of every batched clearing mechanism: per-slot fills, per-slot money and the trades."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BatchTrades:
    """Bilateral trades of a batched clearing, one entry per trade.

    Attributes
    ----------
    interval : int row of the interval the trade delivers in
    seller, buyer : int ask slot and bid slot
    energy_kwh : energy delivered [kWh]
    price_per_kwh : price the seller receives [currency/kWh]
    fee_per_kwh : grid fee the buyer pays on top of the price [currency/kWh]
    """

    interval: np.ndarray
    seller: np.ndarray
    buyer: np.ndarray
    energy_kwh: np.ndarray
    price_per_kwh: np.ndarray
    fee_per_kwh: np.ndarray

    def __len__(self) -> int:
        return len(self.energy_kwh)


@dataclass(frozen=True)
class BatchClearing:
    """What a mechanism decided for T intervals of Nb bid slots and Na ask slots.

    Attributes
    ----------
    mechanism : name of the mechanism (see ``wattmesh.market.MECHANISMS``)
    price_per_kwh : (T,) volume-weighted mean price sellers received, NaN where nothing traded
        [currency/kWh]
    volume_kwh : (T,) energy traded locally [kWh]
    bid_fill_kwh : (T, Nb) energy bought locally per bid slot [kWh]
    ask_fill_kwh : (T, Na) energy sold locally per ask slot [kWh]
    bid_payment : (T, Nb) money each bid slot paid for local energy, grid fees included [currency]
    ask_revenue : (T, Na) money each ask slot received for local energy [currency]
    bid_fee : (T, Nb) the grid fees within ``bid_payment`` [currency]
    trades : the bilateral trades that deliver the fills
    """

    mechanism: str
    price_per_kwh: np.ndarray
    volume_kwh: np.ndarray
    bid_fill_kwh: np.ndarray
    ask_fill_kwh: np.ndarray
    bid_payment: np.ndarray
    ask_revenue: np.ndarray
    bid_fee: np.ndarray
    trades: BatchTrades


def slot_sums(row: np.ndarray, slot: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(T, N) sums of ``values`` per (row, slot)."""
    n_rows, n_slots = shape
    flat = np.bincount(row * n_slots + slot, weights=values, minlength=n_rows * n_slots)
    return flat.reshape(n_rows, n_slots)


def clearing_from_trades(
    mechanism: str, trades: BatchTrades, n_intervals: int, n_bids: int, n_asks: int
) -> BatchClearing:
    """A :class:`BatchClearing` whose fills and money are the sums of ``trades``."""
    energy = trades.energy_kwh
    seller_money = energy * trades.price_per_kwh
    fee_money = energy * trades.fee_per_kwh
    bid_shape, ask_shape = (n_intervals, n_bids), (n_intervals, n_asks)
    bid_fill = slot_sums(trades.interval, trades.buyer, energy, bid_shape)
    ask_fill = slot_sums(trades.interval, trades.seller, energy, ask_shape)
    volume = np.bincount(trades.interval, weights=energy, minlength=n_intervals).astype(float)
    revenue = np.bincount(trades.interval, weights=seller_money, minlength=n_intervals)
    price = np.divide(revenue, volume, out=np.full(n_intervals, np.nan), where=volume > 0)
    return BatchClearing(
        mechanism=mechanism,
        price_per_kwh=price,
        volume_kwh=volume,
        bid_fill_kwh=bid_fill,
        ask_fill_kwh=ask_fill,
        bid_payment=slot_sums(trades.interval, trades.buyer, seller_money + fee_money, bid_shape),
        ask_revenue=slot_sums(trades.interval, trades.seller, seller_money, ask_shape),
        bid_fee=slot_sums(trades.interval, trades.buyer, fee_money, bid_shape),
        trades=trades,
    )


def clearing_from_fills(
    mechanism: str,
    bid_fill_kwh: np.ndarray,
    ask_fill_kwh: np.ndarray,
    price_per_kwh: np.ndarray,
    fee_per_kwh: np.ndarray,
) -> BatchClearing:
    """A :class:`BatchClearing` of a uniform price without bilateral trades (where none are wanted).

    Money follows the fills: buyers pay (price + fee) per kWh, sellers receive the price; ``price_per_kwh``
    and ``fee_per_kwh`` are (T,), the price NaN where nothing traded.
    """
    price = np.nan_to_num(price_per_kwh)[:, None]
    fee = np.asarray(fee_per_kwh, float)[:, None]
    no_trades = BatchTrades(*(np.zeros(0, np.int64),) * 3, np.zeros(0), np.zeros(0), np.zeros(0))
    return BatchClearing(
        mechanism=mechanism,
        price_per_kwh=np.asarray(price_per_kwh, float),
        volume_kwh=ask_fill_kwh.sum(axis=1),
        bid_fill_kwh=bid_fill_kwh,
        ask_fill_kwh=ask_fill_kwh,
        bid_payment=bid_fill_kwh * (price + fee),
        ask_revenue=ask_fill_kwh * price,
        bid_fee=bid_fill_kwh * fee,
        trades=no_trades,
    )


def welfare(
    bid_value_per_kwh: np.ndarray,
    bid_fill_kwh: np.ndarray,
    ask_value_per_kwh: np.ndarray,
    ask_fill_kwh: np.ndarray,
    fee_paid: np.ndarray | float = 0.0,
) -> float:
    """THE welfare of a clearing [currency]: buyers' value of what they bought minus sellers' value of what
    they sold minus the grid fees paid.

    Parameters
    ----------
    bid_value_per_kwh, ask_value_per_kwh : (T, Nb), (T, Na) what each slot's energy is worth to its
        member: the posted limits (the book's welfare) or the true values (a tournament's) [currency/kWh]
    bid_fill_kwh, ask_fill_kwh : (T, Nb), (T, Na) energy bought and sold [kWh]
    fee_paid : grid fees paid, any shape (summed) [currency]
    """
    return float(
        (np.asarray(bid_value_per_kwh) * bid_fill_kwh).sum()
        - (np.asarray(ask_value_per_kwh) * ask_fill_kwh).sum()
        - np.sum(fee_paid)
    )


def per_interval(value, n_intervals: int, name: str) -> np.ndarray:
    """``value`` (a number or a (T,) array) as a (T,) float array; the error names ``name``."""
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = np.full(n_intervals, float(array))
    if array.shape != (n_intervals,):
        raise ValueError(f"{name} has shape {array.shape}, expected a number or ({n_intervals},)")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds {float(array[~np.isfinite(array)][0])!r}, expected finite values")
    return array


def without_small_trades(clearing: BatchClearing, min_trade_kwh: float) -> BatchClearing:
    """The clearing less its trades below ``min_trade_kwh`` [kWh]; fills and money are rebuilt from the rest.

    A trade too small to be worth recording (the pairing rule can cut a seller's stretch into slivers of
    any size) is not delivered locally: its energy stays in both members' positions and settles with the
    utility, so the energy balance holds. A clearing without trade records (fills only) is returned as is.
    """
    trades = clearing.trades
    if min_trade_kwh <= 0 or len(trades) == 0:
        return clearing
    keep = trades.energy_kwh >= min_trade_kwh
    if keep.all():
        return clearing
    kept = BatchTrades(*(getattr(trades, name)[keep] for name in BatchTrades.__dataclass_fields__))
    n_intervals, n_bids = clearing.bid_fill_kwh.shape
    return clearing_from_trades(clearing.mechanism, kept, n_intervals, n_bids, clearing.ask_fill_kwh.shape[1])
