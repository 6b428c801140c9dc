"""Operating characteristics of a Bayesian decision rule: simulate many trials of one
design under several scenarios (true effect, crossover, non-infusion, delay), fit each,
apply the rule, and report power or type I error, bias and interval coverage with their
Monte Carlo standard errors.

The trials run through the sweep machinery (:mod:`pexsurv.workflows.sweep`): the same
store (one atomic file per trial: a killed study resumes), the same executors (serial,
local processes, Dask) and one compiled model per structure per worker. Only a trial's
recipe (simulator parameters and seed) travels to a worker, which simulates it there.

Trial ``i`` uses the same simulation seed in every scenario (common random numbers): the
scenarios differ by their parameters, not by their luck, so differences between them are
estimated more precisely than with independent trials.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pexsurv.data import TrialData
from pexsurv.simulate import CT041_LIKE_PARAMS, simulate_trial
from pexsurv.workflows.config import POPULATIONS, AnalysisConfig, ConfigError, read_toml
from pexsurv.workflows.metrics import bias, coverage
from pexsurv.workflows.sweep.executors import ExecutorOptions, Task, execute
from pexsurv.workflows.sweep.keys import derived_seed, settings_key, structure_key
from pexsurv.workflows.sweep.result import DecisionRule
from pexsurv.workflows.sweep.store import Store

__all__ = ["OCDesign", "OCResult", "operating_characteristics", "run_oc_file"]

TRUE_HR = "true_hr"
"""Scenario key of the true hazard ratio (the estimand bias and coverage refer to)."""
_ENDPOINTS = ("os", "pfs")


@dataclass(frozen=True)
class OCDesign:
    """The trial design and its analysis.

    Parameters
    ----------
    simulate : mapping
        Arguments of :func:`pexsurv.simulate.simulate_trial` (except ``seed``); default
        the CT041-like trial (:data:`pexsurv.simulate.CT041_LIKE_PARAMS`). Scenarios
        override them.
    endpoint : {"os", "pfs"}
    population : str
        One of :data:`pexsurv.workflows.config.POPULATIONS` (``"itt"``, ``"treated"``...).
    model, priors, sampler : mapping
        As in an analysis configuration (``[model]``, ``[priors]``, ``[sampler]``). A
        cut-point rule is applied once, to the pilot trial (trial 0 of the first
        scenario), so that every trial is fitted on one partition and one compiled model.
    seed : int
        Seed of the simulated trials (trial ``i`` of every scenario) and of the keys.

    Examples
    --------
    >>> OCDesign(endpoint="pfs", model={"cuts": [2.0, 4.0]}).population
    'itt'
    """

    simulate: Mapping[str, Any] = field(default_factory=lambda: dict(CT041_LIKE_PARAMS))
    endpoint: str = "os"
    population: str = "itt"
    model: Mapping[str, Any] = field(default_factory=lambda: {
        "type": "pem", "cuts": {"rule": "equal_events", "k": 4}})
    priors: Mapping[str, Any] = field(default_factory=dict)
    sampler: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 1

    def analysis(self, cuts: Any = None) -> AnalysisConfig:
        """The analysis of each simulated trial as an :class:`AnalysisConfig` (checked by
        its own validation); ``cuts`` replaces the model's cut points."""
        if self.endpoint not in _ENDPOINTS:
            raise ConfigError(f"design endpoint: {self.endpoint!r}; valid: {', '.join(_ENDPOINTS)}")
        labels = self.simulate.get("arm_labels", CT041_LIKE_PARAMS["arm_labels"])
        model = dict(self.model)
        if cuts is not None:
            model["cuts"] = list(cuts)
        e = self.endpoint
        # Crossover comes after progression, so it belongs to OS only: on PFS every switch
        # would lie after the patient's follow-up, which TrialData refuses (as
        # pexsurv.datasets.ct041_like("pfs") leaves it out).
        switch = {"switch_time": "switch_time"} if e == "os" else {}
        return AnalysisConfig.from_dict({
            "endpoint": e.upper(), "populations": [self.population],
            # Columns of a simulated trial (SimulatedTrial.data); no file is read.
            "data": {"path": "simulated.csv", "time": f"{e}_time", "event": f"{e}_event",
                     "arm": "arm", "reference": labels[1], "id": "id",
                     "treatment_start": "treatment_start", "censor_time": "censor_time",
                     **switch},
            "model": model, "priors": dict(self.priors), "sampler": dict(self.sampler)})

    def to_dict(self) -> dict[str, Any]:
        return {"simulate": dict(self.simulate), "endpoint": self.endpoint,
                "population": self.population, "model": dict(self.model),
                "priors": dict(self.priors), "sampler": dict(self.sampler), "seed": self.seed}


