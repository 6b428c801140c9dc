"""Every analysis of a trial with delayed treatment start and crossover, side by side.

Each analysis answers its own question under its own assumption; the table says which,
and labels those that are biased when switching or non-treatment depends on prognosis.
Every analysis population is a :class:`~pexsurv.TrialData` method (one home for populations).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pexsurv import _names as N
from pexsurv.data import TrialData
from pexsurv.diagnostics import THRESHOLDS
from pexsurv.diagnostics.hr_table import hr_table
from pexsurv.fitting import BayesianTSE, SamplerConfig, compile_spec, default_config, fit
from pexsurv.models import PiecewiseExponential
from pexsurv.workflows.report import round_hr_table

__all__ = ["ANALYSES", "PFS_DATINGS", "TSE_BAYES", "Analysis", "ComparisonResult",
           "bayesian_tse_row", "compare_analyses", "populations"]

TSE_BAYES = "TSE (Bayesian)"
"""Label of the :func:`pexsurv.fitting.fit_tse_bayes` row."""


@dataclass(frozen=True)
class Analysis:
    """One row of the comparison: how to derive its data, and what it assumes."""

    label: str
    question: str
    assumption: str
    biased_if_prognostic: bool
    derive: Callable[[TrialData], TrialData]
    exposure: str = "assigned"
    needs: tuple[str, ...] = ()
    dating: str | None = None  # how it dates interval-censored events (None: keeps them)

    def applies(self, data: TrialData) -> bool:
        """Whether ``data`` hold what this analysis needs (columns, or any exposure change
        for an as-received analysis); analyses that do not apply are skipped, not faked."""
        if any(getattr(data, col) is None for col in self.needs):
            return False
        return (self.exposure != "received" or data.switch_time is not None
                or data.treatment_start is not None)


ANALYSES: tuple[Analysis, ...] = (
    Analysis("ITT", "effect of being randomized to the experimental arm",
             "randomization only; diluted by non-infusion and crossover", False, lambda d: d),
    Analysis("modified ITT (treated)", "effect among patients who started their assigned therapy",
             "non-treatment unrelated to prognosis (violated when rapid progressors are never "
             "infused)", True, TrialData.treated, needs=("treatment_start",)),
    Analysis("from treatment start", "survival of treated patients from infusion",
             "a single-arm-style baseline: time before infusion is discarded in one arm only",
             True, TrialData.from_treatment_start, needs=("treatment_start",)),
    Analysis("per protocol (censor at switch)", "effect had switchers been followed untreated",
             "switching independent of prognosis (informative censoring otherwise)", True,
             TrialData.per_protocol, needs=("switch_time",)),
    Analysis("exclude switchers", "effect versus never-switching controls",
             "switchers are a random subset (they are not)", True, TrialData.exclude_switchers,
             needs=("switch_time",)),
    Analysis("time-varying exposure (as received)", "hazard while on vs off experimental therapy",
             "no time-varying confounding of switching by prognosis", True, lambda d: d,
             exposure="received"),
    Analysis("as treated (naive)", "ever vs never treated",
             "none valid: immortal-time and selection bias", True, TrialData.as_treated,
             needs=("switch_time",)),
)


PFS_DATINGS: tuple[Analysis, ...] = (
    Analysis("ITT, progression dated at the visit",
             "PFS as usually reported: progression dated at the assessment that found it",
             "progression happened at the visit: late by up to one assessment interval, "
             "more so in the arm that progresses early", False,
             lambda d: d.date_events("visit"), needs=("time_lower",), dating="visit"),
    Analysis("ITT, progression at the interval midpoint",
             "PFS with progression imputed midway between the assessments around it",
             "the hazard is flat within each assessment interval", False,
             lambda d: d.date_events("midpoint"), needs=("time_lower",), dating="midpoint"),
)
"""Rows added when progression is interval-censored (``time_lower`` loaded): the usual
exact datings beside the interval-censored fits of every other row."""


def populations(data: TrialData, analyses: Sequence[Analysis] = ANALYSES) -> dict[str, TrialData]:
    """The population of each applicable analysis, derived from the ITT ``data``, by label.

    Examples
    --------
    >>> from pexsurv import datasets
    >>> {label: d.n for label, d in populations(datasets.ct041_like("os"), ANALYSES[:1]).items()}
    {'ITT': 156}
    """
    return {a.label: a.derive(data) for a in analyses if a.applies(data)}


def bayesian_tse_row(result: BayesianTSE, prob: float = 0.95) -> dict[str, Any]:
    """The comparison-table row of a Bayesian two-stage estimate.

    Posterior median, mean, equal-tailed interval and P(HR < 1) of the adjusted HR pooled
    over the stage-1 psi quantiles; the patients and events of the simple TSE at psi-hat
    (the counterfactual events change with psi); converged when every stage-2 fit's R-hat
    is within ``THRESHOLDS["r_hat_stage2"]``. Its assumption is the simple TSE's, plus the
    normal approximation of stage 1's likelihood that carries psi's uncertainty.

    Examples
    --------
    >>> from pexsurv.simulate import simulate_switch_at_progression
    >>> from pexsurv.fitting import SamplerConfig, fit_tse_bayes
    >>> sim = simulate_switch_at_progression(300, seed=1)
    >>> res = fit_tse_bayes(sim.data, sim.secondary_baseline, sim.baseline_covariates,
    ...                     cuts=(1.0, 2.0), n_psi_draws=4,
    ...                     sampler=SamplerConfig(draws=100, tune=100, chains=2))  # doctest: +SKIP
    >>> bayesian_tse_row(res)["interval"]                                       # doctest: +SKIP
    'posterior equal-tailed, mixed over stage-1 psi'
    """
    hr = np.exp(result.posterior[N.LOG_HR].values.ravel())
    lo, med, hi = np.quantile(hr, [(1 - prob) / 2, 0.5, (1 + prob) / 2])
    n, events = result.stage1.counts()
    worst = float(result.r_hat_max.max())
    limit = THRESHOLDS["r_hat_stage2"]
    return {"n": n, "events": events, "hr_median": float(med), "hr_mean": float(hr.mean()),
            "lower": float(lo), "upper": float(hi), "p_hr_lt_1": float(np.mean(hr < 1.0)),
            "converged": worst <= limit, "approximate": False,
            "diagnostics": f"largest stage-2 R-hat {worst:.3f} over {result.psi.size} psi "
                           f"draws (limit {limit})",
            "question": result.stage1.question,
            "assumption": f"{result.stage1.assumption}; stage 1's likelihood approximately "
                          "normal in psi (its uncertainty carried into stage 2)",
            "biased_if_prognostic": False,
            "interval": "posterior equal-tailed, mixed over stage-1 psi"}


@dataclass(frozen=True, eq=False)
class ComparisonResult:
    """The comparison table and the fits behind it.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per analysis: n, events, posterior median HR, interval, P(HR < 1),
        convergence, the question, the assumption and a bias flag; unrounded
        (:meth:`rounded` gives the view for display).
    results : dict
        Label -> FitResult.
    """

    table: pd.DataFrame
    results: dict[str, Any]

    def rounded(self) -> pd.DataFrame:
        """The table with each posterior summary rounded to what its Monte Carlo standard
        error supports (:func:`~pexsurv.workflows.report.round_hr_table`); ``table`` keeps
        the raw numbers."""
        return round_hr_table(self.table, self.results)


def compare_analyses(data: TrialData, cuts: Any, *, rpsft: Any | None = None,
                     switching: Sequence[Any] = (), seed: int | None = None,
                     draws: int = 1000, progress: bool = False,
                     analyses: tuple[Analysis, ...] = ANALYSES,
                     pfs_datings: tuple[Analysis, ...] = PFS_DATINGS) -> ComparisonResult:
    """Run every applicable analysis on one ITT data set and tabulate the hazard ratios.

    Parameters
    ----------
    data : TrialData
        The ITT data (from randomization), with ``treatment_start`` and ``switch_time``
        where available; analyses whose columns are missing are skipped.
    cuts : sequence of float
        Baseline partition of every piecewise-exponential fit.
    rpsft : RPSFT, optional
        Adds the switch-adjusted Bayesian RPSFT row (randomization-based), fitted with the
        RPSFT's own stage-2 sampler defaults (:func:`pexsurv.fitting.default_config`) and
        ``seed``.
    switching : sequence of SwitchEstimate, IpcwEstimate or BayesianTSE, optional
        Switching adjustments already estimated on ``data``
        (:func:`pexsurv.models.ipe`, :func:`pexsurv.models.tse_simple`,
        :func:`pexsurv.models.ipcw`, :func:`pexsurv.fitting.fit_tse_bayes`), added as rows
        with the assumption each rests on (RPSFT/IPE: a common treatment effect; TSE: no
        unmeasured confounding at the secondary baseline; IPCW: no unmeasured confounding
        of switching given the modelled covariate history). The frequentist intervals are
        confidence intervals (the ``interval`` column says which kind) with no P(HR < 1);
        the Bayesian TSE's row is its posterior mixed over stage 1's psi
        (:func:`bayesian_tse_row`).
    seed, draws, progress
        Sampler settings of the piecewise-exponential fits (4 chains).
    pfs_datings : tuple of Analysis
        When ``data`` hold interval-censored progression (``time_lower``), every other row
        is fitted with the interval-censored likelihood, and these rows add the exact
        datings of the ITT data (:data:`PFS_DATINGS`: at the visit, at the midpoint); the
        column ``dating`` then says which each row used.

    Returns
    -------
    ComparisonResult

    Examples
    --------
    >>> from pexsurv import datasets
    >>> out = compare_analyses(datasets.ct041_like("os"), [3.0, 6.0], seed=1)  # doctest: +SKIP
    """
    config = SamplerConfig(draws=draws, tune=draws, seed=seed, progress=progress)
    specs = {e: PiecewiseExponential(cuts=tuple(cuts), exposure=e) for e in ("assigned", "received")}
    compiled: dict[tuple[str, int], Any] = {}
    results, meta = {}, {}
    applicable = [a for a in (*analyses, *pfs_datings) if a.applies(data)]
    with warnings.catch_warnings():
        # Populations that exclude patients warn about it; the table records it.
        warnings.simplefilter("ignore", UserWarning)
        derived_by_label = populations(data, applicable)
    for a in applicable:
        derived = derived_by_label[a.label]
        spec = specs[a.exposure]
        # one compiled model for every population of the arm x interval layout (the fit
        # relabels the draws with each population's own arms); interval-censored data add
        # one likelihood row per patient, so their models are shared by size
        key = (a.exposure, derived.n if derived.interval_censored.any() else 0)
        if a.exposure == "assigned" and key not in compiled:
            compiled[key] = compile_spec(spec, derived, config)
        results[a.label] = fit(spec, derived, sampler=config, compiled=compiled.get(key))
        meta[a.label] = {"question": a.question, "assumption": a.assumption,
                         "biased_if_prognostic": a.biased_if_prognostic}
        if data.time_lower is not None:
            meta[a.label]["dating"] = a.dating or "interval-censored"
    if rpsft is not None:
        results["RPSFT (Bayesian)"] = fit(rpsft, data, sampler=default_config(
            rpsft, seed=seed, progress=progress))
        meta["RPSFT (Bayesian)"] = {
            "question": "effect had control patients not switched",
            "assumption": "randomization and a common treatment effect (same psi when "
                          "treated in either arm)", "biased_if_prognostic": False}
    hr = hr_table(results)
    table = hr.join(pd.DataFrame.from_dict(meta, orient="index"))
    if switching:
        table["interval"] = "posterior equal-tailed"
        labelled = {(TSE_BAYES if isinstance(e, BayesianTSE) else e.method): e
                    for e in switching}
        rows = {label: (bayesian_tse_row(e) if isinstance(e, BayesianTSE)
                        else e.comparison_row()) for label, e in labelled.items()}
        table = pd.concat([table, pd.DataFrame.from_dict(rows, orient="index")])
        results.update(labelled)
    table.attrs.update(hr.attrs)
    return ComparisonResult(table=table, results=results)
