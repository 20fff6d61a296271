"""Reading meter files (CSV or Parquet) into checked meter frames, with one clear error for bad input.

Two layouts are read. Long: a timestamp column, ``meter_id`` and ``value`` (optionally ``unit``, ``kind``,
``capacity_kw``), as declared in :data:`wattmesh.quality.schema.READINGS`. Wide: a timestamp column and one
numeric column per meter. Reading stops at the first problem (a compressed or binary file, no line breaks,
missing columns, a timestamp or a value that is not one), so a huge file of garbage costs one chunk, not
the whole file. Every failure is a :class:`ReadingsError` with one line naming the field, the value and what
was expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from wattmesh.quality.schema import KINDS, READINGS, UNIT_FACTORS

TIME_COLUMNS = ("timestamp", "time", "datetime", "date_time", "measured_on", "interval_start", "utc")
NA_TOKENS = ("", "n/a", "N/A", "na", "NA", "nan", "NaN", "null", "NULL", "None", "none", "-", "--")
CHUNK_ROWS = 100_000
MAGIC = {
    b"\x1f\x8b": "gzip",
    b"PK\x03\x04": "zip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"7z\xbc\xaf\x27\x1c": "7z",
}


class ReadingsError(ValueError):
    """A meter file or frame that is not a meter series; the message is one line."""


@dataclass
class MeterData:
    """Readings on a regular UTC grid, one column per meter, with what reading them found.

    Attributes
    ----------
    values : (intervals x meters) energy per interval [kWh], or the register total [kWh] for register meters;
        NaN where no value was read
    kinds : per meter: consumption, generation, net or register
    capacity_kw : per meter connection capacity [kW], NaN where not given
    step : the interval length
    duplicated : (intervals x meters) True where the file held the (meter, timestamp) more than once
    conflicting_duplicates : number of duplicated (meter, timestamp) whose values differed
    off_grid_rows : rows whose time was not on the interval grid (kept out of ``values``, reported)
    source : the file read, or ``"frame"``
    """

    values: pd.DataFrame
    kinds: pd.Series
    capacity_kw: pd.Series
    step: pd.Timedelta
    duplicated: pd.DataFrame
    conflicting_duplicates: int = 0
    off_grid_rows: int = 0
    source: str = "frame"
    notes: list[str] = field(default_factory=list)


def _sniff(path: Path) -> str:
    """``"parquet"`` or ``"csv"``, or raise for what is neither."""
    if not path.exists():
        raise ReadingsError(f"{path}: no such file")
    if path.is_dir():
        raise ReadingsError(f"{path}: is a directory, expected a CSV or Parquet file of meter readings")
    if path.stat().st_size == 0:
        raise ReadingsError(f"{path}: the file is empty, expected a CSV or Parquet file of meter readings")
    with path.open("rb") as handle:
        head = handle.read(65536)
    if head.startswith(b"PAR1"):
        return "parquet"
    for magic, name in MAGIC.items():
        if head.startswith(magic):
            raise ReadingsError(
                f"{path}: is a {name}-compressed file; decompress it first (expected CSV or Parquet)"
            )
    if b"\x00" in head:
        raise ReadingsError(
            f"{path}: holds binary data (NUL bytes in the first 64 KB), expected a CSV text file"
        )
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:  # a multi-byte character cut at the end of the sample is fine
            raise ReadingsError(
                f"{path}: is not UTF-8 text (byte {err.start}), expected a CSV file of meter readings"
            ) from None
    if b"\n" not in head and len(head) == 65536:
        raise ReadingsError(
            f"{path}: no line break in the first 64 KB, expected a CSV file of meter readings"
        )
    return "csv"


def _time_column(columns: pd.Index, where: str) -> str:
    lowered = {str(c).strip().lower(): c for c in columns}
    for name in TIME_COLUMNS:
        if name in lowered:
            return lowered[name]
    raise ReadingsError(
        f"{where}: no timestamp column (columns: {', '.join(map(str, columns[:8]))}); expected one named "
        f"{' or '.join(TIME_COLUMNS[:3])}"
    )


def parse_times(text: pd.Series, tz: str | None, where: str, first_row: int = 2) -> pd.DatetimeIndex:
    """UTC times from ISO 8601 text; naive times are local wall times of ``tz``.

    The October clock change repeats an hour of wall time; repeated naive times are resolved by their order
    (the first is summer time), and a naive wall time that cannot be resolved, or that does not exist (the
    March change), is an error naming the row.
    """
    raw = text.astype(str).str.strip()
    has_offset = raw.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    if has_offset.any() and not has_offset.all():
        row = int(np.flatnonzero(~has_offset.to_numpy())[0])
        raise ReadingsError(
            f"{where} row {row + first_row}: timestamp {raw.iloc[row]!r} has no UTC offset while others do; "
            "expected the same form on every row"
        )
    try:
        if has_offset.all():
            return pd.DatetimeIndex(pd.to_datetime(raw, utc=True, format="ISO8601"))
        naive = pd.DatetimeIndex(pd.to_datetime(raw, format="ISO8601"))
    except (ValueError, TypeError, OverflowError):
        parsed = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0]) if parsed.isna().any() else 0
        raise ReadingsError(
            f"{where} row {row + first_row}: timestamp {raw.iloc[row]!r} is not a time; expected ISO 8601, "
            "e.g. 2024-06-01T00:15:00Z"
        ) from None
    if tz is None:
        raise ReadingsError(
            f"{where}: timestamps have no UTC offset (first {raw.iloc[0]!r}); name their zone (--tz "
            "Europe/Berlin, or --tz UTC) since a guessed zone would shift every daily pattern"
        )
    return localize_wall_times(naive, tz, where, first_row)


def localize_wall_times(naive: pd.DatetimeIndex, tz: str, where: str, first_row: int = 0) -> pd.DatetimeIndex:
    """Naive wall times of ``tz`` as UTC; repeated October hours resolved by order, else a clear error."""
    try:
        return naive.tz_localize(tz, ambiguous="infer", nonexistent="raise").tz_convert("UTC")
    except Exception as err:  # pytz/zoneinfo raise AmbiguousTimeError, NonExistentTimeError or ValueError
        message = str(err)
    try:
        naive.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        bad_ambiguous = naive.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward").isna()
        bad_missing = naive.tz_localize(tz, ambiguous=True, nonexistent="NaT").isna()
    except Exception:  # an unknown zone name
        raise ReadingsError(
            f"{where}: time zone {tz!r} is not known; expected an IANA name, e.g. Europe/Berlin"
        ) from None
    if bad_missing.any():
        row = int(np.flatnonzero(bad_missing)[0])
        raise ReadingsError(
            f"{where} row {row + first_row}: wall time {naive[row]} does not exist in {tz} (the spring clock "
            "change skips it); expected times with a UTC offset, or a zone without daylight saving"
        )
    if bad_ambiguous.any():
        row = int(np.flatnonzero(bad_ambiguous)[0])
        raise ReadingsError(
            f"{where} row {row + first_row}: wall time {naive[row]} is ambiguous in {tz} (the autumn clock "
            "change repeats it) and the order of the rows does not tell which it is; expected times with a "
            "UTC offset, or the repeated hour twice in order"
        )
    raise ReadingsError(f"{where}: cannot place the times in {tz}: {message}")


def parse_values(text: pd.Series, column: str, where: str, first_row: int = 2) -> np.ndarray:
    """Floats from text; the NA tokens (``n/a``, empty, ...) are missing, any other text is an error."""
    if pd.api.types.is_numeric_dtype(text):
        return text.to_numpy(dtype=float)
    stripped = text.astype(str).str.strip()
    numbers = pd.to_numeric(stripped, errors="coerce")
    bad = numbers.isna() & ~(text.isna() | stripped.isin(NA_TOKENS))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ReadingsError(
            f"{where} column {column!r} row {row + first_row}: value {stripped.iloc[row]!r} is not a number; "
            "expected a number or an empty cell"
        )
    values = numbers.to_numpy(dtype=float)
    if np.isinf(values).any():
        row = int(np.flatnonzero(np.isinf(values))[0])
        raise ReadingsError(
            f"{where} column {column!r} row {row + first_row}: value is infinite; expected a finite number"
        )
    return values


def _long_rows(
    table: pd.DataFrame, tz: str | None, unit: str | None, kind: str | None, where: str, row0: int
):
    tcol = _time_column(table.columns, where)
    if "meter_id" in table.columns:
        missing = [c for c in ("value",) if c not in table.columns]
        if missing:
            raise ReadingsError(
                f"{where}: column 'value' is missing; a long file needs timestamp, meter_id, value"
            )
        out = pd.DataFrame(
            {
                "timestamp": parse_times(table[tcol], tz, where, row0),
                "meter_id": table["meter_id"].astype(str).str.strip().to_numpy(),
                "value": parse_values(table["value"], "value", where, row0),
            }
        )
        for name in ("unit", "kind", "capacity_kw"):
            if name in table.columns:
                out[name] = table[name].to_numpy()
    else:
        meters = [c for c in table.columns if c != tcol]
        if not meters:
            raise ReadingsError(
                f"{where}: only a timestamp column; expected meter columns (wide) or meter_id and value (long)"
            )
        times = parse_times(table[tcol], tz, where, row0)
        parts = [
            pd.DataFrame(
                {
                    "timestamp": times,
                    "meter_id": str(m).strip(),
                    "value": parse_values(table[m], str(m), where, row0),
                }
            )
            for m in meters
        ]
        out = pd.concat(parts, ignore_index=True)
    if unit is not None:
        out["unit"] = unit
    if kind is not None:
        out["kind"] = kind
    return out


def read_readings_table(
    path: str | os.PathLike,
    *,
    tz: str | None = None,
    unit: str | None = None,
    kind: str | None = None,
    max_rows: int = 50_000_000,
) -> pd.DataFrame:
    """The readings of a CSV or Parquet file as a long table (``READINGS`` columns), values as read.

    Raises
    ------
    ReadingsError
        with one line naming the file, the field, the value and what was expected.
    """
    path = Path(path)
    where = str(path)
    fmt = _sniff(path)
    if fmt == "parquet":
        try:
            table = pd.read_parquet(path)
        except Exception as err:
            raise ReadingsError(f"{where}: not a readable Parquet file ({type(err).__name__})") from None
        if isinstance(table.index, pd.DatetimeIndex):
            table = table.reset_index(names="timestamp")
        if len(table) == 0:
            raise ReadingsError(f"{where}: holds no rows, expected meter readings")
        return _conform_long(_long_rows(_as_text_times(table), tz, unit, kind, where, 0), where)
    parts = []
    rows = 0
    try:
        reader = pd.read_csv(
            path, dtype=str, chunksize=CHUNK_ROWS, skipinitialspace=True, na_values=list(NA_TOKENS)
        )
        for number, chunk in enumerate(reader):
            chunk.columns = [str(c).strip() for c in chunk.columns]
            parts.append(_long_rows(chunk, tz, unit, kind, where, 2 + number * CHUNK_ROWS))
            rows += len(chunk)
            if rows > max_rows:
                raise ReadingsError(f"{where}: more than {max_rows:,} rows; split the file")
    except pd.errors.EmptyDataError:
        raise ReadingsError(f"{where}: holds no header and no rows, expected meter readings") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        line = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise ReadingsError(f"{where}: not a CSV table of meter readings ({line})") from None
    if not parts or rows == 0:
        raise ReadingsError(f"{where}: has a header but no rows, expected meter readings")
    return _conform_long(pd.concat(parts, ignore_index=True), where)


def _as_text_times(table: pd.DataFrame) -> pd.DataFrame:
    tcol = _time_column(table.columns, "parquet")
    if isinstance(table[tcol].dtype, pd.DatetimeTZDtype):
        table = table.copy()
        table[tcol] = table[tcol].dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return table


def _conform_long(table: pd.DataFrame, where: str) -> pd.DataFrame:
    for col in ("unit", "kind", "capacity_kw"):
        if col not in table.columns:
            table[col] = READINGS.column(col).default
    table["unit"] = table["unit"].fillna("kWh").astype(str).str.strip()
    table["kind"] = table["kind"].fillna("consumption").astype(str).str.strip()
    for col, choices in (("unit", tuple(UNIT_FACTORS)), ("kind", KINDS)):
        bad = ~table[col].isin(choices)
        if bad.any():
            value = table[col][bad].iloc[0]
            raise ReadingsError(f"{where}: {col} {value!r} is not one of {', '.join(choices)}")
    table["capacity_kw"] = pd.to_numeric(table["capacity_kw"], errors="coerce")
    return table


def to_meter_data(
    table: pd.DataFrame, *, interval: str | pd.Timedelta | None = None, source: str = "frame"
) -> MeterData:
    """The wide, regular-grid form of a long readings table, in kWh, with duplicates and off-grid rows noted."""
    if len(table) == 0:
        raise ReadingsError(f"{source}: holds no readings")
    table = table.copy()
    table["value"] = table["value"] * table["unit"].map(UNIT_FACTORS).to_numpy()
    per_meter = table.groupby("meter_id", sort=False)
    kinds = per_meter["kind"].first()
    if (per_meter["kind"].nunique() > 1).any():
        meter = per_meter["kind"].nunique().idxmax()
        raise ReadingsError(f"{source}: meter {meter!r} has more than one kind; expected one per meter")
    capacity = per_meter["capacity_kw"].max()
    key = table[["meter_id", "timestamp"]]
    dup_mask = key.duplicated(keep=False).to_numpy()
    conflicting = 0
    if dup_mask.any():
        spread = table[dup_mask].groupby(["meter_id", "timestamp"])["value"].agg(lambda v: v.max() - v.min())
        conflicting = int((spread.fillna(0) > 0).sum())
    step = pd.Timedelta(interval) if interval is not None else _common_step(table)
    if step <= pd.Timedelta(0):
        raise ReadingsError(f"{source}: interval {interval!r} is not a positive duration")
    times = pd.DatetimeIndex(table["timestamp"])
    origin = times.min().floor("D")
    on_grid = ((times - origin) % step) == pd.Timedelta(0)
    off_grid = int((~on_grid).sum())
    table = table[np.asarray(on_grid)]
    if len(table) == 0:
        raise ReadingsError(f"{source}: no timestamp falls on a {step} grid; check --interval")
    grid = pd.date_range(table["timestamp"].min(), table["timestamp"].max(), freq=step, name="timestamp")
    if len(grid) > 20_000_000:
        raise ReadingsError(
            f"{source}: {len(grid):,} intervals from {grid[0]} to {grid[-1]}; check the timestamps"
        )
    values = table.pivot_table(
        index="timestamp", columns="meter_id", values="value", aggfunc="mean", dropna=False
    )
    counts = table.groupby(["timestamp", "meter_id"]).size().unstack("meter_id")
    order = list(kinds.index)
    values = values.reindex(index=grid, columns=order)
    duplicated = counts.reindex(index=grid, columns=order).fillna(0) > 1
    values.columns.name = None
    duplicated.columns.name = None
    values.index.freq = step
    return MeterData(
        values=values,
        kinds=kinds.reindex(order),
        capacity_kw=capacity.reindex(order).astype(float),
        step=step,
        duplicated=duplicated,
        conflicting_duplicates=conflicting,
        off_grid_rows=off_grid,
        source=source,
    )


def _common_step(table: pd.DataFrame) -> pd.Timedelta:
    ns = pd.DatetimeIndex(table["timestamp"]).as_unit("ns").asi8
    order = np.lexsort((ns, table["meter_id"].to_numpy()))
    steps = np.diff(ns[order])
    same = table["meter_id"].to_numpy()[order]
    steps = steps[(same[1:] == same[:-1]) & (steps > 0)]
    if steps.size == 0:
        raise ReadingsError(
            "readings: fewer than two distinct times per meter; cannot find the interval (give --interval)"
        )
    values, counts = np.unique(steps, return_counts=True)
    return pd.Timedelta(int(values[np.argmax(counts)]), unit="ns")


def read_meter_file(
    path: str | os.PathLike,
    *,
    interval: str | None = None,
    tz: str | None = None,
    unit: str | None = None,
    kind: str | None = None,
) -> MeterData:
    """Read a meter file into a :class:`MeterData` (regular UTC grid, kWh)."""
    table = read_readings_table(path, tz=tz, unit=unit, kind=kind)
    return to_meter_data(table, interval=interval, source=str(path))
