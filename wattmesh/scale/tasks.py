"""Feeder tasks: one (scenario, feeder) over the whole span, what it needs to run and what it returns.

A task carries the scenario as its TOML-shaped dict (a few kB) and builds its community itself, so the
driver never holds a feeder's profiles and a task is cheap to ship to another process or machine.
"""

from __future__ import annotations

import copy
import hashlib
import time
import weakref
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wattmesh.community.scenario import Scenario, parse_scenario
from wattmesh.market.result import BatchTrades

#: The case whose unmatched positions go to the substation market (markets, batteries and plan).
FULL_CASE = "p2p_battery"


@dataclass(frozen=True)
class FeederTask:
    """One feeder of one scenario.

    Attributes
    ----------
    scenario_key : the scenario's name in a sweep (its grid point), "" for a single scenario
    feeder_index : the feeder's place in the scenario's ``[[feeders]]`` (0 without that list)
    feeder_name : the feeder's name in tables and in the substation's trades
    seed : the task's seed (:func:`feeder_seed`), used for the feeder's variety, fleet and tie-breaks
    raw : the feeder's own scenario, TOML-shaped (its ``feeder`` section and ``seed`` replaced)
    source : the scenario file, against which the feeder's own files are resolved
    detail : whether the outcome keeps every case's per-interval series and the full case's trades;
        without (the default) it keeps what the city's table and the substation use, about 1.1 MB per
        feeder-year as sent instead of ~63 MB (see :class:`FeederOutcome`)
    """

    scenario_key: str
    feeder_index: int
    feeder_name: str
    seed: int
    raw: dict = field(repr=False)
    source: str = "<memory>"
    detail: bool = False


@dataclass
class FeederOutcome:
    """What a feeder task returns: per-member totals of every case and the full case's unmatched position;
    with the task's ``detail``, also every case's per-interval series and the full case's trades.

    The reduction happens inside the task, so a city of 1,000 feeder-years sends the driver about 1.1 GB
    rather than ~63 GB. When outcomes are unpickled (arriving from a worker) their interval index and price
    series are shared with an equal one already in the process (:func:`shared`): a city's feeders have one
    index and, usually, one tariff, so the driver holds about 0.3 GB of them.

    Attributes
    ----------
    scenario_key, feeder_index, feeder_name, seed : the task's identity (:class:`FeederTask`)
    index : (T,) the UTC interval starts
    member_ids : (M,) the feeder's member ids
    by_member : case -> name -> (M,) totals over the span [kWh, currency]
    net_import_kwh : (T,) the full case's unmatched import minus its unmatched export, what the feeder's
        transformer still takes from (> 0) or gives to (< 0) the grid after its local market [kWh]
    retail_per_kwh, feed_in_per_kwh : (T,) the utility's prices [currency/kWh]
    local_fee_per_kwh : the feeder's local grid fee [currency/kWh]
    by_interval : case -> name -> (T,) totals over members [kWh]; None without ``detail``
    local_price_per_kwh : case -> (T,) mean local price, NaN where nothing traded [currency/kWh]; None
        without ``detail``
    trades : the full case's local trades (rows into ``index``, member columns); None without ``detail``
    seconds : wall time the task took [s] (not part of the compared results)
    where : the process or Ray node that ran it (not part of the compared results)
    """

    scenario_key: str
    feeder_index: int
    feeder_name: str
    seed: int
    index: pd.DatetimeIndex
    member_ids: np.ndarray
    by_member: dict[str, dict[str, np.ndarray]]
    net_import_kwh: np.ndarray
    retail_per_kwh: np.ndarray
    feed_in_per_kwh: np.ndarray
    local_fee_per_kwh: float
    by_interval: dict[str, dict[str, np.ndarray]] | None = None
    local_price_per_kwh: dict[str, np.ndarray] | None = None
    trades: BatchTrades | None = None
    seconds: float = 0.0
    where: str = ""

    @property
    def unmatched_import_kwh(self) -> np.ndarray:
        """(T,) what the full case still bought from the utility after the local market [kWh]."""
        return self._detail("unmatched_import_kwh")[FULL_CASE]["import_kwh"]

    @property
    def unmatched_export_kwh(self) -> np.ndarray:
        """(T,) what the full case still sold to the utility after the local market [kWh]."""
        return self._detail("unmatched_export_kwh")[FULL_CASE]["export_kwh"]

    def _detail(self, what: str) -> dict:
        if self.by_interval is None:
            raise ValueError(
                f"feeder {self.feeder_name!r}: {what} is kept only by a task run with detail=True "
                "(this outcome holds the by-member totals and net_import_kwh)"
            )
        return self.by_interval

    def arrays(self) -> dict[str, np.ndarray]:
        """Every result array under a flat name, for comparisons (bitwise) between runs."""
        found = {
            "net_import_kwh": self.net_import_kwh,
            "retail_per_kwh": self.retail_per_kwh,
            "feed_in_per_kwh": self.feed_in_per_kwh,
        }
        if self.trades is not None:
            found |= {"trades." + k: getattr(self.trades, k) for k in BatchTrades.__dataclass_fields__}
        for case in self.by_member:
            found |= {f"{case}.by_member.{k}": v for k, v in self.by_member[case].items()}
            if self.by_interval is not None:
                found |= {f"{case}.by_interval.{k}": v for k, v in self.by_interval[case].items()}
            if self.local_price_per_kwh is not None:
                found[f"{case}.local_price_per_kwh"] = self.local_price_per_kwh[case]
        return found

    def __setstate__(self, state: dict) -> None:
        for name in ("index", "retail_per_kwh", "feed_in_per_kwh"):
            state[name] = shared(state[name])
        self.__dict__.update(state)


