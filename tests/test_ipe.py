"""IPE (iterative parameter estimation) against an independent implementation of the
published algorithm on immdef, and recovery of a known psi on simulated RPSFT data.

The reference below is written from Branson & Whitehead (2002) and R's formulas only:
counterfactual times are computed by hand from immdef's raw columns
(``U = T_off + exp(psi) T_on``, ``C* = min(C, C exp(psi))``, event kept when ``U <= C*``),
and the fixed point of ``psi -> -beta_arm(psi)`` (lifelines' Weibull AFT) is found by
Brent's method, a different root finder from the package's secant steps. Nothing from
``pexsurv.models.rpsft`` is used in it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, LogNormalAFTFitter, WeibullAFTFitter
from scipy import optimize

from pexsurv import TrialData, TrialDataError
from pexsurv.models import SwitchEstimate, ipe
from pexsurv.models.rpsft.estimate import bootstrap
from pexsurv.simulate import simulate_rpsft


def reference_step(immdef: pd.DataFrame, psi: float, *, recensor: bool = True,
                   fitter: type = WeibullAFTFitter, covariate: str | None = None) -> float:
    """One IPE update from the raw immdef columns: -(AFT arm coefficient on log time)."""
    t, c = immdef["progyrs"].to_numpy(float), immdef["censyrs"].to_numpy(float)
    event = immdef["prog"].to_numpy(float)
    arm = immdef["imm"].to_numpy(float)
    switched = immdef["xo"].to_numpy() == 1
    t_on = np.where(switched, t - immdef["xoyrs"].to_numpy(float), 0.0)
    u = (t - t_on) + math.exp(psi) * t_on
    d = event.copy()
    if recensor:  # control arm only: the experimental arm is always on therapy (autoswitch)
        c_star = np.minimum(c, c * math.exp(psi))
        d = np.where(u <= c_star, event, 0.0)
        u = np.minimum(u, c_star)
    frame = pd.DataFrame({"time": np.where(arm == 1, t, u), "event": np.where(arm == 1, event, d),
                          "arm": arm})
    if covariate is not None:
        frame[covariate] = immdef[covariate].to_numpy(float)
    fit = fitter().fit(frame, "time", "event")
    location = "lambda_" if fitter is WeibullAFTFitter else "mu_"
    return -float(fit.params_[(location, "arm")])


def reference_ipe(immdef: pd.DataFrame, **kw: object) -> float:
    """Fixed point of the update by Brent's method (bracket found from the first iterate)."""
    start = reference_step(immdef, 0.0, **kw)
    return optimize.brentq(lambda p: p - reference_step(immdef, p, **kw), start - 0.5,
                           start + 0.5, xtol=1e-8)


@pytest.fixture(scope="module")
def fit_immdef(immdef_data: TrialData) -> SwitchEstimate:
    return ipe(immdef_data)


def test_immdef_matches_independent_weibull_implementation(fit_immdef, immdef):
    expected = reference_ipe(immdef)
    assert fit_immdef.psi == pytest.approx(expected, abs=1e-4)
    # The check can fail: without recensoring the fixed point moves by far more than 1e-4.
    assert abs(reference_ipe(immdef, recensor=False) - expected) > 1e-3


def test_immdef_lognormal_matches_independent_implementation(immdef_data, immdef):
    fit = ipe(immdef_data, aft_dist="lognormal")
    assert fit.psi == pytest.approx(reference_ipe(immdef, fitter=LogNormalAFTFitter), abs=1e-4)
    assert fit.settings["aft_dist"] == "lognormal"


def test_immdef_with_a_covariate_matches_independent_implementation(immdef):
    # A made-up prognostic covariate, so that the adjusted AFT differs from the plain one.
    rng = np.random.default_rng(4)
    df = immdef.assign(sw=np.where(immdef["xo"] == 1, immdef["xoyrs"], np.nan),
                       score=np.log(immdef["progyrs"]) + rng.normal(0, 1, len(immdef)))
    data = TrialData.from_dataframe(df, time="progyrs", event="prog", arm="imm", reference=0,
                                    id="id", censor_time="censyrs", switch_time="sw",
                                    covariates=["score"])
    fit = ipe(data, covariates=["score"])
    assert fit.psi == pytest.approx(reference_ipe(df, covariate="score"), abs=1e-4)
    assert abs(fit.psi - reference_ipe(df)) > 1e-3


