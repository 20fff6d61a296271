"""`wattmesh maintenance ...`: scan readings for failing PV, batteries and transformers; write a report.

Input (documented in docs/maintenance.md): a readings CSV with a ``timestamp`` column (UTC, ISO 8601) and
one column per measured quantity, and an assets TOML naming, per asset, its columns and its declaration.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from wattmesh.maintenance.battery import assess_battery
from wattmesh.maintenance.data import PVSystemSpec
from wattmesh.maintenance.pv import MaintenanceInputError, assess_pv
from wattmesh.maintenance.report import rul_text, write_report
from wattmesh.maintenance.transformer import assess_transformer

app = typer.Typer(
    help="Predictive maintenance: PV faults, battery health, transformer ageing.", no_args_is_help=True
)


def _console() -> Console:
    """A console sized to the terminal (COLUMNS) at the time of printing, not at import."""
    return Console()


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise MaintenanceInputError(f"readings file {path} does not exist; nothing computed")
    frame = pd.read_csv(path)
    if "timestamp" not in frame:
        raise MaintenanceInputError(f"{path}: no 'timestamp' column; nothing computed")
    frame.index = pd.to_datetime(frame.pop("timestamp"), utc=True)
    return frame.sort_index()


def _regular(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Put missing rows back as NaN rows on the file's own step (a gap is a communication loss)."""
    step = pd.Series(frame.index).diff().median()
    full = pd.date_range(frame.index[0], frame.index[-1], freq=step)
    if not frame.index.isin(full).all():
        raise MaintenanceInputError(f"{where}: timestamps are not on a regular {step} grid; nothing computed")
    return frame.reindex(full)


def _need(section: dict, key: str, where: str, skipped: str):
    if key not in section or section[key] in ("", None):
        raise MaintenanceInputError(f"{where}: '{key}' missing; {skipped} not computed")
    return section[key]


