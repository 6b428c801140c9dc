"""The Bayesian RPSFT's MCMC-free parts (models/rpsft/bayes.py): the grid quasi-posterior of
psi, its quantiles, the paired adjusted log HR and its Bayesian-bootstrap draws, and the
``RPSFT`` specification. References are written from the formulas (a Normal log density from
scipy, a trapezoid CDF inverted by hand, the two-group piecewise-exponential likelihood solved
with scipy's brentq, immdef's counterfactual times from its raw columns). Written for the
mutation run of issue 18 (record in benchmarks/mutation.md, section ``models/rpsft/bayes.py``).

The module is loaded from its file (tests/isolated.py), so that each mutant is imported fresh
in a fork of a server that has already imported PyMC; nothing here samples.
"""

from __future__ import annotations

import dataclasses
import math
from types import MappingProxyType

import numpy as np
import pytest
import xarray as xr
from isolated import load
from scipy import optimize, stats

from pexsurv import TrialData
from pexsurv.models import PiecewiseExponential, z_on_grid
from pexsurv.priors import Normal, Uniform

bayes = load("models/rpsft/bayes.py")


@pytest.fixture(scope="module")
def small(immdef_data: TrialData) -> TrialData:
    return immdef_data.derive(np.arange(immdef_data.n) % 5 == 0)  # 200 patients


# ---------------------------------------------------------------------------- grid posterior
def test_grid_quantiles_invert_the_trapezoid_cdf():
    psi = np.array([0.0, 0.5, 0.7, 1.5, 2.0])
    dens = np.array([1.0, 3.0, 2.0, 0.5, 0.0])  # not normalised
    cdf = [0.0]
    for i in range(4):
        cdf.append(cdf[-1] + (dens[i] + dens[i + 1]) / 2 * (psi[i + 1] - psi[i]))
    cdf = np.array(cdf) / cdf[-1]
    probs = [0.0, 0.1, 0.5, 0.93, 1.0]
    expected = []
    for p in probs:  # the straight line between the grid points around p
        i = min(int(np.searchsorted(cdf, p, side="right")) - 1, 3)
        expected.append(psi[i] + (p - cdf[i]) / (cdf[i + 1] - cdf[i]) * (psi[i + 1] - psi[i]))
    grid = xr.Dataset({"density": ("psi", dens)}, coords={"psi": psi})
    np.testing.assert_allclose(bayes.grid_quantiles(grid, probs), expected, rtol=1e-12)


def test_psi_posterior_grid_is_prior_times_exp_minus_half_z_squared(small):
    grid = np.linspace(-1.5, 1.0, 251)
    g = bayes.psi_posterior_grid(small, Normal(-0.3, 0.4), grid, recensor=False)
    z = z_on_grid(small, grid, recensor=False).to_numpy()
    np.testing.assert_array_equal(g["z"].to_numpy(), z)
    log_density = stats.norm.logpdf(grid, -0.3, 0.4) - z**2 / 2
    np.testing.assert_allclose(g["log_density"].to_numpy(), log_density, rtol=1e-12)
    dens = np.exp(log_density)
    np.testing.assert_allclose(g["density"].to_numpy(), dens / np.trapezoid(dens, grid),
                               rtol=1e-9)
    assert g["density"].dims == ("psi",) and list(g.data_vars) == ["z", "log_density", "density"]
    np.testing.assert_array_equal(g["psi"].to_numpy(), grid)


def test_psi_posterior_grid_survives_a_log_density_far_below_zero(small):
    # A prior far from the data puts the log density near -2000 on the whole grid: exp() of it
    # is 0, so the density must be formed relative to its maximum (the ratios below are exact).
    grid = np.linspace(-1.5, 1.0, 51)
    g = bayes.psi_posterior_grid(small, Normal(8.0, 0.1), grid, recensor=False)
    log_density = g["log_density"].to_numpy()
    assert log_density.max() < -1000
    dens = g["density"].to_numpy()
    assert np.isfinite(dens).all() and np.trapezoid(dens, grid) == pytest.approx(1.0, rel=1e-12)
    top = int(np.argmax(log_density))
    shown = log_density - log_density[top] > -700  # exp() of it is a normal float
    np.testing.assert_allclose(np.log(dens[shown] / dens[top]),
                               log_density[shown] - log_density[top], atol=1e-9)


