"""Bayesian RPSFT stage 2 (survival had nobody switched) on trials simulated here with known
truth, independently of the package's simulator: the control curve must follow the
counterfactual untreated survival, not the observed (ITT) control curve, and every
stage-2 fit must get its own seed. One stage-2 PEM is compiled for the module and shared by
both specs (same cuts and PEM priors); ``compare_analyses`` compiles its own.

Record of planting each bug alone in the code (commit f77c5e2), running this module, and
restoring the file (issue 18):

| planted bug | where | failing test(s) here |
|---|---|---|
| every stage-2 fit given the same seed (``seed=int(seeds[0])``) | fitting/rpsft.py:117 | test_every_stage2_fit_has_its_own_seed |
| stage 2 fitted at psi = 0 (``counterfactual_data(data, 0.0, ...)``) | fitting/rpsft.py:115 | test_control_curve_is_the_counterfactual_one (the adjusted HR does not use stage 2, so the compare_analyses row still passes) |
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from pexsurv import TrialData
from pexsurv.diagnostics import ConvergenceWarning
from pexsurv.fitting import SamplerConfig, compile_spec, fit
from pexsurv.km import km_survival_at
from pexsurv.models import RPSFT, median_survival, milestone_survival
from pexsurv.priors import Normal

PSI = -1.0      # treatment multiplies time by e = 2.72
RATE = 0.5      # untreated hazard: S0(t) = exp(-0.5 t) in both arms had nobody switched
CUTS = (0.5, 1.0, 1.5, 2.5)
MILESTONES = np.array([1.0, 1.5])


def rpsft_trial(seed: int, n: int = 3000, p_switch: float = 0.7) -> TrialData:
    """A trial with exact RPSFT structure and prognosis-driven switching.

    Untreated times U ~ Exp(RATE). Experimental patients are treated throughout, so
    T = U exp(-PSI). A control patient switches (probability ``p_switch``) at s, a random
    10-40% of their own U (earlier for worse prognosis), so T = s + (U - s) exp(-PSI): then
    U = T_off + exp(PSI) T_on holds exactly. Administrative censoring C ~ U(4, 8) years,
    known for everyone (``censor_time``); a switch after the end of follow-up is not seen.
    """
    rng = np.random.default_rng(seed)
    arm = rng.permutation(np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)])
    u = rng.exponential(1 / RATE, n)
    c = rng.uniform(4.0, 8.0, n)
    s = u * rng.uniform(0.1, 0.4, n)
    switcher = (arm == 0) & (rng.random(n) < p_switch)
    t = np.where(arm == 1, u * np.exp(-PSI), np.where(switcher, s + (u - s) * np.exp(-PSI), u))
    time = np.minimum(t, c)
    df = pd.DataFrame({"id": np.arange(n), "arm": arm, "time": time,
                       "event": (t <= c).astype(int), "cens": c,
                       "switch": np.where(switcher & (s < time), s, np.nan)})
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm", reference=0,
                                    id="id", switch_time="switch", censor_time="cens")


def quiet_fit(spec, data, **kwargs):
    # Stage-2 fits are kept short here; their ESS fails the gate (tested in test_verdicts).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit(spec, data, progress=False, **STAGE2, **kwargs)


SPEC = RPSFT(cuts=CUTS, psi_prior=Normal(0.0, 10.0), psi_range=(-2.5, 1.5), n_psi_draws=10)
STAGE2 = {"draws": 100, "tune": 200, "chains": 2}  # each stage-2 fit


@pytest.fixture(scope="module")
def switching():
    return rpsft_trial(1)


@pytest.fixture(scope="module")
def compiled(switching):
    return compile_spec(SPEC, switching, SamplerConfig(progress=False))


@pytest.fixture(scope="module")
def switching_fit(switching, compiled):
    return quiet_fit(SPEC, switching, seed=2, compiled=compiled)


def test_scenario_separates_adjusted_from_itt(switching):
    """Design check: the observed control curve lies well above the untreated one, so
    a stage 2 that ignored psi would be caught by the 0.05 tolerance below."""
    ctl = switching.arm == 0
    assert np.isfinite(switching.switch_time[ctl]).mean() > 0.6
    itt = km_survival_at(switching.time[ctl], switching.event[ctl], MILESTONES)
    assert (itt - np.exp(-RATE * MILESTONES) > 0.12).all()


def test_control_curve_is_the_counterfactual_one(switching_fit, switching):
    psi = switching_fit.posterior["psi"]
    assert float(psi.median()) == pytest.approx(PSI, abs=0.1)
    # Truth: exp(-RATE t). Sampling SE of S(t) with 1500 controls is about 0.013, psi's
    # uncertainty (95% interval about +-0.18) adds a little; the ITT curve is more than 0.12
    # away (test above).
    had = milestone_survival(switching_fit, MILESTONES).sel(arm="0").median(("chain", "draw"))
    np.testing.assert_allclose(had.values, np.exp(-RATE * MILESTONES), atol=0.05)
    med = float(median_survival(switching_fit).sel(arm="0").median())
    assert med == pytest.approx(np.log(2) / RATE, abs=0.2)
    # The adjusted HR: U is exponential in both arms, so the no-switch HR is exp(PSI).
    assert float(switching_fit.posterior["hr"].median()) == pytest.approx(np.exp(PSI), abs=0.08)


def test_every_stage2_fit_has_its_own_seed(compiled):
    """Without switching every psi draw gives the same stage-2 data (control times as
    observed: a fully compliant arm is not recensored), so fits that shared one seed would
    return the same draws again and again."""
    data = rpsft_trial(3, p_switch=0.0)
    assert np.isnan(data.switch_time).all()
    result = quiet_fit(SPEC, data, seed=4, compiled=compiled)
    assert np.unique(result.idata["rpsft_stage2"]["psi_value"].values).size == SPEC.n_psi_draws
    values = result.posterior["log_hazard_base"].values[..., 0].ravel()
    assert values.size == SPEC.n_psi_draws * STAGE2["draws"] * STAGE2["chains"]
    # A draw repeats within a chain when NUTS rejects (measured: 1956 unique of 2000);
    # ten fits sharing one seed would give each value ten times (at most 200 unique).
    assert np.unique(values).size > 0.9 * values.size


def test_compare_analyses_adds_the_rpsft_row(switching):
    from pexsurv.workflows import ANALYSES, compare_analyses

    itt_only = tuple(a for a in ANALYSES if a.label == "ITT")  # one PEM compile, not two
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out = compare_analyses(switching, CUTS, rpsft=SPEC, seed=5, draws=300,
                               analyses=itt_only)
    table = out.table
    assert list(table.index) == ["ITT", "RPSFT (Bayesian)"]
    rpsft, itt = table.loc["RPSFT (Bayesian)"], table.loc["ITT"]
    assert rpsft["hr_median"] == pytest.approx(np.exp(PSI), abs=0.08)
    # Switching onto an effective treatment dilutes the ITT effect towards 1.
    assert itt["hr_median"] > rpsft["hr_median"] + 0.1
    assert not rpsft["biased_if_prognostic"]
