"""Identities: key files, their modes, reloading, and libsodium signatures checked by OpenSSL."""

from __future__ import annotations

import os
import stat

import pytest

from wattmesh.ledger.keys import OPERATOR_ID, ensure_keys, failed_signatures, load_public_key, sign_many


def test_keys_are_created_once_with_owner_only_files(tmp_path):
    first = ensure_keys(tmp_path / "keys", ["alpha", "Haus Müller/1"])
    files = sorted(p.name for p in (tmp_path / "keys").iterdir())
    assert "operator.key" in files and "alpha.key" in files and "alpha.pub" in files
    assert "x-" + "Haus Müller/1".encode().hex() + ".key" in files
    for path in (tmp_path / "keys").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    again = ensure_keys(tmp_path / "keys", ["alpha", "Haus Müller/1"])
    assert again.operator_public == first.operator_public
    assert again.member_public() == first.member_public()
    assert load_public_key(tmp_path / "keys" / "operator.pub") == first.operator_public


def test_a_key_file_others_can_read_is_refused(tmp_path):
    ensure_keys(tmp_path / "keys", ["alpha"])
    os.chmod(tmp_path / "keys" / "alpha.key", 0o644)
    with pytest.raises(PermissionError, match="alpha.key: mode 0644"):
        ensure_keys(tmp_path / "keys", ["alpha"])


def test_the_operator_id_is_reserved(tmp_path):
    with pytest.raises(ValueError, match="reserved for the market operator"):
        ensure_keys(tmp_path / "keys", [OPERATOR_ID])


def test_libsodium_signatures_equal_and_verify_like_openssl_ones(tmp_path):
    keyring = ensure_keys(tmp_path / "keys", ["alpha"])
    messages = [f"message {i}".encode() for i in range(200)]
    ours = sign_many([keyring.member_secrets["alpha"]] * 200, messages, workers=2)
    openssl = [keyring.member_keys["alpha"].sign(m) for m in messages]  # RFC 8032 signing is deterministic
    assert ours == openssl
    public = keyring.member_public()["alpha"]
    keyring.member_keys["alpha"].public_key().verify(ours[5], messages[5])
    assert failed_signatures([public] * 200, ours, messages, workers=2) == []
    tampered = list(ours)
    tampered[17] = bytes([tampered[17][0] ^ 1]) + tampered[17][1:]
    assert failed_signatures([public] * 200, tampered, messages, workers=2) == [17]
    assert failed_signatures([keyring.operator_public], [ours[0]], [messages[0]]) == [0]
    assert failed_signatures([None], [ours[0]], [messages[0]]) == [0]


def test_keys_a_person_holds_can_be_encrypted_with_a_passphrase(tmp_path):
    from cryptography.hazmat.primitives import serialization

    from wattmesh.ledger.keys import KeyFileError, load_private_key

    first = ensure_keys(tmp_path / "keys", ["alpha"], passphrase=b"correct horse")
    pem = (tmp_path / "keys" / "alpha.key").read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):  # OpenSSL itself refuses to read it without the passphrase
        serialization.load_pem_private_key(pem, password=None)
    again = ensure_keys(tmp_path / "keys", ["alpha"], passphrase=b"correct horse")
    assert again.member_public() == first.member_public() and again.operator_public == first.operator_public
    with pytest.raises(KeyFileError, match="operator.key: is encrypted; give its passphrase"):
        ensure_keys(tmp_path / "keys", ["alpha"])
    with pytest.raises(KeyFileError, match="alpha.key: the passphrase does not decrypt it"):
        load_private_key(tmp_path / "keys" / "alpha.key", b"wrong")
    plain = ensure_keys(tmp_path / "plain", ["alpha"])  # without a passphrase: unencrypted, as before
    assert (tmp_path / "plain" / "alpha.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_private_key(tmp_path / "plain" / "alpha.key", b"ignored") is not None
    assert plain.operator_public != first.operator_public
