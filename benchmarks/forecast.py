"""Forecasting benchmark: skill on measured data against the issue's targets, and training/prediction time.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/forecast.py [all|timing|skill|citylearn|other|bounds|pv]``
and, for another CityLearn data set than the package's 2022 copy, ``--data FOLDER_OR_SCHEMA`` with
``--start-date``, ``--tz``, ``--latitude``, ``--longitude`` and ``--altitude`` (default: its schema's).
Hold-out: the last third of each data set, rolling origin with retraining every 30 days, day-ahead
(every forecast issued 24 h before its interval). ``bounds`` asks how low the community's hourly MAPE
can go on this data: forecasts issued once a day, with perfect weather, one hour ahead, and oracles that
know each day's true energy (``evaluate.community_mape_bounds``). ``pv`` compares the PV model's targets
(scaled output, clear-sky index with and without day-of-year inputs) on CityLearn and NREL system 50.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from wattmesh.forecast import evaluate, metrics  # noqa: E402
from wattmesh.forecast.features import Site  # noqa: E402
from wattmesh.forecast.gbm import GradientBoostingForecaster  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "wattmesh" / "data" / "citylearn_2022"
#: The CityLearn data set the benchmark runs on: set from the command line in ``main``.
DATA_SET: dict[str, object] = {"folder": DATA, "site": None, "start_date": None}
pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 20)


def show(result: evaluate.BacktestResult) -> None:
    print(f"\n== {result.name}, horizon {result.horizon}, skill vs {result.reference}")
    print(result.table.round(3).to_string())


def get(result: evaluate.BacktestResult, model: str, column: str) -> float:
    return float(result.table.loc[model, column])


def citylearn(target: str, **options) -> evaluate.BacktestResult:
    """``evaluate.citylearn_backtest`` on the benchmark's data set and site."""
    return evaluate.citylearn_backtest(
        DATA_SET["folder"], target, site=DATA_SET["site"], start_date=DATA_SET["start_date"], **options
    )


def skill_citylearn() -> list[tuple[str, str, float]]:
    """CityLearn backtests: community and single-home load, PV per home."""
    rows = []
    community = run(lambda: citylearn("community"))
    community_wx = run(lambda: citylearn("community", use_weather_forecasts=True))
    for name, result in (("", community), (" (+ weather fc)", community_wx)):
        rows.append((f"community load{name}: MAPE hourly", "<= 10 %", get(result, "lightgbm", "mape")))
        rows.append(
            (
                f"community load{name}: MAPE hourly, MAPE model",
                "<= 10 %",
                get(result, "lightgbm_mape", "mape"),
            )
        )
        rows.append(
            (
                f"community load{name}: RMSE skill vs week-ago",
                ">= 15 %",
                get(result, "lightgbm", "rmse_skill"),
            )
        )
        rows.append(
            (f"community load{name}: 80% interval coverage", "75-85 %", get(result, "lightgbm", "coverage"))
        )
    daily_actual = community.actual["community"].resample("1D").sum()
    daily_fc = community.forecast.point["community"].resample("1D").sum()
    full = daily_actual.index[1:-1]  # whole days only
    rows.append(
        (
            "community load: MAPE of daily energy (supplementary)",
            "-",
            metrics.mape(daily_actual[full], daily_fc[full]),
        )
    )
    for pooling in ("global", "member"):
        homes = run(lambda pooling=pooling: citylearn("load", pooling=pooling))
        rows += home_rows(f"{pooling} model", homes)
    pv = run(lambda: citylearn("pv"))
    pv_wx = run(lambda: citylearn("pv", use_weather_forecasts=True))
    for name, result in (("CityLearn PV", pv), ("CityLearn PV + weather fc", pv_wx)):
        rows += pv_rows(name, result)
    return rows


def home_rows(name: str, homes: evaluate.BacktestResult) -> list[tuple[str, str, float]]:
    """Single-home scores and the community MAPE of the summed home forecasts (bottom-up)."""
    bottom_up = homes.forecast.point.sum(axis=1)
    return [
        (
            f"community load, bottom-up sum of homes ({name}): MAPE hourly",
            "<= 10 %",
            metrics.mape(homes.actual.sum(axis=1), bottom_up),
        ),
        (
            f"single home load ({name}): pinball skill vs similar days",
            ">= 5 %",
            get(homes, "lightgbm", "pinball_skill"),
        ),
        (f"single home load ({name}): RMSE skill vs week-ago", "-", get(homes, "lightgbm", "rmse_skill")),
        (f"single home load ({name}): 80% interval coverage", "75-85 %", get(homes, "lightgbm", "coverage")),
    ]


