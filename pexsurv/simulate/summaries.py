"""Summaries of a simulated trial as a trial report would give them: counts, Kaplan-Meier
medians, Cox hazard ratios and, when a g-estimator is passed in, RPSFT crossover-adjusted
results. Used to calibrate scenarios against published results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd

from pexsurv.cox import cox_hr
from pexsurv.data import TrialData
from pexsurv.km import km_median
from pexsurv.simulate.engine import SimulatedTrial

__all__ = ["hazard_ratio", "os_trial_data", "summarize_trial"]


def hazard_ratio(data: pd.DataFrame, endpoint: Literal["os", "pfs"], *,
                 experimental: str, treated_only: bool = False) -> tuple[float, float]:
    """Cox hazard ratio, experimental vs control (:func:`pexsurv.cox.cox_hr`, Efron ties).

    Parameters
    ----------
    data : pandas.DataFrame
        :attr:`SimulatedTrial.data`, or several of them stacked (replicates are
        exchangeable, so the pooled fit estimates the scenario's large-sample HR).
    endpoint : {"os", "pfs"}
    experimental : str
        Label of the experimental arm.
    treated_only : bool
        Modified ITT: drop patients who never started their assigned therapy.

    Returns
    -------
    hr, se_log_hr : float

    Examples
    --------
    >>> from pexsurv.simulate import simulate_ct041_like
    >>> hr, se = hazard_ratio(simulate_ct041_like().data, "pfs", experimental="car-t")
    >>> bool(hr < 1.0 and se > 0.0)
    True
    """
    keep = data["treatment_start"].notna() if treated_only else np.ones(len(data), bool)
    d = data.loc[keep]
    fit = cox_hr(d[f"{endpoint}_time"].to_numpy(), d[f"{endpoint}_event"].to_numpy(),
                 (d["arm"] == experimental).to_numpy())
    return fit.hr, fit.se


def os_trial_data(sim: SimulatedTrial) -> TrialData:
    """Overall survival of a simulated trial as :class:`~pexsurv.TrialData` (ITT), with
    ``treatment_start``, ``switch_time`` and ``censor_time``: what RPSFT g-estimation needs.

    Examples
    --------
    >>> from pexsurv.simulate import simulate_ct041_like
    >>> os_trial_data(simulate_ct041_like()).arms
    ('control', 'car-t')
    """
    experimental, control = sim.params["arm_labels"]
    return TrialData.from_dataframe(
        sim.data, time="os_time", event="os_event", arm="arm", reference=control, id="id",
        treatment_start="treatment_start", switch_time="switch_time",
        censor_time="censor_time")


def summarize_trial(sim: SimulatedTrial, *, hazard_ratios: bool = True,
                    gestimate: Callable[[TrialData], Any] | None = None) -> dict[str, float]:
    """Counts, Kaplan-Meier medians, Cox and RPSFT hazard ratios of one simulated trial.

    Keys match :data:`pexsurv.simulate.CT041_TARGETS`: ``*_mitt`` drops never-treated
    patients; ``os_followup_*`` are reverse Kaplan-Meier median follow-up times;
    ``os_median_received_experimental`` is the naive as-treated median OS (from
    randomization) of everyone who received the experimental therapy (treated
    experimental patients and switchers), ``os_median_control_not_switched`` that of the
    control patients who never switched; ``os_median_difference_*`` is experimental minus
    control median OS.

    Parameters
    ----------
    sim : SimulatedTrial
    hazard_ratios : bool
        Also fit the four Cox models (about 0.15 s).
    gestimate : callable, optional
        An RPSFT g-estimator of :class:`~pexsurv.TrialData`, normally
        :func:`pexsurv.models.rpsftm_gestimate` (passed in because the simulator sits
        below the models in the package's layers). Adds ``os_hr_rpsft_itt`` and
        ``os_hr_rpsft_mitt`` (its adjusted hazard ratio on the ITT and the modified-ITT
        OS data), ``os_psi_rpsft_itt`` / ``_mitt`` (its psi) and
        ``os_median_ratio_rpsft_itt`` (experimental median OS over the median of the
        control arm's counterfactual untreated times at the ITT psi).

    Returns
    -------
    dict of str to float

    Examples
    --------
    >>> from pexsurv.simulate import simulate_ct041_like
    >>> out = summarize_trial(simulate_ct041_like(), hazard_ratios=False)
    >>> out["never_treated"], out["switched"]
    (15.0, 21.0)
    """
    d = sim.data
    experimental = sim.params["arm_labels"][0]
    exp = (d["arm"] == experimental).to_numpy()
    treated = d["treatment_start"].notna().to_numpy()
    switched = d["switch_time"].notna().to_numpy()
    out = {"never_treated": float((exp & ~treated).sum()), "switched": float(switched.sum())}
    for endpoint in ("pfs", "os"):
        t = d[f"{endpoint}_time"].to_numpy()
        e = d[f"{endpoint}_event"].to_numpy()
        out[f"{endpoint}_median_experimental"] = km_median(t[exp], e[exp])
        out[f"{endpoint}_median_control"] = km_median(t[~exp], e[~exp])
        out[f"{endpoint}_median_experimental_mitt"] = km_median(t[exp & treated],
                                                                e[exp & treated])
        if hazard_ratios:
            out[f"{endpoint}_hr_itt"] = hazard_ratio(d, endpoint, experimental=experimental)[0]
            out[f"{endpoint}_hr_mitt"] = hazard_ratio(d, endpoint, experimental=experimental,
                                                      treated_only=True)[0]
    t, e = d["os_time"].to_numpy(), d["os_event"].to_numpy()
    received = (exp & treated) | switched
    out["os_median_received_experimental"] = km_median(t[received], e[received])
    out["os_median_control_not_switched"] = km_median(t[~exp & ~switched], e[~exp & ~switched])
    out["os_median_difference_itt"] = out["os_median_experimental"] - out["os_median_control"]
    out["os_median_difference_mitt"] = (out["os_median_experimental_mitt"]
                                        - out["os_median_control"])
    out["os_followup_experimental"] = km_median(t[exp], 1 - e[exp])
    out["os_followup_control"] = km_median(t[~exp], 1 - e[~exp])
    if gestimate is not None:
        itt = os_trial_data(sim)
        for population, data in (("itt", itt), ("mitt", itt.treated())):
            g = gestimate(data)
            out[f"os_hr_rpsft_{population}"] = float(g.hr_adjusted["hr"])
            out[f"os_psi_rpsft_{population}"] = float(g.psi)
            if population == "itt":
                cf = g.counterfactual
                control = (cf["arm"] != experimental).to_numpy()
                out["os_median_ratio_rpsft_itt"] = out["os_median_experimental"] / km_median(
                    cf["time_cf"].to_numpy()[control], cf["event_cf"].to_numpy()[control])
    return out
