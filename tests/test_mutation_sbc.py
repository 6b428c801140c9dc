"""The SBC rank statistics and verdict (diagnostics/sbc.py) on ranks built by hand, each
number computed here independently (counts, chi-square by hand, scipy's KS test on the
documented randomized PIT, ArviZ's band helper). Written against the mutants that
tests/test_sbc.py let survive (issue 18; record in benchmarks/mutation.md, section
``diagnostics/sbc.py``).

The module is loaded from its file (tests/isolated.py): it needs the core, scipy and
arviz_stats only, and importing ``pexsurv.diagnostics`` would cost each mutant's run PyMC's
import time."""

import numpy as np
import pandas as pd
import pytest
from arviz_stats.ecdf_utils import ecdf_pit
from isolated import load
from scipy import stats

sbc = load("diagnostics/sbc.py")
SBCResult, sbc_ranks = sbc.SBCResult, sbc.sbc_ranks


def from_ranks(columns: dict, max_rank: int, **kwargs) -> "sbc.SBCResult":
    return SBCResult.from_ranks(pd.DataFrame(columns), max_rank, **kwargs)


# --------------------------------------------------------------------------- ranks
def test_ranks_over_the_last_axis_with_ties_not_below():
    truth = np.array([[0.5, 2.0, 3.0], [-1.0, 10.0, 1.0]])
    draws = np.stack([truth + d for d in (-1.0, 0.0, 0.25, -0.5)], axis=-1)  # (2, 3, 4)
    # each truth has two draws strictly below it (-1, -0.5), one tie (0) and one above
    np.testing.assert_array_equal(sbc_ranks(truth, draws), np.full((2, 3), 2))
    assert sbc_ranks(1.0, [1.0, 1.0, 0.0]) == 1


# --------------------------------------------------------------------------- binning
@pytest.mark.parametrize("n_sims, max_rank, bins", [(55, 99, 5), (15, 99, 2), (210, 99, 20),
                                                    (100, 3, 4), (29, 99, 2), (30, 99, 3)])
def test_default_bins_are_ten_simulations_each_within_2_to_20(n_sims, max_rank, bins):
    assert sbc._default_bins(n_sims, max_rank) == bins


def test_from_ranks_uses_the_default_bins():
    assert from_ranks({"x": np.arange(30) % 10}, 99).bins == 3


def test_chi_square_by_hand_with_unequal_bins():
    # ranks 0..4 in 2 bins: {0, 1, 2} (expected share 3/5) and {3, 4} (2/5); 10 ranks
    ranks = np.array([0, 0, 1, 2, 2, 2, 3, 4, 4, 4])  # observed 6 and 4, expected 6 and 4
    row = from_ranks({"x": ranks}, 4, bins=2).table.loc["x"]
    assert row["chi2"] == pytest.approx(0.0, abs=1e-12) and row["df"] == 1
    ranks = np.array([0, 3, 3, 4, 4, 4, 4, 4, 4, 4])  # observed 1 and 9, expected 6 and 4
    row = from_ranks({"x": ranks}, 4, bins=2).table.loc["x"]
    chi2 = (1 - 6) ** 2 / 6 + (9 - 4) ** 2 / 4
    assert row["chi2"] == pytest.approx(chi2)
    assert row["chi2_p"] == pytest.approx(stats.chi2.sf(chi2, 1))
    three = from_ranks({"x": np.arange(9)}, 8, bins=3).table.loc["x"]
    assert three["df"] == 2 and three["chi2"] == pytest.approx(0.0, abs=1e-12)


def test_ks_on_the_randomized_fractional_ranks():
    # The documented PIT: u = (rank + V) / (max_rank + 1), V ~ U(0, 1) from the seed's
    # generator after the band seed is drawn.
    ranks = np.array([0, 1, 1, 5, 9, 9, 9, 3, 2, 7, 8, 0])
    check = from_ranks({"x": ranks}, 9, seed=7)
    rng = np.random.default_rng(7)
    rng.integers(2**31)
    u = (ranks + rng.random(ranks.size)) / 10
    assert check.table.loc["x", "ks_stat"] == pytest.approx(stats.kstest(u, "uniform").statistic)
    assert check.table.loc["x", "ks_p"] == pytest.approx(stats.kstest(u, "uniform").pvalue)


