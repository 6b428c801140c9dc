"""Edge cases of the simulation metrics (pexsurv.workflows.metrics) that the mutation run of
issue 18 showed untested: scalar input, one or no trials, all-missing inputs, the sign of the
error and the counts of missing values. Each expected number is computed by hand.
Record: benchmarks/mutation.md, section ``pexsurv/workflows/metrics.py``.

The module is loaded from its file (tests/isolated.py): it needs numpy only, and importing
``pexsurv.workflows`` would cost each mutant's run PyMC's import time."""

import math

import pytest

from isolated import load

metrics = load("pexsurv/workflows/metrics.py")
bias, coverage, interval_width = metrics.bias, metrics.coverage, metrics.interval_width
rmse, simulation_metrics = metrics.rmse, metrics.simulation_metrics

NAN = float("nan")


def test_a_scalar_is_not_one_value_per_trial():
    # A 0-d array must be refused like a 2-D one, not read as one trial.
    with pytest.raises(ValueError, match=r"estimate must be one value per trial \(1-D\), got shape \(\)"):
        bias(1.0, truth=0.0)
    with pytest.raises(ValueError, match="lower must be one value per trial"):
        coverage(0.0, [1.0], truth=0.5)
    with pytest.raises(ValueError, match="upper must be one value per trial"):
        coverage([0.0], [[1.0]], truth=0.5)


def test_bias_is_estimate_minus_truth_and_one_trial_has_no_mcse():
    b = bias([3.0], truth=1.0)
    assert b.value == 2.0  # over-estimation is a positive bias
    assert math.isnan(b.mcse)  # SD with ddof 1 of one error is undefined, not 0
    assert b.n == 1
    assert bias([0.0, 4.0], truth=1.0).mcse == pytest.approx(2.0)  # SD sqrt(8) / sqrt(2)


def test_no_usable_trial_gives_nan_and_n_zero():
    for b in (bias([], truth=0.0), bias([NAN, NAN], truth=0.0)):
        assert math.isnan(b.value) and math.isnan(b.mcse) and b.n == 0
    for r in (rmse([NAN], truth=0.0), rmse([], truth=0.0)):
        assert math.isnan(r.value) and math.isnan(r.mcse) and r.n == 0
    c = coverage([], [], truth=0.0)
    assert math.isnan(c.value) and math.isnan(c.mcse) and c.n == 0
    assert math.isnan(interval_width([NAN, 0.0], [1.0, NAN]))
    assert math.isnan(interval_width([], []))


def test_rmse_mcse_by_hand():
    # errors 1, -3: squares 1, 9, MSE 5; SE of the MSE sqrt((16 + 16) / (2 * 1)) = 4;
    # RMSE sqrt(5), its MCSE 4 / (2 sqrt(5))
    r = rmse([3.0, -1.0], truth=2.0)
    assert r.mcse == pytest.approx(4 / (2 * math.sqrt(5))) and r.n == 2
    # errors 1, 2, 3: squares 1, 4, 9, MSE 14/3; deviations -11/3, -2/3, 13/3
    r = rmse([1.0, 2.0, 3.0], truth=0.0)
    se = math.sqrt((121 + 4 + 169) / 9 / (3 * 2))
    assert r.mcse == pytest.approx(se / (2 * math.sqrt(14 / 3)))
    one = rmse([2.0, NAN], truth=0.0)
    assert (one.value, one.n) == (2.0, 1) and math.isnan(one.mcse)
    assert rmse([1.0, 1.0], truth=1.0) == (0.0, 0.0, 2)


def test_rmse_uses_the_error_not_the_estimate():
    # errors 1 and -3 around truth 2: sqrt((1 + 9) / 2)
    assert rmse([3.0, -1.0], truth=2.0).value == pytest.approx(math.sqrt(5.0))


def test_coverage_needs_both_limits_on_the_right_side():
    # truth 1: below, inside, above, exactly at the lower limit, exactly at the upper limit
    lo = [2.0, 0.0, -3.0, 1.0, -1.0]
    hi = [3.0, 2.0, 0.5, 4.0, 1.0]
    c = coverage(lo, hi, truth=1.0)
    assert c.value == pytest.approx(3 / 5)
    assert c.mcse == pytest.approx(math.sqrt(0.6 * 0.4 / 5))
    full = coverage([0.0, 0.0], [2.0, 2.0], truth=1.0)
    assert (full.value, full.mcse, full.n) == (1.0, 0.0, 2)


def test_width_is_upper_minus_lower_and_any_nan_limit_drops_the_interval():
    assert interval_width([1.0, 2.0], [4.0, 3.0]) == pytest.approx(2.0)
    assert interval_width([1.0, NAN, 0.0], [4.0, 9.0, NAN]) == pytest.approx(3.0)


def test_simulation_metrics_lengths_and_counts():
    with pytest.raises(ValueError, match="estimate, lower, upper"):
        simulation_metrics([0.0, 1.0], [0.0], [1.0], truth=0.0)
    with pytest.raises(ValueError, match="estimate, lower, upper"):
        simulation_metrics([0.0], [0.0, 1.0], [1.0, 2.0], truth=0.0)
    m = simulation_metrics([0.5, NAN, NAN, 1.5], [NAN, 0.0, 0.0, 0.0], [1.0, NAN, 2.0, 4.0],
                           truth=1.0)
    assert (m.trials, m.missing_estimates, m.missing_intervals) == (4, 2, 2)
    assert m.bias == bias([0.5, 1.5], truth=1.0)
    assert m.rmse == rmse([0.5, 1.5], truth=1.0) and m.rmse.value == pytest.approx(0.5)
    assert (m.coverage.value, m.coverage.n) == (0.5, 4)
    assert m.width == pytest.approx(3.0)


def test_bias_mcse_is_not_rounded():
    # errors 0, 1, 3: SD (ddof 1) sqrt(7/3), MCSE sqrt(7/3) / sqrt(3) = 0.882
    assert bias([0.0, 1.0, 3.0], truth=0.0).mcse == pytest.approx(math.sqrt(7 / 3) / math.sqrt(3))


def test_coverage_mcse_below_one_half():
    # p = 1/4: the binomial SE sqrt(p (1 - p) / n) with 1 - p = 3/4
    c = coverage([0.0, 2.0, 2.0, 2.0], [2.0, 3.0, 3.0, 3.0], truth=1.0)
    assert c.value == 0.25 and c.mcse == pytest.approx(math.sqrt(0.25 * 0.75 / 4))


def test_simulation_metrics_counts_each_kind_of_missing_interval():
    # intervals: lower missing, upper missing, both missing, complete
    m = simulation_metrics([0.5, NAN, 1.5, 2.0], [NAN, 0.0, NAN, 0.0], [1.0, NAN, NAN, 4.0],
                           truth=1.0)
    assert (m.missing_estimates, m.missing_intervals) == (1, 3)
    assert m.bias.value == pytest.approx(1 / 3) and m.bias.n == 3
    assert m.rmse.value == pytest.approx(math.sqrt(0.5)) and m.rmse.n == 3
    assert (m.coverage.value, m.width) == (0.25, 4.0)


def test_simulation_metrics_is_immutable():
    m = simulation_metrics([0.0], [-1.0], [1.0], truth=0.0)
    with pytest.raises(AttributeError):
        m.trials = 2
