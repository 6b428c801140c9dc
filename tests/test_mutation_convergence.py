"""The convergence verdict (fitting/convergence.py) on posteriors built by hand: each
threshold at its boundary (the threshold moved onto a computed statistic), the messages,
the stage-2 allowance against a binomial quantile by hand, the table against
``az.summary``, the headline and text, the warning. Written for the mutation run of issue
18 (record in benchmarks/mutation.md, section ``fitting/convergence.py``);
``tests/test_verdicts.py`` keeps the tests of each planted bug.

The module is loaded from its file (tests/isolated.py): it needs the core, ArviZ and scipy
only, and importing ``pexsurv.fitting`` would cost each mutant's run PyMC's import time."""

import math
import warnings
from dataclasses import FrozenInstanceError
from types import SimpleNamespace

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from isolated import load

conv = load("fitting/convergence.py")
check_convergence = conv.check_convergence
DIMS = ("chain", "draw")


def iid(seed: int, chains: int = 4, draws: int = 1000) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((chains, draws))


GOOD = iid(5)


def tree(posterior: dict, **sample_stats: np.ndarray) -> xr.DataTree:
    groups = {"posterior": xr.Dataset(posterior)}
    if sample_stats:
        groups["sample_stats"] = xr.Dataset({k: (DIMS, v) for k, v in sample_stats.items()})
    return xr.DataTree.from_dict(groups)


def theta(draws: np.ndarray = GOOD, **sample_stats: np.ndarray) -> xr.DataTree:
    return tree({"theta": (DIMS, draws)}, **sample_stats)


def test_thresholds_are_the_published_ones():
    # Vehtari et al. (2021): R-hat 1.01, bulk and tail ESS 400; Betancourt (2016): E-BFMI
    # 0.3; no divergence, no saturated tree; the stage-2 rule's stated rates.
    assert conv.THRESHOLDS == {"r_hat": 1.01, "ess_bulk": 400.0, "ess_tail": 400.0,
                               "divergences": 0, "treedepth_saturation": 0.0, "ebfmi": 0.3,
                               "r_hat_stage2": 1.05, "stage2_chance_rate": 0.02,
                               "stage2_false_alarm": 0.01}


# --------------------------------------------------------------------------- table
def test_table_is_arviz_summary_with_element_labels():
    rng = np.random.default_rng(2)
    post = {"a": (DIMS, rng.standard_normal((3, 300))),
            "b": (("chain", "draw", "k", "j"), rng.standard_normal((3, 300, 2, 3)).cumsum(1)),
            }
    coords = {"k": ["x", "y"], "j": [10, 20, 30]}
    ds = xr.Dataset(post, coords=coords)
    table = conv.diagnostics_table(ds)
    # az.summary's tail ESS reads the quantiles (1 - p, p) from rcParams["stats.ci_prob"];
    # the table's are the 5% and 95% (conv.TAIL_ESS_PROBS).
    with az.rc_context({"stats.ci_prob": 0.95}):
        ref = az.summary(ds, kind="diagnostics")
    assert list(table.index) == list(ref.index) == ["a"] + [
        f"b[{k}, {j}]" for k in "xy" for j in (10, 20, 30)]
    assert list(table.columns) == ["r_hat", "ess_bulk", "ess_tail", "mcse_mean"]
    for column in table.columns:
        np.testing.assert_allclose(table[column].to_numpy(dtype=float),
                                   ref[column].to_numpy(dtype=float), rtol=1e-2)
    # The random walks are badly mixed: R-hat above 1.01 for every b, not for a.
    assert table.loc["a", "r_hat"] < 1.01 and (table["r_hat"].iloc[1:] > 1.01).all()


def test_table_of_an_empty_posterior_is_empty_with_float_columns():
    table = conv.diagnostics_table(xr.Dataset())
    assert list(table.columns) == ["r_hat", "ess_bulk", "ess_tail", "mcse_mean"]
    assert len(table) == 0 and (table.dtypes == float).all()


def test_draws_in_draw_chain_order_are_transposed():
    ds = xr.Dataset({"theta": (DIMS, GOOD)})
    flipped = xr.Dataset({"theta": (("draw", "chain"), GOOD.T)})
    pd.testing.assert_frame_equal(conv.diagnostics_table(flipped), conv.diagnostics_table(ds))


# --------------------------------------------------------------------------- thresholds
def test_good_draws_pass_with_empty_problems_and_zero_statistics():
    check = check_convergence(theta())
    assert check.passed and check.problems == [] and check.advice == []
    assert check.divergences == 0 and check.treedepth_saturation == 0.0
    assert check.ebfmi.size == 0 and check.ebfmi.dtype == float
    assert not check.approximate and check.name == "convergence"
    assert bool(check.table.loc["theta", "r_hat_ok"]) and bool(check.table.loc["theta", "ess_ok"])


