r"""Bayesian rank-preserving structural failure time (RPSFT) model, resting on randomization.

Stage 1 (psi). The only trustworthy information about the treatment effect psi under
prognosis-driven switching is randomization: the counterfactual untreated times
:math:`U(\psi) = T_{off} + e^{\psi} T_{on}` are independent of the randomized arm. With
:math:`Z(\psi)` the randomization test statistic of g-estimation (log-rank by default) the
Laplace-type quasi-posterior (Chernozhukov & Hong, 2003) is

.. math:: p(\psi \mid \text{data}) \propto p(\psi)\, \exp\{-Z(\psi)^2 / 2\}.

Z is a step function of psi, so the density is computed exactly on a fine grid and sampled
by inverse CDF: no gradients, independent draws. A likelihood that conditions on switch
times is *not* used: it is biased when switching depends on prognosis (see the package
notes and the validation study).

Stage 2 (survival had nobody switched). For M posterior draws of psi (its (k + 1/2)/M
quantiles) the control arm's counterfactual (recensored) untreated times are built, and the
piecewise-exponential model compares the experimental arm as observed with the control arm
had nobody switched; one compiled PEM serves all M data sets (only data change) and the
draws are pooled: ``log_hazard_base`` (control survival, medians, RMST had nobody switched)
carries psi's uncertainty.

Adjusted hazard ratio. The PEM's own arm effect (kept as ``log_hr_two_stage``) is *not*
the reported HR: its interval is too narrow. psi-hat's error and the stage-2 comparison's
error both come from the same between-arm sampling noise, but the mixture over psi treats
them as independent; in the validation study the adjusted log HR moved one for one with
psi-hat across trials and only ~0.3 per unit psi within a data set, and the mixture's 95%
interval covered the true no-switch HR in 84-86% of trials. Instead (:func:`paired_log_hr`),
by randomization the experimental arm's *own* counterfactual times U(psi) have the control
arm's no-switch distribution, so the adjusted HR compares each experimental patient as
observed with themself untreated: the between-arm noise enters once, through psi's
posterior, and the noise left at fixed psi (which patients happen to be in the
experimental arm) is carried by a Bayesian bootstrap (Dirichlet patient weights, one set
per pooled draw). ``log_hr``/``hr`` are these draws.

Validation: coverage of psi and of the adjusted-HR interval on simulated trials with
prognosis-driven switching, through :func:`pexsurv.fitting.fit` with these defaults, is
recorded in ``validation/rpsft_study.md`` (figures live there, not here, so they cannot go
stale).

References
----------
.. [1] Robins JM, Tsiatis AA (1991). Correcting for non-compliance in randomized trials
   using rank preserving structural failure time models. Commun Stat Theory Methods.
.. [2] Chernozhukov V, Hong H (2003). An MCMC approach to classical estimation.
   J Econometrics 115:293-346.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import xarray as xr

from pexsurv import _names as N
from pexsurv._checks import as_count
from pexsurv.data import TrialData
from pexsurv.intervals import exposure_matrix, interval_index
from pexsurv.models.base import ModelSpec
from pexsurv.models.piecewise import PiecewiseExponential
from pexsurv.models.rpsft.counterfactual import counterfactual_times
from pexsurv.models.rpsft.gestimation import z_on_grid
from pexsurv.models.rpsft.weighted import two_group_log_hr
from pexsurv.priors import Normal, Prior, PriorSpec

__all__ = ["RPSFT", "adjusted_log_hr_draws", "grid_quantiles", "paired_log_hr",
           "psi_posterior_grid"]


def paired_log_hr(data: TrialData, psi: float, cuts: Any, *, weights: np.ndarray | None = None,
                  recensor: bool = True, autoswitch: bool = True,
                  treat_modifier: Any = 1.0) -> np.ndarray:
    """Adjusted log HR at ``psi``: the experimental arm as observed against the same
    patients' counterfactual untreated times ``U(psi)``.

    By randomization ``U`` has one distribution in both arms, so the experimental arm's own
    ``U`` estimates the control arm's survival had nobody switched. Comparing each patient
    with themself removes the between-arm sampling noise that ``psi``'s posterior already
    carries; the control-arm comparison would count it twice with the wrong sign of
    correlation (why the two-stage mixture under-covers, see the module docstring).
    The estimate is the maximum-likelihood log HR of a proportional-hazards
    piecewise-exponential model on ``cuts``
    (:func:`~pexsurv.models.rpsft.weighted.two_group_log_hr` on interval totals).

    Parameters
    ----------
    data : TrialData
    psi : float
    cuts : sequence of float
    weights : numpy.ndarray, optional
        ``(B, n_experimental)`` non-negative patient weights, e.g. Bayesian-bootstrap
        (Dirichlet) weights; both copies of a patient get the same weight.
    recensor, autoswitch, treat_modifier
        As in :func:`pexsurv.models.counterfactual_times`.

    Returns
    -------
    numpy.ndarray
        Shape ``(B,)`` (``(1,)`` without weights).

    Examples
    --------
    Exponential times: ``U = T exp(psi)`` for a fully treated arm, so the hazard ratio is
    ``exp(psi)`` and the log HR is ``psi`` (here -0.5 up to sampling noise):

    >>> from pexsurv import datasets
    >>> data = datasets.ct041_like(endpoint="os")
    >>> float(paired_log_hr(data, -0.5, (3.0, 6.0, 12.0))[0]) < 0
    True
    """
    exp = data.arm == N.EXPERIMENTAL
    u, e = counterfactual_times(data, psi, recensor=recensor, autoswitch=autoswitch,
                                treat_modifier=treat_modifier)
    cuts = np.asarray(cuts, dtype=float)
    k = cuts.size + 1

    def totals(time: np.ndarray, event: np.ndarray) -> np.ndarray:
        """Exposure (first k columns) and events (last k) per patient and interval."""
        out = np.zeros((time.size, 2 * k))
        out[:, :k] = exposure_matrix(np.zeros(time.size), time, cuts)
        out[np.arange(time.size), k + interval_index(time, cuts)] = event
        return out

    w = np.ones((1, int(exp.sum()))) if weights is None else np.atleast_2d(weights)
    # One product per group: weighted interval totals of every weight set at once.
    observed = w @ totals(data.time[exp], data.event[exp])
    counterfactual = w @ totals(u[exp], e[exp])
    # Experimental as observed (group 1) against the same patients untreated (group 0).
    return two_group_log_hr(counterfactual[:, :k], observed[:, :k], observed[:, k:],
                            counterfactual[:, k:] + observed[:, k:])[0]


def adjusted_log_hr_draws(data: TrialData, psis: np.ndarray, cuts: Any, *, n_boot: int,
                          rng: np.random.Generator, **options: Any) -> np.ndarray:
    """Posterior draws of the adjusted log HR: :func:`paired_log_hr` at each psi draw with
    ``n_boot`` sets of Bayesian-bootstrap (Dirichlet(1, ..., 1)) patient weights.

    Dirichlet weights are normalised Exp(1) draws; the estimate does not depend on the
    normalisation, so the Exp(1) draws are used as they are. ``options`` go to
    :func:`paired_log_hr` (``recensor``, ``autoswitch``, ``treat_modifier``).

    Returns
    -------
    numpy.ndarray
        Shape ``(len(psis), n_boot)``.

    Examples
    --------
    >>> from pexsurv.simulate import simulate_rpsft
    >>> draws = adjusted_log_hr_draws(simulate_rpsft(300, seed=1), np.array([-0.6, -0.4]),
    ...                               (0.6, 1.3), n_boot=50, rng=np.random.default_rng(1))
    >>> draws.shape
    (2, 50)
    """
    n_exp = int((data.arm == N.EXPERIMENTAL).sum())
    return np.stack([paired_log_hr(data, float(psi), cuts,
                                   weights=rng.standard_exponential((n_boot, n_exp)), **options)
                     for psi in np.atleast_1d(psis)])


def psi_posterior_grid(data: TrialData, prior: Prior, grid: np.ndarray, **z_options: Any) -> xr.Dataset:
    """The quasi-posterior of psi on a grid: ``z``, ``log_density`` and normalised
    ``density`` (integrates to 1 by the trapezoid rule), with dim ``psi``.

    Examples
    --------
    >>> from pexsurv import datasets
    >>> from pexsurv.priors import Normal
    >>> g = psi_posterior_grid(datasets.ct041_like(endpoint="os"), Normal(0, 10),
    ...                        np.linspace(-2, 2, 401))
    >>> round(float(np.trapezoid(g.density, g.psi)), 6)
    1.0
    """
    z = z_on_grid(data, grid, **z_options)
    log_density = np.asarray(prior.logpdf(grid), dtype=float) - 0.5 * z.values ** 2
    dens = np.exp(log_density - log_density.max())
    dens /= np.trapezoid(dens, grid)
    return xr.Dataset({"z": (N.PSI, z.values), "log_density": (N.PSI, log_density),
                       "density": (N.PSI, dens)}, coords={N.PSI: grid})


@dataclass(frozen=True)
class RPSFT(ModelSpec):
    """Bayesian RPSFT specification (psi, survival had nobody switched and the adjusted
    HR; see the module docstring).

    Parameters
    ----------
    cuts : sequence of float
        Partition of the stage-2 piecewise-exponential model.
    psi_prior : Prior
        Prior on psi, the log acceleration factor (psi < 0: treatment extends survival).
        Default ``Normal(0, 10)`` (vague). Sceptical or informative priors come from
        :mod:`pexsurv.priors` (``sceptical``, ``enthusiastic``, ``hr_prior`` work on any
        log-ratio scale) or external evidence, e.g. a single-arm estimate.
    psi_range, grid_size : float pair, int
        Grid of psi values; a warning is raised when posterior mass sits at its edges.
    test, recensor, autoswitch
        The g-estimation settings (:func:`pexsurv.models.rpsftm_gestimate`).
    treat_modifier : float or str
        Multiplies psi: one number for everyone, or the name of a numeric covariate of the
        TrialData holding a per-patient modifier (e.g. a smaller effect in switchers).
    n_psi_draws : int
        M, the number of psi draws carried into stage 2 (and into the adjusted HR).
    pem_priors : mapping
        Priors of the stage-2 PEM by graph name.

    Notes
    -----
    The spec holds the model only. How each of the M stage-2 fits is sampled (draws, tune,
    chains, sampler) is a :class:`pexsurv.fitting.SamplerConfig`, passed to
    :func:`pexsurv.fitting.fit` like for any model; without one, ``fit`` uses the RPSFT
    defaults of :func:`pexsurv.fitting.default_config` (250 draws after 300 tuning steps,
    4 chains, per stage-2 fit).

    Examples
    --------
    >>> spec = RPSFT(cuts=(2.0, 6.0))
    >>> spec.pem().cuts
    (2.0, 6.0)
    """

    cuts: tuple[float, ...]
    psi_prior: Prior = Normal(0.0, 10.0)
    psi_range: tuple[float, float] = (-2.0, 2.0)
    grid_size: int = 4001
    test: str = "logrank"
    recensor: bool = True
    autoswitch: bool = True
    treat_modifier: float | str = 1.0
    n_psi_draws: int = 200
    pem_priors: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cuts", tuple(float(c) for c in self.cuts))
        object.__setattr__(self, "n_psi_draws", as_count("n_psi_draws", self.n_psi_draws))
        object.__setattr__(self, "grid_size", as_count("grid_size", self.grid_size))
        object.__setattr__(self, "psi_range", tuple(float(v) for v in self.psi_range))
        object.__setattr__(self, "pem_priors", MappingProxyType(dict(self.pem_priors)))
        if not isinstance(self.psi_prior, Prior):
            raise TypeError(f"psi_prior must be a Prior (e.g. Normal(0, 1)), got {self.psi_prior!r}")
        lo, hi = self.psi_range
        if not lo < hi:
            raise ValueError(f"psi_range must be (low, high) with low < high, got {self.psi_range}")
        if self.grid_size < 101:
            raise ValueError("grid_size must be >= 101 for an accurate grid posterior")
        self.pem()  # validates cuts and PEM priors now, not at fit time

    def __hash__(self) -> int:
        return hash(self.spec_hash())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RPSFT:
        """Rebuild from :meth:`to_dict` output."""
        d = {k: v for k, v in d.items() if k != "model"}
        d["psi_prior"] = PriorSpec.from_dict(d["psi_prior"])
        d["pem_priors"] = {k: PriorSpec.from_dict(v) for k, v in (d.get("pem_priors") or {}).items()}
        return cls(**d)

    def pem(self) -> PiecewiseExponential:
        """The stage-2 piecewise-exponential PH model."""
        return PiecewiseExponential(cuts=self.cuts, priors=dict(self.pem_priors))

    def modifier(self, data: TrialData) -> float | np.ndarray:
        """``treat_modifier`` for ``data``: the number, or the named covariate's values."""
        if not isinstance(self.treat_modifier, str):
            return float(self.treat_modifier)
        values = data.covariates.get(self.treat_modifier)
        if values is None or np.asarray(values).dtype.kind != "f":
            raise ValueError(
                f"treat_modifier={self.treat_modifier!r} must name a numeric covariate of the "
                f"TrialData (load it with covariates=[...]); numeric covariates: "
                f"{[k for k, v in data.covariates.items() if np.asarray(v).dtype.kind == 'f']}")
        return np.asarray(values, dtype=float)

    def counterfactual_options(self, data: TrialData) -> dict[str, Any]:
        """How counterfactual times are built (:func:`counterfactual_times` keywords)."""
        return {"recensor": self.recensor, "autoswitch": self.autoswitch,
                "treat_modifier": self.modifier(data)}

    def z_options(self, data: TrialData) -> dict[str, Any]:
        return {"test": self.test, **self.counterfactual_options(data)}

    def grid(self) -> np.ndarray:
        return np.linspace(*self.psi_range, self.grid_size)

    def stage2_psi(self, grid: xr.Dataset) -> np.ndarray:
        """The M psi values carried into stage 2: the posterior's (k + 1/2)/M quantiles,
        a deterministic, evenly weighted discretisation of psi's distribution."""
        return grid_quantiles(grid, (np.arange(self.n_psi_draws) + 0.5) / self.n_psi_draws)

    def adjusted_log_hr(self, data: TrialData, *, n_boot: int, seed: int,
                        psis: np.ndarray | None = None) -> np.ndarray:
        """The adjusted log HR draws without MCMC: :func:`adjusted_log_hr_draws` at the M
        stage-2 psi values with ``n_boot`` bootstrap weight sets each, seeded from ``seed``.

        :func:`pexsurv.fitting.fit` reports these draws as ``log_hr`` (with ``seed`` its
        sampler seed and ``n_boot`` chains x draws of each stage-2 fit), so a simulation
        study can compute the shipped estimate in seconds instead of a full fit.

        Parameters
        ----------
        data : TrialData
        n_boot : int
            Bayesian-bootstrap weight sets per psi value.
        seed : int
            The seed of the weights.
        psis : numpy.ndarray, optional
            The stage-2 psi values (default: :meth:`stage2_psi` of :meth:`psi_grid`).

        Returns
        -------
        numpy.ndarray
            Shape ``(M, n_boot)``.

        Examples
        --------
        >>> from pexsurv.simulate import simulate_rpsft
        >>> spec = RPSFT(cuts=(0.6, 1.3), n_psi_draws=20)
        >>> spec.adjusted_log_hr(simulate_rpsft(300, seed=1), n_boot=10, seed=1).shape
        (20, 10)
        """
        if psis is None:
            psis = self.stage2_psi(self.psi_grid(data))
        # Entropy (seed, M): a stream apart from the stage-2 fits' SeedSequence(seed) seeds.
        rng = np.random.default_rng([int(seed), psis.size])
        return adjusted_log_hr_draws(data, psis, self.cuts, n_boot=n_boot, rng=rng,
                                     **self.counterfactual_options(data))

    def resolved_priors(self, data: TrialData) -> dict[str, Any]:
        """``psi`` and the stage-2 PEM's priors (resolved on the ITT data)."""
        return {N.PSI: self.psi_prior, **self.pem().resolved_priors(data)}

    def psi_grid(self, data: TrialData) -> xr.Dataset:
        """Stage 1: the quasi-posterior of psi on the grid (warns on mass at the edges)."""
        if data.switch_time is None and data.treatment_start is None:
            raise ValueError("RPSFT needs switch_time (and/or treatment_start) in the TrialData")
        g = psi_posterior_grid(data, self.psi_prior, self.grid(), **self.z_options(data))
        step = float(np.diff(self.grid()[:2])[0])
        edge_mass = float((g["density"].values[[0, -1]] * step).sum())
        if edge_mass > 1e-4:
            warnings.warn(f"psi posterior has mass {edge_mass:.2g} at the edge of psi_range="
                          f"{self.psi_range}; widen psi_range", UserWarning, stacklevel=2)
        return g

    def to_dict(self) -> dict[str, Any]:  # psi_prior is a PriorSpec: plain dict form
        out = super().to_dict()
        out["psi_prior"] = self.psi_prior.to_dict()
        return out



def grid_quantiles(grid: xr.Dataset, probs: np.ndarray) -> np.ndarray:
    """Quantiles of the grid posterior: the inverse of its trapezoid-rule CDF.

    The CDF is exact (for the trapezoid rule) at the grid points and interpolated linearly
    between them, so a quantile between two points carries an error of the order of the
    grid spacing times the density's relative change across it (a uniform density is
    inverted exactly, as below).

    Examples
    --------
    >>> g = xr.Dataset({"density": ("psi", np.ones(11) / 1.0)}, coords={"psi": np.linspace(0, 1, 11)})
    >>> grid_quantiles(g, np.array([0.25, 0.5])).round(6).tolist()
    [0.25, 0.5]
    """
    psi = grid[N.PSI].values
    dens = grid["density"].values
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(psi))])
    return np.interp(np.asarray(probs, dtype=float), cdf / cdf[-1], psi)
