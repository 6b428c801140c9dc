"""Numeric baseline covariates by name, for the models of the switching adjustments (IPE's
AFT model, IPCW's switching model)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pexsurv.data import TrialData

__all__ = ["numeric_covariates"]


def numeric_covariates(data: TrialData, names: Sequence[str], *, model: str,
                       reserved: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The columns ``names`` of ``data.covariates`` as floats, or an error saying which
    name is missing, reserved or categorical and what to do.

    Parameters
    ----------
    data : TrialData
    names : sequence of str
        Covariate names.
    model : str
        The model that takes them, named in the errors (e.g. ``"IPE's AFT model"``).
    reserved : sequence of str
        Names the model uses itself.

    Returns
    -------
    dict of str to numpy.ndarray

    Examples
    --------
    >>> from pexsurv.simulate import simulate_time_varying_switching
    >>> data = simulate_time_varying_switching(50, seed=1).data
    >>> numeric_covariates(data, ["marker0"], model="the switching model")["marker0"].dtype
    dtype('float64')
    """
    design = {}
    for name in names:
        if name not in data.covariates:
            raise ValueError(f"covariate {name!r} is not in the data; available: "
                             f"{sorted(data.covariates)} (pass covariates= to "
                             "TrialData.from_dataframe)")
        if name in reserved:
            raise ValueError(f"covariate name {name!r} is reserved for {model}; rename it")
        values = np.asarray(data.covariates[name])
        if values.dtype.kind not in "biuf":
            raise ValueError(f"covariate {name!r} is categorical; {model} takes numeric "
                             "covariates: add indicator columns before loading")
        design[name] = values.astype(float)
    return design
