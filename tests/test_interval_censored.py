"""Interval-censored events (issue 15): the data model, the PEM likelihood against
independent computations, parameter recovery, the visit-scale PPC and SBC."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import xarray as xr

from pexsurv import TrialData
from pexsurv import _names as N
from pexsurv.data import TrialDataError, require_exact_times
from pexsurv.diagnostics.convergence import ConvergenceWarning
from pexsurv.intervals import (IntervalSupportWarning, equal_events, exposure_table,
                               observation_times, warn_unsupported_intervals,
                               zero_hazard_support)
from pexsurv.models import PiecewiseExponential
from pexsurv.priors import IndependentNormal, Normal


# --------------------------------------------------------------------------- data model
def _frame() -> pd.DataFrame:
    return pd.DataFrame({"id": ["a", "b", "c", "d"], "lo": [2.0, 0.0, 5.0, np.nan],
                         "hi": [4.0, 2.0, 5.0, 6.0], "e": [1, 1, 0, 0], "arm": [0, 1, 1, 0],
                         "ts": [1.0, 1.5, 1.0, 1.0], "sw": [np.nan, np.nan, np.nan, 3.0]})


def _load(df: pd.DataFrame, **extra) -> TrialData:
    return TrialData.from_dataframe(df, id="id", time="hi", event="e", arm="arm",
                                    time_lower="lo", **extra)


def test_time_lower_is_loaded_with_nan_of_censored_rows_read_as_time():
    data = _load(_frame())
    assert data.time_lower.tolist() == [2.0, 0.0, 5.0, 6.0]
    assert data.interval_censored.tolist() == [True, True, False, False]
    assert not data.time_lower.flags.writeable
    assert data.to_frame()["time_lower"].tolist() == [2.0, 0.0, 5.0, 6.0]
    assert data.summary()["interval_censored"].sum() == 2


@pytest.mark.parametrize(("lo", "problem", "bad_id"), [
    ([5.0, 0, 5, 6], "lower bound after the time", "a"),
    ([np.nan, 0, 5, 6], "missing lower bound", "a"),
    ([2.0, 0, 4, 6], "censored rows with time_lower != time", "c"),
    ([2.0, -1, 5, 6], "negative lower bounds", "b"),
    ([np.inf, 0, 5, 6], "infinite lower bounds", "a"),
    (["x", 0, 5, 6], "non-numeric values", "a"),
])
def test_bad_lower_bounds_are_refused_naming_column_ids_and_fix(lo, problem, bad_id):
    with pytest.raises(TrialDataError, match=problem) as err:
        _load(_frame().assign(lo=lo))
    message = str(err.value)
    assert "column 'lo'" in message and f"ids: {bad_id}" in message and "Fix:" in message


def test_date_events_visit_and_midpoint():
    data = _load(_frame(), treatment_start="ts")
    visit = data.date_events("visit")
    assert visit.time_lower is None and visit.time.tolist() == data.time.tolist()
    mid = data.date_events("midpoint")
    assert mid.time.tolist() == [3.0, 1.0, 5.0, 6.0] and mid.time_lower is None
    # b's treatment start (1.5) lies after its midpoint-dated event (1.0): not observed.
    assert np.isnan(mid.treatment_start[1]) and mid.treatment_start[0] == 1.0
    assert "midpoint" in mid.notes[-1] and "ids: b" in mid.notes[-1]
    with pytest.raises(ValueError, match="how must be one of"):
        data.date_events("left")
    exact = data.date_events("visit")
    assert exact.date_events("midpoint") is exact


def test_fingerprint_sees_time_lower_and_keeps_exact_keys():
    data = _load(_frame())
    assert data.fingerprint() != data.date_events("visit").fingerprint()
    plain = TrialData.from_dataframe(_frame(), id="id", time="hi", event="e", arm="arm")
    assert plain.fingerprint() == data.date_events("visit").fingerprint()


def test_populations_carry_time_lower():
    data = _load(_frame(), treatment_start="ts", switch_time="sw")
    shifted = data.from_treatment_start()
    # a: (2, 4] -> (1, 3]; b: (0, 2] starts before its treatment start 1.5 -> (0, 0.5].
    assert shifted.time_lower.tolist() == [1.0, 0.0, 4.0, 5.0]
    assert "time_lower before treatment start set to 0" in shifted.notes[-1]
    kept = data.derive(np.array([True, True, False, True]))
    assert kept.time_lower.tolist() == [2.0, 0.0, 6.0]


def test_per_protocol_censors_at_the_interval_start_when_the_switch_falls_inside():
    df = _frame().assign(sw=[3.0, np.nan, np.nan, 3.0])  # a: event in (2, 4], switch at 3
    pp = _load(df, switch_time="sw").per_protocol()
    assert pp.time.tolist() == [2.0, 2.0, 5.0, 3.0]
    assert pp.event.tolist() == [0, 1, 0, 0]
    assert pp.time_lower.tolist() == [2.0, 0.0, 5.0, 3.0]


# --------------------------------------------------------------------------- helpers
def assessed_trial(seed: int, n: int, *, rate: float = 0.25, hr: float = 0.5,
                   every: float = 1.4, jitter: float = 0.0, follow_up=(6.0, 18.0),
                   extra: bool = False) -> pd.DataFrame:
    """Exponential progression times found at assessments every ``every`` months (plus
    uniform jitter of +-``jitter``): the trial records (last negative visit, first positive
    visit]; censoring at the last visit before the end of follow-up. With ``extra``, a
    stratum, a numeric covariate (no effect) and treatment starts are added."""
    rng = np.random.default_rng(seed)
    arm = rng.permutation(np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)])
    t = rng.exponential(1.0 / (rate * np.where(arm == 1, hr, 1.0)))
    end = rng.uniform(*follow_up, n)
    k = np.arange(1, 200)
    visits = k * every + rng.uniform(-jitter, jitter, (n, k.size))
    visits = np.where(visits < end[:, None], visits, np.inf)  # no visit after the cut-off
    first_pos = (visits >= t[:, None]).argmax(axis=1)
    found = np.isfinite(visits[np.arange(n), first_pos]) & (visits[np.arange(n), first_pos] >= t)
    last_visit = np.where(np.isfinite(visits), visits, 0.0).max(axis=1)
    upper = np.where(found, visits[np.arange(n), first_pos], last_visit)
    lower = np.where(found, np.where(first_pos > 0, visits[np.arange(n), first_pos - 1], 0.0),
                     upper)
    keep = upper > 0  # a subject with no assessment has no follow-up
    df = pd.DataFrame({"id": np.arange(n), "arm": arm, "lo": lower, "time": upper,
                       "event": found.astype(int), "true_time": t})[keep]
    if extra:
        df["region"] = rng.choice(["asia", "europe"], len(df))
        df["age"] = rng.normal(60.0, 10.0, len(df))
        ts = rng.uniform(0.2, 1.5, len(df))
        df["ts"] = np.where(ts < df["time"], ts, np.nan)
    return df.reset_index(drop=True)


def load(df: pd.DataFrame, **extra) -> TrialData:
    return TrialData.from_dataframe(df, id="id", time="time", event="event", arm="arm",
                                    time_lower="lo", **extra)


# --------------------------------------------------------------------------- likelihood
def _fake_posterior(spec, data, rng) -> tuple[xr.Dataset, dict]:
    """One chain of two draws of every parameter the log-likelihood reads."""
    k = len(spec.cuts) + 1
    n_strata = len(data.stratum_levels) if spec.strata else None
    base = rng.normal(np.log(0.2), 0.4, (1, 2, *(() if n_strata is None else (n_strata,)), k))
    base_dims = ("chain", "draw", *(("stratum",) if n_strata else ()), "interval")
    ds = {N.LOG_HAZARD_BASE: (base_dims, base), N.LOG_HR: (("chain", "draw"),
                                                            rng.normal(-0.5, 0.3, (1, 2)))}
    if spec.effect == "piecewise":
        ds[N.LOG_HR_PERIOD] = (("chain", "draw", "period"), rng.normal(-0.5, 0.3, (1, 2, k)))
    if spec.covariates:
        ds[N.BETA] = (("chain", "draw", "covariate"), rng.normal(0.0, 0.05, (1, 2, 1)))
    return xr.Dataset(ds), {name: v[1] for name, v in ds.items()}


def _direct_log_likelihood(spec, data, draw: dict, j: int) -> np.ndarray:
    """Each subject's log-likelihood from its hazard function by numerical integration
    (scipy quad): log h(T) - H(T), -H(T), or log of the integral of h(t) S(t) over (L, R]."""
    from scipy.integrate import quad

    cuts = np.asarray(spec.cuts)
    strata = data.stratum_index()
    on_from, off_from = data.on_experimental_from()
    x = (data.covariates["age"] - data.covariates["age"].mean()) if spec.covariates else None
    out = []
    for i in range(data.n):
        def h(t, i=i):
            kk = int(np.searchsorted(cuts, t, side="left"))
            b = draw[N.LOG_HAZARD_BASE][0, j]
            b = b[strata[i], kk] if spec.strata else b[kk]
            if spec.exposure == "received":
                on = not np.isnan(on_from[i]) and on_from[i] < t <= off_from[i]
            else:
                on = data.arm[i] == 1
            g = (draw[N.LOG_HR_PERIOD][0, j, kk] if spec.effect == "piecewise"
                 else draw[N.LOG_HR][0, j])
            eta = b + on * g + (0.0 if x is None else draw[N.BETA][0, j, 0] * x[i])
            return np.exp(eta)

        points = sorted({*cuts.tolist(), *[p for p in (on_from[i], off_from[i])
                                            if np.isfinite(p)]})

        def big_h(t, h=h, points=points):
            inner = [p for p in points if 0 < p < t]
            return quad(h, 0.0, t, points=inner or None, epsabs=1e-13, epsrel=1e-12,
                        limit=200)[0] if t > 0 else 0.0

        lo, hi = data.time_lower[i], data.time[i]
        if data.event[i] == 0:
            out.append(-big_h(hi))
        elif lo == hi:
            out.append(np.log(h(hi)) - big_h(hi))
        else:
            inner = [p for p in points if lo < p < hi]
            mass = quad(lambda t, h=h, big_h=big_h: h(t) * np.exp(-big_h(t)), lo, hi,
                        points=inner or None, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
            out.append(np.log(mass))
    return np.array(out)


SPECS = {
    "ph": dict(),
    "piecewise+strata": dict(effect="piecewise", strata=True),
    "covariate": dict(covariates=("age",)),
    "received": dict(exposure="received", strata=True),
}


# The likelihood is checked on deliberately small data, whose intervals hold few observation
# times; identification is not what these tests are about.
SMALL_DATA = pytest.mark.filterwarnings("ignore::pexsurv.intervals.IntervalSupportWarning")


@SMALL_DATA
@pytest.mark.parametrize("options", SPECS.values(), ids=SPECS.keys())
def test_pointwise_log_likelihood_equals_numerical_integral(options):
    df = assessed_trial(3, 24, extra=True)
    events = np.flatnonzero(df["event"] == 1)
    # One event exactly observed, one in an interval starting at 0 (no person-time
    # before it), the rest interval-censored between visits; some subjects censored.
    df.loc[events[0], "lo"] = df.loc[events[0], "time"]
    df.loc[events[1], "lo"] = 0.0
    data = load(df, strata="region", covariates=["age"], treatment_start="ts")
    assert data.interval_censored.sum() >= 5 and (data.event == 0).sum() >= 3
    spec = PiecewiseExponential(cuts=[1.0, 3.0], **options)
    posterior, draw = _fake_posterior(spec, data, np.random.default_rng(0))
    ll = spec.pointwise_log_likelihood(posterior, data).values[0]
    for j in range(2):
        np.testing.assert_allclose(ll[j], _direct_log_likelihood(spec, data, draw, j),
                                   rtol=0, atol=1e-6)


@SMALL_DATA
@pytest.mark.parametrize("options", SPECS.values(), ids=SPECS.keys())
def test_graph_likelihood_matches_pointwise(options):
    """The sampled graph's likelihood (Poisson cells + Bernoulli interval term) moves with
    the parameters exactly as the per-patient log-likelihood (checked against quad above):
    their differences between random parameter points agree (constants of the Poisson
    form cancel)."""
    df = assessed_trial(4, 40, extra=True)
    data = load(df, strata="region", covariates=["age"], treatment_start="ts")
    spec = PiecewiseExponential(cuts=[1.0, 3.0], **options)
    model = spec.build(data)
    rvs = model.unobserved_RVs
    fn = model.compile_fn([*model.replace_rvs_by_values(rvs),
                           model.logp(vars=model.observed_RVs)], inputs=model.value_vars,
                          point_fn=True)
    rng = np.random.default_rng(1)
    graph, pointwise = [], []
    for _ in range(3):
        point = {k: v + rng.normal(0.0, 0.5, np.shape(v))
                 for k, v in model.initial_point().items()}
        *values, logp = fn(point)
        dims = {rv.name: model.named_vars_to_dims.get(rv.name, ()) for rv in rvs}
        posterior = xr.Dataset({rv.name: (("chain", "draw", *dims[rv.name]), v[None, None])
                                for rv, v in zip(rvs, values, strict=True)})
        graph.append(float(logp))
        pointwise.append(float(spec.pointwise_log_likelihood(posterior, data).sum()))
    np.testing.assert_allclose(np.diff(graph), np.diff(pointwise), rtol=1e-9, atol=1e-7)


def test_one_interval_log_likelihood_matches_lifelines_exponential_mle():
    """cuts=[] is an exponential model per arm: at lifelines' interval-censored MLE
    (fit_interval_censoring, per arm) our log-likelihood equals lifelines' and is maximal."""
    from lifelines import ExponentialFitter

    data = load(assessed_trial(5, 300))
    assert data.interval_censored.sum() > 100
    spec = PiecewiseExponential(cuts=[])
    upper = np.where(data.event == 1, data.time, np.inf)  # lifelines: inf = right-censored
    rate, loglik = [], 0.0
    for code in (0, 1):
        m = data.arm == code
        fitted = ExponentialFitter().fit_interval_censoring(data.time_lower[m], upper[m])
        rate.append(1.0 / fitted.lambda_)
        loglik += fitted.log_likelihood_

    def ours(log_rate0: float, log_hr: float) -> float:
        post = xr.Dataset({N.LOG_HAZARD_BASE: (("chain", "draw", "interval"), [[[log_rate0]]]),
                           N.LOG_HR: (("chain", "draw"), [[log_hr]])})
        return float(spec.pointwise_log_likelihood(post, data).sum())

    at_mle = (np.log(rate[0]), np.log(rate[1] / rate[0]))
    assert ours(*at_mle) == pytest.approx(loglik, abs=1e-6)
    for step in ((0.01, 0.0), (-0.01, 0.0), (0.0, 0.01), (0.0, -0.01)):
        assert ours(at_mle[0] + step[0], at_mle[1] + step[1]) < ours(*at_mle)


