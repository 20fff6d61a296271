"""OpenADR 2.0b: the exchange's VEN against a real openleadr VTN on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("openleadr")
from openleadr import OpenADRServer  # noqa: E402

from wattmesh.energy.events import event_caps  # noqa: E402
from wattmesh.integrate.openadr import ExchangeVen  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
