"""A fit's per-patient log-likelihood group: the model's own likelihood, evaluated at the
posterior draws (for LOO and prior-sensitivity checks, and ``fit(log_likelihood=True)``)."""

from __future__ import annotations

from typing import Any, Protocol

import xarray as xr

from pexsurv._names import LOG_LIKELIHOOD_VAR
from pexsurv.data import TrialData

__all__ = ["LOG_LIKELIHOOD_VAR", "log_likelihood_tree"]


class _Fitted(Protocol):
    """What the builder reads from a fit (a :class:`pexsurv.fitting.FitResult`)."""

    idata: xr.DataTree
    spec: Any
    data: TrialData

    @property
    def posterior(self) -> xr.Dataset: ...


def log_likelihood_tree(result: _Fitted) -> xr.DataTree:
    """The fit's DataTree with the per-patient log-likelihood group.

    Returns ``result.idata`` itself when it already holds
    ``log_likelihood/survival``; otherwise a copy with that group computed from the
    posterior by the spec's ``pointwise_log_likelihood`` (the fit's own tree is never
    changed).

    Examples
    --------
    >>> tree = log_likelihood_tree(result)  # doctest: +SKIP
    >>> tree["log_likelihood"]["survival"].dims  # doctest: +SKIP
    ('chain', 'draw', 'subject')
    """
    tree = result.idata
    if "log_likelihood" in tree.children and LOG_LIKELIHOOD_VAR in tree["log_likelihood"]:
        return tree
    ll = result.spec.pointwise_log_likelihood(result.posterior, result.data)
    tree = tree.copy()
    tree["log_likelihood"] = xr.DataTree(ll.to_dataset(name=LOG_LIKELIHOOD_VAR))
    return tree
