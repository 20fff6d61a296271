"""The data-quality report: per meter, what was found, with a Plotly plot of each faulty meter, and CSV.

Files are written atomically: into a temporary sibling, renamed into place at the end, so a failure never
leaves a partial report.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from wattmesh.quality.checks import QualityReport
from wattmesh.quality.schema import REASONS

COLOURS = (
    "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#1f77b4", "#2ca02c",
    "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
)  # fmt: skip


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, then rename it to ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else "."
    )
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def events_csv(report: QualityReport) -> str:
    """One CSV row per fault: meter, reason, start, end (UTC ISO 8601), values, detail."""
    events = report.events.copy()
    for col in ("start", "end"):
        events[col] = (
            pd.DatetimeIndex(events[col]).strftime("%Y-%m-%dT%H:%M:%SZ") if len(events) else events[col]
        )
    return events[["meter", "reason", "start", "end", "values", "detail"]].to_csv(index=False)


def meter_figure(values: pd.Series, flags: pd.Series, meter: str, estimate: pd.Series | None = None):
    """A Plotly figure of one meter: the series, and each flagged value marked with its reason."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(
        go.Scattergl(
            x=values.index,
            y=values.to_numpy(),
            mode="lines",
            name="as read",
            line={"width": 1, "color": "#444"},
        )
    )
    if estimate is not None:
        fig.add_trace(go.Scattergl(x=estimate.index, y=estimate.to_numpy(), mode="lines", name="repaired",
                                   line={"width": 1, "color": "#2ca02c", "dash": "dot"}))  # fmt: skip
    code = flags.to_numpy().astype(np.uint32)
    for k, reason in enumerate(REASONS):
        hit = (code & np.uint32(reason.bit)) != 0
        if not hit.any():
            continue
        y = values.to_numpy()[hit]
        y = np.where(np.isfinite(y), y, 0.0)
        fig.add_trace(go.Scattergl(x=values.index[hit], y=y, mode="markers", name=f"{reason.name} ({int(hit.sum())})",
                                   marker={"size": 5, "color": COLOURS[k % len(COLOURS)]}))  # fmt: skip
    fig.update_layout(title=f"{meter}", height=360, margin={"l": 50, "r": 20, "t": 40, "b": 30},
                      yaxis_title="kWh per interval", legend={"orientation": "h"})  # fmt: skip
    return fig


def report_html(
    values: pd.DataFrame,
    flags: pd.DataFrame,
    report: QualityReport,
    *,
    title: str = "Meter data quality",
    repaired: pd.DataFrame | None = None,
    max_plots: int = 30,
) -> str:
    """The report as one self-contained HTML page (plotly.js embedded once, no network needed)."""
    import plotly.io as pio

    summary = report.summary.copy()
    reason_cols = [r.name for r in REASONS if r.name in summary.columns and summary[r.name].sum() > 0]
    summary["completeness"] = (summary["completeness"] * 100).round(2)
    table = summary[["kind", "values", "completeness", *reason_cols]].rename(
        columns={"completeness": "complete %"}
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em} table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right} .ok{color:#2ca02c} .bad{color:#d62728}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
        f"<p>{len(values.columns)} meter(s), {len(values):,} intervals of {report.step} from {values.index[0]} to "
        f"{values.index[-1]} (UTC). Faults found: "
        + (f"<b class='bad'>{len(report.events)}</b>" if report.has_faults else "<b class='ok'>none</b>")
        + ".</p>",
        "<h2>Per meter: values flagged by reason</h2>",
        table.to_html(border=0),
    ]
    if report.notes or report.skipped:
        parts.append(
            "<h2>Notes</h2><ul>"
            + "".join(f"<li>{html.escape(n)}</li>" for n in report.notes + report.skipped)
            + "</ul>"
        )
    parts.append(
        "<h2>Reason codes</h2><ul>"
        + "".join(f"<li><code>{r.name}</code>: {html.escape(r.description)}</li>" for r in REASONS)
        + "</ul>"
    )
    faulty = [m for m in values.columns if (flags[m].to_numpy() != 0).any()]
    if faulty:
        parts.append(f"<h2>Faults by meter</h2><p>{len(faulty)} meter(s) with flagged values" +
                     (f"; the first {max_plots} are plotted" if len(faulty) > max_plots else "") + ".</p>")  # fmt: skip
    first = True
    for meter in faulty[:max_plots]:
        ev = report.events[report.events["meter"] == meter]
        parts.append(f"<h3>{html.escape(str(meter))}</h3>")
        fig = meter_figure(
            values[meter], flags[meter], str(meter), None if repaired is None else repaired[meter]
        )
        parts.append(pio.to_html(fig, include_plotlyjs=True if first else False, full_html=False))
        first = False
        shown = ev.head(50).copy()
        parts.append(shown[["reason", "start", "end", "values", "detail"]].to_html(index=False, border=0))
        if len(ev) > 50:
            parts.append(f"<p>... and {len(ev) - 50} more in the CSV.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
