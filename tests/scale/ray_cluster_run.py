"""Start a 2-node Ray cluster on loopback (wattmesh.scale.local_cluster), run a city on it, stop it by its
PIDs; write what ran where.

Run by tests/scale/test_ray.py (inside ``unshare --net --pid --fork --mount-proc`` where it can): the head
and one worker node, each with one CPU, with token authentication; the results go to the pickle file
given as the first argument: {"arrays": ..., "where": [...], "nodes": [...]}.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import tomllib
from pathlib import Path


def main(out: Path, scenario_toml: Path) -> None:
    from wattmesh.scale.local_cluster import LocalCluster

    with LocalCluster(nodes=2, cpus_per_node=1) as cluster:
        import ray

        from wattmesh.scale.city import run_city
        from wattmesh.scale.executors import RayExecutor

        executor = RayExecutor(cluster.address)
        nodes = cluster.wait_for_nodes(ray)
        # a driver without the token must be refused
        stranger = subprocess.run(
            [sys.executable, "-c", f"import ray; ray.init(address='{cluster.address}')"],
            env={k: v for k, v in cluster.env.items() if k != "RAY_AUTH_TOKEN"} | {"HOME": cluster.temp},
            capture_output=True,
            text=True,
            timeout=60,
        )
        try:
            result = run_city(tomllib.loads(scenario_toml.read_text()), executor=executor)
        finally:
            executor.close()
        ran = {
            "arrays": result.arrays(),
            "where": [o.where for o in result.feeders],
            "nodes": nodes,
            "stranger_returncode": stranger.returncode,
            "stranger_says": stranger.stderr[-2000:],
            "temp": cluster.temp,
        }
    ran["temp_left"] = Path(cluster.temp).exists()  # after the cluster stopped
    out.write_bytes(pickle.dumps(ran))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
