"""One result type for every check: a verdict, a table, a sentence and figures."""

from __future__ import annotations

from abc import ABC, abstractmethod

import pandas as pd
from matplotlib.figure import Figure

__all__ = ["CheckResult"]


class CheckResult(ABC):
    """What every check returns, whatever it checks.

    Subclasses are frozen dataclasses with the fields ``passed``, ``table`` and ``name``
    (and their own details), a :attr:`text` property and a :meth:`plot` method; printing
    a check prints its text, and :meth:`figures` collects its figures by name, so reports
    can treat every check alike.

    Attributes
    ----------
    passed : bool
        The verdict against the check's stated threshold.
    table : pandas.DataFrame
        The numbers behind the verdict.
    name : str
        The check's name (the key of its figures).

    Examples
    --------
    >>> from pexsurv.diagnostics import EventsCheck, LooCheck, SBCResult
    >>> all(issubclass(c, CheckResult) for c in (EventsCheck, LooCheck, SBCResult))
    True
    """

    passed: bool
    table: pd.DataFrame
    name: str

    @property
    @abstractmethod
    def text(self) -> str:
        """The verdict and its evidence in a sentence or a few lines."""

    @abstractmethod
    def plot(self) -> Figure:
        """The check's main figure."""

    def figures(self) -> dict[str, Figure]:
        """Every figure of this check by name, made on demand."""
        return {self.name: self.plot()}

    def __str__(self) -> str:
        return self.text
