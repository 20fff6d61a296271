"""Orders and trades as tables: the order schema, validation with reasons, single-interval clearing.

The live server receives orders as rows (one per order), validates them, and clears one delivery interval
with any periodic mechanism by name; the result is a trade table in the DESIGN.md trade-record format plus
the interval and the mechanism. The batched (intervals, members) functions do the work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.market.batch import MECHANISMS, clear_batch
from wattmesh.market.orderbook import Fill
from wattmesh.market.result import BatchClearing, BatchTrades, welfare
from wattmesh.tables import TRADE_FIELDS, TRADES, Column, TableSchema, transaction_ids

__all__ = [
    "ORDERS",
    "TRADES",
    "MarketOutcome",
    "clear_orders",
    "fill_records",
    "trade_records",
    "validate_orders",
]

ORDERS = TableSchema(
    "order",
    "order_id",
    (
        Column("order_id", "str", "-", "unique name of the order", required=True),
        Column("member_id", "str", "-", "the member placing the order", required=True),
        Column("side", "str", "-", "buy or sell", required=True, choices=("buy", "sell")),
        Column("energy_kwh", "float", "kWh", "energy to buy or sell, > 0", required=True),
        Column("price_per_kwh", "float", "currency/kWh", "limit price: most a buyer pays, least a seller takes",
               required=True),
        Column("delivery_start", "time", "UTC", "start of the delivery (market) interval", required=True),
        Column("entered_at", "time", "UTC", "time the order was entered (time priority)"),
        Column("time_in_force", "str", "-", "limit, ioc or fok (continuous book only)", default="limit",
               choices=("limit", "ioc", "fok")),
        Column("is_green", "bool", "-", "sell orders: the energy is renewable", default=False),
        Column("green_only", "bool", "-", "buy orders: accept only green sellers (p2p mechanism)", default=False),
        Column("preferred_sellers", "str", "-", "buy orders: member ids, comma separated, whose energy the "
               "buyer values by preferred_premium_per_kwh more (p2p mechanism)", default=""),
        Column("max_distance", "float", "km or ohm", "buy orders: farthest electrical distance to a seller, "
               "in the distance matrix's unit; empty = no limit (p2p mechanism)", minimum=0.0),
    ),
)  # fmt: skip


def _iso(stamps) -> np.ndarray:
    return pd.DatetimeIndex(stamps).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(dtype=object)


def _ranks(interval: np.ndarray) -> np.ndarray:
    """Each trade's position among the trades of its interval, in the order they were made."""
    n = len(interval)
    order = np.argsort(interval, kind="stable")
    first = np.flatnonzero(np.r_[True, np.diff(interval[order]) != 0])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.repeat(first, np.diff(np.r_[first, n]))
    return rank


