"""The PSIS-LOO verdict (diagnostics/loo.py) on hand-built log-likelihood draws, no sampling:
Pareto-k classes at their boundaries, the pass rule, the subjects named, the text and the
comparison table (issue 18; record in benchmarks/mutation.md, section ``diagnostics/loo.py``).

The module is loaded from its file (``tests/isolated.py``), so a mutation run imports the
mutated source. The elpd is checked against importance-sampling LOO written here with NumPy
(``-log mean exp(-ll)`` per subject): for log-likelihood draws with a small spread, PSIS
smoothing changes almost nothing."""

from dataclasses import FrozenInstanceError
from types import SimpleNamespace

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from isolated import load
from scipy.special import logsumexp

L = load("diagnostics/loo.py")

CHAINS, DRAWS, N_SUBJECTS = 4, 1000, 12  # S = 4000 draws: good_k = min(1 - 1/log10 S, 0.7) = 0.7
IDS = np.array([f"p{i:02d}" for i in range(N_SUBJECTS)])


def loglik(seed: int, heavy: dict[int, float] | None = None, shift: float = 0.0) -> np.ndarray:
    """(chain, draw, subject) log-likelihood draws: small normal spread around a mean per subject;
    the subjects in ``heavy`` (index: sd) get -exp(N(0, sd)) draws, whose importance ratios
    exp(-ll) have a heavy tail (sd 0.5: Pareto k about 0.8; sd 1: about 4)."""
    rng = np.random.default_rng(seed)
    mean = -1.5 + shift + np.linspace(-1.0, 0.5, N_SUBJECTS)  # subjects differ: a real SE
    ll = mean + 0.05 * rng.standard_normal((CHAINS, DRAWS, N_SUBJECTS))
    for j, sd in (heavy or {}).items():
        ll[..., j] = -np.exp(sd * rng.standard_normal((CHAINS, DRAWS)))
    return ll


def fake_result(ll: np.ndarray, fingerprint: str = "same data") -> SimpleNamespace:
    """What loo and compare read from a FitResult: ``idata`` holding
    ``log_likelihood/survival`` (so nothing is computed) and ``data.fingerprint()``."""
    dims = ("chain", "draw", "subject")
    coords = {"chain": np.arange(CHAINS), "draw": np.arange(DRAWS), "subject": IDS}
    posterior = xr.Dataset({"mu": (("chain", "draw"), np.zeros((CHAINS, DRAWS)))},
                           coords={k: coords[k] for k in ("chain", "draw")})
    log_lik = xr.Dataset({L.LOG_LIKELIHOOD_VAR: (dims, ll)}, coords=coords)
    tree = xr.DataTree.from_dict({"posterior": posterior, "log_likelihood": log_lik})
    return SimpleNamespace(idata=tree, posterior=posterior, spec=None,
                           data=SimpleNamespace(fingerprint=lambda: fingerprint))


def is_loo(ll: np.ndarray) -> np.ndarray:
    """Plain importance-sampling LOO per subject: log(1 / mean(1 / p(y_i | theta_s)))."""
    flat = ll.reshape(-1, ll.shape[-1])
    return -(logsumexp(-flat, axis=0) - np.log(flat.shape[0]))


@pytest.fixture(scope="module")
def good():
    ll = loglik(0)
    return ll, L.loo(fake_result(ll))


@pytest.fixture(scope="module")
def bad():
    with pytest.warns(UserWarning, match="shape parameter of Pareto distribution"):
        return L.loo(fake_result(loglik(1, heavy={3: 0.5, 7: 1.0})))


# ------------------------------------------------------------------------- Pareto-k classes
def test_pareto_k_counts_at_the_class_boundaries():
    elpd = SimpleNamespace(pareto_k=xr.DataArray([0.2, 0.5, 0.5000001, 0.9, 1.0, 1.0000001, 3.0]),
                           good_k=0.5)
    counts = L.pareto_k_counts(elpd)
    assert counts == {"good_k": 0.5, "k_good": 2, "k_bad": 3, "k_very_bad": 2}
    assert all(type(counts[k]) is int for k in ("k_good", "k_bad", "k_very_bad"))


