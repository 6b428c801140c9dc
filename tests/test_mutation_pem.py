"""Fitting the piecewise-exponential model (fitting/pem.py): the structure hash, the key
under which a compiled graph is re-used (recomputed from its documented content; it must
change with every structural field and prior family and stay the same for prior values and
data), compiling, and what ``fit_pem`` does with a fresh or a re-used compiled model (issue
18; record in benchmarks/mutation.md, section ``fitting/pem.py``).

The module is loaded from its file (``tests/isolated.py``); loading it re-registers
``PiecewiseExponential`` with the loaded copy, which is checked, and the package's
registration is put back at once. The compiler and the compiled model are stand-ins that record what they
are given, except in one real fit on the tiny compiled PEM of ``tests/fitting_tiny.py``
(compiled once in a mutation run's fork server).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from fitting_tiny import CONFIG, CUTS, compiled_pem, rpsft_trial
from isolated import load

from pexsurv import _names as N
from pexsurv.fitting import SamplerConfig, StageRun
from pexsurv.fitting.registry import model_fitting, register_model
from pexsurv.models import PiecewiseExponential
from pexsurv.priors import (
    AR1,
    Exponential,
    HalfNormal,
    IndependentNormal,
    Normal,
    RandomWalk,
    StudentT,
)
from pexsurv.simulate import simulate_rpsft

_PACKAGE_PEM = model_fitting.dispatch(PiecewiseExponential)(None)
P = load("fitting/pem.py")
# Loading registered the loaded copy; keep what it registered and put the package's back at
# once, so that test modules collected after this one fit with the package's code.
_LOADED_PEM = model_fitting.dispatch(PiecewiseExponential)(None)
register_model(PiecewiseExponential, _PACKAGE_PEM)


@pytest.fixture(scope="module")
def data():
    return rpsft_trial()


def h(spec, data):
    return P.structure_hash(spec, spec.resolved_priors(data))


# ------------------------------------------------------------------ structure hash


def by_hand(spec_dict: dict, families: dict) -> str:
    text = json.dumps({**spec_dict, "priors": families}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_structure_hash_is_the_documented_hash(data):
    spec = PiecewiseExponential(cuts=(1.0, 2.5), priors={"log_hr": Normal(0.3, 0.7)})
    assert h(spec, data) == by_hand(
        {"model": "PiecewiseExponential", "cuts": [1.0, 2.5], "effect": "ph",
         "effect_cuts": None, "covariates": [], "strata": False, "exposure": "assigned",
         "likelihood": "auto"},
        {"log_hazard_base": {"dist": "IndependentNormal"}, "log_hr": {"dist": "Normal"}})


def test_structure_hash_ignores_prior_values_and_data(data):
    base = PiecewiseExponential(cuts=(1.0,))
    other_values = PiecewiseExponential(
        cuts=(1.0,), priors={"log_hr": Normal(1.0, 3.0),
                             "log_hazard_base": IndependentNormal(mu=-4.0, sigma=2.0)})
    assert h(base, data) == h(other_values, data)
    rw = PiecewiseExponential(cuts=(1.0,), priors={"log_hazard_base": RandomWalk(mu=-1.0)})
    rw2 = PiecewiseExponential(cuts=(1.0,), priors={"log_hazard_base": RandomWalk(
        mu=-3.0, sigma_first=1.0)})
    assert h(rw, data) == h(rw2, data)
    # nested priors' values are pm.Data too (the innovation scale of a random walk)
    rw3 = PiecewiseExponential(cuts=(1.0,), priors={"log_hazard_base": RandomWalk(
        mu=-1.0, innovation=HalfNormal(2.0))})
    assert h(rw, data) == h(rw3, data)
    other_data = simulate_rpsft(80, seed=11)
    assert base.resolved_priors(other_data) != base.resolved_priors(data)  # data-driven mu
    assert h(base, other_data) == h(base, data)
    # the spec's own hash does see the values
    assert base.spec_hash() != other_values.spec_hash()


@pytest.mark.parametrize("changed", [
    PiecewiseExponential(cuts=(1.0, 2.0)),
    PiecewiseExponential(cuts=(1.5,)),
    PiecewiseExponential(cuts=(1.0,), effect="piecewise"),
    PiecewiseExponential(cuts=(1.0,), effect="piecewise", effect_cuts=(1.0,)),
    PiecewiseExponential(cuts=(1.0,), covariates=("x",)),
    PiecewiseExponential(cuts=(1.0,), strata=True),
    PiecewiseExponential(cuts=(1.0,), exposure="received"),
    PiecewiseExponential(cuts=(1.0,), likelihood="episodes"),
    PiecewiseExponential(cuts=(1.0,), priors={"log_hr": StudentT(3, 0, 1)}),
    PiecewiseExponential(cuts=(1.0,), priors={"log_hazard_base": RandomWalk(mu=-1.0)}),
    PiecewiseExponential(cuts=(1.0,), priors={"log_hazard_base": AR1(mu=-1.0)}),
], ids=lambda s: s.spec_hash())
def test_structure_hash_changes_with_every_structural_field(changed):
    base = PiecewiseExponential(cuts=(1.0,))
    assert P.structure_hash(changed, FAMILIES_OF(changed)) != P.structure_hash(
        base, FAMILIES_OF(base))


def FAMILIES_OF(spec):
    """Resolved-looking priors without data: the spec's own, defaults for the others."""
    priors = {"log_hazard_base": IndependentNormal(mu=-1.0, sigma=5.0), "log_hr": Normal(0, 1)}
    if spec.effect == "piecewise":
        priors["log_hr_scale"] = HalfNormal(1.0)
    return {**priors, **spec.priors}


