"""IPE (models/rpsft/ipe.py): each fixed point checked with an IPE step written from the raw
columns and lifelines' AFT fitters (``tests/test_ipe.py``'s ``by_hand`` counterfactual times,
Branson & Whitehead 2002), the root finders on update functions whose fixed points are known,
and every field of the result. Written for the mutation run of issue 18 (record in
benchmarks/mutation.md, section ``models/rpsft/ipe.py``).

The module is loaded from its file (tests/isolated.py), so that each mutant is imported fresh
in a fork of a server that has already imported PyMC and lifelines.
"""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from isolated import load
from lifelines import CoxPHFitter, LogNormalAFTFitter, WeibullAFTFitter
from scipy import optimize
from test_ipe import by_hand

from pexsurv import TrialData, TrialDataError
from pexsurv.logrank import logrank_z
from pexsurv.models.rpsft.counterfactual import Counterfactual
from pexsurv.models.rpsft.estimate import TrialArrays
from pexsurv.simulate import simulate_rpsft, simulate_two_way_switching

ipe = load("models/rpsft/ipe.py")
Z975 = 1.959963984540054


@pytest.fixture(scope="module")
def one_way() -> TrialData:
    data = simulate_rpsft(200, seed=2)
    x = np.random.default_rng(2).normal(size=data.n)
    return dataclasses.replace(data, covariates={"x": x})


@pytest.fixture(scope="module")
def two_way() -> TrialData:
    return simulate_two_way_switching(200, seed=3)


def by_hand_one_way(data: TrialData, psi: float, recensor: bool = True):
    """rpsftm's counterfactual untreated times when the experimental arm is on therapy
    throughout and only control patients switch: control arm recensored at min(C, C e^psi)."""
    t, sw, c = data.time, data.switch_time, data.censor_time
    t_on = np.where(data.arm == 1, t, np.where(np.isfinite(sw), t - sw, 0.0))
    u = (t - t_on) + math.exp(psi) * t_on
    if not recensor:
        return u, data.event.astype(float)
    c_star = np.where(data.arm == 0, np.minimum(c, c * math.exp(psi)), np.inf)
    return np.minimum(u, c_star), data.event * (u <= c_star)


def reference_step(data: TrialData, psi: float, *, two_way: bool = False,
                   recensor: bool = True, fitter: type = WeibullAFTFitter,
                   location: str = "lambda_", covariate: bool = False) -> float:
    """One IPE update from the raw columns: minus lifelines' AFT arm coefficient on the
    control arm's counterfactual times against the experimental arm as observed (one-way)
    or always treated (two-way)."""
    exp = data.arm == 1
    if two_way:
        u, e = by_hand(data, psi)
        t = np.where(exp, math.exp(-psi) * u, u)
    else:
        u, e = by_hand_one_way(data, psi, recensor)
        t, e = np.where(exp, data.time, u), np.where(exp, data.event, e)
    frame = pd.DataFrame({"t": t, "e": e, "arm": exp.astype(float)})
    if covariate:
        frame["x"] = data.covariates["x"]
    return -float(fitter().fit(frame, "t", "e").params_[(location, "arm")])


def cox_log_hr(time, event, exp) -> float:
    frame = pd.DataFrame({"t": time, "e": event, "arm": exp.astype(float)})
    return CoxPHFitter().fit(frame, "t", "e").params_["arm"]


def arrays_of(data: TrialData, two_way: bool, covariates=(), **options):
    cf = Counterfactual.from_data(data, **{"recensor": True, "autoswitch": True,
                                           "treat_modifier": 1.0, **options})
    extra = {c: data.covariates[c] for c in covariates}
    return TrialArrays.from_data(data, cf, two_way=two_way, **extra)


# ---------------------------------------------------------------------------- root finding
def solve_with(monkeypatch, step, *, tol=1e-10, max_iter=100, psi_range=(-2.0, 2.0)):
    """ipe's solver on the update ``step(psi)`` (no data)."""
    monkeypatch.setattr(ipe, "_step", lambda arrays, psi, dist: step(psi))
    return ipe._solve(None, "weibull", tol, max_iter, psi_range)


