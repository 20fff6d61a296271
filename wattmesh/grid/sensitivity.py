"""Linear sensitivities of the feeder (PTDF, voltage per kW) and the electrical distance behind grid fees.

The power transfer distribution factors say how much of 1 kW injected at a bus (and drawn at the slack)
flows on each branch; a trade from a seller's bus s to a buyer's bus b moves ``PTDF[:, s] - PTDF[:, b]``
on each branch per kW. On a radial feeder those factors are 0 or +-1: the branches on the path between the
two buses. The distance between two buses is the sum of a per-branch weight over the branches the trade
moves power on, so "segments" counts the branches on the path, "km" adds their lengths and "ohm" their
impedances; a distance-based fee is then ``base + rate * distance`` per kWh.

References
----------
Wood, A. J., Wollenberg, B. F., Sheble, G. B. (2014). Power Generation, Operation, and Control, 3rd ed.,
Wiley, section 7.3 (linear sensitivity factors).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wattmesh.grid.network import FeederModel

DISTANCE_WEIGHTS = ("segments", "km", "ohm")


def _branches(model: FeederModel) -> pd.DataFrame:
    """One row per in-service branch (lines, then transformers): kind, id, from/to position, |z| [pu, ohm]."""
    net = model.net
    line = net.line[net.line["in_service"].astype(bool)]
    trafo = net.trafo[net.trafo["in_service"].astype(bool)]
    vn = net.bus["vn_kv"].to_numpy()
    line_z_ohm = (
        line["length_km"] * np.hypot(line["r_ohm_per_km"], line["x_ohm_per_km"]) / line["parallel"]
    ).to_numpy()
    line_from = line["from_bus"].to_numpy()
    trafo_z_pu = (trafo["vk_percent"] / 100.0 / (trafo["sn_mva"] * trafo["parallel"])).to_numpy()
    trafo_lv = trafo["lv_bus"].to_numpy()
    return pd.DataFrame(
        {
            "kind": ["line"] * len(line) + ["trafo"] * len(trafo),
            "id": np.r_[line.index.to_numpy(), trafo.index.to_numpy()],
            "from_pos": np.r_[line_from, trafo["hv_bus"].to_numpy()].astype(np.int64),
            "to_pos": np.r_[line["to_bus"].to_numpy(), trafo_lv].astype(np.int64),
            # per unit on a 1 MVA base, so that branches at different voltages compare
            "z_pu": np.r_[line_z_ohm / vn[line_from] ** 2, trafo_z_pu],
            "z_ohm": np.r_[line_z_ohm, trafo_z_pu * vn[trafo_lv] ** 2],
            "length_km": np.r_[line["length_km"].to_numpy(), np.zeros(len(trafo))],
        }
    )


def ptdf_matrix(model: FeederModel) -> pd.DataFrame:
    """Power transfer distribution factors [kW on the branch per kW injected at the bus].

    Parameters
    ----------
    model : the feeder's power-flow model

    Returns
    -------
    DataFrame (branches x buses): rows indexed by (kind, id) with kind "line" or "trafo", columns the bus
    ids; entry (k, j) is the flow on branch k in its from -> to (HV -> LV) direction when 1 kW is injected
    at bus j and drawn at the slack bus.

    Notes
    -----
    The DC approximation with branch weights 1/|z| (LV lines have R close to X, so |z| rather than X);
    on a radial feeder the factors do not depend on the weights at all.
    """
    branches = _branches(model)
    n_bus = model.n_buses
    incidence = np.zeros((len(branches), n_bus))
    rows = np.arange(len(branches))
    incidence[rows, branches["from_pos"]] = 1.0
    incidence[rows, branches["to_pos"]] = -1.0
    weight = 1.0 / branches["z_pu"].to_numpy()
    b_bus = incidence.T @ (weight[:, None] * incidence)
    slack = int(model.positions([model.slack_bus])[0])
    keep = np.flatnonzero(np.arange(n_bus) != slack)
    reactance = np.zeros((n_bus, n_bus))
    reduced = b_bus[np.ix_(keep, keep)]
    # Buses cut off from the slack (all their branches out of service) get no flow at all.
    connected = np.abs(reduced).sum(axis=1) > 0
    inner = keep[connected]
    reactance[np.ix_(inner, inner)] = np.linalg.inv(reduced[np.ix_(connected, connected)])
    ptdf = (weight[:, None] * incidence) @ reactance
    index = pd.MultiIndex.from_arrays([branches["kind"], branches["id"]], names=["kind", "id"])
    return pd.DataFrame(np.where(np.abs(ptdf) < 1e-12, 0.0, ptdf), index=index, columns=model.bus_ids)


def bus_distance_matrix(model: FeederModel, weight: str = "segments") -> pd.DataFrame:
    """Electrical distance between every pair of buses (buses x buses).

    Parameters
    ----------
    weight : "segments" (branches between the buses) [-], "km" (their length) [km] or "ohm" (their
        impedance magnitude) [ohm]

    Returns
    -------
    DataFrame (buses x buses), symmetric with a zero diagonal:
    ``sum_k w_k * |PTDF[k, i] - PTDF[k, j]|``.
    """
    if weight not in DISTANCE_WEIGHTS:
        raise ValueError(f"weight {weight!r} is not one of {', '.join(DISTANCE_WEIGHTS)}")
    branches = _branches(model)
    ptdf = ptdf_matrix(model).to_numpy()
    w = {"segments": np.ones(len(branches)), "km": branches["length_km"], "ohm": branches["z_ohm"]}[weight]
    w = np.asarray(w, dtype=float)
    distance = np.einsum("k,kij->ij", w, np.abs(ptdf[:, :, None] - ptdf[:, None, :]))
    return pd.DataFrame(distance, index=model.bus_ids, columns=model.bus_ids)


def grid_fee_per_kwh(
    seller_bus: np.ndarray,
    buyer_bus: np.ndarray,
    distance: pd.DataFrame,
    rate_per_kwh_per_unit: float,
    base_per_kwh: float = 0.0,
    cap_per_kwh: float | None = None,
) -> np.ndarray:
    """Grid fee of each local trade by the electrical distance between the seller's and buyer's buses.

    Parameters
    ----------
    seller_bus, buyer_bus : (N,) bus ids of each trade's seller and buyer
    distance : bus distance matrix from :func:`bus_distance_matrix`
    rate_per_kwh_per_unit : fee per kWh and per unit of distance [currency/kWh/unit]
    base_per_kwh : fee every local trade pays, also between neighbours on one bus [currency/kWh]
    cap_per_kwh : highest fee (e.g. the utility's full network charge), None for no cap [currency/kWh]

    Returns
    -------
    (N,) fee per kWh of each trade [currency/kWh]: ``min(base + rate * d(seller, buyer), cap)``
    """
    seller_pos = distance.index.get_indexer(np.asarray(seller_bus))
    buyer_pos = distance.columns.get_indexer(np.asarray(buyer_bus))
    for name, pos, bus in (("seller_bus", seller_pos, seller_bus), ("buyer_bus", buyer_pos, buyer_bus)):
        if (pos < 0).any():
            raise ValueError(
                f"{name} {np.asarray(bus)[pos < 0][:5].tolist()} is not a bus of the distance matrix"
            )
    fee = base_per_kwh + rate_per_kwh_per_unit * distance.to_numpy()[seller_pos, buyer_pos]
    return fee if cap_per_kwh is None else np.minimum(fee, cap_per_kwh)


def member_fee_matrix_per_kwh(
    member_bus: np.ndarray,
    distance: pd.DataFrame,
    rate_per_kwh_per_unit: float,
    base_per_kwh: float = 0.0,
    cap_per_kwh: float | None = None,
) -> np.ndarray:
    """(M, M) grid fee per kWh from seller member (row) to buyer member (column) [currency/kWh]."""
    member_bus = np.asarray(member_bus)
    sellers = np.repeat(member_bus, len(member_bus))
    buyers = np.tile(member_bus, len(member_bus))
    fee = grid_fee_per_kwh(sellers, buyers, distance, rate_per_kwh_per_unit, base_per_kwh, cap_per_kwh)
    return fee.reshape(len(member_bus), len(member_bus))


def voltage_sensitivity_pu_per_kw(model: FeederModel) -> pd.DataFrame:
    """How much each bus's voltage magnitude rises per kW injected at each bus [pu/kW].

    Returns
    -------
    DataFrame (buses x buses): entry (i, j) is d|V_i| / dP_j around the no-load operating point.

    Notes
    -----
    With the bus impedance matrix Z (the inverse of the admittance matrix with the slack bus grounded),
    an extra current dI_j = conj(dS_j / V_j) changes the voltages by dV = Z dI; the magnitude changes by
    the component of dV along V_i: d|V_i| = Re(dV_i conj(V_i)) / |V_i|. For a two-bus feeder with a
    line R + jX and V = 1 pu this is the familiar dV = R dP (per unit).
    """
    import pandapower as pp

    net = model.net
    net.load["p_mw"] = 0.0
    net.load["q_mvar"] = 0.0
    pp.runpp(net, numba=False)
    ybus = net._ppc["internal"]["Ybus"].toarray()
    lookup = net._pd2ppc_lookups["bus"]
    ppc_pos = lookup[np.arange(model.n_buses)]
    v = net._ppc["internal"]["V"]
    base_mva = net.sn_mva
    slack = int(model.positions([model.slack_bus])[0])
    slack_ppc = ppc_pos[slack]
    keep = np.flatnonzero(np.arange(ybus.shape[0]) != slack_ppc)
    z = np.zeros_like(ybus)
    z[np.ix_(keep, keep)] = np.linalg.inv(ybus[np.ix_(keep, keep)])
    # dP of 1 kW = 1e-3 MW / base_mva per unit
    d_current = np.conj(1.0 / v) * (1e-3 / base_mva)
    dv = z * d_current[None, :]
    sensitivity = np.real(dv * np.conj(v)[:, None]) / np.abs(v)[:, None]
    sensitivity = sensitivity[np.ix_(ppc_pos, ppc_pos)]
    return pd.DataFrame(sensitivity, index=model.bus_ids, columns=model.bus_ids)
