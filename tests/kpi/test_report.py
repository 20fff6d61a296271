"""The report's choice of a typical week and its number formatting."""

import numpy as np
import pandas as pd

from wattmesh.kpi.report import format_kpi, human_header, span_label, typical_week


def test_typical_week_is_the_window_with_median_generation():
    index = pd.date_range("2016-06-01", periods=96 * 15, freq="15min", tz="UTC")
    # Day d generates d kWh in total: 7-day sums rise 21, 28, ..., 77; their median is 49 (days 4-10).
    daily = np.repeat(np.arange(15, dtype=float), 96) / 96
    week = typical_week(pd.DataFrame({"generation_kwh": daily}, index=index))
    assert week.index[0] == pd.Timestamp("2016-06-05", tz="UTC")
    assert week.index[-1] == pd.Timestamp("2016-06-11 23:45", tz="UTC")
    assert week["generation_kwh"].sum() == 4 + 5 + 6 + 7 + 8 + 9 + 10


def test_short_span_is_shown_whole():
    index = pd.date_range("2016-06-01", periods=96 * 3, freq="15min", tz="UTC")
    frame = pd.DataFrame({"generation_kwh": np.ones(len(index))}, index=index)
    assert len(typical_week(frame)) == len(index)


def test_fairness_indices_keep_three_decimals_and_nan_is_blank():
    assert format_kpi("Gini of savings", 0.60234) == "0.602"
    assert format_kpi("grid import [kWh]", 21382.14) == "21,382.1"
    assert format_kpi("grid import [kWh]", float("nan")) == ""


def test_span_labels_name_the_span_and_only_a_chosen_week_is_typical():
    day = pd.date_range("2016-06-10", periods=96, freq="15min", tz="UTC")
    three = pd.date_range("2016-06-10", periods=96 * 3, freq="15min", tz="UTC")
    assert span_label(day, typical=False) == "1 day, 10 Jun 2016"
    assert span_label(three, typical=False) == "3 days, 10 Jun to 12 Jun 2016"
    assert span_label(three, typical=True).startswith("a typical week")


def test_headers_read_as_text_with_their_units():
    assert human_header("bill_alone_eur", "EUR") == "bill alone [EUR]"
    assert human_header("import_kwh") == "import [kWh]"
    assert human_header("self_sufficiency_percent") == "self sufficiency [%]"
    assert human_header("local_price_eur_per_kwh", "EUR") == "local price [EUR/kWh]"
    assert human_header("outage_powered_alone_h") == "outage powered alone [h]"
    assert human_header("traded locally [kWh]") == "traded locally [kWh]"
