"""Community KPIs as pure functions over arrays: sufficiency, consumption, peaks, fairness, emissions."""

from __future__ import annotations

import numpy as np


def self_sufficiency(consumption_kwh: np.ndarray, import_kwh: np.ndarray) -> float:
    """Share of the community's consumption not bought from the utility [-].

    SS = 1 - sum(import) / sum(consumption), over all members and intervals (battery charging drawn
    from the grid would count as import; consumption is the members' load and EV charging).
    """
    total = float(np.sum(consumption_kwh))
    return float("nan") if total == 0 else 1.0 - float(np.sum(import_kwh)) / total


def self_consumption(generation_kwh: np.ndarray, export_kwh: np.ndarray) -> float:
    """Share of the community's generation used inside the community (not fed into the grid) [-].

    SC = 1 - sum(export) / sum(generation).
    """
    total = float(np.sum(generation_kwh))
    return float("nan") if total == 0 else 1.0 - float(np.sum(export_kwh)) / total


def transformer_flow_kw(import_kwh: np.ndarray, export_kwh: np.ndarray, interval_h: float) -> np.ndarray:
    """(T,) net power drawn through the transformer from the upstream grid [kW]; negative is reverse flow."""
    return (np.sum(import_kwh, axis=1) - np.sum(export_kwh, axis=1)) / interval_h


def peak_import_kw(import_kwh: np.ndarray, export_kwh: np.ndarray, interval_h: float) -> float:
    """Highest net import through the transformer over the span [kW] (0 if it never imports)."""
    flow = transformer_flow_kw(import_kwh, export_kwh, interval_h)
    return float(max(flow.max(initial=0.0), 0.0))


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values [-]: 0 all equal, (n-1)/n one holds all.

    G = sum_i sum_j |x_i - x_j| / (2 n^2 mean(x)), computed from the sorted values as
    G = (2 sum_i i x_(i)) / (n sum x) - (n + 1) / n, i = 1..n. Returns NaN for an empty or all-zero set.

    References
    ----------
    Gini, C. (1912). Variabilita e mutabilita.
    """
    x = np.sort(np.asarray(values, dtype=float))
    if x.size == 0 or x.sum() == 0:
        return float("nan")
    if x[0] < 0:
        raise ValueError(f"gini needs non-negative values; the smallest is {x[0]}")
    n = x.size
    return float(2.0 * np.sum(np.arange(1, n + 1) * x) / (n * x.sum()) - (n + 1) / n)


def jain_index(values: np.ndarray) -> float:
    """Jain's fairness index [-]: (sum x)^2 / (n sum x^2); 1 all equal, 1/n one holds all.

    References
    ----------
    Jain, R., Chiu, D., Hawe, W. (1984). A quantitative measure of fairness and discrimination for
    resource allocation in shared computer systems. DEC-TR-301.
    """
    x = np.asarray(values, dtype=float)
    squares = float(np.sum(x**2))
    return float("nan") if x.size == 0 or squares == 0 else float(np.sum(x) ** 2 / (x.size * squares))


def share_losing(saving: np.ndarray, tolerance: float = 1e-9) -> float:
    """Share of members whose saving is negative (they pay more than without sharing) [-]."""
    saving = np.asarray(saving, dtype=float)
    return float("nan") if saving.size == 0 else float(np.mean(saving < -tolerance))


def emissions_kg(import_kwh: np.ndarray, carbon_kg_per_kwh: np.ndarray | float) -> float:
    """CO2 of the energy imported from the grid [kg]: sum over t of import_t * intensity_t."""
    imported = np.asarray(import_kwh, dtype=float)
    per_interval = imported.sum(axis=1) if imported.ndim == 2 else imported
    return float(np.sum(per_interval * carbon_kg_per_kwh))


def fair_access_transfers(
    is_household: np.ndarray,
    is_recipient: np.ndarray,
    asset_result: np.ndarray,
    local_premium: np.ndarray,
    battery_share: str = "community",
    solidarity_percent: float = 0.0,
) -> np.ndarray:
    """(M,) money each member receives (positive) or gives (negative) under a fair-access rule [currency].

    Two rules, applied after settlement (they move money, not energy, so the community's total bill and
    its welfare are unchanged: the transfers sum to zero):

    - ``battery_share="equal"``: the community's own assets' net result (``asset_result``, what the
      community battery earned less what it paid; a loss as well as a profit) is shared equally among
      the households, as if each owned an equal share of the assets; ``"community"`` keeps it with the
      community.
    - ``solidarity_percent``: that share of every member's local premium (``local_premium``, what it
      received for energy sold locally above the feed-in tariff, floored at 0) goes into a pool shared
      equally among the recipients (``is_recipient``, e.g. households without PV).

    Parameters
    ----------
    is_household : (M,) bool, members who share the community's assets
    is_recipient : (M,) bool, members who share the solidarity pool
    asset_result : (M,) net result of the community's assets, 0 for other members [currency]
    local_premium : (M,) local revenue above the feed-in value of the same energy [currency]
    battery_share : "community" or "equal"
    solidarity_percent : 0-100 [%]

    Raises
    ------
    ValueError
        for an unknown ``battery_share`` or a percentage outside 0-100.
    """
    if battery_share not in ("community", "equal"):
        raise ValueError(f"battery_share {battery_share!r} is not one of community, equal")
    if not 0.0 <= solidarity_percent <= 100.0:
        raise ValueError(f"solidarity_percent {solidarity_percent} is not within 0 to 100")
    is_household = np.asarray(is_household, dtype=bool)
    is_recipient = np.asarray(is_recipient, dtype=bool)
    transfer = np.zeros(is_household.shape, dtype=float)
    if battery_share == "equal" and is_household.any():
        result = np.asarray(asset_result, dtype=float)
        transfer -= result
        transfer[is_household] += result.sum() / is_household.sum()
    if solidarity_percent > 0 and is_recipient.any():
        given = np.clip(np.asarray(local_premium, dtype=float), 0.0, None) * solidarity_percent / 100.0
        transfer -= given
        transfer[is_recipient] += given.sum() / is_recipient.sum()
    return transfer
