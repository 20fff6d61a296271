"""The planner prints nothing: HiGHS's banner never reaches the command line's stdout."""

from __future__ import annotations

import subprocess
import sys


def test_the_first_lp_of_a_process_prints_no_banner():
    code = "from wattmesh.energy.lp import quiet_highs\nh = quiet_highs()\nprint('solver made')\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "solver made\n"
    loud = subprocess.run(
        [sys.executable, "-c", "import highspy; highspy.Highs()"], capture_output=True, text=True, timeout=60
    )
    assert "HiGHS" in loud.stdout  # the banner this guards against exists
