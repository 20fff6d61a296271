"""Scenario files: the default is valid, and every kind of bad input is reported with field and value."""

import tomllib

import pytest

from wattmesh.community.scenario import (
    DEFAULT_SCENARIO,
    ScenarioError,
    fields_markdown,
    load_scenario,
    parse_scenario,
)


def default_raw() -> dict:
    return tomllib.loads(DEFAULT_SCENARIO.read_text())


def problems_of(raw: dict) -> dict[str, str]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(raw)
    return {p.field: p.message for p in caught.value.problems}


def test_default_scenario_is_valid_and_resolves_defaults():
    scenario = load_scenario()
    assert scenario["feeder.code"] == "1-LV-rural3--2-sw"
    assert scenario["time.interval_minutes"] == 15
    assert scenario["time.start"].tz is not None
    assert scenario.fleet[0]["kind"] == "battery"


def test_missing_required_field_is_reported():
    raw = default_raw()
    del raw["tariff"]["retail_per_kwh"]
    assert "missing" in problems_of(raw)["tariff.retail_per_kwh"]


def test_negative_capacity_is_reported_with_its_value():
    raw = default_raw()
    raw["community_battery"]["capacity_kwh"] = -5
    assert problems_of(raw)["community_battery.capacity_kwh"] == "-5 is below the minimum 0"


def test_price_that_is_not_a_number_is_reported():
    raw = default_raw()
    raw["tariff"]["feed_in_per_kwh"] = "cheap"
    assert problems_of(raw)["tariff.feed_in_per_kwh"] == "'cheap' is not a number"


def test_nan_price_is_reported():
    raw = default_raw()
    raw["tariff"]["retail_per_kwh"] = float("nan")
    assert "not a finite number" in problems_of(raw)["tariff.retail_per_kwh"]


def test_unknown_feeder_is_reported():
    raw = default_raw()
    raw["feeder"]["code"] = "1-LV-nowhere--0-sw"
    assert "'1-LV-nowhere--0-sw' is not a SimBench LV feeder" in problems_of(raw)["feeder.code"]


def test_time_span_outside_the_data_is_reported():
    raw = default_raw()
    raw["time"]["start"] = "2019-01-01T00:00:00Z"
    raw["time"]["end"] = "2019-02-01T00:00:00Z"
    found = problems_of(raw)
    assert "outside the data's span" in found["time.start"]
    assert "outside the data's span" in found["time.end"]


def test_every_problem_is_reported_at_once():
    raw = default_raw()
    raw["tariff"]["feed_in_per_kwh"] = "x"
    raw["community_battery"]["efficiency"] = 1.2
    raw["market"]["mechanism"] = "barter"
    raw["colour"] = "green"
    raw["fleet"][0]["count"] = 2.5
    found = problems_of(raw)
    assert set(found) == {
        "tariff.feed_in_per_kwh",
        "community_battery.efficiency",
        "market.mechanism",
        "colour",
        "fleet[0].count",
    }


def test_time_without_zone_and_bad_tou_window_are_reported():
    raw = default_raw()
    raw["time"]["start"] = "2016-06-01T00:00:00"
    raw["tariff"]["retail_tou"][0]["start"] = "25:00"
    found = problems_of(raw)
    assert "no time zone" in found["time.start"]
    assert "HH:MM" in found["tariff.retail_tou[0].start"]


def test_end_before_start_is_reported():
    raw = default_raw()
    raw["time"]["end"] = "2016-05-01T00:00:00Z"
    assert "is not after time.start" in problems_of(raw)["time.end"]


def test_file_that_is_not_toml_is_reported(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = [unclosed")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(path)


def test_docs_table_lists_every_field():
    table = fields_markdown()
    for name in ("tariff.retail_per_kwh", "feeder.code", "community_battery.capacity_kwh", "price_per_kwh"):
        assert f"`{name}`" in table


def test_docs_carry_the_current_field_and_table_declarations():
    from pathlib import Path

    from wattmesh.community.model import ASSETS, EV_SESSIONS, MEMBERS

    docs = (Path(__file__).resolve().parents[2] / "docs" / "scenarios.md").read_text()
    assert fields_markdown() in docs, "docs/scenarios.md is out of date: run docs/regenerate.py"
    for schema in (MEMBERS, ASSETS, EV_SESSIONS):
        assert schema.markdown() in docs, f"docs/scenarios.md is out of date for the {schema.name} table"


def test_scenario_mechanisms_are_the_market_mechanisms():
    from wattmesh.community.scenario import MECHANISMS
    from wattmesh.market import MECHANISMS as MARKET_MECHANISMS

    assert set(MECHANISMS) == set(MARKET_MECHANISMS)


def test_scenario_strategy_names_are_the_agents_strategies():
    from wattmesh.agents.strategies import STRATEGIES as AGENT_STRATEGIES
    from wattmesh.community.scenario import STRATEGIES

    assert STRATEGIES == AGENT_STRATEGIES
