"""Posterior hazard-ratio reports: how much better, how sure, and is the fit trustworthy.

A workflow over finished fits: it reads draws and never refits. One row per analysis
(endpoint, population, model) holds the posterior hazard ratio (median, mean, 95%
equal-tailed and highest-density intervals, probabilities of beating thresholds), median,
milestone and restricted mean survival per arm, the convergence verdict and, side by side,
the Cox hazard ratio and the log-rank p-value of the same data.

Rounding rule (:data:`ROUNDING_RULE`): every posterior summary is rounded to the decimal
place of the second significant digit of its own Monte Carlo standard error, so no digit is
reported that the draws cannot support. Extrapolated quantities (resting on the model
beyond an arm's last follow-up, see :mod:`pexsurv.models.derived`) are marked: boolean
``*_extrapolated`` columns in :attr:`HazardRatioReport.table`, a dagger with a footnote in
Markdown and HTML.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from scipy import stats

from pexsurv import _names as N
from pexsurv._version import __version__
from pexsurv.cox import cox_hr
from pexsurv.defaults import CI_PROB, interval_bounds
from pexsurv.diagnostics import loo, posterior_predictive_survival, prior_sensitivity
from pexsurv.fitting import FitResult
from pexsurv.logrank import logrank_z
from pexsurv.models import (
    RPSFT,
    hazard_by_arm,
    median_survival,
    milestone_survival,
    rmst,
    survival_curve,
)
from pexsurv.warnings import ExtrapolationWarning
from pexsurv.workflows import _figures as F
from pexsurv.workflows.rounding import MAX_DECIMALS, format_interval, mcse_decimals

__all__ = ["MAX_DECIMALS", "ROUNDING_RULE", "CheckOutcome", "HazardRatioReport",
           "hazard_ratio_report", "mcse_decimals", "posterior_checks", "posterior_interval_text",
           "round_hr_table", "summarise"]

ROUNDING_RULE = (
    "Posterior summaries are rounded to the decimal place of the second significant digit "
    "of their Monte Carlo standard error (MCSE): d = 1 - floor(log10(MCSE)) decimals, at "
    f"most {MAX_DECIMALS} (e.g. MCSE 0.012 gives 3 decimals, MCSE 0.3 gives 2). MCSEs come "
    "from ArviZ (arviz.mcse): method 'mean' for means and for probabilities (the mean of an "
    "indicator), 'median' for medians, 'quantile' at the interval's level for equal-tailed "
    "bounds and at the bound's empirical CDF level for HDI bounds; differences between arms "
    "use the MCSE of the differences' own draws. Cox hazard ratios and p-values are "
    "frequentist and shown with 3 significant digits."
)

ARM_KEYS = ("control", "experimental")  # column stems for the reference and experimental arm

_MEDIAN_NOTE = ("median marked extrapolated when more than {tail:.1%} of its draws lie beyond "
                "the arm's last follow-up (its interval reaches beyond the data)")


# --------------------------------------------------------------------------- summaries of draws
def _sample(x: np.ndarray) -> xr.DataArray:
    return xr.DataArray(np.asarray(x, dtype=float), dims=N.SAMPLE_DIMS)


def _mcse(x: np.ndarray, method: str, prob: float | None = None) -> float:
    """ArviZ's MCSE of a (chain, draw) array; NaN when undefined (infinite or constant draws)."""
    if not np.isfinite(x).all():
        return float("nan")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # constant draws: 0/0 inside ArviZ
        kwargs = {} if prob is None else {"prob": prob}
        return float(az.mcse(_sample(x), method=method, **kwargs))


def _quantile(x: np.ndarray, q: float) -> float:
    """Quantile of the pooled draws (NumPy's default, linear); ``inf`` where the level falls
    among infinite draws (a median survival never reached)."""
    flat = np.asarray(x, dtype=float).ravel()
    with np.errstate(invalid="ignore"):
        value = float(np.quantile(flat, q))
    return float("inf") if np.isnan(value) and np.isinf(flat).any() else value


def _hdi(x: np.ndarray, prob: float) -> tuple[float, float]:
    """ArviZ's highest-density interval of the pooled draws (``arviz.hdi``)."""
    if not np.isfinite(x).all():
        return float("nan"), float("nan")
    lo, hi = az.hdi(_sample(x), prob=prob).values
    return float(lo), float(hi)


