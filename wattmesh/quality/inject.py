"""Fault injection with known labels: real series made faulty the ways real meters fail, for tests and benchmarks.

Each ``inject_*`` function takes energy per interval [kWh] (intervals x meters, regular UTC grid) and a
``numpy.random.Generator``, changes a copy, and returns it with a boolean label frame (True where a value was
made faulty) and one event per fault (meter, reason, start, end, detail). :func:`inject_faults` applies
several kinds at once, each on its own meters and days so labels never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Injected:
    """A faulty copy of the readings and what was done to it.

    Attributes
    ----------
    values : the faulty readings [kWh per interval]
    labels : reason -> interval x meter bool, True where that fault was injected
    events : one row per fault: meter, reason, start, end (UTC), detail
    """

    values: pd.DataFrame
    labels: dict[str, pd.DataFrame]
    events: pd.DataFrame


def _label(values: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(False, index=values.index, columns=values.columns)


def _scale(col: np.ndarray) -> float:
    nz = np.abs(col[np.isfinite(col) & (col != 0)])
    return float(np.percentile(nz, 99.5)) if nz.size else 1.0


def _per_step(values: pd.DataFrame, duration: str) -> int:
    return max(
        int(pd.Timedelta(duration) / pd.Timedelta(values.index.freq or (values.index[1] - values.index[0]))),
        1,
    )


def inject_stuck(values, rng, n=5, min_len="3h", max_len="24h", meters=None):
    """Hold a non-zero value for 3-24 h: the repeats are labelled (the first value was measured)."""
    out, lab, ev = values.copy(), _label(values), []
    arr = out.to_numpy(copy=True)
    lo, hi = _per_step(values, min_len), _per_step(values, max_len)
    for _ in range(n):
        j = rng.choice(meters if meters is not None else len(values.columns))
        length = int(rng.integers(lo, hi + 1))
        candidates = np.flatnonzero(np.abs(arr[: len(arr) - length - 1, j]) > 0.05 * _scale(arr[:, j]))
        t0 = int(rng.choice(candidates))
        arr[t0 + 1 : t0 + 1 + length, j] = arr[t0, j]
        lab.iloc[t0 + 1 : t0 + 1 + length, j] = True
        ev.append(
            (values.columns[j], "stuck", values.index[t0 + 1], values.index[t0 + length], f"{length} values")
        )
    out[:] = arr
    return out, lab, ev


def inject_interpolated(values, rng, n=5, min_len="3h", max_len="24h", meters=None):
    """Replace 3-24 h by the straight line between the measured values either side (a filled gap)."""
    out, lab, ev = values.copy(), _label(values), []
    arr = out.to_numpy(copy=True)
    lo, hi = _per_step(values, min_len), _per_step(values, max_len)
    for _ in range(n):
        j = rng.choice(meters if meters is not None else len(values.columns))
        scale = _scale(arr[:, j])
        for _try in range(200):
            length = int(rng.integers(lo, hi + 1))
            a = int(rng.integers(0, len(arr) - length - 2))
            b = a + length + 1
            if abs(arr[b, j] - arr[a, j]) > 0.05 * scale:
                break
        arr[a + 1 : b, j] = np.linspace(arr[a, j], arr[b, j], length + 2)[1:-1]
        lab.iloc[a + 1 : b, j] = True
        ev.append(
            (values.columns[j], "interpolated", values.index[a + 1], values.index[b - 1], f"{length} values")
        )
    out[:] = arr
    return out, lab, ev


def inject_spikes(values, rng, n=50, low=2.0, high=6.0, meters=None):
    """Add 2-6 times the meter's scale (its 99.5th percentile) to single values."""
    out, lab, ev = values.copy(), _label(values), []
    arr = out.to_numpy(copy=True)
    for _ in range(n):
        j = rng.choice(meters if meters is not None else len(values.columns))
        t = int(rng.integers(2, len(arr) - 2))
        if lab.iat[t - 1, j] or lab.iat[t + 1, j]:
            continue
        arr[t, j] += rng.uniform(low, high) * _scale(values.iloc[:, j].to_numpy())
        lab.iat[t, j] = True
        ev.append((values.columns[j], "spike", values.index[t], values.index[t], ""))
    out[:] = arr
    return out, lab, ev


def inject_negatives(values, rng, n=20, sign_days=2, meters=None):
    """Flip the sign of single non-zero values, and of whole days (a sign error)."""
    out, lab, ev = values.copy(), _label(values), []
    arr = out.to_numpy(copy=True)
    for _ in range(n):
        j = rng.choice(meters if meters is not None else len(values.columns))
        t = int(rng.choice(np.flatnonzero(arr[:, j] > 0)))
        arr[t, j] = -arr[t, j]
        lab.iat[t, j] = True
        ev.append((values.columns[j], "negative", values.index[t], values.index[t], ""))
    day = values.index.floor("D")
    days = day.unique()
    for _ in range(sign_days):
        j = rng.choice(meters if meters is not None else len(values.columns))
        d = days[int(rng.integers(1, len(days) - 1))]
        rows = np.flatnonzero((day == d) & (arr[:, j] > 0))
        arr[rows, j] = -arr[rows, j]
        lab.iloc[rows, j] = True
        ev.append((values.columns[j], "sign_error", d, d + pd.Timedelta("1D"), f"{len(rows)} values"))
    out[:] = arr
    return out, lab, ev


