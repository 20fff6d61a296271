"""`wattmesh meter check|repair`: exit codes, one-line errors, nothing written on bad input."""

from __future__ import annotations

import gzip
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from wattmesh.community.measured import citylearn_series


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    code = "import sys; from wattmesh.cli import main; main(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, "meter", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def pv_csv(tmp_path_factory):
    """Sixty days of two CityLearn PV meters, wide, UTC ISO 8601."""
    _, pv = citylearn_series()
    frame = pv[["Building_1", "Building_3"]].iloc[: 24 * 60]
    folder = tmp_path_factory.mktemp("meter")
    out = frame.reset_index()
    out["time"] = out["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    clean = folder / "clean.csv"
    out.to_csv(clean, index=False)
    faulty = out.copy()
    faulty.loc[500, "Building_1"] = -faulty.loc[500, "Building_1"] - 1.0  # negative
    faulty.loc[900:912, "Building_3"] = faulty.loc[899, "Building_3"]  # stuck
    bad = folder / "faulty.csv"
    faulty.to_csv(bad, index=False)
    return clean, bad


def test_check_exits_0_on_clean_readings_and_1_on_faults(pv_csv, tmp_path):
    clean, faulty = pv_csv
    ok = run("check", str(clean), "--interval", "1h", "--kind", "generation")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "no faults found" in ok.stdout
    bad = run("check", str(faulty), "--kind", "generation", "--report", str(tmp_path / "dq.html"))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "negative" in bad.stdout and "stuck" in bad.stdout
    page = (tmp_path / "dq.html").read_text()
    assert "plotly" in page.lower() and "Building_3" in page
    events = pd.read_csv(tmp_path / "dq.csv")
    assert {"negative", "stuck"} <= set(events["reason"])


def test_repair_writes_every_estimate_flagged_and_the_raw_values(pv_csv, tmp_path):
    _, faulty = pv_csv
    out = tmp_path / "clean.parquet"
    result = run(
        "repair",
        str(faulty),
        "--kind",
        "generation",
        "--out",
        str(out),
        "--report",
        str(tmp_path / "dq.html"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    table = pd.read_parquet(out)
    raw = pd.read_csv(faulty)
    assert len(table) == 2 * len(raw)
    b3 = table[table["meter_id"] == "Building_3"].reset_index(drop=True)
    assert (b3.loc[901:912, "estimate"] != "").all()
    np.testing.assert_allclose(b3["value_raw"], raw["Building_3"])
    changed = ~np.isclose(table["value"], table["value_raw"], equal_nan=True)
    assert (table.loc[changed, "estimate"] != "").all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.parquet", "dq.csv", "dq.html"]


BAD_INPUTS = {
    "wrong_columns.csv": (b"when,amount\n1,2\n", "no timestamp column"),
    "no_meters.csv": (b"timestamp\n2024-01-01T00:00Z\n", "only a timestamp column"),
    "no_timestamps.csv": (b"timestamp,m\nyesterday,1\ntoday,2\n", "is not a time"),
    "text_values.csv": (
        b"timestamp,m\n2024-01-01T00:00Z,1\n2024-01-01T00:15Z,lots\n",
        "value 'lots' is not a number",
    ),
    "empty.csv": (b"", "the file is empty"),
    "header_only.csv": (b"timestamp,meter_id,value\n", "no rows"),
    "naive.csv": (b"timestamp,m\n2024-01-01 00:00,1\n2024-01-01 00:15,2\n", "have no UTC offset"),
    "latin1.csv": ("timestamp,m\u00e9ter\n".encode("latin-1") + b"2024-01-01T00:00Z,1\n" * 3, "not UTF-8"),
}


@pytest.mark.parametrize(
    "name", sorted(BAD_INPUTS) + ["compressed.csv.gz", "binary.bin", "garbage_text.csv", "garbage_rows.csv"]
)
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(tmp_path, name):
    path = tmp_path / name
    rng = np.random.default_rng(7)
    if name in BAD_INPUTS:
        path.write_bytes(BAD_INPUTS[name][0])
        expected = BAD_INPUTS[name][1]
    elif name == "compressed.csv.gz":
        path.write_bytes(gzip.compress(b"timestamp,m\n2024-01-01T00:00Z,1\n"))
        expected = "gzip-compressed"
    elif name == "binary.bin":
        path.write_bytes(rng.integers(0, 256, 4_000_000, dtype=np.uint8).tobytes())
        expected = "binary data"
    elif name == "garbage_text.csv":
        letters = np.frombuffer(b"abcdefghij ,;\n", dtype=np.uint8)
        path.write_bytes(rng.choice(letters, 4_000_000).tobytes())
        expected = "wattmesh meter:"
    else:  # a good header and first row, then megabytes of garbage: reading stops in the first chunk
        body = "\n".join(f"x{k},{k}" for k in range(400_000))
        path.write_text("timestamp,m\n2024-01-01T00:00Z,1\n" + body)
        expected = "row 3: timestamp 'x0'"
    out, report = tmp_path / "out.parquet", tmp_path / "dq.html"
    # repair reads like check and writes both outputs: one run per input keeps the test short
    for command in (["repair", str(path), "--out", str(out), "--report", str(report)],):
        result = run(*command)
        assert result.returncode == 2, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert expected in lines[0]
        assert "Traceback" not in result.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_bad_options_exit_2(pv_csv, tmp_path):
    clean, _ = pv_csv
    for args, expected in (
        (["--interval", "soon"], "--interval 'soon' is not a duration"),
        (["--unit", "MWh"], "--unit 'MWh' is not one of"),
        (["--kind", "solar"], "--kind 'solar' is not one of"),
        (["--tz", "Mars/Olympus"], "--tz 'Mars/Olympus' is not a known time zone"),
    ):
        result = run("check", str(clean), *args)
        assert result.returncode == 2 and expected in result.stderr, result.stderr
    result = run("repair", str(clean), "--out", str(tmp_path / "missing" / "x.parquet"))
    assert result.returncode == 2 and "no such folder" in result.stderr
