"""Turn a simulation result into the tables users read: intervals, members, KPIs; and write them to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from wattmesh.kpi import metrics
from wattmesh.simulate.engine import CASES, SimulationResult
from wattmesh.simulate.grid_step import GridOutputs

CASE_LABELS = {"alone": "No sharing", "p2p": "P2P market", "p2p_battery": "P2P + batteries"}


def interval_table(result: SimulationResult) -> pd.DataFrame:
    """Per-interval community figures of the full case (P2P + batteries), with the no-sharing import beside."""
    full = result.full.by_interval
    alone = result.cases["alone"].by_interval
    community = result.community
    dt = community.interval_h
    return pd.DataFrame(
        {
            "consumption_kwh": full["consumption_kwh"],
            "generation_kwh": full["generation_kwh"],
            "own_use_kwh": full["own_use_kwh"],
            "local_traded_kwh": full["bought_kwh"],
            "import_kwh": full["import_kwh"],
            "export_kwh": full["export_kwh"],
            "home_battery_charge_kwh": full["home_charge_kwh"],
            "home_battery_discharge_kwh": full["home_discharge_kwh"],
            "community_battery_charge_kwh": full["community_charge_kwh"],
            "community_battery_discharge_kwh": full["community_discharge_kwh"],
            "home_battery_soc_kwh": full["home_soc_kwh"],
            "community_battery_soc_kwh": full["community_soc_kwh"],
            "ev_charging_kwh": result.ev_kw.sum(axis=1) * dt,
            "local_price_per_kwh": result.full.local_price_per_kwh,
            "retail_per_kwh": community.retail_per_kwh,
            "feed_in_per_kwh": community.feed_in_per_kwh,
            "transformer_kw": (full["import_kwh"] - full["export_kwh"]) / dt,
            "alone_import_kwh": alone["import_kwh"],
            "alone_export_kwh": alone["export_kwh"],
            "alone_transformer_kw": (alone["import_kwh"] - alone["export_kwh"]) / dt,
        },
        index=pd.Index(community.index, name="time"),
    )


def member_table(result: SimulationResult) -> pd.DataFrame:
    """Per-member energy, bills in each case and savings versus no sharing."""
    community = result.community
    members = community.members
    assets = community.assets
    full = result.full.by_member

    def asset_total(kind: str, column: str) -> np.ndarray:
        rows = assets[assets["kind"] == kind]
        return (
            rows.groupby("member_id")[column].sum().reindex(members["member_id"], fill_value=0.0).to_numpy()
        )

    consumption = full["consumption_kwh"]
    table = pd.DataFrame(
        {
            "member_id": members["member_id"],
            "kind": members["kind"],
            "bus": members["bus"],
            "pv_kw": asset_total("pv", "power_kw"),
            "wind_kw": asset_total("wind", "power_kw"),
            "battery_kwh": asset_total("battery", "capacity_kwh"),
            "ev_charger_kw": asset_total("ev", "power_kw"),
            "consumption_kwh": consumption,
            "generation_kwh": full["generation_kwh"],
            "bought_local_kwh": full["bought_kwh"],
            "sold_local_kwh": full["sold_kwh"],
            "import_kwh": full["import_kwh"],
            "export_kwh": full["export_kwh"],
            "self_sufficiency": 1.0
            - np.divide(
                full["import_kwh"], consumption, out=np.full(len(members), np.nan), where=consumption > 0
            ),
        }
    )
    for case in CASES:
        table[f"bill_{case}"] = result.cases[case].bill
    for case in ("p2p", "p2p_battery"):
        table[f"saving_{case}"] = table["bill_alone"] - table[f"bill_{case}"]
    return table


def kpi_table(result: SimulationResult) -> pd.DataFrame:
    """The community KPIs, one column per case."""
    community = result.community
    dt = community.interval_h
    people = (community.members["kind"] != "community").to_numpy()
    rows = {}
    alone_bill = result.cases["alone"].bill
    for case in CASES:
        r = result.cases[case]
        t = r.by_interval
        imported, exported = t["import_kwh"][:, None], t["export_kwh"][:, None]
        saving = (alone_bill - r.bill)[people]
        shared = case != "alone"
        kpis = {
            "self-sufficiency [%]": 100 * metrics.self_sufficiency(t["consumption_kwh"], t["import_kwh"]),
            "self-consumption [%]": 100 * metrics.self_consumption(t["generation_kwh"], t["export_kwh"]),
            "traded locally [kWh]": float(t["bought_kwh"].sum()),
            "grid import [kWh]": float(t["import_kwh"].sum()),
            "grid export [kWh]": float(t["export_kwh"].sum()),
            "peak import at transformer [kW]": metrics.peak_import_kw(imported, exported, dt),
            "peak export at transformer [kW]": metrics.peak_import_kw(exported, imported, dt),
            f"community bill [{community.currency}]": float(r.bill.sum()),
            f"members' saving vs no sharing [{community.currency}]": float(saving.sum()),
            "Gini of savings (clipped at 0)": metrics.gini(np.clip(saving, 0, None)) if shared else np.nan,
            "Jain's index of savings (clipped at 0)": metrics.jain_index(np.clip(saving, 0, None))
            if shared
            else np.nan,
            "members losing money [%]": 100 * metrics.share_losing(saving) if shared else np.nan,
        }
        if community.carbon_kg_per_kwh is not None:
            kpis["grid CO2 [kg]"] = metrics.emissions_kg(t["import_kwh"], community.carbon_kg_per_kwh)
        rows[CASE_LABELS[case]] = kpis
    return pd.DataFrame(rows)


def mechanism_table(result: SimulationResult, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Every market mechanism cleared on the same orders: the full case's positions from ``start`` to ``end``.

    Battery dispatch under the self-consumption rule does not depend on the mechanism, so the members'
    surpluses and deficits are the same whichever mechanism clears them; only prices and who trades
    with whom differ. Needs the full arrays (``simulate(..., detail=True)``).
    """
    from wattmesh.market import compare_mechanisms

    community = result.community
    full = result.full
    rows = (community.index >= start) & (community.index <= end)
    position = (
        full.detail.generation_kwh
        - full.detail.consumption_kwh
        - full.detail.charge_kwh
        + full.detail.discharge_kwh
    )[rows]
    retail, feed_in = community.retail_per_kwh[rows], community.feed_in_per_kwh[rows]
    table = compare_mechanisms(
        np.maximum(-position, 0.0),
        np.broadcast_to(retail[:, None], position.shape),
        np.maximum(position, 0.0),
        np.broadcast_to(feed_in[:, None], position.shape),
        retail,
        feed_in,
        seed=int(community.meta.get("seed", 0)),
        fee_per_kwh=community.local_fee_per_kwh,
    )
    return table.set_index("mechanism")


