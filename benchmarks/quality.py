"""Meter-data quality: detection of labelled faults injected into real series, against the issue's targets.

Real series: SimBench 1-LV-semiurb4--2-sw (household loads H0 and PV, 15 min, 2016), the CityLearn 2022
homes (17 loads and 17 PV, hourly), NREL PVDAQ system 50 (measured PV, 15 min, 2011-2013, with its raw
file's real DST logging error). Each fault is injected with a seed (wattmesh.quality.inject), the checks
run on the faulty frame, and recall/precision are counted against the labels. Values flagged already on the
clean series (real faults of the data, or natural runs) are listed and left out of the precision.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/quality.py [--only clock,level]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from wattmesh.community.measured import citylearn_series, nrel_system50, simbench_series  # noqa: E402
from wattmesh.quality import inject  # noqa: E402
from wattmesh.quality.checks import check_readings  # noqa: E402
from wattmesh.quality.io import to_meter_data  # noqa: E402
from wattmesh.quality.schema import REASON_BITS  # noqa: E402

ROWS: list[tuple[str, str, str, float, bool]] = []
CLOCK = ("time_shift", "dst_shift", "clock_drift")


def bits(*names: str) -> int:
    return int(np.bitwise_or.reduce([REASON_BITS[n] for n in names]))


def hit(flags: pd.DataFrame, *names: str) -> np.ndarray:
    return (flags.to_numpy().astype(np.uint32) & np.uint32(bits(*names))) != 0


def record(name: str, target: str, measured: str, ok: bool) -> None:
    ROWS.append((name, target, measured, 0.0, ok))
    print(f"  {name}: {measured} (target {target}) {'met' if ok else 'NOT MET'}", flush=True)


def data_sets():
    sb_load, sb_pv = simbench_series()
    # SimBench repeats a few household shapes; keep one meter per distinct (normalised) shape
    norm = sb_load / sb_load.max()
    sb_load = sb_load.loc[:, ~norm.T.round(6).duplicated().to_numpy()]
    sb_pv = sb_pv.iloc[:, :1]
    cl_load, cl_pv = citylearn_series()
    nrel = nrel_system50(relabel=True).loc["2012-01-01":"2012-12-31 23:45"].to_frame()
    sets = {
        "simbench": (
            pd.concat([sb_load, sb_pv.add_prefix("pv ")], axis=1),
            ["consumption"] * sb_load.shape[1] + ["generation"],
        ),
        "citylearn": (
            pd.concat([cl_load.add_prefix("load "), cl_pv.add_prefix("pv ")], axis=1),
            ["consumption"] * 17 + ["generation"] * 17,
        ),
        "nrel50": (nrel, ["generation"]),
    }
    return {k: (v, pd.Series(kinds, index=v.columns)) for k, (v, kinds) in sets.items()}


def stuck_and_interpolated(sets) -> None:
    tp = fp = labelled = 0
    pre = 0
    for seed, (values, kinds) in enumerate(sets.values()):
        clean_flags, _ = check_readings(values, kinds=kinds)
        before = hit(clean_flags, "stuck", "interpolated")
        pre += int(before.sum())
        for func in (inject.inject_stuck, inject.inject_interpolated):
            rng = np.random.default_rng(100 + seed)
            faulty, labels, _ = func(values, rng, n=40)
            flags, _ = check_readings(faulty, kinds=kinds)
            found = hit(flags, "stuck", "interpolated")
            lab = labels.to_numpy()
            tp += int((found & lab).sum())
            fp += int((found & ~lab & ~before).sum())
            labelled += int(lab.sum())
    recall, precision = tp / labelled, tp / max(tp + fp, 1)
    record("stuck+interpolated recall", ">= 95 %", f"{recall * 100:.1f} %", recall >= 0.95)
    record("stuck+interpolated precision", ">= 0.90", f"{precision:.3f}", precision >= 0.9)
    print(f"  (values flagged stuck/interpolated in the clean series, left out: {pre:,})")


def spike_detection(sets) -> None:
    tp = labelled = false = clean = 0
    for seed, (_name, (values, kinds)) in enumerate(sets.items()):
        rng = np.random.default_rng(200 + seed)
        faulty, labels, _ = inject.inject_spikes(values, rng, n=max(values.size // 500, 20))
        flags, _ = check_readings(faulty, kinds=kinds)
        found = hit(flags, "spike")
        lab = labels.to_numpy()
        good = np.isfinite(values.to_numpy()) & ~lab
        tp += int((found & lab).sum())
        labelled += int(lab.sum())
        false += int((found & good).sum())
        clean += int(good.sum())
    recall = tp / labelled
    record("spike recall", ">= 90 %", f"{recall * 100:.1f} %", recall >= 0.9)
    record("spike: clean points flagged", "<= 0.5 %", f"{false / clean * 100:.3f} %", false / clean <= 0.005)


def hampel_on_cloudy_pv() -> None:
    from pvanalytics.quality.outliers import hampel

    pv = nrel_system50(relabel=True).loc["2012"].dropna()
    daily = pv.groupby(pv.index.floor("D")).sum()
    cloudy_days = daily.index[daily < 0.6 * daily.quantile(0.9)]
    day = pv.index.floor("D")
    daytime = pv > 0.05 * pv.quantile(0.995)
    cloudy = daytime & day.isin(cloudy_days)
    ham = hampel(pv, window=5)
    flags, _ = check_readings(pv.to_frame(), kinds="generation")
    ours = hit(flags, "spike")[:, 0][np.asarray(flags.index.isin(pv.index))]
    print(
        f"  plain Hampel (window 5, 3 MAD) on cloudy daytime PV (NREL 50, 2012): {ham[cloudy].mean() * 100:.1f} % flagged; "
        f"these checks: {ours[np.asarray(cloudy)].mean() * 100:.2f} %"
    )


def dst(sets) -> None:
    raw = nrel_system50(relabel=False)
    right = nrel_system50(relabel=True)
    _, rep = check_readings(raw.to_frame(), kinds="generation", tz="America/Denver")
    found = rep.events[rep.events["reason"] == "dst_shift"]["start"]
    truth = pd.DatetimeIndex(["2011-11-06", "2012-03-11", "2012-11-04", "2013-03-10", "2013-11-03"])
    matched = sum(
        bool((abs(pd.DatetimeIndex(found).tz_convert(None).normalize() - t) <= pd.Timedelta("2D")).any())
        for t in truth
    )
    record("DST: NREL 50 raw file's transitions found", "all (5)", f"{matched} of 5", matched == 5)
    flags, _ = check_readings(right.to_frame(), kinds="generation", tz="America/Denver")
    false_dst = int(hit(flags, "dst_shift").sum())
    record("DST: correctly relabelled NREL 50 flagged dst", "0", f"{false_dst}", false_dst == 0)
    for name, tz in (("citylearn", "America/Los_Angeles"), ("simbench", "Europe/Berlin")):
        values, kinds = sets[name]
        meter = kinds.index[kinds == "generation"][0]
        clean_flags, _ = check_readings(values, kinds=kinds, tz=tz)
        faulty, labels, _ = inject.inject_dst_logging(values, meter, tz)
        flags, rep = check_readings(faulty, kinds=kinds, tz=tz)
        events = rep.events[(rep.events["reason"] == "dst_shift") & (rep.events["meter"] == meter)]
        lab = labels[meter].to_numpy()
        recall = (hit(flags, "dst_shift")[:, kinds.index.get_loc(meter)] & lab).sum() / lab.sum()
        pre = int(hit(clean_flags, "dst_shift").sum())
        record(f"DST injected ({name} PV, {tz})", "both found", f"{len(events)} transitions, {recall * 100:.0f} % of values",
               len(events) >= 2)  # fmt: skip
        print(f"  (clean {name} values already flagged dst_shift: {pre:,})")


def clock_faults(sets) -> None:
    rng = np.random.default_rng(300)
    tp = labelled = 0
    trials = []
    for name in ("citylearn", "simbench", "nrel50"):
        values, kinds = sets[name]
        pv_meters = list(kinds.index[kinds == "generation"])
        days = values.index.floor("D").unique()
        for k in range(8):
            meter = pv_meters[k % len(pv_meters)]
            start = days[int(rng.integers(70, len(days) - 90))]
            length = int(rng.integers(3, 22))
            minutes = float(rng.choice([-120, -60, 60, 90, 120]))
            faulty, labels, _ = inject.inject_time_shift(values, meter, start, length, minutes)
            flags, _ = check_readings(faulty, kinds=kinds)
            j = kinds.index.get_loc(meter)
            lab = labels[meter].to_numpy() & np.isfinite(values[meter].to_numpy())
            got = int((hit(flags, *CLOCK)[:, j] & lab).sum())
            tp += got
            labelled += int(lab.sum())
            trials.append(name)
            end = start + pd.Timedelta(days=length - 1)
            print(f"    {name} {meter} {start:%Y-%m-%d}..{end:%Y-%m-%d} ({length} d) {minutes:+.0f} min: "
                  f"{got} of {int(lab.sum())} values ({got / max(int(lab.sum()), 1) * 100:.0f} %)")  # fmt: skip
    recall = tp / labelled
    record(
        "time shifts >= 60 min recall",
        ">= 95 %",
        f"{recall * 100:.1f} % ({len(trials)} shifts)",
        recall >= 0.95,
    )
    for group in (("citylearn", "simbench"), ("nrel50",)):
        tp = labelled = 0
        for name in group:
            values, kinds = sets[name]
            pv_meters = list(kinds.index[kinds == "generation"])
            days = values.index.floor("D").unique()
            for k in range(6):
                meter = pv_meters[k % len(pv_meters)]
                start = days[30 + 50 * k]
                faulty, labels, _ = inject.inject_drift(values, meter, start, days=30, total_minutes=30.0)
                flags, _ = check_readings(faulty, kinds=kinds)
                j = kinds.index.get_loc(meter)
                lab = labels[meter].to_numpy() & np.isfinite(values[meter].to_numpy())
                tp += int((hit(flags, "clock_drift", "time_shift")[:, j] & lab).sum())
                labelled += int(lab.sum())
        recall = tp / labelled
        label = "with neighbours (CityLearn, SimBench PV)" if len(group) == 2 else "single meter (NREL 50)"
        record(
            f"30-min drift over a month recall, {label}", ">= 80 %", f"{recall * 100:.1f} %", recall >= 0.8
        )
    for name in ("citylearn", "simbench", "nrel50"):
        values, kinds = sets[name]
        flags, _ = check_readings(values, kinds=kinds)
        pv = (kinds == "generation").to_numpy()
        share = hit(flags, *CLOCK)[:, pv].sum() / np.isfinite(values.to_numpy()[:, pv]).sum()
        print(f"  (clean {name} PV values flagged for a clock fault: {share * 100:.2f} %)")


def located(events: pd.DataFrame, meter: str, start: pd.Timestamp, reason: str) -> bool:
    ev = events[(events["meter"] == meter) & (events["reason"] == reason)]
    return bool((abs(pd.DatetimeIndex(ev["start"]) - start) <= pd.Timedelta("3D")).any())


def unit_and_level(sets) -> None:
    rng = np.random.default_rng(400)
    found = total = 0
    for values, kinds in sets.values():
        for _k in range(8):
            faulty, labels, ev = inject.inject_unit_errors(values, rng, n=1)
            flags, rep = check_readings(faulty, kinds=kinds)
            meter, _, start, _end, _ = ev[0]
            j = values.columns.get_loc(meter)
            lab = labels[meter].to_numpy()
            cover = (hit(flags, "unit_error")[:, j] & lab).sum() / max(lab.sum(), 1)
            first = np.flatnonzero(hit(flags, "unit_error")[:, j])
            near = first.size > 0 and abs(values.index[first[0]] - start) <= pd.Timedelta("3D")
            found += int(cover >= 0.9 and near)
            total += 1
    record(
        "unit errors (x1000) located +-3 days",
        ">= 90 %",
        f"{found / total * 100:.0f} % of {total}",
        found / total >= 0.9,
    )
    for label, groups in (("PV", ("generation",)), ("loads", ("consumption",))):
        found = total = 0
        for name in ("citylearn", "simbench"):
            values, kinds = sets[name]
            meters = list(kinds.index[kinds.isin(groups)])
            if len(meters) < 3:
                continue
            days = values.index.floor("D").unique()
            for _k in range(10):
                meter = meters[int(rng.integers(0, len(meters)))]
                start = days[int(rng.integers(60, len(days) - 60))]
                ratio = float(rng.choice([0.6, 0.7, 0.8, 1.2, 1.3, 1.5]))
                faulty, _, _ = inject.inject_level_shift(values, rng, meter, ratio, start)
                _, rep = check_readings(faulty, kinds=kinds)
                found += int(located(rep.events, meter, start, "level_shift"))
                total += 1
        if total:
            record(f"level shifts >= 20 % located +-3 days, {label}", ">= 90 %", f"{found / total * 100:.0f} % of {total}",
                   found / total >= 0.9)  # fmt: skip
    for name, (values, kinds) in sets.items():
        flags, _ = check_readings(values, kinds=kinds)
        print(f"  (clean {name} values flagged level_shift: {hit(flags, 'level_shift').mean() * 100:.2f} %)")


def exact_faults(sets) -> None:
    rng = np.random.default_rng(500)
    values, kinds = sets["simbench"]
    long = values.stack().rename("value").reset_index()
    long.columns = ["timestamp", "meter_id", "value"]
    long["unit"], long["kind"], long["capacity_kw"] = "kWh", long["meter_id"].map(kinds), np.nan
    dup_table, keys = inject.inject_duplicates(long, rng, n=200)
    data = to_meter_data(dup_table)
    flags, _ = check_readings(data)
    got = hit(flags, "duplicate")
    want = np.zeros_like(got)
    for meter, stamp in zip(keys["meter_id"], keys["timestamp"], strict=True):
        want[flags.index.get_loc(stamp), flags.columns.get_loc(meter)] = True
    record("duplicates found", "100 %", f"{(got & want).sum() / want.sum() * 100:.1f} % ({int(want.sum())}), {int((got & ~want).sum())} false",
           bool((got == want).all()))  # fmt: skip
    faulty, labels, _ = inject.inject_negatives(values, rng, n=200, sign_days=5)
    flags, _ = check_readings(faulty, kinds=kinds)
    got = hit(flags, "negative", "sign_error")
    lab = labels.to_numpy()
    record("negatives and sign errors found", "100 %", f"{(got & lab).sum() / lab.sum() * 100:.1f} % ({int(lab.sum())}), {int((got & ~lab).sum())} false",
           bool((got == lab).all()))  # fmt: skip
    registers = inject.to_registers(values, start_kwh=rng.uniform(1000, 50000, values.shape[1]))
    faulty, rlabels, _ = inject.inject_register_faults(registers, rng, n_resets=20, n_rollovers=3)
    flags, _ = check_readings(faulty, kinds="register")
    for reason in ("register_reset", "register_rollover"):
        got, lab = hit(flags, reason), rlabels[reason].to_numpy()
        record(f"{reason} found", "100 %", f"{(got & lab).sum() / max(lab.sum(), 1) * 100:.1f} % ({int(lab.sum())}), {int((got & ~lab).sum())} false",
               bool((got == lab).all()))  # fmt: skip


def speed() -> None:
    load, _ = simbench_series()
    year = load.iloc[:35040, :1]
    check_readings(year)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        check_readings(year, kinds="consumption", tz="Europe/Berlin")
        times.append(time.perf_counter() - t0)
    record(
        "one meter-year at 15 min validated",
        "< 1 s",
        f"{np.median(times):.2f} s (median of 5)",
        np.median(times) < 1.0,
    )
    pv = nrel_system50(relabel=True).loc["2012"].to_frame()
    t0 = time.perf_counter()
    check_readings(pv, kinds="generation", tz="America/Denver")
    print(f"  (a PV meter-year with the DST and clock checks: {time.perf_counter() - t0:.2f} s)")


SECTIONS = ("stuck", "spike", "dst", "clock", "level", "exact", "speed")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    only = set(parser.parse_args().only.split(","))
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown section(s) {sorted(unknown)}, expected some of {SECTIONS}")
    sets = data_sets()
    for name, (values, _kinds) in sets.items():
        print(f"{name}: {values.shape[1]} meters x {len(values):,} intervals", flush=True)
    if "stuck" in only:
        print("stuck and interpolated runs (3-24 h)")
        stuck_and_interpolated(sets)
    if "spike" in only:
        print("spikes (+2 to 6 times the meter's 99.5th percentile)")
        spike_detection(sets)
        hampel_on_cloudy_pv()
    if "dst" in only:
        print("daylight saving")
        dst(sets)
    if "clock" in only:
        print("time shifts (3-21 days, 60-120 min) and drift (30 min over 30 days), PV meters")
        clock_faults(sets)
    if "level" in only:
        print("unit errors (x1000 or /1000, 3-30 days) and level shifts (x0.6-1.5 from a day on)")
        unit_and_level(sets)
    if "exact" in only:
        print("duplicates, negatives, register resets and rollovers")
        exact_faults(sets)
    if "speed" in only:
        print("speed")
        speed()
    print()
    print("| check | target | measured | met |")
    print("|---|---|---|---|")
    for name, target, measured, _, ok in ROWS:
        print(f"| {name} | {target} | {measured} | {'yes' if ok else '**no**'} |")


if __name__ == "__main__":
    main()
