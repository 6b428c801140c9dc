"""Diagnostics: post-fit checks that read fits and never refit them (installed as
``pexsurv.diagnostics``): convergence, posterior predictive checks, LOO, prior sensitivity,
hazard-ratio tables and the uniformity tests of simulation-based calibration ranks (the
simulations themselves are a workflow: :func:`pexsurv.workflows.simulation_based_calibration`).
"""

from pexsurv.check import CheckResult
from pexsurv.diagnostics.convergence import (
    THRESHOLDS,
    ConvergenceCheck,
    ConvergenceWarning,
    check_convergence,
)
from pexsurv.diagnostics.hr_table import hr_table
from pexsurv.diagnostics.loo import (
    LOG_LIKELIHOOD_VAR,
    LooCheck,
    compare,
    log_likelihood_tree,
    loo,
    pareto_k_counts,
)
from pexsurv.diagnostics.ppc import (
    AssessmentCheck,
    EventsCheck,
    SurvivalPPC,
    assessment_ppc,
    observed_vs_expected_events,
    posterior_predictive_survival,
)
from pexsurv.diagnostics.sbc import SBCResult, sbc_ranks
from pexsurv.diagnostics.sensitivity import PSENSE_THRESHOLD, PriorSensitivity, prior_sensitivity

__all__ = [
    "AssessmentCheck",
    "CheckResult",
    "LOG_LIKELIHOOD_VAR",
    "PSENSE_THRESHOLD",
    "THRESHOLDS",
    "ConvergenceCheck",
    "ConvergenceWarning",
    "EventsCheck",
    "LooCheck",
    "PriorSensitivity",
    "SBCResult",
    "SurvivalPPC",
    "assessment_ppc",
    "check_convergence",
    "compare",
    "hr_table",
    "log_likelihood_tree",
    "loo",
    "observed_vs_expected_events",
    "pareto_k_counts",
    "posterior_predictive_survival",
    "prior_sensitivity",
    "sbc_ranks",
]
