"""Warm refits of one compiled PEM per process: how nutpie's chain threads and concurrent
processes share 2 cores (the bound on the processes executor's speed-up).

Usage (one process with nutpie's default cores, one with ``cores=1``, then two at once)::

    .venv/bin/python benchmarks/bench_cores.py --cores 2
    .venv/bin/python benchmarks/bench_cores.py --cores 1
    .venv/bin/python benchmarks/bench_cores.py --cores 1 --go /tmp/go & \\
        .venv/bin/python benchmarks/bench_cores.py --cores 1 --go /tmp/go & \\
        sleep 40; touch /tmp/go; wait

Each process compiles the CT041-like OS PEM (4 equal-event intervals, default sampler), fits
it once, waits for the ``--go`` file (so that concurrent processes time the same window)
and prints wall and CPU seconds per fit over ``--fits`` refits with new seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

from pexsurv import datasets, equal_events
from pexsurv.fitting import compile_spec, default_config, fit
from pexsurv.models import PiecewiseExponential


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cores", type=int, default=None, help="nutpie cores (default: its own)")
    parser.add_argument("--fits", type=int, default=60)
    parser.add_argument("--go", default=None, help="wait for this file before timing")
    args = parser.parse_args()
    data = datasets.ct041_like("os")
    spec = PiecewiseExponential(cuts=tuple(equal_events(data, k=4)))
    options = {"cores": args.cores} if args.cores else {}
    config = default_config(spec, seed=1, progress=False, options=options)
    compiled = compile_spec(spec, data, config)
    fit(spec, data, sampler=config, compiled=compiled)  # warm
    while args.go and not os.path.exists(args.go):
        time.sleep(0.05)
    wall, cpu = time.perf_counter(), time.process_time()
    for seed in range(args.fits):
        fit(spec, data, sampler=dataclasses.replace(config, seed=seed), compiled=compiled)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"cores={args.cores or 'default'} pid={os.getpid()}: wall per fit "
          f"{wall / args.fits:.4f} s, CPU per fit {cpu / args.fits:.4f} s; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
