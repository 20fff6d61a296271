"""Battery health: state of health by rest-to-rest charge counting, resistance from current steps, life left.

Measured battery data is not available to the project, so the benchmark and tests drive these estimators
with curves simulated from a published empirical ageing model (`ageing_schmalstieg`, NMC/graphite cells)
and an equivalent circuit (open-circuit voltage, series resistance, one RC pair) with sensor noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wattmesh.maintenance.pv import MaintenanceInputError

# Open-circuit voltage of one NMC/graphite cell [V] against state of charge [-]: the shape of the Sanyo
# UR18650E curve (Ecker et al. 2014, Fig. 1 of Schmalstieg et al. 2014), read at 10 % steps.
OCV_SOC = np.linspace(0.0, 1.0, 11)
OCV_V = np.array([3.33, 3.49, 3.575, 3.62, 3.65, 3.70, 3.78, 3.866, 3.953, 4.052, 4.162])
CELL_AH = 2.15  # capacity of the aged cell type [Ah], to turn pack throughput into cell throughput


def ocv_v(soc: np.ndarray) -> np.ndarray:
    """Cell open-circuit voltage [V] at state of charge ``soc`` [-] (table interpolation)."""
    return np.interp(soc, OCV_SOC, OCV_V)


def soc_from_ocv(voltage_v: np.ndarray) -> np.ndarray:
    """State of charge [-] of a relaxed cell at open-circuit voltage ``voltage_v`` [V] (inverse table)."""
    return np.interp(voltage_v, OCV_V, OCV_SOC)


def ageing_schmalstieg(
    time_days: np.ndarray, throughput_ah_cell: np.ndarray, mean_soc: float, dod: float, temp_c: float
) -> tuple[np.ndarray, np.ndarray]:
    """Relative capacity and resistance of NMC/graphite cells after calendar time and charge throughput.

    Parameters
    ----------
    time_days : numpy.ndarray
        Age [days].
    throughput_ah_cell : numpy.ndarray
        Cumulative charge throughput per cell [Ah] (charge plus discharge).
    mean_soc : float
        Time-averaged state of charge [-] (sets the calendar stress through the open-circuit voltage).
    dod : float
        Depth of the daily cycle [-].
    temp_c : float
        Cell temperature [C].

    Returns
    -------
    capacity_rel, resistance_rel : numpy.ndarray
        Capacity and DC resistance relative to new [-].

    Notes
    -----
    Schmalstieg's holistic model for constant stress:
    ``C = 1 - a_cap t^0.75 - b_cap sqrt(Q)``, ``R = 1 + a_res t^0.75 + b_res Q`` with
    ``a_cap = (7.543 V - 23.75) 1e6 exp(-6976 / T)``, ``b_cap = 7.348e-3 (V_rms - 3.667)^2 + 7.6e-4 +
    4.081e-3 DOD``, ``a_res = (5.270 V - 16.32) 1e5 exp(-5986 / T)``, ``b_res = 2.153e-4 (V_rms - 3.725)^2
    - 1.521e-5 + 2.798e-4 DOD``; t in days, Q in Ah per cell, T in K, V the open-circuit voltage at the mean
    state of charge (also used for the cycle's quadratic-mean voltage here).

    References
    ----------
    Schmalstieg, J., Kaebitz, S., Ecker, M., Sauer, D. U. (2014), "A holistic aging model for Li(NiMnCo)O2
    based 18650 lithium-ion batteries", J. Power Sources 257, 325-334, doi:10.1016/j.jpowsour.2014.02.012.
    """
    t_k = temp_c + 273.15
    v = float(ocv_v(np.array([mean_soc]))[0])
    a_cap = (7.543 * v - 23.75) * 1e6 * np.exp(-6976.0 / t_k)
    b_cap = 7.348e-3 * (v - 3.667) ** 2 + 7.6e-4 + 4.081e-3 * dod
    a_res = (5.270 * v - 16.32) * 1e5 * np.exp(-5986.0 / t_k)
    b_res = 2.153e-4 * (v - 3.725) ** 2 - 1.521e-5 + 2.798e-4 * dod
    t = np.asarray(time_days, dtype=float)
    q = np.asarray(throughput_ah_cell, dtype=float)
    capacity_rel = 1.0 - a_cap * t**0.75 - b_cap * np.sqrt(q)
    resistance_rel = 1.0 + a_res * t**0.75 + b_res * q
    return capacity_rel, resistance_rel


@dataclass(frozen=True)
class BatteryPack:
    """A simulated home battery (series string of NMC cells).

    Attributes
    ----------
    name : str
        Asset id.
    capacity_ah : float
        Nominal pack capacity when new [Ah].
    n_series : int
        Cells in series [-].
    r0_ohm, r1_ohm : float
        Pack series resistance and RC-pair resistance when new [ohm].
    tau_s : float
        RC-pair time constant [s].
    """

    name: str = "battery"
    capacity_ah: float = 200.0
    n_series: int = 14
    r0_ohm: float = 0.030
    r1_ohm: float = 0.015
    tau_s: float = 300.0


def simulate_day(
    pack: BatteryPack,
    capacity_ah: float,
    resistance_rel: float,
    soc_start: float,
    dod: float,
    rng: np.random.Generator,
    rest: bool = True,
    step_s: float = 60.0,
) -> pd.DataFrame:
    """One day of measured current and voltage of a home battery, 1-min samples.

    Night rest until 09:00, PV charging (~0.2 C) until the state of charge rose by ``dod``, an afternoon
    rest, evening discharge back to ``soc_start``, then rest. With ``rest`` False the battery never
    idles (a small standby load flows all day). Current sensor: 0.2 A noise and a 0.05 A offset; voltage
    sensor: 2 mV per cell noise.

    Returns
    -------
    pandas.DataFrame
        Columns ``current_a`` (+ = charging) [A], ``voltage_v`` [V], ``soc_true`` [-], index seconds of day.
    """
    n = int(86400 / step_s)
    t = np.arange(n) * step_s
    hours = t / 3600.0
    current = np.zeros(n)
    c_rate = float(rng.uniform(0.15, 0.3))
    charge_h = dod / c_rate
    start_charge = 9.0 + float(rng.uniform(0, 1))
    current[(hours >= start_charge) & (hours < start_charge + charge_h)] = c_rate * capacity_ah
    d_rate = float(rng.uniform(0.15, 0.3))
    start_dis = max(17.0 + float(rng.uniform(0, 1)), start_charge + charge_h + 1.0)
    dis_h = dod / d_rate
    current[(hours >= start_dis) & (hours < start_dis + dis_h)] = -d_rate * capacity_ah
    if not rest:
        current += -0.02 * capacity_ah + 0.01 * capacity_ah * np.sin(hours)
    # Jitter: PV and household load make the current wander (+-5 %).
    current *= 1.0 + 0.05 * rng.standard_normal(n)
    soc = soc_start + np.concatenate([[0.0], np.cumsum(current[:-1]) * step_s / 3600.0 / capacity_ah])
    soc = np.clip(soc, 0.0, 1.0)
    decay = np.exp(-step_s / pack.tau_s)
    r1 = pack.r1_ohm * resistance_rel
    v_rc = np.zeros(n)
    for k in range(1, n):  # the RC pair's state; 1,440 steps per simulated day
        v_rc[k] = v_rc[k - 1] * decay + current[k] * r1 * (1.0 - decay)
    voltage = pack.n_series * ocv_v(soc) + current * pack.r0_ohm * resistance_rel + v_rc
    voltage += 0.002 * pack.n_series * rng.standard_normal(n)
    measured_current = current + 0.05 + 0.2 * rng.standard_normal(n)
    return pd.DataFrame({"current_a": measured_current, "voltage_v": voltage, "soc_true": soc}, index=t)


@dataclass
class BatteryHealthResult:
    """State of health, resistance and remaining life of one battery.

    Attributes
    ----------
    asset : str
        Battery id.
    soh_pct : pandas.Series
        State-of-health estimates [%] (usable capacity over nominal), one per rest-to-rest pair, indexed by
        the time of the second rest.
    soh_latest_pct : float
        Median of the last estimates (the latest 30 days) [%].
    resistance_ohm : pandas.Series
        DC resistance estimates from current steps [ohm] (1-sample steps: series resistance plus the part
        of the RC pair that responds within one sample).
    resistance_growth_pct : float
        Latest median resistance over the first 30 days' median, minus one [%].
    rul_days_low, rul_days_high : float
        Remaining useful life until ``eol_soh_pct`` as a range [days]; NaN when not computed.
    eol_soh_pct : float
        End-of-life threshold [%].
    notes : list of str
        What was not computed and why.
    """

    asset: str
    soh_pct: pd.Series
    soh_latest_pct: float
    resistance_ohm: pd.Series
    resistance_growth_pct: float
    rul_days_low: float
    rul_days_high: float
    eol_soh_pct: float
    notes: list[str] = field(default_factory=list)


def rest_periods(
    current_a: np.ndarray, capacity_ah: float, step_s: float, min_rest_s: float = 1800.0
) -> list[int]:
    """Index of the last sample of each rest (|current| below 1 % of C for ``min_rest_s`` or longer)."""
    idle = np.abs(current_a) < 0.01 * capacity_ah
    padded = np.concatenate([[False], idle, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    need = int(np.ceil(min_rest_s / step_s))
    return [int(b) - 1 for a, b in zip(edges[::2], edges[1::2], strict=False) if b - a >= need]


def assess_battery(
    time: pd.DatetimeIndex,
    current_a: np.ndarray,
    voltage_v: np.ndarray,
    nominal_capacity_ah: float,
    n_series: int,
    asset: str = "battery",
    eol_soh_pct: float = 80.0,
    min_delta_soc: float = 0.3,
) -> BatteryHealthResult:
    """State of health from rest-to-rest charge counting, resistance from current steps, life left as a range.

    The current sensor's offset is taken as the median current during rests and removed before counting.
    Between two rests the relaxed voltage gives the state of charge at both ends (open-circuit voltage
    table); the counted charge over the change of state of charge is the usable capacity. Pairs whose state
    of charge moved less than ``min_delta_soc`` are skipped (the voltage error would dominate).

    Parameters
    ----------
    time : pandas.DatetimeIndex
        Sample times (regular steps within each record; gaps between records allowed).
    current_a : numpy.ndarray
        Pack current [A], positive when charging.
    voltage_v : numpy.ndarray
        Pack voltage [V].
    nominal_capacity_ah : float
        Capacity when new [Ah].
    n_series : int
        Cells in series [-] (pack voltage / n_series is a cell voltage).
    asset : str
        Battery id.
    eol_soh_pct : float
        End of life [%].
    min_delta_soc : float
        Smallest state-of-charge swing used for an estimate [-].

    Returns
    -------
    BatteryHealthResult

    Raises
    ------
    MaintenanceInputError
        No rest periods (state of health and life not computed), or no valid rest-to-rest pair.
    """
    if not nominal_capacity_ah > 0:
        raise MaintenanceInputError(
            f"battery '{asset}': nominal_capacity_ah {nominal_capacity_ah} must be above 0"
        )
    current_a = np.asarray(current_a, dtype=float)
    voltage_v = np.asarray(voltage_v, dtype=float)
    seconds = (time.asi8 - time.asi8[0]) / 1e9
    dt = np.diff(seconds, append=seconds[-1])
    step_s = float(np.median(np.diff(seconds)))
    dt = np.where(dt > 1.5 * step_s, 0.0, dt)  # do not count charge across a gap between records
    rests = rest_periods(current_a, nominal_capacity_ah, step_s)
    if len(rests) < 2:
        raise MaintenanceInputError(
            f"battery '{asset}': {len(rests)} rest period(s) (|current| < 1 % of C for >= 30 min) in the "
            "readings, at least 2 needed; state of health and remaining life not computed"
        )
    # Current-sensor offset: at rest the true current is zero, so the median reading there is the offset.
    idle = np.abs(current_a) < 0.01 * nominal_capacity_ah
    offset_a = float(np.median(current_a[idle]))
    corrected = current_a - offset_a
    charge_ah = np.concatenate([[0.0], np.cumsum(corrected[:-1] * dt[:-1])]) / 3600.0
    # The relaxed voltage: mean of the rest's last 10 samples (all inside the rest, which lasts >= 30).
    tail = np.array(rests)[:, None] - np.arange(10)[None, :]
    soc_rest = soc_from_ocv(voltage_v[tail].mean(axis=1) / n_series)
    times, soh = [], []
    for a, b, sa, sb in zip(rests[:-1], rests[1:], soc_rest[:-1], soc_rest[1:], strict=False):
        gap = np.any(dt[a:b] == 0.0)
        if gap or abs(sb - sa) < min_delta_soc:
            continue
        capacity = (charge_ah[b] - charge_ah[a]) / (sb - sa)
        times.append(time[b])
        soh.append(100.0 * capacity / nominal_capacity_ah)
    notes: list[str] = []
    if not soh:
        raise MaintenanceInputError(
            f"battery '{asset}': no rest-to-rest pair with a state-of-charge swing >= {min_delta_soc:.0%}; "
            "state of health and remaining life not computed"
        )
    soh_pct = pd.Series(soh, index=pd.DatetimeIndex(times), name="soh_pct")
    latest = soh_pct[soh_pct.index >= soh_pct.index[-1] - pd.Timedelta(days=30)]

    # Resistance from current steps: a jump of at least 10 % of C between two samples.
    di = np.diff(current_a)
    dv = np.diff(voltage_v)
    steps = np.flatnonzero((np.abs(di) > 0.1 * nominal_capacity_ah) & (dt[:-1] > 0))
    resistance = pd.Series(dv[steps] / di[steps], index=time[steps + 1], name="resistance_ohm")
    if resistance.empty:
        growth = np.nan
        notes.append(f"battery '{asset}': no current step >= 10 % of C; resistance not computed")
    else:
        first = resistance[resistance.index <= resistance.index[0] + pd.Timedelta(days=30)].median()
        last = resistance[resistance.index >= resistance.index[-1] - pd.Timedelta(days=30)].median()
        growth = 100.0 * (last / first - 1.0)
    low, high = remaining_life_days(soh_pct, eol_soh_pct)
    if np.isnan(low):
        notes.append(
            f"battery '{asset}': remaining useful life not computed (needs estimates spanning >= 90 days "
            "with a measurable fade)"
        )
    return BatteryHealthResult(
        asset, soh_pct, float(latest.median()), resistance, float(growth), low, high, eol_soh_pct, notes
    )


def remaining_life_days(soh_pct: pd.Series, eol_soh_pct: float = 80.0) -> tuple[float, float]:
    """Days until the state of health reaches ``eol_soh_pct``, as a (low, high) range.

    Fits ``SoH = SoH0 - a t^b`` by least squares for b = 0.5, 0.75 and 1 (square-root fade of cycling,
    the calendar law's 0.75, linear), each with ``a`` +- 2 standard errors; the range spans all of them.
    NaN when the estimates span less than 90 days or show no fade.
    """
    t = (soh_pct.index - soh_pct.index[0]).total_seconds().to_numpy() / 86400.0
    y = soh_pct.to_numpy()
    if t[-1] < 90 or len(y) < 5:
        return np.nan, np.nan
    now = t[-1]
    ends = []
    for b in (0.5, 0.75, 1.0):
        x = np.column_stack([np.ones_like(t), -(t**b)])
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid = y - x @ coef
        cov = np.linalg.inv(x.T @ x) * resid.var(ddof=2)
        se = float(np.sqrt(cov[1, 1]))
        for a in (coef[1] - 2 * se, coef[1] + 2 * se):
            if a <= 0:
                ends.append(np.inf)
                continue
            t_eol = ((coef[0] - eol_soh_pct) / a) ** (1.0 / b)
            ends.append(max(t_eol - now, 0.0))
    ends = np.array(ends)
    if np.all(np.isinf(ends)):
        return np.nan, np.nan
    return float(np.min(ends)), float(np.max(ends))


def simulate_history(
    pack: BatteryPack,
    days: int,
    check_every_days: int,
    dod: float,
    temp_c: float,
    seed: int,
    fade_events: list[tuple[float, float]] | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Measured days of an ageing battery: one simulated day every ``check_every_days``.

    The battery cycles once a day by ``dod`` around a mean state of charge of 0.5; capacity and resistance
    follow `ageing_schmalstieg` (plus optional sudden fades ``(day, fraction)``, e.g. a failed cell).

    Returns
    -------
    readings : pandas.DataFrame
        ``current_a``, ``voltage_v``, ``soc_true`` on a UTC index (one record per simulated day).
    soh_true_pct : pandas.Series
        True state of health on each simulated day [%].
    """
    rng = np.random.default_rng(seed)
    check_days = np.arange(0, days, check_every_days)
    throughput = check_days * 2.0 * dod * CELL_AH  # per cell, one charge and one discharge per day
    cap_rel, res_rel = ageing_schmalstieg(check_days, throughput, 0.5, dod, temp_c)
    for day, fraction in fade_events or []:
        cap_rel = np.where(check_days >= day, cap_rel * (1.0 - fraction), cap_rel)
    frames = []
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    for d, c, r in zip(check_days, cap_rel, res_rel, strict=False):
        day = simulate_day(pack, pack.capacity_ah * c, r, 0.5 - dod / 2, dod, rng)
        day.index = t0 + pd.Timedelta(days=int(d)) + pd.to_timedelta(day.index, unit="s")
        frames.append(day)
    soh_true = pd.Series(
        100.0 * cap_rel, index=t0 + pd.to_timedelta(check_days, unit="D"), name="soh_true_pct"
    )
    return pd.concat(frames), soh_true


def benchmark_soh_errors(n_batteries: int = 6, days: int = 3 * 365) -> dict[str, float]:
    """State-of-health error of `assess_battery` on simulated batteries, in percentage points."""
    rng = np.random.default_rng(11)
    errors = []
    for k in range(n_batteries):
        pack = BatteryPack(name=f"b{k}", capacity_ah=float(rng.uniform(100, 300)))
        fade = [(400.0, 0.08)] if k == 0 else None
        readings, truth = simulate_history(
            pack,
            days,
            30,
            float(rng.uniform(0.5, 0.85)),
            float(rng.uniform(15, 35)),
            seed=k,
            fade_events=fade,
        )
        res = assess_battery(
            pd.DatetimeIndex(readings.index),
            readings["current_a"].to_numpy(),
            readings["voltage_v"].to_numpy(),
            pack.capacity_ah,
            pack.n_series,
            pack.name,
        )
        true_at = truth.reindex(res.soh_pct.index.floor("D"))
        errors.append(res.soh_pct.to_numpy() - true_at.to_numpy())
    err = np.abs(np.concatenate(errors))
    return {
        "n": int(err.size),
        "batteries": n_batteries,
        "max_abs_error_points": float(np.max(err)),
        "median_abs_error_points": float(np.median(err)),
    }
