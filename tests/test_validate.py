"""`pexsurv validate`: the quick run end to end through the command line, the independent
ML reference against closed forms, and planted errors that must turn a verdict to FAIL."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from pexsurv import datasets
from pexsurv.cli import main
from pexsurv.workflows import validate as V


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("validate")
    status = main(["validate", "--quick", "--quiet", "--out", str(out)])
    return status, out


def test_quick_run_passes_and_writes_the_report(quick):
    status, out = quick
    report = json.loads((out / "validate_quick.json").read_text())
    assert [c["name"] for c in report["checks"]] == list(V.CHECKS)
    assert {c["name"]: c["verdict"] for c in report["checks"]} == dict.fromkeys(V.CHECKS, "PASS")
    assert status == 0 and report["passed"] is True
    for check in report["checks"]:  # every check states its rule and what it measured
        assert check["tolerance"] and check["measured"] and check["reference"]
    md = (out / "validate_quick.md").read_text()
    assert "ALL PASSED (8 of 8 checks passed)" in md
    assert md.count("| **PASS** |") == len(V.CHECKS)
    html = (out / "validate_quick.html").read_text()
    assert "<script" not in html and "http" not in html and "All checks passed" in html


def test_ml_pem_matches_the_closed_form_of_one_interval():
    # One interval: the MLE is the log ratio of crude rates, SE sqrt(1/d0 + 1/d1).
    rng = np.random.default_rng(3)
    arm = np.repeat([0, 1], 300)
    t = rng.exponential(np.where(arm == 1, 2.0, 1.0))
    event = (t < 1.5).astype(int)
    t = np.minimum(t, 1.5)
    d0, d1 = event[arm == 0].sum(), event[arm == 1].sum()
    e0, e1 = t[arm == 0].sum(), t[arm == 1].sum()
    fit = V.ml_pem(t, event, arm, [])
    assert fit["log_hr"] == pytest.approx(math.log((d1 / e1) / (d0 / e0)), abs=1e-7)
    assert fit["se_log_hr"] == pytest.approx(math.sqrt(1 / d0 + 1 / d1), rel=1e-6)
    assert fit["log_hazard_base"][0] == pytest.approx(math.log(d0 / e0), abs=1e-7)


def test_ml_pem_interval_boundaries_follow_the_package_convention():
    # An event exactly at a cut belongs to the interval that ends there: (0, 1] holds the
    # events at 0.5 and 1.0, (1, inf) the one at 2.0.
    t = np.array([0.5, 1.0, 2.0, 0.5, 1.0, 2.0])
    fit = V.ml_pem(t, np.ones(6), np.array([0, 0, 0, 1, 1, 1]), [1.0])
    # Arms identical: log HR 0; rates 4 events / 5 time units, then 2 / 2.
    np.testing.assert_allclose(fit["log_hazard_base"], np.log([4 / 5, 2 / 2]), atol=1e-7)
    assert fit["log_hr"] == pytest.approx(0.0, abs=1e-7)


def test_packaged_r_numbers_are_the_ones_the_tests_use():
    from test_gestimation import R_PRINTED, R_SIGN_CHANGE, R_Z_TABLE

    ref = datasets.rpsftm_reference()
    for key in ("a", "b2"):
        assert ref["psi"][key]["printed"] == list(R_PRINTED[key])
        assert ref["psi"][key]["sign_change"] == list(R_SIGN_CHANGE[key])
    assert {float(k): v for k, v in ref["z_table_a"].items()} == R_Z_TABLE
    assert datasets.load_immdef().shape == (1000, 9)


def test_a_wrong_reference_number_fails_the_check_and_the_command(monkeypatch, tmp_path, capsys):
    true = datasets.rpsftm_reference

    def shifted():
        ref = true()
        ref["psi"]["a"]["sign_change"][0] += 5e-4  # a psi 5e-4 off R's
        return ref

    monkeypatch.setattr(V.datasets, "rpsftm_reference", shifted)
    assert main(["validate", "--check", "rpsftm_r", "--quiet", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAILED: rpsftm_r" in out and "psi, CI vs R sign changes: 0.0005 (FAIL)" in out


def test_a_biased_fit_fails_the_ml_check(monkeypatch):
    true = V.ml_pem

    def biased(*args, **kwargs):  # as if the sampler's log HR were 0.4 SE off the MLE
        out = true(*args, **kwargs)
        return {**out, "log_hr": out["log_hr"] + 0.4 * out["se_log_hr"]}

    monkeypatch.setattr(V, "ml_pem", biased)
    check = V.validate("quick", checks=["ml_pem"]).checks[0]
    assert not check.passed and "log_hr" in check.measured


def _trials(n=400, scatter=1.0, seed=5):
    """ML estimates (truth 0) with SE 0.2 scattering ``scatter`` times their SE, and the
    matching Wald limits."""
    se = np.full(n, 0.2)
    est = np.random.default_rng(seed).standard_normal(n) * se * scatter
    half = 1.959964 * se
    return est, se, est - half, est + half


def test_paired_coverage_passes_an_interval_that_matches_the_wald_one():
    est, se, lo, hi = _trials()
    out = V.paired_coverage(lo + 0.01 * se, hi + 0.01 * se, est + 0.01 * se, est, se, 0.0)
    assert out["passed"] and out["trials"] == 400


@pytest.mark.parametrize("planted, part", [
    ("bias", "c"),  # every interval 0.4 SE off: coverage alone (93%) would not notice
    ("narrow", "b"),  # 0.85 times the Wald width: misses where the Wald interval covers
])
def test_paired_coverage_fails_a_planted_error(planted, part):
    est, se, lo, hi = _trials()
    if planted == "bias":
        lo, hi, mid = lo + 0.4 * se, hi + 0.4 * se, est + 0.4 * se
    else:
        lo, hi, mid = est - 0.85 * (est - lo), est + 0.85 * (hi - est), est
    out = V.paired_coverage(lo, hi, mid, est, se, 0.0)
    assert not out["passed"] and not out[f"passed_{part}"]


def test_paired_coverage_separates_trial_set_luck_from_the_model():
    # Estimates scattering 1.25 SE (an unlucky set of trials, or a simulator whose Wald
    # interval under-covers): coverage alone fails, the paired parts see the same misses.
    est, se, lo, hi = _trials(scatter=1.25)
    out = V.paired_coverage(lo, hi, est, est, se, 0.0)
    assert not out["passed_a"] and out["passed_b"] and out["passed_c"]
    assert out["bayes_only"] == out["ml_only"] == 0


def test_a_biased_posterior_fails_the_coverage_check(monkeypatch):
    true = V._log_hr_interval

    def biased(result):  # every posterior 0.4 sd to the right
        lo, mid, hi = true(result)
        shift = 0.4 * (hi - lo) / 3.92
        return lo + shift, mid + shift, hi + shift

    monkeypatch.setattr(V, "_log_hr_interval", biased)
    level = dataclasses.replace(V.LEVELS["quick"], coverage_trials=10)
    check = V.validate(level, checks=["coverage_ph"]).checks[0]
    assert not check.passed and "(c) mean shift +0.4" in check.measured
    assert check.measured.count("[fails]") == 1


def test_unknown_level_or_check_is_refused():
    with pytest.raises(ValueError, match="level must be one of"):
        V.validate("medium")
    with pytest.raises(ValueError, match="unknown check"):
        V.validate("quick", checks=["nope"])


def test_ml_pem_refuses_an_interval_without_events():
    with pytest.raises(ValueError, match=r"no events in interval\(s\) \[1\]"):
        V.ml_pem(np.array([0.5, 0.6, 0.7, 0.8]), np.ones(4), np.array([0, 0, 1, 1]), [1.0])
