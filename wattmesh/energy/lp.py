"""The planner's linear programme: its column layout (one block per kind of variable), its rows as sparse
triplets, and the HiGHS solve."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from contextlib import contextmanager
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


class WarmStart:
    """HiGHS solvers kept between solves, one per key (e.g. a block of homes that a model-predictive
    controller re-plans every interval), so that an LP with the same constraint matrix as the key's last one
    starts from that one's optimal basis: only its costs and bounds change, and the dual simplex method
    needs a few iterations where a cold start needs hundreds. The optimum is the same; where the LP has
    several optimal vertices, the one reached may differ from a cold start's (deterministically: the same
    sequence of LPs gives the same answers)."""

    def __init__(self) -> None:
        self._solvers: dict = {}
        self._children: dict = {}

    def child(self, key) -> WarmStart:
        """The solvers kept under ``key`` (e.g. one block of homes), as a ``WarmStart`` of their own."""
        return self._children.setdefault(key, WarmStart())

    def solver(self, key, a: sp.csc_matrix) -> tuple[highspy.Highs, bool]:
        """The key's solver and whether it holds a model with the constraint matrix ``a``."""
        kept = self._solvers.get(key)
        if kept is not None:
            h, b = kept
            if (
                b.shape == a.shape
                and b.nnz == a.nnz
                and np.array_equal(b.indptr, a.indptr)
                and np.array_equal(b.indices, a.indices)
                and np.array_equal(b.data, a.data)
            ):
                return h, True
        h = _planner_highs()
        self._solvers[key] = (h, a)
        return h, False


def _planner_highs() -> highspy.Highs:
    """A quiet, single-threaded HiGHS for warm-started LPs: dual simplex without presolve (measured 1.4
    times faster than the default on the planner's LPs even from a cold start), which restarts from a
    kept basis."""
    h = quiet_highs()
    h.setOptionValue("threads", 1)
    return h


def solve(
    rows: Rows,
    n_col: int,
    cost: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    warm: WarmStart | None = None,
    key=None,
) -> tuple[np.ndarray, float]:
    """Solve min cost.x s.t. lo <= A x <= hi, lower <= x <= upper with HiGHS; the optimum x and value.

    With ``warm``, the LP starts from the optimal basis of the last LP solved under ``key`` where that one
    had the same matrix (see :class:`WarmStart`); without, HiGHS starts cold with its default options.
    """
    a = sp.csc_matrix(
        (np.concatenate(rows.v), (np.concatenate(rows.i), np.concatenate(rows.j))), shape=(rows.size, n_col)
    )
    row_lower = np.concatenate(rows.lo) if rows.lo else np.zeros(0)
    row_upper = np.concatenate(rows.hi) if rows.hi else np.zeros(0)
    if warm is None:
        h, same = quiet_highs(), False
        h.setOptionValue("threads", 1)
    else:
        h, same = warm.solver(key, a)
    if same:
        columns = np.arange(n_col, dtype=np.int32)
        h.changeColsCost(n_col, columns, cost)
        h.changeColsBounds(n_col, columns, lower, upper)
        h.changeRowsBounds(rows.size, np.arange(rows.size, dtype=np.int32), row_lower, row_upper)
    else:
        lp = highspy.HighsLp()
        lp.num_col_ = n_col
        lp.num_row_ = rows.size
        lp.col_cost_ = cost
        lp.col_lower_ = lower
        lp.col_upper_ = upper
        lp.row_lower_ = row_lower
        lp.row_upper_ = row_upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr
        lp.a_matrix_.index_ = a.indices
        lp.a_matrix_.value_ = a.data
        h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal and same:
        # a kept basis that leads nowhere is dropped: the same LP again from scratch
        h.clearSolver()
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


def solve_home_lp(lp: HomeLp, warm: WarmStart | None = None, key=None) -> tuple[np.ndarray, float]:
    """The optimum of ``lp``: column values (the solver's round-off below a lower bound of 0 or more
    clipped) and the objective [currency]; ``warm`` and ``key`` as for :func:`solve`."""
    x, objective = solve(lp.rows, lp.size, lp.cost, lp.lower, lp.upper, warm, key)
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


_POOL = None


@contextmanager
def parallel_solves(workers: int):
    """Within the block, :func:`solve_home_lps` without a warm start solves its LPs on ``workers`` forked
    processes (when ``workers`` >= 2 and the platform forks). Each LP is solved as in this process (same
    input, same single-threaded HiGHS), so the answers are the same bit for bit."""
    global _POOL
    if workers < 2 or _POOL is not None or "fork" not in mp.get_all_start_methods():
        yield
        return
    pool = mp.get_context("fork").Pool(workers)
    _POOL = pool
    try:
        yield
    finally:
        _POOL = None
        pool.terminate()
        pool.join()


def _lp_arrays(lp: HomeLp) -> tuple:
    return (lp.rows, lp.size, lp.cost, lp.lower, lp.upper)


def _solve_arrays(arrays: tuple) -> tuple[np.ndarray, float]:
    return solve(*arrays)


def solve_home_lps(
    lps: list[HomeLp], warm: WarmStart | None = None, keys=None
) -> list[tuple[np.ndarray, float]]:
    """:func:`solve_home_lp` of each LP; on the processes of :func:`parallel_solves` when there are some,
    more than one LP and no warm start."""
    keys = [None] * len(lps) if keys is None else keys
    if _POOL is None or warm is not None or len(lps) < 2:
        return [solve_home_lp(lp, warm, key) for lp, key in zip(lps, keys, strict=True)]
    solved = _POOL.map(_solve_arrays, [_lp_arrays(lp) for lp in lps], chunksize=1)
    return [
        (np.where(lp.lower >= 0, np.maximum(x, lp.lower), x), objective)
        for lp, (x, objective) in zip(lps, solved, strict=True)
    ]
