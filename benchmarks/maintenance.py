"""Predictive-maintenance benchmark: faults injected on NREL system 50's measured series, known labels.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/maintenance.py [--trials N]
Prints one table of targets, measured figures and whether each is met.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from wattmesh.maintenance import battery, transformer  # noqa: E402
from wattmesh.maintenance.data import SYSTEM50, load_system50  # noqa: E402
from wattmesh.maintenance.faults import (  # noqa: E402
    FaultLabel,
    inject_comm_loss,
    inject_degradation,
    inject_outage,
    inject_shading,
    inject_soiling,
    inject_string_loss,
    make_neighbours,
)
from wattmesh.maintenance.pv import assess_pv, degradation_yoy  # noqa: E402

N_NEIGHBOURS = 9
CLEAN = {0, 1, 2}  # the real system and two neighbours carry no injected fault


def inject_schedule(power: pd.Series, rng: np.random.Generator) -> tuple[pd.Series, list[FaultLabel]]:
    """One system's faults: a string loss, a soiling period, a shading period, outages and comm losses."""
    days = pd.DatetimeIndex(power.index.floor("D").unique())
    labels = []
    free = np.ones(len(days), dtype=bool)
    free[:95] = False  # the first days are the healthy reference
    free[-25:] = False
    # Independent fault times per system: three start days at least 90 days apart, after the reference.
    while True:
        starts = np.sort(rng.integers(100, len(days) - 90, size=3))
        if np.all(np.diff(starts) >= 90):
            break
    for kind, cursor in zip(rng.permutation(["string_loss", "soiling", "shading"]), starts, strict=True):
        length = int(rng.integers(30, 61))
        start, end = days[cursor], days[cursor + length] - pd.Timedelta(minutes=15)
        if kind == "string_loss":
            power, lab = inject_string_loss(power, start, float(rng.uniform(0.125, 0.35)), end)
        elif kind == "soiling":
            power, lab = inject_soiling(power, start, float(rng.uniform(0.002, 0.005)), end)
        else:
            power, lab = inject_shading(
                power, start, float(rng.uniform(0.3, 0.6)), SYSTEM50.longitude, True, end
            )
        labels.append(lab)
        free[cursor - 10 : cursor + length + 15] = False
    candidates = np.flatnonzero(free)
    picks = rng.choice(candidates, size=10, replace=False)
    for k, d in enumerate(picks):
        day = days[d]
        noon_utc = day + pd.Timedelta(hours=12 - SYSTEM50.longitude / 15.0)
        if k < 4:  # full-day outages
            power, lab = inject_outage(power, day, day + pd.Timedelta(hours=23, minutes=45))
        elif k < 7:  # partial outages around solar noon, 2-5 h
            hours = float(rng.uniform(2, 5))
            a = noon_utc - pd.Timedelta(hours=float(rng.uniform(0, hours)))
            power, lab = inject_outage(power, a, a + pd.Timedelta(hours=hours))
        else:  # communication losses of 1-2 days: must not be read as outages
            power, lab = inject_comm_loss(power, day, day + pd.Timedelta(days=float(rng.integers(1, 3))))
        labels.append(lab)
    return power, labels


def evaluate(
    result, labels: dict[str, list[FaultLabel]], lost_true: pd.DataFrame, dc_kw: dict[str, float]
) -> dict[str, list]:
    """Match alarms to labels: recall, delays, false alarms and energy inside episodes.

    An outage counts as observable when it removed at least 0.25 kWh per kW of DC that day: an outage on a
    day the real system made (almost) nothing anyway, or had no readings, cannot be seen by any method.
    """
    out: dict[str, list] = {
        "outage": [],
        "observable": [],
        "string_delay": [],
        "soiling_delay": [],
        "typing": [],
        "false": [],
    }
    alarm_days = pd.DataFrame(False, index=result.lost_kwh.index, columns=result.assets)
    for a in result.alarms:
        alarm_days.loc[a.start : a.end, a.asset] = True
    for asset in result.assets:
        asset_alarms = [a for a in result.alarms if a.asset == asset]
        labs = labels.get(asset, [])
        for lab in labs:
            if lab.fault_type == "outage":
                day = lab.start.floor("D")
                out["outage"].append(any(a.fault_type == "outage" and a.start == day for a in asset_alarms))
                out["observable"].append(float(lost_true.at[day, asset]) >= 0.25 * dc_kw[asset])
            elif lab.fault_type in ("string_loss", "soiling", "shading"):
                hits = [
                    a
                    for a in asset_alarms
                    if a.fault_type != "outage" and lab.start.floor("D") <= a.detected <= lab.end.floor("D")
                ]
                delay = (hits[0].detected - lab.start.floor("D")).days if hits else np.inf
                if lab.fault_type == "string_loss":
                    out["string_delay"].append(delay)
                elif lab.fault_type == "soiling":
                    out["soiling_delay"].append(delay)
                if hits:
                    out["typing"].append(hits[0].fault_type == lab.fault_type)
        windows = [
            (lab.start.floor("D") - pd.Timedelta(days=1), lab.end.floor("D") + pd.Timedelta(days=7))
            for lab in labs
            if lab.fault_type != "comm_loss"
        ]
        for a in asset_alarms:
            overlaps = any(a.start <= w1 and a.end >= w0 for w0, w1 in windows)
            out["false"].append(not overlaps)
    lost = lost_true.reindex(columns=result.assets).fillna(0.0)
    out["lost_total"] = [float(lost.to_numpy().sum())]
    out["lost_caught"] = [float(lost.to_numpy()[alarm_days.to_numpy()].sum())]
    return out


