"""The home planner LP against hand-worked optima, its checks on bad input, and EV charging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.energy.battery import validate_batteries
from wattmesh.energy.planner import PlanWarning, ev_slots, plan_homes
from wattmesh.energy.rules import ev_charge_on_arrival_kw


def one_battery(capacity=2.0, power=1.0, efficiency=1.0, soc=0.0, name="b1"):
    return pd.DataFrame(
        {
            "battery_id": [name],
            "capacity_kwh": [capacity],
            "power_kw": [power],
            "efficiency": [efficiency],
            "soc_kwh": [soc],
        }
    )


@pytest.mark.parametrize("method", ["lp", "fast"])
def test_battery_shifts_surplus_to_the_expensive_hours_as_worked_by_hand(method):
    # Surplus of 1 kW in two cheap hours, 3 kW deficit in two dear hours; a 2 kWh / 1 kW lossless battery
    # stores both surplus kWh and covers 1 kW of each deficit: import 2 + 2 kWh at 0.3 = 1.2.
    load = np.array([[1.0], [1.0], [3.0], [3.0]])
    pv = np.array([[2.0], [2.0], [0.0], [0.0]])
    plan = plan_homes(
        load, pv, np.array([0.1, 0.1, 0.3, 0.3]), 0.0, one_battery(), 1.0, wear_per_kwh=0.0, method=method
    )
    np.testing.assert_allclose(plan.charge_kw[:, 0], [1, 1, 0, 0], atol=1e-7)
    np.testing.assert_allclose(plan.discharge_kw[:, 0], [0, 0, 1, 1], atol=1e-7)
    assert plan.cost[0] == pytest.approx(1.2)


@pytest.mark.parametrize("method", ["lp", "fast"])
def test_losses_follow_the_square_root_split_of_round_trip_efficiency(method):
    # 0.81 round trip: 1 kWh of surplus stores 0.9 kWh, which delivers 0.81 kWh; import 2 - 0.81 = 1.19 kWh.
    load = np.array([[0.0], [2.0]])
    pv = np.array([[1.0], [0.0]])
    plan = plan_homes(
        load,
        pv,
        np.array([0.1, 0.5]),
        0.0,
        one_battery(efficiency=0.81),
        1.0,
        wear_per_kwh=0.0,
        method=method,
    )
    assert plan.soc_kwh[0, 0] == pytest.approx(0.9)
    assert plan.import_kw[1, 0] == pytest.approx(2 - 0.81)
    assert plan.cost[0] == pytest.approx(0.5 * 1.19)


def test_peak_term_flattens_import_to_the_hand_worked_level():
    # 4 kWh over two hours of 1 and 3 kW; a battery holding 1 kWh (power 1 kW) with a peak charge levels
    # the import at 2 kW: discharge 1 kW in the second hour, nothing to gain from more.
    load = np.array([[1.0], [3.0]])
    plan = plan_homes(
        load,
        np.zeros_like(load),
        0.1,
        0.0,
        one_battery(capacity=1.0, soc=1.0),
        1.0,
        peak_price_per_kw=1.0,
        wear_per_kwh=0.0,
    )
    assert plan.import_kw.max() == pytest.approx(2.0)


def test_batched_homes_get_the_same_optimum_as_one_lp_each():
    rng = np.random.default_rng(3)
    n_t, n_m = 24, 6
    load = rng.uniform(0.2, 3, (n_t, n_m))
    pv = np.clip(np.sin(np.linspace(-1, 4, n_t))[:, None] * rng.uniform(1, 4, n_m), 0, None)
    price = np.where(np.arange(n_t) % 24 >= 16, 0.4, 0.2)
    bats = pd.DataFrame(
        {
            "capacity_kwh": rng.uniform(2, 10, n_m),
            "power_kw": rng.uniform(1, 5, n_m),
            "efficiency": rng.uniform(0.8, 0.95, n_m),
            "soc_kwh": np.ones(n_m),
        }
    )
    batch = plan_homes(load, pv, price, 0.05, bats, 1.0, peak_price_per_kw=0.1)
    single = [
        plan_homes(load[:, [m]], pv[:, [m]], price, 0.05, bats.iloc[[m]], 1.0, peak_price_per_kw=0.1)
        for m in range(n_m)
    ]
    assert batch.objective == pytest.approx(sum(p.objective for p in single), rel=1e-7)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [("efficiency", 1.2, "efficiency 1.2 is above 1"), ("capacity_kwh", -3.0, "capacity_kwh -3 is below 0")],
)
def test_impossible_battery_is_rejected_with_field_and_value(column, value, message):
    bad = one_battery(name="b7").assign(**{column: value})
    with pytest.raises(ValueError, match="battery 'b7'") as info:
        validate_batteries(bad)
    assert message.split()[0] in str(info.value) and str(value).rstrip("0").rstrip(".") in str(info.value)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [("efficiency", 1.2, "efficiency 1.2 is above 1"), ("soc_kwh", 99.0, "soc_kwh 99 is outside")],
)
def test_a_validated_table_made_impossible_is_still_rejected(column, value, message):
    # a table validate_batteries returned is taken as it is when checked again; its values are checked
    table = validate_batteries(one_battery(name="b7"))
    assert validate_batteries(table) is table
    with pytest.raises(ValueError, match=f"battery 'b7': {message}"):
        validate_batteries(table.assign(**{column: value}))


def evening_case():
    index = pd.date_range("2024-06-01 12:00", periods=24, freq="1h", tz="UTC")
    price = np.where((index.hour >= 16) & (index.hour < 21), 0.45, np.where(index.hour < 6, 0.12, 0.25))
    sessions = pd.DataFrame(
        {
            "session_id": ["s1", "s2"],
            "asset_id": ["ev_a", "ev_b"],
            "member_id": ["h1", "h2"],
            "arrival": pd.to_datetime(["2024-06-01 17:00Z", "2024-06-01 19:00Z"]),
            "departure": pd.to_datetime(["2024-06-02 07:00Z", "2024-06-02 08:00Z"]),
            "energy_kwh": [20.0, 30.0],
            "charger_kw": [7.0, 11.0],
        }
    )
    return index, price, sessions


def test_every_ev_leaves_with_its_energy_and_pays_less_than_charging_on_arrival():
    index, price, sessions = evening_case()
    members = pd.Index(["h1", "h2"])
    load = np.full((24, 2), 0.5)
    plan = plan_homes(
        load,
        np.zeros_like(load),
        price,
        0.0,
        validate_batteries(pd.DataFrame({"capacity_kwh": [0.0, 0.0], "power_kw": [0.0, 0.0]})),
        1.0,
        ev=ev_slots(sessions, index, members),
        member_ids=members,
    )
    np.testing.assert_allclose(plan.ev_kw.sum(axis=0), [20.0, 30.0], rtol=1e-7)
    # no charging outside the stays, within the charger limits
    assert plan.ev_kw[: 17 - 12, 0].max() < 1e-9 and plan.ev_kw[:, 0].max() <= 7 + 1e-9
    on_arrival = ev_charge_on_arrival_kw(sessions, index, members)
    assert on_arrival.sum() == pytest.approx(50.0)
    planned_cost = (plan.ev_kw.sum(axis=1) * price).sum()
    rule_cost = (on_arrival.sum(axis=1) * price).sum()
    # all 50 kWh fit in the 0.12 night hours: 6.0, against the rule's evening charging
    assert planned_cost == pytest.approx(50 * 0.12)
    assert planned_cost < rule_cost


def test_ev_that_cannot_reach_its_target_gets_the_most_possible_and_a_warning():
    index, price, sessions = evening_case()
    short = sessions.iloc[[0]].assign(departure=pd.Timestamp("2024-06-01 19:00Z"))  # 2 h at 7 kW = 14 kWh
    slots = ev_slots(short, index, ["h1"])
    with pytest.warns(PlanWarning, match=r"ev session 's1'.*relaxed by 6\.00 kWh"):
        plan = plan_homes(
            np.zeros((24, 1)),
            np.zeros((24, 1)),
            price,
            0.0,
            pd.DataFrame({"capacity_kwh": [0.0], "power_kw": [0.0]}),
            1.0,
            ev=slots,
            member_ids=["h1"],
        )
    assert plan.ev_kw.sum() == pytest.approx(14.0)


@pytest.mark.parametrize("method", ["lp", "fast"])
def test_cap_below_must_run_load_is_relaxed_by_the_missing_power_with_a_warning(method):
    # 5 kW of load, the battery can give 1 kW, the cap asks for 2 kW: 2 kW over the cap in each of 2 hours.
    load = np.full((3, 1), 5.0)
    cap = np.array([[np.nan], [2.0], [2.0]])
    with pytest.warns(PlanWarning, match=r"home 'h1'.*relaxed by 4\.000 kWh over 2 interval"):
        plan = plan_homes(
            load,
            np.zeros_like(load),
            0.2,
            0.0,
            one_battery(capacity=10, power=1, soc=10),
            1.0,
            import_cap_kw=cap,
            member_ids=["h1"],
            method=method,
        )
    np.testing.assert_allclose(plan.relaxed_cap_kw[:, 0], [0, 2, 2], atol=1e-7)
    np.testing.assert_allclose(plan.import_kw[1:, 0], [4, 4], atol=1e-7)


def test_homes_planned_in_blocks_get_the_joint_optimum_and_keep_their_evs():
    index, price, sessions = evening_case()
    members = pd.Index(["h0", "h1", "h2", "h3"])
    rng = np.random.default_rng(5)
    load = rng.uniform(0.3, 2.0, (24, 4))
    bats = pd.DataFrame({"capacity_kwh": [5.0, 0.0, 8.0, 3.0], "power_kw": [2.0, 0.0, 3.0, 1.5]})
    slots = ev_slots(sessions, index, members)
    whole = plan_homes(
        load, np.zeros_like(load), price, 0.0, bats, 1.0, ev=slots, peak_price_per_kw=0.2, homes_per_lp=4
    )
    blocks = plan_homes(
        load, np.zeros_like(load), price, 0.0, bats, 1.0, ev=slots, peak_price_per_kw=0.2, homes_per_lp=1
    )
    assert blocks.objective == pytest.approx(whole.objective, rel=1e-9)
    np.testing.assert_allclose(blocks.ev_kw.sum(axis=0), [0.0, 20.0, 30.0, 0.0], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(blocks.ev_slot_kw.sum(axis=0), [20.0, 30.0], rtol=1e-7)


def test_member_batteries_pool_a_members_battery_assets():
    from wattmesh.energy.battery import member_batteries

    assets = pd.DataFrame(
        {
            "asset_id": ["b1", "b2", "pv1", "b3"],
            "member_id": ["m1", "m1", "m2", "m3"],
            "kind": ["battery", "battery", "pv", "battery"],
            "power_kw": [5.0, 3.0, 4.0, 2.0],
            "capacity_kwh": [10.0, 5.0, 0.0, 4.0],
            "efficiency": [0.9, 0.81, 0.9, 0.95],
            "soc_initial": [0.5, 1.0, 0.5, 0.25],
        }
    )
    table = member_batteries(assets, ["m1", "m2", "m3"])
    assert table["capacity_kwh"].tolist() == [15.0, 0.0, 4.0]
    assert table["power_kw"].tolist() == [8.0, 0.0, 2.0]
    assert table["soc_kwh"].tolist() == [10.0, 0.0, 1.0]
    assert table["efficiency"].iloc[0] == pytest.approx((0.9 * 10 + 0.81 * 5) / 15)
    validate_batteries(table)


def test_expected_local_market_price_sets_the_effective_prices():
    # Half of the trades at the local price 0.2: import costs 0.5 * 0.3 + 0.5 * 0.2 = 0.25 per kWh and
    # export earns 0.5 * 0.05 + 0.5 * 0.2 = 0.125 per kWh (1 kWh each way here).
    load = np.array([[2.0], [0.0]])
    pv = np.array([[1.0], [1.0]])
    no_battery = pd.DataFrame({"capacity_kwh": [0.0], "power_kw": [0.0]})
    plan = plan_homes(
        load,
        pv,
        0.3,
        0.05,
        no_battery,
        1.0,
        market_price_per_kwh=np.array([0.2, 0.2]),
        market_share=0.5,
        method="lp",
    )
    assert plan.cost[0] == pytest.approx(0.25 - 0.125)


def test_gaps_in_the_forecast_are_rejected_with_their_position():
    load = np.array([[1.0], [np.nan]])
    with pytest.raises(ValueError, match=r"load_kw\[1, 0\] is nan"):
        plan_homes(load, np.zeros_like(load), 0.2, 0.0, one_battery(), 1.0)
