"""Home positions and order limits: plan -> marginal values -> what each member brings to the market.

The home agent's brain, shared by the strategy tournament, the simulator's report and the live exchange's
home agents: each member's position per interval (generation minus consumption after its battery, as its
energy plan dispatches it) and its limit prices, the marginal values of energy read off that plan
(:func:`~wattmesh.agents.strategies.marginal_value_per_kwh`). :func:`orders_from_positions` turns one
interval of positions into the rows of an order table (:data:`wattmesh.market.orders.ORDERS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.agents.strategies import marginal_value_per_kwh
from wattmesh.community.model import Community
from wattmesh.energy.dispatch import DispatchPlan, plan_rows
from wattmesh.energy.rules import dispatch_rule_batteries, ev_charge_on_arrival_kw


@dataclass(frozen=True)
class Positions:
    """What the members bring to the market: (T, M) deficit and surplus [kWh] and their limits."""

    index: pd.DatetimeIndex
    member_ids: np.ndarray
    deficit_kwh: np.ndarray
    surplus_kwh: np.ndarray
    bid_limit: np.ndarray
    ask_limit: np.ndarray
    retail_per_kwh: np.ndarray
    feed_in_per_kwh: np.ndarray
    fee_per_kwh: float


def community_positions(community: Community, home_plan: DispatchPlan | None = None) -> Positions:
    """Members' deficits, surpluses and limits for a built community, from its energy plan.

    With ``home_plan`` (:class:`~wattmesh.energy.dispatch.DispatchPlan`, e.g. from the MPC planner of
    ``wattmesh.energy.members.plan_homes``) the planned homes' batteries and EVs follow the plan;
    without it, and for the homes the plan leaves out, home batteries follow the self-consumption rule on
    their own position and EVs charge on arrival. The community battery follows the rule on the
    community's position left after the homes, as the simulator's dispatch does. Each member's limits
    are its marginal values of energy read off that dispatch (:func:`marginal_value_per_kwh`).
    """

    dt = community.interval_h
    if home_plan is None:
        ev_kw = ev_charge_on_arrival_kw(community.ev_sessions, community.index, community.member_ids)
    else:
        ev_kw = home_plan.ev_kw
    plan = plan_rows(home_plan, slice(None), dt)
    net = (community.generation_kw - community.load_kw - ev_kw) * dt
    is_shared = (community.members["kind"] == "community").to_numpy()
    storage = community.storage_by_member("battery")
    charge, discharge, soc_kwh = dispatch_rule_batteries(
        net, storage["soc_initial_kwh"], storage, is_shared, dt, plan
    )
    position = net - charge + discharge
    bid_limit, ask_limit = marginal_value_per_kwh(
        community.retail_per_kwh, community.feed_in_per_kwh, position, charge, discharge, soc_kwh, storage, dt
    )
    return Positions(
        index=community.index,
        member_ids=community.member_ids.to_numpy(),
        deficit_kwh=np.maximum(-position, 0.0),
        surplus_kwh=np.maximum(position, 0.0),
        bid_limit=bid_limit,
        ask_limit=ask_limit,
        retail_per_kwh=np.asarray(community.retail_per_kwh, float),
        feed_in_per_kwh=np.asarray(community.feed_in_per_kwh, float),
        fee_per_kwh=float(community.local_fee_per_kwh),
    )


def orders_from_positions(
    positions: Positions,
    row: int,
    bid_price_per_kwh: np.ndarray | None = None,
    ask_price_per_kwh: np.ndarray | None = None,
    min_energy_kwh: float = 1e-6,
) -> pd.DataFrame:
    """One interval's orders (:data:`~wattmesh.market.orders.ORDERS` rows): a bid per member in deficit and
    an ask per member in surplus.

    Parameters
    ----------
    positions : the members' positions and limits
    row : the interval's row in ``positions.index``
    bid_price_per_kwh, ask_price_per_kwh : (M,) prices a strategy posts; default the limits (truthful)
    min_energy_kwh : smaller positions post no order [kWh]

    Order ids are ``<member>-<interval start, compact UTC>-buy`` / ``-sell``: one order per member,
    side and interval.
    """
    bid = positions.bid_limit[row] if bid_price_per_kwh is None else np.asarray(bid_price_per_kwh, float)
    ask = positions.ask_limit[row] if ask_price_per_kwh is None else np.asarray(ask_price_per_kwh, float)
    start = positions.index[row]
    stamp = start.tz_convert("UTC").strftime("%Y%m%dT%H%MZ")
    frames = []
    for side, energy, price in (
        ("buy", positions.deficit_kwh[row], bid),
        ("sell", positions.surplus_kwh[row], ask),
    ):
        has = energy >= min_energy_kwh
        members = positions.member_ids[has].astype(str)
        frames.append(
            pd.DataFrame(
                {
                    "order_id": [f"{m}-{stamp}-{side}" for m in members],
                    "member_id": members,
                    "side": side,
                    "energy_kwh": energy[has],
                    "price_per_kwh": price[has],
                    "delivery_start": start,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
