"""Write this example's files: members.csv, readings.csv (a week of 15-minute readings) and network.json.

Run from the repository root: ``.venv/bin/python examples/own-community/make_example.py``. The output is
deterministic (fixed seed) and committed, so that the docs and tests use the files as a co-op would hand
them over; rerunning the script rewrites the same bytes.

Where the numbers come from:

- loads: the household profiles (H0) of SimBench's feeder 1-LV-semiurb4--2-sw (simbench, ODbL; 15-minute
  values of 2016, German standard time), 1-7 June 2016, each given its own seeded variety
  (:func:`wattmesh.community.variety.load_variety`: time shift, scale, noise); the bakery is three
  households' load moved four hours earlier;
- two members have a generation meter: the same feeder's PV profile scaled to their kWp;
- two flaws a real file has, for the quality checks to find and repair visibly: one reading of home_04
  missing (``n/a``) and one of home_07 a spike (a slipped decimal point: 100x the true value);
- the network: a 20 kV external grid, a 250 kVA transformer and a radial 0.4 kV cable of four sections
  (pandapower standard types), buses 1 (transformer LV side) to 5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
START, DAYS = pd.Timestamp("2016-06-01 00:00", tz="UTC"), 7
SEED = 2017
# member_id, kind, bus, pv_kwp, tilt, azimuth, battery_kwh, battery_kw, efficiency, ev_kw, ev_kwh_day,
# wind_kw, hub height
MEMBERS = [
    ("home_01", "household", 2, 6.0, 35, 180, 8.0, 4.0, 0.92, 0, 0, 0, ""),
    ("home_02", "household", 2, 4.5, 30, 90, 0, 0, "", 0, 0, 0, ""),
    ("home_03", "household", 3, 5.0, 30, 270, 0, 0, "", 11.0, 10.0, 0, ""),
    ("home_04", "household", 3, 0, "", "", 0, 0, "", 0, 0, 0, ""),
    ("home_05", "household", 4, 0, "", "", 0, 0, "", 7.4, 6.0, 0, ""),
    ("home_06", "household", 4, 8.0, 20, 180, 10.0, 5.0, 0.9, 0, 0, 0, ""),
    ("home_07", "household", 5, 0, "", "", 0, 0, "", 0, 0, 0, ""),
    ("home_08", "household", 5, 3.0, 30, 200, 0, 0, "", 0, 0, 5.0, 18),
    ("bakery", "business", 2, 15.0, 10, 180, 0, 0, "", 0, 0, 0, ""),
    ("coop_battery", "community", 1, 0, "", "", 40.0, 20.0, 0.9, 0, 0, 0, ""),
]
COLUMNS = (
    "member_id,kind,bus,pv_kwp,pv_tilt_deg,pv_azimuth_deg,battery_kwh,battery_kw,battery_efficiency,"
    "ev_charger_kw,ev_kwh_per_day,wind_kw,wind_hub_height_m"
)
METERED_PV = ("home_01", "bakery")
MISSING = ("home_04", pd.Timestamp("2016-06-03 11:15", tz="UTC"))
SPIKE = ("home_07", pd.Timestamp("2016-06-05 19:30", tz="UTC"))


def members_csv() -> str:
    lines = [
        "# The example co-op of docs/own-community.md: nine members and the co-op's battery.",
        "# Empty cells take the column's default (docs/own-community.md lists the columns).",
        COLUMNS,
    ]
    lines += [",".join(str(v) for v in row) for row in MEMBERS]
    return "\n".join(lines) + "\n"


def readings_csv() -> str:
    from wattmesh.community.measured import simbench_series
    from wattmesh.community.variety import load_variety

    load_kwh, pv_kwh = simbench_series("1-LV-semiurb4--2-sw")
    span = (load_kwh.index >= START) & (load_kwh.index < START + pd.Timedelta(days=DAYS))
    # A day before and after, so that the time shifts of the variety roll in real neighbouring values.
    pad = 96
    rows = np.flatnonzero(span)
    window = slice(rows[0] - pad, rows[-1] + 1 + pad)
    rng = np.random.default_rng(SEED)
    homes = [m[0] for m in MEMBERS if m[1] == "household"]
    picks = rng.choice(load_kwh.shape[1], size=len(homes) + 3, replace=False)
    base = load_kwh.iloc[window, picks].to_numpy()
    varied = load_variety(base, shift_max_intervals=4, scale_sigma=0.25, noise_sigma=0.1, rng=rng)
    index = load_kwh.index[window][pad:-pad]
    loads = {home: varied[pad:-pad, i] for i, home in enumerate(homes)}
    bakery = varied[:, len(homes) :].sum(axis=1)
    loads["bakery"] = np.roll(bakery, -16)[pad:-pad]
    pv_per_kwp = pv_kwh.iloc[window].sum(axis=1).to_numpy()[pad:-pad]
    pv_per_kwp = pv_per_kwp / max(pv_per_kwp.max(), 1e-9) * 0.25 * 0.75  # peak 0.75 kW per kWp
    kwp = {m[0]: m[3] for m in MEMBERS}
    frames = []
    for member, values in loads.items():
        frames.append(
            pd.DataFrame({"timestamp": index, "meter_id": member, "kind": "consumption", "value": values})
        )
    for member in METERED_PV:
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": index,
                    "meter_id": f"{member}:generation",
                    "kind": "generation",
                    "value": pv_per_kwp * kwp[member],
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    table["value"] = table["value"].round(4).map(lambda v: f"{v:.4f}")
    for (meter, time), change in ((MISSING, "n/a"), (SPIKE, "x100")):
        row = (table["meter_id"] == meter) & (table["timestamp"] == time)
        assert row.sum() == 1, (meter, time)
        table.loc[row, "value"] = (
            "n/a" if change == "n/a" else f"{float(table.loc[row, 'value'].iloc[0]) * 100:.4f}"
        )
    table["timestamp"] = pd.DatetimeIndex(table["timestamp"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    return table.to_csv(index=False, lineterminator="\n")


def network_json() -> str:
    import pandapower as pp

    net = pp.create_empty_network(name="own-community example feeder")
    mv = pp.create_bus(net, vn_kv=20.0, name="MV", index=0)
    lv = [pp.create_bus(net, vn_kv=0.4, name=f"LV {i}", index=i) for i in range(1, 6)]
    pp.create_ext_grid(net, mv, vm_pu=1.0)
    pp.create_transformer(net, mv, lv[0], std_type="0.25 MVA 20/0.4 kV")
    for a, b in zip(lv[:-1], lv[1:], strict=True):
        pp.create_line(net, a, b, length_km=0.08, std_type="NAYY 4x150 SE")
    return pp.to_json(net)


def main() -> None:
    (HERE / "members.csv").write_text(members_csv(), encoding="utf-8")
    (HERE / "readings.csv").write_text(readings_csv(), encoding="utf-8")
    (HERE / "network.json").write_text(network_json(), encoding="utf-8")
    for name in ("members.csv", "readings.csv", "network.json"):
        print(f"wrote {HERE / name} ({(HERE / name).stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
