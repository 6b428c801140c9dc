"""Simulate two-arm trials with delayed treatment start and treatment switching.

The disease follows an illness-death process with piecewise-exponential (PE) hazards:
progression and death before progression on time since randomization, death after
progression on time since progression. Experimental patients start therapy after a
manufacturing delay (and are never treated if their PFS event or censoring comes first);
control patients may cross over to the experimental therapy after progression, with an
exact RPSFT structure (the untreated counterfactual is known for everyone).

All random draws for a patient are shared between the untreated and the treated versions
of that patient (common random numbers), so :attr:`SimulatedTrial.latent` holds the exact
untreated counterfactual beside what happened. Times are in months.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from pexsurv.data import TrialData

__all__ = [
    "CT041_LIKE_PARAMS",
    "CT041_TARGETS",
    "SCENARIOS",
    "SimulatedTrial",
    "ct041_like",
    "hazard_ratio",
    "simulate_rpsft",
    "simulate_trial",
    "summarize_trial",
]

HazardSpec = tuple[Sequence[float], Sequence[float]]
"""A piecewise-constant hazard as ``(cuts, rates)``: ``len(rates) == len(cuts) + 1``."""


class _Piecewise(NamedTuple):
    """Validated piecewise-constant function: ``values[j]`` on ``[cuts[j-1], cuts[j])``."""

    cuts: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class SimulatedTrial:
    """One simulated trial.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per patient, as a trial would record it: ``id``, ``arm`` (label),
        ``entry`` (months after first patient in), ``pfs_time``, ``pfs_event``,
        ``os_time``, ``os_event``, ``treatment_start`` (NaN = never treated),
        ``switch_time`` (NaN = no crossover observed), ``censor_time`` (administrative
        potential censoring time, cut-off minus entry) and ``progression_time``
        (NaN = no progression observed).
    params : dict
        Every input of :func:`simulate_trial`, normalised to tuples and floats.
    latent : pandas.DataFrame
        Per patient, uncensored: untreated counterfactual times (``progression0``,
        ``pfs0``, ``os0``), ``manufacturing_time``, the actual event times
        (``progression``, ``pfs``, ``os``), the crossover time ``switch`` had follow-up
        continued (NaN = none) and the censoring time ``censor`` (administrative or
        dropout, whichever is first). ``progression*`` is NaN when death came first.
        Only a patient's PFS event or censoring before manufacturing ends decides that
        an experimental patient is never treated.
    """

    data: pd.DataFrame
    params: dict[str, Any]
    latent: pd.DataFrame


# --------------------------------------------------------------------------- sampler
def _sample_pe(e: np.ndarray, cuts: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Event times of piecewise-constant hazards by inverting the cumulative hazard.

    Parameters
    ----------
    e : numpy.ndarray, shape (n,)
        Standard exponential draws, one per patient: the time is ``H^{-1}(e)``.
    cuts : numpy.ndarray, shape (k,) or (n, k)
        Breakpoints, sorted within each row (shared when 1-D, per patient when 2-D).
        Repeated breakpoints (zero-width pieces) are allowed.
    rates : numpy.ndarray, shape (k + 1,) or (n, k + 1)
        Hazard on ``[0, cuts[0])``, ``[cuts[0], cuts[1])``, ..., ``[cuts[-1], inf)``;
        all > 0.

    Returns
    -------
    numpy.ndarray, shape (n,)
    """
    n = e.shape[0]
    cuts = np.broadcast_to(cuts, (n, np.shape(cuts)[-1]))
    rates = np.broadcast_to(rates, (n, np.shape(rates)[-1]))
    starts = np.concatenate([np.zeros((n, 1)), cuts], axis=1)
    widths = np.diff(starts, axis=1)
    # Cumulative hazard at the start of each piece.
    h_start = np.concatenate([np.zeros((n, 1)), np.cumsum(rates[:, :-1] * widths, axis=1)],
                             axis=1)
    piece = (h_start <= e[:, None]).sum(axis=1) - 1
    rows = np.arange(n)
    return starts[rows, piece] + (e - h_start[rows, piece]) / rates[rows, piece]


