"""The co-op's commands as a user runs them: `wattmesh serve`, `wattmesh member suspend|reinstate|rotate`
(against the running server and on the journal when none runs), `wattmesh ledger verify` on the
exchange's ledger; and the monthly bill CSV checked against the per-interval statements."""

from __future__ import annotations

import io
import os
import shutil
import signal
import sqlite3
import subprocess

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from wattmesh.ledger.keys import ensure_keys
from wattmesh.service.app import BILL_COLUMNS, create_app
from wattmesh.service.client import ExchangeClient
from wattmesh.service.engine import Exchange, rebuild_state
from wattmesh.service.journal import Journal

from .helpers import WATTMESH, free_port, make_coop, secret_of, serve

DELIVERY = "2026-06-01T10:00:00Z"


def wattmesh(*args) -> subprocess.CompletedProcess:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.run([WATTMESH, *map(str, args)], capture_output=True, text=True, timeout=180, env=env)


@pytest.mark.slow
def test_member_suspend_reinstate_and_rotate_through_the_cli(tmp_path):
    coop = make_coop(tmp_path / "coop", n_members=4)
    # no server runs: the command decides on the journal
    done = wattmesh("member", "suspend", coop.folder, "home_1")
    assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    server = serve(coop.folder, port)
    try:
        url = f"http://127.0.0.1:{port}"
        home_0, home_1 = (ExchangeClient(url, m, secret_of(coop, m)) for m in ("home_0", "home_1"))
        assert home_1.place_order("h1-a", "sell", DELIVERY, 500, 9000).status_code == 401
        assert home_0.place_order("h0-a", "buy", DELIVERY, 500, 30000).status_code == 200
        # the server runs: the commands sign operator requests to it
        done = wattmesh("member", "reinstate", coop.folder, "home_1")
        assert done.returncode == 0, done.stdout + done.stderr
        assert home_1.place_order("h1-b", "sell", DELIVERY, 500, 9000).status_code == 200
        new_key = ensure_keys(tmp_path / "new-keys", ["home_1"])
        done = wattmesh(
            "member", "rotate", coop.folder, "home_1", "--pubkey", tmp_path / "new-keys" / "home_1.pub"
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert home_1.place_order("h1-c", "sell", DELIVERY, 500, 9000).status_code == 401  # the old key
        rotated = ExchangeClient(url, "home_1", new_key.member_secrets["home_1"])
        assert rotated.place_order("h1-d", "sell", DELIVERY, 500, 9000).status_code == 200
        done = wattmesh("member", "suspend", coop.folder, "home_99")
        assert done.returncode == 1 and "no member 'home_99'" in done.stdout
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    journal = Journal(coop.default_db_url)
    state = rebuild_state(journal)
    journal.close()
    assert state.members["home_1"].status == "active"
    assert state.members["home_1"].public_key == new_key.member_public()["home_1"].hex()
    assert sorted(o for o in state.orders if o.startswith("h")) == ["h0-a", "h1-b", "h1-d"]


@pytest.mark.slow
def test_ledger_verify_command_and_monthly_bills_against_the_statements(tmp_path):
    # four intervals across a month's end in the co-op's time zone (Europe/Berlin, UTC+2 in summer):
    # 21:30 and 21:45 UTC are still June 30th there, 22:00 and 22:15 UTC are July 1st
    coop = make_coop(tmp_path / "coop", n_members=4, start="2026-06-30T21:30:00Z")
    intervals = pd.date_range("2026-06-30T21:30:00Z", periods=4, freq="15min")
    stamps = list(intervals.strftime("%Y-%m-%dT%H:%M:%SZ"))
    members = [f"home_{m}" for m in range(4)]
    with TestClient(create_app(Exchange(coop))) as http:
        client = {m: ExchangeClient("http://testserver", m, secret_of(coop, m), http=http) for m in [*members, "operator"]}  # fmt: skip
        for t, stamp in enumerate(stamps):
            for m, member in enumerate(members):
                side = "sell" if (m + t) % 2 else "buy"
                answer = client[member].place_order(
                    f"{member}-{t}", side, stamp, 400 + 300 * m, 12000 + 4000 * m
                )
                assert answer.status_code == 200, answer.text
            gate = (intervals[t] - pd.Timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
            assert client["operator"].set_clock(gate).status_code == 200
        assert client["operator"].set_clock("2026-06-30T22:30:00Z").status_code == 200
        readings = [{"member_id": member, "interval": stamp, "energy_wh": (m - 1) * 350 + 40 * t}
                    for t, stamp in enumerate(stamps) for m, member in enumerate(members)]  # fmt: skip
        assert client["operator"].upload_readings(readings).status_code == 200
        lines = {m: client[m].statements().json()["lines"] for m in members}
        bills = {month: pd.read_csv(io.StringIO(client["operator"].bills_csv(month).text)).set_index("member_id")
                 for month in ("2026-06", "2026-07")}  # fmt: skip
        own = pd.read_csv(io.StringIO(client["home_2"].bill_csv("2026-07").text))
        assert client["home_2"].bill_csv("2026-07", member_id="home_3").status_code == 401
        trades = sum(len(http.get(f"/intervals/{s}").json()["trades"]) for s in stamps)
    assert trades > 0
    for member in members:
        assert [ln["interval"] for ln in lines[member]] == stamps  # one statement line per settled interval
        for month, part in (("2026-06", lines[member][:2]), ("2026-07", lines[member][2:])):
            bill = bills[month].loc[member]
            assert bill["intervals"] == 2
            for column in ("metered_kwh", *BILL_COLUMNS):
                assert abs(bill[column] - sum(ln[column] for ln in part)) < 1e-5, (member, month, column)
    # a member's own bill is its row of the operator's
    assert own["member_id"].tolist() == ["home_2"]
    for column in ("intervals", "metered_kwh", *BILL_COLUMNS):
        assert abs(own[column].iloc[0] - bills["2026-07"].loc["home_2", column]) < 1e-9, column
    # the exchange's ledger, checked by the ledger's own command, unchanged
    done = wattmesh("ledger", "verify", coop.ledger_path)
    assert done.returncode == 0, done.stdout + done.stderr
    tampered = tmp_path / "tampered.sqlite"
    shutil.copy(coop.ledger_path, tampered)
    with sqlite3.connect(tampered) as conn:
        conn.execute("UPDATE entries SET record = replace(record, '\"home_', '\"hxme_') WHERE seq = 0")
        assert conn.total_changes == 1
    assert wattmesh("ledger", "verify", tampered).returncode == 3
