"""Classic RPSFTM g-estimation (models/rpsft/gestimation.py) against R's rpsftm 1.2.9
(``pexsurv/datasets/rpsftm_reference.json``), lifelines fits and references written from the
published formulas (``tests/rpsft_reference.py``: rpsftm's counterfactual times and a plain
log-rank Z, from immdef's raw columns). Written for the mutation run of issue 18 (record in
benchmarks/mutation.md, section ``models/rpsft/gestimation.py``): every option, default,
branch and field of the result is pinned by a number that does not come from the module.

The module is loaded from its file (tests/isolated.py), so that each mutant is imported fresh
in a fork of a server that has already imported PyMC and lifelines. Its imports of the other
RPSFT modules (counterfactual times, the AFT fitter) are the package's, unmutated.
"""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from isolated import load
from lifelines import CoxPHFitter, WeibullAFTFitter
from lifelines.exceptions import ConvergenceError
from rpsft_reference import immdef_counterfactual, logrank_z
from test_gestimation import rpsft_trial

from pexsurv import TrialData, TrialDataError, datasets
from pexsurv.models import counterfactual_times
from pexsurv.simulate import simulate_rpsft

g = load("models/rpsft/gestimation.py")

Z975 = 1.959963984540054  # qnorm(0.975)
Z95 = 1.6448536269514722  # qnorm(0.95)


@pytest.fixture(scope="module")
def ref() -> dict:
    return datasets.rpsftm_reference()


@pytest.fixture(scope="module")
def fit_a(immdef_data: TrialData):
    # 401 grid points, not the default 2001: the same roots (bisection to tol) at a fifth of
    # the cost of each mutant's run; the default grid is checked on a small trial.
    return g.rpsftm_gestimate(immdef_data, grid_size=401)


def cox_reference(time, event, arm, alpha: float = 0.05, **columns) -> dict[str, float]:
    """lifelines' Cox HR of ``arm`` (Efron ties), with Wald limits written out."""
    frame = pd.DataFrame({"t": time, "e": event, "arm": np.asarray(arm, float), **columns})
    fit = CoxPHFitter().fit(frame, "t", "e")
    b, se = fit.params_["arm"], fit.standard_errors_["arm"]
    z = {0.05: Z975, 0.1: Z95}[alpha]
    return {"hr": math.exp(b), "lower": math.exp(b - z * se), "upper": math.exp(b + z * se),
            "log_hr": b, "se": se}


def assert_hr(actual: dict, expected: dict, atol: float) -> None:
    assert list(actual) == ["hr", "lower", "upper", "log_hr", "se"]
    np.testing.assert_allclose([actual[k] for k in expected], list(expected.values()),
                               atol=atol, rtol=0)


def assert_jump(data: TrialData, psi: float, level: float = 0.0) -> None:
    """Z passes ``level`` within 1e-9 of ``psi``."""
    below, above = g.z_on_grid(data, [psi - 1e-9, psi + 1e-9]).to_numpy() - level
    assert below * above < 0 or 0.0 in (below, above)


# ---------------------------------------------------------------------------- a quick first check
def test_small_trial_estimate_and_limits_are_jumps_of_z():
    """First, because it is cheap (60 patients): most mutants of the root finding fail here
    before the immdef fixture is built."""
    data = rpsft_trial(3, 60)
    fit = g.rpsftm_gestimate(data, grid_size=101)
    assert fit.roots == (fit.psi,) and fit.ci[0] < fit.psi < fit.ci[1]
    assert_jump(data, fit.psi)
    assert_jump(data, fit.ci[0], Z975)
    assert_jump(data, fit.ci[1], -Z975)


# ---------------------------------------------------------------------------- R on immdef
def batch_sizes(monkeypatch) -> list[int]:
    """The number of psi in each vectorized log-rank batch, recorded as Z is computed."""
    sizes, kernel = [], g._EstimatingEquation._logrank_z
    monkeypatch.setattr(g._EstimatingEquation, "_logrank_z",
                        lambda self, psis: sizes.append(psis.size) or kernel(self, psis))
    return sizes


