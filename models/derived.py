"""Clinical quantities computed from posterior draws, after sampling.

Vectorized NumPy over the ``(chain, draw)`` sample dims with xarray labels; nothing here
adds nodes to the PyMC graph. Quantities are for a subject at the covariate reference
(numeric covariates at their mean, categorical ones at the reference level); with a
stratified baseline, survival is averaged over strata with the fitted data's stratum
proportions (``constant_data.stratum_weight``) unless weights are given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from pexsurv import _names as N
from pexsurv.models import _math

__all__ = [
    "hazard_by_arm",
    "survival_curve",
    "median_survival",
    "milestone_survival",
    "rmst",
    "hr_by_interval",
]

SAMPLE = list(N.SAMPLE_DIMS)


def _groups(idata) -> tuple[xr.Dataset, xr.Dataset]:
    """Posterior and constant data of a fit (a FitResult or an ArviZ DataTree).

    The model stores what derived quantities need besides the draws as constant data:
    ``cut_points``, ``period_of_interval`` (piecewise effect) and ``stratum_weight``.
    """
    tree = getattr(idata, "idata", idata)
    return tree["posterior"].to_dataset(), tree["constant_data"].to_dataset()


def hr_by_interval(idata) -> xr.DataArray:
    """Hazard ratio (experimental / reference) in each interval, dims
    ``(chain, draw, interval)``."""
    post, const = _groups(idata)
    if N.LOG_HR_PERIOD in post:
        log_hr = post[N.LOG_HR_PERIOD].isel({N.PERIOD: const["period_of_interval"]})
    else:
        log_hr = post[N.LOG_HR].expand_dims({N.INTERVAL: post[N.INTERVAL].values})
    return np.exp(log_hr).rename("hr").transpose(*SAMPLE, N.INTERVAL)


def hazard_by_arm(idata) -> xr.DataArray:
    """Hazard per arm and interval (and stratum when stratified) at the covariate
    reference; dims ``(chain, draw, arm, [stratum,] interval)``."""
    post, const = _groups(idata)
    base = np.exp(post[N.LOG_HAZARD_BASE])
    hr = hr_by_interval(idata)
    out = xr.concat([base, base * hr], dim=const[N.ARM])
    order = [*SAMPLE, N.ARM] + ([N.STRATUM] if N.STRATUM in out.dims else []) + [N.INTERVAL]
    return out.transpose(*order).rename("hazard")


def _stratum_weights(const: xr.Dataset, weights: Sequence[float] | None) -> xr.DataArray:
    w = np.asarray(const["stratum_weight"].values if weights is None else weights, dtype=float)
    return xr.DataArray(w / w.sum(), dims=N.STRATUM)


def _apply(idata, fn, name: str, new_dims: dict, weights=None) -> xr.DataArray:
    """Apply a kernel ``fn(rates, cuts) -> (..., *new)`` to each arm's hazard, averaging
    over strata (on the survival scale) when the baseline is stratified."""
    _, const = _groups(idata)
    cuts = np.asarray(const["cut_points"].values, dtype=float)
    haz = hazard_by_arm(idata)
    core = [N.STRATUM, N.INTERVAL] if N.STRATUM in haz.dims else [N.INTERVAL]
    values = fn(haz.transpose(..., *core).values, cuts)
    dims = [d for d in haz.dims if d not in core] + ([N.STRATUM] if N.STRATUM in core else [])
    da = xr.DataArray(values, dims=dims + list(new_dims),
                      coords={**{d: haz[d] for d in dims}, **new_dims})
    if N.STRATUM in da.dims:
        da = (da * _stratum_weights(const, weights)).sum(N.STRATUM)
    return da.rename(name)


def survival_curve(idata, times: Sequence[float] | np.ndarray, *, stratum_weights=None) -> xr.DataArray:
    """S(t) per arm on a time grid; dims ``(chain, draw, arm, time)``.

    Examples
    --------
    >>> from pexsurv.testing import fake_posterior
    >>> s = survival_curve(fake_posterior(), [0.0, 3.0])
    >>> s.dims
    ('chain', 'draw', 'arm', 'time')
    """
    t = np.asarray(times, dtype=float)
    return _apply(idata, lambda r, c: _math.survival(r, c, t), "survival", {"time": t},
                  stratum_weights)


def milestone_survival(idata, at: Sequence[float], *, stratum_weights=None) -> xr.DataArray:
    """S(t) at milestone times (e.g. 6 and 12 months); same as :func:`survival_curve`."""
    return survival_curve(idata, at, stratum_weights=stratum_weights).rename("milestone_survival")


def median_survival(idata, *, stratum_weights=None, p: float = 0.5) -> xr.DataArray:
    """Median (or the ``p`` quantile) of survival per arm, exact; dims ``(chain, draw, arm)``.

    With a stratified baseline the marginal curve is a mixture over strata; its quantile
    lies between the strata's own quantiles and is found there by bisection to 1e-10.
    """
    def kernel(rates: np.ndarray, cuts: np.ndarray) -> np.ndarray:
        return _math.quantile_time(rates, cuts, p)

    post, const = _groups(idata)
    if N.STRATUM not in post[N.LOG_HAZARD_BASE].dims:
        return _apply(idata, kernel, "median", {})
    cuts = np.asarray(const["cut_points"].values, dtype=float)
    haz = hazard_by_arm(idata).transpose(..., N.STRATUM, N.INTERVAL)
    rates = haz.values
    w = _stratum_weights(const, stratum_weights).values
    q = _math.quantile_time(rates, cuts, p)
    lo, hi = q.min(axis=-1), q.max(axis=-1)
    never = ~np.isfinite(hi)
    hi = np.where(never, 1e9, hi)  # bracket for strata whose curve never reaches 1 - p
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        s_mix = (w * _math.survival_at(rates, cuts, mid[..., None])).sum(axis=-1)
        above = s_mix > 1 - p
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        if np.all(hi - lo < 1e-10):
            break
    s_end = (w * _math.survival_at(rates, cuts, hi[..., None])).sum(axis=-1)
    out = np.where(never & (s_end > 1 - p), np.inf, 0.5 * (lo + hi))
    dims = [d for d in haz.dims if d not in (N.STRATUM, N.INTERVAL)]
    return xr.DataArray(out, dims=dims, coords={d: haz[d] for d in dims}, name="median")


def rmst(idata, horizon: float, *, stratum_weights=None) -> xr.DataArray:
    """Restricted mean survival time to ``horizon`` per arm; dims ``(chain, draw, arm)``."""
    return _apply(idata, lambda r, c: _math.rmst(r, c, horizon), "rmst", {}, stratum_weights)
