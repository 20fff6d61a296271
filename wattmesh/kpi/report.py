"""The HTML report: one self-contained file (Plotly inlined) that opens offline in any browser."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

COLOURS = {
    "own": "#f2b701",
    "battery": "#7f3c8d",
    "local": "#11a579",
    "import": "#e73f74",
    "export": "#3969ac",
    "consumption": "#222222",
    "generation": "#f2b701",
}


def format_kpi(name: str, value: float) -> str:
    """A KPI as text: blank for NaN, three decimals for the fairness indices, one decimal otherwise."""
    if value != value:
        return ""
    return f"{value:.3f}" if name.startswith(("Gini", "Jain")) else f"{value:,.1f}"


def typical_week(intervals: pd.DataFrame) -> pd.DataFrame:
    """The 7 days whose generation is closest to the median of all 7-day windows (the whole span if shorter)."""
    daily = intervals["generation_kwh"].resample("D").sum()
    if len(daily) <= 7:
        return intervals
    weekly = daily.rolling(7).sum().dropna()
    end_day = (weekly - weekly.median()).abs().idxmin()
    start = end_day - pd.Timedelta(days=6)
    return intervals.loc[start : end_day + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)]


def flows_figure(week: pd.DataFrame, interval_h: float) -> go.Figure:
    """How the members' consumption was met, interval by interval, with exports below zero [kW]."""
    to_kw = 1.0 / interval_h
    bought_by_homes = week["local_traded_kwh"] - week["community_battery_charge_kwh"]
    fig = go.Figure()
    stack = [
        ("own PV used on site", week["own_use_kwh"], COLOURS["own"]),
        ("home batteries", week["home_battery_discharge_kwh"], COLOURS["battery"]),
        ("bought from neighbours", bought_by_homes, COLOURS["local"]),
        ("grid import", week["import_kwh"], COLOURS["import"]),
    ]
    for name, series, colour in stack:
        fig.add_trace(
            go.Scatter(
                x=week.index,
                y=series * to_kw,
                name=name,
                stackgroup="in",
                line={"width": 0},
                fillcolor=colour,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=week.index,
            y=-week["export_kwh"] * to_kw,
            name="grid export",
            stackgroup="out",
            line={"width": 0},
            fillcolor=COLOURS["export"],
        )
    )
    fig.add_trace(
        go.Scatter(
            x=week.index,
            y=week["consumption_kwh"] * to_kw,
            name="consumption",
            line={"color": "black", "width": 1},
        )
    )
    fig.update_layout(
        title="Energy flows in a typical week (P2P + batteries)", yaxis_title="kW", hovermode="x unified"
    )
    return fig


def daily_figure(intervals: pd.DataFrame) -> go.Figure:
    """Daily energy over the whole span [kWh]."""
    daily = intervals.resample("D").sum(numeric_only=True)
    fig = go.Figure()
    for column, name, colour in (
        ("local_traded_kwh", "traded locally", COLOURS["local"]),
        ("import_kwh", "grid import", COLOURS["import"]),
        ("export_kwh", "grid export", COLOURS["export"]),
    ):
        fig.add_trace(go.Bar(x=daily.index, y=daily[column], name=name, marker_color=colour))
    for column, name, colour in (
        ("consumption_kwh", "consumption", COLOURS["consumption"]),
        ("generation_kwh", "generation", COLOURS["generation"]),
        ("alone_import_kwh", "grid import without sharing", "#999999"),
    ):
        fig.add_trace(go.Scatter(x=daily.index, y=daily[column], name=name, line={"color": colour}))
    fig.update_layout(title="Daily energy over the whole span", yaxis_title="kWh per day", barmode="group")
    return fig


def price_figure(week: pd.DataFrame, currency: str) -> go.Figure:
    """Local clearing price against the utility's retail and feed-in prices."""
    fig = go.Figure()
    for column, name, colour in (
        ("retail_per_kwh", "retail (import)", COLOURS["import"]),
        ("local_price_per_kwh", "local market", COLOURS["local"]),
        ("feed_in_per_kwh", "feed-in", COLOURS["export"]),
    ):
        fig.add_trace(
            go.Scatter(x=week.index, y=week[column], name=name, line={"shape": "hv", "color": colour})
        )
    fig.update_layout(
        title="Local price against the utility's prices (typical week)", yaxis_title=f"{currency}/kWh"
    )
    return fig


