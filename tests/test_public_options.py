"""Public options no test exercised before (issue 18): ``median_survival(p=)``,
``stratum_weights=``, ``fit(compiled=)`` with the pymc and numpyro samplers, save/load of a
fit with strata and covariates, and the CLI's ``simulate`` output. Closed-form references
for the survival quantities; each sampler path compiles once."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.optimize import brentq
from simtools import simulate_pem

from pexsurv import TrialData
from pexsurv.diagnostics import ConvergenceWarning
from pexsurv.fitting import FitResult, SamplerConfig, compile_spec, fit
from pexsurv.models import PiecewiseExponential, median_survival, milestone_survival
from pexsurv.testing import fake_posterior

CUTS = (2.0, 4.0)
HAZARDS = np.array([0.3, 0.2, 0.1])


def survival(t: float, hazards: np.ndarray) -> float:
    """exp(-H(t)) of a piecewise-constant hazard on (0, 2], (2, 4], (4, inf), by hand."""
    edges = np.r_[0.0, CUTS, np.inf]
    exposure = np.clip(np.minimum(t, edges[1:]) - edges[:-1], 0, None)
    return float(np.exp(-exposure @ hazards))


# --------------------------------------------------------------------------- quantiles, strata
@pytest.mark.parametrize("p", [0.25, 0.5, 0.75])
def test_survival_quantile_p_against_hand_inversion(p):
    tree = fake_posterior(cuts=CUTS, hazards=HAZARDS, hr=0.5)
    q = median_survival(tree, p=p).isel(chain=0, draw=0)
    for arm, hazards in ((0, HAZARDS), (1, 0.5 * HAZARDS)):
        expected = brentq(lambda t: survival(t, hazards) - (1 - p), 1e-9, 1e3, xtol=1e-12)
        assert float(q.isel(arm=arm)) == pytest.approx(expected, rel=1e-8)
    # p = 0.25: H = -log(0.75) = 0.288 is reached in the first interval at 0.288 / 0.3.
    if p == 0.25:
        assert float(q.isel(arm=0)) == pytest.approx(-np.log(0.75) / 0.3, rel=1e-10)


def test_stratum_weights_mix_survival_curves():
    strata = np.array([HAZARDS, 2 * HAZARDS])
    tree = fake_posterior(cuts=CUTS, hazards=strata, hr=0.5, stratum_weight=[1.0, 1.0])
    for weights in ([3.0, 1.0], [0.1, 0.9]):
        w = np.asarray(weights) / sum(weights)
        s = milestone_survival(tree, [1.0, 5.0], stratum_weights=weights).isel(chain=0, draw=0)
        for i, t in enumerate((1.0, 5.0)):
            expected = w[0] * survival(t, HAZARDS) + w[1] * survival(t, 2 * HAZARDS)
            assert float(s.isel(arm=0)[i]) == pytest.approx(expected, rel=1e-10)
        med = float(median_survival(tree, stratum_weights=weights).isel(chain=0, draw=0, arm=0))
        mix = lambda t: w[0] * survival(t, HAZARDS) + w[1] * survival(t, 2 * HAZARDS) - 0.5  # noqa: E731
        assert med == pytest.approx(brentq(mix, 1e-9, 1e3, xtol=1e-12), abs=1e-8)
    # Default: the weights stored with the fit (here equal).
    equal = milestone_survival(tree, [5.0]).isel(chain=0, draw=0, arm=0).item()
    assert equal == pytest.approx(0.5 * survival(5.0, HAZARDS) + 0.5 * survival(5.0, 2 * HAZARDS))


# --------------------------------------------------------------------------- fit(compiled=)
def _trial(seed: int, n: int = 300) -> TrialData:
    df = simulate_pem(seed, n, HAZARDS, np.array(CUTS), -0.4)
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id")


@pytest.mark.parametrize("sampler", ["pymc", "numpyro"])
def test_compiled_model_serves_other_data_with_each_sampler(sampler):
    spec = PiecewiseExponential(cuts=CUTS)
    first, second = _trial(1), _trial(2)
    config = SamplerConfig(sampler=sampler, draws=200, tune=200, chains=2, seed=7,
                           progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 400 draws: ESS below 400
        compiled = compile_spec(spec, first, config)
        reused = fit(spec, second, sampler=config, compiled=compiled)
        fresh = fit(spec, second, sampler=config)
    assert reused.timings["compile_seconds"] == 0.0
    assert reused.sampler.sampler == sampler
    # The compiled model was given the second trial's data: same draws as a fresh fit.
    xr.testing.assert_allclose(reused.posterior["log_hr"], fresh.posterior["log_hr"])
    # ... and not the first trial's: the stored observed events are the second trial's.
    events = reused.idata["constant_data"]["observed_events"].values
    assert events.sum() == second.event.sum() != first.event.sum()


# --------------------------------------------------------------------------- save / load
def test_save_load_with_strata_and_covariates(tmp_path):
    df = simulate_pem(3, 300, HAZARDS, np.array(CUTS), -0.4, strata_shift=0.3,
                      beta={"sex": 0.2})
    data = TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id",
                                    strata="region", covariates=("sex",))
    spec = PiecewiseExponential(cuts=CUTS, strata=True, covariates=("sex",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = fit(spec, data, draws=200, tune=300, chains=2, seed=2, progress=False)
    back = FitResult.load(result.save(tmp_path / "fit.nc"))
    assert back.spec == spec
    xr.testing.assert_identical(back.posterior, result.posterior)
    np.testing.assert_array_equal(back.data.strata, data.strata)
    np.testing.assert_array_equal(back.data.covariates["sex"], data.covariates["sex"])
    assert back.data.fingerprint() == data.fingerprint()
    assert back.posterior.sizes["stratum"] == 2 and back.posterior.sizes["covariate"] == 1
    # Derived quantities that need the stored stratum weights give the same answer.
    xr.testing.assert_identical(milestone_survival(back, [3.0]), milestone_survival(result, [3.0]))


# --------------------------------------------------------------------------- CLI
def test_cli_simulate_writes_the_scenario(tmp_path, capsys):
    from pexsurv.cli import main
    from pexsurv.simulate import SCENARIOS

    out = tmp_path / "trial.csv"
    assert main(["simulate", "--scenario", "ct041_like", "--seed", "3", "-o", str(out)]) == 0
    written = pd.read_csv(out)
    expected = SCENARIOS["ct041_like"](seed=3).data
    assert len(written) == len(expected) and list(written.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(written, pd.read_csv(io.StringIO(
        expected.to_csv(index=False))))
    assert f"wrote {len(expected)} rows" in capsys.readouterr().err
    # To stdout with "-o -"; another seed gives another trial.
    assert main(["simulate", "--scenario", "ct041_like", "--seed", "4", "-o", "-"]) == 0
    other = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(other.columns) == list(written.columns)
    assert not other.equals(written)
