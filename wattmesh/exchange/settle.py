"""Settlement: each member's trades at their prices and fees, its deviation from them at the utility's prices.

One rule for both drivers. What a member's meter measured in an interval (its net export: positive when it
fed energy in) less what it traded locally (sold minus bought) is its deviation; a positive deviation is
sold to the utility at the feed-in price, a negative one bought from it at retail. In the simulator the
meters measure exactly the positions the members ordered, so the deviation is the part of a position the
local market did not match; on the live exchange it is also every forecast error.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from wattmesh.market.result import BatchClearing, slot_sums
from wattmesh.tables import TRADES, Column, TableSchema

#: One statement line per member and interval.
STATEMENT_LINES = TableSchema(
    "statement line",
    "member_id",
    (
        Column("interval", "time", "UTC", "start of the delivery interval", required=True),
        Column("member_id", "str", "-", "the member", required=True),
        Column("metered_kwh", "float", "kWh", "net energy the meter measured, fed in positive", required=True),
        Column("metered_estimated", "bool", "-", "the reading is an estimate (repaired data), not measured",
               default=False),
        Column("bought_kwh", "float", "kWh", "energy bought on the local market", required=True),
        Column("sold_kwh", "float", "kWh", "energy sold on the local market", required=True),
        Column("paid_local", "float", "currency", "paid for local energy, grid fees included", required=True),
        Column("received_local", "float", "currency", "received for local energy", required=True),
        Column("fee_paid", "float", "currency", "grid fees within paid_local", required=True),
        Column("import_kwh", "float", "kWh", "deviation bought from the utility at retail", required=True),
        Column("export_kwh", "float", "kWh", "deviation sold to the utility at the feed-in price",
               required=True),
        Column("paid_utility", "float", "currency", "import_kwh x retail price", required=True),
        Column("received_utility", "float", "currency", "export_kwh x feed-in price", required=True),
        Column("bill", "float", "currency", "paid_local + paid_utility - received_local - received_utility; "
               "negative is an income", required=True),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Statements:
    """Every member's settlement per interval; every field is (T, M).

    Attributes
    ----------
    bought_kwh, sold_kwh : energy bought and sold on the local market [kWh]
    paid_local : money paid for local energy, grid fees included [currency]
    received_local : money received for local energy [currency]
    fee_paid : the grid fees within ``paid_local`` [currency]
    import_kwh : negative deviation, bought from the utility at retail [kWh]
    export_kwh : positive deviation, sold to the utility at the feed-in price [kWh]
    paid_utility, received_utility : ``import_kwh`` x retail, ``export_kwh`` x feed-in [currency]
    """

    bought_kwh: np.ndarray
    sold_kwh: np.ndarray
    paid_local: np.ndarray
    received_local: np.ndarray
    fee_paid: np.ndarray
    import_kwh: np.ndarray
    export_kwh: np.ndarray
    paid_utility: np.ndarray
    received_utility: np.ndarray

    @property
    def bill(self) -> np.ndarray:
        """(T, M) each member's net bill per interval [currency]; negative is an income."""
        return self.paid_local + self.paid_utility - self.received_local - self.received_utility


def _settle(bought, sold, paid_local, received_local, fee_paid, metered_kwh, retail, feed_in) -> Statements:
    """The settlement rule on (T, M) arrays; ``retail`` and ``feed_in`` are (T,) [currency/kWh]."""
    deviation = metered_kwh - (sold - bought)
    import_kwh = np.maximum(-deviation, 0.0)
    export_kwh = np.maximum(deviation, 0.0)
    return Statements(
        bought_kwh=bought,
        sold_kwh=sold,
        paid_local=paid_local,
        received_local=received_local,
        fee_paid=fee_paid,
        import_kwh=import_kwh,
        export_kwh=export_kwh,
        paid_utility=import_kwh * np.asarray(retail, float)[:, None],
        received_utility=export_kwh * np.asarray(feed_in, float)[:, None],
    )


def settle_positions(
    clearing: BatchClearing | None,
    metered_kwh: np.ndarray,
    retail_per_kwh: np.ndarray,
    feed_in_per_kwh: np.ndarray,
) -> Statements:
    """Settle a vectorised clearing (slot m = member m) against the metered energy: the simulator's form.

    Parameters
    ----------
    clearing : the result of :func:`~wattmesh.exchange.clear_positions`; None for no local market
    metered_kwh : (T, M) each member's metered net export [kWh], fed in positive
    retail_per_kwh, feed_in_per_kwh : (T,) the utility's prices [currency/kWh]
    """
    metered_kwh = np.asarray(metered_kwh, float)
    if clearing is None:
        zero = np.zeros_like(metered_kwh)
        return _settle(zero, zero, zero, zero, zero, metered_kwh, retail_per_kwh, feed_in_per_kwh)
    if clearing.bid_fill_kwh.shape != metered_kwh.shape or clearing.ask_fill_kwh.shape != metered_kwh.shape:
        raise ValueError(
            f"clearing slots {clearing.bid_fill_kwh.shape} / {clearing.ask_fill_kwh.shape} differ from the "
            f"metered (intervals, members) {metered_kwh.shape}; expected one bid and one ask slot per member"
        )
    return _settle(
        clearing.bid_fill_kwh,
        clearing.ask_fill_kwh,
        clearing.bid_payment,
        clearing.ask_revenue,
        clearing.bid_fee,
        metered_kwh,
        retail_per_kwh,
        feed_in_per_kwh,
    )