def trade_records(
    trades: BatchTrades,
    mechanism: str,
    seller_ids,
    buyer_ids,
    interval_starts: pd.DatetimeIndex,
    *,
    scope: str = "",
    timestamps: pd.DatetimeIndex | None = None,
    sell_order_ids=None,
    buy_order_ids=None,
    compact: bool = False,
) -> pd.DataFrame:
    """THE builder of trade records: bilateral trades as a table following :data:`~wattmesh.tables.TRADES`.

    Every driver makes its records here (the simulator, the live exchange, the order book), so they all
    have the same columns, the same rounding and the same ids.

    Parameters
    ----------
    trades : the clearing's trades; ``interval`` rows into ``interval_starts``, ``seller``/``buyer`` slots
    mechanism : the mechanism that made them
    seller_ids, buyer_ids : (Na,), (Nb,) member id of each ask and bid slot
    interval_starts : (T,) start of each cleared interval, tz-aware
    scope : names the market, for the ids (:func:`~wattmesh.tables.transaction_ids`)
    timestamps : (T,) time each interval was cleared; default its start
    sell_order_ids, buy_order_ids : (Na,), (Nb,) order id of each slot, where orders have ids
    compact : member, time and order-id columns as pandas categoricals (the simulator's hundreds of
        thousands of trades; the values are the same strings)

    Notes
    -----
    Energy and prices are rounded to 1e-6 (1 Wh / 1000, a millionth of the currency per kWh); a trade
    whose energy rounds to zero is left out. The ids rank each interval's trades after that.
    """
    energy = np.round(np.asarray(trades.energy_kwh, float), 6)
    keep = energy > 0
    row = np.asarray(trades.interval, np.int64)[keep]
    seller = np.asarray(trades.seller, np.int64)[keep]
    buyer = np.asarray(trades.buyer, np.int64)[keep]
    starts = _iso(interval_starts)
    stamps = starts if timestamps is None else _iso(timestamps)
    seller_ids = np.asarray(seller_ids, dtype=object)
    buyer_ids = np.asarray(buyer_ids, dtype=object)
    no_ids = np.full(1, "", dtype=object)

    def column(labels: np.ndarray, codes: np.ndarray):
        if compact:
            unique, inverse = np.unique(labels.astype(str), return_inverse=True)
            return pd.Categorical.from_codes(inverse[codes], categories=unique)
        return labels[codes]

    sell_orders = no_ids if sell_order_ids is None else np.asarray(sell_order_ids, dtype=object)
    buy_orders = no_ids if buy_order_ids is None else np.asarray(buy_order_ids, dtype=object)
    table = pd.DataFrame(
        {
            "transaction_id": transaction_ids(scope, starts[row], _ranks(row)),
            "seller": column(seller_ids, seller),
            "buyer": column(buyer_ids, buyer),
            "energy_amount_kwh": energy[keep],
            "price_per_kwh": np.round(np.asarray(trades.price_per_kwh, float)[keep], 6),
            "timestamp": column(stamps, row),
            "status": "completed",
            "interval": column(starts, row),
            "mechanism": mechanism,
            "grid_fee_per_kwh": np.round(np.asarray(trades.fee_per_kwh, float)[keep], 6),
            "sell_order_id": column(sell_orders, seller if sell_order_ids is not None else 0 * seller),
            "buy_order_id": column(buy_orders, buyer if buy_order_ids is not None else 0 * buyer),
        },
        columns=list(TRADE_FIELDS),
    )
    return table


def fill_records(
    fills: list[Fill], delivery_start: pd.Timestamp, timestamp: pd.Timestamp | None = None, scope: str = ""
) -> pd.DataFrame:
    """The fills of a continuous order book as trade records (mechanism "cda"), in the order they filled."""
    n = len(fills)
    trades = BatchTrades(
        np.zeros(n, np.int64),
        np.arange(n),
        np.arange(n),
        np.array([f.energy_kwh for f in fills], float),
        np.array([f.price_per_kwh for f in fills], float),
        np.zeros(n),
    )
    return trade_records(
        trades,
        "cda",
        [f.seller for f in fills],
        [f.buyer for f in fills],
        pd.DatetimeIndex([pd.Timestamp(delivery_start)]),
        scope=scope,
        timestamps=None if timestamp is None else pd.DatetimeIndex([pd.Timestamp(timestamp)]),
        sell_order_ids=[f.sell_order_id for f in fills],
        buy_order_ids=[f.buy_order_id for f in fills],
    )


