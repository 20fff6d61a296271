"""CityLearn data sets in the forecasting part: the site comes from the data set, missing inputs are named."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from wattmesh.community.citylearn import PACKAGE_FOLDER, CityLearnDataError
from wattmesh.forecast import evaluate
from wattmesh.forecast.datasets import citylearn_weather_forecast
from wattmesh.forecast.features import FONTANA, Site


def test_weather_without_the_forecast_column_of_the_horizon_is_named():
    index = pd.date_range("2020-01-01", periods=48, freq="h", tz="UTC")
    weather = pd.DataFrame({"outdoor_dry_bulb_temperature": 1.0}, index=index)
    with pytest.raises(ValueError, match="'outdoor_dry_bulb_temperature_predicted_3' missing.*24 h ahead"):
        citylearn_weather_forecast(weather, "24h")


def test_community_mape_forecaster_forecasts_for_the_site_it_is_given():
    berlin = Site(52.52, 13.40, "Europe/Berlin", 34.0)
    assert evaluate.community_mape_forecaster("24h", site=berlin).site == berlin


def test_the_site_is_the_data_sets_own_or_the_one_given(tmp_path):
    # The 2022 copy: Fontana, as the forecasting part has always used.
    assert evaluate._citylearn(None).site == FONTANA
    # A copy whose schema differs from the 2022 one states nothing: its site and calendar must be given.
    folder = shutil.copytree(PACKAGE_FOLDER, tmp_path / "copy")
    schema = json.loads((folder / "schema.json").read_text())
    schema["buildings"].pop("Building_17")
    (folder / "schema.json").write_text(json.dumps(schema))
    with pytest.raises(CityLearnDataError, match="tz: not given"):
        evaluate._citylearn(folder)
    with pytest.raises(CityLearnDataError, match="start_date: not given.*2016-07-31"):
        evaluate._citylearn(folder, site=FONTANA)
    schema["start_date"] = "2016-07-31"
    schema["site"] = {"tz": "Etc/GMT+8"}
    (folder / "schema.json").write_text(json.dumps(schema))
    with pytest.raises(CityLearnDataError, match="site: latitude and longitude not given"):
        evaluate._citylearn(folder)
    elsewhere = Site(33.0, -117.0, "Etc/GMT+8", 10.0)
    data = evaluate._citylearn(folder, site=elsewhere)
    assert data.site == elsewhere and data.load_kwh.shape == (8760, 16)
