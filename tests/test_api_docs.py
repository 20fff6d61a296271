"""docs/api.md runs: its Python blocks are executed in order, in one namespace, in a temporary folder."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).parents[1] / "docs" / "api.md"


def test_every_python_block_of_the_api_page_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for k, block in enumerate(blocks):
        exec(compile(block, f"{DOC.name} block {k + 1}", "exec"), namespace)
    assert namespace["report"].ok and len(namespace["outcome"].trades) > 0
