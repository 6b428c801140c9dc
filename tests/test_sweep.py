"""Sensitivity sweeps: plan validation, keys and seeds, the atomic store, compile reuse,
executors giving identical results, kill -9 of the driver and of a worker, SweepResult."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from pexsurv.workflows import AnalysisConfig, ConfigError
from pexsurv.workflows.config import write_example
from pexsurv.workflows.sweep import Store, load_sweep, plan_sweep, sweep
from pexsurv.workflows.sweep.store import write_json_atomically

# Two prior scales far apart: the tight sceptical prior (sd 0.05 on the log HR) pulls the HR
# to ~1, the reference (sd 1) leaves it near the data's ~0.7. Two cut-point sets: two model
# structures. Two seeds: replicates.
GRID = {"priors.log_hr.sigma": [1.0, 0.05], "model.cuts": [[2.0, 6.0], [3.0]],
        "sampler.seed": [1, 2]}
# One structure (cuts fixed): what the parallel executors are compared on.
SUBGRID = {"priors.log_hr.sigma": [1.0, 0.05], "model.cuts": [[2.0, 6.0]], "sampler.seed": [1, 2]}
THRESHOLDS = (1.0, 0.8)


def _volatile(record: dict) -> dict:
    """A record without where and how fast it ran (the rest must not depend on it)."""
    return {k: v for k, v in record.items() if k not in ("worker", "compiled", "seconds")}


def _by_key(store: Path) -> dict[str, dict]:
    return {r["key"]: _volatile(r) for r in Store(store).records()}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> AnalysisConfig:
    folder = tmp_path_factory.mktemp("sweep")
    toml_path, _ = write_example(folder)
    raw = AnalysisConfig.from_toml(toml_path).to_dict()
    raw.update(populations=["itt"], model={"type": "pem", "cuts": [2.0, 6.0]},
               sampler={"draws": 100, "tune": 100, "chains": 2, "seed": 1},
               priors={"log_hr": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}})
    return AnalysisConfig.from_dict(raw, base=folder)


@pytest.fixture(scope="module")
def serial(base, tmp_path_factory):
    store = tmp_path_factory.mktemp("serial") / "store"
    return sweep(base, GRID, store=store, thresholds=THRESHOLDS, progress=False)


# ------------------------------------------------------------------ plan (no sampling)
def test_whole_plan_is_validated_before_any_fit(base, tmp_path):
    grid = {"model.cuts": [[2.0, 6.0], [-1.0]], "population": ["itt", "treated", "bogus"],
            "endpoint": {"OS": {"data.time": "os_time"}, "PFS": {"data.time": "no_such_col"}}}
    with pytest.raises(ConfigError) as info:
        sweep(base, grid, store=tmp_path / "s", progress=False)
    text = str(info.value)
    assert "nothing was fitted" in text
    assert "population=bogus" in text and "no_such_col" in text and "-1.0" in text
    assert not list((tmp_path / "s").glob("scenarios/*.json"))  # no record was written


def test_grid_errors_name_the_setting(base):
    with pytest.raises(ConfigError, match="grid 'sampler.seed': values listed twice"):
        plan_sweep(base, {"sampler.seed": [1, 1]})
    with pytest.raises(ConfigError, match="effect = \"ph\""):
        plan_sweep(base, {"model.effect": ["piecewise"]})


def test_keys_and_seeds_depend_on_settings_only(base, tmp_path):
    one, two = plan_sweep(base, GRID), plan_sweep(base, GRID)
    assert [t.key for t in one.tasks] == [t.key for t in two.tasks]
    assert [t.sampler["seed"] for t in one.tasks] == [t.sampler["seed"] for t in two.tasks]
    assert len({t.sampler["seed"] for t in one.tasks}) == len(one.tasks)
    # Two structures (cut sets); prior scales and seeds share a compiled model.
    assert len({t.structure for t in one.tasks}) == 2
    # The data enter by content: an edited copy of the file gives new keys.
    raw = base.to_dict()
    copy = tmp_path / "edited.csv"
    text = base.data_path.read_text().splitlines()
    copy.write_text("\n".join(text[:-1]) + "\n")
    raw["data"] = {**raw["data"], "path": str(copy)}
    edited = plan_sweep(AnalysisConfig.from_dict(raw, base=base.base), GRID)
    assert not {t.key for t in edited.tasks} & {t.key for t in one.tasks}


# ------------------------------------------------------------------ store
def test_atomic_write_leaves_old_file_on_crash(tmp_path, monkeypatch):
    path = write_json_atomically({"v": 1}, tmp_path / "r.json")

    real_write_text = Path.write_text

    def torn(self, text, *a, **kw):
        real_write_text(self, text[:7])  # a partial write, then the "crash"
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", torn)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomically({"v": 2}, path)
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


# ------------------------------------------------------------------ serial sweep
def test_serial_sweep_compiles_once_per_structure(serial):
    assert serial.fitted == 8 and serial.complete and not serial.problems
    assert serial.compiles == 2  # one worker (this process), two structures


def test_prior_hyperparameters_reach_the_reused_model(serial):
    hr = serial.dataset["hr_median"]
    # Same compiled model, other prior values: the tight prior must pull the HR to 1.
    assert float(hr.sel({"priors.log_hr.sigma": 1.0}).max()) < 0.8
    assert float(hr.sel({"priors.log_hr.sigma": 0.05}).min()) > 0.9


def test_dataset_and_table(serial):
    ds = serial.dataset
    assert dict(ds["hr_median"].sizes) == {"priors.log_hr.sigma": 2, "model.cuts": 2,
                                           "sampler.seed": 2}
    assert list(ds["threshold"].values) == [1.0, 0.8]
    assert (ds["hr_lower"] < ds["hr_median"]).all() and (ds["hr_median"] < ds["hr_upper"]).all()
    # P(HR < 0.8) <= P(HR < 1) in every scenario.
    assert (ds["p_hr_lt"].sel(threshold=0.8) <= ds["p_hr_lt"].sel(threshold=1.0)).all()
    table = serial.table()
    assert len(table) == 8 and {"p_hr_lt_1", "p_hr_lt_0.8", "status"} <= set(table.columns)


def test_robustness_finds_where_the_conclusion_flips(serial):
    rob = serial.robustness("P(HR < 1) > 0.9")
    assert rob.reference is True
    flipped = rob.flips.index.get_level_values("priors.log_hr.sigma")
    assert set(flipped) == {0.05} and len(flipped) == 4
    share = rob.by_setting.set_index(["setting", "value"])["share_holding"]
    assert share[("priors.log_hr.sigma", 1.0)] == 1.0
    assert share[("priors.log_hr.sigma", 0.05)] == 0.0
    assert not rob.holds and "flips" in str(rob)
    with pytest.raises(ValueError, match="add 0.5 to its thresholds"):
        serial.robustness("P(HR < 0.5) > 0.9")


def test_figures_are_labelled(serial):
    for fig in (serial.plot_forest(), serial.plot_tornado()):
        ax = fig.axes[0]
        assert ax.get_title() and "hazard ratio" in ax.get_xlabel() and ax.get_ylabel()
        assert ax.get_legend() is not None
    tornado = serial.plot_tornado().axes[0]
    # The prior scale moves the HR most (longest bar, on top).
    assert [t.get_text() for t in tornado.get_yticklabels()][-1] == "priors.log_hr.sigma"


def test_resume_skips_finished_scenarios(base, serial):
    again = sweep(base, GRID, store=serial.store, thresholds=THRESHOLDS, progress=False)
    assert again.fitted == 0 and again.compiles == 0
    xr_equal = again.dataset["hr_median"].equals(serial.dataset["hr_median"])
    assert xr_equal
    gone = serial.records[3]["key"]
    (serial.store / "scenarios" / f"{gone}.json").unlink()
    redo = sweep(base, GRID, store=serial.store, thresholds=THRESHOLDS, progress=False)
    assert redo.fitted == 1
    assert _volatile(redo.records[3]) == _volatile(serial.records[3])  # same seed, same draws
    assert load_sweep(serial.store).dataset["hr_median"].equals(serial.dataset["hr_median"])


# ------------------------------------------------------------------ executors
def _per_worker_compiles_match_structures(store: Path) -> None:
    compiled, structures = Counter(), defaultdict(set)
    for r in Store(store).records():
        compiled[r["worker"]] += r["compiled"]
        structures[r["worker"]].add(r["structure"])
    assert compiled == Counter({w: len(s) for w, s in structures.items()})


def test_processes_survive_a_killed_worker_and_match_serial(base, serial, tmp_path):
    killed = []

    def kill_first_worker(record):
        if not killed:
            pid = int(record["worker"].rsplit(":", 1)[1])
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)

    result = sweep(base, SUBGRID, store=tmp_path / "p", thresholds=THRESHOLDS,
                   executor="processes", workers=2, chunk_size=1, progress=False,
                   callback=kill_first_worker)
    assert killed and result.complete
    assert any("worker process died" in p for p in result.problems)
    got, want = _by_key(tmp_path / "p"), _by_key(serial.store)
    assert got and all(got[k] == want[k] for k in got)  # bit for bit, whatever ran where
    _per_worker_compiles_match_structures(tmp_path / "p")


def test_dask_local_cluster_matches_serial(base, serial, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        # By address, as `pexsurv sweep --scheduler ADDRESS` connects to any cluster.
        result = sweep(base, SUBGRID, store=tmp_path / "d", thresholds=THRESHOLDS,
                       executor="dask", scheduler=cluster.scheduler_address, progress=False)
    assert result.complete and not result.problems
    got, want = _by_key(tmp_path / "d"), _by_key(serial.store)
    assert len(got) == 4 and all(got[k] == want[k] for k in got)
    _per_worker_compiles_match_structures(tmp_path / "d")


def test_dask_worker_killed_mid_sweep_finishes_or_fails_cleanly_and_a_rerun_completes(
        base, serial, tmp_path):
    """kill -9 of a Dask worker (LocalCluster, processes, nanny) while the other one's
    results arrive: Dask re-runs the lost tasks or the sweep reports them unfinished; every
    stored record is complete; a rerun fits exactly the missing ones, with the draws of a
    serial run."""
    distributed = pytest.importorskip("distributed")
    grid = {**SUBGRID, "sampler.seed": [1, 2, 3]}  # 6 scenarios, one structure
    store = tmp_path / "dk"
    killed: list[int] = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pids = client.run(os.getpid)  # worker address -> process id

        def kill_the_other_worker(record):
            # The first result is stored: the other worker is busy with a chunk of its own.
            if not killed:
                sender = int(record["worker"].rsplit(":", 1)[1])
                killed.append(next(p for p in pids.values() if p != sender))
                os.kill(killed[0], signal.SIGKILL)

        first = sweep(base, grid, store=store, thresholds=THRESHOLDS, executor="dask",
                      client=client, chunk_size=1, progress=False,
                      callback=kill_the_other_worker)
        assert killed
        records = list(Store(store).records())  # every file there parses
        assert not list(store.rglob("*.tmp")) and not [r for r in records if r["error"]]
        done = {r["key"] for r in records}
        if first.complete:
            assert len(done) == 6  # Dask re-ran the dead worker's tasks
        else:  # failed cleanly: the missing scenarios are reported, to resume
            assert any("unfinished (run again to resume)" in p for p in first.problems)
        rerun = sweep(base, grid, store=store, thresholds=THRESHOLDS, executor="dask",
                      client=client, chunk_size=1, progress=False)
    assert rerun.complete and rerun.fitted == 6 - len(done)
    got, want = _by_key(store), _by_key(serial.store)
    assert len(got) == 6 and sum(k in want for k in got) == 4
    assert all(got[k] == want[k] for k in got if k in want)


def test_kill_9_of_the_driver_keeps_the_store_readable_and_resumable(base, serial, tmp_path):
    store = tmp_path / "k"
    grid = {**SUBGRID, "sampler.seed": list(range(1, 16))}  # 30 scenarios, one structure
    script = textwrap.dedent(f"""
        from pexsurv.workflows import AnalysisConfig
        from pexsurv.workflows.sweep import sweep
        base = AnalysisConfig.from_dict({base.to_dict()!r}, base={str(base.base)!r})
        sweep(base, {grid!r}, store={str(store)!r}, thresholds={THRESHOLDS!r}, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 240
        while len(list(store.glob("scenarios/*.json"))) < 2:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    records = list(Store(store).records())  # every file there parses: complete records only
    done = len(records)
    assert 2 <= done < 30
    assert all(np.isfinite(r["hr_median"]) for r in records)
    resumed = sweep(base, grid, store=store, thresholds=THRESHOLDS, progress=False)
    assert resumed.complete and resumed.fitted == 30 - done
    # Scenarios shared with the serial sweep (seeds 1, 2) carry the same draws.
    want = _by_key(serial.store)
    got = _by_key(store)
    assert sum(k in want for k in got) == 4 and all(got[k] == want[k] for k in got if k in want)


# ------------------------------------------------------------------ command line
def test_cli_sweep_runs_then_resumes(base, serial, tmp_path, capsys):
    from pexsurv.cli import main

    base_file = tmp_path / "analysis.toml"
    lines = [f"{k} = {json.dumps(v)}" for k, v in base.to_dict().items()
             if not isinstance(v, dict)]
    for table, values in base.to_dict().items():
        if isinstance(values, dict) and values:
            if table == "priors":
                for name, prior in values.items():
                    lines += [f"[priors.{name}]"] + [f"{k} = {json.dumps(v)}" for k, v in prior.items()]
                continue
            lines.append(f"[{table}]")
            lines += [f"{k} = {json.dumps(str(base.data_path) if k == 'path' else v)}"
                      for k, v in values.items()]
    base_file.write_text("\n".join(lines) + "\n")
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text('base = "analysis.toml"\nstore = "out"\nthresholds = [1.0, 0.8]\n'
                          'rule = "P(HR < 1) > 0.9"\n[grid]\n"priors.log_hr.sigma" = [1.0, 0.05]\n')
    code = main(["sweep", str(sweep_file), "--quiet"])
    out = capsys.readouterr().out
    assert code == 1  # 100-draw fits do not pass the convergence thresholds: flagged
    assert "hr_median" in out and "P(HR < 1) > 0.9: does NOT hold everywhere" in out
    assert len(list((tmp_path / "out" / "scenarios").glob("*.json"))) == 2
    # The same scenarios as the module's serial sweep (same settings, same data): same keys.
    assert set(_by_key(tmp_path / "out")) <= set(_by_key(serial.store))
    main(["sweep", str(sweep_file), "--quiet", "--store", str(tmp_path / "out")])
    assert "hr_median" in capsys.readouterr().out


def test_cli_sweep_rejects_a_bad_file(tmp_path, capsys):
    from pexsurv.cli import main

    bad = tmp_path / "s.toml"
    bad.write_text('base = "a.toml"\ncolour = "red"\n[grid]\n')
    assert main(["sweep", str(bad)]) == 2
    assert "unknown key(s) ['colour']" in capsys.readouterr().err


def test_rpsft_treat_modifier_shares_the_stage2_structure(base):
    raw = base.to_dict()
    raw.update(model={"type": "rpsft", "cuts": [2.0, 6.0]}, priors={})
    rpsft = AnalysisConfig.from_dict(raw, base=base.base)
    plan = plan_sweep(rpsft, {"model.treat_modifier": [1.0, 0.5],
                              "priors.log_hazard_base": [{"dist": "IndependentNormal", "sigma": 5.0},
                                                         {"dist": "IndependentNormal", "sigma": 2.0}]})
    # The compiled model is the stage-2 PEM: the modifier changes its data, the baseline
    # prior's scale a pm.Data value; neither a recompilation.
    assert len({t.key for t in plan.tasks}) == 4 and len({t.structure for t in plan.tasks}) == 1
    other_cuts = plan_sweep(rpsft, {"model.cuts": [[2.0, 6.0], [3.0]]})
    assert len({t.structure for t in other_cuts.tasks}) == 2


@pytest.mark.filterwarnings("ignore::pexsurv.fitting.ConvergenceWarning")  # short stage 2
def test_rpsft_sweep_over_prior_values_compiles_the_stage2_model_once(base, tmp_path,
                                                                     monkeypatch):
    """The worker hands its stage-2 model to every scenario of the structure untouched
    (fitting/rpsft.py compares structures): no error, one compilation."""
    from collections import OrderedDict

    from pexsurv.workflows.sweep import executors

    # This process's worker cache starts empty: a PEM sweep run earlier with the same cuts
    # compiled the same graph, which the stage 2 would rightly re-use.
    monkeypatch.setattr(executors, "_COMPILED", OrderedDict())
    raw = base.to_dict()
    raw.update(model={"type": "rpsft", "cuts": [2.0, 6.0], "n_psi_draws": 2, "grid_size": 201},
               priors={}, sampler={"draws": 50, "tune": 50, "chains": 2, "seed": 1})
    rpsft = AnalysisConfig.from_dict(raw, base=base.base)
    result = sweep(rpsft, {"priors.log_hazard_base": [
        {"dist": "IndependentNormal", "sigma": 5.0}, {"dist": "IndependentNormal", "sigma": 2.0}],
        "model.treat_modifier": [1.0, 0.5]}, store=tmp_path / "s", progress=False)
    records = list(Store(tmp_path / "s").records())
    assert len(records) == 4 and not [r["error"] for r in records if r["error"]]
    assert result.compiles == 1


# ------------------------------------------------------------------ structure hash in fit
@pytest.mark.filterwarnings("ignore::pexsurv.fitting.ConvergenceWarning")  # 2 x 200 draws
def test_fit_reuses_a_compiled_model_across_prior_values_and_refuses_other_structures():
    """fit compares structure hashes (spec without prior hyper-parameter values): the sweep
    worker passes one compiled model to every scenario of a structure, untouched."""
    from pexsurv import datasets
    from pexsurv.fitting import SamplerConfig, compile_spec, fit
    from pexsurv.models import PiecewiseExponential
    from pexsurv.priors import Normal, StudentT

    data = datasets.ct041_like("os")
    config = SamplerConfig(draws=200, tune=200, chains=2, seed=3, progress=False)

    def spec(sigma=1.0, cuts=(2.0, 6.0), family=Normal):
        return PiecewiseExponential(cuts=cuts, priors={"log_hr": family(0.0, sigma)})

    compiled = compile_spec(spec(1.0), data, config)
    spec_hash = compiled.spec_hash
    wide = fit(spec(1.0), data, sampler=config, compiled=compiled)
    tight = fit(spec(0.05), data, sampler=config, compiled=compiled)
    assert compiled.spec_hash == spec_hash  # nobody re-pointed it
    assert wide.timings["compile_seconds"] == tight.timings["compile_seconds"] == 0.0
    # The tight prior's value reached the reused graph: it pulls the HR to 1.
    assert float(wide.posterior["hr"].median()) < 0.8 < 0.9 < float(tight.posterior["hr"].median())
    for other in (spec(1.0, cuts=(3.0,)), spec(1.0, cuts=(2.0, 7.0)),
                  spec(1.0, family=lambda mu, sigma: StudentT(3.0, mu, sigma)),
                  PiecewiseExponential(cuts=(2.0, 6.0), effect="piecewise")):
        with pytest.raises(ValueError, match="structure differs"):
            fit(other, data, sampler=config, compiled=compiled)


# ------------------------------------------------------------------ executor options
def test_executor_options_are_one_checked_value_for_sweep_and_oc(base, tmp_path):
    from pexsurv.workflows.oc import operating_characteristics, run_oc_file
    from pexsurv.workflows.sweep import ExecutorOptions

    with pytest.raises(ValueError, match="workers must be a positive integer"):
        ExecutorOptions(workers=0)
    with pytest.raises(ValueError, match="executor must be one of"):
        ExecutorOptions(executor="threads")
    # A scheduler address (file or command line) means Dask, unless an executor is named.
    assert ExecutorOptions().overridden(scheduler="tcp://h:8786").executor == "dask"
    assert ExecutorOptions(executor="processes").overridden(workers=None).executor == "processes"
    assert ExecutorOptions().overridden(executor="serial", scheduler="tcp://h:8786").executor == "serial"
    for run in (lambda **kw: sweep(base, SUBGRID, store=tmp_path / "s", **kw),
                lambda **kw: operating_characteristics({}, {"a": {}}, 2, store=tmp_path / "o", **kw)):
        with pytest.raises(TypeError, match=r"unknown keyword\(s\) \['colour'\]"):
            run(colour="red")
        with pytest.raises(TypeError, match="next to options="):
            run(options=ExecutorOptions(), workers=2)
    assert not (tmp_path / "s").exists() and not (tmp_path / "o").exists()
    # The OC file's executor keys get the same checks as the sweep file's.
    oc_file = tmp_path / "oc.toml"
    oc_file.write_text('n_trials = 2\nworkers = 0\n[scenarios.a]\n')
    with pytest.raises(ConfigError, match=r"oc.toml: workers must be a positive integer"):
        run_oc_file(oc_file)
    oc_file.write_text('n_trials = 2\ncolour = 1\n[scenarios.a]\n')
    with pytest.raises(ConfigError, match=r"oc.toml: unknown key\(s\) \['colour'\]"):
        run_oc_file(oc_file)
    oc_file.write_text('[scenarios.a]\n')
    with pytest.raises(ConfigError, match="missing required key 'n_trials'"):
        run_oc_file(oc_file)


def test_worker_fits_sample_on_one_core_and_serial_fits_on_all(base, monkeypatch):
    """Processes and Dask workers run run_chunk(single_core=True): each fit's chains share
    one core (nutpie cores=1), so N workers use N cores; serial fits keep nutpie's default
    (one chain per core). Only the parallelism changes, not the draws (seeded per chain;
    the executor tests compare stored results bit for bit)."""
    import pexsurv.fitting
    from pexsurv.workflows.sweep import executors

    seen = []

    def fake_fit(spec, data, *, sampler, compiled):
        seen.append(dict(sampler.options))
        raise RuntimeError("stop after the configuration")

    monkeypatch.setattr(pexsurv.fitting, "fit", fake_fit)
    monkeypatch.setattr(pexsurv.fitting, "compile_spec", lambda spec, data, config: object())
    monkeypatch.setattr(executors, "_COMPILED", type(executors._COMPILED)())
    task = plan_sweep(base, SUBGRID).tasks[0]
    worker, = executors.run_chunk([task])
    serial = executors._run_task(task, single_core=False)
    assert "stop after the configuration" in worker["error"] and serial["error"]
    assert seen == [{"cores": 1}, {}]
