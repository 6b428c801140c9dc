"""What every frequentist switching adjustment shares (models/rpsft/estimate.py): the
per-subject arrays and their resampling, the trial bootstrap (each replicate's indices
against a draw written by hand from the same ``SeedSequence`` child), the percentile limits
against numpy, the bootstrap HR and the result's headline HR, interval kind, counts and
comparison row (issue 18; record in benchmarks/mutation.md, section
``models/rpsft/estimate.py``).

The module is loaded from its file (``tests/isolated.py``), so a mutation run imports each
mutant fresh in a fork of a server that has already imported PyMC and the package.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import FrozenInstanceError

import numpy as np
import pandas as pd
import pytest
from isolated import load

from pexsurv.cox import cox_hr
from pexsurv.models.rpsft.counterfactual import Counterfactual
from pexsurv.simulate import simulate_rpsft, simulate_two_way_switching

E = load("models/rpsft/estimate.py")


@pytest.fixture(scope="module")
def one_way():
    """60 patients, control-arm switching only; strata added (unsorted text labels)."""
    data = simulate_rpsft(60, seed=4)
    strata = np.array(["b", "a", "c"])[np.arange(data.n) % 3]
    return dataclasses.replace(data, strata=strata)


@pytest.fixture(scope="module")
def two_way():
    return simulate_two_way_switching(60, seed=5)


def arrays_of(data, **extra):
    return E.TrialArrays.from_data(data, Counterfactual.from_data(data), **extra)


# ---------------------------------------------------------------- TrialArrays


def test_from_data_copies_the_columns(one_way):
    cf = Counterfactual.from_data(one_way)
    x = np.arange(one_way.n, dtype=float)
    a = E.TrialArrays.from_data(one_way, cf, two_way=True, x=x)
    np.testing.assert_array_equal(a.time, one_way.time)
    assert a.event.dtype == float
    np.testing.assert_array_equal(a.event, one_way.event)
    np.testing.assert_array_equal(a.experimental, one_way.arm == 1)
    assert a.experimental.dtype == bool
    np.testing.assert_array_equal(a.strata, one_way.strata)
    assert a.cf is cf and a.two_way is True and list(a.extra) == ["x"] and a.extra["x"] is x
    assert arrays_of(one_way).two_way is False and arrays_of(one_way).extra == {}
    direct = E.TrialArrays(time=a.time, event=a.event, experimental=a.experimental,
                           strata=None, cf=cf, extra={})
    assert direct.two_way is False  # the dataclass default: one-way switching
    with pytest.raises(TypeError):
        E.TrialArrays.from_data(one_way, cf, True)  # two_way is keyword-only
    with pytest.raises(FrozenInstanceError):
        a.time = x
    # eq=False: compared (and hashed) by identity, as arrays cannot be compared as a whole.
    assert a != E.TrialArrays.from_data(one_way, cf, two_way=True, x=x)
    hash(a)  # eq=True on a frozen dataclass would hash the arrays: TypeError


def test_take_resamples_every_array_together(one_way):
    x = np.arange(one_way.n, dtype=float) * 10
    a = arrays_of(one_way, x=x)
    a = dataclasses.replace(a, two_way=True)
    index = np.array([5, 5, 0, 59, 17])
    b = a.take(index)
    np.testing.assert_array_equal(b.time, one_way.time[index])
    np.testing.assert_array_equal(b.event, one_way.event[index].astype(float))
    np.testing.assert_array_equal(b.experimental, one_way.arm[index] == 1)
    np.testing.assert_array_equal(b.strata, one_way.strata[index])
    np.testing.assert_array_equal(b.extra["x"], x[index])
    assert b.two_way is True
    for f in ("time_on", "time_off", "event", "censor", "modifier"):
        np.testing.assert_array_equal(getattr(b.cf, f), getattr(a.cf, f)[index])
    no_strata = dataclasses.replace(a, strata=None).take(index)
    assert no_strata.strata is None


def by_hand_one_way(data, psi):
    """rpsftm's U* (recensored at min(C, C e^psi) in the control arm) from the raw columns,
    for a trial whose experimental arm is on therapy throughout."""
    t, sw, c = data.time, data.switch_time, data.censor_time
    t_on = np.where(data.arm == 1, t, np.where(np.isfinite(sw), t - sw, 0.0))
    u = (t - t_on) + math.exp(psi) * t_on
    c_star = np.where(data.arm == 0, min(1.0, math.exp(psi)) * c, np.inf)
    return np.minimum(u, c_star), data.event * (u <= c_star)


@pytest.mark.parametrize("psi", [-0.6, 0.4])
def test_adjusted_one_way_against_raw_columns(one_way, psi):
    a = arrays_of(one_way)
    u, e = by_hand_one_way(one_way, psi)
    t, ev = a.adjusted(psi)
    ctrl = one_way.arm == 0
    np.testing.assert_allclose(t[ctrl], u[ctrl], rtol=1e-12)
    np.testing.assert_array_equal(ev[ctrl], e[ctrl])
    # the experimental arm keeps its observed times and events
    np.testing.assert_array_equal(t[~ctrl], one_way.time[~ctrl])
    np.testing.assert_array_equal(ev[~ctrl], one_way.event[~ctrl])


@pytest.mark.parametrize("psi", [-0.5, 0.3])
def test_adjusted_two_way_always_treated(two_way, psi):
    """two_way=True (default of always_treated): the experimental arm gets
    V = exp(-psi m) U*, the control arm U*; always_treated overrides two_way both ways."""
    cf = Counterfactual.from_data(two_way, treat_modifier=0.5 + np.arange(two_way.n) / two_way.n)
    u, e = cf.outcomes(np.array([psi]))
    exp = two_way.arm == 1
    v = np.exp(-psi * cf.modifier) * u[0]
    a = E.TrialArrays.from_data(two_way, cf, two_way=True)
    for arrays, flag in ((a, None), (dataclasses.replace(a, two_way=False), True)):
        t, ev = arrays.adjusted(psi, always_treated=flag)
        np.testing.assert_allclose(t, np.where(exp, v, u[0]), rtol=1e-12)
        np.testing.assert_array_equal(ev, e[0])
    t, ev = a.adjusted(psi, always_treated=False)
    np.testing.assert_array_equal(t, np.where(exp, two_way.time, u[0]))
    np.testing.assert_array_equal(ev, np.where(exp, two_way.event, e[0]))
    assert not np.array_equal(t, np.where(exp, v, u[0]))


def test_cox_is_the_stratified_cox_of_the_experimental_arm(one_way):
    a = arrays_of(one_way)
    t, ev = a.adjusted(-0.5)
    got = a.cox(t, ev, 0.2)
    ref = cox_hr(t, ev, one_way.arm, strata=one_way.strata, alpha=0.2)
    assert list(got) == ["hr", "lower", "upper", "log_hr", "se"]
    for k in got:
        assert got[k] == pytest.approx(getattr(ref, k), rel=1e-12)
    unstratified = cox_hr(t, ev, one_way.arm, alpha=0.2)
    assert got["hr"] != pytest.approx(unstratified.hr, rel=1e-6)


# ---------------------------------------------------------------- resampling groups


def test_resampling_groups_by_hand():
    exp = np.array([True, False, True, False, True, False])
    np.testing.assert_array_equal(E.resampling_groups(exp, None), [1, 0, 1, 0, 1, 0])
    assert E.resampling_groups(exp, None).dtype == np.int64
    strata = np.array(["z", "z", "a", "m", "m", "a"])
    # sorted labels a=0, m=1, z=2; code 2 * stratum + arm
    np.testing.assert_array_equal(E.resampling_groups(exp, strata), [5, 4, 1, 2, 3, 0])
    a = E.TrialArrays(time=np.ones(6), event=np.ones(6), experimental=exp, strata=strata,
                      cf=None, extra={})
    np.testing.assert_array_equal(a.groups(), [5, 4, 1, 2, 3, 0])


# ---------------------------------------------------------------- bootstrap


def by_hand_indices(groups, n_boot, seed):
    """Replicate b: the b-th child of SeedSequence(seed); within each group (in increasing
    code order) as many draws with replacement from its members as it has."""
    out = []
    for b in range(n_boot):
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(n_boot)[b])
        parts = []
        for g in sorted(set(groups.tolist())):
            members = [i for i, x in enumerate(groups) if x == g]
            parts.append(rng.choice(np.array(members), size=len(members)))
        out.append(np.concatenate(parts))
    return out


def test_bootstrap_indices_match_a_draw_by_hand():
    groups = np.array([3, 0, 1, 3, 0, 0, 1, 3, 3, 0, 1])
    seen = []

    def replicate(index):
        seen.append(index.copy())
        return float(index.sum()), float(index.size)

    out = E.bootstrap(replicate, groups, 7, seed=11)
    expected = by_hand_indices(groups, 7, 11)
    assert len(seen) == 7
    for got, want in zip(seen, expected, strict=True):
        np.testing.assert_array_equal(got, want)
        # each group keeps its size and its own members
        np.testing.assert_array_equal(groups[got], np.sort(groups))
    assert list(out.columns) == ["psi", "log_hr"]
    assert out.shape == (7, 2) and (out.dtypes == float).all()
    np.testing.assert_array_equal(out["psi"], [float(w.sum()) for w in expected])
    np.testing.assert_array_equal(out["log_hr"], 11.0)


def test_bootstrap_prefix_does_not_depend_on_n_boot_and_columns_are_named():
    groups = np.array([0, 1] * 5)
    x = np.arange(10.0)
    short = E.bootstrap(lambda i: (x[i].mean(),), groups, 3, seed=2, columns=("m",))
    long = E.bootstrap(lambda i: (x[i].mean(),), groups, 6, seed=2, columns=("m",))
    assert list(short.columns) == ["m"]
    pd.testing.assert_frame_equal(short, long.iloc[:3])
    other = E.bootstrap(lambda i: (x[i].mean(),), groups, 3, seed=3, columns=("m",))
    assert not short.equals(other)
    # n_boot given as a float count still runs that many replicates
    assert len(E.bootstrap(lambda i: (x[i].mean(),), groups, 4.0, seed=2, columns=("m",))) == 4


def test_bootstrap_counts_failed_rows_and_warns_at_the_callers_caller(one_way):
    rows = iter([(1.0, 2.0), (np.nan, 2.0), (3.0, np.nan), (4.0, 5.0), (np.nan, np.nan)])
    a = arrays_of(one_way)
    hr = {"hr": 2.0, "lower": 1.0, "upper": 4.0, "log_hr": math.log(2.0), "se": 0.3}
    with pytest.warns(UserWarning) as record:
        boot, _, _ = E.bootstrap_intervals(lambda i: next(rows), a, 5, 1, hr, 0.1)
    assert len(record) == 1
    assert str(record[0].message) == ("3 of 5 bootstrap replicates failed (no estimate); the "
                                      "bootstrap intervals use the others")
    assert record[0].filename == __file__  # stacklevel 3: the estimator's caller
    assert boot.isna().sum().tolist() == [2, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        E.bootstrap(lambda i: (1.0, 2.0), np.zeros(4, int), 3, seed=1)


# ---------------------------------------------------------------- limits and HR


def test_percentile_limits_against_numpy():
    v = np.array([0.3, np.nan, -1.0, 2.5, np.inf, 0.7, -np.inf, 1.1, 0.0, 4.0])
    finite = v[np.isfinite(v)]
    for alpha in (0.05, 0.3, 0.5):
        lo, hi = E.percentile_limits(v, alpha)
        assert (lo, hi) == (np.quantile(finite, alpha / 2), np.quantile(finite, 1 - alpha / 2))
        assert type(lo) is float and type(hi) is float
    assert E.percentile_limits(v, 0.3)[0] < E.percentile_limits(v, 0.3)[1]


def test_boot_hr_against_numpy():
    log_hr = np.array([0.1, -0.4, 0.35, 0.9, -0.05, np.nan])
    boot = pd.DataFrame({"psi": np.zeros(6), "log_hr": log_hr})
    hr = {"hr": 1.5, "lower": 1.1, "upper": 2.0, "log_hr": 0.4, "se": 0.2}
    got = E.boot_hr(hr, boot, 0.2)
    finite = log_hr[:5]
    assert got == {"hr": 1.5, "lower": math.exp(np.quantile(finite, 0.1)),
                   "upper": math.exp(np.quantile(finite, 0.9)), "log_hr": 0.4,
                   "se": float(np.std(finite, ddof=1))}
    assert type(got["se"]) is float


def test_bootstrap_intervals_is_the_arm_within_stratum_bootstrap(one_way):
    a = arrays_of(one_way)
    groups = E.resampling_groups(one_way.arm == 1, one_way.strata)
    time = one_way.time

    def replicate(index):
        return float(time[index].mean()), float(np.log(time[index]).mean())

    hr = {"hr": 0.7, "lower": 0.5, "upper": 0.9, "log_hr": math.log(0.7), "se": 0.1}
    boot, psi_ci, hr_boot = E.bootstrap_intervals(replicate, a, 9.0, 21, hr, 0.25)
    want = E.bootstrap(replicate, groups, 9, 21)
    pd.testing.assert_frame_equal(boot, want)
    assert psi_ci == E.percentile_limits(want["psi"].to_numpy(), 0.25)
    assert hr_boot == E.boot_hr(hr, want, 0.25)
    # differs from the unstratified bootstrap (the groups matter)
    assert not boot.equals(E.bootstrap(replicate, E.resampling_groups(one_way.arm == 1, None),
                                       9, 21))


def test_counterfactual_frame(one_way):
    t = one_way.time * 2
    ev = one_way.event.astype(float)
    f = E.counterfactual_frame(one_way, t, ev)
    assert list(f.columns) == ["id", "arm", "time_cf", "event_cf"]
    np.testing.assert_array_equal(f["id"], one_way.id)
    np.testing.assert_array_equal(f["arm"], np.asarray(one_way.arms)[one_way.arm])
    assert set(f["arm"]) == set(one_way.arms)
    np.testing.assert_array_equal(f["time_cf"], t)
    assert f["event_cf"].dtype == np.int8
    np.testing.assert_array_equal(f["event_cf"], one_way.event)


# ---------------------------------------------------------------- results


class Stub(E.AdjustedEstimate):
    method = "IPCW"

    def __init__(self, hr):
        self._hr = hr

    @property
    def hr(self):
        return self._hr

    def interval_kind(self):
        return "kind"

    def counts(self):
        return 12, 5


def test_adjusted_estimate_row_and_abstract_parts():
    assert set(E.ASSUMPTIONS) == {"IPE", "TSE (simple)", "IPCW"}
    h = {"hr": 0.8, "lower": 0.6, "upper": 1.1, "log_hr": math.log(0.8), "se": 0.1}
    s = Stub(h)
    q, a = E.ASSUMPTIONS["IPCW"]
    assert (s.question, s.assumption) == (q, a) and q != a
    row = s.comparison_row()
    nan_keys = {"hr_mean", "p_hr_lt_1"}
    assert {k for k, v in row.items() if isinstance(v, float) and math.isnan(v)} == nan_keys
    assert {k: v for k, v in row.items() if k not in nan_keys} == {
        "n": 12, "events": 5, "hr_median": 0.8, "lower": 0.6, "upper": 1.1,
        "converged": True, "approximate": False, "question": q, "assumption": a,
        "biased_if_prognostic": False, "interval": "kind"}
    assert list(row) == ["n", "events", "hr_median", "hr_mean", "lower", "upper",
                         "p_hr_lt_1", "converged", "approximate", "question", "assumption",
                         "biased_if_prognostic", "interval"]
    assert Stub({**h, "hr": math.nan}).comparison_row()["converged"] is False
    assert Stub({**h, "hr": math.inf}).comparison_row()["converged"] is False
    base = E.AdjustedEstimate()
    with pytest.raises(NotImplementedError):
        base.hr
    with pytest.raises(NotImplementedError):
        base.interval_kind()
    with pytest.raises(NotImplementedError):
        base.counts()


def switch_estimate(**changes):
    hr = {"hr": 0.7, "lower": 0.5, "upper": 0.95, "log_hr": math.log(0.7), "se": 0.15}
    fields = dict(method="TSE (simple)", psi=-0.4, ci=(-0.7, -0.1), ci_type="AFT Wald",
                  counterfactual=pd.DataFrame({"id": ["a", "b", "c"], "arm": ["x", "y", "y"],
                                               "time_cf": [1.0, 2.0, 3.0],
                                               "event_cf": np.array([1, 0, 1], np.int8)}),
                  hr_itt={**hr, "hr": 0.8}, hr_adjusted=hr, hr_adjusted_itt_p=None,
                  hr_adjusted_boot=None, z_itt=-2.0, boot=None, details={},
                  settings={"alpha": 0.1})
    return E.SwitchEstimate(**{**fields, **changes})


def test_switch_estimate_headline_hr_precedence_and_kind():
    wald = switch_estimate()
    assert wald.hr is wald.hr_adjusted and wald.interval_kind() == "Cox Wald"
    itt = {"hr": 0.7, "lower": 0.4, "upper": 1.2, "log_hr": math.log(0.7), "se": 0.3}
    boot = {"hr": 0.7, "lower": 0.45, "upper": 1.05, "log_hr": math.log(0.7), "se": 0.2}
    ipe = switch_estimate(method="IPE", hr_adjusted_itt_p=itt)
    assert ipe.hr is itt and ipe.interval_kind() == "log-rank p-value"
    both = switch_estimate(method="IPE", hr_adjusted_itt_p=itt, hr_adjusted_boot=boot)
    assert both.hr is boot and both.interval_kind() == "bootstrap percentile"
    only_boot = switch_estimate(hr_adjusted_boot=boot)
    assert only_boot.hr is boot and only_boot.interval_kind() == "bootstrap percentile"
    # identity, not equality: an ITT-p dict equal to the Wald one is still the ITT-p kind
    same = switch_estimate(hr_adjusted_itt_p=dict(wald.hr_adjusted))
    assert same.interval_kind() == "log-rank p-value"
    broken = switch_estimate(hr_adjusted=None)
    with pytest.raises(AssertionError, match="hr_adjusted is always set"):
        broken.hr
    assert E.SwitchEstimate.HR_FIELDS == ("hr_itt", "hr_adjusted", "hr_adjusted_itt_p",
                                          "hr_adjusted_boot")


def test_switch_estimate_counts_labels_repr_and_row():
    s = switch_estimate()
    assert s.counts() == (3, 2) and type(s.counts()[1]) is int
    assert s.labels() == {"method": "TSE (simple)", "ci_type": "AFT Wald"}
    assert s.repr_parts() == ("TSE (simple): ", ", AFT Wald", "")
    assert repr(s) == ("SwitchEstimate(TSE (simple): psi=-0.400000 [90% CI -0.700000, "
                       "-0.100000, AFT Wald], acceleration=0.6703, hr_adjusted=0.7000 "
                       "(0.5000-0.9500))")
    row = s.comparison_row()
    assert (row["n"], row["events"], row["interval"]) == (3, 2, "Cox Wald")
    assert row["question"] == E.ASSUMPTIONS["TSE (simple)"][0]
    assert s.summary().loc["hr_adjusted", "estimate"] == 0.7
    assert "hr_adjusted_boot" not in s.summary().index
    with pytest.raises(FrozenInstanceError):
        s.psi = 0.0
    assert s != switch_estimate() and isinstance(hash(s), int)
