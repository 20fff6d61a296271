"""A Ray cluster of several nodes on this machine's loopback, for trying ``--ray`` and for tests and benchmarks.

``ray start --head`` and ``ray start --address`` for each further node, each with ``--block`` so that this
process holds their PIDs and stops them (SIGTERM, then SIGKILL after a bound); token authentication with a
fresh token that the driver (this process) shares through its environment. Every wait is bounded.

    with LocalCluster(nodes=2, cpus_per_node=1) as cluster:
        executor = RayExecutor(cluster.address)
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen, seconds: float = 30.0) -> None:
    """Stop a ``ray start --block`` process: SIGTERM (it stops its node), SIGKILL after ``seconds``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class LocalCluster:
    """``nodes`` Ray nodes on 127.0.0.1 with ``cpus_per_node`` CPUs each; a context manager.

    Attributes
    ----------
    address : "127.0.0.1:PORT" of the head, for :class:`~wattmesh.scale.executors.RayExecutor`
    env : the environment the nodes run with (the token among it); :meth:`start` puts the token and
        ``RAY_AUTH_MODE`` into this process's environment too, so that its driver is let in
    processes : the ``ray start --block`` processes, head first
    token : the authentication token; a fresh one unless given. Ray reads the token from the environment
        once, when it is imported: import ray after the first :meth:`start`, and give clusters that one
        process starts in turn the same token
    temp : the head's ``--temp-dir`` (a fresh folder under /tmp), removed by :meth:`stop`
    """

    def __init__(
        self, nodes: int = 2, cpus_per_node: int = 1, bound_s: float = 120.0, token: str | None = None
    ):
        if nodes < 1 or cpus_per_node < 1:
            raise ValueError(f"nodes {nodes} and cpus_per_node {cpus_per_node} must be at least 1")
        self.nodes, self.cpus_per_node, self.bound_s = nodes, cpus_per_node, bound_s
        self.processes: list[subprocess.Popen] = []
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths fit 107 bytes
        self.env = os.environ | {
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": token or secrets.token_hex(32),
            "OMP_NUM_THREADS": "1",
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        self.token = self.env["RAY_AUTH_TOKEN"]

    def _start(self, *args: str) -> subprocess.Popen:
        ray_cli = str(Path(sys.executable).parent / "ray")
        common = ["--block", "--node-ip-address", "127.0.0.1", "--num-cpus", str(self.cpus_per_node),
                  "--disable-usage-stats"]  # fmt: skip
        process = subprocess.Popen(
            [ray_cli, "start", *args, *common],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def start(self) -> LocalCluster:
        """Start the head, wait for its port, start the other nodes (the driver then waits for them)."""
        os.environ.update({k: self.env[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")})
        self._start("--head", "--port", str(self.port), "--include-dashboard", "false",
                    "--temp-dir", self.temp)  # fmt: skip
        deadline = time.monotonic() + self.bound_s
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            if time.monotonic() > deadline or self.processes[0].poll() is not None:
                self.stop()
                raise TimeoutError(f"the Ray head did not listen on {self.address} within {self.bound_s:g} s")
            time.sleep(0.5)
        for _ in range(self.nodes - 1):
            self._start("--address", self.address)
        return self

    def wait_for_nodes(self, ray) -> list[str]:
        """Wait (bounded) until every node is alive in the driver's view; their node ids."""
        deadline = time.monotonic() + self.bound_s
        while sum(n["Alive"] for n in ray.nodes()) < self.nodes:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.nodes} Ray nodes did not join within {self.bound_s:g} s")
            time.sleep(0.5)
        return [n["NodeID"] for n in ray.nodes() if n["Alive"]]

    def join(self) -> list[str]:
        """Connect a first driver (retrying, bounded, while the head's raylet registers: its port listens
        first), wait for every node, disconnect; the node ids. Import ray after :meth:`start` (the token)."""
        import ray

        deadline = time.monotonic() + self.bound_s
        while True:
            try:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
                break
            except ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
        try:
            return self.wait_for_nodes(ray)
        finally:
            ray.shutdown()

    def stop(self) -> None:
        """Stop the nodes this object started, by their PIDs, the others before the head; then remove the
        temp folder it made (Ray's sessions, logs and sockets: about 11 MB per cluster)."""
        for process in reversed(self.processes):
            stop(process)
        if all(process.poll() is not None for process in self.processes):
            shutil.rmtree(self.temp, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
