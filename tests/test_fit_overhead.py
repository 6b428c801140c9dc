"""The work a warm fit does outside NUTS was cut without changing a result: the groups built
from nutpie's raw trace (fitting.nutpie_trace) equal, value for value, those nutpie's own
conversion and PyMC's patch_nutpie_idata build from the same seeded run; package versions
are read once per process."""

from __future__ import annotations

import dataclasses
import importlib.metadata

import pandas as pd
import pytest

from pexsurv import datasets, provenance
from pexsurv.fitting import SamplerConfig, compile_spec, fit
from pexsurv.intervals import equal_events
from pexsurv.models import PiecewiseExponential

CONFIG = SamplerConfig(draws=150, tune=150, chains=3, seed=11, progress=False)
pytestmark = pytest.mark.filterwarnings("ignore::pexsurv.fitting.ConvergenceWarning")


@pytest.fixture(scope="module")
def fits():
    """The same seeded warm fit twice: through the raw trace (default) and through nutpie's
    own conversion (``store_gradient=False`` is nutpie's default, but any ``store_*``
    option routes the run through nutpie's conversion)."""
    data = datasets.ct041_like("os")
    spec = PiecewiseExponential(cuts=tuple(equal_events(data, k=4)))
    compiled = compile_spec(spec, data, CONFIG)
    ours = fit(spec, data, sampler=CONFIG, compiled=compiled)
    theirs = fit(spec, data, compiled=compiled,
                 sampler=dataclasses.replace(CONFIG, options={"store_gradient": False}))
    return ours, theirs


def test_raw_trace_path_gives_the_groups_of_nutpie_and_pymc_value_for_value(fits):
    ours, theirs = fits
    assert sorted(ours.idata.children) == sorted(theirs.idata.children) == [
        "constant_data", "observed_data", "posterior", "sample_stats"]
    for group in theirs.idata.children:
        a, b = ours.idata[group].to_dataset(), theirs.idata[group].to_dataset()
        # identical(): same variables, values, dtypes, dims and coordinates (attrs aside:
        # creation timestamps)
        assert a.drop_attrs().identical(b.drop_attrs()), group
    assert "diverging" in ours.idata["sample_stats"] and "energy" in ours.idata["sample_stats"]


def test_raw_trace_path_gives_the_same_summary_and_verdict(fits):
    ours, theirs = fits
    pd.testing.assert_frame_equal(ours.summary(), theirs.summary())
    pd.testing.assert_frame_equal(ours.convergence.table, theirs.convergence.table)
    assert ours.convergence.passed == theirs.convergence.passed


def test_saved_and_loaded_result_keeps_its_draws(fits, tmp_path):
    ours, _ = fits
    loaded = type(ours).load(ours.save(tmp_path / "fit.nc"))
    for group in ours.idata.children:
        assert loaded.idata[group].to_dataset().drop_attrs().equals(
            ours.idata[group].to_dataset().drop_attrs()), group


def test_package_versions_are_read_once_per_process(monkeypatch):
    first = provenance.versions(["lifelines"])
    calls = []
    monkeypatch.setattr(provenance, "version",
                        lambda name: calls.append(name) or importlib.metadata.version(name))
    second = provenance.versions(["lifelines"])
    assert second == first and not calls
    second["pymc"] = "changed"  # each call returns its own dict
    assert provenance.versions()["pymc"] == first["pymc"]
