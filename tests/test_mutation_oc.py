"""Operating characteristics (pexsurv/workflows/oc.py) without a fit: which trials are
simulated with which seeds and populations, which tasks and plan reach the executor, how the
records come back into the trials table, and every summary (power, type I error, bias,
coverage and their MCSEs) against hand arithmetic and :mod:`pexsurv.workflows.metrics`
(issue 18; record in benchmarks/mutation.md, section ``pexsurv/workflows/oc.py``).

The module is loaded from its file (``tests/isolated.py``); the executor is a stand-in
(``execute`` replaced in the loaded module) that writes records of known numbers to the
store and records the tasks it was given.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from isolated import load

from pexsurv import TrialData
from pexsurv.intervals import equal_events
from pexsurv.simulate import CT041_LIKE_PARAMS, simulate_trial
from pexsurv.workflows.config import ConfigError
from pexsurv.workflows.metrics import bias, coverage
from pexsurv.workflows.sweep.executors import ExecutionReport, ExecutorOptions
from pexsurv.workflows.sweep.keys import derived_seed, settings_key, structure_key
from pexsurv.workflows.sweep.result import DecisionRule

O = load("pexsurv/workflows/oc.py")

# A small trial with constant hazards; labels of our own, so the reference arm is read from
# the design's simulate parameters.
SIM = {"n": 40, "progression": ((), (0.3,)), "death_pre_progression": ((), (0.02,)),
       "death_post_progression": ((), (0.3,)), "manufacturing_mean": 0.5,
       "manufacturing_sd": 0.1, "allocation": (1, 1), "accrual": 12.0, "cutoff": 24.0,
       "arm_labels": ("new", "old"), "switch_prob": 0.0}
DESIGN = O.OCDesign(simulate=SIM, endpoint="pfs", model={"cuts": {"rule": "equal_events",
                                                                  "k": 2}},
                    sampler={"draws": 50, "tune": 50, "chains": 2}, seed=5)
# PFS has no switch_time: crossover comes after progression (OCDesign.analysis).
COLUMNS = {"time": "pfs_time", "event": "pfs_event", "arm": "arm", "reference": "old",
           "id": "id", "treatment_start": "treatment_start", "censor_time": "censor_time"}
OS_COLUMNS = {**COLUMNS, "time": "os_time", "event": "os_event", "switch_time": "switch_time"}


def trial_seed(design_seed, i):
    return derived_seed(settings_key({"design_seed": design_seed, "trial": i}))


def itt(params, seed, columns=COLUMNS):
    return TrialData.from_dataframe(simulate_trial(**params, seed=seed).data, **columns)


# Per (scenario, trial): HR median, lower, upper, P(HR < 1), P(HR < 0.8), converged; or an
# error. Scenario "effect" (true HR 0.5), "null" (true HR 1), "harm" (true HR 1.25),
# "unknown" (no true HR).
NUMBERS = {
    "effect": [(0.40, 0.20, 0.55, 0.990, 0.90, True), (0.50, 0.30, 0.70, 0.976, 0.80, True),
               (0.80, 0.60, 1.10, 0.700, 0.40, False), (0.25, 0.10, 0.45, 0.975, 0.99, True)],
    "null": [(1.10, 0.70, 1.60, 0.300, 0.10, True), "ValueError: boom",
             (0.90, 0.60, 0.99, 0.985, 0.20, True), (1.00, 1.00, 1.40, 0.500, 0.15, True)],
    "harm": [(1.30, 1.25, 1.90, 0.010, 0.00, True), (1.10, 0.80, 1.25, 0.200, 0.05, True),
             (1.40, 1.26, 2.00, 0.001, 0.00, False), (0.95, 0.50, 1.24, 0.600, 0.30, True)],
    "unknown": [(0.60, 0.40, 0.90, 0.980, 0.70, True), (0.70, 0.50, 0.95, 0.960, 0.60, True),
                (0.65, 0.45, 0.92, 0.999, 0.65, True), (0.90, 0.60, 1.30, 0.700, 0.30, True)],
}
SCENARIOS = {"effect": {"hr_pfs": 0.5, "true_hr": 0.5}, "null": {"true_hr": 1},
             "harm": {"hr_pfs": 1.25, "true_hr": 1.25}, "unknown": {"hr_pfs": 0.7}}


class FakeExecute:
    """Stands in for ``execute``: stores a record of NUMBERS per task (problems of its own)."""

    def __init__(self, numbers=NUMBERS) -> None:
        self.numbers, self.calls = numbers, []

    def __call__(self, tasks, store, options, *, description):
        self.calls.append({"tasks": list(tasks), "options": options,
                           "description": description, "store": store.path})
        for t in tasks:
            got = self.numbers.get(t.labels["scenario"], NUMBERS["effect"])[t.labels["trial"]]
            record = {"key": t.key, "seed": t.sampler["seed"], "labels": dict(t.labels),
                      "compiled": False, "error": None}
            if isinstance(got, str):
                record["error"] = got
            else:
                med, lo, up, p1, p08, conv = got
                record.update(hr_median=med, hr_lower=lo, hr_upper=up, converged=conv,
                              p_hr_lt={"1.0": p1, "0.8": p08})
            store.put(record)
        return ExecutionReport(fitted=len(tasks), compiles=3, problems=["worker restarted"])


@pytest.fixture
def fake(monkeypatch):
    fake = FakeExecute()
    monkeypatch.setattr(O, "execute", fake)
    return fake


@functools.cache
def pilot_cuts():
    params = {**SIM, "hr_pfs": 0.5}
    return tuple(float(c) for c in equal_events(itt(params, trial_seed(5, 0)), k=2))


@pytest.fixture(scope="module")
def cached_runs(tmp_path_factory):
    return {}


def run(fake, tmp_path, rule="P(HR < 1) > 0.975", n_trials=4, **kwargs):
    return O.operating_characteristics(DESIGN, SCENARIOS, n_trials, rule,
                                       store=tmp_path / "store", progress=False, **kwargs)


# --- OCDesign --------------------------------------------------------------------------


def test_design_defaults():
    d = O.OCDesign()
    assert d.simulate == dict(CT041_LIKE_PARAMS) and type(d.simulate) is dict
    assert (d.endpoint, d.population, d.seed) == ("os", "itt", 1)
    assert d.model == {"type": "pem", "cuts": {"rule": "equal_events", "k": 4}}
    assert d.priors == {} and d.sampler == {}
    assert O.OCDesign().model is not d.model  # a fresh mapping per design
    assert d.to_dict() == {"simulate": dict(CT041_LIKE_PARAMS), "endpoint": "os",
                           "population": "itt", "model": d.model, "priors": {},
                           "sampler": {}, "seed": 1}
    assert O.TRUE_HR == "true_hr" and O._ENDPOINTS == ("os", "pfs")


def test_design_analysis_reads_the_simulated_columns():
    a = O.OCDesign(endpoint="os", population="treated", model={"cuts": [2.0]},
                   priors={"log_hr": {"dist": "Normal", "mu": 0.0, "sigma": 2.0}},
                   sampler={"draws": 10}).analysis()
    assert a.endpoint == "OS" and list(a.populations) == ["treated"]
    assert dict(a.data) == {"path": "simulated.csv", "time": "os_time", "event": "os_event",
                            "arm": "arm", "reference": "control", "id": "id",
                            "treatment_start": "treatment_start", "switch_time": "switch_time",
                            "censor_time": "censor_time"}
    assert dict(a.model)["cuts"] == [2.0] and dict(a.sampler) == {"draws": 10}
    assert dict(a.priors)["log_hr"]["sigma"] == 2.0
    # The reference arm follows the design's arm labels; cuts replace the model's.
    b = DESIGN.analysis(cuts=(1.5, 3.0))
    assert b.data["reference"] == "old" and b.data["time"] == "pfs_time"
    assert b.endpoint == "PFS" and list(b.model["cuts"]) == [1.5, 3.0]
    assert DESIGN.model["cuts"] == {"rule": "equal_events", "k": 2}  # the design is kept


def test_design_analysis_refuses_another_endpoint():
    with pytest.raises(ConfigError) as err:
        O.OCDesign(endpoint="dfs").analysis()
    assert str(err.value) == "design endpoint: 'dfs'; valid: os, pfs"


# --- trials and seeds ------------------------------------------------------------------


def test_trial_seed_is_the_key_derived_seed():
    assert O._trial_seed(5, 3) == trial_seed(5, 3)
    assert O._trial_seed(5, 3) != O._trial_seed(5, 2) != O._trial_seed(6, 2)


def test_trial_simulates_and_derives_the_population_without_warnings():
    params = {**SIM, "switch_prob": 0.5}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = O._trial(params, 17, OS_COLUMNS, "treated")
    full = itt(params, 17, OS_COLUMNS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        want = full.treated()
    assert got.n == want.n and np.array_equal(got.time, want.time)
    assert np.array_equal(O._itt(params, 17, OS_COLUMNS).time, full.time)


def test_population_ignores_only_user_warnings(monkeypatch):
    def loud(data):
        warnings.warn("excluded", UserWarning)
        warnings.warn("deprecated", DeprecationWarning)
        return data

    monkeypatch.setattr(O, "POPULATIONS", {"loud": loud})
    with pytest.warns(DeprecationWarning) as record:
        O._population("data", "loud")
    assert [type(w.message) for w in record] == [DeprecationWarning]


# --- the study: tasks, plan, records ----------------------------------------------------


def test_tasks_carry_recipe_seeds_structure_and_labels(fake, tmp_path):
    oc = run(fake, tmp_path, rule="P(HR < 0.8) >= 0.6")
    (call,) = fake.calls
    assert call["description"] == "trials" and call["store"] == tmp_path / "store"
    assert call["options"] == ExecutorOptions(progress=False)
    tasks = call["tasks"]
    assert [(t.labels["scenario"], t.labels["trial"]) for t in tasks] == [
        (s, i) for s in SCENARIOS for i in range(4)]
    cuts = pilot_cuts()
    analysis = DESIGN.analysis(cuts)
    for t in tasks:
        name, i = t.labels["scenario"], t.labels["trial"]
        params = {**SIM, **{k: v for k, v in SCENARIOS[name].items() if k != "true_hr"}}
        key = settings_key({"oc": {**DESIGN.to_dict(), "simulate": params, "cuts": cuts},
                            "trial": i, "thresholds": (0.8, 1.0)})
        assert t.key == key and t.thresholds == (0.8, 1.0)
        assert dict(t.labels) == {"scenario": name, "trial": i, "sim_seed": trial_seed(5, i)}
        spec = analysis.prepare(itt(params, trial_seed(5, 0))).spec
        sampler = analysis.sampler_config(spec, progress=False).to_dict()
        assert dict(t.sampler) == {**sampler, "seed": derived_seed(key)}
        assert t.sampler["progress"] is False and t.sampler["draws"] == 50
        assert dict(t.spec) == spec.to_dict() and list(spec.cuts) == list(cuts)
        data = itt(params, trial_seed(5, 0))
        assert t.structure == structure_key(spec, data, sampler)
        assert t.data.func is O._trial
        assert t.data.args == (params, trial_seed(5, i), COLUMNS, "itt")
    # Common random numbers: trial i has one simulation seed in every scenario.
    assert len({t.labels["sim_seed"] for t in tasks}) == 4
    assert len({t.key for t in tasks}) == len({t.sampler["seed"] for t in tasks}) == 16
    assert oc.fitted == 16 and oc.compiles == 3


def test_tasks_simulate_their_trial_in_the_population(fake, tmp_path):
    design = O.OCDesign(**{**DESIGN.to_dict(), "population": "treated", "endpoint": "os",
                           "model": {"cuts": [2.0, 4.0]}})
    O.operating_characteristics(design, {"s": {"switch_prob": 0.5}}, 2, store=tmp_path / "s",
                                progress=False)
    task = fake.calls[0]["tasks"][1]
    got = task.data()
    want = itt({**SIM, "switch_prob": 0.5}, trial_seed(5, 1), OS_COLUMNS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        want = want.treated()
    assert got.n == want.n < 40 and np.array_equal(got.time, want.time)
    assert task.thresholds == (1.0,)


def test_plan_is_written_before_the_fits(fake, tmp_path):
    oc = run(fake, tmp_path)
    plan = json.loads((tmp_path / "store" / "plan.json").read_text())
    assert plan["kind"] == "operating characteristics"
    assert plan["design"] == json.loads(json.dumps(DESIGN.to_dict()))
    assert plan["scenarios"] == json.loads(json.dumps(SCENARIOS))
    assert plan["n_trials"] == 4 and plan["decision"] == "P(HR < 1) > 0.975"
    assert plan["cuts"] == list(pilot_cuts())
    assert plan["keys"] == [t.key for t in fake.calls[0]["tasks"]]
    assert oc.store == tmp_path / "store" and isinstance(oc.store, Path)


def test_trials_table_from_the_records(fake, tmp_path):
    oc = run(fake, tmp_path, rule="P(HR < 0.8) >= 0.65")
    t = oc.trials
    assert list(t.columns) == ["scenario", "trial", "sim_seed", "seed", "error", "hr_median",
                               "hr_lower", "hr_upper", "converged", "p_hr_lt", "success"]
    assert t["scenario"].tolist() == [s for s in SCENARIOS for _ in range(4)]
    assert t["trial"].tolist() == list(range(4)) * 4
    assert t["sim_seed"].tolist() == [trial_seed(5, i) for i in range(4)] * 4
    assert t["seed"].tolist() == [tk.sampler["seed"] for tk in fake.calls[0]["tasks"]]
    row = t.iloc[5]  # null, trial 1: the error
    assert row["error"] == "ValueError: boom" and math.isnan(row["hr_median"])
    assert pd.isna(row["success"]) and pd.isna(row["p_hr_lt"])
    ok = t[t["error"].isna()]
    want = [x for s in SCENARIOS for x in NUMBERS[s] if not isinstance(x, str)]
    assert ok["hr_median"].tolist() == [x[0] for x in want]
    assert ok["hr_lower"].tolist() == [x[1] for x in want]
    assert ok["hr_upper"].tolist() == [x[2] for x in want]
    assert ok["converged"].tolist() == [x[5] for x in want]
    assert ok["p_hr_lt"].tolist() == [x[4] for x in want]  # the rule's threshold 0.8
    assert ok["success"].tolist() == [x[4] >= 0.65 for x in want]
    assert oc.problems == ["worker restarted", "null trial 1: ValueError: boom"]
    assert oc.rule == DecisionRule(0.8, 0.65, True)


def test_summary_table_by_hand(fake, tmp_path):
    oc = run(fake, tmp_path)
    table = oc.table
    assert list(table.index) == list(SCENARIOS) and table.index.name == "scenario"
    assert list(table.columns) == ["trials", "true_hr", "measure", "p_success",
                                   "p_success_mcse", "bias_log_hr", "bias_log_hr_mcse",
                                   "coverage", "coverage_mcse", "converged", "failed"]
    assert table.attrs["rule"] == "P(HR < 1) > 0.975"
    assert table["measure"].tolist() == ["power", "type I error", "type I error", "P(success)"]
    assert table["trials"].tolist() == [4, 3, 4, 4] and table["failed"].tolist() == [0, 1, 0, 0]
    assert table["true_hr"].tolist()[:3] == [0.5, 1.0, 1.25]
    assert table.loc["unknown", "true_hr"] is None or math.isnan(table.loc["unknown", "true_hr"])
    # P(HR < 1) > 0.975 (strict): effect 0.990, 0.976 succeed, 0.975 does not; null 0.985.
    expect_p = {"effect": 2 / 4, "null": 1 / 3, "harm": 0 / 4, "unknown": 2 / 4}
    for name, p in expect_p.items():
        n = table.loc[name, "trials"]
        assert table.loc[name, "p_success"] == pytest.approx(p, abs=1e-15)
        assert table.loc[name, "p_success_mcse"] == pytest.approx(math.sqrt(p * (1 - p) / n))
    assert table.loc["harm", "p_success_mcse"] == 0.0
    assert table["converged"].tolist() == pytest.approx([3 / 4, 1.0, 3 / 4, 1.0])
    for name, truth in (("effect", 0.5), ("null", 1.0), ("harm", 1.25)):
        got = [x for x in NUMBERS[name] if not isinstance(x, str)]
        med = np.array([x[0] for x in got])
        err = np.log(med) - math.log(truth)
        assert table.loc[name, "bias_log_hr"] == pytest.approx(err.mean(), abs=1e-14)
        assert table.loc[name, "bias_log_hr_mcse"] == pytest.approx(
            err.std(ddof=1) / math.sqrt(len(err)))
        covered = [lo <= truth <= up for _, lo, up, *_ in got]
        c = sum(covered) / len(covered)
        assert table.loc[name, "coverage"] == pytest.approx(c)
        assert table.loc[name, "coverage_mcse"] == pytest.approx(
            math.sqrt(c * (1 - c) / len(covered)))
        # ...and as pexsurv.workflows.metrics computes them.
        b = bias(np.log(med), math.log(truth))
        assert (table.loc[name, "bias_log_hr"], table.loc[name, "bias_log_hr_mcse"]) == (
            pytest.approx(b.value), pytest.approx(b.mcse))
        cv = coverage([x[1] for x in got], [x[2] for x in got], truth)
        assert table.loc[name, "coverage"] == pytest.approx(cv.value)
    # Intervals touching the truth cover it (null trial 3: lower 1.0; harm: 1.25 both ends).
    assert table.loc["null", "coverage"] == pytest.approx(2 / 3)
    assert table.loc["harm", "coverage"] == pytest.approx(2 / 4)
    assert table.loc["effect", "coverage"] == pytest.approx(2 / 4)
    for col in ("bias_log_hr", "bias_log_hr_mcse", "coverage", "coverage_mcse"):
        assert math.isnan(table.loc["unknown", col])


def test_summary_of_a_scenario_without_finished_trials():
    trials = pd.DataFrame({"scenario": ["a", "a", "b"], "error": ["E1", "E2", None],
                           "success": [None, None, True], "converged": [None, None, False],
                           "hr_median": [np.nan, np.nan, 0.5], "hr_lower": [np.nan, np.nan, 0.4],
                           "hr_upper": [np.nan, np.nan, 0.6]})
    table = O._summarize(trials, {"a": 0.7, "b": 0.5, "c": 2.0}, DecisionRule(1.0, 0.9))
    assert table["trials"].tolist() == [0, 1, 0] and table["failed"].tolist() == [2, 0, 0]
    assert table["measure"].tolist() == ["power", "power", "type I error"]
    for name in ("a", "c"):
        for col in ("p_success", "p_success_mcse", "bias_log_hr", "bias_log_hr_mcse",
                    "coverage", "coverage_mcse", "converged"):
            assert math.isnan(table.loc[name, col]), (name, col)
    assert table.loc["b", "p_success"] == 1.0 and table.loc["b", "converged"] == 0.0
    assert table.loc["b", "coverage"] == 1.0 and table.loc["b", "bias_log_hr"] == 0.0
    assert table.attrs["rule"] == "P(HR < 1) > 0.9"


def test_resume_fits_only_what_is_missing(fake, tmp_path):
    first = run(fake, tmp_path, n_trials=2)
    assert first.fitted == 8
    fake.calls.clear()
    again = run(fake, tmp_path, n_trials=3)
    assert [(t.labels["scenario"], t.labels["trial"]) for t in fake.calls[0]["tasks"]] == [
        (s, 2) for s in SCENARIOS]
    assert again.fitted == 4 and len(again.trials) == 12
    fake.calls.clear()
    done = run(fake, tmp_path, n_trials=3)
    assert fake.calls == [] and (done.fitted, done.compiles) == (0, 0)
    assert done.problems == ["null trial 1: ValueError: boom"]
    assert done.table["trials"].tolist() == [3, 2, 3, 3]
    fake.calls.clear()
    fresh = run(fake, tmp_path, n_trials=3, resume=False)
    assert len(fake.calls[0]["tasks"]) == 12 and fresh.fitted == 12


def test_records_missing_from_the_store_are_left_out(monkeypatch, tmp_path):
    def partial(tasks, store, options, *, description):
        FakeExecute()(tasks[:3], store, options, description=description)
        return ExecutionReport(fitted=3, compiles=1, problems=[])

    monkeypatch.setattr(O, "execute", partial)
    oc = run(None, tmp_path, n_trials=2)
    assert oc.trials["trial"].tolist() == [0, 1, 0]
    assert oc.table["trials"].tolist() == [2, 1, 0, 0]
    assert (oc.fitted, oc.compiles, oc.problems) == (3, 1, [])


def test_a_missing_record_in_the_middle_skips_only_that_trial(monkeypatch, tmp_path):
    def gappy(tasks, store, options, *, description):
        FakeExecute()([t for i, t in enumerate(tasks) if i != 1], store, options,
                      description=description)
        return ExecutionReport(fitted=len(tasks) - 1, compiles=1, problems=[])

    monkeypatch.setattr(O, "execute", gappy)
    oc = run(None, tmp_path, n_trials=2)
    assert oc.trials["scenario"].tolist() == ["effect", "null", "null", "harm", "harm",
                                              "unknown", "unknown"]
    assert oc.trials["trial"].tolist() == [0, 0, 1, 0, 1, 0, 1]


def test_executor_options_are_given_through(fake, tmp_path):
    options = ExecutorOptions(executor="serial", workers=3, progress=False)
    O.operating_characteristics(DESIGN, {"x": {}}, 1, store=tmp_path / "s", options=options)
    assert fake.calls[0]["options"] is options
    with pytest.raises(TypeError, match="unknown keyword"):
        O.operating_characteristics(DESIGN, {"x": {}}, 1, store=tmp_path / "s", bogus=1)


def test_a_design_mapping_is_accepted(fake, tmp_path):
    oc = O.operating_characteristics(DESIGN.to_dict(), {"x": {}}, 1, store=tmp_path / "s",
                                     progress=False)
    assert oc.trials["scenario"].tolist() == ["x"]
    assert fake.calls[0]["tasks"][0].labels["sim_seed"] == trial_seed(5, 0)


def test_a_true_hr_key_made_at_run_time_is_not_a_simulator_argument(fake, tmp_path):
    """Keys read from a file are not the interned literal: compared by value."""
    key = "".join(["true", "_hr"])
    oc = O.operating_characteristics(DESIGN, {"x": {key: 0.5, "hr_pfs": 0.5}}, 1,
                                     store=tmp_path / "s", progress=False)
    assert oc.table.loc["x", "true_hr"] == 0.5


def test_the_pilot_is_trial_zero_of_the_first_scenario(fake, tmp_path):
    """Cut points by the rule, from the first scenario's trial 0, in every scenario's fits."""
    O.operating_characteristics(DESIGN, {"first": {"hr_pfs": 0.5}, "second": {"n": 30}}, 1,
                                store=tmp_path / "s", progress=False)
    cuts = pilot_cuts()
    for task in fake.calls[0]["tasks"]:
        assert tuple(task.spec["cuts"]) == cuts


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize("n_trials", [0, -1, 2.0, True, "3"])
def test_n_trials_must_be_a_positive_integer(fake, tmp_path, n_trials):
    with pytest.raises(ConfigError) as err:
        run(fake, tmp_path, n_trials=n_trials)
    assert str(err.value) == f"n_trials: a positive integer, got {n_trials!r}"
    assert fake.calls == [] and not (tmp_path / "store").exists()


def test_one_trial_is_enough(fake, tmp_path):
    assert len(run(fake, tmp_path, n_trials=1).trials) == 4


def test_scenarios_are_required(fake, tmp_path):
    with pytest.raises(ConfigError) as err:
        O.operating_characteristics(DESIGN, {}, 2, store=tmp_path / "s")
    assert str(err.value) == "scenarios: give at least one (name -> simulator overrides)"


def test_a_bad_rule_is_refused(fake, tmp_path):
    with pytest.raises(ValueError, match="decision rule"):
        run(fake, tmp_path, rule="HR < 1")


def test_a_pilot_that_cannot_be_simulated_names_the_first_scenario(fake, tmp_path):
    with pytest.raises(ConfigError) as err:
        O.operating_characteristics(DESIGN, {"bad": {"bogus": 1}, "fine": {}}, 2,
                                    store=tmp_path / "s")
    assert str(err.value).startswith("scenario 'bad': ")
    assert isinstance(err.value.__cause__, TypeError)
    with pytest.raises(ConfigError) as err:
        O.operating_characteristics(DESIGN, {"neg": {"n": -5}}, 2, store=tmp_path / "s")
    assert str(err.value).startswith("scenario 'neg': ")
    assert isinstance(err.value.__cause__, ValueError)
    # A key sorting after "true_hr" reaches the pilot too (only true_hr is left out).
    with pytest.raises(ConfigError) as err:
        O.operating_characteristics(DESIGN, {"late": {"zeta": 1}}, 2, store=tmp_path / "s")
    assert str(err.value).startswith("scenario 'late': ")
    assert fake.calls == []


def test_invalid_scenarios_are_listed_and_nothing_is_fitted(fake, tmp_path):
    scenarios = {"ok": {}, "neg_hr": {"true_hr": -1.0}, "zero_hr": {"true_hr": 0},
                 "text_hr": {"true_hr": "1"}, "bad_n": {"n": -3}, "bogus": {"bogus": 2}}
    with pytest.raises(ConfigError) as err:
        O.operating_characteristics(DESIGN, scenarios, 2, store=tmp_path / "s")
    lines = str(err.value).split("\n")
    assert lines[0] == "5 scenario(s) are invalid; nothing was fitted:"
    assert lines[1] == "  scenario 'neg_hr': true_hr must be a positive number, got -1.0"
    assert lines[2] == "  scenario 'zero_hr': true_hr must be a positive number, got 0"
    assert lines[3] == "  scenario 'text_hr': true_hr must be a positive number, got '1'"
    assert lines[4].startswith("  scenario 'bad_n': ") and lines[5].startswith("  scenario 'bogus': ")
    assert len(lines) == 6 and fake.calls == [] and not (tmp_path / "s").exists()


def test_at_most_ten_invalid_scenarios_are_listed(fake, tmp_path):
    scenarios = {"ok": {}, **{f"s{i}": {"true_hr": -i - 1.0} for i in range(12)}}
    with pytest.raises(ConfigError) as err:
        O.operating_characteristics(DESIGN, scenarios, 2, store=tmp_path / "s")
    lines = str(err.value).split("\n")
    assert lines[0] == "12 scenario(s) are invalid; nothing was fitted:"
    assert len(lines) == 11 and lines[-1].startswith("  scenario 's9': ")


def test_a_scenario_invalid_for_the_analysis_is_refused(fake, tmp_path):
    design = O.OCDesign(**{**DESIGN.to_dict(), "endpoint": "os",
                           "model": {"type": "rpsft", "cuts": [2.0]}})
    with pytest.raises(ConfigError) as err:
        O.operating_characteristics(design, {"x": {"switch_prob": 0.5},
                                             "none": {"switch_prob": 0.0}}, 1,
                                    store=tmp_path / "s")
    assert str(err.value).startswith("1 scenario(s) are invalid; nothing was fitted:\n"
                                     "  scenario 'none': [model] on population 'itt': RPSFT "
                                     "needs switchers")


# --- run_oc_file ------------------------------------------------------------------------


@pytest.fixture
def called(monkeypatch):
    calls = []

    def oc(design, scenarios, n_trials, rule, *, store, options):
        calls.append(dict(design=design, scenarios=scenarios, n_trials=n_trials, rule=rule,
                          store=store, options=options))
        return "result"

    monkeypatch.setattr(O, "operating_characteristics", oc)
    return calls


def write(tmp_path, text):
    path = tmp_path / "oc.toml"
    path.write_text(text)
    return path


def test_run_oc_file_reads_design_scenarios_and_options(called, tmp_path):
    path = write(tmp_path, """
