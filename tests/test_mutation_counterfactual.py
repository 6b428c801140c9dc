"""Counterfactual untreated times and recensoring (models/rpsft/counterfactual.py) against a
brute force written from the published definitions, one subject at a time from the raw
columns (Robins and Tsiatis 1991; R's rpsftm recensoring and autoswitch rules), never from
the package's own exposure or design code. Written against the mutants that the RPSFT tests
let survive (issue 18; record in benchmarks/mutation.md, section
``models/rpsft/counterfactual.py``).

The module is loaded from its file (tests/isolated.py): importing ``pexsurv.models`` would
cost each mutant's run PyMC's import time."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from isolated import load

from pexsurv import TrialData
from pexsurv.data import TrialDataError

cf = load("models/rpsft/counterfactual.py")

# Every kind of subject: control never switching, switching midway, at 0 and at the end;
# experimental always on, switching off midway, at 0, starting therapy late and never
# starting it (NaN treatment start); events and censorings; potential censoring times at and
# after follow-up.
FRAME = pd.DataFrame({
    "id": list(range(1, 11)),
    "t": [2.0, 4.0, 3.0, 5.0, 1.5, 6.0, 2.5, 3.5, 4.0, 2.0],
    "e": [1, 0, 1, 1, 0, 1, 1, 0, 1, 1],
    "arm": [0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
    "sw": [np.nan, 1.0, 0.0, 5.0, 0.5, np.nan, 1.0, 0.0, np.nan, np.nan],
    "start": [np.nan] * 5 + [0.0, 0.0, 0.0, 1.5, np.nan],
    "cens": [6.0, 4.0, 3.0, 7.0, 1.5, 6.0, 8.0, 3.5, 5.0, 4.0],
})
MODIFIER = np.array([1.0, 0.5, 2.0, 1.0, 1.5, 1.0, 0.25, 1.0, 3.0, 1.0])


def trial(frame: pd.DataFrame = FRAME) -> TrialData:
    return TrialData.from_dataframe(frame, time="t", event="e", arm="arm", id="id",
                                    switch_time="sw", treatment_start="start",
                                    censor_time="cens")


def brute_force(frame: pd.DataFrame, psi: float, *, recensor: bool = True,
                autoswitch: bool = True, modifier=1.0) -> tuple[list[float], list[int]]:
    """U* and its event, subject by subject, from the raw columns."""
    m = np.broadcast_to(np.asarray(modifier, dtype=float), (len(frame),))
    on_time = []
    for row in frame.itertuples():
        if row.arm == 1 and math.isnan(row.start):  # never started the therapy
            on_time.append(0.0)
        elif row.arm == 1:  # on from the start of therapy until a switch away, if any
            end = row.t if math.isnan(row.sw) else min(row.sw, row.t)
            on_time.append(max(end - row.start, 0.0))
        else:  # on from the crossover, if any, to the end of follow-up
            on_time.append(0.0 if math.isnan(row.sw) else row.t - row.sw)
    recensored = set()
    if recensor:
        for arm, compliant in ((1, lambda r, on: on == r.t), (0, lambda r, on: on == 0.0)):
            rows = [(r, on) for r, on in zip(frame.itertuples(), on_time) if r.arm == arm]
            if not autoswitch or not all(compliant(r, on) for r, on in rows):
                recensored.add(arm)
    times, events = [], []
    for i, (row, on) in enumerate(zip(frame.itertuples(), on_time)):
        a = math.exp(psi * m[i])
        u, event = (row.t - on) + a * on, int(row.e)
        if row.arm in recensored:
            c_star = min(row.cens, row.cens * a)
            if c_star < u:
                u, event = c_star, 0
        times.append(u)
        events.append(event)
    return times, events


@pytest.mark.parametrize("psi", [-0.7, 0.0, 0.4])
@pytest.mark.parametrize("options", [{}, dict(recensor=False), dict(autoswitch=False),
                                     dict(modifier=MODIFIER), dict(modifier=0.5)],
                         ids=["default", "no-recensor", "no-autoswitch", "modifier", "scalar-m"])
def test_times_and_events_match_the_brute_force(psi, options):
    kwargs = dict(options)
    modifier = kwargs.pop("modifier", 1.0)
    u, e = cf.counterfactual_times(trial(), psi, treat_modifier=modifier, **kwargs)
    want_u, want_e = brute_force(FRAME, psi, modifier=modifier, **kwargs)
    np.testing.assert_allclose(u, want_u, rtol=1e-12)
    np.testing.assert_array_equal(e, want_e)
    assert e.dtype == np.int8


def test_recensoring_censors_only_when_c_star_is_below_u():
    # One control switcher whose U equals C* exactly (C = 2 = T, psi = 0): not recensored,
    # and one whose U exceeds C* (psi > 0 shrinks C* below U).
    frame = pd.DataFrame({"id": [1, 2, 3], "t": [2.0, 2.0, 1.0], "e": [1, 1, 1],
                          "arm": [0, 0, 1], "sw": [1.0, 1.0, np.nan], "start": 0.0,
                          "cens": [2.0, 2.5, 3.0]})
    u, e = cf.counterfactual_times(trial(frame), 0.0)
    assert u.tolist() == [2.0, 2.0, 1.0] and e.tolist() == [1, 1, 1]
    u, e = cf.counterfactual_times(trial(frame), 0.2)
    want_u, want_e = brute_force(frame, 0.2)
    np.testing.assert_allclose(u, want_u)
    assert e.tolist() == want_e == [0, 1, 1]  # 1 + e^0.2 = 2.22 > C* = 2; < 2.5


def test_autoswitch_skips_only_a_fully_compliant_arm():
    data = trial()
    both = cf.Counterfactual.from_data(data)
    assert both.recensored_arms == (0, 1)  # both arms have deviators
    compliant_exp = FRAME.assign(sw=np.where(FRAME["arm"] == 1, np.nan, FRAME["sw"]),
                                 start=0.0)
    only_control = cf.Counterfactual.from_data(trial(compliant_exp))
    assert only_control.recensored_arms == (0,)
    assert np.isinf(only_control.censor[FRAME["arm"] == 1]).all()
    np.testing.assert_array_equal(only_control.censor[FRAME["arm"] == 0],
                                  FRAME["cens"][FRAME["arm"] == 0])
    nobody = compliant_exp.assign(sw=np.nan)
    assert cf.Counterfactual.from_data(trial(nobody)).recensored_arms == ()
    assert cf.Counterfactual.from_data(trial(nobody), autoswitch=False).recensored_arms == (0, 1)
    off = cf.Counterfactual.from_data(data, recensor=False)
    assert off.recensored_arms == () and np.isinf(off.censor).all()
    u, kept = off.times(np.array([-0.5]))
    assert kept is None and u.shape == (1, 10)


def test_many_psis_at_once_match_one_at_a_time():
    psis = np.array([-1.0, -0.2, 0.3])
    for modifier in (1.0, MODIFIER):
        m = cf.Counterfactual.from_data(trial(), treat_modifier=modifier)
        u, e = m.outcomes(psis)
        assert u.shape == e.shape == (3, 10)
        for k, psi in enumerate(psis):
            want_u, want_e = brute_force(FRAME, psi, modifier=modifier)
            np.testing.assert_allclose(u[k], want_u, rtol=1e-12)
            np.testing.assert_array_equal(e[k], want_e)
    u, e = cf.Counterfactual.from_data(trial(), recensor=False).outcomes(psis)
    np.testing.assert_array_equal(e, np.broadcast_to(FRAME["e"].to_numpy(float), (3, 10)))


def test_reordered_permutes_every_subject_field():
    m = cf.Counterfactual.from_data(trial(), treat_modifier=MODIFIER)
    order = np.array([9, 3, 0, 7, 1, 2, 8, 4, 6, 5])
    r = m.reordered(order)
    for f in ("time_on", "time_off", "event", "censor", "modifier"):
        np.testing.assert_array_equal(getattr(r, f), getattr(m, f)[order])
    assert r.recensored_arms == m.recensored_arms
    np.testing.assert_array_equal(r.outcomes(np.array([-0.3]))[0],
                                  m.outcomes(np.array([-0.3]))[0][:, order])


def test_counterfactual_data_keeps_the_experimental_arm_as_observed():
    data = trial()
    out = cf.counterfactual_data(data, -0.5)
    want_u, want_e = brute_force(FRAME, -0.5)
    exp = FRAME["arm"].to_numpy() == 1
    np.testing.assert_allclose(out.time, np.where(exp, FRAME["t"], want_u))
    np.testing.assert_array_equal(out.event, np.where(exp, FRAME["e"], want_e))
    assert out.event.dtype == np.int8
    assert out.switch_time is None and out.treatment_start is None and out.censor_time is None
    assert out.population == f"{data.population}>rpsft_counterfactual"
    assert out.notes[-1] == "control arm counterfactual untreated times at psi=-0.5"
    assert out.notes[:-1] == data.notes


def test_counterfactual_data_drops_a_control_subject_left_with_no_time():
    # Switched at 0: U = e^psi T underflows to 0 for a very negative psi.
    out = cf.counterfactual_data(trial(), -800.0, recensor=False)
    assert out.n == 9 and 3 not in out.id.tolist()


def test_bad_input_is_refused():
    with pytest.raises(TypeError, match="data must be a TrialData, got DataFrame"):
        cf.Counterfactual.from_data(FRAME)
    no_censor = TrialData.from_dataframe(FRAME, time="t", event="e", arm="arm", id="id",
                                         switch_time="sw")
    with pytest.raises(TrialDataError, match="recensor=True needs"):
        cf.counterfactual_times(no_censor, -0.5)
    u, e = cf.counterfactual_times(no_censor, -0.5, recensor=False)
    np.testing.assert_allclose(u, brute_force(FRAME.assign(start=0.0), -0.5,
                                              recensor=False)[0])
    for bad in (np.ones(9), np.ones((10, 1)), np.r_[np.ones(9), np.nan], np.inf):
        with pytest.raises(ValueError, match=r"treat_modifier must be a finite scalar or one "
                                             r"value per subject \(10\)"):
            cf.counterfactual_times(trial(), -0.5, treat_modifier=bad)


def test_acceleration_factor_is_exp_psi():
    @dataclasses.dataclass
    class Estimate(cf.AccelerationFactor):
        psi: float
        ci: tuple[float, float]

    est = Estimate(-0.5, (-0.9, -0.1))
    assert est.acceleration == pytest.approx(math.exp(-0.5))
    assert est.acceleration_ci == pytest.approx((math.exp(-0.9), math.exp(-0.1)))


@pytest.mark.parametrize("modifier", [np.linspace(0.25, 3.0, 10), np.linspace(3.0, 0.25, 10)],
                         ids=["first-smallest", "first-largest"])
def test_modifier_defaults_to_one_and_an_unequal_one_is_per_subject(modifier):
    np.testing.assert_array_equal(cf.Counterfactual.from_data(trial()).modifier, np.ones(10))
    u, e = cf.counterfactual_times(trial(), -0.6, treat_modifier=modifier)
    want_u, want_e = brute_force(FRAME, -0.6, modifier=modifier)
    np.testing.assert_allclose(u, want_u, rtol=1e-12)
    np.testing.assert_array_equal(e, want_e)


def test_counterfactual_data_does_not_recensor_a_control_arm_nobody_left():
    # No control subject switched: with autoswitch (the default) the control arm keeps its
    # observed times; without it, C* = C e^psi (4 e^-0.5 = 2.43 for subject 2) cuts some.
    frame = FRAME.assign(sw=np.where(FRAME["arm"] == 1, FRAME["sw"], np.nan))
    control = (frame["arm"] == 0).to_numpy()
    u, _ = cf.counterfactual_times(trial(frame), -0.5)
    np.testing.assert_array_equal(u[control], frame["t"][control])
    out = cf.counterfactual_data(trial(frame), -0.5)
    np.testing.assert_array_equal(out.time, frame["t"])
    np.testing.assert_array_equal(out.event, frame["e"])
    cut = cf.counterfactual_data(trial(frame), -0.5, autoswitch=False)
    assert not np.array_equal(cut.time, frame["t"])


def test_options_are_keyword_only_and_the_map_is_immutable_and_hashable():
    for call in (lambda: cf.counterfactual_times(trial(), -0.5, False),
                 lambda: cf.counterfactual_data(trial(), -0.5, False),
                 lambda: cf.Counterfactual.from_data(trial(), False)):
        with pytest.raises(TypeError):
            call()
    m = cf.Counterfactual.from_data(trial())
    with pytest.raises(AttributeError):
        m.recensored_arms = ()
    assert {m: 1}[m] == 1  # compared by identity (eq=False): usable as a cache key
    assert m != cf.Counterfactual.from_data(trial())
