"""simulation_based_calibration's plumbing (issue 18 mutation tests): the fixed priors, the
prior draws and their seed, each replicate simulated from ITS OWN prior draw with its own
seed, the fit rows, the thinned ranks and everything handed to ``SBCResult.from_ranks``.

The module is loaded from its file (``tests/isolated.py``). ``prior_predictive`` returns prior
draws chosen here, ``fit`` and ``compile_spec`` are stand-ins that record their calls and
return posteriors chosen here, so every rank is counted by hand; the default replicate is
checked against event times found by inverting the cumulative hazard subject by subject.
Record: ``benchmarks/mutation.md``, section "pexsurv/workflows/sbc.py with ..."
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from isolated import load
from sbc_reference import (
    BASE,
    CUTS,
    LABELS,
    LOG_HR,
    hand_event_and_censoring,
    prior_hazards,
    prior_tree,
    trial,
)
from simtools import simulate_pem

from pexsurv import TrialData
from pexsurv.diagnostics.convergence import ConvergenceWarning
from pexsurv.diagnostics.replicate import censoring_times
from pexsurv.diagnostics.sbc import SBCResult
from pexsurv.fitting import FitResult, SamplerConfig
from pexsurv.fitting.predictive import PriorPredictive
from pexsurv.models import PiecewiseExponential
from pexsurv.priors import IndependentNormal, Normal

S = load("pexsurv/workflows/sbc.py")
COLUMNS = [f"log_hazard_base[{lab}]" for lab in LABELS] + ["log_hr"]
N_SIMS = 3


def hand_replicate(data: TrialData, j: int, rng: np.random.Generator):
    """Prior draw j's trial, simulated by hand from ``rng``: (time, event, censoring times)."""
    t_event, t_censor = hand_event_and_censoring(data, j, rng)
    return np.minimum(t_event, t_censor), (t_event <= t_censor).astype(int), t_censor


class Recorder:
    """Stand-ins for prior_predictive, compile_spec, fit and track. Fit k returns draws
    ``truth_k + noise`` (seeded by k) of every ranked variable; it converges unless k is in
    ``failing`` (then it warns as fit does)."""

    def __init__(self, data: TrialData, failing=(), base=BASE, log_hr=LOG_HR):
        self.tree = prior_tree(data, base, log_hr)
        self.base, self.log_hr = base, log_hr
        self.failing = set(failing)
        self.priors, self.compiles, self.fits, self.tracks, self.sbc = [], [], [], [], []

    def prior_predictive(self, spec, data, draws, *, seed):
        self.priors.append(SimpleNamespace(spec=spec, data=data, draws=draws, seed=seed))
        return PriorPredictive(idata=self.tree)

    def compile_spec(self, spec, data, config):
        token = SimpleNamespace(compile_seconds=4.25 + len(self.compiles))
        self.compiles.append(SimpleNamespace(spec=spec, data=data, config=config, token=token))
        return token

    def fit(self, spec, data, *, compiled, sampler):
        k = len(self.fits)
        rng = np.random.default_rng(100 + k)
        c, d = sampler.chains, sampler.draws
        base = self.base[k] + rng.normal(0, 0.4, (c, d, 3))
        log_hr = self.log_hr[k] + rng.normal(0, 0.4, (c, d))
        posterior = xr.Dataset(
            {"log_hazard_base": (("chain", "draw", "interval"), base),
             "log_hr": (("chain", "draw"), log_hr), "hr": (("chain", "draw"), np.exp(log_hr))},
            coords={"chain": np.arange(c), "draw": np.arange(d), "interval": LABELS})
        ok = k not in self.failing
        table = pd.DataFrame({"ess_bulk": [900.0 - k, 55.5 + k, 700.0],
                              "r_hat": [1.001, 1.02 + k / 100, 1.0]})
        self.fits.append(SimpleNamespace(spec=spec, data=data, compiled=compiled,
                                         sampler=sampler, posterior=posterior))
        if not ok:
            warnings.warn("fit failed", ConvergenceWarning, stacklevel=2)
        return SimpleNamespace(posterior=posterior, convergence=SimpleNamespace(
            passed=np.bool_(ok), table=table, divergences=3 * k))

    def track(self, iterable, *, description, disable):
        self.tracks.append((description, disable))
        return iterable

    def from_ranks(self, ranks, max_rank, **kw):
        self.sbc.append(SimpleNamespace(ranks=ranks, max_rank=max_rank, kw=kw))
        return SBCResult.from_ranks(ranks, max_rank, **kw)


