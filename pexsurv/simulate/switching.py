"""Trials with treatment switching built so that one adjustment's assumptions hold exactly.

:func:`simulate_switch_at_progression` (two-stage estimation; with its defaults every
adjustment's assumptions hold): switching happens at the secondary baseline (progression)
and depends only on a prognostic marker measured there, and post-progression survival
follows a Weibull accelerated failure time model in that marker and the switch; options
delay the switch or shrink the switchers' effect. :func:`simulate_time_varying_switching` (IPCW): switching at any visit
depends on the current value of a time-varying prognostic marker, recorded in a long table.
:func:`simulate_two_way_switching` (RPSFT, IPE): exact RPSFT structure with crossover in the
control arm and switches away from therapy in the experimental arm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pexsurv.data import TrialData
from pexsurv.longdata import LongData

__all__ = ["SwitchAtProgression", "TimeVaryingSwitching", "simulate_switch_at_progression",
           "simulate_time_varying_switching", "simulate_two_way_switching"]


@dataclass(frozen=True, eq=False)
class SwitchAtProgression:
    """A simulated trial with its secondary baseline.

    Attributes
    ----------
    data : TrialData
        Overall survival with ``switch_time`` (control switchers, at their switching
        decision) and ``censor_time``; arm 0 = control.
    secondary_baseline : numpy.ndarray
        Observed progression time per subject (NaN: no progression within follow-up).
    baseline_covariates : pandas.DataFrame
        ``marker`` measured at progression (NaN without progression), one row per subject.
    long : LongData
        The marker as a time-varying covariate ``marker`` for IPCW: rows ``[0, D)`` and
        ``[D, T)`` split at the switching decision ``D`` (progression plus the delay), the
        only time a control patient can switch.
    frame : pandas.DataFrame
        Everything, including the latent untreated times (``untreated_time``).
    """

    data: TrialData
    secondary_baseline: np.ndarray
    baseline_covariates: pd.DataFrame
    long: LongData
    frame: pd.DataFrame


def simulate_switch_at_progression(
        n: int, *, seed: int, psi: float = -0.5, switching: bool = True,
        marker_effect: float = -0.5, switch_logit: tuple[float, float] = (0.5, -1.0),
        post_shape: float = 1.5, switch_delay: float = 0.0,
        switch_effect: float = 1.0) -> SwitchAtProgression:
    """Simulate switching at (or after) progression driven by a marker measured there.

    1:1 randomisation. Untreated time to progression ``P ~ Exp(mean 1)``; a marker
    ``X ~ N(0, 1)`` measured at progression; untreated post-progression survival
    ``R = exp(marker_effect * X) W`` with ``W`` Weibull (shape ``post_shape``, scale 1),
    so that ``log R`` follows a Weibull AFT model in ``X``. The experimental arm lives
    ``exp(-psi)`` times longer throughout: ``T = exp(-psi) (P + R)``. A control patient
    alive and uncensored at the switching decision ``P + E`` (``E ~ Exp(mean
    switch_delay)``; 0: at progression) switches there with probability ``expit(a + b X)``
    (``switch_logit = (a, b)``), after which the remaining time is
    ``exp(-switch_effect * psi) (R - E)``. Administrative censoring ``C ~ Uniform(3, 6)``.
    Switching depends on ``X`` only, and ``X`` is prognostic, so switchers differ from
    non-switchers (the default favours low-marker, longer-living patients) and only an
    adjustment for ``X`` is unbiased.

    With the defaults every adjustment's assumption holds: RPSFT/IPE (a common effect,
    ``switch_effect = 1``), TSE (switching at the secondary baseline, ``switch_delay = 0``,
    no unmeasured confounding there) and IPCW (switching depends on the measured marker).
    ``switch_delay > 0`` breaks TSE only (switchers must survive the delay: immortal time
    in its stage 1); ``switch_effect != 1`` breaks RPSFT and IPE only.

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
    switch_delay : float
        Mean delay from progression to the switching decision (0: at progression).
    switch_effect : float
        Fraction of ``psi`` a control switcher receives (1: common treatment effect).

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
    >>> late = simulate_switch_at_progression(300, seed=1, switch_delay=0.5)
    >>> ok = np.isfinite(late.data.switch_time)
    >>> bool((late.data.switch_time[ok] > late.secondary_baseline[ok]).all())
    True
    """
    if not switch_delay >= 0.0:
        raise ValueError(f"switch_delay must be a mean delay >= 0, got {switch_delay}")
    rng = np.random.default_rng(seed)
    arm = rng.permutation(np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)])
    progression = rng.exponential(1.0, n)
    marker = rng.standard_normal(n)
    post = np.exp(marker_effect * marker) * rng.weibull(post_shape, n)
    censor = rng.uniform(3.0, 6.0, n)
    p_switch = 1.0 / (1.0 + np.exp(-(switch_logit[0] + switch_logit[1] * marker)))
    u_switch = rng.uniform(size=n)
    # Drawn last so that the draws above (and the trials of earlier versions) are unchanged.
    delay = switch_delay * rng.standard_exponential(n)
    gain = np.exp(-psi)
    prog = np.where(arm == 1, gain * progression, progression)
    decision = prog + delay  # the control arm is untreated until then
    switches = ((arm == 0) & (u_switch < p_switch) & (post > delay) & (decision < censor)
                & switching)
    t = np.where(arm == 1, gain * (progression + post),
                 progression + np.where(switches, delay + np.exp(-switch_effect * psi)
                                        * (post - delay), post))
    time = np.minimum(t, censor)
    progressed = prog < censor  # progression precedes death by construction
    baseline = np.where(progressed, prog, np.nan)
    frame = pd.DataFrame({
        "id": np.arange(n), "arm": arm, "time": time, "event": (t <= censor).astype(int),
        "switch_time": np.where(switches, decision, np.nan), "censor_time": censor,
        "progression_time": baseline, "marker": np.where(progressed, marker, np.nan),
        "untreated_time": progression + post})
    data = TrialData.from_dataframe(frame, time="time", event="event", arm="arm", reference=0,
                                    id="id", switch_time="switch_time",
                                    censor_time="censor_time")
    # The marker is carried from randomization: only the row starting at the decision
    # enters IPCW's switching model (rows from 0 carry no risk of switching).
    split = decision < time
    ids = np.r_[np.arange(n), np.flatnonzero(split)]
    long_frame = pd.DataFrame({"id": ids,
                               "tstart": np.r_[np.zeros(n), decision[split]],
                               "tstop": np.r_[np.where(split, decision, time), time[split]],
                               "marker": marker[ids]}).sort_values(["id", "tstart"])
    long = LongData.from_dataframe(long_frame, data, covariates=["marker"])
    return SwitchAtProgression(data=data, secondary_baseline=baseline,
                               baseline_covariates=frame[["marker"]].copy(), long=long,
                               frame=frame)


@dataclass(frozen=True, eq=False)
class TimeVaryingSwitching:
    """A simulated trial whose control patients switch when a time-varying marker worsens.

    Attributes
    ----------
    data : TrialData
        Overall survival with ``switch_time`` (control switchers, at a visit),
        ``censor_time`` and the baseline marker as covariate ``marker0``; arm 0 = control.
    long : LongData
        The marker's history, one row per visit interval within follow-up
        (``[visit, next visit)``, covariate ``marker``).
    frame : pandas.DataFrame
        Per patient: everything, including ``untreated_time`` (the death time had nobody
        received the experimental therapy).
    """

    data: TrialData
    long: LongData
    frame: pd.DataFrame


def simulate_time_varying_switching(
        n: int, *, seed: int, log_hr: float = -0.5, switching: bool = True,
        visit_interval: float = 0.25, horizon: float = 6.0, base_hazard: float = 0.3,
        marker_effect: float = 0.8, marker_drift_sd: float = 0.35,
        switch_logit: tuple[float, float] = (-2.5, 1.0)) -> TimeVaryingSwitching:
    """Simulate switching driven by a time-varying prognostic marker (the IPCW setting).

    1:1 randomisation. Each patient has a marker ``X(t)``: ``X_0 ~ N(0, 1)`` at
    randomization and a random walk over visits every ``visit_interval``
    (increments ``N(0, marker_drift_sd^2)``), unaffected by treatment; it is constant between
    visits. The hazard of death is ``base_hazard * exp(marker_effect * X(t) + log_hr * A(t))``
    with ``A(t) = 1`` while on experimental therapy (the experimental arm throughout, a
    control switcher from the switch). At every visit after randomization, a living,
    uncensored control patient who has not switched switches with probability
    ``expit(a + b X(visit))`` (``switch_logit = (a, b)``). Administrative censoring
    ``C ~ Uniform(3, horizon)``. Switching depends on the current marker only, which is
    prognostic: censoring switchers is informative, and weighting by the inverse
    probability of not switching given the marker history removes the bias
    (no unmeasured confounding holds when the marker is measured).

    Parameters
    ----------
    n : int
    seed : int
    log_hr : float
        True log hazard ratio of experimental therapy, conditional on the marker.
    switching : bool
        ``False``: the same trial (same draws) without switching, the no-switch truth.
    visit_interval, horizon, base_hazard, marker_effect, marker_drift_sd, switch_logit
        See above.

    Returns
    -------
    TimeVaryingSwitching

    Examples
    --------
    >>> sim = simulate_time_varying_switching(200, seed=1)
    >>> switched = np.isfinite(sim.data.switch_time)
    >>> bool(switched.any()), bool((sim.data.arm[switched] == 0).all())
    (True, True)
    >>> sim.long.n_rows > sim.data.n
    True
    """
    if not 3.0 < horizon:
        raise ValueError(f"horizon must exceed 3 (censoring is Uniform(3, horizon)), got {horizon}")
    rng = np.random.default_rng(seed)
    arm = rng.permutation(np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)])
    visits = np.arange(0.0, horizon, visit_interval)
    k = visits.size
    marker = rng.standard_normal(n)[:, None] + np.c_[
        np.zeros(n), np.cumsum(rng.normal(0.0, marker_drift_sd, (n, k - 1)), axis=1)]
    exhaustion = rng.standard_exponential(n)  # death when the cumulative hazard reaches it
    u_switch = rng.uniform(size=(n, k))
    censor = rng.uniform(3.0, horizon, n)
    ends = np.r_[visits[1:], horizon]

    def death_times(on: np.ndarray) -> np.ndarray:
        """Death time given the therapy indicator per patient and visit interval."""
        rate = base_hazard * np.exp(marker_effect * marker + log_hr * on)
        cum = np.cumsum(rate * (ends - visits), axis=1)
        before = np.c_[np.zeros(n), cum[:, :-1]]
        j = np.minimum((cum < exhaustion[:, None]).sum(axis=1), k - 1)
        rows = np.arange(n)
        # Past the horizon the last interval's hazard continues (censoring comes first).
        return visits[j] + (exhaustion - before[rows, j]) / rate[rows, j]

    treated = np.broadcast_to((arm == 1)[:, None], (n, k)).astype(float)
    untreated_time = death_times(np.zeros((n, k)))
    death = death_times(treated)
    switch = np.full(n, np.nan)
    if switching:
        # Walk the visits: a control patient alive and uncensored at a visit may switch
        # there; their death time then follows the treated hazard from that visit on.
        p_switch = 1.0 / (1.0 + np.exp(-(switch_logit[0] + switch_logit[1] * marker)))
        on = treated.copy()
        for v in range(1, k):
            at_risk = (arm == 0) & np.isnan(switch) & (death > visits[v]) & (censor > visits[v])
            now = at_risk & (u_switch[:, v] < p_switch[:, v])
            switch[now] = visits[v]
            on[now, v:] = 1.0
            if now.any():
                death[now] = death_times(on)[now]
    time = np.minimum(death, censor)
    frame = pd.DataFrame({"id": np.arange(n), "arm": arm, "time": time,
                          "event": (death <= censor).astype(int), "switch_time": switch,
                          "censor_time": censor, "marker0": marker[:, 0],
                          "untreated_time": untreated_time})
    data = TrialData.from_dataframe(frame, time="time", event="event", arm="arm", reference=0,
                                    id="id", switch_time="switch_time",
                                    censor_time="censor_time", covariates=["marker0"])
    inside = visits[None, :] < time[:, None]
    subj, visit = np.nonzero(inside)
    long_frame = pd.DataFrame({"id": subj, "tstart": visits[visit],
                               "tstop": np.minimum(ends[visit], time[subj]),
                               "marker": marker[subj, visit]})
    long = LongData.from_dataframe(long_frame, data, covariates=["marker"])
    return TimeVaryingSwitching(data=data, long=long, frame=frame)


def simulate_two_way_switching(n: int, *, seed: int, psi: float = -0.5,
                               switching: bool = True) -> TrialData:
    """A trial with exact RPSFT structure and switching in both arms.

    1:1 randomisation; untreated time ``U ~ Exp(mean 2)``; administrative censoring
    ``C ~ Uniform(2, 5)``. A control patient switches onto the experimental therapy with
    probability ``min(U / 3, 0.9)`` at a uniform 0.2-0.8 fraction of ``U`` (as
    :func:`pexsurv.simulate.simulate_rpsft`). An experimental patient stops it (switches
    away) with probability ``max(0.9 - U / 4, 0.2)`` (the sicker stop more often) at a
    uniform 0.1-0.5 fraction ``f`` of their treated lifetime ``exp(-psi) U``; having used
    ``exp(psi) s`` of ``U`` in the ``s`` months on therapy, they live
    ``T = s + (U - exp(psi) s)``. Both arms satisfy ``U = T_off + exp(psi) T_on`` exactly,
    and because ``U`` is exponential the no-switch hazard ratio is ``exp(psi)``.

    Parameters
    ----------
    n : int
    seed : int
    psi : float
        True log acceleration factor.
    switching : bool
        ``False`` gives the same trial without switching in either arm (the truth).

    Returns
    -------
    TrialData
        ``switch_time`` holds crossover (control) and switches away (experimental);
        ``censor_time`` the potential censoring time; arm 0 = control.

    Examples
    --------
    >>> data = simulate_two_way_switching(400, seed=1)
    >>> away = np.isfinite(data.switch_time) & (data.arm == 1)
    >>> bool(away.any()), bool(np.isfinite(data.switch_time[data.arm == 0]).any())
    (True, True)
    """
    rng = np.random.default_rng(seed)
    arm = rng.permutation(np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)])
    u = rng.exponential(2.0, n)
    c = rng.uniform(2.0, 5.0, n)
    fraction = np.where(arm == 0, rng.uniform(0.2, 0.8, n), rng.uniform(0.1, 0.5, n))
    draw = rng.uniform(size=n)
    gain = np.exp(-psi)
    cross = (arm == 0) & (draw < np.clip(u / 3.0, 0, 0.9)) & switching
    away = (arm == 1) & (draw < np.clip(0.9 - u / 4.0, 0.2, None)) & switching
    s = np.where(arm == 0, fraction * u, fraction * gain * u)
    t = np.where(arm == 1, np.where(away, s + (u - s / gain), gain * u),
                 np.where(cross, s + (u - s) * gain, u))
    time = np.minimum(t, c)
    frame = pd.DataFrame({"id": np.arange(n), "arm": arm, "time": time,
                          "event": (t <= c).astype(int),
                          "switch_time": np.where((cross | away) & (s < time), s, np.nan),
                          "censor_time": c})
    return TrialData.from_dataframe(frame, time="time", event="event", arm="arm", reference=0,
                                    id="id", switch_time="switch_time", censor_time="censor_time")
