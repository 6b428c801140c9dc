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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pexsurv.workflows.config import AnalysisConfig, ConfigError, read_toml
from pexsurv.workflows.sweep.executors import ExecutorOptions
from pexsurv.workflows.sweep.result import DecisionRule, SweepResult
from pexsurv.workflows.sweep.run import sweep

__all__ = ["SweepFile", "run_sweep_file"]

_KEYS = ("base", "store", *ExecutorOptions.FILE_KEYS, "thresholds", "rule", "grid")


@dataclass(frozen=True)
class SweepFile:
    """A parsed sweep file (see the module docstring for its keys)."""

    base: AnalysisConfig
    grid: Mapping[str, Any]
    store: Path
    options: ExecutorOptions = ExecutorOptions()
    thresholds: tuple[float, ...] = (1.0,)
    rule: DecisionRule | None = None

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> SweepFile:
        """Read and check a sweep file; paths in it are relative to its folder."""
        path = Path(path)
        raw = read_toml(path, "sweep", "an example is in the README, section "
                        "\"Sensitivity sweeps\", and in pexsurv.workflows.sweep.sweepfile",
                        keys=_KEYS, required=("base", "grid"))
        folder = path.resolve().parent
        options = ExecutorOptions.from_file(raw, path)
        thresholds = raw.get("thresholds", [1.0])
        if not isinstance(thresholds, list) or not thresholds or not all(
                isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0 for t in thresholds):
            raise ConfigError(f"{path}: thresholds must be a non-empty list of positive hazard "
                              f"ratios, got {thresholds!r}")
        if len(set(thresholds)) < len(thresholds):
            # A repeated value would repeat a label on the results' threshold dimension.
            raise ConfigError(f"{path}: thresholds {thresholds!r} repeat a value; list each "
                              "once")
        try:
            rule = DecisionRule.parse(raw["rule"]) if "rule" in raw else None
        except ValueError as exc:
            raise ConfigError(f"{path}: rule: {exc}") from exc
        if rule is not None and rule.threshold not in thresholds:
            thresholds = [*thresholds, rule.threshold]
        return cls(base=AnalysisConfig.from_toml(folder / str(raw["base"])), grid=raw["grid"],
                   store=folder / str(raw.get("store", "sweep_results")), options=options,
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
    options = spec.options.overridden(executor=executor, scheduler=scheduler, workers=workers,
                                      progress=progress)
    target = Path(store) if store is not None else spec.store
    say(f"{path}: sweeping into {target} with the {options.executor} executor")
    result = sweep(spec.base, spec.grid, store=target, thresholds=spec.thresholds,
                   options=options)
    say(f"fitted {result.fitted} scenario(s) now ({result.compiles} compilation(s)); "
        f"{len(result.records) - result.fitted} were already in the store")
    return result, spec
