"""The AFT fits shared by IPE and two-stage estimation (models/rpsft/aft.py) against lifelines'
fitters called directly, and the result assembly both methods share. Written for the
mutation run of issue 18 (record in benchmarks/mutation.md, section ``models/rpsft/aft.py``).

The module is loaded from its file (tests/isolated.py), so that each mutant is imported fresh;
IPE and TSE in the package use the package's (unmutated) copy, so the tests call this copy's
functions directly.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from isolated import load
from lifelines import CoxPHFitter, LogLogisticAFTFitter, LogNormalAFTFitter, WeibullAFTFitter

from pexsurv import TrialData
from pexsurv.models.rpsft.counterfactual import Counterfactual
from pexsurv.models.rpsft.estimate import TrialArrays

aft = load("models/rpsft/aft.py")

FITTERS = {"weibull": (WeibullAFTFitter, "lambda_"),
           "loglogistic": (LogLogisticAFTFitter, "alpha_"),
           "lognormal": (LogNormalAFTFitter, "mu_")}


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(11)
    n = 200
    g, x = np.repeat([0.0, 1.0], n // 2), rng.normal(size=n)
    t = rng.weibull(1.5, n) * np.exp(0.5 * g + 0.3 * x)
    c = rng.uniform(0.5, 3.0, n)
    return np.minimum(t, c), (t <= c).astype(float), {"g": g, "x": x}


def test_the_families():
    assert aft.AFT_DISTRIBUTIONS == ("weibull", "loglogistic", "lognormal")


@pytest.mark.parametrize("dist", list(FITTERS))
def test_fit_aft_is_lifelines_location_coefficient(sample, dist):
    time, event, design = sample
    fitter, location = FITTERS[dist]
    frame = pd.DataFrame({**design, "t": time, "e": event})
    ref = fitter().fit(frame, "t", "e")
    fit = aft.fit_aft(time, event, design, "x", dist)
    assert fit.coef == pytest.approx(ref.params_[(location, "x")], rel=1e-6)
    assert fit.se == pytest.approx(ref.standard_errors_[(location, "x")], rel=1e-6)
    np.testing.assert_allclose(fit.params.to_numpy(), ref.params_.to_numpy(), rtol=1e-6)
    assert type(fit.coef) is float and type(fit.se) is float


def test_weibull_is_the_default_and_the_result_is_immutable(sample):
    time, event, design = sample
    default = aft.fit_aft(time, event, design, "g")
    assert default.coef == aft.fit_aft(time, event, design, "g", "weibull").coef
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.coef = 0.0


def test_check_dist():
    assert aft.check_dist("lognormal") == "lognormal"
    with pytest.raises(ValueError, match=r"aft_dist must be one of \('weibull', 'loglogistic', "
                                         r"'lognormal'\), got 'gamma'"):
        aft.check_dist("gamma")
    with pytest.raises(ValueError, match="aft_dist must be one of"):
        aft.fit_aft(np.ones(3), np.ones(3), {"g": np.array([0.0, 1.0, 1.0])}, "g", "gamma")


def test_switch_estimate_assembly():
    # Both arms deviate (control switches, an experimental patient stops): without autoswitch
    # both are recensored, but only the control arm's counterfactual times are used.
    df = pd.DataFrame({"t": [2.0, 3.0, 4.0, 5.0, 1.0, 2.5, 3.5, 4.5],
                       "e": [1, 0, 1, 1, 1, 1, 0, 1], "arm": [0, 0, 0, 0, 1, 1, 1, 1],
                       "sw": [1.0, np.nan, 2.0, np.nan, np.nan, 1.0, np.nan, np.nan],
                       "c": 6.0, "s": ["a", "b"] * 4})
    data = TrialData.from_dataframe(df, time="t", event="e", arm="arm", switch_time="sw",
                                    censor_time="c", strata="s")
    cf = Counterfactual.from_data(data, recensor=True, autoswitch=False)
    assert cf.recensored_arms == (0, 1)
    arrays = TrialArrays.from_data(data, cf)
    time_cf, event_cf = df["t"].to_numpy() * 0.9, df["e"].to_numpy()
    out = aft.aft_switch_estimate(
        "IPE", data, arrays, psi=-0.3, ci=np.array([-0.5, -0.1]), ci_type="kind",
        time_cf=time_cf, event_cf=event_cf, alpha=0.1, n_boot=np.int64(3), seed=7,
        options={"aft_dist": "weibull"}, hr_adjusted={"hr": 1.0}, hr_adjusted_itt_p=None,
        hr_adjusted_boot=None, z_itt=0.5, boot=None, details={"k": 1})
    assert out.settings == {"aft_dist": "weibull", "alpha": 0.1, "n_boot": 3, "seed": 7,
                            "recensored_arms": ("0",), "n": 8, "population": data.population}
    assert type(out.settings["n_boot"]) is int
    assert (out.method, out.psi, out.ci, out.ci_type) == ("IPE", -0.3, (-0.5, -0.1), "kind")
    assert all(type(v) is float for v in out.ci)
    assert (out.z_itt, out.details, out.hr_adjusted) == (0.5, {"k": 1}, {"hr": 1.0})
    np.testing.assert_array_equal(out.counterfactual["time_cf"], time_cf)
    np.testing.assert_array_equal(out.counterfactual["event_cf"], event_cf)
    ref = CoxPHFitter().fit(df.assign(arm=df["arm"].astype(float))[["t", "e", "arm", "s"]],
                            "t", "e", strata=["s"])
    b, se = ref.params_["arm"], ref.standard_errors_["arm"]
    assert out.hr_itt["log_hr"] == pytest.approx(b, rel=1e-6)
    assert out.hr_itt["upper"] == pytest.approx(math.exp(b + 1.6448536269514722 * se), rel=1e-6)
    keywords = dict(ci=(-0.5, -0.1), ci_type="kind", time_cf=time_cf, event_cf=event_cf,
                    alpha=0.1, n_boot=0, seed=None, options={}, hr_adjusted={"hr": 1.0},
                    hr_adjusted_itt_p=None, hr_adjusted_boot=None, z_itt=0.5, boot=None,
                    details={})
    with pytest.raises(TypeError, match="positional"):  # the estimates are keyword-only
        aft.aft_switch_estimate("IPE", data, arrays, -0.3, **keywords)
