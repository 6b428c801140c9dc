"""The comparison of analyses: each derived population is right, and the table is built."""

from __future__ import annotations

import numpy as np
import pytest

from pexsurv.workflows import ANALYSES, compare_analyses


def test_exclude_switchers(immdef_data):
    d = immdef_data.exclude_switchers()
    assert d.n == 1000 - 189 and np.isnan(d.switch_time).all()
    assert "excluded 189" in d.notes[-1]


def test_as_treated_groups(immdef_data):
    d = immdef_data.as_treated()
    # immediate arm (500) + 189 switchers are "ever treated".
    assert int(d.arm.sum()) == 689 and d.arms == ("never treated", "ever treated")
    np.testing.assert_array_equal(d.time, immdef_data.time)


def test_every_analysis_states_its_assumption():
    labels = [a.label for a in ANALYSES]
    assert len(set(labels)) == len(labels)
    assert [a.label for a in ANALYSES if not a.biased_if_prognostic] == ["ITT"]
    assert all(a.assumption and a.question for a in ANALYSES)


def test_compare_analyses_table(immdef_data):
    picked = tuple(a for a in ANALYSES if a.exposure == "assigned")
    out = compare_analyses(immdef_data, [0.5, 1.0, 1.5, 2.0], seed=3, draws=500, analyses=picked)
    # treatment_start is absent in immdef: the analyses needing it are skipped, not faked.
    assert list(out.table.index) == ["ITT", "per protocol (censor at switch)",
                                     "exclude switchers", "as treated (naive)"]
    itt = out.table.loc["ITT"]
    # Agrees with R's ITT Cox HR 0.805 (0.644-1.006) on these data.
    assert itt["hr_median"] == pytest.approx(0.805, abs=0.02)
    assert out.table["converged"].all()
    assert not itt["biased_if_prognostic"] and out.table["biased_if_prognostic"].iloc[1:].all()
    # Immortal time makes the naive as-treated HR look better than ITT.
    assert out.table.loc["as treated (naive)", "hr_median"] < itt["hr_median"]


def test_switching_estimates_join_the_table_with_their_assumption():
    from pexsurv.models import ipe
    from pexsurv.simulate import simulate_rpsft

    data = simulate_rpsft(300, seed=1)
    est = ipe(data)
    itt_only = tuple(a for a in ANALYSES if a.label == "ITT")
    out = compare_analyses(data, [1.0], seed=2, draws=1000, analyses=itt_only, switching=(est,))
    assert list(out.table.index) == ["ITT", est.method]
    row = out.table.loc[est.method]
    assert row["hr_median"] == pytest.approx(est.hr["hr"])
    assert (row["lower"], row["upper"]) == pytest.approx((est.hr["lower"], est.hr["upper"]))
    assert row["assumption"] == est.assumption and not row["biased_if_prognostic"]
    assert np.isnan(row["p_hr_lt_1"])  # frequentist: no posterior probability
    assert out.table.loc["ITT", "interval"] == "posterior equal-tailed"
    assert out.results[est.method] is est


def test_bayesian_tse_joins_the_table_with_its_assumption():
    from pexsurv.fitting import SamplerConfig, fit_tse_bayes
    from pexsurv.models import tse_simple
    from pexsurv.simulate import simulate_switch_at_progression
    from pexsurv.workflows.compare import TSE_BAYES

    sim = simulate_switch_at_progression(300, seed=1)
    args = (sim.data, sim.secondary_baseline, sim.baseline_covariates)
    res = fit_tse_bayes(*args, cuts=(1.0, 2.0), n_psi_draws=4,
                        sampler=SamplerConfig(draws=150, tune=150, chains=2, seed=3))
    freq = tse_simple(*args)
    itt_only = tuple(a for a in ANALYSES if a.label == "ITT")
    out = compare_analyses(sim.data, [1.0], seed=2, draws=300, analyses=itt_only,
                           switching=(freq, res))
    assert list(out.table.index) == ["ITT", "TSE (simple)", TSE_BAYES]
    row = out.table.loc[TSE_BAYES]
    # Pooled over every psi draw (not one stage-2 fit), as the posterior mixture is.
    log_hr = res.posterior["log_hr"].values
    assert log_hr.shape[0] == 4 and np.ptp(np.median(log_hr, axis=(1, 2))) > 0
    hr = np.exp(log_hr.ravel())
    assert row["hr_median"] == pytest.approx(np.median(hr))
    assert (row["lower"], row["upper"]) == pytest.approx(tuple(np.quantile(hr, [0.025, 0.975])))
    assert row["p_hr_lt_1"] == pytest.approx(np.mean(hr < 1)) and row["p_hr_lt_1"] > 0.9
    assert (row["n"], row["events"]) == freq.counts()
    assert row["assumption"].startswith(freq.assumption) and "normal" in row["assumption"]
    assert "secondary baseline" in row["assumption"] and not row["biased_if_prognostic"]
    assert row["converged"] == bool(res.r_hat_max.max() <= 1.05)
    assert row["interval"] == "posterior equal-tailed, mixed over stage-1 psi"
    assert out.results[TSE_BAYES] is res
