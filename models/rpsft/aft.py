"""Parametric accelerated failure time (AFT) fits shared by IPE and two-stage estimation.

Both methods read a treatment effect off an AFT model (lifelines' Weibull, log-logistic or
log-normal regression): the coefficient ``beta`` of an indicator on log time, so that the
indicated subjects' times are ``exp(beta)`` times longer. In the RPSFT parametrization
(:mod:`pexsurv.models.rpsft.counterfactual`) untreated time is
``U = T_off + exp(psi) T_on``, so time on therapy stretched by ``exp(beta)`` gives
``psi = -beta``. :func:`aft_switch_estimate` assembles the result both methods return.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from pexsurv._names import REFERENCE
from pexsurv.data import TrialData
from pexsurv.models.rpsft.estimate import SwitchEstimate, TrialArrays, counterfactual_frame

__all__ = ["AFT_DISTRIBUTIONS", "AftDist", "AftFit", "aft_switch_estimate", "check_dist",
           "fit_aft"]

AftDist = Literal["weibull", "loglogistic", "lognormal"]
AFT_DISTRIBUTIONS: tuple[str, ...] = get_args(AftDist)
# lifelines names the linear predictor of log time differently per family.
_LOCATION = {"weibull": "lambda_", "loglogistic": "alpha_", "lognormal": "mu_"}
# Internal column names of the design (covariate names must not collide with them).
TIME, EVENT = "_aft_time", "_aft_event"


def _fitter(dist: str):  # noqa: ANN202 - lifelines types are imported lazily
    from lifelines import LogLogisticAFTFitter, LogNormalAFTFitter, WeibullAFTFitter

    return {"weibull": WeibullAFTFitter, "loglogistic": LogLogisticAFTFitter,
            "lognormal": LogNormalAFTFitter}[dist]()


def check_dist(dist: str) -> str:
    """``dist`` if it is a supported family, else a ValueError listing them."""
    if dist not in AFT_DISTRIBUTIONS:
        raise ValueError(f"aft_dist must be one of {AFT_DISTRIBUTIONS}, got {dist!r}")
    return dist


@dataclass(frozen=True)
class AftFit:
    """The coefficient of one term of an AFT fit on log time.

    Attributes
    ----------
    coef, se : float
        Coefficient of ``term`` on log time and its standard error.
    params : pandas.Series
        All coefficients (lifelines' MultiIndex ``(parameter, covariate)``).
    """

    coef: float
    se: float
    params: pd.Series


def fit_aft(time: np.ndarray, event: np.ndarray, design: Mapping[str, np.ndarray], term: str,
            dist: str = "weibull") -> AftFit:
    """Fit an AFT model of ``(time, event)`` on the columns of ``design``; report ``term``.

    Parameters
    ----------
    time, event : numpy.ndarray
        Positive times and 0/1 events.
    design : mapping of str to numpy.ndarray
        Numeric covariate columns (an intercept is added by lifelines).
    term : str
        Name in ``design`` whose coefficient is returned.
    dist : {"weibull", "loglogistic", "lognormal"}

    Returns
    -------
    AftFit

    Examples
    --------
    Times doubled in group 1: the coefficient on log time is near log 2.

    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> g = np.repeat([0.0, 1.0], 500)
    >>> t = rng.weibull(1.5, 1000) * np.exp(np.log(2.0) * g)
    >>> fit = fit_aft(t, np.ones(1000), {"g": g}, "g")
    >>> bool(abs(fit.coef - np.log(2.0)) < 3 * fit.se)
    True
    """
    frame = pd.DataFrame(dict(design))
    frame[TIME] = np.asarray(time, dtype=float)
    frame[EVENT] = np.asarray(event, dtype=float)
    fitted = _fitter(check_dist(dist)).fit(frame, TIME, EVENT)
    key = (_LOCATION[dist], term)
    return AftFit(coef=float(fitted.params_[key]), se=float(fitted.standard_errors_[key]),
                  params=fitted.params_)


def aft_switch_estimate(method: str, data: TrialData, arrays: TrialArrays, *, psi: float,
                        ci: tuple[float, float], ci_type: str, time_cf: np.ndarray,
                        event_cf: np.ndarray, alpha: float, n_boot: int, seed: int | None,
                        options: dict[str, Any], **result: Any) -> SwitchEstimate:
    """The :class:`SwitchEstimate` of IPE or simple TSE: the counterfactual table, the ITT
    HR, and the settings (the method's ``options`` and what both record); ``result`` holds
    the other fields (adjusted HRs, ``z_itt``, ``boot``, ``details``)."""
    settings = {**options, "alpha": alpha, "n_boot": int(n_boot), "seed": seed,
                # Only the control arm's counterfactual times are used (experimental:
                # observed).
                "recensored_arms": tuple(data.arms[a] for a in arrays.cf.recensored_arms
                                         if a == REFERENCE),
                "n": data.n, "population": data.population}
    return SwitchEstimate(method=method, psi=psi, ci=(float(ci[0]), float(ci[1])),
                          ci_type=ci_type,
                          counterfactual=counterfactual_frame(data, time_cf, event_cf),
                          hr_itt=arrays.cox(arrays.time, arrays.event, alpha),
                          settings=settings, **result)