def _step(f: _Piecewise, t: np.ndarray) -> np.ndarray:
    """Value of a piecewise-constant function at times ``t`` (right-continuous)."""
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


def _check_design(n: int, allocation: tuple[int, int], arm_labels: tuple[str, str],
                  accrual: float, cutoff: float, switch_prob: float,
                  experimental_effect: str) -> None:
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if len(allocation) != 2 or any(not isinstance(a, (int, np.integer)) or a < 1
                                   for a in allocation):
        raise ValueError(f"allocation must be two positive integers, got {allocation!r}")
    if len(arm_labels) != 2 or arm_labels[0] == arm_labels[1]:
        raise ValueError(f"arm_labels must be two distinct labels, got {arm_labels!r}")
    if not cutoff > accrual:
        raise ValueError(f"cutoff ({cutoff}) must be after the end of accrual ({accrual}) "
                         "so that every patient has follow-up")
    if not 0.0 <= switch_prob <= 1.0:
        raise ValueError(f"switch_prob must be a probability in [0, 1], got {switch_prob}")
    if experimental_effect not in ("hazard", "rpsft"):
        raise ValueError("experimental_effect must be 'hazard' or 'rpsft', got "
                         f"{experimental_effect!r}")


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

    admin = cutoff - entry
    dropout = e_dropout / dropout_rate if dropout_rate > 0 else np.full(n, np.inf)
    censor = np.minimum(admin, dropout)

    # Untreated counterfactual (the control process).
    untreated = _illness_death(_sample_pe(e_prog, prog.cuts, prog.values),
                               _sample_pe(e_death_pre, death_pre.cuts, death_pre.values),
                               _sample_pe(e_death_post, death_post.cuts, death_post.values))
    prog0, pfs0, os0 = untreated

    # Experimental arm: treated only if manufacturing ends before PFS event and censoring.
    treated = experimental & (manufacturing <= np.minimum(pfs0, censor))
    if experimental_effect == "hazard":
        on_treatment = _illness_death(
            _sample_pe(e_prog, *_with_effect(prog, effect_pfs, manufacturing)),
            _sample_pe(e_death_pre, *_with_effect(death_pre, effect_pfs, manufacturing)),
            _sample_pe(e_death_post, death_post.cuts, death_post.values * effect_post.values),
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

    data = pd.DataFrame({
        "id": np.arange(1, n + 1),
        "arm": np.where(experimental, arm_labels[0], arm_labels[1]).astype(object),
        "entry": entry,
        "pfs_time": np.minimum(pfs_t, censor),
        "pfs_event": (pfs_t <= censor).astype(np.int64),
        "os_time": np.minimum(os_t, censor),
        "os_event": (os_t <= censor).astype(np.int64),
        "treatment_start": np.where(experimental, np.where(treated, manufacturing, np.nan), 0.0),
        "switch_time": np.where(switch < censor, switch, np.nan),
        "censor_time": admin,
        "progression_time": np.where(prog_t <= censor, prog_t, np.nan),
    })
    latent = pd.DataFrame({
        "id": data["id"], "arm": data["arm"],
        "progression0": prog0, "pfs0": pfs0, "os0": os0,
        "manufacturing_time": np.where(experimental, manufacturing, np.nan),
        "progression": prog_t, "pfs": pfs_t, "os": os_t, "switch": switch, "censor": censor,
    })
    return SimulatedTrial(data=data, params=params, latent=latent)


def simulate_rpsft(n: int, *, seed: int, psi: float = -0.5,
                   switching: bool = True) -> TrialData:
    """A trial with exact RPSFT structure and prognosis-driven switching.

    1:1 randomisation; untreated time ``U ~ Exp(mean 2)``; experimental ``T = U exp(-psi)``;
    administrative censoring ``C ~ Uniform(2, 5)``. A control patient switches with
    probability ``min(U / 3, 0.9)`` at a uniform 0.2-0.8 fraction of ``U`` and then lives
    on treatment time: switch times carry prognosis (the sickest rarely switch), the case
    where likelihoods that condition on switching are biased. Because ``U`` is exponential
    the no-switch hazard ratio is exactly ``exp(psi)``. Used by the tests, the RPSFT
    benchmark and the validation study.

    Parameters
    ----------
    n : int
    seed : int
    psi : float
        True log acceleration factor (< 0: treatment extends survival).
    switching : bool
        ``False`` gives the same trial without switching (the no-switch truth).

    Returns
    -------
    TrialData
        With ``switch_time`` (observed switches only) and ``censor_time``; arm 0 = control.

    Examples
    --------
    >>> data = simulate_rpsft(200, seed=1)
    >>> data.n, int(np.isfinite(data.switch_time).sum()) > 0
    (200, True)
    """
    rng = np.random.default_rng(seed)
    arm = rng.permutation(np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)])
    u = rng.exponential(2.0, n)
    c = rng.uniform(2.0, 5.0, n)
    switch_frac = rng.uniform(0.2, 0.8, n)
    switches = (arm == 0) & (rng.uniform(size=n) < np.clip(u / 3.0, 0, 0.9)) & switching
    s = switch_frac * u
    t = np.where(arm == 1, u * np.exp(-psi), np.where(switches, s + (u - s) * np.exp(-psi), u))
    time = np.minimum(t, c)
    frame = pd.DataFrame({"id": np.arange(n), "arm": arm, "time": time,
                          "event": (t <= c).astype(int),
                          "switch_time": np.where(switches & (s < time), s, np.nan),
                          "censor_time": c})
    return TrialData.from_dataframe(frame, time="time", event="event", arm="arm", reference=0,
                                    id="id", switch_time="switch_time",
                                    censor_time="censor_time")


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


