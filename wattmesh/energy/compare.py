"""Side-by-side comparison of dispatch strategies over one span: no battery, the self-consumption rule, the
planner as MPC with given forecasters, and the perfect-foresight bound (for reports and benchmarks)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from wattmesh.energy.common import per_home
from wattmesh.energy.forecasts import Forecaster, perfect_forecast
from wattmesh.energy.kpis import kpi_ratios
from wattmesh.energy.mpc import (
    Dispatch,
    dispatch_no_battery,
    dispatch_objective,
    dispatch_self_consumption,
    plan_perfect_foresight,
    run_mpc,
)

BOUND = "perfect-foresight LP (bound)"


def compare_strategies(
    load_kw: pd.DataFrame,
    pv_kw: pd.DataFrame,
    buy_price_per_kwh: np.ndarray,
    sell_price_per_kwh: np.ndarray | float,
    batteries: pd.DataFrame,
    *,
    forecasters: dict[str, tuple[Forecaster, Forecaster]] | None = None,
    carbon_kg_per_kwh: np.ndarray | None = None,
    horizon_intervals: int = 96,
    peak_price_per_kw: float = 0.05,
    wear_per_kwh: float = 0.002,
    progress: Callable[[int, int], None] | None = None,
    replan_every: int = 1,
) -> tuple[pd.DataFrame, dict[str, Dispatch]]:
    """Run every strategy over the span and tabulate bill, peak, objective and their ratios.

    Parameters
    ----------
    load_kw, pv_kw : (T, M) measured load and PV [kW]
    buy_price_per_kwh, sell_price_per_kwh, batteries : as for ``run_mpc``
    forecasters : MPC variants by name: (load forecaster, PV forecaster); default: perfect forecasts only
    carbon_kg_per_kwh : (T,) grid carbon intensity; with it the CityLearn KPI ratios are added
    horizon_intervals : the MPC's horizon; peak windows of the bound are one day
    replan_every : intervals the MPC applies from each plan before re-planning; its LPs are warm-started
        (``run_mpc(..., warm_start=True)``: the same optimum of each, reached several times faster)
    peak_price_per_kw, wear_per_kwh : the planner's objective (see ``plan_homes``)
    progress : ``progress(done, total)`` as the MPC variants re-plan (see ``run_mpc``)

    Returns
    -------
    table : one row per strategy: bill [currency], mean daily community peak [kW], objective
        [currency] (bill + wear + daily peak charges, as ``dispatch_objective``), objective / bound, share of
        the bound's savings over no battery; with carbon, the CityLearn KPI ratios and score
    dispatches : the dispatch of each strategy, by name
    """
    index = load_kw.index
    interval_h = (index[1] - index[0]).total_seconds() / 3600
    per_day = int(round(24 / interval_h))
    load, pv = load_kw.to_numpy(), pv_kw.to_numpy()
    forecasters = forecasters or {"perfect forecasts": (perfect_forecast(load_kw), perfect_forecast(pv_kw))}
    options = dict(peak_price_per_kw=peak_price_per_kw, wear_per_kwh=wear_per_kwh)
    runs: dict[str, Dispatch] = {
        "no battery": dispatch_no_battery(load, pv),
        "self-consumption rule": dispatch_self_consumption(load, pv, batteries, interval_h),
        BOUND: plan_perfect_foresight(
            load_kw,
            pv_kw,
            buy_price_per_kwh,
            sell_price_per_kwh,
            batteries,
            peak_window_intervals=per_day,
            **options,
        ),
    }
    for v, (name, (load_forecaster, pv_forecaster)) in enumerate(forecasters.items()):

        def tick(done: int, total: int, v: int = v) -> None:
            if progress is not None:
                progress(v * total + done, len(forecasters) * total)

        runs[f"MPC, {name}"] = run_mpc(
            load_kw,
            pv_kw,
            buy_price_per_kwh,
            sell_price_per_kwh,
            batteries,
            load_forecaster=load_forecaster,
            pv_forecaster=pv_forecaster,
            horizon_intervals=horizon_intervals,
            replan_every=replan_every,
            progress=tick,
            warm_start=True,
            **options,
        )
    rows = {}
    for name, run in runs.items():
        buy = per_home(buy_price_per_kwh, *load.shape, "buy_price_per_kwh")
        community = run.net_kw.sum(axis=1)
        days = len(community) // per_day
        rows[name] = {
            "bill": float((buy * run.import_kw * interval_h).sum()),
            "daily peak kw": float(community[: days * per_day].reshape(days, per_day).max(axis=1).mean()),
            "objective": float(
                dispatch_objective(
                    run,
                    buy_price_per_kwh,
                    sell_price_per_kwh,
                    interval_h,
                    peak_window_intervals=per_day,
                    **options,
                ).sum()
            ),
        }
    table = pd.DataFrame(rows).T
    bound, none = table.loc[BOUND, "objective"], table.loc["no battery", "objective"]
    table["objective / bound"] = table["objective"] / bound
    table["share of bound savings"] = (none - table["objective"]) / (none - bound)
    if carbon_kg_per_kwh is not None:
        price = np.asarray(buy_price_per_kwh, dtype=float)
        price = price if price.ndim == 1 else price.mean(axis=1)
        base = runs["no battery"].net_kw
        kpis = pd.DataFrame(
            {n: kpi_ratios(r.net_kw, base, price, carbon_kg_per_kwh, interval_h) for n, r in runs.items()}
        ).T
        table = table.join(kpis)
    return table, runs
