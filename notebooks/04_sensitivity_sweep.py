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
# # 04 Sensitivity sweep: does the conclusion survive other reasonable choices?
#
# A Bayesian analysis rests on choices a reviewer may question: the prior on the log
# hazard ratio, the cut points of the baseline hazard, the crossover model's
# `treat_modifier`, the population. `pexsurv.workflows.sweep` fits one analysis (the
# configuration `pexsurv fit` reads) under every combination of alternatives and asks
# whether the conclusion holds in all of them:
#
# 1. a grid of log-HR prior scale x cut-point set, fitted on a Dask cluster;
# 2. the table, a forest plot of every scenario and a tornado plot of one setting at a time;
# 3. the robustness verdict of the decision rule `P(HR < 1) > 0.95`;
# 4. the same from the command line (`pexsurv sweep SWEEP.toml`), and resuming;
# 5. (section 6) `treat_modifier` of the RPSFT crossover adjustment.
#
# **The data are synthetic**: the packaged CT041-like trial (notebook 01), overall survival
# in the ITT population, months from randomization.
#
# Section 6 sweeps the crossover model's `treat_modifier` on a Bayesian RPSFT analysis.

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import pandas as pd
from budget import BUDGET
from distributed import Client, LocalCluster

from pexsurv.workflows import AnalysisConfig
from pexsurv.workflows.config import write_example
from pexsurv.workflows.sweep import load_sweep, sweep

pd.set_option("display.width", 140)

# %% [markdown]
# ## 1. The base analysis and the grid
#
# `write_example` writes the example configuration of `pexsurv init` and the CSV it
# reads. We restrict it to the ITT population and give it a reference prior: log HR
# Normal(0, 1) (HR between 0.14 and 7 a priori with 95% probability).
#
# The grid maps a setting (a dotted path into the configuration) to its alternatives, the
# first value being the reference:
#
# * `priors.log_hr.sigma`: the reference sd 1, a sceptical 0.2 (95% prior mass on HR in
#   0.68 to 1.48) and a very sceptical 0.1 (0.82 to 1.22);
# * `model.cuts`: four equal-event intervals (the reference), or fixed cuts at 2, 4 and
#   8 months.

# %%
workdir = Path(tempfile.mkdtemp(prefix="pexsurv-sweep-"))
toml_path, csv_path = write_example(workdir)
raw = AnalysisConfig.from_toml(toml_path).to_dict()
raw.update(populations=["itt"], model={"type": "pem", "cuts": {"rule": "equal_events", "k": 4}},
           priors={"log_hr": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}})
base = AnalysisConfig.from_dict(raw, base=workdir)
print("endpoint:", base.endpoint, "| data:", csv_path.name)

grid = {"priors.log_hr.sigma": [1.0, 0.2, 0.1],
        "model.cuts": {"equal events, k = 4": {"model.cuts": {"rule": "equal_events", "k": 4}},
                       "2, 4, 8 months": {"model.cuts": [2.0, 4.0, 8.0]}}}

# %% [markdown]
# ## 2. Run it on a Dask cluster
#
# Every scenario's configuration is validated against the data before anything is
# sampled. Scenarios are grouped by the structure of the compiled model: the prior scale
# is a `pm.Data` value, so the three priors of one cut-point set share one compilation
# per worker. Here the cluster is a local one (two worker processes, one thread each);
# `scheduler="tcp://host:8786"` sends the same sweep to any Dask cluster. Each scenario's
# sampler seed is derived from a hash of its settings, so the results are the same bit
# for bit whatever the executor, worker or order.

# %%
store = workdir / "sweep_results"
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                  dashboard_address=None) as cluster, Client(cluster) as client:
    result = sweep(base, grid, store=store, thresholds=(1.0, 0.8), executor="dask",
                   client=client, progress=False)
print(f"complete: {result.complete} | fitted: {result.fitted} | compilations: "
      f"{result.compiles} | problems: {result.problems}")

# %% [markdown]
# ## 3. The results
#
# `result.dataset` is an xarray Dataset with one dimension per setting; `result.table()`
# the same as one row per scenario: posterior median HR, its 95% interval, P(HR < t) for
# each threshold and the convergence verdict.
#
# A sweep keeps summaries, not draws, and no Monte Carlo standard errors yet, so the
# table cannot be rounded number by number like a report. It is rounded to what every
# converged scenario supports: 4,000 draws with an effective sample size of at least 400
# (the convergence gate, `min_ess`) put the MCSE of a probability below
# 0.5 / sqrt(400) = 0.025 and that of these HR summaries at 0.01 to 0.03, which allow 3
# decimals by the report's rule (the second significant digit of the MCSE). A scenario
# that did not converge is not supported at all: its `status` says so.

# %%
# The ESS >= 400 bound above (converged rows) for the summaries; R-hat to 0.001, ESS in draws.
decimals = {**dict.fromkeys(["hr_median", "hr_lower", "hr_upper", "p_hr_lt_1", "p_hr_lt_0.8"], 3),
            "max_r_hat": 3, "min_ess": 0}
result.table().round(decimals)  # precision: see above

# %%
result.plot_forest()

