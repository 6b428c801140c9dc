"""The one way every model is fitted: settings checked once, the model's own fitting found
in the registry (:mod:`pexsurv.fitting.registry`), the seed recorded, the verdict attached."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from pexsurv._checks import SEED_LIMIT
from pexsurv.data import TrialData
from pexsurv.fitting.compiled import CompiledModel
from pexsurv.fitting.config import SamplerConfig
from pexsurv.fitting.convergence import ConvergenceWarning
from pexsurv.fitting.registry import ModelFitting, model_fitting
from pexsurv.fitting.result import FORMAT_VERSION, FitResult
from pexsurv.provenance import versions

__all__ = ["compile_spec", "default_config", "fit"]


def default_config(spec: Any, **settings: Any) -> SamplerConfig:
    """The sampler configuration ``fit(spec, data, **settings)`` runs: the settings given,
    the model type's own defaults for the rest (e.g. shorter stage-2 fits for RPSFT), then
    :class:`SamplerConfig`'s.

    Examples
    --------
    >>> from pexsurv.models import RPSFT, PiecewiseExponential
    >>> default_config(RPSFT(cuts=(1.0,)), seed=1).draws
    250
    >>> default_config(PiecewiseExponential(cuts=(1.0,)), seed=1).draws
    1000
    >>> default_config(PiecewiseExponential(cuts=(1.0,), effect="piecewise")).target_accept
    0.99
    """
    fitting = model_fitting(spec)
    method = settings.get("method") or "mcmc"
    _check_method(spec, fitting, method)
    given = {k: v for k, v in settings.items() if v is not None}
    return SamplerConfig(**{**fitting.defaults_for(spec, method), **given})


def _check_method(spec: Any, fitting: ModelFitting, method: str) -> None:
    if method not in fitting.methods:
        raise ValueError(f"{type(spec).__name__} supports method {' or '.join(map(repr, fitting.methods))}"
                         f", not {method!r}: {fitting.why_not}")


def fit(
    spec: Any,
    data: TrialData,
    *,
    sampler: str | SamplerConfig | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    seed: int | None = None,
    progress: bool | None = None,
    method: str | None = None,
    target_accept: float | None = None,
    log_likelihood: bool = False,
    compiled: CompiledModel | None = None,
    **sampler_options: Any,
) -> FitResult:
    """Fit a model specification to trial data.

    Every setting given is used as given or refused with the reason; settings left out
    take the model type's defaults (:func:`default_config`). The result records what ran
    (``result.runs``, per stage) and the seed used.

    Parameters
    ----------
    spec : model specification
        :class:`pexsurv.models.PiecewiseExponential`, :class:`pexsurv.models.RPSFT`, or any
        type registered with :func:`pexsurv.fitting.register_model`.
    data : TrialData
    sampler : str or SamplerConfig, optional
        ``"nutpie"`` (default for MCMC), ``"pymc"`` or ``"numpyro"``, or a full
        :class:`SamplerConfig` (then no other sampler setting may be passed).
    draws, tune, chains, seed, progress, method, target_accept
        See :class:`SamplerConfig`. For an RPSFT spec, ``draws``, ``tune`` and ``chains``
        apply to each stage-2 fit (defaults 250, 300 and 4).
    log_likelihood : bool
        Add the per-patient log-likelihood group (for LOO).
    compiled : CompiledModel, optional
        A model compiled earlier for data of the same shape; its ``pm.Data`` inputs are set
        from ``data`` and no compilation happens (sweeps and RPSFT re-use one model; for an
        RPSFT spec it is the stage-2 PEM from :func:`compile_spec`).
    **sampler_options
        Passed to the sampler (``SamplerConfig.options``).

    Returns
    -------
    FitResult
        ``result.sampler.seed`` is the seed used: drawn from the operating system and
        recorded when ``seed`` is None, so ``fit(spec, data, seed=result.sampler.seed)``
        replays the run draw for draw.

    Raises
    ------
    TypeError
        Sampler settings given both in a SamplerConfig and as keywords, or a setting of
        the wrong type (e.g. ``draws=10.0``).
    ValueError
        A setting this model or method cannot honour.
    KeyboardInterrupt
        Ctrl-C while sampling: no result (partial draws are discarded).

    Warns
    -----
    ConvergenceWarning
        When an MCMC fit fails any threshold of
        :func:`pexsurv.fitting.convergence.check_convergence`.

    Examples
    --------
    >>> from pexsurv import datasets
    >>> from pexsurv.models import PiecewiseExponential
    >>> result = fit(PiecewiseExponential(cuts=[2.0]), datasets.ct041_like("pfs"),
    ...              draws=200, tune=200, seed=1, progress=False)  # doctest: +SKIP
    """
    fitting = model_fitting(spec)
    keywords = {"draws": draws, "tune": tune, "chains": chains, "seed": seed,
                "progress": progress, "method": method, "target_accept": target_accept}
    if isinstance(sampler, SamplerConfig):
        given = sorted(k for k, v in keywords.items() if v is not None)
        if given or sampler_options:
            raise TypeError(
                f"sampler settings {given + sorted(sampler_options)} were passed as keywords "
                "next to a SamplerConfig, which already holds every setting: put them in the "
                "SamplerConfig (dataclasses.replace(config, ...)) or pass keywords only")
        _check_method(spec, fitting, sampler.method)
        config = sampler
    else:
        config = default_config(spec, sampler=sampler, **keywords,
                                **({"options": sampler_options} if sampler_options else {}))
    drawn = config.seed is None
    if drawn:
        config = dataclasses.replace(config, seed=_fresh_seed())
    provenance = {"versions": versions(), "spec_hash": spec.spec_hash(),
                  "data_fingerprint": data.fingerprint(), "format": FORMAT_VERSION,
                  "model_type": type(spec).__name__, "seed_drawn": drawn}
    result = fitting.fit(spec, data, config, compiled=compiled, log_likelihood=log_likelihood,
                         provenance=provenance)
    if not result.approximate and not result.convergence.passed:
        # An unconverged MCMC fit must not pass quietly.
        warnings.warn(f"{type(spec).__name__} fit: {result.convergence.text}",
                      ConvergenceWarning, stacklevel=2)
    return result


def _fresh_seed() -> int:
    """A seed from the operating system's entropy, in the range every sampler accepts."""
    return int(np.random.SeedSequence().entropy % SEED_LIMIT)


def compile_spec(spec: Any, data: TrialData, config: SamplerConfig | None = None) -> CompiledModel:
    """Build and compile ``spec`` on ``data`` once, for re-use by :func:`fit` with other
    data (or prior hyper-parameters) of the same shapes.

    Examples
    --------
    >>> compiled = compile_spec(spec, data)              # doctest: +SKIP
    >>> results = [fit(spec, d, compiled=compiled) for d in datasets]  # doctest: +SKIP
    """
    fitting = model_fitting(spec)
    if config is None:
        config = default_config(spec)
    else:
        _check_method(spec, fitting, config.method)
    return fitting.compile(spec, data, config)
