"""The compiled-model layer (fitting/compiled.py): which compilation a model samples with
(the cache keyed by graph identity, :func:`same_graph`: a wrong hit would silently sample
another model), whose data and labels the draws carry (``set_data``, ``_synced``,
``relabel``), what each sampler is given, and the refusals (an incomplete run, Ctrl-C)
(issue 18; record in benchmarks/mutation.md, section ``fitting/compiled.py``).

The module is loaded from its file (``tests/isolated.py``), so a mutation run tests the
mutated source even with ``pexsurv.fitting`` preloaded in its fork server; every test calls
the loaded copy, whose compile cache is its own. Plumbing is checked with stand-ins
(``pm.sample``, ``pm.fit``, ``nutpie.sample``, a compiled model that records its data, a
clock); the draws with two tiny models of one graph compiled once per process
(``tests/compiled_tiny.py``).
"""

from __future__ import annotations

import signal
import threading
from types import SimpleNamespace

import numpy as np
import nutpie
import pymc as pm
import pytest
import xarray as xr
from compiled_tiny import X_A, X_B, compiled_a, compiled_b, model_a, model_b, tiny
from isolated import load

from pexsurv.fitting import SamplerConfig

C = load("fitting/compiled.py")

CONFIG = SamplerConfig(draws=30, tune=30, chains=2, seed=3, progress=False)
MESSAGE = "fit interrupted (Ctrl-C): the partial draws were discarded"


@pytest.fixture(autouse=True)
def _empty_cache_and_python_sigint():
    """Each test starts with the loaded module's cache empty and SIGINT handled by Python
    (a run started in the background inherits SIGINT ignored: see tests/test_interrupt.py)."""
    C._CACHE.clear()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
    C._CACHE.clear()


class FakeCompiled:
    """A nutpie compilation that knows the data inputs ``keys`` and records ``with_data``."""

    def __init__(self, keys=("x", "w"), data=None, log=None) -> None:
        self.keys = keys
        self.shared_var_keys = [SimpleNamespace(name=k) for k in keys]
        self.data = dict(data or {})
        self.log = [] if log is None else log

    def with_data(self, **values):
        self.log.append(values)
        return FakeCompiled(self.keys, {**self.data, **values}, self.log)


@pytest.fixture
def compiles(monkeypatch):
    """nutpie.compile_pymc_model replaced: records the model, returns a FakeCompiled."""
    calls = []

    def compile_(model):
        calls.append(model)
        return FakeCompiled()

    monkeypatch.setattr(nutpie, "compile_pymc_model", compile_)
    return calls


@pytest.fixture
def warm(monkeypatch):
    """nutpie.compile_pymc_model replaced by the two compilations made once per process."""
    calls = []
    known = {id(model_a()): compiled_a(), id(model_b()): compiled_b()}  # before the patch

    def compile_(model):
        calls.append(model)
        return known[id(model)]

    monkeypatch.setattr(nutpie, "compile_pymc_model", compile_)
    return calls


def clock(monkeypatch, *readings):
    """``time.perf_counter`` in the module gives ``readings`` in turn (and no more)."""
    it = iter(readings)
    monkeypatch.setattr(C, "time", SimpleNamespace(perf_counter=lambda: next(it)))


def tree(chains=2, draws=30, nan=(), labels=("g0", "g1")):
    """A posterior (and sample_stats) of the given size; ``nan``: variables given a NaN."""
    shape = (chains, draws)
    post = {"mu": (("chain", "draw"), np.zeros(shape)),
            "theta": (("chain", "draw", "g"), np.zeros((*shape, len(labels)))),
            "count": (("chain", "draw"), np.zeros(shape, dtype=int)),
            "flag": (("chain", "draw"), np.zeros(shape, dtype=bool))}
    for name in nan:
        values = np.zeros(shape)
        values[-1, -1] = np.nan
        post[name] = (("chain", "draw"), values)
    coords = {"chain": np.arange(chains), "draw": np.arange(draws), "g": list(labels)}
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros(shape, dtype=bool))},
                       coords={"chain": np.arange(chains), "draw": np.arange(draws)})
    return xr.DataTree.from_dict({"posterior": xr.Dataset(post, coords=coords),
                                  "sample_stats": stats})


