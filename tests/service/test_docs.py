"""The examples of docs/exchange.md work as written: its ```python and ```bash blocks run, unchanged but for
the server's port, in a folder holding `my-coop/` against a `wattmesh serve` of it (its ```console and
```toml blocks are set-up and configuration, not run)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from wattmesh.service.coop import write_coop

from .helpers import free_port, serve

DOC = Path(__file__).resolve().parents[2] / "docs" / "exchange.md"


def doc_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC.read_text(), flags=re.S | re.M)


@pytest.mark.slow
def test_the_python_and_curl_examples_run_against_a_server(tmp_path):
    python_blocks, bash_blocks = doc_blocks("python"), doc_blocks("bash")
    assert len(python_blocks) == 1 and len(bash_blocks) == 1
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed (Debian's curl package)")
    members = pd.DataFrame({"member_id": ["home_007", "home_012"], "kind": "household"})
    write_coop(tmp_path / "my-coop", members, name="docs co-op", market={"clock": "wall"},
               tariff={"retail_per_kwh": 0.32, "feed_in_per_kwh": 0.08})  # fmt: skip
    port = free_port()
    server = serve(tmp_path / "my-coop", port)
    env = os.environ | {"OMP_NUM_THREADS": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    try:
        script = python_blocks[0].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("200 {'accepted': True")
        assert "[('h7-1', 11000, 'open')]" in done.stdout
        script = bash_blocks[0].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith('{"accepted":true,'), done.stdout + done.stderr
        assert '"signer":"home_007"' in done.stdout and '"order_id":"h7-2","status":"open"' in done.stdout
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
