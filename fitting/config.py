"""Typed, validated sampler configuration: every setting is honoured or refused here."""

from __future__ import annotations

import importlib.util
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

import numpy as np

from pexsurv._checks import as_count, as_seed

__all__ = ["SamplerConfig", "SAMPLERS", "METHODS"]

SAMPLERS = ("nutpie", "pymc", "numpyro")
METHODS = ("mcmc", "advi")
# Extra packages each sampler needs beyond pymc; nutpie is a core dependency.
_NEEDS = {"nutpie": "nutpie", "numpyro": "numpyro", "pymc": None}
# Defaults that depend on the method: ADVI runs in PyMC, draws one chain from its
# approximation and has neither tuning nor an acceptance rate.
_MCMC_DEFAULTS = {"sampler": "nutpie", "tune": 1000, "chains": 4, "target_accept": 0.8}
_ADVI_DEFAULTS = {"sampler": "pymc", "tune": 0, "chains": 1, "target_accept": None}
# ADVI optimisation steps unless options={"n": ...} says otherwise.
_ADVI_STEPS = 10_000
# Keywords pexsurv itself gives the sampler: in options they would be silently overridden
# or clash, so they are refused there.
_RESERVED_OPTIONS = frozenset({
    "draws", "tune", "chains", "seed", "random_seed", "target_accept", "progress",
    "progress_bar", "progressbar", "method", "model", "nuts_sampler", "save_warmup",
    "blocking", "return_inferencedata", "idata_kwargs", "compiled_model", "return_raw_trace",
})


@dataclass(frozen=True)
class SamplerConfig:
    """How a model is fitted.

    Settings left at None take the method's default; every setting given is either used
    as given or refused with the reason (no setting is silently replaced).

    Parameters
    ----------
    sampler : {"nutpie", "pymc", "numpyro"}, optional
        NUTS implementation for MCMC (default nutpie, the fastest here; numpyro is an
        optional extra: ``pip install "pexsurv[numpyro]"``). ADVI runs in PyMC: only
        ``"pymc"`` (the default there) is accepted with ``method="advi"``.
    draws : int
        Posterior draws per chain (MCMC) or from the approximation (ADVI).
    tune : int, optional
        Tuning steps per chain (MCMC; default 1000). ADVI has no tuning phase (its length
        is ``options={"n": steps}``, default 10,000): only 0 is accepted.
    chains : int, optional
        Number of chains (MCMC; default 4 so that R-hat is meaningful). ADVI draws from one
        approximation: only 1 is accepted.
    target_accept : float, optional
        NUTS target acceptance rate (default 0.8); raise it (e.g. 0.95) when divergences
        appear. Not accepted with ADVI.
    seed : int, optional
        Random seed in ``[0, 2**32)``; the same seed gives the same draws bit for bit.
        :func:`pexsurv.fitting.fit` draws and records one when it is None.
    progress : bool
        Show a progress bar.
    method : {"mcmc", "advi"}
        ``"mcmc"`` (exact up to Monte Carlo error) or a quick mean-field ADVI
        *approximation* for exploration, labelled as approximate wherever it is reported.
    options : mapping
        Further keyword arguments for the sampler (``nutpie.sample``, ``pymc.sample``) or,
        with ADVI, for ``pymc.fit``. Settings that have their own field are refused here.

    Examples
    --------
    >>> SamplerConfig(draws=500, seed=1).chains
    4
    >>> SamplerConfig(method="advi").chains
    1
    """

    sampler: str | None = None
    draws: int = 1000
    tune: int | None = None
    chains: int | None = None
    target_accept: float | None = None
    seed: int | None = None
    progress: bool = True
    method: str = "mcmc"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        defaults = _MCMC_DEFAULTS if self.method == "mcmc" else _ADVI_DEFAULTS
        given = {name: getattr(self, name) for name in defaults if getattr(self, name) is not None}
        if self.method == "advi":
            refused = {k: v for k, v in given.items() if v != defaults[k]}
            if refused:
                raise ValueError(
                    f"method='advi' cannot honour {refused}: ADVI runs in PyMC (sampler "
                    "'pymc'), draws from one approximation (chains=1) and has no tuning phase "
                    "or acceptance rate (set its length with options={'n': steps}); drop "
                    "these settings or use method='mcmc'")
        for name, default in defaults.items():
            object.__setattr__(self, name, given.get(name, default))
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        object.__setattr__(self, "draws", as_count("draws", self.draws))
        object.__setattr__(self, "chains", as_count("chains", self.chains))
        object.__setattr__(self, "tune", as_count("tune", self.tune, minimum=0))
        object.__setattr__(self, "seed", as_seed(self.seed))
        if self.target_accept is not None:
            if isinstance(self.target_accept, bool) or not isinstance(self.target_accept,
                                                                      numbers.Real):
                raise TypeError(f"target_accept must be a number in (0, 1), got "
                                f"{self.target_accept!r}")
            if not 0.0 < float(self.target_accept) < 1.0:
                raise ValueError(f"target_accept must be in (0, 1), got {self.target_accept!r}")
            object.__setattr__(self, "target_accept", float(self.target_accept))
        if not isinstance(self.progress, (bool, np.bool_)):
            raise TypeError(f"progress must be True or False, got {self.progress!r}")
        object.__setattr__(self, "progress", bool(self.progress))
        options = dict(self.options)
        clash = sorted(_RESERVED_OPTIONS & set(options))
        if clash:
            raise ValueError(f"options {clash} have their own SamplerConfig settings (or are "
                             "set by pexsurv): pass them as SamplerConfig fields, not options")
        if self.method == "advi":
            options["n"] = as_count("options['n'] (ADVI steps)", options.get("n", _ADVI_STEPS))
        need = _NEEDS[self.sampler]
        if self.method == "mcmc" and need and importlib.util.find_spec(need) is None:
            raise ValueError(
                f"sampler {self.sampler!r} needs the {need!r} package; install it "
                f"(pip install '{need}') or use sampler='nutpie'"
            )
        object.__setattr__(self, "options", MappingProxyType(options))

    @property
    def approximate(self) -> bool:
        """True for variational (ADVI) fits."""
        return self.method != "mcmc"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: dict(self.options) if f.name == "options" else getattr(self, f.name)
                for f in fields(self)}
