"""Integration: the exchange with ``[ledger] backend = "evm"`` anchors every cleared interval's tree head on
a real EVM node (anvil, from the npm package @foundry-rs/anvil in .tools/) on 127.0.0.1, keeps anchoring
into the same contract after a restart, and `wattmesh ledger verify --chain` finds every root on chain."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from wattmesh.ledger.evm import Chain, ChainConfig, verify_chain
from wattmesh.ledger.local import TreeHead
from wattmesh.service.app import create_app
from wattmesh.service.client import ExchangeClient
from wattmesh.service.coop import load_coop
from wattmesh.service.engine import Exchange

from .helpers import make_coop, secret_of

REPO = Path(__file__).resolve().parents[2]
WATTMESH = str(Path(sys.executable).with_name("wattmesh"))  # the command a user runs
# anvil's first default account (its well-known test mnemonic): a test key, never a real one
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def anvil_url():
    binaries = sorted((REPO / ".tools" / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil"))
    if not binaries:
        pytest.skip(
            "anvil is not installed: run `make .tools/node_modules/.bin/anvil` (npm @foundry-rs/anvil)"
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(binaries[0]), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(url))
    deadline = time.time() + 30
    while not w3.is_connected():
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"anvil ({binaries[0]}) did not answer on {url} within 30 s")
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


def _clear(exchange: Exchange, coop, interval: str, gate: str, tag: str) -> None:
    with TestClient(create_app(exchange)) as http:
        buyer, seller, operator = (
            ExchangeClient("http://testserver", m, secret_of(coop, m), http=http)
            for m in ("home_0", "home_1", "operator")
        )
        assert buyer.place_order(f"b{tag}", "buy", interval, 1500, 30000).status_code == 200
        assert seller.place_order(f"s{tag}", "sell", interval, 1000, 10000).status_code == 200
        assert operator.set_clock(gate).status_code == 200
        assert http.get("/health").json()["ledger_problem"] is None
        assert len(http.get(f"/intervals/{interval}").json()["trades"]) == 1


def _contract(ledger_path: Path) -> str:
    with sqlite3.connect(ledger_path) as conn:
        return conn.execute("SELECT value FROM meta WHERE key = 'chain_contract'").fetchone()[0]


def test_tree_heads_are_anchored_on_chain_across_a_restart(tmp_path, anvil_url, monkeypatch):
    monkeypatch.setenv("WATTMESH_CHAIN_KEY", ANVIL_KEY)
    coop = make_coop(tmp_path / "coop", n_members=4)
    config = coop.folder / "exchange.toml"
    config.write_text(config.read_text().replace('backend = "local"', f'backend = "evm"\nmode = "anchor"\nrpc_url = "{anvil_url}"\nchain_id = 31337'))  # fmt: skip
    coop = load_coop(coop.folder)
    with Exchange(coop) as exchange:
        _clear(exchange, coop, "2026-06-01T10:00:00Z", "2026-06-01T09:55:00Z", "1")
    contract = _contract(coop.ledger_path)
    with Exchange(coop) as exchange:  # a restart: the same contract, no new deployment
        _clear(exchange, coop, "2026-06-01T10:15:00Z", "2026-06-01T10:10:00Z", "2")
        heads = list(exchange.heads)
    assert _contract(coop.ledger_path) == contract
    assert [h["interval"] for h in heads][-2:] == ["2026-06-01T10:00:00Z", "2026-06-01T10:15:00Z"]
    monkeypatch.delenv("WATTMESH_CHAIN_KEY")  # verifying needs no chain key
    chain = Chain(ChainConfig(anvil_url, contract, 31337), read_only=True)
    for head in heads:  # each signed tree head's interval root, read back from the contract
        assert chain.root_of(TreeHead.from_dict(head)) == TreeHead.from_dict(head).interval_root
    assert verify_chain(coop.ledger_path) == []
    result = subprocess.run([WATTMESH, "ledger", "verify", str(coop.ledger_path), "--chain"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "chain: OK, every interval root matches" in result.stdout
