"""Point checks on a batch of readings in long form (one row per meter and time), vectorised over the batch.

These are the checks that judge a value on its own or against the other values of the same (meter, time):
missing, negative, out of range, conflicting duplicates, a cumulative register that falls. They need no
history, so the live exchange and the device adapters run them on every upload, however small, before a
reading can be settled; the statistical checks of :func:`wattmesh.quality.check_readings` (stuck runs,
spikes, level and time shifts) need a meter's series and run where one exists. Both use the reason codes of
:data:`wattmesh.quality.schema.REASONS`, so a flag means the same wherever it is raised.
"""

from __future__ import annotations

import numpy as np

from wattmesh.quality.schema import FLAG_DTYPE, REASON_BITS


def _bit(name: str) -> np.uint32:
    return FLAG_DTYPE(REASON_BITS[name])


def _groups(meter_ids, times) -> tuple[np.ndarray, np.ndarray]:
    """(order, starts): a stable sort of the rows by (meter, time) and where each (meter, time) group starts."""
    meters = np.asarray(meter_ids)
    _, meter_code = np.unique(meters, return_inverse=True)
    times = np.asarray(times, dtype=np.int64)
    order = np.lexsort((times, meter_code))
    m, t = meter_code[order], times[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (m[1:] != m[:-1]) | (t[1:] != t[:-1])
    return order, starts


def conflicting_duplicates(meter_ids, times, values) -> np.ndarray:
    """True for every row whose (meter, time) appears again in the batch with a different value.

    Rows repeated with the same value (a retried upload) are not flagged: they say the same thing; missing
    values (NaN) are left out of the comparison.

    Parameters
    ----------
    meter_ids : (N,) meter (or member) ids
    times : (N,) interval starts as integers (e.g. epoch seconds or ns)
    values : (N,) the values (any unit)

    Returns
    -------
    numpy.ndarray
        (N,) bool.
    """
    values = np.asarray(values, dtype=float)
    out = np.zeros(len(values), dtype=bool)
    if len(values) < 2:
        return out
    order, starts = _groups(meter_ids, times)
    group = np.cumsum(starts) - 1
    v = values[order]
    lo = np.full(group[-1] + 1, np.inf)
    hi = np.full(group[-1] + 1, -np.inf)
    np.fmin.at(lo, group, v)  # fmin/fmax skip NaN: a missing value conflicts with nothing
    np.fmax.at(hi, group, v)
    out[order] = lo[group] < hi[group]
    return out


def register_drops(meter_ids, times, register) -> np.ndarray:
    """True where a cumulative register is below the meter's previous reading (in time) in the batch.

    Parameters
    ----------
    meter_ids : (N,) meter ids
    times : (N,) measurement times as integers (ns)
    register : (N,) register values (any unit); NaN where the row holds no register value (skipped)

    Returns
    -------
    numpy.ndarray
        (N,) bool: the first reading after the fall is flagged (a reset or a wrong value).
    """
    register = np.asarray(register, dtype=float)
    out = np.zeros(len(register), dtype=bool)
    has = np.flatnonzero(np.isfinite(register))
    if len(has) < 2:
        return out
    meters = np.asarray(meter_ids)[has]
    order, _ = _groups(meters, np.asarray(times, dtype=np.int64)[has])
    _, code = np.unique(meters[order], return_inverse=True)
    v = register[has][order]
    falls = np.zeros(len(order), dtype=bool)
    falls[1:] = (code[1:] == code[:-1]) & (v[1:] < v[:-1])
    out[has[order]] = falls
    return out


def batch_flags(
    meter_ids,
    times,
    energy_kwh,
    *,
    limit_kwh=np.inf,
    allow_negative=True,
    stored_kwh=None,
) -> np.ndarray:
    """The point checks on a batch of interval energies: a ``uint32`` reason code per row (0 = clean).

    Parameters
    ----------
    meter_ids : (N,) meter (or member) ids
    times : (N,) interval starts as integers (epoch seconds or ns)
    energy_kwh : (N,) energy of the interval [kWh] (net meters: either sign)
    limit_kwh : float or (N,) largest plausible magnitude of one interval's energy [kWh]; above it the row
        is ``out_of_range``
    allow_negative : bool or (N,) whether a negative value is valid (net meters); else ``negative``
    stored_kwh : (N,) the value already stored for the row's (meter, time) [kWh], NaN where none; a
        different value is a ``duplicate`` (a conflict), as is a (meter, time) repeated in the batch with
        different values

    Returns
    -------
    numpy.ndarray
        (N,) ``uint32`` bit codes of :data:`wattmesh.quality.schema.REASONS` (``missing``, ``negative``,
        ``out_of_range``, ``duplicate``).
    """
    energy = np.asarray(energy_kwh, dtype=float)
    flags = np.zeros(len(energy), dtype=FLAG_DTYPE)
    missing = ~np.isfinite(energy)
    flags[missing] |= _bit("missing")
    negative = (energy < 0) & ~np.asarray(allow_negative, dtype=bool)
    flags[negative] |= _bit("negative")
    flags[np.abs(np.where(missing, 0.0, energy)) > np.asarray(limit_kwh, dtype=float)] |= _bit("out_of_range")
    conflict = conflicting_duplicates(meter_ids, times, energy)
    if stored_kwh is not None:
        stored = np.asarray(stored_kwh, dtype=float)
        conflict |= np.isfinite(stored) & (stored != energy)
    flags[conflict] |= _bit("duplicate")
    return flags
