"""LightGBM forecasters over (intervals, members) frames: global or per-member, point and quantiles.

One model predicts every member at once. Targets and lags are divided by each member's own scale (mean
load, or the 99th percentile of PV output), so one *global* model learns from all homes and still fits
each; ``pooling="member"`` trains one model per member instead. Every feature for an interval ``t`` is
known at ``t - horizon`` (lags of at least the horizon, the calendar, the clear sky, weather forecasts the
caller aligned to their issue time), so a forecast never uses data from after its issue time.

Quantiles (default 10/50/90 %) come from LightGBM's quantile objective [1]_; their interval is then
calibrated on the last part of the training period, held out from a first fit (split conformal
calibration of quantile regression [2]_), so that e.g. the 10-90 % interval covers about 80 % of
outcomes: for load and wind by one factor on the distance from the median (errors grow with the level),
for PV by a margin proportional to the raw interval's width plus a floor, fitted on daylight (at dawn
the raw interval has no width to scale).

PV can instead be modelled as a clear-sky index (``pv_target="clear_sky_index"``, KPV [3]_): target and
lags are the scaled output divided by the clear-sky irradiance on a module tilted ``PV_TILT_DEG`` towards
the equator (floored at ``CLEAR_SKY_FLOOR`` so that dawn and dusk do not blow up), and the prediction is
multiplied back. Trees cannot predict above the targets they saw, so a model of the scaled output
trained in winter under-forecasts spring; the index does not grow with the days. The day-of-year
inputs can be left out (``day_of_year=False``): a model trained on less than a year has not seen the
days it forecasts, and its trees repeat the season they saw last.

References
----------
.. [1] Ke, G. et al. (2017). LightGBM: a highly efficient gradient boosting decision tree. NeurIPS 30.
.. [2] Romano, Y., Patterson, E. and Candes, E. (2019). Conformalized quantile regression. NeurIPS 32.
.. [3] Engerer, N. A. and Mills, F. P. (2014). KPV: a clear-sky index for photovoltaics. Solar Energy
   105, 679-693.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wattmesh.forecast.features import (
    Site,
    calendar_features,
    clear_sky_ghi,
    clear_sky_poa,
    step_of,
    steps_in,
    validated_history,
)

DAY = pd.Timedelta("1D")
logger = logging.getLogger("wattmesh.forecast")

#: Smallest interval width the PV calibration margin scales with [share of the member's scale].
MARGIN_FLOOR = 0.05

#: Targets of a PV model: the output in units of the member's scale, or that divided by the clear sky.
PV_TARGETS = ("scaled", "clear_sky_index")
DEFAULT_PV_TARGET = "scaled"

#: Smallest clear-sky irradiance a PV clear-sky index is divided by [kW/m2]: at dawn and dusk the clear
#: sky tends to zero while measured output (timing offsets, diffuse light) does not.
CLEAR_SKY_FLOOR = 0.1
#: Tilt of the plane whose clear-sky irradiance a PV clear-sky index divides by [deg]: a usual rooftop
#: (orientations are rarely known); it keeps most of the seasonal swing of a module's clear-sky output.
PV_TILT_DEG = 30.0

#: LightGBM objectives of the point model: least squares (the expected value), absolute error (the
#: median) and LightGBM's absolute percentage error (absolute error weighted by ``1 / max(1, |y|)``).
POINT_OBJECTIVES = ("regression", "l1", "mape")

#: Default LightGBM settings per kind, chosen on the CityLearn backtests (first two thirds for training):
#: load likes deeper trees; PV and wind, noisier relative to their signal, like more regularisation.
TUNED = {
    "load": {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 40},
    "pv": {"n_estimators": 400, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 100},
    "wind": {"n_estimators": 400, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 100},
}


@dataclass
class Forecast:
    """A forecast for intervals x members: the point forecast and quantile forecasts.

    Attributes
    ----------
    point : point forecast (by default the expected value, from a least-squares model), same units as
        the history
    quantiles : ``{q: frame}`` for each quantile level ``q`` in (0, 1)
    """

    point: pd.DataFrame
    quantiles: dict[float, pd.DataFrame] = field(default_factory=dict)

    def interval(self, lower: float, upper: float) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The prediction interval between two of the forecast quantiles."""
        return self.quantiles[lower], self.quantiles[upper]


