"""Operating characteristics of an estimator over simulated trials: bias, RMSE, coverage and
interval width, each with its Monte Carlo standard error where one applies.

The validation studies (``validation/``) and simulation-based checks summarise their
replicates here, so that every report computes the same numbers the same way.

Missing values (NaN), one rule for every function:

- an estimate that is NaN (the method failed on that trial) is left out of :func:`bias` and
  :func:`rmse`, which report how many trials they used (``n``); the caller reports how many
  were left out;
- an interval with a NaN limit counts as **not covering** the truth in :func:`coverage` (a
  method that gives no interval has not covered anything; dropping such trials would flatter
  it), and is left out of :func:`interval_width`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["MonteCarloEstimate", "SimulationMetrics", "bias", "coverage", "interval_width",
           "rmse", "simulation_metrics"]


class MonteCarloEstimate(NamedTuple):
    """A Monte Carlo summary over ``n`` trials and its Monte Carlo standard error."""

    value: float
    mcse: float
    n: int


def _vector(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one value per trial (1-D), got shape {arr.shape}")
    return arr


def _same_length(**arrays: np.ndarray) -> None:
    sizes = {k: v.size for k, v in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"one value per trial in each of {', '.join(sizes)}; got lengths {sizes}")


def bias(estimate: ArrayLike, truth: float) -> MonteCarloEstimate:
    """Mean of ``estimate - truth`` over the trials with a finite estimate.

    The Monte Carlo SE is the standard deviation of the errors (``ddof=1``) over
    ``sqrt(n)``; NaN estimates are left out (``n`` counts those used).

    Examples
    --------
    >>> bias([1.0, 3.0, float("nan")], truth=0.0)
    MonteCarloEstimate(value=2.0, mcse=1.0, n=2)
    """
    err = _vector(estimate, "estimate") - float(truth)
    err = err[np.isfinite(err)]
    n = int(err.size)
    if n == 0:
        return MonteCarloEstimate(math.nan, math.nan, 0)
    mcse = float(np.std(err, ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return MonteCarloEstimate(float(np.mean(err)), mcse, n)


def rmse(estimate: ArrayLike, truth: float) -> MonteCarloEstimate:
    """Root mean squared error over the trials with a finite estimate (NaN left out).

    The Monte Carlo SE is that of the mean squared error, ``sqrt(sum((e^2 - MSE)^2) /
    (n (n - 1)))``, carried to the root by the delta method (divided by ``2 RMSE``): Morris,
    White & Crowther (2019), Stat Med 38:2074, table 6.

    Examples
    --------
    >>> rmse([1.0, -1.0, float("nan")], truth=0.0)
    MonteCarloEstimate(value=1.0, mcse=0.0, n=2)
    >>> round(rmse([1.0, -3.0], truth=0.0).mcse, 6)  # MSE 5, its MCSE 4, RMSE sqrt(5)
    0.894427
    """
    err = _vector(estimate, "estimate") - float(truth)
    err = err[np.isfinite(err)]
    n = int(err.size)
    if n == 0:
        return MonteCarloEstimate(math.nan, math.nan, 0)
    squared = err ** 2
    mse = float(np.mean(squared))
    value = math.sqrt(mse)
    if n == 1:
        return MonteCarloEstimate(value, math.nan, 1)
    mse_mcse = math.sqrt(float(np.sum((squared - mse) ** 2)) / (n * (n - 1)))
    # An RMSE of 0 (every estimate exact) has no spread to carry: its MCSE is 0.
    return MonteCarloEstimate(value, mse_mcse / (2.0 * value) if value > 0 else 0.0, n)


def coverage(lower: ArrayLike, upper: ArrayLike, truth: float) -> MonteCarloEstimate:
    """Share of trials whose interval ``[lower, upper]`` contains ``truth``.

    An interval with a NaN limit counts as a miss. The Monte Carlo SE is the binomial
    ``sqrt(p (1 - p) / n)`` over all ``n`` trials.

    Examples
    --------
    >>> coverage([-1.0, 0.5, -1.0, float("nan")], [1.0, 1.0, 1.0, 1.0], truth=0.0)
    MonteCarloEstimate(value=0.5, mcse=0.25, n=4)
    """
    lo, hi = _vector(lower, "lower"), _vector(upper, "upper")
    _same_length(lower=lo, upper=hi)
    n = int(lo.size)
    if n == 0:
        return MonteCarloEstimate(math.nan, math.nan, 0)
    # Comparisons with NaN are False: a missing limit is a miss, as the module states.
    p = float(np.mean((lo <= truth) & (truth <= hi)))
    return MonteCarloEstimate(p, math.sqrt(p * (1.0 - p) / n), n)


def interval_width(lower: ArrayLike, upper: ArrayLike) -> float:
    """Mean of ``upper - lower`` over the intervals with both limits finite.

    Examples
    --------
    >>> interval_width([0.0, 1.0, float("nan")], [1.0, 4.0, 2.0])
    2.0
    """
    lo, hi = _vector(lower, "lower"), _vector(upper, "upper")
    _same_length(lower=lo, upper=hi)
    w = (hi - lo)[np.isfinite(lo) & np.isfinite(hi)]
    return float(np.mean(w)) if w.size else math.nan


@dataclass(frozen=True)
class SimulationMetrics:
    """Bias, RMSE, coverage and mean width of one estimator over ``trials`` simulated trials.

    Attributes
    ----------
    trials : int
        Number of trials summarised.
    missing_estimates, missing_intervals : int
        Trials with a NaN estimate (left out of bias and RMSE) and with a NaN interval limit
        (counted as misses, left out of the width).
    bias, rmse, coverage : MonteCarloEstimate
    width : float
    """

    trials: int
    missing_estimates: int
    missing_intervals: int
    bias: MonteCarloEstimate
    rmse: MonteCarloEstimate
    coverage: MonteCarloEstimate
    width: float


def simulation_metrics(estimate: ArrayLike, lower: ArrayLike, upper: ArrayLike,
                       truth: float) -> SimulationMetrics:
    """All of :func:`bias`, :func:`rmse`, :func:`coverage` and :func:`interval_width`.

    Parameters
    ----------
    estimate, lower, upper : array_like
        Point estimate and interval limits, one per trial.
    truth : float
        The value the estimator targets.

    Examples
    --------
    >>> m = simulation_metrics([0.1, -0.1], [-0.5, 0.2], [0.5, 0.4], truth=0.0)
    >>> m.coverage.value, m.bias.value, m.width
    (0.5, 0.0, 0.6)
    """
    est = _vector(estimate, "estimate")
    lo, hi = _vector(lower, "lower"), _vector(upper, "upper")
    _same_length(estimate=est, lower=lo, upper=hi)
    return SimulationMetrics(
        trials=int(est.size),
        missing_estimates=int((~np.isfinite(est)).sum()),
        missing_intervals=int((~(np.isfinite(lo) & np.isfinite(hi))).sum()),
        bias=bias(est, truth), rmse=rmse(est, truth), coverage=coverage(lo, hi, truth),
        width=interval_width(lo, hi))
