"""The API's answers, on SQLite and on a real PostgreSQL server: each code asserted, and nothing from a
refused request reaches the journal."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from wattmesh.ledger import verify, verify_proof
from wattmesh.ledger.keys import ensure_keys
from wattmesh.service.app import create_app
from wattmesh.service.client import ExchangeClient
from wattmesh.service.engine import Exchange, rebuild_state

from .helpers import make_coop, secret_of

DELIVERY = "2026-06-01T10:00:00Z"  # the co-op's first interval; its gate closes at 09:55


@pytest.fixture
def market(tmp_path, db_url):
    coop = make_coop(tmp_path / "coop", n_members=4)
    exchange = Exchange(coop, db_url)
    with TestClient(create_app(exchange)) as http:

        def client(signer):
            return ExchangeClient("http://testserver", signer, secret_of(coop, signer), http=http)

        yield exchange, http, client


def journal_rows(exchange) -> int:
    return exchange.journal.count()


def test_orders_clear_at_gate_closure_into_the_ledger(market):
    exchange, http, client = market
    buyer, seller, operator = client("home_0"), client("home_1"), client("operator")
    assert buyer.place_order("b1", "buy", DELIVERY, 1500, 30000).status_code == 200
    assert seller.place_order("s1", "sell", DELIVERY, 1000, 10000).status_code == 200
    assert http.get(f"/intervals/{DELIVERY}").status_code == 404
    assert operator.set_clock("2026-06-01T09:55:00Z").status_code == 200
    cleared = http.get(f"/intervals/{DELIVERY}").json()
    # pay-as-clear, midpoint rule: the bid 0.30 less the 0.02 grid fee is 0.28, the ask 0.10; 1 kWh at
    # (0.28 + 0.10) / 2 = 0.19 (worked by hand)
    assert [
        (t["seller"], t["buyer"], t["energy_amount_kwh"], t["price_per_kwh"]) for t in cleared["trades"]
    ] == [("home_1", "home_0", 1.0, 0.19)]
    proof = http.get(f"/ledger/proof/{cleared['trades'][0]['transaction_id']}").json()
    assert proof["seller_signature"] and proof["buyer_signature"] and proof["operator_signature"]
    assert verify_proof(proof, bytes.fromhex(proof["public_keys"]["operator"])) == []
    assert http.get("/ledger/sth").json()["tree_head"]["tree_size"] == 1
    assert verify(exchange.coop.ledger_path).problems == []


def test_duplicate_retry_gets_the_original_acknowledgement(market):
    exchange, _http, client = market
    member = client("home_0")
    request = member.sign("POST", "/orders", {"order_id": "o1", "side": "buy", "delivery_start": DELIVERY,
                                              "energy_wh": 500, "price_per_kwh_e5": 20000})  # fmt: skip
    first = member.send(request)
    before = journal_rows(exchange)
    again = member.send(request)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert journal_rows(exchange) == before


def test_resigned_retry_with_a_new_timestamp_is_the_same_request(market):
    exchange, _http, client = market
    member = client("home_0")
    body = {
        "order_id": "o1",
        "side": "buy",
        "delivery_start": DELIVERY,
        "energy_wh": 500,
        "price_per_kwh_e5": 1,
    }
    first = member.send(member.sign("POST", "/orders", body, seq=100))
    before = journal_rows(exchange)
    later = member.send(
        member.sign("POST", "/orders", body, seq=100, timestamp_ms=int(time.time() * 1000) + 5000)
    )
    assert later.status_code == 200 and later.json() == first.json()
    assert journal_rows(exchange) == before


def test_used_seq_with_another_body_is_409_and_not_journaled(market):
    exchange, _http, client = market
    member = client("home_0")
    body = {
        "order_id": "o1",
        "side": "buy",
        "delivery_start": DELIVERY,
        "energy_wh": 500,
        "price_per_kwh_e5": 1,
    }
    assert member.send(member.sign("POST", "/orders", body, seq=100)).status_code == 200
    before = journal_rows(exchange)
    other = member.send(member.sign("POST", "/orders", {**body, "order_id": "o2"}, seq=100))
    assert other.status_code == 409
    stale = member.send(member.sign("POST", "/orders", {**body, "order_id": "o3"}, seq=99))
    assert stale.status_code == 409
    assert journal_rows(exchange) == before
    assert "o2" not in exchange.state.orders and "o3" not in exchange.state.orders


def test_forged_signature_unknown_member_and_clock_skew_are_401(market):
    exchange, _http, client = market
    member = client("home_0")
    body = {
        "order_id": "o1",
        "side": "buy",
        "delivery_start": DELIVERY,
        "energy_wh": 500,
        "price_per_kwh_e5": 1,
    }
    before = journal_rows(exchange)
    request = member.sign("POST", "/orders", body)
    tampered = type(request)(
        request.method, request.path, request.headers, request.body.replace(b"500", b"900")
    )
    assert member.send(tampered).status_code == 401
    # home_1 signs as home_0: the signature does not verify under home_0's key
    impostor = client("home_1")
    forged = impostor.sign("POST", "/orders", body)
    forged.headers["X-Wattmesh-Member"] = "home_0"
    assert impostor.send(forged).status_code == 401
    stranger = ExchangeClient("http://testserver", "home_99", ensure_keys(exchange.coop.folder / "other", ["home_99"]).member_secrets["home_99"], http=member.http)  # fmt: skip
    assert stranger.place_order("o9", "buy", DELIVERY, 1, 1).status_code == 401
    for skew_ms in (-31_000, 31_000):
        skewed = member.sign("POST", "/orders", body, timestamp_ms=int(time.time() * 1000) + skew_ms)
        assert member.send(skewed).status_code == 401
    assert member.send(member.sign("POST", "/orders", body, timestamp_ms=int(time.time() * 1000) - 20_000)).status_code == 200  # fmt: skip
    assert journal_rows(exchange) == before + 1


def test_replayed_request_changes_nothing(market):
    exchange, _http, client = market
    member = client("home_0")
    request = member.sign("POST", "/orders/none/cancel", {})
    assert member.send(request).status_code == 404
    placed = member.sign("POST", "/orders", {"order_id": "o1", "side": "sell", "delivery_start": DELIVERY,
                                             "energy_wh": 700, "price_per_kwh_e5": 9000})  # fmt: skip
    assert member.send(placed).status_code == 200
    cancel = member.sign("POST", "/orders/o1/cancel", {})
    assert member.send(cancel).status_code == 200
    before = journal_rows(exchange)
    # the attacker replays the order: the exchange answers with the original acknowledgement, and the
    # order stays cancelled
    assert member.send(placed).status_code == 200
    assert exchange.state.orders["o1"]["status"] == "cancelled"
    assert journal_rows(exchange) == before


def test_suspended_member_gets_401_until_reinstated(market):
    exchange, _http, client = market
    member, operator = client("home_2"), client("operator")
    assert operator.suspend("home_2").status_code == 200
    before = journal_rows(exchange)
    assert member.place_order("o1", "buy", DELIVERY, 100, 100).status_code == 401
    assert journal_rows(exchange) == before
    assert operator.reinstate("home_2").status_code == 200
    assert member.place_order("o1", "buy", DELIVERY, 100, 100).status_code == 200
    # a member cannot use the operator's endpoints
    assert member.suspend("home_1").status_code == 401


def test_amend_and_cancel_after_gate_closure_are_409(market):
    exchange, http, client = market
    member, operator = client("home_0"), client("operator")
    assert member.place_order("o1", "buy", DELIVERY, 1000, 30000).status_code == 200
    amended = member.amend("o1", energy_wh=800, price_per_kwh_e5=31000)
    assert amended.status_code == 200
    levels = http.get("/market/snapshot").json()["levels"]
    assert levels == [{"interval": DELIVERY, "side": "buy", "price_per_kwh_e5": 31000, "energy_wh": 800}]
    assert operator.set_clock("2026-06-01T09:55:00Z").status_code == 200
    before = journal_rows(exchange)
    assert member.amend("o1", energy_wh=10).status_code == 409
    assert member.cancel("o1").status_code == 409
    assert member.place_order("o2", "buy", DELIVERY, 1000, 30000).status_code == 409
    assert journal_rows(exchange) == before
    assert exchange.state.orders["o1"]["energy_wh"] == 800


def test_malformed_bodies_are_422_naming_the_field(market):
    exchange, _http, client = market
    member = client("home_0")
    before = journal_rows(exchange)
    good = {
        "order_id": "o1",
        "side": "buy",
        "delivery_start": DELIVERY,
        "energy_wh": 500,
        "price_per_kwh_e5": 1,
    }
    for field, value in (("energy_wh", 0), ("energy_wh", 1.5), ("side", "hold"), ("price_per_kwh_e5", "1"),
                         ("delivery_start", "2026-06-01 10:00")):  # fmt: skip
        response = member.call("POST", "/orders", {**good, field: value})
        assert response.status_code == 422, (field, value)
        assert field in {loc for err in response.json()["detail"] for loc in err["loc"]}
    off_grid = member.call("POST", "/orders", {**good, "delivery_start": "2026-06-01T10:07:00Z"})
    assert off_grid.status_code == 422 and "delivery_start" in off_grid.json()["detail"][0]["loc"]
    assert member.call("POST", "/orders", {**good, "extra": 1}).status_code == 422
    assert journal_rows(exchange) == before


def test_failing_readings_are_held_not_settled(market):
    exchange, _http, client = market
    member, operator = client("home_0"), client("operator")
    assert operator.set_clock("2026-06-01T10:20:00Z").status_code == 200
    early = member.upload_readings([{"interval": "2026-06-01T10:15:00Z", "energy_wh": -300}])
    assert early.status_code == 200 and "not been delivered" in early.json()["held"][0]["reason"]
    huge = member.upload_readings([{"interval": DELIVERY, "energy_wh": 900_000}])
    assert "plausible" in huge.json()["held"][0]["reason"]
    readings = [{"member_id": f"home_{i}", "interval": DELIVERY, "energy_wh": -100 * i} for i in range(1, 4)]
    assert operator.upload_readings(readings).status_code == 200
    assert DELIVERY not in exchange.state.statements  # home_0's reading is held
    csv_text = "interval,member_id,energy_wh\n" + f"{DELIVERY},home_0,-250\n"
    assert operator.import_readings_csv(csv_text).status_code == 200
    lines = member.statements().json()["lines"]
    assert [(ln["metered_kwh"], ln["import_kwh"]) for ln in lines] == [(-0.25, 0.25)]
    conflict = member.upload_readings([{"interval": DELIVERY, "energy_wh": -999}])
    assert "conflicts" in conflict.json()["held"][0]["reason"]
    bad_csv = operator.import_readings_csv("interval,member_id,energy_wh\nx,home_0,ten\n")
    assert bad_csv.status_code == 422 and "energy_wh" in bad_csv.json()["detail"][0]["msg"]


def test_rebuilt_state_hashes_equal_the_live_one(market):
    exchange, _http, client = market
    members = [client(f"home_{i}") for i in range(4)]
    for i, member in enumerate(members):
        member.place_order(f"o{i}", "buy" if i % 2 else "sell", DELIVERY, 400 + 100 * i, 8000 + 7000 * i)
    members[0].amend("o0", price_per_kwh_e5=9000)
    members[2].cancel("o2")
    client("operator").set_clock("2026-06-01T10:30:00Z")
    live = client("operator").state().json()
    rebuilt = rebuild_state(exchange.journal)
    assert rebuilt.journal_id == live["journal_id"] and rebuilt.state_hash() == live["state_hash"]
    assert len(rebuilt.clearings) == 3