# --- same_graph ------------------------------------------------------------------------


def test_same_graph_ignores_data_values_dim_labels_and_data_outside_the_density():
    a, b = model_a(), model_b()
    assert C.same_graph(a, b) is True
    assert C.same_graph(b, a) is True
    assert C.same_graph(a, tiny(X_A)) is True


@pytest.mark.parametrize("other", [
    dict(c=2.0),            # a constant of the deterministic
    dict(n_group=3),        # a dim length (a shared input that is not pm.Data)
    dict(w=(1.0, 0.0)),     # pm.Data of another shape
    dict(mu_name="m"),      # value variables named otherwise
    dict(det="other"),      # a deterministic named otherwise, same computation
    dict(x_name="z"),       # data inputs named otherwise
], ids=["constant", "dim-length", "data-shape", "value-name", "deterministic-name",
        "data-name"])
def test_same_graph_refuses_any_other_difference(other):
    assert C.same_graph(model_a(), tiny(X_A, **other)) is False
    assert C.same_graph(tiny(X_A, **other), model_a()) is False


def test_same_graph_refuses_data_of_another_dtype():
    # Integer data of the same shape (pm.Data keeps integers; float32 becomes float64).
    assert C.same_graph(tiny((1.0, 2.0, 3.0)), tiny(np.array([1, 2, 3]))) is False


def test_same_graph_refuses_another_computation_with_the_same_names_and_inputs():
    with pm.Model(coords={"g": ["g0", "g1"], "obs": ["a", "b", "c"]}) as other:
        mu = pm.Normal("mu")
        theta = pm.Normal("theta", mu, 1.0, dims="g")
        xd = pm.Data("x", np.asarray(X_A), dims="obs")
        wd = pm.Data("w", np.asarray((1.0,)))
        pm.Data("unused", np.asarray((1.0, 2.0)))
        pm.Deterministic("scaled", 1.5 * mu)
        pm.Normal("y", mu - theta.sum() * xd * wd.sum(), 1.0,  # minus instead of plus
                  observed=np.array([0.1, -0.2, 0.3]), dims="obs")
    assert C.same_graph(model_a(), other) is False


# --- the compile cache -----------------------------------------------------------------


def test_remember_keeps_the_eight_most_recent_each_with_its_own_lock():
    entries = [C._remember(f"model{i}", f"compiled{i}") for i in range(10)]
    assert C._CACHE_SIZE == 8
    assert [e.model for e in C._CACHE] == [f"model{i}" for i in range(2, 10)]
    assert [e.compiled for e in C._CACHE] == [f"compiled{i}" for i in range(2, 10)]
    assert entries[-1] is C._CACHE[-1]
    assert entries[0].lock is not entries[1].lock
    assert entries[0].lock.acquire(blocking=False)  # a fresh, unlocked lock
    assert entries[1].lock.acquire(blocking=False)


def test_cached_finds_the_most_recent_of_the_same_graph_and_moves_it_last():
    older = C._remember(tiny(X_A), "older")
    newer = C._remember(model_b(), "newer")
    other = C._remember(tiny(X_A, c=2.0), "other")
    assert C._cached(model_a()) is newer
    assert C._CACHE == [older, other, newer]
    assert C._cached(tiny(X_A, c=2.0)) is other
    assert C._CACHE == [older, newer, other]
    assert C._cached(tiny(X_A, n_group=5)) is None
    assert C._CACHE == [older, newer, other]


def test_clear_compile_cache_forgets_every_compilation():
    C._remember("a", 1)
    C._remember("b", 2)
    C.clear_compile_cache()
    assert C._CACHE == []


# --- prepare, compile_model ------------------------------------------------------------


