"""The strategy tournament: a community whose homes bid with a mix of strategies, scored against the LP optimum.

Per market interval each member's position (generation minus consumption after its battery, as the
simulator dispatches it: by the energy plan where there is one, else by the self-consumption rule) is a
bid or an ask; its limit is its marginal value of energy read off that plan
(:func:`~wattmesh.agents.strategies.marginal_value_per_kwh`). Pay-as-clear runs one sealed round;
pay-as-bid and the order book run ``n_rounds`` rounds inside the interval, each round clearing what is still unmatched. Days
are cleared as one batch of intervals (vectorised over intervals and members); ZIP adapts after every round
and the learner after every day, so both carry what they learnt from one day to the next.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.agents.positions import Positions, community_positions
from wattmesh.agents.strategies import (
    STRATEGIES,
    PriceHistoryLearner,
    ZipState,
    ramp_prices,
    truthful_prices,
    zic_prices,
)
from wattmesh.market.batch import clear_batch
from wattmesh.market.orderbook import OrderBook
from wattmesh.market.result import BatchClearing, BatchTrades, clearing_from_trades, welfare

TOURNAMENT_MECHANISMS = {"pay_as_clear": 1, "pay_as_bid": 5, "order_book": 5}


@dataclass
class TournamentResult:
    """Outcome of a tournament.

    Attributes
    ----------
    table : one row per strategy: ``members``, ``offered_kwh`` (deficit + surplus), ``traded_kwh``,
        ``profit`` (gain over trading with the utility at the true values) [currency],
        ``profit_per_kwh`` (per kWh offered) and ``profit_per_traded_kwh`` [currency/kWh]
    efficiency : realised welfare / LP optimum of the true values [-]
    welfare, optimum_welfare : [currency]
    convergence : Smith's alpha (RMS deviation of trade prices from the competitive price, relative to
        it) per day, (days,) [-]
    price_per_kwh : (T,) realised mean local price, NaN without trades [currency/kWh]
    equilibrium_price_per_kwh : (T,) the truthful pay-as-clear price [currency/kWh]
    strategy : (M,) each member's strategy
    bought_kwh, sold_kwh : (T, M) energy each member bought and sold locally [kWh]
    """

    table: pd.DataFrame
    efficiency: float
    welfare: float
    optimum_welfare: float
    convergence: np.ndarray
    price_per_kwh: np.ndarray
    equilibrium_price_per_kwh: np.ndarray
    strategy: np.ndarray
    mechanism: str
    n_rounds: int
    bought_kwh: np.ndarray
    sold_kwh: np.ndarray


def parse_mix(text: str) -> dict[str, float]:
    """``"truthful=0.33,ramp=0.33,zip=0.34"`` -> shares by strategy, normalised to sum to 1."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, share = part.partition("=")
        name = name.strip()
        if name not in STRATEGIES:
            raise ValueError(f"mix: strategy {name!r} is not one of {', '.join(STRATEGIES)}")
        try:
            value = float(share)
        except ValueError:
            raise ValueError(f"mix: share {share!r} of {name!r} is not a number") from None
        if not value >= 0:
            raise ValueError(f"mix: share {value} of {name!r} is negative (expected >= 0)")
        mix[name] = value
    total = sum(mix.values())
    if not mix or total <= 0:
        raise ValueError(f"mix: {text!r} gives no strategy a positive share")
    return {name: share / total for name, share in mix.items()}


def assign_strategies(n_members: int, mix: dict[str, float], seed: int = 0) -> np.ndarray:
    """(M,) strategy names: counts by largest remainder of ``mix`` shares, members in seeded random order."""
    names = list(mix)
    exact = np.array([mix[n] for n in names]) * n_members
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n_members - counts.sum()]] += 1
    labels = np.repeat(np.array(names, dtype=object), counts)
    return labels[np.random.default_rng(seed).permutation(n_members)]