# --------------------------------------------------------------------------- fitting
TRUE_RATE, TRUE_HR = 0.25, 0.5
CUTS = [1.5, 3.0, 6.0]


@pytest.fixture(scope="module")
def recovery():
    """One large trial assessed every 6 weeks (+-1 week): the interval-censored fit and the
    visit-dated fit of the same data, and a compiled model for re-use."""
    from pexsurv.fitting import SamplerConfig, compile_spec, fit

    data = load(assessed_trial(11, 800, rate=TRUE_RATE, hr=TRUE_HR, jitter=0.23))
    spec = PiecewiseExponential(cuts=CUTS)
    config = SamplerConfig(draws=500, tune=500, chains=4, seed=3, progress=False)
    compiled = compile_spec(spec, data, config)
    ic = fit(spec, data, compiled=compiled, sampler=config)
    visit = fit(spec, data.date_events("visit"), sampler=config)
    return {"data": data, "spec": spec, "config": config, "compiled": compiled, "ic": ic,
            "visit": visit}


def test_interval_censored_fit_recovers_truth_where_visit_dating_is_biased(recovery):
    from pexsurv.models import median_survival

    true_median = {"0": np.log(2) / TRUE_RATE, "1": np.log(2) / (TRUE_RATE * TRUE_HR)}
    ic, visit = recovery["ic"], recovery["visit"]
    assert ic.convergence.passed
    hr = ic.posterior[N.HR].values.ravel()
    assert np.quantile(hr, 0.025) < TRUE_HR < np.quantile(hr, 0.975)
    med_ic, med_visit = median_survival(ic), median_survival(visit)
    for arm, truth in true_median.items():
        draws_ic = med_ic.sel(arm=arm).values.ravel()
        draws_visit = med_visit.sel(arm=arm).values.ravel()
        assert np.quantile(draws_ic, 0.025) < truth < np.quantile(draws_ic, 0.975)
        # Visit dating moves every event to the visit that found it (on average about
        # half a visit interval, 0.7 months, later): the median comes out too long.
        assert np.median(draws_visit) - np.median(draws_ic) > 0.3
        assert abs(np.median(draws_ic) - truth) < abs(np.median(draws_visit) - truth)
        if arm == "0":  # the short control median: the bias exceeds the uncertainty
            assert np.quantile(draws_visit, 0.025) > truth


