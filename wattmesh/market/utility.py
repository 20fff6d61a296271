"""The utility as buyer and seller of last resort, and grid fees (flat or by electrical distance)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wattmesh.market.result import BatchClearing, per_interval


@dataclass(frozen=True)
class UtilitySettlement:
    """What the utility sold and bought after local clearing, per slot.

    Attributes
    ----------
    import_kwh : (T, Nb) demand not met locally, bought from the utility [kWh]
    export_kwh : (T, Na) surplus not sold locally, sold to the utility [kWh]
    import_cost : (T, Nb) import_kwh x retail price [currency]
    export_revenue : (T, Na) export_kwh x feed-in price [currency]
    """

    import_kwh: np.ndarray
    export_kwh: np.ndarray
    import_cost: np.ndarray
    export_revenue: np.ndarray


def settle_with_utility(
    bid_kwh: np.ndarray,
    ask_kwh: np.ndarray,
    clearing: BatchClearing,
    retail_per_kwh: float | np.ndarray,
    feed_in_per_kwh: float | np.ndarray,
) -> UtilitySettlement:
    """Settle the energy the local market left over with the utility at retail and feed-in prices.

    Parameters
    ----------
    bid_kwh, ask_kwh : (T, Nb), (T, Na) the quantities that were offered to the market [kWh]
    clearing : the local market's result for those orders
    retail_per_kwh, feed_in_per_kwh : the utility's import and export prices, numbers or (T,)
        [currency/kWh]

    Notes
    -----
    Every bid's unfilled demand is imported at retail and every ask's unsold surplus exported at the
    feed-in price, whatever their limit prices: in the physical community the energy flows anyway, and the
    utility is the counterparty of last resort. Fills above the ordered quantity by rounding (below 1e-9
    kWh) are clipped to zero.
    """
    bid_kwh = np.atleast_2d(np.asarray(bid_kwh, float))
    ask_kwh = np.atleast_2d(np.asarray(ask_kwh, float))
    n_intervals = bid_kwh.shape[0]
    retail = per_interval(retail_per_kwh, n_intervals, "retail_per_kwh")
    feed_in = per_interval(feed_in_per_kwh, n_intervals, "feed_in_per_kwh")
    import_kwh = np.maximum(bid_kwh - clearing.bid_fill_kwh, 0.0)
    export_kwh = np.maximum(ask_kwh - clearing.ask_fill_kwh, 0.0)
    return UtilitySettlement(
        import_kwh, export_kwh, import_kwh * retail[:, None], export_kwh * feed_in[:, None]
    )


def net_cost(clearing: BatchClearing, settlement: UtilitySettlement) -> np.ndarray:
    """(T, M) each member's net energy cost when bid slot m and ask slot m are member m [currency].

    Local payments and grid fees plus utility imports, minus local revenue and utility exports.
    """
    if clearing.bid_fill_kwh.shape != clearing.ask_fill_kwh.shape:
        raise ValueError(
            f"bid slots {clearing.bid_fill_kwh.shape} and ask slots {clearing.ask_fill_kwh.shape} differ, "
            "expected one bid and one ask slot per member"
        )
    return clearing.bid_payment + settlement.import_cost - clearing.ask_revenue - settlement.export_revenue


def electrical_distance(
    from_bus: np.ndarray, to_bus: np.ndarray, length: np.ndarray, n_buses: int | None = None
) -> np.ndarray:
    """(B, B) shortest electrical distance between every pair of buses of a feeder.

    Parameters
    ----------
    from_bus, to_bus : (L,) int bus numbers of each line's ends
    length : (L,) each line's length [km] or impedance [ohm]; the distance has the same unit
    n_buses : number of buses B (default: the largest bus number + 1)

    Notes
    -----
    Dijkstra's shortest paths over the undirected line graph (scipy.sparse.csgraph). On a radial feeder
    this is the length of the unique path; buses that are not connected are infinitely far apart.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import shortest_path

    from_bus, to_bus = np.asarray(from_bus, np.int64), np.asarray(to_bus, np.int64)
    length = np.asarray(length, float)
    if np.any(length < 0) or not np.all(np.isfinite(length)):
        raise ValueError(f"length holds {length[~(length >= 0)][:1]!r}, expected finite lengths >= 0")
    if n_buses is None:
        n_buses = int(max(from_bus.max(initial=-1), to_bus.max(initial=-1))) + 1
    # A zero-length line (a switch) must still connect its buses: give it a length far below any other.
    weight = np.where(length > 0, length, 1e-12)
    graph = coo_matrix((weight, (from_bus, to_bus)), shape=(n_buses, n_buses)).tocsr()
    distance = shortest_path(graph, method="D", directed=False)
    return np.where(distance < 1e-9, np.round(distance, 9), distance)


