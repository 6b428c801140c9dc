"""One vocabulary of dimension and variable names, declared once.

Graph variable names carry their scale (``log_`` or none). Select by these names, never
by position. Tests pin the exact sets.
"""

from __future__ import annotations

# Dimensions
SUBJECT = "subject"
INTERVAL = "interval"
ARM = "arm"
STRATUM = "stratum"
COVARIATE = "covariate"
PERIOD = "period"
EPISODE = "episode"
CELL = "cell"
SAMPLE_DIMS = ("chain", "draw")

# Arm coding inside models: the experimental arm is 1, the reference (control) arm 0.
REFERENCE = 0
EXPERIMENTAL = 1

# Graph variable names
LOG_HAZARD_BASE = "log_hazard_base"
LOG_HR = "log_hr"
HR = "hr"
# RPSFT: the stage-2 PEM's own arm effect, kept for comparison with the reported one.
LOG_HR_TWO_STAGE = "log_hr_two_stage"
HR_TWO_STAGE = "hr_two_stage"
LOG_HR_PERIOD = "log_hr_period"
HR_PERIOD = "hr_period"
LOG_HR_SCALE = "log_hr_scale"
BETA = "beta"
PSI = "psi"
ACCELERATION = "acceleration"

# Per-patient log-likelihood in a fit's ``log_likelihood`` group (the exact survival
# likelihood, for LOO; see pexsurv.models.loglik).
LOG_LIKELIHOOD_VAR = "survival"

# Contracts between a fit and the checks that read it.
# Attribute of a posterior variable whose draws were not made by MCMC (its value says how
# they were made): R-hat and ESS do not apply to it.
NOT_MCMC = "not_mcmc"
# DataTree groups of a Bayesian RPSFT fit: the stage-1 grid posterior of psi, and one row
# per stage-2 fit (psi value, per-fit R-hat / ESS / divergences; the base seed in attrs).
PSI_GRID = "psi_grid"
RPSFT_STAGE2 = "rpsft_stage2"

# Internal column names of episode tables (generated here only).
COL_SUBJECT = "subject"
COL_START = "start"
COL_STOP = "stop"
COL_EVENT = "event"
COL_INTERVAL = "interval"
COL_ARM = "arm"
COL_STRATUM = "stratum"
COL_ON_EXPERIMENTAL = "on_experimental"
COL_EXPOSURE = "exposure"
COL_EVENTS = "events"