class Clock:
    """perf_counter returning 1, 4, 9, ...: every difference (and sum) of two calls is
    distinct."""

    def __init__(self):
        self.calls = 0

    def perf_counter(self):
        self.calls += 1
        return float(self.calls**2)


@pytest.fixture
def stand_ins(monkeypatch):
    def install(data, **kw):
        rec = Recorder(data, **kw)
        for name in ("prior_predictive", "compile_spec", "fit", "track"):
            monkeypatch.setattr(S, name, getattr(rec, name))
        monkeypatch.setattr(S, "SBCResult", SimpleNamespace(from_ranks=rec.from_ranks))
        monkeypatch.setattr(S, "time", Clock())
        return rec
    return install


def spec_() -> PiecewiseExponential:
    return PiecewiseExponential(cuts=CUTS)


def run(data, **kw):
    options = dict(draws=7, thin=3, seed=11, config=SamplerConfig(chains=2, tune=9),
                   progress=False)
    options.update(kw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = S.simulation_based_calibration(spec_(), data, N_SIMS, **options)
    return out, caught


def hand_ranks(rec: Recorder, thin: int, columns=COLUMNS) -> pd.DataFrame:
    """Rank of prior draw k's value among fit k's draws 0, thin, 2 thin, ... of each
    chain, counted in loops."""
    rows = []
    for k, f in enumerate(rec.fits):
        row = []
        for col in columns:
            if col == "log_hr":
                truth, draws = rec.log_hr[k], f.posterior["log_hr"].values
            else:
                i = LABELS.index(col[len("log_hazard_base["):-1])
                truth, draws = rec.base[k, i], f.posterior["log_hazard_base"].values[..., i]
            count = 0
            for c in range(draws.shape[0]):
                for d in range(0, draws.shape[1], thin):
                    count += int(draws[c, d] < truth)
            row.append(count)
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- the whole run
def test_each_fit_gets_the_trial_of_its_own_prior_draw_and_seed(stand_ins):
    data = trial()
    rec = stand_ins(data)
    run(data)
    seqs = np.random.SeedSequence(11).spawn(N_SIMS + 1)
    assert len(rec.fits) == N_SIMS
    for j, f in enumerate(rec.fits):
        rng = np.random.default_rng(seqs[j + 1])
        time, event, _ = hand_replicate(data, j, rng)
        np.testing.assert_allclose(f.data.time, time, rtol=1e-12)
        np.testing.assert_array_equal(f.data.event, event)
        # the fit's seed: the next integer of the simulation's generator
        assert f.sampler.seed == int(rng.integers(2**31))
        assert f.data.notes[-1] == f"simulated from prior draw {j} for SBC"


def test_prior_draws_seed_count_and_fixed_priors(stand_ins):
    data = trial()
    rec = stand_ins(data)
    run(data, seed=23)
    [p] = rec.priors
    assert p.draws == N_SIMS and p.data is data
    assert p.seed == int(np.random.SeedSequence(23).spawn(N_SIMS + 1)[0].generate_state(1)[0])
    resolved = spec_().resolved_priors(data)
    # prior draws, compilation and every fit use the priors resolved on the template
    for s in [p.spec, rec.compiles[0].spec, *(f.spec for f in rec.fits)]:
        assert s.priors == resolved and s.cuts == CUTS
    other = trial(seed=9)
    assert spec_().resolved_priors(other) != resolved  # data-driven without fixing
    assert rec.fits[0].spec.resolved_priors(other) == resolved


def test_one_compilation_on_the_first_replicate_serves_every_fit(stand_ins):
    data = trial()
    rec = stand_ins(data)
    out, _ = run(data)
    [c] = rec.compiles
    assert c.data is rec.fits[0].data and c.data is not data
    assert c.config == dataclasses.replace(SamplerConfig(chains=2, tune=9), draws=7,
                                           progress=False)
    assert all(f.compiled is c.token for f in rec.fits)
    assert out.settings["compile_seconds"] == 4.25


def test_ranks_count_thinned_draws_below_the_truth(stand_ins):
    data = trial()
    rec = stand_ins(data)
    out, _ = run(data, draws=7, thin=3)
    [call] = rec.sbc
    expected = hand_ranks(rec, 3)
    assert list(call.ranks.columns) == COLUMNS and call.ranks.index.name == "simulation"
    np.testing.assert_array_equal(call.ranks.to_numpy(), expected.to_numpy())
    assert call.max_rank == 2 * 3  # 2 chains x draws 0, 3, 6
    # the thinning matters on these draws
    assert not hand_ranks(rec, 1).equals(expected)
    truth = call.kw["truth"]
    assert list(truth.columns) == COLUMNS and truth.index.name == "simulation"
    np.testing.assert_array_equal(truth.to_numpy(), np.c_[BASE, LOG_HR])
    assert out.ranks.equals(call.ranks)


@pytest.mark.parametrize("draws, thin, max_rank", [(6, 3, 4), (7, 1, 14), (5, 5, 2),
                                                   (4, 6, 2)])
def test_max_rank_is_chains_times_kept_draws(stand_ins, draws, thin, max_rank):
    data = trial()
    rec = stand_ins(data)
    run(data, draws=draws, thin=thin)
    assert rec.sbc[0].max_rank == max_rank
    np.testing.assert_array_equal(rec.sbc[0].ranks.to_numpy(), hand_ranks(rec, thin))
    assert rec.sbc[0].ranks.to_numpy().max() <= max_rank


def test_default_sampler_settings(stand_ins):
    data = trial()
    rec = stand_ins(data)
    run(data, config=None, draws=5, thin=2)
    chains = S.default_config(spec_()).chains
    assert chains == 4
    assert rec.sbc[0].max_rank == chains * 3
    for f in rec.fits:
        assert f.sampler.chains == chains and f.sampler.draws == 5 and not f.sampler.progress


def test_given_config_keeps_its_settings_but_not_draws_progress_seed(stand_ins):
    data = trial()
    rec = stand_ins(data)
    config = SamplerConfig(chains=3, tune=12, target_accept=0.9, seed=5, progress=True)
    run(data, config=config, draws=4, thin=2)
    seeds = [f.sampler.seed for f in rec.fits]
    assert len(set(seeds)) == N_SIMS and 5 not in seeds
    for f in rec.fits:
        assert dataclasses.replace(f.sampler, seed=5) == dataclasses.replace(
            config, draws=4, progress=False)
    assert rec.sbc[0].max_rank == 3 * 2


def test_var_names_choose_the_ranked_variables(stand_ins):
    data = trial()
    rec = stand_ins(data)
    run(data, var_names=["log_hr"])
    call = rec.sbc[0]
    assert list(call.ranks.columns) == ["log_hr"]
    np.testing.assert_array_equal(call.ranks.to_numpy(), hand_ranks(rec, 3, ["log_hr"]))
    np.testing.assert_array_equal(call.kw["truth"].to_numpy(), LOG_HR[:, None])


def test_unknown_var_names_are_refused_naming_them_and_the_variables(stand_ins):
    data = trial()
    rec = stand_ins(data)
    with pytest.raises(ValueError) as err:
        run(data, var_names=["log_hr", "zeta", "beta"])
    assert str(err.value) == ("no model variable(s) ['beta', 'zeta']; variables: "
                              "['hr', 'log_hazard_base', 'log_hr']")
    assert rec.fits == []


def test_fit_rows_converged_ess_rhat_divergences_seconds(stand_ins):
    data = trial()
    rec = stand_ins(data, failing=(1,))
    out, caught = run(data)
    fits = rec.sbc[0].kw["fits"]
    assert fits.index.name == "simulation" and list(fits.index) == [0, 1, 2]
    assert list(fits.columns) == ["converged", "min_ess_bulk", "max_r_hat", "divergences",
                                  "seconds"]
    assert fits["converged"].tolist() == [True, False, True]
    assert all(type(v) is bool for v in [r["converged"] for r in fits.to_dict("records")])
    assert fits["min_ess_bulk"].tolist() == [55.5, 56.5, 57.5]
    assert fits["max_r_hat"].tolist() == pytest.approx([1.02, 1.03, 1.04])
    assert fits["divergences"].tolist() == [0, 3, 6]
    # clock calls: start 1; fits (4, 9), (16, 25), (36, 49); end 64
    assert fits["seconds"].tolist() == [5.0, 9.0, 13.0]
    assert out.settings["total_seconds"] == 63.0
    assert out.n_failed == 1


def test_failed_fits_warn_once_for_the_run_at_the_caller(stand_ins):
    data = trial()
    stand_ins(data, failing=(0, 2))
    _, caught = run(data)
    conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert [str(w.message) for w in conv] == [
        "2 of 3 SBC fits failed convergence thresholds; see SBCResult.fits"]
    # stacklevel 2: the line in run() that called simulation_based_calibration
    lines, first = inspect.getsourcelines(run)
    call = next(i for i, line in enumerate(lines) if "S.simulation_based_calibration(" in line)
    assert (conv[0].filename, conv[0].lineno) == (__file__, first + call)


def test_no_warning_when_every_fit_converged(stand_ins):
    data = trial()
    stand_ins(data)
    _, caught = run(data)
    assert caught == []


@pytest.mark.parametrize("censor_time, text", [
    (False, "reverse Kaplan-Meier draws beyond the event time"),
    (True, "potential censoring time (censor_time)")])
def test_settings_and_everything_handed_to_the_uniformity_test(stand_ins, censor_time, text):
    data = trial(censor_time=censor_time)
    rec = stand_ins(data)
    out, _ = run(data, alpha=0.05, bins=3, seed=17, settings={"visits": [1.0, 2.0]})
    kw = rec.sbc[0].kw
    assert set(kw) == {"alpha", "bins", "seed", "fits", "truth", "settings"}
    assert kw["alpha"] == 0.05 and kw["bins"] == 3 and kw["seed"] == 17
    sampler = dataclasses.replace(SamplerConfig(chains=2, tune=9), draws=7, progress=False)
    assert kw["settings"] == {
        "n_sims": 3, "draws": 7, "thin": 3, "seed": 17, "sampler": sampler.to_dict(),
        "priors": spec_().resolved_priors(data), "censoring_of_event_subjects": text,
        "compile_seconds": 4.25, "total_seconds": 63.0, "visits": [1.0, 2.0]}
    assert out.alpha == 0.05 and out.bins == 3
    assert out.passed == SBCResult.from_ranks(
        rec.sbc[0].ranks, 6, alpha=0.05, bins=3, seed=17).passed


def test_default_alpha_bins_and_settings(stand_ins):
    data = trial()
    rec = stand_ins(data)
    run(data)
    kw = rec.sbc[0].kw
    assert kw["alpha"] == 0.01 and kw["bins"] is None and kw["seed"] == 11
    assert "visits" not in kw["settings"] and kw["settings"]["thin"] == 3


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_is_shown_when_asked(stand_ins, progress):
    data = trial()
    rec = stand_ins(data)
    run(data, progress=progress)
    assert rec.tracks == [("SBC fits", not progress)]


def test_a_replicate_hook_gets_the_template_the_prior_hazards_each_draw_and_its_rng(stand_ins):
    data = trial()
    rec = stand_ins(data)
    seen = []

    def hook(template, hazards, j, rng):
        seen.append((template, hazards, j, rng.integers(10**9)))
        return S._replicate(template, hazards, j, rng)

    out, _ = run(data, replicate=hook)
    seqs = np.random.SeedSequence(11).spawn(N_SIMS + 1)
    assert [s[2] for s in seen] == [0, 1, 2]
    assert all(s[0] is data for s in seen)
    for j, s in enumerate(seen):
        rng = np.random.default_rng(seqs[j + 1])
        assert s[3] == rng.integers(10**9)
        # the prior draw's hazards: log rate = base_j + arm * log HR_j
        np.testing.assert_allclose(s[1].log_hazard[j, 0, 0], BASE[j])
        np.testing.assert_allclose(s[1].log_hazard[j, 1, 0], BASE[j] + LOG_HR[j])
    assert s[1].n_samples == N_SIMS
    assert all(f.data.notes[-1] == f"simulated from prior draw {j} for SBC"
               for j, f in enumerate(rec.fits))


# --------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("label, value", [("n_sims", 0), ("n_sims", 2.0), ("n_sims", True),
                                          ("draws", 0), ("draws", 3.0), ("draws", False),
                                          ("thin", 0), ("thin", -1), ("thin", 2.5),
                                          ("thin", True)])
