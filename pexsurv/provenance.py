"""What a result was computed with: package versions, the machine, digests of the
package's own source files (stamped on fits, benchmark and validation reports), and the
run record every benchmark and validation script shares (command line, start time, load
averages, best-of-n timings)."""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["RunLog", "best_of", "cpu_model", "machine", "source_digests", "study_parser",
           "versions"]

VERSIONED = ("pexsurv", "pymc", "pytensor", "arviz", "nutpie", "numpy", "xarray")


def versions(extra: Sequence[str] = ()) -> dict[str, str]:
    """Versions of Python, the core stack and ``extra`` distributions.

    Read once per process and distribution (a new dict each call): reading package
    metadata cost a warm sweep fit 5% of its time, and the packages a process has
    imported do not change under it.

    Examples
    --------
    >>> sorted(versions())[:3]
    ['arviz', 'numpy', 'nutpie']
    """
    return {"python": platform.python_version(),
            **{name: _version(name) for name in (*VERSIONED, *extra)}}


@functools.cache
def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what ``platform`` reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def source_digests(modules: Sequence[str]) -> str:
    """SHA-256 prefixes of the source files of ``modules``, as the running process imported
    them: a development build has no release number to name the code a report came from.

    Examples
    --------
    >>> source_digests(["pexsurv.km"]).startswith("`pexsurv.km` sha256 ")
    True
    """
    rows = []
    for name in modules:
        path = Path(importlib.import_module(name).__file__)
        rows.append(f"`{name}` sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:10]}")
    return ", ".join(rows)


def machine(extra: Sequence[str] = ()) -> str:
    """One line naming the usable CPUs and the versions of Python, pexsurv, PyMC, nutpie
    and ``extra`` distributions: the machine line of every report.

    Examples
    --------
    >>> "usable CPU(s), python" in machine(["lifelines"])
    True
    """
    v = versions(extra)
    names = ("pexsurv", "pymc", "nutpie", *extra)
    return (f"{len(os.sched_getaffinity(0))} usable CPU(s), python {v['python']}, "
            + ", ".join(f"{name} {v[name]}" for name in names))


def _load() -> tuple[float, float, float]:
    return tuple(round(x, 2) for x in os.getloadavg())  # type: ignore[return-value]


@dataclass
class RunLog:
    """When, how and where a script ran: the command, the UTC start, the load averages
    (1, 5, 15 min) at start and end, and the elapsed time. Start one with :meth:`start`.

    Examples
    --------
    >>> log = RunLog.start("validation/example.py", quiet=True)
    >>> log.over_budget(float("inf")), log.finish() is log
    (False, True)
    >>> "load average (1, 5, 15 min) at start" in log.machine_line()
    True
    """

    command: str
    started: str
    load_start: tuple[float, float, float]
    t0: float = field(default_factory=time.perf_counter, repr=False)
    load_end: tuple[float, float, float] | None = None
    seconds: float | None = None

    @classmethod
    def start(cls, script: str, *, quiet: bool = False) -> RunLog:
        """Record the start of ``script`` (a path from the repository root) run with this
        process's arguments, and print it unless ``quiet``."""
        log = cls(command=f".venv/bin/python {script} {shlex.join(sys.argv[1:])}".rstrip(),
                  started=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  load_start=_load())
        if not quiet:
            print(f"start {log.started}; load {log.load_start}; {log.command}", flush=True)
        return log

    def minutes(self) -> float:
        """Minutes since the start."""
        return (time.perf_counter() - self.t0) / 60

    def over_budget(self, budget_min: float) -> bool:
        """Whether more than ``budget_min`` minutes have passed (start no new trial)."""
        return self.minutes() > budget_min

    def finish(self) -> RunLog:
        """Record the end: elapsed seconds and the load averages now."""
        self.seconds = time.perf_counter() - self.t0
        self.load_end = _load()
        return self

    def machine_line(self, extra: Sequence[str] = ()) -> str:
        """``Machine: ...`` with :func:`machine` and the load averages at start and end."""
        end = self.load_end if self.load_end is not None else _load()
        return (f"Machine: {machine(extra)}; load average (1, 5, 15 min) at start "
                f"{self.load_start}, at end {end}.")


def study_parser(doc: str, *, trials: int, seed: int | None = None,
                 report: Path | None = None, figure: bool = False,
                 budget: bool = False) -> argparse.ArgumentParser:
    """The command line every simulation study shares: ``--trials``, and where asked for,
    ``--seed``, ``--out`` (default ``report`` + ``.md``), ``--png`` (default ``report`` +
    ``.png``; '' for no figure) and ``--budget-min``.

    The description is the first line of ``doc`` (the script's docstring); the script adds
    its own options to the parser it gets.

    Examples
    --------
    >>> p = study_parser("A study.", trials=10, seed=1, report=Path("out/study"), figure=True)
    >>> args = p.parse_args(["--trials", "3"])
    >>> args.trials, args.seed, args.out.name, args.png
    (3, 1, 'study.md', 'out/study.png')
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--trials", type=int, default=trials)
    if seed is not None:
        parser.add_argument("--seed", type=int, default=seed)
    if budget:
        parser.add_argument("--budget-min", type=float, default=float("inf"),
                            help="start no new trial after this many minutes")
    if report is not None:
        parser.add_argument("--out", type=Path, default=report.with_suffix(".md"))
        if figure:
            parser.add_argument("--png", default=str(report.with_suffix(".png")),
                                help="figure path ('' for none)")
    return parser


def best_of(repeat: int, task: Callable[[], Any]) -> tuple[float, float, Any]:
    """Best wall-clock and CPU seconds over ``repeat`` runs of ``task``, and its last result.

    Wall and CPU time are both kept: on a shared machine CPU time is the steadier.

    Examples
    --------
    >>> wall, cpu, result = best_of(2, lambda: sum(range(1000)))
    >>> result, wall >= 0.0, cpu >= 0.0
    (499500, True, True)
    """
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = task()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), result
