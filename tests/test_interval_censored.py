"""Interval-censored events (issue 15): the data model, the PEM likelihood against
independent computations, parameter recovery, the visit-scale PPC and SBC."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pexsurv import TrialData
from pexsurv.data import TrialDataError


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
