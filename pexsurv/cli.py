"""The ``pexsurv`` command line: a thin layer over the Python API.

Errors go to stderr with exit status 2; results go to stdout or the named file; Ctrl-C
stops with one line and exit status 130.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pexsurv._version import __version__

if TYPE_CHECKING:
    from pexsurv.data import TrialData

__all__ = ["main"]


class CLIError(Exception):
    """A user-facing error: printed to stderr, exit status 2."""


# The saved fits a `pexsurv fit` or `pexsurv demo --out` run wrote, by file name: `report`
# and `check` read these only, so fits left in the folder by an earlier run of another
# configuration are not mistaken for this run's.
MANIFEST = "fits.json"


# The populations the demo summarises and fits on PFS: analyses of
# pexsurv.workflows.ANALYSES that need no model of switching, by their labels there.
_DEMO_POPULATIONS = ("ITT", "modified ITT (treated)", "from treatment start",
                     "per protocol (censor at switch)")


def _populations(endpoint: str) -> list[tuple[str, TrialData]]:
    """(label, TrialData) for each demo population of the embedded data set (those its
    columns allow), derived by :func:`pexsurv.workflows.populations`."""
    from pexsurv import datasets
    from pexsurv.workflows import ANALYSES, populations

    itt = datasets.ct041_like(endpoint=endpoint)
    return list(populations(itt, [a for a in ANALYSES if a.label in _DEMO_POPULATIONS]).items())


def _print_hr_table(title: str, table: pd.DataFrame, results: Mapping[str, Any],
                    extra: tuple[str, ...] = ()) -> None:
    from pexsurv.workflows.report import round_hr_table

    cols = ["n", "events", "hr_median", "lower", "upper", "p_hr_lt_1", "converged", *extra]
    print(f"== {title} ({table.attrs['prob']:.0%} equal-tailed credible intervals; each "
          "posterior summary rounded to its Monte Carlo error)")
    print(round_hr_table(table, results)[cols].to_string())
    for label, row in table.iterrows():
        if not row["converged"]:
            print(f"WARNING: {label}: {row['diagnostics']}", file=sys.stderr)
    print()


def _say(args: argparse.Namespace) -> Callable[[str], None]:
    """Progress lines on stderr (results stay on stdout), silenced by ``--quiet``."""
    if getattr(args, "quiet", False):
        return lambda _: None
    return lambda line: print(line, file=sys.stderr, flush=True)


def _slug(text: str) -> str:
    """A file-name-safe form of an analysis label ("modified ITT (treated)" -> "modified_itt_treated")."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _cmd_demo(args: argparse.Namespace) -> int:
    from pexsurv.diagnostics.convergence import ConvergenceWarning
    from pexsurv.diagnostics.hr_table import hr_table
    from pexsurv.fitting import SamplerConfig, compile_spec, fit
    from pexsurv.intervals import equal_events
    from pexsurv.models import RPSFT, PiecewiseExponential, rpsftm_gestimate
    from pexsurv.workflows import compare_analyses, hazard_ratio_report
    from pexsurv.workflows.config import save_report

    out = Path(args.out) if args.out else None
    if out is not None:
        if out.exists() and not out.is_dir():
            raise CLIError(f"--out {out}: exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
    say = _say(args)
    # Sampler progress bars only where someone watches them (not in CI logs or pipes).
    bars = not args.quiet and sys.stderr.isatty()
    pd.set_option("display.width", 160)
    print(f"pexsurv {__version__} demo: embedded SYNTHETIC CT041-like trial "
          "(pexsurv.datasets.ct041_like; not the real trial data). Time unit: months.\n")
    config = SamplerConfig(draws=args.draws, tune=args.draws, chains=4, seed=args.seed,
                           progress=bars)
    for endpoint in ("pfs", "os"):
        for label, data in _populations(endpoint):
            print(f"== {endpoint.upper()} | {label} | n = {data.n}")
            print(data.summary().round(2).to_string())
            print()
    with warnings.catch_warnings():
        # Unconverged fits are flagged in the tables below (and on stderr), once each.
        warnings.simplefilter("ignore", ConvergenceWarning)
        pfs = _populations("pfs")
        say(f"fitting PFS: {len(pfs)} populations, one compiled model")
        # One partition per endpoint (SAS PHREG BAYES style, from the ITT events) keeps the
        # cell layout fixed, so one compiled model serves every population.
        spec = PiecewiseExponential(cuts=tuple(equal_events(pfs[0][1], k=args.intervals)))
        compiled = compile_spec(spec, pfs[0][1], config)
        results = {label: fit(spec, data, sampler=config, compiled=compiled)
                   for label, data in pfs}
        _print_hr_table(f"PFS: Bayesian PH piecewise-exponential HR, {args.intervals} intervals",
                        hr_table(results), results)

        say("fitting OS: every analysis of the comparison, then the Bayesian RPSFT")
        os_itt = _populations("os")[0][1]
        cuts = tuple(equal_events(os_itt, k=args.intervals))
        g = rpsftm_gestimate(os_itt)
        comparison = compare_analyses(os_itt, cuts, rpsft=RPSFT(cuts=cuts), seed=args.seed,
                                      draws=args.draws, progress=bars)
    _print_hr_table("OS: every analysis side by side", comparison.table, comparison.results,
                    ("biased_if_prognostic",))
    print("Assumptions:")
    for label, row in comparison.table.iterrows():
        print(f"  {label}: {row['assumption']}")
    print(f"\nOS, classic RPSFT g-estimation (log-rank, recensored): {g}")
    fits = {**{f"pfs_{_slug(k)}": r for k, r in results.items()},
            **{f"os_{_slug(k)}": r for k, r in comparison.results.items()}}
    if out is not None:
        _write_manifest(out, [result.save(out / f"{label}.nc") for label, result in fits.items()])
        say(f"saved {len(fits)} fits in {out} (listed in {MANIFEST})")
        say("writing the report")
        report = hazard_ratio_report(
            fits, endpoint={k: k.split("_")[0].upper() for k in fits}, seed=args.seed)
        for path in save_report(report, out):
            say(f"wrote {path}")
    return _convergence_gate("demo", fits)


def _convergence_gate(command: str, fits: Mapping[str, Any]) -> int:
    """Exit status of a command that fitted ``fits``: 1 (naming them on stderr) when any
    MCMC fit failed its convergence check, else 0."""
    failed = [k for k, r in fits.items() if not r.approximate and not r.convergence.passed]
    if failed:
        print(f"pexsurv: {command}: {len(failed)} fit(s) failed the convergence gate: "
              f"{', '.join(failed)} (see the report; raise draws and tune, or target_accept)",
              file=sys.stderr)
        return 1
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    from pexsurv.workflows.config import AnalysisConfig

    say = _say(args)
    config = AnalysisConfig.from_toml(args.config)
    prepared = config.validate()  # the whole configuration, against the data, before any fit
    say(f"{args.config}: valid; {len(prepared.data)} population(s): "
        + ", ".join(f"{k} (n = {d.n})" for k, d in prepared.data.items()))
    if args.check_only:
        return 0
    # Until this run has written its own list, the folder's fits are not a run's output.
    (config.output_dir / MANIFEST).unlink(missing_ok=True)
    run = config.run(progress=not args.quiet and sys.stderr.isatty(), echo=say)
    _write_manifest(config.output_dir, [p for p in run.files if p.suffix == ".nc"])
    print(run.report.to_markdown())
    for path in run.files:
        say(f"wrote {path}")
    return _convergence_gate("fit", run.results)


def _write_manifest(folder: Path, fits: Sequence[Path]) -> Path:
    """List ``fits`` (saved in ``folder``) as the folder's results (:data:`MANIFEST`)."""
    path = folder / MANIFEST
    path.write_text(json.dumps({"fits": [Path(f).name for f in fits],
                                "written_by": f"pexsurv {__version__}"}, indent=1) + "\n")
    return path


def _cmd_init(args: argparse.Namespace) -> int:
    from pexsurv.workflows.config import write_example

    folder = Path(args.path)
    if args.path.endswith(".toml"):
        folder, name = folder.parent, folder.name
    else:
        name = "analysis.toml"
    toml_path, csv_path = write_example(folder, name, overwrite=args.force)
    print(f"wrote {toml_path} and {csv_path}; edit it, then run: pexsurv fit {toml_path}",
          file=sys.stderr)
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from pexsurv.simulate import SCENARIOS

    if args.scenario not in SCENARIOS:
        raise CLIError(f"unknown scenario {args.scenario!r}; choose from {sorted(SCENARIOS)}")
    trial = SCENARIOS[args.scenario](seed=args.seed)
    if args.output == "-":
        trial.data.to_csv(sys.stdout, index=False)
    else:
        out = Path(args.output)
        if not out.parent.exists():
            raise CLIError(f"output folder {out.parent} does not exist")
        trial.data.to_csv(out, index=False)
        print(f"wrote {len(trial.data)} rows to {out}", file=sys.stderr)
    return 0


def _load_results(folder: str) -> dict:
    """The saved fits of ``folder``, labelled by file name without the extension: those
    its :data:`MANIFEST` lists when a ``pexsurv fit``/``demo`` run wrote one (other ``*.nc``
    files are named on stderr and left out), else every ``*.nc`` in name order."""
    from pexsurv.fitting import FitResult

    path = Path(folder)
    if not path.is_dir():
        raise CLIError(f"{folder}: not a folder (give the folder holding the saved *.nc fits)")
    on_disk = sorted(path.glob("*.nc"))
    manifest = path / MANIFEST
    if manifest.exists():
        try:
            listed = json.loads(manifest.read_text())["fits"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CLIError(f"{manifest}: not a list of fits ({exc}); delete it to read every "
                           "*.nc in the folder") from exc
        files = [path / name for name in listed]
        missing = [f.name for f in files if not f.exists()]
        if missing:
            raise CLIError(f"{manifest} lists fits that are not in the folder: {missing[:10]}; "
                           "re-run the analysis, or delete it to read every *.nc in the folder")
        ignored = [f.name for f in on_disk if f not in files]
        if ignored:
            print(f"pexsurv: ignoring {len(ignored)} saved fit(s) that the last run did not "
                  f"write ({MANIFEST}): {', '.join(ignored[:10])}", file=sys.stderr)
    else:
        files = on_disk
    if not files:
        raise CLIError(f"{folder}: no saved fits (*.nc, written by FitResult.save) in it")
    return {f.stem: FitResult.load(f) for f in files}


def _cmd_report(args: argparse.Namespace) -> int:
    from pexsurv.workflows import hazard_ratio_report
    from pexsurv.workflows.config import save_report

    results = _load_results(args.result_dir)
    out = Path(args.out or args.result_dir)
    if not out.is_dir():
        raise CLIError(f"output folder {out} does not exist")
    report = hazard_ratio_report(results, time_unit=args.time_unit, checks=not args.no_checks,
                                 seed=args.seed)
    written = save_report(report, out)
    if report.banner:
        print(report.banner, file=sys.stderr)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from pexsurv.workflows import posterior_checks

    failed = []
    for label, result in _load_results(args.result_dir).items():
        print(f"== {label}")
        for name, outcome in posterior_checks(result, seed=args.seed).items():
            print(f"  {name}: {outcome.status}: {outcome.text}")
            if outcome.failed:
                failed.append(f"{label}: {name}")
    print(f"\n{'FAILED: ' + '; '.join(failed) if failed else 'all checks passed'}")
    return 1 if failed else 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from pexsurv.workflows.sweep.sweepfile import run_sweep_file

    result, spec = run_sweep_file(args.sweep_file, executor=args.executor,
                                  scheduler=args.scheduler, store=args.store,
                                  workers=args.workers, progress=not args.quiet,
                                  echo=_say(args))
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(result.table().drop(columns=["seed"]).round(3).to_string())
    if spec.rule is not None:
        print(f"\n{result.robustness(spec.rule)}")
    for problem in result.problems:
        print(f"WARNING: {problem}", file=sys.stderr)
    return 0 if result.complete and not (result.dataset["status"] != "converged").any() else 1


def _cmd_oc(args: argparse.Namespace) -> int:
    from pexsurv.workflows.oc import run_oc_file

    oc = run_oc_file(args.oc_file, executor=args.executor, scheduler=args.scheduler,
                     store=args.store, workers=args.workers, progress=not args.quiet)
    _say(args)(f"fitted {oc.fitted} trial(s) now ({oc.compiles} compilation(s)); results in "
               f"{oc.store}")
    print(f"Operating characteristics of the rule {oc.rule} (Monte Carlo SE beside each)")
    with pd.option_context("display.width", 200):
        print(oc.table.round(4).to_string())
    for problem in oc.problems:
        print(f"WARNING: {problem}", file=sys.stderr)
    return 1 if oc.problems else 0

def _cmd_validate(args: argparse.Namespace) -> int:
    from pexsurv.workflows.validate import validate

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out}: exists and is not a folder")
    report = validate("full" if args.full else "quick", seed=args.seed,
                      checks=args.check or None, echo=_say(args))
    out.mkdir(parents=True, exist_ok=True)
    print(report.to_markdown())
    for path in report.save(out):
        print(f"wrote {path}", file=sys.stderr)
    return 0 if report.passed else 1


def _add_executor_options(parser: argparse.ArgumentParser) -> None:
    """The options `sweep` and `oc` share: where scenarios run and where results go."""
    parser.add_argument("--executor", choices=("serial", "processes", "dask"),
                        help="override the file's executor")
    parser.add_argument("--scheduler", help="Dask scheduler address (implies --executor dask)")
    parser.add_argument("--store", help="results folder (default: the file's store)")
    parser.add_argument("--workers", type=int, help="worker processes of --executor processes")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or lines")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pexsurv",
        description="Bayesian piecewise-exponential survival analysis of randomized trials.",
    )
    parser.add_argument("--version", action="version", version=f"pexsurv {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="analyse the embedded synthetic CT041-like trial")
    demo.add_argument("--seed", type=int, default=1, help="sampler seed (default 1)")
    demo.add_argument("--draws", type=int, default=1000, help="draws (and tuning steps) per chain")
    demo.add_argument("--intervals", type=int, default=4, help="baseline intervals (equal events)")
    demo.add_argument("--out", help="folder to save the fits (*.nc) and the report in")
    demo.add_argument("--quiet", action="store_true", help="no progress lines or bars (tables "
                      "still go to stdout)")
    demo.set_defaults(func=_cmd_demo)

    fit_ = sub.add_parser("fit", help="run the analysis a TOML configuration describes (fits, "
                          "report, config copy in its output folder)")
    fit_.add_argument("config", help="analysis configuration (write an example: pexsurv init)")
    fit_.add_argument("--check-only", action="store_true",
                      help="validate the configuration against the data, fit nothing")
    fit_.add_argument("--quiet", action="store_true", help="no progress lines or bars")
    fit_.set_defaults(func=_cmd_fit)

    init = sub.add_parser("init", help="write a commented example configuration and the "
                          "synthetic CT041-like CSV it analyses")
    init.add_argument("path", nargs="?", default=".",
                      help="folder (default: here) or NAME.toml (default name analysis.toml)")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(func=_cmd_init)

    sim = sub.add_parser("simulate", help="simulate a trial and write it as CSV")
    sim.add_argument("--scenario", default="ct041_like", help="scenario name (default ct041_like)")
    sim.add_argument("--seed", type=int, required=True, help="random seed (required: results "
                     "are reproducible bit for bit from it)")
    sim.add_argument("-o", "--output", default="-", help="CSV path, or - for stdout")
    sim.set_defaults(func=_cmd_simulate)

    rep = sub.add_parser("report", help="hazard-ratio report of the saved fits in a folder "
                         "(report.html, report.md, report.csv)")
    rep.add_argument("result_dir", help="folder holding saved fits (*.nc)")
    rep.add_argument("--out", help="output folder (default: RESULT_DIR)")
    rep.add_argument("--time-unit", default="months", help="time unit of the data (default months)")
    rep.add_argument("--no-checks", action="store_true",
                     help="skip the posterior predictive, LOO and prior-sensitivity checks")
    rep.add_argument("--seed", type=int, default=0, help="seed of the posterior predictive check")
    rep.set_defaults(func=_cmd_report)

    chk = sub.add_parser("check", help="convergence, PPC, LOO and prior-sensitivity verdicts of "
                         "the saved fits in a folder; exit 0 when all pass, 1 when any fails")
    chk.add_argument("result_dir", help="folder holding saved fits (*.nc)")
    chk.add_argument("--seed", type=int, default=0, help="seed of the posterior predictive check")
    chk.set_defaults(func=_cmd_check)

    swp = sub.add_parser("sweep", help="fit an analysis under every combination of alternative "
                         "settings (a grid); re-running resumes from the store")
    swp.add_argument("sweep_file", help="sweep TOML file: base analysis, [grid], store, executor")
    _add_executor_options(swp)
    swp.set_defaults(func=_cmd_sweep)

    occ = sub.add_parser("oc", help="operating characteristics of a Bayesian decision rule "
                         "over simulated trials (power, type I error, bias, coverage); "
                         "re-running resumes")
    occ.add_argument("oc_file", help="OC TOML file: design, scenarios, n_trials, decision, store")
    _add_executor_options(occ)
    occ.set_defaults(func=_cmd_oc)

    val = sub.add_parser("validate", help="run the package's validation (SBC, coverage, "
                         "agreement with ML, Cox and R rpsftm, reproducibility) and write a "
                         "pass/fail report; exit 0 when all pass, 1 when any fails")
    size = val.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small runs, a few minutes (default)")
    size.add_argument("--full", action="store_true", help="the full runs (about 20 minutes)")
    val.add_argument("--out", default="validation-report", help="folder for validate_<level>"
                     ".md/.json/.html (default ./validation-report)")
    val.add_argument("--seed", type=int, default=1, help="seed of every simulation and fit")
    val.add_argument("--check", action="append", metavar="NAME",
                     help="run only this check (repeatable; names in the report)")
    val.add_argument("--quiet", action="store_true", help="no progress lines")
    val.set_defaults(func=_cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pexsurv`` command.

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    pexsurv 0.1.0
    """
    try:
        from pexsurv.data import TrialDataError

        args = build_parser().parse_args(argv)
        try:
            return args.func(args)
        except (CLIError, TrialDataError, ValueError, OSError) as exc:
            print(f"pexsurv: error: {exc}", file=sys.stderr)
            return 2
    except KeyboardInterrupt:
        # Ctrl-C: stop at once with the shell's status for SIGINT, one line, no traceback.
        print("pexsurv: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
