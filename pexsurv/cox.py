"""The one Cox proportional-hazards wrapper (lifelines, Efron ties) for frequentist cross-checks.

Every comparison of the Bayesian results with a Cox model (g-estimation's adjusted HR and its
covariate-adjusted Cox test, the simulator's summaries, reports, validation) goes through
:func:`cox_hr`, so that ties, strata, covariates, the orientation of the arm and the confidence
interval are decided in one place. Cox fits are comparisons shown beside the posterior, never
an input to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pexsurv.data import TrialDataError, fail_rows

__all__ = ["CoxHR", "cox_hr", "numeric_covariates"]


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


# Internal column names of the lifelines frame; covariates may use any other name.
_TIME, _EVENT, _ARM, _STRATUM = "_cox_time", "_cox_event", "_cox_arm", "_cox_stratum"
_DUMMIES = "encode it as 0/1 indicator columns first, e.g. pandas.get_dummies(values, " \
           "drop_first=True, dtype=float)"


def numeric_covariates(covariates: Mapping[str, Any], n: int, ids: np.ndarray) -> pd.DataFrame:
    """The covariate columns as floats, refusing what lifelines would fit wrongly or not at
    all: each error names the column, up to ten offending ids and the fix.

    Parameters
    ----------
    covariates : mapping of str to array_like
    n : int
        Number of patients.
    ids : numpy.ndarray
        Patient ids, named in error messages.

    Returns
    -------
    pandas.DataFrame
        One float column per covariate.

    Examples
    --------
    >>> numeric_covariates({"x": [1, 0, 1]}, 3, np.array(["a", "b", "c"]))["x"].tolist()
    [1.0, 0.0, 1.0]
    """
    frame = {}
    for name, values in covariates.items():
        if name in (_TIME, _EVENT, _ARM, _STRATUM):
            raise ValueError(f"covariate name {name!r} is reserved by cox_hr; rename it")
        v = np.asarray(values)
        if v.ndim != 1 or v.size != n:
            raise ValueError(f"covariate {name!r} has shape {v.shape}; cox_hr needs one value "
                             f"per patient, shape ({n},)")
        if v.dtype.kind not in "biuf":
            raise TrialDataError(f"column '{name}': covariate of dtype {v.dtype} is not numeric. "
                                 f"Fix: {_DUMMIES}")
        v = v.astype(float)
        bad = ~np.isfinite(v)
        if bad.any():
            fail_rows(name, "missing or infinite covariate values", ids, bad,
                      "impute them or leave those patients out before fitting")
        if np.ptp(v) == 0:
            raise TrialDataError(f"column '{name}': covariate is constant ({v[0]:g} for every "
                                 "patient), so its effect cannot be estimated. Fix: leave it out")
        frame[name] = v
    return pd.DataFrame(frame)


def cox_hr(time: np.ndarray, event: np.ndarray, arm: np.ndarray, *,
           strata: np.ndarray | None = None, covariates: Mapping[str, Any] | None = None,
           ids: np.ndarray | None = None, alpha: float = 0.05) -> CoxHR:
    """Cox model of arm on (time, event), Efron ties, optionally stratified and adjusted.

    Parameters
    ----------
    time, event : array_like
        Follow-up times and event indicators (1 = event).
    arm : array_like
        1 for the experimental arm, 0 for control (booleans accepted).
    strata : array_like, optional
        Stratum labels; the baseline hazard is stratified, the HR is common.
    covariates : mapping of str to array_like, optional
        Numeric adjustment covariates by name (a DataFrame works), one value per patient:
        the HR is then conditional on them. Text columns are refused: encode them as
        indicators. Missing, infinite or constant columns are refused too.
    ids : array_like, optional
        Patient ids named in error messages (default: row positions).
    alpha : float
        1 - confidence level of the Wald interval.

    Returns
    -------
    CoxHR

    Raises
    ------
    TrialDataError
        A covariate that is not numeric, has missing or infinite values (up to ten ids
        named) or is constant.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> arm = np.repeat([0, 1], 200)
    >>> t = rng.exponential(np.where(arm == 1, 2.0, 1.0))  # true HR 0.5
    >>> result = cox_hr(t, np.ones(400), arm)
    >>> bool(result.lower < 0.5 < result.upper)
    True
    >>> age = rng.normal(60, 10, 400)
    >>> bool(cox_hr(t, np.ones(400), arm, covariates={"age": age}).hr < 1)
    True
    """
    from lifelines import CoxPHFitter  # heavy import, only when a cross-check is asked for

    frame = pd.DataFrame({_TIME: np.asarray(time, dtype=float),
                          _EVENT: np.asarray(event, dtype=float),
                          _ARM: np.asarray(arm, dtype=float)})
    if covariates is not None and len(covariates):
        n = len(frame)
        ids = np.arange(n) if ids is None else np.asarray(ids)
        frame = pd.concat([frame, numeric_covariates(covariates, n, ids)], axis=1)
    if strata is not None:
        frame[_STRATUM] = np.asarray(strata)
    fit = CoxPHFitter().fit(frame, _TIME, _EVENT,
                            strata=[_STRATUM] if strata is not None else None)
    log_hr = float(fit.params_[_ARM])
    se = float(fit.standard_errors_[_ARM])
    z = float(stats.norm.ppf(1 - alpha / 2))
    return CoxHR(hr=math.exp(log_hr), lower=math.exp(log_hr - z * se),
                 upper=math.exp(log_hr + z * se), log_hr=log_hr, se=se,
                 p=float(2 * stats.norm.sf(abs(log_hr / se))), alpha=alpha)
