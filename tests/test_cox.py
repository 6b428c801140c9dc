"""The one Cox wrapper against lifelines fitted directly (and its orientation)."""

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from pexsurv.cox import cox_hr


def test_cox_hr_matches_lifelines_and_orients_experimental_vs_control():
    rng = np.random.default_rng(3)
    arm = np.repeat([0, 1], 150)
    strata = rng.integers(0, 2, 300)
    t = np.round(rng.exponential(np.where(arm == 1, 2.0, 1.0) * np.where(strata, 0.5, 1)), 1)
    e = (rng.random(300) < 0.8).astype(int)
    got = cox_hr(t, e, arm, strata=strata)
    ref = CoxPHFitter().fit(pd.DataFrame({"t": t, "e": e, "a": arm, "s": strata}), "t", "e",
                            strata=["s"])
    assert got.log_hr == pytest.approx(ref.params_["a"], abs=1e-10)
    assert got.se == pytest.approx(ref.standard_errors_["a"], abs=1e-10)
    assert got.p == pytest.approx(ref.summary.loc["a", "p"], rel=1e-8)
    assert got.lower == pytest.approx(ref.summary.loc["a", "exp(coef) lower 95%"], rel=1e-8)
    assert got.hr < 1  # longer times in arm 1: benefit
    flipped = cox_hr(t, e, 1 - arm, strata=strata)
    assert flipped.log_hr == pytest.approx(-got.log_hr, abs=1e-8)


# ---------------------------------------------------------------------------- covariates
def _trial(seed: int = 5, n: int = 300):
    rng = np.random.default_rng(seed)
    arm = np.repeat([0, 1], n // 2)
    age = rng.normal(60, 10, n)
    male = rng.integers(0, 2, n)
    strata = rng.integers(0, 2, n)
    # A prognostic covariate (age) and an arm effect (HR 0.5) on the hazard scale.
    t = rng.exponential(1 / (np.where(arm == 1, 0.5, 1.0) * np.exp(0.04 * (age - 60))))
    return t, (rng.random(n) < 0.8).astype(int), arm, age, male, strata


def test_cox_hr_with_covariates_matches_lifelines():
    t, e, arm, age, male, strata = _trial()
    got = cox_hr(t, e, arm, strata=strata, covariates={"age": age, "male": male})
    ref = CoxPHFitter().fit(pd.DataFrame({"t": t, "e": e, "arm": arm, "age": age, "male": male,
                                          "s": strata}), "t", "e", strata=["s"])
    assert got.log_hr == pytest.approx(ref.params_["arm"], abs=1e-10)
    assert got.se == pytest.approx(ref.standard_errors_["arm"], abs=1e-10)
    # The adjustment matters here: the unadjusted HR differs (age is prognostic).
    unadjusted = cox_hr(t, e, arm, strata=strata)
    assert abs(unadjusted.log_hr - got.log_hr) > 1e-4
    # A DataFrame works as the mapping; an empty one is no adjustment.
    frame = pd.DataFrame({"age": age, "male": male})
    assert cox_hr(t, e, arm, strata=strata, covariates=frame).log_hr == got.log_hr
    assert cox_hr(t, e, arm, covariates={}).log_hr == cox_hr(t, e, arm).log_hr


@pytest.mark.parametrize("bad, message", [
    ({"site": np.array(["a", "b"] * 150, dtype=object)}, r"column 'site'.*not numeric.*get_dummies"),
    ({"age": np.r_[np.nan, np.ones(150), np.inf, np.zeros(148)]},
     r"column 'age': missing or infinite covariate values in 2 row\(s\), ids: p0, p151"),
    ({"one": np.ones(300)}, r"column 'one': covariate is constant"),
    ({"age": np.ones(10)}, r"covariate 'age' has shape \(10,\)"),
    ({"_cox_arm": np.arange(300.0)}, "reserved"),
])
def test_cox_hr_refuses_bad_covariates_naming_the_column(bad, message):
    t, e, arm, *_ = _trial()
    ids = np.array([f"p{i}" for i in range(300)])
    with pytest.raises(ValueError, match=message):
        cox_hr(t, e, arm, covariates=bad, ids=ids)


def test_cox_hr_names_at_most_ten_ids():
    t, e, arm, *_ = _trial()
    x = np.arange(300.0)
    x[:25] = np.nan
    with pytest.raises(ValueError, match=r"25 row\(s\), ids: 0, 1, .*, 9 \(and 15 more\)"):
        cox_hr(t, e, arm, covariates={"x": x})