def test_pareto_k_counts_with_every_subject_in_one_class():
    k = xr.DataArray([0.1, 0.3])
    assert L.pareto_k_counts(SimpleNamespace(pareto_k=k, good_k=0.7)) == {
        "good_k": 0.7, "k_good": 2, "k_bad": 0, "k_very_bad": 0}
    assert L.pareto_k_counts(SimpleNamespace(pareto_k=k + 0.7, good_k=0.7)) == {
        "good_k": 0.7, "k_good": 0, "k_bad": 2, "k_very_bad": 0}
    assert L.pareto_k_counts(SimpleNamespace(pareto_k=k + 1.0, good_k=0.7)) == {
        "good_k": 0.7, "k_good": 0, "k_bad": 0, "k_very_bad": 2}


# ------------------------------------------------------------------------- loo
def test_loo_table_against_importance_sampling(good):
    ll, check = good
    row = check.table.iloc[0]
    assert list(check.table.columns) == ["elpd", "se", "p_loo", "n_subjects", "n_samples",
                                         "good_k", "k_good", "k_bad", "k_very_bad"]
    assert len(check.table) == 1
    elpd_i = is_loo(ll)
    assert row["elpd"] == pytest.approx(elpd_i.sum(), abs=1e-3)
    assert row["se"] == pytest.approx(np.sqrt(N_SUBJECTS * elpd_i.var(ddof=1)), rel=1e-3)
    lppd = (logsumexp(ll.reshape(-1, N_SUBJECTS), axis=0) - np.log(CHAINS * DRAWS)).sum()
    assert row["p_loo"] == pytest.approx(lppd - elpd_i.sum(), abs=1e-3)
    assert (row["n_subjects"], row["n_samples"]) == (N_SUBJECTS, CHAINS * DRAWS)
    assert row["good_k"] == pytest.approx(0.7)
    assert (row["k_good"], row["k_bad"], row["k_very_bad"]) == (N_SUBJECTS, 0, 0)
    # Pointwise, per subject, as documented.
    np.testing.assert_allclose(check.elpd.elpd_i.values, elpd_i, atol=1e-4)
    assert list(check.elpd.pareto_k["subject"].values) == list(IDS)


def test_loo_passes_when_every_k_is_reliable(good):
    _, check = good
    assert check.passed is True
    assert check.name == "loo"
    assert check.high_k_subjects.size == 0
    row = check.table.iloc[0]
    assert check.text == (f"PSIS-LOO: elpd {row['elpd']:.1f} (SE {row['se']:.1f}), p_loo "
                          f"{row['p_loo']:.1f}, 12 subjects; all Pareto k reliable.")


def test_loo_fails_and_names_the_subjects_with_high_k(bad):
    assert bad.passed is False
    k = bad.elpd.pareto_k.values
    assert 0.7 < k[3] <= 1.0 < k[7] and (np.delete(k, [3, 7]) <= 0.7).all()
    np.testing.assert_array_equal(bad.high_k_subjects, ["p03", "p07"])
    row = bad.table.iloc[0]
    assert (row["k_good"], row["k_bad"], row["k_very_bad"]) == (10, 1, 1)
    assert bad.text.endswith("12 subjects; 2 subject(s) with Pareto k > 0.70: their LOO "
                             "estimates are unreliable (check them, or use K-fold "
                             "cross-validation).")


