"""Green Button (ESPI Atom) import: a file in the real ESPI layout, values worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from wattmesh.integrate.greenbutton import interval_energy_wh, readings_from_greenbutton

FILE = Path(__file__).parent / "data" / "greenbutton_electric.xml"


def test_forward_and_reverse_registers_with_their_multipliers():
    frame = interval_energy_wh(FILE)
    assert pd.Timestamp(1748736000, unit="s", tz="UTC") == pd.Timestamp("2025-06-01T00:00:00Z")
    forward = frame[frame["reading_type"].str.endswith("ReadingType/1")]
    reverse = frame[frame["reading_type"].str.endswith("ReadingType/2")]
    # delivered: value x 10^-1 Wh; received: value x 10^0 Wh, counted negative (export)
    assert forward["energy_wh"].tolist() == pytest.approx([1234.5, 800.0, 500.0, 2000.0])
    assert reverse["energy_wh"].tolist() == pytest.approx([0.0, -300.0, -1200.0, 0.0])
    assert set(frame["duration_s"]) == {3600}


def test_net_interval_readings():
    readings = readings_from_greenbutton(FILE, "home_5", "gb-usagepoint-1")
    hours = pd.date_range("2025-06-01T00:00:00Z", periods=4, freq="1h")
    assert [r.interval for r in readings] == list(hours)
    assert [r.timestamp for r in readings] == list(hours + pd.Timedelta(hours=1))
    assert [r.values["energy_wh"] for r in readings] == pytest.approx([1234.5, 500.0, -700.0, 2000.0])
    assert {(r.member_id, r.channel, r.device_id) for r in readings} == {
        ("home_5", "meter", "gb-usagepoint-1")
    }


def test_errors_name_the_element():
    text = FILE.read_bytes()
    with pytest.raises(ValueError, match=r"ReadingType https://utility.example/espi/1_1/resource/ReadingType/1: "
                       r"uom 38; expected 72 \(Wh\)"):  # fmt: skip
        interval_energy_wh(text.replace(b"<uom>72</uom>", b"<uom>38</uom>"))
    with pytest.raises(ValueError, match="value 'abc' is not an integer"):
        interval_energy_wh(text.replace(b"<value>8000</value>", b"<value>abc</value>"))
    with pytest.raises(ValueError, match="root element 'html'"):
        interval_energy_wh(b"<html/>")
