r"""Counterfactual untreated times of the RPSFT model, recensored as in R's ``rpsftm``.

The rank-preserving structural failure time model (Robins and Tsiatis [1]_) splits each
subject's observed follow-up ``T`` into time on experimental therapy ``T_on`` and time off
it ``T_off`` and relates it to the counterfactual time ``U`` the subject would have had
without the therapy:

.. math:: U_i(\psi) = T_{\mathrm{off},i} + e^{\psi m_i} \, T_{\mathrm{on},i}

with ``m_i`` an optional per-subject ``treat_modifier`` (1 by default). ``exp(psi)`` is the
*acceleration factor*: one unit of time on therapy uses up ``exp(psi)`` units of untreated
lifetime, so ``psi < 0`` (``exp(psi) < 1``) means the therapy prolongs time to event, by the
factor ``exp(-psi)`` over the time on it.

Censoring is informative on the ``U`` scale (a subject censored at ``C`` after time on
therapy has ``U`` censored at a time that depends on the therapy received). Recensoring
replaces the potential censoring time by ``C* = min(C, C exp(psi m))``, which does not depend
on the therapy received, and censors ``U`` at ``C*`` whenever ``U > C*``. With
``autoswitch=True`` an arm in which nobody deviated from randomized therapy (the whole
experimental arm always on it, or the whole control arm never on it) is not recensored.
These rules follow R's ``rpsftm`` [2]_ (ideas only, no code).

References
----------
.. [1] Robins JM, Tsiatis AA. Correcting for non-compliance in randomized trials using
   rank preserving structural failure time models. Commun Stat Theory Methods
   1991;20:2609-2631.
.. [2] Allison A, White IR, Bond S. rpsftm: an R package for rank preserving structural
   failure time models. R J 2017;9:342-353.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pexsurv._names import EXPERIMENTAL, PSI, REFERENCE
from pexsurv.data import TrialData, TrialDataError, require_exact_times

__all__ = ["AccelerationFactor", "Counterfactual", "counterfactual_data", "counterfactual_times"]


def _exposure(data: TrialData) -> tuple[np.ndarray, np.ndarray]:
    """Time on and off experimental therapy within each subject's follow-up."""
    start, stop = data.on_experimental_from()
    started = ~np.isnan(start)
    begin = np.where(started, start, 0.0)
    on = np.where(started, np.clip(np.minimum(stop, data.time) - begin, 0.0, None), 0.0)
    return on, data.time - on


def _modifier(treat_modifier: Any, n: int) -> np.ndarray:
    m = np.asarray(treat_modifier, dtype=float)
    if m.ndim == 0:
        m = np.full(n, float(m))
    if m.shape != (n,) or not np.isfinite(m).all():
        raise ValueError(
            f"treat_modifier must be a finite scalar or one value per subject ({n}), "
            f"got shape {m.shape}"
        )
    return m


def _recensored_arms(data: TrialData, time_on: np.ndarray, autoswitch: bool) -> tuple[int, ...]:
    """Arm codes whose counterfactual times are recensored.

    With ``autoswitch`` an arm is skipped when everyone in it followed the randomized
    therapy exactly (experimental: always on; control: never on), as in R's ``rpsftm``.
    """
    if not autoswitch:
        return (REFERENCE, EXPERIMENTAL)
    exp = data.arm == EXPERIMENTAL
    compliant = {EXPERIMENTAL: bool(np.all(time_on[exp] == data.time[exp])),
                 REFERENCE: bool(np.all(time_on[~exp] == 0.0))}
    return tuple(code for code in (REFERENCE, EXPERIMENTAL) if not compliant[code])


