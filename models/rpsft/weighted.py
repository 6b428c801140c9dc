r"""Weighted two-group hazard-ratio kernels and the pooled logistic fit behind IPCW.

Both hazard-ratio fits here are one computation. With group totals at risk ``R0_j``,
``R1_j`` (weighted person-time of a piecewise-exponential interval, or the weighted risk set
at a Cox event time) and events ``D1_j`` of group 1 out of ``D_j`` in all, the profile
log-likelihood of the log hazard ratio ``beta`` (baseline hazards maximised out, or the
Breslow partial likelihood; Efron's adds pseudo risk sets at tied times) is

.. math:: \ell(\beta) = \sum_j D_{1j} \beta - D_j \log(R_{0j} + e^\beta R_{1j}),

concave in ``beta``: :func:`two_group_log_hr` solves it by damped Newton steps, for many
weight sets at once. :func:`weighted_cox` builds the (Efron or Breslow) risk sets of
counting-process rows and adds the cluster-robust (sandwich) standard error;
:func:`logistic_fit` is plain Newton-Raphson (IRLS) for the switching models. All are
NumPy only, so a bootstrap replicate costs milliseconds; the tests check them against
lifelines and a direct maximisation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["LogisticFit", "Ties", "WeightedCox", "inverse_logit", "logistic_fit",
           "two_group_log_hr", "weighted_cox"]


def two_group_log_hr(at_risk0: np.ndarray, at_risk1: np.ndarray, events1: np.ndarray,
                     events: np.ndarray, *, max_iter: int = 100,
                     tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Maximum of the two-group profile likelihood in the module docstring.

    Parameters
    ----------
    at_risk0, at_risk1 : numpy.ndarray
        Totals at risk per group, shape ``(B, J)`` (``B`` weight sets, ``J`` intervals or
        event times) or ``(J,)``.
    events1, events : numpy.ndarray
        Events of group 1 and of both groups, same shape.

    Returns
    -------
    beta, information : numpy.ndarray
        Log hazard ratio of group 1 and the observed information at it, shape ``(B,)``.

    Examples
    --------
    One interval, 10 events in 100 units of group 0, 5 in 100 of group 1: HR 0.5.

    >>> beta, _ = two_group_log_hr(np.array([100.0]), np.array([100.0]), np.array([5.0]),
    ...                            np.array([15.0]))
    >>> round(float(np.exp(beta[0])), 10)
    0.5
    """
    r0, r1, d1, d = (np.atleast_2d(np.asarray(a, dtype=float))
                     for a in (at_risk0, at_risk1, events1, events))
    beta = np.zeros(r0.shape[0])
    info = np.zeros_like(beta)
    for _ in range(max_iter):
        r = np.exp(beta)[:, None] * r1
        total = r0 + r
        p = np.divide(r, total, out=np.zeros_like(r), where=total > 0)
        score = d1.sum(1) - (d * p).sum(1)
        info = (d * p * (1 - p)).sum(1)
        # Concave: a Newton step capped at 1 on the log scale cannot overshoot far.
        step = np.clip(score / np.where(info > 0, info, np.inf), -1.0, 1.0)
        beta += step
        if np.all(np.abs(step) < tol):
            break
    return beta, info


@dataclass(frozen=True)
class WeightedCox:
    """Weighted Cox fit of one binary covariate.

    Attributes
    ----------
    log_hr : float
    se_robust : float
        Cluster-robust (sandwich) standard error, clusters = subjects.
    se_model : float
        ``1 / sqrt(information)``: valid only for frequency weights.
    ties : str
        ``"efron"`` or ``"breslow"``.
    """

    log_hr: float
    se_robust: float
    se_model: float
    ties: str


Ties = Literal["efron", "breslow"]


