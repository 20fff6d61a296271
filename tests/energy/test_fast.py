"""The structure-exploiting planner gives the LP's optimum (``plan_homes``) to rounding, for many homes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.energy.fast import plan_batteries_fast
from wattmesh.energy.planner import plan_homes


def random_homes(seed: int, n_t: int = 96, n_m: int = 12):
    rng = np.random.default_rng(seed)
    load = rng.uniform(0.1, 3.0, (n_t, n_m))
    pv = np.clip(np.sin(np.linspace(-0.5, np.pi + 0.5, n_t))[:, None] * rng.uniform(0, 6, n_m), 0, None)
    batteries = pd.DataFrame(
        {
            "capacity_kwh": rng.uniform(2, 14, n_m),
            "power_kw": rng.uniform(1, 6, n_m),
            "efficiency": rng.uniform(0.75, 1.0, n_m),
            "soc_min_fraction": rng.uniform(0, 0.2, n_m),
            "soc_max_fraction": rng.uniform(0.8, 1.0, n_m),
        }
    )
    batteries["soc_kwh"] = batteries["capacity_kwh"] * rng.uniform(0.2, 0.8, n_m)
    hours = np.arange(n_t)[:, None]
    buy = np.where((hours >= 64) & (hours < 84), 0.4, 0.2) + rng.uniform(0, 0.05, (n_t, n_m))
    sell = rng.uniform(0, 0.15, (n_t, n_m))
    return load, pv, buy, sell, batteries


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_planner_matches_the_lp_optimum_home_by_home(seed):
    load, pv, buy, sell, batteries = random_homes(seed)
    cap = np.full(load.shape, np.nan)
    cap[70:78, ::2] = 1.0  # a demand-response cap on every second home, below some must-run loads
    options = dict(wear_per_kwh=0.01, terminal_value_per_kwh=0.15, import_cap_kw=cap)
    fast = plan_batteries_fast(load, pv, buy, sell, batteries, 0.25, **options)
    lp = plan_homes(load, pv, buy, sell, batteries, 0.25, warn=False, method="lp", **options)
    single = [
        plan_homes(
            load[:, [m]],
            pv[:, [m]],
            buy[:, [m]],
            sell[:, [m]],
            batteries.iloc[[m]],
            0.25,
            warn=False,
            method="lp",
            wear_per_kwh=0.01,
            terminal_value_per_kwh=0.15,
            import_cap_kw=cap[:, [m]],
        ).objective
        for m in range(load.shape[1])
    ]
    np.testing.assert_allclose(fast.objective, single, rtol=1e-9, atol=1e-9)
    assert fast.objective.sum() == pytest.approx(lp.objective, rel=1e-9)
    # the plan it returns is feasible: state of charge within limits, power within limits
    capacity = batteries["capacity_kwh"].to_numpy()
    assert (fast.soc_kwh >= capacity * batteries["soc_min_fraction"].to_numpy() - 1e-9).all()
    assert (fast.soc_kwh <= capacity * batteries["soc_max_fraction"].to_numpy() + 1e-9).all()
    assert (fast.charge_kw <= batteries["power_kw"].to_numpy() + 1e-9).all()


def test_fast_planner_refuses_prices_that_would_pay_for_waste():
    load, pv, buy, _, batteries = random_homes(4, n_t=8, n_m=2)
    with pytest.raises(ValueError, match="sell_price_per_kwh"):
        plan_batteries_fast(load, pv, buy, buy + 0.1, batteries, 0.25)


def test_fast_planner_matches_the_lp_on_a_two_level_tariff_over_two_days():
    """Flat prices give many pieces of the same slope, which the dynamic programme joins; the optimum
    must stay the LP's, home by home, and the plan must keep every limit and the energy balance."""
    load, pv, _, _, batteries = random_homes(5, n_t=192, n_m=16)
    hours = np.arange(192) % 96
    buy = np.where((hours >= 64) & (hours < 84), 0.40, 0.32)
    sell = 0.08
    fast = plan_batteries_fast(load, pv, buy, sell, batteries, 0.25, wear_per_kwh=0.002)
    single = [
        plan_homes(
            load[:, [m]], pv[:, [m]], buy, sell, batteries.iloc[[m]], 0.25, warn=False, method="lp"
        ).objective
        for m in range(load.shape[1])
    ]
    np.testing.assert_allclose(fast.objective, single, rtol=1e-7, atol=1e-9)
    eta = np.sqrt(batteries["efficiency"].to_numpy())
    soc_before = np.vstack([batteries["soc_kwh"].to_numpy()[None, :], fast.soc_kwh[:-1]])
    np.testing.assert_allclose(
        fast.soc_kwh - soc_before, 0.25 * (eta * fast.charge_kw - fast.discharge_kw / eta), atol=1e-9
    )
    np.testing.assert_allclose(
        fast.import_kw - fast.export_kw, load - pv + fast.charge_kw - fast.discharge_kw, atol=1e-9
    )
    assert (fast.discharge_kw <= batteries["power_kw"].to_numpy() + 1e-9).all()
