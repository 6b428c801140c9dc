"""The Bayesian piecewise-exponential (PEM) proportional-hazards model and its variants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from scipy import sparse

from pexsurv import _names as N
from pexsurv.data import TrialData
from pexsurv.intervals import interval_labels, validate_cuts
from pexsurv.models.base import ModelSpec
from pexsurv.models.design import EXPOSURES, PEMDesign, build_design, linear_predictor
from pexsurv.models.interval import (
    IC_EVENTS,
    IC_SUBJECT,
    interval_hazard,
    interval_log_likelihood,
)
from pexsurv.priors import (
    HalfNormal,
    IndependentNormal,
    Normal,
    PriorSpec,
    data_driven_baseline,
    hyper_data,
    hyper_values,
    resolve_priors,
    vague_priors,
)

__all__ = ["PiecewiseExponential"]

EFFECTS = ("ph", "piecewise")
# Named prior sets accepted as ``priors="<name>"``; the spec stores the priors themselves.
PRIOR_PRESETS = ("vague",)
# The sampled covariate coefficients: per SD of numeric covariates (``beta`` = this / SD).
BETA_STD = "beta_std"
LIKELIHOODS = ("auto", "aggregated", "episodes")


@dataclass(frozen=True)
class PiecewiseExponential(ModelSpec):
    r"""Bayesian piecewise-exponential survival model for a two-arm trial.

    The hazard of subject :math:`i` at time :math:`t` in interval :math:`k` is

    .. math::

        h_i(t) = \exp\{\alpha_{s(i), k} + z_i(t)\, \gamma_{k} + x_i^\top \beta\}

    with :math:`\alpha` the baseline log hazards (``log_hazard_base``, per stratum when
    stratified), :math:`z_i(t)` the treatment indicator (the randomized arm, or being on
    experimental therapy at :math:`t` for ``exposure="received"``), :math:`\gamma_k` the
    log hazard ratio acting in interval :math:`k` (``log_hr`` for ``effect="ph"``;
    ``log_hr_period`` of the interval's period for ``effect="piecewise"``) and
    :math:`\beta` covariate effects (numeric covariates centred at their mean).

    Numeric covariates are also divided by their SD inside the model: it samples
    ``beta_std`` (log HR per SD; the ``beta`` prior applies to it) and reports ``beta``
    (log HR per unit of the covariate), as rstanarm and bambi do, so that covariates on raw
    clinical scales (SD ~200) sample as well as standardised ones. The centres and SDs are
    stored as ``covariate_center`` and ``covariate_scale`` (constant data of a fit).
    Baseline, survival and HR quantities are those of a subject at the covariate means
    (and reference levels), with or without the scaling.

    Parameters
    ----------
    cuts : sequence of float
        Internal cut points of the baseline hazard (intervals ``(c_{k-1}, c_k]``).
    priors : mapping or "vague", optional
        User priors by graph name (``log_hazard_base``, ``log_hr``, ``log_hr_scale``,
        ``beta``); they override data-driven and default priors. ``"vague"`` puts
        :func:`pexsurv.priors.vague_priors` on every parameter (flat-like, as SAS PHREG
        BAYES and BUGS), written out into the spec.
    effect : {"ph", "piecewise"}
        One treatment log HR, or one per period shrunk towards a common ``log_hr`` with a
        hierarchical scale ``log_hr_scale`` (non-proportional hazards).
    effect_cuts : sequence of float, optional
        Period boundaries for ``effect="piecewise"`` (a subset of ``cuts``; default: the
        same as ``cuts``).
    covariates : sequence of str
        Covariate names (as loaded in :class:`~pexsurv.TrialData`).
    strata : bool
        One baseline per stratum of ``TrialData.strata``, with a common treatment effect.
    exposure : {"assigned", "received"}
        ``"received"``: the effect acts only while on experimental therapy (from
        ``treatment_start`` in the experimental arm, from ``switch_time`` for switchers).
    likelihood : {"auto", "aggregated", "episodes"}
        Sufficient statistics per cell (``auto`` uses them whenever no numeric covariate
        forbids it) or one row per subject-episode-interval.

    Notes
    -----
    **Interval-censored events.** When the data hold events known only to lie in
    ``(time_lower, time]`` (:attr:`pexsurv.TrialData.time_lower`, e.g. progression found
    at a scheduled assessment), the model uses the interval-censored likelihood
    ``log{S(time_lower) - S(time)}`` for them, automatically and with every option above
    (see :mod:`pexsurv.models.interval`): no setting asks for it. For the usual
    visit-dated analysis pass ``data.date_events("visit")``, for midpoint imputation
    ``data.date_events("midpoint")``. In the graph such an event is the observation
    ``interval_events = 1`` of a Bernoulli with probability
    ``P(T <= time | T > time_lower) = 1 - exp(-(H(time) - H(time_lower)))``, the subject
    being censored at ``time_lower`` in the Poisson rows. A compiled model serves data with
    the same number of subjects and the same presence of interval-censored events.

    Examples
    --------
    >>> from pexsurv import datasets
    >>> from pexsurv.models import PiecewiseExponential
    >>> spec = PiecewiseExponential(cuts=[1.0, 2.0, 4.0])
    >>> model = spec.build(datasets.ct041_like(endpoint="pfs"))
    >>> sorted(v.name for v in model.free_RVs)
    ['log_hazard_base', 'log_hr']
    """

    cuts: tuple[float, ...]
    priors: Mapping[str, Any] | str = field(default_factory=dict)
    effect: str = "ph"
    effect_cuts: tuple[float, ...] | None = None
    covariates: tuple[str, ...] = ()
    strata: bool = False
    exposure: str = "assigned"
    likelihood: str = "auto"

    def __post_init__(self) -> None:
        cuts = validate_cuts(self.cuts)
        object.__setattr__(self, "cuts", tuple(float(c) for c in cuts))
        object.__setattr__(self, "covariates", tuple(self.covariates))
        priors = self.priors
        if isinstance(priors, str):
            if priors not in PRIOR_PRESETS:
                raise ValueError(f"priors must be a mapping of graph name -> prior or one of "
                                 f"{PRIOR_PRESETS}, got {priors!r}")
            priors = vague_priors(self.default_priors())
        object.__setattr__(self, "priors", MappingProxyType(dict(priors or {})))
        for name, value, allowed in (("effect", self.effect, EFFECTS),
                                     ("exposure", self.exposure, EXPOSURES),
                                     ("likelihood", self.likelihood, LIKELIHOODS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if not isinstance(self.strata, bool):
            raise TypeError("strata must be True or False (strata come from TrialData.strata)")
        if self.effect_cuts is not None:
            if self.effect != "piecewise":
                raise ValueError("effect_cuts only applies to effect='piecewise'")
            ec = validate_cuts(self.effect_cuts)
            missing = sorted(set(ec.tolist()) - set(self.cuts))
            if missing:
                raise ValueError(
                    f"effect_cuts {missing} are not baseline cut points: every period must be "
                    "a union of baseline intervals; add them to cuts"
                )
            object.__setattr__(self, "effect_cuts", tuple(float(c) for c in ec))
        unknown = set(self.priors) - set(self.default_priors())
        if unknown:
            raise KeyError(f"unknown prior key(s) {sorted(unknown)}; valid keys: "
                           f"{sorted(self.default_priors())}")

    def __hash__(self) -> int:
        return hash(self.spec_hash())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PiecewiseExponential:
        """Rebuild a spec from :meth:`to_dict` output (priors from their dict form)."""
        d = {k: v for k, v in d.items() if k != "model"}
        d["priors"] = {k: PriorSpec.from_dict(v) for k, v in (d.get("priors") or {}).items()}
        d["covariates"] = tuple(d.get("covariates", ()))
        if d.get("effect_cuts") is not None:
            d["effect_cuts"] = tuple(d["effect_cuts"])
        return cls(**d)

    # ------------------------------------------------------------------ priors
    def default_priors(self) -> dict[str, Any]:
        """Default priors by graph name (log scale; time unit of the data).

        ``log_hazard_base``: independent Normal(mu, 5) per interval, ``mu`` the reference
        arm's crude log rate (filled from the data, :meth:`data_driven_priors`), worth
        ~0.04 events per interval so that even one-event intervals are not pulled;
        ``log_hr``: Normal(0, 1), weakly informative (95% of prior mass for HR in about
        [0.14, 7.1], worth ~4 events), which by design shrinks large effects in small
        trials: for a true HR of 0.3 with ~30 events it moves the log HR by ~0.45
        posterior sd towards 0 (posterior median HR 0.38 against the MLE's 0.34) (``validation/small_trials.md``); ``log_hr_scale``
        (piecewise effect): HalfNormal(0.5); ``beta``: Normal(0, 1) per SD of a numeric
        covariate (per level contrast of a categorical one). ``priors="vague"`` replaces
        them all with :func:`pexsurv.priors.vague_priors`.
        """
        out: dict[str, Any] = {N.LOG_HAZARD_BASE: IndependentNormal(),
                               N.LOG_HR: Normal(0.0, 1.0)}
        if self.effect == "piecewise":
            out[N.LOG_HR_SCALE] = HalfNormal(0.5)
        if self.covariates:
            out[N.BETA] = Normal(0.0, 1.0)
        return out

    def data_driven_priors(self, data: TrialData) -> dict[str, dict[str, float]]:
        """Prior values that come from the data: the baseline's centre, filled into
        whichever baseline structure is in force where it leaves it unset.

        The centre is the crude log rate of the reference person-time (the control arm;
        for ``exposure="received"``, the time off experimental therapy), the hazard the
        baseline describes. The pooled rate of both arms sits about half the log HR away
        from it and pulled the log HR towards 0 in small trials (issue 10). With no event
        in the reference person-time its crude rate is 0; the pooled rate is used then.
        """
        # A crude rate: interval-censored events count at the visit that found them.
        data = data.date_events("visit")
        if self.exposure == "received" and (data.treatment_start is not None
                                            or data.switch_time is not None):
            # Cells by treatment state only: covariates and strata do not change the totals.
            design = build_design(data, self.cut_array, exposure=self.exposure)
            reference = design.treat == 0
            events, exposure = design.events[reference].sum(), design.exposure[reference].sum()
        else:
            # The assigned control arm. (Received exposure without therapy times cannot be
            # built; resolving priors must not pre-empt the error that says so.)
            reference = data.arm == 0
            events, exposure = data.event[reference].sum(), data.time[reference].sum()
        if events == 0:  # the pooled rate: all events over all person-time
            events, exposure = data.event.sum(), data.time.sum()
        return data_driven_baseline(float(events), float(exposure))

    def resolved_priors(self, data: TrialData) -> dict[str, Any]:
        """Priors in force for ``data``: user > data-driven > default."""
        return resolve_priors(self.default_priors(), self.data_driven_priors(data),
                              dict(self.priors))

    # ------------------------------------------------------------------ data
    @property
    def cut_array(self) -> np.ndarray:
        return np.asarray(self.cuts, dtype=float)

    def period_of_interval(self) -> np.ndarray:
        """Index of the effect period holding each baseline interval."""
        if self.effect != "piecewise":
            return np.zeros(len(self.cuts) + 1, dtype=np.int64)
        ec = self.cut_array if self.effect_cuts is None else np.asarray(self.effect_cuts)
        lower = np.concatenate([[0.0], self.cut_array])
        return np.searchsorted(ec, lower, side="right")

    def design(self, data: TrialData, *, aggregate: bool | None = None) -> PEMDesign:
        """Likelihood rows of this model for ``data``."""
        if self.strata and data.strata is None:
            raise ValueError("strata=True needs TrialData loaded with strata='<column>'")
        if aggregate is None:
            aggregate = self.likelihood == "aggregated" or (
                self.likelihood == "auto" and not self._has_numeric(data))
        return build_design(data, self.cut_array, exposure=self.exposure,
                            covariates=self.covariates, stratified=self.strata,
                            aggregate=aggregate)

    def _has_numeric(self, data: TrialData) -> bool:
        return any(np.asarray(data.covariates[c]).dtype.kind == "f"
                   for c in self.covariates if c in data.covariates)

    def coords(self, design: PEMDesign, data: TrialData) -> dict[str, Any]:
        coords: dict[str, Any] = {N.INTERVAL: interval_labels(self.cut_array),
                                  N.ARM: list(data.arms),
                                  N.CELL: np.arange(design.n_rows)}
        if self.strata:
            coords[N.STRATUM] = list(design.strata)
        if design.covariate_names:
            coords[N.COVARIATE] = list(design.covariate_names)
        coords[IC_SUBJECT] = list(np.asarray(data.id)[:design.ic.n_rows])
        if self.effect == "piecewise":
            ec = self.cut_array if self.effect_cuts is None else np.asarray(self.effect_cuts)
            coords[N.PERIOD] = interval_labels(ec)
        return coords

    # ------------------------------------------------------------------ graph
    def data_values(self, data: TrialData, priors: Mapping[str, Any] | None = None, *,
                    design: PEMDesign | None = None) -> dict[str, np.ndarray]:
        """Values of every ``pm.Data`` input of :meth:`build` for ``data``: likelihood
        rows, constants for derived quantities, prior hyper-parameters. A compiled model
        of this spec serves new data through these values (shapes must match)."""
        design = self.design(data) if design is None else design
        priors = dict(self.resolved_priors(data) if priors is None else priors)
        values: dict[str, Any] = {
            "cut_points": self.cut_array,
            "arm_code": np.array([N.REFERENCE, N.EXPERIMENTAL]),
            "observed_events": design.events,
            "exposure": design.exposure,
            # The rows' layout is data too: a compiled model re-used on other data of the
            # same shapes must not keep the first data's intervals, arms and covariates.
            "cell_interval": design.interval,
            "cell_treat": design.treat,
        }
        if self.strata:
            values["cell_stratum"] = design.stratum
        if design.covariate_names:
            values["cell_covariates"] = design.x
        if self.strata:
            weights = np.bincount(data.stratum_index(), minlength=len(data.stratum_levels))
            values["stratum_weight"] = weights / weights.sum()
        if self.effect == "piecewise":
            values["period_of_interval"] = self.period_of_interval()
        if design.covariate_names:
            values["covariate_center"] = design.x_center
            values["covariate_scale"] = design.x_scale
        values.update(_interval_values(design, stratified=self.strata))
        for key, prior in priors.items():
            values.update(hyper_values(key, prior))
        return values

    def build(self, data: TrialData, *, priors: Mapping[str, Any] | None = None) -> pm.Model:
        """Build the PyMC model for ``data`` (pure: the spec is not changed).

        Parameters
        ----------
        data : TrialData
        priors : mapping, optional
            Already-resolved priors (as stored on a fit); by default
            :meth:`resolved_priors` of ``data``.
        """
        design = self.design(data)
        priors = dict(self.resolved_priors(data) if priors is None else priors)
        values = self.data_values(data, priors, design=design)
        dims = {"arm_code": N.ARM, "stratum_weight": N.STRATUM, "period_of_interval": N.INTERVAL,
                "observed_events": N.CELL, "exposure": N.CELL, "covariate_center": N.COVARIATE,
                "covariate_scale": N.COVARIATE}
        dims.update(_CELL_DIMS, **_INTERVAL_DIMS)
        with pm.Model(coords=self.coords(design, data)) as model:
            # Constant data that derived quantities read after sampling, and the likelihood
            # inputs; prior hyper-parameters come from hyper_data below.
            data_vars = {name: pm.Data(name, values[name], dims=dims.get(name))
                         for name in ("cut_points", "arm_code", "stratum_weight",
                                      "period_of_interval", "observed_events", "exposure",
                                      "covariate_center", "covariate_scale", *_CELL_DIMS,
                                      *_INTERVAL_DIMS)
                         if name in values}
            events, exposure = data_vars["observed_events"], data_vars["exposure"]

            base_dims = (N.STRATUM, N.INTERVAL) if self.strata else (N.INTERVAL,)
            base = priors[N.LOG_HAZARD_BASE].build(
                N.LOG_HAZARD_BASE, dims=base_dims, params=hyper_data(N.LOG_HAZARD_BASE,
                                                                     priors[N.LOG_HAZARD_BASE]))
            effect = self._treatment_effect(priors)
            beta = None
            if design.covariate_names:
                # Sampled per SD, reported per unit: the design's columns stay on their own
                # scale, so beta (not beta_std) enters the linear predictor, here and in
                # every post-fit use of the draws.
                beta_std = priors[N.BETA].create(BETA_STD, dims=N.COVARIATE,
                                                 params=hyper_data(N.BETA, priors[N.BETA]))
                beta = pm.Deterministic(N.BETA, beta_std / data_vars["covariate_scale"],
                                        dims=N.COVARIATE)
            eta = linear_predictor(base, effect, beta, _GraphCells(data_vars),
                                   stratified=self.strata)
            pm.Poisson("events", mu=pt.exp(eta) * exposure, observed=events, dims=N.CELL)
            if design.ic.n_rows:
                self._interval_events(base, effect, beta, data_vars)
        return model

    def _interval_events(self, base, effect, beta, data_vars: Mapping[str, Any]) -> None:
        """The interval-censored term: ``log(1 - exp(-Delta H))`` per flagged subject, as
        the observation 1 of a Bernoulli (so that prior and posterior predictive sampling
        know it, unlike a Potential); unflagged rows observe 0 with probability ~0."""
        rows = _GraphRows(data_vars, stratified=self.strata)
        flag = data_vars["ic_flag"]
        delta_h = interval_hazard(base, effect, beta, rows, stratified=self.strata, xp=pt)
        # Rows that carry the term; Delta H underflowing below 1e-300 (log hazards near
        # -700) would give log(0) = -inf and NaN gradients, so such rows get the constant
        # probability sigmoid(-700) ~ 1e-304 there, like the unflagged rows always.
        live = (flag > 0) & (delta_h > _TINY)
        safe = pt.switch(live, delta_h, 1.0)  # no log(0) (nor its gradient) on other rows
        # logit P(T <= R | T > L) = Delta H + log(1 - exp(-Delta H))
        logit = pt.switch(live, safe + pt.log1mexp(-safe), _LOGIT_MIN)
        pm.Bernoulli(IC_EVENTS, logit_p=logit, observed=flag, dims=IC_SUBJECT)

    def _treatment_effect(self, priors: Mapping[str, Any]) -> pt.TensorVariable:
        """Log HR acting in each baseline interval, as a length-K tensor."""
        log_hr = priors[N.LOG_HR].create(N.LOG_HR, params=hyper_data(N.LOG_HR, priors[N.LOG_HR]))
        pm.Deterministic(N.HR, pt.exp(log_hr))
        k = len(self.cuts) + 1
        if self.effect == "ph":
            return pt.repeat(log_hr[None], k)
        scale = priors[N.LOG_HR_SCALE].create(
            N.LOG_HR_SCALE, params=hyper_data(N.LOG_HR_SCALE, priors[N.LOG_HR_SCALE]))
        # Non-centred: period effects = common log HR + scale * standard normal offsets,
        # which NUTS handles without funnels when the scale is small. With only a few
        # periods the geometry still needs small steps: fit defaults this model to
        # target_accept 0.99 (fitting/pem.py, sampler_defaults).
        z = pm.Normal("log_hr_period_offset", 0.0, 1.0, dims=N.PERIOD)
        period = pm.Deterministic(N.LOG_HR_PERIOD, log_hr + scale * z, dims=N.PERIOD)
        pm.Deterministic(N.HR_PERIOD, pt.exp(period), dims=N.PERIOD)
        return period[self.period_of_interval()]

    # ------------------------------------------------------------------ after sampling
    def pointwise_log_likelihood(self, posterior: xr.Dataset, data: TrialData) -> xr.DataArray:
        """Per-subject log-likelihood for each draw, dims ``(chain, draw, subject)``.

        The exact survival likelihood ``sum d log h - h E`` over each subject's
        episode-intervals (no Poisson constant), so LOO compares models with different
        cut points on the same footing; an interval-censored event adds
        ``log(1 - exp(-(H(time) - H(time_lower))))`` to its subject's rows up to
        ``time_lower``, so that the subject's total is ``log{S(time_lower) - S(time)}``.
        Computed in chunks of draws to bound memory.
        """
        design = self.design(data, aggregate=False)
        base = posterior[N.LOG_HAZARD_BASE]
        sample = list(N.SAMPLE_DIMS)
        base_np = base.transpose(*sample, ...).values
        log_hr = posterior[N.LOG_HR_PERIOD] if self.effect == "piecewise" else posterior[N.LOG_HR]
        effect_np = log_hr.transpose(*sample, ...).values
        if self.effect == "piecewise":
            effect_np = effect_np[..., self.period_of_interval()]
        else:
            effect_np = np.repeat(effect_np[..., None], len(self.cuts) + 1, axis=-1)
        beta_np = (posterior[N.BETA].transpose(*sample, N.COVARIATE).values
                   if design.covariate_names else None)
        n_chain, n_draw = base_np.shape[:2]
        out = np.empty((n_chain, n_draw, data.n))
        # Per-subject sums of the rows; a subject may have none (an interval-censored
        # event in (0, R] has no person-time before its interval).
        by_subject = sparse.csr_matrix(
            (np.ones(design.n_rows), (np.arange(design.n_rows), design.subject)),
            shape=(design.n_rows, data.n))
        step = max(1, 2_000_000 // max(design.n_rows + design.ic.exposure_on.size, 1))
        for c in range(n_chain):
            for lo in range(0, n_draw, step):
                sl = slice(lo, lo + step)
                beta_c = None if beta_np is None else beta_np[c, sl]
                eta = linear_predictor(base_np[c, sl], effect_np[c, sl], beta_c, design,
                                       stratified=self.strata)
                ll = design.events * eta - np.exp(eta) * design.exposure
                out[c, sl] = (by_subject.T @ ll.T).T
                if design.ic.n_rows:
                    delta_h = interval_hazard(base_np[c, sl], effect_np[c, sl], beta_c,
                                              design.ic, stratified=self.strata)
                    out[c, sl] += interval_log_likelihood(delta_h, design.ic.flag)
        return xr.DataArray(out, dims=(*sample, N.SUBJECT),
                            coords={N.SUBJECT: np.asarray(data.id)}, name="log_likelihood")


# The layout of the likelihood rows (pm.Data) and their dims.
_CELL_DIMS = {"cell_interval": N.CELL, "cell_treat": N.CELL, "cell_stratum": N.CELL,
              "cell_covariates": (N.CELL, N.COVARIATE)}


class _GraphCells:
    """The row layout inputs of a graph, under the attribute names of
    :class:`~pexsurv.models.design.PEMDesign` that :func:`linear_predictor` reads."""

    def __init__(self, data_vars: Mapping[str, Any]) -> None:
        self.interval = data_vars["cell_interval"]
        self.treat = data_vars["cell_treat"]
        self.stratum = data_vars.get("cell_stratum")
        self.x = data_vars.get("cell_covariates")


# The interval-censored inputs (pm.Data, present in every graph so that a compiled model
# built without them refuses data with them by shape, and vice versa) and their dims.
_INTERVAL_DIMS = {"ic_flag": IC_SUBJECT, "ic_exposure_off": (IC_SUBJECT, N.INTERVAL),
                  "ic_exposure_on": (IC_SUBJECT, N.INTERVAL), "ic_stratum": IC_SUBJECT,
                  "ic_covariates": (IC_SUBJECT, N.COVARIATE)}
# The logit of P(event by R | event-free at L) where the term is absent or underflows:
# sigmoid(-700) ~ 1e-304, a probability 0 that double precision still holds.
_LOGIT_MIN, _TINY = -700.0, 1e-300


def _interval_values(design: PEMDesign, *, stratified: bool) -> dict[str, np.ndarray]:
    """pm.Data values of the interval-censored term (no rows when there is none)."""
    ic = design.ic
    values = {"ic_flag": ic.flag, "ic_exposure_off": ic.exposure_off,
              "ic_exposure_on": ic.exposure_on}
    if stratified:
        values["ic_stratum"] = ic.stratum
    if design.covariate_names:
        values["ic_covariates"] = ic.x
    return values


class _GraphRows:
    """The interval-censored inputs of a graph, under the attribute names of
    :class:`~pexsurv.models.interval.IntervalRows`."""

    def __init__(self, data_vars: Mapping[str, Any], *, stratified: bool) -> None:
        self.exposure_off = data_vars["ic_exposure_off"]
        self.exposure_on = data_vars["ic_exposure_on"]
        self.stratum = data_vars["ic_stratum"] if stratified else None
        self.x = data_vars.get("ic_covariates")