def order_prices(
    strategy: np.ndarray,
    bid_limit: np.ndarray,
    ask_limit: np.ndarray,
    retail_per_kwh: np.ndarray,
    feed_in_per_kwh: np.ndarray,
    round_index: int,
    n_rounds: int,
    rng: np.random.Generator,
    zip_state: ZipState | None = None,
    learner: PriceHistoryLearner | None = None,
    slot: np.ndarray | None = None,
    fee_per_kwh: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(T, M) bid and ask prices of every member by its strategy, one vectorised pass per strategy.

    Ramp and ZI-C range between the feed-in tariff (buyers' opening / floor) and retail (sellers'
    opening / ceiling).
    """
    floor = np.broadcast_to(np.asarray(feed_in_per_kwh, float)[:, None], bid_limit.shape)
    ceiling = np.broadcast_to(np.asarray(retail_per_kwh, float)[:, None], ask_limit.shape)
    bid, ask = truthful_prices(bid_limit, ask_limit)
    for name in np.unique(strategy):
        cols = strategy == name
        b_lim, a_lim = bid_limit[:, cols], ask_limit[:, cols]
        if name == "truthful":
            continue
        if name == "ramp":
            b, a = ramp_prices(b_lim, a_lim, floor[:, cols], ceiling[:, cols], round_index, n_rounds)
        elif name == "zic":
            b, a = zic_prices(b_lim, a_lim, floor[:, cols], ceiling[:, cols], rng)
        elif name == "zip":
            b, a = zip_state.prices(bid_limit, ask_limit)
            b, a = b[:, cols], a[:, cols]
        elif name == "learning":
            b, a = learner.prices(b_lim, a_lim, slot, fee_per_kwh, round_index, n_rounds)
        else:
            raise ValueError(f"strategy {name!r} is not one of {', '.join(STRATEGIES)}")
        # The guarantee every strategy gives: never beyond its own limit.
        bid[:, cols] = np.minimum(b, b_lim)
        ask[:, cols] = np.maximum(a, a_lim)
    return bid, ask


def clear_order_book_round(
    bid_kwh: np.ndarray,
    bid_price_per_kwh: np.ndarray,
    ask_kwh: np.ndarray,
    ask_price_per_kwh: np.ndarray,
    rng: np.random.Generator,
    fee_per_kwh: float = 0.0,
) -> BatchClearing:
    """One round of the continuous double auction in each of T intervals (:class:`~wattmesh.market.OrderBook`).

    Every member with energy left enters one limit order per side in a seeded random order (buyers at
    their bid net of the fee, so that price plus fee stays within the bid); orders trade on arrival at
    the resting order's price; what rests at the end of the round is withdrawn (the members re-quote in
    the next round). Returns the round's fills and money in the batched form (slot m = member m).
    """
    n_intervals, n_members = bid_kwh.shape
    interval, seller, buyer, energy, price = [], [], [], [], []
    for t in range(n_intervals):
        buyers = np.flatnonzero(bid_kwh[t] > 1e-12)
        sellers = np.flatnonzero(ask_kwh[t] > 1e-12)
        if len(buyers) == 0 or len(sellers) == 0:
            continue
        entries = [("buy", m) for m in buyers] + [("sell", m) for m in sellers]
        book = OrderBook()
        for k in rng.permutation(len(entries)):
            side, m = entries[k]
            if side == "buy":
                book.submit(
                    f"b{m}", str(m), "buy", float(bid_kwh[t, m]), float(bid_price_per_kwh[t, m] - fee_per_kwh)
                )
            else:
                book.submit(f"s{m}", str(m), "sell", float(ask_kwh[t, m]), float(ask_price_per_kwh[t, m]))
        for fill in book.fills:
            interval.append(t)
            seller.append(int(fill.seller))
            buyer.append(int(fill.buyer))
            energy.append(fill.energy_kwh)
            price.append(fill.price_per_kwh)
    energy_kwh = np.asarray(energy, float)
    trades = BatchTrades(
        np.asarray(interval, np.int64),
        np.asarray(seller, np.int64),
        np.asarray(buyer, np.int64),
        energy_kwh,
        np.asarray(price, float),
        np.full(len(energy_kwh), float(fee_per_kwh)),
    )
    return clearing_from_trades("order_book", trades, n_intervals, n_members, n_members)


def replay_sealed_margins(
    learners: np.ndarray,
    margins_per_kwh: np.ndarray,
    bid_kwh: np.ndarray,
    bid_price_per_kwh: np.ndarray,
    ask_kwh: np.ndarray,
    ask_price_per_kwh: np.ndarray,
    bid_limit: np.ndarray,
    ask_limit: np.ndarray,
    fee_per_kwh: float,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The learners' profit had they shaded by each candidate margin, replaying a day's sealed auctions.

    Buyers' margins are replayed with every seller's order as posted and sellers' margins with every
    buyer's order as posted; the other members' orders stay as they were. All K x T auctions of a side
    are cleared with one seed, so the candidates see the same tie-breaks.

    Parameters
    ----------
    learners : (M,) members that use the learning strategy
    margins_per_kwh : (K,) candidate margins [currency/kWh]
    bid_kwh, bid_price_per_kwh, ask_kwh, ask_price_per_kwh : (T, M) the orders as posted
    bid_limit, ask_limit : (T, M) the members' limits [currency/kWh]

    Returns
    -------
    (bid_profit, ask_profit) : (T, K) the learning buyers' and sellers' summed profit at their true
        values [currency]
    """
    margins = np.asarray(margins_per_kwh, float)
    bid_profit = np.zeros((bid_kwh.shape[0], len(margins)))
    ask_profit = np.zeros_like(bid_profit)
    for k, margin in enumerate(margins):
        # One clearing per candidate with the same seed: every candidate sees the same tie-breaks.
        bid_variant = np.where(learners, bid_limit - margin, bid_price_per_kwh)
        ask_variant = np.where(learners, ask_limit + margin, ask_price_per_kwh)
        as_buyers = clear_batch(
            "pay_as_clear",
            bid_kwh,
            bid_variant,
            ask_kwh,
            ask_price_per_kwh,
            seed=seed,
            fee_per_kwh=fee_per_kwh,
        )
        as_sellers = clear_batch(
            "pay_as_clear",
            bid_kwh,
            bid_price_per_kwh,
            ask_kwh,
            ask_variant,
            seed=seed,
            fee_per_kwh=fee_per_kwh,
        )
        bid_gain = bid_limit * as_buyers.bid_fill_kwh - as_buyers.bid_payment
        ask_gain = as_sellers.ask_revenue - ask_limit * as_sellers.ask_fill_kwh
        bid_profit[:, k] = bid_gain[:, learners].sum(axis=1)
        ask_profit[:, k] = ask_gain[:, learners].sum(axis=1)
    return bid_profit, ask_profit


