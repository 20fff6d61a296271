"""Shared fixtures: the default scenario's community over a short span (built once per session)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("OMP_NUM_THREADS", "1")

# CI replays the same examples on every run (reproducible verdicts); local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

PACKAGE_DATA = Path(__file__).resolve().parents[1] / "wattmesh" / "data"


def package_data(name: str) -> Path:
    """A data set shipped in the repository (wattmesh/data), or a failure naming the path looked for."""
    path = PACKAGE_DATA / name
    if not path.exists():
        pytest.fail(f"test data not found: {path} (expected in the repository's wattmesh/data)")
    return path


@pytest.fixture(scope="session")
def short_community():
    """The default scenario over two June days."""
    from wattmesh.community.build import build_community
    from wattmesh.community.scenario import load_scenario

    scenario = load_scenario(
        overrides={"time.start": "2016-06-10T00:00:00Z", "time.end": "2016-06-12T00:00:00Z"}
    )
    return build_community(scenario)
