# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 Posterior checks: is the model good enough to report?
#
# A posterior is only as good as the sampler that drew it and the model that defined it.
# This notebook runs pexsurv's post-fit checks on progression-free survival (PFS) of the
# synthetic CT041-like trial, where one of them finds a real problem:
#
# 1. convergence of the sampler;
# 2. posterior predictive Kaplan-Meier bands;
# 3. observed against expected events per interval and arm;
# 4. PSIS-LOO across cut-point sets, treatment-effect shapes and baseline priors;
# 5. prior sensitivity by power scaling;
# 6. `pexsurv check` as a gate in a pipeline (its exit code).
#
# Every check returns a `CheckResult`: a verdict (`passed`), the numbers behind it
# (`table`), a sentence (`text`) and a figure (`plot()`). None of them refits the model.

# %%
# %matplotlib inline
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from budget import BUDGET
from matplotlib.figure import Figure

from pexsurv import datasets, equal_events, fixed_width
from pexsurv.diagnostics import (
    compare,
    observed_vs_expected_events,
    posterior_predictive_survival,
    prior_sensitivity,
)
from pexsurv.fitting import fit
from pexsurv.models import PiecewiseExponential
from pexsurv.priors import GammaHazard, RandomWalk, hr_prior
from pexsurv.workflows import hazard_ratio_report
from pexsurv.workflows.report import posterior_interval_text

pd.set_option("display.width", 160)
print(BUDGET)
pfs = datasets.ct041_like("pfs")
cuts4, cuts8 = tuple(equal_events(pfs, k=4)), tuple(equal_events(pfs, k=8))
ph = fit(PiecewiseExponential(cuts=cuts4), pfs, seed=1, progress=False)
print(ph)

# %% [markdown]
# ## 1. Convergence
#
# Every MCMC fit carries its verdict against the thresholds of Vehtari et al. (2021):
# R-hat at most 1.01, bulk and tail effective sample size at least 400, no divergent
# transitions, no saturated tree depth, E-BFMI at least 0.3. An unconverged fit also warns
# when it is made, and the report and `pexsurv check` flag it.

# %%
conv = ph.convergence
print(conv.text)
# precision: diagnostics, not posterior summaries: R-hat to the 0.001 its threshold needs,
# effective sample sizes in whole draws, each MCSE to 2 significant digits.
conv.table.round({"r_hat": 3, "ess_bulk": 0, "ess_tail": 0, "mcse_mean": 4})  # precision: above

# %%
conv.plot()

# %% [markdown]
# ## 2. Posterior predictive Kaplan-Meier bands
#
# For each of `BUDGET.ppc_draws` posterior draws a replicate trial is simulated (same
# patients, censored as the real trial) and its Kaplan-Meier curve computed; the observed
# curve should lie inside the pointwise 95% band of the replicates.

# %%
ppc = posterior_predictive_survival(ph, n_draws=BUDGET.ppc_draws, seed=1)
print(ppc.text)
ppc.plot(time_unit="months")  # the data do not record their unit: the plot is told

# %% [markdown]
# ## 3. Observed against expected events
#
# The Kaplan-Meier band is a blunt instrument. Counting events per interval and arm is
# sharper, especially on intervals finer than the model's own (on its own intervals the
# baseline matches each interval's total nearly by construction). Here: the 4-interval
# proportional-hazards (PH) model checked on 8 intervals.

# %%
events_ph = observed_vs_expected_events(ph, cuts=cuts8, seed=1)
print(events_ph.text)
# precision: observed counts and exposure are data; the expected counts are posterior means
# over 4,000 draws, whose MCSE (at most about 0.05) supports more than the 1 decimal shown.
events_ph.table.round(1)  # precision: see above

# %%
events_ph.plot()

