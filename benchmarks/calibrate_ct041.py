"""Calibrate the CT041-like scenario against the published CT041-ST-01 results.

Two modes::

    .venv/bin/python benchmarks/calibrate_ct041.py           # check -> calibrate_ct041.md
    .venv/bin/python benchmarks/calibrate_ct041.py --search  # refit free parameters

``check`` simulates 200 trials of ``simulate_ct041_like`` (seeds 1..200) and compares the
mean of each summary of :func:`pexsurv.simulate.summarize_ct041` (counts, Kaplan-Meier
medians, lifelines Cox hazard ratios, RPSFT g-estimation with
:func:`pexsurv.models.rpsftm_gestimate` in ITT and modified ITT, naive as-treated medians,
the median OS differences at the updated data cut) with the published value; it also shows
the large-sample value (one trial of 200 x 156 patients), which is what the scenario
"means" without small-sample noise or bias.

``--search`` minimises the weighted squared log-ratios achieved/target of large-sample
values over the free parameters (Nelder-Mead, common random numbers so the objective is
smooth) and prints the parameters to paste into ``CT041_LIKE_PARAMS``. Each evaluation has
to be cheap, so the search computes the same analyses with two surrogates that agree with
the package on continuous data: a Breslow Cox fit of the arm by Newton's method (lifelines'
Efron fit takes about a second at 10,000 patients; without ties both are the same
estimator), and the g-estimate of psi as the interpolated zero of the package's own
log-rank Z(psi) (:func:`pexsurv.models.gestimation.z_on_grid`) with the adjusted HR on the
package's recensored counterfactual times
(:func:`pexsurv.models.gestimation.counterfactual_times`). The report then uses the package's
functions only. The fixed choices are argued in ``calibrate_ct041.md``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logit

from pexsurv.km import km_median
from pexsurv.models import rpsftm_gestimate
from pexsurv.models.gestimation import counterfactual_times, z_on_grid
from pexsurv.simulate import (
    CT041_LIKE_PARAMS,
    CT041_TARGETS,
    CT041_UPDATED_CUT,
    os_trial_data,
    simulate_ct041_like,
    simulate_trial,
    summarize_ct041,
    summarize_trial,
)

REPLICATES = 200
OUT = Path(__file__).with_suffix(".md")
# Follow-up depends on the cut-off and on who is alive; the published arms differ by three
# months, which equal censoring in both arms cannot reproduce. Reported, not fitted.
NOT_FITTED = ("os_followup_experimental", "os_followup_control")
COUNTS = ("never_treated", "switched")
# The primary endpoint (ITT PFS hazard ratio) counts four times in the search: the model
# cannot match the ITT and the mITT PFS hazard ratios together (see the .md), and the
# ITT value is the one the trial was designed around. The crossover-adjusted HRs are the
# results the trial's story turns on; they count twice. The "approximately doubled"
# median is a loose statement: half weight.
WEIGHTS = {"pfs_hr_itt": 4.0, "os_hr_rpsft_itt": 2.0, "os_hr_rpsft_mitt": 2.0,
           "os_median_ratio_rpsft_itt": 0.5}
PSI_GRID = np.linspace(-2.0, 0.5, 251)


# --------------------------------------------------------------------------- free parameters
def unpack(theta: np.ndarray) -> dict[str, Any]:
    """Scenario parameters from the search vector (log rates, HRs and delays, logit
    probability, psi as is)."""
    a, b, c, d1, d2, hr1, hr2, h, m, lag = np.exp(theta[:10]).tolist()
    p = dict(CT041_LIKE_PARAMS)
    p.update(progression=(p["progression"][0], (a, b, c)),
             death_post_progression=(p["death_post_progression"][0], (d1, d2)),
             hr_pfs=(hr1, hr2), hr_post_progression=h, manufacturing_mean=m,
             switch_lag_mean=lag, switch_prob=float(expit(theta[10])), psi=float(theta[11]))
    return p


def pack(p: Mapping[str, Any]) -> np.ndarray:
    """Inverse of :func:`unpack`."""
    values = [*p["progression"][1], *p["death_post_progression"][1], *p["hr_pfs"],
              p["hr_post_progression"], p["manufacturing_mean"], p["switch_lag_mean"]]
    return np.array([*np.log(values), logit(p["switch_prob"]), p["psi"]])


# --------------------------------------------------------------------------- search surrogates
def _cox_breslow(time_: np.ndarray, event: np.ndarray, x: np.ndarray) -> float:
    """Cox HR of a binary covariate, Breslow ties, Newton's method (search surrogate)."""
    order = np.argsort(-time_, kind="stable")
    d, x = event[order].astype(bool), x[order].astype(float)
    beta = 0.0
    for _ in range(25):
        w = np.exp(beta * x)
        s0, s1 = np.cumsum(w), np.cumsum(w * x)  # risk sets: everyone with a later time
        p = (s1 / s0)[d]
        step = (x[d] - p).sum() / (p * (1 - p)).sum()
        beta += step
        if abs(step) < 1e-9:
            break
    return math.exp(beta)


