"""The HTML report: one self-contained file (Plotly inlined) that opens offline in any browser.

Written for a community planner: a headline first (what sharing saves a typical household with and
without PV, self-sufficiency, the transformer's peak), the key figures, the households grouped by their
assets, who gains (fair access), the community battery, the figures on local time, the feeder; developer
figures (clearing times, the planner against its bound, the trading strategies) come last, in "Method
details".
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
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


#: Households' groups by the assets behind their meter (members.csv ``asset_group``), as the report names them.
GROUP_LABELS = {
    "pv_battery": "PV + battery",
    "pv": "PV, no battery",
    "battery": "battery, no PV",
    "neither": "neither",
}

#: Units read off column-name suffixes, for human table headers.
UNIT_SUFFIXES = (
    ("_per_kwh", "/kWh]"),
    ("_percent", "[%]"),
    ("_kwh", "[kWh]"),
    ("_kwp", "[kWp]"),
    ("_kw", "[kW]"),
    ("_pu", "[pu]"),
    ("_h", "[h]"),
    ("_s", "[s]"),
)


def human_header(name: str, currency: str = "") -> str:
    """A column name as a header: ``bill_alone_eur`` -> ``bill alone [EUR]``, ``import_kwh`` ->
    ``import [kWh]``; names that already read as text are kept."""
    name = str(name)
    if " " in name or not re.fullmatch(r"[a-z0-9_]+", name):
        return name
    cur = currency.lower()
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            if suffix == "_per_kwh":
                if cur and stem.endswith(f"_{cur}"):
                    stem = stem[: -len(cur) - 1]
                return f"{stem.replace('_', ' ')} [{currency or 'currency'}{unit}"
            return f"{stem.replace('_', ' ')} {unit}"
    if cur and name.endswith(f"_{cur}"):
        return f"{name[: -len(cur) - 1].replace('_', ' ')} [{currency}]"
    return name.replace("_", " ")


def span_label(index: pd.DatetimeIndex, typical: bool) -> str:
    """How the plots name their span: "a typical week (dates)" only where a week was chosen out of a
    longer span, else the span itself ("1 day, 10 Jun 2016", "3 days, 10-12 Jun 2016")."""
    step = index[1] - index[0] if len(index) > 1 else pd.Timedelta(0)
    first, last = index[0], index[-1] + step - pd.Timedelta(seconds=1)
    days = max(1, round((index[-1] + step - index[0]) / pd.Timedelta(days=1)))
    dates = f"{first:%d %b %Y}" if first.date() == last.date() else f"{first:%d %b} to {last:%d %b %Y}"
    if typical:
        return f"a typical week ({dates})"
    return f"{days} day{'s' if days != 1 else ''}, {dates}"


def typical_week(intervals: pd.DataFrame) -> pd.DataFrame:
    """The 7 days whose generation is closest to the median of all 7-day windows (the whole span if shorter)."""
    daily = intervals["generation_kwh"].resample("D").sum()
    if len(daily) <= 7:
        return intervals
    weekly = daily.rolling(7).sum().dropna()
    end_day = (weekly - weekly.median()).abs().idxmin()
    start = end_day - pd.Timedelta(days=6)
    return intervals.loc[start : end_day + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)]


def _local(index: pd.DatetimeIndex, timezone: str) -> pd.DatetimeIndex:
    """Interval starts in local time, as naive stamps (Plotly draws them as they read)."""
    return index.tz_convert(timezone).tz_localize(None)


def _time_axis(fig: go.Figure, timezone: str, y_title: str) -> go.Figure:
    return fig.update_layout(
        xaxis_title=f"local time ({timezone})", yaxis_title=y_title, hovermode="x unified"
    )


def flows_figure(week: pd.DataFrame, interval_h: float, label: str, timezone: str) -> go.Figure:
    """How the members' consumption was met, interval by interval, with exports below zero [kW]."""
    to_kw = 1.0 / interval_h
    x = _local(week.index, timezone)
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
                x=x,
                y=(series * to_kw).round(3),
                name=name,
                stackgroup="in",
                line={"width": 0},
                fillcolor=colour,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=(-week["export_kwh"] * to_kw).round(3),
            name="grid export",
            stackgroup="out",
            line={"width": 0},
            fillcolor=COLOURS["export"],
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=(week["consumption_kwh"] * to_kw).round(3),
            name="consumption",
            line={"color": "black", "width": 1},
        )
    )
    fig.update_layout(title=f"How consumption was met, {label} (P2P + batteries)")
    return _time_axis(fig, timezone, "power [kW] (export below zero)")


