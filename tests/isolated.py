"""Load one package module from its source file without importing its package.

The mutation tests (``tests/test_mutation_*.py``, issue 18) run once per mutant; importing
``pexsurv.workflows`` or ``pexsurv.models`` pulls in PyMC (about 9 s of a 12 s run on the shared
machine), while the modules under test need only the light core (numpy, pandas, ``pexsurv``
core). Loading the file itself tests the same code, mutated in place by cosmic-ray, in a
quarter of the time. The loaded module is registered under its own name
(``isolated.<path>``), apart from the package's copy, so nothing else sees it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load(relpath: str) -> ModuleType:
    """The module in ``ROOT / relpath`` (e.g. ``"pexsurv/workflows/metrics.py"``), loaded
    once per test session."""
    name = "isolated." + relpath.removesuffix(".py").replace("/", ".")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / relpath)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while being created
        spec.loader.exec_module(module)
    return sys.modules[name]
