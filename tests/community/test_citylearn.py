"""The CityLearn reader: the 2022 data set as before, another data set of the format, one-line errors."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal
from typer.testing import CliRunner

from wattmesh.community.citylearn import (
    PACKAGE_FOLDER,
    CityLearnDataError,
    load_citylearn,
    load_citylearn_2022,
)

SCHEMA_2022 = json.loads((PACKAGE_FOLDER / "schema.json").read_text())
TABLES = {name: pd.read_parquet(PACKAGE_FOLDER / f"{name}.parquet") for name in (
    "non_shiftable_load", "solar_generation", "calendar", "weather", "pricing", "carbon_intensity"
)}  # fmt: skip
#: The second data set: three homes, 100 days from 1 March 2019 (a Friday) in Berlin's clock time, which
#: crosses the switch to summer time on 31 March.
START, TZ, DAYS = dt.date(2019, 3, 1), "Europe/Berlin", 100
NAMES = ["home-z", "home-a", "home-m"]
SOURCE_HOMES = ["Building_5", "Building_2", "Building_9"]


def _write_csv_2022(folder: Path) -> Path:
    """The package's 2022 tables written back in CityLearn's published layout (one CSV per building)."""
    folder.mkdir()
    for name in SCHEMA_2022["buildings"]:
        frame = TABLES["calendar"].assign(
            non_shiftable_load=TABLES["non_shiftable_load"][name],
            solar_generation=TABLES["solar_generation"][name],
        )
        frame.to_csv(folder / f"{name}.csv", index=False)
    for table in ("weather", "pricing", "carbon_intensity"):
        TABLES[table].to_csv(folder / f"{table}.csv", index=False)
    (folder / "schema.json").write_text(json.dumps(SCHEMA_2022))
    return folder


@pytest.fixture(scope="module")
def csv_2022(tmp_path_factory) -> Path:
    return _write_csv_2022(tmp_path_factory.mktemp("cl") / "published_2022")


def _local_calendar(start: dt.date, tz: str, hours: int) -> tuple[list[dt.datetime], pd.DataFrame]:
    """UTC hour starts from local midnight of ``start`` and their CityLearn columns, with the standard
    library's calendar (independent of pandas and of the reader)."""
    zone = zoneinfo.ZoneInfo(tz)
    first = dt.datetime(start.year, start.month, start.day, tzinfo=zone).astimezone(dt.UTC)
    utc = [first + dt.timedelta(hours=h) for h in range(hours)]
    local = [t.astimezone(zone) for t in utc]
    columns = pd.DataFrame(
        {
            "month": [t.month for t in local],
            "hour": [t.hour + 1 for t in local],
            "day_type": [t.isoweekday() for t in local],
            "daylight_savings_status": [int(bool(t.dst())) for t in local],
        }
    )
    return utc, columns


def _second_schema() -> dict:
    buildings = {
        "home-z": {  # stated PV and battery
            "include": True,
            "energy_simulation": "home-z.csv",
            "weather": "weather.csv",
            "pv": {
                "type": "citylearn.energy_model.PV",
                "autosize": False,
                "attributes": {"nominal_power": 3.5},
            },
            "electrical_storage": {
                "type": "citylearn.energy_model.Battery",
                "autosize": False,
                "attributes": {"capacity": 10.0, "nominal_power": 4.0, "efficiency": 0.95},
            },
        },
        "home-a": {  # autosized PV (half the load) and battery
            "energy_simulation": "home-a.csv",
            "weather": "weather.csv",
            "pv": {"autosize": True, "autosize_attributes": {"zero_net_energy_proportion": 0.5}},
            "electrical_storage": {"autosize": True, "attributes": {"efficiency": 0.92}},
        },
        "home-m": {"energy_simulation": "home-m.csv", "weather": "weather.csv"},  # neither
        "home-out": {"include": False, "energy_simulation": "absent.csv", "weather": "weather.csv"},
    }
    site = {"latitude": 52.52, "longitude": 13.40, "tz": TZ, "altitude": 34.0}
    return {
        "start_date": START.isoformat(),
        "seconds_per_time_step": 3600,
        "site": site,
        "buildings": buildings,
    }


