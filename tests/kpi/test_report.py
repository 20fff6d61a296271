"""The report's choice of a typical week and its number formatting."""

import numpy as np
import pandas as pd

from wattmesh.kpi.report import (
    dr_events_section,
    format_kpi,
    human_header,
    span_label,
    typical_week,
)


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


def dr_event(event_id: str, start: str, end: str, intervals: int, met: bool) -> dict:
    return {
        "event_id": event_id,
        "member_id": "h1",
        "source": "file",
        "start": pd.Timestamp(start, tz="UTC"),
        "end": pd.Timestamp(end, tz="UTC"),
        "limit_kw": 1.0,
        "reduction_kw": np.nan,
        "intervals": intervals,
        "cap_kw": 1.0,
        "peak_import_plan_kw": 1.0,
        "peak_import_no_plan_kw": 2.0,
        "over_cap_plan_kwh": 0.0 if met else 0.5,
        "over_cap_no_plan_kwh": 1.0,
        "met": met,
    }


def test_dr_section_counts_events_in_the_span_and_draws_the_cap_through_its_last_interval():
    index = pd.date_range("2030-01-01 00:00", periods=6, freq="1h", tz="UTC")
    cap = np.array([np.nan, 1.0, 1.0, np.nan, np.nan, np.nan])
    window = pd.DataFrame({"plan_kw": 0.5, "no_plan_kw": 2.0, "cap_kw": cap}, index=index)
    table = pd.DataFrame(
        [
            dr_event("e1", "2030-01-01 01:00", "2030-01-01 03:00", 2, True),
            dr_event("e2", "2030-01-01 02:00", "2030-01-01 04:00", 2, False),
            dr_event("outside", "2031-01-01 02:00", "2031-01-01 04:00", 0, True),
        ]
    )
    text, figures = dr_events_section(table, {"e1": window, "e2": window}, "Europe/Berlin")
    assert "Of the 2 in the simulated span, the plan (P2P + batteries) met 1" in text
    assert len(figures) == 2
    [cap_trace] = [t for t in figures[0].data if t.name == "the event's cap"]
    # held from 01:00 to 03:00 (UTC): a point at 03:00 ends the step, nothing after
    np.testing.assert_array_equal(cap_trace.y, [np.nan, 1.0, 1.0, 1.0, np.nan, np.nan])
    assert list(cap_trace.x[:2]) == list(pd.to_datetime(["2030-01-01 01:00", "2030-01-01 02:00"]))
    assert figures[0].layout.xaxis.title.text == "local time (Europe/Berlin)"
    assert figures[0].layout.yaxis.title.text == "import [kW]"
