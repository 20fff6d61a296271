"""Turn a simulation result into the tables users read: intervals, members, KPIs; and write them to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from wattmesh.kpi import metrics
from wattmesh.simulate.engine import CASES, SimulationResult
from wattmesh.simulate.grid_step import GridOutputs

CASE_LABELS = {"alone": "No sharing", "p2p": "P2P market", "p2p_battery": "P2P + batteries"}
#: Decimals each unit is written with: Wh for energy, W for power, cents for money, 0.1 % for shares.
DECIMALS = {"kwh": 3, "kw": 3, "kwp": 3, "percent": 1, "pu": 4, "h": 2, "per_kwh": 4, "money": 2}


def money_suffix(currency: str) -> str:
    """The column-name suffix of amounts of money, the currency code in lower case (``eur``)."""
    return currency.strip().lower() or "currency"


def interval_table(result: SimulationResult) -> pd.DataFrame:
    """Per-interval community figures of the full case (P2P + batteries), with the no-sharing import beside.

    Index ``time``: the interval start (UTC). Prices carry the currency in their name
    (``retail_eur_per_kwh``); see ``docs/outputs.md`` for every column.
    """
    full = result.full.by_interval
    alone = result.cases["alone"].by_interval
    community = result.community
    dt = community.interval_h
    cur = money_suffix(community.currency)
    # The full case's EVs follow the plan when there is one (the other cases charge on arrival).
    ev_kw = result.ev_kw if result.home_plan is None else result.home_plan.ev_kw
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
            "ev_charging_kwh": ev_kw.sum(axis=1) * dt,
            f"local_price_{cur}_per_kwh": result.full.local_price_per_kwh,
            f"retail_{cur}_per_kwh": community.retail_per_kwh,
            f"feed_in_{cur}_per_kwh": community.feed_in_per_kwh,
            "transformer_kw": (full["import_kwh"] - full["export_kwh"]) / dt,
            "alone_import_kwh": alone["import_kwh"],
            "alone_export_kwh": alone["export_kwh"],
            "alone_transformer_kw": (alone["import_kwh"] - alone["export_kwh"]) / dt,
        },
        index=pd.Index(community.index, name="time"),
    )


def asset_groups(pv_kwp: np.ndarray, battery_kwh: np.ndarray, is_community: np.ndarray) -> np.ndarray:
    """(M,) each member's group (a key of :data:`wattmesh.kpi.report.GROUP_LABELS`, or ``community``) by its PV and battery."""
    has_pv, has_battery = np.asarray(pv_kwp) > 0, np.asarray(battery_kwh) > 0
    group = np.select(
        [is_community, has_pv & has_battery, has_pv, has_battery],
        ["community", "pv_battery", "pv", "battery"],
        default="neither",
    )
    return group.astype(object)


def member_table(result: SimulationResult) -> pd.DataFrame:
    """Per-member energy, bills in each case and savings versus no sharing, in the scenario's currency.

    Bills and savings are named with the currency (``bill_alone_eur``), self-sufficiency is a percentage,
    as in the KPI table; the community battery is a row of its own (kind ``community``).
    """
    community = result.community
    members = community.members
    assets = community.assets
    full = result.full.by_member
    cur = money_suffix(community.currency)

    def asset_total(kind: str, column: str) -> np.ndarray:
        rows = assets[assets["kind"] == kind]
        return (
            rows.groupby("member_id")[column].sum().reindex(members["member_id"], fill_value=0.0).to_numpy()
        )

    consumption = full["consumption_kwh"]
    pv_kwp = asset_total("pv", "power_kw")
    battery_kwh = asset_total("battery", "capacity_kwh")
    is_community = (members["kind"] == "community").to_numpy()
    table = pd.DataFrame(
        {
            "member_id": members["member_id"],
            "kind": members["kind"],
            "asset_group": asset_groups(pv_kwp, battery_kwh, is_community),
            "bus": members["bus"],
            "pv_kwp": pv_kwp,
            "wind_kw": asset_total("wind", "power_kw"),
            "battery_kwh": battery_kwh,
            "battery_kw": asset_total("battery", "power_kw"),
            "ev_charger_kw": asset_total("ev", "power_kw"),
            "consumption_kwh": consumption,
            "generation_kwh": full["generation_kwh"],
            "bought_local_kwh": full["bought_kwh"],
            "sold_local_kwh": full["sold_kwh"],
            "import_kwh": full["import_kwh"],
            "export_kwh": full["export_kwh"],
            "self_sufficiency_percent": 100.0
            * (
                1.0
                - np.divide(
                    full["import_kwh"], consumption, out=np.full(len(members), np.nan), where=consumption > 0
                )
            ),
        }
    )
    for case in CASES:
        table[f"bill_{case}_{cur}"] = result.cases[case].bill
    for case in ("p2p", "p2p_battery"):
        table[f"saving_{case}_{cur}"] = table[f"bill_alone_{cur}"] - table[f"bill_{case}_{cur}"]
    return table


