"""Executors: where tasks run. Serial (in this process), a process pool, or a Ray cluster.

All three have ``submit(fn, *args) -> handle`` (an argument may be another task's handle: the new task
then depends on it) and ``gather(handles) -> list`` in the order of ``handles``, whatever order the tasks
finished in; that order, not completion order, is what every reduction uses.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

#: Ray's versions this code is written against (pyproject's ``ray`` extra pins the same minor).
RAY_MINOR = "2.60"


class SerialExecutor:
    """Runs each task at once, in this process: the reference every other executor must equal."""

    name = "serial"

    def submit(self, fn, *args):
        return fn(*args)

    def gather(self, handles: list) -> list:
        return list(handles)

    def close(self) -> None:
        pass


class ProcessExecutor:
    """A pool of ``workers`` processes on this machine (spawned: each imports wattmesh once).

    A task that depends on others is submitted once they are done (the driver waits for them).
    """

    name = "processes"

    def __init__(self, workers: int):
        if workers < 1:
            raise ValueError(f"--workers {workers} is below 1")
        self.workers = workers
        env = os.environ
        env.setdefault("OMP_NUM_THREADS", "1")  # one thread per process: the cores are the workers
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn, *args) -> Future:
        ready = [a.result() if isinstance(a, Future) else a for a in args]
        return self.pool.submit(fn, *ready)

    def gather(self, handles: list) -> list:
        return [h.result() for h in handles]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Tasks on a Ray cluster (``address``: "auto", RAY_ADDRESS's value, or host:port of the head).

    The code goes to the workers as ``runtime_env={"py_modules": [wattmesh]}``, the package folder alone
    (never a ``working_dir``, which would ship the current folder: outputs, Ray's temp files). Token
    authentication is Ray's own: start the cluster and this driver with ``RAY_AUTH_MODE=token`` and the
    same ``RAY_AUTH_TOKEN`` (or token file); Ray refuses a driver without it.
    """

    name = "ray"

    def __init__(self, address: str = "auto"):
        try:
            import ray
        except ImportError:
            raise RuntimeError("--ray needs Ray: pip install 'wattmesh[ray]'") from None
        import wattmesh

        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            self._init(ray, address, wattmesh)
        self._remote = {}

    @staticmethod
    def _init(ray, address: str, wattmesh) -> None:
        try:
            ray.init(
                address=os.environ.get("RAY_ADDRESS", "auto") if address == "auto" else address,
                runtime_env={
                    "py_modules": [str(Path(wattmesh.__file__).parent)],
                    "excludes": ["__pycache__", "*.pyc"],
                    "env_vars": {"OMP_NUM_THREADS": "1"},
                },
                log_to_driver=False,
                configure_logging=False,
            )
        except ConnectionError as exc:
            raise RuntimeError(f"--ray {address}: no Ray cluster reachable ({exc})") from None

    def submit(self, fn, *args):
        if fn not in self._remote:
            # SPREAD: with Ray's default (hybrid) policy the tasks drifted to the driver's node: on a 2-node
            # loopback cluster (60 feeders x 7 days, 11-15 s) the other node's worker ran out of work 2-2.4 s
            # before the head's and waited ~100 ms for a new lease a few times on the way; with SPREAD both
            # ended within 0.1 s of each other
            self._remote[fn] = self.ray.remote(num_cpus=1, max_retries=0, scheduling_strategy="SPREAD")(fn)
        return self._remote[fn].remote(*args)

    def gather(self, handles: list) -> list:
        return self.ray.get(list(handles))

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def executor_of(workers: int | None = None, ray: str | None = None):
    """The executor the command line asks for: Ray with ``ray``, processes with ``workers`` > 1, else serial."""
    if ray:
        return RayExecutor(ray)
    if workers is not None and workers > 1:
        return ProcessExecutor(workers)
    return SerialExecutor()
