"""The prior predictive (fitting/predictive.py): the prior draws laid out as a posterior,
the HR, survival and median of each draw against the piecewise-exponential formulas written
by hand, the summary's quantiles against numpy, and what ``prior_predictive`` asks PyMC for
(issue 18; record in benchmarks/mutation.md, section ``fitting/predictive.py``).

The prior draws are hand-built (``pexsurv.testing.fake_posterior``, a piecewise effect so
that the first interval's HR differs from the second's), except in one real call on a
one-cut PEM with 20 draws. The module is loaded from its file (``tests/isolated.py``).
"""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from isolated import load

from pexsurv.models import PiecewiseExponential
from pexsurv.simulate import simulate_rpsft
from pexsurv.testing import fake_posterior

P = load("fitting/predictive.py")
CUT = 2.0


@pytest.fixture(scope="module")
def prior():
    fake = fake_posterior(cuts=(CUT,), hazards=(0.3, 0.1), hr=(0.5, 0.8), jitter=0.4,
                          chains=2, draws=40, arms=("ctl", "trt"), seed=1)
    pp = xr.Dataset({"y": (("chain", "draw"), np.zeros((2, 40)))})
    tree = xr.DataTree.from_dict({"prior": fake["posterior"].to_dataset(),
                                  "prior_predictive": pp,
                                  "constant_data": fake["constant_data"].to_dataset()})
    return P.PriorPredictive(idata=tree), fake


def arm_hazards(fake):
    """Per draw: hazards (chain, draw, arm, interval); the experimental arm times the HR of
    the interval's period."""
    post = fake["posterior"]
    h0 = np.exp(post["log_hazard_base"].values)
    hr = np.exp(post["log_hr_period"].values)
    return np.stack([h0, h0 * hr], axis=2)


def cumulative(h, t):
    """Cumulative hazard at t with hazards h (..., 2) on (0, CUT] and (CUT, inf)."""
    return h[..., 0] * min(t, CUT) + h[..., 1] * max(t - CUT, 0.0)


def median_by_hand(h):
    first = CUT * h[..., 0]
    return np.where(math.log(2) <= first, math.log(2) / h[..., 0],
                    CUT + (math.log(2) - first) / h[..., 1])


def test_as_posterior_moves_the_prior_group(prior):
    pp, fake = prior
    tree = pp.as_posterior()
    assert set(tree.children) == {"posterior", "constant_data"}
    xr.testing.assert_identical(tree["posterior"].to_dataset(), fake["posterior"].to_dataset())
    xr.testing.assert_identical(tree["constant_data"].to_dataset(),
                                fake["constant_data"].to_dataset())


def test_hr_per_interval(prior):
    pp, fake = prior
    hr = pp.hr()
    assert hr.dims == ("chain", "draw", "interval")
    np.testing.assert_allclose(hr.values, np.exp(fake["posterior"]["log_hr_period"].values),
                               rtol=1e-12)


def test_survival_curve_and_median_by_hand(prior):
    pp, fake = prior
    h = arm_hazards(fake)
    times = [0.5, 2.0, 4.5]
    s = pp.survival_curve(times)
    assert s.dims == ("chain", "draw", "arm", "time")
    want = np.stack([np.exp(-cumulative(h, t)) for t in times], axis=-1)
    np.testing.assert_allclose(s.values, want, rtol=1e-10)
    med = pp.median_survival()
    assert list(med["arm"].values) == ["ctl", "trt"]
    np.testing.assert_allclose(med.values, median_by_hand(h), rtol=1e-10)


@pytest.mark.parametrize("prob", [None, 0.8])
def test_summary_quantiles_against_numpy(prior, prob):
    pp, fake = prior
    s = pp.summary() if prob is None else pp.summary(prob)
    p = 0.95 if prob is None else prob
    q = [(1 - p) / 2, 0.5, (1 + p) / 2]
    hr_first = np.exp(fake["posterior"]["log_hr_period"].values[..., 0]).ravel()
    med = median_by_hand(arm_hazards(fake))
    assert list(s.index) == ["hr", "median[ctl]", "median[trt]"]
    assert list(s.columns) == ["lower", "median", "upper"]
    np.testing.assert_allclose(s.loc["hr"], np.quantile(hr_first, q), rtol=1e-10)
    np.testing.assert_allclose(s.loc["median[ctl]"], np.quantile(med[..., 0].ravel(), q),
                               rtol=1e-10)
    np.testing.assert_allclose(s.loc["median[trt]"], np.quantile(med[..., 1].ravel(), q),
                               rtol=1e-10)
    assert s.attrs == {"prob": p}


def test_prior_predictive_asks_pymc_for_the_spec_model(monkeypatch):
    calls = []

    class Spec:
        def build(self, data):
            calls.append(("build", data))
            return "model"

    def sample_prior_predictive(**kwargs):
        calls.append(("sample", kwargs))
        return "idata"

    monkeypatch.setattr(pm, "sample_prior_predictive", sample_prior_predictive)
    out = P.prior_predictive(Spec(), "data")
    assert isinstance(out, P.PriorPredictive) and out.idata == "idata"
    assert calls == [("build", "data"),
                     ("sample", {"draws": 500, "model": "model", "random_seed": None})]
    calls.clear()
    P.prior_predictive(Spec(), "data", 7, seed=3)
    assert calls[1] == ("sample", {"draws": 7, "model": "model", "random_seed": 3})
    with pytest.raises(TypeError):
        P.prior_predictive(Spec(), "data", 7, 3)  # the seed is keyword-only


def test_prior_predictive_real_draws_are_seeded():
    data = simulate_rpsft(60, seed=9)
    spec = PiecewiseExponential(cuts=(1.0,))
    a = P.prior_predictive(spec, data, 20, seed=4)
    b = P.prior_predictive(spec, data, 20, seed=4)
    assert {"prior", "prior_predictive", "constant_data", "observed_data"} <= set(
        a.idata.children)
    assert a.idata["prior"].sizes["draw"] == 20
    xr.testing.assert_equal(a.idata["prior"].to_dataset(), b.idata["prior"].to_dataset())
    assert list(a.summary().index) == ["hr", "median[0]", "median[1]"]
    with pytest.raises(FrozenInstanceError):
        a.idata = b.idata
    assert a != b  # eq=False: compared by identity
    hash(a)
