"""The exchange's web pages: the market, a member's page, the operator's pages; and the data they show.

Server-rendered HTML (Jinja2 templates in ``templates/``), updated by plain ``fetch`` of the JSON
endpoints below every two seconds; charts by plotly.js served from ``static/`` (vendored, MIT licence):
no build step and no request leaves the exchange. Pages:

- ``/`` the market: clearing price per interval against the utility's prices, the order book's depth
  of the next interval, the gate countdown, the trade tape, the community's self-sufficiency today, the
  ledger's size and its latest signed tree head (``/pages/market.json``);
- ``/member/{id}`` a member's orders, trades (each with a link to its inclusion proof), meter readings,
  bill and saving so far (``/pages/member/{id}.json``); the member's or the operator's session needed;
- ``/operator`` members, tariffs, mechanism and gate closure; the operator's session needed.

A session is a page token signed with the member's (or the operator's) Ed25519 key,
:func:`page_token`; open ``/session?token=...`` (``wattmesh live`` prints such links) and the exchange
sets it as an HTTP-only cookie. ``/ledger/consistency`` serves the RFC 9162 consistency proof between two
tree sizes, which the home agents check successive tree heads with.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import nacl.bindings as _sodium
import pandas as pd
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from nacl.exceptions import BadSignatureError

from wattmesh.ledger.keys import OPERATOR_ID

HERE = Path(__file__).parent
PAGE_DOMAIN = b"wattmesh-page-v1"
COOKIE = "wattmesh_session"
TAPE_LENGTH = 25

_templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


def page_token(secret: bytes, signer: str, valid_s: float = 12 * 3600, now: float | None = None) -> str:
    """A page session token of ``signer`` (a member id or "operator"), valid for ``valid_s`` seconds:
    ``signer.expiry.signature`` with the Ed25519 signature over the domain, the signer and the expiry."""
    expires = int((time.time() if now is None else now) + valid_s)
    signature = _sodium.crypto_sign(_token_message(signer, expires), secret)[:64]
    return f"{signer}.{expires}.{signature.hex()}"


def _token_message(signer: str, expires: int) -> bytes:
    return b"\n".join((PAGE_DOMAIN, signer.encode(), str(expires).encode()))


def token_signer(exchange, token: str | None, now: float | None = None) -> str | None:
    """Who a page token belongs to, if it is well formed, unexpired and signed by that signer's key."""
    if not token:
        return None
    try:
        signer, expires, signature_hex = token.rsplit(".", 2)
        expires = int(expires)
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return None
    if expires < (time.time() if now is None else now) or len(signature) != 64:
        return None
    key = exchange.signer_key(signer)
    if key is None:
        return None
    try:
        _sodium.crypto_sign_open(signature + _token_message(signer, expires), key)
    except (BadSignatureError, ValueError, TypeError):
        return None
    return signer


def _session(request: Request) -> str | None:
    return token_signer(request.app.state.exchange, request.cookies.get(COOKIE))


