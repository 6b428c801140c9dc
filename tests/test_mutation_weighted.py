"""The weighted kernels behind IPCW (models/rpsft/weighted.py) against independent references:
the two-group profile likelihood and the weighted Cox partial likelihood (Efron and Breslow,
counting-process rows, strata, a time-varying factor on the ``x = 0`` weights) written out
risk set by risk set and maximised with scipy; the model SE as the likelihood's curvature by
finite differences; the cluster-robust SE as the infinitesimal jackknife (the fit's derivative
in each cluster's weights) and as lifelines' ``CoxPHFitter(robust=True, cluster_col=...)``;
the pooled logistic fit against a brute-force likelihood. Written for the mutation run of
issue 18 (record in benchmarks/mutation.md, section ``models/rpsft/weighted.py``).

The module is loaded from its file (tests/isolated.py), so that each mutant is imported fresh.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from isolated import load
from lifelines import CoxPHFitter
from scipy import optimize, special

wt = load("models/rpsft/weighted.py")


# ------------------------------------------------------------------ two-group kernel
def profile_loglik(beta: float, r0, r1, d1, d) -> float:
    """The module docstring's l(beta), intervals with nobody at risk left out."""
    keep = (r0 + r1) > 0
    return float(np.sum(d1[keep] * beta - d[keep] * np.log(r0[keep] + np.exp(beta) * r1[keep])))


def test_two_group_log_hr_maximises_the_profile_likelihood_per_weight_set():
    rng = np.random.default_rng(5)
    r0, r1 = rng.uniform(20, 80, (3, 5)), rng.uniform(20, 80, (3, 5))
    d = rng.integers(2, 12, (3, 5)).astype(float)
    d1 = np.floor(d * rng.uniform(0.1, 0.9, (3, 5)))
    # Set 1 has an interval nobody is at risk in; set 2 a hazard ratio near e^-4, reached
    # only after several capped steps.
    r0[1, 2] = r1[1, 2] = d[1, 2] = d1[1, 2] = 0.0
    d1[2], r1[2] = 0.02 * d[2], 3 * r0[2]
    beta, info = wt.two_group_log_hr(r0, r1, d1, d)
    assert beta.shape == info.shape == (3,)
    for b in range(3):
        ref = optimize.minimize_scalar(lambda x: -profile_loglik(x, r0[b], r1[b], d1[b], d[b]),
                                       bounds=(-8, 8), method="bounded",
                                       options={"xatol": 1e-12}).x
        assert beta[b] == pytest.approx(ref, abs=1e-6)
        h = 1e-4
        curv = -(profile_loglik(beta[b] + h, r0[b], r1[b], d1[b], d[b])
                 - 2 * profile_loglik(beta[b], r0[b], r1[b], d1[b], d[b])
                 + profile_loglik(beta[b] - h, r0[b], r1[b], d1[b], d[b])) / h ** 2
        assert info[b] == pytest.approx(curv, rel=1e-4)
    assert beta[2] < -3.5
    # At the maximum the score is zero to the default tolerance (Newton converges
    # quadratically: far below 1e-10 once a step is).
    p = np.exp(beta)[:, None] * r1 / (r0 + np.exp(beta)[:, None] * r1 + (r0 + r1 == 0))
    np.testing.assert_allclose(d1.sum(1), (d * p).sum(1), rtol=0, atol=1e-9)


def test_two_group_log_hr_one_dimensional_input_and_the_docstring_case():
    beta, info = wt.two_group_log_hr(np.array([100.0, 50.0]), np.array([100.0, 50.0]),
                                     np.array([5.0, 2.0]), np.array([15.0, 6.0]))
    assert beta.shape == (1,)
    # Pooled: 7 of 21 events in group 1 with equal exposure -> HR = 7/14 = 0.5.
    assert math.exp(beta[0]) == pytest.approx(0.5, abs=1e-12)
    # Information at HR 0.5 and equal exposure: p = 1/3 in each interval.
    assert info[0] == pytest.approx(21 * (1 / 3) * (2 / 3), rel=1e-12)