def _write_second(folder: Path) -> Path:
    """A CityLearn data set of other homes: names, year, weekdays, time zone, autosized PV, no pricing."""
    folder.mkdir()
    utc, columns = _local_calendar(START, TZ, 24 * DAYS)
    n = len(utc)
    for name, source in zip(NAMES, SOURCE_HOMES, strict=True):
        columns.assign(
            indoor_dry_bulb_temperature=np.nan,
            non_shiftable_load=TABLES["non_shiftable_load"][source].to_numpy()[:n],
            solar_generation=TABLES["solar_generation"][source].to_numpy()[:n],
        ).to_csv(folder / f"{name}.csv", index=False)
    TABLES["weather"].iloc[:n].to_csv(folder / "weather.csv", index=False)
    (folder / "schema.json").write_text(json.dumps(_second_schema(), indent=1))
    return folder


@pytest.fixture
def second(tmp_path) -> Path:
    return _write_second(tmp_path / "second")


# ------------------------------------------------------------------------------------------ 2022 as before
def test_2022_loader_gives_the_frames_of_the_published_files_on_the_2016_calendar(csv_2022):
    # The reference, by hand from the raw tables: the first row is 31 July 2016 23:00 PST = 1 Aug 07:00 UTC.
    index = pd.date_range("2016-08-01 07:00", periods=8760, freq="h", tz="UTC", name="time")
    homes = list(SCHEMA_2022["buildings"])
    kw = pd.Series(
        {h: float(SCHEMA_2022["buildings"][h]["pv"]["attributes"]["nominal_power"]) for h in homes}
    )
    storage = [SCHEMA_2022["buildings"][h]["electrical_storage"]["attributes"] for h in homes]
    expected_load = TABLES["non_shiftable_load"][homes].set_axis(index)
    expected_pv = (TABLES["solar_generation"][homes] * kw / 1000.0).set_axis(index)
    expected_batteries = pd.DataFrame(
        {
            "capacity_kwh": [float(s["capacity"]) for s in storage],
            "power_kw": [float(s["nominal_power"]) for s in storage],
            "efficiency": [float(s["efficiency"]) for s in storage],
        },
        index=pd.Index(homes, name="home"),
    )
    for data in (
        load_citylearn_2022(),
        load_citylearn_2022(csv_2022),
        load_citylearn(csv_2022 / "schema.json"),
    ):
        assert_frame_equal(data.load_kwh, expected_load, check_exact=True, check_freq=False)
        assert_frame_equal(data.pv_kwh, expected_pv, check_exact=True, check_freq=False)
        assert_series_equal(data.pv_kw, kw, check_exact=True)
        assert_frame_equal(data.batteries, expected_batteries, check_exact=True)
        assert_frame_equal(
            data.weather, TABLES["weather"].set_axis(index), check_exact=True, check_freq=False
        )
        assert_series_equal(
            data.price_per_kwh,
            TABLES["pricing"]["electricity_pricing"].set_axis(index).rename("price_per_kwh"),
            check_exact=True,
            check_freq=False,
        )
        assert_series_equal(
            data.carbon_kg_per_kwh,
            TABLES["carbon_intensity"]["carbon_intensity"].set_axis(index).rename("carbon_kg_per_kwh"),
            check_exact=True,
            check_freq=False,
        )
        assert not data.autosized.to_numpy().any()
        assert (data.tz, data.start_date, data.latitude) == ("Etc/GMT+8", dt.date(2016, 7, 31), 34.09)
    # 1 August 2016 was a Monday: CityLearn's day_type 1.
    assert TABLES["calendar"]["day_type"].iloc[1] == 1 and dt.date(2016, 8, 1).isoweekday() == 1


