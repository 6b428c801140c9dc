"""The piecewise-exponential event-time sampler shared by the trial simulator and the
posterior predictive replicates.

A hazard that is constant on each interval ``(c[k-1], c[k]]`` (the package's convention,
the last interval open-ended) has a continuous, piecewise-linear cumulative hazard ``H``.
Given a standard exponential draw ``E``, the event time is ``T = inf{t : H(t) >= E}``, so
that ``P(T > t) = exp(-H(t))``. Callers pass ``E`` rather than a generator so that the
untreated and the treated version of a simulated patient can share their draws (common
random numbers).
"""

from __future__ import annotations

import numpy as np

__all__ = ["event_times"]


def event_times(e: np.ndarray, cuts: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Event times of piecewise-constant hazards by inverting the cumulative hazard.

    Parameters
    ----------
    e : array_like, shape S
        Standard exponential draws (>= 0), one per event time wanted.
    cuts : array_like, shape (..., k)
        Internal cut points, non-decreasing along the last axis (repeated values, i.e.
        zero-width intervals, are allowed), shared when 1-D or one row per draw;
        broadcast against ``S``.
    rates : array_like, shape (..., k + 1)
        Hazard on ``(0, c[0]]``, ``(c[0], c[1]]``, ..., ``(c[k-1], inf)``; finite and
        >= 0, broadcast against ``S``.

    Returns
    -------
    numpy.ndarray, shape S
        ``inf{t : H(t) >= e}``: an event at exactly ``c[j]`` belongs to the interval that
        ends there, a draw beyond the total hazard of a last interval with rate 0 gives
        ``inf``, and ``e = 0`` gives 0.

    Raises
    ------
    ValueError
        On negative draws, negative or non-finite rates, mismatched lengths or decreasing
        cut points.

    Examples
    --------
    A hazard of 0.5 to month 2, then 1.0: ``H(2) = 1``, so ``E = 1`` ends exactly at the
    cut and ``E = 1.5`` half a month later.

    >>> event_times(np.array([0.5, 1.0, 1.5]), np.array([2.0]), np.array([0.5, 1.0]))
    array([1. , 2. , 2.5])
    """
    e = np.asarray(e, dtype=float)
    cuts = np.asarray(cuts, dtype=float)
    rates = np.asarray(rates, dtype=float)
    if cuts.ndim == 0 or rates.ndim == 0 or rates.shape[-1] != cuts.shape[-1] + 1:
        raise ValueError(f"need rates.shape[-1] == cuts.shape[-1] + 1, got rates of shape "
                         f"{rates.shape} for cuts of shape {cuts.shape}")
    if np.any(np.isnan(e)) or np.any(e < 0):
        raise ValueError("e must hold standard exponential draws (>= 0, not NaN)")
    if not np.all(np.isfinite(rates)) or np.any(rates < 0):
        raise ValueError("rates must be finite and >= 0")
    if not np.all(np.isfinite(cuts)) or np.any(cuts < 0) or np.any(np.diff(cuts, axis=-1) < 0):
        raise ValueError("cuts must be finite, >= 0 and non-decreasing along the last axis")
    shape = np.broadcast_shapes(e.shape, cuts.shape[:-1], rates.shape[:-1])
    e = np.broadcast_to(e, shape)
    starts = np.concatenate([np.zeros(shape + (1,)),
                             np.broadcast_to(cuts, shape + cuts.shape[-1:])], axis=-1)
    rates = np.broadcast_to(rates, shape + rates.shape[-1:])
    # Cumulative hazard at the start of each interval (the open last width is never used).
    h_start = np.concatenate([np.zeros(shape + (1,)),
                              np.cumsum(rates[..., :-1] * np.diff(starts, axis=-1), axis=-1)],
                             axis=-1)
    # The last interval whose start has H < E holds T. Strict "<" puts a draw equal to
    # H(c[j]) at c[j] itself (the interval ending there) and skips zero-width and zero-rate
    # intervals, whose H does not grow, so the chosen rate is > 0 unless it is the last.
    piece = np.maximum((h_start < e[..., None]).sum(axis=-1) - 1, 0)[..., None]
    rate = np.take_along_axis(rates, piece, axis=-1)[..., 0]
    excess = e - np.take_along_axis(h_start, piece, axis=-1)[..., 0]
    start = np.take_along_axis(starts, piece, axis=-1)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = start + excess / rate
    # excess is 0 only for E = 0 (piece 0), where T = 0 whatever the rate.
    return np.where(excess > 0, t, start)
