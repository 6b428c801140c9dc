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
# # 01 Quickstart: from a data file to a posterior hazard-ratio report
#
# This notebook takes one trial from data to report with pexsurv's public API:
#
# 1. load the packaged CT041-like trial, and the same patients from a CSV file laid out the
#    way a sponsor would send it (other column names, ADaM censoring flag);
# 2. choose the cut points of the piecewise-exponential baseline hazard;
# 3. fit the proportional-hazards piecewise-exponential model (PEM);
# 4. read the hazard-ratio report: its tables and its figures.
#
# **The data are synthetic.** `pexsurv.datasets.ct041_like` is one simulated trial
# calibrated to the published results of CT041-ST-01 (CAR-T versus physician's choice in
# advanced gastric cancer, 104 vs 52 patients randomized 2:1); no patient-level trial data
# were used. Times are in months from randomization.
#
# Everything here runs at the package's defaults; the heavier notebooks 02 and 03 take
# their Monte Carlo budget from `budget.py` beside them (reduced when `PEXSURV_FAST=1`, as
# in CI).

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pexsurv import TrialData, TrialDataError, datasets, equal_events, exposure_table, fixed_width
from pexsurv.fitting import fit
from pexsurv.km import kaplan_meier
from pexsurv.models import PiecewiseExponential
from pexsurv.workflows import hazard_ratio_report

pd.set_option("display.width", 140)

# %% [markdown]
# ## 1. Load a trial
#
# ### The packaged trial
#
# `datasets.load_ct041_like()` is the trial as a plain DataFrame, one row per randomized
# patient; `datasets.ct041_like("pfs")` the same patients already validated as
# `TrialData` for progression-free survival (the trial's primary endpoint).

# %%
raw = datasets.load_ct041_like()
raw.head()

# %%
pfs = datasets.ct041_like("pfs")
pfs.summary().round(2)  # precision: data (counts, exposure, Kaplan-Meier medians)

# %% [markdown]
# ### A user's CSV file
#
# Your own data rarely use pexsurv's column names. Here we write the same patients as a
# sponsor might (CDISC ADaM-style names, `CNSR` = 1 for a censored time, arm labels as
# planned) to a temporary folder, and read them back with a column mapping.
# `TrialData.from_csv` takes the same keywords as `from_dataframe`: `time`, `event` or
# `censored`, `arm` and `reference` (the control arm), optionally `id`,
# `treatment_start`, `switch_time`, `censor_time`, strata and covariates.

# %%
workdir = Path(tempfile.mkdtemp(prefix="pexsurv-quickstart-"))
adtte = pd.DataFrame({
    "USUBJID": [f"CT041-{i:03d}" for i in raw["id"]],
    "TRT01P": raw["arm"].map({"car-t": "Satri-cel", "control": "Physician's choice"}),
    "AVAL": raw["pfs_time"],                 # months from randomization
    "CNSR": 1 - raw["pfs_event"],            # ADaM: 1 = censored, 0 = event
    "TRTSTM": raw["treatment_start"],        # infusion time, empty = never infused
})
csv_path = workdir / "adtte_pfs.csv"
adtte.to_csv(csv_path, index=False)
print(csv_path.read_text().splitlines()[:3])

user = TrialData.from_csv(csv_path, time="AVAL", censored="CNSR", arm="TRT01P",
                          reference="Physician's choice", id="USUBJID",
                          treatment_start="TRTSTM")
user.summary().round(2)  # precision: data, as above

# %% [markdown]
# The CSV round trip gives the same patients, events and arms as the packaged data (the
# arm labels are the file's own), and the CNSR flag was inverted, which `notes` records.
# The times agree to the last bit or two only: pandas' default CSV number parser is fast
# rather than exact. For bit-for-bit reproducible fits from a CSV file, read it with
# `pd.read_csv(path, float_precision="round_trip")` and pass the frame to
# `TrialData.from_dataframe`, as `datasets.load_ct041_like` does.

# %%
print("notes:", user.notes)
same_patients = ((user.event == pfs.event).all() and (user.arm == pfs.arm).all()
                 and user.arms == ("Physician's choice", "Satri-cel"))
max_diff = float(np.abs(user.time - pfs.time).max())
print("same patients, events and arms:", bool(same_patients))
print(f"largest time difference: {max_diff:.1g} months")
assert same_patients and max_diff < 1e-12

exact = TrialData.from_dataframe(pd.read_csv(csv_path, float_precision="round_trip"),
                                 time="AVAL", censored="CNSR", arm="TRT01P",
                                 reference="Physician's choice", id="USUBJID")
print("round_trip parser, times equal bit for bit:", bool((exact.time == pfs.time).all()))

# %% [markdown]
# Bad input is refused with the column, the offending ids and the fix, never silently
# repaired. A typo in a column name and a negative time:

# %%
for broken, columns in [
    (adtte, {"time": "AVALX"}),
    (adtte.assign(AVAL=adtte["AVAL"].where(adtte.index != 4, -1.0)), {}),
]:
    keywords = {"time": "AVAL", "censored": "CNSR", "arm": "TRT01P",
                "reference": "Physician's choice", "id": "USUBJID", **columns}
    try:
        TrialData.from_dataframe(broken, **keywords)
    except TrialDataError as err:
        print(f"TrialDataError: {err}\n")

# %% [markdown]
# ## 2. Look at the data: Kaplan-Meier curves

