"""The maintenance report: one self-contained HTML page with Plotly figures, and alarms.csv."""

from __future__ import annotations

import html
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

COLOURS = {
    "outage": "red",
    "string_loss": "orange",
    "soiling": "olive",
    "shading": "purple",
    "degradation": "grey",
}


def _pv_figure(pv) -> go.Figure:
    fig = go.Figure()
    for name in pv.assets:
        fig.add_trace(
            go.Scatter(x=pv.relative_index.index, y=pv.relative_index[name], mode="lines", name=name)
        )
    for a in pv.alarms:
        fig.add_vrect(
            x0=a.start,
            x1=a.end + np.timedelta64(1, "D"),
            fillcolor=COLOURS.get(a.fault_type, "grey"),
            opacity=0.15,
            line_width=0,
            annotation_text=f"{a.asset}: {a.fault_type}",
            annotation_position="top left",
        )
    fig.update_layout(
        title="PV daily index vs reference and neighbours (1 = healthy); shaded: alarm episodes",
        yaxis_title="relative performance index [-]",
        height=450,
    )
    return fig


def _lost_figure(pv) -> go.Figure:
    fig = go.Figure()
    for name in pv.assets:
        fig.add_trace(go.Bar(x=pv.lost_kwh.index, y=pv.lost_kwh[name], name=name))
    fig.update_layout(
        title="Energy lost per day inside alarm episodes", yaxis_title="kWh/day", barmode="stack", height=350
    )
    return fig


def alarms_frame(results: dict) -> pd.DataFrame:
    """All PV alarms as a table (one row per episode)."""
    pv = results.get("pv")
    if pv is None or not pv.alarms:
        return pd.DataFrame(columns=["asset", "fault_type", "start", "detected", "end", "lost_kwh"])
    return pd.DataFrame([asdict(a) for a in pv.alarms])


def rul_text(b) -> str:
    """Remaining useful life as words: a range, 'at or past end of life', or why it is missing."""
    if np.isnan(b.rul_days_low):
        return "not computed"
    if b.rul_days_high == 0:
        return f"0 days (at or below the {b.eol_soh_pct:.0f} % end of life)"
    return f"{b.rul_days_low:,.0f} - {b.rul_days_high:,.0f} days"


def write_report(results: dict, problems: list[str], out: Path) -> Path:
    """Write ``maintenance.html`` and ``alarms.csv`` into ``out``; return the HTML path."""
    out.mkdir(parents=True, exist_ok=True)
    alarms = alarms_frame(results)
    alarms.to_csv(out / "alarms.csv", index=False)
    figures = []
    pv = results.get("pv")
    if pv is not None:
        figures += [_pv_figure(pv), _lost_figure(pv)]
    for b in results.get("battery", []):
        fig = go.Figure(go.Scatter(x=b.soh_pct.index, y=b.soh_pct, mode="markers", name="estimate"))
        fig.add_hline(y=b.eol_soh_pct, line_dash="dash", annotation_text="end of life")
        fig.update_layout(
            title=f"Battery {b.asset}: state of health {b.soh_latest_pct:.1f} %, remaining life "
            f"{rul_text(b)}",
            yaxis_title="state of health [%]",
            height=350,
        )
        figures.append(fig)
    for t in results.get("transformer", []):
        daily_hot = t.hot_spot_c.resample("D").max()  # daily maxima keep the page small for a year of data
        daily_oil = t.top_oil_c.resample("D").max()
        fig = go.Figure(go.Scatter(x=daily_hot.index, y=daily_hot, mode="lines", name="hot spot, daily max"))
        fig.add_trace(go.Scatter(x=daily_oil.index, y=daily_oil, mode="lines", name="top oil, daily max"))
        fig.add_hline(y=98, line_dash="dot", annotation_text="98 C: normal ageing")
        fig.update_layout(
            title=f"Transformer {t.asset}: ageing budget used {t.ageing_budget_used_pct:.1f} % of normal, "
            f"peak hot spot {t.peak_hot_spot_c:.1f} C",
            yaxis_title="C",
            height=350,
        )
        figures.append(fig)
    parts = [pio.to_html(f, full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figures)]
    problem_html = "".join(f"<li>{html.escape(p)}</li>" for p in problems) or "<li>none</li>"
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>wattmesh maintenance</title></head><body>"
        "<h1>Maintenance scan</h1><h2>Not computed / warnings</h2><ul>" + problem_html + "</ul>"
        "<h2>Alarms</h2>"
        + (alarms.to_html(index=False) if len(alarms) else "<p>no alarms</p>")
        + "".join(parts)
        + "</body></html>"
    )
    path = out / "maintenance.html"
    path.write_text(page)
    return path
