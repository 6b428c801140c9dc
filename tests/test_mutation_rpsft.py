"""Fitting the Bayesian RPSFT and the Bayesian two-stage estimation (fitting/rpsft.py): which
psi, data, seed and settings reach each stage-2 fit, how the fits are pooled (draw j of fit i
at j * M + i), the per-fit diagnostics, the groups and stage records of the result, and
stage 1 of the TSE against the closed-form normal posterior (issue 18; record in
benchmarks/mutation.md, section ``fitting/rpsft.py``).

The module is loaded from its file (``tests/isolated.py``), so a mutation run tests the
mutated source even with ``pexsurv.fitting`` preloaded; loading it re-registers RPSFT with
the loaded copy, and the package's registration is put back after these tests. The stage-2
sampler is a stand-in (a compiled model that records what it is given and returns draws
seeded by its configuration) except in the tests of real fits, which re-run single stage-2
fits by hand and compare them draw for draw with the pooled posterior.
"""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError

import arviz as az
import numpy as np
import pytest
import xarray as xr
from fitting_tiny import CONFIG, CUTS, rpsft_spec, rpsft_trial, tse_trial
from isolated import load
from scipy import stats

from pexsurv import _names as N
from pexsurv.fitting import SamplerConfig, StageRun
from pexsurv.fitting.pem import structure_hash
from pexsurv.fitting.registry import model_fitting, register_model
from pexsurv.models import RPSFT, PiecewiseExponential, counterfactual_data, tse_simple
from pexsurv.models.rpsft.tse import tse_counterfactual
from pexsurv.priors import Normal

_PACKAGE_RPSFT = model_fitting.dispatch(RPSFT)(None)
R = load("fitting/rpsft.py")

SMALL = SamplerConfig(draws=5, tune=5, chains=2, seed=17, progress=False)


@pytest.fixture(scope="module", autouse=True)
def package_registration_restored():
    yield
    register_model(RPSFT, _PACKAGE_RPSFT)


class StandInCompiled:
    """A compiled stage-2 PEM that records ``prepare``, ``set_data`` and ``sample`` calls and
    returns draws seeded by the configuration (so each fit's draws differ), with an extra
    posterior variable and constant that the fit must leave out."""

    def __init__(self, structure: str, compile_seconds: float = 0.0) -> None:
        self.structure, self.compile_seconds = structure, compile_seconds
        self.prepared, self.data, self.configs, self.returned = [], [], [], []

    def prepare(self, config):
        self.prepared.append(config)
        return 0.25

    def set_data(self, values):
        self.data.append({k: np.array(v) for k, v in values.items()})

    def sample(self, config):
        self.configs.append(config)
        rng = np.random.default_rng(config.seed)
        shape = (config.chains, config.draws)
        current = self.data[-1]
        post = xr.Dataset(
            {N.LOG_HAZARD_BASE: (("chain", "draw", N.INTERVAL), rng.normal(size=(*shape, 2))),
             N.LOG_HR: (("chain", "draw"), rng.normal(size=shape)),
             "junk": (("chain", "draw"), rng.normal(size=shape))},
            coords={"chain": np.arange(shape[0]), "draw": np.arange(shape[1]),
                    N.INTERVAL: ["(0, 1]", "(1, inf)"]})
        post[N.HR] = np.exp(post[N.LOG_HR])
        sample_stats = xr.Dataset({"diverging": (("chain", "draw"), rng.random(shape) < 0.3),
                                   "energy": (("chain", "draw"), rng.normal(size=shape))},
                                  coords={"chain": np.arange(shape[0]),
                                          "draw": np.arange(shape[1])})
        constant = xr.Dataset({name: (f"{name}_dim", current[name]) for name in
                               ("observed_events", "exposure", "cut_points", "arm_code")})
        idata = xr.DataTree.from_dict({"posterior": post, "sample_stats": sample_stats,
                                       "constant_data": constant})
        self.returned.append(idata)
        return idata, 0.0


