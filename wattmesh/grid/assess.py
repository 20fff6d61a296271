"""The grid check of a simulation in a few calls: members' injections in, report figures and tables out.

These functions string the grid's pure functions together for the simulator (driver 1) and the CLI; they
hold no logic of their own beyond choosing defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.grid.curtailment import CurtailmentResult, curtail_trades, member_curtailment_kwh
from wattmesh.grid.limits import (
    GridLimits,
    hours_over_limit,
    interval_hours,
    most_loaded_lines,
    voltage_envelope,
)
from wattmesh.grid.network import FeederModel, bus_injection_kw, feeder_model, load_network
from wattmesh.grid.powerflow import PowerFlowSeries, power_flow_series


def model_for(feeder: str | object) -> FeederModel:
    """The power-flow model of a SimBench code, a pandapower JSON path, a network or a model."""
    return feeder if isinstance(feeder, FeederModel) else feeder_model(load_network(feeder))


def member_power_flow(
    feeder: str | object,
    member_bus: np.ndarray,
    net_injection_kw: np.ndarray,
    index: pd.DatetimeIndex,
    solver: str = "auto",
) -> PowerFlowSeries:
    """AC power flow of the members' net injections.

    Parameters
    ----------
    feeder : SimBench code, pandapower JSON path, pandapower network or :class:`FeederModel`
    member_bus : (M,) each member's bus (the member table's ``bus`` column)
    net_injection_kw : (T, M) generation minus consumption after batteries [kW]; > 0 exports
    index : (T,) interval start times (UTC)
    solver : see :func:`~wattmesh.grid.powerflow.power_flow_series`
    """
    return power_flow_series(
        model_for(feeder), bus_injection_kw(net_injection_kw, member_bus, index), solver=solver
    )


def grid_summary(result: PowerFlowSeries, limits: GridLimits | None = None) -> dict[str, float]:
    """Headline figures of a power-flow run for the report.

    Returns
    -------
    dict: ``vm_min_pu``, ``vm_max_pu`` (LV buses), ``line_loading_max_percent``,
    ``trafo_loading_max_percent``, ``trafo_loading_p95_percent``, ``losses_kwh``, ``import_kwh`` and
    ``export_kwh`` at the external grid, ``hours_undervoltage``, ``hours_overvoltage``,
    ``hours_line_overload``, ``hours_trafo_overload``, ``hours_any_violation``, ``intervals_not_converged``
    """
    h = interval_hours(result.index)
    lv = result.vm_pu.drop(columns=[result.slack_bus])
    hours = hours_over_limit(result, limits)
    trafo = result.trafo_loading_percent.max(axis=1)
    slack = result.slack_p_kw
    return {
        "vm_min_pu": float(lv.min().min()),
        "vm_max_pu": float(lv.max().max()),
        "line_loading_max_percent": float(result.line_loading_percent.max().max()),
        "trafo_loading_max_percent": float(trafo.max()) if len(trafo) else float("nan"),
        "trafo_loading_p95_percent": float(trafo.quantile(0.95)) if len(trafo) else float("nan"),
        "losses_kwh": float(result.losses_kw.sum() * h),
        "import_kwh": float(slack.clip(lower=0).sum() * h),
        "export_kwh": float((-slack).clip(lower=0).sum() * h),
        "hours_undervoltage": float(hours["undervoltage"]),
        "hours_overvoltage": float(hours["overvoltage"]),
        "hours_line_overload": float(hours["line_overload"]),
        "hours_trafo_overload": float(hours["trafo_overload"]),
        "hours_any_violation": float(hours["any_violation"]),
        "intervals_not_converged": int((~result.converged).sum()),
    }


@dataclass(frozen=True)
class GridReport:
    """What the report shows about the grid.

    Attributes
    ----------
    summary : headline figures (:func:`grid_summary`)
    envelope : hourly lowest, mean and highest LV bus voltage [pu]
    top_lines : the ten most loaded lines (:func:`~wattmesh.grid.limits.most_loaded_lines`)
    trafo_loading_percent : (T x transformers) loading time series [%], for asset ageing
    """

    summary: dict[str, float]
    envelope: pd.DataFrame
    top_lines: pd.DataFrame
    trafo_loading_percent: pd.DataFrame


def grid_report(result: PowerFlowSeries, limits: GridLimits | None = None) -> GridReport:
    """The report's grid figures and tables from one power-flow run."""
    freq = "1h" if isinstance(result.index, pd.DatetimeIndex) else None
    return GridReport(
        summary=grid_summary(result, limits),
        envelope=voltage_envelope(result, freq),
        top_lines=most_loaded_lines(result, 10, limits),
        trafo_loading_percent=result.trafo_loading_percent,
    )


