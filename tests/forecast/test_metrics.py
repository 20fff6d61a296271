"""Forecast metrics against hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest

from wattmesh.forecast import metrics


def test_point_metrics_hand_worked():
    actual = np.array([[2.0, 4.0], [6.0, np.nan]])
    forecast = np.array([[3.0, 2.0], [6.0, 1.0]])  # errors 1, 2, 0 (NaN cell ignored)
    assert metrics.mae(actual, forecast) == pytest.approx(1.0)
    assert metrics.rmse(actual, forecast) == pytest.approx(np.sqrt(5 / 3))
    assert metrics.mape(actual, forecast) == pytest.approx(100 * (0.5 + 0.5 + 0) / 3)
    assert metrics.nmae(actual, forecast, norm=4.0) == pytest.approx(25.0)
    assert metrics.skill(0.8, 1.0) == pytest.approx(20.0)


def test_pinball_loss_hand_worked():
    # y - f = +2 (under-forecast) and -1 (over-forecast); q = 0.9: (0.9*2 + 0.1*1) / 2
    assert metrics.pinball_loss([3.0, 1.0], [1.0, 2.0], 0.9) == pytest.approx(0.95)
    # at the median it is half the MAE
    assert metrics.pinball_loss([3.0, 1.0], [1.0, 2.0], 0.5) == pytest.approx(0.75)


def test_interval_coverage_counts_bounds_inclusive():
    actual = [1.0, 2.0, 3.0, 4.0]
    assert metrics.interval_coverage(actual, [1.0, 2.5, 0.0, 5.0], [1.0, 3.0, 3.0, 6.0]) == pytest.approx(
        50.0
    )


def test_shape_mismatch_and_empty_are_errors():
    with pytest.raises(ValueError, match="shape"):
        metrics.mae([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="no interval"):
        metrics.rmse([np.nan], [1.0])
    with pytest.raises(ValueError, match="quantile"):
        metrics.pinball_loss([1.0], [1.0], 1.0)


def test_skill_table_scores_against_the_reference_hand_worked():
    import pandas as pd

    from wattmesh.forecast.backtest import skill_table

    index = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
    actual = pd.DataFrame({"m": [2.0, 4.0, 6.0, 8.0]}, index=index)
    good = pd.DataFrame({"m": [3.0, 4.0, 6.0, 7.0]}, index=index)  # errors 1, 0, 0, 1
    ref = pd.DataFrame({"m": [4.0, 2.0, 8.0, 6.0]}, index=index)  # errors 2 each
    quantiles = {0.1: good - 1.5, 0.5: good, 0.9: good + 0.5}
    table = skill_table(
        actual,
        {"good": good, "ref": ref},
        reference="ref",
        quantile_forecasts={"good": quantiles},
        capacity=4.0,
    )
    assert table.loc["good", "rmse"] == pytest.approx(np.sqrt(0.5))
    assert table.loc["good", "rmse_skill"] == pytest.approx(100 * (1 - np.sqrt(0.5) / 2))
    assert table.loc["good", "mae_skill"] == pytest.approx(75.0)
    assert table.loc["good", "nmae"] == pytest.approx(100 * 0.5 / 4)
    # interval [f - 1.5, f + 0.5]: 2 in [1.5, 3.5] yes, 4 in [2.5, 4.5] yes, 6 in [4.5, 6.5] yes, 8 in [5.5, 7.5] no
    assert table.loc["good", "coverage"] == pytest.approx(75.0)
