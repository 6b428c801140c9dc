"""Mutation tests for ``pexsurv/workflows/rounding.py`` (issue 18): the report's rounding of
Monte Carlo summaries to their MCSE. Every expected string is written by hand from the
documented rule (decimals = ``digit - 1 - floor(log10(mcse))``, at most 6), with values chosen
away from rounding ties. No MCMC: the module is loaded from its file (``tests/isolated.py``).
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from isolated import load

rounding = load("pexsurv/workflows/rounding.py")
NAN, INF = float("nan"), float("inf")


def test_constants() -> None:
    assert rounding.MAX_DECIMALS == 6
    assert rounding.MISSING == "–"
    assert sorted(rounding.__all__) == ["MAX_DECIMALS", "format_interval", "format_to_mcse",
                                        "mcse_decimals", "with_mcse"]


@pytest.mark.parametrize(("mcse", "digit", "expected"), [
    (0.012, 2, 3), (0.012, 1, 2), (0.3, 2, 2), (0.3, 1, 1), (4.0, 2, 1), (4.0, 1, 0),
    (0.1, 2, 2), (0.1, 1, 1), (0.0999, 2, 3), (1.0, 2, 1), (0.01, 2, 3),   # powers of ten
    (10.0, 2, 0), (12.0, 1, -1), (99.0, 2, 0), (1234.0, 2, -2), (1234.0, 1, -3),  # tens, ...
    (0.039, 3, 4), (0.039, 4, 5),
    (1e-5, 2, 6), (1e-5, 1, 5), (2e-6, 1, 6), (1e-6, 2, 6), (1e-9, 1, 6),  # the cap
    (0.0, 2, 6), (0.0, 1, 6), (NAN, 2, 6), (INF, 1, 6),
])
def test_mcse_decimals(mcse: float, digit: int, expected: int) -> None:
    got = rounding.mcse_decimals(mcse, digit)
    assert got == expected and type(got) is int


def test_mcse_decimals_default_digit_is_two() -> None:
    assert rounding.mcse_decimals(0.012) == 3
    assert rounding.mcse_decimals(0.0) == 6


@pytest.mark.parametrize("digit", [0, -1])
def test_mcse_decimals_refuses_digit_below_one(digit: int) -> None:
    with pytest.raises(ValueError, match=rf"digit must be 1 or more .*got {digit}$"):
        rounding.mcse_decimals(0.1, digit)


@pytest.mark.parametrize(("value", "mcse", "kwargs", "expected"), [
    (0.81234, 0.039, {"digit": 1}, "0.81"), (0.81234, 0.039, {}, "0.812"),
    (0.81234, 0.039, {"digit": 3}, "0.8123"),
    (0.0996, 0.3, {}, "0.10"), (9.996, 0.3, {}, "10.00"), (-0.0996, 0.3, {}, "-0.10"),  # carries
    (0.0996, 0.3, {"digit": 1}, "0.1"), (0.96, 0.3, {"digit": 1}, "1.0"),
    (-0.0812, 0.12, {"digit": 1}, "-0.1"), (-1.23456, 0.012, {}, "-1.235"),
    (123.4, 12.0, {"digit": 1}, "120"), (123.4, 12.0, {}, "123"), (167.0, 12.0, {"digit": 1}, "170"),
    (123456.7, 1500.0, {}, "123500"), (-123456.7, 1500.0, {"digit": 1}, "-123000"),
    (0.000123456, 1e-9, {}, "0.000123"), (0.000123456, 2.3e-4, {}, "0.00012"),
    (0.000123456, 2.3e-5, {"digit": 1}, "0.00012"),
    (2, 0.3, {}, "2.00"),
    # a display cap below what the MCSE allows, never above it
    (0.81234, 0.0004, {"max_decimals": 2}, "0.81"), (0.81234, 0.039, {"max_decimals": 5}, "0.812"),
    (0.81234, 0.0004, {"max_decimals": 0}, "1"), (123.4, 0.01, {"max_decimals": -1}, "120"),
    (0.81234, 0.039, {"digit": 1, "max_decimals": 1}, "0.8"),
    # MCSE zero: the value as it is
    (1.0, 0.0, {}, "1"), (0.0, 0.0, {}, "0"), (-0.5, 0.0, {"digit": 1}, "-0.5"),
    (0.123456789, 0.0, {}, "0.123457"), (1234567.0, 0.0, {}, "1.23457e+06"),
    (0.81234, 0.0, {"max_decimals": 2}, "0.81234"),
    # MCSE undefined: `digit` significant digits
    (0.81234, NAN, {}, "0.81"), (0.81234, NAN, {"digit": 1}, "0.8"), (123.4, NAN, {}, "1.2e+02"),
    (0.81234, INF, {}, "0.81"), (-0.81234, INF, {"digit": 3}, "-0.812"),
    (0.81234, NAN, {"max_decimals": 0}, "0.81"),
    # missing and infinite values, whatever the MCSE
    (NAN, 0.1, {}, "–"), (NAN, 0.0, {}, "–"), (NAN, NAN, {}, "–"),
    (INF, 0.1, {}, "inf"), (-INF, 0.0, {}, "-inf"), (INF, NAN, {}, "inf"),
])
def test_format_to_mcse(value: float, mcse: float, kwargs: dict, expected: str) -> None:
    assert rounding.format_to_mcse(value, mcse, **kwargs) == expected


def test_format_to_mcse_takes_numpy_scalars() -> None:
    assert rounding.format_to_mcse(np.float32(0.8125), np.float64(0.039), digit=1) == "0.81"


def test_format_to_mcse_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        rounding.format_to_mcse(0.8, 0.03, 1)


@pytest.mark.parametrize(("values", "mcses", "kwargs", "expected"), [
    ([0.50312, 0.2412, 1.0467], [0.002, 0.004, 0.12], {}, "0.50 (0.24 to 1.05)"),
    ([0.50312, 0.2412, 1.0467], [0.12, 0.002, 0.004], {}, "0.50 (0.24 to 1.05)"),
    ([0.50312, 0.2412, 1.0467], [0.002, 0.12, 0.004], {}, "0.50 (0.24 to 1.05)"),
    ([0.50312, 0.2412, 1.0467], [0.012, 0.014, 0.013], {}, "0.503 (0.241 to 1.047)"),
    ([0.50312, 0.2412, 1.0467], [0.0002, 0.0004, 0.0003], {"max_decimals": 2},
     "0.50 (0.24 to 1.05)"),
    ([0.50312, 0.2412, 1.0467], [0.002, 0.004, 0.12], {"max_decimals": 4}, "0.50 (0.24 to 1.05)"),
    ([-0.35678, -0.81234, 0.10456], [0.013, 0.014, 0.016], {}, "-0.357 (-0.812 to 0.105)"),
    ([0.0996, 0.0496, 0.996], [0.3, 0.3, 0.3], {}, "0.10 (0.05 to 1.00)"),
    ([1234.6, 1000.2, 1500.7], [12.0, 15.0, 30.0], {}, "1235 (1000 to 1501)"),
    ([1234.6, 1000.2, 1500.7], [12.0, 150.0, 30.0], {}, "1230 (1000 to 1500)"),
    ([0.5, 0.25, 1.0], [0.0, 0.0, 0.0], {}, "0.500000 (0.250000 to 1.000000)"),
    ([0.50312, 0.2412, 1.0467], [NAN, 0.014, 0.014], {}, "0.503 (0.241 to 1.047)"),
    ([0.000123456, 0.0000123, 0.00123456], [1e-9, 1e-9, 1e-9], {}, "0.000123 (0.000012 to 0.001235)"),
])
def test_format_interval(values: list, mcses: list, kwargs: dict, expected: str) -> None:
    assert rounding.format_interval(values, mcses, **kwargs) == expected
    assert rounding.format_interval(np.array(values), tuple(mcses), **kwargs) == expected


@pytest.mark.parametrize(("values", "mcses", "counts"), [
    ([0.5, 0.2], [0.1, 0.1, 0.1], "2 and 3"), ([0.5, 0.2, 1.0], [0.1, 0.1, 0.1, 0.1], "3 and 4"),
    ([0.5, 0.2, 1.0, 2.0], [0.1, 0.1], "4 and 2"),
    ([0.5, 0.2, 1.0, 2.0], [0.1, 0.1, 0.1], "4 and 3"), ([0.5, 0.2, 1.0], [0.1, 0.1], "3 and 2"),
])
def test_format_interval_needs_three_of_each(values: list, mcses: list, counts: str) -> None:
    with pytest.raises(ValueError, match=r"three values \(estimate, lower, upper\) and their three "
                                         rf"MCSEs, got {counts}$"):
        rounding.format_interval(values, mcses)


def test_format_interval_cap_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        rounding.format_interval([0.5, 0.2, 1.0], [0.1, 0.1, 0.1], 2)


def _table() -> pd.DataFrame:
    return pd.DataFrame({"trials": [100, 100, 100, 100, 100],
                         "power": [0.8123, 0.0312, 1.0, NAN, 123.4],
                         "label": list("abcde"),
                         "power_mcse": [0.039, 0.017, 0.0, 0.05, 12.0],
                         "bias": [-0.0812, 0.2, 0.8123, 0.5, 0.0],
                         "bias_mcse": [0.12, NAN, INF, 0.0951, 0.0]},
                        index=["HR 0.6", "HR 1", "HR 0.1", "HR 2", "HR 3"])


def test_with_mcse_default_pairs_every_column_with_its_mcse() -> None:
    table = _table()
    before = table.copy()
    out = rounding.with_mcse(table)
    assert list(out.columns) == ["trials", "power (MCSE)", "label", "bias (MCSE)"]
    assert list(out.index) == list(table.index)
    assert list(out["power (MCSE)"]) == ["0.81 (0.04)", "0.03 (0.02)", "1 (0)", "–", "120 (10)"]
    assert list(out["bias (MCSE)"]) == ["-0.1 (0.1)", "0.2 (n/a)", "0.8 (n/a)", "0.50 (0.10)",
                                        "0 (0)"]
    pd.testing.assert_series_equal(out["trials"], table["trials"])
    pd.testing.assert_series_equal(out["label"], table["label"])
    pd.testing.assert_frame_equal(table, before)   # the input is left alone


def test_with_mcse_digit_two() -> None:
    out = rounding.with_mcse(_table(), ["power"], digit=2)
    assert list(out["power (MCSE)"]) == ["0.812 (0.039)", "0.031 (0.017)", "1 (0)", "–",
                                         "123 (12)"]


def test_with_mcse_named_columns_leave_the_others() -> None:
    table = _table()
    out = rounding.with_mcse(table, ["bias"])
    assert list(out.columns) == ["trials", "power", "label", "power_mcse", "bias (MCSE)"]
    pd.testing.assert_series_equal(out["power_mcse"], table["power_mcse"])
    assert list(rounding.with_mcse(table, []).columns) == list(table.columns)


def test_with_mcse_mapping_and_suffix() -> None:
    table = pd.DataFrame({"cover": [0.9512], "se": [0.0071], "x_se": [1.0], "x": [2.0]})
    out = rounding.with_mcse(table, {"cover": "se"})
    assert list(out.columns) == ["cover (MCSE)", "x_se", "x"]
    assert out["cover (MCSE)"].iloc[0] == "0.951 (0.007)"
    out = rounding.with_mcse(table, suffix="_se")
    assert list(out.columns) == ["cover", "se", "x (MCSE)"]
    assert out["x (MCSE)"].iloc[0] == "2 (1)"
    assert list(rounding.with_mcse(table).columns) == list(table.columns)   # no "_mcse" pairs


@pytest.mark.parametrize(("columns", "named"), [
    (["power", "nope"], "'nope' (MCSE column 'nope_mcse')"),
    (["trials"], "'trials' (MCSE column 'trials_mcse')"),
    ({"power": "se_power"}, "'power' (MCSE column 'se_power')"),
    ({"nope": "power_mcse"}, "'nope' (MCSE column 'power_mcse')"),
])
def test_with_mcse_missing_columns(columns, named: str) -> None:
    table = _table()
    with pytest.raises(KeyError) as raised:
        rounding.with_mcse(table, columns)
    message = raised.value.args[0]
    assert message == (f"with_mcse: not in the table: {named}; columns are "
                       f"{list(table.columns)}")


def test_with_mcse_names_every_missing_column() -> None:
    with pytest.raises(KeyError) as raised:
        rounding.with_mcse(_table(), ["a", "power", "b"])
    assert "'a' (MCSE column 'a_mcse'), 'b' (MCSE column 'b_mcse');" in raised.value.args[0]


def test_a_negative_mcse_is_refused() -> None:
    # an MCSE below zero is an upstream bug: refused, never shown or hidden as "0"
    table = pd.DataFrame({"power": [0.5], "power_mcse": [-0.1]})
    with pytest.raises(ValueError, match=r"mcse must be a standard error .* got -0.1"):
        rounding.with_mcse(table)
    with pytest.raises(ValueError, match="got -1e-12"):
        rounding.mcse_decimals(-1e-12)
    assert rounding.mcse_decimals(float("nan")) == rounding.MAX_DECIMALS
    for bad in (-0.1, -INF):
        with pytest.raises(ValueError, match="mcse must be a standard error"):
            rounding.mcse_decimals(bad)
        with pytest.raises(ValueError, match="mcse must be a standard error"):
            rounding.format_to_mcse(0.5, bad)


def test_values_that_round_to_zero_from_below_lose_their_sign() -> None:
    assert rounding.format_to_mcse(-0.0004, 0.3) == "0.00"
    assert rounding.format_interval([-0.001, -0.004, 0.002], [0.3] * 3) == "0.00 (0.00 to 0.00)"
    assert rounding.format_to_mcse(-4.0, 30.0, digit=1) == "0"  # rounded to tens
    assert rounding.format_to_mcse(-0.006, 0.3) == "-0.01"


def test_with_mcse_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        rounding.with_mcse(_table(), None, 2)