def kpi_table(result: SimulationResult) -> pd.DataFrame:
    """The community KPIs, one column per case.

    The fairness KPIs are over every participant: households, businesses and the community's own assets
    (the community battery), so an asset that loses money counts among the members losing money.
    """
    community = result.community
    dt = community.interval_h
    rows = {}
    alone_bill = result.cases["alone"].bill
    for case in CASES:
        r = result.cases[case]
        t = r.by_interval
        imported, exported = t["import_kwh"][:, None], t["export_kwh"][:, None]
        saving = alone_bill - r.bill
        people = (community.members["kind"] != "community").to_numpy()
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
            f"members' saving vs no sharing [{community.currency}]": float(saving[people].sum()),
            "Gini of savings (clipped at 0)": metrics.gini(np.clip(saving[people], 0, None))
            if shared
            else np.nan,
            "Jain's index of savings (clipped at 0)": metrics.jain_index(np.clip(saving[people], 0, None))
            if shared
            else np.nan,
            "members losing money [%]": 100 * metrics.share_losing(saving) if shared else np.nan,
        }
        if community.carbon_kg_per_kwh is not None:
            kpis["grid CO2 [kg]"] = metrics.emissions_kg(t["import_kwh"], community.carbon_kg_per_kwh)
        rows[CASE_LABELS[case]] = kpis
    return pd.DataFrame(rows)


def community_asset_table(result: SimulationResult) -> pd.DataFrame:
    """The community's own assets (the community battery), one row each: energy and money over the span.

    Columns: ``charged_kwh`` and ``discharged_kwh`` at its meter, ``paid_{cur}`` for the energy it charged
    (local price and grid fee, or retail), ``earned_{cur}`` for what it discharged, ``grid_fees_{cur}``
    within ``paid``, ``net_result_{cur}`` = earned - paid (negative: it loses money), and
    The members' savings with and without it are in ``members.csv`` (its row is ``kind == community``).
    """
    community = result.community
    cur = money_suffix(community.currency)
    is_community = (community.members["kind"] == "community").to_numpy()
    full = result.full.by_member
    battery = community.storage_by_member("battery")
    paid = full["paid_local"] + full["paid_utility"]
    earned = full["received_local"] + full["received_utility"]
    table = pd.DataFrame(
        {
            "member_id": community.members["member_id"].to_numpy()[is_community],
            "capacity_kwh": battery["capacity_kwh"][is_community],
            "power_kw": battery["power_kw"][is_community],
            "charged_kwh": full["charge_kwh"][is_community],
            "discharged_kwh": full["discharge_kwh"][is_community],
            f"paid_{cur}": paid[is_community],
            f"earned_{cur}": earned[is_community],
            f"grid_fees_{cur}": full["fee_paid"][is_community],
            f"net_result_{cur}": (earned - paid)[is_community],
        }
    )
    return table


