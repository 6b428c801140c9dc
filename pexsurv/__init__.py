"""pexsurv: Bayesian piecewise-exponential survival models for randomized trials.

The public API is re-exported here. Heavy parts (PyMC models, fitting) load on first use,
so that the command line and the data model start quickly.

Examples
--------
>>> import pexsurv
>>> data = pexsurv.datasets.ct041_like(endpoint="pfs")
>>> spec = pexsurv.PiecewiseExponential(cuts=pexsurv.equal_events(data, k=4))
"""

from importlib import import_module
from pkgutil import extend_path
from typing import Any

# Run from the repository root, this source folder shadows the installed package, the only
# one holding the subpackages mapped from the top-level folders (models/, priors/, fitting/,
# diagnostics/): extend the search path to the installed `pexsurv` folder too, so that they
# import from anywhere.
__path__ = extend_path(__path__, __name__)

from pexsurv._version import __version__
from pexsurv.data import TrialData, TrialDataError
from pexsurv.intervals import equal_events, exposure_table, fixed_width, split_episodes

# name -> module holding it, imported on first access (PEP 562); the datasets entry is the
# module itself.
_LAZY = {
    "datasets": "pexsurv",
    "simulate_trial": "pexsurv.simulate",
    "simulate_ct041_like": "pexsurv.simulate",
    "PiecewiseExponential": "pexsurv.models",
    "RPSFT": "pexsurv.models",
    "rpsftm_gestimate": "pexsurv.models",
    "compare_analyses": "pexsurv.workflows",
    "SamplerConfig": "pexsurv.fitting",
    "FitResult": "pexsurv.fitting",
    "fit": "pexsurv.fitting",
    "compile_spec": "pexsurv.fitting",
    "check_convergence": "pexsurv.diagnostics",
    "prior_predictive": "pexsurv.fitting.predictive",
}

__all__ = [
    "TrialData",
    "TrialDataError",
    "__version__",
    "equal_events",
    "exposure_table",
    "fixed_width",
    "split_episodes",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        if name == "datasets":
            return import_module("pexsurv.datasets")
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pexsurv' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
