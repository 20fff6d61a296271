"""A city: every feeder of a scenario as its own task, then the substation market as a task over theirs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.scale.substation import SubstationResult, clear_substation
from wattmesh.scale.tasks import FeederOutcome, FeederTask, feeder_tasks, run_feeder, stable_key

CASES = ("alone", "p2p", "p2p_battery")


def substation_task(seed: int, *outcomes: FeederOutcome) -> SubstationResult:
    """The substation market as a task: its arguments are the feeder tasks' results, in task order."""
    return clear_substation(list(outcomes), seed)


def substation_seed(scenario_seed: int, scenario_key: str) -> int:
    """The substation market's tie-break seed, from the scenario's seed and its key in a sweep."""
    sequence = np.random.SeedSequence(int(scenario_seed), spawn_key=(2**31, stable_key(scenario_key)))
    return int(sequence.generate_state(1, np.uint32)[0])


@dataclass
class CityResult:
    """Every feeder's outcome (in task order) and the substation's clearing.

    Attributes
    ----------
    scenario_key : the grid point in a sweep, "" for one scenario
    feeders : the feeder tasks' outcomes (:class:`~wattmesh.scale.tasks.FeederOutcome`), in task order
    substation : the substation market over their unmatched positions
    """

    scenario_key: str
    feeders: list[FeederOutcome]
    substation: SubstationResult

    def arrays(self) -> dict[str, np.ndarray]:
        """Every result array under a flat name (feeder name first), for bitwise comparisons."""
        found = {}
        for outcome in self.feeders:
            found |= {f"{outcome.feeder_name}.{k}": v for k, v in outcome.arrays().items()}
        return found | self.substation.arrays()

    def table(self) -> pd.DataFrame:
        """One tidy row per (feeder, case): energy totals [kWh], bills [currency], self-sufficiency [%].

        The substation's purchases, sales and saving are on the full case's rows.
        """
        rows = []
        for f, outcome in enumerate(self.feeders):
            for case in CASES:
                m = outcome.by_member[case]
                bill = m["paid_utility"] + m["paid_local"] - m["received_utility"] - m["received_local"]
                consumption = float(m["consumption_kwh"].sum())
                full = case == "p2p_battery"
                rows.append(
                    {
                        "scenario": self.scenario_key,
                        "feeder": outcome.feeder_name,
                        "case": case,
                        "members": len(outcome.member_ids),
                        "consumption_kwh": consumption,
                        "generation_kwh": float(m["generation_kwh"].sum()),
                        "import_kwh": float(m["import_kwh"].sum()),
                        "export_kwh": float(m["export_kwh"].sum()),
                        "local_traded_kwh": float(m["bought_kwh"].sum()),
                        "bill": float(bill.sum()),
                        "self_sufficiency_pct": 100.0 * (1 - float(m["import_kwh"].sum()) / consumption)
                        if consumption > 0
                        else np.nan,
                        "substation_bought_kwh": float(self.substation.bought_kwh[f]) if full else 0.0,
                        "substation_sold_kwh": float(self.substation.sold_kwh[f]) if full else 0.0,
                        "substation_saving": float(self.substation.saving[f]) if full else 0.0,
                        "task_seconds": outcome.seconds,
                    }
                )
        return pd.DataFrame(rows)


def submit_city(executor, tasks: list[FeederTask], substation_seed_: int):
    """Submit a city's feeder tasks and its substation task; return (feeder handles, substation handle)."""
    handles = [executor.submit(run_feeder, task) for task in tasks]
    return handles, executor.submit(substation_task, substation_seed_, *handles)


def run_city(
    raw: dict, source: str = "<memory>", executor=None, scenario_key: str = "", detail: bool = False
) -> CityResult:
    """Run the scenario ``raw`` (TOML-shaped) as a city: a task per feeder, then the substation market.

    ``executor`` is a :mod:`wattmesh.scale.executors` executor (serial when None). The result is bitwise
    the same on every executor. ``detail`` keeps every feeder's per-interval series and trades (see
    :class:`~wattmesh.scale.tasks.FeederOutcome`); by default a feeder returns its totals and its net
    unmatched position only.
    """
    from wattmesh.scale.executors import SerialExecutor

    executor = executor or SerialExecutor()
    tasks = feeder_tasks(raw, source, scenario_key, detail)
    seed = substation_seed(raw.get("seed", 42), scenario_key)
    handles, substation = submit_city(executor, tasks, seed)
    feeders = executor.gather(handles)
    return CityResult(scenario_key, feeders, executor.gather([substation])[0])


def record_substation(result: CityResult, path, key_dir, scope: str) -> int:
    """Sign the substation's trades into a fresh local ledger at ``path`` (one tree head per interval).

    The feeders are the parties; their keys (and the operator's) are made in ``key_dir``. Returns the
    number of entries.
    """
    from pathlib import Path

    from wattmesh.exchange import record
    from wattmesh.ledger import ensure_keys, open_ledger

    substation = result.substation
    trades = substation.records(scope)
    keyring = ensure_keys(Path(key_dir), [str(n) for n in substation.feeder_names])
    Path(path).unlink(missing_ok=True)
    ledger = open_ledger("local", path, keyring, party_signatures=True, run=True)
    try:
        index = substation.index
        record(ledger, trades, index, index[1] - index[0] if len(index) > 1 else pd.Timedelta("15min"))
        ledger.finish_run()
    finally:
        ledger.close()
    return len(trades)
