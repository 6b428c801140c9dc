"""Compile once, sample many: a built model with its nutpie compilation, reusable with new
data or new prior hyper-parameters of the same shapes.

Sampling here runs exactly what the :class:`SamplerConfig` says, or fails: an interrupted
run (Ctrl-C) raises :class:`KeyboardInterrupt` instead of returning the partial trace that
nutpie, PyMC and ADVI hand back when they catch it themselves, and a run that returns fewer
draws than asked for is an error.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr
from pymc.backends.arviz import patch_nutpie_idata

from pexsurv.fitting.config import SamplerConfig

__all__ = ["CompiledModel", "IncompleteSamplingError", "compile_model"]


class IncompleteSamplingError(RuntimeError):
    """The sampler returned fewer (or NaN) draws than the configuration asked for."""


@contextlib.contextmanager
def _interrupts_propagate() -> Iterator[None]:
    """Raise :class:`KeyboardInterrupt` after the block when Ctrl-C arrived during it.

    nutpie, PyMC's samplers and ADVI catch ``KeyboardInterrupt`` and return the draws made
    so far (nutpie pads them with NaN), which would look like a poor fit. The SIGINT
    handler in force is kept (it still raises inside the sampler, which stops it); this
    only notes that it fired. Signals reach the main thread only, so elsewhere it does
    nothing.
    """
    previous = signal.getsignal(signal.SIGINT)
    if (threading.current_thread() is not threading.main_thread()
            or not callable(previous)):  # SIG_IGN / SIG_DFL / set outside Python: leave it
        yield
        return
    fired = []

    def noting(signum: int, frame: Any) -> Any:
        fired.append(signum)
        return previous(signum, frame)

    signal.signal(signal.SIGINT, noting)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if fired:
        raise KeyboardInterrupt("fit interrupted (Ctrl-C): the partial draws were discarded")


def _require_complete(idata: xr.DataTree, config: SamplerConfig) -> None:
    post = idata["posterior"].to_dataset()
    got = (post.sizes.get("chain"), post.sizes.get("draw"))
    if got != (config.chains, config.draws):
        raise IncompleteSamplingError(
            f"the sampler returned {got[0]} chain(s) x {got[1]} draws; the configuration asked "
            f"for {config.chains} x {config.draws}: the run did not complete")
    missing = [name for name, da in post.data_vars.items()
               if da.dtype.kind == "f" and np.isnan(da.values).any()]
    if missing:
        raise IncompleteSamplingError(
            f"the sampler returned NaN draws for {missing[:5]}: the run did not complete")


@dataclass(eq=False)
class CompiledModel:
    """A ``pm.Model`` and (for nutpie) its compiled form.

    ``set_data`` swaps the values of ``pm.Data`` inputs (likelihood rows, prior
    hyper-parameters) without recompiling; shapes must not change.

    Attributes
    ----------
    model : pymc.Model
    compiled : nutpie compiled model or None
    compile_seconds : float
    spec_hash : str, optional
        Hash of the spec the model was built from (``fit`` refuses another spec's model).
    """

    model: pm.Model
    compiled: Any = None
    compile_seconds: float = 0.0
    spec_hash: str | None = None

    def data_values(self) -> dict[str, np.ndarray]:
        """Current values of every ``pm.Data`` input."""
        return {var.name: np.asarray(var.get_value()) for var in self.model.data_vars}

    def set_data(self, values: Mapping[str, Any]) -> None:
        """Replace ``pm.Data`` values (same shapes) in the model and its compilation."""
        current = self.data_values()
        unknown = sorted(set(values) - set(current))
        if unknown:
            raise KeyError(f"no pm.Data named {unknown}; data inputs: {sorted(current)}")
        new = {}
        for name, value in values.items():
            value = np.asarray(value, dtype=current[name].dtype)
            if value.shape != current[name].shape:
                raise ValueError(
                    f"pm.Data {name!r} has shape {current[name].shape}; got {value.shape}. "
                    "A compiled model serves only data of the same shape: rebuild instead."
                )
            new[name] = value
        with self.model:
            pm.set_data(new)
        if self.compiled is not None:
            # nutpie knows only the inputs of the log density; the rest (e.g. cut points,
            # stratum weights) live on the pm.Model for the constant_data group.
            known = {var.name for var in self.compiled.shared_var_keys}
            self.compiled = self.compiled.with_data(**{k: v for k, v in new.items() if k in known})

    def prepare(self, config: SamplerConfig) -> float:
        """Compile for ``config`` if it needs a compilation this model lacks (a model
        compiled for PyMC's sampler, then sampled with nutpie); returns the seconds spent."""
        if not _needs_nutpie(config) or self.compiled is not None:
            return 0.0
        import nutpie

        t0 = time.perf_counter()
        self.compiled = nutpie.compile_pymc_model(self.model)
        return time.perf_counter() - t0

    def sample(self, config: SamplerConfig) -> tuple[xr.DataTree, float]:
        """Draw from the posterior exactly as configured; returns the DataTree and the
        sampling seconds.

        Raises
        ------
        KeyboardInterrupt
            Ctrl-C during sampling (nothing is returned).
        IncompleteSamplingError
            The sampler returned fewer draws than configured.
        """
        self.prepare(config)
        t0 = time.perf_counter()
        with _interrupts_propagate():
            if config.method == "advi":
                options = dict(config.options)
                approx = pm.fit(n=options.pop("n"), method="advi", model=self.model,
                                random_seed=config.seed, progressbar=config.progress, **options)
                idata = approx.sample(config.draws, random_seed=config.seed)
            elif config.sampler == "nutpie":
                import nutpie

                idata = nutpie.sample(self.compiled, draws=config.draws, tune=config.tune,
                                      chains=config.chains, seed=config.seed,
                                      progress_bar=config.progress, save_warmup=False,
                                      target_accept=config.target_accept, **config.options)
                patch_nutpie_idata(idata, self.model, sampling_time=time.perf_counter() - t0)
            else:
                idata = pm.sample(draws=config.draws, tune=config.tune, chains=config.chains,
                                  target_accept=config.target_accept, random_seed=config.seed,
                                  progressbar=config.progress, nuts_sampler=config.sampler,
                                  model=self.model, **config.options)
        _require_complete(idata, config)
        return idata, time.perf_counter() - t0


def _needs_nutpie(config: SamplerConfig) -> bool:
    return config.method == "mcmc" and config.sampler == "nutpie"


def compile_model(model: pm.Model, config: SamplerConfig, *, spec_hash: str | None = None) -> CompiledModel:
    """Compile ``model`` for the configured sampler (nutpie compiles ahead; PyMC's own
    sampler and numpyro compile inside ``pm.sample``, so their compile time is counted as
    sampling time)."""
    compiled = CompiledModel(model=model, spec_hash=spec_hash)
    compiled.compile_seconds = compiled.prepare(config)
    return compiled
