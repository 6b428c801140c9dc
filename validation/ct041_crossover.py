"""Crossover adjustment on the CT041-like scenario (OS): truth vs ITT, g-estimation,
per protocol, exclude switchers, naive as-treated and the Bayesian RPSFT ``fit``.

Usage::

    .venv/bin/python validation/ct041_crossover.py --budget-min 20   # -> validation/ct041_crossover.md
    .venv/bin/python validation/ct041_crossover.py --trials 2 --truth-n 5000 --psi-truth-n 2000 \
        --out /tmp/ct.md --png ''                                     # smoke test

Every number comes from the package's public code path with its defaults:

* Truth: one trial of ``--truth-n`` patients simulated with ``CT041_LIKE_PARAMS`` but
  ``switch_prob=0`` (nobody crosses over); ``pexsurv.cox.cox_hr`` of arm (ITT, OS). This is
  the "no-switch" HR every switch-adjusting method targets. Also: the psi that g-estimation
  attributes to the experimental arm's (hazard-based) effect on a no-switch trial, and the
  large-sample limits of the methods on one big trial with switching.
* Replicate i: ``os_trial_data(simulate_trial(**CT041_LIKE_PARAMS, seed=seed + i))``. Per
  trial: ``cox_hr`` on the ITT, infused-only, per-protocol, exclude-switchers and naive
  as-treated populations (``TrialData`` methods); ``rpsftm_gestimate(data)``; and
  ``fit(RPSFT(cuts=equal_events(data, k=4)), data, seed=seed + i)`` with every other setting
  at its default (psi prior, grid, psi draws, bootstrap, stage-2 sampler). All methods run
  on the same trials; replicates stop when ``--trials`` or the time budget is reached.
* The same ``fit`` on the shipped data set ``datasets.ct041_like("os")``.

Metrics (``pexsurv.workflows.simulation_metrics``): bias of the log HR with its Monte Carlo
SE, RMSE, coverage of the truth by the 95% interval with its binomial Monte Carlo SE, mean
width. The results, the run time and the machine go to the report, not here.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from pexsurv import TrialData, datasets
from pexsurv.cox import cox_hr
from pexsurv.fitting import default_config, fit
from pexsurv.intervals import equal_events
from pexsurv.models import RPSFT, rpsftm_gestimate
from pexsurv.provenance import RunLog, study_parser
from pexsurv.simulate import CT041_LIKE_PARAMS, os_trial_data, simulate_trial
from pexsurv.workflows import SimulationMetrics, simulation_metrics

from crossover_common import cox_row, gestimation_row, short  # validation/, beside this script

ROOT = Path(__file__).resolve().parents[1]
PARAMS = dict(CT041_LIKE_PARAMS)
SWITCH_PSI = float(PARAMS["psi"])


def bayes_rpsft(data: TrialData, seed: int) -> dict[str, float]:
    """The shipped ``fit`` with its defaults: posterior median and 95% ETI of ``log_hr``."""
    res = fit(RPSFT(cuts=tuple(equal_events(data, k=4))), data, seed=seed, progress=False)
    post = res.posterior
    lo, med, hi = np.quantile(post["log_hr"].values, [0.025, 0.5, 0.975])
    plo, pmed, phi = np.quantile(post["psi"].values, [0.025, 0.5, 0.975])
    return {"bayes": med, "bayes_lo": lo, "bayes_hi": hi, "psi_med": pmed, "psi_lo": plo,
            "psi_hi": phi, "passed": bool(res.convergence.passed)}


def one_trial(seed: int, warn_log: Counter) -> dict:
    data = os_trial_data(simulate_trial(**PARAMS, seed=seed))
    ctl = data.arm == 0
    switched = ~np.isnan(data.switch_time)
    row = {"seed": seed, "events": int(data.event.sum()), "switched": int(switched.sum()),
           "switch_share": float(switched[ctl].mean()),
           "never_treated": int(((data.arm == 1) & np.isnan(data.treatment_start)).sum())}
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name, d in {"itt": data, "mitt": data.treated(), "pp": data.per_protocol(),
                        "excl": data.exclude_switchers(), "at": data.as_treated()}.items():
            row.update(cox_row(name, d))
        row.update(gestimation_row(data))
        row.update(bayes_rpsft(data, seed))
    row["seconds"] = time.perf_counter() - t0
    for w in caught:
        warn_log[short(w)] += 1
    return row


HEADER = ["| method | trials | HR at mean log HR | mean log-HR bias vs truth (MCSE) "
          "| RMSE (MCSE) | coverage of truth by 95% interval (MCSE) | mean width (log) |",
          "|---|---:|---:|---|---:|---|---:|"]

METHODS = [("ITT (Cox)", "itt", "itt_lo", "itt_hi"),
           ("modified ITT: infused only (Cox)", "mitt", "mitt_lo", "mitt_hi"),
           ("per protocol: switchers censored at switch (Cox)", "pp", "pp_lo", "pp_hi"),
           ("exclude switchers (Cox)", "excl", "excl_lo", "excl_hi"),
           ("**as treated, naive** (ever vs never treated, Cox)", "at", "at_lo", "at_hi"),
           ("g-estimation adjusted HR, Wald CI", "gadj", "gadj_lo", "gadj_hi"),
           ("g-estimation adjusted HR, ITT-p CI", "gadj", "gadjp_lo", "gadjp_hi"),
           ("**Bayesian RPSFT `fit`** (defaults): `log_hr` posterior median, 95% ETI",
            "bayes", "bayes_lo", "bayes_hi")]


def fmt(method: str, m: SimulationMetrics, truth: float) -> str:
    nan = f"; {m.missing_estimates} NaN" if m.missing_estimates else ""
    nan += f"; {m.missing_intervals} NaN limits" if m.missing_intervals else ""
    return (f"| {method} | {m.trials}{nan} | {math.exp(truth + m.bias.value):.3f} | "
            f"{m.bias.value:+.3f} ({m.bias.mcse:.3f}) | "
            f"{m.rmse.value:.3f} ({m.rmse.mcse:.3f}) | "
            f"{100 * m.coverage.value:.0f}% ({100 * m.coverage.mcse:.1f}) | {m.width:.3f} |")


def table(c: pd.DataFrame, truth: float) -> list[str]:
    return HEADER + [fmt(lbl, simulation_metrics(c[e], c[lo], c[hi], truth), truth)
                     for lbl, e, lo, hi in METHODS]


def plot(path: str, c: pd.DataFrame, truth: float) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.8), layout="constrained")
    cols = {"ITT": c.itt, "mITT": c.mitt, "per\nprotocol": c.pp, "excl.\nswitchers": c.excl,
            "as treated\n(naive)": c["at"], "g-est.\nadjusted": c.gadj,
            "Bayes RPSFT\nfit": c.bayes}
    ax.boxplot([np.exp(v.dropna()) for v in cols.values()], tick_labels=list(cols))
    ax.axhline(math.exp(truth), color="C3", ls="--", lw=1,
               label=f"true no-switch HR {math.exp(truth):.3f}")
    ax.set_yscale("log")
    ax.set(ylabel="OS hazard ratio (log scale)",
           title=f"CT041-like scenario, {len(c)} simulated trials of {PARAMS['n']} patients")
    ax.legend(loc="upper right")
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = study_parser(__doc__, trials=100, seed=41000, budget=True, figure=True,
                      report=ROOT / "validation" / "ct041_crossover")
    ap.add_argument("--truth-n", type=int, default=200_000)
    ap.add_argument("--psi-truth-n", type=int, default=20_000)
    a = ap.parse_args()
    log = RunLog.start("validation/ct041_crossover.py")

    # ---------------- truth
    big = os_trial_data(simulate_trial(**{**PARAMS, "n": a.truth_n, "switch_prob": 0.0},
                                       seed=a.seed - 1))
    truth = cox_hr(big.time, big.event, big.arm)
    T = truth.log_hr
    infused = big.treated()
    mitt_truth = cox_hr(infused.time, infused.event, infused.arm).log_hr
    print(f"truth: HR {truth.hr:.4f} (log {T:.4f}, SE {truth.se:.4f})", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mid = os_trial_data(simulate_trial(**{**PARAMS, "n": a.psi_truth_n, "switch_prob": 0.0},
                                           seed=a.seed - 2))
        g_imp = rpsftm_gestimate(mid)
        bigsw = os_trial_data(simulate_trial(**{**PARAMS, "n": a.psi_truth_n}, seed=a.seed - 3))
        g_big = rpsftm_gestimate(bigsw)
        big_lim = {k: cox_hr(d.time, d.event, d.arm).log_hr for k, d in (
            ("ITT", bigsw), ("per protocol", bigsw.per_protocol()),
            ("exclude switchers", bigsw.exclude_switchers()),
            ("as treated (naive)", bigsw.as_treated()))}
        big_lim["g-estimation adjusted"] = g_big.hr_adjusted["log_hr"]
    truth_s = 60 * log.minutes()

    # ---------------- shipped data set
    warn: Counter = Counter()
    shipped = datasets.ct041_like("os")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bs = bayes_rpsft(shipped, 279)
        gs = rpsftm_gestimate(shipped)
        itt_s = cox_hr(shipped.time, shipped.event, shipped.arm)
    for w in caught:
        warn[short(w)] += 1
    print(f"[shipped] Bayes RPSFT HR {math.exp(bs['bayes']):.3f}", flush=True)

    # ---------------- replicates
    rows = []
    for i in range(a.trials):
        if log.over_budget(a.budget_min):
            print(f"time budget reached after {i} trials", flush=True)
            break
        r = one_trial(a.seed + i, warn)
        rows.append(r)
        print(f"trial {i + 1}/{a.trials}  {r['seconds']:.0f} s  Bayes HR "
              f"{math.exp(r['bayes']):.3f} ({math.exp(r['bayes_lo']):.3f}, "
              f"{math.exp(r['bayes_hi']):.3f})", flush=True)
    c = pd.DataFrame(rows)
    total = log.finish().seconds
    if a.png:
        plot(a.png, c, T)

    # ---------------- report
    e = math.exp
    spec = RPSFT(cuts=(1.0,))
    config = default_config(spec)
    at = simulation_metrics(c["at"], c["at_lo"], c["at_hi"], T)
    gcov = ((c.gest_lo <= SWITCH_PSI) & (SWITCH_PSI <= c.gest_hi)).mean()
    L = ["# CT041-like scenario: crossover adjustment of OS against the simulator's truth", "",
         f"Generated by `validation/ct041_crossover.py` on {log.started}; runtime {total / 60:.1f} "
         f"min (truth {truth_s / 60:.1f} min; {len(c)} replicate trials, mean "
         f"{c.seconds.mean():.0f} s each, nearly all of it the Bayesian `fit`).", "",
         "```", log.command, "```", "", log.machine_line(["lifelines"]), "",
         "## Setup", "",
         f"* Scenario: `pexsurv.simulate.CT041_LIKE_PARAMS` ({PARAMS['n']} patients "
         f"{PARAMS['allocation'][0]}:{PARAMS['allocation'][1]}, CAR-T after a manufacturing "
         f"delay (mean {PARAMS['manufacturing_mean']} months), never infused if a PFS event or "
         "censoring comes first; control patients cross over after progression with "
         f"probability {PARAMS['switch_prob']} and RPSFT acceleration psi = {SWITCH_PSI}; OS "
         f"endpoint). Replicate i is `os_trial_data(simulate_trial(**CT041_LIKE_PARAMS, "
         f"seed={a.seed} + i))`.",
         f"* Mean per replicate: {c.events.mean():.0f} OS events, {c.switched.mean():.1f} "
         f"control switchers ({c.switch_share.mean():.0%} of controls), "
         f"{c.never_treated.mean():.1f} never-infused CAR-T patients.",
         "* CAR-T acts on *hazards* (`experimental_effect='hazard'`); control switchers get an "
         "RPSFT *acceleration*. RPSFT methods assume one common effect psi in both arms, so "
         "here that assumption holds only approximately (see the implied psi below).",
         "* Bayesian RPSFT: `fit(RPSFT(cuts=tuple(equal_events(data, k=4))), data, seed=seed + "
         f"i, progress=False)`, every other setting at its default: psi prior "
         f"{spec.psi_prior!r}, grid {spec.grid_size} points on {spec.psi_range}, "
         f"n_psi_draws={spec.n_psi_draws}, stage-2 draws={config.draws}, tune={config.tune}, "
         f"chains={config.chains}. Point estimate: posterior median of `log_hr`; interval: "
         "95% equal-tailed.",
         "* Cox comparators: `pexsurv.cox.cox_hr` (Efron ties, Wald 95% CI).", "",
         "## 1. Truth", "",
         "| quantity | value |", "|---|---|",
         f"| **true no-switch OS HR** (switch_prob = 0; Cox ITT, N = {a.truth_n:,}, "
         f"{int(big.event.sum()):,} events) | **{truth.hr:.4f}** (log HR {T:+.4f}, SE "
         f"{truth.se:.4f}) |",
         f"| no-switch OS HR, infused-only experimental vs all controls (same trial) | "
         f"{e(mitt_truth):.4f} |",
         f"| psi that g-estimation attributes to the CAR-T arm's hazard effect (no switching, "
         f"N = {a.psi_truth_n:,}; the switchers' true psi is {SWITCH_PSI}) | {g_imp.psi:.3f} "
         f"(95% CI {g_imp.ci[0]:.3f} to {g_imp.ci[1]:.3f}) |", "",
         f"Large-sample limits with crossover (one trial of N = {a.psi_truth_n:,} with "
         f"switching; g-estimated psi {g_big.psi:.3f}): "
         + ", ".join(f"{k} {e(v):.3f}" for k, v in big_lim.items()) + f" (truth {truth.hr:.3f}).",
         "", "'Truth' is the large-sample Cox estimand of the no-switch trial with this "
         "follow-up pattern; hazards are not proportional here (delayed infusion, "
         "period-specific effects).", "",
         f"## 2. Replicate trials ({len(c)} trials of {PARAMS['n']} patients)", "",
         f"Truth: no-switch HR {truth.hr:.4f}. 'HR at mean log HR' is exp(truth + bias). "
         "Bias MCSE = SD / sqrt(R); coverage MCSE = sqrt(p(1-p)/R). NaN estimates are left "
         "out of bias and RMSE; a NaN interval limit counts as a miss.", ""]
    L += table(c, T)
    L += ["",
          f"As-treated: mean log-HR bias {at.bias.value:+.3f}, i.e. {e(at.bias.value):.2f} "
          f"times the true no-switch HR; coverage {100 * at.coverage.value:.0f}%.", "",
          f"G-estimated psi: mean {c.gest_psi.mean():+.3f} (SD {c.gest_psi.std():.3f}), NaN "
          f"in {int(c.gest_psi.isna().sum())}; its 95% CI covers the switchers' psi "
          f"{SWITCH_PSI} in {100 * gcov:.0f}% of trials. Bayesian psi posterior median: mean "
          f"{c.psi_med.mean():+.3f}. `convergence.passed` in {int(c.passed.sum())} of "
          f"{len(c)} fits.", "",
          "## 3. Shipped data set `datasets.ct041_like('os')` (fit seed 279)", "",
          "| quantity | HR | 95% interval |", "|---|---|---|",
          f"| **true no-switch OS HR (simulator)** | **{truth.hr:.3f}** | |",
          f"| ITT Cox | {itt_s.hr:.3f} | {itt_s.lower:.3f} to {itt_s.upper:.3f} |",
          f"| **Bayesian RPSFT `fit`** (posterior median) | **{e(bs['bayes']):.3f}** | "
          f"{e(bs['bayes_lo']):.3f} to {e(bs['bayes_hi']):.3f} |",
          f"| g-estimation adjusted HR (Wald) | {gs.hr_adjusted['hr']:.3f} | "
          f"{gs.hr_adjusted['lower']:.3f} to {gs.hr_adjusted['upper']:.3f} |",
          f"| g-estimation adjusted HR (ITT-p) | {gs.hr_adjusted_itt_p['hr']:.3f} | "
          f"{gs.hr_adjusted_itt_p['lower']:.3f} to {gs.hr_adjusted_itt_p['upper']:.3f} |", "",
          f"Bayesian psi posterior median {bs['psi_med']:.3f} (95% {bs['psi_lo']:.3f} to "
          f"{bs['psi_hi']:.3f}); g-estimate {gs.psi:.3f} ({gs.ci[0]:.3f} to {gs.ci[1]:.3f}); "
          f"convergence.passed = {bs['passed']}.", ""]
    if a.png:
        L += [f"![HR distributions]({Path(a.png).name})", ""]
    L += ["## Warnings captured", "",
          "; ".join(f"{k} (x{v})" for k, v in warn.most_common(8)) or "none", "",
          "Reading these results: `validation/README.md`.", ""]
    a.out.write_text("\n".join(L))
    c.to_csv(a.out.with_suffix(".csv"), index=False)
    print(f"wrote {a.out}; total {total / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