def inject_unit_errors(values, rng, n=3, min_days=3, max_days=30, meters=None):
    """Multiply (or divide) a stretch of 3-30 days by 1000, as a meter that reports Wh as kWh."""
    out, lab, ev = values.copy(), _label(values), []
    arr = out.to_numpy(copy=True)
    per_day = _per_step(values, "1D")
    for _ in range(n):
        j = rng.choice(meters if meters is not None else len(values.columns))
        length = int(rng.integers(min_days, max_days + 1)) * per_day
        t0 = int(rng.integers(0, len(arr) - length))
        factor = 1000.0 if rng.random() < 0.7 else 1e-3
        arr[t0 : t0 + length, j] *= factor
        lab.iloc[t0 : t0 + length, j] = arr[t0 : t0 + length, j] != 0
        ev.append(
            (values.columns[j], "unit_error", values.index[t0], values.index[t0 + length - 1], f"x{factor:g}")
        )
    out[:] = arr
    return out, lab, ev


def inject_level_shift(values, rng, meter, ratio, start):
    """Multiply one meter by ``ratio`` from ``start`` on (a changed CT ratio or scaling)."""
    out, lab = values.copy(), _label(values)
    j = values.columns.get_loc(meter)
    rows = values.index >= start
    out.iloc[rows, j] = out.iloc[rows, j] * ratio
    lab.iloc[rows, j] = True
    return out, lab, [(meter, "level_shift", pd.Timestamp(start), values.index[-1], f"x{ratio:.2f}")]


def shift_in_time(col: np.ndarray, offset_minutes: np.ndarray, step_minutes: float) -> np.ndarray:
    """``col`` as read by a clock ``offset_minutes`` fast: the value labelled t is the one measured at
    t - offset, linearly interpolated between intervals."""
    pos = np.arange(len(col)) - offset_minutes / step_minutes
    good = np.isfinite(col)
    filled = np.interp(np.arange(len(col)), np.flatnonzero(good), col[good]) if not good.all() else col
    return np.interp(pos, np.arange(len(col)), filled)


def inject_time_shift(values, meter, start, days, minutes):
    """Shift one meter's clock by ``minutes`` for ``days`` from ``start``."""
    out, lab = values.copy(), _label(values)
    j = values.columns.get_loc(meter)
    rows = (values.index >= start) & (values.index < pd.Timestamp(start) + pd.Timedelta(days=days))
    step_min = (values.index[1] - values.index[0]).total_seconds() / 60
    offset = np.where(rows, float(minutes), 0.0)
    out.iloc[:, j] = shift_in_time(values.iloc[:, j].to_numpy(dtype=float), offset, step_min)
    lab.iloc[rows, j] = True
    end = pd.Timestamp(start) + pd.Timedelta(days=days)
    return out, lab, [(meter, "time_shift", pd.Timestamp(start), end, f"{minutes:+g} min")]


def inject_drift(values, meter, start, days=30, total_minutes=30.0):
    """A clock that runs off linearly by ``total_minutes`` over ``days``, then is set right."""
    out, lab = values.copy(), _label(values)
    j = values.columns.get_loc(meter)
    start = pd.Timestamp(start)
    elapsed = (values.index - start) / pd.Timedelta(days=days)
    rows = (elapsed >= 0) & (elapsed < 1)
    step_min = (values.index[1] - values.index[0]).total_seconds() / 60
    offset = np.where(rows, total_minutes * np.asarray(elapsed), 0.0)
    out.iloc[:, j] = shift_in_time(values.iloc[:, j].to_numpy(dtype=float), offset, step_min)
    lab.iloc[rows, j] = True
    return (
        out,
        lab,
        [(meter, "clock_drift", start, start + pd.Timedelta(days=days), f"{total_minutes:g} min")],
    )


def inject_dst_logging(values, meter, tz):
    """Log one meter on the local daylight-saving clock of ``tz`` but label it as standard time.

    In the DST months each value then appears one hour later than it was measured (NREL system 50's raw
    file has this error).
    """
    out, lab = values.copy(), _label(values)
    j = values.columns.get_loc(meter)
    local = values.index.tz_convert(tz)
    dst = np.array([bool(t.dst()) for t in local]) if len(local) < 5000 else _dst_mask(values.index, tz)
    step_min = (values.index[1] - values.index[0]).total_seconds() / 60
    out.iloc[:, j] = shift_in_time(
        values.iloc[:, j].to_numpy(dtype=float), np.where(dst, 60.0, 0.0), step_min
    )
    lab.iloc[dst, j] = True
    return (
        out,
        lab,
        [(meter, "dst_shift", values.index[dst][0], values.index[dst][-1], tz)] if dst.any() else [],
    )


