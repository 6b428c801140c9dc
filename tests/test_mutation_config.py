"""SamplerConfig: every default, every refusal at its boundary, the reserved options and the
ADVI rules (issue 18 mutation tests).

The module is loaded from its file (``tests/isolated.py``): it needs only numpy and the
core's argument checks, so a mutation run does not import PyMC.
"""

from __future__ import annotations

import importlib.util
from dataclasses import FrozenInstanceError
from types import MappingProxyType

import numpy as np
import pytest
from isolated import load

C = load("fitting/config.py")
SamplerConfig = C.SamplerConfig

# Every keyword pexsurv gives the sampler itself, written out here (not read from the module).
RESERVED = ("draws", "tune", "chains", "seed", "random_seed", "target_accept", "progress",
            "progress_bar", "progressbar", "method", "model", "nuts_sampler", "save_warmup",
            "blocking", "return_inferencedata", "idata_kwargs", "compiled_model",
            "return_raw_trace")


def test_public_constants():
    assert C.SAMPLERS == ("nutpie", "pymc", "numpyro")
    assert C.METHODS == ("mcmc", "advi")
    assert C.__all__ == ["SamplerConfig", "SAMPLERS", "METHODS"]


def test_mcmc_defaults():
    c = SamplerConfig()
    assert c.to_dict() == {"sampler": "nutpie", "draws": 1000, "tune": 1000, "chains": 4,
                           "target_accept": 0.8, "seed": None, "progress": True,
                           "method": "mcmc", "options": {}}
    assert type(c.target_accept) is float and c.approximate is False


def test_advi_defaults():
    c = SamplerConfig(method="advi")
    assert c.to_dict() == {"sampler": "pymc", "draws": 1000, "tune": 0, "chains": 1,
                           "target_accept": None, "seed": None, "progress": True,
                           "method": "advi", "options": {"n": 10_000}}
    assert c.approximate is True


def test_given_settings_are_kept():
    c = SamplerConfig(sampler="pymc", draws=np.int64(7), tune=0, chains=1, target_accept=0.95,
                      seed=np.uint32(3), progress=np.bool_(False), options={"init": "adapt_diag"})
    assert c.to_dict() == {"sampler": "pymc", "draws": 7, "tune": 0, "chains": 1,
                           "target_accept": 0.95, "seed": 3, "progress": False,
                           "method": "mcmc", "options": {"init": "adapt_diag"}}
    # plain Python types after validation (they are written to JSON by FitResult.save)
    assert [type(v) for v in (c.draws, c.tune, c.chains, c.seed, c.progress)] == [int] * 4 + [bool]
    assert type(SamplerConfig(target_accept=np.float32(0.5)).target_accept) is float
    assert SamplerConfig(sampler="numpyro").sampler == "numpyro"


def test_advi_accepts_its_own_defaults_given_explicitly():
    c = SamplerConfig(method="advi", sampler="pymc", tune=0, chains=1, options={"n": 50})
    assert (c.sampler, c.tune, c.chains, dict(c.options)) == ("pymc", 0, 1, {"n": 50})
    # equal values are accepted, not only the very objects of the defaults
    built = "".join(["py", "mc"])  # a string made at run time is not the interned literal
    c = SamplerConfig(method="advi", sampler=built, tune=np.int64(0), chains=np.int64(1))
    assert (c.sampler, c.tune, c.chains) == ("pymc", 0, 1) and type(c.tune) is int


@pytest.mark.parametrize("kw", [{"sampler": "nutpie"}, {"tune": 1}, {"chains": 2},
                                {"target_accept": 0.8}])
def test_advi_refuses_what_it_cannot_honour(kw):
    with pytest.raises(ValueError, match=r"method='advi' cannot honour \{'" + next(iter(kw))):
        SamplerConfig(method="advi", **kw)


def test_advi_refusal_lists_every_setting():
    with pytest.raises(ValueError) as err:
        SamplerConfig(method="advi", sampler="pymc", chains=2, tune=5)
    assert "{'tune': 5, 'chains': 2}" in str(err.value)


