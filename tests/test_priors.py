"""pexsurv.priors: priors as data (round trips, validation), their PyMC graphs, presets, resolution."""

from __future__ import annotations

import copy
import dataclasses
import doctest
import importlib
import math

import numpy as np
import pymc as pm
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import pexsurv.priors as P
from pexsurv._names import INTERVAL, LOG_HAZARD_BASE, LOG_HR, STRATUM
from pexsurv.priors import (
    AR1,
    Exponential,
    Gamma,
    GammaHazard,
    HalfNormal,
    IndependentNormal,
    Normal,
    RandomWalk,
    PriorSpec,
    StudentT,
    Uniform,
    UnknownPriorKeyError,
)

# The graphs, not pytensor's C backend, are under test: skipping C compilation keeps the
# module fast even with a cold compile cache.
FAST = {"mode": "FAST_COMPILE"}

COORDS_1D = {INTERVAL: [0, 1, 2, 3, 4]}
COORDS_2D = {STRATUM: ["a", "b", "c"], INTERVAL: [0, 1, 2, 3, 4]}

# -- hypothesis strategies ----------------------------------------------------------------
real = st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)
positive = st.floats(1e-6, 1e6)
bounds = st.tuples(real, real).filter(lambda t: t[0] < t[1])
scale_priors = st.one_of(st.builds(HalfNormal, positive), st.builds(Exponential, positive),
                         st.builds(Gamma, positive, positive))
unit_bounds = st.tuples(st.floats(-1, 1), st.floats(-1, 1)).filter(lambda t: t[0] < t[1])
optional_real = st.none() | real

families = st.one_of(
    st.builds(Normal, real, positive),
    st.builds(StudentT, positive, real, positive),
    scale_priors,
    bounds.map(lambda b: Uniform(*b)),
)
structures = st.one_of(
    st.builds(IndependentNormal, optional_real, positive),
    st.builds(GammaHazard, positive, st.none() | positive),
    st.builds(RandomWalk, optional_real, positive, scale_priors),
    st.builds(AR1, optional_real, positive, unit_bounds.map(lambda b: Uniform(*b)), scale_priors),
)
specs = families | structures


# -- data: round trips, equality, repr ----------------------------------------------------
@given(specs)
def test_dict_round_trip(spec):
    back = PriorSpec.from_dict(spec.to_dict())
    assert back == spec and type(back) is type(spec) and hash(back) == hash(spec)


@given(st.dictionaries(st.text(max_size=12), specs, max_size=4))
def test_toml_round_trip(priors):
    assert P.priors_from_toml(P.priors_to_toml(priors)) == priors


@given(specs)
def test_repr_rebuilds_the_spec(spec):
    assert eval(repr(spec), vars(P)) == spec


def test_dict_and_repr_forms():
    assert Normal(0, 1.5).to_dict() == {"dist": "Normal", "mu": 0.0, "sigma": 1.5}
    assert repr(Normal(0, 1.5)) == "Normal(mu=0, sigma=1.5)"
    assert repr(RandomWalk()) == "RandomWalk(mu=None, sigma_first=5, innovation=HalfNormal(sigma=0.5))"
    assert RandomWalk().to_dict() == {"dist": "RandomWalk", "sigma_first": 5.0,
                                      "innovation": {"dist": "HalfNormal", "sigma": 0.5}}


def test_toml_layout():
    text = P.priors_to_toml({LOG_HR: Normal(0, 1), LOG_HAZARD_BASE: RandomWalk(mu=-2.5)})
    assert text == (
        '[log_hr]\ndist = "Normal"\nmu = 0.0\nsigma = 1.0\n\n'
        '[log_hazard_base]\ndist = "RandomWalk"\nmu = -2.5\nsigma_first = 5.0\n'
        'innovation = { dist = "HalfNormal", sigma = 0.5 }\n'
    )
    with pytest.raises(ValueError, match="must be a table"):
        P.priors_from_toml("log_hr = 1.0\n")


def test_equality_hash_and_frozen():
    a, b = Normal(0, 1.5), Normal(mu=0.0, sigma=np.float64(1.5))
    assert a == b and hash(a) == hash(b) and len({a, b, Normal(0, 1)}) == 2
    assert a != IndependentNormal(0, 1.5) and a != StudentT(30, 0, 1.5)
    assert RandomWalk(innovation={"dist": "HalfNormal", "sigma": 0.5}) == RandomWalk()
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.sigma = 2.0


