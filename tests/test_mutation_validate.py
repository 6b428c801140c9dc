"""``pexsurv validate``'s own verdicts (pexsurv/workflows/validate.py) without a fit: every
check's numbers, thresholds (each at both sides of its bound), verdict and report text against
hand arithmetic, with stand-ins for the fits, simulations and references the checks call
(issue 18; record in benchmarks/mutation.md, section ``pexsurv/workflows/validate.py``).

The module is loaded from its file (``tests/isolated.py``); stand-ins replace the names the
loaded module looks up (``fit``, ``compile_spec``, ``simulation_based_calibration``,
``datasets``, ...), so each test runs in milliseconds. ``ml_pem`` and ``pem_trial`` run for
real, against a closed form, an independent profile likelihood and an inverse cumulative
hazard written here.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import re
import warnings
from datetime import datetime, timezone
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from isolated import load
from scipy import optimize, stats

V = load("pexsurv/workflows/validate.py")

LEVEL = V.Level("quick", sbc_sims=7, sbc_draws=40, sbc_thin=3, rpsft_sims=5, rpsft_psi_draws=4,
                coverage_trials=3, fit_draws=60)


class Clock:
    """Stands in for the ``time`` module: ``perf_counter`` returns the given values in turn."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def perf_counter(self) -> float:
        return self.values.pop(0)


def posterior(**arrays):
    """An ArviZ-like posterior: each array's first two axes are chain and draw."""
    return xr.Dataset({k: (("chain", "draw", *[f"{k}_dim_{i}" for i in range(np.ndim(v) - 2)]),
                           np.asarray(v, float)) for k, v in arrays.items()})


def result(passed=True, **arrays):
    return SimpleNamespace(posterior=posterior(**arrays), convergence=SimpleNamespace(passed=passed))


def above(x: float) -> float:
    return float(np.nextafter(x, np.inf))


def below(x: float) -> float:
    return float(np.nextafter(x, -np.inf))


def se_for_ratio(ratio: float) -> float:
    """A standard error ``se`` with ``1.0 / se == ratio`` exactly in floating point."""
    se = 1.0 / ratio
    for _ in range(10):
        if 1.0 / se == ratio:
            return se
        se = above(se) if 1.0 / se > ratio else below(se)
    raise AssertionError(ratio)


# ---------------------------------------------------------------------------- levels, checks
def test_levels_are_the_documented_sizes():
    assert dict(V.LEVELS) == {
        "quick": V.Level("quick", 30, 250, 5, 20, 9, 30, 1000),
        "full": V.Level("full", 200, 500, 5, 60, 29, 400, 2500)}
    assert [f.name for f in dataclasses.fields(V.Level)] == [
        "name", "sbc_sims", "sbc_draws", "sbc_thin", "rpsft_sims", "rpsft_psi_draws",
        "coverage_trials", "fit_draws"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        LEVEL.sbc_sims = 1


def test_a_check_defaults_to_no_time_and_no_values_and_is_frozen():
    c = V.ValidationCheck("n", "t", "r", "tol", "m", True)
    assert (c.seconds, type(c.seconds), c.values) == (0.0, float, {})
    assert c.verdict == "PASS" and dataclasses.replace(c, passed=False).verdict == "FAIL"
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.passed = False
    with pytest.raises(dataclasses.FrozenInstanceError):
        V.ValidationReport(LEVEL, 1, (), "", 0.0, {}).seed = 2


# ---------------------------------------------------------------------------- report
def check(name, passed, seconds=0.0, values=None, **text):
    return V.ValidationCheck(name=name, title=text.get("title", f"title {name}"),
                             reference=text.get("reference", f"ref {name}"),
                             tolerance=text.get("tolerance", f"tol {name}"),
                             measured=text.get("measured", f"measured {name}"), passed=passed,
                             seconds=seconds, values=values or {})


def report(*checks, level=V.LEVELS["quick"], seed=7):
    return V.ValidationReport(level=level, seed=seed, checks=checks, started="2026-11-30 18:00:00",
                              seconds=65.4, versions={"pexsurv": "9.9", "numpy": "2.1"})


PARTIAL = (check("sbc_ph", True, 12.345, title="a <b> & c", reference='"ref"'),
           check("cox", False, 2.56, tolerance="x | y", measured="line 1\nline 2 | z"),
           check("ml_pem", False, 0.04))
LEVEL_TEXT = ("sbc_sims = 30, sbc_draws = 250, sbc_thin = 5, rpsft_sims = 20, rpsft_psi_draws = 9, "
              "coverage_trials = 30, fit_draws = 1000")


def test_passed_and_failed_list_every_check():
    r = report(*PARTIAL)
    assert r.passed is False and r.failed == ["cox", "ml_pem"]
    ok = report(PARTIAL[0], check("x", True))
    assert ok.passed is True and ok.failed == []
    assert report().passed is True and report().failed == []
    assert report(check("a", False), check("b", True)).failed == ["a"]


def test_table_has_one_row_per_check():
    expected = pd.DataFrame({
        "check": ["sbc_ph", "cox", "ml_pem"], "verdict": ["PASS", "FAIL", "FAIL"],
        "title": ["a <b> & c", "title cox", "title ml_pem"],
        "reference": ['"ref"', "ref cox", "ref ml_pem"],
        "tolerance": ["tol sbc_ph", "x | y", "tol ml_pem"],
        "measured": ["measured sbc_ph", "line 1\nline 2 | z", "measured ml_pem"],
        "seconds": [12.3, 2.6, 0.0]}).set_index("check")
    pd.testing.assert_frame_equal(report(*PARTIAL).table(), expected)


def test_to_dict_and_json_carry_every_field():
    values = {"p": np.float64(0.5), 3: [np.int64(2), (np.bool_(False), float("nan"))]}
    r = report(check("a", True, 1.5, values), check("b", False))
    level = {"name": "quick", "sbc_sims": 30, "sbc_draws": 250, "sbc_thin": 5, "rpsft_sims": 20,
             "rpsft_psi_draws": 9, "coverage_trials": 30, "fit_draws": 1000}
    expected = {
        "pexsurv": V.__version__, "level": level, "seed": 7, "started": "2026-11-30 18:00:00",
        "seconds": 65.4, "passed": False, "failed": ["b"],
        "versions": {"pexsurv": "9.9", "numpy": "2.1"},
        "checks": [{"name": "a", "title": "title a", "reference": "ref a", "tolerance": "tol a",
                    "measured": "measured a", "passed": True, "seconds": 1.5,
                    "values": {"p": 0.5, "3": [2, [False, None]]}, "verdict": "PASS"},
                   {"name": "b", "title": "title b", "reference": "ref b", "tolerance": "tol b",
                    "measured": "measured b", "passed": False, "seconds": 0.0, "values": {},
                    "verdict": "FAIL"}]}
    assert r.to_dict() == expected
    assert r.to_json() == json.dumps(expected, indent=1)
    assert type(r.to_dict()["versions"]) is dict


def test_jsonable_converts_numpy_and_non_finite_values():
    out = V._jsonable({"a": np.float64(1.5), 2: [np.int64(3), (np.bool_(True), float("nan"))],
                       "inf": np.inf, "-inf": -math.inf, "s": "text", "b": True, "f": 0.25,
                       "i": 7, "n": None, "f32": np.float32(0.5)})
    assert out == {"a": 1.5, "2": [3, [True, None]], "inf": None, "-inf": None, "s": "text",
                   "b": True, "f": 0.25, "i": 7, "n": None, "f32": 0.5}
    assert [type(out[k]) for k in ("a", "b", "f", "i", "f32")] == [float, bool, float, int, float]
    assert type(out["2"][0]) is int and type(out["2"][1][0]) is bool
    assert V._jsonable(np.bool_(False)) is False and V._jsonable(np.int32(4)) == 4


def test_markdown_of_a_partial_run():
    expected = f"""# pexsurv {V.__version__} validation (quick)

- **verdict**: FAILED: cox, ml_pem (1 of 3 checks passed)
- **command**: pexsurv validate --quick --seed 7 --check sbc_ph --check cox --check ml_pem
- **started (UTC)**: 2026-11-30 18:00:00
- **wall time**: 65 s
- **versions**: pexsurv 9.9, numpy 2.1
- **level**: {LEVEL_TEXT}

| check | verdict | tolerance | measured | s |
|---|---|---|---|---|
| sbc_ph | **PASS** | tol sbc_ph | measured sbc_ph | 12 |
| cox | **FAIL** | x \\| y | line 1 line 2 \\| z | 3 |
| ml_pem | **FAIL** | tol ml_pem | measured ml_pem | 0 |

## sbc_ph: PASS

- what: a <b> & c
- reference: "ref"
- tolerance: tol sbc_ph
- measured: measured sbc_ph

## cox: FAIL

- what: title cox
- reference: ref cox
- tolerance: x | y
- measured: line 1 line 2 | z

## ml_pem: FAIL

- what: title ml_pem
- reference: ref ml_pem
- tolerance: tol ml_pem
- measured: measured ml_pem
"""
    assert report(*PARTIAL).to_markdown() == expected


def test_a_full_run_names_no_checks_in_its_command_and_says_all_passed():
    full = report(*(check(name, True, 1.0) for name in V.CHECKS), level=V.LEVELS["full"], seed=3)
    header = dict(full._header())
    assert header["verdict"] == "ALL PASSED (8 of 8 checks passed)"
    assert header["command"] == "pexsurv validate --full --seed 3"
    assert header["wall time"] == "65 s"
    assert header["level"] == ("sbc_sims = 200, sbc_draws = 500, sbc_thin = 5, rpsft_sims = 60, "
                               "rpsft_psi_draws = 29, coverage_trials = 400, fit_draws = 2500")
    assert [k for k, _ in full._header()] == ["verdict", "command", "started (UTC)", "wall time",
                                               "versions", "level"]
    # The same checks in another order are a different (explicit) selection.
    reordered = report(*(check(name, True) for name in reversed(list(V.CHECKS))))
    assert dict(reordered._header())["command"].endswith(
        " --check " + " --check ".join(reversed(list(V.CHECKS))))
    assert dict(report(check("cox", True))._header())["verdict"] == "ALL PASSED (1 of 1 checks passed)"
    # a selection that sorts after the full list, and one that is its start
    assert dict(report(check("sbc_rpsft", True))._header())["command"] == (
        "pexsurv validate --quick --seed 7 --check sbc_rpsft")
    assert dict(report(*(check(n, True) for n in list(V.CHECKS)[:7]))._header())["command"].endswith(
        "--check rpsftm_r")


def test_a_level_the_command_line_does_not_offer_is_reproduced_by_the_python_call():
    # LEVEL is named "quick" but is not pexsurv validate --quick's size.
    assert dict(report(*PARTIAL, level=LEVEL)._header())["command"] == (
        f"pexsurv.workflows.validate({LEVEL!r}, seed=7, checks=['sbc_ph', 'cox', 'ml_pem'])")
    every = report(*(check(name, True) for name in V.CHECKS), level=LEVEL, seed=2)
    assert dict(every._header())["command"] == f"pexsurv.workflows.validate({LEVEL!r}, seed=2)"
    assert repr(LEVEL).startswith("Level(name='quick', sbc_sims=7, ")
    # A level equal to one the command line offers (not the same object) is that level.
    same = dataclasses.replace(V.LEVELS["full"])
    assert same is not V.LEVELS["full"]
    assert dict(report(check("cox", True), level=same, seed=4)._header())["command"] == (
        "pexsurv validate --full --seed 4 --check cox")


def test_html_of_a_partial_run():
    expected = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>pexsurv validation (quick)</title><style>{V.STYLE}</style></head><body>"
        f"<h1>pexsurv {html.escape(V.__version__)} validation (quick)</h1>"
        '<div class="banner">Validation FAILED: cox, ml_pem</div><table>'
        "<tr><th>verdict</th><td>FAILED: cox, ml_pem (1 of 3 checks passed)</td></tr>"
        "<tr><th>command</th><td>pexsurv validate --quick --seed 7 --check sbc_ph --check cox "
        "--check ml_pem</td></tr>"
        "<tr><th>started (UTC)</th><td>2026-11-30 18:00:00</td></tr>"
        "<tr><th>wall time</th><td>65 s</td></tr>"
        "<tr><th>versions</th><td>pexsurv 9.9, numpy 2.1</td></tr>"
        f"<tr><th>level</th><td>{LEVEL_TEXT}</td></tr></table>"
        "<table><thead><tr><th>check</th><th>verdict</th><th>what</th><th>reference</th>"
        "<th>tolerance</th><th>measured</th><th>s</th></tr></thead><tbody>"
        '<tr><th>sbc_ph</th><td class="">PASS</td><td>a &lt;b&gt; &amp; c</td>'
        "<td>&quot;ref&quot;</td><td>tol sbc_ph</td><td>measured sbc_ph</td><td>12</td></tr>"
        '<tr><th>cox</th><td class="failed">FAIL</td><td>title cox</td><td>ref cox</td>'
        "<td>x | y</td><td>line 1\nline 2 | z</td><td>3</td></tr>"
        '<tr><th>ml_pem</th><td class="failed">FAIL</td><td>title ml_pem</td>'
        "<td>ref ml_pem</td><td>tol ml_pem</td><td>measured ml_pem</td><td>0</td></tr>"
        "</tbody></table></body></html>\n")
    assert report(*PARTIAL).to_html() == expected


