"""The grid view of a simulation: power flow of the full case, limits, network awareness, an outage.

Orchestration only: every model is in :mod:`wattmesh.grid`. Runs after :func:`simulate` on its full
(intervals, members) arrays (``detail=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.simulate.engine import SimulationResult


@dataclass
class GridOutputs:
    """What the report and the output files show about the grid.

    Attributes
    ----------
    report : :class:`wattmesh.grid.GridReport` of the full case (summary, voltage envelope, top lines,
        transformer loading)
    awareness : P2P with a flat fee and no grid check against distance fees with DSO-safe delivery
    curtailed_kwh : per member, sales the DSO-safe mode would curtail [kWh]
    outage_per_home, outage_summary : the outage with and without sharing, or None without an outage
    outage_window : (start, end) of the outage, or None
    vm_min_pu, vm_max_pu, critical_fraction : the limits and the critical share used
    """

    report: object
    awareness: pd.DataFrame
    curtailed_kwh: pd.Series
    outage_per_home: pd.DataFrame | None
    outage_summary: pd.DataFrame | None
    outage_window: tuple[pd.Timestamp, pd.Timestamp] | None
    vm_min_pu: float
    vm_max_pu: float
    critical_fraction: float


def assess_grid(
    result: SimulationResult,
    vm_min_pu: float,
    vm_max_pu: float,
    rate_per_kwh_per_segment: float,
    outage_start: pd.Timestamp | None,
    outage_hours: float,
    critical_fraction: float,
) -> GridOutputs:
    """Power flow, limits, network-aware comparison and (optionally) an outage for the full case.

    One call of :func:`wattmesh.grid.assess_feeder` solves the full case's power flow and its curtailment
    once each; the outage is the only other grid computation.
    """
    from wattmesh.grid import GridLimits, assess_feeder, feeder_model, load_network

    community = result.community
    full = result.full
    detail = full.detail
    dt = community.interval_h
    limits = GridLimits(vm_min_pu=vm_min_pu, vm_max_pu=vm_max_pu)
    net_kw = (detail.sold_kwh + detail.export_kwh - detail.bought_kwh - detail.import_kwh) / dt
    trades = full.trade_arrays
    feeder = assess_feeder(
        feeder_model(load_network(community.meta["net_path"])),
        community.members["bus"].to_numpy(),
        net_kw,
        community.index,
        trades.interval,
        trades.seller,
        trades.buyer,
        trades.energy_kwh,
        flat_fee_per_kwh=community.local_fee_per_kwh,
        rate_per_kwh_per_segment=rate_per_kwh_per_segment,
        limits=limits,
        member_ids=community.member_ids,
        interval_h=dt,
    )
    per_home = summary = window = None
    if outage_start is not None:
        per_home, summary, window = _outage(result, outage_start, outage_hours, critical_fraction)
    return GridOutputs(
        feeder.report,
        feeder.awareness,
        feeder.curtailed_kwh,
        per_home,
        summary,
        window,
        vm_min_pu,
        vm_max_pu,
        critical_fraction,
    )


def _outage(result: SimulationResult, start: pd.Timestamp, hours: float, critical_fraction: float):
    """The upstream grid down for ``hours`` from ``start``: the island with and without sharing.

    Batteries enter the outage with the state of charge the full case had just before it.
    """
    from wattmesh.grid import outage_comparison, outage_mask

    community = result.community
    full = result.full
    mask = outage_mask(community.index, start, hours)
    if not mask.any():
        raise ValueError(
            f"outage.start {start} is outside the simulated span {community.index[0]} to {community.index[-1]}"
        )
    first = int(np.argmax(mask))
    homes = (community.members["kind"] != "community").to_numpy()
    storage = community.storage_by_member("battery")
    soc = full.detail.soc_kwh[first - 1] if first > 0 else storage["soc_initial_kwh"]
    consumption_kw = full.detail.consumption_kwh[mask] / community.interval_h
    per_home, summary = outage_comparison(
        consumption_kw[:, homes],
        community.generation_kw[mask][:, homes],
        community.interval_h,
        community.member_ids[homes],
        battery_capacity_kwh=storage["capacity_kwh"][homes],
        battery_power_kw=storage["power_kw"][homes],
        battery_efficiency=storage["efficiency"][homes],
        battery_soc_kwh=soc[homes],
        community_capacity_kwh=float(storage["capacity_kwh"][~homes].sum()),
        community_power_kw=float(storage["power_kw"][~homes].sum()),
        community_soc_kwh=float(soc[~homes].sum()),
        critical_fraction=critical_fraction,
    )
    end = community.index[mask][-1] + (community.index[1] - community.index[0])
    return per_home, summary, (community.index[mask][0], end)