def test_secant_finds_a_smooth_fixed_point(monkeypatch):
    psi, trace, how = solve_with(monkeypatch, lambda p: 0.5 * p - 0.3)
    assert how == "secant" and psi == pytest.approx(-0.6, abs=1e-12)
    assert trace[:2] == [(0.0, -0.3), (-0.3, pytest.approx(-0.45))]
    assert type(psi) is float


def test_a_jump_across_zero_is_found_by_brent(monkeypatch):
    # g(psi) = psi - step(psi) jumps from -0.2 to +0.2 at psi = 0.35: no exact fixed point.
    psi, trace, how = solve_with(monkeypatch, lambda p: 0.55 if p < 0.35 else 0.15, tol=1e-9)
    assert how == "brent" and psi == pytest.approx(0.35, abs=2e-9)
    assert trace[0] == (0.0, 0.55)


def test_secant_root_outside_the_range_falls_back(monkeypatch):
    with pytest.warns(UserWarning, match="no fixed point"):
        psi, _, how = solve_with(monkeypatch, lambda p: 0.5 * p - 0.3, psi_range=(-0.5, 1.0))
    assert how == "failed" and math.isnan(psi)
    psi, _, how = solve_with(monkeypatch, lambda p: 0.5 * p - 0.3, psi_range=(-0.7, 1.0))
    assert how == "secant" and psi == pytest.approx(-0.6)
    psi, _, how = solve_with(monkeypatch, lambda p: 0.5 * p - 0.3, psi_range=(-2.0, -0.5))
    assert how == "secant"


@pytest.mark.parametrize("error", [ZeroDivisionError, ValueError])
def test_a_secant_step_that_raises_falls_back(monkeypatch, error):
    calls = []

    def step(p):  # the first secant iterate fails (e.g. a fit that cannot be done)
        calls.append(p)
        if len(calls) == 3:
            raise error("no fit")
        return 0.5 * p - 0.3

    psi, _, how = solve_with(monkeypatch, step)
    assert how == "brent" and psi == pytest.approx(-0.6, abs=1e-9)


def test_the_secant_gets_twelve_steps(monkeypatch):
    # A triple root: the secant converges only linearly. At tol 0.003 it needs exactly 12
    # steps, at 0.0025 it needs 13 (scipy 1.x), so Brent's method finishes.
    def step(p):
        return p - (p - 0.3) ** 3

    psi, _, how = solve_with(monkeypatch, step, tol=0.003)
    assert how == "secant" and psi == pytest.approx(0.3, abs=0.01)
    psi, _, how = solve_with(monkeypatch, step, tol=0.0025)
    assert how == "brent" and psi == pytest.approx(0.3, abs=0.01)


def test_a_loose_secant_root_is_kept_only_when_g_is_small(monkeypatch):
    psi, _, how = solve_with(monkeypatch, lambda p: 0.5 * p - 0.3, tol=1e-3)
    assert abs(psi + 0.6) < 1e-3


def secant_returning(monkeypatch, root: float, converged: bool = True) -> None:
    """Replace the secant search by one that stops at ``root``: the acceptance rule alone."""
    fake = SimpleNamespace(converged=converged, root=root)
    monkeypatch.setattr(ipe, "optimize", SimpleNamespace(
        root_scalar=lambda g, **kwargs: (g(kwargs["x0"]), g(kwargs["x1"]), fake)[-1],
        brentq=optimize.brentq))


def test_a_secant_root_is_accepted_only_where_g_is_below_ten_tol(monkeypatch):
    tol = 2.0**-20
    step = lambda p: 0.5 * p + 0.125  # noqa: E731 - g(psi) = psi / 2 - 1/8: root 1/4
    secant_returning(monkeypatch, 0.25 + 20 * tol)  # |g| = 10 tol exactly: refused
    psi, _, how = solve_with(monkeypatch, step, tol=tol)
    assert how == "brent" and psi == pytest.approx(0.25, abs=tol)
    secant_returning(monkeypatch, 0.25 + 22 * tol)  # |g| = 11 tol: refused
    assert solve_with(monkeypatch, step, tol=tol)[2] == "brent"
    near = 0.25 + 18 * tol  # |g| = 9 tol
    secant_returning(monkeypatch, near)
    assert solve_with(monkeypatch, step, tol=tol) == (
        near, [(0.0, 0.125), (0.125, 0.1875), (near, step(near))], "secant")
    secant_returning(monkeypatch, near, converged=False)
    assert solve_with(monkeypatch, step, tol=tol)[2] == "brent"
    # A root exactly at either end of psi_range is accepted
    secant_returning(monkeypatch, near)
    for psi_range in ((near, 1.0), (-1.0, near)):
        assert solve_with(monkeypatch, step, tol=tol, psi_range=psi_range)[2] == "secant"


