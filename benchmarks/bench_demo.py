"""Benchmark ``pexsurv demo``: wall time and the number of model compilations per run.

Usage::

    .venv/bin/python benchmarks/bench_demo.py                  # -> benchmarks/bench_demo.md
    .venv/bin/python benchmarks/bench_demo.py --out-dir /tmp/demo --out /tmp/bench_demo.md
    .venv/bin/python benchmarks/bench_demo.py --processes 2    # each run in a new process

``--processes`` runs the demo in fresh Python processes one after the other: what a second
``pexsurv demo`` costs once PyTensor's on-disk numba cache (``~/.pytensor``) is warm.

The demo runs in this process (``pexsurv.cli.main(["demo", "--quiet", ...])``) with
``nutpie.compile_pymc_model``, the one function every compilation of the fitting layer goes
through, wrapped to count its calls and time them (the "Findings" section of the .md is
hand-written below the table the script writes). The issue's goal: analyses sharing a
model structure reuse one compiled model, and the demo runs in under 30 s on 2 cores.

Each run also records its CPU seconds (``time.process_time``: every thread of this process,
nutpie's sampler threads included), which the machine's load inflates far less than the wall
time: on 2 otherwise idle cores, with no waiting, the wall time is at most about the CPU time
(less where both cores work at once). The CPU seconds inside the fitting layer's sampling calls
(``CompiledModel.sample``) and, within them, in nutpie's conversion of its Arrow trace to
ArviZ (``nutpie.sample._arrow_to_arviz``) show where the rest goes.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import io
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import nutpie

from pexsurv.cli import main


@contextlib.contextmanager
def _timed(owner: object, name: str, clock: Callable[[], float]) -> Iterator[list[float]]:
    """Replace ``owner.name`` by a wrapper that appends each call's ``clock`` seconds to the
    yielded list; restored on exit."""
    calls: list[float] = []
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        t0 = clock()
        try:
            return original(*args, **kwargs)
        finally:
            calls.append(clock() - t0)

    setattr(owner, name, timed)
    try:
        yield calls
    finally:
        setattr(owner, name, original)


def run(demo_args: list[str]) -> dict:
    """Run the demo once; returns wall and CPU seconds, compiles and their wall seconds, the
    CPU seconds of sampling calls and of nutpie's trace conversion within them, the exit
    status and the load average at the start and end."""
    from pexsurv.fitting.compiled import CompiledModel  # after main_bench times the import

    load_start = os.getloadavg()[0]
    with (_timed(nutpie, "compile_pymc_model", time.perf_counter) as compiles,
          _timed(CompiledModel, "sample", time.process_time) as samples,
          _timed(importlib.import_module("nutpie.sample"), "_arrow_to_arviz",
                 time.process_time) as conversions):
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            status = main(["demo", "--quiet", *demo_args])
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    return {"wall": wall, "cpu": cpu, "compiles": len(compiles),
            "compile_seconds": sum(compiles), "samples": len(samples),
            "sample_cpu": sum(samples), "convert_cpu": sum(conversions), "status": status,
            "load_start": load_start, "load_end": os.getloadavg()[0]}


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".md")))
    parser.add_argument("--out-dir", help="also pass --out DIR to the demo (fits + report)")
    parser.add_argument("--runs", type=int, default=2, help="runs in this process (default 2: "
                        "the second shows what warm numba/PyTensor caches leave)")
    parser.add_argument("--processes", type=int, default=0,
                        help="instead, this many runs, each in a new Python process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    demo_args = ["--out", args.out_dir] if args.out_dir else []
    t0 = time.perf_counter()
    import pexsurv.fitting  # noqa: F401  (import time reported apart from the runs)
    imported = time.perf_counter() - t0
    if args.child:  # one run for a parent with --processes: the numbers as one JSON line
        print(json.dumps({**run(demo_args), "import": imported}))
        return
    if args.processes:
        child = [sys.executable, __file__, "--child",
                 *(["--out-dir", args.out_dir] if args.out_dir else [])]
        runs = [json.loads(subprocess.run(child, check=True, capture_output=True, text=True)
                           .stdout.strip().splitlines()[-1]) for _ in range(args.processes)]
        where = "new process"
    else:
        runs = [run(demo_args) for _ in range(args.runs)]
        where = "same process"
    rows = [f"| {i} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['compiles']} | "
            f"{r['compile_seconds']:.1f} | {r['samples']}: {r['sample_cpu']:.1f} | "
            f"{r['convert_cpu']:.1f} | {r['status']} | {r['load_start']:.1f} / "
            f"{r['load_end']:.1f} |" for i, r in enumerate(runs, 1)]
    text = "\n".join([
        "# pexsurv demo: wall time and compiles per run", "",
        f"Command: `{shlex.join([sys.executable, *sys.argv])}`",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.platform()}; "
        f"{os.cpu_count()} CPU(s); load average {os.getloadavg()[0]:.1f} at the end; "
        "per run the 1-minute load average at its start and end (a shared machine: wall "
        "times rise with the load).", "",
        f"Import of pexsurv.fitting: {imported:.1f} s (not in the runs).", "",
        f"| run ({where}) | wall s | CPU s | compiles | compile s | sampling calls: CPU s | "
        "of which nutpie trace -> ArviZ, CPU s | exit | load start / end |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows, "",
    ])
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main_bench()
