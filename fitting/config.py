"""Typed, validated sampler configuration."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

__all__ = ["SamplerConfig", "SAMPLERS", "METHODS"]

SAMPLERS = ("nutpie", "pymc", "numpyro")
METHODS = ("mcmc", "advi")
# Extra packages each sampler needs beyond pymc; nutpie is a core dependency.
_NEEDS = {"nutpie": "nutpie", "numpyro": "numpyro", "pymc": None}


@dataclass(frozen=True)
class SamplerConfig:
    """How a model is fitted.

    Parameters
    ----------
    sampler : {"nutpie", "pymc", "numpyro"}
        NUTS implementation (nutpie is the default and the fastest here; numpyro is an
        optional extra: ``pip install "pexsurv[numpyro]"``).
    draws, tune, chains : int
        Posterior draws and tuning steps per chain, number of chains (4 by default so that
        R-hat is meaningful).
    target_accept : float
        NUTS target acceptance rate; raise it (e.g. 0.95) when divergences appear.
    seed : int, optional
        Random seed; the same seed gives the same draws bit for bit.
    progress : bool
        Show a progress bar.
    method : {"mcmc", "advi"}
        ``"mcmc"`` (exact up to Monte Carlo error) or a quick mean-field ADVI
        *approximation* for exploration, labelled as approximate wherever it is reported.
    options : mapping
        Further keyword arguments for the sampler.

    Examples
    --------
    >>> SamplerConfig(draws=500, seed=1).chains
    4
    """

    sampler: str = "nutpie"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.8
    seed: int | None = None
    progress: bool = True
    method: str = "mcmc"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        for name in ("draws", "chains"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.tune, int) or isinstance(self.tune, bool) or self.tune < 0:
            raise ValueError(f"tune must be a non-negative integer, got {self.tune!r}")
        if not 0.0 < float(self.target_accept) < 1.0:
            raise ValueError(f"target_accept must be in (0, 1), got {self.target_accept!r}")
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {self.seed!r}")
        need = _NEEDS[self.sampler]
        if self.method == "mcmc" and need and importlib.util.find_spec(need) is None:
            raise ValueError(
                f"sampler {self.sampler!r} needs the {need!r} package; install it "
                f"(pip install '{need}') or use sampler='nutpie'"
            )
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @property
    def approximate(self) -> bool:
        """True for variational (ADVI) fits."""
        return self.method != "mcmc"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: dict(self.options) if f.name == "options" else getattr(self, f.name)
                for f in fields(self)}
