"""Simulation-based calibration (SBC) of piecewise-exponential models (Talts et al. 2018):
draw parameters from the prior, simulate a trial of the same design from them, refit the
model and rank each true value among its posterior draws.

A workflow, not a diagnostic: it refits the model once per simulation. The ranks are judged
by :class:`pexsurv.diagnostics.SBCResult`.

References
----------
Talts, Betancourt, Simpson, Vehtari, Gelman (2018). Validating Bayesian inference
algorithms with simulation-based calibration. arXiv:1804.06788.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from arviz_base import dataset_to_dataframe
from rich.progress import track

from pexsurv import _names as N
from pexsurv.data import TrialData, _readonly
from pexsurv.diagnostics.convergence import ConvergenceWarning
from pexsurv.diagnostics.replicate import (
    SubjectHazards,
    censoring_times,
    event_times,
    require_replicable,
)
from pexsurv.diagnostics.sbc import SBCResult, sbc_ranks
from pexsurv.fitting import FitResult, SamplerConfig, compile_spec, default_config, fit
from pexsurv.fitting.predictive import prior_predictive
from pexsurv.models import PiecewiseExponential

__all__ = ["Replicate", "simulation_based_calibration"]

Replicate = Callable[[TrialData, SubjectHazards, int, np.random.Generator], TrialData]
"""A replicate simulator: ``(template, prior hazards, prior draw, rng) -> simulated trial``
of the template's design (see :func:`simulation_based_calibration`'s ``replicate``)."""


def _flatten(ds: xr.Dataset) -> pd.DataFrame:
    """Draws (rows, chain by chain) of every scalar element of every variable (columns),
    labelled as ArviZ labels them: ``log_hazard_base[(0, 2]]``."""
    flat = dataset_to_dataframe(ds, sample_dims=list(N.SAMPLE_DIMS))
    return flat.reset_index(drop=True).rename_axis(columns=None)


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
    ``posterior`` group is the prior: the form the replicate simulator of
    :mod:`pexsurv.diagnostics.replicate` reads."""
    prior = prior_predictive(spec, data, n_sims, seed=seed)
    return FitResult(idata=prior.as_posterior(), spec=spec, priors=spec.resolved_priors(data),
                     data=data, sampler=SamplerConfig(progress=False))


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
    replicate: Replicate | None = None,
    settings: dict[str, Any] | None = None,
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
        its ``draws``, ``seed`` and ``progress`` are replaced. Default: the spec's own
        (:func:`pexsurv.fitting.default_config`).
    progress : bool
        Show a progress bar over simulations (the fits themselves stay quiet).
    var_names : sequence of str, optional
        Variables to rank (default: those the priors are placed on, e.g.
        ``log_hazard_base`` per interval and ``log_hr``).
    alpha, bins
        See :meth:`SBCResult.from_ranks`.
    replicate : callable, optional
        How a trial is simulated from a prior draw: ``replicate(data, hazards, j, rng)``
        returns the trial of prior draw ``j`` (:class:`~pexsurv.diagnostics.replicate.
        SubjectHazards` of all draws; ``rng`` the simulation's generator, whose next
        integer then seeds the fit). Default: exactly observed event times, censored as
        described above. :func:`~pexsurv.workflows.interval_censored_sbc` passes one that
        finds the events at scheduled assessments; every replicate must have the same
        likelihood layout (one compiled model serves all fits).
    settings : dict, optional
        Extra entries for ``SBCResult.settings`` (what the replicate depends on).

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
    sampler = dataclasses.replace(config or default_config(spec), draws=draws, progress=False)

    prior_seq, *sim_seqs = np.random.SeedSequence(seed).spawn(n_sims + 1)
    prior = _prior_draws(fixed, data, n_sims, int(prior_seq.generate_state(1)[0]))
    names = list(fixed.resolved_priors(data) if var_names is None else var_names)
    missing = sorted(set(names) - set(prior.posterior.data_vars))
    if missing:
        raise ValueError(f"no model variable(s) {missing}; variables: "
                         f"{sorted(prior.posterior.data_vars)}")
    truth = _flatten(prior.posterior[names]).rename_axis("simulation")
    hazards = SubjectHazards.from_result(prior)

    simulate = _replicate if replicate is None else replicate
    compiled = None
    ranks, fits = [], []
    for j in track(range(n_sims), description="SBC fits", disable=not progress):
        rng = np.random.default_rng(sim_seqs[j])
        trial = simulate(data, hazards, j, rng)
        # compiled on a replicate, not the template: a replicate hook may change the
        # likelihood's layout (interval-censored rows)
        compiled = compiled or compile_spec(fixed, trial, sampler)
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
                  "total_seconds": time.perf_counter() - t_start, **(settings or {})})
    if out.n_failed:
        warnings.warn(f"{out.n_failed} of {n_sims} SBC fits failed convergence thresholds; "
                      "see SBCResult.fits", ConvergenceWarning, stacklevel=2)
    return out
