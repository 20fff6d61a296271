"""Small wind turbines in a scenario's fleets: the published curve on the reference year's wind, placed and
counted in the members' generation, and bad fleet values refused by name."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wattmesh.community.build import build_community
from wattmesh.community.scenario import ScenarioError, parse_scenario

# Bergey Excel 10 (10 kW nameplate), power curve per AWEA 9.1-2009 from Bergey's 2011 performance sheet:
# (hub-height wind speed [m/s], output [kW]); copied here so the test does not read the module's table.
PUBLISHED_CURVE = [
    (1, 0.0), (2, 0.0), (3, 0.10), (4, 0.40), (5, 0.85), (6, 1.51), (7, 2.40), (8, 3.60), (9, 5.07),
    (10, 6.86), (11, 8.86), (12, 10.88), (13, 12.09), (14, 12.39), (15, 12.49), (16, 12.55), (17, 12.50),
    (18, 12.44), (19, 12.21), (20, 11.99),
]  # fmt: skip
SPAN = {"time.start": "2016-06-10T00:00:00Z", "time.end": "2016-06-17T00:00:00Z"}
WIND_FLEET = {"kind": "wind", "count": 3, "among": "all", "power_kw": 5.0, "hub_height_m": 18.0}


def default_raw() -> dict:
    import tomllib

    from wattmesh.community.scenario import DEFAULT_SCENARIO

    return tomllib.loads(DEFAULT_SCENARIO.read_text())


def with_wind(**fleet) -> dict:
    raw = default_raw()
    raw["fleet"] = [*raw.get("fleet", []), {**WIND_FLEET, **fleet}]
    return raw


def reference_turbine_kw(index: pd.DatetimeIndex, hub_height_m: float, rated_kw: float) -> np.ndarray:
    """One turbine's output on ``index``, read straight from demandlib's TRY file (region 4, Potsdam)."""
    import demandlib

    path = Path(demandlib.__file__).parent / "vdi" / "resources_weather" / "TRY2010_04_Jahr.dat"
    lines = path.read_text(encoding="latin-1").splitlines()
    first = next(n for n, line in enumerate(lines) if line.startswith("***")) + 1
    rows = np.array([line.split() for line in lines[first:] if line.strip()], dtype=float)
    # columns RG IS MM DD HH N WR WG ...; HH 1-24 is the CET hour ending then
    wind_at = {(int(r[2]), int(r[3]), int(r[4])): r[7] for r in rows}
    cet_start = index + pd.Timedelta("1h")  # the CET hour the UTC interval falls in, by its start
    v10 = np.array([wind_at[(t.month, t.day, t.hour + 1)] for t in cet_start.tz_localize(None)])
    v_hub = v10 * (hub_height_m / 10.0) ** (1 / 7)
    speeds, power = np.array(PUBLISHED_CURVE).T
    return np.interp(v_hub, speeds, power * rated_kw / 10.0, left=0.0, right=0.0)


@pytest.fixture(scope="module")
def communities():
    plain = build_community(parse_scenario(default_raw(), overrides=SPAN))
    windy = build_community(parse_scenario(with_wind(), overrides=SPAN))
    return plain, windy


def test_turbine_energy_is_the_published_curve_over_hub_height_wind(communities):
    plain, windy = communities
    expected_kw = reference_turbine_kw(windy.index, 18.0, 5.0)
    assert expected_kw.sum() > 0
    turbines = windy.assets[windy.assets["kind"] == "wind"]
    columns = windy.member_ids.get_indexer(turbines["member_id"])
    added_kw = windy.generation_kw - plain.generation_kw
    for column in columns:
        np.testing.assert_allclose(added_kw[:, column], expected_kw, atol=1e-9)


def test_turbines_add_exactly_their_energy_to_the_community_and_nothing_else_changes(communities):
    plain, windy = communities
    per_turbine_kwh = reference_turbine_kw(windy.index, 18.0, 5.0).sum() * windy.interval_h
    added_kwh = (windy.generation_kw.sum() - plain.generation_kw.sum()) * windy.interval_h
    assert added_kwh == pytest.approx(3 * per_turbine_kwh, rel=1e-12)
    np.testing.assert_array_equal(windy.load_kw, plain.load_kw)
    # the other fleets are drawn first, so adding turbines moves no battery and no PV
    others = windy.assets[windy.assets["kind"] != "wind"].reset_index(drop=True)
    pd.testing.assert_frame_equal(others, plain.assets)


def test_turbines_are_assets_of_distinct_households(communities):
    _, windy = communities
    turbines = windy.assets[windy.assets["kind"] == "wind"]
    assert len(turbines) == 3
    assert turbines["member_id"].is_unique
    kinds = windy.members.set_index("member_id").loc[turbines["member_id"], "kind"]
    assert (kinds == "household").all()
    assert (turbines["power_kw"] == 5.0).all() and (turbines["hub_height_m"] == 18.0).all()


def test_a_taller_tower_sees_more_wind():
    index = pd.date_range("2016-06-10", periods=96 * 7, freq="15min", tz="UTC")
    assert reference_turbine_kw(index, 30.0, 10.0).sum() > reference_turbine_kw(index, 18.0, 10.0).sum()
    from wattmesh.community.wind import turbine_series_kw

    np.testing.assert_allclose(turbine_series_kw(index, 30.0, 10.0), reference_turbine_kw(index, 30.0, 10.0))


def test_turbines_on_29_february_take_the_28th_of_the_reference_year():
    from wattmesh.community.wind import turbine_series_kw

    feb29 = pd.date_range("2016-02-29", periods=96, freq="15min", tz="UTC")
    feb28 = feb29 - pd.Timedelta("1D")
    np.testing.assert_array_equal(turbine_series_kw(feb29, 24.0, 10.0), turbine_series_kw(feb28, 24.0, 10.0))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("count", -1, "below the minimum 0"),
        ("hub_height_m", 0.0, "below the minimum 1"),
        ("power_kw", -5.0, "below the minimum 0"),
        ("hub_height_m", "tall", "not a number"),
    ],
)
def test_bad_wind_fleet_values_are_refused_by_field(field, value, message):
    raw = with_wind(**{field: value})
    where = f"fleet[{len(raw['fleet']) - 1}].{field}"
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(raw)
    problems = {p.field: p.message for p in caught.value.problems}
    assert message in problems[where]
    assert str(value) in problems[where] or repr(value) in problems[where]
