"""Feeder tasks: one (scenario, feeder) over the whole span, what it needs to run and what it returns.

A task carries the scenario as its TOML-shaped dict (a few kB) and builds its community itself, so the
driver never holds a feeder's profiles and a task is cheap to ship to another process or machine.
"""

from __future__ import annotations

import copy
import time
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
    """

    scenario_key: str
    feeder_index: int
    feeder_name: str
    seed: int
    raw: dict = field(repr=False)
    source: str = "<memory>"


@dataclass
class FeederOutcome:
    """What a feeder task returns: per-member and per-interval totals of every case, the full case's trades.

    Attributes
    ----------
    scenario_key, feeder_index, feeder_name, seed : the task's identity (:class:`FeederTask`)
    index : (T,) the UTC interval starts
    member_ids : (M,) the feeder's member ids
    by_member : case -> name -> (M,) totals over the span [kWh, currency]
    by_interval : case -> name -> (T,) totals over members [kWh]
    local_price_per_kwh : case -> (T,) mean local price, NaN where nothing traded [currency/kWh]
    trades : the full case's local trades (rows into ``index``, member columns)
    retail_per_kwh, feed_in_per_kwh : (T,) the utility's prices [currency/kWh]
    local_fee_per_kwh : the feeder's local grid fee [currency/kWh]
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
    by_interval: dict[str, dict[str, np.ndarray]]
    local_price_per_kwh: dict[str, np.ndarray]
    trades: BatchTrades
    retail_per_kwh: np.ndarray
    feed_in_per_kwh: np.ndarray
    local_fee_per_kwh: float
    seconds: float = 0.0
    where: str = ""

    @property
    def unmatched_import_kwh(self) -> np.ndarray:
        """(T,) what the full case still bought from the utility after the local market [kWh]."""
        return self.by_interval[FULL_CASE]["import_kwh"]

    @property
    def unmatched_export_kwh(self) -> np.ndarray:
        """(T,) what the full case still sold to the utility after the local market [kWh]."""
        return self.by_interval[FULL_CASE]["export_kwh"]

    def arrays(self) -> dict[str, np.ndarray]:
        """Every result array under a flat name, for comparisons (bitwise) between runs."""
        found = {"trades." + k: getattr(self.trades, k) for k in BatchTrades.__dataclass_fields__}
        for case in self.by_member:
            found |= {f"{case}.by_member.{k}": v for k, v in self.by_member[case].items()}
            found |= {f"{case}.by_interval.{k}": v for k, v in self.by_interval[case].items()}
            found[f"{case}.local_price_per_kwh"] = self.local_price_per_kwh[case]
        return found


def feeder_seed(scenario_seed: int, feeder_index: int) -> int:
    """The seed of feeder ``feeder_index`` of a scenario seeded ``scenario_seed`` (0 <= seed < 2**32).

    Derived with numpy's SeedSequence (spawn key = the feeder's place), so it does not depend on which
    process runs the task or in which order. A sweep keeps the same seeds at every grid point (common
    random numbers: two points differ only by what was varied); vary ``seed`` for a Monte Carlo.
    """
    sequence = np.random.SeedSequence(int(scenario_seed), spawn_key=(int(feeder_index),))
    return int(sequence.generate_state(1, np.uint32)[0])


def feeder_tasks(raw: dict, source: str = "<memory>", scenario_key: str = "") -> list[FeederTask]:
    """One task per feeder of the scenario ``raw`` (TOML-shaped): its ``[[feeders]]``, else its ``feeder``.

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
            FeederTask(scenario_key, i, f"{name}#{i}" if checked.feeders else name, seed, own, source)
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
    return FeederOutcome(
        scenario_key=task.scenario_key,
        feeder_index=task.feeder_index,
        feeder_name=task.feeder_name,
        seed=task.seed,
        index=community.index,
        member_ids=community.member_ids.to_numpy(),
        by_member={c: r.by_member for c, r in cases.items()},
        by_interval={c: r.by_interval for c, r in cases.items()},
        local_price_per_kwh={c: r.local_price_per_kwh for c, r in cases.items()},
        trades=cases[FULL_CASE].trade_arrays,
        retail_per_kwh=np.asarray(community.retail_per_kwh, float),
        feed_in_per_kwh=np.asarray(community.feed_in_per_kwh, float),
        local_fee_per_kwh=float(community.local_fee_per_kwh),
        seconds=time.perf_counter() - began,
        where=_where(),
    )


def _where() -> str:
    """The Ray node id when running on Ray, else host and process id."""
    import os
    import socket

    try:
        import ray

        if ray.is_initialized():
            return "ray:" + ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    return f"{socket.gethostname()}:{os.getpid()}"


def stable_key(text: str) -> int:
    """A process-independent 32-bit number for a text (Python's hash() is salted per process)."""
    return zlib.crc32(text.encode())
