"""What a sweep stores of each fit and how it gets there (pexsurv/workflows/sweep/executors.py):
``summarize_fit`` (the HR's median, interval, P(HR < t), log-HR mean and sd, convergence) on
stand-in fit results whose every number is computed here from the draws; ``_run_task``
(record fields, warnings, timings, errors, one core per worker fit, the compiled-model
cache) with ``compile_spec`` and ``fit`` replaced; the options, chunks, sink and the serial
executor. A wrong number or a lost record would be reported silently (issue 18; record in
benchmarks/mutation.md, section ``pexsurv/workflows/sweep/executors.py``). The process and
Dask executors (``_processes``, ``_dask``) start worker processes and are tested in
tests/test_sweep.py; their mutants were left out.

The module is loaded from its file (tests/isolated.py); ``pexsurv.fitting`` is the
package's, patched per test."""

from __future__ import annotations

import os
import socket
import statistics
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from isolated import load

import pexsurv.fitting
from pexsurv.fitting import ConvergenceWarning, SamplerConfig
from pexsurv.models import PiecewiseExponential
from pexsurv.workflows.config import ConfigError
from pexsurv.workflows.sweep.store import Store

ex = load("pexsurv/workflows/sweep/executors.py")

# 2 chains x 5 draws; two draws exactly at 0.8 and one exactly at 1.0
HR = np.array([[0.5, 0.8, 1.0, 1.2, 0.7], [0.9, 0.8, 1.5, 0.6, 2.0]])


def table(r_hat=(1.001, 1.004), bulk=(900.0, 450.0), tail=(800.0, 600.0)) -> pd.DataFrame:
    return pd.DataFrame({"r_hat": r_hat, "ess_bulk": bulk, "ess_tail": tail},
                        index=["log_hr", "log_hazard_base[0]"])


def fake_result(hr=HR, tab=None, passed=True, divergences=2, events=(1, 0, 1, 1),
                timings=None):
    posterior = {"hr": SimpleNamespace(values=hr)}
    return SimpleNamespace(
        posterior=posterior,
        convergence=SimpleNamespace(table=table() if tab is None else tab, passed=passed,
                                    divergences=np.int64(divergences)),
        data=SimpleNamespace(n=np.int64(len(events)), event=np.array(events)),
        timings={"sampling_seconds": 1.5} if timings is None else timings)


# ------------------------------------------------------------------ summarize_fit
def test_summary_numbers_from_the_draws():
    got = ex.summarize_fit(fake_result(), (1, 0.8, 2.5))
    draws = sorted(HR.ravel())
    # linear interpolation between order statistics at 2.5% and 97.5% of 10 draws
    lower = draws[0] + 0.225 * (draws[1] - draws[0])
    upper = draws[8] + 0.775 * (draws[9] - draws[8])
    logs = [float(np.log(h)) for h in HR.ravel()]
    assert got["hr_median"] == pytest.approx((draws[4] + draws[5]) / 2, abs=0)
    assert got["hr_lower"] == pytest.approx(lower, rel=1e-12)
    assert got["hr_upper"] == pytest.approx(upper, rel=1e-12)
    assert got["log_hr_mean"] == pytest.approx(statistics.fmean(logs), rel=1e-12)
    assert got["log_hr_sd"] == pytest.approx(statistics.stdev(logs), rel=1e-12)  # n - 1
    # strictly below: the draws at 1.0 and 0.8 do not count
    assert got["p_hr_lt"] == {"1.0": 0.6, "0.8": 0.3, "2.5": 1.0}
    assert got["converged"] is True
    assert got["max_r_hat"] == 1.004
    assert got["min_ess"] == 450.0
    assert got["divergences"] == 2 and type(got["divergences"]) is int
    assert got["n"] == 4 and type(got["n"]) is int
    assert got["events"] == 3 and type(got["events"]) is int
    for k in ("hr_median", "hr_lower", "hr_upper", "log_hr_mean", "log_hr_sd", "max_r_hat",
              "min_ess"):
        assert type(got[k]) is float, k
    assert set(got) == {"hr_median", "hr_lower", "hr_upper", "log_hr_mean", "log_hr_sd",
                        "p_hr_lt", "converged", "max_r_hat", "min_ess", "divergences", "n",
                        "events"}


