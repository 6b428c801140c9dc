"""The sweep file ``pexsurv sweep SWEEP.toml`` reads: a base analysis configuration (the
TOML file ``pexsurv fit`` reads), the grid, where to store results and how to run.

.. code-block:: toml

    base = "analysis.toml"          # the analysis (relative to this file)
    store = "sweep_results"         # folder of results; re-running resumes from it
    executor = "processes"          # "serial", "processes" or "dask"
    # workers = 2                   # processes: default the machine's cores
    # scheduler = "tcp://10.0.0.5:8786"   # dask: the scheduler's address
    thresholds = [1.0, 0.8]         # P(HR < t) is stored for each
    rule = "P(HR < 1) > 0.95"       # conclusion checked across the grid (optional)

    [grid]                          # setting = list of values (the first is the reference)
    "priors.log_hr.sigma" = [1.0, 0.5, 2.0]
    "sampler.seed" = [1, 2, 3]
    population = ["itt", "treated"]

    [grid.endpoint]                 # or named variants setting several keys at once
    OS = { "data.time" = "os_time", "data.event" = "os_event" }
    PFS = { "data.time" = "pfs_time", "data.event" = "pfs_event" }
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pexsurv.workflows.config import AnalysisConfig, ConfigError
from pexsurv.workflows.sweep.executors import EXECUTORS
from pexsurv.workflows.sweep.result import DecisionRule, SweepResult
from pexsurv.workflows.sweep.run import sweep

__all__ = ["SweepFile", "read_toml", "run_sweep_file"]

_KEYS = ("base", "store", "executor", "workers", "scheduler", "chunk_size", "thresholds",
         "rule", "grid")


def read_toml(path: str | os.PathLike[str], what: str, hint: str) -> dict[str, Any]:
    """Parse a TOML file, with errors that name it (``what`` says which kind of file)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what} file ({hint})")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


@dataclass(frozen=True)
class SweepFile:
    """A parsed sweep file (see the module docstring for its keys)."""

    base: AnalysisConfig
    grid: Mapping[str, Any]
    store: Path
    executor: str = "serial"
    workers: int | None = None
    scheduler: str | None = None
    chunk_size: int | None = None
    thresholds: tuple[float, ...] = (1.0,)
    rule: DecisionRule | None = None

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> SweepFile:
        """Read and check a sweep file; paths in it are relative to its folder."""
        path = Path(path)
        raw = read_toml(path, "sweep", "an example is in the README, section "
                        "\"Sensitivity sweeps\", and in pexsurv.workflows.sweep.sweepfile")
        unknown = sorted(set(raw) - set(_KEYS))
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {unknown}; valid keys: {', '.join(_KEYS)}")
        for key in ("base", "grid"):
            if key not in raw:
                raise ConfigError(f"{path}: missing required key {key!r}")
        folder = path.resolve().parent
        executor = raw.get("executor", "serial")
        if executor not in EXECUTORS:
            raise ConfigError(f"{path}: executor {executor!r}; valid: {', '.join(EXECUTORS)}")
        for key in ("workers", "chunk_size"):
            value = raw.get(key)
            if value is not None and not (isinstance(value, int) and value >= 1):
                raise ConfigError(f"{path}: {key} must be a positive integer, got {value!r}")
        thresholds = raw.get("thresholds", [1.0])
        if not isinstance(thresholds, list) or not all(
                isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0 for t in thresholds):
            raise ConfigError(f"{path}: thresholds must be a list of positive hazard ratios, "
                              f"got {thresholds!r}")
        try:
            rule = DecisionRule.parse(raw["rule"]) if "rule" in raw else None
        except ValueError as exc:
            raise ConfigError(f"{path}: rule: {exc}") from exc
        if rule is not None and rule.threshold not in thresholds:
            thresholds = [*thresholds, rule.threshold]
        return cls(base=AnalysisConfig.from_toml(folder / str(raw["base"])), grid=raw["grid"],
                   store=folder / str(raw.get("store", "sweep_results")), executor=executor,
                   workers=raw.get("workers"), scheduler=raw.get("scheduler"),
                   chunk_size=raw.get("chunk_size"),
                   thresholds=tuple(float(t) for t in thresholds), rule=rule)


def run_sweep_file(path: str | os.PathLike[str], *, executor: str | None = None,
                   scheduler: str | None = None, store: str | os.PathLike[str] | None = None,
                   workers: int | None = None, progress: bool = True,
                   echo: Callable[[str], None] | None = None) -> tuple[SweepResult, SweepFile]:
    """Run (or resume) the sweep a file describes; the keywords override the file.

    Giving ``scheduler`` alone selects the Dask executor.

    Returns
    -------
    (SweepResult, SweepFile)
    """
    spec = SweepFile.from_toml(path)
    say = echo or (lambda _: None)
    if scheduler and executor is None:
        executor = "dask"
    executor = executor or spec.executor
    target = Path(store) if store is not None else spec.store
    say(f"{path}: sweeping into {target} with the {executor} executor")
    result = sweep(spec.base, spec.grid, store=target, thresholds=spec.thresholds,
                   executor=executor, workers=workers or spec.workers,
                   scheduler=scheduler or spec.scheduler, chunk_size=spec.chunk_size,
                   progress=progress)
    say(f"fitted {result.fitted} scenario(s) now ({result.compiles} compilation(s)); "
        f"{len(result.records) - result.fitted} were already in the store")
    return result, spec
