"""Trade records: the canonical encoding (hand-written) and the errors for bad trades."""

from __future__ import annotations

import pandas as pd
import pytest

from wattmesh.ledger.records import canonical_records, decode_record

SEED = {
    "transaction_id": "tx_789abcde",
    "seller": "Prosumer_Node_Alpha",
    "buyer": "Consumer_Node_Beta",
    "energy_amount_kwh": 5.2,
    "price_per_kwh": 0.15,
    "timestamp": "2025-07-15T09:45:00Z",
    "status": "completed",
}


def test_the_seed_record_encodes_to_the_hand_written_bytes():
    table = pd.DataFrame([{**SEED, "timestamp": pd.Timestamp("2025-07-15 09:45", tz="UTC")}])
    encodings, records = canonical_records(table, interval="2025-07-15T09:45:00Z")
    assert encodings == [
        b'{"transaction_id":"tx_789abcde","seller":"Prosumer_Node_Alpha","buyer":"Consumer_Node_Beta",'
        b'"energy_amount_kwh":5.2,"price_per_kwh":0.15,"timestamp":"2025-07-15T09:45:00Z",'
        b'"status":"completed","interval":"2025-07-15T09:45:00Z","mechanism":""}'
    ]
    assert decode_record(encodings[0]) == records[0]
    assert {k: records[0][k] for k in SEED} == SEED


def test_non_ascii_names_and_sub_second_times_are_kept_exactly():
    table = pd.DataFrame([{**SEED, "seller": "Haus Müller", "timestamp": "2025-07-15T09:45:00.25Z"}])
    encodings, _ = canonical_records(table, interval="2025-07-15T09:45:00Z")
    assert b'"seller":"Haus M\\u00fcller"' in encodings[0]
    assert b'"timestamp":"2025-07-15T09:45:00.250000Z"' in encodings[0]
    assert decode_record(encodings[0])["seller"] == "Haus Müller"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"energy_amount_kwh": -1.0}, "trade 'tx_789abcde': energy_amount_kwh -1.0 is not above 0"),
        ({"price_per_kwh": float("nan")}, "trade 'tx_789abcde': price_per_kwh nan is not a finite number"),
        ({"buyer": "Prosumer_Node_Alpha"}, "seller and buyer are both 'Prosumer_Node_Alpha'"),
        ({"seller": ""}, "trade 'tx_789abcde': seller '' is not a non-empty string"),
        ({"timestamp": "2025-07-15T09:45:00"}, "has no time zone"),
    ],
)
def test_bad_trades_are_refused_naming_the_trade_field_and_value(change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        canonical_records(pd.DataFrame([{**SEED, **change}]), interval="2025-07-15T09:45:00Z")


def test_a_repeated_id_and_a_missing_column_are_refused():
    with pytest.raises(ValueError, match="'tx_789abcde': transaction_id repeats in the batch"):
        canonical_records(pd.DataFrame([SEED, SEED]), interval="2025-07-15T09:45:00Z")
    with pytest.raises(ValueError, match="required column\\(s\\) buyer missing"):
        canonical_records(pd.DataFrame([SEED]).drop(columns="buyer"), interval="2025-07-15T09:45:00Z")
