"""The utility as last resort, members' net cost, electrical distance and distance-based fees."""

from __future__ import annotations

import numpy as np
import pytest

from wattmesh.market import (
    clear_batch,
    distance_fee_per_kwh,
    electrical_distance,
    net_cost,
    settle_with_utility,
)


def test_leftovers_settle_at_retail_and_feed_in_and_net_cost_adds_up():
    # Member 0 wants 3 kWh @ 25, member 1 offers 2 kWh @ 10: 2 kWh trade at the midpoint 17.5.
    bid_kwh, bid_price = np.array([[3.0, 0.0]]), np.array([[25.0, 0.0]])
    ask_kwh, ask_price = np.array([[0.0, 2.0]]), np.array([[0.0, 10.0]])
    result = clear_batch("pay_as_clear", bid_kwh, bid_price, ask_kwh, ask_price)
    utility = settle_with_utility(bid_kwh, ask_kwh, result, 30.0, 5.0)
    np.testing.assert_allclose(utility.import_kwh, [[1.0, 0.0]])
    np.testing.assert_allclose(utility.export_kwh, [[0.0, 0.0]])
    np.testing.assert_allclose(net_cost(result, utility), [[2 * 17.5 + 30.0, -2 * 17.5]])


def test_utility_only_baseline_sends_everything_to_the_utility():
    result = clear_batch("utility_only", [[3.0]], [[25.0]], [[2.0]], [[10.0]])
    utility = settle_with_utility([[3.0]], [[2.0]], result, [30.0], [5.0])
    assert result.volume_kwh[0] == 0.0 and np.isnan(result.price_per_kwh[0])
    np.testing.assert_allclose([utility.import_cost[0, 0], utility.export_revenue[0, 0]], [90.0, 10.0])


def test_electrical_distance_on_a_small_radial_feeder():
    # 0 - 1 (0.1 km) - 2 (0.2 km), and 1 - 3 (0.05 km); bus 4 is not connected.
    distance = electrical_distance([0, 1, 1], [1, 2, 3], [0.1, 0.2, 0.05], n_buses=5)
    assert distance[2, 3] == pytest.approx(0.25)
    assert distance[0, 2] == pytest.approx(0.3)
    assert distance[3, 3] == 0.0 and np.isinf(distance[0, 4])
    fee = distance_fee_per_kwh(np.array([2]), np.array([0, 3]), distance, 0.1, base_fee_per_kwh=0.01)
    np.testing.assert_allclose(fee, [[0.01 + 0.03, 0.01 + 0.025]])


def test_unknown_mechanism_and_wrong_option_are_rejected_by_name():
    with pytest.raises(ValueError, match="mechanism 'vickrey' is not one of pay_as_clear"):
        clear_batch("vickrey", [[1.0]], [[1.0]], [[1.0]], [[1.0]])
    with pytest.raises(ValueError, match="takes no option pair_price"):
        clear_batch("pay_as_clear", [[1.0]], [[1.0]], [[1.0]], [[1.0]], pair_price="bid")


def test_compare_mechanisms_on_the_issue_case_gives_hand_computed_bills():
    from wattmesh.market import compare_mechanisms

    table = compare_mechanisms(
        [[3, 2, 4, 1]],
        [[30, 25, 20, 12]],
        [[2, 3, 2, 3]],
        [[10, 15, 22, 28]],
        retail_per_kwh=30,
        feed_in_per_kwh=8,
    ).set_index("mechanism")
    assert list(table.index) == [
        "pay_as_clear",
        "pay_as_bid",
        "p2p",
        "sdr",
        "mmr",
        "bill_sharing",
        "utility_only",
    ]
    # pay_as_clear: 5 kWh at 20 locally, 5 kWh imported at 30; sellers export 5 kWh at 8.
    assert table.loc["pay_as_clear", ["buyers_pay", "sellers_receive", "welfare"]].tolist() == [
        250.0,
        140.0,
        75.0,
    ]
    # Without a market everything goes through the utility.
    assert table.loc["utility_only", ["buyers_pay", "sellers_receive", "local_volume_kwh"]].tolist() == [
        300.0,
        80.0,
        0.0,
    ]
    # SDR with supply = demand: everyone trades at the feed-in price.
    assert table.loc["sdr", ["buyers_pay", "sellers_receive", "import_kwh"]].tolist() == [80.0, 80.0, 0.0]


def test_feeder_distance_follows_lines_and_crosses_the_transformer_at_zero():
    import pandapower as pp

    from wattmesh.market import feeder_distance

    net = pp.create_empty_network()
    mv, lv, a, b = (pp.create_bus(net, vn_kv=v) for v in (20.0, 0.4, 0.4, 0.4))
    pp.create_transformer(net, mv, lv, std_type="0.4 MVA 20/0.4 kV")
    pp.create_line(net, lv, a, length_km=0.1, std_type="NAYY 4x150 SE")
    pp.create_line(net, a, b, length_km=0.2, std_type="NAYY 4x150 SE")
    distance = feeder_distance(net)
    assert distance.loc[mv, b] == pytest.approx(0.3) and distance.loc[lv, a] == pytest.approx(0.1)
    ohm = feeder_distance(net, weight="r_ohm")
    assert ohm.loc[lv, b] == pytest.approx(0.3 * net.line["r_ohm_per_km"].iloc[0])
