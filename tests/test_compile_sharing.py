"""Models of the same graph share one nutpie compilation within a process; the draws are
those of a compilation made for each model, bit for bit, and labelled by its own data."""

from __future__ import annotations

import warnings

import numpy as np
import nutpie
import pandas as pd
import pytest

from pexsurv import TrialData, datasets
from pexsurv import _names as N
from pexsurv.fitting import ConvergenceWarning, SamplerConfig, compile_spec, fit
from pexsurv.fitting.compiled import clear_compile_cache, same_graph
from pexsurv.intervals import equal_events
from pexsurv.models import PiecewiseExponential

CONFIG = SamplerConfig(draws=100, tune=100, chains=2, seed=4, progress=False)
# Short chains on purpose (draws are compared, not judged).
pytestmark = pytest.mark.filterwarnings("ignore::pexsurv.fitting.ConvergenceWarning")


@pytest.fixture
def compiles(monkeypatch):
    """Calls of nutpie.compile_pymc_model from here on (the cache starts empty)."""
    clear_compile_cache()
    calls = []
    original = nutpie.compile_pymc_model

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(nutpie, "compile_pymc_model", counted)
    yield calls
    clear_compile_cache()


def test_pfs_and_os_share_one_compilation_and_keep_their_own_draws_and_labels(compiles):
    pfs, os_ = datasets.ct041_like("pfs"), datasets.ct041_like("os")
    spec_pfs = PiecewiseExponential(cuts=tuple(equal_events(pfs, k=3)))
    spec_os = PiecewiseExponential(cuts=tuple(equal_events(os_, k=3)))
    assert spec_pfs.cuts != spec_os.cuts
    fit(spec_pfs, pfs, sampler=CONFIG)
    shared = fit(spec_os, os_, sampler=CONFIG)
    assert len(compiles) == 1
    clear_compile_cache()
    own = fit(spec_os, os_, sampler=CONFIG)
    assert len(compiles) == 2
    for name in own.posterior.data_vars:
        np.testing.assert_array_equal(shared.posterior[name].values, own.posterior[name].values)
    assert shared.posterior["interval"].values.tolist() == own.posterior["interval"].values.tolist()
    np.testing.assert_array_equal(shared.idata["constant_data"]["cut_points"].values, spec_os.cuts)


def test_compile_spec_handles_of_one_graph_do_not_disturb_each_other(compiles):
    """Two handles from compile_spec on one compilation, used alternately."""
    pfs, os_ = datasets.ct041_like("pfs"), datasets.ct041_like("os")
    spec = PiecewiseExponential(cuts=(2.0, 6.0))
    a, b = compile_spec(spec, pfs, CONFIG), compile_spec(spec, os_, CONFIG)
    assert len(compiles) == 1
    on_b = fit(spec, os_, sampler=CONFIG, compiled=b)
    fit(spec, pfs, sampler=CONFIG, compiled=a)
    again = fit(spec, os_, sampler=CONFIG, compiled=b)
    np.testing.assert_array_equal(on_b.posterior["log_hr"].values, again.posterior["log_hr"].values)


def test_graphs_that_differ_in_a_constant_do_not_share():
    pfs = datasets.ct041_like("pfs")
    base = dict(cuts=(1.0, 2.0, 4.0), effect="piecewise")
    # Same shapes, but the interval -> period map is a constant of the graph.
    assert not same_graph(PiecewiseExponential(**base, effect_cuts=(1.0,)).build(pfs),
                          PiecewiseExponential(**base, effect_cuts=(4.0,)).build(pfs))
    assert same_graph(PiecewiseExponential(**base, effect_cuts=(1.0,)).build(pfs),
                      PiecewiseExponential(**base, effect_cuts=(1.0,)).build(pfs))


def _with_covariate(x: np.ndarray) -> TrialData:
    n = x.size
    frame = pd.DataFrame({"id": np.arange(n), "time": np.linspace(1, 10, n),
                          "event": np.tile([1, 0], n // 2), "arm": np.tile([0, 0, 1, 1], n // 4),
                          "x": x})
    return TrialData.from_dataframe(frame, time="time", event="event", arm="arm", reference=0,
                                    id="id", covariates=["x"])


def test_a_compiled_model_reads_other_covariate_values_of_the_same_shape():
    """Episode rows (interval, stratum, treatment, covariate values) are pm.Data: data of the
    same shape but other values run on the graph built for the first and give the draws of a
    fresh compilation (they used to be graph constants, silently kept from the first data)."""
    rng = np.random.default_rng(1)
    first, other = _with_covariate(rng.normal(size=40)), _with_covariate(rng.normal(size=40))
    spec = PiecewiseExponential(cuts=(5.0,), covariates=("x",))
    compiled = compile_spec(spec, first, CONFIG)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short chains; equality matters
        reused = fit(spec, other, sampler=CONFIG, compiled=compiled)
        fresh = fit(spec, other, sampler=CONFIG)
    np.testing.assert_array_equal(reused.posterior[N.BETA].values, fresh.posterior[N.BETA].values)


def test_a_compiled_model_reads_other_nested_prior_values():
    """A random walk's innovation scale is a nested prior whose value is pm.Data: a spec
    differing only in it has the same structure (``fit(compiled=)`` accepts it; it used to be
    refused as "another spec") and its draws are those of a fresh compilation."""
    from pexsurv.fitting.pem import structure_hash
    from pexsurv.priors import HalfNormal, RandomWalk

    data = datasets.ct041_like("os")

    def spec(sd):
        return PiecewiseExponential(cuts=(3.0, 6.0), priors={
            "log_hazard_base": RandomWalk(innovation=HalfNormal(sd))})

    wide, narrow = spec(1.0), spec(0.05)
    assert structure_hash(wide, wide.resolved_priors(data)) == structure_hash(
        narrow, narrow.resolved_priors(data))
    compiled = compile_spec(wide, data, CONFIG)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reused = fit(narrow, data, sampler=CONFIG, compiled=compiled)
        fresh = fit(narrow, data, sampler=CONFIG)
        first = fit(wide, data, sampler=CONFIG, compiled=compiled)
    name = "log_hazard_base_innovation_sd"
    np.testing.assert_array_equal(reused.posterior[name].values, fresh.posterior[name].values)
    # the value reached the graph: the narrow prior's innovation scale is far smaller
    assert float(reused.posterior[name].median()) < 0.5 * float(first.posterior[name].median())
