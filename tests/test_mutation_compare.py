"""compare_analyses' plumbing: which analysis is fitted on which population with which model
and sampler, which compiled model it shares, and which row gets which numbers (issue 18
mutation tests).

The module is loaded from its file (``tests/isolated.py``) and its ``fit``, ``compile_spec``
and ``default_config`` are replaced by stand-ins that record their calls and return
hand-built posteriors with a hazard ratio known per call: no sampling.
"""

from __future__ import annotations

import dataclasses
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from isolated import load

from pexsurv import TrialData, datasets
from pexsurv.diagnostics import THRESHOLDS
from pexsurv.fitting import SamplerConfig
from pexsurv.testing import fake_posterior
from pexsurv.workflows.report import round_hr_table

C = load("pexsurv/workflows/compare.py")
CUTS = (3.0, 6.0)


class Recorder:
    """Stand-ins for fit, compile_spec and default_config; fit number k returns a posterior
    whose HR draws are all 0.3 + k / 100 (even k converged, odd k not)."""

    def __init__(self):
        self.fits, self.compiles, self.defaults = [], [], []

    def fit(self, spec, data, *, sampler, compiled=None):
        hr = 0.3 + len(self.fits) / 100
        self.fits.append(SimpleNamespace(spec=spec, data=data, sampler=sampler,
                                         compiled=compiled, hr=hr))
        ok = len(self.fits) % 2 == 1
        return SimpleNamespace(
            idata=fake_posterior(cuts=CUTS, hr=hr, chains=2, draws=4, arms=data.arms),
            data=data, approximate=False,
            convergence=SimpleNamespace(passed=ok, headline=f"fit {len(self.fits) - 1}"))

    def compile_spec(self, spec, data, config):
        token = ("compiled", len(self.compiles))
        self.compiles.append(SimpleNamespace(spec=spec, data=data, config=config, token=token))
        return token

    def default_config(self, spec, *, seed, progress):
        self.defaults.append((spec, seed, progress))
        return "rpsft config"


@pytest.fixture
def rec(monkeypatch):
    r = Recorder()
    for name in ("fit", "compile_spec", "default_config"):
        monkeypatch.setattr(C, name, getattr(r, name))
    return r


@pytest.fixture(scope="module")
def os_data():
    return datasets.ct041_like("os")


def quiet_populations(data, analyses):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return C.populations(data, analyses)


