"""The feeder as an electrical network: power flow, limits, network-aware fees, islanding.

Heavy libraries (pandapower, lightsim2grid) are imported inside the functions that need them.
"""

from wattmesh.grid.assess import (
    GridReport,
    dso_safe_delivery,
    grid_report,
    grid_summary,
    member_power_flow,
    network_awareness_comparison,
)
from wattmesh.grid.curtailment import CurtailmentResult, curtail_trades, member_curtailment_kwh
from wattmesh.grid.islanding import (
    IslandResult,
    island_dispatch,
    outage_comparison,
    outage_mask,
    resilience_kpis,
)
from wattmesh.grid.limits import (
    GridLimits,
    hours_over_limit,
    limit_violations,
    most_loaded_lines,
    voltage_envelope,
)
from wattmesh.grid.network import (
    FeederModel,
    bus_injection_kw,
    feeder_model,
    load_network,
    simbench_bus_injection_kw,
)
from wattmesh.grid.powerflow import PowerFlowSeries, power_flow_series
from wattmesh.grid.sensitivity import (
    bus_distance_matrix,
    grid_fee_per_kwh,
    member_fee_matrix_per_kwh,
    ptdf_matrix,
    voltage_sensitivity_pu_per_kw,
)

__all__ = [
    "GridReport",
    "dso_safe_delivery",
    "grid_report",
    "grid_summary",
    "member_power_flow",
    "network_awareness_comparison",
    "CurtailmentResult",
    "FeederModel",
    "GridLimits",
    "IslandResult",
    "PowerFlowSeries",
    "bus_distance_matrix",
    "bus_injection_kw",
    "curtail_trades",
    "feeder_model",
    "grid_fee_per_kwh",
    "hours_over_limit",
    "island_dispatch",
    "limit_violations",
    "load_network",
    "member_curtailment_kwh",
    "member_fee_matrix_per_kwh",
    "most_loaded_lines",
    "outage_comparison",
    "outage_mask",
    "power_flow_series",
    "ptdf_matrix",
    "resilience_kpis",
    "simbench_bus_injection_kw",
    "voltage_envelope",
    "voltage_sensitivity_pu_per_kw",
]
