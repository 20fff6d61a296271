"""The feeder as an electrical network: power flow, limits, network-aware fees, islanding.

The public names below are loaded on first use, so that ``wattmesh --help`` does not import numpy and
pandas through this package; pandapower and lightsim2grid are imported only inside the functions that
need them.
"""

from __future__ import annotations

import importlib

_MODULE_OF = {
    "FeederAssessment": "assess",
    "GridReport": "assess",
    "assess_feeder": "assess",
    "dso_safe_delivery": "assess",
    "grid_report": "assess",
    "grid_summary": "assess",
    "member_power_flow": "assess",
    "network_awareness_comparison": "assess",
    "CurtailmentResult": "curtailment",
    "curtail_trades": "curtailment",
    "member_curtailment_kwh": "curtailment",
    "IslandResult": "islanding",
    "island_dispatch": "islanding",
    "outage_comparison": "islanding",
    "outage_mask": "islanding",
    "resilience_kpis": "islanding",
    "GridLimits": "limits",
    "hours_over_limit": "limits",
    "limit_violations": "limits",
    "most_loaded_lines": "limits",
    "voltage_envelope": "limits",
    "FeederModel": "network",
    "bus_injection_kw": "network",
    "feeder_model": "network",
    "load_network": "network",
    "simbench_bus_injection_kw": "network",
    "PowerFlowSeries": "powerflow",
    "power_flow_series": "powerflow",
    "bus_distance_matrix": "sensitivity",
    "grid_fee_per_kwh": "sensitivity",
    "member_fee_matrix_per_kwh": "sensitivity",
    "ptdf_matrix": "sensitivity",
    "voltage_sensitivity_pu_per_kw": "sensitivity",
}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'wattmesh.grid' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"wattmesh.grid.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
