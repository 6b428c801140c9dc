"""Simulation-based calibration must rank each simulation's truth among the posterior of the
trial simulated from that same truth (issue 18). The check: on a large template trial the
posterior is far narrower than the prior, so an aligned truth lands inside its posterior
(extreme ranks 0 or L about 2 / (L + 1) = 1% of the time) while a truth from another prior
draw lands outside it (extreme ranks for most parameters).

Record of planting the bug (commit f77c5e2): replicates all simulated from prior draw 0
while ranks use draw j (``_replicate(data, hazards, 0, rng)`` at diagnostics/sbc.py:514):
test_truth_and_replicate_come_from_the_same_prior_draw fails (extreme-rank share 0.83;
0.02 without the bug).
"""

from __future__ import annotations

import warnings

import numpy as np
from simtools import simulate_pem

from pexsurv import TrialData
from pexsurv.diagnostics import ConvergenceWarning
from pexsurv.workflows import simulation_based_calibration
from pexsurv.fitting import SamplerConfig
from pexsurv.models import PiecewiseExponential
from pexsurv.priors import IndependentNormal, Normal

CUTS = (2.0, 6.0)


def test_truth_and_replicate_come_from_the_same_prior_draw():
    df = simulate_pem(7, 2000, np.array([0.3, 0.2, 0.1]), np.array(CUTS), -0.4)
    template = TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id")
    # Priors narrow enough that every prior draw gives events in every interval (so every
    # parameter is identified), wide enough that two draws differ by many posterior sds
    # (posterior sd about 0.05-0.1 at 2000 patients).
    spec = PiecewiseExponential(cuts=CUTS, priors={"log_hazard_base": IndependentNormal(sigma=0.7),
                                                   "log_hr": Normal(0.0, 0.7)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short fits: ESS < 400
        sbc = simulation_based_calibration(
            spec, template, n_sims=12, draws=100, thin=1, seed=3, progress=False,
            config=SamplerConfig(chains=2, tune=300))
    ranks = sbc.ranks.to_numpy()
    assert ranks.shape == (12, 4) and sbc.max_rank == 200
    extreme = np.isin(ranks, [0, sbc.max_rank]).mean()
    # Aligned: extreme-rank share about 1% (measured 0.02), P(share > 0.2 of 48) negligible.
    # Misaligned (truth j, data from draw 0): measured 0.83.
    assert extreme < 0.2, sbc.ranks
    assert sbc.truth is not None and sbc.truth.shape == (12, 4)
