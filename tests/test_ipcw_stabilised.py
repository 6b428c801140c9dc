"""Stabilised IPCW weights when switching opens only at progression (issue 14).

The numerator of the stabilised weights is the control arm's Kaplan-Meier probability of
not having switched by ``t``, over the whole control risk set (trtswitch fits its numerator
on the same rows as the denominator; ipcwswitch uses this Kaplan-Meier). The former
numerator, a logistic model fitted on the decision rows only (which start at progression),
conditioned on progression and biased the stabilised log HR by +0.33 to +0.45; the first
two tests below fail on it. The time-varying numerator enters the weighted Cox and PEM
fits without splitting the rows: checked against the fits on split rows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxTimeVaryingFitter, KaplanMeierFitter

from pexsurv.cox import cox_hr
from pexsurv.models import ipcw
from pexsurv.models.rpsft.weighted import weighted_cox
from pexsurv.simulate import simulate_switch_at_progression

PSI = -0.5


@pytest.fixture(scope="module")
def progression():
    """A large trial switching only at progression, its no-switch twin (the same patients
    and seed, nobody switching) and both IPCW fits with the marker measured."""
    sim = simulate_switch_at_progression(8000, seed=7, psi=PSI)
    twin = simulate_switch_at_progression(8000, seed=7, psi=PSI, switching=False).data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few weights above 20 (positivity warning)
        plain = ipcw(sim.data, sim.long, time_varying=["marker"], stabilised=False)
        stabilised = ipcw(sim.data, sim.long, time_varying=["marker"])
    return sim, twin, plain, stabilised


def test_stabilised_and_unstabilised_agree_with_the_no_switch_trial(progression):
    """Tolerance 0.1 on the log HR (about 3 SEs of the estimator at N = 8000; the
    former numerator was off by +0.33 to +0.45). The stabilised weights shrink the
    control risk set over time by S(t); under non-proportional hazards (this AFT model)
    that reweights the Cox average slightly (about -0.04 here: the same shift as applying
    S(t) to the no-switch twin itself, see the next test)."""
    _, twin, plain, stabilised = progression
    truth = cox_hr(twin.time, twin.event, twin.arm).log_hr
    a, b = plain.hr_adjusted["log_hr"], stabilised.hr_adjusted["log_hr"]
    assert abs(a - truth) < 0.1 and abs(b - truth) < 0.1 and abs(a - b) < 0.1
    assert abs(stabilised.hr_pem["log_hr"] - plain.hr_pem["log_hr"]) < 0.1


def test_the_stabilisation_is_a_function_of_time_only(progression):
    """Stabilised / unstabilised weight = P(not switched by t) in the control arm, the same
    for every control row at a time (progressed or not), recomputed with lifelines."""
    sim, _, plain, stabilised = progression
    f = sim.frame[sim.frame["arm"] == 0]
    km = KaplanMeierFitter().fit(np.minimum(f["switch_time"].fillna(np.inf), f["time"]),
                                 f["switch_time"].notna())
    s = stabilised.weights
    control = s[s["arm"] == sim.data.arms[0]]
    # The unstabilised row each stabilised piece lies in (same patient, start within).
    rows = plain.weights.sort_values("tstart")[["id", "tstart", "weight"]]
    merged = pd.merge_asof(control.sort_values("tstart"),
                           rows.rename(columns={"tstart": "row_start", "weight": "plain"}),
                           left_on="tstart", right_on="row_start", by="id")
    ratio = merged["weight"] / merged["plain"]
    np.testing.assert_allclose(ratio, km.survival_function_at_times(merged["tstart"]),
                               rtol=1e-10)
    # Rows before progression get the numerator too (the former one left them at 1).
    assert (ratio < 0.9).sum() > 1000


def test_unstabilised_weights_rebuild_the_no_switch_control_risk_set(progression):
    """Sum of the control weights over the risk set at t = the no-switch twin's control
    patients at risk (within 10% while many are at risk); the stabilised mean over the
    risk set is that, times S(t), over the observed number at risk: near 1 early, lower
    later here, because the patients who stay unswitched (high marker) die faster than
    the ones they stand in for (it is 1 only when switching is not prognostic)."""
    sim, twin, plain, stabilised = progression
    control = twin.arm == 0
    for t in (0.5, 1.0, 1.5, 2.0):
        u = plain.weights[(plain.weights["arm"] == sim.data.arms[0])
                          & (plain.weights["tstart"] < t) & (plain.weights["tstop"] >= t)]
        cf = int((control & (twin.time >= t)).sum())
        assert u["weight"].sum() == pytest.approx(cf, rel=0.1)
    s = stabilised.weights
    early = s[(s["arm"] == sim.data.arms[0]) & (s["tstart"] < 0.5) & (s["tstop"] >= 0.5)]
    assert early["weight"].mean() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_weighted_cox_time_varying_scale_is_the_fit_on_split_rows(ties):
    """``scale0`` multiplies the x = 0 weights at each event time: the same log HR and
    robust SE as splitting the rows at the scale's steps, with ties and strata."""
    rng = np.random.default_rng(5)
    n = 80
    stop = np.round(rng.exponential(1.0, n), 1) + 0.1  # ties
    start = np.where(rng.random(n) < 0.3, np.round(stop * 0.4, 2), 0.0)
    event = (rng.random(n) < 0.7).astype(float)
    x = (rng.random(n) < 0.5).astype(float)
    w = rng.uniform(0.5, 2.0, n)
    strata = rng.integers(0, 2, n)
    steps, levels = np.array([0.33, 0.71, 1.27]), np.array([0.9, 0.7, 0.55])

    def scale(t: np.ndarray) -> np.ndarray:  # S(t-), left-continuous
        return np.r_[1.0, levels][np.searchsorted(steps, t, side="left")]

    fit = weighted_cox(start, stop, event, x, w, np.arange(n), strata, ties=ties,
                       scale0=scale)
    # Reference: split each row at the steps inside it; each piece's weight is constant.
    pieces = []
    for i in range(n):
        bounds = [start[i], *steps[(steps > start[i]) & (steps < stop[i])], stop[i]]
        for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            factor = 1.0 if x[i] == 1 else np.r_[1.0, levels][np.searchsorted(steps, a,
                                                                              side="right")]
            pieces.append((a, b, event[i] if k == len(bounds) - 2 else 0.0, x[i],
                           w[i] * factor, i, strata[i]))
    p = np.array(pieces)
    ref = weighted_cox(p[:, 0], p[:, 1], p[:, 2], p[:, 3], p[:, 4], p[:, 5].astype(int),
                       p[:, 6].astype(int), ties=ties)
    assert fit.log_hr == pytest.approx(ref.log_hr, abs=1e-10)
    assert fit.se_robust == pytest.approx(ref.se_robust, rel=1e-8)
    plain = weighted_cox(start, stop, event, x, w, np.arange(n), strata, ties=ties)
    assert abs(plain.log_hr - fit.log_hr) > 1e-3  # the scale matters


