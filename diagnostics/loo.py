"""Leave-one-patient-out cross-validation (PSIS-LOO) and model comparison.

LOO here always uses the per-patient log-likelihood of the exact survival likelihood
(:meth:`~pexsurv.models.PiecewiseExponential.pointwise_log_likelihood`), never the
per-cell Poisson terms of an aggregated fit: those leave out a whole interval x arm cell
at a time and give unreliable Pareto k. Because the survival likelihood is exact and
carries no cut-point-dependent constant, fits of the same patients with different cut
points, baseline priors or treatment-effect structures are compared on one scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import arviz as az
import numpy as np
import pandas as pd
from arviz_stats.utils import ELPDData
from matplotlib.figure import Figure

from pexsurv import _names as N
from pexsurv.check import CheckResult
# The builder is the model's likelihood (models layer); re-exported here for diagnostics users.
from pexsurv.models.loglik import LOG_LIKELIHOOD_VAR, log_likelihood_tree

if TYPE_CHECKING:
    from pexsurv.fitting import FitResult

__all__ = ["LOG_LIKELIHOOD_VAR", "LooCheck", "compare", "log_likelihood_tree", "loo",
           "pareto_k_counts"]

@dataclass(frozen=True)
class LooCheck(CheckResult):
    """Outcome of :func:`loo`.

    Attributes
    ----------
    passed : bool
        No Pareto k above ``elpd.good_k``: every leave-one-out estimate is reliable.
    elpd : arviz_stats.ELPDData
        ArviZ's PSIS-LOO result, pointwise (``elpd_i`` and ``pareto_k`` per subject).
    table : pandas.DataFrame
        One row: ``elpd``, ``se``, ``p_loo``, ``n_subjects``, ``n_samples``, ``good_k``
        and the counts ``k_good`` (k <= good_k), ``k_bad`` (good_k < k <= 1) and
        ``k_very_bad`` (k > 1).
    name : str
    """

    passed: bool
    elpd: ELPDData
    table: pd.DataFrame
    name: str = "loo"

    @property
    def high_k_subjects(self) -> np.ndarray:
        """Ids of the subjects whose Pareto k exceeds ``good_k``."""
        k = self.elpd.pareto_k
        return np.asarray(k[N.SUBJECT].values[k.values > self.elpd.good_k])

    @property
    def text(self) -> str:
        row = self.table.iloc[0]
        n_high = int(row["k_bad"] + row["k_very_bad"])
        verdict = ("all Pareto k reliable" if self.passed else
                   f"{n_high} subject(s) with Pareto k > {row['good_k']:.2f}: their LOO "
                   "estimates are unreliable (check them, or use K-fold cross-validation)")
        return (f"PSIS-LOO: elpd {row['elpd']:.1f} (SE {row['se']:.1f}), p_loo {row['p_loo']:.1f}, "
                f"{int(row['n_subjects'])} subjects; {verdict}.")

    def plot(self) -> Figure:
        """Pareto k per subject (:func:`arviz.plot_khat`). Created through pyplot by
        ArviZ: close it with ``matplotlib.pyplot.close(fig)``."""
        return az.plot_khat(self.elpd, backend="matplotlib").viz["figure"].item()


def loo(result: FitResult) -> LooCheck:
    """PSIS-LOO of a fit, leaving out one patient at a time.

    Parameters
    ----------
    result : FitResult
        With or without a ``log_likelihood`` group (computed when missing, on a copy).

    Returns
    -------
    LooCheck

    Examples
    --------
    >>> check = loo(result)  # doctest: +SKIP
    >>> check.table[["elpd", "se", "k_bad"]]  # doctest: +SKIP
    """
    elpd = az.loo(log_likelihood_tree(result), var_name=LOG_LIKELIHOOD_VAR, pointwise=True)
    table = pd.DataFrame([{"elpd": elpd.elpd, "se": elpd.se, "p_loo": elpd.p,
                           "n_subjects": elpd.n_data_points, "n_samples": elpd.n_samples,
                           **pareto_k_counts(elpd)}])
    return LooCheck(passed=bool((elpd.pareto_k.values <= elpd.good_k).all()), elpd=elpd,
                    table=table)


def pareto_k_counts(elpd: ELPDData) -> dict[str, float]:
    """Subjects per Pareto-k class of ArviZ 1.x (its ``ELPDData`` printout): ``k_good``
    (k <= ``good_k``, min(1 - 1/log10(S), 0.7) for S draws), ``k_bad`` (up to 1) and
    ``k_very_bad`` (above 1), with ``good_k``. ArviZ 1.x has no "ok" class: its 0.5-0.7
    band of ArviZ 0.x now counts as good, since k up to ``good_k`` is reliable.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import xarray as xr
    >>> elpd = SimpleNamespace(pareto_k=xr.DataArray([0.1, 0.69, 0.8, 1.2]), good_k=0.7)
    >>> pareto_k_counts(elpd)
    {'good_k': 0.7, 'k_good': 2, 'k_bad': 1, 'k_very_bad': 1}
    """
    k = np.asarray(elpd.pareto_k.values)
    return {"good_k": elpd.good_k, "k_good": int((k <= elpd.good_k).sum()),
            "k_bad": int(((k > elpd.good_k) & (k <= 1.0)).sum()),
            "k_very_bad": int((k > 1.0).sum())}


def compare(results: Mapping[str, FitResult]) -> pd.DataFrame:
    """Compare fits of the same patients by PSIS-LOO (:func:`arviz.compare`).

    Parameters
    ----------
    results : mapping of str to FitResult
        Two or more fits of the same data, e.g. different cut points, baseline priors or a
        PH against a piecewise treatment effect.

    Returns
    -------
    pandas.DataFrame
        ArviZ's comparison table, best model first, unrounded: ``elpd``, ``elpd_diff``
        (to the best), ``dse`` (standard error of the difference), ``p_worse``,
        ``weight`` (stacking) and the rest; then each model's Pareto-k counts
        (:func:`pareto_k_counts`: ``good_k``, ``k_good``, ``k_bad``, ``k_very_bad``), which
        say whether its ELPD can be trusted.

    Raises
    ------
    ValueError
        Fewer than two fits, or fits of different data (their ELPDs are not comparable).

    Examples
    --------
    >>> compare({"8 intervals": fine, "exponential": coarse})  # doctest: +SKIP
    """
    if len(results) < 2:
        raise ValueError(f"compare needs at least two fits, got {len(results)}")
    fingerprints = {name: r.data.fingerprint() for name, r in results.items()}
    if len(set(fingerprints.values())) > 1:
        raise ValueError(
            "LOO compares fits of the same patients only; these fits were made on different "
            f"data (fingerprints by name: { {k: v[:12] for k, v in fingerprints.items()} })"
        )
    elpds = {name: loo(r).elpd for name, r in results.items()}
    counts = pd.DataFrame({name: pareto_k_counts(e) for name, e in elpds.items()}).T
    table = az.compare(elpds, round_to="none")
    return table.join(counts.astype({c: int for c in counts.columns if c != "good_k"}))