def test_band_is_arviz_pit_band_from_the_seed():
    # 60 simulations at 95%: a size where the band differs between band seeds and between
    # 1000 and 1001 band simulations (at 40 and 90% it does not).
    ranks = np.arange(60) % 20
    check = from_ranks({"a": ranks, "b": ranks[::-1].copy()}, 19, seed=3, ci_prob=0.95)
    band_seed = int(np.random.default_rng(3).integers(2**31))
    u = np.linspace(0.01, 0.99, ranks.size)  # the band depends on the number of values only
    x, _, lower, upper = ecdf_pit(u, 0.95, 1000, rng=np.random.default_rng(band_seed))
    np.testing.assert_array_equal(check.band.index, x)
    np.testing.assert_array_equal(check.band["lower"], lower)
    np.testing.assert_array_equal(check.band["upper"], upper)
    assert check.ecdf.index.name == check.band.index.name == "fractional_rank"
    assert list(check.ecdf.columns) == ["a", "b"]


def test_in_band_fails_above_or_below_the_band():
    low, high = np.zeros(40, dtype=int), np.full(40, 39)
    check = from_ranks({"low": low, "high": high, "flat": np.arange(40)}, 39)
    # all ranks 0: the ECDF jumps to 1 at once (above the band); all at the top: stays at 0
    assert check.table["in_band"].to_dict() == {"low": False, "high": False, "flat": True}
    assert check.table["mean_rank"].to_dict() == {"low": 0.0, "high": 1.0, "flat": 0.5}


# --------------------------------------------------------------------------- verdict
def _two_bin_ranks(below: int, above: int) -> np.ndarray:
    return np.array([0] * below + [1] * above)


# 21 vs 9 of 30 in two equal bins: chi2 = 12^2 / 30 = 4.8, p = 0.0285
SKEW_CHI2 = 4.8


def test_bonferroni_threshold_is_alpha_over_parameters():
    skew, fair = _two_bin_ranks(21, 9), _two_bin_ranks(15, 15)
    p = stats.chi2.sf(SKEW_CHI2, 1)
    one = from_ranks({"skew": skew}, 1, alpha=0.05)
    assert one.table.loc["skew", "chi2_p"] == pytest.approx(p)
    assert not one.passed and not one.table.loc["skew", "ok"]  # p < 0.05 / 1
    two = from_ranks({"skew": skew, "fair": fair}, 1, alpha=0.05)
    assert two.passed and two.table["ok"].all()  # p > 0.05 / 2
    higher = from_ranks({"skew": skew, "fair": fair}, 1, alpha=0.06)
    assert not higher.passed  # p < 0.06 / 2
    assert higher.table["ok"].to_dict() == {"skew": False, "fair": True}


def test_result_fields_and_defaults():
    ranks = {"x": np.array([0, 2, 4, 4], dtype=np.uint8)}  # unsigned integers are integers
    check = from_ranks(ranks, 4, settings={"draws": 4})
    assert (check.max_rank, check.alpha, check.ci_prob, check.n_sims) == (4, 0.01, 0.95, 4)
    assert check.n_failed == 0 and check.fits["converged"].all()
    assert check.settings == {"draws": 4} and check.truth is None
    assert check.table.index.name == "parameter"
    assert from_ranks(ranks, 4).settings == {}
    fits = pd.DataFrame({"converged": [True, False, False, True]})
    truth = pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.4]})
    given = from_ranks(ranks, 4, fits=fits, truth=truth)
    assert given.fits is fits and given.truth is truth and given.n_failed == 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(max_rank=0), "max_rank must be >= 1"),
    (dict(alpha=0.0), "alpha and ci_prob"), (dict(alpha=1.0), "alpha and ci_prob"),
    (dict(ci_prob=0.0), "alpha and ci_prob"), (dict(ci_prob=1.0), "alpha and ci_prob"),
    (dict(bins=1), r"bins must be in 2\.\.4"), (dict(bins=5), r"bins must be in 2\.\.4"),
    (dict(ranks=[0, -1]), r"integers in 0\.\.3"), (dict(ranks=[0, 4]), r"integers in 0\.\.3"),
    (dict(ranks=[]), r"non-empty frame of integers in 0\.\.3"),
])
def test_invalid_arguments_are_refused(kwargs, message):
    ranks = pd.DataFrame({"x": np.array(kwargs.pop("ranks", [0, 3, 1]), dtype=int)})
    kwargs.setdefault("max_rank", 3)
    with pytest.raises(ValueError, match=message):
        SBCResult.from_ranks(ranks, **kwargs)


