"""Posterior-predictive replicate trials: each subject's posterior hazards (arm, stratum,
covariates), event times by inverting the cumulative hazard, and censoring times from the
observed censoring or the arm's reverse Kaplan-Meier, checked against references written
subject by subject (issue 18 mutation tests).

The module is loaded from its file (``tests/isolated.py``); the posteriors are hand-built.
"""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from isolated import load

from pexsurv import TrialData
from pexsurv.fitting import FitResult, SamplerConfig
from pexsurv.models import RPSFT, PiecewiseExponential
from pexsurv.models.design import covariate_matrix
from pexsurv.testing import fake_posterior

REP = load("diagnostics/replicate.py")
CUTS = (2.0, 4.0)


def trial(n: int = 16, *, seed: int = 0, strata: bool = False, covariate: bool = False,
          censor_time: bool = False) -> TrialData:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"id": np.arange(n), "time": rng.uniform(0.5, 8.0, n).round(1),
                       "event": rng.integers(0, 2, n), "arm": np.tile([0, 1], n // 2),
                       "site": np.repeat(["a", "b"], n // 2), "age": rng.normal(60, 8, n),
                       "cens": 9.0 + np.arange(n) / 10})
    kw = {"strata": "site"} if strata else {}
    if covariate:
        kw["covariates"] = ["age"]
    if censor_time:
        kw["censor_time"] = "cens"
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id", **kw)


def fitted(data: TrialData, *, strata: bool = False, covariate: bool = False) -> FitResult:
    hazards = [[0.3, 0.2, 0.1], [0.6, 0.1, 0.05]] if strata else [0.3, 0.2, 0.1]
    tree = fake_posterior(cuts=CUTS, hazards=hazards, hr=0.5, chains=2, draws=3, jitter=0.3,
                          seed=2, arms=data.arms)
    if strata:  # the levels as the data name them
        tree["posterior"] = xr.DataTree(tree["posterior"].to_dataset().assign_coords(
            stratum=list(data.stratum_levels)[::-1]))
        tree["constant_data"] = xr.DataTree(tree["constant_data"].to_dataset().assign_coords(
            stratum=list(data.stratum_levels)[::-1]))
    if covariate:
        post = tree["posterior"].to_dataset()
        beta = np.random.default_rng(3).normal(0, 0.1, (2, 3, 2))
        post["beta"] = (("chain", "draw", "covariate"), beta)
        post = post.assign_coords(covariate=["other", "age"])
        tree["posterior"] = xr.DataTree(post)
    spec = PiecewiseExponential(cuts=CUTS, strata=strata, covariates=("age",) if covariate else ())
    return FitResult(idata=tree, spec=spec, priors={}, data=data, sampler=SamplerConfig())


# ------------------------------------------------------------------- require_replicable
def test_require_replicable():
    REP.require_replicable(PiecewiseExponential(cuts=CUTS), "SBC")  # no error
    with pytest.raises(ValueError, match=r"^PPC supports PiecewiseExponential models, not RPSFT$"):
        REP.require_replicable(RPSFT(cuts=CUTS), "PPC")
    received = PiecewiseExponential(cuts=CUTS, exposure="received")
    with pytest.raises(ValueError) as err:
        REP.require_replicable(received, "SBC")
    assert str(err.value) == (
        "SBC supports exposure='assigned' only: a replicate trial under exposure='received' "
        "needs each subject's treatment start and switch times beyond the observed follow-up, "
        "which the data do not hold.")
    with pytest.raises(ValueError, match=r"do not hold\. Use LOO\.$"):
        REP.require_replicable(received, "SBC", "Use LOO.")


def test_from_result_refuses_other_models():
    fit = fitted(trial())
    fit = dataclasses.replace(fit, spec=PiecewiseExponential(cuts=CUTS, exposure="received"))
    with pytest.raises(ValueError, match=r"^posterior predictive checks supports exposure="
                                         r".*Compare such fits with pexsurv\.diagnostics\.loo "
                                         r"instead\.$"):
        REP.SubjectHazards.from_result(fit)


# ------------------------------------------------------------------- subject hazards
def reference_log_rates(fit: FitResult, strata: bool, covariate: bool) -> np.ndarray:
    """(sample, subject, interval) log hazards, subject by subject from the posterior."""
    post, data = fit.posterior, fit.data
    base = post["log_hazard_base"]
    log_hr = post["log_hr"].values.reshape(-1)
    if covariate:
        x, _, _ = covariate_matrix(data, ("age",))
        beta_age = post["beta"].sel(covariate="age").values.reshape(-1)
    out = np.empty((log_hr.size, data.n, 3))
    for i in range(data.n):
        b = base.sel(stratum=data.strata[i]) if strata else base
        rates = b.values.reshape(-1, 3) + (log_hr[:, None] if data.arm[i] == 1 else 0.0)
        if covariate:
            rates = rates + (beta_age * x[i, 0])[:, None]
        out[:, i] = rates
    return out


@pytest.mark.parametrize("strata, covariate", [(False, False), (True, False), (False, True)])
def test_subject_log_rates_against_a_loop(strata, covariate):
    data = trial(strata=strata, covariate=covariate)
    fit = fitted(data, strata=strata, covariate=covariate)
    h = REP.SubjectHazards.from_result(fit)
    assert h.n_samples == 6 and type(h.n_samples) is int
    np.testing.assert_array_equal(h.cuts, CUTS)
    expected = reference_log_rates(fit, strata, covariate)
    np.testing.assert_allclose(h.log_rates(np.arange(6)), expected, rtol=1e-12)
    samples = np.array([5, 0, 5])
    np.testing.assert_allclose(h.log_rates(samples), expected[samples], rtol=1e-12)
    assert (h.beta is None) is (not covariate)
    assert h.stratum.dtype == np.int64 and h.arm.dtype == np.int64
    with pytest.raises(FrozenInstanceError):
        h.cuts = None