def dso_safe_delivery(
    feeder: str | object,
    member_bus: np.ndarray,
    net_injection_kw: np.ndarray,
    index: pd.DatetimeIndex,
    trade_interval: np.ndarray,
    trade_seller: np.ndarray,
    trade_energy_kwh: np.ndarray,
    merit_per_kwh: np.ndarray | None = None,
    limits: GridLimits | None = None,
    member_ids: pd.Index | None = None,
    interval_h: float | None = None,
    power_flow: PowerFlowSeries | None = None,
) -> tuple[CurtailmentResult, pd.Series]:
    """Curtail the trades that would break a feeder limit, and each member's curtailed sales.

    Parameters
    ----------
    feeder, member_bus, net_injection_kw, index : as for :func:`member_power_flow`, with every trade
        delivered
    trade_interval : (N,) interval row of each trade
    trade_seller : (N,) member column (0..M-1) of each trade's seller
    trade_energy_kwh : (N,) energy of each trade [kWh]
    merit_per_kwh : (N,) value of each trade, lowest curtailed first; None gives every trade the same
        merit, so the trades that relieve the violation most per kW go first [currency/kWh]
    limits : limits to keep
    member_ids : labels for the per-member result (default 0..M-1)
    interval_h : interval length [h]; None reads it from ``index`` (which then needs two or more rows)
    power_flow : the power flow of the uncurtailed injections, when already solved (saves a solve)

    Returns
    -------
    result : :class:`CurtailmentResult` (curtailed_kw per trade, injections, violations before/after)
    curtailed_kwh : per member, energy its sales were curtailed by [kWh]
    """
    model = model_for(feeder)
    h = interval_hours(index) if interval_h is None else interval_h
    member_bus = np.asarray(member_bus)
    trade_seller = np.asarray(trade_seller, dtype=np.int64)
    merit = np.zeros(len(trade_seller)) if merit_per_kwh is None else np.asarray(merit_per_kwh, float)
    result = curtail_trades(
        model,
        bus_injection_kw(net_injection_kw, member_bus, index),
        trade_interval,
        member_bus[trade_seller],
        np.asarray(trade_energy_kwh, dtype=float) / h,
        merit,
        limits,
        power_flow,
    )
    ids = pd.Index(range(len(member_bus))) if member_ids is None else pd.Index(member_ids)
    per_member = member_curtailment_kwh(result.curtailed_kw, ids[trade_seller], ids, h)
    return result, per_member


def network_awareness_comparison(
    feeder: str | object,
    member_bus: np.ndarray,
    net_injection_kw: np.ndarray,
    index: pd.DatetimeIndex,
    trade_interval: np.ndarray,
    trade_seller: np.ndarray,
    trade_buyer: np.ndarray,
    trade_energy_kwh: np.ndarray,
    flat_fee_per_kwh: float,
    rate_per_kwh_per_segment: float,
    base_fee_per_kwh: float = 0.0,
    merit_per_kwh: np.ndarray | None = None,
    limits: GridLimits | None = None,
    interval_h: float | None = None,
) -> pd.DataFrame:
    """P2P trading with a flat local fee and no grid check, against distance fees with DSO-safe delivery.

    Parameters
    ----------
    feeder, member_bus, net_injection_kw, index, trade_interval, trade_seller, trade_energy_kwh,
    merit_per_kwh, limits, interval_h : as for :func:`dso_safe_delivery`
    trade_buyer : (N,) member column of each trade's buyer
    flat_fee_per_kwh : the fee every local trade pays without network awareness [currency/kWh]
    rate_per_kwh_per_segment, base_fee_per_kwh : the distance fee, ``base + rate * segments`` between the
        seller's and the buyer's bus [currency/kWh]

    Returns
    -------
    DataFrame with rows "flat_fee" and "network_aware": ``traded_kwh``, ``delivered_kwh``,
    ``curtailed_kwh``, ``fees``, ``fee_per_kwh`` (mean over delivered energy), ``hours_any_violation``,
    ``hours_overvoltage``, ``hours_line_overload``, ``hours_trafo_overload``, ``vm_max_pu``,
    ``line_loading_max_percent``, ``trafo_loading_max_percent``
    """
    return assess_feeder(
        feeder,
        member_bus,
        net_injection_kw,
        index,
        trade_interval,
        trade_seller,
        trade_buyer,
        trade_energy_kwh,
        flat_fee_per_kwh,
        rate_per_kwh_per_segment,
        base_fee_per_kwh,
        merit_per_kwh,
        limits,
        interval_h=interval_h,
    ).awareness


