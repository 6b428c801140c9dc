"""A prior map as TOML: one table per graph name, nested priors as inline tables.

Read with the standard library's ``tomllib``; written by the small writer below, which
covers exactly this flat schema (strings, floats, inline tables):

.. code-block:: toml

    [log_hr]
    dist = "Normal"
    mu = 0.0
    sigma = 1.0

    [log_hazard_base]
    dist = "RandomWalk"
    sigma_first = 2.0
    innovation = { dist = "HalfNormal", sigma = 0.5 }

Unset (data-driven) fields are left out, as TOML has no null.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from typing import Any

from pexsurv.priors.spec import PriorSpec, as_spec

__all__ = ["priors_from_toml", "priors_to_toml"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _string(text: str) -> str:
    # JSON's escapes are a subset of TOML's basic-string escapes; JSON leaves DEL raw,
    # which TOML forbids.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back as the same float
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) to a prior TOML file")


def priors_to_toml(priors: Mapping[str, PriorSpec | Mapping[str, Any]]) -> str:
    """Write a prior map (graph name -> spec) as TOML text.

    >>> from pexsurv.priors import Normal
    >>> print(priors_to_toml({"log_hr": Normal(0, 1)}), end="")
    [log_hr]
    dist = "Normal"
    mu = 0.0
    sigma = 1.0
    """
    tables = []
    for name, spec in priors.items():
        rows = [f"[{_key(name)}]"]
        rows += [f"{_key(k)} = {_value(v)}" for k, v in as_spec(spec).to_dict().items()]
        tables.append("\n".join(rows) + "\n")
    return "\n".join(tables)


def priors_from_toml(text: str) -> dict[str, PriorSpec]:
    """Read a prior map written by :func:`priors_to_toml` (or by hand).

    >>> priors_from_toml('[log_hr]\\ndist = "Normal"\\nmu = 0\\nsigma = 1\\n')
    {'log_hr': Normal(mu=0, sigma=1)}
    """
    priors = {}
    for name, table in tomllib.loads(text).items():
        if not isinstance(table, dict):
            raise ValueError(f"prior TOML: {name!r} must be a table like [{name}] with a 'dist' key")
        priors[name] = PriorSpec.from_dict(table)
    return priors
