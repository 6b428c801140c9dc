"""The verdicts users act on, on posteriors built by hand with known properties: P(HR < 1)
in ``hr_table``, every branch of the convergence gate (R-hat, bulk AND tail ESS against 400,
divergences, tree depth under both samplers' names, E-BFMI, the RPSFT stage-2 R-hat) and
the prior-sensitivity verdict (two real fits sharing one compiled model).

Each test is built to fail with a plausible one-line bug (issue 18). Record of planting each
bug alone in the code (commit f77c5e2), running this module, and restoring the file:

| planted bug | where | failing test(s) here |
|---|---|---|
| P(HR < 1) computed as P(HR > 1) | diagnostics/hr_table.py:56 | test_hr_table_probability_of_benefit |
| ESS "bulk AND tail" -> "bulk OR tail" | diagnostics/convergence.py:142 | test_low_bulk_ess_fails_even_with_high_tail_ess, test_low_tail_ess_fails_even_with_high_bulk_ess |
| ESS threshold 400 -> 100 | diagnostics/convergence.py:17 | test_ess_between_100_and_400_fails (and the two above) |
| prior-sensitivity verdict inverted | diagnostics/sensitivity.py:115 | test_prior_sensitivity_flags_a_prior_that_dominates, test_prior_sensitivity_passes_when_the_data_dominate |

Stage-2 R-hat (planted on top of commit d2802ea, the multiplicity-aware rule):

| planted bug | where | failing test(s) here |
|---|---|---|
| stage-2 bound exclusive (`>` -> `>=`) | fitting/convergence.py, check_convergence | test_rpsft_stage2_r_hat_fails_when_more_fits_exceed_than_chance_allows |
| allowance ignored (`bad > allowed` -> `bad > 0`) | fitting/convergence.py, check_convergence | both stage-2 tests |
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr
from simtools import simulate_pem

from pexsurv import TrialData
from pexsurv.diagnostics import THRESHOLDS, check_convergence, hr_table, prior_sensitivity
from pexsurv.fitting.convergence import ConvergenceCheck, stage2_rhat_allowance
from pexsurv.fitting import SamplerConfig, compile_spec, fit
from pexsurv.models import PiecewiseExponential
from pexsurv.priors import Normal


# --------------------------------------------------------------------------- hand-built draws
def tree(draws: np.ndarray, **sample_stats: np.ndarray) -> xr.DataTree:
    """A posterior with one scalar parameter ``theta`` (chain x draw) and the given
    sample statistics (same shape)."""
    dims = ("chain", "draw")
    groups = {"posterior": xr.Dataset({"theta": (dims, draws)})}
    if sample_stats:
        groups["sample_stats"] = xr.Dataset({k: (dims, v) for k, v in sample_stats.items()})
    return xr.DataTree.from_dict(groups)


def iid(seed: int, chains: int, draws: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((chains, draws))


def ar1(seed: int, rho: float, chains: int, draws: int) -> np.ndarray:
    """Stationary Gaussian AR(1) chains: bulk ESS about N (1 - rho) / (1 + rho); the 5% and
    95% exceedance indicators are less autocorrelated than the draws, so tail ESS is
    higher than bulk ESS."""
    rng = np.random.default_rng(seed)
    x = np.empty((chains, draws))
    x[:, 0] = rng.standard_normal(chains)
    shocks = rng.standard_normal((chains, draws)) * np.sqrt(1 - rho**2)
    for t in range(1, draws):
        x[:, t] = rho * x[:, t - 1] + shocks[:, t]
    return x


def alternating_tail_runs(seed: int, chains: int = 4, draws: int = 1000, run: int = 50,
                          starts: tuple[int, ...] = (100, 600)) -> np.ndarray:
    """Low tail ESS with high bulk ESS: outside two runs per chain the draws are
    independent and central (|x| <= 1.5); inside each run of 50 they swing from one tail to
    the other (-2.x, +2.x, -2.x, ...), 5% of the draws in each tail. The 5%/95% exceedance
    indicators are then 1 every other draw inside the runs and never outside (tail ESS
    about 190), while the rank-normalised draws alternate in sign, so their
    autocorrelations cancel in pairs (bulk ESS above the number of draws)."""
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((chains, draws)).clip(-1.5, 1.5)
    sign = np.where(np.arange(run) % 2 == 0, -1.0, 1.0)
    for c in range(chains):
        for s in starts:
            out[c, s:s + run] = sign * (2.0 + rng.exponential(1.0, run))
    return out


def theta_row(check) -> dict:
    return check.table.loc["theta"].to_dict()


# --------------------------------------------------------------------------- hr_table
def _fake_fit(hr: np.ndarray, *, approximate: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        idata=xr.DataTree.from_dict({"posterior": xr.Dataset({"hr": (("chain", "draw"), hr)})}),
        data=SimpleNamespace(n=10, event=np.array([1, 0] * 5)), approximate=approximate)


def test_hr_table_probability_of_benefit():
    # 70% of draws at HR ~ 0.8, 30% at HR ~ 1.25: P(HR < 1) = 0.7 exactly, P(HR > 1) = 0.3.
    rng = np.random.default_rng(1)
    hr = np.where(rng.random((4, 500)) < 0.7, 0.8, 1.25) * np.exp(rng.normal(0, 0.01, (4, 500)))
    expected = float((hr < 1).mean())
    assert 0.65 < expected < 0.75
    row = hr_table({"ITT": _fake_fit(hr)}, delta=0.9).loc["ITT"]
    assert row["p_hr_lt_1"] == pytest.approx(expected, abs=1e-12)
    assert row["p_hr_lt_0.9"] == pytest.approx(expected, abs=1e-12)
    assert (row["n"], row["events"]) == (10, 5)
    # Benefit is the common case: the table must not report P(HR > 1) under this name.
    assert row["p_hr_lt_1"] > 0.5


def test_hr_table_summaries_interval_and_flags():
    rng = np.random.default_rng(2)
    hr = np.exp(rng.normal(-0.3, 0.2, (4, 1000)))  # converges: independent draws
    flat = hr.ravel()
    table = hr_table({"ITT": _fake_fit(hr), "ADVI": _fake_fit(hr, approximate=True)})
    assert list(table.index) == ["ITT", "ADVI"]
    assert "p_hr_lt_0.9" not in table.columns  # no delta, no column
    row = table.loc["ITT"]
    assert row["hr_median"] == pytest.approx(np.median(flat), rel=1e-12)
    assert row["hr_mean"] == pytest.approx(flat.mean(), rel=1e-12)
    # Default: central 95% equal-tailed interval.
    np.testing.assert_allclose([row["lower"], row["upper"]], np.quantile(flat, [0.025, 0.975]),
                               rtol=1e-12)
    assert table.attrs == {"prob": 0.95, "interval": "equal-tailed"}
    check = check_convergence(_fake_fit(hr).idata)
    assert row["converged"] and row["diagnostics"] == check.headline and not row["approximate"]
    # A variational fit is flagged and never reported as converged.
    advi = table.loc["ADVI"]
    assert advi["approximate"] and not advi["converged"] and "APPROXIMATE" in advi["diagnostics"]
    # Another probability: the quartiles.
    half = hr_table({"ITT": _fake_fit(hr)}, prob=0.5)
    np.testing.assert_allclose(half.loc["ITT", ["lower", "upper"]].astype(float),
                               np.quantile(flat, [0.25, 0.75]), rtol=1e-12)
    assert half.attrs["prob"] == 0.5


def test_hr_table_keeps_an_unconverged_fit_flagged():
    stuck = np.exp(iid(3, 2, 1000) * 0.1 + np.array([[0.0], [1.0]]))  # chains disagree
    row = hr_table({"stuck": _fake_fit(stuck)}).loc["stuck"]
    assert not row["converged"] and row["diagnostics"].startswith("NOT CONVERGED")


def test_hr_table_edge_semantics():
    """Strict inequalities, keyword-only options, and a duck-typed result without an
    ``approximate`` attribute counted as MCMC (kills the last mutants of
    benchmarks/mutation.md)."""
    rng = np.random.default_rng(4)
    hr = np.exp(rng.normal(0.0, 0.2, (4, 1000)))
    hr[:, :100], hr[:, 100:200] = 1.0, 0.8  # 10% of draws exactly at 1, 10% at 0.8
    fake = _fake_fit(hr)
    row = hr_table({"x": fake}, delta=0.8).loc["x"]
    assert row["p_hr_lt_1"] == pytest.approx(float((hr < 1).mean()), abs=1e-12)
    assert row["p_hr_lt_0.8"] == pytest.approx(float((hr < 0.8).mean()), abs=1e-12)
    assert row["p_hr_lt_1"] < float((hr <= 1).mean()) - 0.05
    assert row["p_hr_lt_0.8"] < float((hr <= 0.8).mean()) - 0.05
    with pytest.raises(TypeError):
        hr_table({"x": fake}, 0.5)  # prob and delta are keyword-only
    bare = SimpleNamespace(idata=fake.idata, data=fake.data)
    assert not hr_table({"x": bare}).loc["x", "approximate"]


# --------------------------------------------------------------------------- ESS rule
def test_independent_draws_above_the_thresholds_pass():
    """The control case: without it, a gate that always fails would pass every test below."""
    check = check_convergence(tree(iid(0, 4, 1000)))
    row = theta_row(check)
    assert row["ess_bulk"] > 2000 and row["ess_tail"] > 2000 and row["r_hat"] < 1.01
    assert check.passed, check.text


def test_low_bulk_ess_fails_even_with_high_tail_ess():
    check = check_convergence(tree(ar1(3, 0.93, 2, 4000)))
    row = theta_row(check)
    # The construction does what it claims: only bulk ESS is below 400.
    assert row["ess_bulk"] < THRESHOLDS["ess_bulk"] <= row["ess_tail"]
    assert row["r_hat_ok"]
    assert not row["ess_ok"]
    assert not check.passed
    assert check.problems == ["bulk or tail ESS < 400 for 1 parameter(s): theta"]


def test_low_tail_ess_fails_even_with_high_bulk_ess():
    check = check_convergence(tree(alternating_tail_runs(1)))
    row = theta_row(check)
    assert row["ess_tail"] < THRESHOLDS["ess_tail"] <= row["ess_bulk"]
    assert row["r_hat_ok"]
    assert not row["ess_ok"] and not check.passed
    assert len(check.problems) == 1 and "ESS < 400" in check.problems[0]


def test_ess_between_100_and_400_fails():
    """Vehtari et al. (2021) ask for 400 (100 per chain for 4 chains); a gate at 100 would
    pass these 2 x 150 independent draws (ESS about 300)."""
    check = check_convergence(tree(iid(2, 2, 150)))
    row = theta_row(check)
    assert 100 < row["ess_bulk"] < 400 and 100 < row["ess_tail"] < 400
    assert row["r_hat_ok"]
    assert not check.passed
    assert "ESS < 400" in check.problems[0]


def test_r_hat_failure_is_named():
    # Two chains stuck in different places: R-hat far above 1.01, ESS large enough.
    draws = iid(4, 2, 2000) + np.array([[0.0], [1.0]])
    check = check_convergence(tree(draws))
    assert theta_row(check)["r_hat"] > 1.1
    assert not check.passed and check.problems[0].startswith("R-hat > 1.01 for 1 parameter(s)")


# --------------------------------------------------------------------------- sampler statistics
GOOD = iid(5, 4, 1000)


def test_one_divergence_fails():
    diverging = np.zeros(GOOD.shape, dtype=bool)
    assert check_convergence(tree(GOOD, diverging=diverging)).passed
    diverging[2, 17] = True
    check = check_convergence(tree(GOOD, diverging=diverging))
    assert check.divergences == 1 and not check.passed
    assert check.problems == ["1 divergent transition(s)"]


@pytest.mark.parametrize("name", ["maxdepth_reached", "reached_max_treedepth"],
                         ids=["nutpie", "pymc"])
def test_tree_depth_saturation_fails_under_either_samplers_name(name):
    hit = np.zeros(GOOD.shape, dtype=bool)
    assert check_convergence(tree(GOOD, **{name: hit})).passed
    hit[0, :40] = True  # 40 of 4000 draws = 1%
    check = check_convergence(tree(GOOD, **{name: hit}))
    assert check.treedepth_saturation == pytest.approx(0.01)
    assert not check.passed and check.problems == ["1.0% of draws hit the maximum tree depth"]


def e_bfmi(energy: np.ndarray) -> np.ndarray:
    """Betancourt (2016): sum of squared energy changes over the sum of squared deviations
    from the chain's mean energy, per chain."""
    centred = energy - energy.mean(axis=1, keepdims=True)
    return (np.diff(energy, axis=1) ** 2).sum(axis=1) / (centred**2).sum(axis=1)


