"""Plan home batteries and EVs with the MPC planner of :mod:`wattmesh.energy`, and compare strategies.

Orchestration only. Forecasts: each home's load and PV are forecast day-ahead from what it has measured
so far (``wattmesh.forecast``'s similar-days average: the mean of the same time on the last similar days,
issued 24 h ahead), persistence where there is no history yet, or perfect forecasts for a bound.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wattmesh.community.model import Community
from wattmesh.simulate.engine import HomePlan

FORECASTS = ("similar_days", "persistence", "perfect")


def _forecasters(kind: str, load: pd.DataFrame, pv: pd.DataFrame):
    from wattmesh.energy.forecasts import from_frame, perfect_forecast, persistence
    from wattmesh.forecast.baselines import similar_days_average

    if kind == "perfect":
        return perfect_forecast(load), perfect_forecast(pv)
    if kind == "persistence":
        return persistence, persistence
    return from_frame(similar_days_average(load, "24h")), from_frame(similar_days_average(pv, "24h"))


def plan_homes(
    community: Community,
    forecast: str = "similar_days",
    replan_every: int = 4,
    peak_price_per_kw: float = 0.0,
) -> HomePlan:
    """Run the MPC planner for every home with a battery or an EV over the community's span."""
    from wattmesh.energy.battery import member_batteries
    from wattmesh.energy.mpc import run_mpc

    if forecast not in FORECASTS:
        raise ValueError(f"energy.forecast {forecast!r} is not one of {', '.join(FORECASTS)}")
    members = community.members
    assets = community.assets
    owners = set(assets.loc[assets["kind"].isin(["battery", "ev"]), "member_id"])
    planned = (members["member_id"].isin(owners) & (members["kind"] != "community")).to_numpy()
    ids = members["member_id"][planned]
    load = pd.DataFrame(community.load_kw[:, planned], index=community.index, columns=ids)
    pv = pd.DataFrame(community.generation_kw[:, planned], index=community.index, columns=ids)
    sessions = community.ev_sessions[community.ev_sessions["member_id"].isin(ids)].reset_index(drop=True)
    load_forecaster, pv_forecaster = _forecasters(forecast, load, pv)
    dispatch = run_mpc(
        load,
        pv,
        community.retail_per_kwh,
        community.feed_in_per_kwh,
        member_batteries(assets, ids),
        load_forecaster=load_forecaster,
        pv_forecaster=pv_forecaster,
        replan_every=replan_every,
        ev_sessions=sessions if len(sessions) else None,
        peak_price_per_kw=peak_price_per_kw,
    )
    shape = community.load_kw.shape

    def widen(a: np.ndarray) -> np.ndarray:
        out = np.zeros(shape)
        out[:, planned] = a
        return out

    return HomePlan(
        planned=planned,
        charge_kw=widen(dispatch.charge_kw),
        discharge_kw=widen(dispatch.discharge_kw),
        soc_kwh=widen(dispatch.soc_kwh),
        ev_kw=widen(dispatch.ev_kw),
        label=f"MPC planner ({forecast} forecasts, re-planned every {replan_every} intervals)",
    )


def compare_home_strategies(
    community: Community, start: pd.Timestamp, end: pd.Timestamp, forecast: str
) -> pd.DataFrame:
    """No battery, the self-consumption rule, the MPC planner and the perfect-foresight bound, side by side.

    For the homes with a battery, from ``start`` to ``end`` (the report uses its typical week: the bound
    is one LP over the whole window). Columns: bill, mean daily peak, objective, objective / bound and
    the share of the bound's savings (see :func:`wattmesh.energy.compare.compare_strategies`).
    """
    from wattmesh.energy.battery import member_batteries
    from wattmesh.energy.compare import compare_strategies

    members = community.members
    assets = community.assets
    owners = set(assets.loc[assets["kind"] == "battery", "member_id"])
    homes = (members["member_id"].isin(owners) & (members["kind"] != "community")).to_numpy()
    rows = (community.index >= start) & (community.index <= end)
    ids = members["member_id"][homes]
    load = pd.DataFrame(community.load_kw[rows][:, homes], index=community.index[rows], columns=ids)
    pv = pd.DataFrame(community.generation_kw[rows][:, homes], index=community.index[rows], columns=ids)
    table, _ = compare_strategies(
        load,
        pv,
        community.retail_per_kwh[rows],
        community.feed_in_per_kwh[rows],
        member_batteries(assets, ids),
        forecasters={f"{forecast.replace('_', '-')} forecasts": _forecasters(forecast, load, pv)},
    )
    table.attrs["start"] = f"{start:%Y-%m-%d %H:%M}"
    table.attrs["end"] = f"{end:%Y-%m-%d %H:%M} UTC"
    return table