def test_summary_takes_the_smallest_ess_of_bulk_and_tail_and_the_verdict():
    got = ex.summarize_fit(fake_result(tab=table(bulk=(900.0, 450.0), tail=(800.0, 120.5)),
                                       passed=False), (1.0,))
    assert got["min_ess"] == 120.5 and got["converged"] is False
    got = ex.summarize_fit(fake_result(tab=table(r_hat=(1.2, 1.01), bulk=(30.0, 450.0),
                                                 tail=(800.0, 90.0))), (1.0,))
    assert (got["max_r_hat"], got["min_ess"]) == (1.2, 30.0)


def test_summary_without_diagnostics_is_nan():
    got = ex.summarize_fit(fake_result(tab=table()[:0]), (1.0,))
    assert np.isnan(got["max_r_hat"]) and np.isnan(got["min_ess"])
    got = ex.summarize_fit(fake_result(tab=table()[:1]), (1.0,))  # one row is enough
    assert (got["max_r_hat"], got["min_ess"]) == (1.001, 800.0)


def test_summary_interval_is_the_95_percent_one():
    hr = np.exp(np.linspace(-2.0, 2.0, 4001))
    got = ex.summarize_fit(fake_result(hr=hr), (1.0,))
    assert got["hr_lower"] == pytest.approx(np.exp(-2.0 + 0.025 * 4.0), rel=1e-9)
    assert got["hr_upper"] == pytest.approx(np.exp(-2.0 + 0.975 * 4.0), rel=1e-9)
    assert got["hr_median"] == pytest.approx(1.0, abs=1e-12)
    assert got["p_hr_lt"] == {"1.0": 2000 / 4001}


# ------------------------------------------------------------------ _run_task
SPEC = PiecewiseExponential(cuts=[2.0])
DATA = SimpleNamespace(n=4, event=np.array([1, 0, 1, 1]))


def task(key="k1", structure="s1", sampler=None, data=DATA, labels=None, thresholds=(1.0,)):
    return ex.Task(key=key, structure=structure, spec=SPEC.to_dict(), data=data,
                   sampler=sampler or {**SamplerConfig().to_dict(), "seed": 42},
                   thresholds=thresholds, labels=labels if labels is not None else {"sd": 1.0})


class Fitting:
    """Stand-ins for pexsurv.fitting.compile_spec and fit that record their calls."""

    def __init__(self, monkeypatch, result=None, fail=None, warn=()):
        self.compiles, self.fits = [], []
        self.result, self.fail, self.warn = result or fake_result(), fail, warn
        monkeypatch.setattr(pexsurv.fitting, "compile_spec", self.compile_spec)
        monkeypatch.setattr(pexsurv.fitting, "fit", self.fit)
        monkeypatch.setattr(ex, "_COMPILED", type(ex._COMPILED)())

    def compile_spec(self, spec, data, config):
        model = SimpleNamespace(compile_seconds=np.float32(2.5), n=len(self.compiles))
        self.compiles.append((spec, data, config))
        return model

    def fit(self, spec, data, *, sampler, compiled):
        self.fits.append((spec, data, sampler, compiled))
        for category, text in self.warn:
            warnings.warn(text, category)
        if self.fail:
            raise self.fail
        return self.result


