"""Green Button (NAESB ESPI Atom XML) import of a utility's interval history into meter readings.

A Green Button file is an Atom feed whose entries hold ESPI resources: a ReadingType (unit ``uom``,
``powerOfTenMultiplier``, ``flowDirection``), MeterReadings and IntervalBlocks of IntervalReadings (each a
``timePeriod`` with ``start`` in epoch seconds UTC and ``duration`` in s, and a ``value``). An
IntervalBlock finds its ReadingType through the Atom links (block ``up`` -> its MeterReading, whose
``related`` link names the ReadingType); a file with a single ReadingType needs no links. Parsed with the
standard library's ElementTree (no network access, no entity expansion of external resources).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from wattmesh.integrate.readings import Reading

ATOM = "{http://www.w3.org/2005/Atom}"
ESPI = "{http://naesb.org/espi}"
UOM_WH = 72  # ESPI UnitSymbolKind: 72 = Wh (energy); 38 = W is power, not importable as interval energy
FLOW_FORWARD, FLOW_REVERSE = 1, 19  # delivered to the customer (import), received from it (export)


def _int(element, tag: str, where: str, default: int | None = None) -> int:
    node = element.find(f"{ESPI}{tag}")
    if node is None or node.text is None:
        if default is not None:
            return default
        raise ValueError(f"Green Button {where}: no {tag}; expected an integer")
    try:
        return int(node.text.strip())
    except ValueError as exc:
        raise ValueError(f"Green Button {where}: {tag} {node.text.strip()!r} is not an integer") from exc


def _links(entry) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for link in entry.findall(f"{ATOM}link"):
        out.setdefault(link.get("rel", ""), []).append(link.get("href", ""))
    return out


def interval_energy_wh(source: str | Path | bytes) -> pd.DataFrame:
    """Every IntervalReading of a Green Button file, as energy per interval.

    Parameters
    ----------
    source : the file's path, or its bytes

    Returns
    -------
    DataFrame
        columns ``start`` (UTC), ``duration_s`` [s], ``energy_wh`` [Wh] (value x 10^powerOfTenMultiplier,
        negative for reverse flow, i.e. export), ``reading_type`` (the ReadingType's self link), sorted
        by start.

    Raises
    ------
    ValueError
        naming the element and value when the file is not ESPI, a unit is not Wh, or a block's
        ReadingType cannot be found.
    """
    try:
        root = ET.fromstring(source) if isinstance(source, bytes) else ET.parse(source).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"Green Button file: not XML ({exc})") from exc
    if root.tag != f"{ATOM}feed":
        raise ValueError(f"Green Button file: root element {root.tag!r}; expected an Atom feed")
    types, meter_type, blocks = {}, {}, []
    for number, entry in enumerate(root.findall(f"{ATOM}entry"), start=1):
        content = entry.find(f"{ATOM}content")
        if content is None:
            continue
        links = _links(entry)
        self_href = (links.get("self") or [f"entry {number}"])[0]
        rtype = content.find(f"{ESPI}ReadingType")
        if rtype is not None:
            where = f"ReadingType {self_href}"
            types[self_href] = (_int(rtype, "uom", where), _int(rtype, "powerOfTenMultiplier", where, 0),
                                _int(rtype, "flowDirection", where, FLOW_FORWARD))  # fmt: skip
        if content.find(f"{ESPI}MeterReading") is not None:
            for href in links.get("related", []):
                meter_type[self_href] = href
        for block in content.findall(f"{ESPI}IntervalBlock"):
            blocks.append((self_href, (links.get("up") or [""])[0], block))
    if not types:
        raise ValueError(
            "Green Button file: no ReadingType entry; expected one with uom and powerOfTenMultiplier"
        )
    rows = []
    for self_href, up, block in blocks:
        meter = up.rsplit("/IntervalBlock", 1)[0]
        type_href = meter_type.get(meter)
        if type_href not in types:
            if len(types) != 1:
                raise ValueError(f"Green Button IntervalBlock {self_href}: its ReadingType is not linked "
                                 f"(up {up!r}); expected a MeterReading with a related ReadingType link")  # fmt: skip
            type_href = next(iter(types))
        uom, power, flow = types[type_href]
        if uom != UOM_WH:
            raise ValueError(f"Green Button ReadingType {type_href}: uom {uom}; expected {UOM_WH} (Wh)")
        sign = -1.0 if flow == FLOW_REVERSE else 1.0
        for k, reading in enumerate(block.findall(f"{ESPI}IntervalReading")):
            where = f"IntervalBlock {self_href} IntervalReading {k + 1}"
            period = reading.find(f"{ESPI}timePeriod")
            if period is None:
                raise ValueError(f"Green Button {where}: no timePeriod; expected start and duration")
            rows.append((_int(period, "start", where), _int(period, "duration", where),
                         sign * _int(reading, "value", where) * 10.0**power, type_href))  # fmt: skip
    frame = pd.DataFrame(rows, columns=["start", "duration_s", "energy_wh", "reading_type"])
    frame["start"] = pd.to_datetime(frame["start"], unit="s", utc=True)
    return frame.sort_values(["start", "reading_type"], kind="stable").reset_index(drop=True)


def readings_from_greenbutton(source: str | Path | bytes, member_id: str, device_id: str) -> list[Reading]:
    """The file's intervals as meter readings (net energy per interval: import minus export) [Wh]."""
    frame = interval_energy_wh(source)
    net = frame.groupby(["start", "duration_s"], sort=True)["energy_wh"].sum()
    return [
        Reading(member_id, "meter", device_id, start + pd.Timedelta(seconds=int(duration)),
                {"energy_wh": round(float(value), 6)}, start)
        for (start, duration), value in net.items()
    ]  # fmt: skip
