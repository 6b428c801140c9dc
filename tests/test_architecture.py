"""The import contract: every import points down the layers (README, "Architecture").

``lint-imports`` (import-linter) reads the contract from ``pyproject.toml`` and checks every
import statement of the package, those inside functions included, so a lazy import cannot
hide an upward edge.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_imports_follow_the_layers(tmp_path):
    exe = Path(sys.executable).parent / "lint-imports"
    # Run outside the repository: lint-imports puts its working directory first on
    # sys.path, where the source folder pexsurv/ would shadow the installed package (the
    # only one holding the subpackages mapped from models/, priors/, fitting/, diagnostics/).
    # --no-cache: a stale cache must never let a new upward import pass.
    res = subprocess.run([str(exe), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, f"import contract broken:\n{res.stdout}\n{res.stderr}"
    assert "Contracts: 1 kept, 0 broken." in res.stdout, res.stdout