def test_subject_hazards_are_not_compared_by_value():
    h = REP.SubjectHazards.from_result(fitted(trial()))
    assert h == h and h != dataclasses.replace(h)
    assert REP.__all__ == ["SubjectHazards", "censoring_times", "event_times",
                           "require_replicable"]


# ------------------------------------------------------------------- event times
def inverse_cumhaz(e: float, rates: np.ndarray) -> float:
    edges = [0.0, *CUTS, np.inf]
    for r, lo, hi in zip(rates, edges[:-1], edges[1:]):
        if e <= r * (hi - lo):
            return lo + e / r
        e -= r * (hi - lo)
    return np.inf


def test_event_times_invert_the_cumulative_hazard():
    rates = np.array([[[0.3, 0.2, 0.1], [1.0, 0.5, 2.0]], [[0.05, 0.05, 0.05], [3.0, 0.1, 0.4]]])
    got = REP.event_times(rates, np.array(CUTS), np.random.default_rng(7))
    e = np.random.default_rng(7).standard_exponential((2, 2))
    expected = [[inverse_cumhaz(e[s, i], rates[s, i]) for i in range(2)] for s in range(2)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


# ------------------------------------------------------------------- censoring times
def reverse_km(time: np.ndarray, event: np.ndarray):
    """Censoring times and the Kaplan-Meier of censoring just after each, by hand."""
    u = np.unique(time[event == 0])
    g, s = [], 1.0
    for t in u:
        s *= 1.0 - ((time == t) & (event == 0)).sum() / (time >= t).sum()
        g.append(s)
    return u, np.array(g)


def reference_censoring(data: TrialData, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.tile(data.time.astype(float), (size, 1))
    for arm in (0, 1):
        in_arm = data.arm == arm
        idx = np.nonzero(in_arm & (data.event == 1))[0]
        u, g = reverse_km(data.time[in_arm], data.event[in_arm])
        if u.size == 0:
            out[:, idx] = np.inf
            continue
        v = rng.random((size, idx.size))
        for j, i in enumerate(idx):
            before = [gk for uk, gk in zip(u, g) if uk < data.time[i]]
            g_before = before[-1] if before else 1.0  # G just before the event time
            for s in range(size):
                target = v[s, j] * g_before
                hit = [uk for uk, gk in zip(u, g) if gk <= target]
                out[s, i] = hit[0] if hit else np.inf
    return out


@pytest.mark.parametrize("seed", [0, 1, 5])
def test_censoring_times_against_a_subject_by_subject_search(seed):
    data = trial(24, seed=seed)
    got = REP.censoring_times(data, 40, np.random.default_rng(11))
    expected = reference_censoring(data, 40, 11)
    np.testing.assert_array_equal(got, expected)
    censored = data.event == 0
    assert (got[:, censored] == data.time[censored]).all()
    had = ~censored
    assert (got[:, had] >= data.time[had]).all()
    assert np.isinf(got[:, had]).any() and np.isfinite(got[:, had]).any()


def test_censoring_at_an_event_time_counts_as_still_followed():
    # the subject with the event at 3 is censored no earlier than 3 (a censoring at 3
    # itself is allowed: censored at the same time is still under follow-up)
    df = pd.DataFrame({"id": range(8), "time": [3.0, 3.0, 5.0, 7.0, 1.0, 2.0, 4.0, 6.0],
                       "event": [1, 0, 0, 0, 1, 0, 0, 1], "arm": [0, 0, 0, 0, 1, 1, 1, 1]})
    data = TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id")
    got = REP.censoring_times(data, 2000, np.random.default_rng(0))
    np.testing.assert_array_equal(got, reference_censoring(data, 2000, 0))
    assert set(np.unique(got[:, 0])) == {3.0, 5.0, 7.0}
    # P(C = 3 | C >= 3) = 1/4: one censoring among the 4 at risk at 3 (the event at 3
    # included); then P(C = 5) = 3/4 * 1/2, P(C = 7) = 3/8
    assert np.mean(got[:, 0] == 3.0) == pytest.approx(1 / 4, abs=0.03)
    assert np.mean(got[:, 0] == 5.0) == pytest.approx(3 / 8, abs=0.03)
    # experimental arm: event at 1, censored at 2 and 4, event at 6 (mass beyond 4: inf)
    assert set(np.unique(got[:, 4])) == {2.0, 4.0, np.inf}
    assert set(np.unique(got[:, 7])) == {np.inf}


def test_no_censoring_in_an_arm_means_complete_follow_up():
    df = pd.DataFrame({"id": range(6), "time": [1.0, 2.0, 3.0, 1.5, 2.5, 3.5],
                       "event": [1, 1, 1, 1, 0, 1], "arm": [0, 0, 0, 1, 1, 1]})
    data = TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id")
    got = REP.censoring_times(data, 5, np.random.default_rng(3))
    assert np.isinf(got[:, :3]).all()
    np.testing.assert_array_equal(got, reference_censoring(data, 5, 3))
    assert got.shape == (5, 6)


def test_censor_time_column_is_used_for_subjects_with_an_event():
    data = trial(censor_time=True)
    got = REP.censoring_times(data, 3, np.random.default_rng(0))
    expected = np.where(data.event == 1, data.censor_time, data.time)
    np.testing.assert_array_equal(got, np.tile(expected, (3, 1)))
    # no random numbers are drawn
    rng = np.random.default_rng(0)
    REP.censoring_times(data, 3, rng)
    assert rng.random() == np.random.default_rng(0).random()
