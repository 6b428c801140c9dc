"""PFS when progression is found at scheduled assessments: every dating and baseline side by side.

On one simulated trial (:func:`pexsurv.simulate.simulate_assessments`), whose true
progression times are known, the same piecewise-exponential model is fitted to PFS
dated four ways (the true time, the visit that found progression, the interval's
midpoint, the interval itself: interval-censored), for the tumour reference of the
randomized trial (enrolment scan) and of single-arm trials (infusion scan), and on the
clock from randomization or from treatment start. The table shows how far the hazard ratio
and the median PFS per arm move away from the true-time analysis of the same patients.
"""

from __future__ import annotations

import warnings
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pexsurv.data import ORIGINS, TrialData
from pexsurv.diagnostics.hr_table import hr_table
from pexsurv.fitting import CompiledModel, FitResult, SamplerConfig, compile_spec, fit
from pexsurv.km import km_median
from pexsurv.models import PiecewiseExponential, median_survival
from pexsurv.simulate.assessments import BASELINES, DATINGS, AssessedTrial

__all__ = ["PFSDatingComparison", "compare_pfs_dating", "pfs_fit_summary"]

@dataclass(frozen=True, eq=False)
class PFSDatingComparison:
    """The comparison table and the fits behind it.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (baseline, origin, dating), labelled ``"<baseline> scan, from
        <origin>, <dating>"``: the columns of :func:`pfs_fit_summary`, and
        ``hr_vs_true`` (posterior median HR over that of the true-time row with the same
        baseline and origin) and ``median_<arm>_vs_true`` (posterior median PFS minus the
        true-time row's, months); NaN when the true dating was not fitted.
    results : dict
        Label -> FitResult.
    """

    table: pd.DataFrame
    results: dict[str, FitResult]


def pfs_fit_summary(result: FitResult, *, prob: float = 0.95) -> dict[str, Any]:
    """HR and median PFS per arm of one PH fit, with the data's Kaplan-Meier medians.

    Returns
    -------
    dict
        The :func:`~pexsurv.diagnostics.hr_table` row (``n``, ``events``, ``hr_median``,
        ``lower``, ``upper``, ``p_hr_lt_1``, ``converged``, ...), ``interval_censored``
        (events known only by their interval), and per arm label ``median_<arm>`` (posterior
        median of the median PFS) with ``median_<arm>_lower`` / ``_upper`` (equal-tailed
        ``prob`` interval) and ``km_median_<arm>`` (Kaplan-Meier median of the data; NaN for an
        arm with interval-censored events, which have no single time).

    Examples
    --------
    >>> row = pfs_fit_summary(result)  # doctest: +SKIP
    """
    data = result.data
    row = hr_table({"fit": result}, prob=prob).iloc[0].to_dict()
    row["interval_censored"] = int(data.interval_censored.sum())
    med = median_survival(result).values.reshape(-1, 2)  # draws x (reference, experimental)
    lo, hi = (1 - prob) / 2, 1 - (1 - prob) / 2
    for code, arm in enumerate(data.arms):
        draws = med[:, code]
        row[f"median_{arm}"] = float(np.median(draws))
        row[f"median_{arm}_lower"] = float(np.quantile(draws, lo))
        row[f"median_{arm}_upper"] = float(np.quantile(draws, hi))
        mask = data.arm == code
        # Interval-censored events have no single time; exact ones (time_lower loaded but
        # equal to time) do.
        row[f"km_median_{arm}"] = (np.nan if data.interval_censored[mask].any()
                                   else km_median(data.time[mask], data.event[mask]))
    return row


def compare_pfs_dating(sim: AssessedTrial, cuts: Sequence[float], *,
                       baselines: Sequence[str] = BASELINES,
                       datings: Sequence[str] = DATINGS,
                       origins: Sequence[str] = ("randomization",),
                       seed: int | None = None, draws: int = 1000, progress: bool = False,
                       compiled: MutableMapping[Any, CompiledModel] | None = None,
                       ) -> PFSDatingComparison:
    """Fit PFS of one simulated trial under every dating, baseline and clock.

    Parameters
    ----------
    sim : AssessedTrial
        From :func:`pexsurv.simulate.simulate_assessments`.
    cuts : sequence of float
        Baseline partition of every piecewise-exponential fit (PH, default priors).
    baselines : sequence of {"enrolment", "infusion"}
        Tumour references (:meth:`AssessedTrial.trial_data`).
    datings : sequence of {"true", "visit", "midpoint", "interval"}
    origins : sequence of {"randomization", "treatment_start"}
        PFS clocks; ``"treatment_start"`` drops patients never infused.
    seed, draws, progress
        Sampler settings (4 chains, ``draws`` tuning steps and draws).
    compiled : dict, optional
        A cache of compiled models, filled here and re-used across calls (a simulation
        study compiles once): exactly dated data share one model, interval-censored data
        one per number of patients.

    Returns
    -------
    PFSDatingComparison

    Examples
    --------
    >>> from pexsurv.simulate import simulate_assessments
    >>> out = compare_pfs_dating(simulate_assessments(n=156, seed=1), [1.0, 2.0, 4.0],
    ...                          seed=1)  # doctest: +SKIP
    """
    for name, given, valid in (("baselines", baselines, BASELINES),
                               ("datings", datings, DATINGS), ("origins", origins, ORIGINS)):
        bad = [g for g in given if g not in valid]
        if bad or not given:
            raise ValueError(f"{name} must be a non-empty selection of {valid}, got "
                             f"{list(given)!r}")
    spec = PiecewiseExponential(cuts=tuple(float(c) for c in cuts))
    config = SamplerConfig(draws=draws, tune=draws, seed=seed, progress=progress)
    cache: MutableMapping[Any, CompiledModel] = {} if compiled is None else compiled
    results: dict[str, FitResult] = {}
    rows: dict[str, dict[str, Any]] = {}
    for baseline in baselines:
        for origin in origins:
            for dating in datings:
                label = f"{baseline} scan, from {origin}, {dating}"
                with warnings.catch_warnings():
                    # from_treatment_start() warns about the patients it excludes; the
                    # table's n records it.
                    warnings.simplefilter("ignore", UserWarning)
                    data = sim.trial_data(baseline=baseline, dating=dating, origin=origin)
                key = _shape_key(spec, data)
                if key not in cache:
                    cache[key] = compile_spec(spec, data, config)
                results[label] = fit(spec, data, sampler=config, compiled=cache[key])
                rows[label] = {"baseline": baseline, "origin": origin, "dating": dating,
                               **pfs_fit_summary(results[label])}
    table = pd.DataFrame.from_dict(rows, orient="index")
    _versus_truth(table, sim.params["arm_labels"])
    table.attrs.update(prob=0.95, interval="equal-tailed")
    return PFSDatingComparison(table=table, results=results)


def _shape_key(spec: PiecewiseExponential, data: TrialData) -> tuple[Any, ...]:
    """What a compiled model's shapes depend on: the cuts, and for interval-censored data
    the number of patients (one likelihood row each)."""
    n_rows = data.n if data.interval_censored.any() else 0
    return (spec.cuts, n_rows)


def _versus_truth(table: pd.DataFrame, arms: Sequence[str]) -> None:
    """Add each row's shift from the true-time row of the same baseline and origin."""
    truth = table[table["dating"] == "true"].set_index(["baseline", "origin"])
    ref = truth.reindex(pd.MultiIndex.from_frame(table[["baseline", "origin"]]))
    table["hr_vs_true"] = table["hr_median"].to_numpy() / ref["hr_median"].to_numpy()
    for arm in arms:
        table[f"median_{arm}_vs_true"] = (table[f"median_{arm}"].to_numpy()
                                          - ref[f"median_{arm}"].to_numpy())
