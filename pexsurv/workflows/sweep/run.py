"""``sweep``: plan, skip what the store holds, fit the rest with the chosen executor,
and gather every scenario into a :class:`SweepResult`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pexsurv.workflows.config import AnalysisConfig, ConfigError
from pexsurv.workflows.sweep.executors import ExecutionReport, ExecutorOptions, execute
from pexsurv.workflows.sweep.plan import plan_sweep
from pexsurv.workflows.sweep.result import SweepResult, build_dataset
from pexsurv.workflows.sweep.store import Store

__all__ = ["as_config", "load_sweep", "sweep"]


def as_config(base: AnalysisConfig | Mapping[str, Any] | str | os.PathLike[str]) -> AnalysisConfig:
    """The base analysis: an :class:`AnalysisConfig`, its TOML file, or its dict (paths
    then relative to the working folder)."""
    if isinstance(base, AnalysisConfig):
        return base
    if isinstance(base, Mapping):
        return AnalysisConfig.from_dict(base)
    return AnalysisConfig.from_toml(base)


def sweep(
    base: AnalysisConfig | Mapping[str, Any] | str | os.PathLike[str],
    grid: Mapping[str, Any],
    *,
    store: str | os.PathLike[str],
    thresholds: Sequence[float] = (1.0,),
    resume: bool = True,
    options: ExecutorOptions | None = None,
    **executor_options: Any,
) -> SweepResult:
    """Fit one analysis under every combination of alternative settings.

    The whole plan is expanded and validated first (every scenario's configuration and
    data, :func:`~pexsurv.workflows.sweep.plan.plan_sweep`); nothing is sampled when any
    scenario is invalid. Each finished scenario is then written to ``store`` at once, in
    its own file, atomically (:class:`~pexsurv.workflows.sweep.store.Store`): killing the
    sweep (or a worker) loses only the scenarios in flight, and running it again resumes.

    - **Keys and seeds.** A scenario is keyed by a hash of its full settings (the analysis
      configuration without output and report options, its data file's content, the
      thresholds). Its sampler seed is derived from that key, so its draws are the same
      whatever the executor, the worker or the order; the base's ``sampler.seed`` (or a
      swept ``sampler.seed``) enters the key, and so changes every seed.
    - **Compiled models.** Scenarios are grouped by model structure (the compiled graph:
      the spec without prior hyper-parameter values, the cell shapes, the sampler). Each
      worker compiles a structure once and re-uses it for every scenario of that structure
      it receives: prior hyper-parameters and data are ``pm.Data``.

    Parameters
    ----------
    base : AnalysisConfig, dict or path
        The analysis ``pexsurv fit`` would run (one scenario per population it lists,
        unless ``population`` is swept).
    grid : mapping
        Setting -> list of values or table of named variants
        (:mod:`pexsurv.workflows.sweep.plan`). The first value of each is the reference.
    store : path
        Folder of the results (created; re-used to resume).
    thresholds : sequence of float
        ``P(HR < t)`` is stored for each (part of the key: a new threshold refits).
    resume : bool
        Skip the scenarios the store already holds (False: refit and overwrite them). A
        scenario whose fit raised is stored with its ``error`` (listed in
        ``SweepResult.problems``) and so is not retried: delete its file
        (``scenarios/<key>.json``) to retry it.
    options : ExecutorOptions, optional
        Where and how the scenarios run; or give its fields as keywords:
    **executor_options
        ``executor`` ("serial", "processes" with one core per fit, or "dask"),
        ``workers``, ``client``, ``scheduler``, ``chunk_size``, ``max_restarts``,
        ``progress``, ``callback`` (see
        :class:`~pexsurv.workflows.sweep.executors.ExecutorOptions`).

    Returns
    -------
    SweepResult

    Raises
    ------
    ConfigError
        An invalid base, grid or scenario (all invalid scenarios are listed).

    Examples
    --------
    >>> result = sweep("analysis.toml", {"priors.log_hr.sigma": [1.0, 0.5, 2.0],
    ...                                  "sampler.seed": [1, 2]},
    ...                store="sweep_out", executor="processes")  # doctest: +SKIP
    >>> result.table()                                          # doctest: +SKIP
    >>> print(result.robustness("P(HR < 1) > 0.95"))            # doctest: +SKIP
    """
    options = ExecutorOptions.resolve(options, executor_options)
    config = as_config(base)
    plan = plan_sweep(config, grid, thresholds)
    target = Store(store)
    target.write_plan(plan.to_dict())
    finished = target.finished() if resume else set()
    todo = [t for t in plan.tasks if t.key not in finished]
    report = execute(todo, target, options) if todo else ExecutionReport()
    return load_sweep(target, plan=plan, report=report)


def load_sweep(store: str | os.PathLike[str] | Store, *, plan: Any = None,
               report: ExecutionReport | None = None) -> SweepResult:
    """The :class:`SweepResult` of a store (its ``plan.json``), without fitting anything:
    what a sweep has finished so far, even while it runs elsewhere."""
    target = store if isinstance(store, Store) else Store(store)
    if plan is None:
        saved = target.read_plan()
        if saved is None:
            raise ConfigError(f"store {target.path}: no plan.json (not a sweep store)")
        dims, thresholds = dict(saved["dims"]), saved["thresholds"]
        scenarios = [(s["key"], s["coords"]) for s in saved["scenarios"]]
    else:
        dims, thresholds = plan.dims, plan.thresholds
        scenarios = [(s.key, s.coords) for s in plan.scenarios]
    by_key = {rec["key"]: rec for rec in target.rebuild_index()}
    records = [by_key.get(key) for key, _ in scenarios]
    cells = {tuple(coords[d] for d in dims): rec
             for (_, coords), rec in zip(scenarios, records) if rec is not None}
    report = report or ExecutionReport()
    problems = list(report.problems) + [
        f"[{', '.join(f'{k}={v}' for k, v in rec['labels'].items())}] {rec['error']}"
        for rec in records if rec is not None and rec.get("error")] + [
        f"[{', '.join(f'{k}={v}' for k, v in rec['labels'].items())}] {w}"
        for rec in records if rec is not None for w in rec.get("warnings", [])]
    return SweepResult(dataset=build_dataset(dims, cells, thresholds), records=records,
                       store=Path(target.path), fitted=report.fitted, compiles=report.compiles,
                       problems=problems)