@pytest.mark.parametrize(
    ("make", "error", "text"),
    [
        (lambda: Normal(0, 0), ValueError, "Normal: sigma must be > 0, got 0"),
        (lambda: Normal(0, -1.5), ValueError, "sigma must be > 0"),
        (lambda: StudentT(0, 0, 1), ValueError, "StudentT: nu must be > 0"),
        (lambda: HalfNormal(float("nan")), ValueError, "sigma must be finite"),
        (lambda: Exponential(float("inf")), ValueError, "lam must be finite"),
        (lambda: Gamma(1, 0), ValueError, "Gamma: beta must be > 0"),
        (lambda: Uniform(1, 1), ValueError, "lower must be < upper"),
        (lambda: Normal("0", 1), TypeError, "mu must be a number"),
        (lambda: Normal(True, 1), TypeError, "mu must be a number"),
        (lambda: Normal(None, 1), ValueError, "mu is required"),
        (lambda: IndependentNormal(sigma=0), ValueError, "sigma must be > 0"),
        (lambda: GammaHazard(alpha=-1), ValueError, "alpha must be > 0"),
        (lambda: RandomWalk(innovation=Normal(0, 1)), ValueError, r"prior on \[0, inf\)"),
        (lambda: AR1(rho=Uniform(0, 2)), ValueError, r"Uniform within \[-1, 1\]"),
        (lambda: AR1(rho=HalfNormal(1)), ValueError, "rho must be a Uniform"),
        (lambda: PriorSpec.from_dict({"dist": "Norml", "mu": 0}), ValueError, "unknown PriorSpec family 'Norml'; valid: AR1"),
        (lambda: PriorSpec.from_dict({"mu": 0}), ValueError, "needs a 'dist' key"),
        (lambda: Normal.from_dict({"dist": "HalfNormal", "sigma": 1}), ValueError, "valid: Normal$"),
        (lambda: PriorSpec.from_dict({"dist": "Normal", "mu": 0, "sd": 1}), ValueError, r"unknown field\(s\) \['sd'\]"),
        (lambda: PriorSpec.from_dict({"dist": "Normal", "mu": 0}), ValueError, r"missing field\(s\) \['sigma'\]"),
    ],
)
def test_validation_errors(make, error, text):
    with pytest.raises(error, match=text):
        make()


# -- numpy side: logpdf, interval, median ---------------------------------------------------
FAMILY_EXAMPLES = [Normal(0.3, 1.5), StudentT(4, -1, 0.5), HalfNormal(0.5), Exponential(2.0),
                   Gamma(2.0, 3.0), Uniform(-1.0, 2.0)]


@pytest.mark.parametrize("prior", FAMILY_EXAMPLES, ids=repr)
def test_interval_and_median(prior):
    cdf = prior._scipy().cdf
    lo, hi = prior.interval(0.9)
    assert cdf(hi) - cdf(lo) == pytest.approx(0.9) and cdf(lo) == pytest.approx(0.05)
    assert cdf(prior.median()) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="prob must be in"):
        prior.interval(1.0)


# -- PyMC side ------------------------------------------------------------------------------
@pytest.mark.parametrize("prior", FAMILY_EXAMPLES, ids=repr)
def test_create_matches_scipy_logpdf(prior):
    values = np.array([*prior.interval(0.8), prior.median()])
    with pm.Model(coords={"k": range(3)}):
        x = prior.create("x", dims="k")
    np.testing.assert_allclose(pm.logp(x, values).eval(**FAST), prior.logpdf(values), rtol=1e-10)


def test_create_passes_pymc_keywords():
    with pm.Model() as model:
        Normal(0, 1).create("x", shape=(2,), initval=np.array([0.5, -0.5]))
    np.testing.assert_array_equal(model.initial_point()["x"], [0.5, -0.5])


def test_hyperparameters_as_data_change_logp_without_rebuild():
    prior = Normal(0, 1)
    with pm.Model() as model:
        prior.create(LOG_HR, params=P.hyper_data(LOG_HR, prior))
    logp = model.compile_logp(**FAST)
    point = {LOG_HR: np.array(0.4)}
    assert logp(point) == pytest.approx(prior.logpdf(0.4))
    for new in (Normal(0.7, 0.2), P.sceptical(0.7)):
        P.set_hyper_data(LOG_HR, new, model=model)
        assert logp(point) == pytest.approx(new.logpdf(0.4))
    with pytest.raises(ValueError, match="does not match the hyper-parameters"):
        P.set_hyper_data(LOG_HR, StudentT(3, 0, 1), model=model)


