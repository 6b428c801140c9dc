"""Diagnostics: convergence checks and, as they land, PPC, LOO, prior sensitivity and
reports (installed as ``pexsurv.diagnostics``)."""

from pexsurv.diagnostics.convergence import (
    THRESHOLDS,
    ConvergenceCheck,
    ConvergenceWarning,
    check_convergence,
)

__all__ = ["THRESHOLDS", "ConvergenceCheck", "ConvergenceWarning", "check_convergence"]
