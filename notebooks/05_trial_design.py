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
# # 05 Trial design: operating characteristics of a Bayesian decision rule
#
# Before a trial runs, a Bayesian design is judged by its frequentist operating
# characteristics: how often the decision rule declares success when the treatment does
# nothing (type I error) and when it works (power), and how biased and how well
# calibrated the posterior is. `pexsurv.workflows.operating_characteristics` simulates
# trials with the package simulator, fits each with the analysis a real trial would get
# and applies the rule:
#
# 1. a two-arm design randomized 2:1, progression-free survival, decision rule
#    `P(HR < 1) > 0.975` (the Bayesian analogue of a one-sided 2.5% test);
# 2. three true effects: none (HR 1), HR 0.6 from randomization, and HR 0.6 that starts
#    only after a one-month manufacturing wait (CAR-T: patients who progress while they
#    wait are never infused);
# 3. the table with Monte Carlo standard errors, and a plot.
#
# The number of simulated trials comes from `budget.py` (5 per scenario with
# `PEXSURV_FAST=1`, as in CI, 100 otherwise): at 5 trials the Monte Carlo SE of a rate
# is up to 0.22, so CI proves that the notebook runs, not the numbers. Quote the full run.

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from budget import BUDGET
from matplotlib.figure import Figure

from pexsurv.workflows import OCDesign, operating_characteristics
from pexsurv.workflows.rounding import with_mcse

pd.set_option("display.width", 140)

# %% [markdown]
# ## 1. The design
#
# Constant hazards keep the truth known: progression 0.3 per month in the control arm,
# death before progression 0.02 per month, 156 patients randomized 2:1 over 12 months,
# analysed at 24 months. With treatment starting at randomization (a near-zero
# manufacturing time) the true PFS hazard ratio is exactly `hr_pfs`, which bias and
# coverage refer to (`true_hr`). The analysis is the proportional-hazards
# piecewise-exponential model with 3 equal-event intervals, placed once on a pilot trial
# so that every trial is fitted with one compiled model.

# %%
design = OCDesign(
    simulate={"n": 156, "allocation": (2, 1), "progression": ((), (0.3,)),
              "death_pre_progression": ((), (0.02,)),
              "death_post_progression": ((), (0.3,)),
              "manufacturing_mean": 0.01, "manufacturing_sd": 0.005,
              "accrual": 12.0, "cutoff": 24.0},
    endpoint="pfs", population="itt",
    model={"type": "pem", "cuts": {"rule": "equal_events", "k": 3}}, seed=2026)

scenarios = {
    "no effect (HR 1)": {"true_hr": 1.0},
    "HR 0.6": {"hr_pfs": 0.6, "true_hr": 0.6},
    # The effect starts at infusion, ~1 month after randomization: the ITT hazard ratio
    # is no longer one number, so no true_hr is given and only P(success) is reported.
    "HR 0.6 after a 1-month wait": {"hr_pfs": 0.6, "manufacturing_mean": 1.0,
                                    "manufacturing_sd": 0.3},
}
rule = "P(HR < 1) > 0.975"
print(f"{BUDGET.trials} simulated trials per scenario")

# %% [markdown]
# ## 2. Simulate and fit
#
# Trial *i* uses the same simulation seed in every scenario (common random numbers), so
# differences between scenarios are not noise between different patients. Results go to
# a store like a sweep's: re-running resumes, and `executor="processes"` or `"dask"`
# spreads the trials over cores or a cluster.

# %%
store = Path(tempfile.mkdtemp(prefix="pexsurv-oc-")) / "oc_results"
oc = operating_characteristics(design, scenarios, BUDGET.trials, rule, store=store,
                               executor="serial", progress=False)
print(f"fitted {oc.fitted} trials with {oc.compiles} compilation(s); problems: {oc.problems}")

# %% [markdown]
# ## 3. Operating characteristics
#
# `p_success` is the type I error under no effect and the power otherwise; the bias is
# that of the posterior median log HR; the coverage that of the true HR by the 95%
# interval. Each is shown as "value (MCSE)", rounded to the first significant digit of
# its Monte Carlo standard error (binomial for rates): at `BUDGET.trials` trials per
# scenario that is all the digits the simulation supports. `converged` counts the trials
# whose fit passed its convergence check.

# %%
cols = ["trials", "true_hr", "measure", "p_success", "p_success_mcse", "bias_log_hr",
        "bias_log_hr_mcse", "coverage", "coverage_mcse"]
oc_table = with_mcse(oc.table[cols])
oc_table["converged"] = oc.trials.groupby("scenario")["converged"].sum()
oc_table

# %%
fig = Figure(figsize=(7, 3.5), layout="constrained")
ax = fig.subplots()
y = np.arange(len(oc.table))
ax.errorbar(oc.table["p_success"], y, xerr=1.96 * oc.table["p_success_mcse"], fmt="o",
            capsize=4, label="P(success) +- 1.96 MCSE")
ax.axvline(0.025, color="firebrick", linestyle="--", label="one-sided 2.5% (type I target)")
ax.axvline(0.8, color="grey", linestyle=":", label="80% power")
ax.set_yticks(y, oc.table.index)
ax.set(xlim=(-0.05, 1.05), xlabel=f"probability of declaring success ({rule})",
       ylabel="true effect", title=f"Operating characteristics, {BUDGET.trials} trials per scenario")
ax.legend(loc="lower right", fontsize="small")
fig

# %% [markdown]
# The full run (100 trials per scenario, `PEXSURV_FAST` unset: 300 fits with one
# compilation, 77 s on 2 shared cores) measured, with Monte Carlo SEs in brackets: type I
# error 0.01 (0.01), power at HR 0.6 0.81 (0.04), and 0.56 (0.05) when the effect starts
# after the 1-month wait; bias of the log HR -0.02 (0.02) under no effect and 0.00 (0.02)
# at HR 0.6, coverage of the 95% interval 0.96 (0.02) in both. The type I error is
# compatible with the nominal 2.5% (with a weakly informative prior the posterior
# probability behaves like a one-sided p-value) but 100 trials cannot pin it down: a
# design report needs thousands (`executor="processes"` or a Dask cluster). The wait
# costs a quarter of the power: during it the experimental arm has the control arm's
# hazard, so the ITT hazard ratio is diluted towards 1, and the sample size should be
# planned for the diluted effect. The per-trial results are in `oc.trials`:

# %%
# precision: per-trial records keep no MCSE; each converged fit has ESS >= 400 (its
# convergence gate), so a probability's MCSE is at most 0.5 / sqrt(400) = 0.025 and an HR
# summary's about 0.01 to 0.04: 3 decimals by the posterior rule (second significant digit).
oc.trials.head().round(3)  # precision: see above

# %% [markdown]
# The same study from a file: `pexsurv oc oc.toml` (the file format is in the docstring of
# `pexsurv.workflows.oc.run_oc_file`).