# -- the data of the pages: pure functions of the exchange's state ------------------------------------
def market_data(exchange) -> dict:
    """What the market page shows: clearings of the market day (the co-op's local day of now, or of the
    latest trades while the new day has none yet: price, volume, utility prices), the next
    interval's order book depth, the gate, the trade tape, today's self-sufficiency, the ledger and the
    demand-response events that end after the day's start (``active`` while the market clock is in one).

    Prices in currency/kWh, energy in kWh, times UTC ISO 8601; ``day`` is the co-op's local date.
    """
    coop = exchange.coop
    with exchange.lock:
        state = exchange.state
        now = exchange.now()
        next_interval = state.next_interval
        levels = [(i, s, p, e) for (i, s, p), e in state.levels.items() if i == next_interval and e > 0]
        day = now.tz_convert(coop.timezone).normalize()
        cleared = [k for k in sorted(state.clearings) if state.clearings[k]["trades"]]
        if cleared and pd.Timestamp(cleared[-1]) < day.tz_convert("UTC"):
            # just after midnight (or after the last trading day): the day of the latest trades
            day = pd.Timestamp(cleared[-1]).tz_convert(coop.timezone).normalize()
        day_start, day_end = day.tz_convert("UTC"), (day + pd.Timedelta(days=1)).tz_convert("UTC")
        keys = [k for k in sorted(state.clearings) if day_start <= pd.Timestamp(k) < day_end]
        clearings = [state.clearings[k] for k in keys]
        statements = [line for k in keys for line in state.statements.get(k, ())]
        head = exchange.heads[-1] if exchange.heads else None
        tape = []
        for clearing in reversed([state.clearings[k] for k in sorted(state.clearings)[-8:]]):
            for trade in clearing["trades"]:
                tape.append({k: trade[k] for k in ("transaction_id", "seller", "buyer", "energy_amount_kwh",
                                                   "price_per_kwh", "timestamp")})  # fmt: skip
                if len(tape) >= TAPE_LENGTH:
                    break
            if len(tape) >= TAPE_LENGTH:
                break
        members = len(state.members)
        dr_events = sorted(
            (row for row in state.dr_events.values() if pd.Timestamp(row["end"]) > day_start),
            key=lambda row: (row["start"], row["event_id"]),
        )
    index = pd.date_range(day_start, day_end, freq=coop.step, inclusive="left")
    retail, feed_in = zip(*(coop.tariffs(t) for t in index), strict=True) if len(index) else ((), ())
    bids = sorted(((p, e) for i, s, p, e in levels if s == "buy"), reverse=True)
    asks = sorted((p, e) for i, s, p, e in levels if s == "sell")
    consumption = sum(max(-line["metered_kwh"], 0.0) for line in statements)
    imported = sum(line["import_kwh"] for line in statements)
    gate = exchange.gate_of(pd.Timestamp(next_interval)) if next_interval else None
    return {
        "name": coop.name,
        "currency": coop.currency,
        "day": str(day.date()),
        "market_time": _iso(now),
        "members": members,
        "mechanism": coop.mechanism,
        "utility": {
            "interval": [_iso(t) for t in index],
            "retail_per_kwh": list(retail),
            "feed_in_per_kwh": list(feed_in),
        },  # fmt: skip
        "clearings": {
            "interval": [c["interval"] for c in clearings],
            "price_per_kwh": [c["report"].get("mean_price_per_kwh") for c in clearings],
            "volume_kwh": [sum(t["energy_amount_kwh"] for t in c["trades"]) for c in clearings],
            "trades": [len(c["trades"]) for c in clearings],
        },
        "depth": {
            "interval": next_interval,
            "bid_price_per_kwh": [p / 1e5 for p, _ in bids],
            "bid_cumulative_kwh": _cumulative(e for _, e in bids),
            "ask_price_per_kwh": [p / 1e5 for p, _ in asks],
            "ask_cumulative_kwh": _cumulative(e for _, e in asks),
        },
        "gate": {
            "interval": next_interval,
            "gate_at": _iso(gate) if gate is not None else None,
            "seconds_to_gate": None if gate is None else (gate - now).total_seconds(),
        },  # fmt: skip
        "tape": tape,
        "self_sufficiency": {
            "settled_intervals": len({line["interval"] for line in statements}),
            "consumption_kwh": consumption,
            "import_kwh": imported,
            "share": None if consumption <= 0 else max(0.0, 1.0 - imported / consumption),
        },
        "ledger": {"entries": head["tree_size"] if head else 0, "tree_head": head},
        "dr_events": [row | {"active": row["start"] <= _iso(now) < row["end"]} for row in dr_events],
    }


