"""Pay-as-bid: the hand-worked pairing, same welfare as pay-as-clear, every pair within both limits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wattmesh.market import clear_batch

from .reference import assert_close, uniform_welfare_lp


def test_hand_worked_case_pairs_dearest_bids_with_cheapest_asks_at_the_bid_price():
    result = clear_batch("pay_as_bid", [[3, 2, 4, 1]], [[30, 25, 20, 12]], [[2, 3, 2, 3]], [[10, 15, 22, 28]])
    # Bid 3@30 takes ask 2@10 and 1 of ask 3@15 at 30; bid 2@25 takes the other 2 kWh at 25.
    trades = sorted(
        zip(result.trades.seller.tolist(), result.trades.buyer.tolist(), result.trades.energy_kwh.tolist(),
            result.trades.price_per_kwh.tolist(), strict=True)
    )  # fmt: skip
    assert trades == [(0, 0, 2.0, 30.0), (1, 0, 1.0, 30.0), (1, 1, 2.0, 25.0)]
    np.testing.assert_allclose(result.bid_payment, [[90, 50, 0, 0]])
    np.testing.assert_allclose(result.ask_revenue, [[60, 80, 0, 0]])


@pytest.mark.parametrize(("rule", "revenue"), [("ask", [20, 45]), ("midpoint", [40, 62.5])])
def test_pair_price_rules(rule, revenue):
    result = clear_batch(
        "pay_as_bid", [[3, 2, 4, 1]], [[30, 25, 20, 12]], [[2, 3, 2, 3]], [[10, 15, 22, 28]], pair_price=rule
    )
    np.testing.assert_allclose(result.ask_revenue[0, :2], revenue)


books = st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)).flatmap(
    lambda s: st.tuples(
        arrays(float, (s[0], s[1]), elements=st.integers(0, 5)),
        arrays(float, (s[0], s[1]), elements=st.integers(0, 30)),
        arrays(float, (s[0], s[2]), elements=st.integers(0, 5)),
        arrays(float, (s[0], s[2]), elements=st.integers(0, 30)),
    )
)


@settings(max_examples=100, deadline=None)
@given(books, st.sampled_from(["bid", "ask", "midpoint"]), st.integers(0, 3))
def test_welfare_is_optimal_and_every_pair_trades_within_both_limits(book, rule, fee):
    bid_kwh, bid_price, ask_kwh, ask_price = book
    result = clear_batch("pay_as_bid", *book, pair_price=rule, fee_per_kwh=fee, seed=1)
    trades = result.trades
    buyer_limit = bid_price[trades.interval, trades.buyer]
    seller_limit = ask_price[trades.interval, trades.seller]
    assert np.all(trades.price_per_kwh + trades.fee_per_kwh <= buyer_limit + 1e-9)
    assert np.all(trades.price_per_kwh >= seller_limit - 1e-9)
    for t in range(bid_kwh.shape[0]):
        lp_welfare, _ = uniform_welfare_lp(bid_kwh[t], bid_price[t] - fee, ask_kwh[t], ask_price[t])
        welfare = (
            bid_price[t] @ result.bid_fill_kwh[t]
            - ask_price[t] @ result.ask_fill_kwh[t]
            - result.bid_fee[t].sum()
        )
        assert_close(welfare, lp_welfare)
        assert_close(result.bid_payment[t].sum(), result.ask_revenue[t].sum() + result.bid_fee[t].sum())


def test_ties_break_in_a_seeded_random_order():
    # Four sellers at the same price, one buyer for 1 kWh: who sells depends on the seed only.
    book = ([[1.0]], [[20.0]], [[1.0, 1.0, 1.0, 1.0]], [[10.0, 10.0, 10.0, 10.0]])
    winners = {int(clear_batch("pay_as_bid", *book, seed=seed).trades.seller[0]) for seed in range(40)}
    again = [clear_batch("pay_as_bid", *book, seed=3).trades.seller.tolist() for _ in range(2)]
    assert winners == {0, 1, 2, 3} and again[0] == again[1]
