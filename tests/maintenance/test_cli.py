"""`wattmesh maintenance scan`: bad input gives one clear message per problem and exit code 2."""

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from wattmesh.cli import app
from wattmesh.maintenance.data import SYSTEM50, load_system50

runner = CliRunner()


def _write(tmp: Path, assets: str, days: int = 120) -> tuple[Path, Path]:
    power, weather = load_system50()
    keep = slice("2011-05-01", str((pd.Timestamp("2011-05-01") + pd.Timedelta(days=days)).date()))
    frame = pd.DataFrame(
        {
            "pv_kw": power[keep],
            "ghi": weather["ghi"][keep],
            "temp_air": weather["temp_air"][keep],
            "ghi_clear": weather["ghi_clear"][keep],
        }
    )
    frame["feeder_kva"] = 200.0 + 50 * np.sin(np.arange(len(frame)) / 20)
    frame.index.name = "timestamp"
    frame.to_csv(tmp / "readings.csv")
    (tmp / "assets.toml").write_text(
        f"[site]\nlatitude = {SYSTEM50.latitude}\nlongitude = {SYSTEM50.longitude}\n" + assets
    )
    return tmp / "readings.csv", tmp / "assets.toml"


def test_scan_writes_report_and_alarms(tmp_path):
    readings, assets = _write(
        tmp_path,
        '[[pv]]\nname = "pv1"\ncolumn = "pv_kw"\ntilt_deg = 45\nazimuth_deg = 158\n'
        'dc_kw = 3.2\nac_kw = 3.4\n[[transformer]]\nname = "t1"\nload_column = "feeder_kva"\n'
        'ambient_column = "temp_air"\nrating_kva = 400\n',
    )
    result = runner.invoke(
        app,
        [
            "maintenance",
            "scan",
            str(readings),
            "--community",
            str(assets),
            "--out",
            str(tmp_path / "out"),
            "--allow-gaps",
        ],
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / "maintenance.html").read_text()
    assert "plotly" in html and "t1" in html
    assert (tmp_path / "out" / "alarms.csv").exists()


def test_transformer_without_rating_and_wrong_orientation_exit_2(tmp_path):
    readings, assets = _write(
        tmp_path,
        '[[pv]]\nname = "pv1"\ncolumn = "pv_kw"\ntilt_deg = 90\nazimuth_deg = 0\n'
        'dc_kw = 3.2\n[[transformer]]\nname = "t1"\nload_column = "feeder_kva"\n'
        "ambient_c = 20\n",
    )
    result = runner.invoke(
        app,
        ["maintenance", "scan", str(readings), "--community", str(assets), "--out", str(tmp_path / "out")],
    )
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "transformer 't1': rated power (rating_kva) missing" in text
    assert "PV system 'pv1'" in text and "orientation or size looks wrong" in text
    assert "lost energy in alarms" not in text.lower() or "0.0 kWh" not in text


def test_missing_pv_column_names_it(tmp_path):
    readings, assets = _write(
        tmp_path,
        '[[pv]]\nname = "pv2"\ncolumn = "nope_kw"\ntilt_deg = 30\nazimuth_deg = 180\ndc_kw = 4\n',
        days=10,
    )
    result = runner.invoke(
        app,
        ["maintenance", "scan", str(readings), "--community", str(assets), "--out", str(tmp_path / "out")],
    )
    assert result.exit_code == 2
    assert "'nope_kw' missing" in " ".join(result.output.split())


def test_days_without_readings_are_bad_input_unless_allowed(tmp_path):
    readings, assets = _write(
        tmp_path,
        '[[pv]]\nname = "pv1"\ncolumn = "pv_kw"\ntilt_deg = 45\nazimuth_deg = 158\ndc_kw = 3.2\n',
    )
    frame = pd.read_csv(readings)
    frame.loc[96 * 70 : 96 * 72, "pv_kw"] = np.nan  # the logger was silent for two days
    frame.to_csv(readings, index=False)
    args = ["maintenance", "scan", str(readings), "--community", str(assets), "--out", str(tmp_path / "out")]
    strict = runner.invoke(app, args)
    assert strict.exit_code == 2
    text = " ".join(strict.output.split())
    assert "PV system 'pv1': readings missing on" in text and "not computed" in text
    assert runner.invoke(app, [*args, "--allow-gaps"]).exit_code == 0


def test_rows_missing_with_their_weather_say_so(tmp_path):
    readings, assets = _write(
        tmp_path,
        '[[pv]]\nname = "pv1"\ncolumn = "pv_kw"\ntilt_deg = 45\nazimuth_deg = 158\ndc_kw = 3.2\n',
        days=90,
    )
    frame = pd.read_csv(readings)
    frame.drop(frame.index[96 * 70 : 96 * 72]).to_csv(readings, index=False)
    args = ["maintenance", "scan", str(readings), "--community", str(assets), "--out", str(tmp_path / "out")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "weather: ghi/temp_air missing" in " ".join(result.output.split())


def test_azimuth_off_by_45_degrees_is_bad_input(tmp_path):
    readings, assets = _write(
        tmp_path,
        '[[pv]]\nname = "pv1"\ncolumn = "pv_kw"\ntilt_deg = 45\nazimuth_deg = 203\ndc_kw = 3.2\n',
    )
    args = ["maintenance", "scan", str(readings), "--community", str(assets), "--out", str(tmp_path / "out")]
    result = runner.invoke(app, [*args, "--allow-gaps"])
    assert result.exit_code == 2
    assert "declared azimuth looks wrong" in " ".join(result.output.split())
    assert pd.read_csv(tmp_path / "out" / "alarms.csv").empty


def test_ev_what_if_shows_planned_charging_ages_less(tmp_path):
    index = pd.date_range("2025-01-06", periods=96 * 7, freq="15min", tz="UTC")
    hours = index.hour + index.minute / 60
    pd.DataFrame({"timestamp": index, "feeder_kva": 230 + 140 * np.exp(-((hours - 18.5) ** 2) / 3.0)}).to_csv(
        tmp_path / "load.csv", index=False
    )
    days = pd.date_range("2025-01-06", periods=6, freq="D", tz="UTC")
    pd.DataFrame(
        {
            "arrival": np.repeat(days + pd.Timedelta(hours=17.5), 15),
            "departure": np.repeat(days + pd.Timedelta(hours=31), 15),
            "energy_kwh": 25.0,
            "power_kw": 11.0,
        }
    ).to_csv(tmp_path / "sessions.csv", index=False)
    args = [
        "maintenance",
        "ev-what-if",
        str(tmp_path / "load.csv"),
        "--sessions",
        str(tmp_path / "sessions.csv"),
    ]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "--rating-kva missing" in refused.output
    result = runner.invoke(app, [*args, "--rating-kva", "400"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") >= 5}
    on_arrival = float(rows["EVs on arrival"].split("│")[4].replace(",", ""))
    planned = float(rows["EVs as planned"].split("│")[4].replace(",", ""))
    assert planned < on_arrival