def test_compiled_model_is_reused_for_data_of_the_same_size(recovery):
    from pexsurv.fitting import fit

    other = load(assessed_trial(12, 800, rate=TRUE_RATE, hr=TRUE_HR, jitter=0.23))
    assert other.n == recovery["data"].n
    spec, config = recovery["spec"], recovery["config"]
    reused = fit(spec, other, compiled=recovery["compiled"], sampler=config)
    fresh = fit(spec, other, sampler=config)
    np.testing.assert_array_equal(reused.posterior[N.LOG_HR].values,
                                  fresh.posterior[N.LOG_HR].values)
    # A graph built with the interval term refuses data without it, and vice versa,
    # instead of keeping the old rows.
    with pytest.raises(ValueError, match="same shape"):
        fit(spec, other.date_events("visit"), compiled=recovery["compiled"], sampler=config)


def test_per_patient_log_likelihood_of_a_fit_includes_the_interval_term(recovery):
    from pexsurv.models.loglik import log_likelihood_tree

    ic = recovery["ic"]
    ll = log_likelihood_tree(ic)["log_likelihood"]["survival"]
    data = recovery["data"]
    assert ll.sizes["subject"] == data.n
    # Every interval-censored subject's total is log P(L < T <= R) < 0, and the term
    # differs from treating the event as censored at L.
    censored_at_l = data.derive(np.ones(data.n, dtype=bool), event=np.where(
        data.interval_censored, 0, data.event), time=data.time_lower.clip(1e-9),
        time_lower=None)
    ll_cens = ic.spec.pointwise_log_likelihood(ic.posterior, censored_at_l)
    diff = (ll - ll_cens.values).values[..., data.interval_censored]
    assert (diff < 0).all()


