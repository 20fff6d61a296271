"""The home agent: forecast, plan, bid on the live exchange, meter, and audit the exchange's ledger.

``wattmesh agent --server URL --member ID --key FILE --meter meter.csv`` runs one home. Each market
interval it

1. forecasts the home's consumption and generation over the coming day (LightGBM day-ahead forecasters
   of :mod:`wattmesh.forecast` trained on what its meter measured, where it holds ``min_history`` of it;
   else, or with ``forecaster="naive"``, the same interval of the day before),
2. plans its battery and its EV's charging on that forecast (:func:`wattmesh.energy.planner.plan_homes`;
   the EV sessions its meter source knows, each with what it still needs by departure) and reads its limit
   prices off the plan (:func:`wattmesh.agents.strategies.marginal_value_per_kwh`),
3. turns the first open interval of the plan into an order with the configured strategy
   (:func:`wattmesh.agents.positions.orders_from_positions`; truthful or zero-intelligence prices),
   signs it and posts it before the gate closes; the exchange's demand-response events (in its snapshot,
   streamed as ``dr_event``) cap the planned import (:func:`member_import_cap_kw`: the home's own events
   and an equal share of the community's),
4. uploads its meter reading of every interval once delivered: the EV charges as planned for the
   interval (on arrival at full power where no plan was made, and never less than it must to get its
   energy by departure), the battery tracks the traded position on what the home really used and made,
5. checks the inclusion proof of each of its trades (:func:`wattmesh.ledger.verify_proof`, the record the
   ledger holds against the trade the exchange announced at clearing) and that each signed tree head
   extends the previous one (:func:`wattmesh.ledger.merkle.verify_consistency`); a failure is an alarm
   (logged at ERROR and appended to ``alarms.jsonl``): the exchange rewrote history.

Its sequence number, the request in flight, battery state, EV plan and delivered EV energy, last tree
head and checked trades live in
``state.json`` in its state folder, written atomically (temporary file, fsync, rename) before each
request is sent and after it is acknowledged: after a crash the agent resends the request in flight with
the same sequence number and body and gets the original acknowledgement. It follows the market-data
stream and resubscribes (a fresh snapshot) when the stream ends or skips a sequence number.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import typer

from wattmesh.agents.positions import Positions, orders_from_positions
from wattmesh.agents.strategies import marginal_value_per_kwh, zic_prices
from wattmesh.energy.rules import dispatch_rule_batteries
from wattmesh.service.client import ExchangeClient

logger = logging.getLogger("wattmesh.agent")

ISO = "%Y-%m-%dT%H:%M:%SZ"
AGENT_STRATEGIES = ("truthful", "zic")
FORECASTERS = ("auto", "lightgbm", "naive")


def iso(stamp: pd.Timestamp) -> str:
    return pd.Timestamp(stamp).tz_convert("UTC").strftime(ISO)


# -- meter sources -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Meter:
    """What a home consumes and generates per interval (a replay of measurements or a simulated home).

    Attributes
    ----------
    index : interval starts (UTC), regular
    load_kwh : (T,) consumption in each interval [kWh]: EV charging included where the meter has no
        ``ev_sessions``, else the rest of the home (the agent decides the EV's charging)
    generation_kwh : (T,) PV and wind generation in each interval [kWh]
    battery_kwh, battery_kw, battery_efficiency, soc_initial_kwh : the home battery: capacity [kWh],
        power [kW], round-trip efficiency [-], state of charge before the first interval [kWh]
    site : a :class:`wattmesh.forecast.features.Site` for the PV forecaster's clear sky (None: no PV model)
    feeder_load_kwh, feeder_generation_kwh : (T,) a community battery's signal: the consumption and
        generation on the feeder that it balances (the homes' after their own batteries) [kWh]; None for
        a home
    ev_sessions : the home's EV charging sessions (:data:`EV_SESSION_COLUMNS`: session_id, asset_id,
        arrival, departure (UTC), energy_kwh needed by departure, charger_kw), None or empty without an EV
    """

    index: pd.DatetimeIndex
    load_kwh: np.ndarray
    generation_kwh: np.ndarray
    battery_kwh: float = 0.0
    battery_kw: float = 0.0
    battery_efficiency: float = 0.9
    soc_initial_kwh: float = 0.0
    site: object = None
    feeder_load_kwh: np.ndarray | None = None
    feeder_generation_kwh: np.ndarray | None = None
    ev_sessions: pd.DataFrame | None = None

    @property
    def has_ev(self) -> bool:
        return self.ev_sessions is not None and len(self.ev_sessions) > 0

    @property
    def balances_feeder(self) -> bool:
        """A community battery, which trades to balance the feeder rather than a home of its own."""
        return self.feeder_load_kwh is not None

    @property
    def interval_h(self) -> float:
        return (self.index[1] - self.index[0]).total_seconds() / 3600.0

    def row(self, interval: pd.Timestamp) -> int:
        """The row of ``interval``; KeyError naming it when the meter has no such interval."""
        k = self.index.get_indexer([pd.Timestamp(interval)])[0]
        if k < 0:
            raise KeyError(f"meter: no interval {iso(interval)} (it covers {iso(self.index[0])} .. "
                           f"{iso(self.index[-1])})")  # fmt: skip
        return int(k)


EV_SESSION_COLUMNS = ("session_id", "asset_id", "arrival", "departure", "energy_kwh", "charger_kw")


def ev_sessions_from_csv(path: str | Path) -> pd.DataFrame:
    """A home's EV sessions from a CSV with the columns ``arrival``, ``departure`` (UTC), ``energy_kwh`` (needed
    by departure [kWh]), ``charger_kw`` [kW] and optional ``session_id`` and ``asset_id`` (default s0, s1, ...
    and "ev").

    ValueError naming the file, the line and the field when a value is missing or out of range.
    """
    frame = pd.read_csv(path)
    for column in ("arrival", "departure", "energy_kwh", "charger_kw"):
        if column not in frame.columns:
            raise ValueError(
                f"{path}: column {column!r} missing (expected arrival,departure,energy_kwh,charger_kw)"
            )
    out = pd.DataFrame({
        "session_id": frame["session_id"].astype(str) if "session_id" in frame else [f"s{k}" for k in range(len(frame))],
        "asset_id": frame["asset_id"].astype(str) if "asset_id" in frame else "ev",
    })  # fmt: skip
    for column in ("arrival", "departure"):
        out[column] = pd.to_datetime(frame[column], utc=True, errors="coerce")
    for column in ("energy_kwh", "charger_kw"):
        out[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    checks = (
        ("arrival", out["arrival"].isna(), "a UTC time"),
        ("departure", out["departure"].isna() | (out["departure"] <= out["arrival"]), "a time after arrival"),
        ("energy_kwh", ~(out["energy_kwh"] >= 0), "a number >= 0"),
        ("charger_kw", ~(out["charger_kw"] > 0), "a number > 0"),
    )
    for column, bad, expected in checks:
        rows = np.flatnonzero(bad.to_numpy())
        if rows.size:
            raise ValueError(
                f"{path}: line {rows[0] + 2}: {column} {frame[column].astype(str).iloc[rows[0]]!r} is not {expected}"
            )
    if out["session_id"].duplicated().any():
        raise ValueError(
            f"{path}: session_id {out['session_id'][out['session_id'].duplicated()].iloc[0]!r} repeats"
        )
    return out[list(EV_SESSION_COLUMNS)]


def meter_from_csv(path: str | Path, ev_sessions: pd.DataFrame | None = None, **battery) -> Meter:
    """A meter replay from a CSV with the columns ``interval`` (UTC start), ``load_kwh``, ``generation_kwh``;
    ``ev_sessions`` (:func:`ev_sessions_from_csv`) the home's EV, whose charging the agent plans (then
    ``load_kwh`` is the rest of the home's consumption).

    ValueError naming the file and the column when one is missing or not a number.
    """
    frame = pd.read_csv(path)
    for column in ("interval", "load_kwh", "generation_kwh"):
        if column not in frame.columns:
            raise ValueError(f"{path}: column {column!r} missing (expected interval,load_kwh,generation_kwh)")
    index = pd.DatetimeIndex(pd.to_datetime(frame["interval"], utc=True))
    values = {}
    for column in ("load_kwh", "generation_kwh"):
        values[column] = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(values[column]))
        if bad.size:
            raise ValueError(
                f"{path}: line {bad[0] + 2}: {column} {frame[column].iloc[bad[0]]!r} is not a number"
            )
    if len(index) < 2 or not (np.diff(index.asi8) == index.asi8[1] - index.asi8[0]).all():
        raise ValueError(f"{path}: interval must be a regular series of at least two interval starts")
    return Meter(index, values["load_kwh"], values["generation_kwh"], **battery, ev_sessions=ev_sessions)


def meters_from_community(community, plan_evs: bool = True) -> dict[str, Meter]:
    """One simulated meter per member of a built community (:func:`wattmesh.community.build.build_community`):
    its load, generation, battery and EV sessions (``plan_evs``: the agent plans each EV's charging; else
    the EVs charge on arrival, inside the load); a community battery's meter also carries the feeder it
    balances (the homes' positions after their batteries' self-consumption rule, EVs charging on arrival:
    the battery's estimate of the feeder, not the homes' plans)."""
    from wattmesh.energy.members import community_site
    from wattmesh.energy.rules import ev_charge_on_arrival_kw

    dt = community.interval_h
    base_load_kw = np.asarray(community.load_kw, float)
    sessions = community.ev_sessions
    load_kw = base_load_kw + ev_charge_on_arrival_kw(sessions, community.index, community.member_ids)
    storage = community.storage_by_member("battery")
    try:
        site = community_site(community)
    except Exception:  # noqa: BLE001 (a community without a location: no PV forecaster, the baseline)
        site = None
    generation_kw = np.asarray(community.generation_kw, float)
    is_shared = (community.members["kind"] == "community").to_numpy()
    net_kwh = (generation_kw - load_kw) * dt
    charge, discharge, _ = dispatch_rule_batteries(
        net_kwh, storage["soc_initial_kwh"], storage, is_shared, dt
    )
    # the feeder a community battery balances: the homes' positions after their own batteries
    feeder_kwh = (net_kwh - charge + discharge)[:, ~is_shared].sum(axis=1)
    meters = {}
    for k, m in enumerate(community.member_ids):
        feeder = {}
        if is_shared[k]:
            feeder = {"feeder_load_kwh": np.maximum(-feeder_kwh, 0.0),
                      "feeder_generation_kwh": np.maximum(feeder_kwh, 0.0)}  # fmt: skip
        mine = (
            sessions[sessions["member_id"] == m]
            if plan_evs and "member_id" in sessions
            else sessions.iloc[:0]
        )
        meters[str(m)] = Meter(community.index, (base_load_kw if len(mine) else load_kw)[:, k] * dt,
                               generation_kw[:, k] * dt, float(storage["capacity_kwh"][k]),
                               float(storage["power_kw"][k]), float(storage["efficiency"][k]),
                               float(storage["soc_initial_kwh"][k]), site, **feeder,
                               ev_sessions=mine[list(EV_SESSION_COLUMNS)].reset_index(drop=True) if len(mine) else None)  # fmt: skip
    return meters


def write_meter_csv(meter: Meter, path: str | Path) -> Path:
    """Write a meter's replay as the CSV :func:`meter_from_csv` reads."""
    frame = pd.DataFrame({"interval": meter.index.strftime(ISO), "load_kwh": meter.load_kwh,
                          "generation_kwh": meter.generation_kwh})  # fmt: skip
    frame.to_csv(path, index=False, float_format="%.6f")
    return Path(path)


