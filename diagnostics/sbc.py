"""Simulation-based calibration (SBC) of piecewise-exponential models (Talts et al. 2018).

If parameters are drawn from the prior, data are simulated from them and the model is fitted
to those data, the rank of each true value among its posterior draws is uniform, provided
that the sampler, the likelihood and the simulator agree. A skewed rank distribution reveals
a biased posterior, a U shape an over-confident one and a hump an under-confident one.

Ranks are judged two ways per parameter: a chi-square test of the binned ranks and the
empirical CDF of the (randomized) fractional ranks against the uniform CDF, with the
simultaneous confidence band of Säilynoja, Bürkner and Vehtari (2022), computed with
ArviZ's :func:`arviz_stats.ecdf_utils.ecdf_pit` (the helper behind ArviZ's own PIT-ECDF
plots).

References
----------
Talts, Betancourt, Simpson, Vehtari, Gelman (2018). Validating Bayesian inference
algorithms with simulation-based calibration. arXiv:1804.06788.
Säilynoja, Bürkner, Vehtari (2022). Graphical test for discrete uniformity and its
applications in goodness-of-fit evaluation and multiple sample comparison. Statistics and
Computing 32, 32.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from arviz_base import dataset_to_dataframe
from arviz_stats.ecdf_utils import ecdf_pit
from matplotlib.figure import Figure
from rich.progress import track
from scipy import stats

from pexsurv import _names as N
from pexsurv.data import TrialData, _readonly
from pexsurv.defaults import CI_PROB
from pexsurv.diagnostics.check import CheckResult
from pexsurv.diagnostics.convergence import ConvergenceWarning
from pexsurv.diagnostics.replicate import (
    SubjectHazards,
    censoring_times,
    event_times,
    require_replicable,
)
from pexsurv.fitting import FitResult, SamplerConfig, compile_spec, fit
from pexsurv.models import PiecewiseExponential

__all__ = ["SBCResult", "sbc_ranks", "simulation_based_calibration"]

# Uniform samples simulated to calibrate the simultaneous ECDF band (ArviZ's default).
_BAND_SIMULATIONS = 1000
# Default chi-square binning: about this many simulations expected per bin (Talts et al.
# use ~20; 10 keeps the test usable at 100 simulations), between 2 and 20 bins.
_PER_BIN = 10
_MAX_BINS = 20


# --------------------------------------------------------------------------- rank machinery
def sbc_ranks(truth: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Rank of each true value among its posterior draws: the number of draws below it.

    Parameters
    ----------
    truth : array_like, shape ``(...)``
        True (prior-drawn) values.
    draws : array_like, shape ``(..., L)``
        Posterior draws of each, last axis the ``L`` draws.

    Returns
    -------
    numpy.ndarray
        Integer ranks in ``0..L``, shape of ``truth``. Ties (probability zero for the
        continuous parameters of these models) count as not below.

    Examples
    --------
    >>> sbc_ranks([0.5, 2.0], [[0.1, 0.9, 0.3], [1.0, 3.0, 4.0]]).tolist()
    [2, 1]
    """
    truth = np.asarray(truth, dtype=float)
    draws = np.asarray(draws, dtype=float)
    return (draws < truth[..., None]).sum(axis=-1)


