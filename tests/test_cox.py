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