def _dst_mask(index: pd.DatetimeIndex, tz: str) -> np.ndarray:
    days = index.floor("D").unique()
    offsets = pd.Series(
        [t.dst().total_seconds() > 0 for t in (days + pd.Timedelta("12h")).tz_convert(tz)], index=days
    )
    return offsets.reindex(index.floor("D")).to_numpy(dtype=bool)


def to_registers(values: pd.DataFrame, start_kwh: float | np.ndarray = 0.0) -> pd.DataFrame:
    """Cumulative registers [kWh] from energy per interval, starting at ``start_kwh``."""
    return values.fillna(0).cumsum() + start_kwh


def inject_register_faults(registers, rng, n_resets=2, n_rollovers=1, rollover_at=1e5):
    """Reset registers to near zero, and wrap them at ``rollover_at`` (a 5-digit register is 1e5 kWh).

    The rollover is made by raising the register so that it crosses ``rollover_at`` at a random interval and
    taking it modulo ``rollover_at``. The interval after each fall is labelled.
    """
    out = registers.copy()
    labels = {"register_reset": _label(registers), "register_rollover": _label(registers)}
    ev = []
    arr = out.to_numpy(copy=True)
    for _ in range(n_rollovers):
        j = int(rng.integers(0, arr.shape[1]))
        t = int(rng.integers(10, len(arr) - 10))
        arr[:, j] = arr[:, j] - arr[t, j] + rollover_at  # the register passes rollover_at at t
        arr[:, j] = np.mod(arr[:, j], rollover_at)
        fall = np.flatnonzero(np.diff(arr[:, j]) < 0) + 1
        labels["register_rollover"].iloc[fall, j] = True
        ev += [
            (registers.columns[j], "register_rollover", registers.index[f], registers.index[f], "")
            for f in fall
        ]
    for _ in range(n_resets):
        j = int(rng.integers(0, arr.shape[1]))
        t = int(rng.integers(10, len(arr) - 10))
        if labels["register_rollover"].iloc[:, j].any():
            continue
        arr[t:, j] = arr[t:, j] - arr[t - 1, j] + rng.uniform(0, 0.01)
        arr[t:, j] = arr[t:, j] - arr[t, j] + rng.uniform(0, 0.01) * 0
        labels["register_reset"].iat[t, j] = True
        ev.append((registers.columns[j], "register_reset", registers.index[t], registers.index[t], ""))
    out[:] = arr
    return out, labels, ev


def inject_duplicates(table: pd.DataFrame, rng, n=20, conflicting=True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Repeat ``n`` rows of a long readings table (half with a changed value); returns (table, the keys)."""
    rows = rng.choice(len(table), size=n, replace=False)
    extra = table.iloc[rows].copy()
    if conflicting:
        half = np.arange(n) % 2 == 1
        extra.loc[extra.index[half], "value"] = extra.loc[extra.index[half], "value"] * 1.5 + 0.1
    out = pd.concat([table, extra]).iloc[rng.permutation(len(table) + n)].reset_index(drop=True)
    return out, extra[["meter_id", "timestamp"]].reset_index(drop=True)


def events_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["meter", "reason", "start", "end", "detail"])


def inject_faults(values: pd.DataFrame, seed: int = 0, *, counts: dict[str, int] | None = None) -> Injected:
    """Stuck, interpolated, spike, negative and unit faults at once, on disjoint meters (round robin).

    ``counts`` per reason (defaults: 5 stuck, 5 interpolated, 50 spikes, 20 negatives, 2 unit errors).
    """
    rng = np.random.default_rng(seed)
    counts = {"stuck": 5, "interpolated": 5, "spike": 50, "negative": 20, "unit_error": 2} | (counts or {})
    kinds = [k for k in ("stuck", "interpolated", "spike", "negative", "unit_error") if counts.get(k)]
    meters = {
        k: [j for j in range(len(values.columns)) if j % len(kinds) == i] or [0] for i, k in enumerate(kinds)
    }
    funcs = {"stuck": inject_stuck, "interpolated": inject_interpolated, "spike": inject_spikes,
             "negative": inject_negatives, "unit_error": inject_unit_errors}  # fmt: skip
    out = values
    labels: dict[str, pd.DataFrame] = {}
    events: list[tuple] = []
    for kind in kinds:
        kwargs = {"n": counts[kind], "meters": meters[kind]}
        if kind == "negative":
            kwargs["sign_days"] = max(counts[kind] // 10, 1)
        out, lab, ev = funcs[kind](out, rng, **kwargs)
        labels[kind] = lab
        events += ev
    return Injected(out, labels, events_frame(events))
