"""RPSFT options that no other test exercised (issue 18): ``recensor=False``,
``autoswitch=False``, ``test="cox"`` / ``"weibull"``, the psi-grid edge warning and
``pem_priors``. Stage 1 is checked against counterfactual times written from R's formula
(tests/rpsft_reference.py) and R's published numbers; ``pem_priors`` with one stage-2 fit
(the module's one compile).

Checked by planting (commit f77c5e2): RPSFT.counterfactual_options ignoring ``recensor`` and
``autoswitch`` fails both option cases of test_logrank_z_options_against_reference and
test_no_recensoring_matches_r; RPSFT.z_options ignoring ``test`` fails both cases of
test_model_based_z_against_lifelines_on_reference_times.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from rpsft_reference import immdef_counterfactual, logrank_z

from pexsurv.diagnostics import ConvergenceWarning
from pexsurv.fitting import fit
from pexsurv.models import RPSFT, z_on_grid
from pexsurv.priors import Normal, Uniform

# R (pexsurv/datasets/immdef.md): Z(psi) of fit a (log-rank, recensoring, autoswitch).
R_Z = {-0.50: 3.658526, -0.35: 1.974833, -0.25: 0.553971, -0.20: 0.120386,
       -0.15: -0.280014, -0.10: -1.001379, 0.00: -1.913881, 0.20: -3.702021}


def z_at(spec: RPSFT, data, psis) -> np.ndarray:
    grid = spec.psi_grid(data)
    return grid["z"].sel(psi=list(psis), method="nearest", tolerance=1e-9).values


def test_reference_reproduces_r_z_table(immdef):
    """The references themselves, against R: recensoring and autoswitch as rpsftm's fit a."""
    for psi, z in R_Z.items():
        u, e = immdef_counterfactual(immdef, psi)
        assert logrank_z(u, e, immdef["imm"].to_numpy()) == pytest.approx(z, abs=1e-6)


@pytest.mark.parametrize("options", [dict(recensor=False), dict(autoswitch=False),
                                     dict()], ids=["no-recensoring", "recensor-both-arms",
                                                   "default"])
def test_logrank_z_options_against_reference(immdef, immdef_data, options):
    spec = RPSFT(cuts=(1.0,), psi_prior=Uniform(-2.0, 2.0), grid_size=401, **options)
    psis = [-0.5, -0.2, 0.0, 0.2]
    expected = [logrank_z(*immdef_counterfactual(immdef, p, **options), immdef["imm"].to_numpy())
                for p in psis]
    np.testing.assert_allclose(z_at(spec, immdef_data, psis), expected, atol=1e-8)


def crossing(grid, level: float) -> float:
    """First psi where Z (decreasing in psi) falls to ``level``: test inversion on the grid."""
    z, psi = grid["z"].values, grid["psi"].values
    return float(psi[np.argmax(z <= level)])


def test_no_recensoring_matches_r(immdef_data):
    # R fit b2 (no censor_time), sign changes by bisection (pexsurv/datasets/immdef.md): psi-hat
    # -0.185059, CI (-0.366448, 0.004133). The recensored fit a is at -0.181178 and
    # (-0.349655, 0.002048): a 0.001 tolerance on a 0.0002 grid tells them apart.
    spec = RPSFT(cuts=(1.0,), psi_prior=Uniform(-2.0, 2.0), grid_size=20001, recensor=False)
    grid = spec.psi_grid(immdef_data)
    assert crossing(grid, 0.0) == pytest.approx(-0.185059, abs=1e-3)
    assert crossing(grid, 1.959964) == pytest.approx(-0.366448, abs=1e-3)
    assert crossing(grid, -1.959964) == pytest.approx(0.004133, abs=1e-3)


def _lifelines_z(test: str, u: np.ndarray, e: np.ndarray, arm: np.ndarray) -> float:
    from lifelines import CoxPHFitter, WeibullAFTFitter

    frame = pd.DataFrame({"t": u, "e": e, "arm": arm.astype(float)})
    if test == "cox":
        cox = CoxPHFitter().fit(frame, "t", "e")
        return float(cox.params_["arm"] / cox.standard_errors_["arm"])
    aft = WeibullAFTFitter().fit(frame, "t", "e")
    key = ("lambda_", "arm")
    return float(-aft.params_[key] / aft.standard_errors_[key])  # AFT acts on log time


@pytest.mark.parametrize("test", ["cox", "weibull"])
def test_model_based_z_against_lifelines_on_reference_times(immdef, immdef_data, test):
    psis = [-0.5, -0.2, 0.2]
    if test == "cox":  # through the spec's whole grid (101 Cox fits, ~10 s)
        spec = RPSFT(cuts=(1.0,), psi_prior=Uniform(-1.0, 1.0), psi_range=(-1.0, 1.0),
                     grid_size=101, test=test)
        got = z_at(spec, immdef_data, psis)
    else:  # a Weibull grid costs ~0.5 s a point: three points through z_on_grid
        spec = RPSFT(cuts=(1.0,), test=test)
        got = z_on_grid(immdef_data, psis, **spec.z_options(immdef_data)).values
    arm = immdef["imm"].to_numpy()
    refs = [immdef_counterfactual(immdef, p) for p in psis]
    expected = [_lifelines_z(test, u, e, arm) for u, e in refs]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # Oriented like the log-rank Z (positive: experimental arm worse) and close to it.
    logrank = [logrank_z(u, e, arm) for u, e in refs]
    np.testing.assert_allclose(got, logrank, atol=0.3)
    assert np.sign(got).tolist() == [1.0, 1.0, -1.0]


def test_psi_grid_warns_when_mass_sits_at_its_edge(immdef_data):
    # psi's posterior on immdef is about N(-0.18, 0.09): a range ending at -0.25 cuts it.
    with pytest.warns(UserWarning, match="widen psi_range"):
        RPSFT(cuts=(1.0,), psi_range=(-0.25, 1.0)).psi_grid(immdef_data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RPSFT(cuts=(1.0,), psi_range=(-1.0, 1.0)).psi_grid(immdef_data)


def test_pem_priors_reach_the_stage2_fit(immdef_data):
    # A tight prior on the log HR of the stage-2 PEM, far from what the data say (about
    # -0.26): the stage-2 arm effect must sit at the prior, and the priors be recorded.
    prior = Normal(1.0, 0.01)
    spec = RPSFT(cuts=(1.0,), psi_prior=Uniform(-2.0, 2.0), n_psi_draws=4,
                 pem_priors={"log_hr": prior})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = fit(spec, immdef_data, seed=1, progress=False, draws=100, tune=200, chains=2)
    assert result.priors["log_hr"] == prior
    stage2 = result.posterior["log_hr_two_stage"]
    assert float(stage2.mean()) == pytest.approx(1.0, abs=0.03)
    # The reported (paired) adjusted HR does not use the PEM prior.
    assert float(result.posterior["log_hr"].median()) < 0
