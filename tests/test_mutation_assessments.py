"""PFS at scheduled assessments (pexsurv/workflows/assessments.py) without a fit: the summary
of one fit from chosen draws, every table number against hand arithmetic, which data are
fitted with which compiled model, sampler and spec (issue 18; record in
benchmarks/mutation.md, section ``pexsurv/workflows/assessments.py``).

The module is loaded from its file (``tests/isolated.py``). ``fit`` and ``compile_spec`` are
replaced in the loaded module by recorders returning stand-in fits (a posterior ``hr`` of 81
chosen draws, read by the real :func:`pexsurv.diagnostics.hr_table`); ``median_survival`` by
a stand-in returning the fit's chosen median draws (dims ``chain, draw, arm`` as documented).
81 draws make the equal-tailed quantiles draws of their own: position ``p * 80`` is 2 and 78
at 95%, 4 and 76 at 90%, 20 and 60 at 50%.
"""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from isolated import load

from pexsurv import TrialData
from pexsurv.fitting import SamplerConfig
from pexsurv.models import PiecewiseExponential

M = load("pexsurv/workflows/assessments.py")

K = np.arange(81)
ORDER = np.random.default_rng(18).permutation(81)  # draws stored out of order


def draws(center: float, step: float) -> np.ndarray:
    """81 draws ``center + (k - 40) * step``, shuffled, as 3 chains of 27: median ``center``,
    the i-th smallest ``center + (i - 40) * step``."""
    return (center + (K - 40) * step)[ORDER].reshape(3, 27)


def trial(ref, exp, *, lower=None) -> TrialData:
    """Arms ``"ctl"`` (reference, code 0) and ``"exp"``: (time, event) pairs per patient;
    ``lower``: time_lower per patient (interval-censored where below an event's time)."""
    rows = [("ctl", t, e) for t, e in ref] + [("exp", t, e) for t, e in exp]
    df = pd.DataFrame(rows, columns=["arm", "time", "event"]).assign(id=range(len(rows)))
    if lower is not None:
        df["lo"] = lower
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm", reference="ctl",
                                    id="id", time_lower=None if lower is None else "lo")


# Kaplan-Meier by hand. ctl: 4 events at 1, 2, 3, 4: S(2) = 2/4 = 0.5 -> median 2.
# exp: events at 2, 6, 8, 10, censored at 4: S(2) = 4/5, S(6) = 4/5 * 2/3 = 0.533,
# S(8) = 0.533 * 1/2 = 0.267 -> median 8.
CTL = [(1.0, 1), (2.0, 1), (3.0, 1), (4.0, 1)]
EXP = [(2.0, 1), (4.0, 0), (6.0, 1), (8.0, 1), (10.0, 1)]
EXACT = trial(CTL, EXP)
# Interval-censored: ctl rows 0 and 2 (0.5 < 1, 2.5 < 3), exp row 2 (5 < 6): 3 of 9.
INTERVAL = trial(CTL, EXP, lower=[0.5, 2.0, 2.5, 4.0, 2.0, 4.0, 5.0, 8.0, 10.0])


class Fit:
    """A FitResult stand-in: what hr_table and the median stand-in read."""

    def __init__(self, data: TrialData, hr: np.ndarray, medians: np.ndarray, *,
                 converged: bool = True) -> None:
        self.data = data
        self.idata = {"posterior": {"hr": xr.DataArray(hr, dims=("chain", "draw"))}}
        self.convergence = SimpleNamespace(passed=converged,
                                           headline="ok" if converged else "R-hat 1.2")
        self.approximate = False
        self.medians = xr.DataArray(medians, dims=("chain", "draw", "arm"))


def fit_of(data: TrialData, hr: float, ctl: float, exp: float, **kw) -> Fit:
    """HR draws with median ``hr`` (step 1/1024); median PFS draws with medians ``ctl`` and
    ``exp`` (step 1/16)."""
    return Fit(data, draws(hr, 1 / 1024),
               np.stack([draws(ctl, 1 / 16), draws(exp, 1 / 16)], axis=-1), **kw)


@pytest.fixture
def medians_called(monkeypatch):
    calls = []

    def median_survival(result):
        calls.append(result)
        return result.medians

    monkeypatch.setattr(M, "median_survival", median_survival)
    return calls


HR_KEYS = ["n", "events", "hr_median", "hr_mean", "lower", "upper", "p_hr_lt_1", "converged",
           "approximate", "diagnostics"]
SUMMARY_KEYS = HR_KEYS + ["interval_censored"] + [
    f"{k}{arm}{s}" for arm in ("ctl", "exp")
    for k, s in (("median_", ""), ("median_", "_lower"), ("median_", "_upper"),
                 ("km_median_", ""))]


