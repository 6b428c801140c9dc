"""A sweep's plan (pexsurv/workflows/sweep/plan.py): the grid expanded into scenarios, the
keys that name them in the store and derive their seeds, the shared validation and compiled
structures, and every refusal, without any sampling. A wrong key or a lost scenario would
silently report another scenario's number (issue 18; record in benchmarks/mutation.md,
section ``pexsurv/workflows/sweep/plan.py``).

The module is loaded from its file (tests/isolated.py), so a mutation run tests the mutated
file while the package keeps its own copy."""

from __future__ import annotations

import json

import pytest
from isolated import load

from pexsurv.workflows.config import AnalysisConfig, ConfigError, write_example
from pexsurv.workflows.sweep.executors import Task
from pexsurv.workflows.sweep.keys import derived_seed, file_digest, settings_key, structure_key

plan = load("pexsurv/workflows/sweep/plan.py")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plan")
    write_example(folder)
    return folder


def config(folder, **changes) -> AnalysisConfig:
    raw = {"endpoint": "OS", "populations": ["itt"], "output": "results",
           "data": {"path": "ct041_like.csv", "time": "os_time", "event": "os_event",
                    "arm": "arm", "reference": "control", "id": "id",
                    "treatment_start": "treatment_start", "switch_time": "switch_time",
                    "censor_time": "censor_time"},
           "model": {"type": "pem", "cuts": [2.0, 6.0]},
           "priors": {"log_hr": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}},
           "sampler": {"draws": 100, "tune": 100, "chains": 2, "seed": 1}}
    raw.update(changes)
    return AnalysisConfig.from_dict(raw, base=folder)


@pytest.fixture(scope="module")
def base(folder) -> AnalysisConfig:
    return config(folder)


@pytest.fixture(scope="module")
def grid_plan(base):
    """2 prior scales x 2 cut sets x 2 seeds; thresholds 1 and 0.8."""
    return plan.plan_sweep(base, GRID, thresholds=(1, 0.8))


GRID = {"priors.log_hr.sigma": [1.0, 0.5], "model.cuts": [[2.0, 6.0], [3.0]],
        "sampler.seed": [1, 2]}


def fitted_settings(cfg: AnalysisConfig) -> dict:
    """The documented key content: the configuration without output, report and the data
    path, plus the data file's SHA-256 (written from the docstring of ``sweep``)."""
    raw = cfg.to_dict()
    del raw["output"], raw["report"]
    raw["data"] = {k: v for k, v in raw["data"].items() if k != "path"}
    raw["data_sha256"] = file_digest(cfg.data_path)
    return raw


# ------------------------------------------------------------------ labels and _set
@pytest.mark.parametrize("value, label", [
    (1.0, 1.0), (2, 2), (True, True), ("OS", "OS"),
    ([2.0, 6.0], "[2.0,6.0]"), ({"rule": "equal_events", "k": 4}, '{"k":4,"rule":"equal_events"}'),
    ((1, 2), "[1,2]"), (None, "null"),
])
def test_label_keeps_scalars_and_writes_tables_as_compact_sorted_json(value, label):
    got = plan._label(value)
    assert got == label and type(got) is type(label)


def test_set_creates_tables_and_copies_the_value():
    cfg = {"model": {"cuts": [1.0]}}
    value = {"dist": "Normal", "sigma": [1.0]}
    plan._set(cfg, "priors.log_hr", value)
    plan._set(cfg, "model.cuts", [3.0])
    plan._set(cfg, "endpoint", "PFS")
    value["sigma"].append(2.0)  # the grid's value must not be shared with the scenario
    assert cfg == {"model": {"cuts": [3.0]}, "endpoint": "PFS",
                   "priors": {"log_hr": {"dist": "Normal", "sigma": [1.0]}}}


def test_set_refuses_a_path_through_a_value_naming_the_prefix():
    with pytest.raises(ConfigError) as info:
        plan._set({"a": {"b": 1.0}}, "a.b.c.d", 2.0)
    assert str(info.value) == "grid setting 'a.b.c.d': a.b is 1.0, not a table"
    with pytest.raises(ConfigError, match=r"^grid setting 'endpoint.x': endpoint is 'OS', not a table$"):
        plan._set({"endpoint": "OS"}, "endpoint.x", 2.0)


