"""Every switching adjustment on scenarios where each one's assumption holds or fails (issue 14).

Usage::

    nohup nice -n 10 .venv/bin/python validation/switching_methods.py --trials 200 \\
        --budget-min 90 > validation/switching_methods.log 2>&1 &
    .venv/bin/python validation/switching_methods.py --report-only   # tables from the CSV

Resumable: one CSV row per (scenario, trial) is written to ``switching_methods.csv`` as
soon as it is done, and rows already there are skipped; trials run in the order
trial 0 of every scenario, trial 1 of every scenario, ..., so that a run stopped by
``--budget-min`` leaves the scenarios equally far. The report (``.md``, ``.png``) is
rebuilt from the whole CSV at the end of every run.

Stale rows: each row records the :data:`IPCW_VERSION` its IPCW columns were computed
with. Before any new trial, the run recomputes the IPCW columns (only those) of every
finished trial with an older version, in the same trial order, so a method fixed after
trials were run is re-measured on the same trials without re-running the others.

Data: :func:`pexsurv.simulate.simulate_switch_at_progression` (N = ``--n``, psi = -0.5,
about 40% of control patients switch; trial ``i`` of every scenario uses seed
``seed + i``, so the scenarios differ only in what they change):

- **A, all assumptions hold**: switching at progression, driven by a prognostic marker
  measured there; a common treatment effect.
- **B, unmeasured confounding**: scenario A's trials, analysed without the marker (TSE
  without covariates, IPCW with no covariates).
- **C, switching after progression**: the switch decision comes ``Exp(mean 0.5)`` after
  progression (``switch_delay=0.5``): TSE's stage 1 sees switchers who had to survive the
  delay.
- **D, non-common effect**: switchers get half the log effect (``switch_effect=0.5``).

Truth: the no-switch trial (``switching=False``, the same for every scenario) of
``--truth-n`` patients: its Cox log HR (Efron) for every Cox-based method, and its
piecewise-exponential ML log HR on :data:`CUTS` for the Bayesian TSE (a PEM answer).
Hazards are not proportional here (an AFT model), so these are the population averages
with the trial's administrative censoring.

Methods, all through the shipped public functions with their defaults (only what the
scenario hides is left out, and the sampler of the Bayesian TSE is cut down, below):
ITT and per protocol (``cox_hr``), RPSFT g-estimation (``rpsftm_gestimate``, ITT-p
interval), IPE (``ipe``, ITT-p interval), simple TSE (``tse_simple``: the Wald interval
with psi fixed, its default), IPCW (``ipcw`` with ``n_boot`` = ``--n-boot``, bootstrap
percentile and bootstrap-t intervals, one fit giving both, unstabilised and stabilised;
and the cluster-robust Wald interval of an ``n_boot=0`` fit, which treats the weights as
known)
and the Bayesian TSE (``fit_tse_bayes`` on :data:`CUTS`, M =
``--psi-draws`` psi quantiles, 2 chains x ``--draws`` draws per stage-2 fit: the settings
of ``validation/tse_bayes_coverage.py``). Metrics: ``pexsurv.workflows.simulation_metrics``.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pexsurv.cox import cox_hr
from pexsurv.fitting import SamplerConfig, fit_tse_bayes
from pexsurv.intervals import equal_events, exposure_matrix, interval_index
from pexsurv.models import ipcw, ipe, rpsftm_gestimate, tse_simple
from pexsurv.models.rpsft.weighted import two_group_log_hr
from pexsurv.simulate import SwitchAtProgression, simulate_switch_at_progression
from pexsurv.workflows import simulation_metrics

HERE = Path(__file__).resolve().parent
PSI = -0.5
CUTS = (0.8, 1.6, 2.6)
# Version of the IPCW columns: 2 = Kaplan-Meier stabilising numerator over the whole
# control risk set (version 1, a logistic numerator fitted on the decision rows, was biased
# when switching opens only at progression) and the bootstrap-t interval; 3 = the same with
# 1,000 bootstrap replicates (200 cost up to 5 points of coverage: validation/ipcw_coverage.md).
IPCW_VERSION = 3
IPCW_KEYS = ("ipcw", "ipcw_t", "ipcw_stab", "ipcw_stab_t")
# The cluster-robust Wald interval ``ipcw`` reports without a bootstrap (``hr_adjusted``),
# per weighting (key: stabilised): point fits, so a finished row without these columns
# gets them from an ``n_boot=0`` fit (no version: the point fit is that of every version).
ROBUST_KEYS = {"ipcw_robust": False, "ipcw_stab_robust": True}
# The Bayesian TSE (the slowest method) runs where its assumption holds, where its
# interval's coverage is the question; in B and C it shares the simple TSE's stage 1, whose
# bias there the simple TSE rows show.
BAYES_SCENARIOS = "AD"

SCENARIOS: dict[str, tuple[str, dict[str, float], bool]] = {
    # name: (description, simulator options, marker hidden from the analyses)
    "A": ("all assumptions hold", {}, False),
    "B": ("unmeasured confounding (marker hidden)", {}, True),
    "C": ("switching after progression (delay Exp(mean 0.5))", {"switch_delay": 0.5}, False),
    "D": ("non-common effect (switchers get half the log effect)", {"switch_effect": 0.5},
          False),
}

# Method key: (label, the assumption it rests on, the interval reported, its truth).
METHODS: dict[str, tuple[str, str, str, str]] = {
    "itt": ("ITT", "none (answers another question: switching dilutes it)", "Cox Wald", "cox"),
    "pp": ("per protocol (censor at switch)", "switching independent of prognosis",
           "Cox Wald", "cox"),
    "rpsft": ("RPSFT g-estimation", "common treatment effect", "ITT-p", "cox"),
    "ipe": ("IPE (Weibull)", "common treatment effect", "ITT-p", "cox"),
    "tse": ("TSE simple (Weibull)", "no unmeasured confounding at progression; switch there",
            "Cox Wald, psi fixed", "cox"),
    "ipcw": ("IPCW (Cox), unstabilised", "no unmeasured confounding of switching",
             "bootstrap percentile", "cox"),
    "ipcw_t": ("IPCW (Cox), unstabilised", "no unmeasured confounding of switching",
               "bootstrap-t", "cox"),
    "ipcw_robust": ("IPCW (Cox), unstabilised", "no unmeasured confounding of switching",
                    "Cox robust (weights fixed)", "cox"),
    "ipcw_stab": ("IPCW (Cox), stabilised (default)", "no unmeasured confounding of "
                  "switching", "bootstrap percentile", "cox"),
    "ipcw_stab_t": ("IPCW (Cox), stabilised (default)", "no unmeasured confounding of "
                    "switching", "bootstrap-t", "cox"),
    "ipcw_stab_robust": ("IPCW (Cox), stabilised (default)", "no unmeasured confounding of "
                         "switching", "Cox robust (weights fixed)", "cox"),
    "tse_bayes": ("Bayesian TSE (PEM)", "as TSE simple", "posterior 95% ETI", "pem"),
}


# Findings measured by the companion scripts, appended to the report (numbers with their
# commands; rerun those scripts to refresh them).
NOTES = [
    "## Notes: why IPCW and TSE miss the no-switch HR where their assumptions hold", "",
    "**IPCW** (`validation/ipcw_coverage.py`, output in `ipcw_coverage.md`; scenario A's "
    "trials). The stabilised default's interval is calibrated for its own population value "
    "(table above, 1,000 replicates: 95.0% in A, 94.0% in C; 94.0% in both with 200); under "
    "these non-proportional hazards that value lies -0.044 (A) and -0.035 (C) from the "
    "no-switch Cox log HR, a gap that does not shrink with N. Unstabilised weights have no "
    "gap. The study's IPCW rows were first run with 200 replicates (coverage of the "
    "no-switch HR 86.0-90.5% in A and C) and re-run with 1,000 (IPCW version 3, the tables "
    "above: 89.5-93.5%): skewed replicates need many for their 2.5% and 97.5% quantiles. "
    "The unstabilised percentile interval still covers only 90.5% (A) and 91.0% (C) of the "
    "no-switch HR (91.5% of its own population value in both); in ipcw_coverage.md, 92.2% "
    "at N = 600, 89.2% at 1,200 and 94.6% at 2,400 (116, 93 and 92 trials; 500 replicates "
    "at the larger sizes): its bootstrap SD falls short of the spread over trials up to "
    "N = 1,200 (0.132 against 0.152 at 600), as much with the simulator's true switching "
    "probabilities (0.131 against 0.142): not the estimation of the weights. BCa and "
    "bootstrap-t from the same replicates did no better. The robust (sandwich) Wald "
    "interval of the same point fits (`ipcw(..., n_boot=0)`, the rows 'Cox robust (weights "
    "fixed)' above; `validation/ipcw_robust.py`, output in `ipcw_robust.md`) does: "
    "unstabilised 93.5% (A) and 92.5% (C), 8 trials gained and 2 lost (A), 4 and 1 (C) "
    "against the percentile interval on the same trials; 92.0% in both at N = 1,200 "
    "(`ipcw_robust_n1200.md`). Its SE is not larger (0.130 in A against a bootstrap SD of "
    "0.132): it is symmetric on the log scale where the percentile limits follow the "
    "replicates' skew, which here points the wrong way (the reflected basic interval of "
    "the same replicates covers 93.1%, the percentile 91.4%, in `ipcw_coverage.md`), and "
    "both fall short of the spread (0.147). The robust columns were computed for the 800 "
    "finished rows by point fits in 12.1 min (nice 10, load 9.9 at start, 8.1 at the end); "
    "their estimates equal the bootstrap fits' exactly.", "",
    "**TSE's low log HR in A** (`validation/tse_stage1_bias.py`, output in "
    "`tse_stage1_bias.txt`). Stage 1's psi is -0.019 (MC SE 0.009) low at N = 600 and "
    "+0.007 (0.004) at N = 2,400: a small-sample bias, reaching the log HR at 0.6-0.7 times "
    "its size. Most of the offset is recensoring: censoring the no-switch population's "
    "control arm at C exp(psi) with the true psi moves its Cox log HR from -0.755 to -0.799 "
    "and its PEM log HR from -0.744 to -0.775, the size of the simple TSE's -0.044 and the "
    "Bayesian TSE's -0.023 (MC SE 0.008); at N = 2,400 the simple TSE is still -0.041 (MC SE "
    "0.006) low with psi unbiased. The Bayesian TSE's 98.0% in A is not a too-wide "
    "interval: its posterior SD (0.117) matches the SD of its estimates (0.115), its 50%, "
    "80% and 90% intervals cover 46.0%, 81.5% and 91.0%, and its 4 misses at 95% (about 10 "
    "expected) have probability 0.02 under exact calibration.", ""]


def pem_log_hr(time_: np.ndarray, event: np.ndarray, experimental: np.ndarray) -> float:
    """Piecewise-exponential ML log HR (baseline on :data:`CUTS`) of two arms."""
    cuts = np.asarray(CUTS)
    k = cuts.size + 1
    exposure = exposure_matrix(np.zeros(time_.size), time_, cuts)
    where = interval_index(time_, cuts)
    ev = event * 1.0
    e1 = np.bincount(where[experimental], ev[experimental], k)
    beta, _ = two_group_log_hr(exposure[~experimental].sum(0), exposure[experimental].sum(0),
                               e1, e1 + np.bincount(where[~experimental], ev[~experimental], k))
    return float(beta[0])


def truths(n: int) -> dict[str, float]:
    """Cox and PEM log HR of one no-switch trial of ``n`` patients."""
    data = simulate_switch_at_progression(n, seed=12345, psi=PSI, switching=False).data
    experimental = data.arm == 1
    return {"cox": cox_hr(data.time, data.event, experimental).log_hr,
            "pem": pem_log_hr(data.time, data.event, experimental)}


def ipcw_population(n: int, *, truncate: float | None = None,
                    weightings: tuple[bool, ...] = (True, False),
                    **options: float) -> dict[bool, float]:
    """IPCW's own population value per weighting (key: stabilised): its Cox log HR (marker
    measured) on one switching trial of ``n`` patients, the seed of :func:`truths`.

    Unstabilised weights rebuild the no-switch risk sets, so their value is the no-switch
    Cox log HR; the stabilised weights' factor ``S(t)`` on the control arm moves the Cox
    average under these non-proportional hazards. ``truncate`` clips the weights as
    ``ipcw``'s option does. The fit is ``ipcw``'s own (``_fit``): the public function would
    also tabulate the weights split at every control switch, which at this size does not
    fit in memory (nor does ``_fit`` with stabilised *and* truncated weights, which splits
    the rows first: leave ``True`` out of ``weightings`` then).
    """
    ipcw_module = importlib.import_module("pexsurv.models.rpsft.ipcw")
    sim = simulate_switch_at_progression(n, seed=12345, psi=PSI, **options)
    cuts = equal_events(sim.data, k=4)
    return {s: ipcw_module._fit(ipcw_module._rows(sim.data, sim.long, (), ("marker",), s)[0],
                                cuts, truncate, "efron").log_hr for s in weightings}


def scenario_trial(name: str, trial: int, n: int = 600,
                   seed: int = 1000) -> SwitchAtProgression:
    """Trial ``trial`` of scenario ``name``: the study's data (seed ``seed + trial``; the
    defaults are the study's ``--n`` and ``--seed``)."""
    return simulate_switch_at_progression(n, seed=seed + trial, psi=PSI,
                                          **SCENARIOS[name][1])