# %% [markdown]
# The check fails, and the table says where: in the first weeks the control arm has
# far fewer progressions than the PH model expects, the CAR-T arm more. The CAR-T arm is
# not yet *treated* then: its cells are being manufactured (about a month), so its hazard
# early on is that of an untreated patient, and the hazards are not proportional. A
# piecewise treatment effect (one HR per period, shrunk towards a common one) lets the
# effect start late:

# %%
piecewise = fit(PiecewiseExponential(cuts=cuts4, effect="piecewise"), pfs, seed=1,
                progress=False)
events_pw = observed_vs_expected_events(piecewise, cuts=cuts8, seed=1)
print(events_pw.text)
periods = dict(hazard_ratio_report({"PFS piecewise": piecewise}, checks=False).sections())
periods["HR per period (piecewise effect)"][["HR median", "95% ETI", "P(HR < 1)"]]

# %% [markdown]
# The HR per period (rounded to its Monte Carlo error) is close to 1 in the first period
# and far below it later: the single PH hazard ratio averages an effect that starts after
# infusion.
#
# ## 4. LOO across cut points, effect shapes and baseline priors
#
# PSIS-LOO estimates how well each model predicts a left-out patient (expected log
# predictive density, ELPD; higher is better). pexsurv computes a per-patient
# log-likelihood from the draws, so "leave one out" means one patient, not one cell of the
# aggregated data. Candidates:
#
# * PH models with 1 (exponential), 4 and 8 equal-event intervals and 3-month intervals;
# * the 4-interval piecewise effect of section 3;
# * 8 intervals with two structured baseline priors: a random walk of the log hazard
#   (neighbouring intervals alike) and SAS-style independent gamma hazards. Both sample
#   better at `target_accept=0.95` (at the default 0.8 they show divergences).

# %%
max_time = float(pfs.time.max())
candidates = {
    "PH, exponential": PiecewiseExponential(cuts=()),
    "PH, 8 intervals": PiecewiseExponential(cuts=cuts8),
    "PH, 3-month intervals": PiecewiseExponential(cuts=tuple(fixed_width(3.0, max_time))),
    "PH, 8 intervals, random-walk baseline": PiecewiseExponential(
        cuts=cuts8, priors={"log_hazard_base": RandomWalk()}),
    "PH, 8 intervals, gamma baseline": PiecewiseExponential(
        cuts=cuts8, priors={"log_hazard_base": GammaHazard()}),
}
structured = ("random-walk", "gamma")
models = {"PH, 4 intervals": ph, "piecewise effect, 4 intervals": piecewise}
for label, spec in candidates.items():
    target = 0.95 if any(s in label for s in structured) else None
    models[label] = fit(spec, pfs, seed=1, progress=False, target_accept=target)
print({label: r.convergence.passed for label, r in models.items()})

# %% [markdown]
# `compare` ranks the models by ELPD and counts, per model, the patients in each Pareto-k
# class of ArviZ: `k_good` (k up to `good_k`, 0.7 here), `k_bad` (up to 1) and `k_very_bad`
# (above 1). A patient whose k is too high has a left-out density PSIS cannot estimate
# reliably (ArviZ warns about them); `loo(result)` gives one model's own check.

# %% tags=["warning-expected"]
compared = compare(models)
loo_table = compared[["elpd", "se", "p", "elpd_diff", "dse", "weight"]].copy()
loo_table["Pareto k too high"] = compared["k_bad"] + compared["k_very_bad"]
# A difference within two standard errors of itself is noise.
loo_table["verdict"] = np.where(loo_table["elpd_diff"] < -2 * loo_table["dse"],
                                "worse than the best", "indistinguishable from the best")
loo_table.iloc[0, -1] = "best"
loo_table.round(1)  # precision: ELPD and its SE in nats, whose SE is ~10: 1 decimal is plenty

