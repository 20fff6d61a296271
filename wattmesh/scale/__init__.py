"""A city of feeders and sweeps of scenarios, run serially, on a process pool or on a Ray cluster.

``run_city(raw, source, executor)`` runs one task per feeder (the whole span is the time block, since the
batteries carry their state across it) and a substation market over the feeders' unmatched positions, a
task that depends on theirs; ``run_sweep`` does it for a grid of scenarios. Every executor gives results
bitwise equal to the serial run: each task's seed is derived from the scenario's seed and the feeder's
place, and results are gathered in task order whatever order they finish in.

This part sits above the simulator (it drives :func:`wattmesh.simulate.engine.simulate` in each task) and
below the command line; no core part imports it.
"""

from __future__ import annotations

from importlib import import_module

_LAZY = {
    "run_city": "city",
    "CityResult": "city",
    "feeder_tasks": "tasks",
    "FeederTask": "tasks",
    "FeederOutcome": "tasks",
    "run_feeder": "tasks",
    "clear_substation": "substation",
    "binned_curves": "substation",
    "executor_of": "executors",
    "SerialExecutor": "executors",
    "ProcessExecutor": "executors",
    "RayExecutor": "executors",
    "sweep_grid": "sweep",
    "run_sweep": "sweep",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"wattmesh.scale.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'wattmesh.scale' has no attribute {name!r}")
