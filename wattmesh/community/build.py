"""Build a :class:`Community` from a validated scenario: members at their buses, assets, profiles, tariffs.

Rules (SimBench feeders):
- every household load (profile ``H0-*``) is a member of kind household, every commercial load (``G*``)
  one of kind business, at its bus;
- heat pumps (``Air_*``, ``Soil_*``), EV chargers (``*LS_*``), PV (static generators) and SimBench's
  storages belong to the first member at their bus; where no member is at that bus, a member of kind
  ``other`` is made for it;
- heat-pump load is added to its member's inflexible load; EV charging becomes sessions (each run of
  non-zero charging in SimBench's profile is one session: arrival at its start, departure at its end,
  the energy of the run), dispatched later by a charging rule;
- the community battery, when the scenario has one, is a member of kind ``community`` at the
  transformer's LV bus;
- the scenario's ``[[fleet]]`` entries add PV, batteries or small wind turbines to drawn (seeded)
  households that have none of that kind yet; their PV and wind output joins the members' generation.

A co-op's own files (``feeder.source = "files"``) give the members, assets, loads and generation instead
(:mod:`wattmesh.community.files`); the fleet, the community battery, the tariffs and the span are then
added by the same code as for SimBench.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from wattmesh.community.files import files_parts
from wattmesh.community.model import ASSETS, EV_SESSIONS, MEMBERS, Community, CommunityParts
from wattmesh.community.scenario import Scenario
from wattmesh.community.simbench_source import FeederData, load_feeder
from wattmesh.community.tariffs import tou_price_series
from wattmesh.community.variety import load_variety
from wattmesh.community.wind import TRY_REGION, turbine_series_kw

COMMUNITY_BATTERY_ID = "community_battery"
#: Profile name of fleet wind turbines: the DWD test reference year's wind of the region they stand in.
WIND_PROFILE = f"dwd_try2010_{TRY_REGION:02d}"


def build_community(scenario: Scenario, feeder: FeederData | None = None) -> Community:
    """The community the scenario describes, over the scenario's time span.

    The feeder source gives the members, their assets, loads and generation (:func:`simbench_parts`, or
    :func:`wattmesh.community.files.files_parts` for ``feeder.source = "files"``); every source then gets the
    same fleet, community battery, tariffs, span and market interval (:func:`community_of`).
    """
    rng = np.random.default_rng(scenario["seed"])
    if scenario["feeder.source"] == "files":
        parts = files_parts(scenario)
    else:
        parts = simbench_parts(
            scenario, feeder if feeder is not None else load_feeder(scenario["feeder.code"]), rng
        )
    parts = _add_fleet(scenario, parts, rng)
    parts = _add_community_battery(scenario, parts)
    return community_of(scenario, parts)


def simbench_parts(scenario: Scenario, feeder: FeederData, rng: np.random.Generator) -> CommunityParts:
    """Members, assets, EV sessions, load and generation of a SimBench feeder (the rules of this module's
    docstring), over SimBench's whole year; household loads get the scenario's seeded variety."""
    elements = feeder.elements
    loads = elements[elements["element"] == "load"]
    is_member_load = loads["profile"].str.match(r"^(H0|G\d)")
    member_loads = loads[is_member_load]

    kind = np.where(member_loads["profile"].str.startswith("H0"), "household", "business")
    number = pd.Series(kind).groupby(kind).cumcount().to_numpy() + 1
    prefix = np.where(kind == "household", "home", "business")
    members = pd.DataFrame(
        {
            "member_id": [f"{p}_{n:03d}" for p, n in zip(prefix, number, strict=True)],
            "kind": kind,
            "bus": member_loads["bus"].to_numpy(),
            "load_profile": member_loads["profile"].to_numpy(),
        }
    )
    # Attach every other element to the first member at its bus, making `other` members where none is.
    others = elements[~elements.index.isin(member_loads.index)]
    orphan_buses = sorted(set(others["bus"]) - set(members["bus"]))
    members = pd.concat(
        [
            members,
            pd.DataFrame(
                {
                    "member_id": [f"other_bus{b}" for b in orphan_buses],
                    "kind": "other",
                    "bus": orphan_buses,
                    "load_profile": "",
                }
            ),
        ],
        ignore_index=True,
    )
    owner_by_bus = members.drop_duplicates("bus").set_index("bus")["member_id"]

    # Load: members' own profiles with variety, plus heat pumps at their bus.
    full_index = feeder.index
    n_intervals, n_members = len(full_index), len(members)
    base_kw = np.zeros((n_intervals, n_members))
    base_kw[:, : len(member_loads)] = feeder.load_kw[member_loads["name"]].to_numpy()
    is_household = (members["kind"] == "household").to_numpy()
    varied_kw = load_variety(
        base_kw[:, is_household],
        shift_max_intervals=int(scenario["members.shift_minutes_max"] // 15),
        scale_sigma=scenario["members.scale_sigma"],
        noise_sigma=scenario["members.noise_sigma"],
        rng=rng,
    )
    base_kw[:, is_household] = varied_kw
    column_of = pd.Series(np.arange(n_members), index=members["member_id"])

    heat_pumps = loads[loads["profile"].str.match(r"^(Air|Soil)_")]
    ev_loads = loads[loads["profile"].str.contains("LS_")]
    hp_cols = column_of[owner_by_bus[heat_pumps["bus"]].to_numpy()].to_numpy()
    np.add.at(base_kw.T, hp_cols, feeder.load_kw[heat_pumps["name"]].to_numpy().T)

    sgens = elements[elements["element"] == "sgen"]
    storages = elements[elements["element"] == "storage"]
    generation_kw = np.zeros((n_intervals, n_members))
    sgen_cols = column_of[owner_by_bus[sgens["bus"]].to_numpy()].to_numpy()
    np.add.at(generation_kw.T, sgen_cols, feeder.sgen_kw[sgens["name"]].to_numpy().T)

    assets = pd.concat(
        [
            _asset_rows(sgens, owner_by_bus, "pv", "pv"),
            _asset_rows(storages, owner_by_bus, "battery", "battery"),
            _asset_rows(heat_pumps, owner_by_bus, "heat_pump", "heat_pump"),
            _asset_rows(ev_loads, owner_by_bus, "ev", "ev", capacity_kwh=scenario["ev.capacity_kwh"]),
        ],
        ignore_index=True,
    )
    sessions = _ev_sessions(
        feeder.load_kw[ev_loads["name"]], ev_loads, assets, full_index, scenario["ev.dwell_hours"]
    )
    members["annual_load_kwh"] = base_kw.sum(axis=0) * 0.25
    # One per-kW PV shape for the feeder: the rating-weighted mean of its generators' profiles.
    pv_per_kw = feeder.sgen_kw[sgens["name"]].to_numpy().sum(axis=1) / max(sgens["rated_kw"].sum(), 1e-9)
    return CommunityParts(
        members=members,
        assets=assets,
        ev_sessions=sessions,
        index=full_index,
        load_kw=base_kw,
        generation_kw=generation_kw,
        pv_per_kw=pv_per_kw,
        battery_bus=int(elements["trafo_bus"].iloc[0]),
        meta={"feeder": feeder.code, "net_path": str(feeder.net_path)},
    )


def _add_community_battery(scenario: Scenario, parts: CommunityParts) -> CommunityParts:
    """The scenario's community battery as a member of kind ``community`` at the transformer's LV bus."""
    if scenario["community_battery.capacity_kwh"] <= 0:
        return parts
    member = pd.DataFrame(
        {
            "member_id": [COMMUNITY_BATTERY_ID],
            "kind": ["community"],
            "bus": [parts.battery_bus],
            "load_profile": [""],
            "annual_load_kwh": [0.0],
        }
    )
    asset = pd.DataFrame(
        {
            "asset_id": [f"{COMMUNITY_BATTERY_ID}_storage"],
            "member_id": [COMMUNITY_BATTERY_ID],
            "kind": ["battery"],
            "power_kw": [scenario["community_battery.power_kw"]],
            "capacity_kwh": [scenario["community_battery.capacity_kwh"]],
            "efficiency": [scenario["community_battery.efficiency"]],
            "soc_initial": [0.5],
            "profile": [""],
        }
    )
    if (parts.members["member_id"] == COMMUNITY_BATTERY_ID).any():
        raise ValueError(
            f"community_battery: member_id {COMMUNITY_BATTERY_ID!r} is taken by a member of the feeder; rename "
            "that member or give the battery as a member of kind community instead"
        )
    zeros = np.zeros((len(parts.index), 1))
    return replace(
        parts,
        members=pd.concat([parts.members, member], ignore_index=True),
        assets=pd.concat([parts.assets, asset], ignore_index=True),
        load_kw=np.hstack([parts.load_kw, zeros]),
        generation_kw=np.hstack([parts.generation_kw, zeros]),
    )


def community_of(scenario: Scenario, parts: CommunityParts) -> Community:
    """The community of a source's parts with the scenario's tariffs and emissions, over the scenario's
    span (default: the data's) at the scenario's market interval."""
    members = MEMBERS.conform(parts.members)
    assets = ASSETS.conform(parts.assets)
    sessions = EV_SESSIONS.conform(parts.ev_sessions)
    full_index = parts.index
    n_intervals = len(full_index)
    start = scenario["time.start"] or full_index[0]
    end = scenario["time.end"] or full_index[-1] + (full_index[1] - full_index[0])
    tz = scenario["timezone"]
    community = Community(
        members=members,
        assets=assets,
        ev_sessions=sessions,
        index=full_index,
        load_kw=parts.load_kw,
        generation_kw=parts.generation_kw,
        retail_per_kwh=tou_price_series(
            full_index, scenario["tariff.retail_per_kwh"], scenario.retail_tou, tz
        ),
        feed_in_per_kwh=tou_price_series(
            full_index, scenario["tariff.feed_in_per_kwh"], scenario.feed_in_tou, tz
        ),
        local_fee_per_kwh=scenario["tariff.local_fee_per_kwh"],
        carbon_kg_per_kwh=None
        if scenario["emissions.grid_kg_per_kwh"] is None
        else np.full(n_intervals, scenario["emissions.grid_kg_per_kwh"]),
        currency=scenario["currency"],
        name=scenario["name"],
        meta={**parts.meta, "seed": scenario["seed"], "timezone": tz},
    ).slice(start, end)
    minutes = scenario["time.interval_minutes"]
    return community if minutes == 15 else resample(community, minutes)


def _asset_rows(rows: pd.DataFrame, owner_by_bus: pd.Series, kind: str, prefix: str, **extra) -> pd.DataFrame:
    """Asset table rows for SimBench elements of one kind, owned by the first member at their bus."""
    number = np.arange(1, len(rows) + 1)
    out = pd.DataFrame(
        {
            "asset_id": [f"{prefix}_{n:03d}" for n in number],
            "member_id": owner_by_bus[rows["bus"]].to_numpy(),
            "kind": kind,
            "power_kw": rows["rated_kw"].to_numpy(),
            "capacity_kwh": rows["capacity_kwh"].to_numpy(),
            "efficiency": rows["efficiency"].fillna(0.9).to_numpy() if "efficiency" in rows else 0.9,
            "soc_initial": 0.5,
            "profile": rows["profile"].to_numpy(),
        }
    )
    for key, value in extra.items():
        out[key] = value
    return out


def _ev_sessions(
    ev_kw: pd.DataFrame,
    ev_loads: pd.DataFrame,
    assets: pd.DataFrame,
    index: pd.DatetimeIndex,
    dwell_hours: float,
) -> pd.DataFrame:
    """One session per run of non-zero charging in each EV's SimBench profile.

    SimBench gives charging power, not plug-in windows: a run's end is when charging at full power
    finished, not when the EV left. The EV is assumed to stay plugged in for ``dwell_hours`` after
    arrival (at least until the run ends), but never past its next arrival.
    """
    charging = ev_kw.to_numpy() > 1e-6
    padded = np.vstack(
        [np.zeros((1, charging.shape[1]), bool), charging, np.zeros((1, charging.shape[1]), bool)]
    )
    edges = np.diff(padded.astype(np.int8), axis=0)
    # Transposed so that runs come out grouped by EV, in time order; starts and ends then pair up.
    start_col, start_row = np.nonzero(edges.T == 1)
    _, end_row = np.nonzero(edges.T == -1)
    energy_cum = np.vstack([np.zeros((1, charging.shape[1])), np.cumsum(ev_kw.to_numpy() * 0.25, axis=0)])
    energy = energy_cum[end_row, start_col] - energy_cum[start_row, start_col]
    ev_assets = assets[assets["kind"] == "ev"].reset_index(drop=True)
    step = index[1] - index[0]
    arrival = index[start_row]
    same_ev_next = np.append(start_col[1:] == start_col[:-1], False)
    next_arrival = np.where(same_ev_next, np.append(start_row[1:], 0), len(index) + 10**6)
    stay_end_row = np.minimum(np.maximum(end_row, start_row + int(round(dwell_hours / 0.25))), next_arrival)
    departure = index[0] + stay_end_row * step
    return pd.DataFrame(
        {
            "session_id": [f"{ev_assets['asset_id'][c]}_s{i:04d}" for i, c in enumerate(start_col)],
            "asset_id": ev_assets["asset_id"].to_numpy()[start_col],
            "member_id": ev_assets["member_id"].to_numpy()[start_col],
            "arrival": arrival,
            "departure": departure,
            "energy_kwh": energy,
            "charger_kw": ev_loads["rated_kw"].to_numpy()[start_col],
        }
    )


def _add_fleet(scenario: Scenario, parts: CommunityParts, rng: np.random.Generator) -> CommunityParts:
    """Add the scenario's ``[[fleet]]`` PV, batteries and wind turbines to randomly drawn (seeded) households.

    Fleet PV follows the source's PV shape per kW (``parts.pv_per_kw``); a fleet's turbines all see the
    same hub-height wind (:func:`wattmesh.community.wind.turbine_series_kw`), computed once per fleet.
    """
    if not scenario.fleet:
        return parts
    members, assets = parts.members, parts.assets
    generation_kw = parts.generation_kw.copy()
    new_rows = []
    for i, fleet in enumerate(scenario.fleet):
        if fleet["kind"] == "wind":
            unit_kw = turbine_series_kw(parts.index, fleet["hub_height_m"], fleet["power_kw"])
        elif fleet["kind"] == "pv":
            unit_kw = parts.pv_per_kw * fleet["power_kw"]
        has = set(assets.loc[assets["kind"] == fleet["kind"], "member_id"])
        has_pv = set(assets.loc[assets["kind"] == "pv", "member_id"])
        households = members[members["kind"] == "household"]["member_id"]
        if fleet["among"] == "pv_owners":
            households = households[households.isin(has_pv)]
        elif fleet["among"] == "without_pv":
            households = households[~households.isin(has_pv)]
        candidates = households[~households.isin(has)].to_numpy()
        chosen = rng.choice(candidates, size=min(fleet["count"], len(candidates)), replace=False)
        for j, member_id in enumerate(chosen):
            new_rows.append(
                {
                    "asset_id": f"fleet{i}_{fleet['kind']}_{j + 1:03d}",
                    "member_id": member_id,
                    "kind": fleet["kind"],
                    "power_kw": fleet["power_kw"],
                    "capacity_kwh": fleet["capacity_kwh"] if fleet["kind"] == "battery" else 0.0,
                    "efficiency": fleet["efficiency"],
                    "soc_initial": 0.5,
                    "profile": WIND_PROFILE if fleet["kind"] == "wind" else "",
                    "hub_height_m": fleet["hub_height_m"] if fleet["kind"] == "wind" else 0.0,
                }
            )
            if fleet["kind"] in ("pv", "wind"):
                column = members.index[members["member_id"] == member_id][0]
                generation_kw[:, column] += unit_kw
    assets = pd.concat([assets, pd.DataFrame(new_rows)], ignore_index=True)
    return replace(parts, assets=assets, generation_kw=generation_kw)


def resample(community: Community, minutes: int) -> Community:
    """The community at a coarser market interval: powers and prices averaged over each new interval."""
    factor = minutes // 15
    n = len(community.index) // factor * factor

    def mean(a: np.ndarray) -> np.ndarray:
        return a[:n].reshape(n // factor, factor, *a.shape[1:]).mean(axis=1)

    return Community(
        members=community.members,
        assets=community.assets,
        ev_sessions=community.ev_sessions,
        index=community.index[:n:factor],
        load_kw=mean(community.load_kw),
        generation_kw=mean(community.generation_kw),
        retail_per_kwh=mean(community.retail_per_kwh),
        feed_in_per_kwh=mean(community.feed_in_per_kwh),
        local_fee_per_kwh=community.local_fee_per_kwh,
        carbon_kg_per_kwh=None if community.carbon_kg_per_kwh is None else mean(community.carbon_kg_per_kwh),
        currency=community.currency,
        name=community.name,
        meta=community.meta,
    )
