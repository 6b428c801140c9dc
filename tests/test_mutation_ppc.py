"""The posterior predictive checks (diagnostics/ppc.py) on hand-built posteriors, no sampling:
every number of the three tables against a computation written here (brute-force cumulative
hazards, Kaplan-Meier and visit dating subject by subject), the verdicts at their thresholds,
the texts and the refusals (issue 18; record in benchmarks/mutation.md, section
``diagnostics/ppc.py``).

The module is loaded from its file (``tests/isolated.py``), so a mutation run imports the
mutated source. Replicate event and censoring times come from
``pexsurv.diagnostics.replicate`` (tested in tests/test_diagnostics.py), drawn here in the
order the checks document (posterior samples, then per replicate batch the event times, the
censoring times and the visit jitter), so that seeded tables can be compared number by number.
"""

from dataclasses import FrozenInstanceError

import numpy as np
import pandas as pd
import pytest
from isolated import load
from simtools import simulate_pem

from pexsurv import TrialData
from pexsurv.diagnostics.replicate import SubjectHazards, censoring_times, event_times
from pexsurv.fitting import FitResult, SamplerConfig
from pexsurv.models import RPSFT, PiecewiseExponential
from pexsurv.testing import fake_posterior

P = load("diagnostics/ppc.py")

CUTS = (2.0, 6.0)
RATES = np.array([0.3, 0.2, 0.1])
HR = 0.6


def trial(seed: int = 4, n: int = 40, **columns) -> TrialData:
    df = simulate_pem(seed, n, RATES, np.array(CUTS), np.log(HR))
    for name, values in columns.items():
        df[name] = values(df) if callable(values) else values
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id",
                                    **{k: k for k in columns})


def fake_fit(data: TrialData, *, rates=RATES, hr=HR, draws: int = 10, jitter: float = 0.2,
             spec=None) -> FitResult:
    tree = fake_posterior(cuts=CUTS, hazards=rates, hr=hr, chains=2, draws=draws, jitter=jitter,
                          seed=1, arms=data.arms)
    return FitResult(idata=tree, spec=spec or PiecewiseExponential(cuts=CUTS), priors={},
                     data=data, sampler=SamplerConfig())


@pytest.fixture(scope="module")
def data():
    return trial()


@pytest.fixture(scope="module")
def fit(data):
    return fake_fit(data)


# ------------------------------------------------------------------------- references
def cumhaz(rates: np.ndarray, t: float) -> float:
    """Piecewise-constant cumulative hazard at t, interval by interval."""
    edges = [0.0, *CUTS, np.inf]
    return sum(r * max(0.0, min(t, hi) - lo) for r, lo, hi in zip(rates, edges[:-1], edges[1:]))


def subject_rates(fit: FitResult) -> np.ndarray:
    """(sample, subject, interval) hazards from the posterior, by arm."""
    post = fit.posterior
    base = np.exp(post["log_hazard_base"].values.reshape(-1, len(RATES)))
    hr = post["hr"].values.reshape(-1)
    arm = fit.data.arm
    return base[:, None, :] * np.where(arm == 1, hr[:, None], 1.0)[..., None]


