r"""Inverse probability of censoring weighting (IPCW) for control-arm treatment switching.

Switchers are censored at the switch; the patients who remain are weighted by the inverse
of their probability of not having switched yet given their covariate history, so that
they stand in for the switchers too (Robins and Finkelstein [1]_; NICE DSU TSD 16 [2]_).

1. **Switching model.** On the long table (:class:`~pexsurv.longdata.LongData`, split at
   each switch), every control-arm row starting after randomization and not after the
   patient's switch is one discrete-time observation: ``y = 1`` if the patient switches
   at the row's start. A pooled logistic regression on an intercept, the row's start time,
   the baseline covariates and the time-varying covariates (their values at the row's
   start) gives the probability ``p_k`` of switching at the start of row ``k``. Row starts
   are the decision points (visits, where the covariates are measured): the model is
   exact when switches happen at row starts, as in most trials. A switch between row
   starts gets a row of its own starting at the switch (last measured values carried
   forward, :meth:`~pexsurv.longdata.LongData.split_at`); that is an approximation, since
   nobody else has a decision point there: record the covariates at the switch instead.
2. **Weights.** A control patient's row ``k`` (before any switch) gets
   ``W_k = prod_{j <= k} 1 / (1 - p_j)``; *stabilised* weights multiply by the marginal
   probability of not having switched by the time ``t``, ``S(t)``: the Kaplan-Meier
   estimate, in the control arm, of the time to switch (death and censoring censor it),
   the nonparametric form of the time-only pooled logistic numerator fitted on all
   at-risk rows (trtswitch [3]_; the Kaplan-Meier numerator is ipcwswitch's [4]_).
   Numerator and denominator are products over the same risk set: every control patient
   alive and unswitched contributes to ``S(t)``, including those who cannot switch yet
   (before progression, say), whose denominator factor is 1. ``S(t)`` steps at every
   control switch, so stabilised control rows are split there (the weight is constant on
   each piece). A function of time common to the control arm leaves the weighted Cox
   score unbiased under proportional hazards; it evens out the weights (their mean over
   the control risk set is near 1 while few have switched, lower later when those who
   stay unswitched die faster than those they stand in for) and the estimand stays the
   marginal (ITT-comparable) no-switch hazard ratio. Under non-proportional hazards the
   Cox average shifts, as it would on the no-switch trial with the control arm weighted
   by ``S(t)`` (``tests/test_ipcw_stabilised.py``: about -0.04 in log HR there; -0.044 on
   the population of ``validation/switching_methods.py``'s scenario A, where the
   bootstrap percentile interval, 1,000 replicates, covers that shifted value in 95.0% of
   trials (94.0% in scenario C) and the no-switch HR in 90.5% (91.0%)); unstabilised
   weights have no such shift but more variable weights.
   Weights may be truncated at their ``truncate`` and ``1 - truncate`` quantiles. The
   experimental arm has weight 1.
3. **Outcome.** A weighted Cox model of arm on the counting-process rows (Efron ties as
   :func:`pexsurv.cox.cox_hr`, or Breslow; cluster-robust sandwich SE treating the weights
   as known; :func:`~pexsurv.models.rpsft.weighted.weighted_cox`) and a weighted
   piecewise-exponential model (weighted events and person-time per interval, stratum and
   arm, maximum likelihood), both stratified by the data's strata.

The weighted piecewise-exponential likelihood is a pseudo-likelihood: multiplying it by a
prior does **not** give a posterior (the weights are estimated, not data, and their
curvature does not measure information), so no posterior is reported. Both hazard ratios'
intervals come from the bootstrap of the whole procedure (``n_boot``; patients resampled
within arm and stratum, the switching model, the numerator and any truncation refitted
each time), which is what the method's interval should be; without it the Cox interval
is the cluster-robust (sandwich) Wald one, which treats the weights as known (with
weights from a correctly specified switching model that is usually conservative; it
was not here). Use 1,000 replicates or more: the replicates are skewed and 200 put the
percentile limits too close together (``validation/ipcw_coverage.md``: 87% against 92%
coverage at 600 patients). Where the weights are heavy-tailed, small trials' bootstrap
spreads still fall short (there: 89% at 1,200 patients with unstabilised weights, also
with the true switching probabilities at 600, and 95% at 2,400; BCa and bootstrap-t did
no better). On the 600-patient trials of ``validation/switching_methods.py`` the robust
interval, always reported as :attr:`IpcwEstimate.hr_adjusted`, covered the no-switch HR
in 93.5% (scenario A) and 92.5% (C) of 200 trials with unstabilised weights, where the
bootstrap percentile interval covered 90.5% and 91.0% (``validation/ipcw_robust.md``):
its SE is no larger than the bootstrap SD (0.130 against a spread of 0.147 over
trials), but it is symmetric on the log scale where the percentile limits follow the
replicates' skew, which here points the wrong way (the reflected "basic" interval of
the same replicates did better, ``ipcw_coverage.md``). Besides the percentile interval the Cox HR
gets a bootstrap-t interval (:func:`studentized_limits`, each replicate studentized by its
robust SE; ``boot_interval`` picks the headline one), which follows an estimate whose
spread changes with its value, and on request a BCa interval (:func:`bca_limits`).

IPCW rests on *no unmeasured confounding of switching*: every prognostic factor that
drives switching is in the switching model (baseline or time-varying, measured before the
switch), the model is correctly specified, and every patient has some chance of not
switching (positivity: very large weights warn of its failure). It does not need a common
treatment effect or switching at a particular time.

References
----------
.. [1] Robins JM, Finkelstein DM. Correcting for noncompliance and dependent censoring in
   an AIDS clinical trial with inverse probability of censoring weighted (IPCW) log-rank
   tests. Biometrics 2000;56:779-788.
.. [2] Latimer NR, Abrams KR. NICE DSU Technical Support Document 16: adjusting survival
   time estimates in the presence of treatment switching. 2014.
.. [3] Lu K. trtswitch: treatment switching (R package), ``ipcw()``: numerator and
   denominator switching models fitted on the same control-arm rows before the switch.
.. [4] Graffeo N, Latouche A, Le Tourneau C, Chevret S. ipcwswitch: an R package for
   inverse probability of censoring weighting with an application to switches in clinical
   trials. Comput Biol Med 2019;111:103339.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import pandas as pd

from pexsurv._names import EXPERIMENTAL, REFERENCE
from pexsurv.cox import cox_hr
from pexsurv.data import TrialData, TrialDataError, fail_rows, require_exact_times
from pexsurv.intervals import equal_events, exposure_matrix, interval_index, validate_cuts
from pexsurv.km import kaplan_meier
from pexsurv.longdata import LongData
from pexsurv.models.rpsft.covariates import numeric_covariates
from pexsurv.models.rpsft.estimate import (
    AdjustedEstimate,
    bootstrap,
    percentile_limits,
    resampling_groups,
)
from pexsurv.models.rpsft.gestimation import wald_hr
from pexsurv.models.rpsft.weighted import (
    LogisticFit,
    Ties,
    inverse_logit,
    logistic_fit,
    two_group_log_hr,
    weighted_cox,
)

__all__ = ["BootInterval", "IpcwEstimate", "bca_limits", "ipcw", "studentized_limits"]

_BOOT_COLUMNS = ("log_hr", "log_hr_pem", "se_robust")
BootInterval = Literal["percentile", "studentized", "bca"]
_INTERCEPT, _TIME = "intercept", "time"
# Largest stabilised weight before a positivity warning (trtswitch and the IPCW literature
# flag weights beyond ~10-20 as a sign of near-violations).
_LARGE_WEIGHT = 20.0


@dataclass(frozen=True, eq=False)
class _Rows:
    """The counting-process rows of one (possibly resampled) trial, ready for the fits.

    Rows are grouped by subject (contiguous, in time order). ``model`` marks the rows of
    the switching model, ``analysis`` those of the outcome model (before any switch);
    ``exit`` (the end of unswitched follow-up) and ``switched`` are the subject's, repeated
    on each of its rows (the stabilising numerator's data).
    """

    subject: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    event: np.ndarray
    experimental: np.ndarray
    stratum: np.ndarray
    model: np.ndarray
    switch: np.ndarray
    analysis: np.ndarray
    exit: np.ndarray
    switched: np.ndarray
    x_den: np.ndarray
    first: np.ndarray  # first row of each subject (row offsets), length n + 1
    stabilised: bool

    def take(self, index: np.ndarray) -> _Rows:
        """The rows of the subjects at ``index`` (repeats become distinct subjects)."""
        counts = np.diff(self.first)[index]
        starts = self.first[index]
        offsets = np.r_[0, np.cumsum(counts)]
        rows = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1])
        per_row = {f: getattr(self, f)[rows] for f in _PER_ROW}
        per_row["subject"] = np.repeat(np.arange(index.size), counts)
        return _Rows(first=offsets, stabilised=self.stabilised, **per_row)

    @functools.cached_property
    def cut_times(self) -> np.ndarray:
        """The control arm's switch times, where the stabilising numerator steps: those of
        these subjects (a bootstrap replicate's own, not its parent trial's)."""
        first = self.first[:-1]
        switchers = first[(self.experimental[first] == 0) & (self.switched[first] == 1)]
        return np.unique(self.exit[switchers])

    def numerator(self) -> _Step | None:
        """The stabilising numerator (None without stabilisation): the control arm's
        Kaplan-Meier probability of not having switched, time to switch censored at the
        end of unswitched follow-up (death, censoring)."""
        if not self.stabilised:
            return None
        first = self.first[:-1]
        control = first[self.experimental[first] == 0]
        return _Step(*kaplan_meier(self.exit[control], self.switched[control]))

    def split(self) -> tuple[_Rows, np.ndarray]:
        """The rows with the control arm's analysis rows cut at :attr:`cut_times`, where
        the numerator steps, and the original row of each piece. The pieces keep the row's
        data; only the first is a decision point (switching model row) and only the last
        can end in the event."""
        times = self.cut_times
        lo = np.searchsorted(times, self.start, side="right")
        hi = np.searchsorted(times, self.stop, side="left")
        cut = self.analysis & (self.experimental == 0)
        pieces = np.where(cut, 1 + np.maximum(hi - lo, 0), 1)
        index = np.repeat(np.arange(self.start.size), pieces)
        offset = np.arange(index.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        last = offset == pieces[index] - 1
        inner = np.r_[times, np.inf]  # indices out of range are masked by offset/last
        start = np.where(offset == 0, self.start[index], inner[lo[index] + offset - 1])
        stop = np.where(last, self.stop[index],
                        inner[np.minimum(lo[index] + offset, times.size)])
        per_row = {f: getattr(self, f)[index] for f in _PER_ROW}
        per_row.update(start=start, stop=stop,
                       event=np.where(last, self.event[index], 0.0),
                       model=self.model[index] & (offset == 0))
        first = np.r_[0, np.cumsum(np.bincount(per_row["subject"],
                                               minlength=self.first.size - 1))]
        return _Rows(first=first, stabilised=self.stabilised, **per_row), index


_PER_ROW = ("subject", "start", "stop", "event", "experimental", "stratum", "model", "switch",
            "analysis", "exit", "switched", "x_den")


@dataclass(frozen=True)
class _Step:
    """A right-continuous step function from 1: ``values[i]`` from ``times[i]`` on."""

    times: np.ndarray
    values: np.ndarray

    def at(self, t: np.ndarray) -> np.ndarray:
        """S(t), the value at ``t`` (steps at ``t`` included)."""
        return np.r_[1.0, self.values][np.searchsorted(self.times, t, side="right")]

    def before(self, t: np.ndarray) -> np.ndarray:
        """S(t-), the value just before ``t``: the weight of a row at risk at ``t``."""
        return np.r_[1.0, self.values][np.searchsorted(self.times, t, side="left")]

    def integral(self, t: np.ndarray) -> np.ndarray:
        """The integral of S from 0 to ``t``."""
        knots = np.r_[0.0, self.times]
        level = np.r_[1.0, self.values]
        area = np.r_[0.0, np.cumsum(level[:-1] * np.diff(knots))]
        i = np.searchsorted(knots, t, side="right") - 1
        return area[i] + level[i] * (t - knots[i])


@dataclass(frozen=True)
class _Fit:
    """One fit: ``weight`` on ``rows`` (the control weights before the time-varying
    ``numerator``, if any, which multiplies them over time)."""

    log_hr: float
    se_robust: float
    log_hr_pem: float
    rows: Any
    weight: np.ndarray
    numerator: Any
    den: Any
    bounds: tuple[float, float] | None


def _switch_times(data: TrialData) -> np.ndarray:
    """Control-arm switch times (inf: none), validated for IPCW."""
    data.require("switch_time", "ipcw()")
    sw = data.switch_time
    switched = ~np.isnan(sw)
    away = switched & (data.arm == EXPERIMENTAL)
    if away.any():
        fail_rows("switch_time", "experimental-arm switches", data.id, away,
              "ipcw adjusts control-arm crossover only: set these to NaN to analyse the "
              "experimental arm as randomized")
    at_zero = switched & (sw <= 0)
    if at_zero.any():
        fail_rows("switch_time", "switches at randomization", data.id, at_zero,
              "a patient who switched at time 0 never followed the control therapy; IPCW "
              "cannot weight for them (analyse them separately or as randomized)")
    return np.where(switched, sw, np.inf)


def _rows(data: TrialData, long: LongData, baseline: Sequence[str],
          time_varying: Sequence[str], stabilised: bool) -> tuple[_Rows, list[str]]:
    if not isinstance(long, LongData):
        raise TypeError(f"long must be a LongData, got {type(long).__name__}")
    if long.n_subjects != data.n:
        raise TrialDataError(f"the long table was built for {long.n_subjects} patients, the "
                             f"trial has {data.n}: build it with LongData.from_dataframe(df, "
                             "data) on this TrialData")
    unknown = [c for c in time_varying if c not in long.covariates]
    if unknown:
        raise ValueError(f"time-varying covariates {unknown} are not in the long table; it "
                         f"has {sorted(long.covariates)}")
    sw = _switch_times(data)
    base = numeric_covariates(data, baseline, model="the switching model")
    switched = np.isfinite(sw) & (sw < data.time)
    split = long.split_at(np.where(switched, sw, np.nan))
    s = split.subject
    start, stop = split.tstart, split.tstop
    control = data.arm[s] == REFERENCE
    analysis = start < sw[s]  # rows end at the switch at the latest (split there)
    event = (data.event[s] == 1) & (stop == data.time[s]) & analysis
    # Switching at randomization is excluded (validated), so rows from 0 carry no risk.
    model = control & (start > 0) & (start <= sw[s])
    den_names = [_INTERCEPT, _TIME, *base, *time_varying]
    columns = {_INTERCEPT: np.ones(s.size), _TIME: start,
               **{k: v[s] for k, v in base.items()},
               **{k: split.covariates[k] for k in time_varying}}
    strata = (np.zeros(data.n, dtype=np.int64) if data.strata is None
              else np.unique(data.strata, return_inverse=True)[1])
    rows = _Rows(subject=s, start=start, stop=stop, event=event.astype(float),
                 experimental=(data.arm[s] == EXPERIMENTAL).astype(float), stratum=strata[s],
                 model=model, switch=(start == sw[s]).astype(float), analysis=analysis,
                 exit=np.minimum(sw, data.time)[s], switched=switched[s].astype(float),
                 x_den=np.column_stack([columns[c] for c in den_names]),
                 first=np.r_[0, np.cumsum(np.bincount(s, minlength=data.n))],
                 stabilised=stabilised)
    return rows, den_names


def _weighted_pem_log_hr(rows: _Rows, a: np.ndarray, w: np.ndarray, cuts: np.ndarray,
                         scale: _Step | None) -> float:
    """ML log HR of the weighted piecewise-exponential model on the analysis rows ``a``:
    weighted events and person-time per interval, stratum and arm (a baseline hazard per
    interval and stratum, as the stratified Cox model has one per stratum). ``scale``
    multiplies the control rows' weights over time (person-time: its integral)."""
    k = cuts.size + 1
    stratum = rows.stratum[a]
    n_strata = int(rows.stratum.max()) + 1
    one_hot = np.eye(n_strata)[stratum]
    start, stop = rows.start[a], rows.stop[a]
    group = rows.experimental[a].astype(bool)
    ev = rows.event[a] * w
    if scale is None:
        exposure = exposure_matrix(start, stop, cuts)
    else:
        lower = np.maximum(start[:, None], np.r_[0.0, cuts])
        upper = np.minimum(stop[:, None], np.r_[cuts, np.inf])
        exposure = np.where(
            upper > lower, np.where(group[:, None], upper - lower,
                                    scale.integral(upper) - scale.integral(lower)), 0.0)
        ev = np.where(group, ev, ev * scale.before(stop))
    exposure *= w[:, None]
    cell = stratum * k + interval_index(stop, cuts)
    e1 = np.bincount(cell[group], ev[group], n_strata * k)
    log_hr, _ = two_group_log_hr((one_hot[~group].T @ exposure[~group]).ravel(),
                                 (one_hot[group].T @ exposure[group]).ravel(), e1,
                                 e1 + np.bincount(cell[~group], ev[~group], n_strata * k))
    return float(log_hr[0])


def _fit(rows: _Rows, cuts: np.ndarray, truncate: float | None, ties: Ties,
         coef: np.ndarray | None = None) -> _Fit | None:
    """Switching model, weights and both weighted HRs; None if the switching model fails.
    ``coef``: known switching-model coefficients (nothing fitted).

    The stabilising numerator steps at control switches. Without truncation it enters the
    Cox and PEM fits as a time-varying factor of the control weights (exact, and no
    larger than the rows); truncation needs each weight as one number, so the rows are
    split where the numerator steps first (the same fit, slower).
    """
    numerator = rows.numerator()
    if numerator is not None and truncate:
        rows = rows.split()[0]
    m = rows.model
    y = rows.switch[m]
    if coef is not None:
        prob = inverse_logit(rows.x_den[m] @ coef)
        den = LogisticFit(coef=coef, se=np.full(coef.size, np.nan), prob=prob, converged=True)
    elif y.sum() == 0 or y.sum() == y.size:
        return None
    else:
        den = logistic_fit(rows.x_den[m], y)
        if not den.converged:
            return None
    # Log weight increment of each row a patient stays unswitched through.
    increment = np.zeros(rows.start.size)
    increment[np.flatnonzero(m)[y == 0]] = -np.log1p(-den.prob[y == 0])
    cum = np.cumsum(increment)
    # Restart the running sum at each subject's first row.
    before = np.r_[0.0, cum][rows.first[:-1]]
    weight = np.exp(cum - np.repeat(before, np.diff(rows.first)))
    bounds = None
    a = rows.analysis
    if truncate:
        control = rows.experimental == 0
        if numerator is not None:  # split rows: the numerator is constant on each
            weight = np.where(control, numerator.at(rows.start) * weight, weight)
            numerator = None
        lo, hi = np.quantile(weight[a & control], [truncate, 1 - truncate])
        weight = np.where(control, np.clip(weight, lo, hi), weight)
        bounds = (float(lo), float(hi))
    w = weight[a]
    cox = weighted_cox(rows.start[a], rows.stop[a], rows.event[a], rows.experimental[a], w,
                       rows.subject[a], rows.stratum[a], ties=ties,
                       scale0=None if numerator is None else numerator.before)
    return _Fit(log_hr=cox.log_hr, se_robust=cox.se_robust,
                log_hr_pem=_weighted_pem_log_hr(rows, a, w, cuts, numerator), rows=rows,
                weight=weight, numerator=numerator, den=den, bounds=bounds)


def _weight_table(fitted: _Fit) -> tuple[_Rows, np.ndarray]:
    """The outcome model's rows and their weights, each weight one number: with a
    time-varying numerator the control rows are split where it steps."""
    if fitted.numerator is None:
        return fitted.rows, fitted.weight
    rows, index = fitted.rows.split()
    weight = fitted.weight[index]
    return rows, np.where(rows.experimental == 0, fitted.numerator.at(rows.start) * weight,
                          weight)


def studentized_limits(estimate: float, se: float, boot_estimates: np.ndarray,
                       boot_se: np.ndarray, alpha: float) -> tuple[float, float]:
    """Bootstrap-t limits: the quantiles of ``t* = (estimate* - estimate) / se*`` over the
    replicates, scaled by the original ``se`` (Efron and Tibshirani, ch. 12).

    Unlike the percentile interval it follows an estimate whose spread moves with its
    value (an IPCW log HR far from 0 rests on fewer, heavier weights); the robust SE of
    each replicate is the studentizing scale.

    Examples
    --------
    Replicates whose spread is twice the SE they report: the limits widen to match.

    >>> z = np.random.default_rng(0).standard_normal(4000)
    >>> lo, hi = studentized_limits(0.0, 0.1, 0.2 * z, np.full(4000, 0.1), 0.05)
    >>> round(lo, 1), round(hi, 1)
    (-0.4, 0.4)
    """
    ok = np.isfinite(boot_estimates) & np.isfinite(boot_se) & (boot_se > 0)
    t = (boot_estimates[ok] - estimate) / boot_se[ok]
    q_lo, q_hi = np.quantile(t, [alpha / 2, 1 - alpha / 2])
    return float(estimate - q_hi * se), float(estimate - q_lo * se)


def bca_limits(estimate: float, boot_estimates: np.ndarray, jackknife: np.ndarray,
               alpha: float) -> tuple[float, float]:
    """Bias-corrected and accelerated (BCa) bootstrap limits (Efron and Tibshirani, ch. 14).

    The percentile limits are moved to the quantiles
    ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` for ``z = Phi^-1(alpha / 2)`` and
    ``Phi^-1(1 - alpha / 2)``: ``z0`` (the normal quantile of the share of replicates below
    the estimate) corrects the median bias of the replicates, the acceleration ``a`` (the
    skewness of the jackknife values ``jackknife``, leave-one-out or leave-group-out
    estimates) lets the spread change with the value.

    Examples
    --------
    Replicates centred on the estimate, no skewness: the percentile limits.

    >>> lo, hi = bca_limits(0.0, np.linspace(-2, 2, 4001), np.array([-1.0, 0.0, 1.0]), 0.05)
    >>> round(lo, 2), round(hi, 2)
    (-1.9, 1.9)

    Most replicates below the estimate (they run low: ``z0 > 0``): both limits move up.

    >>> lo, hi = bca_limits(0.5, np.linspace(-2, 2, 4001), np.array([-1.0, 0.0, 1.0]), 0.05)
    >>> bool(lo > -1.9 and hi > 1.9)
    True
    """
    normal = NormalDist()
    finite = boot_estimates[np.isfinite(boot_estimates)]
    share = (np.sum(finite < estimate) + 0.5 * np.sum(finite == estimate)) / finite.size
    # All replicates on one side: z0 infinite; clip to the most extreme resolvable share.
    share = min(max(share, 0.5 / finite.size), 1 - 0.5 / finite.size)
    z0 = normal.inv_cdf(float(share))
    jackknife = jackknife[np.isfinite(jackknife)]  # failed refits (NaN) left out
    d = np.mean(jackknife) - jackknife
    a = float(np.sum(d ** 3) / (6 * np.sum(d ** 2) ** 1.5)) if np.any(d != 0) else 0.0
    levels = [normal.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
              for z in (normal.inv_cdf(alpha / 2), normal.inv_cdf(1 - alpha / 2))]
    lo, hi = np.quantile(finite, levels)
    return float(lo), float(hi)


@dataclass(frozen=True, eq=False)
class IpcwEstimate(AdjustedEstimate):
    """Result of :func:`ipcw`.

    Attributes
    ----------
    method : str
        ``"IPCW"``.
    hr_itt : dict
        ``hr``, ``lower``, ``upper``, ``log_hr``, ``se``: Cox model on the observed data.
    hr_adjusted : dict
        Weighted Cox HR with the cluster-robust (sandwich, per patient) Wald interval,
        weights treated as known; reported with or without ``n_boot`` (the module
        docstring compares its coverage with the bootstrap's).
    hr_adjusted_boot : dict or None
        With ``n_boot``: the weighted Cox HR with bootstrap percentile limits and SE.
    hr_adjusted_boot_t : dict or None
        With ``n_boot``: the weighted Cox HR with bootstrap-t (studentized) limits
        (:func:`studentized_limits`) and the bootstrap SE.
    hr_adjusted_boot_bca : dict or None
        With ``n_boot`` and ``boot_interval="bca"``: the weighted Cox HR with BCa limits
        (:func:`bca_limits`, acceleration from the leave-one-patient-out jackknife) and the
        bootstrap SE.
    hr_pem : dict
        Weighted piecewise-exponential HR (maximum likelihood); limits NaN without a
        bootstrap (a weighted likelihood's curvature is not the information), bootstrap
        percentile limits with one (BCa with ``boot_interval="bca"``). Not a posterior.
    weights : pandas.DataFrame
        The outcome model's rows: ``id``, ``arm``, ``tstart``, ``tstop``, ``event``,
        ``weight`` (stabilised: control rows split at every control switch time, where
        the numerator steps), ready for any weighted counting-process Cox fit.
    switching_models : pandas.DataFrame
        Coefficients and SEs of the switching model (index ``("denominator", name)``), on
        the log-odds scale of switching at a row's start (SEs NaN for known
        ``switching_coef``). The stabilising numerator is nonparametric (Kaplan-Meier) and
        has none.
    boot : pandas.DataFrame or None
        ``log_hr`` (Cox), ``log_hr_pem`` and ``se_robust`` (of the Cox log HR) per
        bootstrap replicate.
    details : dict
        Counts (patients, switchers, model rows) and the weights' distribution.
    settings : dict
        Options of the fit.
    """

    method: str
    hr_itt: dict[str, float]
    hr_adjusted: dict[str, float]
    hr_adjusted_boot: dict[str, float] | None
    hr_adjusted_boot_t: dict[str, float] | None
    hr_adjusted_boot_bca: dict[str, float] | None
    hr_pem: dict[str, float]
    weights: pd.DataFrame
    switching_models: pd.DataFrame
    boot: pd.DataFrame | None
    details: dict[str, Any]
    settings: dict[str, Any]

    @property
    def hr(self) -> dict[str, float]:
        """The headline adjusted HR: bootstrap limits if run (``boot_interval``), else the
        robust Wald ones."""
        if self.hr_adjusted_boot is None:
            return self.hr_adjusted
        return {"percentile": self.hr_adjusted_boot, "studentized": self.hr_adjusted_boot_t,
                "bca": self.hr_adjusted_boot_bca}[self.settings["boot_interval"]]

    def interval_kind(self) -> str:
        """``bootstrap percentile``, ``bootstrap-t``, ``bootstrap BCa`` or ``Cox robust
        (weights fixed)``."""
        if self.hr_adjusted_boot is None:
            return "Cox robust (weights fixed)"
        return {"percentile": "bootstrap percentile", "studentized": "bootstrap-t",
                "bca": "bootstrap BCa"}[self.settings["boot_interval"]]

    def counts(self) -> tuple[int, int]:
        """Patients and events (before any switch) of the weighted comparison."""
        return self.settings["n"], int(self.weights["event"].sum())

    def summary(self) -> pd.DataFrame:
        """Hazard ratios with their limits, one row per quantity."""
        rows = {name: (d["hr"], d["lower"], d["upper"])
                for name in ("hr_itt", "hr_adjusted", "hr_adjusted_boot", "hr_adjusted_boot_t",
                             "hr_adjusted_boot_bca", "hr_pem")
                if (d := getattr(self, name)) is not None}
        out = pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "lower", "upper"])
        out.index.name = "quantity"
        out.attrs.update(self.settings, method=self.method, interval=self.interval_kind())
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready scalars and settings (per-row and per-replicate tables left out)."""
        def plain(d: dict[str, float] | None) -> dict[str, float] | None:
            return None if d is None else {k: float(v) for k, v in d.items()}

        return {"method": self.method, "hr_itt": plain(self.hr_itt),
                "hr_adjusted": plain(self.hr_adjusted),
                "hr_adjusted_boot": plain(self.hr_adjusted_boot),
                "hr_adjusted_boot_t": plain(self.hr_adjusted_boot_t),
                "hr_adjusted_boot_bca": plain(self.hr_adjusted_boot_bca),
                "hr_pem": plain(self.hr_pem),
                "details": {k: v for k, v in self.details.items()
                            if isinstance(v, (int, float, str))},
                "settings": {k: (list(v) if isinstance(v, tuple) else v)
                             for k, v in self.settings.items()}}

    def __repr__(self) -> str:
        level = 100 * (1 - self.settings["alpha"])
        h = self.hr
        return (f"IpcwEstimate(hr_adjusted={h['hr']:.4f} [{level:g}% CI {h['lower']:.4f}-"
                f"{h['upper']:.4f}, {self.interval_kind()}], hr_pem={self.hr_pem['hr']:.4f}, "
                f"hr_itt={self.hr_itt['hr']:.4f}, switchers={self.details['n_switchers']})")


def ipcw(data: TrialData, long: LongData, *, baseline: Sequence[str] = (),
         time_varying: Sequence[str] = (), stabilised: bool = True,
         truncate: float | None = None, cuts: Any = None, ties: Ties = "efron",
         alpha: float = 0.05, n_boot: int = 0, seed: int | None = None,
         boot_interval: BootInterval = "percentile",
         switching_coef: Sequence[float] | None = None) -> IpcwEstimate:
    """Adjust for control-arm switching by inverse probability of censoring weighting.

    See the module docstring for the method and what it rests on.

    Parameters
    ----------
    data : TrialData
        Needs ``switch_time`` (control-arm crossover only, after randomization). With
        strata, the weighted Cox model is stratified, the weighted PEM has a baseline
        hazard per interval and stratum, and the bootstrap resamples within arm and
        stratum.
    long : LongData
        The patients' time-varying covariates (built on ``data``).
    baseline : sequence of str
        Numeric names in ``data.covariates`` for the switching model.
    time_varying : sequence of str
        Names in ``long.covariates`` for the switching model (value at each row's start).
    stabilised : bool
        Multiply the control weights by the control arm's Kaplan-Meier probability of not
        having switched by then (weights near 1; module docstring). Under
        non-proportional hazards this moves the Cox average away from the no-switch HR.
        ``False``: the plain inverse probabilities (the no-switch HR's own average; more
        variable weights, which need larger trials for the bootstrap to cover: at 600 and
        1,200 patients the robust interval :attr:`IpcwEstimate.hr_adjusted` covered
        92.0-93.5%, the bootstrap percentile one 89-91.5%; module docstring).
    truncate : float, optional
        Clip the control arm's weights at their ``truncate`` and ``1 - truncate``
        quantiles (e.g. 0.01), re-applied in every bootstrap replicate.
    cuts : sequence of float, optional
        Partition of the weighted piecewise-exponential model (default: 4 intervals with
        equal numbers of events, :func:`pexsurv.equal_events`).
    ties : {"efron", "breslow"}
        Tied event times in the weighted Cox model: Efron (default, as
        :func:`pexsurv.cox.cox_hr`, R ``survival`` and lifelines) or Breslow.
    alpha : float
        1 - confidence level.
    n_boot : int
        Bootstrap replicates of the whole procedure (0: none).
    seed : int, optional
        Seed of the bootstrap (``np.random.SeedSequence``).
    boot_interval : {"percentile", "studentized", "bca"}
        The bootstrap interval :attr:`IpcwEstimate.hr` reports. The percentile and
        bootstrap-t intervals are always computed; ``"bca"`` adds the BCa interval (also
        for the PEM HR), at the cost of one refit per patient (the jackknife of its
        acceleration).
    switching_coef : sequence of float, optional
        Known coefficients of the switching model (log-odds of switching at a row's start;
        one per row of :attr:`IpcwEstimate.switching_models`: intercept, time, then
        ``baseline`` and ``time_varying`` in order), used instead of fitting it, here and
        in every bootstrap replicate; their SEs are reported as NaN. For studies that need
        the true switching probabilities (e.g. a simulator's), to tell the estimation of
        the weights apart from the rest of the procedure
        (``validation/ipcw_coverage.py``'s oracle variants).

    Returns
    -------
    IpcwEstimate

    Raises
    ------
    TrialDataError
        Experimental-arm switches, switches at randomization, a long table of another
        trial; or a switching model that cannot be fitted (no switchers, separation).

    Warns
    -----
    UserWarning
        Stabilised weights above 20 (positivity near-violation).

    Examples
    --------
    >>> from pexsurv.simulate import simulate_time_varying_switching
    >>> sim = simulate_time_varying_switching(600, seed=4)
    >>> fit = ipcw(sim.data, sim.long, baseline=["marker0"], time_varying=["marker"])
    >>> bool(fit.hr["hr"] < fit.hr_itt["hr"])
    True
    >>> bool(fit.switching_models.loc[("denominator", "marker"), "coef"] > 0)
    True
    """
    if not isinstance(data, TrialData):
        raise TypeError(f"data must be a TrialData, got {type(data).__name__}")
    require_exact_times(data, "ipcw()")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot}")
    if boot_interval not in ("percentile", "studentized", "bca"):
        raise ValueError(f"boot_interval must be 'percentile', 'studentized' or 'bca', got "
                         f"{boot_interval!r}")
    if truncate is not None and not 0.0 < truncate < 0.5:
        raise ValueError(f"truncate must be a quantile in (0, 0.5), e.g. 0.01, got {truncate}")
    rows, den_names = _rows(data, long, baseline, time_varying, stabilised)
    coef = None
    if switching_coef is not None:
        coef = np.asarray(switching_coef, dtype=float)
        if coef.shape != (len(den_names),) or not np.isfinite(coef).all():
            raise ValueError(f"switching_coef must be {len(den_names)} finite numbers, one "
                             f"per switching-model term {den_names}; got {switching_coef!r}")
    cuts = equal_events(data, k=4) if cuts is None else validate_cuts(cuts)
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    fitted = _fit(rows, cuts, truncate, ties, coef)
    if fitted is None:
        raise TrialDataError("the switching model cannot be fitted: it needs control-arm "
                             "switchers and non-switchers, and no covariate pattern that "
                             "predicts switching perfectly (separation); check switch_time "
                             "and the covariates")
    table, table_weight = _weight_table(fitted)
    a = table.analysis
    large = table_weight[a] > _LARGE_WEIGHT
    if stabilised and large.any():
        warnings.warn(f"{int(large.sum())} row(s) have stabilised weights above "
                      f"{_LARGE_WEIGHT:g} (max {table_weight[a].max():.1f}): some patients "
                      "almost surely switch given their covariates (positivity); consider "
                      "truncate=0.01 and report both", UserWarning, stacklevel=2)
    hr_adj = wald_hr(fitted.log_hr, fitted.se_robust, alpha)
    nan = math.nan
    hr_pem = {"hr": math.exp(fitted.log_hr_pem), "lower": nan, "upper": nan,
              "log_hr": fitted.log_hr_pem, "se": nan}
    boot, hr_boot, hr_boot_t, hr_boot_bca = None, None, None, None
    if n_boot:
        def replicate(index: np.ndarray) -> tuple[float, float, float]:
            f = _fit(rows.take(index), cuts, truncate, ties, coef)
            return (nan, nan, nan) if f is None else (f.log_hr, f.log_hr_pem, f.se_robust)

        first = rows.first[:-1]
        boot = bootstrap(replicate, resampling_groups(rows.experimental[first] == 1,
                                                      rows.stratum[first]),
                         int(n_boot), seed, columns=_BOOT_COLUMNS)
        lo, hi = percentile_limits(boot["log_hr"].to_numpy(), alpha)
        hr_boot = {**hr_adj, "lower": math.exp(lo), "upper": math.exp(hi),
                   "se": float(boot["log_hr"].std(ddof=1))}
        lo, hi = studentized_limits(fitted.log_hr, fitted.se_robust, boot["log_hr"].to_numpy(),
                                    boot["se_robust"].to_numpy(), alpha)
        hr_boot_t = {**hr_boot, "lower": math.exp(lo), "upper": math.exp(hi)}
        if boot_interval == "bca":
            everyone = np.arange(data.n)
            jack = np.array([replicate(np.delete(everyone, i))[:2] for i in everyone])
            lo, hi = bca_limits(fitted.log_hr, boot["log_hr"].to_numpy(), jack[:, 0], alpha)
            hr_boot_bca = {**hr_boot, "lower": math.exp(lo), "upper": math.exp(hi)}
            lo, hi = bca_limits(fitted.log_hr_pem, boot["log_hr_pem"].to_numpy(), jack[:, 1],
                                alpha)
        else:
            lo, hi = percentile_limits(boot["log_hr_pem"].to_numpy(), alpha)
        hr_pem.update(lower=math.exp(lo), upper=math.exp(hi),
                      se=float(boot["log_hr_pem"].std(ddof=1)))

    models = pd.DataFrame({"coef": fitted.den.coef, "se": fitted.den.se},
                          index=pd.MultiIndex.from_product([["denominator"], den_names]))
    subject = table.subject[a]
    weights = pd.DataFrame({"id": np.asarray(data.id)[subject],
                            "arm": np.asarray(data.arms)[data.arm[subject]],
                            "tstart": table.start[a], "tstop": table.stop[a],
                            "event": table.event[a].astype(np.int8),
                            "weight": table_weight[a]})
    control_w = table_weight[a & (table.experimental == 0)]
    details = {"n_switchers": int(np.isfinite(data.switch_time).sum()),
               "n_model_rows": int(rows.model.sum()),
               "weight_min": float(control_w.min()), "weight_mean": float(control_w.mean()),
               "weight_max": float(control_w.max()),
               "truncation_bounds": fitted.bounds}
    settings = {"baseline": tuple(baseline), "time_varying": tuple(time_varying),
                "stabilised": stabilised, "truncate": truncate,
                "cuts": tuple(float(c) for c in cuts), "ties": ties, "alpha": alpha,
                "n_boot": int(n_boot), "seed": seed, "boot_interval": boot_interval, "n": data.n,
                "population": data.population,
                "switching_coef": None if coef is None else tuple(float(c) for c in coef)}
    itt = cox_hr(data.time, data.event, data.arm == EXPERIMENTAL, strata=data.strata,
                 alpha=alpha)
    return IpcwEstimate(
        method="IPCW", hr_itt={k: getattr(itt, k) for k in ("hr", "lower", "upper", "log_hr",
                                                              "se")},
        hr_adjusted=hr_adj, hr_adjusted_boot=hr_boot, hr_adjusted_boot_t=hr_boot_t,
        hr_adjusted_boot_bca=hr_boot_bca, hr_pem=hr_pem, weights=weights,
        switching_models=models, boot=boot, details=details, settings=settings)
