"""Ready-made backtests on the measured data sets: CityLearn homes, NREL system 50 PV, DWD wind.

Each returns a :class:`BacktestResult`: the hold-out actuals, the model's forecast, the baselines and the
skill table (see :func:`wattmesh.forecast.backtest.skill_table`). The hold-out is the last third of the
data, as the forecasting issue asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from wattmesh.forecast import baselines as base
from wattmesh.forecast.backtest import holdout_start, rolling_origin_forecasts, skill_table
from wattmesh.forecast.features import FONTANA, GOLDEN, Site, clear_sky_ghi
from wattmesh.forecast.gbm import Forecast, GradientBoostingForecaster

TARGETS = ("load", "community", "pv")


@dataclass
class BacktestResult:
    """Hold-out actuals, forecasts and scores of one backtest."""

    name: str
    horizon: str
    actual: pd.DataFrame
    forecast: Forecast
    baselines: dict[str, pd.DataFrame]
    table: pd.DataFrame
    reference: str


def _daylight(frame: pd.DataFrame, site: Site) -> pd.DataFrame:
    up = (clear_sky_ghi(frame.index, site) > 0).to_numpy()
    return pd.DataFrame(np.repeat(up[:, None], frame.shape[1], 1), index=frame.index, columns=frame.columns)


def run_backtest(
    name: str,
    history: pd.DataFrame,
    *,
    kind: str,
    site: Site,
    horizon: str = "24h",
    weather: pd.DataFrame | None = None,
    holidays: list[object] | None = None,
    retrain_every: str = "30D",
    capacity: pd.Series | None = None,
    pooling: str = "global",
    extra_forecasts: dict[str, pd.DataFrame] | None = None,
    n_estimators: int | None = None,
) -> BacktestResult:
    """Rolling-origin backtest of a LightGBM forecaster against the baselines on the last third.

    The reference of the skill columns is week-ago seasonal naive for load and persistence for PV and
    wind; the pinball skill is against the similar-days quantiles. PV is scored over daylight only.
    """
    start = holdout_start(history.index)

    def make() -> GradientBoostingForecaster:
        return GradientBoostingForecaster(
            horizon=horizon, kind=kind, site=site, holidays=holidays, pooling=pooling
        )

    forecast = rolling_origin_forecasts(make, history, weather, test_start=start, retrain_every=retrain_every)
    actual = history[history.index >= start]
    baselines = {
        "persistence": base.persistence(history, horizon),
        "same_time_yesterday": base.seasonal_naive(history, horizon, "1D"),
        "same_time_last_week": base.seasonal_naive(history, horizon, "7D"),
        "similar_days": base.similar_days_average(history, horizon, tz=site.tz, holidays=holidays),
    }
    if kind == "pv":
        baselines["smart_persistence"] = base.smart_persistence(history, site, horizon)
    similar_q = base.similar_days_quantiles(
        history, forecast_levels(forecast), horizon, tz=site.tz, holidays=holidays
    )
    forecasts = {
        "lightgbm": forecast.point,
        "lightgbm_median": forecast.quantiles[0.5],
        **(extra_forecasts or {}),
    }
    forecasts.update(baselines)
    reference = "same_time_last_week" if kind == "load" else "persistence"
    table = skill_table(
        actual,
        forecasts,
        reference=reference,
        quantile_reference="similar_days",
        quantile_forecasts={"lightgbm": forecast.quantiles, "similar_days": similar_q},
        capacity=capacity,
        mask=_daylight(history, site) if kind == "pv" else None,
    )
    return BacktestResult(name, horizon, actual, forecast, baselines, table, reference)


def forecast_levels(forecast: Forecast) -> tuple[float, ...]:
    return tuple(sorted(forecast.quantiles))


def citylearn_backtest(
    folder: str | Path,
    target: str = "load",
    horizon: str = "24h",
    *,
    use_weather_forecasts: bool = False,
    retrain_every: str = "30D",
    members: int | None = None,
    n_estimators: int | None = None,
) -> BacktestResult:
    """Backtest on CityLearn 2022: ``target`` is ``load`` (each home), ``community`` (their sum) or ``pv``.

    ``use_weather_forecasts`` adds the data set's 24 h-ahead weather forecasts (temperature and humidity
    for load, all four variables for PV). Beware: in this data set they match the later observations
    almost exactly (correlation 0.998 at 24 h), so they act as near-perfect foresight of the weather.
    """
    from wattmesh.community.citylearn import load_citylearn_2022
    from wattmesh.forecast.datasets import citylearn_weather_forecast

    if target not in TARGETS:
        raise ValueError(f"target: {target!r} is not one of {', '.join(TARGETS)}")
    data = load_citylearn_2022(folder)
    local = data.calendar.index.tz_convert(FONTANA.tz)
    holidays = sorted(set(local[data.calendar["day_type"].to_numpy() == 8].date))
    weather = None
    if use_weather_forecasts:
        weather = citylearn_weather_forecast(data.weather, horizon)
        if target != "pv":
            weather = weather[["outdoor_dry_bulb_temperature", "outdoor_relative_humidity"]]
    if target == "pv":
        history, kind, capacity = data.pv_kwh, "pv", data.pv_kw
    elif target == "community":
        history, kind, capacity = data.load_kwh.sum(axis=1).to_frame("community"), "load", None
    else:
        history, kind, capacity = data.load_kwh, "load", None
    if members is not None and target != "community":
        history = history.iloc[:, :members]
    return run_backtest(
        f"citylearn {target}" + (" + weather forecasts" if use_weather_forecasts else ""),
        history,
        kind=kind,
        site=FONTANA,
        horizon=horizon,
        weather=weather,
        holidays=holidays,
        retrain_every=retrain_every,
        capacity=None if capacity is None else capacity.reindex(history.columns),
        n_estimators=n_estimators,
    )


def nrel_system50_backtest(
    horizon: str = "24h", retrain_every: str = "30D", n_estimators: int | None = None
) -> BacktestResult:
    """Backtest of day-ahead PV on NREL system 50's measured 15-min output (pvanalytics), no weather.

    Capacity for nRMSE is the 99.9th percentile of measured output (the nameplate is not shipped).
    """
    from wattmesh.forecast.datasets import load_nrel_system50
    from wattmesh.quality import repair_meter_data

    power, _ = load_nrel_system50()
    # Short gaps are interpolated, long ones left as NaN: they are neither trained on nor scored.
    history, _ = repair_meter_data(
        power.to_frame(), "system_50 ac power", max_interpolate="1h", seasonal_fill=False
    )
    capacity = pd.Series({"system_50": float(np.nanquantile(power, 0.999))})
    return run_backtest(
        "NREL system 50 PV",
        history,
        kind="pv",
        site=GOLDEN,
        horizon=horizon,
        retrain_every=retrain_every,
        capacity=capacity,
        n_estimators=n_estimators,
    )


def dwd_wind_backtest(
    horizon: str = "24h", region: int = 4, retrain_every: str = "30D", n_estimators: int | None = None
) -> BacktestResult:
    """Backtest of a 5 kW small turbine's output from a DWD test reference year's measured wind."""
    from wattmesh.forecast.wind import (
        hub_height_wind_speed,
        load_dwd_try_wind,
        small_turbine_curve,
        wind_power_kw,
    )

    curve = small_turbine_curve()
    wind = load_dwd_try_wind(region)
    speed = hub_height_wind_speed(wind["wind_speed_m_s"], 10.0, curve.hub_height_m)
    history = pd.DataFrame({"turbine": wind_power_kw(speed, curve)}, index=wind.index)
    site = Site(latitude=52.38, longitude=13.07, tz="Etc/GMT-1")
    return run_backtest(
        f"DWD TRY region {region} small wind",
        history,
        kind="wind",
        site=site,
        horizon=horizon,
        retrain_every=retrain_every,
        capacity=pd.Series({"turbine": curve.rated_kw}),
        n_estimators=n_estimators,
    )
