"""Trading strategies that turn forecasts and energy plans into orders."""
