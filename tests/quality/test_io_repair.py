"""Reading meter files (clock changes, n/a, bad text) and the repair policy, on hand-worked cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattmesh.quality import repair_meter_data
from wattmesh.quality.checks import check_readings
from wattmesh.quality.io import ReadingsError, read_meter_file, read_readings_table
from wattmesh.quality.repair import repair_readings
from wattmesh.quality.schema import ESTIMATES, READINGS, REASON_BITS


def write(tmp_path, text: str, name: str = "readings.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_naive_times_over_the_october_change_are_resolved_by_row_order(tmp_path):
    wall = ["2024-10-27 01:45", "2024-10-27 02:00", "2024-10-27 02:30", "2024-10-27 02:00", "2024-10-27 02:30",
            "2024-10-27 03:00"]  # fmt: skip
    rows = "\n".join(f"{t},m1,{k}" for k, t in enumerate(wall))
    table = read_readings_table(write(tmp_path, "timestamp,meter_id,value\n" + rows), tz="Europe/Berlin")
    expected = pd.DatetimeIndex(
        ["2024-10-26 23:45", "2024-10-27 00:00", "2024-10-27 00:30", "2024-10-27 01:00", "2024-10-27 01:30",
         "2024-10-27 02:00"], tz="UTC",
    )  # fmt: skip
    pd.testing.assert_index_equal(pd.DatetimeIndex(table["timestamp"]), expected, check_names=False)


def test_an_october_hour_given_once_is_an_error_naming_the_row_and_time(tmp_path):
    rows = "\n".join(f"2024-10-27 0{h}:00,m1,1" for h in range(5))
    with pytest.raises(
        ReadingsError, match=r"row 4: wall time 2024-10-27 02:00:00 is ambiguous in Europe/Berlin"
    ):
        read_readings_table(write(tmp_path, "timestamp,meter_id,value\n" + rows), tz="Europe/Berlin")


def test_a_march_wall_time_that_does_not_exist_is_an_error(tmp_path):
    rows = "\n".join(f"2024-03-31 0{h}:30,m1,1" for h in range(4))
    with pytest.raises(ReadingsError, match="does not exist in Europe/Berlin"):
        read_readings_table(write(tmp_path, "timestamp,meter_id,value\n" + rows), tz="Europe/Berlin")


def test_repair_meter_data_over_the_october_change_names_the_field_not_pandas():
    naive = pd.date_range("2024-10-27 00:00", "2024-10-27 04:00", freq="15min")  # 02:xx appears once
    frame = pd.DataFrame({"h1": np.ones(len(naive))}, index=naive)
    with pytest.raises(ValueError, match=r"^load_kw row \d+: wall time 2024-10-27 02:00:00 is ambiguous"):
        repair_meter_data(frame, "load_kw", assume_tz="Europe/Berlin")


def test_na_text_is_missing_and_flagged_other_text_names_the_column(tmp_path):
    text = "timestamp,a,b\n2024-01-01T00:00Z,1,2\n2024-01-01T01:00Z,n/a,3\n2024-01-01T02:00Z,3,4\n"
    data = read_meter_file(write(tmp_path, text))
    assert np.isnan(data.values.loc["2024-01-01 01:00", "a"])
    flags, _ = check_readings(data)
    assert flags.loc["2024-01-01 01:00", "a"] & REASON_BITS["missing"]
    bad = text.replace("n/a", "twelve")
    with pytest.raises(ReadingsError, match=r"column 'a' row 3: value 'twelve' is not a number"):
        read_meter_file(write(tmp_path, bad))
    frame = pd.DataFrame(
        {"h1": ["1.0", "n/a", "3.0"]}, index=pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC")
    )
    repaired, log = repair_meter_data(frame, "load_kw")
    assert repaired["h1"].tolist() == [1.0, 2.0, 3.0] and log.interpolated_values == 1


def test_units_are_converted_to_kwh(tmp_path):
    text = "timestamp,meter_id,value,unit\n2024-01-01T00:00Z,m,500,Wh\n2024-01-01T00:15Z,m,250,Wh\n"
    data = read_meter_file(write(tmp_path, text))
    assert data.values["m"].tolist() == [0.5, 0.25]


def test_the_readings_schema_is_declared_once():
    assert [c.name for c in READINGS.columns][:3] == ["timestamp", "meter_id", "value"]
    assert "| `unit` |" in READINGS.markdown()


def test_repair_fills_by_the_policy_and_keeps_every_raw_value():
    index = pd.date_range("2024-01-01", periods=24 * 21, freq="h", tz="UTC")
    hour = index.hour.to_numpy()
    noise = np.random.default_rng(0).uniform(0, 0.2, len(index))
    values = pd.DataFrame({"m": 1.0 + np.sin(hour / 24 * 2 * np.pi) + noise}, index=index)
    truth = values.copy()
    faulty = values.copy()
    faulty.iloc[100, 0] = np.nan  # one missing hour: linear
    faulty.iloc[200, 0] = -faulty.iloc[200, 0]  # a negative: linear
    faulty.iloc[300:312, 0] = faulty.iloc[299, 0]  # stuck for 12 h: a week earlier
    faulty.iloc[400, 0] = 50.0  # a spike
    flags, _ = check_readings(faulty, kinds="consumption")
    from wattmesh.quality.checks import _as_meter_data

    repaired = repair_readings(_as_meter_data(faulty, "consumption", None, None), flags)
    est = repaired.estimate["m"]
    assert est.iloc[100] == "interpolated_linear" and est.iloc[200] == "interpolated_linear"
    assert (est.iloc[300:312] == "seasonal_week").all()
    np.testing.assert_allclose(repaired.values["m"].iloc[300:312], truth["m"].iloc[300 - 168 : 312 - 168])
    assert est.iloc[400] == "interpolated_linear"
    np.testing.assert_allclose(
        repaired.values["m"].iloc[400], (faulty.iloc[399, 0] + faulty.iloc[401, 0]) / 2
    )
    # nothing changed silently: every changed value has an estimate method, and the raw value is kept
    changed = ~np.isclose(repaired.values.to_numpy(), faulty.to_numpy(), equal_nan=True)
    assert (repaired.estimate.to_numpy()[changed] != "").all()
    pd.testing.assert_frame_equal(repaired.raw, faulty, check_freq=False)
    long = repaired.long()
    assert set(long.columns) == {
        "timestamp",
        "meter_id",
        "value_raw",
        "value",
        "flags",
        "reasons",
        "estimate",
    }
    assert set(long["estimate"]) <= set(ESTIMATES)
