"""One analysis of a user's trial, described by a TOML file: what ``pexsurv fit`` reads.

An :class:`AnalysisConfig` holds the data file and its column mapping, the endpoint, the
populations, the model (piecewise-exponential or Bayesian RPSFT), the priors, the sampler,
the report options and the output folder. :meth:`AnalysisConfig.from_toml` checks every
key and value it can without the data; :meth:`AnalysisConfig.validate` reads the data and
builds the populations and the model, so that the *whole* configuration is checked before
any sampling; :meth:`AnalysisConfig.run` fits, saves and reports.

The keys (every other key is an error naming the valid ones):

.. code-block:: toml

    endpoint = "OS"                  # label: file names <endpoint>_<population>.nc
    populations = ["itt", "treated"] # itt, treated, per_protocol, from_treatment_start,
                                     # exclude_switchers, as_treated
    output = "results"               # folder (relative to this file)

    [data]                           # path + the arguments of TrialData.from_dataframe
    path = "trial.csv"               # .csv, or .parquet (needs pyarrow or fastparquet)
    time = "os_time"
    event = "os_event"               # or censored = "CNSR" (ADaM: 1 = censored)
    arm = "arm"
    reference = "control"
    # id, treatment_start, switch_time, censor_time, strata: column names
    # covariates = ["age"], categorical = []

    [model]
    type = "pem"                     # "pem" or "rpsft"
    cuts = { rule = "equal_events", k = 8 }  # or [3.0, 6.0], or
                                     # { rule = "fixed_width", width = 3.0 }
    effect = "ph"                    # pem: "ph" or "piecewise"; also effect_cuts, strata,
                                     # covariates, exposure, likelihood
    # rpsft: psi_range, grid_size, test, recensor, autoswitch, treat_modifier, n_psi_draws

    [priors.log_hr]                  # graph name -> prior, as in pexsurv.priors TOML files
    dist = "Normal"                  # (rpsft: "psi" is the prior of psi, the rest go to
    mu = 0.0                         # the stage-2 model)
    sigma = 1.0

    [sampler]                        # the fields of pexsurv.fitting.SamplerConfig
    draws = 1000
    seed = 1

    [report]                         # hazard_ratio_report options
    thresholds = [1.0, 0.8]
    milestones = [6.0, 12.0]
    time_unit = "months"

Cut-point rules are applied to the ITT data, and every population is fitted on that one
partition (so that one compiled model serves them all, as SAS PHREG BAYES fixes it per
endpoint).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import shutil
import tomllib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from pexsurv.data import TrialData
from pexsurv.intervals import equal_events, fixed_width

__all__ = ["POPULATIONS", "AnalysisConfig", "AnalysisRun", "ConfigError", "Prepared",
           "example_config", "read_toml", "save_report", "write_example"]

POPULATIONS: Mapping[str, Callable[[TrialData], TrialData]] = MappingProxyType({
    "itt": TrialData.itt,
    "treated": TrialData.treated,
    "per_protocol": TrialData.per_protocol,
    "from_treatment_start": TrialData.from_treatment_start,
    "exclude_switchers": TrialData.exclude_switchers,
    "as_treated": TrialData.as_treated,
})
"""Population name in a configuration -> the :class:`~pexsurv.TrialData` method deriving it."""

_TOP_KEYS = ("endpoint", "populations", "output", "data", "model", "priors", "sampler", "report")
_DATA_KEYS = ("path", "time", "event", "censored", "arm", "reference", "id", "treatment_start",
              "switch_time", "censor_time", "strata", "covariates", "categorical")
_MODEL_TYPES = ("pem", "rpsft")
_PEM_KEYS = ("type", "cuts", "effect", "effect_cuts", "strata", "covariates", "exposure",
             "likelihood")
_RPSFT_KEYS = ("type", "cuts", "psi_range", "grid_size", "test", "recensor", "autoswitch",
               "treat_modifier", "n_psi_draws")
_CUT_RULES = {"equal_events": ("k",), "fixed_width": ("width", "max_time")}
_REPORT_KEYS = ("thresholds", "milestones", "horizon", "time_unit", "checks", "seed")
_PARQUET_READERS = ("pyarrow", "fastparquet")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class ConfigError(ValueError):
    """An invalid analysis configuration: the message names the key and the valid choices."""


def _unknown(where: str, given: Mapping[str, Any], valid: tuple[str, ...]) -> None:
    bad = sorted(set(given) - set(valid))
    if bad:
        raise ConfigError(f"{where}: unknown key(s) {bad}; valid keys: {', '.join(valid)}")


def read_toml(path: str | Path, kind: str, hint: str, *, keys: Sequence[str] | None = None,
              required: Sequence[str] = ()) -> dict[str, Any]:
    """Parse a TOML file with errors that name it: missing file (with ``hint`` on where an
    example is), invalid TOML, and, when ``keys`` lists the valid top-level keys, unknown
    ones; a ``required`` key that is missing.

    Examples
    --------
    >>> read_toml("no_such.toml", "sweep", "see the README")
    Traceback (most recent call last):
    ...
    pexsurv.workflows.config.ConfigError: no_such.toml: no such sweep file (see the README)
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such {kind} file ({hint})")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    if keys is not None:
        _unknown(str(path), raw, tuple(keys))
    for key in required:
        if key not in raw:
            raise ConfigError(f"{path}: missing required key {key!r}")
    return raw


