"""The feeder as a power-flow model: one injection point per bus, and members' injections mapped to buses.

A SimBench network carries its own loads, generators and storage with their own profiles. The simulator
replaces all of them by the members' net injections, so the power-flow model keeps the lines, the
transformer and the external grid and puts one PQ load on every bus (an "injection point"); a bus injection
of +x kW (export) is that load at -x kW.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class FeederModel:
    """A pandapower network ready for time-series power flow.

    Attributes
    ----------
    net : the pandapower network with continuous bus index 0..B-1, one load per bus (``net.load`` row b
        sits on bus b) and no other injections
    bus_ids : (B,) the original bus ids of the network, in model order; results are labelled with these
    slack_bus : original id of the bus the external grid is connected to
    trafo_lv_bus : original id of the transformer's low-voltage bus, or None without a transformer
    """

    net: object
    bus_ids: pd.Index
    slack_bus: int
    trafo_lv_bus: int | None

    @property
    def n_buses(self) -> int:
        return len(self.bus_ids)

    def positions(self, buses: np.ndarray | pd.Index) -> np.ndarray:
        """Model positions of the original bus ids ``buses``.

        Raises
        ------
        ValueError
            naming the bus ids the feeder does not have.
        """
        pos = self.bus_ids.get_indexer(np.asarray(buses))
        if (pos < 0).any():
            missing = np.asarray(buses)[pos < 0]
            raise ValueError(
                f"bus {missing[:5].tolist()} is not a bus of the feeder (ids {self.bus_ids.min()}-"
                f"{self.bus_ids.max()})"
            )
        return pos


def load_network(source: str | Path | object) -> object:
    """The pandapower network from a SimBench code, a pandapower JSON file or a network object.

    Parameters
    ----------
    source : a SimBench LV code (e.g. ``1-LV-rural3--2-sw``, loaded through the community's SimBench cache),
        a path to a pandapower JSON file, or a pandapower network (returned as is)
    """
    import pandapower as pp

    if not isinstance(source, str | Path):
        return source
    path = Path(source)
    if path.suffix == ".json" and path.is_file():
        return pp.from_json(str(path))
    from wattmesh.community.simbench_source import load_feeder

    return pp.from_json(str(load_feeder(str(source)).net_path))


def feeder_model(net: object) -> FeederModel:
    """The power-flow model of ``net``: injections replaced by one load per bus, switches applied.

    Parameters
    ----------
    net : a pandapower network with one external grid (the slack)

    Notes
    -----
    Open line switches take their line out of service. SimBench gives its transformer a tap position
    but no tap-changer type; pandapower 3 ignores such a tap while lightsim2grid applies it, so a
    transformer with a tap step and no type is given the type ``Ratio`` (what SimBench means: the tap
    raises the LV voltage by ``-tap_pos * tap_step_percent``), and both solvers then agree.

    Raises
    ------
    ValueError
        when the network has bus-bus switches (fuse the buses first) or not exactly one external grid.
    """
    import pandapower as pp

    model = copy.deepcopy(net)
    if len(model.ext_grid[model.ext_grid["in_service"]]) != 1:
        raise ValueError(f"ext_grid: the feeder has {len(model.ext_grid)} external grids, expected exactly 1")
    switch = model.switch
    if len(switch):
        if (switch["et"] == "b").any():
            raise ValueError("switch: the feeder has bus-bus switches; fuse those buses before power flow")
        open_lines = switch.loc[(switch["et"] == "l") & ~switch["closed"].astype(bool), "element"]
        model.line.loc[open_lines.unique(), "in_service"] = False
        model.switch = switch.iloc[0:0]
    if len(model.trafo):
        if "tap_changer_type" not in model.trafo:
            model.trafo["tap_changer_type"] = None
        no_type = model.trafo["tap_changer_type"].isna() & (model.trafo["tap_step_percent"].fillna(0) != 0)
        model.trafo.loc[no_type, "tap_changer_type"] = "Ratio"
        model.trafo["tap_pos"] = model.trafo["tap_pos"].fillna(model.trafo["tap_neutral"]).fillna(0.0)
    for element in ("load", "sgen", "storage", "gen", "shunt", "ward", "xward"):
        if element in model and len(model[element]):
            model[element] = model[element].iloc[0:0]
    bus_ids = pd.Index(model.bus.index.to_numpy(), name="bus")
    slack_bus = int(model.ext_grid.loc[model.ext_grid["in_service"], "bus"].iloc[0])
    trafo_lv_bus = int(model.trafo["lv_bus"].iloc[0]) if len(model.trafo) else None
    pp.toolbox.create_continuous_bus_index(model, start=0, store_old_index=False)
    pp.create_loads(model, np.arange(len(model.bus)), p_mw=0.0, q_mvar=0.0)
    return FeederModel(model, bus_ids, slack_bus, trafo_lv_bus)


def bus_injection_kw(
    member_injection_kw: np.ndarray, member_bus: np.ndarray, index: pd.DatetimeIndex | None = None
) -> pd.DataFrame:
    """Net injection per bus [kW], the sum of the injections of the members on each bus.

    Parameters
    ----------
    member_injection_kw : (T, M) members' net injections, generation minus consumption [kW]; > 0 exports
    member_bus : (M,) the bus of each member (the ``bus`` column of the member table)
    index : (T,) interval start times for the rows, or None for 0..T-1

    Returns
    -------
    DataFrame (T x buses), columns the distinct buses in ascending order [kW]
    """
    injection = np.atleast_2d(np.asarray(member_injection_kw, dtype=float))
    member_bus = np.asarray(member_bus, dtype=np.int64)
    if injection.shape[1] != member_bus.shape[0]:
        raise ValueError(
            f"member_injection_kw has {injection.shape[1]} member columns, member_bus has "
            f"{member_bus.shape[0]} entries; expected the same"
        )
    buses, column = np.unique(member_bus, return_inverse=True)
    aggregate = np.zeros((len(buses), len(member_bus)))
    aggregate[column, np.arange(len(member_bus))] = 1.0
    return pd.DataFrame(injection @ aggregate.T, index=index, columns=pd.Index(buses, name="bus"))


def simbench_bus_injection_kw(feeder) -> pd.DataFrame:
    """The SimBench feeder's own profiles as bus injections [kW] (generators minus loads, storage idle).

    Parameters
    ----------
    feeder : ``wattmesh.community.simbench_source.FeederData``
    """
    elements = feeder.elements
    loads = elements[elements["element"] == "load"].set_index("name")
    sgens = elements[elements["element"] == "sgen"].set_index("name")
    load_bus = loads.loc[feeder.load_kw.columns, "bus"].to_numpy()
    sgen_bus = sgens.loc[feeder.sgen_kw.columns, "bus"].to_numpy()
    injection = np.concatenate([-feeder.load_kw.to_numpy(), feeder.sgen_kw.to_numpy()], axis=1)
    return bus_injection_kw(injection, np.concatenate([load_bus, sgen_bus]), feeder.index)
