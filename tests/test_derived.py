"""Survival kernels (exact, closed form) and derived quantities on hand-built posteriors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from pexsurv.models import (
    hazard_by_arm,
    hr_by_interval,
    median_survival,
    milestone_survival,
    rmst,
    survival_curve,
)
from pexsurv.models import _math
from pexsurv.testing import fake_posterior

settings.register_profile("fast", max_examples=60, deadline=None, derandomize=True)
settings.load_profile("fast")

rates_st = st.lists(st.floats(0.01, 3.0), min_size=1, max_size=5)


@st.composite
def pem(draw):
    rates = np.array(draw(rates_st))
    gaps = draw(st.lists(st.floats(0.1, 3.0), min_size=rates.size - 1, max_size=rates.size - 1))
    return rates, np.cumsum(gaps)


@given(pem())
def test_survival_monotone_in_unit_interval(case):
    rates, cuts = case
    t = np.linspace(0, 20, 101)
    s = _math.survival(rates, cuts, t)
    assert s[0] == 1.0 and np.all(np.diff(s) <= 0) and np.all((s > 0) & (s <= 1))
    np.testing.assert_allclose(_math.survival_at(np.broadcast_to(rates, (101, rates.size)), cuts, t),
                               s, rtol=1e-12)


@given(pem(), st.floats(0.05, 0.95))
def test_quantile_inverts_survival(case, p):
    rates, cuts = case
    q = _math.quantile_time(rates, cuts, p)
    np.testing.assert_allclose(_math.survival(rates, cuts, np.array([q]))[0], 1 - p, rtol=1e-10)


@given(pem(), st.floats(0.5, 15.0))
def test_rmst_matches_quadrature(case, horizon):
    rates, cuts = case
    edges = [0.0, *[c for c in cuts if c < horizon], horizon]
    num = sum(integrate.quad(lambda t: float(_math.survival(rates, cuts, np.array([t]))[0]),
                             a, b, epsabs=1e-13, epsrel=1e-12)[0]
              for a, b in zip(edges[:-1], edges[1:], strict=True))
    np.testing.assert_allclose(_math.rmst(rates, cuts, horizon), num, rtol=1e-9)


def test_exponential_closed_forms():
    lam = np.array([0.2])
    cuts = np.array([])
    assert _math.quantile_time(lam, cuts) == pytest.approx(np.log(2) / 0.2, rel=1e-12)
    assert _math.rmst(lam, cuts, 5.0) == pytest.approx((1 - np.exp(-1.0)) / 0.2, rel=1e-12)
    zero = np.array([0.1, 0.0])
    assert np.isinf(_math.quantile_time(zero, np.array([1.0])))  # plateau above 0.5
    assert _math.rmst(zero, np.array([1.0]), 3.0) == pytest.approx(
        (1 - np.exp(-0.1)) / 0.1 + 2 * np.exp(-0.1), rel=1e-12)


def test_derived_on_fake_posterior_closed_form():
    tree = fake_posterior(cuts=[2.0, 4.0], hazards=[0.3, 0.2, 0.1], hr=0.5)
    haz = hazard_by_arm(tree)
    assert haz.dims == ("chain", "draw", "arm", "interval")
    np.testing.assert_allclose(haz.sel(arm="experimental").isel(chain=0, draw=0), [0.15, 0.1, 0.05])
    s = survival_curve(tree, [0.0, 3.0, 6.0])
    expected_ctl = np.exp(-np.array([0.0, 0.6 + 0.2, 0.6 + 0.4 + 0.2]))
    np.testing.assert_allclose(s.sel(arm="control").isel(chain=0, draw=0), expected_ctl, rtol=1e-12)
    np.testing.assert_allclose(s.sel(arm="experimental").isel(chain=0, draw=0),
                               expected_ctl ** 0.5, rtol=1e-12)
    med = median_survival(tree)
    # Control: H(2) = 0.6, H(4) = 1.0 > log 2, so the median is 2 + (log 2 - 0.6) / 0.2.
    assert float(med.sel(arm="control")[0, 0]) == pytest.approx(2 + (np.log(2) - 0.6) / 0.2)
    r = rmst(tree, 4.0)
    assert float(r.sel(arm="control")[0, 0]) == pytest.approx(
        (1 - np.exp(-0.6)) / 0.3 + np.exp(-0.6) * (1 - np.exp(-0.4)) / 0.2)
    m = milestone_survival(tree, [3.0])
    assert m.name == "milestone_survival" and float(m.sel(arm="control")[0, 0, 0]) == pytest.approx(np.exp(-0.8))
    np.testing.assert_allclose(hr_by_interval(tree), 0.5)


def test_piecewise_effect_and_strata():
    tree = fake_posterior(cuts=[2.0], hazards=[[0.2, 0.2], [0.4, 0.4]], hr=[0.5, 1.0],
                          stratum_weight=[3, 1])
    np.testing.assert_allclose(hr_by_interval(tree).isel(chain=0, draw=0), [0.5, 1.0])
    s = survival_curve(tree, [3.0]).sel(arm="experimental").isel(chain=0, draw=0, time=0)
    h_exp = np.array([0.2 * 0.5 * 2 + 0.2, 0.4 * 0.5 * 2 + 0.4])
    assert float(s) == pytest.approx(0.75 * np.exp(-h_exp[0]) + 0.25 * np.exp(-h_exp[1]))
    med = median_survival(tree).sel(arm="control").isel(chain=0, draw=0)
    s_mix = survival_curve(tree, [float(med)]).sel(arm="control").isel(chain=0, draw=0, time=0)
    assert float(s_mix) == pytest.approx(0.5, abs=1e-9)


def test_jittered_draws_vectorize():
    tree = fake_posterior(jitter=0.2, draws=50, seed=3)
    med = median_survival(tree)
    assert med.shape == (2, 50, 2) and np.all(np.isfinite(med))
    # Each draw's median solves that draw's S = 0.5.
    haz = hazard_by_arm(tree).values
    cuts = np.array([2.0, 4.0])
    np.testing.assert_allclose(_math.survival_at(haz, cuts, med.values), 0.5, rtol=1e-10)