# --------------------------------------------------------------------------- PPC
SCHEDULE = np.arange(1, 200) * 1.4


def test_assessment_ppc_passes_the_true_schedule_and_fails_a_wrong_one(recovery):
    from pexsurv.diagnostics.ppc import assessment_ppc

    ic = recovery["ic"]
    good = assessment_ppc(ic, SCHEDULE, jitter=0.23, n_draws=200, seed=1)
    assert good.passed, good.text
    assert good.table["observed"].sum() == recovery["data"].event.sum()
    # Replicates assessed every 8 weeks instead of 6 put the events in other windows.
    windows = (SCHEDULE[:13] + SCHEDULE[1:14]) / 2  # the true visit windows, to 19 months
    wrong = assessment_ppc(ic, np.arange(1, 200) * 1.85, jitter=0.23, n_draws=200, seed=1,
                           windows=windows)
    assert not wrong.passed and wrong.p_value < 0.01, wrong.text


def test_assessment_plot_draws_intervals_that_exclude_their_mean(recovery):
    """A mostly-zero replicate count has its mean above its upper quantile; the plot drew
    error bars around the mean and raised "'yerr' must not contain negative values"."""
    import dataclasses

    from pexsurv.diagnostics.ppc import assessment_ppc

    check = assessment_ppc(recovery["ic"], SCHEDULE, jitter=0.23, n_draws=50, seed=1)
    table = check.table.copy()
    table.loc[table.index[-1], ["replicated_lower", "replicated_upper"]] = 0.0
    table.loc[table.index[-1], "replicated"] = 0.4
    fig = dataclasses.replace(check, table=table).plot()
    assert all(ax.get_title() and ax.get_xlabel() for ax in fig.axes)


