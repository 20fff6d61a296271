"""Forecasters on slices of measured data: CityLearn homes, NREL system 50 PV, and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from wattmesh.community.citylearn import load_citylearn_2022
from wattmesh.forecast import baselines, metrics
from wattmesh.forecast.datasets import citylearn_weather_forecast, load_nrel_system50
from wattmesh.forecast.features import FONTANA
from wattmesh.forecast.gbm import GradientBoostingForecaster


def test_citylearn_weather_forecast_stands_at_its_target_hour(citylearn_folder):
    data = load_citylearn_2022(citylearn_folder)
    aligned = citylearn_weather_forecast(data.weather, "24h")
    raw = data.weather["outdoor_dry_bulb_temperature_predicted_3"]
    # the 24 h forecast issued at hour 100 is the value for hour 124
    assert aligned["outdoor_dry_bulb_temperature"].iloc[124] == raw.iloc[100]
    assert aligned.iloc[:24].isna().all().all()
    six = citylearn_weather_forecast(data.weather, "6h")
    assert (
        six["direct_solar_irradiance"].iloc[106]
        == data.weather["direct_solar_irradiance_predicted_1"].iloc[100]
    )


def test_community_day_ahead_load_beats_week_ago_naive_on_citylearn(citylearn_folder):
    data = load_citylearn_2022(citylearn_folder)
    community = data.load_kwh.iloc[:, :6].sum(axis=1).to_frame("community")
    cut = community.index[24 * 200]
    end = community.index[24 * 240]
    model = GradientBoostingForecaster(site=FONTANA, n_estimators=150, learning_rate=0.06)
    model.fit(community[community.index < cut])
    targets = community.index[(community.index >= cut) & (community.index < end)]
    forecast = model.predict(community[community.index < end - pd.Timedelta("24h")], targets)
    actual = community.loc[targets].to_numpy()
    naive = baselines.seasonal_naive(community, "24h", "7D").loc[targets].to_numpy()
    assert metrics.skill(metrics.rmse(actual, forecast.point.to_numpy()), metrics.rmse(actual, naive)) > 10.0
    coverage = metrics.interval_coverage(actual, forecast.quantiles[0.1], forecast.quantiles[0.9])
    assert 65.0 <= coverage <= 95.0


def test_nrel_system50_power_is_15_min_utc_kw():
    power, weather = load_nrel_system50()
    assert str(power.index.tz) == "UTC"
    assert (power.index[1] - power.index[0]) == pd.Timedelta("15min")
    assert 2.5 < np.nanmax(power) < 4.0  # kW: the inverter peaks near 3.4 kW
    assert {"ghi", "ghi_clear"} <= set(weather.columns)


def test_cli_backtest_prints_skill_table_and_writes_plot(citylearn_folder, tmp_path):
    from wattmesh.cli import app

    plot = tmp_path / "plot.html"
    result = CliRunner().invoke(
        app,
        [
            "forecast", "backtest", "--data", str(citylearn_folder), "--target", "load", "--members", "1",
            "--retrain-every", "200D", "--trees", "60", "--plot", str(plot),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "lightgbm" in result.output and "similar_days" in result.output
    assert plot.stat().st_size > 10_000


def test_cli_backtest_with_per_member_models_and_a_bad_pooling(citylearn_folder, tmp_path):
    from wattmesh.cli import app

    args = ["forecast", "backtest", "--data", str(citylearn_folder), "--target", "load", "--members", "2"]
    args += ["--retrain-every", "200D", "--trees", "40", "--plot", str(tmp_path / "plot.html")]
    result = CliRunner().invoke(app, [*args, "--pooling", "member"])
    assert result.exit_code == 0, result.output
    assert "per member" in result.output or "per-member" in result.output, result.output
    bad = CliRunner().invoke(app, [*args, "--pooling", "household"])
    assert bad.exit_code == 2 and "pooling: 'household'" in bad.output
