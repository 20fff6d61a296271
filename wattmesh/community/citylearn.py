"""Reader for the CityLearn Challenge 2022 data set: 17 measured homes in Fontana, California, hourly.

The files give no year; the calendar is fixed by the day types: the first row is the last hour of a
Sunday, 31 July, and 1 August is a Monday, which makes the year 2016 (365 days, August 2016 to July 2017).
Hour ``h`` (1-24) of a file is the hour starting at ``h - 1``, read as Pacific Standard Time (UTC-8) all
year, and the index is converted to UTC.

The package ships the columns the reader uses as Parquet in ``wattmesh/data/citylearn_2022``
(:data:`PACKAGE_FOLDER`, written from the published CSV files by :func:`write_citylearn_parquet`, same
values, float64); :func:`load_citylearn_2022` reads either that folder or the published CSV folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

FIRST_HOUR_PST = pd.Timestamp("2016-07-31 23:00", tz="Etc/GMT+8")
#: The copy shipped in the package (MIT licence and source in its README and LICENSE).
PACKAGE_FOLDER = Path(__file__).resolve().parents[1] / "data" / "citylearn_2022"
CALENDAR = ["month", "hour", "day_type", "daylight_savings_status"]
#: The Parquet files of the package's copy: one per table the reader uses.
PARQUET_FILES = (
    "non_shiftable_load.parquet",
    "solar_generation.parquet",
    "calendar.parquet",
    "weather.parquet",
    "pricing.parquet",
    "carbon_intensity.parquet",
)


@dataclass(frozen=True)
class CityLearnData:
    """The CityLearn 2022 homes, as frames indexed by hour start (UTC) with one column per home.

    Attributes
    ----------
    load_kwh : measured non-shiftable load per hour [kWh]
    pv_kwh : PV output per hour, the per-kW profile scaled by each home's PV size [kWh]
    pv_kw : PV nominal power per home [kW]
    batteries : one row per home: capacity_kwh, power_kw, efficiency
    weather : outdoor temperature [C], humidity [%], diffuse and direct irradiance [W/m2], with the
        data set's 6/12/24 h ahead forecasts (columns ``*_predicted_1/2/3``)
    price_per_kwh : time-of-use import price [USD/kWh]
    carbon_kg_per_kwh : grid carbon intensity [kg CO2/kWh]
    calendar : month, hour (1-24), day_type (1-7, 8 = holiday), daylight_savings_status
    """

    load_kwh: pd.DataFrame
    pv_kwh: pd.DataFrame
    pv_kw: pd.Series
    batteries: pd.DataFrame
    weather: pd.DataFrame
    price_per_kwh: pd.Series
    carbon_kg_per_kwh: pd.Series
    calendar: pd.DataFrame


def _read_csv_folder(folder: Path, names: list[str], homes: dict) -> dict[str, pd.DataFrame]:
    """The tables of the published CSV folder: per-home columns, calendar, weather, pricing, carbon."""
    frames = {name: pd.read_csv(folder / homes[name]["energy_simulation"]) for name in names}
    first = frames[names[0]]
    return {
        "non_shiftable_load": pd.DataFrame({n: frames[n]["non_shiftable_load"].to_numpy() for n in names}),
        "solar_generation": pd.DataFrame({n: frames[n]["solar_generation"].to_numpy() for n in names}),
        "calendar": first[CALENDAR].reset_index(drop=True),
        "weather": pd.read_csv(folder / "weather.csv"),
        "pricing": pd.read_csv(folder / "pricing.csv"),
        "carbon_intensity": pd.read_csv(folder / "carbon_intensity.csv"),
    }


def write_citylearn_parquet(csv_folder: str | Path, out: str | Path) -> list[Path]:
    """Convert the published CSV folder into the Parquet folder the package ships (zstd, values unchanged).

    Writes the files of :data:`PARQUET_FILES` and copies ``schema.json``; returns the paths written.
    """
    csv_folder, out = Path(csv_folder), Path(out)
    schema = json.loads((csv_folder / "schema.json").read_text())
    homes = {name: spec for name, spec in schema["buildings"].items() if spec.get("include", True)}
    names = sorted(homes, key=lambda n: int(n.split("_")[-1]))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for table, frame in _read_csv_folder(csv_folder, names, homes).items():
        path = out / f"{table}.parquet"
        frame.to_parquet(path, compression="zstd", compression_level=19, index=False)
        written.append(path)
    (out / "schema.json").write_text((csv_folder / "schema.json").read_text())
    return written + [out / "schema.json"]


def load_citylearn_2022(folder: str | Path | None = None) -> CityLearnData:
    """Read the CityLearn 2022 homes: the package's Parquet copy (default, ``folder=None``), or a folder
    of the published CSV files (``Building_N.csv``, weather, pricing, carbon, schema.json).

    Raises
    ------
    FileNotFoundError
        naming the path that was looked for.
    """
    folder = PACKAGE_FOLDER if folder is None else Path(folder)
    schema_path = folder / "schema.json"
    if not schema_path.is_file():
        raise FileNotFoundError(f"CityLearn 2022 data not found: no {schema_path}")
    schema = json.loads(schema_path.read_text())
    homes = {name: spec for name, spec in schema["buildings"].items() if spec.get("include", True)}
    names = sorted(homes, key=lambda n: int(n.split("_")[-1]))
    if (folder / PARQUET_FILES[0]).is_file():
        tables = {Path(f).stem: pd.read_parquet(folder / f) for f in PARQUET_FILES}
    else:
        tables = _read_csv_folder(folder, names, homes)
    index = pd.date_range(FIRST_HOUR_PST, periods=len(tables["calendar"]), freq="h").tz_convert("UTC")
    index.name = "time"

    pv_kw = pd.Series({name: float(homes[name]["pv"]["attributes"]["nominal_power"]) for name in names})
    load = pd.DataFrame({name: tables["non_shiftable_load"][name].to_numpy() for name in names}, index=index)
    pv = pd.DataFrame(
        {name: tables["solar_generation"][name].to_numpy() * pv_kw[name] / 1000.0 for name in names},
        index=index,
    )
    batteries = pd.DataFrame(
        {
            "capacity_kwh": [homes[n]["electrical_storage"]["attributes"]["capacity"] for n in names],
            "power_kw": [homes[n]["electrical_storage"]["attributes"]["nominal_power"] for n in names],
            "efficiency": [homes[n]["electrical_storage"]["attributes"]["efficiency"] for n in names],
        },
        index=pd.Index(names, name="home"),
    )
    weather = tables["weather"].set_index(index)
    pricing = tables["pricing"].set_index(index)
    carbon = tables["carbon_intensity"].set_index(index)
    calendar = tables["calendar"].set_index(index)
    return CityLearnData(
        load_kwh=load,
        pv_kwh=pv,
        pv_kw=pv_kw,
        batteries=batteries,
        weather=weather,
        price_per_kwh=pricing["electricity_pricing"].rename("price_per_kwh"),
        carbon_kg_per_kwh=carbon["carbon_intensity"].rename("carbon_kg_per_kwh"),
        calendar=calendar,
    )
