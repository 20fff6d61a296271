"""Ledger benchmark: append and audit throughput, proofs on a large log, and the chain backend.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ledger.py                 # everything, 1M-trade log
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ledger.py --large 100000  # smaller large log
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ledger.py --skip-chain

Figures go to standard output and to ``out/bench_ledger.json``. Goals (issue 4): append >= 20k signed
trades/s batched per interval, full audit >= 10k entries/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from wattmesh.ledger.audit import verify
from wattmesh.ledger.keys import Keyring, ensure_keys
from wattmesh.ledger.local import LocalLedger, verify_proof
from wattmesh.ledger.merkle import verify_consistency

REPO = Path(__file__).resolve().parents[1]
START = pd.Timestamp("2025-07-15T00:00:00Z")
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil's account 0


def interval_trades(k: int, n: int, members: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """``n`` random trades among ``members`` in market interval ``k`` (15 min), all 12 record fields."""
    start = START + pd.Timedelta(minutes=15 * k)
    m = len(members)
    seller = rng.integers(0, m, n)
    buyer = (seller + rng.integers(1, m, n)) % m
    names = np.array(members, dtype=object)
    return pd.DataFrame(
        {
            "transaction_id": [f"tx_{k:06d}_{i:05d}" for i in range(n)],
            "seller": names[seller],
            "buyer": names[buyer],
            "energy_amount_kwh": rng.uniform(0.01, 3.0, n).round(3),
            "price_per_kwh": rng.uniform(0.05, 0.30, n).round(4),
            "timestamp": start,
            "status": "completed",
            "interval": start,
            "mechanism": "pay_as_clear",
            "grid_fee_per_kwh": rng.uniform(0.0, 0.05, n).round(4),
            "sell_order_id": [f"s_{k:06d}_{i:05d}" for i in range(n)],
            "buy_order_id": [f"b_{k:06d}_{i:05d}" for i in range(n)],
        }
    )


def build(
    path: Path, keyring: Keyring, members: list[str], total: int, per_interval: int, seed: int
) -> float:
    """Append ``total`` trades in intervals of ``per_interval``; returns the seconds spent appending."""
    rng = np.random.default_rng(seed)
    spent = 0.0
    with LocalLedger(path, keyring) as ledger:
        for k in range(-(-total // per_interval)):
            n = min(per_interval, total - k * per_interval)
            trades = interval_trades(k, n, members, rng)  # made outside the timed part
            t0 = time.perf_counter()
            ledger.append_interval(trades, START + pd.Timedelta(minutes=15 * (k + 1)))
            spent += time.perf_counter() - t0
    return spent


def cpu_audit(path: Path):
    """The audit report and the CPU seconds it took (all threads)."""
    c0 = time.process_time()
    report = verify(path)
    return report, time.process_time() - c0


def bench_local(tmp: Path, trades: int, per_interval: int, party_keys: bool) -> dict:
    members = [f"home_{i:03d}" for i in range(40)]
    keyring = ensure_keys(tmp / f"keys_{party_keys}", members if party_keys else [])
    path = tmp / f"local_{party_keys}.sqlite"
    c0 = time.process_time()
    seconds = build(path, keyring, members, trades, per_interval, seed=1)
    append_cpu = time.process_time() - c0
    report, audit_cpu = cpu_audit(path)
    assert report.ok, report.summary()
    conn = sqlite3.connect(path)
    t0 = time.perf_counter()
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    integrity_s = time.perf_counter() - t0  # part of every audit since issue 15
    conn.close()
    return {
        "signatures_per_trade": 3 if party_keys else 1,
        "trades": trades,
        "trades_per_interval": per_interval,
        "append_trades_per_s": round(trades / seconds),
        "append_trades_per_cpu_s": round(trades / append_cpu),
        "audit_entries_per_s": round(trades / report.seconds),
        "audit_entries_per_cpu_s": round(trades / audit_cpu),
        "audit_signatures": report.signatures,
        "integrity_check_s": round(integrity_s, 2),
        "file_mb": round(path.stat().st_size / 1e6, 1),
    }


def bench_large(tmp: Path, trades: int, per_interval: int, audit: bool) -> dict:
    keyring = ensure_keys(tmp / "keys_large", [])
    members = [f"home_{i:03d}" for i in range(200)]
    path = tmp / "large.sqlite"
    seconds = build(path, keyring, members, trades, per_interval, seed=2)
    out = {
        "trades": trades,
        "signatures_per_trade": 1,
        "append_trades_per_s": round(trades / seconds),
        "file_mb": round(path.stat().st_size / 1e6, 1),
    }
    rng = random.Random(3)
    with LocalLedger(path, keyring) as ledger:
        heads = ledger.heads()
        seqs = [rng.randrange(trades) for _ in range(200)]
        ids = [
            ledger.conn.execute("SELECT transaction_id FROM entries WHERE seq = ?", (seq,)).fetchone()[0]
            for seq in seqs
        ]
        t0 = time.perf_counter()
        proofs = [ledger.prove(tid) for tid in ids]
        prove_ms = (time.perf_counter() - t0) / len(ids) * 1e3
        t0 = time.perf_counter()
        bad = [p for p in proofs if verify_proof(p, keyring.operator_public)]
        check_ms = (time.perf_counter() - t0) / len(ids) * 1e3
        assert not bad
        old, new = sorted(rng.sample(heads, 2), key=lambda h: h.tree_size)
        t0 = time.perf_counter()
        consistency = ledger.consistency_path(old.tree_size, new.tree_size)
        consistency_ms = (time.perf_counter() - t0) * 1e3
        assert verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, consistency)
    out.update(
        {
            "prove_ms": round(prove_ms, 2),
            "verify_proof_ms": round(check_ms, 2),
            "inclusion_path_hashes": len(proofs[0]["inclusion_path"]),
            "proof_json_bytes": round(np.mean([len(json.dumps(p)) for p in proofs])),
            "consistency_path_hashes": len(consistency),
            "consistency_ms": round(consistency_ms, 2),
        }
    )
    if audit:
        report, audit_cpu = cpu_audit(path)
        assert report.ok, report.summary()
        out["audit_entries_per_s"] = round(trades / report.seconds)
        out["audit_entries_per_cpu_s"] = round(trades / audit_cpu)
    return out


def bench_chain(tmp: Path, rpc_url: str, trades_per_interval: int, intervals: int) -> dict:
    from wattmesh.ledger.evm import ChainConfig, EvmLedger

    members = [f"home_{i:03d}" for i in range(40)]
    keyring = ensure_keys(tmp / "keys_chain", members)
    rng = np.random.default_rng(4)
    out = {}
    for mode in ("anchor", "settle"):
        ledger = EvmLedger(tmp / f"{mode}_{abs(hash(rpc_url))}.sqlite", keyring, mode, ChainConfig(rpc_url))
        batches = [interval_trades(k, trades_per_interval, members, rng) for k in range(intervals)]
        t0 = time.perf_counter()
        for k, trades in enumerate(batches):
            ledger.append_interval(trades, START + pd.Timedelta(minutes=15 * (k + 1)))
        seconds = time.perf_counter() - t0
        gas, txs = ledger.local.conn.execute("SELECT SUM(gas_used), COUNT(*) FROM chain_txs").fetchone()
        assert not ledger.verify_chain()
        n = trades_per_interval * intervals
        out[mode] = {
            "trades": n,
            "transactions": txs,
            "gas_per_trade": round(gas / n),
            "gas_per_interval": round(gas / intervals),
            "trades_per_s": round(n / seconds),
        }
        ledger.close()
    return out


def start_anvil() -> tuple[subprocess.Popen, str] | None:
    binaries = sorted((REPO / ".tools" / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil"))
    if not binaries:
        return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(binaries[0]), "--host", "127.0.0.1", "--port", str(port), "--gas-limit", "30000000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=100_000, help="trades for the throughput runs")
    parser.add_argument("--per-interval", type=int, default=2_000, help="trades per market interval")
    parser.add_argument("--large", type=int, default=1_000_000, help="trades in the large log (0: skip)")
    parser.add_argument("--skip-large-audit", action="store_true")
    parser.add_argument("--skip-chain", action="store_true")
    parser.add_argument("--chain-trades", type=int, default=500, help="trades per interval on chain")
    parser.add_argument("--chain-intervals", type=int, default=4)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench_ledger.json")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wattmesh-bench-"))
    results: dict = {"cpu_count": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    try:
        for party_keys in (True, False):
            key = "local_3_signatures" if party_keys else "local_operator_only"
            results[key] = bench_local(tmp, args.trades, args.per_interval, party_keys)
            print(key, results[key], flush=True)
        if args.large:
            results["large_log"] = bench_large(tmp, args.large, args.per_interval, not args.skip_large_audit)
            print("large_log", results["large_log"], flush=True)
        if not args.skip_chain:
            results["eth_tester"] = bench_chain(tmp, "eth-tester", args.chain_trades, args.chain_intervals)
            print("eth_tester", results["eth_tester"], flush=True)
            anvil = start_anvil()
            if anvil is None:
                results["anvil"] = "not installed: run `make .tools/node_modules/.bin/anvil`"
            else:
                proc, url = anvil
                os.environ["WATTMESH_CHAIN_KEY"] = ANVIL_KEY
                try:
                    results["anvil"] = bench_chain(tmp, url, args.chain_trades, args.chain_intervals)
                finally:
                    proc.terminate()
                    proc.wait(10)
            print("anvil", results["anvil"], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
