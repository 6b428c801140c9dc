"""Univariate prior families: frozen data that can build a PyMC variable or a scipy density.

Each family's fields carry the same names as the PyMC distribution's arguments, so
``create`` passes them straight through, and any of them may be swapped for a tensor (a
``pm.Data``) so that one compiled model serves many prior settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pymc as pm
from pytensor.tensor import TensorVariable
from scipy import stats

from pexsurv.priors.spec import PriorSpec, spec_dataclass

__all__ = ["Exponential", "Gamma", "HalfNormal", "Normal", "Prior", "StudentT", "Uniform"]


@spec_dataclass
class Prior(PriorSpec, family=False):
    """A univariate prior: one PyMC distribution with float hyper-parameters."""

    _pymc: ClassVar[type[pm.Distribution]]

    def _validate(self) -> None:
        for name, value in self._flat().items():
            if not isinstance(value, float):
                raise TypeError(f"{type(self).__name__}: {name} must be a number, got {value!r}")

    def create(
        self,
        name: str,
        *,
        dims: str | Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> TensorVariable:
        """Add this prior as variable ``name`` to the current ``pm.Model``.

        Parameters
        ----------
        name : str
            Variable name in the model graph.
        dims : str or sequence of str, optional
            Model dimensions of the variable (scalar when omitted).
        params : mapping, optional
            Replacements for some or all hyper-parameters, typically the ``pm.Data``
            returned by :func:`pexsurv.priors.hyper_data`; missing ones use this prior's
            numbers.
        **kwargs
            Passed on to the PyMC distribution (e.g. ``initval``).

        Returns
        -------
        TensorVariable
            The new random variable.

        Examples
        --------
        >>> import pymc as pm
        >>> with pm.Model():
        ...     log_hr = Normal(0, 1).create("log_hr")
        >>> log_hr.name
        'log_hr'
        """
        return self._pymc(name, **self._values(params), dims=dims, **kwargs)

    def _scipy(self) -> Any:
        """The equivalent frozen ``scipy.stats`` distribution."""
        raise NotImplementedError

    def logpdf(self, x: Any) -> np.ndarray | float:
        """Log density at ``x`` (numpy broadcasting; ``-inf`` outside the support).

        >>> round(float(Normal(0, 1).logpdf(0.0)), 6)
        -0.918939
        """
        return self._scipy().logpdf(x)

    def interval(self, prob: float) -> tuple[float, float]:
        """Central interval holding probability ``prob``.

        >>> [round(v, 4) for v in Normal(0, 1).interval(0.95)]
        [-1.96, 1.96]
        """
        if not 0.0 < prob < 1.0:
            raise ValueError(f"prob must be in (0, 1), got {prob}")
        lo, hi = self._scipy().interval(prob)
        return float(lo), float(hi)

    def median(self) -> float:
        """Median of the distribution.

        >>> Exponential(lam=np.log(2)).median()
        1.0
        """
        return float(self._scipy().median())

    def support(self) -> tuple[float, float]:
        """Lower and upper end of the support (may be infinite).

        >>> HalfNormal(1.0).support()
        (0.0, inf)
        """
        lo, hi = self._scipy().support()
        return float(lo), float(hi)


@spec_dataclass
class Normal(Prior):
    """Normal(mu, sigma).

    >>> Normal(0, 1.5)
    Normal(mu=0, sigma=1.5)
    """

    mu: float
    sigma: float
    _positive: ClassVar = ("sigma",)
    _pymc: ClassVar = pm.Normal

    def _scipy(self) -> Any:
        return stats.norm(self.mu, self.sigma)


@spec_dataclass
class StudentT(Prior):
    """Student-t with ``nu`` degrees of freedom, location ``mu`` and scale ``sigma``.

    >>> StudentT(nu=3, mu=0, sigma=1).median()
    0.0
    """

    nu: float
    mu: float
    sigma: float
    _positive: ClassVar = ("nu", "sigma")
    _pymc: ClassVar = pm.StudentT

    def _scipy(self) -> Any:
        return stats.t(self.nu, loc=self.mu, scale=self.sigma)


@spec_dataclass
class HalfNormal(Prior):
    """Half-normal on ``[0, inf)`` with scale ``sigma`` (used for smoothing scales).

    >>> round(HalfNormal(0.5).median(), 4)
    0.3372
    """

    sigma: float
    _positive: ClassVar = ("sigma",)
    _pymc: ClassVar = pm.HalfNormal

    def _scipy(self) -> Any:
        return stats.halfnorm(scale=self.sigma)


@spec_dataclass
class Exponential(Prior):
    """Exponential with rate ``lam`` (mean ``1 / lam``).

    >>> round(float(Exponential(lam=2.0).logpdf(0.0)), 6)
    0.693147
    """

    lam: float
    _positive: ClassVar = ("lam",)
    _pymc: ClassVar = pm.Exponential

    def _scipy(self) -> Any:
        return stats.expon(scale=1.0 / self.lam)


@spec_dataclass
class Gamma(Prior):
    """Gamma with shape ``alpha`` and rate ``beta`` (mean ``alpha / beta``), e.g. on hazards.

    >>> round(Gamma(alpha=1, beta=np.log(2)).median(), 12)
    1.0
    """

    alpha: float
    beta: float
    _positive: ClassVar = ("alpha", "beta")
    _pymc: ClassVar = pm.Gamma

    def _scipy(self) -> Any:
        return stats.gamma(self.alpha, scale=1.0 / self.beta)


@spec_dataclass
class Uniform(Prior):
    """Uniform on ``[lower, upper]`` (e.g. for psi grids and autocorrelations).

    >>> Uniform(0, 1).interval(0.5)
    (0.25, 0.75)
    """

    lower: float
    upper: float
    _pymc: ClassVar = pm.Uniform

    def _validate(self) -> None:
        super()._validate()
        if not self.lower < self.upper:
            raise ValueError(f"Uniform: lower must be < upper, got lower={self.lower}, upper={self.upper}")

    def _scipy(self) -> Any:
        return stats.uniform(loc=self.lower, scale=self.upper - self.lower)