def test_time_scale_checks_refuse_interval_censored_data(recovery):
    from pexsurv.diagnostics.ppc import observed_vs_expected_events, posterior_predictive_survival

    for check in (posterior_predictive_survival, observed_vs_expected_events):
        with pytest.raises(ValueError, match="assessment_ppc"):
            check(recovery["ic"], seed=1)


# --------------------------------------------------------------------------- SBC
def test_assess_records_the_visit_interval_or_the_last_visit():
    from pexsurv.workflows.sbc_interval import assess

    visits = [1.4, 2.8, 4.2]
    lower, upper, event = assess(np.array([0.3, 1.4, 3.0, 5.0, 3.0]),
                                 np.array([9.0, 9.0, 9.0, 9.0, 4.0]), visits)
    # Found at 1.4 in (0, 1.4]; at exactly a visit: that visit; at 4.2 in (2.8, 4.2];
    # after the last visit: censored at 4.2; follow-up ends at 4.0 before 4.2: censored
    # at 2.8, the last time seen event-free.
    assert lower.tolist() == [0.0, 0.0, 2.8, 4.2, 2.8]
    assert upper.tolist() == [1.4, 1.4, 4.2, 4.2, 2.8]
    assert event.tolist() == [1, 1, 1, 0, 0]
    with pytest.raises(ValueError, match="before the first visit"):
        assess(np.array([1.0]), np.array([1.0]), visits)


SBC_PRIORS = {"log_hazard_base": IndependentNormal(mu=float(np.log(0.3)), sigma=0.5),
              "log_hr": Normal(0.0, 0.5)}


def _small_sbc(monkeypatch=None):
    from pexsurv.fitting import SamplerConfig
    from pexsurv.workflows.sbc_interval import interval_censored_sbc

    template = load(assessed_trial(21, 80, rate=0.3, hr=0.7, every=1.4))
    spec = PiecewiseExponential(cuts=[2.0], priors=SBC_PRIORS)
    with warnings.catch_warnings():
        # 2 x 200 draws miss the ESS threshold of a reported fit (400) by design; the
        # ranks need only the 80 kept draws to be about independent (checked below).
        warnings.simplefilter("ignore", ConvergenceWarning)
        sbc = interval_censored_sbc(spec, template, 30, visits=np.arange(1, 40) * 1.4,
                                    draws=200, thin=5, seed=5, progress=False,
                                    config=SamplerConfig(chains=2, tune=300))
    assert (sbc.fits["min_ess_bulk"] > sbc.max_rank).all()
    assert (sbc.fits["divergences"] == 0).all()
    return sbc


def test_interval_censored_sbc_ranks_are_uniform():
    sbc = _small_sbc()
    assert sbc.ranks.shape == (30, 3) and sbc.max_rank == 80
    assert sbc.passed, sbc.table
    # Mean fractional ranks near 0.5: the interval-censored fit is unbiased for the truth.
    assert sbc.table["mean_rank"].between(0.35, 0.65).all(), sbc.table


def test_sbc_detects_visit_dating(monkeypatch):
    """The same SBC with the replicates' events dated at the visit (no time_lower): the
    hazards come out too low, the truths rank high, and the check fails."""
    from pexsurv.workflows import sbc_interval

    real = sbc_interval.assess

    def visit_dated(t_event, t_end, visits):
        _, upper, event = real(t_event, t_end, visits)
        return upper, upper, event

    monkeypatch.setattr(sbc_interval, "assess", visit_dated)
    sbc = _small_sbc()
    assert not sbc.passed
    assert (sbc.table.loc[sbc.table.index.str.startswith("log_hazard_base"), "mean_rank"]
            > 0.7).any(), sbc.table