def transformer_figure(week: pd.DataFrame) -> go.Figure:
    """Power through the transformer with and without sharing [kW]; negative is reverse flow."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=week.index, y=week["alone_transformer_kw"], name="no sharing", line={"color": "#999999"})
    )
    fig.add_trace(
        go.Scatter(
            x=week.index, y=week["transformer_kw"], name="P2P + batteries", line={"color": COLOURS["local"]}
        )
    )
    fig.update_layout(
        title="Transformer loading (typical week); above zero the community imports", yaxis_title="kW"
    )
    return fig


def savings_figure(members: pd.DataFrame, currency: str) -> go.Figure:
    """Each member's saving versus no sharing, sorted."""
    people = members[members["kind"] != "community"].sort_values("saving_p2p_battery", ascending=False)
    fig = go.Figure()
    fig.add_trace(
        go.Bar(x=people["member_id"], y=people["saving_p2p"], name="P2P market", marker_color="#80ba5a")
    )
    fig.add_trace(
        go.Bar(
            x=people["member_id"],
            y=people["saving_p2p_battery"],
            name="P2P + batteries",
            marker_color=COLOURS["local"],
        )
    )
    fig.update_layout(
        title="Saving per member versus no sharing",
        yaxis_title=currency,
        barmode="group",
        xaxis={"showticklabels": False},
    )
    return fig


MECHANISM_COLUMNS = {
    "local_volume_kwh": "traded locally [kWh]",
    "mean_local_price_per_kwh": "mean local price [{c}/kWh]",
    "welfare": "welfare of local trades [{c}]",
    "buyers_pay": "buyers pay, utility included [{c}]",
    "sellers_receive": "sellers receive, utility included [{c}]",
    "grid_fees": "grid fees [{c}]",
    "seconds": "clearing time [s]",
}