@pytest.mark.parametrize("kw, exc, message", [
    ({"method": "nuts"}, ValueError, r"method must be one of \('mcmc', 'advi'\), got 'nuts'"),
    ({"sampler": "stan"}, ValueError,
     r"sampler must be one of \('nutpie', 'pymc', 'numpyro'\), got 'stan'"),
    ({"draws": 0}, ValueError, "draws must be an integer >= 1, got 0"),
    ({"draws": 2.0}, TypeError, "draws must be an integer"),
    ({"chains": 0}, ValueError, "chains must be an integer >= 1, got 0"),
    ({"tune": -1}, ValueError, "tune must be an integer >= 0, got -1"),
    ({"seed": -1}, ValueError, "seed must be an integer in"),
    ({"seed": 2**32}, ValueError, "seed must be an integer in"),
    ({"target_accept": True}, TypeError, r"target_accept must be a number in \(0, 1\), got True"),
    ({"target_accept": "0.9"}, TypeError, "target_accept must be a number"),
    ({"target_accept": 0.0}, ValueError, r"target_accept must be in \(0, 1\), got 0.0"),
    ({"target_accept": 1.0}, ValueError, r"target_accept must be in \(0, 1\), got 1.0"),
    ({"target_accept": -0.5}, ValueError, "target_accept must be in"),
    ({"target_accept": 1.5}, ValueError, "target_accept must be in"),
    ({"progress": 1}, TypeError, "progress must be True or False, got 1"),
    ({"progress": None}, TypeError, "progress must be True or False, got None"),
    ({"method": "advi", "options": {"n": 0}}, ValueError,
     r"options\['n'\] \(ADVI steps\) must be an integer >= 1, got 0"),
    ({"method": "advi", "options": {"n": 5.0}}, TypeError, r"options\['n'\] \(ADVI steps\)"),
])
def test_refusals(kw, exc, message):
    with pytest.raises(exc, match=message):
        SamplerConfig(**kw)


def test_boundaries_accepted():
    assert SamplerConfig(draws=1, chains=1, tune=0, seed=0).seed == 0
    assert SamplerConfig(seed=2**32 - 1).seed == 2**32 - 1
    assert SamplerConfig(target_accept=1e-9).target_accept == 1e-9
    assert SamplerConfig(target_accept=1 - 1e-9).target_accept == 1 - 1e-9
    assert dict(SamplerConfig(method="advi", options={"n": 1}).options) == {"n": 1}


@pytest.mark.parametrize("key", RESERVED)
def test_every_reserved_option_is_refused(key):
    with pytest.raises(ValueError, match=rf"options \['{key}'\] have their own SamplerConfig"):
        SamplerConfig(options={key: 1})


def test_reserved_options_are_listed_sorted_and_others_pass():
    with pytest.raises(ValueError, match=r"options \['chains', 'draws'\] have their own"):
        SamplerConfig(options={"draws": 1, "chains": 2, "init": "jitter"})
    with pytest.raises(ValueError, match=r"options \['n', 'tune'\]|options \['tune'\]"):
        SamplerConfig(method="advi", options={"tune": 1})
    assert dict(SamplerConfig(options={"max_treedepth": 12}).options) == {"max_treedepth": 12}


def test_options_are_copied_and_read_only():
    given = {"init": "jitter"}
    c = SamplerConfig(options=given)
    given["init"] = "changed"
    assert isinstance(c.options, MappingProxyType) and dict(c.options) == {"init": "jitter"}
    with pytest.raises(TypeError):
        c.options["init"] = "x"
    # to_dict gives a plain, independent dict
    d = c.to_dict()
    assert type(d["options"]) is dict
    d["options"]["init"] = "y"
    assert c.options["init"] == "jitter"


def test_frozen():
    with pytest.raises(FrozenInstanceError):
        SamplerConfig().draws = 5


@pytest.mark.parametrize("sampler, package", [("nutpie", "nutpie"), ("numpyro", "numpyro")])
def test_missing_sampler_package_is_refused(monkeypatch, sampler, package):
    asked = []
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        asked.append(name)
        return None if name == package else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ValueError, match=rf"sampler '{sampler}' needs the '{package}' package; "
                                         rf"install it \(pip install '{package}'\) or use "
                                         "sampler='nutpie'"):
        SamplerConfig(sampler=sampler)
    assert asked == [package]
    # pymc needs nothing beyond pymc, and ADVI (which runs in PyMC) looks nothing up
    asked.clear()
    SamplerConfig(sampler="pymc")
    SamplerConfig(method="advi")
    assert asked == []


def test_to_dict_round_trips():
    c = SamplerConfig(draws=10, seed=4, method="advi", options={"n": 20})
    assert SamplerConfig(**c.to_dict()) == c
    assert list(c.to_dict()) == ["sampler", "draws", "tune", "chains", "target_accept", "seed",
                                 "progress", "method", "options"]