def test_log_rank_batches_hold_at_most_batch_elements(immdef_data, monkeypatch):
    # psi x subjects per vectorized batch is bounded (the temporaries stay in cache):
    # 1,000 subjects, 50,000 elements: batches of 50 psi, the last one 1.
    sizes = batch_sizes(monkeypatch)
    g.z_on_grid(immdef_data, np.linspace(-1.0, 1.0, 201))
    assert immdef_data.n * 50 == g._BATCH_ELEMENTS and sizes == [50] * 4 + [1]


def test_psi_and_ci_are_rs_jump_points(fit_a, ref):
    np.testing.assert_allclose((fit_a.psi, *fit_a.ci), ref["psi"]["a"]["sign_change"],
                               atol=1e-6, rtol=0)
    assert fit_a.roots == (fit_a.psi,) and type(fit_a.roots[0]) is float
    assert isinstance(fit_a.ci, tuple) and len(fit_a.ci) == 2


def test_z_table_matches_r(immdef_data, ref):
    table = ref["z_table_a"]
    z = g.z_on_grid(immdef_data, [float(p) for p in table])
    np.testing.assert_allclose(z.to_numpy(), list(table.values()), atol=1e-6, rtol=0)
    assert z.name == "z" and z.dims == ("psi",)
    np.testing.assert_array_equal(z["psi"].to_numpy(), [float(p) for p in table])
    assert z.attrs == {"test": "logrank", "recensored_arms": [0],
                       "orientation": "positive = experimental arm worse"}


def test_itt_matches_r(fit_a, ref):
    assert fit_a.z_itt == pytest.approx(ref["logrank_itt"]["z"], abs=1e-6)
    expected = {k: ref["cox_itt"][k] for k in ("hr", "lower", "upper", "log_hr", "se")}
    assert_hr(fit_a.hr_itt, expected, atol=2e-6)


def test_adjusted_hr_at_rs_psi_matches_r(immdef_data, ref):
    r = ref["cox_adjusted_a"]
    hr = g.adjusted_hr(immdef_data, ref["psi"]["a"]["printed"][0])
    assert_hr(hr, {k: r[k] for k in ("hr", "lower", "upper", "log_hr", "se")}, atol=2e-6)


def test_fit_b2_without_recensoring_matches_r(immdef_data, ref):
    fit = g.rpsftm_gestimate(immdef_data, recensor=False, grid_size=401)
    np.testing.assert_allclose((fit.psi, *fit.ci), ref["psi"]["b2"]["sign_change"],
                               atol=1e-6, rtol=0)
    assert fit.settings["recensored_arms"] == ()
    assert fit.z_grid.attrs["recensored_arms"] == []


# ---------------------------------------------------------------------------- the result
def test_adjusted_hr_uses_the_data_just_below_the_jump(fit_a, immdef, immdef_data):
    psi_data = fit_a.counterfactual.attrs["psi"]
    assert 0 < fit_a.psi - psi_data < 1e-9
    u, e = immdef_counterfactual(immdef, psi_data)
    exp = immdef["imm"].to_numpy() == 1
    expected = cox_reference(np.where(exp, immdef["progyrs"], u),
                             np.where(exp, immdef["prog"], e), exp)
    assert_hr(fit_a.hr_adjusted, expected, atol=1e-8)
    assert fit_a.hr is fit_a.hr_adjusted
    # Both arms counterfactual, as R's Sstar
    cf = fit_a.counterfactual
    assert list(cf.columns) == ["id", "arm", "time_cf", "event_cf"]
    np.testing.assert_array_equal(cf["id"], immdef_data.id)
    np.testing.assert_array_equal(cf["arm"], np.where(exp, "1", "0"))
    np.testing.assert_allclose(cf["time_cf"], u, rtol=1e-13)
    np.testing.assert_array_equal(cf["event_cf"], e)


def test_itt_p_interval_keeps_the_itt_p_value(fit_a):
    hr, p = fit_a.hr_adjusted, fit_a.hr_adjusted_itt_p
    se = abs(hr["log_hr"] / fit_a.z_itt)
    assert_hr(p, {"hr": hr["hr"], "lower": math.exp(hr["log_hr"] - Z975 * se),
                  "upper": math.exp(hr["log_hr"] + Z975 * se), "log_hr": hr["log_hr"],
                  "se": se}, atol=1e-12)


