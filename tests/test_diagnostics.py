"""Posterior predictive checks, LOO and prior sensitivity.

Two layers: checks on hand-built ("Dirac") posteriors at known values, compared with
closed forms computed here independently (fast, no sampling); and two real fits of one
simulated trial with a strongly decreasing hazard, shared by the module: the true
4-interval model and a grossly misspecified exponential (one interval) model.
"""

from __future__ import annotations

import dataclasses

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure
from simtools import simulate_pem

from pexsurv import TrialData
from pexsurv.diagnostics import (
    CheckResult,
    SBCResult,
    check_convergence,
    compare,
    loo,
    observed_vs_expected_events,
    posterior_predictive_survival,
    prior_sensitivity,
)
from pexsurv.fitting import FitResult, SamplerConfig, fit
from pexsurv.intervals import exposure_table
from pexsurv.models import PiecewiseExponential, _math
from pexsurv.testing import fake_posterior

matplotlib.use("Agg")  # figures are only built and closed, never shown

# A hazard falling tenfold over the first 6 months: an exponential model cannot follow it.
BASE = np.array([0.8, 0.3, 0.1, 0.04])
CUTS = np.array([1.0, 3.0, 6.0])
LOG_HR = -0.5


def load(df: pd.DataFrame, **kw) -> TrialData:
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id", **kw)


def dirac_fit(data: TrialData, spec: PiecewiseExponential, *, beta: dict | None = None,
              **fake) -> FitResult:
    """A FitResult whose draws all sit at given parameter values."""
    fake = {"chains": 2, "draws": 5, **fake}
    tree = fake_posterior(cuts=spec.cuts, arms=data.arms, **fake)
    if beta:
        post = tree["posterior"].to_dataset()
        values = np.broadcast_to(list(beta.values()), (fake["chains"], fake["draws"], len(beta)))
        post = post.assign(beta=(("chain", "draw", "covariate"), values))
        tree["posterior"] = xr.DataTree(post.assign_coords(covariate=list(beta)))
    return FitResult(idata=tree, spec=spec, priors=spec.resolved_priors(data), data=data,
                     sampler=SamplerConfig(progress=False))


# --------------------------------------------------------------------------- Dirac posteriors
def test_expected_events_closed_form_on_other_intervals():
    data = load(simulate_pem(1, 300, BASE, CUTS, LOG_HR))
    hazards, hr = np.array([0.3, 0.2, 0.1]), 0.5
    result = dirac_fit(data, PiecewiseExponential(cuts=(2.0, 4.0)), hazards=hazards, hr=hr)
    check = observed_vs_expected_events(result, cuts=(1.0, 3.0), seed=1)
    # By hand: person-time on the union of both partitions, times the piece's hazard.
    pieces = exposure_table(data, [1.0, 2.0, 3.0, 4.0])["exposure"].values  # (arm, 5 pieces)
    rate = hazards[[0, 0, 1, 1, 2]] * np.array([[1.0], [hr]])
    by_piece = rate * pieces
    expected = np.stack([by_piece[:, 0], by_piece[:, 1:3].sum(1), by_piece[:, 3:].sum(1)], axis=1)
    np.testing.assert_allclose(check.table["expected"], expected.reshape(-1), rtol=1e-12)
    # Identical draws: the posterior interval of the expected count collapses onto it.
    np.testing.assert_allclose(check.table["expected_lower"], check.table["expected"], rtol=1e-12)
    observed = exposure_table(data, [1.0, 3.0])["events"].values.reshape(-1)
    np.testing.assert_array_equal(check.table["observed"], observed)
    assert list(check.table["interval"][:3]) == ["(0, 1]", "(1, 3]", "(3, inf)"]


def true_marginal_survival(rates: np.ndarray, cuts: np.ndarray, arm: np.ndarray,
                           t: np.ndarray) -> np.ndarray:
    """Population-average S(t) per arm: mean over the arm's subjects of exp(-H_i(t))."""
    s = _math.survival(rates, cuts, t)  # (subject, time)
    return np.stack([s[arm == a].mean(axis=0) for a in (0, 1)])