def log_limits(hr: dict[str, float]) -> tuple[float, float, float]:
    return math.log(hr["hr"]), math.log(hr["lower"]), math.log(hr["upper"])


Triple = tuple[float, float, float]


def record(out: dict[str, float], keys: tuple[str, ...],
           estimate: Callable[[], tuple[Triple, ...]]) -> None:
    """Log HR and limits of one fit giving ``keys`` (one triple each); NaN if it fails.
    The fit's time goes to the first key (the others came with it)."""
    t0 = time.perf_counter()
    try:
        triples = estimate()
    except Exception as exc:  # noqa: BLE001 - a failed fit is a result, counted
        print(f"  {keys[0]} failed: {type(exc).__name__}: {str(exc)[:120]}", flush=True)
        triples = ((math.nan,) * 3,) * len(keys)
    seconds = time.perf_counter() - t0
    for key, (est, lo, hi) in zip(keys, triples, strict=True):
        out.update({key: est, f"{key}_lo": lo, f"{key}_hi": hi,
                    f"{key}_sec": seconds if key == keys[0] else 0.0})


def ipcw_columns(sim: SwitchAtProgression, hidden: bool, args: argparse.Namespace,
                 seed: int) -> dict[str, float]:
    """The IPCW methods on one trial (version :data:`IPCW_VERSION`)."""
    out: dict[str, float] = {"ipcw_version": IPCW_VERSION}
    markers = () if hidden else ("marker",)
    for keys, stabilised in ((IPCW_KEYS[:2], False), (IPCW_KEYS[2:], True)):
        def both(s: bool = stabilised) -> tuple[Triple, Triple]:
            fit = ipcw(sim.data, sim.long, time_varying=markers, stabilised=s,
                       n_boot=args.n_boot, seed=seed)
            return log_limits(fit.hr_adjusted_boot), log_limits(fit.hr_adjusted_boot_t)

        record(out, keys, both)
    return out