def test_itt_p_interval_with_a_positive_itt_z():
    # A harmful treatment (psi > 0): the ITT log-rank Z is positive and the standard error
    # uses |Z| whatever its sign.
    fit = g.rpsftm_gestimate(simulate_rpsft(200, seed=2, psi=0.5), grid_size=201)
    assert fit.z_itt > 1.0
    hr, p = fit.hr_adjusted, fit.hr_adjusted_itt_p
    assert p["se"] == pytest.approx(abs(hr["log_hr"] / fit.z_itt), rel=1e-12)


def test_settings_grid_and_labels(fit_a, immdef_data):
    assert fit_a.settings == {
        "test": "logrank", "recensor": True, "autoswitch": True, "alpha": 0.05,
        "psi_range": (-2.0, 2.0), "grid_size": 401, "tol": 1e-10, "covariates": (),
        "treat_modifier": 1.0, "recensored_arms": ("0",), "n": 1000,
        "population": immdef_data.population}
    z = fit_a.z_grid
    np.testing.assert_array_equal(z["psi"].to_numpy(), np.linspace(-2.0, 2.0, 401))
    np.testing.assert_array_equal(z.to_numpy(), g.z_on_grid(immdef_data, z["psi"]).to_numpy())
    assert fit_a.labels() == {"roots": [fit_a.psi]}
    table = fit_a.summary()
    assert list(table.index) == ["psi", "acceleration", "hr_itt", "hr_adjusted",
                                 "hr_adjusted_itt_p"]
    assert table.attrs["roots"] == [fit_a.psi]
    assert repr(fit_a).endswith(", test='logrank')")
    assert repr(fit_a).startswith("GEstimate(psi=-0.181178 [95% CI -0.349655, 0.002048]")


def test_options_are_recorded(immdef_data, fit_a):
    fit = g.rpsftm_gestimate(immdef_data, treat_modifier=np.full(immdef_data.n, 2.0),
                             psi_range=(-1.0, 1.0), grid_size=201, tol=1e-11, alpha=0.1,
                             autoswitch=False)
    assert fit.settings["treat_modifier"] == "per-subject"
    assert fit.settings["autoswitch"] is False and fit.settings["alpha"] == 0.1
    assert fit.settings["psi_range"] == (-1.0, 1.0) and fit.settings["grid_size"] == 201
    assert fit.settings["tol"] == 1e-11
    assert fit.settings["recensored_arms"] == ("0", "1")  # autoswitch off: both arms
    # A modifier of 2 halves psi; at psi < 0 the compliant arm's recensoring never binds.
    assert fit.psi == pytest.approx(fit_a.psi / 2, abs=1e-9)
    z = g.z_on_grid(immdef_data, fit.ci, treat_modifier=2.0, autoswitch=False)
    np.testing.assert_allclose(np.abs(z), Z95, atol=0.05)  # the 90% limits
    assert repr(fit).startswith("GEstimate(psi=")
    assert "[90% CI" in repr(fit)


def test_result_is_immutable_and_hashable_by_identity(fit_a):
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit_a.psi = 0.0
    assert {fit_a: 1}[fit_a] == 1 and fit_a == fit_a


def test_options_are_keyword_only(immdef_data):
    for call in (lambda: g.z_on_grid(immdef_data, [0.0], "logrank"),
                 lambda: g.adjusted_hr(immdef_data, -0.2, True),
                 lambda: g.rpsftm_gestimate(immdef_data, "logrank")):
        with pytest.raises(TypeError, match="positional"):
            call()


def test_modifier_setting_is_a_float():
    data = rpsft_trial(3, 60)
    fit = g.rpsftm_gestimate(data, treat_modifier=1, grid_size=101)
    assert type(fit.settings["treat_modifier"]) is float