def member_data(exchange, member_id: str) -> dict | None:
    """What a member's page shows: its orders, trades, meter readings and statement lines, the bill so far
    and the saving against buying and selling everything at the utility's prices (currency, kWh)."""
    with exchange.lock:
        state = exchange.state
        if member_id not in state.members:
            return None
        orders = [dict(o) for o in state.orders.values() if o["member_id"] == member_id]
        trades = [dict(t, interval=k) for k in sorted(state.clearings) for t in state.clearings[k]["trades"]
                  if member_id in (t["buyer"], t["seller"])]  # fmt: skip
        readings = sorted((i, v[0], v[1], v[2]) for (i, m), v in state.readings.items() if m == member_id)
        lines = [
            ln for k in sorted(state.statements) for ln in state.statements[k] if ln["member_id"] == member_id
        ]
        tariffs = {k: (state.clearings[k]["retail_per_kwh"], state.clearings[k]["feed_in_per_kwh"])
                   for k in state.clearings}  # fmt: skip
    alone = sum(
        max(-ln["metered_kwh"], 0) * tariffs[ln["interval"]][0] - max(ln["metered_kwh"], 0) * tariffs[ln["interval"]][1]
        for ln in lines
    )  # fmt: skip
    bill = sum(ln["bill"] for ln in lines)
    orders.sort(key=lambda o: (o["delivery_start"], o["order_id"]))
    return {
        "member_id": member_id,
        "currency": exchange.coop.currency,
        "orders": [
            {
                "order_id": o["order_id"],
                "side": o["side"],
                "delivery_start": o["delivery_start"],
                "energy_kwh": o["energy_wh"] / 1000,
                "price_per_kwh": o["price_per_kwh_e5"] / 1e5,
                "status": o["status"],
                "filled_kwh": o.get("filled_wh", 0) / 1000,
            }
            for o in orders[-96:]
        ],  # fmt: skip
        "trades": [
            {
                "transaction_id": t["transaction_id"],
                "interval": t["interval"],
                "side": "buy" if t["buyer"] == member_id else "sell",
                "counterparty": t["seller"] if t["buyer"] == member_id else t["buyer"],
                "energy_kwh": t["energy_amount_kwh"],
                "price_per_kwh": t["price_per_kwh"],
                "proof": f"/ledger/proof/{t['transaction_id']}",
            }
            for t in trades[-200:]
        ],  # fmt: skip
        "readings": {
            "interval": [r[0] for r in readings],
            "energy_kwh": [r[1] / 1000 for r in readings],
            "status": [r[2] for r in readings],
        },  # fmt: skip
        "bill": {
            "settled_intervals": len(lines),
            "bill": bill,
            "utility_only": alone,
            "saving": alone - bill,
            "bought_kwh": sum(ln["bought_kwh"] for ln in lines),
            "sold_kwh": sum(ln["sold_kwh"] for ln in lines),
            "import_kwh": sum(ln["import_kwh"] for ln in lines),
            "export_kwh": sum(ln["export_kwh"] for ln in lines),
        },  # fmt: skip
    }


def operator_data(exchange) -> dict:
    """The operator's view: members and their status, tariffs, mechanism, gate closure, the journal."""
    coop = exchange.coop
    with exchange.lock:
        members = [{"member_id": m.member_id, "kind": m.kind, "status": m.status,
                    "public_key": m.public_key} for m in exchange.state.members.values()]  # fmt: skip
        journal_id = exchange.state.journal_id
        next_interval = exchange.state.next_interval
    retail, feed_in = coop.tariffs(pd.Timestamp(next_interval)) if next_interval else (None, None)
    return {
        "name": coop.name,
        "members": members,
        "mechanism": coop.mechanism,
        "price_rule": coop.price_rule,
        "interval_minutes": coop.interval_minutes,
        "gate_closure_s": coop.gate_closure_s,
        "clock": coop.clock,
        "currency": coop.currency,
        "timezone": coop.timezone,
        "tariff": {
            "retail_per_kwh": coop.retail_per_kwh,
            "feed_in_per_kwh": coop.feed_in_per_kwh,
            "local_fee_per_kwh": coop.local_fee_per_kwh,
            "retail_tou": [dict(w) for w in coop.retail_tou],
            "feed_in_tou": [dict(w) for w in coop.feed_in_tou],
            "retail_now": retail,
            "feed_in_now": feed_in,
        },  # fmt: skip
        "journal_id": journal_id,
        "ledger_problem": exchange.ledger_problem,
    }


def _cumulative(values) -> list[float]:
    out, total = [], 0
    for value in values:
        total += value
        out.append(total / 1000)
    return out


