"""Clinical quantities computed from posterior draws, after sampling.

Vectorized NumPy over the ``(chain, draw)`` sample dims with xarray labels; nothing here
adds nodes to the PyMC graph. Quantities are for a subject at the covariate reference
(numeric covariates at their mean, categorical ones at the reference level); with a
stratified baseline, survival is averaged over strata with the fitted data's stratum
proportions (``constant_data.stratum_weight``) unless weights are given.

Extrapolation, defined once here. The *follow-up* of an arm is its last observed time
(event or censoring) in the analysed data: the largest follow-up time among the arm's
subjects, pooled over strata (with ``exposure="received"``, the last time at risk on,
respectively off, experimental therapy). A quantity is *extrapolated* when it depends on
the model beyond that time:

- S(t) (:func:`survival_curve`, :func:`milestone_survival`) at t > follow-up;
- :func:`rmst` with a horizon > follow-up;
- :func:`median_survival` in a draw whose median (or ``p`` quantile) is > follow-up,
  including draws whose curve never reaches it (``inf``): the curve does not cross
  1 - p within follow-up;
- an interval with no person-time in an arm (:func:`hazard_by_arm`; for
  :func:`hr_by_interval`, in either arm): its hazard is the prior's and the model's.

These functions flag them in a boolean coordinate (``extrapolated`` or ``exposed``,
with ``last_followup`` per arm) and the four clinical quantities warn with
:class:`pexsurv.warnings.ExtrapolationWarning` when any value is extrapolated. The trial
data come from the fit (a :class:`~pexsurv.fitting.FitResult`) or from ``data=``; for a
bare DataTree without ``data=`` (e.g. prior draws) nothing can be checked, and
``attrs["followup"]`` says so.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from pexsurv import _names as N
from pexsurv.data import TrialData, require_trial_data
from pexsurv.intervals import cell_statistics, split_episodes
from pexsurv.models import _math
from pexsurv.warnings import ExtrapolationWarning

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


def _follow_up(idata, data: TrialData | None) -> xr.Dataset | None:
    """``last_followup`` per arm and person-time per (arm, stratum, interval) of the data
    behind a fit (``data=`` first, else the FitResult's); None when there are none.

    Arms are the model's groups in their coding order (reference, experimental): assigned
    arms, or time off / on experimental therapy for ``exposure="received"``.
    """
    data = getattr(idata, "data", None) if data is None else require_trial_data(data, "data=")
    if data is None:
        return None
    _, const = _groups(idata)
    cuts = np.asarray(const["cut_points"].values, dtype=float)
    if getattr(getattr(idata, "spec", None), "exposure", "assigned") == "received":
        ep = split_episodes(data, cuts)
        pos = pd.Index(data.id).get_indexer(ep[N.COL_SUBJECT])
        start, stop = ep[N.COL_START].to_numpy(), ep[N.COL_STOP].to_numpy()
        group, stratum = ep[N.COL_ON_EXPERIMENTAL].to_numpy(), data.stratum_index()[pos]
    else:
        start, stop, group, stratum = np.zeros(data.n), data.time, data.arm, data.stratum_index()
    levels = data.stratum_levels
    _, exposure = cell_statistics(start, stop, np.zeros(stop.size), group * len(levels) + stratum,
                                  2 * len(levels), cuts)
    last = [float(stop[group == g].max()) if (group == g).any() else 0.0
            for g in (N.REFERENCE, N.EXPERIMENTAL)]
    return xr.Dataset(
        {"last_followup": (N.ARM, last),
         "exposure": ((N.ARM, N.STRATUM, N.INTERVAL), exposure.reshape(2, len(levels), -1))},
        coords={N.STRATUM: list(levels)},
    )


def _exposed(fu: xr.Dataset, out: xr.DataArray) -> xr.DataArray:
    """Whether each (arm, [stratum,] interval) cell of ``out`` had person-time."""
    exposure = fu["exposure"]
    if N.STRATUM in out.dims:
        exposure = exposure.sel({N.STRATUM: out[N.STRATUM].values})
    else:
        exposure = exposure.sum(N.STRATUM)
    return (exposure > 0).assign_coords({N.ARM: out[N.ARM].values,
                                         N.INTERVAL: out[N.INTERVAL].values})


def _warn(what: str, lines: list[str], stacklevel: int) -> None:
    if lines:
        warnings.warn(
            f"{what} extrapolated beyond follow-up (not estimated from data; flagged in the "
            f"'extrapolated' coordinate): {'; '.join(lines)}",
            ExtrapolationWarning, stacklevel=stacklevel + 1)


def _flag(da: xr.DataArray, idata, data: TrialData | None, beyond, what: str,
          stacklevel: int) -> xr.DataArray:
    """Attach ``extrapolated = beyond(value, last_followup)`` and ``last_followup`` to a
    per-arm quantity, and warn naming each arm concerned."""
    fu = _follow_up(idata, data)
    if fu is None:
        da.attrs["followup"] = "unknown: extrapolation not checked (no trial data; pass data=)"
        return da
    last = fu["last_followup"].assign_coords({N.ARM: da[N.ARM].values})
    flag = beyond(da, last)
    da = da.assign_coords(extrapolated=flag.transpose(*[d for d in da.dims if d in flag.dims]),
                          last_followup=last)
    da.attrs["followup"] = "last observed time per arm"
    lines = []
    for arm in da[N.ARM].values:
        f = flag.sel({N.ARM: arm})
        if bool(f.any()):
            where = _describe(f)
            lines.append(f"arm {arm!s} (last follow-up {float(last.sel({N.ARM: arm})):g})"
                         + (f": {where}" if where else ""))
    _warn(what, lines, stacklevel + 1)
    return da


def _describe(flag: xr.DataArray) -> str:
    if "time" in flag.dims:
        times = flag["time"].values[flag.any([d for d in flag.dims if d != "time"]).values]
        return "t = " + ", ".join(f"{t:g}" for t in times[:10])
    if set(N.SAMPLE_DIMS) <= set(flag.dims):
        return f"{100 * float(flag.mean()):.1f}% of posterior draws"
    return ""


def _hazards(idata) -> xr.DataArray:
    post, const = _groups(idata)
    base = np.exp(post[N.LOG_HAZARD_BASE])
    hr = _hr(idata)
    out = xr.concat([base, base * hr], dim=const[N.ARM])
    order = [*SAMPLE, N.ARM] + ([N.STRATUM] if N.STRATUM in out.dims else []) + [N.INTERVAL]
    return out.transpose(*order).rename("hazard")


def _hr(idata) -> xr.DataArray:
    post, const = _groups(idata)
    if N.LOG_HR_PERIOD in post:
        log_hr = post[N.LOG_HR_PERIOD].isel({N.PERIOD: const["period_of_interval"]})
    else:
        log_hr = post[N.LOG_HR].expand_dims({N.INTERVAL: post[N.INTERVAL].values})
    return np.exp(log_hr).rename("hr").transpose(*SAMPLE, N.INTERVAL)


def hr_by_interval(idata, *, data: TrialData | None = None) -> xr.DataArray:
    """Hazard ratio (experimental / reference) in each interval, dims
    ``(chain, draw, interval)``.

    With trial data (the fit's or ``data=``), the boolean coordinate ``exposed`` says
    which intervals had person-time in both arms; elsewhere the HR is the prior's and the
    model's (e.g. proportional hazards), not the data's.

    Examples
    --------
    >>> from pexsurv.testing import fake_posterior
    >>> hr_by_interval(fake_posterior(hr=0.5)).dims
    ('chain', 'draw', 'interval')
    """
    out = _hr(idata)
    fu = _follow_up(idata, data)
    if fu is not None:
        both = (fu["exposure"].sum(N.STRATUM) > 0).all(N.ARM)
        out = out.assign_coords(exposed=(N.INTERVAL, both.values))
    return out


def hazard_by_arm(idata, *, data: TrialData | None = None) -> xr.DataArray:
    """Hazard per arm and interval (and stratum when stratified) at the covariate
    reference; dims ``(chain, draw, arm, [stratum,] interval)``.

    With trial data (the fit's or ``data=``), the boolean coordinate ``exposed`` marks
    the cells with person-time; a hazard elsewhere is the prior's and the model's.
    """
    out = _hazards(idata)
    fu = _follow_up(idata, data)
    if fu is not None:
        exposed = _exposed(fu, out)
        out = out.assign_coords(exposed=exposed.transpose(*[d for d in out.dims
                                                            if d in exposed.dims]))
    return out


def _stratum_weights(const: xr.Dataset, weights: Sequence[float] | None) -> xr.DataArray:
    w = np.asarray(const["stratum_weight"].values if weights is None else weights, dtype=float)
    return xr.DataArray(w / w.sum(), dims=N.STRATUM)


def _apply(idata, fn, name: str, new_dims: dict, weights=None) -> xr.DataArray:
    """Apply a kernel ``fn(rates, cuts) -> (..., *new)`` to each arm's hazard, averaging
    over strata (on the survival scale) when the baseline is stratified."""
    _, const = _groups(idata)
    cuts = np.asarray(const["cut_points"].values, dtype=float)
    haz = _hazards(idata)
    core = [N.STRATUM, N.INTERVAL] if N.STRATUM in haz.dims else [N.INTERVAL]
    values = fn(haz.transpose(..., *core).values, cuts)
    dims = [d for d in haz.dims if d not in core] + ([N.STRATUM] if N.STRATUM in core else [])
    da = xr.DataArray(values, dims=dims + list(new_dims),
                      coords={**{d: haz[d] for d in dims}, **new_dims})
    if N.STRATUM in da.dims:
        da = (da * _stratum_weights(const, weights)).sum(N.STRATUM)
    return da.rename(name)


def _beyond_time(da: xr.DataArray, last: xr.DataArray) -> xr.DataArray:
    return da["time"] > last


def _beyond_value(da: xr.DataArray, last: xr.DataArray) -> xr.DataArray:
    return da > last  # inf (never reached) counts as beyond


def survival_curve(idata, times: Sequence[float] | np.ndarray, *, stratum_weights=None,
                   data: TrialData | None = None) -> xr.DataArray:
    """S(t) per arm on a time grid; dims ``(chain, draw, arm, time)``.

    With trial data (the fit's or ``data=``), S(t) at times beyond an arm's last
    follow-up are flagged in the boolean coordinate ``extrapolated`` (dims
    ``(arm, time)``) and warned about (:class:`~pexsurv.warnings.ExtrapolationWarning`);
    see the module docstring for the definition.

    Examples
    --------
    >>> from pexsurv.testing import fake_posterior
    >>> s = survival_curve(fake_posterior(), [0.0, 3.0])
    >>> s.dims
    ('chain', 'draw', 'arm', 'time')
    """
    return _survival(idata, times, stratum_weights, data, "survival", stacklevel=2)


def _survival(idata, times, stratum_weights, data, name: str, stacklevel: int) -> xr.DataArray:
    t = np.asarray(times, dtype=float)
    if t.ndim != 1:
        raise ValueError(f"times must be a 1-D sequence, got shape {t.shape}")
    da = _apply(idata, lambda r, c: _math.survival(r, c, t), name, {"time": t}, stratum_weights)
    return _flag(da, idata, data, _beyond_time, f"{name} S(t)", stacklevel + 1)


def milestone_survival(idata, at: Sequence[float], *, stratum_weights=None,
                       data: TrialData | None = None) -> xr.DataArray:
    """S(t) at milestone times (e.g. 6 and 12 months); same as :func:`survival_curve`
    (milestones beyond an arm's follow-up are flagged and warned about)."""
    return _survival(idata, at, stratum_weights, data, "milestone_survival", stacklevel=2)


def median_survival(idata, *, stratum_weights=None, p: float = 0.5,
                    data: TrialData | None = None) -> xr.DataArray:
    """Median (or the ``p`` quantile) of survival per arm, exact; dims ``(chain, draw, arm)``.

    With a stratified baseline the marginal curve is a mixture over strata; its quantile
    lies between the strata's own quantiles and is found there by bisection to 1e-10.
    ``inf`` where the curve never reaches ``1 - p``.

    With trial data (the fit's or ``data=``), draws whose median lies beyond the arm's
    last follow-up (the curve does not reach ``1 - p`` within follow-up) are flagged in
    the boolean coordinate ``extrapolated`` (same dims) and warned about with the share
    of draws concerned: report such a median as not reached within follow-up rather than
    as an estimate.
    """
    da = _median(idata, stratum_weights, p)
    return _flag(da, idata, data, _beyond_value, "median_survival", stacklevel=2)


def _median(idata, stratum_weights, p: float) -> xr.DataArray:
    def kernel(rates: np.ndarray, cuts: np.ndarray) -> np.ndarray:
        return _math.quantile_time(rates, cuts, p)

    post, const = _groups(idata)
    if N.STRATUM not in post[N.LOG_HAZARD_BASE].dims:
        return _apply(idata, kernel, "median", {})
    cuts = np.asarray(const["cut_points"].values, dtype=float)
    haz = _hazards(idata).transpose(..., N.STRATUM, N.INTERVAL)
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


def rmst(idata, horizon: float, *, stratum_weights=None,
         data: TrialData | None = None) -> xr.DataArray:
    """Restricted mean survival time to ``horizon`` per arm; dims ``(chain, draw, arm)``.

    With trial data (the fit's or ``data=``), an arm whose last follow-up is shorter than
    ``horizon`` is flagged in the boolean coordinate ``extrapolated`` (dims ``arm``) and
    warned about: its RMST integrates the model's survival beyond the data.
    """
    da = _apply(idata, lambda r, c: _math.rmst(r, c, horizon), "rmst", {}, stratum_weights)
    return _flag(da, idata, data, lambda d, last: horizon > last, f"rmst to {horizon:g}",
                 stacklevel=2)