def summarise(stem: str, x: np.ndarray, *, prob: float = CI_PROB, mean: bool = False,
              hdi: bool = False) -> tuple[dict[str, float], dict[str, float]]:
    """Posterior median, 95% equal-tailed interval (and mean, HDI) of draws, with MCSEs.

    Parameters
    ----------
    stem : str
        Column stem: keys are ``stem``, ``stem_lower``, ``stem_upper`` and, on request,
        ``stem_mean``, ``stem_hdi_lower``, ``stem_hdi_upper``.
    x : numpy.ndarray
        Draws, shape ``(chain, draw)``.
    prob : float
        Interval probability.
    mean, hdi : bool
        Also report the mean and the highest-density interval.

    Returns
    -------
    values, mcse : dict
        Unrounded summaries and their Monte Carlo standard errors, by key.

    Examples
    --------
    >>> x = np.random.default_rng(1).normal(size=(4, 500))
    >>> values, mcse = summarise("z", x)
    >>> sorted(values)
    ['z', 'z_lower', 'z_upper']
    """
    lo_q, hi_q = interval_bounds(prob)
    values = {stem: _quantile(x, 0.5), f"{stem}_lower": _quantile(x, lo_q),
              f"{stem}_upper": _quantile(x, hi_q)}
    mcse = {stem: _mcse(x, "median"), f"{stem}_lower": _mcse(x, "quantile", lo_q),
            f"{stem}_upper": _mcse(x, "quantile", hi_q)}
    if mean:
        values[f"{stem}_mean"] = float(np.mean(x))
        mcse[f"{stem}_mean"] = _mcse(x, "mean")
    if hdi:
        lo, hi = _hdi(x, prob)
        values[f"{stem}_hdi_lower"], values[f"{stem}_hdi_upper"] = lo, hi
        n = x.size
        for key, bound in ((f"{stem}_hdi_lower", lo), (f"{stem}_hdi_upper", hi)):
            # An HDI bound is a quantile at its own (empirical) level: use that quantile's MCSE.
            level = float(np.clip(np.mean(x <= bound), 0.5 / n, 1 - 0.5 / n))
            mcse[key] = _mcse(x, "quantile", level) if np.isfinite(bound) else float("nan")
    return values, mcse


def posterior_interval_text(x: np.ndarray, *, prob: float = CI_PROB,
                            max_decimals: int | None = None) -> str:
    """``"median (lower to upper)"`` of draws: the posterior median and equal-tailed
    interval of :func:`summarise`, all three with the decimals the coarsest of their Monte
    Carlo standard errors supports (:func:`~pexsurv.workflows.rounding.format_interval`).

    Parameters
    ----------
    x : numpy.ndarray
        Draws, shape ``(chain, draw)`` (e.g. ``result.posterior["hr"].values``).
    prob : float
        Interval probability.
    max_decimals : int, optional
        A display cap below what the MCSEs allow.

    Examples
    --------
    >>> x = np.exp(np.random.default_rng(1).normal(-0.7, 0.2, size=(4, 1000)))
    >>> posterior_interval_text(x)
    '0.4952 (0.3370 to 0.7386)'
    """
    values, mcse = summarise("x", x, prob=prob)
    return format_interval(list(values.values()), list(mcse.values()), max_decimals=max_decimals)


