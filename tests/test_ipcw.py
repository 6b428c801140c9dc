"""IPCW: the long time-varying data model and its validation, the simulator with a
time-varying marker, the weighted kernels against lifelines and a direct maximisation, an
independent re-computation of the whole weighting from the raw rows, recovery of the
no-switch hazard ratio when the marker is measured and bias when it is hidden."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, CoxTimeVaryingFitter, KaplanMeierFitter
from scipy import optimize, special

from pexsurv import TrialData, TrialDataError
from pexsurv.cox import cox_hr
from pexsurv.longdata import LongData
from pexsurv.models import IpcwEstimate, ipcw
from pexsurv.models.rpsft.weighted import logistic_fit, weighted_cox
from pexsurv.simulate import TimeVaryingSwitching, simulate_time_varying_switching

MODEL = {"baseline": ["marker0"], "time_varying": ["marker"]}


# ------------------------------------------------------------------------------ long data
@pytest.fixture(scope="module")
def trial() -> TrialData:
    df = pd.DataFrame({"id": ["a", "b", "c"], "t": [2.0, 1.5, 3.0], "e": [1, 0, 1],
                       "arm": [0, 1, 0]})
    return TrialData.from_dataframe(df, time="t", event="e", arm="arm", id="id", reference=0)


def rows(**changes: list) -> pd.DataFrame:
    base = {"id": ["a", "a", "b", "c", "c"], "tstart": [0.0, 1.0, 0.0, 0.0, 2.0],
            "tstop": [1.0, 2.0, 1.5, 2.0, 3.0], "x": [0.1, 0.5, 0.2, 0.3, 0.9]}
    return pd.DataFrame({**base, **changes})


def test_long_data_orders_and_keeps_the_rows(trial):
    shuffled = rows().iloc[[4, 2, 0, 3, 1]]
    long = LongData.from_dataframe(shuffled, trial, covariates=["x"])
    assert long.subject.tolist() == [0, 0, 1, 2, 2]
    assert long.tstart.tolist() == [0.0, 1.0, 0.0, 0.0, 2.0]
    assert long.covariates["x"].tolist() == [0.1, 0.5, 0.2, 0.3, 0.9]
    frame = long.to_frame(trial)
    assert frame["id"].tolist() == ["a", "a", "b", "c", "c"]


@pytest.mark.parametrize(("changes", "match"), [
    ({"id": ["a", "a", "b", "z", "c"]}, "column 'id': ids not in the trial data in 1 row.*z"),
    ({"id": ["a", "a", "a", "c", "c"], "tstart": [0.0, 1.0, 2.0, 0.0, 2.0],
      "tstop": [1.0, 2.0, 2.5, 2.0, 3.0]},
     "column 'id': patients of the trial data without rows.*ids: b"),
    ({"tstart": [0.0, 1.2, 0.0, 0.0, 2.0]}, "column 'tstart': gap between.*ids: a"),
    ({"tstart": [0.0, 0.8, 0.0, 0.0, 2.0]}, "column 'tstart': overlapping rows.*ids: a"),
    ({"tstart": [0.0, 1.0, 0.5, 0.0, 2.0]}, "first row starts after randomization.*ids: b"),
    ({"tstop": [1.0, 2.0, 1.7, 2.0, 3.0]}, "column 'tstop': rows beyond.*ids: b"),
    ({"tstop": [1.0, 2.0, 1.5, 2.0, 2.5]}, "column 'tstop': rows stop before.*ids: c"),
    ({"tstop": [1.0, 2.0, 1.5, 2.0, 2.0]}, "column 'tstop': stop not after start.*ids: c"),
    ({"tstart": [0.0, 1.0, -1.0, 0.0, 2.0]}, "column 'tstart': negative.*ids: b"),
    ({"x": [0.1, np.nan, 0.2, 0.3, 0.9]}, "column 'x': missing or infinite.*ids: a"),
    ({"x": list("ABCDE")}, "column 'x' of the long table is not numeric"),
])
def test_long_data_errors_name_the_column_the_ids_and_the_fix(trial, changes, match):
    with pytest.raises(TrialDataError, match=match) as err:
        LongData.from_dataframe(rows(**changes), trial, covariates=["x"])
    assert "Fix:" in str(err.value) or "not numeric" in match


def test_long_data_names_missing_columns(trial):
    with pytest.raises(TrialDataError, match=r"no column\(s\) \['marker'\]"):
        LongData.from_dataframe(rows(), trial, covariates=["marker"])


def test_split_at_keeps_the_history(trial):
    long = LongData.from_dataframe(rows(), trial, covariates=["x"])
    cut = long.split_at(np.array([1.0, 0.5, np.nan]))  # a: on a boundary; b: inside
    assert cut.n_rows == long.n_rows + 1
    assert cut.tstart.tolist() == [0.0, 1.0, 0.0, 0.5, 0.0, 2.0]
    assert cut.tstop.tolist() == [1.0, 2.0, 0.5, 1.5, 2.0, 3.0]
    assert cut.covariates["x"].tolist() == [0.1, 0.5, 0.2, 0.2, 0.3, 0.9]


# ------------------------------------------------------------------------------ simulator
@pytest.fixture(scope="module")
def sim() -> TimeVaryingSwitching:
    return simulate_time_varying_switching(300, seed=11)


def test_simulator_switching_false_is_the_same_trial_without_switches(sim):
    truth = simulate_time_varying_switching(300, seed=11, switching=False)
    switched = np.isfinite(sim.data.switch_time)
    assert switched.sum() > 30 and (sim.data.arm[switched] == 0).all()
    assert not np.isfinite(truth.data.switch_time).any()
    # Patients who never switched have the same outcome in both worlds.
    same = ~switched
    np.testing.assert_array_equal(sim.data.time[same], truth.data.time[same])
    # Switchers switch at a visit, before the end of follow-up, and live longer (HR < 1).
    sw = sim.data.switch_time[switched]
    assert np.allclose(sw / 0.25, np.round(sw / 0.25)) and (sw < sim.data.time[switched]).all()
    assert (sim.data.time[switched] >= truth.data.time[switched]).all()
    # The long table tiles each patient's follow-up.
    assert sim.long.n_rows == np.ceil(sim.data.time / 0.25).sum()


# -------------------------------------------------------------------------- kernels
def test_logistic_fit_matches_a_direct_maximisation():
    rng = np.random.default_rng(3)
    x = np.c_[np.ones(400), rng.normal(size=(400, 2))]
    y = (rng.uniform(size=400) < special.expit(x @ [-0.5, 1.0, -0.7])).astype(float)

    def nll(b: np.ndarray) -> float:
        eta = x @ b
        return float(np.sum(np.logaddexp(0, eta) - y * eta))

    ref = optimize.minimize(nll, np.zeros(3), method="BFGS", options={"gtol": 1e-10})
    fit = logistic_fit(x, y)
    assert fit.converged
    np.testing.assert_allclose(fit.coef, ref.x, atol=1e-5)
    # Model-based SE: the inverse Hessian of the negative log-likelihood.
    p = special.expit(x @ fit.coef)
    se = np.sqrt(np.diag(np.linalg.inv(x.T @ (x * (p * (1 - p))[:, None]))))
    np.testing.assert_allclose(fit.se, se, rtol=1e-10)


def test_logistic_fit_reports_separation():
    x = np.c_[np.ones(6), [0, 0, 0, 1, 1, 1.0]]
    assert not logistic_fit(x, np.array([0, 0, 0, 1, 1, 1.0])).converged


@pytest.fixture(scope="module")
def counting_rows() -> pd.DataFrame:
    """Subjects split into two rows with different weights, no tied event times."""
    rng = np.random.default_rng(1)
    n = 300
    x = rng.integers(0, 2, n).astype(float)
    t = rng.exponential(np.exp(0.5 * x))
    e = (rng.uniform(size=n) < 0.8).astype(float)
    cut = rng.uniform(0, 1, n) * t
    return pd.DataFrame({"start": np.r_[np.zeros(n), cut], "stop": np.r_[cut, t],
                         "event": np.r_[np.zeros(n), e], "x": np.r_[x, x],
                         "w": rng.uniform(0.5, 2.0, 2 * n), "id": np.r_[np.arange(n),
                                                                          np.arange(n)]})


def test_weighted_cox_matches_lifelines_time_varying_fit(counting_rows):
    r = counting_rows
    fit = weighted_cox(*(r[c].to_numpy() for c in ("start", "stop", "event", "x", "w", "id")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines' advice on non-integer weights
        ref = CoxTimeVaryingFitter().fit(r, id_col="id", event_col="event",
                                         start_col="start", stop_col="stop", weights_col="w")
    assert fit.log_hr == pytest.approx(ref.params_["x"], abs=1e-8)


def test_weighted_cox_robust_se_matches_lifelines_and_the_jackknife(counting_rows):
    r = counting_rows
    # Without delayed entry lifelines' sandwich is the same formula.
    one = r[r["start"] == 0].assign(stop=r.groupby("id")["stop"].max().to_numpy(),
                                    event=r.groupby("id")["event"].max().to_numpy())
    fit = weighted_cox(*(one[c].to_numpy() for c in ("start", "stop", "event", "x", "w", "id")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CoxPHFitter().fit(one[["stop", "event", "x", "w"]], "stop", "event",
                                weights_col="w", robust=True)
    assert fit.log_hr == pytest.approx(ref.params_["x"], abs=1e-7)
    assert fit.se_robust == pytest.approx(ref.standard_errors_["x"], rel=1e-6)
    # With rows (delayed entry) check the sandwich against the leave-one-subject-out
    # jackknife, an independent estimate of the same variance.
    full = weighted_cox(*(r[c].to_numpy() for c in ("start", "stop", "event", "x", "w", "id")))
    ids = r["id"].to_numpy()
    loo = np.array([weighted_cox(*(r[c].to_numpy()[ids != i] for c in
                                   ("start", "stop", "event", "x", "w", "id"))).log_hr
                    for i in np.unique(ids)])
    n = loo.size
    jack = math.sqrt((n - 1) / n * ((loo - loo.mean()) ** 2).sum())
    assert full.se_robust == pytest.approx(jack, rel=0.05)


def test_weighted_cox_robust_se_on_split_rows_is_lifelines_on_whole_ones():
    """Delayed entry: splitting each patient's row in two (same covariate and weight)
    changes nothing, so the per-patient sandwich on the split rows (the form IPCW's rows
    take) must equal lifelines' robust SE on the whole rows. (lifelines' own sandwich with
    ``entry_col`` and ``cluster_col`` does not have this invariance, so it is no reference
    for counting-process rows.)"""
    rng = np.random.default_rng(1)
    n = 200
    x = rng.integers(0, 2, n).astype(float)
    whole = pd.DataFrame({"start": 0.0, "stop": rng.exponential(np.exp(-0.5 * x)),
                          "event": (rng.uniform(size=n) < 0.8).astype(float), "x": x,
                          "w": rng.uniform(0.5, 2.0, n), "id": np.arange(n)})
    cut = float(whole["stop"].median())
    later = whole[whole["stop"] > cut].assign(start=cut)
    earlier = whole.assign(stop=np.minimum(whole["stop"], cut),
                           event=np.where(whole["stop"] > cut, 0.0, whole["event"]))
    split = pd.concat([earlier, later]).sort_values(["id", "start"])
    fit = weighted_cox(*(split[c].to_numpy() for c in ("start", "stop", "event", "x", "w",
                                                       "id")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CoxPHFitter().fit(whole[["stop", "event", "x", "w"]], "stop", "event",
                                weights_col="w", robust=True)
    assert fit.log_hr == pytest.approx(ref.params_["x"], abs=1e-6)  # convergence tolerances
    assert fit.se_robust == pytest.approx(ref.standard_errors_["x"], rel=1e-5)


@pytest.fixture(scope="module")
def tied() -> pd.DataFrame:
    """Weighted subjects whose event times fall on a quarter-unit grid: many ties."""
    rng = np.random.default_rng(3)
    n = 120
    x = rng.integers(0, 2, n).astype(float)
    return pd.DataFrame({"start": np.zeros(n),
                         "stop": np.ceil(rng.exponential(np.exp(0.5 * x)) * 4) / 4,
                         "event": (rng.uniform(size=n) < 0.8).astype(float), "x": x,
                         "w": rng.uniform(0.5, 2.0, n), "id": np.arange(n)})


def cox_of(r: pd.DataFrame, **kw: str) -> object:
    return weighted_cox(*(r[c].to_numpy() for c in ("start", "stop", "event", "x", "w", "id")),
                        **kw)


def test_weighted_cox_ties_are_efron_like_lifelines_and_cox_hr(tied):
    """Efron by default, as lifelines (Efron only) and pexsurv.cox_hr: Breslow differs."""
    r = tied
    assert r.loc[r["event"] == 1, "stop"].duplicated().sum() > 50
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CoxPHFitter().fit(r[["stop", "event", "x", "w"]], "stop", "event",
                                weights_col="w")
    efron = cox_of(r)
    assert efron.ties == "efron" and efron.log_hr == pytest.approx(ref.params_["x"], abs=1e-7)
    assert abs(cox_of(r, ties="breslow").log_hr - efron.log_hr) > 0.01
    unweighted = cox_of(r.assign(w=1.0))
    assert unweighted.log_hr == pytest.approx(
        cox_hr(r["stop"].to_numpy(), r["event"].to_numpy(), r["x"].to_numpy() == 1).log_hr,
        abs=1e-7)
    with pytest.raises(ValueError, match="ties must be"):
        cox_of(r, ties="exact")


def test_weighted_cox_efron_on_counting_rows_matches_lifelines(tied):
    rng = np.random.default_rng(4)
    cut = np.floor(rng.uniform(0, 1, len(tied)) * tied["stop"] * 4) / 4
    split = tied[cut > 0]
    rows = pd.concat([tied.assign(stop=np.where(cut > 0, cut, tied["stop"]),
                                  event=np.where(cut > 0, 0.0, tied["event"])),
                      split.assign(start=cut[cut > 0], w=rng.uniform(0.5, 2, len(split)))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CoxTimeVaryingFitter().fit(rows, id_col="id", event_col="event",
                                         start_col="start", stop_col="stop", weights_col="w")
    assert cox_of(rows).log_hr == pytest.approx(ref.params_["x"], abs=1e-8)


def test_weighted_cox_breslow_maximises_the_breslow_likelihood(tied):
    r = tied
    t, d, x, w = (r[c].to_numpy() for c in ("stop", "event", "x", "w"))

    def nll(beta: float) -> float:
        # Breslow: each death's weight times log of its own risk set, ties sharing it.
        risk = np.array([(w * np.exp(beta * x))[t >= ti].sum() for ti in t])
        return -float((w * d * (beta * x - np.log(risk))).sum())

    ref = optimize.minimize_scalar(nll, bounds=(-3, 3), method="bounded",
                                   options={"xatol": 1e-10}).x
    assert cox_of(r, ties="breslow").log_hr == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_weighted_cox_robust_se_under_ties_is_the_infinitesimal_jackknife(tied, ties):
    """The sandwich is sum_i (w_i d beta / d w_i)^2 exactly; lifelines' robust SE does not
    handle ties (its source says so), so the reference is numerical differentiation."""
    fit = cox_of(tied, ties=ties)
    eps = 1e-6
    influence = np.array([(cox_of(tied.assign(w=tied["w"] * np.where(tied["id"] == i,
                                                                       1 + eps, 1.0)),
                                  ties=ties).log_hr - fit.log_hr) / eps
                          for i in tied["id"]])
    assert fit.se_robust == pytest.approx(math.sqrt((influence ** 2).sum()), rel=1e-5)


# --------------------------------------------------------------- weighting, by hand
def reference_ipcw(s: TimeVaryingSwitching) -> tuple[float, np.ndarray]:
    """Pooled logistic switching model, stabilised weights (Kaplan-Meier numerator) and
    the weighted Cox fit, recomputed from the raw rows with scipy and lifelines (switches
    fall on visits, so the numerator steps only at row starts)."""
    long = s.long.to_frame(s.data)
    f = s.frame.set_index("id")
    long = long.join(f[["arm", "switch_time", "time", "event", "marker0"]], on="id")
    sw = long["switch_time"].fillna(np.inf)
    long = long[long["tstart"] <= sw].copy()
    control = long["arm"] == 0
    model = long[control & (long["tstart"] > 0)]
    y = (model["tstart"] == model["switch_time"]).to_numpy(float)

    def fit(columns: list[str]) -> np.ndarray:
        x = np.c_[np.ones(len(model)), model[columns].to_numpy()]
        nll = lambda b: float(np.sum(np.logaddexp(0, x @ b) - y * (x @ b)))  # noqa: E731
        b = optimize.minimize(nll, np.zeros(x.shape[1]), method="BFGS",
                              options={"gtol": 1e-9}).x
        return special.expit(x @ b)

    p_den = fit(["tstart", "marker0", "marker"])
    ratio = pd.Series(1 / (1 - p_den), index=model.index)
    long["factor"] = ratio.reindex(long.index).fillna(1.0)
    long = long[long["tstart"] < long["switch_time"].fillna(np.inf)]
    # Numerator: P(not switched by t) in the control arm, switch censored at death/censoring.
    control = f[f["arm"] == 0]
    km = KaplanMeierFitter().fit(np.minimum(control["switch_time"].fillna(np.inf),
                                            control["time"]),
                                 control["switch_time"].notna())
    numerator = km.survival_function_at_times(long["tstart"]).to_numpy()
    long["weight"] = (numerator * long.groupby("id")["factor"].cumprod()).where(
        long["arm"] == 0, 1.0)
    long["d"] = ((long["event"] == 1) & (long["tstop"] == long["time"])).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cox = CoxTimeVaryingFitter().fit(long[["id", "tstart", "tstop", "d", "arm", "weight"]],
                                         id_col="id", event_col="d", start_col="tstart",
                                         stop_col="tstop", weights_col="weight")
    return float(cox.params_["arm"]), long["weight"].to_numpy()


def test_weights_and_hr_match_an_independent_computation(sim):
    log_hr, weights = reference_ipcw(sim)
    fit = ipcw(sim.data, sim.long, **MODEL)
    np.testing.assert_allclose(fit.weights["weight"], weights, rtol=1e-5)
    assert fit.hr_adjusted["log_hr"] == pytest.approx(log_hr, abs=1e-5)
    assert isinstance(fit, IpcwEstimate) and fit.weights["weight"].max() > 1.5
    assert fit.counts() == (300, int(fit.weights["event"].sum()))


def staying_weights(sim, fit: IpcwEstimate, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first switcher's reported weights and ``prod 1 / (1 - expit(x coef))`` over the
    rows before the switch, computed here from the long table."""
    frame = sim.long.to_frame(sim.data).join(sim.frame.set_index("id")[["arm", "marker0",
                                                                        "switch_time"]],
                                             on="id")
    patient = frame[frame["id"] == frame.loc[frame["switch_time"].notna(), "id"].iloc[0]]
    before = patient[patient["tstart"] < patient["switch_time"]]
    x = np.c_[np.ones(len(before)), before[["tstart", "marker0", "marker"]].to_numpy()]
    stay = 1 - special.expit(x @ coef)
    stay[before["tstart"].to_numpy() == 0] = 1.0  # nobody switches at randomization
    got = fit.weights.loc[fit.weights["id"] == patient["id"].iloc[0], "weight"]
    return got.to_numpy(), np.cumprod(1 / stay)