#: Arrays and indexes that arrived in outcomes, by content; an equal one arriving later is replaced by the
#: first (the first lives as long as some outcome holds it).
_SHARED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def shared(values):
    """``values`` (a numpy array or a pandas Index), or an equal one already held in this process."""
    data = values.asi8 if isinstance(values, pd.DatetimeIndex) else np.asarray(values)
    if data.dtype == object:
        return values
    key = (type(values).__name__, str(values.dtype), data.shape,
           hashlib.blake2b(np.ascontiguousarray(data).view(np.uint8), digest_size=16).digest())  # fmt: skip
    found = _SHARED.get(key)
    if found is not None and type(found) is type(values):
        same = found.equals(values) if isinstance(values, pd.Index) else np.array_equal(found, data)
        if same:
            return found
    _SHARED[key] = values
    return values


def feeder_seed(scenario_seed: int, feeder_index: int) -> int:
    """The seed of feeder ``feeder_index`` of a scenario seeded ``scenario_seed`` (0 <= seed < 2**32).

    Derived with numpy's SeedSequence (spawn key = the feeder's place), so it does not depend on which
    process runs the task or in which order. A sweep keeps the same seeds at every grid point (common
    random numbers: two points differ only by what was varied); vary ``seed`` for a Monte Carlo.
    """
    sequence = np.random.SeedSequence(int(scenario_seed), spawn_key=(int(feeder_index),))
    return int(sequence.generate_state(1, np.uint32)[0])


def feeder_tasks(
    raw: dict, source: str = "<memory>", scenario_key: str = "", detail: bool = False
) -> list[FeederTask]:
    """One task per feeder of the scenario ``raw`` (TOML-shaped): its ``[[feeders]]``, else its ``feeder``.

    ``detail`` asks every task to return its per-interval series and trades too (:class:`FeederTask`).

    Each ``[[feeders]]`` entry replaces the ``feeder`` section's source and files (latitude, longitude and
    weather stay); the feeder's name defaults to its code or members file.

    Raises
    ------
    wattmesh.community.scenario.ScenarioError
        if the scenario (with its feeders list) is not valid.
    """
    checked = validated(raw, source)
    base = {k: v for k, v in copy.deepcopy(raw).items() if k != "feeders"}
    entries = checked.feeders or [None]
    tasks = []
    for i, entry in enumerate(entries):
        own = copy.deepcopy(base)
        section = dict(own.get("feeder", {}))
        if entry is not None:
            for key in ("code", "members_file", "readings_file", "network_file"):
                section.pop(key, None)
            if entry["code"]:
                section |= {"source": "simbench", "code": entry["code"]}
            else:
                section |= {k: entry[k] for k in ("members_file", "readings_file", "network_file")}
                section["source"] = "files"
        own["feeder"] = section
        name = (entry or {}).get("name") or section.get("code") or section.get("members_file") or f"feeder{i}"
        seed = feeder_seed(checked["seed"], i)
        own["seed"] = seed
        tasks.append(
            FeederTask(scenario_key, i, f"{name}#{i}" if checked.feeders else name, seed, own, source, detail)
        )
    return tasks


