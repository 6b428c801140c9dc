"""Tiny trials, specs and compiled models shared by the fitting layer's mutation tests
(``tests/test_mutation_{fit,rpsft,nutpie_trace}.py``, issue 18).

A mutant costs one pytest run, and a nutpie (numba) compilation costs ~9 s of one on the
shared machine. The models here are compiled once per process (``functools.cache``; the
PEMs through ``pexsurv.fitting``'s own compile cache, which hands every later model of the
same graph the same compilation). A mutation run's fork server imports
``tests/fitting_tiny_warm.py`` (``PRELOAD``), which compiles them before it forks, so each
mutant's pytest starts with them compiled.
"""

from __future__ import annotations

import functools

import numpy as np
import pymc as pm

from pexsurv import TrialData
from pexsurv.fitting import SamplerConfig, compile_spec
from pexsurv.models import RPSFT, PiecewiseExponential
from pexsurv.simulate import simulate_rpsft, simulate_switch_at_progression

# 2 chains x 30 draws after 30 tuning steps: plumbing and conversions, not inference.
CONFIG = SamplerConfig(draws=30, tune=30, chains=2, seed=3, progress=False)
# One cut: every PEM below (ITT, RPSFT stage 2, TSE stage 2) has 2 intervals x 2 arms and
# the same graph, so one compilation serves them all.
CUTS = (1.0,)


@functools.cache
def rpsft_trial() -> TrialData:
    """100 patients with exact RPSFT structure (psi = -0.5) and switching."""
    return simulate_rpsft(100, seed=7)


@functools.cache
def tse_trial():
    """150 patients switching at progression (``SwitchAtProgression``)."""
    return simulate_switch_at_progression(150, seed=2)


def rpsft_spec(**changes) -> RPSFT:
    """A small Bayesian RPSFT spec: 3 psi draws, a 201-point grid."""
    return RPSFT(cuts=CUTS, n_psi_draws=3, grid_size=201, **changes)


@functools.cache
def compiled_pem():
    """The one-cut PEM on :func:`rpsft_trial`, compiled for nutpie (and remembered by
    ``pexsurv.fitting.compiled``: RPSFT's and TSE's stage-2 models re-use it)."""
    return compile_spec(PiecewiseExponential(cuts=CUTS), rpsft_trial(), CONFIG)


@functools.cache
def toy_model() -> pm.Model:
    """A model with every shape of variable nutpie's trace holds: a scalar, a positive
    (log-transformed: ``sigma_log__`` is in the raw trace, not in the posterior) scalar,
    a vector with named string coordinates, a deterministic matrix without dims,
    ``pm.Data`` with and without dims and an observed vector."""
    coords = {"group": ["a", "b", "c"], "obs": ["o1", "o2"]}
    with pm.Model(coords=coords) as model:
        mu = pm.Normal("mu")
        sigma = pm.HalfNormal("sigma")
        theta = pm.Normal("theta", mu, sigma, dims="group")
        pm.Deterministic("mat", pm.math.stack([theta, 2 * theta]))
        k = pm.Data("k", np.array([1.0, 2.0]), dims="obs")
        w = pm.Data("w", np.array([[1.0, 0.5], [0.25, 2.0]]))
        pm.Normal("y", (w @ theta[:2]) * k, 1.0, observed=np.array([0.5, -0.3]), dims="obs")
    return model


@functools.cache
def toy_compiled():
    """:func:`toy_model` compiled by nutpie directly (no pexsurv code in between)."""
    import nutpie

    return nutpie.compile_pymc_model(toy_model())


def warm() -> None:
    """Compile everything above (for the fork server)."""
    compiled_pem()
    toy_compiled()
    tse_trial()