def test_compile_model_compiles_once_and_the_same_graph_shares_it_with_its_own_data(
        compiles, monkeypatch):
    clock(monkeypatch, 4.0, 13.5)
    a = C.compile_model(model_a(), CONFIG, spec_hash="sa", structure="st")
    assert compiles == [model_a()]
    assert (a.spec_hash, a.structure, a.compile_seconds) == ("sa", "st", 9.5)
    assert a.shared_from is C._CACHE[-1] and len(C._CACHE) == 1
    assert a.shared_from.model is model_a() and a.shared_from.compiled is a.compiled
    clock(monkeypatch, 1.0, 3.25)
    b = C.compile_model(model_b(), CONFIG)
    assert compiles == [model_a()]  # not compiled again
    assert (b.spec_hash, b.structure, b.compile_seconds) == (None, None, 2.25)
    assert b.shared_from is a.shared_from and len(C._CACHE) == 1
    # b's compilation is a's given b's data (nutpie knows x and w, not `unused`).
    assert b.compiled is not a.compiled
    np.testing.assert_array_equal(b.compiled.data["x"], X_B)
    assert set(b.compiled.data) == {"x", "w"}
    assert a.compiled.data == {}


@pytest.mark.parametrize("config", [
    SamplerConfig(draws=30, tune=30, chains=2, seed=3, progress=False, sampler="pymc"),
    SamplerConfig(draws=30, tune=30, chains=2, seed=3, progress=False, sampler="numpyro"),
    SamplerConfig(method="advi", draws=30, seed=3, progress=False),
], ids=["pymc", "numpyro", "advi"])
def test_no_compilation_for_pymc_or_advi(compiles, monkeypatch, config):
    clock(monkeypatch)  # any reading fails
    compiled = C.compile_model(model_a(), config)
    assert compiles == [] and compiled.compiled is None and compiled.shared_from is None
    assert compiled.compile_seconds == 0.0 and C._CACHE == []


def test_a_handle_is_its_own_identity_and_reports_no_compile_time_by_default():
    """Handles are mutable (set_data): hashable by identity, never equal to another."""
    a, b = C.CompiledModel(model=model_a()), C.CompiledModel(model=model_a())
    assert a != b and a == a and len({a, b}) == 2
    assert (a.compiled, a.compile_seconds, a.spec_hash, a.structure, a.shared_from) == (
        None, 0.0, None, None, None)


def test_prepare_leaves_a_compiled_model_alone(compiles, monkeypatch):
    handle = C.CompiledModel(model=model_a(), compiled="mine")
    clock(monkeypatch)
    assert handle.prepare(CONFIG) == 0.0
    assert compiles == [] and handle.compiled == "mine" and handle.shared_from is None


# --- set_data, data_values -------------------------------------------------------------


def test_set_data_casts_to_the_data_dtype_and_updates_model_and_compilation(compiles):
    handle = C.compile_model(tiny(X_A), CONFIG)
    handle.set_data({"x": [1, 2, 3], "unused": [7, 8]})
    values = handle.data_values()
    assert sorted(values) == ["unused", "w", "x"]
    assert values["x"].dtype == np.float64 and values["x"].tolist() == [1.0, 2.0, 3.0]
    assert values["unused"].tolist() == [7.0, 8.0]
    assert values["w"].tolist() == [1.0]
    # Only the inputs of the log density go to nutpie, with the model's dtype.
    assert list(handle.compiled.log[-1]) == ["x"]
    assert handle.compiled.log[-1]["x"].dtype == np.float64
    np.testing.assert_array_equal(handle.compiled.data["x"], [1.0, 2.0, 3.0])


def test_set_data_without_a_compilation_changes_the_model_only():
    handle = C.CompiledModel(model=tiny(X_A))
    handle.set_data({"w": [4.0]})
    assert handle.compiled is None and handle.data_values()["w"].tolist() == [4.0]


def test_set_data_refuses_unknown_names_and_other_shapes():
    handle = C.CompiledModel(model=tiny(X_A))
    with pytest.raises(KeyError) as err:
        handle.set_data({"zz": 1.0, "aa": 2.0, "x": [0.0, 0.0, 0.0]})
    assert err.value.args[0] == "no pm.Data named ['aa', 'zz']; data inputs: ['unused', 'w', 'x']"
    with pytest.raises(ValueError) as err:
        handle.set_data({"x": [1.0, 2.0]})
    assert str(err.value) == ("pm.Data 'x' has shape (3,); got (2,). A compiled model serves "
                              "only data of the same shape: rebuild instead.")
    with pytest.raises(ValueError, match="has shape \\(3,\\); got \\(4,\\)"):
        handle.set_data({"x": [1.0, 2.0, 3.0, 4.0]})
    assert handle.data_values()["x"].tolist() == list(X_A)  # nothing changed


