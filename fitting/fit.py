"""The one way every model is fitted."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from pexsurv.data import TrialData
from pexsurv.fitting.compiled import CompiledModel, compile_model
from pexsurv.fitting.config import SamplerConfig
from pexsurv.fitting.result import FORMAT_VERSION, FitResult
from pexsurv.provenance import versions

__all__ = ["compile_spec", "fit"]

def fit(
    spec: Any,
    data: TrialData,
    *,
    sampler: str | SamplerConfig = "nutpie",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int | None = None,
    progress: bool = True,
    method: str = "mcmc",
    target_accept: float = 0.8,
    log_likelihood: bool = False,
    compiled: CompiledModel | None = None,
    **sampler_options: Any,
) -> FitResult:
    """Fit a model specification to trial data.

    Parameters
    ----------
    spec : model specification
        E.g. :class:`pexsurv.models.PiecewiseExponential`.
    data : TrialData
    sampler : str or SamplerConfig
        ``"nutpie"`` (default), ``"pymc"`` or ``"numpyro"``, or a full
        :class:`SamplerConfig` (then the keyword settings below are not allowed).
    draws, tune, chains, seed, progress, method, target_accept
        See :class:`SamplerConfig`.
    log_likelihood : bool
        Add the per-patient log-likelihood group (for LOO).
    compiled : CompiledModel, optional
        A model compiled earlier for data of the same shape; its ``pm.Data`` inputs are set
        from ``data`` and no compilation happens (sweeps and RPSFT re-use one model; for an
        RPSFT spec it is the stage-2 PEM from :func:`compile_spec`).
    **sampler_options
        Passed to the sampler.

    Returns
    -------
    FitResult

    Warns
    -----
    ConvergenceWarning
        When an MCMC fit fails any threshold of
        :func:`pexsurv.diagnostics.check_convergence`.

    Examples
    --------
    >>> from pexsurv import datasets
    >>> from pexsurv.models import PiecewiseExponential
    >>> result = fit(PiecewiseExponential(cuts=[2.0]), datasets.ct041_like("pfs"),
    ...              draws=200, tune=200, seed=1, progress=False)  # doctest: +SKIP
    """
    if isinstance(sampler, SamplerConfig):
        if sampler_options:
            raise TypeError("pass sampler options inside the SamplerConfig, not as keywords")
        config = sampler
    else:
        config = SamplerConfig(sampler=sampler, draws=draws, tune=tune, chains=chains,
                               seed=seed, progress=progress, method=method,
                               target_accept=target_accept, options=sampler_options)
    provenance = {"versions": versions(), "spec_hash": spec.spec_hash(),
                  "data_fingerprint": data.fingerprint(), "format": FORMAT_VERSION,
                  "model_type": type(spec).__name__}
    from pexsurv.models import RPSFT

    if isinstance(spec, RPSFT):
        if log_likelihood:
            raise ValueError("RPSFT fits have no per-patient likelihood (psi rests on a "
                             "randomization test, not on a likelihood)")
        from pexsurv.fitting.rpsft import fit_rpsft

        return _checked(fit_rpsft(spec, data, config, provenance, compiled=compiled))
    priors = spec.resolved_priors(data)
    if compiled is None:
        compiled = compile_model(spec.build(data, priors=priors), config,
                                 spec_hash=spec.spec_hash())
        compile_seconds = compiled.compile_seconds
    else:
        if compiled.spec_hash != spec.spec_hash():
            raise ValueError("the compiled model was built from another spec; compile this one "
                             "with pexsurv.fitting.compile_spec(spec, data, config)")
        # Same graph, new values: only the pm.Data inputs change.
        compiled.set_data(spec.data_values(data, priors))
        compile_seconds = 0.0
    idata, sampling_seconds = compiled.sample(config)
    result = FitResult(idata=idata, spec=spec, priors=priors, data=data, sampler=config,
                       timings={"compile_seconds": compile_seconds,
                                "sampling_seconds": sampling_seconds},
                       provenance=provenance)
    if log_likelihood:
        from pexsurv.diagnostics.loo import log_likelihood_tree  # diagnostics read fits

        result = dataclasses.replace(result, idata=log_likelihood_tree(result))
    return _checked(result)


def _checked(result: FitResult) -> FitResult:
    """Warn at once when an MCMC fit fails convergence: it must not pass quietly."""
    from pexsurv.diagnostics.convergence import ConvergenceWarning  # diagnostics read fits

    if not result.approximate and not result.convergence.passed:
        warnings.warn(f"{type(result.spec).__name__} fit: {result.convergence.text}",
                      ConvergenceWarning, stacklevel=3)
    return result


def compile_spec(spec: Any, data: TrialData, config: SamplerConfig | None = None) -> CompiledModel:
    """Build and compile ``spec`` on ``data`` once, for re-use by :func:`fit` with other
    data (or prior hyper-parameters) of the same shapes.

    Examples
    --------
    >>> compiled = compile_spec(spec, data)              # doctest: +SKIP
    >>> results = [fit(spec, d, compiled=compiled) for d in datasets]  # doctest: +SKIP
    """
    config = config or SamplerConfig()
    from pexsurv.models import RPSFT

    if isinstance(spec, RPSFT):
        from pexsurv.fitting.rpsft import compile_stage2

        return compile_stage2(spec, data, config)
    model = spec.build(data)
    return compile_model(model, config, spec_hash=spec.spec_hash())