def _table(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{key}] must be a table (a [{key}] section), got {value!r}")
    return dict(value)


def _checked(where: str, build: Callable[[], Any]) -> Any:
    """``build()``, with the errors of the lower layers re-raised naming the config key."""
    try:
        return build()
    except ConfigError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise ConfigError(f"{where}: {text}") from exc


@dataclass(frozen=True)
class Prepared:
    """What :meth:`AnalysisConfig.validate` built: the data of each population (by name)
    and the model specification, with the cut points it resolved."""

    data: Mapping[str, TrialData]
    spec: Any
    cuts: tuple[float, ...]


@dataclass(frozen=True)
class AnalysisRun:
    """What :meth:`AnalysisConfig.run` produced: the fits by label
    (``<endpoint>_<population>``), the :class:`~pexsurv.workflows.HazardRatioReport`, the
    files written and the number of model compilations (one per model structure and arm
    labelling when the graph can be shared)."""

    results: Mapping[str, Any]
    report: Any
    files: tuple[Path, ...]
    compiles: int


@dataclass(frozen=True)
class AnalysisConfig:
    """One analysis (data, populations, model, priors, sampler, report, output) as read
    from a TOML file; see the module docstring for the keys.

    Parameters
    ----------
    endpoint : str
        Endpoint label (letters, digits, ``_ . -``), used in file names and the report.
    populations : tuple of str
        Names from :data:`POPULATIONS`.
    data : mapping
        ``path`` (relative to ``base``) and the keywords of
        :meth:`pexsurv.TrialData.from_dataframe`.
    model : mapping
        ``type`` (``"pem"`` or ``"rpsft"``), ``cuts`` (list or rule) and the options of
        that model type.
    priors : mapping
        Graph name -> prior table (``dist`` and its parameters).
    sampler : mapping
        Fields of :class:`pexsurv.fitting.SamplerConfig`; unset ones take the model
        type's defaults (:func:`pexsurv.fitting.default_config`).
    report : mapping
        Options of :func:`pexsurv.workflows.hazard_ratio_report` (``time_unit``,
        ``thresholds``, ``milestones``, ``horizon``, ``checks``, ``seed``).
    output : str
        Output folder (relative to ``base``).
    base : Path
        Folder relative paths are read from (the config file's folder).
    source : Path, optional
        The TOML file read, copied into the output folder by :meth:`run`.

    Examples
    --------
    >>> config = AnalysisConfig.from_toml("analysis.toml")  # doctest: +SKIP
    >>> config.validate()                                    # doctest: +SKIP
    >>> run = config.run(progress=False)                     # doctest: +SKIP
    """

    endpoint: str
    populations: tuple[str, ...]
    data: Mapping[str, Any]
    model: Mapping[str, Any]
    priors: Mapping[str, Any] = field(default_factory=dict)
    sampler: Mapping[str, Any] = field(default_factory=dict)
    report: Mapping[str, Any] = field(default_factory=dict)
    output: str = "results"
    base: Path = Path(".")
    source: Path | None = None

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_toml(cls, path: str | Path) -> AnalysisConfig:
        """Read and check a configuration file (:meth:`from_dict`); relative paths in it
        are relative to its folder.

        Raises
        ------
        ConfigError
            Unreadable TOML, or a bad key or value (named, with the valid choices).
        """
        path = Path(path)
        raw = read_toml(path, "configuration", "write an example with `pexsurv init`")
        return cls.from_dict(raw, base=path.resolve().parent, source=path.resolve())

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, base: str | Path = ".",
                  source: Path | None = None) -> AnalysisConfig:
        """Build a configuration from parsed TOML, checking every key and every value that
        can be checked without the data.

        Examples
        --------
        >>> AnalysisConfig.from_dict({"endpoint": "OS", "colour": "red"})
        Traceback (most recent call last):
        ...
        pexsurv.workflows.config.ConfigError: analysis config: unknown key(s) ['colour']; valid keys: endpoint, populations, output, data, model, priors, sampler, report
        """
        _unknown("analysis config", raw, _TOP_KEYS)
        for key in ("endpoint", "data", "model"):
            if key not in raw:
                raise ConfigError(f"analysis config: missing required key {key!r}")
        pops = raw.get("populations", ["itt"])
        if isinstance(pops, str):
            pops = [pops]
        if not isinstance(pops, list):
            raise ConfigError(f"populations: a list of names, got {pops!r}; valid: "
                              f"{', '.join(POPULATIONS)}")
        config = cls(endpoint=raw["endpoint"], populations=tuple(pops),
                     data=_table(raw, "data"), model=_table(raw, "model"),
                     priors=_table(raw, "priors"), sampler=_table(raw, "sampler"),
                     report=_table(raw, "report"), output=raw.get("output", "results"),
                     base=Path(base), source=source)
        config.check()
        return config

    def to_dict(self) -> dict[str, Any]:
        """The configuration as its TOML keys (``base`` and ``source`` are where it was
        read, not part of it)."""
        return {"endpoint": self.endpoint, "populations": list(self.populations),
                "output": self.output, "data": dict(self.data), "model": dict(self.model),
                "priors": {k: dict(v) for k, v in self.priors.items()},
                "sampler": dict(self.sampler), "report": dict(self.report)}

    # ------------------------------------------------------------------ static checks
    def check(self) -> None:
        """Check every key and value that needs no data (called by :meth:`from_dict`)."""
        from pexsurv.fitting import SamplerConfig

        if not isinstance(self.endpoint, str) or not _LABEL.fullmatch(self.endpoint):
            raise ConfigError(f"endpoint: {self.endpoint!r} is not a label of letters, digits, "
                              "'_', '.', '-' (it names the output files), e.g. \"OS\"")
        bad = [p for p in self.populations if p not in POPULATIONS]
        if bad or not self.populations:
            raise ConfigError(f"populations: unknown population(s) {bad or '(none given)'}; "
                              f"valid: {', '.join(POPULATIONS)}")
        if len(set(self.populations)) != len(self.populations):
            raise ConfigError(f"populations: listed twice in {list(self.populations)}")
        if not isinstance(self.output, str) or not self.output:
            raise ConfigError(f"output: a folder name is needed, got {self.output!r}")
        _unknown("[data]", self.data, _DATA_KEYS)
        for key in ("path", "time", "arm"):
            if key not in self.data:
                raise ConfigError(f"[data]: missing required key {key!r}")
        suffix = self.data_path.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise ConfigError(f"[data] path: {self.data_path.name}: read .csv or .parquet files "
                              f"only, got {suffix or 'no extension'!r}")
        if suffix == ".parquet" and not any(importlib.util.find_spec(m) for m in _PARQUET_READERS):
            raise ConfigError(f"[data] path: reading {self.data_path.name} needs the 'pyarrow' "
                              "package (or 'fastparquet'), which is not installed: pip install "
                              "pyarrow, or save the data as CSV")
        model_type = self.model.get("type", "pem")
        if model_type not in _MODEL_TYPES:
            raise ConfigError(f"[model] type: {model_type!r}; valid: {', '.join(_MODEL_TYPES)}")
        _unknown(f"[model] (type {model_type!r})", self.model,
                 _PEM_KEYS if model_type == "pem" else _RPSFT_KEYS)
        if "cuts" not in self.model:
            raise ConfigError("[model]: missing required key 'cuts' (a list of cut points, or "
                              "a rule such as { rule = \"equal_events\", k = 8 })")
        self._check_cuts(self.model["cuts"])
        self._prior_specs()
        _unknown("[report]", self.report, _REPORT_KEYS)
        self._check_report()
        fields = tuple(f.name for f in dataclasses.fields(SamplerConfig))
        _unknown("[sampler]", self.sampler, fields)
        _checked("[sampler]", lambda: SamplerConfig(**self.sampler))
        # The model's own options (effect, exposure, psi_range, ...) are checked now, so that
        # a bad value fails before the data load: with the listed cut points, or, for a cut
        # rule (its cut points come from the data), with placeholder cuts and without
        # effect_cuts, which must be among cut points not known yet (prepare() checks them).
        cuts = self.model["cuts"]
        if isinstance(cuts, list):
            self._spec(tuple(cuts))
        else:
            self._spec((1.0,), without=("effect_cuts",))

    def _check_report(self) -> None:
        """Types of the report options, so that a typo fails now, not after the fits."""
        def number(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0

        expected = {"thresholds": ("a list of positive numbers",
                                   lambda v: isinstance(v, list) and all(map(number, v))),
                    "milestones": ("a list of positive numbers",
                                   lambda v: isinstance(v, list) and all(map(number, v))),
                    "horizon": ("a positive number", number),
                    "time_unit": ("a text such as \"months\"", lambda v: isinstance(v, str)),
                    "checks": ("true or false", lambda v: isinstance(v, bool)),
                    "seed": ("a non-negative integer",
                             lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0)}
        for key, value in self.report.items():
            what, ok = expected[key]
            if not ok(value):
                raise ConfigError(f"[report] {key}: must be {what}, got {value!r}")

    @property
    def data_path(self) -> Path:
        """The data file, resolved against :attr:`base`."""
        return self.base / str(self.data["path"])

    @property
    def output_dir(self) -> Path:
        """The output folder, resolved against :attr:`base`."""
        return self.base / self.output

    @staticmethod
    def _check_cuts(cuts: Any) -> None:
        if isinstance(cuts, list):
            return
        if not isinstance(cuts, Mapping) or cuts.get("rule") not in _CUT_RULES:
            raise ConfigError(f"[model] cuts: {cuts!r}; give a list of cut points or a rule: "
                              + ", ".join(f"{{ rule = \"{r}\", {' , '.join(a)} }}"
                                          for r, a in _CUT_RULES.items()))
        _unknown(f"[model] cuts (rule {cuts['rule']!r})", cuts, ("rule", *_CUT_RULES[cuts["rule"]]))
        if cuts["rule"] == "fixed_width" and "width" not in cuts:
            raise ConfigError("[model] cuts: rule \"fixed_width\" needs width = <time units> "
                              "(max_time defaults to the longest follow-up)")

    def _prior_specs(self) -> dict[str, Any]:
        from pexsurv.priors import PriorSpec

        # One table per graph name, read exactly as pexsurv.priors.priors_from_toml reads
        # a prior file.
        out = {}
        for name, table in self.priors.items():
            if not isinstance(table, Mapping):
                raise ConfigError(f"[priors] {name}: must be a table like [priors.{name}] with "
                                  "a 'dist' key")
            out[name] = _checked(f"[priors] {name}", lambda t=table: PriorSpec.from_dict(t))
        return out

    def _spec(self, cuts: tuple[float, ...], *, without: tuple[str, ...] = ()) -> Any:
        """The model specification with these cut points (and the ``[model]`` options not
        named in ``without``)."""
        from pexsurv import _names as N
        from pexsurv.models import RPSFT, PiecewiseExponential

        options = {k: v for k, v in self.model.items() if k not in ("type", "cuts", *without)}
        priors = self._prior_specs()
        if self.model.get("type", "pem") == "pem":
            for key in ("covariates", "effect_cuts"):
                if isinstance(options.get(key), list):
                    options[key] = tuple(options[key])
            return _checked("[model]" if not priors else "[model]/[priors]",
                            lambda: PiecewiseExponential(cuts=cuts, priors=priors, **options))
        if "psi_range" in options:
            options["psi_range"] = tuple(options["psi_range"])
        psi = {"psi_prior": priors.pop(N.PSI)} if N.PSI in priors else {}
        return _checked("[model]" if not priors else "[model]/[priors]",
                        lambda: RPSFT(cuts=cuts, pem_priors=priors, **psi, **options))

    # ------------------------------------------------------------------ data checks
    def load_data(self) -> TrialData:
        """The ITT :class:`~pexsurv.TrialData` from the data file and column mapping."""
        path = self.data_path
        if not path.is_file():
            raise ConfigError(f"[data] path: {path}: no such file")
        columns = {k: v for k, v in self.data.items() if k != "path"}
        if path.suffix.lower() == ".parquet":
            frame = _checked("[data]", lambda: pd.read_parquet(path))
            return _checked("[data]", lambda: TrialData.from_dataframe(frame, **columns))
        return _checked("[data]", lambda: TrialData.from_csv(path, **columns))

    def _cuts(self, itt: TrialData) -> tuple[float, ...]:
        cuts = self.model["cuts"]
        if isinstance(cuts, list):
            return tuple(cuts)
        args = {k: v for k, v in cuts.items() if k != "rule"}
        if cuts["rule"] == "equal_events":
            found = _checked("[model] cuts", lambda: equal_events(itt, **args))
        else:
            args.setdefault("max_time", float(itt.time.max()))
            found = _checked("[model] cuts", lambda: fixed_width(**args))
        return tuple(float(c) for c in found)

    def validate(self) -> Prepared:
        """Check the configuration against the data: the file and its columns, every
        population (its columns, e.g. ``treated`` needs ``treatment_start``), the cut points
        and the model on that data. Nothing is fitted.

        Returns
        -------
        Prepared
            The data of each population and the model specification.

        Raises
        ------
        ConfigError
            Naming the key, the valid choices or the missing column.
        """
        return self.prepare(self.load_data())

    def prepare(self, itt: TrialData) -> Prepared:
        """:meth:`validate` on ITT data already loaded (e.g. a simulated trial): every
        population, the cut points and the model, checked on ``itt``. Nothing is fitted.

        Raises
        ------
        ConfigError
            Naming the key, the valid choices or the missing column.
        """
        data = {}
        for name in self.populations:
            with warnings.catch_warnings():
                # Exclusions are recorded in the data's notes, and so in the report.
                warnings.simplefilter("ignore", UserWarning)
                data[name] = _checked(f"populations: {name}", lambda n=name: POPULATIONS[n](itt))
        cuts = self._cuts(itt)
        spec = self._spec(cuts)
        for name, d in data.items():
            self._check_on(spec, name, d)
        return Prepared(data=MappingProxyType(data), spec=spec, cuts=cuts)

    def _check_on(self, spec: Any, name: str, data: TrialData) -> None:
        """Refuse, before fitting, a model the population cannot carry."""
        where = f"[model] on population {name!r}"
        if self.model.get("type", "pem") == "rpsft":
            if data.switch_time is None or np.isnan(data.switch_time).all():
                raise ConfigError(f"{where}: RPSFT needs switchers; give [data] switch_time "
                                  "and a population that keeps them (itt, treated)")
            return
        if spec.strata and data.strata is None:
            raise ConfigError(f"{where}: strata = true needs [data] strata = \"<column>\"")
        missing = [c for c in spec.covariates if c not in data.covariates]
        if missing:
            raise ConfigError(f"{where}: covariates {missing} are not loaded; list them in "
                              f"[data] covariates (loaded: {sorted(data.covariates)})")
        if spec.exposure == "received" and data.treatment_start is None and data.switch_time is None:
            raise ConfigError(f"{where}: exposure = \"received\" needs [data] treatment_start "
                              "or switch_time")

    # ------------------------------------------------------------------ running
    def sampler_config(self, spec: Any, *, progress: bool = True) -> Any:
        """The :class:`~pexsurv.fitting.SamplerConfig` of this analysis for ``spec``."""
        from pexsurv.fitting import default_config

        settings = dict(self.sampler)
        if not progress:
            settings["progress"] = False
        return _checked("[sampler]", lambda: default_config(spec, **settings))

    def run(self, *, progress: bool = True,
            echo: Callable[[str], None] | None = None) -> AnalysisRun:
        """Validate, fit every population, save each fit as
        ``<output>/<endpoint>_<population>.nc``, write the report (``report.html``,
        ``report.md``, ``report.csv``), a copy of the configuration (``config.toml``) and
        the resolved configuration (``config.json``, with the cut points used).

        Parameters
        ----------
        progress : bool
            Show the sampler's progress bar (also needs ``progress`` not false in
            ``[sampler]``).
        echo : callable, optional
            Called with one line per step (e.g. ``print`` to stderr); silent when None.

        Returns
        -------
        AnalysisRun
        """
        from pexsurv.fitting import ConvergenceWarning, StageRun, compile_spec, fit
        from pexsurv.workflows.report import hazard_ratio_report

        say = echo or (lambda _: None)
        prepared = self.validate()
        out = self.output_dir
        if out.exists() and not out.is_dir():
            raise ConfigError(f"output: {out} exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
        spec = prepared.spec
        config = self.sampler_config(spec, progress=progress)
        say(f"{type(spec).__name__} with cuts {list(prepared.cuts)}; "
            f"{StageRun.configured('each fit', config)}")
        # One compiled graph serves every population when the cell layout is fixed (same
        # cuts and strata): the aggregated likelihood of an assigned-exposure PEM; fit labels
        # each population's draws with its own arms (as_treated renames them).
        shared = (type(spec).__name__ == "PiecewiseExponential" and spec.exposure == "assigned"
                  and not spec.covariates)
        cache: dict[tuple, Any] = {}
        compiles = 0
        results, files = {}, []
        for i, (name, data) in enumerate(prepared.data.items(), 1):
            label = f"{self.endpoint}_{name}"
            say(f"[{i}/{len(prepared.data)}] fitting {label} (n = {data.n})")
            key = data.stratum_levels if getattr(spec, "strata", False) else ()
            if shared and key not in cache:
                cache[key] = compile_spec(spec, data, config)
            compiled = cache.get(key) if shared else None
            compiles += compiled is None  # fit compiles its own
            with warnings.catch_warnings():
                # The verdict is in the result and the report; the CLI prints it once.
                warnings.simplefilter("ignore", ConvergenceWarning)
                results[label] = fit(spec, data, sampler=config, compiled=compiled)
            files.append(results[label].save(out / f"{label}.nc"))
            say(f"    {results[label].convergence.headline}; saved {files[-1]}")
        options = dict(self.report)
        report = hazard_ratio_report(results, endpoint=self.endpoint, **options)
        files += save_report(report, out)
        if self.source is not None:
            files.append(Path(shutil.copyfile(self.source, out / "config.toml")))
        resolved = {**self.to_dict(), "resolved": {"cuts": list(prepared.cuts),
                                                   "sampler": config.to_dict()}}
        (out / "config.json").write_text(json.dumps(resolved, indent=2, default=str))
        files.append(out / "config.json")
        return AnalysisRun(results=MappingProxyType(results), report=report, files=tuple(files),
                           compiles=compiles + len(cache))


def save_report(report: Any, folder: Path) -> list[Path]:
    """Write ``report.html``, ``report.md`` and ``report.csv`` (plus the per-period HR table
    of piecewise-effect fits) of a :class:`~pexsurv.workflows.HazardRatioReport` into
    ``folder``; returns the paths written."""
    written = [report.to_html(folder / "report.html")]
    (folder / "report.md").write_text(report.to_markdown())
    return [*written, folder / "report.md", *report.to_csv(folder / "report.csv")]


_EXAMPLE = '''\
# pexsurv analysis configuration: run it with `pexsurv fit {name}`.
# The data ({csv}) is the SYNTHETIC CT041-like trial packaged with pexsurv
# (not the real trial data). Every key is checked before any fitting; an unknown key or
# value is an error listing the valid ones.

endpoint = "OS"        # label of the endpoint: fits are saved as <endpoint>_<population>.nc
# Populations (TrialData methods): itt, treated, per_protocol, from_treatment_start,
# exclude_switchers, as_treated. Each one is fitted and saved.
populations = ["itt", "treated", "per_protocol"]
output = "results"     # output folder, relative to this file

[data]                 # the data file and its columns (TrialData.from_dataframe arguments)
path = "{csv}"         # .csv, or .parquet (needs pyarrow)
time = "os_time"       # follow-up time, in the unit of the report (months here)
event = "os_event"     # 1 = event; or give censored = "CNSR" (ADaM: 1 = censored)
arm = "arm"
reference = "control"  # value of arm naming the control arm
id = "id"
treatment_start = "treatment_start"  # NaN = never treated (treated, from_treatment_start)
switch_time = "switch_time"          # crossover time, NaN = never (per_protocol, RPSFT)
censor_time = "censor_time"          # potential administrative censoring time
# strata = "region"                  # needed by [model] strata = true
# covariates = ["age", "ecog"]       # loaded covariates (numeric, or text categories)
# categorical = ["ecog"]             # covariates to treat as categories

[model]
type = "pem"           # "pem" (piecewise exponential) or "rpsft" (Bayesian RPSFT, OS with
                       # crossover: psi_range, grid_size, test, recensor, autoswitch,
                       # treat_modifier, n_psi_draws)
# Cut points of the baseline hazard: a list such as [3.0, 6.0, 12.0], or a rule applied to
# the ITT events: {{ rule = "equal_events", k = 8 }} or {{ rule = "fixed_width", width = 3.0 }}
cuts = {{ rule = "equal_events", k = 4 }}
effect = "ph"          # "ph" (one hazard ratio) or "piecewise" (one per period)
exposure = "assigned"  # or "received" (effect only while on experimental therapy)
# strata = true        # one baseline per stratum
# covariates = ["age"] # adjust for these (listed in [data] covariates)

# Priors by graph name (log_hr, log_hazard_base, log_hr_scale, beta; rpsft: psi), written
# as in pexsurv.priors TOML files. Unset priors take the data-driven defaults.
[priors.log_hr]
dist = "Normal"
mu = 0.0
sigma = 1.0

[sampler]              # pexsurv.fitting.SamplerConfig fields
draws = 1000           # per chain
tune = 1000
chains = 4
seed = 1               # the same seed reproduces the fits bit for bit
# sampler = "nutpie"   # or "pymc", "numpyro"
# target_accept = 0.9

[report]               # hazard-ratio report options
time_unit = "months"
thresholds = [1.0, 0.8]  # P(HR < threshold) is reported for each
milestones = [6.0, 12.0] # survival per arm at these times
'''


def example_config(name: str = "analysis.toml", csv: str = "ct041_like.csv") -> str:
    """The commented example configuration ``pexsurv init`` writes (OS of the packaged
    synthetic CT041-like trial).

    Examples
    --------
    >>> import tomllib
    >>> tomllib.loads(example_config())["populations"]
    ['itt', 'treated', 'per_protocol']
    """
    return _EXAMPLE.format(name=name, csv=csv)


def write_example(folder: str | Path = ".", name: str = "analysis.toml",
                  *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write the example configuration and the packaged CT041-like CSV it reads into
    ``folder``; refuses to replace existing files unless ``overwrite``.

    Returns
    -------
    (Path, Path)
        The configuration and the CSV written.
    """
    from pexsurv.datasets import CT041_LIKE_PATH

    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder")
    toml_path, csv_path = folder / name, folder / CT041_LIKE_PATH.name
    existing = [str(p) for p in (toml_path, csv_path) if p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"{', '.join(existing)} already exist(s); choose another folder or "
                          "pass --force to overwrite")
    toml_path.write_text(example_config(name, csv_path.name))
    shutil.copyfile(CT041_LIKE_PATH, csv_path)
    return toml_path, csv_path
