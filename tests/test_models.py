"""PiecewiseExponential: structure without sampling, exact likelihood identities,
agreement with independent maximum likelihood, and parameter recovery."""

from __future__ import annotations

import dataclasses

import numpy as np
import pymc as pm
import pytest
from scipy import optimize

from pexsurv import TrialData
from pexsurv.models import PiecewiseExponential
from pexsurv.priors import Normal
from simtools import simulate_pem

CUTS = np.array([1.0, 3.0, 6.0])
BASE = np.array([0.30, 0.20, 0.12, 0.08])


def load(df, **kw):
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id", **kw)


@pytest.fixture(scope="module")
def rich_data() -> TrialData:
    """Strata, a categorical and a numeric covariate, treatment start and switching."""
    df = simulate_pem(11, 300, BASE, CUTS, -0.5, strata_shift=0.3,
                      beta={"sex": 0.2, "age": 0.3})
    rng = np.random.default_rng(5)
    df["ts"] = np.where(df["arm"] == 1, np.minimum(rng.uniform(0, 1, len(df)), df["time"]), 0.0)
    df.loc[df["arm"].eq(1) & (rng.uniform(size=len(df)) < 0.1), "ts"] = np.nan
    sw = rng.uniform(0.2, 1.0, len(df)) * df["time"]
    df["sw"] = np.where((df["arm"] == 0) & (rng.uniform(size=len(df)) < 0.3), sw, np.nan)
    return load(df, strata="region", covariates=("sex", "age"), treatment_start="ts",
                switch_time="sw")


OPTIONS = {
    "ph": dict(),
    "piecewise": dict(effect="piecewise", effect_cuts=(3.0,)),
    "strata": dict(strata=True),
    "categorical": dict(covariates=("sex",)),
    "numeric": dict(covariates=("sex", "age")),
    "received": dict(exposure="received"),
    "episodes": dict(likelihood="episodes"),
    "everything": dict(effect="piecewise", strata=True, covariates=("sex", "age"),
                       exposure="received"),
}


@pytest.mark.parametrize("name", OPTIONS)
def test_structure_names_dims_logp(rich_data, name):
    spec = PiecewiseExponential(cuts=tuple(CUTS), **OPTIONS[name])
    model = spec.build(rich_data)
    opts = OPTIONS[name]
    free = {v.name for v in model.free_RVs}
    expected = {"log_hazard_base", "log_hr"}
    if opts.get("effect") == "piecewise":
        expected |= {"log_hr_scale", "log_hr_period_offset"}
    if opts.get("covariates"):
        # Sampled per SD; beta (per unit) is its deterministic image.
        expected |= {"beta_std"}
        assert model.named_vars["beta"] in model.deterministics
    assert free == expected
    dims = model.named_vars_to_dims
    assert dims["log_hazard_base"] == (("stratum", "interval") if opts.get("strata") else ("interval",))
    assert "hr" in model.named_vars and model.named_vars["hr"] in model.deterministics
    if opts.get("effect") == "piecewise":
        n_periods = len(opts["effect_cuts"]) + 1 if "effect_cuts" in opts else len(CUTS) + 1
        assert dims["log_hr_period"] == ("period",) and len(model.coords["period"]) == n_periods
    if opts.get("covariates") == ("sex", "age"):
        assert list(model.coords["covariate"]) == ["sex[M]", "age"]
    ip = model.initial_point()
    assert np.isfinite(model.compile_logp()(ip))
    assert np.all(np.isfinite(model.compile_dlogp()(ip)))
    # Aggregation wherever allowed: cells, not patients.
    n_cells = len(model.coords["cell"])
    if opts.get("likelihood") == "episodes" or "age" in opts.get("covariates", ()):
        assert n_cells > rich_data.n
    else:
        assert n_cells < 60


