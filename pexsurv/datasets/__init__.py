"""Packaged example data.

``ct041_like.csv`` is SYNTHETIC: one realisation of
:func:`pexsurv.simulate.ct041_like` (default seed), a trial shaped like the published
CT041-ST-01 results. See ``README.md`` in this folder.

Examples
--------
>>> from pexsurv import datasets
>>> data = datasets.ct041_like(endpoint="os")
>>> data.n, data.arms
(156, ('control', 'car-t'))
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd

from pexsurv.data import TrialData

__all__ = ["CT041_LIKE_PATH", "ct041_like", "load_ct041_like"]

CT041_LIKE_PATH: Path = Path(__file__).parent / "ct041_like.csv"
"""Location of the synthetic CT041-like CSV file."""


def load_ct041_like() -> pd.DataFrame:
    """The synthetic CT041-like trial as a DataFrame (one row per patient).

    Floats are parsed with ``float_precision="round_trip"`` so that the values equal the
    simulation bit for bit.

    Returns
    -------
    pandas.DataFrame
        Columns as in :attr:`pexsurv.simulate.SimulatedTrial.data`.
    """
    return pd.read_csv(CT041_LIKE_PATH, float_precision="round_trip")


def ct041_like(endpoint: Literal["os", "pfs"] = "os") -> TrialData:
    """The synthetic CT041-like trial as :class:`~pexsurv.TrialData`, reference "control".

    Parameters
    ----------
    endpoint : {"os", "pfs"}
        Overall survival (with ``switch_time``: control patients crossing over to CAR-T)
        or progression-free survival (without: crossover only follows progression, so it
        never happens during PFS follow-up).

    Returns
    -------
    TrialData
        With ``treatment_start`` (NaN = never infused) and ``censor_time``.

    Examples
    --------
    >>> from pexsurv import datasets
    >>> data = datasets.ct041_like(endpoint="os")
    >>> int(data.event.sum()) <= data.n
    True
    """
    if endpoint not in ("os", "pfs"):
        raise ValueError(f"endpoint must be 'os' or 'pfs', got {endpoint!r}")
    switch = {"switch_time": "switch_time"} if endpoint == "os" else {}
    return TrialData.from_dataframe(
        load_ct041_like(), time=f"{endpoint}_time", event=f"{endpoint}_event", arm="arm",
        reference="control", id="id", treatment_start="treatment_start",
        censor_time="censor_time", **switch)
