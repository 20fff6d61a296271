"""Trading strategies: each turns every home's limit prices into order prices, vectorised over homes.

All prices are gross (what a buyer pays before the grid fee is added on top is the bid net of the fee,
as :func:`wattmesh.market.clear_batch` treats it). A strategy sees a home's limit (its marginal value of
energy, :func:`marginal_value_per_kwh`), the round of bidding within the interval and what the market
showed so far; it never bids above a buyer's limit nor asks below a seller's limit (every function clips).

Arrays are shaped (intervals, members); a member's bid and ask prices are computed together and only the
side where it has energy is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

STRATEGIES = ("truthful", "ramp", "zic", "zip", "learning")


def marginal_value_per_kwh(
    retail_per_kwh: np.ndarray,
    feed_in_per_kwh: np.ndarray,
    position_kwh: np.ndarray,
    charge_kwh: np.ndarray,
    discharge_kwh: np.ndarray,
    soc_kwh: np.ndarray,
    storage: dict[str, np.ndarray],
    interval_h: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Each home's marginal value of one kWh now, as a buyer and as a seller, read off its energy plan.

    A home that lacks a kWh would otherwise import it at retail, so a buyer values it at the retail
    price. A home with a surplus would otherwise export at the feed-in tariff, unless its battery can
    take one more kWh now (room left and charging below its power limit in the planned interval): then
    the kWh can be stored and used where the plan leaves the most valuable use for it, which is found
    backwards through the plan. With ``W(t)`` the value at the end of interval ``t`` of one more kWh in
    storage and ``eta = sqrt(round trip)`` the one-way efficiency,

    ``W(t) = max(use(t+1), carry(t+1))``, where ``use`` discharges it in ``t+1`` (``eta * retail`` when
    the plan imports then and the battery has discharge power to spare, else ``eta * feed-in``) and
    ``carry`` keeps it (``W(t+1)`` while the planned battery is not full at the end of ``t+1``; when it
    is full the plan would have to spill it: ``eta * feed-in``); after the plan's last interval it is
    worth ``eta * feed-in``. The seller then values the kWh at ``max(feed-in, eta * W(t))``. So a
    battery that can shift energy to an expensive hour values a kWh now at that hour's price net of
    the round-trip losses, and one that the plan fills before then values it at the feed-in tariff.

    Parameters
    ----------
    retail_per_kwh, feed_in_per_kwh : (T,) utility prices [currency/kWh]
    position_kwh : (T, M) each member's planned exchange with the grid, > 0 export, < 0 import [kWh]
    charge_kwh, discharge_kwh, soc_kwh : (T, M) the planned battery flows (meter side) and the state of
        charge at the end of each interval [kWh]
    storage : per-member ``capacity_kwh``, ``power_kw`` and round-trip ``efficiency`` (M,) each
        (``Community.storage_by_member``; capacity 0: no battery)
    interval_h : interval length [h]

    Returns
    -------
    (bid_limit, ask_limit) : (T, M) each [currency/kWh]
    """
    retail = np.asarray(retail_per_kwh, float)
    feed_in = np.asarray(feed_in_per_kwh, float)
    capacity, power, efficiency = storage["capacity_kwh"], storage["power_kw"], storage["efficiency"]
    eta = np.sqrt(efficiency)
    step_kwh = power * interval_h
    tol = 1e-9
    has_battery = capacity > tol
    room = has_battery[None, :] & (soc_kwh < capacity[None, :] - tol)
    can_charge = room & (charge_kwh < step_kwh[None, :] - tol)
    can_discharge = has_battery[None, :] & (discharge_kwh < step_kwh[None, :] - tol)
    imports = position_kwh < -tol
    n_intervals = len(retail)
    stored_value = np.zeros(soc_kwh.shape)
    value = eta * feed_in[-1] if n_intervals else eta
    # Backwards through the plan, vectorised over members: one step per interval.
    for t in range(n_intervals - 1, -1, -1):
        stored_value[t] = value
        use = eta * np.where(imports[t] & can_discharge[t], retail[t], feed_in[t])
        carry = np.where(room[t], value, eta * feed_in[t])
        value = np.maximum(use, carry)
    ask_limit = np.where(
        can_charge, np.maximum(feed_in[:, None], eta[None, :] * stored_value), feed_in[:, None]
    )
    bid_limit = np.broadcast_to(retail[:, None], soc_kwh.shape).copy()
    return bid_limit, ask_limit


