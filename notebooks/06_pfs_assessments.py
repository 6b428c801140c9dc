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
# # 06 PFS at scheduled assessments: when is progression, and against which scan?
#
# Progression is not seen when it happens but at the next tumour assessment, and whether
# a scan shows progression depends on the scan it is compared with. Both move PFS:
#
# 1. `simulate_assessments`: a CT041-like trial in which tumour burden grows during the
#    CAR-T manufacturing wait, responds to therapy, and is assessed every 7 +- 1 weeks
#    with a RECIST-like rule, against the enrolment scan (randomized trials) and against
#    the pre-infusion scan (single-arm trials);
# 2. `compare_pfs_dating`: the same patients' PFS fitted with progression dated at the
#    visit (the usual practice), at the interval's midpoint, interval-censored, and at the
#    true (latent) time;
# 3. the assessment posterior predictive check (`assessment_ppc`): is the fit consistent
#    with the events counted per visit window?
# 4. one figure: the median PFS of each analysis against the true-time fit.
#
# **The data are simulated**: the simulator knows every patient's true progression time,
# which no real trial does. Times are in months from randomization.

# %%
# %matplotlib inline
import numpy as np
import pandas as pd
from budget import BUDGET
from matplotlib.figure import Figure

from pexsurv.diagnostics import assessment_ppc
from pexsurv.models import median_survival
from pexsurv.simulate import simulate_assessments
from pexsurv.simulate.assessments import WEEK
from pexsurv.workflows import compare_pfs_dating
from pexsurv.workflows.report import summarise
from pexsurv.workflows.rounding import format_interval, format_to_mcse

pd.set_option("display.width", 140)

# %% [markdown]
# ## 1. Simulate a trial with scheduled assessments
#
# 156 patients randomized 2:1, accrual over 24 months, data cut at 30 months; 10% of the
# visits are missed. `sim.data` holds one row per patient and reference scan: the same
# patients, two ways of calling progression. The patient (20 mm at enrolment,
# 40 mm at infusion, 30 mm at the first visit) has progressed against the enrolment scan
# and responded against the infusion scan.

# %%
sim = simulate_assessments(seed=1)
counts = (sim.data.groupby(["baseline", "arm"])["event_type"].value_counts()
          .unstack(fill_value=0))
counts

# %% [markdown]
# Each recorded progression lies in an interval: after the last assessment without it,
# at or before the first with it. Its width is the visit spacing (about 7 weeks, longer
# after a missed visit):

# %%
prog = sim.data[sim.data["event_type"] == "progression"]
width = prog["progression_visit"] - prog["pfs_lower"]
print(f"{len(prog)} progressions; interval width median {width.median():.2f} months "
      f"(IQR {width.quantile(0.25):.2f} to {width.quantile(0.75):.2f})")
inside = ((prog["pfs_lower"] < prog["progression_true"])
          & (prog["progression_true"] <= prog["progression_visit"])).all()
print("every true progression time inside its recorded interval:", bool(inside))

# %% [markdown]
# ## 2. Dating and reference scan: the comparison
#
# `compare_pfs_dating` fits the proportional-hazards PEM (default priors, cut points on
# the 7-week schedule) to every baseline x dating. Cut points finer than the visits make
# the interval-censored fit hard to sample (the likelihood cannot place an event within
# its interval), so they sit on the schedule. Exactly dated data share one compiled
# model, the interval-censored ones another.
#
# `out.table` holds the numbers. Shown below: the posterior median HR and median PFS per
# arm with their 95% intervals, and each row's shift from the true-time fit of the same
# patients and reference scan (HR as a ratio, medians as a difference in months; the
# shift's MCSE combines the two fits' MCSEs, which are independent). Every number has 2
# decimals and never more than its Monte Carlo error supports.

# %%
cuts = [1.61, 3.22, 4.83, 6.44]  # about every 7 weeks, months
out = compare_pfs_dating(sim, cuts, seed=1)
arms = sim.params["arm_labels"]


def summaries(label: str) -> dict[str, tuple[dict, dict]]:
    """Posterior HR and median PFS per arm of one fit: (values, MCSEs) of each."""
    result = out.results[label]
    medians = median_survival(result)
    return {"HR": summarise("x", result.posterior["hr"].values),
            **{arm: summarise("x", medians.isel(arm=code).values)
               for code, arm in enumerate(result.data.arms)}}