def test_counts_must_be_positive_integers(stand_ins, label, value):
    data = trial()
    stand_ins(data)  # a mutant letting the value through fails fast, without sampling
    kw = {"n_sims": 3, "draws": 5, "thin": 1, label: value}
    n_sims = kw.pop("n_sims")
    with pytest.raises(ValueError) as err:
        S.simulation_based_calibration(spec_(), data, n_sims, seed=1, progress=False, **kw)
    assert str(err.value) == f"{label} must be a positive integer, got {value!r}"


def test_one_simulation_is_refused(stand_ins):
    data = trial()
    stand_ins(data)
    with pytest.raises(ValueError) as err:
        S.simulation_based_calibration(spec_(), data, 1, seed=1, progress=False)
    assert str(err.value) == "n_sims must be at least 2 for a uniformity test"


def test_counts_of_one_and_two_pass_validation(stand_ins):
    data = trial()
    rec = stand_ins(data, base=BASE[:2], log_hr=LOG_HR[:2])
    S.simulation_based_calibration(spec_(), data, 2, draws=1, thin=1, seed=3, progress=False,
                                   config=SamplerConfig(chains=2))
    assert len(rec.fits) == 2 and rec.sbc[0].max_rank == 2


def test_episode_likelihood_is_refused_before_sampling(stand_ins):
    data = trial()
    rec = stand_ins(data)
    with pytest.raises(ValueError) as err:
        S.simulation_based_calibration(PiecewiseExponential(cuts=CUTS, likelihood="episodes"),
                                       data, 3, seed=1)
    assert str(err.value).startswith("simulation-based calibration needs the aggregated "
                                     "likelihood (events and person-time per cell)")
    assert rec.priors == []


