"""The ``fit`` dispatcher, ``default_config`` and ``compile_spec`` (fitting/fit.py): which
configuration, seed, compiled model and provenance reach a model type's fitting, when a fit
warns, and which settings are refused (issue 18; record in benchmarks/mutation.md, section
``fitting/fit.py``).

The module is loaded from its file (``tests/isolated.py``), so a mutation run tests the
mutated source even with ``pexsurv.fitting`` preloaded in its fork server; every test calls
the loaded copy. The model type's fitting is a stand-in (``model_fitting`` replaced in the
loaded module) that records what it was given, except in the tests of the package's own
registrations and the replay of a real fit.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fitting_tiny import CONFIG, CUTS, compiled_pem, rpsft_trial
from isolated import load

from pexsurv._checks import SEED_LIMIT
from pexsurv.fitting import ConvergenceWarning, ModelFitting, SamplerConfig
from pexsurv.fitting.result import FORMAT_VERSION
from pexsurv.models import RPSFT, PiecewiseExponential
from pexsurv.provenance import versions

F = load("fitting/fit.py")


@dataclasses.dataclass(frozen=True)
class StandIn:
    """A model type of its own."""

    def spec_hash(self) -> str:
        return "stand-in-hash"


class Recorder:
    """The stand-in model type's fitting: records each call, returns a result whose
    convergence verdict and approximation flag the test chooses."""

    def __init__(self, *, passed: bool = True, approximate: bool = False,
                 methods: tuple[str, ...] = ("mcmc", "advi"),
                 defaults: dict | None = None) -> None:
        self.fits, self.compiles = [], []
        self.passed, self.approximate = passed, approximate
        self.fitting = ModelFitting(fit=self.fit, compile=self.compile,
                                    defaults=defaults or {"draws": 7, "tune": 9},
                                    methods=methods,
                                    why_not="the stand-in says no")

    def fit(self, spec, data, config, *, compiled, log_likelihood, provenance):
        self.fits.append(SimpleNamespace(spec=spec, data=data, config=config, compiled=compiled,
                                         log_likelihood=log_likelihood, provenance=provenance))
        return SimpleNamespace(approximate=self.approximate, config=config, convergence=SimpleNamespace(
            passed=self.passed, text="R-hat 1.2 > 1.01 (stand-in)"))

    def compile(self, spec, data, config):
        self.compiles.append(config)
        return ("compiled", spec, data, config)


@pytest.fixture
def rec(monkeypatch):
    rec = Recorder()
    monkeypatch.setattr(F, "model_fitting", lambda spec: rec.fitting)
    return rec


@pytest.fixture(scope="module")
def data():
    return rpsft_trial()


SPEC = StandIn()


def fields(config: SamplerConfig) -> dict:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


# ------------------------------------------------------------------ default_config
def test_default_config_layers_given_over_model_over_samplerconfig(rec):
    got = F.default_config(SPEC, draws=5, tune=None, seed=2)
    # draws given; tune left unset (None) takes the model's 9; the rest SamplerConfig's
    assert fields(got) == fields(SamplerConfig(draws=5, tune=9, seed=2))
    assert fields(F.default_config(SPEC)) == fields(SamplerConfig(draws=7, tune=9))
    assert F.default_config(SPEC, chains=3).chains == 3


def test_default_config_of_the_package_model_types():
    rpsft = F.default_config(RPSFT(cuts=CUTS), seed=1)
    assert (rpsft.draws, rpsft.tune, rpsft.chains, rpsft.seed) == (250, 300, 4, 1)
    assert F.default_config(PiecewiseExponential(cuts=CUTS)).draws == 1000
    assert F.default_config(PiecewiseExponential(cuts=CUTS)).target_accept == 0.8
    piecewise = PiecewiseExponential(cuts=CUTS, effect="piecewise")
    assert F.default_config(piecewise).target_accept == 0.99
    assert F.default_config(piecewise, target_accept=0.9).target_accept == 0.9
    assert F.default_config(piecewise, method="advi").target_accept is None
    with pytest.raises(ValueError, match=r"RPSFT supports method 'mcmc', not 'advi': its stage-2"):
        F.default_config(RPSFT(cuts=CUTS), method="advi")


def test_default_config_layers_spec_defaults_between_type_and_given(monkeypatch):
    calls = []

    def own(spec, method):
        calls.append((spec, method))
        return {"tune": 11, "chains": 3}
    rec = Recorder()
    rec.fitting = dataclasses.replace(rec.fitting, spec_defaults=own)
    monkeypatch.setattr(F, "model_fitting", lambda spec: rec.fitting)
    assert fields(F.default_config(SPEC, chains=2)) == fields(
        SamplerConfig(draws=7, tune=11, chains=2))
    F.default_config(SPEC, method="advi", draws=3, tune=0, chains=1)
    assert calls == [(SPEC, "mcmc"), (SPEC, "advi")]


def test_default_config_checks_the_method_default_mcmc(monkeypatch):
    only_advi = Recorder(methods=("advi",), defaults={"draws": 7})  # ADVI refuses tune
    monkeypatch.setattr(F, "model_fitting", lambda spec: only_advi.fitting)
    with pytest.raises(ValueError) as err:
        F.default_config(SPEC)  # no method given: "mcmc", which this type refuses
    assert str(err.value) == "StandIn supports method 'advi', not 'mcmc': the stand-in says no"
    assert F.default_config(SPEC, method="advi").method == "advi"
    two = Recorder(methods=("mcmc", "advi"), defaults={"draws": 7})
    monkeypatch.setattr(F, "model_fitting", lambda spec: two.fitting)
    with pytest.raises(ValueError, match=r"^StandIn supports method 'mcmc' or 'advi', not 'vi'"):
        F.default_config(SPEC, method="vi")


# ------------------------------------------------------------------ fit: the configuration
def test_fit_passes_a_samplerconfig_as_given(rec, data):
    config = SamplerConfig(draws=11, tune=3, chains=2, seed=5, progress=False, sampler="pymc")
    result = F.fit(SPEC, data, sampler=config)
    assert rec.fits[0].config is config and result.config is config
    assert rec.fits[0].spec is SPEC and rec.fits[0].data is data


@pytest.mark.parametrize("keywords", [{"draws": 10}, {"seed": 0}, {"progress": False},
                                      {"method": "mcmc"}, {"target_accept": 0.9},
                                      {"tune": 0}, {"chains": 1}])
def test_fit_refuses_a_setting_next_to_a_samplerconfig(rec, data, keywords):
    name = next(iter(keywords))
    with pytest.raises(TypeError, match=rf"^sampler settings \['{name}'\] were passed as keywords"):
        F.fit(SPEC, data, sampler=SamplerConfig(seed=1), **keywords)
    assert not rec.fits


def test_fit_refuses_sampler_options_next_to_a_samplerconfig_sorted(rec, data):
    with pytest.raises(TypeError, match=r"^sampler settings \['foo'\] were passed"):
        F.fit(SPEC, data, sampler=SamplerConfig(seed=1), foo=1)
    with pytest.raises(TypeError, match=r"^sampler settings \['chains', 'draws', 'a', 'z'\]"):
        F.fit(SPEC, data, sampler=SamplerConfig(seed=1), z=1, draws=3, a=2, chains=2)
    assert not rec.fits


def test_fit_checks_the_method_of_a_samplerconfig(monkeypatch, data):
    only_mcmc = Recorder(methods=("mcmc",))
    monkeypatch.setattr(F, "model_fitting", lambda spec: only_mcmc.fitting)
    with pytest.raises(ValueError, match=r"^StandIn supports method 'mcmc', not 'advi'"):
        F.fit(SPEC, data, sampler=SamplerConfig(method="advi", seed=1))
    assert not only_mcmc.fits


def test_fit_keywords_make_the_default_config(rec, data):
    F.fit(SPEC, data, draws=5, seed=4, progress=False, target_accept=0.9, sampler="pymc",
          foo=1, bar="x")
    assert fields(rec.fits[0].config) == fields(SamplerConfig(
        draws=5, tune=9, seed=4, progress=False, target_accept=0.9, sampler="pymc",
        options={"foo": 1, "bar": "x"}))
    F.fit(SPEC, data, seed=4, chains=3, tune=2)
    assert fields(rec.fits[1].config) == fields(SamplerConfig(draws=7, tune=2, chains=3, seed=4))
    with pytest.raises(ValueError, match=r"^StandIn supports method 'mcmc' or 'advi', not 'vi'"):
        F.fit(SPEC, data, seed=4, method="vi")


def test_fit_options_are_keyword_only(rec, data):
    with pytest.raises(TypeError):
        F.fit(SPEC, data, "pymc")
    assert not rec.fits


# ------------------------------------------------------------------ fit: seed and provenance
class FixedEntropy:
    """Stand-in for ``np.random.SeedSequence()``: known entropy."""

    entropy = 5 * SEED_LIMIT + 123


def test_fresh_seed_is_the_entropy_modulo_the_seed_limit(monkeypatch):
    monkeypatch.setattr(np.random, "SeedSequence", FixedEntropy)
    assert F._fresh_seed() == 123 and type(F._fresh_seed()) is int


def test_fresh_seeds_are_fresh_and_in_range():
    seeds = {F._fresh_seed() for _ in range(20)}
    assert len(seeds) == 20 and all(0 <= s < SEED_LIMIT for s in seeds)


def test_fit_draws_and_records_a_seed_only_when_none_is_given(rec, data, monkeypatch):
    monkeypatch.setattr(np.random, "SeedSequence", FixedEntropy)
    F.fit(SPEC, data, draws=5)
    assert rec.fits[0].config.seed == 123 and rec.fits[0].provenance["seed_drawn"] is True
    F.fit(SPEC, data, draws=5, seed=0)  # seed 0 is a seed, not "none given"
    assert rec.fits[1].config.seed == 0 and rec.fits[1].provenance["seed_drawn"] is False
    config = SamplerConfig(draws=5)  # a SamplerConfig without a seed gets one too
    F.fit(SPEC, data, sampler=config)
    assert fields(rec.fits[2].config) == fields(dataclasses.replace(config, seed=123))
    assert rec.fits[2].provenance["seed_drawn"] is True


def test_fit_provenance(rec, data):
    F.fit(SPEC, data, seed=1)
    assert rec.fits[0].provenance == {
        "versions": versions(), "spec_hash": "stand-in-hash",
        "data_fingerprint": data.fingerprint(), "format": FORMAT_VERSION,
        "model_type": "StandIn", "seed_drawn": False}


def test_fit_passes_compiled_and_log_likelihood(rec, data):
    marker = object()
    F.fit(SPEC, data, seed=1, compiled=marker, log_likelihood=True)
    F.fit(SPEC, data, seed=1)
    assert rec.fits[0].compiled is marker and rec.fits[0].log_likelihood is True
    assert rec.fits[1].compiled is None and rec.fits[1].log_likelihood is False


# ------------------------------------------------------------------ fit: the warning
def test_an_unconverged_mcmc_fit_warns_at_the_callers_line(monkeypatch, data):
    rec = Recorder(passed=False)
    monkeypatch.setattr(F, "model_fitting", lambda spec: rec.fitting)
    with pytest.warns(ConvergenceWarning) as caught:
        result = F.fit(SPEC, data, seed=1)
    assert len(caught) == 1
    assert str(caught[0].message) == "StandIn fit: R-hat 1.2 > 1.01 (stand-in)"
    assert Path(caught[0].filename) == Path(__file__)  # stacklevel: the caller's line
    assert result.config.seed == 1


@pytest.mark.parametrize(("passed", "approximate"), [(True, False), (False, True), (True, True)])
def test_converged_or_approximate_fits_do_not_warn(monkeypatch, data, passed, approximate):
    rec = Recorder(passed=passed, approximate=approximate)
    monkeypatch.setattr(F, "model_fitting", lambda spec: rec.fitting)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        F.fit(SPEC, data, seed=1)
    assert not caught


# ------------------------------------------------------------------ compile_spec
def test_compile_spec_uses_the_default_config_or_the_one_given(rec, data):
    assert F.compile_spec(SPEC, data)[:3] == ("compiled", SPEC, data)
    assert fields(rec.compiles[0]) == fields(SamplerConfig(draws=7, tune=9))
    config = SamplerConfig(draws=3, chains=1, seed=2)
    assert F.compile_spec(SPEC, data, config)[3] is config


def test_compile_spec_checks_the_method_of_the_config(monkeypatch, data):
    only_mcmc = Recorder(methods=("mcmc",))
    monkeypatch.setattr(F, "model_fitting", lambda spec: only_mcmc.fitting)
    with pytest.raises(ValueError, match=r"^StandIn supports method 'mcmc', not 'advi'"):
        F.compile_spec(SPEC, data, SamplerConfig(method="advi"))
    assert not only_mcmc.compiles


# ------------------------------------------------------------------ a real fit
def test_a_drawn_seed_replays_the_fit_draw_for_draw(data):
    spec = PiecewiseExponential(cuts=CUTS)
    compiled = compiled_pem()
    settings = {k: getattr(CONFIG, k) for k in ("draws", "tune", "chains", "progress")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 30 draws: a plumbing check
        first = F.fit(spec, data, compiled=compiled, **settings)
        again = F.fit(spec, data, compiled=compiled, seed=first.sampler.seed, **settings)
    assert first.provenance["seed_drawn"] and not again.provenance["seed_drawn"]
    a, b = first.idata["posterior"].to_dataset(), again.idata["posterior"].to_dataset()
    assert a.sizes["chain"] == 2 and a.sizes["draw"] == 30
    assert a.drop_attrs().identical(b.drop_attrs())