# -- the agent's brain: pure functions over arrays -----------------------------------------------------
def naive_forecast_kwh(
    values_kwh: np.ndarray, known_rows: int, rows: np.ndarray, period_rows: int
) -> np.ndarray:
    """The same interval one period (a day) earlier, or the latest known value where that is not known yet.

    Parameters
    ----------
    values_kwh : (T,) the meter's series [kWh]; only rows below ``known_rows`` are read
    known_rows : how many leading rows are measured
    rows : (H,) rows to forecast
    period_rows : the seasonal period in rows (a day)
    """
    source = rows - period_rows * np.ceil((rows - known_rows + 1) / period_rows).clip(min=1).astype(int)
    out = np.where(source >= 0, values_kwh[np.clip(source, 0, None)], 0.0)
    if known_rows > 0:
        out = np.where(source >= 0, out, values_kwh[known_rows - 1])
    return out


@dataclass(frozen=True)
class HomeOrder:
    """What the agent decided for one interval: its orders and the plan behind them.

    Attributes
    ----------
    orders : :data:`wattmesh.market.orders.ORDERS` rows (none when the planned position is zero)
    position_kwh : the planned exchange of the interval, > 0 export, < 0 import [kWh]; at delivery the
        battery tracks it (:func:`battery_step`)
    charge_kwh, discharge_kwh : the planned battery flows of the interval (meter side) [kWh]
    plan_charge_kwh, plan_discharge_kwh, plan_soc_kwh : (H,) the whole plan [kWh]
    ev_kwh : the planned EV charging of the interval (all the home's EVs) [kWh]
    plan_ev_kwh : (H,) the whole plan's EV charging [kWh]
    ev_session_kwh : session id -> its planned charging in the interval [kWh] (sessions plugged in)
    """

    orders: pd.DataFrame
    position_kwh: float
    charge_kwh: float
    discharge_kwh: float
    plan_charge_kwh: np.ndarray
    plan_discharge_kwh: np.ndarray
    plan_soc_kwh: np.ndarray
    ev_kwh: float = 0.0
    plan_ev_kwh: np.ndarray | None = None
    ev_session_kwh: dict = field(default_factory=dict)


