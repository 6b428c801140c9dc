"""Monte Carlo summaries are shown with no digit their Monte Carlo error cannot support
(pexsurv.workflows.rounding): posterior summaries to the second significant digit of their
MCSE, simulation summaries to the first, beside their MCSE."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from pexsurv.workflows import report
from pexsurv.workflows.rounding import (
    MAX_DECIMALS,
    format_interval,
    format_to_mcse,
    mcse_decimals,
    with_mcse,
)


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def test_report_keeps_its_names():
    """The report's rounding rule and its helper are the ones defined here."""
    assert report.mcse_decimals is mcse_decimals and report.MAX_DECIMALS == MAX_DECIMALS


@pytest.mark.parametrize(("mcse", "second", "first"), [
    (0.012, 3, 2), (0.3, 2, 1), (0.0999, 3, 2), (0.1, 2, 1), (4.0, 1, 0), (25.0, 0, -1),
    (1e-9, MAX_DECIMALS, MAX_DECIMALS)])
def test_mcse_decimals_second_and_first_significant_digit(mcse, second, first):
    assert mcse_decimals(mcse) == second
    assert mcse_decimals(mcse, digit=1) == first


def test_mcse_decimals_undefined_and_bad_digit():
    assert mcse_decimals(0.0) == mcse_decimals(float("nan")) == MAX_DECIMALS
    with pytest.raises(ValueError, match="digit must be 1 or more"):
        mcse_decimals(0.1, digit=0)


@pytest.mark.parametrize("seed", range(5))
def test_shown_value_never_finer_than_its_mcse(seed):
    """Brute force over random magnitudes: the text has exactly the decimals of the MCSE's
    chosen significant digit, and equals the value rounded there."""
    rng = np.random.default_rng(seed)
    for value, mcse in zip(rng.normal(0, 10.0 ** rng.uniform(-3, 2, 200)),
                           10.0 ** rng.uniform(-4, 1.5, 200)):
        for digit in (1, 2):
            text = format_to_mcse(value, mcse, digit=digit)
            place = math.floor(math.log10(mcse)) - (digit - 1)  # 10**place: last digit shown
            assert _decimals(text) == max(-place, 0), (value, mcse, digit, text)
            assert abs(float(text) - value) <= 0.5 * 10.0 ** place * (1 + 1e-9)


def test_format_special_values():
    assert format_to_mcse(float("nan"), 0.1) == "–"
    assert format_to_mcse(float("inf"), 0.1) == "inf"
    assert format_to_mcse(0.0, 0.0, digit=1) == "0"        # a rate of 0: binomial MCSE 0
    assert format_to_mcse(0.123456, float("nan"), digit=1) == "0.1"  # one trial: no MCSE
    assert format_to_mcse(0.123456, 0.0001, max_decimals=2) == "0.12"  # a display cap
    assert format_to_mcse(0.123456, 0.1, max_decimals=4) == "0.12"     # never above the MCSE


def test_format_interval_shares_the_coarsest_decimals():
    # The upper bound's MCSE (0.12) allows 2 decimals: all three numbers get 2.
    assert format_interval([0.50312, 0.2412, 1.0467], [0.002, 0.004, 0.12]) == \
        "0.50 (0.24 to 1.05)"
    assert format_interval([0.50312, 0.2412, 1.0467], [0.002, 0.004, 0.003]) == \
        "0.5031 (0.2412 to 1.0467)"
    assert format_interval([0.50312, 0.2412, 1.0467], [0.002, 0.004, 0.003],
                           max_decimals=2) == "0.50 (0.24 to 1.05)"
    with pytest.raises(ValueError, match="three values"):
        format_interval([0.5, 0.2], [0.01, 0.01])


def test_with_mcse_combines_rounds_and_keeps_other_columns():
    table = pd.DataFrame({"trials": [100, 5, 5], "measure": ["power", "type I", "other"],
                          "p": [0.8123, 0.0, 0.8], "p_mcse": [0.039, 0.0, 0.179],
                          "bias": [-0.0812, -0.073, np.nan],
                          "bias_mcse": [0.0123, np.nan, np.nan]}, index=list("abc"))
    shown = with_mcse(table)
    assert list(shown.columns) == ["trials", "measure", "p (MCSE)", "bias (MCSE)"]
    assert shown["p (MCSE)"].tolist() == ["0.81 (0.04)", "0 (0)", "0.8 (0.2)"]
    assert shown["bias (MCSE)"].tolist() == ["-0.08 (0.01)", "-0.07 (n/a)", "–"]
    assert shown["trials"].tolist() == [100, 5, 5]           # counts untouched
    pd.testing.assert_frame_equal(table, table.copy())        # the input is not changed
    # The display reads back: every "value (MCSE)" cell has the MCSE's decimals.
    for cell in shown[["p (MCSE)", "bias (MCSE)"]].to_numpy().ravel():
        match = re.fullmatch(r"(-?[\d.]+) \(([\d.]+)\)", cell)
        if match:
            assert _decimals(match[1]) == _decimals(match[2]), cell


def test_with_mcse_named_columns_and_errors():
    table = pd.DataFrame({"cov": [0.9512], "se_cov": [0.0213]})
    assert with_mcse(table, {"cov": "se_cov"}, digit=2).iat[0, 0] == "0.951 (0.021)"
    with pytest.raises(KeyError, match=r"'power' \(MCSE column 'power_mcse'\)"):
        with_mcse(table, ["power"])


@pytest.mark.parametrize("draws", [10, 4000])
def test_posterior_interval_text_uses_arviz_mcse_of_each_number(draws):
    """Decimals = the fewest any of the three MCSEs (ArviZ, computed here independently)
    supports; fewer draws, fewer decimals."""
    import arviz as az
    import xarray as xr

    x = np.exp(np.random.default_rng(3).normal(-0.7, 0.3, size=(4, draws)))
    da = xr.DataArray(x, dims=("chain", "draw"))
    mcses = [float(az.mcse(da, method="median")),
             float(az.mcse(da, method="quantile", prob=0.025)),
             float(az.mcse(da, method="quantile", prob=0.975))]
    d = min(mcse_decimals(m) for m in mcses)
    text = report.posterior_interval_text(x)
    numbers = re.fullmatch(r"([\d.]+) \(([\d.]+) to ([\d.]+)\)", text).groups()
    assert [_decimals(t) for t in numbers] == [d] * 3, text
    assert float(numbers[0]) == pytest.approx(np.median(x), abs=0.5 * 10.0 ** -d)
    assert float(numbers[2]) == pytest.approx(np.quantile(x, 0.975), abs=0.5 * 10.0 ** -d)
    assert _decimals(report.posterior_interval_text(x, max_decimals=1).split()[0]) == min(d, 1)
