"""The exchange's state as a pure function of its journal: apply events in order, hash the result.

Every change of the live exchange is one journal event (a dict, stored as canonical JSON). :class:`State`
applies them; the live writer applies each event right after deciding it and a restart applies the whole
journal again, so the two states are equal by construction and :meth:`State.state_hash` proves it.
Quantities stay the integers the API takes (Wh, 1e-5 currency/kWh); times are UTC ISO 8601 strings
(``2026-12-03T10:15:00Z``), which sort in time order.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field

ACTIVE, SUSPENDED = "active", "suspended"
OPEN, CANCELLED, CLEARED, EXPIRED, REJECTED = "open", "cancelled", "cleared", "expired", "rejected"
ACCEPTED, HELD = "accepted", "held"


def canonical_json(value) -> str:
    """Sorted keys, no spaces: the journal's byte-exact form of an event."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Member:
    """A member (or the co-op's own battery) as the exchange knows it."""

    member_id: str
    public_key: str  # raw Ed25519 public key, hex
    kind: str = "household"
    status: str = ACTIVE


@dataclass
class State:
    """Members, order book, clearings, readings and statements: everything the journal says.

    Attributes
    ----------
    members : member id -> :class:`Member`
    last_seq : signer ("operator" or a member id) -> highest accepted sequence number
    orders : order id -> the order (dict: member_id, side, delivery_start, energy_wh, price_per_kwh_e5,
        expires_at, entered_at, status, filled_wh)
    book : delivery start -> ids of its open orders
    levels : (delivery start, side, price_per_kwh_e5) -> open energy at that price [Wh]
    next_interval : the first interval whose gate has not closed yet (UTC ISO 8601)
    now : the market clock's time in manual mode (UTC ISO 8601), None on the wall clock
    clearings : delivery start -> the clearing event (trades, report, members)
    readings : (interval, member id) -> (energy_wh, status, reason)
    statements : interval -> statement lines (dicts, :data:`wattmesh.exchange.STATEMENT_LINES`)
    cosignatures : (transaction id, member id) -> the member's co-signature of its trade (hex), which
        the ledger stores beside the entry (members who hold their own key)
    dr_events : event id -> a demand-response event (start, end UTC ISO 8601, limit_kw, reduction_kw as
        kW or None, member_id "" for the whole community, source): the DSO's caps on import, which the
        pages show and the home agents plan with (a later event with the same id replaces it)
    journal_id : id of the last applied event
    """

    members: dict[str, Member] = field(default_factory=dict)
    last_seq: dict[str, int] = field(default_factory=dict)
    orders: dict[str, dict] = field(default_factory=dict)
    book: dict[str, set] = field(default_factory=lambda: defaultdict(set))
    levels: dict[tuple, int] = field(default_factory=lambda: defaultdict(int))
    next_interval: str | None = None
    now: str | None = None
    clearings: dict[str, dict] = field(default_factory=dict)
    readings: dict[tuple[str, str], tuple[int, str, str]] = field(default_factory=dict)
    statements: dict[str, list[dict]] = field(default_factory=dict)
    cosignatures: dict[tuple[str, str], str] = field(default_factory=dict)
    dr_events: dict[str, dict] = field(default_factory=dict)
    journal_id: int = 0
    #: (delivery start, member id) -> side -> open orders: derived from ``orders``, for self-trade prevention
    open_sides: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))

    # -- applying --------------------------------------------------------------------------------------
    def apply(self, journal_id: int, event: dict, signer: str | None = None, seq: int | None = None) -> None:
        """Apply one journal event; ``journal_id`` must follow the last one (gapless)."""
        if journal_id != self.journal_id + 1:
            raise ValueError(
                f"journal id {journal_id} does not follow {self.journal_id}: the journal has a gap"
            )
        getattr(self, "_" + event["kind"])(event)
        if signer is not None:
            self.last_seq[signer] = int(seq)
        self.journal_id = journal_id

    def _level(self, order: dict, sign: int) -> None:
        sides = self.open_sides[(order["delivery_start"], order["member_id"])]
        sides[order["side"]] += sign
        if sides[order["side"]] == 0:
            del sides[order["side"]]
        key = (order["delivery_start"], order["side"], order["price_per_kwh_e5"])
        self.levels[key] += sign * order["energy_wh"]
        if self.levels[key] == 0:
            del self.levels[key]

    def _open(self, event: dict) -> None:
        self.next_interval = event["next_interval"]
        self.now = event.get("now")

    def _clock(self, event: dict) -> None:
        self.now = event["now"]

    def _member(self, event: dict) -> None:
        self.members[event["member_id"]] = Member(
            event["member_id"], event["public_key"], event["member_kind"]
        )
        self.last_seq.setdefault(event["member_id"], 0)

    def _suspend(self, event: dict) -> None:
        self.members[event["member_id"]].status = SUSPENDED

    def _reinstate(self, event: dict) -> None:
        self.members[event["member_id"]].status = ACTIVE

    def _rotate(self, event: dict) -> None:
        self.members[event["member_id"]].public_key = event["public_key"]

    def _order(self, event: dict) -> None:
        order = {k: event[k] for k in ORDER_FIELDS}
        order |= {"status": OPEN, "filled_wh": 0}
        self.orders[order["order_id"]] = order
        self.book[order["delivery_start"]].add(order["order_id"])
        self._level(order, +1)

    def _cancel(self, event: dict) -> None:
        order = self.orders[event["order_id"]]
        self._level(order, -1)
        self.book[order["delivery_start"]].discard(order["order_id"])
        order["status"] = CANCELLED

    def _amend(self, event: dict) -> None:
        order = self.orders[event["order_id"]]
        self._level(order, -1)
        for name in ("energy_wh", "price_per_kwh_e5"):
            if event.get(name) is not None:
                order[name] = event[name]
        self._level(order, +1)

    def _clear(self, event: dict) -> None:
        interval = event["interval"]
        filled: dict[str, float] = defaultdict(float)
        for trade in event["trades"]:
            filled[trade["sell_order_id"]] += trade["energy_amount_kwh"]
            filled[trade["buy_order_id"]] += trade["energy_amount_kwh"]
        expired, rejected = set(event["expired"]), set(event["rejected"])
        for order_id in sorted(self.book.pop(interval, set())):
            order = self.orders[order_id]
            self._level(order, -1)
            order["filled_wh"] = round(filled.get(order_id, 0.0) * 1000)
            order["status"] = (
                EXPIRED if order_id in expired else REJECTED if order_id in rejected else CLEARED
            )
        self.clearings[interval] = event
        self.next_interval = event["next_interval"]

    def _reading(self, event: dict) -> None:
        for r in event["readings"]:
            self.readings[(r["interval"], r["member_id"])] = (r["energy_wh"], r["status"], r["reason"])

    def _settle(self, event: dict) -> None:
        self.statements[event["interval"]] = event["lines"]

    def _cosign(self, event: dict) -> None:
        self.cosignatures[(event["transaction_id"], event["member_id"])] = event["signature"]

    def _dr_events(self, event: dict) -> None:
        for row in event["events"]:
            self.dr_events[row["event_id"]] = row

    # -- reading ---------------------------------------------------------------------------------------
    def accepted_reading(self, interval: str, member_id: str) -> int | None:
        """The accepted meter reading of a member in an interval [Wh], or None."""
        found = self.readings.get((interval, member_id))
        return found[0] if found is not None and found[1] == ACCEPTED else None

    def active_members(self) -> list[str]:
        return sorted(m for m, member in self.members.items() if member.status == ACTIVE)

    def snapshot(self) -> dict:
        """Everything the state holds as plain, sorted JSON values (what :meth:`state_hash` hashes)."""
        cosigned = {"cosignatures": sorted([*k, v] for k, v in self.cosignatures.items())}
        dr = {"dr_events": dict(sorted(self.dr_events.items()))}
        return (
            (cosigned if self.cosignatures else {})
            | (dr if self.dr_events else {})
            | {
                "members": {m: vars(v) for m, v in sorted(self.members.items())},
                "last_seq": dict(sorted(self.last_seq.items())),
                "orders": dict(sorted(self.orders.items())),
                "book": {k: sorted(v) for k, v in sorted(self.book.items()) if v},
                "levels": sorted([*k, v] for k, v in self.levels.items()),
                "next_interval": self.next_interval,
                "now": self.now,
                "clearings": dict(sorted(self.clearings.items())),
                "readings": sorted([*k, *v] for k, v in self.readings.items()),
                "statements": dict(sorted(self.statements.items())),
                "journal_id": self.journal_id,
            }
        )

    def state_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of :meth:`snapshot`."""
        return hashlib.sha256(canonical_json(self.snapshot()).encode()).hexdigest()


ORDER_FIELDS = (
    "order_id",
    "member_id",
    "side",
    "delivery_start",
    "energy_wh",
    "price_per_kwh_e5",
    "expires_at",
    "entered_at",
)