def test_default_logrank_grid():
    fit = g.rpsftm_gestimate(rpsft_trial(3, 60))
    assert fit.settings["grid_size"] == 2001
    np.testing.assert_array_equal(fit.z_grid["psi"].to_numpy(), np.linspace(-2.0, 2.0, 2001))


# ---------------------------------------------------------------------------- Z options
@pytest.mark.parametrize(("psi", "options"), [
    (0.3, {"recensor": False}), (-0.4, {"recensor": False}), (0.3, {"autoswitch": False}),
    (0.3, {}), (-0.6, {})])
def test_z_options_match_the_reference(immdef, immdef_data, psi, options):
    u, e = immdef_counterfactual(immdef, psi, **options)
    expected = logrank_z(u, e, immdef["imm"].to_numpy())
    assert g.z_on_grid(immdef_data, [psi], **options)[0] == pytest.approx(expected, abs=1e-10)


def test_z_on_grid_batches_equal_one_psi_at_a_time(immdef_data):
    # n = 1,000: 50 psi per batch, so 140 values make three batches (the last one short).
    psis = np.linspace(-1.2, 0.8, 140).reshape(14, 10)  # any shape: raveled
    batched = g.z_on_grid(immdef_data, psis).to_numpy()
    single = [g.z_on_grid(immdef_data, [p]).item() for p in psis.ravel()]
    np.testing.assert_allclose(batched, single, rtol=1e-12, atol=1e-12)
    assert batched.shape == (140,)


def test_more_patients_than_a_batch_holds(monkeypatch):
    # Above 50,000 patients a batch holds one psi (at least one, never zero).
    sizes = batch_sizes(monkeypatch)
    n = 50_001
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"t": rng.exponential(1.0, n), "e": 1, "arm": np.arange(n) % 2})
    data = TrialData.from_dataframe(df, time="t", event="e", arm="arm")
    z = g.z_on_grid(data, [0.0, 0.1], recensor=False).to_numpy()
    expected = logrank_z(df["t"].to_numpy(), np.ones(n), df["arm"].to_numpy())
    assert z[0] == pytest.approx(expected, rel=1e-9) and np.isfinite(z[1])
    assert sizes == [1, 1]


def test_a_sign_change_next_to_an_undefined_z_is_not_a_root(strat, monkeypatch):
    # Z is NaN (a failed fit) on part of the grid: a change of sign across a NaN is no root.
    monkeypatch.setattr(g._EstimatingEquation, "_model_z", lambda self, time, event: (
        math.nan if 1.0 < np.mean(time) < 1.3 else float(1.5 - np.mean(time))))
    with pytest.warns(UserWarning):
        fit = g.rpsftm_gestimate(strat, test="cox", covariates=["x"], grid_size=41)
    z = fit.z_grid.to_numpy()
    finite = np.isfinite(z[1:]) & np.isfinite(z[:-1])
    assert np.isnan(z).any() and len(fit.roots) == np.count_nonzero(
        ((z[1:] > 0) != (z[:-1] > 0)) & finite)


def test_treat_modifier_scales_psi_in_z(immdef_data):
    np.testing.assert_array_equal(g.z_on_grid(immdef_data, [-0.2], treat_modifier=2.0),
                                  g.z_on_grid(immdef_data, [-0.4]))


def stratified_trial(seed: int = 2, n: int = 120) -> TrialData:
    """rpsft_trial with three sites (strata), a numeric covariate and a categorical one."""
    data = rpsft_trial(seed, n)
    grade = np.random.default_rng(seed).choice(["g1", "g2", "g3"], n).astype(object)
    return dataclasses.replace(data, covariates={**data.covariates, "grade": grade})


def model_frame(data: TrialData, psi: float) -> pd.DataFrame:
    u, e = counterfactual_times(data, psi)
    frame = pd.DataFrame({"t": u, "e": e, "arm": data.arm.astype(float),
                          "x": data.covariates["x"]})
    return frame.join(pd.get_dummies(pd.Series(data.covariates["grade"]), prefix="grade",
                                     drop_first=True, dtype=float))


@pytest.fixture(scope="module")
def strat() -> TrialData:
    return stratified_trial()


