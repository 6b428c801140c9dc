"""Benchmark the switching adjustments: IPE, simple two-stage estimation and IPCW.

Usage::

    .venv/bin/python benchmarks/bench_switching.py               # N = 1,000 and 10,000
    .venv/bin/python benchmarks/bench_switching.py --sizes 10000 --repeat 3 --n-boot 100
    .venv/bin/python benchmarks/bench_switching.py --sizes --ipcw-boot 1000  # IPCW only

What is timed (goal of issue 14: each under 10 s at N = 10,000):

1. ``ipe`` with defaults (Weibull AFT, recensoring, fixed point to 1e-8, ITT and adjusted
   Cox HRs) on :func:`pexsurv.simulate.simulate_rpsft` trials (psi = -0.5); the number of
   lifelines AFT fits is printed, as they are the whole cost.
2. ``tse_simple`` with defaults (one Weibull AFT fit adjusted for the marker at
   progression, recensoring, Cox HRs) on
   :func:`pexsurv.simulate.switching.simulate_switch_at_progression` trials (psi = -0.5).
3. With ``--n-boot B``: ``tse_simple`` with ``B`` bootstrap replicates at N = 1,000.
4. With ``--ipcw-boot B`` (goal of issue 14: ``B = 1000`` under 60 s at N = 1,000): ``ipcw``
   with the marker measured (pooled logistic switching models on about 11,000 rows,
   stabilised weights, weighted Cox and PEM) and ``B`` bootstrap replicates of the whole
   procedure on :func:`pexsurv.simulate.simulate_time_varying_switching` at N = 1,000.

Wall-clock and CPU seconds are both printed: the machine may be shared, and CPU time is
the steadier of the two. The best of ``--repeat`` runs is reported.
"""

from __future__ import annotations

import argparse
import os
import platform

import lifelines
import numpy as np

from pexsurv.models import ipcw, ipe, tse_simple
from pexsurv.provenance import best_of
from pexsurv.simulate import simulate_rpsft, simulate_time_varying_switching
from pexsurv.simulate.switching import simulate_switch_at_progression


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--n-boot", type=int, default=0)
    parser.add_argument("--ipcw-boot", type=int, default=0)
    args = parser.parse_args()

    print(f"python {platform.python_version()}, numpy {np.__version__}, lifelines "
          f"{lifelines.__version__}, {os.cpu_count()} cpu(s), load average "
          f"{os.getloadavg()[0]:.1f}")
    ipe(simulate_rpsft(200, seed=args.seed))  # warm-up: imports (lifelines, autograd)
    print(f"{'N':>8} {'task':<26} {'wall s':>8} {'cpu s':>8}  result")
    for n in args.sizes:
        data = simulate_rpsft(n, seed=args.seed)
        wall, cpu, fit = best_of(args.repeat, lambda: ipe(data))
        print(f"{n:>8} {'ipe (Weibull)':<26} {wall:>8.2f} {cpu:>8.2f}  psi {fit.psi:.4f} "
              f"({fit.ci[0]:.4f}, {fit.ci[1]:.4f}), {len(fit.details['evaluations'])} AFT "
              f"fits, {fit.details['solver']}")
        sim = simulate_switch_at_progression(n, seed=args.seed)
        wall, cpu, fit = best_of(args.repeat, lambda: tse_simple(
            sim.data, sim.secondary_baseline, sim.baseline_covariates))
        print(f"{n:>8} {'tse_simple (Weibull)':<26} {wall:>8.2f} {cpu:>8.2f}  psi "
              f"{fit.psi:.4f} ({fit.ci[0]:.4f}, {fit.ci[1]:.4f})")
    if args.n_boot:
        sim = simulate_switch_at_progression(1_000, seed=args.seed)
        wall, cpu, fit = best_of(args.repeat, lambda: tse_simple(
            sim.data, sim.secondary_baseline, sim.baseline_covariates, n_boot=args.n_boot,
            seed=args.seed))
        print(f"{1_000:>8} {f'tse_simple, {args.n_boot} boot':<26} {wall:>8.2f} {cpu:>8.2f}  "
              f"psi {fit.psi:.4f} ({fit.ci[0]:.4f}, {fit.ci[1]:.4f})")
    if args.ipcw_boot:
        sim = simulate_time_varying_switching(1_000, seed=args.seed)
        wall, cpu, fit = best_of(args.repeat, lambda: ipcw(
            sim.data, sim.long, baseline=["marker0"], time_varying=["marker"],
            n_boot=args.ipcw_boot, seed=args.seed))
        h = fit.hr
        print(f"{1_000:>8} {f'ipcw, {args.ipcw_boot} boot':<26} {wall:>8.2f} {cpu:>8.2f}  "
              f"HR {h['hr']:.4f} ({h['lower']:.4f}, {h['upper']:.4f}), PEM HR "
              f"{fit.hr_pem['hr']:.4f}, {sim.long.n_rows} rows")


if __name__ == "__main__":
    main()