def robust_columns(sim: SwitchAtProgression, hidden: bool) -> dict[str, float]:
    """The robust Wald interval of each weighting on one trial (``ipcw`` point fits)."""
    out: dict[str, float] = {}
    markers = () if hidden else ("marker",)
    for key, stabilised in ROBUST_KEYS.items():
        record(out, (key,), lambda s=stabilised: (log_limits(
            ipcw(sim.data, sim.long, time_varying=markers, stabilised=s).hr_adjusted),))
    return out


def same_ipcw(path: Path, name: str, trial: int) -> dict[str, float] | None:
    """IPCW columns of a trial whose IPCW analysis is another scenario's, if done.

    D's trials are A's with a different effect *after* the switch; IPCW censors switchers
    at the switch, so it sees the same data (A's and D's refitted rows agreed to 3e-12 on
    16 trials) and the refresh copies A's rows instead of refitting.
    """
    if name != "D":
        return None
    table = pd.read_csv(path)
    a = table[(table["scenario"] == "A") & (table["trial"] == trial)
              & (table.get("ipcw_version", 1) == IPCW_VERSION)]
    if a.empty:
        return None
    columns = [f"{k}{s}" for k in IPCW_KEYS for s in ("", "_lo", "_hi", "_sec")]
    return {"ipcw_version": IPCW_VERSION, **a.iloc[0][columns].astype(float).to_dict()}


