"""The continuous double auction: an in-memory limit order book for one delivery interval.

Price-time priority: an incoming order trades against the best-priced resting orders of the other side,
oldest first at each price, at the resting (maker) order's price, as long as the prices cross. Orders are
``limit`` (the rest waits in the book), ``ioc`` (immediate-or-cancel: the rest is dropped) or ``fok``
(fill-or-kill: all at once or nothing). Resting orders can be cancelled and amended. The live server keeps
one book per delivery interval; the book holds state, so it is a class (the only one of the market).
"""

from __future__ import annotations

import heapq
import math
import numbers
from collections import deque
from typing import NamedTuple

import numpy as np

TIME_IN_FORCE = ("limit", "ioc", "fok")
SIDES = ("buy", "sell")

# Remaining quantities at or below this are treated as filled (kWh).
QUANTITY_TOLERANCE_KWH = 1e-12

# Positions in an order entry (a list, for speed): id, member, is_buy, price, remaining, sequence number.
_ID, _MEMBER, _IS_BUY, _PRICE, _REMAINING, _SEQ = range(6)


class OrderRejected(ValueError):
    """An order the book refuses, with the reason naming the field, the value and what was expected."""


class Fill(NamedTuple):
    """One trade of the order book.

    ``price_per_kwh`` is the resting (maker) order's price; ``taker_is_buy`` tells which side arrived.
    """

    sequence: int
    buy_order_id: str
    sell_order_id: str
    buyer: str
    seller: str
    energy_kwh: float
    price_per_kwh: float
    taker_is_buy: bool


