"""Forecasts as a member's agent issues them during a simulation: retrained on a schedule, never ahead of time.

A forecast of interval ``t`` is issued at ``t - horizon`` (the library's convention: values at or before
the issue time are known). The model that issues it was fitted at the last retraining time ``r`` at or
before the issue time, on values measured before ``r`` only; its features read values at or before the
issue time only (see :mod:`wattmesh.forecast.gbm`). So changing what is measured from some time ``T`` on
leaves every forecast issued before ``T`` unchanged, bit for bit (one thread, seeded).
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable

import numpy as np
import pandas as pd

from wattmesh.forecast.features import step_of, validated_history
from wattmesh.forecast.gbm import GradientBoostingForecaster


def retrain_times(
    origin: pd.Timestamp,
    first_issue: pd.Timestamp,
    last_issue: pd.Timestamp,
    data_start: pd.Timestamp,
    retrain_every: pd.Timedelta,
    min_history: pd.Timedelta,
) -> pd.DatetimeIndex:
    """The retraining times ``origin + k * retrain_every`` that issue forecasts between ``first_issue`` and
    ``last_issue``: from the last one at or before ``first_issue`` on, leaving out those with less than
    ``min_history`` of measurements (from ``data_start``) before them."""
    if origin > first_issue:
        raise ValueError(f"origin: {origin} is after the first issue time {first_issue}")
    k_first = int((first_issue - origin) // retrain_every)
    k_last = int((last_issue - origin) // retrain_every)
    times = pd.DatetimeIndex([origin + k * retrain_every for k in range(k_first, k_last + 1)])
    return times[times >= data_start + min_history]


def issued_forecasts(
    make_forecaster: Callable[[], GradientBoostingForecaster],
    measured: pd.DataFrame,
    targets: pd.DatetimeIndex,
    *,
    origin: pd.Timestamp | str | None = None,
    retrain_every: str | pd.Timedelta = "7D",
    train_window: str | pd.Timedelta = "56D",
    min_history: str | pd.Timedelta = "7D",
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """Point forecasts of ``targets``, each issued ``horizon`` ahead by a model retrained on a schedule.

    Retraining times are ``r_k = origin + k * retrain_every``. The model fitted at ``r_k`` on the
    measurements in ``[r_k - train_window, r_k)`` issues every forecast whose issue time falls in
    ``[r_k, r_k + retrain_every)``, if at least ``min_history`` was measured before ``r_k``. With one
    ``origin`` for a whole simulation, the forecasts of any window of it are those of the whole span.

    Parameters
    ----------
    make_forecaster : callable
        Returns a new, unfitted forecaster (its ``horizon`` sets the issue times).
    measured : DataFrame
        What the members measure (intervals x members), from as early as the data goes (history before
        the simulated span included) to at least the last target's issue time; values after an issue
        time are never read for a forecast issued then.
    targets : DatetimeIndex
        Intervals to forecast, on ``measured``'s grid.
    origin : Timestamp, optional
        First retraining time of the schedule; default the first target's issue time.
    retrain_every, train_window, min_history : durations (pandas strings such as ``"7D"``)
    progress : callable, optional
        ``progress(done, total)`` after each fit.
    workers : int
        Processes that fit the models side by side (forked, one model each at a time; each fit is the
        one this process would make, so the forecasts are the same whatever the number).

    Returns
    -------
    DataFrame
        Point forecasts indexed by ``targets`` with ``measured``'s columns; NaN for the targets issued
        before the first retraining with enough history (the caller falls back to a baseline).
    """
    measured = validated_history(measured, "measured")
    targets = pd.DatetimeIndex(targets).tz_convert("UTC")
    out = pd.DataFrame(np.nan, index=targets, columns=measured.columns)
    if len(targets) == 0:
        return out
    step = step_of(measured.index)
    retrain_every = pd.Timedelta(retrain_every)
    train_window = pd.Timedelta(train_window)
    min_history = pd.Timedelta(min_history)
    for name, value in (("retrain_every", retrain_every), ("train_window", train_window)):
        if value < step:
            raise ValueError(f"{name}: {value} is shorter than one {step} interval")
    horizon = make_forecaster().horizon
    issue = targets - horizon
    if issue[-1] > measured.index[-1] or targets[0] < measured.index[0]:
        raise ValueError(
            f"targets: {targets[0]} to {targets[-1]} need measurements from {targets[0]} up to their last "
            f"issue time {issue[-1]}; measured covers {measured.index[0]} to {measured.index[-1]}"
        )
    origin = issue[0] if origin is None else pd.Timestamp(origin).tz_convert("UTC")
    times = retrain_times(origin, issue[0], issue[-1], measured.index[0], retrain_every, min_history)
    blocks = [(issue >= fitted_at) & (issue < fitted_at + retrain_every) for fitted_at in times]

    def block_forecast(k: int) -> np.ndarray:
        fitted_at, in_block = times[k], blocks[k]
        model = make_forecaster()
        model.fit(measured[(measured.index >= fitted_at - train_window) & (measured.index < fitted_at)])
        # The history handed over ends at the issue time of the block's last target.
        last_issue = issue[in_block][-1]
        first_read = issue[in_block][0] - model.history_needed
        known = measured[(measured.index >= first_read) & (measured.index <= last_issue)]
        return model.predict(known, targets[in_block]).point.to_numpy()

    for in_block, values in zip(
        blocks, _fork_map(block_forecast, len(times), workers, progress), strict=True
    ):
        out.loc[in_block] = values
    return out


_WORK: Callable | None = None
_DONE = None


def _forked(k: int):
    value = _WORK(k)
    with _DONE.get_lock():
        _DONE.value += 1
    return value


def _fork_map(work: Callable[[int], object], n: int, workers: int, progress) -> list:
    """``[work(k) for k in range(n)]``, on ``workers`` forked processes when there are two or more (they
    inherit ``work`` and its data), reporting ``progress(done, n)``."""
    global _WORK, _DONE
    if min(workers, n) < 2 or "fork" not in mp.get_all_start_methods():
        values = []
        for k in range(n):
            values.append(work(k))
            if progress is not None:
                progress(k + 1, n)
        return values
    ctx = mp.get_context("fork")
    _WORK, _DONE = work, ctx.Value("i", 0)
    reported = 0

    def report(done: int) -> None:
        nonlocal reported
        if progress is not None:
            for k in range(reported + 1, done + 1):  # once per fit, in order
                progress(k, n)
        reported = max(reported, done)

    try:
        with ctx.Pool(min(workers, n)) as pool:
            pending = pool.map_async(_forked, range(n), chunksize=1)
            while not pending.ready():
                pending.wait(0.2)
                report(_DONE.value)
            values = pending.get()
    finally:
        _WORK, _DONE = None, None
    report(n)
    return values
