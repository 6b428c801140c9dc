"""Posterior predictive checks: Kaplan-Meier curves against replicate trials, observed
against expected events per interval, and (for events found at scheduled assessments)
progressions per visit window against replicates of the assessment process.

Replicate trials are simulated from the fitted piecewise-exponential hazards of each
subject (arm, stratum and covariates as in the model) and censored as the real trial
was (see :func:`posterior_predictive_survival`), so the replicate Kaplan-Meier curves
are comparable with the observed one.

Why not ArviZ's ``plot_ppc_censored`` / ``generate_survival_curves`` / ``kaplan_meier``:
``generate_survival_curves`` takes every predictive time as an event (``1 - j / n``, no
censoring), while observed curves here are censored Kaplan-Meier estimates, so the two
would differ on correctly specified models; it pools all subjects (no curve per arm) and
draws lines, not bands. ``kaplan_meier`` needs per-subject ``observed_data`` and
``constant_data`` variables, which our aggregated fits do not store. The observed curves
therefore come from :func:`pexsurv.km.kaplan_meier`, and the bands from replicate
Kaplan-Meier curves computed with the same function.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pexsurv import _names as N
from pexsurv.check import CheckResult
from pexsurv.data import TrialData
from pexsurv.defaults import CI_PROB, interval_bounds
from pexsurv.diagnostics.replicate import SubjectHazards, censoring_times, event_times
from pexsurv.intervals import (
    exposure_matrix,
    exposure_table,
    interval_index,
    interval_labels,
    validate_cuts,
)
from pexsurv.km import kaplan_meier, km_survival_at

if TYPE_CHECKING:
    from pexsurv.fitting import FitResult

__all__ = [
    "AssessmentCheck",
    "EventsCheck",
    "SurvivalPPC",
    "assessment_ppc",
    "observed_vs_expected_events",
    "posterior_predictive_survival",
]

# Bound on the values held at once when a computation runs over draws x subjects x intervals.
_CHUNK_VALUES = 2_000_000
_GRID_POINTS = 40


def _chunks(n: int, values_per_item: int) -> Iterator[slice]:
    """Slices over ``n`` items holding at most about ``_CHUNK_VALUES`` values each."""
    step = max(1, _CHUNK_VALUES // max(values_per_item, 1))
    for lo in range(0, n, step):
        yield slice(lo, min(lo + step, n))


def _refuse_interval_censored(data: TrialData, what: str) -> None:
    """Checks on the time scale compare exact event times; interval-censored events have
    none (their time is the visit that found them), so the check would fail a correct
    model."""
    if data.interval_censored.any():
        raise ValueError(
            f"{what} compares exact event times, and {int(data.interval_censored.sum())} "
            "event(s) are interval-censored (dated at the visit that found them): use "
            "assessment_ppc(result, visits=...), which replicates the assessment process")


def _replicate_km(hazards: SubjectHazards, data: TrialData, samples: np.ndarray,
                  grid: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Kaplan-Meier curves of replicate trials, shape ``(len(samples), arm, time)``."""
    out = np.empty((samples.size, 2, grid.size))
    in_arm = [data.arm == code for code in (N.REFERENCE, N.EXPERIMENTAL)]
    for sl in _chunks(samples.size, data.n * (hazards.cuts.size + 1)):
        t_event = event_times(np.exp(hazards.log_rates(samples[sl])), hazards.cuts, rng)
        t_censor = censoring_times(data, t_event.shape[0], rng)
        time = np.minimum(t_event, t_censor)
        event = (t_event <= t_censor).astype(np.int8)
        for j, rep in enumerate(range(sl.start, sl.stop)):
            for code, m in enumerate(in_arm):
                out[rep, code] = km_survival_at(time[j, m], event[j, m], grid)
    return out


# --------------------------------------------------------------------------- Kaplan-Meier PPC
@dataclass(frozen=True)
class SurvivalPPC(CheckResult):
    """Outcome of :func:`posterior_predictive_survival`.

    Attributes
    ----------
    passed : bool
        Every arm's coverage is at least ``min_coverage``.
    table : pandas.DataFrame
        One row per arm and grid time: ``time``, ``arm``, ``observed`` (Kaplan-Meier),
        ``median``, ``lower``, ``upper`` (pointwise replicate quantiles) and ``inside``.
    coverage : pandas.Series
        Per arm, the share of grid times where the observed curve lies inside the band.
    km : pandas.DataFrame
        The observed Kaplan-Meier step curves (``arm``, ``time``, ``survival``), from time 0.
    n_draws : int
        Replicate trials simulated.
    ci_prob, min_coverage : float
    censoring : str
        How replicate subjects with an event were censored.
    name : str
    """

    passed: bool
    table: pd.DataFrame
    coverage: pd.Series
    km: pd.DataFrame
    n_draws: int
    ci_prob: float
    min_coverage: float
    censoring: str
    name: str = "posterior_predictive_survival"

    @property
    def text(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        shares = ", ".join(f"{c:.0%} (arm {arm})" for arm, c in self.coverage.items())
        n_times = int(self.table["time"].nunique())
        return (f"Kaplan-Meier posterior predictive check {verdict}: the observed curve lies "
                f"inside the {self.ci_prob:.0%} band of {self.n_draws} replicate trials at "
                f"{shares} of {n_times} times (threshold {self.min_coverage:.0%}); replicate "
                f"subjects with an event censored {self.censoring}.")

    def plot(self, time_unit: str = "months") -> Figure:
        """Observed Kaplan-Meier step curve and replicate band, per arm.

        Parameters
        ----------
        time_unit : str
            Unit of the data's times, for the x-axis label (the data do not record it).

        Returns a :class:`matplotlib.figure.Figure` not registered with pyplot.
        """
        fig = Figure(figsize=(7.0, 4.5), layout="constrained")
        ax = fig.subplots()
        for i, (arm, band) in enumerate(self.table.groupby("arm", sort=False)):
            color = f"C{i}"
            # Every curve starts at S(0) = 1, so the band does too.
            ax.fill_between(np.r_[0.0, band["time"]], np.r_[1.0, band["lower"]],
                            np.r_[1.0, band["upper"]], color=color, alpha=0.25, linewidth=0,
                            label=f"{arm}: {self.ci_prob:.0%} replicate band")
            curve = self.km[self.km["arm"] == arm]
            ax.step(curve["time"], curve["survival"], where="post", color=color,
                    label=f"{arm}: observed Kaplan-Meier")
        ax.set(xlabel=f"time ({time_unit})", ylabel="survival probability", ylim=(0.0, 1.02),
               title="Posterior predictive check: Kaplan-Meier")
        ax.legend(fontsize="small")
        return fig


def _observed_km(data: TrialData) -> pd.DataFrame:
    frames = []
    for code, label in enumerate(data.arms):
        m = data.arm == code
        t, s = kaplan_meier(data.time[m], data.event[m])
        end = data.time[m].max()  # draw the last step out to the end of follow-up
        frames.append(pd.DataFrame({"arm": label, "time": np.r_[0.0, t, end],
                                    "survival": np.r_[1.0, s, s[-1] if s.size else 1.0]}))
    return pd.concat(frames, ignore_index=True)


def posterior_predictive_survival(
    result: FitResult,
    *,
    times: Sequence[float] | np.ndarray | None = None,
    n_draws: int = 200,
    seed: int | None = None,
    ci_prob: float = CI_PROB,
    min_coverage: float = 0.9,
) -> SurvivalPPC:
    """Observed Kaplan-Meier curve per arm against posterior predictive replicate trials.

    For each of ``n_draws`` posterior draws, every subject gets a new event time from the
    fitted piecewise-exponential hazard of their arm, stratum and covariates, and is
    censored like the real trial: a censored subject at their observed censoring time; a
    subject with an event at their potential censoring time ``data.censor_time`` when the
    data give it, otherwise at a time drawn from their arm's reverse Kaplan-Meier
    (censoring) distribution conditional on lying beyond their event time. The band is
    the pointwise ``ci_prob`` interval of the replicate Kaplan-Meier curves.

    Parameters
    ----------
    result : FitResult
        A :class:`~pexsurv.models.PiecewiseExponential` fit with ``exposure="assigned"``
        (any strata and covariates).
    times : array_like, optional
        Grid of times (default: 40 equally spaced times up to the longest follow-up).
    n_draws : int
        Replicate trials (posterior draws taken at random; with replacement only when the
        fit has fewer draws).
    seed : int, optional
        Seed of the replicate simulation.
    ci_prob : float
        Probability of the pointwise band.
    min_coverage : float
        Share of grid times inside the band each arm needs to pass. A heuristic: pointwise
        95% bands of a well-specified model hold the observed curve nearly everywhere
        (posterior predictive checks are conservative), while a misspecified hazard shape
        leaves it outside over whole stretches of time.

    Returns
    -------
    SurvivalPPC

    Raises
    ------
    ValueError
        For fits other than assigned-exposure piecewise-exponential models, and for data
        with interval-censored events (use :func:`assessment_ppc`).

    Examples
    --------
    >>> check = posterior_predictive_survival(result, seed=1)  # doctest: +SKIP
    >>> check.coverage                                        # doctest: +SKIP
    >>> fig = check.plot()                                    # doctest: +SKIP
    """
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    lo_q, hi_q = interval_bounds(ci_prob, "ci_prob")
    data = result.data
    _refuse_interval_censored(data, "the Kaplan-Meier posterior predictive check")
    hazards = SubjectHazards.from_result(result)
    if times is None:
        grid = np.linspace(0.0, float(data.time.max()), _GRID_POINTS + 1)[1:]
    else:
        grid = np.asarray(times, dtype=float).reshape(-1)
        if grid.size == 0 or not np.isfinite(grid).all() or (grid < 0).any():
            raise ValueError("times must be a non-empty grid of finite times >= 0")
    rng = np.random.default_rng(seed)
    samples = np.sort(rng.choice(hazards.n_samples, size=n_draws,
                                 replace=n_draws > hazards.n_samples))
    replicates = _replicate_km(hazards, data, samples, grid, rng)
    lower, median, upper = np.quantile(replicates, [lo_q, 0.5, hi_q], axis=0)
    observed = np.stack([km_survival_at(data.time[data.arm == code], data.event[data.arm == code],
                                        grid) for code in (N.REFERENCE, N.EXPERIMENTAL)])
    table = pd.DataFrame({
        "time": np.tile(grid, 2),
        "arm": np.repeat(list(data.arms), grid.size),
        "observed": observed.reshape(-1),
        "median": median.reshape(-1),
        "lower": lower.reshape(-1),
        "upper": upper.reshape(-1),
    })
    table["inside"] = (table["observed"] >= table["lower"]) & (table["observed"] <= table["upper"])
    coverage = table.groupby("arm", sort=False)["inside"].mean().rename("coverage")
    censoring = ("at their potential censoring time (censor_time)" if data.censor_time is not None
                 else "from the reverse Kaplan-Meier censoring distribution")
    return SurvivalPPC(passed=bool((coverage >= min_coverage).all()), table=table,
                       coverage=coverage, km=_observed_km(data), n_draws=n_draws,
                       ci_prob=ci_prob, min_coverage=min_coverage, censoring=censoring)


# --------------------------------------------------------------------------- events per interval
@dataclass(frozen=True)
class EventsCheck(CheckResult):
    """Outcome of :func:`observed_vs_expected_events`.

    Attributes
    ----------
    passed : bool
        ``p_value`` is at least ``min_p_value``.
    table : pandas.DataFrame
        One row per interval and arm: ``interval``, ``arm``, ``exposure``, ``observed``,
        ``expected`` (posterior mean), ``expected_lower``/``expected_upper`` (posterior
        interval of the expected count), ``predicted_lower``/``predicted_upper``
        (posterior predictive interval of the count) and ``inside`` (observed within the
        predictive interval).
    p_value : float
        Posterior predictive p-value of the Pearson discrepancy
        ``sum (events - expected)^2 / expected`` over cells with person-time.
    ci_prob, min_p_value : float
    name : str
    """

    passed: bool
    table: pd.DataFrame
    p_value: float
    ci_prob: float
    min_p_value: float
    name: str = "observed_vs_expected_events"

    @property
    def text(self) -> str:
        return (_p_value_verdict("Observed vs expected events", self) + " interval x arm "
                f"cells outside their {self.ci_prob:.0%} predictive interval; "
                f"{self.table['observed'].sum():.0f} events observed, "
                f"{self.table['expected'].sum():.1f} expected.")

    def plot(self, time_unit: str = "months") -> Figure:
        """Observed events and expected events (posterior and predictive intervals), one
        panel per arm. Returns a :class:`matplotlib.figure.Figure` not registered with
        pyplot.

        Parameters
        ----------
        time_unit : str
            Unit of the interval limits, for the x-axis label.
        """
        return _count_panels(
            self.table, x="interval", mean=("expected", "expected (posterior)"),
            bands=[("predicted_lower", "predicted_upper",
                    {"alpha": 0.4, "linewidth": 1, "label": f"{self.ci_prob:.0%} predictive"}),
                   ("expected_lower", "expected_upper", {"linewidth": 3})],
            xlabel=f"interval ({time_unit})", ylabel="events", panel_width=4.0,
            title="Posterior predictive check: events per interval",
            ticks={"rotation": 45})


def _expected_events(hazards: SubjectHazards, data: TrialData,
                     check_cuts: np.ndarray) -> np.ndarray:
    """Expected events per posterior sample, arm and check interval, shape
    ``(sample, arm, interval)``: hazard x person-time, summed over subjects.

    Person-time is split on the union of the model's and the check's cut points, so each
    piece lies inside one model interval (constant hazard) and one check interval.
    """
    pieces = np.union1d(hazards.cuts, check_cuts)
    upper = np.r_[pieces, np.inf]
    model_interval = interval_index(upper, hazards.cuts)
    to_check = np.eye(check_cuts.size + 1)[interval_index(upper, check_cuts)]  # (piece, J)
    person_time = exposure_matrix(np.zeros(data.n), data.time, pieces)  # (n, piece)
    arm_of = np.eye(2)[data.arm]  # (n, arm)
    out = np.empty((hazards.n_samples, 2, check_cuts.size + 1))
    for sl in _chunks(hazards.n_samples, data.n * pieces.size):
        rates = np.exp(hazards.log_rates(np.arange(sl.start, sl.stop)))[..., model_interval]
        by_arm = np.einsum("snp,na->sap", rates * person_time, arm_of)
        out[sl] = by_arm @ to_check
    return out


def _pearson_p_value(observed: np.ndarray, expected: np.ndarray,
                     rng: np.random.Generator) -> float:
    """Posterior predictive p-value of ``sum (y - mu)^2 / mu``: the share of draws in which
    Poisson replicate counts are at least as discrepant as the observed ones."""
    keep = (expected > 0).all(axis=0)  # cells without person-time carry no information
    mu, y = expected[:, keep], observed[keep]
    replicate = rng.poisson(mu)
    t_obs = ((y - mu) ** 2 / mu).sum(axis=-1)
    t_rep = ((replicate - mu) ** 2 / mu).sum(axis=-1)
    return float((t_rep >= t_obs).mean())


def observed_vs_expected_events(
    result: FitResult,
    *,
    cuts: Sequence[float] | np.ndarray | None = None,
    ci_prob: float = CI_PROB,
    min_p_value: float = 0.05,
    seed: int | None = None,
) -> EventsCheck:
    """Observed events per interval and arm against the fitted model's expected events.

    Expected events are the fitted hazard times person-time at risk, summed over the
    subjects of the arm (each at their own stratum and covariates); the posterior mean
    and interval of that expected count are shown beside a posterior predictive interval
    of the count itself (Poisson given the observed person-time, the PEM likelihood), and
    a posterior predictive p-value summarises the fit over all cells.

    Parameters
    ----------
    result : FitResult
        A :class:`~pexsurv.models.PiecewiseExponential` fit with ``exposure="assigned"``.
    cuts : sequence of float, optional
        Intervals to check (default: the model's own). Checking a coarse model on finer
        intervals reveals a hazard shape it cannot follow: on its own intervals, each
        interval's events summed over arms are matched nearly by construction (the
        baseline's score equations).
    ci_prob : float
        Probability of the intervals.
    min_p_value : float
        The check passes when the p-value is at least this.
    seed : int, optional
        Seed of the Poisson replicates behind the p-value and predictive intervals.

    Returns
    -------
    EventsCheck

    Examples
    --------
    >>> check = observed_vs_expected_events(result, seed=1)  # doctest: +SKIP
    >>> check.table[["interval", "arm", "observed", "expected"]]  # doctest: +SKIP
    """
    lo_q, hi_q = interval_bounds(ci_prob, "ci_prob")
    data = result.data
    _refuse_interval_censored(data, "observed_vs_expected_events")
    hazards = SubjectHazards.from_result(result)
    check_cuts = hazards.cuts if cuts is None else validate_cuts(cuts)
    observed = exposure_table(data, check_cuts, by=(N.ARM,))
    expected = _expected_events(hazards, data, check_cuts)
    rng = np.random.default_rng(seed)
    events = observed[N.COL_EVENTS].transpose(N.ARM, N.INTERVAL).values
    p_value = _pearson_p_value(events, expected, rng)
    predicted = rng.poisson(expected)
    n_int = check_cuts.size + 1
    table = pd.DataFrame({
        "interval": np.tile(observed[N.INTERVAL].values, 2),
        "arm": np.repeat(list(data.arms), n_int),
        "exposure": observed[N.COL_EXPOSURE].transpose(N.ARM, N.INTERVAL).values.reshape(-1),
        "observed": events.reshape(-1),
        "expected": expected.mean(axis=0).reshape(-1),
        "expected_lower": np.quantile(expected, lo_q, axis=0).reshape(-1),
        "expected_upper": np.quantile(expected, hi_q, axis=0).reshape(-1),
        # Counts: quantiles that are attained counts, not interpolations between them.
        "predicted_lower": np.quantile(predicted, lo_q, axis=0, method="inverted_cdf").reshape(-1),
        "predicted_upper": np.quantile(predicted, hi_q, axis=0, method="inverted_cdf").reshape(-1),
    })
    table["inside"] = ((table["observed"] >= table["predicted_lower"])
                       & (table["observed"] <= table["predicted_upper"]))
    return EventsCheck(passed=p_value >= min_p_value, table=table, p_value=p_value,
                       ci_prob=ci_prob, min_p_value=min_p_value)


# --------------------------------------------------------------------------- assessment visits
@dataclass(frozen=True)
class AssessmentCheck(CheckResult):
    """Outcome of :func:`assessment_ppc`.

    Attributes
    ----------
    passed : bool
        ``p_value`` is at least ``min_p_value``.
    table : pandas.DataFrame
        One row per visit window and arm: ``window``, ``arm``, ``observed`` (events dated
        in the window), ``replicated`` (mean over replicate trials),
        ``replicated_lower``/``replicated_upper`` (their ``ci_prob`` interval) and
        ``inside``.
    p_value : float
        Posterior predictive p-value of ``sum (count - mean)^2 / mean`` over cells with a
        positive replicate mean: the share of replicate trials at least as far from the
        replicate mean as the observed counts.
    n_draws : int
    ci_prob, min_p_value : float
    schedule : str
        The visit schedule the replicates were assessed at.
    name : str
    """

    passed: bool
    table: pd.DataFrame
    p_value: float
    n_draws: int
    ci_prob: float
    min_p_value: float
    schedule: str
    name: str = "assessment_ppc"

    @property
    def text(self) -> str:
        return (_p_value_verdict("Events per visit window", self, f" over {self.n_draws} "
                                 f"replicate trials assessed {self.schedule}")
                + f" window x arm cells outside their {self.ci_prob:.0%} interval.")

    def plot(self, time_unit: str = "months") -> Figure:
        """Observed events per visit window and the replicate intervals, one panel per
        arm. Returns a :class:`matplotlib.figure.Figure` not registered with pyplot.

        Parameters
        ----------
        time_unit : str
            Unit of the window limits, for the x-axis label.
        """
        return _count_panels(
            self.table, x="window", mean=("replicated", "replicated mean"),
            bands=[("replicated_lower", "replicated_upper",
                    {"label": f"replicated ({self.ci_prob:.0%})"})],
            xlabel=f"visit window ({time_unit})", ylabel="events dated in the window",
            panel_width=5.0, title="Posterior predictive check: events per visit window",
            ticks={"rotation": 60, "fontsize": "small"})


def _p_value_verdict(what: str, check: EventsCheck | AssessmentCheck, over: str = "") -> str:
    """The head of a count check's text: verdict, p-value against its threshold, and the
    number of cells outside their interval (the caller names the cells)."""
    verdict = "passed" if check.passed else "FAILED"
    n_out = int((~check.table["inside"]).sum())
    return (f"{what} {verdict}: posterior predictive p-value {check.p_value:.3f} (threshold "
            f"{check.min_p_value}){over}; {n_out} of {len(check.table)}")


def _count_panels(table: pd.DataFrame, *, x: str, mean: tuple[str, str],
                  bands: list[tuple[str, str, dict[str, Any]]], xlabel: str, ylabel: str,
                  panel_width: float, title: str, ticks: dict[str, Any]) -> Figure:
    """Observed counts (black dots) against a model's mean (squares) and intervals
    (``bands``: lower column, upper column, line style), one panel per arm."""
    arms = list(pd.unique(table["arm"]))
    fig = Figure(figsize=(panel_width * len(arms), 4.0), layout="constrained")
    axes = fig.subplots(1, len(arms), sharey=True, squeeze=False)[0]
    for i, (ax, arm) in enumerate(zip(axes, arms, strict=True)):
        rows = table[table["arm"] == arm]
        pos = np.arange(len(rows))
        # Intervals as segments, not error bars around the mean: a count's interval need
        # not contain its mean (a skewed, mostly-zero count, as in late windows), and
        # negative error bar lengths are an error in matplotlib.
        for lower, upper, style in bands:
            ax.vlines(pos, rows[lower], rows[upper], color=f"C{i}", **style)
        ax.plot(pos, rows[mean[0]].to_numpy(), "s", color=f"C{i}", label=mean[1])
        ax.plot(pos, rows["observed"], "o", color="black", label="observed")
        ax.set_xticks(pos, rows[x], **ticks)
        ax.set(title=f"arm {arm}", xlabel=xlabel)
    axes[0].set_ylabel(ylabel)
    axes[0].legend(fontsize="small")
    fig.suptitle(title)
    return fig


def _visit_matrix(visits: np.ndarray, n: int) -> np.ndarray:
    """Visit times as ``(n, m)`` (one schedule for all, or one row per subject), checked."""
    v = np.asarray(visits, dtype=float)
    if v.ndim == 1:
        v = np.broadcast_to(v, (n, v.size))
    if v.ndim != 2 or v.shape[0] != n or v.shape[1] == 0:
        raise ValueError(f"visits must be one schedule (1-D) or one row of visit times per "
                         f"subject, shape ({n}, m); got shape {np.shape(visits)}")
    present = v[~np.isnan(v)]
    if (present <= 0).any() or not np.isfinite(present).all():
        raise ValueError("visit times must be finite and > 0 (NaN pads shorter rows)")
    # NaN pads read as +inf: a pad followed by a visit decreases; two pads give inf - inf
    # = NaN, which is not < 0 (and must not warn)
    with np.errstate(invalid="ignore"):
        decreasing = np.diff(np.where(np.isnan(v), np.inf, v), axis=1) < 0
    if decreasing.any():
        raise ValueError("visit times must be increasing along each row")
    return v


def _window_edges(visits: np.ndarray, end: float) -> np.ndarray:
    """Window boundaries halfway between consecutive typical (median) visits, up to the
    first visit after ``end`` (the longest follow-up); the last window is open."""
    typical = np.nanmedian(visits, axis=0)
    typical = typical[:np.searchsorted(typical, end, side="left") + 1]
    return (typical[:-1] + typical[1:]) / 2


def _dated(t_event: np.ndarray, t_censor: np.ndarray, visits: np.ndarray) -> np.ndarray:
    """Each event time dated at the first visit at or after it and no later than the end
    of follow-up; NaN when no such visit (the event is not seen: censored).
    ``t_event``/``t_censor`` ``(draws, n)``, ``visits`` ``(draws or 1, n, m)``."""
    v = np.where(np.isnan(visits), np.inf, visits)
    after = v >= t_event[..., None]
    first = np.take_along_axis(v, after.argmax(axis=-1)[..., None], axis=-1)[..., 0]
    seen = after.any(axis=-1) & (first <= t_censor)
    return np.where(seen, first, np.nan)


def _window_counts(dated: np.ndarray, arm: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Events per (row, arm, window) from dated times (NaN = no event)."""
    lead = dated.shape[:-1]
    window = np.searchsorted(edges, dated, side="left")
    code = np.where(np.isnan(dated), -1, arm.astype(np.int64) * (edges.size + 1) + window)
    flat = code.reshape(-1, code.shape[-1])
    out = np.zeros((flat.shape[0], 2 * (edges.size + 1)))
    rows = np.repeat(np.arange(flat.shape[0]), flat.shape[1])
    ok = flat.reshape(-1) >= 0
    np.add.at(out, (rows[ok], flat.reshape(-1)[ok]), 1.0)
    return out.reshape(*lead, 2, edges.size + 1)


def assessment_ppc(
    result: FitResult,
    visits: Sequence[float] | np.ndarray,
    *,
    jitter: float = 0.0,
    windows: Sequence[float] | np.ndarray | None = None,
    n_draws: int = 200,
    seed: int | None = None,
    ci_prob: float = CI_PROB,
    min_p_value: float = 0.05,
) -> AssessmentCheck:
    """Events per visit window and arm against replicate trials assessed like the real one.

    Progression found at scheduled assessments is dated at the visit that found it, so
    its observed times cluster at the visits. For each of ``n_draws`` posterior draws,
    every subject gets a new event time from the fitted hazards (arm, stratum,
    covariates), a follow-up end as in :func:`posterior_predictive_survival` (censored
    subjects at their observed time; subjects with an event at ``data.censor_time`` or a
    reverse Kaplan-Meier draw beyond their event), and assessments at ``visits`` (each
    shifted by an independent uniform ``+-jitter`` per replicate): the event is dated at
    the first visit at or after it, if that visit comes before the follow-up end, and
    is otherwise not seen. Observed and replicate events are counted per visit window
    and arm.

    Parameters
    ----------
    result : FitResult
        A :class:`~pexsurv.models.PiecewiseExponential` fit with ``exposure="assigned"``,
        typically of data with interval-censored events (any data work).
    visits : array_like
        The assessment schedule: one sequence of visit times for everyone (e.g. every 6
        weeks), or one row per subject (NaN-padded) of planned visit times. Visits must
        extend over the follow-up: events after the last visit are not seen.
    jitter : float
        Half-width of the uniform scatter of each replicate visit around its schedule
        (visit windows in protocols are typically +-1 week).
    windows : array_like, optional
        Boundaries of the visit windows that events are counted in (default: halfway
        between consecutive scheduled visits, so each window holds one visit, up to the
        longest follow-up).
    n_draws : int
        Replicate trials.
    seed : int, optional
        Seed of the replicate simulation.
    ci_prob : float
        Probability of the replicate intervals.
    min_p_value : float
        The check passes when the p-value is at least this.

    Returns
    -------
    AssessmentCheck

    Examples
    --------
    >>> check = assessment_ppc(result, visits=np.arange(1, 40) * 1.4, jitter=0.23,
    ...                        seed=1)  # doctest: +SKIP
    >>> check.table[["window", "arm", "observed", "replicated"]]  # doctest: +SKIP
    """
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    if not (np.isfinite(jitter) and jitter >= 0):
        raise ValueError(f"jitter must be a finite number >= 0, got {jitter!r}")
    lo_q, hi_q = interval_bounds(ci_prob, "ci_prob")
    data = result.data
    schedule = _visit_matrix(visits, data.n)
    edges = (_window_edges(schedule, float(data.time.max())) if windows is None
             else validate_cuts(windows))
    hazards = SubjectHazards.from_result(result)
    rng = np.random.default_rng(seed)
    samples = np.sort(rng.choice(hazards.n_samples, size=n_draws,
                                 replace=n_draws > hazards.n_samples))
    replicated = np.empty((n_draws, 2, edges.size + 1))
    for sl in _chunks(n_draws, data.n * max(schedule.shape[1], hazards.cuts.size + 1)):
        t_event = event_times(np.exp(hazards.log_rates(samples[sl])), hazards.cuts, rng)
        t_censor = censoring_times(data, t_event.shape[0], rng)
        v = schedule[None] + (rng.uniform(-jitter, jitter, (t_event.shape[0], *schedule.shape))
                              if jitter > 0 else 0.0)
        replicated[sl] = _window_counts(_dated(t_event, t_censor, v), data.arm, edges)
    observed = _window_counts(np.where(data.event == 1, data.time, np.nan), data.arm, edges)
    mean = replicated.mean(axis=0)
    keep = mean > 0
    t_obs = ((observed - mean)[keep] ** 2 / mean[keep]).sum()
    t_rep = ((replicated - mean)[:, keep] ** 2 / mean[keep]).sum(axis=-1)
    p_value = float((t_rep >= t_obs).mean())
    labels = interval_labels(edges)
    table = pd.DataFrame({
        "window": np.tile(labels, 2),
        "arm": np.repeat(list(data.arms), len(labels)),
        "observed": observed.reshape(-1),
        "replicated": mean.reshape(-1),
        "replicated_lower": np.quantile(replicated, lo_q, axis=0,
                                        method="inverted_cdf").reshape(-1),
        "replicated_upper": np.quantile(replicated, hi_q, axis=0,
                                        method="inverted_cdf").reshape(-1),
    })
    table["inside"] = ((table["observed"] >= table["replicated_lower"])
                       & (table["observed"] <= table["replicated_upper"]))
    text = ("at one schedule" if np.asarray(visits).ndim == 1 else "at per-subject visits")
    if jitter > 0:
        text += f" +-{jitter:g}"
    return AssessmentCheck(passed=p_value >= min_p_value, table=table, p_value=p_value,
                           n_draws=n_draws, ci_prob=ci_prob, min_p_value=min_p_value,
                           schedule=text)