def write_outputs(
    result: SimulationResult,
    out: Path,
    grid: GridOutputs | None = None,
    strategies: pd.DataFrame | None = None,
    tournament: tuple[pd.DataFrame, dict] | None = None,
) -> dict[str, Path]:
    """Write trades.jsonl, intervals.parquet, members.csv, kpis.csv and report.html into ``out``."""
    from wattmesh.kpi.report import typical_week, write_report

    out.mkdir(parents=True, exist_ok=True)
    intervals = interval_table(result)
    week = typical_week(intervals).index
    mechanisms = mechanism_table(result, week[0], week[-1]) if result.full.detail is not None else None
    members = member_table(result)
    kpis = kpi_table(result)
    grid_view = None
    if grid is not None:
        members["curtailed_dso_safe_kwh"] = grid.curtailed_kwh.reindex(members["member_id"]).to_numpy()
        trafo = grid.report.trafo_loading_percent.max(axis=1)
        intervals["transformer_loading_percent"] = trafo.to_numpy()
        intervals["voltage_min_pu"] = (
            grid.report.envelope["vm_min_pu"].reindex(intervals.index, method="ffill").to_numpy()
        )
        grid_view = {
            "summary": grid.report.summary,
            "envelope": grid.report.envelope,
            "top_lines": grid.report.top_lines,
            "trafo": trafo,
            "awareness": grid.awareness,
            "vm_min_pu": grid.vm_min_pu,
            "vm_max_pu": grid.vm_max_pu,
            "outage_summary": grid.outage_summary,
            "outage_per_home": grid.outage_per_home,
            "outage_window": grid.outage_window,
            "critical_fraction": grid.critical_fraction,
        }
        if grid.outage_per_home is not None:
            hours = grid.outage_per_home[["hours_with_power_shared", "hours_with_power_alone"]]
            members = members.join(hours.add_prefix("outage_"), on="member_id")
    paths = {
        "trades": out / "trades.jsonl",
        "intervals": out / "intervals.parquet",
        "members": out / "members.csv",
        "kpis": out / "kpis.csv",
        "report": out / "report.html",
    }
    result.full.trades.to_json(paths["trades"], orient="records", lines=True)
    intervals.to_parquet(paths["intervals"])
    members.to_csv(paths["members"], index=False)
    kpis.to_csv(paths["kpis"])
    write_report(
        paths["report"],
        title=result.community.name,
        intervals=intervals,
        members=members,
        kpis=kpis,
        mechanisms=mechanisms,
        grid=grid_view,
        strategies=strategies,
        tournament=tournament,
        currency=result.community.currency,
        meta={
            "feeder": result.community.meta.get("feeder", ""),
            "seed": result.community.meta.get("seed", ""),
            "span": f"{result.community.index[0]:%Y-%m-%d %H:%M} to "
            f"{result.community.index[-1] + (result.community.index[1] - result.community.index[0]):%Y-%m-%d %H:%M} UTC",
            "members": len(result.community.members),
            "trades": len(result.full.trades),
            "market mechanism": result.mechanism,
            "home batteries and EVs": "self-consumption rule, EVs charge on arrival"
            if result.home_plan is None
            else result.home_plan.label,
            "price rule": result.price_rule,
        },
    )
    return paths


def run_manifest(scenario, result: SimulationResult, ledger) -> dict:
    """What ``manifest.json`` records of a run besides its files: the scenario's hash and values, the
    versions that ran it, the row counts and the ledger's size and root."""
    import hashlib
    import json
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return ""

    canonical = json.dumps(scenario.values, sort_keys=True, default=str).encode()
    lists = json.dumps([scenario.retail_tou, scenario.feed_in_tou, scenario.fleet], default=str).encode()
    community = result.community
    return {
        "scenario": {
            "source": scenario.source,
            "name": scenario["name"],
            "sha256": hashlib.sha256(canonical + b"\n" + lists).hexdigest(),
        },
        "versions": {
            "wattmesh": installed("wattmesh"),
            "python": platform.python_version(),
            **{name: installed(name) for name in ("numpy", "pandas", "highspy", "lightgbm", "pandapower")},
        },
        "rows": {
            "intervals": len(community.index),
            "members": len(community.members),
            "trades": len(result.full.trades),
        },
        "ledger": None
        if ledger is None
        else {"backend": ledger.backend, "entries": ledger.entries, "root": ledger.root_hex},
    }
