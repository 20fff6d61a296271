"""Independent references for the market tests: the welfare LPs solved by scipy's HiGHS."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

HIGHS_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


def uniform_welfare_lp(bid_kwh, bid_price, ask_kwh, ask_price) -> tuple[float, float]:
    """Optimal welfare and traded volume of one interval as an LP.

    max sum_b p_b x_b - sum_a c_a y_a  s.t. sum x = sum y, 0 <= x <= q_b, 0 <= y <= q_a.
    """
    bid_kwh, bid_price = np.asarray(bid_kwh, float), np.asarray(bid_price, float)
    ask_kwh, ask_price = np.asarray(ask_kwh, float), np.asarray(ask_price, float)
    n_b, n_a = len(bid_kwh), len(ask_kwh)
    if n_b == 0 or n_a == 0:
        return 0.0, 0.0
    cost = np.concatenate([-bid_price, ask_price])
    balance = np.concatenate([np.ones(n_b), -np.ones(n_a)])[None]
    bounds = [(0, q) for q in np.concatenate([bid_kwh, ask_kwh])]
    result = linprog(cost, A_eq=balance, b_eq=[0.0], bounds=bounds, method="highs", options=HIGHS_OPTIONS)
    assert result.status == 0, result.message
    return -result.fun, float(result.x[:n_b].sum())


def pair_welfare_lp(bid_kwh, bid_price, ask_kwh, ask_price, value_extra, allowed) -> float:
    """Optimal welfare of the bilateral LP with per-pair extra value (premium - fee), dense formulation."""
    n_a, n_b = len(ask_kwh), len(bid_kwh)
    value = np.asarray(bid_price)[None, :] - np.asarray(ask_price)[:, None] + value_extra
    cost = -value.ravel()
    rows = np.zeros((n_a + n_b, n_a * n_b))
    for s in range(n_a):
        for b in range(n_b):
            rows[s, s * n_b + b] = 1.0
            rows[n_a + b, s * n_b + b] = 1.0
    bounds = [(0, None if ok else 0) for ok in np.asarray(allowed, bool).ravel()]
    limits = np.concatenate([ask_kwh, bid_kwh])
    result = linprog(cost, A_ub=rows, b_ub=limits, bounds=bounds, method="highs", options=HIGHS_OPTIONS)
    assert result.status == 0, result.message
    return -result.fun


def assert_close(actual: float, expected: float, rel: float = 1e-9) -> None:
    """Relative agreement, absolute (same tolerance) near zero."""
    assert abs(actual - expected) <= rel * max(1.0, abs(expected)), (actual, expected)
