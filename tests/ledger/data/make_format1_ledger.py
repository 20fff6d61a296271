"""Write ``format1.sqlite``: a ledger of format 1 (9-field trade records), made by the code before format 2.

Run with the ledger of commit 662bb19 (the last one writing format 1) first on the path::

    mkdir /tmp/oldpkg && git archive 662bb19 wattmesh/__init__.py wattmesh/tables.py wattmesh/ledger \
        | tar -x -C /tmp/oldpkg
    PYTHONPATH=/tmp/oldpkg .venv/bin/python tests/ledger/data/make_format1_ledger.py

The trades and intervals are those of ``format1_trades.json`` next to it; the keys are made
fresh and thrown away (the file holds the public keys; ``format1_operator.pub`` pins the operator's).
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import pandas as pd

import wattmesh.ledger.local as local
from wattmesh.ledger.keys import ensure_keys
from wattmesh.ledger.local import LocalLedger

HERE = Path(__file__).parent
DATA = json.loads((HERE / "format1_trades.json").read_text())

assert local.FORMAT == "wattmesh-ledger-1", f"run with the format 1 code, not {local.FORMAT}"
target = HERE / "format1.sqlite"
target.unlink(missing_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    keyring = ensure_keys(Path(tmp) / "keys", ["alpha", "beta", "Haus Müller"])
    with LocalLedger(target, keyring) as ledger:
        for start, end in DATA["intervals"]:
            trades = pd.DataFrame([t for t in DATA["trades"] if t["interval"] == start])
            ledger.append_interval(trades, end, start)
    (HERE / "format1_operator.pub").write_text(keyring.operator_public.hex() + "\n")
conn = sqlite3.connect(target)
conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file in the repository
conn.close()
print(target, target.stat().st_size, "bytes")
