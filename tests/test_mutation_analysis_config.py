"""The analysis configuration (pexsurv/workflows/config.py): what a user's TOML for
``pexsurv fit`` becomes. A wrong default, a key silently ignored, a population or prior routed
to the wrong place, a cut rule misread or a sampler setting dropped would change the headline
number without an error (issue 18; record in benchmarks/mutation.md, section
``pexsurv/workflows/config.py``).

The module is loaded from its file (``tests/isolated.py``); every key is checked by its whole
effect on the built model specification, sampler configuration and populations (compared with
objects built directly from the documented meaning of the key), every refusal by its whole
message. ``run`` uses stand-ins for ``compile_spec``, ``fit`` and ``hazard_ratio_report``
(replaced where ``run`` looks them up, in ``pexsurv.fitting`` and
``pexsurv.workflows.report``), so nothing is sampled.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import warnings
from pathlib import Path
from types import MappingProxyType, SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from isolated import load

import pexsurv.fitting
import pexsurv.workflows.report
from pexsurv import TrialData
from pexsurv.datasets import CT041_LIKE_PATH
from pexsurv.fitting import ConvergenceWarning, SamplerConfig, StageRun, default_config
from pexsurv.intervals import equal_events
from pexsurv.models import RPSFT, PiecewiseExponential
from pexsurv.priors import HalfNormal, Normal

C = load("pexsurv/workflows/config.py")
AnalysisConfig, ConfigError = C.AnalysisConfig, C.ConfigError

COLUMNS = {"time": "os_time", "event": "os_event", "arm": "arm", "reference": "control",
           "id": "id", "treatment_start": "treatment_start", "switch_time": "switch_time",
           "censor_time": "censor_time"}
POPS = ("itt", "treated", "per_protocol", "from_treatment_start", "exclude_switchers",
        "as_treated")
TOP = "endpoint, populations, output, data, model, priors, sampler, report"
DATA_KEYS = ("path, time, event, censored, arm, reference, id, treatment_start, switch_time, "
             "censor_time, strata, covariates, categorical")
PEM_KEYS = "type, cuts, effect, effect_cuts, strata, covariates, exposure, likelihood"
RPSFT_KEYS = ("type, cuts, psi_range, grid_size, test, recensor, autoswitch, treat_modifier, "
              "n_psi_draws")
SAMPLER_KEYS = "sampler, draws, tune, chains, target_accept, seed, progress, method, options"
REPORT_KEYS = "thresholds, milestones, horizon, time_unit, checks, seed"
CUT_RULES = ('{ rule = "equal_events", k }, '
             '{ rule = "fixed_width", width , max_time }')


def frame() -> pd.DataFrame:
    """40 patients of the packaged CT041-like trial: 5 control switchers (one at time 0, so
    per_protocol warns), 3 never treated; stratum "C" holds exactly the switchers (so
    exclude_switchers loses a stratum), a numeric and a text covariate."""
    df = pd.read_csv(CT041_LIKE_PATH).iloc[:40].copy()
    df.loc[df["id"] == 5, "switch_time"] = 0.0
    df["cnsr"] = 1 - df["os_event"]
    df["region"] = np.where(df["switch_time"].notna(), "C", np.where(df["id"] % 2, "A", "B"))
    df["age"] = 40.0 + df["id"]
    df["ecog"] = np.where(df["id"] % 3, "0", "1")
    return df


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("analysis_config")
    df = frame()
    df.to_csv(folder / "trial.csv", index=False)
    df.drop(columns=["switch_time"]).to_csv(folder / "noswitch.csv", index=False)
    df.assign(switch_time=np.nan).to_csv(folder / "nanswitch.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def itt(folder) -> TrialData:
    return TrialData.from_csv(folder / "trial.csv", **COLUMNS)


def raw(**changes) -> dict:
    """A valid configuration dict; ``changes`` replace (None removes) top-level keys."""
    out = {"endpoint": "OS", "populations": ["itt"], "data": {"path": "trial.csv", **COLUMNS},
           "model": {"type": "pem", "cuts": [3.0, 6.0]}}
    for key, value in changes.items():
        if value is None:
            out.pop(key)
        else:
            out[key] = value
    return out


def config(folder, **changes) -> AnalysisConfig:
    return AnalysisConfig.from_dict(raw(**changes), base=folder)


def refused(message: str, build) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert str(info.value) == message


def refused_dict(folder, message: str, **changes) -> None:
    refused(message, lambda: config(folder, **changes))


# ----------------------------------------------------------------------- module constants
def test_populations_route_each_name_to_its_trialdata_method():
    assert tuple(C.POPULATIONS) == POPS
    for name in POPS:
        assert C.POPULATIONS[name] is getattr(TrialData, name)
    with pytest.raises(TypeError):
        C.POPULATIONS["itt"] = TrialData.treated


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


# ----------------------------------------------------------------------- _unknown, read_toml
def test_unknown_names_every_bad_key_sorted_and_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        C._unknown("[x]", {"zz": 2, "a": 1, "b": 3, "ok": 4}, ("ok", "other"))
    assert str(info.value) == "[x]: unknown key(s) ['a', 'b', 'zz']; valid keys: ok, other"
    assert C._unknown("[x]", {}, ("ok",)) is None
    assert C._unknown("[x]", {"ok": 1, "other": 2}, ("ok", "other")) is None


def test_read_toml_missing_file_names_it_and_the_hint(tmp_path):
    path = tmp_path / "none.toml"
    refused(f"{path}: no such sweep file (see X)", lambda: C.read_toml(path, "sweep", "see X"))
    (tmp_path / "dir.toml").mkdir()
    refused(f"{tmp_path / 'dir.toml'}: no such a file (h)",
            lambda: C.read_toml(tmp_path / "dir.toml", "a", "h"))


def test_read_toml_invalid_toml_names_the_file_and_the_parser_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("a = \n")
    with pytest.raises(tomllib.TOMLDecodeError) as parser:
        tomllib.loads("a = \n")
    with pytest.raises(ConfigError) as info:
        C.read_toml(str(path), "sweep", "h")
    assert str(info.value) == f"{path}: not valid TOML: {parser.value}"
    assert isinstance(info.value.__cause__, tomllib.TOMLDecodeError)


def test_read_toml_keys_and_required(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('x = 1\ny = "b"\n[t]\nz = 2\n')
    assert C.read_toml(path, "k", "h") == {"x": 1, "y": "b", "t": {"z": 2}}
    # keys not given: anything goes; given: every other top-level key is refused
    assert C.read_toml(path, "k", "h", keys=["x", "y", "t"], required=["x", "t"]) == \
        {"x": 1, "y": "b", "t": {"z": 2}}
    refused(f"{path}: unknown key(s) ['t', 'y']; valid keys: x, q",
            lambda: C.read_toml(path, "k", "h", keys=("x", "q")))
    refused(f"{path}: missing required key 'q'",
            lambda: C.read_toml(path, "k", "h", required=["x", "q"]))
    refused(f"{path}: missing required key 'q'",
            lambda: C.read_toml(path, "k", "h", required=["q", "x"]))


# ----------------------------------------------------------------------- _table, _checked
def test_table_defaults_to_empty_and_refuses_a_value():
    assert C._table({"a": {"b": 1}}, "a") == {"b": 1}
    assert type(C._table({"a": MappingProxyType({"b": 1})}, "a")) is dict
    assert C._table({}, "a") == {}
    refused("[a] must be a table (a [a] section), got 3", lambda: C._table({"a": 3}, "a"))


def _raise(exc):
    def build():
        raise exc
    return build


def test_checked_returns_the_value_and_names_the_key_in_lower_layer_errors():
    assert C._checked("[k]", lambda: 5) == 5
    for exc, text in ((ValueError("bad v"), "[k]: bad v"), (TypeError("bad t"), "[k]: bad t"),
                      (KeyError("no x"), "[k]: no x"),  # the KeyError text, not its repr
                      (KeyError("first", "second"), "[k]: first"),
                      (KeyError(), "[k]: "),
                      (ValueError("a", "b"), "[k]: ('a', 'b')")):
        with pytest.raises(ConfigError) as info:
            C._checked("[k]", _raise(exc))
        assert str(info.value) == text
        assert info.value.__cause__ is exc


def test_checked_passes_a_config_error_through_unchanged():
    exc = ConfigError("already named")
    with pytest.raises(ConfigError) as info:
        C._checked("[k]", _raise(exc))
    assert info.value is exc


def test_checked_lets_other_errors_through():
    with pytest.raises(ZeroDivisionError):
        C._checked("[k]", lambda: 1 / 0)


# ----------------------------------------------------------------------- dataclasses
def test_dataclass_defaults_and_frozen(folder):
    c = AnalysisConfig(endpoint="OS", populations=("itt",), data={"path": "x.csv"},
                       model={"cuts": [1.0]})
    assert (c.priors, c.sampler, c.report, c.output, c.base, c.source) == \
        ({}, {}, {}, "results", Path("."), None)
    p = C.Prepared(data={}, spec=None, cuts=())
    r = C.AnalysisRun(results={}, report=None, files=(), compiles=0)
    for obj, name in ((c, "endpoint"), (p, "cuts"), (r, "compiles")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, name, 1)


# ----------------------------------------------------------------------- from_toml / from_dict
def test_from_toml_paths_are_relative_to_the_file(folder, tmp_path, monkeypatch):
    path = folder / "a.toml"
    path.write_text('endpoint = "PFS"\n[data]\npath = "trial.csv"\ntime = "os_time"\n'
                    'arm = "arm"\n[model]\ncuts = [2.0]\n')
    monkeypatch.chdir(tmp_path)
    c = AnalysisConfig.from_toml(os.path.relpath(path, tmp_path))
    assert c.base == folder.resolve() and c.source == path.resolve()
    assert c == AnalysisConfig(endpoint="PFS", populations=("itt",),
                               data={"path": "trial.csv", "time": "os_time", "arm": "arm"},
                               model={"cuts": [2.0]}, base=folder.resolve(),
                               source=path.resolve())
    assert c.data_path == folder.resolve() / "trial.csv"
    assert c.output_dir == folder.resolve() / "results"


def test_from_toml_missing_file_says_how_to_get_an_example(tmp_path):
    path = tmp_path / "nope.toml"
    refused(f"{path}: no such configuration file (write an example with `pexsurv init`)",
            lambda: AnalysisConfig.from_toml(str(path)))


def test_from_dict_reads_every_top_level_key(folder):
    d = raw(populations=["treated", "itt"], output="out/x", priors={"log_hr": {
        "dist": "Normal", "mu": 0.1, "sigma": 2.0}}, sampler={"draws": 10, "seed": 4},
        report={"time_unit": "weeks", "seed": 2})
    c = AnalysisConfig.from_dict(d, base=str(folder), source=Path("src.toml"))
    assert c == AnalysisConfig(
        endpoint="OS", populations=("treated", "itt"), data=d["data"], model=d["model"],
        priors=d["priors"], sampler={"draws": 10, "seed": 4},
        report={"time_unit": "weeks", "seed": 2}, output="out/x", base=folder,
        source=Path("src.toml"))
    assert isinstance(c.base, Path)


def test_from_dict_defaults(folder):
    c = AnalysisConfig.from_dict(raw(populations=None))
    assert (c.populations, c.output, c.priors, c.sampler, c.report, c.base, c.source) == \
        (("itt",), "results", {}, {}, {}, Path("."), None)


def test_a_single_population_may_be_a_string(folder):
    assert config(folder, populations="treated").populations == ("treated",)


def test_from_dict_refusals(folder):
    refused_dict(folder, f"analysis config: unknown key(s) ['colour']; valid keys: {TOP}",
                 colour="red")
    for key in ("endpoint", "data", "model"):
        refused_dict(folder, f"analysis config: missing required key {key!r}", **{key: None})
    refused_dict(folder, "populations: a list of names, got ('itt',); valid: itt, treated, "
                 "per_protocol, from_treatment_start, exclude_switchers, as_treated",
                 populations=("itt",))
    refused_dict(folder, "[data] must be a table (a [data] section), got 'trial.csv'",
                 data="trial.csv")
    for key in ("model", "priors", "sampler", "report"):
        refused_dict(folder, f"[{key}] must be a table (a [{key}] section), got [1]",
                     **{key: [1]})


def test_from_dict_checks_the_values(folder):
    # check() runs: a bad value is refused by from_dict itself
    refused_dict(folder, "output: a folder name is needed, got ''", output="")


def test_to_dict_gives_back_the_toml_keys(folder):
    d = raw(populations=["itt", "treated"], output="o", priors={"log_hr": {
        "dist": "Normal", "mu": 0.0, "sigma": 1.0}}, sampler={"draws": 10},
        report={"seed": 1})
    c = AnalysisConfig.from_dict(d, base=folder, source=Path("s.toml"))
    out = c.to_dict()
    assert out == {"endpoint": "OS", "populations": ["itt", "treated"], "output": "o",
                   "data": d["data"], "model": d["model"], "priors": d["priors"],
                   "sampler": {"draws": 10}, "report": {"seed": 1}}
    assert type(out["populations"]) is list
    for key in ("data", "model", "sampler", "report"):
        assert type(out[key]) is dict
    assert type(out["priors"]["log_hr"]) is dict
    frozen = dataclasses.replace(c, priors=MappingProxyType(
        {"log_hr": MappingProxyType({"dist": "Normal"})}))
    assert type(frozen.to_dict()["priors"]["log_hr"]) is dict
    assert AnalysisConfig.from_dict(out, base=folder, source=Path("s.toml")) == c


# ----------------------------------------------------------------------- check(): each key
@pytest.mark.parametrize("endpoint", ["O S", "", "_OS", "OS!", 5, ["OS"]])
def test_endpoint_must_be_a_label(folder, endpoint):
    refused_dict(folder, f"endpoint: {endpoint!r} is not a label of letters, digits, '_', '.', "
                 "'-' (it names the output files), e.g. \"OS\"", endpoint=endpoint)


@pytest.mark.parametrize("endpoint", ["OS", "pfs.v2-1_a", "9"])
def test_labels_accepted(folder, endpoint):
    assert config(folder, endpoint=endpoint).endpoint == endpoint


def test_population_refusals(folder):
    valid = "valid: itt, treated, per_protocol, from_treatment_start, exclude_switchers, as_treated"
    refused_dict(folder, f"populations: unknown population(s) ['mitt', 'pp']; {valid}",
                 populations=["itt", "mitt", "pp"])
    refused_dict(folder, f"populations: unknown population(s) (none given); {valid}",
                 populations=[])
    refused_dict(folder, "populations: listed twice in ['itt', 'treated', 'itt']",
                 populations=["itt", "treated", "itt"])
    assert config(folder, populations=list(POPS)).populations == POPS


@pytest.mark.parametrize("output", ["", 3, None])
def test_output_must_be_a_folder_name(folder, output):
    c = raw()
    c["output"] = output
    refused(f"output: a folder name is needed, got {output!r}",
            lambda: AnalysisConfig.from_dict(c, base=folder))


def test_data_refusals(folder):
    refused_dict(folder, f"[data]: unknown key(s) ['tim']; valid keys: {DATA_KEYS}",
                 data={"path": "trial.csv", "tim": "os_time", "time": "t", "arm": "arm"})
    for key in ("path", "time", "arm"):
        data = {"path": "trial.csv", "time": "os_time", "arm": "arm"}
        del data[key]
        refused_dict(folder, f"[data]: missing required key {key!r}", data=data)
    for name, suffix in (("trial.txt", "'.txt'"), ("trial", "'no extension'"),
                         ("trial.csv.gz", "'.gz'")):
        refused_dict(folder, f"[data] path: {name}: read .csv or .parquet files only, got "
                     f"{suffix}", data={"path": name, "time": "t", "arm": "a"})
    for name in ("x.CSV", "x.csv", "x.Parquet"):
        assert config(folder, data={"path": name, "time": "t", "arm": "a"}).data_path == \
            folder / name


def test_parquet_needs_a_reader(folder, monkeypatch):
    asked = []

    real = C.importlib.util.find_spec

    def find_spec(name, *args):
        if name not in ("pyarrow", "fastparquet"):
            return real(name, *args)
        asked.append(name)
        return object() if name in found else None

    monkeypatch.setattr(C.importlib.util, "find_spec", find_spec)
    data = {"path": "sub/t.parquet", "time": "t", "arm": "a"}
    found = ()
    refused_dict(folder, "[data] path: reading t.parquet needs the 'pyarrow' package (or "
                 "'fastparquet'), which is not installed: pip install pyarrow, or save the "
                 "data as CSV", data=data)
    assert asked[:2] == ["pyarrow", "fastparquet"]
    for found in (("pyarrow",), ("fastparquet",)):
        assert config(folder, data=data).data == data
    asked.clear()
    found = ()
    config(folder)  # a CSV needs no reader
    assert "pyarrow" not in asked and "fastparquet" not in asked


def test_model_type_and_its_keys(folder):
    refused_dict(folder, "[model] type: 'cox'; valid: pem, rpsft",
                 model={"type": "cox", "cuts": [1.0]})
    refused_dict(folder, f"[model] (type 'pem'): unknown key(s) ['psi_range']; valid keys: "
                 f"{PEM_KEYS}", model={"cuts": [1.0], "psi_range": [-1, 1]})
    refused_dict(folder, f"[model] (type 'rpsft'): unknown key(s) ['effect']; valid keys: "
                 f"{RPSFT_KEYS}", model={"type": "rpsft", "cuts": [1.0], "effect": "ph"})
    refused_dict(folder, "[model]: missing required key 'cuts' (a list of cut points, or a rule "
                 "such as { rule = \"equal_events\", k = 8 })", model={"type": "pem"})


@pytest.mark.parametrize("cuts", ["equal_events", {"rule": "quantiles", "k": 3}, {"k": 3}, 3.0,
                                  ("a",)])
def test_a_cut_rule_must_be_known(folder, cuts):
    refused_dict(folder, f"[model] cuts: {cuts!r}; give a list of cut points or a rule: "
                 + CUT_RULES, model={"cuts": cuts})


def test_cut_rule_keys(folder):
    refused_dict(folder, "[model] cuts (rule 'equal_events'): unknown key(s) ['width']; valid "
                 "keys: rule, k", model={"cuts": {"rule": "equal_events", "width": 2.0}})
    refused_dict(folder, "[model] cuts (rule 'fixed_width'): unknown key(s) ['k']; valid keys: "
                 "rule, width, max_time", model={"cuts": {"rule": "fixed_width", "k": 2}})
    refused_dict(folder, "[model] cuts: rule \"fixed_width\" needs width = <time units> "
                 "(max_time defaults to the longest follow-up)",
                 model={"cuts": {"rule": "fixed_width", "max_time": 9.0}})
    for cuts in ({"rule": "equal_events"}, {"rule": "equal_events", "k": 3},
                 {"rule": "fixed_width", "width": 2.0},
                 {"rule": "fixed_width", "width": 2.0, "max_time": 9.0}, [], [1.0]):
        assert config(folder, model={"cuts": cuts}).model["cuts"] == cuts


def test_prior_refusals(folder):
    refused_dict(folder, "[priors] log_hr: must be a table like [priors.log_hr] with a 'dist' "
                 "key", priors={"log_hr": 1.0})
    refused_dict(folder, "[priors] log_hr: unknown PriorSpec family 'Nope'; valid: AR1, "
                 "Exponential, Gamma, GammaHazard, HalfNormal, IndependentNormal, Normal, "
                 "RandomWalk, StudentT, Uniform", priors={"log_hr": {"dist": "Nope"}})


def test_prior_specs_read_each_table(folder):
    c = config(folder, priors={"log_hr": {"dist": "Normal", "mu": 0.2, "sigma": 0.5},
                               "log_hr_scale": {"dist": "HalfNormal", "sigma": 0.3}},
               model={"cuts": [1.0], "effect": "piecewise"})
    assert c._prior_specs() == {"log_hr": Normal(0.2, 0.5), "log_hr_scale": HalfNormal(0.3)}
    assert config(folder)._prior_specs() == {}


def test_report_refusals(folder):
    refused_dict(folder, f"[report]: unknown key(s) ['unit']; valid keys: {REPORT_KEYS}",
                 report={"unit": "months"})
    cases = {"thresholds": ("a list of positive numbers", [[1.0, 0], [1, -0.5], [True], 1.0,
                                                           (1.0,), ["1"]]),
             "milestones": ("a list of positive numbers", [[6.0, 0.0], [False], 6, ["6"]]),
             "horizon": ("a positive number", [0, 0.0, -1.0, True, "12", [12]]),
             "time_unit": ("a text such as \"months\"", [1, None, ["months"]]),
             "checks": ("true or false", [1, 0, "yes"]),
             "seed": ("a non-negative integer", [-1, True, False, 1.0, "1"])}
    for key, (what, values) in cases.items():
        for value in values:
            refused_dict(folder, f"[report] {key}: must be {what}, got {value!r}",
                         report={key: value})


def test_report_values_accepted(folder):
    report = {"thresholds": [1, 0.8, 1e-9], "milestones": [], "horizon": 1, "time_unit": "",
              "checks": False, "seed": 0}
    assert config(folder, report=report).report == report
    assert config(folder, report={"horizon": 0.5, "checks": True, "seed": 7}).report == \
        {"horizon": 0.5, "checks": True, "seed": 7}


def test_sampler_refusals(folder):
    refused_dict(folder, f"[sampler]: unknown key(s) ['draw']; valid keys: {SAMPLER_KEYS}",
                 sampler={"draw": 10})
    refused_dict(folder, "[sampler]: target_accept must be in (0, 1), got 1.5",
                 sampler={"target_accept": 1.5})
    refused_dict(folder, "[sampler]: sampler must be one of ('nutpie', 'pymc', 'numpyro'), got "
                 "'stan'", sampler={"sampler": "stan"})


def test_model_options_are_checked_before_the_data(folder):
    # no data file: the model's own options fail first, naming [model] (and [priors])
    data = {"path": "missing.csv", "time": "t", "arm": "a"}
    refused_dict(folder, "[model]: effect must be one of ('ph', 'piecewise'), got 'ph2'",
                 data=data, model={"cuts": [1.0], "effect": "ph2"})
    # (a KeyError's text, without the quotes of its repr)
    refused_dict(folder, "[model]/[priors]: unknown prior key(s) ['psi']; valid keys: "
                 "['log_hazard_base', 'log_hr']",
                 data=data, priors={"psi": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}})
    refused_dict(folder, "[model]: grid_size must be >= 101 for an accurate grid posterior",
                 data=data, model={"type": "rpsft", "cuts": [1.0], "grid_size": 2})


# ----------------------------------------------------------------------- _spec
def unchecked(folder, **changes) -> AnalysisConfig:
    """The configuration without check(): effect_cuts cannot pass check() (see
    test_effect_cuts_among_the_listed_cuts_are_accepted)."""
    d = raw(**changes)
    return AnalysisConfig(endpoint=d["endpoint"], populations=tuple(d["populations"]),
                          data=d["data"], model=d["model"], priors=d.get("priors", {}),
                          base=folder)


def test_pem_spec_takes_every_model_option_and_prior(folder):
    c = unchecked(folder, model={"type": "pem", "cuts": [1.0], "effect": "piecewise",
                                 "effect_cuts": [4.0], "strata": True, "covariates": ["age"],
                                 "exposure": "received", "likelihood": "episodes"},
                  priors={"log_hr": {"dist": "Normal", "mu": 0.0, "sigma": 0.5}})
    spec = c._spec((2.0, 4.0))
    assert spec == PiecewiseExponential(cuts=(2.0, 4.0), priors={"log_hr": Normal(0.0, 0.5)},
                                        effect="piecewise", effect_cuts=(4.0,), strata=True,
                                        covariates=("age",), exposure="received",
                                        likelihood="episodes")
    # the TOML lists become tuples (the spec is hashed and compared by them)
    assert type(spec.covariates) is tuple and type(spec.effect_cuts) is tuple
    assert c.model["covariates"] == ["age"]  # the configuration is not changed


def test_pem_is_the_default_model(folder):
    spec = config(folder, model={"cuts": [1.0]})._spec((1.5,))
    assert spec == PiecewiseExponential(cuts=(1.5,))
    spec = unchecked(folder, model={"cuts": [1.0], "covariates": ("age",),
                                    "effect": "piecewise", "effect_cuts": (1.5,)})._spec((1.5,))
    assert spec == PiecewiseExponential(cuts=(1.5,), covariates=("age",), effect="piecewise",
                                        effect_cuts=(1.5,))


def test_effect_cuts_among_the_listed_cuts_are_accepted(folder):
    # Was refused before session 9's fix: check() built the model with placeholder cuts (1.0,).
    c = config(folder, model={"cuts": [3.0, 6.0], "effect": "piecewise", "effect_cuts": [6.0]})
    assert c.validate().spec.effect_cuts == (6.0,)


def test_rpsft_spec_routes_psi_prior_and_the_stage2_priors(folder):
    c = config(folder, model={"type": "rpsft", "cuts": [1.0], "psi_range": [-1.5, 0.5],
                              "grid_size": 101, "test": "weibull", "recensor": False,
                              "autoswitch": False, "treat_modifier": 0.5, "n_psi_draws": 20},
               priors={"psi": {"dist": "Normal", "mu": -0.2, "sigma": 0.3},
                       "log_hr": {"dist": "Normal", "mu": 0.0, "sigma": 2.0}})
    spec = c._spec((3.0,))
    assert spec == RPSFT(cuts=(3.0,), psi_prior=Normal(-0.2, 0.3), psi_range=(-1.5, 0.5),
                         grid_size=101, test="weibull", recensor=False, autoswitch=False,
                         treat_modifier=0.5, n_psi_draws=20,
                         pem_priors={"log_hr": Normal(0.0, 2.0)})
    assert type(spec.psi_range) is tuple
    assert set(c.priors) == {"psi", "log_hr"}  # popped from a copy only
    alone = config(folder, model={"type": "rpsft", "cuts": [1.0]},
                   priors={"psi": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}})._spec((3.0,))
    assert alone == RPSFT(cuts=(3.0,), psi_prior=Normal(0.0, 1.0))
    assert config(folder, model={"type": "rpsft", "cuts": [1.0]})._spec((3.0,)) == \
        RPSFT(cuts=(3.0,))


def test_rpsft_spec_refusals_name_model_or_priors(folder):
    c = config(folder, model={"type": "rpsft", "cuts": [1.0]},
               priors={"psi": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}})
    refused("[model]: cut points must be sorted increasingly, got [2.0, 1.0]",
            lambda: c._spec((2.0, 1.0)))
    c = config(folder, model={"type": "rpsft", "cuts": [1.0]},
               priors={"log_hr": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}})
    refused("[model]/[priors]: cut points must be sorted increasingly, got [2.0, 1.0]",
            lambda: c._spec((2.0, 1.0)))
    refused("[model]: cut points must be sorted increasingly, got [2.0, 1.0]",
            lambda: config(folder)._spec((2.0, 1.0)))


# ----------------------------------------------------------------------- load_data, _cuts
def test_load_data_reads_the_csv_with_the_column_mapping(folder, itt):
    c = config(folder, data={"path": "trial.csv", **COLUMNS, "strata": "region",
                             "covariates": ["age", "ecog"], "categorical": ["ecog"]})
    d = c.load_data()
    expected = TrialData.from_dataframe(frame(), **COLUMNS, strata="region",
                                        covariates=["age", "ecog"], categorical=["ecog"])
    for name in ("time", "event", "arm", "treatment_start", "switch_time", "censor_time",
                 "strata"):
        np.testing.assert_array_equal(getattr(d, name), getattr(expected, name))
    np.testing.assert_array_equal(d.id.astype(str), expected.id.astype(str))
    assert d.arms == ("control", "car-t")
    np.testing.assert_array_equal(d.covariates["age"], expected.covariates["age"])
    np.testing.assert_array_equal(d.covariates["ecog"], expected.covariates["ecog"])
    # censored = "cnsr" (ADaM) instead of event
    data = {k: v for k, v in c.data.items() if k != "event"} | {"censored": "cnsr"}
    np.testing.assert_array_equal(config(folder, data=data).load_data().event, itt.event)


def test_load_data_reads_parquet_like_csv(folder, itt, tmp_path):
    pytest.importorskip("pyarrow")
    frame().to_parquet(tmp_path / "trial.PARQUET")
    c = AnalysisConfig.from_dict(raw(data={"path": "trial.PARQUET", **COLUMNS}), base=tmp_path)
    d = c.load_data()
    np.testing.assert_array_equal(d.time, itt.time)
    np.testing.assert_array_equal(d.switch_time, itt.switch_time)
    # a parquet file that is not one: the reader's error, named
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(ConfigError, match=r"^\[data\]: ") as info:
        AnalysisConfig.from_dict(raw(data={"path": "bad.parquet", **COLUMNS}),
                                 base=tmp_path).load_data()
    assert info.value.__cause__ is not None


def test_load_data_refusals(folder):
    c = config(folder, data={"path": "none.csv", **COLUMNS})
    refused(f"[data] path: {folder / 'none.csv'}: no such file", c.load_data)
    refused(f"[data] path: {folder / 'none.csv'}: no such file", c.validate)
    c = config(folder, data={"path": "trial.csv", **COLUMNS, "time": "OS_TIME"})
    with pytest.raises(ConfigError, match=r"^\[data\]: .*OS_TIME"):
        c.load_data()


def test_cuts_from_a_list_or_a_rule(folder, itt):
    assert config(folder, model={"cuts": [2, 5.5]})._cuts(itt) == (2, 5.5)
    for k in (2, 3, 5):
        got = config(folder, model={"cuts": {"rule": "equal_events", "k": k}})._cuts(itt)
        assert got == tuple(equal_events(itt, k=k).tolist()) and len(got) == k - 1
        assert all(type(c) is float for c in got)
    default = config(folder, model={"cuts": {"rule": "equal_events"}})._cuts(itt)
    assert default == tuple(equal_events(itt, k=8).tolist()) and len(default) == 7
    # fixed width: every multiple of the width below the longest follow-up (28.9 here)
    longest = float(frame()["os_time"].max())
    assert 28.0 < longest < 32.0
    got = config(folder, model={"cuts": {"rule": "fixed_width", "width": 4.0}})._cuts(itt)
    assert got == (4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0)
    assert all(type(c) is float for c in got)
    got = config(folder, model={"cuts": {"rule": "fixed_width", "width": 3,
                                         "max_time": 10}})._cuts(itt)
    assert got == (3.0, 6.0, 9.0) and all(type(c) is float for c in got)


def test_cut_rule_errors_name_the_key(folder, itt):
    refused("[model] cuts: width and max_time must be > 0, got width=-1.0, max_time=5.0",
            lambda: config(folder, model={"cuts": {"rule": "fixed_width", "width": -1.0,
                                                   "max_time": 5.0}})._cuts(itt))
    with pytest.raises(ConfigError, match=r"^\[model\] cuts: "):
        config(folder, model={"cuts": {"rule": "equal_events", "k": 0}})._cuts(itt)


# ----------------------------------------------------------------------- validate / prepare
def same_population(got: TrialData, expected: TrialData) -> None:
    assert (got.n, got.arms, got.population, got.origin) == \
        (expected.n, expected.arms, expected.population, expected.origin)
    for name in ("id", "time", "event", "arm"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))


def test_validate_builds_every_population_the_cuts_and_the_spec(folder, itt):
    c = config(folder, populations=list(POPS), model={"cuts": {"rule": "equal_events", "k": 3}},
               priors={"log_hr": {"dist": "Normal", "mu": 0.0, "sigma": 0.7}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # per_protocol's exclusion warning is silenced
        prepared = c.validate()
    assert tuple(prepared.data) == POPS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for name in POPS:
            same_population(prepared.data[name], getattr(itt, name)())
    # the six populations differ, so a population routed to another method is seen
    assert len({(d.n, float(d.time.sum()), d.arms) for d in prepared.data.values()}) == 6
    cuts = tuple(equal_events(itt, k=3).tolist())
    assert prepared.cuts == cuts
    assert prepared.spec == PiecewiseExponential(cuts=cuts, priors={"log_hr": Normal(0.0, 0.7)})
    with pytest.raises(TypeError):
        prepared.data["itt"] = itt  # read-only
    # the population order is the configuration's
    assert tuple(config(folder, populations=["treated", "itt"]).validate().data) == \
        ("treated", "itt")


def test_prepare_uses_the_data_given(folder, itt):
    c = config(folder, data={"path": "none.csv", **COLUMNS}, populations=["treated"],
               model={"cuts": {"rule": "fixed_width", "width": 10.0}})
    prepared = c.prepare(itt.treated())
    assert prepared.cuts == (10.0, 20.0)  # the longest treated follow-up is 28.9 too
    assert prepared.data["treated"].n == 37


def test_a_population_the_data_cannot_give_names_it(folder):
    c = config(folder, data={"path": "trial.csv", "time": "os_time", "event": "os_event",
                             "arm": "arm", "reference": "control"},
               populations=["itt", "treated"])
    with pytest.raises(ConfigError) as info:
        c.validate()
    assert str(info.value).startswith("populations: treated: ")
    assert "treatment_start" in str(info.value)


def test_rpsft_needs_switchers(folder):
    c = config(folder, model={"type": "rpsft", "cuts": [3.0]}, populations=["itt", "treated"])
    prepared = c.validate()  # one switcher is enough
    assert prepared.spec == RPSFT(cuts=(3.0,))
    msg = ("[model] on population {!r}: RPSFT needs switchers; give [data] switch_time and a "
           "population that keeps them (itt, treated)")
    refused(msg.format("exclude_switchers"), lambda: config(
        folder, model={"type": "rpsft", "cuts": [3.0]},
        populations=["itt", "exclude_switchers"]).validate())
    for name in ("noswitch.csv", "nanswitch.csv"):
        data = {"path": name, **COLUMNS}
        if name == "noswitch.csv":
            del data["switch_time"]
        refused(msg.format("itt"), lambda d=data: config(
            folder, data=d, model={"type": "rpsft", "cuts": [3.0]}).validate())


def test_pem_checks_on_each_population(folder):
    where = "[model] on population 'itt': "
    refused(where + "strata = true needs [data] strata = \"<column>\"",
            lambda: config(folder, model={"cuts": [3.0], "strata": True}).validate())
    data = {"path": "trial.csv", **COLUMNS, "strata": "region", "covariates": ["ecog"]}
    assert config(folder, data=data, model={"cuts": [3.0], "strata": True}).validate().spec.strata
    refused(where + "covariates ['age', 'sex'] are not loaded; list them in [data] covariates "
            "(loaded: ['ecog'])", lambda: config(folder, data=data, model={
                "cuts": [3.0], "covariates": ["age", "ecog", "sex"]}).validate())
    data["covariates"] = ["ecog", "age"]
    assert config(folder, data=data, model={"cuts": [3.0], "covariates": ["age"]}).validate()
    refused(where + "covariates ['age'] are not loaded; list them in [data] covariates "
            "(loaded: [])", lambda: config(folder, model={
                "cuts": [3.0], "covariates": ["age"]}).validate())


def test_received_exposure_needs_a_treatment_or_switch_time(folder):
    base = {"path": "trial.csv", "time": "os_time", "event": "os_event", "arm": "arm",
            "reference": "control"}
    model = {"cuts": [3.0], "exposure": "received"}
    refused("[model] on population 'itt': exposure = \"received\" needs [data] treatment_start "
            "or switch_time", lambda: config(folder, data=base, model=model).validate())
    for extra in ({"treatment_start": "treatment_start"}, {"switch_time": "switch_time"}):
        spec = config(folder, data=base | extra, model=model).validate().spec
        assert spec.exposure == "received"


# ----------------------------------------------------------------------- sampler_config
def test_sampler_config_is_the_model_types_defaults_with_the_settings(folder):
    pem, rpsft = PiecewiseExponential(cuts=(1.0,)), RPSFT(cuts=(1.0,))
    c = config(folder, sampler={"draws": 10, "seed": 3, "chains": 2})
    assert c.sampler_config(pem) == SamplerConfig(draws=10, seed=3, chains=2)
    assert c.sampler_config(pem, progress=False) == \
        SamplerConfig(draws=10, seed=3, chains=2, progress=False)
    assert config(folder).sampler_config(rpsft) == default_config(rpsft)
    assert config(folder).sampler_config(rpsft).draws == 250  # RPSFT's own default
    assert config(folder, sampler={"progress": False}).sampler_config(pem).progress is False
    assert config(folder, sampler={"progress": False}).sampler_config(
        pem, progress=True).progress is False
    assert c.sampler == {"draws": 10, "seed": 3, "chains": 2}  # not changed by progress=False
    bad = dataclasses.replace(c, sampler={"method": "advi", "chains": 2})
    with pytest.raises(ConfigError, match=r"^\[sampler\]: method='advi' cannot honour"):
        bad.sampler_config(pem)


# ----------------------------------------------------------------------- run (stand-in fits)
class FakeResult:
    def __init__(self, i: int) -> None:
        self.i = i
        self.convergence = SimpleNamespace(headline=f"headline {i}")

    def save(self, path: Path) -> Path:
        path.write_text(f"fit {self.i}")
        return path


class FakeReport:
    def to_html(self, path: Path) -> Path:
        path.write_text("html")
        return path

    def to_markdown(self) -> str:
        return "# markdown"

    def to_csv(self, path: Path) -> list[Path]:
        path.write_text("csv")
        return [path, path.with_name("report_periods.csv")]


class Stand:
    """``compile_spec``, ``fit`` and ``hazard_ratio_report`` stand-ins recording their calls."""

    def __init__(self) -> None:
        self.compiled, self.fits, self.reports = [], [], []

    def compile_spec(self, spec, data, config):
        token = f"compiled {len(self.compiled)}"
        self.compiled.append((spec, data, config, token))
        return token

    def fit(self, spec, data, *, sampler, compiled):
        self.fits.append((spec, data, sampler, compiled))
        # run() silences the verdict's warning (the CLI prints it once); filterwarnings=error
        warnings.warn("did not converge (stand-in)", ConvergenceWarning, stacklevel=2)
        return FakeResult(len(self.fits))

    def report(self, results, **options):
        self.reports.append((results, options))
        return FakeReport()


@pytest.fixture
def stand(monkeypatch) -> Stand:
    stand = Stand()
    monkeypatch.setattr(pexsurv.fitting, "compile_spec", stand.compile_spec)
    monkeypatch.setattr(pexsurv.fitting, "fit", stand.fit)
    monkeypatch.setattr(pexsurv.workflows.report, "hazard_ratio_report", stand.report)
    return stand


def write_config(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(body)
    return path


TOML = '''endpoint = "OS"
populations = ["itt", "treated"]
output = "{output}"
[data]
path = "trial.csv"
time = "os_time"
event = "os_event"
arm = "arm"
reference = "control"
id = "id"
treatment_start = "treatment_start"
switch_time = "switch_time"
censor_time = "censor_time"
[model]
cuts = [3.0, 6.0]
[priors.log_hr]
dist = "Normal"
mu = 0.0
sigma = 0.5
[sampler]
draws = 10
seed = 3
[report]
thresholds = [1.0, 0.7]
milestones = [6.0]
time_unit = "weeks"
'''


def test_run_fits_each_population_on_one_compiled_model_and_saves_everything(folder, itt,
                                                                               stand):
    source = write_config(folder, "run.toml", TOML.format(output="out/deep"))
    c = AnalysisConfig.from_toml(source)
    lines = []
    run = c.run(progress=False, echo=lines.append)
    out = folder / "out" / "deep"
    spec = PiecewiseExponential(cuts=(3.0, 6.0), priors={"log_hr": Normal(0.0, 0.5)})
    sampler = SamplerConfig(draws=10, seed=3, progress=False)
    # one compilation, on the first population, handed to every fit
    assert len(stand.compiled) == 1 and run.compiles == 1
    cspec, cdata, cconfig, token = stand.compiled[0]
    assert cspec == spec and cconfig == sampler
    same_population(cdata, itt)
    assert [f[3] for f in stand.fits] == [token, token]
    for (fspec, fdata, fsampler, _), expected in zip(stand.fits, (itt, itt.treated())):
        assert fspec == spec and fsampler == sampler
        same_population(fdata, expected)
    assert list(run.results) == ["OS_itt", "OS_treated"]
    assert [r.i for r in run.results.values()] == [1, 2]
    assert isinstance(run.results, MappingProxyType)
    # the report: every fit by label, the endpoint and the [report] options
    (results, options), = stand.reports
    assert list(results) == ["OS_itt", "OS_treated"]
    assert options == {"endpoint": "OS", "thresholds": [1.0, 0.7], "milestones": [6.0],
                       "time_unit": "weeks"}
    assert isinstance(run.report, FakeReport)
    assert run.files == (out / "OS_itt.nc", out / "OS_treated.nc", out / "report.html",
                         out / "report.md", out / "report.csv", out / "report_periods.csv",
                         out / "config.toml", out / "config.json")
    assert (out / "OS_itt.nc").read_text() == "fit 1"
    assert (out / "OS_treated.nc").read_text() == "fit 2"
    assert (out / "report.md").read_text() == "# markdown"
    assert (out / "config.toml").read_text() == source.read_text()
    # the resolved configuration: the keys, the cut points and the sampler used, indented
    text = (out / "config.json").read_text()
    assert text == json.dumps(
        {**c.to_dict(), "resolved": {"cuts": [3.0, 6.0], "sampler": sampler.to_dict()}},
        indent=2, default=str)
    resolved = json.loads(text)
    assert resolved["resolved"]["sampler"]["draws"] == 10
    assert lines == [f"PiecewiseExponential with cuts [3.0, 6.0]; "
                     f"{StageRun.configured('each fit', sampler)}",
                     "[1/2] fitting OS_itt (n = 40)",
                     f"    headline 1; saved {out / 'OS_itt.nc'}",
                     "[2/2] fitting OS_treated (n = 37)",
                     f"    headline 2; saved {out / 'OS_treated.nc'}"]


def test_run_defaults_show_progress_and_stay_silent(folder, stand):
    c = config(folder, output="quiet", sampler={"draws": 10, "seed": 1})
    run = c.run()
    assert stand.fits[0][2] == SamplerConfig(draws=10, seed=1)  # progress left on
    out = folder / "quiet"
    # no source file: no config.toml
    assert run.files == (out / "OS_itt.nc", out / "report.html", out / "report.md",
                         out / "report.csv", out / "report_periods.csv", out / "config.json")
    assert stand.reports[0][1] == {"endpoint": "OS"}
    c.run()  # the folder exists already: fine
    assert len(stand.fits) == 2


def test_run_refuses_an_output_that_is_a_file(folder, stand):
    (folder / "taken").write_text("")
    refused(f"output: {folder / 'taken'} exists and is not a folder",
            lambda: config(folder, output="taken").run())
    assert stand.fits == [] and stand.compiled == []


@pytest.mark.parametrize("model, data", [
    ({"type": "rpsft", "cuts": [3.0]}, {}),
    ({"cuts": [3.0], "exposure": "received"}, {}),
    ({"cuts": [3.0], "covariates": ["age"]}, {"covariates": ["age"]})])
def test_models_that_cannot_share_a_graph_compile_in_each_fit(folder, stand, model, data):
    c = config(folder, model=model, data={"path": "trial.csv", **COLUMNS, **data},
               populations=["itt", "treated"], output="each", sampler={"draws": 10})
    run = c.run(progress=False)
    assert stand.compiled == [] and [f[3] for f in stand.fits] == [None, None]
    assert run.compiles == 2
    spec = stand.fits[0][0]
    if model.get("type") == "rpsft":
        assert stand.fits[0][2] == default_config(spec, draws=10, progress=False)


def test_strata_share_a_graph_per_set_of_stratum_levels(folder, itt, stand):
    data = {"path": "trial.csv", **COLUMNS, "strata": "region"}
    model = {"cuts": [3.0], "strata": True}
    strat = TrialData.from_csv(folder / "trial.csv", **COLUMNS, strata="region")
    assert strat.treated().stratum_levels == strat.stratum_levels == ("A", "B", "C")
    assert strat.exclude_switchers().stratum_levels == ("A", "B")
    run = config(folder, data=data, model=model, populations=["itt", "treated"],
                 output="strata1").run(progress=False)
    assert run.compiles == 1 and [f[3] for f in stand.fits] == ["compiled 0"] * 2
    stand.fits.clear()
    run = config(folder, data=data, model=model,
                 populations=["itt", "exclude_switchers", "treated"],
                 output="strata2").run(progress=False)
    assert run.compiles == 2
    assert [f[3] for f in stand.fits] == ["compiled 1", "compiled 2", "compiled 1"]
    # unstratified: one graph whatever the populations' strata
    run = config(folder, data=data, model={"cuts": [3.0]},
                 populations=["itt", "exclude_switchers"], output="strata3").run(progress=False)
    assert run.compiles == 1


def test_save_report_writes_the_three_files(tmp_path):
    assert C.save_report(FakeReport(), tmp_path) == [
        tmp_path / "report.html", tmp_path / "report.md", tmp_path / "report.csv",
        tmp_path / "report_periods.csv"]
    assert (tmp_path / "report.html").read_text() == "html"
    assert (tmp_path / "report.md").read_text() == "# markdown"
    assert (tmp_path / "report.csv").read_text() == "csv"


# ----------------------------------------------------------------------- the example
EXAMPLE = {
    "endpoint": "OS", "populations": ["itt", "treated", "per_protocol"], "output": "results",
    "data": {"path": "d.csv", "time": "os_time", "event": "os_event", "arm": "arm",
             "reference": "control", "id": "id", "treatment_start": "treatment_start",
             "switch_time": "switch_time", "censor_time": "censor_time"},
    "model": {"type": "pem", "cuts": {"rule": "equal_events", "k": 4}, "effect": "ph",
              "exposure": "assigned"},
    "priors": {"log_hr": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}},
    "sampler": {"draws": 1000, "tune": 1000, "chains": 4, "seed": 1},
    "report": {"time_unit": "months", "thresholds": [1.0, 0.8], "milestones": [6.0, 12.0]}}


def test_example_config_text():
    text = C.example_config("my.toml", "d.csv")
    assert tomllib.loads(text) == EXAMPLE
    assert text.startswith("# pexsurv analysis configuration: run it with `pexsurv fit my.toml`.\n"
                           "# The data (d.csv) is the SYNTHETIC CT041-like trial")
    default = C.example_config()
    assert default.startswith("# pexsurv analysis configuration: run it with `pexsurv fit "
                              "analysis.toml`.\n# The data (ct041_like.csv) is")
    assert tomllib.loads(default)["data"]["path"] == "ct041_like.csv"


def test_write_example_writes_a_config_that_validates(tmp_path):
    toml, csv = C.write_example(tmp_path, "a.toml")
    assert (toml, csv) == (tmp_path / "a.toml", tmp_path / CT041_LIKE_PATH.name)
    assert toml.read_text() == C.example_config("a.toml", CT041_LIKE_PATH.name)
    assert csv.read_bytes() == CT041_LIKE_PATH.read_bytes()
    prepared = AnalysisConfig.from_toml(toml).validate()
    assert tuple(prepared.data) == ("itt", "treated", "per_protocol")
    itt = TrialData.from_csv(csv, **{k: v for k, v in EXAMPLE["data"].items() if k != "path"})
    cuts = tuple(equal_events(itt, k=4).tolist())
    assert prepared.spec == PiecewiseExponential(cuts=cuts, priors={"log_hr": Normal(0.0, 1.0)})


def test_write_example_defaults_and_refusals(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    toml, csv = C.write_example()
    assert (toml, csv) == (Path("analysis.toml"), Path(CT041_LIKE_PATH.name))
    assert toml.read_text() == C.example_config()
    refused(f"{toml}, {csv} already exist(s); choose another folder or pass --force to "
            "overwrite", C.write_example)
    refused(f"{csv} already exist(s); choose another folder or pass --force to overwrite",
            lambda: C.write_example(".", "b.toml"))
    toml.write_text("changed")
    csv.write_text("changed")
    C.write_example(overwrite=True)
    assert toml.read_text() == C.example_config()
    assert csv.read_bytes() == CT041_LIKE_PATH.read_bytes()
    refused("nowhere: no such folder", lambda: C.write_example("nowhere"))
    (tmp_path / "file").write_text("")
    refused("file: no such folder", lambda: C.write_example("file"))


def test_options_are_keyword_only(folder, tmp_path, stand):
    with pytest.raises(TypeError):
        AnalysisConfig.from_dict(raw(), folder)  # base
    with pytest.raises(TypeError):
        config(folder, output="kw").run(False)  # progress
    with pytest.raises(TypeError):
        C.write_example(tmp_path, "a.toml", True)  # overwrite
    with pytest.raises(TypeError):
        config(folder).sampler_config(PiecewiseExponential(cuts=(1.0,)), False)  # progress
    path = tmp_path / "k.toml"
    path.write_text("x = 1\n")
    with pytest.raises(TypeError):
        C.read_toml(path, "k", "h", ["x"])  # keys
    assert stand.fits == [] and not (tmp_path / "a.toml").exists()


def test_effect_cuts_on_the_first_listed_cut_are_accepted(folder):
    # (the placeholder cuts of check() hold 1.0 only: the case that works today, see
    # test_effect_cuts_among_the_listed_cuts_are_accepted)
    c = config(folder, model={"cuts": [1.0, 3.0], "effect": "piecewise", "effect_cuts": [1.0]})
    assert c.validate().spec == PiecewiseExponential(cuts=(1.0, 3.0), effect="piecewise",
                                                     effect_cuts=(1.0,))
