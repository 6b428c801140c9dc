"""A sweep's dataset, table and robustness verdict (pexsurv/workflows/sweep/result.py) on
records written by hand, so that every expected share, flip and status is known without a
fit. Written against the mutants that tests/test_sweep.py let survive (issue 18; record in
benchmarks/mutation.md, section ``pexsurv/workflows/sweep/result.py``).

The module is loaded from its file (tests/isolated.py): importing
``pexsurv.workflows.sweep`` would cost each mutant's run PyMC's import time."""

import math

import numpy as np
import pytest
from isolated import load

result = load("pexsurv/workflows/sweep/result.py")
DecisionRule, SweepResult, build_dataset = result.DecisionRule, result.SweepResult, result.build_dataset

THRESHOLDS = (1.0, 0.8)


def record(p1: float, p08: float = 0.1, *, converged: bool = True, seed: int = 11,
           hr: float = 0.7) -> dict:
    return {"hr_median": hr, "hr_lower": hr / 2, "hr_upper": hr * 2, "log_hr_mean": math.log(hr),
            "log_hr_sd": 0.3, "max_r_hat": 1.001, "min_ess": 900.0, "divergences": 0,
            "p_hr_lt": {"1.0": p1, "0.8": p08}, "converged": converged, "seed": seed}


def sweep(dims: dict, records: dict, thresholds=THRESHOLDS) -> SweepResult:
    return SweepResult(dataset=build_dataset(dims, records, thresholds),
                       records=list(records.values()), store=None)


# 2 x 3 grid: prior sd (reference 1.0) x cuts (reference "a"). P(HR < 1):
#            a      b      c
#   1.0    0.99   0.97   0.90
#   0.5    0.96   0.80   (error)
DIMS = {"sd": [1.0, 0.5], "cuts": ["a", "b", "c"]}
RECORDS = {(1.0, "a"): record(0.99, seed=1), (1.0, "b"): record(0.97, seed=2),
           (1.0, "c"): record(0.90, seed=3, converged=False),
           (0.5, "a"): record(0.96, seed=4), (0.5, "b"): record(0.80, seed=5, hr=1.1),
           (0.5, "c"): {"error": "boom", "seed": 6}}


@pytest.fixture(scope="module")
def grid() -> SweepResult:
    return sweep(DIMS, RECORDS)


# --------------------------------------------------------------------------- decision rule
@pytest.mark.parametrize("text, rule, shown", [
    ("P(HR < 1) > 0.975", (1.0, 0.975, False), "P(HR < 1) > 0.975"),
    ("P(HR<0.8)>=0.9", (0.8, 0.9, True), "P(HR < 0.8) >= 0.9"),
    (" P ( HR < 1.25 ) >= 0.5 ", (1.25, 0.5, True), "P(HR < 1.25) >= 0.5"),
])
def test_rule_parses_threshold_probability_and_inclusiveness(text, rule, shown):
    parsed = DecisionRule.parse(text)
    assert (parsed.threshold, parsed.prob, parsed.inclusive) == rule
    assert str(parsed) == shown
    assert DecisionRule.parse(parsed) is parsed


@pytest.mark.parametrize("threshold, prob", [(0.0, 0.9), (-1.0, 0.9), (1.0, 0.0), (1.0, 1.0),
                                             (1.0, 1.5), (1.0, -0.5)])
def test_rule_refuses_impossible_values(threshold, prob):
    with pytest.raises(ValueError, match="threshold HR > 0 and 0 < prob < 1"):
        DecisionRule(threshold, prob)


def test_rule_accepts_values_just_inside_the_bounds():
    assert DecisionRule(1e-9, 1e-9).prob == 1e-9
    assert DecisionRule(0.5, 0.999).threshold == 0.5


def test_rule_holds_strictly_or_inclusively():
    strict, inclusive = DecisionRule(1.0, 0.9), DecisionRule(1.0, 0.9, inclusive=True)
    np.testing.assert_array_equal(strict.holds([0.89, 0.9, 0.91]), [False, False, True])
    np.testing.assert_array_equal(inclusive.holds([0.89, 0.9, 0.91]), [False, True, True])
    assert strict.holds(0.95) is True and strict.holds(0.9) is False
    assert inclusive.holds(0.9) is True


