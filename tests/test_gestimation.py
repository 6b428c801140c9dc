"""Classic RPSFTM g-estimation against R's rpsftm 1.2.9 on immdef, lifelines and known truth.

The R numbers are those of ``pexsurv/datasets/immdef.md`` (R 4.2.2, rpsftm 1.2.9, survival
3.5-3). R solves Z(psi) = target with ``uniroot`` to a tolerance of about 7e-4, so its printed
roots lie up to ~3e-4 from the jump points of the step function Z; the README also lists the
jump points themselves (bisection to 1e-12), which a port that solves exactly must match.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, WeibullAFTFitter
from lifelines.statistics import logrank_test
from matplotlib.figure import Figure

from pexsurv import TrialData, TrialDataError
from pexsurv.models import (
    GEstimate,
    adjusted_hr,
    counterfactual_times,
    logrank_z,
    rpsftm_gestimate,
    z_on_grid,
)

Z975 = 1.959963984540054  # qnorm(0.975)

# (psi, CI lower, CI upper): printed by rpsftm, and the exact jump points of Z(psi).
R_PRINTED = {"a": (-0.181323, -0.349840, 0.002288), "b2": (-0.184826, -0.366425, 0.004030)}
R_SIGN_CHANGE = {"a": (-0.181178, -0.349655, 0.002048), "b2": (-0.185059, -0.366448, 0.004133)}
R_Z_TABLE = {-0.50: 3.658526, -0.35: 1.974833, -0.25: 0.553971, -0.20: 0.120386,
             -0.15: -0.280014, -0.10: -1.001379, 0.00: -1.913881, 0.20: -3.702021}


@pytest.fixture(scope="module")
def immdef_data(immdef: pd.DataFrame) -> TrialData:
    """immdef as R's rpsftm sees it: rx = 1 - xoyrs/progyrs, i.e. deferred-arm patients on
    treatment from their crossover (xoyrs) on; non-switchers have xoyrs == progyrs, so
    their switch time is NaN rather than the end of follow-up."""
    df = immdef.assign(switch=immdef["xoyrs"].where(immdef["xo"] == 1))
    return TrialData.from_dataframe(df, time="progyrs", event="prog", arm="imm", reference=0,
                                    id="id", censor_time="censyrs", switch_time="switch")


@pytest.fixture(scope="module")
def fit_a(immdef_data: TrialData) -> GEstimate:
    return rpsftm_gestimate(immdef_data)


def rpsft_trial(seed: int, n: int, psi: float = -0.5) -> TrialData:
    """A trial with exact RPSFT structure: untreated time U ~ Exp(1); the experimental arm
    is on therapy throughout; control patients switch at a random fraction of U, more often
    when U is short (informative switching); staggered administrative censoring."""
    rng = np.random.default_rng(seed)
    arm = rng.permutation(np.repeat([0, 1], n // 2))
    u = rng.exponential(1.0, n)
    switch = u * rng.uniform(0.2, 0.8, n)
    switches = (arm == 0) & (rng.random(n) < np.where(u < np.log(2), 0.8, 0.3))
    stretch = math.exp(-psi)  # observed time per unit of untreated time, on therapy
    t_true = np.where(arm == 1, u * stretch,
                      np.where(switches, switch + (u - switch) * stretch, u))
    censor = rng.uniform(1.0, 3.0, n)
    time = np.minimum(t_true, censor)
    df = pd.DataFrame({
        "time": time, "event": (t_true <= censor).astype(int), "arm": arm,
        "switch": np.where(switches & (switch < time), switch, np.nan), "censor": censor,
        "x": rng.normal(size=n), "site": rng.choice(["a", "b", "c"], n),
    })
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm",
                                    switch_time="switch", censor_time="censor", strata="site",
                                    covariates=["x"])


# ---------------------------------------------------------------------------- R: immdef
def test_fit_a_matches_r(fit_a: GEstimate):
    estimates = (fit_a.psi, *fit_a.ci)
    np.testing.assert_allclose(estimates, R_PRINTED["a"], atol=2e-3)
    np.testing.assert_allclose(estimates, R_SIGN_CHANGE["a"], atol=1e-4)
    assert fit_a.roots == (fit_a.psi,)
    assert fit_a.acceleration == pytest.approx(0.834166, abs=2e-3)
    assert fit_a.settings["recensored_arms"] == ("0",)  # autoswitch: immediate arm compliant


def test_z_table_matches_r(immdef_data: TrialData):
    z = z_on_grid(immdef_data, list(R_Z_TABLE))
    np.testing.assert_allclose(z.to_numpy(), list(R_Z_TABLE.values()), atol=1e-6)


def test_fit_b2_no_recensoring_matches_r(immdef_data: TrialData):
    fit = rpsftm_gestimate(immdef_data, recensor=False)
    estimates = (fit.psi, *fit.ci)
    np.testing.assert_allclose(estimates, R_PRINTED["b2"], atol=2e-3)
    np.testing.assert_allclose(estimates, R_SIGN_CHANGE["b2"], atol=1e-4)
    assert fit.settings["recensored_arms"] == ()


def test_itt_matches_r(fit_a: GEstimate):
    hr = fit_a.hr_itt
    np.testing.assert_allclose([hr["hr"], hr["lower"], hr["upper"], hr["log_hr"], hr["se"]],
                               [0.804821, 0.644079, 1.005680, -0.217135, 0.113675], atol=2e-6)
    assert fit_a.z_itt == pytest.approx(-1.913881, abs=1e-6)


def test_adjusted_hr_at_r_psi_matches_r(immdef_data: TrialData):
    hr = adjusted_hr(immdef_data, R_PRINTED["a"][0])
    np.testing.assert_allclose([hr["hr"], hr["lower"], hr["upper"], hr["log_hr"], hr["se"]],
                               [0.768527, 0.606036, 0.974585, -0.263280, 0.121194], atol=2e-6)
    # README's ITT-p-preserving interval restates SE = |log HR| / |Z_ITT log-rank|.
    se = abs(hr["log_hr"]) / 1.913881
    assert se == pytest.approx(0.137563, abs=1e-6)
    np.testing.assert_allclose(np.exp(hr["log_hr"] + np.array([-1, 1]) * Z975 * se),
                               [0.586901, 1.006359], atol=2e-6)


def test_both_arms_counterfactual_match_r_sstar(immdef_data: TrialData):
    # R: coxph(fit$Sstar ~ imm), both arms counterfactual. R's psi is printed to 6 decimals
    # and this HR moves with psi between jumps, hence 1e-4.
    u, e = counterfactual_times(immdef_data, R_PRINTED["a"][0])
    cox = CoxPHFitter().fit(pd.DataFrame({"t": u, "e": e, "arm": immdef_data.arm}), "t", "e")
    assert cox.hazard_ratios_["arm"] == pytest.approx(1.003542, abs=1e-4)
    assert cox.standard_errors_["arm"] == pytest.approx(0.118493, abs=1e-5)


def test_adjusted_hr_is_taken_just_below_the_jump_as_r(fit_a, immdef_data):
    """At psi-hat one deferred-arm event is recensored, so the adjusted HR jumps there
    (0.7688 just below, 0.7611 just above). R's printed 0.7685 comes from its psi 1.5e-4
    below the jump; taking the data just below agrees with it within the issue's 0.002."""
    psi_data = fit_a.counterfactual.attrs["psi"]
    assert 0 < fit_a.psi - psi_data < 1e-9
    assert fit_a.hr_adjusted == adjusted_hr(immdef_data, psi_data)
    assert fit_a.hr_adjusted["hr"] == pytest.approx(0.768527, abs=2e-3)
    above = adjusted_hr(immdef_data, fit_a.psi + 1e-9)["hr"]
    # Regression snapshot (the package's own output; R reports only the value below the jump).
    assert above == pytest.approx(0.7611, abs=1e-4)