def settle(
    trades: pd.DataFrame,
    metered_kwh: pd.DataFrame,
    retail_per_kwh: pd.Series | float,
    feed_in_per_kwh: pd.Series | float,
    estimated: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Settle trade records against meter readings: one statement line per member and interval.

    Parameters
    ----------
    trades : trade records (:data:`wattmesh.tables.TRADES`) of the intervals in ``metered_kwh``
    metered_kwh : intervals x members (tz-aware UTC index of interval starts, member ids as columns): each
        member's metered net export in each interval [kWh], fed in positive
    retail_per_kwh, feed_in_per_kwh : the utility's prices, per interval (a Series on the same index) or
        one number [currency/kWh]
    estimated : intervals x members, True where the reading is an estimate (repaired data); the statement
        line says so in ``metered_estimated``

    Returns
    -------
    pandas.DataFrame
        :data:`STATEMENT_LINES`, ordered by interval then member.

    Raises
    ------
    ValueError
        naming the trade, the member or the interval when a trade falls outside the readings (no meter
        reading for its party or interval) or a reading is missing.
    """
    index = pd.DatetimeIndex(metered_kwh.index)
    if index.tz is None:
        raise ValueError("metered_kwh: its index has no time zone (expected UTC interval starts)")
    members = pd.Index(metered_kwh.columns.astype(str))
    values = metered_kwh.to_numpy(dtype=float)
    if np.isnan(values).any():
        t, m = np.argwhere(np.isnan(values))[0]
        raise ValueError(f"metered_kwh: no reading for member {members[m]!r} at {index[t].isoformat()}")
    shape = values.shape
    if len(trades) == 0:
        trades = TRADES.empty()
    row = index.get_indexer(pd.to_datetime(trades["interval"].astype(str), utc=True))
    seller = members.get_indexer(trades["seller"].astype(str))
    buyer = members.get_indexer(trades["buyer"].astype(str))
    for name, found in (("interval", row), ("seller", seller), ("buyer", buyer)):
        if (found < 0).any():
            i = int(np.argmax(found < 0))
            raise ValueError(
                f"trade {trades['transaction_id'].iloc[i]!r}: {name} {trades[name].iloc[i]!r} has no meter "
                "reading to settle against"
            )
    energy = trades["energy_amount_kwh"].to_numpy(float)
    money = energy * trades["price_per_kwh"].to_numpy(float)
    fees = energy * trades["grid_fee_per_kwh"].to_numpy(float)
    statements = _settle(
        slot_sums(row, buyer, energy, shape),
        slot_sums(row, seller, energy, shape),
        slot_sums(row, buyer, money + fees, shape),
        slot_sums(row, seller, money, shape),
        slot_sums(row, buyer, fees, shape),
        values,
        _per_interval(retail_per_kwh, index, "retail_per_kwh"),
        _per_interval(feed_in_per_kwh, index, "feed_in_per_kwh"),
    )
    lines = {
        "interval": np.repeat(index, shape[1]),
        "member_id": np.tile(members.to_numpy(object), shape[0]),
        "metered_kwh": values.ravel(),
        "metered_estimated": np.zeros(values.size, bool)
        if estimated is None
        else estimated.reindex(index=index, columns=metered_kwh.columns).fillna(False).to_numpy(bool).ravel(),
    }
    for field in fields(Statements):
        lines[field.name] = getattr(statements, field.name).ravel()
    lines["bill"] = statements.bill.ravel()
    return pd.DataFrame(lines, columns=[col.name for col in STATEMENT_LINES.columns])


def _per_interval(value, index: pd.DatetimeIndex, name: str) -> np.ndarray:
    if isinstance(value, pd.Series):
        aligned = value.reindex(index)
        if aligned.isna().any():
            raise ValueError(f"{name}: no price for {aligned.index[aligned.isna()][0].isoformat()}")
        return aligned.to_numpy(float)
    return np.full(len(index), float(value))


def balance_problems(lines: pd.DataFrame, trades: pd.DataFrame, cent: float = 0.01) -> list[str]:
    """Every way the statements fail to balance, as text; empty when they balance.

    Per interval: what buyers paid locally equals what sellers received plus the grid fees, to the cent,
    and the energy bought equals the energy sold and the trades' energy, to the Wh. Per member and
    interval: the metered energy equals sold - bought + export - import, to the Wh.
    """
    found = []
    wh = 1e-3
    per = lines.groupby("interval")[
        ["paid_local", "received_local", "fee_paid", "bought_kwh", "sold_kwh"]
    ].sum()
    traded = trades.groupby(pd.to_datetime(trades["interval"].astype(str), utc=True))[
        "energy_amount_kwh"
    ].sum()
    traded = traded.reindex(per.index, fill_value=0.0)
    money_gap = per["paid_local"] - per["received_local"] - per["fee_paid"]
    for when in per.index[money_gap.abs() > cent]:
        found.append(
            f"interval {when.isoformat()}: buyers paid {money_gap[when]:+.4f} more than sellers and fees"
        )
    for when in per.index[
        ((per["bought_kwh"] - per["sold_kwh"]).abs() > wh) | ((per["sold_kwh"] - traded).abs() > wh)
    ]:
        found.append(
            f"interval {when.isoformat()}: bought {per['bought_kwh'][when]:.6f} kWh, sold "
            f"{per['sold_kwh'][when]:.6f} kWh, traded {traded[when]:.6f} kWh"
        )
    energy_gap = lines["metered_kwh"] - (
        lines["sold_kwh"] - lines["bought_kwh"] + lines["export_kwh"] - lines["import_kwh"]
    )
    for i in np.flatnonzero(energy_gap.abs().to_numpy() > wh):
        found.append(
            f"member {lines['member_id'].iloc[i]!r} at {lines['interval'].iloc[i].isoformat()}: metered and "
            f"settled energy differ by {energy_gap.iloc[i]:+.6f} kWh"
        )
    return found
