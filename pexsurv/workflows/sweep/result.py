"""What a sweep returns: the summaries of every scenario as an xarray Dataset with one
dimension per swept setting, a table, a forest and a tornado plot, and the robustness of a
conclusion across the grid."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from pexsurv.defaults import CI_PROB

__all__ = ["DecisionRule", "Robustness", "SweepResult", "build_dataset"]

_RULE = re.compile(r"^\s*P\s*\(\s*HR\s*<\s*([0-9.eE+-]+)\s*\)\s*(>=|>)\s*([0-9.eE+-]+)\s*$")
_NUMBERS = ("hr_median", "hr_lower", "hr_upper", "log_hr_mean", "log_hr_sd", "max_r_hat",
            "min_ess", "divergences")
REPLICATES = ("sampler.seed",)
"""Settings that only replicate a scenario (averaged, not varied, in the tornado plot)."""


@dataclass(frozen=True)
class DecisionRule:
    """A Bayesian conclusion ``P(HR < threshold) > prob`` (or ``>=``).

    Examples
    --------
    >>> rule = DecisionRule.parse("P(HR < 1) > 0.975")
    >>> rule, rule.holds(0.99), rule.holds(0.975)
    (DecisionRule(threshold=1.0, prob=0.975, inclusive=False), True, False)
    >>> str(rule)
    'P(HR < 1) > 0.975'
    """

    threshold: float
    prob: float
    inclusive: bool = False

    def __post_init__(self) -> None:
        if not (self.threshold > 0 and 0 < self.prob < 1):
            raise ValueError(f"decision rule: needs a threshold HR > 0 and 0 < prob < 1, got "
                             f"threshold {self.threshold}, prob {self.prob}")

    @classmethod
    def parse(cls, rule: str | DecisionRule) -> DecisionRule:
        """Read ``"P(HR < t) > p"`` (or ``>=``)."""
        if isinstance(rule, DecisionRule):
            return rule
        match = _RULE.match(str(rule))
        if not match:
            raise ValueError(f"decision rule {rule!r}: write it as \"P(HR < 1) > 0.975\" "
                             "(threshold hazard ratio, then the probability to exceed)")
        return cls(float(match[1]), float(match[3]), match[2] == ">=")

    def holds(self, p: Any) -> Any:
        """Whether posterior probabilities ``p`` = P(HR < threshold) meet the rule."""
        p = np.asarray(p, dtype=float)
        out = p >= self.prob if self.inclusive else p > self.prob
        return out if out.ndim else bool(out)

    def __str__(self) -> str:
        return f"P(HR < {self.threshold:g}) {'>=' if self.inclusive else '>'} {self.prob:g}"


_HR_TICKS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)


def _hr_axis(ax: Any, values: np.ndarray, xlabel: str) -> None:
    """A log hazard-ratio x axis with plain tick labels, spanning ``values`` and 1."""
    from matplotlib.ticker import NullFormatter

    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    lo, hi = (min(finite.min(), 1.0), max(finite.max(), 1.0)) if finite.size else (0.5, 2.0)
    ax.set_xscale("log")
    ax.set_xlim(lo / 1.25, hi * 1.25)
    ticks = [t for t in _HR_TICKS if lo / 1.25 <= t <= hi * 1.25]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)


def _legend_below(ax: Any) -> None:
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=7, frameon=False)


def _coord_values(labels: Sequence[Any]) -> list[Any]:
    """Labels usable as one xarray coordinate (mixed types become text)."""
    kinds = {type(v) for v in labels}
    if len(kinds) > 1 and not kinds <= {int, float}:
        return [str(v) for v in labels]
    return list(labels)


def build_dataset(dims: Mapping[str, Sequence[Any]], records: Mapping[tuple, Mapping[str, Any]],
                  thresholds: Sequence[float]) -> xr.Dataset:
    """The Dataset of a sweep: one dimension per setting; ``records`` maps each scenario's
    label tuple (in ``dims`` order) to its stored record. Scenarios without a record are
    NaN with status ``"missing"``."""
    names = list(dims)
    shape = tuple(len(dims[d]) for d in names)
    index = {d: {str(v): i for i, v in enumerate(dims[d])} for d in names}
    numbers = {k: np.full(shape, np.nan) for k in _NUMBERS}
    p_lt = np.full((*shape, len(thresholds)), np.nan)
    status = np.full(shape, "missing", dtype=object)
    converged = np.zeros(shape, dtype=bool)
    seed = np.full(shape, -1, dtype=np.int64)
    for labels, rec in records.items():
        at = tuple(index[d][str(v)] for d, v in zip(names, labels))
        seed[at] = rec.get("seed", -1)
        if rec.get("error"):
            status[at] = "error"
            continue
        for k in _NUMBERS:
            numbers[k][at] = rec[k]
        for j, t in enumerate(thresholds):
            p_lt[at + (j,)] = rec["p_hr_lt"][repr(float(t))]
        converged[at] = rec["converged"]
        status[at] = "converged" if rec["converged"] else "not converged"
    coords = {d: _coord_values(list(dims[d])) for d in names}
    ds = xr.Dataset(
        {**{k: (names, v) for k, v in numbers.items()},
         "p_hr_lt": ((*names, "threshold"), p_lt),
         "converged": (names, converged), "status": (names, status.astype(str)),
         "seed": (names, seed)},
        coords={**coords, "threshold": list(map(float, thresholds))})
    ds["hr_median"].attrs["long_name"] = "posterior median hazard ratio"
    ds["hr_lower"].attrs["long_name"] = f"lower end of the {CI_PROB:.0%} equal-tailed interval"
    ds["hr_upper"].attrs["long_name"] = f"upper end of the {CI_PROB:.0%} equal-tailed interval"
    ds["p_hr_lt"].attrs["long_name"] = "posterior probability that HR < threshold"
    return ds


@dataclass(frozen=True)
class Robustness:
    """Whether a conclusion holds across a sweep's grid (:meth:`SweepResult.robustness`).

    Attributes
    ----------
    rule : str
    holds : bool
        The conclusion holds in every scenario, and every scenario finished and converged.
    reference : bool or None
        The conclusion in the reference scenario (first value of every setting).
    share : float
        Share of the finished scenarios where it holds.
    flips : pandas.DataFrame
        The scenarios whose conclusion differs from the reference's.
    by_setting : pandas.DataFrame
        Per setting and value: share of scenarios (over the other settings) where it holds.
    unconverged : pandas.DataFrame
        Scenarios that did not converge, failed or are missing: their conclusion is not
        trusted, and ``holds`` is False while there are any.
    """

    rule: str
    holds: bool
    reference: bool | None
    share: float
    flips: pd.DataFrame
    by_setting: pd.DataFrame
    unconverged: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __str__(self) -> str:
        if self.holds:
            verdict = "HOLDS in every scenario"
        elif self.share == 1.0:
            verdict = "holds in every finished scenario, but not all converged (not trusted)"
        else:
            verdict = "does NOT hold everywhere"
        lines = [f"{self.rule}: {verdict} (in {self.share:.0%} of finished scenarios)"]
        if len(self.flips):
            lines.append(f"flips away from the reference ({self.reference}) in "
                         f"{len(self.flips)} scenario(s):")
            lines += [f"  {row}" for row in self.flips.index.map(str)[:10]]
        if len(self.unconverged):
            lines.append(f"{len(self.unconverged)} scenario(s) not converged, failed or missing")
        return "\n".join(lines)


@dataclass(frozen=True)
class SweepResult:
    """The scenarios of a sweep.

    Attributes
    ----------
    dataset : xarray.Dataset
        One dimension per swept setting (labels in grid order, the first the reference):
        ``hr_median``, ``hr_lower``, ``hr_upper`` (95% equal-tailed), ``p_hr_lt``
        (P(HR < threshold), extra dimension ``threshold``), ``log_hr_mean``,
        ``log_hr_sd``, ``converged``, ``status`` (converged / not converged / error /
        missing), ``max_r_hat``, ``min_ess``, ``divergences`` and ``seed`` (the
        scenario's derived sampler seed).
    records : list of dict
        The stored records, in grid order (None where missing).
    store : Path
    fitted, compiles : int
        Scenarios fitted and models compiled by this call (0 when all were resumed).
    problems : list of str
        What went wrong on the way (dead workers, failed scenarios, warnings of fits).

    Examples
    --------
    >>> result = sweep(config, {"priors.log_hr.sigma": [1.0, 0.5]}, store="out")  # doctest: +SKIP
    >>> result.dataset["hr_median"]          # doctest: +SKIP
    >>> result.robustness("P(HR < 1) > 0.95").holds  # doctest: +SKIP
    """

    dataset: xr.Dataset
    records: list[dict[str, Any] | None]
    store: Path
    fitted: int = 0
    compiles: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def settings(self) -> list[str]:
        """The swept settings (the dataset's dimensions other than ``threshold``)."""
        return [d for d in self.dataset["hr_median"].dims]

    @property
    def complete(self) -> bool:
        """Every scenario has a record."""
        return bool((self.dataset["status"] != "missing").all())

    def table(self) -> pd.DataFrame:
        """One row per scenario (index: the settings): HR median and interval, P(HR < t)
        per threshold, convergence status, R-hat, ESS, divergences and seed."""
        ds = self.dataset
        frame = ds[["hr_median", "hr_lower", "hr_upper"]].to_dataframe()
        for t in ds["threshold"].values:
            frame[f"p_hr_lt_{t:g}"] = ds["p_hr_lt"].sel(threshold=t).to_series()
        for name in ("status", "max_r_hat", "min_ess", "divergences", "seed"):
            frame[name] = ds[name].to_series()
        return frame

    def _labels(self) -> list[str]:
        return [", ".join(f"{k}={v}" for k, v in zip(self.settings, key))
                if isinstance(key, tuple) else f"{self.settings[0]}={key}"
                for key in self.table().index]

    def plot_forest(self, *, thresholds: Sequence[float] | None = None) -> Figure:
        """Posterior median HR and 95% interval of every scenario (log scale), converged
        and unconverged scenarios marked apart, with lines at HR = 1 and each threshold."""
        table = self.table()
        labels = self._labels()
        fig = Figure(figsize=(8.0, 2.2 + 0.28 * len(table)), layout="constrained")
        ax = fig.add_subplot()
        y = np.arange(len(table))[::-1]
        ok = (table["status"] == "converged").to_numpy()
        for mask, style, name in ((ok, dict(color="C0", marker="o"), "converged"),
                                  (~ok, dict(color="C3", marker="s", mfc="white"),
                                   "not converged / failed")):
            if mask.any():
                med, lo, hi = (table[c].to_numpy()[mask] for c in ("hr_median", "hr_lower", "hr_upper"))
                ax.errorbar(med, y[mask], xerr=[med - lo, hi - med], fmt="none",
                            ecolor=style["color"], lw=1.2)
                ax.plot(med, y[mask], ls="none", label=f"median and {CI_PROB:.0%} interval: "
                        f"{name}", **style)
        ax.axvline(1.0, color="black", lw=0.8, ls="--", label="HR = 1 (no effect)")
        for t in thresholds if thresholds is not None else self.dataset["threshold"].values:
            if t != 1.0:
                ax.axvline(t, color="grey", lw=0.8, ls=":", label=f"HR = {t:g}")
        _hr_axis(ax, table[["hr_lower", "hr_upper"]].to_numpy(),
                 "hazard ratio, experimental vs control (log scale, no unit)")
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_ylabel("scenario")
        ax.set_title("Sweep: posterior HR per scenario")
        _legend_below(ax)
        return fig

    def _reference_slice(self, varied: str | None, replicates: Sequence[str]) -> xr.DataArray:
        """``hr_median`` along ``varied`` with every other setting at its reference (first)
        value, averaged over the replicate settings (a scalar when ``varied`` is None)."""
        da = self.dataset["hr_median"]
        fixed = {d: da[d].values[0] for d in da.dims if d != varied and d not in replicates}
        out = da.isel({d: 0 for d in fixed})
        rep = [d for d in replicates if d in out.dims and d != varied]
        return out.mean(rep) if rep else out

    def plot_tornado(self, *, replicates: Sequence[str] = REPLICATES) -> Figure:
        """For each setting, the range of the posterior median HR as that setting takes
        each of its values while the others stay at their reference (first) value;
        replicate settings (``sampler.seed``) are averaged over. Longest bar on top."""
        da = self.dataset["hr_median"]
        reference = float(self._reference_slice(None, replicates))
        rows = []
        for d in da.dims:
            if d in replicates or da.sizes[d] < 2:
                continue
            line = self._reference_slice(d, replicates)
            values = line.values.astype(float)
            if np.isnan(values).all():
                continue
            lo, hi = int(np.nanargmin(values)), int(np.nanargmax(values))
            rows.append((d, values[lo], values[hi], str(line[d].values[lo]),
                         str(line[d].values[hi])))
        rows.sort(key=lambda r: math.log(r[2]) - math.log(r[1]))
        fig = Figure(figsize=(8.0, 2.4 + 0.5 * max(len(rows), 1)), layout="constrained")
        ax = fig.add_subplot()
        for i, (_, lo, hi, lo_label, hi_label) in enumerate(rows):
            ax.barh(i, hi - lo, left=lo, color="C0", alpha=0.6,
                    label="range over the setting's values" if i == 0 else None)
            ax.text(lo, i, f"{lo_label} ", ha="right", va="center", fontsize=7)
            ax.text(hi, i, f" {hi_label}", ha="left", va="center", fontsize=7)
        if np.isfinite(reference):
            ax.axvline(reference, color="black", lw=1,
                       label=f"reference scenario (median HR {reference:.2f})")
        ax.axvline(1.0, color="grey", lw=0.8, ls="--", label="HR = 1 (no effect)")
        ends = np.array([[r[1], r[2]] for r in rows] + [[reference, reference]], dtype=float)
        _hr_axis(ax, np.concatenate([ends.ravel() / 1.15, ends.ravel() * 1.15]),
                 "posterior median hazard ratio (log scale, no unit)")
        ax.set_yticks(range(len(rows)), [r[0] for r in rows])
        ax.set_ylabel("setting varied\n(others at reference)")
        ax.set_title("Sweep: which setting moves the HR most")
        _legend_below(ax)
        return fig

    def robustness(self, rule: str | DecisionRule | Callable[[xr.Dataset], xr.DataArray]
                   = "P(HR < 1) > 0.95") -> Robustness:
        """Does a conclusion hold across the grid, and where does it flip?

        Parameters
        ----------
        rule : str, DecisionRule or callable
            ``"P(HR < t) > p"`` (``t`` must be one of the sweep's thresholds), or a
            function of the dataset returning a boolean DataArray over the settings.
        """
        ds = self.dataset
        if callable(rule) and not isinstance(rule, DecisionRule):
            conclusion, text = rule(ds).astype(bool), getattr(rule, "__name__", "rule")
        else:
            rule = DecisionRule.parse(rule)
            if rule.threshold not in ds["threshold"].values:
                raise ValueError(f"rule {rule}: the sweep stored P(HR < t) for t in "
                                 f"{[float(t) for t in ds['threshold'].values]}; add {rule.threshold:g} to its "
                                 "thresholds (a new threshold refits: it is part of the key)")
            conclusion = xr.DataArray(rule.holds(ds["p_hr_lt"].sel(threshold=rule.threshold)),
                                      dims=ds["hr_median"].dims, coords=ds["hr_median"].coords)
            text = str(rule)
        finished = ds["status"].isin(["converged", "not converged"])
        frame = pd.DataFrame({"holds": conclusion.to_series(), "status": ds["status"].to_series(),
                              "hr_median": ds["hr_median"].to_series()})
        frame["finished"] = finished.to_series()
        ref_at = tuple(0 for _ in ds["hr_median"].dims)
        reference = bool(conclusion.values[ref_at]) if bool(finished.values[ref_at]) else None
        done = frame[frame["finished"]]
        flips = done[done["holds"] != reference] if reference is not None else done.iloc[:0]
        parts = []
        for d in ds["hr_median"].dims:
            share = done.groupby(level=d, sort=False)["holds"].mean() if isinstance(
                done.index, pd.MultiIndex) else done["holds"].groupby(level=0, sort=False).mean()
            parts += [(d, value, float(s)) for value, s in share.items()]
        by_setting = pd.DataFrame(parts, columns=["setting", "value", "share_holding"])
        unconverged = frame[frame["status"] != "converged"]
        share = float(done["holds"].mean()) if len(done) else float("nan")
        return Robustness(rule=text, holds=bool(len(done) and done["holds"].all()
                                                and not len(unconverged)),
                          reference=reference, share=share, flips=flips,
                          by_setting=by_setting, unconverged=unconverged)
