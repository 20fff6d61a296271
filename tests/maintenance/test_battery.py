"""Battery state of health, resistance and remaining life on simulated (Schmalstieg-aged) batteries."""

import numpy as np
import pandas as pd
import pytest

from wattmesh.maintenance.battery import (
    BatteryPack,
    ageing_schmalstieg,
    assess_battery,
    simulate_day,
    simulate_history,
)
from wattmesh.maintenance.faults import inject_capacity_fade
from wattmesh.maintenance.pv import MaintenanceInputError


def test_schmalstieg_capacity_by_hand():
    # 25 C, mean SoC 0.5 (OCV 3.70 V from the table), DoD 0.6, 365 days, 1000 Ah per cell.
    a = (7.543 * 3.70 - 23.75) * 1e6 * np.exp(-6976 / 298.15)
    b = 7.348e-3 * (3.70 - 3.667) ** 2 + 7.6e-4 + 4.081e-3 * 0.6
    cap, res = ageing_schmalstieg(np.array([0.0, 365.0]), np.array([0.0, 1000.0]), 0.5, 0.6, 25.0)
    assert cap[0] == pytest.approx(1.0)
    assert cap[1] == pytest.approx(1 - a * 365**0.75 - b * np.sqrt(1000.0))
    assert 0.80 < cap[1] < 0.95 and res[1] > 1.0


def _assess(readings, pack):
    return assess_battery(
        pd.DatetimeIndex(readings.index),
        readings["current_a"].to_numpy(),
        readings["voltage_v"].to_numpy(),
        pack.capacity_ah,
        pack.n_series,
        pack.name,
    )


def test_state_of_health_within_one_point_of_the_simulated_truth():
    pack = BatteryPack(capacity_ah=150.0)
    readings, truth = simulate_history(pack, 720, 45, 0.7, 30.0, seed=4)
    res = _assess(readings, pack)
    err = res.soh_pct.to_numpy() - truth.reindex(res.soh_pct.index.floor("D")).to_numpy()
    assert np.max(np.abs(err)) <= 1.0
    assert res.resistance_growth_pct > 5.0


def test_sudden_capacity_fade_shows_in_the_estimates():
    pack = BatteryPack()
    days = np.arange(0, 300, 20)
    cap, label = inject_capacity_fade(np.ones(days.size), days, 150, 0.1, "b1")
    assert label.fault_type == "capacity_fade" and cap[-1] == pytest.approx(0.9)
    readings, truth = simulate_history(pack, 300, 20, 0.6, 20.0, seed=2, fade_events=[(150, 0.1)])
    res = _assess(readings, pack)
    before = res.soh_pct[res.soh_pct.index < truth.index[0] + pd.Timedelta(days=150)].median()
    after = res.soh_pct[res.soh_pct.index >= truth.index[0] + pd.Timedelta(days=150)].median()
    assert before - after > 8.0


def test_remaining_life_is_a_range_that_holds_the_true_end_of_life():
    pack = BatteryPack()
    readings, truth = simulate_history(pack, 540, 30, 0.5, 20.0, seed=5)
    res = _assess(readings, pack)
    # Truth: when the same ageing model crosses 80 %.
    days = np.arange(0, 20000)
    cap, _ = ageing_schmalstieg(days, days * 2 * 0.5 * 2.15, 0.5, 0.5, 20.0)
    true_left = int(np.argmax(cap < 0.8)) - 510
    assert res.rul_days_low < res.rul_days_high
    assert res.rul_days_low <= true_left <= res.rul_days_high


def test_battery_without_rest_periods_is_refused():
    pack = BatteryPack(name="b9")
    day = simulate_day(pack, pack.capacity_ah, 1.0, 0.2, 0.6, np.random.default_rng(0), rest=False)
    day.index = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(day.index, unit="s")
    with pytest.raises(MaintenanceInputError, match="b9.*rest period.*not computed"):
        _assess(day, pack)