def test_structure_hash_changes_with_a_nested_prior_family():
    def rw(innovation):
        spec = PiecewiseExponential(cuts=(1.0,), priors={
            "log_hazard_base": RandomWalk(mu=-1.0, innovation=innovation)})
        return P.structure_hash(spec, FAMILIES_OF(spec))
    assert rw(Exponential(2.0)) != rw(HalfNormal(0.5))
    assert rw(HalfNormal(2.0)) == rw(HalfNormal(0.5))


def test_structure_hash_changes_with_the_set_of_prior_names():
    spec = PiecewiseExponential(cuts=(1.0,))
    priors = FAMILIES_OF(spec)
    more = {**priors, "beta": Normal(0, 1)}
    assert P.structure_hash(spec, priors) != P.structure_hash(spec, more)


# ------------------------------------------------------------------ compile_pem


def test_compile_pem_builds_on_the_resolved_priors(data, monkeypatch):
    calls = []
    monkeypatch.setattr(P, "compile_model", lambda *a, **k: calls.append((a, k)) or "compiled")
    spec = PiecewiseExponential(cuts=(1.0,), priors={"log_hr": Normal(0.2, 0.4)})
    assert P.compile_pem(spec, data, CONFIG) == "compiled"
    [(args, kwargs)] = calls
    model, config = args
    assert config is CONFIG and isinstance(model, pm.Model)
    assert kwargs == {"spec_hash": spec.spec_hash(), "structure": h(spec, data)}
    values = {v.name: float(v.get_value()) for v in model.data_vars if v.name.endswith(
        ("_prior_mu", "_prior_sigma"))}
    priors = spec.resolved_priors(data)
    assert values == {"log_hr_prior_mu": 0.2, "log_hr_prior_sigma": 0.4,
                      "log_hazard_base_prior_mu": priors["log_hazard_base"].mu,
                      "log_hazard_base_prior_sigma": 5.0}


# ------------------------------------------------------------------ fit_pem with stand-ins


class StandIn:
    """A compiled model that records ``set_data``, ``prepare`` and ``sample`` and returns a
    posterior whose arm labels are ``("c", "e")`` (a graph built for other data)."""

    def __init__(self, structure, compile_seconds=1.5):
        self.structure, self.compile_seconds = structure, compile_seconds
        self.calls = []

    def set_data(self, values):
        self.calls.append(("set_data", values))

    def prepare(self, config):
        self.calls.append(("prepare", config))
        return 0.75

    def sample(self, config):
        self.calls.append(("sample", config))
        shape = (config.chains, config.draws)
        post = xr.Dataset(
            {N.LOG_HR: (("chain", "draw"), np.full(shape, -0.2)),
             "log_hazard_arm": (("chain", "draw", "arm"), np.zeros((*shape, 2)))},
            coords={"chain": np.arange(shape[0]), "draw": np.arange(shape[1]),
                    "arm": ["c", "e"]})
        return xr.DataTree.from_dict({"posterior": post}), 2.5


SMALL = SamplerConfig(draws=4, tune=4, chains=2, seed=5, progress=False)


def test_fit_pem_compiles_when_given_no_model(data, monkeypatch):
    spec = PiecewiseExponential(cuts=(1.0,))
    made = []

    def compile_model(model, config, *, spec_hash, structure):
        made.append((model, config, spec_hash, structure))
        return StandIn(structure)

    monkeypatch.setattr(P, "compile_model", compile_model)
    provenance = {"who": "test"}
    r = P.fit_pem(spec, data, SMALL, compiled=None, log_likelihood=False,
                  provenance=provenance)
    [(model, config, spec_hash, structure)] = made
    assert isinstance(model, pm.Model) and config is SMALL
    assert (spec_hash, structure) == (spec.spec_hash(), h(spec, data))
    assert r.timings == {"compile_seconds": 1.5, "sampling_seconds": 2.5}
    assert r.provenance == provenance
    assert r.spec is spec and r.data is data and r.sampler is SMALL
    assert r.priors == spec.resolved_priors(data)
    assert r.runs == (StageRun.sampled("posterior", SMALL, r.idata),)
    assert r.runs[0].stage == "posterior" and r.runs[0].chains == 2 and r.runs[0].draws == 4
    # relabelled with the data's arms
    assert list(r.posterior["arm"].values) == list(data.arms)
    assert "log_likelihood" not in r.idata.children


