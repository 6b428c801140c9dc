"""Why IPCW's bootstrap interval under-covers in `switching_methods.py` (issue 14).

Usage (the runs behind ``ipcw_coverage.md``, two processes sharing the CSV)::

    nohup nice -n 10 .venv/bin/python validation/ipcw_coverage.py \\
        --variants est600,oracle600u,est600u > validation/ipcw_coverage.log 2>&1 &
    nohup nice -n 10 .venv/bin/python validation/ipcw_coverage.py --n-boot 500 \\
        --jack-groups 100 --variants est1200,est2400,est1200u,est2400u \\
        > validation/ipcw_coverage_n.log 2>&1 &
    .venv/bin/python validation/ipcw_coverage.py --report-only   # tables from the CSV

The trials are scenario A of ``validation/switching_methods.py`` (the same seeds
``1000 + i``, the same population truth): switching at progression driven by the marker
measured there, every IPCW assumption holding. Each variant refits IPCW on each trial and
keeps, per trial, the estimate and the 95% limits of several bootstrap intervals built
from the same replicates, so that the intervals are compared on the same trials and
replicates (paired):

- ``pct200``: percentile, the first 200 replicates (what ``switching_methods.py`` reports:
  replicate ``b`` does not depend on the number of replicates);
- ``pct``, ``basic``, ``t``: percentile, basic (reflected) and bootstrap-t intervals of all
  ``--n-boot`` replicates;
- ``bca``: BCa, acceleration from a leave-one-out jackknife (leave-group-out with
  ``--jack-groups`` groups when N is larger);
- ``wald_boot``: estimate +- 1.96 bootstrap SE;
- ``robust``: estimate +- 1.96 robust SE, the interval ``ipcw`` reports as ``hr_adjusted``
  (no bootstrap: the report derives it from the ``estimate`` and ``se_robust`` columns).

Variants (name = weights + N; ``u`` suffix: unstabilised weights):

- ``est<N>``: the shipped ``ipcw`` procedure (switching model refitted in every replicate);
- ``oracle<N>``: the same with the switching model replaced by the simulator's true
  switching probabilities ``expit(0.5 - marker)`` (``ipcw(..., switching_coef=...)``; only
  the numerator is estimated): if these under-cover too, the cause is not the estimation
  of the weights.

Every fit is the shipped ``ipcw`` (its bootstrap replicates, seed ``1000 + i``); the BCa
jackknife refits ``ipcw`` on the trial without each patient (group).

Columns per trial besides the limits: the Cox estimate and its robust SE, bootstrap SDs,
the jackknife SE, the no-switch trial's own log HR and ``weight_max``, ``ipcw``'s
``details["weight_max"]`` (the rows in ``ipcw_coverage.csv`` were written by an earlier
version of this script that swapped in the true switching probabilities by hand and, for
stabilised weights, recorded the denominator's largest weight before the numerator; every
other column is reproduced to 1e-15 by this version on trial 0 of est600, est600u and
oracle600u).

Resumable: one CSV row per (variant, trial), skipped when present; stop a run at any time
(the trials of all its variants advance together).

Scored against the no-switch Cox log HR (as ``switching_methods.py``) and against each
weighting's own population value (:func:`switching_methods.ipcw_population`): the two
differ for stabilised weights under these non-proportional hazards.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from pexsurv.cox import cox_hr
from pexsurv.longdata import LongData
from pexsurv.models import ipcw
from pexsurv.models.rpsft.estimate import percentile_limits
from pexsurv.models.rpsft.ipcw import bca_limits, studentized_limits
from pexsurv.simulate import simulate_switch_at_progression
from pexsurv.workflows import bias, coverage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from switching_methods import PSI, ipcw_population, truths  # noqa: E402 - its trials

HERE = Path(__file__).resolve().parent
SEED = 1000  # switching_methods.py's --seed: trial i uses seed SEED + i
INTERVALS = ("pct200", "pct", "basic", "t", "bca", "wald_boot", "robust")
Z = NormalDist().inv_cdf(0.975)
# The simulator's switching model: logit P(switch) = 0.5 - marker (switch_logit default).
TRUE_COEF = (0.5, 0.0, -1.0)  # intercept, time, marker


def parse_variant(name: str) -> tuple[bool, int, bool]:
    """``est600u`` -> (oracle False, N 600, stabilised False)."""
    stabilised = not name.endswith("u")
    core = name.rstrip("u")
    oracle = core.startswith("oracle")
    return oracle, int(core.removeprefix("oracle").removeprefix("est")), stabilised


def jackknife(sim, groups: np.ndarray, options: dict) -> np.ndarray:
    """``ipcw``'s Cox log HR with each group of patients left out in turn."""
    frame = sim.long.to_frame(sim.data)
    out = []
    for g in range(groups.max() + 1):
        data = sim.data.derive(groups != g)
        long = LongData.from_dataframe(frame[frame["id"].isin(data.id)], data,
                                       covariates=["marker"])
        out.append(ipcw(data, long, **options).hr_adjusted["log_hr"])
    return np.array(out)