def test_unstabilised_weights_are_the_inverse_probability_of_staying(sim):
    fit = ipcw(sim.data, sim.long, **MODEL, stabilised=False)
    coef = fit.switching_models.loc["denominator", "coef"].to_numpy()
    np.testing.assert_allclose(*staying_weights(sim, fit, coef), rtol=1e-12)
    experimental = fit.weights["arm"] == sim.data.arms[1]
    assert experimental.sum() > 100 and (fit.weights.loc[experimental, "weight"] == 1).all()


def test_known_switching_coefficients_replace_the_fitted_model(sim):
    """``switching_coef``: the weights are the inverse probabilities under the given
    coefficients (here the simulator's true ``logit = -2.5 + marker``), nothing fitted."""
    true = np.array([-2.5, 0.0, 0.0, 1.0])  # intercept, time, marker0, marker
    fit = ipcw(sim.data, sim.long, **MODEL, stabilised=False, switching_coef=true)
    np.testing.assert_allclose(*staying_weights(sim, fit, true), rtol=1e-12)
    models = fit.switching_models.loc["denominator"]
    assert (models["coef"].to_numpy() == true).all() and models["se"].isna().all()
    assert fit.settings["switching_coef"] == tuple(true)
    estimated = ipcw(sim.data, sim.long, **MODEL, stabilised=False)
    assert fit.hr_adjusted["log_hr"] != estimated.hr_adjusted["log_hr"]
    # The fitted coefficients, given back, reproduce the fitted procedure.
    again = ipcw(sim.data, sim.long, **MODEL, stabilised=False,
                 switching_coef=estimated.switching_models["coef"].to_numpy())
    assert again.hr_adjusted == pytest.approx(estimated.hr_adjusted, rel=1e-12)
    with pytest.raises(ValueError, match=r"4 finite numbers.*'marker0', 'marker'"):
        ipcw(sim.data, sim.long, **MODEL, switching_coef=[0.0, 1.0])


