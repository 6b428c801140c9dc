"""Simple two-stage estimation (models/rpsft/tse.py) against a re-computation from the
simulator's raw columns (lifelines' AFT for stage 1, the shrunk and recensored times by hand,
lifelines' Cox for stage 2), every field of the result, and every input check at its
boundary. Written for the mutation run of issue 18 (record in benchmarks/mutation.md, section
``models/rpsft/tse.py``).

The module is loaded from its file (tests/isolated.py), so that each mutant is imported fresh
in a fork of a server that has already imported PyMC and lifelines.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from isolated import load
from simtools import tiny_tse_trial
from lifelines import CoxPHFitter, LogNormalAFTFitter, WeibullAFTFitter
from lifelines.exceptions import ConvergenceError

from pexsurv import TrialData, TrialDataError
from pexsurv.logrank import logrank_z
from pexsurv.simulate.switching import simulate_switch_at_progression

tse = load("models/rpsft/tse.py")
Z975 = 1.959963984540054


@pytest.fixture(scope="module")
def sim():
    return simulate_switch_at_progression(300, seed=3)


@pytest.fixture(scope="module")
def fit(sim):
    return tse.tse_simple(sim.data, sim.secondary_baseline, sim.baseline_covariates)


def by_hand(frame: pd.DataFrame, *, fitter: type = WeibullAFTFitter, location: str = "lambda_",
            marker: bool = True, recensor: bool = True, psi: float | None = None):
    """Stage 1 (AFT of post-progression time on switching among control progressors) and
    stage 2 (switchers' post-progression time shrunk by exp(psi), control arm recensored at
    min(C, C exp(psi))) from the raw columns."""
    f = frame
    rows = (f["arm"] == 0) & f["progression_time"].notna()
    switched = f["switch_time"].notna()
    stage1 = pd.DataFrame({"post": f["time"] - f["progression_time"], "event": f["event"],
                           "switched": switched.astype(float)})
    if marker:
        stage1["marker"] = f["marker"]
    aft = fitter().fit(stage1[rows], "post", "event")
    coef = aft.params_[(location, "switched")]
    se = aft.standard_errors_[(location, "switched")]
    psi = -float(coef) if psi is None else psi
    t, c, b = f["time"].to_numpy(), f["censor_time"].to_numpy(), f["progression_time"].to_numpy()
    u = np.where(switched, b + math.exp(psi) * (t - b), t)
    c_star = np.minimum(c, c * math.exp(psi)) if recensor else np.full(t.size, np.inf)
    control = f["arm"].to_numpy() == 0
    time_cf = np.where(control, np.minimum(u, c_star), t)
    event_cf = np.where(control, f["event"].to_numpy() * (u <= c_star), f["event"].to_numpy())
    return psi, float(se), time_cf, event_cf, aft.params_


def cox(time, event, arm) -> dict[str, float]:
    frame = pd.DataFrame({"t": time, "e": event, "arm": np.asarray(arm, float)})
    ref = CoxPHFitter().fit(frame, "t", "e")
    return {"log_hr": ref.params_["arm"], "se": ref.standard_errors_["arm"]}


# ---------------------------------------------------------------------------- the estimate
def test_matches_the_two_stages_by_hand(fit, sim):
    psi, se, time_cf, event_cf, params = by_hand(sim.frame)
    assert fit.psi == pytest.approx(psi, abs=1e-9)
    assert fit.ci == pytest.approx((psi - Z975 * se, psi + Z975 * se), abs=1e-8)
    assert fit.ci_type == "AFT Wald" and fit.method == "TSE (simple)"
    np.testing.assert_allclose(fit.counterfactual["time_cf"], time_cf, rtol=1e-12)
    np.testing.assert_array_equal(fit.counterfactual["event_cf"], event_cf)
    ref = cox(time_cf, event_cf, sim.frame["arm"])
    assert fit.hr_adjusted["log_hr"] == pytest.approx(ref["log_hr"], abs=1e-7)
    assert fit.hr_adjusted["se"] == pytest.approx(ref["se"], rel=1e-6)
    assert fit.hr is fit.hr_adjusted and fit.interval_kind() == "Cox Wald"
    assert fit.hr_adjusted_itt_p is None and fit.hr_adjusted_boot is None and fit.boot is None
    itt = cox(sim.data.time, sim.data.event, sim.data.arm)
    assert fit.hr_itt["log_hr"] == pytest.approx(itt["log_hr"], abs=1e-7)
    assert fit.z_itt == pytest.approx(logrank_z(sim.data.time, sim.data.event, sim.data.arm),
                                      rel=1e-12)


def test_details_and_settings(fit, sim):
    _, se, _, _, params = by_hand(sim.frame)
    stage1 = fit.details["stage1"]
    assert list(stage1.columns) == ["coef"]
    np.testing.assert_allclose(stage1["coef"].to_numpy(), params.to_numpy(), rtol=1e-6)
    assert fit.details["psi_se"] == pytest.approx(se, rel=1e-6)
    control = sim.frame["arm"] == 0
    progressed = control & sim.frame["progression_time"].notna()
    assert fit.details["n_stage1"] == int(progressed.sum())
    assert fit.details["n_switchers"] == int((progressed & sim.frame["switch_time"].notna()).sum())
    assert type(fit.details["n_stage1"]) is int and type(fit.details["n_switchers"]) is int
    assert set(fit.details) == {"stage1", "psi_se", "n_stage1", "n_switchers"}
    assert fit.settings == {
        "aft_dist": "weibull", "recensor": True, "autoswitch": True, "covariates": ("marker",),
        "alpha": 0.05, "n_boot": 0, "seed": None, "recensored_arms": ("0",), "n": 300,
        "population": sim.data.population}


def test_options(sim):
    fit = tse.tse_simple(sim.data, sim.secondary_baseline, aft_dist="lognormal",
                         recensor=False, autoswitch=False, alpha=0.1)
    psi, se, time_cf, event_cf, _ = by_hand(sim.frame, fitter=LogNormalAFTFitter,
                                            location="mu_", marker=False, recensor=False)
    assert fit.psi == pytest.approx(psi, abs=1e-9)
    half = 1.6448536269514722 * se
    assert fit.ci == pytest.approx((psi - half, psi + half), abs=1e-8)
    np.testing.assert_allclose(fit.counterfactual["time_cf"], time_cf, rtol=1e-12)
    np.testing.assert_array_equal(fit.counterfactual["event_cf"], event_cf)
    assert fit.settings["covariates"] == () and fit.settings["recensored_arms"] == ()
    assert (fit.settings["aft_dist"], fit.settings["recensor"], fit.settings["autoswitch"],
            fit.settings["alpha"]) == ("lognormal", False, False, 0.1)


def test_an_integer_valued_float_n_boot_is_accepted(sim):
    fit = tse.tse_simple(sim.data, sim.secondary_baseline, n_boot=0.0)
    assert fit.settings["n_boot"] == 0 and type(fit.settings["n_boot"]) is int
    assert fit.boot is None


def test_counterfactual_at_a_given_psi(sim):
    _, _, time_cf, event_cf, _ = by_hand(sim.frame, psi=-0.7)
    t, e = tse.tse_counterfactual(sim.data, sim.secondary_baseline, -0.7)
    np.testing.assert_allclose(t, time_cf, rtol=1e-12)
    np.testing.assert_array_equal(e, event_cf)
    _, _, time_cf, event_cf, _ = by_hand(sim.frame, psi=0.3, recensor=False)
    t, e = tse.tse_counterfactual(sim.data, sim.secondary_baseline, 0.3, recensor=False,
                                  autoswitch=False)
    np.testing.assert_allclose(t, time_cf, rtol=1e-12)
    np.testing.assert_array_equal(e, event_cf)
    # Nobody switched: by default (autoswitch) an arm in which nobody deviated is not
    # recensored, so the times are the observed ones; recensoring the control arm (at psi < 0,
    # C exp(psi)) would censor some of them.
    none = sim.data.derive(np.ones(sim.data.n, bool), switch_time=np.full(sim.data.n, np.nan))
    t, e = tse.tse_counterfactual(none, sim.secondary_baseline, -0.7)
    np.testing.assert_array_equal(t, none.time)
    np.testing.assert_array_equal(e, none.event)
    _, e = tse.tse_counterfactual(none, sim.secondary_baseline, -0.7, autoswitch=False)
    assert (e < none.event).sum() > 10
    # Experimental-arm baselines are ignored; bad ones still refused
    with pytest.raises(TrialDataError, match="secondary_baseline"):
        tse.tse_counterfactual(sim.data, sim.secondary_baseline[:5], 0.0)


def test_counterfactual_options_are_keyword_only(sim):
    with pytest.raises(TypeError, match="positional"):
        tse.tse_counterfactual(sim.data, sim.secondary_baseline, 0.0, False)


def test_estimator_options_are_keyword_only(sim):
    with pytest.raises(TypeError, match="positional"):
        tse.tse_simple(sim.data, sim.secondary_baseline, None, "weibull")


def test_an_integer_psi_is_accepted(sim):
    t, _ = tse.tse_counterfactual(sim.data, sim.secondary_baseline, 0, recensor=False)
    np.testing.assert_array_equal(t, sim.data.time)


# ---------------------------------------------------------------------------- bootstrap
def test_bootstrap_wiring_and_replicates(monkeypatch, sim, fit):
    seen = []

    def intervals(replicate, arrays, n_boot, seed, hr_adjusted, alpha):
        seen.append((replicate, arrays, n_boot, seed, hr_adjusted, alpha))
        return "boot", (-1.0, 0.5), {"hr": 2.0}

    monkeypatch.setattr(tse, "bootstrap_intervals", intervals)
    out = tse.tse_simple(sim.data, sim.secondary_baseline, sim.baseline_covariates,
                         n_boot=4, seed=9, alpha=0.1)
    replicate, arrays, n_boot, seed, hr_adjusted, alpha = seen[0]
    assert (n_boot, seed, alpha) == (4, 9, 0.1) and hr_adjusted is out.hr_adjusted
    assert (out.boot, out.ci, out.hr_adjusted_boot) == ("boot", (-1.0, 0.5), {"hr": 2.0})
    assert out.ci_type == "bootstrap percentile" and out.hr is out.hr_adjusted_boot
    assert (out.settings["n_boot"], out.settings["seed"]) == (4, 9)
    # The whole sample replicates the estimate; a sample without switchers (or of switchers
    # only) among the progressors, or a stage 1 that fails, gives NaN.
    psi_b, log_hr = replicate(np.arange(sim.data.n))
    assert psi_b == pytest.approx(fit.psi, abs=1e-9)
    assert log_hr == pytest.approx(fit.hr_adjusted["log_hr"], abs=1e-9)
    stage1 = arrays.extra["_stage1"]
    switched = arrays.extra["switched"] == 1.0
    for keep in (~(stage1 & switched), ~(stage1 & ~switched)):
        assert np.isnan(replicate(np.flatnonzero(keep))).all()

    def fail(*args):
        raise ConvergenceError("no fit")

    monkeypatch.setattr(tse, "_stage1", fail)
    assert np.isnan(replicate(np.arange(sim.data.n))).all()


# ---------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def tiny() -> tuple[TrialData, np.ndarray]:
    return tiny_tse_trial()


def put(b: np.ndarray, i: int, value: float) -> np.ndarray:
    return np.where(np.arange(b.size) == i, value, b)


@pytest.mark.parametrize(("change", "message"), [
    (lambda b: b[:3], r"secondary_baseline must hold one time per subject \(6\), in the order "
                      r"of the data; got shape \(3,\)"),
    (lambda b: b.reshape(6, 1), "one time per subject"),
    (lambda b: put(b, 1, np.inf), r"column 'secondary_baseline': infinite times in 1 row\(s\), "
                                  r"ids: b\. Fix: use NaN"),
    (lambda b: put(b, 3, -np.inf), "infinite times.*ids: d"),
    (lambda b: put(b, 1, -0.1), "negative times.*ids: b"),
    (lambda b: put(b, 3, 7.5), "time after the end of follow-up.*ids: d"),
    (lambda b: put(b, 4, 8.5), "time after the end of follow-up.*ids: e"),
    (lambda b: put(b, 0, 3.5), "switch before the secondary baseline.*ids: a"),
    (lambda b: put(b, 2, np.nan), "control switchers without a secondary baseline.*ids: c"),
])
def test_bad_baselines(tiny, change, message):
    data, b = tiny
    with pytest.raises(TrialDataError, match=message):
        tse._baseline(data, change(b))


def test_boundary_baselines_are_accepted(tiny):
    data, b = tiny
    # At randomization, at the end of follow-up, at the switch itself, and a list
    for ok in (put(b, 1, 0.0), put(b, 3, 7.0), put(b, 0, 3.0), list(b), put(b, 4, 8.0)):
        out = tse._baseline(data, ok)
        np.testing.assert_array_equal(out, np.asarray(ok, float))
        assert out.dtype == float


def test_switching_rules(tiny):
    data, b = tiny
    away = data.derive(np.ones(6, bool), switch_time=np.array([3.0, np.nan, 2.5, np.nan, 1.0,
                                                               np.nan]))
    with pytest.raises(TrialDataError, match="column 'switch_time': experimental-arm switches "
                                             "in 1 row.*ids: e"):
        tse._baseline(away, b)
    no_switch = data.derive(np.ones(6, bool), switch_time=None)
    with pytest.raises(TrialDataError, match="switch_time"):
        tse._baseline(no_switch, b)


def test_stage1_needs_switchers_and_non_switchers(tiny):
    data, b = tiny
    with pytest.raises(TrialDataError, match=r"stage 1 needs switchers and non-switchers among "
                                             r"the 2 control patients with a secondary baseline; "
                                             r"it has 2 switcher\(s\)"):
        tse.tse_simple(data, np.array([2.0, np.nan, 2.5, np.nan, np.nan, np.nan]))
    none = data.derive(np.ones(6, bool), switch_time=np.full(6, np.nan))
    with pytest.raises(TrialDataError, match=r"it has 0 switcher\(s\)"):
        tse.tse_simple(none, b)


def test_post_baseline_time_must_be_positive(tiny):
    data, b = tiny
    with pytest.raises(TrialDataError, match=r"column 'secondary_baseline': no time after the "
                                             r"secondary baseline .* ids: d\. Fix"):
        tse.tse_simple(data, put(b, 3, 7.0))
    # only the rows with no time after it are named (b keeps 0.5 after its baseline)
    with pytest.raises(TrialDataError, match=r"no time after the secondary baseline .* in 1 "
                                             r"row\(s\), ids: d\. Fix"):
        tse.tse_simple(data, put(put(b, 3, 7.0), 1, 5.5))


def test_bad_alpha_boot_and_family(tiny):
    data, b = tiny
    for kwargs, message in (({"alpha": 0.0}, "alpha"), ({"alpha": 1.0}, "alpha"),
                            ({"alpha": -0.1}, "alpha"), ({"alpha": 1.5}, "alpha"),
                            ({"n_boot": -1}, "n_boot must be a non-negative integer, got -1"),
                            ({"n_boot": 1.5}, "n_boot"), ({"n_boot": "5"}, "got 5$"),
                            ({"aft_dist": "gompertz"}, "aft_dist")):
        with pytest.raises(ValueError, match=message):
            tse.tse_simple(data, b, **kwargs)


def test_stage1_covariates(tiny):
    data, b = tiny
    stage1 = (data.arm == 0) & ~np.isnan(b)
    assert tse._stage1_design(data, stage1, None) == {}
    covs = pd.DataFrame({"ecog": [0, 1, 1, 0, 5, 5], "flag": [True, False, True, True, False,
                                                              True],
                         7: [0.5, 0.1, 0.2, 0.3, np.nan, np.inf]})
    design = tse._stage1_design(data, stage1, covs)
    assert list(design) == ["ecog", "flag", "7"]
    assert all(v.dtype == float for v in design.values())
    np.testing.assert_array_equal(design["flag"], [1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    with pytest.raises(TypeError, match="baseline_covariates must be a DataFrame, got dict"):
        tse._stage1_design(data, stage1, {"ecog": [0] * 6})
    with pytest.raises(TrialDataError, match="one row per subject \\(6\\).*got 2 rows"):
        tse._stage1_design(data, stage1, covs.iloc[:2])
    with pytest.raises(TrialDataError, match="one row per subject \\(6\\).*got 7 rows"):
        tse._stage1_design(data, stage1, pd.concat([covs, covs.iloc[:1]]))
    for name in ("switched", "_stage1", "_post"):
        with pytest.raises(ValueError, match=f"column name '{name}' is reserved"):
            tse._stage1_design(data, stage1, pd.DataFrame({name: np.zeros(6)}))
    with pytest.raises(TrialDataError, match="column 'grade' of baseline_covariates is not "
                                             r"numeric \(dtype object\)"):
        tse._stage1_design(data, stage1, pd.DataFrame({"grade": list("ABCDEF")}))
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(TrialDataError, match=r"column 'x': missing or infinite values at "
                                                 r"the secondary baseline in 1 row\(s\), ids: b"):
            tse._stage1_design(data, stage1, pd.DataFrame({"x": put(np.zeros(6), 1, bad)}))


def test_covariates_enter_stage1(monkeypatch, sim):
    seen = []
    original = tse.fit_aft

    def spy(time, event, design, term, dist):
        seen.append((time, event, design, term, dist))
        return original(time, event, design, term, dist)

    monkeypatch.setattr(tse, "fit_aft", spy)
    tse.tse_simple(sim.data, sim.secondary_baseline, sim.baseline_covariates)
    time, event, design, term, dist = seen[0]
    f = sim.frame
    rows = ((f["arm"] == 0) & f["progression_time"].notna()).to_numpy()
    assert term == "switched" and dist == "weibull" and list(design) == ["switched", "marker"]
    np.testing.assert_allclose(time, (f["time"] - f["progression_time"]).to_numpy()[rows])
    np.testing.assert_array_equal(event, f["event"].to_numpy()[rows])
    np.testing.assert_array_equal(design["switched"], f["switch_time"].notna().to_numpy()[rows])
    np.testing.assert_array_equal(design["marker"], f["marker"].to_numpy()[rows])
