"""The closed-form pooled clearing equals the general pay-as-clear auction on common-limit books."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattmesh.market.clearing import clear_pay_as_clear
from wattmesh.market.pooled import clear_common_limits


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_intervals=st.integers(1, 6),
    n_members=st.integers(1, 12),
    rule=st.sampled_from(["midpoint", "marginal_ask", "marginal_bid"]),
)
def test_matches_general_clearing(seed, n_intervals, n_members, rule):
    rng = np.random.default_rng(seed)
    position = rng.normal(0, 2, (n_intervals, n_members)) * (rng.random((n_intervals, n_members)) < 0.8)
    bid = np.maximum(-position, 0.0)
    ask = np.maximum(position, 0.0)
    bid_limit = rng.uniform(0.05, 0.4, n_intervals)
    ask_limit = rng.uniform(0.05, 0.4, n_intervals)
    fast = clear_common_limits(bid, bid_limit, ask, ask_limit, rule)
    general = clear_pay_as_clear(
        bid,
        np.broadcast_to(bid_limit[:, None], bid.shape),
        ask,
        np.broadcast_to(ask_limit[:, None], ask.shape),
        rule,
    )
    np.testing.assert_allclose(fast.volume_kwh, general.volume_kwh, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast.bid_fill_kwh, general.bid_fill_kwh, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.ask_fill_kwh, general.ask_fill_kwh, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.price_per_kwh, general.price_per_kwh, rtol=1e-12)


def test_no_trade_when_bids_are_below_asks():
    cleared = clear_common_limits(
        np.array([[1.0, 0.0]]), np.array([0.1]), np.array([[0.0, 1.0]]), np.array([0.2])
    )
    assert cleared.volume_kwh[0] == 0.0
    assert np.isnan(cleared.price_per_kwh[0])


def test_hand_worked_pro_rata():
    # Demand 1 + 3 = 4 kWh, supply 2 kWh: buyers get half of what they asked for.
    cleared = clear_common_limits(
        np.array([[1.0, 3.0, 0.0]]), np.array([0.30]), np.array([[0.0, 0.0, 2.0]]), np.array([0.10])
    )
    np.testing.assert_allclose(cleared.bid_fill_kwh, [[0.5, 1.5, 0.0]])
    np.testing.assert_allclose(cleared.ask_fill_kwh, [[0.0, 0.0, 2.0]])
    assert cleared.price_per_kwh[0] == pytest.approx(0.20)
