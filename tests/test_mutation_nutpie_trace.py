"""nutpie's raw trace to the fit's groups (fitting/nutpie_trace.py): every variable, value,
dtype, dim and coordinate, in chain and draw order, against nutpie's own conversion and
PyMC's ``patch_nutpie_idata`` on the same seeded run, and against arrays written by hand
for what a complete run never shows (chains of unequal tuning or length, null rows, dims
without names) (issue 18; record in benchmarks/mutation.md, section
``fitting/nutpie_trace.py``).

The module is loaded from its file (``tests/isolated.py``): a mutation run tests the mutated
source even with ``pexsurv.fitting`` (which imports the package's copy) preloaded. The toy
model is compiled by nutpie directly (``tests/fitting_tiny.py``).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pymc as pm
import pytest
import xarray as xr
from fitting_tiny import toy_compiled, toy_model
from isolated import load
from pymc.backends.arviz import patch_nutpie_idata

T = load("fitting/nutpie_trace.py")

SAMPLE = {"draws": 6, "tune": 5, "chains": 3, "seed": 11, "progress_bar": False,
          "save_warmup": False}


@pytest.fixture(scope="module")
def runs():
    """The same seeded run twice: the raw trace, and nutpie's own conversion patched by
    PyMC (what ``nutpie.sample`` and ``pm.sample`` hand back)."""
    import nutpie

    compiled = toy_compiled()
    batches = nutpie.sample(compiled, return_raw_trace=True, **SAMPLE).get_arrow_trace()
    raw = Trace(*batches)  # nutpie hands its batches out once
    own = nutpie.sample(compiled, **SAMPLE)
    patch_nutpie_idata(own, toy_model(), sampling_time=0.0)
    return raw, own


def plain(tree: xr.DataTree, group: str) -> xr.Dataset:
    return tree[group].to_dataset().drop_attrs()


class Trace:
    """A raw trace made of given Arrow batches (one per chain)."""

    def __init__(self, draws, stats):
        self.batches = (draws, stats)

    def get_arrow_trace(self):
        return self.batches


def test_posterior_and_sample_stats_equal_nutpies_conversion(runs):
    raw, own = runs
    tree = T.trace_to_tree(raw, toy_compiled())
    assert sorted(tree.children) == ["posterior", "sample_stats"]
    for group in ("posterior", "sample_stats"):
        # identical(): the same variables, values, dtypes, dims, coordinates and order of
        # chains and draws
        assert plain(tree, group).identical(plain(own, group)), group
    post = plain(tree, "posterior")
    assert list(post.data_vars) == ["mu", "theta", "sigma", "mat"]  # not sigma_log__
    assert post.sizes == {"chain": 3, "draw": 6, "group": 3, "mat_dim_0": 2, "mat_dim_1": 3}
    assert {"diverging", "energy", "step_size", "divergence_message"} <= set(tree["sample_stats"].data_vars)


def test_the_stored_sample_statistics_are_nutpies(runs):
    raw, own = runs
    names = set(T.trace_to_tree(raw, toy_compiled())["sample_stats"].data_vars)
    assert names == set(own["sample_stats"].data_vars)
    stats = raw.get_arrow_trace()[1][0]
    # every column nutpie leaves out is left out, the rest kept (tuning too, as nutpie does)
    assert set(stats.column_names) - names == T._UNSTORED & set(stats.column_names)
    assert {"chain", "draw", "mass_matrix_inv", "gradient"} <= T._UNSTORED - names


def test_each_chain_keeps_its_own_rows_after_tuning(runs):
    """Chains whose tuning lengths differ: chain 0 loses its first (tuning) row, chain 2
    its first two."""
    raw, own = runs
    draws, stats = raw.get_arrow_trace()
    cut = (1, 0, 2)
    trace = Trace([b.slice(k, b.num_rows - k) for b, k in zip(draws, cut)],
                  [b.slice(k, b.num_rows - k) for b, k in zip(stats, cut)])
    tree = T.trace_to_tree(trace, toy_compiled())
    for group in ("posterior", "sample_stats"):
        assert plain(tree, group).identical(plain(own, group)), group


def test_chains_cut_short_are_padded(runs):
    """Chain 1 stopped two draws early, chain 2 one: nutpie's padding (NaN for floats, 0
    for integers and booleans, None for objects) fills their ends."""
    raw, own = runs
    draws, stats = raw.get_arrow_trace()
    short = (0, 2, 1)
    trace = Trace([b.slice(0, b.num_rows - k) for b, k in zip(draws, short)],
                  [b.slice(0, b.num_rows - k) for b, k in zip(stats, short)])
    tree = T.trace_to_tree(trace, toy_compiled())
    for group in ("posterior", "sample_stats"):
        expected = plain(own, group).copy(deep=True)
        for name, da in expected.data_vars.items():
            fill = {"f": np.nan, "O": None}.get(da.dtype.kind, 0)
            da.values[1, -2:] = fill
            da.values[2, -1:] = fill
        assert plain(tree, group).identical(expected), group
    assert tree["sample_stats"]["diverging"].dtype == bool
    assert np.isnan(tree["posterior"]["mu"].values[1, -2:]).all()


def _field(name, type_, shape=None, dims=None):
    meta = {b"note": b"hand-made"}  # pyarrow reads empty metadata as None; nutpie's is a dict
    if shape is not None:
        meta[b"shape"] = ",".join(map(str, shape)).encode()
    if dims is not None:
        meta[b"dims"] = ",".join(dims).encode()
    return pa.field(name, type_, metadata=meta)


def _draw_batch(rows):
    """Hand-made draws: ``x`` scalar float, ``v`` a 2-vector on dim ``obs`` with null rows,
    ``m`` a 2 x 2 matrix and ``cube`` a 1 x 2 x 3 array without dims metadata, ``n`` an
    integer, ``x_log__`` reparameterized."""
    schema = pa.schema([
        _field("x", pa.float64()),
        _field("v", pa.large_list(pa.float64()), shape=(2,), dims=("obs",)),
        _field("m", pa.large_list(pa.float64()), shape=(2, 2)),
        _field("cube", pa.large_list(pa.float64()), shape=(1, 2, 3)),
        _field("n", pa.int64()),
        _field("x_log__", pa.float64()),
    ])
    return pa.RecordBatch.from_arrays([
        pa.array([r["x"] for r in rows]),
        pa.array([r["v"] for r in rows], type=pa.large_list(pa.float64())),
        pa.array([r["m"] for r in rows], type=pa.large_list(pa.float64())),
        pa.array([r["cube"] for r in rows], type=pa.large_list(pa.float64())),
        pa.array([r["n"] for r in rows]),
        pa.array([0.0] * len(rows)),
    ], schema=schema)


def _stat_batch(tuning, rows):
    schema = pa.schema([_field("tuning", pa.bool_()), _field("chain", pa.uint64()),
                        _field("draw", pa.uint64()), _field("gradient", pa.large_list(pa.float64())),
                        _field("note", pa.string()), _field("energy", pa.float64())])
    n = len(rows)
    return pa.RecordBatch.from_arrays([
        pa.array([True] * tuning + [False] * (n - tuning)), pa.array([7] * n, pa.uint64()),
        pa.array(range(n), pa.uint64()), pa.array([[1.0]] * n, pa.large_list(pa.float64())),
        pa.array([r["note"] for r in rows], pa.string()),
        pa.array([r["energy"] for r in rows], pa.float64())], schema=schema)


def _row(chain, draw, *, null_v=False, null_note=True, null_energy=False):
    base = 100 * chain + draw
    return {"x": base + 0.5, "v": None if null_v else [base + 0.1, base + 0.2],
            "m": [base + 0.01, base + 0.02, base + 0.03, base + 0.04],
            "cube": [base + 0.001 * k for k in range(6)], "n": base,
            "note": None if null_note else f"c{chain}d{draw}",
            "energy": None if null_energy else -float(base)}


def test_hand_made_trace_with_nulls_unequal_chains_and_unnamed_dims():
    """Two chains: chain 0 has 2 tuning rows and 4 kept, chain 1 1 tuning row and 3 kept
    (cut short); null rows in a list column, a string column and a float column."""
    rows0 = [_row(0, d, null_v=d == 3, null_note=d != 4, null_energy=d == 2) for d in range(6)]
    rows1 = [_row(1, d, null_v=d == 1, null_note=False) for d in range(4)]
    trace = Trace([_draw_batch(rows0), _draw_batch(rows1)],
                  [_stat_batch(2, rows0), _stat_batch(1, rows1)])
    compiled = SimpleNamespace(reparameterized_names=["x_log__"], coords={"obs": ["p", "q"]})
    tree = T.trace_to_tree(trace, compiled)
    post, stats = plain(tree, "posterior"), plain(tree, "sample_stats")

    nan = np.nan
    kept = [rows0[2:], rows1[1:]]
    x = np.array([[r["x"] for r in k] + [nan] * (4 - len(k)) for k in kept])
    v = np.full((2, 4, 2), nan)
    m = np.full((2, 4, 2, 2), nan)
    cube = np.full((2, 4, 1, 2, 3), nan)
    n = np.zeros((2, 4), dtype=np.int64)
    note = np.full((2, 4), None, dtype=object)
    energy = np.full((2, 4), nan)
    for c, k in enumerate(kept):
        for d, r in enumerate(k):
            if r["v"] is not None:
                v[c, d] = r["v"]
            m[c, d] = np.reshape(r["m"], (2, 2))
            cube[c, d] = np.reshape(r["cube"], (1, 2, 3))
            n[c, d] = r["n"]
            note[c, d] = r["note"]
            if r["energy"] is not None:
                energy[c, d] = r["energy"]
    expected_post = xr.Dataset(
        {"x": (("chain", "draw"), x), "v": (("chain", "draw", "obs"), v),
         "m": (("chain", "draw", "m_dim_0", "m_dim_1"), m),
         "cube": (("chain", "draw", "cube_dim_0", "cube_dim_1", "cube_dim_2"), cube),
         "n": (("chain", "draw"), n)},
        coords={"chain": [0, 1], "draw": [0, 1, 2, 3], "obs": np.array(["p", "q"]),
                "m_dim_0": [0, 1], "m_dim_1": [0, 1], "cube_dim_0": [0], "cube_dim_1": [0, 1],
                "cube_dim_2": [0, 1, 2]})
    expected_stats = xr.Dataset(
        {"tuning": (("chain", "draw"), np.zeros((2, 4), dtype=bool)),  # kept, as nutpie does
         "note": (("chain", "draw"), note), "energy": (("chain", "draw"), energy)},
        coords={"chain": [0, 1], "draw": [0, 1, 2, 3]})
    assert post.identical(expected_post)
    assert stats.identical(expected_stats)
    assert list(post.data_vars) == ["x", "v", "m", "cube", "n"]


def test_null_rows_in_long_chains_and_mostly_null_list_columns():
    """300 kept rows (row counts above 256 are not cached ints: compared by value), a
    scalar column with null rows, and a list column with more null rows than items."""
    rows = [_row(0, d, null_v=d % 3 != 0, null_note=d % 2 == 0, null_energy=d == 5)
            for d in range(301)]
    compiled = SimpleNamespace(reparameterized_names=[], coords={"obs": ["p", "q"]})
    tree = T.trace_to_tree(Trace([_draw_batch(rows)], [_stat_batch(1, rows)]), compiled)
    kept = rows[1:]
    v = np.array([[np.nan, np.nan] if r["v"] is None else r["v"] for r in kept])
    np.testing.assert_array_equal(tree["posterior"]["v"].values[0], v)
    assert tree["sample_stats"]["note"].values[0].tolist() == [r["note"] for r in kept]
    energy = [np.nan if r["energy"] is None else r["energy"] for r in kept]
    np.testing.assert_array_equal(tree["sample_stats"]["energy"].values[0], energy)


def test_a_list_column_with_as_many_items_as_rows():
    """A 2-vector column with one null row in two: 2 items for 2 rows, still a list column
    (found by mutation testing: the old rule compared the item count with the row count)."""
    rows = [_row(0, d, null_v=d == 0) for d in range(2)]
    compiled = SimpleNamespace(reparameterized_names=[], coords={"obs": ["p", "q"]})
    tree = T.trace_to_tree(Trace([_draw_batch(rows)], [_stat_batch(0, rows)]), compiled)
    assert np.isnan(tree["posterior"]["v"].values[0, 0]).all()


def test_dims_missing_from_the_coordinates_are_numbered():
    rows = [_row(0, d, null_note=False) for d in range(3)]
    compiled = SimpleNamespace(reparameterized_names=[], coords={})
    tree = T.trace_to_tree(Trace([_draw_batch(rows)], [_stat_batch(1, rows)]), compiled)
    post = tree["posterior"].to_dataset()
    assert post["obs"].values.tolist() == [0, 1]
    assert post["x_log__"].values.tolist() == [[0.0, 0.0]]
    assert post.sizes == {"chain": 1, "draw": 2, "obs": 2, "m_dim_0": 2, "m_dim_1": 2,
                          "cube_dim_0": 1, "cube_dim_1": 2, "cube_dim_2": 3}


def test_a_trace_whose_first_variable_is_a_vector():
    """The chain and draw counts come from the first variable, here of three dims."""
    rows = [_row(1, d) for d in range(4)]
    compiled = SimpleNamespace(reparameterized_names=["x"], coords={"obs": ["p", "q"]})
    tree = T.trace_to_tree(Trace([_draw_batch(rows)], [_stat_batch(1, rows)]), compiled)
    post = tree["posterior"].to_dataset()
    assert list(post.data_vars)[0] == "v"
    assert post["chain"].values.tolist() == [0] and post["draw"].values.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(post["v"].values[0], [r["v"] for r in rows[1:]])


def test_a_trace_without_variables_gives_empty_groups():
    rows = [_row(0, d) for d in range(2)]
    compiled = SimpleNamespace(reparameterized_names=["x", "v", "m", "cube", "n", "x_log__"],
                               coords={})
    tree = T.trace_to_tree(Trace([_draw_batch(rows)], [_stat_batch(0, rows)]), compiled)
    post = tree["posterior"].to_dataset()
    assert not post.data_vars and dict(post.sizes) == {"chain": 0, "draw": 0}


# ------------------------------------------------------------------ data groups
def test_data_groups_equal_pymcs_patch(runs):
    _, own = runs
    groups = T.data_groups(toy_model())
    assert sorted(groups) == ["constant_data", "observed_data"]
    for group, ds in groups.items():
        assert ds.drop_attrs().identical(plain(own, group)), group
    assert list(groups["constant_data"].data_vars) == ["k", "w"]
    assert groups["constant_data"]["w"].dims == ("w_dim_0", "w_dim_1")


def test_data_groups_read_current_values_and_search_the_graph_once(monkeypatch):
    model = toy_model.__wrapped__()  # a fresh model: nothing remembered for it
    calls = []

    def counting(find):
        def wrapped(m):
            calls.append(find.__name__)
            return find(m)
        return wrapped

    monkeypatch.setattr(T, "find_constants", counting(T.find_constants))
    monkeypatch.setattr(T, "find_observations", counting(T.find_observations))
    first = T.data_groups(model)
    with model:
        pm.set_data({"k": np.array([3.0, -4.0])})
    second = T.data_groups(model)
    assert sorted(calls) == ["find_constants", "find_observations"]
    assert first["constant_data"]["k"].values.tolist() == [1.0, 2.0]
    assert second["constant_data"]["k"].values.tolist() == [3.0, -4.0]
    assert second["constant_data"]["k"].dims == ("obs",)
    assert second["observed_data"]["y"].values.tolist() == [0.5, -0.3]
    other = toy_model.__wrapped__()  # another model has its own layout
    T.data_groups(other)
    assert len(calls) == 4


def test_a_dim_without_coordinate_values_is_numbered():
    with pm.Model() as model:
        model.add_coord("obs", length=3)  # a length, no values: model.coords["obs"] is None
        pm.Data("k", np.array([1.0, 2.0, 3.0]), dims="obs")
        mu = pm.Normal("mu")
        pm.Normal("y", mu, 1.0, observed=np.array([0.1, 0.2]))
    groups = T.data_groups(model)
    assert groups["constant_data"]["obs"].values.tolist() == [0, 1, 2]
    assert groups["observed_data"]["y"].dims == ("y_dim_0",)
    assert groups["observed_data"]["y_dim_0"].values.tolist() == [0, 1]