def bounds() -> None:
    """How far can one get: community hourly MAPE of forecasts, oracles and a smoother of the truth."""
    clock = Clock()
    table = evaluate.community_mape_bounds(
        DATA_SET["folder"], site=DATA_SET["site"], start_date=DATA_SET["start_date"]
    )
    wall, cpu = clock.lap()
    print("\n== How far can one get: community load, hourly MAPE on the hold-out (issue 5 asks <= 10 %)")
    print(table.round(2).to_string())
    print(f"   ({wall:.0f} s wall, {cpu:.0f} s cpu)", flush=True)


def pv_rows(name: str, result: evaluate.BacktestResult) -> list[tuple[str, str, float]]:
    return [
        (f"{name}: RMSE skill vs persistence", ">= 15 %", get(result, "lightgbm", "rmse_skill")),
        (f"{name}: RMSE skill vs smart persistence", "-", skill_vs(result, "smart_persistence")),
        (f"{name}: nRMSE by capacity (daylight)", "report", get(result, "lightgbm", "nrmse")),
        (f"{name}: 80% coverage (daylight)", "75-85 %", get(result, "lightgbm", "coverage")),
    ]


#: PV model settings compared by ``pv``: (name, pv_target, day_of_year).
PV_SETTINGS = (
    ("scaled", "scaled", True),
    ("clear-sky index", "clear_sky_index", True),
    ("clear-sky index, no day of year", "clear_sky_index", False),
)


def pv_targets() -> list[tuple[str, str, float]]:
    """CityLearn and NREL system 50 PV with each target of the PV model (``PV_SETTINGS``)."""
    rows = []
    for name, target, day_of_year in PV_SETTINGS:
        result = run(lambda t=target, d=day_of_year: citylearn("pv", pv_target=t, day_of_year=d))
        rows += pv_rows(f"CityLearn PV, {name}", result)
    for name, target, day_of_year in PV_SETTINGS:
        result = run(
            lambda t=target, d=day_of_year: evaluate.nrel_system50_backtest(pv_target=t, day_of_year=d)
        )
        rows += pv_rows(f"NREL sys 50 PV, {name}", result)
    return rows


def skill_other() -> list[tuple[str, str, float]]:
    """NREL system 50 PV and DWD small wind."""
    sys50 = run(evaluate.nrel_system50_backtest)
    rows = pv_rows("NREL sys 50 PV", sys50)
    wind = run(evaluate.dwd_wind_backtest)
    rows.append(("small wind: RMSE skill vs persistence", "-", get(wind, "lightgbm", "rmse_skill")))
    rows.append(("small wind: nRMSE by rated power", "report", get(wind, "lightgbm", "nrmse")))
    rows.append(("small wind: 80% coverage", "75-85 %", get(wind, "lightgbm", "coverage")))
    return rows


def run(backtest) -> evaluate.BacktestResult:
    clock = Clock()
    result = backtest()
    wall, cpu = clock.lap()
    show(result)
    print(f"   ({wall:.0f} s wall, {cpu:.0f} s cpu)", flush=True)
    return result


def targets(rows: list[tuple[str, str, float]]) -> None:
    print("\n== Targets of issue 5 (day-ahead, hold-out = last third)")
    print(
        pd.DataFrame(rows, columns=["metric", "target", "achieved"]).round(2).to_string(index=False),
        flush=True,
    )


def skill_vs(result: evaluate.BacktestResult, baseline: str) -> float:
    model = result.table.loc["lightgbm", "rmse"]
    return metrics.skill(model, result.table.loc[baseline, "rmse"])


def benchmark_data():
    """The benchmark's CityLearn data set, read with its site and start date."""
    from wattmesh.community.citylearn import load_citylearn

    site = DATA_SET["site"]
    given = {} if site is None else {
        "tz": site.tz, "latitude": site.latitude, "longitude": site.longitude, "altitude": site.altitude
    }  # fmt: skip
    return load_citylearn(DATA_SET["folder"], start_date=DATA_SET["start_date"], **given)