# --------------------------------------------------------------------------- dataset
def test_dataset_places_each_record_at_its_labels(grid):
    ds = grid.dataset
    assert grid.settings == ["sd", "cuts"]
    assert list(ds["threshold"].values) == [1.0, 0.8]
    np.testing.assert_allclose(ds["p_hr_lt"].sel(threshold=1.0).values,
                               [[0.99, 0.97, 0.90], [0.96, 0.80, np.nan]])
    np.testing.assert_allclose(ds["p_hr_lt"].sel(threshold=0.8).values,
                               [[0.1, 0.1, 0.1], [0.1, 0.1, np.nan]])
    assert ds["hr_median"].sel(sd=0.5, cuts="b").item() == pytest.approx(1.1)
    assert ds["hr_upper"].sel(sd=0.5, cuts="b").item() == pytest.approx(2.2)
    assert ds["status"].values.tolist() == [["converged", "converged", "not converged"],
                                            ["converged", "converged", "error"]]
    assert ds["converged"].values.tolist() == [[True, True, False], [True, True, False]]
    assert ds["seed"].values.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert ds["hr_lower"].attrs["long_name"] == "lower end of the 95% equal-tailed interval"
    assert grid.complete


def test_missing_scenarios_are_nan_with_seed_minus_one():
    partial = sweep({"sd": [1.0, 0.5, 0.2]}, {(0.5,): record(0.9, seed=8)})
    ds = partial.dataset
    assert ds["status"].values.tolist() == ["missing", "converged", "missing"]
    assert ds["seed"].values.tolist() == [-1, 8, -1]
    assert np.isnan(ds["hr_median"].values[[0, 2]]).all()
    assert not partial.complete


def test_coordinates_keep_numbers_and_turn_mixed_labels_into_text():
    ds = sweep({"sd": [1, 2.5], "cuts": ["a", 3], "flag": [True, 1.0]},
               {(1, "a", True): record(0.9)}).dataset
    assert ds["sd"].values.tolist() == [1.0, 2.5] and ds["sd"].dtype.kind == "f"
    assert ds["cuts"].values.tolist() == ["a", "3"]
    assert ds["flag"].values.tolist() == ["True", "1.0"]
    assert sweep({"n": [1, 2]}, {}).dataset["n"].dtype.kind == "i"


def test_table_has_one_row_per_scenario(grid):
    table = grid.table()
    assert list(table.columns) == ["hr_median", "hr_lower", "hr_upper", "p_hr_lt_1",
                                   "p_hr_lt_0.8", "status", "max_r_hat", "min_ess",
                                   "divergences", "seed"]
    assert table.loc[(0.5, "b"), "p_hr_lt_1"] == pytest.approx(0.80)
    assert table.loc[(1.0, "c"), "status"] == "not converged"
    assert table["seed"].tolist() == [1, 2, 3, 4, 5, 6]


# --------------------------------------------------------------------------- robustness
def test_robustness_flips_shares_and_trust(grid):
    rob = grid.robustness("P(HR < 1) > 0.95")
    assert rob.rule == "P(HR < 1) > 0.95" and rob.reference is True
    # finished: 5 (the error is not); holds in 0.99, 0.97, 0.96
    assert rob.share == pytest.approx(3 / 5)
    assert [tuple(i) for i in rob.flips.index] == [(1.0, "c"), (0.5, "b")]
    assert not rob.holds
    share = rob.by_setting.set_index(["setting", "value"])["share_holding"].to_dict()
    assert share == pytest.approx({("sd", 1.0): 2 / 3, ("sd", 0.5): 1 / 2, ("cuts", "a"): 1.0,
                                   ("cuts", "b"): 1 / 2, ("cuts", "c"): 0.0})
    assert [tuple(i) for i in rob.unconverged.index] == [(1.0, "c"), (0.5, "c")]
    text = str(rob).splitlines()
    assert text[0] == "P(HR < 1) > 0.95: does NOT hold everywhere (in 60% of finished scenarios)"
    assert text[1] == "flips away from the reference (True) in 2 scenario(s):"
    assert text[-1] == "2 scenario(s) not converged, failed or missing"


def test_inclusive_rule_and_a_reference_that_does_not_hold(grid):
    rob = grid.robustness("P(HR < 1) >= 0.97")  # holds at 0.99 and 0.97 exactly
    assert rob.share == pytest.approx(2 / 5)
    assert rob.reference is True
    rob = grid.robustness(DecisionRule(0.8, 0.5))  # P(HR < 0.8) = 0.1 everywhere
    assert rob.reference is False and rob.share == 0.0 and len(rob.flips) == 0
    assert not rob.holds


def test_holds_needs_every_scenario_converged():
    clean = {(1.0,): record(0.99), (0.5,): record(0.98)}
    assert sweep({"sd": [1.0, 0.5]}, clean).robustness().holds
    rob = sweep({"sd": [1.0, 0.5]}, {**clean, (0.5,): record(0.98, converged=False)}).robustness()
    assert not rob.holds and rob.share == 1.0
    assert str(rob).startswith("P(HR < 1) > 0.95: holds in every finished scenario, but not all "
                               "converged (not trusted) (in 100% of finished scenarios)")
    rob = sweep({"sd": [1.0, 0.5]}, {(1.0,): record(0.99)}).robustness()  # one missing
    assert not rob.holds and len(rob.unconverged) == 1
    assert str(sweep({"sd": [1.0, 0.5]}, clean).robustness()) == (
        "P(HR < 1) > 0.95: HOLDS in every scenario (in 100% of finished scenarios)")


