"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pexsurv import TrialData

# Reference data ship with the repository (origin, licence and R numbers in tests/data/README.md).
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def immdef() -> pd.DataFrame:
    return pd.read_csv(DATA / "immdef.csv")


@pytest.fixture(scope="session")
def immdef_data(immdef) -> TrialData:
    """rpsftm's immdef as TrialData: arm imm, switch at xoyrs for crossovers (xo == 1)."""
    df = immdef.assign(sw=np.where(immdef["xo"] == 1, immdef["xoyrs"], np.nan))
    return TrialData.from_dataframe(df, time="progyrs", event="prog", arm="imm", reference=0,
                                    censor_time="censyrs", switch_time="sw", id="id")
