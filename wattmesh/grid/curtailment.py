"""DSO-safe delivery: trades whose delivery would break a feeder limit are curtailed, in merit order.

Physical model: a local trade is the seller exporting into the feeder for the buyer. Curtailing x kW of
a trade takes x kW off the seller's bus injection (PV curtailed, battery held back); the buyer's load
does not change, so the buyer takes those x kW from the utility instead. Curtailing trades can therefore
relieve over-voltage and reverse (export-driven) overloads; under-voltage and overloads caused by load
are not caused by trades and are reported as remaining.

Algorithm, per interval with a violation: the AC power flow gives each violated limit's excess; linear
sensitivities (:mod:`wattmesh.grid.sensitivity`) give how much curtailing 1 kW of each trade reduces each
excess. Trades are curtailed in merit order, lowest ``merit_per_kwh`` first (ties: the trade that helps
most per kW first, then the lower trade number), each only as far as needed to bring every excess it
can reduce to zero, and trades that do not help any violated limit are never touched. The AC power flow
is then solved again on the curtailed intervals and the step repeats (linearisation error) until the AC
result is within limits or nothing more can be curtailed. The result's claims come from the last AC
power flow, not from the linear model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.grid.limits import GridLimits, limit_violations
from wattmesh.grid.network import FeederModel
from wattmesh.grid.powerflow import PowerFlowSeries, power_flow_series
from wattmesh.grid.sensitivity import ptdf_matrix, voltage_sensitivity_pu_per_kw

# Aim this far inside each limit so that the linearisation error rarely needs another round.
VOLTAGE_MARGIN_PU = 2e-4
LOADING_MARGIN_PERCENT = 0.2
MAX_ROUNDS = 8


@dataclass(frozen=True)
class CurtailmentResult:
    """What DSO-safe delivery did.

    Attributes
    ----------
    curtailed_kw : (N,) power taken off each trade [kW]
    delivered_kw : (N,) power of each trade that is delivered [kW]
    bus_injection_kw : (T x buses) injections after curtailment [kW]
    violations_before, violations_after : per-interval limit checks (see ``limit_violations``) of the
        AC power flow before and after curtailment
    power_flow : the AC power flow after curtailment
    rounds : AC power-flow rounds used
    """

    curtailed_kw: np.ndarray
    delivered_kw: np.ndarray
    bus_injection_kw: pd.DataFrame
    violations_before: pd.DataFrame
    violations_after: pd.DataFrame
    power_flow: PowerFlowSeries
    rounds: int

    @property
    def resolved(self) -> pd.Series:
        """(T,) intervals that broke a limit before curtailment and break none after."""
        return (self.violations_before["any_violation"] & ~self.violations_after["any_violation"]).rename(
            "resolved"
        )

    @property
    def remaining(self) -> pd.Series:
        """(T,) intervals that still break a limit (not caused by trades, or trades exhausted)."""
        return self.violations_after["any_violation"].rename("remaining")


def curtail_trades(
    model: FeederModel,
    bus_injection_kw: pd.DataFrame,
    trade_interval: np.ndarray,
    trade_seller_bus: np.ndarray,
    trade_power_kw: np.ndarray,
    merit_per_kwh: np.ndarray,
    limits: GridLimits | None = None,
    power_flow: PowerFlowSeries | None = None,
) -> CurtailmentResult:
    """Curtail trades, lowest merit first, until no limit a trade can relieve is broken.

    Parameters
    ----------
    model : the feeder's power-flow model
    bus_injection_kw : (T x buses) net injections with every trade delivered [kW]
    trade_interval : (N,) row of ``bus_injection_kw`` each trade is delivered in
    trade_seller_bus : (N,) bus id of each trade's seller
    trade_power_kw : (N,) average power of each trade over its interval, energy / interval length [kW]
    merit_per_kwh : (N,) value of delivering each trade, e.g. the buyer's bid minus the seller's ask;
        lower is curtailed first [currency/kWh]
    limits : the limits to keep (default 0.9-1.1 pu, 100 % loading)
    power_flow : the AC power flow of ``bus_injection_kw`` when already solved (saves one solve)

    Returns
    -------
    CurtailmentResult
    """
    limits = limits or GridLimits()
    trade_interval = np.asarray(trade_interval, dtype=np.int64)
    trade_power_kw = np.asarray(trade_power_kw, dtype=float)
    merit_per_kwh = np.asarray(merit_per_kwh, dtype=float)
    n_trades = trade_interval.shape[0]
    for name, arr in (
        ("trade_seller_bus", trade_seller_bus),
        ("trade_power_kw", trade_power_kw),
        ("merit_per_kwh", merit_per_kwh),
    ):
        if np.shape(arr) != (n_trades,):
            raise ValueError(f"{name} has shape {np.shape(arr)}, expected ({n_trades},) like trade_interval")
    if (trade_power_kw < 0).any():
        raise ValueError(f"trade_power_kw {trade_power_kw[trade_power_kw < 0][0]} is negative, expected >= 0")
    if n_trades and not (0 <= trade_interval.min() and trade_interval.max() < len(bus_injection_kw)):
        raise ValueError(f"trade_interval has rows outside 0..{len(bus_injection_kw) - 1}")

    injection = pd.DataFrame(0.0, index=bus_injection_kw.index, columns=model.bus_ids)
    injection.loc[:, bus_injection_kw.columns] = bus_injection_kw.to_numpy(dtype=float)
    seller_pos = model.positions(np.asarray(trade_seller_bus))
    flow = power_flow if power_flow is not None else power_flow_series(model, injection)
    before = limit_violations(flow, limits)
    curtailed = np.zeros(n_trades)
    values = injection.to_numpy()
    rows = np.flatnonzero(before["any_violation"].to_numpy())
    # The sensitivities and each row's trades are needed only when some interval breaks a limit.
    sensitivities = _Sensitivities(model) if rows.size else None
    rounds = 0
    final_vm = flow.vm_pu.to_numpy().copy()
    final_line = flow.line_loading_percent.to_numpy().copy()
    final_trafo = flow.trafo_loading_percent.to_numpy().copy()
    final_line_p = flow.line_p_from_kw.to_numpy().copy()
    final_trafo_p = flow.trafo_p_lv_kw.to_numpy().copy()
    subset_vm, subset_line, subset_trafo = final_vm, final_line, final_trafo
    subset_line_p, subset_trafo_p = final_line_p, final_trafo_p
    subset_rows = np.arange(len(injection))
    trades_by_row = (
        pd.Series(np.arange(n_trades)).groupby(trade_interval).apply(np.asarray).to_dict()
        if rows.size
        else {}
    )
    solved: list[tuple[np.ndarray, PowerFlowSeries]] = []
    while rows.size and rounds < MAX_ROUNDS:
        rounds += 1
        changed = []
        lookup = pd.Index(subset_rows)
        for row in rows:
            trades = trades_by_row.get(row)
            if trades is None:
                continue
            at = lookup.get_loc(row)
            cut = _curtail_row(
                sensitivities,
                limits,
                subset_vm[at],
                subset_line[at],
                subset_trafo[at],
                subset_line_p[at],
                subset_trafo_p[at],
                seller_pos[trades],
                trade_power_kw[trades] - curtailed[trades],
                merit_per_kwh[trades],
            )
            if cut.any():
                curtailed[trades] += cut
                np.subtract.at(values[row], seller_pos[trades], cut)
                changed.append(row)
        if not changed:
            break
        changed = np.asarray(changed)
        current = power_flow_series(
            model, pd.DataFrame(values[changed], index=injection.index[changed], columns=model.bus_ids)
        )
        checked = limit_violations(current, limits)
        for target, source in (
            (final_vm, current.vm_pu),
            (final_line, current.line_loading_percent),
            (final_trafo, current.trafo_loading_percent),
            (final_line_p, current.line_p_from_kw),
            (final_trafo_p, current.trafo_p_lv_kw),
        ):
            target[changed] = source.to_numpy()
        solved.append((changed, current))
        subset_rows = changed
        subset_vm, subset_line, subset_trafo = final_vm[changed], final_line[changed], final_trafo[changed]
        subset_line_p, subset_trafo_p = final_line_p[changed], final_trafo_p[changed]
        rows = changed[checked["any_violation"].to_numpy()]
    result_injection = pd.DataFrame(values, index=injection.index, columns=model.bus_ids)
    # A row's last solve already saw its final injections (rows change only where they are re-solved).
    final_flow = _splice(flow, solved)
    return CurtailmentResult(
        curtailed_kw=curtailed,
        delivered_kw=trade_power_kw - curtailed,
        bus_injection_kw=result_injection,
        violations_before=before,
        violations_after=limit_violations(final_flow, limits),
        power_flow=final_flow,
        rounds=rounds,
    )


def _splice(flow: PowerFlowSeries, parts: list[tuple[np.ndarray, PowerFlowSeries]]) -> PowerFlowSeries:
    """``flow`` with each part's rows replaced by that part (a power flow of those rows only), in order."""
    if not parts:
        return flow
    fields = {}
    for name, value in vars(flow).items():
        if isinstance(value, pd.DataFrame | pd.Series):
            value = value.copy()
            for rows, part in parts:
                value.iloc[rows] = getattr(part, name).to_numpy()
        fields[name] = value
    solvers = dict.fromkeys([flow.solver, *(part.solver for _, part in parts)])
    fields["solver"] = "+".join(solvers)
    return PowerFlowSeries(**fields)


