"""The one Cox proportional-hazards wrapper (lifelines, Efron ties) for frequentist cross-checks.

Every comparison of the Bayesian results with a Cox model (g-estimation's adjusted HR, the
simulator's summaries, reports, validation) goes through :func:`cox_hr`, so that ties, strata,
the orientation of the arm and the confidence interval are decided in one place. Cox fits are
comparisons shown beside the posterior, never an input to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["CoxHR", "cox_hr"]


@dataclass(frozen=True)
class CoxHR:
    """Cox hazard ratio of the experimental arm (code 1) against control (code 0).

    Attributes
    ----------
    hr, lower, upper : float
        Hazard ratio and its Wald confidence interval at level ``1 - alpha``.
    log_hr, se : float
        Log hazard ratio and its standard error.
    p : float
        Two-sided Wald p-value.
    alpha : float
    """

    hr: float
    lower: float
    upper: float
    log_hr: float
    se: float
    p: float
    alpha: float

    def as_dict(self) -> dict[str, float]:
        """The numbers as a plain dict (keys as the attribute names)."""
        return {"hr": self.hr, "lower": self.lower, "upper": self.upper,
                "log_hr": self.log_hr, "se": self.se, "p": self.p}


def cox_hr(time: np.ndarray, event: np.ndarray, arm: np.ndarray, *,
           strata: np.ndarray | None = None, alpha: float = 0.05) -> CoxHR:
    """Cox model of arm on (time, event), Efron ties, optionally stratified.

    Parameters
    ----------
    time, event : array_like
        Follow-up times and event indicators (1 = event).
    arm : array_like
        1 for the experimental arm, 0 for control (booleans accepted).
    strata : array_like, optional
        Stratum labels; the baseline hazard is stratified, the HR is common.
    alpha : float
        1 - confidence level of the Wald interval.

    Returns
    -------
    CoxHR

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> arm = np.repeat([0, 1], 200)
    >>> t = rng.exponential(np.where(arm == 1, 2.0, 1.0))  # true HR 0.5
    >>> result = cox_hr(t, np.ones(400), arm)
    >>> bool(result.lower < 0.5 < result.upper)
    True
    """
    from lifelines import CoxPHFitter  # heavy import, only when a cross-check is asked for

    frame = pd.DataFrame({"time": np.asarray(time, dtype=float),
                          "event": np.asarray(event, dtype=float),
                          "arm": np.asarray(arm, dtype=float)})
    if strata is not None:
        frame["stratum"] = np.asarray(strata)
    fit = CoxPHFitter().fit(frame, "time", "event",
                            strata=["stratum"] if strata is not None else None)
    log_hr = float(fit.params_["arm"])
    se = float(fit.standard_errors_["arm"])
    z = float(stats.norm.ppf(1 - alpha / 2))
    return CoxHR(hr=math.exp(log_hr), lower=math.exp(log_hr - z * se),
                 upper=math.exp(log_hr + z * se), log_hr=log_hr, se=se,
                 p=float(2 * stats.norm.sf(abs(log_hr / se))), alpha=alpha)
