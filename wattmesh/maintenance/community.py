"""Equipment health of a simulated community: inject the scenario's PV faults, then find them again.

A scenario asks for faults (``[[faults]]``: a member's PV ``outage``, ``string_loss`` or ``soiling`` from a
start for some days); :func:`inject_faults` applies them to the members' generation before anything is
planned or settled, so the bills and trades carry their cost. :func:`scan_community` then runs the PV
detector (:func:`wattmesh.maintenance.assess_pv`, with the neighbour comparison) on what the meters saw,
the weeks before the span included as the healthy reference, and :func:`fault_outcomes` says for each
injected fault whether, when and how fast it was found and what it cost.

The simulator's PV profiles carry no weather (SimBench gives per-kWp profiles, a co-op's files a modelled
output), so the detector's irradiance is the one the feeder's own PV implies: the median over the PV
members of output per kWp, read as the plane-of-array irradiance of a horizontal module
(``1 kW/kWp = 1,000 W/m2``). Homes on one feeder see one sky, so a fault on a few roofs stands out
against it; a fault shared by most roofs at once would not (it looks like the sky).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import pvlib

from wattmesh.community.model import Community
from wattmesh.maintenance.data import PVSystemSpec
from wattmesh.maintenance.faults import FaultLabel, inject_outage, inject_soiling, inject_string_loss
from wattmesh.maintenance.pv import PVDetectionConfig, PVHealthResult, assess_pv

#: The PV faults a scenario can ask for, and what their ``size`` means.
FAULT_KINDS = {
    "outage": "inverter trip: no output (size not used)",
    "string_loss": "fraction of output lost, 0-1",
    "soiling": "fraction of output lost per day as dust builds up, 0-0.05",
}
#: The detector's reference: the healthy days it needs before it can judge (PVDetectionConfig default).
REFERENCE_DAYS = PVDetectionConfig().reference_days
ALARM_COLUMNS = ["member_id", "fault_type", "start", "detected", "end", "lost_kwh"]


@dataclass(frozen=True)
class InjectedFault:
    """One fault applied: what was done (:class:`FaultLabel`) and the generation it took [kWh]."""

    label: FaultLabel
    lost_kwh: float


class FaultError(ValueError):
    """A fault the community cannot take (unknown member, no PV, outside the span); names the fault."""


@dataclass(frozen=True)
class CommunityHealth:
    """What the PV scan found, and how the injected faults fared.

    Attributes
    ----------
    pv : the detector's full results (:class:`PVHealthResult`), one per group of members under one sky
    alarms : one row per alarm episode inside the span: member_id, fault_type, start, detected, end
        (UTC days), lost_kwh [kWh]
    faults : one row per injected fault: member_id, kind, size, start, end, found, detected, delay_days
        [days], lost_kwh (generation it took) and alarm_lost_kwh (what the detector's episodes estimate) [kWh]
    notes : what was not computed and why
    """

    pv: list[PVHealthResult]
    alarms: pd.DataFrame
    faults: pd.DataFrame
    notes: list[str]


def pv_members(community: Community) -> np.ndarray:
    """(M,) whether each member's generation is PV only (a PV asset and no wind turbine)."""
    assets = community.assets
    ids = community.member_ids
    has_pv = ids.isin(assets.loc[assets["kind"] == "pv", "member_id"])
    has_wind = ids.isin(assets.loc[assets["kind"] == "wind", "member_id"])
    return np.asarray(has_pv & ~has_wind)


def _pv_kwp(community: Community) -> pd.Series:
    rows = community.assets[community.assets["kind"] == "pv"]
    return rows.groupby("member_id")["power_kw"].sum().reindex(community.member_ids, fill_value=0.0)


def inject_faults(community: Community, faults: list[dict]) -> tuple[Community, list[InjectedFault]]:
    """The community with each fault applied to its member's PV output, and what was done.

    Parameters
    ----------
    community : the simulated community
    faults : entries with ``member`` (member id), ``kind`` (see :data:`FAULT_KINDS`), ``start`` (UTC
        timestamp), ``days`` (duration [days]) and ``size`` (see :data:`FAULT_KINDS`)

    Raises
    ------
    FaultError
        naming the fault (``faults[i]``), its field and value, for a member not in the community, a member
        without PV (or with a wind turbine too), a kind not in :data:`FAULT_KINDS`, a size out of range, or a
        start outside the simulated span.
    """
    if not faults:
        return community, []
    is_pv = pv_members(community)
    ids = list(community.member_ids)
    generation = community.generation_kw.copy()
    span_end = community.index[-1]
    labels = []
    for i, fault in enumerate(faults):
        where = f"faults[{i}]"
        member, kind, size = fault["member"], fault["kind"], float(fault.get("size", 0.0))
        if member not in ids:
            raise FaultError(f"{where}.member: {member!r} is not a member of the community")
        column = ids.index(member)
        if not is_pv[column]:
            raise FaultError(f"{where}.member: {member!r} has no PV (or has a wind turbine); PV faults only")
        if kind not in FAULT_KINDS:
            raise FaultError(f"{where}.kind: {kind!r} is not one of {', '.join(FAULT_KINDS)}")
        start = pd.Timestamp(fault["start"])
        start = start.tz_localize("UTC") if start.tz is None else start.tz_convert("UTC")
        if not community.index[0] <= start <= span_end:
            raise FaultError(
                f"{where}.start: {start} is outside the simulated span ({community.index[0]} to {span_end})"
            )
        end = min(start + pd.Timedelta(days=float(fault["days"])) - pd.Timedelta(seconds=1), span_end)
        if kind == "string_loss" and not 0.0 < size < 1.0:
            raise FaultError(f"{where}.size: {size} is outside (0, 1), the fraction of output lost")
        if kind == "soiling" and not 0.0 < size <= 0.05:
            raise FaultError(f"{where}.size: {size} is outside (0, 0.05], the fraction lost per day")
        series = pd.Series(generation[:, column], index=community.index, name=member)
        if kind == "outage":
            faulted, label = inject_outage(series, start, end)
        elif kind == "string_loss":
            faulted, label = inject_string_loss(series, start, size, end)
        else:
            faulted, label = inject_soiling(series, start, size, end)
        before = generation[:, column].copy()
        generation[:, column] = faulted.to_numpy()
        lost_kwh = float((before - generation[:, column]).sum() * community.interval_h)
        labels.append(InjectedFault(label, lost_kwh))
    meta = dict(
        community.meta,
        faults=[f"{f.label.asset} {f.label.fault_type} from {f.label.start:%Y-%m-%d}" for f in labels],
    )
    return replace(community, generation_kw=generation, meta=meta), labels


def sky_groups(per_kwp: np.ndarray, min_correlation: float = 0.98) -> list[np.ndarray]:
    """Members whose output per kWp moves together (correlation >= ``min_correlation``): one sky each.

    ``per_kwp`` is (T, N) healthy output per kWp (the weeks before the span); greedy, in column order, so
    the grouping is deterministic. Returns column indices per group.
    """
    with np.errstate(all="ignore"):
        corr = np.nan_to_num(np.corrcoef(per_kwp.T))
    left = np.ones(per_kwp.shape[1], bool)
    groups = []
    for j in range(per_kwp.shape[1]):
        if left[j]:
            members = np.flatnonzero(left & (corr[j] >= min_correlation))
            left[members] = False
            groups.append(members)
    return groups


def _implied_weather(per_kwp: np.ndarray, index: pd.DatetimeIndex, ghi_clear: np.ndarray) -> pd.DataFrame:
    """The sky the feeder's PV implies: median output per kWp as horizontal irradiance [W/m2], 25 C air,
    and the site's clear sky ``ghi_clear`` for the detector's low-light filter [W/m2]."""
    with np.errstate(all="ignore"):
        ghi = np.nanmedian(per_kwp, axis=1) * 1000.0
    return pd.DataFrame(
        {"ghi": np.nan_to_num(ghi).clip(0.0, None), "temp_air": 25.0, "ghi_clear": ghi_clear}, index=index
    )


def scan_community(
    community: Community,
    past: Community | None = None,
    labels: list[InjectedFault] | None = None,
    latitude: float = 52.5,
    longitude: float = 13.4,
    config: PVDetectionConfig | None = None,
) -> CommunityHealth:
    """Run the PV detector on the community's PV members over ``past`` then the span.

    Parameters
    ----------
    community : the simulated community (its generation as the meters saw it, faults included)
    past : the same members before the span (:func:`wattmesh.energy.members.past_community`): the detector's
        healthy reference needs ``REFERENCE_DAYS`` eligible days before it can judge
    labels : the injected faults (:func:`inject_faults`), to say which were found and when
    latitude, longitude : the feeder's site [deg] (for the sun's position in the detector's model)
    config : detector thresholds

    Returns
    -------
    CommunityHealth
    """
    labels = labels or []
    columns = np.flatnonzero(pv_members(community))
    ids = community.member_ids[columns]
    empty_alarms = pd.DataFrame(columns=ALARM_COLUMNS)
    if len(columns) < 3:
        notes = [f"PV scan: {len(columns)} PV-only members; the neighbour comparison needs at least 3"]
        return CommunityHealth([], empty_alarms, _outcomes(labels, empty_alarms), notes)
    generation = community.generation_kw[:, columns]
    index = community.index
    if past is not None and len(past.index) and list(past.member_ids) == list(community.member_ids):
        generation = np.vstack([past.generation_kw[:, columns], generation])
        index = past.index.append(community.index)
    kwp = _pv_kwp(community).to_numpy()[columns]
    per_kwp = generation / kwp[None, :]
    notes = []
    days = (index[-1] - index[0]).days
    if days < REFERENCE_DAYS + 7:
        notes.append(
            f"PV scan: {days} days of readings; the detector takes its first {REFERENCE_DAYS} eligible days "
            "as the healthy reference, so faults in them are not judged"
        )
    past_rows = len(index) - len(community.index)
    groups = sky_groups(per_kwp[:past_rows] if past_rows else per_kwp)
    site = pvlib.location.Location(latitude, longitude)
    ghi_clear = site.get_clearsky(index, model="haurwitz")["ghi"].to_numpy()
    alarms_found, results = [], []
    for group in groups:
        if len(group) < 3:
            notes.append(
                "PV scan: "
                + ", ".join(map(str, ids[group]))
                + " share their sky with fewer than 2 other members; not assessed"
            )
            continue
        power = pd.DataFrame(generation[:, group], index=index, columns=ids[group])
        weather = _implied_weather(per_kwp[:, group], index, ghi_clear)
        specs = [
            PVSystemSpec(
                str(m), latitude, longitude, 0.0, 180.0, float(k), float(k) * 1.2, gamma_pdc_per_c=0.0
            )
            for m, k in zip(ids[group], kwp[group], strict=True)
        ]
        pv = assess_pv(power, weather, specs, config, compute_degradation=False)
        notes.extend(n for n in pv.notes if "not requested" not in n and n not in notes)
        results.append(pv)
        alarms_found.extend(pv.alarms)
    first_day = community.index[0].floor("D")
    rows = [asdict(a) | {"member_id": a.asset} for a in alarms_found if a.end >= first_day]
    alarms = pd.DataFrame(rows)[ALARM_COLUMNS] if rows else empty_alarms
    return CommunityHealth(results, alarms, _outcomes(labels, alarms), notes)


def _outcomes(labels: list[InjectedFault], alarms: pd.DataFrame) -> pd.DataFrame:
    """One row per injected fault: found (an alarm on its member overlapping it), detection day and delay."""
    rows = []
    for injected in labels:
        label = injected.label
        mine = alarms[alarms["member_id"] == label.asset]
        start_day, end_day = label.start.floor("D"), label.end.floor("D")
        hit = mine[(mine["end"] >= start_day) & (mine["detected"] >= start_day) & (mine["start"] <= end_day)]
        detected = hit["detected"].min() if len(hit) else pd.NaT
        rows.append(
            {
                "member_id": label.asset,
                "kind": label.fault_type,
                "size": label.size,
                "start": label.start,
                "end": label.end,
                "found": bool(len(hit)),
                "detected": detected,
                "delay_days": (detected - start_day).days if len(hit) else np.nan,
                "lost_kwh": injected.lost_kwh,
                "alarm_lost_kwh": float(hit["lost_kwh"].sum()) if len(hit) else 0.0,
            }
        )
    columns = [
        "member_id",
        "kind",
        "size",
        "start",
        "end",
        "found",
        "detected",
        "delay_days",
        "lost_kwh",
        "alarm_lost_kwh",
    ]
    return pd.DataFrame(rows, columns=columns)