def _iso(stamp: pd.Timestamp) -> str:
    return stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def consistency_path(ledger_path: Path, old_size: int, new_size: int) -> list[str]:
    """The RFC 9162 consistency proof (hex hashes) from tree size ``old_size`` to ``new_size``."""
    from wattmesh.ledger.local import LocalLedger, read_ledger

    conn = read_ledger(ledger_path)
    try:
        ledger = LocalLedger.reader(ledger_path, conn)
        size = ledger.size
        if max(old_size, new_size) > size:
            raise LookupError(f"new_size {max(old_size, new_size)}: the ledger holds {size} entries so far")
        if not 0 <= old_size <= new_size:
            raise ValueError(f"old_size {old_size}, new_size {new_size}: expected 0 <= old_size <= new_size")
        if old_size == 0 or old_size == new_size:
            return []
        return [h.hex() for h in ledger.consistency_path(old_size, new_size)]
    finally:
        conn.close()


# -- the router ----------------------------------------------------------------------------------------
router = APIRouter()


def _render(name: str, status_code: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(name).render(**context), status_code=status_code)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def market_page(request: Request):
    exchange = request.app.state.exchange
    return _render("market.html", title=f"{exchange.coop.name}: market", coop=exchange.coop)


@router.get("/pages/market.json", include_in_schema=False)
async def market_json(request: Request):
    return await asyncio.to_thread(market_data, request.app.state.exchange)


@router.get("/session", include_in_schema=False)
async def session(request: Request, token: Annotated[str, Query(max_length=400)], next: str = "/"):
    """Check a page token and keep it as the session cookie."""
    signer = token_signer(request.app.state.exchange, token)
    if signer is None:
        return _render("refused.html", 401, title="Not signed in", reason="the token is invalid or expired")
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=12 * 3600)
    return response


def _member_refusal(request: Request, member_id: str) -> HTMLResponse | JSONResponse | None:
    signer = _session(request)
    if signer in (member_id, OPERATOR_ID):
        return None
    return _render("refused.html", 401, title="Not signed in",
                   reason=f"the page of {member_id} needs {member_id}'s or the operator's session")  # fmt: skip


@router.get("/member/{member_id}", response_class=HTMLResponse, include_in_schema=False)
async def member_page(request: Request, member_id: str):
    refused = _member_refusal(request, member_id)
    if refused is not None:
        return refused
    exchange = request.app.state.exchange
    if member_id not in exchange.state.members:
        return _render("refused.html", 404, title="No such member", reason=f"no member {member_id!r}")
    return _render("member.html", title=f"{member_id}: orders, trades, bill", member_id=member_id,
                   coop=exchange.coop)  # fmt: skip


@router.get("/pages/member/{member_id}.json", include_in_schema=False)
async def member_json(request: Request, member_id: str):
    if _session(request) not in (member_id, OPERATOR_ID):
        return JSONResponse({"detail": f"the data of {member_id} needs its or the operator's session"}, 401)
    data = await asyncio.to_thread(member_data, request.app.state.exchange, member_id)
    if data is None:
        return JSONResponse({"detail": f"no member {member_id!r}"}, 404)
    return data


@router.get("/operator", response_class=HTMLResponse, include_in_schema=False)
async def operator_page(request: Request):
    if _session(request) != OPERATOR_ID:
        return _render("refused.html", 401, title="Operator only",
                       reason="the operator pages need the operator's session (a token signed with its key)")  # fmt: skip
    exchange = request.app.state.exchange
    return _render("operator.html", title=f"{exchange.coop.name}: operator", data=operator_data(exchange))


@router.get(
    "/ledger/consistency",
    responses={404: {"description": "no tree of that size yet"}, 400: {"description": "old_size > new_size"}},
)
async def ledger_consistency(
    request: Request,
    old_size: Annotated[int, Query(ge=0, le=2**40)],
    new_size: Annotated[int, Query(ge=0, le=2**40)],
):
    """The RFC 9162 consistency proof between two tree sizes of the ledger (hex hashes), to check that a
    later signed tree head extends an earlier one (``wattmesh.ledger.merkle.verify_consistency``)."""
    exchange = request.app.state.exchange
    try:
        path = await asyncio.to_thread(consistency_path, exchange.coop.ledger_path, old_size, new_size)
    except LookupError as err:
        return JSONResponse({"detail": str(err)}, status_code=404)
    except ValueError as err:
        return JSONResponse({"detail": str(err)}, status_code=400)
    return {"old_size": old_size, "new_size": new_size, "path": path}


def mount_pages(app: FastAPI) -> None:
    """Add the pages, their data, the consistency proofs and the static files to the exchange's app."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