class _Sensitivities:
    """The feeder's linear sensitivities, computed once per curtailment run."""

    def __init__(self, model: FeederModel) -> None:
        net = model.net
        self.voltage = voltage_sensitivity_pu_per_kw(model).to_numpy()
        self.slack_pos = int(model.positions([model.slack_bus])[0])
        ptdf = ptdf_matrix(model)
        line_ids = net.line.index
        self.line_ptdf = np.zeros((len(line_ids), model.n_buses))
        in_service = ptdf.loc["line"] if "line" in ptdf.index.get_level_values(0) else ptdf.iloc[0:0]
        self.line_ptdf[line_ids.get_indexer(in_service.index)] = in_service.to_numpy()
        trafo_ids = net.trafo.index
        self.trafo_ptdf = np.zeros((len(trafo_ids), model.n_buses))
        if "trafo" in ptdf.index.get_level_values(0):
            self.trafo_ptdf[trafo_ids.get_indexer(ptdf.loc["trafo"].index)] = ptdf.loc["trafo"].to_numpy()
        vn = net.bus["vn_kv"].to_numpy()
        line = net.line
        # loading [%] per kW of flow, at rated voltage
        self.line_percent_per_kw = (
            100.0
            * 1e-3
            / (
                np.sqrt(3)
                * vn[line["from_bus"].to_numpy()]
                * (line["max_i_ka"] * line["df"] * line["parallel"]).to_numpy()
            )
        )
        trafo = net.trafo
        self.trafo_percent_per_kw = (
            100.0 * 1e-3 / (trafo["sn_mva"] * trafo["parallel"] * trafo["df"]).to_numpy()
        )


