"""The members' planned dispatch: which homes follow a plan, and the plan's battery and EV power per member.

A :class:`DispatchPlan` covers every member of a community, (intervals, members); the simulator, the
strategy tournament and a home agent all read it the same way through :func:`plan_rows`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
    """

    planned: np.ndarray
    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    soc_kwh: np.ndarray
    ev_kw: np.ndarray
    label: str


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