# --------------------------------------------------------------------------- summaries
def hazard_ratio(data: pd.DataFrame, endpoint: Literal["os", "pfs"], *,
                 experimental: str, treated_only: bool = False) -> tuple[float, float]:
    """Cox hazard ratio, experimental vs control (lifelines, Efron ties).

    Parameters
    ----------
    data : pandas.DataFrame
        :attr:`SimulatedTrial.data`, or several of them stacked (replicates are
        exchangeable, so the pooled fit estimates the scenario's large-sample HR).
    endpoint : {"os", "pfs"}
    experimental : str
        Label of the experimental arm.
    treated_only : bool
        Modified ITT: drop patients who never started their assigned therapy.

    Returns
    -------
    hr, se_log_hr : float
    """
    from lifelines import CoxPHFitter  # heavy import, only needed for summaries

    keep = data["treatment_start"].notna() if treated_only else np.ones(len(data), bool)
    frame = pd.DataFrame({
        "time": data.loc[keep, f"{endpoint}_time"].to_numpy(),
        "event": data.loc[keep, f"{endpoint}_event"].to_numpy(),
        "experimental": (data.loc[keep, "arm"] == experimental).to_numpy(dtype=float),
    })
    fit = CoxPHFitter().fit(frame, "time", "event")
    return (float(fit.hazard_ratios_["experimental"]),
            float(fit.standard_errors_["experimental"]))


