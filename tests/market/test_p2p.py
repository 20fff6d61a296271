"""Bilateral P2P LP: equals the uniform optimum without preferences, honours premiums, permissions, fees."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wattmesh.market import clear_batch

from .reference import assert_close, pair_welfare_lp, uniform_welfare_lp


def test_hand_worked_case_reaches_welfare_75_like_the_uniform_auction():
    result = clear_batch("p2p", [[3, 2, 4, 1]], [[30, 25, 20, 12]], [[2, 3, 2, 3]], [[10, 15, 22, 28]])
    bid_price, ask_price = np.array([30, 25, 20, 12]), np.array([10, 15, 22, 28])
    assert result.volume_kwh[0] == 5.0
    assert bid_price @ result.bid_fill_kwh[0] - ask_price @ result.ask_fill_kwh[0] == 75.0


def test_premium_for_a_green_seller_beats_a_cheaper_grey_one():
    # One buyer 1 kWh @ 20; seller 0 (green) asks 22, seller 1 asks 18. Premium 5 for green:
    # green is worth 20 + 5 - 22 = 3 > grey 20 - 18 = 2.
    premium = np.array([[5.0], [0.0]])
    result = clear_batch("p2p", [[1.0]], [[20.0]], [[1.0, 1.0]], [[22.0, 18.0]], premium_per_kwh=premium)
    np.testing.assert_allclose(result.ask_fill_kwh, [[1.0, 0.0]])
    price = result.trades.price_per_kwh[0]
    assert 22.0 - 1e-9 <= price <= 25.0 + 1e-9


def test_midpoint_pricing_splits_each_pairs_surplus_equally():
    premium = np.array([[5.0], [0.0]])
    result = clear_batch(
        "p2p", [[1.0]], [[20.0]], [[1.0, 1.0]], [[22.0, 18.0]], premium_per_kwh=premium, pricing="midpoint"
    )
    assert result.trades.price_per_kwh.tolist() == [22.0 + 0.5 * (20.0 + 5.0 - 22.0)]


def test_forbidden_pairs_and_distance_fees_steer_trades():
    # Two buyers @ 20, two sellers @ 10; seller 0 may not sell to buyer 0, and seller 1 -> buyer 1 is
    # far (fee 12 > surplus 10), so the only worthwhile trades are 0 -> 1 and 1 -> 0.
    allowed = np.array([[False, True], [True, True]])
    fee = np.array([[0.0, 1.0], [1.0, 12.0]])
    result = clear_batch(
        "p2p",
        [[1.0, 1.0]],
        [[20.0, 20.0]],
        [[1.0, 1.0]],
        [[10.0, 10.0]],
        allowed=allowed,
        pair_fee_per_kwh=fee,
    )
    pairs = sorted(zip(result.trades.seller.tolist(), result.trades.buyer.tolist(), strict=True))
    assert pairs == [(0, 1), (1, 0)]
    np.testing.assert_allclose(result.bid_fee, [[1.0, 1.0]])


books = st.tuples(st.integers(1, 2), st.integers(1, 6), st.integers(1, 6)).flatmap(
    lambda s: st.tuples(
        arrays(float, (s[0], s[1]), elements=st.integers(0, 5)),
        arrays(float, (s[0], s[1]), elements=st.floats(0, 40)),
        arrays(float, (s[0], s[2]), elements=st.integers(0, 5)),
        arrays(float, (s[0], s[2]), elements=st.floats(0, 40)),
        arrays(float, (s[0], s[2], s[1]), elements=st.floats(-5, 5)),
        arrays(bool, (s[0], s[2], s[1])),
    )
)


@settings(max_examples=40, deadline=None)
@given(books, st.sampled_from(["dual", "midpoint"]))
def test_welfare_equals_the_dense_lp_and_prices_respect_limits(book, pricing):
    bid_kwh, bid_price, ask_kwh, ask_price, premium, allowed = book
    result = clear_batch(
        "p2p", bid_kwh, bid_price, ask_kwh, ask_price, premium_per_kwh=premium, allowed=allowed,
        intervals_per_solve=1 + bid_kwh.shape[0] // 2, pricing=pricing,
    )  # fmt: skip
    trades = result.trades
    t, s, b = trades.interval, trades.seller, trades.buyer
    value = bid_price[t, b] + premium[t, s, b] - ask_price[t, s]
    assert np.all(allowed[t, s, b])
    assert np.all(trades.price_per_kwh >= ask_price[t, s] - 1e-7)
    assert np.all(trades.price_per_kwh <= bid_price[t, b] + premium[t, s, b] + 1e-7)
    for row in range(bid_kwh.shape[0]):
        expected = pair_welfare_lp(
            bid_kwh[row], bid_price[row], ask_kwh[row], ask_price[row], premium[row], allowed[row]
        )
        assert_close(float((value * trades.energy_kwh)[t == row].sum()), expected)
    assert np.all(result.bid_fill_kwh <= bid_kwh + 1e-9) and np.all(result.ask_fill_kwh <= ask_kwh + 1e-9)


@settings(max_examples=40, deadline=None)
@given(books)
def test_without_preferences_welfare_equals_the_uniform_auction_optimum(book):
    bid_kwh, bid_price, ask_kwh, ask_price, _, _ = book
    result = clear_batch("p2p", bid_kwh, bid_price, ask_kwh, ask_price)
    for row in range(bid_kwh.shape[0]):
        expected, _ = uniform_welfare_lp(bid_kwh[row], bid_price[row], ask_kwh[row], ask_price[row])
        welfare = bid_price[row] @ result.bid_fill_kwh[row] - ask_price[row] @ result.ask_fill_kwh[row]
        assert_close(welfare, expected)