def test_edge_values_are_accepted():
    assert from_ranks({"x": [0, 1, 1, 0]}, 1, bins=2).bins == 2
    assert from_ranks({"x": [0, 3, 1]}, 3, bins=4, alpha=0.5, ci_prob=0.5).bins == 4


def test_text_states_verdict_threshold_band_and_failures():
    skew, fair = _two_bin_ranks(21, 9), _two_bin_ranks(15, 15)
    fits = pd.DataFrame({"converged": [True] * 27 + [False] * 3})
    check = from_ranks({"fair": fair, "skew": skew}, 1, alpha=0.06, fits=fits)
    lines = check.text.splitlines()
    assert lines[0] == (
        "Simulation-based calibration FAILED: ranks of 2 parameter(s) over 30 simulations "
        f"(1 posterior draws each); smallest chi-square p = {stats.chi2.sf(SKEW_CHI2, 1):.3g} (skew), "
        f"threshold 0.06/2 = 0.03 (Bonferroni); ECDF inside the 95% simultaneous band for "
        f"{int(check.table['in_band'].sum())} of 2.")
    assert lines[1:] == ["- non-uniform: skew",
                         "- 3 of 30 fits failed convergence thresholds (ranks kept: dropping "
                         "them would condition on the data)"]
    ok = from_ranks({"fair": fair}, 1)
    assert ok.text.startswith("Simulation-based calibration passed:")
    assert ok.text.endswith("band for 1 of 1.") and len(ok.text.splitlines()) == 1


@pytest.mark.parametrize("kwargs", [dict(alpha=1.5), dict(ci_prob=1.5), dict(alpha=-0.5),
                                    dict(ci_prob=-0.5)])
def test_levels_outside_zero_one_are_refused(kwargs):
    with pytest.raises(ValueError, match="alpha and ci_prob must be in"):
        from_ranks({"x": [0, 3, 1]}, 3, **kwargs)


def test_ranks_need_not_include_zero():
    assert from_ranks({"x": [1, 2, 3, 3]}, 3).n_sims == 4


def test_p_value_exactly_at_the_threshold_passes():
    # "ok: chi2_p >= alpha / m"
    skew = {"skew": _two_bin_ranks(21, 9)}
    p = from_ranks(skew, 1).table.loc["skew", "chi2_p"]
    at = from_ranks(skew, 1, alpha=p)
    assert at.table.loc["skew", "ok"] and at.passed


def test_result_is_immutable():
    check = from_ranks({"x": [0, 3, 1]}, 3)
    with pytest.raises(AttributeError):
        check.passed = False


def test_result_is_hashable_by_identity_and_seed_defaults_to_zero():
    ranks = {"x": np.arange(30) % 10}
    check = from_ranks(ranks, 9)
    assert {check: 1}[check] == 1 and check != from_ranks(ranks, 9)  # eq=False
    assert check.table.loc["x", "ks_stat"] == from_ranks(ranks, 9, seed=0).table.loc["x", "ks_stat"]
    assert check.table.loc["x", "ks_stat"] != from_ranks(ranks, 9, seed=1).table.loc["x", "ks_stat"]
