"""PFS found at scheduled assessments: bias and coverage of the HR and of the median PFS per
arm, progression dated at the visit vs interval-censored (with the true-time and midpoint
analyses beside them), against the enrolment and the pre-infusion reference scan, over the
same simulated CT041-like trials whose true progression times are known.

Usage::

    nice -n 10 .venv/bin/python validation/pfs_assessments.py --truth-trials 60 --draws 700
        # -> pfs_assessments.md
    .venv/bin/python validation/pfs_assessments.py --trials 3 --truth-trials 5 \
        --csv /tmp/pfs.csv --out /tmp/pfs.md --png ''                 # smoke test

Every number comes from the package's public code path:

* Scenario: ``simulate_assessments(seed=...)`` with its defaults (156 patients randomized
  2:1, accrual 24 months, data cut at 30; tumour burden growing during a ~3-week
  manufacturing wait; assessments every 7 +- 1 weeks, 10% missed); PFS clock from
  randomization. Tumour reference (``--baselines``): the enrolment scan (the randomized
  trial's convention) and the pre-infusion scan (single-arm trials'), read on the same
  patients and visits of every trial.
* Analyses per trial and reference: ``compare_pfs_dating(sim, cuts, baselines=(b,))``, i.e.
  ``fit(PiecewiseExponential(cuts=cuts), data)`` with default priors, 4 chains, ``--draws``
  tuning steps and draws, on PFS dated at the true time, at the visit that found progression,
  at the interval midpoint, and interval-censored. The cuts are the trial's own:
  ``equal_events(ic, k=8)`` on that scan's interval-censored data (:func:`trial_cuts`: at
  the assessments, about one visit apart), the same for all four datings so that they differ
  in the dating only. Models with the same number of cuts share one nutpie compilation.
* Truth, per reference scan (the scan defines progression, so each has its own true
  times): ``--truth-trials`` further trials (other seeds) pooled into one large trial of the
  same design. True median PFS per arm: Kaplan-Meier median of the pooled true times
  (model-free). True HR: the same PH fit on the pooled true times (the HR the true-time
  analysis converges to; the PFS hazards are not proportional, so "the HR" is defined by
  the analysis model), with the pooled trial's own ``equal_events`` cuts. The pooled trial
  is also fitted under every dating: the large-sample limit of each analysis.

Replicates are appended to ``--csv`` as they finish, one block of rows per (seed,
reference); a re-run skips the blocks already in it, so the study can be completed in
several sessions within a time budget. Each row records its cut points and its fit's
convergence statistics (max R-hat, min ESS, divergences). The report
is rewritten; text after its ``HAND_WRITTEN`` marker (the reading of the numbers) is kept.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
import warnings
from collections import Counter
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pexsurv.fitting import THRESHOLDS
from pexsurv.intervals import equal_events
from pexsurv.km import km_median
from pexsurv.provenance import study_parser
from pexsurv.simulate import AssessedTrial, simulate_assessments
from pexsurv.simulate.assessments import BASELINES
from pexsurv.workflows import SimulationMetrics, simulation_metrics
from pexsurv.workflows.assessments import PFSDatingComparison, compare_pfs_dating

ROOT = Path(__file__).resolve().parents[1]
K = 8
"""Intervals asked of ``equal_events``. On interval-censored data it returns fewer (cuts at
the assessments, at least half an event interval apart): 4-5 intervals here. Fixed cuts
finer than the visits leave a piece between two visits that the data hardly identify: with
(1, 2, 3, 4, 6) the interval-censored fit failed its convergence check in 37 of 79 trials,
with the visits' due dates (1.61, 3.22, 4.83, 6.44) in 14 of 200 (the previous runs)."""
DATINGS = ("true", "visit", "midpoint", "interval")
ARMS = ("car-t", "control")
TRUTH_SEED = 900_000
HAND_WRITTEN = "<!-- hand-written below: kept when the script re-runs -->"


