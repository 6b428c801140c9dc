"""Simulation study of the Bayesian RPSFT under prognosis-driven treatment switching.

Usage::

    .venv/bin/python validation/rpsft_study.py --trials 400 --budget-min 60   # -> rpsft_study.md
    .venv/bin/python validation/rpsft_study.py --parts                        # report from the CSVs
    .venv/bin/python validation/rpsft_study.py --trials 2 --fit-trials 1 --truth-n 5000 \
        --csv-dir /tmp/smoke --out /tmp/smoke/rpsft.md --png ''               # smoke test

Every number comes from the package's public code path with its defaults (trial i uses
data seed ``seed + i`` and that as the fit seed):

* Data: ``pexsurv.simulate.simulate_rpsft(n, seed=seed + i)``: exact RPSFT structure with
  true psi = -0.5 and switching that depends on prognosis (see its docstring).
* Truth: psi = -0.5, and, because the untreated time is exponential, the no-switch log HR
  is exactly psi; checked with ``pexsurv.cox.cox_hr`` on one trial of ``--truth-n``
  patients simulated without switching.
* Spec: ``RPSFT(cuts=tuple(equal_events(data, k=4)))``, every other setting at its default.
* Part (a), every trial: the reported adjusted HR without MCMC,
  ``spec.adjusted_log_hr(data, n_boot=chains * draws, seed=seed + i)`` with the chains and
  draws of ``default_config(spec)``: the very draws ``fit`` reports as ``log_hr`` (stage 1
  and the bootstrap; stage 2's MCMC does not enter them), and psi's stage-2 values.
* Part (b), as many trials as the time budget allows: the full ``fit(spec, data,
  seed=seed + i)``: ``psi``, ``log_hr`` and ``log_hr_two_stage`` (the former method), the
  convergence verdict and the number of stage-2 fits over the per-fit R-hat bound. Every
  fit's ``log_hr`` draws are asserted equal, bit for bit, to part (a)'s.
* Both parts, same data: ``rpsftm_gestimate(data)`` (psi-hat, adjusted HR with Wald and
  ITT-p CIs) and ``cox_hr`` comparators: ITT, per protocol (switchers censored at the
  switch), excluding switchers.

Rows are appended per trial to ``rpsft_study_free.csv`` (a) and ``rpsft_study.csv`` (b); a
re-run skips the trials already there, so the study can be completed in several sessions.
Metrics: ``pexsurv.workflows.simulation_metrics``. The report is rewritten from the CSVs;
text after its ``KEPT`` marker (earlier runs, written by hand) is kept.
"""

from __future__ import annotations

import fcntl
import os
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from pexsurv import TrialData
from pexsurv.cox import cox_hr
from pexsurv.fitting import default_config, fit
from pexsurv.fitting.convergence import stage2_rhat_allowance
from pexsurv.intervals import equal_events
from pexsurv.models import RPSFT
from pexsurv.provenance import RunLog, study_parser
from pexsurv.simulate import simulate_rpsft
from pexsurv.workflows import SimulationMetrics, simulation_metrics

from crossover_common import cox_row, gestimation_row, short  # validation/, beside this script

ROOT = Path(__file__).resolve().parents[1]
TRUE_PSI = -0.5
TRUE_LOG_HR = TRUE_PSI  # exponential U: AFT factor exp(-psi) == PH with HR exp(psi)
KEPT = "<!-- kept: everything below is written by hand and kept when the script re-runs -->"


def spec_for(data: TrialData) -> RPSFT:
    return RPSFT(cuts=tuple(equal_events(data, k=4)))


def interval(name: str, values: np.ndarray) -> dict[str, float]:
    """Median and 95% equal-tailed limits."""
    lo, med, hi = np.quantile(values, [0.025, 0.5, 0.975])
    return {name: med, f"{name}_lo": lo, f"{name}_hi": hi}


