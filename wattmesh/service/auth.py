"""Request signing: the canonical bytes a member (or the operator) signs with its Ed25519 key, and checks.

Every request that changes the exchange carries four headers::

    X-Wattmesh-Member: home_7                 (or "operator")
    X-Wattmesh-Seq: 1733212345000001          strictly increasing per signer (any positive integer)
    X-Wattmesh-Timestamp: 1733212345123       the signer's clock, Unix time in milliseconds
    X-Wattmesh-Signature: <128 hex digits>    Ed25519 over canonical_request(...)

The signed bytes are, one per line: the domain ``wattmesh-request-v1``, the method (upper case), the path
with its query string, the SHA-256 (hex) of the body, the signer, the sequence number and the timestamp.
Nothing else of the request is trusted.
"""

from __future__ import annotations

import hashlib
import time

import nacl.bindings as _sodium
from nacl.exceptions import BadSignatureError

DOMAIN = b"wattmesh-request-v1"
CLOCK_WINDOW_MS = 30_000
MEMBER_HEADER = "X-Wattmesh-Member"
SEQ_HEADER = "X-Wattmesh-Seq"
TIMESTAMP_HEADER = "X-Wattmesh-Timestamp"
SIGNATURE_HEADER = "X-Wattmesh-Signature"


def body_hash(body: bytes) -> str:
    """SHA-256 of the request body, hex."""
    return hashlib.sha256(body).hexdigest()


def canonical_request(method: str, path: str, body: bytes, signer: str, seq: int, timestamp_ms: int) -> bytes:
    """The bytes a signer signs for one request (see the module docstring)."""
    return b"\n".join(
        (
            DOMAIN,
            method.upper().encode(),
            path.encode(),
            body_hash(body).encode(),
            signer.encode(),
            str(int(seq)).encode(),
            str(int(timestamp_ms)).encode(),
        )
    )


def sign_request(
    secret: bytes, method: str, path: str, body: bytes, signer: str, seq: int, timestamp_ms: int | None = None
) -> dict[str, str]:
    """The four signing headers of a request, signed with the 64-byte libsodium secret key ``secret``.

    ``timestamp_ms`` defaults to now (Unix milliseconds).
    """
    stamp = int(time.time() * 1000) if timestamp_ms is None else int(timestamp_ms)
    message = canonical_request(method, path, body, signer, seq, stamp)
    signature = _sodium.crypto_sign(message, secret)[:64]
    return {
        MEMBER_HEADER: signer,
        SEQ_HEADER: str(int(seq)),
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: signature.hex(),
    }


def signature_problem(
    public_key: bytes,
    signature_hex: str,
    method: str,
    path: str,
    body: bytes,
    signer: str,
    seq: int,
    timestamp_ms: int,
    now_ms: int | None = None,
    window_ms: int = CLOCK_WINDOW_MS,
) -> str | None:
    """Why a request's signature is refused (clock outside the window, malformed, forged), or None."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now_ms - int(timestamp_ms)) > window_ms:
        return (
            f"{TIMESTAMP_HEADER} {timestamp_ms} is {(int(timestamp_ms) - now_ms) / 1000:+.1f} s from the "
            f"exchange's clock; expected within +-{window_ms / 1000:g} s"
        )
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return f"{SIGNATURE_HEADER} is not hex"
    if len(signature) != 64 or len(public_key) != 32:
        return f"{SIGNATURE_HEADER} has {len(signature)} bytes, expected 64"
    message = canonical_request(method, path, body, signer, seq, timestamp_ms)
    try:
        _sodium.crypto_sign_open(signature + message, public_key)
    except (BadSignatureError, ValueError, TypeError):
        return f"signature does not verify under {signer!r}'s registered key"
    return None


PASSPHRASE_ENV = "WATTMESH_KEY_PASSPHRASE"


def secret_from_key_file(path, passphrase: bytes | None = None) -> bytes:
    """The 64-byte libsodium secret key of an Ed25519 PKCS#8 PEM key file (as written by ensure_keys).

    A key file encrypted with a passphrase (``ensure_keys(..., passphrase=...)``, the way a member who holds
    its own key should keep it) is decrypted with ``passphrase``, else with the environment variable
    ``WATTMESH_KEY_PASSPHRASE``. Raises :class:`wattmesh.ledger.keys.KeyFileError` (a ValueError naming the
    file) when it is encrypted and no or the wrong passphrase is given, and PermissionError when others
    than its owner can read it.
    """
    import os

    from wattmesh.ledger.keys import load_private_key, secret_bytes

    if passphrase is None and os.environ.get(PASSPHRASE_ENV):
        passphrase = os.environ[PASSPHRASE_ENV].encode()
    return secret_bytes(load_private_key(path, passphrase))


def public_from_secret(secret: bytes) -> bytes:
    """The raw 32-byte public key inside a libsodium secret key."""
    return bytes(secret[32:])