class GradientBoostingForecaster:
    """LightGBM forecaster of load, PV or wind for many members, trained on their history.

    Parameters
    ----------
    horizon : str
        Lead time: the forecast for ``t`` is issued at ``t - horizon`` (``"24h"`` = day-ahead).
    quantiles : tuple of float
        Quantile levels to forecast besides the point forecast.
    kind : {"load", "pv", "wind"}
        ``"pv"`` adds clear-sky features and forecasts zero when the sun is down (needs ``site``).
    site : Site, optional
        Location for the clear sky and the local calendar; UTC calendar without clear sky if omitted.
    pooling : {"global", "member"}
        One model for all members (each in its own scale) or one model per member.
    holidays : list of dates, optional
        Local dates treated like weekends.
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM settings; by default those of
        ``TUNED[kind]``.
    max_train_rows : int
        Rows (interval, member pairs) sampled for training; bounds the cost for large communities.
    calibrate : bool
        Calibrate the quantile interval on the last ``calibration_share`` of the training period, with
        quantile models fitted on at most ``calibration_rows`` rows sampled before it.
    seed : int
        Seed of the row sampling and LightGBM's bagging.
    point_objective : {"regression", "l1", "mape"}
        Loss of the point model: least squares (the expected value, best for RMSE), absolute error (the
        median) or LightGBM's ``"mape"``, absolute error weighted by ``1 / max(1, |y|)`` on the target
        in units of the member's scale, i.e. relative error above the member's mean, absolute below
        (lowers the hourly MAPE of load; see docs/forecast.md).
    pv_target : {"scaled", "clear_sky_index"}, optional
        Kind ``"pv"`` only; default ``DEFAULT_PV_TARGET``. ``"scaled"`` models the output divided by
        the member's scale; ``"clear_sky_index"`` divides that (target and lags) by the clear-sky
        irradiance on a plane tilted ``PV_TILT_DEG`` towards the equator [kW/m2], floored at
        ``CLEAR_SKY_FLOOR``, skips the night in training and multiplies the prediction back, so
        forecasts follow the season beyond the training period.
    day_of_year : bool
        Use the day of the year (its sine and cosine) as inputs. Leave it out when the model is trained
        on less than a year and forecasts beyond its training months (the simulator's 120 days): its
        trees then only repeat the season they saw last.
    """

    def __init__(
        self,
        horizon: str = "24h",
        quantiles: tuple[float, ...] = (0.1, 0.5, 0.9),
        kind: str = "load",
        site: Site | None = None,
        pooling: str = "global",
        holidays: list[object] | None = None,
        n_estimators: int | None = None,
        learning_rate: float | None = None,
        num_leaves: int | None = None,
        min_child_samples: int | None = None,
        max_train_rows: int = 300_000,
        calibrate: bool = True,
        calibration_share: float = 0.2,
        calibration_rows: int = 50_000,
        seed: int = 0,
        point_objective: str = "regression",
        pv_target: str | None = None,
        day_of_year: bool = True,
    ) -> None:
        if kind not in ("load", "pv", "wind"):
            raise ValueError(f"kind: {kind!r} is not one of load, pv, wind")
        if pooling not in ("global", "member"):
            raise ValueError(f"pooling: {pooling!r} is not one of global, member")
        if point_objective not in POINT_OBJECTIVES:
            raise ValueError(
                f"point_objective: {point_objective!r} is not one of {', '.join(POINT_OBJECTIVES)}"
            )
        if pv_target is not None and kind != "pv":
            raise ValueError(f"pv_target: {pv_target!r} is for kind 'pv' only, got kind {kind!r}")
        pv_target = DEFAULT_PV_TARGET if pv_target is None else pv_target
        if pv_target not in PV_TARGETS:
            raise ValueError(f"pv_target: {pv_target!r} is not one of {', '.join(PV_TARGETS)}")
        if kind == "pv" and site is None:
            raise ValueError("site: a PV forecaster needs a Site for the clear sky, got None")
        for q in quantiles:
            if not 0.0 < q < 1.0:
                raise ValueError(f"quantiles: {q!r} is not strictly between 0 and 1")
        if not 0.0 < calibration_share < 0.5:
            raise ValueError(f"calibration_share: {calibration_share!r} is not between 0 and 0.5")
        tuned = TUNED[kind]
        n_estimators = tuned["n_estimators"] if n_estimators is None else n_estimators
        learning_rate = tuned["learning_rate"] if learning_rate is None else learning_rate
        num_leaves = tuned["num_leaves"] if num_leaves is None else num_leaves
        min_child_samples = tuned["min_child_samples"] if min_child_samples is None else min_child_samples
        self.horizon = pd.Timedelta(horizon)
        self.quantiles = tuple(sorted(quantiles))
        self.kind = kind
        self.site = site
        self.pooling = pooling
        self.point_objective = point_objective
        self.pv_target = pv_target if kind == "pv" else None
        self.day_of_year = day_of_year
        self.holidays = holidays
        self.params = {
            "learning_rate": learning_rate,
            "num_leaves": num_leaves,
            "min_data_in_leaf": min_child_samples,
            "feature_fraction": 0.9,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "force_col_wise": True,
            "max_bin": 63,
            "num_threads": 1,
            "verbose": -1,
            "seed": seed,
        }
        self.n_estimators = n_estimators
        self.max_train_rows = max_train_rows
        self.calibrate = calibrate
        self.calibration_rows = calibration_rows
        self._dataset_params = {"max_bin": 63, "verbose": -1, "num_threads": 1}
        self.calibration_share = calibration_share
        self.seed = seed
        self.fitted_until: pd.Timestamp | None = None

    @property
    def history_needed(self) -> pd.Timedelta:
        """How much history before a target's issue time the features read: 8 days.

        ``predict`` needs history from ``first target - horizon - history_needed`` on; passing only that
        keeps each call cheap in a simulation.
        """
        return pd.Timedelta("8D")

    # ------------------------------------------------------------------ features
    @property
    def _uses_sun(self) -> bool:
        return self.site is not None and self.kind != "wind"

    @property
    def _is_clear_sky_index(self) -> bool:
        return self.pv_target == "clear_sky_index"

    def _lags(self, step: pd.Timedelta) -> tuple[int, list[int], int]:
        h = steps_in(self.horizon, step)
        d = steps_in(DAY, step, "day")
        first_day = int(np.ceil(h / d))
        return h, [k * d for k in range(first_day, first_day + 7)], d

    def feature_names(self, weather_columns: list[str]) -> list[str]:
        names = ["lag_h", "lag_h1", "lag_h2"] + [f"lag_day{k}" for k in range(7)]
        names += ["same_time_mean", "last_day_mean", "last_week_mean", "hour", "weekday", "is_day_off"]
        if self.day_of_year:
            names += ["doy_sin", "doy_cos"]
        if self._uses_sun:
            names += ["clear_sky"]
        if self._uses_sun and not self._is_clear_sky_index:
            # With the clear-sky index, the last day's mean is already relative to the clear sky.
            names += ["clear_sky_ratio_last_day"]
        names += [f"weather_{c}" for c in weather_columns]
        if self.pooling == "global":
            names += ["log_scale"]
        return names

    def _design(
        self,
        y_n: np.ndarray,
        index: pd.DatetimeIndex,
        weather: np.ndarray | None,
        scale: np.ndarray,
        t_idx: np.ndarray,
        m_idx: np.ndarray,
    ) -> np.ndarray:
        """Feature matrix (rows, features) for the (interval, member) pairs ``(t_idx, m_idx)``."""
        step = step_of(index)
        h, day_lags, d = self._lags(step)
        n = len(t_idx)

        def at(lag: int) -> np.ndarray:
            src = t_idx - lag
            ok = src >= 0
            out = np.full(n, np.nan)
            out[ok] = y_n[src[ok], m_idx[ok]]
            return out

        finite = np.isfinite(y_n)
        csum = np.vstack([np.zeros((1, y_n.shape[1])), np.cumsum(np.where(finite, y_n, 0.0), axis=0)])
        ccnt = np.vstack([np.zeros((1, y_n.shape[1])), np.cumsum(finite, axis=0)])

        def window_mean(length: int) -> np.ndarray:
            end = np.clip(t_idx - h + 1, 0, None)
            start = np.clip(end - length, 0, None)
            count = ccnt[end, m_idx] - ccnt[start, m_idx]
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(count > 0, (csum[end, m_idx] - csum[start, m_idx]) / count, np.nan)

        cols = [at(h), at(h + 1), at(h + 2)]
        day_cols = [at(lag) for lag in day_lags]
        cols += day_cols
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            cols.append(np.nanmean(np.stack(day_cols), axis=0))
        cols += [window_mean(d), window_mean(7 * d)]
        cal = calendar_features(index, self.site.tz if self.site else "UTC", self.holidays)
        if not self.day_of_year:
            cal = cal.drop(columns=["doy_sin", "doy_cos"])
        cal = cal.to_numpy()
        cols += [cal[t_idx, j] for j in range(cal.shape[1])]
        if self._uses_sun:
            cs = clear_sky_ghi(index, self.site).to_numpy() / 1000.0
            cs_sum = np.concatenate([[0.0], np.cumsum(cs)])
            end = np.clip(t_idx - h + 1, 0, None)
            start = np.clip(end - d, 0, None)
            y_day = (csum[end, m_idx] - csum[start, m_idx]) / np.maximum(
                ccnt[end, m_idx] - ccnt[start, m_idx], 1
            )
            cs_day = (cs_sum[end] - cs_sum[start]) / np.maximum(end - start, 1)
            cols.append(cs[t_idx])
            if not self._is_clear_sky_index:
                with np.errstate(invalid="ignore", divide="ignore"):
                    cols.append(np.where(cs_day > 0, y_day / cs_day, np.nan))
        if weather is not None:
            cols += [weather[t_idx, j] for j in range(weather.shape[1])]
        if self.pooling == "global":
            cols.append(np.log(scale[m_idx]))
        return np.column_stack(cols).astype(np.float32)

    def _member_scale(self, values: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if self.kind == "load":
                scale = np.nanmean(values, axis=0)
            else:
                scale = np.nanquantile(values, 0.99, axis=0)
        return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)

    def _clear_sky_divisor(self, index: pd.DatetimeIndex) -> np.ndarray:
        """What the scaled output is divided by at each interval: 1, or the floored clear sky [kW/m2].

        NaN at night with the clear-sky index, so that night neither trains the model nor enters the
        lags' means (the forecast is zero there anyway).
        """
        if not self._is_clear_sky_index:
            return np.ones(len(index))
        cs = clear_sky_poa(index, self.site, PV_TILT_DEG).to_numpy() / 1000.0
        return np.where(cs > 0, np.maximum(cs, CLEAR_SKY_FLOOR), np.nan)

    def _weather_array(self, weather: pd.DataFrame | None, index: pd.DatetimeIndex) -> np.ndarray | None:
        if weather is None:
            if self.weather_columns:
                raise ValueError(f"weather: the model was fitted with {self.weather_columns}, got None")
            return None
        if list(weather.columns) != self.weather_columns:
            raise ValueError(
                f"weather: columns {list(weather.columns)} differ from fit's {self.weather_columns}"
            )
        if weather.index.tz is None:
            raise ValueError("weather: index is timezone-naive; expected tz-aware times")
        aligned = weather.reindex(index)
        return aligned.to_numpy(dtype=float)

    # ------------------------------------------------------------------ fit / predict
    def fit(self, history: pd.DataFrame, weather: pd.DataFrame | None = None) -> GradientBoostingForecaster:
        """Train on ``history`` (intervals x members, regular tz-aware index; NaN allowed).

        Parameters
        ----------
        history : DataFrame
            Observed load or generation per member [kW or kWh per interval].
        weather : DataFrame, optional
            Exogenous inputs indexed by *target* interval whose values were known ``horizon`` before it
            (weather forecasts aligned to their issue time, or observations lagged by the horizon).
        """
        import lightgbm as lgb

        history = validated_history(history, "history", allow_negative=self.kind == "wind")
        index = history.index
        values = history.to_numpy(dtype=float)
        self.members = list(history.columns)
        self.scale = self._member_scale(values)
        self.weather_columns = [] if weather is None else list(weather.columns)
        w = self._weather_array(weather, index)
        divisor = self._clear_sky_divisor(index)
        y_n = values / self.scale / divisor[:, None]
        h, day_lags, d = self._lags(step_of(index))
        first = h + d  # rows before this have no lag at all
        valid = np.isfinite(y_n)
        valid[:first] = False
        t_all, m_all = np.nonzero(valid)
        if len(t_all) < 100:
            raise ValueError(f"history: {len(t_all)} usable (interval, member) values; need at least 100")
        rng = np.random.default_rng(self.seed)
        if len(t_all) > self.max_train_rows:
            pick = np.sort(rng.choice(len(t_all), self.max_train_rows, replace=False))
            t_all, m_all = t_all[pick], m_all[pick]
        x = self._design(y_n, index, w, self.scale, t_all, m_all)
        y = y_n[t_all, m_all]
        back = divisor[t_all]  # from the model's target to the member's scale
        groups = (
            [np.arange(len(t_all))]
            if self.pooling == "global"
            else [np.flatnonzero(m_all == m) for m in range(len(self.members))]
        )

        datasets: dict[int, object] = {}

        def train(
            rows: np.ndarray, objective: str, alpha: float | None = None, key: int | None = None
        ) -> object:
            params = dict(self.params, objective=objective)
            if alpha is not None:
                params["alpha"] = alpha
            # Binning once per row set and reusing it for every objective saves a pass over the data.
            if key is None or key not in datasets:
                data = lgb.Dataset(x[rows], y[rows], params=self._dataset_params, free_raw_data=False)
                if key is None:
                    return lgb.train(params, data, num_boost_round=self.n_estimators)
                datasets[key] = data
            return lgb.train(params, datasets[key], num_boost_round=self.n_estimators)

        self.factor = 1.0
        self.margin = 0.0
        if self.calibrate and len(self.quantiles) >= 2:
            cut_t = index[first] + (index[-1] - index[first]) * (1 - self.calibration_share)
            cut = int(index.searchsorted(cut_t))
            preds = np.full((len(t_all), len(self.quantiles)), np.nan)
            for g, rows in enumerate(groups):
                early, late = rows[t_all[rows] < cut], rows[t_all[rows] >= cut]
                if len(early) < 50 or len(late) == 0:
                    continue
                # The factor needs a good interval shape, not the best model: a subsample is enough.
                if len(early) > self.calibration_rows:
                    early = np.sort(rng.choice(early, self.calibration_rows, replace=False))
                for j, q in enumerate(self.quantiles):
                    preds[late, j] = train(early, "quantile", q, key=-1 - g).predict(x[late])
            held = np.isfinite(preds).all(axis=1)
            if self.kind == "pv":
                # Only daylight says anything about PV errors; at dawn the interval has no width, so an
                # additive margin calibrates better than a factor.
                held &= x[:, self.feature_names(self.weather_columns).index("clear_sky")] > 0
            if held.any():
                # Calibrated in the member's scale, where predict applies the margin or factor.
                q_sorted = np.sort(preds[held] * back[held, None], axis=1)
                if self.kind == "pv":
                    self.margin = self._interval_margin(y[held] * back[held], q_sorted)
                else:
                    self.factor = self._interval_factor(y[held] * back[held], q_sorted)
        self.models = []
        for g, rows in enumerate(groups):
            point = train(rows, self.point_objective, key=g)
            qmodels = [train(rows, "quantile", q, key=g) for q in self.quantiles]
            self.models.append((point, qmodels))
        datasets.clear()
        self.fitted_until = index[-1]
        return self

    def _check_window(self, history: pd.DataFrame, index: pd.DatetimeIndex) -> None:
        """Reject members with no data in the window the features read; log missing values in it."""
        if len(index) == 0:
            return
        lo = index.min() - self.horizon - self.history_needed
        hi = index.max() - self.horizon
        window = history[(history.index >= lo) & (history.index <= hi)]
        missing = window.isna().sum()
        empty = [m for m in history.columns if missing[m] == len(window)]
        if empty:
            raise ValueError(
                f"history: members {empty} have no value between {lo} and {hi}, the window these forecasts "
                "read; repair the data (wattmesh.quality.repair_meter_data) or forecast them otherwise"
            )
        if missing.sum():
            logger.warning(
                "history: %d missing value(s) in %d member(s) between %s and %s; their forecasts use "
                "LightGBM's missing-value branches (repair with wattmesh.quality.repair_meter_data)",
                int(missing.sum()),
                int((missing > 0).sum()),
                lo,
                hi,
            )

    def _coverage_level(self, n: int) -> float:
        """Nominal coverage with the finite-sample correction of split conformal prediction."""
        return min(1.0, (self.quantiles[-1] - self.quantiles[0]) * (1 + 1 / n))

    def _interval_margin(self, y: np.ndarray, q_pred: np.ndarray) -> float:
        """Margin, in units of the interval's width plus ``MARGIN_FLOOR``, giving the nominal coverage.

        Conformalized quantile regression (Romano et al.) with its score divided by the raw interval's
        width, so that the margin follows the model's own uncertainty (narrow on clear days) while the
        floor still widens the zero-width intervals at dawn.
        """
        width = q_pred[:, -1] - q_pred[:, 0] + MARGIN_FLOOR
        score = np.maximum(q_pred[:, 0] - y, y - q_pred[:, -1]) / width
        return float(np.quantile(score, self._coverage_level(score.size)))

    def _interval_factor(self, y: np.ndarray, q_pred: np.ndarray) -> float:
        """Factor on the distance from median to outer quantiles that gives the nominal coverage."""
        lo, hi = q_pred[:, 0], q_pred[:, -1]
        med = q_pred[:, len(self.quantiles) // 2] if 0.5 in self.quantiles else (lo + hi) / 2
        eps = 1e-6
        need = np.where(y < med, (med - y) / np.maximum(med - lo, eps), (y - med) / np.maximum(hi - med, eps))
        return float(np.clip(np.quantile(need, self._coverage_level(need.size)), 0.25, 4.0))

    def predict(
        self,
        history: pd.DataFrame,
        index: pd.DatetimeIndex | None = None,
        weather: pd.DataFrame | None = None,
    ) -> Forecast:
        """Forecast the intervals ``index`` for the members of ``history``.

        Parameters
        ----------
        history : DataFrame
            What has been observed (intervals x members). Only values at or before ``t - horizon`` are
            used for a target ``t``; later values, if present, are ignored.
        index : DatetimeIndex, optional
            Target intervals; by default the ``horizon`` after the end of ``history``.
        weather : DataFrame, optional
            As in :meth:`fit`, covering the targets.

        Returns
        -------
        Forecast
            Point and quantile frames indexed by ``index`` with the members as columns.
        """
        if self.fitted_until is None:
            raise RuntimeError("forecaster: call fit() before predict()")
        history = validated_history(history, "history", allow_negative=self.kind == "wind")
        step = step_of(history.index)
        h, _, _ = self._lags(step)
        if index is None:
            index = pd.date_range(history.index[-1] + step, periods=h, freq=step)
        index = pd.DatetimeIndex(index).tz_convert("UTC")
        latest_issue = history.index[-1] + self.horizon
        if len(index) and index.max() > latest_issue:
            raise ValueError(
                f"index: target {index.max()} is more than the horizon {self.horizon} after the last "
                f"observation {history.index[-1]}; expected targets up to {latest_issue}"
            )
        missing = [m for m in history.columns if m not in self.members]
        if self.pooling == "member" and missing:
            raise ValueError(
                f"history: members {missing} were not in fit; per-member models cannot predict them"
            )
        self._check_window(history, index)
        full = pd.date_range(
            min(history.index[0], index.min()), max(history.index[-1], index.max()), freq=step
        )
        values = history.reindex(full).to_numpy(dtype=float)
        known = {m: i for i, m in enumerate(self.members)}
        scale = np.array(
            [
                self.scale[known[m]] if m in known else s
                for m, s in zip(history.columns, self._member_scale(values), strict=True)
            ]
        )
        divisor = self._clear_sky_divisor(full)
        y_n = values / scale / divisor[:, None]
        w = self._weather_array(weather, full)
        pos = full.get_indexer(index)
        n_t, n_m = len(index), len(history.columns)
        t_idx = np.repeat(pos, n_m)
        m_idx = np.tile(np.arange(n_m), n_t)
        x = self._design(y_n, full, w, scale, t_idx, m_idx)
        point = np.full(len(t_idx), np.nan)
        qs = np.full((len(t_idx), len(self.quantiles)), np.nan)
        if self.pooling == "global":
            model_rows = [(self.models[0], np.arange(len(t_idx)))]
        else:
            model_rows = [
                (self.models[known[m]], np.flatnonzero(m_idx == j)) for j, m in enumerate(history.columns)
            ]
        for (point_model, qmodels), rows in model_rows:
            point[rows] = point_model.predict(x[rows])
            for j, model in enumerate(qmodels):
                qs[rows, j] = model.predict(x[rows])
        back = np.nan_to_num(divisor[t_idx], nan=0.0)
        point, qs = point * back, np.sort(qs * back[:, None], axis=1)
        if len(self.quantiles) >= 2 and self.factor != 1.0:
            mid = len(self.quantiles) // 2
            med = qs[:, mid] if 0.5 in self.quantiles else (qs[:, 0] + qs[:, -1]) / 2
            qs = med[:, None] + self.factor * (qs - med[:, None])
        if len(self.quantiles) >= 2 and self.margin != 0.0:
            levels = np.array(self.quantiles)
            weight = np.where(
                levels >= 0.5,
                (levels - 0.5) / max(levels[-1] - 0.5, 1e-9),
                (levels - 0.5) / max(0.5 - levels[0], 1e-9),
            )
            width = qs[:, -1] - qs[:, 0] + MARGIN_FLOOR
            qs = np.sort(qs + self.margin * width[:, None] * weight[None, :], axis=1)
        if self.kind != "wind":
            point, qs = np.clip(point, 0.0, None), np.clip(qs, 0.0, None)
        if self.kind == "pv":
            night = clear_sky_ghi(full, self.site).to_numpy()[t_idx] <= 0
            point[night] = 0.0
            qs[night] = 0.0
        scale_rows = scale[m_idx]

        def frame(v: np.ndarray) -> pd.DataFrame:
            return pd.DataFrame((v * scale_rows).reshape(n_t, n_m), index=index, columns=history.columns)

        return Forecast(
            point=frame(point), quantiles={q: frame(qs[:, j]) for j, q in enumerate(self.quantiles)}
        )