def daily_figure(intervals: pd.DataFrame, timezone: str) -> go.Figure:
    """Daily energy over the whole span, local days [kWh]."""
    local = intervals.set_axis(intervals.index.tz_convert(timezone))
    daily = local.resample("D").sum(numeric_only=True)
    counts = local.resample("D").size()
    per_day = pd.Timedelta(days=1) / (intervals.index[1] - intervals.index[0])
    # Category labels: a one-day span would otherwise get an axis of fractions of a millisecond.
    x = [
        f"{day:%a %d %b}" + ("" if n >= per_day else f" ({n / per_day:.0%} of the day)")
        for day, n in counts.items()
    ]
    fig = go.Figure()
    for column, name, colour in (
        ("local_traded_kwh", "traded locally", COLOURS["local"]),
        ("import_kwh", "grid import", COLOURS["import"]),
        ("export_kwh", "grid export", COLOURS["export"]),
    ):
        fig.add_trace(go.Bar(x=x, y=daily[column].round(1), name=name, marker_color=colour))
    for column, name, colour in (
        ("consumption_kwh", "consumption", COLOURS["consumption"]),
        ("generation_kwh", "generation", COLOURS["generation"]),
        ("alone_import_kwh", "grid import without sharing", "#999999"),
    ):
        fig.add_trace(
            go.Scatter(x=x, y=daily[column].round(1), name=name, mode="lines+markers", line={"color": colour})
        )
    fig.update_layout(
        title=f"Energy per local day, {span_label(intervals.index, typical=False)}",
        xaxis={"title": f"day (local time, {timezone})", "type": "category"},
        yaxis_title="energy [kWh per day]",
        barmode="group",
    )
    return fig


def price_figure(week: pd.DataFrame, currency: str, label: str, timezone: str) -> go.Figure:
    """Local clearing price against the utility's retail and feed-in prices [currency/kWh]."""
    cur = currency.lower()
    x = _local(week.index, timezone)
    fig = go.Figure()
    for column, name, colour in (
        (f"retail_{cur}_per_kwh", "retail (import)", COLOURS["import"]),
        (f"local_price_{cur}_per_kwh", "local market", COLOURS["local"]),
        (f"feed_in_{cur}_per_kwh", "feed-in", COLOURS["export"]),
    ):
        fig.add_trace(
            go.Scatter(x=x, y=week[column].round(4), name=name, line={"shape": "hv", "color": colour})
        )
    fig.update_layout(title=f"Local price against the utility's prices, {label}")
    return _time_axis(fig, timezone, f"price [{currency}/kWh]")


def transformer_figure(week: pd.DataFrame, label: str, timezone: str) -> go.Figure:
    """Power through the transformer with and without sharing [kW]; negative is reverse flow."""
    x = _local(week.index, timezone)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=x, y=week["alone_transformer_kw"].round(2), name="no sharing", line={"color": "#999999"})
    )
    fig.add_trace(
        go.Scatter(
            x=x, y=week["transformer_kw"].round(2), name="P2P + batteries", line={"color": COLOURS["local"]}
        )
    )
    fig.update_layout(title=f"Power through the transformer, {label}")
    return _time_axis(fig, timezone, "power [kW] (above zero: the community imports)")