def run_scan(readings: Path, community: Path, out: Path, allow_gaps: bool = False) -> tuple[int, dict]:
    """Scan every asset of ``community`` in ``readings``; write the report; return (exit code, results)."""
    problems: list[str] = []  # bad input: something was not computed (exit code 2)
    notes: list[str] = []  # expected limits, e.g. too short for a degradation rate
    results: dict = {"pv": None, "battery": [], "transformer": []}
    try:
        config = tomllib.loads(community.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        _console().print(f"[red]assets file {community}: {exc}; nothing computed[/red]")
        return 2, results
    base = community.parent
    main = None

    def table_for(section: dict) -> pd.DataFrame:
        nonlocal main
        if "file" in section:
            return _read_csv(base / section["file"])
        if main is None:
            main = _read_csv(readings)
        return main

    site = config.get("site", {})
    pv_sections = config.get("pv", [])
    if pv_sections:
        try:
            frame = _regular(table_for({}), str(readings))
            weather_cfg = config.get("weather", {})
            weather = pd.DataFrame(index=frame.index)
            for key, default in (("ghi", "ghi"), ("temp_air", "temp_air"), ("ghi_clear", "ghi_clear")):
                column = weather_cfg.get(f"{key}_column", default)
                if column in frame:
                    weather[key] = frame[column]
                elif key != "ghi_clear":
                    raise MaintenanceInputError(
                        f"readings: weather column '{column}' missing; PV not assessed"
                    )
            specs, columns = [], {}
            for s in pv_sections:
                where = f"PV system '{s.get('name', '?')}'"
                name = _need(s, "name", "PV entry", "PV")
                for key in ("tilt_deg", "azimuth_deg", "dc_kw"):
                    _need(s, key, where, "performance index and alarms")
                column = s.get("column", name)
                if column not in frame:
                    raise MaintenanceInputError(
                        f"{where}: readings column '{column}' missing; PV not assessed"
                    )
                columns[name] = frame[column]
                specs.append(
                    PVSystemSpec(
                        name=name,
                        latitude=float(s.get("latitude", _need(site, "latitude", "[site]", "PV"))),
                        longitude=float(s.get("longitude", _need(site, "longitude", "[site]", "PV"))),
                        tilt_deg=float(s["tilt_deg"]),
                        azimuth_deg=float(s["azimuth_deg"]),
                        dc_kw=float(s["dc_kw"]),
                        ac_kw=float(s.get("ac_kw", s["dc_kw"])),
                    )
                )
            result = assess_pv(pd.DataFrame(columns), weather, specs)
            results["pv"] = result
            problems += _pv_sanity(result)
            (notes if allow_gaps else problems).extend(_pv_gaps(result))
            notes += result.notes
        except MaintenanceInputError as exc:
            problems.append(str(exc))
    for s in config.get("battery", []):
        name = s.get("name", "battery")
        try:
            where = f"battery '{name}'"
            frame = table_for(s)
            cur, volt = (
                _need(s, "current_column", where, "state of health"),
                _need(s, "voltage_column", where, "state of health"),
            )
            for column in (cur, volt):
                if column not in frame:
                    raise MaintenanceInputError(
                        f"{where}: column '{column}' missing; state of health not computed"
                    )
            rows = frame[[cur, volt]].dropna()
            res = assess_battery(
                pd.DatetimeIndex(rows.index),
                rows[cur].to_numpy(),
                rows[volt].to_numpy(),
                float(_need(s, "capacity_ah", where, "state of health")),
                int(_need(s, "n_series", where, "state of health")),
                name,
            )
            results["battery"].append(res)
            notes += res.notes
        except MaintenanceInputError as exc:
            problems.append(str(exc))
    for s in config.get("transformer", []):
        name = s.get("name", "transformer")
        try:
            where = f"transformer '{name}'"
            frame = table_for(s)
            load_col = _need(s, "load_column", where, "hot-spot temperature and ageing")
            if load_col not in frame:
                raise MaintenanceInputError(f"{where}: column '{load_col}' missing; ageing not computed")
            ambient = s.get("ambient_c")
            if ambient is None:
                amb_col = _need(s, "ambient_column", where, "hot-spot temperature and ageing")
                ambient = frame[amb_col]
            res = assess_transformer(frame[load_col], s.get("rating_kva"), ambient, name)
            results["transformer"].append(res)
        except MaintenanceInputError as exc:
            problems.append(str(exc))
    _print_summary(results)
    out.mkdir(parents=True, exist_ok=True)
    write_report(results, problems + notes, out)
    _console().print(f"report: {out / 'maintenance.html'}, alarms: {out / 'alarms.csv'}")
    for p in notes:
        _console().print(f"[yellow]{p}[/yellow]", soft_wrap=True)
    for p in problems:
        _console().print(f"[red]{p}[/red]", soft_wrap=True)
    return (2 if problems else 0), results


def _pv_gaps(result) -> list[str]:
    """One line per PV system whose readings miss whole days (communication loss, never read as zero)."""
    out = []
    for name in result.assets:
        lost_days = result.day_status.index[result.day_status[name] == "comm_loss"]
        if len(lost_days):
            out.append(
                f"PV system '{name}': readings missing on {len(lost_days)} day(s) from {lost_days[0].date()} "
                "(communication loss, < 80 % of daylight covered): performance index and lost energy not "
                "computed for those days (--allow-gaps accepts this)"
            )
    return out


def _pv_sanity(result) -> list[str]:
    """Declared orientation or size that the measurements contradict: name it, never trust its figures."""
    out = []
    ref = result.performance_index.median()
    for name, value in ref.items():
        if not np.isfinite(value) or value < 0.5 or value > 1.5:
            out.append(
                f"PV system '{name}': measured/expected energy is {value:.2f} (expected 0.5-1.5): declared "
                "orientation or size looks wrong; its alarms and lost energy are not computed"
            )
    for name, value in result.morning_afternoon_ratio.items():
        if np.isfinite(value) and not 0.77 <= value <= 1.3 and name not in " ".join(out):
            out.append(
                f"PV system '{name}': morning/afternoon performance ratio is {value:.2f} (expected 0.77-1.30): "
                "declared azimuth looks wrong; its alarms and lost energy are not computed"
            )
    if out:
        bad = {m.split("'")[1] for m in out}
        result.alarms[:] = [a for a in result.alarms if a.asset not in bad]
        for name in bad:
            result.lost_kwh[name] = np.nan
    return out


def _print_summary(results: dict) -> None:
    table = Table(title="Maintenance scan")
    for column in ("asset", "finding", "value"):
        table.add_column(column)
    pv = results["pv"]
    if pv is not None:
        for name in pv.assets:
            alarms = [a for a in pv.alarms if a.asset == name]
            kinds = pd.Series([a.fault_type for a in alarms]).value_counts().to_dict() if alarms else {}
            lost = float(np.nansum(pv.lost_kwh[name].to_numpy()))
            table.add_row(name, "PV alarms", f"{len(alarms)} {kinds}" if alarms else "none")
            table.add_row("", "PV energy lost in alarms", f"{lost:,.1f} kWh")
        for d in pv.degradation:
            if d.computed:
                table.add_row(
                    d.asset,
                    "degradation (68 % CI)",
                    f"{d.rate_pct_per_year:+.2f} %/yr [{d.ci_low_pct_per_year:+.2f}, {d.ci_high_pct_per_year:+.2f}]",
                )
    for b in results["battery"]:
        table.add_row(b.asset, "state of health", f"{b.soh_latest_pct:.1f} %")
        table.add_row("", "remaining life", rul_text(b))
        table.add_row("", "resistance growth", f"{b.resistance_growth_pct:+.1f} %")
    for t in results["transformer"]:
        table.add_row(t.asset, "ageing budget used", f"{t.ageing_budget_used_pct:.1f} % of normal")
        table.add_row("", "peak hot spot", f"{t.peak_hot_spot_c:.1f} C")
    _console().print(table)


@app.command("scan")
def scan(
    readings: Path = typer.Argument(..., help="Readings CSV: 'timestamp' (UTC) and one column per quantity."),
    community: Path = typer.Option(
        ..., "--community", help="Assets TOML: per asset its columns and declaration."
    ),
    out: Path = typer.Option(
        Path("out/maintenance"), "--out", help="Folder for maintenance.html and alarms.csv."
    ),
    allow_gaps: bool = typer.Option(
        False, "--allow-gaps", help="Days without readings are warnings, not bad input (exit code 0)."
    ),
) -> None:
    """Alarms per asset, kWh lost, battery health, transformer ageing; exit code 2 when input is missing."""
    code, _ = run_scan(readings, community, out, allow_gaps)
    raise typer.Exit(code)


@app.command("ev-what-if")
def ev_what_if(
    readings: Path = typer.Argument(
        ..., help="Readings CSV with 'timestamp' (UTC) and the feeder's non-EV load."
    ),
    sessions: Path = typer.Option(
        ..., "--sessions", help="EV sessions CSV: arrival, departure (UTC), energy_kwh, power_kw."
    ),
    load_column: str = typer.Option("feeder_kva", help="Column of the non-EV load \\[kVA]."),
    rating_kva: float = typer.Option(None, "--rating-kva", help="Transformer rating \\[kVA] (required)."),
    ambient_c: float = typer.Option(20.0, help="Ambient temperature \\[C]."),
) -> None:
    """Transformer ageing with EV charging on arrival vs as planned (into the lowest base load)."""
    from wattmesh.maintenance.transformer import compare_loadings, ev_charging_load_kw

    try:
        frame = _regular(_read_csv(readings), str(readings))
        if load_column not in frame:
            raise MaintenanceInputError(f"{readings}: column '{load_column}' missing; what-if not computed")
        if rating_kva is None:
            raise MaintenanceInputError(
                "transformer: --rating-kva missing; hot-spot temperature and ageing not computed"
            )
        table = pd.read_csv(sessions, parse_dates=["arrival", "departure"])
        missing = {"arrival", "departure", "energy_kwh", "power_kw"} - set(table.columns)
        if missing:
            raise MaintenanceInputError(
                f"{sessions}: column(s) {sorted(missing)} missing; what-if not computed"
            )
        for column in ("arrival", "departure"):
            table[column] = pd.to_datetime(table[column], utc=True)
        base = frame[load_column]
        index = pd.DatetimeIndex(frame.index)
        loadings = {
            "no EVs": base,
            "EVs on arrival": base + ev_charging_load_kw(index, table, "on_arrival"),
            "EVs as planned": base + ev_charging_load_kw(index, table, "planned", base),
        }
        result = compare_loadings(loadings, rating_kva, ambient_c)
    except (MaintenanceInputError, OSError, ValueError) as exc:
        _console().print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc
    out = Table(title=f"EV what-if, {rating_kva:.0f} kVA transformer, ambient {ambient_c:.0f} C")
    for column in ("scenario", "peak load kVA", "peak hot spot C", "loss of life h", "ageing budget %"):
        out.add_column(column)
    for name, row in result.iterrows():
        out.add_row(
            name,
            f"{row.peak_load_kva:,.0f}",
            f"{row.peak_hot_spot_c:.1f}",
            f"{row.loss_of_life_h:,.1f}",
            f"{row.ageing_budget_used_pct:.1f}",
        )
    _console().print(out)


@app.command("example")
def example(
    out: Path = typer.Argument(Path("maintenance_example"), help="Folder to write the example into."),
) -> None:
    """Write an example readings.csv and assets.toml (NREL system 50, 4 neighbours, injected faults)."""
    from wattmesh.maintenance.example import write_example

    write_example(out)
    _console().print(
        f"wrote {out}/readings.csv, {out}/battery.csv, {out}/assets.toml; run: "
        f"wattmesh maintenance scan {out}/readings.csv --community {out}/assets.toml --allow-gaps"
    )
