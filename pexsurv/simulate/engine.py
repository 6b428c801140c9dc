"""The trial simulator: two-arm trials with delayed treatment start and treatment switching.

The disease follows an illness-death process with piecewise-exponential (PE) hazards:
progression and death before progression on time since randomization, death after
progression on time since progression. Experimental patients start therapy after a
manufacturing delay (and are never treated if their PFS event or censoring comes first);
control patients may cross over to the experimental therapy after progression, with an
exact RPSFT structure (the untreated counterfactual is known for everyone).

All random draws for a patient are shared between the untreated and the treated versions
of that patient (common random numbers), so :attr:`SimulatedTrial.latent` holds the exact
untreated counterfactual beside what happened. Times are in months.

A trial is simulated in two steps: every patient's latent history (uncensored, independent
of the data cut-off) and then what a data cut at ``cutoff`` months after the first patient
in records of it. :meth:`SimulatedTrial.at_cutoff` takes another data cut of the same
patients.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from pexsurv.pe import event_times

__all__ = ["HazardSpec", "SimulatedTrial", "simulate_trial"]

HazardSpec = tuple[Sequence[float], Sequence[float]]
"""A piecewise-constant hazard as ``(cuts, rates)``: ``len(rates) == len(cuts) + 1``,
``rates[j]`` on ``(cuts[j-1], cuts[j]]``."""


class _Piecewise(NamedTuple):
    """Validated piecewise-constant function: ``values[j]`` on ``(cuts[j-1], cuts[j]]``."""

    cuts: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class SimulatedTrial:
    """One simulated trial, observed at one data cut-off.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per patient, as a trial would record it: ``id``, ``arm`` (label),
        ``entry`` (months after first patient in), ``pfs_time``, ``pfs_event``,
        ``os_time``, ``os_event``, ``treatment_start`` (NaN = not treated by the cut-off),
        ``switch_time`` (NaN = no crossover observed), ``censor_time`` (administrative
        potential censoring time, cut-off minus entry) and ``progression_time``
        (NaN = no progression observed).
    params : dict
        Every input of :func:`simulate_trial`, normalised to tuples and floats
        (``cutoff`` is this data cut's).
    latent : pandas.DataFrame
        Per patient, uncensored: ``entry``, untreated counterfactual times
        (``progression0``, ``pfs0``, ``os0``), ``manufacturing_time``, ``treated``
        (the experimental patient is infused had follow-up continued), the actual event
        times (``progression``, ``pfs``, ``os``), the crossover time ``switch`` had
        follow-up continued (NaN = none), the loss-to-follow-up time ``dropout`` (inf =
        none) and this cut's censoring time ``censor`` (administrative or dropout,
        whichever is first). ``progression*`` is NaN when death came first. An
        experimental patient is never treated when the PFS event or dropout comes before
        manufacturing ends; one treated after the cut-off is recorded as not treated.

    Examples
    --------
    >>> from pexsurv.simulate import simulate_ct041_like
    >>> primary = simulate_ct041_like()
    >>> updated = primary.at_cutoff(primary.params["cutoff"] + 5.0)
    >>> int(updated.data["os_event"].sum()) >= int(primary.data["os_event"].sum())
    True
    """

    data: pd.DataFrame
    params: dict[str, Any]
    latent: pd.DataFrame

    def at_cutoff(self, cutoff: float) -> SimulatedTrial:
        """The same patients observed at another data cut-off.

        Parameters
        ----------
        cutoff : float
            Months after the first patient in; must exceed the accrual period.

        Returns
        -------
        SimulatedTrial
            Equal, bit for bit, to :func:`simulate_trial` run with the same inputs and
            this ``cutoff``.
        """
        params = {**self.params, "cutoff": float(cutoff)}
        _check_cutoff(params["accrual"], params["cutoff"])
        data, latent = _observe(self.latent, params["cutoff"], params["arm_labels"][0])
        return SimulatedTrial(data=data, params=params, latent=latent)


def _step(f: _Piecewise, t: np.ndarray) -> np.ndarray:
    """Value of a piecewise-constant function just after times ``t`` (on the interval
    ``(cuts[j-1], cuts[j]]`` that a piece starting at ``t`` lies in)."""
    return f.values[np.searchsorted(f.cuts, t, side="right")]


def _with_effect(base: _Piecewise, effect: _Piecewise, start: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per-patient hazard ``base(t) * effect(t)`` for ``t >= start``, ``base(t)`` before.

    Returns per-patient ``(cuts, rates)`` for :func:`_sample_pe`: the union of both
    functions' breakpoints and the patient's own ``start``.
    """
    n = start.shape[0]
    shared = np.concatenate([base.cuts, effect.cuts])
    cuts = np.sort(np.concatenate([np.broadcast_to(shared, (n, shared.size)),
                                   start[:, None]], axis=1), axis=1)
    left = np.concatenate([np.zeros((n, 1)), cuts], axis=1)  # each piece's left end
    multiplier = np.where(left >= start[:, None], _step(effect, left), 1.0)
    return cuts, _step(base, left) * multiplier


def _accelerate(t: np.ndarray, start: np.ndarray, psi: float) -> np.ndarray:
    """RPSFT map: time after ``start`` is stretched by ``exp(-psi)`` (psi < 0 = benefit)."""
    return np.where(t > start, start + (t - start) * math.exp(-psi), t)


# --------------------------------------------------------------------------- validation
def _piecewise(name: str, cuts: Sequence[float], values: Sequence[float] | float,
               what: str) -> _Piecewise:
    c = np.atleast_1d(np.asarray(cuts, dtype=float))
    v = np.atleast_1d(np.asarray(values, dtype=float))
    if c.ndim != 1 or v.ndim != 1:
        raise ValueError(f"{name}: cuts and {what} must be flat sequences")
    if v.size != c.size + 1:
        raise ValueError(f"{name}: need len({what}) == len(cuts) + 1, got {v.size} "
                         f"{what} for {c.size} cuts")
    if not np.all(np.isfinite(c)) or np.any(c <= 0) or np.any(np.diff(c) <= 0):
        raise ValueError(f"{name}: cuts must be finite, positive and strictly increasing, "
                         f"got {c.tolist()}")
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"{name}: {what} must be finite and > 0, got {v.tolist()}")
    return _Piecewise(c, v)


def _hazard(name: str, spec: HazardSpec) -> _Piecewise:
    try:
        cuts, rates = spec
    except (TypeError, ValueError):
        raise ValueError(f"{name}: give the hazard as (cuts, rates), got {spec!r}") from None
    return _piecewise(name, cuts, rates, "rates")


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and ok):
        raise ValueError(f"{name} must be finite and {'>=' if allow_zero else '>'} 0, "
                         f"got {value}")


def check_arms(n: int, allocation: tuple[int, int], arm_labels: tuple[str, str]) -> None:
    """The randomization inputs every simulator takes: ``n`` patients, a fixed
    ``allocation`` ratio and two distinct ``arm_labels``.

    Examples
    --------
    >>> check_arms(156, (2, 1), ("car-t", "control"))
    >>> check_arms(156, (2, 1), ("a", "a"))
    Traceback (most recent call last):
    ...
    ValueError: arm_labels must be two distinct labels, got ('a', 'a')
    """
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if len(allocation) != 2 or any(not isinstance(a, (int, np.integer)) or a < 1
                                   for a in allocation):
        raise ValueError(f"allocation must be two positive integers, got {allocation!r}")
    if len(arm_labels) != 2 or arm_labels[0] == arm_labels[1]:
        raise ValueError(f"arm_labels must be two distinct labels, got {arm_labels!r}")


def check_probability(name: str, value: float) -> None:
    """``value`` must be a probability (NaN is refused: the comparison is False)."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")


def _check_design(n: int, allocation: tuple[int, int], arm_labels: tuple[str, str],
                  accrual: float, cutoff: float, switch_prob: float,
                  experimental_effect: str) -> None:
    check_arms(n, allocation, arm_labels)
    _check_cutoff(accrual, cutoff)
    check_probability("switch_prob", switch_prob)
    if experimental_effect not in ("hazard", "rpsft"):
        raise ValueError("experimental_effect must be 'hazard' or 'rpsft', got "
                         f"{experimental_effect!r}")


def _check_cutoff(accrual: float, cutoff: float) -> None:
    if not cutoff > accrual:
        raise ValueError(f"cutoff ({cutoff}) must be after the end of accrual ({accrual}) "
                         "so that every patient has follow-up")


# --------------------------------------------------------------------------- simulator
def simulate_trial(
    *,
    n: int,
    progression: HazardSpec,
    death_pre_progression: HazardSpec,
    death_post_progression: HazardSpec,
    seed: int,
    hr_pfs: float | Sequence[float] = 1.0,
    hr_cuts: Sequence[float] = (),
    hr_post_progression: float = 1.0,
    experimental_effect: Literal["hazard", "rpsft"] = "hazard",
    psi: float = 0.0,
    manufacturing_mean: float = 0.75,
    manufacturing_sd: float = 0.25,
    switch_prob: float = 0.0,
    switch_lag_mean: float = 0.5,
    allocation: tuple[int, int] = (2, 1),
    arm_labels: tuple[str, str] = ("car-t", "control"),
    accrual: float = 24.0,
    cutoff: float = 30.0,
    dropout_rate: float = 0.0,
) -> SimulatedTrial:
    """Simulate a randomized trial of a delayed-start therapy with control-arm crossover.

    Parameters
    ----------
    n : int
        Patients randomized.
    progression, death_pre_progression : (cuts, rates)
        Untreated hazards of progression and of death before progression, on time since
        randomization (per month).
    death_post_progression : (cuts, rates)
        Untreated hazard of death on time since progression.
    seed : int
        Seed of the :class:`numpy.random.Generator`; the same seed gives the same trial.
    hr_pfs : float or sequence of float
        Hazard ratio on progression and pre-progression death once treated (from
        ``treatment_start``), constant or piecewise on ``hr_cuts``. Used when
        ``experimental_effect="hazard"``.
    hr_cuts : sequence of float
        Breakpoints of ``hr_pfs`` in time since randomization.
    hr_post_progression : float
        Hazard ratio on post-progression death of treated experimental patients
        (``experimental_effect="hazard"``).
    experimental_effect : {"hazard", "rpsft"}
        ``"hazard"``: the hazard ratios above. ``"rpsft"``: every untreated event time
        ``t`` after treatment start ``M`` becomes ``M + (t - M) * exp(-psi)``.
    psi : float
        Log acceleration factor of the experimental therapy for crossover patients (and
        for the experimental arm under ``"rpsft"``); ``psi < 0`` prolongs survival.
    manufacturing_mean, manufacturing_sd : float
        Gamma-distributed delay from randomization to experimental treatment start.
        Patients whose PFS event or censoring comes first are never treated.
    switch_prob : float
        Probability that a control patient with an observed progression crosses over.
    switch_lag_mean : float
        Mean of the exponential delay from progression to crossover (0 = at progression).
        A crossover happens only if the patient is alive and uncensored by then.
    allocation : (int, int)
        Experimental : control ratio. Arm sizes are fixed (``round(n * a / (a + b))``
        experimental) and the arm labels randomly permuted.
    arm_labels : (str, str)
        Labels of the experimental and the control arm in column ``arm``.
    accrual : float
        Entry times are uniform over ``accrual`` months, the first patient entering at 0.
    cutoff : float
        Data cut-off, months after the first patient in (must exceed ``accrual``).
        :meth:`SimulatedTrial.at_cutoff` gives other cuts of the same patients.
    dropout_rate : float
        Exponential loss-to-follow-up rate per month (0 = none).

    Returns
    -------
    SimulatedTrial
        Observed ``data``, ``params`` and the uncensored ``latent`` times.

    Raises
    ------
    ValueError
        For invalid hazards (rates <= 0, unsorted or non-positive cuts, length mismatch),
        probabilities outside [0, 1] or an impossible design.

    Examples
    --------
    >>> from pexsurv.simulate import simulate_trial
    >>> sim = simulate_trial(n=90, progression=((2.0,), (0.2, 0.4)),
    ...                      death_pre_progression=((), (0.02,)),
    ...                      death_post_progression=((), (0.25,)),
    ...                      hr_pfs=0.5, switch_prob=0.5, psi=-0.4, seed=1)
    >>> sim.data["arm"].value_counts().to_dict()
    {'car-t': 60, 'control': 30}
    >>> bool((sim.data["pfs_time"] <= sim.data["os_time"]).all())
    True
    """
    prog = _hazard("progression", progression)
    death_pre = _hazard("death_pre_progression", death_pre_progression)
    death_post = _hazard("death_post_progression", death_post_progression)
    effect_pfs = _piecewise("hr_pfs", hr_cuts, hr_pfs, "hazard ratios")
    effect_post = _piecewise("hr_post_progression", (), hr_post_progression, "hazard ratios")
    _check_design(n, allocation, arm_labels, accrual, cutoff, switch_prob,
                  experimental_effect)
    _positive("manufacturing_mean", manufacturing_mean)
    _positive("manufacturing_sd", manufacturing_sd)
    _positive("accrual", accrual, allow_zero=True)
    _positive("dropout_rate", dropout_rate, allow_zero=True)
    _positive("switch_lag_mean", switch_lag_mean, allow_zero=True)
    if not math.isfinite(psi):
        raise ValueError(f"psi must be finite, got {psi}")

    params = {
        "n": int(n), "progression": _as_spec(prog), "death_pre_progression": _as_spec(death_pre),
        "death_post_progression": _as_spec(death_post), "seed": seed,
        "hr_pfs": tuple(effect_pfs.values.tolist()), "hr_cuts": tuple(effect_pfs.cuts.tolist()),
        "hr_post_progression": float(hr_post_progression),
        "experimental_effect": experimental_effect, "psi": float(psi),
        "manufacturing_mean": float(manufacturing_mean),
        "manufacturing_sd": float(manufacturing_sd), "switch_prob": float(switch_prob),
        "switch_lag_mean": float(switch_lag_mean), "allocation": tuple(allocation),
        "arm_labels": tuple(arm_labels), "accrual": float(accrual), "cutoff": float(cutoff),
        "dropout_rate": float(dropout_rate),
    }

    # Every draw is made for every patient, in a fixed order, whatever the arm: the
    # stream (and so the trial) depends on the seed alone, and each patient's untreated
    # and treated versions share their draws.
    rng = np.random.default_rng(seed)
    experimental = rng.permutation(np.arange(n) < _n_experimental(n, allocation))
    u_entry = rng.uniform(0.0, accrual, n)
    entry = u_entry - u_entry.min()
    e_dropout = rng.standard_exponential(n)
    e_prog, e_death_pre, e_death_post = rng.standard_exponential((3, n))
    shape = (manufacturing_mean / manufacturing_sd) ** 2
    manufacturing = rng.gamma(shape, manufacturing_sd**2 / manufacturing_mean, n)
    wants_switch = rng.uniform(size=n) < switch_prob
    lag = rng.standard_exponential(n) * switch_lag_mean

    dropout = e_dropout / dropout_rate if dropout_rate > 0 else np.full(n, np.inf)

    # Untreated counterfactual (the control process).
    untreated = _illness_death(event_times(e_prog, prog.cuts, prog.values),
                               event_times(e_death_pre, death_pre.cuts, death_pre.values),
                               event_times(e_death_post, death_post.cuts, death_post.values))
    prog0, pfs0, os0 = untreated

    # Experimental arm: treated only if manufacturing ends before the PFS event and
    # dropout. The data cut-off does not decide it (a patient not yet infused at one cut
    # may be infused by the next), so the latent history is the same at every cut.
    treated = experimental & (manufacturing <= np.minimum(pfs0, dropout))
    if experimental_effect == "hazard":
        on_treatment = _illness_death(
            event_times(e_prog, *_with_effect(prog, effect_pfs, manufacturing)),
            event_times(e_death_pre, *_with_effect(death_pre, effect_pfs, manufacturing)),
            event_times(e_death_post, death_post.cuts, death_post.values * effect_post.values),
        )
    else:
        on_treatment = tuple(_accelerate(t, manufacturing, psi) for t in untreated)
    prog_t, pfs_t, os_t = (np.where(treated, t1, t0) for t1, t0 in zip(on_treatment, untreated))

    # Control arm crossover after progression, if still alive. The latent switch ignores
    # censoring; it is observed (and only then recorded) if it happens before censoring,
    # which implies an observed progression.
    switch = np.where(~experimental & wants_switch, prog0 + lag, np.nan)
    switch = np.where(switch < os0, switch, np.nan)
    os_t = np.where(np.isnan(switch), os_t, _accelerate(os0, switch, psi))

    latent = pd.DataFrame({
        "id": np.arange(1, n + 1),
        "arm": np.where(experimental, arm_labels[0], arm_labels[1]).astype(object),
        "entry": entry, "progression0": prog0, "pfs0": pfs0, "os0": os0,
        "manufacturing_time": np.where(experimental, manufacturing, np.nan),
        "treated": treated, "progression": prog_t, "pfs": pfs_t, "os": os_t,
        "switch": switch, "dropout": dropout,
    })
    data, latent = _observe(latent, float(cutoff), arm_labels[0])
    return SimulatedTrial(data=data, params=params, latent=latent)


def _observe(latent: pd.DataFrame, cutoff: float, experimental_label: str
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a data cut at ``cutoff`` records of the latent histories; the latent frame is
    returned with this cut's ``censor`` column."""
    experimental = (latent["arm"] == experimental_label).to_numpy()
    admin = cutoff - latent["entry"].to_numpy()
    censor = np.minimum(admin, latent["dropout"].to_numpy())
    pfs, os_, prog = (latent[k].to_numpy() for k in ("pfs", "os", "progression"))
    manufacturing, switch = latent["manufacturing_time"].to_numpy(), latent["switch"].to_numpy()
    started = latent["treated"].to_numpy() & (manufacturing <= censor)
    data = pd.DataFrame({
        "id": latent["id"], "arm": latent["arm"], "entry": latent["entry"],
        "pfs_time": np.minimum(pfs, censor),
        "pfs_event": (pfs <= censor).astype(np.int64),
        "os_time": np.minimum(os_, censor),
        "os_event": (os_ <= censor).astype(np.int64),
        "treatment_start": np.where(experimental, np.where(started, manufacturing, np.nan), 0.0),
        "switch_time": np.where(switch < censor, switch, np.nan),
        "censor_time": admin,
        "progression_time": np.where(prog <= censor, prog, np.nan),
    })
    return data, latent.assign(censor=censor)


def _n_experimental(n: int, allocation: tuple[int, int]) -> int:
    """Experimental arm size: ``n * a / (a + b)`` rounded half up; both arms non-empty."""
    a, b = allocation
    n_exp = int(math.floor(n * a / (a + b) + 0.5))
    if not 0 < n_exp < n:
        raise ValueError(f"allocation {allocation} leaves an empty arm with n={n}")
    return n_exp


def _illness_death(progression: np.ndarray, death_pre: np.ndarray, post: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Progression (NaN if death came first), PFS and OS from the three latent times."""
    progressed = progression < death_pre
    return (np.where(progressed, progression, np.nan),
            np.minimum(progression, death_pre),
            np.where(progressed, progression + post, death_pre))


def _as_spec(f: _Piecewise) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return tuple(f.cuts.tolist()), tuple(f.values.tolist())
