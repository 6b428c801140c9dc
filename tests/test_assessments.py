"""Tests of the tumour-assessment simulator (pexsurv.simulate.assessments): the issue's
20 -> 40 -> 30 mm patient, the visit schedule, the recorded interval around the true time,
the latent processes against their distributions, determinism and input validation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pexsurv import TrialData
from pexsurv.simulate import (
    AssessedTrial,
    ProgressionRule,
    Therapy,
    assess_patients,
    simulate_assessments,
    tumour_burden,
)
from pexsurv.simulate.assessments import DAY, WEEK

WAIT = 0.75  # months of manufacturing (about three weeks)
V1, V2 = 1.6, 3.2  # first two visits (about 7 and 14 weeks)
GROWTH = math.log(2) / WAIT  # 20 mm doubles to 40 mm during the wait
DECAY = 3.0


def _fraction_for(burden_at_v1: float) -> float:
    """Sensitive fraction that takes 40 mm at infusion to ``burden_at_v1`` at V1."""
    up, down = math.exp(GROWTH * (V1 - WAIT)), math.exp(-DECAY * (V1 - WAIT))
    return (up - burden_at_v1 / 40.0) / (up - down)


def _patient(**changes: float) -> pd.DataFrame:
    row = {"id": 1, "arm": "car-t", "entry": 0.0, "sld0": 20.0, "growth": GROWTH,
           "sensitive_fraction": _fraction_for(30.0), "decay": DECAY,
           "manufacturing_time": WAIT, "therapy_start": WAIT, "new_lesion": math.inf,
           "new_lesion_after_infusion": math.inf, "death": math.inf, "dropout": math.inf}
    return pd.DataFrame([{**row, **changes}])


def _by_baseline(sim: AssessedTrial) -> dict[str, pd.Series]:
    return {b: row for b, row in sim.data.set_index("baseline").iterrows()}


@pytest.fixture(scope="module")
def issue_patient() -> AssessedTrial:
    return assess_patients(_patient(), np.array([[V1, V2, 40.0]]), cutoff=12.0)


@pytest.fixture(scope="module")
def trials() -> list[AssessedTrial]:
    return [simulate_assessments(n=400, seed=s, missed_visit_prob=0.2, dropout_rate=0.02)
            for s in range(4)]


# --------------------------------------------------------------------------- the issue's patient
def test_issue_patient_burden_is_20_40_30():
    b = tumour_burden(np.array([0.0, WAIT, V1]), sld0=20.0, growth=GROWTH, therapy_start=WAIT,
                      sensitive_fraction=_fraction_for(30.0), decay=DECAY)
    np.testing.assert_allclose(b, [20.0, 40.0, 30.0], rtol=1e-12)


def test_issue_patient_progresses_against_enrolment_at_first_visit(issue_patient):
    row = _by_baseline(issue_patient)["enrolment"]
    assert row["event_type"] == "progression"
    assert row["progression_visit"] == V1 and row["last_assessment"] == 0.0
    # +50% over the enrolment nadir of 20 mm; the rule's threshold, max(1.2 x 20, 20 + 5)
    # = 25 mm, was crossed during the wait, when 20 exp(g t) = 25.
    assert row["progression_true"] == pytest.approx(math.log(1.25) / GROWTH, abs=1e-10)
    assert row["reference_scan"] == "enrolment"


def test_issue_patient_responds_against_infusion_scan(issue_patient):
    row = _by_baseline(issue_patient)["infusion"]
    assert row["reference_scan"] == "infusion" and row["reference_time"] == WAIT
    first = issue_patient.visits.iloc[0]
    assert first["time"] == V1 and first["burden"] == pytest.approx(30.0)
    assert (first["burden"] - 40.0) / 40.0 == pytest.approx(-0.25)  # shrinkage, no progression
    # the regrowth is found at the second visit, against the nadir of 30 mm (36 mm)
    assert row["progression_visit"] == V2 and row["last_assessment"] == V1
    threshold_crossed = row["progression_true"]
    assert V1 < threshold_crossed <= V2
    assert tumour_burden(threshold_crossed, sld0=20.0, growth=GROWTH, therapy_start=WAIT,
                         sensitive_fraction=_fraction_for(30.0),
                         decay=DECAY) == pytest.approx(36.0, abs=1e-9)


def test_transient_growth_that_receded_before_a_scan_is_not_progression():
    # 20 -> 40 during the wait (above 25 mm), then 22 mm at the first visit: no scan saw
    # progression, so the true time is the later regrowth through 25 mm.
    sim = assess_patients(_patient(sensitive_fraction=_fraction_for(22.0)),
                          np.array([[V1, V2, 40.0]]), cutoff=12.0)
    row = _by_baseline(sim)["enrolment"]
    assert row["progression_visit"] == V2 and row["last_assessment"] == V1
    assert V1 < row["progression_true"] <= V2


def test_new_lesion_is_progression_dated_at_its_appearance():
    sim = assess_patients(_patient(sensitive_fraction=1.0, new_lesion=2.0,
                                   new_lesion_after_infusion=2.0),
                          np.array([[V1, V2, 40.0]]), cutoff=12.0)
    for row in _by_baseline(sim).values():
        assert row["progression_visit"] == V2 and row["progression_true"] == 2.0


def test_lesion_before_infusion_is_a_baseline_lesion_for_the_infusion_scan():
    sim = assess_patients(_patient(sensitive_fraction=1.0, new_lesion=0.5,
                                   new_lesion_after_infusion=5.0),
                          np.array([[V1, V2, 3 * V2, 40.0]]), cutoff=12.0)
    rows = _by_baseline(sim)
    assert rows["enrolment"]["progression_true"] == 0.5
    assert rows["enrolment"]["progression_visit"] == V1
    assert rows["infusion"]["progression_true"] == 5.0
    assert rows["infusion"]["progression_visit"] == 3 * V2


def test_a_measurement_error_calls_progression_the_exact_scans_would_not():
    """The issue's patient read against the infusion scan (40 mm) measures 30 mm at V1:
    shrinkage. Measured 60% too large (48 mm, +20% over 40) that scan calls progression at
    V1, while the true time (exact scans) stays in (V1, V2], outside the recorded
    interval (infusion, V1]."""
    error = np.zeros((1, 5))  # enrolment scan, infusion scan, V1, V2, last visit
    error[0, 2] = math.log(1.6)
    exact = assess_patients(_patient(), np.array([[V1, V2, 40.0]]), cutoff=12.0)
    noisy = assess_patients(_patient(), np.array([[V1, V2, 40.0]]), cutoff=12.0,
                            measurement_error=error)
    row, truth = _by_baseline(noisy)["infusion"], _by_baseline(exact)["infusion"]
    assert row["progression_visit"] == V1 and row["last_assessment"] == WAIT
    assert truth["progression_visit"] == V2
    assert row["progression_true"] == truth["progression_true"]
    assert V1 < row["progression_true"] <= V2
    first = noisy.visits.iloc[0]
    assert first["burden"] == pytest.approx(30.0)
    assert first["measured_burden"] == pytest.approx(48.0)
    # the same error on the enrolment reading changes nothing there: 20 -> 48 mm is
    # progression at V1 either way
    assert _by_baseline(noisy)["enrolment"].equals(_by_baseline(exact)["enrolment"])
    with pytest.raises(ValueError, match=r"measurement_error must be finite.*shape \(1, 5\)"):
        assess_patients(_patient(), np.array([[V1, V2, 40.0]]), cutoff=12.0,
                        measurement_error=np.zeros((1, 3)))


def test_measurement_error_keeps_the_truth_and_blurs_the_record():
    """Same seed with and without error: the same patients, visits and true times; the
    measured burdens scatter around the true ones with the given sd of the log, and the
    recorded intervals no longer always hold the true time."""
    exact = simulate_assessments(n=300, seed=3)
    noisy = simulate_assessments(n=300, seed=3, measurement_cv=0.15)
    for col in ("progression_true", "pfs_true_time", "pfs_true_event"):
        pd.testing.assert_series_equal(exact.data[col], noisy.data[col], check_exact=True)
    pd.testing.assert_series_equal(exact.visits["burden"], noisy.visits["burden"],
                                   check_exact=True)
    assert (exact.visits["measured_burden"] == exact.visits["burden"]).all()
    log_error = np.log(noisy.visits["measured_burden"] / noisy.visits["burden"])
    n = len(log_error)
    assert abs(log_error.mean()) < 4 * 0.15 / math.sqrt(n)
    assert log_error.std() == pytest.approx(0.15, abs=4 * 0.15 / math.sqrt(2 * n))
    outside = {}
    for name, sim in (("exact", exact), ("noisy", noisy)):
        d = sim.data[(sim.data["event_type"] == "progression")
                     & sim.data["progression_true"].notna()]
        outside[name] = int(((d["progression_true"] <= d["last_assessment"])
                             | (d["progression_true"] > d["progression_visit"])).sum())
    assert outside["exact"] == 0 and outside["noisy"] > 10
    # at_cutoff keeps the errors
    pd.testing.assert_frame_equal(noisy.at_cutoff(40.0).data,
                                  simulate_assessments(n=300, seed=3, measurement_cv=0.15,
                                                       cutoff=40.0).data, check_exact=True)


def test_rule_needs_both_the_relative_and_the_absolute_increase():
    rule = ProgressionRule()
    assert not rule.progressed(14.0, nadir=10.0)  # +40% but only +4 mm
    assert not rule.progressed(119.0, nadir=100.0)  # +19 mm but only +19%
    assert rule.progressed(120.0, nadir=100.0)  # boundary counts (>=)


def test_absolute_rule_applies_to_small_tumours():
    rule = ProgressionRule()
    assert rule.threshold(np.array([20.0])).item() == 25.0  # 20 mm: 5 mm dominates
    assert not rule.progressed(24.0, nadir=20.0)


def test_death_is_an_exact_pfs_event_and_censoring_uses_the_last_assessment():
    sim = assess_patients(_patient(sensitive_fraction=0.99, death=2.5),
                          np.array([[V1, V2, 40.0]]), cutoff=12.0)
    row = _by_baseline(sim)["infusion"]
    assert row["event_type"] == "death" and row["pfs_visit_time"] == 2.5
    assert row["pfs_lower"] == 2.5 and row["pfs_true_time"] == 2.5
    late = assess_patients(_patient(sensitive_fraction=0.99, entry=10.0),
                           np.array([[V1, V2, 40.0]]), cutoff=12.0)
    row = _by_baseline(late)["infusion"]
    assert row["event_type"] == "censored" and row["pfs_visit_time"] == V1
    assert row["pfs_true_time"] == 2.0 and row["pfs_true_event"] == 0
    unseen = assess_patients(_patient(sensitive_fraction=0.99, entry=11.0),
                             np.array([[V1, V2, 40.0]]), cutoff=12.0)
    row = _by_baseline(unseen)["enrolment"]
    assert row["event_type"] == "censored" and row["pfs_visit_time"] == DAY
    row = _by_baseline(unseen)["infusion"]  # infused 0.75 after entry, before the cut
    assert row["pfs_visit_time"] == pytest.approx(WAIT + DAY)


def test_infusion_after_the_cut_keeps_the_enrolment_scan():
    sim = assess_patients(_patient(entry=11.5), np.array([[V1, V2, 40.0]]), cutoff=12.0)
    rows = _by_baseline(sim)
    assert rows["infusion"]["reference_scan"] == "enrolment"
    assert math.isnan(rows["infusion"]["treatment_start"])
    later = _by_baseline(sim.at_cutoff(13.0))["infusion"]  # infused 12.25 after first in
    assert later["reference_scan"] == "infusion" and later["treatment_start"] == WAIT


# --------------------------------------------------------------------------- schedule
def test_visits_follow_the_schedule(trials):
    sim = trials[0]
    interval, jitter = sim.params["visit_interval"], sim.params["visit_jitter"]
    assert interval == pytest.approx(7 * WEEK) and jitter == pytest.approx(WEEK)
    k = np.rint(sim.schedule / interval)
    offset = sim.schedule - k * interval
    assert np.nanmax(np.abs(offset)) <= jitter
    first = sim.schedule[:, 0]
    first = first[~np.isnan(first)]
    assert first.min() >= 6 * WEEK and first.max() <= 8 * WEEK  # first at 6-8 weeks
    # missed visits: 20% of the due visits (the last, closing the latent follow-up, never)
    missed = np.isnan(sim.schedule[:, :-1])
    p = stats.binomtest(int(missed.sum()), missed.size, 0.2).pvalue
    assert p > 1e-3 and not np.isnan(sim.schedule[:, -1]).any()


def test_recorded_visits_stop_at_death_or_the_cut(trials):
    sim = trials[1]
    ends = sim.latent.set_index("id")
    cut = sim.params["cutoff"] - ends["entry"]
    v = sim.visits.join(ends[["death", "dropout"]], on="id").join(cut.rename("cut"), on="id")
    assert (v["time"] < v["death"]).all() and (v["time"] <= v["cut"]).all()
    assert (v["time"] <= v["dropout"]).all()


# --------------------------------------------------------------------------- truth and record
@pytest.mark.parametrize("baseline", ["enrolment", "infusion"])
def test_recorded_interval_contains_the_true_time(trials, baseline):
    for sim in trials:
        d = sim.data[sim.data["baseline"] == baseline]
        prog = d[d["event_type"] == "progression"]
        assert len(prog) > 100
        t = prog["progression_true"]
        assert ((prog["last_assessment"] < t) & (t <= prog["progression_visit"])).all()
        np.testing.assert_array_equal(prog["pfs_true_time"], t)
        died = d[d["event_type"] == "death"]
        assert (died["pfs_true_time"] <= died["pfs_visit_time"]).all()
        assert (died["pfs_lower"] == died["pfs_visit_time"]).all()
        events = d["pfs_event"] == 1
        assert (d.loc[events, "pfs_true_event"] == 1).all()  # nothing found that did not happen
        assert (d["pfs_visit_time"] >= d["pfs_true_time"] - 1e-12).where(events, True).all()


def test_true_time_matches_a_brute_force_search(trials):
    """The true time is the start of the last excursion above the threshold in force before
    the detecting visit (or the new lesion): recomputed on a fine grid, independently."""
    sim = trials[2]
    d = sim.data[(sim.data["baseline"] == "enrolment") & (sim.data["event_type"] ==
                                                          "progression")].head(60)
    lat = sim.latent.set_index("id")
    rule = sim.params["rule"]
    visits = sim.visits.groupby("id")
    for _, row in d.iterrows():
        p = lat.loc[row["id"]]
        v = visits.get_group(row["id"])
        seen = v[v["time"] <= row["last_assessment"]]["burden"]
        nadir = min([p["sld0"], *seen])
        grid = np.linspace(row["last_assessment"], row["progression_visit"], 200_001)
        b = tumour_burden(grid, sld0=p["sld0"], growth=p["growth"],
                          therapy_start=p["therapy_start"],
                          sensitive_fraction=p["sensitive_fraction"], decay=p["decay"])
        above = b >= rule.threshold(nadir)
        if above[-1]:
            below = np.flatnonzero(~above)
            crossing = grid[below[-1] + 1]
        else:
            crossing = math.inf
        expected = min(crossing, p["new_lesion"])
        assert row["progression_true"] == pytest.approx(expected, abs=2 * np.diff(grid)[0])


def test_midpoint_and_visit_dating_agree_with_trial_data_date_events(trials):
    sim = trials[0]
    for baseline in ("enrolment", "infusion"):
        ic = sim.trial_data(baseline=baseline, dating="interval")
        assert ic.time_lower is not None and ic.interval_censored.sum() > 100
        for how in ("visit", "midpoint"):
            exact = sim.trial_data(baseline=baseline, dating=how)
            np.testing.assert_allclose(ic.date_events(how).time, exact.time, rtol=0, atol=1e-12)
            np.testing.assert_array_equal(ic.event, exact.event)


def test_trial_data_true_dating_and_origin(trials):
    sim = trials[3]
    true = sim.trial_data(baseline="infusion", dating="true")
    visit = sim.trial_data(baseline="infusion", dating="visit")
    assert true.time_lower is None and true.n == visit.n == 400
    ev = (true.event == 1) & (visit.event == 1)
    assert (true.time[ev] <= visit.time[ev]).all()
    single_arm = sim.trial_data(baseline="infusion", dating="interval",
                                origin="treatment_start")
    assert single_arm.origin == "treatment_start"
    assert single_arm.n == int(np.isfinite(visit.treatment_start).sum())
    assert (single_arm.time_lower >= 0).all()


def test_control_arm_has_no_infusion(trials):
    sim = trials[0]
    control = sim.data[sim.data["arm"] == "control"]
    assert (control["treatment_start"] == 0.0).all()
    assert (control["reference_scan"] == "enrolment").all()
    by = {b: g.drop(columns="baseline").reset_index(drop=True)
          for b, g in control.groupby("baseline")}
    pd.testing.assert_frame_equal(by["enrolment"], by["infusion"])


def test_visit_dating_delays_the_control_median_more_than_the_truth():
    """With progression found every ~7 weeks, the control arm's visit-dated median sits at
    a visit, well after the true median; the midpoint comes closer."""
    from pexsurv.km import km_median

    sim = simulate_assessments(n=3000, seed=5, accrual=6.0, cutoff=30.0)
    d = sim.data[(sim.data["baseline"] == "enrolment") & (sim.data["arm"] == "control")]
    true = km_median(d["pfs_true_time"].to_numpy(), d["pfs_true_event"].to_numpy())
    visit = km_median(d["pfs_visit_time"].to_numpy(), d["pfs_event"].to_numpy())
    mid = km_median(d["pfs_midpoint_time"].to_numpy(), d["pfs_event"].to_numpy())
    assert visit - true > 0.5 and abs(mid - true) < visit - true


# --------------------------------------------------------------------------- latent processes
def test_new_lesions_and_death_follow_their_rates():
    sim = simulate_assessments(n=20_000, seed=9, new_lesion_rate=0.2, death_rate=0.05)
    lat = sim.latent
    control = lat["arm"] == "control"
    hr = sim.params["control"].new_lesion_hr
    assert stats.kstest(lat.loc[control, "new_lesion"], "expon",
                        args=(0, 1 / (0.2 * hr))).pvalue > 1e-3
    infused = np.isfinite(lat["therapy_start"]) & ~control
    after = lat.loc[infused, "new_lesion_after_infusion"] - lat.loc[infused, "therapy_start"]
    rate_on = 0.2 * sim.params["experimental"].new_lesion_hr
    assert stats.kstest(after, "expon", args=(0, 1 / rate_on)).pvalue > 1e-3
    assert stats.kstest(lat["death"], "expon", args=(0, 1 / 0.05)).pvalue > 1e-3


def test_manufacturing_wait_and_failures():
    sim = simulate_assessments(n=20_000, seed=4, manufacturing_failure=0.1, death_rate=0.0)
    exp = sim.latent[sim.latent["arm"] == "car-t"]
    never = ~np.isfinite(exp["therapy_start"])
    assert stats.binomtest(int(never.sum()), len(exp), 0.1).pvalue > 1e-3
    assert exp["manufacturing_time"].mean() == pytest.approx(0.75, rel=0.02)


# --------------------------------------------------------------------------- reproducibility
def test_same_seed_same_trial_and_cuts_agree():
    a, b = simulate_assessments(n=200, seed=7), simulate_assessments(n=200, seed=7)
    pd.testing.assert_frame_equal(a.data, b.data, check_exact=True)
    pd.testing.assert_frame_equal(a.visits, b.visits, check_exact=True)
    assert not a.data.equals(simulate_assessments(n=200, seed=8).data)
    later = a.at_cutoff(40.0)
    fresh = simulate_assessments(n=200, seed=7, cutoff=40.0)
    pd.testing.assert_frame_equal(later.data, fresh.data, check_exact=True)
    pd.testing.assert_frame_equal(later.visits, fresh.visits, check_exact=True)
    assert later.data["pfs_event"].sum() >= a.data["pfs_event"].sum()


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("changes, match", [
    (dict(missed_visit_prob=1.5), "missed_visit_prob"),
    (dict(manufacturing_failure=-0.1), "manufacturing_failure"),
    (dict(visit_jitter=1.0), "visit_jitter"),
    (dict(cutoff=70.0), "horizon"),
    (dict(cutoff=10.0), "cutoff"),
    (dict(death_rate=-1.0), "death_rate"),
    (dict(measurement_cv=-0.1), "measurement_cv"),
    (dict(growth_median=0.0), "growth_median"),
    (dict(n=1), "n must be"),
    (dict(allocation=(2, 0)), "allocation"),
    (dict(arm_labels=("a", "a")), "arm_labels"),
])
def test_invalid_inputs_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        simulate_assessments(**{"n": 20, "seed": 1, **changes})


def test_invalid_objects_and_arguments_are_refused(trials):
    with pytest.raises(TypeError, match="Therapy"):
        simulate_assessments(n=20, seed=1, control={"decay": 1.0})
    with pytest.raises(ValueError, match="sensitive_fraction"):
        Therapy(sensitive_fraction=1.2, decay=1.0)
    with pytest.raises(ValueError, match="relative_increase"):
        ProgressionRule(relative_increase=-0.2)
    with pytest.raises(ValueError, match="last visit"):
        assess_patients(_patient(), np.array([[V1, np.nan]]), cutoff=12.0)
    with pytest.raises(ValueError, match="one row per patient"):
        assess_patients(_patient(), np.array([V1, V2]), cutoff=12.0)
    for bad in (dict(baseline="screening"), dict(dating="exact"), dict(origin="infusion")):
        with pytest.raises(ValueError, match=next(iter(bad))):
            trials[0].trial_data(**bad)
    with pytest.raises(ValueError, match="horizon"):
        trials[0].at_cutoff(100.0)


def test_trial_data_is_a_trial_data(trials):
    assert isinstance(trials[0].trial_data(), TrialData)


# --------------------------------------------------------------------------- analyses side by side
CUTS = (1.5, 3.0, 6.0)


@pytest.fixture(scope="module")
def large_trial() -> AssessedTrial:
    return simulate_assessments(n=600, seed=12, accrual=12.0, cutoff=24.0)


@pytest.fixture(scope="module")
def dating_comparison(large_trial):
    from pexsurv.workflows.assessments import compare_pfs_dating

    return compare_pfs_dating(large_trial, CUTS, seed=2, draws=500)


def test_comparison_has_every_dating_and_baseline(dating_comparison):
    t = dating_comparison.table
    assert list(t.index) == [f"{b} scan, from randomization, {d}"
                             for b in ("enrolment", "infusion")
                             for d in ("true", "visit", "midpoint", "interval")]
    assert t["converged"].all()
    assert (t.loc[t["dating"] == "interval", "interval_censored"] > 400).all()
    assert (t.loc[t["dating"] != "interval", "interval_censored"] == 0).all()
    true_rows = t[t["dating"] == "true"]
    assert (true_rows["hr_vs_true"] == 1.0).all()


def test_visit_dating_moves_medians_late_and_interval_censoring_does_not(dating_comparison):
    t = dating_comparison.table
    for baseline in ("enrolment", "infusion"):
        rows = t[t["baseline"] == baseline].set_index("dating")
        for arm in ("car-t", "control"):
            shift = rows[f"median_{arm}_vs_true"]
            assert shift["visit"] > 0.4  # about half a visit interval or more
            assert abs(shift["interval"]) < 0.5 * shift["visit"]
    # (the HR moves too, but its direction depends on where the cuts fall against the
    # visits: validation/pfs_assessments.md measures it over many trials)


def test_infusion_scan_flatters_the_experimental_arm(dating_comparison):
    """Against the infusion scan, growth during manufacturing is not progression: the true
    HR and the experimental median PFS look better than against the enrolment scan."""
    t = dating_comparison.table[dating_comparison.table["dating"] == "true"].set_index(
        "baseline")
    assert t.loc["infusion", "hr_median"] < 0.85 * t.loc["enrolment", "hr_median"]
    assert t.loc["infusion", "median_car-t"] > t.loc["enrolment", "median_car-t"]


def test_kaplan_meier_medians_match_lifelines(dating_comparison, large_trial):
    from lifelines import KaplanMeierFitter

    t = dating_comparison.table.set_index(["baseline", "dating"])
    assert np.isnan(t.loc[("enrolment", "interval"), "km_median_control"])
    d = large_trial.trial_data(baseline="enrolment", dating="visit")
    for code, arm in enumerate(d.arms):
        m = d.arm == code
        km = KaplanMeierFitter().fit(d.time[m], d.event[m])
        median = t.loc[("enrolment", "visit"), f"km_median_{arm}"]
        # where the curve reaches 0.5 (up to rounding: an arm of even size can sit at
        # exactly 0.5 between two event times, where conventions differ)
        at, before = km.survival_function_at_times([median, median - 1e-9]).to_numpy()
        assert at <= 0.5 + 1e-9 and before >= 0.5 - 1e-9


def test_compare_pfs_dating_refuses_unknown_choices(large_trial):
    from pexsurv.workflows.assessments import compare_pfs_dating

    with pytest.raises(ValueError, match="datings"):
        compare_pfs_dating(large_trial, CUTS, datings=("exact",))
    with pytest.raises(ValueError, match="origins"):
        compare_pfs_dating(large_trial, CUTS, origins=())


def test_compare_analyses_adds_pfs_dating_rows(large_trial, dating_comparison):
    from pexsurv.workflows import compare_analyses
    from pexsurv.workflows.compare import ANALYSES

    itt_only = tuple(a for a in ANALYSES if a.label == "ITT")
    out = compare_analyses(large_trial.trial_data(dating="interval"), CUTS, seed=2, draws=500,
                           analyses=itt_only)
    assert list(out.table.index) == ["ITT", "ITT, progression dated at the visit",
                                     "ITT, progression at the interval midpoint"]
    assert out.table["dating"].tolist() == ["interval-censored", "visit", "midpoint"]
    # the same data and sampler settings as the dating comparison's enrolment rows
    ref = dating_comparison.table.set_index(["baseline", "dating"]).loc["enrolment"]
    for label, dating in zip(out.table.index, ("interval", "visit", "midpoint")):
        assert out.table.loc[label, "hr_median"] == pytest.approx(ref.loc[dating, "hr_median"],
                                                                  rel=0.03)
    exact = compare_analyses(large_trial.trial_data(dating="visit"), CUTS, seed=2, draws=500,
                             analyses=itt_only)
    assert list(exact.table.index) == ["ITT"] and "dating" not in exact.table
