"""The planner's fast paths give the answers of the plain ones: LP blocks solved on worker processes equal
the serial solves bit for bit, warm-started LPs reach the cold optimum, the mixed method the LP's optimum,
and the warm-started MPC does not depend on the number of workers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.community.citylearn import PACKAGE_FOLDER, load_citylearn_2022
from wattmesh.energy.ev_sessions import ev_slots
from wattmesh.energy.forecasts import persistence
from wattmesh.energy.lp import WarmStart
from wattmesh.energy.mpc import run_mpc
from wattmesh.energy.planner import plan_homes


@pytest.fixture(scope="module")
def homes():
    """Two days of the 17 CityLearn 2022 homes, hourly, with their batteries half full."""
    if not (PACKAGE_FOLDER / "schema.json").is_file():
        pytest.fail(f"CityLearn 2022 data not found at {PACKAGE_FOLDER}")
    data = load_citylearn_2022(PACKAGE_FOLDER)
    rows = slice(24 * 100, 24 * 102)
    batteries = data.batteries.reset_index().rename(columns={"home": "battery_id"})
    batteries = batteries.assign(soc_kwh=batteries["capacity_kwh"] / 2)
    return data.load_kwh.iloc[rows], data.pv_kwh.iloc[rows], data.price_per_kwh.to_numpy()[rows], batteries


def _sessions(load: pd.DataFrame) -> pd.DataFrame:
    """An EV at two of the homes each evening."""
    day = load.index[0].normalize()
    rows = []
    for k, home in enumerate(load.columns[[1, 9]]):
        for d in range(2):
            arrival = day + pd.Timedelta(days=d, hours=17 + k)
            rows.append(
                {
                    "session_id": f"s{k}{d}",
                    "member_id": home,
                    "asset_id": f"ev{k}",
                    "arrival": arrival,
                    "departure": arrival + pd.Timedelta(hours=10),
                    "energy_kwh": 12.0,
                    "charger_kw": 7.0,
                }
            )
    return pd.DataFrame(rows)


def _mpc(homes, workers: int, warm_start: bool, **options):
    load, pv, price, batteries = homes
    return run_mpc(
        load,
        pv,
        price,
        0.05,
        batteries,
        load_forecaster=persistence,
        pv_forecaster=persistence,
        horizon_intervals=24,
        replan_every=2,
        ev_sessions=_sessions(load),
        workers=workers,
        warm_start=warm_start,
        **options,
    )


@pytest.mark.parametrize("warm_start", [False, True])
def test_mpc_on_two_workers_equals_the_serial_run_bit_for_bit(homes, warm_start):
    options = dict(peak_price_per_kw=0.05, homes_per_lp=4)
    serial = _mpc(homes, 1, warm_start, **options)
    parallel = _mpc(homes, 2, warm_start, **options)
    for name in ("charge_kw", "discharge_kw", "soc_kwh", "ev_kw", "import_kw"):
        np.testing.assert_array_equal(getattr(parallel, name), getattr(serial, name), err_msg=name)
    assert parallel.ev_delivered_kwh.tolist() == serial.ev_delivered_kwh.tolist()


def test_warm_started_lps_reach_the_cold_optimum_over_a_rolling_horizon(homes):
    load, pv, price, batteries = homes
    warm = WarmStart()
    for t0 in range(0, 24, 3):
        args = (load.to_numpy()[t0 : t0 + 24], pv.to_numpy()[t0 : t0 + 24], price[t0 : t0 + 24], 0.05)
        options = dict(peak_price_per_kw=0.05, homes_per_lp=6, method="lp")
        cold = plan_homes(*args, batteries, 1.0, **options)
        hot = plan_homes(*args, batteries, 1.0, warm=warm, **options)
        # to HiGHS's tolerances (primal and dual feasibility 1e-7)
        assert hot.objective == pytest.approx(cold.objective, rel=1e-7, abs=1e-7)
        np.testing.assert_allclose(
            hot.import_kw - hot.export_kw,
            hot.charge_kw - hot.discharge_kw + load.to_numpy()[t0 : t0 + 24] - pv.to_numpy()[t0 : t0 + 24],
            atol=1e-7,
        )


def test_mixed_method_has_the_lp_optimum_with_evs_at_some_homes(homes):
    load, pv, price, batteries = homes
    ev = ev_slots(_sessions(load), load.index, list(load.columns))
    args = (load.to_numpy(), pv.to_numpy(), price, 0.05, batteries, 1.0)
    lp = plan_homes(*args, ev=ev, method="lp")
    mixed = plan_homes(*args, ev=ev, method="mixed")
    assert mixed.objective == pytest.approx(lp.objective, rel=1e-7)
    np.testing.assert_allclose(mixed.ev_kw.sum(axis=0), lp.ev_kw.sum(axis=0), atol=1e-6)
    np.testing.assert_allclose(mixed.cost.sum(), lp.cost.sum(), atol=1e-6)