def test_no_fixed_point_in_range_warns_and_is_nan(monkeypatch):
    with pytest.warns(UserWarning, match=r"IPE found no fixed point: psi - step\(psi\) does not "
                      r"change sign in psi_range=\(-2.0, 2.0\); psi is NaN") as record:
        psi, trace, how = solve_with(monkeypatch, lambda p: 0.5 * p + 5.0)
    assert record[0].filename == __file__
    assert math.isnan(psi) and how == "failed"
    assert {-2.0, 2.0} <= {p for p, _ in trace}


def test_the_no_fixed_point_warning_points_at_the_caller_of_ipe(monkeypatch, one_way):
    monkeypatch.setattr(ipe, "_step", lambda arrays, psi, dist: 0.5 * psi + 5.0)
    with pytest.warns(UserWarning, match="IPE found no fixed point") as record:
        fit = ipe.ipe(one_way)
    assert record[0].filename == __file__ and math.isnan(fit.psi)
    assert fit.details["solver"] == "failed"


def test_brent_out_of_iterations_warns_at_the_caller_of_ipe(monkeypatch, one_way):
    # the jump of test_a_jump_across_zero_is_found_by_brent, with one Brent iteration allowed
    monkeypatch.setattr(ipe, "_step", lambda arrays, psi, dist: 0.55 if psi < 0.35 else 0.15)
    with pytest.warns(UserWarning, match=r"Brent's method stopped after max_iter=1 .*psi is "
                                         r"NaN\. Raise max_iter") as record:
        fit = ipe.ipe(one_way, max_iter=1)
    assert len(record) == 1 and record[0].filename == __file__
    assert math.isnan(fit.psi) and fit.details["solver"] == "failed"


