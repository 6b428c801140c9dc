"""Prior hyper-parameters as ``pm.Data``: one compiled model, many prior settings.

``hyper_data(name, spec)`` registers each of ``spec.params()`` as ``pm.Data`` named
``<name>_prior_<param>`` and returns them for ``create``/``build``; later,
``set_hyper_data(name, other_spec)`` swaps in another setting of the same family without
rebuilding or recompiling. The parameter names identify the family (no two families
share a set), so a mismatch is caught.
"""

from __future__ import annotations

import pymc as pm
from pytensor.tensor import TensorVariable

from pexsurv.priors.spec import PriorSpec

__all__ = ["hyper_data", "hyper_values", "set_hyper_data"]


def _data_name(name: str, param: str) -> str:
    return f"{name}_prior_{param}"


def hyper_data(name: str, spec: PriorSpec, *, model: pm.Model | None = None) -> dict[str, TensorVariable]:
    """Register ``spec``'s hyper-parameters as ``pm.Data`` for variable ``name``.

    Parameters
    ----------
    name : str
        Graph name of the variable the prior is for (e.g. ``"log_hr"``).
    spec : PriorSpec
        Its prior; the current values become the data's initial values.
    model : pm.Model, optional
        Defaults to the model on the context stack.

    Returns
    -------
    dict
        Parameter name -> ``pm.Data``, ready for ``spec.create(name, params=...)``.

    Examples
    --------
    >>> import pymc as pm
    >>> from pexsurv.priors import Normal
    >>> prior = Normal(0, 1)
    >>> with pm.Model() as model:
    ...     log_hr = prior.create("log_hr", params=hyper_data("log_hr", prior))
    >>> sorted(v.name for v in model.data_vars)
    ['log_hr_prior_mu', 'log_hr_prior_sigma']
    """
    return {k: pm.Data(_data_name(name, k), v, model=model) for k, v in spec.params().items()}


def hyper_values(name: str, spec: PriorSpec) -> dict[str, float]:
    """The ``pm.Data`` values :func:`hyper_data` registers for ``name``, by data name.

    Examples
    --------
    >>> from pexsurv.priors import Normal
    >>> hyper_values("log_hr", Normal(0, 2))
    {'log_hr_prior_mu': 0.0, 'log_hr_prior_sigma': 2.0}
    """
    return {_data_name(name, k): v for k, v in spec.params().items()}


def set_hyper_data(name: str, spec: PriorSpec, *, model: pm.Model | None = None) -> None:
    """Set the ``pm.Data`` made by :func:`hyper_data` for ``name`` to ``spec``'s values.

    ``spec`` must be of the family the model was built with (checked by parameter names).

    Examples
    --------
    >>> import pymc as pm
    >>> from pexsurv.priors import Normal
    >>> with pm.Model() as model:
    ...     _ = Normal(0, 1).create("log_hr", params=hyper_data("log_hr", Normal(0, 1)))
    ...     set_hyper_data("log_hr", Normal(0, 2))
    >>> float(model["log_hr_prior_sigma"].get_value())
    2.0
    """
    model = pm.modelcontext(model)
    new = hyper_values(name, spec)
    prefix = _data_name(name, "")
    built = {v.name for v in model.data_vars if v.name.startswith(prefix)}
    if built != set(new):
        raise ValueError(
            f"{spec!r} does not match the hyper-parameters the model holds for {name!r} "
            f"({sorted(built) or 'none'}); a different family needs a rebuilt model"
        )
    pm.set_data(new, model=model)
