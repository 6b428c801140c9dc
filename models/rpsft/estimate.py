"""The result of an AFT-based switching adjustment (IPE, two-stage estimation) and the
bootstrap both share.

The fields follow :class:`~pexsurv.models.rpsft.gestimation.GEstimate` (``psi``, ``ci``,
``counterfactual``, ``hr_itt``, ``hr_adjusted``, ``hr_adjusted_itt_p``, ``z_itt``,
``settings``) so that the methods can be tabulated side by side; the search grid of
g-estimation is replaced by the method's own trace (``details``) and an optional bootstrap.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pexsurv._names import EXPERIMENTAL, PSI
from pexsurv.cox import cox_hr
from pexsurv.data import TrialData
from pexsurv.models.rpsft.counterfactual import AccelerationFactor, Counterfactual

__all__ = ["ASSUMPTIONS", "AdjustedEstimate", "SwitchEstimate", "TrialArrays", "boot_hr",
           "bootstrap", "percentile_limits", "resampling_groups"]

_BOOT_COLUMNS = (PSI, "log_hr")

# What each method answers and what it rests on, for comparison tables (the wording of
# pexsurv.workflows.compare's rows; NICE DSU TSD 16).
ASSUMPTIONS: dict[str, tuple[str, str]] = {
    "IPE": ("effect had control patients not switched",
            "randomization, a common treatment effect (same acceleration factor when treated "
            "in either arm) and the parametric AFT family"),
    "TSE (simple)": ("effect had control patients not switched",
                     "switching only at/after the secondary baseline (progression) with no "
                     "unmeasured confounding there, no time-dependent confounding between "
                     "it and the switch, and the parametric AFT family"),
    "IPCW": ("effect had control patients not switched",
             "no unmeasured confounding of switching given the baseline and time-varying "
             "covariates in the switching model, a correctly specified switching model, and "
             "every patient having a chance of not switching (positivity)"),
}


@dataclass(frozen=True, eq=False)
class TrialArrays:
    """The per-subject arrays an AFT-based adjustment needs, resampled together.

    Attributes
    ----------
    time, event : numpy.ndarray
        Observed follow-up and event (float).
    experimental : numpy.ndarray
        True in the experimental arm.
    strata : numpy.ndarray or None
        Stratum labels (for the Cox model).
    cf : Counterfactual
        The counterfactual map (fixed options; only psi varies).
    extra : dict of str to numpy.ndarray
        Method-specific per-subject arrays (rows first).
    two_way : bool
        Whether experimental-arm patients were off therapy for part of follow-up (switched
        away, or started late): then :meth:`adjusted` gives that arm's always-treated
        counterfactual times instead of the observed ones.
    """

    time: np.ndarray
    event: np.ndarray
    experimental: np.ndarray
    strata: np.ndarray | None
    cf: Counterfactual
    extra: dict[str, np.ndarray]
    two_way: bool = False

    @classmethod
    def from_data(cls, data: TrialData, cf: Counterfactual, *, two_way: bool = False,
                  **extra: np.ndarray) -> TrialArrays:
        """The arrays of ``data`` with the map ``cf`` and ``extra`` arrays."""
        return cls(time=data.time, event=data.event.astype(float),
                   experimental=data.arm == EXPERIMENTAL, strata=data.strata, cf=cf,
                   extra=extra, two_way=two_way)

    def take(self, index: np.ndarray) -> TrialArrays:
        """The subjects at ``index`` (repeats allowed: a bootstrap sample)."""
        return TrialArrays(time=self.time[index], event=self.event[index],
                           experimental=self.experimental[index],
                           strata=None if self.strata is None else self.strata[index],
                           cf=self.cf.reordered(index),
                           extra={k: v[index] for k, v in self.extra.items()},
                           two_way=self.two_way)

    def adjusted(self, psi: float,
                 always_treated: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Counterfactual untreated (recensored) times at ``psi`` in the control arm
        against, in the experimental arm, the observed times or (``always_treated``,
        default ``two_way``) the always-treated counterfactual times
        ``V = exp(-psi m) U* = T_on + exp(-psi m) T_off``, recensored on that scale
        (``exp(-psi m) C*``); with their events."""
        u, e = self.cf.outcomes(np.array([psi]))
        if self.two_way if always_treated is None else always_treated:
            v = np.exp(-psi * self.cf.modifier) * u[0]
            return np.where(self.experimental, v, u[0]), e[0]
        return (np.where(self.experimental, self.time, u[0]),
                np.where(self.experimental, self.event, e[0]))

    def cox(self, time: np.ndarray, event: np.ndarray, alpha: float) -> dict[str, float]:
        """Cox HR (Efron ties, stratified) of the experimental arm on ``(time, event)``."""
        fit = cox_hr(time, event, self.experimental, strata=self.strata, alpha=alpha)
        return {k: getattr(fit, k) for k in ("hr", "lower", "upper", "log_hr", "se")}

    def groups(self) -> np.ndarray:
        """Resampling groups: arm within stratum."""
        return resampling_groups(self.experimental, self.strata)


