"""The fitting layer: one way to fit every model (installed as ``pexsurv.fitting``)."""

from pexsurv.fitting.compiled import CompiledModel, compile_model
from pexsurv.fitting.config import METHODS, SAMPLERS, SamplerConfig
from pexsurv.fitting.fit import compile_spec, fit
from pexsurv.fitting.result import FitResult, IncompatibleResultError

__all__ = [
    "METHODS",
    "SAMPLERS",
    "CompiledModel",
    "FitResult",
    "IncompatibleResultError",
    "SamplerConfig",
    "compile_model",
    "compile_spec",
    "fit",
]
