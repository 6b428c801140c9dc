"""Operating characteristics: simulated trials through the sweep store and executors,
decision rule, power / type I error, bias and coverage with Monte Carlo SEs."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from pexsurv.workflows import ConfigError
from pexsurv.workflows.oc import OCDesign, operating_characteristics

# A small trial with constant hazards and a near-immediate treatment start, so that the true
# PFS hazard ratio is hr_pfs: exactly 1 under the null, 0.5 under the effect scenario.
SIMULATE = {"n": 120, "progression": ((), (0.3,)), "death_pre_progression": ((), (0.02,)),
            "death_post_progression": ((), (0.3,)), "manufacturing_mean": 0.01,
            "manufacturing_sd": 0.005, "allocation": (1, 1), "accrual": 12.0, "cutoff": 24.0}
DESIGN = OCDesign(simulate=SIMULATE, endpoint="pfs", model={"cuts": {"rule": "equal_events", "k": 3}},
                  sampler={"draws": 200, "tune": 200, "chains": 2})
SCENARIOS = {"null": {"true_hr": 1.0}, "effect": {"hr_pfs": 0.5, "true_hr": 0.5}}
RULE = "P(HR < 1) > 0.975"
N_TRIALS = 10


@pytest.fixture(scope="module")
def oc(tmp_path_factory):
    store = tmp_path_factory.mktemp("oc") / "store"
    return operating_characteristics(DESIGN, SCENARIOS, N_TRIALS, RULE, store=store,
                                     progress=False)


def test_one_compile_for_every_trial_and_scenario(oc):
    assert oc.fitted == 2 * N_TRIALS and oc.compiles == 1 and not oc.problems
    assert list(oc.table.index) == ["null", "effect"]
    assert oc.table.loc["null", "measure"] == "type I error"
    assert oc.table.loc["effect", "measure"] == "power"


def test_common_random_numbers_across_scenarios(oc):
    seeds = oc.trials.pivot(index="trial", columns="scenario", values="sim_seed")
    assert (seeds["null"] == seeds["effect"]).all() and seeds["null"].nunique() == N_TRIALS
    # ...but each fit has its own sampler seed.
    assert oc.trials["seed"].nunique() == 2 * N_TRIALS


def test_metrics_recomputed_by_hand(oc):
    for name, true_hr in (("null", 1.0), ("effect", 0.5)):
        t = oc.trials[oc.trials["scenario"] == name]
        row = oc.table.loc[name]
        success = (t["p_hr_lt"] > 0.975).to_numpy()
        assert row["p_success"] == success.mean()
        p = success.mean()
        assert row["p_success_mcse"] == pytest.approx(math.sqrt(p * (1 - p) / N_TRIALS))
        err = np.log(t["hr_median"].to_numpy()) - math.log(true_hr)
        assert row["bias_log_hr"] == pytest.approx(err.mean())
        assert row["bias_log_hr_mcse"] == pytest.approx(err.std(ddof=1) / math.sqrt(N_TRIALS))
        covered = (t["hr_lower"] <= true_hr) & (true_hr <= t["hr_upper"])
        assert row["coverage"] == pytest.approx(covered.mean())


def test_estimates_centre_on_the_truth(oc):
    # Arms swapped, or the truth misread, would put the effect scenario's log HR ~0.7-1.4
    # away from the truth: far outside 4 Monte Carlo SEs.
    for name in ("null", "effect"):
        row = oc.table.loc[name]
        assert abs(row["bias_log_hr"]) < 4 * row["bias_log_hr_mcse"] + 0.05
    assert oc.table.loc["effect", "p_success"] > oc.table.loc["null", "p_success"]


def test_resume_fits_nothing_new(oc):
    again = operating_characteristics(DESIGN, SCENARIOS, N_TRIALS, RULE, store=oc.store,
                                      progress=False)
    assert again.fitted == 0
    assert again.table.equals(oc.table)
    more = operating_characteristics(DESIGN, SCENARIOS, N_TRIALS + 1, RULE, store=oc.store,
                                     progress=False)
    assert more.fitted == 2 and (more.table["trials"] == N_TRIALS + 1).all()


def test_pfs_of_trials_with_crossover(tmp_path):
    """Control patients cross over after progression: a PFS study of such trials runs (it
    was refused on trial 0: "column 'switch_time': time after the end of follow-up")."""
    design = dataclasses.replace(DESIGN, simulate={**SIMULATE, "switch_prob": 0.6})
    assert "switch_time" not in design.analysis().data
    assert design.analysis().data.keys() <= dataclasses.replace(design, endpoint="os").analysis(
        ).data.keys()
    assert "switch_time" in dataclasses.replace(design, endpoint="os").analysis().data
    out = operating_characteristics(design, {"switching": {"true_hr": 1.0}}, 2, RULE,
                                    store=tmp_path / "s", progress=False)
    assert out.fitted == 2 and out.table.loc["switching", "failed"] == 0


def test_bad_scenarios_are_refused_before_any_fit(tmp_path):
    bad = {"ok": {}, "broken": {"switch_prob": 1.5}, "typo": {"hr_pfss": 0.5}}
    with pytest.raises(ConfigError) as info:
        operating_characteristics(DESIGN, bad, 3, RULE, store=tmp_path / "s", progress=False)
    assert "'broken'" in str(info.value) and "'typo'" in str(info.value)
    assert "nothing was fitted" in str(info.value)
    with pytest.raises(ValueError, match="write it as"):
        operating_characteristics(DESIGN, SCENARIOS, 3, "HR < 1", store=tmp_path / "s")


def test_cli_oc(oc, tmp_path, capsys):
    from pexsurv.cli import main

    file = tmp_path / "oc.toml"
    file.write_text(f"""
store = "out"
n_trials = 2
decision = "{RULE}"
[design]
endpoint = "pfs"
[design.simulate]
n = 120
progression = [[], [0.3]]
death_pre_progression = [[], [0.02]]
death_post_progression = [[], [0.3]]
manufacturing_mean = 0.01
manufacturing_sd = 0.005
allocation = [1, 1]
accrual = 12.0
cutoff = 24.0
hr_pfs = 1.0
hr_post_progression = 1.0
hr_cuts = []
psi = 0.0
switch_prob = 0.0
dropout_rate = 0.0
[design.model]
cuts = {{ rule = "equal_events", k = 3 }}
[design.sampler]
draws = 200
tune = 200
chains = 2
[scenarios.null]
true_hr = 1.0
""")
    assert main(["oc", str(file), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "type I error" in out and RULE in out