def one_trial(sim: SwitchAtProgression, hidden: bool, bayes_too: bool,
              args: argparse.Namespace, seed: int, state: dict[str, Any]) -> dict[str, float]:
    """Every method on one trial: log HR estimate and 95% limits per method."""
    data = sim.data
    out: dict[str, float] = {}

    def one(key: str, estimate: Callable[[], Triple]) -> None:
        record(out, (key,), lambda: (estimate(),))

    covariates = None if hidden else sim.baseline_covariates

    def cox(d: Any) -> tuple[float, float, float]:
        c = cox_hr(d.time, d.event, d.arm == 1)
        return c.log_hr, math.log(c.lower), math.log(c.upper)

    def bayes() -> tuple[float, float, float]:
        res = fit_tse_bayes(data, sim.secondary_baseline, covariates, cuts=CUTS,
                            n_psi_draws=args.psi_draws, compiled=state.get("compiled"),
                            sampler=SamplerConfig(draws=args.draws, tune=args.draws, chains=2,
                                                  seed=seed, progress=False))
        state["compiled"] = res.compiled
        out["tse_bayes_rhat"] = float(res.r_hat_max.max())
        return log_limits(res.hr_interval())

    if not hidden:  # the same trials as A, and these methods do not use the marker
        one("itt", lambda: cox(data))
        one("pp", lambda: cox(data.per_protocol()))
        one("rpsft", lambda: log_limits(rpsftm_gestimate(data).hr_adjusted_itt_p))
        one("ipe", lambda: log_limits(ipe(data).hr_adjusted_itt_p))
    one("tse", lambda: log_limits(tse_simple(data, sim.secondary_baseline,
                                             covariates).hr_adjusted))
    out.update(ipcw_columns(sim, hidden, args, seed))
    out.update(robust_columns(sim, hidden))
    if args.psi_draws and bayes_too:
        one("tse_bayes", bayes)
    out["switchers"] = float(np.isfinite(data.switch_time).sum() / (data.arm == 0).sum())
    return out