# %% [markdown]
# The tornado plot varies one setting at a time from the reference scenario: how far each
# alternative moves the HR. The prior scale moves it most: the sceptical priors pull the
# posterior median HR from 0.69 towards 1 (0.82 with sd 0.2, 0.93 with sd 0.1: a prior
# that says large effects are implausible outweighs 156 patients), whereas the cut points
# barely matter (with a proportional-hazards effect
# the baseline partition only needs to follow the hazard's shape).

# %%
result.plot_tornado()

# %% [markdown]
# ## 4. Is the conclusion robust?
#
# `robustness(rule)` checks the decision rule in every scenario: it holds only if it is
# true in all of them *and* every scenario converged (an unconverged fit is not trusted);
# `flips` lists the scenarios that disagree with the reference, `by_setting` the share
# where it holds per value of each setting.

# %%
verdict = result.robustness("P(HR < 1) > 0.95")
print(verdict)
verdict.by_setting.round(2)  # precision: shares of scenarios (counts), not Monte Carlo

# %% [markdown]
# On this trial the rule holds under the reference prior with both cut-point sets
# (P(HR < 1) 0.97) and fails under both sceptical priors (0.91 with sd 0.2, 0.81 with
# sd 0.1): the cut points never change the conclusion, the prior does. Read this as a
# statement about the priors: a reviewer who holds a sceptical prior of that strength is
# not convinced by this trial alone, and a report should say so rather than quote the
# reference analysis only.
#
# ## 5. The command line, and resuming
#
# The same sweep as a file, for `pexsurv sweep SWEEP.toml` (a progress bar and the final
# table; `--executor dask --scheduler tcp://host:8786` for a cluster):
#
# ```toml
# base = "analysis.toml"
# store = "sweep_results"
# executor = "processes"
# thresholds = [1.0, 0.8]
# rule = "P(HR < 1) > 0.95"
#
# [grid]
# "priors.log_hr.sigma" = [1.0, 0.2, 0.1]
# "model.cuts" = [{rule = "equal_events", k = 4}, [2.0, 4.0, 8.0]]
# ```
#
# Each finished scenario is its own file in the store, written atomically, so a sweep
# that is killed loses only the scenarios in flight; running it again (the same call, or
# the same command) skips the finished ones. `load_sweep` reads a store without fitting
# anything, even while the sweep runs elsewhere. Here, re-running fits nothing:

# %%
again = sweep(base, grid, store=store, thresholds=(1.0, 0.8), progress=False)
print("scenario files:", len(list(store.glob("scenarios/*.json"))),
      "| fitted on resume:", again.fitted)
print("same HRs from the store:",
      load_sweep(store).table()["hr_median"].equals(result.table()["hr_median"]))

# %% [markdown]
# ## 6. `treat_modifier`: how much of the effect do switchers get?
#
# Half of the control patients who progressed crossed over to CAR-T, which dilutes the ITT
# overall-survival HR. The RPSFT adjustment (notebook 02) assumes the switchers get the
# effect `exp(-psi)` scaled by `treat_modifier` (1: the full effect, 0.5: half of it, on
# the log scale). A sweep of it answers "does the adjusted conclusion rest on that
# assumption?". Each Bayesian RPSFT fit samples `psi` and fits one PEM per psi draw
# (`n_psi_draws`, from `budget.py`); the modifier changes the stage-2 data, not the
# compiled model, so both scenarios share one compilation. The psi range is widened from
# the default (-2, 2) because with `treat_modifier = 0.5` the psi posterior reaches its
# edge.

# %%
raw_rpsft = {**raw, "model": {"type": "rpsft", "cuts": {"rule": "equal_events", "k": 4},
                              "n_psi_draws": BUDGET.psi_draws, "psi_range": [-3.0, 3.0]}}
rpsft = sweep(AnalysisConfig.from_dict(raw_rpsft, base=workdir),
              {"model.treat_modifier": [1.0, 0.5]}, store=workdir / "rpsft_sweep",
              thresholds=(1.0, 0.8), progress=False)
print(f"compilations: {rpsft.compiles} | problems: {rpsft.problems}")
print(rpsft.robustness("P(HR < 1) > 0.95"))
# precision: 2 decimals. The sweep keeps no MCSE; measured, 20 psi draws are off by up to
# 0.02 from 200 (P(HR < 1) 0.95 against 0.97, upper bound 1.05 against 1.04): an error,
# not a standard error, in the second decimal, so no third one.
rpsft_table = rpsft.table()[["hr_median", "hr_lower", "hr_upper", "p_hr_lt_1", "status"]]
rpsft_table.round(2)  # precision: see above

# %% [markdown]
# Crossover adjustment moves the HR away from 1 compared with the ITT analysis above
# (0.69): the switchers' benefit is removed from the control arm. At CI's reduced budget
# (20 psi draws) the adjusted HR was 0.50 [0.24, 1.05] with either modifier and
# P(HR < 1) = 0.95 in both, exactly at the threshold, so the rule "> 0.95" fails
# everywhere: the interval is wide because the uncertainty of psi is carried into it. A
# conclusion that close to the line is not robust to the Monte Carlo budget either. At the
# full budget (200 psi draws; the same sweep run as a script, 149 s on 2 shared cores) the
# HR was 0.50 [0.24, 1.04] with either modifier and P(HR < 1) = 0.97 in both: the rule
# holds in every scenario, and the modifier barely matters on this trial.