def pooled(sims: list[AssessedTrial]) -> AssessedTrial:
    """Several trials of one design as one large trial (ids renumbered)."""
    offset = np.cumsum([0] + [len(s.latent) for s in sims[:-1]])

    def stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat([f.assign(id=f["id"] + o) for f, o in zip(frames, offset)],
                         ignore_index=True)

    return AssessedTrial(data=stack([s.data for s in sims]), visits=stack([s.visits for s in sims]),
                         latent=stack([s.latent for s in sims]), params=sims[0].params,
                         schedule=np.vstack([s.schedule for s in sims]))


def short(w: warnings.WarningMessage) -> str:
    return f"{w.category.__name__}: {str(w.message).splitlines()[0][:90]}"


def trial_cuts(sim: AssessedTrial, baseline: str) -> tuple[float, ...]:
    """Cut points of every analysis of ``sim`` read against ``baseline``: ``equal_events``
    on the interval-censored data, whose event times are the assessments that found them."""
    return tuple(float(c) for c in equal_events(sim.trial_data(baseline=baseline,
                                                               dating="interval"), k=K))


def with_fit_stats(out: PFSDatingComparison) -> pd.DataFrame:
    """The comparison table with each fit's convergence statistics (why a fit failed)."""
    table = out.table.copy()
    for label, res in out.results.items():
        t = res.convergence.table
        table.loc[label, "max_rhat"] = float(t["r_hat"].max())
        table.loc[label, "min_ess"] = float(t[["ess_bulk", "ess_tail"]].min().min())
        table.loc[label, "divergences"] = int(res.convergence.divergences)
    return table


def truth(baseline: str, n_trials: int, draws: int, warn_log: Counter,
          cache_path: Path) -> dict[str, Any]:
    """The pooled-trial truth of one scan, from ``cache_path`` when computed before with the
    same settings (it is deterministic: fixed seeds), so that a resumed study does not
    spend ~10 minutes re-fitting 9,000 patients; ``warn_log`` gets the fits' warnings."""
    key = f"{baseline} scan, {n_trials} trials, {draws} draws, equal_events k={K}"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    if key not in cache:
        cache[key] = pooled_truth(baseline, n_trials, draws, warn_log)
        cache_path.write_text(json.dumps(cache, indent=1))
    out = dict(cache[key])
    out["limits"] = pd.DataFrame(out["limits"]).set_index("dating", drop=False)
    true_hr = out["limits"].loc["true"]
    out["hr"] = float(true_hr["hr_median"])
    # the posterior sd of log HR on the pooled trial: the Monte Carlo error of the truth
    out["log_hr_se"] = float((math.log(true_hr["upper"]) - math.log(true_hr["lower"])) / 3.92)
    return out


def pooled_truth(baseline: str, n_trials: int, draws: int,
                 warn_log: Counter) -> dict[str, Any]:
    """Kaplan-Meier medians of the pooled true times and every dating's fit to the pooled
    trial (JSON-ready)."""
    big = pooled([simulate_assessments(seed=TRUTH_SEED + i) for i in range(n_trials)])
    d = big.data[big.data["baseline"] == baseline]
    out: dict[str, Any] = {"n": int(len(d))}
    for arm in ARMS:
        m = (d["arm"] == arm).to_numpy()
        out[f"median_{arm}"] = km_median(d["pfs_true_time"].to_numpy()[m],
                                         d["pfs_true_event"].to_numpy()[m])
    out["cuts"] = trial_cuts(big, baseline)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        limits = compare_pfs_dating(big, out["cuts"], baselines=(baseline,), seed=1,
                                    draws=draws).table
    warn_log.update(short(w) for w in caught)
    out["limits"] = limits[["dating", "hr_median", "lower", "upper", "median_car-t",
                            "median_control", "converged"]].astype(
        {"converged": bool}).to_dict("records")
    return out


