"""The simulation clock: runs a community through the core, interval by interval, vectorised over members.

Per market interval: own generation meets own consumption; batteries follow their dispatch rule; each
member's remaining surplus becomes an ask at the feed-in price and each deficit a bid at the retail price
less the local grid fee; the exchange step clears them and settles each member's trades and its deviation
from them at the utility's prices (:mod:`wattmesh.exchange`, the same step the live exchange runs). The
driver holds no market or settlement logic of its own: it dispatches, calls the step on a week of
intervals at once and keeps the totals. Three cases run side by side on the same data:

- ``alone``: no local market and no batteries: every home trades only with the utility;
- ``p2p``: the local market, no batteries;
- ``p2p_battery``: the local market, home batteries (self-consumption rule) and the community battery.

The community battery charges from the community's surplus left after the home batteries and discharges
into its deficit, buying and selling on the local market like any member.

Time is processed in chunks of a week: per-member and per-interval totals are always kept; the full
(intervals, members) arrays only with ``detail=True`` (the default), since at 1,000 members and a year
each such array takes 280 MB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import cached_property

import numpy as np
import pandas as pd

from wattmesh.community.model import Community
from wattmesh.energy.dispatch import DispatchPlan, plan_rows
from wattmesh.energy.rules import dispatch_rule_batteries, ev_charge_on_arrival_kw
from wattmesh.exchange import clear_positions, settle_positions
from wattmesh.market.batch import MECHANISMS
from wattmesh.market.orders import trade_records
from wattmesh.market.result import BatchTrades, without_small_trades

CASES = ("alone", "p2p", "p2p_battery")
CHUNK_INTERVALS = 96 * 7
ENERGY = (
    "consumption_kwh",
    "generation_kwh",
    "charge_kwh",
    "discharge_kwh",
    "bought_kwh",
    "sold_kwh",
    "import_kwh",
    "export_kwh",
)
MONEY = ("paid_local", "received_local", "fee_paid", "paid_utility", "received_utility")

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CaseDetail:
    """One case's full (intervals, members) arrays; member m is column m of the community's members.

    Energy balance per member and interval (all kWh):
    generation + discharge + bought + import = consumption + charge + sold + export

    Attributes
    ----------
    consumption_kwh : household load plus EV charging [kWh]
    generation_kwh : PV and wind output [kWh]
    charge_kwh, discharge_kwh : battery energy at the meter, into and out of the battery [kWh]
    soc_kwh : battery state of charge at the end of each interval [kWh]
    bought_kwh, sold_kwh : energy bought and sold on the local market [kWh]
    import_kwh, export_kwh : energy bought from and sold to the utility [kWh]
    paid_local : paid for local energy, grid fees included [currency]
    received_local : received for local energy [currency]
    fee_paid : grid fees within ``paid_local`` [currency]
    paid_utility, received_utility : import at retail, export at the feed-in price [currency]
    """

    consumption_kwh: np.ndarray
    generation_kwh: np.ndarray
    charge_kwh: np.ndarray
    discharge_kwh: np.ndarray
    soc_kwh: np.ndarray
    bought_kwh: np.ndarray
    sold_kwh: np.ndarray
    import_kwh: np.ndarray
    export_kwh: np.ndarray
    paid_local: np.ndarray
    received_local: np.ndarray
    fee_paid: np.ndarray
    paid_utility: np.ndarray
    received_utility: np.ndarray


@dataclass
class CaseResult:
    """Energy and money of one case.

    Attributes
    ----------
    name : "alone", "p2p" or "p2p_battery"
    by_member : per-member totals over the span, (M,) for every name in ENERGY and MONEY [kWh, currency]
    by_interval : per-interval totals over members, (T,) for every name in ENERGY, plus ``own_use_kwh``
        (generation used behind the meter) and, split into ``home_`` and ``community_`` members,
        ``charge_kwh``, ``discharge_kwh``, ``soc_kwh`` and ``bought_kwh`` [kWh]
    local_price_per_kwh : (T,) mean local price, NaN where nothing traded locally [currency/kWh]
    trade_arrays : the local trades as arrays (interval row, seller and buyer member columns, energy,
        price, fee), where the case records trades (the full case), else None
    community : the simulated community
    seed, mechanism : how the market was cleared
    detail : the full (T, M) arrays (:class:`CaseDetail`), when kept (``simulate(..., detail=True)``)
    """

    name: str
    by_member: dict[str, np.ndarray]
    by_interval: dict[str, np.ndarray]
    local_price_per_kwh: np.ndarray
    trade_arrays: BatchTrades | None
    community: Community = field(repr=False)
    seed: int = 0
    mechanism: str = "pay_as_clear"
    detail: CaseDetail | None = None

    @property
    def bill(self) -> np.ndarray:
        """(M,) net energy bill per member over the span [currency]; negative is a net income."""
        m = self.by_member
        return m["paid_utility"] + m["paid_local"] - m["received_utility"] - m["received_local"]

    @cached_property
    def trades(self) -> pd.DataFrame | None:
        """The case's trade records (:data:`wattmesh.tables.TRADES`), or None where it records none."""
        if self.trade_arrays is None:
            return None
        community = self.community
        ids = community.member_ids.to_numpy()
        return trade_records(
            self.trade_arrays,
            self.mechanism,
            ids,
            ids,
            community.index,
            scope=run_scope(community, self.seed),
            compact=True,
        )

    def frame(self, name: str) -> pd.DataFrame:
        """One detail array as an intervals x members frame (UTC interval starts, member ids) [its unit].

        Raises
        ------
        ValueError
            if the case kept no detail, or ``name`` is not a field of :class:`CaseDetail`.
        """
        if self.detail is None:
            raise ValueError(f"case {self.name!r} kept no detail; simulate with detail=True")
        names = [f.name for f in fields(CaseDetail)]
        if name not in names:
            raise ValueError(f"{name!r} is not one of {', '.join(names)}")
        return pd.DataFrame(
            getattr(self.detail, name), index=self.community.index, columns=self.community.member_ids
        )

    def member_totals(self) -> pd.DataFrame:
        """Per-member totals over the span, one row per member id, columns ENERGY + MONEY and ``bill``."""
        table = pd.DataFrame(self.by_member, index=pd.Index(self.community.member_ids, name="member_id"))
        return table.assign(bill=self.bill)

    def interval_totals(self) -> pd.DataFrame:
        """Per-interval totals over members, indexed by the UTC interval start, and the local price."""
        table = pd.DataFrame(self.by_interval, index=self.community.index)
        return table.assign(local_price_per_kwh=self.local_price_per_kwh)


