"""Community pricing rules (Zhou et al. 2018): hand-computed prices, budget balance, members' bills."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wattmesh.market import clear_batch, community_prices, settle_with_utility

RETAIL, FEED_IN = 0.30, 0.08


@pytest.mark.parametrize(
    ("rule", "supply", "demand", "buy", "sell", "local"),
    [
        # SDR = 0.5: P_sell = 0.3 * 0.08 / (0.22 * 0.5 + 0.08) = 0.024 / 0.19; P_buy = P_sell / 2 + 0.15.
        ("sdr", 4.0, 8.0, 0.024 / 0.19 / 2 + 0.15, 0.024 / 0.19, 0.024 / 0.19),
        ("sdr", 8.0, 4.0, FEED_IN, FEED_IN, FEED_IN),
        ("sdr", 4.0, 4.0, FEED_IN, FEED_IN, FEED_IN),
        # MMR: P_mid = 0.19; deficit: buyers (0.19 * 4 + 0.30 * 4) / 8 = 0.245.
        ("mmr", 4.0, 8.0, 0.245, 0.19, 0.19),
        ("mmr", 8.0, 4.0, 0.19, (0.19 * 4 + 0.08 * 4) / 8, 0.19),
        # Bill sharing: the import bill 0.30 * 4 over 8 kWh of demand; sellers share no export revenue.
        ("bill_sharing", 4.0, 8.0, 0.15, 0.0, 0.0),
        ("bill_sharing", 8.0, 4.0, 0.0, 0.04, 0.0),
    ],
)
def test_prices_match_the_hand_computed_formulas(rule, supply, demand, buy, sell, local):
    got = community_prices(rule, np.array([supply]), np.array([demand]), RETAIL, FEED_IN)
    np.testing.assert_allclose([g[0] for g in got], [buy, sell, local], rtol=1e-12)


def test_sdr_prices_run_from_retail_to_feed_in_as_supply_grows():
    supply = np.linspace(0.01, 2.0, 50)
    buy, sell, _ = community_prices("sdr", supply, np.ones(50), RETAIL, FEED_IN)
    assert np.all(np.diff(sell) <= 1e-15) and np.all(np.diff(buy) <= 1e-15)
    assert np.all((sell >= FEED_IN - 1e-15) & (sell <= RETAIL)) and np.all(buy <= RETAIL)


quantities = st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(1, 6)).flatmap(
    lambda s: st.tuples(
        arrays(float, (s[0], s[1]), elements=st.floats(0, 10)),
        arrays(float, (s[0], s[2]), elements=st.floats(0, 10)),
    )
)


@settings(max_examples=100, deadline=None)
@given(quantities, st.sampled_from(["sdr", "mmr", "bill_sharing"]))
def test_every_member_pays_the_rule_price_on_its_whole_demand_and_the_coop_balances(book, rule):
    bid_kwh, ask_kwh = book
    result = clear_batch(
        rule, bid_kwh, np.zeros_like(bid_kwh), ask_kwh, np.zeros_like(ask_kwh), retail_per_kwh=RETAIL,
        feed_in_per_kwh=FEED_IN,
    )  # fmt: skip
    utility = settle_with_utility(bid_kwh, ask_kwh, result, RETAIL, FEED_IN)
    buy, sell, _ = community_prices(rule, ask_kwh.sum(1), bid_kwh.sum(1), RETAIL, FEED_IN)
    paid = result.bid_payment + utility.import_cost
    received = result.ask_revenue + utility.export_revenue
    has_demand, has_supply = bid_kwh.sum(1) > 0, ask_kwh.sum(1) > 0
    np.testing.assert_allclose(paid[has_demand], (bid_kwh * buy[:, None])[has_demand], atol=1e-9)
    np.testing.assert_allclose(received[has_supply], (ask_kwh * sell[:, None])[has_supply], atol=1e-9)
    # The co-op neither gains nor loses: buyers + exports = sellers + imports.
    np.testing.assert_allclose(
        paid.sum(1) + utility.export_revenue.sum(1), received.sum(1) + utility.import_cost.sum(1), atol=1e-9
    )


def test_community_rules_need_the_utility_prices():
    with pytest.raises(ValueError, match="needs the option retail_per_kwh"):
        clear_batch("sdr", [[1.0]], [[0.0]], [[1.0]], [[0.0]], feed_in_per_kwh=0.1)
