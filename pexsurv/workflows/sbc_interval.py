"""Simulation-based calibration of the piecewise-exponential model on interval-censored
data: replicate trials whose events are found at scheduled assessments.

The prior draws, the fixed priors, the ranks and their tests are those of
:func:`pexsurv.workflows.simulation_based_calibration`; only the replicate differs: each
simulated event time is found at the first assessment at or after it, recorded as the
interval (previous assessment, that assessment], and a subject whose event no assessment
before the end of follow-up found is censored at the last assessment (the last time known
to be event-free).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pexsurv.data import TrialData
from pexsurv.diagnostics.replicate import SubjectHazards, censoring_times, event_times
from pexsurv.diagnostics.sbc import SBCResult
from pexsurv.fitting import SamplerConfig
from pexsurv.models import PiecewiseExponential
from pexsurv.workflows.sbc import simulation_based_calibration

__all__ = ["assess", "interval_censored_sbc"]


def assess(t_event: np.ndarray, t_end: np.ndarray, visits: Sequence[float] | np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a trial assessing at ``visits`` records of true event times ``t_event`` with
    follow-up ending at ``t_end``: ``(time_lower, time, event)``.

    An event is found at the first visit at or after it, if that visit is no later than
    the end of follow-up, and recorded in (previous visit or 0, that visit]; otherwise the
    subject is censored at the last visit before the end of follow-up.

    Examples
    --------
    >>> lower, upper, event = assess(np.array([1.0, 7.0, 2.5]), np.array([9.0, 9.0, 2.9]),
    ...                              [2.0, 4.0, 6.0, 8.0])
    >>> lower.tolist(), upper.tolist(), event.tolist()
    ([0.0, 6.0, 2.0], [2.0, 8.0, 2.0], [1, 1, 0])
    """
    v = np.asarray(visits, dtype=float)
    if v.ndim != 1 or v.size == 0 or (np.diff(v) <= 0).any() or v[0] <= 0:
        raise ValueError("visits must be a non-empty increasing schedule of times > 0")
    if (t_end < v[0]).any():
        raise ValueError(f"{int((t_end < v[0]).sum())} subject(s) end follow-up before the "
                         f"first visit ({v[0]:g}): they would have no assessment")
    edges = np.r_[0.0, v]
    first = np.searchsorted(v, t_event, side="left")  # first visit >= the event
    found = (first < v.size) & (v[np.minimum(first, v.size - 1)] <= t_end)
    last = edges[np.searchsorted(v, t_end, side="right")]  # last visit <= the end
    upper = np.where(found, v[np.minimum(first, v.size - 1)], last)
    lower = np.where(found, edges[first], upper)
    return lower, upper, found.astype(np.int8)


def _replicate(data: TrialData, hazards: SubjectHazards, sample: int, visits: np.ndarray,
               rng: np.random.Generator) -> TrialData:
    """A trial of the design of ``data`` with events from prior draw ``sample``, found at
    ``visits``; follow-up ends as in the exact-time SBC."""
    t_event = event_times(np.exp(hazards.log_rates(np.array([sample]))), hazards.cuts, rng)[0]
    t_end = censoring_times(data, 1, rng)[0]
    lower, upper, event = assess(t_event, t_end, visits)
    return data.derive(np.ones(data.n, dtype=bool), time=upper, time_lower=lower, event=event,
                       censor_time=None if data.censor_time is None else t_end,
                       treatment_start=None, switch_time=None,
                       notes=(*data.notes, f"simulated from prior draw {sample} for SBC, "
                                           "events found at the visits"))


def interval_censored_sbc(
    spec: PiecewiseExponential,
    data: TrialData,
    n_sims: int,
    *,
    visits: Sequence[float] | np.ndarray,
    draws: int = 500,
    thin: int = 5,
    seed: int,
    config: SamplerConfig | None = None,
    progress: bool = True,
    alpha: float = 0.01,
    bins: int | None = None,
) -> SBCResult:
    """SBC of ``spec`` on trials whose events are found at the assessment ``visits``.

    :func:`pexsurv.workflows.simulation_based_calibration` (fixed priors resolved on
    ``data``, one compiled model, thinned ranks of the prior's parameters) with a
    replicate hook that interval-censors each replicate's events by :func:`assess`.
    Follow-up of the template's censored subjects ends at their observed time, of its
    subjects with an event at a reverse Kaplan-Meier draw beyond it, so every follow-up end
    is at or after the first visit when the template was assessed at the same schedule.

    Parameters
    ----------
    spec : PiecewiseExponential
        ``exposure="assigned"``, aggregated likelihood.
    data : TrialData
        Template trial (with or without ``time_lower``): design, censoring, prior centre.
    n_sims : int
    visits : array_like
        The assessment schedule, increasing.
    draws, thin, seed, config, progress, alpha, bins
        As in :func:`~pexsurv.workflows.simulation_based_calibration`.

    Returns
    -------
    SBCResult

    Examples
    --------
    >>> sbc = interval_censored_sbc(PiecewiseExponential(cuts=[2.0]), data, 100,
    ...                             visits=np.arange(1, 60) * 1.4, seed=1)  # doctest: +SKIP
    """
    v = np.asarray(visits, dtype=float)

    def at_visits(template: TrialData, hazards: SubjectHazards, j: int,
                  rng: np.random.Generator) -> TrialData:
        return _replicate(template, hazards, j, v, rng)

    # the template's prior centre counts events at the visit that found them
    return simulation_based_calibration(
        spec, data.date_events("visit"), n_sims, draws=draws, thin=thin, seed=seed,
        config=config, progress=progress, alpha=alpha, bins=bins, replicate=at_visits,
        settings={"visits": v.tolist()})