def rounded(table: pd.DataFrame, currency: str) -> pd.DataFrame:
    """``table`` with each numeric column rounded to what its unit means (:data:`DECIMALS`).

    The unit is read off the column name's suffix: ``_kwh`` to the Wh, ``_kw`` to the W, money
    (``_{currency}``) to the cent, ``_percent`` to 0.1 %, ``_pu`` to 1e-4, ``_h`` to 0.01 h and prices
    (``_per_kwh``) to 1e-4 currency/kWh; tiny float residues such as 6e-15 become 0.
    """
    cur = money_suffix(currency)
    out = table.copy()
    for column in out.columns:
        if not pd.api.types.is_float_dtype(out[column]):
            continue
        name = str(column)
        if name.endswith("_per_kwh"):
            decimals = DECIMALS["per_kwh"]
        elif name.endswith(f"_{cur}"):
            decimals = DECIMALS["money"]
        else:
            decimals = DECIMALS.get(name.rsplit("_", 1)[-1], 6)
        out[column] = out[column].round(decimals) + 0.0
    return out


def kpi_file_table(kpis: pd.DataFrame) -> pd.DataFrame:
    """The KPI table as written to kpis.csv: a ``kpi`` column first, then one column per case, rounded
    (fairness indices to 0.001, everything else to 0.1 of its unit; kWh and money to the Wh and cent)."""
    out = kpis.copy()
    for name in out.index:
        if name.startswith(("Gini", "Jain")):
            decimals = 3
        elif "[%]" in name or name.endswith("[kW]"):
            decimals = 1 if "[%]" in name else 3
        else:
            decimals = 3 if "[kWh]" in name or "[kg]" in name else 2
        out.loc[name] = out.loc[name].astype(float).round(decimals) + 0.0
    return out.rename_axis("kpi").reset_index()


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


#: What the report's fair-access section shows when the scenario asks for no rule of its own.
ILLUSTRATED_FAIRNESS = ("equal", 20.0)


def local_premium(result: SimulationResult) -> np.ndarray:
    """(M,) what each member received for energy sold locally above its feed-in value [currency]."""
    full = result.full
    feed_in = result.community.feed_in_per_kwh
    if full.detail is not None:
        feed_in_value = full.detail.sold_kwh.T @ feed_in
    else:
        feed_in_value = full.by_member["sold_kwh"] * float(np.mean(feed_in))
    return full.by_member["received_local"] - feed_in_value


def fair_access_table(
    result: SimulationResult, members: pd.DataFrame, battery_share: str, solidarity_percent: float
) -> tuple[pd.DataFrame, np.ndarray]:
    """Who gains, as run and under a fair-access rule; and the rule's transfers per member [currency].

    Rows: the households' saving (sum and means for households without PV, with PV, and the quarter that
    consumes least), Gini and Jain's index of the households' savings (clipped at 0), the community
    battery's net result, and the community's welfare (its total bill; a transfer leaves it unchanged).
    """
    cur = money_suffix(result.community.currency)
    is_community = (members["kind"] == "community").to_numpy()
    households = ~is_community
    has_pv = (members["pv_kwp"] > 0).to_numpy()
    asset_result = np.where(is_community, -result.full.bill, 0.0)
    transfers = metrics.fair_access_transfers(
        households,
        households & ~has_pv,
        asset_result,
        local_premium(result),
        battery_share,
        solidarity_percent,
    )
    consumption = members["consumption_kwh"].to_numpy()
    low = households & (consumption <= np.quantile(consumption[households], 0.25))
    bill_alone = members[f"bill_alone_{cur}"].to_numpy()
    columns = {}
    for label, bill in (
        ("as run (P2P + batteries)", result.full.bill),
        ("with the fair-access rule", result.full.bill - transfers),
    ):
        saving = bill_alone - bill
        kept = np.clip(saving[households], 0, None)
        columns[label] = {
            f"households' saving, total [{cur.upper()}]": saving[households].sum(),
            f"mean saving, households without PV [{cur.upper()}]": saving[households & ~has_pv].mean(),
            f"mean saving, households with PV [{cur.upper()}]": saving[households & has_pv].mean(),
            f"mean saving, lowest-consuming quarter [{cur.upper()}]": saving[low].mean(),
            "Gini of households' savings": metrics.gini(kept),
            "Jain's index of households' savings": metrics.jain_index(kept),
            f"community assets' net result [{cur.upper()}]": (-bill[is_community]).sum(),
            f"community welfare: total bill [{cur.upper()}]": bill.sum(),
        }
    return pd.DataFrame(columns), transfers


