"""Documentation is executable: every docstring example and the README quickstart run."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import matplotlib
import pytest

import pexsurv

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(m.name for m in pkgutil.walk_packages(pexsurv.__path__, "pexsurv.")
                 if m.name != "pexsurv.__main__")
for sub in ("models", "priors", "fitting", "diagnostics"):
    pkg = importlib.import_module(f"pexsurv.{sub}")
    MODULES += sorted(m.name for m in pkgutil.walk_packages(pkg.__path__, f"pexsurv.{sub}."))
MODULES = sorted(set(MODULES) | {"pexsurv"})


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                                  raise_on_error=False, report=True)
    assert failures == 0, f"{failures} docstring example(s) failed in {name}"


def test_readme_quickstart_runs(capsys):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has no python quickstart"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert "person_time" in capsys.readouterr().out


def test_readme_module_map_matches_exports():
    text = (ROOT / "README.md").read_text()
    for sub in ("models", "priors", "fitting", "diagnostics", "workflows"):
        assert f"`pexsurv.{sub}`" in text
    for name in pexsurv.__all__:
        assert hasattr(pexsurv, name), name