def test_immdef_hazard_ratios(fit_immdef, immdef_data):
    # The adjusted HR is the Cox HR on the counterfactual table it reports.
    from lifelines import CoxPHFitter

    cf = fit_immdef.counterfactual.assign(arm=immdef_data.arm)
    cox = CoxPHFitter().fit(cf[["time_cf", "event_cf", "arm"]], "time_cf", "event_cf")
    assert fit_immdef.hr_adjusted["log_hr"] == pytest.approx(cox.params_["arm"], abs=1e-8)
    # ITT log-rank-preserving interval: SE = |log HR| / |Z_ITT|, so the interval's Wald
    # p-value equals the ITT log-rank p-value (immdef: Z = -1.913881, R's survdiff).
    p = fit_immdef.hr_adjusted_itt_p
    assert fit_immdef.z_itt == pytest.approx(-1.913881, abs=1e-6)
    assert abs(p["log_hr"] / p["se"]) == pytest.approx(1.913881, abs=1e-6)
    assert fit_immdef.ci_type == "log-rank p-value"
    assert fit_immdef.ci[0] < fit_immdef.psi < fit_immdef.ci[1]
    # The experimental arm is as observed, the control arm recensored (autoswitch).
    exp = immdef_data.arm == 1
    np.testing.assert_array_equal(fit_immdef.counterfactual["time_cf"][exp],
                                  immdef_data.time[exp])
    assert fit_immdef.settings["recensored_arms"] == (immdef_data.arms[0],)
    row = fit_immdef.comparison_row()
    assert row["hr_median"] == p["hr"] and row["interval"] == "log-rank p-value"
    assert "common treatment effect" in row["assumption"]


def test_psi_is_a_fixed_point(fit_immdef, immdef):
    assert reference_step(immdef, fit_immdef.psi) == pytest.approx(fit_immdef.psi, abs=1e-6)


def test_recovers_psi_and_no_switch_hr_on_rpsft_data():
    psi = -0.5
    data = simulate_rpsft(4000, seed=11, psi=psi)
    truth = simulate_rpsft(4000, seed=11, psi=psi, switching=False)
    fit = ipe(data)
    from pexsurv.cox import cox_hr

    hr_truth = cox_hr(truth.time, truth.event, truth.arm).hr
    assert abs(fit.psi - psi) < 0.1
    assert fit.ci[0] < psi < fit.ci[1]
    assert fit.hr_adjusted["hr"] == pytest.approx(hr_truth, abs=0.05)
    # Switching dilutes the ITT HR; the adjustment moves it back to the no-switch truth.
    assert abs(fit.hr_itt["hr"] - hr_truth) > 2 * abs(fit.hr_adjusted["hr"] - hr_truth)


def test_treat_modifier_is_applied(immdef_data):
    # A modifier of 2 on every subject is the same model with psi halved.
    base = ipe(immdef_data)
    doubled = ipe(immdef_data, treat_modifier=2.0)
    assert 2 * doubled.psi == pytest.approx(base.psi, abs=1e-6)
    assert doubled.settings["treat_modifier"] == 2.0
    # Half the effect after crossover (m = 0.5 in the control arm) is a different model.
    half = ipe(immdef_data, treat_modifier=np.where(immdef_data.arm == 1, 1.0, 0.5))
    assert abs(half.psi - base.psi) > 1e-2
    with pytest.raises(ValueError, match="one non-zero value within the experimental arm"):
        ipe(immdef_data, treat_modifier=np.linspace(0.5, 1.5, immdef_data.n))


def test_bootstrap_is_seeded_and_sets_intervals():
    data = simulate_rpsft(200, seed=3)
    fit = ipe(data, n_boot=2, seed=5, tol=1e-6)
    assert fit.boot.shape == (2, 2) and fit.ci_type == "bootstrap percentile"
    assert fit.hr is fit.hr_adjusted_boot
    assert fit.hr_adjusted_boot["lower"] <= fit.hr_adjusted_boot["upper"]
    assert fit.ci == (fit.boot["psi"].quantile(0.025), fit.boot["psi"].quantile(0.975))
    # Replicate b depends on (seed, b) only: the first replicate of a shorter run is equal.
    again = ipe(data, n_boot=1, seed=5, tol=1e-6)
    pd.testing.assert_frame_equal(fit.boot.iloc[:1], again.boot)


def test_bootstrap_helper_reproducible_and_prefix_stable():
    x = np.arange(20.0)
    groups = np.repeat([0, 1], 10)

    def rep(i: np.ndarray) -> tuple[float, float]:
        assert (groups[i] == groups).all()  # resampled within group
        return float(x[i].sum()), 0.0

    a = bootstrap(rep, groups, 10, seed=1)
    b = bootstrap(rep, groups, 20, seed=1)
    pd.testing.assert_frame_equal(a, b.iloc[:10])
    assert not a.equals(bootstrap(rep, groups, 10, seed=2))
    with pytest.warns(UserWarning, match="1 of 3 bootstrap replicates failed"):
        calls = iter([(1.0, 0.0), (math.nan, math.nan), (2.0, 0.0)])
        bootstrap(lambda i: next(calls), groups, 3, seed=1)


def test_bad_input(immdef_data, immdef):
    with pytest.raises(ValueError, match="aft_dist"):
        ipe(immdef_data, aft_dist="gamma")
    with pytest.raises(ValueError, match="n_boot"):
        ipe(immdef_data, n_boot=-1)
    with pytest.raises(ValueError, match="'age' is not in the data"):
        ipe(immdef_data, covariates=["age"])
    no_censor = TrialData.from_dataframe(
        immdef.assign(sw=np.where(immdef["xo"] == 1, immdef["xoyrs"], np.nan)),
        time="progyrs", event="prog", arm="imm", reference=0, switch_time="sw", id="id")
    with pytest.raises(TrialDataError, match="censor_time"):
        ipe(no_censor)


