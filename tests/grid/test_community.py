"""The grid on the default scenario's community (the lead's builder, no mocks): power flow and outage."""

from __future__ import annotations

import numpy as np

from wattmesh.grid import feeder_model, load_network, member_power_flow, outage_comparison, outage_mask


def test_power_flow_of_the_members_balances_at_the_slack(short_community):
    community = short_community
    model = feeder_model(load_network(community.meta["net_path"]))
    net_kw = community.generation_kw - community.load_kw
    bus = community.members["bus"].to_numpy()
    result = member_power_flow(model, bus, net_kw, community.index)
    assert result.converged.all()
    np.testing.assert_allclose(result.slack_p_kw + net_kw.sum(axis=1), result.losses_kw, atol=1e-3)
    # a sample against pandapower alone
    rows = [20, 50, 150]
    reference = member_power_flow(model, bus, net_kw[rows], community.index[rows], solver="pandapower")
    np.testing.assert_allclose(result.vm_pu.iloc[rows], reference.vm_pu, atol=1e-6)


def test_sharing_keeps_more_homes_powered_in_an_evening_outage(short_community):
    community = short_community
    window = outage_mask(community.index, "2016-06-10T18:00Z", hours=6)
    batteries = community.storage_by_member("battery")
    per_home, summary = outage_comparison(
        community.load_kw[window],
        community.generation_kw[window],
        community.interval_h,
        community.member_ids,
        battery_capacity_kwh=batteries["capacity_kwh"],
        battery_power_kw=batteries["power_kw"],
        battery_efficiency=batteries["efficiency"],
        battery_soc_kwh=batteries["soc_initial_kwh"],
        community_capacity_kwh=200.0,
        community_power_kw=100.0,
        community_soc_kwh=100.0,
        critical_fraction=0.3,
    )
    shared, alone = summary.loc["shared"], summary.loc["alone"]
    assert shared["critical_unserved_kwh"] <= alone["critical_unserved_kwh"]
    assert shared["homes_always_powered"] >= alone["homes_always_powered"]
    load_kwh = community.load_kw[window].sum() * community.interval_h
    assert 0 <= shared["unserved_kwh"] <= load_kwh
    assert (per_home["hours_with_power_shared"] <= 6.0).all()
