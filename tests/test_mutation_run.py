"""``sweep`` and ``load_sweep`` (pexsurv/workflows/sweep/run.py): which scenarios a resumed
sweep skips and fits, and how stored records are gathered into the result (each under its
own coordinates, missing ones kept apart, every error and warning listed). A skipped or
misplaced scenario would silently report the wrong number (issue 18; record in
benchmarks/mutation.md, section ``pexsurv/workflows/sweep/run.py``).

No fit: the executor is replaced by one that stores hand-built records, and the plans are
written by hand (plan_sweep has its own tests). The module is loaded from its file
(tests/isolated.py)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from isolated import load

from pexsurv.workflows.config import AnalysisConfig, ConfigError, write_example
from pexsurv.workflows.sweep.executors import ExecutionReport, ExecutorOptions
from pexsurv.workflows.sweep.plan import Scenario
from pexsurv.workflows.sweep.store import Store

run = load("pexsurv/workflows/sweep/run.py")

THRESHOLDS = (1.0, 0.8)


def record(key: str, labels: dict, hr: float, **extra) -> dict:
    return {"key": key, "labels": labels, "hr_median": hr, "hr_lower": hr / 2,
            "hr_upper": hr * 2, "log_hr_mean": math.log(hr), "log_hr_sd": 0.3,
            "max_r_hat": 1.001, "min_ess": 900.0, "divergences": 0,
            "p_hr_lt": {"1.0": 0.9, "0.8": 0.6}, "converged": True, "seed": 7,
            "compiled": False, "error": None, "warnings": [], **extra}


@dataclass
class FakeTask:
    key: str
    labels: dict


@dataclass
class FakePlan:
    """What sweep and load_sweep read of a SweepPlan."""

    dims: dict
    scenarios: tuple
    thresholds: tuple = THRESHOLDS
    tasks: tuple = field(init=False)

    def __post_init__(self):
        self.tasks = tuple(FakeTask(s.key, dict(s.coords)) for s in self.scenarios)

    def to_dict(self):
        return {"dims": [[k, list(v)] for k, v in self.dims.items()],
                "thresholds": list(self.thresholds),
                "scenarios": [{"key": s.key, "coords": dict(s.coords), "config": {}}
                              for s in self.scenarios]}


# 2 x 2 grid, keys k00..k11 (sd index, cuts index); the HR of a cell is 0.5 + 0.1 * (2 i + j)
DIMS = {"sd": (1.0, 0.5), "cuts": ("a", "b")}
SCENARIOS = tuple(Scenario(coords={"sd": sd, "cuts": c}, config={}, key=f"k{i}{j}")
                  for i, sd in enumerate(DIMS["sd"]) for j, c in enumerate(DIMS["cuts"]))
HR = {f"k{i}{j}": 0.5 + 0.1 * (2 * i + j) for i in range(2) for j in range(2)}


class FakeExecutor:
    """Stores a record for each task (as execute does) and remembers what it was given."""

    def __init__(self, fail: set = frozenset()):
        self.calls = []
        self.fail = fail

    def __call__(self, tasks, store, options):
        self.calls.append(([t.key for t in tasks], options))
        for t in tasks:
            if t.key in self.fail:
                store.put({"key": t.key, "labels": t.labels, "error": "RuntimeError: boom",
                           "seed": 3, "warnings": []})
            else:
                store.put(record(t.key, t.labels, HR[t.key]))
        return ExecutionReport(fitted=len(tasks), compiles=1, problems=["a worker died"])


@pytest.fixture()
def fake(monkeypatch):
    """sweep() with the plan given by the test and the fake executor."""
    executor = FakeExecutor()
    plans = []
    monkeypatch.setattr(run, "execute", executor)
    monkeypatch.setattr(run, "plan_sweep", lambda config, grid, thresholds: plans.append(
        (config, grid, thresholds)) or FakePlan(DIMS, SCENARIOS, tuple(thresholds)))
    return executor, plans


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> AnalysisConfig:
    folder = tmp_path_factory.mktemp("run")
    toml_path, _ = write_example(folder)
    return AnalysisConfig.from_toml(toml_path)


# ------------------------------------------------------------------ as_config
def test_as_config_accepts_a_config_a_dict_and_a_file(base):
    assert run.as_config(base) is base
    from_dict = run.as_config(base.to_dict())
    assert isinstance(from_dict, AnalysisConfig) and from_dict.to_dict() == base.to_dict()
    assert from_dict.base == Path(".")
    from_file = run.as_config(base.source)
    assert from_file.to_dict() == base.to_dict() and from_file.base == base.base
    assert run.as_config(str(base.source)).source == base.source


# ------------------------------------------------------------------ sweep
def test_sweep_writes_the_plan_fits_everything_then_resumes_nothing(fake, base, tmp_path):
    executor, plans = fake
    options = ExecutorOptions(progress=False)
    result = run.sweep(base, {"sd": [1.0]}, store=tmp_path / "s", thresholds=[1.0, 0.8],
                       options=options)
    assert plans == [(base, {"sd": [1.0]}, [1.0, 0.8])]
    assert executor.calls == [(["k00", "k01", "k10", "k11"], options)]
    assert json.loads((tmp_path / "s" / "plan.json").read_text()) == \
        FakePlan(DIMS, SCENARIOS).to_dict()
    assert (result.fitted, result.compiles, result.problems) == (4, 1, ["a worker died"])
    assert result.store == tmp_path / "s"
    # Again: nothing left to fit, the executor is not called, the result is the same.
    again = run.sweep(base, {"sd": [1.0]}, store=tmp_path / "s", thresholds=[1.0, 0.8],
                      progress=False)
    assert len(executor.calls) == 1
    assert (again.fitted, again.compiles, again.problems) == (0, 0, [])
    assert again.records == result.records
    np.testing.assert_array_equal(again.dataset["hr_median"], result.dataset["hr_median"])


def test_sweep_resumes_only_the_unfinished_and_refits_all_without_resume(fake, base, tmp_path):
    executor, _ = fake
    store = Store(tmp_path)
    store.put(record("k01", {"sd": 1.0, "cuts": "b"}, 0.25))
    store.put(record("k10", {"sd": 0.5, "cuts": "a"}, 0.35))
    result = run.sweep(base, {}, store=tmp_path, progress=False, workers=3)
    keys, options = executor.calls[0]
    assert keys == ["k00", "k11"]
    assert (options.workers, options.progress, options.executor) == (3, False, "serial")
    # the stored records were kept, the others written now
    assert [r["hr_median"] for r in result.records] == [HR["k00"], 0.25, 0.35, HR["k11"]]
    result = run.sweep(base, {}, store=tmp_path, resume=False, progress=False)
    assert executor.calls[1][0] == ["k00", "k01", "k10", "k11"]
    assert [r["hr_median"] for r in result.records] == [HR[k] for k in sorted(HR)]


def test_sweep_passes_the_default_threshold(fake, base, tmp_path):
    _, plans = fake
    run.sweep(base, {}, store=tmp_path, progress=False)
    assert plans[0][2] == (1.0,)


def test_sweep_refuses_options_given_twice_before_writing(fake, base, tmp_path):
    with pytest.raises(TypeError, match="next to options="):
        run.sweep(base, {}, store=tmp_path / "s", options=ExecutorOptions(), workers=2)
    assert not (tmp_path / "s").exists()


def test_sweep_options_are_keyword_only(fake, base, tmp_path):
    with pytest.raises(TypeError):
        run.sweep(base, {}, tmp_path)  # store must be named


# ------------------------------------------------------------------ load_sweep
def _stored(tmp_path, keys=("k00", "k01", "k11")) -> Store:
    store = Store(tmp_path)
    store.write_plan(FakePlan(DIMS, SCENARIOS).to_dict())
    for i, j in ((int(k[1]), int(k[2])) for k in keys):
        key = f"k{i}{j}"
        store.put(record(key, {"sd": DIMS["sd"][i], "cuts": DIMS["cuts"][j]}, HR[key]))
    return store


def test_load_sweep_puts_each_record_at_its_coordinates(tmp_path):
    _stored(tmp_path)
    for given in (tmp_path, str(tmp_path), Store(tmp_path)):
        result = run.load_sweep(given)
        assert result.store == tmp_path and isinstance(result.store, Path)
        ds = result.dataset
        assert list(ds["hr_median"].dims) == ["sd", "cuts"]
        np.testing.assert_array_equal(ds["hr_median"].values, [[0.5, 0.6], [np.nan, 0.8]])
        assert ds["status"].values.tolist() == [["converged", "converged"],
                                                ["missing", "converged"]]
        assert ds["threshold"].values.tolist() == [1.0, 0.8]
        assert [r and r["key"] for r in result.records] == ["k00", "k01", None, "k11"]
        assert (result.fitted, result.compiles, result.problems) == (0, 0, [])


def test_load_sweep_reads_the_dimension_order_of_the_plan(tmp_path):
    """Coordinates are looked up by dimension name, in the plan's order."""
    store = _stored(tmp_path)
    saved = store.read_plan()
    saved["dims"] = saved["dims"][::-1]
    store.write_plan(saved)
    ds = run.load_sweep(tmp_path).dataset
    assert list(ds["hr_median"].dims) == ["cuts", "sd"]
    np.testing.assert_array_equal(ds["hr_median"].values, [[0.5, np.nan], [0.6, 0.8]])


