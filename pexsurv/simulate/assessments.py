"""Progression as a trial finds it: tumour burden, scheduled assessments and a RECIST-like rule.

A patient's tumour burden (sum of lesion diameters, mm) grows exponentially until therapy
starts: at randomization in the control arm, at infusion after the manufacturing wait in
the experimental arm (never, for a patient who dies, drops out or whose product fails
first). From therapy start a sensitive fraction of the tumour shrinks and the resistant rest
keeps growing::

    SLD(t) = SLD0 * exp(g * min(t, s)) * (f * exp(-d * (t - s)+) + (1 - f) * exp(g * (t - s)+))

New lesions appear as a Poisson process (rate lowered once therapy starts), and death
(a PFS event, dated exactly) and loss to follow-up are exponential.

The burden is measured at a reference scan and at scheduled visits (every
``visit_interval`` from randomization, each shifted by up to ``visit_jitter``, each missed
with probability ``missed_visit_prob``). A visit shows progression when the burden is at
least ``relative_increase`` above the nadir of the scans so far (reference included) and at
least ``absolute_increase`` mm above it, or when a lesion appeared after the reference scan
(:class:`ProgressionRule`). Scans can be measured with error (``measurement_cv``: the
measured burden is the true one times a log-normal factor, independent per scan, as
readers of the same CT disagree); the rule then sees the measured burdens.
Two references are assessed on the same patients:

- ``"enrolment"``: the scan at randomization (what a randomized trial uses);
- ``"infusion"``: for infused patients the pre-infusion scan at treatment start, with only
  the visits after it (what a single-arm trial uses); control patients (therapy from
  randomization) and patients never infused keep the enrolment scan
  (column ``reference_scan`` says which scan each patient's rule used).

The *true progression time* is the moment the disease met the rule that the detecting visit
applied: the last time, before that visit, that the burden crossed the threshold of the
nadir in force (or the time the new lesion appeared, if earlier). It therefore always lies
in the recorded interval (last visit without progression, first visit with it], so that
interval-censored analyses have a true time to recover. With measurement error the true
time stays that of the error-free scans, and the recorded interval is the noisy rule's: a
measurement can call progression early, late, or where the disease never met the rule
(the true time then lies outside the interval, or there is none). Growth that crossed the threshold
and receded before any scan saw it is not progression (no trial could call it one).
True PFS is the earlier of that time and death.

Times are in months from randomization; all draws come from one seeded generator in a fixed
order, independent of the data cut, so :meth:`AssessedTrial.at_cutoff` gives other cuts of
the same patients.

Examples
--------
The issue's patient: 20 mm at enrolment, 40 mm at infusion three weeks later, 30 mm at the
first visit. Against the enrolment scan that is progression (+50%); against the infusion
scan it is shrinkage (-25%).

>>> rule = ProgressionRule()
>>> bool(rule.progressed(30.0, nadir=20.0)), bool(rule.progressed(30.0, nadir=40.0))
(True, False)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from pexsurv.data import ORIGINS, TrialData
from pexsurv.simulate.engine import (_check_cutoff, _n_experimental, _positive, check_arms,
                                     check_probability)

__all__ = [
    "BASELINES",
    "DATINGS",
    "AssessedTrial",
    "ProgressionRule",
    "Therapy",
    "assess_patients",
    "simulate_assessments",
    "tumour_burden",
    "visit_schedule",
]

BASELINES = ("enrolment", "infusion")
"""Reference scans of the progression rule."""

DATINGS = ("true", "visit", "midpoint", "interval")
"""How a PFS time is dated: the true time, the visit that found progression, the midpoint
of the interval, or the interval itself (interval-censored)."""

_DAYS_PER_MONTH = 30.4375
DAY = 1.0 / _DAYS_PER_MONTH
"""One day in months: a patient without any assessment after the reference scan is
censored on day 1 after it (FDA 2018 guidance on PFS censoring), since a follow-up time
must be positive."""

WEEK = 7.0 / _DAYS_PER_MONTH
"""One week in months."""

_GRID = 256  # points per inter-visit segment when locating the true crossing
_BISECT = 40  # bisection steps after the grid: the crossing to ~1e-14 months


@dataclass(frozen=True)
class ProgressionRule:
    """RECIST-like progression: the sum of diameters ``>= (1 + relative_increase)`` times
    the nadir *and* ``>= absolute_increase`` mm above it, or a new lesion.

    Examples
    --------
    >>> ProgressionRule().threshold(np.array([10.0, 50.0])).tolist()
    [15.0, 60.0]
    """

    relative_increase: float = 0.20
    absolute_increase: float = 5.0

    def __post_init__(self) -> None:
        _positive("relative_increase", self.relative_increase, allow_zero=True)
        _positive("absolute_increase", self.absolute_increase, allow_zero=True)

    def threshold(self, nadir: np.ndarray) -> np.ndarray:
        """Smallest burden that is progression against ``nadir``."""
        nadir = np.asarray(nadir, dtype=float)
        return np.maximum(nadir * (1.0 + self.relative_increase),
                          nadir + self.absolute_increase)

    def progressed(self, burden: np.ndarray, nadir: np.ndarray) -> np.ndarray:
        """Whether ``burden`` is progression against ``nadir`` (no new lesion)."""
        return np.asarray(burden, dtype=float) >= self.threshold(nadir)


@dataclass(frozen=True)
class Therapy:
    """Tumour response to one arm's therapy.

    Attributes
    ----------
    sensitive_fraction : float
        Mean (over patients) fraction of the tumour that the therapy kills; each patient's
        fraction is Beta distributed with this mean and ``concentration``.
    decay : float
        Kill rate of the sensitive part, per month.
    new_lesion_hr : float
        Hazard ratio of new lesions once on therapy.
    concentration : float
        Beta concentration (a + b) of the sensitive fraction.

    Examples
    --------
    >>> Therapy(sensitive_fraction=0.7, decay=2.0, new_lesion_hr=0.5).decay
    2.0
    """

    sensitive_fraction: float
    decay: float
    new_lesion_hr: float = 1.0
    concentration: float = 6.0

    def __post_init__(self) -> None:
        if not 0.0 < self.sensitive_fraction < 1.0:
            raise ValueError("Therapy.sensitive_fraction must be in (0, 1), got "
                             f"{self.sensitive_fraction}")
        _positive("Therapy.decay", self.decay, allow_zero=True)
        _positive("Therapy.new_lesion_hr", self.new_lesion_hr, allow_zero=True)
        _positive("Therapy.concentration", self.concentration)


CAR_T = Therapy(sensitive_fraction=0.75, decay=2.5, new_lesion_hr=0.5)
"""Default experimental therapy: deep, fast responses."""

CHEMOTHERAPY = Therapy(sensitive_fraction=0.25, decay=1.0, new_lesion_hr=1.0)
"""Default control therapy: shallow responses."""


def tumour_burden(t: np.ndarray, *, sld0: np.ndarray, growth: np.ndarray,
                  therapy_start: np.ndarray, sensitive_fraction: np.ndarray,
                  decay: np.ndarray) -> np.ndarray:
    """Sum of diameters at times ``t`` (months from randomization); arguments broadcast.

    Parameters
    ----------
    t : array_like
    sld0 : array_like
        Burden at randomization (mm).
    growth : array_like
        Exponential growth rate of untreated (and resistant) tumour, per month.
    therapy_start : array_like
        Time therapy starts (``inf``: never).
    sensitive_fraction, decay : array_like
        Fraction killed by the therapy and its kill rate per month.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    Doubling over a three-week wait, then a response by the first visit at seven weeks:

    >>> wait = 0.75
    >>> b = tumour_burden(np.array([0.0, wait, 1.6]), sld0=20.0, growth=np.log(2) / wait,
    ...                   therapy_start=wait, sensitive_fraction=0.7, decay=3.0)
    >>> np.round(b, 1).tolist()
    [20.0, 40.0, 28.5]
    """
    t = np.asarray(t, dtype=float)
    s = np.asarray(therapy_start, dtype=float)
    on = np.maximum(t - s, 0.0)  # time on therapy (0 before it, and for never)
    f = np.asarray(sensitive_fraction, dtype=float)
    g = np.asarray(growth, dtype=float)
    return (np.asarray(sld0, dtype=float) * np.exp(g * np.minimum(t, s))
            * (f * np.exp(-np.asarray(decay, dtype=float) * on) + (1.0 - f) * np.exp(g * on)))


def visit_schedule(n: int, *, interval: float, jitter: float, missed_prob: float,
                   horizon: float, rng: np.random.Generator) -> np.ndarray:
    """Scheduled assessment times, one row per patient (NaN = missed visit).

    Visit ``k`` is due ``k * interval`` after randomization (the protocol clock, so that
    delays do not accumulate) and happens uniformly within ``jitter`` of it; each is
    missed independently with probability ``missed_prob``. Visits due up to ``horizon``.

    Examples
    --------
    >>> v = visit_schedule(2, interval=7 / 30.4375, jitter=0.0, missed_prob=0.0, horizon=0.5,
    ...                    rng=np.random.default_rng(1))
    >>> np.round(v * 30.4375).tolist()
    [[7.0, 14.0], [7.0, 14.0]]
    """
    k = np.arange(1, int(math.floor(horizon / interval)) + 1)
    shift = rng.uniform(-jitter, jitter, (n, k.size))
    missed = rng.uniform(size=(n, k.size)) < missed_prob
    missed[:, -1] = False
    return np.where(missed, np.nan, k * interval + shift)


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class AssessedTrial:
    """A simulated trial whose progression is found at scheduled tumour assessments.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per patient and reference (``baseline`` in :data:`BASELINES`), at this data
        cut: ``id``, ``arm``, ``entry``, ``baseline``, ``reference_scan`` (the scan the rule
        used), ``reference_time``, ``treatment_start`` (0 in the control arm, the infusion
        time, NaN = not infused by the cut), ``censor_time`` (cut-off minus entry),
        ``progression_true`` (true progression time if before death, else NaN; latent,
        may lie after the cut), ``pfs_true_time`` / ``pfs_true_event`` (true PFS censored
        at the cut or dropout), ``last_assessment`` (last visit without progression, or
        the reference scan), ``progression_visit`` (first visit with progression, NaN =
        none recorded), ``event_type`` (``"progression"``, ``"death"`` or ``"censored"``),
        ``pfs_event`` (1 for the first two), ``pfs_lower`` (left end of the recorded
        interval: ``last_assessment`` for a progression, the death time for a death, and
        the censoring time for a censored patient), ``pfs_visit_time`` (progression dated
        at the visit, death at death, censored at the last assessment, or on day 1 after
        the reference scan when there is none), ``pfs_midpoint_time`` (progression at
        the interval's midpoint) and ``n_assessments`` (visits used by the rule up to the
        event or the cut).
    visits : pandas.DataFrame
        Every assessment made by the cut, alive (``id``, ``time``, ``burden``,
        ``measured_burden`` (what the rule saw: ``burden`` unless measured with error),
        ``new_lesion``: a lesion appeared after randomization), whatever the rule
        concluded; the reference scans are ``reference_time`` in :attr:`data`.
    latent : pandas.DataFrame
        Per patient, uncensored: ``entry``, ``sld0``, ``growth``, ``sensitive_fraction``,
        ``decay``, ``manufacturing_time``, ``therapy_start`` (inf = never),
        ``new_lesion`` (first new lesion after randomization), ``new_lesion_after_infusion``
        (first after therapy start), ``death``, ``dropout``.
    params : dict
        Every input of :func:`simulate_assessments`.
    schedule : numpy.ndarray
        The latent visit times, one row per patient (NaN = missed), up to the horizon.
    measurement_error : numpy.ndarray or None
        Log measurement errors (:func:`assess_patients`), None = exact scans.
    """

    data: pd.DataFrame
    visits: pd.DataFrame
    latent: pd.DataFrame
    params: dict[str, Any] = field(repr=False)
    schedule: np.ndarray = field(repr=False)
    measurement_error: np.ndarray | None = field(default=None, repr=False)

    def at_cutoff(self, cutoff: float) -> AssessedTrial:
        """The same patients observed at another data cut (``accrual < cutoff <= horizon``).

        Returns
        -------
        AssessedTrial
            Equal, bit for bit, to :func:`simulate_assessments` with this ``cutoff``.
        """
        _check_horizon(self.params["accrual"], float(cutoff), self.params["horizon"])
        params = {**self.params, "cutoff": float(cutoff)}
        return assess_patients(self.latent, self.schedule, cutoff=float(cutoff),
                               rule=params["rule"], arm_labels=params["arm_labels"],
                               params=params, measurement_error=self.measurement_error)

    def trial_data(self, *, baseline: Literal["enrolment", "infusion"] = "enrolment",
                   dating: Literal["true", "visit", "midpoint", "interval"] = "visit",
                   origin: Literal["randomization", "treatment_start"] = "randomization",
                   ) -> TrialData:
        """PFS of this trial as :class:`~pexsurv.TrialData`.

        Parameters
        ----------
        baseline : {"enrolment", "infusion"}
            Reference scan of the progression rule.
        dating : {"true", "visit", "midpoint", "interval"}
            ``"true"``: the true PFS times (censored at the cut); ``"visit"``: progression
            dated at the visit that found it (the usual practice); ``"midpoint"``: at the
            midpoint of its interval; ``"interval"``: interval-censored, ``time_lower`` the
            last assessment without progression and ``time`` the visit (deaths exact).
        origin : {"randomization", "treatment_start"}
            PFS clock: from randomization (all patients) or from treatment start
            (:meth:`TrialData.from_treatment_start`: never-infused patients excluded; the
            control arm starts at randomization).

        Returns
        -------
        TrialData
            Arm reference = the control label; ``treatment_start`` (NaN when the infusion
            came after the dated PFS time) and ``censor_time`` set.

        Examples
        --------
        >>> sim = simulate_assessments(n=60, seed=3)
        >>> d = sim.trial_data(baseline="enrolment", dating="visit")
        >>> d.n, d.arms
        (60, ('control', 'car-t'))
        """
        if baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
        if dating not in DATINGS:
            raise ValueError(f"dating must be one of {DATINGS}, got {dating!r}")
        if origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}, got {origin!r}")
        frame = self.data[self.data["baseline"] == baseline]
        time, event = {"true": ("pfs_true_time", "pfs_true_event"),
                       "visit": ("pfs_visit_time", "pfs_event"),
                       "midpoint": ("pfs_midpoint_time", "pfs_event"),
                       "interval": ("pfs_visit_time", "pfs_event")}[dating]
        # An infusion after the dated PFS event (a patient whose tumour met the rule during
        # the wait) was not observed before it: NaN, as TrialData.date_events does.
        start = frame["treatment_start"].where(frame["treatment_start"] <= frame[time])
        frame = frame.assign(treatment_start=start)
        columns: dict[str, Any] = dict(
            time=time, event=event, arm="arm", reference=self.params["arm_labels"][1],
            id="id", treatment_start="treatment_start", censor_time="censor_time")
        if dating == "interval":
            columns["time_lower"] = "pfs_lower"
        data = TrialData.from_dataframe(frame, **columns)
        return data.from_treatment_start() if origin == "treatment_start" else data


# --------------------------------------------------------------------------- assessment
def assess_patients(latent: pd.DataFrame, schedule: np.ndarray, *, cutoff: float,
                    rule: ProgressionRule = ProgressionRule(),
                    arm_labels: tuple[str, str] = ("car-t", "control"),
                    params: dict[str, Any] | None = None,
                    measurement_error: np.ndarray | None = None) -> AssessedTrial:
    """Apply the progression rule to given patients and visits, and observe them at a cut.

    The deterministic half of :func:`simulate_assessments`, public so that a chosen
    patient (such as the issue's 20 -> 40 -> 30 mm example) can be assessed.

    Parameters
    ----------
    latent : pandas.DataFrame
        One row per patient with the columns of :attr:`AssessedTrial.latent` and ``id``,
        ``arm``; ``therapy_start`` 0 in the control arm, the infusion time, or inf.
    schedule : numpy.ndarray, shape (n, k)
        Visit times per patient, increasing along a row, NaN = missed; the last column
        is treated as always attended, so that every progression before it has a true
        time.
    cutoff : float
        Data cut, months after the first patient in.
    rule : ProgressionRule
    arm_labels : (str, str)
        Experimental and control labels.
    params : dict, optional
        Stored in the result (default: the arguments, the last entry as ``accrual`` and
        the earliest last visit as ``horizon``, which bound :meth:`AssessedTrial.at_cutoff`).
    measurement_error : numpy.ndarray, shape (n, k + 2), optional
        Log of measured over true burden: column 0 the enrolment scan, 1 the pre-infusion
        scan, then one per visit (``schedule``'s columns). The rule sees the measured
        burdens; the true progression times stay those of exact scans. None: exact.

    Returns
    -------
    AssessedTrial

    Examples
    --------
    The patient of :func:`tumour_burden` (20 -> 40 -> 28.5 mm) progresses at the first
    visit against the enrolment scan, at the second against the infusion scan:

    >>> latent = pd.DataFrame({"id": [1], "arm": ["car-t"], "entry": [0.0], "sld0": [20.0],
    ...     "growth": [np.log(2) / 0.75], "sensitive_fraction": [0.7], "decay": [3.0],
    ...     "manufacturing_time": [0.75], "therapy_start": [0.75], "new_lesion": [np.inf],
    ...     "new_lesion_after_infusion": [np.inf], "death": [np.inf], "dropout": [np.inf]})
    >>> sim = assess_patients(latent, np.array([[1.6, 3.2, 40.0]]), cutoff=12.0)
    >>> sim.data.set_index("baseline")["progression_visit"].to_dict()
    {'enrolment': 1.6, 'infusion': 3.2}
    """
    schedule = np.asarray(schedule, dtype=float)
    if schedule.ndim != 2 or schedule.shape[0] != len(latent):
        raise ValueError(f"schedule must have one row per patient ({len(latent)}), got "
                         f"shape {schedule.shape}")
    if np.isnan(schedule[:, -1]).any():
        raise ValueError("the last visit of every patient must be attended (not NaN): it "
                         "closes the latent follow-up")
    experimental = (latent["arm"] == arm_labels[0]).to_numpy()
    start = latent["therapy_start"].to_numpy(dtype=float)
    kinetics = {k: latent[k].to_numpy(dtype=float)
                for k in ("sld0", "growth", "sensitive_fraction", "decay")}

    def burden(t: np.ndarray, rows: Any = slice(None)) -> np.ndarray:
        ix = (rows, None) if np.ndim(t) == 2 else rows
        return tumour_burden(t, therapy_start=start[ix],
                             **{k: v[ix] for k, v in kinetics.items()})

    death = latent["death"].to_numpy(dtype=float)
    censor_admin = cutoff - latent["entry"].to_numpy(dtype=float)
    censor = np.minimum(censor_admin, latent["dropout"].to_numpy(dtype=float))
    infused = experimental & np.isfinite(start)
    lesion = latent["new_lesion"].to_numpy(dtype=float)
    if measurement_error is not None:
        measurement_error = np.asarray(measurement_error, dtype=float)
        if (measurement_error.shape != (schedule.shape[0], schedule.shape[1] + 2)
                or not np.isfinite(measurement_error).all()):
            raise ValueError(
                "measurement_error must be finite, one row per patient and one column per "
                f"scan (enrolment, infusion, then the visits): shape "
                f"{(schedule.shape[0], schedule.shape[1] + 2)}, got {measurement_error.shape}")

    def progression(ref: np.ndarray, scan: int, new_lesion: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(detecting visit, last visit without, true time) against one reference scan."""
        exact = _first_progression(schedule, ref, burden(ref), burden, new_lesion, rule)
        true_time = _true_time(burden, *exact, new_lesion)
        if measurement_error is None:
            return exact[0], exact[1], true_time
        err = np.exp(measurement_error)
        seen = _first_progression(schedule, ref, burden(ref) * err[:, scan], burden,
                                  new_lesion, rule, visit_factor=err[:, 2:])
        return seen[0], seen[1], true_time

    zero = np.zeros(len(latent))
    enrolment = progression(zero, 0, lesion)
    ref = np.where(infused, start, 0.0)
    lesion_after = np.where(infused, latent["new_lesion_after_infusion"].to_numpy(float),
                            lesion)
    infusion = progression(ref, 1, lesion_after)
    # A patient infused after this cut has no infusion scan yet: the enrolment scan is
    # the reference at this cut (the same rows, so enrolment and infusion agree for them).
    by_infusion = infused & (start <= censor)
    infusion = tuple(np.where(by_infusion, i, e) for i, e in zip(infusion, enrolment))
    frames = [_observe(latent, baseline, np.where(by_infusion, start, 0.0) if i else zero,
                       by_infusion if i else zero.astype(bool), found, schedule, start,
                       experimental, death, censor, censor_admin)
              for i, (baseline, found) in enumerate(zip(BASELINES, (enrolment, infusion)))]
    data = pd.concat(frames, ignore_index=True)
    rows, cols = np.nonzero((schedule <= censor[:, None]) & (schedule < death[:, None]))
    times = schedule[rows, cols]
    true_burden = burden(times, rows)
    visits = pd.DataFrame({
        "id": latent["id"].to_numpy()[rows], "time": times, "burden": true_burden,
        "measured_burden": true_burden if measurement_error is None
        else true_burden * np.exp(measurement_error[rows, cols + 2]),
        "new_lesion": lesion[rows] <= times,
    })
    return AssessedTrial(data=data, visits=visits, latent=latent.reset_index(drop=True),
                         params=dict(params or {
                             "cutoff": cutoff, "rule": rule, "arm_labels": arm_labels,
                             "accrual": float(latent["entry"].max()),
                             "horizon": float(schedule[:, -1].min())}),
                         schedule=schedule, measurement_error=measurement_error)


def _first_progression(schedule: np.ndarray, ref: np.ndarray, ref_burden: np.ndarray,
                       burden: Any, new_lesion: np.ndarray, rule: ProgressionRule,
                       visit_factor: np.ndarray | None = None,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First visit after the reference that shows progression (NaN: none by the last
    visit), the visit before it (or the reference scan) and the rule's threshold in force
    at that visit; the burden a visit measures is the true one times ``visit_factor``
    (per patient and visit; None = exact)."""
    n = schedule.shape[0]
    nadir = ref_burden.copy()
    last = ref.copy()
    detect = np.full(n, np.nan)
    threshold = np.full(n, np.nan)  # in force when progression was found
    for k in range(schedule.shape[1]):
        v = schedule[:, k]
        open_ = np.isnan(detect) & (v > ref)  # NaN (missed) compares False
        if not open_.any():
            continue
        b = burden(np.where(open_, v, ref))
        if visit_factor is not None:
            b = b * visit_factor[:, k]
        limit = rule.threshold(nadir)
        hit = open_ & ((b >= limit) | (new_lesion <= v))
        detect = np.where(hit, v, detect)
        threshold = np.where(hit, limit, threshold)
        seen = open_ & ~hit
        nadir = np.where(seen, np.minimum(nadir, b), nadir)
        last = np.where(seen, v, last)
    return detect, last, threshold


def _true_time(burden: Any, detect: np.ndarray, last: np.ndarray, threshold: np.ndarray,
               new_lesion: np.ndarray) -> np.ndarray:
    """True progression time of exact scans: the new lesion, or the last up-crossing of
    the threshold in force before the detecting visit (the burden was below it at the
    previous scan); NaN where no visit found progression."""
    n = detect.size
    crossing = np.full(n, np.inf)
    by_burden = np.flatnonzero(~np.isnan(detect) & (burden(np.nan_to_num(detect)) >= threshold))
    if by_burden.size:
        crossing[by_burden] = _last_crossing(burden, by_burden, last[by_burden],
                                             detect[by_burden], threshold[by_burden])
    return np.where(np.isnan(detect), np.nan,
                    np.minimum(crossing, np.where(new_lesion <= detect, new_lesion, np.inf)))


def _last_crossing(burden: Any, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                   level: np.ndarray) -> np.ndarray:
    """Last time in (lo, hi] at which the burden rises through ``level`` (below at lo,
    at or above at hi): a grid locates the last point below, bisection refines it."""
    grid = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, _GRID)[None, :]
    below = burden(grid, rows) < level[:, None]
    below[:, 0] = True  # the previous scan was below (floating-point safety)
    below[:, -1] = False
    j = _GRID - 1 - np.argmax(below[:, ::-1], axis=1)  # last index below
    a = grid[np.arange(rows.size), j]
    b = grid[np.arange(rows.size), j + 1]
    for _ in range(_BISECT):
        mid = 0.5 * (a + b)
        up = burden(mid, rows) >= level
        a, b = np.where(up, a, mid), np.where(up, mid, b)
    return b


def _observe(latent: pd.DataFrame, baseline: str, ref: np.ndarray, by_infusion: np.ndarray,
             found: tuple[np.ndarray, np.ndarray, np.ndarray], schedule: np.ndarray,
             start: np.ndarray, experimental: np.ndarray, death: np.ndarray,
             censor: np.ndarray, censor_admin: np.ndarray) -> pd.DataFrame:
    """What the data cut records of one reference's progression process."""
    detect, last, true_prog = found
    progression = (detect <= censor) & (detect < death)  # NaN compares False
    died = ~progression & (death <= censor)
    # The last assessment without progression: the rule's own for a progression, else the
    # last visit before death or the cut (the reference scan when there is none).
    usable = (schedule > ref[:, None]) & (schedule <= censor[:, None]) & (
        schedule < death[:, None])
    last_seen = np.max(np.where(usable, schedule, -np.inf), axis=1)
    last_seen = np.where(np.isfinite(last_seen), last_seen, ref)
    lower = np.where(progression, last, last_seen)
    until = np.where(progression, detect, np.inf)
    n_assessments = (usable & (schedule <= until[:, None])).sum(axis=1)
    # Never assessed after the reference scan: censored on day 1 after it (FDA guidance),
    # so that the follow-up is positive on either clock.
    censored_at = np.where(usable.any(axis=1), last_seen,
                           np.minimum(ref + DAY, censor_admin))
    visit_time = np.where(progression, detect, np.where(died, death, censored_at))
    midpoint = np.where(progression, 0.5 * (lower + detect), visit_time)
    true_prog = np.where(true_prog < death, true_prog, np.nan)
    pfs_true = np.fmin(true_prog, death)
    event_type = np.where(progression, "progression", np.where(died, "death", "censored"))
    return pd.DataFrame({
        "id": latent["id"].to_numpy(), "arm": latent["arm"].to_numpy(),
        "entry": latent["entry"].to_numpy(), "baseline": baseline,
        "reference_scan": np.where(by_infusion, "infusion", "enrolment").astype(object),
        "reference_time": ref,
        "treatment_start": np.where(experimental, np.where(start <= censor, start, np.nan),
                                    0.0),
        "censor_time": censor_admin,
        "progression_true": true_prog,
        "pfs_true_time": np.minimum(pfs_true, censor),
        "pfs_true_event": (pfs_true <= censor).astype(np.int64),
        "last_assessment": lower,
        "progression_visit": np.where(progression, detect, np.nan),
        "event_type": event_type.astype(object),
        "pfs_event": (progression | died).astype(np.int64),
        "pfs_lower": np.where(progression, lower, visit_time),
        "pfs_visit_time": visit_time,
        "pfs_midpoint_time": midpoint,
        "n_assessments": n_assessments,
    })


# --------------------------------------------------------------------------- simulator
def simulate_assessments(
    *,
    n: int = 156,
    seed: int,
    allocation: tuple[int, int] = (2, 1),
    arm_labels: tuple[str, str] = ("car-t", "control"),
    sld0_median: float = 60.0,
    sld0_sd: float = 0.5,
    growth_median: float = math.log(2) / 2.0,
    growth_sd: float = 0.6,
    experimental: Therapy = CAR_T,
    control: Therapy = CHEMOTHERAPY,
    new_lesion_rate: float = 0.10,
    death_rate: float = 0.03,
    manufacturing_mean: float = 0.75,
    manufacturing_sd: float = 0.25,
    manufacturing_failure: float = 0.05,
    visit_interval: float = 7 * WEEK,
    visit_jitter: float = WEEK,
    missed_visit_prob: float = 0.1,
    rule: ProgressionRule = ProgressionRule(),
    measurement_cv: float = 0.0,
    accrual: float = 24.0,
    cutoff: float = 30.0,
    dropout_rate: float = 0.0,
    horizon: float = 60.0,
) -> AssessedTrial:
    """Simulate a trial whose progression is found at scheduled tumour assessments.

    Parameters
    ----------
    n : int
        Patients randomized.
    seed : int
        Seed of the :class:`numpy.random.Generator`; the same seed gives the same trial.
    allocation, arm_labels
        As :func:`simulate_trial`: fixed arm sizes, experimental label first.
    sld0_median, sld0_sd : float
        Log-normal burden at randomization (median in mm, sd of its log).
    growth_median, growth_sd : float
        Log-normal untreated growth rate per month (default median: doubling in 2 months).
    experimental, control : Therapy
        Response to each arm's therapy (the experimental one from infusion, the control
        one from randomization).
    new_lesion_rate : float
        Untreated rate of new lesions per month (times the therapy's ``new_lesion_hr``
        once on therapy).
    death_rate : float
        Exponential rate of death per month (a PFS event, dated exactly).
    manufacturing_mean, manufacturing_sd : float
        Gamma wait from randomization to infusion (default ~3 weeks).
    manufacturing_failure : float
        Probability that an experimental patient is never infused (also never infused:
        death or dropout during the wait).
    visit_interval, visit_jitter : float
        Assessments every ``visit_interval`` months from randomization, each within
        ``visit_jitter`` of its due date (default 7 +- 1 weeks: first at 6-8 weeks, then
        every 6-8 weeks).
    missed_visit_prob : float
        Probability that a visit is missed.
    rule : ProgressionRule
    measurement_cv : float
        Standard deviation of the log of measured over true burden, independent per scan
        (reference scans and visits); 0 = exact scans. Sums of diameters re-read by
        another radiologist differ by roughly 10-20%.
    accrual, cutoff : float
        Uniform entry over ``accrual`` months; data cut ``cutoff`` months after the first
        patient in.
    dropout_rate : float
        Exponential loss to follow-up per month (0 = none).
    horizon : float
        Months of latent follow-up simulated (visits and true progression); the largest
        cut :meth:`AssessedTrial.at_cutoff` accepts.

    Returns
    -------
    AssessedTrial

    Raises
    ------
    ValueError
        For non-positive rates or scales, probabilities outside [0, 1], jitter of half a
        visit interval or more, or an impossible design.

    Examples
    --------
    >>> sim = simulate_assessments(n=90, seed=1)
    >>> d = sim.data[sim.data["baseline"] == "enrolment"]
    >>> bool((d["pfs_visit_time"] >= d["pfs_true_time"]).all())
    True
    """
    check_arms(n, allocation, arm_labels)
    for name, value in (("sld0_median", sld0_median), ("growth_median", growth_median),
                        ("manufacturing_mean", manufacturing_mean),
                        ("manufacturing_sd", manufacturing_sd),
                        ("visit_interval", visit_interval)):
        _positive(name, value)
    for name, value in (("sld0_sd", sld0_sd), ("growth_sd", growth_sd),
                        ("new_lesion_rate", new_lesion_rate), ("death_rate", death_rate),
                        ("visit_jitter", visit_jitter), ("accrual", accrual),
                        ("measurement_cv", measurement_cv),
                        ("dropout_rate", dropout_rate)):
        _positive(name, value, allow_zero=True)
    for name, value in (("manufacturing_failure", manufacturing_failure),
                        ("missed_visit_prob", missed_visit_prob)):
        check_probability(name, value)
    if not visit_jitter < visit_interval / 2:
        raise ValueError(f"visit_jitter ({visit_jitter}) must be under half the "
                         f"visit_interval ({visit_interval}) so that visits keep their order")
    for name, therapy in (("experimental", experimental), ("control", control)):
        if not isinstance(therapy, Therapy):
            raise TypeError(f"{name} must be a Therapy, got {type(therapy).__name__}")
    if not isinstance(rule, ProgressionRule):
        raise TypeError(f"rule must be a ProgressionRule, got {type(rule).__name__}")
    _check_horizon(accrual, cutoff, horizon)
    n_exp = _n_experimental(int(n), allocation)
    params = {
        "n": int(n), "seed": seed, "allocation": tuple(allocation),
        "arm_labels": tuple(arm_labels), "sld0_median": float(sld0_median),
        "sld0_sd": float(sld0_sd), "growth_median": float(growth_median),
        "growth_sd": float(growth_sd), "experimental": experimental, "control": control,
        "new_lesion_rate": float(new_lesion_rate), "death_rate": float(death_rate),
        "manufacturing_mean": float(manufacturing_mean),
        "manufacturing_sd": float(manufacturing_sd),
        "manufacturing_failure": float(manufacturing_failure),
        "visit_interval": float(visit_interval), "visit_jitter": float(visit_jitter),
        "missed_visit_prob": float(missed_visit_prob), "rule": rule,
        "measurement_cv": float(measurement_cv),
        "accrual": float(accrual), "cutoff": float(cutoff),
        "dropout_rate": float(dropout_rate), "horizon": float(horizon),
    }

    # Every draw is made for every patient in a fixed order, whatever the arm and the cut:
    # the trial depends on the seed alone and later cuts see the same patients.
    rng = np.random.default_rng(seed)
    is_exp = rng.permutation(np.arange(n) < n_exp)
    u_entry = rng.uniform(0.0, accrual, n)
    sld0 = sld0_median * np.exp(sld0_sd * rng.standard_normal(n))
    growth = growth_median * np.exp(growth_sd * rng.standard_normal(n))
    mean_f = np.where(is_exp, experimental.sensitive_fraction, control.sensitive_fraction)
    conc = np.where(is_exp, experimental.concentration, control.concentration)
    fraction = rng.beta(mean_f * conc, (1.0 - mean_f) * conc)
    shape = (manufacturing_mean / manufacturing_sd) ** 2
    manufacturing = rng.gamma(shape, manufacturing_sd**2 / manufacturing_mean, n)
    failed = rng.uniform(size=n) < manufacturing_failure
    e_lesion, e_lesion_after, e_death, e_dropout = rng.standard_exponential((4, n))
    schedule = visit_schedule(n, interval=visit_interval, jitter=visit_jitter,
                              missed_prob=missed_visit_prob, horizon=horizon, rng=rng)
    # Drawn last and whatever measurement_cv: trials without error are those of earlier
    # versions, and trials differing only in measurement_cv share every other draw.
    scan_noise = rng.standard_normal((n, schedule.shape[1] + 2))

    death = e_death / death_rate if death_rate > 0 else np.full(n, np.inf)
    dropout = e_dropout / dropout_rate if dropout_rate > 0 else np.full(n, np.inf)
    infused = is_exp & ~failed & (manufacturing < np.minimum(death, dropout))
    start = np.where(is_exp, np.where(infused, manufacturing, np.inf), 0.0)
    lesion_hr = np.where(is_exp, experimental.new_lesion_hr, control.new_lesion_hr)
    first, after = _new_lesions(e_lesion, e_lesion_after, start, new_lesion_rate, lesion_hr)
    latent = pd.DataFrame({
        "id": np.arange(1, n + 1),
        "arm": np.where(is_exp, arm_labels[0], arm_labels[1]).astype(object),
        "entry": u_entry - u_entry.min(), "sld0": sld0, "growth": growth,
        "sensitive_fraction": fraction,
        "decay": np.where(is_exp, experimental.decay, control.decay),
        "manufacturing_time": np.where(is_exp, manufacturing, np.nan),
        "therapy_start": start, "new_lesion": first, "new_lesion_after_infusion": after,
        "death": death, "dropout": dropout,
    })
    return assess_patients(latent, schedule, cutoff=float(cutoff), rule=rule,
                           arm_labels=tuple(arm_labels), params=params,
                           measurement_error=(measurement_cv * scan_noise
                                              if measurement_cv > 0 else None))


def _new_lesions(e_first: np.ndarray, e_after: np.ndarray, start: np.ndarray, rate: float,
                 hr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First new lesion after randomization, and first after therapy start, of one Poisson
    process with rate ``rate`` before ``start`` and ``rate * hr`` after (inf = none)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        before = np.where(rate > 0, e_first / rate, np.inf)
        on = rate * hr
        first = np.where(before <= start, before,
                         np.where(on > 0, start + (e_first - rate * start) / on, np.inf))
        # A process restarted at ``start`` (memoryless): the same event if none came
        # before, else an independent one.
        after = np.where(first > start, first,
                         np.where(on > 0, start + e_after / on, np.inf))
    return first, after


def _check_horizon(accrual: float, cutoff: float, horizon: float) -> None:
    _check_cutoff(accrual, cutoff)
    if not cutoff <= horizon:
        raise ValueError(f"cutoff ({cutoff}) must not exceed horizon ({horizon}), the "
                         "latent follow-up simulated; raise horizon")


