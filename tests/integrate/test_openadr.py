"""OpenADR 2.0b: the exchange's VEN against a real openleadr VTN on 127.0.0.1."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("openleadr")
from openleadr import OpenADRClient, OpenADRServer  # noqa: E402

from wattmesh.energy.events import event_caps  # noqa: E402
from wattmesh.energy.planner import plan_homes  # noqa: E402
from wattmesh.integrate.openadr import ExchangeVen, MemberVtn  # noqa: E402
from wattmesh.service.live import free_port  # noqa: E402


def test_vtn_event_reaches_the_exchange_and_caps_the_planned_import():
    port = free_port()
    # openleadr drops events whose window is over: the event starts in the coming hour
    start = pd.Timestamp.now(tz="UTC").ceil("1h")
    forwarded = []

    async def scenario():
        vtn = OpenADRServer(vtn_id="dso", http_host="127.0.0.1", http_port=port,
                            requested_poll_freq=timedelta(seconds=1), verify_message_signatures=False)  # fmt: skip

        async def on_registration(info):
            return "ven-exchange", "reg-1"

        answers = []
        vtn.add_handler("on_create_party_registration", on_registration)
        vtn.add_event(ven_id="ven-exchange", signal_name="LOAD_DISPATCH", signal_type="setpoint",
                      intervals=[{"dtstart": start.to_pydatetime(), "duration": timedelta(minutes=30),
                                  "signal_payload": 40.0}],
                      callback=lambda ven_id, event_id, opt_type: answers.append(opt_type),
                      event_id="dso-ev-1")  # fmt: skip
        await vtn.run()
        ven = ExchangeVen("exchange", f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b", forwarded.append)
        await ven.start()
        try:
            for _ in range(100):
                if len(ven.events) and answers:
                    break
                await asyncio.sleep(0.1)
        finally:
            await ven.stop()
            await vtn.stop()
        return ven.events, answers

    events, answers = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert answers == ["optIn"]
    assert len(events) == 1 and events["source"].iloc[0] == "openadr"
    index = pd.date_range(start - pd.Timedelta("30min"), periods=6, freq="15min")
    expected = np.full((6, 2), 30.0)
    _, community_cap_kw = event_caps(events, index, ["a", "b"], expected)
    # the 30 min window from start covers intervals 2 and 3; elsewhere no cap
    np.testing.assert_array_equal(np.isnan(community_cap_kw), [True, True, False, False, True, True])
    np.testing.assert_allclose(community_cap_kw[2:4], 40.0)
    assert len(forwarded) == 1
    # the planner: 3 homes of 20 kW, batteries of 5 kWh / 10 kW charged before the window must supply 20 kW
    load_kw = np.full((6, 3), 20.0)
    batteries = pd.DataFrame({"battery_id": ["a", "b", "c"], "capacity_kwh": [5.0] * 3, "power_kw": [10.0] * 3,
                              "efficiency": [1.0] * 3, "soc_kwh": [0.0] * 3})  # fmt: skip
    _, cap_kw = event_caps(events, index, ["a", "b", "c"], load_kw)
    plans = [plan_homes(load_kw, np.zeros_like(load_kw), 0.2, 0.0, batteries, 0.25,
                        community_import_cap_kw=c, member_ids=["a", "b", "c"]) for c in (None, cap_kw)]  # fmt: skip
    np.testing.assert_allclose(plans[0].import_kw.sum(axis=1), 60.0, atol=1e-6)
    assert plans[1].import_kw.sum(axis=1)[2:4].max() <= 40.0 + 1e-6
    assert plans[1].discharge_kw[2:4].sum() == pytest.approx(40.0)
    assert not plans[1].warnings


def test_exchange_forwards_the_dso_event_to_its_members_vens():
    dso_port, own_port = free_port(), free_port()
    start = pd.Timestamp.now(tz="UTC").ceil("1h")
    member_events = []

    async def scenario():
        dso = OpenADRServer(vtn_id="dso", http_host="127.0.0.1", http_port=dso_port,
                            requested_poll_freq=timedelta(seconds=1), verify_message_signatures=False)  # fmt: skip

        async def on_registration(info):
            return "ven-exchange", "reg-1"

        dso.add_handler("on_create_party_registration", on_registration)
        dso.add_event(ven_id="ven-exchange", signal_name="LOAD_DISPATCH", signal_type="delta",
                      intervals=[{"dtstart": start.to_pydatetime(), "duration": timedelta(minutes=15),
                                  "signal_payload": 12.5}], event_id="dso-ev-2")  # fmt: skip
        members = MemberVtn("exchange-vtn", {"home_1-hems": "ven-home-1"}, port=own_port, poll_s=1)
        exchange = ExchangeVen(
            "exchange", f"http://127.0.0.1:{dso_port}/OpenADR2/Simple/2.0b", members.forward
        )
        device = OpenADRClient(
            ven_name="home_1-hems", vtn_url=f"http://127.0.0.1:{own_port}/OpenADR2/Simple/2.0b"
        )

        async def on_event(event):
            member_events.append(event)
            return "optIn"

        device.add_handler("on_event", on_event)
        await dso.run()
        await members.start()
        await exchange.start()
        await device.run()
        try:
            for _ in range(150):
                if member_events and members.answers:
                    break
                await asyncio.sleep(0.1)
        finally:
            await device.stop()
            await exchange.stop()
            await members.stop()
            await dso.stop()
        return members.answers

    answers = asyncio.run(asyncio.wait_for(scenario(), 22))
    assert answers == [("ven-home-1", "dso-ev-2#0@ven-home-1", "optIn")]
    (event,) = member_events
    signal = event["event_signals"][0]
    assert signal["signal_type"] == "delta"
    (interval,) = signal["intervals"]
    assert float(interval["signal_payload"]) == 12.5
    assert pd.Timestamp(interval["dtstart"]) == start
    assert pd.Timedelta(interval["duration"]) == pd.Timedelta("15min")
