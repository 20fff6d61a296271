"""The live exchange's HTTP API (FastAPI): strict models, signed requests, the market-data stream.

Integers at the boundary: energy in Wh (``energy_wh``), prices in 1e-5 currency units per kWh
(``price_per_kwh_e5``: 32000 = 0.32 EUR/kWh). Every request that changes something is signed (see
:mod:`wattmesh.service.auth`); the member endpoints by the member, the operator's by the operator's key.
Answers: 200 accepted (a retry of the same request gets the original acknowledgement), 401 bad signature,
clock outside +-30 s, unknown or suspended signer, 404 no such order or member, 409 a used or stale
sequence number, a used order id or a closed gate, 422 a malformed body (the field is named).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Literal

import pandas as pd
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from wattmesh.ledger.keys import OPERATOR_ID
from wattmesh.service.auth import CLOCK_WINDOW_MS, signature_problem
from wattmesh.service.engine import Exchange, Outcome, request_hash

ISO_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$"
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:#-]{0,79}$"  # OpenADR's event intervals: ``EVENT#i``
MEMBER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
HEX_KEY = r"^[0-9a-f]{64}$"
MAX_WH = 10**9
MAX_PRICE_E5 = 10**7


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class OrderIn(Strict):
    """One order for one delivery interval."""

    order_id: str = Field(pattern=ID_PATTERN, description="unique id chosen by the member")
    side: Literal["buy", "sell"]
    delivery_start: str = Field(pattern=ISO_PATTERN, description="start of the delivery interval, UTC")
    energy_wh: int = Field(gt=0, le=MAX_WH, description="energy to buy or sell [Wh]")
    price_per_kwh_e5: int = Field(
        ge=-MAX_PRICE_E5, le=MAX_PRICE_E5, description="limit price [1e-5 currency/kWh]: most a buyer pays"
    )
    expires_at: str | None = Field(None, pattern=ISO_PATTERN, description="withdrawn if not cleared by then")


class CancelIn(Strict):
    """Cancel an open order (empty body)."""


class AmendIn(Strict):
    """New quantity and/or limit price of an open order."""

    energy_wh: int | None = Field(None, gt=0, le=MAX_WH)
    price_per_kwh_e5: int | None = Field(None, ge=-MAX_PRICE_E5, le=MAX_PRICE_E5)


class ReadingIn(Strict):
    interval: str = Field(pattern=ISO_PATTERN, description="start of the metered interval, UTC")
    energy_wh: int = Field(ge=-MAX_WH, le=MAX_WH, description="net energy fed in [Wh]; consumption negative")
    member_id: str | None = Field(None, pattern=MEMBER_PATTERN, description="operator uploads: whose reading")


class ReadingsIn(Strict):
    readings: list[ReadingIn] = Field(min_length=1, max_length=20_000)


class ReadingsCsvIn(Strict):
    csv: str = Field(min_length=1, max_length=5_000_000, description="interval,member_id,energy_wh lines")


class MemberIn(Strict):
    member_id: str = Field(pattern=MEMBER_PATTERN)
    public_key: str = Field(pattern=HEX_KEY, description="raw Ed25519 public key, 64 hex digits")
    kind: Literal["household", "business", "community", "other"] = "household"


class RotateIn(Strict):
    public_key: str = Field(pattern=HEX_KEY)


class CosignIn(Strict):
    """A member's Ed25519 signature of one of its trades' ledger record."""

    transaction_id: str = Field(pattern=r"^tx_[0-9a-f]{16}$")
    signature: str = Field(
        pattern=r"^[0-9a-f]{128}$",
        description="64-byte Ed25519 signature (hex) over b'wattmesh-trade-v1\\n' + the record's bytes",
    )


class DrEventIn(Strict):
    """A demand-response event: a cap on import (``limit_kw``) or a cut below the expected import
    (``reduction_kw``) over a window, for one member or the whole community."""

    event_id: str = Field(
        pattern=EVENT_ID_PATTERN, description="unique name; a later event with this id replaces it"
    )
    start: str = Field(pattern=ISO_PATTERN, description="first moment of the window, UTC")
    end: str = Field(pattern=ISO_PATTERN, description="end of the window (exclusive), UTC")
    limit_kw: float | None = Field(None, ge=0, le=1e6, description="cap on the import over the window [kW]")
    reduction_kw: float | None = Field(None, ge=0, le=1e6, description="cut below the expected import [kW]")
    member_id: str = Field(
        "", pattern=r"^$|" + MEMBER_PATTERN, description="the member asked; empty: everyone"
    )
    source: str = Field("operator", pattern=ID_PATTERN, description="where it came from (operator, openadr)")


class DrEventsIn(Strict):
    events: list[DrEventIn] = Field(min_length=1, max_length=1000)


class EmptyIn(Strict):
    """No fields."""


class ClockIn(Strict):
    now: str = Field(pattern=ISO_PATTERN, description="the market clock's new time (manual clock only)")


class Ack(BaseModel):
    """An accepted request: what the journal holds (returned again for a retry)."""

    model_config = ConfigDict(extra="allow")
    accepted: bool
    journal_id: int
    signer: str
    seq: int


class Error(BaseModel):
    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    detail: list[FieldError]


SIGNED = {
    401: {"model": Error},
    409: {"model": Error},
    404: {"model": Error},
    422: {"model": ValidationErrorOut},
}
SIGNED_READ = {401: {"model": Error}, 422: {"model": ValidationErrorOut}}
CSV_READ = SIGNED_READ | {
    200: {"description": "CSV, one row per member", "content": {"text/csv": {"schema": {"type": "string"}}}}
}


@dataclass(frozen=True)
class Signed:
    """A request whose signature and clock checked out."""

    signer: str
    seq: int
    path: str
    body: bytes


async def signed(
    request: Request,
    x_wattmesh_member: Annotated[str, Header(min_length=1, max_length=64)],
    x_wattmesh_seq: Annotated[int, Header(ge=1, le=2**62)],
    x_wattmesh_timestamp: Annotated[int, Header(ge=0, le=2**52)],
    x_wattmesh_signature: Annotated[str, Header(min_length=1, max_length=256)],
) -> Signed:
    """Check a request's signature and clock (401 otherwise); the body is the raw bytes received."""
    exchange: Exchange = request.app.state.exchange
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    key = exchange.signer_key(x_wattmesh_member)
    if key is None:
        raise _Unauthorized(f"signer {x_wattmesh_member!r} is unknown or suspended")
    problem = signature_problem(
        key,
        x_wattmesh_signature,
        request.method,
        path,
        body,
        x_wattmesh_member,
        x_wattmesh_seq,
        x_wattmesh_timestamp,
        now_ms=int(exchange.wall_clock() * 1000),
        window_ms=CLOCK_WINDOW_MS,
    )
    if problem:
        raise _Unauthorized(problem)
    return Signed(x_wattmesh_member, x_wattmesh_seq, path, body)