def test_received_exposure_is_refused_before_sampling(stand_ins):
    data = trial()
    rec = stand_ins(data)
    with pytest.raises(ValueError, match="^simulation-based calibration supports "
                                         "exposure='assigned' only"):
        S.simulation_based_calibration(PiecewiseExponential(cuts=CUTS, exposure="received"),
                                       data, 3, seed=1)
    assert rec.priors == []


def test_check_supported_passes_an_aggregated_assigned_spec():
    assert S._check_supported(spec_(), trial()) is None


# --------------------------------------------------------------------------- pieces
def test_prior_draws_are_a_fit_result_of_the_prior(stand_ins):
    data = trial()
    rec = stand_ins(data)
    fixed = S._fixed_prior_spec(spec_(), data)
    prior = S._prior_draws(fixed, data, 3, 77)
    assert isinstance(prior, FitResult)
    assert rec.priors[0].draws == 3 and rec.priors[0].seed == 77 and rec.priors[0].spec is fixed
    assert prior.spec is fixed and prior.data is data
    assert prior.priors == spec_().resolved_priors(data)
    assert prior.sampler == SamplerConfig(progress=False)
    np.testing.assert_array_equal(prior.posterior["log_hr"].values, LOG_HR[None])
    assert set(prior.idata.children) == {"posterior", "constant_data"}