def _curtail_row(
    sens: _Sensitivities,
    limits: GridLimits,
    vm: np.ndarray,
    line_loading: np.ndarray,
    trafo_loading: np.ndarray,
    line_p_kw: np.ndarray,
    trafo_p_lv_kw: np.ndarray,
    seller_pos: np.ndarray,
    available_kw: np.ndarray,
    merit: np.ndarray,
) -> np.ndarray:
    """Curtailment (kW) of each of one interval's trades that clears the violated limits it can clear."""
    excess_parts = []
    help_parts = []
    over_v = vm > limits.vm_max_pu
    over_v[sens.slack_pos] = False
    if over_v.any():
        excess_parts.append(vm[over_v] - limits.vm_max_pu + VOLTAGE_MARGIN_PU)
        help_parts.append(sens.voltage[np.ix_(over_v, seller_pos)])
    over_line = line_loading > limits.line_max_percent
    if over_line.any():
        excess_parts.append(line_loading[over_line] - limits.line_max_percent + LOADING_MARGIN_PERCENT)
        # Curtailing injection at s changes the from->to flow by -PTDF; it helps when that shrinks |flow|.
        direction = np.sign(line_p_kw[over_line])[:, None]
        help_parts.append(
            direction
            * sens.line_ptdf[np.ix_(over_line, seller_pos)]
            * sens.line_percent_per_kw[over_line, None]
        )
    over_trafo = trafo_loading > limits.trafo_max_percent
    if over_trafo.any():
        excess_parts.append(trafo_loading[over_trafo] - limits.trafo_max_percent + LOADING_MARGIN_PERCENT)
        # trafo_p_lv_kw is the flow into the feeder, i.e. the HV -> LV (from -> to) direction.
        direction = np.sign(trafo_p_lv_kw[over_trafo])[:, None]
        help_parts.append(
            direction
            * sens.trafo_ptdf[np.ix_(over_trafo, seller_pos)]
            * sens.trafo_percent_per_kw[over_trafo, None]
        )
    cut = np.zeros(len(seller_pos))
    if not excess_parts:
        return cut
    excess = np.concatenate(excess_parts)
    helps = np.concatenate(help_parts, axis=0)  # (limits, trades): excess removed per kW curtailed
    helps = np.where(helps > 1e-15, helps, 0.0)
    order = np.lexsort((np.arange(len(merit)), -helps.sum(axis=0), merit))
    for k in order:
        active = (excess > 0) & (helps[:, k] > 0)
        if not active.any() or available_kw[k] <= 0:
            continue
        needed = np.max(excess[active] / helps[active, k])
        cut[k] = min(available_kw[k], needed)
        excess -= helps[:, k] * cut[k]
        if not (excess > 0).any():
            break
    return cut


def member_curtailment_kwh(
    curtailed_kw: np.ndarray, trade_seller: np.ndarray, member_ids: pd.Index, interval_h: float
) -> pd.Series:
    """Energy each member was not allowed to deliver [kWh], the sum over the member's curtailed sales.

    Parameters
    ----------
    curtailed_kw : (N,) curtailment of each trade [kW]
    trade_seller : (N,) member id of each trade's seller
    member_ids : all members, the result's index
    interval_h : interval length [h]
    """
    position = member_ids.get_indexer(np.asarray(trade_seller))
    if (position < 0).any():
        raise ValueError(f"trade_seller {str(np.asarray(trade_seller)[position < 0][0])!r} is not a member")
    energy = np.bincount(position, np.asarray(curtailed_kw) * interval_h, minlength=len(member_ids))
    return pd.Series(energy, index=member_ids, name="curtailed_kwh")
