"""Generic CSV with a column mapping: local times, units, interval ends, errors naming the field."""

from __future__ import annotations

import pandas as pd
import pytest

from wattmesh.integrate.csvmap import ColumnMapping, interval_energy_from_csv, readings_from_csv


def write(tmp_path, text: str):
    path = tmp_path / "export.csv"
    path.write_text(text)
    return path


def test_local_times_at_interval_ends_with_decimal_commas(tmp_path):
    # a Dutch utility export: semicolons, decimal commas, CEST times marking the end of each 15 min
    path = write(tmp_path, "Datum;Verbruik kWh;Opmerking\n01-06-2026 00:15;0,125;x\n01-06-2026 00:30;0,250;\n"
                           "01-06-2026 00:45;1,000;\n")  # fmt: skip
    mapping = ColumnMapping(timestamp="Datum", value="Verbruik kWh", unit="kWh", timezone="Europe/Amsterdam",
                            stamp_at="end", time_format="%d-%m-%Y %H:%M", decimal=",", separator=";")  # fmt: skip
    series = interval_energy_from_csv(path, mapping)
    # 00:15 CEST (UTC+2) ends the interval starting 2026-05-31T22:00Z
    assert list(series.index) == list(pd.date_range("2026-05-31T22:00:00Z", periods=3, freq="15min"))
    assert series.tolist() == pytest.approx([125.0, 250.0, 1000.0])
    readings = readings_from_csv(path, mapping, "home_4", "utility-meter")
    assert readings[0].interval == pd.Timestamp("2026-05-31T22:00:00Z")
    assert readings[0].timestamp == pd.Timestamp("2026-05-31T22:15:00Z")


def test_mean_power_in_kw_becomes_interval_energy(tmp_path):
    path = write(tmp_path, "time,kw\n2026-06-01T10:00:00Z,2.0\n2026-06-01T10:30:00+00:00,-0.5\n")
    series = interval_energy_from_csv(path, ColumnMapping("time", "kw", unit="kW", interval_minutes=30))
    assert series.tolist() == pytest.approx([1000.0, -250.0])  # 2 kW for half an hour = 1 kWh


def test_errors_name_the_field_column_row_and_value(tmp_path):
    path = write(tmp_path, "time,kwh\n2026-06-01 10:00,1.0\n2026-06-01 10:15,lots\n")
    with pytest.raises(ValueError, match=r"mapping value: column 'kwh' row 2: 'lots' is not a number"):
        interval_energy_from_csv(path, ColumnMapping("time", "kwh"))
    with pytest.raises(ValueError, match=r"mapping timestamp: column 'Time' is not in the file; columns are"):
        interval_energy_from_csv(path, ColumnMapping("Time", "kwh"))
    with pytest.raises(ValueError, match=r"mapping unit: 'MWh'"):
        ColumnMapping("time", "kwh", unit="MWh")
    with pytest.raises(ValueError, match=r"mapping timezone: 'Mars/Olympus'"):
        ColumnMapping("time", "kwh", timezone="Mars/Olympus")
    gap = write(tmp_path, "time,kwh\n2026-03-29 01:45,1\n2026-03-29 02:15,1\n")  # 02:15 skipped by CEST
    with pytest.raises(
        ValueError, match=r"row 2: '2026-03-29 02:15' does not exist or is ambiguous in Europe/Amsterdam"
    ):
        interval_energy_from_csv(gap, ColumnMapping("time", "kwh", timezone="Europe/Amsterdam"))
    bad_time = write(tmp_path, "time,kwh\nyesterday,1\n")
    with pytest.raises(ValueError, match=r"row 1: 'yesterday' is not a time"):
        interval_energy_from_csv(bad_time, ColumnMapping("time", "kwh"))