class OrderBook:
    """A continuous double auction order book with price-time priority.

    Parameters
    ----------
    member_ids : the members allowed to trade; None admits anyone
    self_trade : what happens when an order would trade with a resting order of the same member:
        "cancel_resting" (default: the older order is cancelled, the new one goes on) or "allow"

    Notes
    -----
    Each side keeps a dict from price to a FIFO queue of orders and a heap of prices, so the best price is
    found in O(1) and a new price level costs O(log L). Cancelled or filled orders are dropped from their
    queue lazily, when they reach its head. Amending only the quantity downwards keeps the order's time
    priority; any other amendment (a new price, more quantity) is a cancel and a new entry, which loses
    it (the rule of most exchanges). After every call the book is uncrossed: the best bid is below the
    best ask.
    """

    def __init__(self, member_ids=None, self_trade: str = "cancel_resting") -> None:
        if self_trade not in ("cancel_resting", "allow"):
            raise ValueError(f"self_trade {self_trade!r} is not one of cancel_resting, allow")
        self._members = None if member_ids is None else frozenset(member_ids)
        self._cancel_own = self_trade == "cancel_resting"
        self._orders: dict[str, list] = {}
        self._seen: set[str] = set()
        # side -> {price: [live order count, deque of entries]}; heaps hold price (asks) or -price (bids).
        self._levels: tuple[dict, dict] = ({}, {})  # (asks, bids)
        self._heaps: tuple[list, list] = ([], [])
        self._sequence = 0
        self.fills: list[Fill] = []

    # ----------------------------------------------------------------------------------------- queries
    def best_bid(self) -> float | None:
        """Highest resting buy price, or None [currency/kWh]."""
        return self._best(True)

    def best_ask(self) -> float | None:
        """Lowest resting sell price, or None [currency/kWh]."""
        return self._best(False)

    def is_crossed(self) -> bool:
        """Whether a resting bid is priced at or above a resting ask (never true after a call returns)."""
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid >= ask

    def depth(self, side: str) -> list[tuple[float, float]]:
        """Resting (price, energy_kwh) per price level of ``side``, best first."""
        is_buy = _side_is_buy(side)
        levels = self._levels[is_buy]
        out = []
        for price in sorted(levels, reverse=is_buy):
            energy = sum(entry[_REMAINING] for entry in levels[price][1] if entry[_REMAINING] > 0)
            out.append((price, energy))
        return out

    def resting(self, order_id: str) -> float:
        """Energy still resting of ``order_id``, 0 if it is not in the book [kWh]."""
        entry = self._orders.get(order_id)
        return 0.0 if entry is None else entry[_REMAINING]

    def resting_orders(self) -> list[dict]:
        """Every resting order in priority order (per side: best price first, then oldest first).

        Submitting these rows in order to an empty book rebuilds the same book (the live server's way to
        persist a book and restore it after a restart).
        """
        out = []
        for is_buy in (True, False):
            levels = self._levels[is_buy]
            for price in sorted(levels, reverse=is_buy):
                for entry in levels[price][1]:
                    if entry[_REMAINING] > 0:
                        out.append(
                            {
                                "order_id": entry[_ID],
                                "member_id": entry[_MEMBER],
                                "side": "buy" if is_buy else "sell",
                                "energy_kwh": entry[_REMAINING],
                                "price_per_kwh": price,
                                "sequence": entry[_SEQ],
                            }
                        )
        return out

    def __len__(self) -> int:
        """Number of resting orders."""
        return len(self._orders)

    # --------------------------------------------------------------------------------------- commands
    def submit(
        self,
        order_id: str,
        member_id: str,
        side: str,
        energy_kwh: float,
        price_per_kwh: float,
        time_in_force: str = "limit",
    ) -> list[Fill]:
        """Enter an order; returns the fills it caused (also appended to :attr:`fills`).

        Raises
        ------
        OrderRejected
            for a duplicate order id, an unknown member, a side other than buy/sell, a quantity that is not
            a positive finite number, a price that is not finite, or an unknown time in force.
        """
        if order_id in self._seen:
            raise OrderRejected(f"order {order_id!r}: order_id is already used, expected a new id")
        if side == "buy":
            is_buy = True
        elif side == "sell":
            is_buy = False
        else:
            raise OrderRejected(f"order {order_id!r}: side {side!r} is not one of buy, sell")
        if not (_is_number(energy_kwh) and energy_kwh > 0 and math.isfinite(energy_kwh)):
            raise OrderRejected(
                f"order {order_id!r}: energy_kwh {energy_kwh!r} is not a positive finite number of kWh"
            )
        if not (_is_number(price_per_kwh) and math.isfinite(price_per_kwh)):
            raise OrderRejected(f"order {order_id!r}: price_per_kwh {price_per_kwh!r} is not a finite number")
        if self._members is not None and member_id not in self._members:
            raise OrderRejected(f"order {order_id!r}: member_id {member_id!r} is not a member of this market")
        if time_in_force != "limit" and time_in_force not in TIME_IN_FORCE:
            raise OrderRejected(
                f"order {order_id!r}: time_in_force {time_in_force!r} is not one of {', '.join(TIME_IN_FORCE)}"
            )
        self._seen.add(order_id)
        return self._enter(
            order_id, member_id, is_buy, float(energy_kwh), float(price_per_kwh), time_in_force
        )

    def cancel(self, order_id: str) -> bool:
        """Remove a resting order; False if it is not resting (unknown, filled or already cancelled)."""
        entry = self._orders.pop(order_id, None)
        if entry is None:
            return False
        self._drop(entry)
        return True

    def amend(
        self, order_id: str, energy_kwh: float | None = None, price_per_kwh: float | None = None
    ) -> list[Fill]:
        """Change a resting order's remaining quantity and/or price; returns any fills caused.

        A smaller quantity at the same price keeps time priority; a new price or a larger quantity
        re-enters the order at the back of its (new) price level, and it may trade at once.

        Raises
        ------
        OrderRejected
            if the order is not resting, or the new quantity or price is not a positive finite number.
        """
        entry = self._orders.get(order_id)
        if entry is None:
            raise OrderRejected(f"order {order_id!r}: is not resting in the book, cannot amend it")
        energy = entry[_REMAINING] if energy_kwh is None else energy_kwh
        price = entry[_PRICE] if price_per_kwh is None else price_per_kwh
        if not (_is_number(energy) and energy > 0 and math.isfinite(energy)):
            raise OrderRejected(f"order {order_id!r}: energy_kwh {energy!r} is not a positive finite number")
        if not (_is_number(price) and math.isfinite(price)):
            raise OrderRejected(f"order {order_id!r}: price_per_kwh {price!r} is not a finite number")
        if price == entry[_PRICE] and energy <= entry[_REMAINING]:
            entry[_REMAINING] = float(energy)
            return []
        self.cancel(order_id)
        return self._enter(order_id, entry[_MEMBER], entry[_IS_BUY], float(energy), float(price), "limit")

    # ------------------------------------------------------------------------------------- internals
    def _best(self, is_buy: bool) -> float | None:
        levels, heap = self._levels[is_buy], self._heaps[is_buy]
        while heap:
            price = -heap[0] if is_buy else heap[0]
            if price in levels:
                return price
            heapq.heappop(heap)
        return None

    def _drop(self, entry: list) -> None:
        """Take a live entry out of its level (its queue slot is skipped lazily)."""
        entry[_REMAINING] = 0.0
        levels = self._levels[entry[_IS_BUY]]
        level = levels[entry[_PRICE]]
        level[0] -= 1
        if level[0] == 0:
            del levels[entry[_PRICE]]

    def _available(self, is_buy: bool, member: str, price: float, wanted: float) -> float:
        """Energy the other side offers at prices crossing ``price``, up to ``wanted``, excluding own."""
        levels = self._levels[not is_buy]
        crossing = [p for p in levels if (p <= price if is_buy else p >= price)]
        total = 0.0
        for level_price in sorted(crossing, reverse=not is_buy):
            for entry in levels[level_price][1]:
                if entry[_REMAINING] > 0 and not (self._cancel_own and entry[_MEMBER] == member):
                    total += entry[_REMAINING]
                    if total >= wanted - QUANTITY_TOLERANCE_KWH:
                        return total
        return total

    def _enter(
        self, order_id: str, member: str, is_buy: bool, energy: float, price: float, time_in_force: str
    ) -> list[Fill]:
        if time_in_force == "fok" and self._available(is_buy, member, price, energy) < (
            energy - QUANTITY_TOLERANCE_KWH
        ):
            return []
        fills: list[Fill] = []
        remaining = energy
        levels = self._levels[not is_buy]
        heap = self._heaps[not is_buy]
        cancel_own = self._cancel_own
        while remaining > QUANTITY_TOLERANCE_KWH and heap:
            best = -heap[0] if not is_buy else heap[0]
            level = levels.get(best)
            if level is None:
                heapq.heappop(heap)
                continue
            if (best > price) if is_buy else (best < price):
                break
            queue = level[1]
            while queue and remaining > QUANTITY_TOLERANCE_KWH:
                maker = queue[0]
                left = maker[_REMAINING]
                if left <= 0.0:
                    queue.popleft()
                    continue
                if cancel_own and maker[_MEMBER] == member:
                    queue.popleft()
                    del self._orders[maker[_ID]]
                    self._drop(maker)
                    continue
                traded = left if left < remaining else remaining
                remaining -= traded
                left -= traded
                self._sequence += 1
                if is_buy:
                    fill = Fill(
                        self._sequence, order_id, maker[_ID], member, maker[_MEMBER], traded, best, True
                    )
                else:
                    fill = Fill(
                        self._sequence, maker[_ID], order_id, maker[_MEMBER], member, traded, best, False
                    )
                fills.append(fill)
                if left <= QUANTITY_TOLERANCE_KWH:
                    queue.popleft()
                    del self._orders[maker[_ID]]
                    self._drop(maker)
                else:
                    maker[_REMAINING] = left
            if best in levels and not levels[best][1]:
                # Only stale entries were left; the count says the level is empty.
                del levels[best]
        if remaining > QUANTITY_TOLERANCE_KWH and time_in_force == "limit":
            self._sequence += 1
            entry = [order_id, member, is_buy, price, remaining, self._sequence]
            self._orders[order_id] = entry
            own_levels = self._levels[is_buy]
            level = own_levels.get(price)
            if level is None:
                own_levels[price] = [1, deque((entry,))]
                heapq.heappush(self._heaps[is_buy], -price if is_buy else price)
            else:
                level[0] += 1
                level[1].append(entry)
        self.fills.extend(fills)
        return fills


def _side_is_buy(side: str) -> bool:
    if side not in SIDES:
        raise ValueError(f"side {side!r} is not one of buy, sell")
    return side == "buy"


def _is_number(value) -> bool:
    """A real number that is not a bool (numpy scalars included)."""
    if type(value) is float or type(value) is int:
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
