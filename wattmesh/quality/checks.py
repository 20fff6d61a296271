"""Meter-data checks: each returns a flag per value (a boolean interval x meter frame) for one reason code.

:func:`check_readings` runs them all and returns the flags (one ``uint32`` of reason bits per value, see
:data:`wattmesh.quality.schema.REASONS`) and a :class:`QualityReport`. The live exchange and the simulator
call it on every batch of readings before settling; the CLI's ``wattmesh meter check`` prints its report.

Values are energy per interval [kWh] on a regular UTC grid, one column per meter (register meters hold the
cumulative register [kWh]; their checks run on the interval energy derived from it). The checks judge a
value against the meter's own neighbourhood in time and scale, and, where the frame holds other meters of
the same kind (the neighbours on the feeder), against them: a level shift is a step in the ratio to the
neighbours, a time shift a step in the daily centre of PV output against the neighbours' (or the equation
of time's when a meter has none).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wattmesh.quality.io import MeterData, ReadingsError
from wattmesh.quality.schema import FLAG_DTYPE, REASON_BITS, REASONS, empty_flags

MINUTES_PER_DAY = 1440.0


@dataclass(frozen=True)
class CheckSettings:
    """Thresholds of the checks (defaults are the ones measured in ``benchmarks/quality.py``).

    Attributes
    ----------
    stuck_min : shortest run of one repeated non-zero value that is flagged (and at least 6 values)
    spike_factor : a spike rises this many times the meter's scale (its 99.5th percentile) above the median
        of its five-interval neighbourhood
    unit_log10 : a unit error moves the meter's one-day rolling median level by this many decades (1.5 is a
        factor 32; a Wh-vs-kWh error is 3)
    level_min : smallest lasting step against the neighbours that is flagged [fraction]
    level_min_days : shortest stretch a level shift must last [days]
    time_shift_min : smallest clock offset flagged as a time shift [minutes]
    drift_min : smallest clock offset flagged as drift (a slow offset below the shift threshold) [minutes]
    skip : reasons not checked, e.g. ``("level_shift", "clock_drift")`` where their false alarms on a
        fleet's clean data (see docs/quality.md) outweigh what they find
    """

    stuck_min: str = "2h"
    spike_factor: float = 1.5
    unit_log10: float = 2.0
    level_min: float = 0.1
    level_min_days: int = 14
    time_shift_min: float = 40.0
    drift_min: float = 6.0
    skip: tuple[str, ...] = ()


@dataclass
class QualityReport:
    """What :func:`check_readings` found.

    Attributes
    ----------
    summary : one row per meter: kind, values, completeness [fraction], and the count of values flagged for
        each reason
    events : one row per fault found: meter, reason, start, end (UTC), values flagged, detail
    skipped : checks not run, with why (e.g. level shifts need three meters of the same kind)
    step : the interval length
    """

    summary: pd.DataFrame
    events: pd.DataFrame
    skipped: list[str] = field(default_factory=list)
    step: pd.Timedelta = pd.Timedelta("15min")
    notes: list[str] = field(default_factory=list)

    @property
    def has_faults(self) -> bool:
        """True when any value was flagged for any reason."""
        return len(self.events) > 0

    def counts(self) -> pd.Series:
        """Values flagged per reason over all meters."""
        return self.summary[[r.name for r in REASONS]].sum()


def _scale(values: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Per meter: the 99.5th percentile of the non-zero magnitudes (a robust capacity) [kWh/interval]."""
    mag = np.abs(values)
    mag = np.where((mag > 0) & ~(exclude if exclude is not None else False), mag, np.nan)
    with np.errstate(all="ignore"):
        scale = np.nanpercentile(mag, 99.5, axis=0) if mag.size else np.zeros(values.shape[1])
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


def stuck_values(values: pd.DataFrame, step: pd.Timedelta, min_duration: str = "2h") -> pd.DataFrame:
    """True for each repeat of a non-zero value held for at least ``min_duration`` (and 6 values).

    Uses :func:`pvanalytics.quality.gaps.stale_values_round` (6 decimals of kWh, ``mark='tail'``: the first
    value of the run was measured, its repeats were not). Zero runs (PV at night, an empty home) are not
    flagged.
    """
    window = max(int(pd.Timedelta(min_duration) / step), 6)
    from pvanalytics.quality import gaps  # imported here: pvlib and scipy.stats take seconds to import

    flags = gaps.stale_values_round(values, window=window, decimals=6, mark="tail")
    return flags & (values.abs() > 1e-9) & values.notna()


def interpolated_values(values: pd.DataFrame, step: pd.Timedelta, min_duration: str = "2h") -> pd.DataFrame:
    """True for the inner points of a straight-line run with a non-zero step (filled, not measured).

    The first difference is constant along such a run: pvanalytics' ``stale_values_round`` finds the runs
    of equal differences; the run's two end points are measured values and are not flagged.
    """
    window = max(int(pd.Timedelta(min_duration) / step), 6)
    diff = values.diff()
    scale = pd.Series(_scale(values.to_numpy(dtype=float)), index=values.columns)
    # relative rounding: a step of 1e-6 of the meter's scale is the resolution that counts as equal
    normalised = diff / scale
    from pvanalytics.quality import gaps

    runs = gaps.stale_values_round(normalised, window=window - 1, decimals=6, mark="all")
    runs &= normalised.abs() > 1e-6
    inner = runs & runs.shift(-1, fill_value=False)
    return inner.astype(bool)


