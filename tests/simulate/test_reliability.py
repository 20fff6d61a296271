"""Issue 15's recipes for the simulator and the scenario files: no traceback, no silent loss, no half output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattmesh.cli import main
from wattmesh.community.scenario import DEFAULT_SCENARIO, FIELDS
from wattmesh.simulate.folder import MANIFEST, OutputError, OutputFolder, manifest_problems

WATTMESH = [sys.executable, "-m", "wattmesh.cli"]
ONE_DAY = ('end = "2016-07-01T00:00:00Z"', 'end = "2016-06-11T00:00:00Z"')
QUICK = [
    ONE_DAY,
    ('start = "2016-06-01T00:00:00Z"', 'start = "2016-06-10T00:00:00Z"'),
    ('dispatch = "planner"', 'dispatch = "rule"'),
    ("power_flow = true", "power_flow = false"),
]


def scenario_text(*replacements: tuple[str, str]) -> str:
    text = DEFAULT_SCENARIO.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def run_cli(*args: str, capsys=None) -> tuple[int, str]:
    """``wattmesh ARGS`` in this process: its exit code and what it printed (stdout and stderr, Rich's line
    wrapping folded into single spaces)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    printed = ""
    if capsys is not None:
        captured = capsys.readouterr()
        printed = " ".join((captured.out + captured.err).split())
    return code, printed


@pytest.fixture
def quick(tmp_path) -> Path:
    path = tmp_path / "quick.toml"
    path.write_text(scenario_text(*QUICK))
    return path


# -- scenario files: validate refuses what simulate could not run ---------------------------------------

RECIPES = {
    "seed": ("seed = 42", "seed = -1"),
    "time.end": ONE_DAY[:1] + ('end = "2016-06-01T00:15:00Z"',),
    "time.start": ('start = "2016-06-01T00:00:00Z"', 'start = "2016-06-01T00:07:00Z"'),
    "tariff.retail_per_kwh": ("retail_per_kwh = 0.32", "retail_per_kwh = 1e308"),
    "agents.mix": ('mix = "learning=0.34,ramp=0.33,zip=0.33"', 'mix = "foo=1"'),
    "tariff.retail_tou[0].end": ('end = "21:00"', 'end = "17:00"'),
    "fleet[0].count": ("count = 13", "count = 1000000000"),
}


@pytest.mark.parametrize("field", list(RECIPES))
def test_validate_refuses_what_simulate_could_not_run(field, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(scenario_text(RECIPES[field]))
    code, printed = run_cli("scenario", "validate", str(path), capsys=capsys)
    assert code == 2 and field in printed, printed
    code, printed = run_cli("simulate", str(path), "--out", str(tmp_path / "out"), capsys=capsys)
    assert code == 2 and field in printed and not (tmp_path / "out").exists()


def test_end_ten_minutes_after_start_is_refused(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(scenario_text((ONE_DAY[0], 'end = "2016-06-01T00:10:00Z"')))
    code, printed = run_cli("scenario", "validate", str(path), capsys=capsys)
    assert code == 2 and "time.end" in printed


@pytest.mark.parametrize(
    "content",
    [os.urandom(4096), "name = 'x'\n".encode("utf-16"), b"\x00" * 10, None, b"", "x" * 1_100_000],
    ids=["random", "utf16", "nul", "folder", "empty", "huge"],
)
def test_files_that_are_not_scenarios_get_one_clear_line(content, tmp_path, capsys):
    path = tmp_path / "scenario.toml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, printed = run_cli("scenario", "validate", str(path), capsys=capsys)
    assert code == 2 and "Traceback" not in printed and str(path) in printed, printed


def test_a_one_megabyte_name_is_refused_quickly(tmp_path, capsys):
    path = tmp_path / "long.toml"
    path.write_text(scenario_text(("name = ", "name = 'x" + "y" * 500_000 + "'\nold_name = ")))
    started = time.perf_counter()
    code, printed = run_cli("scenario", "validate", str(path), capsys=capsys)
    assert code == 2 and "name" in printed
    assert time.perf_counter() - started < 30  # it never finished in 120 s before


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from(["2016-06-01T00:00:00Z", "2016-13-01T00:00:00Z", "17:00", "pay_as_bid", "rule", "-1"]),
)


def _toml_value(value) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf") if np.isinf(value) else repr(value)
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {v}" for k, v in value.items()) + "}"


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from([f.name for f in FIELDS]), values), min_size=1, max_size=4))
def test_fuzzed_scenarios_never_give_a_traceback(tmp_path, capsys, changes):
    """1,000 scenario files with fields set to arbitrary values: exit 0 or 2, never an internal error."""
    text = DEFAULT_SCENARIO.read_text()
    for name, value in changes:
        section, _, key = name.rpartition(".")
        line = f"{key} = {_toml_value(value)}\n"
        text = (text + f"\n[{section}]\n" + line) if section else (line + text)
    path = tmp_path / "fuzz.toml"
    path.write_text(text)
    code, printed = run_cli("scenario", "validate", str(path), capsys=capsys)
    assert code in (0, 2), printed
    assert "internal error" not in printed and "Traceback" not in printed


