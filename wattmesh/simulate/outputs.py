"""Turn a simulation result into the tables users read: intervals, members, KPIs; and write them to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from wattmesh.kpi import metrics
from wattmesh.simulate.engine import CASES, SimulationResult

CASE_LABELS = {"alone": "No sharing", "p2p": "P2P market", "p2p_battery": "P2P + batteries"}


def interval_table(result: SimulationResult) -> pd.DataFrame:
    """Per-interval community figures of the full case (P2P + batteries), with the no-sharing import beside."""
    full = result.full
    community = result.community
    is_community = (community.members["kind"] == "community").to_numpy()
    direct = np.minimum(full.generation_kwh, full.consumption_kwh)
    return pd.DataFrame(
        {
            "consumption_kwh": full.consumption_kwh.sum(axis=1),
            "generation_kwh": full.generation_kwh.sum(axis=1),
            "own_use_kwh": direct.sum(axis=1),
            "local_traded_kwh": full.bought_kwh.sum(axis=1),
            "import_kwh": full.import_kwh.sum(axis=1),
            "export_kwh": full.export_kwh.sum(axis=1),
            "home_battery_charge_kwh": full.charge_kwh[:, ~is_community].sum(axis=1),
            "home_battery_discharge_kwh": full.discharge_kwh[:, ~is_community].sum(axis=1),
            "community_battery_charge_kwh": full.charge_kwh[:, is_community].sum(axis=1),
            "community_battery_discharge_kwh": full.discharge_kwh[:, is_community].sum(axis=1),
            "home_battery_soc_kwh": full.soc_kwh[:, ~is_community].sum(axis=1),
            "community_battery_soc_kwh": full.soc_kwh[:, is_community].sum(axis=1),
            "ev_charging_kwh": result.ev_kw.sum(axis=1) * community.interval_h,
            "local_price_per_kwh": full.local_price_per_kwh,
            "retail_per_kwh": community.retail_per_kwh,
            "feed_in_per_kwh": community.feed_in_per_kwh,
            "transformer_kw": metrics.transformer_flow_kw(
                full.import_kwh, full.export_kwh, community.interval_h
            ),
            "alone_import_kwh": result.cases["alone"].import_kwh.sum(axis=1),
            "alone_export_kwh": result.cases["alone"].export_kwh.sum(axis=1),
            "alone_transformer_kw": metrics.transformer_flow_kw(
                result.cases["alone"].import_kwh, result.cases["alone"].export_kwh, community.interval_h
            ),
        },
        index=pd.Index(community.index, name="time"),
    )


def member_table(result: SimulationResult) -> pd.DataFrame:
    """Per-member energy, bills in each case and savings versus no sharing."""
    community = result.community
    members = community.members
    assets = community.assets
    full = result.full

    def asset_total(kind: str, column: str) -> np.ndarray:
        rows = assets[assets["kind"] == kind]
        return (
            rows.groupby("member_id")[column].sum().reindex(members["member_id"], fill_value=0.0).to_numpy()
        )

    consumption = full.consumption_kwh.sum(axis=0)
    table = pd.DataFrame(
        {
            "member_id": members["member_id"],
            "kind": members["kind"],
            "bus": members["bus"],
            "pv_kw": asset_total("pv", "power_kw"),
            "battery_kwh": asset_total("battery", "capacity_kwh"),
            "ev_charger_kw": asset_total("ev", "power_kw"),
            "consumption_kwh": consumption,
            "generation_kwh": full.generation_kwh.sum(axis=0),
            "bought_local_kwh": full.bought_kwh.sum(axis=0),
            "sold_local_kwh": full.sold_kwh.sum(axis=0),
            "import_kwh": full.import_kwh.sum(axis=0),
            "export_kwh": full.export_kwh.sum(axis=0),
            "self_sufficiency": 1.0
            - np.divide(
                full.import_kwh.sum(axis=0),
                consumption,
                out=np.full(len(members), np.nan),
                where=consumption > 0,
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
        saving = (alone_bill - r.bill)[people]
        kpis = {
            "self-sufficiency [%]": 100 * metrics.self_sufficiency(r.consumption_kwh, r.import_kwh),
            "self-consumption [%]": 100 * metrics.self_consumption(r.generation_kwh, r.export_kwh),
            "traded locally [kWh]": float(r.bought_kwh.sum()),
            "grid import [kWh]": float(r.import_kwh.sum()),
            "grid export [kWh]": float(r.export_kwh.sum()),
            "peak import at transformer [kW]": metrics.peak_import_kw(r.import_kwh, r.export_kwh, dt),
            "peak export at transformer [kW]": float(
                max(-metrics.transformer_flow_kw(r.import_kwh, r.export_kwh, dt).min(initial=0.0), 0.0)
            ),
            f"community bill [{community.currency}]": float(r.bill.sum()),
            f"members' saving vs no sharing [{community.currency}]": float(saving.sum()),
            "Gini of savings (clipped at 0)": metrics.gini(np.clip(saving, 0, None))
            if case != "alone"
            else np.nan,
            "Jain's index of savings (clipped at 0)": metrics.jain_index(np.clip(saving, 0, None))
            if case != "alone"
            else np.nan,
            "members losing money [%]": 100 * metrics.share_losing(saving) if case != "alone" else np.nan,
        }
        if community.carbon_kg_per_kwh is not None:
            kpis["grid CO2 [kg]"] = metrics.emissions_kg(r.import_kwh, community.carbon_kg_per_kwh)
        rows[CASE_LABELS[case]] = kpis
    return pd.DataFrame(rows)


def write_outputs(result: SimulationResult, out: Path) -> dict[str, Path]:
    """Write trades.jsonl, intervals.parquet, members.csv, kpis.csv and report.html into ``out``."""
    from wattmesh.kpi.report import write_report

    out.mkdir(parents=True, exist_ok=True)
    intervals = interval_table(result)
    members = member_table(result)
    kpis = kpi_table(result)
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
        currency=result.community.currency,
        meta={
            **result.community.meta,
            "span": f"{result.community.index[0]:%Y-%m-%d %H:%M} to "
            f"{result.community.index[-1] + (result.community.index[1] - result.community.index[0]):%Y-%m-%d %H:%M} UTC",
            "members": len(result.community.members),
            "trades": len(result.full.trades),
            "price rule": result.price_rule,
        },
    )
    return paths
