"""The hazard-ratio report (pexsurv/workflows/report.py) on hand-built posteriors, no sampling:
headline numbers against NumPy computations from the draws (piecewise-exponential medians,
milestones and RMST written here), rounding to the Monte Carlo error, extrapolation marks,
the convergence banner, the display cells, the exports and the wiring of the post-fit checks
(issue 18; record in benchmarks/mutation.md, section ``pexsurv/workflows/report.py``).

The module is loaded from its file (``tests/isolated.py``), so a mutation run imports the
mutated source. The post-fit checks it calls (posterior predictive, LOO, prior sensitivity)
are replaced by fixed outcomes: they are tested in their own modules, and a mutation run of
those modules at the same time cannot reach these tests. tests/test_report.py keeps the real
fit, the figures and the HTML file.
"""

import dataclasses
import json
from dataclasses import FrozenInstanceError
from types import SimpleNamespace

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from isolated import load
from lifelines.statistics import logrank_test

from pexsurv import TrialData, datasets
from pexsurv.cox import cox_hr
from pexsurv.fitting import FitResult, SamplerConfig
from pexsurv.models import RPSFT, PiecewiseExponential
from pexsurv.testing import fake_posterior

R = load("pexsurv/workflows/report.py")

CUTS = (4.0, 8.0)
HAZARDS = (0.12, 0.09, 0.07)


@pytest.fixture(scope="module")
def data():
    return datasets.ct041_like("os")


def fake_fit(data, *, hazards=HAZARDS, hr=0.7, jitter=0.1, draws=250, spec=None, seed=5):
    tree = fake_posterior(cuts=CUTS, hazards=hazards, hr=hr, chains=4, draws=draws,
                          jitter=jitter, seed=seed, arms=data.arms)
    spec = spec or PiecewiseExponential(cuts=CUTS, effect="ph" if np.ndim(hr) == 0 else "piecewise")
    return FitResult(idata=tree, spec=spec, priors={}, data=data, sampler=SamplerConfig())


class FakeCheck(SimpleNamespace):
    pass


@pytest.fixture(autouse=True)
def fixed_checks(monkeypatch):
    """The three costlier checks replaced by fixed outcomes; calls are recorded."""
    calls = []

    def make(name, passed):
        def run(result, **kwargs):
            calls.append((name, kwargs))
            return FakeCheck(passed=passed, text=f"{name} text")
        return run

    monkeypatch.setattr(R, "posterior_predictive_survival", make("ppc", True))
    monkeypatch.setattr(R, "loo", make("loo", False))
    monkeypatch.setattr(R, "prior_sensitivity", make("prior_sensitivity", True))
    return calls


@pytest.fixture(scope="module")
def fit(data):
    return fake_fit(data, hr=0.85)  # P(HR < 1) about 0.95, P(HR < 0.8) about 0.3


@pytest.fixture(scope="module")
def report(fit):
    """prob 0.9 and thresholds (1, 0.8): defaults would hide mutants of both."""
    return R.hazard_ratio_report({"OS ITT": fit}, thresholds=(1.0, 0.8), milestones=(6, 12),
                                 endpoint="OS", prob=0.9, checks=False, seed=3)


# ------------------------------------------------------------------------- NumPy references
def arm_rates(result) -> np.ndarray:
    """(chain, draw, arm, interval) hazards."""
    post = result.posterior
    base = np.exp(post["log_hazard_base"].transpose("chain", "draw", "interval").values)
    hr = post["hr"].transpose("chain", "draw").values
    return np.stack([base, base * hr[..., None]], axis=2)


def cumhaz(rates: np.ndarray, t: float) -> np.ndarray:
    edges = [0.0, *CUTS, np.inf]
    return sum(rates[..., k] * max(0.0, min(t, edges[k + 1]) - edges[k]) for k in range(3))


def pe_median(rates: np.ndarray) -> np.ndarray:
    """t with H(t) = log 2, interval by interval."""
    edges = [0.0, *CUTS, np.inf]
    out = np.full(rates.shape[:-1], np.nan)
    h = np.zeros(rates.shape[:-1])
    for k in range(3):
        width = edges[k + 1] - edges[k]
        t = edges[k] + (np.log(2) - h) / rates[..., k]
        out = np.where(np.isnan(out) & (t <= edges[k + 1]), t, out)
        h = h + rates[..., k] * width
    return out


def pe_rmst(rates: np.ndarray, tau: float) -> np.ndarray:
    edges = [0.0, *CUTS, np.inf]
    out = np.zeros(rates.shape[:-1])
    for k in range(3):
        lo, hi = edges[k], min(edges[k + 1], tau)
        if hi > lo:
            out += np.exp(-cumhaz(rates, lo)) * (1 - np.exp(-rates[..., k] * (hi - lo))) / rates[..., k]
    return out


def mcse(x, method, prob=None):
    kwargs = {} if prob is None else {"prob": prob}
    return float(az.mcse(xr.DataArray(np.asarray(x, float), dims=("chain", "draw")),
                         method=method, **kwargs))


def hdi_bruteforce(x: np.ndarray, prob: float) -> tuple[float, float]:
    s = np.sort(x.ravel())
    m = int(np.floor(prob * s.size))
    widths = s[m:] - s[: s.size - m]
    i = int(np.argmin(widths))
    return s[i], s[i + m]


# ------------------------------------------------------------------------- rounding rule
@pytest.mark.parametrize(("value", "decimals"), [
    (0.012, 3), (0.3, 2), (4.0, 1), (0.01, 3), (1.0, 1), (10.0, 0), (123.0, -1), (9.99, 1),
    (1e-5, 6), (1e-6, 6), (1.5e-9, 6), (0.0, 6), (np.nan, 6), (np.inf, 6)])
def test_mcse_decimals(value, decimals):
    assert R.mcse_decimals(value) == decimals
    assert type(R.mcse_decimals(value)) is int
    assert R.MAX_DECIMALS == 6


@pytest.mark.parametrize(("value", "decimals"), [
    (0.0123, 4), (0.5, 3), (1.0, 2), (123.0, 0), (999.0, 0), (1000.0, -1), (-0.5, 3), (0.0, 6)])
def test_three_significant(value, decimals):
    assert R._three_significant(value) == decimals


def test_rounding_rule_text():
    assert "d = 1 - floor(log10(MCSE)) decimals, at most 6 " in R.ROUNDING_RULE
    assert "(e.g. MCSE 0.012 gives 3 decimals, MCSE 0.3 gives 2)" in R.ROUNDING_RULE


