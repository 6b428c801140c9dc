"""NumPy kernels for piecewise-constant hazards: exact, vectorized, axis-explicit.

Every function takes ``rates`` with the interval axis last (any leading sample axes) and
the internal ``cuts`` (see :mod:`pexsurv.intervals` for the interval convention). Results
are exact for the piecewise-exponential model: no numerical integration.
"""

from __future__ import annotations

import numpy as np

from pexsurv.intervals import exposure_matrix

__all__ = ["cumulative_hazard", "survival", "survival_at", "quantile_time", "rmst"]


def _widths(cuts: np.ndarray) -> np.ndarray:
    return np.diff(np.concatenate([[0.0], cuts, [np.inf]]))


def cumulative_hazard(rates: np.ndarray, cuts: np.ndarray, t: np.ndarray) -> np.ndarray:
    """H(t) for each time in ``t``; shape ``rates.shape[:-1] + t.shape``.

    Examples
    --------
    >>> cumulative_hazard(np.array([0.1, 0.2]), np.array([1.0]), np.array([0.5, 3.0])).tolist()
    [0.05, 0.5]
    """
    t = np.asarray(t, dtype=float)
    exposure = exposure_matrix(np.zeros_like(t), t, cuts)  # t.shape + (K,)
    return np.einsum("...k,tk->...t", rates, exposure.reshape(-1, cuts.size + 1)).reshape(
        rates.shape[:-1] + t.shape
    )


def survival(rates: np.ndarray, cuts: np.ndarray, t: np.ndarray) -> np.ndarray:
    """S(t) = exp(-H(t))."""
    return np.exp(-cumulative_hazard(rates, cuts, t))


def survival_at(rates: np.ndarray, cuts: np.ndarray, t: np.ndarray) -> np.ndarray:
    """S(t) elementwise: ``t`` broadcasts against ``rates.shape[:-1]`` (one time per curve).

    Examples
    --------
    >>> survival_at(np.array([[0.1], [0.2]]), np.array([]), np.array([10.0, 5.0])).round(4).tolist()
    [0.3679, 0.3679]
    """
    t = np.asarray(t, dtype=float)
    return np.exp(-(rates * exposure_matrix(np.zeros_like(t), t, cuts)).sum(axis=-1))


def quantile_time(rates: np.ndarray, cuts: np.ndarray, p: float = 0.5) -> np.ndarray:
    """Time at which S(t) = 1 - p (p = 0.5 gives the median), exactly.

    Returns ``inf`` where the target is never reached (zero hazard in the last interval).

    Examples
    --------
    >>> float(quantile_time(np.array([np.log(2) / 3.0]), np.array([]), 0.5))
    3.0
    """
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    target = -np.log1p(-p)
    rates = np.asarray(rates, dtype=float)
    widths = _widths(cuts)
    lower = np.concatenate([[0.0], cuts])
    # Cumulative hazard at each interval's start (finite: the open last width is unused).
    per = rates[..., :-1] * widths[:-1]
    h_start_all = np.concatenate([np.zeros(rates.shape[:-1] + (1,)), np.cumsum(per, axis=-1)],
                                 axis=-1)
    # The target is reached in the last interval whose start lies below it.
    k = (h_start_all < target).sum(axis=-1) - 1
    h_start = np.take_along_axis(h_start_all, k[..., None], axis=-1)[..., 0]
    rate_k = np.take_along_axis(rates, k[..., None], axis=-1)[..., 0]
    with np.errstate(divide="ignore"):
        return np.where(rate_k > 0, lower[k] + (target - h_start) / rate_k, np.inf)


def rmst(rates: np.ndarray, cuts: np.ndarray, horizon: float) -> np.ndarray:
    """Restricted mean survival time, the integral of S(t) from 0 to ``horizon``, exactly.

    On interval k, S(t) = S(c_{k-1}) exp(-rate_k (t - c_{k-1})), whose integral over a width
    w is S(c_{k-1}) (1 - exp(-rate_k w)) / rate_k (and S(c_{k-1}) w when rate_k = 0).

    Examples
    --------
    >>> round(float(rmst(np.array([0.5]), np.array([]), 2.0)), 6)  # (1 - e^-1) / 0.5
    1.264241
    """
    if not horizon > 0:
        raise ValueError(f"horizon must be > 0, got {horizon}")
    rates = np.asarray(rates, dtype=float)
    w = exposure_matrix(np.zeros(1), np.array([horizon]), cuts)[0]  # width inside [0, horizon]
    per = rates * w
    h_start = np.cumsum(per, axis=-1) - per
    s_start = np.exp(-h_start)
    safe = np.where(rates > 0, rates, 1.0)
    piece = np.where(rates > 0, -np.expm1(-per) / safe, w)
    return (s_start * piece).sum(axis=-1)

