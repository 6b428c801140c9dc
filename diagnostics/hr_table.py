"""Side-by-side posterior hazard-ratio table for several fits (one row per fit)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pexsurv.defaults import CI_PROB, interval_bounds

__all__ = ["hr_table"]


def hr_table(results: Mapping[str, Any], *, prob: float = CI_PROB,
             delta: float | None = None) -> pd.DataFrame:
    """Posterior HR summaries with each fit's convergence verdict.

    Parameters
    ----------
    results : mapping of label -> FitResult
        PH fits (``hr`` in the posterior).
    prob : float
        Central credible-interval probability (equal-tailed).
    delta : float, optional
        Adds ``P(HR < delta)`` (e.g. a clinically relevant effect).

    Returns
    -------
    pandas.DataFrame
        One row per label: n, events, posterior median and mean HR, interval, P(HR < 1),
        optional P(HR < delta), ``converged`` and ``approximate`` flags, and the
        convergence headline: the fit's own verdict (``result.convergence``, computed once
        per fit), so the table and the fit can never disagree. Unconverged fits are kept,
        and flagged, never dropped.

    Examples
    --------
    >>> from pexsurv.testing import fake_posterior
    >>> from types import SimpleNamespace
    >>> fake = SimpleNamespace(idata=fake_posterior(jitter=0.3, draws=400, chains=4),
    ...                        data=SimpleNamespace(n=10, event=np.ones(10)), approximate=False)
    >>> hr_table({"ITT": fake}).columns[:4].tolist()
    ['n', 'events', 'hr_median', 'hr_mean']
    """
    lo_q, hi_q = interval_bounds(prob)
    rows = {}
    for label, result in results.items():
        hr = result.idata["posterior"]["hr"].values.ravel()
        check = _convergence(result)
        row: dict[str, Any] = {
            "n": int(result.data.n),
            "events": int(np.sum(result.data.event)),
            "hr_median": float(np.median(hr)),
            "hr_mean": float(np.mean(hr)),
            "lower": float(np.quantile(hr, lo_q)),
            "upper": float(np.quantile(hr, hi_q)),
            "p_hr_lt_1": float(np.mean(hr < 1.0)),
        }
        if delta is not None:
            row[f"p_hr_lt_{delta:g}"] = float(np.mean(hr < delta))
        row.update(converged=check.passed, approximate=bool(getattr(result, "approximate", False)),
                   diagnostics=check.headline)
        rows[label] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.attrs.update(prob=prob, interval="equal-tailed")
    return out


def _convergence(result: Any) -> Any:
    """The fit's own convergence verdict; an object that carries draws but no verdict (a
    hand-built posterior) is checked here."""
    check = getattr(result, "convergence", None)
    if check is not None:
        return check
    from pexsurv.diagnostics.convergence import check_convergence

    return check_convergence(result)
