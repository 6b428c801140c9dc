"""One result type for every check: a verdict, a table, a sentence and figures.

In the core layer so that checks of every layer share it: the convergence check of the
fitting layer as well as the post-fit checks of :mod:`pexsurv.diagnostics`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
    >>> from dataclasses import dataclass
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> @dataclass(frozen=True)
    ... class NoMissing(CheckResult):
    ...     passed: bool
    ...     table: pd.DataFrame
    ...     name: str = "no_missing"
    ...     @property
    ...     def text(self) -> str:
    ...         return "no missing values" if self.passed else "missing values"
    ...     def plot(self) -> Figure:
    ...         fig = Figure()
    ...         self.table.isna().sum().plot.bar(ax=fig.subplots())
    ...         return fig
    >>> table = pd.DataFrame({"time": [1.0, 2.0]})
    >>> check = NoMissing(passed=not table.isna().any().any(), table=table)
    >>> print(check), list(check.figures())
    no missing values
    (None, ['no_missing'])
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