class RecordingLock:
    def __init__(self) -> None:
        self.held = False
        self.entered = 0

    def __enter__(self):
        assert not self.held
        self.held, self.entered = True, self.entered + 1

    def __exit__(self, *exc):
        self.held = False


def test_set_data_changes_a_shared_model_under_the_compilation_lock(monkeypatch):
    lock = RecordingLock()
    handle = C.CompiledModel(model=tiny(X_A),
                             shared_from=C._Compilation(model=None, compiled=None, lock=lock))
    seen = []
    real = pm.set_data

    def set_data(values, *args, **kwargs):
        seen.append((lock.held, sorted(values)))
        return real(values, *args, **kwargs)

    monkeypatch.setattr(pm, "set_data", set_data)
    handle.set_data({"w": [2.0]})
    assert seen == [(True, ["w"])] and lock.entered == 1 and not lock.held


# --- _synced ---------------------------------------------------------------------------


def test_synced_gives_the_origin_model_this_models_data_under_the_lock(compiles):
    origin_model = tiny(X_A)
    a = C.compile_model(origin_model, CONFIG)
    b = C.compile_model(tiny(X_B, unused=(5.0, 6.0, 7.0)), CONFIG)
    lock = b.shared_from.lock
    with b._synced():
        assert lock.locked()
        inside = {k: v.tolist() for k, v in a.data_values().items()}
    assert not lock.locked()
    # x and w from b; `unused` has another shape in b and stays a's.
    assert inside == {"x": list(X_B), "w": [1.0], "unused": [1.0, 2.0]}
    # Afterwards a's model holds a's data again, also when sampling raised.
    assert {k: v.tolist() for k, v in a.data_values().items()} == {
        "x": list(X_A), "w": [1.0], "unused": [1.0, 2.0]}
    with pytest.raises(KeyboardInterrupt), b._synced():
        raise KeyboardInterrupt
    assert a.data_values()["x"].tolist() == list(X_A) and not lock.locked()
    # Nor when it is shorter (shapes are compared for equality, not order).
    c = C.compile_model(tiny(X_B, unused=(9.0,)), CONFIG)
    with c._synced():
        assert a.data_values()["unused"].tolist() == [1.0, 2.0]


def test_synced_without_a_shared_compilation_changes_nothing():
    handle = C.CompiledModel(model=tiny(X_B))
    with handle._synced():
        pass
    assert handle.data_values()["x"].tolist() == list(X_B)


# --- relabel ---------------------------------------------------------------------------


def test_relabel_compares_lengths_by_value():
    labels = [f"g{i}" for i in range(300)]  # beyond the small integers Python caches
    out = C.relabel(tree(labels=labels), {"g": [f"h{i}" for i in range(300)]})
    assert out["posterior"]["g"].values.tolist()[-1] == "h299"


def test_compile_model_settings_are_keyword_only(compiles):
    with pytest.raises(TypeError):
        C.compile_model(model_a(), CONFIG, "spec-hash")


def test_relabel_replaces_labels_sorting_before_or_after():
    assert C.relabel(tree(), {"g": ["a0", "a1"]})["posterior"]["g"].values.tolist() == [
        "a0", "a1"]
    assert C.relabel(tree(), {"g": ["z0", "z1"]})["posterior"]["g"].values.tolist() == [
        "z0", "z1"]


def test_relabel_replaces_labels_of_dims_of_the_same_length_in_a_copy():
    idata = tree()
    idata["constant_data"] = xr.DataTree(xr.Dataset(
        {"x": (("obs",), np.zeros(3))}, coords={"obs": ["a", "b", "c"]}))
    out = C.relabel(idata, {"g": ["h0", "h1"], "obs": ["a", "b", "c"], "none": None,
                            "absent": ["q"]})
    assert out is not idata
    assert out["posterior"]["g"].values.tolist() == ["h0", "h1"]
    assert idata["posterior"]["g"].values.tolist() == ["g0", "g1"]  # the input is kept
    assert out["constant_data"]["obs"].values.tolist() == ["a", "b", "c"]
    assert "g" not in out["sample_stats"].dims and "absent" not in out["posterior"].dims
    np.testing.assert_array_equal(out["posterior"]["mu"].values, idata["posterior"]["mu"].values)


