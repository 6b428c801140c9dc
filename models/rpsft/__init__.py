"""The crossover (treatment-switching) model in one place: RPSFT counterfactual times
(:mod:`~pexsurv.models.rpsft.counterfactual`), classic g-estimation
(:mod:`~pexsurv.models.rpsft.gestimation`) and the Bayesian RPSFT with its MCMC-free
adjusted hazard ratio (:mod:`~pexsurv.models.rpsft.bayes`), and the frequentist
adjustments HTA bodies ask for beside it: IPE (:mod:`~pexsurv.models.rpsft.ipe`), simple
two-stage estimation (:mod:`~pexsurv.models.rpsft.tse`) and IPCW
(:mod:`~pexsurv.models.rpsft.ipcw`). Fitting the Bayesian model's
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
from pexsurv.models.rpsft.ipcw import IpcwEstimate, ipcw
from pexsurv.models.rpsft.ipe import ipe
from pexsurv.models.rpsft.tse import tse_simple

__all__ = [
    "RPSFT",
    "Counterfactual",
    "SwitchEstimate",
    "GEstimate",
    "IpcwEstimate",
    "adjusted_hr",
    "adjusted_log_hr_draws",
    "counterfactual_data",
    "counterfactual_times",
    "grid_quantiles",
    "ipcw",
    "ipe",
    "logrank_z",
    "paired_log_hr",
    "psi_posterior_grid",
    "rpsftm_gestimate",
    "tse_simple",
    "z_on_grid",
]