# --------------------------------------------------------------------------- pfs_fit_summary
def test_summary_of_exact_data_by_hand(medians_called):
    # hr draws 0.5 + (k - 40) / 64: median 0.5, the 2nd and 78th smallest 0.5 - 38/64 and
    # 0.5 + 38/64; below 1 when k - 40 < 32, i.e. k < 72: P(HR < 1) = 72/81.
    result = Fit(EXACT, draws(0.5, 1 / 64),
                 np.stack([draws(15.0, 0.25), draws(28.0, 0.5)], axis=-1))
    row = M.pfs_fit_summary(result)
    assert medians_called == [result]
    assert list(row) == SUMMARY_KEYS
    assert row["n"] == 9 and row["events"] == 8
    assert row["hr_median"] == 0.5
    assert row["lower"] == pytest.approx(0.5 - 38 / 64, abs=1e-12)
    assert row["upper"] == pytest.approx(0.5 + 38 / 64, abs=1e-12)
    assert row["p_hr_lt_1"] == pytest.approx(72 / 81, abs=1e-15)
    assert row["converged"] is True and row["diagnostics"] == "ok"
    assert row["interval_censored"] == 0 and isinstance(row["interval_censored"], int)
    # ctl: 15 + (i - 40) / 4 -> 15, 5.5, 24.5; exp: 28 + (i - 40) / 2 -> 28, 9, 47
    expected = {"median_ctl": 15.0, "median_ctl_lower": 5.5, "median_ctl_upper": 24.5,
                "median_exp": 28.0, "median_exp_lower": 9.0, "median_exp_upper": 47.0,
                "km_median_ctl": 2.0, "km_median_exp": 8.0}
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, abs=1e-9), key
        assert type(row[key]) is float, key


@pytest.mark.parametrize("prob, i_lo, i_hi", [(0.9, 4, 76), (0.5, 20, 60), (0.95, 2, 78)])
def test_summary_interval_probability(medians_called, prob, i_lo, i_hi):
    result = Fit(EXACT, draws(0.5, 1 / 64),
                 np.stack([draws(15.0, 0.25), draws(28.0, 0.5)], axis=-1))
    row = M.pfs_fit_summary(result, prob=prob)
    got = [row[k] for k in ("lower", "upper", "median_ctl_lower", "median_ctl_upper",
                            "median_exp_lower", "median_exp_upper")]
    want = [0.5 + (i_lo - 40) / 64, 0.5 + (i_hi - 40) / 64, 15 + (i_lo - 40) / 4,
            15 + (i_hi - 40) / 4, 28 + (i_lo - 40) / 2, 28 + (i_hi - 40) / 2]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert row["median_ctl"] == 15.0 and row["median_exp"] == 28.0


def test_summary_of_interval_censored_data_has_no_km_median(medians_called):
    result = Fit(INTERVAL, draws(0.5, 1 / 64),
                 np.stack([draws(15.0, 0.25), draws(28.0, 0.5)], axis=-1), converged=False)
    row = M.pfs_fit_summary(result)
    assert list(row) == SUMMARY_KEYS
    assert row["interval_censored"] == 3
    assert math.isnan(row["km_median_ctl"]) and math.isnan(row["km_median_exp"])
    assert row["median_ctl"] == 15.0 and row["median_exp"] == 28.0
    assert row["converged"] is False and row["diagnostics"] == "R-hat 1.2"
    assert row["n"] == 9 and row["events"] == 8


@pytest.mark.parametrize("lower, km_ctl, km_exp", [
    # time_lower loaded, every event exact (time_lower = time): both medians by hand above.
    ([1.0, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0, 10.0], 2.0, 8.0),
    # only the reference arm interval-censored: the experimental arm keeps its median.
    ([0.5, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0, 10.0], math.nan, 8.0),
])
def test_summary_km_median_is_missing_only_for_an_arm_with_interval_censored_events(
        medians_called, lower, km_ctl, km_exp):
    result = Fit(trial(CTL, EXP, lower=lower), draws(0.5, 1 / 64),
                 np.stack([draws(15.0, 0.25), draws(28.0, 0.5)], axis=-1))
    row = M.pfs_fit_summary(result)
    np.testing.assert_equal([row["km_median_ctl"], row["km_median_exp"]], [km_ctl, km_exp])


