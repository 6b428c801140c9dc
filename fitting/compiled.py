"""Compile once, sample many: a built model with its nutpie compilation, reusable with new
data or new prior hyper-parameters of the same shapes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr
from pymc.backends.arviz import patch_nutpie_idata

from pexsurv.fitting.config import SamplerConfig

__all__ = ["CompiledModel", "compile_model"]


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

    def sample(self, config: SamplerConfig) -> tuple[xr.DataTree, float]:
        """Draw from the posterior; returns the DataTree and the sampling seconds."""
        t0 = time.perf_counter()
        if config.method == "advi":
            approx = pm.fit(n=config.options.get("n", 10_000), method="advi", model=self.model,
                            random_seed=config.seed, progressbar=config.progress)
            idata = approx.sample(config.draws * config.chains, random_seed=config.seed)
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
        return idata, time.perf_counter() - t0


def compile_model(model: pm.Model, config: SamplerConfig, *, spec_hash: str | None = None) -> CompiledModel:
    """Compile ``model`` for the configured sampler (nutpie compiles ahead; PyMC's own
    sampler and numpyro compile inside ``pm.sample``, so their compile time is counted as
    sampling time)."""
    if config.sampler != "nutpie" or config.method != "mcmc":
        return CompiledModel(model=model, spec_hash=spec_hash)
    import nutpie

    t0 = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model)
    return CompiledModel(model=model, compiled=compiled, compile_seconds=time.perf_counter() - t0,
                         spec_hash=spec_hash)
