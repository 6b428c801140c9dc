"""Kaplan-Meier estimates (NumPy), for summaries, demos and posterior predictive checks.

Independent of lifelines on purpose: lifelines serves as the cross-check in the tests.

The functions take arrays with one exact time per event. On interval-censored
:class:`~pexsurv.TrialData` (``time_lower`` loaded) ``data.time`` is the assessment that
found each event: call :func:`pexsurv.data.require_exact_times` at the caller, or date the
events explicitly first (``data.date_events("visit")`` or ``"midpoint"``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["kaplan_meier", "km_median", "km_survival_at"]


def kaplan_meier(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival curve.

    Parameters
    ----------
    time : array_like
        Follow-up times.
    event : array_like
        1 = event, 0 = censored. Censorings tied with events are taken to occur just after
        the events (the usual convention).

    Returns
    -------
    times, survival : numpy.ndarray
        Distinct event times and S(t) just after each.

    Examples
    --------
    >>> t, s = kaplan_meier([1.0, 2.0, 2.0, 3.0], [1, 1, 0, 1])
    >>> t.tolist(), s.round(3).tolist()
    ([1.0, 2.0, 3.0], [0.75, 0.5, 0.0])
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=int)
    if time.shape != event.shape:
        raise ValueError("time and event must have the same shape")
    if time.size == 0:
        return np.empty(0), np.empty(0)
    uniq, inverse = np.unique(time, return_inverse=True)
    d = np.bincount(inverse, weights=event, minlength=uniq.size)
    c = np.bincount(inverse, minlength=uniq.size)
    at_risk = c[::-1].cumsum()[::-1]
    has = d > 0
    s = np.cumprod(1.0 - d[has] / at_risk[has])
    return uniq[has], s


def km_survival_at(time: np.ndarray, event: np.ndarray, at: np.ndarray, *,
                   beyond: str = "last") -> np.ndarray:
    """Kaplan-Meier S(t) evaluated at the times ``at`` (right-continuous step function).

    Parameters
    ----------
    time, event : array_like
        As for :func:`kaplan_meier`.
    at : array_like
        Times to evaluate at.
    beyond : {"last", "nan"}
        After the last observed time the Kaplan-Meier estimate is undefined unless the
        curve has reached 0 (the last subject had the event). ``"last"`` carries the last
        value forward (lifelines' convention, for curves compared on one shared grid, as
        the posterior predictive bands do); ``"nan"`` returns NaN there, so that nothing
        beyond follow-up is reported as estimated.

    Examples
    --------
    >>> km_survival_at([1.0, 2.0, 2.0, 3.0], [1, 1, 0, 1], [0.5, 1.0, 2.5]).tolist()
    [1.0, 0.75, 0.5]
    >>> km_survival_at([1.0, 2.0, 4.0], [1, 1, 0], [3.0, 5.0], beyond="nan").round(3).tolist()
    [0.333, nan]
    """
    if beyond not in ("last", "nan"):
        raise ValueError(f"beyond must be 'last' or 'nan', got {beyond!r}")
    at = np.asarray(at, dtype=float)
    t, s = kaplan_meier(time, event)
    idx = np.searchsorted(t, at, side="right") - 1
    out = np.where(idx >= 0, s[np.clip(idx, 0, None)] if s.size else 1.0, 1.0)
    if beyond == "nan":
        last = float(np.max(time)) if np.size(time) else -np.inf
        reached_zero = s.size > 0 and s[-1] == 0.0
        out = np.where((at > last) & ~reached_zero, np.nan, out)
    return out


def km_median(time: np.ndarray, event: np.ndarray) -> float:
    """Median of the Kaplan-Meier curve: the first time S(t) <= 0.5 (NaN if never reached).

    Pass ``1 - event`` as ``event`` for the reverse Kaplan-Meier median follow-up.

    Examples
    --------
    >>> km_median([1.0, 2.0, 3.0, 4.0], [1, 1, 1, 1])
    2.0
    """
    t, s = kaplan_meier(time, event)
    below = np.nonzero(s <= 0.5)[0]
    return float(t[below[0]]) if below.size else float("nan")