def test_spec_is_immutable_validated_and_hashable():
    spec = PiecewiseExponential(cuts=[1.0, 2.0], priors={"log_hr": Normal(0, 2)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.effect = "piecewise"
    with pytest.raises(TypeError):
        spec.priors["log_hr"] = Normal(0, 1)
    assert hash(spec) == hash(PiecewiseExponential(cuts=(1, 2), priors={"log_hr": Normal(0, 2)}))
    assert spec.spec_hash() != PiecewiseExponential(cuts=[1.0, 2.0]).spec_hash()
    with pytest.raises(ValueError, match="sorted"):
        PiecewiseExponential(cuts=[2.0, 1.0])
    with pytest.raises(ValueError, match="effect must be one of"):
        PiecewiseExponential(cuts=[1.0], effect="weird")
    with pytest.raises(ValueError, match="not baseline cut points"):
        PiecewiseExponential(cuts=[1.0, 2.0], effect="piecewise", effect_cuts=[1.5])
    with pytest.raises(KeyError, match="valid keys"):
        PiecewiseExponential(cuts=[1.0], priors={"log_hazard": Normal(0, 1)})


def test_build_is_pure(rich_data):
    spec = PiecewiseExponential(cuts=tuple(CUTS))
    before = spec.to_dict()
    spec.build(rich_data)
    assert spec.to_dict() == before and dict(spec.priors) == {}


def test_errors_name_the_fix(rich_data):
    plain = TrialData.from_dataframe(rich_data.to_frame(), time="time", event="event", arm="arm",
                                     reference="0")
    with pytest.raises(ValueError, match="strata=True needs"):
        PiecewiseExponential(cuts=[1.0], strata=True).build(plain)
    with pytest.raises(ValueError, match="exposure='received' needs"):
        PiecewiseExponential(cuts=[1.0], exposure="received").build(plain)
    with pytest.raises(ValueError, match="numeric covariates have no sufficient"):
        PiecewiseExponential(cuts=[1.0], covariates=("age",), likelihood="aggregated").build(rich_data)


@pytest.mark.parametrize("opts", [dict(), dict(strata=True, covariates=("sex",)),
                                  dict(exposure="received", effect="piecewise")])
def test_aggregated_and_episode_likelihoods_are_identical(rich_data, opts):
    """Same log posterior up to a constant (sum d log E - log d!): differences between any
    two parameter points agree to rounding, so the posteriors are the same."""
    agg = PiecewiseExponential(cuts=tuple(CUTS), likelihood="aggregated", **opts).build(rich_data)
    epi = PiecewiseExponential(cuts=tuple(CUTS), likelihood="episodes", **opts).build(rich_data)
    rng = np.random.default_rng(0)
    f_agg, f_epi = agg.compile_logp(), epi.compile_logp()
    g_agg, g_epi = agg.compile_dlogp(), epi.compile_dlogp()
    points = []
    for _ in range(3):
        p = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in agg.initial_point().items()}
        points.append(p)
    diffs_agg = [f_agg(p) - f_agg(points[0]) for p in points[1:]]
    diffs_epi = [f_epi(p) - f_epi(points[0]) for p in points[1:]]
    np.testing.assert_allclose(diffs_agg, diffs_epi, rtol=1e-9, atol=1e-8)
    for p in points:
        np.testing.assert_allclose(g_agg(p), g_epi(p), rtol=1e-9, atol=1e-8)


def test_pointwise_log_likelihood_sums_to_survival_likelihood(rich_data):
    spec = PiecewiseExponential(cuts=tuple(CUTS), effect="piecewise", strata=True,
                                covariates=("sex", "age"), exposure="received")
    model = spec.build(rich_data)
    draws = pm.draw([model[v] for v in ("log_hazard_base", "log_hr_period", "log_hr", "beta")],
                    draws=6, random_seed=1)
    import xarray as xr

    post = xr.Dataset({
        "log_hazard_base": (("chain", "draw", "stratum", "interval"), draws[0].reshape(2, 3, 2, 4)),
        "log_hr_period": (("chain", "draw", "period"), draws[1].reshape(2, 3, 4)),
        "log_hr": (("chain", "draw"), draws[2].reshape(2, 3)),
        "beta": (("chain", "draw", "covariate"), draws[3].reshape(2, 3, 2)),
    })
    ll = spec.pointwise_log_likelihood(post, rich_data)
    assert ll.dims == ("chain", "draw", "subject") and ll.shape == (2, 3, rich_data.n)
    # Independent check, subject by subject: episodes split by hand at the cuts and at the
    # start of experimental therapy (experimental arm from treatment_start, control
    # switchers from switch_time), not from the package's design rows.
    c, d = 1, 2
    total = hand_log_likelihood(
        rich_data, post["log_hazard_base"].values[c, d], post["log_hr_period"].values[c, d],
        post["beta"].values[c, d])
    np.testing.assert_allclose(ll.values[c, d], total, rtol=1e-10)


def hand_log_likelihood(data: TrialData, base: np.ndarray, effect: np.ndarray,
                        beta: np.ndarray) -> np.ndarray:
    """Poisson-form PEM log-likelihood per subject, sum over episodes (a, b] of
    d log h - h (b - a) with log h = base[stratum, interval] + on * effect[interval] +
    beta . (sex == M, age - mean age) (numeric covariates enter centred, as documented);
    strata in label order (asia, europe). ``base`` is (stratum, interval) and ``effect``
    one log HR per interval."""
    on_from = np.where(data.arm == 1, data.treatment_start, data.switch_time)
    on_from = np.where(np.isnan(on_from), np.inf, on_from)
    stratum = (data.strata == "europe").astype(int)
    age = np.asarray(data.covariates["age"], dtype=float)
    x = np.column_stack([data.covariates["sex"] == "M", age - age.mean()]).astype(float)
    total = np.zeros(data.n)
    for i in range(data.n):
        t = data.time[i]
        bounds = np.unique(np.r_[0.0, CUTS[CUTS < t], on_from[i] if 0 < on_from[i] < t else 0.0, t])
        for a, b in zip(bounds[:-1], bounds[1:]):
            k = int(np.searchsorted(CUTS, a, side="right"))
            on = a >= on_from[i]
            eta = base[stratum[i], k] + on * effect[k] + x[i] @ beta
            total[i] += (data.event[i] if b == t else 0) * eta - np.exp(eta) * (b - a)
    return total


def test_likelihood_sign_of_every_term_against_hand_computation(rich_data):
    """The built model's likelihood (observed terms only, priors excluded) moves between two
    parameter points exactly as the hand-computed one: a sign error in the linear predictor
    (treatment, covariates, strata) would break it, even though aggregated and episode rows
    would still agree with each other."""
    spec = PiecewiseExponential(cuts=tuple(CUTS), effect="piecewise", strata=True,
                                covariates=("sex", "age"), exposure="received",
                                likelihood="episodes")
    model = spec.build(rich_data)
    loglik = model.compile_logp(vars=model.observed_RVs)
    start = model.initial_point()
    rng = np.random.default_rng(3)
    points = [{k: v + rng.normal(0, 0.4, np.shape(v)) for k, v in start.items()} for _ in range(3)]

    # Parameters on their natural scale at each point (the graph's own deterministic
    # mapping from the free values), then the likelihood by hand.
    outs = model.replace_rvs_by_values(
        [model["log_hazard_base"], model["log_hr_period"], model["beta"]])
    params = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore",
                              point_fn=True)

    def hand(point):
        base, effect, beta = params(point)
        return hand_log_likelihood(rich_data, base, effect[spec.period_of_interval()], beta).sum()

    got = [loglik(p) - loglik(points[0]) for p in points[1:]]
    expected = [hand(p) - hand(points[0]) for p in points[1:]]
    assert np.abs(expected).min() > 1.0  # the points differ enough to show a wrong sign
    np.testing.assert_allclose(got, expected, rtol=1e-9)


