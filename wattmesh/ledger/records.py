"""Trade records in the ledger: the canonical byte encoding that gets signed, and its decoders.

The record is THE trade record, declared once in :data:`wattmesh.tables.TRADES` (the seed's seven fields,
then ``interval``, ``mechanism``, ``grid_fee_per_kwh``, ``sell_order_id``, ``buy_order_id``), and the
ledger signs every field of it. Its canonical encoding is compact JSON with the keys in that fixed order,
ASCII only, floats (energy, price, grid fee) in Python's shortest round-trip form, order ids as strings
and times as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``. The bytes are stored as signed, so verifiers never need
to re-encode.

Ledger formats: format 2 (this encoding, 12 fields) is written by this version; format 1 ledgers hold
the earlier 9-field records (the seed's seven, ``interval``, ``mechanism``) and are still read and
verified with :data:`FORMAT_1_FIELDS`.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from json.encoder import encode_basestring_ascii as _quote

import numpy as np
import pandas as pd

from wattmesh.tables import SEED_TRADE_FIELDS, TRADE_FIELDS, TRADES, is_missing

__all__ = [
    "FORMAT_1_FIELDS",
    "RECORD_FIELDS",
    "SEED_FIELDS",
    "TRADES",
    "canonical_records",
    "decode_record",
    "iso_utc",
    "record_fields",
]

RECORD_FIELDS = TRADE_FIELDS  # what format 2 signs: every field of the trade record
SEED_FIELDS = SEED_TRADE_FIELDS
#: The records of format 1 ledgers (written before the trade record was declared once): 9 fields.
FORMAT_1_FIELDS = (*SEED_TRADE_FIELDS, "interval", "mechanism")
_FIELDS_BY_FORMAT = {1: FORMAT_1_FIELDS, 2: RECORD_FIELDS}
_CHECKS = {  # format -> (number fields, text fields) of its records
    version: (
        tuple(n for n in fields if TRADES.column(n).dtype == "float"),
        tuple(n for n in fields if TRADES.column(n).dtype in ("str", "time")),
    )
    for version, fields in _FIELDS_BY_FORMAT.items()
}


def record_fields(version: int) -> tuple[str, ...]:
    """The fields, in order, of the records of ledger format ``version`` (1 or 2)."""
    try:
        return _FIELDS_BY_FORMAT[version]
    except KeyError:
        raise ValueError(f"ledger format {version!r}: expected 1 or 2") from None


_DECODE = json.JSONDecoder().decode
_PLAIN_ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def iso_utc(times: pd.Series | pd.DatetimeIndex | list) -> list[str]:
    """UTC ISO 8601 strings with a ``Z`` suffix, microseconds only when present.

    Strings already in the plain ``YYYY-MM-DDTHH:MM:SSZ`` form and tz-aware datetime columns take fast
    paths (no per-value pandas objects), since the simulator appends tens of thousands of intervals.

    Raises
    ------
    ValueError
        naming the first value that is not a time or has no time zone.
    """
    if not isinstance(times, pd.Series | pd.DatetimeIndex):
        return [_one_iso(value) for value in ([times] if isinstance(times, str) else times)]
    values = pd.Series(times) if isinstance(times, pd.DatetimeIndex) else times
    if values.empty:
        return []
    if isinstance(values.dtype, pd.CategoricalDtype):  # the simulator's columns: convert each category once
        codes = values.cat.codes.to_numpy()
        if (codes < 0).any():
            raise ValueError("time nan is not a time")
        used, inverse = np.unique(codes, return_inverse=True)  # a run's column holds every interval
        texts = iso_utc(pd.Series(np.asarray(values.cat.categories)[used]))
        return np.array(texts, dtype=object)[inverse].tolist()
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        naive = np.asarray(values.values, dtype="datetime64[us]")  # tz-aware .values are UTC instants
        if np.isnat(naive).any():
            raise ValueError(f"time {values[np.isnat(naive)].iloc[0]!r} is not a time")
        whole = (naive.astype("datetime64[s]") == naive).all()
        text = np.datetime_as_string(naive, unit="s" if whole else "us")
        return [t + "Z" for t in text.tolist()]
    if values.dtype == object:
        plain = values.tolist()
        if all(isinstance(v, str) and _PLAIN_ISO_Z.match(v) for v in plain):
            _check_dates(set(plain))
            return plain
        for value in plain:
            if isinstance(value, str) and not value.endswith(("Z", "+00:00")) and "+" not in value[10:]:
                raise ValueError(f"time {value!r} has no time zone (expected UTC, e.g. 2025-07-15T09:45:00Z)")
            if isinstance(value, pd.Timestamp | datetime) and value.tzinfo is None:
                raise ValueError(f"time {value!r} has no time zone (expected UTC)")
    elif np.issubdtype(values.dtype, np.datetime64):
        raise ValueError(
            f"time {values.iloc[0]!r} has no time zone (expected UTC, e.g. 2025-07-15T09:45:00Z)"
        )
    try:
        stamps = pd.to_datetime(values, utc=True, format="ISO8601")  # mixed precisions in one column
    except (TypeError, ValueError) as err:
        raise ValueError(f"times {values.iloc[0]!r}...: {err}") from err
    if stamps.isna().any():
        raise ValueError(f"time {values[stamps.isna()].iloc[0]!r} is not a time")
    return iso_utc(stamps)


def _check_dates(texts: set[str]) -> None:
    """Raise ValueError naming the first plain ISO time that is not a real date and time."""
    try:
        np.array([t[:-1] for t in texts], dtype="datetime64[s]")
    except ValueError as err:
        bad = next(t for t in sorted(texts) if not _parses(t[:-1]))
        raise ValueError(f"time {bad!r} is not a time") from err


def _parses(text: str) -> bool:
    try:
        np.datetime64(text, "s")
    except ValueError:
        return False
    return True


def _one_iso(value: object) -> str:
    if isinstance(value, str) and _PLAIN_ISO_Z.match(value):
        _check_dates({value})
        return value
    if isinstance(value, str) and not value.endswith(("Z", "+00:00")) and "+" not in value[10:]:
        raise ValueError(f"time {value!r} has no time zone (expected UTC, e.g. 2025-07-15T09:45:00Z)")
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"time {value!r} is not a time") from err
    if stamp is pd.NaT:
        raise ValueError(f"time {value!r} is not a time")
    if stamp.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone (expected UTC, e.g. 2025-07-15T09:45:00Z)")
    stamp = stamp.tz_convert("UTC")
    micro = f".{stamp.microsecond:06d}" if stamp.microsecond else ""
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + micro + "Z"


def canonical_records(trades: pd.DataFrame, interval: str | None = None) -> tuple[list[bytes], list[dict]]:
    """Validate a trades table and encode each row canonically, every field of :data:`TRADES` signed.

    Parameters
    ----------
    trades : DataFrame
        Columns of :data:`wattmesh.tables.TRADES` (plain values or the simulator's categoricals). Missing
        optional columns take their declared defaults (``status`` "completed", ``grid_fee_per_kwh`` 0.0,
        ``sell_order_id`` and ``buy_order_id`` ""), and so do empty cells (None, NaN) in them.
    interval : str, optional
        ISO UTC start of the market interval, used where the table has no ``interval`` column.

    Returns
    -------
    (encodings, records)
        The canonical bytes and the decoded records (dicts in field order), one per row.

    Raises
    ------
    ValueError
        naming the trade, the field, the value and what was expected.
    """
    if len(trades) == 0:
        return [], []
    given = set(trades.columns) | ({"interval"} if interval is not None else set())
    missing = [c.name for c in TRADES.columns if c.required and c.name not in given]
    if missing:
        raise ValueError(f"trades: required column(s) {', '.join(missing)} missing")
    n = len(trades)
    ids = trades["transaction_id"].tolist()
    for name in ("transaction_id", "seller", "buyer"):
        bad = [i for i, v in enumerate(trades[name].tolist()) if not isinstance(v, str) or not v]
        if bad:
            raise ValueError(
                f"trade {ids[bad[0]]!r}: {name} {trades[name].iloc[bad[0]]!r} is not a non-empty string"
            )
    duplicated = trades["transaction_id"].duplicated()
    if duplicated.any():
        raise ValueError(f"trade {ids[int(np.argmax(duplicated))]!r}: transaction_id repeats in the batch")
    sellers = trades["seller"].tolist()
    buyers = trades["buyer"].tolist()
    same = [i for i, (s, b) in enumerate(zip(sellers, buyers, strict=True)) if s == b]
    if same:
        raise ValueError(f"trade {ids[same[0]]!r}: seller and buyer are both {sellers[same[0]]!r}")
    energy = _floats(trades, "energy_amount_kwh", ids)
    price = _floats(trades, "price_per_kwh", ids)
    fee = _floats(trades, "grid_fee_per_kwh", ids)
    if (energy <= 0).any():
        i = int(np.argmax(energy <= 0))
        raise ValueError(f"trade {ids[i]!r}: energy_amount_kwh {float(energy[i])!r} is not above 0")
    fee_minimum = TRADES.column("grid_fee_per_kwh").minimum
    if (fee < fee_minimum).any():
        i = int(np.argmax(fee < fee_minimum))
        raise ValueError(f"trade {ids[i]!r}: grid_fee_per_kwh {float(fee[i])!r} is below {fee_minimum:g}")
    stamps = iso_utc(trades["timestamp"])
    if "interval" in trades.columns:
        intervals = iso_utc(trades["interval"])
    else:
        intervals = [iso_utc([interval])[0]] * n
    status = _texts(trades, "status", ids)
    mechanism = _texts(trades, "mechanism", ids)
    sell_orders = _texts(trades, "sell_order_id", ids)
    buy_orders = _texts(trades, "buy_order_id", ids)
    columns = (ids, sellers, buyers, energy.tolist(), price.tolist(), stamps, status, intervals, mechanism,
               fee.tolist(), sell_orders, buy_orders)  # fmt: skip
    encodings = [
        (
            f'{{"transaction_id":{_quote(t)},"seller":{_quote(s)},"buyer":{_quote(b)},'
            f'"energy_amount_kwh":{e!r},"price_per_kwh":{p!r},"timestamp":"{ts}",'
            f'"status":{_quote(st)},"interval":"{iv}","mechanism":{_quote(m)},'
            f'"grid_fee_per_kwh":{f!r},"sell_order_id":{_quote(so)},"buy_order_id":{_quote(bo)}}}'
        ).encode()
        for t, s, b, e, p, ts, st, iv, m, f, so, bo in zip(*columns, strict=True)
    ]
    records = [dict(zip(RECORD_FIELDS, row, strict=True)) for row in zip(*columns, strict=True)]
    return encodings, records


def _floats(trades: pd.DataFrame, name: str, ids: list) -> np.ndarray:
    """A float column as an array (its declared default where the column is missing), all finite."""
    if name not in trades.columns:
        return np.full(len(trades), float(TRADES.column(name).default))
    try:
        values = trades[name].to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"trades: {name} holds values that are not numbers ({err})") from err
    finite = np.isfinite(values)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ValueError(f"trade {ids[i]!r}: {name} {float(values[i])!r} is not a finite number")
    return values


def _texts(trades: pd.DataFrame, name: str, ids: list) -> list[str]:
    """A text column as strings; its declared default where the column or a cell is empty.

    Raises
    ------
    ValueError
        for a cell that is not text, or an empty cell of a required column.
    """
    col = TRADES.column(name)
    if name not in trades.columns:
        return [col.default] * len(trades)
    values = trades[name].tolist()
    if all(type(v) is str for v in values):  # the common case, checked without a Python branch per value
        return values
    out = []
    for i, value in enumerate(values):
        if isinstance(value, str):
            out.append(value)
        elif is_missing(value) and not col.required:
            out.append(col.default)
        else:
            raise ValueError(f"trade {ids[i]!r}: {name} {value!r} is not text")
    return out


def decode_record(data: bytes, version: int = 2) -> dict:
    """A trade record from its canonical bytes, as written in ledger format ``version``.

    Parameters
    ----------
    data : bytes
        The stored record.
    version : {2, 1}
        The ledger's format: 2 has every field of :data:`TRADES` (12), 1 the earlier 9
        (:data:`FORMAT_1_FIELDS`).

    Raises
    ------
    ValueError
        when the bytes are not JSON with exactly the format's fields in order, or hold a value of the
        wrong type (text where text is declared, a finite number where a number is).
    """
    fields = record_fields(version)
    try:  # UTF-8 as json.loads decodes it, without its per-call detection of UTF-16 and UTF-32
        record = _DECODE(
            data.decode("utf-8", "surrogatepass") if isinstance(data, bytes | bytearray) else data
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"record is not valid JSON ({err})") from err
    if not isinstance(record, dict) or tuple(record) != fields:
        keys = tuple(record) if isinstance(record, dict) else type(record).__name__
        raise ValueError(f"record fields {keys} differ from format {version}'s {fields}")
    numbers, texts = _CHECKS[version]
    if all(type(record[n]) is float and math.isfinite(record[n]) for n in numbers) and all(
        type(record[n]) is str for n in texts
    ):  # what the encoder writes; the audit decodes every entry, so the usual case takes one pass
        return record
    for name in numbers:
        value = record[name]
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"record {name} {value!r} is not a finite number")
    for name in texts:
        if not isinstance(record[name], str):
            raise ValueError(f"record {name} {record[name]!r} is not text")
    return record
