"""Simulation-based calibration (SBC) of the PEM on interval-censored data: events found at
scheduled assessments (issue 15).

Usage::

    .venv/bin/python benchmarks/sbc_interval.py                  # full run -> sbc_interval.md + .png
    .venv/bin/python benchmarks/sbc_interval.py --n-sims 20 --out /tmp/sbc_ic.md

Template trial: N = 200, exponential progression (0.25 per month in the control arm, HR 0.5)
found at assessments every 6 weeks (1.4 months) with +-1 week jitter, uniform follow-up of 6
to 18 months (``tests/test_interval_censored.assessed_trial``). Model:
``PiecewiseExponential(cuts=[1.5, 3, 6])`` with the default priors, resolved once on the
template (events dated at their visit). Each simulation draws the truth from that prior,
simulates exact event times, finds them at the scheduled visits every 1.4 months
(:func:`pexsurv.workflows.sbc_interval.assess`: interval (previous visit, finding visit],
else censored at the last visit) and fits the interval-censored PEM through one compiled
model; ranks of ``log_hr`` and each ``log_hazard_base`` interval among thinned draws.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from bench_pem import loadavg, log  # noqa: E402
from sbc_pem import add_sbc_arguments, failure_reasons, markdown_table  # noqa: E402
from test_interval_censored import assessed_trial, load  # noqa: E402

from pexsurv.diagnostics.convergence import ConvergenceWarning  # noqa: E402
from pexsurv.fitting import SamplerConfig  # noqa: E402
from pexsurv.models import PiecewiseExponential  # noqa: E402
from pexsurv.priors import IndependentNormal  # noqa: E402
from pexsurv.provenance import cpu_model, versions  # noqa: E402
from pexsurv.workflows import simulation_based_calibration  # noqa: E402
from pexsurv.workflows.sbc_interval import interval_censored_sbc  # noqa: E402

CUTS = (1.5, 3.0, 6.0)
EVERY = 1.4


def failures_by_truth(sbc) -> pd.DataFrame:
    """Share of fits failing a convergence threshold (and with divergences) per quartile of
    the true first-interval log hazard."""
    first = sbc.truth.iloc[:, 0]
    quartile = pd.qcut(first, 4)
    frame = pd.DataFrame({"failed": ~sbc.fits["converged"].to_numpy(),
                          "divergent": sbc.fits["divergences"].to_numpy() > 0,
                          "quartile": quartile.to_numpy()})
    out = frame.groupby("quartile", observed=True)[["failed", "divergent"]].mean()
    out.index = [f"{np.exp(q.left):.3g} to {np.exp(q.right):.3g} /month "
                 f"(median {np.log(2) / np.exp(q.right):.2g}-{np.log(2) / np.exp(q.left):.2g})"
                 for q in out.index]
    out.index.name = "true hazard (0, 1.5]"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_sbc_arguments(parser, seed=20261130)
    parser.add_argument("--exact", action="store_true",
                        help="the exact-time SBC (simulation_based_calibration) of the same "
                             "template, visit-dated, for comparison; prints its verdict only")
    parser.add_argument("--baseline-sigma", type=float, default=None,
                        help="sigma of the baseline prior (default: the model's default)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "sbc_interval.md")
    args = parser.parse_args(argv)
    command = shlex.join([".venv/bin/python", "benchmarks/sbc_interval.py", *sys.argv[1:]])
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_start = loadavg()
    t0 = time.perf_counter()

    data = load(assessed_trial(args.seed, args.n, rate=0.25, hr=0.5, every=EVERY, jitter=0.23))
    priors = ({} if args.baseline_sigma is None
              else {"log_hazard_base": IndependentNormal(sigma=args.baseline_sigma)})
    log(f"SBC: {args.n_sims} simulations, N = {data.n}, {args.chains} chains x {args.draws}")
    if args.exact:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sbc = simulation_based_calibration(
                PiecewiseExponential(cuts=CUTS, priors=priors), data.date_events("visit"),
                args.n_sims, draws=args.draws, thin=args.thin, seed=args.seed,
                config=SamplerConfig(chains=args.chains, tune=args.tune), progress=False)
        log(f"exact-time SBC: {sbc.text}; fits with divergences: "
            f"{int((sbc.fits['divergences'] > 0).sum())}")
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # counted and reported below
        sbc = interval_censored_sbc(
            PiecewiseExponential(cuts=CUTS, priors=priors), data, args.n_sims,
            visits=np.arange(1, 400) * EVERY, draws=args.draws, thin=args.thin,
            seed=args.seed, config=SamplerConfig(chains=args.chains, tune=args.tune))
    log(sbc.text)
    png = args.out.with_suffix(".png")
    sbc.plot().savefig(png, dpi=110)
    s, fits = sbc.settings, sbc.fits
    machine = {"CPU": cpu_model(),
               "nproc (usable / total)": f"{len(os.sched_getaffinity(0))} / {os.cpu_count()}",
               **versions(), "load average at start / end": f"{load_start} / {loadavg()}"}
    priors = ", ".join(f"`{k}` ~ {v!r}" for k, v in s["priors"].items())
    lines = [
        "# SBC of the piecewise-exponential model on interval-censored data", "",
        f"Generated by `benchmarks/sbc_interval.py` on {started} (total run time "
        f"{(time.perf_counter() - t0) / 60:.1f} min).", "", "```", command, "```", "",
        "## Machine", "", "| item | value |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in machine.items()], "",
        "## Set-up", "",
        f"- Template trial: N = {data.n} ({int(data.event.sum())} events, "
        f"{int(data.interval_censored.sum())} interval-censored), seed {args.seed}: "
        f"exponential progression 0.25/month (control), HR 0.5, assessments every {EVERY} "
        "months +-0.23, follow-up 6-18 months.",
        f"- Model: `PiecewiseExponential(cuts={list(CUTS)})`, default priors resolved once on "
        f"the template and held fixed: {priors}.",
        f"- Replicates: exact times from the prior draw's hazards, follow-up ends as in "
        f"`simulation_based_calibration`, events found at visits every {EVERY} months "
        "(`assess`).",
        f"- Fits: nutpie, {args.chains} chains x {args.draws} draws (tune {args.tune}), one "
        f"compiled model; every {args.thin}th draw kept, ranks in 0..{sbc.max_rank}.", "",
        "## Result", "", sbc.text.replace("\n- ", "\n\n- "), "", markdown_table(sbc.table), "",
        f"![ECDF difference plot]({png.name})", "",
        "## Fits", "",
        f"- Failed convergence thresholds: {sbc.n_failed} of {sbc.n_sims} "
        f"({failure_reasons(fits)}).",
        f"- Bulk ESS (min over parameters): median {fits['min_ess_bulk'].median():.0f}, min "
        f"{fits['min_ess_bulk'].min():.0f} against {sbc.max_rank} kept draws.",
        "", "Failed fits by the true first-interval hazard (quartiles of the prior draws; "
        "median progression-free time of the control arm if that hazard held throughout):",
        "", markdown_table(failures_by_truth(sbc)), "",
        f"- Compile once {s['compile_seconds']:.1f} s; {sbc.n_sims} fits "
        f"{fits['seconds'].sum():.1f} s (median {fits['seconds'].median():.2f} s per fit); "
        f"total {s['total_seconds']:.1f} s.", "",
    ]
    args.out.write_text("\n".join(lines))
    log(f"wrote {args.out} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
