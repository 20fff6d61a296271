"""Start a 2-node Ray cluster on loopback, run a city on it, stop it by its PIDs; write what ran where.

Run by tests/scale/test_ray.py (inside ``unshare --net --pid --fork --mount-proc`` where it can): the head
and one worker node, each with one CPU, with token authentication; the results go to the pickle file
given as the first argument: {"arrays": ..., "where": [...], "nodes": [...]}.
"""

from __future__ import annotations

import os
import pickle
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

BOUND_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"Ray head not listening on 127.0.0.1:{port}")


def stop(process: subprocess.Popen) -> None:
    """Stop a `ray start --block` we started: SIGTERM (it stops its node), SIGKILL after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def main(out: Path, scenario_toml: Path) -> None:
    ray_cli = str(Path(sys.executable).parent / "ray")
    env = os.environ | {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "OMP_NUM_THREADS": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    os.environ.update(env)  # the driver authenticates with the same token
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = free_port()
    common = ["--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats"]
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", temp]
        + common,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        deadline = time.monotonic() + BOUND_S
        wait_for_port(port, deadline)
        worker = subprocess.Popen(
            [ray_cli, "start", "--address", f"127.0.0.1:{port}"] + common,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import ray

        from wattmesh.scale.city import run_city
        from wattmesh.scale.executors import RayExecutor

        executor = RayExecutor(f"127.0.0.1:{port}")
        while sum(n["Alive"] for n in ray.nodes()) < 2:
            if time.monotonic() > deadline:
                raise TimeoutError("the worker node did not join within the bound")
            time.sleep(0.5)
        nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        # a driver without the token must be refused
        stranger = subprocess.run(
            [sys.executable, "-c", f"import ray; ray.init(address='127.0.0.1:{port}')"],
            env={k: v for k, v in env.items() if k != "RAY_AUTH_TOKEN"} | {"HOME": temp},
            capture_output=True,
            text=True,
            timeout=60,
        )
        try:
            result = run_city(tomllib.loads(scenario_toml.read_text()), executor=executor)
        finally:
            executor.close()
        out.write_bytes(
            pickle.dumps(
                {
                    "arrays": result.arrays(),
                    "where": [o.where for o in result.feeders],
                    "nodes": nodes,
                    "stranger_returncode": stranger.returncode,
                    "stranger_says": stranger.stderr[-2000:],
                }
            )
        )
    finally:
        if worker is not None:
            stop(worker)
        stop(head)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
