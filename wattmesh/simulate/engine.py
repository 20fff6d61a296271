"""The simulation clock: runs a community through the core, interval by interval, vectorised over members.

Per market interval: own generation meets own consumption; batteries follow their dispatch rule; each
member's remaining surplus becomes an ask at the feed-in price and each deficit a bid at the retail price
less the local grid fee; the local market clears (``wattmesh.market``); whatever is not matched locally
goes to or comes from the utility. Three cases run side by side on the same data:

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

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from wattmesh.community.model import Community
from wattmesh.energy.dispatch import DispatchPlan, plan_rows
from wattmesh.energy.rules import dispatch_rule_batteries, ev_charge_on_arrival_kw
from wattmesh.market.batch import MECHANISMS, clear_batch
from wattmesh.market.clearing import pair_in_order
from wattmesh.market.community import COMMUNITY_RULES
from wattmesh.market.pooled import clear_common_limits

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


@dataclass
class TradeArrays:
    """Trades as compact arrays: interval row, seller and buyer member columns, energy [kWh], price."""

    interval: np.ndarray
    seller: np.ndarray
    buyer: np.ndarray
    energy_kwh: np.ndarray
    price_per_kwh: np.ndarray

    def __len__(self) -> int:
        return len(self.interval)


@dataclass
class CaseResult:
    """Energy and money of one case.

    Energy balance per member and interval (all kWh):
    generation + discharge + bought + import = consumption + charge + sold + export

    Attributes
    ----------
    by_member : per-member totals over the span, for every name in ENERGY and MONEY [kWh, currency]
    by_interval : per-interval totals over members, for every name in ENERGY, plus ``own_use_kwh``
        (generation used behind the meter) and, split into ``home_`` and ``community_`` members,
        ``charge_kwh``, ``discharge_kwh``, ``soc_kwh`` and ``bought_kwh``
    local_price_per_kwh : (T,) clearing price, NaN where nothing traded locally [currency/kWh]
    detail : the full (T, M) arrays for every name in ENERGY and MONEY and ``soc_kwh``, when kept
    """

    name: str
    by_member: dict[str, np.ndarray]
    by_interval: dict[str, np.ndarray]
    local_price_per_kwh: np.ndarray
    trade_arrays: TradeArrays | None
    community: Community = field(repr=False)
    seed: int = 0
    mechanism: str = "pay_as_clear"
    detail: dict[str, np.ndarray] | None = None

    def __getattr__(self, name: str) -> np.ndarray:
        detail = self.__dict__.get("detail")
        if detail is not None and name in detail:
            return detail[name]
        raise AttributeError(f"{name!r}: not a field, and the case kept no detail array of that name")

    @property
    def bill(self) -> np.ndarray:
        """(M,) net energy bill per member over the span [currency]; negative is a net income."""
        m = self.by_member
        return m["paid_utility"] + m["paid_local"] - m["received_utility"] - m["received_local"]

    @cached_property
    def trades(self) -> pd.DataFrame | None:
        """Trades in the DESIGN.md trade-record format, plus the delivery interval and the mechanism."""
        if self.trade_arrays is None:
            return None
        return trade_records(self.community, self.trade_arrays, self.mechanism, self.seed)


@dataclass
class SimulationResult:
    community: Community
    cases: dict[str, CaseResult]
    ev_kw: np.ndarray
    price_rule: str
    mechanism: str = "pay_as_clear"
    home_plan: DispatchPlan | None = None

    @property
    def full(self) -> CaseResult:
        return self.cases["p2p_battery"]


def simulate(
    community: Community,
    price_rule: str = "midpoint",
    seed: int = 0,
    progress: Progress | None = None,
    detail: bool = True,
    mechanism: str = "pay_as_clear",
    home_plan: DispatchPlan | None = None,
) -> SimulationResult:
    """Run the three cases for ``community`` over its whole span.

    ``mechanism`` names the local market's clearing (see ``wattmesh.market.MECHANISMS``); ``price_rule``
    applies to pay-as-clear. With ``home_plan`` the full case's home batteries and EVs follow the plan
    (e.g. the MPC planner of :mod:`wattmesh.energy`); the community battery keeps its rule on what is left.
    The cases without batteries keep EV charging on arrival.
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
                (mechanism, price_rule),
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
            {name: np.zeros((n_intervals, n_members)) for name in ENERGY + MONEY + ("soc_kwh",)}
            if detail
            else None
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
            parts = (
                list(zip(*self.trades, strict=True))
                if self.trades
                else [[np.zeros(0, np.int64)]] * 3 + [[np.zeros(0)]] * 2
            )
            trades = TradeArrays(*(np.concatenate(p) for p in parts))
        return CaseResult(
            name=name,
            by_member=self.by_member,
            by_interval=self.by_interval,
            local_price_per_kwh=self.price,
            trade_arrays=trades,
            community=community,
            seed=seed,
            mechanism=mechanism,
            detail=self.detail,
        )


