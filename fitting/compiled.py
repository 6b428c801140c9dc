"""Compile once, sample many: a built model with its nutpie compilation, reusable with new
data or new prior hyper-parameters of the same shapes.

Within a process, nutpie compilations are also shared between models whose log density
and deterministics are the *same computation* up to the values of their ``pm.Data``
inputs (:func:`same_graph`): PFS and OS fits with the same number of cut points, or a
stage-2 RPSFT model and the ITT PEM, compile once. The check compares the graphs
themselves (every constant included), so models that differ in anything but data never
share a compilation.

Sampling here runs exactly what the :class:`SamplerConfig` says, or fails: an interrupted
run (Ctrl-C) raises :class:`KeyboardInterrupt` instead of returning the partial trace that
nutpie, PyMC and ADVI hand back when they catch it themselves, and a run that returns fewer
draws than asked for is an error.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr
from pymc.backends.arviz import patch_nutpie_idata
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import equal_computations
from pytensor.graph.traversal import graph_inputs

from pexsurv.fitting.config import SamplerConfig
from pexsurv.fitting.nutpie_trace import OWN_CONVERSION_OPTIONS, data_groups, trace_to_tree

__all__ = ["CompiledModel", "IncompleteSamplingError", "clear_compile_cache", "compile_model",
           "same_graph"]


class IncompleteSamplingError(RuntimeError):
    """The sampler returned fewer (or NaN) draws than the configuration asked for."""


@contextlib.contextmanager
def _interrupts_propagate() -> Iterator[None]:
    """Raise :class:`KeyboardInterrupt` after the block when Ctrl-C arrived during it.

    nutpie, PyMC's samplers and ADVI catch ``KeyboardInterrupt`` and return the draws made
    so far (nutpie pads them with NaN), which would look like a poor fit. The SIGINT
    handler in force is kept (it still raises inside the sampler, which stops it); this
    only notes that it fired. Signals reach the main thread only, so elsewhere it does
    nothing.
    """
    previous = signal.getsignal(signal.SIGINT)
    if (threading.current_thread() is not threading.main_thread()
            or not callable(previous)):  # SIG_IGN / SIG_DFL / set outside Python: leave it
        yield
        return
    fired = []

    def noting(signum: int, frame: Any) -> Any:
        fired.append(signum)
        return previous(signum, frame)

    message = "fit interrupted (Ctrl-C): the partial draws were discarded"
    signal.signal(signal.SIGINT, noting)
    try:
        yield
    except Exception as exc:  # a sampler failing on its way out of an interrupt
        if fired:
            raise KeyboardInterrupt(message) from exc
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
    if fired:
        raise KeyboardInterrupt(message)


def _require_complete(idata: xr.DataTree, config: SamplerConfig) -> None:
    post = idata["posterior"].to_dataset()
    got = (post.sizes.get("chain"), post.sizes.get("draw"))
    if got != (config.chains, config.draws):
        raise IncompleteSamplingError(
            f"the sampler returned {got[0]} chain(s) x {got[1]} draws; the configuration asked "
            f"for {config.chains} x {config.draws}: the run did not complete")
    missing = [name for name, da in post.data_vars.items()
               if da.dtype.kind == "f" and np.isnan(da.values).any()]
    if missing:
        raise IncompleteSamplingError(
            f"the sampler returned NaN draws for {missing[:5]}: the run did not complete")


@dataclass(eq=False)
class CompiledModel:
    """A ``pm.Model`` and (for nutpie) its compiled form.

    ``set_data`` swaps the values of ``pm.Data`` inputs (likelihood rows, prior
    hyper-parameters) without recompiling; shapes must not change.

    Attributes
    ----------
    model : pymc.Model
    compiled : nutpie compiled model or None
    compile_seconds : float
    spec_hash : str, optional
        Hash of the spec the model was built from.
    structure : str, optional
        Hash of the model's structure (for a PEM,
        :func:`pexsurv.fitting.pem.structure_hash`: the spec without prior hyper-parameter
        values). ``fit`` refuses a model of another structure and re-uses it for any
        prior values, which are ``pm.Data``.
    shared_from : _Compilation, optional
        The kept nutpie compilation this model samples with: made for this model, or for
        another model of the same graph (:func:`same_graph`) and given this model's data.
    """

    model: pm.Model
    compiled: Any = None
    compile_seconds: float = 0.0
    spec_hash: str | None = None
    structure: str | None = None
    shared_from: _Compilation | None = None

    def data_values(self) -> dict[str, np.ndarray]:
        """Current values of every ``pm.Data`` input."""
        return {var.name: np.asarray(var.get_value()) for var in self.model.data_vars}

    def set_data(self, values: Mapping[str, Any]) -> None:
        """Replace ``pm.Data`` values (same shapes) in the model and its compilation."""
        current = self.data_values()
        unknown = sorted(set(values) - set(current))
        if unknown:
            raise KeyError(f"no pm.Data named {unknown}; data inputs: {sorted(current)}")
        new = {}
        for name, value in values.items():
            value = np.asarray(value, dtype=current[name].dtype)
            if value.shape != current[name].shape:
                raise ValueError(
                    f"pm.Data {name!r} has shape {current[name].shape}; got {value.shape}. "
                    "A compiled model serves only data of the same shape: rebuild instead."
                )
            new[name] = value
        # The model a shared compilation was made from is also read by its initial-point
        # function while another handle samples (_synced): change it under the lock.
        with self.shared_from.lock if self.shared_from is not None else contextlib.nullcontext():
            with self.model:
                pm.set_data(new)
        if self.compiled is not None:
            # nutpie knows only the inputs of the log density; the rest (e.g. cut points,
            # stratum weights) live on the pm.Model for the constant_data group.
            known = {var.name for var in self.compiled.shared_var_keys}
            self.compiled = self.compiled.with_data(**{k: v for k, v in new.items() if k in known})

    def prepare(self, config: SamplerConfig) -> float:
        """Compile for ``config`` if it needs a compilation this model lacks (a model
        compiled for PyMC's sampler, then sampled with nutpie); returns the seconds spent."""
        if not _needs_nutpie(config) or self.compiled is not None:
            return 0.0
        t0 = time.perf_counter()
        self.shared_from = _cached(self.model)
        if self.shared_from is None:
            import nutpie

            self.compiled = nutpie.compile_pymc_model(self.model)
            self.shared_from = _remember(self.model, self.compiled)
        else:
            self.compiled = self.shared_from.compiled
            self.set_data(self.data_values())  # this model's data into the shared form
        return time.perf_counter() - t0

    def sample(self, config: SamplerConfig) -> tuple[xr.DataTree, float]:
        """Draw from the posterior exactly as configured; returns the DataTree and the
        sampling seconds.

        Raises
        ------
        KeyboardInterrupt
            Ctrl-C during sampling (nothing is returned).
        IncompleteSamplingError
            The sampler returned fewer draws than configured.
        """
        self.prepare(config)
        t0 = time.perf_counter()
        with _interrupts_propagate():
            if config.method == "advi":
                options = dict(config.options)
                approx = pm.fit(n=options.pop("n"), method="advi", model=self.model,
                                random_seed=config.seed, progressbar=config.progress, **options)
                idata = approx.sample(config.draws, random_seed=config.seed)
            elif config.sampler == "nutpie":
                import nutpie

                # The raw trace, converted here (fitting.nutpie_trace): nutpie's and PyMC's
                # conversions cost more than a warm fit's NUTS. Options that change what
                # nutpie stores keep nutpie's own conversion.
                raw = not OWN_CONVERSION_OPTIONS & set(config.options)
                with self._synced():
                    out = nutpie.sample(self.compiled, draws=config.draws, tune=config.tune,
                                        chains=config.chains, seed=config.seed,
                                        progress_bar=config.progress, save_warmup=False,
                                        target_accept=config.target_accept,
                                        return_raw_trace=raw, **config.options)
                if raw:
                    idata = trace_to_tree(out, self.compiled)
                    for group, ds in data_groups(self.model).items():
                        idata[group] = xr.DataTree(ds)
                else:
                    idata = out
                    patch_nutpie_idata(idata, self.model,
                                       sampling_time=time.perf_counter() - t0)
                # A shared compilation names dims by the model it was compiled for.
                idata = relabel(idata, self.model.coords)
            else:
                idata = pm.sample(draws=config.draws, tune=config.tune, chains=config.chains,
                                  target_accept=config.target_accept, random_seed=config.seed,
                                  progressbar=config.progress, nuts_sampler=config.sampler,
                                  model=self.model, **config.options)
        _require_complete(idata, config)
        return idata, time.perf_counter() - t0

    @contextlib.contextmanager
    def _synced(self) -> Iterator[None]:
        """While sampling, hold the compilation's lock and give the model it was compiled
        from this model's data: nutpie draws initial points with that model's PyTensor
        function (prior centres are data), so the draws equal those of a compilation made
        for this model, bit for bit. Afterwards that model gets its own data back: it is
        another handle's ``model``, and must not be left holding this one's trial."""
        if self.shared_from is None:  # not compiled through prepare(): nothing shared
            yield
            return
        origin = self.shared_from.model
        current = {v.name: np.asarray(v.get_value()) for v in origin.data_vars}
        mine = {k: v for k, v in self.data_values().items()
                if k in current and v.shape == current[k].shape}
        with self.shared_from.lock:
            with origin:
                pm.set_data(mine)
            try:
                yield
            finally:
                with origin:
                    pm.set_data({k: current[k] for k in mine})


def relabel(idata: xr.DataTree, coords: Mapping[str, Any]) -> xr.DataTree:
    """``idata`` with each dim's coordinate values replaced by ``coords`` where the dim
    exists with the same length and other values (draws of a re-used graph carry the
    labels of the data it was built for). A copy when labels change, else ``idata``
    itself: copying the tree cost more than the rest of a warm fit's bookkeeping."""
    changes = {}
    for node in idata.subtree:
        ds = node.dataset
        new = {d: list(v) for d, v in coords.items()
               if v is not None and d in ds.dims and len(v) == ds.sizes[d]
               and list(ds[d].values) != list(v)}
        if new:
            changes[node.path] = new
    if not changes:
        return idata
    tree = idata.copy()
    for node in tree.subtree:
        if node.path in changes:
            node.dataset = node.to_dataset().assign_coords(changes[node.path])
    return tree


@dataclass(eq=False)
class _Compilation:
    """A nutpie compilation kept for re-use, with the model it was compiled from."""

    model: pm.Model
    compiled: Any
    lock: threading.Lock


# Most recent last; a handful of layouts covers a session (each holds numba code).
_CACHE: list[_Compilation] = []
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


def clear_compile_cache() -> None:
    """Forget every nutpie compilation kept for re-use in this process."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _cached(model: pm.Model) -> _Compilation | None:
    with _CACHE_LOCK:
        for entry in reversed(_CACHE):
            if same_graph(model, entry.model):
                _CACHE.remove(entry)
                _CACHE.append(entry)
                return entry
    return None


def _remember(model: pm.Model, compiled: Any) -> _Compilation:
    entry = _Compilation(model=model, compiled=compiled, lock=threading.Lock())
    with _CACHE_LOCK:
        _CACHE.append(entry)
        del _CACHE[:-_CACHE_SIZE]
    return entry


def _outputs(model: pm.Model) -> list:
    """What nutpie compiles: the log density and the deterministics, on value variables."""
    return [model.logp(), *model.replace_rvs_by_values(model.deterministics)]


def same_graph(a: pm.Model, b: pm.Model) -> bool:
    """Whether ``a`` and ``b`` compute the same log density and deterministics from their
    value variables and shared inputs paired by name: ``pm.Data`` of equal shapes and
    dtypes (their values may differ), every other shared input (dim lengths) and every
    constant equal.

    Examples
    --------
    >>> from pexsurv import datasets
    >>> from pexsurv.models import PiecewiseExponential
    >>> pfs, os_ = datasets.ct041_like("pfs"), datasets.ct041_like("os")
    >>> same_graph(PiecewiseExponential(cuts=[2.0, 6.0]).build(pfs),
    ...            PiecewiseExponential(cuts=[3.0, 9.0]).build(os_))
    True
    >>> same_graph(PiecewiseExponential(cuts=[2.0, 6.0]).build(pfs),
    ...            PiecewiseExponential(cuts=[2.0]).build(pfs))
    False
    """
    if ([v.name for v in a.value_vars] != [v.name for v in b.value_vars]
            or [d.name for d in a.deterministics] != [d.name for d in b.deterministics]):
        return False
    out_a, out_b = _outputs(a), _outputs(b)
    shared_a, shared_b = ({v.name: v for v in graph_inputs(out) if isinstance(v, SharedVariable)}
                          for out in (out_a, out_b))
    if shared_a.keys() != shared_b.keys():
        return False
    data = {v.name for v in a.data_vars}
    for name in shared_a:
        x, y = np.asarray(shared_a[name].get_value()), np.asarray(shared_b[name].get_value())
        if x.shape != y.shape or x.dtype != y.dtype or (name not in data
                                                         and not np.array_equal(x, y)):
            return False
    names = sorted(shared_a)
    return equal_computations(out_a, out_b,
                              in_xs=[*a.value_vars, *(shared_a[n] for n in names)],
                              in_ys=[*b.value_vars, *(shared_b[n] for n in names)])


def _needs_nutpie(config: SamplerConfig) -> bool:
    return config.method == "mcmc" and config.sampler == "nutpie"


def compile_model(model: pm.Model, config: SamplerConfig, *, spec_hash: str | None = None,
                  structure: str | None = None) -> CompiledModel:
    """Compile ``model`` for the configured sampler (nutpie compiles ahead; PyMC's own
    sampler and numpyro compile inside ``pm.sample``, so their compile time is counted as
    sampling time)."""
    compiled = CompiledModel(model=model, spec_hash=spec_hash, structure=structure)
    compiled.compile_seconds = compiled.prepare(config)
    return compiled