# ------------------------------------------------------------------------- summaries of draws
def test_summarise_against_numpy_and_arviz():
    x = np.random.default_rng(1).gamma(2.0, size=(4, 300))
    values, mcses = R.summarise("z", x, prob=0.8, mean=True, hdi=True)
    assert list(values) == ["z", "z_lower", "z_upper", "z_mean", "z_hdi_lower", "z_hdi_upper"]
    assert list(mcses) == list(values)
    assert values["z"] == pytest.approx(np.median(x))
    assert values["z_lower"] == pytest.approx(np.quantile(x, 0.1))
    assert values["z_upper"] == pytest.approx(np.quantile(x, 0.9))
    assert values["z_mean"] == pytest.approx(x.mean())
    assert (values["z_hdi_lower"], values["z_hdi_upper"]) == pytest.approx(hdi_bruteforce(x, 0.8))
    assert mcses["z"] == pytest.approx(mcse(x, "median"))
    assert mcses["z_lower"] == pytest.approx(mcse(x, "quantile", 0.1))
    assert mcses["z_upper"] == pytest.approx(mcse(x, "quantile", 0.9))
    assert mcses["z_mean"] == pytest.approx(mcse(x, "mean"))
    for key in ("z_hdi_lower", "z_hdi_upper"):
        level = np.mean(x <= values[key])
        assert mcses[key] == pytest.approx(mcse(x, "quantile", level))


def test_summarise_defaults_and_hdi_levels_clipped_inside_the_draws():
    x = np.random.default_rng(2).normal(size=(2, 200))
    values, mcses = R.summarise("z", x)
    assert list(values) == ["z", "z_lower", "z_upper"]
    assert values["z_lower"] == pytest.approx(np.quantile(x, 0.025))
    # A HDI bound at the largest draw has empirical level 1: clipped to 1 - 0.5 / n.
    y = np.exp(np.random.default_rng(3).normal(size=(2, 200)))  # skewed: HDI starts near min
    values, mcses = R.summarise("y", y, prob=0.999999, hdi=True)
    assert values["y_hdi_upper"] == y.max()
    assert mcses["y_hdi_upper"] == pytest.approx(mcse(y, "quantile", 1 - 0.5 / 400))
    assert mcses["y_hdi_lower"] == pytest.approx(mcse(y, "quantile", np.mean(y <= y.min())))


def test_summaries_of_infinite_draws():
    """A median never reached (inf draws): the quantile is inf where its level falls among
    them, the MCSE and the HDI are undefined (NaN), finite quantiles stay finite."""
    x = np.full((2, 100), np.inf)
    x[:, :60] = np.linspace(1.0, 2.0, 60)
    values, mcses = R.summarise("m", x, hdi=True, mean=True)
    assert values["m"] < np.inf and values["m_upper"] == np.inf
    assert values["m_lower"] == pytest.approx(np.quantile(x.ravel(), 0.025))
    assert np.isnan([mcses["m"], mcses["m_lower"], mcses["m_hdi_lower"]]).all()
    assert np.isnan([values["m_hdi_lower"], values["m_hdi_upper"]]).all()
    assert R._quantile(np.array([1.0, 2.0, 3.0, np.inf]), 0.5) == 2.5
    assert R._quantile(np.array([1.0, np.inf, np.inf]), 0.9) == np.inf
    assert np.isnan(R._quantile(np.array([1.0, np.nan]), 0.5))


def test_mcse_of_constant_draws_is_zero_and_silent():
    assert R._mcse(np.ones((2, 50)), "mean") == 0.0 or np.isnan(R._mcse(np.ones((2, 50)), "mean"))
    assert np.isnan(R._mcse(np.array([[1.0, np.nan]]), "mean"))


def test_probability_and_its_mcse():
    ind = np.random.default_rng(4).random((4, 100)) < 0.3
    values, mcses = R._probability("p", ind)
    assert values == {"p": pytest.approx(ind.mean())}
    assert mcses == {"p": pytest.approx(mcse(ind, "mean"))}


# ------------------------------------------------------------------------- checks
def test_check_outcome():
    assert R.CheckOutcome("x", "FAILED", "t").failed is True
    assert R.CheckOutcome("x", "passed", "t").failed is False
    assert R.CheckOutcome("x", "skipped", "t").check is None
    with pytest.raises(FrozenInstanceError):
        R.CheckOutcome("x", "passed", "t").status = "FAILED"


def test_run_check_statuses_and_refusals():
    ok = R._run_check("a", lambda: FakeCheck(passed=True, text="fine"))
    assert (ok.name, ok.status, ok.text) == ("a", "passed", "fine") and ok.check.passed
    bad = R._run_check("a", lambda: FakeCheck(passed=False, text="bad"))
    assert bad.status == "FAILED"
    for exc in (ValueError("no such model"), NotImplementedError("no such model")):
        def refuse(exc=exc):
            raise exc
        out = R._run_check("b", refuse)
        assert (out.status, out.text, out.check) == ("skipped", "not applicable: no such model",
                                                     None)

    def broken():
        raise TypeError("a bug")
    with pytest.raises(TypeError):
        R._run_check("c", broken)


def test_posterior_checks_run_each_check_with_the_seed(fit, fixed_checks):
    out = R.posterior_checks(fit, seed=17)
    assert list(out) == ["convergence", "ppc", "loo", "prior_sensitivity"]
    assert [(o.name, o.status, o.text) for o in out.values()][1:] == [
        ("ppc", "passed", "ppc text"), ("loo", "FAILED", "loo text"),
        ("prior_sensitivity", "passed", "prior_sensitivity text")]
    assert fixed_checks == [("ppc", {"seed": 17}), ("loo", {}), ("prior_sensitivity", {})]
    conv = out["convergence"]
    assert (conv.status, conv.text, conv.check) == ("passed", fit.convergence.headline,
                                                    fit.convergence)
    assert R.posterior_checks(fit)["ppc"].status == "passed"
    assert fixed_checks[-3][1] == {"seed": 0}


def test_posterior_checks_skipped_on_request(fit, fixed_checks):
    out = R.posterior_checks(fit, checks=False)
    assert list(out) == ["convergence", "ppc", "loo", "prior_sensitivity"]
    for name in ("ppc", "loo", "prior_sensitivity"):
        assert (out[name].name, out[name].status, out[name].text) == (
            name, "skipped", "not run (checks=False)")
    assert fixed_checks == []


def test_posterior_checks_of_an_unconverged_fit(data):
    bad = fake_fit(data, draws=20)
    conv = R.posterior_checks(bad, checks=False)["convergence"]
    assert conv.status == "FAILED" and conv.failed


def test_posterior_checks_of_rpsft_skip_the_likelihood_checks(data, fixed_checks):
    out = R.posterior_checks(rpsft_fit(data))
    assert out["ppc"].status == "passed"
    for name in ("loo", "prior_sensitivity"):
        assert (out[name].name, out[name].status) == (name, "skipped")
        assert out[name].text == R._LIKELIHOOD_FREE
    assert [c[0] for c in fixed_checks] == ["ppc"]


def test_report_runs_the_checks_with_its_seed(fit, fixed_checks):
    R.hazard_ratio_report(fit)
    R.hazard_ratio_report(fit, seed=5)
    assert [kw for name, kw in fixed_checks if name == "ppc"] == [{"seed": 0}, {"seed": 5}]