# ---------------------------------------------------------------- recovery and bias
@pytest.fixture(scope="module")
def big() -> tuple[TimeVaryingSwitching, float]:
    s = simulate_time_varying_switching(4000, seed=21)
    truth = simulate_time_varying_switching(4000, seed=21, switching=False).data
    return s, cox_hr(truth.time, truth.event, truth.arm).log_hr


def test_recovers_the_no_switch_hr_when_the_marker_is_measured(big):
    s, truth = big
    fit = ipcw(s.data, s.long, **MODEL)
    pp = s.data.per_protocol()
    naive = cox_hr(pp.time, pp.event, pp.arm).log_hr
    assert abs(fit.hr_adjusted["log_hr"] - truth) < 0.05
    assert abs(fit.hr_pem["log_hr"] - truth) < 0.05
    assert fit.hr["lower"] < math.exp(truth) < fit.hr["upper"]
    assert naive - truth > 0.15  # censoring switchers without weights is biased
    assert fit.switching_models.loc[("denominator", "marker"), "coef"] == pytest.approx(1.0,
                                                                                        abs=0.15)


def test_is_biased_when_the_marker_is_hidden(big):
    s, truth = big
    hidden = ipcw(s.data, s.long, baseline=["marker0"])
    measured = ipcw(s.data, s.long, **MODEL)
    assert hidden.hr_adjusted["log_hr"] - truth > 0.07
    assert abs(measured.hr_adjusted["log_hr"] - truth) < hidden.hr_adjusted["log_hr"] - truth