COLUMNS = (["scenario", "trial"] + [f"{m}{s}" for m in METHODS
                                     for s in ("", "_lo", "_hi", "_sec")]
           + ["tse_bayes_rhat", "switchers", "ipcw_version"])


def finished(path: Path) -> dict[tuple[str, int], tuple[int, bool]]:
    """(scenario, trial) of every finished trial -> the IPCW version of its row and
    whether it has the robust columns (:data:`ROBUST_KEYS`)."""
    if not path.exists():
        return {}
    done = pd.read_csv(path)
    version = (done["ipcw_version"] if "ipcw_version" in done else pd.Series(1, done.index))
    robust = done.reindex(columns=list(ROBUST_KEYS)).notna().all(axis=1)
    return {(s, int(t)): (int(v), bool(r))
            for s, t, v, r in zip(done["scenario"], done["trial"], version.fillna(1), robust,
                                  strict=True)}


def save(path: Path, key: tuple[str, int], row: dict[str, Any]) -> None:
    """Write one trial's columns into its row (new or updated), atomically: the CSV is
    rewritten to a temporary file and renamed, so a crash loses at most the trial under
    way. Runs of different scenarios may share the file (a lock serialises them)."""
    # The lock is on the directory: the CSV itself is replaced, not rewritten in place.
    lock = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        table = (pd.read_csv(path) if path.exists() else pd.DataFrame(columns=COLUMNS))
        table = table.reindex(columns=COLUMNS).astype({"scenario": object})
        at = (table["scenario"] == key[0]) & (table["trial"] == key[1])
        if not at.any():
            table.loc[len(table), ["scenario", "trial"]] = key
            at = table.index == len(table) - 1
        for column, value in row.items():
            table.loc[at, column] = value
        table["trial"] = table["trial"].astype(int)
        tmp = path.with_suffix(".tmp")
        table.to_csv(tmp, index=False)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        os.close(lock)  # releases the lock


