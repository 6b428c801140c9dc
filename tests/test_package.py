"""Packaging: the wheel holds `pexsurv` and its subpackages, nothing bare; the install is one
static tools can follow; every imported distribution is declared."""

from __future__ import annotations

import ast
import importlib.machinery
import re
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True, capture_output=True, cwd=tmp_path_factory.mktemp("build-cwd"),
    )
    (whl,) = out.glob("pexsurv-*.whl")
    with zipfile.ZipFile(whl) as z:
        return z.namelist()


def test_wheel_maps_code_folders_into_pexsurv(wheel_names):
    tops = {n.split("/")[0] for n in wheel_names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"pexsurv"}, f"bare top-level packages in the wheel: {tops - {'pexsurv'}}"
    for sub in ("models", "priors", "fitting", "diagnostics", "workflows"):
        assert f"pexsurv/{sub}/__init__.py" in wheel_names
    assert "pexsurv/datasets/ct041_like.csv" in wheel_names
    assert not any(n.startswith(("tests/", "notebooks/", "pexsurv/tests/")) for n in wheel_names)


def test_subpackages_import_from_installed_location():
    import pexsurv.diagnostics
    import pexsurv.fitting
    import pexsurv.models
    import pexsurv.priors

    for mod, folder in ((pexsurv.models, "models"), (pexsurv.priors, "priors"),
                        (pexsurv.fitting, "fitting"), (pexsurv.diagnostics, "diagnostics")):
        # The editable install links each file to its source (resolve() follows the link).
        assert Path(mod.__file__).resolve().parent == ROOT / folder


def test_install_is_a_folder_tree_static_tools_can_follow():
    """Type checkers and editors find packages as folders on sys.path; they never run import
    hooks. The installed pexsurv must be such a folder holding every subpackage (the strict
    editable install of .ci/setup.sh), not a hook that maps models/ etc. at import time."""
    paths = [p for p in sys.path if p and Path(p).resolve() != ROOT]
    spec = importlib.machinery.PathFinder.find_spec("pexsurv", paths)
    assert spec is not None and spec.submodule_search_locations, (
        "no pexsurv folder on sys.path: re-install with bash .ci/setup.sh")
    (folder,) = spec.submodule_search_locations
    for sub in ("models", "priors", "fitting", "diagnostics", "workflows"):
        init = Path(folder) / sub / "__init__.py"
        assert init.is_file(), f"{init} missing: re-install with bash .ci/setup.sh"


def test_subpackages_import_from_the_repository_root():
    """From the root, the source folder pexsurv/ comes first on sys.path and lacks the
    mapped subpackages; pexsurv/__init__.py extends its search path to the installed ones."""
    res = subprocess.run([sys.executable, "-c", "import pexsurv.models, pexsurv.workflows"],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_cli_version_and_errors(tmp_path):
    exe = Path(sys.executable).parent / "pexsurv"
    res = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    import pexsurv

    assert res.stdout.strip() == f"pexsurv {pexsurv.__version__}"
    res = subprocess.run([exe, "simulate", "--scenario", "nope", "--seed", "1"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "unknown scenario 'nope'" in res.stderr and res.stdout == ""
    res = subprocess.run([exe, "simulate", "--seed", "1", "-o", str(tmp_path / "no" / "x.csv")],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "does not exist" in res.stderr
    res = subprocess.run([exe, "bogus"], capture_output=True, text=True)
    assert res.returncode == 2 and "invalid choice" in res.stderr


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_distribution_is_declared():
    """A third-party module the package imports (anywhere, lazily included) comes from a
    distribution named in [project] dependencies, not only through another dependency."""
    declared = {_normalized(re.match(r"[A-Za-z0-9_.-]+", req).group())
                for req in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    providers = packages_distributions()
    imported: dict[str, set[str]] = {}
    for folder in ("pexsurv", "models", "priors", "fitting", "diagnostics"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top != "pexsurv" and top not in sys.stdlib_module_names:
                        imported.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    assert imported, "found no third-party import: the scan is broken"
    undeclared = {top: sorted(files)[:3] for top, files in imported.items()
                  if not {_normalized(d) for d in providers.get(top, [top])} & declared}
    assert not undeclared, f"imported but not declared in pyproject dependencies: {undeclared}"