# ------------------------------------------------------------------ options and output
def test_bootstrap_is_seeded_prefix_stable_and_gives_both_intervals(sim):
    a = ipcw(sim.data, sim.long, **MODEL, n_boot=6, seed=2)
    b = ipcw(sim.data, sim.long, **MODEL, n_boot=3, seed=2)
    pd.testing.assert_frame_equal(a.boot.iloc[:3], b.boot)
    assert a.hr is a.hr_adjusted_boot and a.interval_kind() == "bootstrap percentile"
    lo, hi = np.quantile(a.boot["log_hr"], [0.025, 0.975])
    assert (a.hr["lower"], a.hr["upper"]) == pytest.approx((math.exp(lo), math.exp(hi)))
    # Bootstrap-t: quantiles of (replicate - estimate) / replicate robust SE.
    t = (a.boot["log_hr"] - a.hr_adjusted["log_hr"]) / a.boot["se_robust"]
    q_lo, q_hi = np.quantile(t, [0.025, 0.975])
    est, se = a.hr_adjusted["log_hr"], a.hr_adjusted["se"]
    assert (a.hr_adjusted_boot_t["lower"], a.hr_adjusted_boot_t["upper"]) == pytest.approx(
        (math.exp(est - q_hi * se), math.exp(est - q_lo * se)))
    t_fit = ipcw(sim.data, sim.long, **MODEL, n_boot=6, seed=2, boot_interval="studentized")
    assert t_fit.hr == a.hr_adjusted_boot_t and t_fit.interval_kind() == "bootstrap-t"
    with pytest.raises(ValueError, match="boot_interval"):
        ipcw(sim.data, sim.long, **MODEL, boot_interval="normal")
    assert math.isfinite(a.hr_pem["lower"]) and a.boot["log_hr"].std() > 0
    row = a.comparison_row()
    assert row["interval"] == "bootstrap percentile" and "unmeasured" in row["assumption"]