def resampling_groups(experimental: np.ndarray, strata: np.ndarray | None) -> np.ndarray:
    """Integer code of arm within stratum per subject: the groups a trial bootstrap
    resamples within, so the randomized allocation stays fixed."""
    codes = np.asarray(experimental).astype(np.int64)
    if strata is None:
        return codes
    return 2 * np.unique(strata, return_inverse=True)[1] + codes


def bootstrap(replicate: Callable[[np.ndarray], tuple[float, ...]], groups: np.ndarray,
              n_boot: int, seed: int | None,
              columns: tuple[str, ...] = _BOOT_COLUMNS) -> pd.DataFrame:
    """Run ``replicate`` on ``n_boot`` resamples of the subjects, drawn within ``groups``.

    Resampling within arm (and stratum) keeps the randomized allocation fixed, as trials
    are analysed. Replicate ``b`` uses the ``b``-th child of ``np.random.SeedSequence(seed)``,
    so results are reproducible bit for bit and do not depend on ``n_boot``.

    Parameters
    ----------
    replicate : callable
        Maps an index array (subjects, with repeats) to one value per column.
    groups : numpy.ndarray
        Integer group code per subject.
    n_boot : int
    seed : int, optional
    columns : tuple of str
        Names of the replicate's values (default ``psi``, ``log_hr``).

    Returns
    -------
    pandas.DataFrame
        One row per replicate (NaN where the procedure failed; a warning says how often).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(10.0)
    >>> boot = bootstrap(lambda i: (x[i].mean(), 0.0), np.zeros(10, int), 50, seed=1)
    >>> boot.shape, bool(boot["psi"].between(0, 9).all())
    ((50, 2), True)
    """
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    rows = []
    for child in np.random.SeedSequence(seed).spawn(int(n_boot)):
        rng = np.random.default_rng(child)
        index = np.concatenate([rng.choice(m, size=m.size) for m in members])
        rows.append(replicate(index))
    out = pd.DataFrame(rows, columns=list(columns), dtype=float)
    failed = int(out.isna().any(axis=1).sum())
    if failed:
        warnings.warn(f"{failed} of {n_boot} bootstrap replicates failed (no estimate); the "
                      "bootstrap intervals use the others", UserWarning, stacklevel=3)
    return out


class AdjustedEstimate:
    """What every frequentist switching adjustment (IPE, TSE, IPCW) shares: the question,
    the assumption and the row of :func:`pexsurv.workflows.compare_analyses`' table.

    Subclasses are dataclasses with a ``method`` field (a key of :data:`ASSUMPTIONS`) and
    define :attr:`hr`, :meth:`interval_kind` and :meth:`counts`.
    """

    method: str

    @property
    def hr(self) -> dict[str, float]:
        """The headline adjusted HR (``hr``, ``lower``, ``upper``, ``log_hr``, ``se``)."""
        raise NotImplementedError

    def interval_kind(self) -> str:
        """What kind of interval :attr:`hr` carries."""
        raise NotImplementedError

    def counts(self) -> tuple[int, int]:
        """Patients and events behind the adjusted HR."""
        raise NotImplementedError

    @property
    def question(self) -> str:
        """The question the adjusted HR answers."""
        return ASSUMPTIONS[self.method][0]

    @property
    def assumption(self) -> str:
        """What the adjustment rests on."""
        return ASSUMPTIONS[self.method][1]

    def comparison_row(self) -> dict[str, Any]:
        """One row in the layout of :func:`pexsurv.workflows.compare_analyses`' table.

        ``hr_median`` holds the point estimate and ``lower``/``upper`` the interval of
        :attr:`hr` (frequentist: ``p_hr_lt_1`` is NaN; ``interval`` says which kind).

        Examples
        --------
        >>> from pexsurv.models import ipe
        >>> from pexsurv.simulate import simulate_rpsft
        >>> row = ipe(simulate_rpsft(300, seed=1)).comparison_row()
        >>> row["interval"], row["biased_if_prognostic"]
        ('log-rank p-value', False)
        """
        h = self.hr
        n, events = self.counts()
        return {"n": n, "events": events, "hr_median": h["hr"], "hr_mean": math.nan,
                "lower": h["lower"], "upper": h["upper"], "p_hr_lt_1": math.nan,
                "converged": math.isfinite(h["hr"]), "approximate": False,
                "question": self.question, "assumption": self.assumption,
                "biased_if_prognostic": False, "interval": self.interval_kind()}