def test_structure_hyperparameters_as_data():
    prior = IndependentNormal(mu=-2.0, sigma=1.0)
    with pm.Model(coords=COORDS_1D) as model:
        prior.build(params=P.hyper_data(LOG_HAZARD_BASE, prior))
    logp = model.compile_logp(**FAST)
    point = {LOG_HAZARD_BASE: np.full(5, -1.0)}
    P.set_hyper_data(LOG_HAZARD_BASE, IndependentNormal(mu=-1.0, sigma=0.5), model=model)
    assert logp(point) == pytest.approx(5 * stats.norm(-1.0, 0.5).logpdf(-1.0))


def test_params_flat_names_and_unknown_override():
    assert AR1(mu=-1.0).params() == {"mu": -1.0, "sigma": 5.0, "rho_lower": 0.0, "rho_upper": 0.9,
                                     "sd_alpha": 4.0, "sd_beta": 10.0}
    with pm.Model(), pytest.raises(ValueError, match=r"unknown parameter\(s\) \['scale'\]"):
        Normal(0, 1).create("x", params={"scale": 1.0})


def _check_finite_at_initial_point(structure, coords):
    dims = tuple(coords)
    with pm.Model(coords=coords) as model:
        log_h = structure.build(dims=dims)
        # A stand-in Poisson likelihood, so that gradients flow through log_hazard_base.
        pm.Poisson("events", mu=pm.math.exp(log_h), observed=np.ones(model.shape_from_dims(dims)))
    assert log_h.name == LOG_HAZARD_BASE and model.named_vars_to_dims[LOG_HAZARD_BASE] == dims
    point = model.initial_point()
    assert np.isfinite(model.compile_logp(**FAST)(point))
    assert np.all(np.isfinite(model.compile_dlogp(**FAST)(point)))
    value = pm.draw(log_h, random_seed=1, **FAST)
    assert value.shape == model.shape_from_dims(dims) and np.all(np.isfinite(value))


@pytest.mark.parametrize("coords", [COORDS_1D, COORDS_2D], ids=["interval", "stratum-interval"])
@pytest.mark.parametrize("structure", [IndependentNormal(mu=-2.0), GammaHazard(beta=5.0),
                                       RandomWalk(mu=-2.0), AR1(mu=-2.0)], ids=repr)
def test_baseline_builds_with_finite_logp_and_gradient(structure, coords):
    _check_finite_at_initial_point(structure, coords)


def test_ar1_gradient_finite_at_rho_zero():
    # Uniform(-1, 1) starts NUTS at rho = 0 exactly, where a naive rho**0 has a NaN gradient.
    _check_finite_at_initial_point(AR1(mu=-2.0, rho=Uniform(-1.0, 1.0)), COORDS_1D)


def test_baseline_build_errors():
    with pm.Model(coords=COORDS_1D):
        with pytest.raises(ValueError, match="mu unset .None means data-driven"):
            RandomWalk().build()
        with pytest.raises(ValueError, match="must start with 'log_'"):
            GammaHazard(beta=1.0).build("hazard")
        with pytest.raises(ValueError, match="at least the interval"):
            IndependentNormal(mu=0.0).build(dims=())


def _draw(structure, replicates=4000):
    """Prior draws of the log hazards, one row per replicate.

    Replicates are strata of one draw: independent baselines that share the smoothing
    hyper-parameters, which the tests pin with narrow priors. One call instead of
    thousands keeps this fast.
    """
    with pm.Model(coords={STRATUM: range(replicates), INTERVAL: range(5)}):
        log_h = structure.build(dims=(STRATUM, INTERVAL))
    return pm.draw(log_h, random_seed=20240601, **FAST)


def test_random_walk_prior_draws():
    draws = _draw(RandomWalk(mu=-2.0, sigma_first=1.0, innovation=Uniform(0.49, 0.51)))
    # first interval ~ Normal(-2, 1); every step has sd tau ~ 0.5
    assert draws[:, 0].mean() == pytest.approx(-2.0, abs=0.1)
    assert draws[:, 0].std() == pytest.approx(1.0, rel=0.05)
    np.testing.assert_allclose(np.diff(draws, axis=1).std(axis=0), 0.5, rtol=0.05)


def test_ar1_prior_draws_are_stationary():
    sigma, rho, tau = 0.3, 0.8, 0.5
    # The marginal sd of the AR(1) with innovation sd tau is tau / sqrt(1 - rho^2).
    stationary = tau**2 / (1 - rho**2)
    sd = math.sqrt(stationary)
    draws = _draw(AR1(mu=-2.0, sigma=sigma, rho=Uniform(rho - 0.01, rho + 0.01),
                      sd=Uniform(sd - 0.01, sd + 0.01)))
    # log_h[j] = level + d[j]: Var = sigma^2 + tau^2 / (1 - rho^2) for every j (only if d[0]
    # starts from the stationary law), Cov(j, j+1) = sigma^2 + rho tau^2 / (1 - rho^2).
    np.testing.assert_allclose(draws.std(axis=0), math.sqrt(sigma**2 + stationary), rtol=0.05)
    lag1 = [np.corrcoef(draws[:, j], draws[:, j + 1])[0, 1] for j in range(4)]
    np.testing.assert_allclose(lag1, (sigma**2 + rho * stationary) / (sigma**2 + stationary), atol=0.03)
    assert draws.mean() == pytest.approx(-2.0, abs=0.05)


