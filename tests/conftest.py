"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def immdef() -> pd.DataFrame:
    return pd.read_csv(SHARED_DATA / "immdef.csv")
