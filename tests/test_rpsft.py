"""Bayesian RPSFT: the grid quasi-posterior of psi against g-estimation and R, recovery
under prognosis-driven switching, and the two-stage adjusted survival."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pexsurv import TrialData
from pexsurv.fitting import ConvergenceWarning, FitResult, SamplerConfig, compile_spec, fit
from pexsurv.models import RPSFT, counterfactual_data, grid_quantiles, psi_posterior_grid
from pexsurv.priors import Normal, Uniform
from pexsurv.simulate import simulate_rpsft
from pexsurv.warnings import ExtrapolationWarning


def test_grid_posterior_matches_gestimation_on_immdef(immdef_data):
    grid = psi_posterior_grid(immdef_data, Uniform(-2.0, 2.0), np.linspace(-2, 2, 20001))
    lo, med, hi = grid_quantiles(grid, np.array([0.025, 0.5, 0.975]))
    # Regression snapshot (the package's own earlier output, not a reference): median
    # -0.184, 95% (-0.348, 0.011). Reference (R's g-estimate, independent): -0.181
    # (-0.350, 0.002); the flat-prior quasi-posterior reproduces test inversion up to the
    # step-function discreteness of Z.
    assert med == pytest.approx(-0.184, abs=0.002)
    assert lo == pytest.approx(-0.348, abs=0.002) and hi == pytest.approx(0.011, abs=0.002)
    assert abs(med - (-0.181323)) < 0.01 and abs(lo - (-0.349840)) < 0.01
    assert float(np.trapezoid(grid["density"], grid["psi"])) == pytest.approx(1.0)


def test_informative_prior_pulls_psi(immdef_data):
    grid_flat = psi_posterior_grid(immdef_data, Uniform(-2.0, 2.0), np.linspace(-2, 2, 4001))
    grid_inf = psi_posterior_grid(immdef_data, Normal(-0.6, 0.1), np.linspace(-2, 2, 4001))
    # Z is close to linear in psi, so the quasi-likelihood is near Normal(-0.184, 0.090);
    # a Normal(-0.6, 0.1) prior then gives a precision-weighted centre of about -0.37.
    lo, med, hi = grid_quantiles(grid_flat, np.array([0.025, 0.5, 0.975]))
    sd_lik = (hi - lo) / (2 * 1.96)
    w = (1 / 0.1**2) / (1 / 0.1**2 + 1 / sd_lik**2)
    expected = w * -0.6 + (1 - w) * med
    assert grid_quantiles(grid_inf, np.array([0.5]))[0] == pytest.approx(expected, abs=0.02)


def test_sceptical_prior_shrinks_towards_no_effect(immdef_data):
    from pexsurv.priors import sceptical

    # Sceptical on the acceleration factor: P(exp(psi) < 0.8) = 5% a priori.
    grids = {name: psi_posterior_grid(immdef_data, prior, np.linspace(-2, 2, 4001))
             for name, prior in (("flat", Uniform(-2.0, 2.0)), ("sceptical", sceptical(0.8)))}
    med = {k: grid_quantiles(g, np.array([0.5]))[0] for k, g in grids.items()}
    below = {k: float(np.trapezoid(g["density"].where(g.psi < 0, 0), g.psi))
             for k, g in grids.items()}
    assert med["flat"] < med["sceptical"] < 0
    assert below["sceptical"] < below["flat"]


@pytest.mark.parametrize("seed", [1, 2])
def test_grid_posterior_recovers_psi_under_prognostic_switching(seed):
    data = simulate_rpsft(2000, seed=seed, psi=-0.5)
    grid = psi_posterior_grid(data, Normal(0, 10), np.linspace(-2, 2, 4001))
    lo, hi = grid_quantiles(grid, np.array([0.005, 0.995]))
    assert lo < -0.5 < hi


def test_counterfactual_data(immdef, immdef_data):
    """Against R's formula written out independently (tests/rpsft_reference.py): the control
    arm's U = T_off + exp(psi) T_on, recensored at min(C, C exp(psi)); the experimental arm
    as observed."""
    from rpsft_reference import immdef_counterfactual

    psi = -0.2
    cf = counterfactual_data(immdef_data, psi)
    u, e = immdef_counterfactual(immdef, psi)
    row = pd.Index(immdef["id"]).get_indexer(cf.id)
    ctl = immdef["imm"].to_numpy()[row] == 0
    np.testing.assert_array_equal(cf.arm, immdef["imm"].to_numpy()[row])
    np.testing.assert_allclose(cf.time[ctl], u[row][ctl], rtol=1e-12)
    np.testing.assert_array_equal(cf.event[ctl], e[row][ctl])
    np.testing.assert_array_equal(cf.time[~ctl], immdef["progyrs"].to_numpy()[row][~ctl])
    np.testing.assert_array_equal(cf.event[~ctl], immdef["prog"].to_numpy()[row][~ctl])
    # The check has teeth: recensoring turns events into censorings here.
    assert (e[immdef["imm"] == 0] < immdef["prog"][immdef["imm"] == 0]).sum() > 0
    assert cf.switch_time is None and "psi=-0.2" in cf.notes[-1]


def test_spec_validation():
    with pytest.raises(ValueError, match="psi_range"):
        RPSFT(cuts=(1.0,), psi_range=(1.0, -1.0))
    with pytest.raises(TypeError, match="psi_prior must be a Prior"):
        RPSFT(cuts=(1.0,), psi_prior=0.5)
    with pytest.raises(ValueError, match="sorted"):
        RPSFT(cuts=(2.0, 1.0))
    spec = RPSFT(cuts=(1.0,))
    assert RPSFT.from_dict(spec.to_dict()) == spec


@pytest.fixture(scope="module")
def rpsft_spec() -> RPSFT:
    return RPSFT(cuts=(0.5, 1.0, 1.5, 2.0), psi_prior=Uniform(-2.0, 2.0), n_psi_draws=40)


@pytest.fixture(scope="module")
def rpsft_compiled(rpsft_spec, immdef_data):
    """One stage-2 compilation for every fit of ``rpsft_spec`` in this module."""
    return compile_spec(rpsft_spec, immdef_data)


@pytest.fixture(scope="module")
def small_compiled(immdef_data):
    """The stage-2 PEM of every ``RPSFT(cuts=(1.0,), ...)`` below (it depends on the cuts
    and PEM priors only), compiled once for the module."""
    return compile_spec(RPSFT(cuts=(1.0,)), immdef_data)


@pytest.fixture(scope="module")
def rpsft_fit(rpsft_spec, rpsft_compiled, immdef_data) -> FitResult:
    return fit(rpsft_spec, immdef_data, draws=100, tune=300, seed=5, progress=False,
               compiled=rpsft_compiled)


def test_adjusted_hr(rpsft_fit):
    post = rpsft_fit.posterior
    assert {"psi", "acceleration", "hr", "log_hr", "log_hazard_base",
            "hr_two_stage", "log_hr_two_stage"} <= set(post.data_vars)
    assert post.sizes == {"chain": 4, "draw": 4000, "interval": 5}
    # R: adjusted Cox HR 0.7685 (Wald 0.606-0.975) at psi-hat. The paired PEM estimate at
    # R's psi is 0.774 (measured), and psi's uncertainty widens the interval.
    hr = post["hr"].values
    assert np.median(hr) == pytest.approx(0.7685, abs=0.03)
    assert np.mean(hr < 1) > 0.95
    lo, hi = np.quantile(hr, [0.025, 0.975])
    # Regression snapshot bounds (measured here, no external reference; R's Wald interval
    # 0.606-0.975 ignores psi's uncertainty, so the interval is wider by design).
    assert 0.55 < lo < 0.65 and 0.95 < hi < 1.05
    # The adjusted HR's uncertainty is psi's: they move together draw by draw, which the
    # former mixture (log_hr_two_stage, correlation ~0.3 with psi) did not.
    psi, log_hr = post["psi"].values.ravel(), post["log_hr"].values.ravel()
    assert np.corrcoef(psi, log_hr)[0, 1] > 0.9
    assert np.corrcoef(psi, post["log_hr_two_stage"].values.ravel())[0, 1] < 0.6
    # psi in the pooled posterior: within 0.01 of R's g-estimate -0.181323 (reference).
    assert float(post["psi"].median()) == pytest.approx(-0.181323, abs=0.01)
    assert rpsft_fit.convergence.passed, rpsft_fit.convergence.text
    assert "rpsft_stage2" in rpsft_fit.idata.children


def test_mcmc_free_adjusted_hr_is_the_fits_log_hr(rpsft_fit, rpsft_spec, immdef_data):
    """``RPSFT.adjusted_log_hr`` with the fit's seed and chains x draws weight sets is the
    fit's ``log_hr``, bit for bit and draw for draw (validation/rpsft_study.py relies on it
    to run the shipped estimate on 400 trials without MCMC)."""
    config = rpsft_fit.sampler
    free = rpsft_spec.adjusted_log_hr(immdef_data, n_boot=config.chains * config.draws,
                                      seed=config.seed)
    m = rpsft_spec.n_psi_draws
    # Draw j of stage-2 fit i sits at pooled draw j * M + i of each chain.
    arranged = free.reshape(m, config.chains, config.draws).transpose(1, 2, 0)
    np.testing.assert_array_equal(arranged.reshape(config.chains, -1),
                                  rpsft_fit.posterior["log_hr"].values)
    other = rpsft_spec.adjusted_log_hr(immdef_data, n_boot=config.chains * config.draws,
                                       seed=config.seed + 1)
    assert not np.array_equal(other, free)  # the seed reaches the bootstrap weights


def test_survival_had_nobody_switched(rpsft_fit, immdef_data):
    from pexsurv.km import km_survival_at
    from pexsurv.models import median_survival, milestone_survival, rmst

    # immdef's follow-up ends at 3 years: most median draws lie beyond it and are flagged.
    with pytest.warns(ExtrapolationWarning):
        med = median_survival(rpsft_fit)
    assert med.dims == ("chain", "draw", "arm")
    assert float(med["extrapolated"].sel(arm="1").mean()) > 0.9
    # The control arm had nobody switched: the stage-2 PEM agrees with the Kaplan-Meier
    # curve of the counterfactual control data at psi-hat (measured: 0.878 vs 0.882 at 1
    # year, 0.693 vs 0.704 at 2 years; immdef's switchers switch late, so these are close
    # to the observed control curve).
    cf = counterfactual_data(immdef_data, -0.184)
    ctl = cf.arm == 0
    km = km_survival_at(cf.time[ctl], cf.event[ctl], np.array([1.0, 2.0]))
    had = milestone_survival(rpsft_fit, [1.0, 2.0]).sel(arm="0").median(("chain", "draw"))
    np.testing.assert_allclose(had.values, km, atol=0.02)
    r = rmst(rpsft_fit, 2.0)
    assert float((r.sel(arm="1") > r.sel(arm="0")).mean()) > 0.95


def test_convergence_checks_mcmc_draws_only(rpsft_fit):
    checked = {name.split("[")[0] for name in rpsft_fit.convergence.table.index}
    # psi are fixed grid quantiles and log_hr bootstrap draws: R-hat / ESS do not apply.
    assert checked == {"log_hazard_base", "log_hr_two_stage", "hr_two_stage"}
    # Only the constants that do not change with psi are kept as constant data.
    assert set(rpsft_fit.idata["constant_data"].data_vars) == {"cut_points", "arm_code"}
    assert rpsft_fit.idata["rpsft_stage2"].attrs["seed"] == 5
    summary = rpsft_fit.summary()
    assert summary.loc[["psi", "hr"], "r_hat"].isna().all()
    assert summary.loc["hr_two_stage", "r_hat"] < 1.01 and "n/a" in str(summary)


def test_rpsft_result_reproducible_and_saves(rpsft_fit, rpsft_compiled, small_compiled,
                                            immdef_data, tmp_path):
    # The recorded configuration replays the run.
    again = fit(rpsft_fit.spec, immdef_data, sampler=rpsft_fit.sampler, compiled=rpsft_compiled)
    assert again.timings["compile_seconds"] == 0.0
    for name in ("hr", "log_hazard_base"):
        np.testing.assert_array_equal(again.posterior[name].values,
                                      rpsft_fit.posterior[name].values)
    back = FitResult.load(rpsft_fit.save(tmp_path / "rpsft.nc"))
    xr.testing.assert_identical(back.posterior, rpsft_fit.posterior)
    assert back.spec == rpsft_fit.spec and "psi_grid" in back.idata.children
    assert back.convergence.table.index.equals(rpsft_fit.convergence.table.index)
    with pytest.raises(ValueError, match="stage-2 PEM"):
        fit(rpsft_fit.spec, immdef_data, progress=False, compiled=small_compiled)


def test_without_seed_the_seed_is_recorded(immdef_data, small_compiled):
    spec = RPSFT(cuts=(1.0,), n_psi_draws=2)
    settings = dict(draws=20, tune=50, chains=2, progress=False, compiled=small_compiled)
    with pytest.warns(ConvergenceWarning):  # 80 draws cannot pass the ESS threshold
        runs = [fit(spec, immdef_data, **settings) for _ in range(2)]
    seeds = [r.sampler.seed for r in runs]
    assert seeds[0] != seeds[1] and all(r.provenance["seed_drawn"] for r in runs)
    assert [r.idata["rpsft_stage2"].attrs["seed"] for r in runs] == seeds
    with pytest.warns(ConvergenceWarning):
        again = fit(spec, immdef_data, seed=seeds[0], **settings)
    for name in ("hr", "log_hazard_base"):  # bootstrap and MCMC draws alike
        np.testing.assert_array_equal(again.posterior[name].values, runs[0].posterior[name].values)


def test_unconverged_stage2_fails_its_verdict(immdef_data, small_compiled):
    """Stage-2 fits too short to converge (5 tuning steps, 4 x 20 draws) exceed the per-fit
    R-hat bound in far more of the 20 fits than chance allows (2): the verdict fails on
    that count, whatever else it finds."""
    spec = RPSFT(cuts=(1.0,), n_psi_draws=20)
    with pytest.warns(ConvergenceWarning, match="RPSFT stage-2 fits have R-hat"):
        r = fit(spec, immdef_data, draws=20, tune=5, seed=3, progress=False,
                compiled=small_compiled)
    over = int((r.idata["rpsft_stage2"]["r_hat_max"] > 1.05).sum())
    assert over > 10 and not r.convergence.passed
    assert f"{over} of 20 RPSFT stage-2 fits have R-hat > 1.05 (chance allows 2)" in \
        r.convergence.problems


def test_settings_are_run_as_given_or_refused(immdef_data, small_compiled):
    """Issue 11's reproducer: RPSFT with ADVI was run as 1 chain x 40 MCMC draws and reported
    as 'APPROXIMATE (ADVI) ... chains=4, draws=1000', without a convergence check."""
    spec = RPSFT(cuts=(1.0,), n_psi_draws=2)
    with pytest.raises(ValueError, match="RPSFT supports method 'mcmc'"):
        fit(spec, immdef_data, draws=1000, chains=4, method="advi", progress=False)
    with pytest.warns(ConvergenceWarning):  # the check runs (one chain: no R-hat, low ESS)
        r = fit(spec, immdef_data, draws=20, tune=20, chains=1, seed=1, progress=False,
                compiled=small_compiled)
    assert r.posterior.sizes["chain"] == 1 and r.posterior.sizes["draw"] == 2 * 20
    assert (r.sampler.chains, r.sampler.draws, r.sampler.tune) == (1, 20, 20)
    psi, stage2, boot = r.runs
    assert (stage2.method, stage2.sampler, stage2.fits, stage2.chains, stage2.draws,
            stage2.tune, stage2.seed) == ("mcmc", "nutpie", 2, 1, 20, 20, 1)
    assert (psi.method, psi.draws) == ("grid", 2) and boot.draws == 20
    text = repr(r)
    assert "stage 2: MCMC (nutpie), 2 fits, each 1 chain x 20 draws after 20 tuning steps" in text
    assert "posterior 1 chain x 40 draws" in text and "NOT CONVERGED" in text
    # Sampler options reach every stage-2 fit (they used to be dropped): nutpie refuses this.
    with pytest.raises(AttributeError, match="bogus_option"):
        fit(spec, immdef_data, draws=20, tune=20, seed=1, progress=False,
            compiled=small_compiled, bogus_option=3)
    with pytest.raises(TypeError, match="next to a SamplerConfig"):
        fit(spec, immdef_data, sampler=SamplerConfig(seed=1), draws=20)


def test_rpsft_defaults_are_the_stage2_settings(immdef_data):
    from pexsurv.fitting import default_config

    config = default_config(RPSFT(cuts=(1.0,)), seed=np.int64(3))
    assert (config.draws, config.tune, config.chains, config.seed) == (250, 300, 4, 3)
    assert default_config(RPSFT(cuts=(1.0,)), draws=np.int64(40)).draws == 40
    with pytest.raises(TypeError, match="n_psi_draws must be an integer"):
        RPSFT(cuts=(1.0,), n_psi_draws=2.0)
    assert RPSFT(cuts=(1.0,), n_psi_draws=np.int64(2)).n_psi_draws == 2


def _pem_mle(groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]], cuts) -> float:
    """Brute-force PH piecewise-exponential MLE of group 1 vs group 0: every parameter
    (interval log hazards and the log HR) by numerical optimisation of the full weighted
    log-likelihood, patient by patient."""
    from scipy.optimize import minimize

    edges = np.r_[0.0, cuts, np.inf]

    def nll(theta):
        log_lam, beta = theta[:-1], theta[-1]
        total = 0.0
        for g, (time, event, w) in enumerate(groups):
            for t, e, wi in zip(time, event, w):
                k = np.searchsorted(edges, t, side="left") - 1  # interval (c[k-1], c[k]]
                exposure = np.clip(np.minimum(t, edges[1:]) - edges[:-1], 0, None)
                rate = np.exp(log_lam + beta * g)
                total += wi * (e * np.log(rate[k]) - rate @ exposure)
        return -total

    return float(minimize(nll, np.zeros(len(cuts) + 2), method="BFGS").x[-1])


def test_paired_log_hr_against_brute_force(immdef_data):
    from pexsurv.models import paired_log_hr

    data = immdef_data.derive(np.arange(immdef_data.n) % 5 == 0)  # 200 patients: fast
    cuts, psi = (0.5, 1.2), -0.3
    exp = data.arm == 1
    # immdef's experimental arm is treated throughout and, fully compliant, never
    # recensored (autoswitch): U = T exp(psi) with the observed event, written out here
    # rather than taken from the package's counterfactual_times.
    u, e = data.time * np.exp(psi), data.event
    w = np.random.default_rng(1).integers(1, 4, size=(1, int(exp.sum()))).astype(float)
    expected = _pem_mle([(u[exp], e[exp], w[0]), (data.time[exp], data.event[exp], w[0])], cuts)
    assert paired_log_hr(data, psi, cuts, weights=w)[0] == pytest.approx(expected, abs=1e-4)
    # Integer weights are duplicated patients.
    rows = np.repeat(np.flatnonzero(exp), w[0].astype(int))
    dup = _pem_mle([(u[rows], e[rows], np.ones(rows.size)),
                    (data.time[rows], data.event[rows], np.ones(rows.size))], cuts)
    assert dup == pytest.approx(expected, abs=1e-4)


def test_paired_log_hr_recovers_exponential_truth():
    from pexsurv.models import paired_log_hr

    # U exponential: the no-switch HR is exp(psi) exactly; at the true psi the paired
    # estimate is the truth up to sampling noise of the experimental arm alone.
    data = simulate_rpsft(4000, seed=3, psi=-0.5)
    assert paired_log_hr(data, -0.5, (0.5, 1.0, 2.0))[0] == pytest.approx(-0.5, abs=0.05)


def test_adjusted_hr_interval_covers_in_small_replicates():
    """Twelve small replicates of the validation study: stage-1 psi quantiles x Bayesian
    bootstrap, as fit does, against a known-bad method on the same trials (the bootstrap at
    psi's median only, which drops psi's uncertainty: intervals about 4 times too narrow,
    coverage about 40%).

    Power of the rule "at least 10 of 12 cover" (binomial): a method with true coverage
    0.95 fails it with probability 0.02; one with coverage 0.55 or less passes with
    probability at most 0.04, the known-bad one (0.40) with 0.002. It cannot tell 95% from
    84% (passes 84% coverage with probability 0.70): that needs about 100 trials (normal
    approximation: 0.11 >= (2.33 sqrt(.95 .05) + 1.645 sqrt(.84 .16)) / sqrt(n) gives
    n >= 102) and is the job of the validation study (validation/rpsft_study.md)."""
    from pexsurv.models import adjusted_log_hr_draws

    covered, covered_bad, widths = 0, 0, []
    for seed in range(12):
        data = simulate_rpsft(300, seed=100 + seed, psi=-0.5)
        grid = psi_posterior_grid(data, Normal(0, 10), np.linspace(-2, 2, 2001))
        for psis, bad in ((grid_quantiles(grid, (np.arange(20) + 0.5) / 20), False),
                          (np.full(20, grid_quantiles(grid, [0.5])[0]), True)):
            draws = adjusted_log_hr_draws(data, psis, (0.6, 1.3, 2.2), n_boot=50,
                                          rng=np.random.default_rng(seed))
            lo, hi = np.quantile(draws, [0.025, 0.975])
            if bad:
                covered_bad += lo < -0.5 < hi
            else:
                covered += lo < -0.5 < hi
                widths.append(hi - lo)
    assert covered >= 10  # P(fail | coverage 0.95) = 0.02
    assert covered_bad < 10  # measured 5 of 12
    # Width close to the sampling spread measured in the study (SD 0.17 at N = 500,
    # so about 0.17 * sqrt(500 / 300) * 3.92 = 0.86 at N = 300; measured 0.89).
    assert 0.6 < np.mean(widths) < 1.1


def test_rpsft_refuses_loglik_and_needs_switching(immdef_data, small_compiled):
    spec = RPSFT(cuts=(1.0,), n_psi_draws=2)
    with pytest.raises(ValueError, match="no per-patient likelihood"):
        fit(spec, immdef_data, log_likelihood=True, progress=False, compiled=small_compiled)
    plain = TrialData.from_dataframe(immdef_data.to_frame(), time="time", event="event",
                                     arm="arm", reference="0")
    with pytest.raises(ValueError, match="needs switch_time"):
        fit(spec, plain, progress=False, compiled=small_compiled)


def test_per_patient_treat_modifier(immdef_data):
    half = np.where(immdef_data.arm == 0, 0.5, 1.0)
    data = TrialData.from_dataframe(immdef_data.to_frame().assign(m=half), time="time",
                                    event="event", arm="arm", reference="0", id="id",
                                    switch_time="switch_time", censor_time="censor_time",
                                    covariates=("m",))
    spec = RPSFT(cuts=(1.0,), treat_modifier="m", psi_range=(-3.0, 2.0))
    grid = spec.psi_grid(data)
    # Same Z as g-estimation's per-patient modifier, array passed directly.
    from pexsurv.models import z_on_grid

    z = z_on_grid(data, grid["psi"].values[::500], treat_modifier=half)
    np.testing.assert_allclose(grid["z"].values[::500], z.values)
    with pytest.raises(ValueError, match="numeric covariate"):
        RPSFT(cuts=(1.0,), treat_modifier="nope").psi_grid(data)


def test_paired_log_hr_uses_the_experimental_arms_modifier_only(immdef_data):
    from pexsurv.models import paired_log_hr

    # The paired comparison involves experimental patients only, so a modifier that
    # differs only in the control arm leaves it unchanged, while one in the experimental
    # arm changes it.
    control_half = np.where(immdef_data.arm == 0, 0.5, 1.0)
    base = paired_log_hr(immdef_data, -0.3, (1.0,))
    np.testing.assert_array_equal(
        paired_log_hr(immdef_data, -0.3, (1.0,), treat_modifier=control_half), base)
    experimental_half = np.where(immdef_data.arm == 1, 0.5, 1.0)
    changed = paired_log_hr(immdef_data, -0.3, (1.0,), treat_modifier=experimental_half)
    assert abs(changed[0] - base[0]) > 0.01
