"""The planner's linear programme: its column layout (one block per kind of variable), its rows as sparse
triplets, and the HiGHS solve."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp


class Layout:
    """Consecutive blocks of LP columns."""

    def __init__(self) -> None:
        self.size = 0

    def add(self, n: int) -> slice:
        s = slice(self.size, self.size + n)
        self.size += n
        return s


class Rows:
    """LP rows collected as COO triplets with their bounds."""

    def __init__(self) -> None:
        self.size = 0
        self.i: list[np.ndarray] = []
        self.j: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []

    def add(self, n: int) -> slice:
        s = slice(self.size, self.size + n)
        self.size += n
        return s

    def entries(self, r: slice | np.ndarray, c: np.ndarray, value: float | np.ndarray) -> None:
        i = np.arange(r.start, r.stop) if isinstance(r, slice) else np.asarray(r)
        self.i.append(i)
        self.j.append(np.asarray(c))
        self.v.append(np.broadcast_to(np.asarray(value, dtype=float), i.shape))

    def bounds(self, r: slice, lo: np.ndarray, hi: np.ndarray) -> None:
        self.lo.append(np.asarray(lo, dtype=float))
        self.hi.append(np.asarray(hi, dtype=float))


def solve(
    rows: Rows, n_col: int, cost: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, float]:
    """Solve min cost.x s.t. lo <= A x <= hi, lower <= x <= upper with HiGHS; the optimum x and value."""
    a = sp.csc_matrix(
        (np.concatenate(rows.v), (np.concatenate(rows.i), np.concatenate(rows.j))), shape=(rows.size, n_col)
    )
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = rows.size
    lp.col_cost_ = cost
    lp.col_lower_ = lower
    lp.col_upper_ = upper
    lp.row_lower_ = np.concatenate(rows.lo)
    lp.row_upper_ = np.concatenate(rows.hi)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    h = quiet_highs()
    h.setOptionValue("threads", 1)
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"planner LP not solved: HiGHS status {h.modelStatusToString(status)}")
    return np.asarray(h.getSolution().col_value), float(h.getInfo().objective_function_value)


@dataclass
class HomeLp:
    """The LP of ``plan_homes`` for M homes and K EVs over T intervals, filled in by the constraint builders
    of ``wattmesh.energy.constraints``.

    Every block is a slice of columns: (T, M) row-major for ``charge``, ``discharge`` [kW], ``soc`` [kWh],
    ``imp``, ``exp`` [kW]; (T, K) for ``ev`` [kW] and ``need`` (EV energy still needed) [kWh]; (W, M) for
    ``peak`` (each home's highest import per peak window) [kW]; one per capped cell for ``relax`` [kW]; and
    for the community, when coupled, (T,) ``grid_import`` and ``grid_export`` [kW], (W,) ``grid_peak`` [kW],
    one per capped interval ``grid_relax`` [kW]. ``lower``, ``upper`` and ``cost`` are per column; ``rows``
    collects the constraints.
    """

    n_t: int
    n_m: int
    n_k: int
    interval_h: float
    charge: slice
    discharge: slice
    soc: slice
    imp: slice
    exp: slice
    ev: slice
    need: slice
    peak: slice
    relax: slice
    grid_import: slice
    grid_export: slice
    grid_peak: slice
    grid_relax: slice
    size: int
    lower: np.ndarray = field(repr=False)
    upper: np.ndarray = field(repr=False)
    cost: np.ndarray = field(repr=False)
    rows: Rows = field(repr=False)

    def block(self, x: np.ndarray, columns: slice, width: int) -> np.ndarray:
        """The values ``x`` of a (T, width) block of columns."""
        return x[columns].reshape(self.n_t, width)


def home_lp(
    n_t: int,
    n_m: int,
    n_k: int,
    interval_h: float,
    *,
    n_windows: int,
    n_capped: int,
    coupled: bool,
    community_peak: bool,
    n_community_capped: int,
) -> HomeLp:
    """An empty ``HomeLp``: its columns laid out, bounds [0, inf), no cost, no rows.

    Parameters
    ----------
    n_t, n_m, n_k : intervals, homes, EVs
    interval_h : interval length [h]
    n_windows : peak windows over the horizon
    n_capped : (interval, home) cells under a demand-response import cap
    coupled : whether the homes share community variables (community peak price or community cap)
    community_peak : whether the community's peak import is priced
    n_community_capped : intervals under a community import cap
    """
    tm = n_t * n_m
    tk = n_t * n_k
    cols = Layout()
    blocks = dict(
        charge=cols.add(tm),
        discharge=cols.add(tm),
        soc=cols.add(tm),
        imp=cols.add(tm),
        exp=cols.add(tm),
        ev=cols.add(tk),
        need=cols.add(tk),
        peak=cols.add(n_windows * n_m),
        relax=cols.add(n_capped),
        grid_import=cols.add(n_t if coupled else 0),
        grid_export=cols.add(n_t if coupled else 0),
        grid_peak=cols.add(n_windows if coupled and community_peak else 0),
        grid_relax=cols.add(n_community_capped if coupled else 0),
    )
    return HomeLp(
        n_t=n_t,
        n_m=n_m,
        n_k=n_k,
        interval_h=interval_h,
        size=cols.size,
        lower=np.zeros(cols.size),
        upper=np.full(cols.size, np.inf),
        cost=np.zeros(cols.size),
        rows=Rows(),
        **blocks,
    )


def solve_home_lp(lp: HomeLp) -> tuple[np.ndarray, float]:
    """The optimum of ``lp``: column values (the solver's round-off below a lower bound of 0 or more
    clipped) and the objective [currency]."""
    x, objective = solve(lp.rows, lp.size, lp.cost, lp.lower, lp.upper)
    return np.where(lp.lower >= 0, np.maximum(x, lp.lower), x), objective


_BANNER_SHOWN = False


def quiet_highs() -> highspy.Highs:
    """A HiGHS solver that prints nothing.

    HiGHS writes its banner to the process's C-level stdout when the first solver of a process is made,
    before any option can turn it off, so that first construction runs with file descriptor 1 pointed at
    /dev/null (the command line's stdout carries tables that users pipe and read).
    """
    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        _BANNER_SHOWN = True
    h.setOptionValue("output_flag", False)
    return h
