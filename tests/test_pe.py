"""The one piecewise-exponential event-time sampler (pexsurv.pe), against references that do
not invert the cumulative hazard: the survival function written directly as exp(-sum of
rate x overlap), a Kolmogorov-Smirnov test, and exact values at the cut points."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pexsurv.diagnostics import replicate
from pexsurv.pe import event_times

CUTS = np.array([1.0, 2.5, 4.0])
RATES = np.array([0.3, 1.2, 0.15, 0.6])
N = 20_000


def survival(t: np.ndarray, cuts: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """exp(-H(t)), H written as the sum over intervals of rate x time spent in it."""
    lower = np.concatenate([[0.0], cuts])
    upper = np.concatenate([cuts, [np.inf]])
    t = np.asarray(t, dtype=float)[..., None]
    overlap = np.clip(np.minimum(t, upper) - lower, 0.0, None)
    return np.exp(-(overlap * rates).sum(axis=-1))


def _ks_pvalue(sample: np.ndarray, rates: np.ndarray) -> float:
    return stats.kstest(sample, lambda t: 1.0 - survival(t, CUTS, rates)).pvalue


def test_distribution_matches_exact_survival_ks():
    t = event_times(np.random.default_rng(1).standard_exponential(N), CUTS, RATES)
    assert _ks_pvalue(t, RATES) > 0.001
    # Power: the same sample must reject a hazard whose second interval is 20% higher, or
    # one with the rates shifted by one interval (a wrong interval convention). With
    # N = 20,000 the 0.001-level critical KS distance is 1.95 / sqrt(N) = 0.014, and these
    # alternatives are at least 0.03 away from the truth.
    for wrong in (RATES * np.array([1.0, 1.2, 1.0, 1.0]), np.r_[RATES[1:], RATES[-1]]):
        grid = np.linspace(0.0, 10.0, 2001)
        assert np.abs(survival(grid, CUTS, wrong) - survival(grid, CUTS, RATES)).max() > 0.03
        assert _ks_pvalue(t, wrong) < 1e-6


def test_draw_equal_to_cumulative_hazard_at_a_cut_lands_on_the_cut():
    # H(1) = 0.3, H(2.5) = 0.3 + 1.8 = 2.1, H(4) = 2.1 + 0.225 = 2.325
    h_at_cuts = np.array([0.3, 2.1, 2.325])
    np.testing.assert_allclose(event_times(h_at_cuts, CUTS, RATES), CUTS, rtol=0, atol=1e-14)
    # Just above: into the next interval at its own rate.
    eps = 1e-6
    np.testing.assert_allclose(event_times(h_at_cuts + eps, CUTS, RATES),
                               CUTS + eps / RATES[1:], rtol=1e-12)


def test_zero_rate_interval_and_zero_width_interval():
    cuts, rates = np.array([1.0, 2.0, 2.0]), np.array([0.5, 0.0, 9.0, 1.0])
    # H is flat on (1, 2]: a draw equal to H(1) = 0.5 is the plateau's left end (the first
    # time H reaches it); anything above crosses the plateau and the zero-width interval.
    out = event_times(np.array([0.0, 0.25, 0.5, 0.75]), cuts, rates)
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0, 2.25])


def test_last_interval_rate_zero_gives_infinity():
    out = event_times(np.array([0.2, 0.5, 0.6]), np.array([1.0]), np.array([0.5, 0.0]))
    np.testing.assert_array_equal(out, [0.4, 1.0, np.inf])


def test_per_draw_cuts_and_sample_axes_broadcast():
    e = np.random.default_rng(2).standard_exponential((3, 5))
    per_row = event_times(e, CUTS, np.tile(RATES, (3, 5, 1)))
    np.testing.assert_array_equal(per_row, event_times(e, CUTS, RATES))
    cuts = np.tile(CUTS, (5, 1))
    np.testing.assert_array_equal(event_times(e, cuts, RATES), per_row)


@pytest.mark.parametrize(("e", "cuts", "rates", "message"), [
    (np.array([-1.0]), CUTS, RATES, "exponential"),
    (np.array([1.0]), CUTS, RATES[:-1], "rates.shape"),
    (np.array([1.0]), CUTS, -RATES, "rates must be finite"),
    (np.array([1.0]), CUTS[::-1], RATES, "non-decreasing"),
])
def test_invalid_input(e, cuts, rates, message):
    with pytest.raises(ValueError, match=message):
        event_times(e, cuts, rates)


def test_posterior_replicates_use_the_same_sampler():
    rates = np.abs(np.random.default_rng(3).normal(0.5, 0.2, (4, 50, RATES.size)))
    got = replicate.event_times(rates, CUTS, np.random.default_rng(7))
    e = np.random.default_rng(7).standard_exponential((4, 50))
    np.testing.assert_array_equal(got, event_times(e, CUTS, rates))
