"""Meter history from any CSV file, through a column mapping: which column is the time, which the value.

The mapping names the timestamp column, the value column, the value's unit (``Wh``, ``kWh`` for energy
per interval; ``W``, ``kW`` for the interval's mean power), the time zone of naive timestamps, whether a
timestamp marks the interval's start or end, and the interval length. Every error names the mapping field,
the column, the row and the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from wattmesh.integrate.readings import Reading

UNITS_WH = {"Wh": 1.0, "kWh": 1000.0}  # energy per interval -> Wh
UNITS_W = {"W": 1.0, "kW": 1000.0}  # mean power over the interval -> W


@dataclass(frozen=True)
class ColumnMapping:
    """How to read one CSV file.

    Attributes
    ----------
    timestamp : the time column's name
    value : the value column's name
    unit : ``"Wh"``, ``"kWh"`` (energy per interval) or ``"W"``, ``"kW"`` (mean power over it)
    timezone : IANA zone of timestamps without an offset (``"Europe/Amsterdam"``, ``"UTC"``)
    interval_minutes : the interval length [min]
    stamp_at : ``"start"`` or ``"end"``: which end of its interval a timestamp marks
    time_format : strftime format of the timestamps, or None to let pandas infer ISO 8601
    decimal, separator : the file's decimal mark and field separator
    """

    timestamp: str
    value: str
    unit: str = "kWh"
    timezone: str = "UTC"
    interval_minutes: int = 15
    stamp_at: str = "start"
    time_format: str | None = None
    decimal: str = "."
    separator: str = ","

    def __post_init__(self) -> None:
        if self.unit not in UNITS_WH and self.unit not in UNITS_W:
            raise ValueError(
                f"mapping unit: {self.unit!r}; expected one of {', '.join([*UNITS_WH, *UNITS_W])}"
            )
        if self.stamp_at not in ("start", "end"):
            raise ValueError(f"mapping stamp_at: {self.stamp_at!r}; expected 'start' or 'end'")
        if not isinstance(self.interval_minutes, int) or self.interval_minutes <= 0:
            raise ValueError(
                f"mapping interval_minutes: {self.interval_minutes!r}; expected a positive integer"
            )
        try:
            pd.Timestamp("2026-01-01").tz_localize(self.timezone)
        except Exception as exc:
            raise ValueError(f"mapping timezone: {self.timezone!r} is not a time zone; expected e.g. "
                             "'Europe/Amsterdam' or 'UTC'") from exc  # fmt: skip


def interval_energy_from_csv(source: str | Path, mapping: ColumnMapping) -> pd.Series:
    """Energy per interval [Wh], indexed by the interval's start (UTC), from a CSV file.

    Raises
    ------
    ValueError
        naming the mapping field and column when a column is missing, and the row (1 = first data row)
        and value when a time or number cannot be read or a local time does not exist or is ambiguous.
    """
    frame = pd.read_csv(
        source, sep=mapping.separator, decimal=mapping.decimal, dtype=str, keep_default_na=False
    )
    for field in ("timestamp", "value"):
        column = getattr(mapping, field)
        if column not in frame.columns:
            raise ValueError(f"mapping {field}: column {column!r} is not in the file; columns are "
                             f"{list(frame.columns)}")  # fmt: skip
    times_text, values_text = frame[mapping.timestamp].str.strip(), frame[mapping.value].str.strip()
    stamps = pd.to_datetime(times_text, format=mapping.time_format, errors="coerce", utc=False)
    bad = stamps.isna().to_numpy()
    if bad.any():
        row = int(bad.argmax())
        expected = mapping.time_format or "ISO 8601"
        raise ValueError(f"mapping timestamp: column {mapping.timestamp!r} row {row + 1}: "
                         f"{times_text.iloc[row]!r} is not a time; expected {expected}")  # fmt: skip
    numbers = pd.to_numeric(values_text.str.replace(mapping.decimal, ".", regex=False), errors="coerce")
    bad = numbers.isna().to_numpy()
    if bad.any():
        row = int(bad.argmax())
        raise ValueError(f"mapping value: column {mapping.value!r} row {row + 1}: {values_text.iloc[row]!r} "
                         f"is not a number ({mapping.unit})")  # fmt: skip
    index = pd.DatetimeIndex(stamps)
    if index.tz is None:
        try:
            index = index.tz_localize(mapping.timezone, ambiguous="raise", nonexistent="raise")
        except Exception as exc:  # pytz/zoneinfo raise their own types for a DST gap or overlap
            for row, stamp in enumerate(index):
                try:
                    pd.DatetimeIndex([stamp]).tz_localize(
                        mapping.timezone, ambiguous="raise", nonexistent="raise"
                    )
                except Exception:
                    raise ValueError(f"mapping timezone: column {mapping.timestamp!r} row {row + 1}: "
                                     f"{times_text.iloc[row]!r} does not exist or is ambiguous in "
                                     f"{mapping.timezone}; expected timestamps with a UTC offset there") from exc  # fmt: skip
            raise
    index = index.tz_convert("UTC")
    step = pd.Timedelta(minutes=mapping.interval_minutes)
    if mapping.stamp_at == "end":
        index = index - step
    values = numbers.to_numpy(dtype=float)
    if mapping.unit in UNITS_WH:
        energy_wh = values * UNITS_WH[mapping.unit]
    else:
        energy_wh = values * UNITS_W[mapping.unit] * mapping.interval_minutes / 60.0
    series = pd.Series(energy_wh, index=index, name="energy_wh")
    if series.index.has_duplicates:
        first = series.index[series.index.duplicated()][0]
        raise ValueError(f"mapping timestamp: column {mapping.timestamp!r}: interval {first} appears twice; "
                         "expected one row per interval")  # fmt: skip
    return series.sort_index()


def readings_from_csv(
    source: str | Path, mapping: ColumnMapping, member_id: str, device_id: str
) -> list[Reading]:
    """The file's intervals as meter readings (``energy_wh`` with ``interval``; stamped at its end)."""
    series = interval_energy_from_csv(source, mapping)
    step = pd.Timedelta(minutes=mapping.interval_minutes)
    return [Reading(member_id, "meter", device_id, start + step, {"energy_wh": float(v)}, start)
            for start, v in series.items()]  # fmt: skip
