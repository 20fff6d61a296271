"""KPI functions against hand-worked numbers."""

import numpy as np
import pytest

from wattmesh.kpi import metrics


def test_self_sufficiency_is_share_of_consumption_not_imported():
    consumption = np.array([[2.0, 2.0], [2.0, 2.0]])
    imported = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert metrics.self_sufficiency(consumption, imported) == pytest.approx(0.75)


def test_self_consumption_is_share_of_generation_not_exported():
    assert metrics.self_consumption(np.array([[6.0, 4.0]]), np.array([[3.0, 1.0]])) == pytest.approx(0.6)


def test_peak_import_uses_net_flow_through_the_transformer():
    imported = np.array([[1.0, 0.0], [0.0, 3.0]])
    exported = np.array([[0.0, 2.0], [0.0, 0.0]])
    # interval 0: (1 - 2) / 0.25 = -4 kW (reverse flow); interval 1: 3 / 0.25 = 12 kW
    assert metrics.peak_import_kw(imported, exported, 0.25) == pytest.approx(12.0)
    np.testing.assert_allclose(metrics.transformer_flow_kw(imported, exported, 0.25), [-4.0, 12.0])


def test_peak_import_is_zero_when_the_community_only_exports():
    assert metrics.peak_import_kw(np.zeros((2, 2)), np.ones((2, 2)), 0.25) == 0.0


@pytest.mark.parametrize(
    ("values", "expected"),
    [([1, 1, 1, 1], 0.0), ([0, 0, 0, 1], 0.75), ([1, 2, 3, 4], 0.25), ([4, 3, 2, 1], 0.25)],
)
def test_gini_hand_worked(values, expected):
    # [1, 2, 3, 4]: sum over ordered pairs |xi - xj| = 20; G = 20 / (2 * 4^2 * 2.5) = 0.25
    assert metrics.gini(np.array(values, float)) == pytest.approx(expected)


def test_gini_rejects_negative_values():
    with pytest.raises(ValueError, match="non-negative"):
        metrics.gini(np.array([-1.0, 2.0]))


@pytest.mark.parametrize(
    ("values", "expected"), [([1, 1, 1, 1], 1.0), ([1, 0, 0, 0], 0.25), ([1, 2, 3, 4], 100 / 120)]
)
def test_jain_index_hand_worked(values, expected):
    assert metrics.jain_index(np.array(values, float)) == pytest.approx(expected)


def test_share_losing_counts_negative_savings():
    assert metrics.share_losing(np.array([-1.0, 0.0, 2.0, -0.5])) == pytest.approx(0.5)


def test_emissions_weight_each_interval_by_its_intensity():
    imported = np.array([[1.0, 1.0], [2.0, 0.0]])
    assert metrics.emissions_kg(imported, np.array([0.5, 0.1])) == pytest.approx(1.2)


def test_fair_access_shares_the_battery_result_equally_and_a_solidarity_pool_among_recipients():
    # Members: three households (the first with PV) and the community battery, which earned 30.
    households = np.array([True, True, True, False])
    without_pv = np.array([False, True, True, False])
    asset_result = np.array([0.0, 0.0, 0.0, 30.0])
    premium = np.array([4.0, 0.0, -1.0, 0.0])  # a negative premium gives nothing
    equal = metrics.fair_access_transfers(households, without_pv, asset_result, premium, "equal", 0.0)
    np.testing.assert_allclose(equal, [10.0, 10.0, 10.0, -30.0])
    # 50 % of the PV owner's premium of 4 goes to the two households without PV: 1 each.
    pool = metrics.fair_access_transfers(households, without_pv, asset_result, premium, "community", 50.0)
    np.testing.assert_allclose(pool, [-2.0, 1.0, 1.0, 0.0])
    both = metrics.fair_access_transfers(households, without_pv, asset_result, premium, "equal", 50.0)
    np.testing.assert_allclose(both, equal + pool)
    assert both.sum() == pytest.approx(0.0)


def test_fair_access_names_a_bad_rule():
    ones = np.ones(2, dtype=bool)
    with pytest.raises(ValueError, match="battery_share 'half'"):
        metrics.fair_access_transfers(ones, ones, np.zeros(2), np.zeros(2), "half", 0.0)
    with pytest.raises(ValueError, match="solidarity_percent 120"):
        metrics.fair_access_transfers(ones, ones, np.zeros(2), np.zeros(2), "equal", 120.0)