def run_scope(community: Community, seed: int) -> str:
    """The market scope of a simulation run, for its transaction ids: scenario name, seed and start."""
    return f"simulation|{community.name}|seed={seed}|{community.index[0].isoformat()}"


@dataclass
class SimulationResult:
    """The three cases of a run on the same data.

    Attributes
    ----------
    community : the simulated community
    cases : "alone", "p2p" and "p2p_battery" (:class:`CaseResult`)
    ev_kw : (T, M) EV charging on arrival (the cases without a plan) [kW]
    price_rule, mechanism : the local market's pricing
    home_plan : the planner's dispatch of the full case's home batteries and EVs, if any
    """

    community: Community
    cases: dict[str, CaseResult]
    ev_kw: np.ndarray
    price_rule: str
    mechanism: str = "pay_as_clear"
    home_plan: DispatchPlan | None = None

    @property
    def full(self) -> CaseResult:
        """The case with the market, the batteries and the plan: what the community would do."""
        return self.cases["p2p_battery"]


def simulate(
    community: Community,
    price_rule: str = "midpoint",
    seed: int = 0,
    progress: Progress | None = None,
    detail: bool = True,
    mechanism: str = "pay_as_clear",
    home_plan: DispatchPlan | None = None,
    min_trade_kwh: float = 0.0,
) -> SimulationResult:
    """Run the three cases for ``community`` over its whole span.

    ``mechanism`` names the local market's clearing (see ``wattmesh.market.MECHANISMS``); ``price_rule``
    applies to pay-as-clear. With ``home_plan`` the full case's home batteries and EVs follow the plan
    (e.g. the MPC planner of :mod:`wattmesh.energy`); the community battery keeps its rule on what is left.
    The cases without batteries keep EV charging on arrival. Trades below ``min_trade_kwh`` [kWh] are not
    made (the case that records trades); their energy settles with the utility.
    """
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism {mechanism!r} is not one of {', '.join(MECHANISMS)}")
    dt = community.interval_h
    n_intervals, n_members = len(community.index), len(community.members)
    ev_kw = ev_charge_on_arrival_kw(community.ev_sessions, community.index, community.member_ids)
    is_community = (community.members["kind"] == "community").to_numpy()
    storage = community.storage_by_member("battery")
    soc = storage["soc_initial_kwh"].copy()
    rng = np.random.default_rng(seed)
    acc = {case: _Accumulator(n_intervals, n_members, is_community, detail) for case in CASES}
    for start in range(0, n_intervals, CHUNK_INTERVALS):
        rows = slice(start, min(start + CHUNK_INTERVALS, n_intervals))
        consumption = (community.load_kw[rows] + ev_kw[rows]) * dt
        generation = community.generation_kw[rows] * dt
        zeros = np.zeros_like(consumption)
        full_consumption = (
            consumption if home_plan is None else (community.load_kw[rows] + home_plan.ev_kw[rows]) * dt
        )
        charge, discharge, soc_chunk = dispatch_rule_batteries(
            generation - full_consumption, soc, storage, is_community, dt, plan_rows(home_plan, rows, dt)
        )
        soc = soc_chunk[-1] if len(soc_chunk) else soc
        # Only the full case's trades are recorded; the p2p case is there for its energy and bills.
        flows = {
            "alone": (zeros, zeros, zeros, None),
            "p2p": (zeros, zeros, zeros, False),
            "p2p_battery": (charge, discharge, soc_chunk, True),
        }
        for case, (c, d, s, market) in flows.items():
            _settle_chunk(
                acc[case],
                rows,
                community,
                full_consumption if case == "p2p_battery" else consumption,
                generation,
                c,
                d,
                s,
                market,
                (mechanism, price_rule, min_trade_kwh),
                rng,
            )
        if progress is not None:
            progress("simulation", rows.stop, n_intervals)
    cases = {case: acc[case].result(case, community, seed, mechanism) for case in CASES}
    return SimulationResult(community, cases, ev_kw, price_rule, mechanism, home_plan)