# ------------------------------------------------------------------------- labels
def test_model_labels():
    pem = PiecewiseExponential
    assert R._model_label(pem(cuts=CUTS)) == "PEM PH, 3 intervals"
    assert R._model_label(pem(cuts=CUTS, effect="piecewise")) == (
        "PEM piecewise effect, 3 periods, 3 intervals")
    assert R._model_label(pem(cuts=(1.0, 2.0, 3.0), effect="piecewise", effect_cuts=(2.0,))) == (
        "PEM piecewise effect, 2 periods, 4 intervals")
    assert R._model_label(pem(cuts=CUTS, strata=True, covariates=("age", "ecog"),
                              exposure="received")) == (
        "PEM PH, 3 intervals, stratified, covariates age, ecog, received exposure")
    assert R._model_label(pem(cuts=(), covariates=("age",))) == "PEM PH, 1 intervals, covariates age"
    assert R._model_label(RPSFT(cuts=CUTS)) == "Bayesian RPSFT (stage-2 PEM, 3 intervals)"


def test_endpoint_of():
    assert R._endpoint_of("a", None) == ""
    assert R._endpoint_of("a", "OS") == "OS"
    assert R._endpoint_of("a", {"a": "PFS", "b": "OS"}) == "PFS"
    assert R._endpoint_of("c", {"a": "PFS"}) == ""


# ------------------------------------------------------------------------- headline numbers
def test_hr_numbers_equal_the_draws(fit, report):
    raw, m = report.raw.loc["OS ITT"], report.mcse.loc["OS ITT"]
    hr = fit.posterior["hr"].transpose("chain", "draw").values
    assert raw["hr"] == pytest.approx(np.median(hr))
    assert raw["hr_mean"] == pytest.approx(hr.mean())
    assert raw["hr_lower"] == pytest.approx(np.quantile(hr, 0.05))
    assert raw["hr_upper"] == pytest.approx(np.quantile(hr, 0.95))
    assert (raw["hr_hdi_lower"], raw["hr_hdi_upper"]) == pytest.approx(hdi_bruteforce(hr, 0.9))
    assert raw["p_hr_lt_1"] == pytest.approx((hr < 1).mean())
    assert raw["p_hr_lt_0.8"] == pytest.approx((hr < 0.8).mean())
    assert 0.1 < raw["p_hr_lt_0.8"] < raw["p_hr_lt_1"] < 1  # thresholds that split the draws
    assert m["hr"] == pytest.approx(mcse(hr, "median"))
    assert m["p_hr_lt_0.8"] == pytest.approx(mcse(hr < 0.8, "mean"))
    assert "proportional-hazards HR" in raw["hr_definition"]


def test_descriptive_columns(fit, report, data):
    raw = report.raw.loc["OS ITT"]
    assert (raw["endpoint"], raw["population"], raw["origin"]) == ("OS", data.population,
                                                                   data.origin)
    assert raw["model"] == "PEM PH, 3 intervals" and raw["approximate"] == fit.approximate
    for key, code in (("control", 0), ("experimental", 1)):
        assert raw[f"arm_{key}"] == data.arms[code]
        assert raw[f"n_{key}"] == (data.arm == code).sum()
        assert raw[f"events_{key}"] == data.event[data.arm == code].sum()
    assert raw["n_control"] != raw["n_experimental"] or raw["events_control"] != raw[
        "events_experimental"]
    assert report.table.index.name == "analysis" and report.raw.index.name == "analysis"


def test_survival_numbers_equal_the_draws(fit, report, data):
    raw = report.raw.loc["OS ITT"]
    rates = arm_rates(fit)
    med = pe_median(rates)
    last = [data.time[data.arm == a].max() for a in (0, 1)]
    for i, key in enumerate(R.ARM_KEYS):
        assert raw[f"median_{key}"] == pytest.approx(np.median(med[..., i]), rel=1e-8)
        assert raw[f"median_{key}_lower"] == pytest.approx(np.quantile(med[..., i], 0.05),
                                                           rel=1e-8)
        assert raw[f"last_followup_{key}"] == last[i]
        for t in (6, 12):
            s = np.exp(-cumhaz(rates[..., i, :], t))
            assert raw[f"surv_{t}_{key}"] == pytest.approx(np.median(s), rel=1e-8)
            assert raw[f"surv_{t}_{key}_upper"] == pytest.approx(np.quantile(s, 0.95), rel=1e-8)
    diff = med[..., 1] - med[..., 0]
    assert raw["median_diff"] == pytest.approx(np.median(diff), rel=1e-8)
    assert raw["median_diff_upper"] == pytest.approx(np.quantile(diff, 0.95), rel=1e-8)
    h = min(last)
    assert raw["rmst_horizon"] == h
    rm = pe_rmst(rates[..., 1, :], h) - pe_rmst(rates[..., 0, :], h)
    assert raw["rmst_diff"] == pytest.approx(np.median(rm), rel=1e-8)
    assert raw["rmst_diff_lower"] == pytest.approx(np.quantile(rm, 0.05), rel=1e-8)
    assert report.mcse.loc["OS ITT", "median_diff"] == pytest.approx(mcse(diff, "median"))
    assert f"OS ITT: RMST horizon {shown(h)} = the shorter of the two arms' last follow-up times " \
           "(default)" in report.notes


def test_curve_and_hazard_kept_for_the_figures(report, data):
    a = report.analysis()
    assert a.curve.sizes["time"] == 101
    assert float(a.curve["time"].max()) == data.time.max()
    np.testing.assert_allclose(a.curve["time"], np.linspace(0.0, data.time.max(), 101))
    assert a.hazard is not None and a.hr_draws["HR"].shape == (4, 250)


def test_cox_and_logrank_are_the_frequentist_cross_check(report, data):
    raw = report.raw.loc["OS ITT"]
    cox = cox_hr(data.time, data.event, data.arm, alpha=0.1)
    assert (raw["cox_hr"], raw["cox_lower"], raw["cox_upper"]) == pytest.approx(
        (cox.hr, cox.lower, cox.upper))
    m = data.arm == 1
    p = logrank_test(data.time[m], data.time[~m], data.event[m], data.event[~m]).p_value
    assert raw["logrank_p"] == pytest.approx(p, rel=1e-6)
    assert report.table.loc["OS ITT", "cox_hr"] == float(f"{cox.hr:.3g}")
    assert report.table.loc["OS ITT", "logrank_p"] == float(f"{p:.3g}")


def test_convergence_columns(fit, report):
    raw = report.raw.loc["OS ITT"]
    assert raw["converged"] == True  # noqa: E712 (a numpy bool in the frame)
    assert raw["convergence"] == fit.convergence.headline
    assert [raw[f"check_{n}"] for n in ("convergence", "ppc", "loo", "prior_sensitivity")] == [
        "passed", "skipped", "skipped", "skipped"]