def test_summary_arms_follow_the_data_labels(medians_called):
    """Another reference label: columns named by the data's arms, code 0 the reference."""
    rows = [("B", 1.0, 1), ("B", 3.0, 1), ("B", 5.0, 1), ("A", 2.0, 1), ("A", 4.0, 1)]
    data = TrialData.from_dataframe(
        pd.DataFrame(rows, columns=["arm", "t", "e"]).assign(id=range(5)),
        time="t", event="e", arm="arm", reference="B", id="id")
    assert data.arms == ("B", "A")
    result = Fit(data, draws(0.5, 1 / 64), np.stack([draws(7.0, 0.25), draws(9.0, 0.25)], -1))
    row = M.pfs_fit_summary(result)
    # B: 1, 3, 5 -> S(3) = 1/3 <= 0.5 -> 3; A: 2, 4 -> S(2) = 1/2 -> 2
    assert (row["median_B"], row["median_A"]) == (7.0, 9.0)
    assert (row["km_median_B"], row["km_median_A"]) == (3.0, 2.0)


# --------------------------------------------------------------------------- _shape_key
SPEC = PiecewiseExponential(cuts=(1.0, 2.0, 4.0))


def test_shape_key():
    assert M._shape_key(SPEC, EXACT) == ((1.0, 2.0, 4.0), 0)
    assert M._shape_key(SPEC, INTERVAL) == ((1.0, 2.0, 4.0), 9)
    # time_lower loaded but every event exact: the exact model's shapes
    exact_lower = trial(CTL, EXP, lower=[t for t, _ in CTL + EXP])
    assert M._shape_key(SPEC, exact_lower) == ((1.0, 2.0, 4.0), 0)
    short = trial(CTL[:2], EXP, lower=[0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    assert M._shape_key(PiecewiseExponential(cuts=(3.0,)), short) == ((3.0,), 7)


# --------------------------------------------------------------------------- _versus_truth
def test_versus_truth_by_hand():
    table = pd.DataFrame({
        "baseline": ["a", "a", "b", "a", "b", "c"],
        "origin": ["r", "r", "r", "t", "r", "r"],
        "dating": ["visit", "true", "true", "true", "interval", "visit"],
        "hr_median": [0.6, 0.5, 0.8, 0.4, 1.0, 0.7],
        "median_x": [11.0, 10.0, 7.0, 5.0, 6.0, 3.0],
        "median_y": [20.0, 18.0, 9.0, 1.0, 12.0, 4.0]}, index=list("uvwxyz"))
    M._versus_truth(table, ["y", "x"])
    assert list(table.columns[-3:]) == ["hr_vs_true", "median_y_vs_true", "median_x_vs_true"]
    np.testing.assert_allclose(table["hr_vs_true"], [1.2, 1.0, 1.0, 1.0, 1.25, np.nan])
    np.testing.assert_allclose(table["median_x_vs_true"], [1.0, 0.0, 0.0, 0.0, -1.0, np.nan])
    np.testing.assert_allclose(table["median_y_vs_true"], [2.0, 0.0, 0.0, 0.0, 3.0, np.nan])
    assert list(table.index) == list("uvwxyz")


# --------------------------------------------------------------------------- compare_pfs_dating
# (baseline, origin) -> dating -> (HR median, median PFS ctl, median PFS exp)
NUMBERS = {
    ("enrolment", "randomization"): {"true": (0.5, 10.0, 20.0), "visit": (0.75, 11.0, 23.0),
                                     "midpoint": (0.625, 10.5, 21.0),
                                     "interval": (0.5625, 10.25, 22.0)},
    ("enrolment", "treatment_start"): {"true": (0.25, 8.0, 12.0), "visit": (0.5, 9.0, 12.5),
                                       "midpoint": (0.375, 8.5, 13.0),
                                       "interval": (0.3125, 7.0, 11.0)},
    ("infusion", "randomization"): {"true": (1.0, 6.0, 6.0), "visit": (1.25, 7.0, 5.0),
                                    "midpoint": (1.5, 6.5, 5.5), "interval": (0.875, 5.0, 7.5)},
    ("infusion", "treatment_start"): {"true": (2.0, 4.0, 3.0), "visit": (3.0, 4.5, 2.0),
                                      "midpoint": (2.5, 4.25, 2.5),
                                      "interval": (1.0, 3.0, 4.0)},
}
# label -> (hr_vs_true, median_exp_vs_true, median_ctl_vs_true), by hand from NUMBERS
VS_TRUE = {
    ("enrolment", "randomization"): {"true": (1.0, 0.0, 0.0), "visit": (1.5, 3.0, 1.0),
                                     "midpoint": (1.25, 1.0, 0.5),
                                     "interval": (1.125, 2.0, 0.25)},
    ("enrolment", "treatment_start"): {"true": (1.0, 0.0, 0.0), "visit": (2.0, 0.5, 1.0),
                                       "midpoint": (1.5, 1.0, 0.5),
                                       "interval": (1.25, -1.0, -1.0)},
    ("infusion", "randomization"): {"true": (1.0, 0.0, 0.0), "visit": (1.25, -1.0, 1.0),
                                    "midpoint": (1.5, -0.5, 0.5),
                                    "interval": (0.875, 1.5, -1.0)},
    ("infusion", "treatment_start"): {"true": (1.0, 0.0, 0.0), "visit": (1.5, -1.0, 0.5),
                                      "midpoint": (1.25, -0.5, 0.25),
                                      "interval": (0.5, 1.0, -1.0)},
}
CUTS = [1, 2, 4]  # ints: the spec gets floats


class Sim:
    """An AssessedTrial stand-in: fresh data per call (exact or interval-censored, 9
    patients from randomization, 7 from treatment start), warning as
    ``TrialData.from_treatment_start`` does; ``arm_labels`` experimental first."""

    params = {"arm_labels": ("exp", "ctl")}

    def __init__(self) -> None:
        self.calls, self.made = [], []

    def trial_data(self, *, baseline, dating, origin):
        self.calls.append((baseline, dating, origin))
        ctl = CTL if origin == "randomization" else CTL[:2]
        lower = None
        if dating == "interval":
            lower = [0.5 * t if e else t for t, e in ctl + EXP]
        if origin == "treatment_start":
            warnings.warn("2 patient(s) never started treatment: excluded", UserWarning,
                          stacklevel=2)
        data = trial(ctl, EXP, lower=lower)
        self.made.append((data, (baseline, origin, dating)))
        return data

    def key_of(self, data):
        return next(k for d, k in self.made if d is data)


class Fitter:
    """Stands in for ``compile_spec`` and ``fit``: records, returns fits of NUMBERS."""

    def __init__(self, sim: Sim) -> None:
        self.sim, self.compiles, self.fits = sim, [], []

    def compile_spec(self, spec, data, config):
        self.compiles.append((spec, self.sim.key_of(data), config))
        return SimpleNamespace(number=len(self.compiles))

    def fit(self, spec, data, *, sampler, compiled):
        baseline, origin, dating = self.sim.key_of(data)
        self.fits.append((spec, (baseline, origin, dating), sampler, compiled))
        return fit_of(data, *NUMBERS[baseline, origin][dating])


@pytest.fixture
def fitter(monkeypatch, medians_called):
    sim = Sim()
    f = Fitter(sim)
    monkeypatch.setattr(M, "compile_spec", f.compile_spec)
    monkeypatch.setattr(M, "fit", f.fit)
    return f


ALL = dict(baselines=("enrolment", "infusion"), origins=("randomization", "treatment_start"),
           datings=("true", "visit", "midpoint", "interval"))


def label(baseline, origin, dating):
    return f"{baseline} scan, from {origin}, {dating}"


def test_every_dating_baseline_and_origin_by_hand(fitter):
    cache = {}
    out = M.compare_pfs_dating(fitter.sim, CUTS, seed=7, draws=30, progress=True,
                               compiled=cache, **ALL)
    keys = [(b, o, d) for b in ALL["baselines"] for o in ALL["origins"]
            for d in ALL["datings"]]
    assert fitter.sim.calls == [(b, d, o) for b, o, d in keys]
    table = out.table
    assert list(table.index) == [label(*k) for k in keys]
    assert list(table.columns) == (["baseline", "origin", "dating"] + SUMMARY_KEYS
                                   + ["hr_vs_true", "median_exp_vs_true", "median_ctl_vs_true"])
    assert table.attrs == {"prob": 0.95, "interval": "equal-tailed"}
    for b, o, d in keys:
        row = table.loc[label(b, o, d)]
        hr, ctl, exp = NUMBERS[b, o][d]
        assert (row["baseline"], row["origin"], row["dating"]) == (b, o, d)
        assert (row["hr_median"], row["median_ctl"], row["median_exp"]) == (hr, ctl, exp)
        assert row["n"] == (9 if o == "randomization" else 7)
        assert row["interval_censored"] == (row["events"] if d == "interval" else 0)
        got = [row["hr_vs_true"], row["median_exp_vs_true"], row["median_ctl_vs_true"]]
        np.testing.assert_allclose(got, VS_TRUE[b, o][d], rtol=0, atol=1e-12)
        assert out.results[label(b, o, d)].data is fitter.sim.made[keys.index((b, o, d))][0]
    assert list(out.results) == [label(*k) for k in keys]


def test_spec_sampler_and_compiled_models(fitter):
    cache = {}
    M.compare_pfs_dating(fitter.sim, CUTS, seed=7, draws=30, progress=True, compiled=cache,
                         **ALL)
    spec = PiecewiseExponential(cuts=(1.0, 2.0, 4.0))
    config = SamplerConfig(draws=30, tune=30, seed=7, progress=True)
    # exactly dated data share one model; interval-censored one per number of patients
    cuts = (1.0, 2.0, 4.0)
    assert [k for _, k, _ in fitter.compiles] == [
        ("enrolment", "randomization", "true"), ("enrolment", "randomization", "interval"),
        ("enrolment", "treatment_start", "interval")]
    assert all(s == spec and c == config for s, _, c in fitter.compiles)
    assert list(cache) == [(cuts, 0), (cuts, 9), (cuts, 7)]
    assert [m.number for m in cache.values()] == [1, 2, 3]
    assert len(fitter.fits) == 16
    for s, (b, o, d), sampler, compiled in fitter.fits:
        assert s == spec and sampler == config
        n = 0 if d != "interval" else (9 if o == "randomization" else 7)
        assert compiled is cache[cuts, n]
    # the cache is re-used by the next call: nothing compiled
    M.compare_pfs_dating(fitter.sim, CUTS, compiled=cache, **ALL)
    assert len(fitter.compiles) == 3 and len(cache) == 3
    assert len(fitter.fits) == 32


def test_without_a_cache_each_call_compiles_its_own(fitter):
    M.compare_pfs_dating(fitter.sim, CUTS, datings=("visit", "interval"))
    M.compare_pfs_dating(fitter.sim, CUTS, datings=("visit", "interval"))
    assert len(fitter.compiles) == 4


def test_defaults(fitter):
    out = M.compare_pfs_dating(fitter.sim, (0.5, 1.5))
    keys = [(b, "randomization", d) for b in ("enrolment", "infusion")
            for d in ("true", "visit", "midpoint", "interval")]
    assert list(out.table.index) == [label(*k) for k in keys]
    config = SamplerConfig(draws=1000, tune=1000, seed=None, progress=False)
    assert config.chains == 4
    assert all(sampler == config for *_, sampler, _ in fitter.fits)
    assert {s for s, *_ in fitter.fits} == {PiecewiseExponential(cuts=(0.5, 1.5))}


def test_without_the_true_dating_there_is_nothing_to_compare_with(fitter):
    out = M.compare_pfs_dating(fitter.sim, CUTS, datings=("visit", "interval"))
    for column in ("hr_vs_true", "median_exp_vs_true", "median_ctl_vs_true"):
        assert out.table[column].isna().all()
    assert list(out.table["hr_median"]) == [0.75, 0.5625, 1.25, 0.875]


def test_the_comparison_is_frozen(fitter):
    out = M.compare_pfs_dating(fitter.sim, CUTS, datings=("true",))
    with pytest.raises(AttributeError):
        out.table = None
    assert out != M.PFSDatingComparison(table=out.table, results=out.results)  # by identity


@pytest.mark.parametrize("kw, message", [
    ({"baselines": ("scan",)},
     "baselines must be a non-empty selection of ('enrolment', 'infusion'), got ['scan']"),
    ({"baselines": ("infusion", "scan")},
     "baselines must be a non-empty selection of ('enrolment', 'infusion'), got "
     "['infusion', 'scan']"),
    ({"baselines": ()},
     "baselines must be a non-empty selection of ('enrolment', 'infusion'), got []"),
    ({"datings": ("exact",)},
     "datings must be a non-empty selection of ('true', 'visit', 'midpoint', 'interval'), "
     "got ['exact']"),
    ({"datings": ()},
     "datings must be a non-empty selection of ('true', 'visit', 'midpoint', 'interval'), "
     "got []"),
    ({"origins": ("infusion",)},
     "origins must be a non-empty selection of ('randomization', 'treatment_start'), got "
     "['infusion']"),
    ({"origins": ()},
     "origins must be a non-empty selection of ('randomization', 'treatment_start'), got []"),
])
def test_refusals_before_anything_is_fitted(fitter, kw, message):
    with pytest.raises(ValueError) as err:
        M.compare_pfs_dating(fitter.sim, CUTS, **kw)
    assert str(err.value) == message
    assert fitter.sim.calls == [] and fitter.fits == [] and fitter.compiles == []


def test_options_are_keyword_only(fitter):
    with pytest.raises(TypeError):
        M.compare_pfs_dating(fitter.sim, CUTS, ("enrolment",))
    with pytest.raises(TypeError):
        M.pfs_fit_summary(fit_of(EXACT, 0.5, 1.0, 2.0), 0.9)