def one_trial(seed: int, baseline: str, draws: int, warn_log: Counter) -> list[dict]:
    sim = simulate_assessments(seed=seed)
    cuts = trial_cuts(sim, baseline)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # a fresh model cache per trial (its cuts are its own); the nutpie compilation
        # is shared across trials with the same number of cuts
        table = with_fit_stats(compare_pfs_dating(sim, cuts, baselines=(baseline,),
                                                  seed=seed, draws=draws))
    warn_log.update(short(w) for w in caught)
    d = sim.data[sim.data["baseline"] == baseline]
    prog = d[d["event_type"] == "progression"]
    undetected = ((d["event_type"] == "death") & d["progression_true"].notna()).sum()
    keep = ["dating", "n", "events", "interval_censored", "hr_median", "lower", "upper",
            "converged", "max_rhat", "min_ess", "divergences"] + [
        f"median_{a}{s}" for a in ARMS for s in ("", "_lower", "_upper")]
    rows = table[keep].to_dict("records")
    for r in rows:
        r.update(seed=seed, baseline=baseline, cuts=" ".join(f"{c:.4f}" for c in cuts),
                 mean_interval=float((prog["progression_visit"]
                                      - prog["last_assessment"]).mean()),
                 deaths_after_unseen_progression=int(undetected))
    return rows


def metrics(c: pd.DataFrame, t: dict[str, Any]) -> dict[tuple[str, str], SimulationMetrics]:
    """Bias, coverage, ... per (dating, quantity) of one reference scan's rows ``c``."""
    out = {}
    for dating, g in c.groupby("dating", sort=False):
        out[(dating, "log HR")] = simulation_metrics(np.log(g["hr_median"]), np.log(g["lower"]),
                                                     np.log(g["upper"]), math.log(t["hr"]))
        for arm in ARMS:
            out[(dating, f"median {arm}")] = simulation_metrics(
                g[f"median_{arm}"], g[f"median_{arm}_lower"], g[f"median_{arm}_upper"],
                t[f"median_{arm}"])
    return out


def fmt_table(ms: dict[str, dict[tuple[str, str], SimulationMetrics]], quantity: str,
              unit: str) -> list[str]:
    lines = [f"| reference scan | dating | bias ({unit}) | RMSE ({unit}) | 95% coverage "
             "| mean width |",
             "|---|---|---|---|---|---|"]
    for baseline, m in ms.items():
        for dating in DATINGS:
            s = m.get((dating, quantity))
            if s is None:
                continue
            lines.append(f"| {baseline} | {dating} | {s.bias.value:+.3f} (MCSE "
                         f"{s.bias.mcse:.3f}) | {s.rmse.value:.3f} (MCSE {s.rmse.mcse:.3f}) | "
                         f"{100 * s.coverage.value:.1f}% (MCSE {100 * s.coverage.mcse:.1f}) | "
                         f"{s.width:.3f} |")
    return lines


def scan_shift(c: pd.DataFrame, ts: dict[str, dict[str, Any]]) -> list[str]:
    """Infusion-scan estimate minus enrolment-scan estimate on the same trial, averaged over
    the trials with both, beside the same shift of the truth."""
    if not {"enrolment", "infusion"} <= set(ts):
        return []
    wide = c.pivot_table(index=["seed", "dating"], columns="baseline",
                         values=["hr_median", "median_car-t", "median_control"]).dropna()
    lines = ["| dating | log HR shift | median CAR-T shift (months) | median control shift |",
             "|---|---|---|---|"]
    true_row = (f"| truth | {math.log(ts['infusion']['hr'] / ts['enrolment']['hr']):+.3f} | "
                + " | ".join(f"{ts['infusion'][f'median_{a}'] - ts['enrolment'][f'median_{a}']:+.3f}"
                             for a in ARMS) + " |")
    for dating in DATINGS:
        if dating not in wide.index.get_level_values("dating"):
            continue
        w = wide.xs(dating, level="dating")
        cells = []
        for col, log in (("hr_median", True), ("median_car-t", False),
                         ("median_control", False)):
            diff = (np.log(w[(col, "infusion")]) - np.log(w[(col, "enrolment")]) if log
                    else w[(col, "infusion")] - w[(col, "enrolment")])
            cells.append(f"{diff.mean():+.3f} (MCSE {diff.std(ddof=1) / math.sqrt(len(diff)):.3f})")
        lines.append(f"| {dating} | " + " | ".join(cells) + " |")
    n = wide.index.get_level_values("seed").nunique()
    return [f"Paired over the {n} trials analysed with both scans (mean of infusion minus "
            "enrolment; MCSE = sd / sqrt(trials)); the truth row is the same shift of the "
            "pooled true times (HR: of the true-time PH limits; medians: Kaplan-Meier):", "",
            *lines, true_row]


