"""What every model specification shares: immutability, a stable hash, a dict form."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["ModelSpec", "spec_hash"]


def _plain(value: Any) -> Any:
    """JSON-ready form of spec fields (tuples to lists, priors to their dicts)."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class ModelSpec:
    """Mixin for frozen-dataclass model specifications.

    A spec is plain data: it validates at construction, never samples, and its hash keys
    compiled-model caches, sweep stores and saved results.
    """

    def to_dict(self) -> dict[str, Any]:
        """Fields as plain JSON-ready values, with the model type under ``"model"``."""
        out = {"model": type(self).__name__}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            out[f.name] = _plain(getattr(self, f.name))
        return out

    def spec_hash(self) -> str:
        """SHA-256 (first 16 hex digits) of :meth:`to_dict`, stable across sessions."""
        return spec_hash(self.to_dict())


def spec_hash(d: dict[str, Any]) -> str:
    """Stable short hash of a JSON-ready dict."""
    text = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