def truthful_prices(bid_limit: np.ndarray, ask_limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask the limits themselves [currency/kWh]."""
    return bid_limit.copy(), ask_limit.copy()


def ramp_prices(
    bid_limit: np.ndarray,
    ask_limit: np.ndarray,
    bid_open: np.ndarray,
    ask_open: np.ndarray,
    round_index: int,
    n_rounds: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Linear ramp from an opening price to the limit over the interval's rounds (gsy-e's default agents).

    Round ``round_index`` of ``n_rounds`` (0-based) posts ``open + (limit - open) * r / (R - 1)``; the last
    round (and a single sealed round) posts the limit. Buyers open low (``bid_open``, e.g. the feed-in
    tariff), sellers open high (``ask_open``, e.g. retail); an opening beyond the limit is clipped to it.
    """
    share = 1.0 if n_rounds <= 1 else round_index / (n_rounds - 1)
    bid_open = np.minimum(bid_open, bid_limit)
    ask_open = np.maximum(ask_open, ask_limit)
    # Written from the limit so that the last round is the limit exactly, not up to rounding.
    rest = 1.0 - share
    return bid_limit - (bid_limit - bid_open) * rest, ask_limit + (ask_open - ask_limit) * rest


def zic_prices(
    bid_limit: np.ndarray,
    ask_limit: np.ndarray,
    floor_per_kwh: np.ndarray,
    ceiling_per_kwh: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Zero-intelligence constrained (Gode and Sunder 1993): uniform random prices within the limits.

    Buyers draw in [floor, limit], sellers in [limit, ceiling] (a floor above the limit or a ceiling
    below it collapses the range onto the limit).
    """
    low = np.minimum(floor_per_kwh, bid_limit)
    high = np.maximum(ceiling_per_kwh, ask_limit)
    bid = low + (bid_limit - low) * rng.random(bid_limit.shape)
    ask = ask_limit + (high - ask_limit) * rng.random(ask_limit.shape)
    return bid, ask


@dataclass
class ZipState:
    """Cliff's ZIP traders (1997): a profit margin per member and side, adapted by Widrow-Hoff with momentum.

    A buyer bids ``limit * (1 - bid_margin)``, a seller asks ``limit * (1 + ask_margin)``. After each round
    the price moves toward a target just beyond the round's market price: toward less profit when the
    member's order went unfilled, toward more when it traded. ``learning_rate`` is beta, ``momentum``
    gamma; targets use R ~ U(0, 0.05) and A ~ U(0, 0.005) as in Cliff's paper.
    """

    n_members: int
    rng: np.random.Generator
    learning_rate: float = 0.3
    momentum: float = 0.05
    bid_margin: np.ndarray = field(init=False)
    ask_margin: np.ndarray = field(init=False)
    bid_step: np.ndarray = field(init=False)
    ask_step: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.bid_margin = self.rng.uniform(0.05, 0.35, self.n_members)
        self.ask_margin = self.rng.uniform(0.05, 0.35, self.n_members)
        self.bid_step = np.zeros(self.n_members)
        self.ask_step = np.zeros(self.n_members)

    def prices(self, bid_limit: np.ndarray, ask_limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T, M) bid and ask prices from the current margins [currency/kWh]."""
        return bid_limit * (1 - self.bid_margin), ask_limit * (1 + self.ask_margin)

    def update(
        self,
        bid_limit: np.ndarray,
        ask_limit: np.ndarray,
        market_price: np.ndarray,
        bid_filled: np.ndarray,
        ask_filled: np.ndarray,
        bid_active: np.ndarray,
        ask_active: np.ndarray,
    ) -> None:
        """Adapt the margins after a round, one Widrow-Hoff step per interval in time order.

        Parameters
        ----------
        bid_limit, ask_limit : (T, M) limits [currency/kWh]
        market_price : (T,) the round's mean price, NaN without trades (those intervals teach nothing)
        bid_filled, ask_filled : (T, M) whether the member's order traded in the round
        bid_active, ask_active : (T, M) whether the member had an order
        """
        shape = bid_limit.shape
        rel = self.rng.uniform(0, 0.05, shape)
        absolute = self.rng.uniform(0, 0.005, shape)
        for t in np.flatnonzero(np.isfinite(market_price)):
            q = market_price[t]
            # Buyer: traded -> try paying less than the market; unfilled -> offer more than the market.
            bid_target = np.where(
                bid_filled[t], q * (1 - rel[t]) - absolute[t], q * (1 + rel[t]) + absolute[t]
            )
            ask_target = np.where(
                ask_filled[t], q * (1 + rel[t]) + absolute[t], q * (1 - rel[t]) - absolute[t]
            )
            self.bid_margin, self.bid_step = self._learn(
                bid_limit[t], -1.0, self.bid_margin, self.bid_step, bid_target, bid_active[t], 1.0
            )
            self.ask_margin, self.ask_step = self._learn(
                ask_limit[t], 1.0, self.ask_margin, self.ask_step, ask_target, ask_active[t], 10.0
            )

    def _learn(self, limit, sign, margin, step, target, active, most):
        """One step for the members that had an order: price = limit * (1 + sign * margin)."""
        price = limit * (1 + sign * margin)
        new_step = self.momentum * step + (1 - self.momentum) * self.learning_rate * (target - price)
        ok = active & (limit > 0)
        new_margin = margin.copy()
        new_margin[ok] = np.clip(sign * ((price[ok] + new_step[ok]) / limit[ok] - 1), 0, most)
        return new_margin, np.where(ok, new_step, step)


#: The learner's candidate margins in a sealed round [currency/kWh]: 0 is the truthful order.
SEALED_MARGINS_PER_KWH = (0.0, 0.002, 0.005, 0.01)


@dataclass
class PriceHistoryLearner:
    """Learning strategy: adapts to the community's price history and, in sealed rounds, to its order curves.

    Several rounds (pay-as-bid, order book): the learner keeps an exponentially weighted estimate of the
    local price sellers received at each time of day (``slots_per_day`` slots, weight ``smoothing`` on the
    newest day). Before the last round a buyer bids ``min(limit, estimate + fee + round_tolerance)`` and a
    seller asks ``max(limit, estimate - round_tolerance)`` (a miss can still trade later); in the last
    round it posts its limit, so it never misses a trade that is worth making.

    One sealed round (pay-as-clear): the learner posts its limit (``sealed="truthful"``, the default).
    The uniform price is set by the marginal orders, so shading moves the price for every trader on the
    same side while only the shader risks losing volume, and many homes share a limit (retail, the feed-in
    tariff) that the auction shares pro rata, so an order shaded past such a tie loses its share. With
    ``sealed="replay"`` it tries to learn a margin instead: it reads the day's published (anonymous)
    order curves after the auction, as exchanges publish their aggregated curves, and replays the auction
    with its own orders shaded by each candidate margin of :data:`SEALED_MARGINS_PER_KWH` (buyers ``limit
    - margin``, sellers ``limit + margin``), the others' orders as they were; the replayed profits,
    smoothed over days (weight ``replay_smoothing``) per time-of-day slot and side
    (:meth:`observe_replays`), pick tomorrow's margin when it beat truthful by more than
    ``min_replay_gain`` of truthful's profit. On the default community that replay learner earned 0-2 %
    less per kWh than truthful orders out of sample (docs/agents.md), which is why truthful is the
    default.
    """

    slots_per_day: int
    smoothing: float = 0.3
    round_tolerance_per_kwh: float = 0.005
    sealed_margins_per_kwh: tuple[float, ...] = SEALED_MARGINS_PER_KWH
    replay_smoothing: float = 0.1
    min_replay_gain: float = 0.05
    sealed: str = "truthful"
    estimate: np.ndarray = field(init=False)
    bid_score: np.ndarray = field(init=False)
    ask_score: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.sealed not in ("truthful", "replay"):
            raise ValueError(f"sealed: {self.sealed!r} is not one of truthful, replay")
        self.estimate = np.full(self.slots_per_day, np.nan)
        k = len(self.sealed_margins_per_kwh)
        self.bid_score = np.zeros((self.slots_per_day, k))
        self.ask_score = np.zeros((self.slots_per_day, k))

    def prices(
        self,
        bid_limit: np.ndarray,
        ask_limit: np.ndarray,
        slot: np.ndarray,
        fee_per_kwh: float,
        round_index: int,
        n_rounds: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(T, M) bid and ask prices; ``slot`` (T,) is each interval's time-of-day slot."""
        if n_rounds <= 1 and self.sealed == "truthful":
            return bid_limit.copy(), ask_limit.copy()
        if n_rounds <= 1:
            bid_margin, ask_margin = self.sealed_margins(slot)
            return bid_limit - bid_margin[:, None], ask_limit + ask_margin[:, None]
        if round_index == n_rounds - 1:
            return bid_limit.copy(), ask_limit.copy()
        anchor = self.estimate[slot][:, None]
        margin = self.round_tolerance_per_kwh
        bid = np.where(np.isfinite(anchor), np.minimum(bid_limit, anchor + fee_per_kwh + margin), bid_limit)
        ask = np.where(np.isfinite(anchor), np.maximum(ask_limit, anchor - margin), ask_limit)
        return bid, ask

    def sealed_margins(self, slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T,) the buyers' and sellers' margins for a sealed round at time-of-day ``slot`` [currency/kWh]."""
        margins = np.asarray(self.sealed_margins_per_kwh, float)
        chosen = []
        for score in (self.bid_score[slot], self.ask_score[slot]):
            best = score.argmax(axis=1)  # the first of equal scores: the smallest margin
            truthful = score[:, 0]
            gain = score[np.arange(len(slot)), best] - truthful
            clear = gain > self.min_replay_gain * np.abs(truthful)
            chosen.append(np.where(clear, margins[best], margins[0]))
        return chosen[0], chosen[1]

    def observe(self, slot: np.ndarray, price_per_kwh: np.ndarray) -> None:
        """Learn from the realised prices (T,) of intervals at time-of-day ``slot`` (T,); NaN is skipped."""
        known = np.isfinite(price_per_kwh)
        sums = np.bincount(slot[known], price_per_kwh[known], minlength=self.slots_per_day)
        counts = np.bincount(slot[known], minlength=self.slots_per_day)
        seen = counts > 0
        mean = np.divide(sums, counts, out=np.zeros(sums.shape), where=seen)  # bincount of nothing is int
        fresh = seen & ~np.isfinite(self.estimate)
        self.estimate[fresh] = mean[fresh]
        update = seen & ~fresh
        self.estimate[update] += self.smoothing * (mean[update] - self.estimate[update])

    def observe_replays(self, slot: np.ndarray, bid_profit: np.ndarray, ask_profit: np.ndarray) -> None:
        """Learn from replayed auctions: (T, K) the learners' profit per candidate margin, buyers and sellers.

        Intervals where no margin changes the profit (the learners had no order, or nothing moved)
        teach nothing and leave the scores as they were.
        """
        for score, profit in ((self.bid_score, bid_profit), (self.ask_score, ask_profit)):
            informative = np.ptp(profit, axis=1) > 1e-12
            for t in np.flatnonzero(informative):
                score[slot[t]] += self.replay_smoothing * (profit[t] - score[slot[t]])
