"""Rule-based dispatch of batteries and EVs: the self-consumption rule and charge-on-arrival.

These are the reference strategies that the optimising planners are measured against. All functions are
pure and vectorised over members; the battery rule steps through time because the state of charge
carries from one interval to the next.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wattmesh.energy.common import ranges


def battery_step(
    net_kwh: np.ndarray,
    soc_kwh: np.ndarray,
    capacity_kwh: np.ndarray,
    power_kw: np.ndarray,
    efficiency: np.ndarray,
    interval_h: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One interval of the self-consumption rule for many batteries at once.

    Parameters
    ----------
    net_kwh : (M,) own generation minus own consumption in the interval [kWh]; > 0 is surplus
    soc_kwh : (M,) state of charge at the start of the interval [kWh]
    capacity_kwh, power_kw : (M,) usable capacity [kWh] and charge/discharge power limit [kW]
    efficiency : (M,) round-trip efficiency [-], split evenly between charging and discharging
    interval_h : interval length [h]

    Returns
    -------
    charge_kwh : (M,) energy drawn into the battery (from the meter's side) [kWh]
    discharge_kwh : (M,) energy delivered by the battery (to the meter's side) [kWh]
    soc_kwh : (M,) state of charge at the end of the interval [kWh]

    Notes
    -----
    Surplus charges the battery up to its power limit and free capacity; a deficit is covered from the
    battery up to its power limit and stored energy. With one-way efficiency eta = sqrt(round trip), a
    charge of c kWh stores c * eta and a discharge of d kWh takes d / eta from storage.
    """
    eta = np.sqrt(efficiency)
    limit_kwh = power_kw * interval_h
    charge = np.minimum(np.minimum(np.maximum(net_kwh, 0.0), limit_kwh), (capacity_kwh - soc_kwh) / eta)
    discharge = np.minimum(np.minimum(np.maximum(-net_kwh, 0.0), limit_kwh), soc_kwh * eta)
    soc = soc_kwh + charge * eta - discharge / eta
    return charge, discharge, np.clip(soc, 0.0, capacity_kwh)


def dispatch_rule_batteries(
    net_kwh: np.ndarray,
    soc_kwh: np.ndarray,
    storage: dict[str, np.ndarray],
    is_community: np.ndarray,
    interval_h: float,
    plan: tuple | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Battery charge, discharge and end-of-interval state of charge (T, M) under the self-consumption rule.

    Home batteries act on their member's own net position ``net_kwh`` (generation minus consumption);
    the community battery (members where ``is_community``) acts on the sum of all members' positions
    left after the home batteries. ``soc_kwh`` (M,) is the state of charge before the first interval.
    ``plan`` (planned mask, charge, discharge, soc) overrides the rule for the planned members.
    """
    planned = np.zeros_like(is_community) if plan is None else plan[0] & ~is_community
    home = ~is_community & ~planned  # homes under the rule
    n_intervals, n_members = net_kwh.shape
    charge = np.zeros((n_intervals, n_members))
    discharge = np.zeros((n_intervals, n_members))
    soc_out = np.zeros((n_intervals, n_members))
    if plan is not None:
        charge[:, planned], discharge[:, planned], soc_out[:, planned] = (a[:, planned] for a in plan[1:])
    planned_net = (net_kwh[:, planned] - charge[:, planned] + discharge[:, planned]).sum(axis=1)
    soc = soc_kwh.copy()
    capacity, power, efficiency = storage["capacity_kwh"], storage["power_kw"], storage["efficiency"]
    home_args = (capacity[home], power[home], efficiency[home])
    community_args = (capacity[is_community], power[is_community], efficiency[is_community])
    n_shared = int(is_community.sum())
    home_net = net_kwh[:, home]
    home_soc = soc[home]
    shared_soc = soc[is_community]
    for t in range(n_intervals):
        c, d, home_soc = battery_step(home_net[t], home_soc, *home_args, interval_h)
        charge[t, home], discharge[t, home] = c, d
        if n_shared:
            residual = home_net[t].sum() - c.sum() + d.sum() + planned_net[t]
            shared = np.full(n_shared, residual / n_shared)
            cc, cd, shared_soc = battery_step(shared, shared_soc, *community_args, interval_h)
            charge[t, is_community], discharge[t, is_community] = cc, cd
        soc_out[t, home] = home_soc
        soc_out[t, is_community] = shared_soc
    return charge, discharge, soc_out


def ev_charge_on_arrival_kw(
    sessions: pd.DataFrame, index: pd.DatetimeIndex, member_ids: pd.Index
) -> np.ndarray:
    """Charging power (T, M) when every EV charges at its charger's limit from arrival until it has what it needs.

    Parameters
    ----------
    sessions : EV sessions table (``EV_SESSIONS``): member_id, arrival, departure, energy_kwh, charger_kw
    index : the simulation's interval start times (regular)
    member_ids : the members, in column order

    Notes
    -----
    A session that cannot get its energy before departure at full power charges at full power for the
    whole stay and leaves short; the energy balance counts only what was charged.
    """
    n_intervals = len(index)
    power = np.zeros((n_intervals, len(member_ids)))
    if sessions.empty or n_intervals == 0:
        return power
    interval_h = (index[1] - index[0]).total_seconds() / 3600 if n_intervals > 1 else 0.25
    column = member_ids.get_indexer(sessions["member_id"])
    first = index.searchsorted(pd.DatetimeIndex(sessions["arrival"]))
    stop = index.searchsorted(pd.DatetimeIndex(sessions["departure"]))
    need_intervals = sessions["energy_kwh"].to_numpy() / (sessions["charger_kw"].to_numpy() * interval_h)
    whole = np.floor(need_intervals + 1e-9).astype(np.int64)
    rest = need_intervals - whole
    # Every session's charging intervals, built at once: full power for `whole` intervals, then the rest.
    n_full = np.clip(np.minimum(whole, stop - first), 0, None)
    rows = np.repeat(first, n_full) + ranges(n_full)
    cols = np.repeat(column, n_full)
    kw = np.repeat(sessions["charger_kw"].to_numpy(), n_full)
    inside = rows < n_intervals
    np.add.at(power, (rows[inside], cols[inside]), kw[inside])
    tail_row = first + whole
    has_tail = (rest > 1e-9) & (tail_row < stop) & (tail_row < n_intervals)
    np.add.at(
        power,
        (tail_row[has_tail], column[has_tail]),
        rest[has_tail] * sessions["charger_kw"].to_numpy()[has_tail],
    )
    return power
