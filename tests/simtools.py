"""Test data generators: small simulated trials with known truth, generated independently of
the package's own simulator so that model tests do not share its assumptions."""

from __future__ import annotations

import numpy as np
import pandas as pd


def pe_times(rng: np.random.Generator, rates: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Piecewise-exponential event times by the memoryless walk through segments.

    ``edges`` has shape (n, M + 1) (per-subject segment boundaries from 0 to inf) and
    ``rates`` shape (n, M): each subject's hazard per segment.
    """
    n = rates.shape[0]
    out = np.full(n, np.nan)
    for k in range(rates.shape[1]):
        todo = np.isnan(out)
        draw = rng.exponential(1.0 / rates[todo, k])
        width = edges[todo, k + 1] - edges[todo, k]
        done = draw < width
        idx = np.nonzero(todo)[0]
        out[idx[done]] = edges[idx[done], k] + draw[done]
    return out


def simulate_pem(seed: int, n: int, base: np.ndarray, cuts: np.ndarray, log_hr,
                 *, strata_shift: float | None = None, beta: dict | None = None,
                 follow_up: tuple[float, float] = (4.0, 12.0),
                 treatment_start: tuple[float, float] | None = None) -> pd.DataFrame:
    """Two-arm PEM data: hazard = base[k] * exp(z(t) * log_hr[k] + stratum * shift + x'beta).

    z(t) is the arm, or with ``treatment_start=(lo, hi)`` the experimental arm from a
    uniform start time in (lo, hi) on (a time-varying, received-exposure effect).
    """
    rng = np.random.default_rng(seed)
    arm = rng.permutation(np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)])
    log_hr = np.broadcast_to(np.asarray(log_hr, float), base.shape)
    df = pd.DataFrame({"id": np.arange(n), "arm": arm})
    lin = np.zeros(n)
    if strata_shift is not None:
        df["region"] = rng.choice(["asia", "europe"], n)
        lin = lin + (df["region"].to_numpy() == "europe") * strata_shift
    for name, coef in (beta or {}).items():
        if name == "sex":
            df[name] = rng.choice(["F", "M"], n)
            lin = lin + (df[name].to_numpy() == "M") * coef
        else:
            df[name] = rng.normal(0.0, 1.0, n)
            lin = lin + df[name].to_numpy() * coef
    start = np.zeros(n) if treatment_start is None else rng.uniform(*treatment_start, n)
    start = np.where(arm == 1, start, np.inf)
    edges = np.sort(np.column_stack([np.zeros(n), np.broadcast_to(cuts, (n, cuts.size)),
                                     np.where(np.isfinite(start), start, 0.0),
                                     np.full(n, np.inf)]), axis=1)
    seg_start = edges[:, :-1]
    k_of = np.searchsorted(cuts, seg_start, side="right")  # interval holding each segment
    on = seg_start >= start[:, None]
    rates = base[k_of] * np.exp(lin[:, None] + on * log_hr[k_of])
    t = pe_times(rng, rates, edges)
    c = rng.uniform(*follow_up, n)
    df["time"] = np.minimum(t, c)
    df["event"] = (t <= c).astype(int)
    if treatment_start is not None:
        df["ts"] = np.where((arm == 1) & (start < df["time"]), start, np.where(arm == 1, np.nan, 0.0))
    return df


def tiny_tse_trial():
    """Six patients for two-stage-estimation input checks: four controls (ids a-d; a and c
    switch at 3.0 and 2.5) and two experimental (e, f); returns the :class:`TrialData` and a
    valid secondary baseline (progression) per patient, NaN where it never came."""
    from pexsurv import TrialData  # the core only: no PyMC (the mutation tests import this)

    df = pd.DataFrame({"t": [5.0, 6.0, 4.0, 7.0, 8.0, 9.0], "e": [1, 1, 0, 1, 1, 0],
                       "arm": [0, 0, 0, 0, 1, 1], "sw": [3.0, np.nan, 2.5, np.nan, np.nan, np.nan],
                       "c": [10.0] * 6, "id": ["a", "b", "c", "d", "e", "f"]})
    data = TrialData.from_dataframe(df, time="t", event="e", arm="arm", id="id",
                                    switch_time="sw", censor_time="c", reference=0)
    return data, np.array([2.0, 3.0, 2.5, 1.0, np.nan, np.nan])
