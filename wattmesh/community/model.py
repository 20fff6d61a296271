"""The community as data: the member, asset and EV-session tables and the (intervals, members) arrays.

Tables follow the declared schemas below (see ``docs/scenarios.md`` for them as tables). Time series are
numpy arrays shaped (intervals, members) in the members' row order, with units in their names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wattmesh.tables import Column, TableSchema

MEMBER_KINDS = ("household", "business", "community", "other")
ASSET_KINDS = ("pv", "wind", "battery", "ev", "heat_pump")

MEMBERS = TableSchema(
    "member",
    "member_id",
    (
        Column(
            "member_id",
            "str",
            "-",
            "unique name of the member (a home, a business, the co-op)",
            required=True,
        ),
        Column(
            "kind",
            "str",
            "-",
            "household, business, community (the co-op's own assets) or other",
            default="household",
            choices=MEMBER_KINDS,
        ),
        Column("bus", "int", "-", "feeder bus the member is connected to", default=0, minimum=0),
        Column(
            "load_profile", "str", "-", "name of the load profile the member's load comes from", default=""
        ),
        Column(
            "annual_load_kwh",
            "float",
            "kWh",
            "the member's load over the data's year, after variety",
            default=0.0,
            minimum=0.0,
        ),
    ),
)

ASSETS = TableSchema(
    "asset",
    "asset_id",
    (
        Column("asset_id", "str", "-", "unique name of the asset", required=True),
        Column("member_id", "str", "-", "the member that owns and operates the asset", required=True),
        Column("kind", "str", "-", "pv, wind, battery, ev or heat_pump", required=True, choices=ASSET_KINDS),
        Column(
            "power_kw",
            "float",
            "kW",
            "peak power: PV/wind rating, battery or charger power limit",
            default=0.0,
            minimum=0.0,
        ),
        Column(
            "capacity_kwh", "float", "kWh", "usable energy capacity (battery, EV)", default=0.0, minimum=0.0
        ),
        Column(
            "efficiency",
            "float",
            "-",
            "round-trip efficiency of a battery, charging efficiency of an EV",
            default=0.9,
            minimum=0.0,
            maximum=1.0,
        ),
        Column(
            "soc_initial",
            "float",
            "-",
            "state of charge at the start, as a fraction of capacity",
            default=0.5,
            minimum=0.0,
            maximum=1.0,
        ),
        Column("profile", "str", "-", "name of the profile the asset's time series comes from", default=""),
        Column(
            "hub_height_m",
            "float",
            "m",
            "hub height of a wind turbine (0 for other kinds)",
            default=0.0,
            minimum=0.0,
        ),
    ),
)

EV_SESSIONS = TableSchema(
    "ev session",
    "session_id",
    (
        Column("session_id", "str", "-", "unique name of the charging session", required=True),
        Column("asset_id", "str", "-", "the EV (asset of kind ev)", required=True),
        Column("member_id", "str", "-", "the member whose meter the charger is behind", required=True),
        Column("arrival", "time", "UTC", "plug-in time", required=True),
        Column("departure", "time", "UTC", "time the EV leaves", required=True),
        Column("energy_kwh", "float", "kWh", "energy the EV needs by departure", required=True, minimum=0.0),
        Column("charger_kw", "float", "kW", "charger power limit", required=True, minimum=0.0),
    ),
)


@dataclass
class Community:
    """A community over a time span: who is in it, what they own, and what they use and make.

    Attributes
    ----------
    members, assets, ev_sessions : tables following ``MEMBERS``, ``ASSETS`` and ``EV_SESSIONS``
    index : interval start times, tz-aware UTC, regular
    load_kw : (T, M) inflexible load, heat pumps included [kW]
    generation_kw : (T, M) PV and wind output [kW]
    retail_per_kwh, feed_in_per_kwh : (T,) utility import and feed-in prices [currency/kWh]
    local_fee_per_kwh : grid fee on each local trade, paid by the buyer [currency/kWh]
    carbon_kg_per_kwh : (T,) grid carbon intensity, or None [kg CO2/kWh]
    """

    members: pd.DataFrame
    assets: pd.DataFrame
    ev_sessions: pd.DataFrame
    index: pd.DatetimeIndex
    load_kw: np.ndarray
    generation_kw: np.ndarray
    retail_per_kwh: np.ndarray
    feed_in_per_kwh: np.ndarray
    local_fee_per_kwh: float = 0.0
    carbon_kg_per_kwh: np.ndarray | None = None
    currency: str = "EUR"
    name: str = "community"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.index), len(self.members))
        for name in ("load_kw", "generation_kw"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        for name in ("retail_per_kwh", "feed_in_per_kwh"):
            if getattr(self, name).shape != shape[:1]:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape[:1]}")

    @property
    def interval_h(self) -> float:
        """Length of one market interval [h]."""
        return (self.index[1] - self.index[0]).total_seconds() / 3600

    @property
    def member_ids(self) -> pd.Index:
        return pd.Index(self.members["member_id"])

    def storage_by_member(self, kind: str = "battery") -> dict[str, np.ndarray]:
        """Per-member totals of the assets of ``kind``: capacity_kwh, power_kw, efficiency, soc_initial_kwh.

        Several batteries behind one meter act as one (capacities and powers add, efficiency is the
        capacity-weighted mean); members without one get zeros.
        """
        rows = self.assets[self.assets["kind"] == kind]
        column = self.member_ids.get_indexer(rows["member_id"])
        n = len(self.members)
        capacity = np.bincount(column, rows["capacity_kwh"], minlength=n)
        power = np.bincount(column, rows["power_kw"], minlength=n)
        weighted_eff = np.bincount(column, rows["capacity_kwh"] * rows["efficiency"], minlength=n)
        soc = np.bincount(column, rows["capacity_kwh"] * rows["soc_initial"], minlength=n)
        efficiency = np.divide(weighted_eff, capacity, out=np.ones(n), where=capacity > 0)
        return {"capacity_kwh": capacity, "power_kw": power, "efficiency": efficiency, "soc_initial_kwh": soc}

    def slice(self, start: pd.Timestamp, end: pd.Timestamp) -> Community:
        """The same community over [start, end)."""
        keep = (self.index >= start) & (self.index < end)
        sessions = self.ev_sessions
        if not sessions.empty:
            arrival = pd.to_datetime(sessions["arrival"], utc=True)
            departure = pd.to_datetime(sessions["departure"], utc=True)
            sessions = sessions[(departure > start) & (arrival < end)].reset_index(drop=True)
        return Community(
            members=self.members,
            assets=self.assets,
            ev_sessions=sessions,
            index=self.index[keep],
            load_kw=self.load_kw[keep],
            generation_kw=self.generation_kw[keep],
            retail_per_kwh=self.retail_per_kwh[keep],
            feed_in_per_kwh=self.feed_in_per_kwh[keep],
            local_fee_per_kwh=self.local_fee_per_kwh,
            carbon_kg_per_kwh=None if self.carbon_kg_per_kwh is None else self.carbon_kg_per_kwh[keep],
            currency=self.currency,
            name=self.name,
            meta=dict(self.meta),
        )


@dataclass
class CommunityParts:
    """What a feeder source (SimBench, a co-op's files) gives :func:`wattmesh.community.build.build_community`
    before the parts every source shares (fleet, community battery, tariffs, span) are added.

    Attributes
    ----------
    members, assets, ev_sessions : tables (``MEMBERS`` with ``annual_load_kwh``, ``ASSETS``, ``EV_SESSIONS``)
    index : interval starts of the source's whole data, tz-aware UTC, 15 minutes
    load_kw, generation_kw : (T, M) inflexible load and PV/wind output [kW]
    pv_per_kw : (T,) output of 1 kW of PV on the source's sun, for fleet PV [kW/kWp]
    battery_bus : bus of the community battery (the transformer's LV bus)
    meta : what the community's ``meta`` records about its source (``feeder``, ``net_path``, ...)
    """

    members: pd.DataFrame
    assets: pd.DataFrame
    ev_sessions: pd.DataFrame
    index: pd.DatetimeIndex
    load_kw: np.ndarray
    generation_kw: np.ndarray
    pv_per_kw: np.ndarray
    battery_bus: int
    meta: dict = field(default_factory=dict)
