"""Simulation-based calibration (SBC) ranks and their uniformity tests (Talts et al. 2018).

If parameters are drawn from the prior, data are simulated from them and the model is fitted
to those data, the rank of each true value among its posterior draws is uniform, provided
that the sampler, the likelihood and the simulator agree. A skewed rank distribution reveals
a biased posterior, a U shape an over-confident one and a hump an under-confident one.

This module judges ranks and never fits: the simulations and refits that produce them are a
workflow, :func:`pexsurv.workflows.simulation_based_calibration`.

Ranks are judged two ways per parameter: a chi-square test of the binned ranks and the
empirical CDF of the (randomized) fractional ranks against the uniform CDF, with the
simultaneous confidence band of Säilynoja, Bürkner and Vehtari (2022), computed with
ArviZ's :func:`arviz_stats.ecdf_utils.ecdf_pit` (the helper behind ArviZ's own PIT-ECDF
plots).

References
----------
Talts, Betancourt, Simpson, Vehtari, Gelman (2018). Validating Bayesian inference
algorithms with simulation-based calibration. arXiv:1804.06788.
Säilynoja, Bürkner, Vehtari (2022). Graphical test for discrete uniformity and its
applications in goodness-of-fit evaluation and multiple sample comparison. Statistics and
Computing 32, 32.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from arviz_stats.ecdf_utils import ecdf_pit
from matplotlib.figure import Figure
from scipy import stats

from pexsurv.check import CheckResult
from pexsurv.defaults import CI_PROB

__all__ = ["SBCResult", "sbc_ranks"]

# Uniform samples simulated to calibrate the simultaneous ECDF band (ArviZ's default).
_BAND_SIMULATIONS = 1000
# Default chi-square binning: about this many simulations expected per bin (Talts et al.
# use ~20; 10 keeps the test usable at 100 simulations), between 2 and 20 bins.
_PER_BIN = 10
_MAX_BINS = 20


# --------------------------------------------------------------------------- rank machinery
def sbc_ranks(truth: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Rank of each true value among its posterior draws: the number of draws below it.

    Parameters
    ----------
    truth : array_like, shape ``(...)``
        True (prior-drawn) values.
    draws : array_like, shape ``(..., L)``
        Posterior draws of each, last axis the ``L`` draws.

    Returns
    -------
    numpy.ndarray
        Integer ranks in ``0..L``, shape of ``truth``. Ties (probability zero for the
        continuous parameters of these models) count as not below.

    Examples
    --------
    >>> sbc_ranks([0.5, 2.0], [[0.1, 0.9, 0.3], [1.0, 3.0, 4.0]]).tolist()
    [2, 1]
    """
    truth = np.asarray(truth, dtype=float)
    draws = np.asarray(draws, dtype=float)
    return (draws < truth[..., None]).sum(axis=-1)


