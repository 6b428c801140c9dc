"""A sweep's keys (pexsurv/workflows/sweep/keys.py): the hash that names a scenario in the
store, the seed derived from it and the key of the compiled model it needs. A wrong key
resumes the wrong scenario or refits a finished one; a wrong structure key shares a compiled
model between scenarios that need different ones (issue 18; record in
benchmarks/mutation.md, section ``pexsurv/workflows/sweep/keys.py``).

The module is loaded from its file (tests/isolated.py). The references are computed here
from the documented content with hashlib and json, and pinned literals guard against a
change that alters both sides alike."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from isolated import load

from pexsurv import datasets
from pexsurv.fitting.pem import structure_hash
from pexsurv.models import RPSFT, PiecewiseExponential
from pexsurv.priors import Normal

keys = load("pexsurv/workflows/sweep/keys.py")


class _Settings:
    def to_dict(self):
        return {"z": 1, "a": [2.5]}


def test_canonical_text_is_sorted_compact_json():
    assert keys.canonical({"b": 1, "a": (1, 2), "c": {"y": None, "x": "s"}}) == (
        '{"a":[1,2],"b":1,"c":{"x":"s","y":null}}')


def test_canonical_plain_forms_of_numpy_sets_and_objects():
    assert keys.canonical({"i": np.int64(3), "f": np.float64(0.5), "b": np.bool_(True)}) == (
        '{"b":true,"f":0.5,"i":3}')
    assert keys.canonical({"s": {3, 1, 2}, "fs": frozenset({"b", "a"})}) == (
        '{"fs":["a","b"],"s":[1,2,3]}')
    assert keys.canonical([_Settings()]) == '[{"a":[2.5],"z":1}]'


def test_canonical_refuses_an_unkeyable_setting_naming_its_type():
    with pytest.raises(TypeError) as info:
        keys.canonical({"x": object})
    assert str(info.value) == "cannot key a setting of type type: <class 'object'>"
    with pytest.raises(TypeError, match=r"^cannot key a setting of type bytes: b'ab'$"):
        keys.canonical(b"ab")


@pytest.mark.parametrize("settings", [{"b": 1, "a": [1, 2]}, [], {"x": {"y": [0.25, "s"]}}])
def test_settings_key_is_the_first_20_hex_digits_of_sha256(settings):
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    assert keys.settings_key(settings) == hashlib.sha256(text.encode()).hexdigest()[:20]


def test_settings_key_pinned():
    # printf '{"a":[1,2],"b":1}' | sha256sum; a change here renames every stored scenario
    assert keys.settings_key({"b": 1, "a": (1, 2)}) == "94a786c3662bc7beeb59"
    assert keys.settings_key({"b": 1, "a": (1, 2)}) != keys.settings_key({"b": 1, "a": (2, 1)})


@pytest.mark.parametrize("key", ["a1b2", "94a786c3662bc7beeb59", ""])
def test_derived_seed_from_the_key_hash(key):
    digest = hashlib.sha256(("seed:" + key).encode()).digest()
    assert keys.derived_seed(key) == int.from_bytes(digest[:8], "big") % 2**32


def test_derived_seed_pinned_and_in_range():
    seeds = [keys.derived_seed(f"k{i}") for i in range(200)]
    assert all(isinstance(s, int) and 0 <= s < 2**32 for s in seeds)
    assert len(set(seeds)) == 200
    assert max(seeds) > 2**31  # the whole range is used, not a narrower one
    # printf seed:a1b2 | sha256sum: its first 8 bytes (16 hex digits) mod 2**32
    assert keys.derived_seed("a1b2") == 3868833805


@pytest.mark.parametrize("size", [0, 5, (1 << 20) + 7, 3 << 20])
def test_file_digest_is_sha256_of_the_bytes(tmp_path, size):
    content = np.random.default_rng(size).bytes(size)
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    assert keys.file_digest(path) == hashlib.sha256(content).hexdigest()
    assert keys.file_digest(str(path)) == hashlib.sha256(content).hexdigest()


@pytest.fixture(scope="module")
def data():
    return datasets.ct041_like("os")


def reference_structure_key(pem, data, sampler):
    priors = pem.resolved_priors(data)
    shapes = {k: list(np.shape(v)) for k, v in pem.data_values(data, priors).items()}
    text = json.dumps({"structure": structure_hash(pem, priors), "shapes": shapes,
                       "sampler": sampler.get("sampler"), "method": sampler.get("method")},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


SAMPLER = {"sampler": "nutpie", "method": "nuts", "draws": 100, "seed": 1}


def test_structure_key_of_a_pem_from_its_documented_content(data):
    spec = PiecewiseExponential(cuts=[2.0, 6.0])
    assert keys.structure_key(spec, data, SAMPLER) == reference_structure_key(spec, data, SAMPLER)


def test_structure_key_ignores_prior_values_draws_and_seed(data):
    a = PiecewiseExponential(cuts=[2.0, 6.0], priors={"log_hr": Normal(0, 0.5)})
    b = PiecewiseExponential(cuts=[2.0, 6.0], priors={"log_hr": Normal(0.1, 2.0)})
    assert keys.structure_key(a, data, SAMPLER) == keys.structure_key(
        b, data, {**SAMPLER, "draws": 500, "seed": 7})


def test_structure_key_follows_cuts_sampler_and_method(data):
    spec = PiecewiseExponential(cuts=[2.0, 6.0])
    key = keys.structure_key(spec, data, SAMPLER)
    assert key != keys.structure_key(PiecewiseExponential(cuts=[2.0]), data, SAMPLER)
    assert key != keys.structure_key(spec, data, {**SAMPLER, "sampler": "pymc"})
    assert key != keys.structure_key(spec, data, {**SAMPLER, "method": "advi"})


def test_structure_key_of_an_rpsft_is_its_stage2_pem(data):
    priors = {"log_hr": Normal(0, 0.5)}
    rpsft = RPSFT(cuts=(2.0, 6.0), pem_priors=priors)
    pem = PiecewiseExponential(cuts=[2.0, 6.0], priors=priors)
    assert keys.structure_key(rpsft, data, SAMPLER) == reference_structure_key(pem, data, SAMPLER)
    # psi's prior is not part of the compiled stage-2 model
    assert keys.structure_key(rpsft, data, SAMPLER) == keys.structure_key(
        RPSFT(cuts=(2.0, 6.0), pem_priors=priors, psi_prior=Normal(0.2, 0.1)), data, SAMPLER)


def test_structure_key_without_sampler_settings(data):
    spec = PiecewiseExponential(cuts=[2.0, 6.0])
    assert keys.structure_key(spec, data, {}) == reference_structure_key(spec, data, {})
    assert keys.structure_key(spec, data, {}) != keys.structure_key(spec, data, SAMPLER)
