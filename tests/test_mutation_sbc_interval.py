"""Interval-censored SBC (issue 18 mutation tests): ``assess`` against a loop over subjects
and visits, the replicate (events of ITS prior draw found at the visits) against a by-hand
simulation, and what ``interval_censored_sbc`` hands to ``simulation_based_calibration``.

The module is loaded from its file (``tests/isolated.py``); ``simulation_based_calibration``
is replaced by a stand-in that records its arguments (its own tests are
``tests/test_mutation_sbc_workflow.py``).
Record: ``benchmarks/mutation.md``, section "pexsurv/workflows/sbc_interval.py with ..."
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from isolated import load
from sbc_reference import CUTS, hand_event_and_censoring, prior_hazards, trial

from pexsurv import TrialData
from pexsurv.fitting import SamplerConfig
from pexsurv.models import PiecewiseExponential

L = load("pexsurv/workflows/sbc_interval.py")
VISITS = [1.5, 3.0, 4.5, 6.0, 7.5, 9.0, 10.5, 12.0, 13.5]


def hand_assess(t_event, t_end, visits):
    """Subject by subject: the first visit at or after the event, if no later than the end
    of follow-up, else censored at the last visit no later than the end."""
    lower, upper, event = [], [], []
    for te, tend in zip(t_event, t_end, strict=True):
        found = None
        for k, v in enumerate(visits):
            if v >= te:
                if v <= tend:
                    found = k
                break
        if found is None:
            last = max(v for v in visits if v <= tend)
            lower.append(last), upper.append(last), event.append(0)
        else:
            lower.append(visits[found - 1] if found > 0 else 0.0)
            upper.append(visits[found]), event.append(1)
    return np.array(lower), np.array(upper), np.array(event)


# --------------------------------------------------------------------------- assess
def check_assess(t_event, t_end, visits):
    lower, upper, event = L.assess(np.asarray(t_event, float), np.asarray(t_end, float), visits)
    h_lower, h_upper, h_event = hand_assess(t_event, t_end, list(map(float, visits)))
    np.testing.assert_array_equal(lower, h_lower)
    np.testing.assert_array_equal(upper, h_upper)
    np.testing.assert_array_equal(event, h_event)
    assert event.dtype == np.int8
    return lower, upper, event


def test_assess_edges_by_hand():
    visits = [2.0, 4.0, 6.0, 8.0]
    t_event = [1.0, 2.0, 2.0001, 4.0, 7.0, 8.0, 8.5, 3.0, 3.0, 5.0, 0.1, 100.0, 7.9]
    t_end = [9.0, 9.0, 9.0, 9.0, 9.0, 8.0, 9.0, 4.0, 3.9, 5.9, 2.0, 9.0, 7.95]
    lower, upper, event = check_assess(t_event, t_end, visits)
    # an event at a visit is found at that visit; follow-up ending at a visit includes it
    assert (lower[1], upper[1], event[1]) == (0.0, 2.0, 1)
    assert (lower[3], upper[3], event[3]) == (2.0, 4.0, 1)
    assert (lower[5], upper[5], event[5]) == (6.0, 8.0, 1)
    assert (lower[7], upper[7], event[7]) == (2.0, 4.0, 1)
    # the visit after the event falls after the end: censored at the last visit
    assert (lower[8], upper[8], event[8]) == (2.0, 2.0, 0)
    assert (lower[9], upper[9], event[9]) == (4.0, 4.0, 0)
    assert (lower[12], upper[12], event[12]) == (6.0, 6.0, 0)
    # events after the last visit: censored at the last visit before the end
    assert (lower[6], upper[6], event[6]) == (8.0, 8.0, 0)
    assert (lower[11], upper[11], event[11]) == (8.0, 8.0, 0)


def test_assess_matches_the_loop_on_random_times():
    rng = np.random.default_rng(3)
    t_event = rng.exponential(6.0, 400)
    t_end = rng.uniform(VISITS[0], 16.0, 400)
    t_end[:20] = np.array(VISITS)[rng.integers(0, len(VISITS), 20)]  # ends at a visit
    t_event[20:40] = np.array(VISITS)[rng.integers(0, len(VISITS), 20)]  # events at a visit
    _, _, event = check_assess(t_event, t_end, VISITS)
    assert 0 < event.sum() < 400


def test_assess_takes_the_docstring_example_and_a_single_visit():
    lower, upper, event = L.assess(np.array([1.0, 7.0, 2.5]), np.array([9.0, 9.0, 2.9]),
                                   [2.0, 4.0, 6.0, 8.0])
    assert (lower.tolist(), upper.tolist(), event.tolist()) == ([0.0, 6.0, 2.0],
                                                                [2.0, 8.0, 2.0], [1, 1, 0])
    check_assess([0.5, 3.0, 3.0], [3.0, 3.0, 5.0], np.array([3.0]))
    check_assess([0.5, 3.0, 3.0], [3.0, 3.0, 5.0], (1, 3))  # integer visits


@pytest.mark.parametrize("visits", [[], [[1.0, 2.0]], 2.0, [2.0, 2.0, 3.0], [3.0, 2.0],
                                    [0.0, 1.0], [-1.0, 1.0], [1.0, 3.0, 2.5]],
                         ids=["empty", "2-D", "scalar", "repeated", "decreasing", "zero",
                              "negative", "late-decrease"])
def test_bad_schedules_are_refused(visits):
    with pytest.raises(ValueError) as err:
        L.assess(np.array([1.0]), np.array([5.0]), visits)
    assert str(err.value) == "visits must be a non-empty increasing schedule of times > 0"


def test_follow_up_ending_before_the_first_visit_is_refused_with_the_count():
    # 2 end before the first visit; 1 at it and 3 after it, so that any other comparison
    # counts another number (<= 3, > 3, >= 4, != 5, == 1)
    with pytest.raises(ValueError) as err:
        L.assess(np.ones(6), np.array([1.49, 1.5, 0.2, 4.0, 5.0, 6.0]), [1.5, 3.0])
    assert str(err.value) == ("2 subject(s) end follow-up before the first visit (1.5): "
                              "they would have no assessment")


def test_short_schedules_and_close_visits_are_accepted():
    check_assess([0.5], [1e-3], [1e-3])
    # visits closer than one time unit apart (monthly, in years)
    lower, upper, _ = check_assess([0.05, 0.3, 0.9], [1.0, 1.0, 0.8], [1 / 12, 1 / 6, 0.25, 0.5])
    assert upper.tolist() == [1 / 12, 0.5, 0.5]


# --------------------------------------------------------------------------- the replicate
@pytest.mark.parametrize("censor_time", [False, True], ids=["reverse-km", "censor-time"])
@pytest.mark.parametrize("j", [0, 1, 2])
def test_replicate_finds_events_of_its_prior_draw_at_the_visits(censor_time, j):
    data = trial(censor_time=censor_time, n=30, seed=4)
    visits = np.array(VISITS)
    sim = L._replicate(data, prior_hazards(data), j, visits, np.random.default_rng(8))
    t_event, t_end = hand_event_and_censoring(data, j, np.random.default_rng(8))
    lower, upper, event = hand_assess(t_event, t_end, VISITS)
    np.testing.assert_array_equal(sim.time, upper)
    np.testing.assert_array_equal(sim.time_lower, lower)
    np.testing.assert_array_equal(sim.event, event)
    assert event.sum() > 0 and (j == 1 or event.sum() < data.n)  # draw 1: high hazards
    np.testing.assert_array_equal(sim.id, data.id)
    np.testing.assert_array_equal(sim.arm, data.arm)
    if censor_time:
        np.testing.assert_array_equal(sim.censor_time, t_end)
    else:
        assert sim.censor_time is None
    assert sim.treatment_start is None and sim.switch_time is None
    assert sim.notes == (*data.notes, f"simulated from prior draw {j} for SBC, events found "
                                      "at the visits")


def test_replicate_drops_treatment_start_and_switches():
    base = trial(n=12, seed=2)
    df = pd.DataFrame({"id": base.id, "time": base.time, "event": base.event, "arm": base.arm})
    df["switch"] = np.where(df["arm"] == 0, df["time"] / 2, np.nan)
    df["start"] = np.where(df["arm"] == 1, df["time"] / 4, np.nan)
    data = TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id",
                                    switch_time="switch", treatment_start="start")
    assert data.switch_time is not None and data.treatment_start is not None
    sim = L._replicate(data, prior_hazards(data), 1, np.array([0.05, *VISITS]),
                       np.random.default_rng(0))
    assert sim.treatment_start is None and sim.switch_time is None


# --------------------------------------------------------------------------- the workflow
@pytest.fixture
def recorded(monkeypatch):
    calls = []

    def sbc(spec, data, n_sims, **kw):
        calls.append(SimpleNamespace(spec=spec, data=data, n_sims=n_sims, kw=kw))
        return "the SBC result"

    monkeypatch.setattr(L, "simulation_based_calibration", sbc)
    return calls


def assessed_template() -> TrialData:
    """A trial assessed at VISITS: events in (previous visit, visit]."""
    data = trial(n=20, seed=6)
    lower, upper, event = L.assess(np.asarray(data.time), np.asarray(data.time) + 3.0, VISITS)
    df = pd.DataFrame({"id": data.id, "arm": data.arm, "hi": upper,
                       "lo": np.where(event == 1, lower, np.nan), "e": event})
    return TrialData.from_dataframe(df, time="hi", event="e", arm="arm", id="id",
                                    time_lower="lo")


def test_workflow_passes_its_options_and_a_visit_dated_template(recorded):
    data = assessed_template()
    assert data.time_lower is not None and data.event.sum() > 0
    spec = PiecewiseExponential(cuts=CUTS)
    config = SamplerConfig(chains=2)
    out = L.interval_censored_sbc(spec, data, 7, visits=VISITS, draws=9, thin=2, seed=4,
                                  config=config, progress=False, alpha=0.05, bins=3)
    assert out == "the SBC result"
    [c] = recorded
    assert c.spec is spec and c.n_sims == 7
    hook = c.kw.pop("replicate")
    assert c.kw == {"draws": 9, "thin": 2, "seed": 4, "config": config, "progress": False,
                    "alpha": 0.05, "bins": 3, "settings": {"visits": VISITS}}
    # the template: events dated at the visit that found them, no lower bounds
    assert c.data.time_lower is None
    np.testing.assert_array_equal(c.data.time, data.time)
    np.testing.assert_array_equal(c.data.event, data.event)
    # the hook: the replicate of prior draw j at these visits, from the rng it is given
    template = trial(n=30, seed=4)
    hazards = prior_hazards(template)
    for j in (0, 2):
        sim = hook(template, hazards, j, np.random.default_rng(j + 10))
        ref = L._replicate(template, hazards, j, np.array(VISITS), np.random.default_rng(j + 10))
        np.testing.assert_array_equal(sim.time, ref.time)
        np.testing.assert_array_equal(sim.time_lower, ref.time_lower)
        np.testing.assert_array_equal(sim.event, ref.event)
        assert sim.notes[-1].startswith(f"simulated from prior draw {j} ")


def test_workflow_defaults(recorded):
    data = assessed_template()
    L.interval_censored_sbc(PiecewiseExponential(cuts=CUTS), data, 5, visits=np.array(VISITS),
                            seed=2)
    kw = recorded[0].kw
    kw.pop("replicate")
    assert kw == {"draws": 500, "thin": 5, "seed": 2, "config": None, "progress": True,
                  "alpha": 0.01, "bins": None, "settings": {"visits": VISITS}}
    assert type(kw["settings"]["visits"]) is list


def test_workflow_takes_integer_visits_as_floats(recorded):
    data = assessed_template()
    L.interval_censored_sbc(PiecewiseExponential(cuts=CUTS), data, 5, visits=(2, 4, 6, 8, 10, 12),
                            seed=2)
    visits = recorded[0].kw["settings"]["visits"]
    assert visits == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
    assert all(type(v) is float for v in visits)