@pytest.mark.parametrize("key", ["r_hat", "ess_bulk", "ess_tail"])
def test_each_table_threshold_is_inclusive(key, monkeypatch):
    """The threshold moved onto the computed statistic passes; a hair beyond it fails."""
    value = float(check_convergence(theta()).table.loc["theta", key])
    monkeypatch.setitem(conv.THRESHOLDS, key, value)
    assert check_convergence(theta()).passed
    worse = value * (0.999999 if key == "r_hat" else 1.000001)
    monkeypatch.setitem(conv.THRESHOLDS, key, worse)
    check = check_convergence(theta())
    assert not check.passed and len(check.problems) == 1
    assert check.problems[0].startswith("R-hat >" if key == "r_hat" else "bulk or tail ESS <")


@pytest.mark.parametrize("key", ["ess_bulk", "ess_tail"])
def test_bulk_and_tail_are_each_required(key, monkeypatch):
    monkeypatch.setitem(conv.THRESHOLDS, key, 1e9)  # only this one fails
    check = check_convergence(theta())
    assert not bool(check.table.loc["theta", "ess_ok"]) and not check.passed
    assert check.problems == [f"bulk or tail ESS < {conv.THRESHOLDS['ess_bulk']:.0f} for 1 "
                              "parameter(s): theta"]
    assert check.advice == ["increase draws (ESS grows with draws) or chains"]


def test_r_hat_problem_names_five_of_seven_parameters_and_all_fail_ess():
    rng = np.random.default_rng(3)
    stuck = rng.standard_normal((2, 300, 7)) * 0.1 + np.array([0.0, 1.0])[:, None, None]
    check = check_convergence(tree({"p": (("chain", "draw", "i"), stuck)}))
    names = [f"p[{i}]" for i in range(7)]
    assert check.problems[0] == f"R-hat > 1.01 for 7 parameter(s): {', '.join(names[:5])}"
    assert check.problems[1] == f"bulk or tail ESS < 400 for 7 parameter(s): {', '.join(names[:5])}"
    assert check.advice == [
        "run longer chains (more tune and draws); if R-hat stays high, the posterior may be "
        "multimodal: check priors and identifiability",
        "increase draws (ESS grows with draws) or chains"]
    assert not check.passed


def test_divergence_count_and_threshold(monkeypatch):
    diverging = np.zeros(GOOD.shape, dtype=bool)
    diverging[1, [3, 9]] = True
    check = check_convergence(theta(diverging=diverging))
    assert check.divergences == 2 and isinstance(check.divergences, int)
    assert check.problems == ["2 divergent transition(s)"]
    assert check.advice == ["raise target_accept (e.g. 0.95); if divergences persist, "
                            "reparameterize (non-centred scales) or tighten vague priors"]
    monkeypatch.setitem(conv.THRESHOLDS, "divergences", 2)  # the bound is allowed
    assert check_convergence(theta(diverging=diverging)).passed


@pytest.mark.parametrize("name", ["maxdepth_reached", "reached_max_treedepth"])
def test_tree_depth_saturation_and_threshold(name, monkeypatch):
    hit = np.zeros(GOOD.shape, dtype=bool)
    hit[2, :10] = True  # 10 of 4000 draws
    check = check_convergence(theta(**{name: hit}))
    assert check.treedepth_saturation == 0.0025
    assert check.problems == ["0.2% of draws hit the maximum tree depth"]
    assert check.advice == ["the posterior is badly scaled: rescale covariates or tighten priors"]
    monkeypatch.setitem(conv.THRESHOLDS, "treedepth_saturation", 0.0025)
    assert check_convergence(theta(**{name: hit})).passed


def test_nutpie_tree_depth_name_is_read_first():
    hit = np.zeros(GOOD.shape, dtype=bool)
    hit[0, :40] = True
    both = theta(maxdepth_reached=hit, reached_max_treedepth=np.zeros(GOOD.shape, dtype=bool))
    assert check_convergence(both).treedepth_saturation == 0.01


