"""Workflows: procedures that fit models many times and combine what the lower layers give
(installed as ``pexsurv.workflows``, the layer under the command line only).

- :func:`compare_analyses`: every analysis of a trial with delayed treatment start and
  crossover (ITT, modified ITT, per protocol, as treated, RPSFT, ...) side by side, with the
  populations they are fitted on (:func:`populations`, from the
  :class:`~pexsurv.TrialData` population methods);
- :class:`AnalysisConfig`: one analysis of a user's trial from a TOML file (what
  ``pexsurv fit`` runs);
- :func:`simulation_metrics` (and :func:`bias`, :func:`rmse`, :func:`coverage`,
  :func:`interval_width`): operating characteristics over simulated trials with Monte Carlo
  standard errors, as the validation studies report them;
- :func:`simulation_based_calibration`: prior draws, simulated trials and refits, ranked and
  judged by :class:`pexsurv.diagnostics.SBCResult`;
- :func:`sweep`: one analysis under every combination of alternative settings, serial, in
  local processes or on Dask, into a resumable store (:class:`SweepResult`);
- :func:`operating_characteristics`: power, type I error, bias and coverage of a Bayesian
  decision rule over simulated trials, on the same store and executors;
- :func:`compare_pfs_dating`: PFS of a trial with scheduled assessments under true,
  visit-dated, midpoint and interval-censored dating, side by side against the truth;
- :func:`pexsurv.workflows.validate.validate`: the package's own validation (what
  ``pexsurv validate`` runs), a pass/fail :class:`ValidationReport` (the function is not
  re-exported here: its name is its module's).
"""

from pexsurv.workflows.assessments import PFSDatingComparison, compare_pfs_dating, pfs_fit_summary
from pexsurv.workflows.compare import (
    ANALYSES,
    Analysis,
    ComparisonResult,
    compare_analyses,
    populations,
)
from pexsurv.workflows.config import AnalysisConfig, ConfigError
from pexsurv.workflows.metrics import (
    MonteCarloEstimate,
    SimulationMetrics,
    bias,
    coverage,
    interval_width,
    rmse,
    simulation_metrics,
)
from pexsurv.workflows.report import HazardRatioReport, hazard_ratio_report, posterior_checks
from pexsurv.workflows.oc import OCDesign, OCResult, operating_characteristics
from pexsurv.workflows.sbc import simulation_based_calibration
from pexsurv.workflows.sbc_interval import interval_censored_sbc
from pexsurv.workflows.validate import ValidationReport
from pexsurv.workflows.sweep import DecisionRule, Robustness, SweepResult, sweep

__all__ = [
    "ANALYSES",
    "Analysis",
    "AnalysisConfig",
    "ComparisonResult",
    "ConfigError",
    "DecisionRule",
    "HazardRatioReport",
    "MonteCarloEstimate",
    "OCDesign",
    "OCResult",
    "PFSDatingComparison",
    "Robustness",
    "SimulationMetrics",
    "SweepResult",
    "ValidationReport",
    "bias",
    "compare_analyses",
    "compare_pfs_dating",
    "coverage",
    "hazard_ratio_report",
    "interval_censored_sbc",
    "interval_width",
    "operating_characteristics",
    "pfs_fit_summary",
    "populations",
    "posterior_checks",
    "rmse",
    "simulation_based_calibration",
    "simulation_metrics",
    "sweep",
]
