"""A real 2-node Ray cluster on loopback (token authentication): tasks run on both nodes, results equal serial."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .test_city import BASE_TOML, CITY, FEEDERS_TOML

pytest.importorskip("ray")

HERE = Path(__file__).parent


def can_unshare() -> bool:
    """Whether this user may make a network and PID namespace (root, or unprivileged user namespaces)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "true"]
    return subprocess.run(probe, capture_output=True, timeout=20).returncode == 0


def test_a_two_node_cluster_runs_the_city_on_both_nodes_bitwise_equal_to_serial(tmp_path):
    from wattmesh.scale.city import run_city

    scenario = tmp_path / "city.toml"
    scenario.write_text(BASE_TOML + FEEDERS_TOML + '[[feeders]]\ncode = "1-LV-semiurb4--2-sw"\n')
    out = tmp_path / "ray.pkl"
    script = [sys.executable, str(HERE / "ray_cluster_run.py"), str(out), str(scenario)]
    if can_unshare():
        # its own network (loopback only) and PID namespace: whatever Ray leaves dies with the namespace
        command = [
            "unshare",
            "--net",
            "--pid",
            "--fork",
            "--mount-proc",
            "sh",
            "-c",
            'ip link set lo up && exec "$@"',
            "-",
        ]
        command += script
    else:
        command = script
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    ran = pickle.loads(out.read_bytes())
    assert len(ran["nodes"]) == 2
    used = {where.removeprefix("ray:") for where in ran["where"]}
    assert used == set(ran["nodes"])  # every node ran a feeder task
    assert ran["stranger_returncode"] != 0, ran["stranger_says"]  # no token, no entry
    serial = run_city(CITY).arrays()
    assert ran["arrays"].keys() == serial.keys()
    different = [
        k
        for k in serial
        if not np.array_equal(serial[k], ran["arrays"][k], equal_nan=serial[k].dtype.kind == "f")
    ]
    assert different == []
    assert not ran["temp_left"], f"the cluster's temp folder {ran['temp']} is still there after it stopped"
