"""An example input for `wattmesh maintenance scan`: system 50 with neighbours, faults, a battery, a feeder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from wattmesh.maintenance.battery import BatteryPack, simulate_history
from wattmesh.maintenance.data import SYSTEM50, load_system50
from wattmesh.maintenance.faults import inject_outage, inject_soiling, inject_string_loss, make_neighbours


def write_example(out: Path, n_neighbours: int = 4, seed: int = 3) -> None:
    """Write readings.csv (PV, weather, feeder loading), battery.csv and assets.toml into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    power, weather = load_system50()
    power = power.rename(SYSTEM50.name)
    pv, specs = make_neighbours(power, weather, SYSTEM50, n_neighbours, seed)
    pv[specs[1].name], _ = inject_string_loss(pv[specs[1].name], pd.Timestamp("2012-06-01", tz="UTC"), 0.25)
    pv[specs[2].name], _ = inject_soiling(
        pv[specs[2].name], pd.Timestamp("2012-09-01", tz="UTC"), 0.004, pd.Timestamp("2012-10-20", tz="UTC")
    )
    day = pd.Timestamp("2013-05-14", tz="UTC")
    pv[specs[3].name], _ = inject_outage(pv[specs[3].name], day, day + pd.Timedelta(hours=23, minutes=45))
    hours = pv.index.hour.to_numpy() + pv.index.minute.to_numpy() / 60.0
    feeder = 180.0 + 160.0 * np.exp(-((hours - 1.0) ** 2) / 4.0) - 5.0 * pv.sum(axis=1).to_numpy()
    readings = pd.DataFrame({f"{s.name}_kw": pv[s.name] for s in specs})
    readings["ghi"] = weather["ghi"]
    readings["ghi_clear"] = weather["ghi_clear"]
    readings["temp_air"] = weather["temp_air"]
    readings["feeder_kva"] = np.abs(feeder)
    readings.index.name = "timestamp"
    readings.round(4).to_csv(out / "readings.csv")
    pack = BatteryPack(name="home1_battery")
    battery, _ = simulate_history(pack, 540, 30, 0.5, 20.0, seed=1)
    battery[["current_a", "voltage_v"]].round(4).rename_axis("timestamp").to_csv(out / "battery.csv")
    lines = [
        "# Assets for `wattmesh maintenance scan` (see docs/maintenance.md)",
        "[site]",
        f"latitude = {SYSTEM50.latitude}",
        f"longitude = {SYSTEM50.longitude}",
        "",
        "[weather]",
        'ghi_column = "ghi"',
        'temp_air_column = "temp_air"',
        'ghi_clear_column = "ghi_clear"',
    ]
    for s in specs:
        lines += [
            "",
            "[[pv]]",
            f'name = "{s.name}"',
            f'column = "{s.name}_kw"',
            f"tilt_deg = {s.tilt_deg:.1f}",
            f"azimuth_deg = {s.azimuth_deg:.1f}",
            f"dc_kw = {s.dc_kw}",
            f"ac_kw = {s.ac_kw}",
        ]
    lines += [
        "",
        "[[battery]]",
        f'name = "{pack.name}"',
        'file = "battery.csv"',
        'current_column = "current_a"',
        'voltage_column = "voltage_v"',
        f"capacity_ah = {pack.capacity_ah}",
        f"n_series = {pack.n_series}",
        "",
        "[[transformer]]",
        'name = "feeder_transformer"',
        'load_column = "feeder_kva"',
        'ambient_column = "temp_air"',
        "rating_kva = 400",
    ]
    (out / "assets.toml").write_text("\n".join(lines) + "\n")
