"""The community planner: the community battery, and optionally the home batteries with it, scheduled for
the transformer's view (the community's net import peak and cost) under demand-response caps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.energy.battery import validate_batteries
from wattmesh.energy.planner import EvSlots, HomePlan, _per_home, plan_homes


@dataclass
class CommunityPlan:
    """The homes' plan and the community battery's, with the community's net import (T,) [kW]."""

    homes: HomePlan
    battery_charge_kw: np.ndarray
    battery_discharge_kw: np.ndarray
    battery_soc_kwh: np.ndarray
    community_import_kw: np.ndarray
    warnings: list[str]


def plan_community(
    load_kw: np.ndarray,
    pv_kw: np.ndarray,
    buy_price_per_kwh: np.ndarray,
    sell_price_per_kwh: np.ndarray | float,
    batteries: pd.DataFrame,
    interval_h: float,
    *,
    community_battery: pd.DataFrame | None = None,
    coordinate: bool = True,
    community_peak_price_per_kw: float = 0.1,
    community_import_cap_kw: np.ndarray | None = None,
    peak_window_intervals: int | None = None,
    ev: EvSlots | None = None,
    member_ids: list[str] | None = None,
    warn: bool = True,
    **home_options,
) -> CommunityPlan:
    """Plan the community battery (and the homes) to cut the community's import peak and cost.

    Parameters
    ----------
    load_kw, pv_kw, buy_price_per_kwh, sell_price_per_kwh, batteries, interval_h, ev :
        the homes, as for ``plan_homes``; the community battery's meter pays the homes' mean prices
    community_battery : one row (capacity_kwh, power_kw, efficiency, soc_kwh, ...) or None
    coordinate : True: one LP over the homes and the community battery together; False: the homes plan
        for themselves first (``plan_homes``), then the community battery plans against their sum
    community_peak_price_per_kw : charge on the community's highest net import per peak window
        [currency/kW]
    community_import_cap_kw : (T,) demand-response cap on the community's net import, NaN where none [kW]
    home_options : passed to ``plan_homes`` (peak_price_per_kw, wear_per_kwh, import_cap_kw, ...)

    Returns
    -------
    CommunityPlan
        with every relaxed request in ``warnings`` (e.g. a cap that the flexible assets cannot meet).
    """
    load_kw = np.atleast_2d(np.asarray(load_kw, dtype=float))
    n_t, n_m = load_kw.shape
    names = [str(m) for m in (member_ids if member_ids is not None else range(n_m))]
    buy = _per_home(buy_price_per_kwh, n_t, n_m, "buy_price_per_kwh")
    sell = _per_home(sell_price_per_kwh, n_t, n_m, "sell_price_per_kwh")
    if community_battery is None:
        community_battery = pd.DataFrame(
            {"battery_id": ["community"], "capacity_kwh": [0.0], "power_kw": [0.0]}
        )
    cb = validate_batteries(community_battery)
    if len(cb) != 1:
        raise ValueError(f"community_battery has {len(cb)} rows, expected 1")
    common = dict(peak_window_intervals=peak_window_intervals, warn=warn)
    if coordinate:
        home_cap = home_options.pop("import_cap_kw", None)
        if home_cap is not None:
            home_cap = np.hstack([home_cap, np.full((n_t, 1), np.nan)])
        plan = plan_homes(
            np.hstack([load_kw, np.zeros((n_t, 1))]),
            np.hstack([np.asarray(pv_kw, dtype=float), np.zeros((n_t, 1))]),
            np.hstack([buy, buy.mean(axis=1, keepdims=True)]),
            np.hstack([sell, sell.mean(axis=1, keepdims=True)]),
            pd.concat([validate_batteries(batteries), cb], ignore_index=True),
            interval_h,
            ev=ev,
            import_cap_kw=home_cap,
            community_import_cap_kw=community_import_cap_kw,
            community_peak_price_per_kw=community_peak_price_per_kw,
            member_ids=[*names, str(cb["battery_id"].iloc[0])],
            **common,
            **home_options,
        )
        homes = _first_columns(plan, n_m)
        return CommunityPlan(
            homes=homes,
            battery_charge_kw=plan.charge_kw[:, -1],
            battery_discharge_kw=plan.discharge_kw[:, -1],
            battery_soc_kwh=plan.soc_kwh[:, -1],
            community_import_kw=(plan.import_kw - plan.export_kw).sum(axis=1),
            warnings=plan.warnings,
        )
    homes = plan_homes(
        load_kw, pv_kw, buy, sell, batteries, interval_h, ev=ev, member_ids=names, **common, **home_options
    )
    residual = (homes.import_kw - homes.export_kw).sum(axis=1)
    wear = home_options.get("wear_per_kwh", 0.002)
    battery = plan_homes(
        np.maximum(residual, 0.0)[:, None],
        np.maximum(-residual, 0.0)[:, None],
        buy.mean(axis=1),
        sell.mean(axis=1),
        cb,
        interval_h,
        peak_price_per_kw=community_peak_price_per_kw,
        import_cap_kw=None
        if community_import_cap_kw is None
        else np.asarray(community_import_cap_kw)[:, None],
        wear_per_kwh=wear,
        member_ids=["community"],
        **common,
    )
    return CommunityPlan(
        homes=homes,
        battery_charge_kw=battery.charge_kw[:, 0],
        battery_discharge_kw=battery.discharge_kw[:, 0],
        battery_soc_kwh=battery.soc_kwh[:, 0],
        community_import_kw=residual + battery.charge_kw[:, 0] - battery.discharge_kw[:, 0],
        warnings=homes.warnings + battery.warnings,
    )


def _first_columns(plan: HomePlan, n_m: int) -> HomePlan:
    """The plan of the first ``n_m`` members (the homes, without the community battery)."""
    return HomePlan(
        charge_kw=plan.charge_kw[:, :n_m],
        discharge_kw=plan.discharge_kw[:, :n_m],
        soc_kwh=plan.soc_kwh[:, :n_m],
        import_kw=plan.import_kw[:, :n_m],
        export_kw=plan.export_kw[:, :n_m],
        ev_kw=plan.ev_kw[:, :n_m],
        ev_slot_kw=plan.ev_slot_kw,
        relaxed_cap_kw=plan.relaxed_cap_kw[:, :n_m],
        community_import_kw=plan.community_import_kw,
        cost=plan.cost[:n_m],
        objective=plan.objective,
        warnings=plan.warnings,
    )