def test_graph_log_density_and_gradient_stay_finite_at_extreme_hazards():
    """Huge hazards (P(event in the interval) = 1 to double precision) and tiny ones
    (Delta H ~ 1e-13) must not produce NaN or inf gradients, which NUTS reads as
    divergences."""
    data = load(assessed_trial(6, 40))
    model = PiecewiseExponential(cuts=[2.0]).build(data)
    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    for level in (8.0, 40.0, 600.0, -30.0, -750.0):
        point = {"log_hazard_base": np.full(2, level), "log_hr": np.array(0.3)}
        assert np.isfinite(logp(point)) and np.isfinite(dlogp(point)).all(), level


def test_prior_centre_with_no_control_event_is_the_pooled_rate():
    """No event in the control arm: the baseline prior centres on the pooled crude rate
    (this raised UnboundLocalError for exposure='assigned')."""
    df = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [0, 0, 1, 1], "a": [0, 0, 1, 1]})
    data = TrialData.from_dataframe(df, time="t", event="e", arm="a")
    centre = PiecewiseExponential(cuts=[]).data_driven_priors(data)
    assert centre["log_hazard_base"]["mu"] == pytest.approx(np.log(2 / 10))


def test_replicate_dating_and_window_counts_by_hand():
    from pexsurv.diagnostics.ppc import _dated, _visit_matrix, _window_counts

    # Two subjects with their own visits (NaN-padded): events at 0.5, 2.1 and 3.5.
    visits = _visit_matrix(np.array([[1.0, 2.0, 3.0], [1.5, 3.0, np.nan]]), 2)
    dated = _dated(np.array([[0.5, 2.1], [3.5, 3.5]]), np.array([[9.0, 9.0], [9.0, 2.5]]),
                   visits[None])
    # 0.5 -> 1.0; 2.1 -> 3.0; 3.5: after the last visit, not seen; 3.5 > end 2.5, not seen.
    np.testing.assert_array_equal(dated, [[1.0, 3.0], [np.nan, np.nan]])
    counts = _window_counts(dated, np.array([0, 1]), np.array([1.25, 2.5]))
    assert counts[0].tolist() == [[1, 0, 0], [0, 0, 1]] and counts[1].sum() == 0
    with pytest.raises(ValueError, match="increasing"):
        _visit_matrix(np.array([2.0, 1.0]), 2)


