"""The self-consumption battery rule and charge-on-arrival EV charging, on hand-worked cases."""

import numpy as np
import pandas as pd
import pytest

from wattmesh.energy.rules import battery_step, ev_charge_on_arrival_kw


def test_battery_charges_surplus_up_to_its_power_limit_with_losses():
    # round trip 0.81 -> one-way 0.9; 4 kW for 15 min = 1 kWh at most
    c, d, soc = battery_step(
        np.array([2.0]), np.array([0.0]), np.array([10.0]), np.array([4.0]), np.array([0.81]), 0.25
    )
    assert c[0] == pytest.approx(1.0)
    assert d[0] == 0.0
    assert soc[0] == pytest.approx(0.9)


def test_battery_discharge_is_limited_by_stored_energy():
    c, d, soc = battery_step(
        np.array([-3.0]), np.array([0.45]), np.array([10.0]), np.array([4.0]), np.array([0.81]), 0.25
    )
    assert c[0] == 0.0
    assert d[0] == pytest.approx(0.405)  # 0.45 kWh stored * 0.9
    assert soc[0] == pytest.approx(0.0)


def test_battery_charge_is_limited_by_free_capacity():
    c, _, soc = battery_step(
        np.array([5.0]), np.array([9.5]), np.array([10.0]), np.array([40.0]), np.array([1.0]), 0.25
    )
    assert c[0] == pytest.approx(0.5)
    assert soc[0] == pytest.approx(10.0)


def test_members_without_battery_do_nothing():
    c, d, soc = battery_step(np.array([2.0, -2.0]), np.zeros(2), np.zeros(2), np.zeros(2), np.ones(2), 0.25)
    assert not c.any() and not d.any() and not soc.any()


def _sessions(energy_kwh, arrival="2016-06-01T00:00Z", departure="2016-06-01T02:00Z"):
    return pd.DataFrame(
        {
            "member_id": ["a"],
            "arrival": [pd.Timestamp(arrival)],
            "departure": [pd.Timestamp(departure)],
            "energy_kwh": [energy_kwh],
            "charger_kw": [4.0],
        }
    )


INDEX = pd.date_range("2016-06-01", periods=12, freq="15min", tz="UTC")


def test_ev_charges_at_full_power_from_arrival_until_done():
    power = ev_charge_on_arrival_kw(_sessions(2.5), INDEX, pd.Index(["a", "b"]))
    # 2.5 kWh at 4 kW: two full intervals (1 kWh each), then 0.5 kWh = 2 kW for one interval
    np.testing.assert_allclose(power[:, 0], [4, 4, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert not power[:, 1].any()


def test_ev_stops_at_departure_even_if_not_full():
    power = ev_charge_on_arrival_kw(_sessions(20.0), INDEX, pd.Index(["a"]))
    np.testing.assert_allclose(power[:, 0], [4] * 8 + [0] * 4)