class _Unauthorized(Exception):
    def __init__(self, detail: str) -> None:
        self.detail = detail


async def _decide(
    request: Request, kind: str, auth: Signed, body: dict, operator: bool = False
) -> JSONResponse:
    exchange: Exchange = request.app.state.exchange
    if operator and auth.signer != OPERATOR_ID:
        return JSONResponse({"detail": "this endpoint takes the operator's signature"}, status_code=401)
    digest = request_hash(request.method, auth.path, auth.body)
    future = exchange.submit(kind, auth.signer, auth.seq, digest, body)
    outcome: Outcome = await asyncio.wrap_future(future)
    return JSONResponse(outcome.body, status_code=outcome.status)


def create_app(exchange: Exchange, manage: bool = True, fast_orders: bool = True) -> FastAPI:
    """The API over ``exchange``; with ``manage`` the app starts and closes it (its writer thread); with
    ``fast_orders`` the valid ``POST /orders`` requests take :class:`OrderFastPath`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if manage:
            await asyncio.to_thread(exchange.start)
        try:
            yield
        finally:
            if manage:
                await asyncio.to_thread(exchange.close)

    app = FastAPI(
        title="wattmesh live exchange",
        version="1",
        description=__doc__,
        lifespan=lifespan,
    )
    app.state.exchange = exchange

    @app.exception_handler(_Unauthorized)
    async def unauthorized(_request: Request, exc: _Unauthorized):
        return JSONResponse({"detail": exc.detail}, status_code=401)

    # -- public --------------------------------------------------------------------------------------
    @app.get("/health")
    async def health() -> dict:
        """Is the exchange up; the journal position, the market clock and any ledger problem."""
        return {
            "ok": exchange.ledger_problem is None,
            "journal_id": exchange.state.journal_id,
            "next_interval": exchange.state.next_interval,
            "ledger_problem": exchange.ledger_problem,
        }

    @app.get("/market/snapshot")
    async def market_snapshot() -> dict:
        """The order book's price levels per open interval, the next gate, the last clearings, with the
        sequence number of the last market-data message it includes."""
        return exchange.snapshot()

    @app.get("/market/stream", response_class=StreamingResponse)
    async def market_stream(request: Request, max_messages: Annotated[int, Query(ge=1, le=10**9)] = 10**9):
        """Server-Sent Events: a ``snapshot`` then every change (``level``, ``trade``, ``clearing``, ``gate``,
        ``tree_head``, ``settled``, ``dr_event``), each with ``seq`` one above the last. A client that sees a gap (or whose
        stream ends) reconnects and starts again from the new snapshot."""
        loop = asyncio.get_running_loop()
        snapshot, token, box = exchange.subscribe(loop)

        async def events():
            sent = 0
            try:
                yield f"id: {snapshot['seq']}\nevent: snapshot\ndata: {json.dumps(snapshot)}\n\n"
                while sent < max_messages:
                    messages = await box.get()
                    if messages is None:
                        return
                    for message in messages:
                        if message["seq"] <= snapshot["seq"]:
                            continue
                        yield f"id: {message['seq']}\nevent: {message['type']}\ndata: {json.dumps(message)}\n\n"
                        sent += 1
            finally:
                exchange.unsubscribe(token)

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/intervals/{delivery_start}", responses={404: {"model": Error}})
    async def interval_result(delivery_start: Annotated[str, Path(pattern=ISO_PATTERN)]):
        """An interval's clearing: its trades (the trade records), the report and refused orders."""
        with exchange.lock:
            clearing = exchange.state.clearings.get(delivery_start)
        if clearing is None:
            return JSONResponse({"detail": f"interval {delivery_start} is not cleared"}, status_code=404)
        return clearing

    @app.get("/ledger/sth")
    async def ledger_sth(all: bool = False):
        """The latest signed tree head (or all of them, oldest first, with ``all=true``)."""
        heads = list(exchange.heads)
        return {"tree_heads": heads} if all else {"tree_head": heads[-1] if heads else None}

    @app.get("/ledger/proof/{transaction_id}", responses={404: {"model": Error}})
    async def ledger_proof(transaction_id: Annotated[str, Path(pattern=r"^tx_[0-9a-f]{16}$")]):
        """The inclusion proof of one trade: its entry, signatures, keys, and audit paths to the signed
        tree heads (check it with ``wattmesh.ledger.verify_proof``)."""
        from wattmesh.ledger import prove

        try:
            return await asyncio.to_thread(prove, exchange.coop.ledger_path, transaction_id)
        except LookupError as err:
            return JSONResponse({"detail": str(err)}, status_code=404)

    @app.get("/ledger/awaiting/{member_id}")
    async def ledger_awaiting(member_id: Annotated[str, Path(pattern=MEMBER_PATTERN)]):
        """The member's ledger entries that carry no signature of its own yet: each entry's ``seq``,
        ``transaction_id``, ``side`` and ``record`` (the canonical record; the member signs
        ``b"wattmesh-trade-v1\\n" + record`` and posts it to ``/ledger/cosign``)."""
        try:
            return {"entries": await asyncio.to_thread(exchange.awaiting_cosignatures, member_id)}
        except (ValueError, OSError, sqlite3.Error) as err:  # CorruptLedgerError: the ledger file is damaged
            return JSONResponse({"detail": f"the ledger cannot be read: {err}"}, status_code=503)

    @app.post("/ledger/cosign", response_model=Ack, responses=SIGNED)
    async def ledger_cosign(request: Request, cosign: CosignIn, auth: Annotated[Signed, Depends(signed)]):
        """Co-sign one of the member's trades in the ledger (members who hold their own key): the signature
        must verify under the member's current key over the trade's record, else 422 and nothing is kept."""
        return await _decide(request, "cosign", auth, cosign.model_dump())

    # -- members -------------------------------------------------------------------------------------
    @app.post("/orders", response_model=Ack, responses=SIGNED)
    async def place_order(request: Request, order: OrderIn, auth: Annotated[Signed, Depends(signed)]):
        """Place an order for one delivery interval (acknowledged once it is in the journal)."""
        return await _decide(request, "order", auth, order.model_dump())

    @app.post("/orders/{order_id}/cancel", response_model=Ack, responses=SIGNED)
    async def cancel_order(
        request: Request,
        order_id: Annotated[str, Path(pattern=ID_PATTERN)],
        _body: CancelIn,
        auth: Annotated[Signed, Depends(signed)],
    ):
        """Cancel an open order before its gate closes."""
        return await _decide(request, "cancel", auth, {"order_id": order_id})

    @app.post("/orders/{order_id}/amend", response_model=Ack, responses=SIGNED)
    async def amend_order(
        request: Request,
        order_id: Annotated[str, Path(pattern=ID_PATTERN)],
        amend: AmendIn,
        auth: Annotated[Signed, Depends(signed)],
    ):
        """Change an open order's quantity or limit price before its gate closes."""
        return await _decide(request, "amend", auth, {"order_id": order_id, **amend.model_dump()})

    @app.post("/readings", response_model=Ack, responses=SIGNED)
    async def upload_readings(
        request: Request, readings: ReadingsIn, auth: Annotated[Signed, Depends(signed)]
    ):
        """Meter readings (a member's own; the operator's for any member). A reading that fails the checks
        is held (listed in the answer), never settled."""
        return await _decide(request, "readings", auth, readings.model_dump())

    def _member_view(auth: Signed, member_id: str) -> JSONResponse | None:
        if auth.signer not in (member_id, OPERATOR_ID):
            return JSONResponse(
                {"detail": f"{auth.signer!r} may not read {member_id!r}'s data"}, status_code=401
            )
        return None

    @app.get("/members/{member_id}/orders", responses=SIGNED_READ)
    async def member_orders(
        member_id: Annotated[str, Path(pattern=MEMBER_PATTERN)], auth: Annotated[Signed, Depends(signed)]
    ):
        """The member's orders and their status (signed by the member or the operator)."""
        return _member_view(auth, member_id) or {
            "orders": [o for o in list(exchange.state.orders.values()) if o["member_id"] == member_id]
        }

    @app.get("/members/{member_id}/statements", responses=SIGNED_READ)
    async def member_statements(
        member_id: Annotated[str, Path(pattern=MEMBER_PATTERN)], auth: Annotated[Signed, Depends(signed)]
    ):
        """The member's statement lines, one per settled interval, and its held readings."""
        denied = _member_view(auth, member_id)
        if denied:
            return denied
        with exchange.lock:
            lines = [ln for k in sorted(exchange.state.statements) for ln in exchange.state.statements[k]
                     if ln["member_id"] == member_id]  # fmt: skip
            held = [{"interval": i, "energy_wh": v[0], "reason": v[2]}
                    for (i, m), v in exchange.state.readings.items() if m == member_id and v[1] == "held"]  # fmt: skip
        return {"lines": lines, "held_readings": held}

    @app.get("/members/{member_id}/bill.csv", responses=CSV_READ)
    async def member_bill(
        member_id: Annotated[str, Path(pattern=MEMBER_PATTERN)],
        month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
        auth: Annotated[Signed, Depends(signed)],
    ):
        """The member's monthly bill as CSV (months in the co-op's time zone)."""
        return _member_view(auth, member_id) or PlainTextResponse(
            bill_csv(exchange, month, member_id), media_type="text/csv"
        )

    # -- operator ------------------------------------------------------------------------------------
    @app.post("/operator/members", response_model=Ack, responses=SIGNED)
    async def add_member(request: Request, member: MemberIn, auth: Annotated[Signed, Depends(signed)]):
        """Onboard a member with its public key."""
        return await _decide(request, "member_add", auth, member.model_dump(), operator=True)

    def member_route(action: str):
        async def member_action(
            request: Request,
            member_id: Annotated[str, Path(pattern=MEMBER_PATTERN)],
            _body: EmptyIn,
            auth: Annotated[Signed, Depends(signed)],
        ):
            return await _decide(request, f"member_{action}", auth, {"member_id": member_id}, operator=True)

        return member_action

    for action in ("suspend", "reinstate"):
        member_action = member_route(action)
        member_action.__doc__ = f"{action.capitalize()} a member (its requests get 401 while suspended)."
        app.post(f"/operator/members/{{member_id}}/{action}", response_model=Ack, responses=SIGNED,
                 name=f"{action}_member")(member_action)  # fmt: skip

    @app.post("/operator/members/{member_id}/rotate", response_model=Ack, responses=SIGNED)
    async def rotate_member(
        request: Request,
        member_id: Annotated[str, Path(pattern=MEMBER_PATTERN)],
        rotate: RotateIn,
        auth: Annotated[Signed, Depends(signed)],
    ):
        """Replace a member's request-signing key."""
        body = {"member_id": member_id, "public_key": rotate.public_key}
        return await _decide(request, "member_rotate", auth, body, operator=True)

    @app.post("/operator/dr-events", response_model=Ack, responses=SIGNED)
    async def post_dr_events(request: Request, events: DrEventsIn, auth: Annotated[Signed, Depends(signed)]):
        """Demand-response events (the DSO's, forwarded by the operator): journaled, shown on the market
        page, streamed as ``dr_event`` messages and planned with by the home agents."""
        body = {"events": [e.model_dump() for e in events.events]}
        return await _decide(request, "operator_dr_events", auth, body, operator=True)

    @app.get("/market/dr-events")
    async def market_dr_events() -> dict:
        """Every demand-response event the exchange knows, by start: times UTC, caps in kW (null: none)."""
        with exchange.lock:
            rows = list(exchange.state.dr_events.values())
        return {"events": sorted(rows, key=lambda row: (row["start"], row["event_id"]))}

    @app.post("/operator/clock", response_model=Ack, responses=SIGNED)
    async def move_clock(request: Request, clock: ClockIn, auth: Annotated[Signed, Depends(signed)]):
        """Move the manual market clock forward (gates close and intervals clear as it passes them)."""
        return await _decide(request, "operator_clock", auth, clock.model_dump(), operator=True)

    @app.post("/operator/readings/csv", response_model=Ack, responses=SIGNED)
    async def import_readings(
        request: Request, upload: ReadingsCsvIn, auth: Annotated[Signed, Depends(signed)]
    ):
        """Import meter readings from CSV text with the columns interval, member_id, energy_wh."""
        try:
            rows = parse_readings_csv(upload.csv)
        except ValueError as err:
            return JSONResponse({"detail": [{"loc": ["body", "csv"], "msg": str(err), "type": "value_error"}]},
                                status_code=422)  # fmt: skip
        return await _decide(request, "readings", auth, {"readings": rows}, operator=True)

    @app.get("/operator/bills.csv", responses=CSV_READ)
    async def operator_bills(
        month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
        auth: Annotated[Signed, Depends(signed)],
    ):
        """Every member's monthly bill as CSV."""
        if auth.signer != OPERATOR_ID:
            return JSONResponse({"detail": "this endpoint takes the operator's signature"}, status_code=401)
        return PlainTextResponse(bill_csv(exchange, month), media_type="text/csv")

    @app.get("/operator/state", responses=SIGNED_READ)
    async def operator_state(auth: Annotated[Signed, Depends(signed)]):
        """The journal position and the state hash (equal to a rebuild's from the journal)."""
        if auth.signer != OPERATOR_ID:
            return JSONResponse({"detail": "this endpoint takes the operator's signature"}, status_code=401)
        journal_id, digest = exchange.state_hash()
        return {"journal_id": journal_id, "state_hash": digest, "now_ms": int(time.time() * 1000)}

    from wattmesh.service.pages import mount_pages  # the web pages, their data, consistency proofs

    mount_pages(app)
    if fast_orders:
        app.add_middleware(OrderFastPath, exchange=exchange)
    return app


