r"""Simple two-stage estimation (TSE) of the effect of switching at a secondary baseline.

Latimer et al. [1]_: when control patients can switch only at or after a disease-related
secondary baseline ``B`` (usually progression),

1. among control patients who reached ``B``, an accelerated failure time model of survival
   after ``B`` (:mod:`pexsurv.models.rpsft.aft`) compares switchers with non-switchers,
   adjusted for covariates measured at ``B``; its switch coefficient ``beta`` gives
   ``psi = -beta``;
2. switchers' post-baseline time is shrunk by the acceleration factor,
   ``U = B + exp(psi) (T - B)``, and the control arm is recensored at
   ``C* = min(C, C exp(psi))`` (the RPSFT map of :mod:`pexsurv.models.rpsft.counterfactual`
   with the exposure starting at ``B``); the arms are then compared by a Cox model.

It rests on *no unmeasured confounding of switching at the secondary baseline* (all
prognostic factors that drive switching are measured at ``B`` and in the model) and on no
time-dependent confounding between ``B`` and the switch; it needs neither a common
treatment effect nor randomization-based estimation, but it ignores the uncertainty of
stage 1 unless the whole procedure is bootstrapped (``n_boot``), as the TSE literature does.
The options follow R's ``trtswitch::tsesimp`` (ideas only, no code).

References
----------
.. [1] Latimer NR, Abrams KR, Lambert PC, et al. Adjusting for treatment switching in
   randomised controlled trials - a simulation study and a simplified two-stage method.
   Stat Methods Med Res 2017;26:724-751.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pexsurv._names import EXPERIMENTAL, REFERENCE
from pexsurv.data import TrialData, TrialDataError, fail_rows
from pexsurv.logrank import logrank_z
from pexsurv.models.rpsft.aft import AftDist, aft_switch_estimate, check_dist, fit_aft
from pexsurv.models.rpsft.counterfactual import Counterfactual
from pexsurv.models.rpsft.estimate import SwitchEstimate, TrialArrays, bootstrap_intervals

__all__ = ["tse_counterfactual", "tse_simple"]

_SWITCHED = "switched"
# Names of the per-subject arrays carried through the bootstrap (besides covariates).
_STAGE1, _POST = "_stage1", "_post"


def _baseline(data: TrialData, secondary_baseline: Any) -> np.ndarray:
    """The secondary-baseline times, validated against the follow-up and the switches."""
    b = np.asarray(secondary_baseline, dtype=float)
    if b.shape != (data.n,):
        raise TrialDataError(f"secondary_baseline must hold one time per subject ({data.n}), "
                             f"in the order of the data; got shape {b.shape}")
    name, seen = "secondary_baseline", ~np.isnan(b)
    for bad, problem, fix in (
            (np.isinf(b), "infinite times", "use NaN for patients who never reached it"),
            (seen & (b < 0), "negative times", "times are measured from randomization"),
            (seen & (b > data.time), "time after the end of follow-up",
             "a secondary baseline after follow-up was not observed: set it to NaN")):
        if bad.any():
            fail_rows(name, problem, data.id, bad, fix)
    data.require("switch_time", "tse_simple()")
    switched = ~np.isnan(data.switch_time)
    away = switched & (data.arm == EXPERIMENTAL)
    if away.any():
        fail_rows("switch_time", "experimental-arm switches", data.id, away,
              "tse_simple adjusts control-arm crossover only (two-way switching is not "
              "supported): set these to NaN to analyse the experimental arm as randomized")
    ctl = switched & (data.arm == REFERENCE)
    for bad, problem, fix in (
            (ctl & ~seen, "control switchers without a secondary baseline",
             "TSE needs switching at or after the secondary baseline: give their progression "
             "time"),
            (ctl & seen & (data.switch_time < b), "switch before the secondary baseline",
             "TSE needs switching at or after the secondary baseline; check the times")):
        if bad.any():
            fail_rows(name, problem, data.id, bad, fix)
    return b


def _stage1_design(data: TrialData, stage1: np.ndarray,
                   covariates: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """Covariate columns measured at the secondary baseline (complete in stage-1 rows)."""
    if covariates is None:
        return {}
    if not isinstance(covariates, pd.DataFrame):
        raise TypeError(f"baseline_covariates must be a DataFrame, got "
                        f"{type(covariates).__name__}")
    if len(covariates) != data.n:
        raise TrialDataError(f"baseline_covariates must have one row per subject ({data.n}), "
                             f"in the order of the data; got {len(covariates)} rows")
    design = {}
    for name in covariates.columns:
        if name in (_SWITCHED, _STAGE1, _POST):
            raise ValueError(f"baseline_covariates column name {name!r} is reserved; rename it")
        values = covariates[name].to_numpy()
        if values.dtype.kind not in "biuf":
            raise TrialDataError(f"column '{name}' of baseline_covariates is not numeric "
                                 f"(dtype {values.dtype}). Fix: encode categories as 0/1 "
                                 "indicator columns")
        values = values.astype(float)
        missing = stage1 & ~np.isfinite(values)
        if missing.any():
            fail_rows(str(name), "missing or infinite values at the secondary baseline", data.id,
                  missing, "every control patient with a secondary baseline enters the "
                  "stage-1 model: give the value, or impute it explicitly")
        design[str(name)] = values
    return design


def _stage2_map(data: TrialData, b: np.ndarray, switched: np.ndarray, recensor: bool,
                autoswitch: bool) -> Counterfactual:
    """Stage 2 is the RPSFT map with the exposure starting at the secondary baseline."""
    exposed = data.derive(np.ones(data.n, dtype=bool), switch_time=np.where(switched, b, np.nan),
                          notes=data.notes + ("exposure from the secondary baseline",))
    return Counterfactual.from_data(exposed, recensor=recensor, autoswitch=autoswitch)


def tse_counterfactual(data: TrialData, secondary_baseline: Any, psi: float, *,
                       recensor: bool = True,
                       autoswitch: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Stage 2 of :func:`tse_simple` at a given ``psi``: the experimental arm as observed,
    control switchers' post-baseline time shrunk by ``exp(psi)`` and the control arm
    recensored; times and events per subject (what the Bayesian TSE refits for each draw
    of psi).

    Examples
    --------
    >>> from pexsurv.simulate.switching import simulate_switch_at_progression
    >>> sim = simulate_switch_at_progression(200, seed=1)
    >>> t0, _ = tse_counterfactual(sim.data, sim.secondary_baseline, 0.0, recensor=False)
    >>> bool((t0 == sim.data.time).all())
    True
    """
    b = _baseline(data, secondary_baseline)
    switched = (data.arm == REFERENCE) & ~np.isnan(b) & ~np.isnan(data.switch_time)
    arrays = TrialArrays.from_data(data, _stage2_map(data, b, switched, recensor, autoswitch))
    return arrays.adjusted(float(psi))


