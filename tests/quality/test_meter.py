"""Meter-data repair and validation: hand-built bad inputs with known repairs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from wattmesh.quality import check_meter_data, meter_data_problems, repair_meter_data


def hourly(values, start="2024-01-01", tz="UTC", name="h1"):
    index = pd.date_range(start, periods=len(values), freq="h", tz=tz)
    return pd.DataFrame({name: np.asarray(values, dtype=float)}, index=index)


def test_clean_data_has_no_problems_and_nothing_to_repair():
    frame = hourly(np.arange(48.0))
    assert meter_data_problems(frame) == []
    repaired, log = repair_meter_data(frame)
    assert log.repaired == 0
    pd.testing.assert_frame_equal(repaired, frame, check_freq=False)


def test_duplicates_unsorted_gap_nan_and_negative_are_repaired_and_counted(caplog):
    frame = hourly(np.arange(1.0, 49.0))  # 1..48, a straight line: linear fills are exact
    frame.iloc[5, 0] = np.nan  # a NaN in a 1-interval run: interpolated to 6
    frame.iloc[9, 0] = -3.0  # negative load: treated as missing, interpolated to 10
    dropped = frame.drop(frame.index[20])  # a missing timestamp: inserted, interpolated to 21
    duplicated = pd.concat([dropped, dropped.iloc[[30]]])  # one repeated timestamp with the same value
    shuffled = duplicated.iloc[np.r_[1, 0, 2 : len(duplicated)]]  # rows 0 and 1 swapped
    with caplog.at_level(logging.WARNING, logger="wattmesh.quality"):
        repaired, log = repair_meter_data(shuffled, "load_kw")
    assert log.unsorted_rows >= 2
    assert log.duplicated_rows == 1
    assert log.gap_rows == 1
    assert log.negative_values == 1
    assert log.interpolated_values == 3
    assert log.unfilled_values == 0
    np.testing.assert_allclose(repaired["h1"].to_numpy(), np.arange(1.0, 49.0))
    assert "load_kw: repaired" in caplog.text


def test_long_gap_is_filled_from_the_day_before_not_flattened():
    day = np.array([1.0] * 8 + [5.0] * 8 + [2.0] * 8)
    frame = hourly(np.concatenate([day, day, day]))
    frame.iloc[30:40, 0] = np.nan  # 10 h gap on day 2
    repaired, log = repair_meter_data(frame, max_interpolate="2h")
    assert log.seasonal_filled_values == 10
    np.testing.assert_allclose(repaired["h1"].to_numpy()[30:40], day[6:16])


def test_long_gap_can_be_left_missing_and_counted():
    frame = hourly(np.ones(72))
    frame.iloc[30:40, 0] = np.nan
    repaired, log = repair_meter_data(frame, max_interpolate="2h", seasonal_fill=False)
    assert log.unfilled_values == 10
    assert repaired["h1"].isna().sum() == 10


def test_timezone_naive_data_is_rejected_unless_its_zone_is_named():
    naive = hourly(np.ones(24), tz=None)
    with pytest.raises(ValueError, match="timezone-naive"):
        repair_meter_data(naive, "load_kw")
    repaired, log = repair_meter_data(naive, "load_kw", assume_tz="Etc/GMT+8")
    assert log.localized_rows == 24
    assert repaired.index[0] == pd.Timestamp("2024-01-01 08:00", tz="UTC")


def test_check_names_field_value_and_expectation():
    frame = hourly([1.0, -2.5, 3.0])
    frame = pd.concat([frame, frame.iloc[[0]]])
    with pytest.raises(ValueError) as err:
        check_meter_data(frame, "load_kw")
    text = str(err.value)
    assert "load_kw: 1 duplicated timestamp(s)" in text
    assert "not in time order" in text
    assert "load_kw 'h1': 1 negative value(s), first -2.5" in text
    assert "expected >= 0" in text


def test_step_is_found_whatever_the_index_resolution():
    # parquet files often give microsecond indexes; the step must still be 15 minutes
    index = pd.date_range("2024-01-01", periods=8, freq="15min", tz="UTC").as_unit("us")
    frame = pd.DataFrame({"pv": np.arange(8.0)}, index=index).drop(index[3])
    repaired, log = repair_meter_data(frame)
    assert log.gap_rows == 1
    assert len(repaired) == 8


def test_a_regular_microsecond_index_has_no_problems():
    index = pd.date_range("2024-01-01", periods=8, freq="15min", tz="UTC").as_unit("us")
    assert meter_data_problems(pd.DataFrame({"pv": np.ones(8)}, index=index)) == []
