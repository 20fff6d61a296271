"""A community's members planned as a whole: forecasts from their meters, the MPC planner, the dispatch plan.

Forecasts: each home's load and PV are forecast day-ahead from what it has measured
so far, issued 24 h ahead: ``wattmesh.forecast``'s similar-days average (the mean of the same time on the
last similar days), or its global LightGBM forecaster retrained on a schedule (``"gbm"``); persistence
where there is no history yet, or perfect forecasts for a bound. The community covers only the
simulated span; a home also has its past, which the caller passes as ``past`` (the same community over
the weeks before the start, :func:`past_community`), so that forecasts start from a trained model.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from wattmesh.community.model import Community
from wattmesh.energy.dispatch import DispatchPlan
from wattmesh.energy.events import conform_events, event_caps
from wattmesh.energy.planner import PlanWarning
from wattmesh.forecast.features import Site

FORECASTS = ("similar_days", "persistence", "perfect", "gbm")
#: How the report names each choice of forecasts.
FORECAST_NAMES = {
    "similar_days": "similar-days",
    "persistence": "persistence",
    "perfect": "perfect",
    "gbm": "LightGBM",
}

#: Where a community without coordinates is taken to be, for the clear sky of its PV forecasts: the
#: middle of Germany (SimBench's country), on German standard time as SimBench's profiles are.
GERMANY = Site(latitude=51.16, longitude=10.45, tz="Etc/GMT-1")

#: LightGBM settings of the simulator's forecasts, chosen on June 2016 of the default feeder (see
#: docs/forecast.md, "Inside the simulator"): 100,000 sampled rows keep a load fit near 2 s; PV, which
#: day-ahead without weather forecasts is mostly weather noise, gains from a short (shrunk) model; PV as
#: a clear-sky index without day-of-year inputs follows the season beyond the 120 days it learnt from.
GBM_OPTIONS = {
    "load": {"max_train_rows": 100_000},
    "pv": {
        "max_train_rows": 100_000,
        "n_estimators": 100,
        "pv_target": "clear_sky_index",
        "day_of_year": False,
    },
}


#: Processes that fit the LightGBM forecasters side by side (the forecasts do not depend on it).
FIT_WORKERS = 2
#: Whether the simulation's planner warm-starts its LPs and plans the homes without EVs by the fast
#: method (``run_mpc(warm_start=True)``, ``plan_homes(method="mixed")``): the same optimum of every plan,
#: several times faster, but where the optimum is not unique (no peak price) another optimal dispatch,
#: which moves peak KPIs by several percent; off, the plans are those of cold LPs, bit for bit.
PLAN_WARM_START = False


def community_site(community: Community) -> Site:
    """The community's location: the mean of its feeder's LV bus coordinates (SimBench), else ``GERMANY``.

    SimBench's profiles follow German standard time, hence the local calendar ``Etc/GMT-1``.
    """
    path = community.meta.get("net_path")
    try:
        with open(path) as file:
            bus = json.loads(json.load(file)["_object"]["bus"]["_object"])
        columns = bus["columns"]
        geo, kv = columns.index("geo"), columns.index("vn_kv")
        points = [json.loads(row[geo])["coordinates"] for row in bus["data"] if row[geo] and row[kv] < 1.0]
        longitude, latitude = np.mean(np.asarray(points, dtype=float), axis=0)
    except (TypeError, OSError, KeyError, ValueError, IndexError):
        return GERMANY
    return Site(latitude=float(latitude), longitude=float(longitude), tz=GERMANY.tz)


def past_community(scenario, days: int) -> Community | None:
    """The scenario's community over the ``days`` before its start, as far as the data goes.

    The same members, assets and profiles (the scenario's seed draws them over the data's whole year);
    ``None`` when the scenario starts at the data's first interval.
    """
    from dataclasses import replace

    from wattmesh.community.build import build_community
    from wattmesh.community.simbench_source import simbench_index

    first = simbench_index()[0]
    start = scenario["time.start"] or first
    begin = max(first, start - pd.Timedelta(days=days))
    if begin >= start:
        return None
    values = dict(scenario.values, **{"time.start": begin, "time.end": start})
    return build_community(replace(scenario, values=values))


def _measured(community: Community, past: Community | None, columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Load and generation [kW] of the members ``columns`` over ``past`` then ``community``, and the index."""
    if past is None or len(past.index) == 0:
        return community.load_kw[:, columns], community.generation_kw[:, columns], community.index
    if list(past.member_ids) != list(community.member_ids):
        raise ValueError("past: its members differ from the community's; build both from one scenario")
    step = community.index[1] - community.index[0]
    if past.index[-1] + step != community.index[0] or past.index[1] - past.index[0] != step:
        raise ValueError(
            f"past: ends at {past.index[-1]} in steps of {past.index[1] - past.index[0]}; expected the "
            f"interval before {community.index[0]} in steps of {step}"
        )
    load = np.vstack([past.load_kw[:, columns], community.load_kw[:, columns]])
    generation = np.vstack([past.generation_kw[:, columns], community.generation_kw[:, columns]])
    return load, generation, past.index.append(community.index)