def test_fixed_prior_spec_passes_resolved_priors_as_user_priors():
    data = trial()
    user = {"log_hazard_base": IndependentNormal(sigma=0.7), "log_hr": Normal(0.1, 0.7)}
    spec = PiecewiseExponential(cuts=CUTS, priors={"log_hr": user["log_hr"]})
    fixed = S._fixed_prior_spec(spec, data)
    assert fixed.priors == spec.resolved_priors(data)
    assert fixed.priors["log_hr"] == user["log_hr"]
    assert dataclasses.replace(fixed, priors=spec.priors) == spec


def test_flatten_labels_each_scalar_chain_by_chain():
    ds = xr.Dataset({"a": (("chain", "draw", "interval"), np.arange(12.0).reshape(2, 3, 2)),
                     "b": (("chain", "draw"), -np.arange(6.0).reshape(2, 3))},
                    coords={"chain": [0, 1], "draw": [0, 1, 2], "interval": ["x", "y"]})
    flat = S._flatten(ds)
    assert list(flat.columns) == ["a[x]", "a[y]", "b"] and flat.columns.name is None
    assert list(flat.index) == list(range(6))
    np.testing.assert_array_equal(flat.to_numpy(), np.c_[np.arange(12.0).reshape(6, 2),
                                                         -np.arange(6.0)])