def test_numbers_rounded_to_their_mcse(report):
    table, raw, m = report.table, report.raw, report.mcse
    assert len(m.columns) > 30
    for col in m.columns:
        value = raw.at["OS ITT", col]
        d = R.mcse_decimals(m.at["OS ITT", col])
        assert table.at["OS ITT", col] == round(value, d), col
        assert report.decimals.at["OS ITT", col] == d, col
    assert report.decimals.at["OS ITT", "cox_hr"] == R._three_significant(raw.at["OS ITT", "cox_hr"])
    assert table.at["OS ITT", "hr"] != raw.at["OS ITT", "hr"]  # the rounding did something
    assert table.at["OS ITT", "model"] == raw.at["OS ITT", "model"]


def test_round_hr_table_rows_with_and_without_hr_draws(data):
    """Rows of fits with (chain, draw) HR draws are rounded to their MCSE; rows of fits
    without them (no ``hr``, an ``hr`` per period, no posterior), of unknown labels or
    without a result keep 3 significant digits; missing values stay missing."""
    ph = fake_fit(data, hr=0.85, draws=300)  # 1200 draws: P(HR < x) has more than 3 decimals
    hr = ph.posterior["hr"].transpose("chain", "draw").values
    dims = ("chain", "draw")

    def tree(**variables):
        return SimpleNamespace(idata=xr.DataTree.from_dict(
            {"posterior": xr.Dataset(variables)} if variables else {}))

    results = {"ph": ph, "no_hr": tree(psi=(dims, hr)), "per_period": tree(
        hr=((*dims, "period"), hr[..., None])), "no_posterior": tree(), "none": None}
    labels = [*results, "unknown"]
    table = pd.DataFrame({"hr_median": [np.median(hr)] + [0.123456] * 5,
                          "lower": [np.quantile(hr, 0.05)] + [np.nan] + [0.654321] * 4,
                          "p_hr_lt_0.8": [(hr < 0.8).mean()] + [0.333333] * 5},
                         index=labels)
    table.attrs["prob"] = 0.9
    out = R.round_hr_table(table, results)
    d = R.mcse_decimals
    assert out.loc["ph", "hr_median"] == round(np.median(hr), d(mcse(hr, "median")))
    assert out.loc["ph", "lower"] == round(np.quantile(hr, 0.05), d(mcse(hr, "quantile", 0.05)))
    assert out.loc["ph", "p_hr_lt_0.8"] == round((hr < 0.8).mean(), d(mcse(hr < 0.8, "mean")))
    assert out.loc["ph", "hr_median"] != table.loc["ph", "hr_median"]
    assert out.loc["ph", "p_hr_lt_0.8"] != table.loc["ph", "p_hr_lt_0.8"]
    assert np.isnan(out.loc["no_hr", "lower"])
    for label in labels[1:]:
        assert out.loc[label, "hr_median"] == 0.123 and out.loc[label, "p_hr_lt_0.8"] == 0.333
    assert out.loc["per_period", "lower"] == 0.654
    assert table.loc["no_hr", "hr_median"] == 0.123456  # the table itself is not changed


def test_round_frame_leaves_missing_and_infinite_values():
    raw = pd.DataFrame({"a": [1.23456, np.nan, np.inf, 2.34567],
                        "cox_hr": [0.012345, 2.0, 123.4, 1.0]}, index=["x", "y", "z", "w"])
    mcse_ = pd.DataFrame({"a": [0.012, 0.1, 0.1, 0.3]}, index=raw.index)
    out, dec = R._round_frame(raw, mcse_)
    assert out.at["x", "a"] == 1.235 and np.isnan(out.at["y", "a"]) and out.at["z", "a"] == np.inf
    assert out.at["w", "a"] == 2.35  # rows after a missing one are still rounded
    assert dec.at["x", "a"] == 3 and pd.isna(dec.at["y", "a"]) and pd.isna(dec.at["z", "a"])
    assert out["cox_hr"].tolist() == [0.0123, 2.0, 123.0, 1.0]
    assert dec["cox_hr"].tolist() == [4, 2, 0, 2]
    assert raw.at["x", "a"] == 1.23456  # not changed in place


# ------------------------------------------------------------------------- extrapolation
def test_extrapolation_marked(data):
    slow = fake_fit(data, hazards=(0.002, 0.002, 0.002))
    report = R.hazard_ratio_report({"slow": slow}, milestones=(6, 40), horizon=40, checks=False)
    row = report.table.loc["slow"]
    assert not row["surv_6_control_extrapolated"] and row["surv_40_control_extrapolated"]
    assert row["surv_40_experimental_extrapolated"]
    assert row["median_control_extrapolated"] and row["median_experimental_extrapolated"]
    assert row["median_diff_extrapolated"] and row["rmst_diff_extrapolated"]
    assert row["rmst_horizon"] == 40
    assert not any("RMST horizon" in n for n in report.notes)  # horizon given
    fast = R.hazard_ratio_report({"fast": fake_fit(data, hazards=(0.3, 0.3, 0.3))}, checks=False)
    marks = [c for c in fast.table if c.endswith("_extrapolated")]
    assert len(marks) == 8 and not fast.table.loc["fast", marks].any()
    # the defaults: milestones 6 and 12, thresholds 1 and 0.8
    assert {"surv_6_control", "surv_12_experimental", "p_hr_lt_1", "p_hr_lt_0.8"} <= set(
        fast.table.columns)


def tail_posterior(data, n_late: int) -> FitResult:
    """1000 draws; ``n_late`` of them in the control arm with hazards so low that the median
    lies beyond follow-up, the rest with hazards that reach it early."""
    fit_ = fake_fit(data, hazards=(0.3, 0.3, 0.3), jitter=0.0, draws=250)
    post = fit_.posterior
    base = post["log_hazard_base"].values.copy()
    log_hr = post["log_hr"].values.copy()
    flat_base, flat_hr = base.reshape(-1, 3), log_hr.reshape(-1)
    flat_base[:n_late] = np.log(0.001)
    flat_hr[:n_late] = np.log(300.0)  # the experimental arm stays early
    post = post.assign(log_hazard_base=(post["log_hazard_base"].dims, base),
                       log_hr=(post["log_hr"].dims, log_hr), hr=(post["hr"].dims, np.exp(log_hr)))
    tree = xr.DataTree.from_dict({"posterior": post,
                                  "constant_data": fit_.idata["constant_data"].to_dataset()})
    return FitResult(idata=tree, spec=fit_.spec, priors={}, data=data, sampler=SamplerConfig())