def negative_and_sign_errors(
    values: pd.DataFrame, allow_negative: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(negative, sign_error): isolated negatives, and days where most non-zero values are negative.

    ``allow_negative`` is a per-meter bool (net and register meters); they are never flagged here.
    """
    arr = values.to_numpy(dtype=float)
    neg = (arr < 0) & ~allow_negative[None, :]
    day = values.index.floor("D")
    nonzero = pd.DataFrame((np.abs(arr) > 1e-9).astype(float), index=values.index)
    negative = pd.DataFrame(neg.astype(float), index=values.index)
    frac = negative.groupby(day).transform("sum") / nonzero.groupby(day).transform("sum").clip(lower=1)
    count = nonzero.groupby(day).transform("sum")
    sign_day = (frac.to_numpy() >= 0.8) & (count.to_numpy() >= 4)
    sign = neg & sign_day
    return (
        pd.DataFrame(neg & ~sign, index=values.index, columns=values.columns),
        pd.DataFrame(sign, index=values.index, columns=values.columns),
    )


def spikes(
    values: pd.DataFrame, kinds: pd.Series, exclude: pd.DataFrame | None = None, factor: float = 1.5
) -> pd.DataFrame:
    """True for values that rise ``factor`` times the meter's scale above their 5-interval median.

    The scale is the meter's 99.5th percentile, so a sunny interval after a cloudy one (at most one scale
    above its neighbours) is not a spike, as a plain Hampel filter would say of cloudy PV. A generation
    meter with two or more generation neighbours must also stand at least half a scale above the highest of
    them (normalised by their scales) at that interval: the neighbours see the same sun.
    """
    arr = values.to_numpy(dtype=float)
    ex = exclude.to_numpy() if exclude is not None else np.zeros(arr.shape, dtype=bool)
    clean = np.where(ex, np.nan, arr)
    scale = _scale(clean)
    median = pd.DataFrame(clean).rolling(5, center=True, min_periods=3).median().to_numpy()
    # the median of the neighbours without the point itself where the point is the only high one
    excess = clean - np.nan_to_num(median, nan=0.0)
    flag = excess > factor * scale[None, :]
    gen = kinds.to_numpy() == "generation"
    if gen.sum() >= 3:
        norm = clean[:, gen] / scale[None, gen]
        for j_local, j in enumerate(np.flatnonzero(gen)):
            others = np.delete(norm, j_local, axis=1)
            envelope = np.nanmax(np.where(np.isnan(others), -np.inf, others), axis=1)
            flag[:, j] &= norm[:, j_local] > envelope + 0.5
    return pd.DataFrame(flag & ~ex, index=values.index, columns=values.columns)


def unit_errors(values: pd.DataFrame, step: pd.Timedelta, log10_min: float = 2.0) -> pd.DataFrame:
    """True for values of days whose largest magnitude is off by >= ``log10_min`` decades from the meter's
    median daily maximum (a Wh-vs-kWh error is 3 decades; a dull winter or snow day is less than one).

    On a day that is too high only the values from the first to the last more than ten times the median
    daily maximum are flagged (the error may start within the day); on a day that is too low every non-zero
    value is. :func:`unit_error_directions` tells the two apart.
    """
    high, low = unit_error_directions(values, log10_min)
    return pd.DataFrame(high | low, index=values.index, columns=values.columns)


def unit_error_directions(values: pd.DataFrame, log10_min: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """(too_high, too_low): the two sides of :func:`unit_errors`, as (intervals, meters) bool arrays."""
    arr = values.to_numpy(dtype=float)
    day = values.index.floor("D")
    peak = pd.DataFrame(np.abs(arr), index=values.index).groupby(day).max()
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.log10(peak.where(peak > 0).to_numpy(dtype=float))
    base = np.nanmedian(level, axis=0) if np.isfinite(level).any() else np.zeros(arr.shape[1])
    base = np.nan_to_num(base, nan=0.0)
    offset = pd.DataFrame(level - base[None, :], index=peak.index).reindex(day).to_numpy()
    with np.errstate(invalid="ignore"):
        high_day = offset >= log10_min
        high = high_day & (np.abs(arr) > 10 * 10.0 ** base[None, :])
        low = (offset <= -log10_min) & (np.abs(arr) > 0)
    # within a stretch of high days, every value from the first clearly high one to the last is scaled
    for j in np.flatnonzero(high.any(axis=0)):
        for start, end, _size in _runs(high_day[:, j]):
            marked = np.flatnonzero(high[start:end, j])
            if marked.size:
                a, b = start + marked[0], start + marked[-1] + 1
                high[a:b, j] = np.abs(arr[a:b, j]) > 0
    return high, low


def register_faults(registers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(reset, rollover, interval_kwh) of cumulative registers [kWh].

    A fall of the register is a rollover when the value before it is at least 90 % of a power of ten and the
    energy across the wrap (``10**k - before + after``) is no more than ten typical steps; any other fall is
    a reset. ``interval_kwh`` is the energy of each interval: the register's difference, across a rollover
    the wrapped difference, after a reset NaN (unknown).
    """
    arr = registers.to_numpy(dtype=float)
    diff = np.diff(arr, axis=0, prepend=np.nan)
    with np.errstate(invalid="ignore"):
        positive = np.where(diff > 0, diff, np.nan)
    typical = (
        np.nan_to_num(np.nanmedian(positive, axis=0), nan=0.0)
        if np.isfinite(positive).any()
        else np.zeros(arr.shape[1])
    )
    before = np.vstack([np.full((1, arr.shape[1]), np.nan), arr[:-1]])
    fell = diff < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        power = 10.0 ** np.ceil(np.log10(np.where(before > 0, before, np.nan) * (1 + 1e-12)))
    wrapped = power - before + arr
    rollover = fell & (before >= 0.9 * power) & (wrapped >= 0) & (wrapped <= 10 * typical[None, :] + 1e-9)
    reset = fell & ~rollover
    energy = np.where(rollover, wrapped, diff)
    energy = np.where(reset, np.nan, energy)
    frame = lambda a: pd.DataFrame(a, index=registers.index, columns=registers.columns)  # noqa: E731
    return frame(reset), frame(rollover), frame(energy)