def test_a_copy_of_the_2022_schema_without_its_calendar_values_is_refused_with_the_fitting_dates(csv_2022):
    with pytest.raises(CityLearnDataError, match="2016-07-31") as error:
        load_citylearn(csv_2022, start_date="2017-07-31")
    assert "row 0" in str(error.value) and "day_type 7" in str(error.value)


# ------------------------------------------------------------------------------------- another data set
def test_another_data_set_keeps_its_names_calendar_and_capacities(second):
    data = load_citylearn(second)
    assert list(data.load_kwh.columns) == NAMES and list(data.batteries.index) == NAMES
    # Calendar: pandas' own calendar of local midnight 1 March 2019 in Berlin, hour by hour.
    expected = pd.date_range(pd.Timestamp(START).tz_localize(TZ), periods=24 * DAYS, freq="h").tz_convert(
        "UTC"
    )
    assert (data.load_kwh.index == expected).all()
    local = data.load_kwh.index.tz_convert(TZ)
    assert (local.dayofweek + 1 == data.calendar["day_type"].to_numpy()).all()
    assert (local.hour + 1 == data.calendar["hour"].to_numpy()).all()
    assert local[0].day_name() == "Friday" and data.start_date == START
    # 31 March 2019, 02:00 does not exist in Berlin: 01:00 CET is followed by 03:00 CEST, one hour later.
    switch = data.load_kwh.index.get_loc(pd.Timestamp("2019-03-31 01:00", tz="UTC"))
    assert [t.hour for t in local[switch - 1 : switch + 1]] == [1, 3]
    assert (data.latitude, data.longitude, data.altitude, data.tz) == (52.52, 13.40, 34.0, TZ)
    # Capacities: stated, autosized (half the load over the data), none.
    n = 24 * DAYS
    load_a = TABLES["non_shiftable_load"]["Building_2"].to_numpy()[:n]
    assert data.pv_kw["home-z"] == 3.5 and data.pv_kw["home-m"] == 0.0
    assert data.pv_kwh["home-a"].sum() == pytest.approx(0.5 * load_a.sum(), rel=1e-12)
    assert data.batteries.loc["home-z"].tolist() == [10.0, 4.0, 0.95]
    assert data.batteries.loc["home-m"].tolist() == [0.0, 0.0, 1.0]
    capacity, power, efficiency = data.batteries.loc["home-a"].tolist()
    assert efficiency == 0.92
    assert data.autosized.loc["home-a"].tolist() == [True, True]
    assert not data.autosized.loc[["home-z", "home-m"]].to_numpy().any()
    assert data.price_per_kwh is None and data.carbon_kg_per_kwh is None
    # The battery: mean of the local days' peak hours, and 2.5 hours of it. The local days differ from
    # 24-row blocks after the switch to summer time, so group by the standard library's local dates.
    utc, _ = _local_calendar(START, TZ, n)
    days = pd.Series(load_a).groupby([t.astimezone(zoneinfo.ZoneInfo(TZ)).date() for t in utc]).max()
    assert power == pytest.approx(days.mean(), rel=1e-12) and capacity == pytest.approx(2.5 * days.mean())


def _edit_schema(folder: Path, edit) -> None:
    schema = json.loads((folder / "schema.json").read_text())
    edit(schema)
    (folder / "schema.json").write_text(json.dumps(schema))


def _wrong_month(folder: Path) -> None:
    frame = pd.read_csv(folder / "home-z.csv")
    frame.loc[500, "month"] = 4  # 21 March 2019
    frame.to_csv(folder / "home-z.csv", index=False)
    for name in ("home-a.csv", "home-m.csv"):
        (folder / name).write_bytes((folder / "home-z.csv").read_bytes())


