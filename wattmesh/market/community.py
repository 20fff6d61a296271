"""Community pricing rules without bids: supply-demand ratio (SDR), mid-market rate (MMR), bill sharing.

A co-op that does not want its members to bid pools each interval's surplus and shortage. Every member
declares only quantities; the internal buy and sell prices follow from the totals and the utility's
retail (import) and feed-in (export) prices. The three rules are those compared by Zhou et al. (2018).

References
----------
Y. Zhou, J. Wu, C. Long, "Evaluation of peer-to-peer energy sharing mechanisms based on a multiagent
simulation framework", Applied Energy 222 (2018) 993-1022.
N. Liu, X. Yu, C. Wang, C. Li, L. Ma, J. Lei, "Energy-sharing model with price-based demand response for
microgrids of peer-to-peer prosumers", IEEE Trans. Power Systems 32(5) (2017) 3569-3583 (the SDR rule).
C. Long, J. Wu, C. Zhang, L. Thomas, M. Cheng, N. Jenkins, "Peer-to-peer energy trading in a community
microgrid", IEEE PES General Meeting 2017 (the MMR and bill-sharing rules).
"""

from __future__ import annotations

import numpy as np

from wattmesh.market.clearing import as_order_arrays, pair_fills
from wattmesh.market.result import BatchClearing, BatchTrades, clearing_from_trades, per_interval

COMMUNITY_RULES = ("sdr", "mmr", "bill_sharing")