def weighted_cox(start: np.ndarray, stop: np.ndarray, event: np.ndarray, x: np.ndarray,
                 weight: np.ndarray, cluster: np.ndarray, strata: np.ndarray | None = None,
                 *, ties: Ties = "efron",
                 scale0: Callable[[np.ndarray], np.ndarray] | None = None) -> WeightedCox:
    """Weighted Cox model of a 0/1 covariate on counting-process rows ``(start, stop]``.

    Tied event times are handled as :func:`pexsurv.cox.cox_hr` does (Efron, default) or by
    Breslow's approximation. Efron's weighted form is R ``survival``'s and lifelines': the
    ``m`` deaths tied at a time leave the risk set in ``m`` equal steps, ``k/m`` of their
    weighted total removed at step ``k``, each step counting the deaths' mean weight.
    Written as ``m`` pseudo risk sets per tied time, that is the two-group profile
    likelihood of the module docstring again (Breslow: one risk set per time).

    Parameters
    ----------
    start, stop, event : numpy.ndarray
        Rows: at risk over ``(start, stop]``, event at ``stop`` when ``event`` is 1.
    x : numpy.ndarray
        0/1 covariate (the arm), per row.
    weight : numpy.ndarray
        Non-negative row weights (time-varying weights change from row to row).
    cluster : numpy.ndarray
        Integer subject code per row, for the robust variance.
    strata : numpy.ndarray, optional
        Integer stratum code per row (separate baseline hazards, common HR).
    ties : {"efron", "breslow"}
        Handling of tied event times (no effect without ties).
    scale0 : callable, optional
        A function of time multiplying the weights of the ``x = 0`` rows at each event
        time (vectorised: event times in, factors out): a time-varying weight common to
        that group, such as the stabilising numerator of IPCW, without splitting the rows
        at each of its steps (the fit is the one on rows split there).

    Returns
    -------
    WeightedCox

    Examples
    --------
    Two subjects per arm, the group-1 deaths first: a hazard ratio above 1.

    >>> fit = weighted_cox(np.zeros(4), np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4),
    ...                    np.array([1.0, 0.0, 1.0, 0.0]), np.ones(4), np.arange(4))
    >>> round(fit.log_hr, 4)
    0.9406

    With tied deaths the two methods differ:

    >>> tied, x = np.array([1.0, 1.0, 2.0, 3.0, 4.0, 4.0]), np.array([1.0, 1, 0, 1, 0, 0])
    >>> [round(weighted_cox(np.zeros(6), tied, np.ones(6), x, np.ones(6), np.arange(6),
    ...                     ties=t).log_hr, 4) for t in ("efron", "breslow")]
    [1.6878, 1.6011]
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    strata = np.zeros(stop.size, dtype=np.int64) if strata is None else np.asarray(strata)
    x = np.asarray(x, dtype=float)
    parts = []  # per stratum: its rows and the pseudo risk sets at its event times
    for s in np.unique(strata):
        rows = strata == s
        ev = rows & (event > 0)
        times = np.unique(stop[ev])
        # Row r is at risk at event times t_j with start_r < t_j <= stop_r: j in [lo, hi).
        lo = np.searchsorted(times, start[rows], side="right")
        hi = np.searchsorted(times, stop[rows], side="right")
        w, xr = weight[rows], x[rows]

        def at_risk(values: np.ndarray) -> np.ndarray:
            diff = np.bincount(lo, values, times.size + 1) - np.bincount(hi, values,
                                                                         times.size + 1)
            return np.cumsum(diff)[:-1]

        g = np.ones(times.size) if scale0 is None else np.asarray(scale0(times), dtype=float)
        j = np.searchsorted(times, stop[ev])
        d1 = np.bincount(j, weight[ev] * x[ev], times.size)
        d = d1 + g * np.bincount(j, weight[ev] * (1 - x[ev]), times.size)
        # Pseudo risk set k = 0..m-1 of time j removes k/m of its deaths' weighted total.
        m = (np.bincount(j, minlength=times.size) if ties == "efron"
             else np.ones(times.size, dtype=np.int64))
        of = np.repeat(np.arange(times.size), m)
        frac = (np.arange(of.size) - np.repeat(np.cumsum(m) - m, m)) / m[of]
        r0 = (g * at_risk(w * (1 - xr)))[of] - frac * (d - d1)[of]
        r1 = at_risk(w * xr)[of] - frac * d1[of]
        parts.append((rows, ev, times, lo, hi, of, frac, r0, r1, (d1 / m)[of], (d / m)[of],
                      g))
    beta_arr, info_arr = two_group_log_hr(*(np.concatenate([p[k] for p in parts])
                                            for k in (7, 8, 9, 10)))
    beta, info = float(beta_arr[0]), float(info_arr[0])
    # Score residual of row r, summed over the pseudo risk sets (j, k) it is in:
    #   w_r [event_r (x_r - mean_k xbar_jk) - e^{beta x_r} sum c_rjk (x_r - xbar_jk) dL_jk]
    # with xbar_jk the weighted mean of x in the pseudo risk set, dL_jk = d_jk / S0_jk and
    # c_rjk = 1, or 1 - k/m for a death at t_j itself (Efron; Breslow: k = 0 only); w_r
    # is the row's weight at t_j (times scale0(t_j) for x_r = 0).
    residual = np.zeros(stop.size)
    for rows, ev, times, lo, hi, of, frac, r0, r1, _, d, g in parts:
        s0 = r0 + np.exp(beta) * r1
        xbar = np.divide(np.exp(beta) * r1, s0, out=np.zeros_like(s0), where=s0 > 0)
        dlam = np.divide(d, s0, out=np.zeros_like(s0), where=s0 > 0)

        def per_time(values: np.ndarray) -> np.ndarray:
            return np.bincount(of, values, times.size)

        xr = x[rows]
        one = xr == 1

        def between(values: np.ndarray) -> np.ndarray:
            """Sum of ``values`` over each row's times [lo, hi), scaled by g for x = 0."""
            plain, scaled = np.r_[0.0, np.cumsum(values)], np.r_[0.0, np.cumsum(g * values)]
            return np.where(one, plain[hi] - plain[lo], scaled[hi] - scaled[lo])

        compensator = xr * between(per_time(dlam)) - between(per_time(xbar * dlam))
        own = np.zeros(xr.size)
        ev_in = ev[rows]
        at = np.searchsorted(times, stop[rows][ev_in])
        g_at = np.where(one[ev_in], 1.0, g[at])
        # A death leaves the later pseudo risk sets of its own time in part.
        compensator[ev_in] -= g_at * (xr[ev_in] * per_time(frac * dlam)[at]
                                      - per_time(frac * xbar * dlam)[at])
        own[ev_in] = g_at * (xr[ev_in]
                             - (per_time(xbar) / np.bincount(of, minlength=times.size))[at])
        residual[rows] = weight[rows] * (own - np.exp(beta * xr) * compensator)
    per_cluster = np.bincount(np.unique(cluster, return_inverse=True)[1], residual)
    se_robust = float(np.sqrt((per_cluster ** 2).sum()) / info) if info > 0 else np.inf
    return WeightedCox(log_hr=beta, se_robust=se_robust,
                       se_model=float(1 / np.sqrt(info)) if info > 0 else np.inf, ties=ties)