def test_two_group_log_hr_without_events_stays_at_zero_with_zero_information():
    """A weight set with no events has score and information 0: beta stays 0 (no NaN),
    while the other sets of the batch are fitted."""
    r0 = np.array([[10.0, 10.0], [10.0, 10.0]])
    d = np.array([[0.0, 0.0], [4.0, 2.0]])
    d1 = np.array([[0.0, 0.0], [1.0, 1.0]])
    beta, info = wt.two_group_log_hr(r0, r0, d1, d)
    assert beta[0] == 0.0 and info[0] == 0.0
    assert math.exp(beta[1]) == pytest.approx(2 / 4, abs=1e-12)


def test_two_group_log_hr_cap_keeps_newton_from_diverging():
    """Almost all events in a small group 1: an uncapped Newton step from 0 goes to
    beta ~ 60, where the information is ~e^-60 and the next step is astronomically negative."""
    r0, r1 = np.array([1000.0]), np.array([1.0])
    d1, d = np.array([9.9]), np.array([10.0])
    beta, _ = wt.two_group_log_hr(r0, r1, d1, d)
    ref = optimize.minimize_scalar(lambda x: -profile_loglik(x, r0, r1, d1, d),
                                   bounds=(-20, 20), method="bounded",
                                   options={"xatol": 1e-12}).x
    assert beta[0] == pytest.approx(ref, abs=1e-6)
    assert beta[0] > 10


def test_two_group_log_hr_iteration_options():
    """``max_iter`` bounds the Newton steps (each capped at 1) and ``tol`` stops them."""
    r0, r1 = np.array([1000.0]), np.array([1.0])
    d1, d = np.array([9.9]), np.array([10.0])
    beta, _ = wt.two_group_log_hr(r0, r1, d1, d, max_iter=3)
    assert beta[0] == pytest.approx(3.0, abs=1e-12)
    # The same cap downwards: almost no events in a large group 1.
    down, _ = wt.two_group_log_hr(r1, r0, d - d1, d, max_iter=3)
    assert down[0] == pytest.approx(-3.0, abs=1e-12)
    full, _ = wt.two_group_log_hr(r0, r1, d1, d)
    loose, _ = wt.two_group_log_hr(r0, r1, d1, d, tol=0.5)
    assert abs(loose[0] - full[0]) > 1e-8
    assert abs(loose[0] - full[0]) < 0.5
    with pytest.raises(TypeError):
        wt.two_group_log_hr(r0, r1, d1, d, 3)  # options are keyword-only


# ------------------------------------------------------------------ weighted Cox
COLS = ("start", "stop", "event", "x", "w", "id")


def cox_loglik(beta: float, r: pd.DataFrame, ties: str,
               scale0: Callable[[float], float] | None = None) -> float:
    """Weighted Cox log partial likelihood, written risk set by risk set from the rows.

    At each event time of each stratum, a row's weight is its ``w`` (times ``scale0(t)`` for
    ``x = 0``). Efron (R survival, lifelines): the m tied deaths leave the risk set in m
    steps, k/m of their weighted total removed at step k, each step counting the deaths'
    mean weight. Breslow: each death's weight times the log of the whole risk set.
    """
    total = 0.0
    for _, s in r.groupby("stratum"):
        for t in np.unique(s.loc[s["event"] == 1, "stop"]):
            risk = s[(s["start"] < t) & (s["stop"] >= t)]
            w = risk["w"].to_numpy() * np.where(risk["x"] == 0,
                                                 1.0 if scale0 is None else scale0(t), 1.0)
            x = risk["x"].to_numpy()
            dead = ((risk["event"] == 1) & (risk["stop"] == t)).to_numpy()
            m = dead.sum()
            rel = w * np.exp(beta * x)
            total += float((w[dead] * beta * x[dead]).sum())
            if ties == "efron":
                mean_w = w[dead].sum() / m
                total -= mean_w * sum(math.log(rel.sum() - k / m * rel[dead].sum())
                                      for k in range(m))
            else:
                total -= float(w[dead].sum()) * math.log(rel.sum())
    return total