def test_record_of_a_fit(monkeypatch):
    fitting = Fitting(monkeypatch, warn=[(UserWarning, "b"), (UserWarning, "a"),
                                         (UserWarning, "b"), (ConvergenceWarning, "r-hat"),
                                         (RuntimeWarning, "c")])
    labels = {"sd": 1.0}
    t = task(labels=labels, thresholds=(1.0, 0.8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the caught warnings must not escape
        record = ex._run_task(t, single_core=False)
    assert record["key"] == "k1" and record["structure"] == "s1" and record["seed"] == 42
    assert record["labels"] == {"sd": 1.0} and record["labels"] is not labels
    assert record["worker"] == f"{socket.gethostname()}:{os.getpid()}"
    assert record["compiled"] is True and record["error"] is None
    assert "traceback" not in record
    assert record["warnings"] == ["RuntimeWarning: c", "UserWarning: a", "UserWarning: b"]
    summary = ex.summarize_fit(fitting.result, (1.0, 0.8))
    assert {k: record[k] for k in summary} == summary
    seconds = record["seconds"]
    assert set(seconds) == {"data", "compile", "fit", "sampling", "summary", "total"}
    assert seconds["compile"] == 2.5 and type(seconds["compile"]) is float
    assert seconds["sampling"] == 1.5
    assert all(seconds[k] >= 0 for k in ("data", "fit", "summary"))
    assert seconds["total"] >= seconds["data"] + seconds["fit"] + seconds["summary"]
    # the spec rebuilt from its dict, the data and the compiled model reach fit
    (spec, data, config, compiled), = fitting.fits
    assert spec == SPEC and data is DATA and compiled.n == 0
    assert config == SamplerConfig(**{**SamplerConfig().to_dict(), "seed": 42})
    assert fitting.compiles[0][0] == SPEC and fitting.compiles[0][2] == config


def test_timings_are_the_differences_of_the_clock(monkeypatch):
    Fitting(monkeypatch)
    clock = iter([1.0, 2.0, 3.0, 10.0, 25.0])  # start, data, fit start, fit end, end
    monkeypatch.setattr(ex.time, "perf_counter", lambda: next(clock))
    seconds = ex._run_task(task(), single_core=False)["seconds"]
    assert seconds == {"data": 1.0, "compile": 2.5, "fit": 7.0, "sampling": 1.5,
                       "summary": 15.0, "total": 24.0}


def test_missing_sampling_time_is_nan(monkeypatch):
    Fitting(monkeypatch, result=fake_result(timings={}))
    assert np.isnan(ex._run_task(task(), single_core=False)["seconds"]["sampling"])


def test_data_recipe_is_called_in_the_worker(monkeypatch):
    fitting = Fitting(monkeypatch)
    ex._run_task(task(data=lambda: DATA), single_core=False)
    assert fitting.fits[0][1] is DATA


def test_compiled_models_are_reused_per_structure_and_the_oldest_dropped(monkeypatch):
    fitting = Fitting(monkeypatch)
    order = ["a", "a", "b", "c", "d", "a", "e", "b", "a", "f", "c"]
    records = ex.run_chunk([task(key=f"k{i}", structure=s) for i, s in enumerate(order)])
    # a cache of four, least recently used dropped: b is dropped when e arrives (a was used
    # again after b), then c when f arrives
    assert [r["compiled"] for r in records] == [True, False, True, True, True, False, True,
                                               True, False, True, True]
    assert [r["seconds"]["compile"] for r in records[:3]] == [2.5, 0.0, 2.5]
    assert list(ex._COMPILED) == ["b", "a", "f", "c"]
    assert [fit[3].n for fit in fitting.fits] == [0, 0, 1, 2, 3, 0, 4, 5, 0, 6, 7]
    assert ex._CACHE_SIZE == 4


def test_worker_fits_run_on_one_core_for_nutpie_only(monkeypatch):
    fitting = Fitting(monkeypatch)
    nutpie = {**SamplerConfig(options={"target": 1}).to_dict(), "seed": 1}
    pymc = {**SamplerConfig(sampler="pymc").to_dict(), "seed": 1}
    ex.run_chunk([task(sampler=nutpie), task(sampler=pymc)])  # single_core by default
    ex.run_chunk([task(sampler=nutpie)], single_core=False)
    assert [f[2].options for f in fitting.fits] == [{"target": 1, "cores": 1}, {},
                                                     {"target": 1}]
    assert [f[2].sampler for f in fitting.fits] == ["nutpie", "pymc", "nutpie"]
    assert fitting.fits[0][2].seed == 1 and fitting.fits[0][2].draws == 1000


def test_a_failing_fit_is_recorded_not_raised(monkeypatch):
    Fitting(monkeypatch, fail=RuntimeError("sampler exploded"))
    record = ex._run_task(task(), single_core=True)
    assert record["error"] == "RuntimeError: sampler exploded"
    assert "Traceback" in record["traceback"] and "sampler exploded" in record["traceback"]
    assert "hr_median" not in record and "seconds" not in record
    assert record["compiled"] is True and record["key"] == "k1"


def test_the_stored_traceback_is_cut_to_six_frames(monkeypatch):
    chain = {}  # ten distinct nested calls (a recursion's frames would be folded)
    exec("def f0():\n    raise RuntimeError('deep')\n"
         + "".join(f"def f{i}():\n    f{i - 1}()\n" for i in range(1, 10)), chain)
    fitting = Fitting(monkeypatch)
    monkeypatch.setattr(pexsurv.fitting, "fit", lambda *a, **kw: chain["f9"]())
    record = ex._run_task(task(), single_core=False)
    assert record["traceback"].count('  File "') == 6
    assert not fitting.fits


def test_a_bad_spec_is_recorded(monkeypatch):
    fitting = Fitting(monkeypatch)
    bad = ex.Task(key="k", structure="s", spec={"model": "NoSuchModel"}, data=DATA,
                  sampler={"seed": 1})
    record = ex._run_task(bad, single_core=False)
    assert record["error"] and not fitting.fits and record["compiled"] is False


def test_task_defaults_and_identity():
    t = ex.Task(key="k", structure="s", spec={}, data=DATA, sampler={})
    assert t.thresholds == (1.0,) and t.labels == {}
    assert ex.Task(key="k", structure="s", spec={}, data=DATA, sampler={}).labels is not t.labels
    assert t != ex.Task(key="k", structure="s", spec={}, data=DATA, sampler={})  # eq=False
    with pytest.raises(AttributeError):
        t.key = "x"


# ------------------------------------------------------------------ ExecutorOptions
def test_options_defaults_and_executor_choice():
    o = ex.ExecutorOptions()
    assert (o.executor, o.workers, o.client, o.scheduler, o.chunk_size, o.max_restarts,
            o.progress, o.callback) == ("serial", None, None, None, None, 3, True, None)
    assert ex.ExecutorOptions(scheduler="tcp://h:1").executor == "dask"
    assert ex.ExecutorOptions(client=object()).executor == "dask"
    assert ex.ExecutorOptions(executor="processes", scheduler="tcp://h:1").executor == "processes"
    assert ex.ExecutorOptions(scheduler="").executor == "serial"
    assert ex.EXECUTORS == ("serial", "processes", "dask")
    with pytest.raises(AttributeError):
        o.workers = 2


@pytest.mark.parametrize("name", ["workers", "chunk_size"])
@pytest.mark.parametrize("value", [0, -1, True, 2.0, "2"])
def test_counts_must_be_positive_integers(name, value):
    with pytest.raises(ValueError) as info:
        ex.ExecutorOptions(**{name: value})
    assert str(info.value) == f"{name} must be a positive integer, got {value!r}"


def test_count_of_one_is_accepted():
    assert ex.ExecutorOptions(workers=1, chunk_size=1).chunk_size == 1


def test_unknown_executor():
    with pytest.raises(ValueError) as info:
        ex.ExecutorOptions(executor="threads")
    assert str(info.value) == ("executor must be one of ('serial', 'processes', 'dask'), "
                               "got 'threads'")


def test_options_from_a_file_keep_its_keys_and_name_it():
    o = ex.ExecutorOptions.from_file({"executor": "processes", "workers": 2, "chunk_size": 3,
                                      "scheduler": None, "n_trials": 5, "progress": False}, "x.toml")
    assert (o.executor, o.workers, o.chunk_size, o.progress) == ("processes", 2, 3, True)
    assert ex.ExecutorOptions.from_file({"scheduler": "tcp://h:1"}, "x").executor == "dask"
    assert ex.ExecutorOptions.FILE_KEYS == ("executor", "workers", "scheduler", "chunk_size")
    with pytest.raises(ConfigError) as info:
        ex.ExecutorOptions.from_file({"workers": 0}, "sweep.toml")
    assert str(info.value) == "sweep.toml: workers must be a positive integer, got 0"
    assert isinstance(info.value.__cause__, ValueError)


def test_resolve_options_or_keywords():
    given = ex.ExecutorOptions(workers=2)
    assert ex.ExecutorOptions.resolve(given, {}) is given
    o = ex.ExecutorOptions.resolve(None, {"workers": 3, "progress": False})
    assert (o.workers, o.progress) == (3, False)
    assert ex.ExecutorOptions.resolve(None, {}) == ex.ExecutorOptions()
    with pytest.raises(TypeError) as info:
        ex.ExecutorOptions.resolve(None, {"colour": 1, "bad": 2, "workers": 2})
    assert str(info.value) == ("unknown keyword(s) ['bad', 'colour']; executor options: executor, "
                               "workers, client, scheduler, chunk_size, max_restarts, progress, "
                               "callback")
    with pytest.raises(TypeError) as info:
        ex.ExecutorOptions.resolve(given, {"workers": 2, "chunk_size": 1})
    assert str(info.value) == ("executor options ['chunk_size', 'workers'] given as keywords next "
                               "to options=ExecutorOptions(...): put them in one place")
    with pytest.raises(TypeError, match="unknown"):
        ex.ExecutorOptions.resolve(given, {"colour": 1})


def test_overridden_replaces_given_settings_only():
    o = ex.ExecutorOptions(executor="processes", workers=2, chunk_size=4)
    assert o.overridden() == o
    assert o.overridden(workers=None, chunk_size=8) == ex.ExecutorOptions(
        executor="processes", workers=2, chunk_size=8)
    assert o.overridden(scheduler="tcp://h:1").executor == "dask"
    assert o.overridden(scheduler="tcp://h:1", executor="serial").executor == "serial"
    assert o.overridden(scheduler="").executor == "processes"
    assert o.overridden(executor=None, workers=3).executor == "processes"


# ------------------------------------------------------------------ report, chunks, sink
def test_execution_report_defaults_are_fresh():
    a, b = ex.ExecutionReport(), ex.ExecutionReport()
    assert (a.fitted, a.compiles, a.restarts, a.unfinished, a.problems) == (0, 0, 0, [], [])
    a.problems.append("x")
    a.unfinished.append("k")
    assert b.problems == [] and b.unfinished == []


def test_chunks_group_by_structure_in_first_seen_order():
    tasks = [task(key=f"k{i}", structure=s) for i, s in enumerate("babcab")]
    got = [[t.key for t in c] for c in ex.chunks(tasks, 2)]
    assert got == [["k0", "k2"], ["k5"], ["k1", "k4"], ["k3"]]
    assert [[t.key for t in c] for c in ex.chunks(tasks, 1)] == [
        ["k0"], ["k2"], ["k5"], ["k1"], ["k4"], ["k3"]]
    assert [[t.key for t in c] for c in ex.chunks(tasks, 16)] == [
        ["k0", "k2", "k5"], ["k1", "k4"], ["k3"]]
    assert ex.chunks([], 3) == []


def test_sink_stores_counts_advances_and_calls_back(tmp_path):
    store, report, advanced, seen = Store(tmp_path), ex.ExecutionReport(), [], []
    sink = ex._Sink(store, report, advanced.append, seen.append)
    records = [{"key": "a", "compiled": True}, {"key": "b", "compiled": False},
               {"key": "c", "compiled": True}]
    sink(iter(records))
    assert store.finished() == {"a", "b", "c"}
    assert (report.fitted, report.compiles) == (3, 2)
    assert advanced == [1, 1, 1] and seen == records
    ex._Sink(store, report, advanced.append, None)([{"key": "d", "compiled": False}])
    assert report.fitted == 4 and report.compiles == 2


# ------------------------------------------------------------------ execute
def test_serial_execution_stores_every_record_on_all_cores(monkeypatch, tmp_path):
    fitting = Fitting(monkeypatch)
    seen = []
    tasks = [task(key=f"k{i}", structure=s) for i, s in enumerate("aab")]
    report = ex.execute(tasks, Store(tmp_path), ex.ExecutorOptions(progress=False,
                                                                   callback=seen.append))
    assert (report.fitted, report.compiles, report.restarts, report.problems) == (3, 2, 0, [])
    assert Store(tmp_path).finished() == {"k0", "k1", "k2"}
    assert [r["key"] for r in seen] == ["k0", "k1", "k2"]
    assert [f[2].options for f in fitting.fits] == [{}, {}, {}]  # serial: not single-core


def test_execute_passes_workers_and_chunk_size(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(ex, "_processes", lambda tasks, sink, **kw: calls.append(kw))
    monkeypatch.setattr(ex, "_dask", lambda tasks, sink, **kw: calls.append(("dask", kw)))
    monkeypatch.setattr(ex.os, "cpu_count", lambda: 3)
    store = Store(tmp_path)
    opts = ex.ExecutorOptions(executor="processes", progress=False, max_restarts=5)
    for n in (0, 1, 6, 7, 95, 96, 97, 200):
        ex.execute([task(key=str(i)) for i in range(n)], store, opts)
    # about two chunks per worker: ceil(n / 6), at least 1, at most 16
    assert [c["chunk_size"] for c in calls] == [1, 1, 1, 2, 16, 16, 16, 16]
    assert all(c["workers"] == 3 and c["max_restarts"] == 5 and c["client"] is None
               and c["scheduler"] is None for c in calls)
    calls.clear()
    ex.execute([task(key=str(i)) for i in range(9)], store,
               ex.ExecutorOptions(executor="processes", workers=2, progress=False))
    ex.execute([task(key=str(i)) for i in range(9)], store,
               ex.ExecutorOptions(executor="processes", workers=2, chunk_size=7, progress=False))
    assert [(c["workers"], c["chunk_size"]) for c in calls] == [(2, 3), (2, 7)]
    client = object()
    ex.execute([task()], store, ex.ExecutorOptions(client=client, scheduler="tcp://h:1",
                                                   progress=False))
    assert calls[-1][0] == "dask" and calls[-1][1]["client"] is client
    assert calls[-1][1]["scheduler"] == "tcp://h:1"
    monkeypatch.setattr(ex.os, "cpu_count", lambda: None)
    calls.clear()
    ex.execute([task(key=str(i)) for i in range(5)], store, opts)
    assert (calls[0]["workers"], calls[0]["chunk_size"]) == (1, 3)


def test_execute_description_is_keyword_only(tmp_path):
    with pytest.raises(TypeError):
        ex.execute([], Store(tmp_path), ex.ExecutorOptions(progress=False), "oc")


def test_execute_reports_through_the_sink(monkeypatch, tmp_path):
    def fake_processes(tasks, sink, **kw):
        sink([{"key": t.key, "compiled": i == 0} for i, t in enumerate(tasks)])
        sink.report.problems.append("p")

    monkeypatch.setattr(ex, "_processes", fake_processes)
    seen = []
    report = ex.execute([task(key="a"), task(key="b")], Store(tmp_path),
                        ex.ExecutorOptions(executor="processes", progress=False,
                                           callback=seen.append))
    assert (report.fitted, report.compiles, report.problems) == (2, 1, ["p"])
    assert [r["key"] for r in seen] == ["a", "b"]


def test_progress_bar_counts_the_fits(monkeypatch, tmp_path, capsys):
    import rich.progress

    totals, advances, made = [], [], []

    class Bar(rich.progress.Progress):
        def __init__(self, *args, **kwargs):
            made.append(kwargs)
            super().__init__(*args, **kwargs)

        def add_task(self, description, total=None, **kw):
            totals.append((description, total, self.disable))
            return super().add_task(description, total=total, **kw)

        def advance(self, task_id, advance=1):
            advances.append(advance)
            super().advance(task_id, advance)

    monkeypatch.setattr(rich.progress, "Progress", Bar)
    Fitting(monkeypatch)
    ex.execute([task(key="a"), task(key="b")], Store(tmp_path / "1"),
               ex.ExecutorOptions(progress=False), description="oc")
    ex.execute([task(key="a")], Store(tmp_path / "2"), ex.ExecutorOptions(progress=True))
    assert totals == [("oc", 2, True), ("sweep", 1, False)]
    # the finished bar stays on the terminal (how many fits ran)
    assert made == [{"disable": True, "transient": False}, {"disable": False, "transient": False}]
    assert advances == [1, 1, 1]
