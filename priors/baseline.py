"""Priors on the piecewise-constant baseline hazard: structures across intervals.

Each structure is frozen data with ``build(name, dims=..., params=...)``, which adds the
``log_hazard_base`` variable to the current ``pm.Model``. The last of ``dims`` is the
interval axis (the one smoothed over); a leading axis, e.g. ``("stratum", "interval")``,
gives every stratum its own baseline with shared smoothing hyper-parameters.

``mu=None`` (and ``beta=None`` for :class:`GammaHazard`) means *data-driven*: the prior
is centred on the crude event rate of the person-time the baseline describes (the
reference arm), filled in by :func:`resolve_priors` from :func:`data_driven_baseline`.

Auxiliary graph variables are named after ``name``: ``<name>_z`` (standard-normal
innovations of the non-centred random walk), ``<name>_innovation_sd``, ``<name>_rho`` and
``<name>_sd`` (AR(1)); the gamma form adds ``hazard_base`` (``name`` without ``log_``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor import TensorVariable

from pexsurv._names import INTERVAL, LOG_HAZARD_BASE
from pexsurv.priors.distributions import Gamma, HalfNormal, Prior, Uniform
from pexsurv.priors.spec import PriorSpec, nested, spec_dataclass

__all__ = [
    "AR1",
    "BaselinePrior",
    "GammaHazard",
    "IndependentNormal",
    "RandomWalk",
    "data_driven_baseline",
]

# A Normal(mu, s) prior on a log hazard carries the information of about 1 / s**2 events
# (the log of a rate estimated from d events has variance 1 / d). With one interval per
# event time an interval holds a single event, so s = 2 (0.25 events) pulled each interval
# a quarter of the way to mu and shifted the log HR by ~0.2 posterior sd even when centred
# on the reference arm (0.44 sd centred on the pooled rate). s = 5 is worth 0.04 events:
# measured shift 0.08 sd (validation/small_trials.md), while still proper and NUTS-friendly.
LEVEL_SIGMA = 5.0
# Interval-to-interval log-hazard changes: median innovation sd ~ 0.34, and a jump by a
# factor e (1 on the log scale) sits about two prior sds out.
DEFAULT_INNOVATION = HalfNormal(0.5)
# AR(1) marginal sd of the log hazards around their level: Gamma(4, 10), mean 0.4 (hazards
# varying by a factor ~1.5 between intervals), 95% within [0.11, 0.88]. Its density
# vanishes at 0, where the centred model would force every interval onto the level: a
# funnel for NUTS (with HalfNormal(0.5) the packaged data gave 1-12 divergences per fit).
DEFAULT_AR_SD = Gamma(4.0, 10.0)
# Hazards are expected to vary smoothly, so autocorrelation is positive (an alternating,
# negative-rho hazard is not a plausible shape). It stops at 0.9 (lag-8 correlation 0.43):
# as rho nears 1 the process becomes a constant offset, which the level already is, and
# the differences between intervals are forced to 0, the other funnel. A hazard that
# wanders without returning to a level is a RandomWalk.
DEFAULT_RHO = Uniform(0.0, 0.9)


@spec_dataclass
class BaselinePrior(PriorSpec, family=False):
    """A prior structure for the baseline log hazards of all intervals."""

    def build(
        self,
        name: str = LOG_HAZARD_BASE,
        *,
        dims: Sequence[str] = (INTERVAL,),
        params: Mapping[str, Any] | None = None,
    ) -> TensorVariable:
        """Add the ``name`` variable (log hazards, shaped by ``dims``) to the current model.

        Parameters
        ----------
        name : str
            Graph name of the log baseline hazards.
        dims : sequence of str
            Model dimensions, interval axis last, e.g. ``("stratum", "interval")``; their
            lengths come from the model's coords.
        params : mapping, optional
            Tensor replacements for hyper-parameters, keyed as in :meth:`params`
            (e.g. from :func:`pexsurv.priors.hyper_data`).

        Returns
        -------
        TensorVariable
            The log baseline hazards with ``dims``.

        Examples
        --------
        >>> import pymc as pm
        >>> with pm.Model(coords={"interval": range(3)}) as model:
        ...     log_h = RandomWalk(mu=-2.0).build()
        >>> sorted(model.named_vars)
        ['log_hazard_base', 'log_hazard_base_innovation_sd', 'log_hazard_base_z']
        """
        dims = tuple(dims)
        if not dims:
            raise ValueError("dims must name at least the interval dimension")
        return self._build(name, dims, self._values(params))

    def _build(self, name: str, dims: tuple[str, ...], values: dict[str, Any]) -> TensorVariable:
        raise NotImplementedError


def _check_scale_prior(owner: str, field: str, prior: object) -> None:
    if not isinstance(prior, Prior) or prior.support()[0] < 0:
        raise ValueError(f"{owner}: {field} must be a prior on [0, inf) such as HalfNormal(0.5), got {prior!r}")


@spec_dataclass
class IndependentNormal(BaselinePrior):
    """Independent ``Normal(mu, sigma)`` on each interval's log hazard.

    >>> IndependentNormal(mu=-3.0)
    IndependentNormal(mu=-3, sigma=5)
    """

    mu: float | None = None
    sigma: float = LEVEL_SIGMA
    _positive: ClassVar = ("sigma",)

    def _build(self, name: str, dims: tuple[str, ...], values: dict[str, Any]) -> TensorVariable:
        return pm.Normal(name, mu=values["mu"], sigma=values["sigma"], dims=dims)


@spec_dataclass
class GammaHazard(BaselinePrior):
    """Independent ``Gamma(alpha, beta)`` on each interval's hazard (the SAS form).

    SAS PROC PHREG (``BAYES PIECEWISE=HAZARD``) documents an improper prior
    ``p(lambda_j) ~ 1 / lambda_j`` (flat on the log hazard), whose posterior is proper
    only when every interval holds an event, besides proper gamma and AR(1)-gamma
    priors. An improper prior has no PyMC equivalent and no prior draws, so the default
    here is a proper but vague gamma: ``alpha = 0.1`` is the information of a tenth of
    an event per interval, and ``beta=None`` (data-driven) sets ``beta = alpha /
    crude rate``, i.e. the prior mean is the crude rate. The log hazard then has prior
    sd ~ 10. Smaller shapes buy nothing for the posterior and wreck prior draws: at
    0.01 a tenth of them fall below 1e-100 times the mean, at 1e-4 most are exactly 0.

    The model gets ``hazard_base`` (Gamma, sampled on its log by PyMC) and the
    deterministic ``log_hazard_base = log(hazard_base)``.

    >>> GammaHazard().fill({"mu": 0.0})
    GammaHazard(alpha=0.1, beta=0.1)
    """

    alpha: float = 0.1
    beta: float | None = None
    _positive: ClassVar = ("alpha", "beta")

    def fill(self, values: Mapping[str, float], *, overwrite: bool = False) -> Self:
        """As :meth:`PriorSpec.fill`; a ``mu`` (log rate) sets ``beta`` so the prior mean is ``exp(mu)``.

        >>> GammaHazard(alpha=2.0).fill({"mu": math.log(4.0)})
        GammaHazard(alpha=2, beta=0.5)
        """
        values = dict(values)
        if "mu" in values:
            values["beta"] = self.alpha * math.exp(-values.pop("mu"))
        return super().fill(values, overwrite=overwrite)

    def _build(self, name: str, dims: tuple[str, ...], values: dict[str, Any]) -> TensorVariable:
        hazard_name = name.removeprefix("log_")
        if hazard_name == name:
            raise ValueError(f"GammaHazard: name must start with 'log_' (it is on the log scale), got {name!r}")
        hazard = pm.Gamma(hazard_name, alpha=values["alpha"], beta=values["beta"], dims=dims)
        return pm.Deterministic(name, pt.log(hazard), dims=dims)


@spec_dataclass
class RandomWalk(BaselinePrior):
    """Gaussian random walk of the log hazard across intervals.

    The first interval is ``Normal(mu, sigma_first)``; each next one adds a
    ``Normal(0, tau)`` step with ``tau ~ innovation``. Non-centred: the model samples
    standard normals ``<name>_z`` and scales them, which NUTS handles far better than
    the centred walk when ``tau`` is small.

    >>> RandomWalk(mu=-2.0).params()
    {'mu': -2.0, 'sigma_first': 5.0, 'innovation_sigma': 0.5}
    """

    mu: float | None = None
    sigma_first: float = LEVEL_SIGMA
    innovation: Prior = DEFAULT_INNOVATION
    _positive: ClassVar = ("sigma_first",)

    def _validate(self) -> None:
        _check_scale_prior("RandomWalk", "innovation", self.innovation)

    def _build(self, name: str, dims: tuple[str, ...], values: dict[str, Any]) -> TensorVariable:
        z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
        tau = self.innovation.create(f"{name}_innovation_sd", params=nested(values, "innovation"))
        steps = pt.concatenate([values["sigma_first"] * z[..., :1], tau * z[..., 1:]], axis=-1)
        return pm.Deterministic(name, values["mu"] + pt.cumsum(steps, axis=-1), dims=dims)


@spec_dataclass
class AR1(BaselinePrior):
    """Stationary AR(1) of the log hazard around an uncertain mean level.

    ``log_h[j] = level + d[j]`` with ``level ~ Normal(mu, sigma)`` and ``d`` a stationary
    AR(1) with marginal sd ``s ~ sd`` and lag-one correlation ``rho ~ rho`` (a ``Uniform``
    within ``[-1, 1]``): ``corr(d[j], d[k]) = rho**|j - k|``. Unlike :class:`RandomWalk`,
    the hazards are pulled back towards the level, so sparse late intervals borrow from the
    mean rather than from the last estimate only.

    The level is integrated out, so the log hazards are one centred multivariate normal
    with covariance ``sigma**2 + s**2 * rho**|j - k|``. The earlier non-centred form (level,
    innovation sd and standard-normal innovations as separate parameters) let the level
    trade against the process mean along a ridge whose width changed with ``rho`` and
    ``s``: on the packaged CT041-like OS data (8 equal-event intervals) NUTS diverged
    76-281 times per 4 x 1000 draws. Parameterised by its marginal sd, the process keeps a
    bounded variance as ``rho`` nears 1; the defaults ``rho ~ Uniform(0, 0.9)`` and
    ``sd ~ Gamma(4, 10)`` (mean 0.4, zero density at 0) keep NUTS out of the two funnels
    where all hazards are forced equal (``sd`` near 0, ``rho`` near 1): 0 divergences on
    the packaged data at four seeds.

    >>> AR1(mu=-2.0).params()["rho_upper"]
    0.9
    """

    mu: float | None = None
    sigma: float = LEVEL_SIGMA
    rho: Uniform = DEFAULT_RHO
    sd: Prior = DEFAULT_AR_SD
    _positive: ClassVar = ("sigma",)

    def _validate(self) -> None:
        if not (isinstance(self.rho, Uniform) and -1.0 <= self.rho.lower and self.rho.upper <= 1.0):
            raise ValueError(f"AR1: rho must be a Uniform within [-1, 1], got {self.rho!r}")
        _check_scale_prior("AR1", "sd", self.sd)

    def _build(self, name: str, dims: tuple[str, ...], values: dict[str, Any]) -> TensorVariable:
        rho = self.rho.create(f"{name}_rho", params=nested(values, "rho"))
        sd = self.sd.create(f"{name}_sd", params=nested(values, "sd"))
        n = pm.modelcontext(None).dim_lengths[dims[-1]]
        lag = pt.abs(pt.arange(n)[:, None] - pt.arange(n)[None, :])
        # rho**max(lag, 1) keeps the gradient finite at rho = 0, where d(rho**0)/d(rho)
        # would be 0 * inf.
        corr = pt.switch(pt.eq(lag, 0), 1.0, rho ** pt.maximum(lag, 1))
        cov = values["sigma"] ** 2 + sd**2 * corr
        return pm.MvNormal(name, mu=values["mu"] * pt.ones(n), chol=pt.linalg.cholesky(cov),
                           dims=dims)


def data_driven_baseline(events_total: float, exposure_total: float) -> dict[str, dict[str, float]]:
    """Data-driven baseline values: ``mu`` = crude log event rate (events / person-time).

    The result is the ``data_driven`` layer of :func:`pexsurv.priors.resolve_priors`; it
    fills ``mu`` of whichever baseline structure is chosen (``beta`` for
    :class:`GammaHazard`). Pass the events and person-time *of the reference group*, the
    group whose hazard the baseline is: a centre that mixes in the experimental arm sits
    away from the reference rate by about half the log HR, and a prior pulling every
    sparse interval towards it pulls the log HR towards 0 (issue 10:
    :class:`pexsurv.models.PiecewiseExponential` passes the reference arm's totals).

    Parameters
    ----------
    events_total : float
        Number of events in the reference group over all intervals (> 0).
    exposure_total : float
        Its person-time at risk, in the model's time unit (> 0).

    Returns
    -------
    dict
        ``{"log_hazard_base": {"mu": log(events_total / exposure_total)}}``.

    Examples
    --------
    >>> data_driven_baseline(20, 400.0)["log_hazard_base"]["mu"] == math.log(0.05)
    True
    """
    if not (math.isfinite(events_total) and events_total > 0):
        raise ValueError(f"events_total must be > 0 to centre the baseline on the crude rate, "
                         f"got {events_total}; with no events give the baseline mu explicitly")
    if not (math.isfinite(exposure_total) and exposure_total > 0):
        raise ValueError(f"exposure_total must be a positive person-time, got {exposure_total}")
    return {LOG_HAZARD_BASE: {"mu": math.log(events_total / exposure_total)}}
