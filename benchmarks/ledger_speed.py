"""Ledger speed of the default run (issue 18): writing a simulated run's trades, and the full audit.

The new code against the code before issue 18's ledger work (``BASE``, read from git into a package of its
own), timed in the same process and interleaved (old write, new write, old audit, new audit, per round);
median of the rounds, wall and CPU seconds (``time.process_time``: all threads of the process), the load
average at the start and end of each round. The trades are the default scenario's (SimBench
1-LV-rural3--2-sw, 119 members, from 1 June 2016), simulated with the self-consumption rule instead of the
MPC planner (the ledger sees the same kind of trades; planning a month takes minutes). Both writers'
files are compared row by row: the new code must write the same bytes.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ledger_speed.py               # a week, 5 rounds
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ledger_speed.py --days 30 --rounds 5

Figures go to standard output and to ``out/bench_ledger_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
BASE = "3f122eb"  # main before issue 18's ledger work
WEEK = 96 * 7  # intervals per append_intervals call, as wattmesh.simulate.ledger_step made them at BASE


def load_base_ledger(folder: Path):
    """The ``wattmesh.ledger`` package of commit ``BASE``, importable as ``wattmesh_ledger_base``."""
    package = folder / "wattmesh_ledger_base"
    package.mkdir()
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", f"{BASE}:wattmesh/ledger/"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in (n for n in names if n.endswith(".py")):
        text = subprocess.run(
            ["git", "show", f"{BASE}:wattmesh/ledger/{name}"],
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        text = re.sub(r"\bwattmesh\.ledger\b", "wattmesh_ledger_base", text)
        text = text.replace("from wattmesh import ledger", "import wattmesh_ledger_base as ledger")
        (package / name).write_text(text)
    sys.path.insert(0, str(folder))
    import wattmesh_ledger_base.audit as audit
    import wattmesh_ledger_base.keys as keys
    import wattmesh_ledger_base.local as local

    return keys, local, audit


def simulated_run(days: int):
    """The default scenario over ``days`` days from its start, the self-consumption rule dispatching."""
    import pandas as pd

    from wattmesh.community.build import build_community
    from wattmesh.community.scenario import load_scenario
    from wattmesh.simulate.engine import simulate

    start = pd.Timestamp("2016-06-01T00:00:00Z")
    scenario = load_scenario(
        None, {"time.end": (start + pd.Timedelta(days=days)).isoformat(), "energy.dispatch": "rule"}
    )
    community = build_community(scenario)
    return simulate(
        community,
        price_rule=scenario["market.price_rule"],
        seed=scenario["seed"],
        mechanism=scenario["market.mechanism"],
        min_trade_kwh=scenario["market.min_trade_kwh"],
    )


def old_record_trades(result, path: Path, key_dir: Path, keys, local) -> int:
    """What ``wattmesh.simulate.ledger_step.record_trades`` did with the ``BASE`` ledger code."""
    community = result.community
    keyring = keys.ensure_keys(key_dir, community.member_ids.tolist())
    trades = result.full.trades
    step = community.index[1] - community.index[0]
    rows = trades["interval"].cat.codes.to_numpy()
    ledger = local.LocalLedger(path, keyring, party_signatures=True, run=True)
    try:
        for start in range(0, len(community.index), WEEK):
            stop = min(start + WEEK, len(community.index))
            chunk = trades[(rows >= start) & (rows < stop)]
            local.append_intervals(ledger, chunk, community.index[start:stop], step)
        ledger.finish_run()
        return ledger.size
    finally:
        ledger.close()


def timed(work, *args, **kwargs) -> tuple[float, float, object]:
    """Wall and CPU seconds of ``work(*args, **kwargs)`` and what it returns."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = work(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu, value


