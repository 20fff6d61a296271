"""The simulator with the MPC planner for home batteries and EVs, and the comparison with the bound."""

import numpy as np
import pandas as pd
import pytest

from wattmesh.energy.members import compare_home_strategies, plan_dispatch
from wattmesh.simulate.engine import simulate


@pytest.fixture(scope="module")
def planned(short_community):
    plan = plan_dispatch(short_community, forecast="perfect", replan_every=4)
    return plan, simulate(short_community, seed=4, home_plan=plan)


def test_planned_run_keeps_every_balance(planned):
    _, result = planned
    r = result.full.detail
    supply = r.generation_kwh + r.discharge_kwh + r.bought_kwh + r.import_kwh
    use = r.consumption_kwh + r.charge_kwh + r.sold_kwh + r.export_kwh
    np.testing.assert_allclose(supply, use, atol=1e-9)
    assert (r.import_kwh >= -1e-9).all() and (r.export_kwh >= -1e-9).all()


def test_planned_batteries_stay_within_capacity_and_evs_get_their_energy(planned, short_community):
    plan, _ = planned
    storage = short_community.storage_by_member("battery")
    assert (plan.soc_kwh <= storage["capacity_kwh"][None, :] + 1e-6).all()
    assert (plan.soc_kwh >= -1e-6).all()
    sessions = short_community.ev_sessions
    index = short_community.index
    inside = (pd.to_datetime(sessions["arrival"]) >= index[0]) & (
        pd.to_datetime(sessions["departure"]) <= index[-1] + (index[1] - index[0])
    )
    needed = sessions.loc[inside, "energy_kwh"].sum()
    charged = plan.ev_kw.sum() * short_community.interval_h
    # Sessions straddling the span's edges may add some energy; the ones inside must all be served.
    assert charged >= needed - 1e-6


def test_community_battery_keeps_its_rule_under_a_home_plan(planned, short_community):
    plan, result = planned
    column = (short_community.members["kind"] == "community").to_numpy()
    assert not plan.planned[column].any()
    assert result.full.detail.import_kwh[:, column].sum() == pytest.approx(0.0, abs=1e-9)


def test_no_strategy_beats_the_perfect_foresight_bound(short_community):
    index = short_community.index
    table = compare_home_strategies(short_community, index[0], index[95], "persistence")
    bound = table.loc["perfect-foresight LP (bound)", "objective"]
    assert (table["objective"] >= bound - 1e-6).all()
    assert table.loc["perfect-foresight LP (bound)", "share of bound savings"] == pytest.approx(1.0)