def shift(row: dict, true: dict, ratio: bool) -> str:
    """Shift of a posterior median from the true-time fit's, with its MCSE."""
    (value, mcse), (ref, ref_mcse) = ((s[0]["x"], s[1]["x"]) for s in (row, true))
    if ratio:  # delta method for the ratio of two independent estimates
        return format_to_mcse(value / ref, value / ref * np.hypot(mcse / value, ref_mcse / ref),
                              max_decimals=2)
    text = format_to_mcse(value - ref, np.hypot(mcse, ref_mcse), max_decimals=2)
    return text if text.startswith("-") else f"+{text}"


fitted = {label: summaries(label) for label in out.table.index}
shown = {}
for label, row in out.table.iterrows():
    this = fitted[label]
    true = fitted[label.rsplit(", ", 1)[0] + ", true"]  # same scan and clock, true times
    is_true = row["dating"] == "true"
    entry = {"n": row["n"], "events": row["events"]}
    for key, name in [("HR", "HR"), *((a, f"median PFS {a}, months") for a in arms)]:
        values, mcse = this[key]
        entry[f"{name} (95% interval)"] = format_interval(list(values.values()),
                                                          list(mcse.values()), max_decimals=2)
        entry[f"{name} vs true"] = ("reference" if is_true else
                                    shift(this[key], true[key], ratio=key == "HR"))
    entry["converged"] = row["converged"]
    shown[label] = entry
pd.DataFrame.from_dict(shown, orient="index")

# %% [markdown]
# What the table shows on this trial (seed 1), and what the 200-trial study in
# `validation/pfs_assessments.md` confirms: dating progression at the visit makes every
# progression later by up to a visit interval, so both arms' medians come out about a
# month too long (+1.09 CAR-T, +1.15 control against the enrolment scan); the midpoint
# shifts them less (+0.13, +0.28) and the interval-censored fit least (+0.03, +0.06).
# On this trial the visit dating also moved the HR (0.46 against 0.34 on the true
# times); over many trials it moves little (the README's "PFS at scheduled assessments").
# The reference scan changes the estimand itself: against the pre-infusion scan, growth
# during the wait is not progression, the CAR-T median is longer (2.62 against 2.21
# months on the true times) and the HR smaller (0.27 against 0.34).
#
# ## 3. The assessment posterior predictive check
#
# The Kaplan-Meier check (notebook 03) refuses interval-censored data, whose times are
# visit dates. `assessment_ppc` instead assesses replicate trials drawn from the fit at
# the protocol schedule (visits every 7 weeks, each +-1 week) and counts their
# progressions per visit window and arm against the observed ones.

# %%
visits = np.arange(1, 30) * 7 * WEEK  # the schedule, past the longest follow-up
fit_ic = out.results["enrolment scan, from randomization, interval"]
check = assessment_ppc(fit_ic, visits, jitter=WEEK, n_draws=BUDGET.ppc_draws, seed=1)
print(check.text)
# precision: replicate means of counts over BUDGET.ppc_draws >= 100 replicates; a window's
# count varies by at most about 6 events, so its MCSE is at most about 0.6: 2 decimals.
check.table.head(8).round(2)  # precision: see above

# %% [markdown]
# Observed and replicated progressions per visit window, one panel per arm. In late
# windows most replicates count zero, so the replicate mean can lie above its upper
# quantile: the intervals are drawn as segments, not error bars around the mean.

# %%
fig = check.plot()
fig.suptitle("Assessment posterior predictive check, interval-censored fit (enrolment scan)")
fig

# %% [markdown]
# ## 4. The medians against the truth
#
# Posterior median PFS with its 95% interval per arm, dating and reference scan; the
# true-time fit of the same patients is the row labelled "true".

# %%
fig = Figure(figsize=(9, 4), layout="constrained")
axes = fig.subplots(1, 2, sharey=True)
datings = ["true", "visit", "midpoint", "interval"]
for ax, arm in zip(axes, arms):
    for k, (baseline, colour) in enumerate([("enrolment", "tab:blue"),
                                            ("infusion", "tab:orange")]):
        rows = out.table[out.table["baseline"] == baseline].set_index("dating").loc[datings]
        y = np.arange(len(datings)) + (k - 0.5) * 0.2
        med = rows[f"median_{arm}"]
        err = [med - rows[f"median_{arm}_lower"], rows[f"median_{arm}_upper"] - med]
        ax.errorbar(med, y, xerr=err, fmt="o", color=colour, capsize=3,
                    label=f"{baseline} scan")
        ax.axvline(med["true"], color=colour, linestyle=":", linewidth=1)
    ax.set(title=f"{arm} arm", xlabel="posterior median PFS (months)")
axes[0].set_yticks(np.arange(len(datings)), datings)
axes[0].set_ylabel("progression dated at")
axes[0].legend(loc="lower right", fontsize="small")
fig.suptitle("Median PFS by dating and reference scan (dotted: the true-time fit)")
fig
