"""A sweep's plan: the grid expanded into scenarios, each one analysis configuration
(:class:`~pexsurv.workflows.AnalysisConfig`) checked by that class's own validation, every
one of them before any sampling.

A grid maps a *setting* to its values. A setting is a dotted path into the analysis
configuration (``"priors.log_hr.sigma"``, ``"model.treat_modifier"``, ``"model.cuts"``,
``"sampler.seed"``, ``"endpoint"``), or ``"population"`` (one population per scenario). Its
values are either a list (each value set at that path) or a table of named variants, each
setting several paths at once (an endpoint is a label and its time and event columns)::

    grid = {"priors.log_hr.sigma": [1.0, 0.5, 2.0],
            "model.cuts": [{"rule": "equal_events", "k": 4}, [2.0, 4.0, 8.0]],
            "endpoint": {"OS": {"data.time": "os_time", "data.event": "os_event"},
                         "PFS": {"data.time": "pfs_time", "data.event": "pfs_event"}}}

The first value of each setting is its *reference* (list the primary analysis's choice
first): the tornado plot and the robustness check vary one setting away from it.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pexsurv.workflows.config import AnalysisConfig, ConfigError
from pexsurv.workflows.sweep.executors import Task
from pexsurv.workflows.sweep.keys import derived_seed, file_digest, settings_key, structure_key

__all__ = ["POPULATION", "Scenario", "SweepPlan", "expand_grid", "plan_sweep"]

POPULATION = "population"
"""Grid setting (and dimension) naming the one population a scenario fits."""

# The configuration keys that do not change a fit: where results go and how they are
# reported. They stay out of a scenario's key, so that moving the data file or the output
# folder does not refit anything (the data enter the key by content).
_NOT_FIT = ("output", "report")


def _label(value: Any) -> Any:
    """A coordinate label: scalars as they are, lists and tables as compact JSON."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _set(config: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at the dotted ``path`` of a configuration dict (tables created)."""
    *tables, leaf = path.split(".")
    node = config
    for i, name in enumerate(tables):
        child = node.setdefault(name, {})
        if not isinstance(child, dict):
            raise ConfigError(f"grid setting {path!r}: {'.'.join(tables[:i + 1])} is "
                              f"{child!r}, not a table")
        node = child
    node[leaf] = copy.deepcopy(value)


@dataclass(frozen=True)
class Scenario:
    """One cell of the grid: its coordinates (setting -> label), its full analysis
    configuration (one population) and its key."""

    coords: Mapping[str, Any]
    config: Mapping[str, Any]
    key: str = ""


def _dimensions(base: AnalysisConfig, grid: Mapping[str, Any]
                ) -> list[tuple[str, list[tuple[Any, dict[str, Any]]]]]:
    """(setting, [(label, {path: value})]) per dimension, population added when the base
    lists several and the grid does not sweep them."""
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError("grid: give at least one setting and its values, e.g. "
                          "{\"priors.log_hr.sigma\": [0.5, 1.0, 2.0]}")
    dims = []
    for setting, values in grid.items():
        path = "populations" if setting == POPULATION else setting
        if setting == "populations":
            raise ConfigError(f"grid: sweep populations with {POPULATION!r} (one population "
                              "per scenario), not 'populations'")
        if isinstance(values, Mapping):
            options = []
            for label, overrides in values.items():
                if not isinstance(overrides, Mapping) or not overrides:
                    raise ConfigError(f"grid {setting!r}: variant {label!r} must be a table of "
                                      "setting = value, e.g. {\"data.time\" = \"pfs_time\"}")
                options.append((label, {k: v for k, v in overrides.items()}))
        elif isinstance(values, Sequence) and not isinstance(values, str):
            options = [(_label(v), {path: [v] if setting == POPULATION else v}) for v in values]
        else:
            raise ConfigError(f"grid {setting!r}: a list of values or a table of named variants, "
                              f"got {values!r}")
        if not options:
            raise ConfigError(f"grid {setting!r}: no values")
        labels = [label for label, _ in options]
        if len(set(map(str, labels))) != len(labels):
            raise ConfigError(f"grid {setting!r}: values listed twice in {labels}")
        dims.append((setting, options))
    if POPULATION not in grid and len(base.populations) > 1:
        dims.append((POPULATION, [(p, {"populations": [p]}) for p in base.populations]))
    return dims


