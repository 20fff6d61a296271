"""Integration: a real EVM node (anvil, from the npm package @foundry-rs/anvil installed by `make test`
into .tools/) on 127.0.0.1; deploy, anchor and settle a few intervals, then verify from the file alone."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wattmesh.cli import app
from wattmesh.ledger.audit import verify
from wattmesh.ledger.evm import ChainConfig, ChainError, EvmLedger, verify_chain

REPO = Path(__file__).resolve().parents[2]
# anvil's first default account (its well-known test mnemonic): a test key, never a real one
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

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
    proc = subprocess.Popen(
        [str(binaries[0]), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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


def test_anchor_and_settle_on_anvil_then_verify_from_the_file(
    tmp_path, anvil_url, keyring, make_trades, interval_end, monkeypatch
):
    monkeypatch.setenv("WATTMESH_CHAIN_KEY", ANVIL_KEY)
    paths = {}
    for mode in ("anchor", "settle"):
        paths[mode] = tmp_path / f"{mode}.sqlite"
        ledger = EvmLedger(paths[mode], keyring, mode, ChainConfig(anvil_url, chain_id=31337, batch_size=4))
        assert ledger.chain.sender == ANVIL_ADDRESS
        for k, n in enumerate([5, 0, 9]):
            ledger.append_interval(
                make_trades(k, n, seed=3), interval_end(k), make_trades(k, 1)["interval"].iloc[0]
            )
        if mode == "settle":
            with pytest.raises(ChainError, match="interval already settled"):
                again = EvmLedger(tmp_path / "again.sqlite", keyring, mode, ledger.chain)
                again.append_interval(make_trades(0, 2, seed=4), interval_end(0))
            assert again.local.size == 0
            again.close()
            txs = ledger.local.conn.execute("SELECT COUNT(*) FROM chain_txs").fetchone()[0]
            assert txs == 2 + 1 + 3  # 5 trades in 2 batches, an empty interval, 9 trades in 3 batches
        ledger.close()
    monkeypatch.delenv("WATTMESH_CHAIN_KEY")  # verifying needs no chain key
    for mode, path in paths.items():
        assert verify(path).ok, mode
        assert verify_chain(path) == [], mode  # a fresh connection from the RPC URL and contract in the file
        result = CliRunner().invoke(app, ["ledger", "verify", str(path), "--chain"])
        assert result.exit_code == 0, result.output
        assert "chain: OK, every interval root matches" in result.output
    result = CliRunner().invoke(app, ["ledger", "prove", str(paths["anchor"]), "tx_3_2_4", "--chain"])
    assert result.exit_code == 0, result.output
    assert "proof: OK against the chain" in result.output


def test_a_keystore_key_and_the_poa_middleware_work_on_anvil(
    tmp_path, anvil_url, keyring, make_trades, interval_end, monkeypatch
):
    from eth_account import Account
    from web3.middleware import ExtraDataToPOAMiddleware

    keystore = tmp_path / "operator.json"
    keystore.write_text(json.dumps(Account.encrypt(ANVIL_KEY, "correct horse")))
    monkeypatch.delenv("WATTMESH_CHAIN_KEY", raising=False)
    monkeypatch.setenv("WATTMESH_KEYSTORE_PASSWORD", "correct horse")
    config = ChainConfig(anvil_url, keystore=keystore, poa=True)
    ledger = EvmLedger(tmp_path / "ks.sqlite", keyring, "anchor", config)
    assert ledger.chain.sender == ANVIL_ADDRESS
    assert any(m is ExtraDataToPOAMiddleware for m, _ in ledger.chain.w3.middleware_onion.middleware)
    ledger.append_interval(make_trades(0, 2), interval_end(0))
    assert ledger.verify_chain() == []
    ledger.close()
    monkeypatch.setenv("WATTMESH_KEYSTORE_PASSWORD", "wrong")
    with pytest.raises(ValueError, match="MAC mismatch"):
        EvmLedger(tmp_path / "ks2.sqlite", keyring, "anchor", config)