def test_low_e_bfmi_fails():
    rng = np.random.default_rng(6)
    iid_energy = rng.standard_normal(GOOD.shape)  # E-BFMI about 2
    assert check_convergence(tree(GOOD, energy=iid_energy)).passed
    # One chain's energy a random walk: consecutive energies barely change relative to
    # their spread, so that chain's E-BFMI is far below 0.3.
    energy = iid_energy.copy()
    energy[1] = np.cumsum(rng.standard_normal(GOOD.shape[1]))
    check = check_convergence(tree(GOOD, energy=energy))
    np.testing.assert_allclose(check.ebfmi, e_bfmi(energy), rtol=1e-6)
    assert check.ebfmi[1] < 0.05 and (np.delete(check.ebfmi, 1) > 1.5).all()
    assert not check.passed and check.problems == ["E-BFMI below 0.3 in 1 chain(s)"]


def with_stage2(r_hat_max) -> ConvergenceCheck:
    """The converged GOOD posterior with an RPSFT stage-2 group of per-fit R-hats."""
    t = tree(GOOD)
    t["rpsft_stage2"] = xr.DataTree(xr.Dataset(
        {"r_hat_max": ("psi_draw", np.asarray(r_hat_max, dtype=float))},
        coords={"psi_draw": np.arange(len(r_hat_max))}))
    return check_convergence(t)