def run_tournament(
    positions: Positions,
    strategy: np.ndarray,
    mechanism: str = "pay_as_clear",
    n_rounds: int | None = None,
    seed: int = 0,
    slots_per_day: int | None = None,
    learner_options: dict | None = None,
) -> TournamentResult:
    """Trade every interval of ``positions`` with each member bidding by ``strategy`` (M,).

    Parameters
    ----------
    positions : the members' deficits, surpluses and limits (:func:`community_positions`)
    strategy : (M,) names from :data:`~wattmesh.agents.strategies.STRATEGIES`
    mechanism : "pay_as_clear" (one sealed round), "pay_as_bid" or "order_book" (the continuous double
        auction, :func:`clear_order_book_round`), the last two over ``n_rounds`` rounds (default 5)
    seed : seeds the strategies' draws and the clearing's tie-breaks (reproducible runs)
    slots_per_day : intervals per day (the batch size and the learner's time-of-day slots)
    learner_options : keyword arguments of :class:`~wattmesh.agents.strategies.PriceHistoryLearner`
        (e.g. ``{"sealed": "replay"}``)

    Returns
    -------
    TournamentResult
    """
    if mechanism not in TOURNAMENT_MECHANISMS:
        raise ValueError(f"mechanism {mechanism!r} is not one of {', '.join(TOURNAMENT_MECHANISMS)}")
    rounds = 1 if mechanism == "pay_as_clear" else (n_rounds or TOURNAMENT_MECHANISMS[mechanism])
    strategy = np.asarray(strategy, dtype=object)
    p = positions
    n_intervals, n_members = p.deficit_kwh.shape
    if strategy.shape != (n_members,):
        raise ValueError(f"strategy has shape {strategy.shape}, expected ({n_members},)")
    if slots_per_day is None:
        step_h = (p.index[1] - p.index[0]).total_seconds() / 3600 if len(p.index) > 1 else 0.25
        slots_per_day = max(1, round(24 / step_h))
    rng_prices, rng_clear, rng_zip = np.random.default_rng(seed).spawn(3)
    zip_state = ZipState(n_members, rng_zip)
    learner = PriceHistoryLearner(slots_per_day, **(learner_options or {}))
    fee = p.fee_per_kwh
    learns = strategy == "learning"

    bought = np.zeros((n_intervals, n_members))
    sold = np.zeros((n_intervals, n_members))
    paid = np.zeros((n_intervals, n_members))
    received = np.zeros((n_intervals, n_members))
    dev_sq = np.zeros(n_intervals)  # volume-weighted squared deviation from the equilibrium price

    reference = clear_batch(
        "pay_as_clear", p.deficit_kwh, p.bid_limit, p.surplus_kwh, p.ask_limit, seed=seed, fee_per_kwh=fee
    )
    equilibrium = reference.price_per_kwh

    for start in range(0, n_intervals, slots_per_day):
        rows = slice(start, min(start + slots_per_day, n_intervals))
        slot = np.arange(rows.start, rows.stop) % slots_per_day
        b_lim, a_lim = p.bid_limit[rows], p.ask_limit[rows]
        need = p.deficit_kwh[rows].copy()
        offer = p.surplus_kwh[rows].copy()
        for r in range(rounds):
            bid, ask = order_prices(
                strategy,
                b_lim,
                a_lim,
                p.retail_per_kwh[rows],
                p.feed_in_per_kwh[rows],
                r,
                rounds,
                rng_prices,
                zip_state,
                learner,
                slot,
                fee,
            )
            if mechanism == "order_book":
                cleared = clear_order_book_round(need, bid, offer, ask, rng_clear, fee)
            else:
                cleared = clear_batch(mechanism, need, bid, offer, ask, seed=rng_clear, fee_per_kwh=fee)
            bought[rows] += cleared.bid_fill_kwh
            sold[rows] += cleared.ask_fill_kwh
            paid[rows] += cleared.bid_payment
            received[rows] += cleared.ask_revenue
            t = cleared.trades
            np.add.at(
                dev_sq,
                t.interval + rows.start,
                t.energy_kwh * (t.price_per_kwh - equilibrium[t.interval + rows.start]) ** 2,
            )
            zip_state.update(
                b_lim,
                a_lim,
                cleared.price_per_kwh,
                cleared.bid_fill_kwh > 1e-12,
                cleared.ask_fill_kwh > 1e-12,
                need > 1e-12,
                offer > 1e-12,
            )
            need = np.maximum(need - cleared.bid_fill_kwh, 0.0)
            offer = np.maximum(offer - cleared.ask_fill_kwh, 0.0)
        if rounds == 1 and learner.sealed == "replay" and learns.any():
            # The sealed auction's curves are published after it: the learners replay them.
            bid_profit, ask_profit = replay_sealed_margins(
                learns,
                np.asarray(learner.sealed_margins_per_kwh),
                p.deficit_kwh[rows],
                bid,
                p.surplus_kwh[rows],
                ask,
                b_lim,
                a_lim,
                fee,
                seed,
            )
            learner.observe_replays(slot, bid_profit, ask_profit)
        volume = sold[rows].sum(axis=1)
        day_price = np.divide(
            received[rows].sum(axis=1), volume, out=np.full(len(volume), np.nan), where=volume > 1e-12
        )
        learner.observe(slot, day_price)

    profit = p.bid_limit * bought - paid + received - p.ask_limit * sold
    realised = welfare(p.bid_limit, bought, p.ask_limit, sold, fee * bought)
    optimum = welfare(
        p.bid_limit, reference.bid_fill_kwh, p.ask_limit, reference.ask_fill_kwh, fee * reference.bid_fill_kwh
    )
    volume = sold.sum(axis=1)
    price = np.divide(received.sum(axis=1), volume, out=np.full(n_intervals, np.nan), where=volume > 1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha_t = np.sqrt(dev_sq / volume) / equilibrium
    days = np.arange(n_intervals) // slots_per_day
    ok = np.isfinite(alpha_t)
    counts = np.bincount(days[ok], minlength=days.max() + 1)
    sums = np.bincount(days[ok], alpha_t[ok], minlength=days.max() + 1)
    convergence = np.divide(sums, counts, out=np.full(len(counts), np.nan), where=counts > 0)

    rows_out = []
    offered_by_member = (p.deficit_kwh + p.surplus_kwh).sum(axis=0)
    traded_by_member = (bought + sold).sum(axis=0)
    profit_by_member = profit.sum(axis=0)
    for name in dict.fromkeys(strategy):
        cols = strategy == name
        offered, traded, gain = (
            float(x[cols].sum()) for x in (offered_by_member, traded_by_member, profit_by_member)
        )
        rows_out.append(
            {
                "strategy": name,
                "members": int(cols.sum()),
                "offered_kwh": offered,
                "traded_kwh": traded,
                "profit": gain,
                "profit_per_kwh": gain / offered if offered > 0 else np.nan,
                "profit_per_traded_kwh": gain / traded if traded > 0 else np.nan,
            }
        )
    return TournamentResult(
        table=pd.DataFrame(rows_out),
        efficiency=realised / optimum if optimum > 0 else 1.0,
        welfare=realised,
        optimum_welfare=optimum,
        convergence=convergence,
        price_per_kwh=price,
        equilibrium_price_per_kwh=equilibrium,
        strategy=strategy,
        mechanism=mechanism,
        n_rounds=rounds,
        bought_kwh=bought,
        sold_kwh=sold,
    )


def rotated_tournament(
    positions: Positions,
    mix: dict[str, float],
    mechanism: str = "pay_as_clear",
    n_rounds: int | None = None,
    seed: int = 0,
    rotations: int | None = None,
    repeats: int = 1,
    learner_options: dict | None = None,
) -> tuple[pd.DataFrame, list[TournamentResult]]:
    """Run the tournament with the strategies rotated over the homes, and pool the runs.

    Homes differ a lot (a PV-rich seller, a heat-pump buyer, the community battery), so which homes a
    strategy gets decides much of its profit. The homes are split into groups once (seeded, sizes by
    ``mix``) and each run hands the strategies to the groups in another arrangement: every permutation
    for up to three strategies (6 runs), the cyclic shifts for more (one run per strategy); ``rotations``
    keeps only the first that many. So every home plays every strategy, and with up to three strategies
    each pair of strategies also meets the third from both sides: two strategies that post the same
    orders earn exactly the same (all runs of a split share the seed ``seed``, hence the tie-breaks).
    Returns the pooled table (profits and energies summed over the runs, ``members`` the mean, per-kWh
    figures recomputed) and the individual results.

    Which homes meet which others still sways a strategy's profit by a few per cent from one split to
    another, so ``repeats`` > 1 pools that many splits (repeat r splits and seeds with ``seed + 1000 r``).
    ``learner_options`` go to every run (:func:`run_tournament`).
    """
    names = list(mix)
    if len(names) <= 3:
        arrangements = [list(order) for order in itertools.permutations(names)]
    else:
        arrangements = [names[k:] + names[:k] for k in range(len(names))]
    results = []
    for repeat in range(repeats):
        split_seed = seed + 1000 * repeat
        groups = assign_strategies(len(positions.member_ids), mix, split_seed)
        for order in arrangements[: rotations or len(arrangements)]:
            given = dict(zip(names, order, strict=True))
            strategy = np.array([given[g] for g in groups], dtype=object)
            results.append(
                run_tournament(
                    positions, strategy, mechanism, n_rounds, split_seed, learner_options=learner_options
                )
            )
    pooled = pd.concat([r.table for r in results]).groupby("strategy", sort=False).sum(numeric_only=True)
    pooled["members"] = pooled["members"] / len(results)
    pooled["profit_per_kwh"] = pooled["profit"] / pooled["offered_kwh"]
    pooled["profit_per_traded_kwh"] = pooled["profit"] / pooled["traded_kwh"]
    return pooled.reset_index(), results


def convergence_summary(results: list[TournamentResult]) -> dict[str, float]:
    """Mean efficiency and Smith's alpha on the first and the last day, averaged over the runs."""
    first = [r.convergence[0] for r in results]
    last = [r.convergence[-1] for r in results]
    mean_all = [np.nanmean(r.convergence) for r in results]
    return {
        "efficiency": float(np.mean([r.efficiency for r in results])),
        "alpha_first_day": float(np.nanmean(first)),
        "alpha_last_day": float(np.nanmean(last)),
        "alpha_mean": float(np.nanmean(mean_all)),
    }


def community_tournament(
    community,
    mix: str,
    mechanism: str = "pay_as_clear",
    rounds: int = 5,
    seed: int = 0,
    home_plan=None,
    rotations: int | None = None,
    repeats: int = 1,
) -> tuple[pd.DataFrame, dict, list[TournamentResult]]:
    """A strategy tournament on a community's own positions: each strategy's profit, efficiency, convergence.

    Home positions and limits follow the community's dispatch (:func:`community_positions`): ``home_plan``
    (the energy planner's :class:`~wattmesh.energy.dispatch.DispatchPlan`) where given, else the
    self-consumption rule. The strategies are rearranged over the homes (:func:`rotated_tournament`) and the
    runs pooled.

    Returns
    -------
    (table, summary, results) : the pooled per-strategy table, :func:`convergence_summary` with the
        ``mechanism``, and every run

    Raises
    ------
    ValueError
        for a mix that names an unknown strategy or shares that do not parse (naming ``agents.mix``).
    """
    try:
        shares = parse_mix(mix)
    except ValueError as exc:
        raise ValueError(f"agents.mix {mix!r}: {exc}") from None
    positions = community_positions(community, home_plan)
    table, results = rotated_tournament(
        positions, shares, mechanism, rounds, seed, rotations, repeats=repeats
    )
    summary = convergence_summary(results)
    summary["mechanism"] = mechanism
    return table, summary, results