@pytest.mark.parametrize(("k5", "passed"), [(0.7, True), (0.7000001, False)])
def test_a_k_at_good_k_passes_and_a_hair_above_fails(monkeypatch, k5, passed):
    """The pass rule and the subjects named use k <= good_k (ArviZ's "good" class). ArviZ
    cannot be steered to a k exactly at good_k, so its loo is replaced by a fixed result."""
    k = np.full(N_SUBJECTS, 0.1)
    k[5] = k5
    elpd = SimpleNamespace(elpd=-20.0, se=1.0, p=2.0, n_data_points=N_SUBJECTS, n_samples=4000,
                           good_k=0.7, pareto_k=xr.DataArray(k, coords={"subject": IDS}))
    monkeypatch.setattr(L, "az", SimpleNamespace(loo=lambda *args, **kwargs: elpd))
    check = L.loo(fake_result(loglik(0)))
    assert check.passed is passed
    assert check.high_k_subjects.tolist() == ([] if passed else ["p05"])
    assert check.table.loc[0, "k_bad"] == (0 if passed else 1)


def test_text_counts_bad_and_very_bad_subjects(good):
    _, check = good
    table = check.table.assign(k_good=7, k_bad=3, k_very_bad=2, good_k=0.65)
    text = L.LooCheck(passed=False, elpd=check.elpd, table=table).text
    assert "; 5 subject(s) with Pareto k > 0.65: their LOO" in text


def test_check_is_immutable(good):
    _, check = good
    with pytest.raises(FrozenInstanceError):
        check.passed = False


def test_plot_draws_one_point_per_subject(good):
    import matplotlib.pyplot as plt

    fig = good[1].plot()
    try:
        assert sum(len(c.get_offsets()) for ax in fig.axes for c in ax.collections) == N_SUBJECTS
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------- compare
def test_compare_ranks_fits_and_joins_integer_counts():
    close, far = loglik(2), loglik(2, shift=-0.5)  # the same draws, 0.5 lower per subject
    table = L.compare({"worse": fake_result(far), "better": fake_result(close)})
    assert list(table.index) == ["better", "worse"]
    assert table.loc["worse", "elpd_diff"] == pytest.approx(-0.5 * N_SUBJECTS, abs=1e-6)
    assert table.loc["better", "elpd"] == pytest.approx(is_loo(close).sum(), abs=1e-3)
    reference = az.compare({"worse": L.loo(fake_result(far)).elpd,
                            "better": L.loo(fake_result(close)).elpd}, round_to="none")
    pd.testing.assert_frame_equal(table[reference.columns], reference)
    assert list(table.columns[-4:]) == ["good_k", "k_good", "k_bad", "k_very_bad"]
    assert table["good_k"].dtype == float
    for col in ("k_good", "k_bad", "k_very_bad"):
        assert table[col].dtype == np.int64
    assert table.loc["better", "k_good"] == N_SUBJECTS


def test_compare_counts_each_fits_own_pareto_k():
    with pytest.warns(UserWarning, match="shape parameter of Pareto distribution"):
        table = L.compare({"smooth": fake_result(loglik(3)),
                           "heavy": fake_result(loglik(3, heavy={4: 1.0}))})
    assert table.loc["heavy", ["k_good", "k_very_bad"]].tolist() == [N_SUBJECTS - 1, 1]
    assert table.loc["smooth", ["k_good", "k_very_bad"]].tolist() == [N_SUBJECTS, 0]


def test_compare_refuses_fewer_than_two_fits():
    with pytest.raises(ValueError, match="at least two fits, got 1"):
        L.compare({"only": fake_result(loglik(0))})
    with pytest.raises(ValueError, match="at least two fits, got 0"):
        L.compare({})


def test_compare_refuses_fits_of_different_data():
    fits = {"a": fake_result(loglik(0), "aaaaaaaaaaaaXXXX"), "b": fake_result(loglik(0), "b" * 16),
            "c": fake_result(loglik(0), "aaaaaaaaaaaaXXXX")}
    with pytest.raises(ValueError, match="same patients only") as info:
        L.compare(fits)
    assert ("{'a': 'aaaaaaaaaaaa', 'b': 'bbbbbbbbbbbb', 'c': 'aaaaaaaaaaaa'}"
            in str(info.value))
