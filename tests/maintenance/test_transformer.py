"""IEC 60076-7 hot spot and ageing against hand-worked cases and the standard's exponential solution."""

import numpy as np
import pandas as pd
import pytest

from wattmesh.maintenance.pv import MaintenanceInputError
from wattmesh.maintenance.transformer import (
    ThermalParameters,
    assess_transformer,
    compare_loadings,
    ev_charging_load_kw,
    hot_spot_difference,
    relative_ageing_rate,
)

INDEX = pd.date_range("2025-06-01", periods=96 * 2, freq="15min", tz="UTC")


def test_relative_ageing_doubles_every_six_kelvin():
    assert relative_ageing_rate(np.array([98.0, 104.0, 92.0, 110.0])) == pytest.approx([1.0, 2.0, 0.5, 4.0])


def test_rated_load_at_20c_ages_at_the_normal_rate():
    r = assess_transformer(pd.Series(400.0, index=INDEX), 400.0, 20.0)
    assert r.peak_hot_spot_c == pytest.approx(98.0)
    assert r.ageing_budget_used_pct == pytest.approx(100.0)
    hot = assess_transformer(pd.Series(400.0, index=INDEX), 400.0, 26.0)
    assert hot.loss_of_life_h == pytest.approx(2.0 * 48.0)


def test_steady_overload_matches_hand_computed_hot_spot():
    # K = 1.2, ambient 30 C: 30 + 55 * ((1 + 5 * 1.44) / 6) ** 0.8 + 23 * 1.2 ** 1.6
    expected = 30 + 55 * (8.2 / 6) ** 0.8 + 23 * 1.2**1.6  # 30 + 70.17 + 30.95
    r = assess_transformer(pd.Series(480.0, index=INDEX), 400.0, 30.0)
    assert r.hot_spot_c.iloc[-1] == pytest.approx(expected, abs=1e-6)
    assert r.relative_ageing.iloc[-1] == pytest.approx(2 ** ((expected - 98) / 6), rel=1e-6)


def test_step_response_follows_the_standards_exponential_solution():
    # ONAF-like constants with k21 = 2 exercise both hot-spot terms (IEC 60076-7 clause 8.2.2).
    p = ThermalParameters(
        top_oil_rise_k=38.3,
        hot_spot_gradient_k=26.0,
        loss_ratio=6.0,
        x=0.8,
        y=1.3,
        k11=0.5,
        k21=2.0,
        k22=2.0,
        tau_o_min=150.0,
        tau_w_min=7.0,
    )
    dt = 0.05
    t = np.arange(0, 600, dt)
    k = np.where(t < 1e-9, 0.6, 1.3)
    amb = 25.0
    top_oil, hot = hot_spot_difference(k, np.full(t.size, amb), dt, p)
    oil_i = amb + ((1 + 0.36 * 6) / 7) ** 0.8 * 38.3
    oil_u = amb + ((1 + 1.69 * 6) / 7) ** 0.8 * 38.3
    dh_i, dh_u = 26.0 * 0.6**1.3, 26.0 * 1.3**1.3
    oil_ref = oil_i + (oil_u - oil_i) * (1 - np.exp(-t / (0.5 * 150.0)))
    f2 = 2.0 * (1 - np.exp(-t / (2.0 * 7.0))) - 1.0 * (1 - np.exp(-t / (150.0 / 2.0)))
    hot_ref = oil_ref + dh_i + (dh_u - dh_i) * f2
    # The explicit scheme applies a step one Dt late: compare sample n with the solution at t_n - Dt.
    assert np.max(np.abs(top_oil[1:] - oil_ref[:-1])) < 0.05
    assert np.max(np.abs(hot[1:] - hot_ref[:-1])) < 0.05


def test_filter_equals_a_plain_loop_of_the_difference_equations():
    rng = np.random.default_rng(0)
    k = np.repeat(rng.uniform(0.2, 1.4, 200), 15)
    amb = np.repeat(rng.uniform(0, 35, 200), 15)
    p = ThermalParameters(k21=1.5)
    top, hot = hot_spot_difference(k, amb, 1.0, p)
    o = amb[0] + ((1 + k[0] ** 2 * 5) / 6) ** 0.8 * 55
    h1, h2 = 1.5 * 23 * k[0] ** 1.6, 0.5 * 23 * k[0] ** 1.6
    ref = [o + h1 - h2]
    for n in range(k.size - 1):
        o += 1.0 / 180.0 * (((1 + k[n] ** 2 * 5) / 6) ** 0.8 * 55 - (o - amb[n]))
        h1 += 1.0 / (2 * 4.0) * (1.5 * 23 * k[n] ** 1.6 - h1)
        h2 += 1.0 / (180.0 / 2) * (0.5 * 23 * k[n] ** 1.6 - h2)
        ref.append(o + h1 - h2)
    assert np.allclose(hot, ref, atol=1e-9)


def test_missing_rating_is_refused_with_what_was_not_computed():
    with pytest.raises(MaintenanceInputError, match="rating_kva.*not computed"):
        assess_transformer(pd.Series(100.0, index=INDEX), None, 20.0, "t1")


def test_ev_on_arrival_ages_more_than_planned_charging():
    index = pd.date_range("2025-01-06", periods=96 * 7, freq="15min", tz="UTC")
    hours = index.hour + index.minute / 60
    base = pd.Series(220 + 150 * np.exp(-((hours - 18.5) ** 2) / 3.0), index=index)
    days = pd.date_range("2025-01-06", periods=7, freq="D", tz="UTC")
    sessions = pd.DataFrame(
        {
            "arrival": np.repeat(days + pd.Timedelta(hours=17.5), 20),
            "departure": np.repeat(days + pd.Timedelta(hours=31), 20),
            "energy_kwh": 20.0,
            "power_kw": 11.0,
        }
    )
    on_arrival = ev_charging_load_kw(index, sessions, "on_arrival")
    planned = ev_charging_load_kw(index, sessions, "planned", base)
    assert on_arrival.sum() * 0.25 == pytest.approx(planned.sum() * 0.25)
    assert on_arrival.sum() * 0.25 == pytest.approx(20.0 * len(sessions))
    table = compare_loadings({"on_arrival": base + on_arrival, "planned": base + planned}, 400.0, 20.0)
    assert table.loc["planned", "loss_of_life_h"] < table.loc["on_arrival", "loss_of_life_h"]
    assert table.loc["planned", "peak_load_kva"] < table.loc["on_arrival", "peak_load_kva"]
