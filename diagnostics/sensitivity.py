"""Prior and likelihood sensitivity by power-scaling (Kallioinen et al. 2024), without
refitting: ArviZ's ``psense`` reweights the posterior draws by importance sampling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import arviz as az
import pandas as pd
import pymc as pm
import xarray as xr
from matplotlib.figure import Figure

from pexsurv import _names as N
from pexsurv.check import CheckResult
from pexsurv.diagnostics.loo import LOG_LIKELIHOOD_VAR, log_likelihood_tree

if TYPE_CHECKING:
    from pexsurv.fitting import FitResult

__all__ = ["PSENSE_THRESHOLD", "PriorSensitivity", "prior_sensitivity"]

# ArviZ's (and priorsense's) threshold on the power-scaling sensitivity diagnostic.
PSENSE_THRESHOLD = 0.05


@dataclass(frozen=True)
class PriorSensitivity(CheckResult):
    """Outcome of :func:`prior_sensitivity`.

    Attributes
    ----------
    passed : bool
        No prior sensitivity at or above the threshold.
    table : pandas.DataFrame
        :func:`arviz.psense_summary`: one row per scalar element of ``var_names`` with the
        ``prior`` and ``likelihood`` sensitivities and ArviZ's ``diagnosis``.
    idata : xarray.DataTree
        A copy of the fit's tree with ``log_prior`` and ``log_likelihood`` groups, for
        further ArviZ power-scaling plots.
    var_names : tuple of str
    threshold : float
    name : str
    """

    passed: bool
    table: pd.DataFrame
    idata: xr.DataTree
    var_names: tuple[str, ...]
    threshold: float = PSENSE_THRESHOLD
    name: str = "prior_sensitivity"

    @property
    def text(self) -> str:
        flagged = self.table.index[self.table["prior"] >= self.threshold].tolist()
        if not flagged:
            return (f"Power-scaling: prior sensitivity below {self.threshold} for "
                    f"{', '.join(self.table.index)}; the prior does not drive these estimates.")
        return (f"Power-scaling: prior sensitivity >= {self.threshold} for "
                f"{', '.join(flagged)} ({'; '.join(self.table.loc[flagged, 'diagnosis'])}): "
                "report how the estimate moves under other priors.")

    def plot(self) -> Figure:
        """Posteriors under power-scaled prior and likelihood
        (:func:`arviz.plot_psense_dist`), one panel per variable and scaled component,
        titled and with labelled axes. Created through pyplot by ArviZ: close it with
        ``matplotlib.pyplot.close(fig)``."""
        pc = az.plot_psense_dist(self.idata, var_names=list(self.var_names),
                                 likelihood_var_names=[LOG_LIKELIHOOD_VAR], backend="matplotlib")
        fig = pc.viz["figure"].item()
        # ArviZ titles each panel "<variable>\n<component>" and leaves the axes unlabelled.
        for ax in fig.axes:
            if ax.get_title():
                lines = ax.get_title().split("\n")
                variable, component = lines[0], lines[-1]
                ax.set(title=f"{variable}: posterior with the {component} power-scaled",
                       xlabel=f"{variable} (model scale; a log HR has no unit)",
                       ylabel="posterior density")
        # ArviZ's figure legend (the scaling factors) sits over the last panel's title: one
        # legend, titled in words, outside the panels on the right.
        handles, labels = [], []
        for legend in list(fig.legends):
            handles += legend.legend_handles
            labels += [t.get_text() for t in legend.get_texts()]
            legend.remove()
        fig.set_layout_engine("constrained")
        fig.set_size_inches(max(fig.get_figwidth(), 11.0), max(fig.get_figheight(), 3.8))
        fig.legend(handles, labels, loc="outside right center",
                   title="power-scaling\nfactor (1 = as fitted)")
        fig.suptitle("Prior sensitivity (power scaling)")
        return fig


def prior_sensitivity(result: FitResult, var_names: Sequence[str] = (N.LOG_HR,),
                      *, threshold: float = PSENSE_THRESHOLD) -> PriorSensitivity:
    """Power-scaling sensitivity of posterior quantities to the prior and the likelihood.

    The joint prior (every free parameter's prior) is power-scaled; a prior sensitivity at
    or above ``threshold`` flags an informative prior (with a likelihood sensitivity
    also above it: a potential prior-data conflict).

    Parameters
    ----------
    result : FitResult
    var_names : sequence of str
        Posterior variables to assess (default ``log_hr``).
    threshold : float
        Sensitivity threshold of the verdict.

    Returns
    -------
    PriorSensitivity

    Examples
    --------
    >>> check = prior_sensitivity(result)  # doctest: +SKIP
    >>> check.table.loc["log_hr", ["prior", "likelihood"]]  # doctest: +SKIP
    """
    tree = log_likelihood_tree(result).copy()  # never add groups to the fit's own tree
    # The log prior density of each draw needs the graph: rebuild it with the priors the fit
    # actually used.
    model = result.spec.build(result.data, priors=result.priors)
    log_prior = pm.stats.compute_log_prior(tree, model=model, extend_inferencedata=False,
                                           progressbar=False)
    tree["log_prior"] = xr.DataTree(log_prior)
    names = list(var_names)
    table = az.psense_summary(tree, var_names=names, threshold=threshold,
                              likelihood_var_names=[LOG_LIKELIHOOD_VAR])
    return PriorSensitivity(passed=bool((table["prior"] < threshold).all()), table=table,
                            idata=tree, var_names=tuple(names), threshold=threshold)
