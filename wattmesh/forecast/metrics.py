"""Forecast error metrics and skill scores, as pure functions over arrays shaped (intervals, members).

Every metric ignores intervals where the actual or the forecast is NaN, so that a backtest can score
forecasts over a hold-out that starts before the first forecast is possible.

References
----------
.. [1] Hyndman, R. J. and Koehler, A. B. (2006). Another look at measures of forecast accuracy.
   International Journal of Forecasting 22(4), 679-688.
.. [2] Koenker, R. and Bassett, G. (1978). Regression quantiles. Econometrica 46(1), 33-50.
.. [3] Gneiting, T. and Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and estimation.
   Journal of the American Statistical Association 102(477), 359-378.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike


def _pair(actual: ArrayLike, forecast: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float, restricted to entries where both are finite."""
    a = np.asarray(actual, dtype=float)
    f = np.asarray(forecast, dtype=float)
    if a.shape != f.shape:
        raise ValueError(f"forecast: shape {f.shape} does not match actual shape {a.shape}")
    ok = np.isfinite(a) & np.isfinite(f)
    if not ok.any():
        raise ValueError("forecast: no interval where both actual and forecast are finite")
    return a[ok], f[ok]


def mae(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Mean absolute error [unit of the data]."""
    a, f = _pair(actual, forecast)
    return float(np.mean(np.abs(a - f)))


def rmse(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Root mean square error [unit of the data]."""
    a, f = _pair(actual, forecast)
    return float(np.sqrt(np.mean((a - f) ** 2)))


def mape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Mean absolute percentage error [%] over intervals with a non-zero actual.

    Only meaningful for series far from zero (a community's summed load); undefined for PV at night.
    """
    a, f = _pair(actual, forecast)
    nonzero = a != 0
    return float(100.0 * np.mean(np.abs((a[nonzero] - f[nonzero]) / a[nonzero])))


def nmae(actual: ArrayLike, forecast: ArrayLike, norm: float) -> float:
    """MAE divided by ``norm`` [%]: the installed capacity for PV [kW or kWh per interval], the mean for load."""
    if not norm > 0:
        raise ValueError(f"nmae: norm {norm!r} must be positive")
    return 100.0 * mae(actual, forecast) / norm


def nrmse(actual: ArrayLike, forecast: ArrayLike, norm: float) -> float:
    """RMSE divided by ``norm`` [%] (the capacity for PV)."""
    if not norm > 0:
        raise ValueError(f"nrmse: norm {norm!r} must be positive")
    return 100.0 * rmse(actual, forecast) / norm


def skill(score: float, reference_score: float) -> float:
    """Skill score ``1 - score / reference_score`` [%]: positive when better than the reference [1]_."""
    if not reference_score > 0:
        raise ValueError(f"skill: reference score {reference_score!r} must be positive")
    return 100.0 * (1.0 - score / reference_score)


def pinball_loss(actual: ArrayLike, forecast: ArrayLike, quantile: float) -> float:
    """Mean pinball (quantile) loss of a ``quantile`` forecast [unit of the data] [2]_.

    ``L = mean(max(q (y - f), (q - 1)(y - f)))``; at q = 0.5 it is half the MAE.
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"pinball_loss: quantile {quantile!r} must be strictly between 0 and 1")
    a, f = _pair(actual, forecast)
    diff = a - f
    return float(np.mean(np.maximum(quantile * diff, (quantile - 1.0) * diff)))


def mean_pinball_loss(actual: ArrayLike, forecasts: dict[float, ArrayLike]) -> float:
    """Pinball loss averaged over several quantile forecasts ``{quantile: forecast}`` [unit of the data].

    With many evenly spread quantiles this approximates half the CRPS [3]_.
    """
    if not forecasts:
        raise ValueError("mean_pinball_loss: no quantile forecasts given")
    return float(np.mean([pinball_loss(actual, f, q) for q, f in forecasts.items()]))


def interval_coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of actuals inside ``[lower, upper]`` [%]; an 80% interval should cover about 80%."""
    a = np.asarray(actual, dtype=float)
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    ok = np.isfinite(a) & np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        raise ValueError("interval_coverage: no interval where actual and both bounds are finite")
    inside = (a[ok] >= lo[ok]) & (a[ok] <= hi[ok])
    return float(100.0 * inside.mean())