def test_itt_p_preserving_interval_formula(fit_a: GEstimate):
    hr, p = fit_a.hr_adjusted, fit_a.hr_adjusted_itt_p
    assert p["se"] == pytest.approx(abs(hr["log_hr"] / fit_a.z_itt), rel=1e-12)
    assert (p["hr"], p["log_hr"]) == (hr["hr"], hr["log_hr"])
    assert p["lower"] == pytest.approx(math.exp(hr["log_hr"] - Z975 * p["se"]), rel=1e-12)
    assert p["upper"] == pytest.approx(math.exp(hr["log_hr"] + Z975 * p["se"]), rel=1e-12)


# ---------------------------------------------------------------------------- log-rank kernel
def naive_logrank(time, event, group, strata):
    """Textbook stratified log-rank Z, one distinct event time at a time."""
    o_minus_e = var = 0.0
    for s in np.unique(strata):
        t, e, g = time[strata == s], event[strata == s], group[strata == s]
        for u in np.unique(t[e == 1]):
            at_risk, d = t >= u, (t == u) & (e == 1)
            n, n1, dd = at_risk.sum(), (at_risk & (g == 1)).sum(), d.sum()
            o_minus_e += (d & (g == 1)).sum() - dd * n1 / n
            if n > 1:
                var += dd * (n1 / n) * (1 - n1 / n) * (n - dd) / (n - 1)
    return o_minus_e / math.sqrt(var)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_logrank_z_matches_lifelines_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 300
    group = rng.integers(0, 2, n)
    time = np.round(rng.exponential(np.where(group == 1, 3.0, 2.0)), 1) + 0.1  # many ties
    event = rng.integers(0, 2, n)
    ref = logrank_test(time[group == 1], time[group == 0], event[group == 1], event[group == 0])
    z = logrank_z(time, event, group)
    assert z**2 == pytest.approx(ref.test_statistic, rel=1e-10)
    assert z == pytest.approx(naive_logrank(time, event, group, np.zeros(n)), rel=1e-10)


