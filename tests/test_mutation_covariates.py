"""Mutation tests for ``models/rpsft/covariates.py`` (issue 18): numeric baseline covariates
by name for IPE's AFT model and IPCW's switching model. Light: the module is loaded from its
file (``tests/isolated.py``), no PyMC. ``numeric_covariates`` reads only ``data.covariates``,
so dtypes that ``TrialData`` never stores (ints, bools, complex) are checked with a stand-in.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from isolated import load

from pexsurv import TrialData

covariates = load("models/rpsft/covariates.py")
numeric_covariates = covariates.numeric_covariates


def _stand_in() -> SimpleNamespace:
    return SimpleNamespace(covariates={
        "age": np.array([50.5, 60.0, 70.25]), "count": np.array([1, 2, 3], dtype=np.int64),
        "small": np.array([4, 5, 6], dtype=np.uint8), "flag": np.array([True, False, True]),
        "f32": np.array([0.5, 1.5, 2.5], dtype=np.float32), "arm": np.array([0.0, 1.0, 0.0]),
        "sex": np.array(["f", "m", "f"], dtype=object), "code": np.array(["a", "b", "c"]),
        "z": np.array([1 + 1j, 2, 3]), "when": np.array(["2020-01-01"] * 3, dtype="datetime64[D]"),
        "dur": np.array([1, 2, 3], dtype="timedelta64[D]"), "raw": np.array([b"a", b"b", b"c"]),
    })


def test_exports() -> None:
    assert covariates.__all__ == ["numeric_covariates"]


def test_numeric_columns_become_floats_in_the_order_asked() -> None:
    data = _stand_in()
    names = ["small", "age", "flag", "count", "f32"]
    out = numeric_covariates(data, names, model="m")
    assert list(out) == names
    expected = {"small": [4.0, 5.0, 6.0], "age": [50.5, 60.0, 70.25], "flag": [1.0, 0.0, 1.0],
                "count": [1.0, 2.0, 3.0], "f32": [0.5, 1.5, 2.5]}
    for name, values in expected.items():
        assert out[name].dtype == np.float64
        np.testing.assert_array_equal(out[name], values)
    out["age"][0] = -1.0   # a copy: the data keep their values
    assert data.covariates["age"][0] == 50.5


def test_list_valued_covariates_are_read_as_arrays() -> None:
    data = SimpleNamespace(covariates={"x": [1, 2, 3]})
    out = numeric_covariates(data, ("x",), model="m")
    np.testing.assert_array_equal(out["x"], [1.0, 2.0, 3.0])
    assert out["x"].dtype == np.float64


def test_no_names_no_columns() -> None:
    assert numeric_covariates(_stand_in(), [], model="m") == {}


def test_missing_name() -> None:
    data = _stand_in()
    with pytest.raises(ValueError) as raised:
        numeric_covariates(data, ["age", "weight"], model="m")
    assert str(raised.value) == (f"covariate 'weight' is not in the data; available: "
                                 f"{sorted(data.covariates)} (pass covariates= to "
                                 "TrialData.from_dataframe)")


def test_reserved_name() -> None:
    with pytest.raises(ValueError) as raised:
        numeric_covariates(_stand_in(), ["age", "arm"], model="IPE's AFT model",
                           reserved=("treated", "arm"))
    assert str(raised.value) == ("covariate name 'arm' is reserved for IPE's AFT model; "
                                 "rename it")
    # not reserved unless named: the default reserves nothing
    np.testing.assert_array_equal(numeric_covariates(_stand_in(), ["arm"], model="m")["arm"],
                                  [0.0, 1.0, 0.0])


def test_a_missing_name_is_reported_before_a_reserved_one() -> None:
    with pytest.raises(ValueError, match="'arm' is not in the data"):
        numeric_covariates(SimpleNamespace(covariates={}), ["arm"], model="m", reserved=["arm"])


def test_a_reserved_name_is_reported_before_its_type() -> None:
    with pytest.raises(ValueError, match="^covariate name 'sex' is reserved for m; rename it$"):
        numeric_covariates(_stand_in(), ["sex"], model="m", reserved=["sex"])


@pytest.mark.parametrize("name", ["sex", "code", "z", "when", "dur", "raw"])
def test_non_numeric_columns_are_refused(name: str) -> None:
    with pytest.raises(ValueError) as raised:
        numeric_covariates(_stand_in(), ["age", name], model="the switching model")
    assert str(raised.value) == (f"covariate {name!r} is categorical; the switching model takes "
                                 "numeric covariates: add indicator columns before loading")


def test_with_trial_data() -> None:
    df = pd.DataFrame({"time": [1.0, 2, 3, 4], "event": [1, 0, 1, 1], "arm": [0, 1, 0, 1],
                       "age": [50, 60, 70, 80], "sex": ["f", "m", "f", "m"]})
    data = TrialData.from_dataframe(df, time="time", event="event", arm="arm",
                                    covariates=["age", "sex"], categorical=["sex"])
    out = numeric_covariates(data, ["age"], model="m")
    np.testing.assert_array_equal(out["age"], [50.0, 60.0, 70.0, 80.0])
    with pytest.raises(ValueError, match="'sex' is categorical; m takes numeric"):
        numeric_covariates(data, ["sex"], model="m")


def test_model_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        numeric_covariates(_stand_in(), ["age"], "m")
