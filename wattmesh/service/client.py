"""A small signing client of the live exchange (the tests, the benchmark and the home agent use it).

    client = ExchangeClient("http://127.0.0.1:8000", "home_7", secret_from_key_file("keys/home_7.key"))
    client.place_order("o1", "buy", "2026-12-03T10:15:00Z", energy_wh=1200, price_per_kwh_e5=25000)

Sequence numbers start at the current time in microseconds and count up, so a client that restarts keeps
them increasing without remembering anything; a retry of a request (after a timeout or a crash) must reuse
its sequence number and body: :meth:`ExchangeClient.send` does, and gets the original acknowledgement.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import httpx

from wattmesh.service.auth import sign_request


def body_bytes(body: dict | None) -> bytes:
    """The JSON body a client sends (compact; what the signature's body hash covers)."""
    return b"" if body is None else json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class SignedRequest:
    """A request ready to send: method, path, headers and body bytes (pre-signed, e.g. by the benchmark)."""

    method: str
    path: str
    headers: dict
    body: bytes


class ExchangeClient:
    """Signs and sends requests of one signer (a member, or "operator").

    Parameters
    ----------
    base_url : the exchange, e.g. ``http://127.0.0.1:8000``
    signer : the member id or "operator"
    secret : the signer's 64-byte libsodium secret key (:func:`wattmesh.service.auth.secret_from_key_file`)
    seq : the first sequence number; default the current time in microseconds
    http : an ``httpx.Client`` to send with (e.g. a FastAPI TestClient); default a new one
    """

    def __init__(self, base_url: str, signer: str, secret: bytes, seq: int | None = None, http=None) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.secret = secret
        self._seq = int(time.time() * 1e6) if seq is None else int(seq)
        self._lock = threading.Lock()
        self.http = http if http is not None else httpx.Client(base_url=self.base_url, timeout=30.0)

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def sign(
        self, method: str, path: str, body: dict | None = None, seq: int | None = None, timestamp_ms=None
    ) -> SignedRequest:
        """A signed request (a new sequence number unless ``seq`` is given)."""
        data = body_bytes(body)
        seq = self.next_seq() if seq is None else seq
        headers = sign_request(self.secret, method, path, data, self.signer, seq, timestamp_ms)
        headers["Content-Type"] = "application/json"
        return SignedRequest(method, path, headers, data)

    def send(self, request: SignedRequest, retries: int = 0) -> httpx.Response:
        """Send a signed request; on a connection error resend the same one (same seq and body)."""
        for attempt in range(retries + 1):
            try:
                return self.http.request(
                    request.method, request.path, headers=request.headers, content=request.body
                )
            except httpx.TransportError:
                if attempt == retries:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, body: dict | None = None) -> httpx.Response:
        return self.send(self.sign(method, path, body))

    # -- member requests -------------------------------------------------------------------------------
    def place_order(
        self,
        order_id: str,
        side: str,
        delivery_start: str,
        energy_wh: int,
        price_per_kwh_e5: int,
        expires_at: str | None = None,
    ) -> httpx.Response:
        body = {"order_id": order_id, "side": side, "delivery_start": delivery_start, "energy_wh": int(energy_wh),
                "price_per_kwh_e5": int(price_per_kwh_e5)}  # fmt: skip
        if expires_at is not None:
            body["expires_at"] = expires_at
        return self.call("POST", "/orders", body)

    def cancel(self, order_id: str) -> httpx.Response:
        return self.call("POST", f"/orders/{order_id}/cancel", {})

    def amend(self, order_id: str, energy_wh: int | None = None, price_per_kwh_e5: int | None = None):
        body = {
            k: v
            for k, v in (("energy_wh", energy_wh), ("price_per_kwh_e5", price_per_kwh_e5))
            if v is not None
        }
        return self.call("POST", f"/orders/{order_id}/amend", body)

    def upload_readings(self, readings: list[dict]) -> httpx.Response:
        """``readings``: dicts with interval, energy_wh (and member_id for the operator)."""
        return self.call("POST", "/readings", {"readings": readings})

    def statements(self, member_id: str | None = None) -> httpx.Response:
        return self.call("GET", f"/members/{member_id or self.signer}/statements")

    def bill_csv(self, month: str, member_id: str | None = None) -> httpx.Response:
        return self.call("GET", f"/members/{member_id or self.signer}/bill.csv?month={month}")

    def cosign_trades(self) -> list[httpx.Response]:
        """Co-sign the member's ledger entries that await its signature (members who hold their own key):
        each record is checked to name this member as the seller or buyer before it is signed.

        Returns
        -------
        list of httpx.Response
            The exchange's answer to each co-signature (200 each when all went in).
        """
        from wattmesh.ledger.keys import sign_many
        from wattmesh.ledger.local import trade_message

        entries = self.http.get(f"/ledger/awaiting/{self.signer}")
        entries.raise_for_status()
        answers, done = [], set()
        for entry in entries.json()["entries"]:
            record = json.loads(entry["record"])
            if self.signer not in (record.get("seller"), record.get("buyer")):
                raise ValueError(
                    f"ledger entry {entry['transaction_id']}: the record names {record.get('seller')!r} and "
                    f"{record.get('buyer')!r}, not {self.signer!r}; not signing it"
                )
            if entry["transaction_id"] in done:  # a member on both sides signs once
                continue
            signature = sign_many([self.secret], [trade_message(entry["record"].encode())])[0]
            body = {"transaction_id": entry["transaction_id"], "signature": signature.hex()}
            answers.append(self.call("POST", "/ledger/cosign", body))
            done.add(entry["transaction_id"])
        return answers

    # -- operator requests ------------------------------------------------------------------------------
    def add_member(self, member_id: str, public_key_hex: str, kind: str = "household") -> httpx.Response:
        return self.call(
            "POST", "/operator/members", {"member_id": member_id, "public_key": public_key_hex, "kind": kind}
        )

    def suspend(self, member_id: str) -> httpx.Response:
        return self.call("POST", f"/operator/members/{member_id}/suspend", {})

    def reinstate(self, member_id: str) -> httpx.Response:
        return self.call("POST", f"/operator/members/{member_id}/reinstate", {})

    def rotate(self, member_id: str, public_key_hex: str) -> httpx.Response:
        return self.call("POST", f"/operator/members/{member_id}/rotate", {"public_key": public_key_hex})

    def set_clock(self, now: str) -> httpx.Response:
        return self.call("POST", "/operator/clock", {"now": now})

    def import_readings_csv(self, text: str) -> httpx.Response:
        return self.call("POST", "/operator/readings/csv", {"csv": text})

    def state(self) -> httpx.Response:
        return self.call("GET", "/operator/state")

    def bills_csv(self, month: str) -> httpx.Response:
        return self.call("GET", f"/operator/bills.csv?month={month}")

    # -- public ----------------------------------------------------------------------------------------
    def sth(self, all_heads: bool = False) -> dict:
        return self.http.get("/ledger/sth", params={"all": "true"} if all_heads else None).json()

    def awaiting(self, member_id: str | None = None) -> httpx.Response:
        """The member's ledger entries still awaiting its co-signature."""
        return self.http.get(f"/ledger/awaiting/{member_id or self.signer}")

    def proof(self, transaction_id: str) -> httpx.Response:
        return self.http.get(f"/ledger/proof/{transaction_id}")

    def interval(self, delivery_start: str) -> httpx.Response:
        return self.http.get(f"/intervals/{delivery_start}")


def read_stream(http: httpx.Client, max_messages: int, timeout: float = 30.0) -> list[dict]:
    """Read the market-data stream: the snapshot and up to ``max_messages`` more messages (bounded)."""
    out = []
    with http.stream(
        "GET", "/market/stream", params={"max_messages": max_messages}, timeout=timeout
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
    return out


def sequence_gaps(messages: list[dict]) -> list[tuple[int, int]]:
    """(expected, got) wherever a message's seq is not one above the one before (after the snapshot)."""
    gaps = []
    for before, after in zip(messages, messages[1:], strict=False):
        if after["seq"] != before["seq"] + 1:
            gaps.append((before["seq"] + 1, after["seq"]))
    return gaps