def savings_figure(members: pd.DataFrame, currency: str) -> go.Figure:
    """Each household's saving versus no sharing, one box per asset group, every household a point."""
    cur = currency.lower()
    people = members[members["kind"] != "community"]
    fig = go.Figure()
    for group, label in GROUP_LABELS.items():
        rows = people[people["asset_group"] == group]
        if rows.empty:
            continue
        fig.add_trace(
            go.Box(
                y=rows[f"saving_p2p_battery_{cur}"].round(2),
                name=f"{label} ({len(rows)})",
                text=rows["member_id"],
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                hovertemplate="%{text}: %{y:.2f} " + currency + "<extra></extra>",
                marker_color=COLOURS["local"],
                showlegend=False,
            )
        )
    fig.update_layout(
        title="Saving per household versus no sharing (P2P + batteries), by assets",
        xaxis_title="households by the assets behind their meter (count)",
        yaxis_title=f"saving over the span [{currency}]",
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


def mechanisms_section(mechanisms: pd.DataFrame, week: pd.DataFrame, currency: str, label: str) -> str:
    """The market mechanisms compared on the shown span's orders, as an HTML section."""
    table = mechanisms[list(MECHANISM_COLUMNS)].rename(
        columns={k: v.format(c=currency) for k, v in MECHANISM_COLUMNS.items()}
    )
    table.index = [str(name).replace("_", " ") for name in table.index]
    table.index.name = "mechanism"
    return f"""<h3>Market mechanisms compared</h3>
<p>The same surpluses and deficits (P2P + batteries, {html.escape(label)}) cleared by every mechanism
wattmesh has: the volume is the same wherever bids are at retail and asks at feed-in; the mechanisms differ
in how they share the gain between buyers and sellers.</p>
{_numbers(table)}"""


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


def voltage_figure(envelope: pd.DataFrame, vm_min_pu: float, vm_max_pu: float, timezone: str) -> go.Figure:
    """Hourly lowest, mean and highest bus voltage, with the allowed band [pu]."""
    fig = go.Figure()
    x = _local(envelope.index, timezone)
    for column, name, colour in (
        ("vm_max_pu", "highest bus", COLOURS["import"]),
        ("vm_mean_pu", "mean", "#666666"),
        ("vm_min_pu", "lowest bus", COLOURS["export"]),
    ):
        fig.add_trace(go.Scatter(x=x, y=envelope[column].round(4), name=name, line={"color": colour}))
    for level in (vm_min_pu, vm_max_pu):
        fig.add_hline(y=level, line={"dash": "dash", "color": "#aa0000"})
    fig.update_layout(title="Voltage of the feeder's buses (hourly), with the allowed band")
    return _time_axis(fig, timezone, "voltage [pu]")


def trafo_figure(loading_percent: pd.Series, timezone: str) -> go.Figure:
    """Transformer loading over the span [% of rating], hourly maximum."""
    hourly = loading_percent.resample("1h").max()
    fig = go.Figure(
        go.Scatter(
            x=_local(hourly.index, timezone),
            y=hourly.round(1),
            name="transformer",
            line={"color": COLOURS["local"]},
        )
    )
    fig.add_hline(y=100, line={"dash": "dash", "color": "#aa0000"})
    fig.update_layout(title="Transformer loading (hourly maximum)")
    return _time_axis(fig, timezone, "loading [% of rating]")


def outage_figure(per_home: pd.DataFrame) -> go.Figure:
    """How many homes kept (critical) power for how long during the outage, alone and sharing."""
    hours = np.union1d(
        per_home["hours_with_power_alone"].round(2), per_home["hours_with_power_shared"].round(2)
    )
    fig = go.Figure()
    for column, name, colour in (
        ("hours_with_power_alone", "alone", "#999999"),
        ("hours_with_power_shared", "sharing", COLOURS["local"]),
    ):
        counts = per_home[column].round(2).value_counts().reindex(hours, fill_value=0)
        fig.add_trace(
            go.Bar(x=[f"{h:g}" for h in hours], y=counts.to_numpy(), name=name, marker_color=colour)
        )
    fig.update_layout(
        title="Homes by the hours they kept (critical) power during the outage",
        xaxis={"title": "hours with power [h]", "type": "category"},
        yaxis_title="homes [count]",
        barmode="group",
    )
    return fig


def _numbers(table: pd.DataFrame, currency: str = "") -> str:
    """A table as HTML: human headers, numbers to 3 decimals below 10 and to 1 above, in a box that
    scrolls by itself if it is wider than the page."""
    shown = table.map(
        lambda v: (
            v
            if isinstance(v, str)
            else ("" if v is None or v != v else f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}")
        )
    )
    if not isinstance(shown.index, pd.RangeIndex):
        shown = shown.rename_axis(shown.index.name or "").reset_index()
    shown = shown.rename(columns=lambda c: human_header(c, currency))
    return f'<div class="table">{shown.to_html(classes="kpi", border=0, index=False)}</div>'


def grid_section(grid: dict, currency: str, timezone: str = "UTC") -> tuple[str, list[go.Figure]]:
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
        _numbers(grid["top_lines"], currency),
    ]
    figures = [
        voltage_figure(grid["envelope"], grid["vm_min_pu"], grid["vm_max_pu"], timezone),
        trafo_figure(grid["trafo"], timezone),
    ]
    if grid.get("outage_summary") is not None:
        start, end = grid["outage_window"]
        parts += [
            f"<h3>Outage {start.tz_convert(timezone):%Y-%m-%d %H:%M} to "
            f"{end.tz_convert(timezone):%H:%M} local time</h3>",
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
    return f"""<h3>Battery planning against the bound</h3>
<p>The homes with a battery, on their own meters ({span}): no battery, the self-consumption rule, the MPC
planner with real forecasts, and the perfect-foresight LP (the bound no real controller can beat). Bill
in {currency}; objective = bill + daily peak charge + battery wear; the share of the bound's savings
is (no battery - strategy) / (no battery - bound).</p>
{_numbers(strategies.drop(columns=["objective / bound"], errors="ignore"), currency)}"""


def tournament_section(table: pd.DataFrame, summary: dict, currency: str) -> str:
    """Trading strategies in competition: profit per strategy, efficiency and price convergence."""
    shown = table.set_index("strategy") if "strategy" in table.columns else table
    return f"""<h3>Trading strategies</h3>
<p>The homes' agents bid with different strategies on the {summary["mechanism"]} market, each from its
limits: its marginal value of energy read off its battery's dispatch (the energy plan where the homes
plan). The strategies are rearranged over the homes, so every home plays each. Profit in {currency}, per
kWh offered and traded.
Allocative efficiency (realised welfare over the welfare-maximising optimum of the true values):
<b>{summary["efficiency"]:.2%}</b>; Smith's alpha (relative RMS deviation of prices from the competitive
price) on the first day {summary["alpha_first_day"]:.3f}, on the last day {summary["alpha_last_day"]:.3f}.</p>
{_numbers(shown, currency)}"""


def health_section(health) -> str:
    """Equipment health: the PV alarms of the span, and for injected faults whether and when each was found."""
    alarms = health.alarms
    parts = [
        "<h2>Equipment health</h2>",
        "<p>The members' PV as their meters saw it, checked day by day against neighbours under the same "
        "sky (the weeks before the start are the healthy reference): alarm episodes with their fault type "
        "and the energy they cost (pv_alarms.csv).</p>",
    ]
    if len(alarms):
        shown = alarms.assign(
            **{c: pd.to_datetime(alarms[c]).dt.strftime("%Y-%m-%d") for c in ("start", "detected", "end")}
        )
        parts.append(_numbers(shown.rename(columns={"member_id": "member"}), ""))
    else:
        parts.append("<p><b>No alarms</b> in the span.</p>")
    faults = health.faults
    if len(faults):
        found = int(faults["found"].sum())
        shown = faults.assign(
            start=pd.to_datetime(faults["start"]).dt.strftime("%Y-%m-%d"),
            detected=pd.to_datetime(faults["detected"]).dt.strftime("%Y-%m-%d").fillna("not found"),
            found=faults["found"].map({True: "yes", False: "no"}),
        ).drop(columns=["end"])
        parts.append(
            f"<p>The scenario injected {len(faults)} fault(s); {found} found (faults.csv). lost_kwh is the "
            "generation each took; alarm_lost_kwh what the detector's episodes estimate.</p>"
        )
        parts.append(_numbers(shown.rename(columns={"member_id": "member"}), ""))
    if health.notes:
        parts.append("<p>" + "<br>".join(html.escape(n) for n in health.notes) + "</p>")
    return "\n".join(parts)


#: Events drawn in the report's demand-response section (the table lists every one).
MAX_EVENT_FIGURES = 8


def dr_event_figure(event: pd.Series, window: pd.DataFrame, timezone: str) -> go.Figure:
    """The import an event capped, with and without the plan, and its cap, over its window and a margin [kW]."""
    x = _local(window.index, timezone)
    fig = go.Figure()
    for column, name, colour in (
        ("no_plan_kw", "without the plan (P2P, no batteries)", "#999999"),
        ("plan_kw", "with the plan (P2P + batteries)", COLOURS["local"]),
    ):
        fig.add_trace(
            go.Scatter(x=x, y=window[column].round(3), name=name, line={"shape": "hv", "color": colour})
        )
    # The cap held over the whole of its last interval: repeat it at the next interval's start.
    cap = window["cap_kw"].where(window["cap_kw"].notna(), window["cap_kw"].shift(1))
    fig.add_trace(
        go.Scatter(
            x=x,
            y=cap.round(3),
            name="the event's cap",
            line={"shape": "hv", "color": "#aa0000", "dash": "dash"},
        )
    )
    who = (
        f"home {html.escape(event['member_id'])}'s import"
        if event["member_id"]
        else "the planned homes' net import"
    )
    start = pd.Timestamp(event["start"]).tz_convert(timezone)
    end = pd.Timestamp(event["end"]).tz_convert(timezone)
    fig.update_layout(
        title=f"Demand-response event {html.escape(event['event_id'])}: {who}, {start:%d %b %H:%M} to {end:%d %b %H:%M}"
    )
    return _time_axis(fig, timezone, "import [kW]" if event["member_id"] else "net import [kW]")


def dr_events_section(
    table: pd.DataFrame, windows: dict[str, pd.DataFrame], timezone: str
) -> tuple[str, list[go.Figure]]:
    """What the demand-response events asked and how the plan kept to them: the table and a figure per event."""
    in_span = table[table["intervals"] > 0]
    met = int(in_span["met"].sum())
    shown = pd.DataFrame(
        {
            "event": table["event_id"],
            "member": [m or "community" for m in table["member_id"]],
            "from (local)": [
                f"{pd.Timestamp(t).tz_convert(timezone):%Y-%m-%d %H:%M}" for t in table["start"]
            ],
            "to (local)": [f"{pd.Timestamp(t).tz_convert(timezone):%Y-%m-%d %H:%M}" for t in table["end"]],
            "asked": [
                f"at most {limit:g} kW" if limit == limit else f"{cut:g} kW less than expected"
                for limit, cut in zip(table["limit_kw"], table["reduction_kw"], strict=True)
            ],
            "intervals": [f"{n}" for n in table["intervals"]],
            "cap [kW]": table["cap_kw"],
            "peak import with the plan [kW]": table["peak_import_plan_kw"],
            "peak import without [kW]": table["peak_import_no_plan_kw"],
            "over the cap with the plan [kWh]": table["over_cap_plan_kwh"],
            "over the cap without [kWh]": table["over_cap_no_plan_kwh"],
            "met": table["met"].map({True: "yes", False: "no"}),
        }
    )
    drawn = table[table["event_id"].isin(list(windows))]
    figures = [
        dr_event_figure(event, windows[event["event_id"]], timezone)
        for _, event in drawn.head(MAX_EVENT_FIGURES).iterrows()
    ]
    more = len(drawn) - len(figures)
    text = (
        f"<h2>Demand response</h2>\n<p>{len(table)} demand-response event(s) asked the community or single "
        "homes to keep their import at or below a limit, or to cut it below what they were expected to "
        "draw, over a window (dr_events.csv). The planner knew them in advance and kept the planned homes' "
        "import under the caps where their batteries and EVs could (a community event caps the planned "
        "homes' summed net import: members without a battery or an EV cannot respond). Of the "
        f"{len(in_span)} in the simulated span, the plan (P2P + batteries) met {met}; the columns without "
        "the plan show the same homes in the P2P market case (no batteries, EVs charging on arrival). An "
        "event is met where the import stayed at or below its cap in every interval.</p>"
    )
    note = f"<p>{more} more event(s) are in the table, not drawn.</p>" if more > 0 else ""
    return text + "\n" + _numbers(shown) + note, figures


def headline(members: pd.DataFrame, kpis: pd.DataFrame, currency: str) -> str:
    """The headline: a typical (median) household's saving with and without PV, self-sufficiency and
    the transformer's peak import, each with the no-sharing figure beside."""
    cur = currency.lower()
    homes = members[members["kind"] != "community"]
    saving = homes[f"saving_p2p_battery_{cur}"]
    bill = homes[f"bill_alone_{cur}"]
    has_pv = homes["pv_kwp"] > 0
    cards = []
    for label, rows in (("without PV", ~has_pv), ("with PV", has_pv)):
        if rows.any():
            median = float(saving[rows].median())
            share = median / float(bill[rows].median()) if float(bill[rows].median()) > 0 else float("nan")
            extra = "" if share != share else f" ({share:.0%} of its bill)"
            cards.append(
                (
                    f"{median:,.2f} {currency}",
                    f"what sharing saves a typical household {label}{extra}; {int(rows.sum())} households",
                )
            )
    full, alone = kpis["P2P + batteries"], kpis["No sharing"]
    cards.append(
        (
            f"{full['self-sufficiency [%]']:.1f} %",
            f"self-sufficiency (without sharing {alone['self-sufficiency [%]']:.1f} %)",
        )
    )
    cards.append(
        (
            f"{full['peak import at transformer [kW]']:,.0f} kW",
            f"peak import at the transformer (without sharing "
            f"{alone['peak import at transformer [kW]']:,.0f} kW)",
        )
    )
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><b>{html.escape(value)}</b><span>{html.escape(text)}</span></div>'
            for value, text in cards
        )
        + "</div>"
    )


