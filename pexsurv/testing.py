"""Test helpers shipped with the package: hand-built posteriors in the models' layout.

Used by the test suite, by doctests and by anyone testing code on top of pexsurv.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from pexsurv import _names as N
from pexsurv.intervals import interval_labels, validate_cuts

__all__ = ["fake_posterior"]


def fake_posterior(
    *,
    cuts: Sequence[float] = (2.0, 4.0),
    hazards: Sequence[float] | np.ndarray = (0.3, 0.2, 0.1),
    hr: float | Sequence[float] = 0.5,
    chains: int = 2,
    draws: int = 5,
    jitter: float = 0.0,
    seed: int = 0,
    arms: tuple[str, str] = ("control", "experimental"),
    stratum_weight: Sequence[float] | None = None,
) -> xr.DataTree:
    """A DataTree with ``posterior`` and ``constant_data`` as a PEM fit would have them.

    Parameters
    ----------
    hazards : sequence or array
        Baseline hazards per interval, or per (stratum, interval) when 2-D.
    hr : float or sequence
        One hazard ratio (PH), or one per interval (stored as a piecewise effect with one
        period per interval).
    jitter : float
        Standard deviation of normal noise added to every log parameter per draw (0 gives
        identical draws, handy for closed-form checks).

    Examples
    --------
    >>> tree = fake_posterior(hazards=[0.1, 0.2, 0.3], hr=0.5)
    >>> float(tree["posterior"]["hr"].mean())
    0.5
    """
    cuts_arr = validate_cuts(cuts)
    rng = np.random.default_rng(seed)
    base = np.log(np.asarray(hazards, dtype=float))
    k = cuts_arr.size + 1
    if base.shape[-1] != k:
        raise ValueError(f"{k} intervals need {k} hazards, got {base.shape[-1]}")

    def draws_of(value: np.ndarray) -> np.ndarray:
        value = np.broadcast_to(value, (chains, draws, *np.shape(value)))
        return value + jitter * rng.standard_normal(value.shape)

    labels = interval_labels(cuts_arr)
    sample = list(N.SAMPLE_DIMS)
    base_dims = [*sample, N.INTERVAL] if base.ndim == 1 else [*sample, N.STRATUM, N.INTERVAL]
    post = {N.LOG_HAZARD_BASE: (base_dims, draws_of(base))}
    const = {"cut_points": ("cut_points_dim_0", cuts_arr),
             "arm_code": (N.ARM, np.array([N.REFERENCE, N.EXPERIMENTAL]))}
    coords = {N.INTERVAL: labels, N.ARM: list(arms), "chain": np.arange(chains),
              "draw": np.arange(draws)}
    if base.ndim == 2:
        n_strata = base.shape[0]
        coords[N.STRATUM] = [f"s{i}" for i in range(n_strata)]
        w = np.ones(n_strata) if stratum_weight is None else np.asarray(stratum_weight, float)
        const["stratum_weight"] = (N.STRATUM, w / w.sum())
    log_hr = np.log(np.asarray(hr, dtype=float))
    if log_hr.ndim == 0:
        lh = draws_of(log_hr)
        post[N.LOG_HR] = (sample, lh)
        post[N.HR] = (sample, np.exp(lh))
    else:
        lp = draws_of(log_hr)
        coords[N.PERIOD] = labels
        post[N.LOG_HR] = (sample, lp.mean(axis=-1))
        post[N.HR] = (sample, np.exp(lp.mean(axis=-1)))
        post[N.LOG_HR_PERIOD] = ([*sample, N.PERIOD], lp)
        post[N.HR_PERIOD] = ([*sample, N.PERIOD], np.exp(lp))
        const["period_of_interval"] = (N.INTERVAL, np.arange(k))
    posterior = xr.Dataset(post, coords={c: v for c, v in coords.items()})
    constant = xr.Dataset(const, coords={c: v for c, v in coords.items()
                                         if c not in ("chain", "draw")})
    return xr.DataTree.from_dict({"posterior": posterior, "constant_data": constant})
