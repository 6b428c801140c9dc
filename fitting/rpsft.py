"""Fitting the Bayesian RPSFT model: exact grid posterior of psi; one compiled PEM re-used
across M counterfactual data sets for the survival had nobody switched; the adjusted HR
from each patient's own counterfactual, with Bayesian-bootstrap uncertainty."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import arviz as az
import numpy as np
import xarray as xr
from rich.progress import track

from pexsurv import _names as N
from pexsurv.data import TrialData
from pexsurv.fitting.compiled import CompiledModel, compile_model
from pexsurv.fitting.config import SamplerConfig
from pexsurv.fitting.registry import ModelFitting, register_model
from pexsurv.fitting.result import FitResult, StageRun
from pexsurv.models import RPSFT, adjusted_log_hr_draws, counterfactual_data

__all__ = ["RPSFT_DEFAULTS", "compile_stage2", "fit_rpsft"]

# Sampler settings of each stage-2 fit when the caller gives none: the M fits are pooled,
# so each can be short (their per-fit R-hat is checked against a looser bound).
RPSFT_DEFAULTS = {"draws": 250, "tune": 300}

# Stage-2 MCMC output kept in the pooled posterior. The PEM's own arm effect (experimental
# observed vs control counterfactual) is kept under a separate name: its interval is too
# narrow (see pexsurv.models.rpsft.bayes), so the reported adjusted HR comes from paired_log_hr.
_STAGE2_RENAME = {N.LOG_HAZARD_BASE: N.LOG_HAZARD_BASE, N.LOG_HR: N.LOG_HR_TWO_STAGE,
                  N.HR: N.HR_TWO_STAGE}
# Constant data that do not change with psi (the likelihood inputs do: per-psi event
# counts are in the rpsft_stage2 group).
_CONSTANTS = ("cut_points", "arm_code")


def _stage2_priors(spec: RPSFT, data: TrialData) -> tuple[dict, dict]:
    priors = spec.resolved_priors(data)
    return priors, {k: v for k, v in priors.items() if k != N.PSI}


def compile_stage2(spec: RPSFT, data: TrialData, config: SamplerConfig) -> CompiledModel:
    """Compile the stage-2 PEM of an RPSFT spec once; it serves every psi draw and, through
    ``fit(..., compiled=)``, other data sets of the same design (sweeps, simulation studies).

    Examples
    --------
    >>> compiled = compile_stage2(spec, data, config)               # doctest: +SKIP
    >>> results = [fit(spec, d, compiled=compiled) for d in trials]  # doctest: +SKIP
    """
    _, pem_priors = _stage2_priors(spec, data)
    first = counterfactual_data(data, 0.0, **spec.counterfactual_options(data))
    pem = spec.pem()
    return compile_model(pem.build(first, priors=pem_priors), config, spec_hash=pem.spec_hash())


def _interleave(parts: list[xr.Dataset]) -> xr.Dataset:
    """Pool per-psi draws with draw j of fit i at j * M + i: every chain and every half chain
    covers all psi values, so R-hat compares like with like instead of flagging the order
    of psi as non-stationarity."""
    per_fit = xr.concat(parts, dim="psi_draw")
    pooled = per_fit.stack(_pooled=("draw", "psi_draw")).drop_vars(["_pooled", "draw", "psi_draw"])
    pooled = pooled.rename({"_pooled": "draw"})
    return pooled.assign_coords(draw=np.arange(pooled.sizes["draw"])).transpose("chain", "draw", ...)


def fit_rpsft(spec: RPSFT, data: TrialData, config: SamplerConfig, *,
              compiled: CompiledModel | None, log_likelihood: bool,
              provenance: dict[str, Any]) -> FitResult:
    """Fit :class:`pexsurv.models.RPSFT` (called by :func:`pexsurv.fitting.fit`).

    Every stage-2 fit runs ``config`` as given (draws, tune, chains, sampler, options),
    without its own progress bar (the loop over psi has one) and with its own seed, drawn
    from ``config.seed`` (recorded in ``rpsft_stage2.attrs["seed"]`` too). The PEM priors
    are resolved once on the ITT data and held fixed across psi draws, so the pooled
    survival posterior is a mixture over psi of posteriors under one prior.
    """
    if log_likelihood:
        raise ValueError("RPSFT fits have no per-patient likelihood (psi rests on a "
                         "randomization test, not on a likelihood)")
    t0 = time.perf_counter()
    grid = spec.psi_grid(data)
    psis = spec.stage2_psi(grid)
    pem = spec.pem()
    priors, pem_priors = _stage2_priors(spec, data)
    opts = spec.counterfactual_options(data)
    stage1_seconds = time.perf_counter() - t0

    if compiled is None:
        compiled = compile_stage2(spec, data, config)
        compile_seconds = compiled.compile_seconds
    elif compiled.spec_hash != pem.spec_hash():
        raise ValueError("the compiled model is not this RPSFT spec's stage-2 PEM; compile it "
                         "with pexsurv.fitting.compile_spec(spec, data)")
    else:
        compile_seconds = compiled.prepare(config)
    seed = config.seed
    seeds = np.random.SeedSequence(seed).generate_state(psis.size)
    stage2 = dataclasses.replace(config, progress=False)
    shape = (config.chains, config.draws)
    n_boot = shape[0] * shape[1]
    log_hr = adjusted_log_hr_draws(data, psis, spec.cuts, n_boot=n_boot,
                                   rng=np.random.default_rng([seed, psis.size]), **opts)

    draws, diverging, cells = [], [], []
    t1 = time.perf_counter()
    for i, psi in enumerate(track(psis, description="RPSFT stage 2", disable=not config.progress)):
        cf = counterfactual_data(data, float(psi), **opts)
        compiled.set_data(pem.data_values(cf, pem_priors))
        idata, _ = compiled.sample(dataclasses.replace(stage2, seed=int(seeds[i])))
        post = idata["posterior"].to_dataset()[list(_STAGE2_RENAME)].rename(_STAGE2_RENAME)
        draws.append(post.assign({
            N.PSI: xr.full_like(post[N.LOG_HR_TWO_STAGE], psi),
            N.LOG_HR: (("chain", "draw"), log_hr[i].reshape(shape))}))
        diverging.append(idata["sample_stats"]["diverging"].to_dataset())
        cells.append(idata["constant_data"]["observed_events"].values)
    sampling_seconds = time.perf_counter() - t1

    per_fit = xr.concat(draws, dim="psi_draw")
    # Per-fit diagnostics in one vectorised call: ArviZ treats psi_draw as a parameter dim.
    checked = per_fit[[N.LOG_HAZARD_BASE, N.LOG_HR_TWO_STAGE]]
    fit_rhat = az.rhat(checked).to_array().max(("variable", N.INTERVAL))
    fit_ess = az.ess(checked, method="bulk").to_array().min(("variable", N.INTERVAL))

    posterior = _interleave(draws)
    posterior[N.HR] = np.exp(posterior[N.LOG_HR])
    posterior[N.ACCELERATION] = np.exp(posterior[N.PSI])
    for name in (N.PSI, N.ACCELERATION):
        posterior[name].attrs[N.NOT_MCMC] = "stage-1 grid posterior quantiles, one per stage-2 fit"
    for name in (N.LOG_HR, N.HR):
        posterior[name].attrs[N.NOT_MCMC] = "paired counterfactual log HR, Bayesian bootstrap"
    stats = _interleave(diverging)
    stage2_info = xr.Dataset(
        {"psi_value": ("psi_draw", psis),
         "observed_events": (("psi_draw", N.CELL), np.stack(cells)),
         "r_hat_max": ("psi_draw", fit_rhat.values),
         "ess_bulk_min": ("psi_draw", fit_ess.values),
         "divergences": ("psi_draw", [int(d["diverging"].sum()) for d in diverging])},
        coords={"psi_draw": np.arange(psis.size)}, attrs={"seed": seed})
    constant = idata["constant_data"].to_dataset()[list(_CONSTANTS)]
    tree = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats,
                                  "constant_data": constant, N.PSI_GRID: grid,
                                  N.RPSFT_STAGE2: stage2_info})
    runs = (StageRun("psi", "grid", fits=1, draws=int(psis.size),
                     detail=f"quantiles of the grid posterior on {grid.sizes[N.PSI]} points"),
            StageRun.sampled("stage 2", stage2, idata, fits=len(draws)),
            StageRun("adjusted HR", "bootstrap", fits=int(psis.size), draws=n_boot, seed=seed,
                     detail=f"paired log HR, {n_boot} Bayesian-bootstrap weight sets per psi"))
    return FitResult(idata=tree, spec=spec, priors=priors, data=data, sampler=config, runs=runs,
                     timings={"compile_seconds": compile_seconds,
                              "stage1_seconds": stage1_seconds,
                              "sampling_seconds": sampling_seconds},
                     provenance=provenance)


register_model(RPSFT, ModelFitting(
    fit=fit_rpsft, compile=compile_stage2, defaults=RPSFT_DEFAULTS, methods=("mcmc",),
    why_not="its stage-2 draws are pooled over many short MCMC fits and checked per fit; "
            "for a quick look use MCMC with fewer n_psi_draws and draws"))