def validated(raw: dict, source: str = "<memory>") -> Scenario:
    """The scenario ``raw`` validated; a city's ``feeder`` section may leave out what its first
    ``[[feeders]]`` entry gives (the code or the files).

    Raises
    ------
    wattmesh.community.scenario.ScenarioError
        listing every problem.
    """
    feeders = raw.get("feeders")
    if isinstance(feeders, list) and feeders and isinstance(feeders[0], dict):
        raw = copy.deepcopy(raw)
        section = raw.setdefault("feeder", {})
        first = feeders[0]
        if first.get("code") and not section.get("code") and section.get("source", "simbench") == "simbench":
            section["code"] = first["code"]
        elif first.get("members_file") and not section.get("members_file"):
            section |= {"source": "files"} | {
                k: first[k] for k in ("members_file", "readings_file", "network_file") if k in first
            }
    return parse_scenario(raw, source=source)


def scenario_of(task: FeederTask) -> Scenario:
    """The task's feeder as a validated scenario."""
    return parse_scenario(task.raw, source=task.source)


def run_feeder(task: FeederTask) -> FeederOutcome:
    """Build the task's community and run the simulator's three cases on it (the body of every task).

    With ``energy.dispatch = "planner"`` the homes' plan is made inside the task too, so every feedback
    loop of a feeder stays in its task.
    """
    from wattmesh.community.build import build_community
    from wattmesh.simulate.engine import simulate

    began = time.perf_counter()
    scenario = scenario_of(task)
    community = build_community(scenario)
    plan = None
    if scenario["energy.dispatch"] == "planner":
        from wattmesh.energy.members import forecast_options, plan_scenario_dispatch

        plan = plan_scenario_dispatch(community, scenario, forecast_options(scenario))
    result = simulate(
        community,
        price_rule=scenario["market.price_rule"],
        seed=scenario["seed"],
        detail=False,
        mechanism=scenario["market.mechanism"],
        home_plan=plan,
        min_trade_kwh=scenario["market.min_trade_kwh"],
    )
    cases = result.cases
    full = cases[FULL_CASE].by_interval
    detail = task.detail
    return FeederOutcome(
        scenario_key=task.scenario_key,
        feeder_index=task.feeder_index,
        feeder_name=task.feeder_name,
        seed=task.seed,
        index=community.index,
        member_ids=community.member_ids.to_numpy(),
        by_member={c: r.by_member for c, r in cases.items()},
        net_import_kwh=full["import_kwh"] - full["export_kwh"],
        retail_per_kwh=np.asarray(community.retail_per_kwh, float),
        feed_in_per_kwh=np.asarray(community.feed_in_per_kwh, float),
        local_fee_per_kwh=float(community.local_fee_per_kwh),
        by_interval={c: r.by_interval for c, r in cases.items()} if detail else None,
        local_price_per_kwh={c: r.local_price_per_kwh for c, r in cases.items()} if detail else None,
        trades=cases[FULL_CASE].trade_arrays if detail else None,
        seconds=time.perf_counter() - began,
        where=_where(),
    )


def _where() -> str:
    """The Ray node id when running on Ray, else host and process id."""
    import os
    import socket
    import sys

    ray = sys.modules.get("ray")  # imported on a Ray worker; importing it elsewhere costs about 1 s
    if ray is not None and ray.is_initialized():
        return "ray:" + ray.get_runtime_context().get_node_id()
    return f"{socket.gethostname()}:{os.getpid()}"


def stable_key(text: str) -> int:
    """A process-independent 32-bit number for a text (Python's hash() is salted per process)."""
    return zlib.crc32(text.encode())
