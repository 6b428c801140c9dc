"""Benchmark sweeps and operating characteristics with the shipped code and defaults.

Usage::

    .venv/bin/python benchmarks/bench_sweep.py                     # -> benchmarks/bench_sweep.md
    .venv/bin/python benchmarks/bench_sweep.py --scenarios 40 --oc-trials 20 --out /tmp/b.md

Measured in one run (so that ratios compare like with like on a shared machine):

1. a serial sweep of ``--scenarios`` scenarios (log-HR prior scale x seed on the CT041-like
   trial, PH PEM, the default sampler: nutpie, 4 chains x 1000 draws after 1000 tuning
   steps), then the same scenarios with the ``processes`` executor (2 workers), each into
   a fresh store: wall time per executor, compilations, seconds per warm scenario;
2. where a warm scenario's time goes (the records' own timings: data, fit, of which
   sampling, summary), plus the store write (timed around ``Store.put``);
3. ``--oc-trials`` simulated CT041-like trials (OS, ITT, PEM with 4 equal-event intervals,
   default sampler), serial;
4. extrapolations to the issue's goals (1,000 scenarios, 10,000 trials), labelled as such.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


from pexsurv.workflows import AnalysisConfig
from pexsurv.workflows.config import write_example
from pexsurv.workflows.oc import OCDesign, operating_characteristics
from pexsurv.workflows.sweep import Store, sweep

SIGMAS = [1.0, 0.5, 2.0, 0.25, 4.0]


def base_config(folder: Path) -> AnalysisConfig:
    toml_path, _ = write_example(folder)
    raw = AnalysisConfig.from_toml(toml_path).to_dict()
    raw["populations"] = ["itt"]
    raw["sampler"] = {"seed": 1}  # every other sampler setting at the package default
    return AnalysisConfig.from_dict(raw, base=folder)


def timed_puts() -> list[float]:
    """Wrap Store.put to time every store write."""
    times: list[float] = []
    original = Store.put

    def put(self, record):
        t0 = time.perf_counter()
        try:
            return original(self, record)
        finally:
            times.append(time.perf_counter() - t0)

    Store.put = put
    return times


def run_sweep(base, grid, store, executor) -> dict:
    t0 = time.perf_counter()
    result = sweep(base, grid, store=store, executor=executor, workers=2, progress=False)
    wall = time.perf_counter() - t0
    records = [r for r in result.records if r is not None]
    warm = [r["seconds"] for r in records if not r["compiled"]]
    cold = [r["seconds"]["compile"] for r in records if r["compiled"]]
    return {"wall": wall, "n": len(records), "compiles": result.compiles, "warm": warm,
            "compile": cold, "converged": int(result.dataset["converged"].sum())}


PROFILED = {  # label -> (file suffix, function name) in the profile of warm fits
    "NUTS itself (nutpie's PySampler.wait)": ("~", "<method 'wait' of 'builtins.PySampler' objects>"),
    "nutpie draws -> xarray (_extract)": ("nutpie/sample.py", "_extract"),
    "convergence verdict (check_convergence: az.summary)": ("fitting/convergence.py", "check_convergence"),
    "set_data (new pm.Data values)": ("fitting/compiled.py", "set_data"),
    "relabel draws (pem._labelled)": ("fitting/pem.py", "_labelled"),
    "provenance (package versions)": ("pexsurv/provenance.py", "versions"),
}


def profile_fits(n: int = 10) -> tuple[float, dict[str, float]]:
    """cProfile ``n`` warm fits of the sweep's model: seconds per fit, and per part."""
    import cProfile
    import dataclasses
    import pstats

    from pexsurv import datasets, equal_events
    from pexsurv.fitting import compile_spec, default_config, fit
    from pexsurv.models import PiecewiseExponential

    data = datasets.ct041_like("os")
    spec = PiecewiseExponential(cuts=tuple(equal_events(data, k=4)))
    config = default_config(spec, seed=1, progress=False)
    compiled = compile_spec(spec, data, config)
    fit(spec, data, sampler=config, compiled=compiled)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(n):
        fit(spec, data, sampler=dataclasses.replace(config, seed=i), compiled=compiled)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    def cum(suffix: str, name: str) -> float:
        return sum(v[3] for (file, _, func), v in stats.items()
                   if func == name and file.endswith(suffix)) / n
    total = cum("fitting/fit.py", "fit")
    return total, {label: cum(*where) for label, where in PROFILED.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--oc-trials", type=int, default=100)
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".md")))
    args = parser.parse_args()
    seeds = -(-args.scenarios // len(SIGMAS))
    grid = {"priors.log_hr.sigma": SIGMAS, "sampler.seed": list(range(1, seeds + 1))}
    n = len(SIGMAS) * seeds
    puts = timed_puts()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = base_config(tmp)
        serial = run_sweep(base, grid, tmp / "serial", "serial")
        serial_puts = list(puts)
        processes = run_sweep(base, grid, tmp / "processes", "processes")
        same = sorted(Store(tmp / "serial").records(), key=lambda r: r["key"])
        other = sorted(Store(tmp / "processes").records(), key=lambda r: r["key"])
        strip = lambda r: {k: v for k, v in r.items() if k not in ("worker", "compiled", "seconds")}  # noqa: E731
        identical = [strip(a) for a in same] == [strip(b) for b in other]
        t0 = time.perf_counter()
        oc = operating_characteristics(
            OCDesign(), {"ct041_like": {}}, args.oc_trials, "P(HR < 1) > 0.975",
            store=tmp / "oc", progress=False)
        oc_wall = time.perf_counter() - t0
        oc_records = list(Store(tmp / "oc").records())
    per_fit, profiled = profile_fits()
    warm = serial["warm"]
    parts = {k: statistics.median(s[k] for s in warm) for k in ("data", "fit", "sampling", "summary", "total")}
    put = statistics.median(serial_puts)
    outside = parts["total"] - parts["sampling"] + put
    oc_warm = [r["seconds"] for r in oc_records if not r["compiled"]]
    oc_parts = {k: statistics.median(s[k] for s in oc_warm) for k in ("data", "fit", "sampling", "summary", "total")}
    oc_outside = oc_parts["total"] - oc_parts["sampling"] + put
    per_serial = (serial["wall"] - sum(serial["compile"])) / n
    # Processes: steady state once both workers have compiled (the slower compilation is
    # start-up, paid once per sweep whatever its size).
    startup = max(processes["compile"]) if processes["compile"] else 0.0
    per_proc = max(processes["wall"] - startup, 0.0) / n
    load = os.getloadavg()
    lines = [
        "# Sweep and operating-characteristics benchmark",
        "",
        f"Command: `{shlex.join(['.venv/bin/python', *sys.argv])}`  ",
        f"Run: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        "(1 / 5 / 15 min; a load above 2 means other jobs shared these 2 cores).",
        "",
        f"Sweep: CT041-like OS, ITT, PH PEM, 4 equal-event intervals, default sampler "
        f"(nutpie, 4 chains x 1000 draws + 1000 tuning), grid = log-HR prior sd {SIGMAS} x "
        f"{seeds} seeds = {n} scenarios.",
        "",
        "| executor | scenarios | wall (s) | compilations | compile (s, each) | wall per scenario (s) | converged |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in (("serial", serial), ("processes (2 workers)", processes)):
        lines.append(f"| {name} | {r['n']} | {r['wall']:.1f} | {r['compiles']} | "
                     f"{', '.join(f'{c:.1f}' for c in r['compile'])} | {r['wall'] / r['n']:.3f} | "
                     f"{r['converged']}/{r['n']} |")
    lines += [
        "",
        f"- processes / serial wall time: **{processes['wall'] / serial['wall']:.2f}** "
        f"(goal <= 0.6); stored summaries identical bit for bit: **{identical}**.",
        f"- serial wall per warm scenario (compilation taken out): {per_serial:.3f} s.",
        "",
        "Where a warm scenario's time goes (serial, medians over the warm scenarios; from the "
        "records' own timings, store write timed around `Store.put`):",
        "",
        "| part | seconds | share of the fit |",
        "|---|---|---|",
        f"| data (TrialData in the task) | {parts['data']:.4f} | {parts['data'] / parts['fit']:.1%} |",
        f"| fit (`fit` with the compiled model) | {parts['fit']:.4f} | 100% |",
        f"| of which sampling (nutpie) | {parts['sampling']:.4f} | {parts['sampling'] / parts['fit']:.1%} |",
        f"| summary (HR quantiles, P(HR < t)) | {parts['summary']:.4f} | {parts['summary'] / parts['fit']:.1%} |",
        f"| store write (atomic JSON + fsync) | {put:.4f} | {put / parts['fit']:.1%} |",
        f"| **outside sampling** (total - sampling + write) | {outside:.4f} | {outside / parts['fit']:.1%} |",
        "",
        f"Inside `fit` (cProfile of 10 warm fits of the same model, {per_fit:.3f} s per fit "
        "under the profiler):",
        "",
        "| part of `fit` | seconds per fit | share |",
        "|---|---|---|",
        *[f"| {label} | {sec:.4f} | {sec / per_fit:.1%} |" for label, sec in profiled.items()],
        f"| rest | {per_fit - sum(profiled.values()):.4f} | "
        f"{(per_fit - sum(profiled.values())) / per_fit:.1%} |",
        "",
        f"Operating characteristics: {args.oc_trials} simulated CT041-like trials (OS, ITT), "
        f"serial: {oc_wall:.1f} s wall including one compilation; per warm trial "
        f"{oc_parts['total']:.3f} s, of which simulate + TrialData + population "
        f"{oc_parts['data']:.4f} s, sampling {oc_parts['sampling']:.4f} s; outside sampling "
        f"(incl. store write) {oc_outside:.4f} s = {oc_outside / oc_parts['fit']:.1%} of the fit. "
        f"P(success) of P(HR < 1) > 0.975: {oc.table.loc['ct041_like', 'p_success']:.2f} "
        f"(MCSE {oc.table.loc['ct041_like', 'p_success_mcse']:.2f}).",
        "",
        "## Extrapolations (not measured: computed from the rows above)",
        "",
        f"- 1,000 scenarios: serial ~ {1000 * per_serial / 60:.1f} min + one compilation; "
        f"processes (2 workers) ~ {(startup + 1000 * per_proc) / 60:.1f} min (start-up "
        f"{startup:.0f} s once, then {per_proc:.3f} s per scenario as measured after it; "
        f"goal < 5 min).",
        f"- 10,000 simulated trials, one PEM fit each: serial ~ {10000 * oc_parts['total'] / 60:.0f} min; "
        f"with 2 processes at the measured processes/serial ratio "
        f"~ {10000 * oc_parts['total'] * processes['wall'] / serial['wall'] / 60:.0f} min (goal < 20 min).",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