def test_reference_that_failed_gives_no_reference_and_no_flips():
    rob = sweep({"sd": [1.0, 0.5, 0.2]},
                {(1.0,): {"error": "boom"}, (0.5,): record(0.99), (0.2,): record(0.5)}).robustness()
    assert rob.reference is None and len(rob.flips) == 0
    assert rob.share == pytest.approx(0.5)
    share = rob.by_setting.set_index("value")["share_holding"].to_dict()
    assert share == {0.5: 1.0, 0.2: 0.0}


def test_nothing_finished_gives_nan_share():
    rob = sweep({"sd": [1.0]}, {}).robustness()
    assert math.isnan(rob.share) and rob.holds is False and rob.reference is None


def test_text_lists_at_most_ten_flips():
    values = list(range(13))
    records = {(v,): record(0.99 if v == 0 else 0.5) for v in values}
    rob = sweep({"k": values}, records).robustness()
    lines = str(rob).splitlines()
    assert lines[1] == "flips away from the reference (True) in 12 scenario(s):"
    assert lines[2:] == [f"  {v}" for v in range(1, 11)]


def test_callable_rule_and_unknown_threshold(grid):
    def narrow(ds):
        return ds["hr_upper"] < 1.5

    rob = grid.robustness(narrow)
    assert rob.rule == "narrow" and rob.reference is True
    assert rob.share == pytest.approx(4 / 5)  # hr_upper 1.4 except 2.2 at (0.5, b)
    assert grid.robustness(lambda ds: ds["hr_median"] > 0).share == 1.0
    with pytest.raises(ValueError, match=r"for t in \[1\.0, 0\.8\]; add 0.9 to its thresholds"):
        grid.robustness("P(HR < 0.9) > 0.5")


def test_results_are_immutable_and_default_counts(grid):
    rule = DecisionRule(1.0, 0.9)
    with pytest.raises(AttributeError):
        rule.prob = 0.5
    with pytest.raises(AttributeError):
        grid.robustness().share = 1.0
    with pytest.raises(AttributeError):
        grid.store = "elsewhere"
    assert (grid.fitted, grid.compiles, grid.problems) == (0, 0, [])


def test_one_label_type_per_setting_is_kept():
    ds = sweep({"flag": [True, False], "mix": [1, 2.5, "a"], "num": [1, 2.5, True]}, {}).dataset
    assert ds["flag"].values.tolist() == [True, False] and ds["flag"].dtype == bool
    assert ds["mix"].values.tolist() == ["1", "2.5", "a"]
    assert ds["num"].values.tolist() == ["1", "2.5", "True"]  # numpy would make True 1.0


def test_records_without_a_seed_get_minus_one():
    rec = record(0.9)
    del rec["seed"]
    ds = sweep({"sd": [1.0, 0.5]}, {(1.0,): rec, (0.5,): {"error": "boom"}}).dataset
    assert ds["seed"].values.tolist() == [-1, -1]
    assert ds["status"].values.tolist() == ["converged", "error"]


def test_by_setting_follows_the_grid_order(grid):
    values = [1.0, 0.2, 0.5]
    rob = sweep({"sd": values}, {(v,): record(0.99) for v in values}).robustness()
    assert rob.by_setting["value"].tolist() == values
    rows = grid.robustness().by_setting[["setting", "value"]].to_records(index=False).tolist()
    assert rows == [("sd", 1.0), ("sd", 0.5), ("cuts", "a"), ("cuts", "b"), ("cuts", "c")]


def test_a_reference_that_fails_the_rule_flips_to_the_scenarios_that_pass():
    rob = sweep({"sd": [1.0, 0.5, 0.2]},
                {(1.0,): record(0.5), (0.5,): record(0.99), (0.2,): record(0.3)}).robustness()
    assert rob.reference is False
    assert rob.flips.index.tolist() == [0.5]


def test_forest_axis_ticks_are_plain_hazard_ratios():
    # intervals 0.05-0.2 and 2.5-10: the axis spans 0.05 / 1.25 to 10 * 1.25, every tick shows
    wide = sweep({"sd": [1.0, 0.5]}, {(1.0,): record(0.9, hr=0.1), (0.5,): record(0.9, hr=5.0)})
    labels = [t.get_text() for t in wide.plot_forest().axes[0].get_xticklabels()]
    assert labels == ["0.05", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1",
                      "1.25", "1.5", "2", "3", "5", "10"]
