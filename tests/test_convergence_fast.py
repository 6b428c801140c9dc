"""The verdict's diagnostics table ranks every element's split chains once, in one call,
instead of ArviZ's three rankings per element: its numbers must still be ArviZ's array
functions' own, bit for bit, on continuous, tied, odd-length, badly mixed and constant
draws."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from arviz_stats.base import array_stats

from pexsurv.fitting.convergence import TAIL_ESS_PROBS, diagnostics_table

_RNG = np.random.default_rng(0)
CASES = {
    "normal": _RNG.standard_normal((4, 1000, 6)),
    "odd_draws": _RNG.standard_normal((3, 501, 2)),
    "ties": _RNG.integers(0, 5, (4, 200, 3)).astype(float),
    "random_walk": _RNG.standard_normal((4, 300, 2)).cumsum(axis=1),
    "one_chain": _RNG.standard_normal((1, 300, 2)),         # ArviZ's own path: R-hat NaN
    "with_nan": np.where(_RNG.random((2, 100, 2)) < 0.01, np.nan, 0.0),  # ArviZ's own path
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_table_equals_arviz_array_functions_bit_for_bit(case):
    draws = CASES[case]
    table = diagnostics_table(xr.Dataset({"b": (("chain", "draw", "k"), draws)}))
    ary = np.moveaxis(draws, 2, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = {"r_hat": array_stats.rhat(ary),
                    "ess_bulk": array_stats.ess(ary, method="bulk"),
                    "ess_tail": array_stats.ess(ary, method="tail", prob=TAIL_ESS_PROBS),
                    "mcse_mean": array_stats.mcse(ary, method="mean")}
    for column, values in expected.items():
        np.testing.assert_array_equal(table[column].to_numpy(), np.asarray(values, dtype=float),
                                      err_msg=column)
