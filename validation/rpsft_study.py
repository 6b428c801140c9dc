"""Simulation study of the Bayesian RPSFT under prognosis-driven treatment switching.

Usage::

    .venv/bin/python validation/rpsft_study.py                    # -> validation/rpsft_study.md (+ .png)
    .venv/bin/python validation/rpsft_study.py --trials 20 --subset 2 --out /tmp/smoke.md --png ''

Design (fixed seeds; trial i uses data seed ``seed + i``):

* Data: exact RPSFT structure with prognosis-driven switching (``pexsurv.simulate.simulate_rpsft``): N = 500 per trial, 1:1, untreated time U ~ Exp(mean 2), true
  psi = -0.5 (experimental T = U exp(-psi)), administrative censoring C ~ Uniform(2, 5);
  a control patient switches with probability min(U/3, 0.9) at a uniform 0.2-0.8 fraction
  of U, so switchers have better prognosis.
* Truth: psi = -0.5. Because U is exponential, scaling it by exp(-psi) multiplies the hazard
  by exp(psi): the no-switch hazard ratio of arm is exactly exp(-0.5) (log HR -0.5). This is
  checked with a Cox fit to one trial of ``--truth-n`` (200,000) patients without switching.
* Every trial (``--trials``, default 400):
  - Bayesian RPSFT stage 1: ``psi_posterior_grid`` with prior Normal(0, 10) on a 4,001-point
    grid over (-2, 2); posterior median and 95% equal-tailed interval (``grid_quantiles``).
  - G-estimation ``rpsftm_gestimate`` (defaults): psi and its 95% CI (test inversion); the
    adjusted HR (Cox on the counterfactual data at psi-hat) with Wald and ITT-p limits.
  - Naive comparators, lifelines Cox log HR of arm with 95% Wald CI: ITT; per protocol
    (control switchers censored at the switch); excluding control switchers.
  - Bayesian RPSFT adjusted HR without its MCMC stage (which it does not need):
    ``paired_log_hr`` at the ``--n-psi-draws`` stage-2 psi quantiles with 200 Bayesian-bootstrap
    weights each; and the same map without weights.
* The first ``--subset`` trials (default 50): the full Bayesian RPSFT ``fit`` (one stage-2
  PEM compiled once for all trials, on cuts at the quartiles of trial 0's event times;
  draws, tune, chains per stage-2 fit: fit's RPSFT defaults unless given; the values used are
  written to the report): posterior median and 95% interval of ``log_hr`` (reported) and
  ``log_hr_two_stage`` (the former method).

Metrics: coverage of the truth by the 95% interval (Monte Carlo SE sqrt(p(1-p)/n)), mean
bias of the point estimate (posterior median / estimate) with its MCSE, RMSE, mean interval
width. Targets for the Bayesian stage 1: coverage 92-98%, |mean bias| < 0.05.
"""

from __future__ import annotations

import argparse
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

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from scipy import stats

from pexsurv import TrialData
from pexsurv._names import RPSFT_STAGE2
from pexsurv.fitting import fit
# Imported now, not lazily at the first fit, so one run uses one version of the package
# even if its files are edited while the run goes on.
import pexsurv.fitting.rpsft  # noqa: E402,F401
from pexsurv.models import RPSFT, grid_quantiles, psi_posterior_grid
from pexsurv.fitting import compile_spec, default_config
from pexsurv.models import adjusted_hr, adjusted_log_hr_draws, paired_log_hr, rpsftm_gestimate
from pexsurv.priors import Normal
from pexsurv.provenance import source_digests
from pexsurv.simulate import simulate_rpsft

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pexsurv.models.rpsft.bayes", "pexsurv.models.rpsft.counterfactual",
           "pexsurv.models.rpsft.gestimation", "pexsurv.logrank", "pexsurv.fitting.rpsft",
           "pexsurv.models.piecewise", "pexsurv.fitting.convergence")
TRUE_PSI = -0.5
TRUE_LOG_HR = TRUE_PSI  # exponential U: AFT factor exp(-psi) == PH with HR exp(psi)
PRIOR = Normal(0.0, 10.0)
PSI_RANGE = (-2.0, 2.0)
GRID_SIZE = 4001
Z95 = 1.959963984540054