def pv_trials(n_trials: int, neighbours: bool) -> dict[str, float]:
    power, weather = load_system50()
    power = power.rename(SYSTEM50.name)
    pooled: dict[str, list] = {}
    system_years = 0.0
    seconds = 0.0
    for trial in range(n_trials):
        rng = np.random.default_rng(100 + trial)
        clean, specs = make_neighbours(power, weather, SYSTEM50, N_NEIGHBOURS, seed=trial)
        faulted = clean.copy()
        labels: dict[str, list[FaultLabel]] = {}
        for j, spec in enumerate(specs):
            if j in CLEAN:
                continue
            faulted[spec.name], labels[spec.name] = inject_schedule(clean[spec.name].rename(spec.name), rng)
        if not neighbours:  # model-only: each system assessed alone
            columns = [s.name for j, s in enumerate(specs) if j not in CLEAN or j == 0]
        else:
            columns = [s.name for s in specs]
        valid = faulted.notna()
        lost_interval = (clean - faulted).where(valid, 0.0).clip(lower=0.0) * 0.25
        lost_true = lost_interval.groupby(lost_interval.index.floor("D")).sum()
        t0 = time.perf_counter()
        if neighbours:
            results = [assess_pv(faulted, weather, specs, compute_degradation=False)]
        else:
            results = [
                assess_pv(
                    faulted[[name]], weather, [s for s in specs if s.name == name], compute_degradation=False
                )
                for name in columns
            ]
        seconds += time.perf_counter() - t0
        for res in results:
            for key, vals in evaluate(res, labels, lost_true, {s.name: s.dc_kw for s in specs}).items():
                pooled.setdefault(key, []).extend(vals)
        system_years += len(columns) * len(lost_true) / 365.25
    sd = np.array(pooled["string_delay"], dtype=float)
    so = np.array(pooled["soiling_delay"], dtype=float)
    return {
        "outage_recall_all": float(np.mean(pooled["outage"])),
        "outage_recall": float(np.mean(np.array(pooled["outage"])[np.array(pooled["observable"])])),
        "n_observable": int(np.sum(pooled["observable"])),
        "string_found": float(np.mean(np.isfinite(sd))),
        "string_median_delay": float(np.median(sd)) if np.isfinite(sd).any() else float("inf"),
        "soiling_21d": float(np.mean(so <= 21)),
        "false_per_year": float(np.sum(pooled["false"]) / system_years),
        "energy_caught": float(np.sum(pooled["lost_caught"]) / np.sum(pooled["lost_total"])),
        "typing": float(np.mean(pooled["typing"])) if pooled["typing"] else float("nan"),
        "n_outages": len(pooled["outage"]),
        "n_strings": len(sd),
        "n_soiling": len(so),
        "system_years": system_years,
        "seconds": seconds,
    }


