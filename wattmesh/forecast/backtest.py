"""Rolling-origin backtests with retraining on a schedule, and the skill table of a backtest.

The hold-out is cut into blocks of ``retrain_every``; before each block a fresh forecaster is trained on
everything observed before the block, then forecasts every interval of the block, each from the data
known at its issue time ``t - horizon`` only (the history handed to ``predict`` ends there) [1]_.

References
----------
.. [1] Tashman, L. J. (2000). Out-of-sample tests of forecasting accuracy: an analysis and review.
   International Journal of Forecasting 16(4), 437-450.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from wattmesh.forecast import metrics
from wattmesh.forecast.features import step_of
from wattmesh.forecast.gbm import Forecast, GradientBoostingForecaster


def holdout_start(index: pd.DatetimeIndex, share: float = 1 / 3) -> pd.Timestamp:
    """First interval of the last ``share`` of ``index`` (the issue's hold-out: the last third)."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"share: {share!r} is not strictly between 0 and 1")
    return index[int(np.floor(len(index) * (1 - share)))]


def rolling_origin_forecasts(
    make_forecaster: Callable[[], GradientBoostingForecaster],
    history: pd.DataFrame,
    weather: pd.DataFrame | None = None,
    *,
    test_start: pd.Timestamp | str,
    retrain_every: str = "30D",
) -> Forecast:
    """Forecasts of every interval from ``test_start`` to the end, retraining before each block.

    Parameters
    ----------
    make_forecaster : callable
        Returns a new, unfitted forecaster (e.g. ``lambda: GradientBoostingForecaster(kind="pv", ...)``).
    history : DataFrame
        Observations (intervals x members).
    weather : DataFrame, optional
        Exogenous inputs aligned to target intervals (see :meth:`GradientBoostingForecaster.fit`).
    test_start : Timestamp
        First forecast interval; training for the first block uses only data before it.
    retrain_every : str
        Length of a block between retrainings.

    Returns
    -------
    Forecast
        Point and quantile frames over the hold-out.
    """
    start = pd.Timestamp(test_start)
    step = step_of(history.index)
    block = pd.Timedelta(retrain_every)
    points: list[pd.DataFrame] = []
    quantiles: dict[float, list[pd.DataFrame]] = {}
    origin = start
    end = history.index[-1]
    while origin <= end:
        block_end = min(origin + block, end + step)
        model = make_forecaster()
        seen = history.index < origin
        model.fit(history[seen], None if weather is None else weather[weather.index < origin])
        # The history handed over ends at the issue time of the block's last target.
        known = history[history.index <= block_end - step - model.horizon]
        targets = history.index[(history.index >= origin) & (history.index < block_end)]
        forecast = model.predict(known, targets, weather)
        points.append(forecast.point)
        for q, frame in forecast.quantiles.items():
            quantiles.setdefault(q, []).append(frame)
        origin = block_end
    return Forecast(point=pd.concat(points), quantiles={q: pd.concat(f) for q, f in quantiles.items()})


def skill_table(
    actual: pd.DataFrame,
    forecasts: dict[str, pd.DataFrame],
    *,
    reference: str,
    quantile_reference: str | None = None,
    quantile_forecasts: dict[str, dict[float, pd.DataFrame]] | None = None,
    interval: tuple[float, float] = (0.1, 0.9),
    capacity: float | pd.Series | None = None,
    mask: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Scores of each forecast over all cells of ``actual`` (intervals x members).

    Columns: ``mae``, ``rmse``, ``mape`` [%] (when the actual never nears zero), ``nmae`` and ``nrmse``
    [%] of capacity (when given, per member), ``rmse_skill`` and ``mae_skill`` [%] versus ``reference``,
    ``pinball`` (mean over the quantiles), ``pinball_skill`` [%] versus the quantiles of
    ``quantile_reference`` (default ``reference``) when given, and ``coverage`` [%] of the ``interval``.
    ``mask`` (True = score) restricts the cells, e.g. to daylight for PV.
    """
    index = actual.index
    a = actual.to_numpy(dtype=float)
    if mask is not None:
        a = np.where(mask.reindex(index).to_numpy(dtype=bool), a, np.nan)
    cap = None
    if capacity is not None:
        cap = np.broadcast_to(
            np.asarray(
                capacity.reindex(actual.columns) if isinstance(capacity, pd.Series) else capacity, float
            ),
            a.shape,
        )

    def arr(frame: pd.DataFrame) -> np.ndarray:
        return frame.reindex(index=index, columns=actual.columns).to_numpy(dtype=float)

    rows = {}
    ref = arr(forecasts[reference])
    quantile_forecasts = quantile_forecasts or {}
    quantile_reference = quantile_reference or reference
    ref_q = quantile_forecasts.get(quantile_reference)
    for name, frame in forecasts.items():
        f = arr(frame)
        row = {"mae": metrics.mae(a, f), "rmse": metrics.rmse(a, f)}
        finite = np.isfinite(a)
        if np.nanmin(np.abs(a)) > 0.05 * np.nanmean(np.abs(a)):
            row["mape"] = metrics.mape(a, f)
        if cap is not None:
            row["nmae"] = 100 * metrics.mae(a / cap, f / cap)
            row["nrmse"] = 100 * metrics.rmse(a / cap, f / cap)
        both = finite & np.isfinite(f) & np.isfinite(ref)
        row["mae_skill"] = metrics.skill(metrics.mae(a[both], f[both]), metrics.mae(a[both], ref[both]))
        row["rmse_skill"] = metrics.skill(metrics.rmse(a[both], f[both]), metrics.rmse(a[both], ref[both]))
        qf = quantile_forecasts.get(name)
        if qf:
            qa = {q: arr(v) for q, v in qf.items()}
            row["pinball"] = metrics.mean_pinball_loss(a, qa)
            if ref_q and name != quantile_reference:
                ra = {q: arr(v) for q, v in ref_q.items()}
                ok = finite & np.all([np.isfinite(v) for v in [*qa.values(), *ra.values()]], axis=0)
                row["pinball_skill"] = metrics.skill(
                    metrics.mean_pinball_loss(a[ok], {q: v[ok] for q, v in qa.items()}),
                    metrics.mean_pinball_loss(a[ok], {q: v[ok] for q, v in ra.items()}),
                )
            lo, hi = interval
            if lo in qa and hi in qa:
                row["coverage"] = metrics.interval_coverage(a, qa[lo], qa[hi])
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")
