"""pexsurv.priors: priors as data.

Frozen, comparable, printable prior objects that serialise to dicts and TOML, build PyMC
variables (hyper-parameters optionally as ``pm.Data``) and evaluate with scipy:

- families: :class:`Normal`, :class:`StudentT`, :class:`HalfNormal`,
  :class:`Exponential`, :class:`Gamma`, :class:`Uniform`;
- baseline log-hazard structures: :class:`IndependentNormal`, :class:`GammaHazard`,
  :class:`RandomWalk`, :class:`AR1`, and :func:`data_driven_baseline`;
- log-HR presets: :func:`vague`, :func:`weakly_informative`, :func:`sceptical`,
  :func:`enthusiastic`, :func:`hr_prior`, registered in :data:`PRESETS`;
- :func:`vague_priors`: flat-like priors on every parameter (SAS PHREG BAYES / BUGS style);
- :func:`resolve_priors` (user > data-driven > default) and TOML I/O.
"""

from pexsurv.priors.baseline import (
    AR1,
    BaselinePrior,
    GammaHazard,
    IndependentNormal,
    RandomWalk,
    data_driven_baseline,
)
from pexsurv.priors.distributions import Exponential, Gamma, HalfNormal, Normal, Prior, StudentT, Uniform
from pexsurv.priors.hyper import hyper_data, hyper_values, set_hyper_data
from pexsurv.priors.presets import (
    PRESETS,
    enthusiastic,
    hr_prior,
    preset,
    sceptical,
    vague,
    vague_priors,
    weakly_informative,
)
from pexsurv.priors.resolve import UnknownPriorKeyError, resolve_priors
from pexsurv.priors.spec import PriorSpec
from pexsurv.priors.toml_io import priors_from_toml, priors_to_toml

__all__ = [
    "AR1",
    "PRESETS",
    "BaselinePrior",
    "Exponential",
    "Gamma",
    "GammaHazard",
    "HalfNormal",
    "IndependentNormal",
    "Normal",
    "Prior",
    "PriorSpec",
    "RandomWalk",
    "StudentT",
    "Uniform",
    "UnknownPriorKeyError",
    "data_driven_baseline",
    "enthusiastic",
    "hr_prior",
    "hyper_data",
    "hyper_values",
    "preset",
    "priors_from_toml",
    "priors_to_toml",
    "resolve_priors",
    "sceptical",
    "set_hyper_data",
    "vague",
    "vague_priors",
    "weakly_informative",
]
