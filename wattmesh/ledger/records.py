"""Trade records: their declared columns, validation and the canonical byte encoding that gets signed.

A trade record is the seed's format (``transaction_id, seller, buyer, energy_amount_kwh, price_per_kwh,
timestamp, status``) plus the market ``interval`` it cleared in and the clearing ``mechanism``. Its
canonical encoding is compact JSON with the keys in that fixed order, ASCII only, floats in Python's
shortest round-trip form and times as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``. The bytes are stored as signed,
so verifiers never need to re-encode.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from json.encoder import encode_basestring_ascii as _quote

import numpy as np
import pandas as pd

from wattmesh.tables import Column, TableSchema

TRADES = TableSchema(
    "trade",
    "transaction_id",
    (
        Column("transaction_id", "str", "-", "unique id of the trade, e.g. tx_789abcde", required=True),
        Column("seller", "str", "-", "member id of the seller", required=True),
        Column("buyer", "str", "-", "member id of the buyer", required=True),
        Column("energy_amount_kwh", "float", "kWh", "energy traded", required=True, minimum=0.0),
        Column("price_per_kwh", "float", "currency/kWh", "price of the trade", required=True),
        Column("timestamp", "time", "UTC", "when the trade was made", required=True),
        Column("status", "str", "-", "state of the trade", default="completed"),
        Column("interval", "time", "UTC", "start of the market interval it cleared in"),
        Column("mechanism", "str", "-", "clearing mechanism, e.g. pay_as_clear", default=""),
    ),
)
RECORD_FIELDS = tuple(col.name for col in TRADES.columns)
SEED_FIELDS = RECORD_FIELDS[:7]


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
        stamps = pd.to_datetime(values, utc=True)
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
    """Validate a trades table and encode each row canonically.

    Parameters
    ----------
    trades : DataFrame
        Columns of :data:`TRADES`; ``status`` defaults to ``"completed"``, ``mechanism`` to ``""`` and
        ``interval`` to the argument.
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
    missing = [c.name for c in TRADES.columns if c.required and c.name not in trades.columns]
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
    if (energy <= 0).any():
        i = int(np.argmax(energy <= 0))
        raise ValueError(f"trade {ids[i]!r}: energy_amount_kwh {float(energy[i])!r} is not above 0")
    stamps = iso_utc(trades["timestamp"])
    if "interval" in trades.columns:
        intervals = iso_utc(trades["interval"])
    elif interval is not None:
        intervals = [iso_utc([interval])[0]] * n
    else:
        raise ValueError("trades: no interval column and no interval given")
    status = trades["status"].astype(str).tolist() if "status" in trades.columns else ["completed"] * n
    mechanism = trades["mechanism"].astype(str).tolist() if "mechanism" in trades.columns else [""] * n
    energy_list = energy.tolist()
    price_list = price.tolist()
    encodings = [
        (
            f'{{"transaction_id":{_quote(t)},"seller":{_quote(s)},"buyer":{_quote(b)},'
            f'"energy_amount_kwh":{e!r},"price_per_kwh":{p!r},"timestamp":"{ts}",'
            f'"status":{_quote(st)},"interval":"{iv}","mechanism":{_quote(m)}}}'
        ).encode()
        for t, s, b, e, p, ts, st, iv, m in zip(
            ids, sellers, buyers, energy_list, price_list, stamps, status, intervals, mechanism, strict=True
        )
    ]
    records = [
        dict(zip(RECORD_FIELDS, row, strict=True))
        for row in zip(
            ids, sellers, buyers, energy_list, price_list, stamps, status, intervals, mechanism, strict=True
        )
    ]
    return encodings, records


def _floats(trades: pd.DataFrame, name: str, ids: list) -> np.ndarray:
    try:
        values = trades[name].to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"trades: {name} holds values that are not numbers ({err})") from err
    finite = np.isfinite(values)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ValueError(f"trade {ids[i]!r}: {name} {float(values[i])!r} is not a finite number")
    return values


def decode_record(data: bytes) -> dict:
    """A trade record from its canonical bytes.

    Raises
    ------
    ValueError
        when the bytes are not JSON with exactly the record's fields in order, or hold a bad value.
    """
    try:
        record = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"record is not valid JSON ({err})") from err
    if not isinstance(record, dict) or tuple(record) != RECORD_FIELDS:
        keys = tuple(record) if isinstance(record, dict) else type(record).__name__
        raise ValueError(f"record fields {keys} differ from the expected {RECORD_FIELDS}")
    for name in ("energy_amount_kwh", "price_per_kwh"):
        value = record[name]
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"record {name} {value!r} is not a finite number")
    return record
