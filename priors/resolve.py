"""Resolve a prior map from three layers: user > data-driven > default.

The layers differ in kind. ``defaults`` and ``user`` map graph names to whole priors
(specs, or their dict form); ``data_driven`` maps graph names to *field values* such as
``{"log_hazard_base": {"mu": -3.2}}``: data supply numbers, never the family or
structure. Per key, the prior is the user's if given, else the default; the data-driven
values then fill it field by field:

==========================  ==============================================
prior taken from            data-driven value for a field
==========================  ==============================================
default                     replaces the default's value (data > default)
user, field left ``None``   fills it
user, field set             ignored (user > data)
==========================  ==============================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pexsurv.priors.spec import PriorSpec, as_spec

__all__ = ["UnknownPriorKeyError", "resolve_priors"]


class UnknownPriorKeyError(KeyError, ValueError):
    """A prior was given for a name the model does not have (catchable as either)."""

    def __str__(self) -> str:
        # KeyError would print the message inside quotes, repr-style.
        return str(self.args[0])


def _check_keys(layer: str, given: Mapping[str, Any], valid: Mapping[str, Any]) -> None:
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise UnknownPriorKeyError(
            f"{layer} prior(s) for unknown name(s) {unknown}; valid names: {', '.join(sorted(valid))}"
        )


def resolve_priors(
    defaults: Mapping[str, PriorSpec | Mapping[str, Any]],
    data_driven: Mapping[str, Mapping[str, float]],
    user: Mapping[str, PriorSpec | Mapping[str, Any]] | None = None,
) -> dict[str, PriorSpec]:
    """Merge the three prior layers into a new dict (inputs are not modified).

    Parameters
    ----------
    defaults : mapping
        Every prior the model needs, by graph name; its keys are the valid names.
    data_driven : mapping
        Field values computed from the data, e.g. :func:`data_driven_baseline`.
    user : mapping, optional
        The user's priors (specs or dicts with a ``dist`` key, as read from TOML).

    Returns
    -------
    dict
        Graph name -> resolved spec, in the order of ``defaults``.

    Raises
    ------
    UnknownPriorKeyError
        If ``user`` or ``data_driven`` names a key not in ``defaults``; the message lists
        the valid names. It is both a ``KeyError`` and a ``ValueError``.

    Examples
    --------
    >>> from pexsurv.priors import IndependentNormal, Normal
    >>> defaults = {"log_hazard_base": IndependentNormal(), "log_hr": Normal(0, 1)}
    >>> resolve_priors(defaults, {"log_hazard_base": {"mu": -3.0}}, {"log_hr": Normal(0, 2)})
    {'log_hazard_base': IndependentNormal(mu=-3, sigma=5), 'log_hr': Normal(mu=0, sigma=2)}
    """
    user = {} if user is None else user
    _check_keys("user", user, defaults)
    _check_keys("data-driven", data_driven, defaults)
    resolved: dict[str, PriorSpec] = {}
    for key, default in defaults.items():
        from_user = key in user
        spec = as_spec(user[key] if from_user else default)
        if key in data_driven:
            values = data_driven[key]
            if not isinstance(values, Mapping):
                raise ValueError(f"data-driven value for {key!r} must map field names to numbers, "
                                 f"e.g. {{'mu': -3.2}}; got {values!r}")
            spec = spec.fill(values, overwrite=not from_user)
        resolved[key] = spec
    return resolved
