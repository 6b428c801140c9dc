"""The prior-sensitivity verdict (diagnostics/sensitivity.py) without sampling: the posterior
draws are written by hand, tight around the truth for a large trial (the data dominate the
log-HR prior N(0, 0.2)) and as wide as the prior for a small one (the prior dominates), so
that each mutant's run takes seconds instead of the two fits of tests/test_verdicts.py
(issue 18; record in benchmarks/mutation.md, section ``diagnostics/sensitivity.py``)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from simtools import simulate_pem

from pexsurv import TrialData
from pexsurv.diagnostics import PSENSE_THRESHOLD, PriorSensitivity, prior_sensitivity
from pexsurv.models import PiecewiseExponential
from pexsurv.priors import Normal

CUTS = (2.0, 6.0)
RATES = np.array([0.3, 0.2, 0.1])
SPEC = PiecewiseExponential(cuts=CUTS, priors={"log_hr": Normal(0.0, 0.2)})


def hand_fit(n: int, sd: float) -> SimpleNamespace:
    """What prior_sensitivity reads from a FitResult: 2 chains x 500 independent draws,
    normal with ``sd`` around the true log hazards and log HR 0."""
    df = simulate_pem(1, n, RATES, np.array(CUTS), 0.0)
    data = TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id")
    rng = np.random.default_rng(0)
    log_hr = rng.normal(0.0, sd, (2, 500))
    posterior = xr.Dataset({
        "log_hazard_base": (("chain", "draw", "interval"),
                            np.log(RATES) + rng.normal(0.0, sd, (2, 500, 3))),
        "log_hr": (("chain", "draw"), log_hr), "hr": (("chain", "draw"), np.exp(log_hr))})
    return SimpleNamespace(idata=xr.DataTree.from_dict({"posterior": posterior}), spec=SPEC,
                           data=data, priors=SPEC.resolved_priors(data), posterior=posterior)


@pytest.fixture(scope="module")
def fits():
    return {"large": hand_fit(4000, 0.03), "small": hand_fit(20, 0.2)}


@pytest.fixture(scope="module")
def checks(fits):
    return {name: prior_sensitivity(fit) for name, fit in fits.items()}


def test_threshold_is_priorsenses(checks):
    assert PSENSE_THRESHOLD == 0.05  # Kallioinen et al. (2024), ArviZ's default
    assert checks["large"].threshold == checks["small"].threshold == 0.05


def test_data_dominated_posterior_passes(checks, fits):
    check = checks["large"]
    assert check.table.loc["log_hr", "prior"] < 0.05
    assert check.passed is True and check.var_names == ("log_hr",)
    assert check.text == ("Power-scaling: prior sensitivity below 0.05 for log_hr; the prior "
                          "does not drive these estimates.")
    assert {"log_prior", "log_likelihood", "posterior"} <= set(check.idata.children)
    assert "log_prior" not in fits["large"].idata.children  # the fit's own tree is untouched


def test_prior_dominated_posterior_fails(checks):
    check = checks["small"]
    prior = check.table.loc["log_hr", "prior"]
    assert 0.05 <= prior < 1.0  # a sensitivity in (0.05, 1) separates 0.05 from 1.05 and -0.95
    assert check.passed is False
    assert check.text.startswith("Power-scaling: prior sensitivity >= 0.05 for log_hr (")
    assert check.text.endswith("): report how the estimate moves under other priors.")


def test_sensitivity_at_the_threshold_fails(fits, checks):
    # "passed: no prior sensitivity at or above the threshold"
    at = float(checks["small"].table.loc["log_hr", "prior"])
    assert not prior_sensitivity(fits["small"], threshold=at).passed
    assert prior_sensitivity(fits["small"], threshold=at + 0.001).passed


def test_text_flags_exactly_the_variables_at_or_above_the_threshold():
    table = pd.DataFrame({"prior": [0.05, 0.049, 0.2], "likelihood": [0.1, 0.1, 0.01],
                          "diagnosis": ["conflict", "✓", "strong prior"]},
                         index=["a", "b", "c"])
    check = PriorSensitivity(passed=False, table=table, idata=xr.DataTree(), var_names=("a",))
    assert check.threshold == 0.05 and check.name == "prior_sensitivity"
    assert check.text == ("Power-scaling: prior sensitivity >= 0.05 for a, c (conflict; strong "
                          "prior): report how the estimate moves under other priors.")
    calm = PriorSensitivity(passed=True, table=table.iloc[[1]], idata=xr.DataTree(),
                            var_names=("b",))
    assert calm.text.startswith("Power-scaling: prior sensitivity below 0.05 for b;")


def test_check_is_immutable_and_silent(fits, capfd):
    capfd.readouterr()
    check = prior_sensitivity(fits["large"])
    assert capfd.readouterr() == ("", "")  # no progress bar on the user's terminal
    with pytest.raises(AttributeError):
        check.passed = False