@pytest.mark.parametrize("coords", [
    {"g": ["g0", "g1"]},            # the same labels
    {"g": ["h0", "h1", "h2"]},      # longer
    {"g": ["h0"]},                  # shorter
    {"g": None, "chain": [0, 1]},   # no labels; the same chain numbers
], ids=["same", "longer", "shorter", "none"])
def test_relabel_returns_the_tree_itself_when_nothing_changes(coords):
    idata = tree()
    assert C.relabel(idata, coords) is idata
    assert idata["posterior"]["g"].values.tolist() == ["g0", "g1"]


# --- _require_complete -----------------------------------------------------------------


def test_require_complete_accepts_a_complete_run():
    C._require_complete(tree(), CONFIG)


@pytest.mark.parametrize("chains, draws", [(1, 30), (2, 29), (3, 30), (2, 31), (30, 2)])
def test_require_complete_refuses_other_sizes(chains, draws):
    with pytest.raises(C.IncompleteSamplingError) as err:
        C._require_complete(tree(chains, draws), CONFIG)
    assert str(err.value) == (
        f"the sampler returned {chains} chain(s) x {draws} draws; the configuration asked "
        "for 2 x 30: the run did not complete")


def test_require_complete_refuses_nan_draws_naming_up_to_five():
    with pytest.raises(C.IncompleteSamplingError) as err:
        C._require_complete(tree(nan=["n1"]), CONFIG)
    assert str(err.value) == ("the sampler returned NaN draws for ['n1']: the run did not "
                              "complete")
    names = [f"n{i}" for i in range(7)]
    with pytest.raises(C.IncompleteSamplingError) as err:
        C._require_complete(tree(nan=names), CONFIG)
    assert str(err.value) == (f"the sampler returned NaN draws for {names[:5]}: the run did "
                              "not complete")
    assert issubclass(C.IncompleteSamplingError, RuntimeError)


# --- sample: what each sampler is given ------------------------------------------------


@pytest.mark.parametrize("sampler", ["pymc", "numpyro"])
def test_sample_with_pymc_passes_the_configuration(monkeypatch, sampler):
    config = SamplerConfig(draws=30, tune=7, chains=2, seed=11, progress=True,
                           sampler=sampler, target_accept=0.9, options={"cores": 1})
    calls = []

    def sample(**kwargs):
        calls.append(kwargs)
        return tree()

    monkeypatch.setattr(pm, "sample", sample)
    handle = C.CompiledModel(model=model_a())
    clock(monkeypatch, 4.0, 13.5)
    idata, seconds = handle.sample(config)
    assert calls == [dict(draws=30, tune=7, chains=2, target_accept=0.9, random_seed=11,
                          progressbar=True, nuts_sampler=sampler, model=model_a(), cores=1)]
    assert seconds == 9.5 and idata["posterior"]["g"].values.tolist() == ["g0", "g1"]


def test_sample_with_advi_passes_steps_options_and_seed(monkeypatch):
    config = SamplerConfig(method="advi", draws=30, seed=11, progress=True,
                           options={"n": 123, "obj_n_mc": 2})
    calls = []

    class Approx:
        def sample(self, draws, **kwargs):
            calls.append(("sample", draws, kwargs))
            return tree(chains=1)

    def fit(**kwargs):
        calls.append(("fit", kwargs))
        return Approx()

    monkeypatch.setattr(pm, "fit", fit)
    handle = C.CompiledModel(model=model_a())
    clock(monkeypatch, 4.0, 13.5)
    idata, seconds = handle.sample(config)
    assert calls == [("fit", dict(n=123, method="advi", model=model_a(), random_seed=11,
                                  progressbar=True, obj_n_mc=2)),
                     ("sample", 30, {"random_seed": 11})]
    assert dict(config.options) == {"n": 123, "obj_n_mc": 2}  # not consumed
    assert seconds == 9.5


