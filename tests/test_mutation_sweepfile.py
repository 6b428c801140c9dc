"""The sweep file (pexsurv/workflows/sweep/sweepfile.py): what ``pexsurv sweep SWEEP.toml``
reads and hands to the sweep. A threshold lost or a rule's threshold not stored, a store in
the wrong folder (a resumed sweep refits everything, or two sweeps share one) or an
override ignored would silently change what is run and reported (issue 18; record in
benchmarks/mutation.md, section ``pexsurv/workflows/sweep/sweepfile.py``).

The module is loaded from its file (tests/isolated.py); ``sweep`` is replaced by a stand-in
that records its arguments, so nothing is fitted."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest
from isolated import load

from pexsurv.workflows.config import AnalysisConfig, ConfigError, write_example
from pexsurv.workflows.sweep.executors import ExecutorOptions
from pexsurv.workflows.sweep.result import DecisionRule

sweepfile = load("pexsurv/workflows/sweep/sweepfile.py")
SweepFile, run_sweep_file = sweepfile.SweepFile, sweepfile.run_sweep_file

GRID = '[grid]\n"priors.log_hr.sigma" = [1.0, 0.5]\n'


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweepfile")
    write_example(folder)
    return folder


def write(folder: Path, text: str, name: str = "sweep.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_a_minimal_file_and_its_defaults(folder, tmp_path, monkeypatch):
    path = write(folder, 'base = "analysis.toml"\n' + GRID)
    monkeypatch.chdir(tmp_path)  # paths are relative to the file's folder, not the cwd
    spec = SweepFile.from_toml(path)
    assert spec.base == AnalysisConfig.from_toml(folder / "analysis.toml")
    assert spec.grid == {"priors.log_hr.sigma": [1.0, 0.5]}
    assert spec.store == folder.resolve() / "sweep_results"
    assert spec.options == ExecutorOptions() and spec.options.executor == "serial"
    assert spec.thresholds == (1.0,) and spec.rule is None


def test_the_dataclass_defaults(folder):
    spec = SweepFile(base=AnalysisConfig.from_toml(folder / "analysis.toml"), grid={},
                     store=Path("s"))
    assert spec.thresholds == (1.0,) and spec.rule is None and spec.options == ExecutorOptions()


def test_every_key_read(folder):
    path = write(folder, 'base = "analysis.toml"\nstore = "out/runs"\nexecutor = "processes"\n'
                 'workers = 3\nchunk_size = 2\nthresholds = [1, 0.8]\n'
                 'rule = "P(HR < 0.9) > 0.95"\n' + GRID)
    spec = SweepFile.from_toml(path)
    assert spec.store == folder.resolve() / "out" / "runs"
    assert spec.options == ExecutorOptions(executor="processes", workers=3, chunk_size=2)
    # the rule's threshold is stored too, after the file's; ints become floats
    assert spec.thresholds == (1.0, 0.8, 0.9)
    assert all(type(t) is float for t in spec.thresholds)
    assert spec.rule == DecisionRule.parse("P(HR < 0.9) > 0.95")


def test_a_rule_on_a_listed_threshold_adds_none(folder):
    path = write(folder, 'base = "analysis.toml"\nthresholds = [1.0, 0.8]\n'
                 'rule = "P(HR < 0.8) >= 0.9"\n' + GRID)
    spec = SweepFile.from_toml(path)
    assert spec.thresholds == (1.0, 0.8)
    assert spec.rule == DecisionRule(threshold=0.8, prob=0.9, inclusive=True)


def test_a_rule_alone_adds_its_threshold_to_the_default(folder):
    path = write(folder, 'base = "analysis.toml"\nrule = "P(HR < 0.7) > 0.5"\n' + GRID)
    assert SweepFile.from_toml(path).thresholds == (1.0, 0.7)


def test_small_positive_thresholds_are_valid(folder):
    path = write(folder, 'base = "analysis.toml"\nthresholds = [0.5, 1e-9, 2]\n' + GRID)
    assert SweepFile.from_toml(path).thresholds == (0.5, 1e-9, 2.0)


@pytest.mark.parametrize("value, shown", [
    ("1.0", "1.0"), ('"1.0"', "'1.0'"), ("[1.0, 0]", "[1.0, 0]"), ("[-0.5]", "[-0.5]"),
    ("[true]", "[True]"), ('["1"]', "['1']"), ("[0.8, [1.0]]", "[0.8, [1.0]]"), ("[]", "[]")])
def test_invalid_thresholds_are_refused(folder, value, shown):
    path = write(folder, f'base = "analysis.toml"\nthresholds = {value}\n' + GRID)
    with pytest.raises(ConfigError) as info:
        SweepFile.from_toml(path)
    assert str(info.value) == (f"{path}: thresholds must be a non-empty list of positive "
                               f"hazard ratios, got {shown}")


def test_many_distinct_thresholds_are_valid(folder):
    # 300 thresholds: counts above 256 are distinct int objects in CPython, so comparing the
    # number of distinct values with the length by identity would refuse them.
    values = [round(0.5 + i / 1000, 3) for i in range(300)]
    path = write(folder, f'base = "analysis.toml"\nthresholds = {values}\n' + GRID)
    assert SweepFile.from_toml(path).thresholds == tuple(values)


def test_repeated_thresholds_are_refused_naming_the_file(folder):
    # A repeated value would repeat a label on the results' threshold dimension.
    path = write(folder, 'base = "analysis.toml"\nthresholds = [1.0, 0.8, 1]\n' + GRID)
    with pytest.raises(ConfigError) as info:
        SweepFile.from_toml(path)
    assert str(info.value) == f"{path}: thresholds [1.0, 0.8, 1] repeat a value; list each once"


def test_an_invalid_rule_is_refused_naming_the_file(folder):
    path = write(folder, 'base = "analysis.toml"\nrule = "HR < 1"\n' + GRID)
    with pytest.raises(ConfigError) as info:
        SweepFile.from_toml(path)
    with pytest.raises(ValueError) as parsed:
        DecisionRule.parse("HR < 1")
    assert str(info.value) == f"{path}: rule: {parsed.value}"
    assert isinstance(info.value.__cause__, ValueError)


def test_missing_unknown_and_invalid_keys(folder):
    path = write(folder, GRID)
    with pytest.raises(ConfigError, match=r": missing required key 'base'$"):
        SweepFile.from_toml(path)
    path = write(folder, 'base = "analysis.toml"\n')
    with pytest.raises(ConfigError, match=r": missing required key 'grid'$"):
        SweepFile.from_toml(path)
    path = write(folder, 'base = "analysis.toml"\nseed = 1\n' + GRID)
    with pytest.raises(ConfigError) as info:
        SweepFile.from_toml(path)
    assert str(info.value) == (f"{path}: unknown key(s) ['seed']; valid keys: base, store, "
                               "executor, workers, scheduler, chunk_size, thresholds, rule, grid")
    path = write(folder, 'base = "analysis.toml"\nexecutor = "threads"\n' + GRID)
    with pytest.raises(ConfigError, match=r"^.*sweep\.toml: executor must be one of"):
        SweepFile.from_toml(path)
    with pytest.raises(ConfigError) as info:
        SweepFile.from_toml(folder / "none.toml")
    assert str(info.value) == (f"{folder / 'none.toml'}: no such sweep file (an example is in "
                               "the README, section \"Sensitivity sweeps\", and in "
                               "pexsurv.workflows.sweep.sweepfile)")


@pytest.fixture
def calls(monkeypatch):
    calls = []

    def fake_sweep(base, grid, *, store, thresholds, options):
        calls.append(dict(base=base, grid=grid, store=store, thresholds=thresholds,
                          options=options))
        return SimpleNamespace(fitted=2, compiles=1, records=[{}] * 5)

    monkeypatch.setattr(sweepfile, "sweep", fake_sweep)
    return calls


def test_run_passes_the_file_to_the_sweep(folder, calls):
    path = write(folder, 'base = "analysis.toml"\nexecutor = "processes"\nworkers = 3\n'
                 'thresholds = [0.8]\nrule = "P(HR < 1) > 0.95"\n' + GRID)
    said = []
    result, spec = run_sweep_file(path, echo=said.append)
    assert spec == SweepFile.from_toml(path)
    assert (result.fitted, result.compiles) == (2, 1)
    [call] = calls
    assert call == dict(base=spec.base, grid=spec.grid, store=folder.resolve() / "sweep_results",
                        thresholds=(0.8, 1.0), options=spec.options)
    assert call["options"].progress is True
    assert said == [f"{path}: sweeping into {folder.resolve() / 'sweep_results'} with the "
                    "processes executor",
                    "fitted 2 scenario(s) now (1 compilation(s)); 3 were already in the store"]


def test_run_keywords_override_the_file(folder, calls, tmp_path):
    path = write(folder, 'base = "analysis.toml"\nexecutor = "processes"\nworkers = 3\n' + GRID)
    run_sweep_file(path, executor="serial", workers=1, store=str(tmp_path / "elsewhere"),
                   progress=False, echo=lambda _: None)
    run_sweep_file(path, scheduler="tcp://h:1", echo=None)  # an address alone selects Dask
    first, second = (c["options"] for c in calls)
    assert calls[0]["store"] == tmp_path / "elsewhere" and isinstance(calls[0]["store"], Path)
    assert (first.executor, first.workers, first.progress) == ("serial", 1, False)
    assert (second.executor, second.scheduler, second.workers) == ("dask", "tcp://h:1", 3)
    assert calls[1]["store"] == folder.resolve() / "sweep_results"


def test_run_without_echo_says_nothing(folder, calls, capsys):
    path = write(folder, 'base = "analysis.toml"\n' + GRID)
    run_sweep_file(path)
    assert capsys.readouterr() == ("", "")
    assert calls[0]["options"].progress is True


def test_a_parsed_file_is_immutable(folder):
    spec = SweepFile.from_toml(write(folder, 'base = "analysis.toml"\n' + GRID))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.store = Path("elsewhere")


def test_run_takes_the_path_by_name_and_the_overrides_by_name_only(folder, calls):
    path = write(folder, 'base = "analysis.toml"\n' + GRID)
    run_sweep_file(path=path, echo=None)
    assert len(calls) == 1
    with pytest.raises(TypeError):
        run_sweep_file(path, "serial")  # an override given by position is refused
    assert len(calls) == 1
