"""Shared fixtures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pexsurv import TrialData, datasets


@pytest.fixture(scope="session")
def immdef() -> pd.DataFrame:
    # Packaged reference data (origin, licence and R numbers in pexsurv/datasets/immdef.md),
    # the same file `pexsurv validate` reads.
    return datasets.load_immdef()


@pytest.fixture(scope="session")
def immdef_data(immdef) -> TrialData:
    """rpsftm's immdef as TrialData: arm imm, switch at xoyrs for crossovers (xo == 1)."""
    df = immdef.assign(sw=np.where(immdef["xo"] == 1, immdef["xoyrs"], np.nan))
    return TrialData.from_dataframe(df, time="progyrs", event="prog", arm="imm", reference=0,
                                    censor_time="censyrs", switch_time="sw", id="id")
