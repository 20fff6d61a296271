"""What the energy planners share: the relaxation penalty and the array helpers of the LP, the fast planner,
the EV sessions and the rules."""

from __future__ import annotations

import numpy as np

RELAX_PENALTY_PER_KWH = 50.0
"""Cost of each kWh by which a demand-response cap is exceeded: high enough that any feasible way of
honouring the cap is cheaper, so the cap is relaxed only where nothing can meet it."""


def per_home(values: np.ndarray | float, n_t: int, n_m: int, name: str) -> np.ndarray:
    """``values`` as a (T, M) array: a scalar, (T,) or (T, M).

    Raises
    ------
    ValueError
        naming ``name`` and its shape when it broadcasts to neither.
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    try:
        return np.broadcast_to(arr, (n_t, n_m))
    except ValueError:
        raise ValueError(f"{name} has shape {arr.shape}, expected (T,) or (T, M) = {(n_t, n_m)}") from None


def ranges(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for every c in ``counts``, concatenated."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts
