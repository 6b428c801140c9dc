"""Time partitions and the sufficient statistics of the piecewise-exponential likelihood.

Convention, stated once: ``cuts`` are the *internal* cut points ``c_1 < ... < c_{K-1}``
(all > 0). With ``c_0 = 0`` and ``c_K = inf`` the intervals are ``(c_{k-1}, c_k]``; the
last is open-ended. An event exactly at ``c_k`` belongs to interval ``k - 1`` (0-based),
the one that ends there. :func:`interval_index` is the only function that decides this.

Layering: NumPy kernels (:func:`interval_index`, :func:`exposure_matrix`,
:func:`cell_statistics`) and thin pandas/xarray wrappers (:func:`exposure_table`,
:func:`split_episodes`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from pexsurv import _names as N
from pexsurv.data import (TrialData, name_list, require_exact_times, require_int,
                          require_trial_data)

__all__ = [
    "validate_cuts",
    "IntervalSupportWarning",
    "MIN_ZERO_HAZARD_SUPPORT",
    "equal_events",
    "fixed_width",
    "observation_times",
    "zero_hazard_support",
    "warn_unsupported_intervals",
    "interval_index",
    "interval_labels",
    "exposure_matrix",
    "exposure_table",
    "split_episodes",
]


def validate_cuts(cuts: Sequence[float] | np.ndarray) -> np.ndarray:
    """Check internal cut points and return them as a read-only float array.

    Parameters
    ----------
    cuts : sequence of float
        Internal cut points, strictly increasing, finite and > 0. An empty sequence means
        one interval (the exponential model).

    Raises
    ------
    ValueError
        For unsorted, duplicated, non-positive or non-finite cut points, and for anything
        but a flat sequence of numbers (a 2-D array, a scalar, text, booleans).

    Examples
    --------
    >>> validate_cuts([1, 2.5, 6]).tolist()
    [1.0, 2.5, 6.0]
    """
    if isinstance(cuts, (str, bytes)):
        raise ValueError(f"cut points must be a sequence of numbers, got the string {cuts!r}")
    raw = np.asarray(cuts)
    if raw.ndim != 1:
        # Flattening a 2-D array (or wrapping a scalar) would invent a partition.
        raise ValueError(f"cut points must be a 1-D sequence such as [3.0, 6.0], got an array "
                         f"of shape {raw.shape}")
    if raw.size and raw.dtype.kind not in "iuf":
        raise ValueError(f"cut points must be real numbers, got dtype {raw.dtype}: "
                         f"{raw.tolist()}")
    c = raw.astype(float)
    if not np.isfinite(c).all():
        raise ValueError(f"cut points must be finite, got {c.tolist()}")
    if (c <= 0).any():
        raise ValueError(
            f"cut points must be > 0 (0 is always the start of the first interval), got "
            f"{c.tolist()}"
        )
    d = np.diff(c)
    if (d == 0).any():
        raise ValueError(f"duplicate cut points: {c[1:][d == 0].tolist()}")
    if (d < 0).any():
        raise ValueError(f"cut points must be sorted increasingly, got {c.tolist()}")
    c.flags.writeable = False
    return c


def equal_events(data: TrialData, k: int = 8, *, min_width: float | None = None) -> np.ndarray:
    """Cut points giving ``k`` intervals with about equal numbers of events.

    The rule of SAS PROC PHREG BAYES (default ``k = 8``): the internal cuts are placed at
    event-time quantiles, pooled over arms. Cut points land at the midpoint between two
    consecutive distinct event times, so that no event sits on a boundary. Fewer than
    ``k`` intervals are returned when ties or too few events make ``k`` impossible, or
    when ``min_width`` removes cuts.

    On interval-censored data (``time_lower``) the event times are the assessments that
    found the events, and cuts between two consecutive ones can split a cluster of visits
    into short intervals and make the gap to the next visit an interval of its own: a
    partition the data do not identify (the fit failed its convergence check in 37 of 40
    simulated trials with ``k = 8``; ``benchmarks/ic_cuts.md``). On such data the cuts
    are therefore placed *at* the quantile assessment times, and a cut closer than
    ``min_width`` to the previous one (or to 0) is dropped; ``min_width`` defaults to half
    the median width of the events' intervals, so that no two cuts fall in one cluster of
    visits: the cuts lie at the visits, about one assessment interval apart.

    Parameters
    ----------
    data : TrialData
    k : int
        Intervals wanted.
    min_width : float, optional
        Shortest gap between consecutive cuts (and before the first); default 0 for
        exactly observed data and half the median of ``time - time_lower`` over
        interval-censored events otherwise.

    Examples
    --------
    >>> from pexsurv import datasets
    >>> cuts = equal_events(datasets.ct041_like(endpoint="pfs"), k=4)
    >>> len(cuts)
    3
    >>> import pandas as pd
    >>> df = pd.DataFrame({"lo": [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0],
    ...                    "hi": [0.9, 1.0, 1.1, 1.9, 2.0, 2.1, 2.9, 3.0], "e": [1] * 8,
    ...                    "arm": [0, 1] * 4})
    >>> ic = TrialData.from_dataframe(df, time="hi", event="e", arm="arm", time_lower="lo")
    >>> equal_events(ic, k=8).tolist()  # at the visits, one per cluster
    [0.9, 1.9, 2.9]
    """
    data = require_trial_data(data, "equal_events()")
    k = require_int(k, "k", minimum=1)
    times = np.sort(data.time[data.event == 1])
    if times.size < k:
        raise ValueError(f"{times.size} events cannot fill k={k} intervals; choose k <= {times.size}")
    ic = data.interval_censored
    if min_width is None:
        min_width = 0.5 * float(np.median((data.time - data.time_lower)[ic])) if ic.any() else 0.0
    if not (np.isfinite(min_width) and min_width >= 0):
        raise ValueError(f"min_width must be finite and >= 0, got {min_width!r}")
    uniq = np.unique(times)
    cuts: list[float] = []
    for j in range(1, k):
        # The j-th boundary follows the event with rank round(j * D / k).
        rank = int(round(j * times.size / k))
        t = times[rank - 1]
        pos = np.searchsorted(uniq, t)
        if ic.any():  # at the assessment itself: a midpoint could fall between two visits
            cut: float | None = float(t)
        else:
            cut = 0.5 * (uniq[pos] + uniq[pos + 1]) if pos + 1 < uniq.size else None
        if cut is not None and cut - (cuts[-1] if cuts else 0.0) >= min_width and cut not in cuts:
            cuts.append(cut)
    return validate_cuts(cuts)


MIN_ZERO_HAZARD_SUPPORT = 4.0
"""Smallest :func:`zero_hazard_support` (log-likelihood units) an interval of
interval-censored data may have before :func:`warn_unsupported_intervals` warns. Below it
the likelihood of a zero hazard is within a factor ``e**4`` (about 55) of the maximum, the
posterior of that interval's log hazard keeps a left tail reaching into the prior (draws
near -15), and the sampler struggles. Measured on the 400 interval-censored fits of 200
simulated trials x 2 reference scans with cuts at the visits' due dates
(``validation/pfs_assessments.md``, previous run): all 28 fits that failed their
convergence check had a support below 3.4; 39 of the 372 that passed were below 4. The
rule it replaces (fewer than 10 observation times in an interval, or an interval shorter
than half a typical event interval) flagged 190 of those fits, of which 19 failed, and
missed 9 failures (``benchmarks/ic_warning.md``). Over the 160 fits of
``benchmarks/ic_cuts.md`` (four cut rules) it flags 68, of which 62 failed, and misses 2."""


class IntervalSupportWarning(UserWarning):
    """The interval-censored data hardly rule out a zero hazard in a baseline interval
    (:func:`zero_hazard_support`): its log hazard is bounded below by the prior alone."""


def observation_times(data: TrialData, cuts: Sequence[float] | np.ndarray) -> np.ndarray:
    """Number of observation times in each interval of the partition.

    The observation times are the times at which the likelihood evaluates the cumulative
    hazard: every subject's ``time`` (its event, its censoring, or the assessment that
    found its event) and, for interval-censored events, ``time_lower`` when it is > 0 (the
    last assessment without the event; ``H(0) = 0`` says nothing).

    Why it matters: ``H(t)`` is linear in the interval hazards, and an observation time in
    interval ``j`` is the first to involve interval ``j``'s hazard beyond its full width.
    The hazards are therefore identified only in as many directions as there are intervals
    holding an observation time; an interval that lies between two assessments trades its
    hazard off against its neighbours'. A descriptive count: whether the data rule out a
    zero hazard there is :func:`zero_hazard_support`.

    Parameters
    ----------
    data : TrialData
    cuts : sequence of float
        Internal cut points.

    Returns
    -------
    numpy.ndarray
        Counts per interval, shape ``(len(cuts) + 1,)``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"lo": [1.5, 1.5, 0.0], "hi": [3.0, 3.0, 1.5], "e": [1, 1, 1],
    ...                    "arm": [0, 1, 1]})
    >>> d = TrialData.from_dataframe(df, time="hi", event="e", arm="arm", time_lower="lo")
    >>> observation_times(d, [1.0, 2.0, 2.5]).tolist()  # (2, 2.5] lies between visits
    [0, 3, 0, 2]
    """
    data = require_trial_data(data, "observation_times()")
    cuts = validate_cuts(cuts)
    ic = data.interval_censored
    lower = data.time_lower[ic & (data.time_lower > 0)] if ic.any() else np.empty(0)
    times = np.concatenate([data.time, lower])
    return np.bincount(interval_index(times, cuts), minlength=cuts.size + 1)


def _proxy_negloglik(theta: np.ndarray, free: np.ndarray, rows: dict[str, np.ndarray],
                     ) -> tuple[float, np.ndarray]:
    """Negative log-likelihood and gradient of the PH piecewise-exponential model with one
    arm effect, in (log hazards of the ``free`` intervals, log HR); the other intervals'
    hazards are 0. Every subject survives to ``lower`` (its time unless interval-censored),
    an interval-censored event adds ``log(1 - exp(-(H(R) - H(L))))``, an exact event
    ``log(lambda) + beta * arm``."""
    lam = np.zeros(free.size)
    lam[free] = np.exp(theta[:-1])
    arm = rows["arm"]
    rel = np.exp(theta[-1] * arm)
    d_lo, d_hi = rows["e_lo"] * rel[:, None], rows["e_hi"] * rel[:, None]  # dH / dlambda
    h_lo = d_lo @ lam
    ll, g_lam, g_beta = -h_lo.sum(), -d_lo.sum(axis=0), -(h_lo * arm).sum()
    ic = rows["ic"]
    gap = d_hi[ic] @ lam - h_lo[ic]
    if (gap <= 0).any():  # an event interval with zero hazard throughout: impossible
        return np.inf, np.zeros_like(theta)
    ll += np.log(-np.expm1(-gap)).sum()
    w = 1.0 / np.expm1(np.minimum(gap, 700.0))
    g_lam += (w[:, None] * (d_hi[ic] - d_lo[ic])).sum(axis=0)
    g_beta += (w * gap * arm[ic]).sum()
    n_exact = rows["n_exact"]
    ll += (n_exact[free] * theta[:-1]).sum() + theta[-1] * arm[rows["exact"]].sum()
    g_lam[free] += n_exact[free] / lam[free]
    g_beta += arm[rows["exact"]].sum()
    return -ll, -np.concatenate([g_lam[free] * lam[free], [g_beta]])


def zero_hazard_support(data: TrialData, cuts: Sequence[float] | np.ndarray) -> np.ndarray:
    """How strongly the data rule out a zero hazard in each interval: the drop in the
    maximised log-likelihood when that interval's hazard is fixed at 0.

    The model is the proportional-hazards piecewise-exponential one with an arm effect
    (strata, covariates and treatment switches are left out: the question is where the
    data observe survival). Interval-censored data can leave an interval's hazard at a
    maximum-likelihood value of 0, or close to it, when its neighbours can take over its
    share of the cumulative hazard between two assessments; then the likelihood is flat as
    its log hazard goes to minus infinity, the prior alone bounds the posterior there, and
    the sampler wanders down that tail (log hazard draws near -15, failed convergence
    checks). An interval holding an exactly observed event, or the whole of an event
    interval ``(time_lower, time]``, cannot have a zero hazard: its support is infinite,
    found without fitting.

    Parameters
    ----------
    data : TrialData
    cuts : sequence of float
        Internal cut points.

    Returns
    -------
    numpy.ndarray
        Support per interval (log-likelihood units, >= 0, ``inf`` where a zero hazard is
        impossible), shape ``(len(cuts) + 1,)``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"lo": [0.0, 0.0, 1.0, 1.0, 1.0, 3.0],
    ...                    "hi": [1.0, 1.0, 3.0, 3.0, 3.0, 3.0], "e": [1, 1, 1, 1, 1, 0],
    ...                    "arm": [0, 1, 0, 1, 1, 0]})
    >>> d = TrialData.from_dataframe(df, time="hi", event="e", arm="arm", time_lower="lo")
    >>> # visits at 1 and 3 only: (1, 2] and (2, inf) share the events of (1, 3]
    >>> np.round(zero_hazard_support(d, [1.0, 2.0]), 6).tolist()
    [inf, 0.0, 0.0]
    """
    from scipy.optimize import minimize

    data = require_trial_data(data, "zero_hazard_support()")
    cuts = validate_cuts(cuts)
    k = cuts.size + 1
    ic = data.interval_censored
    lower = np.where(ic, data.time_lower, data.time)
    exact = (data.event == 1) & ~ic
    rows = {"ic": ic, "exact": exact, "arm": data.arm.astype(float),
            "e_lo": exposure_matrix(np.zeros(data.n), lower, cuts),
            "e_hi": exposure_matrix(np.zeros(data.n), data.time, cuts),
            "n_exact": np.bincount(interval_index(data.time[exact], cuts), minlength=k)}
    inside = interval_index(data.time_lower[ic], cuts) == interval_index(data.time[ic], cuts) \
        if ic.any() else np.zeros(0, dtype=bool)
    support = np.full(k, np.inf)
    open_ = (rows["n_exact"] == 0) & ~np.isin(np.arange(k),
                                              interval_index(data.time[ic][inside], cuts))
    if not open_.any():
        return support
    start = math.log(max(data.event.sum(), 1) / data.time.sum())

    def best(free: np.ndarray) -> float:
        x0 = np.r_[np.full(free.sum(), start), 0.0]
        # log hazards bounded: a maximum at "0" is reached at exp(-30), not at -inf
        fitted = minimize(_proxy_negloglik, x0, args=(free, rows), jac=True,
                          method="L-BFGS-B", bounds=[(-30.0, 10.0)] * int(free.sum())
                          + [(-10.0, 10.0)])
        return float(fitted.fun)

    full = best(np.ones(k, dtype=bool))
    for j in np.flatnonzero(open_):
        free = np.ones(k, dtype=bool)
        free[j] = False
        support[j] = max(best(free) - full, 0.0)
    return support


def warn_unsupported_intervals(data: TrialData, cuts: Sequence[float] | np.ndarray,
                               minimum: float = MIN_ZERO_HAZARD_SUPPORT) -> np.ndarray:
    """Warn when interval-censored data hardly inform the hazard of an interval of the
    partition, naming the intervals and the fix; returns :func:`zero_hazard_support`.

    An interval is flagged when a zero hazard there lowers the maximised log-likelihood by
    less than ``minimum`` (the posterior of its log hazard then keeps the prior's left
    tail), or when it holds no observation time (:func:`observation_times`: its hazard
    is seen only in a sum with its neighbours'). Data without interval-censored events
    never warn.

    Examples
    --------
    >>> import warnings
    >>> from pexsurv import datasets
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error")
    ...     support = warn_unsupported_intervals(datasets.ct041_like(endpoint="pfs"), [2.0])
    >>> support.tolist()  # exactly observed events: a zero hazard is impossible
    [inf, inf]
    """
    data = require_trial_data(data, "warn_unsupported_intervals()")
    cuts = validate_cuts(cuts)
    if not data.interval_censored.any():
        return np.full(cuts.size + 1, np.inf)
    support = zero_hazard_support(data, cuts)
    counts = observation_times(data, cuts)
    labels = interval_labels(cuts)
    flagged = [f"{labels[j]} (zero-hazard support {support[j]:.2f}, {counts[j]} "
               "observation times)" for j in np.flatnonzero((support < minimum) | (counts == 0))]
    if flagged:
        warnings.warn(
            f"interval-censored data hardly inform the hazard of the baseline interval(s) "
            f"{', '.join(flagged)}: a zero hazard there lowers the maximised log-likelihood "
            f"by less than {minimum:g}, or no event, censoring or assessment falls inside, "
            "so the prior bounds these log hazards and the fit may not converge. Fix: place "
            "the cut points at the assessments, about one visit apart (equal_events(data) "
            "does so on interval-censored data), or merge these intervals with a neighbour.",
            IntervalSupportWarning, stacklevel=3)
    return support


def fixed_width(width: float, max_time: float) -> np.ndarray:
    """Cut points every ``width`` time units below ``max_time``.

    Examples
    --------
    >>> fixed_width(3.0, 10.0).tolist()
    [3.0, 6.0, 9.0]
    """
    if not width > 0 or not max_time > 0:
        raise ValueError(f"width and max_time must be > 0, got width={width!r}, "
                         f"max_time={max_time!r}")
    return validate_cuts(np.arange(1, int(np.ceil(max_time / width))) * width)


def interval_index(t: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """0-based index of the interval ``(c_{k-1}, c_k]`` containing each time.

    Examples
    --------
    >>> interval_index(np.array([0.5, 1.0, 1.5, 9.0]), np.array([1.0, 2.0])).tolist()
    [0, 0, 1, 2]
    """
    return np.searchsorted(cuts, np.asarray(t, dtype=float), side="left")


def interval_labels(cuts: np.ndarray) -> list[str]:
    """Readable labels ``"(0, 1]"``, ..., ``"(6, inf)"`` for the intervals."""
    edges = [0.0, *np.asarray(cuts).tolist(), np.inf]
    fmt = "{:g}".format
    return [f"({fmt(a)}, {fmt(b)}]" if np.isfinite(b) else f"({fmt(a)}, inf)"
            for a, b in zip(edges[:-1], edges[1:], strict=True)]


def exposure_matrix(start: np.ndarray, stop: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Time at risk of each episode ``(start, stop]`` in each interval.

    Returns an array of shape ``start.shape + (K,)`` (new axis last).

    Examples
    --------
    >>> exposure_matrix(np.array([0.0]), np.array([2.5]), np.array([1.0, 2.0])).tolist()
    [[1.0, 1.0, 0.5]]
    """
    lower = np.concatenate([[0.0], cuts])
    upper = np.concatenate([cuts, [np.inf]])
    start = np.asarray(start, dtype=float)[..., None]
    stop = np.asarray(stop, dtype=float)[..., None]
    return np.clip(np.minimum(stop, upper) - np.maximum(start, lower), 0.0, None)


def cell_statistics(
    start: np.ndarray, stop: np.ndarray, event: np.ndarray, group: np.ndarray,
    n_groups: int, cuts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Events and person-time per (group, interval) cell.

    ``group`` is an integer code per episode in ``[0, n_groups)``. Returns two arrays of
    shape ``(n_groups, K)``. Work is O(episodes x K) memory-light via ``np.add.at``.
    """
    k = cuts.size + 1
    exposure = np.zeros((n_groups, k))
    np.add.at(exposure, group, exposure_matrix(start, stop, cuts))
    events = np.zeros((n_groups, k))
    has = np.asarray(event) == 1
    np.add.at(events, (group[has], interval_index(np.asarray(stop)[has], cuts)), 1.0)
    return events, exposure


# --------------------------------------------------------------------------- wrappers
_EPISODE_BY = {N.COL_ON_EXPERIMENTAL}


def _group_columns(data: TrialData, by: Sequence[str]) -> dict[str, tuple[str, np.ndarray]]:
    """Per-subject label arrays for each grouping name (arm, stratum, categorical covariate)."""
    out: dict[str, tuple[str, np.ndarray]] = {}
    for name in by:
        if name == N.ARM:
            out[name] = (N.ARM, np.where(data.arm == N.EXPERIMENTAL, data.arms[1], data.arms[0]))
        elif name == N.STRATUM:
            if data.strata is None:
                raise ValueError("by='stratum' needs strata: load the data with "
                                 "TrialData.from_dataframe(..., strata='<column>')")
            out[name] = (N.STRATUM, np.asarray(data.strata))
        elif name in data.covariates:
            values = np.asarray(data.covariates[name])
            if values.dtype.kind == "f":
                raise ValueError(
                    f"covariate '{name}' is numeric: a table needs levels. Fix: group it "
                    "(e.g. pd.cut) into a new column and load that with "
                    "TrialData.from_dataframe(..., covariates=[...], categorical=[...])"
                )
            out[name] = (name, values)
        elif name not in _EPISODE_BY:
            valid = [N.ARM, N.STRATUM, N.COL_ON_EXPERIMENTAL, *data.covariates]
            raise ValueError(f"unknown grouping {name!r}; valid: {valid}")
    return out


def exposure_table(
    data: TrialData, cuts: Sequence[float] | np.ndarray, by: Sequence[str] = (N.ARM,)
) -> xr.Dataset:
    """Events and person-time per interval and group: the PEM sufficient statistics.

    Parameters
    ----------
    data : TrialData
    cuts : sequence of float
        Internal cut points (see the module docstring for the interval convention).
    by : sequence of str
        Grouping: any of ``"arm"``, ``"stratum"``, a categorical covariate name, and
        ``"on_experimental"`` (time on / off experimental therapy, from the
        counting-process split of :func:`split_episodes`).

    Raises
    ------
    TrialDataError
        For interval-censored events (``time_lower``): date them first with
        ``data.date_events("visit")`` or ``"midpoint"``.

    Returns
    -------
    xarray.Dataset
        ``events`` and ``exposure`` with dims ``(*by, "interval")``; coordinates
        ``interval`` (labels), ``interval_lower``, ``interval_upper``. Every combination of
        levels is present (zero where empty).

    Examples
    --------
    >>> from pexsurv import datasets
    >>> data = datasets.ct041_like(endpoint="pfs")
    >>> tab = exposure_table(data, [2.0, 4.0])
    >>> int(tab.events.sum()) == int(data.event.sum())
    True
    """
    data = require_exact_times(data, "exposure_table()")
    cuts = validate_cuts(cuts)
    by = name_list(by, "by")
    if len(set(by)) != len(by):
        raise ValueError(f"repeated grouping in by={by}")
    labels = _group_columns(data, by)
    if N.COL_ON_EXPERIMENTAL in by:
        ep = split_episodes(data, cuts)
        subj = ep[N.COL_SUBJECT].to_numpy()
        start, stop, event = (ep[c].to_numpy() for c in (N.COL_START, N.COL_STOP, N.COL_EVENT))
        row_of = pd.Index(data.id).get_indexer(subj)
        columns = {name: lab[1][row_of] for name, lab in labels.items()}
        columns[N.COL_ON_EXPERIMENTAL] = ep[N.COL_ON_EXPERIMENTAL].to_numpy()
    else:
        start, stop, event = np.zeros(data.n), data.time, data.event
        columns = {name: lab[1] for name, lab in labels.items()}

    levels, codes = [], []
    for name in by:
        if name == N.ARM:  # the reference arm first, as in the model's coding
            lv = np.array([data.arms[0], data.arms[1]])
            code = np.where(columns[name] == data.arms[1], 1, 0)
        elif name == N.COL_ON_EXPERIMENTAL:  # both levels, even if one is empty
            lv, code = np.array([0, 1]), columns[name].astype(np.int64)
        else:
            lv, code = np.unique(columns[name], return_inverse=True)
        levels.append(lv)
        codes.append(code)
    shape = tuple(len(lv) for lv in levels)
    group = np.ravel_multi_index(codes, shape) if by else np.zeros(len(start), dtype=np.int64)
    n_groups = int(np.prod(shape)) if by else 1
    events, exposure = cell_statistics(start, stop, event, group, n_groups, cuts)
    k = cuts.size + 1
    dims = (*by, N.INTERVAL)
    coords = {name: lv for name, lv in zip(by, levels, strict=True)}
    coords[N.INTERVAL] = interval_labels(cuts)
    ds = xr.Dataset(
        {N.COL_EVENTS: (dims, events.reshape(*shape, k)),
         N.COL_EXPOSURE: (dims, exposure.reshape(*shape, k))},
        coords=coords,
    )
    ds = ds.assign_coords(
        interval_lower=(N.INTERVAL, np.concatenate([[0.0], cuts])),
        interval_upper=(N.INTERVAL, np.concatenate([cuts, [np.inf]])),
    )
    ds.attrs.update(population=data.population, origin=data.origin,
                    cuts=cuts.tolist(), arms=list(data.arms))
    return ds


def split_episodes(data: TrialData, cuts: Sequence[float] | np.ndarray) -> pd.DataFrame:
    """Counting-process rows ``(start, stop]`` split at cut points and at the start and end
    of experimental therapy.

    Experimental therapy runs, for the experimental arm, from ``treatment_start`` (from 0
    when no such column was given) until a switch away (``switch_time``); for the reference
    arm, from ``switch_time`` (crossover) on. ``event`` is 1 only on a subject's last row
    when the subject had the event.

    Returns
    -------
    pandas.DataFrame
        Columns ``subject, start, stop, event, interval, arm, on_experimental`` plus
        ``stratum`` and covariates when present; ``arm`` and ``on_experimental`` coded 0/1.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"t": [5.0, 4.0], "e": [1, 0], "a": [1, 0],
    ...                    "ts": [1.0, 0.0], "sw": [float("nan"), 3.0]})
    >>> d = TrialData.from_dataframe(df, time="t", event="e", arm="a",
    ...                              treatment_start="ts", switch_time="sw")
    >>> ep = split_episodes(d, [2.0])
    >>> ep["stop"].tolist(), ep["on_experimental"].tolist()
    ([1.0, 2.0, 5.0, 2.0, 3.0, 4.0], [0, 1, 1, 0, 0, 1])
    """
    data = require_trial_data(data, "split_episodes()")
    cuts = validate_cuts(cuts)
    on, off = data.on_experimental_from()
    n = data.n
    # Candidate breakpoints per subject: every cut, therapy start and end; keep those
    # strictly inside (0, time).
    extra = np.column_stack([on, np.where(np.isfinite(off), off, np.nan)])
    points = np.concatenate([np.broadcast_to(cuts, (n, cuts.size)), extra], axis=1)
    inside = (points > 0) & (points < data.time[:, None])
    points = np.where(inside, points, np.nan)
    bounds = np.concatenate([np.zeros((n, 1)), points, data.time[:, None]], axis=1)
    bounds.sort(axis=1)  # NaN sorts last; it and repeated points give empty episodes
    start, stop = bounds[:, :-1], bounds[:, 1:]
    valid = np.isfinite(stop) & (stop > start)
    subj_pos, _ = np.nonzero(valid)
    start, stop = start[valid], stop[valid]
    last = np.r_[subj_pos[1:] != subj_pos[:-1], True]
    mid = 0.5 * (start + stop)
    on_s, off_s = on[subj_pos], off[subj_pos]
    on_exp = (~np.isnan(on_s) & (mid > on_s) & (mid < off_s)).astype(np.int8)
    out = {
        N.COL_SUBJECT: data.id[subj_pos],
        N.COL_START: start,
        N.COL_STOP: stop,
        N.COL_EVENT: np.where(last, data.event[subj_pos], 0).astype(np.int8),
        N.COL_INTERVAL: interval_index(stop, cuts),
        N.COL_ARM: data.arm[subj_pos],
        N.COL_ON_EXPERIMENTAL: on_exp,
    }
    if data.strata is not None:
        out[N.COL_STRATUM] = data.strata[subj_pos]
    for name, values in data.covariates.items():
        out[name] = values[subj_pos]
    return pd.DataFrame(out)