def _daily(values: pd.DataFrame, step: pd.Timedelta) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(daily energy [kWh], completeness [fraction]) per meter, UTC days."""
    day = values.index.floor("D")
    per_day = int(pd.Timedelta("1D") / step)
    total = values.groupby(day).sum(min_count=1)
    complete = values.notna().groupby(day).sum() / per_day
    return total, complete


def level_shifts(
    values: pd.DataFrame,
    kinds: pd.Series,
    step: pd.Timedelta,
    min_step: float = 0.1,
    min_days: int = 14,
    peers: int = 5,
) -> tuple[pd.DataFrame, list[dict], list[str]]:
    """Lasting steps in a meter's daily energy against its neighbours', by change-point detection.

    For each kind with at least three meters, each meter's daily energy over its median is divided by the
    median of the other meters' (the feeder's weather and season cancel), and ``ruptures``' KernelCPD finds
    the change points of the log ratio. A generation meter is divided by the median of its ``peers`` closest
    neighbours only (:func:`_peers`, by their day-to-day changes): PV of other orientations gains more or less
    on clear days than on overcast ones, and against the whole fleet its ratio follows the sky (CityLearn's
    homes form two such groups, 20-30 % apart on clear winter days). A step of at least ``min_step`` and four
    times the meter's usual ``min_days``-day change that lasts ``min_days`` is flagged; it ends where the
    ratio returns to the level before it, and a second step within it starts a shift of its own. Its start
    is the best single split (least absolute deviation) of the ``min_days`` either side of the change point.

    Returns
    -------
    (flags, events, skipped) : per-value flags, one dict per shift (meter, start, end, ratio), and the kinds
        that had too few meters to be checked.
    """
    import ruptures

    flags = pd.DataFrame(False, index=values.index, columns=values.columns)
    events: list[dict] = []
    skipped: list[str] = []
    daily, complete = _daily(values, step)
    daily = daily.where(complete >= 0.8)
    days = daily.index
    if len(days) < 2 * min_days:
        return flags, events, [f"level_shift: {len(days)} days of data, need {2 * min_days}"]
    day_of_value = values.index.floor("D")
    for kind in kinds.unique():
        members = list(kinds.index[kinds == kind])
        if kind == "net" or len(members) < 3:
            skipped.append(f"level_shift for {kind} meters: {len(members)} meter(s), need 3 of the same kind")
            continue
        norm = daily[members] / daily[members].median().replace(0, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log(norm.where(norm > 0).to_numpy(dtype=float))
        # PV meters of other orientations gain differently on clear and overcast days: their reference is
        # the median of the peers that rise and fall with them from day to day
        peer_cols = _peers(logs, peers) if kind == "generation" else None
        for j, meter in enumerate(members):
            others = np.delete(logs, j, axis=1) if peer_cols is None else logs[:, peer_cols[j]]
            with np.errstate(all="ignore"):
                ref = np.nanmedian(others, axis=1) if others.shape[1] else np.zeros(len(days))
            y = logs[:, j] - ref
            good = np.isfinite(y)
            if good.sum() < 2 * min_days:
                continue
            yg = y[good]
            sigma = max(float(np.median(np.abs(np.diff(yg)))) / 0.6745 / np.sqrt(2), 1e-3)
            algo = ruptures.KernelCPD(kernel="linear", min_size=7).fit(yg.reshape(-1, 1))
            ends = algo.predict(pen=4 * sigma**2 * np.log(len(yg)))
            gd = np.flatnonzero(good)
            cps = [c for c in ends[:-1] if min_days // 2 <= c <= len(yg) - min_days // 2]
            bounds = [0, *cps, len(yg)]
            levels = [float(np.median(yg[a:b])) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
            # a step must stand out from the meter's usual change over min_days against its neighbours
            ys = pd.Series(yg)
            usual = (ys[::-1].rolling(min_days, min_periods=min_days // 2).median()[::-1].shift(-1)
                     - ys.rolling(min_days, min_periods=min_days // 2).median()).abs().median()  # fmt: skip
            threshold = max(np.log1p(min_step), 4 * 1.4826 * float(np.nan_to_num(usual)))
            k = 1
            while k < len(bounds) - 1:
                c = bounds[k]
                before = float(np.median(yg[max(c - min_days, 0) : c]))
                after = float(np.median(yg[c : c + min_days]))
                if abs(after - before) < threshold:
                    k += 1
                    continue
                # the shift lasts while the following segments stay off the level before it
                last = k
                # (a segment off the shift's own level by the threshold is a second step, a shift of its own)
                while last + 1 < len(levels) and abs(levels[last + 1] - before) >= threshold / 2:
                    if abs(levels[last + 1] - float(np.median(yg[c : bounds[last + 1]]))) >= threshold:
                        break
                    last += 1
                end = bounds[last + 1]
                # the change point may stand a short segment off the step (min_size is 7 days): the step is
                # the best single split of the days around it
                c = _best_split(yg, max(c - min_days, 0), min(c + min_days, end))
                before = float(np.median(yg[max(c - min_days, 0) : c]))
                if end - c >= min_days:
                    first_day, last_day = days[gd[c]], days[gd[end - 1]]
                    mask = (day_of_value >= first_day) & (day_of_value <= last_day)
                    flags.loc[mask, meter] = True
                    events.append(
                        {"meter": meter, "start": first_day, "end": last_day + pd.Timedelta("1D"),
                         "ratio": float(np.exp(np.median(yg[c:end]) - before))}
                    )  # fmt: skip
                k = last + 1
    return flags & values.notna(), events, skipped


def _best_split(y: np.ndarray, lo: int, hi: int, min_seg: int = 3) -> int:
    """The index splitting ``y[lo:hi]`` into two runs (each of at least ``min_seg``) with the least total
    absolute deviation from their medians; the middle when the window is too short."""
    best, arg = np.inf, lo + (hi - lo) // 2
    for t in range(lo + min_seg, hi - min_seg + 1):
        a, b = y[lo:t], y[t:hi]
        cost = float(np.abs(a - np.median(a)).sum() + np.abs(b - np.median(b)).sum())
        if cost < best:
            best, arg = cost, t
    return arg


def _peers(logs: np.ndarray, n: int, min_days: int = 28) -> list[list[int]]:
    """Per meter (column of ``logs``, the log daily energy), the ``n`` other meters whose day-to-day changes are
    closest (median absolute difference over at least ``min_days`` days both have); all the others when fewer
    than two have enough days. The day-to-day changes carry a level shift on one day only, so a shifted meter
    keeps its peers."""
    d = np.diff(logs, axis=0)
    finite = np.isfinite(d)
    out = []
    for j in range(logs.shape[1]):
        with np.errstate(all="ignore"):
            dist = np.nanmedian(np.abs(d[:, [j]] - d), axis=0)
        enough = (finite[:, [j]] & finite).sum(axis=0) >= min_days
        dist = np.where(enough & np.isfinite(dist), dist, np.inf)
        dist[j] = np.inf
        order = [int(k) for k in np.argsort(dist, kind="stable") if np.isfinite(dist[k])]
        out.append(order[:n] if len(order) >= 2 else [k for k in range(logs.shape[1]) if k != j])
    return out


def _daily_midpoints(values: pd.DataFrame, step: pd.Timedelta) -> tuple[pd.DataFrame, pd.Timedelta]:
    """Per meter and solar day, the midpoint of output start and end [minutes after midnight UTC].

    Start and end are where the output crosses 5 % of the meter's scale, interpolated between intervals
    (values stand at their interval's middle), so the midpoint is finer than the interval and, unlike the
    centre of the output, hardly moved by clouds. The days start 12 h away from the fleet's mean centre of
    output so that no day of output is split. Days without a clean rise and fall are NaN.
    """
    raw = values.to_numpy(dtype=float)
    arr = np.nan_to_num(raw, nan=0.0).clip(min=0)
    step_min = step.total_seconds() / 60.0
    tod = ((values.index - values.index.floor("D")) + step / 2).total_seconds().to_numpy() / 60.0
    angle = 2 * np.pi * tod / MINUTES_PER_DAY
    mean_angle = np.arctan2((np.sin(angle)[:, None] * arr).sum(), (np.cos(angle)[:, None] * arr).sum())
    centre = (mean_angle / (2 * np.pi) * MINUTES_PER_DAY) % MINUTES_PER_DAY
    shift = pd.Timedelta(minutes=float((centre + 720) % MINUTES_PER_DAY)).floor(step)
    per_day = int(pd.Timedelta("1D") / step)
    first_day = (values.index[0] - shift).floor("D") + shift
    lead = int((values.index[0] - first_day) / step)
    n_days = -(-(lead + len(arr)) // per_day)
    padded = np.zeros((n_days * per_day, arr.shape[1]))
    padded[lead : lead + len(arr)] = arr
    missing = np.ones((len(padded), arr.shape[1]), dtype=bool)
    missing[lead : lead + len(arr)] = np.isnan(raw)
    cube = padded.reshape(n_days, per_day, arr.shape[1])
    thr = 0.05 * _scale(arr)[None, None, :]
    above = cube >= thr
    has = above.any(axis=1)
    first = np.argmax(above, axis=1)
    last = per_day - 1 - np.argmax(above[:, ::-1, :], axis=1)
    ok = has & (first > 0) & (last < per_day - 1)
    ok &= ~missing.reshape(n_days, per_day, arr.shape[1]).any(axis=1)
    energy = cube.sum(axis=1)
    with np.errstate(all="ignore"):
        p90 = np.nanpercentile(np.where(ok, energy, np.nan), 90, axis=0)
    ok &= energy >= 0.3 * np.nan_to_num(p90, nan=np.inf)[None, :]
    take = lambda k: np.take_along_axis(cube, np.clip(k, 0, per_day - 1)[:, None, :], axis=1)[:, 0, :]  # noqa: E731
    x_f, x_f0, x_l, x_l1 = take(first), take(first - 1), take(last), take(last + 1)
    t_rise = (first - 1 + (thr[0] - x_f0) / np.where(x_f > x_f0, x_f - x_f0, np.nan)) * step_min
    t_set = (last + (x_l - thr[0]) / np.where(x_l > x_l1, x_l - x_l1, np.nan)) * step_min
    # interior: no zero-output hole longer than 2 h between rise and set (a cut-off day, not a clock)
    mid = (t_rise + t_set) / 2 + step_min / 2 + shift.total_seconds() / 60.0
    mid = np.where(ok, mid, np.nan)
    days = pd.date_range(first_day, periods=n_days, freq="D")
    return pd.DataFrame(mid, index=days, columns=values.columns), shift


def time_shifts(
    values: pd.DataFrame,
    kinds: pd.Series,
    step: pd.Timedelta,
    tz: str | None = None,
    shift_min: float = 40.0,
    drift_min: float = 6.0,
) -> tuple[dict[str, pd.DataFrame], list[dict], list[str]]:
    """Clock faults of generation (PV) meters: DST logged wrongly, time shifts and clock drift.

    The daily centre of a PV meter's output moves only with the equation of time; against the median of its
    neighbours' centres (same days, same sun) or, with fewer than two neighbours, plus the equation of time,
    it is a constant. Its departures from the meter's own median are read as clock offsets [minutes]:
    - ``dst_shift``: with ``tz``, a jump of 40-80 min across a daylight-saving change of ``tz`` (7 days on
      either side), the stretch between the changes is flagged (pvanalytics' ``has_dst`` test, on centres);
    - ``time_shift``: a 3-day rolling median offset of at least ``shift_min`` minutes, the days at each end
      of such a run then decided one by one on their own offset (:func:`_refine_ends`);
    - ``clock_drift``: a 5-day rolling median offset of at least ``drift_min`` that is not a shift.
    Consumption meters have no such clock of their own and are not checked (listed in ``skipped``).

    Returns
    -------
    (flags by reason, events, skipped)
    """
    from pvlib.solarposition import equation_of_time_spencer71

    out = {
        name: pd.DataFrame(False, index=values.index, columns=values.columns)
        for name in ("dst_shift", "time_shift", "clock_drift")
    }
    events: list[dict] = []
    skipped: list[str] = []
    gen = list(kinds.index[kinds == "generation"])
    others = [m for m in values.columns if m not in gen]
    if others:
        skipped.append(
            f"time_shift/clock_drift for {len(others)} non-generation meter(s): no daily clock to read"
        )
    if not gen:
        return out, events, skipped
    phase, day_shift = _daily_midpoints(values[gen], step)
    days = phase.index
    if len(days) < 10:
        return out, events, skipped + [f"time_shift: {len(days)} days of data, need 10"]
    arr = phase.to_numpy()
    eot = equation_of_time_spencer71(days.dayofyear.to_numpy())
    day_of_value = (values.index - day_shift).floor("D") + day_shift
    dst_days: list[pd.Timestamp] = []
    if tz is not None:
        local_noon = (days + pd.Timedelta("12h")).tz_convert(tz)
        offset = np.array([t.utcoffset().total_seconds() / 60 for t in local_noon])
        dst_days = list(days[1:][np.diff(offset) != 0])
        in_dst = offset > offset.min()
    else:
        in_dst = np.zeros(len(days), dtype=bool)
    # neighbours with a clock fault of their own (e.g. logged on daylight-saving time) would move the
    # reference: a first pass estimates each meter's offset, the reference uses the corrected midpoints
    neighbours = arr - _neighbour_offsets(arr, shift_min) if len(gen) >= 3 else arr
    for j, meter in enumerate(gen):
        if len(gen) >= 3:
            ref = np.nanmedian(np.delete(neighbours, j, axis=1), axis=1)
            ref = np.where(np.isfinite(ref), ref, np.nanmedian(arr[:, j]) - eot)
        else:
            ref = -eot
        y = pd.Series(arr[:, j] - ref, index=days)
        y = y - y.median()
        dst_mask = pd.Series(False, index=days)
        found = []
        for d in dst_days:
            before = y[(days >= d - pd.Timedelta("7D")) & (days < d)].median()
            after = y[(days >= d) & (days < d + pd.Timedelta("7D"))].median()
            jump = after - before
            if np.isfinite(jump) and 40 <= abs(jump) <= 80:
                found.append((d, jump))
        if found:
            # the daylight-saving stretches of tz that begin or end at a jump found are logged on the wrong clock
            found_days = {d for d, _ in found}
            for start, end, _size in _runs(in_dst):
                begins = days[start] in found_days
                ends = end < len(days) and days[end] in found_days
                if begins or ends:
                    dst_mask.iloc[start:end] = True
            for d, jump in found:
                events.append({"meter": meter, "reason": "dst_shift", "start": d, "end": d + pd.Timedelta("1D"),
                               "detail": f"output midpoint jumps {jump:+.0f} min at the {tz} clock change"})  # fmt: skip
            corrected = y.where(~dst_mask, y - y[dst_mask].median() + y[~dst_mask].median())
            y = corrected - corrected[~dst_mask].median()
        # the slow seasonal movement of the midpoint (orientation, horizon) is not a clock fault
        y = y - y.rolling(61, center=True, min_periods=10).median()
        shift3 = y.rolling(3, center=True, min_periods=2).median()
        shifted = (shift3.abs() >= shift_min) & ~dst_mask
        # a shift lasts: require two neighbouring days
        shifted &= shifted.rolling(3, center=True, min_periods=1).sum() >= 2
        shifted = _bridge(shifted, y.isna())
        shifted = _refine_ends(shifted, y, shift_min, dst_mask)
        drifting = _drift_days(y.where(~shifted), drift_min) & ~shifted & ~dst_mask
        for name, mask in (("dst_shift", dst_mask), ("time_shift", shifted), ("clock_drift", drifting)):
            if mask.any():
                value_mask = np.asarray(day_of_value.isin(days[mask.to_numpy()]))
                out[name].loc[value_mask, meter] = True
            if name != "dst_shift":
                for start, end, size in _runs(mask.to_numpy()):
                    events.append({"meter": meter, "reason": name, "start": days[start], "end": days[end - 1] + pd.Timedelta("1D"),
                                   "detail": f"clock off by {float(shift3.iloc[start:end].median()):+.0f} min over {size} day(s)"})  # fmt: skip
    return {k: v & values.notna() for k, v in out.items()}, events, skipped


def _neighbour_offsets(arr: np.ndarray, shift_min: float) -> np.ndarray:
    """First-pass clock offset per day and meter [minutes], 0 where under ``shift_min``.

    Each meter's midpoint against the median of the others, less its own median, as a 3-day rolling
    median; offsets of at least ``shift_min`` are kept (a shift or a DST stretch), smaller ones set to 0.
    """
    offsets = np.zeros_like(arr)
    for j in range(arr.shape[1]):
        y = pd.Series(arr[:, j] - np.nanmedian(np.delete(arr, j, axis=1), axis=1))
        s3 = (y - y.median()).rolling(3, center=True, min_periods=2).median().to_numpy()
        offsets[:, j] = np.where(np.abs(np.nan_to_num(s3)) >= shift_min, s3, 0.0)
    return offsets


def _refine_ends(
    mask: pd.Series, y: pd.Series, shift_min: float, fixed: pd.Series, longest_unknown: int = 3
) -> pd.Series:
    """``mask`` of shifted days with each run's ends decided day by day on the days' own offsets ``y``.

    The runs are found on a 3-day median, which at a run's end mixes shifted and clean days: a shifted
    day next to overcast days (no offset) is lost, a clean day next to two shifted ones is taken. At either
    end of each run, a day is shifted when its own offset is at least ``shift_min`` with the run's sign,
    not shifted when it is smaller (or of the other sign), unknown without an offset (overcast, gaps). The
    run loses the end days that are not shifted (and the unknown days behind them) and gains the shifted
    days beyond its ends, across up to ``longest_unknown`` unknown days; it stops at the first day that is
    not shifted. Days of ``fixed`` (the DST stretches) are never added.
    """
    marked = mask.to_numpy(dtype=bool)
    yy = y.to_numpy(dtype=float)
    block = fixed.to_numpy(dtype=bool)
    n = len(marked)
    out = marked.copy()
    for start, end, _size in _runs(marked):
        known = yy[start:end][np.isfinite(yy[start:end])]
        if not known.size:
            continue
        sign = np.sign(np.median(known))

        def vote(d: int, sign: float = sign) -> int:
            v = yy[d]
            if not np.isfinite(v):
                return 0
            return 1 if v * sign >= shift_min else -1

        a, b = start, end
        # a day not shifted leaves the run, and so do the unknown days it held in it
        while a < b and vote(a) <= 0 and (vote(a) < 0 or a > start):
            a += 1
        while b > a and vote(b - 1) <= 0 and (vote(b - 1) < 0 or b < end):
            b -= 1
        out[start:a] = False
        out[b:end] = False
        if a == b:
            continue
        for direction in (1, -1):
            d, unknown, last = (b if direction == 1 else a - 1), 0, None
            while 0 <= d < n and not block[d] and unknown <= longest_unknown:
                v = vote(d)
                if v < 0:
                    break
                if v > 0:
                    last, unknown = d, 0
                else:
                    unknown += 1
                d += direction
            if last is not None:
                lo, hi = (b, last + 1) if direction == 1 else (last, a)
                out[lo:hi] = True
    return pd.Series(out, index=mask.index)


def _bridge(mask: pd.Series, unknown: pd.Series, longest: int = 3) -> pd.Series:
    """``mask`` with runs of up to ``longest`` unknown days (no midpoint: overcast) between marked days marked."""
    filled = mask.astype(float).where(~unknown | mask)
    before = filled.ffill(limit=longest) > 0
    after = filled.bfill(limit=longest) > 0
    return mask | (unknown & before & after)


def _drift_days(y: pd.Series, min_minutes: float, window: int = 29) -> pd.Series:
    """Days inside a steady ramp of the clock offset ``y`` [minutes per day index].

    A least-squares slope over each ``window``-day window (offsets clipped to +-45 min, the shifts' domain);
    a window whose slope is at least ``min_minutes / 6`` per day and explains a rise of ``min_minutes`` over
    the window's middle half marks that middle half as drifting.
    """
    t = pd.Series(np.arange(len(y), dtype=float), index=y.index).where(y.notna())
    yc = y.clip(-45, 45)
    roll = dict(window=window, center=True, min_periods=int(window * 0.6))
    slope = yc.rolling(**roll).cov(t) / t.rolling(**roll).var()
    resid = (yc - yc.rolling(**roll).mean() - slope * (t - t.rolling(**roll).mean())).abs()
    noise = resid.rolling(**roll).median() * 1.4826
    n = y.notna().astype(float).rolling(**roll).sum()
    se = noise / np.sqrt(n * (window**2 - 1) / 12.0)
    steady = (
        (slope.abs() >= min_minutes / 6.0)
        & (slope.abs() >= 4 * se)
        & (slope.abs() * window / 2 >= min_minutes)
    )
    half = window // 4
    return steady.astype(float).rolling(2 * half + 1, center=True, min_periods=1).max() > 0


def _runs(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, length) of each run of True in a 1-D mask."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b), int(b - a)) for a, b in zip(starts, ends, strict=True)]


def _as_meter_data(data, kinds, capacity_kw, step) -> MeterData:
    if isinstance(data, MeterData):
        return data
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if not isinstance(data, pd.DataFrame):
        raise ReadingsError(f"readings: expected a pandas DataFrame or MeterData, got {type(data).__name__}")
    if "meter_id" in data.columns:
        from wattmesh.quality.io import _conform_long, to_meter_data

        table = _conform_long(data.copy(), "readings")
        return to_meter_data(table, interval=step)
    if not isinstance(data.index, pd.DatetimeIndex):
        raise ReadingsError(
            f"readings: index is {type(data.index).__name__}, expected a DatetimeIndex of interval starts"
        )
    if data.index.tz is None:
        raise ReadingsError("readings: index is timezone-naive; expected UTC (or tz-aware) interval starts")
    frame = data.copy()
    frame.index = frame.index.tz_convert("UTC")
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        from wattmesh.quality.io import parse_values

        for c in non_numeric:
            frame[c] = parse_values(frame[c], str(c), "readings", 0)
    duplicated_index = frame.index.duplicated(keep=False)
    dup_rows = pd.DataFrame(
        np.repeat(duplicated_index[:, None], frame.shape[1], axis=1), index=frame.index, columns=frame.columns
    )
    if duplicated_index.any() or not frame.index.is_monotonic_increasing:
        dup_rows = dup_rows.groupby(level=0).any()
        frame = frame.groupby(level=0).mean()
    from wattmesh.quality.meter import regular_step

    step_td = pd.Timedelta(step) if step is not None else regular_step(frame.index, "readings")
    grid = pd.date_range(frame.index[0], frame.index[-1], freq=step_td)
    off_grid = int((~frame.index.isin(grid)).sum())
    frame = frame.reindex(grid).astype(float)
    meters = frame.columns
    kinds_s = (
        pd.Series(kinds if isinstance(kinds, str) else "consumption", index=meters)
        if not isinstance(kinds, pd.Series | dict)
        else pd.Series(kinds).reindex(meters).fillna("consumption")
    )
    cap = (
        pd.Series(capacity_kw, index=meters, dtype=float)
        if not isinstance(capacity_kw, pd.Series | dict)
        else pd.Series(capacity_kw, dtype=float).reindex(meters)
    )
    return MeterData(
        values=frame, kinds=kinds_s, capacity_kw=cap, step=step_td,
        duplicated=dup_rows.reindex(grid, fill_value=False), off_grid_rows=off_grid,
    )  # fmt: skip


def check_readings(
    readings: pd.DataFrame | MeterData,
    *,
    kinds: str | pd.Series | dict | None = None,
    capacity_kw: float | pd.Series | dict | None = None,
    step: str | pd.Timedelta | None = None,
    tz: str | None = None,
    settings: CheckSettings | None = None,
) -> tuple[pd.DataFrame, QualityReport]:
    """Every check on meter readings: a ``uint32`` reason code per value, and the report.

    Parameters
    ----------
    readings : DataFrame or MeterData
        Wide: energy per interval [kWh] (or register totals [kWh]), indexed by tz-aware interval start, one
        column per meter. Long: columns ``timestamp``, ``meter_id``, ``value`` (and ``unit``, ``kind``,
        ``capacity_kw``) as declared in ``READINGS``. Or the result of ``read_meter_file``.
    kinds : str, Series or dict, optional
        Per meter ``consumption``, ``generation``, ``net`` or ``register`` (default consumption).
    capacity_kw : float, Series or dict, optional
        Connection capacity per meter [kW]; values above it per interval are ``out_of_range``.
    step : str or Timedelta, optional
        Interval length; inferred when omitted.
    tz : str, optional
        The meters' local time zone, for the daylight-saving check (e.g. ``"Europe/Berlin"``).
    settings : CheckSettings, optional
        Thresholds.

    Returns
    -------
    (flags, report)
        ``flags``: interval x meter ``uint32`` bit codes (0 = clean) on the regular UTC grid, decoded by
        :func:`wattmesh.quality.schema.reason_names`; ``report``: a :class:`QualityReport`.

    Raises
    ------
    ReadingsError
        for input that is not a meter series (one line naming the field and the value).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN days and meters give NaN, handled below
        return _check(readings, kinds, capacity_kw, step, tz, settings or CheckSettings())


def _check(readings, kinds, capacity_kw, step, tz, cfg: CheckSettings) -> tuple[pd.DataFrame, QualityReport]:
    data = _as_meter_data(readings, kinds, capacity_kw, step)
    values, kinds_s, st = data.values, data.kinds, data.step
    masks: dict[str, pd.DataFrame] = {}
    event_rows: list[dict] = []
    skipped: list[str] = []

    energy = values.copy()
    register = (kinds_s == "register").to_numpy()
    if register.any():
        cols = values.columns[register]
        reset, rollover, interval_kwh = register_faults(values[cols])
        masks["register_reset"] = _widen(reset, values)
        masks["register_rollover"] = _widen(rollover, values)
        energy[cols] = interval_kwh
    masks["missing"] = values.isna()
    masks["duplicate"] = data.duplicated.reindex_like(values).fillna(False).astype(bool)
    allow_negative = kinds_s.isin(["net", "register"]).to_numpy()
    masks["negative"], masks["sign_error"] = negative_and_sign_errors(energy, allow_negative)
    unit = unit_errors(energy, st, cfg.unit_log10)
    masks["unit_error"] = unit
    signed_ok = energy.where(~(masks["negative"] | masks["sign_error"]))
    masks["stuck"] = stuck_values(signed_ok, st, cfg.stuck_min)
    masks["interpolated"] = interpolated_values(signed_ok, st, cfg.stuck_min) & ~masks["stuck"]
    excluded = unit | masks["stuck"] | masks["interpolated"] | masks["negative"] | masks["sign_error"]
    masks["spike"] = spikes(signed_ok, kinds_s, excluded, cfg.spike_factor)
    cap = data.capacity_kw.reindex(values.columns).to_numpy(dtype=float)
    limit = cap * (st / pd.Timedelta("1h")) * 1.05
    masks["out_of_range"] = pd.DataFrame(
        np.nan_to_num(energy.to_numpy(dtype=float), nan=-np.inf) > np.where(np.isfinite(limit), limit, np.inf)[None, :],
        index=values.index, columns=values.columns,
    ) & ~unit & ~masks["spike"]  # fmt: skip
    good = energy.where(~(excluded | masks["spike"]))
    level, level_events, level_skipped = level_shifts(good, kinds_s, st, cfg.level_min, cfg.level_min_days)
    masks["level_shift"] = level
    skipped += level_skipped
    for e in level_events:
        event_rows.append({"meter": e["meter"], "reason": "level_shift", "start": e["start"], "end": e["end"],
                           "detail": f"level x{e['ratio']:.2f} against the neighbours"})  # fmt: skip
    clocks, clock_events, clock_skipped = time_shifts(
        good, kinds_s, st, tz, cfg.time_shift_min, cfg.drift_min
    )
    masks.update(clocks)
    skipped += clock_skipped
    event_rows += clock_events

    for name in cfg.skip:
        if name not in REASON_BITS:
            raise ReadingsError(
                f"skip: {name!r} is not a reason code (expected one of {', '.join(REASON_BITS)})"
            )
        if name in masks:
            masks[name] = masks[name] & False
        skipped.append(f"{name}: not checked (skipped)")
    event_rows = [e for e in event_rows if e["reason"] not in cfg.skip]
    flags = empty_flags(values.index, values.columns)
    arr = flags.to_numpy()
    for name, mask in masks.items():
        arr |= np.where(mask.to_numpy(dtype=bool), FLAG_DTYPE(REASON_BITS[name]), FLAG_DTYPE(0))
    flags = pd.DataFrame(arr, index=values.index, columns=values.columns)
    event_rows += _point_events(
        masks, exclude=("level_shift", "dst_shift", "time_shift", "clock_drift"), step=st
    )
    events = pd.DataFrame(event_rows, columns=["meter", "reason", "start", "end", "detail"])
    if len(events):
        events["values"] = [
            int(masks[r].loc[(masks[r].index >= s) & (masks[r].index < e), m].sum())
            for m, r, s, e in zip(
                events["meter"], events["reason"], events["start"], events["end"], strict=True
            )
        ]
        events = events.sort_values(["meter", "start", "reason"]).reset_index(drop=True)
    else:
        events["values"] = []
    summary = _summary(values, kinds_s, masks)
    notes = list(data.notes)
    if data.off_grid_rows:
        notes.append(f"{data.off_grid_rows} row(s) off the {st} grid were left out")
    if data.conflicting_duplicates:
        notes.append(f"{data.conflicting_duplicates} duplicated (meter, timestamp) with different values")
    return flags, QualityReport(summary=summary, events=events, skipped=skipped, step=st, notes=notes)


def _widen(mask: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    return mask.reindex(columns=like.columns, fill_value=False).fillna(False).astype(bool)


def _point_events(masks: dict[str, pd.DataFrame], exclude: tuple[str, ...], step: pd.Timedelta) -> list[dict]:
    """One event per run of flagged values of each reason and meter."""
    rows = []
    for name, mask in masks.items():
        if name in exclude:
            continue
        arr = mask.to_numpy(dtype=bool)
        if not arr.any():
            continue
        index = mask.index
        for j in np.flatnonzero(arr.any(axis=0)):
            for start, end, size in _runs(arr[:, j]):
                rows.append({"meter": mask.columns[j], "reason": name, "start": index[start],
                             "end": index[end - 1] + step, "detail": f"{size} value(s)"})  # fmt: skip
    return rows


def _summary(values: pd.DataFrame, kinds: pd.Series, masks: dict[str, pd.DataFrame]) -> pd.DataFrame:
    summary = pd.DataFrame(
        {"kind": kinds.reindex(values.columns).to_numpy(), "values": len(values),
         "completeness": values.notna().mean().to_numpy()},
        index=pd.Index(values.columns, name="meter"),
    )  # fmt: skip
    for reason in REASONS:
        mask = masks.get(reason.name)
        summary[reason.name] = mask.sum().to_numpy().astype(int) if mask is not None else 0
    return summary