def report(path: Path, truth: dict[str, float], args: argparse.Namespace,
           run_note: str) -> None:
    results = pd.read_csv(path)
    lines = [
        "# Switching adjustments side by side: where each assumption holds and where it fails",
        "",
        f"Generated by `validation/switching_methods.py` "
        f"({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC); see its docstring for the "
        f"scenarios, truths and settings. N = {args.n} per trial, psi = {PSI}, IPCW bootstrap {args.n_boot} replicates, Bayesian TSE M = "
        f"{args.psi_draws}, 2 chains x {args.draws} draws. Truth (no-switch trial of "
        f"{args.truth_n:,} patients): Cox log HR {truth['cox']:+.4f}, PEM log HR on cuts "
        f"{CUTS} {truth['pem']:+.4f}.",
        "",
        run_note,
        "",
        "Bias and RMSE of the log HR; coverage of the 95% interval (Monte Carlo SEs in "
        "brackets). **Bold**: the method's assumption holds in the scenario. IPCW rows "
        f"count only trials whose IPCW columns are current (version {IPCW_VERSION}: "
        "Kaplan-Meier stabilising numerator, bootstrap-t, 1,000 replicates); the percentile and bootstrap-t "
        "rows of a weighting come from the same fits; its robust row (Cox sandwich, weights "
        "treated as known) from a point fit with the same estimate.",
        "",
    ]
    every_ipcw = {*IPCW_KEYS, *ROBUST_KEYS}
    holds = {"A": set(METHODS) - {"itt", "pp"}, "B": {"rpsft", "ipe"},
             "C": {"rpsft", "ipe", *every_ipcw}, "D": {"tse", "tse_bayes", *every_ipcw}}
    current = results.get("ipcw_version", pd.Series(1, results.index)).fillna(1)
    # Rows whose IPCW columns are stale (an older IPCW_VERSION) do not count for IPCW.
    results.loc[current < IPCW_VERSION, [f"{k}{s}" for k in IPCW_KEYS
                                         for s in ("", "_lo", "_hi", "_sec")]] = math.nan
    for name, (description, _, _) in SCENARIOS.items():
        part = results[results["scenario"] == name]
        if part.empty:
            continue
        lines += [f"## Scenario {name}: {description} ({len(part)} trials)", ""]
        if SCENARIOS[name][2]:
            lines += ["ITT, per protocol, RPSFT and IPE do not use the marker: on these "
                      "trials (scenario A's) they give scenario A's results.", ""]
        lines += ["| method | assumption | interval | trials | bias (MCSE) | RMSE (MCSE) "
                  "| coverage (MCSE) | failed | median s |", "|---|---|---|---:|---|---:|---|---:|---:|"]
        for key, (label, assumption, interval, target) in METHODS.items():
            if key not in part or part[key].isna().all():
                continue
            rows = part[current[part.index] >= IPCW_VERSION] if key in IPCW_KEYS else part
            m = simulation_metrics(rows[key], rows[f"{key}_lo"], rows[f"{key}_hi"],
                                   truth[target])
            shown = f"**{label}**" if key in holds[name] else label
            lines.append(
                f"| {shown} | {assumption} | {interval} | {len(rows)} | {m.bias.value:+.3f} "
                f"({m.bias.mcse:.3f}) | {m.rmse.value:.3f} ({m.rmse.mcse:.3f}) | "
                f"{100 * m.coverage.value:.1f}% ({100 * m.coverage.mcse:.1f}) | "
                f"{m.missing_estimates} | "
                + ("with the row above |" if key in IPCW_KEYS[1::2]  # the same fit
                   else f"{rows[f'{key}_sec'].median():.2f} |"))
        lines.append("")
    lines += ipcw_own_value_section(results[current >= IPCW_VERSION], args.truth_n) + NOTES
    path.with_suffix(".md").write_text("\n".join(lines))
    plot(path.with_suffix(".png"), results, truth)


def ipcw_own_value_section(results: pd.DataFrame, truth_n: int) -> list[str]:
    every_ipcw = {*IPCW_KEYS, *ROBUST_KEYS}
    """Coverage of IPCW's intervals against the weighting's own population value
    (:func:`ipcw_population`) where its assumption holds: the calibration of the interval,
    apart from any gap between that value and the no-switch Cox HR. D's IPCW rows are A's
    (the same pre-switch data), so A and C are scored."""
    lines = ["## IPCW against its own population value", "",
             f"Each weighting's Cox log HR on one switching trial of {truth_n:,} patients "
             "(`ipcw_population`); the same fits as the tables above.", "",
             "| scenario | method | interval | population value | bias (MCSE) | coverage "
             "(MCSE) |", "|---|---|---|---:|---|---|"]
    for name in "AC":
        part = results[results["scenario"] == name]
        if part.empty:
            continue
        own = ipcw_population(truth_n, **SCENARIOS[name][1])
        for key in METHODS:
            if key not in every_ipcw:
                continue
            value = own["stab" in key]
            m = simulation_metrics(part[key], part[f"{key}_lo"], part[f"{key}_hi"], value)
            lines.append(f"| {name} | {METHODS[key][0]} | {METHODS[key][2]} | {value:+.4f} | "
                         f"{m.bias.value:+.3f} ({m.bias.mcse:.3f}) | "
                         f"{100 * m.coverage.value:.1f}% ({100 * m.coverage.mcse:.1f}) |")
    return [*lines, ""]