def test_scenario_is_frozen_and_unkeyed_by_default():
    s = plan.Scenario(coords={"a": 1}, config={})
    assert s.key == ""
    with pytest.raises(AttributeError):
        s.key = "x"


# ------------------------------------------------------------------ grid expansion
def test_expand_grid_is_the_product_in_grid_order(base):
    cells = plan.expand_grid(base, {"priors.log_hr.sigma": [1.0, 0.5, 2.0],
                                    "model.cuts": [[2.0, 6.0], [3.0]]})
    assert [dict(c.coords) for c in cells] == [
        {"priors.log_hr.sigma": s, "model.cuts": c}
        for s in (1.0, 0.5, 2.0) for c in ("[2.0,6.0]", "[3.0]")]
    for cell in cells:
        assert cell.key == ""
        assert cell.config["priors"]["log_hr"] == {"dist": "Normal", "mu": 0.0,
                                                   "sigma": cell.coords["priors.log_hr.sigma"]}
        assert json.dumps(cell.config["model"]["cuts"], separators=(",", ":")) == \
            cell.coords["model.cuts"]
        rest = {k: v for k, v in cell.config.items() if k not in ("priors", "model")}
        assert rest == {k: v for k, v in base.to_dict().items() if k not in ("priors", "model")}
    # each scenario has its own configuration (no shared tables between cells)
    cells[0].config["model"]["cuts"].append(99.0)
    assert cells[2].config["model"]["cuts"] == [2.0, 6.0]
    assert base.to_dict()["model"]["cuts"] == [2.0, 6.0]


def test_named_variants_set_several_paths(base):
    cells = plan.expand_grid(base, {"endpoint": {
        "OS": {"data.time": "os_time", "data.event": "os_event"},
        "PFS": {"data.time": "pfs_time", "data.event": "pfs_event", "endpoint": "PFS"}}})
    assert [dict(c.coords) for c in cells] == [{"endpoint": "OS"}, {"endpoint": "PFS"}]
    assert (cells[1].config["data"]["time"], cells[1].config["data"]["event"],
            cells[1].config["endpoint"]) == ("pfs_time", "pfs_event", "PFS")
    assert (cells[0].config["data"]["time"], cells[0].config["endpoint"]) == ("os_time", "OS")


def test_population_is_one_per_scenario(base, folder):
    cells = plan.expand_grid(base, {"population": ["itt", "treated"]})
    assert [c.config["populations"] for c in cells] == [["itt"], ["treated"]]
    assert [dict(c.coords) for c in cells] == [{"population": "itt"}, {"population": "treated"}]
    # a variant table may set the population too
    cells = plan.expand_grid(base, {"endpoint": {"a": {"population": "treated"}}})
    assert cells[0].config["populations"] == ["treated"]
    # a base with several populations and a grid that does not sweep them: one dimension more
    multi = config(folder, populations=["itt", "treated", "per_protocol"])
    dims = plan._dimensions(multi, {"sampler.seed": [1, 2]})
    assert [(name, [label for label, _ in options]) for name, options in dims] == [
        ("sampler.seed", [1, 2]), ("population", ["itt", "treated", "per_protocol"])]
    assert dims[1][1][2][1] == {"populations": ["per_protocol"]}
    cells = plan.expand_grid(multi, {"sampler.seed": [1, 2]})
    assert [c.config["populations"] for c in cells] == [["itt"], ["treated"], ["per_protocol"]] * 2
    # swept explicitly: no extra dimension
    dims = plan._dimensions(multi, {"population": ["treated"]})
    assert [name for name, _ in dims] == ["population"]
    assert dims[0][1] == [("treated", {"populations": ["treated"]})]
    # two populations (not swept): one dimension more as well
    two = config(folder, populations=["itt", "treated"])
    assert [name for name, _ in plan._dimensions(two, {"sampler.seed": [1]})] == [
        "sampler.seed", "population"]
    # the setting or the variant's key may be any equal string (e.g. read from a file), not
    # the constant itself
    key = "".join(["popu", "lation"])
    cells = plan.expand_grid(base, {key: ["itt", "treated"]})
    assert [c.config["populations"] for c in cells] == [["itt"], ["treated"]]
    cells = plan.expand_grid(base, {"endpoint": {"a": {key: "treated"}}})
    assert cells[0].config["populations"] == ["treated"] and "population" not in cells[0].config
    # one population: no extra dimension
    assert [name for name, _ in plan._dimensions(base, {"sampler.seed": [1]})] == ["sampler.seed"]


