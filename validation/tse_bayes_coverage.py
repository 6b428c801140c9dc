"""Coverage of the Bayesian two-stage estimate's adjusted-HR interval (issue 14).

Usage::

    .venv/bin/python validation/tse_bayes_coverage.py --trials 100 --n 600  # ~4 min

Trials from :func:`pexsurv.simulate.simulate_switch_at_progression` (psi = -0.5; switching
at progression driven by a marker measured there: simple TSE's assumptions hold). For each
trial, :func:`pexsurv.fitting.rpsft.fit_tse_bayes` (M psi draws, one compiled PEM reused
across trials) gives a 95% equal-tailed interval of the adjusted HR; it should cover the
population no-switch HR of the same PEM (cuts fixed), computed by maximum likelihood on
one million no-switch patients. The frequentist simple TSE's Cox Wald interval (which
ignores stage 1's uncertainty) and stage 1's 95% interval for psi are scored beside it.
Prints one line per trial and a summary with Monte Carlo standard errors.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from pexsurv.fitting import SamplerConfig
from pexsurv.fitting.rpsft import fit_tse_bayes
from pexsurv.intervals import exposure_matrix, interval_index
from pexsurv.models.rpsft.weighted import two_group_log_hr
from pexsurv.provenance import study_parser
from pexsurv.simulate import simulate_switch_at_progression

PSI = -0.5
CUTS = (0.8, 1.6, 2.6)


def population_log_hr(n: int = 1_000_000) -> float:
    """PEM maximum-likelihood log HR (cuts CUTS) of a very large no-switch trial."""
    data = simulate_switch_at_progression(n, seed=12345, psi=PSI, switching=False).data
    cuts = np.asarray(CUTS)
    k = cuts.size + 1
    exposure = exposure_matrix(np.zeros(data.n), data.time, cuts)
    where = interval_index(data.time, cuts)
    totals = {}
    for arm in (0, 1):
        m = data.arm == arm
        totals[arm] = (exposure[m].sum(0), np.bincount(where[m], data.event[m] * 1.0, k))
    beta, _ = two_group_log_hr(totals[0][0], totals[1][0], totals[1][1],
                               totals[0][1] + totals[1][1])
    return float(beta[0])


def main() -> None:
    parser = study_parser(__doc__, trials=40)
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--psi-draws", type=int, default=20)
    parser.add_argument("--draws", type=int, default=200)
    args = parser.parse_args()
    truth = population_log_hr()
    print(f"population no-switch PEM HR {math.exp(truth):.4f} (cuts {CUTS}); {args.trials} "
          f"trials of N = {args.n}; M = {args.psi_draws} psi draws, 2 chains x {args.draws} "
          "draws per stage-2 fit")
    config = SamplerConfig(draws=args.draws, tune=args.draws, chains=2, seed=1, progress=False)
    compiled, rows = None, []
    t0 = time.perf_counter()
    for trial in range(args.trials):
        sim = simulate_switch_at_progression(args.n, seed=1000 + trial, psi=PSI)
        res = fit_tse_bayes(sim.data, sim.secondary_baseline, sim.baseline_covariates,
                            cuts=CUTS, n_psi_draws=args.psi_draws, compiled=compiled,
                            sampler=dataclasses.replace(config, seed=trial))
        compiled = res.compiled
        bayes = res.hr_interval()
        wald = res.stage1.hr_adjusted
        rows.append((math.log(bayes["lower"]) < truth < math.log(bayes["upper"]),
                     math.log(wald["lower"]) < truth < math.log(wald["upper"]),
                     res.stage1.ci[0] < PSI < res.stage1.ci[1],
                     math.log(bayes["hr"]) - truth,
                     math.log(bayes["upper"] / bayes["lower"]),
                     math.log(wald["upper"] / wald["lower"]), float(res.r_hat_max.max())))
        print(f"trial {trial:3d}: HR {bayes['hr']:.3f} ({bayes['lower']:.3f}-{bayes['upper']:.3f}) "
              f"Wald ({wald['lower']:.3f}-{wald['upper']:.3f}) psi {res.stage1.psi:.3f} "
              f"[{time.perf_counter() - t0:.0f} s]", flush=True)
    r = np.array(rows, dtype=float)
    n = len(r)

    def rate(col: int) -> str:
        p = r[:, col].mean()
        return f"{100 * p:.1f}% (MC SE {100 * math.sqrt(p * (1 - p) / n):.1f})"

    print(f"\n{n} trials: Bayesian TSE 95% interval covers {rate(0)}; frequentist Cox Wald "
          f"(psi fixed) {rate(1)}; stage-1 Wald interval for psi {rate(2)}")
    print(f"mean log-HR error {r[:, 3].mean():+.4f} (MC SE {r[:, 3].std(ddof=1) / math.sqrt(n):.4f}); "
          f"mean log width: Bayesian {r[:, 4].mean():.3f}, Wald {r[:, 5].mean():.3f}; "
          f"max stage-2 R-hat {r[:, 6].max():.3f}; {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