# --------------------------------------------------------------------------- data
def cox(time_: np.ndarray, event: np.ndarray, arm: np.ndarray) -> tuple[float, float]:
    """lifelines Cox (Efron ties) log HR of arm and its standard error."""
    f = CoxPHFitter().fit(pd.DataFrame({"t": time_, "e": event, "arm": arm.astype(float)}),
                          "t", "e")
    return float(f.params_["arm"]), float(f.standard_errors_["arm"])


def comparators(data: TrialData) -> dict[str, tuple[float, float]]:
    switched = np.isfinite(data.switch_time)  # observed switches (control arm only)
    t, e, a = data.time, data.event, data.arm
    keep = ~switched
    return {
        "itt": cox(t, e, a),
        "pp": cox(np.where(switched, data.switch_time, t), np.where(switched, 0, e), a),
        "excl": cox(t[keep], e[keep], a[keep]),
    }


def quartile_cuts(data: TrialData) -> tuple[float, ...]:
    return tuple(float(c) for c in np.quantile(data.time[data.event == 1], [0.25, 0.5, 0.75]))


def short(w: warnings.WarningMessage) -> str:
    return f"{w.category.__name__}: {str(w.message).splitlines()[0][:90]}"


# --------------------------------------------------------------------------- per trial
def cheap_trial(i: int, seed: int, n: int, n_psi_draws: int, cuts: tuple[float, ...],
                warn_log: Counter) -> dict:
    data = simulate_rpsft(n, seed=seed + i)
    row: dict = {"trial": i, "events": int(data.event.sum()),
                 "switch_share": float(np.isfinite(data.switch_time).sum() / (data.arm == 0).sum())}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grid = psi_posterior_grid(data, PRIOR, np.linspace(*PSI_RANGE, GRID_SIZE))
        lo, med, hi = grid_quantiles(grid, np.array([0.025, 0.5, 0.975]))
        step = (PSI_RANGE[1] - PSI_RANGE[0]) / (GRID_SIZE - 1)
        row["bayes_edge_mass"] = float(grid["density"].values[[0, -1]].sum() * step)
        row.update(bayes_psi=med, bayes_lo=lo, bayes_hi=hi)
        # The Bayesian RPSFT's adjusted HR without its MCMC stage (which it does not need):
        # paired counterfactual log HR at the stage-2 psi quantiles, with Bayesian-bootstrap
        # weights (200 per psi), and without them (psi's uncertainty mapped alone).
        psis = grid_quantiles(grid, (np.arange(n_psi_draws) + 0.5) / n_psi_draws)
        bb = adjusted_log_hr_draws(data, psis, cuts, n_boot=200,
                                   rng=np.random.default_rng([seed, i])).ravel()
        mapped = np.array([paired_log_hr(data, p, cuts)[0] for p in psis])
        for name, x in (("bb", bb), ("mapped", mapped)):
            q = np.quantile(x, [0.025, 0.5, 0.975])
            row.update({name: q[1], f"{name}_lo": q[0], f"{name}_hi": q[2]})
        g = rpsftm_gestimate(data)
        row.update(gest_psi=g.psi, gest_lo=g.ci[0], gest_hi=g.ci[1], gest_nroots=len(g.roots),
                   gadj=g.hr_adjusted["log_hr"],
                   gadj_lo=math.log(g.hr_adjusted["lower"]),
                   gadj_hi=math.log(g.hr_adjusted["upper"]),
                   gadjp_lo=math.log(g.hr_adjusted_itt_p["lower"]),
                   gadjp_hi=math.log(g.hr_adjusted_itt_p["upper"]))
        # Diagnostic: how much the adjusted log HR moves with psi *within this data set*
        # (central difference at psi-hat +- 0.1), the slope the two-stage mixture relies on.
        if np.isfinite(g.psi):
            row["within_slope"] = (adjusted_hr(data, g.psi + 0.1)["log_hr"]
                                   - adjusted_hr(data, g.psi - 0.1)["log_hr"]) / 0.2
        row["gadj_se"] = g.hr_adjusted["se"]
        for name, (b, se) in comparators(data).items():
            row.update({name: b, f"{name}_lo": b - Z95 * se, f"{name}_hi": b + Z95 * se})
    for w in caught:
        warn_log[short(w)] += 1
    return row


