"""Meter-data quality: declared readings, checks with reason codes, visible repair, reports, fault injection.

The one entry point for the drivers (live exchange, simulator) is :func:`check_readings`, which returns a
``uint32`` reason code per value and a :class:`QualityReport`; see ``docs/quality.md``.
"""

from wattmesh.quality.checks import CheckSettings, QualityReport, check_readings
from wattmesh.quality.io import MeterData, ReadingsError, read_meter_file, read_readings_table, to_meter_data
from wattmesh.quality.meter import (
    RepairLog,
    check_meter_data,
    meter_data_problems,
    regular_step,
    repair_meter_data,
)
from wattmesh.quality.repair import Repaired, repair_readings
from wattmesh.quality.schema import ESTIMATES, READINGS, REASON_BITS, REASONS, reason_names

__all__ = [
    "ESTIMATES",
    "READINGS",
    "REASONS",
    "REASON_BITS",
    "CheckSettings",
    "MeterData",
    "QualityReport",
    "ReadingsError",
    "Repaired",
    "RepairLog",
    "check_meter_data",
    "check_readings",
    "meter_data_problems",
    "read_meter_file",
    "read_readings_table",
    "reason_names",
    "regular_step",
    "repair_meter_data",
    "repair_readings",
    "to_meter_data",
]
