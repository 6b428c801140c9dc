"""Simulation-based calibration: the rank and uniformity machinery on exact posteriors
(no sampling), the fixed prior and the simulated trials, and one tiny end-to-end run that
checks shapes only (its ranks are too few to test calibration; see benchmarks/sbc_pem.py).
"""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from simtools import simulate_pem

from pexsurv import TrialData
from pexsurv.diagnostics.convergence import ConvergenceWarning
from pexsurv.diagnostics.replicate import SubjectHazards
from pexsurv.diagnostics.sbc import SBCResult, sbc_ranks
from pexsurv.workflows.sbc import (
    _fixed_prior_spec,
    _prior_draws,
    _replicate,
    simulation_based_calibration,
)
from pexsurv.fitting import SamplerConfig
from pexsurv.models import PiecewiseExponential

matplotlib.use("Agg")  # figures are only built, never shown

BASE = np.array([0.3, 0.2, 0.1])
CUTS = (2.0, 6.0)


def trial(seed: int, n: int, *, censor_time: bool = False) -> TrialData:
    df = simulate_pem(seed, n, BASE, np.array(CUTS), -0.4)
    df["admin"] = 12.0  # the end of the study: a potential censoring time for everyone
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id",
                                    censor_time="admin" if censor_time else None)


# --------------------------------------------------------------------------- exact posteriors
def conjugate_ranks(seed: int, n_sims: int, n_draws: int, *, shift: float = 0.0,
                    scale: float = 1.0) -> pd.DataFrame:
    """SBC ranks of two Normal means with known unit noise, prior N(m0, s0), n data points:
    the posterior is N((m0/s0^2 + sum y) / (1/s0^2 + n), 1/(1/s0^2 + n)) exactly. ``shift``
    (in posterior sds) and ``scale`` (of the posterior sd) make it wrong on purpose."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (m0, s0, n) in {"mu_a": (0.0, 1.0, 5), "mu_b": (2.0, 0.5, 20)}.items():
        theta = rng.normal(m0, s0, n_sims)
        y_sum = rng.normal(theta[:, None], 1.0, (n_sims, n)).sum(axis=1)
        precision = 1 / s0**2 + n
        mean, sd = (m0 / s0**2 + y_sum) / precision, precision**-0.5
        draws = rng.normal(mean[:, None] + shift * sd, scale * sd, (n_sims, n_draws))
        out[name] = sbc_ranks(theta, draws)
    return pd.DataFrame(out)


def test_ranks_count_draws_below_truth_per_parameter():
    draws = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(sbc_ranks([-1.0, 5.5, 100.0], draws), [0, 2, 4])


def test_exact_posterior_ranks_pass():
    check = SBCResult.from_ranks(conjugate_ranks(1, 300, 99), max_rank=99)
    assert check.passed
    assert check.table["in_band"].all()
    assert (check.table["ks_p"] > 0.01).all()
    np.testing.assert_allclose(check.table["mean_rank"], 0.5, atol=0.05)
    assert check.bins == 20 and check.n_failed == 0


@pytest.mark.parametrize("wrong", [dict(shift=0.5), dict(scale=0.5), dict(scale=2.0)],
                         ids=["biased", "over-confident", "under-confident"])
def test_miscalibrated_posterior_ranks_fail(wrong):
    check = SBCResult.from_ranks(conjugate_ranks(2, 300, 99, **wrong), max_rank=99)
    assert not check.passed
    assert not check.table["ok"].any()
    assert not check.table["in_band"].any()
    assert "FAILED" in check.text and "mu_a" in check.text


def test_synthetic_uniform_ranks_pass_with_many_parameters():
    rng = np.random.default_rng(3)
    ranks = pd.DataFrame(rng.integers(0, 201, (150, 8)), columns=[f"p{i}" for i in range(8)])
    check = SBCResult.from_ranks(ranks, max_rank=200)
    assert check.passed and check.table["chi2_p"].min() >= 0.01 / 8


def test_chi_square_expects_each_bin_by_its_number_of_rank_values():
    # Every rank value once: exactly uniform, although 101 values do not split into 20
    # equal bins; equal expected counts would report a spurious discrepancy.
    ranks = pd.DataFrame({"x": np.arange(101)})
    check = SBCResult.from_ranks(ranks, max_rank=100, bins=20)
    assert check.table.loc["x", "chi2"] == pytest.approx(0.0, abs=1e-12)
    assert check.table.loc["x", "chi2_p"] == pytest.approx(1.0)


@pytest.mark.parametrize("ranks, message", [(pd.DataFrame({"x": [0, 5, 11]}), "0..10"),
                                            (pd.DataFrame({"x": [0.5, 2.0]}), "integers")])
def test_ranks_are_validated(ranks, message):
    with pytest.raises(ValueError, match=message):
        SBCResult.from_ranks(ranks, max_rank=10)


def test_plot_has_one_panel_per_parameter():
    check = SBCResult.from_ranks(conjugate_ranks(4, 60, 49), max_rank=49)
    fig = check.plot()
    assert isinstance(fig, Figure)
    assert [ax.get_visible() for ax in fig.axes] == [True, True]
    assert set(check.figures()) == {"simulation_based_calibration"}


# --------------------------------------------------------------------------- fixed prior, trials
def test_fixed_prior_does_not_follow_the_simulated_data():
    template, other = trial(1, 200), trial(2, 200)
    spec = PiecewiseExponential(cuts=CUTS)
    fixed = _fixed_prior_spec(spec, template)
    # The default baseline prior is centred on each data set's crude rate ...
    assert spec.resolved_priors(other) != spec.resolved_priors(template)
    # ... the SBC spec keeps the template's for every simulated trial.
    assert fixed.resolved_priors(other) == spec.resolved_priors(template)


@pytest.mark.parametrize("censor_time", [False, True], ids=["reverse-km", "censor-time"])
def test_simulated_trials_keep_the_design(censor_time):
    data = trial(5, 120, censor_time=censor_time)
    spec = _fixed_prior_spec(PiecewiseExponential(cuts=CUTS), data)
    hazards = SubjectHazards.from_result(_prior_draws(spec, data, 3, seed=1))
    sims = [_replicate(data, hazards, j, np.random.default_rng(j)) for j in range(3)]
    template = spec.design(data)
    for sim in sims:
        np.testing.assert_array_equal(sim.id, data.id)
        np.testing.assert_array_equal(sim.arm, data.arm)
        # Censored subjects stay censored no later than they were.
        censored = data.event == 0
        assert (sim.time[censored] <= data.time[censored]).all()
        assert (sim.event[censored & (sim.time < data.time)] == 1).all()
        if censor_time:
            assert (sim.time <= sim.censor_time).all()
        assert sim.censor_time is None or censor_time
        design = spec.design(sim)
        assert design.events.shape == template.events.shape
        np.testing.assert_array_equal(design.treat, template.treat)
    assert len({sim.fingerprint() for sim in sims}) == 3


@pytest.mark.parametrize("option, message", [(dict(likelihood="episodes"), "aggregated likelihood"),
                                             (dict(exposure="received"), "exposure='assigned'")])
def test_unsupported_specs_are_refused_before_sampling(option, message):
    with pytest.raises(ValueError, match=message):
        simulation_based_calibration(PiecewiseExponential(cuts=CUTS, **option), trial(1, 50), 3,
                                     seed=1, progress=False)


# --------------------------------------------------------------------------- end to end
def test_tiny_run_shapes():
    data = trial(6, 80, censor_time=True)
    with warnings.catch_warnings(record=True) as caught:
        # 2 x 200 draws cannot reach the ESS >= 400 threshold: failed fits are expected
        # and must be reported by one summary warning, not one per fit.
        warnings.simplefilter("always", ConvergenceWarning)
        sbc = simulation_based_calibration(
            PiecewiseExponential(cuts=CUTS), data, 5, draws=200, thin=2, seed=7,
            config=SamplerConfig(chains=2, tune=200), progress=False)
    params = ["log_hazard_base[(0, 2]]", "log_hazard_base[(2, 6]]",
              "log_hazard_base[(6, inf)]", "log_hr"]
    assert sbc.ranks.shape == (5, 4) and list(sbc.ranks.columns) == params
    assert sbc.truth.shape == (5, 4)
    assert sbc.max_rank == 2 * 100
    assert sbc.ranks.to_numpy().min() >= 0 and sbc.ranks.to_numpy().max() <= sbc.max_rank
    assert list(sbc.table.index) == params and sbc.bins == 2
    assert len(sbc.fits) == 5 and sbc.fits["seconds"].gt(0).all()
    warned = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(warned) == (1 if sbc.n_failed else 0)
    assert "censor_time" in sbc.settings["censoring_of_event_subjects"]