def test_cox_test_is_lifelines_stratified_wald_z(strat):
    z = g.z_on_grid(strat, [-0.6, 0.2], test="cox", covariates=["x", "grade"]).to_numpy()
    for psi, value in zip((-0.6, 0.2), z, strict=True):
        frame = model_frame(strat, psi).assign(site=strat.strata)
        fit = CoxPHFitter().fit(frame, "t", "e", strata=["site"])
        assert value == pytest.approx(fit.params_["arm"] / fit.standard_errors_["arm"],
                                      rel=1e-6)


def test_weibull_test_is_minus_the_aft_wald_z_with_strata_as_indicators(strat):
    z = g.z_on_grid(strat, [-0.6, 0.2], test="weibull", covariates=["x", "grade"]).to_numpy()
    for psi, value in zip((-0.6, 0.2), z, strict=True):
        frame = model_frame(strat, psi).join(
            pd.get_dummies(pd.Series(strat.strata), prefix="s", drop_first=True, dtype=float))
        fit = WeibullAFTFitter().fit(frame, "t", "e")
        key = ("lambda_", "arm")
        assert value == pytest.approx(-fit.params_[key] / fit.standard_errors_[key], rel=1e-6)


def test_cox_without_strata_and_design_columns(strat):
    plain = dataclasses.replace(strat, strata=None)
    z = g.z_on_grid(plain, [0.0], test="cox", covariates=["x"]).item()
    fit = CoxPHFitter().fit(model_frame(plain, 0.0).drop(columns=["grade_g2", "grade_g3"]),
                            "t", "e")
    assert z == pytest.approx(fit.params_["arm"] / fit.standard_errors_["arm"], rel=1e-6)
    cox = g._design(strat, "cox", ["grade", "x"])
    assert list(cox.covariates) == ["x", "grade_g2", "grade_g3"]
    np.testing.assert_array_equal(cox.covariates["grade_g3"], strat.covariates["grade"] == "g3")
    assert cox.strata is strat.strata and cox.ids is strat.id
    weibull = g._design(strat, "weibull", ["x"])
    assert weibull.strata is None
    assert list(weibull.covariates) == ["x", "stratum_b", "stratum_c"]
    assert g._design(plain, "weibull", ["x"]).covariates.keys() == {"x"}
    assert g._design(strat, "logrank", []) is None


def test_a_failed_model_fit_is_nan(strat, monkeypatch):
    def fail(*args, **kwargs):
        raise ConvergenceError("no convergence")

    monkeypatch.setattr(g, "cox_hr", fail)
    monkeypatch.setattr(g, "fit_aft", fail)
    for test in ("cox", "weibull"):
        z = g.z_on_grid(strat, [0.0, 0.5], test=test, covariates=["x"]).to_numpy()
        assert np.isnan(z).all()


def test_default_grid_sizes(strat, monkeypatch):
    # One lifelines fit per psi is not what is checked here: a cheap decreasing Z stands in.
    monkeypatch.setattr(g._EstimatingEquation, "_model_z",
                        lambda self, time, event: float(np.mean(time) - 1.0))
    for test in ("cox", "weibull"):
        with pytest.warns(UserWarning):
            fit = g.rpsftm_gestimate(strat, test=test, covariates=["x"])
        assert fit.settings["grid_size"] == 101 and fit.z_grid.size == 101
        assert fit.settings["covariates"] == ("x",) and fit.settings["test"] == test


# ---------------------------------------------------------------------------- roots, limits
def test_several_roots_warn_and_psi_is_the_middle_one():
    data = rpsft_trial(37, 40)
    with pytest.warns(UserWarning) as record:
        fit = g.rpsftm_gestimate(data)
    assert [str(w.message) for w in record] == [
        f"Z(psi) crosses 0 at 5 points {[round(r, 6) for r in fit.roots]}; psi is the middle "
        "one (see GEstimate.roots and .plot())"]
    assert record[0].filename == __file__
    assert len(fit.roots) == 5 and list(fit.roots) == sorted(fit.roots)
    assert fit.psi == fit.roots[2]
    for root in fit.roots:
        assert_jump(data, root)
    # Every sign change of Z on the grid has its root
    z = fit.z_grid.to_numpy()
    assert np.count_nonzero(np.diff(z > 0)) == 5
    assert 0 < fit.psi - fit.counterfactual.attrs["psi"] < 1e-9
    # The interval is the hull of the psi values not rejected
    grid = fit.z_grid["psi"].to_numpy()
    kept = grid[np.abs(z) < Z975]
    assert fit.ci[0] < kept.min() < fit.ci[0] + 0.002
    assert fit.ci[1] - 0.002 < kept.max() < fit.ci[1]
    assert_jump(data, fit.ci[0], Z975)
    assert_jump(data, fit.ci[1], -Z975)


