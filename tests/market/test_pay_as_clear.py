"""Pay-as-clear: the hand-worked case of issue 3, LP optimality on random books, limits and balance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattmesh.market import clear_batch, clear_pay_as_clear

from .reference import assert_close, uniform_welfare_lp

# Issue 3's reference case (kWh @ ct/kWh).
BIDS_KWH, BIDS_PRICE = [3, 2, 4, 1], [30, 25, 20, 12]
ASKS_KWH, ASKS_PRICE = [2, 3, 2, 3], [10, 15, 22, 28]


def test_hand_worked_case_trades_5_kwh_at_midpoint_20_with_welfare_75():
    result = clear_pay_as_clear(BIDS_KWH, BIDS_PRICE, ASKS_KWH, ASKS_PRICE)
    assert result.volume_kwh.tolist() == [5.0]
    assert result.price_per_kwh.tolist() == [20.0]
    np.testing.assert_array_equal(result.bid_fill_kwh, [[3, 2, 0, 0]])
    np.testing.assert_array_equal(result.ask_fill_kwh, [[2, 3, 0, 0]])
    welfare = np.dot(BIDS_PRICE, result.bid_fill_kwh[0]) - np.dot(ASKS_PRICE, result.ask_fill_kwh[0])
    assert welfare == 75.0


@pytest.mark.parametrize(
    ("rule", "price"), [("marginal_ask", 15.0), ("marginal_bid", 25.0), ("midpoint", 20.0)]
)
def test_price_rules_pick_the_marginal_pair(rule, price):
    assert clear_pay_as_clear(BIDS_KWH, BIDS_PRICE, ASKS_KWH, ASKS_PRICE, rule).price_per_kwh[0] == price


def test_unknown_price_rule_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="price_rule 'average' is not one of midpoint"):
        clear_pay_as_clear(BIDS_KWH, BIDS_PRICE, ASKS_KWH, ASKS_PRICE, "average")


def test_orders_at_the_marginal_price_share_the_rest_pro_rata():
    # 3 kWh supply at 10; bids 2 and 4 kWh both at 20: each gets half its quantity.
    result = clear_pay_as_clear([[2.0, 4.0]], [[20.0, 20.0]], [[3.0]], [[10.0]])
    np.testing.assert_allclose(result.bid_fill_kwh, [[1.0, 2.0]])
    assert result.volume_kwh[0] == 3.0


def test_bid_at_exactly_the_ask_price_trades():
    result = clear_pay_as_clear([[5.0]], [[10.0]], [[5.0]], [[10.0]])
    assert result.volume_kwh[0] == 5.0 and result.price_per_kwh[0] == 10.0


def test_no_crossing_or_empty_side_trades_nothing_and_price_is_nan():
    no_cross = clear_pay_as_clear([[5.0]], [[9.0]], [[5.0]], [[10.0]])
    empty = clear_pay_as_clear(np.zeros((2, 0)), np.zeros((2, 0)), [[1.0], [2.0]], [[1.0], [1.0]])
    assert no_cross.volume_kwh[0] == 0 and np.isnan(no_cross.price_per_kwh[0])
    assert empty.volume_kwh.tolist() == [0.0, 0.0] and empty.ask_fill_kwh.shape == (2, 1)


def test_malformed_arrays_are_rejected_naming_the_array():
    with pytest.raises(ValueError, match="bid_kwh holds -1.0"):
        clear_pay_as_clear([[-1.0]], [[1.0]], [[1.0]], [[1.0]])
    with pytest.raises(ValueError, match="ask_price_per_kwh holds nan"):
        clear_pay_as_clear([[1.0]], [[1.0]], [[1.0]], [[np.nan]])
    with pytest.raises(ValueError, match="bid_price_per_kwh has shape"):
        clear_pay_as_clear([[1.0, 2.0]], [[1.0]], [[1.0]], [[1.0]])


def test_intervals_clear_independently():
    rng = np.random.default_rng(3)
    bid_kwh, ask_kwh = rng.uniform(0, 3, (6, 5)), rng.uniform(0, 3, (6, 4))
    bid_price, ask_price = rng.uniform(0, 1, (6, 5)), rng.uniform(0, 1, (6, 4))
    together = clear_pay_as_clear(bid_kwh, bid_price, ask_kwh, ask_price)
    for t in range(6):
        alone = clear_pay_as_clear(bid_kwh[t], bid_price[t], ask_kwh[t], ask_price[t])
        np.testing.assert_array_equal(alone.bid_fill_kwh[0], together.bid_fill_kwh[t])
        assert alone.volume_kwh[0] == together.volume_kwh[t]


def _book(price_strategy, ask_offset):
    def build(n):
        return st.tuples(
            st.lists(st.integers(0, 6), min_size=n[0], max_size=n[0]),
            st.lists(price_strategy, min_size=n[0], max_size=n[0]),
            st.lists(st.integers(0, 6), min_size=n[1], max_size=n[1]),
            st.lists(price_strategy, min_size=n[1], max_size=n[1]),
        ).map(lambda b: (b[0], b[1], b[2], [p + ask_offset for p in b[3]]))

    return st.tuples(st.integers(1, 12), st.integers(1, 12)).flatmap(build)


def _check_against_lp(book, rule, check_volume):
    bid_kwh, bid_price, ask_kwh, ask_price = (np.asarray(x, float) for x in book)
    result = clear_pay_as_clear(bid_kwh, bid_price, ask_kwh, ask_price, rule)
    lp_welfare, lp_volume = uniform_welfare_lp(bid_kwh, bid_price, ask_kwh, ask_price)
    bid_fill, ask_fill = result.bid_fill_kwh[0], result.ask_fill_kwh[0]
    welfare = bid_price @ bid_fill - ask_price @ ask_fill
    assert_close(welfare, lp_welfare)
    if check_volume:
        assert_close(result.volume_kwh[0], lp_volume)
    # Balance, quantities, and every party within its limit.
    assert_close(bid_fill.sum(), ask_fill.sum())
    assert_close(bid_fill.sum(), result.volume_kwh[0])
    assert np.all(bid_fill <= bid_kwh + 1e-12) and np.all(ask_fill <= ask_kwh + 1e-12)
    if result.volume_kwh[0] > 0:
        price = result.price_per_kwh[0]
        assert np.all(bid_price[bid_fill > 0] >= price) and np.all(ask_price[ask_fill > 0] <= price)


@settings(max_examples=150, deadline=None)
@given(_book(st.integers(0, 20), 0.5), st.sampled_from(["midpoint", "marginal_ask", "marginal_bid"]))
def test_volume_and_welfare_equal_the_lp_optimum_when_no_bid_equals_an_ask(book, rule):
    # Asks sit on half-integers, bids on integers: the welfare-maximising volume is unique.
    _check_against_lp(book, rule, check_volume=True)


@settings(max_examples=150, deadline=None)
@given(_book(st.floats(0, 100, allow_nan=False, width=32), 0.0))
def test_welfare_equals_the_lp_optimum_on_real_prices_with_ties(book):
    _check_against_lp(book, "midpoint", check_volume=False)


@settings(max_examples=60, deadline=None)
@given(_book(st.integers(0, 20), 0.5), st.floats(0, 5))
def test_flat_fee_clears_on_bids_net_of_the_fee_and_buyers_stay_within_limits(book, fee):
    bid_kwh, bid_price, ask_kwh, ask_price = (np.asarray(x, float)[None] for x in book)
    result = clear_batch("pay_as_clear", bid_kwh, bid_price, ask_kwh, ask_price, fee_per_kwh=fee)
    lp_welfare, _ = uniform_welfare_lp(bid_kwh[0], bid_price[0] - fee, ask_kwh[0], ask_price[0])
    welfare = bid_price[0] @ result.bid_fill_kwh[0] - ask_price[0] @ result.ask_fill_kwh[0]
    assert_close(welfare - result.bid_fee.sum(), lp_welfare)
    bought = result.bid_fill_kwh[0] > 0
    paid_per_kwh = result.bid_payment[0][bought] / result.bid_fill_kwh[0][bought]
    assert np.all(paid_per_kwh <= bid_price[0][bought] + 1e-9)
    assert_close(result.bid_fee.sum(), fee * result.volume_kwh[0])
