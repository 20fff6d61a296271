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
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattmesh.community.model import Community
from wattmesh.energy.rules import battery_step, ev_charge_on_arrival_kw
from wattmesh.market.clearing import clear_pay_as_clear, pair_fills

CASES = ("alone", "p2p", "p2p_battery")
CHUNK_INTERVALS = 96 * 7

Progress = Callable[[str, int, int], None]


@dataclass
class CaseResult:
    """Energy and money of one case, arrays shaped (intervals, members) unless noted.

    Energy balance per member and interval (all kWh):
    generation + discharge + bought + import = consumption + charge + sold + export
    """

    name: str
    consumption_kwh: np.ndarray
    generation_kwh: np.ndarray
    charge_kwh: np.ndarray
    discharge_kwh: np.ndarray
    soc_kwh: np.ndarray
    bought_kwh: np.ndarray
    sold_kwh: np.ndarray
    import_kwh: np.ndarray
    export_kwh: np.ndarray
    local_price_per_kwh: np.ndarray  # (T,), NaN where nothing traded locally
    paid_local: np.ndarray  # what each member paid for local purchases, fee included [currency]
    received_local: np.ndarray  # what each member received for local sales [currency]
    fee_paid: np.ndarray  # local grid fees paid [currency]
    paid_utility: np.ndarray  # import cost [currency]
    received_utility: np.ndarray  # feed-in revenue [currency]
    trades: pd.DataFrame | None = None

    @property
    def bill(self) -> np.ndarray:
        """(M,) net energy bill per member over the span [currency]; negative is a net income."""
        return (self.paid_utility + self.paid_local - self.received_utility - self.received_local).sum(axis=0)


@dataclass
class SimulationResult:
    community: Community
    cases: dict[str, CaseResult]
    ev_kw: np.ndarray
    price_rule: str

    @property
    def full(self) -> CaseResult:
        return self.cases["p2p_battery"]


def simulate(
    community: Community, price_rule: str = "midpoint", seed: int = 0, progress: Progress | None = None
) -> SimulationResult:
    """Run the three cases for ``community`` over its whole span."""
    dt = community.interval_h
    ev_kw = ev_charge_on_arrival_kw(community.ev_sessions, community.index, community.member_ids)
    consumption = (community.load_kw + ev_kw) * dt
    generation = community.generation_kw * dt
    zeros = np.zeros_like(consumption)
    cases = {
        "alone": _settle(
            "alone", community, consumption, generation, zeros, zeros, zeros, None, price_rule, seed
        ),
        "p2p": _settle(
            "p2p", community, consumption, generation, zeros, zeros, zeros, "market", price_rule, seed
        ),
    }
    charge, discharge, soc = dispatch_batteries(community, generation - consumption, progress)
    cases["p2p_battery"] = _settle(
        "p2p_battery",
        community,
        consumption,
        generation,
        charge,
        discharge,
        soc,
        "market",
        price_rule,
        seed,
        progress=progress,
    )
    return SimulationResult(community, cases, ev_kw, price_rule)