def degradation_errors() -> list[tuple[str, float, float, float]]:
    """Injected degradation vs rdtools' year-on-year estimate on the real series.

    Model-only: the real system's own rate is unknown, so the figure is the estimate on the degraded copy
    minus the estimate on the untouched series (paired). With neighbours: the degraded neighbour's index
    relative to the others, whose truth is exactly the injected rate (absolute), and the same paired.
    """
    power, weather = load_system50()
    power = power.rename(SYSTEM50.name)
    base = assess_pv(power.to_frame(), weather, [SYSTEM50]).degradation[0]
    rows = []
    for rate in (0.005, 0.01, 0.02):
        faulted, _ = inject_degradation(power, rate)
        d = assess_pv(faulted.to_frame(), weather, [SYSTEM50]).degradation[0]
        rows.append(
            (
                "model only, paired",
                -100 * rate,
                d.rate_pct_per_year - base.rate_pct_per_year,
                d.ci_high_pct_per_year - d.ci_low_pct_per_year,
            )
        )
    clean, specs = make_neighbours(power, weather, SYSTEM50, N_NEIGHBOURS, seed=7)
    target = specs[3].name
    res = assess_pv(clean, weather, specs, compute_degradation=False)
    base_n = degradation_yoy(res.relative_index[target], target)
    for rate in (0.005, 0.01):
        faulted = clean.copy()
        faulted[target], _ = inject_degradation(clean[target], rate)
        res = assess_pv(faulted, weather, specs, compute_degradation=False)
        d = degradation_yoy(res.relative_index[target], target)
        width = d.ci_high_pct_per_year - d.ci_low_pct_per_year
        rows.append(("with neighbours, absolute", -100 * rate, d.rate_pct_per_year, width))
        rows.append(
            ("with neighbours, paired", -100 * rate, d.rate_pct_per_year - base_n.rate_pct_per_year, width)
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for mode, neighbours in (("with 9 neighbours", True), ("model only", False)):
        m = pv_trials(args.trials, neighbours)
        print(
            f"PV {mode}: {m['n_outages']} outages ({m['n_observable']} observable, recall on all labels "
            f"{m['outage_recall_all']:.1%}), {m['n_strings']} string losses, {m['n_soiling']} soiling "
            f"periods, {m['system_years']:.1f} system-years, detection {m['seconds']:.1f} s, "
            f"fault type right {m['typing']:.0%} of found"
        )
        rows += [
            (
                f"PV {mode}: outage recall, same day (observable outages)",
                ">= 95 %",
                f"{m['outage_recall']:.1%}",
                m["outage_recall"] >= 0.95,
            ),
            (
                f"PV {mode}: string losses >= 12.5 % found",
                ">= 95 %",
                f"{m['string_found']:.1%}",
                m["string_found"] >= 0.95,
            ),
            (
                f"PV {mode}: string loss median delay",
                "<= 5 days",
                f"{m['string_median_delay']:.1f} days",
                m["string_median_delay"] <= 5,
            ),
            (
                f"PV {mode}: soiling found within 21 days",
                ">= 70 %",
                f"{m['soiling_21d']:.1%}",
                m["soiling_21d"] >= 0.70,
            ),
            (
                f"PV {mode}: false alarms per system-year",
                "<= 2",
                f"{m['false_per_year']:.2f}",
                m["false_per_year"] <= 2,
            ),
            (
                f"PV {mode}: lost energy inside episodes",
                ">= 90 % (Lindig 2022: 82.8 %)",
                f"{m['energy_caught']:.1%}",
                m["energy_caught"] >= 0.90,
            ),
        ]
    for how, truth, est, width in degradation_errors():
        rows.append(
            (
                f"PV degradation {truth:+.1f} %/yr injected, {how}",
                "within +-0.1 %/yr",
                f"{est:+.2f} %/yr (68 % CI width {width:.2f})",
                abs(est - truth) <= 0.1,
            )
        )
    soh = battery.benchmark_soh_errors()
    rows.append(
        (
            f"Battery state of health, {soh['n']} estimates on {soh['batteries']} simulated batteries",
            "error <= 1 point",
            f"max {soh['max_abs_error_points']:.2f}, median {soh['median_abs_error_points']:.2f} points",
            soh["max_abs_error_points"] <= 1.0,
        )
    )
    seconds = transformer.benchmark_year_seconds()
    rows.append(
        (
            "Transformer-year of IEC 60076-7 ageing (15-min loading, 1-min steps)",
            "< 1 s",
            f"{seconds:.3f} s",
            seconds < 1,
        )
    )
    width = max(len(r[0]) for r in rows)
    print(f"\n| {'figure':<{width}} | target | measured | met |")
    print(f"|{'-' * (width + 2)}|---|---|---|")
    for name, target, value, ok in rows:
        print(f"| {name:<{width}} | {target} | {value} | {'yes' if ok else 'NO'} |")


if __name__ == "__main__":
    main()