def _itt(params: Mapping[str, Any], seed: int, columns: Mapping[str, Any]) -> TrialData:
    return TrialData.from_dataframe(simulate_trial(**params, seed=seed).data, **columns)


def _population(itt: TrialData, population: str) -> TrialData:
    with warnings.catch_warnings():
        # Exclusions (e.g. never treated) are part of the population's definition.
        warnings.simplefilter("ignore", UserWarning)
        return POPULATIONS[population](itt)


def _trial(params: Mapping[str, Any], seed: int, columns: Mapping[str, Any],
           population: str) -> TrialData:
    """Simulate one trial and derive the analysed population (run in the worker)."""
    return _population(_itt(params, seed, columns), population)


def _trial_seed(design_seed: int, trial: int) -> int:
    return derived_seed(settings_key({"design_seed": design_seed, "trial": trial}))


@dataclass(frozen=True)
class OCResult:
    """Operating characteristics per scenario.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scenario: ``trials`` (finished), ``true_hr``, ``measure`` ("power"
        when the true HR < 1, "type I error" otherwise), ``p_success`` and its
        ``p_success_mcse``, ``bias_log_hr`` (posterior median log HR minus the true log
        HR) and MCSE, ``coverage`` (of the true HR by the 95% interval) and MCSE,
        ``converged`` (share) and ``failed`` (fits that raised).
    trials : pandas.DataFrame
        One row per finished trial (scenario, trial, seeds, HR summary, success).
    rule : DecisionRule
    store : Path
    fitted, compiles : int
        Trials fitted and models compiled by this call.
    problems : list of str
    """

    table: pd.DataFrame
    trials: pd.DataFrame
    rule: DecisionRule
    store: Path
    fitted: int = 0
    compiles: int = 0
    problems: list[str] = field(default_factory=list)


def _summarize(trials: pd.DataFrame, truth: Mapping[str, float | None],
               rule: DecisionRule) -> pd.DataFrame:
    rows = []
    for name, true_hr in truth.items():
        got = trials[trials["scenario"] == name]
        ok = got[got["error"].isna()]
        n = len(ok)
        p = float(ok["success"].mean()) if n else math.nan
        row = {"scenario": name, "trials": n, TRUE_HR: true_hr,
               "measure": ("power" if true_hr is not None and true_hr < 1 else
                           "type I error" if true_hr is not None else "P(success)"),
               "p_success": p, "p_success_mcse": math.sqrt(p * (1 - p) / n) if n else math.nan}
        if true_hr is not None and n:
            b = bias(np.log(ok["hr_median"].to_numpy()), math.log(true_hr))
            c = coverage(ok["hr_lower"].to_numpy(), ok["hr_upper"].to_numpy(), true_hr)
            row.update(bias_log_hr=b.value, bias_log_hr_mcse=b.mcse, coverage=c.value,
                       coverage_mcse=c.mcse)
        else:
            row.update(bias_log_hr=math.nan, bias_log_hr_mcse=math.nan, coverage=math.nan,
                       coverage_mcse=math.nan)
        row.update(converged=float(ok["converged"].mean()) if n else math.nan,
                   failed=int(got["error"].notna().sum()))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("scenario")
    table.attrs["rule"] = str(rule)
    return table