def _gestimate_fast(data: Any) -> tuple[float, float, np.ndarray, np.ndarray]:
    """psi (zero of the log-rank Z on a grid, interpolated), adjusted HR and the
    counterfactual times (search surrogate of ``rpsftm_gestimate``)."""
    z = z_on_grid(data, PSI_GRID).to_numpy()
    i = np.nonzero(np.diff(np.sign(z)) != 0)[0]
    j = i[(i.size - 1) // 2]
    psi = float(PSI_GRID[j] - z[j] * (PSI_GRID[j + 1] - PSI_GRID[j]) / (z[j + 1] - z[j]))
    u, e = counterfactual_times(data, psi)
    exp = data.arm == 1
    hr = _cox_breslow(np.where(exp, data.time, u), np.where(exp, data.event, e), exp)
    return psi, hr, u, e


def fast_summary(params: Mapping[str, Any], replicates: int, seed: int = 99
                 ) -> dict[str, float]:
    """The targets' summaries of one large trial, with the search surrogates."""
    n = params["n"] * replicates
    sim = simulate_trial(**{**params, "n": n}, seed=seed)
    out = summarize_trial(sim, hazard_ratios=False)
    updated = summarize_trial(sim.at_cutoff(sim.params["cutoff"] + CT041_UPDATED_CUT),
                              hazard_ratios=False)
    for population in ("itt", "mitt"):
        out[f"os_median_difference_{population}_updated"] = updated[
            f"os_median_difference_{population}"]
    for k in COUNTS:
        out[k] *= params["n"] / n
    d = sim.data
    exp = (d["arm"] == params["arm_labels"][0]).to_numpy()
    treated = d["treatment_start"].notna().to_numpy()
    for endpoint in ("pfs", "os"):
        t, e = d[f"{endpoint}_time"].to_numpy(), d[f"{endpoint}_event"].to_numpy()
        out[f"{endpoint}_hr_itt"] = _cox_breslow(t, e, exp)
        out[f"{endpoint}_hr_mitt"] = _cox_breslow(t[treated], e[treated], exp[treated])
    itt = os_trial_data(sim)
    for population, data in (("itt", itt), ("mitt", itt.treated())):
        psi, hr, u, e = _gestimate_fast(data)
        out[f"os_hr_rpsft_{population}"], out[f"os_psi_rpsft_{population}"] = hr, psi
        if population == "itt":
            control = data.arm == 0
            out["os_median_ratio_rpsft_itt"] = (out["os_median_experimental"]
                                                / km_median(u[control], e[control]))
    return out


def objective(theta: np.ndarray, replicates: int, best: list[float]) -> float:
    got = fast_summary(unpack(theta), replicates)
    loss = sum(WEIGHTS.get(k, 1.0) * math.log(max(got[k], 1e-3) / v) ** 2
               for k, v in CT041_TARGETS.items() if k not in NOT_FITTED)
    if loss < best[0]:
        # Each improvement is printed whole, so a search stopped early is not lost.
        best[0] = loss
        print(f"best loss {loss:.5f} psi_hat {got['os_psi_rpsft_itt']:.3f} rpsft "
              f"{got['os_hr_rpsft_itt']:.3f}/{got['os_hr_rpsft_mitt']:.3f} theta "
              f"{np.array2string(theta, precision=6, separator=',', max_line_width=10**4)}",
              flush=True)
    return loss


def search(replicates: int = 60, maxfev: int = 900) -> None:
    """Nelder-Mead from the current parameters; prints the result."""
    x0 = pack(CT041_LIKE_PARAMS)
    # Steps of 0.1 on the log / logit scale (about 10% on every parameter), 0.1 on psi.
    simplex = np.vstack([x0, x0 + 0.1 * np.eye(x0.size)])
    result = minimize(objective, x0, args=(replicates, [math.inf]), method="Nelder-Mead",
                      options={"initial_simplex": simplex, "maxfev": maxfev,
                               "xatol": 1e-3, "fatol": 1e-5})
    p = unpack(result.x)
    print(result.message, f"loss {result.fun:.5f}")
    for k in ("progression", "death_post_progression", "hr_pfs", "hr_post_progression",
              "manufacturing_mean", "switch_prob", "switch_lag_mean", "psi"):
        print(f"{k}: {p[k]}")


# --------------------------------------------------------------------------- evaluation
def large_sample(params: Mapping[str, Any], replicates: int = REPLICATES,
                 seed: int = 99) -> dict[str, float]:
    """Summaries of one trial of ``replicates`` x 156 patients, counts per 156."""
    n = params["n"] * replicates
    sim = simulate_trial(**{**params, "n": n}, seed=seed)
    out = summarize_ct041(sim, gestimate=rpsftm_gestimate)
    for k in COUNTS:
        out[k] *= params["n"] / n
    return out


def replicate_means(replicates: int = REPLICATES) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and SD over ``replicates`` trials (seeds 1..replicates)."""
    rows = [summarize_ct041(simulate_ct041_like(seed=s), gestimate=rpsftm_gestimate)
            for s in range(1, replicates + 1)]
    values = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return ({k: float(np.nanmean(v)) for k, v in values.items()},
            {k: float(np.nanstd(v, ddof=1)) for k, v in values.items()})


# --------------------------------------------------------------------------- report
def _row(key: str, target: float, mean: float, sd: float, big: float, shipped: float) -> str:
    rel = 100 * (mean / target - 1)
    flag = "" if abs(rel) <= 10 else " **(>10%)**"
    note = " (not fitted)" if key in NOT_FITTED else ""
    return (f"| `{key}`{note} | {target:g} | {mean:.3f} ({sd:.3f}) | {rel:+.1f}%{flag} | "
            f"{big:.3f} | {shipped:.3f} |")


def report() -> str:
    start = time.perf_counter()
    mean, sd = replicate_means()
    big = large_sample(CT041_LIKE_PARAMS)
    shipped = summarize_ct041(simulate_ct041_like(), gestimate=rpsftm_gestimate)
    lines = [
        "| quantity | published target | mean over 200 trials (SD) | rel. diff. | "
        "large-sample value | shipped data |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [_row(k, v, mean[k], sd[k], big[k], shipped[k]) for k, v in CT041_TARGETS.items()]
    lines += ["", "Not targets (g-estimated psi, for reference): "
              + ", ".join(f"`{k}` mean {mean[k]:.3f}, large-sample {big[k]:.3f}, shipped "
                          f"{shipped[k]:.3f}" for k in ("os_psi_rpsft_itt", "os_psi_rpsft_mitt")),
              "", f"Generated by `benchmarks/calibrate_ct041.py` in "
              f"{time.perf_counter() - start:.0f} s."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search", action="store_true",
                        help="refit the free parameters instead of writing the report")
    parser.add_argument("--replicates", type=int, default=60,
                        help="size of the search's large trial, in trials of 156 (default 60)")
    parser.add_argument("--maxfev", type=int, default=900, help="search evaluations")
    args = parser.parse_args(argv)
    if args.search:
        search(args.replicates, args.maxfev)
        return
    table = report()
    print(table)
    text = OUT.read_text() if OUT.exists() else ""
    marker = "<!-- table -->"
    if marker in text:
        head, _, rest = text.partition(marker)
        _, _, tail = rest.partition("<!-- /table -->")
        OUT.write_text(f"{head}{marker}\n{table}\n<!-- /table -->{tail}")
    else:
        sys.stderr.write(f"{OUT} has no {marker} block; printed only\n")


if __name__ == "__main__":
    main()