@pytest.fixture
def nutpie_calls(monkeypatch):
    """nutpie.sample, trace_to_tree, data_groups and patch_nutpie_idata replaced."""
    calls = []

    def sample(compiled, **kwargs):
        calls.append(("sample", compiled, kwargs))
        return "raw trace" if kwargs["return_raw_trace"] else tree()

    def to_tree(out, compiled):
        calls.append(("to_tree", out, compiled))
        return tree()

    def groups(model):
        calls.append(("groups", model))
        return {"constant_data": xr.Dataset({"cut": (("k",), np.array([1.5]))})}

    def patch(idata, model, **kwargs):
        calls.append(("patch", model, sorted(kwargs)))

    monkeypatch.setattr(nutpie, "sample", sample)
    monkeypatch.setattr(C, "trace_to_tree", to_tree)
    monkeypatch.setattr(C, "data_groups", groups)
    monkeypatch.setattr(C, "patch_nutpie_idata", patch)
    return calls


def test_sample_with_nutpie_converts_the_raw_trace_and_relabels(nutpie_calls, compiles,
                                                                monkeypatch):
    config = SamplerConfig(draws=30, tune=7, chains=2, seed=11, progress=True,
                           target_accept=0.9, options={"init_mean": None})
    C.compile_model(model_a(), config)
    handle = C.compile_model(model_b(), config)
    clock(monkeypatch, 4.0, 13.5)
    idata, seconds = handle.sample(config)
    assert nutpie_calls == [
        ("sample", handle.compiled, dict(draws=30, tune=7, chains=2, seed=11, progress_bar=True,
                                         save_warmup=False, target_accept=0.9,
                                         return_raw_trace=True, init_mean=None)),
        ("to_tree", "raw trace", handle.compiled), ("groups", model_b())]
    assert seconds == 9.5
    assert idata["constant_data"]["cut"].values.tolist() == [1.5]
    assert idata["posterior"]["g"].values.tolist() == ["h0", "h1"]  # model_b's labels


def test_sample_with_nutpie_keeps_nutpies_conversion_for_options_that_change_it(
        nutpie_calls, compiles, monkeypatch):
    config = SamplerConfig(draws=30, tune=7, chains=2, seed=11, progress=False,
                           options={"store_gradient": True})
    handle = C.compile_model(model_b(), config)
    clock(monkeypatch, 4.0, 13.5, 20.0)
    idata, seconds = handle.sample(config)
    assert [c[0] for c in nutpie_calls] == ["sample", "patch"]
    assert nutpie_calls[0][2]["return_raw_trace"] is False
    assert nutpie_calls[0][2]["store_gradient"] is True
    assert nutpie_calls[1][1:] == (model_b(), ["sampling_time"])
    assert seconds == 16.0
    assert idata["posterior"]["g"].values.tolist() == ["h0", "h1"]


def test_patch_gets_the_sampling_time(nutpie_calls, compiles, monkeypatch):
    got = []
    monkeypatch.setattr(C, "patch_nutpie_idata",
                        lambda idata, model, sampling_time: got.append(sampling_time))
    config = SamplerConfig(draws=30, tune=7, chains=2, seed=11, progress=False,
                           options={"store_gradient": True})
    handle = C.compile_model(model_b(), config)
    clock(monkeypatch, 4.0, 13.5, 20.0)
    handle.sample(config)
    assert got == [9.5]


def test_sample_compiles_first_when_needed(nutpie_calls, compiles, monkeypatch):
    handle = C.CompiledModel(model=model_b())
    handle.sample(CONFIG)
    assert compiles == [model_b()] and nutpie_calls[0][1] is handle.compiled


def test_sample_holds_the_shared_lock_while_nutpie_samples(compiles, monkeypatch):
    C.compile_model(model_a(), CONFIG)
    handle = C.compile_model(model_b(), CONFIG)
    held = []

    def sample(compiled, **kwargs):
        held.append(handle.shared_from.lock.locked())
        return tree()

    monkeypatch.setattr(nutpie, "sample", sample)
    monkeypatch.setattr(C, "patch_nutpie_idata", lambda *a, **k: None)
    handle.sample(SamplerConfig(draws=30, tune=30, chains=2, seed=3, progress=False,
                                options={"store_gradient": True}))
    assert held == [True] and not handle.shared_from.lock.locked()


