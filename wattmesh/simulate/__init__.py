"""Driver 1: the simulation clock over the core, vectorised over members.

``simulate(community)`` runs the three cases (no sharing, P2P market, P2P + batteries) and returns a
:class:`~wattmesh.simulate.engine.SimulationResult`; ``run_simulate`` is the command line's whole pipeline.
"""

from __future__ import annotations

from importlib import import_module

_LAZY = {
    "simulate": "engine",
    "SimulationResult": "engine",
    "CaseResult": "engine",
    "CaseDetail": "engine",
    "CASES": "engine",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"wattmesh.simulate.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'wattmesh.simulate' has no attribute {name!r}")
