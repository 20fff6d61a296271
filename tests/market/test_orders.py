"""Order tables: validation with reasons, single-interval clearing, trade records, p2p attributes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.market import ORDERS, TRADES, OrderBook, clear_orders, validate_orders
from wattmesh.market.orders import fill_records

START = "2025-07-15T09:45:00Z"
MEMBERS = ["c1", "c2", "c3", "c4", "p1", "p2", "p3", "p4"]


def _orders(rows, start=START):
    table = pd.DataFrame(rows, columns=["order_id", "member_id", "side", "energy_kwh", "price_per_kwh"])
    table["delivery_start"] = start
    return table


def _issue_case():
    return _orders(
        [
            ("b1", "c1", "buy", 3, 30), ("b2", "c2", "buy", 2, 25), ("b3", "c3", "buy", 4, 20),
            ("b4", "c4", "buy", 1, 12), ("a1", "p1", "sell", 2, 10), ("a2", "p2", "sell", 3, 15),
            ("a3", "p3", "sell", 2, 22), ("a4", "p4", "sell", 3, 28),
        ]
    )  # fmt: skip


def test_invalid_orders_are_rejected_each_with_its_reason():
    orders = pd.concat(
        [
            _issue_case(),
            _orders([("x1", "c1", "buy", 0.0, 20.0), ("x2", "c2", "buy", -1.0, 20.0)]),
            _orders([("x3", "c1", "buy", 1.0, float("nan")), ("x4", "c1", "buy", 1.0, float("inf"))]),
            _orders([("x5", "zz", "sell", 1.0, 5.0), ("x6", "c1", "hold", 1.0, 5.0)]),
            _orders([("x7", "c1", "sell", 1.0, 5.0)], start="2025-07-15T10:00:00Z"),
            _orders([("b1", "c1", "buy", 1.0, 5.0)]),
        ]
    )
    valid, rejected = validate_orders(orders, MEMBERS, START)
    assert valid["order_id"].tolist() == _issue_case()["order_id"].tolist()
    reasons = dict(zip(rejected["order_id"], rejected["reason"], strict=True))
    assert set(reasons) == {"x1", "x2", "x3", "x4", "x5", "x6", "x7", "b1"}
    assert reasons["x1"] == "order 'x1': energy_kwh 0.0 is not positive (expected > 0 kWh)"
    assert "energy_kwh -1.0 is not positive" in reasons["x2"]
    assert "price_per_kwh nan is not a finite number" in reasons["x3"]
    assert "price_per_kwh inf is not a finite number" in reasons["x4"]
    assert "member_id 'zz' is not a member of this market" in reasons["x5"]
    assert "side 'hold' is not one of buy, sell" in reasons["x6"]
    assert "delivery_start 2025-07-15T10:00:00+00:00 is not the interval being cleared" in reasons["x7"]
    assert "order_id appears more than once" in reasons["b1"]


def test_missing_required_column_fails_the_whole_table():
    with pytest.raises(ValueError, match="required column.*delivery_start"):
        validate_orders(_issue_case().drop(columns="delivery_start"))


def test_issue_case_through_the_order_table_gives_trade_records_with_all_fields():
    outcome = clear_orders(_issue_case(), "pay_as_clear", delivery_start=START, member_ids=MEMBERS, seed=5)
    assert outcome.report["volume_kwh"] == 5.0 and outcome.report["welfare"] == 75.0
    assert outcome.report["mean_price_per_kwh"] == 20.0
    trades = outcome.trades
    assert list(trades.columns) == [c.name for c in TRADES.columns] and TRADES.problems(trades) == []
    assert set(trades["buyer"]) == {"c1", "c2"} and set(trades["seller"]) == {"p1", "p2"}
    assert trades["energy_amount_kwh"].sum() == 5.0 and (trades["price_per_kwh"] == 20.0).all()
    assert (trades["timestamp"] == "2025-07-15T09:45:00Z").all() and (trades["status"] == "completed").all()
    assert (trades["mechanism"] == "pay_as_clear").all()
    assert (
        trades["transaction_id"].str.fullmatch(r"tx_[0-9a-f]{16}").all()
        and trades["transaction_id"].is_unique
    )
    again = clear_orders(_issue_case(), "pay_as_clear", delivery_start=START, member_ids=MEMBERS, seed=5)
    pd.testing.assert_frame_equal(trades, again.trades)


@pytest.mark.parametrize("mechanism", ["pay_as_bid", "p2p", "sdr", "mmr", "bill_sharing", "utility_only"])
def test_every_mechanism_clears_an_order_table(mechanism):
    options = (
        {"retail_per_kwh": 30.0, "feed_in_per_kwh": 8.0}
        if mechanism in ("sdr", "mmr", "bill_sharing", "utility_only")
        else {}
    )
    outcome = clear_orders(_issue_case(), mechanism, delivery_start=START, **options)
    expected = {
        "pay_as_bid": 5.0,
        "p2p": 5.0,
        "sdr": 10.0,
        "mmr": 10.0,
        "bill_sharing": 10.0,
        "utility_only": 0.0,
    }
    assert outcome.report["volume_kwh"] == expected[mechanism]
    assert np.isclose(outcome.trades["energy_amount_kwh"].sum(), expected[mechanism])


def test_p2p_honours_green_only_preferred_sellers_and_max_distance():
    orders = _orders(
        [("b1", "c1", "buy", 1.0, 20.0), ("b2", "c2", "buy", 1.0, 20.0), ("b3", "c3", "buy", 1.0, 20.0),
         ("a1", "p1", "sell", 1.0, 10.0), ("a2", "p2", "sell", 1.0, 12.0), ("a3", "p3", "sell", 1.0, 11.0)]
    )  # fmt: skip
    orders["is_green"] = [False, False, False, False, True, False]
    orders["green_only"] = [True, False, False, False, False, False]
    orders["preferred_sellers"] = ["", "p1", ""] + [""] * 3
    orders["max_distance"] = [np.nan, np.nan, 0.5, np.nan, np.nan, np.nan]
    bus = {"c1": 0, "c2": 1, "c3": 2, "p1": 0, "p2": 1, "p3": 2}
    distance = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
    outcome = clear_orders(
        orders, "p2p", delivery_start=START, member_bus=bus, distance=distance, preferred_premium_per_kwh=5.0
    )
    pairs = dict(zip(outcome.trades["buyer"], outcome.trades["seller"], strict=True))
    # c1 takes only green (p2); c3 only within 0.5 (p3 on its bus); c2 prefers p1.
    assert pairs == {"c1": "p2", "c2": "p1", "c3": "p3"}


def test_p2p_max_distance_needs_buses():
    orders = _issue_case()
    orders["max_distance"] = 1.0
    with pytest.raises(ValueError, match="needs member_bus and distance"):
        clear_orders(orders, "p2p", delivery_start=START)


def test_order_book_fills_become_trade_records():
    book = OrderBook()
    book.submit("a1", "p1", "sell", 2.0, 10.0)
    book.submit("b1", "c1", "buy", 1.5, 12.0)
    table = fill_records(book.fills, pd.Timestamp(START))
    assert TRADES.problems(table) == []
    assert table[["seller", "buyer", "energy_amount_kwh", "price_per_kwh", "mechanism"]].values.tolist() == [
        ["p1", "c1", 1.5, 10.0, "cda"]
    ]


def test_order_schema_documents_every_column():
    assert "| `max_distance` | float |" in ORDERS.markdown()


def test_bad_optional_fields_are_rejected_too():
    orders = _issue_case()
    orders["time_in_force"] = ["limit"] * 7 + ["gtc"]
    orders["max_distance"] = [np.nan] * 6 + [-1.0, np.nan]
    _, rejected = validate_orders(orders, MEMBERS, START)
    reasons = dict(zip(rejected["order_id"], rejected["reason"], strict=True))
    assert reasons == {
        "a3": "order 'a3': max_distance -1.0 is below the minimum 0",
        "a4": "order 'a4': time_in_force 'gtc' is not one of limit, ioc, fok",
    }
