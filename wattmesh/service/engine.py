"""The live exchange's single writer: requests -> journal -> state; gate closure -> clearing -> ledger.

One thread owns every change. Requests (already signature-checked by the HTTP layer) wait in a queue; the
writer takes them in batches, decides each against the state (sequence number, membership, gate, order
book), writes the accepted ones to the journal and commits the batch in one transaction before any of them
is acknowledged (group commit: one fsync for many orders). At each gate closure it clears the interval
with :func:`wattmesh.exchange.clear_interval`, journals the clearing, appends the trades to the ledger
(:func:`wattmesh.exchange.record`: one signed tree head per interval) and, once every member's reading of
an interval is in, settles it with :func:`wattmesh.exchange.settle`. The market-data stream gets every
change after its commit, numbered without gaps.

The exchange holds no market, settlement or ledger logic of its own: it calls the exchange step.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from wattmesh.exchange import balance_problems, clear_interval, record, settle
from wattmesh.ledger.keys import OPERATOR_ID
from wattmesh.quality.points import batch_flags
from wattmesh.quality.schema import REASON_BITS, reason_names
from wattmesh.service.coop import Coop
from wattmesh.service.journal import Journal
from wattmesh.service.state import (
    ACCEPTED,
    ACTIVE,
    HELD,
    OPEN,
    SUSPENDED,
    State,
    canonical_json,
)
from wattmesh.tables import TRADE_FIELDS

logger = logging.getLogger("wattmesh.service")

MEMBER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
BATCH = 512


def iso(stamp: pd.Timestamp) -> str:
    """A UTC time as ``YYYY-MM-DDTHH:MM:SSZ`` (whole seconds)."""
    return time.strftime(ISO_FORMAT, time.gmtime(stamp.value // 1_000_000_000))


def _iso_s(seconds: float) -> str:
    return time.strftime(ISO_FORMAT, time.gmtime(int(seconds)))


def parse_time(value: str, field_name: str) -> pd.Timestamp:
    """A UTC ISO 8601 time with its zone; :class:`Rejected` (422 naming ``field_name``) otherwise."""
    try:
        stamp = pd.Timestamp(datetime.fromisoformat(value))
    except (TypeError, ValueError):
        try:
            stamp = pd.Timestamp(value)
        except (TypeError, ValueError):
            raise Rejected.field(
                field_name, f"{value!r} is not a time (expected e.g. 2026-12-03T10:15:00Z)"
            ) from None
    if pd.isna(stamp) or stamp.tzinfo is None:
        raise Rejected.field(
            field_name, f"{value!r} has no time zone (expected UTC, e.g. 2026-12-03T10:15:00Z)"
        )
    return stamp.tz_convert("UTC")


class Rejected(Exception):
    """A request the exchange refuses: HTTP status and the body sent back (nothing reaches the journal)."""

    def __init__(self, status: int, detail) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail

    @classmethod
    def field(cls, name: str, message: str) -> Rejected:
        """422 in FastAPI's validation-error shape, naming the field."""
        loc = ["body", *name.split(".")]
        return cls(422, [{"loc": loc, "msg": f"{name}: {message}", "type": "value_error"}])


@dataclass(frozen=True)
class Outcome:
    """What a request gets back: HTTP status and JSON body."""

    status: int
    body: dict | list | str


@dataclass
class Submission:
    """A signature-checked request waiting for the writer."""

    kind: str
    signer: str
    seq: int
    request_hash: str
    body: dict
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


def request_hash(method: str, path: str, body: bytes) -> str:
    """What makes two requests the same for a retry: SHA-256 over method, path and body."""
    return hashlib.sha256(method.upper().encode() + b"\n" + path.encode() + b"\n" + body).hexdigest()


