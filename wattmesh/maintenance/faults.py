"""Fault injection on real series with known labels, and seeded neighbours made by perturbing a real series.

Each injector takes a power series [kW] (or a battery capacity curve) and returns the faulted copy; the
truth of what was done is a `FaultLabel`. Missing readings (NaN) stay missing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from wattmesh.maintenance.data import PVSystemSpec
from wattmesh.maintenance.pv import expected_ac_power_kw


@dataclass(frozen=True)
class FaultLabel:
    """What was injected, where and when.

    Attributes
    ----------
    asset : str
        Asset id.
    fault_type : str
        ``outage``, ``string_loss``, ``soiling``, ``shading``, ``degradation``, ``comm_loss`` or
        ``capacity_fade``.
    start, end : pandas.Timestamp
        First and last affected instant (UTC; ``end`` inclusive).
    size : float
        Fault size: fraction lost (string loss, shading, capacity fade), soiling rate [1/day], degradation
        rate [1/yr]; 1.0 for outages and communication losses.
    """

    asset: str
    fault_type: str
    start: pd.Timestamp
    end: pd.Timestamp
    size: float


def _window(index: pd.DatetimeIndex, start: pd.Timestamp, end: pd.Timestamp | None) -> np.ndarray:
    mask = index >= start
    if end is not None:
        mask &= index <= end
    return np.asarray(mask)


def inject_outage(
    power_kw: pd.Series, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.Series, FaultLabel]:
    """Inverter trip: zero output (readings still arrive) from ``start`` to ``end`` inclusive."""
    mask = _window(power_kw.index, start, end)
    out = power_kw.where(~mask | power_kw.isna(), 0.0)
    return out, FaultLabel(str(power_kw.name), "outage", start, end, 1.0)


def inject_comm_loss(
    power_kw: pd.Series, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.Series, FaultLabel]:
    """Logger or network failure: no readings (NaN) from ``start`` to ``end``; the plant keeps producing."""
    mask = _window(power_kw.index, start, end)
    return power_kw.where(~mask), FaultLabel(str(power_kw.name), "comm_loss", start, end, 1.0)


def inject_string_loss(
    power_kw: pd.Series, start: pd.Timestamp, fraction: float, end: pd.Timestamp | None = None
) -> tuple[pd.Series, FaultLabel]:
    """A string (or several) drops out: output scaled by ``1 - fraction`` from ``start`` until repair."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"string loss: fraction {fraction} is outside (0, 1)")
    mask = _window(power_kw.index, start, end)
    out = power_kw * np.where(mask, 1.0 - fraction, 1.0)
    return out, FaultLabel(str(power_kw.name), "string_loss", start, end or power_kw.index[-1], fraction)


def inject_soiling(
    power_kw: pd.Series,
    start: pd.Timestamp,
    rate_per_day: float,
    end: pd.Timestamp | None = None,
    max_loss: float = 0.5,
) -> tuple[pd.Series, FaultLabel]:
    """Dust builds up linearly at ``rate_per_day`` (fraction of output per day) until cleaned at ``end``."""
    mask = _window(power_kw.index, start, end)
    age_days = (power_kw.index - start).total_seconds().to_numpy() / 86400.0
    loss = np.where(mask, np.clip(rate_per_day * age_days, 0.0, max_loss), 0.0)
    out = power_kw * (1.0 - loss)
    return out, FaultLabel(str(power_kw.name), "soiling", start, end or power_kw.index[-1], rate_per_day)


def inject_shading(
    power_kw: pd.Series,
    start: pd.Timestamp,
    fraction: float,
    longitude: float,
    morning: bool = True,
    end: pd.Timestamp | None = None,
) -> tuple[pd.Series, FaultLabel]:
    """New shade (a tree, a building) on half the day: ``fraction`` lost before (or after) solar noon."""
    mask = _window(power_kw.index, start, end)
    solar_hour = ((power_kw.index.hour + power_kw.index.minute / 60.0).to_numpy() + longitude / 15.0) % 24.0
    half = solar_hour < 11.0 if morning else solar_hour > 13.0
    out = power_kw * np.where(mask & half, 1.0 - fraction, 1.0)
    return out, FaultLabel(str(power_kw.name), "shading", start, end or power_kw.index[-1], fraction)