def validate_orders(
    orders: pd.DataFrame, member_ids=None, delivery_start: pd.Timestamp | str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split orders into the valid ones (conformed to :data:`ORDERS`) and the rejected ones, with reasons.

    Parameters
    ----------
    orders : one row per order, columns of :data:`ORDERS` (optional ones may be missing)
    member_ids : the members of the market; None skips the membership check
    delivery_start : the interval being cleared; None skips the interval check

    Returns
    -------
    valid : the accepted orders, every declared column present and typed
    rejected : the refused rows with a ``reason`` column, e.g.
        "order 'o7': energy_kwh 0.0 is not positive (expected > 0 kWh)"; a row with several problems
        gets them all, separated by "; "

    Raises
    ------
    ValueError
        if a required column is missing (the table as a whole is malformed).
    """
    missing = [c.name for c in ORDERS.columns if c.required and c.name not in orders.columns]
    if missing:
        raise ValueError(f"order table: required column(s) {', '.join(missing)} missing")
    table = orders.reset_index(drop=True)
    ids = table["order_id"].astype(str)
    reasons: list[list[str]] = [[] for _ in range(len(table))]

    def flag(mask, message) -> None:
        for i in np.flatnonzero(np.asarray(mask, bool)):
            reasons[i].append(f"order {ids[i]!r}: {message(i)}")

    energy = pd.to_numeric(table["energy_kwh"], errors="coerce").to_numpy(float)
    price = pd.to_numeric(table["price_per_kwh"], errors="coerce").to_numpy(float)
    raw_energy, raw_price = table["energy_kwh"].tolist(), table["price_per_kwh"].tolist()
    flag(~(energy > 0), lambda i: f"energy_kwh {raw_energy[i]!r} is not positive (expected > 0 kWh)")
    flag(np.isinf(energy), lambda i: f"energy_kwh {raw_energy[i]!r} is not a finite number of kWh")
    flag(~np.isfinite(price), lambda i: f"price_per_kwh {raw_price[i]!r} is not a finite number")
    side = table["side"].tolist()
    flag(
        ~np.isin(table["side"].to_numpy(), ["buy", "sell"]),
        lambda i: f"side {side[i]!r} is not one of buy, sell",
    )
    member = table["member_id"].tolist()
    if member_ids is not None:
        known = np.isin(table["member_id"].astype(str).to_numpy(), np.asarray(list(member_ids), dtype=str))
        flag(~known, lambda i: f"member_id {member[i]!r} is not a member of this market")
    start = pd.to_datetime(table["delivery_start"], utc=True, errors="coerce")
    raw_start = table["delivery_start"].tolist()
    flag(start.isna(), lambda i: f"delivery_start {raw_start[i]!r} is not a time")
    if delivery_start is not None:
        expected = pd.Timestamp(delivery_start)
        expected = expected.tz_localize("UTC") if expected.tzinfo is None else expected.tz_convert("UTC")
        flag(
            start.notna() & (start != expected),
            lambda i: (
                f"delivery_start {start[i].isoformat()} is not the interval being cleared "
                f"({expected.isoformat()})"
            ),
        )
    duplicated = ids.duplicated(keep="first")
    flag(duplicated, lambda i: "order_id appears more than once (the first is kept)")
    for name in ("time_in_force", "max_distance"):
        if name in table.columns:
            column = ORDERS.column(name)
            one = TableSchema(ORDERS.name, ORDERS.key, (ORDERS.column(ORDERS.key), column))
            problems = one.problems(pd.DataFrame({ORDERS.key: ids.to_numpy(), name: table[name].to_numpy()}))
            for message in problems:
                # Messages read "order '<id>': <field> ..."; a repeated id is already flagged above.
                key = message.split("'")[1]
                for i in np.flatnonzero(ids.to_numpy() == key):
                    if name in message:
                        reasons[i].append(message)

    bad = np.array([bool(r) for r in reasons], dtype=bool)
    rejected = table[bad].copy()
    rejected["reason"] = ["; ".join(r) for r in reasons if r]
    valid = table[~bad].copy()
    valid["order_id"] = valid["order_id"].astype(str)
    valid["delivery_start"] = start[~bad]
    return ORDERS.conform(valid), rejected.reset_index(drop=True)


@dataclass(frozen=True)
class MarketOutcome:
    """Result of :func:`clear_orders`: trades, refused orders, a short report, the raw clearing."""

    trades: pd.DataFrame
    rejected: pd.DataFrame
    report: dict
    clearing: BatchClearing | None


def clear_orders(
    orders: pd.DataFrame,
    mechanism: str = "pay_as_clear",
    *,
    delivery_start: pd.Timestamp | str,
    member_ids=None,
    timestamp: pd.Timestamp | None = None,
    member_bus: dict | None = None,
    distance=None,
    preferred_premium_per_kwh: float = 0.0,
    green_premium_per_kwh: float = 0.0,
    scope: str = "",
    **options,
) -> MarketOutcome:
    """Validate one interval's orders and clear them with a periodic mechanism.

    Parameters
    ----------
    orders : one row per order (:data:`ORDERS`)
    mechanism : a name of :data:`~wattmesh.market.batch.MECHANISMS`
    delivery_start : the interval being cleared; orders for another interval are rejected
    member_ids : the market's members; orders of others are rejected (None admits all)
    timestamp : clearing time written on the trades; default ``delivery_start``
    member_bus, distance : p2p: feeder bus of each member and the (B, B) electrical distance
        between buses, for the buyers' ``max_distance``
    preferred_premium_per_kwh, green_premium_per_kwh : p2p: what a buyer adds to its limit for a
        preferred seller and for green energy [currency/kWh]
    scope : names the market, for the transaction ids (:func:`~wattmesh.tables.transaction_ids`)
    **options : passed to :func:`~wattmesh.market.batch.clear_batch` (seed, fee_per_kwh, price_rule, ...)

    Notes
    -----
    Each order is one slot of a single interval. The order attributes (green_only, preferred_sellers,
    max_distance, is_green) act only in the p2p mechanism, which turns them into its pair permissions and
    premiums; the other mechanisms clear on quantity and price alone.
    """
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism {mechanism!r} is not one of {', '.join(MECHANISMS)}")
    valid, rejected = validate_orders(orders, member_ids, delivery_start)
    bids = valid[valid["side"] == "buy"].reset_index(drop=True)
    asks = valid[valid["side"] == "sell"].reset_index(drop=True)
    if mechanism == "p2p":
        options.update(
            _p2p_preferences(
                bids, asks, member_bus, distance, preferred_premium_per_kwh, green_premium_per_kwh
            )
        )
    clearing = clear_batch(
        mechanism,
        bids["energy_kwh"].to_numpy(float)[None],
        bids["price_per_kwh"].to_numpy(float)[None],
        asks["energy_kwh"].to_numpy(float)[None],
        asks["price_per_kwh"].to_numpy(float)[None],
        **options,
    )
    start = pd.DatetimeIndex([pd.Timestamp(delivery_start)])
    start = start.tz_localize("UTC") if start.tz is None else start
    trades = trade_records(
        clearing.trades,
        clearing.mechanism,
        asks["member_id"].to_numpy(object),
        bids["member_id"].to_numpy(object),
        start,
        scope=scope,
        timestamps=None if timestamp is None else pd.DatetimeIndex([pd.Timestamp(timestamp)]),
        sell_order_ids=asks["order_id"].to_numpy(object),
        buy_order_ids=bids["order_id"].to_numpy(object),
    )
    report = {
        "mechanism": mechanism,
        "delivery_start": start[0].isoformat(),
        "orders": len(orders),
        "bids": len(bids),
        "asks": len(asks),
        "rejected": len(rejected),
        "bid_kwh": float(bids["energy_kwh"].sum()),
        "ask_kwh": float(asks["energy_kwh"].sum()),
        "volume_kwh": float(clearing.volume_kwh[0]),
        "mean_price_per_kwh": float(clearing.price_per_kwh[0]),
        "welfare": welfare(
            bids["price_per_kwh"].to_numpy()[None],
            clearing.bid_fill_kwh,
            asks["price_per_kwh"].to_numpy()[None],
            clearing.ask_fill_kwh,
            clearing.bid_fee,
        ),
        "trades": len(trades),
    }
    return MarketOutcome(trades, rejected, report, clearing)


def _p2p_preferences(bids, asks, member_bus, distance, preferred_premium, green_premium) -> dict:
    """Permissions and premiums (Na, Nb) of the p2p LP from the orders' attributes."""
    green_seller = asks["is_green"].to_numpy(bool)[:, None]
    allowed = ~bids["green_only"].to_numpy(bool)[None, :] | green_seller
    seller_member = asks["member_id"].to_numpy(object)
    preferred = np.array(
        [
            [
                str(m) in {p.strip() for p in str(prefs).split(",") if p.strip()}
                for prefs in bids["preferred_sellers"]
            ]
            for m in seller_member
        ],
        dtype=bool,
    ).reshape(len(asks), len(bids))
    premium = preferred * preferred_premium + green_seller * green_premium
    max_distance = bids["max_distance"].to_numpy(float)
    if np.any(np.isfinite(max_distance)):
        if member_bus is None or distance is None:
            raise ValueError("orders set max_distance, so clear_orders needs member_bus and distance")
        missing = sorted(set(asks["member_id"]).union(bids["member_id"]) - set(member_bus))
        if missing:
            raise ValueError(f"member_bus has no bus for member(s) {', '.join(map(str, missing))}")
        seller_bus = np.array([member_bus[m] for m in asks["member_id"]], dtype=np.int64)
        buyer_bus = np.array([member_bus[m] for m in bids["member_id"]], dtype=np.int64)
        apart = np.asarray(distance, float)[np.ix_(seller_bus, buyer_bus)]
        allowed &= ~(apart > np.where(np.isfinite(max_distance), max_distance, np.inf)[None, :])
    return {"allowed": allowed, "premium_per_kwh": premium.astype(float)}