def test_e_bfmi_per_chain_and_threshold(monkeypatch):
    rng = np.random.default_rng(6)
    energy = rng.standard_normal(GOOD.shape)
    energy[1] = np.cumsum(rng.standard_normal(GOOD.shape[1]))
    energy[3] = np.cumsum(rng.standard_normal(GOOD.shape[1]))
    check = check_convergence(theta(energy=energy))
    centred = energy - energy.mean(axis=1, keepdims=True)
    by_hand = (np.diff(energy, axis=1) ** 2).sum(axis=1) / (centred**2).sum(axis=1)
    np.testing.assert_allclose(check.ebfmi, by_hand, rtol=1e-6)
    assert check.problems == ["E-BFMI below 0.3 in 2 chain(s)"]
    assert check.advice == ["heavy tails or funnels: use non-centred hierarchical scales, "
                            "more tuning"]
    # The bound itself passes (E-BFMI < bound fails).
    monkeypatch.setitem(conv.THRESHOLDS, "ebfmi", float(check.ebfmi.min()))
    assert check_convergence(theta(energy=energy)).passed


def test_e_bfmi_in_draw_chain_order_is_per_chain():
    rng = np.random.default_rng(7)
    energy = rng.standard_normal((4, 1000))
    energy[0] = np.cumsum(energy[0])
    t = theta()
    t["sample_stats"] = xr.DataTree(xr.Dataset({"energy": (("draw", "chain"), energy.T)}))
    check = check_convergence(t)
    assert check.ebfmi.shape == (4,) and check.ebfmi[0] < 0.3 < check.ebfmi[1:].min()


# --------------------------------------------------------------------------- selection
def test_not_mcmc_variables_are_left_out_and_var_names_choose():
    stuck = GOOD + np.array([0.0, 0.0, 0.0, 5.0])[:, None]
    t = tree({"theta": (DIMS, GOOD), "psi_q": (DIMS, stuck, {"not_mcmc": True}),
              "other": (DIMS, stuck)})
    check = check_convergence(t, var_names=["theta"])
    assert check.passed and list(check.table.index) == ["theta"]
    check = check_convergence(t)
    assert list(check.table.index) == ["theta", "other"] and not check.passed
    assert check_convergence(t, var_names=["psi_q"]).table.index.tolist() == ["psi_q"]


def test_a_fit_result_is_read_through_its_idata():
    fit = SimpleNamespace(idata=theta(diverging=np.ones(GOOD.shape, dtype=bool)))
    check = check_convergence(fit)
    assert check.divergences == GOOD.size and not check.approximate and not check.passed


def test_approximate_fit_never_passes_and_lists_no_mcmc_problems():
    bad = theta(GOOD + np.array([0.0, 0.0, 0.0, 5.0])[:, None],
                diverging=np.ones(GOOD.shape, dtype=bool))
    bad["rpsft_stage2"] = stage2_node(np.full(50, 2.0))
    check = check_convergence(SimpleNamespace(idata=bad, approximate=True))
    assert check.approximate and not check.passed
    assert check.problems == [] and check.advice == []
    assert check.headline == ("APPROXIMATE fit (ADVI): no MCMC convergence diagnostics; "
                              "do not report as final")
    good = check_convergence(SimpleNamespace(idata=theta(), approximate=True))
    assert not good.passed


# --------------------------------------------------------------------------- stage 2
def quantile_by_hand(n: int, p: float, level: float) -> int:
    """Smallest k with P(Binomial(n, p) <= k) >= level."""
    total = 0.0
    for k in range(n + 1):
        total += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if total >= level - 1e-12:
            return k
    return n


@pytest.mark.parametrize("n", [1, 2, 20, 50, 200, 1000])
def test_stage2_allowance_is_the_binomial_quantile(n):
    assert conv.stage2_rhat_allowance(n) == quantile_by_hand(n, 0.02, 0.99)
    assert isinstance(conv.stage2_rhat_allowance(n), int)


def test_stage2_allowance_follows_the_thresholds(monkeypatch):
    monkeypatch.setitem(conv.THRESHOLDS, "stage2_false_alarm", 0.2)
    monkeypatch.setitem(conv.THRESHOLDS, "stage2_chance_rate", 0.1)
    assert conv.stage2_rhat_allowance(100) == quantile_by_hand(100, 0.1, 0.8) == 12
    assert conv.stage2_rhat_allowance(100.0) == 12  # a float count is taken as int


def stage2_node(r_hat_max) -> xr.DataTree:
    return xr.DataTree(xr.Dataset({"r_hat_max": ("psi_draw", np.asarray(r_hat_max, float))},
                                  coords={"psi_draw": np.arange(len(r_hat_max))}))


def with_stage2(r_hat_max) -> "conv.ConvergenceCheck":
    t = theta()
    t["rpsft_stage2"] = stage2_node(r_hat_max)
    return check_convergence(t)


