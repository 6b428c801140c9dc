"""Model specifications, likelihood rows and quantities derived from posterior draws.

Installed as ``pexsurv.models`` (the folder ``models/`` is mapped by setuptools).
"""

from pexsurv.models.derived import (
    hazard_by_arm,
    hr_by_interval,
    median_survival,
    milestone_survival,
    rmst,
    survival_curve,
)
from pexsurv.models.design import PEMDesign, build_design
from pexsurv.models.piecewise import PiecewiseExponential

__all__ = [
    "PEMDesign",
    "PiecewiseExponential",
    "build_design",
    "hazard_by_arm",
    "hr_by_interval",
    "median_survival",
    "milestone_survival",
    "rmst",
    "survival_curve",
]
