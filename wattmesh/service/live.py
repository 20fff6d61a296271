"""`wattmesh live`: the exchange and one home agent per member of a scenario on loopback, a day on a fast
clock; then the same outputs as `wattmesh simulate` (report, trades, members, ledger).

The exchange runs as its own process (``python -m wattmesh.service``) on the co-op's manual clock, which a
clock thread here moves forward ``speed`` times faster than real time (60: a 15-min interval in 15 s).
The agents (:class:`wattmesh.service.agent.HomeAgent`, one thread each, their meters the scenario's
simulated homes) trade, meter and audit through the HTTP API like any agent. When the last interval is
delivered and every agent's readings are in, the exchange stops and the outputs are read off its
journal: ``trades.jsonl`` (the trade records), ``orders.csv`` (every order the agents posted, to clear
them again offline), ``intervals.csv``, ``members.csv``, ``kpis.csv``, ``report.html`` and a copy of the
ledger, ``ledger.sqlite``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import typer

from wattmesh.service.agent import ISO, HomeAgent, iso, meters_from_community

logger = logging.getLogger("wattmesh.live")


# -- the exchange's process ----------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(folder: Path, port: int, log_path: Path | None = None, timeout_s: float = 120.0):
    """Start ``python -m wattmesh.service FOLDER --port PORT`` and wait for ``/health``: the process."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 (the child holds it)
    process = subprocess.Popen([sys.executable, "-m", "wattmesh.service", str(folder), "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the exchange exited with {process.returncode} (log: {log_path})")
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_server(process)
    raise TimeoutError(f"the exchange did not answer on {url} within {timeout_s} s")


def stop_server(process: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """Stop the exchange by its PID (SIGTERM, then SIGKILL after ``timeout_s``)."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


class ClockDriver(threading.Thread):
    """Moves the exchange's manual market clock ``speed`` times faster than real time, until ``end``.

    Each move advances the market clock by the real time since the last move times ``speed``, counting at
    most ``max_stall_s`` of real time: when the exchange stalls (a slow clearing, a busy machine), the market
    clock waits for it instead of jumping over the next gate, as a wall clock at real speed would not (a
    1 s stall at 60x is a minute of market time, at real speed one second).

    Parameters
    ----------
    client : the operator's :class:`~wattmesh.service.client.ExchangeClient`
    start, end : market times [UTC]
    speed : market seconds per real second
    tick_s : real seconds between clock moves
    gates : (gate time, delivery start) pairs; with ``is_ready`` the clock stops short of each gate until
        ``is_ready(delivery start)`` holds or ``ready_timeout_s`` passed (lock step, for tests)
    is_ready : see ``gates``
    ready_timeout_s : the longest wait at a gate [s, real time]
    max_stall_s : the most real time one move makes up for [s]
    """

    def __init__(self, client, start: pd.Timestamp, end: pd.Timestamp, speed: float, tick_s: float = 0.05,
                 gates=(), is_ready=None, ready_timeout_s: float = 10.0, max_stall_s: float = 1.0):  # fmt: skip
        super().__init__(daemon=True, name="market-clock")
        self.client, self.start_at, self.end_at = client, pd.Timestamp(start), pd.Timestamp(end)
        self.speed, self.tick_s, self.max_stall_s = float(speed), float(tick_s), float(max_stall_s)
        self.gates = sorted((pd.Timestamp(g), pd.Timestamp(i)) for g, i in gates)
        self.is_ready, self.ready_timeout_s = is_ready, float(ready_timeout_s)
        self.stop_event = threading.Event()
        self.market_time = self.start_at
        #: delivery starts whose gate the clock passed before every agent was ready (lock step only)
        self.forced: list[pd.Timestamp] = []

    def _next_time(self, step_s: float) -> pd.Timestamp:
        target = min(self.market_time + pd.Timedelta(seconds=step_s), self.end_at)
        if self.is_ready is None:
            return target
        for gate, interval in self.gates:
            if self.market_time < gate <= target:
                waited = time.monotonic()
                while not self.is_ready(interval) and not self.stop_event.is_set():
                    if time.monotonic() - waited > self.ready_timeout_s:
                        self.forced.append(interval)
                        break
                    self.stop_event.wait(0.01)
                # one gate per move: the agents order for the next interval once this one has cleared
                return min(target, gate + pd.Timedelta(seconds=1))
        return target

    def run(self) -> None:
        last = time.monotonic()
        while not self.stop_event.is_set():
            now = time.monotonic()
            step_s = min(now - last, self.max_stall_s) * self.speed
            last = now
            target = self._next_time(step_s)
            if target > self.market_time:
                try:
                    response = self.client.set_clock(iso(target))
                    if response.status_code == 200:
                        self.market_time = target
                    else:
                        logger.warning("clock move to %s refused: %s", iso(target), response.text[:200])
                except httpx.TransportError as err:
                    logger.warning("clock move to %s failed: %s", iso(target), err)
            if self.market_time >= self.end_at:
                return
            self.stop_event.wait(self.tick_s)


# -- the run -------------------------------------------------------------------------------------------
@dataclass
class LiveResult:
    """What a live run produced: the output files, the co-op folder, the exchange's URL, the agents' figures.

    Attributes
    ----------
    paths : output name -> file
    folder : the co-op folder (exchange.toml, journal, ledger, keys)
    url : where the exchange listened
    intervals : the delivery starts traded
    agent_cpu_s : member -> CPU time its agent spent in its turns [s]
    on_time_share : share of the intervals for which every agent's decision was in before gate closure
    late : (member, interval) pairs whose order was refused or missing at gate closure
    alarms : member -> its agent's alarms (history rewritten)
    problems : the statements' balance problems (:func:`wattmesh.exchange.balance_problems`); empty: balanced
    server : the exchange's process (still running with ``keep_serving``)
    """

    paths: dict[str, Path]
    folder: Path
    url: str
    intervals: pd.DatetimeIndex
    agent_cpu_s: dict[str, float] = field(default_factory=dict)
    on_time_share: float = float("nan")
    late: list = field(default_factory=list)
    alarms: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)
    server: object = None


def make_live_coop(folder: Path, scenario, community, start: pd.Timestamp, gate_closure_s: int = 300):
    """A co-op folder on the manual clock for a scenario's members, tariffs and mechanism, from ``start``."""
    from wattmesh.service.coop import write_coop

    tariff = {"retail_per_kwh": scenario["tariff.retail_per_kwh"], "feed_in_per_kwh": scenario["tariff.feed_in_per_kwh"],
              "local_fee_per_kwh": scenario["tariff.local_fee_per_kwh"],
              "retail_tou": [dict(w) for w in scenario.retail_tou],
              "feed_in_tou": [dict(w) for w in scenario.feed_in_tou]}  # fmt: skip
    market = {"mechanism": scenario["market.mechanism"], "price_rule": scenario["market.price_rule"],
              "interval_minutes": int(scenario["time.interval_minutes"]), "clock": "manual", "start": iso(start),
              "gate_closure_seconds": int(gate_closure_s), "horizon_hours": 48.0}  # fmt: skip
    return write_coop(folder, community.members[["member_id", "kind"]], name=scenario["name"],
                      currency=scenario["currency"], timezone=scenario["timezone"], seed=int(scenario["seed"]),
                      market=market, tariff=tariff)  # fmt: skip


def coop_tariffs(coop):
    """``tariffs(index) -> (retail, feed_in)`` arrays of a co-op [currency/kWh] (time-of-use windows applied)."""
    from wattmesh.community.tariffs import tou_price_series

    def tariffs(index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
        retail = tou_price_series(index, coop.retail_per_kwh, list(coop.retail_tou), coop.timezone)
        feed_in = tou_price_series(index, coop.feed_in_per_kwh, list(coop.feed_in_tou), coop.timezone)
        return np.asarray(retail, float), np.asarray(feed_in, float)

    return tariffs


def run_live(
    out: str | Path,
    scenario_path: str | None = None,
    *,
    day: str | None = None,
    intervals: int | None = None,
    speed: float = 60.0,
    members: int | None = None,
    strategy: str = "truthful",
    forecaster: str = "auto",
    port: int | None = None,
    gate_closure_s: int = 300,
    on_ready=None,
    stop: threading.Event | None = None,
    keep_serving: bool = False,
    lockstep: bool = False,
) -> LiveResult:
    """Run the exchange and the agents for a day (or ``intervals`` intervals) and write the outputs.

    Parameters
    ----------
    out : the output folder (must not exist or be empty); the co-op folder is ``out/coop``
    scenario_path : a scenario TOML, or None for the packaged default
    day : the first interval to trade (a UTC date or time); default the 15th day of the scenario at
        midnight UTC (two weeks of history for the forecasters)
    intervals : trade only this many intervals from the day's start
    speed : market seconds per real second
    members : this many members only: the community battery (where the scenario has one) and the homes,
        half of them with generation where the scenario has enough (tests, benchmarks)
    strategy, forecaster : the agents' (see :class:`~wattmesh.service.agent.HomeAgent`)
    port : the exchange's port on 127.0.0.1 (default a free one)
    gate_closure_s : gate closure before delivery [s, market time]
    on_ready : called with (url, coop) once the exchange answers (``wattmesh live`` prints the links)
    stop : set it to end the run early (Ctrl-C); the outputs then cover the intervals settled
    keep_serving : leave the exchange running (the caller stops ``result.server``)
    lockstep : the clock stops short of each gate until every agent has decided for its interval (at
        most 10 s): a run as fast as the agents go, whatever the machine's load (tests); without it the
        clock runs free and a late agent misses the gate (``wattmesh live``, the benchmark)
    """
    from wattmesh.community.build import build_community
    from wattmesh.community.scenario import load_scenario
    from wattmesh.service.auth import secret_from_key_file
    from wattmesh.service.client import ExchangeClient

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"--out {out}: the folder is not empty; choose a new one")
    out.mkdir(parents=True, exist_ok=True)
    stop = stop or threading.Event()
    scenario = load_scenario(None if scenario_path in (None, "default") else scenario_path)
    community = build_community(scenario)
    if members is not None:
        community = _first_members(community, members)
    step = pd.Timedelta(minutes=int(scenario["time.interval_minutes"]))
    if day:
        start = pd.Timestamp(day)
        start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    else:
        start = community.index[0].floor("1D") + pd.Timedelta(days=14)
    if start.value % step.value:
        raise ValueError(f"--day {day}: not the start of a {step} interval")
    n = int(pd.Timedelta(days=1) / step) if intervals is None else int(intervals)
    index = pd.date_range(start, periods=n, freq=step)
    if index[-1] > community.index[-1]:
        raise ValueError(
            f"--day {start.date()}: the scenario ends at {community.index[-1]}; choose an earlier day"
        )
    coop = make_live_coop(out / "coop", scenario, community, start, gate_closure_s)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(coop.folder, port, out / "exchange.log")
    agents: dict[str, HomeAgent] = {}
    threads = []
    try:
        operator = ExchangeClient(url, "operator", secret_from_key_file(coop.key_dir / "operator.key"))
        meters = meters_from_community(community)
        tariffs = coop_tariffs(coop)
        end = index[-1] + step
        if scenario["energy.events"]:
            from wattmesh.tables import read_events

            post_events(operator, read_events(scenario["energy.events"]), index[0], end, list(meters))
        for member_id, meter in meters.items():
            agent = HomeAgent(url, member_id, secret_from_key_file(coop.key_dir / f"{member_id}.key"), meter,
                              out / "agents" / member_id, strategy=strategy, forecaster=forecaster,
                              tariffs=tariffs, fee_per_kwh=coop.local_fee_per_kwh, seed=coop.seed)  # fmt: skip
            agent.until = end
            agents[member_id] = agent
        # forecasts first (LightGBM fits), so that no agent trains while the clock runs
        _prepare_forecasts(agents, index[0])
        if on_ready is not None:
            on_ready(url, coop)
        agent_stop = threading.Event()
        for agent in agents.values():
            thread = threading.Thread(target=_run_agent, args=(agent, agent_stop, end), daemon=True,
                                      name=f"agent-{agent.member_id}")  # fmt: skip
            thread.start()
            threads.append(thread)
        first_gate = index[0] - pd.Timedelta(seconds=gate_closure_s) - pd.Timedelta(seconds=1)
        gate = pd.Timedelta(seconds=gate_closure_s)

        def is_ready(interval: pd.Timestamp) -> bool:
            key = iso(interval)
            return all(
                key in a.state.ordered or not t.is_alive()
                for a, t in zip(agents.values(), threads, strict=True)
            )

        # the agents subscribe and decide for the first interval before the clock starts (the clock starts
        # a second before that interval's gate: at 60x, 119 agents starting at once would miss it)
        deadline = time.monotonic() + 120.0
        while not is_ready(index[0]) and time.monotonic() < deadline and not stop.is_set():
            time.sleep(0.05)
        clock = ClockDriver(operator, first_gate, end + step, speed, gates=[(t - gate, t) for t in index],
                            is_ready=is_ready if lockstep else None)  # fmt: skip
        clock.start()
        while any(t.is_alive() for t in threads) and not stop.is_set():
            if not clock.is_alive() and clock.market_time < clock.end_at:
                raise RuntimeError(f"the market clock stopped at {clock.market_time}; see the log")
            time.sleep(0.1)
        clock.stop_event.set()
        agent_stop.set()
        clock.join(5)
        for thread in threads:
            thread.join(10)
    finally:
        if not keep_serving:
            stop_server(server)
    result = write_live_outputs(out, coop, index)
    result.url = url
    result.agent_cpu_s = {m: a.cpu_s for m, a in agents.items()}
    result.alarms = {m: a.alarms for m, a in agents.items() if a.alarms}
    result.late, result.on_time_share = on_time(out, coop, index, agents)
    result.server = server
    return result


def post_events(
    operator, events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, member_ids: list[str]
) -> int:
    """Post the scenario's demand-response events (a ``DR_EVENTS`` table) that overlap ``[start, end)`` to the
    exchange as the operator, as a DSO's would arrive (``POST /operator/dr-events``); the agents plan with
    them and the market page shows them. An event for a member not in the run is left out (logged).
    Returns the number posted.

    Raises
    ------
    ValueError
        the exchange refused the events (its answer names the event and field).
    """
    overlap = (events["start"] < end) & (events["end"] > start)
    absent = overlap & (events["member_id"] != "") & ~events["member_id"].isin(member_ids)
    for event_id, member_id in events.loc[absent, ["event_id", "member_id"]].itertuples(index=False):
        logger.info("dr event %r: member %r is not in this run; left out", event_id, member_id)
    rows = [
        {"event_id": row.event_id, "start": iso(row.start), "end": iso(row.end),
         "limit_kw": None if np.isnan(row.limit_kw) else float(row.limit_kw),
         "reduction_kw": None if np.isnan(row.reduction_kw) else float(row.reduction_kw),
         "member_id": row.member_id, "source": row.source}
        for row in events[overlap & ~absent].itertuples(index=False)
    ]  # fmt: skip
    if not rows:
        return 0
    answer = operator.call("POST", "/operator/dr-events", {"events": rows})
    if answer.status_code != 200:
        raise ValueError(
            f"energy.events: the exchange refused them ({answer.status_code}): {answer.text[:300]}"
        )
    return len(rows)


def _run_agent(agent: HomeAgent, stop: threading.Event, end: pd.Timestamp) -> None:
    try:
        agent.run(stop, until=end)
    except Exception:  # noqa: BLE001 (one agent's failure is logged; the others trade on)
        logger.exception("agent %s failed", agent.member_id)


def _prepare_forecasts(agents: dict[str, HomeAgent], day_start: pd.Timestamp) -> None:
    for agent in agents.values():
        first = agent.meter.row(day_start)
        agent.forecast_kwh(first, np.arange(first, first + 1))


def _first_members(community, n: int):
    from dataclasses import replace

    makes = np.asarray(community.generation_kw).sum(axis=0) > 0
    shared = np.flatnonzero((community.members["kind"] == "community").to_numpy())[: max(0, n - 2)]
    producers = np.setdiff1d(np.flatnonzero(makes), shared)
    others = np.setdiff1d(np.flatnonzero(~makes), shared)
    half = min(len(producers), (n - len(shared) + 1) // 2)
    keep = np.sort(np.concatenate([shared, producers[:half], others[: n - len(shared) - half]]))
    ids = community.member_ids[keep]
    return replace(
        community,
        members=community.members.iloc[keep].reset_index(drop=True),
        assets=community.assets[community.assets["member_id"].isin(ids)].reset_index(drop=True),
        load_kw=np.asarray(community.load_kw)[:, keep],
        generation_kw=np.asarray(community.generation_kw)[:, keep],
        ev_sessions=community.ev_sessions[community.ev_sessions["member_id"].isin(ids)].reset_index(drop=True)
        if "member_id" in community.ev_sessions
        else community.ev_sessions,
    )


def on_time(out: Path, coop, index: pd.DatetimeIndex, agents: dict[str, HomeAgent]) -> tuple[list, float]:
    """(member, interval) pairs whose decision was not in before the gate (a refused or missing order), and
    the share of intervals in which every agent's was."""
    late = set()
    for member_id in agents:
        log = out / "agents" / member_id / "requests.jsonl"
        lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
        ordered = {
            x["what"]["interval"] for x in lines if x["what"].get("kind") == "order" and x["status"] == 200
        }
        state = json.loads((out / "agents" / member_id / "state.json").read_text())
        decided = set(state["ordered"])
        for stamp in index.strftime(ISO):
            if stamp not in decided and stamp not in ordered:
                late.add((member_id, stamp))
        for x in lines:
            if x["what"].get("kind") == "order" and x["status"] != 200:
                late.add((member_id, x["what"]["interval"]))
    bad = {interval for _, interval in late}
    return sorted(late), 1.0 - len(bad) / len(index)


# -- outputs -------------------------------------------------------------------------------------------
def write_live_outputs(out: Path, coop, index: pd.DatetimeIndex) -> LiveResult:
    """Read the journal of the stopped exchange and write trades, orders, intervals, members, KPIs, the
    report and a copy of the ledger into ``out``."""
    from wattmesh.exchange import balance_problems
    from wattmesh.service.engine import Exchange

    stamps = list(index.strftime(ISO))
    exchange = Exchange(coop).open()
    try:
        state = exchange.state
        trades = [t for s in stamps if s in state.clearings for t in state.clearings[s]["trades"]]
        orders = pd.DataFrame([o for o in state.orders.values() if o["delivery_start"] in set(stamps)])
        lines = pd.DataFrame([ln for s in stamps for ln in state.statements.get(s, ())])
        tariffs = {s: (state.clearings[s]["retail_per_kwh"], state.clearings[s]["feed_in_per_kwh"])
                   for s in stamps if s in state.clearings}  # fmt: skip
        reports = {s: state.clearings[s]["report"] for s in stamps if s in state.clearings}
        members = pd.DataFrame([{"member_id": m.member_id, "kind": m.kind} for m in state.members.values()])
    finally:
        exchange.close()
    paths = {name: out / file for name, file in (("trades", "trades.jsonl"), ("orders", "orders.csv"),
             ("intervals", "intervals.csv"), ("members", "members.csv"), ("kpis", "kpis.csv"),
             ("report", "report.html"), ("ledger", "ledger.sqlite"))}  # fmt: skip
    with open(paths["trades"], "w") as handle:
        for trade in trades:
            handle.write(json.dumps(trade) + "\n")
    orders.to_csv(paths["orders"], index=False)
    intervals = pd.DataFrame({"time": stamps})
    intervals["retail_per_kwh"] = [tariffs.get(s, (np.nan, np.nan))[0] for s in stamps]
    intervals["feed_in_per_kwh"] = [tariffs.get(s, (np.nan, np.nan))[1] for s in stamps]
    intervals["local_price_per_kwh"] = [reports.get(s, {}).get("mean_price_per_kwh") for s in stamps]
    intervals["local_traded_kwh"] = [
        sum(t["energy_amount_kwh"] for t in trades if t["interval"] == s) for s in stamps
    ]
    if not lines.empty:
        lines["consumption_kwh"] = np.maximum(-lines["metered_kwh"], 0.0)
        lines["generation_kwh"] = np.maximum(lines["metered_kwh"], 0.0)
        retail = lines["interval"].map(lambda s: tariffs[s][0])
        feed_in = lines["interval"].map(lambda s: tariffs[s][1])
        lines["bill_alone"] = lines["consumption_kwh"] * retail - lines["generation_kwh"] * feed_in
        per_interval = lines.groupby("interval")[["import_kwh", "export_kwh", "consumption_kwh"]].sum()
        intervals = intervals.join(per_interval, on="time")
        per_member = lines.groupby("member_id")[["metered_kwh", "bought_kwh", "sold_kwh", "import_kwh",
                                                 "export_kwh", "bill", "bill_alone"]].sum()  # fmt: skip
        table = members.join(per_member, on="member_id")
        table["saving_p2p"] = table["bill_alone"] - table["bill"]
        trades_frame = pd.DataFrame(trades)
        if trades_frame.empty:
            trades_frame = pd.DataFrame(columns=["buyer", "seller", "energy_amount_kwh", "interval"])
        checked = lines.drop(columns=["consumption_kwh", "generation_kwh", "bill_alone"])
        checked["interval"] = pd.to_datetime(checked["interval"], utc=True)
        problems = balance_problems(checked, trades_frame)
        consumption = float(lines["consumption_kwh"].sum())
        kpis = {
            "intervals settled": lines["interval"].nunique(),
            "traded locally [kWh]": float(lines["bought_kwh"].sum()),
            "grid import [kWh]": float(lines["import_kwh"].sum()),
            "grid export [kWh]": float(lines["export_kwh"].sum()),
            "self-sufficiency of net consumption [%]": 100 * (1 - float(lines["import_kwh"].sum()) / consumption)
            if consumption > 0 else float("nan"),
            f"community bill [{coop.currency}]": float(lines["bill"].sum()),
            f"members' saving vs no sharing [{coop.currency}]": float(table["saving_p2p"].sum()),
            "balance problems": len(problems),
        }  # fmt: skip
    else:
        table, kpis, problems = members, {"intervals settled": 0}, []
    intervals.to_csv(paths["intervals"], index=False)
    table.to_csv(paths["members"], index=False)
    pd.Series(kpis, name="live").to_csv(paths["kpis"])
    _copy_sqlite(coop.ledger_path, paths["ledger"])
    _write_report(paths["report"], coop, index, kpis, intervals, table)
    return LiveResult(paths=paths, folder=coop.folder, url="", intervals=index, problems=problems)


def _copy_sqlite(source: Path, target: Path) -> None:
    """Copy a SQLite file consistently (the backup API), never half of it."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _write_report(
    path: Path, coop, index, kpis: dict, intervals: pd.DataFrame, members: pd.DataFrame
) -> None:
    import html

    rows = "".join(f"<tr><th scope='row'>{html.escape(str(k))}</th><td>{v:.3f}</td></tr>" if isinstance(v, float)
                   else f"<tr><th scope='row'>{html.escape(str(k))}</th><td>{v}</td></tr>" for k, v in kpis.items())  # fmt: skip
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(coop.name)}: live day</title>
<style>body{{font:15px system-ui,sans-serif;max-width:1000px;margin:auto;padding:8px;color:#111}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #bbb;padding:3px 6px;text-align:left}}
.scroll{{overflow-x:auto}}</style></head><body>
<h1>{html.escape(coop.name)}: a live day on the exchange</h1>
<p>{len(index)} intervals from {index[0]:%Y-%m-%d %H:%M} UTC, mechanism {html.escape(coop.mechanism)},
every home traded by its agent through the exchange's API. Energy in kWh, money in {html.escape(coop.currency)}.</p>
<h2>Community</h2><table>{rows}</table>
<h2>Intervals</h2><div class="scroll">{intervals.to_html(index=False, float_format=lambda x: f"{x:.4f}", na_rep="")}</div>
<h2>Members</h2><div class="scroll">{members.to_html(index=False, float_format=lambda x: f"{x:.3f}", na_rep="")}</div>
</body></html>"""
    path.write_text(body)


# -- the command line ----------------------------------------------------------------------------------
def live_command(
    scenario: str = typer.Argument("default", help="A scenario TOML file, or 'default'."),
    out: Path = typer.Option(Path("live-out"), "--out", help="Output folder (new or empty)."),
    day: str = typer.Option(None, help="First interval to trade, UTC (default the scenario's 15th day)."),
    intervals: int = typer.Option(None, help="Trade this many intervals (default a day)."),
    speed: float = typer.Option(60.0, help="Market seconds per real second \\[-] (60: 15 min in 15 s)."),
    members: int = typer.Option(None, help="Only this many members (default all of the scenario)."),
    strategy: str = typer.Option("truthful", help="The agents' order prices: truthful or zic."),
    forecaster: str = typer.Option("auto", help="auto (LightGBM with a week of history), lightgbm or naive."),
    port: int = typer.Option(8000, help="The exchange's port on 127.0.0.1 (0: a free one)."),
) -> None:
    """Run the exchange and one home agent per member on loopback for a day on a fast clock; write the
    same outputs as `wattmesh simulate` (report, trades, members, ledger)."""
    from wattmesh.service.auth import secret_from_key_file
    from wattmesh.service.pages import page_token

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()

    def ready(url, coop):
        token = page_token(secret_from_key_file(coop.key_dir / "operator.key"), "operator")
        first = coop.members_file()[0]["member_id"]
        typer.echo(f"market page:   {url}/")
        typer.echo(f"operator page: {url}/session?token={token}&next=/operator")
        typer.echo(f"member pages:  {url}/member/{first} (after signing in as the operator above)")

    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        result = run_live(out, scenario, day=day, intervals=intervals, speed=speed, members=members,
                          strategy=strategy, forecaster=forecaster, port=port or None, on_ready=ready,
                          stop=stop)  # fmt: skip
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    finally:
        signal.signal(signal.SIGINT, previous)
    typer.echo(
        f"{len(result.intervals)} intervals, on time {100 * result.on_time_share:.1f} %; outputs in {out}:"
    )
    for name, path in result.paths.items():
        typer.echo(f"  {name}: {path}")
    if result.problems:
        typer.echo(f"balance problems: {result.problems[:5]}", err=True)
        raise typer.Exit(3)
    if result.alarms:
        typer.echo(f"agents' alarms: {result.alarms}", err=True)
        raise typer.Exit(3)
