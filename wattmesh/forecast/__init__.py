"""Load, solar and wind forecasters, their baselines, backtests and skill scores.

Import cost is light: LightGBM and pvlib are imported only when a model is fitted or the clear sky is
computed.
"""

from wattmesh.forecast.features import FONTANA, GOLDEN, Site
from wattmesh.forecast.gbm import Forecast, GradientBoostingForecaster

__all__ = ["FONTANA", "GOLDEN", "Forecast", "GradientBoostingForecaster", "Site"]