def test_data_driven_mean_is_honoured():
    data = P.data_driven_baseline(events_total=20, exposure_total=400.0)
    assert data == {LOG_HAZARD_BASE: {"mu": math.log(0.05)}}
    defaults = {LOG_HAZARD_BASE: IndependentNormal(sigma=0.5)}
    normal = P.resolve_priors(defaults, data)[LOG_HAZARD_BASE]
    assert _draw(normal).mean() == pytest.approx(math.log(0.05), abs=0.05)
    gamma = P.resolve_priors(defaults, data, {LOG_HAZARD_BASE: GammaHazard(alpha=2.0)})[LOG_HAZARD_BASE]
    assert gamma.beta == pytest.approx(40.0)  # prior mean alpha / beta = crude rate
    assert np.exp(_draw(gamma)).mean() == pytest.approx(0.05, rel=0.1)


@pytest.mark.parametrize(("events", "exposure"), [(0, 10.0), (5, 0.0), (float("nan"), 1.0)])
def test_data_driven_baseline_errors(events, exposure):
    with pytest.raises(ValueError, match="must be"):
        P.data_driven_baseline(events, exposure)


# -- log-HR presets ---------------------------------------------------------------------------
def test_hr_prior_matches_the_clinical_statement():
    prior = P.hr_prior(median=0.7, interval=(0.5, 0.98))
    q = stats.norm.ppf([0.025, 0.5, 0.975], prior.mu, prior.sigma)
    np.testing.assert_allclose(q, np.log([0.5, 0.7, 0.98]), atol=1e-6)
    eighty = P.hr_prior(median=0.7, interval=(0.5, 0.98), prob=0.8)
    assert stats.norm.ppf(0.9, eighty.mu, eighty.sigma) == pytest.approx(math.log(0.98), abs=1e-6)
    assert P.hr_prior(interval=(0.5, 2.0)) == Normal(0.0, math.log(2.0) / stats.norm.ppf(0.975))


def test_hr_prior_asymmetry():
    # 0.5 * 0.985 differs from 0.7**2 by rounding: least squares = mean log half-width
    near = P.hr_prior(median=0.7, interval=(0.5, 0.985))
    half = (math.log(0.985) - math.log(0.5)) / 2
    assert near.sigma == pytest.approx(half / stats.norm.ppf(0.975))
    with pytest.raises(ValueError, match=r"not symmetric .* Use median=0.7071"):
        P.hr_prior(median=0.7, interval=(0.5, 1.0))
    with pytest.raises(ValueError, match="inside the interval"):
        P.hr_prior(median=2.0, interval=(0.5, 1.0))


@pytest.mark.parametrize("prob", [0.05, 0.1])
@pytest.mark.parametrize("hr_alt", [0.6, 0.8, 1.25])
def test_sceptical_and_enthusiastic_tails(hr_alt, prob):
    scep, enth = P.sceptical(hr_alt, prob), P.enthusiastic(hr_alt, prob)
    alt = math.log(hr_alt)
    assert scep.mu == 0.0 and enth.mu == alt and scep.sigma == enth.sigma
    beyond_alt = stats.norm.cdf if hr_alt < 1 else stats.norm.sf
    assert beyond_alt(alt, 0.0, scep.sigma) == pytest.approx(prob, abs=1e-12)
    no_effect = stats.norm.sf if hr_alt < 1 else stats.norm.cdf
    assert no_effect(0.0, enth.mu, enth.sigma) == pytest.approx(prob, abs=1e-12)


@pytest.mark.parametrize(("hr_alt", "prob", "text"),
                         [(1.0, 0.05, "other than 1"), (-0.5, 0.05, "positive"), (0.7, 0.5, "prob")])
def test_tail_preset_errors(hr_alt, prob, text):
    with pytest.raises(ValueError, match=text):
        P.sceptical(hr_alt, prob)