def test_compiled_model_reads_the_new_data_row_layout():
    """Re-using a compiled model on data with the same number of likelihood rows but other
    covariate values (or intervals, arms) must fit the new data: the row layout is pm.Data
    (it was baked in as constants, and such a fit silently used the first data's
    covariates: beta 0.84 instead of -0.44 here)."""
    from pexsurv.fitting import SamplerConfig, compile_spec, fit

    rng = np.random.default_rng(0)
    x = rng.normal(size=100)
    df = pd.DataFrame({"t": rng.exponential(5 * np.exp(-0.8 * x)), "e": 1,
                       "a": np.arange(100) % 2, "x": x})
    first = TrialData.from_dataframe(df, time="t", event="e", arm="a", covariates=["x"])
    other = TrialData.from_dataframe(df.assign(x=-2 * x), time="t", event="e", arm="a",
                                     covariates=["x"])
    spec = PiecewiseExponential(cuts=[3.0], covariates=("x",))
    assert spec.design(first).n_rows == spec.design(other).n_rows
    config = SamplerConfig(draws=300, tune=300, chains=2, seed=1, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short chains; equality matters
        reused = fit(spec, other, compiled=compile_spec(spec, first, config), sampler=config)
        fresh = fit(spec, other, sampler=config)
    np.testing.assert_array_equal(reused.posterior[N.BETA].values, fresh.posterior[N.BETA].values)


def test_saved_interval_censored_fit_loads_with_its_lower_bounds(recovery, tmp_path):
    from pexsurv.fitting import FitResult

    path = recovery["ic"].save(tmp_path / "ic.nc")
    back = FitResult.load(path)
    assert np.array_equal(back.data.time_lower, recovery["data"].time_lower)
    assert back.data.fingerprint() == recovery["data"].fingerprint()


# ----------------------------------------------------------------- identification of the cuts
def test_observation_times_count_every_time_and_positive_lower_bounds_by_hand():
    df = pd.DataFrame({"lo": [1.5, 0.0, 2.2, np.nan], "hi": [3.0, 1.5, 2.2, 4.0],
                       "e": [1, 1, 1, 0], "arm": [0, 1, 1, 0]})
    data = TrialData.from_dataframe(df, time="hi", event="e", arm="arm", time_lower="lo")
    # times 3.0, 1.5, 2.2 (exact), 4.0 (censored); lower bounds 1.5 (0.0 says nothing)
    assert observation_times(data, [1.0, 2.0, 2.5]).tolist() == [0, 2, 1, 2]
    assert observation_times(data, [2.5, 5.0]).tolist() == [3, 2, 0]


DUE_DATES = (1.61, 3.22, 4.83, 6.44)  # the 7-weekly visits' due dates (months)


@pytest.fixture(scope="module")
def assessed_pfs():
    """Interval-censored PFS (enrolment scan) of simulated trials: seed 1, and seeds 5 and
    8 whose due-date fits passed / failed their convergence check in
    ``validation/pfs_assessments`` (both scans) and ``benchmarks/ic_cuts``."""
    from pexsurv.simulate import simulate_assessments

    sims = {s: simulate_assessments(seed=s) for s in (1, 5, 8)}
    out = {d: sims[1].trial_data(baseline="enrolment", dating=d) for d in ("interval", "true")}
    out.update({s: sims[s].trial_data(baseline="enrolment", dating="interval") for s in (5, 8)})
    return out


def _profile_support_by_brute_force(data: TrialData, cuts: tuple[float, ...]) -> np.ndarray:
    """The drop in the maximised log-likelihood when each interval's hazard is 0, written
    from the survival function (S(L) - S(R) for interval-censored events, f(t) for exact
    ones, S(t) for censored) and maximised without gradients (Nelder-Mead, two starts)."""
    from scipy.optimize import minimize

    edges = np.r_[0.0, cuts, np.inf]
    ic = data.interval_censored

    def cum_hazard(t, lam):
        return sum(l_ * np.clip(np.minimum(t, b) - a, 0.0, None)
                   for l_, a, b in zip(lam, edges[:-1], edges[1:]))

    def loglik(lam, beta):
        r = np.exp(beta * data.arm)
        s_lo = np.exp(-r * cum_hazard(data.time_lower, lam))
        s_hi = np.exp(-r * cum_hazard(data.time, lam))
        h_at = lam[np.searchsorted(cuts, data.time)] * r
        with np.errstate(divide="ignore"):
            per = np.where(ic, np.log(s_lo - s_hi),
                           np.where(data.event == 1, np.log(h_at) + np.log(s_hi),
                                    np.log(s_hi)))
        return per.sum()

    def best(zero):
        keep = [j for j in range(len(edges) - 1) if j != zero]

        def neg(theta):
            lam = np.zeros(len(edges) - 1)
            lam[keep] = np.exp(theta[:-1])
            value = -loglik(lam, theta[-1])
            return value if np.isfinite(value) else 1e12

        fits = [minimize(neg, np.r_[np.full(len(keep), x), 0.0], method="Nelder-Mead",
                         options={"maxiter": 40_000, "maxfev": 40_000, "xatol": 1e-9,
                                  "fatol": 1e-11})
                for x in (-1.0, -3.0)]
        return min(f.fun for f in fits)

    full = best(None)
    return np.array([best(j) - full for j in range(len(edges) - 1)])


def test_zero_hazard_support_equals_a_brute_force_profile_likelihood(assessed_pfs):
    """Seed 8 with cuts at the due dates: no visit falls late enough to pin the hazard
    beyond 6.44 months (support about 0.7, the fit failed); every earlier interval holds
    whole event intervals (infinite support)."""
    data = assessed_pfs[8]
    support = zero_hazard_support(data, DUE_DATES)
    brute = _profile_support_by_brute_force(data, DUE_DATES)
    assert np.isinf(support[:4]).all() and (brute[:4] > 1e11).all()
    assert support[4] == pytest.approx(brute[4], abs=1e-4)
    assert 0.5 < support[4] < 1.0


def test_zero_hazard_support_is_zero_for_an_interval_between_two_visits():
    """Visits at 1 and 3 only: a hazard in (1, 2] can be moved to (2, inf) without changing
    any observed probability, so neither is bounded away from 0; (0, 1] holds whole event
    intervals."""
    df = pd.DataFrame({"lo": [0.0, 0.0, 1.0, 1.0, 1.0, 3.0], "hi": [1.0, 1.0, 3.0, 3.0, 3.0, 3.0],
                       "e": [1, 1, 1, 1, 1, 0], "arm": [0, 1, 0, 1, 1, 0]})
    d = TrialData.from_dataframe(df, time="hi", event="e", arm="arm", time_lower="lo")
    support = zero_hazard_support(d, [1.0, 2.0])
    assert np.isinf(support[0]) and support[1:] == pytest.approx([0.0, 0.0], abs=1e-6)
    with pytest.warns(IntervalSupportWarning, match=r"\(1, 2\] \(zero-hazard support 0.00, 0 "
                      r"observation times\), \(2, inf\) \(zero-hazard support 0.00, 4 obs"):
        warn_unsupported_intervals(d, [1.0, 2.0])


def test_support_warning_fires_where_fits_failed_and_not_where_only_few_times_fell(
        assessed_pfs):
    """Over 400 fits of 200 trials with cuts at the due dates, the warning flags every fit
    that failed its convergence check (a zero hazard in the last interval hardly lowers the
    likelihood: seed 8, both scans) and stays silent where an interval merely holds few
    observation times (seed 5: 7 beyond 6.44 months, all bounding whole event intervals;
    the earlier rule, < 10 observation times, flagged it and the fit converged)."""
    with pytest.warns(IntervalSupportWarning, match=r"\(6.44, inf\) \(zero-hazard support 0.69"):
        PiecewiseExponential(cuts=DUE_DATES).build(assessed_pfs[8])
    assert observation_times(assessed_pfs[5], DUE_DATES)[-1] < 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PiecewiseExponential(cuts=DUE_DATES).build(assessed_pfs[5])
        PiecewiseExponential(cuts=DUE_DATES).build(assessed_pfs["interval"])
        # exactly dated events rule out a zero hazard wherever they fall: no warning
        PiecewiseExponential(cuts=[1.0, 2.0, 3.0, 4.0, 6.0]).build(assessed_pfs["true"])
    # quantile cuts between consecutive visit dates split a cluster of visits (the fit
    # failed in 37 of 40 trials): the short interval's hazard moves to its neighbour
    split = equal_events(assessed_pfs["interval"], k=8, min_width=0.0)
    assert observation_times(assessed_pfs["interval"], split).min() >= 20
    with pytest.warns(IntervalSupportWarning, match=r"\(3.1\d*, 3.2\d*\] \(zero-hazard "
                      r"support 0.00,"):
        PiecewiseExponential(cuts=split).build(assessed_pfs["interval"])


def test_equal_events_on_interval_censored_data_cuts_at_the_visits_one_interval_apart(
        assessed_pfs):
    ic = assessed_pfs["interval"]
    cuts = equal_events(ic, k=8)
    visits = np.unique(ic.time[ic.interval_censored])
    assert np.isin(cuts, np.concatenate([visits, ic.time[~ic.interval_censored]])).all()
    half = 0.5 * np.median((ic.time - ic.time_lower)[ic.interval_censored])
    assert (np.diff(np.r_[0.0, cuts]) >= half).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_unsupported_intervals(ic, cuts)
    # exactly observed data keep the SAS rule (midpoints between event times)
    assert len(equal_events(assessed_pfs["true"], k=8)) == 7


# ------------------------------------------------- exact-time methods refuse interval censoring
def test_exact_time_methods_refuse_interval_censored_data_and_name_the_fix(assessed_pfs):
    ic = assessed_pfs["interval"]
    fix = r'date_events\("visit"\)'
    with pytest.raises(TrialDataError, match=r"column 'time_lower': exposure_table\(\) needs "
                       r"exact event times.*ids: .*" + fix):
        exposure_table(ic, [2.0])
    with pytest.raises(TrialDataError, match=r"logrank_z\(\) needs exact.*" + fix):
        require_exact_times(ic, "logrank_z()")
    from pexsurv.models import counterfactual_times, ipe, rpsftm_gestimate

    for method in (rpsftm_gestimate, ipe, lambda d: counterfactual_times(d, -0.5)):
        with pytest.raises(TrialDataError, match=r"counterfactual survival times \(RPSFT, IPE, "
                           r"TSE\) needs exact event times.*" + fix):
            method(ic)
    from pexsurv.longdata import LongData
    from pexsurv.models import ipcw

    long = LongData.from_dataframe(pd.DataFrame({"id": ic.id, "tstart": 0.0, "tstop": ic.time}),
                                   ic, id="id", tstart="tstart", tstop="tstop")
    with pytest.raises(TrialDataError, match=r"ipcw\(\) needs exact event times.*" + fix):
        ipcw(ic, long)
    dated = ic.date_events("visit")  # the explicit opt-in
    tab = exposure_table(dated, [2.0])
    assert int(tab["events"].sum()) == int(dated.event.sum())
    assert require_exact_times(dated, "x") is dated


def test_summary_names_the_visit_dated_median(assessed_pfs):
    ic = assessed_pfs["interval"]
    assert "median_time_to_event_at_visit" in ic.summary()
    assert "median_time_to_event" not in ic.summary()
    assert "median_time_to_event" in assessed_pfs["true"].summary()


def test_report_dates_interval_censored_events_at_the_visit_and_says_so(recovery):
    """The report's Cox HR, log-rank p and Kaplan-Meier need one time per event: on an
    interval-censored fit they use the visit-dated data, and the notes and legend say so."""
    import matplotlib.pyplot as plt

    from pexsurv.cox import cox_hr
    from pexsurv.workflows import hazard_ratio_report

    report = hazard_ratio_report({"IC": recovery["ic"]}, checks=False)
    visit = recovery["data"].date_events("visit")
    # (the table is rounded; visit dating keeps ``time``, so this is a consistency check and
    # the notes and legend below are what fails without the labelling)
    assert report.table["cox_hr"].iloc[0] == pytest.approx(
        cox_hr(visit.time, visit.event, visit.arm).hr, rel=2e-3)
    assert any("dated at the visit" in n or "date them at the visit" in n for n in report.notes)
    fig = report.plot_survival("IC")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("Kaplan-Meier (events dated at the visit)" in x for x in labels)
    plt.close(fig)
