"""Building the default community from SimBench: members at buses, assets attached, profiles varied."""

import numpy as np
import pandas as pd

from wattmesh.community.build import COMMUNITY_BATTERY_ID
from wattmesh.community.simbench_source import load_feeder


def test_every_household_load_is_a_member_at_its_bus(short_community):
    feeder = load_feeder("1-LV-rural3--2-sw")
    loads = feeder.elements[feeder.elements["element"] == "load"]
    households = loads[loads["profile"].str.startswith("H0")]
    members = short_community.members
    assert (members["kind"] == "household").sum() == len(households)
    assert sorted(members.loc[members["kind"] == "household", "bus"]) == sorted(households["bus"])


def test_pv_assets_match_simbench_generators(short_community):
    feeder = load_feeder("1-LV-rural3--2-sw")
    sgens = feeder.elements[feeder.elements["element"] == "sgen"]
    pv = short_community.assets[short_community.assets["kind"] == "pv"]
    assert len(pv) == len(sgens)
    assert pv["power_kw"].sum() == np.float64(sgens["rated_kw"].sum())
    # Generation of the span equals SimBench's generator profiles over the same intervals.
    span = feeder.sgen_kw.loc[short_community.index]
    assert np.isclose(short_community.generation_kw.sum(), span.to_numpy().sum())


def test_households_do_not_share_one_load_shape(short_community):
    households = (short_community.members["kind"] == "household").to_numpy()
    load = short_community.load_kw[:, households]
    correlation = np.corrcoef(load.T)
    off_diagonal = correlation[~np.eye(len(correlation), dtype=bool)]
    assert np.nanmax(off_diagonal) < 0.999


def test_community_battery_sits_at_the_transformer(short_community):
    feeder = load_feeder("1-LV-rural3--2-sw")
    row = short_community.members.set_index("member_id").loc[COMMUNITY_BATTERY_ID]
    assert row["kind"] == "community"
    assert row["bus"] == feeder.elements["trafo_bus"].iloc[0]


def test_fleet_adds_batteries_to_pv_owners_only(short_community):
    assets = short_community.assets
    fleet = assets[assets["asset_id"].str.startswith("fleet0_battery")]
    assert len(fleet) == 13
    pv_owners = set(assets.loc[assets["kind"] == "pv", "member_id"])
    assert set(fleet["member_id"]) <= pv_owners


def test_ev_sessions_carry_simbench_charging_energy():
    feeder = load_feeder("1-LV-rural3--2-sw")
    from wattmesh.community.build import build_community
    from wattmesh.community.scenario import load_scenario

    whole_year = {"time.start": "2015-12-31T23:00:00Z", "time.end": "2016-12-31T23:00:00Z"}
    community = build_community(load_scenario(overrides=whole_year))
    loads = feeder.elements[feeder.elements["element"] == "load"]
    ev_names = loads.loc[loads["profile"].str.contains("LS_"), "name"]
    year_energy = feeder.load_kw[ev_names].to_numpy().clip(min=0).sum() * 0.25
    sessions = community.ev_sessions
    assert np.isclose(sessions["energy_kwh"].sum(), year_energy, rtol=1e-6)
    assert (pd.to_datetime(sessions["departure"]) > pd.to_datetime(sessions["arrival"])).all()


def test_coarser_market_interval_keeps_energy():
    from wattmesh.community.build import build_community
    from wattmesh.community.scenario import load_scenario

    span = {"time.start": "2016-06-10T00:00:00Z", "time.end": "2016-06-11T00:00:00Z"}
    fine = build_community(load_scenario(overrides=span))
    coarse = build_community(load_scenario(overrides={**span, "time.interval_minutes": 60}))
    assert len(coarse.index) == len(fine.index) // 4
    assert np.isclose(coarse.load_kw.sum() * 1.0, fine.load_kw.sum() * 0.25)


def test_the_lv_code_list_is_simbenchs_own_kept_whole_per_version(tmp_path, monkeypatch):
    """The code list a scenario is checked against equals simbench's, is read from its cache file
    without importing simbench, and a half-written file (no end mark) is made again, never taken."""
    import importlib.metadata

    import simbench

    from wattmesh.community import simbench_source

    monkeypatch.setenv("WATTMESH_CACHE", str(tmp_path))
    expected = tuple(c for c in simbench.collect_all_simbench_codes() if c.startswith("1-LV-"))
    path = tmp_path / "simbench" / f"lv_codes-{importlib.metadata.version('simbench')}.txt"
    try:
        simbench_source.simbench_lv_codes.cache_clear()
        assert simbench_source.simbench_lv_codes() == expected and len(expected) > 10
        assert path.read_text().split() == [*expected, "#end"]

        path.write_text("1-LV-made-up--0-sw\n#end\n")  # the file, not simbench, is what a later process reads
        simbench_source.simbench_lv_codes.cache_clear()
        assert simbench_source.simbench_lv_codes() == ("1-LV-made-up--0-sw",)

        path.write_text("\n".join(expected[:3]))  # cut short: no end mark
        simbench_source.simbench_lv_codes.cache_clear()
        assert simbench_source.simbench_lv_codes() == expected
        assert path.read_text().split() == [*expected, "#end"]
    finally:
        simbench_source.simbench_lv_codes.cache_clear()