def test_sample_refuses_a_short_run(monkeypatch):
    monkeypatch.setattr(pm, "sample", lambda **kwargs: tree(draws=12))
    handle = C.CompiledModel(model=model_a())
    with pytest.raises(C.IncompleteSamplingError, match="2 chain\\(s\\) x 12 draws"):
        handle.sample(SamplerConfig(draws=30, tune=30, chains=2, seed=3, progress=False,
                                    sampler="pymc"))


# --- Ctrl-C ----------------------------------------------------------------------------


def catching_sampler(**kwargs):
    """A sampler that catches Ctrl-C and returns a complete-looking trace."""
    try:
        signal.raise_signal(signal.SIGINT)
    except KeyboardInterrupt:
        pass
    return tree()


def test_ctrl_c_caught_by_the_sampler_is_raised_after_it(monkeypatch):
    monkeypatch.setattr(pm, "sample", catching_sampler)
    handle = C.CompiledModel(model=model_a())
    with pytest.raises(KeyboardInterrupt) as err:
        handle.sample(SamplerConfig(draws=30, tune=30, chains=2, seed=3, progress=False,
                                    sampler="pymc"))
    assert str(err.value) == MESSAGE
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_interrupts_propagate_notes_the_signal_and_calls_the_handler_in_force():
    got = []

    def handler(signum, frame):
        got.append((signum, frame is not None))

    signal.signal(signal.SIGINT, handler)
    with pytest.raises(KeyboardInterrupt) as err:
        with C._interrupts_propagate():
            assert signal.getsignal(signal.SIGINT) is not handler
            signal.raise_signal(signal.SIGINT)
            got.append("after")
    assert got == [(signal.SIGINT, True), "after"]
    assert str(err.value) == MESSAGE
    assert signal.getsignal(signal.SIGINT) is handler


def test_a_failure_after_ctrl_c_becomes_the_interrupt():
    with pytest.raises(KeyboardInterrupt) as err:
        with C._interrupts_propagate():
            try:
                signal.raise_signal(signal.SIGINT)
            except KeyboardInterrupt:
                pass
            raise RuntimeError("sampler broke on its way out")
    assert str(err.value) == MESSAGE
    assert isinstance(err.value.__cause__, RuntimeError)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_failure_without_ctrl_c_propagates_as_it_is():
    with pytest.raises(RuntimeError, match="^plain$"):
        with C._interrupts_propagate():
            raise RuntimeError("plain")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_no_ctrl_c_no_interrupt():
    with C._interrupts_propagate():
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ignored_sigint_is_left_alone():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with C._interrupts_propagate():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        signal.raise_signal(signal.SIGINT)  # ignored
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_outside_the_main_thread_it_does_nothing():
    outcome = []

    def run():
        try:
            with C._interrupts_propagate():
                outcome.append(signal.getsignal(signal.SIGINT))
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert outcome == [signal.default_int_handler]


# --- real sampling through a shared compilation -----------------------------------------


def test_a_shared_compilation_draws_as_the_models_own_compilation(warm):
    C.compile_model(model_a(), CONFIG)
    handle = C.compile_model(model_b(), CONFIG)
    assert warm == [model_a()]  # model_b samples with model_a's compilation
    shared, _ = handle.sample(CONFIG)
    own = nutpie.sample(compiled_b(), draws=30, tune=30, chains=2, seed=3, progress_bar=False,
                        save_warmup=False, target_accept=CONFIG.target_accept)
    for name in ("mu", "theta", "scaled"):
        np.testing.assert_array_equal(shared["posterior"][name].values,
                                      own["posterior"][name].values)
    assert shared["posterior"]["g"].values.tolist() == ["h0", "h1"]
    assert shared["constant_data"]["x"].values.tolist() == list(X_B)
    assert shared["constant_data"]["unused"].values.tolist() == [5.0, 6.0, 7.0]