# %%
def km_figure(data: TrialData, title: str, cuts=()) -> Figure:
    """Kaplan-Meier curve per arm, with the cut points as vertical lines."""
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    for code, arm in enumerate(data.arms):
        in_arm = data.arm == code
        t, s = kaplan_meier(data.time[in_arm], data.event[in_arm])
        ax.step([0.0, *t], [1.0, *s], where="post", label=f"{arm} (n = {in_arm.sum()})")
    for j, c in enumerate(cuts):
        ax.axvline(c, color="grey", linestyle=":", label="cut points" if j == 0 else None)
    ax.set(title=title, xlabel="months since randomization",
           ylabel="probability free of the event", ylim=(0, 1.02))
    ax.legend()
    return fig


km_figure(pfs, "Progression-free survival, ITT (synthetic CT041-like trial)")

# %% [markdown]
# ## 3. Choose the cut points
#
# The PEM has one baseline hazard per interval. Two common rules:
#
# * `equal_events(data, k)`: `k` intervals holding about equally many events (SAS PROC
#   PHREG `BAYES PIECEWISE` places its cuts this way); every interval is informed;
# * `fixed_width(width, max_time)`: clinically readable intervals (e.g. every 3 months),
#   but late intervals may hold few events.
#
# With a proportional-hazards effect the HR is shared by all intervals, so the cut points
# only need to let the baseline follow the hazard's shape; four to eight intervals are
# usually enough. Notebook 03 compares cut-point sets by leave-one-out cross-validation.
# `exposure_table` shows the sufficient statistics the model is fitted on: events and
# person-time per interval and arm.

# %%
cuts = equal_events(pfs, k=4)
print("equal events, k = 4:", cuts.round(2))  # precision: data (event-time quantiles)
print("fixed width, 3 months:", fixed_width(3.0, float(pfs.time.max())))
exposure_table(pfs, cuts).to_dataframe().round(1)  # precision: data (events, exposure)

# %%
km_figure(pfs, "PFS with the 4 equal-event intervals", cuts)

# %% [markdown]
# ## 4. Fit the proportional-hazards PEM
#
# `fit` samples the posterior (nutpie, 4 chains) and returns a `FitResult` that carries
# its own convergence verdict (R-hat, effective sample size, divergences). The seed makes
# the draws reproducible bit for bit.

# %%
result = fit(PiecewiseExponential(cuts=cuts), pfs, seed=1, progress=False)
print(result)
result.summary()

# %% [markdown]
# ## 5. The hazard-ratio report
#
# `hazard_ratio_report` reads finished fits and never refits them. Every posterior number
# is rounded to the decimal its Monte Carlo standard error supports; quantities that rest
# on the model beyond an arm's follow-up are flagged as extrapolated. Beside the posterior
# it prints the Cox HR and the log-rank p-value of the same data as frequentist
# cross-checks.

# %%
report = hazard_ratio_report({"PFS ITT": result}, endpoint="PFS", thresholds=(1.0, 0.5),
                             milestones=(3, 6), time_unit="months", seed=1)
for title, table in report.sections():
    print(f"== {title}")
    print(table.T.to_string(), "\n")

# %% [markdown]
# The rounded numbers are in `report.table`, the unrounded ones in `report.raw` and their
# Monte Carlo standard errors in `report.mcse`:

# %%
cols = ["hr", "hr_lower", "hr_upper", "p_hr_lt_1", "p_hr_lt_0.5", "median_control",
        "median_experimental", "rmst_diff"]
pd.DataFrame({"reported (rounded)": report.table.loc["PFS ITT", cols].astype(object),
              "Monte Carlo SE": report.mcse.loc["PFS ITT", cols].map("{:.2g}".format),
              "unrounded": report.raw.loc["PFS ITT", cols].astype(float)})

# %% [markdown]
# ### The report's figures
#
# Each figure of the report is a method returning a matplotlib `Figure` (title, axes
# labelled with their units, legend): shown by a notebook, saved by a script with
# `fig.savefig(path)`. With several analyses in one report, name one:
# `report.plot_survival("PFS ITT")`. First the Kaplan-Meier curves with the posterior
# survival band and the numbers at risk:

# %%
report.plot_survival()

# %% [markdown]
# The posterior of the hazard ratio with the report's thresholds, and the hazard per
# interval and arm:

# %%
report.plot_hr_posterior()

# %%
report.plot_hazards()

# %% [markdown]
# `report.plot_forest()` sets the analyses of a report side by side, each posterior HR beside
# its Cox HR.
# `report.to_html(path)` writes all of it to one self-contained file (figures embedded, no
# links), with the posterior predictive Kaplan-Meier check and the diagnostics;
# `report.to_markdown()`, `to_csv()` and `to_json()` give the same tables for a study
# report.

# %%
html_path = report.to_html(workdir / "report.html")
print(html_path, f"{html_path.stat().st_size / 1e3:.0f} kB")

# %% [markdown]
# ## Where next
#
# * `02_ct041_reanalysis`: the trial's questions: ITT vs modified ITT vs the clock from
#   infusion, crossover adjustment, and why the naive as-treated comparison misleads.
# * `03_posterior_checks`: is the model good enough? Convergence, posterior predictive
#   checks, LOO across cut points and priors, prior sensitivity, and `pexsurv check` in a
#   pipeline. The report's checks above pass, but counting events per interval there
#   finds that this PFS model's proportional-hazards assumption fails in the first weeks,
#   while CAR-T patients wait for their cells: a single HR averages an effect that starts
#   after infusion.
# * The command line does the same from a TOML file: `pexsurv init`, `pexsurv fit`.