# -- the output folder: whole or not at all -------------------------------------------------------------


def test_out_pointing_at_a_file_fails_before_anything_runs(quick, tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("keep me")
    started = time.perf_counter()
    code, printed = run_cli("simulate", str(quick), "--out", str(target), capsys=capsys)
    assert code == 2 and "is a file" in printed and target.read_text() == "keep me"
    assert time.perf_counter() - started < 10  # before building the community


@pytest.mark.parametrize("keys", ["a-file", "a-file/sub"])
def test_keys_pointing_at_a_file_fail_before_anything_runs(quick, tmp_path, capsys, keys, monkeypatch):
    (tmp_path / "a-file").write_text("keep me")
    started = time.perf_counter()
    out = tmp_path / "out"
    code, printed = run_cli(
        "simulate", str(quick), "--out", str(out), "--keys", str(tmp_path / keys), capsys=capsys
    )
    assert code == 2 and f"--keys {tmp_path / keys}" in printed and "expected a keystore folder" in printed
    monkeypatch.setenv("WATTMESH_KEYS", str(tmp_path / keys))
    code, printed = run_cli("simulate", str(quick), "--out", str(out), capsys=capsys)
    assert code == 2 and f"WATTMESH_KEYS {tmp_path / keys}" in printed
    assert time.perf_counter() - started < 10 and not out.exists()  # it failed after the simulation before
    assert (tmp_path / "a-file").read_text() == "keep me"


def test_a_second_writer_is_refused_at_once(tmp_path):
    with OutputFolder(tmp_path / "out"), pytest.raises(OutputError, match="being written by another"):
        OutputFolder(tmp_path / "out").__enter__()


def test_a_commit_swaps_a_complete_folder_for_a_complete_folder(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        (folder.staging / "a.txt").write_text("first")
        folder.commit({"run": 1})
    with OutputFolder(out) as folder:
        (folder.staging / "a.txt").write_text("second")
        assert (out / "a.txt").read_text() == "first"  # the old one stays until the commit
        folder.commit({"run": 2})
    assert (out / "a.txt").read_text() == "second" and manifest_problems(out) == []
    with OutputFolder(out) as folder:
        (folder.staging / "a.txt").write_text("third, never committed")
    assert (out / "a.txt").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out"]
    (out / "a.txt").write_text("changed")
    assert manifest_problems(out) == [f"{out}: a.txt differs from the manifest (changed or truncated)"]


#: issue 15's ways to a run without a single local trade (each crashed the run once)
NO_TRADES = {
    "utility_only": [('mechanism = "pay_as_clear"', 'mechanism = "utility_only"')],
    "feed-in above retail": [("feed_in_per_kwh = 0.08", "feed_in_per_kwh = 0.45")],
    "local fee 0.90": [("local_fee_per_kwh = 0.02", "local_fee_per_kwh = 0.90")],
    "evening, no community battery": [
        ('start = "2016-06-10T00:00:00Z"', 'start = "2016-06-10T19:00:00Z"'),
        ('end = "2016-06-11T00:00:00Z"', 'end = "2016-06-10T23:00:00Z"'),
        ("capacity_kwh = 200.0", "capacity_kwh = 0.0"),
        ("power_kw = 100.0", "power_kw = 0.0"),
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("recipe", list(NO_TRADES))
def test_a_run_without_local_trades_writes_a_complete_folder(recipe, tmp_path, capsys):
    from wattmesh.ledger.audit import verify

    path = tmp_path / "no_trades.toml"
    path.write_text(scenario_text(*QUICK, *NO_TRADES[recipe]))
    out = tmp_path / "out"
    code, printed = run_cli(
        "simulate", str(path), "--out", str(out), "--keys", str(tmp_path / "keys"), capsys=capsys
    )
    assert code == 0, printed
    assert manifest_problems(out) == []
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["rows"]["trades"] == 0 and manifest["ledger"]["entries"] == 0
    report = verify(out / "ledger.sqlite")
    intervals = 16 if recipe.startswith("evening") else 96
    assert report.complete and report.entries == 0 and report.tree_heads == intervals, report.summary()
    assert not (out / "keys").exists() and any((tmp_path / "keys").iterdir())


def test_the_price_learner_learns_nothing_from_a_day_without_local_prices():
    """A day without a single local trade: every price NaN (the tournament crashed on it, int / int)."""
    from wattmesh.agents.strategies import PriceHistoryLearner

    learner = PriceHistoryLearner(slots_per_day=4)
    learner.observe(np.arange(4), np.full(4, np.nan))
    assert np.isnan(learner.estimate).all()
    learner.observe(np.array([0, 0, 1]), np.array([0.10, 0.20, np.nan]))
    np.testing.assert_allclose(learner.estimate[:2], [0.15, np.nan])


@pytest.mark.slow
def test_kill_9_at_random_moments_leaves_the_previous_or_a_new_complete_folder(quick, tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, WATTMESH_KEYS=str(tmp_path / "keys"), OMP_NUM_THREADS="1")
    command = [*WATTMESH, "simulate", str(quick), "--out", str(out)]
    started = time.perf_counter()
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    run_seconds = time.perf_counter() - started
    assert first.returncode == 0, first.stdout + first.stderr
    previous = json.loads((out / MANIFEST).read_text())
    rng = np.random.default_rng(15)
    for delay in rng.uniform(0.2, run_seconds, 4):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert manifest_problems(out) == []
        manifest = json.loads((out / MANIFEST).read_text())
        assert manifest["complete"] and manifest["rows"] == previous["rows"]
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and manifest_problems(out) == []
    assert not list(tmp_path.glob(".out.partial-*")) and not list(tmp_path.glob(".out.old-*"))


def _tree_heads(path: Path) -> int:
    """Signed tree heads a running writer has committed to the ledger at ``path`` (0 if unreadable)."""
    import sqlite3

    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=0.1)
        try:
            return conn.execute("SELECT COUNT(*) FROM tree_heads").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_kill_9_while_the_ledger_is_written_leaves_a_ledger_that_verify_calls_incomplete(
    quick, tmp_path, capsys
):
    from wattmesh.ledger.audit import verify

    out = tmp_path / "out"
    env = dict(os.environ, WATTMESH_KEYS=str(tmp_path / "keys"), OMP_NUM_THREADS="1")
    process = subprocess.Popen(
        [*WATTMESH, "simulate", str(quick), "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ledger = None
    deadline = time.monotonic() + 300
    try:
        while process.poll() is None and time.monotonic() < deadline:
            staged = list(tmp_path.glob(".out.partial-*/ledger.sqlite"))
            if staged and _tree_heads(staged[0]) >= 2:  # the simulator is appending its intervals
                process.send_signal(signal.SIGKILL)
                ledger = staged[0]
                break
            time.sleep(0.005)
    finally:
        process.kill()
        process.wait(timeout=30)
    assert ledger is not None, "the run ended before its ledger was caught being written"
    assert not out.exists()  # the folder never appeared under its name
    report = verify(ledger)
    assert report.ok and report.incomplete and report.entries > 0
    code, printed = run_cli("ledger", "verify", str(ledger), capsys=capsys)
    assert code == 4, printed
    assert printed.startswith(f"INCOMPLETE: {ledger}: the run that wrote this ledger did not finish")