def operating_characteristics(
    design: OCDesign | Mapping[str, Any],
    scenarios: Mapping[str, Mapping[str, Any]],
    n_trials: int,
    decision: str | DecisionRule = "P(HR < 1) > 0.975",
    *,
    store: str | os.PathLike[str],
    resume: bool = True,
    options: ExecutorOptions | None = None,
    **executor_options: Any,
) -> OCResult:
    """Simulate ``n_trials`` trials per scenario, fit each, apply the decision rule.

    Everything is validated before any fit: every scenario's simulator parameters (one
    pilot trial each), the analysis (:meth:`OCDesign.analysis`) and its population and
    model on that pilot.

    Parameters
    ----------
    design : OCDesign or mapping of its fields
    scenarios : mapping
        Name -> overrides of ``design.simulate`` (e.g. ``hr_pfs``, ``psi``,
        ``switch_prob``, ``manufacturing_mean``), plus optionally ``true_hr``: the true
        hazard ratio of the analysed endpoint and population, which bias and coverage
        refer to (without it only P(success) is reported). A scenario whose true HR is
        >= 1 reports the rule's success rate as its type I error.
    n_trials : int
        Trials per scenario.
    decision : str or DecisionRule
        Success when ``P(HR < t) > p``, e.g. ``"P(HR < 1) > 0.975"``.
    store, resume, options, **executor_options
        As for :func:`pexsurv.workflows.sweep.sweep` (executor, workers, client,
        scheduler, chunk_size, max_restarts, progress, callback).

    Returns
    -------
    OCResult

    Examples
    --------
    >>> oc = operating_characteristics(
    ...     OCDesign(endpoint="os"), {"null": {"hr_pfs": 1.0, "hr_post_progression": 1.0,
    ...     "psi": 0.0, "true_hr": 1.0}, "ct041": {}}, n_trials=200,
    ...     store="oc_out", executor="processes")  # doctest: +SKIP
    >>> oc.table[["measure", "p_success", "p_success_mcse"]]  # doctest: +SKIP
    """
    options = ExecutorOptions.resolve(options, executor_options)
    if not isinstance(design, OCDesign):
        design = OCDesign(**design)
    rule = DecisionRule.parse(decision)
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
        raise ConfigError(f"n_trials: a positive integer, got {n_trials!r}")
    if not scenarios:
        raise ConfigError("scenarios: give at least one (name -> simulator overrides)")
    thresholds = tuple(sorted({1.0, rule.threshold}))
    # Pilot: trial 0 of the first scenario fixes the cut points of every fit.
    first = next(iter(scenarios.values()))
    analysis = design.analysis()
    columns = {k: v for k, v in analysis.data.items() if k != "path"}
    params0 = {**design.simulate, **{k: v for k, v in dict(first).items() if k != TRUE_HR}}
    try:
        pilot = _itt(params0, _trial_seed(design.seed, 0), columns)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"scenario {next(iter(scenarios))!r}: {exc}") from exc
    cuts = analysis.prepare(pilot).cuts
    analysis = design.analysis(cuts)
    tasks, truth, errors = [], {}, []
    for name, scenario in scenarios.items():
        scenario = dict(scenario)
        true_hr = scenario.pop(TRUE_HR, None)
        params = {**design.simulate, **scenario}
        try:
            if true_hr is not None and not (isinstance(true_hr, (int, float)) and true_hr > 0):
                raise ConfigError(f"{TRUE_HR} must be a positive number, got {true_hr!r}")
            itt = _itt(params, _trial_seed(design.seed, 0), columns)
            prepared = analysis.prepare(itt)
            data = _population(itt, design.population)
        except (TypeError, ValueError) as exc:  # ConfigError is a ValueError
            errors.append(f"  scenario {name!r}: {exc}")
            continue
        truth[name] = None if true_hr is None else float(true_hr)
        spec = prepared.spec
        sampler = analysis.sampler_config(spec, progress=False).to_dict()
        structure = structure_key(spec, data, sampler)
        for i in range(n_trials):
            sim_seed = _trial_seed(design.seed, i)
            key = settings_key({"oc": {**design.to_dict(), "simulate": params, "cuts": cuts},
                                "trial": i, "thresholds": thresholds})
            tasks.append(Task(
                key=key, structure=structure, spec=spec.to_dict(),
                data=functools.partial(_trial, params, sim_seed, columns, design.population),
                sampler={**sampler, "seed": derived_seed(key)}, thresholds=thresholds,
                labels={"scenario": name, "trial": i, "sim_seed": sim_seed}))
    if errors:
        raise ConfigError(f"{len(errors)} scenario(s) are invalid; nothing was fitted:\n"
                          + "\n".join(errors[:10]))
    target = Store(store)
    target.write_plan({"kind": "operating characteristics", "design": design.to_dict(),
                       "scenarios": {k: dict(v) for k, v in scenarios.items()},
                       "n_trials": n_trials, "decision": str(rule), "cuts": list(cuts),
                       "keys": [t.key for t in tasks]})
    finished = target.finished() if resume else set()
    todo = [t for t in tasks if t.key not in finished]
    report = execute(todo, target, options, description="trials") if todo else None
    by_key = {r["key"]: r for r in target.rebuild_index()}
    rows = []
    for task in tasks:
        rec = by_key.get(task.key)
        if rec is None:
            continue
        row = {**rec["labels"], "seed": rec["seed"], "error": rec.get("error")}
        if not rec.get("error"):
            row.update({k: rec[k] for k in ("hr_median", "hr_lower", "hr_upper", "converged")})
            row["p_hr_lt"] = rec["p_hr_lt"][repr(rule.threshold)]
            row["success"] = rule.holds(row["p_hr_lt"])
        rows.append(row)
    trials = pd.DataFrame(rows, columns=["scenario", "trial", "sim_seed", "seed", "error",
                                         "hr_median", "hr_lower", "hr_upper", "converged",
                                         "p_hr_lt", "success"])
    problems = list(report.problems) if report else []
    problems += [f"{r['scenario']} trial {r['trial']}: {r['error']}"
                 for r in rows if r.get("error")]
    return OCResult(table=_summarize(trials, truth, rule), trials=trials, rule=rule,
                    store=Path(target.path), fitted=report.fitted if report else 0,
                    compiles=report.compiles if report else 0, problems=problems)


