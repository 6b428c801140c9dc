"""Benchmark classic RPSFTM g-estimation (``pexsurv.models.rpsft.gestimation``).

Usage::

    .venv/bin/python benchmarks/bench_gestimate.py              # N = 1,000 and 10,000
    .venv/bin/python benchmarks/bench_gestimate.py --sizes 10000 100000 --repeat 1

What is timed, on trials from :func:`pexsurv.simulate.simulate_trial` with an RPSFT effect
(psi = -0.5, 70% of control patients crossing over after progression, 1:1):

1. ``rpsftm_gestimate`` with defaults (log-rank, recensoring, 2,001-point grid over [-2, 2],
   bisection of every root and confidence limit to 1e-10, ITT and adjusted Cox HRs) at
   each N. Target: under 5 s at N = 10,000.
2. ``z_on_grid`` on 20,001 psi values at each N (the Bayesian RPSFT's use).

Wall-clock and CPU seconds are both printed: the machine may be shared, and CPU time is
the steadier of the two. The best of ``--repeat`` runs is reported.
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np

from pexsurv import TrialData
from pexsurv.models import rpsftm_gestimate, z_on_grid
from pexsurv.provenance import best_of
from pexsurv.simulate import simulate_trial


def trial(n: int, seed: int) -> TrialData:
    """A simulated trial with exact RPSFT structure in the experimental arm and crossover."""
    sim = simulate_trial(n=n, progression=((), (0.1,)), death_pre_progression=((), (0.02,)),
                         death_post_progression=((), (0.1,)), experimental_effect="rpsft",
                         psi=-0.5, switch_prob=0.7, allocation=(1, 1), seed=seed)
    return TrialData.from_dataframe(sim.data, time="os_time", event="os_event", arm="arm",
                                    reference="control", treatment_start="treatment_start",
                                    switch_time="switch_time", censor_time="censor_time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} cpu(s), load average {os.getloadavg()[0]:.1f}")
    rpsftm_gestimate(trial(200, args.seed))  # warm-up: imports (lifelines) and caches
    print(f"{'N':>8} {'task':<34} {'wall s':>8} {'cpu s':>8}  result")
    grid = np.linspace(-2.0, 2.0, 20_001)
    for n in args.sizes:
        data = trial(n, args.seed)
        wall, cpu, fit = best_of(args.repeat, lambda: rpsftm_gestimate(data))
        print(f"{n:>8} {'rpsftm_gestimate (2,001 grid)':<34} {wall:>8.2f} {cpu:>8.2f}  "
              f"psi {fit.psi:.4f} ({fit.ci[0]:.4f}, {fit.ci[1]:.4f})")
        wall, cpu, _ = best_of(args.repeat, lambda: z_on_grid(data, grid))
        print(f"{n:>8} {'z_on_grid (20,001 psi)':<34} {wall:>8.2f} {cpu:>8.2f}")


if __name__ == "__main__":
    main()
