"""A strategy tournament on the simulated community's orders, for the report. Orchestration only."""

from __future__ import annotations

import pandas as pd

from wattmesh.community.model import Community


def run_strategy_tournament(
    community: Community, mix: str, mechanism: str, rounds: int, seed: int
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Each strategy's profit and the market's efficiency and price convergence (``wattmesh.agents``).

    Home positions follow the rule dispatch; the strategies are rotated over the homes so that every home
    plays every strategy once, and the runs are pooled.

    Raises
    ------
    ValueError
        for a mix that names an unknown strategy or shares that do not parse (naming ``agents.mix``).
    """
    from wattmesh.agents.tournament import (
        community_positions,
        convergence_summary,
        parse_mix,
        rotated_tournament,
    )

    try:
        shares = parse_mix(mix)
    except ValueError as exc:
        raise ValueError(f"agents.mix {mix!r}: {exc}") from None
    table, results = rotated_tournament(
        community_positions(community), shares, mechanism=mechanism, n_rounds=rounds, seed=seed
    )
    summary = convergence_summary(results)
    summary["mechanism"] = mechanism
    return table, summary