def _settle_chunk(acc, rows, community, consumption, generation, charge, discharge, soc, market, rules, rng):
    """Clear the local market for one chunk and settle the rest with the utility.

    ``market`` is None for no market, False for a market without trade records, True with them;
    ``rules`` is (mechanism, price_rule). Members bid the retail price and ask the feed-in price; the
    local fee is paid by the buyer on top of the local price. Pay-as-clear on such common limits uses
    the closed form of :mod:`wattmesh.market.pooled`, where trades pair sellers and buyers in one seeded
    random order of the members per chunk (a week), so that no member is always first; every other
    mechanism goes through :func:`wattmesh.market.clear_batch`.
    """
    mechanism, price_rule = rules
    position = generation - consumption - charge + discharge
    surplus = np.maximum(position, 0.0)
    deficit = np.maximum(-position, 0.0)
    retail = community.retail_per_kwh[rows]
    feed_in = community.feed_in_per_kwh[rows]
    fee = community.local_fee_per_kwh
    if market is None:
        bought = np.zeros_like(position)
        sold = np.zeros_like(position)
        price = np.full(len(retail), np.nan)
        paid_local, received_local, fee_paid = bought, sold, bought
    elif mechanism == "pay_as_clear":
        cleared = clear_common_limits(deficit, retail - fee, surplus, feed_in, price_rule)
        bought, sold, price = cleared.bid_fill_kwh, cleared.ask_fill_kwh, cleared.price_per_kwh
        local_price = np.nan_to_num(price)[:, None]
        paid_local, received_local, fee_paid = bought * (local_price + fee), sold * local_price, bought * fee
        if market:
            n_rows, n_members = position.shape
            seller_order = np.broadcast_to(rng.permutation(n_members), (n_rows, n_members))
            buyer_order = np.broadcast_to(rng.permutation(n_members), (n_rows, n_members))
            interval, seller, buyer, energy = pair_in_order(sold, seller_order, bought, buyer_order)
            acc.trades.append((interval + rows.start, seller, buyer, energy, price[interval]))
    else:
        options = {"seed": rng, "fee_per_kwh": fee}
        if mechanism in COMMUNITY_RULES or mechanism == "utility_only":
            options |= {"retail_per_kwh": retail, "feed_in_per_kwh": feed_in}
        cleared = clear_batch(
            mechanism,
            deficit,
            np.broadcast_to(retail[:, None], deficit.shape),
            surplus,
            np.broadcast_to(feed_in[:, None], surplus.shape),
            **options,
        )
        bought, sold, price = cleared.bid_fill_kwh, cleared.ask_fill_kwh, cleared.price_per_kwh
        paid_local, received_local, fee_paid = cleared.bid_payment, cleared.ask_revenue, cleared.bid_fee
        if market:
            t = cleared.trades
            acc.trades.append((t.interval + rows.start, t.seller, t.buyer, t.energy_kwh, t.price_per_kwh))
    if market:
        acc.market = True
    imported = deficit - bought
    exported = surplus - sold
    acc.add(
        rows,
        {
            "consumption_kwh": consumption,
            "generation_kwh": generation,
            "charge_kwh": charge,
            "discharge_kwh": discharge,
            "soc_kwh": soc,
            "bought_kwh": bought,
            "sold_kwh": sold,
            "import_kwh": imported,
            "export_kwh": exported,
            "paid_local": paid_local,
            "received_local": received_local,
            "fee_paid": fee_paid,
            "paid_utility": imported * retail[:, None],
            "received_utility": exported * feed_in[:, None],
        },
        price,
    )


def trade_records(community: Community, trades: TradeArrays, mechanism: str, seed: int) -> pd.DataFrame:
    """Trades in the DESIGN.md trade-record format, plus the delivery interval and the mechanism.

    Transaction ids are ``tx_`` + 8 hex digits naming the run (scenario name, seed, start) + 8 hex digits
    counting the run's trades, so ids are unique within a run and stable across identical runs. Energy is
    rounded to 1e-6 kWh (1 mWh); trades that round to zero are left out.
    """
    ids = community.member_ids.to_numpy()
    run = hashlib.blake2b(
        f"{community.name}|{seed}|{community.index[0].isoformat()}".encode(), digest_size=4
    ).hexdigest()
    stamps = pd.Categorical.from_codes(
        trades.interval, categories=community.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    counter = pd.Series(np.arange(len(trades)), dtype=np.int64).map("{:08x}".format)
    records = pd.DataFrame(
        {
            "transaction_id": f"tx_{run}" + counter,
            "seller": pd.Categorical.from_codes(trades.seller, categories=ids),
            "buyer": pd.Categorical.from_codes(trades.buyer, categories=ids),
            "energy_amount_kwh": np.round(trades.energy_kwh, 6),
            "price_per_kwh": np.round(trades.price_per_kwh, 6),
            "timestamp": stamps,
            "status": "completed",
            "interval": stamps,
            "mechanism": mechanism,
        }
    )
    return records[records["energy_amount_kwh"] > 0].reset_index(drop=True)