def test_two_roots_take_the_lower_one():
    data = rpsft_trial(182, 40)  # Z crosses 0 twice on the default grid
    with pytest.warns(UserWarning) as record:
        fit = g.rpsftm_gestimate(data)
    assert any("crosses 0 at 2 points" in str(w.message) for w in record)
    assert len(fit.roots) == 2 and fit.psi == fit.roots[0] < fit.roots[1]
    for root in fit.roots:
        assert_jump(data, root)


def test_without_root_or_limits(immdef_data):
    with pytest.warns(UserWarning) as record:
        fit = g.rpsftm_gestimate(immdef_data, psi_range=(0.5, 1.0))
    assert [str(w.message) for w in record] == [
        "Z(psi) does not cross 0 in psi_range=(0.5, 1.0): psi is NaN. Widen psi_range and "
        "inspect GEstimate.plot()",
        "a confidence limit lies outside psi_range=(0.5, 1.0) and is NaN; widen psi_range"]
    assert all(w.filename == __file__ for w in record)  # stacklevel: the caller's line
    assert math.isnan(fit.psi) and np.isnan(fit.ci).all() and fit.roots == ()
    for hr in (fit.hr_adjusted, fit.hr_adjusted_itt_p):
        assert list(hr) == ["hr", "lower", "upper", "log_hr", "se"]
        assert np.isnan(list(hr.values())).all()
    assert math.isfinite(fit.hr_itt["hr"])
    assert fit.counterfactual["time_cf"].isna().all()
    assert (fit.counterfactual["event_cf"] == 0).all()
    assert math.isnan(fit.counterfactual.attrs["psi"])


@pytest.mark.parametrize(("psi_range", "open_end"), [((-0.3, 1.0), 0), ((-1.0, -0.1), 1)])
def test_a_limit_outside_the_range_is_nan(immdef_data, ref, psi_range, open_end):
    with pytest.warns(UserWarning, match="confidence limit lies outside") as record:
        fit = g.rpsftm_gestimate(immdef_data, psi_range=psi_range, grid_size=301)
    assert len(record) == 1 and record[0].filename == __file__
    assert math.isnan(fit.ci[open_end])
    expected = ref["psi"]["a"]["sign_change"][2 - open_end]
    assert fit.ci[1 - open_end] == pytest.approx(expected, abs=1e-6)
    assert fit.psi == pytest.approx(ref["psi"]["a"]["sign_change"][0], abs=1e-6)


def test_a_plateau_of_z_at_the_target_is_bracketed():
    # Z touches 0 on [0.3, 0.6) without crossing it: every psi there solves the estimating
    # equation, so the jumps into and out of the plateau are roots (not "no root").
    def z_of(psis):
        psis = np.asarray(psis)
        return np.where((psis >= 0.3) & (psis < 0.6), 0.0, 1.0)

    grid = np.linspace(0.0, 1.0, 11)
    [(lo, hi)] = g._solve(SimpleNamespace(z=z_of), grid, z_of(grid), [0.0], 1e-9)
    np.testing.assert_allclose(lo, [0.3, 0.6], atol=1e-8)
    np.testing.assert_allclose(hi, [0.3, 0.6], atol=1e-8)