_ORDER_HEADERS = {
    b"x-wattmesh-member": "member",
    b"x-wattmesh-seq": "seq",
    b"x-wattmesh-timestamp": "timestamp",
    b"x-wattmesh-signature": "signature",
    b"content-type": "content_type",
}


class OrderFastPath:
    """``POST /orders`` without FastAPI's per-request machinery, for the requests FastAPI would accept.

    The order endpoint carries nearly all of the exchange's traffic, and FastAPI's dependency and body
    handling cost more CPU than the signature check and the journal together. This ASGI middleware answers
    a ``POST /orders`` itself only when everything checks out by the very rules of the route: the four
    signing headers within their bounds, a JSON body that the same strict :class:`OrderIn` model accepts
    and a signature that verifies under the signer's registered key within the clock window. It then
    submits the order exactly as :func:`place_order` does. Any other request, and any order request that
    fails a check, goes on to the FastAPI app unchanged (with its body replayed), which gives the usual
    401/422 answers; the two paths cannot disagree on what is accepted.
    """

    def __init__(self, app, exchange: Exchange) -> None:
        self.app = app
        self.exchange = exchange
        self.answered = 0  # orders this path decided (the rest went on to the app)

    async def __call__(self, scope, receive, send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != "/orders"
            or scope["query_string"]
        ):
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see the same
                return await self.app(scope, _replay([], message, receive), send)
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        accepted = self._accepted(scope, body)
        if accepted is None:
            return await self.app(scope, _replay([body], None, receive), send)
        signer, seq, order = accepted
        future = self.exchange.submit("order", signer, seq, request_hash("POST", "/orders", body), order)
        self.answered += 1
        outcome: Outcome = await asyncio.wrap_future(future)
        await _send_json(send, outcome.status, outcome.body)

    def _accepted(self, scope, body: bytes) -> tuple[str, int, dict] | None:
        """(signer, seq, order) if the route would accept the request as it is, else None."""
        found = {}
        for name, value in scope["headers"]:
            key = _ORDER_HEADERS.get(name)
            if key is not None:
                if key in found:
                    return None
                found[key] = value
        if len(found) != len(_ORDER_HEADERS) or found["content_type"] != b"application/json":
            return None
        try:
            signer = found["member"].decode("latin-1")
            seq = int(found["seq"])
            stamp = int(found["timestamp"])
            signature = found["signature"].decode("latin-1")
        except ValueError:
            return None
        # the header bounds of `signed` (a header the route would refuse goes there, to be refused)
        if not (
            1 <= len(signer) <= 64
            and 1 <= seq <= 2**62
            and 0 <= stamp <= 2**52
            and 1 <= len(signature) <= 256
        ):
            return None
        if not found["seq"].isdigit() or not found["timestamp"].isdigit():
            return None
        try:
            order = OrderIn.model_validate_json(body)
        except ValueError:
            return None
        key = self.exchange.signer_key(signer)
        if key is None:
            return None
        now_ms = int(self.exchange.wall_clock() * 1000)
        if signature_problem(
            key, signature, "POST", "/orders", body, signer, seq, stamp, now_ms, CLOCK_WINDOW_MS
        ):
            return None
        return signer, seq, order.model_dump()


