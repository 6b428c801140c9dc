"""The fitting layer: config validation, reproducibility per sampler, compile-once reuse,
save/load, convergence verdicts, approximate fits and the prior predictive."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import xarray as xr

from pexsurv import TrialData
from pexsurv.diagnostics import ConvergenceWarning, check_convergence
from pexsurv.fitting import FitResult, IncompatibleResultError, SamplerConfig, compile_spec, fit
from pexsurv.models import PiecewiseExponential, median_survival
from pexsurv.priors import Normal, prior_predictive
from simtools import simulate_pem

CUTS = (1.0, 3.0)
BASE = np.array([0.3, 0.2, 0.1])


def trial(seed: int, n: int = 300) -> TrialData:
    df = simulate_pem(seed, n, BASE, np.array(CUTS), -0.5)
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id",
                                    reference=0)


@pytest.fixture(scope="module")
def spec() -> PiecewiseExponential:
    return PiecewiseExponential(cuts=CUTS, priors={"log_hr": Normal(0, 2)})


@pytest.fixture(scope="module")
def compiled(spec):
    return compile_spec(spec, trial(1))


@pytest.fixture(scope="module")
def result(spec, compiled) -> FitResult:
    return fit(spec, trial(1), draws=500, tune=500, seed=11, progress=False, compiled=compiled,
               log_likelihood=True)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(sampler="stan"), "sampler must be one of"),
    (dict(draws=0), "draws must be a positive integer"),
    (dict(chains=1.5), "chains must be a positive integer"),
    (dict(tune=-1), "tune must be a non-negative"),
    (dict(target_accept=1.0), r"target_accept must be in \(0, 1\)"),
    (dict(seed=-3), "seed must be"),
    (dict(method="laplace"), "method must be one of"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SamplerConfig(**kwargs)


def test_numpyro_missing_is_a_clear_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "numpyro" else real(name, *a))
    with pytest.raises(ValueError, match="needs the 'numpyro' package"):
        SamplerConfig(sampler="numpyro")


def test_result_carries_everything(result, spec):
    groups = set(result.idata.children)
    assert {"posterior", "sample_stats", "observed_data", "constant_data", "log_likelihood"} <= groups
    assert result.idata["log_likelihood"]["survival"].dims == ("chain", "draw", "subject")
    assert result.spec is spec and set(result.priors) == {"log_hazard_base", "log_hr"}
    assert result.priors["log_hr"] == Normal(0, 2)  # user prior kept
    assert result.priors["log_hazard_base"].mu == pytest.approx(
        np.log(result.data.event.sum() / result.data.time.sum()))  # data-driven centre
    assert result.provenance["spec_hash"] == spec.spec_hash()
    assert result.provenance["data_fingerprint"] == trial(1).fingerprint()
    assert result.timings["compile_seconds"] == 0.0  # compiled once, outside
    assert "converged" in repr(result) and "max R-hat" in repr(result)
    s = result.summary()
    assert {"hr", "log_hr"} <= set(s.index) and "eti95_lb" in s.columns


def test_same_seed_same_draws_nutpie_and_reuse_equals_fresh(spec, compiled, result):
    again = fit(spec, trial(1), draws=500, tune=500, seed=11, progress=False, compiled=compiled)
    fresh = fit(spec, trial(1), draws=500, tune=500, seed=11, progress=False)
    for other in (again, fresh):
        np.testing.assert_array_equal(other.posterior["log_hr"].values,
                                      result.posterior["log_hr"].values)
    other_seed = fit(spec, trial(1), draws=500, tune=500, seed=12, progress=False, compiled=compiled)
    assert not np.array_equal(other_seed.posterior["log_hr"].values, result.posterior["log_hr"].values)


@pytest.mark.parametrize("sampler", ["pymc", "numpyro"])
def test_same_seed_same_draws_other_samplers(spec, sampler):
    if sampler == "numpyro":
        pytest.importorskip("numpyro", reason="optional extra; the dev install includes it")
    a, b = (fit(spec, trial(2), sampler=sampler, draws=500, tune=500, chains=4, seed=5,
                progress=False) for _ in range(2))
    np.testing.assert_array_equal(a.posterior["log_hr"].values, b.posterior["log_hr"].values)
    assert a.provenance["versions"]["pymc"] and a.sampler.sampler == sampler


def test_reused_model_sees_new_data(spec, compiled):
    new = trial(3)
    r = fit(spec, new, draws=500, tune=500, seed=1, progress=False, compiled=compiled)
    ref = fit(spec, new, draws=500, tune=500, seed=1, progress=False)
    np.testing.assert_array_equal(r.posterior["log_hr"].values, ref.posterior["log_hr"].values)
    np.testing.assert_array_equal(r.idata["constant_data"]["observed_events"],
                                  ref.idata["constant_data"]["observed_events"])


def test_reuse_refuses_other_spec_or_shape(compiled):
    other = PiecewiseExponential(cuts=(2.0,))
    with pytest.raises(ValueError, match="built from another spec"):
        fit(other, trial(1), draws=100, tune=100, progress=False, compiled=compiled)
    with pytest.raises(ValueError, match="same shape"):
        compiled.set_data({"exposure": np.ones(3)})
    with pytest.raises(KeyError, match="no pm.Data named"):
        compiled.set_data({"nope": np.ones(3)})


def test_save_load_round_trip(result, tmp_path):
    path = result.save(tmp_path / "fit.nc")
    back = FitResult.load(path)
    xr.testing.assert_identical(back.posterior, result.posterior)
    assert back.spec == result.spec and back.priors == dict(result.priors)
    assert back.sampler == result.sampler and back.timings == dict(result.timings)
    assert back.data.fingerprint() == result.data.fingerprint()
    xr.testing.assert_allclose(median_survival(back), median_survival(result))
    assert repr(back) == repr(result)


def test_load_refuses_incompatible(result, tmp_path):
    path = result.save(tmp_path / "fit.nc")
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    tree.attrs["pexsurv_format"] = 999
    tree.to_netcdf(tmp_path / "old.nc", engine="h5netcdf")
    with pytest.raises(IncompatibleResultError, match="format 999"):
        FitResult.load(tmp_path / "old.nc")
    tree.attrs["pexsurv_format"] = 1
    spec = json.loads(tree.attrs["spec"])
    spec["cuts"] = [1.0, 2.0]
    tree.attrs["spec"] = json.dumps(spec)
    tree.to_netcdf(tmp_path / "changed.nc", engine="h5netcdf")
    with pytest.raises(IncompatibleResultError, match="model definition changed"):
        FitResult.load(tmp_path / "changed.nc")


def test_good_fit_passes_convergence(result):
    check = result.convergence
    assert check.passed, check.text
    assert check.divergences == 0 and check.table["r_hat"].max() <= 1.01
    assert len(check.ebfmi) == 4


def test_starved_fit_fails_and_warns(spec, compiled):
    with pytest.warns(ConvergenceWarning, match="NOT CONVERGED"):
        bad = fit(spec, trial(1), draws=30, tune=5, seed=2, progress=False, compiled=compiled)
    check = bad.convergence
    assert not check.passed and any("ESS" in p for p in check.problems)
    assert any("increase draws" in a for a in check.advice)
    assert "NOT CONVERGED" in repr(bad)


def test_multimodal_chains_fail_rhat():
    rng = np.random.default_rng(0)
    # Two chains stuck in one mode, two in another: each chain mixes well on its own.
    x = rng.normal(0, 0.1, (4, 500)) + np.array([[-1.0], [-1.0], [1.0], [1.0]])
    tree = xr.DataTree.from_dict({"posterior": xr.Dataset({"log_hr": (("chain", "draw"), x)})})
    check = check_convergence(tree)
    assert not check.passed and check.table.loc["log_hr", "r_hat"] > 1.5
    assert any("multimodal" in a for a in check.advice)
    with pytest.warns(ConvergenceWarning):
        check_convergence(tree, warn=True)


def test_advi_is_labelled_approximate(spec):
    r = fit(spec, trial(1), method="advi", draws=100, chains=1, seed=3, progress=False, n=2000)
    assert r.approximate and "APPROXIMATE" in repr(r)
    assert not r.convergence.passed  # never reported as a converged MCMC fit
    assert r.posterior["log_hr"].size == 100


def test_prior_predictive_summaries(spec):
    pp = prior_predictive(spec, trial(1), draws=400, seed=4)
    s = pp.summary()
    assert list(s.index) == ["hr", "median[0]", "median[1]"]
    # Normal(0, 2) on log HR: prior median HR 1, 95% interval exp(+-1.96 * 2).
    assert s.loc["hr", "median"] == pytest.approx(1.0, abs=0.25)
    assert s.loc["hr", "upper"] == pytest.approx(np.exp(3.92), rel=0.5)
    again = prior_predictive(spec, trial(1), draws=400, seed=4)
    xr.testing.assert_identical(again.hr(), pp.hr())