store = "out"
n_trials = 7
decision = "P(HR < 0.9) >= 0.8"
executor = "serial"
workers = 2
[design]
endpoint = "pfs"
population = "treated"
seed = 9
[design.simulate]
n = 50
allocation = [1, 1]
arm_labels = ["a", "b"]
hr_cuts = [2.0]
hr_pfs = [0.5, 0.6]
[design.model]
cuts = [1.0, 2.0]
[scenarios.null]
true_hr = 1.0
hr_pfs = 1.0
[scenarios.as_is]
""")
    assert O.run_oc_file(path) == "result"
    (c,) = called
    d = c["design"]
    assert isinstance(d, O.OCDesign)
    assert (d.endpoint, d.population, d.seed) == ("pfs", "treated", 9)
    assert d.simulate == {**CT041_LIKE_PARAMS, "n": 50, "allocation": (1, 1),
                          "arm_labels": ("a", "b"), "hr_cuts": (2.0,), "hr_pfs": (0.5, 0.6)}
    assert d.model == {"cuts": [1.0, 2.0]}
    assert c["scenarios"] == {"null": {"true_hr": 1.0, "hr_pfs": 1.0}, "as_is": {}}
    assert c["n_trials"] == 7 and c["rule"] == DecisionRule(0.9, 0.8, True)
    assert c["store"] == tmp_path.resolve() / "out"
    assert c["options"] == ExecutorOptions(executor="serial", workers=2, progress=True)


def test_run_oc_file_defaults_and_overrides(called, tmp_path):
    path = write(tmp_path, "n_trials = 2\n[scenarios.x]\nhr_pfs = 0.4\n")
    O.run_oc_file(path, store=tmp_path / "elsewhere", executor="serial", workers=1,
                  progress=False)
    (c,) = called
    assert c["design"] == O.OCDesign(simulate=dict(CT041_LIKE_PARAMS))
    assert c["rule"] == DecisionRule(1.0, 0.975, False)
    assert c["store"] == tmp_path / "elsewhere"
    assert c["options"] == ExecutorOptions(executor="serial", workers=1, progress=False)
    called.clear()
    O.run_oc_file(str(path), scheduler="tcp://h:1")
    assert called[0]["store"] == tmp_path.resolve() / "oc_results"
    assert called[0]["options"].executor == "dask"
    assert called[0]["options"].scheduler == "tcp://h:1"


def test_run_oc_file_refuses_unknown_design_keys_and_bad_rules(called, tmp_path):
    path = write(tmp_path, "n_trials = 2\n[design]\nendpont = 'os'\nzz = 1\n[scenarios.x]\n")
    with pytest.raises(ConfigError) as err:
        O.run_oc_file(path)
    assert str(err.value) == (f"{path}: [design] unknown key(s) ['endpont', 'zz']; valid keys: "
                              "simulate, endpoint, population, model, priors, sampler, seed")
    path = write(tmp_path, "n_trials = 2\ndecision = 'P(HR > 1)'\n[scenarios.x]\n")
    with pytest.raises(ConfigError) as err:
        O.run_oc_file(path)
    assert str(err.value).startswith(f"{path}: decision: decision rule 'P(HR > 1)'")
    assert isinstance(err.value.__cause__, ValueError)
    path = write(tmp_path, "n_trials = 2\nbogus = 1\n[scenarios.x]\n")
    with pytest.raises(ConfigError, match="bogus"):
        O.run_oc_file(path)
    path = write(tmp_path, "[scenarios.x]\n")
    with pytest.raises(ConfigError, match="n_trials"):
        O.run_oc_file(path)
    path = write(tmp_path, "n_trials = 2\nexecutor = 'nope'\n[scenarios.x]\n")
    with pytest.raises(ConfigError, match="executor must be one of"):
        O.run_oc_file(path)
    assert called == []


def test_run_oc_file_takes_the_path_by_name_and_the_overrides_by_name_only(called,
                                                                          tmp_path):
    path = write(tmp_path, "n_trials = 2\n[scenarios.x]\n")
    O.run_oc_file(path=path)
    assert called[0]["n_trials"] == 2
    with pytest.raises(TypeError):
        O.run_oc_file(path, "serial")


def test_run_oc_file_keeps_other_lists(called, tmp_path):
    path = write(tmp_path, "n_trials = 2\n[design.simulate]\nprogression = [[], [0.3]]\n"
                           "[scenarios.x]\n")
    O.run_oc_file(path)
    assert called[0]["design"].simulate["progression"] == [[], [0.3]]


# --- the records are values ---------------------------------------------------------------


def test_design_and_result_are_frozen_with_defaults():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        DESIGN.seed = 2
    result = O.OCResult(table=pd.DataFrame(), trials=pd.DataFrame(),
                        rule=DecisionRule(1.0, 0.9), store=Path("s"))
    assert (result.fitted, result.compiles, result.problems) == (0, 0, [])
    assert O.OCResult(table=None, trials=None, rule=None, store=None).problems is not \
        result.problems
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.fitted = 3


def test_each_scenario_is_validated_on_its_trial_zero(fake, tmp_path, monkeypatch):
    seeds = []
    real = O._itt

    def itt_(params, seed, columns):
        seeds.append((params.get("hr_pfs"), seed))
        return real(params, seed, columns)

    monkeypatch.setattr(O, "_itt", itt_)
    O.operating_characteristics(DESIGN, {"a": {"hr_pfs": 0.5}, "b": {"hr_pfs": 0.7}}, 3,
                                store=tmp_path / "s", progress=False)
    # The pilot (the first scenario's trial 0), then each scenario's trial 0.
    assert seeds == [(0.5, trial_seed(5, 0)), (0.5, trial_seed(5, 0)), (0.7, trial_seed(5, 0))]
