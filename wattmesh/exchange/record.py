"""Recording: trades into the tamper-evident ledger, one signed tree head per interval."""

from __future__ import annotations

import pandas as pd

from wattmesh.ledger.local import TreeHead, append_intervals


def record(
    ledger, trades: pd.DataFrame, interval_starts, step: str | pd.Timedelta = "15min"
) -> list[TreeHead]:
    """Append ``trades`` to ``ledger`` interval by interval and sign a tree head after each interval.

    Parameters
    ----------
    ledger : an open ledger (:func:`wattmesh.ledger.open_ledger`: local Merkle log or EVM-backed)
    trades : trade records (:data:`wattmesh.tables.TRADES`) of the intervals ``interval_starts``
    interval_starts : the intervals being recorded, in order; an interval without trades still gets its
        signed tree head, so a member can tell "no trades" from "not recorded yet"
    step : the market interval

    Returns
    -------
    list of TreeHead
        the signed tree head after each interval.
    """
    return append_intervals(ledger, trades, interval_starts, step)
