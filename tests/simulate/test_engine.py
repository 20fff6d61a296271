"""The simulation driver: energy and money balance, limits respected, and a hand-worked community."""

import numpy as np
import pandas as pd
import pytest

from wattmesh.community.model import ASSETS, EV_SESSIONS, MEMBERS, Community
from wattmesh.simulate.engine import CASES, simulate


@pytest.fixture(scope="module")
def result(short_community):
    return simulate(short_community, seed=7)


def test_energy_balances_for_every_member_in_every_interval(result):
    for case in CASES:
        r = result.cases[case]
        supply = r.detail.generation_kwh + r.detail.discharge_kwh + r.detail.bought_kwh + r.detail.import_kwh
        use = r.detail.consumption_kwh + r.detail.charge_kwh + r.detail.sold_kwh + r.detail.export_kwh
        np.testing.assert_allclose(supply, use, atol=1e-9, err_msg=case)
        for name in ("import_kwh", "export_kwh", "bought_kwh", "sold_kwh"):
            assert (getattr(r.detail, name) >= -1e-12).all(), (case, name)


def test_money_balances_buyers_pay_sellers_plus_fees(result):
    for case in ("p2p", "p2p_battery"):
        r = result.cases[case]
        assert r.detail.paid_local.sum() == pytest.approx(
            r.detail.received_local.sum() + r.detail.fee_paid.sum(), rel=1e-12
        )
        assert r.detail.bought_kwh.sum() == pytest.approx(r.detail.sold_kwh.sum(), rel=1e-12)


def test_local_prices_stay_within_the_limits(result, short_community):
    r = result.full
    traded = ~np.isnan(r.local_price_per_kwh)
    assert traded.any()
    price = r.local_price_per_kwh[traded]
    assert (price >= short_community.feed_in_per_kwh[traded] - 1e-12).all()
    assert (price + short_community.local_fee_per_kwh <= short_community.retail_per_kwh[traded] + 1e-12).all()


def test_no_member_loses_money_by_trading_locally(result):
    saving = result.cases["alone"].bill - result.cases["p2p"].bill
    assert (saving >= -1e-9).all()


def test_trades_deliver_exactly_what_was_bought_and_sold(result, short_community):
    r = result.full
    trades = r.trades
    ids = short_community.member_ids
    sold = trades.groupby("seller", observed=False)["energy_amount_kwh"].sum().reindex(ids, fill_value=0.0)
    bought = trades.groupby("buyer", observed=False)["energy_amount_kwh"].sum().reindex(ids, fill_value=0.0)
    np.testing.assert_allclose(sold.to_numpy(), r.detail.sold_kwh.sum(axis=0), atol=1e-3)
    np.testing.assert_allclose(bought.to_numpy(), r.detail.bought_kwh.sum(axis=0), atol=1e-3)
    assert trades["transaction_id"].is_unique
    assert (trades["seller"] != trades["buyer"]).all()
    assert set(trades.columns) >= {
        "transaction_id",
        "seller",
        "buyer",
        "energy_amount_kwh",
        "price_per_kwh",
        "timestamp",
        "status",
    }


def test_batteries_charge_only_from_own_surplus_and_stay_within_capacity(result, short_community):
    r = result.full
    storage = short_community.storage_by_member("battery")
    homes = (short_community.members["kind"] != "community").to_numpy()
    own_surplus = np.maximum(r.detail.generation_kwh - r.detail.consumption_kwh, 0.0)
    assert (r.detail.charge_kwh[:, homes] <= own_surplus[:, homes] + 1e-9).all()
    assert (r.detail.soc_kwh <= storage["capacity_kwh"][None, :] + 1e-9).all()
    assert (r.detail.soc_kwh >= -1e-9).all()
    assert r.detail.discharge_kwh.sum() > 0


def test_community_battery_never_imports_from_the_grid(result, short_community):
    column = (short_community.members["kind"] == "community").to_numpy()
    assert result.full.detail.import_kwh[:, column].sum() == pytest.approx(0.0, abs=1e-9)
    assert result.full.detail.charge_kwh[:, column].sum() > 0