def plot(path: str, ms: dict[str, dict[tuple[str, str], SimulationMetrics]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    quantities = ("log HR", "median car-t", "median control")
    fig, axes = plt.subplots(2, 3, figsize=(11, 5.5), sharex=True)
    x = np.arange(len(DATINGS))
    offsets = np.linspace(-0.12, 0.12, len(ms)) if len(ms) > 1 else [0.0]
    for off, (baseline, m) in zip(offsets, ms.items()):
        for j, q in enumerate(quantities):
            s = [m[(d, q)] for d in DATINGS]
            axes[0, j].errorbar(x + off, [v.bias.value for v in s],
                                yerr=[2 * v.bias.mcse for v in s], fmt="o", capsize=3,
                                label=f"{baseline} scan")
            cov = [100 * v.coverage.value for v in s]
            axes[1, j].errorbar(x + off, cov, yerr=[200 * v.coverage.mcse for v in s],
                                fmt="o", capsize=3)
    for j, q in enumerate(quantities):
        axes[0, j].axhline(0.0, color="grey", lw=0.8)
        axes[0, j].set_title(f"{q}: bias" + (" (months)" if "median" in q else ""))
        axes[1, j].axhline(95.0, color="grey", lw=0.8)
        axes[1, j].set_title(f"{q}: 95% interval coverage (%)")
        axes[1, j].set_ylim(-5, 100)
        axes[1, j].set_xticks(x, DATINGS)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("PFS at scheduled assessments: bias and coverage by dating and reference "
                 "scan (+-2 MCSE; each scan against its own truth)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(args: argparse.Namespace, c: pd.DataFrame, ts: dict[str, dict[str, Any]],
           warn_log: Counter, elapsed: float) -> str:
    ms = {b: metrics(c[c["baseline"] == b], ts[b]) for b in ts}
    n = {b: c.loc[c["baseline"] == b, "seed"].nunique() for b in ts}
    first = next(iter(ts))
    per_trial = c[(c["dating"] == "interval") & (c["baseline"] == first)].set_index("seed")
    command = " ".join(shlex.quote(a) for a in sys.argv[1:])
    complete = all(v >= args.trials for v in n.values())
    lines = [
        "# PFS at scheduled assessments: visit-dated vs interval-censored, enrolment vs "
        "infusion scan",
        "",
        f"Generated by `validation/pfs_assessments.py` ({command}) "
        f"on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"Python {platform.python_version()}, pexsurv {version('pexsurv')}, pymc "
        f"{version('pymc')}, nutpie {version('nutpie')}. The design is in the script's "
        "docstring.",
        "",
        "**" + ", ".join(f"{v} simulated trials read against the {b} scan" for b, v in n.items())
        + f"** (of {args.trials} planned each; the same seeds)"
        + ("" if complete else " - the time budget ran out; re-running the script "
           "resumes from the CSV and completes the study") + f"; {elapsed / 60:.1f} min in "
        f"this session (load average {args.load_start} at start, "
        f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())} at the end; the enrolment rows "
        "may come from an earlier session). Monte Carlo standard errors (MCSE) are given "
        "for every bias and coverage; the coverage MCSE is the binomial one.",
        "",
        "## Scenario and truth",
        "",
        f"CT041-like trial: {int(per_trial['n'].median())} patients, on average "
        f"{per_trial['events'].mean():.0f} PFS events of which "
        f"{per_trial['interval_censored'].mean():.0f} progressions found at a visit ({first} "
        f"scan); the recorded interval (last assessment without progression, first with it] "
        f"is {per_trial['mean_interval'].mean():.2f} months wide on average; "
        f"{per_trial['deaths_after_unseen_progression'].mean():.2f} deaths per trial came "
        "after a progression no visit saw (dated at death in every analysis but the true "
        "one). " + cut_summary(c),
        "",
    ]
    for b, t in ts.items():
        lines += [
            f"Truth against the **{b} scan**, from {args.truth_trials} pooled trials "
            f"({t['n']} patients): median PFS {t['median_car-t']:.3f} months (CAR-T) and "
            f"{t['median_control']:.3f} (control), Kaplan-Meier on the true times; HR "
            f"{t['hr']:.3f} (PH fit to the true times; its own Monte Carlo SE on the log "
            f"scale {t['log_hr_se']:.3f}); the pooled trial's cuts "
            + ", ".join(f"{x:.2f}" for x in t["cuts"]) + ". The same pooled trial under each "
            "dating gives each analysis's large-sample limit:",
            "",
            "| dating | HR | median CAR-T | median control | converged |",
            "|---|---|---|---|---|",
            *[f"| {d} | {r['hr_median']:.3f} | {r['median_car-t']:.3f} | "
              f"{r['median_control']:.3f} | {bool(r['converged'])} |"
              for d, r in t["limits"].iterrows()],
            "",
        ]
    lines += [
        "## Hazard ratio (log scale; truth = the true-time PH limit of the same scan)",
        "",
        *fmt_table(ms, "log HR", "log HR"),
        "",
        "## Median PFS, CAR-T arm (truth = Kaplan-Meier median of true times, same scan)",
        "",
        *fmt_table(ms, "median car-t", "months"),
        "",
        "## Median PFS, control arm",
        "",
        *fmt_table(ms, "median control", "months"),
        "",
        "## Enrolment vs infusion scan on the same trials",
        "",
        *(scan_shift(c, ts) or ["(only one reference scan analysed)"]),
        "",
        "## Failed convergence checks",
        "",
        *failures(c),
        "",
        "Warnings raised during the fits of this session (counted; first line):",
        "",
        *([f"- {k} x{v}" for k, v in warn_log.most_common(8)] or ["- none"]),
        "",
    ]
    if args.png:
        lines += [f"![bias and coverage]({Path(args.png).name})", ""]
    return "\n".join(lines)


