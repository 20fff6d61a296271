"""Visible repair of flagged meter readings: every estimate says how it was made, the raw value is kept.

Policy (one rule per reason; nothing is changed without a flag and an estimate method):

- ``duplicate``: the rows' mean (``merged_duplicates``).
- ``unit_error``: divided (too high) or multiplied (too low) by 1000 (``unit_rescaled``).
- ``sign_error``: sign reversed (``sign_flipped``).
- register meters: interval energy is the register's difference; across a rollover the wrapped difference
  (``register_difference``); after a reset the interval is unknown and filled like a gap.
- ``missing``, ``negative``, ``stuck``, ``interpolated``, ``spike``, ``out_of_range``: treated as unknown and
  filled: runs up to ``max_interpolate`` linearly (``interpolated_linear``), longer runs from the same interval
  a week (``seasonal_week``) or a day (``seasonal_day``) before, else left missing (``unfilled``).
- ``level_shift``, ``time_shift``, ``dst_shift``, ``clock_drift``: kept as read and flagged; which level or
  clock is right needs the meter's operator, and settling must treat them as estimates (their flag is set).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.quality.checks import register_faults, unit_error_directions
from wattmesh.quality.io import MeterData
from wattmesh.quality.schema import REASON_BITS, reason_text

UNKNOWN = ("missing", "negative", "stuck", "interpolated", "spike", "out_of_range", "register_reset")


@dataclass
class Repaired:
    """Repaired readings beside the raw ones.

    Attributes
    ----------
    values : (intervals x meters) repaired energy per interval [kWh] (register meters: their interval energy)
    raw : (intervals x meters) the values as read [kWh] (register meters: the register)
    flags : (intervals x meters) uint32 reason codes of the checks
    estimate : (intervals x meters) str, how each value was estimated ("" = measured, unchanged)
    """

    values: pd.DataFrame
    raw: pd.DataFrame
    flags: pd.DataFrame
    estimate: pd.DataFrame

    def long(self) -> pd.DataFrame:
        """One row per meter and interval: timestamp, meter_id, value_raw, value, flags, reasons, estimate."""
        n, m = self.values.shape
        out = pd.DataFrame(
            {
                "timestamp": np.repeat(self.values.index.to_numpy(), m),
                "meter_id": np.tile(self.values.columns.astype(str).to_numpy(), n),
                "value_raw": self.raw.to_numpy(dtype=float).ravel(),
                "value": self.values.to_numpy(dtype=float).ravel(),
                "flags": self.flags.to_numpy().ravel(),
                "reasons": reason_text(self.flags.to_numpy()).ravel(),
                "estimate": self.estimate.to_numpy().ravel(),
            }
        )
        out["timestamp"] = (
            pd.DatetimeIndex(out["timestamp"]).tz_localize("UTC")
            if out["timestamp"].dt.tz is None
            else out["timestamp"]
        )
        return out.sort_values(["meter_id", "timestamp"], kind="stable").reset_index(drop=True)

    def counts(self) -> pd.Series:
        """Values per estimate method (measured values left out)."""
        est = self.estimate.to_numpy().ravel()
        return pd.Series(est[est != ""]).value_counts()


def repair_readings(data: MeterData, flags: pd.DataFrame, *, max_interpolate: str = "1h") -> Repaired:
    """Apply the repair policy of this module to readings checked by ``check_readings``.

    Parameters
    ----------
    data : MeterData
        The readings as read (``read_meter_file`` or ``check_readings``' input on the regular grid).
    flags : DataFrame
        The uint32 reason codes from :func:`wattmesh.quality.checks.check_readings`.
    max_interpolate : str
        Longest run filled by linear interpolation.
    """
    raw = data.values
    values = raw.to_numpy(dtype=float, copy=True)
    code = flags.reindex_like(raw).fillna(0).to_numpy().astype(np.uint32)
    has = lambda name: (code & np.uint32(REASON_BITS[name])) != 0  # noqa: E731
    estimate = np.full(values.shape, "", dtype=object)

    register = (data.kinds.reindex(raw.columns) == "register").to_numpy()
    if register.any():
        reset, rollover, interval_kwh = register_faults(raw.loc[:, register])
        values[:, register] = interval_kwh.to_numpy()
        roll = np.zeros(values.shape, dtype=bool)
        roll[:, register] = rollover.to_numpy()
        estimate[roll] = "register_difference"
    dup = data.duplicated.reindex_like(raw).fillna(False).to_numpy(dtype=bool)
    estimate[dup] = "merged_duplicates"
    unit = has("unit_error")
    high, _low = unit_error_directions(pd.DataFrame(values, index=raw.index, columns=raw.columns))
    too_high = unit & high
    values[too_high] /= 1000.0
    values[unit & ~too_high] *= 1000.0
    estimate[unit] = "unit_rescaled"
    sign = has("sign_error")
    values[sign] = -values[sign]
    estimate[sign] = "sign_flipped"

    unknown = np.zeros(values.shape, dtype=bool)
    for name in UNKNOWN:
        unknown |= has(name)
    unknown |= np.isnan(values)
    values[unknown] = np.nan
    filled, method = fill_gaps(values, raw.index, max_interpolate)
    estimate[unknown] = method[unknown]
    return Repaired(
        values=pd.DataFrame(filled, index=raw.index, columns=raw.columns),
        raw=raw.copy(),
        flags=pd.DataFrame(code, index=raw.index, columns=raw.columns),
        estimate=pd.DataFrame(estimate, index=raw.index, columns=raw.columns),
    )


def fill_gaps(
    values: np.ndarray, index: pd.DatetimeIndex, max_interpolate: str = "1h"
) -> tuple[np.ndarray, np.ndarray]:
    """(filled, method): NaN runs up to ``max_interpolate`` linearly, longer ones a week, else a day before.

    ``method`` names how each filled value was made (``interpolated_linear``, ``seasonal_week``,
    ``seasonal_day``, ``unfilled``), "" elsewhere.
    """
    out = values.copy()
    method = np.full(values.shape, "", dtype=object)
    missing = np.isnan(out)
    if not missing.any():
        return out, method
    step = pd.Timedelta(index[1] - index[0]) if len(index) > 1 else pd.Timedelta("15min")
    limit = max(int(pd.Timedelta(max_interpolate) / step), 0)
    from wattmesh.quality.meter import _run_length

    short = missing & (_run_length(missing) <= limit)
    linear = pd.DataFrame(out).interpolate(limit_area="inside").to_numpy()
    use = short & np.isfinite(linear)
    out[use] = linear[use]
    method[use] = "interpolated_linear"
    for lag, name in ((pd.Timedelta("7D"), "seasonal_week"), (pd.Timedelta("1D"), "seasonal_day")):
        k = int(lag / step)
        if k <= 0 or k >= len(out):
            continue
        # walk forward so that a gap longer than the lag is filled from values already filled
        for row in np.flatnonzero(np.isnan(out[k:]).any(axis=1)) + k:
            hole = np.isnan(out[row])
            source = out[row - k]
            ok = hole & np.isfinite(source)
            out[row, ok] = source[ok]
            method[row, ok] = name
    method[np.isnan(out)] = "unfilled"
    return out, method