def test_seeded_runs_are_reproducible(short_community):
    a = simulate(short_community, seed=3).full.trades
    b = simulate(short_community, seed=3).full.trades
    pd.testing.assert_frame_equal(a, b)


def _tiny_community() -> Community:
    """Three members, one 15-min interval: A has 3 kWh spare, B and C each lack 1 kWh."""
    members = MEMBERS.conform(pd.DataFrame({"member_id": ["A", "B", "C"]}))
    index = pd.date_range("2016-06-01 12:00", periods=2, freq="15min", tz="UTC")
    load_kw = np.array([[0.0, 4.0, 4.0], [0.0, 0.0, 0.0]])
    generation_kw = np.array([[12.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    return Community(
        members=members,
        assets=ASSETS.empty(),
        ev_sessions=EV_SESSIONS.empty(),
        index=index,
        load_kw=load_kw,
        generation_kw=generation_kw,
        retail_per_kwh=np.array([0.30, 0.30]),
        feed_in_per_kwh=np.array([0.10, 0.10]),
        local_fee_per_kwh=0.0,
    )


def test_hand_worked_community():
    r = simulate(_tiny_community(), seed=0)
    # Midpoint of the bid (0.30) and ask (0.10): 0.20. A sells 2 kWh locally and exports 1 kWh.
    full = r.cases["p2p"]
    assert full.local_price_per_kwh[0] == pytest.approx(0.20)
    np.testing.assert_allclose(full.detail.sold_kwh[0], [2.0, 0.0, 0.0])
    np.testing.assert_allclose(full.detail.bought_kwh[0], [0.0, 1.0, 1.0])
    np.testing.assert_allclose(full.detail.export_kwh[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(full.bill, [-(2 * 0.20 + 1 * 0.10), 0.20, 0.20])
    np.testing.assert_allclose(r.cases["alone"].bill, [-0.30, 0.30, 0.30])
    trades = r.full.trades
    assert sorted(zip(trades["seller"], trades["buyer"], trades["energy_amount_kwh"], strict=True)) == [
        ("A", "B", 1.0),
        ("A", "C", 1.0),
    ]


@pytest.mark.parametrize("mechanism", ["pay_as_bid", "sdr", "mmr", "bill_sharing"])
def test_every_mechanism_keeps_energy_and_money_balanced(short_community, mechanism):
    r = simulate(short_community, seed=2, mechanism=mechanism).full
    supply = r.detail.generation_kwh + r.detail.discharge_kwh + r.detail.bought_kwh + r.detail.import_kwh
    use = r.detail.consumption_kwh + r.detail.charge_kwh + r.detail.sold_kwh + r.detail.export_kwh
    np.testing.assert_allclose(supply, use, atol=1e-9)
    assert r.detail.paid_local.sum() == pytest.approx(
        r.detail.received_local.sum() + r.detail.fee_paid.sum(), rel=1e-9, abs=1e-9
    )
    assert (r.trades["mechanism"] == mechanism).all()
    assert r.trades["energy_amount_kwh"].sum() == pytest.approx(r.detail.bought_kwh.sum(), rel=1e-5)


def test_pooled_pay_as_clear_equals_the_general_mechanism(short_community):
    """The simulator's closed form gives the bills clear_batch('pay_as_clear') gives."""
    from wattmesh.market import clear_batch

    r = simulate(short_community, seed=2).full
    position = (
        r.detail.generation_kwh - r.detail.consumption_kwh - r.detail.charge_kwh + r.detail.discharge_kwh
    )
    shape = position.shape
    general = clear_batch(
        "pay_as_clear",
        np.maximum(-position, 0.0),
        np.broadcast_to(short_community.retail_per_kwh[:, None], shape),
        np.maximum(position, 0.0),
        np.broadcast_to(short_community.feed_in_per_kwh[:, None], shape),
        fee_per_kwh=short_community.local_fee_per_kwh,
        seed=0,
    )
    np.testing.assert_allclose(r.detail.bought_kwh, general.bid_fill_kwh, atol=1e-9)
    np.testing.assert_allclose(r.detail.paid_local, general.bid_payment, atol=1e-9)
    np.testing.assert_allclose(r.detail.received_local, general.ask_revenue, atol=1e-9)