def test_load_sweep_with_a_plan_object_and_report(tmp_path):
    store = _stored(tmp_path, keys=("k00",))
    plan = FakePlan(DIMS, SCENARIOS[:2])  # only the first two scenarios are planned
    report = ExecutionReport(fitted=5, compiles=2, problems=["p1", "p2"])
    result = run.load_sweep(store, plan=plan, report=report)
    assert (result.fitted, result.compiles, result.problems) == (5, 2, ["p1", "p2"])
    assert [r and r["key"] for r in result.records] == ["k00", None]
    np.testing.assert_array_equal(result.dataset["hr_median"].values,
                                  [[0.5, np.nan], [np.nan, np.nan]])


def test_records_not_in_the_plan_are_left_out(tmp_path):
    store = _stored(tmp_path)
    store.put(record("stale", {"sd": 1.0, "cuts": "a"}, 9.0))  # an older plan's scenario
    result = run.load_sweep(tmp_path)
    assert [r and r["key"] for r in result.records] == ["k00", "k01", None, "k11"]
    assert result.dataset["hr_median"].values[0, 0] == 0.5


def test_problems_list_errors_then_warnings_with_their_coordinates(tmp_path):
    store = _stored(tmp_path, keys=("k00",))
    store.put({"key": "k01", "labels": {"sd": 1.0, "cuts": "b"}, "error": "RuntimeError: boom",
               "seed": 3})
    store.put(record("k10", {"sd": 0.5, "cuts": "a"}, 0.7,
                     warnings=["UserWarning: w1", "UserWarning: w2"]))
    store.put(record("k11", {"sd": 0.5, "cuts": "b"}, 0.8, error=""))
    report = ExecutionReport(problems=["a worker died"])
    result = run.load_sweep(tmp_path, report=report)
    assert result.problems == ["a worker died", "[cuts=b, sd=1.0] RuntimeError: boom",
                               "[cuts=a, sd=0.5] UserWarning: w1",
                               "[cuts=a, sd=0.5] UserWarning: w2"]
    assert report.problems == ["a worker died"]  # the report is not changed
    assert result.dataset["status"].values.tolist() == [["converged", "error"],
                                                        ["converged", "converged"]]
    assert result.dataset["seed"].values.tolist() == [[7, 3], [7, 7]]


def test_a_folder_without_plan_is_not_a_sweep_store(tmp_path):
    with pytest.raises(ConfigError) as info:
        run.load_sweep(tmp_path)
    assert str(info.value) == f"store {tmp_path}: no plan.json (not a sweep store)"


def test_load_sweep_options_are_keyword_only(tmp_path):
    _stored(tmp_path)
    with pytest.raises(TypeError):
        run.load_sweep(tmp_path, None)