def one_trial(variant: str, trial: int, args: argparse.Namespace,
              truth: float) -> dict[str, float]:
    oracle, n, stabilised = parse_variant(variant)
    sim = simulate_switch_at_progression(n, seed=SEED + trial, psi=PSI)
    own = simulate_switch_at_progression(n, seed=SEED + trial, psi=PSI, switching=False).data
    t0 = time.perf_counter()
    # Oracle: the simulator's true switching probabilities (only the numerator estimated).
    options = {"time_varying": ("marker",), "stabilised": stabilised,
               "switching_coef": TRUE_COEF if oracle else None}
    fit = ipcw(sim.data, sim.long, **options, n_boot=args.n_boot, seed=SEED + trial)
    # Leave-one-out (or leave-group-out) estimates for the BCa acceleration.
    jack = jackknife(sim, np.random.default_rng(trial).permutation(n)
                     % min(n, args.jack_groups), options)
    seconds = time.perf_counter() - t0
    est, se = fit.hr_adjusted["log_hr"], fit.hr_adjusted["se"]
    b = fit.boot["log_hr"].to_numpy()
    sd = float(np.nanstd(b, ddof=1))
    limits = {"pct200": percentile_limits(b[:200], 0.05), "pct": percentile_limits(b, 0.05),
              "t": studentized_limits(est, se, b, fit.boot["se_robust"].to_numpy(), 0.05),
              "bca": bca_limits(est, b, jack, 0.05),
              "wald_boot": (est - 1.96 * sd, est + 1.96 * sd)}
    lo, hi = limits["pct"]
    limits["basic"] = (2 * est - hi, 2 * est - lo)
    out = {"variant": variant, "trial": trial, "n": n, "estimate": est, "se_robust": se,
           "boot_sd200": float(np.nanstd(b[:200], ddof=1)), "boot_sd": sd,
           "boot_median": float(np.nanmedian(b)),
           # The delete-group jackknife SE has the leave-one-out form with g for n.
           "jack_se": float(np.sqrt((jack.size - 1) / jack.size
                                    * ((jack - jack.mean()) ** 2).sum())),
           "own_truth": cox_hr(own.time, own.event, own.arm == 1).log_hr,
           "weight_max": fit.details["weight_max"],
           "truth": truth, "seconds": seconds}
    for key, (lo, hi) in limits.items():
        out[f"{key}_lo"], out[f"{key}_hi"] = lo, hi
    return out


