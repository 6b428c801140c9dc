"""Tiny models of one graph, compiled once per process, for the compiled-model layer's
mutation tests (``tests/test_mutation_compiled.py``, issue 18).

A nutpie (numba) compilation costs ~9 s on the shared machine; a mutant costs one pytest
run. The two compilations here are made by nutpie directly (no pexsurv code in between) and
kept by ``functools.cache``; a mutation run's fork server imports
``tests/compiled_tiny_warm.py`` (``PRELOAD``), which makes them before it forks, so each
mutant's pytest samples without compiling.
"""

from __future__ import annotations

import functools

import numpy as np
import pymc as pm

X_A = (0.5, 1.0, 2.0)
X_B = (3.0, -1.0, 0.25)


def tiny(x=X_A, *, c: float = 1.5, n_group: int = 2, labels: str = "g", w=(1.0,),
         unused=(1.0, 2.0), mu_name: str = "mu", det: str = "scaled",
         x_name: str = "x") -> pm.Model:
    """A model with a scalar, a vector over dim ``g`` (labels ``{labels}0``, ...), a
    deterministic scaled by the constant ``c``, ``pm.Data`` ``x`` (dims ``obs``) and ``w``
    in the likelihood, and ``pm.Data`` ``unused`` outside the log density (as cut points
    are for a PEM)."""
    coords = {"g": [f"{labels}{i}" for i in range(n_group)], "obs": ["a", "b", "c"]}
    with pm.Model(coords=coords) as model:
        mu = pm.Normal(mu_name)
        theta = pm.Normal("theta", mu, 1.0, dims="g")
        xd = pm.Data(x_name, np.asarray(x), dims="obs")
        wd = pm.Data("w", np.asarray(w))
        pm.Data("unused", np.asarray(unused))
        pm.Deterministic(det, c * mu)
        pm.Normal("y", mu + theta.sum() * xd * wd.sum(), 1.0,
                  observed=np.array([0.1, -0.2, 0.3]), dims="obs")
    return model


@functools.cache
def model_a() -> pm.Model:
    return tiny(X_A)


@functools.cache
def model_b() -> pm.Model:
    """The graph of :func:`model_a` with other data, dim labels and ``unused`` shape."""
    return tiny(X_B, labels="h", unused=(5.0, 6.0, 7.0))


@functools.cache
def compiled_a():
    import nutpie

    return nutpie.compile_pymc_model(model_a())


@functools.cache
def compiled_b():
    import nutpie

    return nutpie.compile_pymc_model(model_b())


def warm() -> None:
    """Compile both (for the fork server)."""
    compiled_a()
    compiled_b()
