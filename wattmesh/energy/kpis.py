"""CityLearn's demand-response KPIs (cost, emissions, ramping, 1 - load factor, daily peak) as ratios."""

from __future__ import annotations

import numpy as np
import pandas as pd

KPI_NAMES = ("cost", "emissions", "ramping", "one_minus_load_factor", "daily_peak")


def citylearn_kpis(
    net_kw: np.ndarray,
    price_per_kwh: np.ndarray,
    carbon_kg_per_kwh: np.ndarray,
    interval_h: float,
) -> pd.Series:
    """The raw KPI values of one dispatch (not yet ratios).

    Parameters
    ----------
    net_kw : (T, M) import minus export at each home's meter [kW]
    price_per_kwh, carbon_kg_per_kwh : (T,) import price [currency/kWh] and grid carbon intensity [kg/kWh]
    interval_h : interval length [h]

    Returns
    -------
    pd.Series
        cost [currency] and emissions [kg] of each home's imports (exports earn nothing), summed over homes;
        ramping: sum of |change| of the district's net load [kW]; one_minus_load_factor: mean over 730-hour
        months of 1 - mean/max district net load; daily_peak: mean over days of the district's highest net
        load [kW].

    References
    ----------
    Vazquez-Canteli et al., "CityLearn: standardizing research in multi-agent reinforcement learning for
    demand response and urban energy management", 2020; the CityLearn Challenge 2022 KPI definitions.
    """
    imported_kwh = np.maximum(net_kw, 0.0) * interval_h
    district = net_kw.sum(axis=1)
    per_day = int(round(24 / interval_h))
    per_month = int(round(730 / interval_h))
    months = [district[i : i + per_month] for i in range(0, len(district), per_month)]
    load_factor = [1 - m.mean() / m.max() for m in months if m.max() > 0]
    days = len(district) // per_day
    return pd.Series(
        {
            "cost": float((imported_kwh * np.asarray(price_per_kwh)[:, None]).sum()),
            "emissions": float((imported_kwh * np.asarray(carbon_kg_per_kwh)[:, None]).sum()),
            "ramping": float(np.abs(np.diff(district)).sum()),
            "one_minus_load_factor": float(np.mean(load_factor)),
            "daily_peak": float(district[: days * per_day].reshape(days, per_day).max(axis=1).mean()),
        }
    )


def kpi_ratios(net_kw: np.ndarray, baseline_net_kw: np.ndarray, price_per_kwh, carbon_kg_per_kwh, interval_h):
    """KPIs of ``net_kw`` as ratios to ``baseline_net_kw`` (the homes without batteries) and their mean.

    Returns a Series with the five KPI ratios and ``score`` (their mean); lower is better, 1 = baseline.
    """
    raw = citylearn_kpis(net_kw, price_per_kwh, carbon_kg_per_kwh, interval_h)
    base = citylearn_kpis(baseline_net_kw, price_per_kwh, carbon_kg_per_kwh, interval_h)
    ratios = raw / base
    ratios["score"] = ratios[list(KPI_NAMES)].mean()
    return ratios