CASES = {
    "plain": dict(sim={}, load={}, spec={}),
    "strata": dict(sim=dict(strata_shift=0.7), load=dict(strata="stratum"), spec=dict(strata=True)),
    "covariates": dict(sim=dict(beta={"sex": 0.6, "age": -0.4}),
                       load=dict(covariates=("sex", "age")), spec=dict(covariates=("sex", "age"))),
    # Administrative censoring only, at 12 months: the potential censoring time is known.
    "censor_time": dict(sim=dict(follow_up=(12.0, 12.0)), load=dict(censor_time="admin"),
                        spec={}),
}


@pytest.mark.parametrize("name", CASES)
def test_replicates_follow_the_model(name):
    """The replicate median Kaplan-Meier curve recovers the model's own population-average
    survival (each subject at their arm, stratum and covariates), under either censoring
    scheme: simulation and censoring are unbiased."""
    case = CASES[name]
    df = simulate_pem(10 + len(name), 1000, BASE, CUTS, LOG_HR, **case["sim"])
    if "strata_shift" in case["sim"]:
        df["stratum"] = df["region"].map({"asia": "s0", "europe": "s1"})
    df["admin"] = 12.0  # potential censoring time: the end of the study
    data = load(df, **case["load"])
    spec = PiecewiseExponential(cuts=tuple(CUTS), **case["spec"])
    hazards = BASE if name != "strata" else np.stack([BASE, BASE * np.exp(0.7)])
    beta = case["sim"].get("beta")
    result = dirac_fit(data, spec, hazards=hazards, hr=np.exp(LOG_HR),
                       beta={"sex[M]": beta["sex"], "age": beta["age"]} if beta else None)

    rates = np.broadcast_to(BASE, (data.n, BASE.size)) * np.exp(LOG_HR * data.arm)[:, None]
    if name == "strata":
        rates = rates * np.exp(0.7 * (data.strata == "s1"))[:, None]
    if beta:  # the model centres numeric covariates at their mean
        age = data.covariates["age"]
        rates = rates * np.exp(beta["sex"] * (data.covariates["sex"] == "M")
                               + beta["age"] * (age - age.mean()))[:, None]
    grid = np.linspace(0.5, 8.0, 16)
    check = posterior_predictive_survival(result, times=grid, n_draws=200, seed=2)
    truth = true_marginal_survival(rates, CUTS, data.arm, grid).reshape(-1)
    # The median of 200 replicate curves has Monte Carlo sd below 0.005 here (one curve's
    # sd is <= 0.04 on this grid); 0.02 also leaves room for Kaplan-Meier's small bias.
    np.testing.assert_allclose(check.table["median"], truth, atol=0.02)
    assert ("censor_time" in check.censoring) == (name == "censor_time")


def test_received_exposure_is_refused():
    data = load(simulate_pem(3, 100, BASE, CUTS, LOG_HR))
    result = dirac_fit(data, PiecewiseExponential(cuts=tuple(CUTS), exposure="received"),
                       hazards=BASE)
    with pytest.raises(ValueError, match="exposure='assigned'"):
        posterior_predictive_survival(result)
    with pytest.raises(ValueError, match="exposure='assigned'"):
        observed_vs_expected_events(result)


def test_compare_runs_across_effect_structures_and_refuses_other_data():
    data = load(simulate_pem(4, 200, BASE, CUTS, LOG_HR))
    cuts, draws = tuple(CUTS), dict(draws=200, jitter=0.05)  # PSIS needs a few hundred draws
    ph = dirac_fit(data, PiecewiseExponential(cuts=cuts), hazards=BASE, hr=0.6, **draws)
    pw = dirac_fit(data, PiecewiseExponential(cuts=cuts, effect="piecewise"), hazards=BASE,
                   hr=[0.6, 0.6, 0.6, 0.6], **draws)
    table = compare({"ph": ph, "piecewise": pw})
    assert set(table.index) == {"ph", "piecewise"}
    assert np.isfinite(table["elpd"].astype(float)).all()
    other = dirac_fit(load(simulate_pem(5, 200, BASE, CUTS, LOG_HR)),
                      PiecewiseExponential(cuts=cuts), hazards=BASE, hr=0.6, **draws)
    with pytest.raises(ValueError, match="same patients"):
        compare({"ph": ph, "other data": other})


