"""A strategy tournament on the simulated community's orders, for the report. Orchestration only."""

from __future__ import annotations

import pandas as pd

from wattmesh.community.model import Community
from wattmesh.energy.dispatch import DispatchPlan


def run_strategy_tournament(
    community: Community,
    mix: str,
    mechanism: str,
    rounds: int,
    seed: int,
    home_plan: DispatchPlan | None = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Each strategy's profit and the market's efficiency and price convergence (``wattmesh.agents``).

    Home positions and limits follow the simulator's dispatch: ``home_plan`` (the energy planner's)
    where given, else the self-consumption rule. The strategies are rearranged over the homes so that
    every home plays every strategy, and the runs are pooled.

    Raises
    ------
    ValueError
        for a mix that names an unknown strategy or shares that do not parse (naming ``agents.mix``).
    """
    from wattmesh.agents.positions import community_positions
    from wattmesh.agents.tournament import (
        convergence_summary,
        parse_mix,
        rotated_tournament,
    )

    try:
        shares = parse_mix(mix)
    except ValueError as exc:
        raise ValueError(f"agents.mix {mix!r}: {exc}") from None
    table, results = rotated_tournament(
        community_positions(community, home_plan), shares, mechanism=mechanism, n_rounds=rounds, seed=seed
    )
    summary = convergence_summary(results)
    summary["mechanism"] = mechanism
    return table, summary