@pytest.mark.parametrize(("n_late", "marked"), [(250, False), (251, True)])
def test_median_marked_when_more_than_the_tail_share_is_beyond_follow_up(data, n_late, marked):
    """50% intervals: marked when more than 25% of the draws (250 of 1000) lie beyond (a
    level whose tail share (1 - 0.5) / 2 is exact in floating point, unlike 2.5%)."""
    report = R.hazard_ratio_report(tail_posterior(data, n_late), prob=0.5, checks=False)
    row = report.table.iloc[0]
    assert bool(row["median_control_extrapolated"]) is marked
    assert bool(row["median_diff_extrapolated"]) is marked
    assert not row["median_experimental_extrapolated"]


# ------------------------------------------------------------------------- other model kinds
def test_piecewise_effect_has_hr_per_period(data):
    pw = fake_fit(data, hr=[0.5, 0.8, 1.2])
    report = R.hazard_ratio_report({"pw": pw}, thresholds=(1.0, 0.8), prob=0.9, checks=False)
    raw = report.raw.loc["pw"]
    for col in ("hr", "hr_mean", "hr_lower", "hr_upper", "hr_hdi_lower", "hr_hdi_upper",
                "p_hr_lt_1", "p_hr_lt_0.8"):
        assert np.isnan(raw[col]), col
    assert raw["hr_definition"] == "no single HR (piecewise effect): see the HR per period"
    periods, pm = report.hr_periods, report.hr_periods_mcse
    draws = pw.posterior["hr_period"].transpose("chain", "draw", "period").values
    labels = [str(p) for p in pw.posterior["hr_period"]["period"].values]
    assert periods["analysis"].tolist() == ["pw"] * 3 and periods["period"].tolist() == labels
    for k in range(3):
        x = draws[..., k]
        assert periods.loc[k, "hr"] == round(np.median(x), R.mcse_decimals(pm.loc[k, "hr"]))
        assert pm.loc[k, "hr_lower"] == pytest.approx(mcse(x, "quantile", 0.05))
        assert pm.loc[k, "p_hr_lt_0.8"] == pytest.approx(mcse(x < 0.8, "mean"))
        assert report.period_decimals.loc[k, "hr"] == R.mcse_decimals(pm.loc[k, "hr"])
    assert periods.loc[1, "p_hr_lt_1"] == round((draws[..., 1] < 1).mean(),
                                                R.mcse_decimals(pm.loc[1, "p_hr_lt_1"]))
    assert list(report.analysis().hr_draws) == [f"HR in {p}" for p in labels]
    sections = dict(report.sections())
    assert list(sections) == ["Hazard ratio", "HR per period (piecewise effect)", "Survival",
                              "Diagnostics"]
    row = sections["Hazard ratio"].loc["pw"]
    assert row["HR median"] == "no single HR (see HR per period)"
    assert (row["HR mean"], row["90% ETI"], row["90% HDI"], row["P(HR < 0.8)"]) == ("–",) * 4
    per = sections["HR per period (piecewise effect)"]
    assert per.index.tolist() == [f"pw | {p}" for p in labels]
    assert per.loc[f"pw | {labels[0]}", "P(HR < 1)"] == "1 (every draw)"
    assert per.loc[f"pw | {labels[2]}", "HR median"] == R.HazardRatioReport._fmt(
        report, 2, "hr", periods, report.period_decimals)


def rpsft_fit(data) -> FitResult:
    tree = fake_posterior(cuts=CUTS, hazards=HAZARDS, hr=0.6, chains=4, draws=250, jitter=0.1,
                          seed=2, arms=data.arms)
    post = tree["posterior"].to_dataset()
    noise = np.random.default_rng(3).normal(0.0, 0.05, post["log_hr"].shape)
    two_stage = post["log_hr"] * 0 + np.log(0.9) + noise
    post = post.assign(log_hr_two_stage=two_stage, hr_two_stage=np.exp(two_stage))
    tree = xr.DataTree.from_dict({"posterior": post,
                                  "constant_data": tree["constant_data"].to_dataset()})
    return FitResult(idata=tree, spec=RPSFT(cuts=CUTS), priors={}, data=data,
                     sampler=SamplerConfig())


def test_rpsft_survival_from_stage2_and_adjusted_hr(data):
    result = rpsft_fit(data)
    report = R.hazard_ratio_report({"rpsft": result}, checks=True)
    raw = report.raw.loc["rpsft"]
    post = result.posterior
    assert raw["hr"] == pytest.approx(np.median(post["hr"].values))
    base = np.exp(post["log_hazard_base"].transpose("chain", "draw", "interval").values)
    rates = np.stack([base, base * np.exp(post["log_hr_two_stage"].values)[..., None]], axis=2)
    assert raw["median_experimental"] == pytest.approx(np.median(pe_median(rates)[..., 1]),
                                                       rel=1e-8)
    assert raw["median_control"] == pytest.approx(np.median(pe_median(rates)[..., 0]), rel=1e-8)
    assert raw["model"] == "Bayesian RPSFT (stage-2 PEM, 3 intervals)"
    assert raw["hr_definition"].startswith("RPSFT-adjusted HR (each experimental patient")
    assert ("rpsft: survival per arm from the stage-2 PEM: control had nobody switched, "
            "experimental as observed; the HR is the adjusted HR, not the ratio of these "
            "curves") in report.notes
    assert f"rpsft: loo skipped: {R._LIKELIHOOD_FREE}" in report.notes
    assert f"rpsft: prior_sensitivity skipped: {R._LIKELIHOOD_FREE}" in report.notes
    assert result.posterior["log_hr"].equals(post["log_hr"])  # the fit itself is not changed


def test_source_of_a_pem_fit_is_the_fit(fit):
    assert R._source(fit) == (fit, None)


def test_received_exposure_note(data):
    spec = PiecewiseExponential(cuts=CUTS, exposure="received")
    report = R.hazard_ratio_report({"rx": fake_fit(data, spec=spec)}, checks=False)
    assert ("rx: received exposure: 'arms' of the survival quantities are time off and on "
            "experimental therapy") in report.notes
    assert report.raw.loc["rx", "model"].endswith(", received exposure")


def frame(data, **extra) -> pd.DataFrame:
    return pd.DataFrame({"time": data.time, "event": data.event, "arm": data.arm, **extra})


def test_interval_censored_events_dated_at_the_visit_for_cox_and_logrank(data):
    lower = np.where(data.event == 1, data.time * 0.7, data.time)
    ic = TrialData.from_dataframe(frame(data, lower=lower), time="time", event="event",
                                  arm="arm", time_lower="lower")
    assert ic.interval_censored.sum() == data.event.sum()
    raw = R.hazard_ratio_report({"ic": fake_fit(ic)}, checks=False)
    cox = cox_hr(data.time, data.event, data.arm, alpha=0.05)
    assert raw.raw.loc["ic", "cox_hr"] == pytest.approx(cox.hr)
    assert ("ic: interval-censored events; the Cox HR, the log-rank p and the Kaplan-Meier "
            "curves date them at the visit that found them, while the posterior uses the "
            "intervals") in raw.notes