def stage2_trial(i: int, seed: int, n: int, spec: RPSFT, settings: dict, compiled,
                 warn_log: Counter) -> dict:
    data = simulate_rpsft(n, seed=seed + i)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit(spec, data, seed=seed + i, progress=False, compiled=compiled, **settings)
    wall = time.perf_counter() - t0
    for w in caught:
        warn_log[short(w)] += 1
    post = res.posterior
    lo, med, hi = np.quantile(post["log_hr"].values, [0.025, 0.5, 0.975])
    lo2, med2, hi2 = np.quantile(post["log_hr_two_stage"].values, [0.025, 0.5, 0.975])
    stage2 = res.idata[RPSFT_STAGE2].to_dataset()
    return {"trial": i, "b2": med, "b2_lo": lo, "b2_hi": hi,
            "two": med2, "two_lo": lo2, "two_hi": hi2,
            "b2_psi_med": float(np.median(post["psi"].values)),
            "passed": bool(res.convergence.passed),
            "bad_fits": int((stage2["r_hat_max"] > 1.05).sum()),
            "divergences": int(stage2["divergences"].sum()),
            "wall": wall, **res.timings}


# --------------------------------------------------------------------------- metrics
def metrics(est: np.ndarray, lo: np.ndarray, hi: np.ndarray, truth: float) -> dict:
    est, lo, hi = (np.asarray(x, dtype=float) for x in (est, lo, hi))
    n = est.size
    cover = (lo <= truth) & (truth <= hi)  # NaN limits count as not covering
    p = cover.mean()
    err = est - truth
    return {"n": n, "coverage": p, "cov_mcse": math.sqrt(p * (1 - p) / n),
            "bias": np.nanmean(err), "bias_mcse": np.nanstd(err, ddof=1) / math.sqrt(n),
            "rmse": math.sqrt(np.nanmean(err ** 2)), "width": np.nanmean(hi - lo),
            "nan": int(np.isnan(lo).sum() + np.isnan(hi).sum())}


def fmt_row(method: str, estimand: str, m: dict) -> str:
    nan = f" ({m['nan']} NaN limits)" if m["nan"] else ""
    return (f"| {method} | {estimand} | {m['n']} | {100 * m['coverage']:.1f}% "
            f"({100 * m['cov_mcse']:.1f}){nan} | {m['bias']:+.4f} ({m['bias_mcse']:.4f}) | "
            f"{m['rmse']:.4f} | {m['width']:.3f} |")


HEADER = ["| method | estimand (truth) | trials | coverage of truth, 95% interval (MCSE) "
          "| mean bias (MCSE) | RMSE | mean width |", "|---|---|---:|---|---|---:|---:|"]