def _default_bins(n_sims: int, max_rank: int) -> int:
    return int(min(max(n_sims // _PER_BIN, 2), _MAX_BINS, max_rank + 1))


def _chi_square(ranks: np.ndarray, max_rank: int, bins: int) -> tuple[float, float]:
    """Chi-square statistic and p-value of ranks binned into ``bins`` contiguous groups.

    When ``max_rank + 1`` is not a multiple of ``bins`` the groups hold unequal numbers of
    rank values, so each bin's expected share is its number of values over ``max_rank + 1``
    (exact under uniformity, unlike equal expected counts).
    """
    groups = np.array_split(np.arange(max_rank + 1), bins)
    bin_of = np.concatenate([np.full(g.size, b) for b, g in enumerate(groups)])
    observed = np.bincount(bin_of[ranks], minlength=bins)
    expected = np.array([g.size for g in groups]) / (max_rank + 1) * ranks.size
    result = stats.chisquare(observed, expected)
    return float(result.statistic), float(result.pvalue)


def _fractional_ranks(ranks: np.ndarray, max_rank: int, rng: np.random.Generator) -> np.ndarray:
    """``(rank + V) / (L + 1)`` with ``V ~ U(0, 1)``: exactly uniform on (0, 1) when the ranks
    are uniform on ``0..L``, so continuous tests and bands apply without a discreteness
    correction (a randomized PIT)."""
    return (ranks + rng.random(ranks.shape)) / (max_rank + 1)


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class SBCResult(CheckResult):
    """Outcome of :func:`pexsurv.workflows.simulation_based_calibration` (or of
    :meth:`from_ranks`).

    Attributes
    ----------
    passed : bool
        No parameter's chi-square p-value is below ``alpha / m`` (Bonferroni over the ``m``
        parameters, so the family-wise false-alarm rate of a calibrated model is at most
        ``alpha``; conservative, as the parameters' ranks are correlated).
    table : pandas.DataFrame
        One row per parameter: ``chi2``, ``df``, ``chi2_p`` (binned ranks), ``ks_stat``
        and ``ks_p`` (Kolmogorov-Smirnov distance of the fractional-rank ECDF from the
        uniform CDF), ``in_band`` (the ECDF stays inside the simultaneous ``ci_prob``
        band), ``mean_rank`` (as a fraction: 0.5 when unbiased) and ``ok``
        (``chi2_p >= alpha / m``).
    ranks : pandas.DataFrame
        Integer ranks in ``0..max_rank``, one row per simulation, one column per parameter.
    max_rank : int
        Posterior draws each rank is taken among (after thinning).
    bins : int
        Bins of the chi-square test.
    alpha, ci_prob : float
    ecdf : pandas.DataFrame
        ECDF of each parameter's fractional ranks (columns) at the evaluation points (index).
    band : pandas.DataFrame
        ``lower`` and ``upper`` simultaneous band at the same points.
    fits : pandas.DataFrame
        One row per simulation: ``converged``, ``min_ess_bulk``, ``max_r_hat``,
        ``divergences``, ``seconds`` (empty columns for ranks given directly).
    truth : pandas.DataFrame or None
        The prior-drawn true values (simulation x parameter).
    settings : mapping
        How the ranks were made (draws, thinning, sampler, censoring, seed, timings).
    name : str
    """

    passed: bool
    table: pd.DataFrame
    ranks: pd.DataFrame
    max_rank: int
    bins: int
    alpha: float
    ci_prob: float
    ecdf: pd.DataFrame
    band: pd.DataFrame
    fits: pd.DataFrame
    truth: pd.DataFrame | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    name: str = "simulation_based_calibration"

    @classmethod
    def from_ranks(
        cls,
        ranks: pd.DataFrame,
        max_rank: int,
        *,
        alpha: float = 0.01,
        bins: int | None = None,
        ci_prob: float = CI_PROB,
        seed: int = 0,
        fits: pd.DataFrame | None = None,
        truth: pd.DataFrame | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> SBCResult:
        """Test ranks for uniformity: the part of SBC that needs no sampling.

        Parameters
        ----------
        ranks : pandas.DataFrame
            Integer ranks in ``0..max_rank``, simulations as rows, parameters as columns.
        max_rank : int
            Number of posterior draws each rank was taken among.
        alpha : float
            Family-wise level of the pass rule (Bonferroni-adjusted per parameter).
        bins : int, optional
            Chi-square bins (default: about 10 simulations per bin, 2 to 20 bins).
        ci_prob : float
            Simultaneous coverage of the ECDF band.
        seed : int
            Seed of the fractional-rank randomization and of the band simulation.
        fits, truth, settings
            Stored as given (see the class attributes).

        Examples
        --------
        >>> rng = np.random.default_rng(1)
        >>> ranks = pd.DataFrame({"uniform": rng.integers(0, 100, 200),
        ...                       "biased": rng.integers(30, 100, 200)})
        >>> check = SBCResult.from_ranks(ranks, max_rank=99)
        >>> check.table["ok"].to_dict(), check.passed
        ({'uniform': True, 'biased': False}, False)
        """
        if max_rank < 1:
            raise ValueError(f"max_rank must be >= 1, got {max_rank}")
        if not 0 < alpha < 1 or not 0 < ci_prob < 1:
            raise ValueError("alpha and ci_prob must be in (0, 1)")
        values = ranks.to_numpy()
        if ranks.empty or values.dtype.kind not in "iu" or values.min() < 0 or values.max() > max_rank:
            raise ValueError(f"ranks must be a non-empty frame of integers in 0..{max_rank}")
        n_sims, n_params = values.shape
        bins = _default_bins(n_sims, max_rank) if bins is None else int(bins)
        if not 2 <= bins <= max_rank + 1:
            raise ValueError(f"bins must be in 2..{max_rank + 1}, got {bins}")
        rng = np.random.default_rng(seed)
        band_seed = int(rng.integers(2**31))
        rows, ecdfs = {}, {}
        for name in ranks.columns:
            r = ranks[name].to_numpy()
            chi2, chi2_p = _chi_square(r, max_rank, bins)
            u = _fractional_ranks(r, max_rank, rng)
            ks = stats.kstest(u, "uniform")
            # The band depends only on the number of simulations: the same seed gives every
            # parameter the same band.
            x, ecdf, lower, upper = ecdf_pit(u, ci_prob, _BAND_SIMULATIONS,
                                             rng=np.random.default_rng(band_seed))
            ecdfs[name] = ecdf
            rows[name] = {"chi2": chi2, "df": bins - 1, "chi2_p": chi2_p,
                          "ks_stat": float(ks.statistic), "ks_p": float(ks.pvalue),
                          "in_band": bool(((ecdf >= lower) & (ecdf <= upper)).all()),
                          "mean_rank": float(r.mean() / max_rank)}
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "parameter"
        table["ok"] = table["chi2_p"] >= alpha / n_params
        if fits is None:
            fits = pd.DataFrame({"converged": True}, index=ranks.index)
        return cls(passed=bool(table["ok"].all()), table=table, ranks=ranks,
                   max_rank=int(max_rank), bins=bins, alpha=alpha, ci_prob=ci_prob,
                   ecdf=pd.DataFrame(ecdfs, index=pd.Index(x, name="fractional_rank")),
                   band=pd.DataFrame({"lower": lower, "upper": upper},
                                     index=pd.Index(x, name="fractional_rank")),
                   fits=fits, truth=truth, settings=dict(settings or {}))

    @property
    def n_sims(self) -> int:
        return int(len(self.ranks))

    @property
    def n_failed(self) -> int:
        """Fits that failed a convergence threshold (their ranks are kept)."""
        return int((~self.fits["converged"].astype(bool)).sum())

    @property
    def text(self) -> str:
        m = len(self.table)
        worst = self.table["chi2_p"].idxmin()
        verdict = "passed" if self.passed else "FAILED"
        lines = [
            f"Simulation-based calibration {verdict}: ranks of {m} parameter(s) over "
            f"{self.n_sims} simulations ({self.max_rank} posterior draws each); smallest "
            f"chi-square p = {self.table.loc[worst, 'chi2_p']:.3g} ({worst}), threshold "
            f"{self.alpha:g}/{m} = {self.alpha / m:.3g} (Bonferroni); ECDF inside the "
            f"{self.ci_prob:.0%} simultaneous band for {int(self.table['in_band'].sum())} of {m}."
        ]
        failing = self.table.index[~self.table["ok"]].tolist()
        if failing:
            lines.append(f"- non-uniform: {', '.join(failing)}")
        if self.n_failed:
            lines.append(f"- {self.n_failed} of {self.n_sims} fits failed convergence "
                         "thresholds (ranks kept: dropping them would condition on the data)")
        return "\n".join(lines)

    def plot(self) -> Figure:
        """ECDF of each parameter's fractional ranks minus the uniform CDF, inside the
        simultaneous band; a calibrated parameter stays in the band.

        Returns a :class:`matplotlib.figure.Figure` not registered with pyplot.
        """
        names = list(self.table.index)
        ncols = min(len(names), 3)
        nrows = math.ceil(len(names) / ncols)
        fig = Figure(figsize=(3.6 * ncols, 2.9 * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True).ravel()
        x = self.ecdf.index.to_numpy()
        for ax, name in zip(axes, names, strict=False):
            row = self.table.loc[name]
            ax.fill_between(x, self.band["lower"] - x, self.band["upper"] - x, color="C0",
                            alpha=0.2, linewidth=0, label=f"{self.ci_prob:.0%} simultaneous band")
            ax.plot(x, self.ecdf[name] - x, color="C0" if row["ok"] else "C3")
            ax.axhline(0.0, color="grey", linewidth=0.8)
            ax.set_title(f"{name}\nchi-square p = {row['chi2_p']:.2g}", fontsize="small")
        for ax in axes[len(names):]:
            ax.set_visible(False)
        # The lowest visible panel of each column carries the x axis (the last row may be
        # incomplete, and shared axes hide tick labels above the bottom row).
        for ax in axes[max(len(names) - ncols, 0):len(names)]:
            ax.set_xlabel("fractional rank")
            ax.tick_params(labelbottom=True)
        for ax in axes[::ncols]:
            ax.set_ylabel("ECDF - uniform")
        axes[0].legend(fontsize="x-small", loc="lower left")
        fig.suptitle(f"SBC: {self.n_sims} simulations, ranks among {self.max_rank} draws")
        return fig
