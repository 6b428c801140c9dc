"""Benchmark sweeps and operating characteristics with the shipped code and defaults.

Usage::

    .venv/bin/python benchmarks/bench_sweep.py sweeps              # -> benchmarks/bench_sweep.md
    .venv/bin/python benchmarks/bench_sweep.py sweeps --scenarios 40 --big 0 --out /tmp/b.md
    .venv/bin/python benchmarks/bench_sweep.py oc --oc-trials 10000 --store oc_store \\
        --out benchmarks/bench_sweep_oc.md                          # resumable: re-run resumes

``sweeps`` measures in one run (so that ratios compare like with like on a shared machine):

1. a sweep of ``--scenarios`` scenarios (log-HR prior scale x seed on the CT041-like trial,
   PH PEM, the default sampler: nutpie, 4 chains x 1000 draws after 1000 tuning steps),
   serial (nutpie's default threads), serial with one core per fit, and with the
   ``processes`` executor (2 workers, one core per fit), each into a fresh store: wall time
   per executor, compilations, seconds per warm scenario; the two ratios (processes against
   the default serial run, and against serial at one core per fit: executor scaling alone)
   and the ratio that NUTS and overhead per fit predict;
2. where a warm scenario's time goes (the records' own timings: data, fit, of which
   sampling, summary; the store write timed around ``Store.put``) and a profile of warm fits
   before and after the conversion and provenance changes (same process, same model);
3. a ``--big``-scenario sweep (log-HR prior scale x baseline prior scale x seed, PH PEM) with
   the processes executor, measured end to end;
4. a Bayesian RPSFT ``treat_modifier`` x seed sweep of ``--rpsft`` scenarios (its stage 2
   is the PH PEM, fitted once per psi draw), processes executor.

``oc`` runs ``--oc-trials`` simulated CT041-like trials (OS, ITT, PEM with 4 equal-event
intervals, default sampler, one Bayesian fit each) with the processes executor into
``--store`` (resumable), logging progress to ``<store>.progress.csv``.
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
BASELINES = [{"dist": "IndependentNormal", "sigma": s} for s in (5.0, 2.0, 10.0, 1.0)]


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
            "compile": cold, "converged": int(result.dataset["converged"].sum()),
            "errors": sum(bool(r.get("error")) for r in records)}


# label -> where its time is spent, as (file suffix, function name) pairs summed over; a
# "before" profile runs nutpie's and PyMC's conversions, an "after" one pexsurv's own.
PROFILED = {
    "NUTS itself (nutpie's PySampler.wait)": [("~", "<method 'wait' of 'builtins.PySampler' objects>")],
    "draws -> xarray (before: nutpie _extract; after: nutpie_trace.trace_to_tree)": [
        ("nutpie/sample.py", "_extract"), ("fitting/nutpie_trace.py", "trace_to_tree")],
    "constant/observed data groups (before: pymc patch_nutpie_idata; after: nutpie_trace.data_groups)": [
        ("pymc/backends/arviz.py", "patch_nutpie_idata"), ("fitting/nutpie_trace.py", "data_groups")],
    "convergence verdict (check_convergence)": [("fitting/convergence.py", "check_convergence")],
    "set_data (new pm.Data values)": [("fitting/compiled.py", "set_data")],
    "relabel draws (compiled.relabel)": [("fitting/compiled.py", "relabel")],
    "provenance (package versions)": [("pexsurv/provenance.py", "versions")],
}
NUTS = next(iter(PROFILED))


def profile_fits(n: int = 10, *, before: bool = False, cores: int | None = None) -> dict:
    """``n`` warm fits of the sweep's model (verdict included), timed plainly and then under
    cProfile: median wall per fit, and seconds per fit of each :data:`PROFILED` part.

    ``before=True`` re-creates the pre-change path in this process: nutpie's own conversion
    and PyMC's ``patch_nutpie_idata`` (any ``store_*`` option selects them; ``store_gradient
    =False`` is nutpie's default, so the draws are the same), package versions read from
    metadata at every fit, and the verdict's table from ArviZ's array functions one
    statistic at a time. ``cores``: nutpie's threads per fit (default: one per chain, up to
    the machine's cores).
    """
    import contextlib
    import cProfile
    import dataclasses
    import pstats

    from arviz_stats.base import array_stats

    from pexsurv import datasets, equal_events, provenance
    from pexsurv.fitting import compile_spec, convergence, default_config, fit
    from pexsurv.models import PiecewiseExponential

    def arviz_table(ary):  # the verdict's table as computed before
        return {"r_hat": array_stats.rhat(ary), "ess_bulk": array_stats.ess(ary, method="bulk"),
                "ess_tail": array_stats.ess(ary, method="tail", prob=convergence.TAIL_ESS_PROBS),
                "mcse_mean": array_stats.mcse(ary, method="mean")}

    data = datasets.ct041_like("os")
    spec = PiecewiseExponential(cuts=tuple(equal_events(data, k=4)))
    options = {**({"store_gradient": False} if before else {}),
               **({"cores": cores} if cores else {})}
    config = default_config(spec, seed=1, progress=False, options=options)
    compiled = compile_spec(spec, data, config)

    def one(i: int) -> float:
        if before:
            provenance._version.cache_clear()  # what versions() cost before it was cached
        t0 = time.perf_counter()
        fit(spec, data, sampler=dataclasses.replace(config, seed=i), compiled=compiled).convergence
        return time.perf_counter() - t0

    fast_table = convergence._diagnostics
    with contextlib.ExitStack() as restore:
        if before:
            convergence._diagnostics = arviz_table
            restore.callback(setattr, convergence, "_diagnostics", fast_table)
        one(0)
        wall = statistics.median(one(i) for i in range(1, n + 1))
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(1, n + 1):
            one(i)
        profiler.disable()
    stats = pstats.Stats(profiler).stats

    def cum(suffix: str, name: str) -> float:
        return sum(v[3] for (file, _, func), v in stats.items()
                   if func == name and file.endswith(suffix)) / n
    parts = {label: sum(cum(*w) for w in where) for label, where in PROFILED.items()}
    return {"wall": wall, "profiled": cum("fitting/fit.py", "fit"), "parts": parts}


def serial_one_core():
    """A context in which the serial executor runs each fit on one core, as a processes
    worker does (``run_chunk``: nutpie's chains one after another): the executor-scaling
    comparison, 2 processes x 1 core against 1 process x 1 core."""
    import contextlib

    from pexsurv.fitting.compiled import clear_compile_cache
    from pexsurv.workflows.sweep import executors

    @contextlib.contextmanager
    def patched():
        # A fresh start: compiled like the default serial run, not re-using its model.
        executors._COMPILED.clear()
        clear_compile_cache()
        original = executors._serial
        executors._serial = lambda tasks, sink, **_: [sink(executors.run_chunk([t])) for t in tasks]
        try:
            yield
        finally:
            executors._serial = original
    return patched()


def load_line() -> str:
    load = os.getloadavg()
    return f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"


def header(title: str, started: str) -> list[str]:
    return [
        f"# {title}",
        "",
        f"Command: `{shlex.join(['.venv/bin/python', *sys.argv])}`  ",
        f"Run ended: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores; load average (1 / 5 / 15 min) at the start {started}, at the "
        f"end {load_line()} (a load above 2 means other jobs shared these 2 cores).",
        "",
    ]


def sweeps(args: argparse.Namespace) -> list[str]:
    started = load_line()
    seeds = -(-args.scenarios // len(SIGMAS))
    grid = {"priors.log_hr.sigma": SIGMAS, "sampler.seed": list(range(1, seeds + 1))}
    n = len(SIGMAS) * seeds
    big_grid = {"priors.log_hr.sigma": SIGMAS, "priors.log_hazard_base": BASELINES,
                "sampler.seed": list(range(1, -(-args.big // (len(SIGMAS) * len(BASELINES))) + 1))}
    puts = timed_puts()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = base_config(tmp)
        serial = run_sweep(base, grid, tmp / "serial", "serial")
        serial_puts = list(puts)
        with serial_one_core():
            serial1 = run_sweep(base, grid, tmp / "serial1", "serial")
        processes = run_sweep(base, grid, tmp / "processes", "processes")
        strip = lambda r: {k: v for k, v in r.items() if k not in ("worker", "compiled", "seconds")}  # noqa: E731
        stored = [[strip(r) for r in sorted(Store(tmp / name).records(), key=lambda r: r["key"])]
                  for name in ("serial", "serial1", "processes")]
        identical = stored[0] == stored[1] == stored[2]
        big = run_sweep(base, big_grid, tmp / "big", "processes") if args.big else None
        big_load = load_line()
        rpsft_base = AnalysisConfig.from_dict(
            {**base.to_dict(), "model": {"type": "rpsft", "cuts": {"rule": "equal_events", "k": 4}},
             "priors": {}}, base=tmp)
        rpsft = (run_sweep(rpsft_base, {"model.treat_modifier": [1.0, 0.5],
                                        "sampler.seed": list(range(1, -(-args.rpsft // 2) + 1))},
                           tmp / "rpsft", "processes") if args.rpsft else None)
    before, after = profile_fits(before=True), profile_fits()
    one_core = profile_fits(cores=1)
    parts = {k: statistics.median(s[k] for s in serial["warm"])
             for k in ("data", "fit", "sampling", "summary", "total")}
    put = statistics.median(serial_puts)
    outside = parts["total"] - parts["sampling"] + put
    per_serial = (serial["wall"] - sum(serial["compile"])) / n
    # The executor-scaling model: S = NUTS per fit on one core (its CPU time), O = the
    # single-threaded rest of a fit. Serial fits run the chains on 2 threads (S/2 + O per
    # fit at best); 2 processes x 1 core fit two at a time ((S + O)/2 per fit).
    # NUTS runs in nutpie's Rust threads, which the profiler does not slow down; O is the
    # plain wall per one-core fit minus it.
    s_cpu = one_core["parts"][NUTS]
    o_cpu = one_core["wall"] - s_cpu
    warm = {name: r["wall"] - (max(r["compile"], default=0.0) if name == "processes"
                               else sum(r["compile"]))
            for name, r in (("serial", serial), ("serial1", serial1), ("processes", processes))}
    overhead = {k: v["profiled"] - v["parts"][NUTS] for k, v in (("before", before), ("after", after))}
    lines = header("Sweep and operating-characteristics benchmark", started) + [
        f"Sweep: CT041-like OS, ITT, PH PEM, 4 equal-event intervals, default sampler "
        f"(nutpie, 4 chains x 1000 draws + 1000 tuning), grid = log-HR prior sd {SIGMAS} x "
        f"{seeds} seeds = {n} scenarios.",
        "",
        "| executor | scenarios | wall (s) | compilations | compile (s, each) | wall per scenario (s) | converged |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in (("serial (default: nutpie's 4 chains on the machine's cores)", serial),
                    ("serial, 1 core per fit", serial1),
                    ("processes (2 workers, 1 core per fit)", processes)):
        lines.append(f"| {name} | {r['n']} | {r['wall']:.1f} | {r['compiles']} | "
                     f"{', '.join(f'{c:.1f}' for c in r['compile'])} | {r['wall'] / r['n']:.3f} | "
                     f"{r['converged']}/{r['n']} |")
    lines += [
        "",
        f"- processes / serial (default) wall time: **{processes['wall'] / serial['wall']:.2f}** "
        f"(goal <= 0.6); processes / serial with 1 core per fit (executor scaling, ideal 0.5): "
        f"**{processes['wall'] / serial1['wall']:.2f}**; stored summaries identical bit for bit "
        f"across the three: **{identical}**.",
        f"- the same with compilation taken out (serial: its compilation; processes: the "
        f"longer of the two, which run at once): processes / serial (default) "
        f"**{warm['processes'] / warm['serial']:.2f}**, processes / serial 1 core "
        f"**{warm['processes'] / warm['serial1']:.2f}**.",
        f"- serial wall per warm scenario (compilation taken out): {per_serial:.3f} s.",
        f"- NUTS per warm fit (cProfile): {s_cpu:.4f} s on 1 core (S), "
        f"{after['parts'][NUTS]:.4f} s with the default cores; rest of a one-core fit "
        f"O = {o_cpu:.4f} s. The model (S + O) / (S + 2 O) predicts "
        f"processes / serial = **{(s_cpu + o_cpu) / (s_cpu + 2 * o_cpu):.2f}** (it tends to 0.5 "
        f"only as O >> S, and to 1 as the fits become all NUTS).",
        "",
        "Where a warm scenario's time goes (serial, medians over the warm scenarios; from the "
        "records' own timings, store write timed around `Store.put`; \"sampling\" is "
        "`CompiledModel.sample`: NUTS plus the conversion of the draws to xarray):",
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
        f"Inside `fit` (cProfile of 10 warm fits of the same model, verdict included; "
        f"\"before\" re-creates the earlier path in the same process: nutpie's and PyMC's "
        f"conversions, versions read at every fit, the verdict's table from ArviZ's array "
        f"functions one statistic at a time). Plain wall per fit: before "
        f"{before['wall']:.3f} s, after {after['wall']:.3f} s; under the profiler "
        f"{before['profiled']:.3f} s and {after['profiled']:.3f} s. **Overhead (fit minus NUTS, "
        f"profiled): before {overhead['before']:.4f} s, after {overhead['after']:.4f} s = "
        f"{overhead['after'] / overhead['before']:.0%} of before** (goal <= 50%).",
        "",
        "| part of `fit` | before (s per fit) | after (s per fit) | after, share |",
        "|---|---|---|---|",
        *[f"| {label} | {before['parts'][label]:.4f} | {sec:.4f} | {sec / after['profiled']:.1%} |"
          for label, sec in after["parts"].items()],
        f"| rest | {before['profiled'] - sum(before['parts'].values()):.4f} | "
        f"{after['profiled'] - sum(after['parts'].values()):.4f} | "
        f"{(after['profiled'] - sum(after['parts'].values())) / after['profiled']:.1%} |",
        "",
    ]
    if big is not None:
        lines += [
            f"Large sweep, measured end to end: log-HR prior sd {SIGMAS} x baseline prior "
            f"{[b['sigma'] for b in BASELINES]} (IndependentNormal sd) x "
            f"{len(big_grid['sampler.seed'])} seeds = **{big['n']} scenarios** (PH PEM), processes "
            f"executor (2 workers): **{big['wall']:.1f} s = {big['wall'] / 60:.2f} min** (goal < 5 "
            f"min), {big['compiles']} compilations ({', '.join(f'{c:.1f}' for c in big['compile'])} s), "
            f"{big['converged']}/{big['n']} converged, {big['errors']} errors; load average "
            f"right after it {big_load}.",
            "",
        ]
    if rpsft is not None:
        lines += [
            f"Bayesian RPSFT sweep (stage 2 = the PH PEM, fitted once per psi draw: 200 draws of "
            f"4 x 250 after 300 tuning by default), treat_modifier [1.0, 0.5] x seeds = "
            f"{rpsft['n']} scenarios, processes executor (2 workers): {rpsft['wall']:.1f} s, "
            f"{rpsft['wall'] / rpsft['n']:.1f} s per scenario, {rpsft['compiles']} compilations, "
            f"{rpsft['converged']}/{rpsft['n']} converged.",
            "",
        ]
    return lines


def oc(args: argparse.Namespace) -> list[str]:
    started = load_line()
    store = Path(args.store)
    progress = Path(f"{store}.progress.csv")
    new = not progress.exists()
    log = progress.open("a")
    if new:
        log.write("utc,unix,stored_now,load1\n")
    counter = {"n": 0}

    def tick(record: dict) -> None:
        counter["n"] += 1
        if counter["n"] % 100 == 0:
            log.write(f"{datetime.now(timezone.utc):%H:%M:%S},{time.time():.1f},{counter['n']},"
                      f"{os.getloadavg()[0]:.1f}\n")
            log.flush()

    t0 = time.perf_counter()
    result = operating_characteristics(
        OCDesign(), {"ct041_like": {}}, args.oc_trials, "P(HR < 1) > 0.975", store=store,
        executor="processes", workers=2, progress=False, callback=tick)
    wall = time.perf_counter() - t0
    log.close()
    records = list(Store(store).records())
    row = result.table.loc["ct041_like"]
    return header("Operating characteristics benchmark", started) + [
        f"{args.oc_trials} simulated CT041-like trials (OS, ITT, PEM with 4 equal-event "
        "intervals from a pilot trial, default sampler: 4 x 1000 draws), one Bayesian fit each, "
        "processes executor (2 workers, one core per fit).",
        "",
        f"- fitted in this run: {result.fitted} ({result.compiles} compilations); in the store: "
        f"{len(records)}; wall time of this run: **{wall:.0f} s = {wall / 60:.1f} min** "
        f"(goal for 10,000: < 20 min); {wall / max(result.fitted, 1):.3f} s per trial.",
        f"- P(success) of P(HR < 1) > 0.975: {row['p_success']:.3f} (MCSE "
        f"{row['p_success_mcse']:.3f}); converged {row['converged']:.1%}; failed fits "
        f"{int(row['failed'])}; problems {len(result.problems)}.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("sweeps", "oc"))
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--big", type=int, default=1000, help="scenarios of the large sweep (0: skip)")
    parser.add_argument("--rpsft", type=int, default=4, help="RPSFT scenarios (0: skip)")
    parser.add_argument("--oc-trials", type=int, default=100)
    parser.add_argument("--store", default="oc_store", help="oc: store folder (resumable)")
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".md")))
    args = parser.parse_args()
    lines = sweeps(args) if args.part == "sweeps" else oc(args)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
