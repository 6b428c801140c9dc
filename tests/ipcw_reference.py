"""The independent IPCW re-computation of tests/test_mutation_ipcw.py and its trial, cached.

The reference depends only on the raw tables (and scipy, lifelines-free), not on the module
under test, so a mutation run's fork server imports this module and computes every
configuration once (``PRELOAD="... ipcw_reference"`` with ``tests`` on ``PYTHONPATH``); each
mutant's pytest then reads the cached results instead of recomputing them (~2.5 s a run).
It also holds the check, shared with tests/test_ipcw_bootstrap.py, that a bootstrap replicate
equals ``ipcw`` refitted on the resampled trial.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

from pexsurv import TrialData
from pexsurv.longdata import LongData
from pexsurv.models.rpsft.weighted import weighted_cox
from pexsurv.simulate import simulate_time_varying_switching

CUTS = (1.0, 2.0, 3.0)
CONFIGS = {
    "stabilised": {"stabilised": True},
    "unstabilised-breslow": {"stabilised": False, "ties": "breslow"},
    "stabilised-truncated": {"stabilised": True, "truncate": 0.1},
    "unstabilised-truncated": {"stabilised": False, "truncate": 0.1},
}


def build(frame: pd.DataFrame, long: pd.DataFrame, strata: bool) -> tuple[TrialData, LongData]:
    data = TrialData.from_dataframe(frame, time="time", event="event", arm="arm", id="id",
                                    reference=0, switch_time="switch_time",
                                    censor_time="censor_time", covariates=["marker0"],
                                    strata="stratum" if strata else None)
    return data, LongData.from_dataframe(long, data, covariates=["marker"])


@functools.cache
def raw() -> tuple[pd.DataFrame, pd.DataFrame]:
    """120 patients; two thirds of the switches moved off the visit grid (between row starts,
    so rows are split there and the numerator steps inside other patients' rows, some rows
    at two switch times); a control switch time at the end of follow-up; two
    strata; ids that are strings, not positions."""
    sim = simulate_time_varying_switching(120, seed=3)
    frame = sim.frame.copy()
    long = sim.long.to_frame(sim.data)
    sw = frame["switch_time"].to_numpy()
    movable = np.flatnonzero(np.isfinite(sw) & (sw + 0.2 < frame["time"].to_numpy()))
    frame.loc[movable[::3], "switch_time"] += 0.1
    frame.loc[movable[1::3], "switch_time"] += 0.2  # two switch times inside some rows
    # A control patient "switching" at the end of follow-up: not a switch (sw < time).
    never = np.flatnonzero((frame["arm"] == 0).to_numpy() & np.isnan(sw))[0]
    frame.loc[never, "switch_time"] = frame.loc[never, "time"]
    frame["stratum"] = np.where(frame["marker0"] > 0.3, "high", "low")
    frame["id"] = [f"p{i:03d}" for i in frame["id"]]
    long["id"] = [f"p{i:03d}" for i in long["id"]]
    assert len(movable[::3]) >= 4
    real = (frame["arm"] == 0) & (frame["switch_time"] < frame["time"])
    cuts = np.unique(frame.loc[real, "switch_time"])
    off = cuts[np.round(cuts * 4, 9) % 1 > 0]
    assert (np.diff(np.floor(off * 4)) == 0).any()  # two inside one visit interval
    return frame, long


def km(time: np.ndarray, event: np.ndarray):
    """Kaplan-Meier as a loop; returns S(t) (right-continuous)."""
    steps = []
    s = 1.0
    for t in np.unique(time[event == 1]):
        s *= 1 - ((time == t) & (event == 1)).sum() / (time >= t).sum()
        steps.append((t, s))

    def at(t: float) -> float:
        out = 1.0
        for u, v in steps:
            if u <= t:
                out = v
        return out
    return at


@functools.cache
def reference(*, stabilised: bool = True, truncate: float | None = None,
              cuts: tuple[float, ...] = CUTS, strata: bool = True, ties: str = "efron") -> dict:
    """The whole IPCW procedure from the raw tables (module docstring, steps 1-3); the
    result is shared: read it, never modify it."""
    frame, long = raw()
    f = frame.set_index("id")
    sw_raw = f["switch_time"].fillna(np.inf)
    switched = np.isfinite(sw_raw) & (sw_raw < f["time"])
    # 1. Rows split at each switch strictly inside a row (covariates carried forward).
    pieces = []
    for r in long.itertuples():
        s = sw_raw[r.id]
        if switched[r.id] and r.tstart < s < r.tstop:
            pieces += [(r.id, r.tstart, s, r.marker), (r.id, s, r.tstop, r.marker)]
        else:
            pieces.append((r.id, r.tstart, r.tstop, r.marker))
    rows = pd.DataFrame(pieces, columns=["id", "tstart", "tstop", "marker"])
    rows = rows.join(f[["arm", "time", "event", "marker0", "stratum"]], on="id")
    rows["sw"] = sw_raw.reindex(rows["id"]).to_numpy()
    model = (rows["arm"] == 0) & (rows["tstart"] > 0) & (rows["tstart"] <= rows["sw"])
    m = rows[model]
    y = (m["tstart"] == m["sw"]).to_numpy(float)
    x = np.c_[np.ones(len(m)), m[["tstart", "marker0", "marker"]].to_numpy()]

    def nll(b):
        return float(np.sum(np.logaddexp(0, x @ b) - y * (x @ b)))

    coef = optimize.minimize(nll, np.zeros(4), method="BFGS", options={"gtol": 1e-10}).x
    p = special.expit(x @ coef)
    se = np.sqrt(np.diag(np.linalg.inv(x.T @ (x * (p * (1 - p))[:, None]))))
    factor = pd.Series(1.0, index=rows.index)
    factor[m.index[y == 0]] = 1 / (1 - p[y == 0])
    rows["w"] = factor.groupby(rows["id"]).cumprod()
    rows = rows[rows["tstart"] < rows["sw"]].copy()
    rows["d"] = ((rows["event"] == 1) & (rows["tstop"] == rows["time"])).astype(int)
    # 2. Stabilised: control rows split at the control switch times, times S(piece start).
    if stabilised:
        ctrl = f[f["arm"] == 0]
        s_of = km(np.minimum(ctrl["switch_time"].fillna(np.inf), ctrl["time"]).to_numpy(),
                  switched[ctrl.index].to_numpy().astype(int))
        cut_times = np.unique(sw_raw[switched & (f["arm"] == 0)])
        out = []
        for r in rows.to_dict("records"):
            inside = [c for c in cut_times if r["tstart"] < c < r["tstop"]] if r["arm"] == 0 \
                else []
            bounds = [r["tstart"], *inside, r["tstop"]]
            for k in range(len(bounds) - 1):
                last = k == len(bounds) - 2
                out.append({**r, "tstart": bounds[k], "tstop": bounds[k + 1],
                            "d": r["d"] if last else 0,
                            "w": r["w"] * (s_of(bounds[k]) if r["arm"] == 0 else 1.0)})
        rows = pd.DataFrame(out)
    rows.loc[rows["arm"] == 1, "w"] = 1.0
    control = (rows["arm"] == 0).to_numpy()
    bounds = None
    if truncate:
        lo, hi = np.quantile(rows.loc[control, "w"], [truncate, 1 - truncate])
        rows.loc[control, "w"] = rows.loc[control, "w"].clip(lo, hi)
        bounds = (lo, hi)
    order = {k: i for i, k in enumerate(frame["id"])}
    rows = rows.assign(o=rows["id"].map(order)).sort_values(["o", "tstart"],
                                                              kind="stable")
    code = (rows["stratum"] == "high").to_numpy(int) if strata else np.zeros(len(rows), int)
    # 3. Outcome: the weighted Cox kernel (own tests) on these rows; PEM by profile ML.
    cox = weighted_cox(rows["tstart"].to_numpy(), rows["tstop"].to_numpy(),
                       rows["d"].to_numpy(float), rows["arm"].to_numpy(float),
                       rows["w"].to_numpy(), rows["o"].to_numpy(), code, ties=ties)
    edges = np.r_[0.0, cuts, np.inf]
    a, b = rows["tstart"].to_numpy(), rows["tstop"].to_numpy()
    expo = np.clip(np.minimum(b[:, None], edges[1:]) - np.maximum(a[:, None], edges[:-1]),
                   0, None) * rows["w"].to_numpy()[:, None]
    k = edges.size - 1
    cell = code * k + np.searchsorted(edges, b, side="left") - 1
    dw = rows["d"].to_numpy() * rows["w"].to_numpy()
    arm = rows["arm"].to_numpy()
    e0 = np.array([[expo[(code == s) & (arm == 0), j].sum() for j in range(k)]
                   for s in range(2)]).ravel()
    e1 = np.array([[expo[(code == s) & (arm == 1), j].sum() for j in range(k)]
                   for s in range(2)]).ravel()
    d_all = np.bincount(cell, dw, 2 * k)
    d_1 = np.bincount(cell[arm == 1], dw[arm == 1], 2 * k)

    def profile(beta):  # baseline hazard per cell maximised out: D / (E0 + e^beta E1)
        keep = d_all > 0
        lam = d_all[keep] / (e0[keep] + np.exp(beta) * e1[keep])
        return -float(np.sum(d_all[keep] * np.log(lam) + d_1[keep] * beta
                             - lam * (e0[keep] + np.exp(beta) * e1[keep])))

    pem = optimize.minimize_scalar(profile, bounds=(-4, 4), method="bounded",
                                   options={"xatol": 1e-11}).x
    return {"rows": rows, "coef": coef, "se": se, "cox": cox, "pem": pem, "bounds": bounds,
            "n_model_rows": int(model.sum())}


def empty_last_cuts() -> tuple[float, ...]:
    """Cuts whose last interval has no experimental-arm follow-up (after the last)."""
    frame = raw()[0]
    last = frame.loc[frame["arm"] == 1, "time"].max()
    return (1.0, 2.0, float(last))


THREE_INTERVALS = (1.0, 2.5)  # k = 3 intervals: cell codes stratum * 3 + interval

# Warm the cache: the fork server imports this module once.
for _options in [*CONFIGS.values(), {"cuts": empty_last_cuts()}, {"cuts": THREE_INTERVALS}]:
    reference(**_options)


def assert_replicate_is_refit(fit, b: int, refit) -> None:
    """Replicate ``b`` of ``fit.boot`` is ``refit`` (``ipcw`` on the resampled trial): the
    weighted Cox log HR, its robust SE and the weighted PEM log HR, to 1e-9."""
    row = fit.boot.iloc[b]
    assert row["log_hr"] == pytest.approx(refit.hr_adjusted["log_hr"], abs=1e-9)
    assert row["log_hr_pem"] == pytest.approx(refit.hr_pem["log_hr"], abs=1e-9)
    assert row["se_robust"] == pytest.approx(refit.hr_adjusted["se"], abs=1e-9)
