"""Outage islanding: hand-worked sharing, the island's energy bounds, and the KPIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wattmesh.grid import island_dispatch, outage_comparison, outage_mask, resilience_kpis
from wattmesh.grid.islanding import allocate_by_priority


def test_pro_rata_sharing_by_hand():
    # one hour; home A makes 9 kW and uses 2, B and C use 4 and 8 with nothing of their own
    load = np.array([[2.0, 4.0, 8.0]])
    gen = np.array([[9.0, 0.0, 0.0]])
    result = island_dispatch(load, gen, 1.0, critical_fraction=0.5)
    # A serves itself (2), 7 kWh go to the pool; critical gaps B 2, C 4 are met in full, the last
    # 1 kWh is shared pro rata to the other gaps (2 and 4): 1/3 and 2/3
    np.testing.assert_allclose(result.served_kw[0], [2.0, 2.0 + 1 / 3, 4.0 + 2 / 3])
    np.testing.assert_allclose(result.kept_power[0], [True, True, True])
    alone = island_dispatch(load, gen, 1.0, critical_fraction=0.5, sharing="none")
    np.testing.assert_allclose(alone.served_kw[0], [2.0, 0.0, 0.0])
    assert alone.spilled_kw[0] == pytest.approx(7.0)


def test_short_pool_is_shared_pro_rata_among_critical_loads():
    load = np.array([[0.0, 4.0, 8.0]])
    gen = np.array([[3.0, 0.0, 0.0]])
    result = island_dispatch(load, gen, 1.0, critical_fraction=0.5)
    # critical gaps 2 and 4 kWh, 3 kWh to share: 1 and 2
    np.testing.assert_allclose(result.served_kw[0], [0.0, 1.0, 2.0])
    np.testing.assert_allclose(result.kept_power[0], [True, False, False])


def test_priority_list_serves_lower_rank_first():
    load = np.array([[0.0, 4.0, 8.0]])
    gen = np.array([[3.0, 0.0, 0.0]])
    result = island_dispatch(
        load, gen, 1.0, critical_fraction=0.5, sharing="priority", priority_rank=[1, 1, 0]
    )
    np.testing.assert_allclose(result.served_kw[0], [0.0, 0.0, 3.0])
    np.testing.assert_allclose(
        allocate_by_priority(5.0, np.array([2.0, 2.0, 4.0]), np.array([1, 1, 0])), [0.5, 0.5, 4]
    )


def test_batteries_carry_the_island_through_the_night_by_hand():
    # two hours of 1 kW load per home, no sun; B owns a 4 kWh battery (lossless), A none
    load = np.ones((2, 2))
    gen = np.zeros((2, 2))
    options = dict(battery_capacity_kwh=[0.0, 4.0], battery_power_kw=[0.0, 5.0], battery_efficiency=1.0)
    shared = island_dispatch(load, gen, 1.0, critical_fraction=1.0, **options)
    np.testing.assert_allclose(shared.served_kw, 1.0)
    np.testing.assert_allclose(shared.soc_kwh[:, 1], [4.0, 2.0, 0.0])
    alone = island_dispatch(load, gen, 1.0, critical_fraction=1.0, sharing="none", **options)
    np.testing.assert_allclose(alone.served_kw, [[0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(alone.soc_kwh[:, 1], [4.0, 3.0, 2.0])


def test_community_battery_serves_only_when_sharing():
    load = np.full((4, 2), 2.0)
    gen = np.zeros((4, 2))
    opts = dict(
        community_capacity_kwh=4.0, community_power_kw=4.0, community_efficiency=1.0, community_soc_kwh=4.0
    )
    per_home, summary = outage_comparison(load, gen, 0.5, pd.Index(["a", "b"]), critical_fraction=0.5, **opts)
    # 4 kWh over 2 h serve both homes' 1 kW critical load throughout: 2 h each
    np.testing.assert_allclose(per_home["hours_with_power_shared"], [2.0, 2.0])
    np.testing.assert_allclose(per_home["hours_with_power_alone"], [0.0, 0.0])
    assert summary.loc["shared", "unserved_kwh"] == pytest.approx(4.0)
    assert summary.loc["alone", "unserved_kwh"] == pytest.approx(8.0)
    assert summary.loc["shared", "homes_always_powered"] == 2


n_homes = st.integers(1, 6)


@st.composite
def islands(draw):
    m = draw(n_homes)
    t = draw(st.integers(1, 8))
    kw = st.floats(0.0, 10.0, allow_nan=False)
    load = draw(arrays(float, (t, m), elements=kw))
    gen = draw(arrays(float, (t, m), elements=kw))
    capacity = draw(arrays(float, (m,), elements=st.floats(0.0, 10.0)))
    power = draw(arrays(float, (m,), elements=st.floats(0.0, 5.0)))
    soc_share = draw(st.floats(0.0, 1.0))
    fraction = draw(st.floats(0.0, 1.0))
    sharing = draw(st.sampled_from(["pro_rata", "none", "priority"]))
    rank = draw(arrays(int, (m,), elements=st.integers(0, 2)))
    community = draw(st.floats(0.0, 20.0))
    reserve = draw(st.booleans())
    return load, gen, capacity, power, soc_share, fraction, sharing, rank, community, reserve


@settings(max_examples=150, deadline=None)
@given(islands())
def test_no_home_is_served_more_than_the_island_has(case):
    load, gen, capacity, power, soc_share, fraction, sharing, rank, community, reserve = case
    h = 0.25
    result = island_dispatch(
        load,
        gen,
        h,
        battery_capacity_kwh=capacity,
        battery_power_kw=power,
        battery_efficiency=0.81,
        battery_soc_kwh=capacity * soc_share,
        community_capacity_kwh=community,
        community_power_kw=community / 2,
        community_soc_kwh=community * soc_share,
        critical_fraction=fraction,
        sharing=sharing,
        priority_rank=rank,
        storage_for_critical_only=reserve,
    )
    tol = 1e-9
    assert (result.served_kw <= load + tol).all()
    assert (result.critical_served_kw <= fraction * load + tol).all()
    supply = gen.sum(axis=1) + result.battery_discharge_kw.sum(axis=1) + result.community_discharge_kw
    assert (result.served_kw.sum(axis=1) <= supply + tol).all()
    # every kW of generation and discharge is served, stored or spilled
    used = result.served_kw.sum(axis=1) + result.battery_charge_kw.sum(axis=1) + result.community_charge_kw
    np.testing.assert_allclose(supply, used + result.spilled_kw, atol=1e-9)
    assert (result.soc_kwh >= -tol).all() and (result.soc_kwh <= capacity + tol).all()
    assert (result.battery_discharge_kw <= power + tol).all()
    if sharing == "none":
        # alone, a home never gets more than its own generation and its own battery
        assert (result.served_kw <= gen + result.battery_discharge_kw + tol).all()
        assert (result.community_discharge_kw == 0).all()
    kpis = resilience_kpis(result, load, h, fraction)
    assert (kpis["hours_with_power"] <= load.shape[0] * h + tol).all()
    assert (kpis["unserved_kwh"] >= 0).all()


def test_outage_mask_selects_the_window():
    index = pd.date_range("2016-06-01", periods=8, freq="15min", tz="UTC")
    mask = outage_mask(index, "2016-06-01T00:30Z", hours=0.75)
    np.testing.assert_array_equal(mask, [0, 0, 1, 1, 1, 0, 0, 0])
    with pytest.raises(ValueError, match="no time zone"):
        outage_mask(index, "2016-06-01 00:30", hours=1)


def test_bad_critical_fraction_is_named():
    with pytest.raises(ValueError, match="critical_fraction 1.5"):
        island_dispatch(np.ones((1, 2)), np.ones((1, 2)), 1.0, critical_fraction=1.5)


def test_a_rounding_error_below_zero_shares_nothing():
    from wattmesh.grid.islanding import allocate_pro_rata

    np.testing.assert_array_equal(allocate_pro_rata(-1e-17, np.array([0.0, 0.0])), [0.0, 0.0])
    np.testing.assert_array_equal(allocate_pro_rata(-1e-17, np.array([1.0, 0.0])), [0.0, 0.0])