def _shift_hours(folder: Path) -> None:
    _edit_schema(folder, lambda s: s["site"].update(tz="Etc/GMT-1"))  # CET all year: off from 31 March


BROKEN = {
    "wrong month": (_wrong_month, "row 500 has month 4", "month 3"),
    "building file missing": (
        lambda f: (f / "home-a.csv").unlink(),
        "home-a.csv not found",
        "buildings.home-a",
    ),
    "pv field missing": (
        lambda f: _edit_schema(f, lambda s: s["buildings"]["home-z"]["pv"]["attributes"].clear()),
        "buildings.home-z.pv.attributes: field 'nominal_power' missing",
        "autosize false",
    ),
    "energy_simulation missing": (
        lambda f: _edit_schema(f, lambda s: s["buildings"]["home-m"].pop("energy_simulation")),
        "buildings.home-m: field 'energy_simulation' missing",
        "schema.json",
    ),
    "start date missing": (
        lambda f: _edit_schema(f, lambda s: s.pop("start_date")),
        "start_date: not given",
        " or 2019-03-01",
    ),
    "time zone off after the switch": (
        _shift_hours,
        "row 722 has hour 4",
        "in Etc/GMT-1 (schema.json's start_date) makes it 2019-03-31 02:00",
    ),
    "load column missing": (
        lambda f: pd.read_csv(f / "home-m.csv").drop(columns="non_shiftable_load").to_csv(f / "home-m.csv"),
        "home-m.csv: column 'non_shiftable_load' missing",
        "has",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_data_set_the_reader_cannot_read_gets_one_line_naming_it(second, case):
    from wattmesh.cli import app

    breaks, first, second_part = BROKEN[case]
    breaks(second)
    with pytest.raises(CityLearnDataError) as error:
        load_citylearn(second)
    message = str(error.value)
    assert first in message and second_part in message and "\n" not in message, message
    for args in (
        ["forecast", "backtest", "--data", str(second), "--members", "1"],
        ["energy", "citylearn", "--data", str(second / "schema.json"), "--price-per-kwh", "0.3"],
    ):
        result = CliRunner().invoke(app, args, terminal_width=400)
        assert result.exit_code == 2, result.output
        assert first in result.output.replace("\n", " ") and "Traceback" not in result.output


def test_the_forecast_cli_backtests_another_data_set_on_its_calendar(second, tmp_path):
    from wattmesh.cli import app

    result = CliRunner().invoke(
        app,
        ["forecast", "backtest", "--data", str(second), "--members", "1", "--trees", "20",
         "--retrain-every", "200D", "--plot", str(tmp_path / "plot.html")],
        terminal_width=200,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # The hold-out is the last third of 100 days from 1 March 2019.
    assert "hold-out 2019-05-" in result.output, result.output


def test_the_energy_cli_runs_on_another_data_set_given_a_flat_price(second):
    from wattmesh.cli import app

    no_price = CliRunner().invoke(app, ["energy", "citylearn", "--data", str(second), "--days", "2"])
    assert no_price.exit_code == 2 and "no pricing file" in no_price.output
    flat = CliRunner().invoke(
        app, ["energy", "citylearn", "--data", str(second), "--days", "2", "--price-per-kwh", "0.3"]
    )
    assert flat.exit_code == 0, flat.output
    assert "perfect-foresight" in flat.output


def test_a_missing_schema_and_a_partial_site_are_refused(tmp_path, second):
    from wattmesh.cli import app

    with pytest.raises(CityLearnDataError, match="schema: .* not found"):
        load_citylearn(tmp_path / "nowhere")
    with pytest.raises(CityLearnDataError, match="'Mars/Olympus' is not a time zone"):
        load_citylearn(second, tz="Mars/Olympus")
    result = CliRunner().invoke(app, ["forecast", "backtest", "--data", str(second), "--latitude", "50"])
    assert result.exit_code == 2 and "site: --tz, --longitude missing" in result.output
