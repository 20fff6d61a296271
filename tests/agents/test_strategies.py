"""Strategies: limits are never crossed, the ramp ends at the limit, marginal values by hand."""

from __future__ import annotations

import numpy as np
import pytest

from wattmesh.agents.strategies import (
    PriceHistoryLearner,
    ZipState,
    marginal_value_per_kwh,
    ramp_prices,
    zic_prices,
)
from wattmesh.agents.tournament import assign_strategies, order_prices, parse_mix

STRATEGY_NAMES = ("truthful", "ramp", "zic", "zip", "learning")


def random_limits(rng, n_intervals=24, n_members=40):
    retail = rng.uniform(0.25, 0.45, n_intervals)
    feed_in = rng.uniform(0.03, 0.12, n_intervals)
    bid_limit = retail[:, None] * rng.uniform(0.5, 1.0, (n_intervals, n_members))
    ask_limit = feed_in[:, None] * rng.uniform(1.0, 3.0, (n_intervals, n_members))
    return retail, feed_in, bid_limit, ask_limit


@pytest.mark.parametrize("seed", range(5))
def test_no_strategy_bids_above_or_asks_below_its_limit(seed):
    rng = np.random.default_rng(seed)
    retail, feed_in, bid_limit, ask_limit = random_limits(rng)
    n_members = bid_limit.shape[1]
    strategy = np.array([STRATEGY_NAMES[i % 5] for i in range(n_members)], dtype=object)
    zip_state = ZipState(n_members, np.random.default_rng(seed))
    # Extreme margins (as after a bad streak of updates) must still be clipped at the limits.
    zip_state.bid_margin[:] = rng.uniform(-1, 2, n_members)
    zip_state.ask_margin[:] = rng.uniform(-1, 2, n_members)
    learner = PriceHistoryLearner(24, sealed="replay")
    learner.observe(np.arange(24), rng.uniform(-0.5, 1.0, 24))  # prices beyond every limit
    # Replays that favour the widest margin, on both sides, in every slot.
    learner.observe_replays(
        np.arange(24), np.tile([0.0, 1, 2, 30], (24, 1)), np.tile([0.0, 1, 2, 30], (24, 1))
    )
    slot = np.arange(24)
    for n_rounds in (1, 5):
        for r in range(n_rounds):
            bid, ask = order_prices(
                strategy,
                bid_limit,
                ask_limit,
                retail,
                feed_in,
                r,
                n_rounds,
                rng,
                zip_state,
                learner,
                slot,
                0.02,
            )
            assert np.all(bid <= bid_limit)
            assert np.all(ask >= ask_limit)
            assert np.all(np.isfinite(bid)) and np.all(np.isfinite(ask))


def test_ramp_opens_at_the_opening_price_and_ends_at_the_limit():
    bid_limit = np.array([[0.30, 0.25]])
    ask_limit = np.array([[0.08, 0.20]])
    bid_open = np.full((1, 2), 0.08)
    ask_open = np.full((1, 2), 0.32)
    first = ramp_prices(bid_limit, ask_limit, bid_open, ask_open, 0, 5)
    middle = ramp_prices(bid_limit, ask_limit, bid_open, ask_open, 2, 5)
    last = ramp_prices(bid_limit, ask_limit, bid_open, ask_open, 4, 5)
    np.testing.assert_allclose(first[0], [[0.08, 0.08]])
    np.testing.assert_allclose(first[1], [[0.32, 0.32]])
    np.testing.assert_allclose(middle[0], [[0.19, 0.165]])  # halfway, by hand
    np.testing.assert_allclose(middle[1], [[0.20, 0.26]])
    np.testing.assert_array_equal(last[0], bid_limit)
    np.testing.assert_array_equal(last[1], ask_limit)
    sealed = ramp_prices(bid_limit, ask_limit, bid_open, ask_open, 0, 1)
    np.testing.assert_array_equal(sealed[0], bid_limit)


def test_zic_draws_uniformly_within_its_range():
    rng = np.random.default_rng(1)
    bid_limit = np.full((2000, 1), 0.30)
    ask_limit = np.full((2000, 1), 0.10)
    bid, ask = zic_prices(bid_limit, ask_limit, np.full((2000, 1), 0.08), np.full((2000, 1), 0.32), rng)
    assert bid.min() >= 0.08 and bid.max() <= 0.30
    assert ask.min() >= 0.10 and ask.max() <= 0.32
    assert abs(bid.mean() - 0.19) < 0.01 and abs(ask.mean() - 0.21) < 0.01


