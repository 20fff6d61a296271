"""Trade records: the canonical encoding (hand-written) and the errors for bad trades."""

from __future__ import annotations

import pandas as pd
import pytest

from wattmesh.ledger.records import FORMAT_1_FIELDS, canonical_records, decode_record
from wattmesh.tables import TRADE_FIELDS

SEED = {
    "transaction_id": "tx_789abcde",
    "seller": "Prosumer_Node_Alpha",
    "buyer": "Consumer_Node_Beta",
    "energy_amount_kwh": 5.2,
    "price_per_kwh": 0.15,
    "timestamp": "2025-07-15T09:45:00Z",
    "status": "completed",
}
MARKET = {"mechanism": "pay_as_clear"}


def test_the_seed_record_encodes_to_the_hand_written_bytes():
    table = pd.DataFrame(
        [{**SEED, "timestamp": pd.Timestamp("2025-07-15 09:45", tz="UTC"), "mechanism": "pay_as_clear"}]
    )
    encodings, records = canonical_records(table, interval="2025-07-15T09:45:00Z")
    assert encodings == [
        b'{"transaction_id":"tx_789abcde","seller":"Prosumer_Node_Alpha","buyer":"Consumer_Node_Beta",'
        b'"energy_amount_kwh":5.2,"price_per_kwh":0.15,"timestamp":"2025-07-15T09:45:00Z",'
        b'"status":"completed","interval":"2025-07-15T09:45:00Z","mechanism":"pay_as_clear",'
        b'"grid_fee_per_kwh":0.0,"sell_order_id":"","buy_order_id":""}'
    ]
    assert decode_record(encodings[0]) == records[0]
    assert {k: records[0][k] for k in SEED} == SEED


def test_every_field_of_the_declared_record_is_encoded_in_its_order():
    row = {**SEED, "interval": "2025-07-15T09:45:00Z", "mechanism": "pay_as_bid", "grid_fee_per_kwh": 0.0125,
           "sell_order_id": "ask-7", "buy_order_id": "bid \"9\""}  # fmt: skip
    encodings, records = canonical_records(pd.DataFrame([row]))
    assert encodings[0].endswith(
        b'"mechanism":"pay_as_bid","grid_fee_per_kwh":0.0125,"sell_order_id":"ask-7",'
        b'"buy_order_id":"bid \\"9\\""}'
    )
    assert tuple(records[0]) == TRADE_FIELDS and len(TRADE_FIELDS) == 12
    assert decode_record(encodings[0]) == row


def test_a_whole_number_fee_is_encoded_as_a_float_and_empty_order_ids_take_the_default():
    row = {**SEED, "interval": "2025-07-15T09:45:00Z", "mechanism": "cda", "grid_fee_per_kwh": 1,
           "sell_order_id": None, "buy_order_id": float("nan")}  # fmt: skip
    encodings, _ = canonical_records(pd.DataFrame([row]))
    assert encodings[0].endswith(b'"grid_fee_per_kwh":1.0,"sell_order_id":"","buy_order_id":""}')


def test_the_simulators_categorical_columns_encode_like_plain_ones():
    plain = pd.DataFrame(
        [{**SEED, "transaction_id": f"tx_{k}", "interval": "2025-07-15T09:45:00Z", "mechanism": "pay_as_clear",
          "grid_fee_per_kwh": 0.01, "sell_order_id": f"s{k % 2}", "buy_order_id": ""} for k in range(4)]
    )  # fmt: skip
    compact = plain.copy()
    for name in ("seller", "buyer", "timestamp", "interval", "sell_order_id", "buy_order_id"):
        compact[name] = compact[name].astype("category")
    assert canonical_records(compact)[0] == canonical_records(plain)[0]


def test_a_format_1_record_decodes_with_its_nine_fields_only():
    nine = (
        b'{"transaction_id":"tx_1","seller":"a","buyer":"b","energy_amount_kwh":1.0,"price_per_kwh":0.1,'
        b'"timestamp":"2025-07-15T09:45:00Z","status":"completed","interval":"2025-07-15T09:45:00Z","mechanism":""}'
    )
    assert tuple(decode_record(nine, 1)) == FORMAT_1_FIELDS
    with pytest.raises(ValueError, match="differ from format 2's"):
        decode_record(nine)
    twelve = canonical_records(pd.DataFrame([{**SEED, "mechanism": "x"}]), interval="2025-07-15T09:45:00Z")[
        0
    ][0]
    with pytest.raises(ValueError, match="differ from format 1's"):
        decode_record(twelve, 1)
    with pytest.raises(ValueError, match="record sell_order_id 7 is not text"):
        decode_record(twelve.replace(b'"sell_order_id":""', b'"sell_order_id":7'))


def test_non_ascii_names_and_sub_second_times_are_kept_exactly():
    table = pd.DataFrame(
        [{**SEED, **MARKET, "seller": "Haus Müller", "timestamp": "2025-07-15T09:45:00.25Z"}]
    )
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
        ({"grid_fee_per_kwh": -0.01}, "trade 'tx_789abcde': grid_fee_per_kwh -0.01 is below 0"),
        (
            {"grid_fee_per_kwh": float("inf")},
            "trade 'tx_789abcde': grid_fee_per_kwh inf is not a finite number",
        ),
        ({"buy_order_id": 17}, "trade 'tx_789abcde': buy_order_id 17 is not text"),
        ({"mechanism": None}, "trade 'tx_789abcde': mechanism None is not text"),
    ],
)
def test_bad_trades_are_refused_naming_the_trade_field_and_value(change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        canonical_records(pd.DataFrame([{**SEED, **MARKET, **change}]), interval="2025-07-15T09:45:00Z")


def test_a_repeated_id_and_a_missing_column_are_refused():
    with pytest.raises(ValueError, match="'tx_789abcde': transaction_id repeats in the batch"):
        canonical_records(pd.DataFrame([{**SEED, **MARKET}] * 2), interval="2025-07-15T09:45:00Z")
    with pytest.raises(ValueError, match="required column\\(s\\) buyer missing"):
        canonical_records(
            pd.DataFrame([{**SEED, **MARKET}]).drop(columns="buyer"), interval="2025-07-15T09:45:00Z"
        )
    with pytest.raises(ValueError, match="required column\\(s\\) interval, mechanism missing"):
        canonical_records(pd.DataFrame([SEED]))