def test_bracket():
    steps = {p: p - g for p, g in
             [(-1.0, -3.0), (-0.5, 1.0), (0.0, 2.0), (0.5, -0.5), (1.0, -1.0), (3.0, 4.0)]}
    # Sign changes between -1 and -0.5 and between 0 and 0.5; the smallest |g| is at 0.5.
    assert ipe._bracket(steps, -2.0, 2.0) == (0.0, 0.5)
    # Changes at pairs 0, 2 and 4, the smallest |g| at point 3: pair 2 is the nearest
    assert ipe._bracket(steps, -2.0, 5.0) == (0.0, 0.5)
    # Changes at pairs 0 and 4, the smallest |g| at point 3: pair 4 (middle 4.5) is nearer
    far = {float(p): p - g for p, g in enumerate([-1.0, 1.0, 2.0, 0.1, 3.0, -2.0])}
    assert ipe._bracket(far, 0.0, 5.0) == (4.0, 5.0)
    assert ipe._bracket(steps, -1.0, 0.0) == (-1.0, -0.5)  # bounds are inclusive
    assert ipe._bracket(steps, -0.5, 1.0) == (0.0, 0.5)
    assert ipe._bracket(steps, 0.5, 3.0) == (1.0, 3.0)
    assert ipe._bracket(steps, 1.0, 2.0) is None
    touch = {p: p - g for p, g in [(0.0, -1.0), (1.0, 0.0), (2.0, -1.0)]}
    assert ipe._bracket(touch, -1.0, 3.0) is None  # g touches 0: no change of sign
    lo, hi = ipe._bracket(steps, -2.0, 2.0)
    assert type(lo) is float and type(hi) is float
    nearer_low = {p: p - g for p, g in [(-1.0, -0.1), (0.0, 1.0), (1.0, -2.0), (2.0, -3.0)]}
    assert ipe._bracket(nearer_low, -5.0, 5.0) == (-1.0, 0.0)
    tie = {p: p - g for p, g in [(0.0, -1.0), (1.0, 1.0), (2.0, -1.0)]}
    assert ipe._bracket(tie, -5.0, 5.0) == (0.0, 1.0)  # equally near: the first


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"aft_dist": "gamma"}, "aft_dist"),
    ({"alpha": 0.0}, "alpha must be in"), ({"alpha": 1.0}, "alpha must be in"),
    ({"alpha": -0.1}, "alpha must be in"), ({"alpha": 1.5}, "alpha must be in"),
    ({"tol": 0.0}, "tol must be positive"), ({"tol": -1e-3}, "tol must be positive"),
    ({"max_iter": 0}, "max_iter"),
    ({"max_iter": 2.5}, "max_iter"),
    ({"max_iter": "5"}, "max_iter=5$"),  # text is refused, not compared (TypeError) or cast
    ({"n_boot": -1}, "n_boot must be a non-negative integer, got -1"),
    ({"n_boot": 1.5}, "n_boot"), ({"n_boot": "5"}, "got 5$"),
    ({"psi_range": (1.0, 1.0)}, "psi_range must be two finite increasing values"),
    ({"psi_range": (1.0, 0.5)}, r"psi_range must be two finite increasing values, got \(1.0, 0.5"),
    ({"psi_range": (-np.inf, 1.0)}, "psi_range"),
    ({"covariates": ["arm"]}, "arm"),
])
def test_invalid_options(one_way, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ipe.ipe(one_way, **kwargs)


def test_integer_valued_max_iter_is_accepted(monkeypatch, one_way):
    calls = stub_solver(monkeypatch, -0.4)
    for max_iter in (7.0, np.int64(7)):
        fit = ipe.ipe(one_way, max_iter=max_iter)
        assert fit.settings["max_iter"] == 7 and type(fit.settings["max_iter"]) is int
        assert type(calls[-1][3]) is int


def test_options_are_keyword_only(one_way):
    with pytest.raises(TypeError, match="positional"):
        ipe.ipe(one_way, "weibull")


def test_smallest_options_are_accepted(monkeypatch, one_way):
    stub_solver(monkeypatch, -0.4)
    fit = ipe.ipe(one_way, max_iter=1, tol=1e-300, n_boot=0.0, alpha=1e-9,
                  psi_range=(-1e-9, 1e-9))
    assert fit.settings["max_iter"] == 1 and fit.settings["psi_range"] == (-1e-9, 1e-9)
    assert fit.settings["n_boot"] == 0 and type(fit.settings["n_boot"]) is int


def test_experimental_modifier_must_be_one_nonzero_value(one_way):
    exp = one_way.arm == 1
    many = np.where(exp, 1.0 + np.arange(one_way.n) / 1000, 1.0)
    values = np.unique(many[exp])[:10].tolist()
    with pytest.raises(ValueError, match="one non-zero value within the experimental arm; "
                                         rf"got {values}".replace("[", r"\[")
                                                           .replace("]", r"\]")):
        ipe.ipe(one_way, treat_modifier=many)
    with pytest.raises(ValueError, match=r"got \[0.0\]"):
        ipe.ipe(one_way, treat_modifier=np.where(exp, 0.0, 1.0))

def test_the_control_arms_modifier_may_vary(monkeypatch, one_way):
    calls = stub_solver(monkeypatch, -0.4)
    exp = one_way.arm == 1
    modifier = np.where(exp, 0.5, 1.0 + np.arange(one_way.n) / 100)
    ipe.ipe(one_way, treat_modifier=modifier)
    assert ipe._experimental_modifier(calls[0][0].cf, exp) == 0.5
    assert type(ipe._experimental_modifier(calls[0][0].cf, exp)) is float
    # non-zero is the condition: a negative modifier is one value too
    ipe.ipe(one_way, treat_modifier=np.where(exp, -0.5, 1.0))
    assert ipe._experimental_modifier(calls[1][0].cf, exp) == -0.5


def test_recensoring_needs_censor_time(one_way):
    data = dataclasses.replace(one_way, censor_time=None)
    with pytest.raises(TrialDataError, match="censor_time"):
        ipe.ipe(data)
# ---------------------------------------------------------------------------- one step
def test_step_is_the_reference_step(one_way, two_way):
    assert ipe._step(arrays_of(one_way, False), -0.4, "weibull") == pytest.approx(
        reference_step(one_way, -0.4), abs=1e-7)
    assert ipe._step(arrays_of(two_way, True), -0.4, "weibull") == pytest.approx(
        reference_step(two_way, -0.4, two_way=True), abs=1e-7)
    # Modifier 2 in every arm: the counterfactual at psi is the unmodified one at 2 psi, and
    # the update divides by 2.
    arrays = arrays_of(one_way, False, ["x"], recensor=False, treat_modifier=2.0)
    step = reference_step(one_way, -0.8, recensor=False, fitter=LogNormalAFTFitter,
                          location="mu_", covariate=True)
    assert ipe._step(arrays, -0.4, "lognormal") == pytest.approx(step / 2, abs=1e-7)


# ---------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def fit_one(one_way):
    return ipe.ipe(one_way)


def test_psi_is_the_fixed_point_of_the_reference_step(fit_one, one_way):
    assert fit_one.psi == pytest.approx(reference_step(one_way, fit_one.psi), abs=1e-7)
    assert fit_one.details["solver"] == "secant" and fit_one.details["two_way"] is False
    evaluations = fit_one.details["evaluations"]
    assert evaluations[0] == (0.0, pytest.approx(reference_step(one_way, 0.0), abs=1e-7))
    assert evaluations[1][0] == evaluations[0][1]  # the secant starts at 0 and step(0)
    assert len({p for p, _ in evaluations}) == len(evaluations)  # each fit once
    assert fit_one.settings == {
        "aft_dist": "weibull", "recensor": True, "autoswitch": True, "treat_modifier": 1.0,
        "covariates": (), "tol": 1e-8, "max_iter": 100, "psi_range": (-2.0, 2.0),
        "alpha": 0.05, "n_boot": 0, "seed": None, "recensored_arms": ("0",), "n": 200,
        "population": one_way.population}
    assert type(fit_one.settings["treat_modifier"]) is float


# ---------------------------------------------------------------------------- at a given psi
def stub_solver(monkeypatch, psi: float) -> list:
    """ipe with its root finder replaced: psi is given, the arguments are recorded."""
    calls = []

    def solve(arrays, dist, tol, max_iter, psi_range):
        calls.append((arrays, dist, tol, max_iter, psi_range))
        return psi, [(psi, psi)], "stub"

    monkeypatch.setattr(ipe, "_solve", solve)
    return calls


def test_hazard_ratios_and_interval_at_psi(monkeypatch, one_way):
    calls = stub_solver(monkeypatch, -0.4)
    fit = ipe.ipe(one_way, covariates=["x"], aft_dist="lognormal", tol=1e-5, max_iter=7,
                  psi_range=(-1.5, 1.0))
    arrays, dist, tol, max_iter, psi_range = calls[0]
    assert (dist, tol, max_iter, psi_range) == ("lognormal", 1e-5, 7, (-1.5, 1.0))
    assert type(max_iter) is int and arrays.two_way is False
    np.testing.assert_array_equal(arrays.extra["x"], one_way.covariates["x"])
    exp = one_way.arm == 1
    u, e = by_hand_one_way(one_way, -0.4)
    time, event = np.where(exp, one_way.time, u), np.where(exp, one_way.event, e)
    b = cox_log_hr(time, event, exp)
    hr = fit.hr_adjusted
    assert hr["log_hr"] == pytest.approx(b, abs=1e-6)
    np.testing.assert_allclose(fit.counterfactual["time_cf"], time, rtol=1e-12)
    np.testing.assert_array_equal(fit.counterfactual["event_cf"], event)
    z = logrank_z(one_way.time, one_way.event, exp)
    assert fit.z_itt == pytest.approx(z, rel=1e-12)
    se_p = abs(b / z)
    p = fit.hr_adjusted_itt_p
    assert p["se"] == pytest.approx(se_p, rel=1e-6)
    assert p["lower"] == pytest.approx(math.exp(b - Z975 * se_p), rel=1e-6)
    assert p["upper"] == pytest.approx(math.exp(b + Z975 * se_p), rel=1e-6)
    half = Z975 * abs(-0.4 / z)
    assert fit.ci == pytest.approx((-0.4 - half, -0.4 + half), rel=1e-12)
    assert fit.ci_type == "log-rank p-value" and fit.method == "IPE"
    assert fit.hr is p and fit.boot is None and fit.hr_adjusted_boot is None
    assert fit.details == {"evaluations": [(-0.4, -0.4)], "solver": "stub", "two_way": False,
                           "hr_always_treated": None}
    assert fit.hr_itt["log_hr"] == pytest.approx(cox_log_hr(one_way.time, one_way.event, exp),
                                                 abs=1e-6)
    assert fit.settings["covariates"] == ("x",) and fit.settings["aft_dist"] == "lognormal"
    assert (fit.settings["tol"], fit.settings["max_iter"]) == (1e-5, 7)


def test_interval_around_a_positive_psi(monkeypatch, one_way):
    stub_solver(monkeypatch, 0.3)
    fit = ipe.ipe(one_way)
    half = Z975 * abs(0.3 / fit.z_itt)
    assert fit.ci == pytest.approx((0.3 - half, 0.3 + half), rel=1e-12)


def test_interval_when_the_experimental_arm_does_worse(monkeypatch):
    # A harmful treatment (psi > 0) gives a positive ITT log-rank Z: the test-based standard
    # errors use |Z| whatever its sign.
    data = simulate_rpsft(200, seed=2, psi=0.5)
    stub_solver(monkeypatch, 0.5)
    fit = ipe.ipe(data)
    assert fit.z_itt > 1.0
    half = Z975 * abs(0.5 / fit.z_itt)
    assert fit.ci == pytest.approx((0.5 - half, 0.5 + half), rel=1e-12)
    assert fit.hr_adjusted_itt_p["se"] == pytest.approx(
        abs(fit.hr_adjusted["log_hr"] / fit.z_itt), rel=1e-12)


def test_options_are_passed_and_recorded(monkeypatch, one_way):
    calls = stub_solver(monkeypatch, -0.4)
    exp = one_way.arm == 1
    fit = ipe.ipe(one_way, recensor=False, autoswitch=False, alpha=0.1,
                  treat_modifier=np.where(exp, 2.0, 1.5))
    cf = calls[0][0].cf
    assert (cf.recensored_arms, fit.settings["recensored_arms"]) == ((), ())
    np.testing.assert_array_equal(cf.modifier, np.where(exp, 2.0, 1.5))
    assert fit.settings["treat_modifier"] == "per-subject"
    assert (fit.settings["recensor"], fit.settings["autoswitch"]) == (False, False)
    half = 1.6448536269514722 * abs(-0.4 / fit.z_itt)
    assert fit.ci == pytest.approx((-0.4 - half, -0.4 + half), rel=1e-12)
    fit = ipe.ipe(one_way, autoswitch=False)
    assert calls[1][0].cf.recensored_arms == (0, 1)
    assert fit.settings["recensored_arms"] == ("0",)  # only the control arm's times are used


def test_two_way_hazard_ratios_at_psi(monkeypatch, two_way):
    stub_solver(monkeypatch, -0.4)
    fit = ipe.ipe(two_way)
    assert fit.details["two_way"] is True
    exp = two_way.arm == 1
    u, e = by_hand(two_way, -0.4)
    b = cox_log_hr(np.where(exp, two_way.time, u), np.where(exp, two_way.event, e), exp)
    assert fit.hr_adjusted["log_hr"] == pytest.approx(b, abs=1e-6)
    b_always = cox_log_hr(np.where(exp, math.exp(0.4) * u, u), e, exp)
    assert fit.details["hr_always_treated"]["log_hr"] == pytest.approx(b_always, abs=1e-6)


def test_two_way_bootstrap_replicates_report_the_observed_experimental_arm(monkeypatch,
                                                                          two_way):
    stub_solver(monkeypatch, -0.4)
    seen = []
    monkeypatch.setattr(ipe, "bootstrap_intervals",
                        lambda replicate, *args: seen.append(replicate) or ("b", (0, 0), {}))
    fit = ipe.ipe(two_way, n_boot=2)
    psi_b, log_hr = seen[0](np.arange(two_way.n))
    assert log_hr == pytest.approx(fit.hr_adjusted["log_hr"], rel=1e-9)
    assert abs(log_hr - fit.details["hr_always_treated"]["log_hr"]) > 0.01


def test_late_start_alone_is_two_way(monkeypatch):
    df = pd.DataFrame({"t": [2.0, 3.0, 4.0, 5.0, 1.5, 2.5, 3.5, 4.5, 6.0, 2.2],
                       "e": [1, 1, 0, 1, 1, 1, 0, 1, 1, 1], "arm": [0] * 5 + [1] * 5,
                       "start": [np.nan] * 5 + [0.0, 0.0, 0.5, 0.0, 0.0],
                       "sw": [1.0, np.nan, np.nan, 2.0, np.nan] + [np.nan] * 5, "c": 7.0})
    data = TrialData.from_dataframe(df, time="t", event="e", arm="arm", switch_time="sw",
                                    treatment_start="start", censor_time="c")
    calls = stub_solver(monkeypatch, -0.4)
    assert ipe.ipe(data).details["two_way"] is True and calls[0][0].two_way is True
    on_time = data.derive(np.ones(data.n, bool), treatment_start=np.where(
        data.arm == 1, 0.0, np.nan))
    assert ipe.ipe(on_time).details["two_way"] is False and calls[1][0].two_way is False


def test_without_a_fixed_point_everything_is_nan(monkeypatch, two_way):
    stub_solver(monkeypatch, math.nan)
    fit = ipe.ipe(two_way)
    assert math.isnan(fit.psi) and np.isnan(fit.ci).all() and fit.ci_type == "none"
    for hr in (fit.hr_adjusted, fit.hr_adjusted_itt_p):
        assert list(hr) == ["hr", "lower", "upper", "log_hr", "se"]
        assert np.isnan(list(hr.values())).all()
    assert fit.hr_adjusted is not fit.hr_adjusted_itt_p
    assert fit.counterfactual["time_cf"].isna().all()
    assert (fit.counterfactual["event_cf"] == 0).all()
    assert fit.details["hr_always_treated"] is None and fit.details["two_way"] is True


def test_itt_z_of_zero_gives_infinite_intervals(monkeypatch, one_way):
    stub_solver(monkeypatch, -0.4)
    monkeypatch.setattr(ipe, "logrank_z", lambda *args, **kwargs: 0.0)
    fit = ipe.ipe(one_way)
    assert fit.hr_adjusted_itt_p["se"] == math.inf and fit.hr_adjusted_itt_p["upper"] == math.inf
    assert fit.ci == (-math.inf, math.inf)


def test_bootstrap_wiring(monkeypatch, one_way):
    stub_solver(monkeypatch, -0.4)
    seen = []

    def intervals(replicate, arrays, n_boot, seed, hr_adjusted, alpha):
        seen.append((replicate, arrays, n_boot, seed, hr_adjusted, alpha))
        return "boot", (-1.0, 0.5), {"hr": 2.0}

    monkeypatch.setattr(ipe, "bootstrap_intervals", intervals)
    fit = ipe.ipe(one_way, n_boot=4, seed=9, alpha=0.1)
    replicate, arrays, n_boot, seed, hr_adjusted, alpha = seen[0]
    assert (n_boot, seed, alpha) == (4, 9, 0.1) and hr_adjusted is fit.hr_adjusted
    assert (fit.boot, fit.ci, fit.hr_adjusted_boot) == ("boot", (-1.0, 0.5), {"hr": 2.0})
    assert fit.ci_type == "bootstrap percentile" and fit.hr is fit.hr_adjusted_boot
    assert fit.settings["n_boot"] == 4 and fit.settings["seed"] == 9
    # A replicate on the whole sample gives the estimate itself; one without psi is NaN.
    psi_b, log_hr = replicate(np.arange(one_way.n))
    assert psi_b == -0.4 and log_hr == pytest.approx(fit.hr_adjusted["log_hr"], rel=1e-9)
    stub_solver(monkeypatch, math.nan)
    assert np.isnan(replicate(np.arange(one_way.n))).all()
