"""OCPP central system against an independent charge point: the npm package ocpp-rpc in strict mode."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ocpp")
from wattmesh.integrate.ocpp_cs import CentralSystem, plan_from_charging_profile  # noqa: E402

JS = Path(__file__).parent / "js"
START = pd.Timestamp("2026-06-01T18:00:00Z")
PLAN_KW = np.array([3.7, 3.7, 0.0, 7.4, 11.0, 11.0])


@pytest.fixture(scope="module")
def node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the ocpp-rpc charge point cannot run")
    if not (JS / "node_modules" / "ocpp-rpc").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: cannot install ocpp-rpc (npm ci in tests/integrate/js)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, timeout=180)
    return node


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp1.6"])
def test_strict_ocpp_rpc_charger_meter_values_and_profile(node, protocol):
    got = []
    cs = CentralSystem(got.extend, {"rpc-1": "home_9"})
    n = 5

    async def scenario():
        port = await cs.start()
        proc = await asyncio.create_subprocess_exec(
            node, str(JS / "charger.js"), f"ws://127.0.0.1:{port}", "rpc-1", protocol, START.isoformat(),
            str(n), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            line = await proc.stdout.readline()
            assert line.strip() == b"sent", (line, await proc.stderr.read())
            status = await cs.send_plan("rpc-1", PLAN_KW, START, 900)
            profile = json.loads(await proc.stdout.readline())
            rc = await proc.wait()
            return status, profile, rc, await proc.stderr.read()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await cs.stop()

    status, params, rc, err = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert rc == 0, err
    assert status == "Accepted"
    # the last MeterValues came twice: one reading each
    assert [r.timestamp for r in got] == [START + pd.Timedelta(seconds=10 * i) for i in range(n)]
    assert [r.values["import_kwh"] for r in got] == pytest.approx([2.0 + 0.005 * i for i in range(n)])
    profile = params["csChargingProfiles"] if protocol == "ocpp1.6" else params["chargingProfile"]
    np.testing.assert_allclose(plan_from_charging_profile(profile, 900), PLAN_KW)