def cox_fit(r: pd.DataFrame, **kw):
    return wt.weighted_cox(*(r[c].to_numpy() for c in COLS), r["stratum"].to_numpy(), **kw)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """Two strata with different baselines, subjects split into two rows at a quarter-unit
    cut (delayed entry of the second row) with different weights, event times on a grid of
    1/4: tied deaths within and across arms. Subject ids are not 0..n-1."""
    rng = np.random.default_rng(7)
    n = 44
    x = rng.integers(0, 2, n).astype(float)
    stratum = rng.integers(0, 2, n)
    t = np.ceil(rng.exponential(np.exp(0.6 * x + 0.5 * stratum)) * 4) / 4
    e = (rng.uniform(size=n) < 0.8).astype(float)
    cut = np.floor(rng.uniform(0, 1, n) * t * 4) / 4
    ids = 1000 + 3 * np.arange(n)
    first = pd.DataFrame({"start": 0.0, "stop": np.where(cut > 0, cut, t),
                          "event": np.where(cut > 0, 0.0, e), "x": x,
                          "w": rng.uniform(0.5, 2.0, n), "id": ids, "stratum": stratum})
    split = cut > 0
    second = pd.DataFrame({"start": cut[split], "stop": t[split], "event": e[split],
                           "x": x[split], "w": rng.uniform(0.5, 2.0, split.sum()),
                           "id": ids[split], "stratum": stratum[split]})
    out = pd.concat([first, second], ignore_index=True)
    dead = out[out["event"] == 1]
    assert dead.groupby(["stratum", "stop"])["x"].agg(["size", "nunique"]).max().min() >= 2
    assert split.sum() > 10
    return out


def step_scale(t):
    """A step function of time, like the stabilising KM numerator."""
    return np.where(np.asarray(t) < 0.5, 1.0, np.where(np.asarray(t) < 1.25, 0.7, 0.45))


CASES = [("efron", None), ("breslow", None), ("efron", step_scale), ("breslow", step_scale)]


@pytest.mark.parametrize(("ties", "scale0"), CASES)
def test_weighted_cox_maximises_the_partial_likelihood_with_its_curvature(rows, ties, scale0):
    fit = cox_fit(rows, ties=ties, scale0=scale0)
    ref = optimize.minimize_scalar(lambda b: -cox_loglik(b, rows, ties, scale0),
                                   bounds=(-4, 4), method="bounded",
                                   options={"xatol": 1e-11}).x
    assert fit.log_hr == pytest.approx(ref, abs=1e-6)
    assert fit.ties == ties
    h = 1e-4
    curv = -(cox_loglik(fit.log_hr + h, rows, ties, scale0)
             - 2 * cox_loglik(fit.log_hr, rows, ties, scale0)
             + cox_loglik(fit.log_hr - h, rows, ties, scale0)) / h ** 2
    assert fit.se_model == pytest.approx(1 / math.sqrt(curv), rel=1e-4)


@pytest.mark.parametrize(("ties", "scale0"), CASES)
def test_weighted_cox_robust_se_is_the_infinitesimal_jackknife_by_cluster(rows, ties, scale0):
    """The sandwich is sum over clusters of (d beta / d log w_cluster)^2: numerical
    differentiation of the fit in each subject's weights (all its rows at once)."""
    fit = cox_fit(rows, ties=ties, scale0=scale0)
    eps = 1e-6
    influence = np.array([(cox_fit(rows.assign(w=rows["w"] * np.where(rows["id"] == i,
                                                                    1 + eps, 1.0)),
                                   ties=ties, scale0=scale0).log_hr - fit.log_hr) / eps
                          for i in np.unique(rows["id"])])
    assert fit.se_robust == pytest.approx(math.sqrt((influence ** 2).sum()), rel=2e-5)


