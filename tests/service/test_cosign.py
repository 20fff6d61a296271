"""Members who hold their own key co-sign their trades in the exchange's ledger, against a real
`wattmesh serve`; a forged co-signature is refused; a rotated key is carried into the ledger's registry
(later entries verify under the new key, older ones under the old); `wattmesh ledger verify` checks it all."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess

import pytest

from wattmesh.ledger import verify
from wattmesh.ledger.keys import ensure_keys, sign_many
from wattmesh.ledger.local import trade_message, verify_proof
from wattmesh.service.client import ExchangeClient

from .helpers import WATTMESH, free_port, make_coop, secret_of, serve

FIRST, SECOND = "2026-06-01T10:00:00Z", "2026-06-01T10:15:00Z"


def wattmesh(*args) -> subprocess.CompletedProcess:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.run([WATTMESH, *map(str, args)], capture_output=True, text=True, timeout=180, env=env)


def trade_one(
    seller: ExchangeClient, buyer: ExchangeClient, operator: ExchangeClient, delivery: str, gate: str
):
    tag = delivery[11:16].replace(":", "")
    assert seller.place_order(f"{seller.signer}-{tag}", "sell", delivery, 800, 9000).status_code == 200
    assert buyer.place_order(f"{buyer.signer}-{tag}", "buy", delivery, 800, 30000).status_code == 200
    assert operator.set_clock(gate).status_code == 200, "the gate closes and the interval clears"
    trades = operator.interval(delivery).json()["trades"]
    assert len(trades) == 1 and trades[0]["seller"] == seller.signer and trades[0]["buyer"] == buyer.signer
    return trades[0]["transaction_id"]


@pytest.mark.slow
def test_self_custody_members_co_sign_and_rotated_keys_verify(tmp_path):
    coop = make_coop(tmp_path / "coop", n_members=2)
    own = ensure_keys(tmp_path / "own-keys", ["solar_9"])  # kept by the member, not in the co-op folder
    rotated = ensure_keys(tmp_path / "new-keys", ["solar_9"])
    port = free_port()
    server = serve(coop.folder, port)
    try:
        url = f"http://127.0.0.1:{port}"
        operator = ExchangeClient(url, "operator", secret_of(coop, "operator"))
        assert operator.add_member("solar_9", own.member_public()["solar_9"].hex()).status_code == 200
        member = ExchangeClient(url, "solar_9", own.member_secrets["solar_9"])
        home_0 = ExchangeClient(url, "home_0", secret_of(coop, "home_0"))
        first = trade_one(member, home_0, operator, FIRST, "2026-06-01T09:55:00Z")

        # the custodial buyer is signed in the entry; the self-custody seller's side awaits its signature
        awaiting = member.awaiting().json()["entries"]
        assert [(e["transaction_id"], e["side"]) for e in awaiting] == [(first, "seller")]
        report = verify(coop.ledger_path)
        assert report.ok and [(t, s, m) for _, t, s, m in report.awaiting] == [(first, "seller", "solar_9")]
        assert home_0.awaiting().json()["entries"] == []

        # a forged co-signature (another member's key, or a signature over other bytes) is refused, kept nowhere
        record = awaiting[0]["record"].encode()
        forged = sign_many([secret_of(coop, "home_1")], [trade_message(record)])[0]
        answer = member.call("POST", "/ledger/cosign", {"transaction_id": first, "signature": forged.hex()})
        assert answer.status_code == 422 and "does not verify" in answer.text
        other_bytes = sign_many([own.member_secrets["solar_9"]], [record])[0]  # no domain prefix
        answer = member.call(
            "POST", "/ledger/cosign", {"transaction_id": first, "signature": other_bytes.hex()}
        )
        assert answer.status_code == 422
        # home_0 is no self-custody party of the trade: its signature is in the entry already
        own_sig = sign_many([secret_of(coop, "home_0")], [trade_message(record)])[0]
        answer = home_0.call("POST", "/ledger/cosign", {"transaction_id": first, "signature": own_sig.hex()})
        assert answer.status_code == 422
        assert len(member.awaiting().json()["entries"]) == 1
        assert len(verify(coop.ledger_path).awaiting) == 1

        # the member co-signs with its own key: the entry is fully signed
        answers = member.cosign_trades()
        assert [a.status_code for a in answers] == [200]
        assert member.awaiting().json()["entries"] == []
        report = verify(coop.ledger_path)
        assert report.ok and report.awaiting == [] and report.cosigned == 1
        proof = member.proof(first).json()
        assert [c["side"] for c in proof["cosignatures"]] == ["seller"] and verify_proof(proof) == []

        # rotation: the new key signs the later trades; the older entry keeps its old-key co-signature
        new_public = rotated.member_public()["solar_9"].hex()
        assert operator.rotate("solar_9", new_public).status_code == 200
        member = ExchangeClient(url, "solar_9", rotated.member_secrets["solar_9"])
        second = trade_one(member, home_0, operator, SECOND, "2026-06-01T10:10:00Z")
        stale = ExchangeClient(url, "solar_9", own.member_secrets["solar_9"])  # the old key's signature
        old_sig = sign_many([own.member_secrets["solar_9"]], [trade_message(record)])[0]
        assert stale.call("POST", "/ledger/cosign", {"transaction_id": second, "signature": old_sig.hex()}).status_code == 401  # fmt: skip
        entries = member.awaiting().json()["entries"]
        assert [e["transaction_id"] for e in entries] == [second]
        old_key_sig = sign_many(
            [own.member_secrets["solar_9"]], [trade_message(entries[0]["record"].encode())]
        )[0]
        answer = member.call(
            "POST", "/ledger/cosign", {"transaction_id": second, "signature": old_key_sig.hex()}
        )
        assert answer.status_code == 422, "a co-signature by the superseded key is refused"
        assert [a.status_code for a in member.cosign_trades()] == [200]
        proof = member.proof(second).json()
        assert proof["cosignatures"][0]["key_version"] == 1
        assert proof["cosignatures"][0]["public_key"] == new_public and verify_proof(proof) == []
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=60)

    done = wattmesh("ledger", "verify", coop.ledger_path)
    assert done.returncode == 0 and "co-signature" in done.stdout, done.stdout + done.stderr
    report = verify(coop.ledger_path)
    assert report.ok and report.cosigned == 2 and report.awaiting == []
    with sqlite3.connect(coop.ledger_path) as conn:
        versions = conn.execute("SELECT member_id, version, valid_from_seq FROM key_versions").fetchall()
        cosigned = conn.execute(
            "SELECT seq, member_id, key_version FROM cosignatures ORDER BY seq"
        ).fetchall()
    assert versions == [("solar_9", 1, 1)]  # valid from the entry after the first trade
    assert cosigned == [(0, "solar_9", 0), (1, "solar_9", 1)]

    # a flipped member co-signature fails the verify command; so does a moved key validity
    for name, change in (
        ("flipped", "UPDATE cosignatures SET signature = substr(signature, 1, 10) || X'00' || substr(signature, 12) "
                    "WHERE seq = 1"),
        ("swapped", "UPDATE cosignatures SET key_version = 0 WHERE seq = 1"),
        ("moved", "UPDATE key_versions SET valid_from_seq = 0"),
    ):  # fmt: skip
        tampered = tmp_path / f"{name}.sqlite"
        shutil.copy(coop.ledger_path, tampered)
        with sqlite3.connect(tampered) as conn:
            conn.execute(change)
            assert conn.total_changes == 1
        done = wattmesh("ledger", "verify", tampered)
        assert done.returncode == 3, (name, done.stdout + done.stderr)
        assert not verify(tampered).ok
    # deleting a co-signature leaves the entry awaiting its member again (listed, not hidden)
    removed = tmp_path / "removed.sqlite"
    shutil.copy(coop.ledger_path, removed)
    with sqlite3.connect(removed) as conn:
        conn.execute("DELETE FROM cosignatures WHERE seq = 0")
    report = verify(removed)
    assert [(s, side, m) for s, _, side, m in report.awaiting] == [(0, "seller", "solar_9")]
    assert any("await" in note for note in report.notes)