def test_bisection_stops_once_the_bracket_is_no_wider_than_tol():
    # Grid step 0.5, tol 0.125 (exact binary fractions): two halvings reach a width of exactly
    # tol, and each halving costs one batched Z evaluation (plus one at the lower ends).
    calls = []

    def z_of(psis):
        calls.append(np.size(psis))
        return np.where(np.asarray(psis) < 0.3, 1.0, -1.0)

    grid = np.array([0.0, 0.5, 1.0])
    [(lo, hi)] = g._solve(SimpleNamespace(z=z_of), grid, np.array([1.0, -1.0, -1.0]), [0.0],
                          0.125)
    assert (lo.tolist(), hi.tolist(), len(calls)) == ([0.25], [0.375], 3)


def test_a_limit_is_open_by_the_last_grid_point_only():
    # |Z| at the grid's ends decides: the second-to-last point does not.
    limits, crit = np.array([0.1, 0.7]), 1.96
    with pytest.warns(UserWarning, match="confidence limit lies outside"):
        out = g._confidence_limits(limits, np.array([3.0, 1.0, -1.0, -2.5, -1.5]), crit, (0, 1))
    assert out[0] == 0.1 and math.isnan(out[1])
    out = g._confidence_limits(limits, np.array([3.0, 1.0, -1.0, -1.5, -2.5]), crit, (0, 1))
    assert out == (0.1, 0.7)


def test_tolerance_is_the_bracket_width(immdef_data, ref):
    jump = ref["psi"]["a"]["sign_change"][0]
    fit = g.rpsftm_gestimate(immdef_data, tol=1e-3, grid_size=101)
    assert abs(fit.psi - jump) < 1e-3
    assert abs(fit.psi - jump) > 1e-5  # stopped at the tolerance, not refined further


def test_itt_z_of_zero_gives_an_infinitely_wide_itt_p_interval():
    # Both arms identical at psi = 0: the ITT log-rank Z is exactly 0.
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    df = pd.DataFrame({"t": np.tile(t, 2), "e": [1, 1, 0, 1, 1, 1, 0, 1] * 2,
                       "arm": np.repeat([0, 1], 8),
                       "sw": [np.nan, 1.0, np.nan, 2.0, np.nan, 3.0, np.nan, 4.0] + [np.nan] * 8,
                       "c": 10.0})
    data = TrialData.from_dataframe(df, time="t", event="e", arm="arm", switch_time="sw",
                                    censor_time="c")
    with pytest.warns(UserWarning):  # several roots around 0 on so few patients
        fit = g.rpsftm_gestimate(data, psi_range=(-1.0, 1.0), grid_size=201)
    assert fit.z_itt == 0.0 and math.isfinite(fit.psi)
    p = fit.hr_adjusted_itt_p
    assert p["se"] == math.inf and p["lower"] == 0.0 and p["upper"] == math.inf


# ---------------------------------------------------------------------------- adjusted_hr
def test_adjusted_hr_defaults_and_alpha(immdef, immdef_data):
    psi = -0.25
    u, e = immdef_counterfactual(immdef, psi)
    exp = immdef["imm"].to_numpy() == 1
    time, event = np.where(exp, immdef["progyrs"], u), np.where(exp, immdef["prog"], e)
    assert_hr(g.adjusted_hr(immdef_data, psi), cox_reference(time, event, exp), atol=1e-8)
    assert_hr(g.adjusted_hr(immdef_data, psi, alpha=0.1),
              cox_reference(time, event, exp, alpha=0.1), atol=1e-8)
    u2, e2 = immdef_counterfactual(immdef, 2 * psi, recensor=False)
    assert_hr(g.adjusted_hr(immdef_data, psi, treat_modifier=2.0, recensor=False),
              cox_reference(np.where(exp, immdef["progyrs"], u2),
                            np.where(exp, immdef["prog"], e2), exp), atol=1e-8)