@pytest.mark.parametrize("grid, message", [
    ({}, r"^grid: give at least one setting and its values"),
    ([("sampler.seed", [1])], r"^grid: give at least one setting"),
    ({"populations": [["itt"]]}, r"^grid: sweep populations with 'population' \(one population "
                                 r"per scenario\), not 'populations'$"),
    ({"endpoint": {"OS": {}}}, r"^grid 'endpoint': variant 'OS' must be a table of setting = value"),
    ({"endpoint": {"OS": "os_time"}}, r"^grid 'endpoint': variant 'OS' must be a table"),
    ({"sampler.seed": "12"}, r"^grid 'sampler.seed': a list of values or a table of named "
                             r"variants, got '12'$"),
    ({"sampler.seed": 3}, r"^grid 'sampler.seed': a list of values"),
    ({"sampler.seed": []}, r"^grid 'sampler.seed': no values$"),
    ({"endpoint": {}}, r"^grid 'endpoint': no values$"),
    ({"sampler.seed": [1, 2, 1]}, r"^grid 'sampler.seed': values listed twice in \[1, 2, 1\]$"),
    ({"model.cuts": [[1.0], [1.0]]}, r"values listed twice"),
])
def test_grid_errors(base, grid, message):
    with pytest.raises(ConfigError, match=message):
        plan._dimensions(base, grid)


def test_a_long_list_of_distinct_values_is_not_listed_twice(base):
    # counts above 256 are distinct int objects in CPython: compared by value, not identity
    assert len(plan._dimensions(base, {"sampler.seed": list(range(300))})[0][1]) == 300


def test_labels_differing_only_in_type_count_as_twice(base):
    with pytest.raises(ConfigError, match="values listed twice"):
        plan._dimensions(base, {"x": [1, "1"]})
    # distinct values pass
    assert len(plan._dimensions(base, {"x": [1, 2], "y": ("a", "b")})) == 2


# ------------------------------------------------------------------ plan_sweep
def test_plan_keys_are_the_documented_settings_hash(base, grid_plan):
    assert grid_plan.thresholds == (1.0, 0.8)
    assert all(type(t) is float for t in grid_plan.thresholds)
    assert len(grid_plan.scenarios) == len(grid_plan.tasks) == 8
    for scenario, task in zip(grid_plan.scenarios, grid_plan.tasks):
        cfg = AnalysisConfig.from_dict(scenario.config, base=base.base)
        expected = settings_key({"fit": fitted_settings(cfg), "thresholds": (1.0, 0.8)})
        assert scenario.key == task.key == expected
        assert task.labels == dict(scenario.coords)
        assert task.thresholds == (1.0, 0.8)
        assert task.sampler["seed"] == derived_seed(expected)
        assert task.sampler["progress"] is False
        assert {k: task.sampler[k] for k in ("draws", "tune", "chains")} == \
            {"draws": 100, "tune": 100, "chains": 2}
        assert isinstance(task, Task)
        assert task.spec["priors"]["log_hr"]["sigma"] == scenario.coords["priors.log_hr.sigma"]
        assert list(task.spec["cuts"]) == json.loads(scenario.coords["model.cuts"])
        assert task.data.n == 156 and task.data.event.sum() > 0
    assert grid_plan.dims == {"priors.log_hr.sigma": (1.0, 0.5),
                              "model.cuts": ("[2.0,6.0]", "[3.0]"), "sampler.seed": (1, 2)}
    assert len({t.sampler["seed"] for t in grid_plan.tasks}) == 8


def test_structures_follow_cuts_not_priors_or_seeds(base, grid_plan):
    by_cuts = {}
    for task in grid_plan.tasks:
        by_cuts.setdefault(task.labels["model.cuts"], set()).add(task.structure)
    assert {k: len(v) for k, v in by_cuts.items()} == {"[2.0,6.0]": 1, "[3.0]": 1}
    one, three = (next(iter(v)) for v in by_cuts.values())
    assert one != three
    task = grid_plan.tasks[0]
    assert task.structure == structure_key(plan.AnalysisConfig.from_dict(
        grid_plan.scenarios[0].config, base=base.base).validate().spec, task.data, task.sampler)