# %%
def loo_figure(table: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(table))[::-1]
    best = table["elpd"].iloc[0]
    ax.errorbar(table["elpd"] - best, y, xerr=table["dse"], fmt="o", color="C0",
                label="ELPD difference to the best model, +/- its SE")
    ax.axvline(0.0, color="black", linewidth=1, label="best model")
    ax.set_yticks(y, table.index)
    ax.set(title="PSIS-LOO: predictive accuracy of candidate PFS models",
           xlabel="ELPD difference (log predictive density, nats)", ylabel="model")
    ax.legend(fontsize="small", loc="upper left")
    return fig


loo_figure(loo_table)

# %% [markdown]
# Differences smaller than about two standard errors (`dse`) are noise, and most models
# here are within that of each other: the choice among reasonable cut-point sets and
# baseline priors hardly changes the predictions. The `verdict` column marks the models
# that are clearly worse; a fixed 3-month grid can be, because its late intervals hold few
# events and the patients in them become influential (their Pareto k is too high, so even
# their LOO estimate is uncertain). `weight` is the stacking weight of each model in the
# best predictive combination.
#
# ## 5. Prior sensitivity by power scaling
#
# Power scaling raises the prior (or the likelihood) to a power near 1 and measures how
# much the posterior moves, from the existing draws (Kallioinen et al., 2023). A prior
# sensitivity of 0.05 or more flags a prior that drives the estimate; with a likelihood
# sensitivity as well, a prior-data conflict.

# %%
default_prior = prior_sensitivity(ph)
print(default_prior.text)
default_prior.table

# %% [markdown]
# The default `Normal(0, 1)` prior on the log HR does not drive the estimate. A sceptic's
# prior, "the HR is 1, and 95% sure between 0.8 and 1.25", does:

# %%
sceptic = fit(PiecewiseExponential(cuts=cuts4,
                                   priors={"log_hr": hr_prior(1.0, interval=(0.8, 1.25))}),
              pfs, seed=1, progress=False)
sceptic_prior = prior_sensitivity(sceptic)
print(sceptic_prior.text)
hr = {label: posterior_interval_text(r.posterior["hr"].values)
      for label, r in {"default prior": ph, "sceptical prior": sceptic}.items()}
pd.Series(hr, name="posterior median HR (95% interval)").to_frame()

# %%
# ArviZ draws this figure through pyplot, so the notebook shows it without returning it.
fig = sceptic_prior.plot()
# Its legend lists the power-scaling exponents alone: say what they are.
fig.legends[0].set_title("power-scaling exponent (1: the fitted posterior)")

# %% [markdown]
# Such a prior is not wrong, but it must be reported as what it is: the posterior moves
# with it (and here the posterior predictive check fails too, as `pexsurv check` shows
# below), and a report should show the estimate under the priors its readers might hold.
#
# ## 6. `pexsurv check` in a pipeline
#
# Saved fits (`FitResult.save`) can be checked from the shell; the exit code is 0 when
# every check of every fit passes and 1 otherwise, so a pipeline can stop on it:
#
# ```bash
# pexsurv check results/ || { echo "checks failed: not reporting"; exit 1; }
# ```
#
# Here the same from Python with `subprocess`, first on a folder holding the default-prior
# fit, then with the sceptical-prior fit added.

# %%
pexsurv = str(Path(sys.executable).with_name("pexsurv"))  # the command of this environment
results = Path(tempfile.mkdtemp(prefix="pexsurv-checks-"))
ph.save(results / "pfs_ph.nc")


def run_check(folder: Path) -> int:
    proc = subprocess.run([pexsurv, "check", str(folder)], capture_output=True, text=True)
    print(proc.stdout)
    print(f"exit code: {proc.returncode}")
    return proc.returncode


assert run_check(results) == 0

# %%
sceptic.save(results / "pfs_sceptical_prior.nc")
code = run_check(results)
if code != 0:
    print("the pipeline stops here: a fit failed its checks, nothing is reported")
assert code == 1

# %% [markdown]
# The same verdicts are in `pexsurv.workflows.posterior_checks(result)` for one fit, and
# in the HTML report (`hazard_ratio_report(...).to_html(...)`), which opens with a red
# banner when any fit failed its convergence check.
