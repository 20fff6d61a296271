"""PV health: expected-vs-actual performance, neighbour comparison, outages, control chart and fault episodes.

Arrays at the edge are pandas frames shaped (intervals, systems) on a regular UTC index; one column per PV
system, named by its asset id. Missing readings (NaN) are a communication loss: they are never read as zero
output, never count as lost energy, and a day with too few readings gets no performance index at all.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pvlib

from wattmesh.maintenance.data import PVSystemSpec

FAULT_TYPES = ("outage", "string_loss", "soiling", "shading", "degradation")


class MaintenanceInputError(ValueError):
    """Input that cannot give a trustworthy figure; the message names what is missing and what was skipped."""


@dataclass(frozen=True)
class PVDetectionConfig:
    """Thresholds of the PV detector (defaults used by the benchmark).

    Attributes
    ----------
    daylight_fraction : float
        An interval counts as daylight when expected power exceeds this fraction of the DC size [-].
    outage_expected_fraction : float
        Outage rule: expected power above this fraction of the DC size [-] (alone; with neighbours
        ``outage_expected_fraction_neighbours``, as long as the neighbours' median measured/expected ratio in
        the same intervals is above ``outage_neighbour_ratio``) ...
    outage_measured_ratio : float
        ... and measured below this fraction of expected [-] ...
    outage_min_intervals : int
        ... for at least this many intervals of one day [-].
    min_coverage : float
        A day gets a performance index only if readings cover this share of its expected energy [-].
    low_light_ratio : float
        Low-light filter: days whose expected energy is below this share of the clear-sky energy are skipped.
    snow_temp_c : float
        Snow filter (single-system mode): days with air temperature below this in the past 72 h and a
        performance index below ``snow_pi_ratio`` of the reference are skipped [C].
    snow_pi_ratio : float
        See ``snow_temp_c``; with neighbours, days whose neighbour median is below this are skipped [-].
    reference_days : int
        Number of first eligible days taken as the healthy reference [days].
    cusum_k, cusum_h : float
        Lower one-sided CUSUM slack and decision limit, in reference standard deviations [-].
    cusum_z_max : float
        Cap on one day's standardised shortfall before the slack is taken off [-].
    cusum_cap : float
        The CUSUM statistic is capped at ``cusum_cap * cusum_h`` so that an episode closes soon after repair.
    min_sigma : float
        Floor on the reference standard deviation of the daily index [-].
    degradation_min_days : int
        Year-on-year degradation is computed only when the eligible days span at least this long [days].
    """

    daylight_fraction: float = 0.05
    outage_expected_fraction: float = 0.10
    outage_expected_fraction_neighbours: float = 0.05
    outage_neighbour_ratio: float = 0.25
    outage_measured_ratio: float = 0.05
    outage_min_intervals: int = 4
    min_coverage: float = 0.8
    low_light_ratio: float = 0.35
    snow_temp_c: float = 2.0
    snow_pi_ratio: float = 0.6
    reference_days: int = 60
    cusum_k: float = 1.0
    cusum_h: float = 5.0
    cusum_z_max: float = 4.0
    cusum_cap: float = 2.0
    min_sigma: float = 0.025
    degradation_min_days: int = 730


@dataclass(frozen=True)
class PVAlarm:
    """One alarm episode of one PV system.

    Attributes
    ----------
    asset : str
        PV system id.
    fault_type : str
        One of ``outage``, ``string_loss``, ``soiling``, ``shading``, ``degradation``.
    start : pandas.Timestamp
        First day of the episode (estimated onset; UTC day).
    detected : pandas.Timestamp
        Day the alarm was raised (UTC day).
    end : pandas.Timestamp
        Last day of the episode (UTC day).
    lost_kwh : float
        Energy lost over the episode [kWh] (expected from the reference and the neighbours, minus measured;
        intervals without readings are not counted).
    lost_kwh_per_day : float
        ``lost_kwh`` divided by the episode's days with a loss estimate [kWh/day].
    performance_drop : float
        Mean shortfall of the daily index against the reference over the episode [-] (0.2 = 20 % low).
    """

    asset: str
    fault_type: str
    start: pd.Timestamp
    detected: pd.Timestamp
    end: pd.Timestamp
    lost_kwh: float
    lost_kwh_per_day: float
    performance_drop: float


@dataclass(frozen=True)
class DegradationResult:
    """Year-on-year degradation rate of one system (rdtools), or why it was not computed.

    Attributes
    ----------
    asset : str
        PV system id.
    computed : bool
        False when the data are too short or too sparse; then the rate fields are NaN.
    rate_pct_per_year : float
        Median year-on-year rate [%/yr] (negative = losing output), over the days outside alarm episodes
        that pass the filters.
    ci_low_pct_per_year, ci_high_pct_per_year : float
        68.2 % confidence interval of the rate [%/yr] (rdtools' bootstrap).
    reason : str
        Why it was not computed (empty when computed).
    """

    asset: str
    computed: bool
    rate_pct_per_year: float
    ci_low_pct_per_year: float
    ci_high_pct_per_year: float
    reason: str = ""


@dataclass
class PVHealthResult:
    """Everything `assess_pv` found, per system.

    Attributes
    ----------
    assets : list of str
        System ids, the column order of every frame below.
    expected_kw : pandas.DataFrame
        Modelled AC power (intervals, systems) [kW] from weather, declared orientation and size.
    daily_expected_kwh, daily_measured_kwh : pandas.DataFrame
        Daylight energy (days, systems) [kWh] over intervals with readings.
    performance_index : pandas.DataFrame
        Measured / expected energy per day (days, systems) [-]; NaN where not computed.
    relative_index : pandas.DataFrame
        Performance index over its reference and, with neighbours, over the neighbours' median (days,
        systems) [-]; 1 = as healthy; NaN on days the chart skips.
    day_status : pandas.DataFrame
        Per day and system: ``ok``, ``comm_loss`` (too few readings), ``low_light``, ``snow``, ``outage``,
        ``night`` (no expected energy) or ``reference`` [-].
    cusum : pandas.DataFrame
        Lower CUSUM statistic (days, systems) [-].
    lost_kwh : pandas.DataFrame
        Estimated energy lost per day (days, systems) [kWh], 0 outside alarm days, NaN if not computable.
    alarms : list of PVAlarm
        Alarm episodes, with fault type and lost energy.
    degradation : list of DegradationResult
        One per system.
    morning_afternoon_ratio : pandas.Series
        Per system, median over the reference days of the morning index over the afternoon index [-]; near
        1 when the declared orientation matches the measurements (an azimuth error tilts it).
    used_neighbours : bool
        Whether the neighbour comparison was used (needs at least 3 systems).
    notes : list of str
        What was not computed and why.
    """

    assets: list[str]
    expected_kw: pd.DataFrame
    daily_expected_kwh: pd.DataFrame
    daily_measured_kwh: pd.DataFrame
    performance_index: pd.DataFrame
    relative_index: pd.DataFrame
    day_status: pd.DataFrame
    cusum: pd.DataFrame
    lost_kwh: pd.DataFrame
    alarms: list[PVAlarm]
    degradation: list[DegradationResult]
    morning_afternoon_ratio: pd.Series
    used_neighbours: bool
    notes: list[str] = field(default_factory=list)


def validate_specs(specs: list[PVSystemSpec]) -> None:
    """Raise `MaintenanceInputError` naming the system and field of an impossible declaration."""
    for s in specs:
        if not 0.0 <= s.tilt_deg <= 90.0:
            raise MaintenanceInputError(f"PV system '{s.name}': tilt_deg {s.tilt_deg} is outside 0..90")
        if not 0.0 <= s.azimuth_deg <= 360.0:
            raise MaintenanceInputError(
                f"PV system '{s.name}': azimuth_deg {s.azimuth_deg} is outside 0..360"
            )
        if not s.dc_kw > 0 or not s.ac_kw > 0:
            raise MaintenanceInputError(
                f"PV system '{s.name}': dc_kw {s.dc_kw} / ac_kw {s.ac_kw} must both be above 0"
            )
        if not -90.0 <= s.latitude <= 90.0 or not -180.0 <= s.longitude <= 180.0:
            raise MaintenanceInputError(
                f"PV system '{s.name}': latitude/longitude {s.latitude}/{s.longitude} is not a place"
            )


def expected_ac_power_kw(
    specs: list[PVSystemSpec], weather: pd.DataFrame, ghi_column: str = "ghi"
) -> pd.DataFrame:
    """Model each system's AC power from weather and its declared orientation and size (pvlib).

    GHI is split into beam and diffuse with Erbs, transposed to the plane of array with Hay-Davies, the cell
    temperature follows SAPM (open rack, glass/polymer, 1 m/s wind), DC power is PVWatts with the declared
    temperature coefficient, AC power PVWatts' inverter limited to ``ac_kw``.

    Parameters
    ----------
    specs : list of PVSystemSpec
        Declared systems (the frame's columns, in this order).
    weather : pandas.DataFrame
        UTC-indexed, columns ``ghi`` (or ``ghi_column``) [W/m2] and ``temp_air`` [C].
    ghi_column : str
        Which GHI column to use (``ghi_clear`` gives the clear-sky expectation).

    Returns
    -------
    pandas.DataFrame
        Expected AC power (intervals, systems) [kW].
    """
    validate_specs(specs)
    for column in (ghi_column, "temp_air"):
        if column not in weather:
            raise MaintenanceInputError(f"weather: column '{column}' is missing; expected power not computed")
    index = pd.DatetimeIndex(weather.index)
    ghi = weather[ghi_column].to_numpy(dtype=float)
    temp_air = weather["temp_air"].to_numpy(dtype=float)
    out = np.zeros((len(index), len(specs)))
    dni_extra = pvlib.irradiance.get_extra_radiation(index).to_numpy()
    sites = sorted({(s.latitude, s.longitude) for s in specs})
    for latitude, longitude in sites:  # one solar position per site; homes on one feeder share it
        cols = [j for j, s in enumerate(specs) if (s.latitude, s.longitude) == (latitude, longitude)]
        solpos = pvlib.solarposition.get_solarposition(index, latitude, longitude)
        zenith = solpos["apparent_zenith"].to_numpy()
        sun_azimuth = solpos["azimuth"].to_numpy()
        split = pvlib.irradiance.erbs(ghi, zenith, index)
        dni = np.nan_to_num(np.asarray(split["dni"], dtype=float))
        dhi = np.nan_to_num(np.asarray(split["dhi"], dtype=float))
        tilt = np.array([specs[j].tilt_deg for j in cols])[None, :]
        azim = np.array([specs[j].azimuth_deg for j in cols])[None, :]
        poa = pvlib.irradiance.get_total_irradiance(
            tilt,
            azim,
            zenith[:, None],
            sun_azimuth[:, None],
            dni[:, None],
            ghi[:, None],
            dhi[:, None],
            dni_extra=dni_extra[:, None],
            model="haydavies",
        )["poa_global"]
        poa = np.nan_to_num(np.asarray(poa, dtype=float), nan=0.0).clip(0.0, None)
        params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"]
        temp_cell = pvlib.temperature.sapm_cell(poa, temp_air[:, None], 1.0, **params)
        dc_kw = np.array([specs[j].dc_kw for j in cols])[None, :]
        gamma = np.array([specs[j].gamma_pdc_per_c for j in cols])[None, :]
        pdc_kw = pvlib.pvsystem.pvwatts_dc(poa, temp_cell, dc_kw, gamma)
        ac_kw = np.array([specs[j].ac_kw for j in cols])[None, :]
        pac_kw = pvlib.inverter.pvwatts(pdc_kw, ac_kw / 0.96)
        out[:, cols] = np.clip(np.nan_to_num(pac_kw), 0.0, ac_kw)
    return pd.DataFrame(out, index=index, columns=[s.name for s in specs])


def _loo_median(values: np.ndarray) -> np.ndarray:
    """Leave-one-out NaN-median across columns: entry (d, i) is the median of row d without column i."""
    n = values.shape[1]
    cube = np.repeat(values[:, None, :], n, axis=1)
    cube[:, np.arange(n), np.arange(n)] = np.nan
    with warnings.catch_warnings():  # all-NaN rows (no neighbour that day) give NaN, as intended
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(cube, axis=2)


def _first_n_median(values: np.ndarray, eligible: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column: median and robust sigma of the first ``n`` eligible rows, and the reference mask."""
    rank = np.cumsum(eligible, axis=0)
    ref_mask = eligible & (rank <= n)
    ref_vals = np.where(ref_mask, values, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(ref_vals, axis=0)
        mad = np.nanmedian(np.abs(ref_vals - median[None, :]), axis=0)
    return median, 1.4826 * mad, ref_mask


def _lower_cusum(
    x: np.ndarray, eligible: np.ndarray, sigma: np.ndarray, cfg: PVDetectionConfig
) -> np.ndarray:
    """Lower one-sided CUSUM of (1 - x) / sigma, frozen on ineligible days, capped at cap * h."""
    s = np.zeros(x.shape)
    state = np.zeros(x.shape[1])
    cap = cfg.cusum_cap * cfg.cusum_h
    # One odd day adds at most z_max, so a single bad day cannot raise an alarm on its own.
    z = np.minimum((1.0 - x) / sigma[None, :], cfg.cusum_z_max) - cfg.cusum_k
    for d in range(x.shape[0]):  # a loop over days, vectorised over systems
        step = np.clip(state + z[d], 0.0, cap)
        state = np.where(eligible[d], step, state)
        s[d] = state
    return s


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True in a 1-D boolean array."""
    padded = np.concatenate([[False], mask, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=False)]


def _episodes(stat: np.ndarray, eligible: np.ndarray, h: float) -> list[tuple[int, int, int]]:
    """(onset, detection, last) day of each run of positive CUSUM that crosses ``h``.

    Runs are bridged over skipped days (the statistic is frozen there); the episode ends on the last day
    above ``h``.
    """
    positive = pd.Series(np.where(eligible, stat > 0.0, np.nan)).ffill().fillna(0).to_numpy().astype(bool)
    out = []
    for onset, last in _runs(positive):
        crossed = np.flatnonzero(stat[onset : last + 1] > h)
        if crossed.size:
            out.append((onset, onset + int(crossed[0]), onset + int(crossed[-1])))
    return out


def _classify(
    x: np.ndarray,
    ratio_am: np.ndarray,
    ratio_pm: np.ndarray,
    ref_am: float,
    ref_pm: float,
    start: int,
    end: int,
) -> str:
    """Fault type of a non-outage episode from the daily index's shape and the morning/afternoon split."""
    seg = x[start : end + 1]
    days = np.flatnonzero(~np.isnan(seg))
    if days.size < 2:
        return "string_loss"
    vals = seg[days]
    drop_am = 1.0 - np.nanmedian(ratio_am[start : end + 1]) / ref_am
    drop_pm = 1.0 - np.nanmedian(ratio_pm[start : end + 1]) / ref_pm
    hi, lo = max(drop_am, drop_pm), min(drop_am, drop_pm)
    if hi > 0.08 and hi > 3.0 * max(lo, 0.0) + 0.04:
        return "shading"
    slope_per_day = np.polyfit(days.astype(float), vals, 1)[0]
    span = end - start + 1
    head = np.nanmedian(vals[: min(5, vals.size)])
    drop = 1.0 - np.nanmedian(vals)
    if span >= 120 and -slope_per_day * 365.0 < 0.05 and drop < 0.06:
        return "degradation"
    # A step: the first days already show most of the episode's shortfall; soiling builds up instead.
    if (1.0 - head) >= 0.6 * drop and -slope_per_day * 30.0 < max(0.03, 0.5 * drop):
        return "string_loss"
    return "soiling"


def assess_pv(
    ac_power_kw: pd.DataFrame,
    weather: pd.DataFrame,
    specs: list[PVSystemSpec],
    config: PVDetectionConfig | None = None,
    compute_degradation: bool = True,
) -> PVHealthResult:
    """Find failing PV systems: daily performance index, neighbour comparison, outages, CUSUM episodes.

    Parameters
    ----------
    ac_power_kw : pandas.DataFrame
        Measured AC power (intervals, systems) [kW] on a regular UTC index; NaN = no reading.
    weather : pandas.DataFrame
        Columns ``ghi``, ``temp_air`` and optionally ``ghi_clear`` on the same index [W/m2, C].
    specs : list of PVSystemSpec
        Declared systems, one per column of ``ac_power_kw`` (matched by name).
    config : PVDetectionConfig, optional
        Detector thresholds.
    compute_degradation : bool
        Run rdtools' year-on-year degradation (needs ``degradation_min_days`` of data).

    Returns
    -------
    PVHealthResult
    """
    cfg = config or PVDetectionConfig()
    names = [s.name for s in specs]
    missing = [n for n in names if n not in ac_power_kw.columns]
    if missing:
        raise MaintenanceInputError(f"readings: no power column for PV system(s) {missing}; PV not assessed")
    power = ac_power_kw[names].astype(float)
    index = pd.DatetimeIndex(power.index)
    if index.tz is None:
        raise MaintenanceInputError("readings: timestamps carry no time zone; PV not assessed (expected UTC)")
    steps = np.unique(np.diff(index.asi8))
    if steps.size != 1:
        raise MaintenanceInputError(
            "readings: the time index is not regular (gaps must be NaN rows, not missing rows); PV not assessed"
        )
    step_h = steps[0] / 3.6e12
    weather = weather.reindex(index)
    if weather[["ghi", "temp_air"]].isna().any().any():
        raise MaintenanceInputError(
            "weather: ghi/temp_air missing for some intervals of the readings; PV not assessed"
        )
    notes: list[str] = []
    expected = expected_ac_power_kw(specs, weather)
    dc_kw = np.array([s.dc_kw for s in specs])
    if "ghi_clear" in weather:
        clear = expected_ac_power_kw(specs, weather, "ghi_clear").to_numpy()
    else:
        clear = None
        notes.append("weather has no ghi_clear column: low-light filter not applied")

    p = power.to_numpy()
    e = expected.to_numpy()
    has_reading = ~np.isnan(p)
    daylight = e > cfg.daylight_fraction * dc_kw[None, :]
    valid = daylight & has_reading
    day_index = index.floor("D")
    days = pd.DatetimeIndex(day_index.unique())
    day_pos = np.searchsorted(days.asi8, day_index.asi8)
    n_days, n_sys = len(days), len(specs)

    def daily_sum(values: np.ndarray) -> np.ndarray:
        out = np.zeros((n_days, values.shape[1]))
        np.add.at(out, day_pos, values)
        return out

    e_all = daily_sum(np.where(daylight, e, 0.0)) * step_h
    e_valid = daily_sum(np.where(valid, e, 0.0)) * step_h
    m_valid = daily_sum(np.where(valid, p, 0.0)) * step_h
    with np.errstate(all="ignore"):
        coverage = np.where(e_all > 0, e_valid / e_all, 0.0)
        pi = np.where(coverage >= cfg.min_coverage, m_valid / e_valid, np.nan)
    night = e_all <= 0
    comm_loss = ~night & (coverage < cfg.min_coverage)
    # Half-day energies for the shading signature (morning vs afternoon by the sun's transit, per system).
    hours = ((index.hour + index.minute / 60.0).to_numpy() + specs[0].longitude / 15.0) % 24.0
    am = (hours < 12.0)[:, None]
    with np.errstate(all="ignore"):
        ratio_am = daily_sum(np.where(valid & am, p, 0.0)) / daily_sum(np.where(valid & am, e, 0.0))
        ratio_pm = daily_sum(np.where(valid & ~am, p, 0.0)) / daily_sum(np.where(valid & ~am, e, 0.0))

    used_neighbours = n_sys >= 3
    # Outage rule: no output while the sky says there should be plenty, on intervals that have readings.
    fraction = cfg.outage_expected_fraction_neighbours if used_neighbours else cfg.outage_expected_fraction
    strong = e > fraction * dc_kw[None, :]
    dead = strong & has_reading & (p < cfg.outage_measured_ratio * e)
    dead_count = daily_sum(dead.astype(float))
    with np.errstate(all="ignore"):
        interval_ratio = np.where(strong & has_reading, p / e, np.nan)

    if not used_neighbours:
        notes.append(f"{n_sys} PV system(s): fewer than 3, neighbour comparison not used (model-only mode)")

    low_light = np.zeros((n_days, n_sys), dtype=bool)
    if clear is not None:
        c_all = daily_sum(np.where(daylight, clear, 0.0)) * step_h
        with np.errstate(all="ignore"):
            low_light = (c_all > 0) & (e_all < cfg.low_light_ratio * c_all)

    # Cold days of the past 72 h (snow can lie on the modules for a while after it fell).
    temp = pd.Series(weather["temp_air"].to_numpy(), index=index)
    cold_day = (temp.groupby(day_index).min() < cfg.snow_temp_c).reindex(days).to_numpy()
    cold_72h = pd.Series(cold_day).rolling(3, min_periods=1).max().to_numpy().astype(bool)

    base_ok = ~night & ~comm_loss & ~low_light
    ref_pi, _, _ = _first_n_median(pi, base_ok & ~np.isnan(pi), cfg.reference_days)
    q = pi / ref_pi[None, :]
    if used_neighbours:
        neighbour = _loo_median(np.where(base_ok, q, np.nan))
        # Everyone on the feeder low at once is the sky or snow, not a fault.
        snow = base_ok & (neighbour < cfg.snow_pi_ratio)
        x = q / neighbour
        # Same for the outage rule: the neighbours must be producing in those intervals.
        outage_neigh = _loo_median(np.where(dead, np.nan, interval_ratio))
        dead_real = dead & (outage_neigh > cfg.outage_neighbour_ratio)
        dead_count = daily_sum(dead_real.astype(float))
    else:
        neighbour = np.ones((n_days, n_sys))
        snow = base_ok & cold_72h[:, None] & (q < cfg.snow_pi_ratio)
        x = q
    outage_day = dead_count >= cfg.outage_min_intervals
    if not used_neighbours:
        # Alone, zero output on a cold day may be snow on the modules, unless the system was producing both
        # before and after the dead period that day (an abrupt stop in between is a trip; snow lies from the
        # morning and melts off, it does not switch off and on).
        alive = strong & has_reading & (np.nan_to_num(interval_ratio) > 0.3)
        pos = np.broadcast_to(np.arange(len(index))[:, None], dead.shape)
        big = len(index) + 1

        def day_reduce(values: np.ndarray, ufunc: np.ufunc, fill: int) -> np.ndarray:
            out = np.full((n_days, n_sys), fill)
            ufunc.at(out, (np.broadcast_to(day_pos[:, None], dead.shape), np.arange(n_sys)[None, :]), values)
            return out

        first_dead = day_reduce(np.where(dead, pos, big), np.minimum, big)
        last_dead = day_reduce(np.where(dead, pos, -1), np.maximum, -1)
        first_alive = day_reduce(np.where(alive, pos, big), np.minimum, big)
        last_alive = day_reduce(np.where(alive, pos, -1), np.maximum, -1)
        abrupt = (first_alive < first_dead) & (last_alive > last_dead)
        snowy = outage_day & cold_72h[:, None] & ~abrupt
        snow |= snowy
        outage_day &= ~snowy
    eligible = base_ok & ~snow & ~outage_day & ~np.isnan(x)
    ref_x, sigma, ref_mask = _first_n_median(x, eligible, cfg.reference_days)
    if np.isnan(ref_x).any():
        bad = [names[j] for j in np.flatnonzero(np.isnan(ref_x))]
        raise MaintenanceInputError(
            f"PV system(s) {bad}: no eligible day for the healthy reference (all days missing, dark or snowy); "
            "performance index, alarms and lost energy not computed"
        )
    sigma = np.maximum(np.nan_to_num(sigma, nan=cfg.min_sigma), cfg.min_sigma)
    xn = x / ref_x[None, :]
    cusum = _lower_cusum(np.where(eligible, xn, 1.0), eligible & ~ref_mask, sigma, cfg)

    # Lost energy per day: what the reference and the neighbours say the system should have made, minus made.
    expected_made = e_valid * ref_pi[None, :] * ref_x[None, :] * np.where(np.isnan(neighbour), 1.0, neighbour)
    lost_raw = np.clip(expected_made - m_valid, 0.0, None)
    lost_raw = np.where(comm_loss | night, np.nan, lost_raw)

    status = np.full((n_days, n_sys), "ok", dtype=object)
    status[ref_mask] = "reference"
    status[low_light & ~night] = "low_light"
    status[snow] = "snow"
    status[comm_loss] = "comm_loss"
    status[outage_day] = "outage"
    status[night] = "night"

    alarms: list[PVAlarm] = []
    alarm_day = np.zeros((n_days, n_sys), dtype=bool)
    h = cfg.cusum_h
    for j, name in enumerate(names):
        for d in np.flatnonzero(outage_day[:, j]):
            lost = float(np.nan_to_num(lost_raw[d, j]))
            alarm_day[d, j] = True
            alarms.append(
                PVAlarm(
                    name,
                    "outage",
                    days[d],
                    days[d],
                    days[d],
                    lost,
                    lost,
                    float(1.0 - np.nan_to_num(xn[d, j])),
                )
            )
        for onset, first, last in _episodes(cusum[:, j], eligible[:, j], h):
            span = slice(onset, last + 1)
            alarm_day[span, j] = True
            kind = _classify(
                np.where(eligible[:, j], xn[:, j], np.nan),
                ratio_am[:, j],
                ratio_pm[:, j],
                float(np.nanmedian(np.where(ref_mask[:, j], ratio_am[:, j], np.nan))),
                float(np.nanmedian(np.where(ref_mask[:, j], ratio_pm[:, j], np.nan))),
                onset,
                last,
            )
            lost_days = lost_raw[span, j]
            n_lost = int(np.sum(~np.isnan(lost_days)))
            lost = float(np.nansum(lost_days))
            alarms.append(
                PVAlarm(
                    name,
                    kind,
                    days[onset],
                    days[first],
                    days[last],
                    lost,
                    lost / n_lost if n_lost else float("nan"),
                    float(1.0 - np.nanmean(np.where(eligible[span, j], xn[span, j], np.nan))),
                )
            )
    lost_kwh = np.where(alarm_day, lost_raw, np.where(np.isnan(lost_raw), np.nan, 0.0))

    frame = lambda a: pd.DataFrame(a, index=days, columns=names)  # noqa: E731
    with np.errstate(all="ignore"):
        am_pm = np.where(ref_mask & (ratio_pm > 0), ratio_am / ratio_pm, np.nan)
    degradation = []
    for j, name in enumerate(names):
        if compute_degradation:
            degradation.append(
                degradation_yoy(
                    frame(pi)[name].where(
                        np.asarray((eligible[:, j] | ref_mask[:, j]) & ~alarm_day[:, j], dtype=bool)
                    ),
                    name,
                    cfg,
                )
            )
        else:
            degradation.append(DegradationResult(name, False, np.nan, np.nan, np.nan, "not requested"))
    notes += [
        f"PV system '{r.asset}': degradation rate not computed ({r.reason})"
        for r in degradation
        if not r.computed
    ]
    alarms.sort(key=lambda a: (a.asset, a.start))
    return PVHealthResult(
        assets=names,
        expected_kw=expected,
        daily_expected_kwh=frame(e_valid),
        daily_measured_kwh=frame(m_valid),
        performance_index=frame(pi),
        relative_index=frame(np.where(eligible, xn, np.nan)),
        day_status=frame(status),
        cusum=frame(cusum),
        lost_kwh=frame(lost_kwh),
        alarms=alarms,
        degradation=degradation,
        morning_afternoon_ratio=pd.Series(np.nanmedian(am_pm, axis=0), index=names),
        used_neighbours=used_neighbours,
        notes=notes,
    )


def degradation_yoy(
    daily_index: pd.Series, asset: str, config: PVDetectionConfig | None = None
) -> DegradationResult:
    """Year-on-year degradation rate with its 68.2 % interval (rdtools), only on two years of data.

    Parameters
    ----------
    daily_index : pandas.Series
        Daily performance index [-] (measured / modelled energy), NaN on skipped days.
    asset : str
        System id, for the result and messages.
    config : PVDetectionConfig, optional
        ``degradation_min_days`` sets the minimum span.

    Returns
    -------
    DegradationResult
        ``computed`` False with the reason when the span is too short or rdtools finds too few pairs.

    References
    ----------
    Jordan, D. C. et al. (2018), "Robust PV degradation methodology and application", IEEE J. Photovoltaics
    8(2), 525-531 (the year-on-year method implemented by rdtools).
    """
    cfg = config or PVDetectionConfig()
    series = daily_index.dropna()
    series = series[series > 0]
    span_days = (series.index[-1] - series.index[0]).days if len(series) else 0
    if span_days < cfg.degradation_min_days:
        return DegradationResult(
            asset,
            False,
            np.nan,
            np.nan,
            np.nan,
            f"{span_days} days of data, year-on-year needs {cfg.degradation_min_days}",
        )
    from rdtools.degradation import degradation_year_on_year  # heavy import (xgboost, matplotlib), only here

    series = series.copy()
    series.index = pd.DatetimeIndex(series.index).tz_localize(None)
    try:
        rate, ci, _ = degradation_year_on_year(series, confidence_level=68.2)
    except ValueError as exc:
        return DegradationResult(asset, False, np.nan, np.nan, np.nan, f"rdtools: {exc}")
    return DegradationResult(asset, True, float(rate), float(ci[0]), float(ci[1]))