def cut_summary(c: pd.DataFrame) -> str:
    """How many intervals the per-trial cuts made, and where the cuts fell."""
    per_block = c.drop_duplicates(["seed", "baseline"])["cuts"].str.split()
    n = per_block.str.len() + 1
    first = per_block.str[0].astype(float)
    counts = ", ".join(f"{k} intervals in {v}" for k, v in n.value_counts().sort_index().items())
    return (f"Cut points: `equal_events(interval-censored data, k={K})` per trial and scan "
            f"({counts} of the {len(n)} (trial, scan) blocks; first cut median "
            f"{first.median():.2f} months, range {first.min():.2f}-{first.max():.2f}).")


def failures(c: pd.DataFrame) -> list[str]:
    """Failed convergence checks per scan and dating, with the criteria each failure broke
    (a fit can break several; fits are kept whatever their verdict)."""
    lines = ["Fits that failed `fit`'s convergence check (kept in every table above), and "
             f"which threshold they broke (R-hat > {THRESHOLDS['r_hat']}, bulk or tail ESS < "
             f"{THRESHOLDS['ess_bulk']:.0f}, any divergence; a fit can break several):", "",
             "| reference scan | dating | failed | R-hat | ESS | divergences | "
             "worst R-hat | fewest ESS |", "|---|---|---|---|---|---|---|---|"]
    for (b, d), g in c.groupby(["baseline", "dating"], sort=False):
        bad = g[~g["converged"].astype(bool)]
        lines.append(
            f"| {b} | {d} | {len(bad)} of {len(g)} | "
            f"{int((bad['max_rhat'] > THRESHOLDS['r_hat']).sum())} | "
            f"{int((bad['min_ess'] < THRESHOLDS['ess_bulk']).sum())} | "
            f"{int((bad['divergences'] > 0).sum())} | {g['max_rhat'].max():.3f} | "
            f"{g['min_ess'].min():.0f} |")
    return lines


