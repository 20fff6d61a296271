"""`wattmesh meter ...`: check meter files and repair them visibly.

Exit codes: 0 clean (check) or written (repair); 1 faults found (check); 2 bad input, one line naming the
file, the field and the value, and nothing written.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Check meter readings for faults and repair them visibly.", no_args_is_help=True)

EXIT_FAULTS = 1
EXIT_BAD_INPUT = 2

_INTERVAL = typer.Option(None, "--interval", help="Interval length, e.g. 15min (inferred when omitted).")
_TZ = typer.Option(
    None, "--tz", help="Zone of naive timestamps and of the meters' DST check, e.g. Europe/Berlin."
)
_UNIT = typer.Option(
    None, "--unit", help="Unit of every value (kWh, Wh, kW, W); else the file's unit column or kWh."
)
_KIND = typer.Option(
    None, "--kind", help="consumption, generation, net or register; else the file's kind column."
)
_SKIP = typer.Option(
    None, "--skip", help="Reasons not to check, comma-separated, e.g. level_shift,clock_drift."
)


def _fail(message: str) -> None:
    typer.echo(f"wattmesh meter: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _load(path: Path, interval, tz, unit, kind):
    from wattmesh.quality.io import ReadingsError, read_meter_file

    try:
        if unit is not None and unit not in ("kWh", "Wh", "kW", "W"):
            raise ReadingsError(f"--unit {unit!r} is not one of kWh, Wh, kW, W")
        if kind is not None and kind not in ("consumption", "generation", "net", "register"):
            raise ReadingsError(f"--kind {kind!r} is not one of consumption, generation, net, register")
        if tz is not None:
            try:
                __import__("pandas").Timestamp("2024-01-01", tz=tz)
            except Exception:
                raise ReadingsError(
                    f"--tz {tz!r} is not a known time zone (expected an IANA name, e.g. Europe/Berlin)"
                ) from None
        if interval is not None:
            try:
                step = __import__("pandas").Timedelta(interval)
            except ValueError:
                raise ReadingsError(
                    f"--interval {interval!r} is not a duration (expected e.g. 15min)"
                ) from None
            if not step.total_seconds() > 0:  # NaT (an empty --interval) gives NaN seconds
                raise ReadingsError(f"--interval {interval!r} is not a positive duration")
        return read_meter_file(path, interval=interval, tz=tz, unit=unit, kind=kind)
    except ReadingsError as err:
        _fail(str(err).splitlines()[0])
    except MemoryError:
        _fail(f"{path}: too large to read")


def _check(data, tz, skip=None):
    from wattmesh.quality.checks import CheckSettings, check_readings
    from wattmesh.quality.io import ReadingsError

    try:
        names = tuple(n.strip() for n in skip.split(",") if n.strip()) if skip else ()
        return check_readings(data, tz=tz, settings=CheckSettings(skip=names))
    except ReadingsError as err:
        _fail(str(err).splitlines()[0])


def _write(path: Path, write) -> None:
    """``write_atomic(path, write)``, a folder that cannot be written being bad input (one line, exit 2)."""
    from wattmesh.quality.report import write_atomic

    try:
        write_atomic(path, write)
    except OSError as err:
        _fail(f"{path}: cannot be written ({err.strerror or err})")


def _write_report(report_path: Path, data, flags, report, repaired=None) -> None:
    from wattmesh.quality.report import events_csv, report_html

    page = report_html(
        data.values, flags, report, title=f"Meter data quality: {data.source}", repaired=repaired
    )
    _write(report_path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    csv_path = report_path.with_suffix(".csv")
    text = events_csv(report)
    _write(csv_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _print_summary(report, source: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    counts = report.counts()
    counts = counts[counts > 0]
    summary = report.summary
    console.print(
        f"{source}: {len(summary)} meter(s), {int(summary['values'].iloc[0]) if len(summary) else 0:,} intervals of "
        f"{report.step}, completeness {summary['completeness'].mean() * 100:.2f} %"
    )
    if counts.empty:
        console.print("[green]no faults found[/green]")
    else:
        table = Table("reason", "values flagged", "meters", "faults")
        for reason, n in counts.items():
            meters = int((summary[reason] > 0).sum())
            faults = int((report.events["reason"] == reason).sum())
            table.add_row(reason, f"{int(n):,}", str(meters), str(faults))
        console.print(table)
    for note in report.notes + report.skipped:
        console.print(f"note: {note}")


def _check_output_parent(path: Path) -> None:
    if path.exists() and path.is_dir():
        _fail(f"{path}: is a directory, expected a file to write")
    if not path.parent.exists():
        _fail(f"{path.parent}: no such folder for {path.name}")


@app.command("check")
def check(
    readings: Path = typer.Argument(
        ..., help="CSV or Parquet: timestamp,meter_id,value (long) or timestamp + one column per meter."
    ),
    interval: str = _INTERVAL,
    tz: str = _TZ,
    unit: str = _UNIT,
    kind: str = _KIND,
    skip: str = _SKIP,
    report: Path = typer.Option(
        None, "--report", help="Write the HTML report here (and the faults as CSV beside it)."
    ),
) -> None:
    """Check meter readings: print what is wrong; exit 1 when any value is flagged, 2 on bad input."""
    if report is not None:
        _check_output_parent(report)
    data = _load(readings, interval, tz, unit, kind)
    flags, result = _check(data, tz, skip)
    _print_summary(result, str(readings))
    if report is not None:
        _write_report(report, data, flags, result)
        typer.echo(f"report: {report} (faults: {report.with_suffix('.csv')})")
    raise typer.Exit(EXIT_FAULTS if result.has_faults else 0)


@app.command("repair")
def repair(
    readings: Path = typer.Argument(..., help="CSV or Parquet meter readings, as for check."),
    out: Path = typer.Option(
        ..., "--out", help="Parquet file of the repaired readings (raw value, flags, estimate)."
    ),
    report: Path = typer.Option(
        None, "--report", help="Write the HTML report here (and the faults as CSV beside it)."
    ),
    interval: str = _INTERVAL,
    tz: str = _TZ,
    unit: str = _UNIT,
    kind: str = _KIND,
    max_interpolate: str = typer.Option("1h", help="Longest gap filled by linear interpolation."),
    skip: str = _SKIP,
) -> None:
    """Repair meter readings: every estimated value flagged with how it was estimated, raw values kept."""
    from wattmesh.quality.repair import repair_readings

    _check_output_parent(out)
    if report is not None:
        _check_output_parent(report)
    try:
        limit = __import__("pandas").Timedelta(max_interpolate)
    except ValueError:
        _fail(f"--max-interpolate {max_interpolate!r} is not a duration (expected e.g. 1h)")
    data = _load(readings, interval, tz, unit, kind)
    flags, result = _check(data, tz, skip)
    repaired = repair_readings(data, flags, max_interpolate=str(limit))
    table = repaired.long()
    _write(out, lambda tmp: table.to_parquet(tmp, compression="zstd", index=False))
    if report is not None:
        _write_report(report, data, flags, result, repaired.values)
    _print_summary(result, str(readings))
    counts = repaired.counts()
    typer.echo(
        f"wrote {out}: {len(table):,} rows; estimated: "
        + (", ".join(f"{k} {v:,}" for k, v in counts.items()) or "none")
    )
