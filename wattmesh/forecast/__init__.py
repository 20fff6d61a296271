"""Load, solar and wind forecasters, their baselines, backtests and skill scores."""
