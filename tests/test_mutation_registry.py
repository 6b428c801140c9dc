"""The registry of model types (fitting/registry.py): dispatch on the spec's type (subclasses
inherit), the refusal of an unregistered type and of a second type of the same name, the
names saved results are loaded by, and ``ModelFitting``'s defaults (issue 18; record in
benchmarks/mutation.md, section ``fitting/registry.py``).

The module is loaded from its file (``tests/isolated.py``): the loaded copy has a registry of
its own, empty but for what these tests register, so the package's registry is untouched.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType

import pytest
from isolated import load

REG = load("fitting/registry.py")


def fit_a(*a, **k):
    return "fit a"


def compile_a(*a, **k):
    return "compiled a"


class Alpha:
    pass


class AlphaChild(Alpha):
    pass


class Beta:
    pass


class Unregistered:
    pass


@pytest.fixture(scope="module")
def registered():
    a = REG.ModelFitting(fit=fit_a, compile=compile_a)
    b = REG.ModelFitting(fit=fit_a, compile=compile_a, defaults={"draws": 250},
                         methods=("mcmc",), why_not="needs NUTS")
    REG.register_model(Alpha, a)
    REG.register_model(Beta, b)
    return a, b


def test_model_fitting_defaults_and_frozen():
    given = {"draws": 100}
    f = REG.ModelFitting(fit=fit_a, compile=compile_a, defaults=given)
    assert isinstance(f.defaults, MappingProxyType) and dict(f.defaults) == {"draws": 100}
    given["draws"] = 5  # a copy: the caller's dict does not reach the registered defaults
    assert f.defaults["draws"] == 100
    with pytest.raises(TypeError):
        f.defaults["draws"] = 1
    plain = REG.ModelFitting(fit=fit_a, compile=compile_a)
    assert dict(plain.defaults) == {} and isinstance(plain.defaults, MappingProxyType)
    assert plain.methods == ("mcmc", "advi") and plain.why_not == ""
    with pytest.raises(dataclasses.FrozenInstanceError):
        plain.why_not = "x"
    assert plain == REG.ModelFitting(fit=fit_a, compile=compile_a)  # a value


def test_defaults_for_layers_spec_defaults_over_the_type_defaults():
    plain = REG.ModelFitting(fit=fit_a, compile=compile_a, defaults={"draws": 100, "tune": 9})
    assert plain.spec_defaults is None
    assert plain.defaults_for(Alpha()) == {"draws": 100, "tune": 9}
    seen = []

    def own(spec, method):
        seen.append((spec, method))
        return {"tune": 50, "chains": 2}
    spec = Alpha()
    f = REG.ModelFitting(fit=fit_a, compile=compile_a, defaults={"draws": 100, "tune": 9},
                         spec_defaults=own)
    assert f.defaults_for(spec) == {"draws": 100, "tune": 50, "chains": 2}
    assert f.defaults_for(spec, "advi") == {"draws": 100, "tune": 50, "chains": 2}
    assert seen == [(spec, "mcmc"), (spec, "advi")]
    assert dict(f.defaults) == {"draws": 100, "tune": 9}  # not written into


def test_dispatch_by_type_and_subclass(registered):
    a, b = registered
    assert REG.model_fitting(Alpha()) is a
    assert REG.model_fitting(AlphaChild()) is a
    assert REG.model_fitting(Beta()) is b


def test_unregistered_type_is_refused_naming_the_known_ones(registered):
    with pytest.raises(TypeError) as err:
        REG.model_fitting(Unregistered())
    assert str(err.value) == (
        "pexsurv cannot fit a Unregistered: no fitting is registered for it (known model "
        "types: ['Alpha', 'Beta']; a new type registers with pexsurv.fitting.register_model)")


def test_names_and_lookup(registered):
    assert REG.spec_type_names() == {"Alpha": Alpha, "Beta": Beta}
    assert REG.spec_type("Beta") is Beta and REG.spec_type("Alpha") is Alpha
    with pytest.raises(KeyError) as err:
        REG.spec_type("Gamma")
    assert err.value.args == ("unknown model type 'Gamma'; known: ['Alpha', 'Beta']",)


def test_same_type_registers_again_another_of_the_same_name_is_refused(registered):
    a, b = registered
    again = REG.ModelFitting(fit=fit_a, compile=compile_a, why_not="replaced")
    REG.register_model(Beta, again)
    try:
        assert REG.model_fitting(Beta()) is again
        impostor = type("Alpha", (), {"__module__": "elsewhere"})
        with pytest.raises(ValueError) as err:
            REG.register_model(impostor, again)
        assert str(err.value) == (
            f"a model type named 'Alpha' is already registered ({__name__}); saved results "
            "find their type by name")
        assert REG.model_fitting(Alpha()) is a and REG.spec_type("Alpha") is Alpha
    finally:
        REG.register_model(Beta, b)
    assert REG.model_fitting(Beta()) is b


def test_loading_imports_no_package_module():
    """The type names the signatures use are imported for type checkers only: at run time
    the registry imports nothing of pexsurv (every fitting module imports the registry to
    register itself; a run-time import back would be a cycle and pull in PyMC)."""
    code = ("import sys; from isolated import load; load('fitting/registry.py'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pexsurv', 'pymc')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