#: Hours of the report's demand-response figures either side of each event's window.
EVENT_MARGIN_H = 3.0


def _event_net_kw(result: SimulationResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The planned homes' mask and their net import [kW] (T, planned) with the plan (the full case: the
    plan's batteries and EVs) and without it (the ``p2p`` case: no batteries, EVs charging on arrival)."""
    community, plan = result.community, result.home_plan
    planned = plan.planned
    own = community.load_kw - community.generation_kw
    with_plan = own + plan.ev_kw + plan.charge_kw - plan.discharge_kw
    without = own + result.ev_kw
    return planned, with_plan[:, planned], without[:, planned]


def dr_event_table(result: SimulationResult) -> pd.DataFrame | None:
    """The demand-response events the planner was asked to honour, one row each: what each asked, its
    cap, and the capped import with the plan (case ``p2p_battery``) and without it (case ``p2p``); None
    where the run had no events. Columns: see :func:`wattmesh.energy.events.event_outcomes` and
    ``docs/outputs.md`` (dr_events.csv)."""
    from wattmesh.energy.events import event_outcomes

    plan = result.home_plan
    if plan is None or plan.events is None:
        return None
    planned, with_plan, without = _event_net_kw(result)
    community = result.community
    ids = list(community.member_ids[planned])
    return event_outcomes(
        plan.events, community.index, ids, plan.expected_import_kw[:, planned], with_plan, without
    )


def dr_event_windows(result: SimulationResult, margin_h: float = EVENT_MARGIN_H) -> dict[str, pd.DataFrame]:
    """Per event id, the capped import [kW] over its window and ``margin_h`` either side (within the span):
    columns ``plan_kw`` (case ``p2p_battery``), ``no_plan_kw`` (case ``p2p``) and ``cap_kw`` (the event's
    own cap, NaN outside its window), indexed by the UTC interval start. Events outside the span are left
    out; empty where the run had no events."""
    from wattmesh.energy.events import capped_import_kw, event_caps

    plan = result.home_plan
    if plan is None or plan.events is None:
        return {}
    planned, with_plan, without = _event_net_kw(result)
    community = result.community
    index = community.index
    ids = list(community.member_ids[planned])
    expected = plan.expected_import_kw[:, planned]
    margin = pd.Timedelta(hours=margin_h)
    windows = {}
    for i, event in enumerate(plan.events.itertuples(index=False)):
        home_cap, community_cap = event_caps(plan.events.iloc[[i]], index, ids, expected)
        cap = home_cap[:, ids.index(event.member_id)] if event.member_id else community_cap
        if not np.isfinite(cap).any():
            continue
        rows = (index >= event.start - margin) & (index < event.end + margin)
        windows[event.event_id] = pd.DataFrame(
            {
                "plan_kw": capped_import_kw(event.member_id, ids, with_plan)[rows],
                "no_plan_kw": capped_import_kw(event.member_id, ids, without)[rows],
                "cap_kw": cap[rows],
            },
            index=pd.Index(index[rows], name="time"),
        )
    return windows


def write_outputs(
    result: SimulationResult,
    out: Path,
    grid: GridOutputs | None = None,
    strategies: pd.DataFrame | None = None,
    tournament: tuple[pd.DataFrame, dict] | None = None,
    fairness: tuple[str, float] = ("community", 0.0),
    health=None,
) -> dict[str, Path]:
    """Write trades.jsonl, intervals.parquet and .csv, members.csv, kpis.csv, community_assets.csv and
    report.html into ``out``; every column is defined in ``docs/outputs.md``.

    ``fairness`` is the scenario's fair-access rule (``fairness.battery_share``,
    ``fairness.solidarity_percent``): when it moves money, members.csv gets the transfers and the bill
    after them. With ``health`` (:class:`wattmesh.maintenance.community.CommunityHealth`) pv_alarms.csv
    (and faults.csv where faults were injected) and the report's equipment-health section. Where the
    planner had demand-response events (``result.home_plan.events``), dr_events.csv
    (:func:`dr_event_table`) and the report's demand-response section.
    """
    from wattmesh.kpi.report import typical_week, write_report

    out.mkdir(parents=True, exist_ok=True)
    community = result.community
    cur = money_suffix(community.currency)
    intervals = interval_table(result)
    week = typical_week(intervals).index
    mechanisms = mechanism_table(result, week[0], week[-1]) if result.full.detail is not None else None
    members = member_table(result)
    kpis = kpi_table(result)
    assets = community_asset_table(result)
    is_rule = fairness[0] != "community" or fairness[1] > 0
    fair, transfers = fair_access_table(result, members, *(fairness if is_rule else ILLUSTRATED_FAIRNESS))
    if is_rule:
        members[f"fair_access_transfer_{cur}"] = transfers
        members[f"bill_after_transfer_{cur}"] = members[f"bill_p2p_battery_{cur}"] - transfers
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
            hours = hours.rename(columns=lambda c: c.replace("hours_with_power", "outage_powered") + "_h")
            members = members.join(hours, on="member_id")
    paths = {
        "trades": out / "trades.jsonl",
        "intervals": out / "intervals.parquet",
        "intervals_csv": out / "intervals.csv",
        "members": out / "members.csv",
        "kpis": out / "kpis.csv",
        "community_assets": out / "community_assets.csv",
        "report": out / "report.html",
    }
    result.full.trades.to_json(paths["trades"], orient="records", lines=True)
    intervals_out = rounded(intervals, community.currency)
    intervals_out.to_parquet(paths["intervals"])
    intervals_out.to_csv(paths["intervals_csv"], date_format="%Y-%m-%dT%H:%M:%SZ")
    rounded(members, community.currency).to_csv(paths["members"], index=False)
    kpi_file_table(kpis).to_csv(paths["kpis"], index=False)
    rounded(assets, community.currency).to_csv(paths["community_assets"], index=False)
    dr_events = dr_event_table(result)
    if dr_events is not None:
        paths["dr_events"] = out / "dr_events.csv"
        rounded(dr_events, community.currency).to_csv(
            paths["dr_events"], index=False, date_format="%Y-%m-%dT%H:%M:%SZ"
        )
    if health is not None:
        paths["pv_alarms"] = out / "pv_alarms.csv"
        health.alarms.round(3).to_csv(paths["pv_alarms"], index=False, date_format="%Y-%m-%d")
        if len(health.faults):
            paths["faults"] = out / "faults.csv"
            health.faults.round(3).to_csv(paths["faults"], index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    step = community.index[1] - community.index[0]
    write_report(
        paths["report"],
        title=community.name,
        intervals=intervals,
        members=members,
        kpis=kpis,
        mechanisms=mechanisms,
        grid=grid_view,
        strategies=strategies,
        tournament=tournament,
        currency=community.currency,
        timezone=community.meta.get("timezone", "UTC"),
        assets=assets,
        fairness=(fair, fairness if is_rule else ILLUSTRATED_FAIRNESS, is_rule),
        health=health,
        dr_events=None if dr_events is None else (dr_events, dr_event_windows(result)),
        meta={
            "feeder": community.meta.get("feeder", ""),
            "seed": community.meta.get("seed", ""),
            "span": f"{community.index[0]:%Y-%m-%d %H:%M} to {community.index[-1] + step:%Y-%m-%d %H:%M} UTC",
            "members": len(community.members),
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
    sections = [scenario.retail_tou, scenario.feed_in_tou, scenario.fleet] + (
        [scenario.faults] if scenario.faults else []
    )
    lists = json.dumps(sections, default=str).encode()
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
