"""FitResult without a fit: stage-run descriptions, the summary table, the repr, and results
files (round trip of every data column, checksums and every refusal of ``load``) on
hand-built posteriors (issue 18 mutation tests).

The module is loaded from its file (``tests/isolated.py``): a mutation run mutates that file,
while the rest of the package is the installed one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import FrozenInstanceError

import arviz as az
import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from isolated import load

from pexsurv import TrialData
from pexsurv.fitting import SamplerConfig, check_convergence
from pexsurv.models import PiecewiseExponential
from pexsurv.priors import PriorSpec
from pexsurv.testing import fake_posterior

R = load("fitting/result.py")
FitResult, StageRun = R.FitResult, R.StageRun
CUTS = (2.0, 4.0)


def frame(n: int = 12) -> pd.DataFrame:
    """Every optional TrialData column, with values a round trip could lose."""
    return pd.DataFrame({
        "pid": [f"p{i:02d}" for i in range(n)],
        "t": np.linspace(1.0, 9.0, n),
        "ev": [1, 0] * (n // 2),
        "grp": ["A", "B"] * (n // 2),
        "start": np.linspace(0.1, 0.5, n),
        "sw": [np.nan] * (n - 2) + [3.0, np.nan],
        "cens": np.linspace(10.0, 12.0, n),
        "site": ["x", "y", "y", "x"] * (n // 4),
        "age": np.arange(n, dtype=float),
    })


def rich_data() -> TrialData:
    d = TrialData.from_dataframe(frame(), time="t", event="ev", arm="grp", id="pid",
                                 reference="B", treatment_start="start", switch_time="sw",
                                 censor_time="cens", strata="site", covariates=["age"])
    return dataclasses.replace(d, population="per protocol", origin="treatment_start",
                               notes=("first note", "second"))


def make(data: TrialData | None = None, *, draws: int = 6, sampler: SamplerConfig | None = None,
         runs=(), **kw) -> FitResult:
    data = data or rich_data()
    spec = PiecewiseExponential(cuts=CUTS)
    tree = fake_posterior(cuts=CUTS, chains=2, draws=draws, jitter=0.2, arms=data.arms)
    return FitResult(idata=tree, spec=spec, priors=spec.resolved_priors(data), data=data,
                     sampler=sampler or SamplerConfig(seed=3), runs=runs, **kw)


@pytest.fixture(scope="module")
def result():
    runs = (StageRun("posterior", "mcmc", chains=2, draws=6, tune=5, sampler="nutpie", seed=3),)
    return make(runs=runs, timings={"compile_seconds": 1.5, "sampling_seconds": 2.0},
                provenance={"data_fingerprint": rich_data().fingerprint(), "seed_drawn": False})


@pytest.fixture(scope="module")
def saved(result, tmp_path_factory):
    return result.save(tmp_path_factory.mktemp("saved") / "fit.nc")


# ------------------------------------------------------------------------ StageRun
@pytest.mark.parametrize("run, text", [
    (StageRun("posterior", "mcmc", chains=4, draws=500, tune=500, sampler="nutpie", seed=1),
     "posterior: MCMC (nutpie), 4 chains x 500 draws after 500 tuning steps, seed 1"),
    (StageRun("psi", "mcmc", chains=1, draws=10, tune=0, sampler="pymc"),
     "psi: MCMC (pymc), 1 chain x 10 draws after 0 tuning steps"),
    (StageRun("stage 2", "mcmc", fits=3, chains=2, draws=10, tune=5, sampler="nutpie", seed=0),
     "stage 2: MCMC (nutpie), 3 fits, each 2 chains x 10 draws after 5 tuning steps, seed 0"),
    (StageRun("posterior", "advi", draws=100, detail="50 steps", seed=2),
     "posterior: APPROXIMATE (ADVI, 50 steps), 100 draws, seed 2"),
    (StageRun("stage 2", "advi", fits=2, draws=100, detail="50 steps"),
     "stage 2: APPROXIMATE (ADVI, 50 steps), 2 fits, each 100 draws"),
    (StageRun("psi", "grid", detail="400 points"), "psi: grid (400 points), not MCMC"),
    (StageRun("adjusted HR", "bootstrap", fits=0, detail="200 weight sets"),
     "adjusted HR: bootstrap (200 weight sets), not MCMC"),
])
def test_stage_run_text(run, text):
    assert str(run) == text


def test_stage_run_defaults_and_dict():
    run = StageRun("posterior", "mcmc")
    assert run.to_dict() == {"stage": "posterior", "method": "mcmc", "fits": 1, "chains": None,
                             "draws": None, "tune": None, "sampler": None, "seed": None,
                             "detail": ""}
    with pytest.raises(FrozenInstanceError):
        run.fits = 2


def test_stage_run_configured_and_sampled():
    mcmc = SamplerConfig(draws=7, tune=3, chains=2, seed=9)
    assert StageRun.configured("posterior", mcmc) == StageRun(
        "posterior", "mcmc", fits=1, chains=2, draws=7, tune=3, sampler="nutpie", seed=9)
    assert StageRun.configured("stage 2", mcmc, fits=5).fits == 5
    advi = SamplerConfig(method="advi", draws=20, options={"n": 40})
    assert StageRun.configured("posterior", advi) == StageRun(
        "posterior", "advi", chains=1, draws=20, tune=0, sampler="pymc", detail="40 steps")
    # chains and draws as returned, not as asked
    tree = fake_posterior(cuts=CUTS, chains=3, draws=4)
    got = StageRun.sampled("stage 2", mcmc, tree, fits=2)
    assert got == StageRun("stage 2", "mcmc", fits=2, chains=3, draws=4, tune=3,
                           sampler="nutpie", seed=9)
    assert type(got.chains) is int and type(got.draws) is int
    assert StageRun.sampled("posterior", mcmc, tree).fits == 1
    with pytest.raises(TypeError):  # fits is keyword-only
        StageRun.sampled("stage 2", mcmc, tree, 2)
    with pytest.raises(TypeError):
        StageRun.configured("stage 2", mcmc, 2)


# ------------------------------------------------------------------------ FitResult views
def test_posterior_approximate_and_convergence(result):
    assert isinstance(result.posterior, xr.Dataset)
    xr.testing.assert_identical(result.posterior, result.idata["posterior"].to_dataset())
    assert result.approximate is False
    assert make(sampler=SamplerConfig(method="advi")).approximate is True
    check = result.convergence
    assert check is result.convergence  # computed once
    assert check.headline == check_convergence(result).headline
    with pytest.raises(FrozenInstanceError):
        result.spec = None
    assert result != make()  # identity, not field equality (arrays inside)
    assert hash(result) != hash(make())  # hashable by identity (fields hold arrays)


def test_repr(result):
    text = repr(result)
    assert text == (
        "FitResult(PiecewiseExponential, data='per protocol' n=12; posterior: MCMC (nutpie), "
        "2 chains x 6 draws after 5 tuning steps, seed 3; posterior 2 chains x 6 draws; "
        f"{result.convergence.headline})")
    one = make(draws=4, sampler=SamplerConfig(chains=1, draws=4, tune=2))
    one = dataclasses.replace(one, idata=fake_posterior(cuts=CUTS, chains=1, draws=4))
    assert ("; configured: MCMC (nutpie), 1 chain x 4 draws after 2 tuning steps; "
            "posterior 1 chain x 4 draws; ") in repr(one)


def with_extra_variables(result: FitResult) -> FitResult:
    """Every variable the default summary looks for, one of them marked as not MCMC."""
    post = result.posterior.copy()
    rng = np.random.default_rng(5)
    shape = (post.sizes["chain"], post.sizes["draw"])
    for name in ("psi", "acceleration", "hr_period", "hr_two_stage"):
        post[name] = (("chain", "draw"), rng.normal(size=shape))
    post["beta"] = (("chain", "draw", "covariate"), rng.normal(size=(*shape, 2)))
    post["lp"] = (("chain", "draw"), rng.normal(size=shape))  # not a reported parameter
    post["psi"].attrs["not_mcmc"] = "grid quantiles"
    post["beta"].attrs["not_mcmc"] = "bootstrap"  # a vector: rows beta[...]
    tree = result.idata.copy()
    tree["posterior"] = xr.DataTree(post)
    return dataclasses.replace(result, idata=tree)


def test_summary_default_variables_and_not_mcmc_blanks(result):
    fit = with_extra_variables(result)
    table = fit.summary()
    names = {i.split("[")[0] for i in table.index}
    assert names == {"psi", "acceleration", "hr", "log_hr", "hr_period", "hr_two_stage",
                     "log_hazard_base", "beta"}
    blanked = ["psi", *[i for i in table.index if i.startswith("beta[")]]
    assert len(blanked) == 3
    assert table.loc[blanked, ["ess_bulk", "ess_tail", "r_hat"]].isna().all().all()
    others = table.drop(index=blanked)
    assert others[["ess_bulk", "ess_tail", "r_hat"]].notna().all().all()
    # ArviZ's display strings say n/a for the blanked cells, and only for them
    fmt = table._fmt_map
    for col in ("ess_bulk", "ess_tail", "r_hat"):
        assert [fmt[col][i] for i in blanked] == ["n/a"] * 3
        assert "n/a" not in [fmt[col][i] for i in others.index]
    assert list(table.columns[2:4]) == ["eti95_lb", "eti95_ub"]
    # the variables asked for, and nothing else
    assert list(fit.summary(["hr"]).index) == ["hr"]


def test_summary_numbers_against_arviz():
    result = make(draws=300)
    table = result.summary(["hr", "log_hr"])
    hr = result.posterior["hr"].values.ravel()
    assert table.loc["hr", "eti95_lb"] == pytest.approx(np.quantile(hr, 0.025), rel=1e-6)
    assert table.loc["hr", "eti95_ub"] == pytest.approx(np.quantile(hr, 0.975), rel=1e-6)
    tail = az.ess(result.idata, var_names=["hr"], method="tail", prob=(0.05, 0.95))
    assert table.loc["hr", "ess_tail"] == pytest.approx(float(tail["hr"]), rel=1e-6)
    other = az.ess(result.idata, var_names=["hr"], method="tail", prob=(0.025, 0.975))
    assert float(other["hr"]) != pytest.approx(float(tail["hr"]), rel=1e-6)  # the test can fail


# ------------------------------------------------------------------------ digests
def reference_digest(shape: tuple, payload: bytes) -> str:
    h = hashlib.sha256(repr(shape).encode())
    h.update(payload)
    return h.hexdigest()


def test_array_digest_canonical_forms():
    d = R._array_digest
    assert d(np.array([1.5, 2.0])) == reference_digest((2,), np.array([1.5, 2.0]).tobytes())
    assert d(np.array([[1, 2]], dtype=np.int8)) == reference_digest(
        (1, 2), np.array([1, 2], dtype=np.int64).tobytes())
    assert d(np.array([3], dtype=np.uint16)) == reference_digest(
        (1,), np.array([3], dtype=np.uint64).tobytes())
    assert d(np.array([1 + 2j], dtype=np.complex64)) == reference_digest(
        (1,), np.array([1 + 2j]).tobytes())
    assert d(np.array([True, False])) == reference_digest((2,), bytes([1, 0]))
    assert d(np.array(["ab", "c"])) == reference_digest((2,), "ab\x1fc".encode())
    times = np.array(["2020-01-01"], dtype="datetime64[D]")
    assert d(times) == reference_digest((1,), times.view(np.int64).tobytes())
    nat = np.array(["NaT"], dtype="datetime64[ns]")  # tolist() gives None: still a datetime
    assert d(nat) == reference_digest((1,), nat.view(np.int64).tobytes())
    # netCDF round trips that must not count as changes
    assert d(np.array([None, 1.5], dtype=object)) == d(np.array([np.nan, 1.5]))
    assert d(np.array([None, None], dtype=object)) == d(np.array([np.nan, np.nan]))
    assert d(np.array([None, "x"], dtype=object)) == d(np.array(["", "x"]))
    assert d(np.array(["ab"], dtype="S2")) != d(np.array([1.0]))
    assert d(np.array(["a", "b"], dtype=object)) == d(np.array(["a", "b"], dtype="U1"))
    # changes that must count
    assert d(np.array([1.0, 2.0])) != d(np.array([[1.0, 2.0]]))
    assert d(np.array([1.0, 2.0])) != d(np.array([1.0, 2.5]))
    assert d(np.array(["a", "b"])) != d(np.array(["ab"]))


def test_checksums_cover_every_variable_and_the_metadata():
    tree = xr.DataTree.from_dict({
        "/": xr.Dataset(),
        "posterior": xr.Dataset({"x": ("i", [1.0, 2.0])}, coords={"i": [0, 1]}),
        "data": xr.Dataset({"y": ("j", ["a", "b"])}),
    })
    meta = {"spec": "{}", "pexsurv_format": 2}
    out = R._checksums(tree, meta)
    assert set(out) == {"/posterior/x", "/posterior/i", "/data/y", "<metadata>"}
    assert out["/posterior/x"] == R._array_digest(np.array([1.0, 2.0]))
    text = json.dumps({"pexsurv_format": "2", "spec": "{}"}, sort_keys=True)
    assert out["<metadata>"] == hashlib.sha256(text.encode()).hexdigest()
    # integer attributes read back as numpy integers hash the same
    assert R._checksums(tree, {"spec": "{}", "pexsurv_format": np.int64(2)}) == out


# ------------------------------------------------------------------------ save / load
def test_round_trip_keeps_everything(result, saved):
    back = FitResult.load(saved)
    xr.testing.assert_identical(back.posterior, result.posterior)
    assert back.spec == result.spec and back.spec.spec_hash() == result.spec.spec_hash()
    assert back.priors == dict(result.priors)
    assert all(isinstance(p, PriorSpec) for p in back.priors.values())
    assert back.sampler == result.sampler and back.runs == result.runs
    assert back.timings == {"compile_seconds": 1.5, "sampling_seconds": 2.0}
    assert back.provenance == dict(result.provenance)
    assert R._DATA_GROUP not in back.idata.children
    assert back.idata.attrs == result.idata.attrs  # the file's metadata is not left in idata
    assert set(back.idata.children) == set(result.idata.children)
    d, e = back.data, result.data
    assert d.fingerprint() == e.fingerprint()
    pd.testing.assert_frame_equal(d.to_frame(), e.to_frame())
    assert (d.arms, d.population, d.origin, d.notes) == (("B", "A"), "per protocol", "treatment_start",
                                                         ("first note", "second"))
    assert list(d.covariates) == ["age"] and d.strata is not None
    for col in ("treatment_start", "switch_time", "censor_time", "strata"):
        assert getattr(d, col) is not None, col
    assert repr(back) == repr(result)


def test_round_trip_of_interval_censored_data(tmp_path):
    df = frame()
    df["lower"] = np.where(df["ev"] == 1, df["t"] - 0.5, np.nan)
    data = TrialData.from_dataframe(df, time="t", event="ev", arm="grp", id="pid",
                                    reference="B", time_lower="lower")
    fit = make(data)
    back = FitResult.load(fit.save(tmp_path / "ic.nc"))
    np.testing.assert_array_equal(back.data.time_lower, data.time_lower)
    assert back.data.fingerprint() == data.fingerprint()
    assert back.data.arms == ("B", "A")  # the first arm is the reference


def test_saved_attributes(saved, result):
    with xr.open_datatree(saved, engine="h5netcdf") as opened:
        attrs = dict(opened.attrs)
        assert set(opened.children) == {*result.idata.children, "trial_data"}
    assert set(attrs) == set(R._META) == {
        "pexsurv_format", "spec", "spec_hash", "priors", "sampler", "runs", "timings",
        "provenance", "checksums"}
    assert attrs["pexsurv_format"] == R.FORMAT_VERSION == 2
    assert json.loads(attrs["runs"]) == [r.to_dict() for r in result.runs]
    assert json.loads(attrs["sampler"]) == result.sampler.to_dict()


def test_save_returns_the_path_and_replaces_the_file(result, tmp_path):
    path = tmp_path / "fit.nc"
    assert result.save(str(path)) == path
    other = make(draws=3)
    assert other.save(path) == path
    assert FitResult.load(path).posterior.sizes["draw"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


def rewrite(src, dst, change) -> None:
    with xr.open_datatree(src, engine="h5netcdf") as opened:
        tree = opened.load()
    change(tree)
    tree.to_netcdf(dst, engine="h5netcdf")


def test_load_refusals(saved, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"nothing\.nc: no such results file"):
        FitResult.load(tmp_path / "nothing.nc")
    (tmp_path / "text.nc").write_text("not netcdf")
    with pytest.raises(R.ResultFileError,
                       match=r"text\.nc: not a readable pexsurv results file \(10 bytes; "):
        FitResult.load(tmp_path / "text.nc")
    # not written by save: no format attribute, or no trial-data group
    rewrite(saved, tmp_path / "noformat.nc", lambda t: t.attrs.pop("pexsurv_format"))
    rewrite(saved, tmp_path / "nodata.nc", lambda t: t.__delitem__("trial_data"))
    for name in ("noformat.nc", "nodata.nc"):
        with pytest.raises(R.ResultFileError, match=rf"{name}: not a pexsurv result file") as err:
            FitResult.load(tmp_path / name)
        assert type(err.value) is R.ResultFileError
    for version in (1, 3):  # older and newer
        rewrite(saved, tmp_path / f"v{version}.nc",
                lambda t, v=version: t.attrs.update(pexsurv_format=v))
        with pytest.raises(R.IncompatibleResultError,
                           match=rf"v{version}\.nc: saved with result format {version}, this "
                                 "pexsurv reads format 2"):
            FitResult.load(tmp_path / f"v{version}.nc")
    rewrite(saved, tmp_path / "nospec.nc", lambda t: [t.attrs.pop(k) for k in ("spec", "runs")])
    with pytest.raises(R.CorruptResultError, match=r"metadata \['spec', 'runs'\] missing"):
        FitResult.load(tmp_path / "nospec.nc")
    # an unknown model type
    def unknown(t):
        spec = json.loads(t.attrs["spec"])
        spec["model"] = "NoSuchModel"
        t.attrs["spec"] = json.dumps(spec)
        meta = {k: t.attrs[k] for k in R._META if k != "checksums"}
        sums = json.loads(t.attrs["checksums"])
        sums["<metadata>"] = R._checksums(xr.DataTree(), meta)["<metadata>"]
        t.attrs["checksums"] = json.dumps(sums)
    rewrite(saved, tmp_path / "unknown.nc", unknown)
    with pytest.raises(R.IncompatibleResultError, match=r"unknown\.nc: .*NoSuchModel"):
        FitResult.load(tmp_path / "unknown.nc")
    for digit in "0f":  # below and above the stored hash
        monkeypatch.setattr(PiecewiseExponential, "spec_hash", lambda self, c=digit: c * 16)
        with pytest.raises(R.IncompatibleResultError,
                           match=rf"fit\.nc: the stored spec hashes to {digit * 16}, not the saved "):
            FitResult.load(saved)


def test_load_detects_changes(result, saved, tmp_path):
    cases = {
        "value.nc": ("posterior/log_hr", lambda f: f["posterior/log_hr"].__setitem__(
            (0, 0), f["posterior/log_hr"][0, 0] + 1e-9)),
        "data.nc": ("trial_data/time", lambda f: f["trial_data/time"].__setitem__(
            0, f["trial_data/time"][0] + 1.0)),
        "meta.nc": ("<metadata>", lambda f: f.attrs.__setitem__("timings", "{}")),
    }
    for name, (key, change) in cases.items():
        path = tmp_path / name
        path.write_bytes(saved.read_bytes())
        with h5py.File(path, "r+") as f:
            change(f)
        with pytest.raises(R.CorruptResultError,
                           match=rf"{name}: contents changed after the file was written: "
                                 rf"checksum mismatch in \['/?{key}'\]"):
            FitResult.load(path)
    # an added variable is a change too
    path = tmp_path / "added.nc"
    path.write_bytes(saved.read_bytes())
    with h5py.File(path, "r+") as f:
        f["posterior"].attrs["x"] = 1
    FitResult.load(path)  # group attributes are not data
    rewrite(saved, tmp_path / "extra.nc",
            lambda t: t["posterior"].__setitem__("extra", xr.DataArray([1.0], dims="e")))
    with pytest.raises(R.CorruptResultError, match=r"mismatch in \['/posterior/extra'\]"):
        FitResult.load(tmp_path / "extra.nc")


def test_checksum_message_names_at_most_ten(saved, tmp_path):
    def change_all(t):
        post = t["posterior"].to_dataset()
        for k in range(12):
            post[f"v{k:02d}"] = ("e", [float(k)])
        t["posterior"] = xr.DataTree(post)
    rewrite(saved, tmp_path / "many.nc", change_all)
    with pytest.raises(R.CorruptResultError) as err:
        FitResult.load(tmp_path / "many.nc")
    listed = [f"/posterior/v{k:02d}" for k in range(10)]
    assert f"checksum mismatch in {listed};" in str(err.value)


def test_fingerprint_mismatch_and_no_fingerprint(result, tmp_path):
    other = dataclasses.replace(result, provenance={"data_fingerprint": "f" * 64})
    with pytest.raises(R.CorruptResultError) as err:
        FitResult.load(other.save(tmp_path / "swapped.nc"))
    assert (f"swapped.nc: the stored trial data no longer match the fingerprint recorded at "
            f"fit time (ffffffffffff... vs {result.data.fingerprint()[:12]}...): the draws "
            "may not belong to these data; refit") in str(err.value)
    bare = dataclasses.replace(result, provenance={})
    assert FitResult.load(bare.save(tmp_path / "bare.nc")).provenance == {}


def test_error_types():
    assert issubclass(R.ResultFileError, ValueError)
    assert issubclass(R.IncompatibleResultError, R.ResultFileError)
    assert issubclass(R.CorruptResultError, R.ResultFileError)
    assert not issubclass(R.CorruptResultError, R.IncompatibleResultError)
    assert R.__all__ == ["FORMAT_VERSION", "CorruptResultError", "FitResult",
                         "IncompatibleResultError", "ResultFileError", "StageRun"]
