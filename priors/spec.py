"""The frozen-dataclass base shared by every prior: validation, repr, dicts, parameters.

A *spec* is plain data: a family name plus numbers (or nested specs). It is frozen,
hashable and compares by value, prints as a call that rebuilds it, and converts to and
from ``{"dist": <family>, <field>: <value>, ...}``. Families register themselves by class
name, so a dict or a TOML table names its family and never a dotted import path.

Numeric fields are stored as ``float``; a field whose default is ``None`` may stay
``None``, which means "to be filled from the data" (see :mod:`pexsurv.priors.resolve`).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np

__all__ = ["PriorSpec", "as_spec", "nested", "spec_dataclass"]

# Every concrete spec is declared with this decorator: frozen gives ==/hash by value,
# repr=False keeps the single compact __repr__ defined on PriorSpec.
spec_dataclass = dataclasses.dataclass(frozen=True, repr=False)

DIST_KEY = "dist"


def _format(value: object) -> str:
    # Whole floats print without ".0" (``Normal(mu=0, sigma=1.5)``); the rest use repr,
    # which round-trips exactly, so the printed call rebuilds an equal spec.
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


@spec_dataclass
class PriorSpec:
    """Base of all priors and prior structures (not instantiated directly).

    Subclasses list their parameters as dataclass fields and may set ``_positive`` (names
    that must be > 0) and override ``_validate`` for further checks.
    """

    _registry: ClassVar[dict[str, type[PriorSpec]]] = {}
    _positive: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, *, family: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if family:
            if cls.__name__ in PriorSpec._registry:
                raise TypeError(f"prior family {cls.__name__!r} is already registered")
            PriorSpec._registry[cls.__name__] = cls

    def __post_init__(self) -> None:
        family = type(self).__name__
        for f in dataclasses.fields(self):
            value = _coerce(family, f, getattr(self, f.name))
            object.__setattr__(self, f.name, value)  # frozen: coercion happens once, here
        for name in self._positive:
            value = getattr(self, name)
            if value is not None and not (isinstance(value, float) and value > 0):
                raise ValueError(f"{family}: {name} must be > 0, got {_format(value)}")
        self._validate()

    def _validate(self) -> None:
        """Family-specific checks beyond positivity (override when needed)."""

    def __repr__(self) -> str:
        args = ", ".join(f"{f.name}={_format(getattr(self, f.name))}" for f in dataclasses.fields(self))
        return f"{type(self).__name__}({args})"

    # -- dicts ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain ``{"dist": family, field: value}``; ``None`` fields are left out.

        >>> from pexsurv.priors import Normal
        >>> Normal(0, 1.5).to_dict()
        {'dist': 'Normal', 'mu': 0.0, 'sigma': 1.5}
        """
        out: dict[str, Any] = {DIST_KEY: type(self).__name__}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value.to_dict() if isinstance(value, PriorSpec) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild a spec from :meth:`to_dict` output (the ``dist`` key picks the family).

        Called on a family class, the family must match; called on a base class, any
        registered family below it is accepted.

        >>> from pexsurv.priors import Prior
        >>> Prior.from_dict({"dist": "Normal", "mu": 0.0, "sigma": 1.5})
        Normal(mu=0, sigma=1.5)
        """
        if not isinstance(data, Mapping) or DIST_KEY not in data:
            raise ValueError(f"a prior needs a {DIST_KEY!r} key naming its family, got {data!r}")
        name = data[DIST_KEY]
        target = PriorSpec._registry.get(name)
        if target is None or not issubclass(target, cls):
            valid = sorted(n for n, c in PriorSpec._registry.items() if issubclass(c, cls))
            raise ValueError(f"unknown {cls.__name__} family {name!r}; valid: {', '.join(valid)}")
        kwargs = {k: v for k, v in data.items() if k != DIST_KEY}
        fields = {f.name: f for f in dataclasses.fields(target)}
        unknown = sorted(set(kwargs) - set(fields))
        if unknown:
            raise ValueError(f"{name}: unknown field(s) {unknown}; valid: {sorted(fields)}")
        missing = sorted(n for n, f in fields.items() if n not in kwargs and _required(f))
        if missing:
            raise ValueError(f"{name}: missing field(s) {missing}")
        return target(**kwargs)

    def structure(self) -> dict[str, Any]:
        """The family and those of nested specs, without any hyper-parameter value: what a
        compiled graph depends on (the values are ``pm.Data``, :meth:`params`).

        >>> from pexsurv.priors import HalfNormal, RandomWalk
        >>> RandomWalk(innovation=HalfNormal(0.5)).structure()
        {'dist': 'RandomWalk', 'innovation': {'dist': 'HalfNormal'}}
        """
        out: dict[str, Any] = {DIST_KEY: type(self).__name__}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, PriorSpec):
                out[f.name] = value.structure()
        return out

    # -- parameters ----------------------------------------------------------------------
    def _flat(self) -> dict[str, float | None]:
        # Nested specs contribute "<field>_<param>" entries (e.g. "innovation_sigma").
        out: dict[str, float | None] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, PriorSpec):
                out.update({f"{f.name}_{k}": v for k, v in value._flat().items()})
            else:
                out[f.name] = value
        return out

    def params(self) -> dict[str, float]:
        """Hyper-parameters as a flat dict of floats (nested specs as ``field_param``).

        These are the names under which :func:`pexsurv.priors.hyper_data` registers
        ``pm.Data`` and which ``create``/``build`` accept in ``params``.

        >>> from pexsurv.priors import Normal
        >>> Normal(0, 1.5).params()
        {'mu': 0.0, 'sigma': 1.5}
        """
        return {k: float(v) for k, v in self._values(None).items()}

    def _values(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Own parameters (as float64) overridden by ``params`` (tensors allowed); none unset."""
        values: dict[str, Any] = dict(self._flat())
        if params:
            unknown = sorted(set(params) - set(values))
            if unknown:
                raise ValueError(f"{type(self).__name__}: unknown parameter(s) {unknown}; "
                                 f"valid: {sorted(values)}")
            values.update(params)
        unset = [k for k, v in values.items() if v is None]
        if unset:
            raise ValueError(
                f"{self!r}: {', '.join(unset)} unset (None means data-driven); fill it with "
                "resolve_priors(..., data_driven_baseline(events, exposure), ...) or give a number"
            )
        # PyTensor turns a Python float that float32 holds exactly (1.5, 2.0) into a
        # float32 constant, so e.g. log(sigma) would be computed in single precision.
        return {k: np.float64(v) if isinstance(v, float) else v for k, v in values.items()}

    def fill(self, values: Mapping[str, float], *, overwrite: bool = False) -> Self:
        """Copy with fields set from ``values``: unset (``None``) ones, or all if ``overwrite``.

        >>> from pexsurv.priors import IndependentNormal
        >>> IndependentNormal().fill({"mu": -3.0})
        IndependentNormal(mu=-3, sigma=5)
        """
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"{type(self).__name__} has no field(s) {unknown}; valid: {sorted(names)}")
        updates = {k: v for k, v in values.items() if overwrite or getattr(self, k) is None}
        return dataclasses.replace(self, **updates) if updates else self


def nested(values: Mapping[str, Any], field: str) -> dict[str, Any]:
    """The entries of a flat parameter dict that belong to nested spec ``field``."""
    prefix = f"{field}_"
    return {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}


def as_spec(value: PriorSpec | Mapping[str, Any]) -> PriorSpec:
    """A spec as is, or one rebuilt from its dict form."""
    return value if isinstance(value, PriorSpec) else PriorSpec.from_dict(value)


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _coerce(family: str, f: dataclasses.Field, value: object) -> object:
    if value is None:
        if f.default is None:
            return None
        raise ValueError(f"{family}: {f.name} is required, got None")
    if isinstance(value, PriorSpec):
        return value
    if isinstance(value, Mapping):
        return PriorSpec.from_dict(value)
    # bool is an int subclass; True as a standard deviation is a bug, not a number.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{family}: {f.name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{family}: {f.name} must be finite, got {number}")
    return number
