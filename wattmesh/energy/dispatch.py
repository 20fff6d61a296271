"""The members' planned dispatch: which homes follow a plan, and the plan's battery and EV power per member.

A :class:`DispatchPlan` covers every member of a community, (intervals, members); the simulator, the
strategy tournament and a home agent all read it the same way through :func:`plan_rows`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DispatchPlan:
    """Home batteries and EVs dispatched by a planner instead of the rules, (T, M) over all members.

    Attributes
    ----------
    planned : (M,) members whose batteries follow the plan (the others keep the self-consumption rule)
    charge_kw, discharge_kw : battery power at the meter [kW]
    soc_kwh : state of charge at the end of each interval [kWh]
    ev_kw : EV charging of every member [kW] (replaces charge-on-arrival where a plan is followed)
    label : how it was planned, for the report
    forecasts_kw : the planner's day-ahead (load, PV) forecasts [kW] of the planned homes (interval
        starts x member ids), where it made them (similar-days or LightGBM forecasts), else None; what
        a later run over part of the span (the report's planner vs bound) reuses instead of refitting
    events : the demand-response events the planner was asked to honour (a conformed ``DR_EVENTS`` table),
        or None where there were none
    import_cap_kw : (T, M) the cap on each member's import it planned with, NaN where none [kW]
    community_import_cap_kw : (T,) the cap on the planned homes' summed net import, NaN where none [kW]
    expected_import_kw : (T, M) each member's import expected without demand response, from which a
        reduction event is cut (0 for members not planned) [kW]
    """

    planned: np.ndarray
    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    soc_kwh: np.ndarray
    ev_kw: np.ndarray
    label: str
    forecasts_kw: tuple[pd.DataFrame, pd.DataFrame] | None = field(default=None, repr=False, compare=False)
    events: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    import_cap_kw: np.ndarray | None = field(default=None, repr=False, compare=False)
    community_import_cap_kw: np.ndarray | None = field(default=None, repr=False, compare=False)
    expected_import_kw: np.ndarray | None = field(default=None, repr=False, compare=False)


def plan_rows(plan: DispatchPlan | None, rows: slice, interval_h: float):
    """The plan's (planned mask, charge [kWh], discharge [kWh], soc [kWh]) for ``rows``, or None.

    The form :func:`wattmesh.energy.rules.dispatch_rule_batteries` takes as its ``plan``.
    """
    if plan is None:
        return None
    return (
        plan.planned,
        plan.charge_kw[rows] * interval_h,
        plan.discharge_kw[rows] * interval_h,
        plan.soc_kwh[rows],
    )