# ---------------------------------------------------------------------------- paired HR
def pem_log_hr(groups, cuts) -> float:
    """Maximum-likelihood log HR of group 1 against group 0 in a PH piecewise-exponential
    model with a free rate per interval: the profile score in beta solved by brentq.
    ``groups`` = ((time, event, weight) of group 0, of group 1)."""
    edges = np.concatenate([[0.0], cuts, [np.inf]])
    exposure, events = np.zeros((2, edges.size - 1)), np.zeros((2, edges.size - 1))
    for g, (time, event, w) in enumerate(groups):
        for t, e, wi in zip(time, event, w):
            for k in range(edges.size - 1):
                exposure[g, k] += wi * max(0.0, min(t, edges[k + 1]) - edges[k])
                if e and edges[k] < t <= edges[k + 1]:
                    events[g, k] += wi

    def score(beta):
        d = events.sum(axis=0)
        return events[1].sum() - np.sum(d * np.exp(beta) * exposure[1]
                                        / (exposure[0] + np.exp(beta) * exposure[1]))

    return optimize.brentq(score, -5.0, 5.0, xtol=1e-12)


def test_paired_log_hr_against_the_pem_likelihood(small):
    cuts, psi = (0.5, 1.2), -0.3
    exp = small.arm == 1
    # immdef's experimental arm is treated throughout and not recensored (autoswitch):
    # U = T exp(psi) with the observed event.
    u, e = small.time * math.exp(psi), small.event
    w = np.random.default_rng(1).exponential(size=(2, int(exp.sum())))
    out = bayes.paired_log_hr(small, psi, cuts, weights=w)
    assert out.shape == (2,)
    for b in range(2):
        expected = pem_log_hr([(u[exp], e[exp], w[b]),
                               (small.time[exp], small.event[exp], w[b])], cuts)
        assert out[b] == pytest.approx(expected, abs=1e-8)
    plain = bayes.paired_log_hr(small, psi, list(cuts))
    expected = pem_log_hr([(u[exp], e[exp], np.ones(exp.sum())),
                           (small.time[exp], small.event[exp], np.ones(exp.sum()))], cuts)
    assert plain.shape == (1,) and plain[0] == pytest.approx(expected, abs=1e-8)
    one = bayes.paired_log_hr(small, psi, (), weights=w[0])  # one interval, 1-d weights
    expected = pem_log_hr([(u[exp], e[exp], w[0]), (small.time[exp], small.event[exp], w[0])],
                          ())
    assert one.shape == (1,) and one[0] == pytest.approx(expected, abs=1e-8)


def test_paired_log_hr_options_reach_the_counterfactual_times(small):
    exp = small.arm == 1
    cuts = (0.7,)
    # autoswitch off recensors the compliant experimental arm: at psi > 0, U = T e^psi is
    # cut at min(C, C e^psi) = C.
    psi = 0.3
    u = small.time * math.exp(psi)
    cut = u > small.censor_time
    assert cut[exp].any()
    expected = pem_log_hr([(np.where(cut, small.censor_time, u)[exp],
                            np.where(cut, 0, small.event)[exp], np.ones(exp.sum())),
                           (small.time[exp], small.event[exp], np.ones(exp.sum()))], cuts)
    got = bayes.paired_log_hr(small, psi, cuts, autoswitch=False)[0]
    assert got == pytest.approx(expected, abs=1e-8)
    # By default (autoswitch) the compliant arm is not recensored
    default = pem_log_hr([(u[exp], small.event[exp], np.ones(exp.sum())),
                          (small.time[exp], small.event[exp], np.ones(exp.sum()))], cuts)
    assert bayes.paired_log_hr(small, psi, cuts)[0] == pytest.approx(default, abs=1e-8)
    assert bayes.paired_log_hr(small, psi, cuts, autoswitch=False, recensor=False)[0] != \
        pytest.approx(expected, abs=1e-3)
    np.testing.assert_array_equal(bayes.paired_log_hr(small, -0.2, cuts, treat_modifier=2.0),
                                  bayes.paired_log_hr(small, -0.4, cuts))


def test_adjusted_log_hr_draws_use_exponential_weights_in_order(small):
    psis = np.array([-0.4, -0.1, 0.2])
    draws = bayes.adjusted_log_hr_draws(small, psis, (0.8,), n_boot=3,
                                        rng=np.random.default_rng(4), recensor=False)
    assert draws.shape == (3, 3)
    rng = np.random.default_rng(4)
    n_exp = int((small.arm == 1).sum())
    for i, psi in enumerate(psis):
        w = rng.standard_exponential((3, n_exp))
        np.testing.assert_array_equal(
            draws[i], bayes.paired_log_hr(small, psi, (0.8,), weights=w, recensor=False))
    scalar = bayes.adjusted_log_hr_draws(small, -0.4, (0.8,), n_boot=2,
                                         rng=np.random.default_rng(4))
    assert scalar.shape == (1, 2)


