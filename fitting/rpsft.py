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
from pexsurv.fitting.pem import structure_hash
from pexsurv.fitting.registry import ModelFitting, register_model
from pexsurv.fitting.result import FitResult, StageRun
from pexsurv.models import (
    RPSFT,
    PiecewiseExponential,
    counterfactual_data,
    tse_simple,
)
from pexsurv.models.rpsft.bayes import grid_quantiles
from pexsurv.models.rpsft.tse import tse_counterfactual
from pexsurv.priors import Normal

__all__ = ["RPSFT_DEFAULTS", "BayesianTSE", "compile_stage2", "fit_rpsft", "fit_tse_bayes"]

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
    return compile_model(pem.build(first, priors=pem_priors), config, spec_hash=pem.spec_hash(),
                         structure=structure_hash(pem, pem_priors))


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
    elif compiled.structure != structure_hash(pem, pem_priors):
        # Structure, as for a PEM: other data or prior hyper-parameter values (pm.Data, set
        # per psi draw below) re-use the model; other cuts or prior families do not.
        raise ValueError("the compiled model is not this RPSFT spec's stage-2 PEM: its "
                         "structure differs (cuts, effect or prior families; prior values "
                         "may differ); compile it with pexsurv.fitting.compile_spec(spec, data)")
    else:
        compile_seconds = compiled.prepare(config)
    seed = config.seed
    seeds = np.random.SeedSequence(seed).generate_state(psis.size)
    stage2 = dataclasses.replace(config, progress=False)
    shape = (config.chains, config.draws)
    n_boot = shape[0] * shape[1]
    log_hr = spec.adjusted_log_hr(data, n_boot=n_boot, seed=seed, psis=psis)

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


# ------------------------------------------------------------------ Bayesian two-stage
@dataclasses.dataclass(frozen=True, eq=False)
class BayesianTSE:
    """Result of :func:`fit_tse_bayes`.

    Attributes
    ----------
    psi : numpy.ndarray
        The M stage-1 posterior quantiles of psi carried into stage 2.
    psi_mean, psi_sd : float
        Mean and SD of stage 1's posterior of psi.
    posterior : xarray.Dataset
        Pooled stage-2 draws, dims ``(psi_draw, chain, draw)``: ``log_hr`` (experimental
        vs control had control patients not switched) and ``log_hazard_base``.
    stage1 : SwitchEstimate
        The frequentist simple TSE fit on the same data (stage 1's estimate and SE).
    r_hat_max : numpy.ndarray
        Largest R-hat of each stage-2 fit.
    settings : dict
    compiled : CompiledModel
        The stage-2 PEM, to pass to the next call (simulation studies).
    """

    psi: np.ndarray
    psi_mean: float
    psi_sd: float
    posterior: xr.Dataset
    stage1: Any
    r_hat_max: np.ndarray
    settings: dict[str, Any]
    compiled: CompiledModel

    def hr_interval(self, prob: float = 0.95) -> dict[str, float]:
        """Posterior median and equal-tailed interval of the adjusted HR (pooled draws)."""
        draws = np.exp(self.posterior[N.LOG_HR].values.ravel())
        lo, med, hi = np.quantile(draws, [(1 - prob) / 2, 0.5, (1 + prob) / 2])
        return {"hr": float(med), "lower": float(lo), "upper": float(hi)}


