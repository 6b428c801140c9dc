"""Named scenarios: the CT041-like trial (calibrated to published results) and a trial with
exact RPSFT structure for the crossover tests and studies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from pexsurv.data import TrialData
from pexsurv.simulate.engine import SimulatedTrial, simulate_trial
from pexsurv.simulate.summaries import summarize_trial

__all__ = ["CT041_LIKE_PARAMS", "CT041_TARGETS", "CT041_UPDATED_CUT", "SCENARIOS",
           "simulate_ct041_like", "simulate_rpsft", "summarize_ct041"]


CT041_TARGETS: Mapping[str, float] = MappingProxyType({
    "never_treated": 16.0,
    "switched": 20.0,
    "pfs_median_experimental": 3.25,
    "pfs_median_control": 1.77,
    "pfs_median_experimental_mitt": 4.37,
    "pfs_hr_itt": 0.366,
    "pfs_hr_mitt": 0.304,
    "os_median_experimental": 7.92,
    "os_median_control": 5.49,
    "os_median_experimental_mitt": 8.61,
    "os_hr_itt": 0.693,
    "os_hr_mitt": 0.601,
    "os_followup_experimental": 14.42,
    "os_followup_control": 11.33,
    "os_hr_rpsft_itt": 0.47,
    "os_hr_rpsft_mitt": 0.37,
    "os_median_ratio_rpsft_itt": 2.0,
    "os_median_received_experimental": 9.17,
    "os_median_control_not_switched": 3.98,
    "os_median_difference_itt_updated": 2.7,
    "os_median_difference_mitt_updated": 4.0,
})
"""Published CT041-ST-01 results (Qi et al., Lancet 2025; ASCO 2025): 104 vs 52
randomized, counts of patients never infused and of control patients who crossed over,
Kaplan-Meier medians (months), Cox hazard ratios and reverse Kaplan-Meier median OS
follow-up. ``*_mitt``: patients who started their assigned therapy. Crossover-adjusted OS
(RPSFT): a 53% (ITT) and 63% (mITT) reduction in the risk of death, with the median OS
"approximately doubled" against control (``os_median_ratio_rpsft_itt``). Naive as-treated
median OS: 9.17 months for the 108 patients who received CAR-T (88 infused + 20
switchers), 3.98 for the control patients never infused. ``*_updated``: the updated data
cut, about 5 months later (:data:`CT041_UPDATED_CUT`), median OS difference CAR-T minus
control. Keys as :func:`summarize_ct041` returns them."""

CT041_UPDATED_CUT: float = 5.0
"""Months between the primary and the updated data cut of the CT041-like trial."""

CT041_LIKE_PARAMS: Mapping[str, Any] = MappingProxyType({
    "n": 156,
    "allocation": (2, 1),
    "arm_labels": ("car-t", "control"),
    "progression": ((1.0, 3.0), (0.1682, 0.7661, 0.5449)),
    "death_pre_progression": ((), (0.01,)),
    "death_post_progression": ((3.0,), (0.2326, 0.2034)),
    "hr_pfs": (0.3238, 0.272),
    "hr_cuts": (3.0,),
    "hr_post_progression": 1.084,
    "experimental_effect": "hazard",
    "psi": -0.51,
    "manufacturing_mean": 0.8095,
    "manufacturing_sd": 0.15,
    "switch_prob": 0.4908,
    "switch_lag_mean": 1.0,
    "accrual": 28.0,
    "cutoff": 30.0,
    "dropout_rate": 0.01,
})


def simulate_ct041_like(seed: int = 279) -> SimulatedTrial:
    """A synthetic trial shaped like CT041-ST-01 (CAR-T vs physician's choice, gastric
    cancer): :func:`simulate_trial` with :data:`CT041_LIKE_PARAMS`, at the primary data
    cut (``.at_cutoff(cutoff + CT041_UPDATED_CUT)`` gives the updated one).

    Calibrated so that, over replicates, the counts, medians and hazard ratios sit near
    :data:`CT041_TARGETS` (see ``benchmarks/calibrate_ct041.md``). The data are
    SYNTHETIC: no patient-level data of the trial were used. The default seed is the
    realisation shipped as :func:`pexsurv.datasets.ct041_like`.

    Examples
    --------
    >>> sim = simulate_ct041_like()
    >>> sim.data["arm"].value_counts().to_dict()
    {'car-t': 104, 'control': 52}
    """
    return simulate_trial(**CT041_LIKE_PARAMS, seed=seed)


def summarize_ct041(sim: SimulatedTrial, *, hazard_ratios: bool = True,
                    gestimate: Callable[[TrialData], Any] | None = None) -> dict[str, float]:
    """:func:`summarize_trial` of the primary cut plus the median OS differences at the
    updated cut (``*_updated``, :data:`CT041_UPDATED_CUT` months later, same patients):
    every key of :data:`CT041_TARGETS` (the RPSFT ones only with ``gestimate``).

    Examples
    --------
    >>> out = summarize_ct041(simulate_ct041_like(), hazard_ratios=False)
    >>> out["os_median_difference_itt_updated"] > 0
    True
    """
    out = summarize_trial(sim, hazard_ratios=hazard_ratios, gestimate=gestimate)
    updated = summarize_trial(sim.at_cutoff(sim.params["cutoff"] + CT041_UPDATED_CUT),
                              hazard_ratios=False)
    for population in ("itt", "mitt"):
        key = f"os_median_difference_{population}"
        out[f"{key}_updated"] = updated[key]
    return out


SCENARIOS: Mapping[str, Callable[..., SimulatedTrial]] = MappingProxyType(
    {"ct041_like": simulate_ct041_like})
"""Named scenarios for the command line: name -> function of ``seed``."""


def simulate_rpsft(n: int, *, seed: int, psi: float = -0.5,
                   switching: bool = True) -> TrialData:
    """A trial with exact RPSFT structure and prognosis-driven switching.

    1:1 randomisation; untreated time ``U ~ Exp(mean 2)``; experimental ``T = U exp(-psi)``;
    administrative censoring ``C ~ Uniform(2, 5)``. A control patient switches with
    probability ``min(U / 3, 0.9)`` at a uniform 0.2-0.8 fraction of ``U`` and then lives
    on treatment time: switch times carry prognosis (the sickest rarely switch), the case
    where likelihoods that condition on switching are biased. Because ``U`` is exponential
    the no-switch hazard ratio is exactly ``exp(psi)``. Used by the tests, the RPSFT
    benchmark and the validation study.

    Parameters
    ----------
    n : int
    seed : int
    psi : float
        True log acceleration factor (< 0: treatment extends survival).
    switching : bool
        ``False`` gives the same trial without switching (the no-switch truth).

    Returns
    -------
    TrialData
        With ``switch_time`` (observed switches only) and ``censor_time``; arm 0 = control.

    Examples
    --------
    >>> data = simulate_rpsft(200, seed=1)
    >>> data.n, int(np.isfinite(data.switch_time).sum()) > 0
    (200, True)
    """
    rng = np.random.default_rng(seed)
    arm = rng.permutation(np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)])
    u = rng.exponential(2.0, n)
    c = rng.uniform(2.0, 5.0, n)
    switch_frac = rng.uniform(0.2, 0.8, n)
    switches = (arm == 0) & (rng.uniform(size=n) < np.clip(u / 3.0, 0, 0.9)) & switching
    s = switch_frac * u
    t = np.where(arm == 1, u * np.exp(-psi), np.where(switches, s + (u - s) * np.exp(-psi), u))
    time = np.minimum(t, c)
    frame = pd.DataFrame({"id": np.arange(n), "arm": arm, "time": time,
                          "event": (t <= c).astype(int),
                          "switch_time": np.where(switches & (s < time), s, np.nan),
                          "censor_time": c})
    return TrialData.from_dataframe(frame, time="time", event="event", arm="arm", reference=0,
                                    id="id", switch_time="switch_time",
                                    censor_time="censor_time")