def test_truncation_clips_the_control_weights(sim):
    fit = ipcw(sim.data, sim.long, **MODEL, truncate=0.05)
    lo, hi = fit.details["truncation_bounds"]
    w = fit.weights.loc[fit.weights["arm"] == sim.data.arms[0], "weight"]
    assert w.min() == pytest.approx(lo) and w.max() == pytest.approx(hi)
    untruncated = ipcw(sim.data, sim.long, **MODEL)
    assert untruncated.details["weight_max"] > hi


def test_summary_and_dict(sim):
    fit = ipcw(sim.data, sim.long, **MODEL)
    assert fit.summary().index.tolist() == ["hr_itt", "hr_adjusted", "hr_pem"]
    d = fit.to_dict()
    assert d["method"] == "IPCW" and d["settings"]["time_varying"] == ["marker"]
    assert fit.interval_kind() == "Cox robust (weights fixed)"
    assert "IpcwEstimate(hr_adjusted=" in repr(fit)


def test_bad_input_is_refused_with_the_ids(sim):
    data = sim.data
    away = data.derive(np.ones(data.n, bool), switch_time=np.where(
        (data.arm == 1) & (np.arange(data.n) == np.flatnonzero(data.arm == 1)[0]), 0.5,
        data.switch_time))
    with pytest.raises(TrialDataError, match="experimental-arm switches"):
        ipcw(away, sim.long, **MODEL)
    first_switcher = np.flatnonzero(np.isfinite(data.switch_time))[0]
    at_zero = data.derive(np.ones(data.n, bool), switch_time=np.where(
        np.arange(data.n) == first_switcher, 0.0, data.switch_time))
    with pytest.raises(TrialDataError, match=f"switches at randomization.*ids: "
                                             f"{data.id[first_switcher]}"):
        ipcw(at_zero, sim.long, **MODEL)
    other = simulate_time_varying_switching(50, seed=1)
    with pytest.raises(TrialDataError, match="built for 50 patients"):
        ipcw(data, other.long, **MODEL)
    with pytest.raises(ValueError, match="not in the long table"):
        ipcw(data, sim.long, time_varying=["ecog"])
    with pytest.raises(ValueError, match="not in the data"):
        ipcw(data, sim.long, baseline=["age"])
    with pytest.raises(ValueError, match="truncate"):
        ipcw(data, sim.long, truncate=0.7)
    none = simulate_time_varying_switching(300, seed=11, switching=False)
    with pytest.raises(TrialDataError, match="switching model cannot be fitted"):
        ipcw(none.data, none.long, **MODEL)


