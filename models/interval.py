"""The interval-censored part of the piecewise-exponential likelihood.

An event known only to lie in ``(L, R]`` (progression found at the assessment ``R``, the
last assessment without it at ``L``) contributes

.. math::

    \\log P(L < T \\le R) = \\log\\{S(L) - S(R)\\}
    = -H(L) + \\log\\{1 - e^{-\\Delta H}\\},\\qquad \\Delta H = H(R) - H(L).

The first term is the contribution of a subject censored at ``L``: it joins the sufficient
statistics (person-time per interval x group, no event), so exact and censored rows and
this part of the interval-censored rows keep the cheap aggregated likelihood. Only the
second term is per subject: :class:`IntervalRows` holds, for every subject, the person-time
of ``(L, R]`` in each baseline interval, split by treatment state, so that ``Delta H`` is a
weighted sum of interval hazards. Its rows are all subjects of the data (zero weights
and flag for the others), so the shapes depend on the number of subjects only and one
compiled model serves every data set of that size (SBC, sweeps).

``log(1 - exp(-x))`` is evaluated as ``log(-expm1(-x))`` for ``x < log 2`` and as
``log1p(-exp(-x))`` above (Maechler 2012, "Accurately computing log(1 - exp(-|a|))"), as
PyTensor's ``log1mexp`` does in the graph: ``1 - exp(-x)`` would cancel for small ``x``
(short intervals, low hazards).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from pexsurv.data import TrialData
from pexsurv.intervals import exposure_matrix, warn_unsupported_intervals

__all__ = ["IC_EVENTS", "IC_SUBJECT", "IntervalRows", "interval_hazard", "interval_log_likelihood",
           "interval_rows"]

# Graph names: the per-subject observation "the event happened by R, given event-free at
# L", and the dimension of its rows.
IC_EVENTS = "interval_events"
IC_SUBJECT = "ic_subject"


@dataclass(frozen=True, eq=False)
class IntervalRows:
    """Per-subject inputs of the interval-censored likelihood term.

    Attributes
    ----------
    flag : numpy.ndarray
        1 for subjects whose event is interval-censored (``time_lower < time``), else 0;
        shape ``(rows,)``. ``rows`` is the number of subjects when any event is
        interval-censored, else 0 (the term is absent).
    exposure_off, exposure_on : numpy.ndarray
        Person-time of ``(time_lower, time]`` in each baseline interval off and on
        experimental therapy (the assigned arm for ``exposure="assigned"``), shape
        ``(rows, K)``; zero for subjects not flagged.
    stratum : numpy.ndarray
        Stratum code per row (0 when unstratified).
    x : numpy.ndarray
        Covariate design per row, centred as in :class:`~pexsurv.models.design.PEMDesign`.
    """

    flag: np.ndarray
    exposure_off: np.ndarray
    exposure_on: np.ndarray
    stratum: np.ndarray
    x: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.flag.size)


def interval_rows(data: TrialData, cuts: np.ndarray, episodes: tuple[np.ndarray, ...],
                  stratum: np.ndarray, x: np.ndarray) -> IntervalRows:
    """The interval-censored rows of ``data``.

    ``episodes`` is ``(subject position, start, stop, event, treat)`` per therapy episode
    over the whole follow-up (as :func:`pexsurv.models.design.build_design` builds them);
    each episode's overlap with its subject's ``(time_lower, time]`` is counted on or off
    therapy. ``stratum`` and ``x`` are per subject. Warns
    (:class:`~pexsurv.intervals.IntervalSupportWarning`) when the data barely rule out a
    zero hazard in an interval of ``cuts`` (:func:`~pexsurv.intervals.zero_hazard_support`),
    or when it holds no observation time.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"lo": [1.0, 3.0], "t": [3.0, 3.0], "e": [1, 0], "a": [1, 0]})
    >>> d = TrialData.from_dataframe(df, time="t", event="e", arm="a", time_lower="lo")
    >>> ep = (np.arange(2), np.zeros(2), d.time, d.event, d.arm.astype(float))
    >>> import warnings  # two subjects barely inform the hazards
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     rows = interval_rows(d, np.array([2.0]), ep, np.zeros(2, int), np.zeros((2, 0)))
    >>> rows.flag.tolist(), rows.exposure_on.tolist(), rows.exposure_off.tolist()
    ([1, 0], [[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]])
    """
    k = cuts.size + 1
    ic = data.interval_censored
    if not ic.any():
        return IntervalRows(flag=np.zeros(0, dtype=np.int64), exposure_off=np.zeros((0, k)),
                            exposure_on=np.zeros((0, k)), stratum=np.zeros(0, dtype=np.int64),
                            x=np.zeros((0, x.shape[1])))
    # Cuts between two assessments leave hazards the data do not identify: say so before
    # sampling rather than after a failed convergence check.
    warn_unsupported_intervals(data, cuts)
    subj, start, stop, _, treat = episodes
    lower, upper = data.time_lower[subj], data.time[subj]
    # Each episode's part inside (L, R]; empty for episodes outside it and for exact rows.
    lo, hi = np.clip(start, lower, upper), np.clip(stop, lower, upper)
    w = exposure_matrix(lo, hi, cuts) * ic[subj][:, None]
    on, off = np.zeros((data.n, k)), np.zeros((data.n, k))
    np.add.at(on, subj, w * treat[:, None])
    np.add.at(off, subj, w * (1.0 - treat)[:, None])
    return IntervalRows(flag=ic.astype(np.int64), exposure_off=off, exposure_on=on,
                        stratum=np.asarray(stratum, dtype=np.int64), x=np.asarray(x, dtype=float))


def interval_hazard(base: Any, effect: Any, beta: Any, rows: Any, *, stratified: bool,
                    xp: ModuleType = np) -> Any:
    """``Delta H = H(time) - H(time_lower)`` of every row, for NumPy draws (leading sample
    axes) or PyTensor variables (``xp=pytensor.tensor``) alike.

    ``base``, ``effect`` and ``beta`` are as in
    :func:`pexsurv.models.design.linear_predictor`; ``rows`` has the attributes of
    :class:`IntervalRows` (arrays or ``pm.Data`` inputs).
    """
    b = base[..., rows.stratum, :] if stratified else base[..., None, :]
    if beta is not None:
        b = b + (beta[..., None, :] * rows.x).sum(axis=-1)[..., None]
    e = effect[..., None, :]
    return (xp.exp(b) * rows.exposure_off + xp.exp(b + e) * rows.exposure_on).sum(axis=-1)


def interval_log_likelihood(delta_h: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """``log(1 - exp(-Delta H))`` where ``flag`` is set, else 0 (NumPy).

    Examples
    --------
    >>> ll = interval_log_likelihood(np.array([1e-12, 50.0, 0.0]), np.array([1, 1, 0]))
    >>> [float(f"{v:.6g}") for v in ll]
    [-27.631, -1.92875e-22, 0.0]
    """
    safe = np.where(flag > 0, delta_h, 1.0)
    small = safe < np.log(2.0)
    out = np.where(small, np.log(-np.expm1(-np.where(small, safe, 1.0))),
                   np.log1p(-np.exp(-np.where(small, 1.0, safe))))
    return np.where(flag > 0, out, 0.0)
