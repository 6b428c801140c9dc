"""Sensitivity sweeps: one analysis fitted under every combination of alternative settings
(priors, cut points, treat_modifier, population, endpoint, seed), locally or on a Dask
cluster, into a resumable store.

- :func:`sweep` runs a grid and returns a :class:`SweepResult` (an xarray Dataset with one
  dimension per setting, a table, forest and tornado plots, :meth:`SweepResult.robustness`);
- :mod:`~pexsurv.workflows.sweep.plan`: grid expansion and validation before any sampling;
- :mod:`~pexsurv.workflows.sweep.store`: one atomic file per finished scenario;
- :mod:`~pexsurv.workflows.sweep.executors`: serial, local processes, Dask; one compiled
  model per structure per worker;
- :mod:`~pexsurv.workflows.sweep.sweepfile`: the ``pexsurv sweep SWEEP.toml`` file.
"""

from pexsurv.workflows.sweep.executors import (
    EXECUTORS,
    ExecutionReport,
    ExecutorOptions,
    Task,
    execute,
)
from pexsurv.workflows.sweep.plan import SweepPlan, expand_grid, plan_sweep
from pexsurv.workflows.sweep.result import DecisionRule, Robustness, SweepResult
from pexsurv.workflows.sweep.run import load_sweep, sweep
from pexsurv.workflows.sweep.store import Store, StoreError

__all__ = ["EXECUTORS", "DecisionRule", "ExecutionReport", "ExecutorOptions", "Robustness",
           "Store", "StoreError", "SweepPlan", "SweepResult", "Task", "execute", "expand_grid",
           "load_sweep", "plan_sweep", "sweep"]