@dataclass(frozen=True)
class LogisticFit:
    """Maximum-likelihood logistic regression.

    Attributes
    ----------
    coef : numpy.ndarray
        Coefficients, in the order of the design's columns.
    se : numpy.ndarray
        Model-based standard errors.
    prob : numpy.ndarray
        Fitted probability per row.
    converged : bool
    """

    coef: np.ndarray
    se: np.ndarray
    prob: np.ndarray
    converged: bool


def inverse_logit(eta: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-eta))`` without overflow for large ``|eta|`` (separated data).

    >>> inverse_logit(np.array([0.0, -1000.0, 1000.0]))
    array([0.5, 0. , 1. ])
    """
    return np.exp(-np.logaddexp(0.0, -eta))


def logistic_fit(design: np.ndarray, y: np.ndarray, *, max_iter: int = 50,
                 tol: float = 1e-9) -> LogisticFit:
    """Logistic regression of ``y`` on ``design`` (include an intercept column) by IRLS.

    ``converged`` is False when the iterations did not settle (e.g. separation: some
    covariate pattern predicts the outcome perfectly and a coefficient runs off to
    infinity); callers decide what to do with it.

    Examples
    --------
    With one 0/1 covariate the fitted probabilities are the group proportions:

    >>> x = np.array([0, 0, 0, 0, 1, 1, 1, 1.0])
    >>> y = np.array([0, 0, 0, 1, 0, 1, 1, 1.0])
    >>> fit = logistic_fit(np.c_[np.ones(8), x], y)
    >>> fit.prob[[0, 4]].round(6).tolist()
    [0.25, 0.75]
    """
    design = np.asarray(design, dtype=float)
    y = np.asarray(y, dtype=float)
    coef = np.zeros(design.shape[1])
    # Start at the overall log odds: one step closer, and exact for an intercept-only model.
    mean = y.mean()
    if 0 < mean < 1:
        coef[0] = np.log(mean / (1 - mean))
    converged = False
    hessian = np.eye(coef.size)
    for _ in range(max_iter):
        prob = inverse_logit(design @ coef)
        w = prob * (1 - prob)
        hessian = design.T @ (design * w[:, None])
        try:
            step = np.linalg.solve(hessian, design.T @ (y - prob))
        except np.linalg.LinAlgError:
            break
        coef += step
        if np.max(np.abs(step)) < tol:
            converged = True
            break
    prob = inverse_logit(design @ coef)
    try:
        cov = np.linalg.inv(design.T @ (design * (prob * (1 - prob))[:, None]))
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    except np.linalg.LinAlgError:
        se = np.full(coef.size, np.inf)
        converged = False
    return LogisticFit(coef=coef, se=se, prob=prob, converged=converged and
                       bool(np.isfinite(coef).all()))