def test_html_of_a_passed_run_has_the_ok_banner():
    page = report(PARTIAL[0]).to_html()
    assert '<div class="ok">All checks passed.</div><table>' in page
    assert "banner" not in page.split("<style>")[0] + page.split("</style>")[1]


def test_save_writes_the_three_reports(tmp_path):
    r = report(*PARTIAL)
    paths = r.save(str(tmp_path))
    assert paths == [tmp_path / "validate_quick.md", tmp_path / "validate_quick.json",
                     tmp_path / "validate_quick.html"]
    assert [p.read_text() for p in paths] == [r.to_markdown(), r.to_json(), r.to_html()]


def test_md_escapes_pipes_and_newlines():
    assert V._md("a|b\nc||d") == "a\\|b c\\|\\|d"


# ---------------------------------------------------------------------------- pem_trial
def inverse_cumulative_hazard(u, cuts, rates):
    """Event time with cumulative hazard ``u`` for piecewise-constant ``rates`` (written out)."""
    edges = [0.0, *cuts, math.inf]
    for k in range(len(rates)):
        width = edges[k + 1] - edges[k]
        if u <= rates[k] * width:
            return edges[k] + u / rates[k]
        u -= rates[k] * width
    raise AssertionError


@pytest.mark.parametrize("n, log_rates, log_hr", [
    (200, None, math.log(0.7)),
    (7, [-1.0, -2.0, -0.5], [0.4, -0.3, 0.9]),
])
def test_pem_trial_is_the_documented_simulation(n, log_rates, log_hr):
    seed = 11
    kwargs = {"n": n} if log_rates is None else {"n": n, "log_rates": log_rates, "log_hr": log_hr}
    data = V.pem_trial(seed, **kwargs)
    rng = np.random.default_rng(seed)
    arm = rng.permutation([0] * (n // 2) + [1] * (n - n // 2))
    u = rng.standard_exponential(n)
    censor = rng.uniform(4.0, 12.0, n)
    base = [0.3, 0.2, 0.1] if log_rates is None else np.exp(log_rates)
    effect = np.broadcast_to(log_hr, 3)
    t = np.array([inverse_cumulative_hazard(u[i], (2.0, 6.0),
                                            [base[k] * math.exp(arm[i] * effect[k]) for k in range(3)])
                  for i in range(n)])
    assert data.n == n and data.arms == ("control", "experimental")
    np.testing.assert_array_equal(data.arm, arm)
    np.testing.assert_allclose(data.time, np.minimum(t, censor), rtol=1e-12)
    np.testing.assert_array_equal(data.event, (t <= censor).astype(int))
    np.testing.assert_allclose(data.censor_time, censor, rtol=1e-15)
    assert list(data.id) == list(range(n)) or list(map(str, data.id)) == list(map(str, range(n)))


def test_pem_trial_defaults():
    a, b = V.pem_trial(3), V.pem_trial(3, n=200, log_rates=np.log([0.3, 0.2, 0.1]), log_hr=math.log(0.7))
    np.testing.assert_array_equal(a.time, b.time)
    assert (V._CUTS, V._HR, V._N) == ((2.0, 6.0), 0.7, 200)
    np.testing.assert_array_equal(V._RATES, [0.3, 0.2, 0.1])
    with pytest.raises(TypeError):  # the design is keyword-only
        V.pem_trial(3, 200)


def test_quiet_warnings_silences_convergence_warnings_only():
    with V._quiet_warnings():
        warnings.warn("not converged", V.ConvergenceWarning)
        with pytest.warns(UserWarning, match="other"):
            warnings.warn("other", UserWarning)
    with pytest.raises(V.ConvergenceWarning):  # restored afterwards (warnings are errors)
        warnings.warn("again", V.ConvergenceWarning)


# ---------------------------------------------------------------------------- paired coverage
def binom_two_sided(k: int, n: int, p: float) -> float:
    """Exact two-sided binomial p (outcomes no more likely than k), by brute force."""
    pmf = [math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(n + 1)]
    return min(1.0, sum(q for q in pmf if q <= pmf[k] * (1 + 1e-7)))


Z975 = stats.norm.ppf(0.975)


def test_paired_coverage_by_hand():
    # Truth 0; per trial: interval, centre, ML estimate and SE.
    lower = [-1.0, 0.0, 0.1, -0.5, -2.0, -0.2]  # 2: lower == truth covers; 3: misses
    upper = [1.0, 0.5, 0.9, 0.0, -0.1, 0.3]  # 4: upper == truth covers; 5: misses
    centre = [0.1, 0.2, 0.5, -0.2, -1.0, 0.0]
    est = [0.0, 0.5, 0.0, 3.0, 0.1, Z975 * 0.5]  # 4: ML misses; 6: on its bound, covers
    se = [1.0, 0.2, 0.5, 1.0, 2.0, 0.5]
    out = V.paired_coverage(lower, upper, centre, est, se, 0.0)
    hit = [True, True, False, True, False, True]
    ml_hit = [True, False, True, False, True, True]
    bayes_only, ml_only = 2, 2  # trials 2 and 4; trials 3 and 5
    shift = np.mean([(c - e) / s for c, e, s in zip(centre, est, se)])
    assert out == {"trials": 6, "covered": 4, "ml_covered": 4, "bayes_only": bayes_only,
                   "ml_only": ml_only, "binomial_p": pytest.approx(binom_two_sided(4, 6, 0.95)),
                   "mcnemar_p": pytest.approx(binom_two_sided(2, 4, 0.5)),
                   "shift": pytest.approx(shift, abs=1e-15), "passed_a": True,
                   "passed_b": True, "passed_c": False, "passed": False}
    assert sum(hit) == 4 and sum(ml_hit) == 4
    assert [type(out[k]) for k in ("trials", "covered", "ml_covered", "bayes_only", "ml_only")] == [int] * 5
    assert type(out["binomial_p"]) is float and type(out["mcnemar_p"]) is float


def test_paired_coverage_ml_bound_is_inclusive():
    se = np.array([1.0, 1.0])
    out = V.paired_coverage([-9, -9], [9, 9], [0, 0], [Z975, above(Z975)], se, 0.0)
    assert out["ml_covered"] == 1 and out["ml_only"] == 0 and out["bayes_only"] == 1
    # the truth enters both intervals: the same trials shifted by 5
    out = V.paired_coverage([-4, 5.5], [14, 6], [5, 5], [5 + 1.9, 5 + 2.5], se, 5.0)
    assert (out["covered"], out["ml_covered"], out["bayes_only"], out["ml_only"]) == (1, 1, 0, 0)


class FakeBinomtest:
    def __init__(self, *pvalues):
        self.pvalues, self.calls = list(pvalues), []

    def __call__(self, k, n, p):
        self.calls.append((k, n, p))
        return SimpleNamespace(pvalue=self.pvalues.pop(0))


def fake_stats(monkeypatch, *pvalues):
    fake = FakeBinomtest(*pvalues)
    monkeypatch.setattr(V, "stats", SimpleNamespace(norm=stats.norm, binomtest=fake))
    return fake


# 4 trials, truth 0: 3 covered by the interval, ML covers trials 1, 2, 4 (discordant: 2, 1).
FOUR = dict(lower=[-1, -1, 0.5, -1], upper=[1, 1, 1, 1], ml_estimate=[0, 5, 0, 0],
            ml_se=[1.0, 1.0, 2.0, 4.0], truth=0.0)


@pytest.mark.parametrize("binomial_p, mcnemar_p, passed_a, passed_b", [
    (0.01, 0.01, True, True), (below(0.01), 0.5, False, True), (0.5, below(0.01), True, False)])
def test_paired_coverage_p_value_bounds_are_inclusive(monkeypatch, binomial_p, mcnemar_p,
                                                      passed_a, passed_b):
    fake = fake_stats(monkeypatch, binomial_p, mcnemar_p)
    out = V.paired_coverage(centre=FOUR["ml_estimate"], **FOUR)
    assert fake.calls == [(3, 4, 0.95), (1, 2, 0.5)]
    assert (out["binomial_p"], out["mcnemar_p"]) == (binomial_p, mcnemar_p)
    assert (out["passed_a"], out["passed_b"], out["passed_c"]) == (passed_a, passed_b, True)
    assert out["passed"] is (passed_a and passed_b)


def test_paired_coverage_shift_bound_exactly(monkeypatch):
    fake_stats(monkeypatch, *[0.5] * 8)
    args = dict(lower=[-1.0] * 4, upper=[1.0] * 4, ml_estimate=[0.0] * 4, ml_se=[1.0] * 4, truth=0.0)
    for shift, passed in ((0.25, True), (-0.25, True), (above(0.25), False), (below(-0.25), False)):
        out = V.paired_coverage(centre=[shift] * 4, **args)
        assert abs(out["shift"]) > 0.25 or out["shift"] == shift
        assert out["passed_c"] is passed and out["passed"] is passed


def test_paired_coverage_without_discordant_trials_has_mcnemar_p_one(monkeypatch):
    fake = fake_stats(monkeypatch, 0.2)
    out = V.paired_coverage([-1, 1], [1, 2], [0, 0], [0, 5], [1, 1], 0.0)
    assert fake.calls == [(1, 2, 0.95)]
    assert (out["mcnemar_p"], out["bayes_only"], out["ml_only"], out["passed_b"]) == (1.0, 0, 0, True)


# ---------------------------------------------------------------------------- ML PEM
def profile_ml_pem(t, event, arm, cuts):
    """The PH PEM's MLE by its profile likelihood in the log HR (loops over subjects)."""
    edges = [0.0, *cuts, math.inf]
    k = len(edges) - 1
    d, e = np.zeros((2, k)), np.zeros((2, k))
    for ti, di, gi in zip(t, event, arm):
        for j in range(k):
            if ti > edges[j]:
                e[gi, j] += min(ti, edges[j + 1]) - edges[j]
            if di == 1 and edges[j] < ti <= edges[j + 1]:
                d[gi, j] += 1

    def loglik(theta):
        a, g = theta[:k], theta[k]
        return sum(d[z, j] * (a[j] + g * z) - math.exp(a[j] + g * z) * e[z, j]
                   for z in (0, 1) for j in range(k))

    def profile(g):  # the baseline maximised given g
        a = np.log(d.sum(axis=0) / (e[0] + math.exp(g) * e[1]))
        return -loglik(np.r_[a, g])

    g = optimize.minimize_scalar(profile, bracket=(-1.0, 1.0), tol=1e-12).x
    theta = np.r_[np.log(d.sum(axis=0) / (e[0] + math.exp(g) * e[1])), g]
    h = 1e-4  # numerical Hessian of the log likelihood
    hess = np.zeros((k + 1, k + 1))
    for i in range(k + 1):
        for j in range(k + 1):
            ei, ej = np.eye(k + 1)[i] * h, np.eye(k + 1)[j] * h
            hess[i, j] = (loglik(theta + ei + ej) - loglik(theta + ei - ej)
                          - loglik(theta - ei + ej) + loglik(theta - ei - ej)) / (4 * h * h)
    return theta, np.sqrt(np.diag(np.linalg.inv(-hess)))


def test_ml_pem_with_one_interval_is_events_over_exposure():
    t = np.array([0.5, 1.2, 2.0, 3.0, 0.7, 1.1, 4.0, 2.5, 0.2])
    event = np.array([1, 0, 1, 1, 1, 0, 1, 0, 1])
    arm = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
    fit = V.ml_pem(t, event, arm, [])
    d0, e0, d1, e1 = 3, 6.7, 3, 8.5
    assert fit["log_hr"] == pytest.approx(math.log((d1 / e1) / (d0 / e0)), abs=1e-8)
    assert fit["log_hazard_base"] == pytest.approx([math.log(d0 / e0)], abs=1e-8)
    assert fit["se_log_hr"] == pytest.approx(math.sqrt(1 / d0 + 1 / d1), rel=1e-6)
    assert fit["se_log_hazard_base"] == pytest.approx([math.sqrt(1 / d0)], rel=1e-6)
    assert list(fit) == ["log_hazard_base", "log_hr", "se_log_hazard_base", "se_log_hr"]


def test_ml_pem_matches_the_profile_likelihood_with_three_intervals():
    rng = np.random.default_rng(8)
    n = 160
    arm = np.repeat([0, 1], n // 2)
    t = rng.exponential(np.where(arm == 1, 3.0, 2.0)) + np.where(rng.random(n) < 0.1, 1.0, 0.0)
    t[:6] = [1.0, 2.5, 1.0, 2.5, 0.3, 4.0]  # events exactly at cuts belong to the interval ending there
    censor = rng.uniform(2.0, 6.0, n)
    event = (t <= censor).astype(float)
    time_ = np.minimum(t, censor)
    theta, se = profile_ml_pem(time_, event.astype(int), arm, [1.0, 2.5])
    fit = V.ml_pem(time_, event, arm, (1.0, 2.5))
    np.testing.assert_allclose(fit["log_hazard_base"], theta[:3], atol=1e-7)
    assert fit["log_hr"] == pytest.approx(theta[3], abs=1e-7)
    np.testing.assert_allclose(fit["se_log_hazard_base"], se[:3], rtol=1e-5)
    assert fit["se_log_hr"] == pytest.approx(se[3], rel=1e-5)


def test_ml_pem_with_a_whole_number_of_exposure_units():
    # 4 events in 1.0 unit of exposure, arms alike (the start of the search is log 4, not log 0)
    t = np.full(4, 0.25)
    fit = V.ml_pem(t, np.ones(4), np.array([0, 0, 1, 1]), [])
    assert fit["log_hazard_base"] == pytest.approx([math.log(4.0)], abs=1e-8)
    assert fit["log_hr"] == pytest.approx(0.0, abs=1e-8)


def test_ml_pem_refuses_an_interval_without_events():
    t = np.array([0.5, 0.7, 3.0, 4.0, 0.2, 3.5])
    event = np.array([1, 1, 1, 0, 1, 1])
    arm = np.array([0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match=re.escape(
            "no events in interval(s) [1]: their maximum-likelihood log hazard is -inf; use "
            "fewer cuts")):
        V.ml_pem(t, event, arm, [1.0, 2.0])
    with pytest.raises(ValueError, match=re.escape("no events in interval(s) [1, 2]:")):
        V.ml_pem(t, np.array([1, 1, 0, 0, 1, 0]), arm, [1.0, 2.0])


# ---------------------------------------------------------------------------- draws
def test_draws_stack_chains_then_draws():
    res = result(a=np.arange(12.0).reshape(2, 3, 2), b=[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(V._draws(res, "a"), np.arange(12.0).reshape(6, 2))
    np.testing.assert_array_equal(V._draws(res, "b"), [[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]])


def test_log_hr_interval_is_the_equal_tailed_95_percent_interval():
    draws = np.linspace(-1.0, 1.0, 401) + 0.3
    res = result(log_hr=draws.reshape(1, 401))
    lo, mid, hi = V._log_hr_interval(res)
    assert (lo, mid, hi) == pytest.approx((-0.65, 0.3, 1.25), abs=1e-12)
    assert [type(x) for x in (lo, mid, hi)] == [float] * 3


def test_identical_compares_every_variable_bit_for_bit():
    a = result(x=[[1.0, 2.0]], y=[[3.0, 4.0]])
    assert V._identical(a, result(x=[[1.0, 2.0]], y=[[3.0, 4.0]])) is True
    assert V._identical(a, result(x=[[1.0, 2.0]], y=[[3.0, above(4.0)]])) is False
    assert V._identical(a, result(x=[[above(1.0), 2.0]], y=[[3.0, 4.0]])) is False
    assert V._identical(result(x=[[1.0, 2.0]]), a) is False  # a variable more
    assert V._identical(a, result(x=[[1.0, 2.0]], y=[[3.0, 4.0]], z=[[0.0, 0.0]])) is False
    assert V._identical(result(x=[[1.0, 2.0]], y=[[3.0, 4.0]], z=[[0.0, 0.0]]), a) is False


def test_max_abs():
    assert V._max_abs([1.0, -2.0, 3.0], [1.5, 2.0, 3.0]) == 4.0
    assert type(V._max_abs([1], [0])) is float


# ---------------------------------------------------------------------------- SBC checks
class FakeSBC:
    def __init__(self, passed=True, table=None):
        self.calls, self.passed = [], passed
        self.table = table if table is not None else pd.DataFrame(
            {"chi2_p": [0.5, 0.00123, 0.2, 0.9], "in_band": [True, False, True, True]},
            index=pd.Index(["log_hazard_base[0]", "log_hr", "log_hazard_base[1]", "x"],
                           name="parameter"))

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        warnings.warn("a fit failed", V.ConvergenceWarning)  # quietened by the check
        return SimpleNamespace(table=self.table, alpha=0.05, n_failed=2, n_sims=30, max_rank=50,
                               passed=self.passed)


SBC_PRIORS = "priors: baseline Normal(log 0.2, 1) per interval, log HR Normal(0, 1)"


@pytest.mark.parametrize("name, effect, passed", [("sbc_ph", "ph", True),
                                                  ("sbc_piecewise", "piecewise", False)])
def test_sbc_check_runs_the_stated_calibration(monkeypatch, name, effect, passed):
    fake = FakeSBC(passed)
    monkeypatch.setattr(V, "simulation_based_calibration", fake)
    monkeypatch.setattr(V, "time", Clock(1.5, 4.0))
    c = V._sbc_check(name, effect, LEVEL, 4)
    [(args, kwargs)] = fake.calls
    spec, template, sims = args
    priors = {"log_hazard_base": V.IndependentNormal(mu=math.log(0.2), sigma=1.0),
              "log_hr": V.Normal(0.0, 1.0)}
    assert spec == V.PiecewiseExponential(cuts=(2.0, 6.0), effect=effect, priors=priors)
    np.testing.assert_array_equal(template.time, V.pem_trial(4).time)
    assert sims == 7
    assert kwargs == {"draws": 40, "thin": 3, "seed": 4,
                      "config": V.default_config(spec, tune=40), "progress": False}
    label = "PH" if effect == "ph" else "piecewise-effect"
    scale = ", log_hr_scale HalfNormal(0.5)" if effect == "piecewise" else ""
    assert c == V.ValidationCheck(
        name=name,
        title=f"simulation-based calibration of the {label} PEM (cuts 2, 6 months; 7 simulated "
              f"200-patient trials; {SBC_PRIORS}{scale})",
        reference="uniform ranks of prior-drawn truths among posterior draws (Talts et al. 2018)",
        tolerance="every parameter's chi-square p >= 0.05/4 (Bonferroni)",
        measured="smallest chi-square p 0.00123 (log_hr); ECDF in the 95% band for 3 of 4; 2 of "
                 "30 fits failed convergence thresholds (their ranks are kept: the verdict rests "
                 "on the ranks alone); ranks among 50 draws",
        passed=passed, seconds=2.5,
        values={"table": {"parameter": ["log_hazard_base[0]", "log_hr", "log_hazard_base[1]", "x"],
                          "chi2_p": [0.5, 0.00123, 0.2, 0.9],
                          "in_band": [True, False, True, True]},
                "n_failed_fits": 2, "max_rank": 50})
    assert type(c.values["n_failed_fits"]) is int


class FakeRpsftFits:
    """Stands in for simulate_rpsft, compile_spec and fit of the RPSFT calibration: trial j's
    fit puts ``rank[j]`` of its first M chain-0 draws below the truth (the other draws, and
    chain 1, all below it)."""

    def __init__(self, m, ranks):
        self.m, self.ranks, self.calls, self.truth = m, ranks, [], []

    def simulate(self, n, *, seed, psi):
        self.calls.append(("simulate", n, seed, psi))
        self.truth.append(psi)
        return SimpleNamespace(j=len(self.truth) - 1)

    def compile_spec(self, spec, trial, config):
        self.calls.append(("compile", spec, trial.j, config))
        return "compiled"

    def fit(self, spec, trial, *, compiled, sampler):
        self.calls.append(("fit", spec, trial.j, compiled, sampler))
        warnings.warn("short stage-2 fit", V.ConvergenceWarning)
        psi, r = self.truth[trial.j], self.ranks[trial.j]
        chain0 = [psi - 0.1] * r + [psi + 0.1] * (self.m - r) + [psi - 1.0] * 3
        return result(psi=[chain0, [psi - 1.0] * (self.m + 3)])


class FakeSBCResult:
    calls = []

    @classmethod
    def from_ranks(cls, ranks, *, max_rank, seed):
        cls.calls.append((ranks, max_rank, seed))
        return SimpleNamespace(alpha=0.01, passed=False, table=pd.DataFrame(
            {"chi2_p": [0.00456], "ks_p": [0.321], "mean_rank": [0.6789]}, index=["psi"]))


def test_sbc_rpsft_ranks_the_true_psi_among_the_m_carried_values(monkeypatch):
    fake = FakeRpsftFits(4, [0, 4, 2, 1, 3])
    monkeypatch.setattr(V, "simulate_rpsft", fake.simulate)
    monkeypatch.setattr(V, "compile_spec", fake.compile_spec)
    monkeypatch.setattr(V, "fit", fake.fit)
    monkeypatch.setattr(V, "SBCResult", FakeSBCResult)
    FakeSBCResult.calls = []
    monkeypatch.setattr(V, "time", Clock(1.0, 4.25))
    c = V._sbc_rpsft(LEVEL, 9)
    ss = np.random.SeedSequence([9, 7])
    truth = np.random.default_rng(np.random.SeedSequence([9, 7])).normal(-0.5, 0.3, 5)
    seeds = [int(s) for s in ss.generate_state(5)]
    spec = V.RPSFT(cuts=(1.0, 2.5), psi_prior=V.Normal(-0.5, 0.3), n_psi_draws=4)
    config = V.SamplerConfig(draws=50, tune=100, chains=2, progress=False)
    expected = []
    for j in range(5):
        expected += [("simulate", 400, seeds[j], truth[j])] + [("compile", spec, 0, config)] * (j == 0)
        expected.append(("fit", spec, j, "compiled", dataclasses.replace(config, seed=seeds[j])))
    assert fake.calls == expected
    assert [type(x) for x in fake.calls[0][2:4]] == [int, float]
    [(ranks, max_rank, seed)] = FakeSBCResult.calls
    pd.testing.assert_frame_equal(ranks, pd.DataFrame({"psi": [0, 4, 2, 1, 3]}))
    assert (max_rank, seed) == (4, 9)
    assert c == V.ValidationCheck(
        name="sbc_rpsft",
        title="calibration of the Bayesian RPSFT's psi (5 trials of 400 with exact RPSFT "
              "structure and prognosis-driven switching, psi ~ prior Normal(-0.5, 0.3); "
              "fit(RPSFT(cuts=(1, 2.5), n_psi_draws=4)))",
        reference="uniform rank of the true psi among the M psi values of stage 2",
        tolerance="chi-square p >= 0.01",
        measured="chi-square p 0.00456, KS p 0.321, mean rank 0.68 (0.5 when unbiased); ranks "
                 "in 0..4",
        passed=False, seconds=3.25,
        values={"ranks": [0, 4, 2, 1, 3], "truth": truth.tolist(), "chi2_p": 0.00456,
                "ks_p": 0.321})
    assert [type(r) for r in c.values["ranks"]] == [int] * 5


# ---------------------------------------------------------------------------- coverage check
class FakeCoverageFits:
    """pem_trial, compile_spec, fit and ml_pem of the coverage check: trial i's posterior
    is ``offset[i] + linspace(-1, 1, 401)`` (2.5%, 50%, 97.5%: offset -0.95, +0, +0.95);
    its ML estimate and SE are given."""

    def __init__(self, offsets, ml, converged):
        self.offsets, self.ml, self.converged, self.calls, self.i = offsets, ml, converged, [], 0

    def pem_trial(self, seed):
        self.calls.append(("trial", seed))
        return SimpleNamespace(seed=seed, time=f"time {seed}", event=f"event {seed}",
                               arm=f"arm {seed}")

    def compile_spec(self, spec, trial, config):
        self.calls.append(("compile", spec, trial.seed, config))
        return "compiled"

    def fit(self, spec, trial, *, compiled, sampler):
        self.calls.append(("fit", spec, trial.seed, compiled, sampler))
        warnings.warn("not converged", V.ConvergenceWarning)
        draws = self.offsets[self.i] + np.linspace(-1.0, 1.0, 401)
        return result(self.converged[self.i], log_hr=draws.reshape(1, -1))

    def ml_pem(self, time_, event, arm, cuts):
        self.calls.append(("ml", time_, event, arm, cuts))
        est, se = self.ml[self.i]
        self.i += 1
        return {"log_hr": est, "se_log_hr": se, "log_hazard_base": None}


def test_coverage_check_pairs_each_posterior_with_its_ml_fit(monkeypatch):
    fake = FakeCoverageFits([0.1, -0.4, 0.25], [(0.2, 0.3), (-0.5, 0.4), (0.0, 0.25)],
                            [True, False, True])
    for name in ("pem_trial", "compile_spec", "fit", "ml_pem"):
        monkeypatch.setattr(V, name, getattr(fake, name))
    seen = []
    out = {"trials": 3, "covered": 2, "ml_covered": 3, "bayes_only": 1, "ml_only": 2,
           "binomial_p": 0.01234, "mcnemar_p": 0.5678, "shift": -0.04321, "passed_a": False,
           "passed_b": True, "passed_c": False, "passed": False}
    monkeypatch.setattr(V, "paired_coverage", lambda *args: seen.append(args) or dict(out))
    monkeypatch.setattr(V, "time", Clock(2.0, 7.5))
    c = V._coverage_ph(LEVEL, 5)
    seeds = [int(s) for s in np.random.SeedSequence([5, 11]).generate_state(3)]
    spec = V.PiecewiseExponential(cuts=(2.0, 6.0))
    config = V.SamplerConfig(draws=500, tune=500, progress=False)
    expected = [("trial", seeds[0]), ("compile", spec, seeds[0], config)]
    for s in seeds:
        expected += [("trial", s), ("fit", spec, s, "compiled", dataclasses.replace(config, seed=s)),
                     ("ml", f"time {s}", f"event {s}", f"arm {s}", (2.0, 6.0))]
    assert fake.calls == expected
    [(lower, upper, median, est, se, truth)] = seen
    np.testing.assert_allclose(lower, [0.1 - 0.95, -0.4 - 0.95, 0.25 - 0.95], atol=1e-12)
    np.testing.assert_allclose(median, [0.1, -0.4, 0.25], atol=1e-12)
    np.testing.assert_allclose(upper, [0.1 + 0.95, -0.4 + 0.95, 0.25 + 0.95], atol=1e-12)
    np.testing.assert_array_equal(est, [0.2, -0.5, 0.0])
    np.testing.assert_array_equal(se, [0.3, 0.4, 0.25])
    assert truth == math.log(0.7)
    assert c == V.ValidationCheck(
        name="coverage_ph",
        title="coverage of the PH PEM's 95% equal-tailed HR interval over 3 trials simulated "
              "from one truth (HR 0.7, baseline 0.3, 0.2, 0.1 per month, 200 patients), default "
              "priors, alone and paired with the maximum-likelihood Wald interval of the same "
              "trials",
        reference="the true HR 0.7; the ML PEM (ml_pem, same cuts) on each trial",
        tolerance="all of (a) coverage consistent with 95%: exact two-sided binomial p >= 0.01; "
                  "(b) no more misses than the ML Wald interval on the same trials: exact "
                  "McNemar p >= 0.01; (c) mean |posterior median - ML log HR| <= 0.25 ML SE "
                  "(rule set after the failed 200-trial run of 2026-11-30, see "
                  "validation/README.md)",
        measured=f"(a) covered 2 of 3 (66.7%), binomial p 0.0123 [fails]; (b) ML Wald covered 3 "
                 f"of 3; discordant: 2 missed by the posterior only, 1 by ML only, McNemar p "
                 f"0.568 [ok]; (c) mean shift -0.043 ML SE [fails]; median posterior median HR "
                 f"{math.exp(0.1):.3f}; 2 of 3 converged",
        passed=False, seconds=5.5, values={**out, "converged": 2})
    assert (V._ALPHA, V._MAX_SHIFT) == (0.01, 0.25)


def test_coverage_check_passes_when_the_rule_passes(monkeypatch):
    fake = FakeCoverageFits([0.0, 0.0], [(0.0, 0.3)] * 2, [True, True])
    for name in ("pem_trial", "compile_spec", "fit", "ml_pem"):
        monkeypatch.setattr(V, name, getattr(fake, name))
    out = {"trials": 2, "covered": 2, "ml_covered": 2, "bayes_only": 0, "ml_only": 0,
           "binomial_p": 1.0, "mcnemar_p": 1.0, "shift": 0.0, "passed_a": True,
           "passed_b": False, "passed_c": False, "passed": True}
    monkeypatch.setattr(V, "paired_coverage", lambda *args: dict(out))
    c = V._coverage_ph(dataclasses.replace(LEVEL, coverage_trials=2), 5)
    assert c.passed is True
    assert "[ok]; (b) ML Wald" in c.measured and "[fails]; (c)" in c.measured
    assert c.measured.endswith("ML SE [fails]; median posterior median HR 1.000; 2 of 2 converged")


# ---------------------------------------------------------------------------- ML PEM check
class FakeReferenceFits:
    """``datasets``, ``equal_events``, ``fit`` (and ``cox_hr``) of the ML and Cox checks."""

    def __init__(self, results, cuts=(1.0, 2.0, 3.0)):
        self.results, self.cuts, self.calls = list(results), cuts, []
        self.datasets = SimpleNamespace(ct041_like=self.ct041_like)

    def ct041_like(self, endpoint):
        self.calls.append(("data", endpoint))
        return SimpleNamespace(endpoint=endpoint, time=f"time {endpoint}", event=f"event {endpoint}",
                               arm=f"arm {endpoint}")

    def equal_events(self, data, *, k):
        self.calls.append(("cuts", data.endpoint, k))
        return list(self.cuts)

    def fit(self, spec, data, **kwargs):
        self.calls.append(("fit", spec, data.endpoint, kwargs))
        warnings.warn("not converged", V.ConvergenceWarning)
        return self.results.pop(0)

    def patch(self, monkeypatch):
        for name in ("datasets", "equal_events", "fit"):
            monkeypatch.setattr(V, name, getattr(self, name))


def ml_check(monkeypatch, hr_shift=0.0, centres=(2.0, 3.0, 0.0, 0.0), sds=(1.0, 1.0, 1.1, 0.9),
             converged=True, mles=(2.1, 3.0, 0.2, 0.0), ses=(1.0, 1.0, 1.0, 1.0)):
    """The ML check on draws ``centre + sd * (-1, 0, 1)`` per interval (median the centre,
    sd ``sd`` exactly) and -1, 0, 1 for the log HR, whose MLE is ``hr_shift``; SE 1 for the
    log HR, ``ses`` for the intervals."""
    base = np.array([[[c - s, c, c + s] for c, s in zip(centres, sds)]]).transpose(0, 2, 1)
    fake = FakeReferenceFits([result(converged, log_hr=[[-1.0, 0.0, 1.0]], log_hazard_base=base)])
    fake.patch(monkeypatch)
    ml = {"log_hr": np.float64(hr_shift), "se_log_hr": np.float64(1.0),
          "log_hazard_base": np.array(mles), "se_log_hazard_base": np.array(ses)}
    seen = []
    monkeypatch.setattr(V, "ml_pem", lambda *args: seen.append(args) or ml)
    monkeypatch.setattr(V, "time", Clock(3.0, 9.5))
    return V._ml_pem(LEVEL, 6), fake, seen


def test_ml_check_compares_every_parameter(monkeypatch):
    c, fake, seen = ml_check(monkeypatch, hr_shift=0.25, ses=(1.0, 0.95, 1.0, 1.0))
    spec = V.PiecewiseExponential(cuts=(1.0, 2.0, 3.0), priors="vague")
    assert fake.calls == [("data", "os"), ("cuts", "os", 4),
                          ("fit", spec, "os", {"seed": 6, "draws": 60, "tune": 60, "progress": False})]
    assert seen == [("time os", "event os", "arm os", (1.0, 2.0, 3.0))]
    table = {"parameter": ["log_hr", "log_hazard_base[0]", "log_hazard_base[1]",
                           "log_hazard_base[2]", "log_hazard_base[3]"],
             "median": [0.0, 2.0, 3.0, 0.0, 0.0], "mle": [0.25, 2.1, 3.0, 0.2, 0.0],
             "shift_sd": [0.25, 0.1, 0.0, 0.2 / 1.1, 0.0], "sd_ratio": [1.0, 1.0, 1 / 0.95, 1.1, 0.9]}
    got = c.values["table"]
    assert list(got) == list(table) and got["parameter"] == table["parameter"]
    for key in ("median", "mle", "shift_sd", "sd_ratio"):
        np.testing.assert_allclose(got[key], table[key], rtol=1e-12, atol=1e-15)
    assert got["shift_sd"][0] == 0.25 and got["sd_ratio"][3:] == [1.1, 0.9]
    assert c == V.ValidationCheck(
        name="ml_pem",
        title="PH PEM with priors='vague' on the packaged CT041-like OS data (ITT, 4 "
              "equal-event intervals, 4 x 60 draws)",
        reference="maximum-likelihood PEM written from scratch (numpy + scipy BFGS, analytic "
                  "Hessian)",
        tolerance="every parameter: |posterior median - MLE| <= 0.25 posterior sd (a log rate's "
                  "posterior median sits ~1/(3 sqrt d) sd below its mode, 0.07 sd for d = 20 "
                  "events per interval, plus up to 3 Monte Carlo SEs of the median, 0.12 sd at "
                  "an ESS of 1000); posterior sd / ML standard error in [0.9, 1.1]; the fit "
                  "converged",
        measured="largest shift 0.250 sd (log_hr); sd ratios 0.900-1.100; converged: True",
        passed=True, seconds=6.5, values={"table": got})


@pytest.mark.parametrize("hr_shift, sds, converged, passed", [
    (-0.25, (1.0, 1.0, 1.1, 0.9), True, True),
    (above(0.25), (1.0, 1.0, 1.0, 1.0), True, False),
    (below(-0.25), (1.0, 1.0, 1.0, 1.0), True, False),
    (0.0, (1.0, 1.0, 1.0, below(0.9)), True, False),
    (0.0, (1.0, 1.0, above(1.1), 1.0), True, False),
    (0.0, (1.0, 1.0, 1.0, 1.0), False, False)])
def test_ml_check_bounds_are_inclusive(monkeypatch, hr_shift, sds, converged, passed):
    c, _, _ = ml_check(monkeypatch, hr_shift=hr_shift, sds=sds, converged=converged,
                       mles=(2.0, 3.0, 0.0, 0.0))
    assert c.passed is passed
    assert c.measured.endswith(f"converged: {converged}")


def test_ml_check_names_the_largest_shift(monkeypatch):
    base = np.array([2.0, 3.0])[None, None, :] + np.array([-1.0, 0.0, 1.0])[None, :, None]
    fake = FakeReferenceFits([result(True, log_hr=[[-1.0, 0.0, 1.0]], log_hazard_base=base)],
                             cuts=(1.5,))
    fake.patch(monkeypatch)
    ml = {"log_hr": 0.1, "se_log_hr": 1.0, "log_hazard_base": np.array([2.0, 2.8]),
          "se_log_hazard_base": np.array([1.0, 1.0])}
    monkeypatch.setattr(V, "ml_pem", lambda *args: ml)
    c = V._ml_pem(LEVEL, 6)
    assert c.measured == "largest shift 0.200 sd (log_hazard_base[1]); sd ratios 1.000-1.000; converged: True"
    assert c.passed is True


# ---------------------------------------------------------------------------- Cox check
def cox_check(monkeypatch, os, pfs):
    """Each endpoint: (log HR draws' offset, Cox log HR, Cox SE, converged); draws -1, 0, 1
    plus the offset (median the offset, sd 1)."""
    fits = [result(conv, log_hr=[[off - 1.0, off, off + 1.0]]) for off, _, _, conv in (os, pfs)]
    fake = FakeReferenceFits(fits, cuts=(0.5, 1.0))
    fake.patch(monkeypatch)
    cox = {"time os": os[1:3], "time pfs": pfs[1:3]}
    seen = []

    def cox_hr(time_, event, arm):
        seen.append((time_, event, arm))
        return SimpleNamespace(log_hr=cox[time_][0], se=cox[time_][1])

    monkeypatch.setattr(V, "cox_hr", cox_hr)
    monkeypatch.setattr(V, "time", Clock(1.0, 43.0))
    return V._cox(LEVEL, 8), fake, seen


def test_cox_check_compares_both_endpoints(monkeypatch):
    c, fake, seen = cox_check(monkeypatch, (0.5, 0.25, 1.0, True), (-1.0, -1.25, se_for_ratio(0.85), True))
    spec = V.PiecewiseExponential(cuts=(0.5, 1.0), priors="vague")
    settings = {"seed": 8, "draws": 60, "tune": 60, "progress": False}
    assert fake.calls == [("data", "os"), ("cuts", "os", 8), ("fit", spec, "os", settings),
                          ("data", "pfs"), ("cuts", "pfs", 8), ("fit", spec, "pfs", settings)]
    assert seen == [("time os", "event os", "arm os"), ("time pfs", "event pfs", "arm pfs")]
    table = c.values["table"]
    assert table["endpoint"] == ["OS", "PFS"] and table["median"] == [0.5, -1.0]
    assert table["cox"] == [0.25, -1.25] and table["shift_se"][0] == 0.25
    assert table["shift_se"][1] == pytest.approx(0.25 * 0.85, abs=1e-15)
    assert table["sd_ratio"] == [1.0, 0.85]
    assert list(table) == ["endpoint", "median", "cox", "shift_se", "sd_ratio"]
    assert c == V.ValidationCheck(
        name="cox",
        title="log HR of the PH PEM (8 equal-event intervals, priors='vague') on the packaged "
              "CT041-like OS and PFS data (ITT)",
        reference="lifelines CoxPHFitter (Efron ties), via pexsurv.cox.cox_hr",
        tolerance="|posterior median - Cox log HR| <= 0.25 Cox SE and posterior sd / Cox SE in "
                  "[0.85, 1.15] for each endpoint (a partition of 8 intervals approximates "
                  "Cox's free baseline; both estimate one log HR); converged",
        measured="OS: median 0.5000 vs Cox 0.2500 (0.250 SE), sd ratio 1.000; PFS: median "
                 "-1.0000 vs Cox -1.2500 (0.212 SE), sd ratio 0.850; converged: True",
        passed=True, seconds=42.0, values={"table": table})


@pytest.mark.parametrize("os, pfs, passed", [
    ((0.0, -0.25, 1.0, True), (0.0, 0.0, se_for_ratio(1.15), True), True),
    ((0.0, below(-0.25), 1.0, True), (0.0, 0.0, 1.0, True), False),
    ((0.0, 0.0, 1.0, True), (0.0, above(0.25), 1.0, True), False),
    ((0.0, 0.0, se_for_ratio(below(0.85)), True), (0.0, 0.0, 1.0, True), False),
    ((0.0, 0.0, 1.0, True), (0.0, 0.0, se_for_ratio(above(1.15)), True), False),
    ((0.0, 0.0, 1.0, False), (0.0, 0.0, 1.0, True), False),
    ((0.0, 0.0, 1.0, True), (0.0, 0.0, 1.0, False), False)])
def test_cox_check_bounds_are_inclusive(monkeypatch, os, pfs, passed):
    c, _, _ = cox_check(monkeypatch, os, pfs)
    assert c.passed is passed
    assert c.measured.endswith(f"converged: {os[3] and pfs[3]}")


# ---------------------------------------------------------------------------- R rpsftm check
TOLERANCES = {"psi, CI vs R sign changes": 1e-4, "psi, CI vs R printed": 2e-3,
              "no recensoring: psi, CI vs R sign changes": 1e-4, "Z(psi) table": 1e-6,
              "ITT Cox": 2e-6, "adjusted Cox at R's psi": 2e-6,
              "Bayesian stage 1 (flat prior): median vs R psi": 0.01,
              "Bayesian stage 1: 95% interval vs R CI": 0.02}
COX_KEYS = ("hr", "lower", "upper", "log_hr", "se")


class FakeR:
    """The R check's inputs: every difference made equal to ``d[key]``, R's numbers ``base``
    (and the package's ``base`` + difference), each package number on a different component
    so a wrong index shows; R's printed psi (and the package's) ``base - d[median]``, so that
    the Bayesian median ``base`` is that difference away from it alone."""

    def __init__(self, d, base=0.0):
        self.d, self.b, self.calls, self.grid = d, base, [], None
        b = base
        self.psi = b - d["Bayesian stage 1 (flat prior): median vs R psi"]
        self.ref = {"psi": {"a": {"sign_change": [self.psi, b, b],
                                  "printed": [self.psi, b, b - d["psi, CI vs R printed"]]},
                            "b2": {"sign_change": [b, b, b]}},
                    "z_table_a": {"-0.5": b, "0.25": b},
                    "cox_itt": dict.fromkeys(COX_KEYS, b),
                    "cox_adjusted_a": dict.fromkeys(COX_KEYS, b)}
        self.datasets = SimpleNamespace(rpsftm_reference=self.reference, immdef=self.immdef)
        fake = self

        class RPSFT:
            def __init__(self, **kwargs):
                fake.calls.append(("RPSFT", kwargs))

            def psi_grid(self, data):
                fake.calls.append(("grid", data))
                # cdf 1/40, 20/40, 39/40, 1: the quantiles are the first three psi values
                if fake.grid is not None:
                    return fake.grid
                return pd.DataFrame({"psi": [b + d["Bayesian stage 1: 95% interval vs R CI"], b,
                                             b - d["psi, CI vs R printed"], 9.0],
                                     "density": [1.0, 19.0, 19.0, 1.0]})

        self.RPSFT = RPSFT

    def reference(self):
        self.calls.append("reference")
        return self.ref

    def immdef(self):
        self.calls.append("immdef")
        return "immdef"

    def rpsftm_gestimate(self, data, **kwargs):
        self.calls.append(("gestimate", data, kwargs))
        d, b = self.d, self.b
        if kwargs:
            return SimpleNamespace(psi=b, ci=(b, b + d["no recensoring: psi, CI vs R sign changes"]))
        return SimpleNamespace(psi=self.psi, ci=(b + d["psi, CI vs R sign changes"], b),
                               hr_itt={**dict.fromkeys(COX_KEYS, b), "upper": b + d["ITT Cox"]})

    def z_on_grid(self, data, psis):
        self.calls.append(("z", data, psis))
        return pd.Series([self.b, self.b + self.d["Z(psi) table"]], index=psis)

    def adjusted_hr(self, data, psi):
        self.calls.append(("adjusted", data, psi))
        return {**dict.fromkeys(COX_KEYS, self.b), "se": self.b - self.d["adjusted Cox at R's psi"]}

    def patch(self, monkeypatch):
        for name in ("datasets", "rpsftm_gestimate", "z_on_grid", "adjusted_hr", "RPSFT"):
            monkeypatch.setattr(V, name, getattr(self, name))


R_TOLERANCE = (
    "psi, CI vs R sign changes <= 0.0001; psi, CI vs R printed <= 0.002; no recensoring: psi, "
    "CI vs R sign changes <= 0.0001; Z(psi) table <= 1e-06; ITT Cox <= 2e-06; adjusted Cox at "
    "R's psi <= 2e-06; Bayesian stage 1 (flat prior): median vs R psi <= 0.01; Bayesian stage "
    "1: 95% interval vs R CI <= 0.02 (max absolute difference; R's roots are exact to ~3e-4, "
    "the sign changes to 1e-12; the quasi-posterior is not a test inversion, hence 0.01-0.02)")


def test_r_check_at_every_tolerance_passes(monkeypatch):
    fake = FakeR(TOLERANCES)
    fake.patch(monkeypatch)
    monkeypatch.setattr(V, "time", Clock(0.5, 5.75))
    c = V._rpsftm_r(LEVEL, 3)
    assert fake.calls == ["reference", "immdef", ("gestimate", "immdef", {}),
                          ("gestimate", "immdef", {"recensor": False}),
                          ("z", "immdef", [-0.5, 0.25]), ("adjusted", "immdef", -0.01),
                          ("RPSFT", {"cuts": (1.0,), "psi_prior": V.Uniform(-2.0, 2.0),
                                     "grid_size": 20001}), ("grid", "immdef")]
    assert c == V.ValidationCheck(
        name="rpsftm_r",
        title="RPSFT on rpsftm's immdef: g-estimation (with and without recensoring), Z(psi), "
              "ITT and adjusted Cox HRs, and the Bayesian RPSFT's psi posterior (stage 1, flat "
              "prior)",
        reference="R 4.2.2, rpsftm 1.2.9, survival 3.5-3 (packaged: "
                  "pexsurv/datasets/rpsftm_reference.json, immdef.md)",
        tolerance=R_TOLERANCE,
        measured="psi, CI vs R sign changes: 0.0001; psi, CI vs R printed: 0.002; no "
                 "recensoring: psi, CI vs R sign changes: 0.0001; Z(psi) table: 1e-06; ITT Cox: "
                 "2e-06; adjusted Cox at R's psi: 2e-06; Bayesian stage 1 (flat prior): median "
                 "vs R psi: 0.01; Bayesian stage 1: 95% interval vs R CI: 0.02",
        passed=True, seconds=5.25, values={"differences": TOLERANCES, "tolerances": TOLERANCES})
    assert list(c.values["differences"]) == list(TOLERANCES)


@pytest.mark.parametrize("key", list(TOLERANCES))
def test_r_check_beyond_one_tolerance_fails_it_alone(monkeypatch, key):
    d = {**TOLERANCES, key: above(TOLERANCES[key])}
    FakeR(d).patch(monkeypatch)
    c = V._rpsftm_r(LEVEL, 3)
    assert c.passed is False
    assert c.values["differences"] == d
    assert [part.endswith(" (FAIL)") for part in c.measured.split("; ")] == [
        k == key for k in TOLERANCES]


def test_r_check_differences_do_not_depend_on_a_common_offset(monkeypatch):
    half = {k: v / 2 for k, v in TOLERANCES.items()}
    fake = FakeR(half, base=0.75)
    fake.patch(monkeypatch)
    c = V._rpsftm_r(LEVEL, 3)
    assert fake.calls[5] == ("adjusted", "immdef", 0.745)
    assert c.values["differences"] == pytest.approx(half, rel=1e-9)
    assert c.passed is True


# ---------------------------------------------------------------------------- reproducibility
class FakeRepro:
    """The fits of the reproducibility check, in call order: first, again, reused, r1, r2;
    ``differ`` names the fits whose draws differ from the first of their pair."""

    def __init__(self, differ=()):
        self.differ, self.calls, self.n = set(differ), [], 0
        self.datasets = SimpleNamespace(ct041_like=self.ct041_like)

    def ct041_like(self, endpoint):
        self.calls.append(("data", endpoint))
        return "os data"

    def pem_trial(self, seed):
        self.calls.append(("trial", seed))
        return "other trial"

    def equal_events(self, data, *, k):
        self.calls.append(("cuts", data, k))
        return [1.0, 2.0]

    def clear_compile_cache(self):
        self.calls.append("clear")

    def compile_spec(self, spec, data, config):
        self.calls.append(("compile", spec, data, config))
        return "compiled for other"

    def fit(self, spec, data, *, sampler, compiled=None):
        self.calls.append(("fit", spec, data, sampler, compiled))
        warnings.warn("short fit", V.ConvergenceWarning)
        name = ["first", "again", "reused", "r1", "r2"][self.n]
        self.n += 1
        x = 2.0 if name in self.differ else 1.0
        return result(a=[[1.0, 1.0]], b=[[0.5, x]])

    def patch(self, monkeypatch):
        for name in ("datasets", "pem_trial", "equal_events", "clear_compile_cache",
                     "compile_spec", "fit"):
            monkeypatch.setattr(V, name, getattr(self, name))


def test_reproducibility_check_repeats_each_fit_with_one_seed(monkeypatch):
    fake = FakeRepro()
    fake.patch(monkeypatch)
    monkeypatch.setattr(V, "time", Clock(0.5, 4.0))
    c = V._reproducibility(LEVEL, 12)
    spec = V.PiecewiseExponential(cuts=(1.0, 2.0))
    config = V.SamplerConfig(draws=200, tune=200, seed=12, progress=False)
    rpsft = V.RPSFT(cuts=(1.0, 2.0), n_psi_draws=5)
    small = V.SamplerConfig(draws=50, tune=50, chains=2, seed=12, progress=False)
    assert fake.calls == [("data", "os"), ("trial", 12), ("cuts", "os data", 3), "clear",
                          ("fit", spec, "os data", config, None),
                          ("fit", spec, "os data", config, None), "clear",
                          ("compile", spec, "other trial", config),
                          ("fit", spec, "os data", config, "compiled for other"),
                          ("fit", rpsft, "os data", small, None),
                          ("fit", rpsft, "os data", small, None)]
    same = {"PEM, same seed (shared compilation)": True,
            "PEM on a model compiled for another trial": True, "RPSFT, same seed": True}
    assert c == V.ValidationCheck(
        name="reproducibility",
        title="fits repeated with one seed (PEM on the packaged OS data, fresh and on the "
              "process's shared compilation; the same fit on a model compiled for another "
              "trial's data; Bayesian RPSFT)",
        reference="the first fit's draws",
        tolerance="every posterior draw identical (bit for bit)",
        measured="PEM, same seed (shared compilation): identical; PEM on a model compiled for "
                 "another trial: identical; RPSFT, same seed: identical",
        passed=True, seconds=3.5, values=same)


@pytest.mark.parametrize("differ, verdicts", [
    ({"again"}, ("DIFFERENT", "identical", "identical")),
    ({"reused"}, ("identical", "DIFFERENT", "identical")),
    ({"r2"}, ("identical", "identical", "DIFFERENT")),
    ({"first"}, ("DIFFERENT", "DIFFERENT", "identical")),
    ({"r1"}, ("identical", "identical", "DIFFERENT"))])
def test_reproducibility_check_names_the_fit_that_differs(monkeypatch, differ, verdicts):
    FakeRepro(differ).patch(monkeypatch)
    c = V._reproducibility(LEVEL, 12)
    assert c.measured == ("PEM, same seed (shared compilation): {}; PEM on a model compiled for "
                          "another trial: {}; RPSFT, same seed: {}").format(*verdicts)
    assert c.passed is False
    assert list(c.values.values()) == [v == "identical" for v in verdicts]


# ---------------------------------------------------------------------------- run
def test_checks_run_in_the_documented_order_with_their_names(monkeypatch):
    assert list(V.CHECKS) == ["sbc_ph", "sbc_piecewise", "sbc_rpsft", "coverage_ph", "ml_pem",
                              "cox", "rpsftm_r", "reproducibility"]
    assert [V.CHECKS[k] for k in list(V.CHECKS)[2:]] == [
        V._sbc_rpsft, V._coverage_ph, V._ml_pem, V._cox, V._rpsftm_r, V._reproducibility]
    seen = []
    monkeypatch.setattr(V, "_sbc_check", lambda *args: seen.append(args) or "done")
    assert V.CHECKS["sbc_ph"](LEVEL, 3) == "done"
    assert V.CHECKS["sbc_piecewise"](V.LEVELS["full"], 4) == "done"
    assert seen == [("sbc_ph", "ph", LEVEL, 3), ("sbc_piecewise", "piecewise", V.LEVELS["full"], 4)]


class FakeChecks(dict):
    """Three checks that record their (level, seed)."""

    def __init__(self):
        self.calls = []
        super().__init__((name, self.make(name, passed, seconds)) for name, passed, seconds in
                         (("one", True, 2.4), ("two", False, 0.6), ("three", True, 10.5)))

    def make(self, name, passed, seconds):
        def run(level, seed):
            self.calls.append((name, level, seed))
            return check(name, passed, seconds, measured=f"{name} measured")
        return run


@pytest.fixture
def fake_run(monkeypatch):
    checks = FakeChecks()
    monkeypatch.setattr(V, "CHECKS", checks)
    monkeypatch.setattr(V, "time", Clock(1.0, 4.5))
    monkeypatch.setattr(V, "versions", lambda: {"numpy": "9", "scipy": "8"})
    tz = []

    class Now:
        @staticmethod
        def now(zone):
            tz.append(zone)
            return datetime(2026, 11, 30, 18, 1, 2, 345, tzinfo=timezone.utc)

    monkeypatch.setattr(V, "datetime", Now)
    return checks, tz


def test_validate_runs_every_check_and_reports(fake_run):
    checks, tz = fake_run
    lines = []
    r = V.validate("full", seed=5, echo=lines.append)
    assert checks.calls == [(name, V.LEVELS["full"], 5) for name in ("one", "two", "three")]
    assert lines == ["[1/3] one ...", "[1/3] one: PASS (2 s): one measured",
                     "[2/3] two ...", "[2/3] two: FAIL (1 s): two measured",
                     "[3/3] three ...", "[3/3] three: PASS (10 s): three measured"]
    assert tz == [timezone.utc]
    assert r == V.ValidationReport(
        level=V.LEVELS["full"], seed=5,
        checks=(check("one", True, 2.4, measured="one measured"),
                check("two", False, 0.6, measured="two measured"),
                check("three", True, 10.5, measured="three measured")),
        started="2026-11-30 18:01:02", seconds=3.5,
        versions={"pexsurv": V.__version__, "numpy": "9", "scipy": "8"})
    assert list(r.versions) == ["pexsurv", "numpy", "scipy"]


def test_validate_defaults_and_a_selection(fake_run):
    checks, _ = fake_run
    r = V.validate(checks=["three", "one"])
    assert checks.calls == [("three", V.LEVELS["quick"], 1), ("one", V.LEVELS["quick"], 1)]
    assert [c.name for c in r.checks] == ["three", "one"] and r.level is V.LEVELS["quick"]
    assert r.seed == 1


def test_validate_takes_a_level_and_echoes_a_single_check(fake_run):
    checks, _ = fake_run
    lines = []
    r = V.validate(LEVEL, seed=2, checks=("two",), echo=lines.append)
    assert checks.calls == [("two", LEVEL, 2)] and r.level is LEVEL
    assert lines == ["[1/1] two ...", "[1/1] two: FAIL (1 s): two measured"]


def test_validate_refuses_unknown_levels_and_checks(fake_run):
    checks, _ = fake_run
    with pytest.raises(ValueError, match=re.escape("level must be one of ['full', 'quick'], got 'slow'")):
        V.validate("slow")
    with pytest.raises(ValueError, match=re.escape(
            "unknown check(s) ['b', 'z']; valid: ['one', 'two', 'three']")):
        V.validate(checks=["z", "one", "b", "z"])
    with pytest.raises(ValueError, match=re.escape("unknown check(s) ['four']")):
        V.validate(checks=["four"])
    assert checks.calls == []
    assert V.validate(checks=[]).checks == ()
    with pytest.raises(TypeError):  # the options are keyword-only
        V.validate("quick", 2)


def test_r_check_bayesian_quantiles_against_r_printed_numbers(monkeypatch):
    fake = FakeR({k: v / 2 for k, v in TOLERANCES.items()})
    fake.ref["psi"]["a"]["printed"] = [-0.181, -0.35, 0.0023]
    # cdf 1/80, 2/80, 1/2, 39/40, 1: 2.5%, 50%, 97.5% at -0.3, -0.18, 0.01
    fake.grid = pd.DataFrame({"psi": [-0.5, -0.3, -0.18, 0.01, 0.5],
                              "density": [0.5, 0.5, 19.0, 19.0, 1.0]})
    fake.patch(monkeypatch)
    diffs = V._rpsftm_r(LEVEL, 3).values["differences"]
    assert diffs["Bayesian stage 1 (flat prior): median vs R psi"] == pytest.approx(0.001, rel=1e-9)
    assert diffs["Bayesian stage 1: 95% interval vs R CI"] == pytest.approx(0.05, rel=1e-9)