def summarize_trial(sim: SimulatedTrial, *, hazard_ratios: bool = True) -> dict[str, float]:
    """Counts, Kaplan-Meier medians and Cox hazard ratios of one simulated trial.

    Keys match :data:`CT041_TARGETS`; ``*_mitt`` drops never-treated patients,
    ``os_followup_*`` are reverse Kaplan-Meier median follow-up times.

    Parameters
    ----------
    sim : SimulatedTrial
    hazard_ratios : bool
        Also fit the four Cox models (the slow part, about 0.15 s).

    Returns
    -------
    dict of str to float
    """
    from pexsurv.km import km_median

    d = sim.data
    experimental = sim.params["arm_labels"][0]
    exp = (d["arm"] == experimental).to_numpy()
    treated = d["treatment_start"].notna().to_numpy()
    out = {"never_treated": float((exp & ~treated).sum()),
           "switched": float(d["switch_time"].notna().sum())}
    for endpoint in ("pfs", "os"):
        t = d[f"{endpoint}_time"].to_numpy()
        e = d[f"{endpoint}_event"].to_numpy()
        out[f"{endpoint}_median_experimental"] = km_median(t[exp], e[exp])
        out[f"{endpoint}_median_control"] = km_median(t[~exp], e[~exp])
        out[f"{endpoint}_median_experimental_mitt"] = km_median(t[exp & treated],
                                                                e[exp & treated])
        if hazard_ratios:
            out[f"{endpoint}_hr_itt"] = hazard_ratio(d, endpoint, experimental=experimental)[0]
            out[f"{endpoint}_hr_mitt"] = hazard_ratio(d, endpoint, experimental=experimental,
                                                      treated_only=True)[0]
    t, e = d["os_time"].to_numpy(), 1 - d["os_event"].to_numpy()
    out["os_followup_experimental"] = km_median(t[exp], e[exp])
    out["os_followup_control"] = km_median(t[~exp], e[~exp])
    return out


# --------------------------------------------------------------------------- scenarios
CT041_TARGETS: Mapping[str, float] = MappingProxyType({
    "never_treated": 16.0,
    "switched": 20.0,
    "pfs_median_experimental": 3.25,
    "pfs_median_control": 1.77,
    "pfs_median_experimental_mitt": 4.37,
    "pfs_hr_itt": 0.366,
    "pfs_hr_mitt": 0.304,
    "os_median_experimental": 7.92,
    "os_median_control": 5.49,
    "os_median_experimental_mitt": 8.61,
    "os_hr_itt": 0.693,
    "os_hr_mitt": 0.601,
    "os_followup_experimental": 14.42,
    "os_followup_control": 11.33,
})
"""Published CT041-ST-01 results (Qi et al., Lancet 2025; ASCO 2025): 104 vs 52
randomized, counts of patients never infused and of control patients who crossed over,
Kaplan-Meier medians (months), Cox hazard ratios and reverse Kaplan-Meier median OS
follow-up. ``*_mitt``: patients who started their assigned therapy."""

CT041_LIKE_PARAMS: Mapping[str, Any] = MappingProxyType({
    "n": 156,
    "allocation": (2, 1),
    "arm_labels": ("car-t", "control"),
    "progression": ((1.0, 3.0), (0.1682, 0.7661, 0.5449)),
    "death_pre_progression": ((), (0.01,)),
    "death_post_progression": ((3.0,), (0.2326, 0.2034)),
    "hr_pfs": (0.3238, 0.272),
    "hr_cuts": (3.0,),
    "hr_post_progression": 1.084,
    "experimental_effect": "hazard",
    "psi": -0.51,
    "manufacturing_mean": 0.8095,
    "manufacturing_sd": 0.15,
    "switch_prob": 0.4908,
    "switch_lag_mean": 1.0,
    "accrual": 28.0,
    "cutoff": 30.0,
    "dropout_rate": 0.01,
})


def ct041_like(seed: int = 279) -> SimulatedTrial:
    """A synthetic trial shaped like CT041-ST-01 (CAR-T vs physician's choice, gastric
    cancer): :func:`simulate_trial` with :data:`CT041_LIKE_PARAMS`.

    Calibrated so that, over replicates, the counts, medians and hazard ratios sit near
    :data:`CT041_TARGETS` (see ``benchmarks/calibrate_ct041.md``). The data are
    SYNTHETIC: no patient-level data of the trial were used.

    Examples
    --------
    >>> from pexsurv.simulate import ct041_like
    >>> sim = ct041_like()
    >>> sim.data["arm"].value_counts().to_dict()
    {'car-t': 104, 'control': 52}
    """
    return simulate_trial(**CT041_LIKE_PARAMS, seed=seed)


SCENARIOS: Mapping[str, Callable[..., SimulatedTrial]] = MappingProxyType(
    {"ct041_like": ct041_like})
"""Named scenarios for the command line: name -> function of ``seed``."""