def test_stratified_models_get_the_stratified_cox_and_logrank(data):
    strata = np.where(data.time > np.median(data.time), "s1", "s0")  # fake_posterior's labels
    sdata = TrialData.from_dataframe(frame(data, region=strata), time="time", event="event",
                                     arm="arm", strata="region")
    stratified = FitResult(
        idata=fake_posterior(cuts=CUTS, hazards=np.array([HAZARDS, HAZARDS]), hr=0.7, chains=4,
                             draws=250, jitter=0.1, seed=5, arms=sdata.arms),
        spec=PiecewiseExponential(cuts=CUTS, strata=True), priors={}, data=sdata,
        sampler=SamplerConfig())
    plain = fake_fit(sdata)
    report = R.hazard_ratio_report({"s": stratified, "u": plain}, checks=False)
    with_strata = cox_hr(sdata.time, sdata.event, sdata.arm, strata=sdata.strata, alpha=0.05)
    without = cox_hr(sdata.time, sdata.event, sdata.arm, alpha=0.05)
    assert with_strata.hr != pytest.approx(without.hr, rel=1e-3)
    assert report.raw.loc["s", "cox_hr"] == pytest.approx(with_strata.hr)
    assert report.raw.loc["u", "cox_hr"] == pytest.approx(without.hr)
    assert report.raw.loc["s", "logrank_p"] != pytest.approx(report.raw.loc["u", "logrank_p"],
                                                             rel=1e-3)
    # A spec without a strata option (the RPSFT's) is not stratified, whatever the data hold.
    assert not hasattr(RPSFT(cuts=CUTS), "strata")
    rpsft = R.hazard_ratio_report({"r": rpsft_fit(sdata)}, checks=False)
    assert rpsft.raw.loc["r", "cox_hr"] == pytest.approx(without.hr)


# ------------------------------------------------------------------------- verdicts
@pytest.fixture(scope="module")
def two(data):
    return {"good": fake_fit(data, draws=250), "bad": fake_fit(data, draws=20)}


def test_banner_when_a_fit_fails_convergence(two, monkeypatch):
    ok = R.hazard_ratio_report({"good": two["good"]}, checks=False)
    assert ok.banner is None and ok.unconverged == []
    assert ok.to_markdown().splitlines()[:3] == [
        "# Posterior hazard-ratio report (time unit: months)", "", "## Hazard ratio"]
    report = R.hazard_ratio_report(two, checks=False)
    assert report.unconverged == ["bad"]
    assert report.banner == (
        "WARNING: 1 of 2 fit(s) FAILED the convergence check (bad): their numbers are not "
        "reliable; do not report them (rerun with more draws and tuning, see the diagnostics)")
    md = report.to_markdown().splitlines()
    assert md[2] == f"> **{report.banner}**" and md[3] == ""
    both = R.hazard_ratio_report({"b1": two["bad"], "ok": two["good"], "b2": two["bad"]},
                                 checks=False)
    assert both.unconverged == ["b1", "b2"]
    assert "2 of 3 fit(s) FAILED the convergence check (b1; b2)" in both.banner


def test_diagnostics_section(two):
    report = R.hazard_ratio_report(two, checks=True)
    diag = dict(report.sections())["Diagnostics"]
    for label, result in two.items():
        conv = result.convergence
        row = diag.loc[label]
        assert row["convergence"] == ("passed" if label == "good" else "FAILED")
        assert row["max R-hat"] == f"{conv.table['r_hat'].max():.3f}"
        assert row["min ESS (bulk/tail)"] == (f"{conv.table['ess_bulk'].min():.0f} / "
                                              f"{conv.table['ess_tail'].min():.0f}")
        assert row["divergences"] == str(conv.divergences)
        assert (row["ppc"], row["loo"], row["prior_sensitivity"]) == ("passed", "FAILED", "passed")
    assert report.notes == [f"{k}: RMST horizon {shown(report.raw.loc[k, 'rmst_horizon'])} = the "
                            "shorter of the two arms' last follow-up times (default)" for k in two]


# ------------------------------------------------------------------------- display
def test_hr_section_cells(report):
    sections = report.sections()
    assert [t for t, _ in sections] == ["Hazard ratio", "Survival", "Diagnostics"]
    hr = sections[0][1]
    t, d = report.table.loc["OS ITT"], report.decimals.loc["OS ITT"]

    def f(col):
        return f"{t[col]:.{int(d[col])}f}"

    row = hr.loc["OS ITT"]
    assert list(hr.columns) == ["n (control / experimental)", "events", "model", "HR median",
                                "HR mean", "90% ETI", "90% HDI", "P(HR < 1)", "P(HR < 0.8)",
                                "Cox HR (95% CI)", "log-rank p"]
    assert row["n (control / experimental)"] == f"{t['n_control']} / {t['n_experimental']}"
    assert row["events"] == f"{t['events_control']} / {t['events_experimental']}"
    assert row["model"] == "PEM PH, 3 intervals"
    assert row["HR median"] == f("hr") and row["HR mean"] == f("hr_mean")
    assert row["90% ETI"] == f"{f('hr_lower')}, {f('hr_upper')}"
    assert row["90% HDI"] == f"{f('hr_hdi_lower')}, {f('hr_hdi_upper')}"
    assert row["P(HR < 1)"] == f("p_hr_lt_1") and row["P(HR < 0.8)"] == f("p_hr_lt_0.8")
    assert row["Cox HR (95% CI)"] == f"{f('cox_hr')} ({f('cox_lower')}, {f('cox_upper')})"
    p = t["logrank_p"]
    assert row["log-rank p"] == (f("logrank_p") if p >= 1e-3 else f"{p:.2e}")


def test_survival_section_cells(report):
    surv = dict(report.sections())["Survival"]
    t, d = report.table.loc["OS ITT"], report.decimals.loc["OS ITT"]
    a0, a1 = t["arm_control"], t["arm_experimental"]

    def est(stem):
        cells = [f"{t[c]:.{int(d[c])}f}" for c in (stem, f"{stem}_lower", f"{stem}_upper")]
        return f"{cells[0]} ({cells[1]}, {cells[2]})" + (" †" if t[f"{stem}_extrapolated"]
                                                         else "")

    assert list(surv.columns) == [f"median {a0} (months)", f"median {a1} (months)",
                                  "median difference (months)", f"S(6) {a0}", f"S(6) {a1}",
                                  f"S(12) {a0}", f"S(12) {a1}", "RMST difference (months)"]
    row = surv.loc["OS ITT"]
    assert row[f"median {a0} (months)"] == est("median_control")
    assert row[f"median {a1} (months)"] == est("median_experimental")
    assert row["median difference (months)"] == est("median_diff")
    assert row[f"S(12) {a1}"] == est("surv_12_experimental")
    assert row["RMST difference (months)"] == f"{est('rmst_diff')} to {shown(t['rmst_horizon'])}"


