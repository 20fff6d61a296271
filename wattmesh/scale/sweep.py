"""Sweeps: a grid of scenarios from ``--vary FIELD=V1,V2`` options, one tidy table and a comparison page.

A field is a scenario field's dotted name (``tariff.feed_in_per_kwh``, ``seed``), an entry of a list
section by place (``fleet[0].count``), or the first fleet entry of a kind (``fleet.battery.count``).
Every grid point's feeder tasks go to the executor at once, so a sweep keeps every worker busy.
"""

from __future__ import annotations

import copy
import itertools
import re
import tomllib
from pathlib import Path

import pandas as pd

from wattmesh.community.scenario import FIELD_BY_NAME, FLEET_KINDS, LIST_SECTIONS
from wattmesh.scale.city import CityResult, submit_city, substation_seed
from wattmesh.scale.tasks import feeder_tasks


class SweepError(ValueError):
    """A ``--vary`` option that names no field or gives no values."""


def parse_vary(option: str) -> tuple[str, list]:
    """``"tariff.feed_in_per_kwh=0.05,0.08"`` -> ("tariff.feed_in_per_kwh", [0.05, 0.08]).

    Values are read as TOML values (numbers, true/false, quoted or bare strings).
    """
    name, sep, values = option.partition("=")
    name = name.strip()
    if not sep or not name or not values.strip():
        raise SweepError(
            f"--vary {option!r}: expected FIELD=VALUE[,VALUE...], e.g. tariff.feed_in_per_kwh=0.05,0.08"
        )
    _check_field(name)
    return name, [_toml_value(v.strip()) for v in values.split(",")]


def _toml_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _check_field(name: str) -> None:
    if name in FIELD_BY_NAME:
        return
    match = re.fullmatch(r"(fleet|tariff\.retail_tou|tariff\.feed_in_tou)(?:\[(\d+)\]|\.(\w+))\.(\w+)", name)
    if match:
        section, _, kind, key = match.groups()
        if kind is not None and (section != "fleet" or kind not in FLEET_KINDS):
            raise SweepError(f"--vary {name}: {kind!r} is not a fleet kind ({', '.join(FLEET_KINDS)})")
        if key in {f.name for f in LIST_SECTIONS[section]}:
            return
    raise SweepError(
        f"--vary {name}: not a scenario field (e.g. tariff.feed_in_per_kwh, fleet[0].count, "
        "fleet.battery.count; see docs/scenarios.md)"
    )


def with_value(raw: dict, name: str, value) -> dict:
    """A copy of the TOML-shaped scenario ``raw`` with field ``name`` set to ``value``.

    Raises
    ------
    SweepError
        if ``name`` names a list entry the scenario does not have.
    """
    raw = copy.deepcopy(raw)
    match = re.fullmatch(r"(fleet|tariff\.retail_tou|tariff\.feed_in_tou)(?:\[(\d+)\]|\.(\w+))\.(\w+)", name)
    if match is None:
        *sections, key = name.split(".")
        node = raw
        for section in sections:
            node = node.setdefault(section, {})
        node[key] = value
        return raw
    section, place, kind, key = match.groups()
    *parents, last = section.split(".")
    node = raw
    for parent in parents:
        node = node.setdefault(parent, {})
    entries = node.get(last, [])
    if place is not None:
        i = int(place)
    else:
        i = next((j for j, e in enumerate(entries) if e.get("kind") == kind), None)
        if i is None:
            raise SweepError(f"--vary {name}: the scenario has no [[fleet]] entry of kind {kind!r}")
    if i >= len(entries):
        raise SweepError(f"--vary {name}: the scenario has {len(entries)} [[{section}]] entries")
    entries[i][key] = value
    return raw


def sweep_grid(raw: dict, varies: list[tuple[str, list]]) -> list[tuple[str, dict, dict]]:
    """Every combination of the varied values, in the order given: (key, {field: value}, raw scenario)."""
    points = []
    names = [name for name, _ in varies]
    for values in itertools.product(*(values for _, values in varies)):
        point = dict(zip(names, values, strict=True))
        scenario = raw
        for name, value in point.items():
            scenario = with_value(scenario, name, value)
        key = ",".join(f"{name}={value}" for name, value in point.items())
        scenario["name"] = f"{raw.get('name', 'scenario')} [{key}]"
        points.append((key, point, scenario))
    return points


def run_sweep(raw: dict, varies: list[tuple[str, list]], source: str = "<memory>", executor=None):
    """Run every grid point as a city; return (tidy table, list of :class:`CityResult`).

    The table has one row per (grid point, feeder, case) with one column per varied field.
    """
    from wattmesh.scale.executors import SerialExecutor

    executor = executor or SerialExecutor()
    grid = sweep_grid(raw, varies)
    submitted = []
    for key, point, scenario in grid:
        tasks = feeder_tasks(scenario, source, key)
        submitted.append(
            (key, point, submit_city(executor, tasks, substation_seed(scenario.get("seed", 42), key)))
        )
    results, tables = [], []
    for key, point, (handles, substation) in submitted:
        city = CityResult(key, executor.gather(handles), executor.gather([substation])[0])
        results.append(city)
        tables.append(city.table().assign(**point))
    table = pd.concat(tables, ignore_index=True)
    varied = [name for name, _ in varies]
    return table[
        ["scenario", *varied] + [c for c in table.columns if c not in ("scenario", *varied)]
    ], results


def sweep_totals(table: pd.DataFrame, varied: list[str]) -> pd.DataFrame:
    """Per (grid point, case): the feeders' sums, self-sufficiency over the city's consumption [%]."""
    sums = table.groupby(["scenario", *varied, "case"], sort=False, dropna=False)[
        ["consumption_kwh", "import_kwh", "export_kwh", "local_traded_kwh", "bill", "substation_saving"]
    ].sum()
    sums["self_sufficiency_pct"] = 100.0 * (1 - sums["import_kwh"] / sums["consumption_kwh"])
    return sums.reset_index()


def write_sweep_report(table: pd.DataFrame, varied: list[str], path: Path) -> Path:
    """A page (plotly HTML) comparing the grid points: the city's bill and self-sufficiency per case."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    totals = sweep_totals(table, varied)
    figure = make_subplots(rows=2, cols=1, subplot_titles=("City bill [currency]", "Self-sufficiency [%]"))
    for case, rows in totals.groupby("case", sort=False):
        figure.add_trace(
            go.Bar(name=case, x=rows["scenario"], y=rows["bill"], legendgroup=case), row=1, col=1
        )
        figure.add_trace(
            go.Bar(
                name=case,
                x=rows["scenario"],
                y=rows["self_sufficiency_pct"],
                legendgroup=case,
                showlegend=False,
            ),
            row=2,
            col=1,
        )
    figure.update_layout(barmode="group", title="Sweep: " + ", ".join(varied), height=800)
    html = figure.to_html(include_plotlyjs=True, full_html=True)
    summary = totals.round(3).to_html(index=False)
    path.write_text(html.replace("</body>", f"<h2>Totals per grid point and case</h2>{summary}</body>"))
    return path
