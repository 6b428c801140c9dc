"""Keys of a sweep: the hash that names a scenario in the store, the sampler seed derived
from it, and the structure key that decides which scenarios share one compiled model."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from pexsurv._checks import SEED_LIMIT

__all__ = ["canonical", "derived_seed", "file_digest", "settings_key", "structure_key"]


def canonical(obj: Any) -> str:
    """Canonical JSON text of plain settings (sorted keys, no spaces, tuples as lists)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot key a setting of type {type(value).__name__}: {value!r}")


def settings_key(settings: Any) -> str:
    """SHA-256 (first 20 hex digits) of the canonical settings: the scenario's name in
    the store. Equal settings give equal keys in every session and on every machine.

    Examples
    --------
    >>> settings_key({"b": 1, "a": [1, 2]}) == settings_key({"a": (1, 2), "b": 1})
    True
    """
    return hashlib.sha256(canonical(settings).encode()).hexdigest()[:20]


def derived_seed(key: str) -> int:
    """The sampler seed of a scenario, from its key alone: the same scenario gets the same
    draws whatever the executor, the worker or the order it runs in.

    Examples
    --------
    >>> derived_seed("a1b2") == derived_seed("a1b2"), 0 <= derived_seed("a1b2") < 2**32
    (True, True)
    """
    return int.from_bytes(hashlib.sha256(f"seed:{key}".encode()).digest()[:8], "big") % SEED_LIMIT


def file_digest(path: Any) -> str:
    """SHA-256 of a file's bytes: a scenario's key holds its data's content, not its path,
    so an edited data file is refitted and a moved one is not."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def structure_key(spec: Any, data: Any, sampler: Mapping[str, Any]) -> str:
    """Key of the compiled model a fit of ``spec`` on ``data`` needs.

    Two scenarios share a compiled model when the model that gets compiled (a PEM; for a
    Bayesian RPSFT its stage-2 PEM) has the same structure
    (:func:`pexsurv.fitting.pem.structure_hash`: the spec apart from prior hyper-parameter
    values, which ``fit`` checks too), the same ``pm.Data`` shapes (cells), the same
    sampler and method. Scenarios that differ only in the data values (another seed of a
    simulated trial, another ``treat_modifier`` of an RPSFT) or in prior hyper-parameters
    therefore share one.
    """
    from pexsurv.fitting.pem import structure_hash
    from pexsurv.models import RPSFT

    if isinstance(spec, RPSFT):
        priors = {k: v for k, v in spec.resolved_priors(data).items() if k != "psi"}
        compiled_spec = spec.pem()
    else:
        priors = spec.resolved_priors(data)
        compiled_spec = spec
    shapes = {k: list(np.shape(v)) for k, v in compiled_spec.data_values(data, priors).items()}
    return settings_key({"structure": structure_hash(compiled_spec, priors), "shapes": shapes,
                         "sampler": sampler.get("sampler"), "method": sampler.get("method")})