def test_joins_compare_analyses_with_its_assumption(sim):
    from pexsurv.workflows.compare import ANALYSES, compare_analyses

    est = ipcw(sim.data, sim.long, **MODEL)
    itt_only = tuple(a for a in ANALYSES if a.label == "ITT")
    out = compare_analyses(sim.data, [1.0], seed=2, draws=300, analyses=itt_only,
                           switching=(est,))
    row = out.table.loc["IPCW"]
    assert row["hr_median"] == pytest.approx(est.hr["hr"])
    assert row["interval"] == "Cox robust (weights fixed)"
    assert "no unmeasured confounding" in row["assumption"] and not row["biased_if_prognostic"]
    assert out.results["IPCW"] is est


def test_weighted_pem_has_a_baseline_per_stratum(sim):
    """With strata the weighted PEM's baseline hazards are per interval and stratum: checked
    against a direct maximisation of the weighted Poisson likelihood over all parameters."""
    high = sim.frame["marker0"].to_numpy() > 0  # prognostic: the strata's hazards differ
    data = sim.data.derive(np.ones(sim.data.n, bool), strata=np.where(high, "high", "low"))
    cuts = (1.0, 2.5)
    fit = ipcw(data, sim.long, **MODEL, cuts=cuts)
    rows = fit.weights.assign(high=high[fit.weights["id"].to_numpy()].astype(int))
    edges = np.r_[0.0, cuts, np.inf]
    exposure = np.clip(np.minimum(rows["tstop"].to_numpy()[:, None], edges[1:])
                       - np.maximum(rows["tstart"].to_numpy()[:, None], edges[:-1]), 0, None)
    last = np.searchsorted(edges, rows["tstop"].to_numpy(), side="left") - 1
    cell = rows["high"].to_numpy() * 3 + last
    x = (rows["arm"] == data.arms[1]).to_numpy(float)
    w, d = rows["weight"].to_numpy(), rows["event"].to_numpy()

    def nll(par: np.ndarray) -> float:
        log_rate = par[:6].reshape(2, 3)[rows["high"].to_numpy()]  # (rows, intervals)
        hazard = np.exp(log_rate + par[6] * x[:, None])
        return -float((w * (d * (par[:6][cell] + par[6] * x) - (hazard * exposure).sum(1))).sum())

    ref = optimize.minimize(nll, np.r_[np.full(6, -1.0), 0.0], method="BFGS",
                            options={"gtol": 1e-8}).x[6]
    assert fit.hr_pem["log_hr"] == pytest.approx(ref, abs=1e-5)
    pooled = ipcw(sim.data, sim.long, **MODEL, cuts=cuts)  # the former, unstratified PEM
    assert abs(pooled.hr_pem["log_hr"] - ref) > 0.01
    assert fit.settings["ties"] == "efron"


def test_a_switch_between_visits_gets_a_row_boundary(sim):
    data = sim.data
    sw = data.switch_time
    i = np.flatnonzero(np.isfinite(sw) & (sw + 0.1 < data.time))[0]
    moved = data.derive(np.ones(data.n, bool), switch_time=np.where(np.arange(data.n) == i,
                                                                    sw + 0.1, sw))
    fit = ipcw(moved, sim.long, **MODEL)
    rows = fit.weights[fit.weights["id"] == data.id[i]]
    assert rows["tstop"].iloc[-1] == pytest.approx(sw[i] + 0.1)  # censored at the switch
    assert rows["event"].sum() == 0