class _Accumulator:
    """Collects one case's chunks into totals (and full arrays when ``detail``)."""

    def __init__(self, n_intervals: int, n_members: int, is_community: np.ndarray, detail: bool):
        self.is_community = is_community
        self.by_member = {name: np.zeros(n_members) for name in ENERGY + MONEY}
        self.by_interval = {name: np.zeros(n_intervals) for name in ENERGY + ("own_use_kwh",)}
        for group in ("home", "community"):
            for name in ("charge_kwh", "discharge_kwh", "soc_kwh", "bought_kwh"):
                self.by_interval[f"{group}_{name}"] = np.zeros(n_intervals)
        self.price = np.full(n_intervals, np.nan)
        self.trades: list[tuple] = []
        self.market = False
        self.detail = (
            {f.name: np.zeros((n_intervals, n_members)) for f in fields(CaseDetail)} if detail else None
        )

    def add(self, rows: slice, arrays: dict[str, np.ndarray], price: np.ndarray) -> None:
        self.price[rows] = price
        for name in ENERGY + MONEY:
            self.by_member[name] += arrays[name].sum(axis=0)
        for name in ENERGY:
            self.by_interval[name][rows] = arrays[name].sum(axis=1)
        self.by_interval["own_use_kwh"][rows] = np.minimum(
            arrays["generation_kwh"], arrays["consumption_kwh"]
        ).sum(axis=1)
        for group, mask in (("home", ~self.is_community), ("community", self.is_community)):
            for name in ("charge_kwh", "discharge_kwh", "soc_kwh", "bought_kwh"):
                self.by_interval[f"{group}_{name}"][rows] = arrays[name][:, mask].sum(axis=1)
        if self.detail is not None:
            for name, full in self.detail.items():
                full[rows] = arrays[name]

    def result(self, name: str, community: Community, seed: int, mechanism: str) -> CaseResult:
        trades = None
        if self.market:
            parts = [np.zeros(0, np.int64)] * 3 + [np.zeros(0)] * 3
            chunks = list(zip(*self.trades, strict=True)) if self.trades else [[p] for p in parts]
            trades = BatchTrades(*(np.concatenate(c) for c in chunks))
        return CaseResult(
            name=name,
            by_member=self.by_member,
            by_interval=self.by_interval,
            local_price_per_kwh=self.price,
            trade_arrays=trades,
            community=community,
            seed=seed,
            mechanism=mechanism,
            detail=None if self.detail is None else CaseDetail(**self.detail),
        )


def _settle_chunk(acc, rows, community, consumption, generation, charge, discharge, soc, market, rules, rng):
    """Run the exchange step on one chunk of intervals and keep the case's totals.

    ``market`` is None for no market, False for a market without trade records, True with them;
    ``rules`` is (mechanism, price_rule, min_trade_kwh). Members bid the retail price and ask the feed-in
    price; the local fee is paid by the buyer on top of the local price; each member's meter measures
    exactly its position, so what the market leaves over settles with the utility.
    """
    mechanism, price_rule, min_trade_kwh = rules
    position = generation - consumption - charge + discharge
    retail = community.retail_per_kwh[rows]
    feed_in = community.feed_in_per_kwh[rows]
    clearing = None
    if market is not None:
        clearing = clear_positions(
            np.maximum(-position, 0.0),
            retail[:, None],
            np.maximum(position, 0.0),
            feed_in[:, None],
            mechanism=mechanism,
            fee_per_kwh=community.local_fee_per_kwh,
            retail_per_kwh=retail,
            feed_in_per_kwh=feed_in,
            rng=rng,
            price_rule=price_rule,
            with_trades=market,
        )
        acc.market = acc.market or market
        if market:
            clearing = without_small_trades(clearing, min_trade_kwh)
            t = clearing.trades
            acc.trades.append(
                (t.interval + rows.start, t.seller, t.buyer, t.energy_kwh, t.price_per_kwh, t.fee_per_kwh)
            )
    statements = settle_positions(clearing, position, retail, feed_in)
    arrays = {f.name: getattr(statements, f.name) for f in fields(statements)}
    arrays |= {
        "consumption_kwh": consumption,
        "generation_kwh": generation,
        "charge_kwh": charge,
        "discharge_kwh": discharge,
        "soc_kwh": soc,
    }
    price = np.full(len(retail), np.nan) if clearing is None else clearing.price_per_kwh
    acc.add(rows, arrays, price)