def coverage_table(table: pd.DataFrame, target: dict[str, float]) -> str:
    """One line per variant: bias, spread and each interval's coverage of ``target``
    (per variant), with MC SE (:func:`pexsurv.workflows.bias`, :func:`coverage`) and the %
    of trials missing below / above."""
    lines = ["| variant | trials | bias (MCSE) | SD of estimates | mean boot SD (B=200 / all) | "
             "rms boot SD | corr(error, boot SD) | "
             + " | ".join(f"{k} coverage (MCSE; below/above)" for k in INTERVALS) + " |",
             "|---" * (7 + len(INTERVALS)) + "|"]
    for variant, part in table.groupby("variant", sort=False):
        truth = target[variant]
        b = bias(part["estimate"], truth)
        cells = []
        for k in INTERVALS:
            c = coverage(part[f"{k}_lo"], part[f"{k}_hi"], truth)
            cells.append(f"{100 * c.value:.1f}% ({100 * c.mcse:.1f}; "
                         f"{100 * (part[f'{k}_hi'] < truth).mean():.1f}/"
                         f"{100 * (part[f'{k}_lo'] > truth).mean():.1f})")
        lines.append(
            f"| {variant} | {len(part)} | {b.value:+.3f} ({b.mcse:.3f}) "
            f"| {part['estimate'].std():.3f} | {part['boot_sd200'].mean():.3f} / "
            f"{part['boot_sd'].mean():.3f} | {math.sqrt((part['boot_sd'] ** 2).mean()):.3f} "
            f"| {np.corrcoef(part['estimate'], part['boot_sd'])[0, 1]:+.2f} | "
            + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(table: pd.DataFrame, truth: float, own: dict[bool, float]) -> str:
    table = table.assign(robust_lo=table["estimate"] - Z * table["se_robust"],
                         robust_hi=table["estimate"] + Z * table["se_robust"])
    variants = table["variant"].unique()
    stamp = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}"
    return "\n".join([
        "# IPCW bootstrap coverage, scenario A of switching_methods.py", "",
        f"Generated by `validation/ipcw_coverage.py` ({stamp} UTC) from `ipcw_coverage.csv`; "
        "see its docstring for the variants and intervals. Replicates per trial: est600, "
        "est600u, oracle600u 1,000 (BCa acceleration from the leave-one-out jackknife); "
        "est1200(u), est2400(u) 500 (jackknife of 100 groups).", "",
        f"Population values (one trial of 200,000 patients): no-switch Cox log HR "
        f"{truth:+.4f}; IPCW stabilised {own[True]:+.4f}, unstabilised {own[False]:+.4f}.", "",
        "## Against the no-switch Cox log HR (what switching_methods.md scores)", "",
        coverage_table(table, {v: truth for v in variants}), "",
        "## Against the weighting's own population value (the interval's calibration)", "",
        coverage_table(table, {v: own[parse_variant(v)[2]] for v in variants}), ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="est600,oracle600")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--jack-groups", type=int, default=600)
    parser.add_argument("--truth-n", type=int, default=200_000)
    parser.add_argument("--csv", type=Path, default=HERE / "ipcw_coverage.csv")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    start, load0 = time.perf_counter(), os.getloadavg()[0]
    if not args.report_only:
        truth = truths(args.truth_n)["cox"]
        done = (set(zip(*pd.read_csv(args.csv)[["variant", "trial"]].to_numpy().T))
                if args.csv.exists() else set())
        variants = args.variants.split(",")
        for trial in range(args.trials):
            for variant in variants:
                if (variant, trial) in done:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # positivity warnings are results here
                    row = one_trial(variant, trial, args, truth)
                pd.DataFrame([row]).to_csv(args.csv, mode="a", index=False,
                                           header=not args.csv.exists())
                print(f"{variant} {trial:3d}: {row['estimate']:+.3f} boot SD "
                      f"{row['boot_sd']:.3f} [{time.perf_counter() - start:.0f} s]", flush=True)
        print(f"{time.perf_counter() - start:.0f} s, load average {load0:.1f} at start and "
              f"{os.getloadavg()[0]:.1f} at the end")
    table = pd.read_csv(args.csv)
    text = report(table, truths(args.truth_n)["cox"], ipcw_population(args.truth_n))
    args.csv.with_suffix(".md").write_text(text)
    print(text)

if __name__ == "__main__":
    main()