def synthetic_homes(members: int, seed: int = 0) -> pd.DataFrame:
    """A year of 15-min load for ``members`` homes: CityLearn homes interpolated, shifted, scaled, noised."""
    load = benchmark_data().load_kwh
    quarter = load.resample("15min").interpolate()
    base = quarter.to_numpy()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, base.shape[1], members)
    shift = rng.integers(-4, 5, members)
    scale = rng.lognormal(0, 0.3, members)
    out = np.empty((base.shape[0], members), dtype=float)
    for j in range(members):  # building the test data only, not a hot path
        out[:, j] = np.roll(base[:, pick[j]], shift[j]) * scale[j]
    out *= rng.lognormal(0, 0.1, out.shape)
    return pd.DataFrame(out, index=quarter.index, columns=[f"home_{j}" for j in range(members)])


FAST = {"max_train_rows": 150_000, "n_estimators": 200, "learning_rate": 0.06}


def timing() -> None:
    print("\n== Time: global LightGBM (point + 3 quantiles + calibration), a year of 15-min data, day-ahead")
    print(
        "   wall = elapsed on the shared machine; cpu = this process's CPU time (1 thread: the unloaded wall)"
    )
    rows = []
    data = benchmark_data()
    if data.latitude is None or data.longitude is None:
        from wattmesh.community.citylearn import CityLearnDataError

        raise CityLearnDataError(
            f"site: {data.source} states no latitude and longitude; give --latitude etc."
        )
    site = Site(data.latitude, data.longitude, data.tz, data.altitude or 0.0)
    for members, config, options in ((1, "default", {}), (1000, "default", {}), (1000, "fast", FAST)):
        frame = synthetic_homes(members)
        model = GradientBoostingForecaster(site=site, **options)
        clock = Clock()
        model.fit(frame)
        fit = clock.lap()
        model.predict(frame.iloc[-96 * 9 :])  # what a day-ahead call needs: 8 days + the horizon
        day = clock.lap()
        week = frame.iloc[-96 * 15 :]
        model.predict(week, week.index[-96 * 7 :])
        week_t = clock.lap()
        year = (np.nan, np.nan)
        if members == 1:
            model.predict(frame, frame.index[96 * 8 :])
            year = clock.lap()
        rows.append(
            (members, config, min(len(frame) * members, model.max_train_rows), *fit, *day, *week_t, *year)
        )
        print(f"  {members} homes ({config}) done: fit wall {fit[0]:.1f} s, cpu {fit[1]:.1f} s", flush=True)
    table = pd.DataFrame(
        rows,
        columns=["homes", "config", "train_rows", "fit_wall_s", "fit_cpu_s", "day_wall_s", "day_cpu_s",
                 "week_wall_s", "week_cpu_s", "year_wall_s", "year_cpu_s"],
    )  # fmt: skip
    print(table.round(2).to_string(index=False))
    print(f"fast = {FAST}; goal: retraining a global model on a year of 1,000 homes in <= 60 s")


class Clock:
    """Wall and CPU time since the last lap [s]."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "which",
        nargs="?",
        default="all",
        choices=("all", "timing", "skill", "citylearn", "other", "bounds", "pv"),
    )
    parser.add_argument("--data", type=Path, default=DATA, help="CityLearn data set: folder or schema.json")
    parser.add_argument("--start-date", help="local date of the data's first row (default: the schema's)")
    parser.add_argument("--tz", help="time zone of the data's hours (with --latitude and --longitude)")
    parser.add_argument("--latitude", type=float, help="site latitude [deg N]")
    parser.add_argument("--longitude", type=float, help="site longitude [deg E]")
    parser.add_argument("--altitude", type=float, default=0.0, help="site altitude [m]")
    args = parser.parse_args()
    site_given = [v is not None for v in (args.tz, args.latitude, args.longitude)]
    if any(site_given) and not all(site_given):
        parser.error("give --tz, --latitude and --longitude together (or none: the data set's site)")
    DATA_SET.update(
        folder=args.data,
        start_date=args.start_date,
        site=Site(args.latitude, args.longitude, args.tz, args.altitude) if all(site_given) else None,
    )
    from wattmesh.community.citylearn import CityLearnDataError

    try:
        run_benchmarks(args.which)
    except CityLearnDataError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def run_benchmarks(which: str) -> None:
    if which in ("timing", "all"):
        timing()
    found: list[tuple[str, str, float]] = []
    if which in ("skill", "citylearn", "all"):
        found += skill_citylearn()
    if which in ("skill", "other", "all"):
        found += skill_other()
    if which in ("bounds", "all"):
        bounds()
    if which == "pv":
        found += pv_targets()
    if found:
        targets(found)


if __name__ == "__main__":
    main()