def stage2_priors(spec, data):
    return {k: v for k, v in spec.resolved_priors(data).items() if k != N.PSI}


def stand_in_for(spec, data, **kwargs):
    return StandInCompiled(structure_hash(spec.pem(), stage2_priors(spec, data)), **kwargs)


def assert_values_equal(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for k in expected:
        np.testing.assert_array_equal(got[k], expected[k], err_msg=k)


def pooled(parts: list[np.ndarray]) -> np.ndarray:
    """Draw j of fit i at j * M + i, per chain, written out."""
    m, (chains, draws) = len(parts), parts[0].shape[:2]
    out = np.empty((chains, draws * m, *parts[0].shape[2:]), dtype=parts[0].dtype)
    for i, part in enumerate(parts):
        for j in range(draws):
            out[:, j * m + i] = part[:, j]
    return out


# ------------------------------------------------------------------ RPSFT with a stand-in sampler
@pytest.fixture(scope="module")
def rpsft_run():
    data, spec = rpsft_trial(), rpsft_spec()
    compiled = stand_in_for(spec, data)
    provenance = {"from": "test"}
    result = R.fit_rpsft(spec, data, SMALL, compiled=compiled, log_likelihood=False,
                         provenance=provenance)
    psis = spec.stage2_psi(spec.psi_grid(data))
    return data, spec, compiled, result, psis, provenance


def test_each_stage2_fit_gets_its_psi_data_and_seed(rpsft_run):
    data, spec, compiled, _, psis, _ = rpsft_run
    assert psis.size == 3 and len(np.unique(psis)) == 3
    pem, priors = spec.pem(), stage2_priors(spec, data)
    opts = spec.counterfactual_options(data)
    assert len(compiled.data) == len(compiled.configs) == 3
    for i, psi in enumerate(psis):
        expected = pem.data_values(counterfactual_data(data, float(psi), **opts), priors)
        assert_values_equal(compiled.data[i], expected)
    seeds = np.random.SeedSequence(SMALL.seed).generate_state(3)
    assert [c.seed for c in compiled.configs] == [int(s) for s in seeds]
    for config, seed in zip(compiled.configs, seeds):
        assert config == dataclasses.replace(SMALL, seed=int(seed), progress=False)
    assert compiled.prepared == [SMALL]


def test_stage2_priors_are_resolved_on_the_itt_data(rpsft_run):
    data, spec, compiled, result, _, _ = rpsft_run
    itt = spec.pem().data_values(data, stage2_priors(spec, data))
    for k in itt:
        if "_prior_" in k:
            for values in compiled.data:
                np.testing.assert_array_equal(values[k], itt[k], err_msg=k)
    assert result.priors == spec.resolved_priors(data) and N.PSI in result.priors


def test_pooled_posterior_interleaves_the_fits(rpsft_run):
    data, spec, compiled, result, psis, _ = rpsft_run
    post = result.idata["posterior"].to_dataset()
    parts = [idata["posterior"].to_dataset() for idata in compiled.returned]
    assert sorted(post.data_vars) == sorted([N.LOG_HAZARD_BASE, N.LOG_HR_TWO_STAGE, N.HR_TWO_STAGE,
                                             N.PSI, N.LOG_HR, N.HR, N.ACCELERATION])
    assert post[N.LOG_HAZARD_BASE].dims == ("chain", "draw", N.INTERVAL)
    assert post["draw"].values.tolist() == list(range(15))
    assert post["chain"].values.tolist() == [0, 1]
    np.testing.assert_array_equal(post[N.LOG_HAZARD_BASE].values,
                                  pooled([p[N.LOG_HAZARD_BASE].values for p in parts]))
    np.testing.assert_array_equal(post[N.LOG_HR_TWO_STAGE].values,
                                  pooled([p[N.LOG_HR].values for p in parts]))
    np.testing.assert_array_equal(post[N.HR_TWO_STAGE].values,
                                  pooled([p[N.HR].values for p in parts]))
    psi = pooled([np.full((2, 5), p) for p in psis])
    np.testing.assert_array_equal(post[N.PSI].values, psi)
    np.testing.assert_allclose(post[N.ACCELERATION].values, np.exp(psi), rtol=1e-15)
    stats_ = result.idata["sample_stats"].to_dataset()
    assert list(stats_.data_vars) == ["diverging"]
    np.testing.assert_array_equal(stats_["diverging"].values,
                                  pooled([i["sample_stats"]["diverging"].values
                                          for i in compiled.returned]))


def test_adjusted_log_hr_is_the_seeded_paired_bootstrap(rpsft_run):
    data, spec, _, result, psis, _ = rpsft_run
    boot = spec.adjusted_log_hr(data, n_boot=10, seed=SMALL.seed, psis=psis)  # 2 x 5 per psi
    post = result.idata["posterior"].to_dataset()
    expected = pooled([row.reshape(2, 5) for row in boot])
    np.testing.assert_array_equal(post[N.LOG_HR].values, expected)
    np.testing.assert_allclose(post[N.HR].values, np.exp(expected), rtol=1e-15)
    for name in (N.PSI, N.ACCELERATION):
        assert post[name].attrs[N.NOT_MCMC] == "stage-1 grid posterior quantiles, one per stage-2 fit"
    for name in (N.LOG_HR, N.HR):
        assert post[name].attrs[N.NOT_MCMC] == "paired counterfactual log HR, Bayesian bootstrap"
    for name in (N.LOG_HAZARD_BASE, N.LOG_HR_TWO_STAGE, N.HR_TWO_STAGE):
        assert N.NOT_MCMC not in post[name].attrs


def test_stage2_record_and_constant_data(rpsft_run):
    data, spec, compiled, result, psis, _ = rpsft_run
    info = result.idata[N.RPSFT_STAGE2].to_dataset()
    parts = [idata["posterior"].to_dataset() for idata in compiled.returned]
    np.testing.assert_array_equal(info["psi_value"].values, psis)
    assert info["psi_draw"].values.tolist() == [0, 1, 2]
    assert info.attrs["seed"] == SMALL.seed
    np.testing.assert_array_equal(info["observed_events"].values,
                                  np.stack([d["observed_events"] for d in compiled.data]))
    assert info["observed_events"].dims == ("psi_draw", N.CELL)
    rhat = [max(float(az.rhat(p[[N.LOG_HAZARD_BASE]])[N.LOG_HAZARD_BASE].max()),
                float(az.rhat(p[[N.LOG_HR]])[N.LOG_HR])) for p in parts]
    ess = [min(float(az.ess(p[[N.LOG_HAZARD_BASE]], method="bulk")[N.LOG_HAZARD_BASE].min()),
               float(az.ess(p[[N.LOG_HR]], method="bulk")[N.LOG_HR])) for p in parts]
    np.testing.assert_allclose(info["r_hat_max"].values, rhat, rtol=1e-12)
    np.testing.assert_allclose(info["ess_bulk_min"].values, ess, rtol=1e-12)
    assert len(set(np.round(rhat, 12))) == 3  # the three fits' diagnostics differ
    divergences = [int(i["sample_stats"]["diverging"].values.sum()) for i in compiled.returned]
    assert info["divergences"].values.tolist() == divergences and len(set(divergences)) > 1
    constant = result.idata["constant_data"].to_dataset()
    assert sorted(constant.data_vars) == ["arm_code", "cut_points"]
    np.testing.assert_array_equal(constant["cut_points"].values, compiled.data[-1]["cut_points"])
    grid = result.idata[N.PSI_GRID].to_dataset()
    assert grid.identical(spec.psi_grid(data))
    assert sorted(result.idata.children) == sorted(
        ["posterior", "sample_stats", "constant_data", N.PSI_GRID, N.RPSFT_STAGE2])


def test_runs_timings_and_result_fields(rpsft_run):
    data, spec, compiled, result, psis, provenance = rpsft_run
    stage2 = dataclasses.replace(SMALL, progress=False)
    assert result.runs == (
        StageRun("psi", "grid", fits=1, draws=3, detail="quantiles of the grid posterior on 201 points"),
        StageRun.sampled("stage 2", stage2, compiled.returned[-1], fits=3),
        StageRun("adjusted HR", "bootstrap", fits=3, draws=10, seed=SMALL.seed,
                 detail="paired log HR, 10 Bayesian-bootstrap weight sets per psi"))
    assert result.runs[1].fits == 3 and result.runs[1].chains == 2 and result.runs[1].draws == 5
    assert result.timings["compile_seconds"] == 0.25  # prepare() of a given model
    for key in ("stage1_seconds", "sampling_seconds"):
        assert 0.0 <= result.timings[key] < 600.0
    assert result.timings["stage1_seconds"] > 0.0
    assert result.spec is spec and result.data is data and result.sampler is SMALL
    assert result.provenance == provenance


def test_progress_bar_follows_the_config(monkeypatch):
    data, spec = rpsft_trial(), rpsft_spec()
    shown = []

    def track(seq, description, disable):
        shown.append((description, disable))
        return seq

    monkeypatch.setattr(R, "track", track)
    compiled = stand_in_for(spec, data)
    R.fit_rpsft(spec, data, dataclasses.replace(SMALL, progress=True), compiled=compiled,
                log_likelihood=False, provenance={})
    R.fit_rpsft(spec, data, SMALL, compiled=compiled, log_likelihood=False, provenance={})
    assert shown == [("RPSFT stage 2", False), ("RPSFT stage 2", True)]
    assert all(c.progress is False for c in compiled.configs)  # the fits themselves: no bars


def test_without_a_compiled_model_stage2_is_compiled(monkeypatch):
    data, spec = rpsft_trial(), rpsft_spec()
    made = []

    def compile_stage2(s, d, config):
        made.append((s, d, config))
        return stand_in_for(spec, data, compile_seconds=1.5)

    monkeypatch.setattr(R, "compile_stage2", compile_stage2)
    result = R.fit_rpsft(spec, data, SMALL, compiled=None, log_likelihood=False, provenance={})
    assert made == [(spec, data, SMALL)]
    assert result.timings["compile_seconds"] == 1.5


def test_refusals():
    data, spec = rpsft_trial(), rpsft_spec()
    with pytest.raises(ValueError, match=r"^RPSFT fits have no per-patient likelihood"):
        R.fit_rpsft(spec, data, SMALL, compiled=stand_in_for(spec, data), log_likelihood=True,
                    provenance={})
    for structure in ("", "~ sorts after every hash"):  # any other structure, not an order
        other = StandInCompiled(structure=structure)
        with pytest.raises(ValueError, match=r"^the compiled model is not this RPSFT spec's"):
            R.fit_rpsft(spec, data, SMALL, compiled=other, log_likelihood=False, provenance={})
        assert not other.configs


class Clock:
    """Stand-in for the ``time`` module: ``perf_counter`` returns the given readings."""

    def __init__(self, *readings: float) -> None:
        self.readings = list(readings)

    def perf_counter(self) -> float:
        return self.readings.pop(0)


def test_stage_timings_are_differences_of_the_clock(monkeypatch):
    data, spec = rpsft_trial(), rpsft_spec()
    # start, stage 1 done, sampling start and end; each reading above twice the one it is
    # taken from, so that a remainder or a quotient differs from the difference
    clock = Clock(10.0, 35.5, 40.0, 127.25)
    monkeypatch.setattr(R, "time", clock)
    result = R.fit_rpsft(spec, data, SMALL, compiled=stand_in_for(spec, data),
                         log_likelihood=False, provenance={})
    assert result.timings == {"compile_seconds": 0.25, "stage1_seconds": 25.5,
                              "sampling_seconds": 87.25}
    assert not clock.readings


def test_fit_rpsft_options_are_keyword_only():
    data, spec = rpsft_trial(), rpsft_spec()
    compiled = stand_in_for(spec, data)
    with pytest.raises(TypeError):
        R.fit_rpsft(spec, data, SMALL, compiled, False, {})
    assert not compiled.configs


def test_registration():
    fitting = model_fitting(RPSFT(cuts=CUTS))  # loading the module registered its copy
    assert fitting.fit is R.fit_rpsft and fitting.compile is R.compile_stage2
    assert dict(fitting.defaults) == {"draws": 250, "tune": 300} == R.RPSFT_DEFAULTS
    assert fitting.methods == ("mcmc",)


# ------------------------------------------------------------------ RPSFT, real fits
def test_compile_stage2_builds_the_pem_at_psi_0():
    data, spec = rpsft_trial(), rpsft_spec(recensor=False)
    pem, priors = spec.pem(), stage2_priors(spec, data)
    compiled = R.compile_stage2(spec, data, CONFIG)
    assert compiled.spec_hash == pem.spec_hash()
    assert compiled.structure == structure_hash(pem, priors)
    at_0 = counterfactual_data(data, 0.0, **spec.counterfactual_options(data))
    assert_values_equal(compiled.data_values(), pem.data_values(at_0, priors))


def test_real_fit_pools_the_single_fits_draw_for_draw():
    data, spec = rpsft_trial(), rpsft_spec()
    result = R.fit_rpsft(spec, data, CONFIG, compiled=None, log_likelihood=False, provenance={})
    psis = spec.stage2_psi(spec.psi_grid(data))
    seeds = np.random.SeedSequence(CONFIG.seed).generate_state(3)
    pem, priors = spec.pem(), stage2_priors(spec, data)
    post = result.idata["posterior"].to_dataset()
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 90
    one = R.compile_stage2(spec, data, CONFIG)
    for i in range(3):
        one.set_data(pem.data_values(
            counterfactual_data(data, float(psis[i]), **spec.counterfactual_options(data)), priors))
        idata, _ = one.sample(dataclasses.replace(CONFIG, seed=int(seeds[i])))
        single = idata["posterior"].to_dataset()
        np.testing.assert_array_equal(post[N.LOG_HAZARD_BASE].values[:, i::3],
                                      single[N.LOG_HAZARD_BASE].values)
        np.testing.assert_array_equal(post[N.LOG_HR_TWO_STAGE].values[:, i::3],
                                      single[N.LOG_HR].values)
        np.testing.assert_array_equal(result.idata[N.RPSFT_STAGE2]["observed_events"].values[i],
                                      idata["constant_data"]["observed_events"].values)
    assert np.isfinite(result.idata[N.RPSFT_STAGE2]["r_hat_max"].values).all()


# ------------------------------------------------------------------ Bayesian TSE
@pytest.fixture(scope="module")
def tse():
    sim = tse_trial()
    stage1 = tse_simple(sim.data, sim.secondary_baseline, sim.baseline_covariates)
    return sim, stage1


def tse_stand_in(data, cuts=CUTS):
    pem = PiecewiseExponential(cuts=cuts)
    return StandInCompiled(structure_hash(pem, pem.resolved_priors(data)))


def by_hand_cells(time, event, arm, cut):
    """Events and exposure per (arm, interval) of a one-cut PEM, interval (0, cut] first."""
    out = {}
    for a in (0, 1):
        t, e = time[arm == a], event[arm == a]
        out[(a, 0)] = (float(((t <= cut) & (e == 1)).sum()), float(np.minimum(t, cut).sum()))
        out[(a, 1)] = (float(((t > cut) & (e == 1)).sum()), float(np.maximum(t - cut, 0).sum()))
    return out


def assert_cells(values, time, event, arm):
    expected = by_hand_cells(time, event, arm, CUTS[0])
    for c, (k, a) in enumerate(zip(values["cell_interval"], values["cell_treat"])):
        events, exposure = expected[(int(a), int(k))]
        assert values["observed_events"][c] == events
        assert values["exposure"][c] == pytest.approx(exposure, rel=1e-12)


def test_tse_stage1_is_the_normal_likelihood_times_the_prior(tse, monkeypatch):
    sim, stage1 = tse
    psi_hat, se = stage1.psi, stage1.details["psi_se"]
    prior = Normal(-1.0, se)  # informative: the posterior lies between the prior and psi_hat
    grids = []
    real_quantiles = R.grid_quantiles

    def grid_quantiles(grid, probs):
        grids.append((grid, probs))
        return real_quantiles(grid, probs)

    monkeypatch.setattr(R, "grid_quantiles", grid_quantiles)
    res = R.fit_tse_bayes(sim.data, sim.secondary_baseline, sim.baseline_covariates, cuts=CUTS,
                          psi_prior=prior, n_psi_draws=4, sampler=SMALL,
                          compiled=tse_stand_in(sim.data), grid_size=1001)
    precision = 1 / se**2 + 1 / se**2
    mean, sd = (psi_hat / se**2 - 1.0 / se**2) / precision, precision**-0.5
    assert res.psi_mean == pytest.approx(mean, abs=1e-9 * sd)
    assert res.psi_sd == pytest.approx(sd, rel=1e-4)
    probs = (np.arange(4) + 0.5) / 4
    np.testing.assert_allclose(res.psi, stats.norm.ppf(probs, mean, sd), atol=2e-3 * sd)
    (grid, got_probs), = grids
    np.testing.assert_array_equal(got_probs, probs)
    np.testing.assert_allclose(grid[N.PSI].values, np.linspace(psi_hat - 8 * se, psi_hat + 8 * se, 1001),
                               rtol=0, atol=1e-12)
    density = stats.norm.pdf(grid[N.PSI].values, mean, sd)
    np.testing.assert_allclose(grid["density"].values, density, rtol=1e-6, atol=1e-12)
    assert res.stage1.psi == psi_hat and res.stage1.details["psi_se"] == se


def test_tse_default_prior_sampler_and_settings(tse, monkeypatch):
    sim, stage1 = tse
    compiled = tse_stand_in(sim.data)
    sizes = []
    real_quantiles = R.grid_quantiles
    monkeypatch.setattr(R, "grid_quantiles",
                        lambda grid, probs: sizes.append(grid.sizes[N.PSI]) or real_quantiles(grid, probs))
    res = R.fit_tse_bayes(sim.data, sim.secondary_baseline, sim.baseline_covariates, cuts=[1],
                          n_psi_draws=2, compiled=compiled)
    assert sizes == [2001]
    psi_hat, se = stage1.psi, stage1.details["psi_se"]
    precision = 1 / se**2 + 1 / 10.0**2
    assert res.psi_mean == pytest.approx((psi_hat / se**2) / precision, abs=1e-9)
    assert res.psi_sd == pytest.approx(precision**-0.5, rel=1e-4)
    default = SamplerConfig(draws=250, tune=300, chains=4, seed=0, progress=False)
    seeds = np.random.SeedSequence(0).generate_state(2)
    assert compiled.configs == [dataclasses.replace(default, seed=int(s)) for s in seeds]
    assert res.settings == {"cuts": (1.0,), "n_psi_draws": 2, "aft_dist": "weibull",
                            "recensor": True, "autoswitch": True,
                            "psi_prior": repr(Normal(0.0, 10.0)), "draws": 250, "tune": 300,
                            "chains": 4, "seed": 0}


def test_tse_grid_posterior_is_stable_far_from_psi_hat(tse):
    """A prior 60 standard errors from stage 1's estimate: the log density is about -1400 on
    the whole grid, so it must be shifted by its maximum before exp."""
    sim, stage1 = tse
    psi_hat, se = stage1.psi, stage1.details["psi_se"]
    res = R.fit_tse_bayes(sim.data, sim.secondary_baseline, sim.baseline_covariates, cuts=CUTS,
                          psi_prior=Normal(psi_hat + 60 * se, se), n_psi_draws=2, sampler=SMALL,
                          compiled=tse_stand_in(sim.data), grid_size=501)
    # the posterior is pushed against the grid's upper end (psi_hat + 8 se)
    assert np.isfinite(res.psi).all() and np.isfinite(res.psi_mean) and np.isfinite(res.psi_sd)
    assert psi_hat + 7.9 * se < res.psi_mean < psi_hat + 8 * se


def test_tse_carries_50_psi_draws_by_default(tse):
    sim, _ = tse
    compiled = tse_stand_in(sim.data)
    res = R.fit_tse_bayes(sim.data, sim.secondary_baseline, sim.baseline_covariates, cuts=CUTS,
                          sampler=dataclasses.replace(SMALL, draws=4, chains=1),
                          compiled=compiled)
    assert len(compiled.configs) == 50 and res.psi.shape == (50,)
    assert res.settings["n_psi_draws"] == 50


def test_tse_each_fit_gets_its_psi_data_and_seed(tse):
    sim, _ = tse
    data = sim.data
    compiled = tse_stand_in(data)
    config = dataclasses.replace(SMALL, progress=True)
    res = R.fit_tse_bayes(data, sim.secondary_baseline, sim.baseline_covariates, cuts=CUTS,
                          n_psi_draws=3, sampler=config, compiled=compiled, aft_dist="loglogistic",
                          recensor=False, autoswitch=False)
    stage1 = tse_simple(data, sim.secondary_baseline, sim.baseline_covariates,
                        aft_dist="loglogistic", recensor=False, autoswitch=False)
    assert res.stage1.psi == stage1.psi
    seeds = np.random.SeedSequence(SMALL.seed).generate_state(3)
    assert compiled.configs == [dataclasses.replace(SMALL, seed=int(s)) for s in seeds]
    pem = PiecewiseExponential(cuts=CUTS)
    itt = pem.data_values(data, pem.resolved_priors(data))
    for psi, values in zip(res.psi, compiled.data):
        time_cf, event_cf = tse_counterfactual(data, sim.secondary_baseline, float(psi),
                                               recensor=False, autoswitch=False)
        assert_cells(values, time_cf, event_cf, data.arm)
        for k in itt:
            if "_prior_" in k:  # priors resolved once, on the ITT data
                np.testing.assert_array_equal(values[k], itt[k], err_msg=k)
    assert res.settings["aft_dist"] == "loglogistic" and res.settings["recensor"] is False
    assert res.settings["autoswitch"] is False and res.settings["seed"] == SMALL.seed
    assert res.compiled is compiled


def test_tse_pools_the_fits_along_psi_draw(tse):
    sim, _ = tse
    compiled = tse_stand_in(sim.data)
    res = R.fit_tse_bayes(sim.data, sim.secondary_baseline, sim.baseline_covariates, cuts=CUTS,
                          n_psi_draws=3, sampler=SMALL, compiled=compiled)
    parts = [i["posterior"].to_dataset() for i in compiled.returned]
    post = res.posterior
    assert sorted(post.data_vars) == [N.LOG_HAZARD_BASE, N.LOG_HR, N.PSI]
    assert post[N.LOG_HR].dims == ("psi_draw", "chain", "draw")
    assert post["psi_draw"].values.tolist() == [0, 1, 2]
    for name in (N.LOG_HR, N.LOG_HAZARD_BASE):
        np.testing.assert_array_equal(post[name].values, np.stack([p[name].values for p in parts]))
    np.testing.assert_array_equal(post[N.PSI].values, res.psi)
    assert post[N.PSI].dims == ("psi_draw",)
    rhat = [max(float(az.rhat(p[[N.LOG_HR]])[N.LOG_HR]),
                float(az.rhat(p[[N.LOG_HAZARD_BASE]])[N.LOG_HAZARD_BASE].max())) for p in parts]
    np.testing.assert_allclose(res.r_hat_max, rhat, rtol=1e-12)
    assert len(set(np.round(rhat, 12))) == 3


def test_tse_compiles_stage2_on_the_first_psi(tse, monkeypatch):
    sim, _ = tse
    made = []

    def compile_model(model, config, *, spec_hash, structure):
        made.append((model, config, spec_hash, structure))
        return tse_stand_in(sim.data)

    monkeypatch.setattr(R, "compile_model", compile_model)
    res = R.fit_tse_bayes(sim.data, sim.secondary_baseline, sim.baseline_covariates, cuts=CUTS,
                          n_psi_draws=2, sampler=SMALL)
    (model, config, spec_hash, structure), = made
    pem = PiecewiseExponential(cuts=CUTS)
    assert config is SMALL and spec_hash == pem.spec_hash()
    assert structure == structure_hash(pem, pem.resolved_priors(sim.data))
    values = {v.name: np.asarray(v.get_value()) for v in model.data_vars}
    time_cf, event_cf = tse_counterfactual(sim.data, sim.secondary_baseline, float(res.psi[0]))
    assert_cells(values, time_cf, event_cf, sim.data.arm)
    assert len(res.compiled.configs) == 2


def test_tse_refuses_a_compiled_model_of_other_cuts(tse):
    sim, _ = tse
    others = [tse_stand_in(sim.data, cuts=(1.0, 2.0)), StandInCompiled(structure=""),
              StandInCompiled(structure="~ sorts after every hash")]
    for other in others:
        with pytest.raises(ValueError, match=r"^the compiled model is not a PEM with these cuts"):
            R.fit_tse_bayes(sim.data, sim.secondary_baseline, sim.baseline_covariates,
                            cuts=CUTS, n_psi_draws=2, sampler=SMALL, compiled=other)
        assert not other.configs


def test_hr_interval_and_result_record():
    draws = np.log(np.arange(1, 401, dtype=float)).reshape(2, 2, 100)  # psi_draw, chain, draw
    posterior = xr.Dataset({N.LOG_HR: (("psi_draw", "chain", "draw"), draws)})
    res = R.BayesianTSE(psi=np.zeros(2), psi_mean=0.0, psi_sd=1.0, posterior=posterior,
                        stage1=None, r_hat_max=np.ones(2), settings={}, compiled=None)
    hr = np.arange(1, 401, dtype=float)
    lo, med, hi = np.quantile(hr, [0.025, 0.5, 0.975])
    assert res.hr_interval() == pytest.approx({"hr": med, "lower": lo, "upper": hi}, rel=1e-12)
    lo, hi = np.quantile(hr, [0.1, 0.9])
    assert res.hr_interval(0.8) == pytest.approx({"hr": med, "lower": lo, "upper": hi}, rel=1e-12)
    lo, hi = np.quantile(hr, [0.3, 0.7])  # a 40% interval (1 - prob and 1 % prob differ)
    assert res.hr_interval(0.4) == pytest.approx({"hr": med, "lower": lo, "upper": hi}, rel=1e-12)
    with pytest.raises(FrozenInstanceError):
        res.psi_mean = 1.0
    hash(res)  # hashable by identity (eq=False): a frozen eq=True record of arrays is not
    assert res != R.BayesianTSE(**{f.name: getattr(res, f.name) for f in dataclasses.fields(res)})


def test_real_tse_fit(tse):
    sim, _ = tse
    res = R.fit_tse_bayes(sim.data, sim.secondary_baseline, sim.baseline_covariates, cuts=CUTS,
                          n_psi_draws=2, sampler=CONFIG)
    assert dict(res.posterior.sizes) == {"psi_draw": 2, "chain": 2, "draw": 30, N.INTERVAL: 2}
    assert np.isfinite(res.r_hat_max).all() and res.r_hat_max.shape == (2,)
    assert res.hr_interval()["lower"] < res.hr_interval()["hr"] < res.hr_interval()["upper"]
