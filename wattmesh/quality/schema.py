"""The meter-series schema and reason codes: the columns of a readings table, declared once, and the flags.

A readings table (long format, one row per meter and interval) is declared with the project's table
declarations (:mod:`wattmesh.tables`); the checks work on the wide form, a frame of interval starts (UTC)
by meters. Every flag a check raises is one bit of a :data:`REASONS` code, so one unsigned integer per value
says everything that is wrong with it; every value a repair estimates carries one :data:`ESTIMATES` method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.tables import Column, TableSchema

#: A readings table: one row per (meter, interval start). ``value`` is in ``unit``; the checks convert
#: every meter to kWh per interval (energy) or kWh on the register (cumulative).
READINGS = TableSchema(
    "readings",
    "meter_id",
    (
        Column("timestamp", "time", "UTC ISO 8601", "start of the interval (or time of a register reading); "
               "naive local times are accepted with --tz, offsets are kept", required=True),
        Column("meter_id", "str", "-", "meter (or member) the value belongs to; (meter_id, timestamp) is unique",
               required=True),
        Column("value", "float", "unit", "energy in the interval, or the register total for kind=register",
               required=True),
        Column("unit", "str", "-", "unit of value; Wh and W are converted by 1/1000", default="kWh",
               choices=("kWh", "Wh", "kW", "W")),
        Column("kind", "str", "-", "what the meter measures: consumption and generation are >= 0, net may "
               "be negative, register is a cumulative, monotonic total", default="consumption",
               choices=("consumption", "generation", "net", "register")),
        Column("capacity_kw", "float", "kW", "connection (or inverter) capacity; a value above it per interval "
               "is out of range", minimum=0.0),
    ),
)  # fmt: skip

UNIT_FACTORS = {"kWh": 1.0, "kW": 1.0, "Wh": 1e-3, "W": 1e-3}
KINDS = ("consumption", "generation", "net", "register")


@dataclass(frozen=True)
class Reason:
    """One reason code: its bit, its name and what it means."""

    bit: int
    name: str
    description: str


#: Every reason a value can be flagged for, one bit each (``flags & REASON_BITS["spike"]``).
REASONS: tuple[Reason, ...] = (
    Reason(1 << 0, "missing", "no value: the interval is absent from the file or its value is empty"),
    Reason(1 << 1, "duplicate", "the (meter, timestamp) appears more than once in the file"),
    Reason(1 << 2, "negative", "negative value where the meter's kind allows none"),
    Reason(1 << 3, "sign_error", "a stretch (a day or more) whose values have the wrong sign"),
    Reason(1 << 4, "stuck", "the same non-zero value repeated for at least the stuck window"),
    Reason(1 << 5, "interpolated", "a run on a straight line (constant non-zero step): filled, not measured"),
    Reason(1 << 6, "spike", "a short excursion far above the meter's own neighbourhood in time"),
    Reason(1 << 7, "register_reset", "a cumulative register fell back (to near zero) without rolling over"),
    Reason(1 << 8, "register_rollover", "a cumulative register wrapped at a power of ten"),
    Reason(1 << 9, "unit_error", "a stretch about 1000 times too large or too small (Wh read as kWh)"),
    Reason(1 << 10, "level_shift", "a lasting step in level against the neighbours (CT ratio, scaling)"),
    Reason(1 << 11, "time_shift", "a stretch whose clock is off by at least the shift threshold"),
    Reason(1 << 12, "dst_shift", "local daylight-saving time logged as standard time (or the reverse)"),
    Reason(1 << 13, "clock_drift", "a clock that slowly runs off (minutes per week)"),
    Reason(1 << 14, "out_of_range", "above the connection's capacity for the interval"),
)
REASON_BITS = {r.name: r.bit for r in REASONS}
FLAG_DTYPE = np.uint32

#: How a repaired value was estimated; the raw value is always kept beside it.
ESTIMATES = {
    "": "measured, unchanged",
    "merged_duplicates": "mean of the duplicated rows",
    "interpolated_linear": "linear interpolation between the nearest good values (short gaps)",
    "seasonal_week": "the same interval one week earlier",
    "seasonal_day": "the same interval one day earlier",
    "unit_rescaled": "divided (or multiplied) by 1000 to undo a unit error",
    "sign_flipped": "sign reversed to undo a sign error",
    "register_difference": "interval energy from the register after a reset or rollover",
    "time_realigned": "moved back by the detected clock offset",
    "unfilled": "left missing: no good value to estimate it from",
}


def reason_names(code: int) -> list[str]:
    """The reason names set in one flag value, in declared order."""
    return [r.name for r in REASONS if int(code) & r.bit]


def reason_text(flags: np.ndarray) -> np.ndarray:
    """Each flag value as ``"spike|stuck"`` (empty where clean), vectorised over unique codes."""
    flat = np.asarray(flags).ravel()
    codes, inverse = np.unique(flat, return_inverse=True)
    texts = np.array(["|".join(reason_names(c)) for c in codes], dtype=object)
    return texts[inverse].reshape(np.shape(flags))


def markdown_reasons() -> str:
    """The reason codes as a Markdown table, for the docs."""
    lines = ["| bit | reason | meaning |", "|---|---|---|"]
    lines += [f"| {r.bit} | `{r.name}` | {r.description} |" for r in REASONS]
    return "\n".join(lines)


def empty_flags(index: pd.DatetimeIndex, columns: pd.Index) -> pd.DataFrame:
    """A clean flag frame (all zero) shaped like the readings."""
    return pd.DataFrame(np.zeros((len(index), len(columns)), dtype=FLAG_DTYPE), index=index, columns=columns)