def test_delayed_infusion_uses_the_two_way_form_without_warning():
    from pexsurv import datasets

    data = datasets.ct041_like("os")  # delayed infusion, some never infused
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = ipe(data, tol=1e-6)
    assert fit.details["two_way"] and math.isfinite(fit.psi)


# ---------------------------------------------------------------- two-way switching
@pytest.fixture(scope="module")
def two_way():
    from pexsurv.simulate import simulate_two_way_switching

    return simulate_two_way_switching(3000, seed=3, psi=-0.5)


def by_hand(data: TrialData, psi: float) -> tuple[np.ndarray, np.ndarray]:
    """rpsftm's counterfactual untreated times in both arms from the raw columns:
    control switchers are on therapy after the switch, experimental switchers before it;
    both arms recensored at min(C, C exp(psi)) (each has deviators)."""
    t, sw, c = data.time, data.switch_time, data.censor_time
    exp, switched = data.arm == 1, np.isfinite(data.switch_time)
    t_on = np.where(exp, np.where(switched, sw, t), np.where(switched, t - sw, 0.0))
    u = (t - t_on) + math.exp(psi) * t_on
    c_star = np.minimum(c, c * math.exp(psi))
    return np.minimum(u, c_star), data.event * (u <= c_star)


def test_two_way_counterfactual_times_follow_rpsftm(two_way):
    from pexsurv.models import counterfactual_times

    u, e = counterfactual_times(two_way, -0.4)
    ref_u, ref_e = by_hand(two_way, -0.4)
    np.testing.assert_allclose(u, ref_u, rtol=1e-12)
    np.testing.assert_array_equal(e, ref_e)
    assert (e < two_way.event)[two_way.arm == 1].any()  # the experimental arm is recensored


def test_two_way_ipe_compares_always_treated_with_never_treated(two_way):
    fit = ipe(two_way, tol=1e-6)
    assert fit.details["two_way"]
    u, e = by_hand(two_way, fit.psi)
    exp = two_way.arm == 1
    # Reported: the experimental arm as observed against the control arm untreated.
    np.testing.assert_allclose(fit.counterfactual["time_cf"], np.where(exp, two_way.time, u),
                               rtol=1e-12)
    np.testing.assert_array_equal(fit.counterfactual["event_cf"],
                                  np.where(exp, two_way.event, e))
    # Always treated (V = exp(-psi) U*) against never treated, Cox by lifelines.
    frame = pd.DataFrame({"t": np.where(exp, math.exp(-fit.psi) * u, u), "e": e,
                          "arm": exp.astype(float)})
    log_hr = CoxPHFitter().fit(frame, "t", "e").params_["arm"]
    assert fit.details["hr_always_treated"]["log_hr"] == pytest.approx(log_hr, abs=1e-7)
    # Each IPE step is lifelines' AFT on these times, built by hand; psi is its fixed
    # point up to the jump recensoring makes (an event switched off near the root).
    for psi, step in fit.details["evaluations"][-2:]:
        u, e = by_hand(two_way, psi)
        frame = pd.DataFrame({"t": np.where(exp, math.exp(-psi) * u, u), "e": e,
                              "arm": exp.astype(float)})
        beta = WeibullAFTFitter().fit(frame, "t", "e").params_[("lambda_", "arm")]
        assert step == pytest.approx(-beta, abs=1e-7)
    assert abs(fit.psi - dict(fit.details["evaluations"])[fit.psi]) < 2e-3


def test_two_way_recovers_psi_where_ignoring_switches_away_is_biased(two_way):
    from pexsurv.models import rpsftm_gestimate

    psi = -0.5
    fit = ipe(two_way, tol=1e-6)
    g = rpsftm_gestimate(two_way)
    one_way = two_way.derive(np.ones(two_way.n, bool), switch_time=np.where(
        two_way.arm == 1, np.nan, two_way.switch_time))
    naive = ipe(one_way, tol=1e-6)
    assert fit.ci[0] < psi < fit.ci[1] and g.ci[0] < psi < g.ci[1]
    assert fit.psi == pytest.approx(g.psi, abs=0.02)  # same structural model
    assert naive.psi > fit.psi + 0.1  # treating stoppers as on therapy dilutes psi
    assert not naive.details["two_way"]


def test_no_fixed_point_warns_and_is_nan(immdef_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.warns(UserWarning, match="no fixed point"):
            fit = ipe(immdef_data, psi_range=(0.5, 1.0), max_iter=2)
    assert math.isnan(fit.psi) and math.isnan(fit.hr_adjusted["hr"])


def test_ipe_too_few_iterations_warns_and_returns_nan():
    """max_iter too small for Brent's method: a warning that says to raise max_iter and
    psi = NaN (brentq's bare RuntimeError escaped before)."""
    from pexsurv.models.rpsft import ipe
    from pexsurv.simulate import simulate_rpsft

    with pytest.warns(UserWarning, match="Raise max_iter"):
        est = ipe(simulate_rpsft(200, seed=2), max_iter=1)
    assert math.isnan(est.psi)
    assert est.details["solver"] == "failed"
