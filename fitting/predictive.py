"""Prior predictive: what a model's priors imply clinically, before any fitting.

It lives in the fitting layer because it builds a model from its spec and samples it (the
prior instead of the posterior); the clinical quantities come from :mod:`pexsurv.models`.
Those are imported inside the methods (pointing down, as the layers allow) because
``pexsurv.priors`` still re-exports this module while models import priors: a module-level
import here would close that loop at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from pexsurv.defaults import CI_PROB, interval_bounds

__all__ = ["PriorPredictive", "prior_predictive"]


@dataclass(frozen=True, eq=False)
class PriorPredictive:
    """Prior draws of a model with the clinical quantities they imply.

    Attributes
    ----------
    idata : xarray.DataTree
        ``prior``, ``prior_predictive``, ``constant_data`` and ``observed_data`` groups.
    """

    idata: xr.DataTree

    def as_posterior(self) -> xr.DataTree:
        """The prior draws in a ``posterior`` group beside ``constant_data``: the layout the
        derived quantities of :mod:`pexsurv.models` (and replicate simulators) read."""
        return xr.DataTree.from_dict({"posterior": self.idata["prior"].to_dataset(),
                                      "constant_data": self.idata["constant_data"].to_dataset()})

    def hr(self) -> xr.DataArray:
        """Prior draws of the hazard ratio (per interval)."""
        from pexsurv.models import hr_by_interval

        return hr_by_interval(self.as_posterior())

    def survival_curve(self, times: Sequence[float]) -> xr.DataArray:
        """Prior draws of S(t) per arm."""
        from pexsurv.models import survival_curve

        return survival_curve(self.as_posterior(), times)

    def median_survival(self) -> xr.DataArray:
        """Prior draws of the median survival per arm."""
        from pexsurv.models import median_survival

        return median_survival(self.as_posterior())

    def summary(self, prob: float = CI_PROB) -> pd.DataFrame:
        """Prior quantiles of the HR (first interval) and of each arm's median.

        Columns: median and the central ``prob`` interval; rows ``hr`` and
        ``median[<arm>]``.
        """
        lo_q, hi_q = interval_bounds(prob)
        q = [lo_q, 0.5, hi_q]
        rows: dict[str, Any] = {}
        hr = self.hr().isel(interval=0).values.ravel()
        rows["hr"] = np.quantile(hr, q)
        med = self.median_survival()
        for arm in med["arm"].values:
            rows[f"median[{arm}]"] = np.quantile(med.sel(arm=arm).values.ravel(), q)
        out = pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "median", "upper"])
        out.attrs["prob"] = prob
        return out


def prior_predictive(spec: Any, data: Any, draws: int = 500, *, seed: int | None = None) -> PriorPredictive:
    """Sample a model's priors and the data they predict, to inspect them before fitting.

    Parameters
    ----------
    spec : pexsurv.models.PiecewiseExponential
        Any spec with ``build(data) -> pm.Model``.
    data : pexsurv.TrialData
    draws : int
        Number of prior draws.
    seed : int, optional
        Random seed (same seed, same draws).

    Examples
    --------
    >>> from pexsurv import datasets
    >>> from pexsurv.models import PiecewiseExponential
    >>> pp = prior_predictive(PiecewiseExponential(cuts=[2.0]), datasets.ct041_like(), 200, seed=1)
    >>> list(pp.summary().index)
    ['hr', 'median[control]', 'median[car-t]']
    """
    model = spec.build(data)
    idata = pm.sample_prior_predictive(draws=draws, model=model, random_seed=seed)
    return PriorPredictive(idata=idata)