def plan_home_order(
    load_kwh: np.ndarray,
    generation_kwh: np.ndarray,
    soc_kwh: float,
    battery: dict[str, float],
    retail_per_kwh: np.ndarray,
    feed_in_per_kwh: np.ndarray,
    interval_h: float,
    index: pd.DatetimeIndex,
    member_id: str,
    row: int,
    fee_per_kwh: float = 0.0,
    strategy: str = "truthful",
    rng: np.random.Generator | None = None,
    balances_feeder: bool = False,
    ev_sessions: pd.DataFrame | None = None,
    import_cap_kw: np.ndarray | None = None,
) -> HomeOrder:
    """The home's order for interval ``row`` of its plan: energy plan -> marginal values -> order rows.

    The battery and the EV's charging are planned over the whole horizon by the project's energy planner
    (:func:`wattmesh.energy.planner.plan_homes`: least bill at the utility's prices, battery wear, state
    of charge carried from now, every EV session gets its energy by departure; HiGHS, ~10-15 ms for one
    home over a day, where the batched dynamic programme takes ~100 ms for a single home), the limit prices are the marginal values of energy read off that plan
    (:func:`wattmesh.agents.strategies.marginal_value_per_kwh`) and the orders follow from the planned
    position (:func:`wattmesh.agents.positions.orders_from_positions`) at the strategy's prices.

    Parameters
    ----------
    load_kwh, generation_kwh : (H,) forecast consumption and generation from the first undelivered
        interval [kWh]; for a community battery (``balances_feeder``) the feeder's forecast consumption
        and generation that it balances
    soc_kwh : the battery's state of charge before the plan's first interval [kWh]
    battery : capacity_kwh, power_kw, efficiency (round trip) of the battery (capacity 0: none)
    retail_per_kwh, feed_in_per_kwh : (H,) the utility's prices [currency/kWh]
    interval_h : interval length [h]
    index : (H,) the plan's interval starts
    member_id : the home
    row : the interval to order for (its row in the plan)
    fee_per_kwh : the local market fee [currency/kWh]
    strategy : "truthful" (the limits) or "zic" (uniform within the limits and the utility's prices)
    rng : the zic strategy's random draws
    balances_feeder : a community battery: it trades its battery's flows only (buys what it plans to
        charge, sells what it plans to discharge) at its marginal value of stored energy
    ev_sessions : the home's EV sessions to plan (:data:`EV_SESSION_COLUMNS`), ``energy_kwh`` what each still
        needs [kWh] and ``arrival`` no earlier than the first interval the plan may charge in (a session
        under way at ``index[0]`` counts from there; see :func:`wattmesh.energy.ev_sessions.ev_slots`);
        None or empty: no EV. The EV's charging is part of the planned position
    import_cap_kw : (H,) demand-response cap on the home's import, NaN where none [kW]
        (:func:`member_import_cap_kw`); the planner keeps under it where the battery and the EV's
        flexibility allow and exceeds it as little as it can elsewhere

    Returns
    -------
    HomeOrder
    """
    from wattmesh.energy.planner import ev_slots, plan_homes

    if strategy not in AGENT_STRATEGIES:
        raise ValueError(f"strategy {strategy!r} is not one of {', '.join(AGENT_STRATEGIES)}")
    load = np.clip(np.asarray(load_kwh, float), 0.0, None)[:, None]
    generation = np.clip(np.asarray(generation_kwh, float), 0.0, None)[:, None]
    if load.shape != generation.shape or not 0 <= row < len(load):
        raise ValueError(f"plan of {member_id}: load {load.shape[0]} and generation {generation.shape[0]} "
                         f"intervals, row {row}; expected equal lengths and a row inside")  # fmt: skip
    retail = np.asarray(retail_per_kwh, float)
    feed_in = np.asarray(feed_in_per_kwh, float)
    storage = {k: np.array([float(battery[k])]) for k in ("capacity_kwh", "power_kw", "efficiency")}
    net = generation - load
    ev = None
    if ev_sessions is not None and len(ev_sessions) and not balances_feeder:
        ev = ev_slots(ev_sessions.assign(member_id=member_id), pd.DatetimeIndex(index), [member_id])
        ev = ev if len(ev.session_ids) else None
    has_battery = storage["capacity_kwh"][0] > 0 and storage["power_kw"][0] > 0
    ev_kwh = np.zeros_like(net)
    session_kwh = {}
    cap = None
    if import_cap_kw is not None and not balances_feeder and np.isfinite(import_cap_kw).any():
        cap = np.asarray(import_cap_kw, float).reshape(-1, 1)
    if has_battery or ev is not None:
        if not has_battery:
            storage = {
                "capacity_kwh": np.zeros(1),
                "power_kw": np.zeros(1),
                "efficiency": storage["efficiency"],
            }
        batteries = pd.DataFrame({**storage, "soc_kwh": [min(max(soc_kwh, 0.0), storage["capacity_kwh"][0])]})
        plan = plan_homes(load / interval_h, generation / interval_h, retail, np.minimum(feed_in, retail),
                          batteries, interval_h, ev=ev, member_ids=[member_id], warn=False, method="lp",
                          import_cap_kw=cap)  # fmt: skip
        charge, discharge, soc = plan.charge_kw * interval_h, plan.discharge_kw * interval_h, plan.soc_kwh
        if ev is not None:
            ev_kwh = plan.ev_kw * interval_h
            plugged = (ev.session_first <= row) & (row < ev.session_stop)
            session_kwh = {str(sid): float(plan.ev_slot_kw[row, k] * interval_h)
                           for sid, k in zip(ev.session_ids[plugged], ev.session_slot[plugged], strict=True)}  # fmt: skip
    else:
        charge = discharge = np.zeros_like(net)
        soc = np.zeros_like(net)
    position = net - charge + discharge - ev_kwh
    bid_limit, ask_limit = marginal_value_per_kwh(retail, feed_in, position, charge, discharge, soc, storage,
                                                  interval_h)  # fmt: skip
    if balances_feeder:
        # the community battery's own meter sees its flows only; a kWh stored is worth its marginal value
        traded = discharge - charge
        bid_limit = np.minimum(ask_limit, retail[:, None])
        ask_limit = np.maximum(ask_limit, feed_in[:, None])
    else:
        traded = position
    positions = Positions(index=pd.DatetimeIndex(index), member_ids=np.array([member_id]),
                          deficit_kwh=np.maximum(-traded, 0.0), surplus_kwh=np.maximum(traded, 0.0),
                          bid_limit=bid_limit, ask_limit=ask_limit, retail_per_kwh=retail,
                          feed_in_per_kwh=feed_in, fee_per_kwh=fee_per_kwh)  # fmt: skip
    bid, ask = bid_limit[row], ask_limit[row]
    if strategy == "zic":
        bid, ask = zic_prices(bid, ask, feed_in[row : row + 1], retail[row : row + 1],
                              rng or np.random.default_rng(0))  # fmt: skip
    orders = orders_from_positions(positions, row, bid, ask, min_energy_kwh=1e-3)
    return HomeOrder(orders, float(traded[row, 0]), float(charge[row, 0]), float(discharge[row, 0]),
                     charge[:, 0], discharge[:, 0], soc[:, 0], float(ev_kwh[row, 0]), ev_kwh[:, 0],
                     session_kwh)  # fmt: skip