def plot(path: Path, results: pd.DataFrame, truth: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s for s in SCENARIOS if (results["scenario"] == s).any()]
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 4.2), sharey=True,
                             layout="constrained", squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        part = results[results["scenario"] == name]
        keys = [k for k in METHODS if k in part and part[k].notna().any()
                and k not in {*IPCW_KEYS[1::2], *ROBUST_KEYS}]  # the same estimates
        errors = [(part[k] - truth[METHODS[k][3]]).dropna() for k in keys]
        ax.boxplot(errors, tick_labels=keys, orientation="horizontal")
        ax.axvline(0.0, color="C3", lw=0.8, ls="--")
        ax.set(title=f"{name}: {SCENARIOS[name][0]}", xlabel="log HR error")
        ax.title.set_fontsize(8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--psi-draws", type=int, default=20,
                        help="Bayesian TSE psi quantiles (0: leave the Bayesian TSE out)")
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--truth-n", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--budget-min", type=float, default=math.inf)
    parser.add_argument("--scenarios", default="".join(SCENARIOS))
    parser.add_argument("--csv", type=Path, default=HERE / "switching_methods.csv")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--only", choices=("refresh", "new"),
                        help="only recompute stale IPCW columns, or only run new trials (two "
                             "processes can share the work: rows are written under a lock)")
    args = parser.parse_args()
    truth = truths(args.truth_n)
    start, load0 = time.perf_counter(), os.getloadavg()[0]
    done = finished(args.csv)
    stale = {k for k, (v, _) in done.items() if v < IPCW_VERSION}
    unfilled = {k for k, (_, robust) in done.items() if not robust}
    # Stale or missing IPCW columns of finished trials first (cheap), then new trials.
    stale_or_unfilled = sorted((k for k in stale | unfilled if k[0] in args.scenarios),
                               key=lambda k: k[::-1])
    new = [(name, trial) for trial in range(args.trials) for name in args.scenarios
           if (name, trial) not in done]
    todo = {"refresh": stale_or_unfilled, "new": new,
            None: stale_or_unfilled + new}[args.only]
    ran = refreshed = 0
    state: dict[str, Any] = {}
    stopped = False
    for name, trial in ([] if args.report_only else todo):
        if time.perf_counter() - start > 60 * args.budget_min:
            stopped = True
            break
        hidden = SCENARIOS[name][2]
        sim = scenario_trial(name, trial, args.n, args.seed)
        with warnings.catch_warnings():
            # Positivity and convergence warnings are results here, not failures.
            warnings.simplefilter("ignore")
            if (name, trial) in done:
                row = {}
                if (name, trial) in stale:
                    row.update(same_ipcw(args.csv, name, trial)
                               or ipcw_columns(sim, hidden, args, args.seed + trial))
                if (name, trial) in unfilled:
                    row.update(robust_columns(sim, hidden))
                refreshed += 1
            else:
                row = one_trial(sim, hidden, name in BAYES_SCENARIOS, args,
                                args.seed + trial, state)
                ran += 1
        save(args.csv, (name, trial), row)
        print(f"{name} trial {trial:3d}: " + ", ".join(
            f"{k} {row[k]:+.3f}" for k in METHODS if k in row)
            + f" [{time.perf_counter() - start:.0f} s]", flush=True)
    elapsed = time.perf_counter() - start
    note = ("Report rebuilt from the CSV." if args.report_only else
            f"Last run: {ran} new trial(s) and the stale or missing IPCW columns of "
            f"{refreshed} finished one(s) computed in {elapsed / 60:.1f} min, load average "
            f"{load0:.1f} at start and {os.getloadavg()[0]:.1f} at the end, nice "
            f"{os.nice(0)}, "
            f"{platform.processor() or platform.machine()}, Python {sys.version.split()[0]}"
            + ("; stopped by --budget-min: rerun the same command to continue."
               if stopped else "."))
    if args.csv.exists():
        report(args.csv, truth, args, note)
    print(note)


if __name__ == "__main__":
    main()
