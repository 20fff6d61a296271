"""Orders from positions: what the home agent posts is what its position and limits say."""

from __future__ import annotations

import numpy as np

from wattmesh.agents.positions import community_positions, orders_from_positions
from wattmesh.market.orders import validate_orders


def test_one_interval_of_positions_becomes_valid_orders_of_the_same_energy(short_community):
    positions = community_positions(short_community)
    row = int(np.argmax((positions.deficit_kwh > 0).sum(axis=1) * (positions.surplus_kwh > 0).sum(axis=1)))
    orders = orders_from_positions(positions, row)
    valid, rejected = validate_orders(orders, positions.member_ids, positions.index[row])
    assert rejected.empty and len(valid) == len(orders) > 2
    bids = valid[valid["side"] == "buy"].set_index("member_id")
    asks = valid[valid["side"] == "sell"].set_index("member_id")
    ids = positions.member_ids
    np.testing.assert_allclose(bids["energy_kwh"].reindex(ids, fill_value=0.0), positions.deficit_kwh[row])
    np.testing.assert_allclose(asks["energy_kwh"].reindex(ids, fill_value=0.0), positions.surplus_kwh[row])
    limits = positions.bid_limit[row][ids.tolist().index(bids.index[0])]
    assert bids["price_per_kwh"].iloc[0] == limits
    assert valid["order_id"].is_unique


def test_posted_prices_replace_the_limits(short_community):
    positions = community_positions(short_community)
    row = int(np.argmax((positions.surplus_kwh > 0).sum(axis=1)))
    asks = np.full(len(positions.member_ids), 0.123)
    orders = orders_from_positions(positions, row, ask_price_per_kwh=asks)
    assert (orders.loc[orders["side"] == "sell", "price_per_kwh"] == 0.123).all()
