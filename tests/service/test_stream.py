"""The market-data stream: a snapshot, then every change numbered without gaps; snapshot + deltas rebuild
the book a later snapshot shows."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from wattmesh.service.app import create_app
from wattmesh.service.client import ExchangeClient, read_stream, sequence_gaps
from wattmesh.service.engine import Exchange

from .helpers import make_coop, secret_of

DELIVERY = "2026-06-01T10:00:00Z"
LATER = "2026-06-01T10:15:00Z"


def test_snapshot_then_gapless_deltas_rebuild_the_book(tmp_path):
    coop = make_coop(tmp_path / "coop", n_members=4)
    exchange = Exchange(coop)
    with TestClient(create_app(exchange)) as http:
        clients = [ExchangeClient("http://testserver", f"home_{i}", secret_of(coop, f"home_{i}"), http=http)
                   for i in range(4)]  # fmt: skip
        operator = ExchangeClient("http://testserver", "operator", secret_of(coop, "operator"), http=http)
        clients[0].place_order("early", "buy", LATER, 300, 20000)  # in the snapshot, not in the deltas
        received: list = []
        reader = threading.Thread(
            target=lambda: received.extend(read_stream(http, max_messages=12, timeout=30))
        )
        reader.start()
        while not exchange._subscribers:  # the reader's snapshot is taken
            threading.Event().wait(0.01)
        clients[0].place_order("b0", "buy", DELIVERY, 1000, 30000)
        clients[1].place_order("s1", "sell", DELIVERY, 400, 10000)
        clients[2].place_order("s2", "sell", DELIVERY, 300, 10000)  # same level as s1
        clients[1].amend("s1", price_per_kwh_e5=12000)
        clients[3].place_order("b3", "buy", LATER, 200, 25000)
        clients[3].cancel("b3")
        operator.set_clock("2026-06-01T09:55:00Z")  # clears 10:00: trades, clearing, tree head
        reader.join(timeout=60)
        final = http.get("/market/snapshot").json()

    snapshot, deltas = received[0], received[1:]
    assert snapshot["type"] == "snapshot"
    assert snapshot["levels"] == [
        {"interval": LATER, "side": "buy", "price_per_kwh_e5": 20000, "energy_wh": 300}
    ]
    assert deltas[0]["seq"] == snapshot["seq"] + 1 and sequence_gaps(deltas) == []
    book = {
        (lv["interval"], lv["side"], lv["price_per_kwh_e5"]): lv["energy_wh"] for lv in snapshot["levels"]
    }
    for message in deltas:
        if message["type"] == "level":
            book[(message["interval"], message["side"], message["price_per_kwh_e5"])] = message["energy_wh"]
        elif message["type"] == "clearing":
            book = {k: v for k, v in book.items() if k[0] != message["interval"]}
    # by hand: s2 alone at 10,000, s1 moved to 12,000; then 10:00 cleared and left the book
    levels_seen = [
        (m["side"], m["price_per_kwh_e5"], m["energy_wh"]) for m in deltas if m["type"] == "level"
    ][:5]
    assert levels_seen == [("buy", 30000, 1000), ("sell", 10000, 400), ("sell", 10000, 700), ("sell", 10000, 300),
                           ("sell", 12000, 400)]  # fmt: skip
    assert {k: v for k, v in book.items() if v} == {
        (lv["interval"], lv["side"], lv["price_per_kwh_e5"]): lv["energy_wh"] for lv in final["levels"]
    }
    assert {m["type"] for m in deltas} >= {"level", "trade", "clearing"}