def distance_fee_per_kwh(
    seller_bus: np.ndarray,
    buyer_bus: np.ndarray,
    distance: np.ndarray,
    fee_per_kwh_per_distance: float,
    base_fee_per_kwh: float = 0.0,
) -> np.ndarray:
    """(Na, Nb) grid fee of a trade from each seller to each buyer: base + rate x electrical distance.

    Parameters
    ----------
    seller_bus, buyer_bus : (Na,), (Nb,) int bus of each ask and bid slot
    distance : (B, B) electrical distance between buses (see :func:`electrical_distance`) [km or ohm]
    fee_per_kwh_per_distance : fee per kWh per unit of distance [currency/kWh/km or /ohm]
    base_fee_per_kwh : fee of every local kWh, however near [currency/kWh]
    """
    distance = np.asarray(distance, float)
    return base_fee_per_kwh + fee_per_kwh_per_distance * distance[np.ix_(seller_bus, buyer_bus)]


def feeder_distance(net, weight: str = "length_km"):
    """Electrical distance between every pair of buses of a pandapower feeder, as a bus x bus table.

    Parameters
    ----------
    net : a pandapower network (e.g. a SimBench LV grid); its in-service lines are the edges, and its
        transformers and closed bus-bus switches join their buses at zero distance
    weight : the line column that measures distance: "length_km" [km], or "r_ohm" for the series
        resistance r_ohm_per_km x length_km [ohm]

    Returns
    -------
    pandas.DataFrame
        (B, B) distances indexed and labelled by pandapower bus index; pass ``.to_numpy()`` with each
        member's row position to :func:`distance_fee_per_kwh`.
    """
    import pandas as pd

    lines = net.line[net.line["in_service"]]
    if weight == "r_ohm":
        length = (lines["r_ohm_per_km"] * lines["length_km"]).to_numpy(float)
    elif weight == "length_km":
        length = lines["length_km"].to_numpy(float)
    else:
        raise ValueError(f"weight {weight!r} is not one of length_km, r_ohm")
    frm, to = [lines["from_bus"].to_numpy()], [lines["to_bus"].to_numpy()]
    lengths = [length]
    if len(net.trafo):
        frm.append(net.trafo["hv_bus"].to_numpy())
        to.append(net.trafo["lv_bus"].to_numpy())
        lengths.append(np.zeros(len(net.trafo)))
    switches = net.switch[(net.switch["et"] == "b") & net.switch["closed"]] if len(net.switch) else None
    if switches is not None and len(switches):
        frm.append(switches["bus"].to_numpy())
        to.append(switches["element"].to_numpy())
        lengths.append(np.zeros(len(switches)))
    buses = net.bus.index.to_numpy()
    position = pd.Series(np.arange(len(buses)), index=buses)
    distance = electrical_distance(
        position[np.concatenate(frm)].to_numpy(),
        position[np.concatenate(to)].to_numpy(),
        np.concatenate(lengths),
        n_buses=len(buses),
    )
    return pd.DataFrame(distance, index=buses, columns=buses)