def _stage1(arrays: TrialArrays, covariates: list[str], dist: str) -> Any:
    """The stage-1 AFT fit on the subjects of ``arrays`` that reached the baseline."""
    rows = arrays.extra[_STAGE1]
    design = {_SWITCHED: arrays.extra[_SWITCHED][rows],
              **{c: arrays.extra[c][rows] for c in covariates}}
    return fit_aft(arrays.extra[_POST][rows], arrays.event[rows], design, _SWITCHED, dist)


def tse_simple(data: TrialData, secondary_baseline: Any,
               baseline_covariates: pd.DataFrame | None = None, *,
               aft_dist: AftDist = "weibull", recensor: bool = True, autoswitch: bool = True,
               alpha: float = 0.05, n_boot: int = 0, seed: int | None = None) -> SwitchEstimate:
    """Adjust for control-arm switching at a secondary baseline by simple two-stage estimation.

    Parameters
    ----------
    data : TrialData
        Needs ``switch_time`` (control-arm crossover only) and ``censor_time`` for
        recensoring.
    secondary_baseline : array_like
        Time from randomization to the secondary baseline (e.g. progression) per subject,
        in the order of ``data``; NaN for patients who did not reach it. Control switchers
        must have one, at or before their switch. Only the control arm's values are used.
    baseline_covariates : pandas.DataFrame, optional
        Numeric prognostic covariates measured at the secondary baseline, one row per
        subject in the order of ``data`` (values outside the stage-1 rows are ignored).
    aft_dist : {"weibull", "loglogistic", "lognormal"}
        Family of the stage-1 AFT model.
    recensor, autoswitch
        As in :func:`~pexsurv.models.rpsft.counterfactual.counterfactual_times`.
    alpha : float
        1 - confidence level.
    n_boot : int
        Bootstrap replicates of both stages (0: none; then the psi interval is stage 1's
        Wald interval and the HR interval ignores the uncertainty in psi: too narrow).
    seed : int, optional
        Seed of the bootstrap (``np.random.SeedSequence``).

    Returns
    -------
    SwitchEstimate
        ``details`` holds the stage-1 coefficients (``stage1``) and counts.

    Raises
    ------
    TrialDataError
        Invalid baseline times, covariates or switches (naming the column and the ids).

    Examples
    --------
    >>> from pexsurv.simulate.switching import simulate_switch_at_progression
    >>> sim = simulate_switch_at_progression(800, seed=3, psi=-0.5)
    >>> fit = tse_simple(sim.data, sim.secondary_baseline, sim.baseline_covariates)
    >>> fit.ci[0] < -0.5 < fit.ci[1]
    True
    >>> fit.details["n_switchers"] > 0
    True
    """
    check_dist(aft_dist)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot}")
    b = _baseline(data, secondary_baseline)
    stage1 = (data.arm == REFERENCE) & ~np.isnan(b)
    switched = stage1 & ~np.isnan(data.switch_time)
    post = np.where(stage1, data.time - np.where(stage1, b, 0.0), np.nan)
    if (stage1 & (post <= 0)).any():
        fail_rows("secondary_baseline", "no time after the secondary baseline (equal to the "
              "follow-up time)", data.id, stage1 & (post <= 0),
              "the AFT model needs positive post-baseline times: set the baseline to NaN "
              "for an event at the baseline itself, or correct the times")
    if switched.sum() == 0 or switched.sum() == stage1.sum():
        raise TrialDataError(f"stage 1 needs switchers and non-switchers among the "
                             f"{int(stage1.sum())} control patients with a secondary "
                             f"baseline; it has {int(switched.sum())} switcher(s)")
    design = _stage1_design(data, stage1, baseline_covariates)

    cf = _stage2_map(data, b, switched, recensor, autoswitch)
    arrays = TrialArrays.from_data(data, cf, **{_STAGE1: stage1, _SWITCHED: switched * 1.0,
                                                _POST: post}, **design)
    names = list(design)
    fit1 = _stage1(arrays, names, aft_dist)
    psi = -fit1.coef
    half = float(stats.norm.ppf(1 - alpha / 2)) * fit1.se
    ci, ci_type = (psi - half, psi + half), "AFT Wald"
    time_cf, event_cf = arrays.adjusted(psi)
    hr_adj = arrays.cox(time_cf, event_cf, alpha)

    boot, hr_boot = None, None
    if n_boot:
        from lifelines.exceptions import ConvergenceError

        def replicate(index: np.ndarray) -> tuple[float, float]:
            sample = arrays.take(index)
            rows = sample.extra[_STAGE1]
            if np.ptp(sample.extra[_SWITCHED][rows]) == 0:  # no switchers or only switchers
                return math.nan, math.nan
            try:
                psi_b = -_stage1(sample, names, aft_dist).coef
            except ConvergenceError:
                return math.nan, math.nan
            return psi_b, sample.cox(*sample.adjusted(psi_b), alpha)["log_hr"]

        boot, ci, hr_boot = bootstrap_intervals(replicate, arrays, n_boot, seed, hr_adj, alpha)
        ci_type = "bootstrap percentile"

    return aft_switch_estimate(
        "TSE (simple)", data, arrays, psi=psi, ci=ci, ci_type=ci_type, time_cf=time_cf,
        event_cf=event_cf, alpha=alpha, n_boot=n_boot, seed=seed,
        options={"aft_dist": aft_dist, "recensor": recensor, "autoswitch": autoswitch,
                 "covariates": tuple(names)},
        hr_adjusted=hr_adj, hr_adjusted_itt_p=None, hr_adjusted_boot=hr_boot,
        z_itt=logrank_z(data.time, data.event, arrays.experimental, strata=data.strata),
        boot=boot, details={"stage1": pd.DataFrame({"coef": fit1.params}), "psi_se": fit1.se,
                            "n_stage1": int(stage1.sum()), "n_switchers": int(switched.sum())})
