"""Asset health: PV expected-vs-actual, battery state of health, transformer ageing.

One entry function per asset type, each returning a declared result type:
`assess_pv` -> `PVHealthResult`, `assess_battery` -> `BatteryHealthResult`,
`assess_transformer` -> `TransformerAgeingResult`. Bad input raises `MaintenanceInputError`.
"""

from wattmesh.maintenance.battery import BatteryHealthResult, assess_battery
from wattmesh.maintenance.data import PVSystemSpec
from wattmesh.maintenance.pv import (
    DegradationResult,
    MaintenanceInputError,
    PVAlarm,
    PVDetectionConfig,
    PVHealthResult,
    assess_pv,
)
from wattmesh.maintenance.transformer import TransformerAgeingResult, assess_transformer, compare_loadings

__all__ = [
    "BatteryHealthResult",
    "DegradationResult",
    "MaintenanceInputError",
    "PVAlarm",
    "PVDetectionConfig",
    "PVHealthResult",
    "PVSystemSpec",
    "TransformerAgeingResult",
    "assess_battery",
    "assess_pv",
    "assess_transformer",
    "compare_loadings",
]
