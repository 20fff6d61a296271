"""pair_fills: bilateral trades that deliver exactly the fills, few of them, reproducible by seed."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wattmesh.market import pair_fills
from wattmesh.market.result import slot_sums


def _balanced(ask_fill, bid_fill):
    """Scale the bid fills so each interval's bought and sold energy agree."""
    sold, bought = ask_fill.sum(axis=1), bid_fill.sum(axis=1)
    scale = np.divide(sold, bought, out=np.zeros_like(sold), where=bought > 0)
    ask_fill = np.where((bought > 0)[:, None], ask_fill, 0.0)
    return ask_fill, bid_fill * scale[:, None]


def test_hand_case_trades_follow_the_random_order_and_sum_to_the_fills():
    rng = np.random.default_rng(0)
    interval, seller, buyer, energy = pair_fills([[2.0, 3.0]], [[3.0, 2.0]], rng)
    assert interval.tolist() == [0] * len(energy)
    assert np.isclose(energy.sum(), 5.0) and 2 <= len(energy) <= 3
    np.testing.assert_allclose(slot_sums(interval, seller, energy, (1, 2)), [[2.0, 3.0]])
    np.testing.assert_allclose(slot_sums(interval, buyer, energy, (1, 2)), [[3.0, 2.0]])


fills = st.tuples(st.integers(1, 4), st.integers(1, 7), st.integers(1, 7)).flatmap(
    lambda s: st.tuples(
        arrays(float, (s[0], s[1]), elements=st.sampled_from([0.0, 0.5, 1.0, 2.5, 1e-3, 7.0])),
        arrays(float, (s[0], s[2]), elements=st.integers(0, 100).map(lambda x: x / 10)),
    )
)


@settings(max_examples=150, deadline=None)
@given(fills, st.integers(0, 2**32 - 1))
def test_trades_deliver_every_fill_with_at_most_na_plus_nb_minus_1_trades(pair, seed):
    ask_fill, bid_fill = _balanced(*pair)
    n_intervals, n_asks = ask_fill.shape
    interval, seller, buyer, energy = pair_fills(ask_fill, bid_fill, np.random.default_rng(seed))
    assert np.all(energy > 0)
    np.testing.assert_allclose(slot_sums(interval, seller, energy, ask_fill.shape), ask_fill, atol=1e-9)
    np.testing.assert_allclose(slot_sums(interval, buyer, energy, bid_fill.shape), bid_fill, atol=1e-9)
    per_interval = np.bincount(interval, minlength=n_intervals)
    assert np.all(per_interval <= n_asks + bid_fill.shape[1] - 1)


def test_same_seed_same_trades_other_seed_other_order():
    ask_fill = np.full((1, 6), 1.0)
    bid_fill = np.full((1, 6), 1.0)
    first = pair_fills(ask_fill, bid_fill, np.random.default_rng(7))
    again = pair_fills(ask_fill, bid_fill, np.random.default_rng(7))
    other = pair_fills(ask_fill, bid_fill, np.random.default_rng(8))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1] * 10 + first[2], other[1] * 10 + other[2])
