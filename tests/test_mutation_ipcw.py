"""IPCW (models/rpsft/ipcw.py) against an independent re-computation from the raw tables:
rows split at each switch, the pooled logistic switching model by scipy, the weights as
cumulative products row by row, the Kaplan-Meier stabilising numerator written as a loop,
control rows split where it steps, truncation at the quantiles, the weighted PEM as a profile
likelihood maximised by scipy, the ITT HR by lifelines; the bootstrap replicates against refits
on hand-resampled trials, the leave-one-out jackknife of BCa against refits, the interval
formulas written out, every refusal by its message, the result's accessors. Written for the
mutation run of issue 18 (record in benchmarks/mutation.md, section ``models/rpsft/ipcw.py``).

The module is loaded from its file (tests/isolated.py), so that each mutant is imported fresh;
the weighted Cox kernel it calls is the package's (checked in tests/test_mutation_weighted.py).
The reference lives in tests/ipcw_reference.py (cached, so a fork server computes it once).
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from ipcw_reference import (
    CONFIGS,
    CUTS,
    THREE_INTERVALS,
    assert_replicate_is_refit,
    build,
    empty_last_cuts,
    reference,
)
from ipcw_reference import raw as tables
from isolated import load
from lifelines import CoxPHFitter
from scipy import special

from pexsurv import TrialData, TrialDataError
from pexsurv.longdata import LongData
from pexsurv.simulate import simulate_time_varying_switching

ip = load("models/rpsft/ipcw.py")
MODEL = {"baseline": ["marker0"], "time_varying": ["marker"]}
Z = NormalDist().inv_cdf


@pytest.fixture(scope="module")
def raw() -> tuple[pd.DataFrame, pd.DataFrame]:
    return tables()


@pytest.fixture(scope="module")
def trial(raw) -> tuple[TrialData, LongData]:
    return build(*raw, strata=True)


@pytest.fixture(scope="module", params=list(CONFIGS))
def pair(request, raw, trial):
    options = CONFIGS[request.param]
    return (ip.ipcw(*trial, **MODEL, cuts=CUTS, **options), reference(**options),
            options)


def test_weights_table_matches_the_reference(pair, trial):
    fit, ref, _ = pair
    rows = ref["rows"]
    assert list(fit.weights.columns) == ["id", "arm", "tstart", "tstop", "event", "weight"]
    assert fit.weights["id"].tolist() == rows["id"].tolist()
    np.testing.assert_array_equal(fit.weights["arm"], np.asarray(trial[0].arms)[rows["arm"]])
    np.testing.assert_array_equal(fit.weights["tstart"], rows["tstart"])
    np.testing.assert_array_equal(fit.weights["tstop"], rows["tstop"])
    assert fit.weights["event"].dtype == np.int8
    np.testing.assert_array_equal(fit.weights["event"], rows["d"])
    np.testing.assert_allclose(fit.weights["weight"], rows["w"], rtol=1e-6)
    assert fit.weights["weight"].std() > 0.05


def test_switching_model_matches_scipy(pair):
    fit, ref, _ = pair
    names = ["intercept", "time", "marker0", "marker"]
    assert fit.switching_models.index.tolist() == [("denominator", n) for n in names]
    assert fit.switching_models.columns.tolist() == ["coef", "se"]
    np.testing.assert_allclose(fit.switching_models["coef"], ref["coef"], atol=1e-5)
    np.testing.assert_allclose(fit.switching_models["se"], ref["se"], rtol=1e-4)


def test_hazard_ratios_match_the_reference(pair):
    fit, ref, options = pair
    cox = ref["cox"]
    h = fit.hr_adjusted
    assert h["log_hr"] == pytest.approx(cox.log_hr, abs=1e-6)
    assert h["se"] == pytest.approx(cox.se_robust, rel=1e-5)
    assert h["hr"] == pytest.approx(math.exp(cox.log_hr), rel=1e-6)
    assert (h["lower"], h["upper"]) == pytest.approx(
        (math.exp(cox.log_hr - Z(0.975) * cox.se_robust),
         math.exp(cox.log_hr + Z(0.975) * cox.se_robust)), rel=1e-5)
    pem = fit.hr_pem
    assert pem["log_hr"] == pytest.approx(ref["pem"], abs=1e-6)
    assert pem["hr"] == pytest.approx(math.exp(ref["pem"]), rel=1e-6)
    assert all(math.isnan(pem[k]) for k in ("lower", "upper", "se"))
    assert fit.hr is fit.hr_adjusted
    assert fit.boot is None and fit.hr_adjusted_boot is None
    assert fit.hr_adjusted_boot_t is None and fit.hr_adjusted_boot_bca is None


def test_details_and_settings(pair, trial, raw):
    fit, ref, options = pair
    rows = ref["rows"]
    w = rows.loc[rows["arm"] == 0, "w"]
    frame = raw[0]
    assert fit.details["n_switchers"] == int(frame["switch_time"].notna().sum())
    assert fit.details["n_model_rows"] == ref["n_model_rows"]
    assert fit.details["weight_min"] == pytest.approx(w.min(), rel=1e-6)
    assert fit.details["weight_mean"] == pytest.approx(w.mean(), rel=1e-6)
    assert fit.details["weight_max"] == pytest.approx(w.max(), rel=1e-6)
    if ref["bounds"] is None:
        assert fit.details["truncation_bounds"] is None
    else:
        assert fit.details["truncation_bounds"] == pytest.approx(ref["bounds"], rel=1e-6)
        assert isinstance(fit.details["truncation_bounds"][0], float)
    assert fit.settings == {"baseline": ("marker0",), "time_varying": ("marker",),
                            "stabilised": options["stabilised"],
                            "truncate": options.get("truncate"), "cuts": CUTS,
                            "ties": options.get("ties", "efron"), "alpha": 0.05, "n_boot": 0,
                            "seed": None, "boot_interval": "percentile",
                            "switching_coef": None, "n": 120,
                            "population": trial[0].population}
    assert fit.method == "IPCW"
    assert fit.counts() == (120, int(rows["d"].sum()))


def test_itt_hr_is_the_stratified_cox_fit_of_lifelines(pair, raw):
    fit, _, _ = pair
    frame = raw[0]
    ref = CoxPHFitter().fit(frame[["time", "event", "arm", "stratum"]], "time", "event",
                            strata=["stratum"])
    b, se = ref.params_["arm"], ref.standard_errors_["arm"]
    assert fit.hr_itt["log_hr"] == pytest.approx(b, abs=1e-6)
    assert fit.hr_itt["se"] == pytest.approx(se, rel=1e-5)
    assert fit.hr_itt["hr"] == pytest.approx(math.exp(b), rel=1e-6)
    assert (fit.hr_itt["lower"], fit.hr_itt["upper"]) == pytest.approx(
        (math.exp(b - Z(0.975) * se), math.exp(b + Z(0.975) * se)), rel=1e-5)


def test_without_strata_and_with_default_cuts_and_alpha(raw):
    data, long = build(*raw, strata=False)
    fit = ip.ipcw(data, long, **MODEL, alpha=0.1)
    from pexsurv.intervals import equal_events
    cuts = tuple(float(c) for c in equal_events(data, k=4))
    assert fit.settings["cuts"] == cuts and len(cuts) == 3
    ref = reference(cuts=cuts, strata=False)
    assert fit.hr_adjusted["log_hr"] == pytest.approx(ref["cox"].log_hr, abs=1e-6)
    assert fit.hr_pem["log_hr"] == pytest.approx(ref["pem"], abs=1e-6)
    se = ref["cox"].se_robust
    assert fit.hr_adjusted["lower"] == pytest.approx(
        math.exp(ref["cox"].log_hr - Z(0.95) * se), rel=1e-5)
    itt = CoxPHFitter().fit(raw[0][["time", "event", "arm"]], "time", "event")
    assert fit.hr_itt["upper"] == pytest.approx(
        math.exp(itt.params_["arm"] + Z(0.95) * itt.standard_errors_["arm"]), rel=1e-5)


def test_pem_with_a_last_interval_without_experimental_follow_up(trial):
    cuts = empty_last_cuts()
    fit = ip.ipcw(*trial, **MODEL, cuts=cuts)
    assert fit.hr_pem["log_hr"] == pytest.approx(reference(cuts=cuts)["pem"], abs=1e-6)


def test_pem_with_three_intervals_per_stratum(trial):
    fit = ip.ipcw(*trial, **MODEL, cuts=THREE_INTERVALS)
    assert fit.hr_pem["log_hr"] == pytest.approx(reference(cuts=THREE_INTERVALS)["pem"],
                                                 abs=1e-6)


# ------------------------------------------------------------------------- warnings
def test_large_stabilised_weights_warn_with_their_count(trial, raw, monkeypatch):
    assert ip._LARGE_WEIGHT == 20.0  # the documented bound ("Warns")
    ref = reference()["rows"]["w"]
    bound = float(np.quantile(ref, 0.9))
    monkeypatch.setattr(ip, "_LARGE_WEIGHT", bound)
    with pytest.warns(UserWarning) as record:
        ip.ipcw(*trial, **MODEL, cuts=CUTS)
    assert len(record) == 1
    n, high = int((ref > bound).sum()), ref.max()
    assert str(record[0].message) == (
        f"{n} row(s) have stabilised weights above {bound:g} (max {high:.1f}): some "
        "patients almost surely switch given their covariates (positivity); consider "
        "truncate=0.01 and report both")
    assert record[0].filename == __file__  # stacklevel: the caller's line
    top = float(record[0].message.args[0].split("(max ")[1].split(")")[0])
    assert top == pytest.approx(high, abs=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ip.ipcw(*trial, **MODEL, cuts=CUTS, stabilised=False)  # unstabilised: no warning
        fit = ip.ipcw(*trial, **MODEL, cuts=CUTS, stabilised=False)
        monkeypatch.setattr(ip, "_LARGE_WEIGHT", 1e9)
        fit = ip.ipcw(*trial, **MODEL, cuts=CUTS)
        monkeypatch.setattr(ip, "_LARGE_WEIGHT", float(fit.weights["weight"].max()))
        ip.ipcw(*trial, **MODEL, cuts=CUTS)  # the maximum itself is not above


# ------------------------------------------------------------------------ bootstrap
def resampled(raw, index: np.ndarray, strata: bool = True) -> tuple[TrialData, LongData]:
    """The trial of the patients at ``index``, each copy a new patient with its rows."""
    frame, long = raw
    new = frame.iloc[index].reset_index(drop=True)
    new["id"] = [f"b{j}" for j in range(index.size)]
    by_id = dict(tuple(long.groupby("id", sort=False)))
    rows = pd.concat([by_id[frame["id"].iloc[i]].assign(id=f"b{j}")
                      for j, i in enumerate(index)])
    return build(new, rows, strata)


@pytest.fixture(scope="module")
def draws(raw) -> list[np.ndarray]:
    """Three resamples within arm and stratum, and one that makes the switching model fail
    (no control switcher)."""
    frame = raw[0]
    rng = np.random.default_rng(0)
    groups = 2 * (frame["stratum"] == "high").to_numpy(int) + frame["arm"].to_numpy()
    out = [np.concatenate([rng.choice(np.flatnonzero(groups == g), (groups == g).sum())
                           for g in range(4)]) for _ in range(3)]
    stay = np.flatnonzero(frame["switch_time"].isna().to_numpy())
    out.append(stay)
    return out


@pytest.mark.parametrize("options", [
    {}, {"stabilised": False, "truncate": 0.1},
    # A replicate's rows are split at its OWN control switch times before truncation (they
    # kept the original trial's: switchers not drawn added pieces and moved the truncation
    # quantiles; found by the session-8 mutation run, fixed in _Rows.cut_times).
    {"truncate": 0.1}],
    ids=["stabilised", "unstabilised-truncated", "stabilised-truncated"])
def test_bootstrap_replicates_refit_the_resampled_trial(trial, raw, draws, options,
                                                        monkeypatch):
    calls = []

    def stand_in(replicate, groups, n_boot, seed, columns):
        calls.append((groups, n_boot, seed, columns))
        return pd.DataFrame([replicate(i) for i in draws], columns=list(columns))

    monkeypatch.setattr(ip, "bootstrap", stand_in)
    fit = ip.ipcw(*trial, **MODEL, cuts=CUTS, n_boot=4.0, seed=9, **options)
    (groups, n_boot, seed, columns), = calls
    frame = raw[0]
    np.testing.assert_array_equal(
        groups, 2 * (frame["stratum"] == "low").to_numpy(int) + frame["arm"].to_numpy())
    assert n_boot == 4 and type(n_boot) is int and seed == 9
    assert columns == ("log_hr", "log_hr_pem", "se_robust")
    for b, index in enumerate(draws[:3]):
        refit = ip.ipcw(*resampled(raw, index), **MODEL, cuts=CUTS, **options)
        assert_replicate_is_refit(fit, b, refit)
    assert fit.boot.iloc[3].isna().all()  # failed replicate: NaN, left out of the limits
    assert fit.settings["n_boot"] == 4 and type(fit.settings["n_boot"]) is int


def test_bootstrap_intervals_from_the_replicates(trial, monkeypatch):
    boot = pd.DataFrame({"log_hr": [-0.9, -0.2, -0.5, np.nan, -0.35, -0.6],
                         "log_hr_pem": [-0.7, -0.1, -0.4, np.nan, -0.3, -0.45],
                         "se_robust": [0.2, 0.3, 0.25, np.nan, 0.1, 0.4]})
    monkeypatch.setattr(ip, "bootstrap", lambda *args, **kw: boot)
    fit = ip.ipcw(*trial, **MODEL, cuts=CUTS, n_boot=6, seed=1, alpha=0.2)
    est, se = fit.hr_adjusted["log_hr"], fit.hr_adjusted["se"]
    ok = boot.dropna()
    lo, hi = np.quantile(ok["log_hr"], [0.1, 0.9])
    assert fit.hr_adjusted_boot == pytest.approx(
        {"hr": math.exp(est), "lower": math.exp(lo), "upper": math.exp(hi), "log_hr": est,
         "se": float(np.std(ok["log_hr"], ddof=1))})
    t = (ok["log_hr"] - est) / ok["se_robust"]
    q_lo, q_hi = np.quantile(t, [0.1, 0.9])
    assert fit.hr_adjusted_boot_t == pytest.approx(
        {**fit.hr_adjusted_boot, "lower": math.exp(est - q_hi * se),
         "upper": math.exp(est - q_lo * se)})
    lo, hi = np.quantile(ok["log_hr_pem"], [0.1, 0.9])
    pem = fit.hr_pem["log_hr"]
    assert fit.hr_pem == pytest.approx({"hr": math.exp(pem), "lower": math.exp(lo),
                                        "upper": math.exp(hi), "log_hr": pem,
                                        "se": float(np.std(ok["log_hr_pem"], ddof=1))})
    assert fit.hr_adjusted_boot_bca is None
    assert fit.hr is fit.hr_adjusted_boot and fit.interval_kind() == "bootstrap percentile"
    pd.testing.assert_frame_equal(fit.boot, boot)
    t_fit = ip.ipcw(*trial, **MODEL, cuts=CUTS, n_boot=6, boot_interval="studentized")
    assert t_fit.hr is t_fit.hr_adjusted_boot_t and t_fit.interval_kind() == "bootstrap-t"


def test_bca_uses_the_leave_one_patient_out_refits(trial, raw, monkeypatch):
    boot = pd.DataFrame({"log_hr": np.linspace(-0.9, -0.1, 9),
                         "log_hr_pem": np.linspace(-0.8, 0.0, 9),
                         "se_robust": np.full(9, 0.2)})
    monkeypatch.setattr(ip, "bootstrap", lambda *args, **kw: boot)
    seen = []
    shipped = ip.bca_limits

    def spy(estimate, boot_estimates, jackknife, alpha):
        seen.append((estimate, boot_estimates, jackknife, alpha))
        return shipped(estimate, boot_estimates, jackknife, alpha)

    monkeypatch.setattr(ip, "bca_limits", spy)
    fit = ip.ipcw(*trial, **MODEL, cuts=CUTS, n_boot=9, boot_interval="bca")
    (e1, b1, j1, a1), (e2, b2, j2, a2) = seen
    assert e1 == fit.hr_adjusted["log_hr"] and e2 == fit.hr_pem["log_hr"]
    np.testing.assert_array_equal(b1, boot["log_hr"])
    np.testing.assert_array_equal(b2, boot["log_hr_pem"])
    assert a1 == a2 == 0.05 and j1.size == j2.size == 120
    everyone = np.arange(120)
    for i in (0, 57, 119):
        refit = ip.ipcw(*resampled(raw, np.delete(everyone, i)), **MODEL, cuts=CUTS)
        assert j1[i] == pytest.approx(refit.hr_adjusted["log_hr"], abs=1e-9)
        assert j2[i] == pytest.approx(refit.hr_pem["log_hr"], abs=1e-9)
    lo, hi = shipped(e1, b1, j1, 0.05)
    assert fit.hr_adjusted_boot_bca == {**fit.hr_adjusted_boot, "lower": math.exp(lo),
                                        "upper": math.exp(hi)}
    lo, hi = shipped(e2, b2, j2, 0.05)
    assert (fit.hr_pem["lower"], fit.hr_pem["upper"]) == (math.exp(lo), math.exp(hi))
    assert fit.hr is fit.hr_adjusted_boot_bca and fit.interval_kind() == "bootstrap BCa"


def test_real_bootstrap_is_seeded(trial):
    a = ip.ipcw(*trial, **MODEL, cuts=CUTS, n_boot=2, seed=4)
    b = ip.ipcw(*trial, **MODEL, cuts=CUTS, n_boot=2, seed=4)
    pd.testing.assert_frame_equal(a.boot, b.boot)
    assert a.boot.columns.tolist() == ["log_hr", "log_hr_pem", "se_robust"]
    assert len(a.boot) == 2 and a.boot.notna().all().all()


# ------------------------------------------------------------- interval formulas
def test_studentized_limits_written_out():
    rng = np.random.default_rng(3)
    est, se = 0.3, 0.15
    boot = est + 0.2 * rng.standard_normal(50) + 0.1 * rng.standard_normal(50) ** 2
    bse = rng.uniform(0.1, 0.3, 50)
    boot[3], bse[7], bse[9], bse[11] = np.nan, np.inf, 0.0, -0.1
    keep = np.ones(50, bool)
    keep[[3, 7, 9, 11]] = False
    t = (boot[keep] - est) / bse[keep]
    q_lo, q_hi = np.quantile(t, [0.05, 0.95])
    lo, hi = ip.studentized_limits(est, se, boot, bse, 0.1)
    assert (lo, hi) == pytest.approx((est - q_hi * se, est - q_lo * se), rel=1e-12)
    assert type(lo) is float and type(hi) is float


def bca_by_hand(est, boot, jack, alpha):
    """Efron and Tibshirani (14.9)-(14.15)."""
    finite = boot[np.isfinite(boot)]
    share = (np.sum(finite < est) + 0.5 * np.sum(finite == est)) / finite.size
    share = min(max(share, 0.5 / finite.size), 1 - 0.5 / finite.size)
    z0 = NormalDist().inv_cdf(share)
    jack = jack[np.isfinite(jack)]
    d = jack.mean() - jack
    a = (d ** 3).sum() / (6 * (d ** 2).sum() ** 1.5) if np.any(d != 0) else 0.0
    q = [NormalDist().cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
         for z in (Z(alpha / 2), Z(1 - alpha / 2))]
    return tuple(np.quantile(finite, q))


def test_bca_limits_written_out():
    rng = np.random.default_rng(4)
    boot = np.round(rng.gamma(2.0, 0.3, 301), 2)
    jack = rng.gamma(2.0, 0.1, 40)
    values, counts = np.unique(boot, return_counts=True)
    est = float(values[counts >= 3][len(values[counts >= 3]) // 2])
    boot[[0, 5]] = [np.nan, np.inf]
    jack[2] = np.nan
    assert np.sum(boot == est) >= 3  # replicates equal to the estimate count half
    got = ip.bca_limits(est, boot, jack, 0.1)
    assert got == pytest.approx(bca_by_hand(est, boot, jack, 0.1), rel=1e-12)
    assert type(got[0]) is float
    # Skewed jackknife: acceleration moves the limits.
    assert abs(got[0] - ip.bca_limits(est, boot, np.full(40, 0.2), 0.1)[0]) > 1e-3
    # Constant jackknife: no acceleration, no division by zero.
    assert ip.bca_limits(est, boot, np.full(5, 0.2), 0.1) == pytest.approx(
        bca_by_hand(est, boot, np.full(5, 0.2), 0.1), rel=1e-12)
    # All replicates below or above the estimate: the share is clipped, limits finite.
    for e in (10.0, -10.0):
        got = ip.bca_limits(e, boot, jack, 0.1)
        assert got == pytest.approx(bca_by_hand(e, boot, jack, 0.1), rel=1e-12)
    lo, hi = ip.bca_limits(10.0, boot, np.full(5, 0.2), 0.1)
    finite = np.sort(boot[np.isfinite(boot)])
    share = 1 - 0.5 / finite.size
    z0 = Z(share)
    q = [NormalDist().cdf(2 * z0 + z) for z in (Z(0.05), Z(0.95))]
    assert (lo, hi) == pytest.approx(tuple(np.quantile(finite, q)), rel=1e-12)


# ------------------------------------------------------------------------ the step
def test_step_function_values_and_integral():
    s = ip._Step(np.array([1.0, 2.5]), np.array([0.8, 0.5]))
    t = np.array([0.0, 0.5, 1.0, 2.0, 2.5, 4.0])
    np.testing.assert_array_equal(s.at(t), [1.0, 1.0, 0.8, 0.8, 0.5, 0.5])
    np.testing.assert_array_equal(s.before(t), [1.0, 1.0, 1.0, 0.8, 0.8, 0.5])
    np.testing.assert_allclose(s.integral(t),
                               [0.0, 0.5, 1.0, 1.8, 2.2, 2.2 + 1.5 * 0.5], rtol=1e-14)


# ------------------------------------------------------------------------- refusals
def test_refusals_name_the_problem(trial, raw):
    data, long = trial
    cases = [
        ({"alpha": 0.0}, ValueError, "alpha must be in (0, 1), got 0.0"),
        ({"alpha": 1.0}, ValueError, "alpha must be in (0, 1), got 1.0"),
        ({"alpha": -0.1}, ValueError, "alpha must be in (0, 1), got -0.1"),
        ({"alpha": 1.5}, ValueError, "alpha must be in (0, 1), got 1.5"),
        ({"truncate": -0.1}, ValueError,
         "truncate must be a quantile in (0, 0.5), e.g. 0.01, got -0.1"),
        ({"truncate": 0.7}, ValueError,
         "truncate must be a quantile in (0, 0.5), e.g. 0.01, got 0.7"),
        ({"n_boot": 2.5}, ValueError, "n_boot must be a non-negative integer, got 2.5"),
        ({"n_boot": -1}, ValueError, "n_boot must be a non-negative integer, got -1"),
        ({"boot_interval": "normal"}, ValueError,
         "boot_interval must be 'percentile', 'studentized' or 'bca', got 'normal'"),
        ({"truncate": 0.5}, ValueError,
         "truncate must be a quantile in (0, 0.5), e.g. 0.01, got 0.5"),
        ({"truncate": 0.0}, ValueError,
         "truncate must be a quantile in (0, 0.5), e.g. 0.01, got 0.0"),
        ({"ties": "exact"}, ValueError, "ties must be 'efron' or 'breslow', got 'exact'"),
        ({"time_varying": ["ecog"]}, ValueError,
         "time-varying covariates ['ecog'] are not in the long table; it has ['marker']"),
    ]
    for kw, exc, message in cases:
        with pytest.raises(exc, match="^" + re.escape(message) + "$"):
            ip.ipcw(data, long, **{**MODEL, **kw})
    for kw in ({"alpha": 0.999}, {"alpha": 0.001}, {"truncate": 0.499}, {"truncate": 0.001},
               {"n_boot": 0.0}):
        ip.ipcw(data, long, **{**MODEL, "cuts": CUTS, **kw})  # the edges inside are fine
    with pytest.raises(TypeError, match="^data must be a TrialData, got DataFrame$"):
        ip.ipcw(raw[0], long)
    with pytest.raises(TypeError, match="^long must be a LongData, got DataFrame$"):
        ip.ipcw(data, raw[1])
    for n in (50, 150):  # fewer and more patients than the trial
        other = simulate_time_varying_switching(n, seed=1)
        with pytest.raises(TrialDataError, match=re.escape(
                f"the long table was built for {n} patients, the trial has 120: build it "
                "with LongData.from_dataframe(df, data) on this TrialData")):
            ip.ipcw(data, other.long)
    with pytest.raises(TypeError):
        ip.ipcw(data, long, ["marker0"])  # options are keyword-only


def test_switch_refusals_name_the_ids(raw):
    frame, long = raw
    exp = frame.index[frame["arm"] == 1][:2]
    away = frame.copy()
    away.loc[exp, "switch_time"] = 0.5 * away.loc[exp, "time"]
    with pytest.raises(TrialDataError, match="experimental-arm switches") as info:
        ip.ipcw(*build(away, long, True), **MODEL)
    assert all(frame.loc[i, "id"] in str(info.value) for i in exp)
    assert "set these to NaN" in str(info.value)
    zero = frame.copy()
    first = frame.index[frame["switch_time"].notna()][0]
    zero.loc[first, "switch_time"] = 0.0
    with pytest.raises(TrialDataError, match="switches at randomization") as info:
        ip.ipcw(*build(zero, long, True), **MODEL)
    assert frame.loc[first, "id"] in str(info.value)
    assert "never followed the control therapy" in str(info.value)


@pytest.mark.parametrize("case", ["no switcher", "all switch at the first visit",
                                  "separation"])
def test_switching_model_failure_is_refused(raw, case):
    frame, long = raw
    frame = frame.copy()
    control = frame["arm"] == 0
    if case == "no switcher":
        frame["switch_time"] = np.nan
    elif case == "all switch at the first visit":
        late = control & (frame["time"] > 0.3)
        frame = frame[~control | late].reset_index(drop=True)
        long = long[long["id"].isin(frame["id"])]
        frame["switch_time"] = np.where(frame["arm"] == 0, 0.25, np.nan)
    else:  # switching exactly when marker0 is high: separation
        keep = ~control | (frame["time"] > 0.3)
        frame = frame[keep].reset_index(drop=True)
        long = long[long["id"].isin(frame["id"])]
        high = (frame["arm"] == 0) & (frame["marker0"] > 0)
        frame["switch_time"] = np.where(high, 0.25, np.nan)
    with warnings.catch_warnings():
        if case == "separation":  # the logistic fit's exp overflows on its way to infinity
            warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(TrialDataError, match="^the switching model cannot be fitted: it "
                                                 "needs control-arm switchers and "
                                                 "non-switchers"):
            ip.ipcw(*build(frame, long, False), **MODEL)


def test_one_switcher_and_more_than_256_patients_are_fitted(raw):
    """A single control switch is enough for the switching model; a trial of 300 patients
    (sizes compared by value, not identity: Python caches small integers only)."""
    frame, long = raw
    frame = frame.copy()
    keep = frame["switch_time"].notna() & (frame["switch_time"] < frame["time"])
    first = frame.index[keep & (frame["arm"] == 0)][0]
    frame.loc[frame.index != first, "switch_time"] = np.nan
    fit = ip.ipcw(*build(frame, long, True), **MODEL, cuts=CUTS)
    assert fit.details["n_switchers"] == 1 and math.isfinite(fit.hr_adjusted["log_hr"])
    big = simulate_time_varying_switching(300, seed=11)
    assert ip.ipcw(big.data, big.long, **MODEL, cuts=CUTS).settings["n"] == 300


# ------------------------------------------------------------ known switching coefficients
KNOWN = np.array([-2.5, 0.05, 0.25, 0.5])  # intercept, time, marker0, marker: not the MLE


def logistic_stand_in(calls):
    """``logistic_fit`` returning KNOWN (probabilities by scipy's expit), SEs 0.5."""
    def fit(x, y):
        calls.append(x.shape)
        return ip.LogisticFit(coef=KNOWN, se=np.full(4, 0.5), prob=special.expit(x @ KNOWN),
                              converged=True)
    return fit


@pytest.mark.parametrize("options", [{}, {"stabilised": False, "truncate": 0.1}],
                         ids=["stabilised", "unstabilised-truncated"])
def test_known_switching_coefficients_replace_the_fitted_model(trial, options, monkeypatch):
    """``switching_coef``: the procedure is the fitted one with the switching model's
    coefficients replaced by the given ones (the fitted path, checked against the reference
    above, run here with a stand-in logistic fit returning them), and nothing is fitted."""
    calls = []
    monkeypatch.setattr(ip, "logistic_fit", logistic_stand_in(calls))
    known = ip.ipcw(*trial, **MODEL, cuts=CUTS, switching_coef=list(KNOWN), **options)
    assert calls == []
    fitted = ip.ipcw(*trial, **MODEL, cuts=CUTS, **options)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(known.weights, fitted.weights, check_exact=False,
                                  rtol=1e-12)
    for name in ("hr_adjusted", "hr_pem", "hr_itt"):
        got, want = getattr(known, name), getattr(fitted, name)
        assert list(got) == list(want) and np.allclose(
            list(got.values()), list(want.values()), rtol=1e-12, equal_nan=True), name
    assert list(known.details) == list(fitted.details)
    for key, value in fitted.details.items():
        assert known.details[key] == (value if value is None else pytest.approx(value,
                                                                                rel=1e-12)), key
    models = known.switching_models
    assert models.index.equals(fitted.switching_models.index)
    assert models["coef"].tolist() == KNOWN.tolist() and models["se"].isna().all()
    assert known.settings == {**fitted.settings, "switching_coef": tuple(KNOWN)}


def test_known_coefficients_equal_to_the_mle_reproduce_the_reference(trial):
    ref = reference()
    fit = ip.ipcw(*trial, **MODEL, cuts=CUTS, switching_coef=ref["coef"])
    np.testing.assert_allclose(fit.weights["weight"], ref["rows"]["w"], rtol=1e-6)
    assert fit.hr_adjusted["log_hr"] == pytest.approx(ref["cox"].log_hr, abs=1e-6)
    assert fit.hr_pem["log_hr"] == pytest.approx(ref["pem"], abs=1e-6)


def test_known_coefficients_are_kept_in_every_bootstrap_replicate(trial, raw, draws,
                                                                  monkeypatch):
    monkeypatch.setattr(ip, "bootstrap", lambda replicate, *args, columns: pd.DataFrame(
        [replicate(i) for i in draws[:2]], columns=list(columns)))
    fit = ip.ipcw(*trial, **MODEL, cuts=CUTS, n_boot=2, switching_coef=KNOWN)
    for b, index in enumerate(draws[:2]):
        refit = ip.ipcw(*resampled(raw, index), **MODEL, cuts=CUTS, switching_coef=KNOWN)
        assert_replicate_is_refit(fit, b, refit)


@pytest.mark.parametrize("coef", [[0.0, 1.0], [0.0] * 5, [[0.0, 1.0], [2.0, 3.0]],
                                  [0.0, np.nan, 1.0, 2.0], [0.0, 1.0, np.inf, 2.0]],
                         ids=["short", "long", "2-D", "nan", "inf"])
def test_known_coefficients_are_refused_unless_one_finite_number_per_term(trial, coef):
    message = ("switching_coef must be 4 finite numbers, one per switching-model term "
               f"['intercept', 'time', 'marker0', 'marker']; got {coef!r}")
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        ip.ipcw(*trial, **MODEL, cuts=CUTS, switching_coef=coef)


# ---------------------------------------------------------------------- the result
def test_result_accessors(pair, trial, monkeypatch):
    fit, _, options = pair
    s = fit.summary()
    assert s.index.tolist() == ["hr_itt", "hr_adjusted", "hr_pem"]
    assert s.index.name == "quantity" and s.columns.tolist() == ["estimate", "lower", "upper"]
    assert s.loc["hr_adjusted"].tolist() == [fit.hr_adjusted[k] for k in
                                             ("hr", "lower", "upper")]
    assert s.attrs["method"] == "IPCW" and s.attrs["interval"] == "Cox robust (weights fixed)"
    assert s.attrs["ties"] == fit.settings["ties"] and s.attrs["n"] == 120
    d = fit.to_dict()
    assert d["method"] == "IPCW" and d["hr_adjusted_boot"] is None
    assert d["hr_adjusted"] == {k: float(v) for k, v in fit.hr_adjusted.items()}
    assert d["hr_itt"] == fit.hr_itt and d["hr_pem"]["log_hr"] == fit.hr_pem["log_hr"]
    assert d["hr_adjusted_boot_t"] is None and d["hr_adjusted_boot_bca"] is None
    assert d["settings"]["baseline"] == ["marker0"] and d["settings"]["cuts"] == list(CUTS)
    assert d["settings"]["stabilised"] is options["stabilised"]
    truncated = "truncate" in options
    assert ("truncation_bounds" in d["details"]) is False  # a tuple or None: left out
    assert d["details"]["n_switchers"] == fit.details["n_switchers"]
    assert set(d["details"]) == {"n_switchers", "n_model_rows", "weight_min", "weight_mean",
                                 "weight_max"}
    assert truncated == (fit.details["truncation_bounds"] is not None)
    h = fit.hr_adjusted
    assert repr(fit) == (
        f"IpcwEstimate(hr_adjusted={h['hr']:.4f} [95% CI {h['lower']:.4f}-{h['upper']:.4f}, "
        f"Cox robust (weights fixed)], hr_pem={fit.hr_pem['hr']:.4f}, "
        f"hr_itt={fit.hr_itt['hr']:.4f}, switchers={fit.details['n_switchers']})")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.method = "x"
    assert len({fit, fit}) == 1 and fit != dataclasses.replace(fit)  # hashable, by identity


def test_result_with_bootstrap_reports_each_interval(trial, monkeypatch):
    boot = pd.DataFrame({"log_hr": np.linspace(-0.9, -0.1, 9),
                         "log_hr_pem": np.linspace(-0.8, 0.0, 9),
                         "se_robust": np.linspace(0.1, 0.3, 9)})
    monkeypatch.setattr(ip, "bootstrap", lambda *args, **kw: boot)
    fits = {k: ip.ipcw(*trial, **MODEL, cuts=CUTS, n_boot=9, alpha=0.1, boot_interval=k)
            for k in ("percentile", "studentized", "bca")}
    names = {"percentile": "bootstrap percentile", "studentized": "bootstrap-t",
             "bca": "bootstrap BCa"}
    for k, fit in fits.items():
        attr = {"percentile": "hr_adjusted_boot", "studentized": "hr_adjusted_boot_t",
                "bca": "hr_adjusted_boot_bca"}[k]
        assert fit.hr is getattr(fit, attr) and fit.interval_kind() == names[k]
        h = fit.hr
        assert repr(fit).startswith(
            f"IpcwEstimate(hr_adjusted={h['hr']:.4f} [90% CI {h['lower']:.4f}-"
            f"{h['upper']:.4f}, {names[k]}]")
        rows = fit.summary().index.tolist()
        assert rows == ["hr_itt", "hr_adjusted", "hr_adjusted_boot", "hr_adjusted_boot_t",
                        *(["hr_adjusted_boot_bca"] if k == "bca" else []), "hr_pem"]
        assert fit.summary().attrs["interval"] == names[k]
        d = fit.to_dict()
        assert d["hr_adjusted_boot"] == fit.hr_adjusted_boot
        assert d["hr_adjusted_boot_t"] == fit.hr_adjusted_boot_t
        assert (d["hr_adjusted_boot_bca"] is None) == (k != "bca")
        assert d["settings"]["n_boot"] == 9 and d["settings"]["boot_interval"] == k