def forecast_options(scenario) -> dict:
    """``plan_dispatch``'s forecast keyword arguments for a scenario: the homes' measured past over the
    ``energy.forecast_train_days`` before the start (:func:`past_community`; a real home has its meter's
    history) and the LightGBM retraining schedule."""
    if scenario["energy.forecast"] not in ("similar_days", "gbm"):
        return {}
    return {
        "past": past_community(scenario, scenario["energy.forecast_train_days"]),
        "retrain_days": scenario["energy.forecast_retrain_days"],
        "train_days": scenario["energy.forecast_train_days"],
    }


def plan_scenario_dispatch(
    community: Community,
    scenario,
    options: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
    plan_progress: Callable[[int, int], None] | None = None,
) -> DispatchPlan:
    """:func:`plan_dispatch` as the scenario's ``[energy]`` section asks: its forecasts, its re-planning
    period, its demand-response events (``energy.events``, resolved by ``load_scenario``) and
    :func:`forecast_options` (pass ``options`` when the caller has built them already); ``progress`` and
    ``plan_progress`` as for :func:`plan_dispatch`."""
    from wattmesh.energy.events import read_events

    if options is None:
        options = forecast_options(scenario)
    replan_every = max(1, scenario["energy.replan_minutes"] // scenario["time.interval_minutes"])
    events = read_events(scenario["energy.events"]) if scenario["energy.events"] else None
    return plan_dispatch(
        community,
        scenario["energy.forecast"],
        replan_every,
        events=events,
        progress=progress,
        plan_progress=plan_progress,
        **options,
    )


def day_ahead_forecasts(
    community: Community,
    homes: np.ndarray,
    targets: pd.DatetimeIndex,
    forecast: str,
    past: Community | None = None,
    retrain_days: int = 7,
    train_days: int = 120,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load and PV forecasts [kW] of the members ``homes`` (boolean mask) for ``targets``, issued 24 h ahead.

    ``forecast="similar_days"``: the similar-days average of each home's measurements (the past's
    included). ``forecast="gbm"``: the global LightGBM forecaster of ``wattmesh.forecast`` (kind
    ``"load"`` for every home, kind ``"pv"`` for the PV owners, at :func:`community_site`), retrained
    every ``retrain_days`` on the last ``train_days`` measured before the retraining (one thread);
    retraining times are counted from the community's first issue time, so any window's forecasts are
    those of the whole span. Until ``past`` and the span hold 7 days of measurements, and for homes
    without PV, the similar-days average stands in (NaN where even it has no history: the planner then
    uses persistence). Every forecast uses only what was measured at its issue time.

    Parameters
    ----------
    community : the simulated community; ``targets`` lie in its span
    homes : (M,) which members to forecast
    targets : interval starts to forecast
    forecast : ``"similar_days"`` or ``"gbm"``
    past : the same community over the days before its start (:func:`past_community`), if any
    retrain_days, train_days : the retraining schedule and window [days]
    progress : ``progress(done, total)`` after each LightGBM fit
    """
    from wattmesh.forecast.baselines import similar_days_average
    from wattmesh.forecast.gbm import GradientBoostingForecaster
    from wattmesh.forecast.online import issued_forecasts

    if forecast not in ("similar_days", "gbm"):
        raise ValueError(f"forecast: {forecast!r} is not one of similar_days, gbm")
    ids = community.members["member_id"][homes]
    load_kw, generation_kw, index = _measured(community, past, np.flatnonzero(homes))
    load = pd.DataFrame(load_kw, index=index, columns=ids)
    pv = pd.DataFrame(generation_kw, index=index, columns=ids)
    load_forecast = similar_days_average(load, "24h").reindex(targets)
    pv_forecast = similar_days_average(pv, "24h").reindex(targets)
    if forecast == "similar_days":
        return load_forecast, pv_forecast
    site = community_site(community)
    assets = community.assets
    pv_ids = [m for m in ids if m in set(assets.loc[assets["kind"] == "pv", "member_id"])]
    jobs = [("load", load)] + ([("pv", pv[pv_ids])] if pv_ids else [])
    for j, (kind, measured) in enumerate(jobs):
        options = GBM_OPTIONS[kind]

        def make(kind: str = kind, options: dict = options) -> GradientBoostingForecaster:
            return GradientBoostingForecaster(horizon="24h", quantiles=(), kind=kind, site=site, **options)

        def tick(done: int, total: int, j: int = j) -> None:
            if progress is not None:
                progress(j * total + done, len(jobs) * total)

        gbm = issued_forecasts(
            make,
            measured,
            targets,
            origin=community.index[0] - pd.Timedelta("24h"),
            retrain_every=pd.Timedelta(days=retrain_days),
            train_window=pd.Timedelta(days=train_days),
            progress=tick,
            workers=FIT_WORKERS,
        )
        frame = load_forecast if kind == "load" else pv_forecast
        frame[gbm.columns] = gbm.where(gbm.notna(), frame[gbm.columns])
    return load_forecast, pv_forecast


def _forecasters(
    kind: str,
    community: Community,
    homes: np.ndarray,
    rows: np.ndarray,
    past: Community | None,
    retrain_days: int,
    train_days: int,
    progress: Callable[[int, int], None] | None = None,
    pool: np.ndarray | None = None,
    made: tuple[pd.DataFrame, pd.DataFrame] | None = None,
):
    """The planner's (load, PV) forecasters for the members ``homes`` over the intervals ``rows``, and the
    day-ahead forecast frames [kW] behind them (None for persistence and perfect forecasts).

    LightGBM's global model learns from the members ``pool`` (default ``homes``), a superset of them.
    ``made``: day-ahead (load, PV) frames made before for a superset of the homes and intervals (by
    :func:`plan_dispatch` over the whole span, with the same options), taken instead of new fits.
    """
    from wattmesh.energy.forecasts import from_frame, perfect_forecast, persistence

    if kind == "persistence":
        return persistence, persistence, None
    ids = community.members["member_id"][homes]
    index = community.index[rows]
    if kind == "perfect":
        load = pd.DataFrame(community.load_kw[rows][:, homes], index=index, columns=ids)
        pv = pd.DataFrame(community.generation_kw[rows][:, homes], index=index, columns=ids)
        return perfect_forecast(load), perfect_forecast(pv), None
    pool = homes if pool is None else pool
    if made is not None:
        load, pv = (frame.reindex(index) for frame in made)
    else:
        load, pv = day_ahead_forecasts(community, pool, index, kind, past, retrain_days, train_days, progress)
    return from_frame(load[ids]), from_frame(pv[ids]), (load, pv)


def _planned_homes(community: Community) -> np.ndarray:
    """(M,) the members the planner dispatches: every one with a battery or an EV but the community's."""
    members, assets = community.members, community.assets
    owners = set(assets.loc[assets["kind"].isin(["battery", "ev"]), "member_id"])
    return (members["member_id"].isin(owners) & (members["kind"] != "community")).to_numpy()


def plan_dispatch(
    community: Community,
    forecast: str = "similar_days",
    replan_every: int = 4,
    peak_price_per_kw: float = 0.0,
    *,
    events: pd.DataFrame | None = None,
    past: Community | None = None,
    retrain_days: int = 7,
    train_days: int = 120,
    progress: Callable[[int, int], None] | None = None,
    plan_progress: Callable[[int, int], None] | None = None,
) -> DispatchPlan:
    """Run the MPC planner for every home with a battery or an EV over the community's span.

    Parameters
    ----------
    community : the simulated community
    forecast : one of ``FORECASTS`` (see :func:`day_ahead_forecasts` for similar_days and gbm)
    replan_every : intervals applied from each plan before re-planning
    peak_price_per_kw : the planner's price on each home's daily peak [currency/kW]
    events : demand-response events (``wattmesh.energy.events.DR_EVENTS``), known to the planner in
        advance: their import caps (``event_caps``) bound the planned homes' import, a community-wide event
        the planned homes' summed net import (members without a battery or an EV cannot respond); a
        reduction is measured from :func:`expected_import_kw`. Where a cap cannot be met, the planner
        exceeds it as little as it can and a ``PlanWarning`` names the event; the plan keeps the events,
        the caps and the expected import (``DispatchPlan.events`` and after)
    past : the same community before its start (:func:`past_community`): the homes' measured past,
        which the day-ahead forecasts learn from
    retrain_days, train_days : LightGBM retraining schedule and window (``forecast="gbm"``) [days]
    progress : ``progress(done, total)`` after each LightGBM fit
    plan_progress : ``plan_progress(done, total)`` as the MPC re-plans (see ``run_mpc``)
    """
    from wattmesh.energy.battery import member_batteries
    from wattmesh.energy.mpc import run_mpc

    if forecast not in FORECASTS:
        raise ValueError(f"energy.forecast {forecast!r} is not one of {', '.join(FORECASTS)}")
    members = community.members
    assets = community.assets
    planned = _planned_homes(community)
    ids = members["member_id"][planned]
    load = pd.DataFrame(community.load_kw[:, planned], index=community.index, columns=ids)
    pv = pd.DataFrame(community.generation_kw[:, planned], index=community.index, columns=ids)
    sessions = community.ev_sessions[community.ev_sessions["member_id"].isin(ids)].reset_index(drop=True)
    every_row = np.ones(len(community.index), dtype=bool)
    load_forecaster, pv_forecaster, frames = _forecasters(
        forecast, community, planned, every_row, past, retrain_days, train_days, progress
    )
    import_cap_kw = community_cap_kw = None
    if events is not None and len(events):
        expected = expected_import_kw(community, planned, forecast, load_forecaster, pv_forecaster, past)
        import_cap_kw, community_cap_kw = event_caps(events, community.index, list(ids), expected)
    dispatch = run_mpc(
        load,
        pv,
        community.retail_per_kwh,
        community.feed_in_per_kwh,
        member_batteries(assets, ids),
        load_forecaster=load_forecaster,
        pv_forecaster=pv_forecaster,
        replan_every=replan_every,
        ev_sessions=sessions if len(sessions) else None,
        peak_price_per_kw=peak_price_per_kw,
        import_cap_kw=import_cap_kw,
        community_import_cap_kw=community_cap_kw,
        progress=plan_progress,
        warm_start=PLAN_WARM_START,
        method="mixed" if PLAN_WARM_START else "auto",
    )
    if import_cap_kw is not None:
        for message in _exceeded_events(events, community.index, list(ids), expected, dispatch):
            warnings.warn(message, PlanWarning, stacklevel=2)
    shape = community.load_kw.shape

    def widen(a: np.ndarray, fill: float = 0.0) -> np.ndarray:
        out = np.full(shape, fill)
        out[:, planned] = a
        return out

    caps = {}
    if import_cap_kw is not None:
        caps = {
            "events": conform_events(events),
            "import_cap_kw": widen(import_cap_kw, np.nan),
            "community_import_cap_kw": community_cap_kw,
            "expected_import_kw": widen(expected),
        }

    return DispatchPlan(
        planned=planned,
        charge_kw=widen(dispatch.charge_kw),
        discharge_kw=widen(dispatch.discharge_kw),
        soc_kwh=widen(dispatch.soc_kwh),
        ev_kw=widen(dispatch.ev_kw),
        label=f"MPC planner ({FORECAST_NAMES[forecast]} forecasts, re-planned every {replan_every} intervals"
        + (f", {len(events)} demand-response event(s))" if import_cap_kw is not None else ")"),
        forecasts_kw=frames,
        **caps,
    )


def expected_import_kw(
    community: Community,
    homes: np.ndarray,
    forecast: str,
    load_forecaster,
    pv_forecaster,
    past: Community | None = None,
) -> np.ndarray:
    """The import [kW] (T, M) each of the members ``homes`` is expected to draw without demand response,
    over the community's span: the planner's day-ahead forecast of load minus PV, floored at 0; the baseline
    from which an event's ``reduction_kw`` is cut.

    With ``forecast="persistence"`` (which has no day-ahead forecast) it is the similar-days average of what
    each home measured (the usual customer baseline of demand-response programmes); ``"perfect"``: the
    measured values. Where no forecast exists yet (no history), it is 0.
    """
    ids = community.members["member_id"][homes]
    index = community.index
    if forecast == "persistence":
        load_hat, pv_hat = day_ahead_forecasts(community, homes, index, "similar_days", past)
        load_hat, pv_hat = load_hat[ids].fillna(0.0), pv_hat[ids].fillna(0.0)
    else:
        nothing = pd.DataFrame(np.zeros((0, len(ids))), index=index[:0], columns=ids)
        load_hat, pv_hat = load_forecaster(nothing, index), pv_forecaster(nothing, index)
    return np.maximum(load_hat.to_numpy(dtype=float) - pv_hat.to_numpy(dtype=float), 0.0)


def _exceeded_events(
    events: pd.DataFrame,
    index: pd.DatetimeIndex,
    ids: list[str],
    expected_kw: np.ndarray,
    dispatch,
) -> list[str]:
    """One message per event whose cap the dispatched import exceeds, saying by how much."""
    interval_h = (index[1] - index[0]).total_seconds() / 3600 if len(index) > 1 else 0.25
    messages = []
    table = conform_events(events)
    for i, event in enumerate(table.itertuples(index=False)):
        home_cap, community_cap = event_caps(table.iloc[[i]], index, ids, expected_kw)
        if event.member_id:
            m = ids.index(event.member_id)
            over = np.maximum(dispatch.import_kw[:, m] - home_cap[:, m], 0.0)
            who = f"home {event.member_id!r}"
        else:
            over = np.maximum(dispatch.net_kw.sum(axis=1) - community_cap, 0.0)
            who = "the planned homes together"
        over = np.nan_to_num(over, nan=0.0)
        if over.max(initial=0.0) > 1e-6:
            messages.append(
                f"dr event {event.event_id!r}: import cap on {who} exceeded by {over.sum() * interval_h:.3f} kWh "
                f"over {(over > 1e-6).sum()} interval(s), at most {over.max():.3f} kW (the batteries and EVs "
                "could not meet it, or the forecasts missed)"
            )
    return messages


def compare_home_strategies(
    community: Community,
    start: pd.Timestamp,
    end: pd.Timestamp,
    forecast: str,
    *,
    past: Community | None = None,
    retrain_days: int = 7,
    train_days: int = 120,
    progress: Callable[[int, int], None] | None = None,
    replan_every: int = 1,
    plan: DispatchPlan | None = None,
) -> pd.DataFrame:
    """No battery, the self-consumption rule, the MPC planner and the perfect-foresight bound, side by side.

    For the homes with a battery, from ``start`` to ``end`` (the report uses its typical week: the bound
    is one LP over the whole window). Columns: bill, mean daily peak, objective, objective / bound and
    the share of the bound's savings (see :func:`wattmesh.energy.compare.compare_strategies`). The
    day-ahead forecasts are those of the whole span (``past``, ``retrain_days`` and ``train_days`` as
    for :func:`plan_dispatch`); LightGBM's are fitted on every home the simulation plans. ``progress``:
    ``progress(done, total)`` as the MPC re-plans, every ``replan_every`` intervals (the simulation's
    period, so that the row is the planner the simulation ran). ``plan``: the simulation's plan
    (:func:`plan_dispatch` with the same forecast options), whose day-ahead forecasts are taken instead
    of fitting LightGBM again: the same forecasts, since the retraining times count from the span's start.
    """
    from wattmesh.energy.battery import member_batteries
    from wattmesh.energy.compare import compare_strategies

    members = community.members
    assets = community.assets
    owners = set(assets.loc[assets["kind"] == "battery", "member_id"])
    homes = (members["member_id"].isin(owners) & (members["kind"] != "community")).to_numpy()
    rows = (community.index >= start) & (community.index <= end)
    ids = members["member_id"][homes]
    load = pd.DataFrame(community.load_kw[rows][:, homes], index=community.index[rows], columns=ids)
    pv = pd.DataFrame(community.generation_kw[rows][:, homes], index=community.index[rows], columns=ids)
    # LightGBM's global model learns from every home the simulation plans, as in plan_dispatch.
    planned = _planned_homes(community)
    made = None if plan is None else plan.forecasts_kw
    load_forecaster, pv_forecaster, _ = _forecasters(
        forecast, community, homes, rows, past, retrain_days, train_days, pool=planned, made=made
    )
    table, _ = compare_strategies(
        load,
        pv,
        community.retail_per_kwh[rows],
        community.feed_in_per_kwh[rows],
        member_batteries(assets, ids),
        forecasters={f"{forecast.replace('_', '-')} forecasts": (load_forecaster, pv_forecaster)},
        progress=progress,
        replan_every=replan_every,
    )
    table.attrs["start"] = f"{start:%Y-%m-%d %H:%M}"
    table.attrs["end"] = f"{end:%Y-%m-%d %H:%M} UTC"
    return table