def dispatch_batteries(
    community: Community, net_kwh: np.ndarray, progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Battery charge, discharge and end-of-interval state of charge (T, M) under the self-consumption rule.

    Home batteries act on their member's own net position; the community battery (members of kind
    ``community``) acts on the sum of all members' positions left after the home batteries.
    """
    storage = community.storage_by_member("battery")
    is_community = (community.members["kind"] == "community").to_numpy()
    home = ~is_community
    n_intervals, n_members = net_kwh.shape
    charge = np.zeros((n_intervals, n_members))
    discharge = np.zeros((n_intervals, n_members))
    soc_out = np.zeros((n_intervals, n_members))
    soc = storage["soc_initial_kwh"].copy()
    capacity, power, efficiency = storage["capacity_kwh"], storage["power_kw"], storage["efficiency"]
    dt = community.interval_h
    home_args = (capacity[home], power[home], efficiency[home])
    community_args = (capacity[is_community], power[is_community], efficiency[is_community])
    home_net = net_kwh[:, home]
    for t in range(n_intervals):
        c, d, soc[home] = battery_step(home_net[t], soc[home], *home_args, dt)
        charge[t, home], discharge[t, home] = c, d
        if community_args[0].size:
            residual = home_net[t].sum() - c.sum() + d.sum()
            shared = np.full(community_args[0].size, residual / community_args[0].size)
            cc, cd, soc[is_community] = battery_step(shared, soc[is_community], *community_args, dt)
            charge[t, is_community], discharge[t, is_community] = cc, cd
        soc_out[t] = soc
        if progress is not None and (t + 1) % CHUNK_INTERVALS == 0:
            progress("batteries", t + 1, n_intervals)
    if progress is not None:
        progress("batteries", n_intervals, n_intervals)
    return charge, discharge, soc_out


def _settle(
    name, community, consumption, generation, charge, discharge, soc, market, price_rule, seed, progress=None
) -> CaseResult:
    """Clear the local market (when ``market``) and settle the rest with the utility."""
    position = generation - consumption - charge + discharge
    surplus = np.maximum(position, 0.0)
    deficit = np.maximum(-position, 0.0)
    retail = community.retail_per_kwh
    feed_in = community.feed_in_per_kwh
    fee = community.local_fee_per_kwh
    bought = np.zeros_like(position)
    sold = np.zeros_like(position)
    price = np.full(len(community.index), np.nan)
    trades = []
    if market:
        rng = np.random.default_rng(seed)
        n_intervals = len(community.index)
        for start in range(0, n_intervals, CHUNK_INTERVALS):
            rows = slice(start, min(start + CHUNK_INTERVALS, n_intervals))
            bid_price = np.broadcast_to((retail[rows] - fee)[:, None], deficit[rows].shape)
            ask_price = np.broadcast_to(feed_in[rows][:, None], surplus[rows].shape)
            cleared = clear_pay_as_clear(deficit[rows], bid_price, surplus[rows], ask_price, price_rule)
            bought[rows], sold[rows], price[rows] = (
                cleared.bid_fill_kwh,
                cleared.ask_fill_kwh,
                cleared.price_per_kwh,
            )
            interval, seller, buyer, energy = pair_fills(cleared.ask_fill_kwh, cleared.bid_fill_kwh, rng)
            trades.append((interval + start, seller, buyer, energy))
            if progress is not None:
                progress("market", rows.stop, n_intervals)
    local_price = np.nan_to_num(price)[:, None]
    imported = deficit - bought
    exported = surplus - sold
    return CaseResult(
        name=name,
        consumption_kwh=consumption,
        generation_kwh=generation,
        charge_kwh=charge,
        discharge_kwh=discharge,
        soc_kwh=soc,
        bought_kwh=bought,
        sold_kwh=sold,
        import_kwh=imported,
        export_kwh=exported,
        local_price_per_kwh=price,
        paid_local=bought * (local_price + fee),
        received_local=sold * local_price,
        fee_paid=bought * fee,
        paid_utility=imported * retail[:, None],
        received_utility=exported * feed_in[:, None],
        trades=_trade_records(community, trades, price, seed) if market else None,
    )


def _trade_records(community: Community, parts: list, price: np.ndarray, seed: int) -> pd.DataFrame:
    """Trades in the DESIGN.md trade-record format, plus the delivery interval and the mechanism."""
    interval = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    seller = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    buyer = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
    energy = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0)
    ids = community.member_ids.to_numpy()
    run = hashlib.blake2b(
        f"{community.name}|{seed}|{community.index[0].isoformat()}".encode(), digest_size=4
    ).hexdigest()
    stamps = community.index.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy()[interval]
    return pd.DataFrame(
        {
            "transaction_id": [f"tx_{run}{k:08x}" for k in range(len(interval))],
            "seller": ids[seller],
            "buyer": ids[buyer],
            "energy_amount_kwh": np.round(energy, 6),
            "price_per_kwh": np.round(price[interval], 6),
            "timestamp": stamps,
            "status": "completed",
            "interval": stamps,
            "mechanism": "pay_as_clear",
        }
    )