def shown(time: float) -> str:
    """A time as the report shows it: 3 significant digits, no trailing zeros."""
    return f"{float(f'{time:.3g}'):g}"


def test_times_and_small_p_values_are_shown_to_three_significant_digits(report):
    assert [shown(h) for h in (9.77803, 24.0, 0.0123456, 1234.5)] == ["9.78", "24", "0.0123",
                                                                       "1230"]
    table = pd.DataFrame({"logrank_p": [3.6125e-8], "p2": [3.6125e-8]}, index=["r"])
    dec = pd.DataFrame({"logrank_p": [10], "p2": [10]}, index=["r"], dtype=object)
    assert report._fmt("r", "logrank_p", table, dec) == "3.61e-08"  # not 0.0000000361
    assert report._fmt("r", "p2", table, dec) == "0.0000000361"     # other columns: decimals
    big = table.assign(logrank_p=0.0423)
    assert report._fmt("r", "logrank_p", big, dec.assign(logrank_p=4)) == "0.0423"
    assert report._fmt("r", "logrank_p", table.assign(logrank_p=1e-3),
                       dec.assign(logrank_p=5)) == "0.00100"


def test_fmt_special_values(report):
    table = pd.DataFrame({"b": [True], "nb": [np.False_], "s": ["text"], "nan": [np.nan],
                          "inf": [np.inf], "p_hr_lt_1": [1.0], "p_hr_lt_2": [0.0],
                          "p_hr_lt_3": [0.5], "x": [0.123456], "y": [2.5]}, index=["r"])
    dec = pd.DataFrame({"p_hr_lt_3": [2], "x": [3], "y": [np.nan], "z": [1]}, index=["r"],
                       dtype=object)
    fmt = [report._fmt("r", c, table, dec) for c in table.columns]
    assert fmt == ["yes", "no", "text", "–", "not reached", "1 (every draw)", "0 (no draw)",
                   "0.50", "0.123", "2.5"]
    assert report._fmt("r", "x", table, dec.assign(x=-1)) == "0"
    assert report._fmt("r", "x", table, dec.drop(columns="x")) == "0.123456"


def test_estimate_marks_extrapolated(report):
    table = pd.DataFrame({"m": [1.0], "m_lower": [0.5], "m_upper": [2.0],
                          "m_extrapolated": [True], "k": [1.0], "k_lower": [0.5],
                          "k_upper": [2.0]}, index=["r"])
    dec = pd.DataFrame({"m": [1], "m_lower": [2], "m_upper": [0]}, index=["r"], dtype=object)
    assert report._estimate("r", "m", table, dec) == "1.0 (0.50, 2) †"
    assert report._estimate("r", "k", table, dec) == "1 (0.5, 2)"
    assert report._estimate("r", "m", table.assign(m_extrapolated=False), dec) == "1.0 (0.50, 2)"


def test_footnotes(report):
    notes = report.footnotes
    assert notes[0] == (
        "† extrapolated: rests on the model beyond the arm's last follow-up time (S(t) at t "
        "beyond it; RMST horizon beyond it; median marked extrapolated when more than 5.0% of "
        "its draws lie beyond the arm's last follow-up (its interval reaches beyond the data)).")
    assert notes[1].startswith("Intervals: 90% equal-tailed (ETI) and highest-density (HDI) "
                               "posterior intervals; Cox HR with Wald CI (Efron ties)")
    assert notes[2] == f"Rounding: {R.ROUNDING_RULE}"
    assert notes[3:] == report.notes and len(report.notes) == 1
    # the tail share of the median's mark at any interval probability (here below 50%)
    narrow = dataclasses.replace(report, prob=0.4)
    assert "median marked extrapolated when more than 30.0% of its draws" in narrow.footnotes[0]


def test_markdown(report):
    md = report.to_markdown()
    assert str(report) == md and md.endswith("\n") and not md.endswith("\n\n")
    lines = md.splitlines()
    assert lines[0] == "# Posterior hazard-ratio report (time unit: months)"
    hr = dict(report.sections())["Hazard ratio"]
    i = lines.index("## Hazard ratio")
    assert lines[i + 1] == ""
    assert lines[i + 2] == "| analysis | " + " | ".join(hr.columns) + " |"
    assert lines[i + 3] == "|" + "---|" * (len(hr.columns) + 1)
    assert lines[i + 4] == "| OS ITT | " + " | ".join(hr.loc["OS ITT"]) + " |"
    assert lines[i + 5] == "" and lines[i + 6] == "## Survival"
    j = lines.index("## Checks")
    assert lines[j + 1:j + 8] == [
        "", "- **OS ITT**",
        f"  - convergence: passed. {report.analysis().checks['convergence'].text}",
        "  - ppc: skipped. not run (checks=False)", "  - loo: skipped. not run (checks=False)",
        "  - prior_sensitivity: skipped. not run (checks=False)", ""]
    assert lines[j + 8:j + 10] == ["## Notes", ""]
    assert lines[j + 10:] == [f"- {n}" for n in report.footnotes]


def test_markdown_table_escapes_pipes():
    frame = pd.DataFrame({"a|b": ["x|y", "z"], "c": [1, 2]}, index=["r|1", "r2"])
    assert R._markdown_table(frame).splitlines() == [
        "| analysis | a\\|b | c |", "|---|---|---|", "| r\\|1 | x\\|y | 1 |", "| r2 | z | 2 |"]


def test_time_unit_in_labels(fit):
    report = R.hazard_ratio_report(fit, time_unit="weeks", checks=False)
    assert report.to_markdown().startswith("# Posterior hazard-ratio report (time unit: weeks)")
    assert "median difference (weeks)" in dict(report.sections())["Survival"].columns
    assert report.table.index.tolist() == [fit.data.population]


# ------------------------------------------------------------------------- exports
def test_csv_json_round_trip(report, tmp_path):
    [path] = report.to_csv(tmp_path / "r.csv")
    assert path == tmp_path / "r.csv"
    back = pd.read_csv(path, index_col="analysis")
    pd.testing.assert_frame_equal(back, report.table, check_dtype=False)
    out = report.to_json(tmp_path / "r.json")
    assert out == tmp_path / "r.json"
    assert out.read_text() == json.dumps(report.to_dict(), indent=2)
    payload = json.loads(out.read_text())
    assert list(payload) == ["pexsurv_version", "time_unit", "prob", "banner", "rounding",
                             "table", "mcse", "hr_periods", "notes"]
    assert (payload["time_unit"], payload["prob"], payload["banner"]) == ("months", 0.9, None)
    assert payload["rounding"] == R.ROUNDING_RULE and payload["notes"] == report.footnotes
    table = pd.DataFrame(payload["table"]).set_index("analysis")
    pd.testing.assert_frame_equal(table, report.table, check_dtype=False)
    mcse_ = pd.DataFrame(payload["mcse"]).set_index("analysis")
    pd.testing.assert_frame_equal(mcse_, report.mcse, check_dtype=False)
    assert payload["hr_periods"] == []
    assert payload["pexsurv_version"] == R.__version__
    assert report.to_dict() == payload


