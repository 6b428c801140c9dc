"""Checks of scalar settings shared by every layer (counts, seeds), made before any work."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["SEED_LIMIT", "as_count", "as_seed"]

# Seeds go to nutpie, PyMC and numpyro (JAX keys): all take any integer in [0, 2**32).
SEED_LIMIT = 2**32


def as_count(name: str, value: Any, *, minimum: int = 1) -> int:
    """``value`` as a Python int >= ``minimum``; integer-like numpy values are accepted.

    Booleans and floats are refused, even ``2.0``: a count given as a float is usually a
    computed value that should be rounded on purpose, not here.

    Examples
    --------
    >>> as_count("draws", np.int64(500))
    500
    >>> as_count("draws", 2.0)
    Traceback (most recent call last):
    ...
    TypeError: draws must be an integer, got 2.0 (float)
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def as_seed(value: Any) -> int | None:
    """A random seed as a Python int in ``[0, 2**32)``, or None.

    Examples
    --------
    >>> as_seed(np.uint32(7))
    7
    >>> as_seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: seed must be an integer in [0, 2**32) or None, got -1
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"seed must be an integer in [0, 2**32) or None, got {value!r} "
                        f"({type(value).__name__})")
    if not 0 <= int(value) < SEED_LIMIT:
        raise ValueError(f"seed must be an integer in [0, 2**32) or None, got {value}")
    return int(value)
