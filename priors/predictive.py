"""Moved to :mod:`pexsurv.fitting.predictive` (sampling a model's prior belongs to the
fitting layer, above the models it builds).

Transitional re-export, so that ``pexsurv.priors`` keeps importing until its ``__init__``
(owned elsewhere) drops ``PriorPredictive`` and ``prior_predictive``; then delete this
file and its ``ignore_imports`` entry in ``pyproject.toml``.
"""

from pexsurv.fitting.predictive import PriorPredictive, prior_predictive

__all__ = ["PriorPredictive", "prior_predictive"]
