"""How much the notebooks compute: the one place that reads ``PEXSURV_FAST``.

Unset (or ``0``), every notebook runs at the package's defaults and gives the numbers
worth quoting. ``PEXSURV_FAST=1`` (what CI sets, see ``tests/test_notebooks.py``) cuts
psi draws, posterior predictive replicates, bootstrap replicates and simulated trials so
that all notebooks run in a few minutes on two cores; the story is the same, the Monte
Carlo error larger (the tables round to it, so they show fewer digits).

Examples
--------
>>> from budget import BUDGET
>>> BUDGET.psi_draws >= 20
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["BUDGET", "FAST", "Budget", "fast_mode"]

VARIABLE = "PEXSURV_FAST"


@dataclass(frozen=True)
class Budget:
    """Sizes of the Monte Carlo work of the notebooks.

    Piecewise-exponential fits always run at the package's default (4 chains x 1000
    draws): sampling one takes a fraction of a second next to its compilation, and fewer
    draws would only fail the effective-sample-size gate.

    Attributes
    ----------
    psi_draws : int
        psi values carried into the Bayesian RPSFT's stage 2 (``RPSFT(n_psi_draws=...)``).
    boot : int
        Bootstrap replicates of IPE and TSE (``n_boot``).
    trials : int
        Simulated trials in the "truth known" comparison.
    truth_n : int
        Patients of the one large no-switch trial whose Cox HR is the truth.
    ppc_draws : int
        Posterior predictive replicate trials of the Kaplan-Meier check.
    """

    psi_draws: int
    boot: int
    trials: int
    truth_n: int
    ppc_draws: int


def fast_mode(value: str | None) -> bool:
    """Whether ``value`` (of ``PEXSURV_FAST``) asks for the reduced budget.

    Only ``"1"`` does; unset, ``""`` and ``"0"`` do not; anything else is refused rather
    than guessed.

    Examples
    --------
    >>> fast_mode("1"), fast_mode(None), fast_mode("0")
    (True, False, False)
    """
    if value in (None, "", "0"):
        return False
    if value == "1":
        return True
    raise ValueError(f"{VARIABLE}={value!r}: use 1 (reduced budget, as CI) or 0 / unset "
                     "(full budget)")


FAST: bool = fast_mode(os.environ.get(VARIABLE))

BUDGET: Budget = (
    Budget(psi_draws=20, boot=30, trials=5, truth_n=20_000, ppc_draws=100)
    if FAST else
    # Package defaults (RPSFT n_psi_draws, PPC n_draws) and study sizes whose
    # Monte Carlo error is small next to the differences the notebooks discuss.
    Budget(psi_draws=200, boot=500, trials=100, truth_n=200_000, ppc_draws=200)
)