@dataclass(frozen=True)
class FeederAssessment:
    """The grid check of one case: its power flow, the report, DSO-safe delivery and the fee comparison.

    Attributes
    ----------
    power_flow : AC power flow with every trade delivered
    report : :class:`GridReport` of ``power_flow``
    curtailment : DSO-safe delivery of the trades (:class:`CurtailmentResult`)
    curtailed_kwh : per member, energy its sales were curtailed by [kWh]
    awareness : the table of :func:`network_awareness_comparison`
    """

    power_flow: PowerFlowSeries
    report: GridReport
    curtailment: CurtailmentResult
    curtailed_kwh: pd.Series
    awareness: pd.DataFrame


def assess_feeder(
    feeder: str | object,
    member_bus: np.ndarray,
    net_injection_kw: np.ndarray,
    index: pd.DatetimeIndex,
    trade_interval: np.ndarray,
    trade_seller: np.ndarray,
    trade_buyer: np.ndarray,
    trade_energy_kwh: np.ndarray,
    flat_fee_per_kwh: float,
    rate_per_kwh_per_segment: float,
    base_fee_per_kwh: float = 0.0,
    merit_per_kwh: np.ndarray | None = None,
    limits: GridLimits | None = None,
    member_ids: pd.Index | None = None,
    interval_h: float | None = None,
) -> FeederAssessment:
    """Power flow, report, DSO-safe delivery and fee comparison of one case, each solved once.

    The uncurtailed power flow is solved once and serves the report, the curtailment's starting point and
    the comparison's "flat_fee" row; the curtailment runs once and serves the per-member figures and the
    "network_aware" row.

    Parameters
    ----------
    feeder, member_bus, net_injection_kw, index, trade_interval, trade_seller, trade_energy_kwh,
    merit_per_kwh, limits, member_ids, interval_h : as for :func:`dso_safe_delivery`
    trade_buyer, flat_fee_per_kwh, rate_per_kwh_per_segment, base_fee_per_kwh : as for
        :func:`network_awareness_comparison`

    Returns
    -------
    FeederAssessment
    """
    model = model_for(feeder)
    h = interval_hours(index) if interval_h is None else interval_h
    member_bus = np.asarray(member_bus)
    flow = member_power_flow(model, member_bus, net_injection_kw, index)
    curtailment, per_member = dso_safe_delivery(
        model,
        member_bus,
        net_injection_kw,
        index,
        trade_interval,
        trade_seller,
        trade_energy_kwh,
        merit_per_kwh,
        limits,
        member_ids=member_ids,
        interval_h=h,
        power_flow=flow,
    )
    awareness = _awareness_table(
        model,
        member_bus,
        flow,
        curtailment,
        trade_seller,
        trade_buyer,
        np.asarray(trade_energy_kwh, dtype=float),
        flat_fee_per_kwh,
        rate_per_kwh_per_segment,
        base_fee_per_kwh,
        limits,
        h,
    )
    return FeederAssessment(flow, grid_report(flow, limits), curtailment, per_member, awareness)


def _awareness_table(
    model: FeederModel,
    member_bus: np.ndarray,
    unchecked: PowerFlowSeries,
    curtailed: CurtailmentResult,
    trade_seller: np.ndarray,
    trade_buyer: np.ndarray,
    energy: np.ndarray,
    flat_fee_per_kwh: float,
    rate_per_kwh_per_segment: float,
    base_fee_per_kwh: float,
    limits: GridLimits | None,
    h: float,
) -> pd.DataFrame:
    """The comparison table of :func:`network_awareness_comparison` from already solved cases."""
    from wattmesh.grid.sensitivity import bus_distance_matrix, grid_fee_per_kwh

    distance = bus_distance_matrix(model, "segments")
    fee = grid_fee_per_kwh(
        member_bus[np.asarray(trade_seller)],
        member_bus[np.asarray(trade_buyer)],
        distance,
        rate_per_kwh_per_segment,
        base_fee_per_kwh,
    )
    delivered = curtailed.delivered_kw * h
    rows = {}
    for name, flow, delivered_kwh, fees in (
        ("flat_fee", unchecked, energy, energy * flat_fee_per_kwh),
        ("network_aware", curtailed.power_flow, delivered, delivered * fee),
    ):
        summary = grid_summary(flow, limits)
        rows[name] = {
            "traded_kwh": energy.sum(),
            "delivered_kwh": delivered_kwh.sum(),
            "curtailed_kwh": energy.sum() - delivered_kwh.sum(),
            "fees": fees.sum(),
            "fee_per_kwh": fees.sum() / delivered_kwh.sum() if delivered_kwh.sum() > 0 else float("nan"),
            **{
                key: summary[key]
                for key in (
                    "hours_any_violation",
                    "hours_overvoltage",
                    "hours_line_overload",
                    "hours_trafo_overload",
                    "vm_max_pu",
                    "line_loading_max_percent",
                    "trafo_loading_max_percent",
                )
            },
        }
    return pd.DataFrame(rows).T
