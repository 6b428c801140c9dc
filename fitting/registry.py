"""One registry of model types: how each is fitted, compiled and by default sampled, and
the names under which saved results find their spec type again.

A new model type plugs in with one :func:`register_model` call next to its fitting code;
:func:`pexsurv.fitting.fit`, :func:`~pexsurv.fitting.compile_spec` and
:meth:`FitResult.load <pexsurv.fitting.FitResult.load>` never change. Dispatch is
:func:`functools.singledispatch` on the spec's type, so subclasses inherit their parent's
fitting unless they register their own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pexsurv.data import TrialData
    from pexsurv.fitting.compiled import CompiledModel
    from pexsurv.fitting.config import SamplerConfig
    from pexsurv.fitting.result import FitResult

__all__ = ["ModelFitting", "model_fitting", "register_model", "spec_type", "spec_type_names"]


@dataclass(frozen=True)
class ModelFitting:
    """How one model type is fitted.

    Attributes
    ----------
    fit : callable
        ``fit(spec, data, config, *, compiled, log_likelihood, provenance) -> FitResult``;
        ``config`` is complete (seed drawn) and checked against ``methods``.
    compile : callable
        ``compile(spec, data, config) -> CompiledModel`` for re-use through
        ``fit(..., compiled=)``.
    defaults : mapping
        :class:`~pexsurv.fitting.SamplerConfig` settings this model type uses when the
        caller leaves them unset (e.g. shorter chains for each RPSFT stage-2 fit).
    spec_defaults : callable, optional
        ``spec_defaults(spec, method) -> mapping``: settings that depend on the spec
        itself (e.g. a higher ``target_accept`` for a hierarchical effect), applied over
        ``defaults`` and under the caller's settings.
    methods : tuple of str
        Methods the model supports; :func:`~pexsurv.fitting.fit` refuses the others.
    why_not : str
        Why other methods are refused (said in the error).
    """

    fit: Callable[..., FitResult]
    compile: Callable[[Any, TrialData, SamplerConfig], CompiledModel]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    methods: tuple[str, ...] = ("mcmc", "advi")
    why_not: str = ""
    spec_defaults: Callable[[Any, str], Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    def defaults_for(self, spec: Any, method: str = "mcmc") -> dict[str, Any]:
        """The default settings for ``spec`` fitted by ``method``: ``defaults``, then
        ``spec_defaults(spec, method)`` over them."""
        own = self.spec_defaults(spec, method) if self.spec_defaults is not None else {}
        return {**self.defaults, **own}


@functools.singledispatch
def model_fitting(spec: Any) -> ModelFitting:
    """The :class:`ModelFitting` registered for ``spec``'s type.

    Raises
    ------
    TypeError
        No fitting is registered for the type.

    Examples
    --------
    >>> from pexsurv.models import RPSFT
    >>> model_fitting(RPSFT(cuts=(1.0,))).methods
    ('mcmc',)
    """
    known = sorted(spec_type_names())
    raise TypeError(f"pexsurv cannot fit a {type(spec).__name__}: no fitting is registered "
                    f"for it (known model types: {known}; a new type registers with "
                    "pexsurv.fitting.register_model)")


def register_model(spec_type: type, fitting: ModelFitting) -> None:
    """Register how specs of ``spec_type`` are fitted (and let saved results of that type,
    found by its class name, be loaded).

    Examples
    --------
    >>> register_model(MyModel, ModelFitting(fit=fit_my_model, compile=compile_my_model))
    ... # doctest: +SKIP
    """
    clash = spec_type_names().get(spec_type.__name__)
    if clash is not None and clash is not spec_type:
        raise ValueError(f"a model type named {spec_type.__name__!r} is already registered "
                         f"({clash.__module__}); saved results find their type by name")
    model_fitting.register(spec_type)(lambda spec: fitting)


def spec_type_names() -> dict[str, type]:
    """Registered model types by class name (the ``"model"`` entry of a spec's dict)."""
    return {t.__name__: t for t in model_fitting.registry if t is not object}


def spec_type(name: str) -> type:
    """The registered model type called ``name``.

    Raises
    ------
    KeyError
        Unknown name (the message lists the known ones).
    """
    types = spec_type_names()
    if name not in types:
        raise KeyError(f"unknown model type {name!r}; known: {sorted(types)}")
    return types[name]
