"""``pexsurv report`` and ``pexsurv check`` on folders of saved fits, end to end."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from pexsurv import datasets
from pexsurv.cli import main
from pexsurv.fitting import ConvergenceWarning, SamplerConfig, compile_spec, fit
from pexsurv.models import PiecewiseExponential


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    data = datasets.ct041_like("os")
    spec = PiecewiseExponential(cuts=(4.0, 8.0))
    good = SamplerConfig(draws=1000, tune=1000, chains=4, seed=11, progress=False)
    starved = SamplerConfig(draws=20, tune=5, chains=4, seed=1, progress=False)
    compiled = compile_spec(spec, data, good)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits = {"good": fit(spec, data, sampler=good, compiled=compiled),
                "starved": fit(spec, data, sampler=starved, compiled=compiled)}
    # The starved fit diverges: its save/load round trip covers nutpie's divergence_message
    # (None where no divergence in memory, "" once saved), which once failed the checksum.
    assert int(fits["starved"].idata["sample_stats"]["diverging"].sum()) > 0
    out = {}
    for name, result in fits.items():
        folder = tmp_path_factory.mktemp(name)
        result.save(folder / f"os_itt_{name}.nc")
        out[name] = folder
    return out


def test_check_exits_0_when_every_check_passes(folders, capsys):
    assert main(["check", str(folders["good"])]) == 0
    out = capsys.readouterr().out
    for name in ("convergence: passed", "ppc: passed", "loo: passed",
                 "prior_sensitivity: passed", "all checks passed"):
        assert name in out


def test_check_exits_1_on_a_starved_fit(folders, capsys):
    assert main(["check", str(folders["starved"])]) == 1
    out = capsys.readouterr().out
    assert "convergence: FAILED: NOT CONVERGED" in out
    assert "FAILED: os_itt_starved: convergence" in out


def test_report_writes_html_markdown_csv(folders, tmp_path, capsys):
    assert main(["report", str(folders["starved"]), "--out", str(tmp_path), "--no-checks"]) == 0
    err = capsys.readouterr().err
    assert "FAILED the convergence check (os_itt_starved)" in err
    md = (tmp_path / "report.md").read_text()
    assert md.splitlines()[2].startswith("> **WARNING") and "| os_itt_starved |" in md
    table = pd.read_csv(tmp_path / "report.csv", index_col="analysis")
    assert table.index.tolist() == ["os_itt_starved"] and not table.loc["os_itt_starved", "converged"]
    assert 'class="banner"' in (tmp_path / "report.html").read_text()


def test_report_and_check_refuse_a_folder_without_fits(tmp_path, capsys):
    assert main(["check", str(tmp_path)]) == 2
    assert "no saved fits" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