# --------------------------------------------------------------------- with sampling
def sample(model, seed, draws=500):
    return pm.sample(draws=draws, tune=500, chains=2, model=model, random_seed=seed,
                     progressbar=False, nuts_sampler="nutpie")


def pem_mle(df, cuts):
    """Independent maximum likelihood of the PH PEM with scipy."""
    edges = np.concatenate([[0.0], cuts, [np.inf]])
    t, e, a = df["time"].to_numpy(), df["event"].to_numpy(), df["arm"].to_numpy()
    expo = np.clip(np.minimum(t[:, None], edges[1:]) - edges[:-1], 0, None)
    k_of = np.searchsorted(cuts, t, side="left")

    def nll(theta):
        base, b = theta[:-1], theta[-1]
        eta = base[None, :] + a[:, None] * b
        return -(np.sum(e * eta[np.arange(len(t)), k_of]) - np.sum(np.exp(eta) * expo))

    res = optimize.minimize(nll, np.r_[np.full(len(edges) - 1, -2.0), 0.0], method="BFGS")
    return res.x


@pytest.mark.slow
def test_vague_prior_posterior_matches_scipy_mle():
    df = simulate_pem(21, 600, BASE, CUTS, -0.4)
    data = load(df)
    spec = PiecewiseExponential(cuts=tuple(CUTS), priors={"log_hr": Normal(0, 10)})
    idata = sample(spec.build(data), seed=3)
    mle = pem_mle(df, CUTS)
    post = idata.posterior["log_hr"]
    sd = float(post.std())
    # Posterior median vs mode (MLE) differ by Monte Carlo error (~0.05 sd at this ESS)
    # plus finite-sample skew and the baseline prior's pull, together well below 0.25 sd;
    # a wrong likelihood (e.g. a misplaced interval) shifts it by a whole sd or more.
    assert abs(float(post.median()) - mle[-1]) < 0.25 * sd
    base_med = idata.posterior["log_hazard_base"].median(("chain", "draw")).values
    np.testing.assert_allclose(base_med, mle[:-1], atol=0.2 * sd + 0.02)