# --------------------------------------------------------------------------- real fits
@pytest.fixture(scope="module")
def fits() -> dict[str, FitResult]:
    data = load(simulate_pem(2024, 360, BASE, CUTS, LOG_HR))
    settings = dict(draws=500, tune=500, chains=4, progress=False)
    return {
        "true": fit(PiecewiseExponential(cuts=tuple(CUTS)), data, seed=1, log_likelihood=True,
                    **settings),
        # Without a log-likelihood group: LOO must compute it.
        "exponential": fit(PiecewiseExponential(cuts=()), data, seed=2, **settings),
    }


def test_ppc_coverage_nominal_when_right_and_poor_when_wrong(fits):
    right = posterior_predictive_survival(fits["true"], seed=11)
    wrong = posterior_predictive_survival(fits["exponential"], seed=11)
    assert (right.coverage >= 0.8).all(), right.text
    assert (wrong.coverage < 0.6).all(), wrong.text
    assert right.passed and not wrong.passed
    assert set(right.table["arm"]) == set(fits["true"].data.arms)


def test_observed_vs_expected_events(fits):
    right = observed_vs_expected_events(fits["true"], seed=12)
    observed = right.table["observed"].sum()
    # Each interval's baseline score equation balances observed and expected events; the
    # posterior mean sits within a few events of the balance point (prior, skew).
    assert right.table["expected"].sum() == pytest.approx(observed, rel=0.02)
    assert right.passed
    # The exponential fit matches its single interval's total, but not the hazard's shape.
    wrong = observed_vs_expected_events(fits["exponential"], cuts=CUTS, seed=12)
    assert wrong.table["expected"].sum() == pytest.approx(observed, rel=0.02)
    assert wrong.p_value < 0.01 and not wrong.passed


def test_loo_prefers_the_true_model(fits):
    table = compare(fits)
    assert table.index[0] == "true"
    diff, dse = table.loc["exponential", "elpd_diff"], table.loc["exponential", "dse"]
    assert abs(diff) > 2 * dse
    check = loo(fits["true"])
    assert check.passed and check.table.loc[0, "k_good"] == fits["true"].data.n
    # Pareto-k counts per model, from each model's own k values (ArviZ 1.x classes).
    for name, result in fits.items():
        elpd = loo(result).elpd
        k, good_k = elpd.pareto_k.values, elpd.good_k
        row = table.loc[name]
        assert row["good_k"] == good_k <= 0.7
        assert (row["k_good"], row["k_bad"], row["k_very_bad"]) == (
            (k <= good_k).sum(), ((k > good_k) & (k <= 1)).sum(), (k > 1).sum())
        assert row["k_good"] + row["k_bad"] + row["k_very_bad"] == result.data.n


def test_hr_table_reads_the_fits_own_convergence_verdict(fits):
    # A fit whose draws would pass but whose recorded verdict failed: the table must show
    # the fit's verdict, never a second opinion computed from the draws.
    from pexsurv.diagnostics import hr_table

    result = fits["true"]
    assert result.convergence.passed
    failed = dataclasses.replace(result.convergence, passed=False, problems=["planted"])
    result.__dict__["convergence"] = failed  # the cached verdict of this fit
    try:
        row = hr_table({"x": result}).loc["x"]
    finally:
        del result.__dict__["convergence"]
    assert not row["converged"] and row["diagnostics"] == failed.headline


def test_loo_computes_missing_log_likelihood_on_a_copy(fits):
    tree = fits["true"].idata.copy()
    del tree["log_likelihood"]
    bare = dataclasses.replace(fits["true"], idata=tree)
    assert loo(bare).table.loc[0, "elpd"] == pytest.approx(loo(fits["true"]).table.loc[0, "elpd"])
    assert "log_likelihood" not in bare.idata.children


def test_prior_sensitivity_table(fits):
    check = prior_sensitivity(fits["true"])
    assert "log_hr" in check.table.index
    assert np.isfinite(check.table[["prior", "likelihood"]].to_numpy(dtype=float)).all()
    assert "log_prior" not in fits["true"].idata.children


