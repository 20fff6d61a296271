"""Ready-made backtests on the measured data sets: CityLearn homes, NREL system 50 PV, DWD wind.

Each returns a :class:`BacktestResult`: the hold-out actuals, the model's forecast, the baselines and the
skill table (see :func:`wattmesh.forecast.backtest.skill_table`). The hold-out is the last third of the
data, as the forecasting issue asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from wattmesh.forecast import baselines as base
from wattmesh.forecast import metrics
from wattmesh.forecast.backtest import holdout_start, rolling_origin_forecasts, skill_table
from wattmesh.forecast.features import GOLDEN, Site, clear_sky_ghi, step_of
from wattmesh.forecast.gbm import Forecast, GradientBoostingForecaster

TARGETS = ("load", "community", "pv")
DAY = pd.Timedelta("1D")


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
    pv_target: str | None = None,
    day_of_year: bool = True,
) -> BacktestResult:
    """Rolling-origin backtest of a LightGBM forecaster against the baselines on the last third.

    The reference of the skill columns is week-ago seasonal naive for load and persistence for PV and
    wind; the pinball skill is against the similar-days quantiles. PV is scored over daylight only.
    "Day-ahead" (``horizon="24h"``) means every interval is forecast from the data up to exactly 24 h
    before it (a rolling issue time, not one issue a day): see :func:`issued_daily_forecasts` for
    forecasts issued once a day. ``pv_target`` (None: the default) and ``day_of_year`` are the
    forecaster's settings (see :class:`GradientBoostingForecaster`).
    """
    start = holdout_start(history.index)

    def make() -> GradientBoostingForecaster:
        return GradientBoostingForecaster(
            horizon=horizon,
            kind=kind,
            site=site,
            holidays=holidays,
            pooling=pooling,
            n_estimators=n_estimators,
            pv_target=pv_target,
            day_of_year=day_of_year,
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
    folder: str | Path | None,
    target: str = "load",
    horizon: str = "24h",
    *,
    site: Site | None = None,
    start_date: str | None = None,
    use_weather_forecasts: bool = False,
    retrain_every: str = "30D",
    members: int | None = None,
    n_estimators: int | None = None,
    pooling: str = "global",
    pv_target: str | None = None,
    day_of_year: bool = True,
) -> BacktestResult:
    """Backtest on a CityLearn data set: ``target`` is ``load`` (each home), ``community`` or ``pv``.

    ``folder`` is the data set's folder or schema.json (None: the package's CityLearn 2022 copy); ``site``
    (latitude, longitude and the time zone of the files' hours) and ``start_date`` (local date of the
    first row) override what the schema states (see :func:`wattmesh.community.citylearn.load_citylearn`).
    ``use_weather_forecasts`` adds the data set's 24 h-ahead weather forecasts (temperature and humidity
    for load, all four variables for PV). Beware: in this data set they match the later observations
    almost exactly (correlation 0.998 at 24 h), so they act as near-perfect foresight of the weather.
    For ``community`` the table also holds ``lightgbm_mape``, the point model of
    :data:`COMMUNITY_MAPE_MODEL` (trained for hourly MAPE, the issue's metric).
    """
    if target not in TARGETS:
        raise ValueError(f"target: {target!r} is not one of {', '.join(TARGETS)}")
    data = _citylearn(folder, horizon if use_weather_forecasts else None, site=site, start_date=start_date)
    weather = data.weather_forecast
    if target != "pv" and weather is not None:
        weather = weather[["outdoor_dry_bulb_temperature", "outdoor_relative_humidity"]]
    extra = None
    if target == "pv":
        with_pv = data.pv_kw.index[data.pv_kw > 0]  # homes without PV have nothing to forecast
        if len(with_pv) == 0:
            from wattmesh.community.citylearn import CityLearnDataError

            raise CityLearnDataError("target pv: no building of the data set has PV")
        history, kind, capacity = data.pv_kwh[with_pv], "pv", data.pv_kw[with_pv]
    elif target == "community":
        history, kind, capacity = data.community, "load", None
        mape_model = _community_mape_maker(horizon, data.site, data.holidays, n_estimators)
        start = holdout_start(history.index)
        extra = {
            "lightgbm_mape": rolling_origin_forecasts(
                mape_model, history, weather, test_start=start, retrain_every=retrain_every
            ).point
        }
    else:
        history, kind, capacity = data.load_kwh, "load", None
    if members is not None and target != "community":
        history = history.iloc[:, :members]
    return run_backtest(
        f"citylearn {target}"
        + (" + weather forecasts" if use_weather_forecasts else "")
        + (", per-member models" if pooling == "member" else ""),
        history,
        kind=kind,
        site=data.site,
        horizon=horizon,
        weather=weather,
        holidays=data.holidays,
        retrain_every=retrain_every,
        capacity=None if capacity is None else capacity.reindex(history.columns),
        pooling=pooling,
        extra_forecasts=extra,
        n_estimators=n_estimators,
        pv_target=pv_target,
        day_of_year=day_of_year,
    )


@dataclass
class _CityLearn:
    site: Site
    load_kwh: pd.DataFrame
    pv_kwh: pd.DataFrame
    pv_kw: pd.Series
    holidays: list[object]
    weather: pd.DataFrame
    weather_forecast: pd.DataFrame | None

    @property
    def community(self) -> pd.DataFrame:
        return self.load_kwh.sum(axis=1).to_frame("community")


def _citylearn(
    folder: str | Path | None,
    forecast_horizon: str | None = None,
    *,
    site: Site | None = None,
    start_date: str | None = None,
) -> _CityLearn:
    """A CityLearn data set's homes, site, holidays (local dates) and weather, with its forecasts for a
    horizon; ``site`` and ``start_date`` override the schema's.

    Raises
    ------
    CityLearnDataError
        naming what the data set lacks (including a site's latitude and longitude) or gets wrong.
    """
    from wattmesh.community.citylearn import CityLearnDataError, load_citylearn
    from wattmesh.forecast.datasets import citylearn_weather_forecast

    given = {} if site is None else {
        "tz": site.tz, "latitude": site.latitude, "longitude": site.longitude, "altitude": site.altitude
    }  # fmt: skip
    data = load_citylearn(folder, start_date=start_date, **given)
    if data.latitude is None or data.longitude is None:
        raise CityLearnDataError(
            f"site: latitude and longitude not given and {data.source} states no site (needed for the "
            "clear sky)"
        )
    where = Site(data.latitude, data.longitude, data.tz, 0.0 if data.altitude is None else data.altitude)
    forecast = None
    if forecast_horizon is not None:
        try:
            forecast = citylearn_weather_forecast(data.weather, forecast_horizon)
        except ValueError as error:
            raise CityLearnDataError(f"{data.source}: {error}") from None
    return _CityLearn(where, data.load_kwh, data.pv_kwh, data.pv_kw, data.holidays, data.weather, forecast)


#: Settings of the community load model trained for hourly MAPE: LightGBM's ``"mape"`` objective and
#: smaller, more regularised trees than the load default. Chosen on a validation split inside the
#: training period (Jan - Mar 2017 forecast from the months before), not on the hold-out.
COMMUNITY_MAPE_MODEL = {"point_objective": "mape", "num_leaves": 7, "min_child_samples": 100}


def community_mape_forecaster(
    horizon: str, holidays: list[object] | None = None, n_estimators: int | None = None, *, site: Site
) -> GradientBoostingForecaster:
    """A new forecaster of community load at ``site`` with the :data:`COMMUNITY_MAPE_MODEL` settings
    (median only)."""
    return GradientBoostingForecaster(
        horizon=horizon,
        site=site,
        holidays=holidays,
        quantiles=(0.5,),
        calibrate=False,
        n_estimators=n_estimators,
        **COMMUNITY_MAPE_MODEL,
    )


def _community_mape_maker(
    horizon: str, site: Site, holidays: list[object] | None, n_estimators: int | None = None
) -> Callable[[], GradientBoostingForecaster]:
    return lambda: community_mape_forecaster(horizon, holidays, n_estimators, site=site)


# ---------------------------------------------------------------------- how far can one get
def issued_daily_forecasts(
    make_forecaster: Callable[[str], GradientBoostingForecaster],
    history: pd.DataFrame,
    weather: pd.DataFrame | None = None,
    *,
    test_start: pd.Timestamp | str,
    last_known_hour: int = 23,
    tz: str = "UTC",
    retrain_every: str = "30D",
) -> pd.DataFrame:
    """Point forecasts of each local day, issued once: after the interval at ``last_known_hour``.

    The issue's day-ahead backtests forecast every interval from the data up to exactly ``horizon``
    before it (a rolling issue time). A forecast issued once a day instead knows the day before up to
    the interval starting at local ``last_known_hour`` (23: issued at midnight, leads 1-24 h for hourly
    data; 11: issued at noon the day before, as for a day-ahead market, leads 13-36 h). Each time of day
    is forecast by its own rolling-origin backtest at its own lead, so no target sees later data.

    Parameters
    ----------
    make_forecaster : callable
        ``make_forecaster(horizon)`` returns a new, unfitted forecaster with that horizon (e.g. ``"7h"``).
    history, weather : DataFrame
        As in :func:`wattmesh.forecast.backtest.rolling_origin_forecasts`; ``weather`` must be known at
        the longest lead.
    test_start : Timestamp
        First forecast interval.
    last_known_hour : int
        Local hour (0-23) of the last interval known at the issue time, on the day before the target day.
    tz : str
        Time zone of the local day.
    retrain_every : str
        Length of a block between retrainings.

    Returns
    -------
    DataFrame
        Point forecasts (intervals from ``test_start`` x members).
    """
    if not 0 <= last_known_hour <= 23:
        raise ValueError(f"last_known_hour: {last_known_hour!r} is not an hour between 0 and 23")
    step = step_of(history.index)
    targets = history.index[history.index >= pd.Timestamp(test_start)]
    local = targets.tz_convert(tz)
    time_of_day = local - local.normalize()
    out = pd.DataFrame(np.nan, index=targets, columns=history.columns)
    for offset in np.unique(time_of_day):
        lead = pd.Timedelta(DAY) - pd.Timedelta(hours=last_known_hour) + pd.Timedelta(offset)
        if lead % step:
            raise ValueError(f"last_known_hour: lead {lead} is not a whole number of {step} intervals")
        forecast = rolling_origin_forecasts(
            lambda lead=lead: make_forecaster(str(lead)),
            history,
            weather,
            test_start=test_start,
            retrain_every=retrain_every,
        )
        rows = targets[time_of_day == offset]
        out.loc[rows] = forecast.point.loc[rows]
    return out


def daily_energy_oracle(history: pd.DataFrame, tz: str = "UTC", days: int = 28) -> pd.DataFrame:
    """Not a forecast: each local day's *true* mean times the mean daily profile of the days before.

    The profile is each interval divided by its day's mean, averaged by local time of day over the last
    ``days`` days before (NaN until half of them exist). Its error is what remains for a forecaster that
    knew each day's energy exactly and had only a historical shape for the hours: a bound on how much
    a better daily-energy forecast can give.
    """
    local = history.index.tz_convert(tz).tz_localize(None)
    day = local.normalize()
    day_codes, day_keys = pd.factorize(day, sort=True)
    tod_codes, tod_keys = pd.factorize(local - day, sort=True)
    values = history.to_numpy(dtype=float)
    day_mean = history.groupby(day_codes).transform("mean").to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        shape = values / day_mean
    grid = np.full((len(day_keys), len(tod_keys), values.shape[1]), np.nan)
    grid[day_codes, tod_codes] = shape
    finite = np.isfinite(grid)
    zero = np.zeros((1, *grid.shape[1:]))
    csum = np.concatenate([zero, np.cumsum(np.where(finite, grid, 0.0), axis=0)])
    ccnt = np.concatenate([zero, np.cumsum(finite, axis=0)])
    lo = np.clip(np.arange(len(day_keys)) - days, 0, None)
    hi = np.arange(len(day_keys))  # exclusive: the days before
    count = ccnt[hi] - ccnt[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = np.where(count >= days / 2, (csum[hi] - csum[lo]) / count, np.nan)
    return pd.DataFrame(
        day_mean * profile[day_codes, tod_codes], index=history.index, columns=history.columns
    )


def community_mape_bounds(
    folder: str | Path | None,
    retrain_every: str = "30D",
    n_estimators: int | None = None,
    *,
    site: Site | None = None,
    start_date: str | None = None,
) -> pd.DataFrame:
    """How low can the hourly MAPE of CityLearn's community load go? Forecasts, oracles and a smoother.

    ``folder``, ``site`` and ``start_date`` as in :func:`citylearn_backtest`.

    Rows, all scored on the hold-out (last third): the headline least-squares model and the MAPE
    model (:data:`COMMUNITY_MAPE_MODEL`), day-ahead with a rolling issue time; the MAPE model issued
    once a day at midnight and at noon the day before (:func:`issued_daily_forecasts`); with the data
    set's weather forecasts (near-perfect foresight); one hour ahead; two oracles that know each day's
    true energy (:func:`daily_energy_oracle`, and the MAPE model with the day's true mean as an input);
    and the centred 3-hour mean of the truth, which is not a forecast but shows the hour-to-hour noise.

    Returns
    -------
    DataFrame
        Index: the row names; columns ``knows`` (what the row uses), ``mape`` [%] and ``rmse`` [kWh].
    """
    data = _citylearn(folder, "24h", site=site, start_date=start_date)
    site = data.site
    history = data.community
    start = holdout_start(history.index)
    actual = history[history.index >= start]

    def mape_model(horizon: str) -> GradientBoostingForecaster:
        return community_mape_forecaster(horizon, data.holidays, n_estimators, site=site)

    def rolling(make: Callable[[], GradientBoostingForecaster], weather=None) -> pd.DataFrame:
        return rolling_origin_forecasts(
            make, history, weather, test_start=start, retrain_every=retrain_every
        ).point

    def daily(last_known_hour: int) -> pd.DataFrame:
        return issued_daily_forecasts(
            mape_model, history, test_start=start, last_known_hour=last_known_hour, tz=site.tz,
            retrain_every=retrain_every,
        )  # fmt: skip

    local_day = history.index.tz_convert(site.tz).tz_localize(None).normalize()
    true_day_mean = history.groupby(local_day)["community"].transform("mean").rename("true_day_mean_kwh")
    forecast_weather = data.weather_forecast[["outdoor_dry_bulb_temperature", "outdoor_relative_humidity"]]
    rows = {
        "least squares, 24 h rolling (headline model)": (
            "history to t - 24 h",
            lambda: rolling(
                lambda: GradientBoostingForecaster(
                    site=site, holidays=data.holidays, n_estimators=n_estimators, calibrate=False
                )
            ),
        ),
        "MAPE model, 24 h rolling": ("history to t - 24 h", lambda: rolling(lambda: mape_model("24h"))),
        "MAPE model, issued at midnight": ("the day before, to 23:00 (leads 1-24 h)", lambda: daily(23)),
        "MAPE model, issued at noon the day before": ("to 11:00 the day before (leads 13-36 h)", lambda: daily(11)),
        "MAPE model + weather forecasts": (
            "+ CityLearn's 24 h temperature and humidity forecasts (near-perfect)",
            lambda: rolling(lambda: mape_model("24h"), forecast_weather),
        ),
        "MAPE model, 1 h ahead": ("history to t - 1 h", lambda: rolling(lambda: mape_model("1h"))),
        "oracle: true daily energy x 4-week profile": (
            "the day's true energy (future)",
            lambda: daily_energy_oracle(history, site.tz),
        ),
        "oracle: MAPE model + true daily energy": (
            "history to t - 24 h + the day's true energy (future)",
            lambda: rolling(lambda: mape_model("24h"), true_day_mean.to_frame()),
        ),
        "not a forecast: centred 3-hour mean of the truth": (
            "the hour before, of and after t (future)",
            lambda: history.rolling(3, center=True).mean(),
        ),
    }  # fmt: skip
    table = {}
    for name, (knows, compute) in rows.items():
        forecast = compute().reindex(actual.index)
        table[name] = {
            "knows": knows,
            "mape": metrics.mape(actual, forecast),
            "rmse": metrics.rmse(actual, forecast),
        }
    return pd.DataFrame.from_dict(table, orient="index")


def nrel_system50_backtest(
    horizon: str = "24h",
    retrain_every: str = "30D",
    n_estimators: int | None = None,
    pv_target: str | None = None,
    day_of_year: bool = True,
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
        pv_target=pv_target,
        day_of_year=day_of_year,
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
