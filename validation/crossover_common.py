"""What the crossover studies (``rpsft_study.py``, ``ct041_crossover.py``) record alike per
trial: Cox comparators and g-estimation as log-scale estimates with 95% limits, and the
one-line form of a warning they count."""

from __future__ import annotations

import math
import warnings

from pexsurv import TrialData
from pexsurv.cox import cox_hr
from pexsurv.models import rpsftm_gestimate


def cox_row(name: str, data: TrialData) -> dict[str, float]:
    """``pexsurv.cox.cox_hr`` of arm: ``name``, ``name_lo``, ``name_hi`` (log HR)."""
    c = cox_hr(data.time, data.event, data.arm)
    return {name: c.log_hr, f"{name}_lo": math.log(c.lower), f"{name}_hi": math.log(c.upper)}


def gestimation_row(data: TrialData) -> dict[str, float]:
    """``rpsftm_gestimate(data)`` with its defaults: psi-hat with its CI (``gest_psi``,
    ``gest_lo``, ``gest_hi``) and the adjusted log HR with Wald (``gadj``, ``gadj_lo``,
    ``gadj_hi``) and ITT-p limits (``gadjp_lo``, ``gadjp_hi``)."""
    g = rpsftm_gestimate(data)
    return {"gest_psi": g.psi, "gest_lo": g.ci[0], "gest_hi": g.ci[1],
            "gadj": g.hr_adjusted["log_hr"], "gadj_lo": math.log(g.hr_adjusted["lower"]),
            "gadj_hi": math.log(g.hr_adjusted["upper"]),
            "gadjp_lo": math.log(g.hr_adjusted_itt_p["lower"]),
            "gadjp_hi": math.log(g.hr_adjusted_itt_p["upper"])}


def short(w: warnings.WarningMessage) -> str:
    """Category and the first line of a caught warning, for counting."""
    return f"{w.category.__name__}: {str(w.message).splitlines()[0][:90]}"
