"""The crossover (treatment-switching) model in one place: RPSFT counterfactual times
(:mod:`~pexsurv.models.rpsft.counterfactual`), classic g-estimation
(:mod:`~pexsurv.models.rpsft.gestimation`) and the Bayesian RPSFT with its MCMC-free
adjusted hazard ratio (:mod:`~pexsurv.models.rpsft.bayes`). Fitting the Bayesian model's
stage 2 lives in :mod:`pexsurv.fitting`."""

from pexsurv.logrank import logrank_z
from pexsurv.models.rpsft.bayes import (
    RPSFT,
    adjusted_log_hr_draws,
    grid_quantiles,
    paired_log_hr,
    psi_posterior_grid,
)
from pexsurv.models.rpsft.counterfactual import (
    Counterfactual,
    counterfactual_data,
    counterfactual_times,
)
from pexsurv.models.rpsft.estimate import SwitchEstimate
from pexsurv.models.rpsft.gestimation import GEstimate, adjusted_hr, rpsftm_gestimate, z_on_grid
from pexsurv.models.rpsft.ipe import ipe
from pexsurv.models.rpsft.tse import tse_simple

__all__ = [
    "RPSFT",
    "Counterfactual",
    "SwitchEstimate",
    "GEstimate",
    "adjusted_hr",
    "adjusted_log_hr_draws",
    "counterfactual_data",
    "counterfactual_times",
    "grid_quantiles",
    "ipe",
    "logrank_z",
    "paired_log_hr",
    "psi_posterior_grid",
    "rpsftm_gestimate",
    "tse_simple",
    "z_on_grid",
]
