"""Model specifications, likelihood rows and quantities derived from posterior draws.

Installed as ``pexsurv.models`` (the folder ``models/`` is mapped by setuptools).
"""

from pexsurv.models.derived import (
    hazard_by_arm,
    hr_by_interval,
    median_survival,
    milestone_survival,
    rmst,
    survival_curve,
)
from pexsurv.models.design import PEMDesign, build_design
from pexsurv.models.loglik import log_likelihood_tree
from pexsurv.models.piecewise import PiecewiseExponential
from pexsurv.models.rpsft import (
    RPSFT,
    GEstimate,
    IpcwEstimate,
    SwitchEstimate,
    adjusted_hr,
    adjusted_log_hr_draws,
    counterfactual_data,
    counterfactual_times,
    grid_quantiles,
    ipcw,
    ipe,
    logrank_z,
    paired_log_hr,
    psi_posterior_grid,
    rpsftm_gestimate,
    tse_simple,
    z_on_grid,
)

__all__ = [
    "RPSFT",
    "GEstimate",
    "IpcwEstimate",
    "PEMDesign",
    "SwitchEstimate",
    "PiecewiseExponential",
    "adjusted_hr",
    "adjusted_log_hr_draws",
    "build_design",
    "counterfactual_data",
    "counterfactual_times",
    "grid_quantiles",
    "ipcw",
    "ipe",
    "log_likelihood_tree",
    "logrank_z",
    "paired_log_hr",
    "psi_posterior_grid",
    "rpsftm_gestimate",
    "tse_simple",
    "z_on_grid",
    "hazard_by_arm",
    "hr_by_interval",
    "median_survival",
    "milestone_survival",
    "rmst",
    "survival_curve",
]