def test_adjusted_hr_autoswitch_default_leaves_a_compliant_control_arm_alone():
    # No control patient switched; experimental patients started late: with autoswitch the
    # control arm is not recensored, so the adjusted HR is the ITT HR.
    rng = np.random.default_rng(5)
    n = 60
    arm = np.repeat([0, 1], n // 2)
    t = rng.exponential(2.0, n)
    c = np.full(n, 3.0)
    df = pd.DataFrame({"t": np.minimum(t, c), "e": (t < c).astype(int), "arm": arm, "c": c,
                       "start": np.where(arm == 1, np.minimum(0.1, t / 2), np.nan)})
    data = TrialData.from_dataframe(df, time="t", event="e", arm="arm", censor_time="c",
                                    treatment_start="start")
    itt = cox_reference(df["t"], df["e"], arm)
    assert_hr(g.adjusted_hr(data, -0.5), itt, atol=1e-8)
    assert g.adjusted_hr(data, -0.5, autoswitch=False)["hr"] != pytest.approx(itt["hr"])


def test_adjusted_hr_is_stratified():
    data = rpsft_trial(4, 150)
    u, e = counterfactual_times(data, -0.5)
    exp = data.arm == 1
    frame = pd.DataFrame({"t": np.where(exp, data.time, u), "e": np.where(exp, data.event, e),
                          "arm": exp.astype(float), "site": data.strata})
    fit = CoxPHFitter().fit(frame, "t", "e", strata=["site"])
    assert g.adjusted_hr(data, -0.5)["log_hr"] == pytest.approx(fit.params_["arm"], rel=1e-6)


def test_wald_hr():
    out = g.wald_hr(0.3, 0.2, 0.1)
    assert out == {"hr": pytest.approx(math.exp(0.3)),
                   "lower": pytest.approx(math.exp(0.3 - Z95 * 0.2), rel=1e-12),
                   "upper": pytest.approx(math.exp(0.3 + Z95 * 0.2), rel=1e-12),
                   "log_hr": 0.3, "se": 0.2}
    assert list(out) == ["hr", "lower", "upper", "log_hr", "se"]


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"test": "wilcoxon"}, r"test must be one of \('logrank', 'cox', 'weibull'\), got 'wilcoxon'"),
    ({"covariates": ["x"]}, "covariates need test='cox'"),
    ({"test": "cox", "covariates": ["age"]}, r"covariates \['age'\] are not in the data; "
                                             r"available: \[\]"),
    ({"psi_range": (1.0, -1.0)}, "psi_range"), ({"psi_range": (1.0, 1.0)}, "psi_range"),
    ({"psi_range": (-np.inf, 1.0)}, "psi_range"), ({"psi_range": (-1.0, np.nan)}, "psi_range"),
    ({"grid_size": 2}, "grid_size must be an integer >= 3, got 2"),
    ({"grid_size": 10.5}, "grid_size"), ({"grid_size": "5"}, "grid_size must be an integer"),
    ({"alpha": 1.0}, "alpha"), ({"alpha": 0.0}, "alpha"), ({"alpha": 1.5}, "alpha"),
    ({"alpha": -0.5}, "alpha"),
    ({"tol": 0.0}, "tol must be positive, got 0.0"), ({"tol": -1e-3}, "tol"),
])
def test_invalid_options(immdef_data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        g.rpsftm_gestimate(immdef_data, **kwargs)


def test_smallest_grid_and_extreme_levels_are_accepted(immdef_data):
    fit = g.rpsftm_gestimate(immdef_data, grid_size=3.0, alpha=0.999, psi_range=(-1.0, 1.0))
    assert fit.z_grid.size == 3 and fit.settings["grid_size"] == 3


def test_reserved_covariate_names(strat):
    for name in ("arm", "stratum"):
        data = dataclasses.replace(strat, covariates={**strat.covariates,
                                                      name: strat.covariates["x"]})
        with pytest.raises(ValueError, match=rf"covariate names \['{name}'\] are reserved"):
            g.z_on_grid(data, [0.0], test="cox", covariates=[name])


def test_unknown_covariate_lists_the_available_ones(strat):
    with pytest.raises(ValueError, match=r"available: \['grade', 'x'\]"):
        g.z_on_grid(strat, [0.0], test="weibull", covariates=["x", "age"])


def test_recensoring_needs_censor_time(immdef):
    data = TrialData.from_dataframe(immdef, time="progyrs", event="prog", arm="imm")
    with pytest.raises(TrialDataError, match="censor_time"):
        g.z_on_grid(data, [0.0])