def test_structure_differs_by_sampler(base):
    planned = plan.plan_sweep(base, {"sampler.sampler": ["nutpie", "pymc"]})
    assert planned.tasks[0].structure != planned.tasks[1].structure


def test_validation_is_shared_by_scenarios_differing_in_sampler_only(base, monkeypatch):
    calls = []
    real = AnalysisConfig.validate

    def counting(self):
        calls.append(self.to_dict()["priors"]["log_hr"]["sigma"])
        return real(self)

    monkeypatch.setattr(AnalysisConfig, "validate", counting)
    planned = plan.plan_sweep(base, {"priors.log_hr.sigma": [1.0, 0.5],
                                     "sampler.seed": [1, 2, 3]})
    assert calls == [1.0, 0.5]
    # the shared validation still gives each scenario its own spec and data
    assert [t.spec["priors"]["log_hr"]["sigma"] for t in planned.tasks] == [1.0] * 3 + [0.5] * 3


def test_keys_ignore_output_report_and_the_data_files_place(base, folder, tmp_path):
    one = plan.plan_sweep(base, {"sampler.seed": [1, 2]})
    moved = tmp_path / "moved.csv"
    moved.write_bytes((folder / "ct041_like.csv").read_bytes())
    raw = base.to_dict()
    raw.update(output="elsewhere", report={"seed": 5},
               data={**raw["data"], "path": str(moved)})
    two = plan.plan_sweep(AnalysisConfig.from_dict(raw, base=folder), {"sampler.seed": [1, 2]})
    assert [t.key for t in one.tasks] == [t.key for t in two.tasks]
    assert [t.sampler["seed"] for t in one.tasks] == [t.sampler["seed"] for t in two.tasks]


def test_keys_change_with_the_data_content_thresholds_and_any_fit_setting(base, folder, tmp_path):
    keys = {t.key for t in plan.plan_sweep(base, {"sampler.seed": [1, 2]}).tasks}
    edited = tmp_path / "edited.csv"
    lines = (folder / "ct041_like.csv").read_text().splitlines()
    edited.write_text("\n".join(lines[:-1]) + "\n")
    raw = base.to_dict()
    raw["data"] = {**raw["data"], "path": str(edited)}
    others = [plan.plan_sweep(AnalysisConfig.from_dict(raw, base=folder), {"sampler.seed": [1, 2]}),
              plan.plan_sweep(base, {"sampler.seed": [1, 2]}, thresholds=(1.0, 0.8)),
              plan.plan_sweep(base, {"sampler.seed": [1, 2]}, thresholds=(0.9,)),
              plan.plan_sweep(base, {"sampler.seed": [1, 2], "sampler.draws": [101]}),
              plan.plan_sweep(base, {"sampler.seed": [1, 2], "model.cuts": [[2.0, 7.0]]})]
    for other in others:
        assert not keys & {t.key for t in other.tasks}
    # the same data file read twice is hashed once per plan, and equal content gives equal keys
    again = plan.plan_sweep(base, {"sampler.seed": [1, 2], "endpoint": ["OS"]})
    assert {t.key for t in again.tasks} == keys


def test_data_digest_is_per_file(base, folder, tmp_path, monkeypatch):
    other = tmp_path / "other.csv"
    lines = (folder / "ct041_like.csv").read_text().splitlines()
    other.write_text("\n".join(lines[:-1]) + "\n")
    read = []
    real = plan.file_digest

    def counting(path):
        read.append(path.name)
        return real(path)

    monkeypatch.setattr(plan, "file_digest", counting)
    planned = plan.plan_sweep(base, {"data.path": ["ct041_like.csv", str(other)],
                                     "sampler.seed": [1, 2]})
    assert sorted(read) == ["ct041_like.csv", "other.csv"]
    assert planned.tasks[0].data.n == 156 and planned.tasks[2].data.n == 155


