"""OpenADR 2.0b: a VEN (openleadr client) that turns the grid operator's events into ``DR_EVENTS`` rows.

Supported signals: ``LOAD_CONTROL`` of type ``x-loadControlCapacity`` (a cap on import, kW) and
``LOAD_DISPATCH`` of type ``delta`` or ``x-loadControlLevelOffset`` (a cut below the expected import, kW,
sign ignored). Every interval of a signal becomes one event row named ``<event_id>/<interval>``. Other
signals are answered ``optOut``, since the planners cannot honour them.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from wattmesh.energy.events import DR_EVENTS, conform_events

CAP_SIGNALS = {("LOAD_CONTROL", "x-loadControlCapacity")}
CUT_SIGNALS = {("LOAD_DISPATCH", "delta"), ("LOAD_DISPATCH", "x-loadControlLevelOffset")}


def events_from_openadr(event: dict, member_id: str = "") -> pd.DataFrame:
    """The ``DR_EVENTS`` rows of one OpenADR event as openleadr hands it to ``on_event`` (a dict).

    Parameters
    ----------
    event : openleadr's event dict (``event_descriptor``, ``event_signals`` with ``intervals`` of
        ``dtstart``, ``duration``, ``signal_payload``)
    member_id : the member the VEN speaks for; empty for the whole community
    """
    event_id = str(event["event_descriptor"]["event_id"])
    rows = []
    for signal in event.get("event_signals", []):
        kind = (signal.get("signal_name"), signal.get("signal_type"))
        if kind not in CAP_SIGNALS | CUT_SIGNALS:
            continue
        for number, interval in enumerate(signal["intervals"]):
            start = pd.Timestamp(interval["dtstart"])
            start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
            duration = interval.get("duration") or timedelta(0)
            value = abs(float(interval["signal_payload"]))
            rows.append(
                {
                    "event_id": f"{event_id}/{number}",
                    "start": start,
                    "end": start + pd.Timedelta(duration),
                    "limit_kw": value if kind in CAP_SIGNALS else np.nan,
                    "reduction_kw": value if kind in CUT_SIGNALS else np.nan,
                    "member_id": member_id,
                    "source": "openadr",
                }
            )
    if not rows:
        return DR_EVENTS.empty()
    return conform_events(pd.DataFrame(rows))


class EventInbox:
    """The events a VEN has accepted so far (state: the table grows as the VTN sends events)."""

    def __init__(self, member_id: str = "") -> None:
        self.member_id = member_id
        self.events = DR_EVENTS.empty()

    async def on_event(self, event: dict) -> str:
        """openleadr's ``on_event`` handler: store what can be honoured, answer optIn or optOut."""
        rows = events_from_openadr(event, self.member_id)
        if rows.empty:
            return "optOut"
        kept = self.events[~self.events["event_id"].isin(rows["event_id"])]
        self.events = pd.concat([kept, rows], ignore_index=True) if len(kept) else rows
        return "optIn"


def make_ven(ven_name: str, vtn_url: str, inbox: EventInbox):
    """An openleadr ``OpenADRClient`` whose accepted events land in ``inbox``; start it with ``await ven.run()``.

    Parameters
    ----------
    ven_name : the VEN's name at the VTN
    vtn_url : e.g. ``http://127.0.0.1:8080/OpenADR2/Simple/2.0b``
    """
    from openleadr import OpenADRClient

    ven = OpenADRClient(ven_name=ven_name, vtn_url=vtn_url)
    ven.add_handler("on_event", inbox.on_event)
    return ven
