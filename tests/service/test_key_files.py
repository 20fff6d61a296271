"""A member who holds its own key keeps it encrypted; the agent and the clients open it with the passphrase."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from wattmesh.cli import app
from wattmesh.ledger.keys import KeyFileError, ensure_keys
from wattmesh.service.auth import PASSPHRASE_ENV, secret_from_key_file


def test_an_encrypted_key_gives_the_same_secret_as_the_plain_one(tmp_path, monkeypatch):
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    plain = ensure_keys(tmp_path / "plain", ["home_001"])
    encrypted = ensure_keys(tmp_path / "enc", ["home_001"], passphrase=b"correct horse")
    assert (
        (tmp_path / "enc" / "home_001.key").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    )
    # the secret's second half is the raw public key the keyring registered: an independent check
    enc_secret = secret_from_key_file(tmp_path / "enc" / "home_001.key", b"correct horse")
    assert enc_secret[32:] == encrypted.member_public()["home_001"]
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse")
    assert secret_from_key_file(tmp_path / "enc" / "home_001.key") == enc_secret
    assert secret_from_key_file(tmp_path / "plain" / "home_001.key")[32:] == plain.member_public()["home_001"]


def test_an_encrypted_key_without_or_with_a_wrong_passphrase_is_refused_naming_the_file(
    tmp_path, monkeypatch
):
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    ensure_keys(tmp_path / "enc", ["home_001"], passphrase=b"correct horse")
    path = tmp_path / "enc" / "home_001.key"
    with pytest.raises(KeyFileError, match="is encrypted"):
        secret_from_key_file(path)
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong")
    with pytest.raises(KeyFileError, match="does not decrypt"):
        secret_from_key_file(path)


def test_the_agent_command_refuses_a_locked_key_in_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    ensure_keys(tmp_path / "enc", ["home_001"], passphrase=b"correct horse")
    meter = tmp_path / "meter.csv"
    meter.write_text("interval,load_kwh,generation_kwh\n2026-06-01T00:00:00Z,0.1,0\n")
    args = ["agent", "--server", "http://127.0.0.1:9", "--member", "home_001", "--key",
            str(tmp_path / "enc" / "home_001.key"), "--meter", str(meter), "--state", str(tmp_path / "st")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "home_001.key" in result.output and "encrypted" in result.output
    assert "Traceback" not in result.output