def test_the_fit_is_reproduced_from_its_weight_table_by_lifelines():
    """The weights table (control rows split where the numerator steps) fed to lifelines'
    weighted counting-process Cox model gives the fitted log HR (Efron), and truncation
    (which fits on those split rows) at a negligible level gives the same fit."""
    sim = simulate_switch_at_progression(400, seed=3, psi=PSI)
    fit = ipcw(sim.data, sim.long, time_varying=["marker"])
    w = fit.weights.assign(arm=(fit.weights["arm"] == sim.data.arms[1]).astype(int))
    assert len(w) > sim.long.n_rows  # split
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CoxTimeVaryingFitter().fit(w[["id", "tstart", "tstop", "event", "arm",
                                            "weight"]], id_col="id", event_col="event",
                                         start_col="tstart", stop_col="tstop",
                                         weights_col="weight")
    assert fit.hr_adjusted["log_hr"] == pytest.approx(float(ref.params_["arm"]), abs=1e-5)
    split = ipcw(sim.data, sim.long, time_varying=["marker"], truncate=1e-12)
    assert split.hr_adjusted["log_hr"] == pytest.approx(fit.hr_adjusted["log_hr"], abs=1e-10)
    assert split.hr_adjusted["se"] == pytest.approx(fit.hr_adjusted["se"], rel=1e-8)
    assert split.hr_pem["log_hr"] == pytest.approx(fit.hr_pem["log_hr"], abs=1e-10)