def _replay(chunks: list[bytes], last: dict | None, receive):
    """An ASGI ``receive`` that gives the body already read (or the message that ended it), then goes on."""
    pending = (
        [{"type": "http.request", "body": b"".join(chunks), "more_body": False}] if last is None else [last]
    )

    async def replay():
        return pending.pop() if pending else await receive()

    return replay


async def _send_json(send, status: int, body) -> None:
    """A JSON answer rendered as Starlette's JSONResponse renders it."""
    content = json.dumps(
        body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()
    headers = [(b"content-length", str(len(content)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def parse_readings_csv(text: str) -> list[dict]:
    """Rows of a readings CSV (interval, member_id, energy_wh); ValueError naming the line and the field."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"interval", "member_id", "energy_wh"} - set(reader.fieldnames or [])
    if missing:
        raise ValueError(
            f"csv: column(s) {', '.join(sorted(missing))} missing (expected interval,member_id,energy_wh)"
        )
    rows = []
    for line, row in enumerate(reader, start=2):
        try:
            energy = int(row["energy_wh"])
        except (TypeError, ValueError):
            raise ValueError(
                f"csv line {line}: energy_wh {row['energy_wh']!r} is not a whole number of Wh"
            ) from None
        if abs(energy) > MAX_WH:
            raise ValueError(f"csv line {line}: energy_wh {energy} is beyond +-{MAX_WH} Wh")
        rows.append({"interval": (row["interval"] or "").strip(), "member_id": (row["member_id"] or "").strip(),
                     "energy_wh": energy})  # fmt: skip
    if not rows:
        raise ValueError("csv: no readings")
    return rows


BILL_COLUMNS = ("bought_kwh", "sold_kwh", "paid_local", "received_local", "fee_paid", "import_kwh",
                "export_kwh", "paid_utility", "received_utility", "bill")  # fmt: skip


def bill_frame(exchange: Exchange, month: str, member_id: str | None = None) -> pd.DataFrame:
    """Each member's statement lines of ``month`` (YYYY-MM, the co-op's time zone) summed: the bill."""
    with exchange.lock:
        lines = [ln for k in sorted(exchange.state.statements) for ln in exchange.state.statements[k]]
    frame = pd.DataFrame(lines, columns=["interval", "member_id", "metered_kwh", *BILL_COLUMNS])
    if member_id is not None:
        frame = frame[frame["member_id"] == member_id]
    local = pd.to_datetime(frame["interval"], utc=True).dt.tz_convert(exchange.coop.timezone)
    frame = frame[local.dt.strftime("%Y-%m") == month]
    bills = frame.groupby("member_id")[["metered_kwh", *BILL_COLUMNS]].sum()
    bills.insert(0, "intervals", frame.groupby("member_id").size())
    bills.insert(0, "month", month)
    return bills.reset_index()


def bill_csv(exchange: Exchange, month: str, member_id: str | None = None) -> str:
    """The monthly bill CSV (one row per member; money in the co-op's currency, energy in kWh)."""
    return bill_frame(exchange, month, member_id).to_csv(index=False, float_format="%.6f")
