"""The continuous double auction: hand-written sequences and random sequences that must stay uncrossed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattmesh.market import OrderBook, OrderRejected


def _book():
    book = OrderBook()
    book.submit("a1", "p1", "sell", 2.0, 10.0)
    book.submit("a2", "p2", "sell", 3.0, 15.0)
    book.submit("a3", "p3", "sell", 1.0, 15.0)
    return book


def _summary(fills):
    return [(f.buy_order_id, f.sell_order_id, f.energy_kwh, f.price_per_kwh) for f in fills]


def test_buy_walks_the_book_in_price_then_time_order_at_maker_prices():
    book = _book()
    fills = book.submit("b1", "c1", "buy", 4.5, 15.0)
    assert _summary(fills) == [("b1", "a1", 2.0, 10.0), ("b1", "a2", 2.5, 15.0)]
    assert book.resting("a2") == 0.5 and book.resting("a3") == 1.0
    assert book.depth("sell") == [(15.0, 1.5)] and book.best_bid() is None


def test_limit_rest_waits_and_later_sell_takes_it_at_the_bid_price():
    book = _book()
    assert _summary(book.submit("b1", "c1", "buy", 8.0, 16.0)) == [
        ("b1", "a1", 2.0, 10.0), ("b1", "a2", 3.0, 15.0), ("b1", "a3", 1.0, 15.0),
    ]  # fmt: skip
    assert book.best_bid() == 16.0 and book.resting("b1") == 2.0
    assert _summary(book.submit("a4", "p4", "sell", 5.0, 12.0)) == [("b1", "a4", 2.0, 16.0)]
    assert book.best_ask() == 12.0 and book.resting("a4") == 3.0


def test_ioc_drops_its_rest_and_fok_fills_all_or_nothing():
    book = _book()
    assert _summary(book.submit("b1", "c1", "buy", 3.0, 12.0, "ioc")) == [("b1", "a1", 2.0, 10.0)]
    assert book.resting("b1") == 0.0 and book.best_bid() is None
    assert book.submit("b2", "c1", "buy", 5.0, 15.0, "fok") == []  # only 4 kWh at or below 15
    assert book.resting("a2") == 3.0 and len(book) == 2
    assert _summary(book.submit("b3", "c1", "buy", 4.0, 15.0, "fok")) == [
        ("b3", "a2", 3.0, 15.0), ("b3", "a3", 1.0, 15.0),
    ]  # fmt: skip
    assert len(book) == 0


def test_cancel_removes_and_amend_down_keeps_priority_but_a_new_price_loses_it():
    book = _book()
    assert book.cancel("a1") and not book.cancel("a1") and not book.cancel("nope")
    book.amend("a2", energy_kwh=1.0)  # smaller: still first at 15
    assert _summary(book.submit("b1", "c1", "buy", 1.0, 15.0)) == [("b1", "a2", 1.0, 15.0)]
    book.submit("a4", "p4", "sell", 1.0, 15.0)
    book.amend("a3", price_per_kwh=14.0)  # better price, new time: now first
    book.amend("a4", energy_kwh=2.0)  # more quantity: back of the queue (alone at 15 anyway)
    assert _summary(book.submit("b2", "c2", "buy", 2.0, 15.0)) == [
        ("b2", "a3", 1.0, 14.0), ("b2", "a4", 1.0, 15.0),
    ]  # fmt: skip
    assert book.resting("a4") == 1.0


def test_amend_that_crosses_trades_at_once():
    book = _book()
    book.submit("b1", "c1", "buy", 1.0, 9.0)
    assert _summary(book.amend("b1", price_per_kwh=10.0)) == [("b1", "a1", 1.0, 10.0)]
    assert not book.is_crossed()


def test_a_member_never_trades_with_itself():
    book = _book()
    fills = book.submit("b1", "p1", "buy", 2.0, 10.0)
    assert fills == [] and book.resting("a1") == 0.0 and book.resting("b1") == 2.0


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"energy_kwh": 0.0}, "energy_kwh 0.0 is not a positive finite number"),
        ({"energy_kwh": float("inf")}, "energy_kwh inf is not a positive finite number"),
        ({"price_per_kwh": float("nan")}, "price_per_kwh nan is not a finite number"),
        ({"side": "hold"}, "side 'hold' is not one of buy, sell"),
        ({"member_id": "stranger"}, "member_id 'stranger' is not a member"),
        ({"time_in_force": "gtc"}, "time_in_force 'gtc' is not one of limit, ioc, fok"),
        ({"order_id": "a1"}, "order_id is already used"),
    ],
)
def test_invalid_orders_are_rejected_with_a_reason(kwargs, reason):
    book = OrderBook(member_ids=["p1", "c1"])
    book.submit("a1", "p1", "sell", 1.0, 10.0)
    order = {"order_id": "b1", "member_id": "c1", "side": "buy", "energy_kwh": 1.0, "price_per_kwh": 10.0}
    with pytest.raises(OrderRejected, match=reason):
        book.submit(**{**order, **kwargs})
    assert book.resting("a1") == 1.0


operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("submit"),
            st.sampled_from(["buy", "sell"]),
            st.integers(1, 6),  # kWh in halves
            st.integers(5, 15),  # price
            st.sampled_from(["limit", "limit", "ioc", "fok"]),
            st.integers(0, 3),  # member
        ),
        st.tuples(st.just("cancel"), st.integers(0, 60)),
        st.tuples(st.just("amend"), st.integers(0, 60), st.integers(1, 6), st.integers(5, 15)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(operations)
def test_random_sequences_never_leave_the_book_crossed_and_fill_within_limits(ops):
    book = OrderBook()
    limits: dict[str, tuple[str, float]] = {}
    checked = 0
    for k, op in enumerate(ops):
        if op[0] == "submit":
            _, side, halves, price, tif, member = op
            order_id = f"o{k}"
            limits[order_id] = (side, float(price))
            book.submit(order_id, f"m{member}", side, halves / 2, float(price), tif)
        elif op[0] == "cancel":
            book.cancel(f"o{op[1]}")
        elif book.resting(f"o{op[1]}") > 0:
            limits[f"o{op[1]}"] = (limits[f"o{op[1]}"][0], float(op[3]))
            book.amend(f"o{op[1]}", energy_kwh=op[2] / 2, price_per_kwh=float(op[3]))
        assert not book.is_crossed()
        for fill in book.fills[checked:]:
            # The buyer never pays above, the seller never receives below, the limit in force when matched.
            assert fill.buyer != fill.seller and fill.energy_kwh > 0
            assert limits[fill.sell_order_id][0] == "sell" and limits[fill.buy_order_id][0] == "buy"
            assert limits[fill.sell_order_id][1] <= fill.price_per_kwh <= limits[fill.buy_order_id][1]
        checked = len(book.fills)
    bids, asks = book.depth("buy"), book.depth("sell")
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert all(q > 0 for _, q in bids + asks)
    if bids and asks:
        assert bids[0][0] < asks[0][0]


def test_resting_orders_rebuild_the_same_book():
    book = _book()
    book.submit("b1", "c1", "buy", 1.0, 9.0)
    book.submit("b2", "c2", "buy", 2.0, 9.5)
    book.submit("b3", "c3", "buy", 1.0, 12.0)  # takes 1 kWh of a1
    rows = book.resting_orders()
    assert [r["order_id"] for r in rows] == ["b2", "b1", "a1", "a2", "a3"]
    rebuilt = OrderBook()
    for row in sorted(rows, key=lambda r: r["sequence"]):
        assert (
            rebuilt.submit(
                row["order_id"], row["member_id"], row["side"], row["energy_kwh"], row["price_per_kwh"]
            )
            == []
        )
    assert rebuilt.depth("buy") == book.depth("buy") and rebuilt.depth("sell") == book.depth("sell")
    assert [r["order_id"] for r in rebuilt.resting_orders()] == [r["order_id"] for r in rows]
