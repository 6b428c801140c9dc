"""Package-wide defaults, declared once (like ArviZ's ``rcParams["stats.ci_prob"]``).

Every interval a check, table or summary reports uses :data:`CI_PROB` unless the caller
passes another probability; :func:`interval_bounds` turns it into the quantiles of the
central (equal-tailed) interval.
"""

from __future__ import annotations

__all__ = ["CI_PROB", "interval_bounds"]

CI_PROB = 0.95
"""Default probability of every credible, predictive and simultaneous interval.

95% (not ArviZ's 89%) because trial reports and HTA submissions quote 95% intervals."""


def interval_bounds(prob: float, name: str = "prob") -> tuple[float, float]:
    """Lower and upper quantile levels of the central interval of probability ``prob``.

    Parameters
    ----------
    prob : float
        Interval probability, in (0, 1).
    name : str
        The caller's name for ``prob``, used in the error message.

    Returns
    -------
    tuple of float
        ``((1 - prob) / 2, (1 + prob) / 2)``.

    Raises
    ------
    ValueError
        When ``prob`` is not in (0, 1).

    Examples
    --------
    >>> [round(q, 6) for q in interval_bounds(CI_PROB)]
    [0.025, 0.975]
    """
    if not 0 < prob < 1:
        raise ValueError(f"{name} must be in (0, 1), got {prob}")
    return (1 - prob) / 2, (1 + prob) / 2