def test_battery_values_surplus_at_the_plans_later_use_net_of_losses():
    # Worked by hand (docstring of marginal_value_per_kwh), 1 h intervals, eta = sqrt(0.81) = 0.9:
    # member 0 exports at 0-1 and imports at 2-3 with room all along: a kWh stored at 0 replaces the
    #   0.40 import at 2, worth 0.9 * 0.9 * 0.40 = 0.324; at 2 it replaces the 0.30 import at 3: 0.243;
    # member 1 is filled by its plan at 1, so a kWh stored at 0 would be spilled: feed-in;
    # member 2 has no battery; member 3 already charges at its power limit at 0.
    retail = np.array([0.30, 0.30, 0.40, 0.30])
    feed_in = np.full(4, 0.08)
    position = np.array([[1.0, 1, 1, 1], [1, 1, 1, 1], [-1, -1, -1, -1], [-1, -1, -1, -1]])
    charge = np.array([[1.0, 1, 0, 5], [1, 1, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]])
    discharge = np.array([[0.0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0]])
    soc = np.array([[5.0, 5, 0, 5], [5, 10, 0, 5], [5, 9, 0, 5], [5, 8, 0, 5]])
    storage = {
        "capacity_kwh": np.array([10.0, 10.0, 0.0, 10.0]),
        "power_kw": np.array([5.0, 5.0, 0.0, 5.0]),
        "efficiency": np.array([0.81, 0.81, 1.0, 0.81]),
    }
    bid_limit, ask_limit = marginal_value_per_kwh(
        retail, feed_in, position, charge, discharge, soc, storage, 1.0
    )
    np.testing.assert_allclose(ask_limit[:, 0], [0.324, 0.324, 0.243, 0.08])
    np.testing.assert_allclose(ask_limit[:, 1], [0.08, 0.08, 0.243, 0.08])
    np.testing.assert_allclose(ask_limit[:, 2], 0.08)
    np.testing.assert_allclose(ask_limit[:, 3], [0.08, 0.324, 0.243, 0.08])
    np.testing.assert_allclose(bid_limit, np.repeat(retail[:, None], 4, axis=1))


def test_mix_parsing_and_assignment():
    mix = parse_mix("truthful=0.33,ramp=0.33,zip=0.34")
    assert pytest.approx(sum(mix.values())) == 1.0
    labels = assign_strategies(10, mix, seed=3)
    assert sorted(labels.tolist()).count("zip") == 4
    assert labels.tolist() == assign_strategies(10, mix, seed=3).tolist()
    with pytest.raises(ValueError, match="'greedy'"):
        parse_mix("greedy=1")
    with pytest.raises(ValueError, match="negative"):
        parse_mix("ramp=-1")


def test_replay_learner_shades_only_where_its_replays_clearly_gained():
    learner = PriceHistoryLearner(3, sealed="replay", replay_smoothing=1.0, min_replay_gain=0.05)
    margins = np.asarray(learner.sealed_margins_per_kwh)
    # Slot 0: the widest margin gained 50 %; slot 1: only 1 % (below the 5 % asked); slot 2: no history.
    bid_profit = np.array([[1.0, 1.1, 1.2, 1.5], [1.0, 1.01, 1.0, 0.9], [0.0, 0.0, 0.0, 0.0]])
    learner.observe_replays(np.arange(3), bid_profit, np.zeros((3, 4)))
    bid_margin, ask_margin = learner.sealed_margins(np.arange(3))
    np.testing.assert_allclose(bid_margin, [margins[-1], 0.0, 0.0])
    np.testing.assert_allclose(ask_margin, 0.0)
    bid, ask = learner.prices(np.full((3, 1), 0.3), np.full((3, 1), 0.1), np.arange(3), 0.0, 0, 1)
    np.testing.assert_allclose(bid[:, 0], [0.3 - margins[-1], 0.3, 0.3])
    np.testing.assert_allclose(ask, 0.1)


def test_default_learner_posts_its_limits_in_a_sealed_round():
    learner = PriceHistoryLearner(2)
    learner.observe(np.arange(2), np.array([0.2, 0.2]))
    learner.observe_replays(np.arange(2), np.tile([0.0, 1.0, 2.0, 3.0], (2, 1)), np.zeros((2, 4)))
    bid_limit, ask_limit = np.array([[0.3], [0.3]]), np.array([[0.1], [0.1]])
    bid, ask = learner.prices(bid_limit, ask_limit, np.arange(2), 0.02, 0, 1)
    np.testing.assert_array_equal(bid, bid_limit)
    np.testing.assert_array_equal(ask, ask_limit)
    with pytest.raises(ValueError, match="sealed: 'guess'"):
        PriceHistoryLearner(2, sealed="guess")
