"""Hand-chosen prior draws and a by-hand replicate simulator for the mutation tests of the
SBC workflows (``tests/test_mutation_sbc_workflow.py``, ``tests/test_mutation_sbc_interval.py``,
issue 18).

Prior draw j of a two-arm PEM on (0, 2], (2, 6], (6, inf): baseline log hazards ``BASE[j]``
and log HR ``LOG_HR[j]``, far apart from draw to draw, so a replicate simulated from another
draw than the one ranked differs visibly. Event times are found by walking the cumulative
hazard interval by interval, not with the package's sampler.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from simtools import simulate_pem

from pexsurv import TrialData
from pexsurv.diagnostics.replicate import SubjectHazards, censoring_times
from pexsurv.fitting import FitResult, SamplerConfig
from pexsurv.fitting.predictive import PriorPredictive
from pexsurv.models import PiecewiseExponential
from pexsurv.testing import fake_posterior

CUTS = (2.0, 6.0)
LABELS = ["(0, 2]", "(2, 6]", "(6, inf)"]
BASE = np.log([[0.3, 0.2, 0.1], [2.0, 1.5, 0.9], [0.02, 0.05, 0.01]])
LOG_HR = np.array([-0.7, 1.1, 0.3])


def trial(*, censor_time: bool = False, n: int = 14, seed: int = 1) -> TrialData:
    """A small two-arm trial with censoring (and, when asked, potential censoring times
    12.0, 12.1, ...)."""
    df = simulate_pem(seed, n, np.array([0.3, 0.2, 0.1]), np.array(CUTS), -0.4)
    df["admin"] = 12.0 + np.arange(n) / 10
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id",
                                    censor_time="admin" if censor_time else None)


def prior_tree(data: TrialData, base: np.ndarray = BASE, log_hr: np.ndarray = LOG_HR
               ) -> xr.DataTree:
    """Prior draws (one chain, draw j = row j) as ``pm.sample_prior_predictive`` lays them
    out, with the constant data a PEM model holds."""
    tree = fake_posterior(cuts=CUTS, chains=1, draws=len(log_hr), arms=data.arms)
    post = tree["posterior"].to_dataset()
    post["log_hazard_base"] = (("chain", "draw", "interval"), base[None].copy())
    post["log_hr"] = (("chain", "draw"), log_hr[None].copy())
    post["hr"] = (("chain", "draw"), np.exp(log_hr)[None])
    return xr.DataTree.from_dict({"prior": post,
                                  "constant_data": tree["constant_data"].to_dataset()})


def prior_hazards(data: TrialData) -> SubjectHazards:
    """Each subject's hazards under the prior draws of :func:`prior_tree`."""
    spec = PiecewiseExponential(cuts=CUTS)
    prior = FitResult(idata=PriorPredictive(idata=prior_tree(data)).as_posterior(), spec=spec,
                      priors=spec.resolved_priors(data), data=data,
                      sampler=SamplerConfig(progress=False))
    return SubjectHazards.from_result(prior)


def hand_time(e: float, rates: np.ndarray) -> float:
    """The time at which the cumulative hazard of ``rates`` on (0, 2], (2, 6], (6, inf)
    reaches ``e``."""
    edges = [0.0, *CUTS, np.inf]
    for k, r in enumerate(rates):
        width = edges[k + 1] - edges[k]
        if e < r * width:
            return edges[k] + e / r
        e -= r * width
    raise AssertionError("unreachable")


def hand_event_and_censoring(data: TrialData, j: int, rng: np.random.Generator
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Prior draw j's event times (rates exp(BASE[j] + arm * LOG_HR[j])), then the
    censoring times, drawn in that order from ``rng``."""
    e = rng.standard_exponential(data.n)
    t_event = np.array([hand_time(e[i], np.exp(BASE[j] + data.arm[i] * LOG_HR[j]))
                        for i in range(data.n)])
    return t_event, censoring_times(data, 1, rng)[0]
