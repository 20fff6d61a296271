"""Meter-data validation and repair."""

from wattmesh.quality.meter import (
    RepairLog,
    check_meter_data,
    meter_data_problems,
    regular_step,
    repair_meter_data,
)

__all__ = ["RepairLog", "check_meter_data", "meter_data_problems", "regular_step", "repair_meter_data"]
