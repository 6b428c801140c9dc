"""Cut points and sufficient statistics: exact kernels, property tests, brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pexsurv import TrialData
from pexsurv.intervals import (
    equal_events,
    exposure_matrix,
    exposure_table,
    fixed_width,
    interval_index,
    interval_labels,
    split_episodes,
    validate_cuts,
)

settings.register_profile("fast", max_examples=60, deadline=None, derandomize=True)
settings.load_profile("fast")


@pytest.mark.parametrize(
    ("cuts", "match"),
    [([2.0, 1.0], "sorted"), ([1.0, 1.0], "duplicate"), ([0.0, 1.0], "> 0"),
     ([-1.0], "> 0"), ([1.0, np.nan], "finite"), ([np.inf], "finite"),
     # Not a flat list of numbers: flattening or wrapping would invent a partition.
     ([[1.0, 2.0], [3.0, 4.0]], r"1-D .*shape \(2, 2\)"), (np.array([[1.0], [2.0]]), "1-D"),
     (3.0, r"1-D .*shape \(\)"), ("1, 2", "the string"), ([True, False], "real numbers")],
)
def test_invalid_cuts(cuts, match):
    with pytest.raises(ValueError, match=match):
        validate_cuts(cuts)


def test_boundaries():
    cuts = validate_cuts([1.0, 2.0])
    # An event exactly at a cut belongs to the interval that ends there; beyond the last
    # cut is the open last interval.
    assert interval_index(np.array([1e-9, 1.0, 1.0 + 1e-12, 2.0, 2.5, 1e6]), cuts).tolist() \
        == [0, 0, 1, 1, 2, 2]
    assert interval_labels(cuts) == ["(0, 1]", "(1, 2]", "(2, inf)"]
    np.testing.assert_array_equal(exposure_matrix(np.array([0.0, 0.0]), np.array([1.0, 7.0]), cuts),
                                  [[1.0, 0.0, 0.0], [1.0, 1.0, 5.0]])
    assert validate_cuts([]).size == 0


def test_fixed_width():
    assert fixed_width(2.0, 6.0).tolist() == [2.0, 4.0]
    assert fixed_width(2.0, 6.5).tolist() == [2.0, 4.0, 6.0]
    with pytest.raises(ValueError):
        fixed_width(0.0, 5.0)


def make_data(times, events, arms, ts=None, sw=None, strata=None):
    df = pd.DataFrame({"t": times, "e": events, "a": arms})
    kw = {}
    if ts is not None:
        df["ts"] = ts
        kw["treatment_start"] = "ts"
    if sw is not None:
        df["sw"] = sw
        kw["switch_time"] = "sw"
    if strata is not None:
        df["s"] = strata
        kw["strata"] = "s"
    return TrialData.from_dataframe(df, time="t", event="e", arm="a", **kw)


def test_equal_events_balances_counts():
    rng = np.random.default_rng(1)
    t = rng.exponential(5.0, 400)
    d = make_data(t, np.ones(400, int), np.r_[np.zeros(200, int), np.ones(200, int)])
    cuts = equal_events(d, 8)
    assert cuts.size == 7
    counts = np.bincount(interval_index(t, cuts), minlength=8)
    assert counts.tolist() == [50] * 8
    with pytest.raises(ValueError, match="cannot fill"):
        equal_events(make_data([1.0, 2.0], [1, 0], [0, 1]), 3)


# --------------------------------------------------------------------- properties
@st.composite
def trials(draw):
    n = draw(st.integers(4, 30))
    # Times on a coarse grid so that ties with cut points and each other occur often.
    times = draw(st.lists(st.integers(1, 40), min_size=n, max_size=n))
    times = np.array(times, float) / 4.0
    events = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    arms = np.array([0, 1] * (n // 2) + [0] * (n % 2))
    frac_ts = np.array(draw(st.lists(st.sampled_from([np.nan, 0.0, 0.25, 0.5, 1.0]),
                                     min_size=n, max_size=n)))
    frac_sw = np.array(draw(st.lists(st.sampled_from([np.nan, 0.3, 0.5, 1.0]),
                                     min_size=n, max_size=n)))
    ts = np.where(arms == 1, frac_ts * times, 0.0)
    # Two-way switching: control subjects cross over to experimental therapy, and
    # experimental subjects who started it may switch away (after their start).
    frac_off = np.array(draw(st.lists(st.sampled_from([np.nan, 0.5, 0.75, 1.0]),
                                      min_size=n, max_size=n)))
    sw_exp = np.where(np.isnan(frac_ts), np.nan, np.maximum(frac_off * times, ts))
    sw = np.where(arms == 0, frac_sw * times, sw_exp)
    ncut = draw(st.integers(0, 5))
    cuts = np.unique(np.array(draw(st.lists(st.integers(1, 40), min_size=ncut, max_size=ncut)),
                              float) / 4.0)
    strata = np.array(draw(st.lists(st.sampled_from(["a", "b"]), min_size=n, max_size=n)))
    return make_data(times, events, arms, ts, sw, strata), cuts


def brute_force(data, cuts):
    """Per-patient loop over intervals, written independently of the kernels."""
    edges = [0.0, *cuts.tolist(), np.inf]
    k = len(edges) - 1
    ev = np.zeros((2, k))
    ex = np.zeros((2, k))
    for t, e, a in zip(data.time, data.event, data.arm, strict=True):
        for j in range(k):
            lo, hi = edges[j], edges[j + 1]
            ex[a, j] += max(0.0, min(t, hi) - lo)
            if e == 1 and lo < t <= hi:
                ev[a, j] += 1
    return ev, ex


@given(trials())
def test_totals_and_brute_force(case):
    data, cuts = case
    tab = exposure_table(data, cuts)
    assert tab.events.sum() == data.event.sum()
    np.testing.assert_allclose(float(tab.exposure.sum()), data.time.sum(), rtol=1e-12)
    ev, ex = brute_force(data, cuts)
    np.testing.assert_array_equal(tab.events.transpose("arm", "interval").values, ev)
    np.testing.assert_allclose(tab.exposure.transpose("arm", "interval").values, ex, rtol=1e-12)


@given(trials())
def test_episodes_partition_follow_up(case):
    data, cuts = case
    ep = split_episodes(data, cuts)
    g = ep.groupby("subject", sort=False)
    # Episodes tile (0, time] without gaps or overlaps, and the event sits on the last one.
    np.testing.assert_allclose(g["stop"].max().loc[data.id], data.time)
    assert (g["start"].min() == 0).all()
    assert ((ep["stop"] - ep["start"]) > 0).all()
    prev_stop = g["stop"].shift(1)
    assert np.allclose(ep["start"][prev_stop.notna()], prev_stop.dropna())
    np.testing.assert_array_equal(g["event"].sum().loc[data.id], data.event)
    # No episode straddles a cut or a therapy change.
    lo = np.concatenate([[0.0], cuts])[ep["interval"]]
    hi = np.concatenate([cuts, [np.inf]])[ep["interval"]]
    assert ((ep["start"] >= lo) & (ep["stop"] <= hi)).all()
    on, off = data.on_experimental_from()
    pos = pd.Index(data.id).get_indexer(ep["subject"])
    for point in (on[pos], off[pos]):
        inside = (ep["start"] < point) & (point < ep["stop"])
        assert not inside.any()
    # Experimental exposure per subject, from the raw columns (not on_experimental_from):
    # experimental arm from treatment start until a switch away, control arm from crossover.
    sw = np.nan_to_num(data.switch_time, nan=np.inf)
    ts = data.treatment_start
    exp_on = np.where(np.isnan(ts), 0.0, np.clip(np.minimum(data.time, sw) - ts, 0, None))
    ctl_on = np.clip(data.time - sw, 0, None)
    expected_on = np.where(data.arm == 1, exp_on, ctl_on)
    got_on = (ep["on_experimental"] * (ep["stop"] - ep["start"])).groupby(ep["subject"]).sum()
    np.testing.assert_allclose(got_on.loc[data.id], expected_on, atol=1e-12)


@given(trials())
def test_grouped_tables_agree(case):
    data, cuts = case
    by_arm = exposure_table(data, cuts)
    by_stratum = exposure_table(data, cuts, by=("arm", "stratum")).sum("stratum")
    by_on = exposure_table(data, cuts, by=("arm", "on_experimental")).sum("on_experimental")
    for other in (by_stratum, by_on):
        np.testing.assert_allclose(other.exposure, by_arm.exposure, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(other.events, by_arm.events)


def test_table_coords_and_errors():
    d = make_data([1.0, 2.0, 3.0, 4.0], [1, 0, 1, 1], [0, 0, 1, 1])
    tab = exposure_table(d, [2.0])
    assert tab.events.dims == ("arm", "interval")
    assert tab.arm.values.tolist() == ["0", "1"]
    assert tab.interval_upper.values.tolist() == [2.0, np.inf]
    with pytest.raises(ValueError, match="unknown grouping 'sex'"):
        exposure_table(d, [2.0], by=("arm", "sex"))
    with pytest.raises(ValueError, match="needs strata"):
        exposure_table(d, [2.0], by=("stratum",))
    with pytest.raises(ValueError, match="repeated"):
        exposure_table(d, [2.0], by=("arm", "arm"))


def test_numeric_covariate_has_no_table():
    df = pd.DataFrame({"t": [1.0, 2.0], "e": [1, 0], "a": [0, 1], "age": [50.0, 60.0]})
    d = TrialData.from_dataframe(df, time="t", event="e", arm="a", covariates=("age",))
    with pytest.raises(ValueError, match="numeric"):
        exposure_table(d, [1.5], by=("arm", "age"))


# --------------------------------------------------------------------- two-way switching
def test_experimental_switch_off_ends_experimental_exposure():
    """Hand-computed episodes with switching both ways (cuts at 4).

    s1 experimental: starts at 1, switches away at 3, event at 5.
    s2 control: crosses over at 2, censored at 6.
    s3 experimental: starts at 0, never switches, censored at 4.5.
    s4 control: never switches, event at 3.
    """
    df = pd.DataFrame({"id": ["s1", "s2", "s3", "s4"], "t": [5.0, 6.0, 4.5, 3.0],
                       "e": [1, 0, 0, 1], "a": [1, 0, 1, 0], "ts": [1.0, 0.0, 0.0, 0.0],
                       "sw": [3.0, 2.0, np.nan, np.nan]})
    d = TrialData.from_dataframe(df, time="t", event="e", arm="a", id="id",
                                 treatment_start="ts", switch_time="sw")
    on, off = d.on_experimental_from()
    np.testing.assert_array_equal(on, [1.0, 2.0, 0.0, np.nan])
    np.testing.assert_array_equal(off, [3.0, np.inf, np.inf, np.inf])

    ep = split_episodes(d, [4.0])
    rows = list(ep[["subject", "start", "stop", "event", "on_experimental"]]
                .itertuples(index=False, name=None))
    assert rows == [
        ("s1", 0.0, 1.0, 0, 0), ("s1", 1.0, 3.0, 0, 1), ("s1", 3.0, 4.0, 0, 0),
        ("s1", 4.0, 5.0, 1, 0),
        ("s2", 0.0, 2.0, 0, 0), ("s2", 2.0, 4.0, 0, 1), ("s2", 4.0, 6.0, 0, 1),
        ("s3", 0.0, 4.0, 0, 1), ("s3", 4.0, 4.5, 0, 1),
        ("s4", 0.0, 3.0, 1, 0),
    ]
    tab = exposure_table(d, [4.0], by=("on_experimental",))
    # Off experimental therapy: s1 1 + 1 | 1, s2 2 | 0, s4 3 | 0; on: s1 2, s2 2, s3 4 | s2 2, s3 0.5.
    np.testing.assert_allclose(tab.exposure.sel(on_experimental=0), [7.0, 1.0])
    np.testing.assert_allclose(tab.exposure.sel(on_experimental=1), [8.0, 2.5])
    # s1's event at 5 happened after switching away, s4's off therapy.
    np.testing.assert_array_equal(tab.events.sel(on_experimental=0), [1.0, 1.0])
    np.testing.assert_array_equal(tab.events.sel(on_experimental=1), [0.0, 0.0])


# --------------------------------------------------------------------- arguments
def test_trial_data_required_with_the_fix():
    df = pd.DataFrame({"t": [1.0, 2.0], "e": [1, 0], "a": [0, 1]})
    for fn, args in ((equal_events, ()), (exposure_table, ([1.0],)), (split_episodes, ([1.0],))):
        with pytest.raises(TypeError, match=rf"{fn.__name__}\(\) needs a TrialData, got a "
                                            r"pandas DataFrame\. Fix: pass TrialData\.from_dataframe"):
            fn(df, *args)


def test_by_must_be_a_list():
    d = make_data([1.0, 2.0, 3.0, 4.0], [1, 0, 1, 1], [0, 0, 1, 1])
    # by="arm" would otherwise be read as the groupings "a", "r", "m".
    with pytest.raises(TypeError, match=r"by= takes a list .*Fix: by=\['arm'\]"):
        exposure_table(d, [2.0], by="arm")


def test_equal_events_k_is_an_integer():
    d = make_data(np.arange(1.0, 21.0), np.ones(20, int), np.r_[np.zeros(10, int), np.ones(10, int)])
    np.testing.assert_array_equal(equal_events(d, np.int64(4)), equal_events(d, 4))
    for k in (True, 4.0, 4.5, "4"):
        with pytest.raises(TypeError, match="k must be an integer"):
            equal_events(d, k)
    with pytest.raises(ValueError, match="k must be >= 1"):
        equal_events(d, 0)


def test_grouping_errors_give_the_right_fix():
    df = pd.DataFrame({"t": [1.0, 2.0], "e": [1, 0], "a": [0, 1], "age": [50.0, 60.0]})
    d = TrialData.from_dataframe(df, time="t", event="e", arm="a", covariates=["age"])
    with pytest.raises(ValueError, match=r"pd\.cut.*categorical="):
        exposure_table(d, [1.5], by=("arm", "age"))
    with pytest.raises(ValueError, match=r"from_dataframe\(\.\.\., strata='<column>'\)"):
        exposure_table(d, [1.5], by=("stratum",))
