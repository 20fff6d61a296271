"""Meter-data quality: declared readings, checks with reason codes, visible repair, reports, fault injection.

The one entry point for the drivers (live exchange, simulator) is :func:`check_readings`, which returns a
``uint32`` reason code per value and a :class:`QualityReport`; see ``docs/quality.md``. Uploads and device
telemetry, which arrive a few values at a time, get the point checks of :func:`batch_flags` (same codes).
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
from wattmesh.quality.points import batch_flags, conflicting_duplicates, register_drops
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
    "batch_flags",
    "check_readings",
    "conflicting_duplicates",
    "meter_data_problems",
    "read_meter_file",
    "read_readings_table",
    "reason_names",
    "register_drops",
    "regular_step",
    "repair_meter_data",
    "repair_readings",
    "to_meter_data",
]