def test_options_are_keyword_only(small):
    w = np.ones((1, int((small.arm == 1).sum())))
    with pytest.raises(TypeError, match="positional"):
        bayes.paired_log_hr(small, -0.3, (1.0,), w)
    with pytest.raises(TypeError, match="positional"):
        bayes.adjusted_log_hr_draws(small, np.array([-0.3]), (1.0,), 2, np.random.default_rng())
    with pytest.raises(TypeError, match="positional"):
        bayes.RPSFT(cuts=(1.0,)).adjusted_log_hr(small, 2, 1)


# ---------------------------------------------------------------------------- the spec
def test_defaults():
    spec = bayes.RPSFT(cuts=(1, 2.5))
    assert spec.cuts == (1.0, 2.5) and all(type(c) is float for c in spec.cuts)
    assert spec.psi_prior == Normal(0.0, 10.0) and spec.psi_range == (-2.0, 2.0)
    assert (spec.grid_size, spec.test, spec.recensor, spec.autoswitch) == \
        (4001, "logrank", True, True)
    assert spec.treat_modifier == 1.0 and spec.n_psi_draws == 200
    assert isinstance(spec.pem_priors, MappingProxyType) and dict(spec.pem_priors) == {}
    np.testing.assert_array_equal(spec.grid(), np.linspace(-2.0, 2.0, 4001))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.cuts = (1.0,)


def test_post_init_checks():
    with pytest.raises(TypeError, match=r"psi_prior must be a Prior \(e.g. Normal\(0, 1\)\), "
                                        r"got 0.5"):
        bayes.RPSFT(cuts=(1.0,), psi_prior=0.5)
    for bad in ((1.0, 1.0), (1.0, -1.0)):
        with pytest.raises(ValueError, match=r"psi_range must be \(low, high\) with low < high"):
            bayes.RPSFT(cuts=(1.0,), psi_range=bad)
    with pytest.raises(ValueError, match="grid_size must be >= 101"):
        bayes.RPSFT(cuts=(1.0,), grid_size=100)
    assert bayes.RPSFT(cuts=(1.0,), grid_size=101).grid_size == 101
    for name in ("n_psi_draws", "grid_size"):
        with pytest.raises(TypeError, match=name):
            bayes.RPSFT(cuts=(1.0,), **{name: 200.0})
        with pytest.raises(ValueError, match=name):
            bayes.RPSFT(cuts=(1.0,), **{name: 0})
    with pytest.raises(ValueError):  # the PEM checks its cuts at once
        bayes.RPSFT(cuts=(2.0, 1.0))
    spec = bayes.RPSFT(cuts=[1.0], psi_range=[-1, 1], n_psi_draws=np.int64(7),
                       pem_priors={"log_hr": Normal(0.0, 1.0)})
    assert spec.psi_range == (-1.0, 1.0) and type(spec.psi_range) is tuple
    assert all(type(v) is float for v in spec.psi_range)
    assert type(spec.n_psi_draws) is int and type(spec.cuts) is tuple
    assert spec.pem() == PiecewiseExponential(cuts=(1.0,), priors={"log_hr": Normal(0.0, 1.0)})


def test_dict_round_trip_and_hash():
    spec = bayes.RPSFT(cuts=(1.0, 2.0), psi_prior=Uniform(-3.0, 1.0), n_psi_draws=7,
                       pem_priors={"log_hr": Normal(0.0, 1.0)}, recensor=False)
    d = spec.to_dict()
    assert d["psi_prior"] == Uniform(-3.0, 1.0).to_dict()
    back = bayes.RPSFT.from_dict(d)
    assert back == spec and hash(back) == hash(spec) == hash(spec.spec_hash())
    assert bayes.RPSFT.from_dict(bayes.RPSFT(cuts=(1.0,)).to_dict()) == bayes.RPSFT(cuts=(1.0,))
    assert bayes.RPSFT.from_dict({**bayes.RPSFT(cuts=(1.0,)).to_dict(), "pem_priors": None}) \
        == bayes.RPSFT(cuts=(1.0,))
    assert hash(bayes.RPSFT(cuts=(1.0,))) != hash(bayes.RPSFT(cuts=(2.0,)))


def test_modifier_and_options(immdef_data):
    spec = bayes.RPSFT(cuts=(1.0,), test="cox", recensor=False, autoswitch=False,
                       treat_modifier=2)
    assert spec.modifier(immdef_data) == 2.0 and type(spec.modifier(immdef_data)) is float
    assert spec.counterfactual_options(immdef_data) == {"recensor": False, "autoswitch": False,
                                                        "treat_modifier": 2.0}
    assert spec.z_options(immdef_data) == {"test": "cox", "recensor": False,
                                           "autoswitch": False, "treat_modifier": 2.0}
    m = np.linspace(0.5, 1.5, immdef_data.n)
    data = dataclasses.replace(immdef_data, covariates={
        "m": m, "k": np.full(immdef_data.n, "a", dtype=object), "w": m * 2})
    np.testing.assert_array_equal(bayes.RPSFT(cuts=(1.0,), treat_modifier="m").modifier(data), m)
    for name in ("nope", "k"):
        with pytest.raises(ValueError, match=rf"treat_modifier='{name}' must name a numeric "
                                             r"covariate .* numeric covariates: \['m', 'w'\]"):
            bayes.RPSFT(cuts=(1.0,), treat_modifier=name).modifier(data)


