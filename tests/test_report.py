"""The hazard-ratio report: its numbers equal direct computations from the draws (NumPy,
written here independently of pexsurv.models.derived), rounding to the Monte Carlo
precision, extrapolation marks, exports and the self-contained HTML file.

One small real fit (module scope) and hand-built posteriors on the packaged data."""

from __future__ import annotations

import base64
import json
import math
import re
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from lifelines.statistics import logrank_test

from pexsurv import datasets
from pexsurv.fitting import ConvergenceWarning, FitResult, SamplerConfig, compile_spec, fit
from pexsurv.models import RPSFT, PiecewiseExponential
from pexsurv.testing import fake_posterior
from pexsurv.workflows import hazard_ratio_report
from pexsurv.workflows.report import MAX_DECIMALS, mcse_decimals

CUTS = (4.0, 8.0)


@pytest.fixture(scope="module")
def data():
    return datasets.ct041_like("os")


@pytest.fixture(scope="module")
def real_fit(data):
    spec = PiecewiseExponential(cuts=CUTS)
    config = SamplerConfig(draws=200, tune=200, chains=4, seed=11, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 800 draws: ESS may fall short
        return fit(spec, data, sampler=config, compiled=compile_spec(spec, data, config))


@pytest.fixture(scope="module")
def real_report(real_fit):
    return hazard_ratio_report({"OS ITT": real_fit}, endpoint="OS", checks=True, seed=3)


def fake_fit(data, *, hazards=(0.12, 0.09, 0.07), hr=0.7, jitter=0.1, draws=1000,
             spec=None) -> FitResult:
    """A FitResult around a hand-built posterior of 4 x ``draws`` independent draws."""
    tree = fake_posterior(cuts=CUTS, hazards=hazards, hr=hr, chains=4, draws=draws,
                          jitter=jitter, seed=5, arms=data.arms)
    spec = spec or PiecewiseExponential(cuts=CUTS, effect="ph" if np.ndim(hr) == 0 else "piecewise")
    return FitResult(idata=tree, spec=spec, priors={}, data=data, sampler=SamplerConfig())


# ---------------------------------------------------------------- independent NumPy references
def rates_by_arm(post: xr.Dataset, log_hr: np.ndarray) -> np.ndarray:
    """(chain, draw, arm, interval) hazards: control exp(base), experimental exp(base + log HR)."""
    base = post["log_hazard_base"].transpose("chain", "draw", "interval").values
    return np.exp(np.stack([base, base + log_hr], axis=2))


def pe_cumhaz(rates: np.ndarray, t: float) -> np.ndarray:
    lower = np.r_[0.0, CUTS]
    upper = np.r_[CUTS, np.inf]
    return (rates * np.clip(np.minimum(t, upper) - lower, 0, None)).sum(-1)


def pe_median(rates: np.ndarray) -> np.ndarray:
    lower = np.r_[0.0, CUTS]
    width = np.diff(np.r_[lower, np.inf])
    out = np.empty(rates.shape[:-1])
    for idx in np.ndindex(out.shape):
        r, h = rates[idx], 0.0
        for k in range(r.size):
            if h + r[k] * width[k] >= np.log(2):
                out[idx] = lower[k] + (np.log(2) - h) / r[k]
                break
            h += r[k] * width[k]
    return out


def pe_rmst(rates: np.ndarray, tau: float) -> np.ndarray:
    lower = np.r_[0.0, CUTS]
    upper = np.r_[CUTS, np.inf]
    w = np.clip(np.minimum(tau, upper) - lower, 0, None)
    s_lower = np.exp(-np.concatenate([np.zeros(rates.shape[:-1] + (1,)),
                                      np.cumsum(rates * w, -1)[..., :-1]], -1))
    return (s_lower * (1 - np.exp(-rates * w)) / rates).sum(-1)


def hdi_bruteforce(x: np.ndarray, prob: float = 0.95) -> tuple[float, float]:
    s = np.sort(x.ravel())
    k = int(np.floor(prob * s.size))
    i = int(np.argmin(s[k:] - s[: s.size - k]))
    return s[i], s[i + k]


# ---------------------------------------------------------------- numbers
def test_hr_numbers_equal_the_draws(real_fit, real_report):
    hr = real_fit.posterior["hr"].values
    row = real_report.raw.loc["OS ITT"]
    assert row["hr"] == pytest.approx(np.median(hr), rel=1e-12)
    assert row["hr_mean"] == pytest.approx(np.mean(hr), rel=1e-12)
    assert row["hr_lower"] == pytest.approx(np.quantile(hr, 0.025), rel=1e-12)
    assert row["hr_upper"] == pytest.approx(np.quantile(hr, 0.975), rel=1e-12)
    lo, hi = hdi_bruteforce(hr)
    assert (row["hr_hdi_lower"], row["hr_hdi_upper"]) == pytest.approx((lo, hi), rel=1e-12)
    assert row["p_hr_lt_1"] == pytest.approx(np.mean(hr < 1.0), abs=1e-12)
    assert row["p_hr_lt_0.8"] == pytest.approx(np.mean(hr < 0.8), abs=1e-12)
    assert row["endpoint"] == "OS" and row["n_control"] + row["n_experimental"] == 156


def test_survival_numbers_equal_the_draws(real_fit, real_report, data):
    post = real_fit.posterior
    rates = rates_by_arm(post, post["log_hr"].values[..., None])
    row = real_report.raw.loc["OS ITT"]
    med = pe_median(rates)
    for i, key in enumerate(("control", "experimental")):
        assert row[f"median_{key}"] == pytest.approx(np.median(med[..., i]), rel=1e-8)
        assert row[f"median_{key}_upper"] == pytest.approx(np.quantile(med[..., i], 0.975),
                                                            rel=1e-8)
        for t in (6.0, 12.0):
            s = np.exp(-pe_cumhaz(rates[..., i, :], t))
            assert row[f"surv_{t:g}_{key}"] == pytest.approx(np.median(s), rel=1e-10)
            assert row[f"surv_{t:g}_{key}_lower"] == pytest.approx(np.quantile(s, 0.025), rel=1e-10)
    diff = med[..., 1] - med[..., 0]
    assert row["median_diff"] == pytest.approx(np.median(diff), rel=1e-8)
    # Default horizon: the shorter arm's last follow-up; RMST difference from closed form.
    tau = min(data.time[data.arm == 0].max(), data.time[data.arm == 1].max())
    assert row["rmst_horizon"] == tau
    rm = pe_rmst(rates, tau)
    d = rm[..., 1] - rm[..., 0]
    assert row["rmst_diff"] == pytest.approx(np.median(d), rel=1e-10)
    assert (row["rmst_diff_lower"], row["rmst_diff_upper"]) == pytest.approx(
        tuple(np.quantile(d, [0.025, 0.975])), rel=1e-10)
    assert not row["rmst_diff_extrapolated"]
    assert any("RMST horizon" in n and "shorter" in n for n in real_report.notes)


def test_cox_and_logrank_match_lifelines(real_report, data):
    row = real_report.raw.loc["OS ITT"]
    lr = logrank_test(data.time[data.arm == 1], data.time[data.arm == 0],
                      data.event[data.arm == 1], data.event[data.arm == 0])
    assert row["logrank_p"] == pytest.approx(lr.p_value, rel=1e-8)
    assert row["cox_lower"] < row["cox_hr"] < row["cox_upper"]


def test_convergence_and_checks_reported(real_fit, real_report):
    row = real_report.table.loc["OS ITT"]
    assert row["converged"] == real_fit.convergence.passed
    assert row["convergence"] == real_fit.convergence.headline
    for name in ("ppc", "loo", "prior_sensitivity"):
        assert row[f"check_{name}"] in ("passed", "FAILED")  # run, not skipped


# ---------------------------------------------------------------- rounding
def test_mcse_decimals_rule():
    assert [mcse_decimals(m) for m in (0.012, 0.3, 0.0999, 4.0, 25.0, 1e-9)] == [3, 2, 3, 1, 0, 6]
    assert mcse_decimals(0.0) == mcse_decimals(float("nan")) == MAX_DECIMALS


def test_numbers_rounded_to_their_mcse(real_report):
    raw, mcse, table = real_report.raw, real_report.mcse, real_report.table
    assert {"hr", "hr_mean", "hr_hdi_lower", "p_hr_lt_1", "median_diff", "rmst_diff_upper"} <= set(mcse)
    for col in mcse.columns:
        value, m = raw.at["OS ITT", col], mcse.at["OS ITT", col]
        assert table.at["OS ITT", col] == round(float(value), mcse_decimals(m)), col
    # 800 draws: the HR's MCSE is of order 0.005-0.02, so 3-4 decimals, never full precision.
    assert 0.001 < mcse.at["OS ITT", "hr"] < 0.05
    assert table.at["OS ITT", "hr"] != raw.at["OS ITT", "hr"]
    # The MCSE of a probability is that of the mean of its indicator.
    below = (real_report.analyses[0].hr_draws["HR"] < 1).astype(float)
    expected = az.mcse(xr.DataArray(below, dims=("chain", "draw")), method="mean")
    assert mcse.at["OS ITT", "p_hr_lt_1"] == pytest.approx(float(expected))


# ---------------------------------------------------------------- model kinds and marks
def test_extrapolation_marked(data):
    # Tiny hazards: every median lies beyond follow-up; milestone 40 > last follow-up (~30).
    slow = fake_fit(data, hazards=(0.002, 0.002, 0.002), hr=0.7)
    report = hazard_ratio_report({"slow": slow}, milestones=(6, 40), horizon=40, checks=False)
    row = report.table.loc["slow"]
    assert not row["surv_6_control_extrapolated"] and row["surv_40_control_extrapolated"]
    assert row["median_control_extrapolated"] and row["median_diff_extrapolated"]
    assert row["rmst_diff_extrapolated"]
    md = report.to_markdown()
    assert md.count("†") >= 5 and "† extrapolated" in md
    fast = hazard_ratio_report({"fast": fake_fit(data, hazards=(0.3, 0.3, 0.3))}, checks=False)
    marks = [c for c in fast.table if c.endswith("_extrapolated")]
    assert not fast.table.loc["fast", marks].any()
    assert "†" not in fast.to_markdown().split("## Notes")[0]


def test_piecewise_effect_has_no_single_hr(data):
    pw = fake_fit(data, hr=[0.5, 0.8, 1.2])
    report = hazard_ratio_report({"pw": pw}, checks=False)
    assert np.isnan(report.raw.loc["pw", "hr"])
    assert "no single HR" in report.table.loc["pw", "hr_definition"]
    periods = report.hr_periods
    draws = pw.posterior["hr_period"].transpose("chain", "draw", "period").values
    assert len(periods) == 3
    for k in range(3):
        assert periods.loc[k, "hr"] == round(np.median(draws[..., k]),
                                             mcse_decimals(report.hr_periods_mcse.loc[k, "hr"]))
    md = report.to_markdown()
    assert "HR per period" in md
    # P(HR < 1) is 1 in the first period (HR 0.5, jitter 0.1): shown as such, not 1.000000.
    assert periods.loc[0, "p_hr_lt_1"] == 1.0 and "| 1 (every draw) |" in md


def test_rpsft_survival_from_stage2_and_adjusted_hr(data):
    tree = fake_posterior(cuts=CUTS, hazards=(0.12, 0.09, 0.07), hr=0.6, chains=4, draws=500,
                          jitter=0.1, seed=2, arms=data.arms)
    post = tree["posterior"].to_dataset()
    # The stage-2 PEM's own arm effect, unlike the adjusted HR (0.6).
    noise = np.random.default_rng(3).normal(0.0, 0.05, post["log_hr"].shape)
    two_stage = post["log_hr"] * 0 + np.log(0.9) + noise
    post = post.assign(log_hr_two_stage=two_stage, hr_two_stage=np.exp(two_stage))
    tree = xr.DataTree.from_dict({"posterior": post,
                                  "constant_data": tree["constant_data"].to_dataset()})
    result = FitResult(idata=tree, spec=RPSFT(cuts=CUTS), priors={}, data=data,
                       sampler=SamplerConfig())
    report = hazard_ratio_report({"rpsft": result}, checks=True)
    row = report.raw.loc["rpsft"]
    assert row["hr"] == pytest.approx(np.median(post["hr"].values))
    rates = rates_by_arm(post, post["log_hr_two_stage"].values[..., None])
    assert row["median_experimental"] == pytest.approx(np.median(pe_median(rates)[..., 1]), rel=1e-8)
    assert "RPSFT-adjusted" in row["hr_definition"]
    for name in ("loo", "prior_sensitivity"):
        assert report.analyses[0].checks[name].status == "skipped"
        assert "randomization test" in report.analyses[0].checks[name].text
    assert any("rpsft: loo skipped" in n for n in report.notes)


def test_banner_when_any_fit_fails_convergence(data):
    good = fake_fit(data, jitter=0.1, draws=1000)  # independent draws: converged
    bad = fake_fit(data, jitter=0.1, draws=20)  # 80 draws: ESS < 400
    ok = hazard_ratio_report({"good": good}, checks=False)
    assert ok.banner is None and "FAILED the convergence" not in ok.to_markdown()
    report = hazard_ratio_report({"good": good, "bad": bad}, checks=False)
    assert report.unconverged == ["bad"]
    md = report.to_markdown()
    assert md.splitlines()[2].startswith("> **WARNING: 1 of 2 fit(s) FAILED")


# ---------------------------------------------------------------- exports
def test_csv_json_markdown_round_trip(real_report, tmp_path):
    [path] = real_report.to_csv(tmp_path / "r.csv")
    back = pd.read_csv(path, index_col="analysis")
    pd.testing.assert_frame_equal(back, real_report.table, check_dtype=False)
    payload = json.loads(real_report.to_json(tmp_path / "r.json").read_text())
    table = pd.DataFrame(payload["table"]).set_index("analysis")
    pd.testing.assert_frame_equal(table, real_report.table, check_dtype=False)
    assert payload["rounding"].startswith("Posterior summaries are rounded")
    md = real_report.to_markdown()
    rows = [line for line in md.splitlines() if line.startswith("| OS ITT |")]
    assert len(rows) == 3  # hazard ratio, survival, diagnostics
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    header = [c.strip() for c in md.splitlines()[md.splitlines().index("## Hazard ratio") + 2]
              .strip("|").split("|")]
    got = dict(zip(header, cells, strict=True))
    t = real_report.table.loc["OS ITT"]
    assert float(got["HR median"]) == t["hr"]
    assert [float(x) for x in got["95% ETI"].split(", ")] == [t["hr_lower"], t["hr_upper"]]


def test_piecewise_periods_csv(data, tmp_path):
    report = hazard_ratio_report({"pw": fake_fit(data, hr=[0.5, 0.8, 1.2])}, checks=False)
    main, periods = report.to_csv(tmp_path / "r.csv")
    assert periods.name == "r.hr_periods.csv"
    pd.testing.assert_frame_equal(pd.read_csv(periods), report.hr_periods, check_dtype=False)


def test_html_is_self_contained(real_report, tmp_path):
    text = real_report.to_html(tmp_path / "r.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", text, re.I)
    assert "<script" not in text.lower() and "<link" not in text.lower()
    srcs = re.findall(r'<img src="([^"]+)"', text)
    # forest + survival + HR + hazard + PPC
    assert len(srcs) == 5
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and b"http" not in png
    assert 'class="banner"' in text or "Every fit passed" in text


def test_every_figure_has_title_axis_labels_with_units_and_legend(data, real_report):
    # Through the public figure methods, which the HTML report also uses.
    pw = hazard_ratio_report({"pw": fake_fit(data, hr=[0.5, 0.8, 1.2])}, checks=False,
                             time_unit="weeks")
    figures = []
    for report in (real_report, pw):
        figures += [(report.plot_survival(), report.time_unit),
                    (report.plot_hr_posterior(), None),
                    (report.plot_hazards(), report.time_unit)]
    figures.append((pw.plot_forest(), None))
    for fig, unit in figures:
        for ax in fig.axes:
            assert ax.get_title(), fig
            assert ax.get_ylabel()
            assert ax.get_legend() is not None or fig.legends
        xlabels = [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
        assert xlabels and all("(" in x for x in xlabels)  # every x axis names its unit
        if unit is not None:
            assert any(f"({unit})" in x for x in xlabels)


def test_figure_methods_pick_the_analysis_by_label(data):
    two = hazard_ratio_report({"a": fake_fit(data), "b": fake_fit(data, hr=0.5)}, checks=False)
    assert two.plot_survival("b").axes[0].get_title().startswith("b:")
    forest = two.plot_forest().axes[0]
    assert [t.get_text() for t in forest.get_yticklabels()] == ["a", "b"]
    with pytest.raises(ValueError, match=r"holds 2 analyses: pass label=, one of \['a', 'b'\]"):
        two.plot_hazards()
    with pytest.raises(ValueError, match=r"no analysis 'c'.*valid labels: \['a', 'b'\]"):
        two.plot_hr_posterior("c")


def test_bad_input_is_refused(data, real_fit):
    with pytest.raises(TypeError, match="not a FitResult: \\['x'\\]"):
        hazard_ratio_report({"x": 1})
    with pytest.raises(ValueError, match="thresholds must be positive"):
        hazard_ratio_report(real_fit, thresholds=(0.0,), checks=False)
    with pytest.raises(ValueError, match="horizon must be a positive time"):
        hazard_ratio_report(real_fit, horizon=-1, checks=False)


def test_comparison_table_rounded_to_its_mcse(data):
    from pexsurv.diagnostics import hr_table
    from pexsurv.workflows.compare import ComparisonResult
    from pexsurv.workflows.report import round_hr_table

    results = {"ITT": fake_fit(data, draws=300), "mITT": fake_fit(data, hr=0.75, draws=300)}
    raw = hr_table(results, delta=0.8)
    raw.loc["IPE"] = raw.loc["ITT"]  # a frequentist row: no draws behind it
    shown = ComparisonResult(table=raw, results=results).rounded()
    assert shown.loc["ITT", "hr_median"] != raw.loc["ITT", "hr_median"]  # raw stays raw
    for label, fit_ in results.items():
        hr = fit_.posterior["hr"].values
        lo_q = 0.025
        expected = {
            "hr_median": (np.median(hr), float(az.mcse(xr.DataArray(hr, dims=("chain", "draw")),
                                                      method="median"))),
            "lower": (np.quantile(hr, lo_q), float(az.mcse(
                xr.DataArray(hr, dims=("chain", "draw")), method="quantile", prob=lo_q))),
            "p_hr_lt_0.8": ((hr < 0.8).mean(), float(az.mcse(
                xr.DataArray((hr < 0.8).astype(float), dims=("chain", "draw")), method="mean"))),
        }
        for col, (value, mcse) in expected.items():
            d = 1 - math.floor(math.log10(mcse))
            assert shown.loc[label, col] == round(float(value), d), (label, col)
    assert shown.loc["IPE", "hr_median"] == float(f"{raw.loc['IPE', 'hr_median']:.3g}")
    assert shown.loc["ITT", "diagnostics"] == raw.loc["ITT", "diagnostics"]
    assert round_hr_table(raw, {}).loc["ITT", "upper"] == float(f"{raw.loc['ITT', 'upper']:.3g}")