def test_preset_registry():
    assert list(P.PRESETS) == ["vague", "weakly_informative", "sceptical", "enthusiastic", "hr_prior"]
    assert P.preset("vague") == Normal(0, 10) and P.preset("weakly_informative") == Normal(0, 1)
    assert P.preset("hr_prior", median=0.7, interval=(0.5, 0.98)) == P.hr_prior(0.7, interval=(0.5, 0.98))
    with pytest.raises(ValueError, match="unknown log-HR preset 'sceptic'; valid: vague, weakly_informative"):
        P.preset("sceptic")
    with pytest.raises(TypeError):
        P.PRESETS["mine"] = P.vague  # the registry is read-only


# -- resolution -------------------------------------------------------------------------------
DEFAULTS = {LOG_HAZARD_BASE: IndependentNormal(mu=-1.0, sigma=2.0), LOG_HR: Normal(0, 1)}
DATA = {LOG_HAZARD_BASE: {"mu": -3.0}}


@pytest.mark.parametrize(
    ("user", "data", "expected"),
    [
        (None, {}, IndependentNormal(mu=-1.0, sigma=2.0)),                       # default
        (None, DATA, IndependentNormal(mu=-3.0, sigma=2.0)),                     # data > default
        ({LOG_HAZARD_BASE: IndependentNormal(sigma=1.0)}, DATA, IndependentNormal(mu=-3.0, sigma=1.0)),
        ({LOG_HAZARD_BASE: IndependentNormal(mu=-5.0)}, DATA, IndependentNormal(mu=-5.0)),  # user > data
        ({LOG_HAZARD_BASE: IndependentNormal(mu=-5.0)}, {}, IndependentNormal(mu=-5.0)),    # user > default
        ({LOG_HAZARD_BASE: {"dist": "RandomWalk"}}, DATA, RandomWalk(mu=-3.0)),             # dict form
        ({LOG_HAZARD_BASE: GammaHazard()}, DATA, GammaHazard(beta=0.1 * math.exp(3.0))),
        ({LOG_HAZARD_BASE: GammaHazard(beta=1.0)}, DATA, GammaHazard(beta=1.0)),
    ],
)
def test_resolve_precedence(user, data, expected):
    snapshot = copy.deepcopy((DEFAULTS, data, user))
    resolved = P.resolve_priors(DEFAULTS, data, user)
    assert resolved == {LOG_HAZARD_BASE: expected, LOG_HR: Normal(0, 1)}
    assert (DEFAULTS, data, user) == snapshot and resolved is not DEFAULTS


@pytest.mark.parametrize("layer", ["user", "data_driven"])
def test_resolve_unknown_key_lists_valid_keys(layer):
    unknown = {"log_hr_typo": {"mu": 0.0} if layer == "data_driven" else Normal(0, 1)}
    kwargs = {"data_driven": {}, "user": None, layer: unknown}
    for error in (KeyError, ValueError):
        with pytest.raises(error, match=r"\['log_hr_typo'\]; valid names: log_hazard_base, log_hr$"):
            P.resolve_priors(DEFAULTS, **kwargs)
    assert issubclass(UnknownPriorKeyError, KeyError) and issubclass(UnknownPriorKeyError, ValueError)


def test_resolve_rejects_malformed_data_driven_values():
    with pytest.raises(ValueError, match=r"Normal has no field\(s\) \['beta'\]"):
        P.resolve_priors(DEFAULTS, {LOG_HR: {"beta": 1.0}})
    with pytest.raises(ValueError, match="must map field names to numbers"):
        P.resolve_priors(DEFAULTS, {LOG_HAZARD_BASE: -3.0})


# -- documentation --------------------------------------------------------------------------
@pytest.mark.parametrize("module", ["spec", "distributions", "baseline", "presets", "resolve",
                                    "toml_io", "hyper"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"pexsurv.priors.{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_public_api_is_exported():
    assert all(hasattr(P, name) for name in P.__all__)
    assert {"resolve_priors", "priors_to_toml", "priors_from_toml", "hr_prior", "PRESETS"} <= set(P.__all__)


def test_vague_priors_cover_every_parameter_flatly():
    every = P.vague_priors()
    assert set(every) == {LOG_HAZARD_BASE, LOG_HR, "log_hr_scale", "beta"}
    # Worth at most 1 / sigma**2 = 0.01 events each, the baseline centre left to the data.
    assert every[LOG_HAZARD_BASE] == IndependentNormal(mu=None, sigma=10.0)
    assert every[LOG_HR] == P.vague() == Normal(0, 10) and every["beta"] == Normal(0, 10)
    assert P.vague_priors([LOG_HR]) == {LOG_HR: Normal(0, 10)}
    with pytest.raises(ValueError, match=r"no vague prior for \['psi'\]"):
        P.vague_priors(["psi"])