def inject_degradation(power_kw: pd.Series, rate_per_year: float) -> tuple[pd.Series, FaultLabel]:
    """Linear loss of ``rate_per_year`` (fraction per year, positive = losing) over the whole series."""
    years = (power_kw.index - power_kw.index[0]).total_seconds().to_numpy() / (365.25 * 86400.0)
    out = power_kw * (1.0 - rate_per_year * years)
    return out, FaultLabel(
        str(power_kw.name), "degradation", power_kw.index[0], power_kw.index[-1], rate_per_year
    )


def inject_capacity_fade(
    capacity_ah: np.ndarray, time_days: np.ndarray, day: float, fraction: float, asset: str = "battery"
) -> tuple[np.ndarray, FaultLabel]:
    """A battery cell fails: capacity drops by ``fraction`` of its value from ``day`` on."""
    out = np.where(time_days >= day, capacity_ah * (1.0 - fraction), capacity_ah)
    t0 = pd.Timestamp("2000-01-01", tz="UTC") + pd.Timedelta(days=float(day))
    return out, FaultLabel(
        asset, "capacity_fade", t0, t0 + pd.Timedelta(days=float(time_days[-1] - day)), fraction
    )


def make_neighbours(
    ac_power_kw: pd.Series,
    weather: pd.DataFrame,
    spec: PVSystemSpec,
    n_neighbours: int,
    seed: int,
    noise_sd: float = 0.03,
) -> tuple[pd.DataFrame, list[PVSystemSpec]]:
    """Homes on one feeder that see the same sky: the real series re-oriented, re-sized and perturbed.

    Each neighbour gets a random tilt (15-45 deg), azimuth (120-240 deg) and DC size (2.5-8 kW). Its power is
    the real system's clear-sky-relative output (measured / modelled for the real system, clipped to 0-1.3)
    times its own modelled power, times a seeded AR(1) multiplicative noise (local clouds, sensor error)
    whose standard deviation grows on variable days. The real system is the first column, unchanged.

    Parameters
    ----------
    ac_power_kw : pandas.Series
        Measured AC power of the real system [kW], UTC index.
    weather : pandas.DataFrame
        Weather on the same index (``ghi``, ``temp_air``).
    spec : PVSystemSpec
        The real system's declaration.
    n_neighbours : int
        How many neighbours to make.
    seed : int
        Seed of every random draw.
    noise_sd : float
        Standard deviation of the interval noise on a steady day [-].

    Returns
    -------
    power_kw : pandas.DataFrame
        (intervals, 1 + n_neighbours) [kW]; NaN where the real series has no reading.
    specs : list of PVSystemSpec
        The declarations, real system first.
    """
    rng = np.random.default_rng(seed)
    specs = [spec] + [
        replace(
            spec,
            name=f"{spec.name}_n{k + 1:02d}",
            tilt_deg=float(rng.uniform(15, 45)),
            azimuth_deg=float(rng.uniform(120, 240)),
            dc_kw=round(float(rng.uniform(2.5, 8.0)), 2),
        )
        for k in range(n_neighbours)
    ]
    specs = [
        replace(s, ac_kw=round(s.dc_kw * spec.ac_kw / spec.dc_kw, 2)) if i else s for i, s in enumerate(specs)
    ]
    model = expected_ac_power_kw(specs, weather).to_numpy()
    real = ac_power_kw.to_numpy(dtype=float)
    base = model[:, 0]
    with np.errstate(all="ignore"):
        kt = np.where(base > 0.02 * spec.dc_kw, real / base, np.nan)
    # Low sun: the ratio is unstable, use the measured power scaled by size instead.
    scaled = real[:, None] * np.array([s.dc_kw / spec.dc_kw for s in specs])[None, :]
    out = np.where(np.isnan(kt)[:, None], scaled, model * np.clip(kt, 0.0, 1.3)[:, None])
    # Interval variability of the sky: more local difference on broken-cloud days.
    ghi = weather["ghi"].to_numpy(dtype=float)
    variability = np.abs(np.diff(ghi, prepend=ghi[0])) / 1000.0
    sd = noise_sd * (1.0 + 5.0 * np.clip(variability, 0.0, 0.5))
    eps = rng.standard_normal((len(real), n_neighbours))
    phi = 0.7
    noise = lfilter([np.sqrt(1 - phi**2)], [1.0, -phi], eps, axis=0)  # AR(1), unit variance
    out[:, 1:] *= np.clip(1.0 + sd[:, None] * noise, 0.0, None)
    out[:, 1:] = np.minimum(out[:, 1:], np.array([s.ac_kw for s in specs[1:]])[None, :])
    frame = pd.DataFrame(out, index=ac_power_kw.index, columns=[s.name for s in specs])
    frame.iloc[:, 0] = real
    return frame, specs
