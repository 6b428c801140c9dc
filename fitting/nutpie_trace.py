"""nutpie's raw trace to the groups a fit keeps, without the work nobody reads.

``nutpie.sample`` converts every chain's tuning *and* kept draws through ArviZ's
``from_dict`` (labelled-array building, deep copies, alignment) and then drops the tuning
groups; PyMC's ``patch_nutpie_idata`` then rebuilds the ``constant_data`` and
``observed_data`` groups through the same machinery, searching the model graph each time.
In a warm sweep fit that cost more than NUTS itself (``benchmarks/bench_sweep.md``). Here
the kept rows go straight from the Arrow columns into ``xarray`` (the same values, dtypes,
dims and coordinates), and which ``pm.Data`` make the data groups is found once per model.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pymc as pm
import xarray as xr
from pymc.backends.arviz import find_constants, find_observations
from pytensor.graph.basic import Variable

__all__ = ["OWN_CONVERSION_OPTIONS", "data_groups", "trace_to_tree"]

# Sample statistics nutpie's own conversion leaves out unless a ``store_*`` option asks for
# them (nutpie.sample._extract); they are in the raw trace regardless.
_UNSTORED = frozenset({
    "gradient", "unconstrained_draw", "mass_matrix_inv", "mass_matrix_eigvals",
    "mass_matrix_stds", "divergence_start", "divergence_end", "divergence_momentum",
    "divergence_start_gradient", "transformed_position", "transformed_gradient",
    "transformation_mu",
    # the trace's own chain and draw numbers: the coordinates of every group
    "chain", "draw"})
# Options that change what nutpie stores: with any of them, nutpie converts its trace.
OWN_CONVERSION_OPTIONS = frozenset({
    "store_gradient", "store_unconstrained", "store_mass_matrix", "store_divergences",
    "store_transformed", "zarr_store"})


def _meta(field: Any, key: bytes) -> list[str]:
    value = field.metadata.get(key, b"")
    return value.decode("utf-8").split(",") if value else []


def _columns(batches: list[Any], first: list[int], skip: frozenset[str] = frozenset()
             ) -> dict[str, tuple[list[str], np.ndarray]]:
    """Each column's item dims and its (chain, draw, *item) array of the rows from
    ``first[chain]`` on; chains cut short are padded (NaN, None or 0), as nutpie pads them."""
    rows = [b.num_rows - f for b, f in zip(batches, first)]
    out: dict[str, tuple[list[str], np.ndarray]] = {}
    for chain, (batch, start) in enumerate(zip(batches, first)):
        kept = batch.slice(start, rows[chain])
        for name in kept.column_names:
            if name in skip:
                continue
            col = pa.array(kept.column(name))
            field = kept.schema.field(name)
            shape = tuple(int(s) for s in _meta(field, b"shape"))
            nulls = col.is_null().to_numpy(zero_copy_only=False)
            is_list = hasattr(col, "flatten")
            if is_list:  # a list column: one fixed-shape item per row
                col = col.flatten()
            values = col.to_numpy(zero_copy_only=False)
            if name not in out:
                dtype = np.dtype(col.type.to_pandas_dtype())
                full = (len(batches), max(rows), *shape)
                fill = np.nan if dtype.kind == "f" else None if dtype.kind == "O" else 0
                out[name] = (_meta(field, b"dims"), np.full(full, fill, dtype=dtype))
            target = out[name][1][chain, :rows[chain]]
            if not nulls.any():
                target[...] = values.reshape((rows[chain], *shape))
            else:
                # A scalar column holds a (null) value for every row; a flattened list
                # column holds items of the non-null rows only. (Telling them apart by the
                # item count misread a 2-vector column with one null row in two.)
                if not is_list:
                    values = values[~nulls]
                target[~nulls] = values.reshape((int((~nulls).sum()), *shape))
    return out


def _dataset(columns: Mapping[str, tuple[list[str], np.ndarray]],
             coords: Mapping[str, Any]) -> xr.Dataset:
    variables, used = {}, {}
    for name, (dims, values) in columns.items():
        # ArviZ's names for dims nobody named: var_dim_0, var_dim_1, ...
        dims = dims or [f"{name}_dim_{i}" for i in range(values.ndim - 2)]
        variables[name] = (("chain", "draw", *dims), values)
        for i, dim in enumerate(dims):
            used[dim] = (np.asarray(coords[dim]) if dim in coords
                         else np.arange(values.shape[2 + i]))
    n_chains, n_draws = next(iter(columns.values()))[1].shape[:2] if columns else (0, 0)
    return xr.Dataset(variables, coords={"chain": np.arange(n_chains),
                                         "draw": np.arange(n_draws), **used})


def trace_to_tree(trace: Any, compiled: Any) -> xr.DataTree:
    """The ``posterior`` and ``sample_stats`` groups of a raw nutpie trace
    (``nutpie.sample(..., return_raw_trace=True)``): the draws after tuning, with the values,
    dtypes, dims and coordinates nutpie's own conversion gives them."""
    draws, stats = trace.get_arrow_trace()
    first = [int(pa.array(s.column("tuning")).to_numpy(zero_copy_only=False).sum())
             for s in stats]
    posterior = _columns(draws, first, frozenset(compiled.reparameterized_names))
    sample_stats = _columns(stats, first, _UNSTORED)
    coords = dict(compiled.coords)
    return xr.DataTree.from_dict({"posterior": _dataset(posterior, coords),
                                  "sample_stats": _dataset(sample_stats, coords)})


# Per model: which pm.Data make its constant_data and observed_data groups, with their dims
# and coordinates (the graph search runs once; the values are read at every fit).
_GROUPS: weakref.WeakKeyDictionary[pm.Model, dict[str, list]] = weakref.WeakKeyDictionary()


def _group_layout(model: pm.Model) -> dict[str, list]:
    layout = _GROUPS.get(model)
    if layout is None:
        by_name = {v.name: v for v in model.data_vars}
        observed = {rv.name: model.rvs_to_values[rv] for rv in model.observed_RVs
                    if rv.name in find_observations(model)}
        layout = {"constant_data": [(n, by_name[n]) for n in find_constants(model)],
                  "observed_data": list(observed.items())}
        _GROUPS[model] = layout
    return layout


def _value(var: Variable) -> np.ndarray:
    from pymc.pytensorf import extract_obs_data

    return np.asarray(extract_obs_data(var))


def data_groups(model: pm.Model) -> dict[str, xr.Dataset]:
    """The ``constant_data`` and ``observed_data`` groups of ``model`` with its current
    ``pm.Data`` values: the variables, dims and coordinates of PyMC's
    ``patch_nutpie_idata``."""
    coords = {k: v for k, v in model.coords.items() if v is not None}
    dims_of = model.named_vars_to_dims
    out = {}
    for group, members in _group_layout(model).items():
        variables, used = {}, {}
        for name, var in members:
            value = _value(var)
            dims = list(dims_of.get(name) or [f"{name}_dim_{i}" for i in range(value.ndim)])
            variables[name] = (dims, value)
            for i, dim in enumerate(dims):
                used[dim] = np.asarray(coords[dim]) if dim in coords else np.arange(value.shape[i])
        out[group] = xr.Dataset(variables, coords=used)
    return out
