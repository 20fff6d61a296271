"""1,000 fuzzed `wattmesh` calls (issue 15's target: 0 tracebacks): the count of tracebacks and the
histogram of exit codes, per command.

The calls are those of ``tests/test_cli_fuzz.py`` (Hypothesis draws them: every ledger command on sound,
unfinished, damaged and wrong files with fuzzed JSON and bad keys, ``scenario validate``, ``meter check /
repair``, ``simulate`` with options that fail before any simulation, and arguments that are no command),
run in this process through ``wattmesh.cli.main``. A traceback is any call that prints one, ends in an
internal error, or exits with a code the command line does not document.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fuzz_cli.py            # 1,000 calls
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fuzz_cli.py --calls 200 --seed 7

Exits 1 when any call gave a traceback (each is printed with its arguments).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {("ledger", c) for c in ("verify", "prove", "export", "head", "check-proof")} | {
    ("meter", "check"),
    ("meter", "repair"),
    ("scenario", "validate"),
}


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("cli_fuzz", ROOT / "tests" / "test_cli_fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["cli_fuzz"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()

    from hypothesis import HealthCheck, given, seed, settings
    from hypothesis import strategies as st

    fuzz = _fuzz_module()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="wattmesh-fuzz-") as tmp:
        tmp = Path(tmp)
        files = fuzz.make_files(tmp / "files")
        counter = itertools.count()

        @seed(args.seed)
        @settings(
            max_examples=args.calls,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(st.data())
        def run(data):
            scratch = tmp / f"call_{next(counter)}"
            scratch.mkdir()
            argv = fuzz.resolve(data.draw(fuzz.calls(files)), files, scratch)
            outcomes.append(fuzz.call(argv))
            if (scratch / "sim-out").exists():
                raise SystemExit(f"simulate ran with a fuzzed call: {argv}")

        started = time.perf_counter()
        run()
        seconds = time.perf_counter() - started

    tracebacks = [o for o in outcomes if o.is_traceback]
    by_command: dict[str, Counter] = {}
    for outcome in outcomes:
        name = " ".join(outcome.argv[:2]) if outcome.argv[:2] in COMMANDS else "other arguments"
        if outcome.argv[:1] == ("simulate",):
            name = "simulate"
        by_command.setdefault(name, Counter())[outcome.code] += 1
    codes = sorted({o.code for o in outcomes})
    print(
        f"{len(outcomes)} fuzzed calls in {seconds:.1f} s (seed {args.seed}); tracebacks: {len(tracebacks)}"
    )
    print()
    print(f"{'command':<22}" + "".join(f"{'exit ' + str(c):>9}" for c in codes) + f"{'calls':>9}")
    for name in sorted(by_command):
        row = by_command[name]
        print(f"{name:<22}" + "".join(f"{row[c]:>9}" for c in codes) + f"{sum(row.values()):>9}")
    total = Counter(o.code for o in outcomes)
    print(f"{'all':<22}" + "".join(f"{total[c]:>9}" for c in codes) + f"{len(outcomes):>9}")
    for outcome in tracebacks:
        print()
        print("TRACEBACK:", outcome.argv, "exit", outcome.code)
        print(outcome.output[-3000:])
    return 1 if tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
