"""IPCW's bootstrap resamples the whole procedure: every replicate is ``ipcw`` refitted on a
trial rebuilt from the resampled patients (rows of each patient copied as a new patient),
so the switching model, the Kaplan-Meier numerator and any truncation quantiles are
re-estimated in each replicate, and the resampling keeps each arm's size. Also the BCa
interval against its textbook construction."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pandas as pd
import pytest
from ipcw_reference import assert_replicate_is_refit

from pexsurv import TrialData
from pexsurv.longdata import LongData
from pexsurv.models import ipcw
from pexsurv.simulate import simulate_time_varying_switching

IPCW = importlib.import_module("pexsurv.models.rpsft.ipcw")
MODEL = {"baseline": ["marker0"], "time_varying": ["marker"]}
CUTS = (1.0, 2.0, 3.0)


@pytest.fixture(scope="module")
def sim():
    return simulate_time_varying_switching(200, seed=3)


def resampled(sim, index: np.ndarray) -> tuple[TrialData, LongData]:
    """The trial of the patients at ``index``, each copy a new patient with its rows."""
    frame = sim.data.to_frame().iloc[index].reset_index(drop=True)
    frame["id"] = np.arange(index.size)
    data = TrialData.from_dataframe(frame, time="time", event="event", arm="arm",
                                    reference=sim.data.arms[0], id="id",
                                    switch_time="switch_time", censor_time="censor_time",
                                    covariates=["marker0"])
    long = sim.long.to_frame(sim.data)
    by_id = {k: g for k, g in long.groupby("id", sort=False)}
    rows = pd.concat([by_id[sim.data.id[i]].assign(id=j) for j, i in enumerate(index)])
    return data, LongData.from_dataframe(rows, data, covariates=["marker"])


@pytest.mark.parametrize("options", [{}, {"stabilised": False}, {"truncate": 0.05},
                                     {"switching_coef": (-2.5, 0.0, 0.0, 1.0)}],
                         ids=["stabilised", "unstabilised", "truncated", "known_coef"])
def test_each_replicate_refits_everything_on_the_resampled_patients(sim, options,
                                                                    monkeypatch):
    drawn: list[np.ndarray] = []
    shipped = IPCW.bootstrap

    def recording(replicate, groups, n_boot, seed, columns):
        def spy(index):
            drawn.append(index.copy())
            return replicate(index)
        return shipped(spy, groups, n_boot, seed, columns)

    monkeypatch.setattr(IPCW, "bootstrap", recording)
    fit = ipcw(sim.data, sim.long, **MODEL, **options, cuts=CUTS, n_boot=3, seed=5)
    assert len(drawn) == 3
    control = np.flatnonzero(sim.data.arm == 0)
    for b, index in enumerate(drawn):
        # Within arm: the control half of the replicate is drawn from control patients.
        assert np.isin(index[:control.size], control).all()
        assert (sim.data.arm[index] == 0).sum() == control.size
        assert np.unique(index).size < index.size  # with replacement
        data, long = resampled(sim, index)
        refit = ipcw(data, long, **MODEL, **options, cuts=CUTS)
        assert_replicate_is_refit(fit, b, refit)
        if "switching_coef" in options:  # kept, not refitted on the replicate
            fitted = ipcw(data, long, **MODEL, cuts=CUTS)
            assert abs(fitted.hr_adjusted["log_hr"] - refit.hr_adjusted["log_hr"]) > 1e-3
        if "truncate" in options:  # the quantiles of the replicate's own weights
            assert refit.details["truncation_bounds"] != fit.details["truncation_bounds"]


def test_bca_limits_follow_the_textbook_construction():
    """Efron and Tibshirani (14.9)-(14.15) written out, on the mean of skewed data, where
    BCa moves the percentile interval toward the long tail."""
    x = np.random.default_rng(1).exponential(size=40)
    rng = np.random.default_rng(2)
    boot = np.array([x[rng.integers(0, 40, 40)].mean() for _ in range(2000)])
    jack = np.array([np.delete(x, i).mean() for i in range(40)])
    z0 = IPCW.NormalDist().inv_cdf(float(np.mean(boot < x.mean())))
    d = jack.mean() - jack
    a = (d ** 3).sum() / (6 * ((d ** 2).sum()) ** 1.5)
    phi, q = IPCW.NormalDist().cdf, IPCW.NormalDist().inv_cdf
    levels = [phi(z0 + (z0 + z) / (1 - a * (z0 + z))) for z in (q(0.025), q(0.975))]
    expected = np.quantile(boot, levels)
    assert IPCW.bca_limits(x.mean(), boot, jack, 0.05) == pytest.approx(tuple(expected))
    percentile = np.quantile(boot, [0.025, 0.975])
    assert a > 0.02 and (expected > percentile).all()
    assert math.isfinite(IPCW.bca_limits(10.0, boot, jack, 0.05)[0])  # all below: clipped


def test_bca_option_uses_the_leave_one_patient_out_jackknife():
    small = simulate_time_varying_switching(120, seed=8)
    fit = ipcw(small.data, small.long, **MODEL, cuts=CUTS, n_boot=40, seed=1,
               boot_interval="bca")
    everyone = np.arange(small.data.n)
    jack = [ipcw(*resampled(small, np.delete(everyone, i)), **MODEL, cuts=CUTS)
            for i in everyone]
    for quantity, estimate in (("log_hr", fit.hr_adjusted), ("log_hr_pem", fit.hr_pem)):
        loo = np.array([getattr(j, "hr_adjusted" if quantity == "log_hr" else "hr_pem")
                        ["log_hr"] for j in jack])
        lo, hi = IPCW.bca_limits(estimate["log_hr"], fit.boot[quantity].to_numpy(), loo, 0.05)
        interval = fit.hr if quantity == "log_hr" else fit.hr_pem
        assert (interval["lower"], interval["upper"]) == pytest.approx(
            (math.exp(lo), math.exp(hi)), rel=1e-9)
    assert fit.hr is fit.hr_adjusted_boot_bca and fit.interval_kind() == "bootstrap BCa"
    assert fit.hr_adjusted_boot_bca["lower"] != fit.hr_adjusted_boot["lower"]
    assert fit.summary().index.tolist()[-2:] == ["hr_adjusted_boot_bca", "hr_pem"]
    plain = ipcw(small.data, small.long, **MODEL, cuts=CUTS, n_boot=40, seed=1)
    assert (plain.hr_pem["lower"], plain.hr_pem["upper"]) == pytest.approx(
        tuple(math.exp(v) for v in IPCW.percentile_limits(plain.boot["log_hr_pem"].to_numpy(),
                                                          0.05)), rel=1e-12)
    assert plain.hr_pem["lower"] != fit.hr_pem["lower"]
    assert plain.hr_adjusted_boot_bca is None
    assert plain.to_dict()["hr_adjusted_boot_bca"] is None
