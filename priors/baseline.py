"""Priors on the piecewise-constant baseline hazard: structures across intervals.

Each structure is frozen data with ``build(name, dims=..., params=...)``, which adds the
``log_hazard_base`` variable to the current ``pm.Model``. The last of ``dims`` is the
interval axis (the one smoothed over); a leading axis, e.g. ``("stratum", "interval")``,
gives every stratum its own baseline with shared smoothing hyper-parameters.

``mu=None`` (and ``beta=None`` for :class:`GammaHazard`) means *data-driven*: the prior
is centred on the crude event rate, filled in by :func:`resolve_priors` from
:func:`data_driven_baseline`.

Auxiliary graph variables are named after ``name``: ``<name>_z`` (standard-normal
innovations of the non-centred smoothers), ``<name>_level_z``, ``<name>_innovation_sd``,
``<name>_rho``; the gamma form adds ``hazard_base`` (``name`` without ``log_``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor import TensorVariable

from pexsurv._names import INTERVAL, LOG_HAZARD_BASE
from pexsurv.priors.distributions import HalfNormal, Prior, Uniform
from pexsurv.priors.spec import Spec, nested, spec_dataclass

__all__ = [
    "AR1",
    "BaselinePrior",
    "GammaHazard",
    "IndependentNormal",
    "RandomWalk",
    "data_driven_baseline",
]

# sd 2 on the log scale: the baseline level may lie a factor exp(1.96 * 2) ~ 50 either
# side of the crude rate, wide enough never to fight the data yet keeping NUTS in range.
LEVEL_SIGMA = 2.0
# Interval-to-interval log-hazard changes: median innovation sd ~ 0.34, and a jump by a
# factor e (1 on the log scale) sits about two prior sds out.
DEFAULT_INNOVATION = HalfNormal(0.5)
# Hazards are expected to vary smoothly, so autocorrelation is positive; an alternating
# (negative rho) hazard is not a plausible shape.
DEFAULT_RHO = Uniform(0.0, 1.0)


@spec_dataclass
class BaselinePrior(Spec, family=False):
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
    IndependentNormal(mu=-3, sigma=2)
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
        """As :meth:`Spec.fill`; a ``mu`` (log rate) sets ``beta`` so the prior mean is ``exp(mu)``.

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
    {'mu': -2.0, 'sigma_first': 2.0, 'innovation_sigma': 0.5}
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

    ``log_h[j] = level + d[j]`` with ``level ~ Normal(mu, sigma)`` and
    ``d[j] = rho * d[j-1] + tau * e[j]``, ``d[0]`` drawn from the stationary law
    (sd ``tau / sqrt(1 - rho**2)``), ``tau ~ innovation``, ``rho ~ rho`` (a
    ``Uniform`` within ``[-1, 1]``). Non-centred, like :class:`RandomWalk`; unlike it,
    the hazards are pulled back towards the level, so sparse late intervals borrow
    from the mean rather than from the last estimate only.

    >>> AR1(mu=-2.0).params()["rho_upper"]
    1.0
    """

    mu: float | None = None
    sigma: float = LEVEL_SIGMA
    rho: Uniform = DEFAULT_RHO
    innovation: Prior = DEFAULT_INNOVATION
    _positive: ClassVar = ("sigma",)

    def _validate(self) -> None:
        if not (isinstance(self.rho, Uniform) and -1.0 <= self.rho.lower and self.rho.upper <= 1.0):
            raise ValueError(f"AR1: rho must be a Uniform within [-1, 1], got {self.rho!r}")
        _check_scale_prior("AR1", "innovation", self.innovation)

    def _build(self, name: str, dims: tuple[str, ...], values: dict[str, Any]) -> TensorVariable:
        z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
        level_z = pm.Normal(f"{name}_level_z", 0.0, 1.0, dims=dims[:-1] or None)
        rho = self.rho.create(f"{name}_rho", params=nested(values, "rho"))
        tau = self.innovation.create(f"{name}_innovation_sd", params=nested(values, "innovation"))
        n = z.shape[-1]
        # d = (scale * z) @ P.T with P[j, k] = rho**(j - k) for k <= j (the AR recursion
        # unrolled). rho**max(lag, 1) keeps the gradient finite at rho = 0, where
        # d(rho**0)/d(rho) would be 0 * inf.
        lag = pt.arange(n)[:, None] - pt.arange(n)[None, :]
        powers = pt.switch(pt.eq(lag, 0), 1.0, rho ** pt.maximum(lag, 1)) * pt.ge(lag, 0)
        first = pt.reshape(1.0 / pt.sqrt(1.0 - rho**2), (1,))
        scale = tau * pt.concatenate([first, pt.ones((n - 1,))])
        level = values["mu"] + values["sigma"] * level_z
        return pm.Deterministic(name, level[..., None] + pt.dot(z * scale, powers.T), dims=dims)


def data_driven_baseline(events_total: float, exposure_total: float) -> dict[str, dict[str, float]]:
    """Data-driven baseline values: ``mu`` = crude log event rate (events / person-time).

    The result is the ``data_driven`` layer of :func:`pexsurv.priors.resolve_priors`; it
    fills ``mu`` of whichever baseline structure is chosen (``beta`` for
    :class:`GammaHazard`).

    Parameters
    ----------
    events_total : float
        Number of events over all intervals and arms (> 0).
    exposure_total : float
        Total person-time at risk, in the model's time unit (> 0).

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