_OC_KEYS = ("store", "n_trials", "decision", *ExecutorOptions.FILE_KEYS, "design", "scenarios")


def run_oc_file(path: str | os.PathLike[str], *, executor: str | None = None,
                scheduler: str | None = None, store: str | os.PathLike[str] | None = None,
                workers: int | None = None, progress: bool = True) -> OCResult:
    """Run (or resume) the study an OC file describes (``pexsurv oc OC.toml``):

    .. code-block:: toml

        store = "oc_results"             # relative to this file; re-running resumes
        n_trials = 200
        decision = "P(HR < 1) > 0.975"
        executor = "processes"           # or "serial", "dask" (+ scheduler = "tcp://...")

        [design]                         # OCDesign: endpoint, population, seed, and
        endpoint = "os"                  # [design.simulate] (overrides of the CT041-like
        population = "itt"               # trial), [design.model], [design.priors],
        seed = 1                         # [design.sampler]
        [design.model]
        cuts = { rule = "equal_events", k = 4 }

        [scenarios.null]                 # name -> simulator overrides (+ true_hr)
        hr_pfs = 1.0
        hr_post_progression = 1.0
        psi = 0.0
        true_hr = 1.0
        [scenarios.ct041_like]           # the design as it is
    """
    path = Path(path)
    raw = read_toml(path, "operating-characteristics", "an example is in the docstring of "
                    "pexsurv.workflows.oc.run_oc_file", keys=_OC_KEYS,
                    required=("n_trials", "scenarios"))
    design = dict(raw.get("design", {}))
    unknown = sorted(set(design) - {f for f in OCDesign.__dataclass_fields__})
    if unknown:
        raise ConfigError(f"{path}: [design] unknown key(s) {unknown}; valid keys: "
                          f"{', '.join(OCDesign.__dataclass_fields__)}")
    design["simulate"] = {**CT041_LIKE_PARAMS, **design.get("simulate", {})}
    for k in ("allocation", "arm_labels", "hr_cuts", "hr_pfs"):  # TOML arrays -> tuples
        if isinstance(design["simulate"].get(k), list):
            design["simulate"][k] = tuple(design["simulate"][k])
    options = ExecutorOptions.from_file(raw, path).overridden(
        executor=executor, scheduler=scheduler, workers=workers, progress=progress)
    try:
        rule = DecisionRule.parse(raw.get("decision", "P(HR < 1) > 0.975"))
    except ValueError as exc:
        raise ConfigError(f"{path}: decision: {exc}") from exc
    return operating_characteristics(
        OCDesign(**design), raw["scenarios"], raw["n_trials"], rule,
        store=Path(store) if store else path.resolve().parent / raw.get("store", "oc_results"),
        options=options)