def _default_bins(n_sims: int, max_rank: int) -> int:
    return int(min(max(n_sims // _PER_BIN, 2), _MAX_BINS, max_rank + 1))


def _chi_square(ranks: np.ndarray, max_rank: int, bins: int) -> tuple[float, float]:
    """Chi-square statistic and p-value of ranks binned into ``bins`` contiguous groups.

    When ``max_rank + 1`` is not a multiple of ``bins`` the groups hold unequal numbers of
    rank values, so each bin's expected share is its number of values over ``max_rank + 1``
    (exact under uniformity, unlike equal expected counts).
    """
    groups = np.array_split(np.arange(max_rank + 1), bins)
    bin_of = np.concatenate([np.full(g.size, b) for b, g in enumerate(groups)])
    observed = np.bincount(bin_of[ranks], minlength=bins)
    expected = np.array([g.size for g in groups]) / (max_rank + 1) * ranks.size
    result = stats.chisquare(observed, expected)
    return float(result.statistic), float(result.pvalue)


def _fractional_ranks(ranks: np.ndarray, max_rank: int, rng: np.random.Generator) -> np.ndarray:
    """``(rank + V) / (L + 1)`` with ``V ~ U(0, 1)``: exactly uniform on (0, 1) when the ranks
    are uniform on ``0..L``, so continuous tests and bands apply without a discreteness
    correction (a randomized PIT)."""
    return (ranks + rng.random(ranks.shape)) / (max_rank + 1)


def _flatten(ds: xr.Dataset) -> pd.DataFrame:
    """Draws (rows, chain by chain) of every scalar element of every variable (columns),
    labelled as ArviZ labels them: ``log_hazard_base[(0, 2]]``."""
    flat = dataset_to_dataframe(ds, sample_dims=list(N.SAMPLE_DIMS))
    return flat.reset_index(drop=True).rename_axis(columns=None)


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class SBCResult(CheckResult):
    """Outcome of :func:`simulation_based_calibration` (or of :meth:`from_ranks`).

    Attributes
    ----------
    passed : bool
        No parameter's chi-square p-value is below ``alpha / m`` (Bonferroni over the ``m``
        parameters, so the family-wise false-alarm rate of a calibrated model is at most
        ``alpha``; conservative, as the parameters' ranks are correlated).
    table : pandas.DataFrame
        One row per parameter: ``chi2``, ``df``, ``chi2_p`` (binned ranks), ``ks_stat``
        and ``ks_p`` (Kolmogorov-Smirnov distance of the fractional-rank ECDF from the
        uniform CDF), ``in_band`` (the ECDF stays inside the simultaneous ``ci_prob``
        band), ``mean_rank`` (as a fraction: 0.5 when unbiased) and ``ok``
        (``chi2_p >= alpha / m``).
    ranks : pandas.DataFrame
        Integer ranks in ``0..max_rank``, one row per simulation, one column per parameter.
    max_rank : int
        Posterior draws each rank is taken among (after thinning).
    bins : int
        Bins of the chi-square test.
    alpha, ci_prob : float
    ecdf : pandas.DataFrame
        ECDF of each parameter's fractional ranks (columns) at the evaluation points (index).
    band : pandas.DataFrame
        ``lower`` and ``upper`` simultaneous band at the same points.
    fits : pandas.DataFrame
        One row per simulation: ``converged``, ``min_ess_bulk``, ``max_r_hat``,
        ``divergences``, ``seconds`` (empty columns for ranks given directly).
    truth : pandas.DataFrame or None
        The prior-drawn true values (simulation x parameter).
    settings : mapping
        How the ranks were made (draws, thinning, sampler, censoring, seed, timings).
    name : str
    """

    passed: bool
    table: pd.DataFrame
    ranks: pd.DataFrame
    max_rank: int
    bins: int
    alpha: float
    ci_prob: float
    ecdf: pd.DataFrame
    band: pd.DataFrame
    fits: pd.DataFrame
    truth: pd.DataFrame | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    name: str = "simulation_based_calibration"

    @classmethod
    def from_ranks(
        cls,
        ranks: pd.DataFrame,
        max_rank: int,
        *,
        alpha: float = 0.01,
        bins: int | None = None,
        ci_prob: float = CI_PROB,
        seed: int = 0,
        fits: pd.DataFrame | None = None,
        truth: pd.DataFrame | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> SBCResult:
        """Test ranks for uniformity: the part of SBC that needs no sampling.

        Parameters
        ----------
        ranks : pandas.DataFrame
            Integer ranks in ``0..max_rank``, simulations as rows, parameters as columns.
        max_rank : int
            Number of posterior draws each rank was taken among.
        alpha : float
            Family-wise level of the pass rule (Bonferroni-adjusted per parameter).
        bins : int, optional
            Chi-square bins (default: about 10 simulations per bin, 2 to 20 bins).
        ci_prob : float
            Simultaneous coverage of the ECDF band.
        seed : int
            Seed of the fractional-rank randomization and of the band simulation.
        fits, truth, settings
            Stored as given (see the class attributes).

        Examples
        --------
        >>> rng = np.random.default_rng(1)
        >>> ranks = pd.DataFrame({"uniform": rng.integers(0, 100, 200),
        ...                       "biased": rng.integers(30, 100, 200)})
        >>> check = SBCResult.from_ranks(ranks, max_rank=99)
        >>> check.table["ok"].to_dict(), check.passed
        ({'uniform': True, 'biased': False}, False)
        """
        if max_rank < 1:
            raise ValueError(f"max_rank must be >= 1, got {max_rank}")
        if not 0 < alpha < 1 or not 0 < ci_prob < 1:
            raise ValueError("alpha and ci_prob must be in (0, 1)")
        values = ranks.to_numpy()
        if ranks.empty or values.dtype.kind not in "iu" or values.min() < 0 or values.max() > max_rank:
            raise ValueError(f"ranks must be a non-empty frame of integers in 0..{max_rank}")
        n_sims, n_params = values.shape
        bins = _default_bins(n_sims, max_rank) if bins is None else int(bins)
        if not 2 <= bins <= max_rank + 1:
            raise ValueError(f"bins must be in 2..{max_rank + 1}, got {bins}")
        rng = np.random.default_rng(seed)
        band_seed = int(rng.integers(2**31))
        rows, ecdfs = {}, {}
        for name in ranks.columns:
            r = ranks[name].to_numpy()
            chi2, chi2_p = _chi_square(r, max_rank, bins)
            u = _fractional_ranks(r, max_rank, rng)
            ks = stats.kstest(u, "uniform")
            # The band depends only on the number of simulations: the same seed gives every
            # parameter the same band.
            x, ecdf, lower, upper = ecdf_pit(u, ci_prob, _BAND_SIMULATIONS,
                                             rng=np.random.default_rng(band_seed))
            ecdfs[name] = ecdf
            rows[name] = {"chi2": chi2, "df": bins - 1, "chi2_p": chi2_p,
                          "ks_stat": float(ks.statistic), "ks_p": float(ks.pvalue),
                          "in_band": bool(((ecdf >= lower) & (ecdf <= upper)).all()),
                          "mean_rank": float(r.mean() / max_rank)}
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "parameter"
        table["ok"] = table["chi2_p"] >= alpha / n_params
        if fits is None:
            fits = pd.DataFrame({"converged": True}, index=ranks.index)
        return cls(passed=bool(table["ok"].all()), table=table, ranks=ranks,
                   max_rank=int(max_rank), bins=bins, alpha=alpha, ci_prob=ci_prob,
                   ecdf=pd.DataFrame(ecdfs, index=pd.Index(x, name="fractional_rank")),
                   band=pd.DataFrame({"lower": lower, "upper": upper},
                                     index=pd.Index(x, name="fractional_rank")),
                   fits=fits, truth=truth, settings=dict(settings or {}))

    @property
    def n_sims(self) -> int:
        return int(len(self.ranks))

    @property
    def n_failed(self) -> int:
        """Fits that failed a convergence threshold (their ranks are kept)."""
        return int((~self.fits["converged"].astype(bool)).sum())

    @property
    def text(self) -> str:
        m = len(self.table)
        worst = self.table["chi2_p"].idxmin()
        verdict = "passed" if self.passed else "FAILED"
        lines = [
            f"Simulation-based calibration {verdict}: ranks of {m} parameter(s) over "
            f"{self.n_sims} simulations ({self.max_rank} posterior draws each); smallest "
            f"chi-square p = {self.table.loc[worst, 'chi2_p']:.3g} ({worst}), threshold "
            f"{self.alpha:g}/{m} = {self.alpha / m:.3g} (Bonferroni); ECDF inside the "
            f"{self.ci_prob:.0%} simultaneous band for {int(self.table['in_band'].sum())} of {m}."
        ]
        failing = self.table.index[~self.table["ok"]].tolist()
        if failing:
            lines.append(f"- non-uniform: {', '.join(failing)}")
        if self.n_failed:
            lines.append(f"- {self.n_failed} of {self.n_sims} fits failed convergence "
                         "thresholds (ranks kept: dropping them would condition on the data)")
        return "\n".join(lines)

    def plot(self) -> Figure:
        """ECDF of each parameter's fractional ranks minus the uniform CDF, inside the
        simultaneous band; a calibrated parameter stays in the band.

        Returns a :class:`matplotlib.figure.Figure` not registered with pyplot.
        """
        names = list(self.table.index)
        ncols = min(len(names), 3)
        nrows = math.ceil(len(names) / ncols)
        fig = Figure(figsize=(3.6 * ncols, 2.9 * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True).ravel()
        x = self.ecdf.index.to_numpy()
        for ax, name in zip(axes, names, strict=False):
            row = self.table.loc[name]
            ax.fill_between(x, self.band["lower"] - x, self.band["upper"] - x, color="C0",
                            alpha=0.2, linewidth=0, label=f"{self.ci_prob:.0%} simultaneous band")
            ax.plot(x, self.ecdf[name] - x, color="C0" if row["ok"] else "C3")
            ax.axhline(0.0, color="grey", linewidth=0.8)
            ax.set_title(f"{name}\nchi-square p = {row['chi2_p']:.2g}", fontsize="small")
        for ax in axes[len(names):]:
            ax.set_visible(False)
        # The lowest visible panel of each column carries the x axis (the last row may be
        # incomplete, and shared axes hide tick labels above the bottom row).
        for ax in axes[max(len(names) - ncols, 0):len(names)]:
            ax.set_xlabel("fractional rank")
            ax.tick_params(labelbottom=True)
        for ax in axes[::ncols]:
            ax.set_ylabel("ECDF - uniform")
        axes[0].legend(fontsize="x-small", loc="lower left")
        fig.suptitle(f"SBC: {self.n_sims} simulations, ranks among {self.max_rank} draws")
        return fig


# --------------------------------------------------------------------------- simulation
def _fixed_prior_spec(spec: PiecewiseExponential, data: TrialData) -> PiecewiseExponential:
    """``spec`` with every prior resolved on ``data`` and passed as a user prior.

    Data-driven prior values (the baseline centred on the crude event rate) would otherwise
    be re-resolved on each simulated data set, so every simulation would be fitted under a
    different prior from the one its truth was drawn from, and the ranks would not be
    uniform even for a correct model. User priors are never overwritten by data.
    """
    return dataclasses.replace(spec, priors=spec.resolved_priors(data))


def _check_supported(spec: Any, data: TrialData) -> None:
    require_replicable(spec, "simulation-based calibration")
    if not spec.design(data).aggregated:
        raise ValueError(
            "simulation-based calibration needs the aggregated likelihood (events and "
            "person-time per cell): episode rows change in number with each simulated data "
            "set, so one compiled model could not serve them. Use likelihood='auto' or "
            "'aggregated' and categorical covariates only."
        )


def _prior_draws(spec: PiecewiseExponential, data: TrialData, n_sims: int,
                 seed: int) -> FitResult:
    """``n_sims`` joint prior draws of ``spec`` on ``data``, held as a FitResult whose
    ``posterior`` group is the prior: the form the posterior predictive simulator of
    :mod:`pexsurv.diagnostics.ppc` reads."""
    model = spec.build(data)
    idata = pm.sample_prior_predictive(draws=n_sims, model=model, random_seed=seed)
    tree = xr.DataTree.from_dict({"posterior": idata["prior"].to_dataset(),
                                  "constant_data": idata["constant_data"].to_dataset()})
    return FitResult(idata=tree, spec=spec, priors=spec.resolved_priors(data), data=data,
                     sampler=SamplerConfig(progress=False))


def _replicate(data: TrialData, hazards: SubjectHazards, sample: int,
               rng: np.random.Generator) -> TrialData:
    """A trial of the same design as ``data`` (ids, arms, strata, covariates, censoring)
    with event times from the hazards of prior draw ``sample``."""
    rates = np.exp(hazards.log_rates(np.array([sample])))
    t_event = event_times(rates, hazards.cuts, rng)[0]
    t_censor = censoring_times(data, 1, rng)[0]
    event = t_event <= t_censor
    return dataclasses.replace(
        data,
        time=_readonly(np.minimum(t_event, t_censor)),
        event=_readonly(event.astype(data.event.dtype)),
        # Potential censoring times are known for every subject when the data give them;
        # drawn reverse Kaplan-Meier times may be infinite and are not data.
        censor_time=None if data.censor_time is None else _readonly(t_censor),
        # Treatment start and switching are not simulated (exposure='assigned' only).
        treatment_start=None,
        switch_time=None,
        notes=(*data.notes, f"simulated from prior draw {sample} for SBC"),
    )


def _fit_row(result: FitResult, seconds: float) -> dict[str, Any]:
    check = result.convergence
    return {"converged": bool(check.passed), "min_ess_bulk": float(check.table["ess_bulk"].min()),
            "max_r_hat": float(check.table["r_hat"].max()), "divergences": check.divergences,
            "seconds": seconds}


def simulation_based_calibration(
    spec: PiecewiseExponential,
    data: TrialData,
    n_sims: int,
    *,
    draws: int = 500,
    thin: int = 5,
    seed: int,
    config: SamplerConfig | None = None,
    progress: bool = True,
    var_names: Sequence[str] | None = None,
    alpha: float = 0.01,
    bins: int | None = None,
) -> SBCResult:
    """Simulation-based calibration of a piecewise-exponential model on a trial's design.

    For each of ``n_sims`` simulations: one joint draw of all parameters from the prior;
    a new trial of the same design as ``data`` simulated from it; a fit of the model to
    that trial; and, for each scalar parameter, the rank of the true value among the
    thinned posterior draws. Ranks are then tested for uniformity
    (:meth:`SBCResult.from_ranks`).

    - **Fixed prior.** The default baseline prior is centred on the crude event rate of
      the data it is fitted to. Resolved anew on each simulated trial it would differ
      from the prior the truth was drawn from, and SBC would be invalid. The priors are
      therefore resolved once on ``data`` (the template) and passed to the spec as user
      priors, for the prior draws and every fit alike.
    - **Design and censoring.** Each simulated trial keeps the subjects of ``data``
      (ids, arms, strata, covariates). Event times come from the prior draw's
      piecewise-exponential hazards of each subject; censoring is that of the posterior
      predictive checks (:func:`~pexsurv.diagnostics.posterior_predictive_survival`):
      censored subjects at their observed censoring time, subjects with an event at
      their potential censoring time ``data.censor_time`` when given, else at a time
      drawn from their arm's reverse Kaplan-Meier censoring distribution beyond their
      event time. The aggregated cells (stratum x arm x categorical covariates x
      interval) keep their layout, so one model compiled once serves every fit.
    - **Thinning.** Every ``thin``-th draw of each chain is kept, so ranks are taken
      among ``chains * ceil(draws / thin)`` draws. Autocorrelated draws give non-uniform
      ranks even for a calibrated model; ``SBCResult.fits["min_ess_bulk"]`` tells
      whether the kept draws are about independent (ESS at least their number).
    - **Failed fits.** Fits are run with the ``ConvergenceWarning`` of each fit
      silenced; their diagnostics are stored in ``SBCResult.fits``, their ranks are kept
      (dropping them would select on the simulated data), and one summary
      ``ConvergenceWarning`` is emitted when any fit failed.

    Parameters
    ----------
    spec : PiecewiseExponential
        ``exposure="assigned"`` with the aggregated likelihood (any strata, categorical
        covariates, PH or piecewise effect, baseline structure).
    data : TrialData
        Template trial: its design, censoring and data-driven prior values.
    n_sims : int
        Simulations (100 or more for a useful test; Talts et al. use 1000).
    draws : int
        Posterior draws per chain of each fit.
    thin : int
        Keep every ``thin``-th draw of each chain for the ranks.
    seed : int
        Seed of the prior draws, the simulated trials and the fits.
    config : SamplerConfig, optional
        Sampler settings of the fits (sampler, chains, tune, target_accept, options);
        its ``draws``, ``seed`` and ``progress`` are replaced.
    progress : bool
        Show a progress bar over simulations (the fits themselves stay quiet).
    var_names : sequence of str, optional
        Variables to rank (default: those the priors are placed on, e.g.
        ``log_hazard_base`` per interval and ``log_hr``).
    alpha, bins
        See :meth:`SBCResult.from_ranks`.

    Returns
    -------
    SBCResult

    Warns
    -----
    ConvergenceWarning
        When any fit failed a convergence threshold (one warning for the run).

    Examples
    --------
    >>> sbc = simulation_based_calibration(PiecewiseExponential(cuts=[2.0, 6.0]), data,
    ...                                    n_sims=100, seed=1)  # doctest: +SKIP
    >>> sbc.table, sbc.passed                                   # doctest: +SKIP
    >>> fig = sbc.plot()                                        # doctest: +SKIP
    """
    for label, value in (("n_sims", n_sims), ("draws", draws), ("thin", thin)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{label} must be a positive integer, got {value!r}")
    if n_sims < 2:
        raise ValueError("n_sims must be at least 2 for a uniformity test")
    t_start = time.perf_counter()
    fixed = _fixed_prior_spec(spec, data)
    _check_supported(fixed, data)
    sampler = dataclasses.replace(config or SamplerConfig(), draws=draws, progress=False)

    prior_seq, *sim_seqs = np.random.SeedSequence(seed).spawn(n_sims + 1)
    prior = _prior_draws(fixed, data, n_sims, int(prior_seq.generate_state(1)[0]))
    names = list(fixed.resolved_priors(data) if var_names is None else var_names)
    missing = sorted(set(names) - set(prior.posterior.data_vars))
    if missing:
        raise ValueError(f"no model variable(s) {missing}; variables: "
                         f"{sorted(prior.posterior.data_vars)}")
    truth = _flatten(prior.posterior[names]).rename_axis("simulation")
    hazards = SubjectHazards.from_result(prior)

    compiled = compile_spec(fixed, data, sampler)
    ranks, fits = [], []
    for j in track(range(n_sims), description="SBC fits", disable=not progress):
        rng = np.random.default_rng(sim_seqs[j])
        trial = _replicate(data, hazards, j, rng)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # counted below, reported once
            result = fit(fixed, trial, compiled=compiled,
                         sampler=dataclasses.replace(sampler, seed=int(rng.integers(2**31))))
        fits.append(_fit_row(result, time.perf_counter() - t0))
        posterior = _flatten(result.posterior[names].isel(draw=slice(None, None, thin)))
        ranks.append(sbc_ranks(truth.loc[j].to_numpy(), posterior[truth.columns].to_numpy().T))

    max_rank = sampler.chains * math.ceil(draws / thin)
    fits_frame = pd.DataFrame(fits).rename_axis("simulation")
    censoring = ("potential censoring time (censor_time)" if data.censor_time is not None
                 else "reverse Kaplan-Meier draws beyond the event time")
    out = SBCResult.from_ranks(
        pd.DataFrame(ranks, columns=truth.columns).rename_axis("simulation"), max_rank,
        alpha=alpha, bins=bins, seed=seed, fits=fits_frame, truth=truth,
        settings={"n_sims": n_sims, "draws": draws, "thin": thin, "seed": seed,
                  "sampler": sampler.to_dict(), "priors": fixed.resolved_priors(data),
                  "censoring_of_event_subjects": censoring,
                  "compile_seconds": compiled.compile_seconds,
                  "total_seconds": time.perf_counter() - t_start})
    if out.n_failed:
        warnings.warn(f"{out.n_failed} of {n_sims} SBC fits failed convergence thresholds; "
                      "see SBCResult.fits", ConvergenceWarning, stacklevel=2)
    return out