def test_weighted_cox_robust_se_with_clusters_matches_lifelines():
    """One row per subject, no ties, clusters of two or three subjects: lifelines'
    ``CoxPHFitter(weights_col, robust=True, cluster_col)``."""
    rng = np.random.default_rng(2)
    n = 60
    x = rng.integers(0, 2, n).astype(float)
    df = pd.DataFrame({"start": 0.0, "stop": rng.exponential(np.exp(0.5 * x)),
                       "event": (rng.uniform(size=n) < 0.8).astype(float), "x": x,
                       "w": rng.uniform(0.5, 2.0, n), "id": rng.integers(0, 25, n)})
    fit = wt.weighted_cox(*(df[c].to_numpy() for c in COLS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines' advice on non-integer weights
        ref = CoxPHFitter().fit(df[["stop", "event", "x", "w", "id"]], "stop", "event",
                                weights_col="w", robust=True, cluster_col="id")
    assert fit.log_hr == pytest.approx(ref.params_["x"], abs=1e-7)
    assert fit.se_robust == pytest.approx(ref.standard_errors_["x"], rel=1e-6)
    assert fit.ties == "efron"  # the default


def test_weighted_cox_strata_default_and_covariate_types(rows):
    """No strata = one stratum; a boolean or integer covariate is the 0/1 covariate."""
    r = rows.assign(stratum=0)
    args = [r[c].to_numpy() for c in COLS]
    plain = wt.weighted_cox(*args)
    assert plain == cox_fit(r)
    args[3] = r["x"].to_numpy() == 1
    assert wt.weighted_cox(*args) == plain
    args[3] = r["x"].to_numpy().astype(np.int64)
    assert wt.weighted_cox(*args) == plain
    ref = optimize.minimize_scalar(lambda b: -cox_loglik(b, r, "efron"), bounds=(-4, 4),
                                   method="bounded", options={"xatol": 1e-11}).x
    assert plain.log_hr == pytest.approx(ref, abs=1e-6)


def test_weighted_cox_zero_weight_rows_are_absent(rows):
    """A row of weight 0 is as if it were not there (fit and robust SE)."""
    extra = rows.iloc[:6].assign(w=0.0, id=rows["id"].iloc[:6] + 1)
    both = cox_fit(pd.concat([rows, extra], ignore_index=True))
    alone = cox_fit(rows)
    assert both.log_hr == pytest.approx(alone.log_hr, abs=1e-12)
    assert both.se_robust == pytest.approx(alone.se_robust, rel=1e-10)


def test_weighted_cox_without_events_has_infinite_standard_errors():
    fit = wt.weighted_cox(np.zeros(4), np.arange(1.0, 5.0), np.zeros(4),
                          np.array([0.0, 1, 0, 1]), np.ones(4), np.arange(4))
    assert fit == wt.WeightedCox(log_hr=0.0, se_robust=np.inf, se_model=np.inf, ties="efron")


def test_weighted_cox_refuses_unknown_ties_and_is_frozen(rows):
    with pytest.raises(ValueError, match=r"^ties must be 'efron' or 'breslow', got 'exact'$"):
        cox_fit(rows, ties="exact")
    fit = cox_fit(rows)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.log_hr = 0.0
    with pytest.raises(TypeError):  # ties and scale0 are keyword-only
        wt.weighted_cox(*(rows[c].to_numpy() for c in COLS), None, "breslow")


# ------------------------------------------------------------------ pooled logistic
def logistic_nll(b: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    eta = x @ b
    return float(np.sum(np.logaddexp(0, eta) - y * eta))


def test_logistic_fit_matches_the_brute_force_likelihood():
    rng = np.random.default_rng(8)
    x = np.c_[np.ones(150), rng.normal(size=150), rng.integers(0, 2, 150)]
    y = (rng.uniform(size=150) < special.expit(x @ [-0.3, 0.9, -0.8])).astype(float)
    ref = optimize.minimize(logistic_nll, np.zeros(3), args=(x, y), method="BFGS",
                            options={"gtol": 1e-10})
    fit = wt.logistic_fit(x, y)
    assert fit.converged is True
    np.testing.assert_allclose(fit.coef, ref.x, atol=1e-5)
    np.testing.assert_allclose(fit.prob, special.expit(x @ ref.x), atol=1e-6)
    # Model SE: the inverse of the likelihood's curvature by central differences.
    h = 1e-4
    hess = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            e_i, e_j = np.eye(3)[i] * h, np.eye(3)[j] * h
            hess[i, j] = (logistic_nll(fit.coef + e_i + e_j, x, y)
                          - logistic_nll(fit.coef + e_i - e_j, x, y)
                          - logistic_nll(fit.coef - e_i + e_j, x, y)
                          + logistic_nll(fit.coef - e_i - e_j, x, y)) / (4 * h * h)
    np.testing.assert_allclose(fit.se, np.sqrt(np.diag(np.linalg.inv(hess))), rtol=1e-4)
    # The score is zero to the default tolerance.
    np.testing.assert_allclose(x.T @ (y - fit.prob), 0.0, atol=1e-8)


def test_logistic_fit_intercept_only_and_docstring_group_proportions():
    y = np.array([0, 0, 1, 0, 1, 1, 1, 0, 0, 0.0])
    fit = wt.logistic_fit(np.ones((10, 1)), y)
    assert fit.converged and fit.coef[0] == pytest.approx(math.log(0.4 / 0.6), abs=1e-14)
    np.testing.assert_allclose(fit.prob, 0.4, rtol=1e-14)
    assert fit.se[0] == pytest.approx(1 / math.sqrt(10 * 0.4 * 0.6), rel=1e-12)
    x = np.c_[np.ones(8), [0, 0, 0, 0, 1, 1, 1, 1.0]]
    fit = wt.logistic_fit(x, np.array([0, 0, 0, 1, 0, 1, 1, 1.0]))
    np.testing.assert_allclose(fit.prob, np.repeat([0.25, 0.75], 4), rtol=1e-10)
    np.testing.assert_allclose(fit.coef, [math.log(1 / 3), 2 * math.log(3)], atol=1e-10)


@pytest.mark.parametrize("y", [np.zeros(6), np.ones(6), np.array([0, 0, 0, 1, 1, 1.0])])
def test_logistic_fit_reports_separation_without_warnings(y):
    """No switch at all, only switches, or a covariate that predicts them: not converged."""
    x = np.c_[np.ones(6), [0, 0, 0, 1, 1, 1.0]]
    fit = wt.logistic_fit(x, y)
    assert fit.converged is False


def test_logistic_fit_singular_design_is_not_converged():
    x = np.c_[np.ones(6), np.ones(6)]  # two identical columns
    fit = wt.logistic_fit(x, np.array([0, 1, 0, 1, 1, 0.0]))
    assert fit.converged is False
    assert np.all(np.isinf(fit.se))


def test_logistic_fit_iteration_options():
    rng = np.random.default_rng(9)
    x = np.c_[np.ones(60), rng.normal(size=60)]
    y = (rng.uniform(size=60) < special.expit(x @ [0.2, 1.5])).astype(float)
    full = wt.logistic_fit(x, y)
    assert full.converged
    one = wt.logistic_fit(x, y, max_iter=1)
    assert not one.converged and np.abs(one.coef - full.coef).max() > 1e-4
    loose = wt.logistic_fit(x, y, tol=10.0)  # stops after the first step
    assert loose.converged and np.array_equal(loose.coef, one.coef)
    with pytest.raises(TypeError):
        wt.logistic_fit(x, y, 1)  # options are keyword-only
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.converged = False


def test_weighted_cox_is_invariant_to_the_scale_of_the_weights(rows):
    """Multiplying every weight by a constant changes neither the fit nor the sandwich SE
    (tiny weights give risk sets and information below 1)."""
    base = cox_fit(rows, scale0=step_scale)
    tiny = cox_fit(rows.assign(w=rows["w"] * 1e-3), scale0=step_scale)
    assert tiny.log_hr == pytest.approx(base.log_hr, abs=1e-9)
    assert tiny.se_robust == pytest.approx(base.se_robust, rel=1e-8)
    assert tiny.se_model == pytest.approx(base.se_model * math.sqrt(1e3), rel=1e-8)


def test_weighted_cox_stratum_with_only_a_zero_weight_death(rows):
    """A stratum whose only row is a death of weight 0: an event time with an empty
    weighted risk set, which contributes nothing (no NaN, no warning)."""
    alone_row = pd.DataFrame({"start": [0.0], "stop": [0.5], "event": [1.0], "x": [1.0],
                              "w": [0.0], "id": [1], "stratum": [7]})
    both = cox_fit(pd.concat([rows, alone_row], ignore_index=True))
    alone = cox_fit(rows)
    assert both.log_hr == pytest.approx(alone.log_hr, abs=1e-12)
    assert both.se_robust == pytest.approx(alone.se_robust, rel=1e-10)


def test_logistic_fit_starts_at_the_overall_log_odds():
    """The start (overall log odds in the intercept, 0 elsewhere) is the maximum when the
    covariate carries no information: one iteration settles, exactly."""
    x = np.c_[np.ones(8), [0, 0, 0, 0, 1, 1, 1, 1.0]]
    y = np.array([0, 0, 0, 1, 0, 0, 0, 1.0])  # 1 in 4 in both groups
    fit = wt.logistic_fit(x, y, max_iter=1)
    assert fit.converged
    np.testing.assert_allclose(fit.coef, [math.log(1 / 3), 0.0], atol=1e-14)
    one = wt.logistic_fit(np.ones((8, 1)), y, max_iter=1)
    assert one.converged and one.coef[0] == pytest.approx(math.log(1 / 3), abs=1e-14)