def test_rpsft_stage2_r_hat_fails_when_more_fits_exceed_than_chance_allows():
    allowed = stage2_rhat_allowance(200)
    assert allowed == 9  # Binomial(200, 0.02): P(count > 9) = 0.0075 < 0.01
    # The bound 1.05 is inclusive: 200 fits at exactly 1.05 pass, just above it all fail.
    assert with_stage2(np.full(200, 1.05)).passed
    check = with_stage2(np.full(200, 1.0501))
    assert not check.passed
    assert check.problems == ["200 of 200 RPSFT stage-2 fits have R-hat > 1.05 (chance "
                              "allows 9)"]
    # The count is what chance allows, at most: 9 over the bound pass, 10 fail.
    r_hat = np.full(200, 1.01)
    r_hat[:allowed] = 1.3
    assert with_stage2(r_hat).passed
    r_hat[allowed] = 1.06
    assert with_stage2(r_hat).problems == ["10 of 200 RPSFT stage-2 fits have R-hat > 1.05 "
                                           "(chance allows 9)"]


def test_rpsft_stage2_chance_exceedances_pass_at_the_stated_rate():
    """Converged stage-2 fits whose R-hat exceeds 1.05 with probability 0.02 each (the
    stated chance rate; benchmarks/bench_rpsft.md measured 7 of 400 at 4 x 100 draws): the
    verdict fails under 1% of such fits, where judging each fit alone fails 98%."""
    rng = np.random.default_rng(11)
    fails = per_fit_fails = 0
    for _ in range(200):
        r_hat = np.where(rng.random(200) < 0.02, 1.07, 1.01)
        fails += not with_stage2(r_hat).passed
        per_fit_fails += bool((r_hat > 1.05).any())
    assert fails <= 6  # expected 1.5 (0.75%); 6 is beyond its 99.9th percentile
    assert per_fit_fails > 180  # expected 196


