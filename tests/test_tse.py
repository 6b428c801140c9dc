"""Simple two-stage estimation: an independent re-computation of stage 1 and of the shrunk,
recensored times from the simulator's raw columns, recovery of the known psi and of the
no-switch hazard ratio where the method's assumptions hold, and input validation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, WeibullAFTFitter

from pexsurv import TrialData, TrialDataError
from pexsurv.cox import cox_hr
from pexsurv.models import SwitchEstimate, tse_simple
from pexsurv.simulate.switching import SwitchAtProgression, simulate_switch_at_progression
from simtools import tiny_tse_trial

PSI = -0.5


@pytest.fixture(scope="module")
def sim() -> SwitchAtProgression:
    return simulate_switch_at_progression(4000, seed=3, psi=PSI)


@pytest.fixture(scope="module")
def fit(sim: SwitchAtProgression) -> SwitchEstimate:
    return tse_simple(sim.data, sim.secondary_baseline, sim.baseline_covariates)


def reference(frame: pd.DataFrame) -> tuple[float, np.ndarray, np.ndarray]:
    """Stage 1 and 2 by hand from the raw columns: psi, counterfactual time and event."""
    f = frame
    rows = (f["arm"] == 0) & f["progression_time"].notna()
    switched = f["switch_time"].notna()
    stage1 = pd.DataFrame({"post": f["time"] - f["progression_time"], "event": f["event"],
                           "switched": switched.astype(float), "marker": f["marker"]})[rows]
    aft = WeibullAFTFitter().fit(stage1, "post", "event")
    psi = -float(aft.params_[("lambda_", "switched")])
    t, c, b = f["time"].to_numpy(), f["censor_time"].to_numpy(), f["progression_time"].to_numpy()
    u = np.where(switched, b + math.exp(psi) * (t - b), t)
    c_star = np.minimum(c, c * math.exp(psi))
    control = f["arm"].to_numpy() == 0
    time_cf = np.where(control, np.minimum(u, c_star), t)
    event_cf = np.where(control, f["event"].to_numpy() * (u <= c_star), f["event"].to_numpy())
    return psi, time_cf, event_cf


def test_matches_independent_two_stage_computation(fit, sim):
    psi, time_cf, event_cf = reference(sim.frame)
    assert fit.psi == pytest.approx(psi, abs=1e-10)
    np.testing.assert_allclose(fit.counterfactual["time_cf"], time_cf, rtol=1e-12)
    np.testing.assert_array_equal(fit.counterfactual["event_cf"], event_cf)
    cox = CoxPHFitter().fit(pd.DataFrame({"t": time_cf, "e": event_cf, "arm": sim.frame["arm"]}),
                            "t", "e")
    assert fit.hr_adjusted["log_hr"] == pytest.approx(cox.params_["arm"], abs=1e-8)
    # Recensoring acts: some control events are switched off at C*.
    assert (event_cf < sim.frame["event"]).any()
    assert fit.details["stage1"].loc[("lambda_", "marker"), "coef"] == pytest.approx(-0.5, abs=0.1)


def test_recovers_psi_and_the_no_switch_hr(fit, sim):
    truth = simulate_switch_at_progression(4000, seed=3, psi=PSI, switching=False).data
    hr_truth = cox_hr(truth.time, truth.event, truth.arm).hr
    assert abs(fit.psi - PSI) < 0.1
    assert fit.ci[0] < PSI < fit.ci[1] and fit.ci_type == "AFT Wald"
    assert fit.hr_adjusted["hr"] == pytest.approx(hr_truth, abs=0.03)
    assert abs(fit.hr_itt["hr"] - hr_truth) > 0.1  # switching dilutes the ITT HR
    row = fit.comparison_row()
    assert row["interval"] == "Cox Wald" and "secondary baseline" in row["assumption"]


def test_ignoring_the_confounder_is_biased(fit, sim):
    # Switchers have low markers (long post-progression survival): without the marker the
    # switch effect is overstated. The adjustment is what makes the test above pass.
    naive = tse_simple(sim.data, sim.secondary_baseline)
    assert naive.psi < PSI - 0.2 < fit.psi


def test_simulator_delay_and_effect_options_change_only_what_they_say(sim):
    late = simulate_switch_at_progression(4000, seed=3, psi=PSI, switch_delay=0.5)
    half = simulate_switch_at_progression(4000, seed=3, psi=PSI, switch_effect=0.5)
    base = sim.frame
    # Same patients: untreated times, progression and censoring are the same draws.
    for other in (late.frame, half.frame):
        for col in ("untreated_time", "progression_time", "censor_time", "marker"):
            np.testing.assert_array_equal(other[col], base[col])
    # Delay: switches come after progression, and only to patients alive at the decision.
    sw = late.data.switch_time
    ok = np.isfinite(sw)
    assert ok.sum() > 300 and (sw[ok] > late.secondary_baseline[ok]).all()
    assert (sw[ok] < late.data.time[ok]).all()
    # Switchers' remaining untreated time is stretched by exp(-k psi) from the switch.
    for s, k in ((sim, 1.0), (half, 0.5), (late, 1.0)):
        f = s.frame[s.frame["switch_time"].notna() & (s.frame["event"] == 1)]
        np.testing.assert_allclose(f["time"] - f["switch_time"],
                                   math.exp(-k * PSI) * (f["untreated_time"] - f["switch_time"]))
    # The long table splits each patient's follow-up at the switching decision.
    rows = late.long.to_frame(late.data)
    starts = rows.loc[rows["tstart"] > 0].set_index("id")["tstart"]
    assert (starts.loc[late.data.id[ok]].to_numpy() == sw[ok]).all()
    with pytest.raises(ValueError, match="switch_delay"):
        simulate_switch_at_progression(10, seed=1, switch_delay=-1.0)


def test_ipcw_recovers_the_truth_when_progression_opens_the_decision(sim):
    """Switching only at progression (TSE's setting), marker observed: IPCW recovers the
    no-switch log HR with unstabilised and with stabilised weights (the stabilising
    numerator runs over the whole control risk set; fitted on the decision rows only, it
    conditioned on progression and was off by more than +0.3)."""
    from pexsurv.models import ipcw

    truth = simulate_switch_at_progression(4000, seed=3, psi=PSI, switching=False).data
    log_hr = cox_hr(truth.time, truth.event, truth.arm).log_hr
    plain = ipcw(sim.data, sim.long, time_varying=["marker"], stabilised=False)
    stabilised = ipcw(sim.data, sim.long, time_varying=["marker"])
    assert abs(plain.hr_adjusted["log_hr"] - log_hr) < 0.08
    assert abs(stabilised.hr_adjusted["log_hr"] - log_hr) < 0.1


def test_bootstrap_is_seeded_and_prefix_stable():
    small = simulate_switch_at_progression(400, seed=8, psi=PSI)
    a = tse_simple(small.data, small.secondary_baseline, small.baseline_covariates,
                   n_boot=6, seed=2)
    b = tse_simple(small.data, small.secondary_baseline, small.baseline_covariates,
                   n_boot=3, seed=2)
    pd.testing.assert_frame_equal(a.boot.iloc[:3], b.boot)
    assert a.ci_type == "bootstrap percentile" and a.hr is a.hr_adjusted_boot
    assert a.ci == (a.boot["psi"].quantile(0.025), a.boot["psi"].quantile(0.975))
    assert a.boot["psi"].std() > 0


@pytest.fixture(scope="module")
def tiny() -> tuple[TrialData, np.ndarray]:
    return tiny_tse_trial()


def test_bad_input_names_the_problem_and_the_ids(tiny):
    data, b = tiny
    with pytest.raises(TrialDataError, match="one time per subject"):
        tse_simple(data, b[:3])
    with pytest.raises(TrialDataError, match="switch before the secondary baseline.*ids: a"):
        tse_simple(data, np.where(np.arange(6) == 0, 4.0, b))
    with pytest.raises(TrialDataError, match="without a secondary baseline.*ids: c"):
        tse_simple(data, np.where(np.arange(6) == 2, np.nan, b))
    with pytest.raises(TrialDataError, match="after the end of follow-up.*ids: d"):
        tse_simple(data, np.where(np.arange(6) == 3, 7.5, b))
    covs = pd.DataFrame({"ecog": [0.0, np.nan, 1.0, 1.0, np.nan, np.nan]})
    with pytest.raises(TrialDataError, match="column 'ecog'.*missing.*ids: b"):
        tse_simple(data, b, covs)
    with pytest.raises(TrialDataError, match="column 'ecog'.*not numeric"):
        tse_simple(data, b, pd.DataFrame({"ecog": list("ABCDEF")}))
    with pytest.raises(TrialDataError, match="one row per subject"):
        tse_simple(data, b, covs.iloc[:2])
    away = data.derive(np.ones(6, bool), switch_time=np.array([3.0, np.nan, 2.5, np.nan, 1.0,
                                                               np.nan]))
    with pytest.raises(TrialDataError, match="experimental-arm switches.*ids: e"):
        tse_simple(away, b)
    with pytest.raises(ValueError, match="aft_dist"):
        tse_simple(data, b, aft_dist="gompertz")


def test_runs_on_the_ct041_like_data_with_their_progression_times():
    from pexsurv import datasets

    frame = datasets.load_ct041_like()
    data = datasets.ct041_like("os")
    assert (np.asarray(data.id).astype(str) == frame["id"].astype(str).to_numpy()).all()
    fit = tse_simple(data, frame["progression_time"].to_numpy())
    control_switchers = int(((data.arm == 0) & ~np.isnan(data.switch_time)).sum())
    assert fit.details["n_switchers"] == control_switchers > 0
    assert math.isfinite(fit.psi) and fit.settings["recensored_arms"] == (data.arms[0],)


# ------------------------------------------------------------------ Bayesian two-stage
@pytest.fixture(scope="module")
def bayes_tse():
    from pexsurv.fitting import SamplerConfig
    from pexsurv.fitting.rpsft import fit_tse_bayes

    small = simulate_switch_at_progression(600, seed=5, psi=PSI)
    config = SamplerConfig(draws=150, tune=150, chains=2, seed=3, progress=False)
    return small, fit_tse_bayes(small.data, small.secondary_baseline,
                                small.baseline_covariates, cuts=(0.8, 1.6, 2.6),
                                n_psi_draws=8, sampler=config)


def test_bayesian_tse_stage1_posterior_is_the_normal_aft_posterior(bayes_tse):
    from scipy import stats

    _, res = bayes_tse
    psi_hat, se = res.stage1.psi, res.stage1.details["psi_se"]
    # Conjugate normal posterior under the Normal(0, 10) prior, by formula.
    var = 1 / (1 / se ** 2 + 1 / 100)
    mean = var * psi_hat / se ** 2
    expected = stats.norm.ppf((np.arange(8) + 0.5) / 8, mean, math.sqrt(var))
    np.testing.assert_allclose(res.psi, expected, atol=2e-4)
    assert res.psi_mean == pytest.approx(mean, abs=1e-4)
    assert res.psi_sd == pytest.approx(math.sqrt(var), rel=1e-3)


def test_bayesian_tse_stage2_refits_each_psi_draw(bayes_tse):
    from pexsurv.models.rpsft.tse import tse_counterfactual

    small, res = bayes_tse
    post = res.posterior
    assert dict(post["log_hr"].sizes) == {"psi_draw": 8, "chain": 2, "draw": 150}
    assert res.r_hat_max.max() < 1.1  # short pooled fits (2 x 150 draws), as the RPSFT checks
    # A more negative psi shrinks switchers' survival more: the control arm fares worse and
    # the adjusted HR falls. The per-psi medians follow psi.
    medians = post["log_hr"].median(("chain", "draw")).values
    assert np.corrcoef(res.psi, medians)[0, 1] > 0.9
    # At the stage-1 estimate, the Cox HR of the same counterfactual data is the
    # frequentist TSE's; the pooled posterior sits on it and is wider than its Wald interval.
    t, e = tse_counterfactual(small.data, small.secondary_baseline, res.stage1.psi)
    assert cox_hr(t, e, small.data.arm).hr == pytest.approx(res.stage1.hr_adjusted["hr"])
    h, wald = res.hr_interval(), res.stage1.hr_adjusted
    assert h["hr"] == pytest.approx(wald["hr"], rel=0.1)
    assert math.log(h["upper"] / h["lower"]) > math.log(wald["upper"] / wald["lower"])