@pytest.mark.parametrize("censor_time", [False, True], ids=["reverse-km", "censor-time"])
@pytest.mark.parametrize("j", [0, 2])
def test_default_replicate_by_hand(censor_time, j):
    data = trial(censor_time=censor_time, n=20, seed=4)
    sim = S._replicate(data, prior_hazards(data), j, np.random.default_rng(5))
    time, event, t_censor = hand_replicate(data, j, np.random.default_rng(5))
    np.testing.assert_allclose(sim.time, time, rtol=1e-12)
    np.testing.assert_array_equal(sim.event, event)
    assert sim.event.dtype == data.event.dtype
    assert 0 < event.sum() < data.n  # both outcomes occur
    assert not sim.time.flags.writeable and not sim.event.flags.writeable
    if censor_time:
        np.testing.assert_array_equal(sim.censor_time, t_censor)
        assert not sim.censor_time.flags.writeable
    else:
        assert sim.censor_time is None
    assert sim.treatment_start is None and sim.switch_time is None
    assert sim.notes == (*data.notes, f"simulated from prior draw {j} for SBC")
    np.testing.assert_array_equal(sim.id, data.id)
    np.testing.assert_array_equal(sim.arm, data.arm)


def test_replicate_drops_treatment_start_and_switches():
    df = simulate_pem(2, 12, np.array([0.3, 0.2, 0.1]), np.array(CUTS), -0.4)
    df["switch"] = np.where(df["arm"] == 0, df["time"] / 2, np.nan)
    df["start"] = np.where(df["arm"] == 1, df["time"] / 4, np.nan)
    data = TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id",
                                    switch_time="switch", treatment_start="start")
    assert data.switch_time is not None and data.treatment_start is not None
    sim = S._replicate(data, prior_hazards(data), 1, np.random.default_rng(0))
    assert sim.treatment_start is None and sim.switch_time is None


def test_fit_row_by_hand():
    result = SimpleNamespace(convergence=SimpleNamespace(
        passed=np.bool_(False), divergences=2,
        table=pd.DataFrame({"ess_bulk": [310.0, 120.5, 999.0], "r_hat": [1.0, 1.2, 1.05]})))
    row = S._fit_row(result, 2.5)
    assert row == {"converged": False, "min_ess_bulk": 120.5, "max_r_hat": 1.2,
                   "divergences": 2, "seconds": 2.5}
    assert type(row["converged"]) is bool and type(row["min_ess_bulk"]) is float


def test_an_event_at_the_censoring_time_is_observed(monkeypatch):
    # T <= C: an event exactly at the end of follow-up was seen (measure zero for drawn
    # times, so the event times are planted)
    data = trial(censor_time=True)
    t_censor = censoring_times(data, 1, np.random.default_rng(0))[0]
    planted = np.where(np.arange(data.n) % 2 == 0, t_censor, t_censor + 1.0)
    monkeypatch.setattr(S, "event_times", lambda rates, cuts, rng: planted[None])
    sim = S._replicate(data, prior_hazards(data), 0, np.random.default_rng(0))
    np.testing.assert_array_equal(sim.event, np.arange(data.n) % 2 == 0)
    np.testing.assert_array_equal(sim.time, t_censor)


def test_default_draws_thin_and_progress(stand_ins):
    data = trial()
    rec = stand_ins(data)
    S.simulation_based_calibration(spec_(), data, N_SIMS, seed=1, config=SamplerConfig(chains=2))
    assert rec.tracks == [("SBC fits", False)]
    assert [f.sampler.draws for f in rec.fits] == [500] * N_SIMS
    assert rec.sbc[0].max_rank == 2 * 100
    np.testing.assert_array_equal(rec.sbc[0].ranks.to_numpy(), hand_ranks(rec, 5))
    assert rec.sbc[0].kw["settings"]["thin"] == 5