@dataclass(frozen=True, eq=False)
class SwitchEstimate(AccelerationFactor, AdjustedEstimate):
    """Result of :func:`~pexsurv.models.rpsft.ipe.ipe` or
    :func:`~pexsurv.models.rpsft.tse.tse_simple`.

    Attributes
    ----------
    method : str
        ``"IPE"`` or ``"TSE (simple)"``.
    psi : float
        Log acceleration factor of experimental therapy (``< 0``: it prolongs survival).
    ci : tuple of float
        ``1 - alpha`` interval for psi, of type ``ci_type``.
    ci_type : str
        ``"log-rank p-value"`` (IPE: SE ``|psi| / |z_itt|``), ``"AFT Wald"`` (TSE stage 1)
        or ``"bootstrap percentile"``.
    counterfactual : pandas.DataFrame
        One row per subject: ``id``, ``arm`` (label), ``time_cf``, ``event_cf``: observed in
        the experimental arm, counterfactual untreated and recensored in the control arm.
    hr_itt, hr_adjusted : dict
        ``hr``, ``lower``, ``upper``, ``log_hr``, ``se`` of Cox models (Efron ties, the
        data's strata) on the observed data and on ``counterfactual`` (Wald limits, which
        ignore the uncertainty in psi).
    hr_adjusted_itt_p : dict or None
        IPE: ``hr_adjusted`` with SE ``|log HR| / |z_itt|``, so the interval keeps the ITT
        log-rank p-value (as :func:`~pexsurv.models.rpsft.gestimation.rpsftm_gestimate`).
    hr_adjusted_boot : dict or None
        With ``n_boot``: ``hr_adjusted`` with bootstrap percentile limits and SE.
    z_itt : float
        ITT log-rank Z (stratified by the data's strata).
    boot : pandas.DataFrame or None
        ``psi`` and ``log_hr`` per bootstrap replicate.
    details : dict
        Method-specific trace (IPE: the psi iterates; TSE: the stage-1 fit).
    settings : dict
        Options of the fit.
    """

    method: str
    psi: float
    ci: tuple[float, float]
    ci_type: str
    counterfactual: pd.DataFrame
    hr_itt: dict[str, float]
    hr_adjusted: dict[str, float]
    hr_adjusted_itt_p: dict[str, float] | None
    hr_adjusted_boot: dict[str, float] | None
    z_itt: float
    boot: pd.DataFrame | None
    details: dict[str, Any]
    settings: dict[str, Any]
    HR_FIELDS: ClassVar[tuple[str, ...]] = ("hr_itt", "hr_adjusted", "hr_adjusted_itt_p",
                                            "hr_adjusted_boot")

    @property
    def hr(self) -> dict[str, float]:
        """The headline adjusted HR: bootstrap limits if run, else (IPE) the ITT-p limits,
        else the Wald limits."""
        for d in (self.hr_adjusted_boot, self.hr_adjusted_itt_p, self.hr_adjusted):
            if d is not None:
                return d
        raise AssertionError("hr_adjusted is always set")

    def interval_kind(self) -> str:
        """Bootstrap, ITT log-rank p-value or Cox Wald: the interval of :attr:`hr`."""
        h = self.hr
        return ("bootstrap percentile" if h is self.hr_adjusted_boot else
                "log-rank p-value" if h is self.hr_adjusted_itt_p else "Cox Wald")

    def counts(self) -> tuple[int, int]:
        """Patients and (counterfactual) events of the adjusted comparison."""
        return len(self.counterfactual), int(self.counterfactual["event_cf"].sum())

    def labels(self) -> dict[str, Any]:
        """The method and the kind of psi's interval."""
        return {"method": self.method, "ci_type": self.ci_type}

    def repr_parts(self) -> tuple[str, str, str]:
        return f"{self.method}: ", f", {self.ci_type}", ""

    __repr__ = AccelerationFactor.__repr__  # not the dataclass's field-by-field repr


def percentile_limits(values: np.ndarray, alpha: float) -> tuple[float, float]:
    """Bootstrap percentile limits of the finite ``values``."""
    finite = values[np.isfinite(values)]
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def boot_hr(hr_adjusted: dict[str, float], boot: pd.DataFrame,
            alpha: float) -> dict[str, float]:
    """``hr_adjusted`` with bootstrap percentile limits and the bootstrap SE of log HR."""
    lo, hi = percentile_limits(boot["log_hr"].to_numpy(), alpha)
    return {"hr": hr_adjusted["hr"], "lower": math.exp(lo), "upper": math.exp(hi),
            "log_hr": hr_adjusted["log_hr"], "se": float(boot["log_hr"].std(ddof=1))}


def bootstrap_intervals(replicate: Callable[[np.ndarray], tuple[float, float]],
                        arrays: TrialArrays, n_boot: int, seed: int | None,
                        hr_adjusted: dict[str, float], alpha: float
                        ) -> tuple[pd.DataFrame, tuple[float, float], dict[str, float]]:
    """:func:`bootstrap` within arm (and stratum) of ``arrays``, then the percentile
    interval of psi and :func:`boot_hr`: the bootstrap every switching estimator reports.

    Returns
    -------
    boot : pandas.DataFrame
    psi_ci : tuple of float
    hr_boot : dict
    """
    boot = bootstrap(replicate, arrays.groups(), int(n_boot), seed)
    return boot, percentile_limits(boot["psi"].to_numpy(), alpha), boot_hr(hr_adjusted, boot,
                                                                           alpha)


def counterfactual_frame(data: TrialData, time_cf: np.ndarray,
                         event_cf: np.ndarray) -> pd.DataFrame:
    """The per-subject table of counterfactual times a switching estimate carries."""
    return pd.DataFrame({"id": data.id, "arm": np.asarray(data.arms)[data.arm],
                         "time_cf": time_cf, "event_cf": event_cf.astype(np.int8)})
