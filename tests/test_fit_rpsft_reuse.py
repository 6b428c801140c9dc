"""A compiled Bayesian RPSFT stage-2 PEM is re-used, as a PEM is, for any data and prior
hyper-parameter values of its structure (fitting/rpsft.py compares structure hashes, not
full spec hashes): no recompilation, the draws of a fresh compilation bit for bit, and a
sweep worker passes its model on untouched."""

from __future__ import annotations

import numpy as np
import nutpie
import pytest

from pexsurv.fitting import SamplerConfig, compile_spec, fit
from pexsurv.fitting.compiled import clear_compile_cache
from pexsurv.models import RPSFT
from pexsurv.priors import IndependentNormal

CONFIG = SamplerConfig(draws=60, tune=100, chains=2, seed=5, progress=False)
CUTS = (0.5, 1.0, 2.0)
# Short stage-2 fits (draws are compared, not judged).
pytestmark = pytest.mark.filterwarnings("ignore::pexsurv.fitting.ConvergenceWarning")


def spec(sigma: float, cuts: tuple[float, ...] = CUTS) -> RPSFT:
    return RPSFT(cuts=cuts, n_psi_draws=3, grid_size=401,
                 pem_priors={"log_hazard_base": IndependentNormal(sigma=sigma)})


@pytest.fixture
def compiles(monkeypatch):
    """Calls of nutpie.compile_pymc_model from here on (the process cache starts empty)."""
    clear_compile_cache()
    calls = []
    original = nutpie.compile_pymc_model
    monkeypatch.setattr(nutpie, "compile_pymc_model",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    yield calls
    clear_compile_cache()


def test_rpsft_refit_with_new_data_and_prior_values_reuses_the_stage2_model(immdef_data,
                                                                            compiles):
    compiled = compile_spec(spec(5.0), immdef_data, CONFIG)
    first_800 = immdef_data.derive(np.arange(immdef_data.n) < 800, population="first 800")
    reused = fit(spec(0.5), first_800, sampler=CONFIG, compiled=compiled)
    assert len(compiles) == 1 and reused.timings["compile_seconds"] == 0.0
    clear_compile_cache()
    fresh = fit(spec(0.5), first_800, sampler=CONFIG)
    assert len(compiles) == 2
    for name in fresh.posterior.data_vars:
        np.testing.assert_array_equal(reused.posterior[name].values, fresh.posterior[name].values)
    with pytest.raises(ValueError, match="structure differs"):
        fit(spec(5.0, cuts=(0.5, 1.5)), immdef_data, sampler=CONFIG, compiled=compiled)