def member_import_cap_kw(
    events: pd.DataFrame | list[dict],
    index: pd.DatetimeIndex,
    member_id: str,
    n_members: int,
    expected_import_kw: np.ndarray,
) -> np.ndarray:
    """The cap [kW] (H,) on one home's import over ``index`` from the exchange's demand-response events.

    An event for this member caps (or cuts from ``expected_import_kw``) its import as the simulator's
    planner does (:func:`wattmesh.energy.events.event_caps`); a community event is shared equally: each of
    the ``n_members`` homes keeps under ``limit_kw / n_members`` or cuts ``reduction_kw / n_members``
    from its own expected import (a home agent plans alone; it does not know its neighbours' plans). Other
    members' events do not concern it. NaN where no event holds; where events overlap the lowest cap holds.
    """
    from wattmesh.energy.events import conform_events, event_caps

    table = pd.DataFrame(events, columns=["event_id", "start", "end", "limit_kw", "reduction_kw", "member_id",
                                          "source"])  # fmt: skip
    expected = np.asarray(expected_import_kw, float).reshape(-1, 1)
    if table.empty:
        return np.full(len(index), np.nan)
    for name in ("start", "end"):
        table[name] = pd.to_datetime(table[name], utc=True)
    for name in ("limit_kw", "reduction_kw"):
        table[name] = pd.to_numeric(table[name]).astype(float)
    table = conform_events(table.assign(member_id=table["member_id"].fillna("").astype(str),
                                        source=table["source"].fillna("exchange").astype(str)))  # fmt: skip
    table = table[table["member_id"].isin(["", member_id])].copy()
    shared = table["member_id"] == ""
    table.loc[shared, ["limit_kw", "reduction_kw"]] /= max(int(n_members), 1)
    home_cap, _ = event_caps(
        table.assign(member_id=member_id), pd.DatetimeIndex(index), [member_id], expected
    )
    return home_cap[:, 0]


def battery_step(
    net_kwh: float, soc_kwh: float, battery: dict[str, float], interval_h: float, target_kwh: float = 0.0
):
    """What the battery really does in one delivered interval: it makes up the difference between what the
    home really used and made and the position it traded, as far as its power and charge allow.

    Parameters
    ----------
    net_kwh : the interval's real generation minus consumption [kWh]
    soc_kwh : the state of charge at the start of the interval [kWh]
    battery : capacity_kwh, power_kw, efficiency (round trip)
    interval_h : interval length [h]
    target_kwh : the traded (planned) position, > 0 export [kWh]; 0 is the self-consumption rule

    Returns
    -------
    (charge_kwh, discharge_kwh, soc_after_kwh)
    """
    storage = {k: np.array([float(battery[k])]) for k in ("capacity_kwh", "power_kw", "efficiency")}
    charge, discharge, soc = dispatch_rule_batteries(np.array([[net_kwh - target_kwh]]), np.array([soc_kwh], float),
                                                     storage, np.array([False]), interval_h)  # fmt: skip
    return float(charge[0, 0]), float(discharge[0, 0]), float(soc[0, 0])


