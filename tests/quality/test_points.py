"""Point checks on a batch in long form: hand-worked cases, and the same negatives as check_readings finds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wattmesh.quality.checks import check_readings
from wattmesh.quality.points import batch_flags, conflicting_duplicates, register_drops
from wattmesh.quality.schema import REASON_BITS


def names(code) -> set[str]:
    return {name for name, bit in REASON_BITS.items() if int(code) & bit}


def test_only_repeats_with_a_different_value_conflict():
    meters = ["a", "a", "b", "a", "b", "c"]
    times = [0, 0, 0, 900, 0, 0]
    values = [1.0, 2.0, 1.0, 1.0, 1.0, 3.0]  # a@0 conflicts; b@0 repeats the same value; a@900, c alone
    assert conflicting_duplicates(meters, times, values).tolist() == [True, True, False, False, False, False]


def test_a_register_that_falls_is_flagged_at_the_reading_after_the_fall_per_meter_in_time_order():
    meters = ["m1", "m1", "m1", "m2", "m2", "m1"]
    times = [20, 10, 30, 10, 20, 40]
    register = [5.0, 4.0, 3.0, 9.0, 8.0, np.nan]  # m1 in time: 4, 5, 3 (fell), then no value; m2: 9, 8
    assert register_drops(meters, times, register).tolist() == [False, False, True, False, True, False]


def test_batch_flags_hand_worked():
    meters = ["a", "b", "c", "d", "e", "e"]
    times = [0, 0, 0, 0, 0, 0]
    energy_kwh = [0.5, 300.0, -0.2, np.nan, 1.0, 1.5]
    stored_kwh = [0.4, np.nan, np.nan, np.nan, np.nan, np.nan]
    flags = batch_flags(
        meters, times, energy_kwh, limit_kwh=250.0, allow_negative=False, stored_kwh=stored_kwh
    )
    assert [names(f) for f in flags] == [
        {"duplicate"},  # differs from the stored 0.4 kWh
        {"out_of_range"},
        {"negative"},
        {"missing"},
        {"duplicate"},
        {"duplicate"},
    ]
    assert batch_flags(["a"], [0], [-0.2], allow_negative=True).tolist() == [0]


def test_negatives_are_the_ones_check_readings_flags_on_the_same_series():
    index = pd.date_range("2026-06-01", periods=96 * 3, freq="15min", tz="UTC")
    rng = np.random.default_rng(4)
    wide = pd.DataFrame(rng.uniform(0.1, 0.6, (len(index), 3)), index=index, columns=["m0", "m1", "m2"])
    wide.iloc[[17, 130], 0] = -0.3
    wide.iloc[200, 2] = -0.1
    flags, _report = check_readings(wide, kinds="consumption", step="15min")
    by_frame = (flags.to_numpy() & REASON_BITS["negative"]) != 0
    long = wide.stack().rename("value").reset_index()
    long.columns = ["timestamp", "meter", "value"]
    point = batch_flags(long["meter"].to_numpy(), long["timestamp"].astype("int64").to_numpy(),
                        long["value"].to_numpy(), allow_negative=False)  # fmt: skip
    by_batch = pd.Series((point & REASON_BITS["negative"]) != 0, index=[long["timestamp"], long["meter"]])
    expected = pd.DataFrame(by_frame, index=flags.index, columns=flags.columns).stack()
    assert by_batch.sum() == 3
    assert by_batch.sort_index().tolist() == expected.sort_index().tolist()
