"""pytest plugin for mutation runs: the tests that name the mutated function run first.

With ``-x`` a killed mutant costs the tests up to the first that fails; running first the
tests whose source names the function holding the mutated line (``git diff`` of the work
tree, mapped to the enclosing ``def`` and ``class`` names, and for a private helper the
functions calling it) makes that a test or two. The
order of the others is kept, so a survivor still runs everything. Only the order changes:
the outcome of a run is the same.

Usage (the fork server runs from ``benchmarks/``, where this file is importable)::

    PRELOAD="..." bash benchmarks/mutation.sh diagnostics/ppc.py tests/test_mutation_ppc.py -p mutation_order
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _changed_lines() -> dict[Path, set[int]]:
    diff = subprocess.run(["git", "diff", "-U0", "--", "*.py"], cwd=ROOT, capture_output=True,
                          text=True, check=False).stdout
    out: dict[Path, set[int]] = {}
    path = None
    for line in diff.splitlines():
        if line.startswith("+++ b/"):
            path = ROOT / line[6:]
        elif line.startswith("@@") and path is not None:
            start, _, count = re.search(r"\+(\d+)(,(\d+))?", line).groups()
            n = 1 if count is None else int(count)
            out.setdefault(path, set()).update(range(int(start), int(start) + max(n, 1)))
    return out


def _mutated_names() -> set[str]:
    names: set[str] = set()
    for path, lines in _changed_lines().items():
        try:
            tree = ast.parse(path.read_text())
        except (OSError, SyntaxError):
            continue
        defs = [node for node in ast.walk(tree)
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        hit = {d.name for d in defs if any(d.lineno <= n <= d.end_lineno for n in lines)}
        # Private helpers are rarely named by tests: add the functions that call them.
        callers = {d.name for d in defs for node in ast.walk(d)
                   if isinstance(node, ast.Name) and node.id in hit and node.id.startswith("_")}
        names |= hit | callers
    return names


def pytest_collection_modifyitems(session, config, items) -> None:  # noqa: ARG001
    names = _mutated_names()
    if not names:
        return
    words = re.compile(r"\b(" + "|".join(map(re.escape, sorted(names))) + r")\b")

    def names_it(item) -> bool:
        try:
            return bool(words.search(inspect.getsource(item.function)))
        except (OSError, TypeError, AttributeError):
            return False

    first = [i for i in items if names_it(i)]
    items[:] = first + [i for i in items if i not in first]