def groups_table(members: pd.DataFrame, currency: str) -> pd.DataFrame:
    """Households per asset group: count, median consumption, bill without sharing, saving, self-sufficiency."""
    cur = currency.lower()
    homes = members[members["kind"] != "community"]
    rows = {}
    for group, label in GROUP_LABELS.items():
        part = homes[homes["asset_group"] == group]
        if part.empty:
            continue
        rows[label] = {
            "households": f"{len(part)}",
            "median consumption [kWh]": part["consumption_kwh"].median(),
            f"median bill without sharing [{currency}]": part[f"bill_alone_{cur}"].median(),
            f"median saving, P2P market [{currency}]": part[f"saving_p2p_{cur}"].median(),
            f"median saving, P2P + batteries [{currency}]": part[f"saving_p2p_battery_{cur}"].median(),
            "median self-sufficiency [%]": part["self_sufficiency_percent"].median(),
            "losing money [count]": f"{int((part[f'saving_p2p_battery_{cur}'] < -0.005).sum())}",
        }
    table = pd.DataFrame(rows).T
    table.index.name = "households with"
    return table


def fairness_section(fairness: tuple[pd.DataFrame, tuple[str, float], bool], currency: str) -> str:
    """Who gains, and what a fair-access rule changes (its cost in community welfare: a transfer)."""
    table, (battery_share, solidarity_percent), is_rule = fairness
    rule = []
    if battery_share == "equal":
        rule.append("the community battery's net result is shared equally among the households")
    if solidarity_percent > 0:
        rule.append(
            f"{solidarity_percent:g} % of each seller's local premium over the feed-in tariff goes, in equal "
            "parts, to the households without PV"
        )
    described = "; ".join(rule) or "no transfer"
    how = (
        "This scenario applies it (members.csv has each member's transfer and bill after it)."
        if is_rule
        else "This scenario applies none; the right-hand column shows what it would do "
        "(set <code>fairness.battery_share</code> and <code>fairness.solidarity_percent</code>)."
    )
    full = table.iloc[:, 0]
    welfare = [name for name in table.index if name.startswith("community welfare")][0]
    cost = float(table.loc[welfare].iloc[1] - full[welfare])
    return f"""<h2>Who gains: fair access</h2>
<p>Households without PV gain only by buying their neighbours' surplus below retail; low consumers gain
little in absolute terms. The fair-access rule: {html.escape(described)}. {how} It moves money, not
energy, so its cost in community welfare (the community's total bill) is {cost:,.2f} {currency}; what it
moves from PV owners shows in their mean saving.</p>
{_numbers(table, currency)}"""


