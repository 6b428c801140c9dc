"""Named priors for the log hazard ratio (Spiegelhalter-style) and a registry by name,
plus :func:`vague_priors`, flat-like priors on every parameter of a model.

A ``Normal(0, sigma)`` prior on the log HR carries about as much information as a trial
with ``4 / sigma**2`` events (the large-sample variance of a log-HR estimate from ``m``
events split 1:1 is ``4 / m``; Spiegelhalter, Abrams & Myles 2004). That is the yardstick
used below to justify the defaults.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import Any

from scipy.stats import norm

from pexsurv._names import BETA, LOG_HAZARD_BASE, LOG_HR, LOG_HR_SCALE
from pexsurv.priors.baseline import IndependentNormal
from pexsurv.priors.distributions import HalfNormal, Normal
from pexsurv.priors.spec import PriorSpec

__all__ = ["PRESETS", "enthusiastic", "hr_prior", "preset", "sceptical", "vague", "vague_priors",
           "weakly_informative"]

VAGUE_SIGMA = 10.0
WEAKLY_INFORMATIVE_SIGMA = 1.0
# Scale of the period-to-period spread of log HRs (piecewise effect): half-normal with sd 5
# is flat within 8% over spreads up to 2 (hazard ratios differing by e**2 between periods),
# beyond anything a trial shows.
VAGUE_SCALE_SIGMA = 5.0


def vague() -> Normal:
    """``Normal(0, 10)`` on the log HR: a reference prior worth ~0.04 events.

    Its density varies by under 5% over HR in [0.05, 20] (``|log HR| < 3``), so the
    posterior is the likelihood to any practical precision, while staying proper and
    numerically tame for NUTS (a flat prior is neither).

    >>> vague()
    Normal(mu=0, sigma=10)
    """
    return Normal(0.0, VAGUE_SIGMA)


def weakly_informative() -> Normal:
    """``Normal(0, 1)`` on the log HR, the package default, worth ~4 events.

    95% of its mass lies in HR [0.14, 7.1] (``exp(+-1.96)``): it rules out only effects
    never seen in randomized trials, and yields to the data of any real trial.

    >>> [round(math.exp(v), 2) for v in weakly_informative().interval(0.95)]
    [0.14, 7.1]
    """
    return Normal(0.0, WEAKLY_INFORMATIVE_SIGMA)


def vague_priors(names: Iterable[str] | None = None) -> dict[str, PriorSpec]:
    """Flat-like priors on *every* parameter, to reproduce SAS PHREG BAYES or BUGS analyses.

    SAS PROC PHREG ``BAYES`` uses flat priors on the regression coefficients and the log
    hazards, and the BUGS examples (e.g. *Leuk*) near-flat ones. Improper priors have no
    PyMC form, so each is proper but worth at most ~0.01 events of information:

    ================== ==================================================================
    ``log_hazard_base`` ``IndependentNormal(mu=None, sigma=10)``: centred on the reference
                        arm's crude log rate (filled from the data); density within 5% over
                        a factor e**3 either side
    ``log_hr``          ``Normal(0, 10)`` (:func:`vague`)
    ``log_hr_scale``    ``HalfNormal(5)`` (piecewise effect)
    ``beta``            ``Normal(0, 10)`` per standardised covariate (per SD)
    ================== ==================================================================

    With them the posterior median of the log HR sits within 0.03 posterior sd of the
    piecewise-exponential maximum-likelihood estimate on average over 50 trials of 40-60
    patients with an interval per event time (``validation/small_trials.md``).

    Parameters
    ----------
    names : iterable of str, optional
        The graph names wanted (e.g. a model's ``default_priors()``); all by default.

    Returns
    -------
    dict
        Graph name -> prior; pass it as a model's ``priors`` (or use ``priors="vague"``).

    Examples
    --------
    >>> vague_priors(["log_hazard_base", "log_hr"])
    {'log_hazard_base': IndependentNormal(mu=None, sigma=10), 'log_hr': Normal(mu=0, sigma=10)}
    """
    every: dict[str, PriorSpec] = {
        LOG_HAZARD_BASE: IndependentNormal(sigma=VAGUE_SIGMA),
        LOG_HR: vague(),
        LOG_HR_SCALE: HalfNormal(VAGUE_SCALE_SIGMA),
        BETA: Normal(0.0, VAGUE_SIGMA),
    }
    if names is None:
        return every
    names = list(names)
    unknown = sorted(set(names) - set(every))
    if unknown:
        raise ValueError(f"no vague prior for {unknown}; vague_priors covers {sorted(every)}")
    return {name: every[name] for name in names}


def _tail_sigma(hr_alt: float, prob: float) -> float:
    """sd putting probability ``prob`` beyond ``log(hr_alt)`` for a Normal centred at 0."""
    if not (math.isfinite(hr_alt) and hr_alt > 0 and hr_alt != 1.0):
        raise ValueError(f"hr_alt must be a positive hazard ratio other than 1, got {hr_alt}")
    if not 0.0 < prob < 0.5:
        raise ValueError(f"prob must be in (0, 0.5), got {prob}")
    return abs(math.log(hr_alt)) / norm.isf(prob)


def sceptical(hr_alt: float, prob: float = 0.05) -> Normal:
    """Sceptical prior: centred on no effect, ``P(HR beyond hr_alt) = prob``.

    For a benefit alternative (``hr_alt < 1``) that is ``P(HR < hr_alt) = prob``; for a
    harm alternative (``hr_alt > 1``), ``P(HR > hr_alt) = prob``.

    Parameters
    ----------
    hr_alt : float
        The alternative hazard ratio (e.g. the one the trial was powered for).
    prob : float
        Prior probability of an effect at least as large as ``hr_alt``, in (0, 0.5).

    Returns
    -------
    Normal
        Prior on the log HR, centred at 0.

    Examples
    --------
    >>> p = sceptical(0.7)
    >>> round(float(norm.cdf(math.log(0.7), p.mu, p.sigma)), 12)
    0.05
    """
    return Normal(0.0, _tail_sigma(hr_alt, prob))


def enthusiastic(hr_alt: float, prob: float = 0.05) -> Normal:
    """Enthusiastic prior: centred on ``log(hr_alt)``, ``P(no effect or the opposite) = prob``.

    For ``hr_alt < 1`` that is ``P(HR > 1) = prob``; for ``hr_alt > 1``, ``P(HR < 1) =
    prob``. It has the same sd as :func:`sceptical` with the same arguments.

    Parameters
    ----------
    hr_alt, prob
        As in :func:`sceptical`, read from the enthusiast's side: the hazard ratio expected,
        and the prior probability (in (0, 0.5)) that the treatment does not act in its
        direction.

    Returns
    -------
    Normal

    Examples
    --------
    >>> p = enthusiastic(0.7)
    >>> round(float(norm.sf(0.0, p.mu, p.sigma)), 12)
    0.05
    """
    return Normal(math.log(hr_alt), _tail_sigma(hr_alt, prob))


def hr_prior(
    median: float | None = None,
    *,
    interval: tuple[float, float],
    prob: float = 0.95,
    rtol: float = 0.05,
) -> Normal:
    """Normal prior on the log HR from a clinical statement on the HR scale.

    "The HR is most likely ``median``, and with probability ``prob`` between ``lo`` and
    ``hi``" gives ``mu = log(median)`` and ``sigma`` from the interval. A Normal on the
    log HR is symmetric there, so the interval must be too: ``lo * hi`` equal to
    ``median**2``. Half-widths (on the log scale) differing by up to ``rtol`` (relative)
    are taken as rounding and ``sigma`` is their least-squares fit (their mean); a larger
    asymmetry raises, since averaging it away would silently change the stated belief.
    Without ``median``, the geometric mean of the interval is used.

    Parameters
    ----------
    median : float, optional
        Prior median hazard ratio (> 0).
    interval : (float, float)
        Central prior interval ``(lo, hi)`` for the hazard ratio, ``0 < lo < hi``.
    prob : float
        Probability of the interval, in (0, 1).
    rtol : float
        Tolerated relative difference between the two log-scale half-widths.

    Returns
    -------
    Normal
        Prior on the log HR: ``Normal(log(median), sigma)``.

    Examples
    --------
    >>> hr_prior(median=0.7, interval=(0.5, 0.98)).mu == math.log(0.7)
    True
    >>> round(math.exp(hr_prior(interval=(0.5, 2.0)).mu), 12)
    1.0
    """
    lo, hi = interval
    if not (math.isfinite(hi) and 0.0 < lo < hi):
        raise ValueError(f"interval must satisfy 0 < lo < hi, got {interval}")
    if not 0.0 < prob < 1.0:
        raise ValueError(f"prob must be in (0, 1), got {prob}")
    if median is None:
        median = math.sqrt(lo * hi)
    if not lo < median < hi:
        raise ValueError(f"median {median} must lie inside the interval {interval}")
    mu = math.log(median)
    below, above = mu - math.log(lo), math.log(hi) - mu
    if abs(above - below) > rtol * (above + below) / 2:
        raise ValueError(
            f"interval {interval} is not symmetric around median {median} on the log-HR scale "
            f"(log half-widths {below:.4g} below, {above:.4g} above), which a Normal prior on the "
            f"log HR cannot express. Use median={math.sqrt(lo * hi):.4g} (the geometric mean of "
            f"the interval) or an interval with lo * hi = median**2."
        )
    return Normal(mu, (below + above) / 2 / norm.isf((1.0 - prob) / 2))


PRESETS: MappingProxyType[str, Callable[..., Normal]] = MappingProxyType(
    {
        "vague": vague,
        "weakly_informative": weakly_informative,
        "sceptical": sceptical,
        "enthusiastic": enthusiastic,
        "hr_prior": hr_prior,
    }
)


def preset(name: str, **kwargs: Any) -> Normal:
    """Call the preset registered as ``name`` with ``kwargs`` (for config files).

    >>> preset("sceptical", hr_alt=0.7) == sceptical(0.7)
    True
    """
    try:
        factory = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown log-HR preset {name!r}; valid: {', '.join(PRESETS)}") from None
    return factory(**kwargs)