def load_done(path: Path) -> pd.DataFrame:
    """Rows already computed. Rows without a ``cuts`` column came from the fixed due-date
    cuts of earlier runs (git history): mixing them in would mix two analyses."""
    if not path.exists():
        return pd.DataFrame(columns=["seed", "baseline"])
    done = pd.read_csv(path)
    if "cuts" not in done:
        raise SystemExit(f"{path} holds rows of the fixed due-date cuts (no 'cuts' column); "
                         "move it away or pass another --csv to run the equal_events study")
    return done


def main() -> None:
    ap = study_parser(__doc__, trials=200, seed=1, budget=True, figure=True,
                      report=ROOT / "validation" / "pfs_assessments")
    ap.add_argument("--baselines", nargs="+", choices=BASELINES, default=list(BASELINES),
                    help="reference scans, each over the same trials")
    ap.add_argument("--truth-trials", type=int, default=100)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--csv", type=Path, default=ROOT / "validation" / "pfs_assessments.csv")
    ap.add_argument("--truth-cache", type=Path,
                    default=ROOT / "validation" / "pfs_assessments_truth.json")
    args = ap.parse_args()
    args.load_start = " / ".join(f"{x:.2f}" for x in os.getloadavg())

    start = time.monotonic()
    warn_log: Counter = Counter()
    ts = {}
    for b in args.baselines:
        ts[b] = truth(b, args.truth_trials, 1000, warn_log, args.truth_cache)
        print(f"truth ({b} scan): HR {ts[b]['hr']:.4f}, medians {ts[b]['median_car-t']:.3f} / "
              f"{ts[b]['median_control']:.3f} ({time.monotonic() - start:.0f} s)", flush=True)
    done = load_done(args.csv)
    blocks_done = set(zip(done["seed"], done["baseline"]))
    seeds = range(args.seed, args.seed + args.trials)
    todo = [(s, b) for s in seeds for b in args.baselines if (s, b) not in blocks_done]
    for seed, baseline in todo:  # both scans of a trial together: a partial run stays paired
        if (time.monotonic() - start) / 60 > args.budget_min:
            print(f"time budget reached after {len(blocks_done)} blocks", flush=True)
            break
        rows = pd.DataFrame(one_trial(seed, baseline, args.draws, warn_log))
        rows.to_csv(args.csv, mode="a", header=not args.csv.exists(), index=False)
        blocks_done.add((seed, baseline))
        if len(blocks_done) % 10 == 0:
            print(f"{len(blocks_done)} (trial, scan) blocks, "
                  f"{time.monotonic() - start:.0f} s", flush=True)
    c = pd.read_csv(args.csv)
    c = c[c["seed"].isin(seeds) & c["baseline"].isin(args.baselines)]
    if args.png:
        plot(args.png, {b: metrics(c[c["baseline"] == b], ts[b]) for b in ts})
    kept = args.out.read_text().partition(HAND_WRITTEN)[2] if args.out.exists() else ""
    text = report(args, c, ts, warn_log, time.monotonic() - start)
    args.out.write_text(text + (HAND_WRITTEN + kept if kept else ""))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