def assets_section(assets: pd.DataFrame, currency: str) -> str:
    """The community's own assets (the community battery), what they cost and earned."""
    if assets.empty:
        return ""
    cur = currency.lower()
    net = float(assets[f"net_result_{cur}"].sum())
    verdict = "earned" if net >= 0 else "lost"
    return f"""<h2>The community battery</h2>
<p>The community's own asset: it buys the community's surplus on the local market and sells it back
when the community is short. Over the span it {verdict} {abs(net):,.2f} {currency} (earned less paid); a
loss counts among the members losing money.</p>
{_numbers(assets.set_index("member_id"), currency)}"""


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
    timezone: str = "UTC",
    assets: pd.DataFrame | None = None,
    fairness: tuple[pd.DataFrame, tuple[str, float], bool] | None = None,
    health=None,
    dr_events: tuple[pd.DataFrame, dict[str, pd.DataFrame]] | None = None,
) -> None:
    """Write the self-contained HTML report to ``path``: Plotly inlined once, time axes in ``timezone``.

    ``dr_events``: the demand-response events' table (dr_events.csv) and each event's capped import over
    its window (``wattmesh.simulate.outputs.dr_event_windows``), for the demand-response section.
    """
    interval_h = (intervals.index[1] - intervals.index[0]).total_seconds() / 3600
    week = typical_week(intervals)
    label = span_label(week.index, typical=len(week) < len(intervals))
    overview = [
        flows_figure(week, interval_h, label, timezone),
        transformer_figure(week, label, timezone),
        price_figure(week, currency, label, timezone),
        daily_figure(intervals, timezone),
    ]
    grid_html, grid_figures = grid_section(grid, currency, timezone) if grid is not None else ("", [])

    def embed(figs: list[go.Figure]) -> str:
        return "\n".join(
            pio.to_html(
                fig.update_layout(template="plotly_white", height=420, margin={"l": 60, "r": 20}),
                full_html=False,
                include_plotlyjs=False,
                config={"responsive": True, "displaylogo": False},
            )
            for fig in figs
        )

    shown = pd.DataFrame(
        [[format_kpi(name, v) for v in row] for name, row in kpis.iterrows()],
        index=kpis.index,
        columns=kpis.columns,
    )
    shown = shown.rename_axis("key figure").reset_index()
    kpi_html = f'<div class="table">{shown.to_html(classes="kpi", border=0, index=False)}</div>'
    mechanism_html = "" if mechanisms is None else mechanisms_section(mechanisms, week, currency, label)
    strategy_html = "" if strategies is None else strategies_section(strategies, currency)
    tournament_html = "" if tournament is None else tournament_section(*tournament, currency)
    fairness_html = "" if fairness is None else fairness_section(fairness, currency)
    assets_html = "" if assets is None else assets_section(assets, currency)
    health_html = "" if health is None else health_section(health)
    dr_html, dr_figures = ("", []) if dr_events is None else dr_events_section(*dr_events, timezone)
    meta_html = "".join(
        f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in meta.items()
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} - wattmesh report</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1em; max-width: 1100px; color: #222; }}
.table {{ max-width: 100%; overflow-x: auto; }}
table.kpi {{ border-collapse: collapse; margin: 1em 0; }}
table.kpi td, table.kpi th {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
table.kpi th {{ font-weight: 600; max-width: 16em; }}
table.kpi tbody td:first-child, table.kpi thead th:first-child {{ text-align: left; font-weight: 600; }}
.cards {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px; margin: 1em 0; }}
.card {{ border: 1px solid #ddd; border-radius: 6px; padding: 12px; }}
.card b {{ display: block; font-size: 1.6em; color: #11a579; }}
.card span {{ font-size: 0.95em; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }}
dt {{ font-weight: 600; }}
.plotly-graph-div {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(str(meta.get("members", "")))} members, {html.escape(str(meta.get("span", "")))};
times in the plots are local time ({html.escape(timezone)}).</p>
{headline(members, kpis, currency)}
<h2>Key figures</h2>
<p>Three cases on the same data: <b>No sharing</b> (every home alone with the utility, no batteries),
<b>P2P market</b> (neighbours trade locally, no batteries) and <b>P2P + batteries</b> (local market, home
batteries and EVs as in the method details, and the community battery on the community's surplus).
Fairness figures are over the households' savings versus no sharing; members losing money counts the
community battery too.</p>
{kpi_html}
<h2>Households by their assets</h2>
<p>Medians over the households of each group (members.csv has every household).</p>
{_numbers(groups_table(members, currency), currency)}
{embed([savings_figure(members, currency)])}
{fairness_html}
{assets_html}
<h2>Energy and prices over time</h2>
{embed(overview)}
{dr_html}
{embed(dr_figures)}
{grid_html}
{embed(grid_figures)}
{health_html}
<h2>Method details</h2>
<p>For developers and reviewers: how the run was made, the market mechanisms on the same orders, the
battery planner against its perfect-foresight bound and the trading strategies.</p>
<dl>{meta_html}</dl>
{mechanism_html}
{strategy_html}
{tournament_html}
</body></html>"""
    path.write_text(page)
