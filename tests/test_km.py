"""Kaplan-Meier kernel against lifelines (the independent reference)."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter

from pexsurv.km import kaplan_meier, km_median, km_survival_at


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_lifelines(seed):
    rng = np.random.default_rng(seed)
    t = np.round(rng.exponential(4.0, 300), 1)  # rounding creates ties
    e = rng.integers(0, 2, 300)
    kmf = KaplanMeierFitter().fit(t, e)
    grid = np.array([0.0, 0.5, 1.0, 2.5, 4.0, 8.0, 30.0])
    np.testing.assert_allclose(km_survival_at(t, e, grid),
                               kmf.survival_function_at_times(grid).to_numpy(), atol=1e-12)
    assert km_median(t, e) == pytest.approx(kmf.median_survival_time_)
    times, s = kaplan_meier(t, e)
    assert np.all(np.diff(s) <= 0) and np.all((s >= 0) & (s <= 1))


def test_median_not_reached_is_nan():
    assert np.isnan(km_median([1.0, 2.0, 3.0], [1, 0, 0]))


def test_beyond_last_time():
    # Last subject censored at 4: S is 1/3 on [2, 4] and undefined after 4.
    t, e = [1.0, 2.0, 4.0], [1, 1, 0]
    at = [0.5, 2.0, 4.0, 4.5, 10.0]
    np.testing.assert_allclose(km_survival_at(t, e, at), [1, 1 / 3, 1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(km_survival_at(t, e, at, beyond="nan"),
                               [1, 1 / 3, 1 / 3, np.nan, np.nan])
    # Curve reached 0 (last subject had the event): 0 afterwards is estimated, not NaN.
    np.testing.assert_array_equal(km_survival_at([1.0, 2.0], [1, 1], [5.0], beyond="nan"), [0.0])
    with pytest.raises(ValueError, match="beyond"):
        km_survival_at(t, e, at, beyond="flat")