def expand_grid(base: AnalysisConfig, grid: Mapping[str, Any]) -> list[Scenario]:
    """Every combination of the grid's values applied to ``base`` (keys not yet set).

    Examples
    --------
    >>> from pexsurv.workflows import AnalysisConfig
    >>> base = AnalysisConfig.from_dict({"endpoint": "OS", "data": {"path": "t.csv",
    ...     "time": "os_time", "event": "os_event", "arm": "arm"}, "model": {"cuts": [3.0]}})
    >>> cells = expand_grid(base, {"priors.log_hr.sigma": [1.0, 2.0], "sampler.seed": [1, 2]})
    >>> len(cells), dict(cells[1].coords)
    (4, {'priors.log_hr.sigma': 1.0, 'sampler.seed': 2})
    """
    dims = _dimensions(base, grid)
    scenarios = []
    for combo in itertools.product(*(options for _, options in dims)):
        config = base.to_dict()
        coords = {}
        for (setting, _), (label, overrides) in zip(dims, combo):
            coords[setting] = label
            for path, value in overrides.items():
                _set(config, "populations" if path == POPULATION else path,
                     [value] if path == POPULATION else value)
        scenarios.append(Scenario(coords=coords, config=config))
    return scenarios


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: the dimensions (setting -> labels in grid order), the scenarios
    with their keys, and the fit of each (:class:`~pexsurv.workflows.sweep.executors.Task`)."""

    dims: Mapping[str, tuple[Any, ...]]
    scenarios: tuple[Scenario, ...]
    tasks: tuple[Task, ...]
    thresholds: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """The plan as stored in ``plan.json``."""
        # A list of pairs, not a table: the store writes JSON with sorted keys, and the
        # grid's order of settings is the result's order of dimensions.
        return {"dims": [[k, list(v)] for k, v in self.dims.items()],
                "thresholds": list(self.thresholds),
                "scenarios": [{"key": s.key, "coords": dict(s.coords), "config": s.config}
                              for s in self.scenarios]}


def _single_hr(spec: Any, where: str) -> None:
    if getattr(spec, "effect", "ph") != "ph":
        raise ConfigError(f"{where}: a sweep summarises one hazard ratio per scenario; "
                          "effect = \"piecewise\" has one per period (use effect = \"ph\")")


def plan_sweep(base: AnalysisConfig, grid: Mapping[str, Any],
               thresholds: Sequence[float] = (1.0,)) -> SweepPlan:
    """Expand and validate a sweep: every scenario's configuration is checked
    (:meth:`AnalysisConfig.from_dict`) and validated against its data
    (:meth:`AnalysisConfig.validate`: file, columns, population, cut points, model) before
    any sampling. All failing scenarios are reported together (up to ten).

    Scenarios that differ only in sampler settings share one validation (the data and
    model do not depend on them), so a grid with many seeds is validated quickly.

    Raises
    ------
    ConfigError
        Naming each failing scenario's coordinates and the reason.
    """
    thresholds = tuple(float(t) for t in thresholds)
    if not thresholds or any(t <= 0 for t in thresholds):
        raise ConfigError(f"thresholds: positive hazard ratios, got {list(thresholds)}")
    dims = _dimensions(base, grid)
    scenarios = expand_grid(base, grid)
    digests: dict[Path, str] = {}
    validated: dict[str, Any] = {}
    structures: dict[tuple, str] = {}
    planned, tasks, errors = [], [], []
    for scenario in scenarios:
        where = ", ".join(f"{k}={v}" for k, v in scenario.coords.items())
        try:
            config = AnalysisConfig.from_dict(scenario.config, base=base.base)
            if not config.data_path.is_file():
                raise ConfigError(f"[data] path: {config.data_path}: no such file")
            if config.data_path not in digests:
                digests[config.data_path] = file_digest(config.data_path)
            fitted = {k: v for k, v in config.to_dict().items() if k not in _NOT_FIT}
            fitted["data"] = {k: v for k, v in fitted["data"].items() if k != "path"}
            fitted["data_sha256"] = digests[config.data_path]
            model_key = settings_key({k: v for k, v in fitted.items() if k != "sampler"})
            if model_key not in validated:
                prepared = config.validate()
                _single_hr(prepared.spec, where)
                (population,) = prepared.data
                validated[model_key] = (prepared.spec, prepared.data[population])
            spec, data = validated[model_key]
            key = settings_key({"fit": fitted, "thresholds": thresholds})
            sampler = {**config.sampler_config(spec, progress=False).to_dict(),
                       "seed": derived_seed(key)}
        except ConfigError as exc:
            errors.append(f"  [{where}] {exc}")
            continue
        scenario = Scenario(coords=scenario.coords, config=scenario.config, key=key)
        planned.append(scenario)
        # The structure depends on the model and data (model_key) and the sampler kind only.
        kind = (model_key, sampler.get("sampler"), sampler.get("method"))
        if kind not in structures:
            structures[kind] = structure_key(spec, data, sampler)
        tasks.append(Task(key=key, structure=structures[kind],
                          spec=spec.to_dict(), data=data, sampler=sampler,
                          thresholds=thresholds, labels=dict(scenario.coords)))
    if errors:
        shown = "\n".join(errors[:10])
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise ConfigError(f"{len(errors)} of {len(scenarios)} scenario(s) are invalid; nothing "
                          f"was fitted:\n{shown}{more}")
    keys = [s.key for s in planned]
    if len(set(keys)) != len(keys):
        raise ConfigError("grid: two scenarios have identical settings (a setting swept twice "
                          "to the same value?); every scenario must differ")
    return SweepPlan(dims={name: tuple(label for label, _ in options) for name, options in dims},
                     scenarios=tuple(planned), tasks=tuple(tasks), thresholds=thresholds)
