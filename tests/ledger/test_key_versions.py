"""A rotated member key in the ledger's registry: entries signed before the rotation verify under the old
key, entries after it under the new one (in the entry, or as a co-signature), and a changed key version
fails the audit."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from wattmesh.ledger import verify
from wattmesh.ledger.keys import ensure_keys
from wattmesh.ledger.local import LedgerError, LocalLedger, trade_message
from wattmesh.ledger.records import canonical_records


def signed_by(trades, keys: dict):
    """``trades`` with each side's signature made by ``keys[member]`` (the members' own devices)."""
    trades = trades.copy()
    records, rows = canonical_records(trades)
    for side in ("seller", "buyer"):
        trades[f"{side}_signature"] = [keys[row[side]].sign(trade_message(rec)) for rec, row in zip(records, rows, strict=True)]  # fmt: skip
    return trades


def test_entries_verify_under_the_key_valid_at_their_position(tmp_path, make_trades, interval_end):
    keyring = ensure_keys(tmp_path / "keys", [])
    old = ensure_keys(tmp_path / "old", ["alpha", "beta", "gamma", "delta"])
    new = ensure_keys(tmp_path / "new", ["alpha"])
    path = tmp_path / "ledger.sqlite"
    with LocalLedger(path, keyring, cosign=True) as ledger:
        for member, public in old.member_public().items():
            ledger.register_member(member, public)
        ledger.append_interval(signed_by(make_trades(0, 6), old.member_keys), interval_end(0))
        assert ledger.rotate_member("alpha", new.member_public()["alpha"]) == 1
        assert (
            ledger.rotate_member("alpha", new.member_public()["alpha"]) == 1
        )  # the same key: no new version
        later = make_trades(1, 6)
        assert "alpha" in set(later["seller"]) | set(later["buyer"])
        with pytest.raises(LedgerError, match="does not verify under the key registered for member 'alpha'"):
            ledger.append_interval(signed_by(later, old.member_keys), interval_end(1))  # the old key
        keys = old.member_keys | {"alpha": new.member_keys["alpha"]}
        ledger.append_interval(signed_by(later, keys), interval_end(1))
    report = verify(path)
    assert report.ok and report.entries == 12 and report.awaiting == [], report.summary()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT member_id, version, valid_from_seq FROM key_versions").fetchall() == [
            ("alpha", 1, 6)
        ]
    # the version's first entry moved earlier, or its key swapped: the audit fails
    for name, change in (
        ("moved", "UPDATE key_versions SET valid_from_seq = 0"),
        (
            "swapped",
            "UPDATE key_versions SET public_key = (SELECT public_key FROM keys WHERE member_id = 'beta')",
        ),
    ):
        tampered = tmp_path / f"{name}.sqlite"
        shutil.copy(path, tampered)
        with sqlite3.connect(tampered) as conn:
            conn.execute(change)
        report = verify(tampered)
        assert not report.ok and any(
            "key" == p.kind and "alpha version 1" in str(p.where) for p in report.problems
        )
    # without the rotation row, the later entries of alpha fail under its first key
    dropped = tmp_path / "dropped.sqlite"
    shutil.copy(path, dropped)
    with sqlite3.connect(dropped) as conn:
        conn.execute("DELETE FROM key_versions")
    report = verify(dropped)
    assert any("under the key registered for member 'alpha'" in p.reason for p in report.problems)