def test_logrank_z_sign_and_strata():
    rng = np.random.default_rng(4)
    n = 400
    group = rng.integers(0, 2, n)
    strata = rng.choice(["x", "y", "z"], n)
    time = np.round(rng.exponential(np.where(group == 1, 1.0, 2.0)), 1) + 0.1
    event = rng.integers(0, 2, n)
    z = logrank_z(time, event, group, strata)
    assert z > 2  # group 1 has the higher hazard: more events than expected
    assert z == pytest.approx(naive_logrank(time, event, group, strata), rel=1e-10)
    assert np.isnan(logrank_z(time, np.zeros(n), group))  # no events: undefined


def test_batched_grid_equals_one_psi_at_a_time():
    # z_on_grid sorts many psi at once with a carried subject order; it must equal the
    # plain computation at each psi (ties from rounding, strata, recensoring of both arms).
    df = rpsft_trial(5, 300).to_frame()
    df["time"] = np.maximum(np.floor(df["time"] * 100) / 100, 0.01)  # ties, still <= censor
    df["switch_time"] = df["switch_time"].clip(upper=df["time"])
    data = TrialData.from_dataframe(df, time="time", event="event", arm="arm", reference="0",
                                    switch_time="switch_time", censor_time="censor_time",
                                    strata="strata")
    psis = np.linspace(-1.5, 1.0, 301)
    batched = z_on_grid(data, psis, autoswitch=False).to_numpy()
    single = [logrank_z(*counterfactual_times(data, p, autoswitch=False), data.arm, data.strata)
              for p in psis]
    np.testing.assert_allclose(batched, single, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------- model pieces
def test_counterfactual_times_recensoring_rules(immdef_data: TrialData):
    psi = 0.3
    switch = immdef_data.switch_time  # NaN except deferred-arm switchers
    t, c = immdef_data.time, immdef_data.censor_time
    on = np.where(immdef_data.arm == 1, t, np.where(np.isnan(switch), 0.0, t - switch))
    u = t - on + math.exp(psi) * on
    for autoswitch, recensored in ((True, immdef_data.arm == 0), (False, np.ones(1000, bool))):
        c_star = np.where(recensored, np.minimum(c, c * math.exp(psi)), np.inf)
        time, event = counterfactual_times(immdef_data, psi, autoswitch=autoswitch)
        np.testing.assert_allclose(time, np.minimum(u, c_star), rtol=1e-14)
        np.testing.assert_array_equal(event, np.where(c_star < u, 0, immdef_data.event))
    # psi > 0 recensors the immediate arm (U = T e^psi may exceed C) only without autoswitch
    assert counterfactual_times(immdef_data, psi, autoswitch=False)[1].sum() < \
        counterfactual_times(immdef_data, psi)[1].sum()


def test_treat_modifier_scales_psi(immdef_data: TrialData, fit_a: GEstimate):
    twice = rpsftm_gestimate(immdef_data, treat_modifier=np.full(immdef_data.n, 2.0))
    assert twice.psi == pytest.approx(fit_a.psi / 2, abs=1e-9)
    np.testing.assert_allclose(twice.ci, np.array(fit_a.ci) / 2, atol=1e-9)
    assert twice.settings["treat_modifier"] == "per-subject"
    np.testing.assert_array_equal(counterfactual_times(immdef_data, -0.2, treat_modifier=2.0)[0],
                                  counterfactual_times(immdef_data, -0.4)[0])


def test_experimental_arm_exposure_uses_treatment_start():
    # Never-treated experimental patients are off therapy throughout: U = T whatever psi.
    df = pd.DataFrame({"t": [2.0, 3.0, 4.0, 5.0], "e": [1, 1, 0, 1], "arm": [1, 1, 0, 0],
                       "start": [0.5, np.nan, np.nan, np.nan]})
    data = TrialData.from_dataframe(df, time="t", event="e", arm="arm",
                                    treatment_start="start")
    u, e = counterfactual_times(data, math.log(0.5), recensor=False)
    np.testing.assert_allclose(u, [0.5 + 1.5 * 0.5, 3.0, 4.0, 5.0])


# ---------------------------------------------------------------------------- recovery
def test_recovers_true_psi_under_informative_switching():
    fit = rpsftm_gestimate(rpsft_trial(1, 2000))
    se = (fit.ci[1] - fit.ci[0]) / 2 / Z975
    assert abs(fit.psi - (-0.5)) < 3 * se
    assert fit.ci[0] < fit.psi < fit.ci[1]
    z = fit.z_grid
    assert z.sel(psi=-2.0) > 0 > z.sel(psi=2.0)  # Z decreases in psi


def test_cox_test_agrees_with_logrank():
    data = rpsft_trial(2, 200)
    # Every Cox Z is a lifelines fit (~0.1 s): a coarse grid and R-like tolerance.
    options = {"psi_range": (-1.5, 0.3), "grid_size": 7, "tol": 1e-3}
    logrank = rpsftm_gestimate(data, **options)
    cox = rpsftm_gestimate(data, test="cox", covariates=["x"], **options)
    assert abs(cox.psi - logrank.psi) < (logrank.ci[1] - logrank.ci[0]) / 4
    # At psi = 0 the Cox test is the ITT Wald Z of arm, stratified, with the covariate.
    frame = pd.DataFrame({"t": data.time, "e": data.event, "arm": data.arm.astype(float),
                          "x": data.covariates["x"], "site": data.strata})
    ref = CoxPHFitter().fit(frame, "t", "e", strata=["site"])
    assert cox.z_itt == pytest.approx(ref.params_["arm"] / ref.standard_errors_["arm"], rel=1e-6)


def test_weibull_test_orientation():
    data = rpsft_trial(2, 200)
    z = z_on_grid(data, [-1.5, 0.0, 0.5], test="weibull").to_numpy()
    assert z[0] > 0 > z[2]  # like the log-rank Z: decreasing, negative when therapy helps
    # Strata enter the AFT model as indicators; Z is minus the arm's Wald Z on log time.
    frame = pd.DataFrame({"t": data.time, "e": data.event, "arm": data.arm.astype(float)})
    frame = frame.join(pd.get_dummies(pd.Series(data.strata), drop_first=True, dtype=float))
    aft = WeibullAFTFitter().fit(frame, "t", "e")
    key = ("lambda_", "arm")
    assert z[1] == pytest.approx(-aft.params_[key] / aft.standard_errors_[key], rel=1e-6)


# ---------------------------------------------------------------------------- result object
def test_result_outputs(fit_a: GEstimate, immdef_data: TrialData):
    assert fit_a.z_grid.dims == ("psi",) and fit_a.z_grid.size == 2001
    cf = fit_a.counterfactual
    assert list(cf.columns) == ["id", "arm", "time_cf", "event_cf"] and len(cf) == 1000
    assert set(cf["arm"]) == {"0", "1"}
    exp = immdef_data.arm == 1  # not recensored: U = T exp(psi) exactly
    np.testing.assert_allclose(cf["time_cf"][exp], immdef_data.time[exp] * fit_a.acceleration,
                               rtol=1e-9)
    table = fit_a.summary()
    assert list(table.index) == ["psi", "acceleration", "hr_itt", "hr_adjusted",
                                 "hr_adjusted_itt_p"]
    assert table.loc["acceleration", "estimate"] == pytest.approx(math.exp(fit_a.psi))
    assert table.loc["psi", "lower"] == fit_a.ci[0]
    d = json.loads(json.dumps(fit_a.to_dict()))
    assert d["psi"] == fit_a.psi and d["settings"]["test"] == "logrank"
    fig = fit_a.plot()
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) == 7  # Z, 3 targets, 3 psi
    assert "psi=-0.181178" in repr(fit_a)


