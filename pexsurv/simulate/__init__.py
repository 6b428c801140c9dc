"""Simulate two-arm trials with delayed treatment start and treatment switching.

``engine`` holds the simulator (:func:`simulate_trial`, :class:`SimulatedTrial` and its
data cuts), ``summaries`` what a trial report would give of a simulated trial, and
``scenarios`` the named, calibrated scenarios, ``switching`` trials whose control
patients switch at progression (the setting of two-stage estimation) or when a time-varying
marker worsens (the setting of IPCW), and ``assessments`` tumour burden and scheduled
assessments (progression found at visits, interval-censored).

Examples
--------
>>> from pexsurv.simulate import SCENARIOS, simulate_ct041_like
>>> SCENARIOS["ct041_like"] is simulate_ct041_like
True
"""

from pexsurv.simulate.assessments import (
    AssessedTrial,
    ProgressionRule,
    Therapy,
    assess_patients,
    simulate_assessments,
    tumour_burden,
)
from pexsurv.simulate.engine import HazardSpec, SimulatedTrial, simulate_trial
from pexsurv.simulate.scenarios import (
    CT041_LIKE_PARAMS,
    CT041_TARGETS,
    CT041_UPDATED_CUT,
    SCENARIOS,
    simulate_ct041_like,
    simulate_rpsft,
    summarize_ct041,
)
from pexsurv.simulate.summaries import hazard_ratio, os_trial_data, summarize_trial
from pexsurv.simulate.switching import (
    SwitchAtProgression,
    TimeVaryingSwitching,
    simulate_switch_at_progression,
    simulate_time_varying_switching,
    simulate_two_way_switching,
)

__all__ = [
    "AssessedTrial",
    "CT041_LIKE_PARAMS",
    "CT041_TARGETS",
    "CT041_UPDATED_CUT",
    "SCENARIOS",
    "HazardSpec",
    "ProgressionRule",
    "SimulatedTrial",
    "SwitchAtProgression",
    "Therapy",
    "TimeVaryingSwitching",
    "assess_patients",
    "hazard_ratio",
    "os_trial_data",
    "simulate_assessments",
    "simulate_ct041_like",
    "simulate_rpsft",
    "simulate_switch_at_progression",
    "simulate_time_varying_switching",
    "simulate_two_way_switching",
    "simulate_trial",
    "summarize_ct041",
    "summarize_trial",
    "tumour_burden",
]
