"""Convergence checks (re-exported): the fit's own verdict lives in the fitting layer,
:mod:`pexsurv.fitting.convergence`, which diagnostics and reports read."""

from pexsurv.fitting.convergence import (
    THRESHOLDS,
    ConvergenceCheck,
    ConvergenceWarning,
    check_convergence,
)

__all__ = ["THRESHOLDS", "ConvergenceCheck", "ConvergenceWarning", "check_convergence"]