# -- persistent state ----------------------------------------------------------------------------------
def write_json_atomic(path: Path, value: dict, durable: bool = True) -> None:
    """Write ``value`` as JSON to ``path`` so that a crash leaves the old file or the new one, never half;
    ``durable``: on disk before it returns (fsync of the file and the folder), so that it survives the
    machine's crash too (a killed process loses nothing written either way)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        json.dump(value, handle, separators=(",", ":"))
        handle.flush()
        if durable:
            os.fsync(handle.fileno())
    os.replace(tmp, path)
    if not durable:
        return
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class AgentState:
    """What the agent keeps on disk between runs (``state.json``).

    Attributes
    ----------
    seq : the last sequence number used
    pending : the request in flight (method, path, body, seq, what), resent as is after a crash
    ordered : delivery starts the agent has an acknowledged decision for (an order, or none to place)
    next_reading : the first interval whose reading is not acknowledged yet (UTC ISO 8601)
    soc_kwh : the battery's state of charge at the start of ``next_reading`` [kWh]
    checked : delivery starts whose trades' proofs verified
    trades : transaction id -> the trade record the exchange announced at clearing
    last_head : the latest signed tree head seen, consistent with all before it
    operator_key : the operator's public key (hex), pinned from the first proof
    positions : delivery start -> the planned position the battery tracks at delivery [kWh, > 0 export]
    ev_plan : delivery start -> {EV session id: its planned charging in the interval [kWh]}
    ev_delivered : EV session id -> the energy charged into it in acknowledged readings [kWh]
    """

    seq: int
    pending: dict | None = None
    ordered: list = field(default_factory=list)
    next_reading: str | None = None
    soc_kwh: float | None = None
    checked: list = field(default_factory=list)
    trades: dict = field(default_factory=dict)
    last_head: dict | None = None
    operator_key: str | None = None
    positions: dict = field(default_factory=dict)
    ev_plan: dict = field(default_factory=dict)
    ev_delivered: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> AgentState:
        if path.exists():
            return cls(**json.loads(path.read_text()))
        return cls(seq=int(time.time() * 1e6))

    def save(self, path: Path, durable: bool = True) -> None:
        """Write the state (see :func:`write_json_atomic`); only a request about to be sent must be
        durable: what is saved after an answer, a check or an empty decision is restored by resending the
        request in flight (the exchange answers with the original acknowledgement) or by checking again."""
        write_json_atomic(path, self.__dict__, durable)


def _same(recorded, announced) -> bool:
    """A ledger field equals the announced one (numbers to the ledger's rounding, 1e-6)."""
    if isinstance(recorded, int | float) and isinstance(announced, int | float):
        return abs(recorded - announced) <= 1e-6
    return recorded == announced


# -- the agent -----------------------------------------------------------------------------------------
class HomeAgent:
    """One home on the live exchange (see the module docstring).

    Parameters
    ----------
    server : the exchange's URL
    member_id : the member this agent trades for
    secret : the member's 64-byte signing secret (:func:`wattmesh.service.auth.secret_from_key_file`)
    meter : the home's meter source
    state_dir : where state.json, requests.jsonl and alarms.jsonl live
    strategy : "truthful" or "zic"
    forecaster : "auto" (LightGBM with ``min_history_days`` of measurements, else naive), "lightgbm", "naive"
    horizon : intervals planned ahead
    tariffs : ``tariffs(index) -> (retail, feed_in)`` arrays [currency/kWh]; default flat 0.30 / 0.08
    fee_per_kwh : the local market fee [currency/kWh]
    seed : the zic strategy's seed
    http : an ``httpx.Client`` to send with (default one to ``server``)
    """

    def __init__(self, server: str, member_id: str, secret: bytes, meter: Meter, state_dir: str | Path, *,
                 strategy: str = "truthful", forecaster: str = "auto", horizon: int = 96,
                 min_history_days: float = 7.0, tariffs=None, fee_per_kwh: float = 0.0, seed: int = 0,
                 http: httpx.Client | None = None) -> None:  # fmt: skip
        if strategy not in AGENT_STRATEGIES:
            raise ValueError(f"strategy {strategy!r} is not one of {', '.join(AGENT_STRATEGIES)}")
        if forecaster not in FORECASTERS:
            raise ValueError(f"forecaster {forecaster!r} is not one of {', '.join(FORECASTERS)}")
        self.member_id = member_id
        self.meter = meter
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_path = self.state_dir / "state.json"
        self.state = AgentState.load(self.state_path)
        self.strategy, self.forecaster, self.horizon = strategy, forecaster, int(horizon)
        self.min_history = pd.Timedelta(days=min_history_days)
        self.tariffs = tariffs
        self.fee_per_kwh = fee_per_kwh
        self.rng = np.random.default_rng([seed, abs(hash(member_id)) % 2**31])
        self.http = http or httpx.Client(base_url=server.rstrip("/"), timeout=30.0)
        self.client = ExchangeClient(server, member_id, secret, seq=self.state.seq, http=self.http)
        self.battery = {"capacity_kwh": meter.battery_kwh, "power_kw": meter.battery_kw,
                        "efficiency": meter.battery_efficiency}  # fmt: skip
        self.step = meter.index[1] - meter.index[0]
        self._ev = {}
        if meter.has_ev:
            sessions = meter.ev_sessions
            self._ev = {"ids": sessions["session_id"].astype(str).tolist(),
                        "arrival_ns": pd.DatetimeIndex(pd.to_datetime(sessions["arrival"], utc=True)).as_unit("ns").asi8,
                        "departure_ns": pd.DatetimeIndex(pd.to_datetime(sessions["departure"], utc=True)).as_unit("ns").asi8,
                        "energy_kwh": sessions["energy_kwh"].to_numpy(float),
                        "charger_kw": sessions["charger_kw"].to_numpy(float)}  # fmt: skip
        self.period_rows = int(pd.Timedelta(days=1) / self.step)
        self._forecasts: dict[str, pd.Series] = {}
        self._forecast_day = None
        self.market: dict = {}
        #: the exchange's demand-response events (event id -> row, as ``GET /market/dr-events`` lists them)
        self.dr_events: dict[str, dict] = {}
        self._wake = threading.Event()
        self._stream_seq: int | None = None
        self.resyncs = 0
        self.alarms: list[str] = []
        self.cpu_s = 0.0
        #: the agent orders for intervals before this time only (None: as far as its meter goes)
        self.until: pd.Timestamp | None = None

    # -- requests: persisted before they are sent, resent unchanged after a crash ---------------------
    def _request(self, method: str, path: str, body: dict, what: dict) -> httpx.Response:
        self.state.seq += 1
        self.state.pending = {
            "method": method,
            "path": path,
            "body": body,
            "seq": self.state.seq,
            "what": what,
        }
        self.state.save(self.state_path)
        return self._send_pending()

    def _send_pending(self) -> httpx.Response:
        pending = self.state.pending
        for attempt in range(20):
            request = self.client.sign(
                pending["method"], pending["path"], pending["body"], seq=pending["seq"]
            )
            try:
                response = self.client.send(request)
            except httpx.TransportError:
                time.sleep(min(0.1 * 2**attempt, 2.0))
                continue
            if response.status_code in (502, 503):
                time.sleep(min(0.1 * 2**attempt, 2.0))
                continue
            break
        else:
            raise ConnectionError(f"{self.member_id}: the exchange did not answer {pending['path']}")
        self._log_request(pending, response)
        self._acknowledged(pending, response)
        return response

    def _acknowledged(self, pending: dict, response: httpx.Response) -> None:
        what = pending["what"]
        if what.get("kind") == "order" and what["interval"] not in self.state.ordered:
            self.state.ordered.append(what["interval"])
            self.state.ordered = self.state.ordered[-500:]
        if what.get("kind") == "readings" and response.status_code == 200:
            self.state.next_reading = what["next_reading"]
            self.state.soc_kwh = what["soc_kwh"]
            self.state.ev_delivered.update(what.get("ev_delivered_kwh", {}))
            self.state.ev_delivered = dict(list(self.state.ev_delivered.items())[-200:])
        self.state.pending = None
        self.state.save(self.state_path, durable=False)

    def _log_request(self, pending: dict, response: httpx.Response) -> None:
        line = {"seq": pending["seq"], "path": pending["path"], "status": response.status_code,
                "what": pending["what"], "body": pending["body"],
                "detail": None if response.status_code == 200 else response.text[:300]}  # fmt: skip
        with open(self.state_dir / "requests.jsonl", "a") as handle:
            handle.write(json.dumps(line) + "\n")
        if response.status_code != 200:
            logger.warning("%s: %s answered %s: %s", self.member_id, pending["path"], response.status_code,
                           response.text[:200])  # fmt: skip

    def alarm(self, message: str) -> None:
        """The exchange showed something its ledger contradicts: say so loudly and keep a record."""
        text = f"{self.member_id}: THE EXCHANGE REWROTE HISTORY: {message}"
        logger.error(text)
        self.alarms.append(message)
        with open(self.state_dir / "alarms.jsonl", "a") as handle:
            handle.write(json.dumps({"at": time.time(), "alarm": message}) + "\n")

    # -- market data -----------------------------------------------------------------------------------
    def _follow_stream(self, stop: threading.Event) -> None:
        """Read the market-data stream; on its end or a skipped seq, resubscribe (a new snapshot)."""
        while not stop.is_set():
            try:
                with self.http.stream(
                    "GET", "/market/stream", timeout=httpx.Timeout(30.0, read=None)
                ) as response:
                    for line in response.iter_lines():
                        if stop.is_set():
                            return
                        if not line.startswith("data: "):
                            continue
                        message = json.loads(line[6:])
                        if message["type"] == "snapshot":
                            self._stream_seq = message["seq"]
                            self._on_snapshot(message)
                            continue
                        if self._stream_seq is not None and message["seq"] != self._stream_seq + 1:
                            logger.info("%s: market data gap (%s after %s), resyncing", self.member_id,
                                        message["seq"], self._stream_seq)  # fmt: skip
                            self.resyncs += 1
                            break
                        self._stream_seq = message["seq"]
                        self._on_message(message)
            except (httpx.TransportError, httpx.HTTPStatusError, json.JSONDecodeError):
                pass
            self._stream_seq = None
            if not stop.is_set():
                self.resyncs += 1
                stop.wait(0.2)

    def _on_snapshot(self, snapshot: dict) -> None:
        self.market.update(next_interval=snapshot["next_interval"], market_time=snapshot["market_time"])
        if snapshot.get("tree_head"):
            self.market["tree_head"] = snapshot["tree_head"]
        if "dr_events" in snapshot:
            self.dr_events = {row["event_id"]: row for row in snapshot["dr_events"]}
            self.market["members"] = snapshot.get("members", 1)
        self._wake.set()

    def _on_message(self, message: dict) -> None:
        kind = message["type"]
        if kind == "clearing":
            self.market["next_interval"] = message["next_interval"]
            self.market.setdefault("cleared", set()).add(message["interval"])
            self._wake.set()
        elif kind == "gate":
            gate = pd.Timestamp(message["gate_at"])
            self.market["market_time"] = iso(gate - pd.Timedelta(seconds=message["seconds_to_gate"]))
            self.market["next_interval"] = message["interval"]
            self._wake.set()
        elif kind == "tree_head":
            self.market["tree_head"] = {k: v for k, v in message.items() if k not in ("type", "seq")}
            self._wake.set()
        elif kind == "dr_event":
            row = {k: v for k, v in message.items() if k not in ("type", "seq")}
            self.dr_events = {**self.dr_events, row["event_id"]: row}  # replaced whole: read by the turns

    # -- forecasting -----------------------------------------------------------------------------------
    def forecast_kwh(self, first_row: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forecast consumption and generation of ``rows``, knowing the meter up to ``first_row`` [kWh].

        LightGBM day-ahead forecasts (:func:`_gbm_forecasts`, retrained once a day on the meter's
        measurements) where the configuration asks for them and the history allows; the same interval a
        day earlier (:func:`naive_forecast_kwh`) where a model has no forecast. A community battery
        forecasts the feeder it balances, with the naive forecast.
        """
        meter = self.meter
        if meter.balances_feeder:
            return (
                naive_forecast_kwh(meter.feeder_load_kwh, first_row, rows, self.period_rows),
                naive_forecast_kwh(meter.feeder_generation_kwh, first_row, rows, self.period_rows),
            )
        naive_load = naive_forecast_kwh(meter.load_kwh, first_row, rows, self.period_rows)
        naive_gen = naive_forecast_kwh(meter.generation_kwh, first_row, rows, self.period_rows)
        day = meter.index[first_row].floor("1D")
        use_gbm = self.forecaster == "lightgbm" or (
            self.forecaster == "auto" and day - meter.index[0] >= self.min_history
        )
        if not use_gbm:
            return naive_load, naive_gen
        if self._forecast_day != day:
            self._forecasts = self._gbm_forecasts(day)
            self._forecast_day = day
        index = meter.index[np.clip(rows, 0, len(meter.index) - 1)]
        load = self._forecasts["load"].reindex(index).to_numpy()
        gen = self._forecasts["generation"].reindex(index).to_numpy()
        load = np.where(np.isfinite(load), load, naive_load)
        gen = np.where(np.isfinite(gen), gen, naive_gen)
        return np.clip(load, 0, None), np.clip(gen, 0, None)

    def _gbm_forecasts(self, day: pd.Timestamp) -> dict[str, pd.Series]:
        """Day-ahead LightGBM forecasts of this day and the next, from the measurements before ``day``."""
        from wattmesh.forecast.gbm import GradientBoostingForecaster
        from wattmesh.forecast.online import issued_forecasts

        meter = self.meter
        known = meter.index < day
        targets = meter.index[(meter.index >= day) & (meter.index < day + pd.Timedelta(days=2))]
        out = {}
        for name, values, kind in (
            ("load", meter.load_kwh, "load"),
            ("generation", meter.generation_kwh, "pv"),
        ):
            history = pd.DataFrame({self.member_id: values}, index=meter.index)
            if kind == "pv" and (meter.site is None or values[known].max(initial=0.0) <= 0):
                out[name] = pd.Series(np.nan, index=targets)
                continue
            history.loc[~known] = np.nan
            measured = history.loc[: targets[-1] - pd.Timedelta("24h")].ffill()
            targets_in = targets[targets - pd.Timedelta("24h") <= measured.index[-1]]

            def make(kind=kind):
                return GradientBoostingForecaster(horizon="24h", kind=kind, site=meter.site, quantiles=(),
                                                  calibrate=False, n_estimators=120, day_of_year=False)  # fmt: skip

            try:
                frame = issued_forecasts(make, measured, targets_in, origin=day - pd.Timedelta("24h"),
                                         retrain_every="7D", train_window="56D", min_history=self.min_history)  # fmt: skip
                out[name] = frame[self.member_id].reindex(targets)
            except (ValueError, KeyError) as err:
                logger.info("%s: no %s model (%s); the naive forecast stands in", self.member_id, name, err)
                out[name] = pd.Series(np.nan, index=targets)
        return out

    def _prices(self, index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
        if self.tariffs is None:
            return np.full(len(index), 0.30), np.full(len(index), 0.08)
        return self.tariffs(index)

    # -- one turn --------------------------------------------------------------------------------------
    def turn(self) -> None:
        """Do what is due: resend a request in flight, readings of delivered intervals, the next order,
        proofs of cleared intervals, the tree head's consistency."""
        started = time.thread_time()
        if self.state.pending is not None:
            self._send_pending()
        next_interval = self.market.get("next_interval")
        market_time = self.market.get("market_time")
        if next_interval is None or market_time is None:
            return
        if self.state.next_reading is None:
            self.state.next_reading = next_interval
            self.state.soc_kwh = self.meter.soc_initial_kwh
            self.state.save(self.state_path, durable=False)
        self._upload_readings(pd.Timestamp(market_time))
        self._order(pd.Timestamp(next_interval))
        self._check_tree_head()
        self._check_trades(pd.Timestamp(next_interval))
        self.cpu_s += time.thread_time() - started

    def _order(self, interval: pd.Timestamp) -> None:
        key = iso(interval)
        if key in self.state.ordered or (self.until is not None and interval >= self.until):
            return
        meter = self.meter
        try:
            row_target = meter.row(interval)
        except KeyError:
            return  # beyond the meter's data: the home has nothing to offer
        first = meter.row(pd.Timestamp(self.state.next_reading))
        rows = np.arange(first, min(first + max(self.horizon, row_target - first + 1), len(meter.index)))
        index = meter.index[rows]
        load, generation = self.forecast_kwh(first, rows)
        retail, feed_in = self._prices(index)
        sessions = None
        if meter.has_ev:
            load, sessions = self._ev_to_plan(index, row_target - first, load)
        cap = None
        if self.dr_events and not meter.balances_feeder:
            expected_kw = np.maximum(load - generation, 0.0) / meter.interval_h
            cap = member_import_cap_kw(list(self.dr_events.values()), index, self.member_id,
                                       self.market.get("members", 1), expected_kw)  # fmt: skip
        decision = plan_home_order(load, generation, float(self.state.soc_kwh), self.battery, retail, feed_in,
                                   meter.interval_h, index, self.member_id, row_target - first,
                                   self.fee_per_kwh, self.strategy, self.rng, meter.balances_feeder,
                                   ev_sessions=sessions, import_cap_kw=cap)  # fmt: skip
        self.state.positions[key] = decision.position_kwh
        self.state.positions = dict(list(self.state.positions.items())[-500:])
        if meter.has_ev:
            self.state.ev_plan[key] = decision.ev_session_kwh
            self.state.ev_plan = dict(list(self.state.ev_plan.items())[-500:])
        if decision.orders.empty:
            self.state.ordered.append(key)
            self.state.save(self.state_path, durable=False)
            return
        order = decision.orders.iloc[0]
        body = {"order_id": str(order["order_id"]), "side": str(order["side"]), "delivery_start": key,
                "energy_wh": max(1, int(round(order["energy_kwh"] * 1000))),
                "price_per_kwh_e5": int(round(order["price_per_kwh"] * 1e5))}  # fmt: skip
        self._request("POST", "/orders", body, {"kind": "order", "interval": key})

    # -- the EV --------------------------------------------------------------------------------------
    def _ev_charge_kwh(self, interval: pd.Timestamp, delivered: dict) -> dict[str, float]:
        """What the charger puts into each EV session plugged in during ``interval`` [kWh]: the plan's
        charging for it (at full power from arrival where the agent made no plan), at least what the
        session must get now to have its energy by departure, at most the charger's limit and what the
        session still needs (``delivered``: session id -> kWh charged before ``interval``)."""
        ev = self._ev
        at = pd.Timestamp(interval).value
        plugged = np.flatnonzero((ev["arrival_ns"] <= at) & (at < ev["departure_ns"]))
        planned = self.state.ev_plan.get(iso(interval))
        out = {}
        for k in plugged:
            sid = ev["ids"][k]
            full_kwh = ev["charger_kw"][k] * self.meter.interval_h
            still_kwh = max(ev["energy_kwh"][k] - float(delivered.get(sid, 0.0)), 0.0)
            # the intervals after this one that still start before departure
            after = max(int(np.ceil((ev["departure_ns"][k] - at) / self.step.value - 1e-9)) - 1, 0)
            must_kwh = still_kwh - full_kwh * after
            plan_kwh = full_kwh if planned is None else float(planned.get(sid, 0.0))
            out[sid] = float(np.clip(max(plan_kwh, must_kwh), 0.0, min(full_kwh, still_kwh)))
        return out

    def _ev_to_plan(
        self, index: pd.DatetimeIndex, row: int, load_kwh: np.ndarray
    ) -> tuple[np.ndarray, pd.DataFrame]:
        """The EV sessions left to plan from ``index[row]`` on (``energy_kwh`` what each still needs after
        the energy delivered and the charging already decided for ``index[:row]``, ``arrival`` no earlier
        than ``index[row]``) and ``load_kwh`` with that decided charging added [kWh]."""
        delivered = dict(self.state.ev_delivered)
        load_kwh = np.array(load_kwh, float)
        for t in range(row):
            charge = self._ev_charge_kwh(index[t], delivered)
            for sid, kwh in charge.items():
                delivered[sid] = delivered.get(sid, 0.0) + kwh
            load_kwh[t] += sum(charge.values())
        ev = self._ev
        still_kwh = ev["energy_kwh"] - np.array([delivered.get(sid, 0.0) for sid in ev["ids"]])
        keep = (
            (ev["departure_ns"] > index[row].value)
            & (ev["arrival_ns"] <= index[-1].value)
            & (still_kwh > 1e-9)
        )
        left = self.meter.ev_sessions[keep].assign(
            energy_kwh=still_kwh[keep],
            arrival=pd.to_datetime(np.maximum(ev["arrival_ns"][keep], index[row].value), utc=True),
        )
        return load_kwh, left

    def _upload_readings(self, market_time: pd.Timestamp) -> None:
        meter = self.meter
        start = pd.Timestamp(self.state.next_reading)
        soc = float(self.state.soc_kwh)
        delivered, charged = dict(self.state.ev_delivered), {}
        readings, interval = [], start
        while interval + self.step <= market_time and interval <= meter.index[-1]:
            k = meter.row(interval)
            net = float(meter.generation_kwh[k] - meter.load_kwh[k])
            if meter.has_ev:
                ev = self._ev_charge_kwh(interval, delivered)
                for sid, kwh in ev.items():
                    delivered[sid] = charged[sid] = delivered.get(sid, 0.0) + kwh
                net -= sum(ev.values())
            target = self._traded_kwh(interval)
            if target is None:
                return  # the interval's clearing is not out yet
            charge, discharge, soc = battery_step(net, soc, self.battery, meter.interval_h, target)
            readings.append(
                {"interval": iso(interval), "energy_wh": int(round((net - charge + discharge) * 1000))}
            )
            interval += self.step
        if readings:
            what = {"kind": "readings", "next_reading": iso(interval), "soc_kwh": soc, "count": len(readings)}
            if charged:
                what["ev_delivered_kwh"] = charged
            self._request("POST", "/readings", {"readings": readings}, what)

    def _traded_kwh(self, interval: pd.Timestamp) -> float | None:
        """The position the battery tracks in a delivered interval [kWh, > 0 export]: a home's planned
        position (0 without a plan: the self-consumption rule); a community battery's filled trades
        (None until the clearing is known)."""
        key = iso(interval)
        if not self.meter.balances_feeder:
            return float(self.state.positions.get(key, 0.0))
        if key not in self.state.ordered or self.state.positions.get(key, 0.0) == 0.0:
            return 0.0
        response = self.http.get(f"/intervals/{key}")
        if response.status_code != 200:
            return None
        trades = response.json()["trades"]
        return sum(t["energy_amount_kwh"] for t in trades if t["seller"] == self.member_id) - sum(
            t["energy_amount_kwh"] for t in trades if t["buyer"] == self.member_id
        )

    def _check_trades(self, next_interval: pd.Timestamp) -> None:
        """Each of its trades in a cleared interval: the proof verifies and holds the announced trade."""
        from wattmesh.ledger import verify_proof

        head = self.state.last_head
        open_key = iso(next_interval)  # ISO 8601 UTC strings of one format order as the times do
        checked = set(self.state.checked)
        for key in [k for k in self.state.ordered if k < open_key and k not in checked]:
            if head is None or head["interval"] < key:
                return  # the ledger has not recorded the interval yet
            if self.market.get("next_interval", open_key) != open_key:
                # a gate passed meanwhile: the next order comes before the audit (it has a deadline)
                self._wake.set()
                return
            response = self.http.get(f"/intervals/{key}")
            if response.status_code != 200:
                return
            mine = [t for t in response.json()["trades"] if self.member_id in (t["buyer"], t["seller"])]
            for trade in mine:
                announced = self.state.trades.setdefault(trade["transaction_id"], trade)
                if announced != trade:
                    self.alarm(
                        f"trade {trade['transaction_id']} was {announced}, the exchange now shows {trade}"
                    )
                self._verify_trade(announced, verify_proof)
            self.state.checked.append(key)
            self.state.checked = self.state.checked[-500:]
            self.state.save(self.state_path, durable=False)
            self._cosign_trades()  # co-signing (members who hold their own key; see _cosign_trades)

    # -- co-signing (added with the exchange's co-signatures; members who hold their own key) ----------
    def _cosign_trades(self) -> None:
        """Sign the member's ledger entries that await its signature and post each (a journaled request,
        resent unchanged after a crash). A custodial member has none: the exchange signed for it."""
        from wattmesh.ledger.keys import sign_many
        from wattmesh.ledger.local import trade_message

        try:
            response = self.http.get(f"/ledger/awaiting/{self.member_id}")
        except httpx.TransportError:  # the next checked interval asks again
            return
        if response.status_code != 200:
            return
        for entry in response.json()["entries"]:
            record = json.loads(entry["record"])
            if self.member_id not in (record.get("seller"), record.get("buyer")):
                self.alarm(f"ledger entry {entry['transaction_id']} to co-sign is not this member's trade")
                continue
            signature = sign_many([self.client.secret], [trade_message(entry["record"].encode())])[0]
            body = {"transaction_id": entry["transaction_id"], "signature": signature.hex()}
            what = {"kind": "cosign", "transaction_id": body["transaction_id"]}
            self._request("POST", "/ledger/cosign", body, what)

    def _verify_trade(self, trade: dict, verify_proof) -> None:
        from wattmesh.ledger.records import decode_record

        tx = trade["transaction_id"]
        response = self.http.get(f"/ledger/proof/{tx}")
        if response.status_code != 200:
            self.alarm(f"trade {tx} has no proof in the ledger ({response.status_code})")
            return
        proof = response.json()
        keys = proof.get("public_keys", {})
        if self.state.operator_key is None and "operator" in keys:
            self.state.operator_key = keys["operator"]
        problems = verify_proof(proof, bytes.fromhex(self.state.operator_key or keys.get("operator", "")))
        if problems:
            self.alarm(f"trade {tx}: its proof fails: {'; '.join(problems)}")
            return
        recorded = decode_record(proof["record"].encode(), int(proof.get("format", 1)))
        differs = [k for k in ("seller", "buyer", "energy_amount_kwh", "price_per_kwh", "interval")
                   if k in recorded and not _same(recorded[k], trade.get(k))]  # fmt: skip
        if differs:
            self.alarm(f"trade {tx}: the ledger records {', '.join(f'{k}={recorded[k]!r}' for k in differs)}, "
                       f"the exchange announced {', '.join(f'{k}={trade.get(k)!r}' for k in differs)}")  # fmt: skip

    def _check_tree_head(self) -> None:
        """The latest signed tree head extends the last one seen (RFC 9162 consistency proof)."""
        from wattmesh.ledger.local import TreeHead
        from wattmesh.ledger.merkle import verify_consistency

        new = self.market.get("tree_head")
        old = self.state.last_head
        if new is None or (old is not None and new["head_index"] == old["head_index"] and new == old):
            return
        if old is not None:
            if new["tree_size"] < old["tree_size"]:
                self.alarm(f"the tree shrank from {old['tree_size']} to {new['tree_size']} entries")
                return
            response = self.http.get("/ledger/consistency", params={"old_size": old["tree_size"],
                                                                    "new_size": new["tree_size"]})  # fmt: skip
            if response.status_code != 200:
                return
            path = [bytes.fromhex(h) for h in response.json()["path"]]
            if old["tree_size"] > 0 and not verify_consistency(
                old["tree_size"], new["tree_size"], bytes.fromhex(old["root_hash"]),
                bytes.fromhex(new["root_hash"]), path,
            ):  # fmt: skip
                self.alarm(f"tree head {new['head_index']} (size {new['tree_size']}) does not extend head "
                           f"{old['head_index']} (size {old['tree_size']}): entries were changed")  # fmt: skip
                return
        if self.state.operator_key and not TreeHead.from_dict(new).is_signed_by(
            bytes.fromhex(self.state.operator_key)
        ):
            self.alarm(f"tree head {new['head_index']} is not signed by the operator's pinned key")
            return
        self.state.last_head = new
        self.state.save(self.state_path, durable=False)

    # -- the loop --------------------------------------------------------------------------------------
    def resync(self) -> None:
        """Read the market's state afresh (the snapshot)."""
        response = self.http.get("/market/snapshot")
        response.raise_for_status()
        self._on_snapshot(response.json())

    def run(self, stop: threading.Event, until: pd.Timestamp | None = None) -> None:
        """Trade until ``stop`` is set (or the market time passes ``until`` and every reading is in)."""
        streamer = threading.Thread(target=self._follow_stream, args=(stop,), daemon=True,
                                    name=f"stream-{self.member_id}")  # fmt: skip
        streamer.start()
        if self.state.pending is not None:
            self._send_pending()  # a request in flight when the agent stopped: the same seq and body
        self.resync()
        while not stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                self.turn()
            except (httpx.TransportError, ConnectionError) as err:
                logger.warning("%s: %s; retrying", self.member_id, err)
                stop.wait(0.5)
                continue
            if (
                until is not None
                and self.state.next_reading
                and pd.Timestamp(self.state.next_reading) >= until
            ):
                break
        streamer.join(timeout=0.1)


# -- the command line ----------------------------------------------------------------------------------
def agent_command(
    server: str = typer.Option(..., "--server", help="The exchange, e.g. http://127.0.0.1:8000."),
    member: str = typer.Option(..., "--member", help="The member this agent trades for."),
    key: Path = typer.Option(
        ...,
        "--key",
        help="The member's key file (PKCS#8 PEM); an encrypted one is opened with WATTMESH_KEY_PASSPHRASE.",
    ),
    meter: Path = typer.Option(
        ...,
        "--meter",
        help="Meter replay CSV: interval (UTC), load_kwh, generation_kwh \\[kWh per interval].",
    ),
    ev_sessions: Path = typer.Option(
        None,
        "--ev-sessions",
        help="The home's EV sessions CSV: arrival, departure (UTC), energy_kwh \\[kWh needed], charger_kw "
        "\\[kW]; the agent plans the charging (the meter's load_kwh is then the rest of the home).",
    ),
    state_dir: Path = typer.Option(None, "--state", help="State folder (default ./agent-MEMBER)."),
    strategy: str = typer.Option("truthful", help="Order prices: truthful or zic."),
    forecaster: str = typer.Option("auto", help="auto (LightGBM with a week of history), lightgbm or naive."),
    battery_kwh: float = typer.Option(0.0, help="Home battery capacity \\[kWh]."),
    battery_kw: float = typer.Option(0.0, help="Home battery power \\[kW]."),
    battery_efficiency: float = typer.Option(0.9, help="Battery round-trip efficiency \\[-]."),
    retail: float = typer.Option(0.30, help="The utility's retail price \\[currency/kWh]."),
    feed_in: float = typer.Option(0.08, help="The utility's feed-in tariff \\[currency/kWh]."),
) -> None:
    """Run a home agent: forecast, plan, post orders before each gate, upload readings, audit the ledger."""
    from wattmesh.service.auth import secret_from_key_file

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        secret = secret_from_key_file(key)
        sessions = None if ev_sessions is None else ev_sessions_from_csv(ev_sessions)
        source = meter_from_csv(meter, sessions, battery_kwh=battery_kwh, battery_kw=battery_kw,
                                battery_efficiency=battery_efficiency)  # fmt: skip
        agent = HomeAgent(server, member, secret, source, state_dir or Path(f"agent-{member}"),
                          strategy=strategy, forecaster=forecaster,
                          tariffs=lambda index: (np.full(len(index), retail), np.full(len(index), feed_in)))  # fmt: skip
    except (OSError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    stop = threading.Event()
    try:
        agent.run(stop)
    except KeyboardInterrupt:
        stop.set()
    if agent.alarms:
        raise typer.Exit(3)


if (
    __name__ == "__main__"
):  # `python -m wattmesh.service.agent ...`: the command without the whole CLI's imports
    typer.run(agent_command)
