"""Benchmark sweeps and operating characteristics with the shipped code and defaults.

Usage::

    .venv/bin/python benchmarks/bench_sweep.py sweeps              # -> benchmarks/bench_sweep.md
    .venv/bin/python benchmarks/bench_sweep.py sweeps --scenarios 40 --big 0 --out /tmp/b.md
    .venv/bin/python benchmarks/bench_sweep.py oc --oc-trials 10000 --store oc_store \\
        --out benchmarks/bench_sweep_oc.md                          # resumable: re-run resumes

``sweeps`` measures in one run (so that ratios compare like with like on a shared machine):

1. a sweep of ``--scenarios`` scenarios (log-HR prior scale x seed on the CT041-like trial,
   PH PEM, the default sampler: nutpie, 4 chains x 1000 draws after 1000 tuning steps),
   serial and then with the ``processes`` executor (2 workers, one core per fit), each into
   a fresh store: wall time per executor, compilations, seconds per warm scenario;
2. where a warm scenario's time goes (the records' own timings: data, fit, of which
   sampling, summary; the store write timed around ``Store.put``) and a profile of warm fits;
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


PROFILED = {  # label -> (file suffix, function name) in the profile of warm fits
    "NUTS itself (nutpie's PySampler.wait)": ("~", "<method 'wait' of 'builtins.PySampler' objects>"),
    "nutpie draws -> xarray (nutpie _extract)": ("nutpie/sample.py", "_extract"),
    "constant/observed data groups (pymc patch_nutpie_idata)": ("pymc/backends/arviz.py", "patch_nutpie_idata"),
    "convergence verdict (check_convergence)": ("fitting/convergence.py", "check_convergence"),
    "set_data (new pm.Data values)": ("fitting/compiled.py", "set_data"),
    "relabel draws (compiled.relabel)": ("fitting/compiled.py", "relabel"),
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
        processes = run_sweep(base, grid, tmp / "processes", "processes")
        same = sorted(Store(tmp / "serial").records(), key=lambda r: r["key"])
        other = sorted(Store(tmp / "processes").records(), key=lambda r: r["key"])
        strip = lambda r: {k: v for k, v in r.items() if k not in ("worker", "compiled", "seconds")}  # noqa: E731
        identical = [strip(a) for a in same] == [strip(b) for b in other]
        big = run_sweep(base, big_grid, tmp / "big", "processes") if args.big else None
        big_load = load_line()
        rpsft_base = AnalysisConfig.from_dict(
            {**base.to_dict(), "model": {"type": "rpsft", "cuts": {"rule": "equal_events", "k": 4}},
             "priors": {}}, base=tmp)
        rpsft = (run_sweep(rpsft_base, {"model.treat_modifier": [1.0, 0.5],
                                        "sampler.seed": list(range(1, -(-args.rpsft // 2) + 1))},
                           tmp / "rpsft", "processes") if args.rpsft else None)
    per_fit, profiled = profile_fits()
    warm = serial["warm"]
    parts = {k: statistics.median(s[k] for s in warm) for k in ("data", "fit", "sampling", "summary", "total")}
    put = statistics.median(serial_puts)
    outside = parts["total"] - parts["sampling"] + put
    per_serial = (serial["wall"] - sum(serial["compile"])) / n
    nuts = profiled["NUTS itself (nutpie's PySampler.wait)"]
    lines = header("Sweep and operating-characteristics benchmark", started) + [
        f"Sweep: CT041-like OS, ITT, PH PEM, 4 equal-event intervals, default sampler "
        f"(nutpie, 4 chains x 1000 draws + 1000 tuning), grid = log-HR prior sd {SIGMAS} x "
        f"{seeds} seeds = {n} scenarios.",
        "",
        "| executor | scenarios | wall (s) | compilations | compile (s, each) | wall per scenario (s) | converged |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in (("serial", serial), ("processes (2 workers, 1 core per fit)", processes)):
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
        "records' own timings, store write timed around `Store.put`; \"sampling\" is "
        "`CompiledModel.sample`: NUTS plus nutpie's conversion of the draws to xarray):",
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
        f"under the profiler; everything but NUTS itself is {1 - nuts / per_fit:.0%} of it):",
        "",
        "| part of `fit` | seconds per fit | share |",
        "|---|---|---|",
        *[f"| {label} | {sec:.4f} | {sec / per_fit:.1%} |" for label, sec in profiled.items()],
        f"| rest | {per_fit - sum(profiled.values()):.4f} | "
        f"{(per_fit - sum(profiled.values())) / per_fit:.1%} |",
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
