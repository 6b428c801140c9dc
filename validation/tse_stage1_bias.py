"""Is the Bayesian TSE's low log HR in scenario A stage 1's small-sample bias? (issue 14)

Usage::

    nohup nice -n 10 .venv/bin/python validation/tse_stage1_bias.py --trials 200 \\
        > validation/tse_stage1_bias.txt 2>&1 &

The trials of scenario A of ``validation/switching_methods.py`` (seed ``1000 + i``, psi =
-0.5, every TSE assumption holding) at N = 600, and at larger N with the same seeds: the
frequentist simple TSE (``tse_simple``, Weibull), whose stage 1 is the Bayesian TSE's
(the Bayesian TSE's posterior of psi centres on the same AFT fit). Per N: the mean error
of stage 1's psi (truth -0.5, the simulator's acceleration of the switchers' remaining
time), of the Cox log HR on the counterfactual data against the population no-switch Cox
log HR, and the slope of the log-HR error on the psi error (how much of the HR's bias the
psi bias carries). A bias that shrinks as 1/N is a small-sample bias.

First, what recensoring alone does: the no-switch population trial (200,000 patients) with
its control arm censored at ``C exp(psi)`` (TSE's recensoring, true psi), Cox and PEM log
HR against the same trial unrecensored. ``--trials 0`` prints only these.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from pexsurv.cox import cox_hr
from pexsurv.models import tse_simple
from pexsurv.provenance import study_parser
from pexsurv.simulate import simulate_switch_at_progression

sys.path.insert(0, str(Path(__file__).resolve().parent))
from switching_methods import PSI, pem_log_hr, truths  # noqa: E402 - the study's trials


def main() -> None:
    parser = study_parser(__doc__, trials=200)
    parser.add_argument("--sizes", default="600,2400")
    args = parser.parse_args()
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    truth = truths(200_000)["cox"]  # the truth switching_methods.py scores against
    print(f"population no-switch Cox log HR {truth:+.4f}; psi {PSI}")
    none = simulate_switch_at_progression(200_000, seed=12345, psi=PSI, switching=False).data
    recensored = np.where(none.arm == 0, none.censor_time * math.exp(PSI), np.inf)
    time_r = np.minimum(none.time, recensored)
    event_r = np.where(none.time <= recensored, none.event, 0)
    experimental = none.arm == 1
    for name, estimate in (("Cox", lambda t, e: cox_hr(t, e, experimental).log_hr),
                           ("PEM", lambda t, e: pem_log_hr(t, e * 1.0, experimental))):
        print(f"no-switch population, {name} log HR {estimate(none.time, none.event):+.4f}; "
              f"control arm recensored at C exp(psi) {estimate(time_r, event_r):+.4f}")
    for n in map(int, args.sizes.split(",")) if args.trials else ():
        rows = []
        for trial in range(args.trials):
            sim = simulate_switch_at_progression(n, seed=1000 + trial, psi=PSI)
            fit = tse_simple(sim.data, sim.secondary_baseline, sim.baseline_covariates)
            rows.append((fit.psi - PSI, fit.hr_adjusted["log_hr"] - truth,
                         fit.ci[0] < PSI < fit.ci[1]))
        r = np.array(rows)
        k = len(r)
        slope, intercept = np.polyfit(r[:, 0], r[:, 1], 1)
        print(f"N = {n:5d}, {k} trials: psi error {r[:, 0].mean():+.4f} (MC SE "
              f"{r[:, 0].std(ddof=1) / math.sqrt(k):.4f}), SD {r[:, 0].std(ddof=1):.4f}; "
              f"log-HR error {r[:, 1].mean():+.4f} (MC SE {r[:, 1].std(ddof=1) / math.sqrt(k):.4f}); "
              f"slope of log-HR error on psi error {slope:.3f}, log-HR error at psi error 0 "
              f"{intercept:+.4f}; stage-1 psi interval covers {100 * r[:, 2].mean():.1f}% "
              f"[{time.perf_counter() - t0:.0f} s]", flush=True)
    print(f"load average {load0:.1f} at start and {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
