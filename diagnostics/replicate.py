"""Replicate trials from a fitted piecewise-exponential model: each subject's posterior
hazards, event times drawn from them, and censoring as the real trial had it. Shared by the
posterior predictive checks and simulation-based calibration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pexsurv import _names as N
from pexsurv import pe
from pexsurv.data import TrialData
from pexsurv.km import kaplan_meier
from pexsurv.models import PiecewiseExponential, hazard_by_arm
from pexsurv.models.design import covariate_matrix

if TYPE_CHECKING:
    from pexsurv.fitting import FitResult

__all__ = ["SubjectHazards", "censoring_times", "event_times", "require_replicable"]


# --------------------------------------------------------------------------- posterior rates
def require_replicable(spec: Any, what: str, advice: str = "") -> None:
    """Refuse specs whose replicate trials cannot be simulated: only a
    :class:`~pexsurv.models.PiecewiseExponential` with ``exposure="assigned"`` qualifies.

    Examples
    --------
    >>> require_replicable(PiecewiseExponential(cuts=[1.0], exposure="received"), "SBC")
    Traceback (most recent call last):
    ...
    ValueError: SBC supports exposure='assigned' only: ...
    """
    if not isinstance(spec, PiecewiseExponential):
        raise ValueError(f"{what} supports PiecewiseExponential models, not "
                         f"{type(spec).__name__}")
    if spec.exposure != "assigned":
        raise ValueError(
            f"{what} supports exposure='assigned' only: a replicate trial under "
            "exposure='received' needs each subject's treatment start and switch times beyond "
            f"the observed follow-up, which the data do not hold. {advice}".rstrip())


@dataclass(frozen=True, eq=False)
class SubjectHazards:
    """Each subject's log hazard per baseline interval, for any posterior sample.

    ``log_hazard`` has axes ``(sample, arm, stratum, interval)``; subjects index it by their
    arm and stratum codes and add their covariate term ``x @ beta`` (``x`` centred as in the
    model's design).
    """

    log_hazard: np.ndarray
    arm: np.ndarray
    stratum: np.ndarray
    x: np.ndarray
    beta: np.ndarray | None
    cuts: np.ndarray

    @classmethod
    def from_result(cls, result: FitResult) -> SubjectHazards:
        spec, data = result.spec, result.data
        require_replicable(spec, "posterior predictive checks",
                           "Compare such fits with pexsurv.diagnostics.loo instead.")
        haz = hazard_by_arm(result).sel({N.ARM: list(data.arms)})
        if N.STRATUM in haz.dims:
            haz = haz.sel({N.STRATUM: list(data.stratum_levels)})
            stratum = data.stratum_index()
        else:
            haz = haz.expand_dims({N.STRATUM: ["all"]})
            stratum = np.zeros(data.n, dtype=np.int64)
        haz = haz.stack(sample=N.SAMPLE_DIMS).transpose("sample", N.ARM, N.STRATUM, N.INTERVAL)
        x, names, _ = covariate_matrix(data, spec.covariates)
        beta = None
        if names:
            post = result.posterior[N.BETA].sel({N.COVARIATE: names})
            beta = post.stack(sample=N.SAMPLE_DIMS).transpose("sample", N.COVARIATE).values
        return cls(log_hazard=np.log(haz.values), arm=np.asarray(data.arm, dtype=np.int64),
                   stratum=stratum, x=x, beta=beta, cuts=np.asarray(spec.cut_array))

    @property
    def n_samples(self) -> int:
        return int(self.log_hazard.shape[0])

    def log_rates(self, samples: np.ndarray) -> np.ndarray:
        """Log hazards of shape ``(len(samples), subjects, intervals)``."""
        out = self.log_hazard[samples][:, self.arm, self.stratum, :]
        if self.beta is not None:
            out = out + (self.beta[samples] @ self.x.T)[..., None]
        return out


# --------------------------------------------------------------------------- replicate trials
def event_times(rates: np.ndarray, cuts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Piecewise-exponential event times, one per row of ``rates`` (interval axis last),
    drawn with :func:`pexsurv.pe.event_times` (the simulator's sampler)."""
    return pe.event_times(rng.standard_exponential(rates.shape[:-1]), cuts, rates)


def _reverse_km_draws(time: np.ndarray, event: np.ndarray, after: np.ndarray, size: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Censoring times drawn from the reverse Kaplan-Meier estimate of the censoring
    distribution, conditional on censoring coming no earlier than ``after`` (a subject seen
    to have the event at t was still under follow-up at t). Shape ``(size, len(after))``;
    ``inf`` where the draw falls in the mass beyond the last censoring time.
    """
    u, g = kaplan_meier(time, 1 - np.asarray(event))
    if u.size == 0:  # nobody censored: follow-up was complete
        return np.full((size, after.size), np.inf)
    idx = np.searchsorted(u, after, side="left") - 1
    g_before = np.where(idx >= 0, g[np.clip(idx, 0, None)], 1.0)
    v = rng.random((size, after.size)) * g_before
    # C = the first censoring time with G(C) <= v, so that P(C > c) = G(c) / G(after-).
    first = np.searchsorted(-g, -v, side="left")
    return np.where(first < u.size, u[np.minimum(first, u.size - 1)], np.inf)


def censoring_times(data: TrialData, size: int, rng: np.random.Generator) -> np.ndarray:
    """Censoring time of every subject in ``size`` replicate trials, shape ``(size, n)``.

    Censored subjects keep their observed censoring time. Subjects with an event are
    censored at ``data.censor_time`` when the data give it, else at a time drawn from their
    arm's reverse Kaplan-Meier censoring distribution beyond their event time.
    """
    out = np.tile(np.asarray(data.time, dtype=float), (size, 1))
    had_event = data.event == 1
    if data.censor_time is not None:
        out[:, had_event] = data.censor_time[had_event]
        return out
    for code in (N.REFERENCE, N.EXPERIMENTAL):
        in_arm = data.arm == code
        idx = np.nonzero(in_arm & had_event)[0]
        out[:, idx] = _reverse_km_draws(data.time[in_arm], data.event[in_arm], data.time[idx],
                                        size, rng)
    return out
