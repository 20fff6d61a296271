"""MPC against the perfect-foresight bound on the CityLearn 2022 homes, forecasters, KPIs and EVs in MPC."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.community.citylearn import PACKAGE_FOLDER, load_citylearn_2022
from wattmesh.energy.forecasts import from_frame, perfect_forecast, persistence, seasonal_naive
from wattmesh.energy.kpis import citylearn_kpis, kpi_ratios
from wattmesh.energy.mpc import (
    dispatch_no_battery,
    dispatch_objective,
    dispatch_self_consumption,
    ev_on_arrival,
    plan_perfect_foresight,
    run_mpc,
)

DATA = PACKAGE_FOLDER


@pytest.fixture(scope="module")
def week():
    if not (DATA / "schema.json").is_file():
        pytest.fail(f"CityLearn 2022 data not found at {DATA}")
    data = load_citylearn_2022(DATA)
    rows = slice(24 * 60, 24 * 64)  # four days in late September
    batteries = data.batteries.reset_index().rename(columns={"home": "battery_id"}).assign(soc_kwh=0.0)
    return (
        data.load_kwh.iloc[rows],
        data.pv_kwh.iloc[rows],
        data.price_per_kwh.to_numpy()[rows],
        data.carbon_kg_per_kwh.to_numpy()[rows],
        batteries,
    )


@pytest.mark.slow
def test_mpc_with_perfect_forecasts_is_within_two_percent_of_the_bound(week):
    load, pv, price, carbon, batteries = week
    options = dict(peak_price_per_kw=0.05, wear_per_kwh=0.002)
    bound = plan_perfect_foresight(load, pv, price, 0.0, batteries, peak_window_intervals=24, **options)
    mpc = run_mpc(
        load,
        pv,
        price,
        0.0,
        batteries,
        load_forecaster=perfect_forecast(load),
        pv_forecaster=perfect_forecast(pv),
        horizon_intervals=24,
        **options,
    )
    naive = run_mpc(
        load,
        pv,
        price,
        0.0,
        batteries,
        load_forecaster=persistence,
        pv_forecaster=persistence,
        horizon_intervals=24,
        **options,
    )
    none = dispatch_no_battery(load.to_numpy(), pv.to_numpy())

    def objective(d):
        return float(dispatch_objective(d, price, 0.0, 1.0, peak_window_intervals=24, **options).sum())

    # the bound is a bound, the perfect-forecast MPC comes within 2% of it, and even persistence saves money
    assert objective(bound) <= objective(mpc) + 1e-6
    assert objective(mpc) <= 1.02 * objective(bound)
    assert objective(bound) < objective(naive) < objective(none)
    ratios = kpi_ratios(mpc.net_kw, none.net_kw, price, carbon, 1.0)
    assert ratios["cost"] < 0.9


def test_self_consumption_baseline_never_exports_while_its_battery_has_room(week):
    load, pv, _, _, batteries = week
    rule = dispatch_self_consumption(load.to_numpy(), pv.to_numpy(), batteries, 1.0)
    room = rule.soc_kwh < batteries["capacity_kwh"].to_numpy() - 1e-6
    assert (rule.export_kw[room] < 1e-9).all()


def test_forecasters_return_the_hand_worked_values():
    index = pd.date_range("2030-01-01", periods=72, freq="1h", tz="UTC")
    actual = pd.DataFrame({"h": np.arange(72.0)}, index=index)
    history, target = actual.iloc[:48], index[48:52]
    assert persistence(history, target)["h"].tolist() == [47.0] * 4
    assert seasonal_naive("1D")(history, target)["h"].tolist() == [24.0, 25.0, 26.0, 27.0]
    assert perfect_forecast(actual)(history, target)["h"].tolist() == [48.0, 49.0, 50.0, 51.0]
    frame = actual.iloc[:50] * 10
    assert from_frame(frame)(history, target)["h"].tolist() == [480.0, 490.0, 47.0, 47.0]


def test_kpis_of_a_hand_worked_two_day_case():
    net = np.zeros((48, 2))
    net[10, 0], net[11, 1], net[30, 0], net[31, 0] = 2.0, 4.0, 1.0, -1.0
    price = np.full(48, 0.5)
    carbon = np.full(48, 0.2)
    kpis = citylearn_kpis(net, price, carbon, 1.0)
    assert kpis["cost"] == pytest.approx(0.5 * 7)  # the export of hour 31 earns nothing
    assert kpis["emissions"] == pytest.approx(0.2 * 7)
    assert kpis["ramping"] == pytest.approx(2 + 2 + 4 + 1 + 2 + 1)
    assert kpis["daily_peak"] == pytest.approx((4 + 1) / 2)
    assert kpis["one_minus_load_factor"] == pytest.approx(1 - (6 / 48) / 4)
    assert kpi_ratios(net, net, price, carbon, 1.0)["score"] == pytest.approx(1.0)


def test_evs_in_mpc_leave_with_their_energy_for_less_than_charging_on_arrival():
    index = pd.date_range("2030-06-01", periods=2 * 96, freq="15min", tz="UTC")
    members = ["h1", "h2"]
    load = pd.DataFrame(0.4, index=index, columns=members)
    pv = pd.DataFrame(0.0, index=index, columns=members)
    hour = index.hour + index.minute / 60
    price = np.where((hour >= 16) & (hour < 21), 0.45, np.where(hour < 6, 0.12, 0.25))
    sessions = pd.DataFrame(
        {
            "session_id": ["a", "b", "c"],
            "asset_id": ["ev1", "ev2", "ev1"],
            "member_id": ["h1", "h2", "h1"],
            "arrival": pd.to_datetime(["2030-06-01 17:30Z", "2030-06-01 20:00Z", "2030-06-02 18:00Z"]),
            "departure": pd.to_datetime(["2030-06-02 07:00Z", "2030-06-02 06:30Z", "2030-06-02 23:00Z"]),
            "energy_kwh": [25.0, 18.0, 10.0],
            "charger_kw": [7.4, 11.0, 7.4],
        }
    )
    batteries = pd.DataFrame({"capacity_kwh": [0.0, 0.0], "power_kw": [0.0, 0.0]})
    mpc = run_mpc(
        load,
        pv,
        price,
        0.0,
        batteries,
        load_forecaster=persistence,
        pv_forecaster=persistence,
        horizon_intervals=96,
        replan_every=4,
        ev_sessions=sessions,
    )
    np.testing.assert_allclose(mpc.ev_delivered_kwh, [25.0, 18.0, 10.0], rtol=1e-6)
    rule = ev_on_arrival(sessions, index, pd.Index(members))
    assert (mpc.ev_kw.sum(axis=1) * price).sum() < (rule.sum(axis=1) * price).sum()
