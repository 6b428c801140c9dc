"""Workflows: procedures that fit models many times and combine what the lower layers give
(installed as ``pexsurv.workflows``, the layer under the command line only).

- :func:`compare_analyses`: every analysis of a trial with delayed treatment start and
  crossover (ITT, modified ITT, per protocol, as treated, RPSFT, ...) side by side, with the
  populations they are fitted on (:func:`populations`, from the
  :class:`~pexsurv.TrialData` population methods);
- :class:`AnalysisConfig`: one analysis of a user's trial from a TOML file (what
  ``pexsurv fit`` runs);
- :func:`simulation_based_calibration`: prior draws, simulated trials and refits, ranked and
  judged by :class:`pexsurv.diagnostics.SBCResult`.
"""

from pexsurv.workflows.compare import (
    ANALYSES,
    Analysis,
    ComparisonResult,
    compare_analyses,
    populations,
)
from pexsurv.workflows.config import AnalysisConfig, ConfigError
from pexsurv.workflows.report import HazardRatioReport, hazard_ratio_report, posterior_checks
from pexsurv.workflows.sbc import simulation_based_calibration

__all__ = [
    "ANALYSES",
    "Analysis",
    "AnalysisConfig",
    "ComparisonResult",
    "ConfigError",
    "HazardRatioReport",
    "compare_analyses",
    "hazard_ratio_report",
    "populations",
    "posterior_checks",
    "simulation_based_calibration",
]