def test_fit_pem_reuses_a_compiled_model_of_the_same_structure(data):
    spec = PiecewiseExponential(cuts=(1.0,), priors={"log_hr": Normal(0.5, 2.0)})
    stand_in = StandIn(h(PiecewiseExponential(cuts=(1.0,)), data), compile_seconds=99.0)
    r = P.fit_pem(spec, data, SMALL, compiled=stand_in, log_likelihood=False, provenance={})
    names = [c[0] for c in stand_in.calls]
    assert names == ["set_data", "prepare", "sample"]
    priors = spec.resolved_priors(data)
    want = spec.data_values(data, priors, design=spec.design(data))
    got = stand_in.calls[0][1]
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    assert got["log_hr_prior_mu"] == 0.5
    assert stand_in.calls[1][1] is SMALL and stand_in.calls[2][1] is SMALL
    assert r.timings == {"compile_seconds": 0.75, "sampling_seconds": 2.5}
    assert list(r.posterior["arm"].values) == list(data.arms)


def test_fit_pem_refuses_a_compiled_model_of_another_structure(data):
    spec = PiecewiseExponential(cuts=(1.0,))
    stand_in = StandIn(h(PiecewiseExponential(cuts=(1.0, 2.0)), data))
    with pytest.raises(ValueError) as err:
        P.fit_pem(spec, data, SMALL, compiled=stand_in, log_likelihood=False, provenance={})
    assert str(err.value) == (
        "the compiled model was built from another spec: its structure differs (model, "
        "cuts, effect, covariates or prior families; prior values may differ); compile "
        "this one with pexsurv.fitting.compile_spec(spec, data, config)")
    assert stand_in.calls == []


def test_fit_pem_refuses_other_structures_whose_hash_sorts_either_side(data):
    spec = PiecewiseExponential(cuts=(1.0,))
    others = [h(PiecewiseExponential(cuts=cuts), data)
              for cuts in ((1.0, 2.0), (0.5,), (2.0,), (0.5, 1.5), (1.0, 3.0))]
    mine = h(spec, data)
    assert min(others) < mine < max(others)  # a comparison other than != would let one by
    for other in others:
        stand_in = StandIn(other)
        with pytest.raises(ValueError, match="built from another spec"):
            P.fit_pem(spec, data, SMALL, compiled=stand_in, log_likelihood=False,
                      provenance={})
        assert stand_in.calls == []


def test_fit_pem_options_are_keyword_only(data):
    stand_in = StandIn(h(PiecewiseExponential(cuts=(1.0,)), data))
    with pytest.raises(TypeError):
        P.fit_pem(PiecewiseExponential(cuts=(1.0,)), data, SMALL, stand_in, False, {})
    assert stand_in.calls == []


# ------------------------------------------------------------------ one real fit


@pytest.fixture(scope="module")
def real_fit(data):
    """The tiny compiled PEM re-used on the same trial with other arm labels."""
    relabelled = dataclasses.replace(data, arms=("ctl", "exp"))
    spec = PiecewiseExponential(cuts=CUTS)
    return relabelled, spec, P.fit_pem(spec, relabelled, CONFIG, compiled=compiled_pem(),
                                       log_likelihood=True, provenance={"p": 1})


def test_real_fit_reuses_the_compiled_pem_with_the_datas_labels(real_fit):
    data, spec, r = real_fit
    assert list(r.idata["constant_data"]["arm"].values) == ["ctl", "exp"]
    assert r.posterior.sizes["chain"] == 2 and r.posterior.sizes["draw"] == 30
    assert r.timings["compile_seconds"] < 1.0  # already compiled: no compilation
    assert r.timings["sampling_seconds"] > 0


def test_real_fit_adds_the_per_patient_log_likelihood(real_fit):
    data, spec, r = real_fit
    ll = r.idata["log_likelihood"]["survival"]
    assert ll.dims == ("chain", "draw", "subject") and ll.sizes["subject"] == data.n
    want = spec.pointwise_log_likelihood(r.posterior, data)
    np.testing.assert_allclose(ll.values, np.asarray(want), rtol=1e-12)


# ------------------------------------------------------------------ registration


def test_sampler_defaults_raise_target_accept_for_the_piecewise_effect_under_mcmc():
    piecewise = PiecewiseExponential(cuts=(1.0,), effect="piecewise")
    assert P.sampler_defaults(piecewise, "mcmc") == {"target_accept": 0.99}
    assert P.sampler_defaults(piecewise, "advi") == {}  # ADVI has no acceptance rate
    assert P.sampler_defaults(PiecewiseExponential(cuts=(1.0,)), "mcmc") == {}


def test_loading_the_module_registers_its_fitting():
    fitting = _LOADED_PEM
    assert fitting.fit is P.fit_pem and fitting.compile is P.compile_pem
    assert fitting.methods == ("mcmc", "advi") and dict(fitting.defaults) == {}
    assert fitting.spec_defaults is P.sampler_defaults
    assert P.__all__ == ["compile_pem", "fit_pem", "sampler_defaults", "structure_hash"]
