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
- ``wald_boot``: estimate +- 1.96 bootstrap SE.

Variants (name = weights + N; ``u`` suffix: unstabilised weights):

- ``est<N>``: the shipped ``ipcw`` procedure (switching model refitted in every replicate);
- ``oracle<N>``: the same with the switching model replaced by the simulator's true
  switching probabilities ``expit(0.5 - marker)`` (only the numerator is estimated): if
  these under-cover too, the cause is not the estimation of the weights.

Resumable: one CSV row per (variant, trial), skipped when present; stop a run at any time
(the trials of all its variants advance together).

Scored against the no-switch Cox log HR (as ``switching_methods.py``) and against each
weighting's own population value (:func:`switching_methods.ipcw_population`): the two
differ for stabilised weights under these non-proportional hazards.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from pexsurv.cox import cox_hr
from pexsurv.intervals import equal_events
from pexsurv.models.rpsft.estimate import bootstrap, percentile_limits, resampling_groups
from pexsurv.models.rpsft.weighted import LogisticFit
from pexsurv.simulate import simulate_switch_at_progression

sys.path.insert(0, str(Path(__file__).resolve().parent))
from switching_methods import PSI, ipcw_population, truths  # noqa: E402 - its trials

# The module, not the function the package re-exports under the same name.
IPCW = importlib.import_module("pexsurv.models.rpsft.ipcw")
HERE = Path(__file__).resolve().parent
SEED = 1000  # switching_methods.py's --seed: trial i uses seed SEED + i
INTERVALS = ("pct200", "pct", "basic", "t", "bca", "wald_boot")
# The simulator's switching model: logit P(switch) = 0.5 - marker (switch_logit default).
TRUE_COEF = np.array([0.5, 0.0, -1.0])  # intercept, time, marker


def oracle_fit(design: np.ndarray, y: np.ndarray) -> LogisticFit:
    """The switching model with the simulator's true coefficients (nothing estimated)."""
    prob = 1.0 / (1.0 + np.exp(-(design @ TRUE_COEF)))
    return LogisticFit(coef=TRUE_COEF, se=np.zeros(3), prob=prob, converged=True)


@contextlib.contextmanager
def switching_model(oracle: bool) -> Iterator[None]:
    """Use the true switching probabilities inside ``ipcw``'s fits when ``oracle``."""
    fitted = IPCW.logistic_fit
    IPCW.logistic_fit = oracle_fit if oracle else fitted
    try:
        yield
    finally:
        IPCW.logistic_fit = fitted


def parse_variant(name: str) -> tuple[bool, int, bool]:
    """``est600u`` -> (oracle False, N 600, stabilised False)."""
    stabilised = not name.endswith("u")
    core = name.rstrip("u")
    oracle = core.startswith("oracle")
    return oracle, int(core.removeprefix("oracle").removeprefix("est")), stabilised


def one_trial(variant: str, trial: int, args: argparse.Namespace,
              truth: float) -> dict[str, float]:
    oracle, n, stabilised = parse_variant(variant)
    sim = simulate_switch_at_progression(n, seed=SEED + trial, psi=PSI)
    own = simulate_switch_at_progression(n, seed=SEED + trial, psi=PSI, switching=False).data
    t0 = time.perf_counter()
    rows, _ = IPCW._rows(sim.data, sim.long, (), ("marker",), stabilised)
    cuts = equal_events(sim.data, k=4)
    with switching_model(oracle):
        fit = IPCW._fit(rows, cuts, None, "efron")

        def replicate(index: np.ndarray) -> tuple[float, float, float]:
            f = IPCW._fit(rows.take(index), cuts, None, "efron")
            return (math.nan,) * 3 if f is None else (f.log_hr, f.log_hr_pem, f.se_robust)

        first = rows.first[:-1]
        boot = bootstrap(replicate, resampling_groups(rows.experimental[first] == 1, None),
                         args.n_boot, SEED + trial, columns=("log_hr", "log_hr_pem", "se"))
        # Leave-one-out (or leave-group-out) estimates for the BCa acceleration.
        groups = np.random.default_rng(trial).permutation(n) % min(n, args.jack_groups)
        jack = np.array([IPCW._fit(rows.take(np.flatnonzero(groups != g)), cuts, None,
                                   "efron").log_hr for g in range(groups.max() + 1)])
    seconds = time.perf_counter() - t0
    est, se = fit.log_hr, fit.se_robust
    b = boot["log_hr"].to_numpy()
    sd = float(np.nanstd(b, ddof=1))
    limits = {"pct200": percentile_limits(b[:200], 0.05), "pct": percentile_limits(b, 0.05),
              "t": IPCW.studentized_limits(est, se, b, boot["se"].to_numpy(), 0.05),
              "bca": IPCW.bca_limits(est, b, jack, 0.05),
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
           "weight_max": float(fit.weight[rows.analysis & (rows.experimental == 0)].max()),
           "truth": truth, "seconds": seconds}
    for key, (lo, hi) in limits.items():
        out[f"{key}_lo"], out[f"{key}_hi"] = lo, hi
    return out


def coverage_table(table: pd.DataFrame, target: dict[str, float]) -> str:
    """One line per variant: bias, spread and each interval's coverage of ``target``
    (per variant), with MC SE and the % of trials missing below / above."""
    lines = ["| variant | trials | bias (MCSE) | SD of estimates | mean boot SD (B=200 / all) | "
             "rms boot SD | corr(error, boot SD) | "
             + " | ".join(f"{k} coverage (MCSE; below/above)" for k in INTERVALS) + " |",
             "|---" * (7 + len(INTERVALS)) + "|"]
    for variant, part in table.groupby("variant", sort=False):
        truth = target[variant]
        err = part["estimate"] - truth
        cells = []
        for k in INTERVALS:
            below = (part[f"{k}_hi"] < truth).mean()
            above = (part[f"{k}_lo"] > truth).mean()
            cov = 1 - below - above
            cells.append(f"{100 * cov:.1f}% ({100 * math.sqrt(cov * (1 - cov) / len(part)):.1f}; "
                         f"{100 * below:.1f}/{100 * above:.1f})")
        lines.append(
            f"| {variant} | {len(part)} | {err.mean():+.3f} ({err.std() / math.sqrt(len(part)):.3f}) "
            f"| {err.std():.3f} | {part['boot_sd200'].mean():.3f} / {part['boot_sd'].mean():.3f} "
            f"| {math.sqrt((part['boot_sd'] ** 2).mean()):.3f} "
            f"| {np.corrcoef(err, part['boot_sd'])[0, 1]:+.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(table: pd.DataFrame, truth: float, own: dict[bool, float]) -> str:
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
