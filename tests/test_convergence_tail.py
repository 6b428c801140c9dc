"""Tail ESS is Vehtari et al.'s (2021): the smaller ESS of the indicators x <= q05 and
x <= q95, in the verdict and in FitResult.summary alike, not ArviZ 1.x's default
(rcParams["stats.ci_prob"] = 0.89: the 11% and 89% quantiles)."""

from __future__ import annotations

import arviz as az
import numpy as np
import xarray as xr
from arviz_stats.base import array_stats

from pexsurv.fitting.convergence import TAIL_ESS_PROBS, diagnostics_table


def _ar1(seed: int, rho: float = 0.6, chains: int = 4, draws: int = 500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.empty((chains, draws))
    x[:, 0] = rng.standard_normal(chains)
    for t in range(1, draws):
        x[:, t] = rho * x[:, t - 1] + rng.standard_normal(chains) * np.sqrt(1 - rho**2)
    return x


def _quantile_ess(x: np.ndarray, q: float) -> float:
    """ESS of the indicator x <= q-quantile (ArviZ's quantile ESS, one probability)."""
    return float(array_stats.ess(x, method="quantile", prob=q))


def test_tail_ess_is_the_smaller_quantile_ess_at_5_and_95_percent():
    assert TAIL_ESS_PROBS == (0.05, 0.95)
    x = _ar1(3)
    table = diagnostics_table(xr.Dataset({"theta": (("chain", "draw"), x)}))
    expected = min(_quantile_ess(x, 0.05), _quantile_ess(x, 0.95))
    assert table.loc["theta", "ess_tail"] == expected
    # ArviZ's default would have given another number on these draws.
    assert expected != min(_quantile_ess(x, 0.11), _quantile_ess(x, 0.89))
    assert az.rcParams["stats.ci_prob"] == 0.89


def test_fit_summary_reports_the_tail_ess_of_the_verdict():
    """FitResult.summary runs az.summary under rcParams ci_prob 0.95 (quantiles 5% and 95%)."""
    from types import SimpleNamespace

    from pexsurv.fitting import FitResult

    x = _ar1(4)
    tree = xr.DataTree.from_dict({"posterior": xr.Dataset({"hr": (("chain", "draw"), np.exp(x))})})
    fake = SimpleNamespace(idata=tree, posterior=tree["posterior"].to_dataset())
    summary = FitResult.summary(fake)
    expected = min(_quantile_ess(np.exp(x), 0.05), _quantile_ess(np.exp(x), 0.95))
    np.testing.assert_allclose(float(summary.loc["hr", "ess_tail"]), expected)
    assert az.rcParams["stats.ci_prob"] == 0.89  # restored