def test_stage2_psi_are_the_mid_quantiles():
    spec = bayes.RPSFT(cuts=(1.0,), n_psi_draws=4)
    grid = xr.Dataset({"density": ("psi", np.ones(5))}, coords={"psi": np.linspace(0, 1, 5)})
    np.testing.assert_allclose(spec.stage2_psi(grid), [0.125, 0.375, 0.625, 0.875], rtol=1e-12)


@pytest.fixture(scope="module")
def spec() -> object:
    return bayes.RPSFT(cuts=(0.8,), psi_range=(-1.5, 1.0), grid_size=251, n_psi_draws=5,
                       psi_prior=Normal(-0.2, 0.5), recensor=False)


def test_psi_grid(spec, small):
    g = spec.psi_grid(small)
    ref = bayes.psi_posterior_grid(small, Normal(-0.2, 0.5), np.linspace(-1.5, 1.0, 251),
                                   recensor=False)
    xr.testing.assert_identical(g, ref)


def test_psi_grid_warns_on_mass_at_the_edges(small):
    narrow = bayes.RPSFT(cuts=(0.8,), psi_range=(-0.3, 0.0), grid_size=101)
    with pytest.warns(UserWarning, match=r"psi posterior has mass 0.0\d+ at the edge of "
                                         r"psi_range=\(-0.3, 0.0\); widen psi_range") as record:
        g = narrow.psi_grid(small)
    assert record[0].filename == __file__
    step = 0.3 / 100
    mass = (g["density"][0] + g["density"][-1]).item() * step
    assert f"mass {mass:.2g} at" in str(record[0].message)


def test_psi_grid_edge_mass_threshold(small, monkeypatch):
    # The warning fires above 1e-4 of mass in the two end cells, not at it. The grid step
    # is 2**-6, so the mass below is exactly the double nearest 1e-4.
    spec = bayes.RPSFT(cuts=(0.8,), psi_range=(-1.0, 1.0), grid_size=129)

    def flat_ends(mass):
        def grid(data, prior, grid, **options):
            dens = np.full(grid.size, 1.0)
            dens[[0, -1]] = mass * 32
            return xr.Dataset({"density": ("psi", dens)}, coords={"psi": grid})
        return grid

    monkeypatch.setattr(bayes, "psi_posterior_grid", flat_ends(1e-4))
    spec.psi_grid(small)  # no warning: errors would fail the test
    monkeypatch.setattr(bayes, "psi_posterior_grid", flat_ends(2e-4))
    with pytest.warns(UserWarning, match="mass 0.0002 at the edge"):
        spec.psi_grid(small)


def test_psi_grid_needs_switching(small):
    plain = dataclasses.replace(small, switch_time=None)
    with pytest.raises(ValueError, match=r"RPSFT needs switch_time \(and/or treatment_start\)"):
        bayes.RPSFT(cuts=(1.0,)).psi_grid(plain)
    started = dataclasses.replace(plain, treatment_start=np.where(small.arm == 1, 0.0, np.nan))
    bayes.RPSFT(cuts=(1.0,), psi_range=(-1.0, 1.0), grid_size=101).psi_grid(started)


def test_adjusted_log_hr_is_seeded_by_seed_and_m(spec, small):
    psis = spec.stage2_psi(spec.psi_grid(small))
    out = spec.adjusted_log_hr(small, n_boot=3, seed=11)
    expected = bayes.adjusted_log_hr_draws(small, psis, (0.8,), n_boot=3,
                                           rng=np.random.default_rng([11, 5]), recensor=False,
                                           autoswitch=True, treat_modifier=1.0)
    np.testing.assert_array_equal(out, expected)
    given = spec.adjusted_log_hr(small, n_boot=2, seed=11, psis=np.array([-0.5, 0.1]))
    np.testing.assert_array_equal(given, bayes.adjusted_log_hr_draws(
        small, np.array([-0.5, 0.1]), (0.8,), n_boot=2, rng=np.random.default_rng([11, 2]),
        recensor=False))


def test_resolved_priors(spec, small):
    priors = spec.resolved_priors(small)
    assert list(priors)[0] == "psi" and priors["psi"] == Normal(-0.2, 0.5)
    assert {k: v for k, v in priors.items() if k != "psi"} == spec.pem().resolved_priors(small)