def test_stage2_counts_fits_over_the_bound_against_the_allowance():
    r_hat = np.full(50, 1.0)
    allowed = conv.stage2_rhat_allowance(50)  # 4
    assert allowed == 4
    r_hat[:allowed] = 1.2
    assert with_stage2(r_hat).passed
    r_hat[allowed] = 1.051
    check = with_stage2(r_hat)
    assert check.problems == ["5 of 50 RPSFT stage-2 fits have R-hat > 1.05 (chance allows 4)"]
    assert check.advice == ["raise draws and tune (they apply to each stage-2 fit)"]
    assert with_stage2(np.full(50, 1.05)).passed  # the bound itself passes


# --------------------------------------------------------------------------- result
def test_headline_and_text():
    draws = iid(8, 2, 150)
    diverging = np.zeros(draws.shape, dtype=bool)
    diverging[0, 0] = True
    check = check_convergence(theta(draws, diverging=diverging))
    row = check.table.loc["theta"]
    worst, least = float(row["r_hat"]), float(min(row["ess_bulk"], row["ess_tail"]))
    assert check.headline == (f"NOT CONVERGED: max R-hat {worst:.3f}, min ESS {least:.0f}, "
                              f"1 divergences (2 problem(s); first: {check.problems[0]})")
    assert check.text == "\n".join([check.headline] + [f"- problem: {p}" for p in check.problems]
                                   + [f"- advice: {a}" for a in check.advice])
    assert check.problems[1] == "1 divergent transition(s)"
    ok = check_convergence(tree({"a": (DIMS, iid(1)), "b": (DIMS, 3 * iid(2))}))
    table = ok.table
    assert ok.headline == (f"converged: max R-hat {table['r_hat'].max():.3f}, min ESS "
                           f"{table[['ess_bulk', 'ess_tail']].min().min():.0f}, 0 divergences")
    assert ok.text == ok.headline


def test_check_is_frozen_with_fresh_lists():
    check = conv.ConvergenceCheck(passed=True, table=pd.DataFrame(), divergences=0,
                                  treedepth_saturation=0.0, ebfmi=np.array([]))
    assert check.problems == [] and check.advice == [] and check.problems is not check.advice
    assert not check.approximate and check.name == "convergence"
    other = conv.ConvergenceCheck(passed=True, table=pd.DataFrame(), divergences=0,
                                  treedepth_saturation=0.0, ebfmi=np.array([]))
    assert other.problems is not check.problems
    with pytest.raises(FrozenInstanceError):
        check.passed = False


def test_warning_only_when_asked_and_failed_at_the_callers_line():
    bad = theta(diverging=np.ones(GOOD.shape, dtype=bool))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_convergence(bad)
        check_convergence(theta(), warn=True)
    assert caught == []
    with pytest.warns(conv.ConvergenceWarning) as caught:
        check = check_convergence(bad, warn=True)
    assert str(caught[0].message) == check.text
    assert caught[0].filename == __file__
    assert issubclass(conv.ConvergenceWarning, UserWarning)


# --------------------------------------------------------------------------- added after the run
def test_counts_below_a_raised_bound_pass(monkeypatch):
    """THRESHOLDS is public: a bound raised above zero allows counts below it (a
    ``!=`` comparison would fail them)."""
    diverging = np.zeros(GOOD.shape, dtype=bool)
    diverging[0, 5] = True
    hit = np.zeros(GOOD.shape, dtype=bool)
    hit[1, :4] = True  # 0.1% of draws
    monkeypatch.setitem(conv.THRESHOLDS, "divergences", 2)
    monkeypatch.setitem(conv.THRESHOLDS, "treedepth_saturation", 0.0025)
    check = check_convergence(theta(diverging=diverging, maxdepth_reached=hit))
    assert check.divergences == 1 and check.treedepth_saturation == 0.001
    assert check.passed and check.problems == []


def test_e_bfmi_count_leaves_out_a_chain_at_the_bound(monkeypatch):
    rng = np.random.default_rng(6)
    energy = rng.standard_normal(GOOD.shape)
    energy[1] = np.cumsum(rng.standard_normal(GOOD.shape[1]))
    energy[3] = np.cumsum(rng.standard_normal(GOOD.shape[1]))
    ebfmi = check_convergence(theta(energy=energy)).ebfmi
    at_bound = float(np.sort(ebfmi)[1])  # the larger of the two low chains
    monkeypatch.setitem(conv.THRESHOLDS, "ebfmi", at_bound)
    check = check_convergence(theta(energy=energy))
    assert check.problems == [f"E-BFMI below {at_bound} in 1 chain(s)"]


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        check_convergence(theta(), ["theta"])