# --------------------------------------------------------------------------- prior sensitivity
SENS_CUTS = (2.0, 6.0)
# An informative log-HR prior that agrees with the truth (log HR 0): negligible against
# 4000 patients (measured prior sensitivity 0.005-0.007 over three data seeds), dominant
# against 20 (0.09-0.13); the threshold is 0.05.
SENS_SPEC = PiecewiseExponential(cuts=SENS_CUTS, priors={"log_hr": Normal(0.0, 0.2)})


def _sens_trial(n: int, seed: int) -> TrialData:
    df = simulate_pem(seed, n, np.array([0.3, 0.2, 0.1]), np.array(SENS_CUTS), 0.0)
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id")


@pytest.fixture(scope="module")
def sensitivity_fits():
    large, small = _sens_trial(4000, 1), _sens_trial(20, 1)
    # 20 patients leave intervals with one or two events, where the wide default baseline
    # prior (sd 5) gave 11 divergences at target_accept 0.8: a smaller step size fixes it.
    config = SamplerConfig(draws=1000, tune=1000, chains=4, seed=3, progress=False,
                           target_accept=0.95)
    compiled = compile_spec(SENS_SPEC, large, config)  # the one compile of this module
    return {name: fit(SENS_SPEC, data, sampler=config, compiled=compiled)
            for name, data in (("large", large), ("small", small))}


def test_prior_sensitivity_passes_when_the_data_dominate(sensitivity_fits):
    check = prior_sensitivity(sensitivity_fits["large"])
    assert check.table.loc["log_hr", "prior"] < check.threshold
    assert check.passed and "does not drive" in check.text


def test_prior_sensitivity_flags_a_prior_that_dominates(sensitivity_fits):
    check = prior_sensitivity(sensitivity_fits["small"])
    assert check.table.loc["log_hr", "prior"] >= check.threshold
    assert not check.passed and "report how the estimate moves" in check.text