def interval_seed(scope: str, seed: int, interval: str) -> int:
    """The seeded tie-break of one interval's clearing: from the co-op's scope, seed and the interval."""
    digest = hashlib.blake2b(f"{scope}|{seed}|{interval}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def _plain(value):
    """numpy scalars as Python numbers, for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return iso(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


class Exchange:
    """The live exchange of one co-op over one journal.

    Parameters
    ----------
    coop : the co-op's settings (:func:`wattmesh.service.coop.load_coop`)
    db_url : the journal's URL; default the co-op folder's SQLite file
    wall_clock : seconds since the epoch (injectable for tests); the market clock in "wall" mode
    synchronous : SQLite's synchronous pragma (FULL by default)

    Use :meth:`start` (a writer thread, for the server) or :meth:`open` (the caller's thread, for the
    command line and the tests) and :meth:`close`.
    """

    def __init__(self, coop: Coop, db_url: str | None = None, wall_clock=time.time, synchronous="FULL"):
        self.coop = coop
        self.db_url = db_url or coop.default_db_url
        self.wall_clock = wall_clock
        self.synchronous = synchronous
        self.state = State()
        self.lock = threading.RLock()
        self.heads: list[dict] = []
        self.ledger_problem: str | None = None
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._init_error: BaseException | None = None
        self._subscribers: dict[int, tuple] = {}
        self._md_seq = 0
        self._last_gate_message = 0.0
        self._last_now = 0.0
        self._manual_now: tuple = (None, None)
        self._stamp = ""
        self.journal: Journal | None = None
        self.ledger = None
        # intervals cleared but waiting for readings, rechecked for settlement only when one of their
        # readings is accepted (so a step does not scan every member of every unsettled interval)
        self._settle_waiting: set[str] = set()
        self._settle_touched: set[str] = set()

    # -- life cycle ------------------------------------------------------------------------------------
    def open(self) -> Exchange:
        """Open the journal, rebuild the state, bootstrap an empty journal, open and catch up the ledger,
        close the gates that are due and settle what can be."""
        self.journal = Journal(self.db_url, self.synchronous)
        self.state = rebuild_state(self.journal)
        if self.state.journal_id == 0:
            self._bootstrap()
        self._open_ledger()
        # A clock move journaled just before a crash (or gates that fell due while the exchange was down)
        # closes its gates now, before the exchange reports ready: a restarted exchange is caught up when
        # it first answers, instead of clearing and appending to the ledger under its first readers.
        with self.lock:
            try:
                self._close_due_gates()
                self._settle_due()
            except Exception:
                self._reload("catching up on opening failed")
        return self

    def start(self, timeout: float = 120.0) -> Exchange:
        """Open on a writer thread and serve requests there until :meth:`close`."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._thread_main, name="wattmesh-writer", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the exchange did not open within {timeout} s")
        if self._init_error is not None:
            raise self._init_error
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        else:
            self._close_resources()

    def _close_resources(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None
        if self.journal is not None:
            self.journal.close()

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _thread_main(self) -> None:
        try:
            self.open()
        except BaseException as err:  # handed to start(), which raises it in the caller's thread
            self._init_error = err
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stop.is_set():
                batch = self._next_batch()
                self.step(batch)
        finally:
            for sub in self._drain():
                sub.future.set_result(Outcome(503, {"detail": "the exchange is shutting down"}))
            self._close_resources()

    def _next_batch(self) -> list[Submission]:
        try:
            first = self._queue.get(timeout=0.25)
        except queue.Empty:
            return []
        batch = [] if first is None else [first]
        while len(batch) < BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                batch.append(item)
        return batch

    def _drain(self) -> list[Submission]:
        out = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return out
            if item is not None:
                out.append(item)

    # -- requests --------------------------------------------------------------------------------------
    def submit(
        self, kind: str, signer: str, seq: int, request_hash: str, body: dict
    ) -> concurrent.futures.Future:
        """Queue a signature-checked request; the future's result is its :class:`Outcome`."""
        sub = Submission(kind, signer, seq, request_hash, body)
        if self._thread is None:
            self.step([sub])
        else:
            self._queue.put(sub)
        return sub.future

    def call(self, kind: str, signer: str, seq: int, body: dict, path: str = "") -> Outcome:
        """Decide one request now (no writer thread: the command line's way in)."""
        digest = request_hash("POST", path or kind, canonical_json(body).encode())
        return self.submit(kind, signer, seq, digest, body).result()

    def signer_key(self, signer: str) -> bytes | None:
        """The public key requests of ``signer`` must verify under; None for unknown or suspended signers."""
        if signer == OPERATOR_ID:
            return self._operator_public
        member = self.state.members.get(signer)
        if member is None or member.status != ACTIVE:
            return None
        return bytes.fromhex(member.public_key)

    def step(self, batch: list[Submission]) -> None:
        """One turn of the writer: close due gates, decide and commit ``batch``, close the gates its clock
        moves passed, settle, publish; the answers go out last, so an acknowledged clock move has cleared."""
        results: list = []
        with self.lock:
            try:
                self._close_due_gates()
                if batch:
                    results = self._process(batch)
                    self._close_due_gates()
                self._settle_due()
                self._gate_message()
            except Exception:
                self._reload("the writer failed")
        done = {id(sub) for sub, _ in results}
        for sub, outcome in results:
            sub.future.set_result(outcome)
        for sub in batch:
            if id(sub) not in done and not sub.future.done():
                sub.future.set_result(Outcome(503, {"detail": "the exchange failed; retry the same request"}))

    def _reload(self, what: str) -> None:
        """Log the exception being handled and rebuild the state from the journal (what was committed)."""
        logger.exception("%s; reloading the state from the journal", what)
        self.state = rebuild_state(self.journal)
        self._settle_waiting.clear()

    def _process(self, batch: list[Submission]) -> list:
        """Decide a batch and commit its accepted requests in one transaction (one fsync for all).

        The sequence numbers are raised in the same transaction as the journal inserts
        (``UPDATE signers ... WHERE last_seq < :seq``); if any of them does not move, the whole batch
        rolls back and every request of it gets 503 (then a retry gets a clean answer)."""
        results, messages, rows = [], [], []
        self._stamp = iso(pd.Timestamp(self.wall_clock(), unit="s", tz="UTC"))
        with self.journal.engine.begin() as conn:
            self._pending: dict = {}
            self._pending_cosign: set = set()
            for sub in batch:
                try:
                    outcome = self._decide(conn, sub, messages, rows)
                except Rejected as rejected:
                    outcome = Outcome(rejected.status, {"detail": rejected.detail})
                results.append((sub, outcome))
            if rows:
                Journal.raise_seqs(conn, [(r["signer"], r["seq"]) for r in rows])
                Journal.insert_many(conn, rows)
        self._publish(messages)
        for sub, outcome in results:
            if sub.kind in ("member_add", "member_rotate") and outcome.status == 200:
                self._register_in_ledger(sub.body["member_id"], bytes.fromhex(sub.body["public_key"]))
        return results

    def _decide(self, conn, sub: Submission, messages: list, rows: list) -> Outcome:
        state = self.state
        if sub.signer != OPERATOR_ID:
            member = state.members.get(sub.signer)
            if member is None or member.status != ACTIVE:
                raise Rejected(401, f"member {sub.signer!r} is unknown or suspended")
            if sub.kind.startswith("operator_") or sub.kind.startswith("member_"):
                raise Rejected(401, "operator requests must be signed by the operator")
        elif not (sub.kind.startswith(("operator_", "member_")) or sub.kind == "readings"):
            raise Rejected(401, "the operator does not trade")
        last = state.last_seq.get(sub.signer, 0)
        if sub.seq <= last:
            found = self._pending.get((sub.signer, sub.seq)) or Journal.lookup(conn, sub.signer, sub.seq)
            if found is not None and found[0] == sub.request_hash:
                return Outcome(200, json.loads(found[1]))
            if found is not None:
                raise Rejected(409, f"seq {sub.seq} of {sub.signer!r} was used for another request")
            raise Rejected(409, f"seq {sub.seq} is not above {sub.signer!r}'s last accepted seq {last}")
        event, extra = getattr(self, "_event_" + sub.kind)(sub)
        journal_id = state.journal_id + 1
        response = {"accepted": True, "journal_id": journal_id, "signer": sub.signer, "seq": sub.seq, **extra}
        if event["kind"] == "member":
            Journal.add_signer(conn, event["member_id"])
        payload = canonical_json(event)
        answer = canonical_json(response)
        rows.append({"id": journal_id, "kind": event["kind"], "signer": sub.signer, "seq": sub.seq,
                     "body_hash": sub.request_hash, "payload": payload, "response": answer,
                     "recorded_at": self._stamp})  # fmt: skip
        self._pending[(sub.signer, sub.seq)] = (sub.request_hash, answer)
        self._apply(journal_id, payload, sub.signer, sub.seq, messages)
        return Outcome(200, response)

    def _apply(self, journal_id: int, payload: str, signer, seq, messages: list) -> None:
        event = json.loads(payload)
        self.state.apply(journal_id, event, signer, seq)
        messages.extend(self._market_messages(event))

    def _system_event(self, event: dict) -> int:
        """Journal and apply an event of the exchange itself (bootstrap, clearing, settlement), committed."""
        payload = canonical_json(event)
        journal_id = self.state.journal_id + 1
        messages: list = []
        with self.journal.engine.begin() as conn:
            if event["kind"] == "member":
                Journal.add_signer(conn, event["member_id"])
            if event["kind"] == "open":
                Journal.add_signer(conn, OPERATOR_ID)
            Journal.insert(
                conn,
                {
                    "id": journal_id,
                    "kind": event["kind"],
                    "signer": None,
                    "seq": None,
                    "body_hash": None,
                    "payload": payload,
                    "response": None,
                    "recorded_at": iso(pd.Timestamp(self.wall_clock(), unit="s", tz="UTC")),
                },
            )
        self._apply(journal_id, payload, None, None, messages)
        self._publish(messages)
        return journal_id

    # -- the market clock ------------------------------------------------------------------------------
    def now(self) -> pd.Timestamp:
        """The market clock: the wall clock (never running backwards) or the operator's manual clock."""
        if self.coop.clock == "manual":
            if self._manual_now[0] != self.state.now:
                self._manual_now = (self.state.now, pd.Timestamp(self.state.now))
            return self._manual_now[1]
        self._last_now = max(self._last_now, float(self.wall_clock()))
        return pd.Timestamp(self._last_now, unit="s", tz="UTC")

    def gate_of(self, interval: pd.Timestamp) -> pd.Timestamp:
        return interval - pd.Timedelta(seconds=self.coop.gate_closure_s)

    def _grid_interval(self, value: str, field_name: str) -> pd.Timestamp:
        stamp = parse_time(value, field_name)
        step_s = self.coop.interval_minutes * 60
        if stamp.value % (step_s * 10**9):
            raise Rejected.field(
                field_name, f"{value!r} is not the start of a {self.coop.interval_minutes}-min interval"
            )
        return stamp

    def _bootstrap(self) -> None:
        if self.coop.clock == "manual":
            start = pd.Timestamp(self.coop.start)
            now = self.gate_of(start) - pd.Timedelta(seconds=1)
            event = {"kind": "open", "next_interval": iso(start), "now": iso(now)}
        else:
            now = self.now()
            step = self.coop.step
            first = (now + pd.Timedelta(seconds=self.coop.gate_closure_s)).ceil(step)
            if self.gate_of(first) <= now:
                first += step
            event = {"kind": "open", "next_interval": iso(first), "now": None}
        self._system_event(event)
        for row in self.coop.members_file():
            self._system_event(
                {"kind": "member", "member_id": row["member_id"], "public_key": row["public_key"].strip(),
                 "member_kind": row.get("kind") or "household"}
            )  # fmt: skip

    # -- request kinds: each returns (event, extra fields of the acknowledgement) or raises Rejected ----
    def now_s(self) -> float:
        """:meth:`now` in seconds since the epoch (the order path's cheap form)."""
        if self.coop.clock == "manual":
            return self.now().value / 1e9
        self._last_now = max(self._last_now, float(self.wall_clock()))
        return self._last_now

    def _interval_s(self, value: str, field_name: str) -> int:
        """An interval start in seconds since the epoch; 422 naming the field if it is not one."""
        try:
            stamp = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            stamp = None
        if stamp is None or stamp.tzinfo is None:
            return int(self._grid_interval(value, field_name).value // 1_000_000_000)
        seconds = stamp.timestamp()
        if seconds % (self.coop.interval_minutes * 60):
            raise Rejected.field(
                field_name, f"{value!r} is not the start of a {self.coop.interval_minutes}-min interval"
            )
        return int(seconds)

    def _event_order(self, sub: Submission):
        body, state = sub.body, self.state
        if body["order_id"] in state.orders:
            raise Rejected(409, f"order_id {body['order_id']!r} is already used")
        start_s = self._interval_s(body["delivery_start"], "delivery_start")
        start = _iso_s(start_s)
        now_s = self.now_s()
        self._check_gate(start_s, now_s)
        other = "sell" if body["side"] == "buy" else "buy"
        if state.open_sides.get((start, sub.signer), {}).get(other):
            # the ledger takes no trade of a member with itself; one side per member and interval
            raise Rejected(
                409, f"member {sub.signer!r} has an open {other} order for {start}; cancel it first"
            )
        if start_s > now_s + self.coop.horizon_hours * 3600:
            raise Rejected.field(
                "delivery_start", f"{body['delivery_start']} is more than {self.coop.horizon_hours:g} h ahead"
            )
        expires = body.get("expires_at")
        if expires is not None:
            expires = iso(parse_time(expires, "expires_at"))
        event = {
            "kind": "order",
            "order_id": body["order_id"],
            "member_id": sub.signer,
            "side": body["side"],
            "delivery_start": start,
            "energy_wh": int(body["energy_wh"]),
            "price_per_kwh_e5": int(body["price_per_kwh_e5"]),
            "expires_at": expires,
            "entered_at": _iso_s(now_s),
        }
        return event, {"order_id": body["order_id"], "status": OPEN}

    def _check_gate(self, start_s: float, now_s: float) -> None:
        gate_s = start_s - self.coop.gate_closure_s
        if _iso_s(start_s) < self.state.next_interval or gate_s <= now_s:
            raise Rejected(
                409,
                f"the gate for delivery {_iso_s(start_s)} closed at {_iso_s(gate_s)} (market time {_iso_s(now_s)})",
            )

    def _own_open_order(self, sub: Submission) -> dict:
        order = self.state.orders.get(sub.body["order_id"])
        if order is None or order["member_id"] != sub.signer:
            raise Rejected(404, f"member {sub.signer!r} has no order {sub.body['order_id']!r}")
        self._check_gate(self._interval_s(order["delivery_start"], "delivery_start"), self.now_s())
        if order["status"] != OPEN:
            raise Rejected(409, f"order {order['order_id']!r} is {order['status']}, not open")
        return order

    def _event_cancel(self, sub: Submission):
        order = self._own_open_order(sub)
        return {"kind": "cancel", "order_id": order["order_id"]}, {
            "order_id": order["order_id"],
            "status": "cancelled",
        }

    def _event_amend(self, sub: Submission):
        order = self._own_open_order(sub)
        energy, price = sub.body.get("energy_wh"), sub.body.get("price_per_kwh_e5")
        if energy is None and price is None:
            raise Rejected.field("energy_wh", "give energy_wh or price_per_kwh_e5 (or both) to amend")
        event = {"kind": "amend", "order_id": order["order_id"], "energy_wh": energy, "price_per_kwh_e5": price,
                 "previous_price_per_kwh_e5": order["price_per_kwh_e5"]}  # fmt: skip
        return event, {"order_id": order["order_id"], "status": OPEN}

    def _event_readings(self, sub: Submission):
        """A readings upload: every row is checked at once (numpy over the batch), by the market-time rule
        (an interval is metered once it is over) and the point checks of
        :func:`wattmesh.quality.points.batch_flags` (out of range, conflict with a stored or another uploaded
        value); a failing reading is held with its reason, not settled. An unknown member or an off-grid
        interval refuses the whole upload (422 naming ``readings.<k>``)."""
        rows, signer, state = sub.body["readings"], sub.signer, self.state
        members = [row.get("member_id") or signer for row in rows]
        if signer != OPERATOR_ID:
            others = np.flatnonzero(np.asarray(members, dtype=object) != signer)
            if len(others):
                k = int(others[0])
                raise Rejected.field(
                    f"readings.{k}.member_id", f"{members[k]!r}: a member uploads its own readings only"
                )
        unknown = set(members).difference(state.members)
        if unknown:
            k = next(k for k, member in enumerate(members) if member in unknown)
            raise Rejected.field(f"readings.{k}.member_id", f"{members[k]!r} is not a member")
        texts, start_s = self._reading_intervals([row["interval"] for row in rows])
        energy_wh = np.array([int(row["energy_wh"]) for row in rows], dtype=np.int64)
        found = [state.readings.get(key) for key in zip(texts, members, strict=True)]
        stored_wh = np.array([f[0] if f is not None and f[1] == ACCEPTED else np.nan for f in found], float)
        flags = batch_flags(
            members, start_s, energy_wh / 1000.0, limit_kwh=self.coop.max_reading_wh / 1000.0,
            allow_negative=True, stored_kwh=stored_wh / 1000.0,
        )  # fmt: skip
        now_s = self.now_s()
        early = start_s + self.coop.interval_minutes * 60 > now_s
        reasons = [""] * len(rows)
        for k in np.flatnonzero(early | (flags != 0)):
            reasons[k] = self._held_reason(
                texts[k], int(energy_wh[k]), stored_wh[k], int(flags[k]), bool(early[k]), now_s
            )
        checked = [
            {"member_id": m, "interval": t, "energy_wh": e, "reason": r, "status": HELD if r else ACCEPTED}
            for m, t, e, r in zip(members, texts, energy_wh.tolist(), reasons, strict=True)
        ]
        # a reading already accepted, or repeated in the upload, is journalled once
        known = np.isfinite(stored_wh) | _repeats(members, start_s, energy_wh)
        fresh = [row for row, old in zip(checked, known.tolist(), strict=True) if row["reason"] or not old]
        held = [row for row in checked if row["reason"]]
        self._settle_touched.update(row["interval"] for row in fresh if not row["reason"])
        return {"kind": "reading", "readings": fresh}, {"accepted": len(checked) - len(held), "held": held}

    def _reading_intervals(self, texts: list) -> tuple[list[str], np.ndarray]:
        """The uploaded interval starts as canonical ISO text and epoch seconds; 422 naming the first row
        that is not a time or not the start of an interval."""
        try:
            if not all(isinstance(t, str) and len(t) == 20 and t[10] == "T" and t[19] == "Z" for t in texts):
                raise ValueError("not canonical")
            start_s = np.array([t[:19] for t in texts], dtype="datetime64[s]").astype(np.int64)
        except ValueError:  # a zone offset, fractions, or no time at all: row by row, for the error
            start_s = np.array(
                [self._interval_s(t, f"readings.{k}.interval") for k, t in enumerate(texts)], dtype=np.int64
            )
            return [_iso_s(s) for s in start_s.tolist()], start_s
        off_grid = np.flatnonzero(start_s % (self.coop.interval_minutes * 60))
        if len(off_grid):
            k = int(off_grid[0])
            raise Rejected.field(
                f"readings.{k}.interval",
                f"{texts[k]!r} is not the start of a {self.coop.interval_minutes}-min interval",
            )
        return texts, start_s

    def _held_reason(
        self, interval: str, energy_wh: int, stored_wh: float, flags: int, early: bool, now_s: float
    ) -> str:
        """Why a reading is held, naming the value and what was expected (the first reason that applies)."""
        if early:
            return f"interval {interval} has not been delivered yet (market time {_iso_s(now_s)})"
        if flags & REASON_BITS["out_of_range"]:
            return f"{energy_wh} Wh is above the plausible {self.coop.max_reading_wh} Wh per interval"
        if flags & REASON_BITS["duplicate"]:
            if np.isfinite(stored_wh):
                return f"conflicts with the accepted reading {int(stored_wh)} Wh"
            return "the upload holds two different readings for this interval"
        return f"meter-data check failed: {', '.join(reason_names(flags))}"

    def _event_member_add(self, sub: Submission):
        body = sub.body
        if not MEMBER_ID.match(body["member_id"]) or body["member_id"] == OPERATOR_ID:
            raise Rejected.field("member_id", f"{body['member_id']!r} is not a plain member id")
        if body["member_id"] in self.state.members:
            raise Rejected(409, f"member {body['member_id']!r} already exists")
        event = {"kind": "member", "member_id": body["member_id"], "public_key": body["public_key"],
                 "member_kind": body.get("kind", "household")}  # fmt: skip
        return event, {"member_id": body["member_id"], "status": ACTIVE}

    def _known_member(self, sub: Submission):
        member = self.state.members.get(sub.body["member_id"])
        if member is None:
            raise Rejected(404, f"no member {sub.body['member_id']!r}")
        return member

    def _event_member_suspend(self, sub: Submission):
        member = self._known_member(sub)
        return {"kind": "suspend", "member_id": member.member_id}, {
            "member_id": member.member_id,
            "status": SUSPENDED,
        }

    def _event_member_reinstate(self, sub: Submission):
        member = self._known_member(sub)
        return {"kind": "reinstate", "member_id": member.member_id}, {
            "member_id": member.member_id,
            "status": ACTIVE,
        }

    def _event_member_rotate(self, sub: Submission):
        member = self._known_member(sub)
        event = {"kind": "rotate", "member_id": member.member_id, "public_key": sub.body["public_key"]}
        return event, {"member_id": member.member_id, "status": member.status}

    def _event_cosign(self, sub: Submission):
        """A member's signature of its trade's ledger record, checked and stored beside the entry.

        The ledger checks it against the member's current key before anything is journaled; a signature
        it refuses is a 422 naming ``signature`` (404: no such trade)."""
        from wattmesh.ledger.local import LedgerError

        body = sub.body
        if (body["transaction_id"], sub.signer) in self._pending_cosign:
            raise Rejected(409, f"{body['transaction_id']!r} is co-signed by {sub.signer!r} in this batch")
        try:
            signature = bytes.fromhex(body["signature"])
            sides = self._log.add_cosignature(body["transaction_id"], sub.signer, signature)
        except LookupError as err:
            raise Rejected(404, str(err)) from None
        except (LedgerError, ValueError) as err:
            raise Rejected.field("signature", str(err)) from None
        self._pending_cosign.add((body["transaction_id"], sub.signer))
        event = {"kind": "cosign", "transaction_id": body["transaction_id"], "member_id": sub.signer,
                 "signature": body["signature"]}  # fmt: skip
        return event, {"transaction_id": body["transaction_id"], "sides": sides}

    def _event_operator_dr_events(self, sub: Submission):
        rows = self.dr_rows(sub.body["events"])
        return {"kind": "dr_events", "events": rows}, {"events": len(rows)}

    def dr_rows(self, events: list[dict]) -> list[dict]:
        """Demand-response events (dicts with the ``DR_EVENTS`` fields, times as text or timestamps) checked
        and in the journal's form: UTC ISO 8601 times, kW or None.

        Raises
        ------
        Rejected
            422 naming ``events[i].<field>`` and the value (a time that does not parse, an end not after its
            start, neither or both of limit_kw and reduction_kw, an unknown member).
        """
        from wattmesh.tables import conform_events

        table = pd.DataFrame(events)
        for name in ("start", "end"):
            if name in table:
                table[name] = [parse_time(str(v), f"events[{i}].{name}") if not isinstance(v, pd.Timestamp)
                               else v.tz_convert("UTC") for i, v in enumerate(table[name])]  # fmt: skip
        for name in ("limit_kw", "reduction_kw"):
            if name in table:
                table[name] = pd.to_numeric(table[name], errors="coerce").astype(float)
        try:
            table = conform_events(table)
        except ValueError as err:
            raise Rejected.field("events", str(err)) from None
        for i, member in enumerate(table["member_id"]):
            if member and member not in self.state.members:
                raise Rejected.field(f"events[{i}].member_id", f"no member {member!r}")
        return [
            {"event_id": row.event_id, "start": iso(row.start), "end": iso(row.end),
             "limit_kw": None if np.isnan(row.limit_kw) else float(row.limit_kw),
             "reduction_kw": None if np.isnan(row.reduction_kw) else float(row.reduction_kw),
             "member_id": row.member_id, "source": row.source}
            for row in table.itertuples(index=False)
        ]  # fmt: skip

    def dr_events_table(self) -> pd.DataFrame:
        """The demand-response events the exchange knows, as a ``DR_EVENTS`` table sorted by start."""
        from wattmesh.tables import conform_events

        with self.lock:
            rows = list(self.state.dr_events.values())
        table = pd.DataFrame(rows, columns=["event_id", "start", "end", "limit_kw", "reduction_kw", "member_id",
                                            "source"])  # fmt: skip
        table["start"] = pd.to_datetime(table["start"], utc=True)
        table["end"] = pd.to_datetime(table["end"], utc=True)
        for name in ("limit_kw", "reduction_kw"):
            table[name] = pd.to_numeric(table[name]).astype(float)
        return conform_events(table).sort_values(["start", "event_id"]).reset_index(drop=True)

    def _event_operator_clock(self, sub: Submission):
        if self.coop.clock != "manual":
            raise Rejected(409, 'the market runs on the wall clock; set market.clock = "manual" to move it')
        now = parse_time(sub.body["now"], "now")
        if now < pd.Timestamp(self.state.now):
            raise Rejected(
                409, f"the market clock is at {self.state.now}; it does not run backwards to {iso(now)}"
            )
        return {"kind": "clock", "now": iso(now)}, {"now": iso(now)}

    # -- clearing, ledger, settlement ------------------------------------------------------------------
    def _close_due_gates(self) -> None:
        now = self.now()
        while True:
            start = pd.Timestamp(self.state.next_interval)
            if self.gate_of(start) > now:
                return
            self._clear(start)

    def _clear(self, start: pd.Timestamp) -> None:
        state, coop = self.state, self.coop
        interval, gate = iso(start), iso(self.gate_of(start))
        orders = [state.orders[i] for i in sorted(state.book.get(interval, ()))]
        expired = [o["order_id"] for o in orders if o["expires_at"] is not None and o["expires_at"] <= gate]
        live = [o for o in orders if o["order_id"] not in set(expired)]
        members = state.active_members()
        retail, feed_in = coop.tariffs(start)
        trades, rejected, report = [], [], {"orders": 0, "trades": 0, "volume_kwh": 0.0}
        if live:
            table = pd.DataFrame(
                {
                    "order_id": [o["order_id"] for o in live],
                    "member_id": [o["member_id"] for o in live],
                    "side": [o["side"] for o in live],
                    "energy_kwh": np.array([o["energy_wh"] for o in live], float) / 1000.0,
                    "price_per_kwh": np.array([o["price_per_kwh_e5"] for o in live], float) / 1e5,
                    "delivery_start": start,
                    "entered_at": pd.to_datetime([o["entered_at"] for o in live], utc=True),
                }
            )
            options = {"price_rule": coop.price_rule} if coop.mechanism == "pay_as_clear" else {}
            outcome = clear_interval(
                table,
                coop.mechanism,
                delivery_start=start,
                fee_per_kwh=coop.local_fee_per_kwh,
                retail_per_kwh=retail,
                feed_in_per_kwh=feed_in,
                scope=coop.scope,
                seed=interval_seed(coop.scope, coop.seed, interval),
                member_ids=members,
                timestamp=pd.Timestamp(gate),
                **options,
            )
            trades = [{k: _plain(v) for k, v in t.items()} for t in outcome.trades.to_dict("records")]
            rejected = [
                {"order_id": str(r["order_id"]), "reason": str(r["reason"])}
                for r in outcome.rejected.to_dict("records")
            ]
            report = {k: _plain(v) for k, v in outcome.report.items()}
        self._system_event(
            {
                "kind": "clear",
                "interval": interval,
                "gate_at": gate,
                "next_interval": iso(start + coop.step),
                "members": members,
                "trades": trades,
                "rejected": [r["order_id"] for r in rejected],
                "rejected_reasons": rejected,
                "expired": expired,
                "report": report,
                "retail_per_kwh": retail,
                "feed_in_per_kwh": feed_in,
            }
        )
        self._record_in_ledger()

    def _open_ledger(self) -> None:
        from wattmesh.ledger import ensure_keys, open_ledger

        key_dir = self.coop.key_dir
        custodial = [
            m for m, member in self.state.members.items() if _holds_key(key_dir, m, member.public_key)
        ]
        keyring = ensure_keys(key_dir, custodial)
        self._operator_public = keyring.operator_public
        self.ledger = open_ledger(self.coop.ledger_backend, self.coop.ledger_path, keyring,
                                  mode=self.coop.ledger_mode, chain=self._chain_config(), cosign=True)  # fmt: skip
        # the signed Merkle log: the ledger itself, or the local log under an EVM ledger
        self._log = getattr(self.ledger, "local", self.ledger)
        for member_id, member in self.state.members.items():
            self._register_in_ledger(member_id, bytes.fromhex(member.public_key))
        self.heads = [head.to_dict() for head in self._log.heads()]
        self._record_in_ledger()
        self._cosign_in_ledger()

    def _cosign_in_ledger(self) -> None:
        """Store the journaled co-signatures the ledger lacks (a crash between journal and ledger)."""
        from wattmesh.ledger.local import LedgerError

        for (transaction_id, member_id), signature in sorted(self.state.cosignatures.items()):
            try:
                self._log.add_cosignature(transaction_id, member_id, bytes.fromhex(signature))
            except (LookupError, LedgerError) as err:
                logger.info("co-signature of %s by %s not stored again: %s", transaction_id, member_id, err)

    def _chain_config(self):
        """The EVM backend's chain (None for the local ledger). A restart keeps anchoring into the contract
        the ledger file records, unless exchange.toml names one; the embedded chain starts afresh."""
        coop = self.coop
        if coop.ledger_backend != "evm":
            return None
        from wattmesh.ledger.evm import EMBEDDED, ChainConfig

        rpc_url = coop.chain_rpc_url or EMBEDDED
        contract = coop.chain_contract or None
        if contract is None and rpc_url != EMBEDDED and coop.ledger_path.exists():
            import sqlite3

            conn = sqlite3.connect(f"file:{coop.ledger_path}?mode=ro", uri=True)
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'chain_%'").fetchall())
            finally:
                conn.close()
            if meta.get("chain_rpc") == rpc_url:
                contract = meta.get("chain_contract")
        return ChainConfig(rpc_url, contract, coop.chain_id or None, private_key_env=coop.chain_key_env,
                           poa=coop.chain_poa)  # fmt: skip

    def _register_in_ledger(self, member_id: str, public_key: bytes) -> None:
        """Register a member's key in the ledger, or rotate it there: the new key is valid for the entries
        appended from now on, the older entries keep verifying under the old one."""
        try:
            self._log.rotate_member(member_id, public_key)
        except ValueError as err:  # LedgerError: not an Ed25519 key; its requests cannot verify either
            logger.error("ledger refused the key of %s: %s", member_id, err)

    def awaiting_cosignatures(self, member_id: str) -> list[dict]:
        """The member's ledger entries without its signature yet (see ``LocalLedger.awaiting_cosignatures``),
        read from the ledger file on a connection of the caller's own."""
        from wattmesh.ledger.local import LocalLedger, read_ledger

        if not self.coop.ledger_path.exists():
            return []
        conn = read_ledger(self.coop.ledger_path)
        try:
            return LocalLedger.reader(self.coop.ledger_path, conn).awaiting_cosignatures(member_id)
        finally:
            conn.close()

    def _record_in_ledger(self) -> None:
        """Append every cleared interval the ledger has not recorded yet (after a crash too), in order."""
        recorded = self.heads[-1]["interval"] if self.heads else ""
        pending = sorted(k for k in self.state.clearings if k > recorded)
        for interval in pending:
            trades = pd.DataFrame(self.state.clearings[interval]["trades"], columns=list(TRADE_FIELDS))
            try:
                heads = record(
                    self.ledger, trades, pd.DatetimeIndex([pd.Timestamp(interval)]), self.coop.step
                )
            except (
                ValueError,
                RuntimeError,
            ) as err:  # LedgerError, or the chain's ChainError (retried later)
                self.ledger_problem = f"interval {interval}: {err}"
                logger.error("ledger refused interval %s: %s", interval, err)
                return
            self.heads.extend(head.to_dict() for head in heads)
            self._publish([{"type": "tree_head", **self.heads[-1]}])
        self.ledger_problem = None

    def _settle_due(self) -> None:
        """Settle every cleared interval whose members' readings are all accepted: the intervals of one
        member set in one :func:`wattmesh.exchange.settle` call, their statements journalled in one
        transaction (an upload of a day of readings completes many intervals at once)."""
        state = self.state
        touched, self._settle_touched = self._settle_touched, set()
        groups: dict[tuple, list[str]] = {}
        for interval in sorted(set(state.clearings) - set(state.statements)):
            if interval in self._settle_waiting and interval not in touched:
                continue
            members = tuple(state.clearings[interval]["members"])
            if not members or any(state.accepted_reading(interval, m) is None for m in members):
                self._settle_waiting.add(interval)
                continue
            self._settle_waiting.discard(interval)
            groups.setdefault(members, []).append(interval)
        events = []
        for members, intervals in groups.items():
            events += self._settle_events(list(members), intervals)
        if events:
            self._system_events(sorted(events, key=lambda e: e["interval"]))

    def _settle_events(self, members: list[str], intervals: list[str]) -> list[dict]:
        """The settle events of ``intervals`` (all cleared among ``members``, all metered)."""
        state = self.state
        index = pd.DatetimeIndex([pd.Timestamp(i) for i in intervals])
        metered = pd.DataFrame(
            np.array([[state.accepted_reading(i, m) for m in members] for i in intervals], float) / 1000.0,
            index=index,
            columns=members,
        )
        clearings = [state.clearings[i] for i in intervals]
        trades = pd.DataFrame([t for c in clearings for t in c["trades"]], columns=list(TRADE_FIELDS))
        retail = pd.Series([c["retail_per_kwh"] for c in clearings], index=index, dtype=float)
        feed_in = pd.Series([c["feed_in_per_kwh"] for c in clearings], index=index, dtype=float)
        lines = settle(trades, metered, retail, feed_in)
        problems = balance_problems(lines, trades)
        records = [{k: _plain(v) for k, v in line.items()} for line in lines.to_dict("records")]
        per = len(members)
        events = []
        for t, interval in enumerate(intervals):
            # balance_problems names each interval by its isoformat(); give each event its own
            mark = index[t].isoformat()
            mine = [p for p in problems if mark in p] if problems else []
            events.append({"kind": "settle", "interval": interval, "lines": records[t * per : (t + 1) * per],
                           "problems": mine})  # fmt: skip
        return events

    def _system_events(self, events: list[dict]) -> None:
        """Journal and apply events of the exchange itself in one transaction (one executemany)."""
        payloads = [canonical_json(event) for event in events]
        first = self.state.journal_id + 1
        stamp = iso(pd.Timestamp(self.wall_clock(), unit="s", tz="UTC"))
        with self.journal.engine.begin() as conn:
            Journal.insert_many(
                conn,
                [{"id": first + k, "kind": event["kind"], "signer": None, "seq": None, "body_hash": None,
                  "payload": payload, "response": None, "recorded_at": stamp}
                 for k, (event, payload) in enumerate(zip(events, payloads, strict=True))],
            )  # fmt: skip
        messages: list = []
        for k, payload in enumerate(payloads):
            self._apply(first + k, payload, None, None, messages)
        self._publish(messages)

    # -- market data -----------------------------------------------------------------------------------
    def _market_messages(self, event: dict) -> list[dict]:
        kind = event["kind"]
        if kind in ("order", "cancel", "amend"):
            order = self.state.orders[event["order_id"]]
            return [
                self._level_message(order["delivery_start"], order["side"], p)
                for p in self._touched(event, order)
            ]
        if kind == "clear":
            report = event["report"]
            out = [{"type": "trade", "interval": event["interval"], "transaction_id": t["transaction_id"],
                    "energy_wh": round(t["energy_amount_kwh"] * 1000), "price_per_kwh_e5": round(t["price_per_kwh"] * 1e5)}
                   for t in event["trades"]]  # fmt: skip
            price = report.get("mean_price_per_kwh")
            out.append(
                {"type": "clearing", "interval": event["interval"], "trades": len(event["trades"]),
                 "volume_wh": round(sum(t["energy_amount_kwh"] for t in event["trades"]) * 1000),
                 "price_per_kwh_e5": None if price is None else round(price * 1e5), "next_interval": event["next_interval"]}
            )  # fmt: skip
            return out
        if kind == "settle":
            return [{"type": "settled", "interval": event["interval"]}]
        if kind == "dr_events":
            return [{"type": "dr_event", **row} for row in event["events"]]
        return []

    def _touched(self, event: dict, order: dict) -> list[int]:
        prices = {
            order["price_per_kwh_e5"],
            event.get("previous_price_per_kwh_e5", order["price_per_kwh_e5"]),
        }
        return sorted(prices)

    def _level_message(self, interval: str, side: str, price: int) -> dict:
        return {"type": "level", "interval": interval, "side": side, "price_per_kwh_e5": price,
                "energy_wh": self.state.levels.get((interval, side, price), 0)}  # fmt: skip

    def _gate_message(self) -> None:
        wall = time.monotonic()
        if wall - self._last_gate_message < 1.0 or not self._subscribers:
            return
        self._last_gate_message = wall
        start = pd.Timestamp(self.state.next_interval)
        seconds = (self.gate_of(start) - self.now()).total_seconds()
        self._publish([{"type": "gate", "interval": self.state.next_interval, "gate_at": iso(self.gate_of(start)),
                        "seconds_to_gate": round(seconds, 1)}])  # fmt: skip

    def _publish(self, messages: list[dict]) -> None:
        if not messages:
            return
        for message in messages:
            self._md_seq += 1
            message["seq"] = self._md_seq
        for loop, box in list(self._subscribers.values()):
            try:
                loop.call_soon_threadsafe(_offer, box, messages)
            except RuntimeError:  # the subscriber's loop is closed
                pass

    def snapshot(self) -> dict:
        """The market as it stands: book levels of the open intervals, the gate, the last clearings."""
        with self.lock:
            return self._snapshot()

    def _snapshot(self) -> dict:
        state = self.state
        levels = [
            {"interval": i, "side": s, "price_per_kwh_e5": p, "energy_wh": e}
            for (i, s, p), e in sorted(state.levels.items())
        ]
        start = pd.Timestamp(state.next_interval)
        last = sorted(state.clearings)[-4:]
        return {
            "type": "snapshot",
            "seq": self._md_seq,
            "next_interval": state.next_interval,
            "gate_at": iso(self.gate_of(start)),
            "market_time": iso(self.now()),
            "levels": levels,
            "clearings": [
                {
                    "interval": k,
                    "trades": len(state.clearings[k]["trades"]),
                    "price_per_kwh": state.clearings[k]["report"].get("mean_price_per_kwh"),
                }
                for k in last
            ],  # fmt: skip
            "tree_head": self.heads[-1] if self.heads else None,
            # what a home agent plans with: the members (a community event's equal share) and the
            # demand-response events not yet over, by start
            "members": len(state.members),
            "dr_events": sorted(
                (row for row in state.dr_events.values() if row["end"] > iso(self.now())),
                key=lambda row: (row["start"], row["event_id"]),
            ),
        }

    def subscribe(
        self, loop: asyncio.AbstractEventLoop, limit: int = 100_000
    ) -> tuple[dict, int, asyncio.Queue]:
        """A snapshot and a queue that gets every later message (lists of messages); see :meth:`unsubscribe`."""
        box = asyncio.Queue(maxsize=limit)
        with self.lock:
            snapshot = self._snapshot()
            token = id(box)
            self._subscribers[token] = (loop, box)
        return snapshot, token, box

    def unsubscribe(self, token: int) -> None:
        with self.lock:
            self._subscribers.pop(token, None)

    # -- reading the state -----------------------------------------------------------------------------
    def state_hash(self) -> tuple[int, str]:
        with self.lock:
            return self.state.journal_id, self.state.state_hash()


def _repeats(members: list, start_s: np.ndarray, energy_wh: np.ndarray) -> np.ndarray:
    """True for each row of an upload that repeats an earlier row exactly (member, interval and value)."""
    out = np.zeros(len(members), dtype=bool)
    if len(members) > 1:
        _, member_code = np.unique(np.asarray(members, dtype=object), return_inverse=True)
        keys = np.stack([member_code, start_s, energy_wh], axis=1)
        _, first = np.unique(keys, axis=0, return_index=True)
        out[:] = True
        out[first] = False
    return out


def _offer(box: asyncio.Queue, messages: list[dict]) -> None:
    """Hand messages to a subscriber; a subscriber too slow to keep up gets None (its stream ends)."""
    try:
        box.put_nowait(messages)
    except asyncio.QueueFull:
        while not box.empty():
            box.get_nowait()
        box.put_nowait(None)


def _holds_key(key_dir, member_id: str, public_key_hex: str) -> bool:
    """The co-op folder holds the member's key (custodial), and it is the member's current key."""
    from wattmesh.ledger.keys import load_public_key

    pub = key_dir / f"{member_id}.pub"
    if not (key_dir / f"{member_id}.key").exists():
        return False
    try:
        return not pub.exists() or load_public_key(pub).hex() == public_key_hex
    except (OSError, ValueError):
        return True


def rebuild_state(journal: Journal) -> State:
    """The state the journal describes: every event applied in id order."""
    state = State()
    for journal_id, _kind, signer, seq, payload in journal.rows():
        state.apply(int(journal_id), json.loads(payload), signer, seq)
    return state