@pytest.mark.slow
def test_rossi_agrees_with_lifelines_cox():
    from lifelines import CoxPHFitter
    from lifelines.datasets import load_rossi

    rossi = load_rossi()
    cox = CoxPHFitter().fit(rossi[["week", "arrest", "fin"]], "week", "arrest")
    data = TrialData.from_dataframe(rossi, time="week", event="arrest", arm="fin")
    from pexsurv.intervals import equal_events

    spec = PiecewiseExponential(cuts=tuple(equal_events(data, 8)), priors={"log_hr": Normal(0, 10)})
    idata = sample(spec.build(data), seed=4)
    post = idata.posterior["log_hr"]
    # A fine PEM approximates Cox's partial likelihood closely; 0.25 posterior sd covers
    # the remaining baseline-approximation and Monte Carlo differences.
    assert abs(float(post.median()) - cox.params_["fin"]) < 0.25 * float(post.std())
    assert float(post.std()) == pytest.approx(cox.standard_errors_["fin"], rel=0.1)


RECOVERY = {
    "ph": (dict(), dict(log_hr=-0.5)),
    "piecewise": (dict(effect="piecewise", effect_cuts=(3.0,)), dict(log_hr=[0.0, 0.0, -0.9, -0.9])),
    "strata": (dict(strata=True), dict(log_hr=-0.5, strata_shift=0.5)),
    "covariates": (dict(covariates=("sex", "age")), dict(log_hr=-0.5, beta={"sex": 0.4, "age": -0.3})),
    "received": (dict(exposure="received"), dict(log_hr=-0.7, treatment_start=(0.5, 2.0))),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", RECOVERY)
def test_recovery(name):
    opts, truth = RECOVERY[name]
    df = simulate_pem(100 + len(name), 1500, BASE, CUTS, truth["log_hr"],
                      strata_shift=truth.get("strata_shift"), beta=truth.get("beta"),
                      follow_up=(6.0, 14.0), treatment_start=truth.get("treatment_start"))
    kw = {}
    if "treatment_start" in truth:
        kw["treatment_start"] = "ts"
    if "strata_shift" in truth:
        kw["strata"] = "region"
    if "beta" in truth:
        kw["covariates"] = tuple(truth["beta"])
    data = load(df, **kw)
    idata = sample(PiecewiseExponential(cuts=tuple(CUTS), **opts).build(data), seed=7)
    post = idata.posterior

    def covers(draws, value):
        lo, hi = np.quantile(draws, [0.005, 0.995])  # 99% interval: 1-in-100 miss per check
        assert lo < value < hi, f"{name}: {value} outside ({lo:.3f}, {hi:.3f})"

    if name == "piecewise":
        for p, value in enumerate([0.0, -0.9]):
            covers(post["log_hr_period"].isel(period=p).values, value)
    else:
        covers(post["log_hr"].values, truth["log_hr"])
    if name == "covariates":
        covers(post["beta"].sel(covariate="sex[M]").values, 0.4)
        covers(post["beta"].sel(covariate="age").values, -0.3)
    if name == "ph":
        for k in range(4):
            covers(post["log_hazard_base"].isel(interval=k).values, np.log(BASE[k]))


def test_vague_preset_is_written_out_for_every_parameter(rich_data):
    from pexsurv.priors import vague_priors

    spec = PiecewiseExponential(cuts=tuple(CUTS), effect="piecewise", covariates=("age",),
                                priors="vague")
    assert dict(spec.priors) == vague_priors(["log_hazard_base", "log_hr", "log_hr_scale", "beta"])
    assert PiecewiseExponential.from_dict(spec.to_dict()) == spec
    resolved = spec.resolved_priors(rich_data)
    assert resolved["log_hazard_base"].sigma == 10.0 and resolved["log_hazard_base"].mu is not None
    with pytest.raises(ValueError, match=r"one of \('vague',\)"):
        PiecewiseExponential(cuts=(1.0,), priors="flat")


def test_baseline_prior_is_centred_on_the_reference_arm(rich_data):
    """The pooled crude rate sits about half the log HR away from the reference arm's."""
    spec = PiecewiseExponential(cuts=tuple(CUTS))
    ref = rich_data.arm == 0
    expected = np.log(rich_data.event[ref].sum() / rich_data.time[ref].sum())
    assert spec.resolved_priors(rich_data)["log_hazard_base"].mu == pytest.approx(expected, rel=1e-12)
    # Received exposure: the reference is the person-time off experimental therapy.
    received = PiecewiseExponential(cuts=tuple(CUTS), exposure="received")
    design = received.design(rich_data, aggregate=True)
    off = design.treat == 0
    expected = np.log(design.events[off].sum() / design.exposure[off].sum())
    assert received.resolved_priors(rich_data)["log_hazard_base"].mu == pytest.approx(expected)