def km_at(time: np.ndarray, event: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Kaplan-Meier S(t) at each grid time, as the product over event times up to t."""
    out = []
    for g in grid:
        s = 1.0
        for u in np.unique(time[(event == 1) & (time <= g)]):
            s *= 1.0 - ((time == u) & (event == 1)).sum() / (time >= u).sum()
        out.append(s)
    return np.array(out)


def draw_samples(rng: np.random.Generator, n_samples: int, n_draws: int) -> np.ndarray:
    return np.sort(rng.choice(n_samples, size=n_draws, replace=n_draws > n_samples))


def replicate_trials(fit: FitResult, samples: np.ndarray, rng: np.random.Generator):
    hazards = SubjectHazards.from_result(fit)
    t_event = event_times(np.exp(hazards.log_rates(samples)), hazards.cuts, rng)
    return t_event, censoring_times(fit.data, samples.size, rng)


def ppc_reference(fit: FitResult, grid: np.ndarray, n_draws: int, seed: int, prob: float = 0.95,
                  batch: int | None = None):
    """(lower, median, upper, observed) of shape (arm, time) by replicate Kaplan-Meier
    curves, in batches of ``batch`` replicates (all at once by default)."""
    data = fit.data
    rng = np.random.default_rng(seed)
    samples = draw_samples(rng, SubjectHazards.from_result(fit).n_samples, n_draws)
    curves = []
    for lo in range(0, n_draws, batch or n_draws):
        t_event, t_censor = replicate_trials(fit, samples[lo:lo + (batch or n_draws)], rng)
        for te, tc in zip(t_event, t_censor, strict=True):
            time, event = np.minimum(te, tc), (te <= tc).astype(int)
            curves.append([km_at(time[data.arm == a], event[data.arm == a], grid) for a in (0, 1)])
    q = np.quantile(np.array(curves), [(1 - prob) / 2, 0.5, (1 + prob) / 2], axis=0)
    observed = np.array([km_at(data.time[data.arm == a], data.event[data.arm == a], grid)
                         for a in (0, 1)])
    return q[0], q[1], q[2], observed


# ------------------------------------------------------------------------- chunks
def test_chunks_bound_the_values_per_batch():
    per = P._CHUNK_VALUES // 2
    assert list(P._chunks(5, per)) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert list(P._chunks(4, per)) == [slice(0, 2), slice(2, 4)]
    assert list(P._chunks(3, P._CHUNK_VALUES)) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    assert list(P._chunks(3, 2 * P._CHUNK_VALUES)) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    assert list(P._chunks(3, 0)) == [slice(0, 3)]
    # no values per item (no subjects): one batch of up to _CHUNK_VALUES items
    assert list(P._chunks(P._CHUNK_VALUES, 0)) == [slice(0, P._CHUNK_VALUES)]
    assert list(P._chunks(3, 1)) == [slice(0, 3)]
    assert list(P._chunks(0, 1)) == []
    assert P._CHUNK_VALUES == 2_000_000


# ------------------------------------------------------------------------- assessment visits
VISITS = np.arange(1, 15) * 1.5  # every 1.5 up to 21, beyond the longest follow-up (12)


def dated_reference(t_event, t_censor, visits):
    """Subject by subject: the first visit at or after the event, if no later than the end
    of follow-up; NaN otherwise."""
    out = np.full(t_event.shape, np.nan)
    for idx in np.ndindex(t_event.shape):
        row = visits[idx[-1]] if visits.ndim == 2 else visits[idx]
        after = [v for v in row if not np.isnan(v) and v >= t_event[idx]]
        if after and min(after) <= t_censor[idx]:
            out[idx] = min(after)
    return out


def counts_reference(dated: np.ndarray, arm: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(arm, window) counts of one replicate: window j holds (edges[j-1], edges[j]]."""
    bounds = np.r_[-np.inf, edges, np.inf]
    out = np.zeros((2, edges.size + 1))
    for d, a in zip(dated, arm):
        if not np.isnan(d):
            j = next(j for j in range(edges.size + 1) if bounds[j] < d <= bounds[j + 1])
            out[a, j] += 1
    return out


def assessment_reference(fit, visits, edges, n_draws, seed, jitter=0.0, prob=0.95):
    data = fit.data
    rng = np.random.default_rng(seed)
    samples = draw_samples(rng, SubjectHazards.from_result(fit).n_samples, n_draws)
    t_event, t_censor = replicate_trials(fit, samples, rng)
    schedule = np.broadcast_to(np.asarray(visits, float), (data.n, np.shape(visits)[-1]))
    v = schedule[None] + (rng.uniform(-jitter, jitter, (n_draws, *schedule.shape))
                          if jitter > 0 else 0.0)
    v = np.broadcast_to(v, (n_draws, *schedule.shape))
    rep = np.array([counts_reference(dated_reference(t_event[r], t_censor[r], v[r]), data.arm,
                                     edges) for r in range(n_draws)])
    observed = counts_reference(np.where(data.event == 1, data.time, np.nan), data.arm, edges)
    mean = rep.mean(axis=0)
    keep = mean > 0
    t_obs = ((observed - mean)[keep] ** 2 / mean[keep]).sum()
    t_rep = np.array([((r - mean)[keep] ** 2 / mean[keep]).sum() for r in rep])
    lower = np.quantile(rep, (1 - prob) / 2, axis=0, method="inverted_cdf")
    upper = np.quantile(rep, (1 + prob) / 2, axis=0, method="inverted_cdf")
    return observed, mean, lower, upper, float(np.mean(t_rep >= t_obs))


def test_visit_matrix_broadcasts_one_schedule_and_keeps_rows():
    v = P._visit_matrix([1.0, 2.0], 3)
    assert v.shape == (3, 2) and (v == [1.0, 2.0]).all()
    rows = np.array([[1.0, 2.0, np.nan], [0.5, 3.0, 4.0]])
    np.testing.assert_array_equal(P._visit_matrix(rows, 2), rows)
    np.testing.assert_array_equal(P._visit_matrix([[1.0, 1.0]], 1), [[1.0, 1.0]])  # ties ok


@pytest.mark.parametrize(("visits", "message"), [
    (np.ones((3, 2)), r"one row of visit times per subject, shape \(2, m\); got shape \(3, 2\)"),
    (np.ones((1, 2)), r"one row of visit times per subject, shape \(2, m\); got shape \(1, 2\)"),
    (np.ones((2, 0)), r"got shape \(2, 0\)"),
    (np.empty(0), r"got shape \(0,\)"),
    (np.ones((2, 2, 1)), r"got shape \(2, 2, 1\)"),
    (5.0, r"got shape \(\)"),
    ([0.0, 1.0], "visit times must be finite and > 0"),
    ([-1.0, 1.0], "visit times must be finite and > 0"),
    ([1.0, np.inf], "visit times must be finite and > 0"),
    ([2.0, 1.0], "visit times must be increasing along each row"),
    ([[1.0, np.nan, 0.5], [1.0, 2.0, 3.0]], "increasing along each row"),
])
def test_visit_matrix_refuses(visits, message):
    with pytest.raises(ValueError, match=message):
        P._visit_matrix(visits, 2)


def test_visit_matrix_takes_rows_padded_with_several_nans_silently():
    rows = np.array([[1.0, 2.0, np.nan, np.nan], [1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(P._visit_matrix(rows, 2), rows)


@pytest.fixture(scope="module")
def visit_data():
    """Events dated at the first visit of VISITS at or after them (as in a trial with
    scheduled assessments); a subject whose event comes after their last visit is
    censored at it."""
    df = simulate_pem(8, 40, RATES, np.array(CUTS), np.log(HR))
    first = VISITS[np.searchsorted(VISITS, df["time"])]
    df["time"] = np.where(df["event"] == 1, first, df["time"])
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id")


@pytest.fixture(scope="module")
def visit_fit(visit_data):
    return fake_fit(visit_data)


@pytest.fixture(scope="module")
def assessment(visit_fit):
    return P.assessment_ppc(visit_fit, VISITS, n_draws=25, seed=9, ci_prob=0.8)


def test_window_edges_halfway_between_typical_visits_up_to_the_first_after_the_end():
    visits = np.array([[1.0, 2.0, 4.0, 8.0, 16.0], [1.0, 3.0, 5.0, 9.0, np.nan],
                       [1.0, 2.5, 4.5, 7.0, 12.0]])
    # medians 1, 2.5, 4.5, 8, 14; follow-up ends at 5: keep visits up to 8 (the first >= 5)
    np.testing.assert_allclose(P._window_edges(visits, 5.0), [1.75, 3.5, 6.25])
    # the end exactly at a visit keeps that visit as the last
    np.testing.assert_allclose(P._window_edges(visits, 4.5), [1.75, 3.5])
    np.testing.assert_allclose(P._window_edges(visits, 100.0), [1.75, 3.5, 6.25, 11.0])
    np.testing.assert_allclose(P._window_edges(visits, 0.5), [])


def test_dated_against_a_subject_by_subject_search():
    rng = np.random.default_rng(3)
    t_event = rng.uniform(0, 10, (4, 6))
    t_censor = rng.uniform(0, 12, (4, 6))
    visits = np.sort(rng.uniform(0, 11, (6, 5)), axis=1)
    visits[2, 3:] = np.nan  # a shorter schedule, NaN-padded
    t_event[0, 0] = visits[0, 2]  # an event exactly at a visit is dated at that visit
    t_censor[0, 0] = visits[0, 2]  # ... and seen when the follow-up ends at that visit
    t_event[1, 1], t_censor[1, 1] = visits[1, 1] - 0.1, visits[1, 1] - 0.01  # ends before
    got = P._dated(t_event, t_censor, visits[None])
    want = dated_reference(t_event, t_censor, visits)
    np.testing.assert_array_equal(got, want)
    assert got[0, 0] == visits[0, 2] and np.isnan(got[1, 1])
    assert np.isnan(got).any() and not np.isnan(got).all()
    # one visit schedule per replicate
    per_rep = np.sort(rng.uniform(0, 11, (4, 6, 5)), axis=-1)
    np.testing.assert_array_equal(P._dated(t_event, t_censor, per_rep),
                                  [dated_reference(t_event[r], t_censor[r], per_rep[r])
                                   for r in range(4)])


def test_window_counts_against_a_loop():
    rng = np.random.default_rng(4)
    edges = np.array([1.0, 2.5, 4.0])
    arm = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    dated = rng.choice([np.nan, 0.5, 1.0, 2.0, 2.5, 3.0, 4.0, 6.0], (3, 8))
    dated[0, :5] = [1.0, 2.5, 4.0, 4.0001, np.nan]  # on the edges: in the window they close
    got = P._window_counts(dated, arm, edges)
    assert got.shape == (3, 2, 4)
    np.testing.assert_array_equal(got, [counts_reference(d, arm, edges) for d in dated])
    np.testing.assert_array_equal(P._window_counts(dated[0], arm, edges),
                                  counts_reference(dated[0], arm, edges))
    # two edges, three windows per arm (codes 0-2 and 3-5: the arm offset shares bits with
    # the window number, unlike the four windows above)
    got = P._window_counts(dated, arm, edges[:2])
    np.testing.assert_array_equal(got, [counts_reference(d, arm, edges[:2]) for d in dated])


def test_assessment_table_against_subject_by_subject_replicates(visit_fit, assessment):
    data = visit_fit.data
    edges = P._window_edges(np.broadcast_to(VISITS, (data.n, VISITS.size)), data.time.max())
    assert 10.5 < data.time.max() <= 12.0  # windows up to the visit at 12
    np.testing.assert_allclose(edges, (VISITS[:7] + VISITS[1:8]) / 2)
    observed, mean, lower, upper, p = assessment_reference(visit_fit, VISITS, edges, 25, 9,
                                                           prob=0.8)
    t = assessment.table
    assert list(t.columns) == ["window", "arm", "observed", "replicated", "replicated_lower",
                               "replicated_upper", "inside"]
    labels = ["(0, 2.25]", "(2.25, 3.75]", "(3.75, 5.25]", "(5.25, 6.75]", "(6.75, 8.25]",
              "(8.25, 9.75]", "(9.75, 11.25]", "(11.25, inf)"]
    assert t["window"].tolist() == labels * 2
    assert t["arm"].tolist() == [data.arms[0]] * 8 + [data.arms[1]] * 8
    np.testing.assert_array_equal(t["observed"], observed.ravel())
    np.testing.assert_allclose(t["replicated"], mean.ravel())
    np.testing.assert_array_equal(t["replicated_lower"], lower.ravel())
    np.testing.assert_array_equal(t["replicated_upper"], upper.ravel())
    inside = (observed >= lower) & (observed <= upper)
    np.testing.assert_array_equal(t["inside"], inside.ravel())
    assert assessment.p_value == pytest.approx(p)
    assert 0 < p < 1 and observed.sum() == data.event.sum()
    assert (assessment.n_draws, assessment.ci_prob, assessment.min_p_value) == (25, 0.8, 0.05)
    assert assessment.schedule == "at one schedule"


def test_assessment_with_jitter_windows_and_per_subject_visits(visit_fit):
    data = visit_fit.data
    windows = np.array([3.0, 6.0, 9.0])
    per_subject = np.tile(VISITS, (data.n, 1))
    per_subject[::3, 13:] = np.nan  # shorter schedules for some subjects (NaN pads)
    check = P.assessment_ppc(visit_fit, per_subject, jitter=0.3, windows=windows, n_draws=21,
                             seed=2)
    observed, mean, lower, upper, p = assessment_reference(
        visit_fit, per_subject, windows, 21, 2, jitter=0.3)
    np.testing.assert_allclose(check.table["replicated"], mean.ravel())
    np.testing.assert_array_equal(check.table["replicated_lower"], lower.ravel())
    np.testing.assert_array_equal(check.table["replicated_upper"], upper.ravel())
    assert check.p_value == pytest.approx(p)
    assert check.schedule == "at per-subject visits +-0.3"
    assert check.table["window"].tolist() == ["(0, 3]", "(3, 6]", "(6, 9]", "(9, inf)"] * 2


@pytest.mark.parametrize("jitter", [0.2, 0.0])
def test_assessment_in_batches(visit_fit, monkeypatch, jitter):
    """Batches of replicates bounded by _CHUNK_VALUES: each draws event, censoring and
    (with jitter) visit times in turn from one generator (batches of 5 here)."""
    data = visit_fit.data
    monkeypatch.setattr(P, "_CHUNK_VALUES", 5 * data.n * VISITS.size + 1)
    check = P.assessment_ppc(visit_fit, VISITS, jitter=jitter, n_draws=12, seed=4)
    edges = P._window_edges(np.broadcast_to(VISITS, (data.n, VISITS.size)), data.time.max())
    rng = np.random.default_rng(4)
    samples = draw_samples(rng, 20, 12)
    rep = []
    for lo in range(0, 12, 5):
        t_event, t_censor = replicate_trials(visit_fit, samples[lo:lo + 5], rng)
        v = VISITS + (rng.uniform(-jitter, jitter, (t_event.shape[0], data.n, VISITS.size))
                      if jitter else np.zeros((t_event.shape[0], data.n, VISITS.size)))
        rep += [counts_reference(dated_reference(te, tc, vv), data.arm, edges)
                for te, tc, vv in zip(t_event, t_censor, v)]
    np.testing.assert_allclose(check.table["replicated"], np.mean(rep, axis=0).ravel())


def test_assessment_batches_are_bounded_by_the_intervals_when_they_outnumber_the_visits(
        visit_fit, monkeypatch):
    """With 2 visits and 3 model intervals, a batch holds n x 3 values per replicate."""
    data = visit_fit.data
    visits = np.array([6.0, 13.0])
    monkeypatch.setattr(P, "_CHUNK_VALUES", 2 * data.n * 3 + 1)  # batches of 2
    check = P.assessment_ppc(visit_fit, visits, jitter=0.5, n_draws=5, seed=6)
    edges = P._window_edges(np.broadcast_to(visits, (data.n, 2)), data.time.max())
    rng = np.random.default_rng(6)
    samples = draw_samples(rng, 20, 5)
    rep = []
    for lo in range(0, 5, 2):
        t_event, t_censor = replicate_trials(visit_fit, samples[lo:lo + 2], rng)
        v = visits + rng.uniform(-0.5, 0.5, (t_event.shape[0], data.n, 2))
        rep += [counts_reference(dated_reference(te, tc, vv), data.arm, edges)
                for te, tc, vv in zip(t_event, t_censor, v)]
    np.testing.assert_allclose(check.table["replicated"], np.mean(rep, axis=0).ravel())


def test_assessment_verdict_at_the_p_value_threshold(visit_fit, assessment):
    p = assessment.p_value
    kw = dict(n_draws=25, seed=9, ci_prob=0.8)
    assert P.assessment_ppc(visit_fit, VISITS, min_p_value=p, **kw).passed is True
    assert P.assessment_ppc(visit_fit, VISITS, min_p_value=p / 2, **kw).passed is True
    assert P.assessment_ppc(visit_fit, VISITS, min_p_value=p + 1e-9, **kw).passed is False


def test_assessment_check_fails_a_wrong_hazard(visit_data):
    """Hazards four times too high: replicates have more early events than observed, so
    cells lie below their interval (and others above)."""
    wrong = P.assessment_ppc(fake_fit(visit_data, rates=4 * RATES, jitter=0.0), VISITS,
                             n_draws=40, seed=1)
    assert wrong.passed is False and wrong.p_value < 0.05
    t = wrong.table
    below = t["observed"] < t["replicated_lower"]
    above = t["observed"] > t["replicated_upper"]
    assert below.any() and above.any()
    np.testing.assert_array_equal(t["inside"], ~below & ~above)


def test_assessment_p_value_leaves_out_windows_no_replicate_reaches(visit_fit):
    """A window after everyone's follow-up has replicate mean 0 and must not make the
    discrepancy infinite or NaN."""
    check = P.assessment_ppc(visit_fit, VISITS, windows=[3.0, 30.0], n_draws=10, seed=0)
    assert check.table["replicated"].tolist()[2::3] == [0.0, 0.0]
    assert 0 < check.p_value <= 1


def test_assessment_text(assessment):
    t = assessment.table
    verdict = "passed" if assessment.passed else "FAILED"
    assert assessment.text == (
        f"Events per visit window {verdict}: posterior predictive p-value "
        f"{assessment.p_value:.3f} (threshold 0.05) over 25 replicate trials assessed at one "
        f"schedule; {int((~t['inside']).sum())} of 16 window x arm cells outside their 80% "
        "interval.")
    assert assessment.name == "assessment_ppc"
    with pytest.raises(FrozenInstanceError):
        assessment.passed = False


def test_assessment_accepts_interval_censored_data():
    data = ic_trial()
    check = P.assessment_ppc(fake_fit(data), VISITS, n_draws=3, seed=0)
    assert check.table["observed"].sum() == data.event.sum()


@pytest.mark.parametrize(("kw", "message"), [
    (dict(n_draws=0), "n_draws must be >= 1, got 0"),
    (dict(jitter=-0.1), "jitter must be a finite number >= 0, got -0.1"),
    (dict(jitter=np.inf), "jitter must be a finite number >= 0, got inf"),
    (dict(jitter=np.nan), "jitter must be a finite number >= 0, got nan"),
    (dict(ci_prob=1.0), "ci_prob"),
    (dict(windows=[2.0, 1.0]), "cut"),
])
def test_assessment_refuses_bad_options(visit_fit, kw, message):
    with pytest.raises(ValueError, match=message):
        P.assessment_ppc(visit_fit, VISITS, **kw)


def test_assessment_single_draw(visit_fit):
    check = P.assessment_ppc(visit_fit, VISITS, n_draws=1, seed=0)
    assert (check.table["replicated_lower"] == check.table["replicated"]).all()


# ------------------------------------------------------------------------- events per interval
CHECK_CUTS = (1.0, 3.0, 6.0, 20.0)  # finer than the model's, and one interval nobody reaches


def expected_reference(fit: FitResult, check_cuts) -> np.ndarray:
    """(sample, arm, interval) expected events by cumulative hazards, subject by subject."""
    edges = [0.0, *check_cuts, np.inf]
    rates = subject_rates(fit)
    data = fit.data
    out = np.zeros((rates.shape[0], 2, len(edges) - 1))
    for s in range(rates.shape[0]):
        for i in range(data.n):
            for j, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
                t = data.time[i]
                out[s, data.arm[i], j] += (cumhaz(rates[s, i], min(t, hi))
                                           - cumhaz(rates[s, i], min(t, lo)))
    return out


@pytest.fixture(scope="module")
def events_check(fit):
    return P.observed_vs_expected_events(fit, cuts=CHECK_CUTS, ci_prob=0.5, seed=11)


def test_events_table_against_cumulative_hazards(fit, events_check):
    data = fit.data
    expected = expected_reference(fit, CHECK_CUTS)
    t = events_check.table
    assert list(t.columns) == ["interval", "arm", "exposure", "observed", "expected",
                               "expected_lower", "expected_upper", "predicted_lower",
                               "predicted_upper", "inside"]
    labels = ["(0, 1]", "(1, 3]", "(3, 6]", "(6, 20]", "(20, inf)"]
    assert t["interval"].tolist() == labels * 2
    assert t["arm"].tolist() == [data.arms[0]] * 5 + [data.arms[1]] * 5
    edges = [0.0, *CHECK_CUTS, np.inf]
    exposure = [[np.clip(data.time[data.arm == a], lo, hi).sum() - lo * (data.arm == a).sum()
                 for lo, hi in zip(edges[:-1], edges[1:])] for a in (0, 1)]
    events = [[((data.arm == a) & (data.event == 1) & (data.time > lo) & (data.time <= hi)).sum()
               for lo, hi in zip(edges[:-1], edges[1:])] for a in (0, 1)]
    np.testing.assert_allclose(t["exposure"], np.ravel(exposure))
    np.testing.assert_array_equal(t["observed"], np.ravel(events))
    np.testing.assert_allclose(t["expected"], expected.mean(axis=0).reshape(-1))
    np.testing.assert_allclose(t["expected_lower"], np.quantile(expected, 0.25, axis=0).ravel())
    np.testing.assert_allclose(t["expected_upper"], np.quantile(expected, 0.75, axis=0).ravel())


def test_events_p_value_and_predictive_intervals_from_seeded_poisson_replicates(fit, events_check):
    """The p-value's Poisson replicates come first from the seed, then the predictive
    counts; cells without person-time (after 20) are left out of the discrepancy."""
    expected = expected_reference(fit, CHECK_CUTS)
    t = events_check.table
    observed = t["observed"].to_numpy().reshape(2, 5)
    keep = (expected > 0).all(axis=0)
    assert keep.tolist() == [[True] * 4 + [False]] * 2
    rng = np.random.default_rng(11)
    mu = expected[:, keep]
    rep = rng.poisson(mu)
    t_obs = ((observed[keep] - mu) ** 2 / mu).sum(axis=1)
    t_rep = ((rep - mu) ** 2 / mu).sum(axis=1)
    assert events_check.p_value == pytest.approx(np.mean(t_rep >= t_obs))
    predicted = rng.poisson(expected)
    lower = np.quantile(predicted, 0.25, axis=0, method="inverted_cdf")
    upper = np.quantile(predicted, 0.75, axis=0, method="inverted_cdf")
    np.testing.assert_array_equal(t["predicted_lower"], lower.ravel())
    np.testing.assert_array_equal(t["predicted_upper"], upper.ravel())
    inside = (observed >= lower) & (observed <= upper)
    np.testing.assert_array_equal(t["inside"], inside.ravel())
    assert 0 < inside.sum() < inside.size  # both kinds of cell, so the rule is checked


def test_events_p_value_counts_ties_as_at_least_as_discrepant():
    """t_rep >= t_obs: a replicate exactly as discrepant as the data counts."""
    expected = np.array([[[1.0, 2.0]], [[3.0, 0.0]]])  # (sample, arm, cell)
    observed = np.array([[1.0, 5.0]])

    class Fixed:  # Poisson replicates equal to the observed counts: every t_rep == t_obs
        def poisson(self, mu):
            return np.broadcast_to(observed[:, :1], mu.shape).copy()

    assert P._pearson_p_value(observed, expected, Fixed()) == 1.0


def test_events_p_value_by_hand():
    expected = np.array([[[2.0, 4.0], [1.0, 0.0]], [[3.0, 1.0], [2.0, 1.0]]])  # (2, 2, 2)
    observed = np.array([[2.0, 7.0], [1.0, 0.0]])
    replicates = iter([np.array([[0.0, 4.0, 3.0], [3.0, 1.0, 5.0]])])

    class Fixed:
        def poisson(self, mu):
            assert mu.tolist() == [[2.0, 4.0, 1.0], [3.0, 1.0, 2.0]]  # cell (1, 1) dropped
            return next(replicates)

    # t_obs: draw 0: 0 + 9/4 + 0 = 2.25; draw 1: 1/3 + 36 + 1/2 = 36.83
    # t_rep: draw 0: 4/2 + 0 + 4/1 = 6 >= 2.25; draw 1: 0 + 0 + 9/2 = 4.5 < 36.83
    assert P._pearson_p_value(observed, expected, Fixed()) == 0.5


def test_events_on_the_models_own_cuts_by_default(fit):
    check = P.observed_vs_expected_events(fit, seed=0)
    assert check.table["interval"].tolist() == ["(0, 2]", "(2, 6]", "(6, inf)"] * 2
    np.testing.assert_allclose(check.table["expected"],
                               expected_reference(fit, CUTS).mean(axis=0).reshape(-1))
    assert (check.ci_prob, check.min_p_value) == (0.95, 0.05)
    t = check.table
    predicted = np.random.default_rng(0)
    predicted.poisson(expected_reference(fit, CUTS))  # the p-value's replicates
    draws = predicted.poisson(expected_reference(fit, CUTS))
    np.testing.assert_array_equal(
        t["predicted_lower"], np.quantile(draws, 0.025, axis=0, method="inverted_cdf").ravel())


def test_events_verdict_at_the_p_value_threshold(fit, events_check):
    p = events_check.p_value
    assert 0 < p < 1
    kw = dict(cuts=CHECK_CUTS, ci_prob=0.5, seed=11)
    assert P.observed_vs_expected_events(fit, min_p_value=p, **kw).passed is True
    assert P.observed_vs_expected_events(fit, min_p_value=p / 2, **kw).passed is True
    assert P.observed_vs_expected_events(fit, min_p_value=p + 1e-9, **kw).passed is False


def test_events_check_fails_a_wrong_hazard(data):
    """Hazards three times too high put observed counts below their predictive interval,
    three times too low above it."""
    wrong = P.observed_vs_expected_events(fake_fit(data, rates=3 * RATES, jitter=0.0), seed=1)
    assert wrong.passed is False and wrong.p_value == 0.0
    for rates, side in ((3 * RATES, "below"), (RATES / 3, "above")):
        t = P.observed_vs_expected_events(fake_fit(data, rates=rates, jitter=0.0), seed=1).table
        below = t["observed"] < t["predicted_lower"]
        above = t["observed"] > t["predicted_upper"]
        assert (below if side == "below" else above).any()
        np.testing.assert_array_equal(t["inside"], ~below & ~above)


def test_events_text(events_check):
    t = events_check.table
    n_out = int((~t["inside"]).sum())
    verdict = "passed" if events_check.passed else "FAILED"
    assert events_check.text == (
        f"Observed vs expected events {verdict}: posterior predictive p-value "
        f"{events_check.p_value:.3f} (threshold 0.05); {n_out} of 10 interval x arm cells "
        f"outside their 50% predictive interval; {t['observed'].sum():.0f} events observed, "
        f"{t['expected'].sum():.1f} expected.")


def test_failed_text_says_failed(data):
    check = P.observed_vs_expected_events(fake_fit(data, rates=3 * RATES), seed=1)
    assert check.text.startswith("Observed vs expected events FAILED: posterior predictive "
                                 "p-value 0.000 (threshold 0.05); ")


def test_events_refuses_a_bad_level(fit):
    with pytest.raises(ValueError, match="ci_prob"):
        P.observed_vs_expected_events(fit, ci_prob=0.0)


def test_expected_events_in_batches(fit, monkeypatch):
    """Batches of posterior samples bounded by _CHUNK_VALUES values (samples x subjects x
    pieces of the union of cut points: 3 x 40 x 5 here) give the same expected counts."""
    monkeypatch.setattr(P, "_CHUNK_VALUES", 3 * 40 * 5 + 1)
    chunks, calls = P._chunks, []

    def recorded(n, values_per_item):
        calls.append((n, values_per_item))
        return chunks(n, values_per_item)

    monkeypatch.setattr(P, "_chunks", recorded)
    hazards = SubjectHazards.from_result(fit)
    got = P._expected_events(hazards, fit.data, np.array(CHECK_CUTS))
    np.testing.assert_allclose(got, expected_reference(fit, CHECK_CUTS))
    assert calls == [(20, 40 * 5)]  # pieces: cut points 1, 2, 3, 6, 20


def test_events_on_an_odd_number_of_check_intervals(fit):
    check = P.observed_vs_expected_events(fit, cuts=(1.0, 3.0, 6.0), seed=0)
    np.testing.assert_allclose(check.table["expected"],
                               expected_reference(fit, (1.0, 3.0, 6.0)).mean(axis=0).ravel())


def test_replicate_batches_are_bounded_by_subjects_times_intervals(monkeypatch):
    """The memory bound of each batch counts every model interval (one cut: 2 intervals) and,
    for assessments, the larger of the visits per subject and the intervals."""
    data = trial()
    tree = fake_posterior(cuts=(3.0,), hazards=(0.2, 0.1), hr=HR, chains=2, draws=10,
                          jitter=0.2, seed=1, arms=data.arms)
    one_cut = FitResult(idata=tree, spec=PiecewiseExponential(cuts=(3.0,)), priors={},
                        data=data, sampler=SamplerConfig())
    chunks, calls = P._chunks, []

    def recorded(n, values_per_item):
        calls.append((n, values_per_item))
        return chunks(n, values_per_item)

    monkeypatch.setattr(P, "_chunks", recorded)
    P.posterior_predictive_survival(one_cut, times=[1.0], n_draws=3, seed=0)
    P.assessment_ppc(one_cut, [20.0], n_draws=4, seed=0)
    P.assessment_ppc(one_cut, [5.0, 10.0, 20.0], n_draws=5, seed=0)
    assert calls == [(3, 40 * 2), (4, 40 * 2), (5, 40 * 3)]


def test_default_numbers_of_replicates(fit, visit_fit):
    assert P.posterior_predictive_survival(fit, times=[1.0], seed=0).n_draws == 200
    assert P.assessment_ppc(visit_fit, VISITS, seed=0).n_draws == 200


def test_checks_are_immutable(km_check, events_check):
    for check in (km_check, events_check):
        with pytest.raises(FrozenInstanceError):
            check.passed = False
    assert (km_check.name, events_check.name) == ("posterior_predictive_survival",
                                                  "observed_vs_expected_events")


# ------------------------------------------------------------------------- Kaplan-Meier PPC
@pytest.fixture(scope="module")
def km_check(fit):
    return P.posterior_predictive_survival(fit, times=[0.5, 1.0, 3.0, 5.0, 8.0, 11.0],
                                           n_draws=30, seed=7)


def test_km_bands_equal_replicate_kaplan_meier_quantiles(fit, km_check):
    grid = np.array([0.5, 1.0, 3.0, 5.0, 8.0, 11.0])
    lower, median, upper, observed = ppc_reference(fit, grid, 30, 7)
    t = km_check.table
    assert list(t.columns) == ["time", "arm", "observed", "median", "lower", "upper", "inside"]
    np.testing.assert_array_equal(t["time"], np.tile(grid, 2))
    assert t["arm"].tolist() == [fit.data.arms[0]] * 6 + [fit.data.arms[1]] * 6
    np.testing.assert_allclose(t["observed"], observed.reshape(-1))
    np.testing.assert_allclose(t["lower"], lower.reshape(-1))
    np.testing.assert_allclose(t["median"], median.reshape(-1))
    np.testing.assert_allclose(t["upper"], upper.reshape(-1))
    inside = (observed >= lower) & (observed <= upper)
    np.testing.assert_array_equal(t["inside"], inside.reshape(-1))
    assert km_check.coverage.tolist() == pytest.approx(inside.mean(axis=1).tolist())
    assert km_check.coverage.index.tolist() == list(fit.data.arms)
    assert km_check.coverage.name == "coverage"
    assert (km_check.n_draws, km_check.ci_prob, km_check.min_coverage) == (30, 0.95, 0.9)


def test_km_bands_in_batches_when_the_chunk_bound_is_small(fit, monkeypatch):
    """Replicates are simulated in batches bounded by _CHUNK_VALUES (here 4 replicates of
    40 subjects x 3 intervals); the batches draw from one generator in turn."""
    monkeypatch.setattr(P, "_CHUNK_VALUES", 4 * 40 * 3 + 1)
    grid = np.array([1.0, 4.0, 9.0])
    check = P.posterior_predictive_survival(fit, times=grid, n_draws=10, seed=2, ci_prob=0.8)
    lower, median, upper, _ = ppc_reference(fit, grid, 10, 2, prob=0.8, batch=4)
    np.testing.assert_allclose(check.table["lower"], lower.reshape(-1))
    np.testing.assert_allclose(check.table["median"], median.reshape(-1))
    np.testing.assert_allclose(check.table["upper"], upper.reshape(-1))


@pytest.mark.parametrize("n_draws", [20, 21, 1])
def test_km_replicates_use_each_posterior_sample_once_unless_more_are_asked(fit, n_draws):
    """20 posterior samples: 20 replicates use each once (without replacement), 21 need
    replacement; the reference draws the samples the same way."""
    grid = np.array([2.0, 7.0])
    check = P.posterior_predictive_survival(fit, times=grid, n_draws=n_draws, seed=5)
    lower, median, upper, _ = ppc_reference(fit, grid, n_draws, 5)
    np.testing.assert_allclose(check.table["lower"], lower.reshape(-1))
    np.testing.assert_allclose(check.table["median"], median.reshape(-1))
    np.testing.assert_allclose(check.table["upper"], upper.reshape(-1))


def test_km_default_grid_is_40_times_up_to_the_longest_follow_up(fit, data):
    check = P.posterior_predictive_survival(fit, n_draws=3, seed=0)
    grid = np.linspace(0.0, data.time.max(), 41)[1:]
    np.testing.assert_allclose(check.table["time"], np.tile(grid, 2))
    assert P._GRID_POINTS == 40


def test_km_check_passes_at_the_truth_and_fails_a_wrong_hazard(data):
    """A Dirac posterior at the simulating hazards covers the observed curve; hazards
    three times too high leave it above the band."""
    right = P.posterior_predictive_survival(fake_fit(data, jitter=0.0), n_draws=60, seed=3)
    wrong = P.posterior_predictive_survival(fake_fit(data, rates=3 * RATES, jitter=0.0),
                                            n_draws=60, seed=3)
    assert right.passed is True and (right.coverage >= 0.9).all()
    assert wrong.passed is False and (wrong.coverage < 0.5).all()
    assert (wrong.table["observed"] >= wrong.table["lower"]).all()
    # Hazards three times too low: the observed curve falls below the band.
    low = P.posterior_predictive_survival(fake_fit(data, rates=RATES / 3, jitter=0.0),
                                          n_draws=60, seed=3).table
    below, above = low["observed"] < low["lower"], low["observed"] > low["upper"]
    assert below.any() and not above.all()
    np.testing.assert_array_equal(low["inside"], ~below & ~above)


def test_km_verdict_at_the_coverage_threshold(data):
    """passed is "every arm's coverage >= min_coverage": at the smaller coverage it passes,
    a hair above it fails, and one arm below is enough to fail (hazards 1.5 times too high
    leave the arms at different coverages)."""
    off = fake_fit(data, rates=1.5 * RATES, jitter=0.1)
    kw = dict(times=[0.5, 1.0, 3.0, 5.0, 8.0, 11.0], n_draws=30, seed=7)
    low, high = sorted(P.posterior_predictive_survival(off, **kw).coverage)
    assert low < high
    assert P.posterior_predictive_survival(off, min_coverage=low, **kw).passed is True
    assert P.posterior_predictive_survival(off, min_coverage=low + 1e-9, **kw).passed is False
    assert P.posterior_predictive_survival(off, min_coverage=high, **kw).passed is False


def test_km_coverage_in_the_datas_arm_order():
    """Coverage per arm in the data's order (reference first), not sorted by label."""
    df = simulate_pem(4, 40, RATES, np.array(CUTS), np.log(HR))
    df["arm"] = np.where(df["arm"] == 1, "drug", "placebo")
    data = TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id",
                                    reference="placebo")
    check = P.posterior_predictive_survival(fake_fit(data), times=[1.0, 5.0], n_draws=3, seed=0)
    assert check.coverage.index.tolist() == ["placebo", "drug"] == list(data.arms)


def test_km_text(km_check):
    c = km_check.coverage
    arms = c.index.tolist()
    verdict = "passed" if km_check.passed else "FAILED"
    assert km_check.text == (
        f"Kaplan-Meier posterior predictive check {verdict}: the observed curve lies inside "
        f"the 95% band of 30 replicate trials at {c.iloc[0]:.0%} (arm {arms[0]}), "
        f"{c.iloc[1]:.0%} (arm {arms[1]}) of 6 times (threshold 90%); replicate subjects "
        "with an event censored from the reverse Kaplan-Meier censoring distribution.")


def test_km_censoring_at_the_potential_censoring_time():
    data = trial(censor_time=lambda df: np.maximum(df["time"], 10.0))
    check = P.posterior_predictive_survival(fake_fit(data), times=[1.0, 5.0], n_draws=4, seed=1)
    assert check.censoring == "at their potential censoring time (censor_time)"
    assert check.text.endswith("censored at their potential censoring time (censor_time).")
    lower, median, upper, _ = ppc_reference(fake_fit(data), np.array([1.0, 5.0]), 4, 1)
    np.testing.assert_allclose(check.table["median"], median.reshape(-1))


def test_observed_km_steps_from_time_zero_to_the_end_of_follow_up(km_check, data):
    km = km_check.km
    assert list(km.columns) == ["arm", "time", "survival"]
    assert km.index.equals(pd.RangeIndex(len(km)))  # one row per step, numbered across arms
    for code, label in enumerate(data.arms):
        m = data.arm == code
        curve = km[km["arm"] == label]
        times = np.unique(data.time[m & (data.event == 1)])
        np.testing.assert_allclose(curve["time"], np.r_[0.0, times, data.time[m].max()])
        s = km_at(data.time[m], data.event[m], times)
        np.testing.assert_allclose(curve["survival"], np.r_[1.0, s, s[-1]])


def test_observed_km_of_an_arm_without_events():
    df = pd.DataFrame({"time": [1.0, 2.0, 3.0, 4.0], "event": [1, 0, 0, 0], "arm": [0, 0, 1, 1]})
    km = P._observed_km(TrialData.from_dataframe(df, time="time", event="event", arm="arm"))
    assert km["time"].tolist() == [0.0, 1.0, 2.0, 0.0, 4.0]
    assert km["survival"].tolist() == [1.0, 0.5, 0.5, 1.0, 1.0]
    assert km["arm"].tolist() == ["0", "0", "0", "1", "1"]  # the data's arm labels


@pytest.mark.parametrize("times", [[], [1.0, np.inf], [1.0, np.nan], [-0.5, 1.0]])
def test_km_refuses_a_bad_grid(fit, times):
    with pytest.raises(ValueError, match="times must be a non-empty grid of finite times >= 0"):
        P.posterior_predictive_survival(fit, times=times, n_draws=2)


def test_km_accepts_a_grid_from_time_zero(fit):
    check = P.posterior_predictive_survival(fit, times=[[0.0, 2.0]], n_draws=2, seed=0)
    assert check.table["time"].tolist() == [0.0, 2.0, 0.0, 2.0]
    assert check.table["upper"].tolist()[0] == 1.0


def test_km_refuses_no_draws_and_a_bad_level(fit):
    with pytest.raises(ValueError, match="n_draws must be >= 1, got 0"):
        P.posterior_predictive_survival(fit, n_draws=0)
    with pytest.raises(ValueError, match="ci_prob"):
        P.posterior_predictive_survival(fit, n_draws=2, ci_prob=1.5)


def ic_trial() -> TrialData:
    return trial(time_lower=lambda df: np.where(df["event"] == 1, df["time"] * 0.8, df["time"]))


def test_checks_on_the_time_scale_refuse_interval_censored_events():
    data = ic_trial()
    n = int(data.interval_censored.sum())
    assert 0 < n < data.n
    for check, what in ((P.posterior_predictive_survival,
                         "the Kaplan-Meier posterior predictive check"),
                        (P.observed_vs_expected_events, "observed_vs_expected_events")):
        with pytest.raises(ValueError) as info:
            check(fake_fit(data))
        assert str(info.value) == (
            f"{what} compares exact event times, and {n} event(s) are interval-censored (dated "
            "at the visit that found them): use assessment_ppc(result, visits=...), which "
            "replicates the assessment process")


def test_checks_refuse_models_they_cannot_replicate(data):
    spec = PiecewiseExponential(cuts=CUTS, exposure="received")
    with pytest.raises(ValueError, match="exposure='assigned' only"):
        P.posterior_predictive_survival(fake_fit(data, spec=spec), n_draws=2)
    with pytest.raises(ValueError, match="PiecewiseExponential models, not RPSFT"):
        P.observed_vs_expected_events(fake_fit(data, spec=RPSFT(cuts=CUTS)))


def test_assessment_p_value_counts_replicates_as_discrepant_as_observed():
    """p = P(T_rep >= T_obs): a replicate exactly as discrepant as the data counts. Hazards
    so high that every event falls before the first visit, in the data and in every
    replicate: all window counts agree, both statistics are 0, and p is 1 (not 0)."""
    df = pd.DataFrame({"id": np.arange(10), "arm": [0, 1] * 5, "time": VISITS[0], "event": 1})
    data = TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id")
    check = P.assessment_ppc(fake_fit(data, rates=np.full(3, 1e4), hr=1.0, jitter=0.0), VISITS,
                             n_draws=5, seed=0)
    np.testing.assert_array_equal(check.table["observed"], check.table["replicated"])
    assert check.p_value == 1.0 and check.passed is True


def test_visit_rows_of_more_than_256_subjects():
    """The row count is compared by value (CPython caches only small ints)."""
    n = 300
    visits = np.tile([1.0, 2.0, np.nan], (n, 1))
    assert P._visit_matrix(visits, n).shape == (n, 3)


def test_check_options_are_keyword_only(fit, visit_fit):
    with pytest.raises(TypeError):
        P.posterior_predictive_survival(fit, [1.0])
    with pytest.raises(TypeError):
        P.observed_vs_expected_events(fit, [1.0, 3.0])
    with pytest.raises(TypeError):
        P.assessment_ppc(visit_fit, VISITS, 0.1)


def test_assessment_with_as_many_replicates_as_posterior_samples_uses_each_once(visit_fit):
    """20 replicates of a 2 x 10 posterior: drawn without replacement (each sample once)."""
    n = SubjectHazards.from_result(visit_fit).n_samples
    assert n == 20
    check = P.assessment_ppc(visit_fit, VISITS, n_draws=n, seed=3)
    data = visit_fit.data
    edges = P._window_edges(np.broadcast_to(VISITS, (data.n, VISITS.size)), data.time.max())
    _, mean, lower, upper, p = assessment_reference(visit_fit, VISITS, edges, n, 3)
    np.testing.assert_allclose(check.table["replicated"], mean.ravel())
    np.testing.assert_array_equal(check.table["replicated_lower"], lower.ravel())
    assert check.p_value == pytest.approx(p)
