"""Independent references for RPSFT tests on immdef: counterfactual untreated times written
from R's rpsftm formula (pexsurv/datasets/immdef.md), not from the package's code, and a plain
log-rank Z. Both are checked against R's Z table in test_rpsft_options.py."""

from __future__ import annotations

import numpy as np
import pandas as pd


def immdef_counterfactual(immdef: pd.DataFrame, psi: float, *, recensor: bool = True,
                          autoswitch: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """rpsftm's ``U = T ((1 - rx) + rx exp(psi))`` with ``rx = 1 - xoyrs / progyrs``,
    recensored at ``C* = min(C, C exp(psi))`` with ``C = censyrs``: where ``U > C*`` the
    time becomes ``C*`` and the event 0. With ``autoswitch`` an arm whose ``rx`` is all 0 or
    all 1 (here the immediate arm) is not recensored."""
    t = immdef["progyrs"].to_numpy(float)
    rx = 1.0 - immdef["xoyrs"].to_numpy(float) / t
    u = t * ((1.0 - rx) + rx * np.exp(psi))
    event = immdef["prog"].to_numpy(int).copy()
    if not recensor:
        return u, event
    c_star = np.minimum(immdef["censyrs"].to_numpy(float),
                        immdef["censyrs"].to_numpy(float) * np.exp(psi))
    arm = immdef["imm"].to_numpy(int)
    recensored_arm = np.ones_like(arm, dtype=bool)
    if autoswitch:
        for a in (0, 1):
            r = rx[arm == a]
            if np.all(r == 0) or np.all(r == 1):
                recensored_arm[arm == a] = False
    cut = recensored_arm & (u > c_star)
    return np.where(cut, c_star, u), np.where(cut, 0, event)


def logrank_z(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> float:
    """(O - E) / sqrt(V) of group 1, hypergeometric variance with ties (R's survdiff)."""
    o_minus_e, var = 0.0, 0.0
    for t in np.unique(time[event == 1]):
        at_risk = time >= t
        n, n1 = at_risk.sum(), (at_risk & (group == 1)).sum()
        dead = (time == t) & (event == 1)
        d, d1 = dead.sum(), (dead & (group == 1)).sum()
        o_minus_e += d1 - d * n1 / n
        if n > 1:
            var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return float(o_minus_e / np.sqrt(var))