def plot(path: Path, cheap: pd.DataFrame, sub: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
    ax = axes[0]
    ax.scatter(cheap["gest_psi"], cheap["bayes_psi"], s=8, alpha=0.6)
    lim = [cheap[["gest_psi", "bayes_psi"]].min().min(), cheap[["gest_psi", "bayes_psi"]].max().max()]
    ax.plot(lim, lim, color="0.5", lw=0.8)
    ax.axvline(TRUE_PSI, color="C3", lw=0.8, ls="--")
    ax.axhline(TRUE_PSI, color="C3", lw=0.8, ls="--")
    ax.set(xlabel="g-estimate of psi", ylabel="Bayesian stage-1 posterior median of psi",
           title=f"psi in {len(cheap)} trials (truth dashed)")
    ax = axes[1]
    cols = {"ITT": cheap["itt"], "per protocol": cheap["pp"], "excl. switchers": cheap["excl"],
            "g-est adj.": cheap["gadj"]}
    if len(sub):
        cols[f"Bayes RPSFT\n(subset {len(sub)})"] = sub["b2"]
    ax.boxplot(list(cols.values()), tick_labels=list(cols.keys()))
    ax.axhline(TRUE_LOG_HR, color="C3", lw=0.8, ls="--")
    ax.set(ylabel="log HR of arm", title="log HR estimates (truth dashed)")
    ax.tick_params(axis="x", labelsize=8)
    ax = axes[2]
    if len(sub):
        s = sub.sort_values("b2").reset_index(drop=True)
        cover = (s["b2_lo"] <= TRUE_LOG_HR) & (TRUE_LOG_HR <= s["b2_hi"])
        for k, r in s.iterrows():
            ax.plot([r["b2_lo"], r["b2_hi"]], [k, k], color="C0" if cover[k] else "C3", lw=1.2)
        ax.plot(s["b2"], np.arange(len(s)), "k.", ms=3)
        ax.axvline(TRUE_LOG_HR, color="C3", lw=0.8, ls="--")
    ax.set(xlabel="log HR (posterior median, 95% interval)", ylabel="trial (sorted)",
           title="Bayesian RPSFT adjusted log HR (red: misses truth)")
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--subset", type=int, default=50)
    parser.add_argument("--n-psi-draws", type=int, default=50)
    parser.add_argument("--draws-per-fit", type=int, default=None, help="default: fit's for RPSFT")
    parser.add_argument("--tune-per-fit", type=int, default=None, help="default: fit's for RPSFT")
    parser.add_argument("--chains", type=int, default=None, help="default: fit's for RPSFT")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--truth-n", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=ROOT / "validation" / "rpsft_study.md")
    parser.add_argument("--png", default=str(ROOT / "validation" / "rpsft_study.png"),
                        help="figure path ('' for none)")
    args = parser.parse_args()
    command = ".venv/bin/python validation/rpsft_study.py " + shlex.join(sys.argv[1:])
    pkg = source_digests(SOURCES)  # at start: the code this process imported
    t_start = time.perf_counter()
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_start = tuple(round(v, 2) for v in os.getloadavg())
    print(f"start {started}; load {load_start}; {args}", flush=True)

    # Truth check: one very large trial without switching.
    big = simulate_rpsft(args.truth_n, seed=args.seed - 1, switching=False)
    truth_b, truth_se = cox(big.time, big.event, big.arm)
    print(f"truth check: Cox log HR {truth_b:.4f} (SE {truth_se:.4f}) on N = {args.truth_n:,} "
          f"without switching; analytic {TRUE_LOG_HR}", flush=True)

    # One set of cuts for every trial (quartiles of trial 0's event times), so that one
    # compiled stage-2 PEM serves all the two-stage fits.
    cuts = quartile_cuts(simulate_rpsft(args.n, seed=args.seed))

    # Part 1: every trial, cheap methods.
    warn_cheap: Counter = Counter()
    rows, t1 = [], time.perf_counter()
    for i in range(args.trials):
        rows.append(cheap_trial(i, args.seed, args.n, args.n_psi_draws, cuts, warn_cheap))
        if (i + 1) % 10 == 0 or i + 1 == args.trials:
            el = time.perf_counter() - t1
            print(f"[part 1] trial {i + 1}/{args.trials}  {el:.0f} s elapsed, ETA "
                  f"{el / (i + 1) * (args.trials - i - 1):.0f} s", flush=True)
    cheap = pd.DataFrame(rows)
    part1_s = time.perf_counter() - t1

    # Part 2: full two-stage Bayesian RPSFT on the first trials.
    warn_s2: Counter = Counter()
    rows, t2 = [], time.perf_counter()
    sp = RPSFT(cuts=cuts, psi_prior=PRIOR, psi_range=PSI_RANGE, grid_size=GRID_SIZE,
               n_psi_draws=args.n_psi_draws)
    # Stage-2 sampler settings go to fit (per stage-2 fit); unset ones take fit's defaults.
    settings = {k: v for k, v in (("draws", args.draws_per_fit), ("tune", args.tune_per_fit),
                                  ("chains", args.chains)) if v is not None}
    config = default_config(sp, **settings)
    compiled = compile_spec(sp, simulate_rpsft(args.n, seed=args.seed), config)
    stage2_text = (f"cuts={tuple(round(c, 3) for c in cuts)}, n_psi_draws={sp.n_psi_draws}, "
                   f"draws={config.draws}, tune={config.tune}, chains={config.chains} per "
                   "stage-2 fit")
    for i in range(min(args.subset, args.trials)):
        r = stage2_trial(i, args.seed, args.n, sp, settings, compiled, warn_s2)
        rows.append(r)
        el = time.perf_counter() - t2
        print(f"[part 2] trial {i + 1}/{args.subset}  fit {r['wall']:.1f} s (compile "
              f"{r['compile_seconds']:.1f}, sample {r['sampling_seconds']:.1f})  log HR "
              f"{r['b2']:.3f} ({r['b2_lo']:.3f}, {r['b2_hi']:.3f})  {el:.0f} s elapsed, ETA "
              f"{el / (i + 1) * (args.subset - i - 1):.0f} s", flush=True)
    sub = pd.DataFrame(rows)
    part2_s = time.perf_counter() - t2
    total = time.perf_counter() - t_start
    load_end = tuple(round(v, 2) for v in os.getloadavg())

    # ------------------------------------------------------------------ tables
    c = cheap
    res_all = [
        ("Bayesian RPSFT stage 1 (grid posterior, Normal(0, 10) prior): median, 95% ETI",
         "psi (-0.5)", metrics(c.bayes_psi, c.bayes_lo, c.bayes_hi, TRUE_PSI)),
        ("G-estimation (log-rank, recensored): psi-hat, 95% test-inversion CI",
         "psi (-0.5)", metrics(c.gest_psi, c.gest_lo, c.gest_hi, TRUE_PSI)),
        (f"**Bayesian RPSFT adjusted HR** (paired counterfactual, Bayesian bootstrap; "
         f"M = {args.n_psi_draws} psi quantiles x 200 weights): median, 95% ETI",
         "log HR (-0.5)", metrics(c.bb, c.bb_lo, c.bb_hi, TRUE_LOG_HR)),
        ("Same without the bootstrap (psi's uncertainty mapped alone)",
         "log HR (-0.5)", metrics(c.mapped, c.mapped_lo, c.mapped_hi, TRUE_LOG_HR)),
        ("G-estimation adjusted HR: Cox on counterfactual data at psi-hat, Wald CI",
         "log HR (-0.5)", metrics(c.gadj, c.gadj_lo, c.gadj_hi, TRUE_LOG_HR)),
        ("G-estimation adjusted HR, ITT-p CI (SE = abs(log HR / Z_ITT))",
         "log HR (-0.5)", metrics(c.gadj, c.gadjp_lo, c.gadjp_hi, TRUE_LOG_HR)),
        ("ITT (Cox, Wald CI)", "log HR (-0.5)", metrics(c.itt, c.itt_lo, c.itt_hi, TRUE_LOG_HR)),
        ("Per protocol: control switchers censored at switch (Cox)", "log HR (-0.5)",
         metrics(c.pp, c.pp_lo, c.pp_hi, TRUE_LOG_HR)),
        ("Exclude control switchers (Cox)", "log HR (-0.5)",
         metrics(c.excl, c.excl_lo, c.excl_hi, TRUE_LOG_HR)),
    ]
    res_sub = []
    if len(sub):
        cs = c.set_index("trial").loc[sub["trial"]]
        res_sub = [
            (f"**Bayesian RPSFT, `fit`** ({stage2_text}): `log_hr` posterior median, "
             "95% ETI", "log HR (-0.5)", metrics(sub.b2, sub.b2_lo, sub.b2_hi, TRUE_LOG_HR)),
            ("Same fits, `log_hr_two_stage` (PEM of experimental observed vs control "
             "counterfactual, mixed over psi)", "log HR (-0.5)",
             metrics(sub.two, sub.two_lo, sub.two_hi, TRUE_LOG_HR)),
            ("Bayesian adjusted HR of part 1 (same trials)", "log HR (-0.5)",
             metrics(cs.bb, cs.bb_lo, cs.bb_hi, TRUE_LOG_HR)),
            ("G-estimation adjusted HR, Wald CI (same trials)", "log HR (-0.5)",
             metrics(cs.gadj, cs.gadj_lo, cs.gadj_hi, TRUE_LOG_HR)),
            ("G-estimation adjusted HR, ITT-p CI (same trials)", "log HR (-0.5)",
             metrics(cs.gadj, cs.gadjp_lo, cs.gadjp_hi, TRUE_LOG_HR)),
            ("Bayesian RPSFT stage 1 (same trials)", "psi (-0.5)",
             metrics(cs.bayes_psi, cs.bayes_lo, cs.bayes_hi, TRUE_PSI)),
            ("ITT (Cox, same trials)", "log HR (-0.5)",
             metrics(cs.itt, cs.itt_lo, cs.itt_hi, TRUE_LOG_HR)),
        ]
    m1 = res_all[0][2]
    cov_ok = 0.92 <= m1["coverage"] <= 0.98
    bias_ok = abs(m1["bias"]) < 0.05


    L = ["# Simulation study: Bayesian RPSFT under prognosis-driven switching", "",
         f"Generated by `validation/rpsft_study.py` on {started}; runtime {total / 60:.1f} min "
         f"(truth check + part 1: {part1_s / 60:.1f} min for {args.trials} trials; part 2: "
         f"{part2_s / 60:.1f} min for {len(sub)} two-stage fits).", "", "```", command, "```", "",
         f"Machine: {len(os.sched_getaffinity(0))} usable CPU(s), python "
         f"{platform.python_version()}, pexsurv {version('pexsurv')}, pymc {version('pymc')}, "
         f"nutpie {version('nutpie')}, lifelines {version('lifelines')}; load average (1, 5, 15 "
         f"min) at start {load_start}, at end {load_end}.", "",
         f"Package source at the start of the run: {pkg}.", "",
         "## Design", "",
         f"* {args.trials} simulated trials of N = {args.n} (data seed {args.seed} + i for "
         "trial i), exact RPSFT structure (`pexsurv.simulate.simulate_rpsft`): "
         "1:1, untreated time U ~ Exp(mean 2), experimental T = U exp(-psi) with **true psi = "
         "-0.5**, administrative censoring C ~ Uniform(2, 5). A control patient switches with "
         "probability min(U/3, 0.9) at a uniform 0.2-0.8 fraction of U, i.e. **switching "
         "depends on prognosis** (patients with short U switch less). Mean share of control "
         f"patients observed to switch: {c.switch_share.mean():.0%}; mean events per trial "
         f"{c.events.mean():.0f}.",
         "* **True no-switch HR**: with exponential U, multiplying U by exp(-psi) multiplies the "
         "hazard by exp(psi), so the HR of arm had nobody switched is exactly exp(-0.5) = "
         f"0.6065 (log HR -0.5, which equals psi). Check: Cox fit to one trial of N = "
         f"{args.truth_n:,} simulated without switching gave log HR {truth_b:.4f} (SE "
         f"{truth_se:.4f}). The analytic value -0.5 is used as the truth.",
         "* Bayesian RPSFT stage 1 on every trial: `psi_posterior_grid(data, Normal(0, 10), "
         "linspace(-2, 2, 4001))` (quasi-posterior prior x exp(-Z^2/2), log-rank Z, "
         "recensoring), posterior median and 95% equal-tailed interval by `grid_quantiles`.",
         "* G-estimation on every trial: `rpsftm_gestimate(data)` defaults; psi-hat with its 95% "
         "test-inversion CI, and the adjusted HR (Cox on experimental observed + control "
         "counterfactual at psi-hat) with Wald CI and with the ITT-p CI.",
         "* Naive comparators on every trial (lifelines `CoxPHFitter`, Efron ties, Wald CI): "
         "ITT; per protocol (control switchers censored at their switch time); excluding "
         "control switchers.",
         "* Bayesian RPSFT adjusted HR on every trial, computed as `fit` does it but without "
         "the MCMC stage it does not need: `paired_log_hr` (experimental arm observed vs the "
         "same patients' counterfactual U(psi); PH piecewise-exponential MLE on fixed cuts) "
         f"at the {args.n_psi_draws} stage-2 psi quantiles, each with 200 Bayesian-bootstrap "
         "(Dirichlet) patient weights; and, to show what the bootstrap adds, the same map "
         "without weights.",
         f"* The full Bayesian RPSFT `fit` on the **first {len(sub)} trials** (a subset, for "
         f"time), one stage-2 PEM compiled once for all of them (`compile_spec`, "
         f"`fit(..., compiled=)`): `fit(RPSFT(...), data, seed={args.seed} + i, "
         "progress=False)` with the other spec defaults (Normal(0, 10) psi prior, grid 4001 "
         f"over (-2, 2); **{stage2_text}**); posterior median and 95% equal-tailed interval "
         "of the pooled `log_hr` (reported adjusted HR) and of `log_hr_two_stage` (the "
         "stage-2 PEM's own arm effect, the former method).",
         "* Coverage: share of trials whose 95% interval contains the truth (NaN limits count "
         "as misses), MCSE sqrt(p(1-p)/n). Bias: mean of point estimate - truth (MCSE = "
         "SD / sqrt(n)). Point estimates: posterior medians for Bayesian methods.", "",
         "## Results: all trials", ""] + HEADER + [fmt_row(*r) for r in res_all] + [
         "",
         f"Target for the Bayesian stage 1 (coverage 92-98%, |mean bias| < 0.05): coverage "
         f"{100 * m1['coverage']:.1f}% -> **{'PASS' if cov_ok else 'FAIL'}**; mean bias "
         f"{m1['bias']:+.4f} -> **{'PASS' if bias_ok else 'FAIL'}**.", "",
         f"Mean log HR (truth -0.5): ITT {c.itt.mean():+.4f}, per protocol {c.pp.mean():+.4f}, "
         f"excluding switchers {c.excl.mean():+.4f}, g-estimation adjusted {c.gadj.mean():+.4f}. "
         f"Bayesian stage-1 median vs g-estimate of psi: mean |difference| "
         f"{(c.bayes_psi - c.gest_psi).abs().mean():.4f}, max "
         f"{(c.bayes_psi - c.gest_psi).abs().max():.4f}, mean signed difference "
         f"{(c.bayes_psi - c.gest_psi).mean():+.4f}; max posterior mass at the grid edges "
         f"{c.bayes_edge_mass.max():.2g}; trials with more than one root of Z = 0: "
         f"{int((c.gest_nroots > 1).sum())}.", ""]
    if len(sub):
        L += [f"## Results: two-stage subset (first {len(sub)} trials)", ""] + HEADER + [
            fmt_row(*r) for r in res_sub] + [
            "",
            f"Stage-2 fits: wall {sub.wall.mean():.1f} s per trial on average (compile "
            f"{sub.compile_seconds.mean():.1f} s, stage 1 {sub.stage1_seconds.mean():.2f} s, "
            f"sampling {sub.sampling_seconds.mean():.1f} s); `convergence.passed` in "
            f"{int(sub.passed.sum())} of {len(sub)} fits; stage-2 fits with per-fit R-hat > 1.05: "
            f"{int(sub.bad_fits.sum())} of {len(sub) * args.n_psi_draws} in total (trials with at "
            f"least one: {int((sub.bad_fits > 0).sum())}); divergences: "
            f"{int(sub.divergences.sum())}. Pooled psi median vs stage-1 grid median: max "
            f"|difference| "
            f"{(sub.b2_psi_med.values - cs.bayes_psi.values).__abs__().max():.4f}.", ""]
        # Why the two-stage interval can be too narrow: across trials the adjusted log HR
        # tracks psi-hat one for one, within a data set it moves much less with psi.
        ok = c.gest_psi.notna() & c.gadj.notna() & c.within_slope.notna()
        cc = c[ok]
        across = np.polyfit(cc.gest_psi, cc.gadj, 1)[0]
        psi_sd = (cc.bayes_hi - cc.bayes_lo) / (2 * Z95)
        implied = np.sqrt(np.mean((cc.within_slope * psi_sd) ** 2 + cc.gadj_se ** 2))
        b2_sd = ((sub.b2_hi - sub.b2_lo) / (2 * Z95)).mean()
        two_sd = ((sub.two_hi - sub.two_lo) / (2 * Z95)).mean()
        bb_sd = ((c.bb_hi - c.bb_lo) / (2 * Z95)).mean()
        L += ["### Diagnostic: why the two-stage mixture under-covers, and the fix", "",
              "`log_hr_two_stage` is a mixture over psi draws of PEM posteriors "
              "that treat the counterfactual control times as data. Its spread is roughly "
              "sqrt((within-data slope of log HR in psi x posterior SD of psi)^2 + SE at fixed "
              "psi^2). Measured on all trials (g-estimation quantities, cheap):", "",
              "| quantity | value |", "|---|---:|",
              f"| correlation of psi-hat and the adjusted log HR across trials | "
              f"{np.corrcoef(cc.gest_psi, cc.gadj)[0, 1]:.3f} |",
              f"| slope of adjusted log HR on psi-hat across trials | {across:.3f} |",
              f"| SD across trials of psi-hat / of the adjusted log HR | "
              f"{cc.gest_psi.std(ddof=1):.3f} / {cc.gadj.std(ddof=1):.3f} |",
              f"| within-data slope d log HR / d psi (adjusted_hr at psi-hat +- 0.1): mean "
              f"(min, max) | {cc.within_slope.mean():.3f} ({cc.within_slope.min():.3f}, "
              f"{cc.within_slope.max():.3f}) |",
              f"| mean posterior SD of psi (stage 1, 95% width / 3.92) | {psi_sd.mean():.3f} |",
              f"| mean Cox SE of the adjusted log HR at fixed psi | {cc.gadj_se.mean():.3f} |",
              f"| implied SD of the mixture, sqrt(mean(slope^2 SD_psi^2 + SE^2)) | "
              f"{implied:.3f} |",
              f"| mean `log_hr_two_stage` posterior SD (subset, 95% width / 3.92) | "
              f"{two_sd:.3f} |",
              f"| mean `log_hr` posterior SD (subset, 95% width / 3.92) | {b2_sd:.3f} |",
              f"| mean paired-bootstrap posterior SD (all trials) / SD across trials of its "
              f"median | {bb_sd:.3f} / {c.bb.std(ddof=1):.3f} |", "",
              "Across repeated trials the adjusted log HR moves one for one with psi-hat, but "
              "within one data set it moves much less as psi varies (only the switchers' times "
              "and the recensoring change), so propagating psi's posterior through stage 2 "
              "gives a posterior SD below the estimator's sampling SD; with a Normal "
              "approximation the expected coverage of a 95% interval is about "
              f"{100 * (2 * stats.norm.cdf(Z95 * implied / cc.gadj.std(ddof=1)) - 1):.0f}%. "
              "The reason is a missing covariance: psi-hat's error and the stage-2 comparison's "
              "error come from the same between-arm sampling noise, and the mixture treats "
              "them as independent.", "",
              "The fix (`paired_log_hr`): by randomization the experimental arm's own "
              "counterfactual U(psi) has the control arm's no-switch distribution, so the "
              "adjusted HR compares each experimental patient with themself. That removes the "
              "between-arm noise already carried by psi's posterior; what is left at fixed psi "
              "(the composition of the experimental arm) is carried by the Bayesian bootstrap.",
              ""]
    L += ["## Warnings raised", "",
          "Part 1 (stage 1, g-estimation, Cox): " + (
              "; ".join(f"{k} (x{v})" for k, v in warn_cheap.most_common()) or "none") + ".", "",
          "Part 2 (two-stage fits): " + (
              "; ".join(f"{k} (x{v})" for k, v in warn_s2.most_common()) or "none") + ".", ""]
    if args.png:
        L += [f"![psi and log HR estimates]({Path(args.png).name})", ""]
    args.out.write_text("\n".join(L))
    if args.png:
        try:
            plot(Path(args.png), cheap, sub)
        except Exception as exc:  # the figure is optional; the tables are written already
            print(f"figure failed: {exc!r}", flush=True)
    print("\n".join(L), flush=True)
    print(f"wrote {args.out} ({total / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    main()