def test_every_check_is_one_result_type(fits):
    """Reports treat every check alike: a bool verdict, a table, a text and named figures."""
    result = fits["true"]
    ranks = pd.DataFrame({"x": np.random.default_rng(1).integers(0, 50, 40)})
    checks = [check_convergence(result),
              posterior_predictive_survival(result, n_draws=20, seed=13),
              observed_vs_expected_events(result, seed=13), loo(result),
              prior_sensitivity(result), SBCResult.from_ranks(ranks, max_rank=49)]
    for check in checks:
        kind = type(check).__name__
        assert isinstance(check, CheckResult), kind
        assert type(check.passed) is bool and isinstance(check.table, pd.DataFrame), kind
        assert check.text and str(check) == check.text, kind
        figures = check.figures()
        assert list(figures) == [check.name], kind
        for fig in figures.values():
            assert isinstance(fig, Figure), kind
            plt.close(fig)


# --------------------------------------------------------------------------- convergence table
def _summary_diagnostics(post: xr.Dataset) -> pd.DataFrame:
    import arviz as az

    # the verdict's tail ESS is at the 5%/95% quantiles (Vehtari et al.); ArviZ's default
    # ci_prob (0.89) would put it at 11%/89%
    with az.rc_context({"stats.ci_prob": 0.95}):
        return pd.DataFrame(az.summary(post, kind="diagnostics", round_to="none")[
            ["r_hat", "ess_bulk", "ess_tail", "mcse_mean"]])


def test_convergence_table_equals_arviz_summary_on_a_fit(fits):
    """The verdict computes R-hat, ESS and MCSE from the stacked arrays (no az.summary per
    fit); its numbers and row labels must be ArviZ's own."""
    import arviz as az

    result = fits["true"]
    check = check_convergence(result)
    post = result.posterior
    expected = _summary_diagnostics(post)
    assert list(check.table.index) == list(expected.index)
    np.testing.assert_allclose(check.table[expected.columns].to_numpy(dtype=float),
                               expected.to_numpy(dtype=float), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(check.ebfmi, az.bfmi(result.idata)["energy"].values,
                               rtol=1e-12, atol=0)


def test_convergence_table_labels_elements_of_multidimensional_parameters():
    rng = np.random.default_rng(5)
    post = xr.Dataset(
        {"b": (("chain", "draw", "arm", "k"), rng.standard_normal((4, 100, 2, 3))),
         # element dims stored before the sample dims: transposed, not misread
         "c": (("k", "chain", "draw"), rng.standard_normal((3, 4, 100)).cumsum(axis=2))},
        coords={"arm": ["control", "car-t"], "k": [0.5, 1.0, 2.0]})
    check = check_convergence(xr.DataTree.from_dict({"posterior": post}))
    expected = _summary_diagnostics(post)
    assert list(check.table.index) == list(expected.index)
    np.testing.assert_allclose(check.table[expected.columns].to_numpy(dtype=float),
                               expected.to_numpy(dtype=float), rtol=1e-12, atol=1e-12)
    assert not check.passed  # the random walks of c do not mix


def test_check_figures_carry_titles_labels_and_the_time_unit(fits):
    result = fits["true"]
    ppc = posterior_predictive_survival(result, n_draws=20, seed=13)
    events = observed_vs_expected_events(result, seed=13)
    assert ppc.plot(time_unit="days").axes[0].get_xlabel() == "time (days)"
    assert ppc.plot().axes[0].get_xlabel() == "time (months)"
    fig = events.plot(time_unit="weeks")
    assert fig.get_suptitle() and fig.axes[0].get_ylabel() == "events"
    assert all(ax.get_xlabel() == "interval (weeks)" and ax.get_title() for ax in fig.axes)
    # The power-scaling figure: ArviZ leaves its panels without axis labels.
    fig = prior_sensitivity(result).plot()
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2 and fig.get_suptitle()
    for ax in panels:
        assert ax.get_xlabel().startswith("log_hr") and ax.get_ylabel() == "posterior density"
    assert {ax.get_title().split("power-scaled")[0] for ax in panels} == {
        "log_hr: posterior with the prior ", "log_hr: posterior with the likelihood "}
    # One legend, titled, naming the scaling factors (ArviZ's own has no words for them).
    (legend,) = fig.legends
    assert legend.get_title().get_text().startswith("power-scaling")
    assert [t.get_text() for t in legend.get_texts()] == ["0.8", "1.0", "1.25"]
    plt.close(fig)
