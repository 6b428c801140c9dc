"""A trial in which control patients switch at progression, for two-stage estimation.

The scenario where the simple two-stage method's assumptions hold exactly: switching happens
at the secondary baseline (progression) and depends only on a prognostic marker measured
there, and post-progression survival follows a Weibull accelerated failure time model in
that marker and the switch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pexsurv.data import TrialData

__all__ = ["SwitchAtProgression", "simulate_switch_at_progression"]


@dataclass(frozen=True, eq=False)
class SwitchAtProgression:
    """A simulated trial with its secondary baseline.

    Attributes
    ----------
    data : TrialData
        Overall survival with ``switch_time`` (control switchers, at progression) and
        ``censor_time``; arm 0 = control.
    secondary_baseline : numpy.ndarray
        Observed progression time per subject (NaN: no progression within follow-up).
    baseline_covariates : pandas.DataFrame
        ``marker`` measured at progression (NaN without progression), one row per subject.
    frame : pandas.DataFrame
        Everything, including the latent untreated times (``untreated_time``).
    """

    data: TrialData
    secondary_baseline: np.ndarray
    baseline_covariates: pd.DataFrame
    frame: pd.DataFrame


def simulate_switch_at_progression(
        n: int, *, seed: int, psi: float = -0.5, switching: bool = True,
        marker_effect: float = -0.5, switch_logit: tuple[float, float] = (0.5, -1.0),
        post_shape: float = 1.5) -> SwitchAtProgression:
    """Simulate switching at progression driven by a marker measured at progression.

    1:1 randomisation. Untreated time to progression ``P ~ Exp(mean 1)``; a marker
    ``X ~ N(0, 1)`` measured at progression; untreated post-progression survival
    ``R = exp(marker_effect * X) W`` with ``W`` Weibull (shape ``post_shape``, scale 1),
    so that ``log R`` follows a Weibull AFT model in ``X``. The experimental arm lives
    ``exp(-psi)`` times longer throughout: ``T = exp(-psi) (P + R)``. A control patient
    switches at progression with probability ``expit(a + b X)`` (``switch_logit = (a, b)``),
    after which the remaining time is ``exp(-psi) R``. Administrative censoring
    ``C ~ Uniform(3, 6)``. Switching depends on ``X`` only, and ``X`` is prognostic, so
    switchers differ from non-switchers (the default favours low-marker, longer-living
    patients) and only an adjustment for ``X`` at progression is unbiased.

    Parameters
    ----------
    n : int
    seed : int
    psi : float
        True log acceleration factor of the experimental therapy (both arms).
    switching : bool
        ``False``: the same trial (same draws) without switching, the no-switch truth.
    marker_effect, switch_logit, post_shape
        See above.

    Returns
    -------
    SwitchAtProgression

    Examples
    --------
    >>> sim = simulate_switch_at_progression(300, seed=1)
    >>> sim.data.n, bool(np.isfinite(sim.data.switch_time).any())
    (300, True)
    >>> ok = np.isfinite(sim.data.switch_time)
    >>> bool((sim.data.switch_time[ok] == sim.secondary_baseline[ok]).all())
    True
    """
    rng = np.random.default_rng(seed)
    arm = rng.permutation(np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)])
    progression = rng.exponential(1.0, n)
    marker = rng.standard_normal(n)
    post = np.exp(marker_effect * marker) * rng.weibull(post_shape, n)
    censor = rng.uniform(3.0, 6.0, n)
    p_switch = 1.0 / (1.0 + np.exp(-(switch_logit[0] + switch_logit[1] * marker)))
    switches = (arm == 0) & (rng.uniform(size=n) < p_switch) & switching
    gain = np.exp(-psi)
    prog = np.where(arm == 1, gain * progression, progression)
    t = np.where(arm == 1, gain * (progression + post),
                 progression + np.where(switches, gain * post, post))
    time = np.minimum(t, censor)
    progressed = prog < censor  # progression precedes death by construction
    baseline = np.where(progressed, prog, np.nan)
    frame = pd.DataFrame({
        "id": np.arange(n), "arm": arm, "time": time, "event": (t <= censor).astype(int),
        "switch_time": np.where(switches & progressed, prog, np.nan), "censor_time": censor,
        "progression_time": baseline, "marker": np.where(progressed, marker, np.nan),
        "untreated_time": progression + post})
    data = TrialData.from_dataframe(frame, time="time", event="event", arm="arm", reference=0,
                                    id="id", switch_time="switch_time",
                                    censor_time="censor_time")
    return SwitchAtProgression(data=data, secondary_baseline=baseline,
                               baseline_covariates=frame[["marker"]].copy(), frame=frame)
