"""Battery parameters for the planners: the declared table, its validation, and one-step battery physics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wattmesh.tables import Column, TableSchema

PLAN_BATTERIES = TableSchema(
    "battery",
    "battery_id",
    (
        Column(
            "battery_id",
            "str",
            "-",
            "name of the battery, used in messages (default: row number)",
            default="",
        ),
        Column("capacity_kwh", "float", "kWh", "usable energy capacity", required=True),
        Column("power_kw", "float", "kW", "charge and discharge power limit (meter side)", required=True),
        Column("efficiency", "float", "-", "round-trip efficiency, split evenly as sqrt", default=0.9),
        Column("soc_kwh", "float", "kWh", "state of charge now, at the start of the plan", default=0.0),
        Column("soc_min_fraction", "float", "-", "lowest state of charge allowed, of capacity", default=0.0),
        Column("soc_max_fraction", "float", "-", "highest state of charge allowed, of capacity", default=1.0),
    ),
)


def member_batteries(assets: pd.DataFrame, member_ids: list[str] | pd.Index) -> pd.DataFrame:
    """One planner battery per member from an assets table (``wattmesh.community.model.ASSETS``).

    A member's battery assets are pooled: capacities and powers add up, the efficiency is their
    capacity-weighted mean and the state of charge is ``soc_initial`` times capacity; members without a
    battery get an empty one (capacity and power 0).

    Parameters
    ----------
    assets : asset_id, member_id, kind, power_kw, capacity_kwh, efficiency, soc_initial
    member_ids : the members, in column order
    """
    members = pd.Index([str(m) for m in member_ids])
    bats = assets[assets["kind"] == "battery"]
    capacity = bats["capacity_kwh"].astype(float)
    grouped = (
        pd.DataFrame(
            {
                "member_id": bats["member_id"].astype(str),
                "capacity_kwh": capacity,
                "power_kw": bats["power_kw"].astype(float),
                "weighted_efficiency": bats["efficiency"].astype(float) * capacity,
                "soc_kwh": bats["soc_initial"].astype(float) * capacity,
            }
        )
        .groupby("member_id")
        .sum()
    )
    table = grouped.reindex(members).fillna(0.0)
    efficiency = np.where(
        table["capacity_kwh"] > 0,
        table["weighted_efficiency"] / table["capacity_kwh"].where(table["capacity_kwh"] > 0, 1),
        0.9,
    )
    return pd.DataFrame(
        {
            "battery_id": members,
            "capacity_kwh": table["capacity_kwh"].to_numpy(),
            "power_kw": table["power_kw"].to_numpy(),
            "efficiency": efficiency,
            "soc_kwh": table["soc_kwh"].to_numpy(),
        }
    )


def no_batteries(n_members: int) -> pd.DataFrame:
    """A battery table of ``n_members`` empty batteries (capacity and power 0), for homes without one."""
    return pd.DataFrame(
        {
            "battery_id": [f"none_{i}" for i in range(n_members)],
            "capacity_kwh": np.zeros(n_members),
            "power_kw": np.zeros(n_members),
        }
    )


def validate_batteries(batteries: pd.DataFrame) -> pd.DataFrame:
    """``batteries`` with defaults filled in, or a ValueError naming every impossible parameter.

    Parameters
    ----------
    batteries : one row per member, in member order, with the columns of ``PLAN_BATTERIES``
        (``battery_id`` may be omitted: the row number is used)

    Raises
    ------
    ValueError
        e.g. ``battery 'b7': efficiency 1.2 is above 1``; also for a negative capacity or power, a state of
        charge outside [0, capacity] or limits with soc_min_fraction > soc_max_fraction.
    """
    n = len(batteries)
    numeric = [col.name for col in PLAN_BATTERIES.columns if col.dtype == "float"]
    if (
        list(batteries.columns) == ["battery_id", *numeric]
        and (batteries.dtypes[numeric] == np.float64).all()
    ):
        # already a validated table (a planner re-plans the same batteries every interval): checked, not
        # rebuilt
        values = batteries[numeric].to_numpy()
        if not _impossible(values).any():
            return batteries
    if "battery_id" in batteries.columns:
        ids = batteries["battery_id"].astype(str).to_numpy()
    else:
        ids = np.array([str(i) for i in range(n)], dtype=object)
    columns = {}
    for col in PLAN_BATTERIES.columns:
        if col.dtype != "float":
            continue
        if col.name not in batteries.columns:
            if col.required:
                raise ValueError(f"battery: required column {col.name!r} is missing")
            columns[col.name] = np.full(n, float(col.default))
            continue
        try:
            columns[col.name] = batteries[col.name].to_numpy(dtype=float)
        except (TypeError, ValueError):
            table = batteries.assign(battery_id=ids)
            raise ValueError("\n".join(PLAN_BATTERIES.problems(table))) from None
    table = pd.DataFrame({"battery_id": ids, **columns})
    values = np.column_stack([columns[name] for name in numeric]) if n else np.zeros((0, len(numeric)))
    bad = _impossible(values)
    if not bad.any():
        return table
    problems = []
    for row in table[bad].itertuples(index=False):
        name = f"battery {row.battery_id!r}"
        for field in numeric:
            if not np.isfinite(getattr(row, field)):
                problems.append(f"{name}: {field} {getattr(row, field)!r} is not a finite number")
        if row.capacity_kwh < 0:
            problems.append(f"{name}: capacity_kwh {row.capacity_kwh:g} is below 0 (expected >= 0)")
        if row.power_kw < 0:
            problems.append(f"{name}: power_kw {row.power_kw:g} is below 0 (expected >= 0)")
        if row.efficiency > 1:
            problems.append(f"{name}: efficiency {row.efficiency:g} is above 1")
        if row.efficiency <= 0:
            problems.append(f"{name}: efficiency {row.efficiency:g} is not above 0 (expected 0 < eff <= 1)")
        if not 0 <= row.soc_min_fraction <= row.soc_max_fraction <= 1:
            problems.append(
                f"{name}: soc limits {row.soc_min_fraction:g}..{row.soc_max_fraction:g} "
                "are not 0 <= soc_min_fraction <= soc_max_fraction <= 1"
            )
        if not -1e-9 <= row.soc_kwh <= max(row.capacity_kwh, 0) + 1e-9:
            problems.append(f"{name}: soc_kwh {row.soc_kwh:g} is outside 0..{row.capacity_kwh:g} (capacity)")
    raise ValueError("\n".join(problems))


def _impossible(values: np.ndarray) -> np.ndarray:
    """(N,) which rows of (N, 6) capacity, power, efficiency, soc, soc_min_fraction, soc_max_fraction
    (``PLAN_BATTERIES``' numeric columns in order) are impossible batteries."""
    capacity, power, efficiency, soc, soc_min, soc_max = values.T
    return (
        ~np.isfinite(values).all(axis=1)
        | (capacity < 0)
        | (power < 0)
        | (efficiency > 1)
        | (efficiency <= 0)
        | ~((0 <= soc_min) & (soc_min <= soc_max) & (soc_max <= 1))
        | (soc < -1e-9)
        | (soc > np.maximum(capacity, 0) + 1e-9)
    )


def apply_battery_kw(
    charge_kw: np.ndarray,
    discharge_kw: np.ndarray,
    soc_kwh: np.ndarray,
    capacity_kwh: np.ndarray,
    power_kw: np.ndarray,
    efficiency: np.ndarray,
    interval_h: float,
    soc_min_kwh: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply charge/discharge set-points for one interval within the battery's limits.

    Parameters
    ----------
    charge_kw, discharge_kw : (M,) requested power on the meter side [kW]
    soc_kwh : (M,) state of charge at the start [kWh]
    capacity_kwh, power_kw, efficiency : (M,) battery parameters [kWh], [kW], round trip [-]
    interval_h : interval length [h]
    soc_min_kwh : lowest allowed state of charge [kWh]

    Returns
    -------
    charge_kw, discharge_kw, soc_kwh : what was done and the state of charge at the end

    Notes
    -----
    One-way efficiency is sqrt(round trip), as in ``wattmesh.energy.rules.battery_step``.
    """
    eta = np.sqrt(efficiency)
    charge = np.clip(charge_kw, 0.0, power_kw)
    charge = np.minimum(charge, np.maximum(capacity_kwh - soc_kwh, 0.0) / (eta * interval_h))
    discharge = np.clip(discharge_kw, 0.0, power_kw)
    discharge = np.minimum(discharge, np.maximum(soc_kwh - soc_min_kwh, 0.0) * eta / interval_h)
    soc = soc_kwh + (charge * eta - discharge / eta) * interval_h
    return charge, discharge, np.clip(soc, 0.0, capacity_kwh)
