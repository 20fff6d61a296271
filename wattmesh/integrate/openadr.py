"""OpenADR 2.0b: the exchange as a VEN of the DSO's VTN, DR events into the planner's DR_EVENTS table.

Uses ``openleadr``. An event's signal becomes one DR_EVENTS row per interval (``source`` "openadr"):
``setpoint`` [kW] -> ``limit_kw`` (cap on the community's import), ``delta`` [kW] -> ``reduction_kw``.
Other signal types are refused (optOut) with a log line naming the event and the type.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
from openleadr import OpenADRClient

from wattmesh.tables import conform_events

logger = logging.getLogger(__name__)


def dr_events_from_openadr(event: dict) -> pd.DataFrame:
    """DR_EVENTS rows (one per interval of the first signal) from an openleadr event dict.

    Raises
    ------
    ValueError
        naming the event and the signal type when it is neither ``setpoint`` nor ``delta``.
    """
    event_id = event["event_descriptor"]["event_id"]
    signal = event["event_signals"][0]
    kind = signal["signal_type"]
    if kind not in ("setpoint", "delta"):
        raise ValueError(f"openadr event {event_id!r}: signal_type {kind!r}; expected 'setpoint' or 'delta'")
    rows = []
    for i, interval in enumerate(signal["intervals"]):
        start = pd.Timestamp(interval["dtstart"]).tz_convert("UTC")
        value_kw = float(interval["signal_payload"])
        rows.append({
            "event_id": f"{event_id}#{i}",
            "start": start,
            "end": start + pd.Timedelta(interval["duration"]),
            "limit_kw": value_kw if kind == "setpoint" else np.nan,
            "reduction_kw": value_kw if kind == "delta" else np.nan,
            "member_id": "",
            "source": "openadr",
        })  # fmt: skip
    return conform_events(pd.DataFrame(rows))


class ExchangeVen:
    """The exchange as a VEN: received events are appended to :attr:`events` and handed to ``on_events``.

    Parameters
    ----------
    ven_name : the exchange's name at the DSO's VTN
    vtn_url : e.g. ``http://dso.example/OpenADR2/Simple/2.0b``
    on_events : called with each event's DR_EVENTS rows (e.g. to forward them to the members' VTN)
    """

    def __init__(self, ven_name: str, vtn_url: str, on_events: Callable[[pd.DataFrame], None] | None = None):
        self.client = OpenADRClient(ven_name=ven_name, vtn_url=vtn_url)
        self.client.add_handler("on_event", self._on_event)
        self.on_events = on_events
        self.events = conform_events(pd.DataFrame(columns=["event_id", "start", "end"]))

    async def _on_event(self, event: dict) -> str:
        try:
            rows = dr_events_from_openadr(event)
        except (ValueError, KeyError) as exc:
            logger.warning("openadr: refusing event: %s", exc)
            return "optOut"
        fresh = rows[~rows["event_id"].isin(self.events["event_id"])]
        self.events = conform_events(pd.concat([self.events, fresh], ignore_index=True))
        logger.info(
            "openadr: event %s accepted (%d intervals)", event["event_descriptor"]["event_id"], len(rows)
        )
        if self.on_events is not None and len(fresh):
            self.on_events(fresh)
        return "optIn"

    async def start(self) -> None:
        await self.client.run()

    async def stop(self) -> None:
        await self.client.stop()


class MemberVtn:
    """The exchange as a VTN for its members' devices: DR_EVENTS rows are forwarded as OpenADR events.

    Parameters
    ----------
    vtn_id : the exchange's id as a VTN
    ven_ids : member VEN name -> ven id (VENs not listed are refused at registration)
    host, port : where to listen (openleadr's aiohttp server)
    poll_s : the polling interval asked of the VENs [s]
    """

    def __init__(self, vtn_id: str, ven_ids: dict[str, str], host: str = "127.0.0.1", port: int = 8080,
                 poll_s: float = 10.0) -> None:  # fmt: skip
        from datetime import timedelta

        from openleadr import OpenADRServer

        self.ven_ids = dict(ven_ids)
        self.answers: list[tuple[str, str, str]] = []
        self.server = OpenADRServer(vtn_id=vtn_id, http_host=host, http_port=port,
                                    requested_poll_freq=timedelta(seconds=poll_s),
                                    verify_message_signatures=False)  # fmt: skip
        self.server.add_handler("on_create_party_registration", self._on_registration)

    async def _on_registration(self, info: dict):
        name = info.get("ven_name")
        if name not in self.ven_ids:
            logger.warning("openadr: VEN %r is not a member's device; registration refused", name)
            return False
        return self.ven_ids[name], f"reg-{self.ven_ids[name]}"

    def forward(self, events: pd.DataFrame) -> None:
        """Queue each row of ``events`` (DR_EVENTS) for every member VEN as one OpenADR event."""
        events = conform_events(events)
        for row in events.itertuples(index=False):
            is_limit = np.isfinite(row.limit_kw)
            for ven_id in self.ven_ids.values():
                self.server.add_event(
                    ven_id=ven_id, signal_name="LOAD_DISPATCH", signal_type="setpoint" if is_limit else "delta",
                    intervals=[{"dtstart": row.start.to_pydatetime(), "duration": (row.end - row.start).to_pytimedelta(),
                                "signal_payload": float(row.limit_kw if is_limit else row.reduction_kw)}],
                    callback=lambda ven_id, event_id, opt_type: self.answers.append((ven_id, event_id, opt_type)),
                    event_id=f"{row.event_id}@{ven_id}",
                )  # fmt: skip

    async def start(self) -> None:
        await self.server.run()

    async def stop(self) -> None:
        await self.server.stop()
