"""A co-op's own community (``feeder.source = "files"``): the example folder end to end through the command
line, checked against the CSV files themselves, and bad files refused with one line naming file, field and
value."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from wattmesh.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own-community"
runner = CliRunner()
# The two flaws make_example.py put into readings.csv (a missing value and a 100x spike).
FLAWS = (("home_04", "2016-06-03T11:15:00Z"), ("home_07", "2016-06-05T19:30:00Z"))


def readings_by_hand() -> pd.DataFrame:
    """readings.csv as a (time x meter) table, each flawed value replaced by the mean of its two neighbours
    (what linear interpolation of a one-value gap gives), read with the csv module's plain parsing."""
    raw = pd.read_csv(EXAMPLE / "readings.csv", keep_default_na=False, dtype=str)
    wide = raw.pivot(index="timestamp", columns="meter_id", values="value")
    for meter, time in FLAWS:
        wide.loc[time, meter] = "nan"
    wide = wide.astype(float)
    for meter, time in FLAWS:
        row = wide.index.get_loc(time)
        wide.loc[time, meter] = (wide[meter].iloc[row - 1] + wide[meter].iloc[row + 1]) / 2
    return wide


@pytest.mark.slow
def test_example_simulates_through_the_cli_and_its_outputs_match_the_csv_files(tmp_path):
    """One run (the checks share it: under xdist a module fixture would run once per worker)."""
    out = tmp_path / "out"
    args = ["simulate", str(EXAMPLE / "scenario.toml"), "--out", str(out), "--keys", str(tmp_path / "keys")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    check_every_member_is_in_members_csv_with_its_kind_and_assets(out)
    check_metered_energy_equals_the_csv_sums(out)
    # The two flaws of readings.csv are reported ...
    assert "2 reading(s) flagged by the quality checks" in result.output
    check_power_flow_on_the_network(out)


def check_every_member_is_in_members_csv_with_its_kind_and_assets(out: Path) -> None:
    given = pd.read_csv(EXAMPLE / "members.csv", comment="#").fillna(0).set_index("member_id")
    written = pd.read_csv(out / "members.csv").set_index("member_id")
    assert set(given.index) <= set(written.index)
    assert (written.loc[given.index, "kind"] == given["kind"]).all()
    for column in ("pv_kwp", "battery_kwh", "battery_kw", "ev_charger_kw", "wind_kw"):
        assert np.allclose(written.loc[given.index, column], given[column]), column


def check_metered_energy_equals_the_csv_sums(out: Path) -> None:
    wide = readings_by_hand()
    homes = [m for m in wide.columns if ":" not in m]
    intervals = pd.read_parquet(out / "intervals.parquet")
    assert len(intervals) == len(wide) == 7 * 96
    # The community's load without EV charging is the sum of its consumption meters, interval by interval.
    inflexible = (intervals["consumption_kwh"] - intervals["ev_charging_kwh"]).to_numpy()
    assert np.allclose(inflexible, wide[homes].sum(axis=1).to_numpy(), atol=2e-3)
    # Members without an EV: their consumption is their meter's sum; metered PV is its meter's sum.
    members = pd.read_csv(out / "members.csv").set_index("member_id")
    no_ev = [m for m in homes if members.loc[m, "ev_charger_kw"] == 0]
    assert np.allclose(members.loc[no_ev, "consumption_kwh"], wide[no_ev].sum(), atol=2e-3)
    for member in ("home_01", "bakery"):
        assert members.loc[member, "generation_kwh"] == pytest.approx(
            wide[f"{member}:generation"].sum(), abs=2e-3
        )
    # ... and repaired: the spike's 100x value would add about 99 times its true value.
    assert members.loc["home_07", "consumption_kwh"] < wide["home_07"].sum() + 1e-2


def check_power_flow_on_the_network(out: Path) -> None:
    """The network file's 250 kVA transformer: where real power dominates (above 10 kW), its loading is
    the power through it over its rating, within 3 % (reactive power and losses)."""
    intervals = pd.read_parquet(out / "intervals.parquet")
    flow_kw = intervals["transformer_kw"].abs()
    busy = flow_kw > 10
    assert busy.sum() > 20
    expected_percent = flow_kw[busy] / 250.0 * 100.0
    assert np.allclose(intervals["transformer_loading_percent"][busy], expected_percent, rtol=0.03)


@pytest.fixture()
def copy_of_example(tmp_path):
    for name in ("members.csv", "readings.csv", "network.json", "scenario.toml"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    return tmp_path


def edit(path: Path, old: str, new: str, line: int | None = None) -> None:
    lines = path.read_text().splitlines(keepends=True)
    rows = range(len(lines)) if line is None else [line - 1]
    for i in rows:
        if old in lines[i]:
            lines[i] = lines[i].replace(old, new, 1)
            break
    path.write_text("".join(lines))


def refusal(folder: Path) -> list[str]:
    result = runner.invoke(app, ["simulate", str(folder / "scenario.toml"), "--out", str(folder / "out")])
    assert result.exit_code == 2, result.output
    assert not (folder / "out").exists()
    return [line for line in result.output.splitlines() if line.startswith("  ")]


def test_unknown_member_kind_is_refused_naming_file_line_column_and_value(copy_of_example):
    edit(copy_of_example / "members.csv", "home_02,household", "home_02,houshold")
    (line,) = refusal(copy_of_example)
    assert "members.csv" in line and "line 5" in line and "column kind" in line and "'houshold'" in line


def test_na_in_the_members_file_is_refused(copy_of_example):
    edit(copy_of_example / "members.csv", "home_06,household,4,8.0", "home_06,household,4,n/a")
    (line,) = refusal(copy_of_example)
    assert "members.csv" in line and "line 9" in line and "column pv_kwp" in line and "'n/a'" in line


def test_readings_file_without_meter_id_column_is_refused(copy_of_example):
    table = pd.read_csv(copy_of_example / "readings.csv", dtype=str)
    table.drop(columns="meter_id").to_csv(copy_of_example / "readings.csv", index=False)
    (line,) = refusal(copy_of_example)
    assert "readings.csv" in line and "'meter_id' is missing" in line


def test_a_reading_that_is_not_a_number_is_refused_with_its_row(copy_of_example):
    edit(copy_of_example / "readings.csv", ",0.", ",zero.", line=10)
    (line,) = refusal(copy_of_example)
    assert "readings.csv" in line and "row 10" in line and "'zero." in line


def test_a_member_without_its_meter_is_refused(copy_of_example):
    path = copy_of_example / "readings.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table[table["meter_id"] != "home_05"].to_csv(path, index=False)
    (line,) = refusal(copy_of_example)
    assert "readings.csv" in line and "'home_05'" in line


def test_a_bus_outside_the_network_is_refused(copy_of_example):
    edit(copy_of_example / "members.csv", "home_07,household,5", "home_07,household,17")
    (line,) = refusal(copy_of_example)
    assert "members.csv: line 10, column bus" in line and "'home_07'" in line
    assert "17 is not a bus of network.json" in line


def test_without_a_network_the_simulation_runs_without_the_power_flow(copy_of_example):
    edit(copy_of_example / "scenario.toml", 'network_file = "network.json"', 'network_file = ""')
    edit(copy_of_example / "scenario.toml", 'dispatch = "planner"', 'dispatch = "rule"')
    edit(copy_of_example / "scenario.toml", "tournament = true", "tournament = false")
    edit(copy_of_example / "scenario.toml", 'backend = "local"', 'backend = "none"')
    out = copy_of_example / "out"
    result = runner.invoke(
        app,
        [
            "simulate",
            str(copy_of_example / "scenario.toml"),
            "--out",
            str(out),
            "--end",
            "2016-06-02T00:00:00Z",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no power flow" in result.output
    intervals = pd.read_parquet(out / "intervals.parquet")
    assert len(intervals) == 96 and "transformer_loading_percent" not in intervals


def test_modelled_horizontal_pv_at_performance_ratio_one_yields_the_reference_years_global_irradiance():
    """Over the reference year, a flat module's energy per kWp at PR 1 equals the year's horizontal global
    irradiation (direct + diffuse, read straight from demandlib's TRY file) within 2 %."""
    import demandlib

    from wattmesh.community.weather import pv_output_kw

    path = Path(demandlib.__file__).parent / "vdi" / "resources_weather" / "TRY2010_04_Jahr.dat"
    rows = [
        line.split() for line in path.read_text(encoding="latin-1").splitlines() if line.startswith(" 4 ")
    ]
    ghi_kwh_m2 = sum(float(r[13]) + float(r[14]) for r in rows) / 1000.0
    index = pd.date_range("2010-01-01", "2011-01-01", freq="15min", tz="UTC", inclusive="left")
    kw = pv_output_kw(index, [1.0], [0.0], [180.0], 52.38, 13.06, "dwd_try", performance_ratio=1.0)
    assert kw.sum() * 0.25 == pytest.approx(ghi_kwh_m2, rel=0.02)
    assert 900 < ghi_kwh_m2 < 1200  # Potsdam: about 1,000 kWh/m2 a year (DWD)


def test_init_writes_templates_whose_scenario_validates_and_simulates(tmp_path):
    folder = tmp_path / "my-coop"
    result = runner.invoke(app, ["community", "init", str(folder), "--template", "files"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in folder.iterdir()} == {"members.csv", "readings.csv", "scenario.toml"}
    header = (folder / "readings.csv").read_text().splitlines()[0]
    assert header == "timestamp,meter_id,kind,value"
    assert runner.invoke(app, ["scenario", "validate", str(folder / "scenario.toml")]).exit_code == 0
    out = tmp_path / "out"
    args = ["simulate", str(folder / "scenario.toml"), "--out", str(out), "--keys", str(tmp_path / "keys")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    members = pd.read_csv(out / "members.csv")
    assert set(members["member_id"]) == {"home_01", "home_02", "coop_battery"}
    again = runner.invoke(app, ["community", "init", str(folder), "--template", "files"])
    assert again.exit_code == 2 and "exists already" in again.output


def test_docs_carry_the_members_file_declaration():
    from wattmesh.community.files import MEMBER_FILE

    docs = (Path(__file__).resolve().parents[2] / "docs" / "own-community.md").read_text()
    assert MEMBER_FILE.markdown() in docs, "docs/own-community.md: paste MEMBER_FILE.markdown() again"


def test_clear_sky_pv_is_the_clear_sky_irradiance_on_a_flat_module_and_bounds_the_reference_year():
    import pvlib

    from wattmesh.community.weather import pv_output_kw

    index = pd.date_range("2016-06-01", periods=7 * 96, freq="15min", tz="UTC")
    mid = index + pd.Timedelta("7.5min")
    ghi = pvlib.location.Location(52.5, 13.4).get_clearsky(mid)["ghi"].to_numpy()
    flat = pv_output_kw(index, [1.0], [0.0], [180.0], 52.5, 13.4, "clear_sky", performance_ratio=1.0)[:, 0]
    assert np.allclose(flat, ghi / 1000.0, atol=1e-6)
    # A south-facing 5 kWp system: the clear sky is an upper bound on the week's cloudy reference year.
    clear = pv_output_kw(index, [5.0], [30.0], [180.0], 52.5, 13.4, "clear_sky").sum() * 0.25
    cloudy = pv_output_kw(index, [5.0], [30.0], [180.0], 52.5, 13.4, "dwd_try").sum() * 0.25
    assert 0.3 * clear < cloudy < clear