def mechanisms_section(mechanisms: pd.DataFrame, week: pd.DataFrame, currency: str) -> str:
    """The market mechanisms compared on the typical week's orders, as an HTML section."""
    table = mechanisms[list(MECHANISM_COLUMNS)].rename(
        columns={k: v.format(c=currency) for k, v in MECHANISM_COLUMNS.items()}
    )
    shown = table.map(lambda v: "" if v != v else (f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"))
    span = f"{week.index[0]:%Y-%m-%d} to {week.index[-1]:%Y-%m-%d}"
    return f"""<h2>Market mechanisms compared</h2>
<p>The same surpluses and deficits (P2P + batteries, {span}) cleared by every mechanism wattmesh has:
the volume is the same wherever bids are at retail and asks at feed-in; the mechanisms differ in how
they share the gain between buyers and sellers.</p>
{shown.to_html(classes="kpi", border=0)}"""


GRID_SUMMARY_LABELS = {
    "vm_min_pu": "lowest bus voltage [pu]",
    "vm_max_pu": "highest bus voltage [pu]",
    "line_loading_max_percent": "highest line loading [%]",
    "trafo_loading_max_percent": "highest transformer loading [%]",
    "trafo_loading_p95_percent": "transformer loading, 95th percentile [%]",
    "losses_kwh": "feeder losses [kWh]",
    "hours_undervoltage": "hours under the voltage band",
    "hours_overvoltage": "hours over the voltage band",
    "hours_line_overload": "hours with a line overloaded",
    "hours_trafo_overload": "hours with the transformer overloaded",
    "intervals_not_converged": "intervals without a power-flow solution",
}


def voltage_figure(envelope: pd.DataFrame, vm_min_pu: float, vm_max_pu: float) -> go.Figure:
    """Hourly lowest, mean and highest bus voltage, with the allowed band [pu]."""
    fig = go.Figure()
    for column, name, colour in (
        ("vm_max_pu", "highest bus", COLOURS["import"]),
        ("vm_mean_pu", "mean", "#666666"),
        ("vm_min_pu", "lowest bus", COLOURS["export"]),
    ):
        fig.add_trace(go.Scatter(x=envelope.index, y=envelope[column], name=name, line={"color": colour}))
    for level in (vm_min_pu, vm_max_pu):
        fig.add_hline(y=level, line={"dash": "dash", "color": "#aa0000"})
    fig.update_layout(
        title="Voltage envelope of the feeder (hourly), with the allowed band", yaxis_title="pu"
    )
    return fig


def trafo_figure(loading_percent: pd.Series) -> go.Figure:
    """Transformer loading over the span [% of rating], hourly maximum."""
    hourly = loading_percent.resample("1h").max()
    fig = go.Figure(
        go.Scatter(x=hourly.index, y=hourly, name="transformer", line={"color": COLOURS["local"]})
    )
    fig.add_hline(y=100, line={"dash": "dash", "color": "#aa0000"})
    fig.update_layout(title="Transformer loading (hourly maximum)", yaxis_title="% of rating")
    return fig


def outage_figure(per_home: pd.DataFrame) -> go.Figure:
    """Hours each home kept power during the outage, with and without sharing."""
    order = per_home.sort_values(["hours_with_power_alone", "hours_with_power_shared"])
    fig = go.Figure()
    fig.add_trace(
        go.Bar(x=order.index, y=order["hours_with_power_alone"], name="alone", marker_color="#999999")
    )
    fig.add_trace(
        go.Bar(
            x=order.index, y=order["hours_with_power_shared"], name="sharing", marker_color=COLOURS["local"]
        )
    )
    fig.update_layout(
        title="Hours each home kept (critical) power during the outage",
        yaxis_title="h",
        barmode="group",
        xaxis={"showticklabels": False},
    )
    return fig


def _numbers(table: pd.DataFrame) -> str:
    shown = table.map(
        lambda v: v if isinstance(v, str) else ("" if v != v else f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}")
    )
    return shown.to_html(classes="kpi", border=0)


def grid_section(grid: dict, currency: str) -> tuple[str, list[go.Figure]]:
    """The grid part of the report: summary, network awareness, lines, outage; with its figures."""
    summary = pd.DataFrame(
        {"value": [grid["summary"][k] for k in GRID_SUMMARY_LABELS]}, index=list(GRID_SUMMARY_LABELS.values())
    )
    awareness = grid["awareness"].rename(
        columns={"flat_fee": "flat fee, no grid check", "network_aware": "distance fee, DSO-safe"}
    )
    parts = [
        "<h2>The feeder</h2>",
        "<p>AC power flow of every interval of the P2P + batteries case (lightsim2grid, pandapower model of "
        "the SimBench feeder).</p>",
        _numbers(summary),
        "<h3>P2P with and without network awareness</h3>",
        f"<p>Left: every local trade pays the flat fee and is delivered whatever the grid says. Right: "
        f"fees by electrical distance between seller and buyer, and trades that would break a limit are "
        f"curtailed in merit order before delivery. Fees in {currency}.</p>",
        _numbers(awareness),
        "<h3>Most loaded lines</h3>",
        _numbers(grid["top_lines"]),
    ]
    figures = [
        voltage_figure(grid["envelope"], grid["vm_min_pu"], grid["vm_max_pu"]),
        trafo_figure(grid["trafo"]),
    ]
    if grid.get("outage_summary") is not None:
        start, end = grid["outage_window"]
        parts += [
            f"<h3>Outage {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC</h3>",
            "<p>The upstream grid is down: the community islands. With sharing, everyone's spare PV, the home "
            "batteries and the community battery serve every home's critical load first "
            f"({grid['critical_fraction']:.0%} of its load), then the rest, pro rata. Alone, each home has only "
            "its own PV and battery.</p>",
            _numbers(grid["outage_summary"]),
        ]
        figures.append(outage_figure(grid["outage_per_home"]))
    return "\n".join(parts), figures


def strategies_section(strategies: pd.DataFrame, currency: str) -> str:
    """Battery strategies of the homes with a battery against the perfect-foresight bound."""
    span = f"{strategies.attrs.get('start', '')} to {strategies.attrs.get('end', '')}"
    return f"""<h2>Battery planning against the bound</h2>
<p>The homes with a battery, on their own meters ({span}): no battery, the self-consumption rule, the MPC
planner with real forecasts, and the perfect-foresight LP (the bound no real controller can beat). Bill
in {currency}; objective = bill + daily peak charge + battery wear; the share of the bound's savings
is (no battery - strategy) / (no battery - bound).</p>
{_numbers(strategies.drop(columns=["objective / bound"], errors="ignore"))}"""


def tournament_section(table: pd.DataFrame, summary: dict, currency: str) -> str:
    """Trading strategies in competition: profit per strategy, efficiency and price convergence."""
    shown = table.set_index("strategy") if "strategy" in table.columns else table
    return f"""<h2>Trading strategies</h2>
<p>The homes' agents bid with different strategies on the {summary["mechanism"]} market, each from its
limits: its marginal value of energy read off its battery's dispatch (the energy plan where the homes
plan). The strategies are rearranged over the homes, so every home plays each. Profit in {currency}, per
kWh offered and traded.
Allocative efficiency (realised welfare over the welfare-maximising optimum of the true values):
<b>{summary["efficiency"]:.2%}</b>; Smith's alpha (relative RMS deviation of prices from the competitive
price) on the first day {summary["alpha_first_day"]:.3f}, on the last day {summary["alpha_last_day"]:.3f}.</p>
{_numbers(shown)}"""


def write_report(
    path: Path,
    title: str,
    intervals: pd.DataFrame,
    members: pd.DataFrame,
    kpis: pd.DataFrame,
    currency: str,
    meta: dict,
    mechanisms: pd.DataFrame | None = None,
    grid: dict | None = None,
    strategies: pd.DataFrame | None = None,
    tournament: tuple[pd.DataFrame, dict] | None = None,
) -> None:
    """Write the self-contained HTML report to ``path``."""
    interval_h = (intervals.index[1] - intervals.index[0]).total_seconds() / 3600
    week = typical_week(intervals)
    figures = [
        flows_figure(week, interval_h),
        transformer_figure(week),
        price_figure(week, currency),
        daily_figure(intervals),
        savings_figure(members, currency),
    ]
    grid_html, grid_figures = grid_section(grid, currency) if grid is not None else ("", [])

    def embed(figs: list[go.Figure]) -> str:
        return "\n".join(
            pio.to_html(
                fig.update_layout(template="plotly_white", height=420),
                full_html=False,
                include_plotlyjs=False,
            )
            for fig in figs
        )

    body = embed(figures)
    shown = pd.DataFrame(
        [[format_kpi(name, v) for v in row] for name, row in kpis.iterrows()],
        index=kpis.index,
        columns=kpis.columns,
    )
    kpi_html = shown.to_html(classes="kpi", border=0, escape=True)
    mechanism_html = "" if mechanisms is None else mechanisms_section(mechanisms, week, currency)
    strategy_html = "" if strategies is None else strategies_section(strategies, currency)
    tournament_html = "" if tournament is None else tournament_section(*tournament, currency)
    meta_html = "".join(
        f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in meta.items()
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} - wattmesh report</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1em; max-width: 1200px; color: #222; }}
table.kpi {{ border-collapse: collapse; margin: 1em 0; }}
table.kpi td, table.kpi th {{ padding: 4px 12px; border-bottom: 1px solid #ddd; text-align: right; }}
table.kpi th:first-child {{ text-align: left; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }}
dt {{ font-weight: 600; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<dl>{meta_html}</dl>
<h2>Key figures</h2>
<p>Three cases on the same data: <b>No sharing</b> (every home alone with the utility, no batteries),
<b>P2P market</b> (neighbours trade locally, no batteries) and <b>P2P + batteries</b> (local market, home
batteries and EVs dispatched as listed above, and the community battery on the community's surplus).</p>
{kpi_html}
{mechanism_html}
{strategy_html}
{tournament_html}
<h2>Figures</h2>
{body}
{grid_html}
{embed(grid_figures)}
</body></html>"""
    path.write_text(page)
