"""Likelihood rows for piecewise-exponential models.

The PEM log-likelihood is ``sum_rows d * eta - exp(eta) * E`` with ``eta`` the log hazard
of the row: a Poisson likelihood in form. Rows are either *cells* (events and person-time
summed per interval x stratum x treatment x categorical-covariate level: the sufficient
statistics, so the cost does not grow with the number of patients) or *episode-intervals*
(one row per subject, therapy episode and interval: needed for numeric covariates and
for per-patient log-likelihoods). Both give the same posterior; tests check it.

Interval-censored events (``TrialData.time_lower``) enter the rows as subjects censored at
their interval's start, plus the per-subject term of :mod:`pexsurv.models.interval`
(``PEMDesign.ic``).

The linear predictor is written once (:func:`linear_predictor`) with ``...`` indexing, so
that the same code runs on PyTensor variables inside the model and on NumPy posterior
draws afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pexsurv import _names as N
from pexsurv.data import TrialData
from pexsurv.intervals import cell_statistics, exposure_matrix, interval_index, split_episodes
from pexsurv.models.interval import IntervalRows, interval_rows

__all__ = ["PEMDesign", "build_design", "covariate_matrix", "covariate_scaling", "linear_predictor"]

EXPOSURES = ("assigned", "received")


def _covariate_columns(data: TrialData, covariates: Sequence[str]) -> tuple[np.ndarray, list[str], list[bool]]:
    """Raw design columns per subject: numeric covariates as they are, categorical ones as
    treatment-coded dummies with the first sorted level as reference."""
    cols, names, numeric = [], [], []
    for name in covariates:
        if name not in data.covariates:
            raise ValueError(
                f"covariate {name!r} is not in the data; load it with "
                f"TrialData.from_dataframe(..., covariates=[...]); available: {list(data.covariates)}"
            )
        values = np.asarray(data.covariates[name])
        if values.dtype.kind == "f":
            if not np.ptp(values) > 0:
                raise ValueError(f"covariate {name!r} takes the single value {float(values[0]):g} in every "
                                 "row: it has no effect to estimate; drop it from covariates")
            cols.append(values)
            names.append(name)
            numeric.append(True)
            continue
        levels = np.unique(values)
        if levels.size < 2:
            raise ValueError(f"covariate {name!r} has a single level {levels.tolist()}; drop it")
        for level in levels[1:]:
            cols.append((values == level).astype(float))
            names.append(f"{name}[{level}]")
            numeric.append(False)
    x = np.column_stack(cols) if cols else np.zeros((data.n, 0))
    return x, names, numeric


def _scaling(x: np.ndarray, numeric: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    # Dummies keep centre 0 and scale 1: their coefficient is already a log HR between
    # levels, and the baseline stays that of the reference level.
    is_num = np.asarray(numeric, dtype=bool)
    center = np.where(is_num, x.mean(axis=0), 0.0) if x.shape[1] else np.zeros(0)
    scale = np.where(is_num, x.std(axis=0, ddof=1), 1.0) if x.shape[1] else np.zeros(0)
    return center, scale


def covariate_matrix(data: TrialData, covariates: Sequence[str]) -> tuple[np.ndarray, list[str], list[bool]]:
    """Design columns per subject on the covariates' own scales: numeric covariates centred
    at their mean (so the baseline hazard is that of an average subject), categorical ones
    as treatment-coded dummies with the first sorted level as reference.

    Returns the matrix ``(n, p)``, column names, and per column whether it is numeric.
    ``x @ beta`` with ``beta`` on the original scale (the model's ``beta``) is the
    covariate term of the log hazard.
    """
    x, names, numeric = _covariate_columns(data, covariates)
    center, _ = _scaling(x, numeric)
    return x - center, names, numeric


def covariate_scaling(data: TrialData, covariates: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale of each design column: mean and SD (``ddof=1``) of numeric
    covariates, 0 and 1 for dummies.

    The model samples coefficients per SD (``beta_std``; priors apply to them) and reports
    ``beta = beta_std / scale`` per unit of the covariate, as rstanarm and bambi do: on raw
    clinical scales (SD ~200) the unscaled coefficients differ in scale by 10**4 from the
    log HR and NUTS diverged on every draw.

    Examples
    --------
    >>> import pandas as pd
    >>> from pexsurv import TrialData
    >>> df = pd.DataFrame({"time": [1.0, 2, 3, 4], "event": 1, "arm": [0, 1, 0, 1],
    ...                    "lab": [100.0, 300, 500, 700]})
    >>> d = TrialData.from_dataframe(df, time="time", event="event", arm="arm", reference=0,
    ...                              covariates=["lab"])
    >>> center, scale = covariate_scaling(d, ["lab"])
    >>> center.tolist(), scale.round(1).tolist()
    ([400.0], [258.2])
    """
    x, _, numeric = _covariate_columns(data, covariates)
    return _scaling(x, numeric)


@dataclass(frozen=True, eq=False)
class PEMDesign:
    """Rows of the PEM likelihood and the coordinates that label them.

    Attributes
    ----------
    interval, stratum : numpy.ndarray
        Integer interval and stratum index per row.
    treat : numpy.ndarray
        1.0 where the row's person-time is on experimental therapy (assigned arm for
        ``exposure="assigned"``), else 0.0.
    x : numpy.ndarray
        Covariate design, shape ``(rows, p)``: numeric covariates centred, on their own
        scale (see :func:`covariate_matrix`).
    x_center, x_scale : numpy.ndarray
        Per column, the centre subtracted and the scale the model divides by
        (:func:`covariate_scaling`).
    events, exposure : numpy.ndarray
        Event count and person-time per row.
    subject : numpy.ndarray or None
        Subject position per row (episode rows only).
    ic : IntervalRows
        The per-subject term of interval-censored events (no rows when there are none);
        the rows above hold those subjects as censored at ``time_lower``.
    cuts : numpy.ndarray
    strata, covariate_names : tuple of str
    aggregated : bool
    """

    interval: np.ndarray
    stratum: np.ndarray
    treat: np.ndarray
    x: np.ndarray
    events: np.ndarray
    exposure: np.ndarray
    subject: np.ndarray | None
    cuts: np.ndarray
    strata: tuple[str, ...]
    covariate_names: tuple[str, ...]
    aggregated: bool
    x_center: np.ndarray
    x_scale: np.ndarray
    ic: IntervalRows

    @property
    def n_rows(self) -> int:
        return int(self.interval.size)


def _episodes(data: TrialData, cuts: np.ndarray, exposure: str):
    """(subject position, start, stop, event, treat) per therapy episode."""
    if exposure == "assigned":
        return (np.arange(data.n), np.zeros(data.n), data.time, data.event,
                data.arm.astype(float))
    ep = split_episodes(data, cuts)
    pos = pd.Index(data.id).get_indexer(ep[N.COL_SUBJECT])
    return (pos, ep[N.COL_START].to_numpy(), ep[N.COL_STOP].to_numpy(),
            ep[N.COL_EVENT].to_numpy(), ep[N.COL_ON_EXPERIMENTAL].to_numpy(dtype=float))


def _until_interval_start(data: TrialData, subj: np.ndarray, start: np.ndarray, stop: np.ndarray,
                          event: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Episodes of interval-censored subjects cut at ``time_lower``, without the event:
    their ``S(L)`` factor is that of a subject censored there (episodes after it become
    empty and carry no person-time)."""
    ic = data.interval_censored[subj]
    if not ic.any():
        return start, stop, event
    stop = np.where(ic, np.minimum(stop, data.time_lower[subj]), stop)
    return np.minimum(start, stop), stop, np.where(ic, 0, event)


def build_design(
    data: TrialData,
    cuts: np.ndarray,
    *,
    exposure: str = "assigned",
    covariates: Sequence[str] = (),
    stratified: bool = False,
    aggregate: bool = True,
) -> PEMDesign:
    """Likelihood rows for ``data`` on the partition ``cuts``.

    ``aggregate=True`` sums events and person-time into cells; it is refused when a numeric
    covariate makes every subject its own cell (use ``aggregate=False``).

    Examples
    --------
    >>> from pexsurv import datasets
    >>> data = datasets.ct041_like(endpoint="pfs")
    >>> d = build_design(data, np.array([2.0, 4.0]))
    >>> d.n_rows, int(d.events.sum()) == int(data.event.sum())
    (6, True)
    """
    if exposure not in EXPOSURES:
        raise ValueError(f"exposure must be one of {EXPOSURES}, got {exposure!r}")
    if exposure == "received" and data.treatment_start is None and data.switch_time is None:
        raise ValueError(
            "exposure='received' needs treatment_start and/or switch_time in the TrialData"
        )
    raw, names, numeric = _covariate_columns(data, covariates)
    x_center, x_scale = _scaling(raw, numeric)
    x_subj = raw - x_center
    if aggregate and any(numeric):
        raise ValueError(
            "numeric covariates have no sufficient statistics per cell; use aggregate=False "
            "(the per-episode likelihood)"
        )
    strata_codes = data.stratum_index() if stratified else np.zeros(data.n, dtype=np.int64)
    strata = data.stratum_levels if stratified else ("all",)
    episodes = _episodes(data, cuts, exposure)
    ic = interval_rows(data, cuts, episodes, strata_codes, x_subj)
    subj, start, stop, event, treat = episodes
    start, stop, event = _until_interval_start(data, subj, start, stop, event)
    k = cuts.size + 1

    if aggregate:
        keys = np.column_stack([strata_codes[subj], treat, x_subj[subj]])
        uniq, group = np.unique(keys, axis=0, return_inverse=True)
        group = group.reshape(-1)
        events, expo = cell_statistics(start, stop, event, group, len(uniq), cuts)
        rows = np.repeat(np.arange(len(uniq)), k)
        return PEMDesign(
            interval=np.tile(np.arange(k), len(uniq)), stratum=uniq[rows, 0].astype(np.int64),
            treat=uniq[rows, 1], x=uniq[rows, 2:], events=events.reshape(-1),
            exposure=expo.reshape(-1), subject=None, cuts=cuts, strata=strata,
            covariate_names=tuple(names), aggregated=True, x_center=x_center, x_scale=x_scale,
            ic=ic,
        )

    expo = exposure_matrix(start, stop, cuts)  # (episodes, K)
    ep_idx, interval = np.nonzero(expo > 0)
    ev = np.zeros_like(expo)
    has = event == 1
    ev[np.nonzero(has)[0], interval_index(stop[has], cuts)] = 1.0
    return PEMDesign(
        interval=interval, stratum=strata_codes[subj][ep_idx], treat=treat[ep_idx],
        x=x_subj[subj][ep_idx], events=ev[ep_idx, interval], exposure=expo[ep_idx, interval],
        subject=subj[ep_idx], cuts=cuts, strata=strata, covariate_names=tuple(names),
        aggregated=False, x_center=x_center, x_scale=x_scale, ic=ic,
    )


def linear_predictor(base, effect, beta, design: PEMDesign, *, stratified: bool):
    """Log hazard of each design row, for PyTensor variables or NumPy draws alike.

    Parameters
    ----------
    base : tensor or array, ``(..., interval)`` or ``(..., stratum, interval)``
        Baseline log hazards.
    effect : tensor or array, ``(..., interval)``
        Treatment log hazard ratio acting in each interval.
    beta : tensor or array ``(..., p)`` or None
        Covariate coefficients.
    design : PEMDesign
        Or any object with its ``interval``, ``stratum``, ``treat`` and ``x`` (e.g. the
        ``pm.Data`` inputs of a graph).
    stratified : bool
        Whether ``base`` carries a stratum axis.
    """
    if stratified:
        eta = base[..., design.stratum, design.interval]
    else:
        eta = base[..., design.interval]
    eta = eta + design.treat * effect[..., design.interval]
    if beta is not None:  # None exactly when there are no covariate columns
        eta = eta + (beta[..., None, :] * design.x).sum(axis=-1)
    return eta
