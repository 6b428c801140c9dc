"""Simulation metrics (pexsurv.workflows.metrics) against hand computations."""

import math

import numpy as np
import pytest

from pexsurv.workflows import bias, coverage, interval_width, rmse, simulation_metrics

NAN = float("nan")


def test_bias_and_its_mcse_by_hand():
    # errors 0.5, -0.25, 1.0 -> mean 0.4166..., SD (ddof 1) by hand, MCSE = SD / sqrt(3)
    est = [1.5, 0.75, 2.0]
    errs = [0.5, -0.25, 1.0]
    mean = sum(errs) / 3
    sd = math.sqrt(sum((e - mean) ** 2 for e in errs) / 2)
    b = bias(est, truth=1.0)
    assert b.value == pytest.approx(mean)
    assert b.mcse == pytest.approx(sd / math.sqrt(3))
    assert b.n == 3


def test_nan_estimates_left_out_of_bias_and_rmse():
    b = bias([1.5, NAN, 0.75, 2.0], truth=1.0)
    assert b.n == 3
    assert b.value == pytest.approx((0.5 - 0.25 + 1.0) / 3)
    r = rmse([1.5, NAN, 0.75, 2.0], truth=1.0)
    assert r.value == pytest.approx(math.sqrt((0.25 + 0.0625 + 1.0) / 3)) and r.n == 3


def test_rmse_is_not_the_sd():
    # constant error 2: RMSE 2 although the spread is zero
    assert rmse([3.0, 3.0, 3.0], truth=1.0) == (pytest.approx(2.0), 0.0, 3)


def test_rmse_mcse_is_the_delta_method_se_of_the_mse():
    err = np.array([0.3, -1.2, 0.8, 0.1, -0.4])
    squared = err ** 2
    mse_se = np.std(squared, ddof=1) / math.sqrt(5)     # the SE of a mean of 5 values
    r = rmse(err + 2.0, truth=2.0)
    assert r.mcse == pytest.approx(mse_se / (2 * math.sqrt(squared.mean())))
    assert math.isnan(rmse([1.0], truth=0.0).mcse)         # one trial: no spread to measure


def test_rmse_mcse_matches_the_spread_over_repeated_studies():
    # 4000 studies of 200 trials each (errors N(0.2, 0.5)): the SD of their RMSEs is what
    # the MCSE of one study estimates.
    rng = np.random.default_rng(11)
    studies = rng.normal(0.2, 0.5, size=(4000, 200))
    fits = [rmse(row, truth=0.0) for row in studies]
    spread = np.std([f.value for f in fits], ddof=1)
    assert np.mean([f.mcse for f in fits]) == pytest.approx(spread, rel=0.05)


def test_coverage_counts_endpoints_and_nan_limits_as_stated():
    lo = [0.0, 1.0, 2.0, NAN, -5.0]
    hi = [2.0, 3.0, 4.0, 9.0, 0.5]
    # truth 1: [0,2] covers, [1,3] covers (closed), [2,4] misses, NaN limit misses, [-5,.5] misses
    c = coverage(lo, hi, truth=1.0)
    assert c.value == pytest.approx(2 / 5)
    assert c.mcse == pytest.approx(math.sqrt(0.4 * 0.6 / 5))
    assert c.n == 5


def test_coverage_mcse_is_binomial():
    rng = np.random.default_rng(3)
    lo = rng.normal(size=400)
    hi = lo + 1.0
    c = coverage(lo, hi, truth=0.0)
    p = np.mean((lo <= 0) & (0 <= hi))
    assert c.mcse == pytest.approx(math.sqrt(p * (1 - p) / 400))


def test_width_leaves_out_nan_intervals():
    assert interval_width([0.0, NAN, 1.0], [1.0, 5.0, 4.0]) == pytest.approx(2.0)


def test_simulation_metrics_counts_missing():
    m = simulation_metrics([0.1, NAN, -0.3], [-1.0, -1.0, NAN], [1.0, 1.0, 0.0], truth=0.0)
    assert (m.trials, m.missing_estimates, m.missing_intervals) == (3, 1, 1)
    assert m.coverage.value == pytest.approx(2 / 3)
    assert m.bias.value == pytest.approx(-0.1)
    assert m.width == pytest.approx(2.0)


def test_lengths_must_agree():
    with pytest.raises(ValueError, match="lower, upper"):
        coverage([0.0, 1.0], [1.0], truth=0.5)
    with pytest.raises(ValueError, match="1-D"):
        bias([[1.0]], truth=0.0)