def fit_tse_bayes(data: TrialData, secondary_baseline: Any, baseline_covariates: Any = None,
                  *, cuts: Any, psi_prior: Any = None, n_psi_draws: int = 50,
                  sampler: SamplerConfig | None = None, compiled: CompiledModel | None = None,
                  aft_dist: str = "weibull", recensor: bool = True, autoswitch: bool = True,
                  grid_size: int = 2001) -> BayesianTSE:
    """Bayesian simple two-stage estimation: stage 1's posterior of psi carried into a
    piecewise-exponential stage 2, one compiled PEM over the M psi draws.

    Stage 1 is the AFT model of :func:`pexsurv.models.tse_simple` (switchers vs
    non-switchers after the secondary baseline, adjusted for the covariates measured there).
    Its posterior of psi is the large-sample (Bernstein-von Mises) one: the AFT
    likelihood's normal approximation ``N(psi_hat, se^2)`` times ``psi_prior`` (default
    ``Normal(0, 10)``), computed on a grid. Its ``(k + 1/2)/M`` quantiles each give a
    counterfactual data set (:func:`pexsurv.models.rpsft.tse.tse_counterfactual`), the
    compiled PEM is sampled on each with its own seed, and the draws are pooled: the
    adjusted HR's posterior is the mixture over psi. Unlike the Bayesian RPSFT (where psi
    rests on a between-arm test and the mixture under-covers), stage 1 here uses only
    control patients after the secondary baseline; whether the mixture covers is measured
    in ``validation/tse_bayes_coverage.py``.

    Parameters
    ----------
    data, secondary_baseline, baseline_covariates, aft_dist, recensor, autoswitch
        As in :func:`pexsurv.models.tse_simple`.
    cuts : sequence of float
        Partition of the stage-2 PEM.
    psi_prior : Prior, optional
        Prior on psi (default ``Normal(0, 10)``).
    n_psi_draws : int
        M, the number of psi quantiles carried into stage 2.
    sampler : SamplerConfig, optional
        Settings of each stage-2 fit (default 250 draws after 300 tuning steps, 4 chains,
        seed 0).
    compiled : CompiledModel, optional
        A compiled stage-2 PEM of the same cuts (``result.compiled`` of an earlier call),
        for simulation studies.
    grid_size : int
        Points of the stage-1 posterior grid.

    Returns
    -------
    BayesianTSE

    Examples
    --------
    >>> from pexsurv.simulate import simulate_switch_at_progression
    >>> sim = simulate_switch_at_progression(400, seed=1)
    >>> res = fit_tse_bayes(sim.data, sim.secondary_baseline, sim.baseline_covariates,
    ...                     cuts=(1.0, 2.0), n_psi_draws=10)            # doctest: +SKIP
    >>> res.hr_interval()                                             # doctest: +SKIP
    """
    prior = Normal(0.0, 10.0) if psi_prior is None else psi_prior
    config = sampler or SamplerConfig(draws=RPSFT_DEFAULTS["draws"],
                                      tune=RPSFT_DEFAULTS["tune"], chains=4, seed=0,
                                      progress=False)
    stage1 = tse_simple(data, secondary_baseline, baseline_covariates, aft_dist=aft_dist,
                        recensor=recensor, autoswitch=autoswitch)
    psi_hat, se = stage1.psi, stage1.details["psi_se"]
    grid = np.linspace(psi_hat - 8 * se, psi_hat + 8 * se, int(grid_size))
    log_density = np.asarray(prior.logpdf(grid), dtype=float) - 0.5 * ((grid - psi_hat) / se) ** 2
    density = np.exp(log_density - log_density.max())
    density /= np.trapezoid(density, grid)
    posterior_grid = xr.Dataset({"density": (N.PSI, density)}, coords={N.PSI: grid})
    psis = grid_quantiles(posterior_grid, (np.arange(n_psi_draws) + 0.5) / n_psi_draws)
    mean = float(np.trapezoid(grid * density, grid))
    sd = float(np.sqrt(np.trapezoid((grid - mean) ** 2 * density, grid)))

    pem = PiecewiseExponential(cuts=tuple(float(c) for c in cuts))
    pem_priors = pem.resolved_priors(data)

    def counterfactual(psi: float) -> TrialData:
        time_cf, event_cf = tse_counterfactual(data, secondary_baseline, psi,
                                               recensor=recensor, autoswitch=autoswitch)
        return data.derive(time_cf > 0, time=time_cf, event=event_cf.astype(np.int8),
                           switch_time=None, treatment_start=None, censor_time=None,
                           population=f"{data.population}>tse_counterfactual",
                           notes=data.notes + (f"TSE counterfactual at psi={psi:.4g}",))

    if compiled is None:
        compiled = compile_model(pem.build(counterfactual(float(psis[0])), priors=pem_priors),
                                 config, spec_hash=pem.spec_hash(),
                                 structure=structure_hash(pem, pem_priors))
    elif compiled.structure != structure_hash(pem, pem_priors):
        raise ValueError("the compiled model is not a PEM with these cuts and prior families")
    seeds = np.random.SeedSequence(config.seed).generate_state(psis.size)
    parts, r_hat = [], []
    for i, psi in enumerate(psis):
        compiled.set_data(pem.data_values(counterfactual(float(psi)), pem_priors))
        idata, _ = compiled.sample(dataclasses.replace(config, seed=int(seeds[i]),
                                                       progress=False))
        post = idata["posterior"].to_dataset()[[N.LOG_HR, N.LOG_HAZARD_BASE]]
        parts.append(post)
        r_hat.append(float(az.rhat(post).to_array().max()))
    posterior = xr.concat(parts, dim="psi_draw").assign_coords(psi_draw=np.arange(psis.size))
    posterior[N.PSI] = ("psi_draw", psis)
    settings = {"cuts": pem.cuts, "n_psi_draws": int(n_psi_draws), "aft_dist": aft_dist,
                "recensor": recensor, "autoswitch": autoswitch, "psi_prior": repr(prior),
                "draws": config.draws, "tune": config.tune, "chains": config.chains,
                "seed": config.seed}
    return BayesianTSE(psi=psis, psi_mean=mean, psi_sd=sd, posterior=posterior, stage1=stage1,
                       r_hat_max=np.array(r_hat), settings=settings, compiled=compiled)
