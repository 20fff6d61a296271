"""AC power flow over a whole simulation: bus voltages, line and transformer loadings, slack power.

The fast path solves every interval with lightsim2grid's time-series solver (Newton-Raphson with KLU, each
interval starting from the previous one's voltages); pandapower's ``runpp`` is the reference and the
fallback for intervals lightsim2grid cannot solve or when it is not installed. Both read the same
:class:`~wattmesh.grid.network.FeederModel`, and loadings follow pandapower's definitions, so the two agree
to solver tolerance (a test checks 1e-6 pu on a sample of intervals).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.grid.network import FeederModel, feeder_model, load_network

SOLVERS = ("auto", "lightsim2grid", "pandapower")
TOLERANCE_MVA = 1e-9
MAX_ITERATIONS = 30
SQRT3 = np.sqrt(3.0)


@dataclass(frozen=True)
class PowerFlowSeries:
    """Power-flow results for T intervals (rows); NaN in the rows that did not converge.

    Attributes
    ----------
    vm_pu, va_degree : (T x buses) voltage magnitude [pu] and angle [degree], columns the feeder's bus ids
    line_loading_percent : (T x lines) max of both ends' current over the rated current [%] (pandapower's
        definition: ``max_i_ka * df * parallel``)
    line_p_from_kw : (T x lines) active power entering each line at its from-bus [kW]
    trafo_loading_percent : (T x trafos) max of both sides' current times rated voltage over rated power
        [%] (pandapower's ``trafo_loading="current"``)
    trafo_p_lv_kw : (T x trafos) active power leaving each transformer at its LV side into the feeder [kW];
        negative when the feeder exports
    slack_p_kw, slack_q_kvar : (T,) power drawn from the external grid [kW], [kvar]
    losses_kw : (T,) active losses in lines and transformers [kW]
    converged : (T,) whether the interval's power flow converged
    solver : which solver produced the rows ("lightsim2grid", "pandapower" or both joined by "+")
    slack_bus : id of the external grid's bus (its voltage is fixed)
    """

    vm_pu: pd.DataFrame
    va_degree: pd.DataFrame
    line_loading_percent: pd.DataFrame
    line_p_from_kw: pd.DataFrame
    trafo_loading_percent: pd.DataFrame
    trafo_p_lv_kw: pd.DataFrame
    slack_p_kw: pd.Series
    slack_q_kvar: pd.Series
    losses_kw: pd.Series
    converged: pd.Series
    solver: str
    slack_bus: int

    @property
    def index(self) -> pd.Index:
        return self.vm_pu.index


def power_flow_series(
    net: object,
    bus_injection_kw: pd.DataFrame,
    bus_injection_kvar: pd.DataFrame | None = None,
    solver: str = "auto",
) -> PowerFlowSeries:
    """Solve the AC power flow of every interval of ``bus_injection_kw``.

    Parameters
    ----------
    net : a :class:`FeederModel`, a pandapower network, a pandapower JSON path or a SimBench LV code
    bus_injection_kw : (T x buses) net active injection per bus, generation minus consumption [kW];
        columns are bus ids of the feeder, buses not listed inject nothing (see ``bus_injection_kw`` in
        :mod:`wattmesh.grid.network` to build it from members)
    bus_injection_kvar : (T x buses) net reactive injection [kvar]; None means unity power factor
    solver : "auto" (lightsim2grid, pandapower for the intervals it leaves unsolved), "lightsim2grid" or
        "pandapower" (about 50-100 ms per interval: for samples and checks)

    Returns
    -------
    PowerFlowSeries

    Raises
    ------
    ValueError
        for an unknown solver, a column that is not a bus of the feeder, or non-finite injections.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver {solver!r} is not one of {', '.join(SOLVERS)}")
    model = net if isinstance(net, FeederModel) else feeder_model(load_network(net))
    p_mw = _injection_matrix(model, bus_injection_kw, "bus_injection_kw") / 1000.0
    if bus_injection_kvar is None:
        q_mvar = np.zeros_like(p_mw)
    else:
        q_mvar = _injection_matrix(model, bus_injection_kvar, "bus_injection_kvar") / 1000.0
    n_rows = p_mw.shape[0]
    raw = _empty_raw(model, n_rows)
    used = []
    todo = np.ones(n_rows, dtype=bool)
    if solver in ("auto", "lightsim2grid") and n_rows:
        try:
            _solve_lightsim2grid(model, p_mw, q_mvar, raw)
            used.append("lightsim2grid")
        except ImportError:
            if solver == "lightsim2grid":
                raise
        todo = ~raw["converged"]
    if solver in ("auto", "pandapower") and todo.any():
        _solve_pandapower(model, p_mw, q_mvar, raw, np.flatnonzero(todo))
        used.append("pandapower")
    return _series(model, raw, bus_injection_kw.index, "+".join(used) or solver)


def _injection_matrix(model: FeederModel, frame: pd.DataFrame, name: str) -> np.ndarray:
    """(T, B) injections in model bus order [kW], zero for buses not in ``frame``."""
    values = frame.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        row, col = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(
            f"{name}: value {values[row, col]} at row {row}, bus {frame.columns[col]} is not finite"
        )
    try:
        positions = model.positions(frame.columns.to_numpy())
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    if len(np.unique(positions)) != len(positions):
        raise ValueError(f"{name}: a bus appears in more than one column")
    out = np.zeros((values.shape[0], model.n_buses))
    out[:, positions] = values
    return out


def _empty_raw(model: FeederModel, n_rows: int) -> dict:
    """Result buffers; the large arrays are allocated only when rows are filled one by one."""
    return {"n_rows": n_rows, "v": None, "branch": None, "converged": np.zeros(n_rows, dtype=bool)}


def _allocate(model: FeederModel, raw: dict) -> None:
    if raw["v"] is None:
        net = model.net
        raw["v"] = np.full((raw["n_rows"], model.n_buses), np.nan + 0j)
        raw["branch"] = np.zeros((raw["n_rows"], len(net.line) + len(net.trafo), 4))


def _initial_voltage(model: FeederModel) -> np.ndarray:
    """Voltages of a no-load power flow (pandapower's start handles transformer phase shifts)."""
    import pandapower as pp

    net = model.net
    net.load["p_mw"] = 0.0
    net.load["q_mvar"] = 0.0
    pp.runpp(net, numba=False, tolerance_mva=TOLERANCE_MVA)
    return (net.res_bus["vm_pu"] * np.exp(1j * np.deg2rad(net.res_bus["va_degree"]))).to_numpy()


def _solve_lightsim2grid(model: FeederModel, p_mw, q_mvar, raw) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lightsim2grid.injectionSweep import InjectionSweepCPP
        from lightsim2grid.network import init_from_pandapower
        from lightsim2grid.timeSerie import TimeSeriesCPP

        grid = init_from_pandapower(model.net)
    v0 = _initial_voltage(model)
    load_p = np.ascontiguousarray(-p_mw)
    load_q = np.ascontiguousarray(-q_mvar)
    series = TimeSeriesCPP(grid)
    series.modify_load_p(load_p)
    series.modify_load_q(load_q)
    series.compute(v0, MAX_ITERATIONS, TOLERANCE_MVA)
    converged = np.asarray(series.converged_mask(), dtype=bool)
    _store_lightsim(model, series, raw, np.arange(len(converged)), converged)
    if not converged.all():
        # The time series stops at its first failure; solve the rest independently, each from v0.
        rows = np.flatnonzero(~converged)
        sweep = InjectionSweepCPP(grid)
        sweep.modify_load_p(np.ascontiguousarray(load_p[rows]))
        sweep.modify_load_q(np.ascontiguousarray(load_q[rows]))
        sweep.compute(v0, MAX_ITERATIONS, TOLERANCE_MVA)
        _store_lightsim(model, sweep, raw, rows, np.asarray(sweep.converged_mask(), dtype=bool))


def _store_lightsim(model: FeederModel, computer, raw, rows: np.ndarray, converged: np.ndarray) -> None:
    if not converged.any():
        return
    voltages = computer.get_voltages()
    branch = computer.compute_branch_results()
    if raw["v"] is None and converged.all() and len(rows) == raw["n_rows"]:
        # The common case: every interval solved; keep the solver's arrays without copying them.
        raw["v"], raw["branch"] = np.asarray(voltages), branch
        raw["converged"][:] = True
        return
    _allocate(model, raw)
    ok = rows[converged]
    raw["v"][ok] = voltages[converged]
    raw["branch"][ok] = branch[converged]
    raw["converged"][ok] = True


def _solve_pandapower(model: FeederModel, p_mw, q_mvar, raw, rows: np.ndarray) -> None:
    import pandapower as pp

    net = model.net
    n_line = len(net.line)
    _allocate(model, raw)
    for row in rows:
        net.load["p_mw"] = -p_mw[row]
        net.load["q_mvar"] = -q_mvar[row]
        try:
            pp.runpp(net, numba=False, tolerance_mva=TOLERANCE_MVA, max_iteration=MAX_ITERATIONS)
        except pp.LoadflowNotConverged:
            continue
        bus = net.res_bus
        raw["v"][row] = (bus["vm_pu"] * np.exp(1j * np.deg2rad(bus["va_degree"]))).to_numpy()
        line, trafo = net.res_line, net.res_trafo
        raw["branch"][row, :n_line] = line[["p_from_mw", "q_from_mvar", "p_to_mw", "q_to_mvar"]].to_numpy()
        raw["branch"][row, n_line:] = trafo[["p_hv_mw", "q_hv_mvar", "p_lv_mw", "q_lv_mvar"]].to_numpy()
        raw["converged"][row] = True


def _series(model: FeederModel, raw, index: pd.Index, solver: str) -> PowerFlowSeries:
    net = model.net
    _allocate(model, raw)
    converged = raw["converged"]
    v = raw["v"]  # may be the solver's read-only array when every row converged
    if not converged.all():
        v[~converged] = np.nan
    vm = np.abs(v)
    va = np.angle(v, deg=True)
    vn_kv = net.bus["vn_kv"].to_numpy()
    n_line = len(net.line)
    branch = raw["branch"]
    if not converged.all():
        branch[~converged] = np.nan
    s_side1 = np.hypot(branch[..., 0], branch[..., 1])
    s_side2 = np.hypot(branch[..., 2], branch[..., 3])

    line = net.line
    f_bus, t_bus = line["from_bus"].to_numpy(), line["to_bus"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        i_from = s_side1[:, :n_line] / (SQRT3 * vm[:, f_bus] * vn_kv[f_bus])
        i_to = s_side2[:, :n_line] / (SQRT3 * vm[:, t_bus] * vn_kv[t_bus])
    i_max = (line["max_i_ka"] * line["df"] * line["parallel"]).to_numpy()
    out_of_service = ~line["in_service"].to_numpy(dtype=bool)
    i_from[:, out_of_service] = np.where(converged[:, None], 0.0, np.nan)
    i_to[:, out_of_service] = np.where(converged[:, None], 0.0, np.nan)
    line_loading = np.fmax(i_from, i_to) / i_max * 100.0
    line_loading[~converged] = np.nan

    trafo = net.trafo
    hv, lv = trafo["hv_bus"].to_numpy(), trafo["lv_bus"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        i_hv = s_side1[:, n_line:] / (SQRT3 * vm[:, hv] * vn_kv[hv])
        i_lv = s_side2[:, n_line:] / (SQRT3 * vm[:, lv] * vn_kv[lv])
    rated = (trafo["sn_mva"] * trafo["parallel"] * trafo["df"]).to_numpy()
    trafo_loading = (
        np.fmax(i_hv * trafo["vn_hv_kv"].to_numpy(), i_lv * trafo["vn_lv_kv"].to_numpy())
        * SQRT3
        / rated
        * 100
    )
    trafo_loading[~converged] = np.nan

    # Power drawn from the external grid = what leaves the slack bus through its branches.
    slack_pos = int(model.positions([model.slack_bus])[0])
    slack = np.zeros(len(converged), dtype=complex)
    for side, buses in ((0, np.r_[f_bus, hv]), (2, np.r_[t_bus, lv])):
        at_slack = buses == slack_pos
        slack += (branch[:, at_slack, side] + 1j * branch[:, at_slack, side + 1]).sum(axis=1)
    slack[~converged] = np.nan
    losses = branch[..., 0].sum(axis=1) + branch[..., 2].sum(axis=1)

    buses = model.bus_ids
    line_cols = pd.Index(line.index, name="line")
    trafo_cols = pd.Index(trafo.index, name="trafo")
    return PowerFlowSeries(
        vm_pu=pd.DataFrame(vm, index=index, columns=buses),
        va_degree=pd.DataFrame(va, index=index, columns=buses),
        line_loading_percent=pd.DataFrame(line_loading, index=index, columns=line_cols),
        line_p_from_kw=pd.DataFrame(branch[:, :n_line, 0] * 1000.0, index=index, columns=line_cols),
        trafo_loading_percent=pd.DataFrame(trafo_loading, index=index, columns=trafo_cols),
        trafo_p_lv_kw=pd.DataFrame(-branch[:, n_line:, 2] * 1000.0, index=index, columns=trafo_cols),
        slack_p_kw=pd.Series(slack.real * 1000.0, index=index, name="slack_p_kw"),
        slack_q_kvar=pd.Series(slack.imag * 1000.0, index=index, name="slack_q_kvar"),
        losses_kw=pd.Series(losses * 1000.0, index=index, name="losses_kw"),
        converged=pd.Series(converged, index=index, name="converged"),
        solver=solver,
        slack_bus=model.slack_bus,
    )
