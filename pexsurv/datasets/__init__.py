"""Packaged example data.

``ct041_like.csv`` and ``ct041_like_updated.csv`` are SYNTHETIC: one realisation of
:func:`pexsurv.simulate.simulate_ct041_like` (default seed), a trial shaped like the
published CT041-ST-01 results, at its primary data cut and at an updated cut 5 months later
(the same patients). See ``README.md`` in this folder.

``immdef.csv`` is the R package rpsftm's ``immdef`` data set (simulated, GPL-2) and
``rpsftm_reference.json`` R's rpsftm/survival numbers on it: the reference that
``pexsurv validate`` and the test suite check the RPSFT code against (``immdef.md``).

Examples
--------
>>> from pexsurv import datasets
>>> data = datasets.ct041_like(endpoint="os")
>>> data.n, data.arms
(156, ('control', 'car-t'))
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

from pexsurv.data import TrialData

__all__ = ["CT041_LIKE_FILES", "CT041_LIKE_PATH", "IMMDEF_PATH", "RPSFTM_REFERENCE_PATH",
           "ct041_like", "immdef", "load_ct041_like", "load_immdef", "rpsftm_reference"]

Cut = Literal["primary", "updated"]

CT041_LIKE_FILES: Mapping[str, Path] = MappingProxyType({
    "primary": Path(__file__).parent / "ct041_like.csv",
    "updated": Path(__file__).parent / "ct041_like_updated.csv",
})
"""Location of the synthetic CT041-like CSV file of each data cut."""

CT041_LIKE_PATH: Path = CT041_LIKE_FILES["primary"]
"""Location of the synthetic CT041-like CSV file (primary data cut)."""

IMMDEF_PATH: Path = Path(__file__).parent / "immdef.csv"
"""rpsftm's ``immdef`` data (GPL-2; origin in ``immdef.md``)."""

RPSFTM_REFERENCE_PATH: Path = Path(__file__).parent / "rpsftm_reference.json"
"""R's rpsftm 1.2.9 / survival 3.5-3 numbers on ``immdef`` (``immdef.md``)."""


def load_ct041_like(cut: Cut = "primary") -> pd.DataFrame:
    """The synthetic CT041-like trial as a DataFrame (one row per patient).

    Floats are parsed with ``float_precision="round_trip"`` so that the values equal the
    simulation bit for bit.

    Parameters
    ----------
    cut : {"primary", "updated"}
        The primary data cut (30 months after the first patient in) or the updated cut
        of the same patients 5 months later.

    Returns
    -------
    pandas.DataFrame
        Columns as in :attr:`pexsurv.simulate.SimulatedTrial.data`.

    Examples
    --------
    >>> from pexsurv import datasets
    >>> primary, updated = datasets.load_ct041_like(), datasets.load_ct041_like("updated")
    >>> bool((updated["os_event"] >= primary["os_event"]).all())
    True
    """
    if cut not in CT041_LIKE_FILES:
        raise ValueError(f"cut must be one of {sorted(CT041_LIKE_FILES)}, got {cut!r}")
    return pd.read_csv(CT041_LIKE_FILES[cut], float_precision="round_trip")


def ct041_like(endpoint: Literal["os", "pfs"] = "os", cut: Cut = "primary") -> TrialData:
    """The synthetic CT041-like trial as :class:`~pexsurv.TrialData`, reference "control".

    Parameters
    ----------
    endpoint : {"os", "pfs"}
        Overall survival (with ``switch_time``: control patients crossing over to CAR-T)
        or progression-free survival (without: crossover only follows progression, so it
        never happens during PFS follow-up).
    cut : {"primary", "updated"}
        Data cut, as in :func:`load_ct041_like`.

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
        load_ct041_like(cut), time=f"{endpoint}_time", event=f"{endpoint}_event", arm="arm",
        reference="control", id="id", treatment_start="treatment_start",
        censor_time="censor_time", **switch)


def load_immdef() -> pd.DataFrame:
    """rpsftm's ``immdef`` as R wrote it (1000 rows; columns in ``immdef.md``).

    Examples
    --------
    >>> from pexsurv import datasets
    >>> datasets.load_immdef().shape
    (1000, 9)
    """
    return pd.read_csv(IMMDEF_PATH, float_precision="round_trip")


def immdef() -> TrialData:
    """``immdef`` as R's rpsftm sees it, as :class:`~pexsurv.TrialData`: arm ``imm``
    (reference 0 = deferred), progression time ``progyrs``, potential censoring time
    ``censyrs``, and a switch at ``xoyrs`` for crossovers (``xo == 1``; non-switchers have
    ``xoyrs == progyrs`` in the file, which is no switch).

    Examples
    --------
    >>> from pexsurv import datasets
    >>> data = datasets.immdef()
    >>> data.n, int(np.isfinite(data.switch_time).sum())
    (1000, 189)
    """
    df = load_immdef()
    df = df.assign(switch=df["xoyrs"].where(df["xo"] == 1, np.nan))
    return TrialData.from_dataframe(df, time="progyrs", event="prog", arm="imm", reference=0,
                                    id="id", censor_time="censyrs", switch_time="switch")


def rpsftm_reference() -> dict:
    """R's numbers on ``immdef`` (rpsftm 1.2.9, survival 3.5-3): psi and its 95% CI as
    printed and as exact sign changes of Z, Z(psi) at fixed psi, ITT and adjusted Cox HRs.

    Examples
    --------
    >>> from pexsurv import datasets
    >>> datasets.rpsftm_reference()["psi"]["a"]["printed"]
    [-0.181323, -0.34984, 0.002288]
    """
    return json.loads(RPSFTM_REFERENCE_PATH.read_text())