def community_prices(
    rule: str,
    supply_kwh: np.ndarray,
    demand_kwh: np.ndarray,
    retail_per_kwh: np.ndarray,
    feed_in_per_kwh: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Internal buy and sell prices of a community pricing rule, and the price of a local kWh.

    Parameters
    ----------
    rule : "sdr", "mmr" or "bill_sharing"
    supply_kwh, demand_kwh : (T,) total surplus offered (TSP) and total demand (TBP) [kWh]
    retail_per_kwh, feed_in_per_kwh : (T,) utility prices lambda_buy and lambda_sell [currency/kWh]

    Returns
    -------
    buy_price : (T,) what a buyer pays per kWh of its whole demand, local and imported [currency/kWh]
    sell_price : (T,) what a seller receives per kWh of its whole surplus [currency/kWh]
    local_price : (T,) the price of one locally shared kWh: buyers' payment minus the imported energy at
        retail, over the local volume (the same from the sellers' side), NaN without local volume
        [currency/kWh]

    Notes
    -----
    With SDR = TSP / TBP, lambda_b the retail and lambda_s the feed-in price (Zhou et al. 2018, Sec. 2;
    Liu et al. 2017):

    * SDR: for 0 <= SDR <= 1, P_sell = lambda_b lambda_s / ((lambda_b - lambda_s) SDR + lambda_s) and
      P_buy = P_sell SDR + lambda_b (1 - SDR); for SDR > 1, P_sell = P_buy = lambda_s.
    * MMR: P_mid = (lambda_b + lambda_s) / 2. If TSP = TBP, P_buy = P_sell = P_mid. If TSP < TBP,
      P_sell = P_mid and P_buy = (P_mid TSP + lambda_b (TBP - TSP)) / TBP. If TSP > TBP, P_buy = P_mid
      and P_sell = (P_mid TBP + lambda_s (TSP - TBP)) / TSP.
    * Bill sharing: the community's bill with the utility is shared in proportion to energy: buyers share
      the import cost, P_buy = lambda_b max(TBP - TSP, 0) / TBP, and sellers share the export revenue,
      P_sell = lambda_s max(TSP - TBP, 0) / TSP, so a locally shared kWh costs nothing.

    In every rule the buyers' payments plus the export revenue equal the sellers' receipts plus the import
    cost: the co-op neither gains nor loses money.
    """
    if rule not in COMMUNITY_RULES:
        raise ValueError(f"rule {rule!r} is not one of {', '.join(COMMUNITY_RULES)}")
    # Both branches of each np.where are computed; the one not taken may overflow for subnormal totals.
    with np.errstate(over="ignore"):
        return _community_prices(rule, supply_kwh, demand_kwh, retail_per_kwh, feed_in_per_kwh)


def _community_prices(rule, supply_kwh, demand_kwh, retail_per_kwh, feed_in_per_kwh):
    tsp, tbp = np.asarray(supply_kwh, float), np.asarray(demand_kwh, float)
    lam_b, lam_s = np.asarray(retail_per_kwh, float), np.asarray(feed_in_per_kwh, float)
    zero = np.zeros(np.broadcast(tsp, tbp, lam_b, lam_s).shape)
    tsp, tbp, lam_b, lam_s = tsp + zero, tbp + zero, lam_b + zero, lam_s + zero
    nan = zero + np.nan
    deficit = tsp < tbp
    if rule == "sdr":
        sdr = np.divide(tsp, tbp, out=zero + np.inf, where=tbp > 0)
        sdr_in = np.minimum(sdr, 1.0)
        denominator = (lam_b - lam_s) * sdr_in + lam_s
        sell = np.divide(lam_b * lam_s, denominator, out=lam_b.copy(), where=denominator > 0)
        buy = sell * sdr_in + lam_b * (1.0 - sdr_in)
        sell = np.where(sdr > 1.0, lam_s, sell)
        buy = np.where(sdr > 1.0, lam_s, buy)
        local = np.where(deficit, sell, lam_s)
    elif rule == "mmr":
        mid = 0.5 * (lam_b + lam_s)
        buy = np.where(
            deficit, np.divide(mid * tsp + lam_b * (tbp - tsp), tbp, out=nan.copy(), where=tbp > 0), mid
        )
        sell = np.where(
            tsp > tbp, np.divide(mid * tbp + lam_s * (tsp - tbp), tsp, out=nan.copy(), where=tsp > 0), mid
        )
        local = mid
    else:
        buy = np.divide(lam_b * np.maximum(tbp - tsp, 0.0), tbp, out=nan.copy(), where=tbp > 0)
        sell = np.divide(lam_s * np.maximum(tsp - tbp, 0.0), tsp, out=nan.copy(), where=tsp > 0)
        local = zero
    local = np.where((tsp > 0) & (tbp > 0), local, np.nan)
    return buy, sell, local


def clear_community(
    rule: str,
    bid_kwh: np.ndarray,
    ask_kwh: np.ndarray,
    retail_per_kwh: float | np.ndarray,
    feed_in_per_kwh: float | np.ndarray,
    rng: np.random.Generator,
    fee_per_kwh: float | np.ndarray = 0.0,
) -> BatchClearing:
    """Share each interval's surplus among its buyers by a community pricing rule (no prices bid).

    Parameters
    ----------
    rule : "sdr", "mmr" or "bill_sharing" (formulas in :func:`community_prices`)
    bid_kwh, ask_kwh : (T, Nb), (T, Na) energy wanted and offered [kWh]
    retail_per_kwh, feed_in_per_kwh : utility import and export prices, numbers or (T,) [currency/kWh]
    rng : draws the seeded random order in which fills are paired into trades
    fee_per_kwh : grid fee per local kWh paid by the buyer on top, a number or (T,) [currency/kWh]

    Returns
    -------
    BatchClearing
        The local volume min(TSP, TBP) is shared pro rata: the short side is filled in full, the long
        side in proportion to its quantities. Local kWh trade at ``local_price`` of
        :func:`community_prices`; settling the rest with the utility
        (:func:`~wattmesh.market.utility.settle_with_utility`) then makes every member pay ``buy_price``
        or receive ``sell_price`` per kWh of its whole demand or surplus.
    """
    bid_kwh, _, ask_kwh, _ = as_order_arrays(bid_kwh, np.zeros_like(bid_kwh), ask_kwh, np.zeros_like(ask_kwh))
    n_intervals = bid_kwh.shape[0]
    retail = per_interval(retail_per_kwh, n_intervals, "retail_per_kwh")
    feed_in = per_interval(feed_in_per_kwh, n_intervals, "feed_in_per_kwh")
    fee = per_interval(fee_per_kwh, n_intervals, "fee_per_kwh")
    supply, demand = ask_kwh.sum(axis=1), bid_kwh.sum(axis=1)
    _, _, local_price = community_prices(rule, supply, demand, retail, feed_in)
    volume = np.minimum(supply, demand)
    ask_share = np.divide(volume, supply, out=np.zeros(n_intervals), where=supply > 0)
    bid_share = np.divide(volume, demand, out=np.zeros(n_intervals), where=demand > 0)
    row, seller, buyer, energy = pair_fills(ask_kwh * ask_share[:, None], bid_kwh * bid_share[:, None], rng)
    trades = BatchTrades(row, seller, buyer, energy, local_price[row], fee[row])
    return clearing_from_trades(rule, trades, n_intervals, bid_kwh.shape[1], ask_kwh.shape[1])
