"""What a result was computed with: package versions, the machine, and digests of the
package's own source files (stamped on fits, benchmark and validation reports)."""

from __future__ import annotations

import hashlib
import importlib
import platform
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["cpu_model", "source_digests", "versions"]

VERSIONED = ("pexsurv", "pymc", "pytensor", "arviz", "nutpie", "numpy", "xarray")


def versions(extra: Sequence[str] = ()) -> dict[str, str]:
    """Versions of Python, the core stack and ``extra`` distributions.

    Examples
    --------
    >>> sorted(versions())[:3]
    ['arviz', 'numpy', 'nutpie']
    """
    out = {"python": platform.python_version()}
    for name in (*VERSIONED, *extra):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what ``platform`` reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def source_digests(modules: Sequence[str]) -> str:
    """SHA-256 prefixes of the source files of ``modules``, as the running process imported
    them: a development build has no release number to name the code a report came from.

    Examples
    --------
    >>> source_digests(["pexsurv.km"]).startswith("`pexsurv.km` sha256 ")
    True
    """
    rows = []
    for name in modules:
        path = Path(importlib.import_module(name).__file__)
        rows.append(f"`{name}` sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:10]}")
    return ", ".join(rows)