def rows(path: Path) -> dict[str, list]:
    conn = sqlite3.connect(path)
    try:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY {o}").fetchall()
            for t, o in (
                ("entries", "seq"),
                ("nodes", "level, idx"),
                ("tree_heads", "head_index"),
                ("keys", "member_id"),
            )
        }
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=7, help="days of the default run (default 7)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    args = parser.parse_args()

    from wattmesh.ledger.audit import verify
    from wattmesh.simulate.ledger_step import record_trades

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old_keys, old_local, old_audit = load_base_ledger(tmp)
        result = simulated_run(args.days)
        n_trades = len(result.full.trades)
        print(
            f"{args.days} days of the default run: {n_trades:,} trades, {len(result.community.index):,} intervals"
        )
        key_dir = tmp / "keys"
        samples: dict[str, list[tuple[float, float]]] = {
            k: [] for k in ("write_old", "write_new", "verify_old", "verify_new")
        }
        loads = []
        for r in range(args.rounds):
            load_start = os.getloadavg()[0]
            old_path, new_dir = tmp / f"old{r}.sqlite", tmp / f"new{r}"
            new_dir.mkdir()
            wall, cpu, size = timed(old_record_trades, result, old_path, key_dir, old_keys, old_local)
            samples["write_old"].append((wall, cpu))
            wall, cpu, out = timed(record_trades, result, new_dir, "local", key_dir=key_dir)
            samples["write_new"].append((wall, cpu))
            assert size == out.entries == n_trades, (size, out.entries, n_trades)
            if r == 0:
                same = rows(old_path) == rows(out.path)
                print(f"the new writer's entries, nodes, tree heads and keys equal the old one's: {same}")
                assert same
            wall, cpu, report = timed(old_audit.verify, old_path)
            assert report.ok and not report.incomplete, report.summary()
            samples["verify_old"].append((wall, cpu))
            wall, cpu, report = timed(verify, out.path)
            assert report.complete, report.summary()
            samples["verify_new"].append((wall, cpu))
            loads.append((load_start, os.getloadavg()[0]))
            old_path.unlink()
            out.path.unlink()
            print(
                f"round {r + 1}: "
                + ", ".join(
                    f"{k} {w:.2f} s wall / {c:.2f} CPU s"
                    for k, (w, c) in ((k, v[-1]) for k, v in samples.items())
                )
                + f"; load {loads[-1][0]:.1f} -> {loads[-1][1]:.1f}"
            )
    median = {
        k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for k, v in samples.items()
    }
    ratios = {
        stage: (
            statistics.median(
                o[0] / n[0] for o, n in zip(samples[f"{stage}_old"], samples[f"{stage}_new"], strict=True)
            ),
            statistics.median(
                o[1] / n[1] for o, n in zip(samples[f"{stage}_old"], samples[f"{stage}_new"], strict=True)
            ),
        )
        for stage in ("write", "verify")
    }
    print(f"\nmedian of {args.rounds} rounds, {n_trades:,} trades (3 signatures each):")
    print(
        "| stage | old wall s | new wall s | old CPU s | new CPU s | old/new wall | old/new CPU | new entries/s wall |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for stage in ("write", "verify"):
        (ow, oc), (nw, nc) = median[f"{stage}_old"], median[f"{stage}_new"]
        rw, rc = ratios[stage]
        print(
            f"| {stage} | {ow:.2f} | {nw:.2f} | {oc:.2f} | {nc:.2f} | {rw:.2f}x | {rc:.2f}x | {n_trades / nw:,.0f} |"
        )
    print(f"load average (1 min) at round start -> end: {', '.join(f'{a:.1f}->{b:.1f}' for a, b in loads)}")
    out_file = REPO / "out" / "bench_ledger_speed.json"
    out_file.parent.mkdir(exist_ok=True)
    out_file.write_text(
        json.dumps(
            {"days": args.days, "trades": n_trades, "rounds": args.rounds, "base": BASE, "samples": samples,
             "median": median, "ratios": ratios, "loads": loads},
            indent=1,
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
