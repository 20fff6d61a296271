"""Hand-built feeders for the grid tests: a two-bus feeder and a small radial LV feeder."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

warnings.filterwarnings("ignore", message=".*numba.*")

VN_KV = 0.4
R_OHM = 0.1  # two-bus line resistance
X_OHM = 0.05  # two-bus line reactance


def two_bus_net(vm_slack_pu: float = 1.0):
    """Slack bus 0 at ``vm_slack_pu`` and bus 1, joined by one line R + jX, no shunt admittance."""
    import pandapower as pp

    net = pp.create_empty_network(sn_mva=1.0)
    pp.create_buses(net, 2, vn_kv=VN_KV)
    pp.create_ext_grid(net, 0, vm_pu=vm_slack_pu)
    pp.create_line_from_parameters(
        net, 0, 1, length_km=1.0, r_ohm_per_km=R_OHM, x_ohm_per_km=X_OHM, c_nf_per_km=0.0, max_i_ka=0.2
    )
    return net


def analytic_two_bus_vm(p_inj_mw: float, q_inj_mvar: float, vm_slack_pu: float = 1.0) -> float:
    """|V2| [pu] of the two-bus feeder when bus 1 injects P + jQ (base 1 MVA, 0.4 kV).

    Receiving-end load P_L = -P, Q_L = -Q gives the classic quartic in |V2| (e.g. Kundur, Power System
    Stability and Control, 2.9): V2^4 + (2 (R P_L + X Q_L) - V1^2) V2^2 + |Z|^2 |S|^2 = 0, upper root.
    """
    z_base = VN_KV**2 / 1.0
    r, x = R_OHM / z_base, X_OHM / z_base
    p_l, q_l = -p_inj_mw, -q_inj_mvar
    b = 2 * (r * p_l + x * q_l) - vm_slack_pu**2
    c = (r**2 + x**2) * (p_l**2 + q_l**2)
    return float(np.sqrt((-b + np.sqrt(b**2 - 4 * c)) / 2))


def radial_net():
    """A 20/0.4 kV transformer and a 6-bus LV cable feeder with a branch.

    Buses: 0 MV slack, 1 transformer LV busbar, 2-3-4-5 along the main cable, 6 on a spur from 2.
    """
    import pandapower as pp

    net = pp.create_empty_network(sn_mva=1.0)
    pp.create_bus(net, vn_kv=20.0)
    pp.create_buses(net, 6, vn_kv=VN_KV)
    pp.create_ext_grid(net, 0, vm_pu=1.02)
    pp.create_transformer(net, 0, 1, std_type="0.25 MVA 20/0.4 kV")
    for f, t, km in ((1, 2, 0.15), (2, 3, 0.15), (3, 4, 0.15), (4, 5, 0.15), (2, 6, 0.1)):
        pp.create_line(net, f, t, length_km=km, std_type="NAYY 4x150 SE")
    return net


@pytest.fixture
def two_bus():
    """A factory: ``two_bus()`` builds a fresh two-bus network."""
    return two_bus_net


@pytest.fixture
def radial():
    """A factory: ``radial()`` builds a fresh radial LV feeder."""
    return radial_net


@pytest.fixture
def analytic_vm():
    """``analytic_vm(p_mw, q_mvar)``: the two-bus feeder's receiving-end voltage [pu]."""
    return analytic_two_bus_vm


@pytest.fixture
def two_bus_line():
    """The two-bus line's resistance, reactance [ohm] and nominal voltage [kV]."""
    return R_OHM, X_OHM, VN_KV
