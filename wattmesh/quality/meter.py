"""Meter-data validation and repair: time index checks, duplicates, gaps, NaN and negative readings.

Meter frames are indexed by interval start (tz-aware) with one column per member. Two entry points:

- :func:`meter_data_problems` lists what is wrong, each problem naming the field, the value and what was
  expected; :func:`check_meter_data` raises with that list. Forecasters call it so that bad input is
  rejected with a clear message instead of producing a silently wrong forecast.
- :func:`repair_meter_data` fixes what can be fixed and returns a :class:`RepairLog` counting every
  repair, which it also writes to the ``wattmesh.quality`` logger.

Timezone-naive data is never guessed: it is rejected unless the caller names its time zone.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger("wattmesh.quality")


@dataclass(frozen=True)
class RepairLog:
    """Counts of what :func:`repair_meter_data` repaired, in values (cells) or timestamps (rows)."""

    localized_rows: int = 0  # rows of a naive index localized to the time zone the caller named
    unsorted_rows: int = 0  # rows that were out of time order and were sorted
    duplicated_rows: int = 0  # rows whose timestamp repeated an earlier one, merged by their mean
    off_grid_rows: int = 0  # rows whose time did not fall on the interval grid, dropped
    gap_rows: int = 0  # timestamps missing from the regular grid, inserted (their values are NaN)
    negative_values: int = 0  # negative readings where negatives are not allowed, set to NaN
    interpolated_values: int = 0  # NaN in short gaps, filled linearly
    seasonal_filled_values: int = 0  # NaN in long gaps, filled from the same time a week or a day before
    unfilled_values: int = 0  # NaN left because no earlier value of the same time of day existed

    @property
    def repaired(self) -> int:
        """Number of repairs of every kind (rows and values)."""
        return sum(v for k, v in asdict(self).items() if k != "unfilled_values")

    def __str__(self) -> str:
        parts = [f"{k.replace('_', ' ')}: {v}" for k, v in asdict(self).items() if v]
        return "; ".join(parts) if parts else "nothing to repair"


def _as_frame(data: pd.DataFrame | pd.Series, field: str) -> pd.DataFrame:
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, pd.DataFrame):
        return data
    raise TypeError(f"{field}: expected a pandas DataFrame or Series, got {type(data).__name__}")


def _numeric(frame: pd.DataFrame, field: str) -> pd.DataFrame:
    """``frame`` as floats; ``n/a``, empty and the other NA tokens are missing, other text an error naming
    the column, the row and the value."""
    from wattmesh.quality.io import parse_values

    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = parse_values(out[column], str(column), field, first_row=0)
    return out.astype(float)


def regular_step(index: pd.DatetimeIndex, field: str = "meter data") -> pd.Timedelta:
    """The interval length of ``index``: its frequency, else the most common step between timestamps."""
    if index.freq is not None:
        return pd.Timedelta(index.freq)
    steps = np.diff(index.sort_values().unique().as_unit("ns").asi8)
    steps = steps[steps > 0]
    if steps.size == 0:
        raise ValueError(
            f"{field}: index has {len(index)} distinct time(s); need at least 2 to find the step"
        )
    values, counts = np.unique(steps, return_counts=True)
    return pd.Timedelta(int(values[np.argmax(counts)]), unit="ns")


def meter_data_problems(
    data: pd.DataFrame | pd.Series,
    field: str = "meter data",
    *,
    allow_negative: bool = False,
    allow_nan: bool = True,
) -> list[str]:
    """Every problem of a meter frame, one message each, naming the field, the value and what was expected.

    Parameters
    ----------
    data : DataFrame or Series
        Readings indexed by interval start, one column per member.
    field : str
        Name used in the messages, e.g. ``"load_kw"``.
    allow_negative : bool
        Whether negative values are valid (net metering, a battery); not for load or generation.
    allow_nan : bool
        Whether missing values are acceptable (forecasters tolerate them in history).
    """
    frame = _as_frame(data, field)
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        return [f"{field}: index is {type(index).__name__}, expected a DatetimeIndex of interval starts"]
    found: list[str] = []
    if index.tz is None:
        found.append(
            f"{field}: index is timezone-naive (first time {index[0] if len(index) else None}); expected "
            "tz-aware times, e.g. data.tz_localize('UTC') or repair_meter_data(data, assume_tz='Etc/GMT+8')"
        )
    if index.has_duplicates:
        dup = index[index.duplicated()]
        found.append(f"{field}: {len(dup)} duplicated timestamp(s), first {dup[0]}; expected unique times")
    if not index.is_monotonic_increasing:
        pos = int(np.argmax(np.diff(index.asi8) < 0)) + 1
        found.append(
            f"{field}: index is not in time order at row {pos} ({index[pos]} after {index[pos - 1]})"
        )
    if len(index) >= 2 and not found:
        step = regular_step(index, field)
        expected = pd.date_range(index[0], index[-1], freq=step)
        same = len(expected) == len(index) and np.array_equal(
            expected.as_unit("ns").asi8, index.as_unit("ns").asi8
        )
        if not same:
            missing = expected.difference(index)
            found.append(
                f"{field}: index is not a regular {step} grid ({len(missing)} missing timestamp(s)"
                + (f", first {missing[0]})" if len(missing) else ", times off the grid)")
            )
    values = _numeric(frame, field).to_numpy(dtype=float)
    for col_pos, column in enumerate(frame.columns):
        col = values[:, col_pos]
        n_nan = int(np.isnan(col).sum())
        if n_nan and not allow_nan:
            first = index[np.isnan(col)][0]
            found.append(f"{field} {column!r}: {n_nan} missing value(s), first at {first}; expected numbers")
        if not allow_negative:
            negative = col < 0
            if negative.any():
                found.append(
                    f"{field} {column!r}: {int(negative.sum())} negative value(s), first {col[negative][0]:g} "
                    f"at {index[negative][0]}; expected >= 0"
                )
        infinite = np.isinf(col)
        if infinite.any():
            found.append(f"{field} {column!r}: {int(infinite.sum())} infinite value(s); expected finite")
    return found


def check_meter_data(
    data: pd.DataFrame | pd.Series,
    field: str = "meter data",
    *,
    allow_negative: bool = False,
    allow_nan: bool = True,
) -> None:
    """Raise ``ValueError`` listing every problem of :func:`meter_data_problems`, one per line."""
    problems = meter_data_problems(data, field, allow_negative=allow_negative, allow_nan=allow_nan)
    if problems:
        raise ValueError("\n".join(problems) + "\n(wattmesh.quality.repair_meter_data repairs most of these)")


def repair_meter_data(
    data: pd.DataFrame | pd.Series,
    field: str = "meter data",
    *,
    step: str | pd.Timedelta | None = None,
    assume_tz: str | None = None,
    allow_negative: bool = False,
    max_interpolate: str | pd.Timedelta = "1h",
    seasonal_fill: bool = True,
) -> tuple[pd.DataFrame, RepairLog]:
    """Repair a meter frame and count every repair.

    In order: localize a naive index to ``assume_tz`` (rejected when not given), convert to UTC, sort,
    merge duplicated timestamps by their mean, drop rows off the interval grid, insert missing
    timestamps, set negative readings to NaN (unless allowed), fill NaN runs up to ``max_interpolate``
    long by linear interpolation and longer runs from the same time one week earlier, else one day
    earlier (seasonal naive, which keeps the daily shape a linear fill would flatten).

    Parameters
    ----------
    data : DataFrame or Series
        Readings indexed by interval start, one column per member [kW or kWh per interval].
    field : str
        Name used in messages and the log.
    step : str or Timedelta, optional
        Interval length; inferred as the most common step when omitted.
    assume_tz : str, optional
        Time zone of a naive index (e.g. ``"Etc/GMT+8"`` for PST all year). Without it naive data is
        rejected, since guessing the zone shifts every daily pattern.
    allow_negative : bool
        Keep negative readings (net meters); otherwise they are treated as missing.
    max_interpolate : str or Timedelta
        Longest NaN run filled by linear interpolation.
    seasonal_fill : bool
        Fill longer runs from a week or a day before; when False they stay NaN (and are counted).

    Returns
    -------
    (DataFrame, RepairLog)
        The repaired frame on a regular UTC grid, and the counts of what was repaired.

    Raises
    ------
    ValueError
        for a naive index without ``assume_tz``, or an index that is not a DatetimeIndex.
    """
    was_series = isinstance(data, pd.Series)
    frame = _as_frame(data, field).copy()
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise ValueError(f"{field}: index is {type(frame.index).__name__}, expected a DatetimeIndex")
    counts: dict[str, int] = {}
    if frame.index.tz is None:
        if assume_tz is None:
            raise ValueError(
                f"{field}: index is timezone-naive; name its zone (assume_tz='UTC' or e.g. 'Etc/GMT+8') "
                "since a guessed zone would shift every daily pattern"
            )
        from wattmesh.quality.io import localize_wall_times

        # the October change repeats an hour of wall time: resolved by the order of the rows, else an error
        # naming the field and the time (never pandas' bare AmbiguousTimeError)
        frame.index = localize_wall_times(frame.index, assume_tz, field)
        counts["localized_rows"] = len(frame)
    frame.index = frame.index.tz_convert("UTC")
    frame = _numeric(frame, field)

    if not frame.index.is_monotonic_increasing:
        order = np.argsort(frame.index.asi8, kind="stable")
        counts["unsorted_rows"] = int((order != np.arange(len(order))).sum())
        frame = frame.iloc[order]
    if frame.index.has_duplicates:
        counts["duplicated_rows"] = int(frame.index.duplicated().sum())
        frame = frame.groupby(level=0, sort=True).mean()

    step_td = pd.Timedelta(step) if step is not None else regular_step(frame.index, field)
    start = frame.index[0]
    on_grid = ((frame.index - start) % step_td) == pd.Timedelta(0)
    if not on_grid.all():
        counts["off_grid_rows"] = int((~on_grid).sum())
        frame = frame[on_grid]
    grid = pd.date_range(start, frame.index[-1], freq=step_td, name=frame.index.name)
    if len(grid) != len(frame):
        counts["gap_rows"] = len(grid) - len(frame)
        frame = frame.reindex(grid)
    frame.index.freq = step_td

    values = frame.to_numpy(dtype=float, copy=True)
    if not allow_negative:
        negative = values < 0
        counts["negative_values"] = int(negative.sum())
        values[negative] = np.nan

    missing = np.isnan(values)
    if missing.any():
        limit = max(int(pd.Timedelta(max_interpolate) / step_td), 0)
        short = missing & (_run_length(missing) <= limit)
        interpolated = pd.DataFrame(values).interpolate(limit_area="inside").to_numpy()
        fill_short = short & np.isfinite(interpolated)
        values[fill_short] = interpolated[fill_short]
        counts["interpolated_values"] = int(fill_short.sum())
        seasonal = 0
        for lag in (pd.Timedelta("7D"), pd.Timedelta("1D")) if seasonal_fill else ():
            k = int(lag / step_td)
            if k <= 0 or k >= len(values):
                continue
            # Walk forward so that a gap longer than a week is filled from already-filled values.
            for row in np.flatnonzero(np.isnan(values[k:]).any(axis=1)) + k:
                hole = np.isnan(values[row])
                source = values[row - k]
                usable = hole & np.isfinite(source)
                values[row, usable] = source[usable]
                seasonal += int(usable.sum())
        counts["seasonal_filled_values"] = seasonal
        counts["unfilled_values"] = int(np.isnan(values).sum())

    repaired = pd.DataFrame(values, index=frame.index, columns=frame.columns)
    log = RepairLog(**counts)
    if log.repaired or log.unfilled_values:
        logger.warning("%s: repaired %s", field, log)
    else:
        logger.info("%s: nothing to repair", field)
    if was_series:
        return repaired.iloc[:, 0].rename(data.name), log
    return repaired, log


def _run_length(mask: np.ndarray) -> np.ndarray:
    """For each True cell of a 2-D (rows, columns) mask, the length of the run of True it belongs to."""
    out = np.zeros(mask.shape, dtype=np.int64)
    rows = mask.shape[0]
    for col in range(mask.shape[1]):
        m = mask[:, col].astype(np.int8)
        if not m.any():
            continue
        edges = np.diff(np.concatenate(([0], m, [0])))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        lengths = ends - starts
        run_id = np.cumsum(edges[:rows] == 1) - 1
        out[:, col] = np.where(m == 1, lengths[np.clip(run_id, 0, None)], 0)
    return out
