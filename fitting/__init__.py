"""The fitting layer: one way to fit every model, and the fit's own convergence verdict
(installed as ``pexsurv.fitting``).

Importing it registers the package's model types (:mod:`pexsurv.fitting.pem`,
:mod:`pexsurv.fitting.rpsft`) with :func:`register_model`, which is also how a new model
type plugs in.
"""

from pexsurv.fitting import pem as _pem  # noqa: F401  (registers PiecewiseExponential)
from pexsurv.fitting import rpsft as _rpsft  # noqa: F401  (registers RPSFT)
from pexsurv.fitting.compiled import CompiledModel, IncompleteSamplingError, compile_model
from pexsurv.fitting.config import METHODS, SAMPLERS, SamplerConfig
from pexsurv.fitting.convergence import (
    THRESHOLDS,
    ConvergenceCheck,
    ConvergenceWarning,
    check_convergence,
    stage2_rhat_allowance,
)
from pexsurv.fitting.fit import compile_spec, default_config, fit
from pexsurv.fitting.predictive import PriorPredictive, prior_predictive
from pexsurv.fitting.registry import ModelFitting, model_fitting, register_model
from pexsurv.fitting.rpsft import BayesianTSE, fit_tse_bayes
from pexsurv.fitting.result import (
    CorruptResultError,
    FitResult,
    IncompatibleResultError,
    ResultFileError,
    StageRun,
)

__all__ = [
    "METHODS",
    "SAMPLERS",
    "THRESHOLDS",
    "BayesianTSE",
    "CompiledModel",
    "ConvergenceCheck",
    "ConvergenceWarning",
    "CorruptResultError",
    "FitResult",
    "IncompatibleResultError",
    "IncompleteSamplingError",
    "ModelFitting",
    "PriorPredictive",
    "ResultFileError",
    "SamplerConfig",
    "StageRun",
    "check_convergence",
    "compile_model",
    "compile_spec",
    "default_config",
    "fit",
    "fit_tse_bayes",
    "prior_predictive",
    "model_fitting",
    "register_model",
    "stage2_rhat_allowance",
]
