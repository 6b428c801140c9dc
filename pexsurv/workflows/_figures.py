"""Figures of the hazard-ratio report (matplotlib, object API: nothing is registered with
pyplot, so nothing leaks between figures or needs closing), and their PNG embedding.

Every figure has a title, axes labelled with units and a legend.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pexsurv import _names as N
from pexsurv.defaults import interval_bounds
from pexsurv.km import kaplan_meier

if TYPE_CHECKING:
    from pexsurv.workflows.report import _Analysis

__all__ = ["forest_figure", "hazard_figure", "hr_figure", "png_base64", "survival_figure"]


def png_base64(fig: Figure, dpi: int = 100) -> str:
    """The figure as a base64-encoded PNG (for a ``data:`` URI)."""
    buf = io.BytesIO()
    # No "Software: https://matplotlib.org" text chunk: the file carries no address at all.
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _per_unit(time_unit: str) -> str:
    return time_unit[:-1] if time_unit.endswith("s") else time_unit


def _clock(a: _Analysis, time_unit: str) -> str:
    origin = "treatment start" if a.result.data.origin == "treatment_start" else "randomization"
    return f"time since {origin} ({time_unit})"


def survival_figure(a: _Analysis, time_unit: str, prob: float) -> Figure:
    """Kaplan-Meier per arm with the posterior survival curve and its credible band, and
    the numbers at risk under it."""
    data = a.result.data
    km_label = "Kaplan-Meier"
    if data.interval_censored.any():
        data, km_label = data.date_events("visit"), "Kaplan-Meier (events dated at the visit)"
    lo_q, hi_q = interval_bounds(prob)
    curve = a.curve
    fig = Figure(figsize=(8.0, 5.6), layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=[4, 1], sharex=True)
    t = curve["time"].values
    for code, arm in enumerate(data.arms):
        color = f"C{code}"
        s = curve.isel({N.ARM: code}).transpose(*N.SAMPLE_DIMS, "time").values
        flat = s.reshape(-1, s.shape[-1])
        lo, med, hi = np.quantile(flat, [lo_q, 0.5, hi_q], axis=0)
        top.fill_between(t, lo, hi, color=color, alpha=0.2, linewidth=0,
                         label=f"{arm}: posterior {prob:.0%} band")
        top.plot(t, med, color=color, linestyle="--", label=f"{arm}: posterior median S(t)")
        m = data.arm == code
        km_t, km_s = kaplan_meier(data.time[m], data.event[m])
        end = float(data.time[m].max())
        top.step(np.r_[0.0, km_t, end], np.r_[1.0, km_s, km_s[-1] if km_s.size else 1.0],
                 where="post", color=color, label=f"{arm}: {km_label}")
    top.set(ylabel="survival probability", ylim=(0.0, 1.02),
            title=f"{a.label}: Kaplan-Meier and posterior survival")
    top.legend(fontsize="small", loc="upper right")
    ticks = np.linspace(0.0, float(t[-1]), 7)
    ticks = np.unique(np.round(ticks))
    for code, arm in enumerate(data.arms):
        at_risk = [(data.time[data.arm == code] >= x).sum() for x in ticks]
        for x, n in zip(ticks, at_risk, strict=True):
            bottom.text(x, 1 - code, str(n), ha="center", va="center", color=f"C{code}",
                        fontsize="small")
        bottom.plot([], [], color=f"C{code}", label=arm)
    bottom.set(ylim=(-0.6, 1.6), yticks=[1, 0], yticklabels=list(data.arms), ylabel="arm",
               xlabel=_clock(a, time_unit), title="numbers at risk")
    bottom.legend(fontsize="x-small", loc="center right", title="arm")
    bottom.set_xticks(ticks)
    return fig


def hr_figure(a: _Analysis, thresholds: Sequence[float], prob: float) -> Figure:
    """Posterior density (histogram) of the HR on a log axis, with threshold lines and the
    probability of each."""
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.subplots()
    all_draws = np.concatenate([d.ravel() for d in a.hr_draws.values()])
    bins = np.geomspace(all_draws.min() * 0.98, all_draws.max() * 1.02, 60)
    for i, (name, draws) in enumerate(a.hr_draws.items()):
        ax.hist(draws.ravel(), bins=bins, density=True, alpha=0.45, color=f"C{i}",
                label=f"{name}: posterior")
    for j, t in enumerate(thresholds):
        probs = ", ".join(f"{float(np.mean(d < t)):.2f}" for d in a.hr_draws.values())
        ax.axvline(t, color="k", linestyle=["-", "--", ":", "-."][j % 4], linewidth=1,
                   label=f"HR = {t:g} (P(HR < {t:g}) = {probs})")
    ax.set_xscale("log")
    ax.set(xlabel="hazard ratio, experimental / control (log scale, no unit)",
           ylabel="posterior density (per unit HR)",
           title=f"{a.label}: posterior of the hazard ratio")
    ax.legend(fontsize="small")
    return fig


def hazard_figure(a: _Analysis, time_unit: str, prob: float) -> Figure:
    """Posterior hazard per interval and arm (median and band as steps); with a piecewise
    effect, the HR per period beside it."""
    lo_q, hi_q = interval_bounds(prob)
    haz = a.hazard
    cuts = np.asarray(a.result.idata["constant_data"]["cut_points"].values, dtype=float)
    end = float(a.curve["time"].values[-1])
    edges = np.r_[0.0, cuts, max(end, cuts[-1] * 1.1 if cuts.size else end)]
    periods = len(a.hr_draws) > 1 or "HR" not in a.hr_draws
    fig = Figure(figsize=(8.0 if not periods else 11.0, 4.0), layout="constrained")
    axes = fig.subplots(1, 2 if periods else 1, squeeze=False)[0]
    ax = axes[0]
    if N.STRATUM in haz.dims:
        haz = haz.isel({N.STRATUM: 0})
    for code, arm in enumerate(haz[N.ARM].values):
        h = haz.isel({N.ARM: code}).transpose(*N.SAMPLE_DIMS, N.INTERVAL).values
        flat = h.reshape(-1, h.shape[-1])
        lo, med, hi = np.quantile(flat, [lo_q, 0.5, hi_q], axis=0)
        color = f"C{code}"
        ax.stairs(med, edges, baseline=None, color=color, label=f"{arm}: posterior median")
        ax.stairs(hi, edges, baseline=lo, fill=True, color=color, alpha=0.2,
                  label=f"{arm}: {prob:.0%} interval")
    ax.set(xlabel=f"time ({time_unit})",
           ylabel=f"hazard (events per {_per_unit(time_unit)} at risk)",
           title=f"{a.label}: hazard per interval"
           + (" (first stratum)" if N.STRATUM in a.hazard.dims else ""))
    ax.legend(fontsize="small")
    if periods:
        ax2 = axes[1]
        names = list(a.hr_draws)
        q = np.array([np.quantile(d.ravel(), [lo_q, 0.5, hi_q]) for d in a.hr_draws.values()])
        y = np.arange(len(names))
        ax2.errorbar(q[:, 1], y, xerr=[q[:, 1] - q[:, 0], q[:, 2] - q[:, 1]], fmt="o",
                     color="C2", label=f"posterior median, {prob:.0%} interval")
        ax2.axvline(1.0, color="k", linewidth=1, label="HR = 1")
        ax2.set_xscale("log")
        ax2.set_yticks(y, names)
        ax2.set(xlabel="hazard ratio (log scale, no unit)", ylabel=f"period ({time_unit})",
                title="HR per period (no single HR)")
        ax2.legend(fontsize="small")
    return fig


def forest_figure(raw: pd.DataFrame, periods: pd.DataFrame, prob: float) -> Figure:
    """Posterior HR (median, interval) of every analysis beside the Cox HR (95% CI)."""
    rows: list[tuple[str, float, float, float, float, float, float]] = []
    for label, r in raw.iterrows():
        cox = (r["cox_hr"], r["cox_lower"], r["cox_upper"])
        if pd.isna(r["hr"]):
            for _, p in periods[periods["analysis"] == label].iterrows():
                rows.append((f"{label} | {p['period']}", p["hr"], p["hr_lower"], p["hr_upper"],
                             *cox))
        else:
            rows.append((str(label), r["hr"], r["hr_lower"], r["hr_upper"], *cox))
    fig = Figure(figsize=(8.0, 1.2 + 0.55 * len(rows)), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1].astype(float)
    post = np.array([r[1:4] for r in rows], dtype=float)
    cox = np.array([r[4:7] for r in rows], dtype=float)
    ax.errorbar(post[:, 0], y + 0.12, xerr=[post[:, 0] - post[:, 1], post[:, 2] - post[:, 0]],
                fmt="o", color="C0", label=f"posterior median HR, {prob:.0%} ETI")
    ax.errorbar(cox[:, 0], y - 0.12, xerr=[cox[:, 0] - cox[:, 1], cox[:, 2] - cox[:, 0]],
                fmt="s", color="C1", label=f"Cox HR, {prob:.0%} CI")
    ax.axvline(1.0, color="k", linewidth=1, label="HR = 1 (no difference)")
    ax.set_xscale("log")
    ax.set_yticks(y, [r[0] for r in rows])
    ax.set(xlabel="hazard ratio, experimental / control (log scale, no unit)",
           ylabel="analysis", title="Hazard ratio across analyses")
    fig.legend(fontsize="small", loc="outside lower center", ncols=3)
    return fig
