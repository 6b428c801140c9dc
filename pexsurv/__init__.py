"""pexsurv: Bayesian piecewise-exponential survival models for randomized trials."""

from pexsurv._version import __version__
from pexsurv.data import TrialData, TrialDataError

__all__ = ["TrialData", "TrialDataError", "__version__"]