def test_piecewise_periods_csv(data, tmp_path):
    report = R.hazard_ratio_report({"pw": fake_fit(data, hr=[0.5, 0.8, 1.2])}, checks=False)
    paths = report.to_csv(tmp_path / "r.csv")
    assert paths == [tmp_path / "r.csv", tmp_path / "r.hr_periods.csv"]
    back = pd.read_csv(paths[1])
    pd.testing.assert_frame_equal(back, report.hr_periods, check_dtype=False)
    assert len(report.to_dict()["hr_periods"]) == 3


def test_analysis_by_label(two):
    report = R.hazard_ratio_report(two, checks=False)
    assert report.analysis("bad").label == "bad" and report.analysis("good").result is two["good"]
    with pytest.raises(ValueError, match=r"this report holds 2 analyses: pass label=, one of "
                                         r"\['good', 'bad'\]"):
        report.analysis()
    with pytest.raises(ValueError, match=r"no analysis 'c' in this report; valid labels: "
                                         r"\['good', 'bad'\]"):
        report.analysis("c")


def test_report_is_immutable(report):
    with pytest.raises(FrozenInstanceError):
        report.prob = 0.5


# ------------------------------------------------------------------------- bad input
def test_bad_input_is_refused(fit):
    with pytest.raises(TypeError, match="results must be a FitResult or a non-empty mapping"):
        R.hazard_ratio_report({})
    with pytest.raises(TypeError, match="results must be a FitResult or a non-empty mapping"):
        R.hazard_ratio_report([fit])
    with pytest.raises(TypeError, match=r"not a FitResult: \['x', 'y'\]"):
        R.hazard_ratio_report({"x": 1, "ok": fit, "y": None})
    with pytest.raises(TypeError, match=r"not a FitResult: \['k0', .*'k9'\]$"):
        R.hazard_ratio_report({f"k{i}": i for i in range(12)})
    for thresholds in ((0.0,), (1.0, -0.5)):
        with pytest.raises(ValueError, match="thresholds must be positive hazard ratios"):
            R.hazard_ratio_report(fit, thresholds=thresholds, checks=False)
    with pytest.raises(ValueError, match=r"milestones must be times >= 0, got \(6.0, -1.0\)"):
        R.hazard_ratio_report(fit, milestones=(6, -1), checks=False)
    for horizon in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="horizon must be a positive time"):
            R.hazard_ratio_report(fit, horizon=horizon, checks=False)


def test_options_are_keyword_only(fit):
    with pytest.raises(TypeError):
        R.posterior_checks(fit, False)
    with pytest.raises(TypeError):
        R.hazard_ratio_report(fit, (1.0,))


def test_edge_values_accepted(fit):
    report = R.hazard_ratio_report(fit, milestones=(0,), thresholds=(1e-9,), horizon=1e-3,
                                   checks=False)
    row = report.raw.iloc[0]
    assert row["surv_0_control"] == 1.0 and row["p_hr_lt_1e-09"] == 0.0
    assert row["rmst_horizon"] == 1e-3


def test_report_repr_leaves_out_the_per_analysis_internals(report):
    """The repr shows the tables and settings, not the draws and figure data each analysis
    holds, nor the decimals tables behind the display."""
    text = repr(report)
    assert text.startswith("HazardRatioReport(table=")
    assert "analyses=" not in text and "period_decimals=" not in text
    assert ", decimals=" not in text and "prob=" in text


def test_round_hr_table_probability_mcse_counts_draws_at_the_threshold_as_not_below():
    """The MCSE of P(HR < x) is that of the indicator draws < x: draws exactly at x (a
    posterior piled on a boundary) are not below it, and not above it either."""
    rng = np.random.default_rng(0)
    hr = rng.choice([0.5, 0.8, 1.2], p=[0.001, 0.5, 0.499], size=(4, 300))
    d = R.mcse_decimals
    below, above = d(mcse(hr < 0.8, "mean")), d(mcse(hr > 0.8, "mean"))
    assert below != above  # the indicators' MCSEs call for different decimals
    table = pd.DataFrame({"p_hr_lt_0.8": [0.123456]}, index=["x"])
    table.attrs["prob"] = 0.95
    fit = SimpleNamespace(idata=xr.DataTree.from_dict(
        {"posterior": xr.Dataset({"hr": (("chain", "draw"), hr)})}))
    out = R.round_hr_table(table, {"x": fit})
    assert out.loc["x", "p_hr_lt_0.8"] == round(0.123456, below)


def test_probability_below_a_threshold_leaves_out_draws_at_it(fit):
    """P(HR < t) with t one of the draws: that draw is not below t (strict inequality)."""
    hr = fit.posterior["hr"].values
    t = float(np.sort(hr.ravel())[400])
    raw = R.hazard_ratio_report({"a": fit}, thresholds=(t,), checks=False).raw
    assert raw.loc["a", f"p_hr_lt_{t:g}"] == np.mean(hr < t) == 0.4


def test_summary_options_are_keyword_only():
    with pytest.raises(TypeError):
        R.posterior_interval_text(np.ones((2, 10)), 0.9)
    with pytest.raises(TypeError):
        R.summarise("z", np.ones((2, 10)), 0.9)


def test_period_probability_below_a_threshold_leaves_out_draws_at_it(data):
    pw = fake_fit(data, hr=[0.5, 0.8, 1.2])
    x = pw.posterior["hr_period"].transpose("chain", "draw", "period").values[..., 0]
    t = float(np.sort(x.ravel())[400])
    report = R.hazard_ratio_report({"pw": pw}, thresholds=(t,), prob=0.9, checks=False)
    assert report.hr_periods_mcse.loc[0, f"p_hr_lt_{t:g}"] == pytest.approx(mcse(x < t, "mean"))
    assert mcse(x < t, "mean") != pytest.approx(mcse(x <= t, "mean"))


def test_round_hr_table_needs_chain_by_draw_hr_draws(fit):
    """HR draws that are not (chain, draw), e.g. one flat vector, are not used for the MCSE:
    the row keeps 3 significant digits."""
    hr = fit.posterior["hr"].values.ravel()
    flat = SimpleNamespace(idata=xr.DataTree.from_dict(
        {"posterior": xr.Dataset({"hr": (("draw",), hr)})}))
    table = pd.DataFrame({"hr_median": [0.123456], "p_hr_lt_0.8": [0.333333]}, index=["f"])
    table.attrs["prob"] = 0.9
    out = R.round_hr_table(table, {"f": flat})
    assert (out.loc["f", "hr_median"], out.loc["f", "p_hr_lt_0.8"]) == (0.123, 0.333)
