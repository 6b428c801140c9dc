"""Survival kernels (exact, closed form) and derived quantities on hand-built posteriors."""

from __future__ import annotations

import types
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from pexsurv import TrialData
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
from pexsurv.warnings import ExtrapolationWarning

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


# --------------------------------------------------------------------- extrapolation

@pytest.fixture
def short_data() -> TrialData:
    """Control followed up to 5, experimental to 3 (cuts at 2 and 4)."""
    df = pd.DataFrame({"t": [5.0, 2.0, 4.0, 3.0, 1.0, 2.5], "e": [0, 1, 1, 0, 1, 1],
                       "a": ["control"] * 3 + ["experimental"] * 3})
    return TrialData.from_dataframe(df, time="t", event="e", arm="a", reference="control")


def no_warning(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


def test_survival_beyond_follow_up_flagged_and_warned(short_data):
    tree = fake_posterior(cuts=[2.0, 4.0], hazards=[0.3, 0.2, 0.1], hr=0.5)
    with pytest.warns(ExtrapolationWarning, match=r"arm control \(last follow-up 5\): t = 6; "
                                                  r"arm experimental \(last follow-up 3\): t = 4, 6"
                      ) as record:
        s = survival_curve(tree, [1.0, 3.0, 4.0, 6.0], data=short_data)
    assert record[0].filename == __file__  # points at the caller
    np.testing.assert_array_equal(s["extrapolated"].sel(arm="control"), [False, False, False, True])
    np.testing.assert_array_equal(s["extrapolated"].sel(arm="experimental"),
                                  [False, False, True, True])
    assert s["last_followup"].values.tolist() == [5.0, 3.0]
    # Values are the model's, unchanged; within follow-up nothing is flagged or warned.
    xr.testing.assert_allclose(s.drop_vars(["extrapolated", "last_followup"]),
                               no_warning(survival_curve, tree, [1.0, 3.0, 4.0, 6.0]))
    inside = no_warning(survival_curve, tree, [1.0, 3.0], data=short_data)
    assert not inside["extrapolated"].any()
    with pytest.warns(ExtrapolationWarning, match=r"milestone_survival .*experimental .*t = 4"):
        m = milestone_survival(tree, [2.0, 4.0], data=short_data)
    assert m["extrapolated"].sel(arm="experimental").values.tolist() == [False, True]


def test_median_beyond_follow_up(short_data):
    tree = fake_posterior(cuts=[2.0, 4.0], hazards=[0.3, 0.2, 0.1], hr=0.5)
    # Control: median 2 + (log 2 - 0.6) / 0.2 = 2.47 < 5. Experimental: H(4) = 0.5 < log 2,
    # so the median 4 + (log 2 - 0.5) / 0.05 = 7.9 lies beyond its follow-up of 3.
    with pytest.warns(ExtrapolationWarning, match=r"arm experimental .*100\.0% of posterior draws"):
        med = median_survival(tree, data=short_data)
    assert med["extrapolated"].dims == ("chain", "draw", "arm")
    assert not med["extrapolated"].sel(arm="control").any()
    assert med["extrapolated"].sel(arm="experimental").all()
    assert float(med.sel(arm="experimental")[0, 0]) == pytest.approx(4 + (np.log(2) - 0.5) / 0.05)
    # Per draw: flagged exactly where the draw's survival at the last follow-up is > 1/2.
    jit = fake_posterior(cuts=[2.0, 4.0], hazards=[0.3, 0.3, 0.3], hr=0.9, jitter=0.4,
                         draws=200, seed=5)
    with pytest.warns(ExtrapolationWarning, match="% of posterior draws"):
        med = median_survival(jit, data=short_data)
    s_last = np.stack([survival_curve(jit, [5.0]).sel(arm="control", time=5.0).values,
                       survival_curve(jit, [3.0]).sel(arm="experimental", time=3.0).values], -1)
    np.testing.assert_array_equal(med["extrapolated"].values, s_last > 0.5)
    assert 0 < med["extrapolated"].values.mean() < 1


def test_median_never_reached_is_extrapolated(short_data):
    with np.errstate(divide="ignore"):  # log(0): a zero hazard after 1
        tree = fake_posterior(cuts=[1.0], hazards=[0.1, 0.0], hr=1.0)
    with pytest.warns(ExtrapolationWarning):
        med = median_survival(tree, data=short_data)
    assert np.isinf(med).all() and med["extrapolated"].all()


def test_rmst_horizon_beyond_follow_up(short_data):
    tree = fake_posterior(cuts=[2.0, 4.0], hazards=[0.3, 0.2, 0.1], hr=0.5)
    with pytest.warns(ExtrapolationWarning, match=r"rmst to 4 .*arm experimental \(last follow-up 3\)$"):
        r = rmst(tree, 4.0, data=short_data)
    assert r["extrapolated"].values.tolist() == [False, True]
    assert not no_warning(rmst, tree, 3.0, data=short_data)["extrapolated"].any()


def test_intervals_without_exposure_flagged(short_data):
    tree = fake_posterior(cuts=[2.0, 4.0], hazards=[0.3, 0.2, 0.1], hr=[0.5, 0.6, 0.7])
    # Experimental follow-up ends at 3: no person-time in (4, inf).
    haz = no_warning(hazard_by_arm, tree, data=short_data)
    assert haz["exposed"].dims == ("arm", "interval")
    assert haz["exposed"].values.tolist() == [[True, True, True], [True, True, False]]
    assert no_warning(hr_by_interval, tree, data=short_data)["exposed"].values.tolist() \
        == [True, True, False]


def test_fit_result_data_used_and_received_exposure():
    # Subject 1 (experimental) on therapy 0-3 then off to 5; subject 2 (control) crosses
    # over at 1 and is followed to 2; subject 3 (control) to 4. Off therapy: last at 5;
    # on therapy: last at 3. Intervals (0, 2], (2, 4], (4, inf): on therapy has no time in
    # (4, inf).
    df = pd.DataFrame({"t": [5.0, 2.0, 4.0], "e": [1, 0, 1], "a": [1, 0, 0],
                       "sw": [3.0, 1.0, np.nan]})
    data = TrialData.from_dataframe(df, time="t", event="e", arm="a", switch_time="sw")
    tree = fake_posterior(cuts=[2.0, 4.0], arms=("0", "1"))
    fit = types.SimpleNamespace(idata=tree, data=data,
                                spec=types.SimpleNamespace(exposure="received"))
    with pytest.warns(ExtrapolationWarning, match=r"arm 1 \(last follow-up 3\): t = 3.5"):
        s = survival_curve(fit, [3.5])
    assert s["last_followup"].values.tolist() == [5.0, 3.0]
    assert hazard_by_arm(fit)["exposed"].values.tolist() == [[True, True, True],
                                                             [True, True, False]]
    assigned = types.SimpleNamespace(idata=tree, data=data)
    assert no_warning(survival_curve, assigned, [3.5])["last_followup"].values.tolist() == [4.0, 5.0]


def test_no_data_no_check():
    tree = fake_posterior()
    s = no_warning(survival_curve, tree, [100.0])
    assert "extrapolated" not in s.coords and s.attrs["followup"].startswith("unknown")
    assert "exposed" not in no_warning(hazard_by_arm, tree).coords
