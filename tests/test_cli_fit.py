"""``pexsurv fit CONFIG.toml`` and ``pexsurv init``, end to end; bad configurations exit 2
with a message naming the key and the valid choices, before anything is fitted or written."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import tomllib

import numpy as np
import pandas as pd
import pytest

from pexsurv import TrialData
from pexsurv.cli import main
from pexsurv.fitting import FitResult
from pexsurv.intervals import equal_events
from pexsurv.priors import Normal
from pexsurv.workflows.config import AnalysisConfig, ConfigError

# Small and fixed: one compile per end-to-end test, 200 draws.
SAMPLER = "[sampler]\ndraws = 200\ntune = 200\nchains = 4\nseed = 5\n"

CONFIG = """\
endpoint = "PFS"
populations = ["itt", "treated"]
output = "out"

[data]
path = "trial.csv"
time = "pfs_time"
event = "pfs_event"
arm = "arm"
reference = "control"
id = "id"
treatment_start = "treatment_start"

[model]
type = "pem"
cuts = { rule = "equal_events", k = 3 }
effect = "ph"

[priors.log_hr]
dist = "Normal"
mu = 0.0
sigma = 0.5

[report]
checks = false
milestones = [6.0]
"""


@pytest.fixture(scope="module")
def trial_csv(tmp_path_factory):
    """A small simulated trial written by ``pexsurv simulate``."""
    folder = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "--seed", "3", "-o", str(folder / "trial.csv")]) == 0
    return folder / "trial.csv"


def _write(folder, text):
    path = folder / "analysis.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def fitted(trial_csv):
    """``pexsurv fit`` on the simulated CSV (two populations, one compiled model): exit
    status, output folder, stderr."""
    config = _write(trial_csv.parent, CONFIG + SAMPLER)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["fit", str(config), "--quiet"])
    return code, trial_csv.parent / "out", err.getvalue()


def test_fit_end_to_end_writes_one_fit_per_population_report_and_config(fitted, trial_csv):
    code, out, err = fitted
    # Exit 0 when every fit passes its convergence gate, 1 otherwise (200 draws may not).
    gates = [FitResult.load(out / f"PFS_{p}.nc").convergence.passed for p in ("itt", "treated")]
    assert code == (0 if all(gates) else 1)
    failed = [f"PFS_{p}" for p, ok in zip(("itt", "treated"), gates) if not ok]
    # The gate the demo shares names each failed fit.
    assert (f"fit(s) failed the convergence gate: {', '.join(failed)}" in err) == bool(failed)
    names = {p.name for p in out.iterdir()}
    assert {"PFS_itt.nc", "PFS_treated.nc", "report.html", "report.md", "report.csv",
            "config.toml", "config.json"} <= names
    assert tomllib.loads((out / "config.toml").read_text())["endpoint"] == "PFS"
    table = pd.read_csv(out / "report.csv", index_col="analysis")
    assert sorted(table.index) == ["PFS_itt", "PFS_treated"]
    assert table.loc[["PFS_itt", "PFS_treated"], "converged"].tolist() == gates


def test_fit_honours_the_config(fitted, trial_csv):
    """Populations, cut rule, prior and sampler of the file are what was fitted; compared
    with the data loaded and derived independently here."""
    _, out, _ = fitted
    itt = TrialData.from_csv(trial_csv, time="pfs_time", event="pfs_event", arm="arm",
                             reference="control", id="id", treatment_start="treatment_start")
    cuts = tuple(equal_events(itt, k=3))
    for name, expected in (("itt", itt), ("treated", itt.treated())):
        result = FitResult.load(out / f"PFS_{name}.nc")
        assert result.data.n == expected.n
        np.testing.assert_array_equal(np.sort(result.data.id), np.sort(expected.id))
        assert result.spec.cuts == pytest.approx(cuts)
        assert result.spec.priors["log_hr"] == Normal(0.0, 0.5)
        assert (result.sampler.draws, result.sampler.tune, result.sampler.seed) == (200, 200, 5)


@pytest.mark.parametrize("edit, message", [
    (lambda t: "colour = 'red'\n" + t,
     r"unknown key\(s\) \['colour'\]; valid keys: endpoint, populations"),
    (lambda t: t.replace('["itt", "treated"]', '["itt", "mitt"]'),
     r"unknown population\(s\) \['mitt'\]; valid: itt, treated, per_protocol"),
    (lambda t: t.replace('time = "pfs_time"', 'time = "pfs_tme"'),
     r"\['pfs_tme'\] not found .*available columns"),
    (lambda t: t.replace('treatment_start = "treatment_start"\n', ""),
     r"populations: treated: treated\(\) needs the treatment_start column"),
    (lambda t: t + "[sampler]\ndraws = 0\n", r"\[sampler\]: draws"),
    (lambda t: t + "[sampler]\ndraw = 200\n", r"\[sampler\]: unknown key\(s\) \['draw'\]; "
                                              r"valid keys: sampler, draws"),
    (lambda t: t + "[sampler]\nsampler = 'stan'\n", r"sampler must be one of"),
    (lambda t: t.replace('dist = "Normal"', 'dist = "Normall"'),
     r"\[priors\] log_hr: unknown PriorSpec family 'Normall'; valid: .*Normal"),
    (lambda t: t.replace("[priors.log_hr]", "[priors.log_hazard]"),
     r"unknown prior key\(s\) \['log_hazard'\]; valid keys"),
    (lambda t: t.replace('effect = "ph"', 'effect = "nph"'),
     r"\[model\].*effect must be one of \('ph', 'piecewise'\)"),
    (lambda t: t.replace('effect = "ph"', 'colour = "ph"'),
     r"\[model\] \(type 'pem'\): unknown key\(s\) \['colour'\]; valid keys: type, cuts"),
    (lambda t: t.replace('rule = "equal_events"', 'rule = "quantiles"'),
     r"\[model\] cuts: .*equal_events"),
    (lambda t: t.replace('rule = "equal_events", k = 3', 'rule = "fixed_width"'),
     r"rule \"fixed_width\" needs width"),
    (lambda t: t.replace('rule = "equal_events", k = 3', 'rule = "equal_events", k = 3.5'),
     r"\[model\] cuts: k must be an integer"),
    (lambda t: t.replace('path = "trial.csv"', 'path = "trial.xlsx"'),
     r"\.csv or \.parquet"),
    (lambda t: t.replace('path = "trial.csv"', 'path = "nowhere.csv"'),
     r"\[data\] path: .*nowhere.csv: no such file"),
    (lambda t: t.replace("milestones = [6.0]", "milestones = 6.0"),
     r"\[report\] milestones: must be a list of positive numbers, got 6.0"),
    (lambda t: t.replace("checks = false", "check = false"),
     r"\[report\]: unknown key\(s\) \['check'\]"),
])
def test_bad_config_exits_2_naming_the_key_before_any_work(trial_csv, tmp_path, capsys, edit,
                                                           message):
    (tmp_path / "trial.csv").write_bytes(trial_csv.read_bytes())
    config = _write(tmp_path, edit(CONFIG))
    assert main(["fit", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pexsurv: error: ")
    assert re.search(message, err), err
    assert not (tmp_path / "out").exists()  # nothing fitted, nothing written


def test_parquet_is_read_like_csv(trial_csv, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    # round_trip: the same exact floats the CSV reader of TrialData gives.
    pd.read_csv(trial_csv, float_precision="round_trip").to_parquet(tmp_path / "trial.parquet")
    config = _write(tmp_path, CONFIG.replace("trial.csv", "trial.parquet"))
    assert main(["fit", str(config), "--check-only"]) == 0
    csv = AnalysisConfig.from_toml(_write(trial_csv.parent, CONFIG)).validate()
    parquet = AnalysisConfig.from_toml(config).validate()
    a, b = parquet.data["treated"], csv.data["treated"]
    # The CSV reader keeps ids as text (leading zeros); Parquet keeps the stored type.
    np.testing.assert_array_equal(a.id.astype(str), b.id.astype(str))
    for name in ("time", "event", "arm", "treatment_start"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_parquet_without_a_reader_is_refused_naming_the_package(tmp_path, capsys, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in (
        "pyarrow", "fastparquet") else find_spec(name, *a))
    config = _write(tmp_path, CONFIG.replace("trial.csv", "trial.parquet"))
    assert main(["fit", str(config)]) == 2
    assert "needs the 'pyarrow' package" in capsys.readouterr().err


def test_check_only_validates_without_fitting(trial_csv, tmp_path, capsys):
    (tmp_path / "trial.csv").write_bytes(trial_csv.read_bytes())
    config = _write(tmp_path, CONFIG)
    assert main(["fit", str(config), "--check-only"]) == 0
    assert "valid; 2 population(s)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_config_round_trips_through_to_dict(trial_csv):
    config = AnalysisConfig.from_toml(_write(trial_csv.parent, CONFIG + SAMPLER))
    again = AnalysisConfig.from_dict(config.to_dict(), base=config.base)
    assert again.to_dict() == config.to_dict()
    assert again.validate().cuts == config.validate().cuts


def test_rpsft_config_takes_psi_prior_and_needs_switchers(trial_csv, tmp_path):
    base = (CONFIG.replace('type = "pem"', 'type = "rpsft"').replace('effect = "ph"\n', "")
            .replace('"pfs_', '"os_'))
    text = base.replace("[priors.log_hr]", "[priors.psi]")
    (tmp_path / "trial.csv").write_bytes(trial_csv.read_bytes())
    config = AnalysisConfig.from_toml(_write(tmp_path, text))
    with pytest.raises(ConfigError, match="RPSFT needs switchers"):
        config.validate()
    with_switch = text.replace('id = "id"', 'id = "id"\nswitch_time = "switch_time"')
    with_switch = with_switch.replace('["itt", "treated"]', '["itt"]')
    prepared = AnalysisConfig.from_toml(_write(tmp_path, with_switch)).validate()
    assert prepared.spec.psi_prior == Normal(0.0, 0.5)
    assert type(prepared.spec).__name__ == "RPSFT"


def test_init_then_fit_runs_the_example_as_is(tmp_path, capsys):
    assert main(["init", str(tmp_path)]) == 0
    config = tmp_path / "analysis.toml"
    assert (tmp_path / "ct041_like.csv").is_file()
    assert main(["init", str(tmp_path)]) == 2  # never overwrites without --force
    assert "already exist" in capsys.readouterr().err
    # The example as written, only sampled shorter.
    text = config.read_text()
    start = text.index("[sampler]")
    end = text.index("[report]")
    text = text[:start] + SAMPLER + "\n" + text[end:]
    # Plus as_treated, whose arms are relabelled (never/ever treated): it shares the compiled
    # model of the randomized populations, and its draws must carry its own arm labels.
    pops = '["itt", "treated", "per_protocol"]'
    assert pops in text
    config.write_text(text.replace(pops, pops[:-1] + ', "as_treated"]'))
    code = main(["fit", str(config), "--quiet"])
    out = tmp_path / "results"
    results = {p: FitResult.load(out / f"OS_{p}.nc")
               for p in ("itt", "treated", "per_protocol", "as_treated")}
    assert code == (0 if all(r.convergence.passed for r in results.values()) else 1)
    for result in results.values():
        arms = result.idata["constant_data"].to_dataset().coords["arm"].values
        assert tuple(map(str, arms)) == result.data.arms
    assert results["as_treated"].data.arms == ("never treated", "ever treated")
    report = (out / "report.md").read_text()
    assert "OS_per_protocol" in report


def test_a_rerun_with_fewer_populations_leaves_stale_fits_out_of_report_and_check(
        trial_csv, tmp_path, capsys):
    """`pexsurv fit` into a folder holding an earlier run's fits: report and check read
    the fits this run wrote (fits.json), not the stale PFS_treated.nc of the earlier run."""
    csv = tmp_path / "trial.csv"
    csv.write_bytes(trial_csv.read_bytes())
    first = _write(tmp_path, CONFIG + SAMPLER)
    assert main(["fit", str(first), "--quiet"]) in (0, 1)
    out = tmp_path / "out"
    assert {"PFS_itt.nc", "PFS_treated.nc"} <= {p.name for p in out.iterdir()}
    _write(tmp_path, CONFIG.replace('["itt", "treated"]', '["itt"]') + SAMPLER)
    assert main(["fit", str(first), "--quiet"]) in (0, 1)
    assert (out / "PFS_treated.nc").exists()  # the user's file is not deleted...
    table = pd.read_csv(out / "report.csv", index_col="analysis")
    assert table.index.tolist() == ["PFS_itt"]  # ...and not reported
    capsys.readouterr()
    assert main(["report", str(out), "--no-checks"]) == 0
    err = capsys.readouterr().err
    assert "ignoring 1 saved fit(s) that the last run did not write (fits.json): PFS_treated.nc" in err
    assert pd.read_csv(out / "report.csv", index_col="analysis").index.tolist() == ["PFS_itt"]
    main(["check", str(out)])
    captured = capsys.readouterr()
    assert "== PFS_itt" in captured.out and "PFS_treated" not in captured.out
    # A folder of fits saved by hand (no fits.json) is read whole, as before.
    (out / "fits.json").unlink()
    assert main(["report", str(out), "--no-checks"]) == 0
    assert sorted(pd.read_csv(out / "report.csv", index_col="analysis").index) == [
        "PFS_itt", "PFS_treated"]


def test_a_manifest_listing_a_missing_fit_is_an_error(tmp_path, capsys):
    (tmp_path / "fits.json").write_text('{"fits": ["gone.nc"]}')
    assert main(["report", str(tmp_path)]) == 2
    assert "lists fits that are not in the folder: ['gone.nc']" in capsys.readouterr().err


def test_effect_cuts_among_listed_cuts_are_checked_against_those_cuts(trial_csv, tmp_path, capsys):
    # Found by the mutation tests of workflows/config.py (issue 18): check() built the model
    # with placeholder cuts (1.0,), so every effect_cuts other than [1.0] was refused.
    (tmp_path / "trial.csv").write_bytes(trial_csv.read_bytes())
    piecewise = CONFIG.replace('cuts = { rule = "equal_events", k = 3 }\neffect = "ph"',
                               'cuts = [3.0, 6.0]\neffect = "piecewise"\neffect_cuts = [6.0]')
    config = _write(tmp_path, piecewise)
    assert main(["fit", str(config), "--check-only"]) == 0
    assert AnalysisConfig.from_toml(config).validate().spec.effect_cuts == (6.0,)
    # Not among the listed cuts: refused before the data are read, naming the key.
    (tmp_path / "trial.csv").unlink()
    _write(tmp_path, piecewise.replace("effect_cuts = [6.0]", "effect_cuts = [5.0]"))
    assert main(["fit", str(config)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"\[model\].*effect_cuts \[5\.0\] are not baseline cut points", err), err


def test_effect_cuts_with_a_cut_rule_are_checked_on_the_data_cuts(trial_csv, tmp_path):
    (tmp_path / "trial.csv").write_bytes(trial_csv.read_bytes())
    text = CONFIG.replace('effect = "ph"', 'effect = "piecewise"\neffect_cuts = [100.0]')
    config = AnalysisConfig.from_toml(_write(tmp_path, text))  # cut points not known yet
    with pytest.raises(ConfigError, match=r"effect_cuts \[100\.0\] are not baseline cut points"):
        config.validate()