def test_several_roots_warn_and_report_all():
    with pytest.warns(UserWarning, match="crosses 0 at 5 points"):
        fit = rpsftm_gestimate(rpsft_trial(37, 40))
    assert len(fit.roots) == 5 and fit.psi == fit.roots[2]
    assert list(fit.roots) == sorted(fit.roots)


def test_search_range_without_root_or_limits(immdef_data: TrialData):
    with pytest.warns(UserWarning, match="does not cross 0"):
        with pytest.warns(UserWarning, match="confidence limit lies outside"):
            fit = rpsftm_gestimate(immdef_data, psi_range=(0.5, 1.0))
    assert math.isnan(fit.psi) and math.isnan(fit.hr_adjusted["hr"])
    with pytest.warns(UserWarning, match="confidence limit lies outside"):
        fit = rpsftm_gestimate(immdef_data, psi_range=(-0.3, 1.0))
    assert math.isnan(fit.ci[0]) and fit.ci[1] == pytest.approx(0.002048, abs=1e-4)


# ---------------------------------------------------------------------------- errors
def test_recensoring_needs_censor_time(immdef: pd.DataFrame):
    data = TrialData.from_dataframe(immdef, time="progyrs", event="prog", arm="imm")
    with pytest.raises(TrialDataError, match="censor_time='<column>'.*recensor=False"):
        rpsftm_gestimate(data)
    assert np.isfinite(rpsftm_gestimate(data, recensor=False).psi)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"test": "wilcoxon"}, "test must be one of"),
    ({"treat_modifier": [1.0, 2.0]}, "treat_modifier must be"),
    ({"covariates": ["x"]}, "covariates need test='cox'"),
    ({"test": "cox", "covariates": ["age"]}, "not in the data"),
    ({"psi_range": (1.0, -1.0)}, "psi_range"),
    ({"grid_size": 2}, "grid_size"),
    ({"alpha": 1.5}, "alpha"),
    ({"tol": 0.0}, "tol"),
])
def test_invalid_options(immdef_data: TrialData, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rpsftm_gestimate(immdef_data, **kwargs)


@pytest.mark.parametrize("test", ["cox", "weibull"])
def test_model_tests_refuse_a_constant_covariate_by_name(test):
    # Through pexsurv.cox's covariate check: before it, lifelines failed to converge at every
    # psi and the g-estimate came back NaN with only a "Z does not cross 0" warning.
    data = rpsft_trial(2, 60)
    data = dataclasses.replace(data, covariates={**data.covariates, "flag": np.ones(data.n)})
    with pytest.raises(TrialDataError, match="column 'flag': covariate is constant"):
        z_on_grid(data, [0.0], test=test, covariates=["flag"])