def _probability(key: str, indicator: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    ind = np.asarray(indicator, dtype=float)
    return {key: float(ind.mean())}, {key: _mcse(ind, "mean")}


# --------------------------------------------------------------------------- checks
@dataclass(frozen=True)
class CheckOutcome:
    """One post-fit check of one analysis: ``status`` is ``"passed"``, ``"FAILED"`` or
    ``"skipped"``; ``text`` is the check's verdict or the reason it was skipped."""

    name: str
    status: str
    text: str
    check: Any = None

    @property
    def failed(self) -> bool:
        return self.status == "FAILED"


_LIKELIHOOD_FREE = ("RPSFT: psi rests on a randomization test, not on a likelihood, so there "
                    "is no per-patient log-likelihood (LOO) or joint prior density (power "
                    "scaling)")


def _run_check(name: str, run) -> CheckOutcome:
    try:
        check = run()
    except (ValueError, NotImplementedError) as exc:  # the check refuses this model kind
        return CheckOutcome(name, "skipped", f"not applicable: {exc}")
    return CheckOutcome(name, "passed" if check.passed else "FAILED", check.text, check)


def posterior_checks(result: FitResult, *, checks: bool = True, seed: int = 0
                     ) -> dict[str, CheckOutcome]:
    """The post-fit verdicts of one fit, from its draws (nothing is refitted).

    Parameters
    ----------
    result : FitResult
    checks : bool
        Run the costlier checks (posterior predictive Kaplan-Meier, PSIS-LOO, prior
        sensitivity); otherwise only convergence, the others marked skipped.
    seed : int
        Seed of the posterior predictive replicate trials.

    Returns
    -------
    dict of str to CheckOutcome
        ``convergence``, ``ppc``, ``loo`` and ``prior_sensitivity``. Checks that do not
        apply to the model kind (LOO and prior sensitivity of an RPSFT fit; the Kaplan-Meier
        check of received-exposure or RPSFT fits) are skipped with the reason.

    Examples
    --------
    >>> outcomes = posterior_checks(result)  # doctest: +SKIP
    >>> {k: v.status for k, v in outcomes.items()}  # doctest: +SKIP
    """
    conv = result.convergence
    out = {"convergence": CheckOutcome("convergence", "passed" if conv.passed else "FAILED",
                                       conv.headline, conv)}
    names = ("ppc", "loo", "prior_sensitivity")
    if not checks:
        return out | {n: CheckOutcome(n, "skipped", "not run (checks=False)") for n in names}
    out["ppc"] = _run_check("ppc", lambda: posterior_predictive_survival(result, seed=seed))
    if isinstance(result.spec, RPSFT):
        return out | {n: CheckOutcome(n, "skipped", _LIKELIHOOD_FREE) for n in names[1:]}
    out["loo"] = _run_check("loo", lambda: loo(result))
    out["prior_sensitivity"] = _run_check("prior_sensitivity",
                                          lambda: prior_sensitivity(result))
    return out


# --------------------------------------------------------------------------- one analysis
def _model_label(spec: Any) -> str:
    k = len(spec.cuts) + 1
    if isinstance(spec, RPSFT):
        return f"Bayesian RPSFT (stage-2 PEM, {k} intervals)"
    effect = ("PH" if spec.effect == "ph" else
              f"piecewise effect, {len(spec.effect_cuts or spec.cuts) + 1} periods")
    extras = [e for e, on in (("stratified", spec.strata),
                              (f"covariates {', '.join(spec.covariates)}", spec.covariates),
                              ("received exposure", spec.exposure == "received")) if on]
    return f"PEM {effect}, {k} intervals" + "".join(f", {e}" for e in extras)


def _source(result: FitResult) -> tuple[Any, Any]:
    """What the survival functions read, and the data to check follow-up against.

    An RPSFT posterior's ``log_hr`` is the adjusted (paired, bootstrap) HR, not a parameter
    of the stage-2 PEM: survival per arm comes from the stage-2 PEM itself, control had
    nobody switched (``log_hazard_base``) and experimental as observed
    (``log_hazard_base + log_hr_two_stage``).
    """
    if not isinstance(result.spec, RPSFT):
        return result, None
    post = result.posterior
    post = post.assign({N.LOG_HR: post[N.LOG_HR_TWO_STAGE]})
    tree = xr.DataTree.from_dict({"posterior": post,
                                  "constant_data": result.idata["constant_data"].to_dataset()})
    return tree, result.data


@dataclass
class _Analysis:
    """Everything the report shows about one fit (raw numbers, MCSEs, figure inputs)."""

    label: str
    result: FitResult
    values: dict[str, Any] = field(default_factory=dict)
    mcse: dict[str, float] = field(default_factory=dict)
    periods: list[dict[str, Any]] = field(default_factory=list)
    period_mcse: list[dict[str, float]] = field(default_factory=list)
    hr_draws: dict[str, np.ndarray] = field(default_factory=dict)
    curve: xr.DataArray | None = None
    hazard: xr.DataArray | None = None
    notes: list[str] = field(default_factory=list)
    checks: dict[str, CheckOutcome] = field(default_factory=dict)

    def add(self, summary: tuple[dict[str, float], dict[str, float]]) -> None:
        self.values.update(summary[0])
        self.mcse.update(summary[1])


def _draws(da: xr.DataArray) -> np.ndarray:
    return da.transpose(*N.SAMPLE_DIMS).values


def _analyse(label: str, result: FitResult, *, endpoint: str, thresholds: Sequence[float],
             milestones: Sequence[float], horizon: float | None, prob: float,
             checks: bool, seed: int, curve_points: int) -> _Analysis:
    a = _Analysis(label, result)
    data, spec, post = result.data, result.spec, result.posterior
    piecewise = getattr(spec, "effect", "ph") == "piecewise"
    v = a.values
    v.update(endpoint=endpoint, population=data.population, origin=data.origin,
             model=_model_label(spec), approximate=result.approximate)
    for key, code in zip(ARM_KEYS, (N.REFERENCE, N.EXPERIMENTAL), strict=True):
        in_arm = data.arm == code
        v[f"arm_{key}"] = data.arms[code]
        v[f"n_{key}"] = int(in_arm.sum())
        v[f"events_{key}"] = int(data.event[in_arm].sum())

    # ---- hazard ratio
    lo_q, _ = interval_bounds(prob)
    if piecewise:
        v["hr_definition"] = "no single HR (piecewise effect): see the HR per period"
        hr_period = post[N.HR_PERIOD]
        for period in hr_period[N.PERIOD].values:
            draws = _draws(hr_period.sel({N.PERIOD: period}))
            a.hr_draws[f"HR in {period}"] = draws
            row_v, row_m = summarise("hr", draws, prob=prob, mean=True, hdi=True)
            for t in thresholds:
                pv, pm_ = _probability(f"p_hr_lt_{t:g}", draws < t)
                row_v.update(pv)
                row_m.update(pm_)
            a.periods.append({"analysis": label, "period": str(period), **row_v})
            a.period_mcse.append(row_m)
        hr_cols = ["hr", "hr_mean", "hr_lower", "hr_upper", "hr_hdi_lower", "hr_hdi_upper",
                   *[f"p_hr_lt_{t:g}" for t in thresholds]]
        v.update(dict.fromkeys(hr_cols, float("nan")))
    else:
        v["hr_definition"] = ("RPSFT-adjusted HR (each experimental patient against their own "
                              "counterfactual untreated time; psi posterior and Bayesian "
                              "bootstrap)" if isinstance(spec, RPSFT) else
                              "proportional-hazards HR (experimental / control)")
        draws = _draws(post[N.HR])
        a.hr_draws["HR"] = draws
        a.add(summarise("hr", draws, prob=prob, mean=True, hdi=True))
        for t in thresholds:
            a.add(_probability(f"p_hr_lt_{t:g}", draws < t))

    # ---- survival per arm (extrapolation flagged by the coordinates, not by the warning)
    src, fu_data = _source(result)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        med = median_survival(src, data=fu_data)
        last = med["last_followup"].values
        h = float(np.min(last)) if horizon is None else float(horizon)
        mil = milestone_survival(src, list(milestones), data=fu_data)
        rm = rmst(src, h, data=fu_data)
        grid = np.linspace(0.0, float(np.max(last)), curve_points)
        a.curve = survival_curve(src, grid, data=fu_data)
        a.hazard = hazard_by_arm(src, data=fu_data)
    tail = lo_q
    share = med["extrapolated"].mean(N.SAMPLE_DIMS).values
    for i, key in enumerate(ARM_KEYS):
        v[f"last_followup_{key}"] = float(last[i])
        a.add(summarise(f"median_{key}", _draws(med.isel({N.ARM: i})), prob=prob))
        v[f"median_{key}_extrapolated"] = bool(share[i] > tail)
        for j, t in enumerate(milestones):
            stem = f"surv_{t:g}_{key}"
            a.add(summarise(stem, _draws(mil.isel({N.ARM: i, "time": j})), prob=prob))
            v[f"{stem}_extrapolated"] = bool(mil["extrapolated"].values[i, j])
    diff = _draws(med.isel({N.ARM: 1})) - _draws(med.isel({N.ARM: 0}))
    a.add(summarise("median_diff", diff, prob=prob))
    v["median_diff_extrapolated"] = bool(share.max() > tail)
    v["rmst_horizon"] = h
    a.add(summarise("rmst_diff", _draws(rm.isel({N.ARM: 1})) - _draws(rm.isel({N.ARM: 0})),
                    prob=prob))
    v["rmst_diff_extrapolated"] = bool(rm["extrapolated"].values.any())
    if horizon is None:
        a.notes.append(f"{label}: RMST horizon {_time(h)} = the shorter of the two arms' last "
                       "follow-up times (default)")
    if isinstance(spec, RPSFT):
        a.notes.append(f"{label}: survival per arm from the stage-2 PEM: control had nobody "
                       "switched, experimental as observed; the HR is the adjusted HR, not the "
                       "ratio of these curves")
    if getattr(spec, "exposure", "assigned") == "received":
        a.notes.append(f"{label}: received exposure: 'arms' of the survival quantities are time "
                       "off and on experimental therapy")

    # ---- convergence and the frequentist cross-check
    conv = result.convergence
    v["converged"] = bool(conv.passed)
    v["convergence"] = conv.headline
    strata = data.strata if getattr(spec, "strata", False) else None
    if data.interval_censored.any():
        # Cox and log-rank need one time per event: date them at the visit (the usual
        # practice) and say so, rather than silently reading the visit as the event time.
        data = data.date_events("visit")
        a.notes.append(f"{label}: interval-censored events; the Cox HR, the log-rank p and the "
                       "Kaplan-Meier curves date them at the visit that found them, while the "
                       "posterior uses the intervals")
    cox = cox_hr(data.time, data.event, data.arm, strata=strata, alpha=1 - prob)
    z = logrank_z(data.time, data.event, data.arm, strata)
    v.update(cox_hr=cox.hr, cox_lower=cox.lower, cox_upper=cox.upper,
             logrank_p=float(2 * stats.norm.sf(abs(z))))
    a.checks = posterior_checks(result, checks=checks, seed=seed)
    for name, outcome in a.checks.items():
        v[f"check_{name}"] = outcome.status
    return a


# --------------------------------------------------------------------------- the report
def _three_significant(value: float) -> int:
    """Decimals that keep 3 significant digits (frequentist numbers have no MCSE)."""
    return 2 - math.floor(math.log10(abs(value))) if value else MAX_DECIMALS


def _time(value: float) -> str:
    """A time for display (the RMST horizon is a follow-up time such as 9.77803): 3
    significant digits, trailing zeros dropped."""
    return f"{round(float(value), _three_significant(float(value))):g}"


def _round_frame(raw: pd.DataFrame, mcse: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each number with an MCSE rounded to its decimals; frequentist numbers to 3
    significant digits. Returns the rounded frame and the decimals used per cell."""
    out = raw.copy()
    decimals = pd.DataFrame(index=raw.index, columns=raw.columns, dtype=object)
    for col in mcse.columns:
        for idx in raw.index:
            value = raw.at[idx, col]
            if pd.isna(value) or not np.isfinite(value):
                continue
            d = mcse_decimals(float(mcse.at[idx, col]))
            out.at[idx, col] = round(float(value), d)
            decimals.at[idx, col] = d
    for col in ("cox_hr", "cox_lower", "cox_upper", "logrank_p"):
        if col in raw:
            for idx in raw.index:
                value = float(raw.at[idx, col])
                d = _three_significant(value)
                out.at[idx, col] = round(value, d)
                decimals.at[idx, col] = d
    return out, decimals


def round_hr_table(table: pd.DataFrame, results: Mapping[str, Any]) -> pd.DataFrame:
    """A rounded view of an :func:`~pexsurv.diagnostics.hr_table` table (or a table with its
    columns, such as the comparison of analyses), by :data:`ROUNDING_RULE`.

    Rows whose fit in ``results`` has HR draws get each summary rounded to its Monte Carlo
    standard error: ``hr_median`` (MCSE of the median), ``hr_mean`` (of the mean),
    ``lower``/``upper`` (of the quantile at the table's ``attrs["prob"]`` level) and each
    ``p_hr_lt_<x>`` (of the indicator's mean). Other rows (frequentist estimates) keep 3
    significant digits. The table itself is not changed.

    Examples
    --------
    >>> from pexsurv.diagnostics import hr_table
    >>> from pexsurv.testing import fake_posterior
    >>> from types import SimpleNamespace
    >>> fake = SimpleNamespace(idata=fake_posterior(jitter=0.3, draws=400, chains=4),
    ...                        data=SimpleNamespace(n=10, event=np.ones(10)), approximate=False)
    >>> table = hr_table({"ITT": fake})
    >>> cols = ["hr_median", "lower", "p_hr_lt_1"]
    >>> [round(float(x), 8) for x in table.loc["ITT", cols]]
    [0.49803185, 0.2747462, 0.991875]
    >>> [float(x) for x in round_hr_table(table, {"ITT": fake}).loc["ITT", cols]]
    [0.498, 0.2747, 0.9919]
    """
    lo_q, hi_q = interval_bounds(table.attrs.get("prob", CI_PROB))
    methods = {"hr_median": ("median", None), "hr_mean": ("mean", None),
               "lower": ("quantile", lo_q), "upper": ("quantile", hi_q)}
    columns = [c for c in (*methods, *(c for c in table if str(c).startswith("p_hr_lt_")))
               if c in table]
    out = table.copy()
    for label in table.index:
        result = results.get(label)
        idata = getattr(result, "idata", None)
        draws = (idata["posterior"][N.HR].values if idata is not None and "posterior" in idata
                 and N.HR in idata["posterior"] and idata["posterior"][N.HR].ndim == 2 else None)
        for col in columns:
            value = table.at[label, col]
            if pd.isna(value):
                continue
            value = float(value)
            if draws is None:  # no draws: a frequentist estimate
                d = _three_significant(value)
            elif col in methods:
                method, prob = methods[col]
                d = mcse_decimals(_mcse(draws, method, prob))
            else:
                threshold = float(str(col).removeprefix("p_hr_lt_"))
                d = mcse_decimals(_mcse((draws < threshold).astype(float), "mean"))
            out.at[label, col] = round(value, d)
    return out


@dataclass(frozen=True)
class HazardRatioReport:
    """A hazard-ratio report over one or more fits (see :func:`hazard_ratio_report`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per analysis (index: its label), numbers rounded by :data:`ROUNDING_RULE`;
        ``*_extrapolated`` columns mark quantities beyond follow-up.
    raw, mcse : pandas.DataFrame
        The unrounded numbers and the Monte Carlo standard error of each posterior summary.
    hr_periods, hr_periods_mcse : pandas.DataFrame
        Piecewise-effect fits: the HR per period (rounded likewise) and its MCSEs; empty
        otherwise.
    notes : list of str
        How to read the numbers (horizons, definitions, skipped checks).
    time_unit : str
    thresholds, milestones : tuple of float
    prob : float
    """

    table: pd.DataFrame
    raw: pd.DataFrame
    mcse: pd.DataFrame
    hr_periods: pd.DataFrame
    hr_periods_mcse: pd.DataFrame
    notes: list[str]
    time_unit: str
    thresholds: tuple[float, ...]
    milestones: tuple[float, ...]
    prob: float
    decimals: pd.DataFrame = field(repr=False)
    period_decimals: pd.DataFrame = field(repr=False)
    analyses: tuple[_Analysis, ...] = field(repr=False)

    # ------------------------------------------------------------------ verdicts
    @property
    def unconverged(self) -> list[str]:
        """Labels of the analyses whose fit failed its convergence check."""
        return self.table.index[~self.table["converged"].astype(bool)].tolist()

    @property
    def banner(self) -> str | None:
        """The loud warning shown first when any fit failed its convergence check."""
        bad = self.unconverged
        if not bad:
            return None
        return (f"WARNING: {len(bad)} of {len(self.table)} fit(s) FAILED the convergence check "
                f"({'; '.join(bad)}): their numbers are not reliable; do not report them "
                "(rerun with more draws and tuning, see the diagnostics)")

    # ------------------------------------------------------------------ figures
    def analysis(self, label: str | None = None) -> _Analysis:
        """One analysis of the report by its label (optional when there is only one)."""
        labels = [a.label for a in self.analyses]
        if label is None and len(labels) == 1:
            return self.analyses[0]
        if label is None:
            raise ValueError(f"this report holds {len(labels)} analyses: pass label=, one of "
                             f"{labels}")
        if label not in labels:
            raise ValueError(f"no analysis {label!r} in this report; valid labels: {labels}")
        return self.analyses[labels.index(label)]

    def plot_survival(self, label: str | None = None) -> Figure:
        """Kaplan-Meier per arm with the posterior survival curve and its credible band,
        numbers at risk below (the report's survival figure).

        Parameters
        ----------
        label : str, optional
            The analysis; needed when the report holds more than one.

        Returns
        -------
        matplotlib.figure.Figure
            Not registered with pyplot: display it in a notebook by returning it, save it
            with ``fig.savefig(path)``.

        Examples
        --------
        >>> report.plot_survival("OS ITT").savefig("os_survival.png")  # doctest: +SKIP
        """
        return F.survival_figure(self.analysis(label), self.time_unit, self.prob)

    def plot_hr_posterior(self, label: str | None = None) -> Figure:
        """Posterior draws of the hazard ratio with the report's thresholds (for a
        piecewise effect, one HR per period). Arguments and return as :meth:`plot_survival`.

        Examples
        --------
        >>> report.plot_hr_posterior()  # doctest: +SKIP
        """
        return F.hr_figure(self.analysis(label), self.thresholds, self.prob)

    def plot_hazards(self, label: str | None = None) -> Figure:
        """Posterior hazard per interval and arm (and the HR per period for a piecewise
        effect). Arguments and return as :meth:`plot_survival`.

        Examples
        --------
        >>> report.plot_hazards()  # doctest: +SKIP
        """
        return F.hazard_figure(self.analysis(label), self.time_unit, self.prob)

    def plot_forest(self) -> Figure:
        """Forest plot across the report's analyses: posterior median HR and interval beside
        the Cox HR and its confidence interval (per period for piecewise effects).

        Examples
        --------
        >>> report.plot_forest()  # doctest: +SKIP
        """
        periods = pd.DataFrame([p for a in self.analyses for p in a.periods])
        return F.forest_figure(self.raw, periods, self.prob)

    # ------------------------------------------------------------------ display cells
    def _fmt(self, idx: str, col: str, table: pd.DataFrame | None = None,
             decimals: pd.DataFrame | None = None) -> str:
        table = self.table if table is None else table
        decimals = self.decimals if decimals is None else decimals
        value = table.at[idx, col]
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        if isinstance(value, str):
            return value
        if pd.isna(value):
            return "–"
        if np.isinf(value):
            return "not reached"
        if col == "logrank_p" and 0 < value < 1e-3:
            return f"{value:.2e}"  # 3 significant digits, not a string of zeros
        if col.startswith("p_hr_lt_") and value in (0.0, 1.0):
            # Every draw on one side: the MCSE is 0, but the precision is one draw in N.
            return "1 (every draw)" if value == 1.0 else "0 (no draw)"
        d = decimals.at[idx, col] if col in decimals else None
        if d is None or pd.isna(d):
            return f"{value:g}"
        return f"{value:.{max(int(d), 0)}f}"

    def _estimate(self, idx: str, stem: str, table=None, decimals=None) -> str:
        """``median (lower, upper)`` with a dagger when extrapolated."""
        table = self.table if table is None else table
        lower, upper = (self._fmt(idx, f"{stem}_{b}", table, decimals) for b in ("lower", "upper"))
        text = f"{self._fmt(idx, stem, table, decimals)} ({lower}, {upper})"
        flag = f"{stem}_extrapolated"
        return text + (" †" if flag in table and bool(table.at[idx, flag]) else "")

    def sections(self) -> list[tuple[str, pd.DataFrame]]:
        """The report's display tables (strings, ready for a study report), in order."""
        pct = f"{self.prob:.0%}"
        hr = {}
        for idx in self.table.index:
            row = {"n (control / experimental)":
                   f"{self.table.at[idx, 'n_control']} / {self.table.at[idx, 'n_experimental']}",
                   "events": f"{self.table.at[idx, 'events_control']} / "
                             f"{self.table.at[idx, 'events_experimental']}",
                   "model": self.table.at[idx, "model"]}
            if pd.isna(self.table.at[idx, "hr"]):
                row.update({"HR median": "no single HR (see HR per period)", "HR mean": "–",
                            f"{pct} ETI": "–", f"{pct} HDI": "–"})
                row.update({f"P(HR < {t:g})": "–" for t in self.thresholds})
            else:
                row.update({
                    "HR median": self._fmt(idx, "hr"), "HR mean": self._fmt(idx, "hr_mean"),
                    f"{pct} ETI": f"{self._fmt(idx, 'hr_lower')}, {self._fmt(idx, 'hr_upper')}",
                    f"{pct} HDI": f"{self._fmt(idx, 'hr_hdi_lower')}, "
                                  f"{self._fmt(idx, 'hr_hdi_upper')}"})
                row.update({f"P(HR < {t:g})": self._fmt(idx, f"p_hr_lt_{t:g}")
                            for t in self.thresholds})
            row["Cox HR (95% CI)"] = (f"{self._fmt(idx, 'cox_hr')} ({self._fmt(idx, 'cox_lower')}, "
                                      f"{self._fmt(idx, 'cox_upper')})")
            row["log-rank p"] = self._fmt(idx, "logrank_p")
            hr[idx] = row
        surv = {}
        u = self.time_unit
        for idx in self.table.index:
            row = {}
            for key in ARM_KEYS:
                arm = self.table.at[idx, f"arm_{key}"]
                row[f"median {arm} ({u})"] = self._estimate(idx, f"median_{key}")
            row[f"median difference ({u})"] = self._estimate(idx, "median_diff")
            for t in self.milestones:
                for key in ARM_KEYS:
                    arm = self.table.at[idx, f"arm_{key}"]
                    row[f"S({t:g}) {arm}"] = self._estimate(idx, f"surv_{t:g}_{key}")
            row[f"RMST difference ({u})"] = (self._estimate(idx, "rmst_diff") + " to "
                                             + _time(self.table.at[idx, "rmst_horizon"]))
            surv[idx] = row
        diag = {}
        for a in self.analyses:
            conv = a.checks["convergence"].check
            row = {"convergence": "passed" if conv.passed else "FAILED",
                   "max R-hat": f"{conv.table['r_hat'].max():.3f}",
                   "min ESS (bulk/tail)": f"{conv.table['ess_bulk'].min():.0f} / "
                                          f"{conv.table['ess_tail'].min():.0f}",
                   "divergences": str(conv.divergences)}
            for name in ("ppc", "loo", "prior_sensitivity"):
                row[name] = a.checks[name].status
            diag[a.label] = row
        out = [("Hazard ratio", pd.DataFrame.from_dict(hr, orient="index")),
               ("Survival", pd.DataFrame.from_dict(surv, orient="index")),
               ("Diagnostics", pd.DataFrame.from_dict(diag, orient="index"))]
        if not self.hr_periods.empty:
            rows = {}
            dec = self.period_decimals
            for i, r in self.hr_periods.iterrows():
                rows[f"{r['analysis']} | {r['period']}"] = {
                    "HR median": self._fmt(i, "hr", self.hr_periods, dec),
                    "HR mean": self._fmt(i, "hr_mean", self.hr_periods, dec),
                    f"{pct} ETI": f"{self._fmt(i, 'hr_lower', self.hr_periods, dec)}, "
                                  f"{self._fmt(i, 'hr_upper', self.hr_periods, dec)}",
                    f"{pct} HDI": f"{self._fmt(i, 'hr_hdi_lower', self.hr_periods, dec)}, "
                                  f"{self._fmt(i, 'hr_hdi_upper', self.hr_periods, dec)}",
                    **{f"P(HR < {t:g})": self._fmt(i, f"p_hr_lt_{t:g}", self.hr_periods, dec)
                       for t in self.thresholds}}
            out.insert(1, ("HR per period (piecewise effect)",
                           pd.DataFrame.from_dict(rows, orient="index")))
        return out

    @property
    def footnotes(self) -> list[str]:
        tail = (1 - self.prob) / 2
        return [f"† extrapolated: rests on the model beyond the arm's last follow-up time "
                f"(S(t) at t beyond it; RMST horizon beyond it; {_MEDIAN_NOTE.format(tail=tail)}).",
                f"Intervals: {self.prob:.0%} equal-tailed (ETI) and highest-density (HDI) "
                "posterior intervals; Cox HR with Wald CI (Efron ties) and log-rank p-value of "
                "the same data, frequentist cross-checks.",
                f"Rounding: {ROUNDING_RULE}",
                *self.notes]

    # ------------------------------------------------------------------ exports
    def to_markdown(self) -> str:
        """The report as Markdown: the banner (if any), one table per section, footnotes.

        Examples
        --------
        >>> print(report.to_markdown())  # doctest: +SKIP
        """
        lines = [f"# Posterior hazard-ratio report (time unit: {self.time_unit})", ""]
        if self.banner:
            lines += [f"> **{self.banner}**", ""]
        for title, frame in self.sections():
            lines += [f"## {title}", "", _markdown_table(frame), ""]
        lines += ["## Checks", ""]
        for a in self.analyses:
            lines += [f"- **{a.label}**"] + [f"  - {name}: {o.status}. {o.text}"
                                             for name, o in a.checks.items()]
        lines += ["", "## Notes", ""] + [f"- {n}" for n in self.footnotes]
        return "\n".join(lines) + "\n"

    def to_csv(self, path: str | PathLike[str]) -> list[Path]:
        """Write :attr:`table` (and, for piecewise-effect fits, :attr:`hr_periods` beside it
        as ``<stem>.hr_periods.csv``); returns the paths written.

        Examples
        --------
        >>> report.to_csv(tmp_path / "report.csv")  # doctest: +SKIP
        """
        path = Path(path)
        self.table.to_csv(path, index_label="analysis")
        written = [path]
        if not self.hr_periods.empty:
            extra = path.with_suffix(".hr_periods.csv")
            self.hr_periods.to_csv(extra, index=False)
            written.append(extra)
        return written

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form: ``table`` and ``hr_periods`` as records, the MCSEs,
        ``notes``, ``rounding``, ``time_unit``, ``banner``."""
        def records(frame: pd.DataFrame, index: str | None) -> list[dict[str, Any]]:
            frame = frame.reset_index(names=index) if index else frame
            return json.loads(frame.to_json(orient="records"))

        return {"pexsurv_version": __version__, "time_unit": self.time_unit,
                "prob": self.prob, "banner": self.banner, "rounding": ROUNDING_RULE,
                "table": records(self.table, "analysis"),
                "mcse": records(self.mcse, "analysis"),
                "hr_periods": records(self.hr_periods, None), "notes": self.footnotes}

    def to_json(self, path: str | PathLike[str]) -> Path:
        """Write :meth:`to_dict` as JSON (non-finite numbers as ``null``)."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    def to_html(self, path: str | PathLike[str]) -> Path:
        """Write one self-contained HTML file: banner, tables, figures embedded as base64
        PNG (Kaplan-Meier with the posterior survival band and numbers at risk, HR
        posterior with thresholds, forest plot, hazard per interval, posterior predictive
        check), diagnostics. No external links, scripts or style sheets.

        Examples
        --------
        >>> report.to_html(tmp_path / "report.html")  # doctest: +SKIP
        """
        from pexsurv.workflows._html import render

        path = Path(path)
        path.write_text(render(self), encoding="utf-8")
        return path

    def __str__(self) -> str:
        return self.to_markdown()


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|")

    header = ["analysis", *map(str, frame.columns)]
    rows = [[cell(i), *(cell(x) for x in r)]
            for i, r in zip(frame.index, frame.values, strict=True)]
    out = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _endpoint_of(label: str, endpoint: str | Mapping[str, str] | None) -> str:
    if isinstance(endpoint, Mapping):
        return str(endpoint.get(label, ""))
    return "" if endpoint is None else str(endpoint)


def hazard_ratio_report(
    results: FitResult | Mapping[str, FitResult],
    *,
    thresholds: Sequence[float] = (1.0, 0.8),
    milestones: Sequence[float] = (6, 12),
    horizon: float | None = None,
    endpoint: str | Mapping[str, str] | None = None,
    time_unit: str = "months",
    prob: float = CI_PROB,
    checks: bool = True,
    seed: int = 0,
) -> HazardRatioReport:
    """Posterior hazard-ratio report over finished fits (nothing is refitted).

    Parameters
    ----------
    results : FitResult or mapping of str to FitResult
        One fit, or fits by label (one row each). PEM (PH or piecewise effect) and
        Bayesian RPSFT fits.
    thresholds : sequence of float
        Reported as P(HR < threshold) (1 = any benefit; e.g. 0.8 a clinically relevant one).
    milestones : sequence of float
        Times at which survival per arm is reported (time unit of the data).
    horizon : float, optional
        RMST horizon; default: per analysis, the shorter of the two arms' last follow-up
        times (so that no arm's RMST is extrapolated; stated in the notes).
    endpoint : str or mapping of str to str, optional
        Endpoint name for every analysis or by label (fits do not record it).
    time_unit : str
        Unit of the data's times, used in labels and axes.
    prob : float
        Probability of the credible intervals (default 95%).
    checks : bool
        Run the post-fit checks that cost seconds per fit (posterior predictive
        Kaplan-Meier, PSIS-LOO, prior sensitivity); convergence is always reported.
    seed : int
        Seed of the posterior predictive replicate trials.

    Returns
    -------
    HazardRatioReport

    Notes
    -----
    Piecewise-effect fits have no single HR: their row leaves the HR columns empty and
    :attr:`HazardRatioReport.hr_periods` holds the HR per period. For a Bayesian RPSFT the
    HR is the adjusted HR, and survival per arm comes from the stage-2 PEM (control had
    nobody switched, experimental as observed); its Cox HR and log-rank test are the
    unadjusted ITT comparison.

    Examples
    --------
    >>> report = hazard_ratio_report({"OS ITT": result}, endpoint="OS")  # doctest: +SKIP
    >>> report.table[["hr", "hr_lower", "hr_upper", "p_hr_lt_1"]]  # doctest: +SKIP
    >>> report.to_html("report.html")  # doctest: +SKIP
    """
    if isinstance(results, FitResult):
        results = {results.data.population: results}
    if not isinstance(results, Mapping) or not results:
        raise TypeError("results must be a FitResult or a non-empty mapping label -> FitResult")
    bad = [k for k, r in results.items() if not isinstance(r, FitResult)]
    if bad:
        raise TypeError("results must map labels to FitResult objects; not a FitResult: "
                        f"{bad[:10]}")
    thresholds = tuple(float(t) for t in thresholds)
    milestones = tuple(float(t) for t in milestones)
    if any(t <= 0 for t in thresholds):
        raise ValueError(f"thresholds must be positive hazard ratios, got {thresholds}")
    if any(t < 0 for t in milestones):
        raise ValueError(f"milestones must be times >= 0, got {milestones}")
    if horizon is not None and not horizon > 0:
        raise ValueError(f"horizon must be a positive time, got {horizon}")
    analyses = tuple(
        _analyse(str(label), r, endpoint=_endpoint_of(str(label), endpoint),
                 thresholds=thresholds, milestones=milestones, horizon=horizon, prob=prob,
                 checks=checks, seed=seed, curve_points=101)
        for label, r in results.items())
    raw = pd.DataFrame([a.values for a in analyses], index=[a.label for a in analyses])
    raw.index.name = "analysis"
    mcse = pd.DataFrame([a.mcse for a in analyses], index=raw.index)
    table, decimals = _round_frame(raw, mcse)
    periods = [p for a in analyses for p in a.periods]
    period_mcse = [m for a in analyses for m in a.period_mcse]
    if periods:
        pmcse = pd.DataFrame(period_mcse)
        hr_periods, pdec = _round_frame(pd.DataFrame(periods), pmcse)
    else:
        hr_periods, pdec, pmcse = pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    notes = [n for a in analyses for n in a.notes]
    notes += [f"{a.label}: {o.name} skipped: {o.text}" for a in analyses
              for o in a.checks.values() if o.status == "skipped" and checks]
    return HazardRatioReport(table=table, raw=raw, mcse=mcse, hr_periods=hr_periods,
                             hr_periods_mcse=pmcse,
                             notes=notes, time_unit=time_unit, thresholds=thresholds,
                             milestones=milestones, prob=prob, decimals=decimals,
                             period_decimals=pdec,
                             analyses=analyses)
