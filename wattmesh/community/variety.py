"""Seeded variety for load profiles, so that members built from a few shared shapes do not move in lockstep."""

from __future__ import annotations

import numpy as np


def load_variety(
    load_kw: np.ndarray,
    shift_max_intervals: int,
    scale_sigma: float,
    noise_sigma: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Each column of ``load_kw`` (T, M) shifted in time, rescaled and given multiplicative noise.

    Parameters
    ----------
    load_kw : (T, M) load profiles [kW]
    shift_max_intervals : each column is rotated by a whole number of intervals drawn uniformly from
        [-shift_max_intervals, shift_max_intervals] (habits differ by up to that much)
    scale_sigma : each column is multiplied by a log-normal factor exp(N(0, sigma^2) - sigma^2/2), whose
        mean is 1, so that homes differ in size but the community's expected total is kept
    noise_sigma : each value is multiplied by max(0, 1 + N(0, noise_sigma^2))

    Returns
    -------
    (T, M) varied load [kW], never negative.
    """
    n_intervals, n_members = load_kw.shape
    shifts = rng.integers(-shift_max_intervals, shift_max_intervals + 1, size=n_members)
    rows = (np.arange(n_intervals)[:, None] - shifts[None, :]) % n_intervals
    shifted = np.take_along_axis(load_kw, rows, axis=0)
    scale = np.exp(rng.normal(0.0, scale_sigma, n_members) - scale_sigma**2 / 2)
    noise = np.maximum(0.0, 1.0 + rng.normal(0.0, noise_sigma, (n_intervals, n_members)))
    return np.maximum(shifted * scale[None, :] * noise, 0.0)