@dataclass(frozen=True, eq=False)
class Counterfactual:
    """The counterfactual map of one data set under one set of options, evaluated for many
    psi at a time (build it with :meth:`from_data`).

    Attributes
    ----------
    time_on, time_off : numpy.ndarray
        Time on and off experimental therapy per subject.
    event : numpy.ndarray
        Observed event indicator (float).
    censor : numpy.ndarray
        Potential censoring time used for recensoring; inf where a subject is not recensored.
    modifier : numpy.ndarray
        ``treat_modifier`` per subject.
    recensored_arms : tuple of int
        Arm codes that are recensored.
    """

    time_on: np.ndarray
    time_off: np.ndarray
    event: np.ndarray
    censor: np.ndarray
    modifier: np.ndarray
    recensored_arms: tuple[int, ...]

    @classmethod
    def from_data(cls, data: TrialData, *, recensor: bool = True, autoswitch: bool = True,
                  treat_modifier: Any = 1.0) -> Counterfactual:
        """The map for ``data`` (options as in :func:`counterfactual_times`)."""
        if not isinstance(data, TrialData):
            raise TypeError(f"data must be a TrialData, got {type(data).__name__}")
        # Every RPSFT-family method (g-estimation, Bayesian RPSFT, IPE, TSE) starts here.
        require_exact_times(data, "counterfactual survival times (RPSFT, IPE, TSE)")
        if recensor and data.censor_time is None:
            raise TrialDataError(
                "recensor=True needs each subject's potential (administrative) censoring "
                "time: pass censor_time='<column>' to TrialData.from_dataframe, or set "
                "recensor=False (counterfactual times then keep informative censoring)"
            )
        time_on, time_off = _exposure(data)
        arms = _recensored_arms(data, time_on, autoswitch) if recensor else ()
        censor = (np.where(np.isin(data.arm, arms), data.censor_time, np.inf) if arms
                  else np.full(data.n, np.inf))
        return cls(time_on=time_on, time_off=time_off, event=data.event.astype(float),
                   censor=censor, modifier=_modifier(treat_modifier, data.n),
                   recensored_arms=arms)

    def _acceleration(self, psis: np.ndarray) -> np.ndarray:
        if np.all(self.modifier == self.modifier[0]):
            # The usual common modifier: one exp per psi instead of one per subject.
            return np.exp(psis * self.modifier[0])[:, None]
        return np.exp(np.multiply.outer(psis, self.modifier))

    def times(self, psis: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``U*`` with shape ``(len(psis), n)`` and where the event survives recensoring
        (None without recensoring)."""
        acceleration = self._acceleration(psis)
        u = acceleration * self.time_on
        u += self.time_off
        if not self.recensored_arms:
            return u, None
        # C * min(1, e^psi) is min(C, C e^psi) bit for bit. R's rule: censor only if C* < U.
        c_star = self.censor * np.minimum(1.0, acceleration)
        kept = c_star >= u
        np.minimum(u, c_star, out=u)
        return u, kept

    def outcomes(self, psis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Recensored counterfactual times and events, shape ``(len(psis), n)``."""
        u, kept = self.times(psis)
        event = np.broadcast_to(self.event, u.shape) if kept is None else self.event * kept
        return u, event

    def reordered(self, order: np.ndarray) -> Counterfactual:
        """The same map with the subjects in ``order``."""
        per_subject = ("time_on", "time_off", "event", "censor", "modifier")
        return dataclasses.replace(self, **{f: getattr(self, f)[order] for f in per_subject})


def counterfactual_times(data: TrialData, psi: float, *, recensor: bool = True,
                         autoswitch: bool = True,
                         treat_modifier: Any = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Counterfactual untreated times ``U(psi)`` and events, recensored as in R's rpsftm.

    Parameters
    ----------
    data : TrialData
        Exposure comes from :meth:`TrialData.on_experimental_from`.
    psi : float
        Log acceleration factor.
    recensor : bool
        Censor ``U`` at ``C* = min(C, C exp(psi m))`` (needs ``data.censor_time``).
    autoswitch : bool
        Do not recensor an arm whose subjects all followed their randomized therapy.
    treat_modifier : float or array_like
        ``m``: multiplies psi, per subject or for everyone.

    Returns
    -------
    time, event : numpy.ndarray
        ``U*`` and its event indicator (0 where recensored), one per subject.

    Examples
    --------
    A control patient who switched after 1 of 2 years, a control patient censored at the
    cut-off (C = 4) and two experimental patients always on therapy:

    >>> import pandas as pd
    >>> from pexsurv import TrialData
    >>> df = pd.DataFrame({"t": [2.0, 4.0, 3.0, 5.0], "e": [1, 0, 1, 1], "arm": [0, 0, 1, 1],
    ...                    "switch": [1.0, None, None, None], "cens": [6.0, 4.0, 6.0, 6.0]})
    >>> data = TrialData.from_dataframe(df, time="t", event="e", arm="arm",
    ...                                 switch_time="switch", censor_time="cens")
    >>> u, e = counterfactual_times(data, -0.5)
    >>> u.round(3).tolist(), e.tolist()
    ([1.607, 2.426, 1.82, 3.033], [1, 0, 1, 1])

    The switcher's U is 1 + 1 * exp(-0.5); the non-switcher is recensored at
    4 * exp(-0.5); the experimental arm, fully compliant, is not recensored (autoswitch).
    """
    cf = Counterfactual.from_data(data, recensor=recensor, autoswitch=autoswitch,
                                  treat_modifier=treat_modifier)
    u, e = cf.outcomes(np.array([float(psi)]))
    return u[0], e[0].astype(np.int8)


def counterfactual_data(data: TrialData, psi: float, *, recensor: bool = True,
                        autoswitch: bool = True, treat_modifier: Any = 1.0) -> TrialData:
    """Experimental arm as observed, control arm as it would have been without switching.

    Examples
    --------
    >>> from pexsurv import datasets
    >>> cf = counterfactual_data(datasets.ct041_like(endpoint="os"), -0.5)
    >>> cf.population
    'itt>rpsft_counterfactual'
    """
    u, e = counterfactual_times(data, psi, recensor=recensor, autoswitch=autoswitch,
                                treat_modifier=treat_modifier)
    exp = data.arm == EXPERIMENTAL
    time = np.where(exp, data.time, u)
    event = np.where(exp, data.event, e).astype(np.int8)
    keep = time > 0  # a control subject recensored at time 0 has no time at risk
    return data.derive(keep, time=time, event=event, switch_time=None, treatment_start=None,
                       censor_time=None, population=f"{data.population}>rpsft_counterfactual",
                       notes=data.notes + (f"control arm counterfactual untreated times at "
                                           f"psi={psi:.4g}",))


class AccelerationFactor:
    """``exp(psi)`` and its interval, and the summary table and JSON form, for every
    estimate of the structural model's psi (g-estimation, IPE, TSE): the untreated lifetime
    used up per unit of time on therapy.

    Subclasses are dataclasses with the fields ``psi``, ``ci`` (lower, upper), ``z_itt``,
    ``settings`` and the hazard-ratio dicts named in ``HR_FIELDS`` (None where not
    computed); :meth:`labels` adds their own identifying scalars.
    """

    psi: float
    ci: tuple[float, float]
    z_itt: float
    settings: dict[str, Any]
    HR_FIELDS: ClassVar[tuple[str, ...]] = ()

    @property
    def acceleration(self) -> float:
        """``exp(psi)`` (< 1: the therapy prolongs survival)."""
        return math.exp(self.psi)

    @property
    def acceleration_ci(self) -> tuple[float, float]:
        """``exp`` of the limits of psi's interval."""
        return math.exp(self.ci[0]), math.exp(self.ci[1])

    def labels(self) -> dict[str, Any]:
        """Scalars naming the method and its interval (in the summary's attrs and
        :meth:`to_dict`)."""
        return {}

    def summary(self) -> pd.DataFrame:
        """Estimates with their limits, one row per quantity: psi, the acceleration factor
        and each hazard ratio computed; settings and :meth:`labels` in ``attrs``."""
        rows = {PSI: (self.psi, *self.ci),
                "acceleration": (self.acceleration, *self.acceleration_ci)}
        for name in self.HR_FIELDS:
            d = getattr(self, name)
            if d is not None:
                rows[name] = (d["hr"], d["lower"], d["upper"])
        out = pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "lower", "upper"])
        out.index.name = "quantity"
        out.attrs.update(self.settings, **self.labels(), z_itt=self.z_itt)
        return out

    @property
    def hr(self) -> dict[str, float]:
        """The headline adjusted HR (``hr``, ``lower``, ``upper``, ``log_hr``, ``se``)."""
        raise NotImplementedError

    def repr_parts(self) -> tuple[str, str, str]:
        """Text the repr puts before psi, after psi's interval limits and at the end."""
        return "", "", ""

    def __repr__(self) -> str:
        head, ci_note, tail = self.repr_parts()
        level = 100 * (1 - self.settings["alpha"])
        h = self.hr
        return (f"{type(self).__name__}({head}psi={self.psi:.6f} [{level:g}% CI "
                f"{self.ci[0]:.6f}, {self.ci[1]:.6f}{ci_note}], "
                f"acceleration={self.acceleration:.4f}, hr_adjusted={h['hr']:.4f} "
                f"({h['lower']:.4f}-{h['upper']:.4f}){tail})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready scalars and settings (per-subject and per-replicate tables left out)."""
        hrs = {name: None if getattr(self, name) is None
               else {k: float(v) for k, v in getattr(self, name).items()}
               for name in self.HR_FIELDS}
        return {**self.labels(), "psi": self.psi, "ci": list(self.ci),
                "acceleration": self.acceleration,
                "acceleration_ci": list(self.acceleration_ci), **hrs, "z_itt": self.z_itt,
                "settings": dict(self.settings)}