def comparators(data: TrialData) -> dict[str, float]:
    """Per trial, the same in both parts: data summary, g-estimation and Cox comparators."""
    row = {"events": int(data.event.sum()),
           "switch_share": float(np.isfinite(data.switch_time).sum() / (data.arm == 0).sum()),
           **gestimation_row(data)}
    for name, d in (("itt", data), ("pp", data.per_protocol()),
                    ("excl", data.exclude_switchers())):
        row.update(cox_row(name, d))
    return row


def free_draws(spec: RPSFT, data: TrialData, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """psi's stage-2 values and the adjusted log HR draws ``fit(spec, data, seed=seed)``
    reports, without MCMC: psi values shape (M,), log HR draws (M, chains x draws)."""
    config = default_config(spec, seed=seed)
    psis = spec.stage2_psi(spec.psi_grid(data))
    return psis, spec.adjusted_log_hr(data, n_boot=config.chains * config.draws,
                                      seed=config.seed, psis=psis)


def free_trial(i: int, seed: int, n: int) -> dict:
    t0 = time.perf_counter()
    data = simulate_rpsft(n, seed=seed + i)
    spec = spec_for(data)
    psis, log_hr = free_draws(spec, data, seed + i)
    # fit's psi draws: each stage-2 value once per bootstrap weight set.
    row = {"trial": i, **interval("psi", np.repeat(psis, log_hr.shape[1])),
           **interval("b2", log_hr.ravel()), **comparators(data)}
    row["seconds"] = time.perf_counter() - t0
    return row


def fit_trial(i: int, seed: int, n: int) -> dict:
    t0 = time.perf_counter()
    data = simulate_rpsft(n, seed=seed + i)
    spec = spec_for(data)
    res = fit(spec, data, seed=seed + i, progress=False)
    fit_seconds = time.perf_counter() - t0
    _, free = free_draws(spec, data, seed + i)
    if not np.array_equal(np.sort(free.ravel()), np.sort(res.posterior["log_hr"].values.ravel())):
        raise AssertionError(f"trial {i}: fit's log_hr differs from spec.adjusted_log_hr")
    stage2 = res.idata["rpsft_stage2"].to_dataset()
    row = {"trial": i}
    for name, var in (("psi", "psi"), ("b2", "log_hr"), ("two", "log_hr_two_stage")):
        row.update(interval(name, res.posterior[var].values))
    row.update(passed=bool(res.convergence.passed),
               stage2_fits=int(stage2.sizes["psi_draw"]),
               stage2_over=int((stage2["r_hat_max"] > 1.05).sum()),
               other_problems=sum("stage-2" not in p for p in res.convergence.problems),
               free_identical=True, **comparators(data), seconds=fit_seconds)
    return row


def append(path: Path, row: dict) -> None:
    """Add one trial's row, rewriting the file whole (columns may grow) and atomically,
    under a lock: processes running other shards write to the same file."""
    lock = os.open(path.parent, os.O_RDONLY)  # the folder: no lock file left behind
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = read(path)
        tmp = path.with_suffix(".tmp")
        pd.concat([old, pd.DataFrame([row])], ignore_index=True).to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        os.close(lock)  # releases the lock


def read(path: Path) -> pd.DataFrame:
    # round_trip: the floats read back are the ones written, so equality checks hold.
    return (pd.read_csv(path, float_precision="round_trip") if path.exists()
            else pd.DataFrame())


def run(part: str, path: Path, make_row, trials: int, args, log: RunLog) -> None:
    done = set(read(path).get("trial", pd.Series(dtype=int)).astype(int))
    shard, shards = args.shard
    for i in range(trials):
        if i in done or i % shards != shard:
            continue
        if log.over_budget(args.budget_min):
            print(f"[{part}] time budget reached; {len(done)} trials done", flush=True)
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            row = make_row(i, args.seed, args.n)
        # Kept with the row (one entry per warning), so a later report still counts them.
        row["warnings"] = " | ".join(short(w) for w in caught)
        append(path, row)
        done.add(i)
        print(f"[{part}] trial {i + 1}/{trials}  {row['seconds']:.1f} s  log HR "
              f"{row['b2']:.3f} ({row['b2_lo']:.3f}, {row['b2_hi']:.3f})", flush=True)


HEADER = ["| method | estimand (truth) | trials | coverage of truth, 95% interval (MCSE) "
          "| mean bias (MCSE) | RMSE (MCSE) | mean width |", "|---|---|---:|---|---|---:|---:|"]

FREE_METHODS = [
    ("**Bayesian RPSFT adjusted HR** (`log_hr` as `fit` reports it, computed without MCMC "
     "by `RPSFT.adjusted_log_hr`): median, 95% ETI", "log HR", "b2"),
    ("Bayesian RPSFT `psi` (stage-2 values as `fit` reports them): median, 95% ETI", "psi",
     "psi"),
    ("G-estimation: psi-hat, 95% test-inversion CI", "psi", "gest"),
    ("G-estimation adjusted HR, Wald CI", "log HR", "gadj"),
    ("G-estimation adjusted HR, ITT-p CI", "log HR", "gadjp"),
    ("ITT (Cox, Wald CI)", "log HR", "itt"),
    ("Per protocol: control switchers censored at switch (Cox)", "log HR", "pp"),
    ("Exclude control switchers (Cox)", "log HR", "excl"),
]
FIT_METHODS = [
    ("**Bayesian RPSFT `fit`**: `log_hr` posterior median, 95% ETI", "log HR", "b2"),
    ("Same fits, `log_hr_two_stage` (former method: stage-2 PEM mixed over psi)", "log HR",
     "two"),
    ("Same fits, `psi` posterior median, 95% ETI", "psi", "psi"),
    ("G-estimation adjusted HR, ITT-p CI (same trials)", "log HR", "gadjp"),
]


def fmt_row(method: str, estimand: str, m: SimulationMetrics) -> str:
    nan = f" ({m.missing_intervals} NaN limits)" if m.missing_intervals else ""
    return (f"| {method} | {estimand} (-0.5) | {m.trials} | {100 * m.coverage.value:.1f}% "
            f"({100 * m.coverage.mcse:.1f}){nan} | {m.bias.value:+.4f} ({m.bias.mcse:.4f}) | "
            f"{m.rmse.value:.4f} ({m.rmse.mcse:.4f}) | {m.width:.3f} |")


def table(c: pd.DataFrame, methods: list) -> list[str]:
    rows = []
    for label, estimand, key in methods:
        est = {"gest": "gest_psi", "gadjp": "gadj"}.get(key, key)
        truth = TRUE_PSI if key in ("psi", "gest") else TRUE_LOG_HR
        m = simulation_metrics(c[est], c[f"{key}_lo"], c[f"{key}_hi"], truth)
        rows.append(fmt_row(label, estimand, m))
    return HEADER + rows


def plot(path: Path, c: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    ax = axes[0]
    cols = {"ITT": c["itt"], "per protocol": c["pp"], "excl. switchers": c["excl"],
            "g-est adj.": c["gadj"], "Bayes RPSFT\nlog_hr": c["b2"]}
    ax.boxplot([v.dropna() for v in cols.values()], tick_labels=list(cols.keys()))
    ax.axhline(TRUE_LOG_HR, color="C3", lw=0.8, ls="--")
    ax.set(ylabel="log HR of arm", title=f"log HR estimates, {len(c)} trials (truth dashed)")
    ax.tick_params(axis="x", labelsize=8)
    ax = axes[1]
    s = c.sort_values("b2").reset_index(drop=True)
    cover = (s["b2_lo"] <= TRUE_LOG_HR) & (TRUE_LOG_HR <= s["b2_hi"])
    for k, r in s.iterrows():
        ax.plot([r["b2_lo"], r["b2_hi"]], [k, k], color="C0" if cover[k] else "C3", lw=0.8)
    ax.plot(s["b2"], np.arange(len(s)), "k.", ms=2)
    ax.axvline(TRUE_LOG_HR, color="C3", lw=0.8, ls="--")
    ax.set(xlabel="log HR (posterior median, 95% interval)", ylabel="trial (sorted)",
           title="Bayesian RPSFT adjusted HR (red: misses truth)")
    fig.savefig(path, dpi=110)


def stage2_verdicts(fits: pd.DataFrame) -> str:
    """The fits' verdicts under the stage-2 rule of the code reading the CSV (rows written
    before a rule change are re-judged from their counts)."""
    if "stage2_over" not in fits:
        return ""
    known = fits.dropna(subset=["stage2_over"])
    allowed = known["stage2_fits"].astype(int).map(stage2_rhat_allowance)
    ok = (known["other_problems"] == 0) & (known["stage2_over"] <= allowed)
    return (f" Of the {len(known)} fits that recorded their stage-2 counts, {int(ok.sum())} "
            f"pass under the current rule (stage-2 fits over R-hat 1.05: median "
            f"{known['stage2_over'].median():.0f}, max {int(known['stage2_over'].max())} of "
            f"{int(known['stage2_fits'].max())}; allowed "
            f"{int(allowed.max())}); `convergence.passed` as recorded when they ran: "
            f"{int(known['passed'].sum())}.")


def warning_counts(*frames: pd.DataFrame) -> Counter:
    """Warnings recorded with the rows (rows written before they were recorded add none)."""
    counts: Counter = Counter()
    for c in frames:
        for text in c.get("warnings", pd.Series(dtype=object)).dropna():
            counts.update(t for t in str(text).split(" | ") if t)
    return counts


def report(args, log: RunLog, free: pd.DataFrame, fits: pd.DataFrame, truth,
           kept: str) -> str:
    spec = RPSFT(cuts=(1.0,))
    config = default_config(spec)
    both = (free.merge(fits, on="trial", suffixes=("", "_fit")) if len(free) and len(fits)
            else pd.DataFrame(columns=["b2", "b2_fit"]))
    same = int((both["b2"] == both["b2_fit"]).sum())
    L = ["# Simulation study: Bayesian RPSFT under prognosis-driven switching", "",
         f"Generated by `validation/rpsft_study.py` on {log.started} from "
         f"`{args.csv_dir.name}/rpsft_study_free.csv` ({len(free)} trials) and "
         f"`rpsft_study.csv` ({len(fits)} full fits); this run took {log.minutes():.1f} min. "
         f"Mean seconds per trial: {free.get('seconds', pd.Series(dtype=float)).mean():.1f} "
         f"without MCMC (part a), {fits.get('seconds', pd.Series(dtype=float)).mean():.0f} "
         "for the full `fit` (part b).", "",
         "```", log.command, "```", "", log.machine_line(["lifelines"]), "",
         "## Design", "",
         f"* Simulated trials of N = {args.n} (data seed {args.seed} + i for trial i), "
         "`pexsurv.simulate.simulate_rpsft`: exact RPSFT structure, **true psi = -0.5**, "
         "switching that depends on prognosis. Mean share of control patients observed to "
         f"switch: {free.switch_share.mean():.0%}; mean events per trial "
         f"{free.events.mean():.0f}.",
         "* **True no-switch HR**: with exponential untreated times the no-switch log HR "
         f"equals psi = -0.5. Check: `cox_hr` on one trial of N = {args.truth_n:,} without "
         f"switching gave log HR {truth.log_hr:.4f} (SE {truth.se:.4f}).",
         "* Spec on every trial: `RPSFT(cuts=tuple(equal_events(data, k=4)))`, every other "
         f"setting at its default: psi prior {spec.psi_prior!r}, grid {spec.grid_size} points "
         f"on {spec.psi_range}, n_psi_draws={spec.n_psi_draws}; stage-2 sampler "
         f"`default_config(spec)`: draws={config.draws}, tune={config.tune}, "
         f"chains={config.chains}. Point estimate: posterior median; interval: 95% "
         "equal-tailed.",
         "* **(a) every trial, no MCMC**: `spec.adjusted_log_hr(data, n_boot=chains x draws, "
         f"seed={args.seed} + i)`, the package function `fit` calls for its `log_hr`.",
         f"* **(b) full `fit(spec, data, seed={args.seed} + i)`** on the first trials, as the "
         "time budget allowed. For every fit written by this script since part (a) existed, "
         "the fit's `log_hr` draws were asserted equal to part (a)'s, bit for bit; across the "
         f"CSVs {same} of the {len(both)} trials in both parts have identical `log_hr` "
         "medians.",
         "* G-estimation: `rpsftm_gestimate(data)` defaults. Cox comparators: "
         "`pexsurv.cox.cox_hr` (Efron ties, Wald CI).",
         "* Metrics: `pexsurv.workflows.simulation_metrics`. Coverage MCSE sqrt(p(1-p)/R), "
         "bias MCSE SD/sqrt(R); a NaN interval limit counts as a miss, NaN estimates are left "
         "out of bias and RMSE.", "",
         f"## (a) All {len(free)} trials: the shipped adjusted HR without MCMC", ""]
    L += table(free, FREE_METHODS) if len(free) else ["(none yet)"]
    L += ["", f"## (b) Full `fit` on {len(fits)} trials", ""]
    if len(fits):
        L += table(fits, FIT_METHODS)
        L += ["", f"`convergence.passed` as recorded: {int(fits.passed.sum())} of {len(fits)} "
              "fits." + stage2_verdicts(fits)]
    L += ["",
          "## Warnings raised", "",
          "; ".join(f"{k} (x{v})" for k, v in warning_counts(free, fits).most_common())
          or "none", ""]
    if args.png and len(free):
        L += [f"![log HR estimates]({Path(args.png).name})", ""]
        plot(Path(args.png), free)
    return "\n".join(L) + "\n" + KEPT + kept


def main() -> None:
    ap = study_parser(__doc__, trials=400, seed=20250101, budget=True, figure=True,
                      report=ROOT / "validation" / "rpsft_study")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--fit-trials", type=int, default=400,
                    help="full fits on the first this many trials (after part a)")
    ap.add_argument("--truth-n", type=int, default=200_000)
    ap.add_argument("--csv-dir", type=Path, default=ROOT / "validation")
    ap.add_argument("--shard", type=lambda t: tuple(map(int, t.split("/"))), default=(0, 1),
                    metavar="K/N", help="run only trials i with i %% N == K (processes side "
                                        "by side share the CSVs)")
    ap.add_argument("--parts", nargs="*", choices=("a", "b"), default=["a", "b"],
                    help="parts to run (none: only write the report from the CSVs); two "
                         "processes can run a and b side by side, each has its own CSV")
    args = ap.parse_args()
    log = RunLog.start("validation/rpsft_study.py")
    args.csv_dir.mkdir(parents=True, exist_ok=True)
    free_csv = args.csv_dir / "rpsft_study_free.csv"
    fit_csv = args.csv_dir / "rpsft_study.csv"

    big = simulate_rpsft(args.truth_n, seed=args.seed - 1, switching=False)
    truth = cox_hr(big.time, big.event, big.arm)
    print(f"truth check: Cox log HR {truth.log_hr:.4f} (SE {truth.se:.4f})", flush=True)
    if "a" in args.parts:
        run("a", free_csv, free_trial, args.trials, args, log)
    if "b" in args.parts:
        run("b", fit_csv, fit_trial, min(args.fit_trials, args.trials), args, log)
    log.finish()
    kept = args.out.read_text().partition(KEPT)[2] if args.out.exists() else "\n"
    args.out.write_text(report(args, log, read(free_csv), read(fit_csv), truth, kept))
    print(f"wrote {args.out} ({log.minutes():.1f} min)", flush=True)


if __name__ == "__main__":
    main()