def interval_censored_trial(n: int = 20) -> TrialData:
    rng = np.random.default_rng(0)
    time = rng.uniform(1.0, 9.0, n).round(2)
    event = np.tile([1, 1, 0, 1], n // 4)
    df = pd.DataFrame({"id": range(n), "time": time, "event": event,
                       "arm": np.tile([0, 1], n // 2),
                       "lower": np.where(event == 1, time - 0.5, np.nan),
                       "start": 0.2, "switch": np.where(np.arange(n) == 2, time / 2, np.nan)})
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id",
                                    time_lower="lower", treatment_start="start",
                                    switch_time="switch")


# ------------------------------------------------------------------------ analyses
def test_analyses_table():
    got = [(a.label, a.biased_if_prognostic, a.exposure, a.needs, a.dating) for a in C.ANALYSES]
    assert got == [
        ("ITT", False, "assigned", (), None),
        ("modified ITT (treated)", True, "assigned", ("treatment_start",), None),
        ("from treatment start", True, "assigned", ("treatment_start",), None),
        ("per protocol (censor at switch)", True, "assigned", ("switch_time",), None),
        ("exclude switchers", True, "assigned", ("switch_time",), None),
        ("time-varying exposure (as received)", True, "received", (), None),
        ("as treated (naive)", True, "assigned", ("switch_time",), None),
    ]
    got = [(a.label, a.biased_if_prognostic, a.exposure, a.needs, a.dating)
           for a in C.PFS_DATINGS]
    assert got == [("ITT, progression dated at the visit", False, "assigned", ("time_lower",),
                    "visit"),
                   ("ITT, progression at the interval midpoint", False, "assigned",
                    ("time_lower",), "midpoint")]
    a = C.ANALYSES[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.label = "x"


def test_each_population_is_the_data_method(os_data):
    pops = quiet_populations(os_data, C.ANALYSES)
    assert list(pops) == [a.label for a in C.ANALYSES]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = {"ITT": os_data, "modified ITT (treated)": os_data.treated(),
                    "from treatment start": os_data.from_treatment_start(),
                    "per protocol (censor at switch)": os_data.per_protocol(),
                    "exclude switchers": os_data.exclude_switchers(),
                    "time-varying exposure (as received)": os_data,
                    "as treated (naive)": os_data.as_treated()}
    for label, d in expected.items():
        assert pops[label].fingerprint() == d.fingerprint(), label
    ic = interval_censored_trial()
    dated = C.populations(ic, C.PFS_DATINGS)
    assert dated[C.PFS_DATINGS[0].label].fingerprint() == ic.date_events("visit").fingerprint()
    assert dated[C.PFS_DATINGS[1].label].fingerprint() == ic.date_events("midpoint").fingerprint()
    assert C.populations(os_data, C.ANALYSES[:1]) == {"ITT": os_data}


def test_applies(os_data):
    bare = dataclasses.replace(os_data, treatment_start=None, switch_time=None)
    assert [a.label for a in C.ANALYSES if a.applies(bare)] == ["ITT"]
    only_start = dataclasses.replace(os_data, switch_time=None)
    assert [a.label for a in C.ANALYSES if a.applies(only_start)] == [
        "ITT", "modified ITT (treated)", "from treatment start",
        "time-varying exposure (as received)"]
    only_switch = dataclasses.replace(os_data, treatment_start=None)
    assert C.ANALYSES[5].applies(only_switch) and not C.ANALYSES[1].applies(only_switch)
    assert all(a.applies(os_data) for a in C.ANALYSES)
    assert not any(a.applies(os_data) for a in C.PFS_DATINGS)
    assert all(a.applies(interval_censored_trial()) for a in C.PFS_DATINGS)


# ------------------------------------------------------------------------ compare_analyses
def check_rows(out, rec, data, analyses):
    """Each row holds the numbers of the fit made on its own population and model."""
    pops = quiet_populations(data, analyses)
    assert list(out.table.index[:len(pops)]) == list(pops)
    for a, call in zip([a for a in analyses if a.label in pops], rec.fits, strict=False):
        assert call.spec.exposure == a.exposure and call.spec.cuts == CUTS
        assert call.data.fingerprint() == pops[a.label].fingerprint(), a.label
        row = out.table.loc[a.label]
        assert row["hr_median"] == pytest.approx(call.hr, rel=1e-12), a.label
        assert row["n"] == pops[a.label].n
        assert row["events"] == int(pops[a.label].event.sum())
        assert row["question"] == a.question and row["assumption"] == a.assumption
        assert row["biased_if_prognostic"] == a.biased_if_prognostic
        assert out.results[a.label].data is call.data


def test_every_row_gets_its_own_fit(rec, os_data):
    out = C.compare_analyses(os_data, CUTS, seed=5, draws=30, progress=True)
    assert len(rec.fits) == 7
    check_rows(out, rec, os_data, C.ANALYSES)
    # the sampler of every piecewise-exponential fit
    config = rec.fits[0].sampler
    assert config == SamplerConfig(draws=30, tune=30, seed=5, progress=True)
    assert all(call.sampler is config for call in rec.fits)
    # one compiled model for every assigned-exposure population, none for as-received
    assert len(rec.compiles) == 1
    assert rec.compiles[0].spec.exposure == "assigned" and rec.compiles[0].config is config
    assert rec.compiles[0].data.fingerprint() == os_data.fingerprint()
    for call in rec.fits:
        assert call.compiled == (("compiled", 0) if call.spec.exposure == "assigned" else None)
    # converged flags and headlines follow the fit of their row
    assert out.table["converged"].tolist() == [True, False] * 3 + [True]
    assert out.table["diagnostics"].tolist() == [f"fit {k}" for k in range(7)]
    assert "dating" not in out.table and "interval" not in out.table
    assert out.table.attrs == {"prob": 0.95, "interval": "equal-tailed"}
    assert rec.defaults == []
    assert list(out.results) == [a.label for a in C.ANALYSES]


def test_defaults_and_subset(rec, os_data):
    out = C.compare_analyses(os_data, list(CUTS), analyses=C.ANALYSES[:2])
    assert rec.fits[0].sampler == SamplerConfig(draws=1000, tune=1000, seed=None,
                                                progress=False)
    assert list(out.table.index) == ["ITT", "modified ITT (treated)"]
    assert rec.fits[0].spec.cuts == CUTS  # a list becomes the spec's tuple


def test_rounded_is_the_report_rounding(rec, os_data):
    out = C.compare_analyses(os_data, CUTS, analyses=C.ANALYSES[:1])
    pd.testing.assert_frame_equal(out.rounded(), round_hr_table(out.table, out.results))
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.table = None
    assert hash(out) != hash(C.compare_analyses(os_data, CUTS, analyses=C.ANALYSES[:1]))
    # (an eq=True dataclass of a DataFrame is unhashable)


def test_interval_censored_rows_share_models_by_size(rec):
    data = interval_censored_trial()
    out = C.compare_analyses(data, CUTS, seed=1)
    analyses = (*C.ANALYSES, *C.PFS_DATINGS)
    check_rows(out, rec, data, analyses)
    dating = out.table["dating"].to_dict()
    assert dating["ITT"] == "interval-censored"
    assert dating["time-varying exposure (as received)"] == "interval-censored"
    assert dating["ITT, progression dated at the visit"] == "visit"
    assert dating["ITT, progression at the interval midpoint"] == "midpoint"
    # assigned-exposure fits: one compiled model per interval-censored population size, one
    # shared by the exactly dated populations
    keys = {}
    for call in rec.fits:
        if call.spec.exposure == "received":
            assert call.compiled is None
            continue
        d = call.data
        keys.setdefault(d.n if d.interval_censored.any() else 0, set()).add(call.compiled)
    assert all(len(v) == 1 for v in keys.values())
    assert len(rec.compiles) == len(keys) == len({next(iter(v)) for v in keys.values()})
    assert 0 in keys  # the dated rows
    assert len(keys) >= 3


def test_rpsft_row(rec, os_data):
    rpsft = SimpleNamespace(cuts=CUTS, exposure="rpsft")
    out = C.compare_analyses(os_data, CUTS, rpsft=rpsft, seed=4, progress=True,
                             analyses=C.ANALYSES[:1])
    assert rec.defaults == [(rpsft, 4, True)]
    call = rec.fits[-1]
    assert call.spec is rpsft and call.data is os_data and call.sampler == "rpsft config"
    assert call.compiled is None
    row = out.table.loc["RPSFT (Bayesian)"]
    assert row["hr_median"] == pytest.approx(call.hr)
    assert row["question"] == "effect had control patients not switched"
    assert row["biased_if_prognostic"] is False or row["biased_if_prognostic"] == 0
    assert not row["biased_if_prognostic"]
    assert list(out.table.index) == ["ITT", "RPSFT (Bayesian)"]


class FakeTSE:
    def __init__(self, log_hr, r_hat, n=40, events=25):
        self.posterior = xr.Dataset({"log_hr": (("chain", "draw"), np.reshape(log_hr, (1, -1)))})
        self.r_hat_max = np.asarray(r_hat)
        self.psi = np.zeros(self.r_hat_max.size)
        self.stage1 = SimpleNamespace(counts=lambda: (n, events), question="q?",
                                      assumption="no unmeasured confounding")


class FakeEstimate:
    def __init__(self, method, hr):
        self.method, self.hr = method, hr

    def comparison_row(self):
        return {"n": 9, "events": 4, "hr_median": self.hr, "lower": self.hr / 2,
                "upper": self.hr * 2, "p_hr_lt_1": np.nan, "interval": "confidence"}


def test_switching_rows(rec, os_data, monkeypatch):
    monkeypatch.setattr(C, "BayesianTSE", FakeTSE)
    tse = FakeTSE(np.log(np.linspace(0.5, 1.5, 101)), [1.0, 1.02])
    ipe, ipcw = FakeEstimate("IPE", 0.7), FakeEstimate("IPCW", 0.8)
    out = C.compare_analyses(os_data, CUTS, analyses=C.ANALYSES[:1],
                             switching=[ipe, tse, ipcw])
    t = out.table
    assert list(t.index) == ["ITT", "IPE", C.TSE_BAYES, "IPCW"]
    assert C.TSE_BAYES == "TSE (Bayesian)"
    assert t.loc["ITT", "interval"] == "posterior equal-tailed"
    assert t.loc["IPE", "hr_median"] == 0.7 and t.loc["IPCW", "upper"] == pytest.approx(1.6)
    assert t.loc["IPE", "interval"] == "confidence"
    assert t.loc[C.TSE_BAYES, "hr_median"] == pytest.approx(1.0)
    assert out.results["IPE"] is ipe and out.results[C.TSE_BAYES] is tse
    assert out.results["IPCW"] is ipcw
    assert t.attrs == {"prob": 0.95, "interval": "equal-tailed"}


# ------------------------------------------------------------------------ bayesian_tse_row
def test_bayesian_tse_row_numbers():
    hr = np.linspace(0.5, 1.5, 101)
    limit = THRESHOLDS["r_hat_stage2"]
    row = C.bayesian_tse_row(FakeTSE(np.log(hr), [1.0, limit, 1.001]))
    assert row["n"] == 40 and row["events"] == 25
    assert row["hr_median"] == pytest.approx(1.0)
    assert row["hr_mean"] == pytest.approx(hr.mean())
    assert row["lower"] == pytest.approx(np.quantile(hr, 0.025))
    assert row["upper"] == pytest.approx(np.quantile(hr, 0.975))
    assert row["p_hr_lt_1"] == pytest.approx(50 / 101)  # 1.0 itself is not below 1
    skewed = C.bayesian_tse_row(FakeTSE(np.log(np.linspace(0.5, 1.2, 71)), [1.0]))
    assert skewed["p_hr_lt_1"] == pytest.approx(50 / 71)
    assert skewed["converged"] is True  # below the limit passes too
    assert row["converged"] is True  # at the limit passes
    assert row["approximate"] is False and row["biased_if_prognostic"] is False
    assert row["diagnostics"] == f"largest stage-2 R-hat {limit:.3f} over 3 psi draws (limit {limit})"
    assert row["question"] == "q?"
    assert row["assumption"] == ("no unmeasured confounding; stage 1's likelihood approximately "
                                 "normal in psi (its uncertainty carried into stage 2)")
    assert row["interval"] == "posterior equal-tailed, mixed over stage-1 psi"
    narrow = C.bayesian_tse_row(FakeTSE(np.log(hr), [1.0]), prob=0.5)
    assert narrow["lower"] == pytest.approx(np.quantile(hr, 0.25))
    assert narrow["upper"] == pytest.approx(np.quantile(hr, 0.75))
    worse = C.bayesian_tse_row(FakeTSE(np.log(hr), [1.0, limit + 1e-6]))
    assert worse["converged"] is False
    assert all(type(row[k]) is float for k in ("hr_median", "hr_mean", "lower", "upper",
                                                 "p_hr_lt_1"))
