"""Meter-data validation and repair."""