@pytest.mark.parametrize("thresholds", [(), (0.0,), (1.0, -0.5), [0]])
def test_thresholds_must_be_positive(base, thresholds):
    with pytest.raises(ConfigError, match=r"^thresholds: positive hazard ratios, got "):
        plan.plan_sweep(base, {"sampler.seed": [1]}, thresholds=thresholds)


def test_a_tiny_positive_threshold_and_the_default_pass(base):
    assert plan.plan_sweep(base, {"sampler.seed": [1]}, thresholds=[1e-9]).thresholds == (1e-9,)
    assert plan.plan_sweep(base, {"sampler.seed": [1]}).thresholds == (1.0,)


def test_piecewise_effect_is_refused_naming_the_scenario(base):
    with pytest.raises(ConfigError) as info:
        plan.plan_sweep(base, {"effect": {"ph": {"model.effect": "ph"}, "pw": {
            "model.effect": "piecewise"}}})
    text = str(info.value)
    assert text.startswith("1 of 2 scenario(s) are invalid; nothing was fitted:\n  [effect=pw] ")
    assert "effect = \"piecewise\" has one per period (use effect = \"ph\")" in text
    plan._single_hr(object(), "x")  # a spec without an effect is one HR


def test_missing_data_file_is_named(base, folder):
    with pytest.raises(ConfigError) as info:
        plan.plan_sweep(base, {"data.path": ["ct041_like.csv", "nope.csv"]})
    assert str(info.value) == ("1 of 2 scenario(s) are invalid; nothing was fitted:\n"
                               f"  [data.path=nope.csv] [data] path: {folder / 'nope.csv'}: "
                               "no such file")


def test_errors_list_ten_then_count_the_rest(base):
    bad = [[-float(i)] for i in range(1, 12)]  # 11 invalid cut sets
    with pytest.raises(ConfigError) as info:
        plan.plan_sweep(base, {"model.cuts": [[2.0]] + bad})
    lines = str(info.value).splitlines()
    assert lines[0] == "11 of 12 scenario(s) are invalid; nothing was fitted:"
    assert [line[:len("  [model.cuts=[-1.0]]")] for line in lines[1:3]] == [
        "  [model.cuts=[-1.0]]", "  [model.cuts=[-2.0]]"]
    assert len(lines) == 12 and lines[-1] == "  ... and 1 more"
    assert lines[10].startswith("  [model.cuts=[-10.0]] ")
    with pytest.raises(ConfigError) as info:
        plan.plan_sweep(base, {"model.cuts": [[-float(i)] for i in range(1, 22)]})
    assert str(info.value).splitlines()[-1] == "  ... and 11 more"  # 21 - 10
    with pytest.raises(ConfigError) as info:
        plan.plan_sweep(base, {"model.cuts": bad[:10]})
    lines = str(info.value).splitlines()
    assert lines[0] == "10 of 10 scenario(s) are invalid; nothing was fitted:"
    assert len(lines) == 11 and "more" not in lines[-1]


def test_many_scenarios_have_distinct_keys(base):
    planned = plan.plan_sweep(base, {"sampler.seed": list(range(300))})
    assert len({t.key for t in planned.tasks}) == 300


def test_two_scenarios_with_equal_settings_are_refused(base):
    with pytest.raises(ConfigError, match=r"^grid: two scenarios have identical settings"):
        plan.plan_sweep(base, {"output": ["a", "b"]})


def test_plan_to_dict_keeps_grid_order(grid_plan):
    d = grid_plan.to_dict()
    assert d["dims"] == [["priors.log_hr.sigma", [1.0, 0.5]], ["model.cuts", ["[2.0,6.0]", "[3.0]"]],
                         ["sampler.seed", [1, 2]]]
    assert d["thresholds"] == [1.0, 0.8]
    assert [s["key"] for s in d["scenarios"]] == [s.key for s in grid_plan.scenarios]
    assert d["scenarios"][5]["coords"] == {"priors.log_hr.sigma": 0.5, "model.cuts": "[2.0,6.0]",
                                           "sampler.seed": 2}
    assert d["scenarios"][5]["config"] == grid_plan.scenarios[5].config
    assert type(d["scenarios"][0]["coords"]) is dict
    json.dumps(d)  # what the store writes
    with pytest.raises(AttributeError):
        grid_plan.thresholds = ()
