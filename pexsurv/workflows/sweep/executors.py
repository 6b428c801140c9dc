"""Running many fits: the work item (:class:`Task`), what a worker does with it
(:func:`run_chunk`, with one compiled model per model structure kept per worker), and the
three executors (serial, local processes, Dask distributed) that feed finished scenarios to
the store as they arrive.

Results do not depend on the executor: each task carries its own sampler seed (derived
from its key), a compiled model serves only tasks of its own structure, and the record is
computed from the draws alone.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
import traceback
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from pexsurv.data import TrialData
from pexsurv.defaults import CI_PROB, interval_bounds
from pexsurv.workflows.config import ConfigError
from pexsurv.workflows.sweep.store import Store

__all__ = ["EXECUTORS", "ExecutionReport", "ExecutorOptions", "Task", "execute", "run_chunk",
           "summarize_fit"]

EXECUTORS = ("serial", "processes", "dask")

# Compiled models a worker keeps, by structure key. Tasks arrive grouped by structure, so a
# handful is enough; the bound keeps a long-lived Dask worker's memory flat.
_CACHE_SIZE = 4
_COMPILED: OrderedDict[str, Any] = OrderedDict()


@dataclass(frozen=True, eq=False)
class Task:
    """One fit of a sweep or of an operating-characteristics study.

    Attributes
    ----------
    key : str
        The scenario's key (its record's name in the store).
    structure : str
        Key of the compiled model it needs (:func:`~pexsurv.workflows.sweep.keys.structure_key`).
    spec : dict
        The model specification as ``spec.to_dict()`` (specs hold read-only mappings,
        which do not pickle; the worker rebuilds the spec from this).
    data : TrialData or callable
        The data, or a picklable function of no argument that makes them in the worker
        (a simulated trial: only its recipe travels).
    sampler : dict
        :class:`~pexsurv.fitting.SamplerConfig` fields (``to_dict()``), with the
        scenario's seed.
    thresholds : tuple of float
        ``P(HR < t)`` is recorded for each.
    labels : mapping
        Stored with the record (grid coordinates, trial number, truth...).
    """

    key: str
    structure: str
    spec: Mapping[str, Any]
    data: TrialData | Callable[[], TrialData]
    sampler: Mapping[str, Any]
    thresholds: tuple[float, ...] = (1.0,)
    labels: Mapping[str, Any] = field(default_factory=dict)


def summarize_fit(result: Any, thresholds: Sequence[float]) -> dict[str, Any]:
    """What a sweep keeps of one fit: the HR's posterior median, 95% equal-tailed
    interval, P(HR < t) per threshold, the log HR's mean and sd, and the convergence
    verdict with its worst R-hat, smallest ESS and divergences.

    Examples
    --------
    >>> summarize_fit(result, (1.0, 0.8))["p_hr_lt"]  # doctest: +SKIP
    {'1.0': 0.97, '0.8': 0.71}
    """
    hr = np.asarray(result.posterior["hr"].values, dtype=float).ravel()
    lower, upper = np.quantile(hr, interval_bounds(CI_PROB))
    log_hr = np.log(hr)
    check = result.convergence
    table = check.table
    return {
        "hr_median": float(np.median(hr)), "hr_lower": float(lower), "hr_upper": float(upper),
        "log_hr_mean": float(log_hr.mean()), "log_hr_sd": float(log_hr.std(ddof=1)),
        "p_hr_lt": {repr(float(t)): float(np.mean(hr < t)) for t in thresholds},
        "converged": bool(check.passed),
        "max_r_hat": float(table["r_hat"].max()) if len(table) else float("nan"),
        "min_ess": float(table[["ess_bulk", "ess_tail"]].min().min()) if len(table) else float("nan"),
        "divergences": int(check.divergences),
        "n": int(result.data.n), "events": int(np.sum(result.data.event)),
    }


def _spec(payload: Mapping[str, Any]) -> Any:
    from pexsurv.fitting.registry import spec_type

    return spec_type(payload["model"]).from_dict(payload)


def _run_task(task: Task, single_core: bool) -> dict[str, Any]:
    """Fit one task in this process (re-using this worker's compiled model of its
    structure) and return its record; a failing fit gives a record with ``error``."""
    from pexsurv.fitting import ConvergenceWarning, SamplerConfig, compile_spec, fit
    t0 = time.perf_counter()
    record: dict[str, Any] = {"key": task.key, "structure": task.structure,
                              "seed": task.sampler["seed"], "labels": dict(task.labels),
                              "worker": f"{socket.gethostname()}:{os.getpid()}",
                              "compiled": False, "error": None, "warnings": []}
    try:
        spec = _spec(task.spec)
        data = task.data() if callable(task.data) else task.data
        t_data = time.perf_counter()
        config = SamplerConfig(**task.sampler)
        if single_core and config.sampler in (None, "nutpie"):
            # One core per fit: the workers are the parallelism (nutpie would otherwise
            # start a thread per chain in every worker). Chains are seeded alone, so the
            # draws are those of a serial run.
            config = dataclasses.replace(config, options={**config.options, "cores": 1})
        compiled = _COMPILED.get(task.structure)
        if compiled is None:
            compiled = compile_spec(spec, data, config)
            record["compiled"] = True
            _COMPILED[task.structure] = compiled
            while len(_COMPILED) > _CACHE_SIZE:
                _COMPILED.popitem(last=False)
        _COMPILED.move_to_end(task.structure)
        # Same structure = same graph; only pm.Data values (data and prior
        # hyper-parameters) differ: fit sets them, and refuses a model of another
        # structure (fitting.pem.structure_hash; an RPSFT's stage-2 PEM alike).
        t_fit = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            # Warnings go into the record (a worker's stderr is seen by no one); the
            # convergence verdict is there already, in full.
            warnings.simplefilter("always")
            result = fit(spec, data, sampler=config, compiled=compiled)
        record["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught
                                     if not issubclass(w.category, ConvergenceWarning)})
        t_summary = time.perf_counter()
        record.update(summarize_fit(result, task.thresholds))
        t_end = time.perf_counter()
        record["seconds"] = {"data": t_data - t0, "compile": float(compiled.compile_seconds
                                                                  if record["compiled"] else 0.0),
                             "fit": t_summary - t_fit,
                             "sampling": float(result.timings.get("sampling_seconds", np.nan)),
                             "summary": t_end - t_summary, "total": t_end - t0}
    except Exception as exc:  # one failed scenario must not stop the sweep: it is recorded
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=6)
    return record


def run_chunk(tasks: Sequence[Task], single_core: bool = True) -> list[dict[str, Any]]:
    """Worker entry point: the records of a chunk of tasks (of one structure)."""
    return [_run_task(task, single_core) for task in tasks]


@dataclass(frozen=True)
class ExecutorOptions:
    """How and where many fits run: shared by :func:`~pexsurv.workflows.sweep.sweep` and
    :func:`~pexsurv.workflows.oc.operating_characteristics`, which also accept these
    fields as keywords.

    Parameters
    ----------
    executor : {"serial", "processes", "dask"}
        In this process; in ``workers`` local processes, one core per fit; or on a Dask
        cluster (``client=`` a ``distributed.Client``, or ``scheduler=`` its address).
    workers : int, optional
        Worker processes of ``"processes"`` (default: the machine's cores).
    client, scheduler
        Dask: a ``distributed.Client``, or the scheduler's address to connect to.
    chunk_size : int, optional
        Tasks sent to a worker at once (default: about two chunks per worker, at most 16
        tasks each). A killed worker loses its chunk in flight, no more.
    max_restarts : int
        ``"processes"``: pool restarts after dead workers before giving up.
    progress : bool
        A progress bar over the fits.
    callback : callable, optional
        Called with each record as soon as it is stored.

    Examples
    --------
    >>> ExecutorOptions(executor="processes", workers=2).workers
    2
    >>> ExecutorOptions(scheduler="tcp://10.0.0.5:8786").executor  # an address means Dask
    'dask'
    """

    FILE_KEYS: ClassVar[tuple[str, ...]] = ("executor", "workers", "scheduler", "chunk_size")

    executor: str | None = None
    workers: int | None = None
    client: Any = None
    scheduler: str | None = None
    chunk_size: int | None = None
    max_restarts: int = 3
    progress: bool = True
    callback: Callable[[dict], None] | None = None

    def __post_init__(self) -> None:
        executor = self.executor or ("dask" if self.scheduler or self.client else "serial")
        if executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
        object.__setattr__(self, "executor", executor)
        for name in ("workers", "chunk_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    @classmethod
    def from_file(cls, raw: Mapping[str, Any], path: Any) -> ExecutorOptions:
        """The options a sweep or OC file sets (its :attr:`FILE_KEYS`), checked, with
        errors naming the file."""
        try:
            return cls(**{k: raw[k] for k in cls.FILE_KEYS if k in raw})
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    @classmethod
    def resolve(cls, options: ExecutorOptions | None, keywords: Mapping[str, Any]
                ) -> ExecutorOptions:
        """``options``, or the options the ``keywords`` of ``sweep(...)`` /
        ``operating_characteristics(...)`` spell out (not both)."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(keywords) - set(names))
        if unknown:
            raise TypeError(f"unknown keyword(s) {unknown}; executor options: {', '.join(names)}")
        if options is not None:
            if keywords:
                raise TypeError(f"executor options {sorted(keywords)} given as keywords next to "
                                "options=ExecutorOptions(...): put them in one place")
            return options
        return cls(**keywords)

    def overridden(self, **given: Any) -> ExecutorOptions:
        """These options with the settings given (not None) replacing them, e.g. a
        command line's over a file's; a scheduler address alone selects Dask."""
        given = {k: v for k, v in given.items() if v is not None}
        if given.get("scheduler") and "executor" not in given:
            given["executor"] = "dask"
        return dataclasses.replace(self, **given)


@dataclass
class ExecutionReport:
    """What an execution did: scenarios fitted now, compilations, worker restarts, and
    scenarios left unfinished (in flight when workers died too often)."""

    fitted: int = 0
    compiles: int = 0
    restarts: int = 0
    unfinished: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def chunks(tasks: Sequence[Task], size: int) -> list[list[Task]]:
    """Tasks grouped by structure (first-seen order), cut into chunks of at most ``size``,
    so that a worker receives a structure's scenarios together."""
    by_structure: dict[str, list[Task]] = {}
    for task in tasks:
        by_structure.setdefault(task.structure, []).append(task)
    return [group[i:i + size] for group in by_structure.values()
            for i in range(0, len(group), size)]


class _Sink:
    """Stores records as they arrive, advances the progress bar, calls the callback."""

    def __init__(self, store: Store, report: ExecutionReport, advance: Callable[[int], None],
                 callback: Callable[[dict], None] | None) -> None:
        self.store, self.report, self.advance, self.callback = store, report, advance, callback

    def __call__(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.store.put(record)
            self.report.fitted += 1
            self.report.compiles += bool(record["compiled"])
            self.advance(1)
            if self.callback is not None:
                self.callback(record)


def _serial(tasks: Sequence[Task], sink: _Sink, **_: Any) -> None:
    for task in tasks:
        sink([_run_task(task, single_core=False)])


def _processes(tasks: Sequence[Task], sink: _Sink, *, workers: int, chunk_size: int,
               max_restarts: int, **_: Any) -> None:
    import multiprocessing

    # spawn, not fork: the driver has imported PyMC and may hold threads (progress bar,
    # BLAS); a forked child can inherit a held lock. Workers import pexsurv once each.
    context = multiprocessing.get_context("spawn")
    pending = dict(enumerate(chunks(tasks, chunk_size)))
    while pending:
        broken = False
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(run_chunk, chunk): i for i, chunk in pending.items()}
            while futures and not broken:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    i = futures.pop(future)
                    try:
                        records = future.result()
                    except BrokenProcessPool:
                        # A worker died (kill -9, out of memory): the pool is unusable and
                        # every chunk still in it is lost; finished ones are already stored.
                        broken = True
                        continue
                    sink(records)
                    del pending[i]
            for future in futures:
                future.cancel()
        if not broken:
            return
        sink.report.restarts += 1
        finished = sink.store.finished()
        pending = {i: left for i, chunk in pending.items()
                   if (left := [t for t in chunk if t.key not in finished])}
        left = sum(map(len, pending.values()))
        if sink.report.restarts > max_restarts:
            sink.report.unfinished = [t.key for chunk in pending.values() for t in chunk]
            sink.report.problems.append(
                f"worker processes died {sink.report.restarts} times; stopped with {left} "
                "scenario(s) unfinished (run again to resume)")
            return
        sink.report.problems.append(f"a worker process died; restarted the pool and "
                                    f"resubmitted {left} unfinished scenario(s)")


def _dask(tasks: Sequence[Task], sink: _Sink, *, client: Any, scheduler: str | None,
          chunk_size: int, **_: Any) -> None:
    from distributed import Client, as_completed

    own = client is None
    if own:
        if not scheduler:
            raise ValueError("executor 'dask' needs a client= or a scheduler address "
                             "(e.g. scheduler='tcp://10.0.0.1:8786')")
        client = Client(scheduler)
    try:
        pending = chunks(tasks, chunk_size)
        # Dask re-runs the tasks of a worker that dies (up to its allowed-failures
        # setting); a chunk that still fails is reported and left for a resume.
        futures = [client.submit(run_chunk, chunk, pure=False) for chunk in pending]
        owner = {f.key: chunk for f, chunk in zip(futures, pending)}
        for future in as_completed(futures):
            if future.status == "finished":
                sink(future.result())
            else:
                keys = [t.key for t in owner[future.key]]
                sink.report.unfinished += keys
                sink.report.problems.append(f"dask task {future.key} failed: "
                                            f"{future.exception()!r}; {len(keys)} scenario(s) "
                                            "unfinished (run again to resume)")
    finally:
        if own:
            client.close()


def execute(tasks: Sequence[Task], store: Store, options: ExecutorOptions = ExecutorOptions(),
            *, description: str = "sweep") -> ExecutionReport:
    """Run ``tasks`` as ``options`` say, writing each record to ``store`` as soon as its
    chunk returns.

    Parameters
    ----------
    tasks : sequence of Task
        The unfinished tasks.
    store : Store
    options : ExecutorOptions
    description : str
        Label of the progress bar.

    Returns
    -------
    ExecutionReport
    """
    from rich.progress import Progress

    workers = options.workers or os.cpu_count() or 1
    chunk_size = options.chunk_size or max(1, min(16, -(-len(tasks) // (2 * workers))))
    report = ExecutionReport()
    run = {"serial": _serial, "processes": _processes, "dask": _dask}[options.executor]
    with Progress(disable=not options.progress, transient=False) as bar:
        job = bar.add_task(description, total=len(tasks))
        sink = _Sink(store, report, lambda k: bar.advance(job, k), options.callback)
        run(tasks, sink, workers=workers, client=options.client, scheduler=options.scheduler,
            chunk_size=chunk_size, max_restarts=options.max_restarts)
    return report
