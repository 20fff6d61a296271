"""Operating limits of the feeder and what the power flow says about them: violations, envelope, hours.

Default limits follow EN 50160 (voltage within 0.9-1.1 pu of nominal) and the thermal ratings in the
network (100 % of a line's ``max_i_ka`` and of a transformer's ``sn_mva``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.grid.powerflow import PowerFlowSeries


@dataclass(frozen=True)
class GridLimits:
    """The operating limits checked on every interval.

    Attributes
    ----------
    vm_min_pu, vm_max_pu : voltage band [pu]
    line_max_percent : highest allowed line loading [% of rated current]
    trafo_max_percent : highest allowed transformer loading [% of rated power]
    """

    vm_min_pu: float = 0.9
    vm_max_pu: float = 1.1
    line_max_percent: float = 100.0
    trafo_max_percent: float = 100.0

    def __post_init__(self) -> None:
        if not 0 < self.vm_min_pu < self.vm_max_pu:
            raise ValueError(
                f"grid limits: vm_min_pu {self.vm_min_pu} and vm_max_pu {self.vm_max_pu} are not a band "
                "(expected 0 < vm_min_pu < vm_max_pu, e.g. 0.9 and 1.1)"
            )
        for name in ("line_max_percent", "trafo_max_percent"):
            if getattr(self, name) <= 0:
                raise ValueError(f"grid limits: {name} {getattr(self, name)} is not positive")


def interval_hours(index: pd.Index) -> float:
    """Length of one interval [h] of a regular time index (1 h for an index that is not a time)."""
    if isinstance(index, pd.DatetimeIndex) and len(index) > 1:
        return (index[1] - index[0]).total_seconds() / 3600.0
    return 1.0


def limit_violations(result: PowerFlowSeries, limits: GridLimits | None = None) -> pd.DataFrame:
    """Per interval: the voltage extremes, the highest loadings and which limits they break.

    Returns
    -------
    DataFrame (T rows): ``vm_min_pu``, ``vm_max_pu`` (over every bus but the slack),
    ``line_loading_max_percent``,
    ``trafo_loading_max_percent`` and the booleans ``undervoltage``, ``overvoltage``, ``line_overload``,
    ``trafo_overload``, ``any_violation``; an interval whose power flow did not converge counts as a
    violation of every kind.
    """
    limits = limits or GridLimits()
    # The slack bus is the upstream grid's, held at its set-point: the band applies to the feeder's buses.
    vm = result.vm_pu.drop(columns=[result.slack_bus]).to_numpy()
    failed = ~result.converged.to_numpy()
    out = pd.DataFrame(
        {
            "vm_min_pu": np.nanmin(vm, axis=1, initial=np.inf, where=~np.isnan(vm)),
            "vm_max_pu": np.nanmax(vm, axis=1, initial=-np.inf, where=~np.isnan(vm)),
            "line_loading_max_percent": _row_max(result.line_loading_percent.to_numpy()),
            "trafo_loading_max_percent": _row_max(result.trafo_loading_percent.to_numpy()),
        },
        index=result.index,
    )
    out.loc[failed, ["vm_min_pu", "vm_max_pu", "line_loading_max_percent", "trafo_loading_max_percent"]] = (
        np.nan
    )
    out["undervoltage"] = failed | (out["vm_min_pu"] < limits.vm_min_pu)
    out["overvoltage"] = failed | (out["vm_max_pu"] > limits.vm_max_pu)
    out["line_overload"] = failed | (out["line_loading_max_percent"] > limits.line_max_percent)
    out["trafo_overload"] = failed | (out["trafo_loading_max_percent"] > limits.trafo_max_percent)
    out["any_violation"] = out[["undervoltage", "overvoltage", "line_overload", "trafo_overload"]].any(axis=1)
    return out


def _row_max(values: np.ndarray) -> np.ndarray:
    if values.shape[1] == 0:
        return np.zeros(values.shape[0])
    return np.nanmax(np.where(np.isnan(values), -np.inf, values), axis=1)


def hours_over_limit(result: PowerFlowSeries, limits: GridLimits | None = None) -> pd.Series:
    """Hours with each kind of violation [h]: undervoltage, overvoltage, line_overload, trafo_overload, any."""
    violations = limit_violations(result, limits)
    kinds = ["undervoltage", "overvoltage", "line_overload", "trafo_overload", "any_violation"]
    return (violations[kinds].sum() * interval_hours(result.index)).rename("hours")


def voltage_envelope(result: PowerFlowSeries, freq: str | None = None) -> pd.DataFrame:
    """Lowest, mean and highest bus voltage over time [pu], optionally per period ``freq`` (e.g. "1D").

    The slack bus (the external grid's fixed voltage) is left out.
    """
    vm = result.vm_pu.drop(columns=[result.slack_bus])
    envelope = pd.DataFrame(
        {"vm_min_pu": vm.min(axis=1), "vm_mean_pu": vm.mean(axis=1), "vm_max_pu": vm.max(axis=1)}
    )
    if freq is None:
        return envelope
    grouped = envelope.resample(freq)
    return pd.DataFrame(
        {
            "vm_min_pu": grouped["vm_min_pu"].min(),
            "vm_mean_pu": grouped["vm_mean_pu"].mean(),
            "vm_max_pu": grouped["vm_max_pu"].max(),
        }
    )


def most_loaded_lines(result: PowerFlowSeries, n: int = 10, limits: GridLimits | None = None) -> pd.DataFrame:
    """The ``n`` lines with the highest peak loading.

    Returns
    -------
    DataFrame indexed by line: ``max_loading_percent``, ``p95_loading_percent``, ``mean_loading_percent``
    and ``hours_over_limit`` [h], sorted by peak loading, highest first.
    """
    limits = limits or GridLimits()
    loading = result.line_loading_percent
    table = pd.DataFrame(
        {
            "max_loading_percent": loading.max(),
            "p95_loading_percent": loading.quantile(0.95),
            "mean_loading_percent": loading.mean(),
            "hours_over_limit": (loading > limits.line_max_percent).sum() * interval_hours(result.index),
        }
    )
    return table.sort_values("max_loading_percent", ascending=False).head(n)
